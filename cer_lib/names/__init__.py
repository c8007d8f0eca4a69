"""Names as people type them — brands and drug names — treated as data end to end.

``check_name(name, "brand")``
    the name as typed (NFC, trimmed) or `CodeError` with the reason (`names.check`);
``match_key(name)``
    its normalised form for matching: case, ``® ™ ©``, surrounding punctuation, repeated spaces
    (`names.normalise`); ``classify_terms(name, count_rows)`` splits a source's values into the
    name's variants and other names that share its words; ``word_phrase(name)`` the words an
    analysed phrase search looks for;
``name_slug(name)``
    its folder name, with a short hash when the plain rule would lose characters (`names.slug`);
``cer_lib.sources.openfda.render_value(value)``
    a value as an escaped openFDA quoted phrase, or `NotExpressible` when openFDA's search syntax
    cannot carry it (the escaping belongs to the openFDA query renderer).

Product codes and UDI-DIs are not names: they keep their strict shapes (`cer_lib.codes`).
"""
from __future__ import annotations

from .check import MAX_NAME_CHARS, check_name
from .normalise import TermClasses, TermCount, classify_terms, match_key, word_phrase
from .slug import name_slug

__all__ = ["MAX_NAME_CHARS", "check_name", "match_key", "word_phrase", "classify_terms", "TermCount", "TermClasses",
           "name_slug"]
