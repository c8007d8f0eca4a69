"""Codes are checked before anything runs: shape (no query or path injection) and existence."""
from __future__ import annotations

import pytest

from cer_lib.codes import Kind, check_product_code_exists, code_slug, normalise_code
from cer_lib.errors import CodeError


@pytest.mark.parametrize(
    ("code", "kind", "canonical"),
    [("lzg", "product_code", "LZG"), (" HWC ", "product_code", "HWC"), ("00643169007222", "udi_di", "00643169007222"),
     ("+H123ABC4561", "udi_di", "+H123ABC4561"),
     # names are kept as typed (issue 17: the report shows the name as typed; matching normalises it)
     ("MiniMed 630G", "brand", "MiniMed 630G"), (" insulin glargine ", "drug", "insulin glargine")],
)
def test_valid_codes_are_normalised(code, kind, canonical) -> None:
    assert normalise_code(code, kind) == canonical


@pytest.mark.parametrize(
    ("code", "kind", "mentions"),
    [
        ("../x", "product_code", "'..'"),
        ("../../etc", "product_code", "'/'"),
        ("A+OR+B", "product_code", "'+OR+'"),
        ('HWC"', "product_code", "'\"'"),
        ("H W", "product_code", "a space"),
        ("HW C", "udi_di", "a space"),
        ("HWC)", "product_code", "')'"),
        ("x\x00rm -rf", "drug", "a NUL byte"),  # ';' is data in a name (issue 17); a NUL never is
        ("a\nb", "brand", "'\\n'"),
        ("MINIMED/../..", "brand", "'/'"),
    ],
)
def test_codes_that_could_inject_are_refused_with_the_reason(code, kind, mentions) -> None:
    with pytest.raises(CodeError) as info:
        normalise_code(code, kind)
    message = str(info.value)
    assert repr(code) in message and "refused" in message and mentions in message


@pytest.mark.parametrize("code", ["NOPE", "LZ", "L1G", ""])
def test_malformed_product_codes_say_what_is_expected(code) -> None:
    with pytest.raises(CodeError, match="three letters|no code given"):
        normalise_code(code, Kind.product_code)


def test_unknown_product_code_suggests_close_matches() -> None:
    known = {"HWC", "HWA", "HRS", "LZG", "DQY"}
    check_product_code_exists("HWC", known, source="test list")
    with pytest.raises(CodeError) as info:
        check_product_code_exists("HWX", known, source="test list")
    assert "'HWX' is not an FDA product code in test list" in str(info.value)
    assert "HWC" in str(info.value) and "HWA" in str(info.value)
    with pytest.raises(CodeError) as info:
        check_product_code_exists("ZZZ", known, source="test list")
    assert "Close matches" not in str(info.value)


def test_slugs_are_safe_folder_names() -> None:
    assert code_slug("HWC", "product_code") == "HWC"
    assert code_slug("MINIMED 630G", "brand") == "brand-MINIMED_630G"
    assert code_slug("+H123ABC4561", "udi_di") == "H123ABC4561"
