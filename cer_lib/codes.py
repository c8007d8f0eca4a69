"""What may be reported on: checking a code before anything runs.

A code is user input that ends up in an openFDA query and in a folder name, so it is checked twice:
its *shape* (three letters for a product code, digits/letters for a UDI-DI, ...) and, for product
codes, its *existence* in the FDA product-classification data, with close matches suggested.
"""
from __future__ import annotations

import difflib
import re
from collections.abc import Iterable
from enum import Enum

from .errors import CodeError, excerpt


class Kind(str, Enum):
    """What the code names."""

    product_code = "product_code"  # FDA device product code, e.g. LZG
    udi_di = "udi_di"  # device identifier of a UDI (GS1 GTIN, HIBCC, ICCBBA)
    drug = "drug"  # drug name, active ingredient or NDC
    brand = "brand"  # device brand name (for publisher sheets without product codes)

    def __str__(self) -> str:
        return self.value


_SHAPES: dict[Kind, tuple[re.Pattern[str], str]] = {
    Kind.product_code: (re.compile(r"[A-Z]{3}"), "exactly three letters, e.g. LZG"),
    Kind.udi_di: (re.compile(r"\+?[A-Z0-9]{6,24}"), "6 to 24 letters or digits (a leading + for HIBCC), e.g. 00643169007222"),
    Kind.drug: (re.compile(r"[A-Z0-9](?:[A-Z0-9-]| (?! ))*[A-Z0-9]|[A-Z0-9]"), "letters, digits, hyphens and single spaces, e.g. METFORMIN or 0093-7214"),
    Kind.brand: (re.compile(r"[A-Z0-9](?:[A-Z0-9.-]| (?! ))*[A-Z0-9]|[A-Z0-9]"), "letters, digits, '.', '-' and single spaces, e.g. MINIMED 630G"),
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
    """Return the canonical form of ``code`` (upper case, trimmed) or raise `CodeError`.

    Refuses anything that could change a query or a path: quotes, slashes, ``..``, ``+OR+``,
    brackets, control characters, and for product codes and UDI-DIs any space.
    """
    kind = parse_kind(kind)
    if not isinstance(code, str) or not code.strip():
        raise CodeError("no code given: pass one, e.g. `make report CODE=LZG`")
    raw = code
    canonical = code.strip().upper()
    shape, example = _SHAPES[kind]
    if len(canonical) > 80 or not shape.fullmatch(canonical):
        bad = [repr(b) for b in sorted(set(_UNSAFE.findall(raw)))[:12]]
        if kind in (Kind.product_code, Kind.udi_di) and " " in raw.strip():
            bad.append("a space")
        why = (
            f" It contains {', '.join(bad)}, which could change a query or a file path, so it is refused."
            if bad
            else ""
        )
        raise CodeError(f"{excerpt(raw)} is not a valid {kind.value.replace('_', ' ')}: expected {example}.{why}")
    return canonical


def code_slug(code: str, kind: Kind | str) -> str:
    """Folder name for a normalised code (``outputs/<slug>/``)."""
    kind = parse_kind(kind)
    slug = code.replace(" ", "_").replace("+", "")
    return slug if kind in (Kind.product_code, Kind.udi_di) else f"{kind.value}-{slug}"


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
