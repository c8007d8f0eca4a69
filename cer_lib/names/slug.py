"""The folder name of a typed name (``outputs/brand-<slug>/``).

The rule, applied to the name's normalised form (`match_key`, so ``Dexcom G6®`` and ``DEXCOM G6``
share a folder because they are one search):

- a key of upper-case ASCII letters and digits in words separated by single spaces, ``.`` or ``-``
  (``MINIMED 630G``, ``I.B.S``, ``5-FU``) becomes itself with spaces as ``_``: ``MINIMED_630G``.
  Such a key holds no ``_``, so the mapping is one to one;
- any other key (``PIT'STOP``, ``JOHNSON & JOHNSON``, ``ACCU-CHEK AVIVA/PLUS``, non-Latin scripts)
  becomes its ASCII transliteration with every run of other characters (and every run of two or
  more dots, so no slug holds ``..``) as ``_``, cut to
  `MAX_SLUG_BASE` characters, then ``--`` and the first 8 hex digits of the SHA-256 of the key:
  ``PIT_STOP--3f1c…``. The first kind never contains ``--``, so the two kinds never meet, and two
  different keys share a hashed folder only if their hashes collide (one chance in 4·10⁹ per pair).

The slug holds only ``A-Z a-z 0-9 _ . -``, never starts with ``.`` or ``-``, and is at most
`MAX_SLUG_BASE` + 10 characters: it can be neither a path nor hidden.
"""
from __future__ import annotations

import hashlib
import re
import unicodedata

from .normalise import match_key

__all__ = ["MAX_SLUG_BASE", "name_slug"]

MAX_SLUG_BASE = 60
_PLAIN = re.compile(r"[A-Z0-9]+(?:[ .-][A-Z0-9]+)*")
_OTHER = re.compile(r"[^A-Z0-9.-]+|\.{2,}")


def name_slug(name: str) -> str:
    """The folder-name part for ``name`` (see the module docstring)."""
    key = match_key(name)
    if _PLAIN.fullmatch(key) and len(key) <= MAX_SLUG_BASE:
        return key.replace(" ", "_")
    ascii_key = unicodedata.normalize("NFKD", key).encode("ascii", "ignore").decode("ascii")
    base = _OTHER.sub("_", ascii_key)[:MAX_SLUG_BASE].strip("_.-") or "NAME"
    digest = hashlib.sha256(key.encode("utf-8")).hexdigest()[:8]
    return f"{base}--{digest}"
