"""Text from the data as a page can show it: printable characters only, bounded tokens and lengths.

Public records carry bytes no page should print: NUL and other C0 control characters, and the C1
range (U+0080 to U+009F), where Windows-1252 text decoded as Latin-1 leaves its punctuation (U+0092
is a right single quotation mark, U+0096 an en dash). `printable` keeps tab, line feed and carriage
return, gives each C1 character the Windows-1252 character it stands for (as HTML5 does for the
character references ``&#x80;`` to ``&#x9f;``) and drops the rest, so nothing reaches the HTML or
the PDF as a missing-glyph box.

`break_long_tokens` cuts unbroken runs (a 2,000-character term, a URL, a hash) into pieces a line
can hold; `excerpt` bounds the text shown for one narrative.
"""
from __future__ import annotations

import re

__all__ = ["EXCERPT_CHARS", "FULL_TEXT_CHARS", "MAX_TOKEN", "break_long_tokens", "excerpt", "printable"]

#: characters of one narrative shown in the report (screen and print); longer ones are cut at a word
EXCERPT_CHARS = 300
#: characters of one narrative the HTML page holds folded (never printed); the tables hold the whole text
FULL_TEXT_CHARS = 10_000
#: longest unbroken run a line is asked to hold; longer runs get a break opportunity every `MAX_TOKEN` characters
MAX_TOKEN = 32

_C1 = {code: bytes([code]).decode("cp1252", errors="ignore") for code in range(0x80, 0xA0)}
# C0 controls except tab, line feed, carriage return; DEL; C1 (mapped first); lone surrogates; U+FFFE/U+FFFF
_UNPRINTABLE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff\ufffe\uffff]")
_C1_RANGE = re.compile("[\x80-\x9f]")
_LONG = re.compile(r"\S{%d,}" % (MAX_TOKEN + 1))


def printable(text: str) -> str:
    """``text`` without control characters; C1 characters as the Windows-1252 characters they stand for."""
    if not text:
        return text
    text = _C1_RANGE.sub(lambda m: _C1[ord(m.group(0))], text)
    return _UNPRINTABLE.sub("", text)


def break_long_tokens(text: str, joiner: str = "\u200b", size: int = MAX_TOKEN // 2) -> str:
    """``text`` with ``joiner`` (a zero-width space by default) every ``size`` characters inside runs
    longer than `MAX_TOKEN`: a line can then break inside them, and nothing else changes."""
    return _LONG.sub(lambda m: joiner.join(m.group(0)[i:i + size] for i in range(0, len(m.group(0)), size)), text)


def excerpt(text: str, limit: int = EXCERPT_CHARS) -> tuple[str, bool]:
    """(the first ``limit`` characters of ``text``, cut after a word and ended with an ellipsis; whether it was cut)."""
    if len(text) <= limit:
        return text, False
    cut = text[:limit]
    space = cut.rfind(" ", limit // 2)
    return (cut[:space] if space > 0 else cut).rstrip() + "\u2026", True
