"""Run parameters: defaults, per-code overrides, command-line overrides, one validated object.

Precedence: command line > ``parameters/<CODE>.yaml`` > ``parameters/defaults.yaml``. The merged
result is validated by the `Parameters` schema; errors name the field, the value and what is
allowed. The effective parameters (with the data window resolved to dates) are saved in each run.
"""
from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from .codes import Kind, normalise_code
from .errors import ParameterError
from .settings import PROJECT_ROOT

PARAMETERS_DIR = PROJECT_ROOT / "parameters"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class Window(_Strict):
    """Data window on the date the report was received by FDA (inclusive)."""

    start: dt.date = dt.date(2015, 1, 1)
    end: dt.date | None = Field(None, description="null means today (UTC), resolved when the run starts")

    @model_validator(mode="after")
    def _ordered(self) -> "Window":
        if self.end is not None and self.end < self.start:
            raise ValueError(f"window.end ({self.end}) is before window.start ({self.start})")
        return self


class Sources(_Strict):
    """Which sources are queried. Optional sources that fail are reported, not fatal."""

    maude: bool = True
    recall: bool = True
    enforcement: bool = True
    submissions: bool = True  # 510(k), PMA, De Novo
    classification: bool = True
    udi: bool = True
    registrationlisting: bool = True
    eudamed: bool = True


class TrendMethod(_Strict):
    recent_months: int = Field(12, ge=3, le=60)
    baseline_months: int = Field(24, ge=6, le=120)
    alpha: float = Field(0.05, gt=0, lt=0.5)
    overdispersion_threshold: float = Field(1.5, ge=1.0, description="Pearson chi2/df above which NB replaces Poisson")


class ChangepointMethod(_Strict):
    penalty_multiplier: float = Field(2.0, gt=0, description="penalty = multiplier * log(n months)")
    min_segment_months: int = Field(6, ge=2, le=36)


class ForecastMethod(_Strict):
    model: Literal["ets"] = Field("ets", description="ETS (additive errors; ANN/AAN/AAdN/ANA chosen by AICc)")
    horizon_months: int = Field(12, ge=1, le=60)
    min_months: int = Field(24, ge=12)
    backtest_origins: int = Field(12, ge=3, le=60)


class SignalMethod(_Strict):
    n_star: int = Field(1, ge=1, le=10, description="EBGM prior likelihood uses pairs with n >= N*")
    min_a: int = Field(3, ge=1)
    prr_threshold: float = Field(2.0, gt=0)
    chi2_threshold: float = Field(4.0, gt=0)
    eb05_threshold: float = Field(2.0, gt=0)
    max_comparators: int = Field(30, ge=0, le=200, description="other product codes of the same regulation used as comparators")
    primary_screen: Literal["EB05", "IC025"] = Field(
        "EB05", description="the pre-specified primary screen behind the signal counts: EB05 >= eb05_threshold or "
        "IC025 > ic025_threshold; the other rule and the Evans rule are shown as secondary flags")
    ic025_threshold: float = Field(0.0, description="IC025 screen: IC025 > this")
    min_pairs_for_prior: int = Field(300, ge=5, description="fewest (product, term) pairs to fit the EBGM prior")
    prior_fallback: Literal["dumouchel-1999", "none"] = Field(
        "dumouchel-1999", description="EBGM prior when the fit is not sound (too few pairs, a boundary fit): "
        "DuMouchel's 1999 published prior, or none (EBGM not estimable)")
    truncation: Literal["whole-mixture", "per-component"] = Field(
        "whole-mixture", description="likelihood truncation at N* for the EBGM prior fit")
    stratify_by_year: bool = Field(
        True, description="expected counts stratified by year received when per-year counts exist for every product")


class ProblemMethod(_Strict):
    top_n: int = Field(10, ge=1, le=100)
    fdr_q: float = Field(0.05, gt=0, lt=1)
    recent_years: int = Field(2, ge=1, le=10)


class Methods(_Strict):
    review_sample_size: int = Field(200, ge=0, le=5000, description="records fetched for the case review (most recent first)")
    series_start: Literal["first_report", "window"] = Field(
        "first_report",
        description="models start at the month of the device's first report in the window (leading zero months say "
        "nothing about a reporting rate), or at the window start",
    )
    trend: TrendMethod = TrendMethod()
    changepoint: ChangepointMethod = ChangepointMethod()
    forecast: ForecastMethod = ForecastMethod()
    signals: SignalMethod = SignalMethod()
    problems: ProblemMethod = ProblemMethod()


class Http(_Strict):
    cache_expire_hours: float = Field(24.0, ge=0, description="0 means always revalidate")
    offline: bool = Field(False, description="use only cached responses; the report says so")
    timeout_seconds: float = Field(30.0, gt=0)
    max_retries: int = Field(5, ge=0, le=10)
    requests_per_minute: int = Field(200, ge=1, le=240)


class Parameters(_Strict):
    """Everything a run depends on besides code version and data."""

    code: str
    kind: Kind = Kind.product_code
    data_from: Literal["api", "mirror"] = Field("api", alias="from")
    mirror: Path | None = Field(None, description="mirror folder; null means the demo mirror")
    window: Window = Window()
    sources: Sources = Sources()
    methods: Methods = Methods()
    http: Http = Http()

    @model_validator(mode="before")
    @classmethod
    def _canonical_code(cls, data: Any) -> Any:
        """Check the code's shape for its kind (raises `CodeError`) and upper-case it."""
        if not isinstance(data, dict) or not isinstance(data.get("code"), str):
            return data
        kind = data.get("kind") or Kind.product_code
        if kind not in {k.value for k in Kind} | set(Kind):
            return data  # the kind field reports its own error
        return {**data, "code": normalise_code(data["code"], kind)}

    @field_validator("mirror", mode="before")
    @classmethod
    def _empty_mirror_is_none(cls, value: Any) -> Any:
        return None if value in ("", None) else value

    def resolved(self, today: dt.date | None = None) -> "Parameters":
        """Copy with the window end fixed to a date (today, UTC, when open)."""
        if self.window.end is not None:
            return self
        end = today or dt.datetime.now(dt.timezone.utc).date()
        return self.model_copy(update={"window": self.window.model_copy(update={"end": end})})

    def to_yaml_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json", by_alias=True)


def deep_merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """Merge ``override`` into a copy of ``base``; nested mappings merge, everything else replaces."""
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def parse_override(assignment: str) -> dict[str, Any]:
    """``"methods.forecast.horizon_months=6"`` -> nested dict, value parsed as YAML."""
    key, sep, raw = assignment.partition("=")
    if not sep or not key.strip():
        raise ParameterError(f"override {assignment!r} must look like section.field=value")
    value = yaml.safe_load(raw) if raw.strip() else None
    for part in reversed(key.strip().split(".")):
        value = {part: value}
    return value


def read_parameter_file(path: Path) -> dict[str, Any]:
    """The mapping in a parameters YAML file (not yet validated)."""
    if not Path(path).is_file():
        raise ParameterError(f"parameters file {path} not found")
    return _read_yaml(Path(path))


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise ParameterError(f"{path}: not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise ParameterError(f"{path}: expected a mapping of parameters at the top level")
    return data


def describe_validation_error(exc: ValidationError, layers: list[str]) -> str:
    lines = [f"invalid parameters (from {', then '.join(layers)}):"]
    for err in exc.errors():
        field = ".".join(str(p) for p in err["loc"]) or "(top level)"
        got = err.get("input")
        got_text = "" if isinstance(got, dict) else f" (got {got!r})"
        message = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            message = "unknown field; check the spelling against parameters/defaults.yaml"
        lines.append(f"  - {field}: {message}{got_text}")
    return "\n".join(lines)


def load_parameters(
    code: str,
    *,
    kind: str | None = None,
    overrides: dict[str, Any] | None = None,
    parameters_dir: Path = PARAMETERS_DIR,
) -> Parameters:
    """Merge defaults, the per-code file and ``overrides``; validate; return `Parameters`.

    ``code`` is checked for shape before it is used to look up ``parameters/<CODE>.yaml``.
    """
    cli: dict[str, Any] = {"code": code}
    if kind:
        cli["kind"] = kind
    cli = deep_merge(cli, overrides or {})
    layers = [str(parameters_dir / "defaults.yaml")]
    merged = _read_yaml(parameters_dir / "defaults.yaml")
    canonical = normalise_code(code, cli.get("kind") or merged.get("kind") or Kind.product_code)
    per_code = parameters_dir / f"{canonical.replace(' ', '_')}.yaml"
    if per_code.is_file():
        layers.append(str(per_code))
        merged = deep_merge(merged, _read_yaml(per_code))
    layers.append("the command line")
    merged = deep_merge(merged, cli)
    try:
        return Parameters.model_validate(merged)
    except ValidationError as exc:
        raise ParameterError(describe_validation_error(exc, layers)) from None


def save_parameters(params: Parameters, path: Path) -> None:
    header = "# Effective parameters of this run (defaults < per-code file < command line).\n"
    path.write_text(header + yaml.safe_dump(params.to_yaml_dict(), sort_keys=False), encoding="utf-8")


def read_parameters(path: Path) -> Parameters:
    try:
        return Parameters.model_validate(_read_yaml(path))
    except ValidationError as exc:
        raise ParameterError(describe_validation_error(exc, [str(path)])) from None
