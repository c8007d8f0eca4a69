"""The normalised form of a name, as the data need it for matching.

The same brand is written many ways in FDA's data and by the people who ask for it: ``Dexcom G6®``,
``DEXCOM G6``, ``dexcom  g6``, ``"Dexcom G6"``. `match_key` maps them to one form:

1. the marks ``®`` ``™`` ``©`` ``℠`` ``℗`` are removed;
2. typographic apostrophes and quotes become ``'`` and ``"``, and Unicode dashes ``-``;
3. Unicode NFKC (compatibility forms: full-width letters, ligatures, non-breaking spaces);
4. upper case;
5. every run of white space becomes one space;
6. surrounding punctuation is removed (``I.B.S.`` -> ``I.B.S``, ``"PIT'STOP"`` -> ``PIT'STOP``),
   except a bracket that closes or opens one inside the name (``TYLENOL (ACETAMINOPHEN)`` keeps its ``)``).

Everything else is kept: ``PIT'STOP``, ``PIT STOP`` and ``PITSTOP`` are three different brands.

`classify_terms` applies this to the distinct values a source holds for a field (openFDA
``count=field.exact``): the values whose key equals the name's are its *variants*, the others share
its words but are different names.
"""
from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["MARKS", "match_key", "word_phrase", "classify_terms", "TermCount", "TermClasses"]

MARKS = "®™©℠℗"
_TYPOGRAPHY = str.maketrans({**{c: "'" for c in "‘’‛′`´"}, **{c: '"' for c in "“”„‟″"},
                             **{c: "-" for c in "‐‑‒–—―−"}, **{c: None for c in MARKS}})
_SPACES = re.compile(r"\s+")
_PAIRS = {"(": ")", "[": "]", "{": "}"}
_WORDS = re.compile(r"[^\W_]+")


def _is_punctuation(char: str) -> bool:
    return unicodedata.category(char)[0] == "P"


def _strip_punctuation(text: str) -> str:
    """``text`` without surrounding punctuation, keeping brackets that pair with one inside."""
    while text:
        first, last = text[0], text[-1]
        if _is_punctuation(last) and not (last in _PAIRS.values() and _opener(last) in text[:-1]):
            text = text[:-1].rstrip()
        elif _is_punctuation(first) and not (first in _PAIRS and _PAIRS[first] in text[1:]):
            text = text[1:].lstrip()
        else:
            break
    return text


def _opener(closer: str) -> str:
    return next(o for o, c in _PAIRS.items() if c == closer)


def match_key(name: str) -> str:
    """The normalised form of ``name`` for matching (see the module docstring); "" when nothing is left."""
    text = unicodedata.normalize("NFKC", str(name).translate(_TYPOGRAPHY)).upper()
    return _strip_punctuation(_SPACES.sub(" ", text).strip())


def word_phrase(name: str) -> str:
    """The words (runs of letters and digits) of ``name``'s key, joined by single spaces: what an analysed
    (tokenised, case-insensitive) phrase search for the name looks for."""
    return " ".join(_WORDS.findall(match_key(name)))


@dataclass(frozen=True)
class TermCount:
    """A value as a source holds it, and the number of records that hold it."""

    value: str
    records: int


@dataclass(frozen=True)
class TermClasses:
    """The values found for a name: its variants (same key) and the other names that share its words."""

    key: str
    variants: tuple[TermCount, ...]
    others: tuple[TermCount, ...]


def classify_terms(name: str, rows: Iterable[Mapping[str, Any]]) -> TermClasses:
    """Split openFDA-shaped count rows (``{"term", "count"}``) into the name's variants and other names.

    Both keep the source's order (most records first); blank terms are ignored.
    """
    key = match_key(name)
    variants, others = [], []
    for row in rows:
        term = str(row.get("term") or "")
        if not term.strip():
            continue
        found = TermCount(term, int(row.get("count") or 0))
        (variants if match_key(term) == key else others).append(found)
    return TermClasses(key, tuple(variants), tuple(others))
