"""What may be reported on: checking a code before anything runs.

A code is user input that ends up in an openFDA query and in a folder name. Product codes and
UDI-DIs have strict *shapes* (three letters; 6 to 24 letters or digits) and, for product codes, must
*exist* in the FDA product-classification data, with close matches suggested. Brand and drug names
are free text, checked by `cer_lib.names.check_name` and escaped wherever they go.
"""
from __future__ import annotations

import difflib
import re
from collections.abc import Iterable
from enum import Enum

from .errors import CodeError, excerpt
from .names import check_name, name_slug


class Kind(str, Enum):
    """What the code names."""

    product_code = "product_code"  # FDA device product code, e.g. LZG
    udi_di = "udi_di"  # device identifier of a UDI (GS1 GTIN, HIBCC, ICCBBA)
    drug = "drug"  # drug name, active ingredient or NDC
    brand = "brand"  # device brand name (for publisher sheets without product codes)

    def __str__(self) -> str:
        return self.value


NAME_KINDS = (Kind.brand, Kind.drug)  # free-text names (`cer_lib.names`), not coded identifiers

_SHAPES: dict[Kind, tuple[re.Pattern[str], str]] = {
    Kind.product_code: (re.compile(r"[A-Z]{3}"), "exactly three letters, e.g. LZG"),
    Kind.udi_di: (re.compile(r"\+?[A-Z0-9]{6,24}"), "6 to 24 letters or digits (a leading + for HIBCC), e.g. 00643169007222"),
}

_UNSAFE = re.compile(r"[^A-Za-z0-9 .+-]|\.\.|\+OR\+|\+AND\+", re.IGNORECASE)


def parse_kind(kind: Kind | str) -> Kind:
    """`Kind` from its name, or `CodeError` listing the allowed kinds."""
    try:
        return Kind(kind)
    except ValueError:
        allowed = ", ".join(k.value for k in Kind)
        raise CodeError(f"kind {excerpt(kind)} is not one of: {allowed}") from None


def normalise_code(code: str, kind: Kind | str) -> str:
    """Return the canonical form of ``code`` or raise `CodeError`.

    Product codes and UDI-DIs: upper case, trimmed, of their strict shape; anything else (quotes,
    slashes, ``..``, ``+OR+``, brackets, spaces, control characters) is refused with the reason.
    Brand and drug names: the name as typed (`cer_lib.names.check_name`).
    """
    kind = parse_kind(kind)
    if kind in NAME_KINDS:
        return check_name(code, kind.value)
    if not isinstance(code, str) or not code.strip():
        raise CodeError("no code given: pass one, e.g. `make report CODE=LZG`")
    raw = code
    canonical = code.strip().upper()
    shape, example = _SHAPES[kind]
    if len(canonical) > 80 or not shape.fullmatch(canonical):
        bad = [repr(b) for b in sorted(set(_UNSAFE.findall(raw)))[:12]]
        if " " in raw.strip():
            bad.append("a space")
        why = (
            f" It contains {', '.join(bad)}, which could change a query or a file path, so it is refused."
            if bad
            else ""
        )
        raise CodeError(f"{excerpt(raw)} is not a valid {kind.value.replace('_', ' ')}: expected {example}.{why}")
    return canonical


def code_slug(code: str, kind: Kind | str) -> str:
    """Folder name for a normalised code (``outputs/<slug>/``, ``parameters/<slug>.yaml``): the code itself
    (a HIBCC UDI-DI without its ``+``), or ``<kind>-`` and the name's slug (`cer_lib.names.name_slug`)."""
    kind = parse_kind(kind)
    if kind in NAME_KINDS:
        return f"{kind.value}-{name_slug(code)}"
    return code.replace("+", "")


def close_matches(code: str, known: Iterable[str], n: int = 6) -> list[str]:
    """Codes one letter away from ``code`` (same position), then difflib's nearest; at most ``n``."""
    known = sorted(set(known))
    differ = lambda k: [i for i, (a, b) in enumerate(zip(k, code)) if a != b]
    # a slip in the last letter is likeliest: those first, then the middle, then the first letter
    one_off = sorted((k for k in known if len(k) == len(code) and len(differ(k)) == 1), key=lambda k: (-differ(k)[0], k))
    rest = [k for k in difflib.get_close_matches(code, known, n=n, cutoff=0.6) if k not in one_off]
    return (one_off + rest)[:n]


def check_product_code_exists(code: str, known_codes: Iterable[str], *, source: str) -> None:
    """Raise `CodeError` naming ``code`` and suggesting close matches when it is not in ``known_codes``."""
    known = set(known_codes)
    if code in known:
        return
    close = close_matches(code, known)
    hint = f" Close matches: {', '.join(close)}." if close else ""
    raise CodeError(f"{code!r} is not an FDA product code in {source} ({len(known):,} codes).{hint}")
