"""Checking a typed name (a brand, a drug) before anything uses it.

A name is data, never syntax: it is escaped wherever it goes (openFDA query, SQL parameter, folder
name, HTML). So almost every character is allowed — apostrophes, ``®``, ``&``, ``/``, parentheses,
trailing dots, letters of any script. Refused, with the reason, is only what can be nothing but a
mistake or an attack:

- control and invisible format characters (newline, tab, NUL, zero-width and bidirectional
  controls, line and paragraph separators, private-use and unassigned code points);
- a path used as traversal: a part ``.`` or ``..`` between ``/`` or ``\\``, or a name that starts with
  ``/`` or ``\\`` (``Co-Amoxiclav 500/125`` is fine);
- more than `MAX_NAME_CHARS` characters, or no letter or digit at all.

The accepted name is returned as typed, in Unicode NFC, without surrounding white space: that is
the name the report shows. Matching uses its normalised form (`cer_lib.names.normalise`).
"""
from __future__ import annotations

import re
import unicodedata

from ..errors import CodeError, excerpt

__all__ = ["MAX_NAME_CHARS", "check_name"]

MAX_NAME_CHARS = 120  # the longest brand_name in the real MAUDE sample is 71 characters
_REFUSED_CATEGORIES = {"Cc": "a control character", "Cf": "an invisible format character", "Cs": "a lone surrogate",
                       "Co": "a private-use character", "Cn": "an unassigned code point",
                       "Zl": "a line separator", "Zp": "a paragraph separator"}
_NAMED = {"\n": "a newline", "\r": "a carriage return", "\t": "a tab", "\x00": "a NUL byte"}
_PATH_PARTS = re.compile(r"[/\\]")


def _describe(char: str) -> str:
    kind = _NAMED.get(char) or _REFUSED_CATEGORIES[unicodedata.category(char)]
    return f"{kind} ({char!r}, U+{ord(char):04X})"


def check_name(name: object, what: str = "name") -> str:
    """``name`` as typed (NFC, trimmed) when it may be used as a brand or drug name; else `CodeError`.

    ``what`` names the kind in messages ("brand", "drug"). See the module docstring for the rules.
    """
    if not isinstance(name, str) or not name.strip():
        raise CodeError(f"no {what} given: pass one, e.g. `cer report \"ACCU-CHEK® Aviva\" --kind brand`")
    text = unicodedata.normalize("NFC", name.strip())
    bad = sorted({c for c in text if unicodedata.category(c) in _REFUSED_CATEGORIES})
    if bad:
        listed = ", ".join(_describe(c) for c in bad[:6])
        raise CodeError(f"{excerpt(name)} is not a valid {what}: it contains {listed}, which a name never holds "
                        f"(a copy-paste slip or an attempt to change a query, a log or a file path), so it is refused.")
    if len(text) > MAX_NAME_CHARS:
        raise CodeError(f"{excerpt(name)} is not a valid {what}: {len(text):,} characters, more than the "
                        f"{MAX_NAME_CHARS} a {what} may have; give the name, not a description.")
    parts = [p.strip() for p in _PATH_PARTS.split(text)]
    if text[0] in "/\\" or (len(parts) > 1 and any(p in (".", "..") for p in parts)):
        raise CodeError(f"{excerpt(name)} is not a valid {what}: it uses '/' or '\\' as a path ('..' or '.' "
                        f"between them, or a leading one), which could lead a file path elsewhere, so it is refused. "
                        f"A '/' inside a name (e.g. 500/125) is fine.")
    if not any(unicodedata.category(c)[0] in "LN" for c in text):
        raise CodeError(f"{excerpt(name)} is not a valid {what}: it has no letter or digit.")
    return text
