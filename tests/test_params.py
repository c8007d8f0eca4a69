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


# ----------------------------------------------------------------------------------------------
# hostile parameter text: bounded, exact, quoted briefly


def _alias_bomb(levels: int) -> str:
    """Each level lists the previous one nine times: 9**levels strings from a few lines."""
    lines = ['l0: &l0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    lines += [f"l{n}: &l{n} [{','.join([f'*l{n - 1}'] * 9)}]" for n in range(1, levels)]
    return "methods:\n  forecast:\n    model:\n" + "\n".join("      " + line for line in lines) + "\n"


def test_yaml_aliases_are_refused_in_parameters(parameters_dir: Path) -> None:
    (parameters_dir / "HWC.yaml").write_text(_alias_bomb(4))  # 9**4 strings; a 9-level bomb took > 120 s and 3.7 GB
    with pytest.raises(ParameterError, match=r"YAML aliases \(\*name\) are not allowed in parameters") as info:
        load_parameters("HWC", parameters_dir=parameters_dir)
    assert "HWC.yaml" in str(info.value) and "line 5" in str(info.value)


def test_duplicate_keys_are_an_error_naming_both_lines(parameters_dir: Path) -> None:
    (parameters_dir / "HWC.yaml").write_text("window:\n  start: 2016-01-01\nhttp:\n  offline: true\nwindow:\n  start: 2018-01-01\n")
    with pytest.raises(ParameterError, match=r"duplicate key 'window' \(first on line 1\)") as info:
        load_parameters("HWC", parameters_dir=parameters_dir)
    assert "line 5" in str(info.value)
    with pytest.raises(ParameterError, match="duplicate key 'horizon_months'"):
        parse_override("methods.forecast={horizon_months: 3, horizon_months: 6}")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[" * 5000 + "]" * 5000, "nested deeper than 16 levels"),
        ("methods:\n  review_sample_size: 1\n" + "# padding\n" * 40_000, "larger than 256 KB"),
    ],
    ids=["deep", "large"],
)
def test_parameter_files_are_bounded(parameters_dir: Path, text: str, message: str) -> None:
    (parameters_dir / "HWC.yaml").write_text(text)
    with pytest.raises(ParameterError, match=message):
        load_parameters("HWC", parameters_dir=parameters_dir)


def test_a_parameter_file_that_is_not_utf8_is_named(parameters_dir: Path) -> None:
    (parameters_dir / "HWC.yaml").write_bytes("window:\n  start: 2016-01-01\n".encode("utf-16"))
    with pytest.raises(ParameterError, match=r"HWC.yaml: not UTF-8 text \(byte 0\)"):
        load_parameters("HWC", parameters_dir=parameters_dir)


def test_validation_errors_quote_a_short_excerpt_of_the_input(parameters_dir: Path) -> None:
    huge = "z" * 200_000
    unknown = "\n".join(f"field_{i}: 1" for i in range(100))
    (parameters_dir / "HWC.yaml").write_text(f"methods:\n  forecast:\n    model: {huge}\n{unknown}\n")
    with pytest.raises(ParameterError) as info:
        load_parameters("HWC", parameters_dir=parameters_dir)
    message = str(info.value)
    assert "methods.forecast.model: Input should be 'ets' (got 'zzzz" in message and "(200,002 characters))" in message
    assert "… and 81 more" in message  # 101 errors: 20 shown
    assert len(message) < 3000


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({"http": {"timeout_seconds": float("inf")}}, "http.timeout_seconds: Input should be a finite number"),
        ({"http": {"cache_expire_hours": float("nan")}}, "http.cache_expire_hours: Input should be a finite number"),
        ({"http": {"timeout_seconds": 1e9}}, "http.timeout_seconds: Input should be less than or equal to 600"),
        ({"methods": {"signals": {"min_a": 10**30}}}, "methods.signals.min_a: Input should be less than or equal to 1000"),
        ({"window": {"end": "9999-12-31"}}, "window.end: 9999-12-31 is in the future"),
        ({"window": {"start": "0001-01-01"}}, "window.start: 0001-01-01 is before 1984-01-01"),
        ({"window": {"end": "2015-02-30"}}, "window.end: Input should be a valid date or datetime, day value is outside expected range"),
        ({"methods": {"review_sample_size": True}}, "methods.review_sample_size: Input should be a valid integer (got True)"),
        ({"methods": {"trend": {"alpha": False}}}, "methods.trend.alpha: Input should be a valid number (got False)"),
        ({"http": {"offline": 1}}, "http.offline: Input should be a valid boolean (got 1)"),
        ({"sources": {"maude": "yes please"}}, "sources.maude: Input should be a valid boolean (got 'yes please')"),
    ],
)
def test_numbers_are_finite_in_range_and_not_booleans_and_dates_exist(overrides, expected) -> None:
    with pytest.raises(ParameterError) as info:
        load_parameters("HWC", overrides=overrides)
    assert expected in str(info.value)


def test_yaml_dates_are_checked_by_the_schema_not_the_yaml_reader() -> None:
    assert parse_override("window.end=2015-02-30") == {"window": {"end": "2015-02-30"}}  # no crash while reading
    assert load_parameters("HWC", overrides=parse_override("window.end=2016-02-29")).window.end == dt.date(2016, 2, 29)


def test_an_override_cannot_replace_the_code() -> None:
    with pytest.raises(ParameterError, match=r"the code is given on the command line \('HWC'\); an override cannot replace it"):
        load_parameters("HWC", overrides=parse_override("code=LZG"))
