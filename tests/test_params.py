"""Parameters: precedence, validation messages, saving the effective parameters."""
from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from cer_lib.errors import CodeError, ParameterError
from cer_lib.params import load_parameters, parse_override, read_parameters, save_parameters
from cer_lib.settings import PROJECT_ROOT


@pytest.fixture()
def parameters_dir(tmp_path: Path) -> Path:
    (tmp_path / "defaults.yaml").write_text((PROJECT_ROOT / "parameters" / "defaults.yaml").read_text())
    (tmp_path / "HWC.yaml").write_text("methods:\n  forecast:\n    horizon_months: 6\n    min_months: 30\nwindow:\n  start: 2016-01-01\n")
    return tmp_path


def test_committed_defaults_are_valid_and_complete() -> None:
    params = load_parameters("LZG")
    assert params.code == "LZG" and params.kind.value == "product_code" and params.data_from == "api"
    assert params.window.start == dt.date(2015, 1, 1) and params.window.end is None


def test_per_code_file_overrides_defaults_and_command_line_overrides_both(parameters_dir: Path) -> None:
    from_file = load_parameters("HWC", parameters_dir=parameters_dir)
    assert from_file.methods.forecast.horizon_months == 6  # per-code file
    assert from_file.methods.forecast.model == "ets"  # default kept
    assert from_file.window.start == dt.date(2016, 1, 1)
    cli = load_parameters("hwc", parameters_dir=parameters_dir, overrides=parse_override("methods.forecast.horizon_months=3"))
    assert cli.methods.forecast.horizon_months == 3  # command line wins
    assert cli.methods.forecast.min_months == 30  # the file's other values survive
    other = load_parameters("LZG", parameters_dir=parameters_dir)
    assert other.methods.forecast.horizon_months == 12  # HWC.yaml applies to HWC only


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({"from": "ftp"}, ["from:", "'api' or 'mirror'", "'ftp'"]),
        ({"methods": {"forecast": {"model": "prophet"}}}, ["methods.forecast.model", "'ets'", "'prophet'"]),
        ({"methods": {"trend": {"alpha": 2}}}, ["methods.trend.alpha", "less than 0.5"]),
        ({"sourcez": {"maude": False}}, ["sourcez", "unknown field"]),
        ({"window": {"start": "2021-01-01", "end": "2020-01-01"}}, ["window", "before window.start"]),
        ({"window": {"start": "yesterday"}}, ["window.start", "date"]),
    ],
)
def test_invalid_parameters_name_the_field_and_allowed_values(overrides, expected) -> None:
    with pytest.raises(ParameterError) as info:
        load_parameters("HWC", overrides=overrides)
    for fragment in expected:
        assert fragment in str(info.value)


def test_unknown_kind_lists_the_allowed_kinds() -> None:
    with pytest.raises(CodeError, match="product_code, udi_di, drug, brand"):
        load_parameters("HWC", kind="device")


def test_effective_parameters_round_trip(tmp_path: Path) -> None:
    params = load_parameters("HWC", overrides={"from": "mirror"}).resolved(today=dt.date(2026, 11, 30))
    assert params.window.end == dt.date(2026, 11, 30)
    save_parameters(params, tmp_path / "parameters.yaml")
    text = (tmp_path / "parameters.yaml").read_text()
    assert "from: mirror" in text and "end: '2026-11-30'" in text
    assert read_parameters(tmp_path / "parameters.yaml") == params


def test_override_syntax_is_checked() -> None:
    assert parse_override("a.b.c=1") == {"a": {"b": {"c": 1}}}
    assert parse_override("http.offline=true") == {"http": {"offline": True}}
    with pytest.raises(ParameterError, match="section.field=value"):
        parse_override("justaname")
