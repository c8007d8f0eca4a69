"""Run parameters: defaults, per-code overrides, command-line overrides, one validated object.

Precedence: command line > ``parameters/<CODE>.yaml`` > ``parameters/defaults.yaml``. The merged
result is validated by the `Parameters` schema; errors name the field, a short excerpt of the value
and what is allowed. The effective parameters (with the data window resolved to dates) are saved in
each run.

Parameter text is read by `parse_parameter_yaml`, a YAML safe loader narrowed for settings: no aliases
(an alias "bomb" of nested anchors expands exponentially), no duplicate keys (which YAML otherwise
resolves silently to the last), bounded nesting and size, and dates left as text for the schema to
check (so ``2015-02-30`` is a validation error, not a crash). The schema is strict: a boolean is not
a number nor a number a boolean, numbers are finite and bounded, dates lie between the start of
FDA's device reporting and today.
"""
from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, Strict, ValidationError, field_validator, model_validator

from .codes import Kind, code_slug, normalise_code
from .errors import ParameterError, excerpt, shorten
from .files import write_text_atomic
from .settings import PROJECT_ROOT

PARAMETERS_DIR = PROJECT_ROOT / "parameters"
MAX_PARAMETER_BYTES = 256 * 1024  # the commented defaults file is under 4 KB
MAX_NESTING = 16  # the schema nests 3 deep
MAX_ERRORS_SHOWN = 20
EARLIEST_DATE = dt.date(1984, 1, 1)  # FDA's medical device reporting began in 1984: no report is older

# Fields that take text where the strict schema would want an object: dates as ISO text, paths, kinds
Lax = Strict(False)


def _today_utc() -> dt.date:
    return dt.datetime.now(dt.timezone.utc).date()


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True, strict=True, allow_inf_nan=False)


class Window(_Strict):
    """Data window on the date the report was received by FDA (inclusive)."""

    start: Annotated[dt.date, Lax] = dt.date(2015, 1, 1)
    end: Annotated[dt.date | None, Lax] = Field(None, description="null means today (UTC), resolved when the run starts")

    @field_validator("start", "end")
    @classmethod
    def _in_range(cls, value: dt.date | None) -> dt.date | None:
        if value is None:
            return value
        if value < EARLIEST_DATE:
            raise ValueError(f"{value} is before {EARLIEST_DATE}, when FDA's device reporting began")
        today = _today_utc()
        if value > today:
            raise ValueError(f"{value} is in the future (today is {today}, UTC): no report can have been received then")
        return value

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
    faers: bool = True  # drugs: FAERS adverse events (drug/event, or the quarterly files of a mirror)
    label: bool = True  # drugs: product labels (drug/label)
    ndc: bool = True  # drugs: the NDC directory (drug/ndc)
    drugsfda: bool = True  # drugs: approvals and their history (drug/drugsfda)


FAERS_ROLES = ("PS", "SS", "C", "I")


class DrugOptions(_Strict):
    """How a drug is resolved and which of its reports count (`cer_lib.profiles.drug`)."""

    ingredient: str | None = Field(None, description="the active ingredient (or combination, as resolution lists it) "
                                   "a name stands for when it has several; null: refused when ambiguous")
    roles: tuple[Literal["PS", "SS", "C", "I"], ...] = Field(
        ("PS", "SS"), min_length=1, description="FAERS drug roles that count: PS primary suspect, SS secondary suspect, "
        "C concomitant, I interacting")

    @field_validator("roles", mode="before")
    @classmethod
    def _roles_from_text(cls, value: Any) -> Any:
        if isinstance(value, str):  # --set drug.roles=PS,SS
            return tuple(part.strip().upper() for part in value.split(",") if part.strip())
        if isinstance(value, list):
            return tuple(value)
        return value


class TrendMethod(_Strict):
    recent_months: int = Field(12, ge=3, le=60)
    baseline_months: int = Field(24, ge=6, le=120)
    min_baseline_months: int = Field(12, ge=3, le=120, description="fewer complete months before the recent ones: no verdict; "
                                     "fewer than baseline_months but at least this many: a reduced baseline")
    primary_event_type: Literal["total", "Death", "Injury", "Malfunction", "Other"] = Field(
        "total", description="the series of the pre-specified primary trend test (total = all reports)")
    alpha: float = Field(0.05, gt=0, lt=0.5)
    overdispersion_threshold: float = Field(1.5, ge=1.0, le=100, description="Pearson chi2/df above which NB replaces Poisson")

    @model_validator(mode="after")
    def _baseline_order(self) -> "TrendMethod":
        if self.min_baseline_months > self.baseline_months:
            raise ValueError(f"min_baseline_months ({self.min_baseline_months}) exceeds baseline_months ({self.baseline_months})")
        return self


class ChangepointMethod(_Strict):
    penalty_multiplier: float = Field(4.0, gt=0, le=100, description="penalty = multiplier * log(n months)")
    min_segment_months: int = Field(6, ge=2, le=36)
    validation_level: Literal[0.1, 0.05, 0.01] = Field(0.01, description="level of the local self-normalised test "
                                                       "each candidate change point must pass")


class ForecastMethod(_Strict):
    model: Literal["ets"] = Field("ets", description="ETS (additive errors; ANN/AAN/AAdN/ANA chosen by AICc)")
    horizon_months: int = Field(12, ge=1, le=60)
    min_months: int = Field(24, ge=12, le=600)
    backtest_origins: int = Field(12, ge=3, le=60)


class SignalMethod(_Strict):
    n_star: int = Field(1, ge=1, le=10, description="EBGM prior likelihood uses pairs with n >= N*")
    min_a: int = Field(3, ge=1, le=1000)
    prr_threshold: float = Field(2.0, gt=0, le=1000)
    chi2_threshold: float = Field(4.0, gt=0, le=1000)
    eb05_threshold: float = Field(2.0, gt=0, le=1000)
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
        True, description="expected counts stratified by year received when per-year counts exist for every product; "
                          "false also collects each comparator's term counts once over the window instead of per year "
                          "(two requests per comparator instead of two per comparator and year)")


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
    lag_guard_months: int = Field(1, ge=0, le=12, description="months before the source's last_updated that are not yet "
                                  "complete (reporting lag): excluded from every test and model")
    trend: TrendMethod = TrendMethod()
    changepoint: ChangepointMethod = ChangepointMethod()
    forecast: ForecastMethod = ForecastMethod()
    signals: SignalMethod = SignalMethod()
    problems: ProblemMethod = ProblemMethod()


class Http(_Strict):
    cache_expire_hours: float = Field(24.0, ge=0, le=8760, description="0 means always revalidate; at most a year")
    offline: bool = Field(False, description="use only cached responses; the report says so")
    timeout_seconds: float = Field(30.0, gt=0, le=600)
    max_retries: int = Field(5, ge=0, le=10)
    requests_per_minute: int = Field(200, ge=1, le=240)


class Parameters(_Strict):
    """Everything a run depends on besides code version and data."""

    code: str
    kind: Annotated[Kind, Lax] = Kind.product_code
    data_from: Literal["api", "mirror"] = Field("api", alias="from")
    mirror: Annotated[Path | None, Lax] = Field(None, description="mirror folder; null means the demo mirror")
    window: Window = Window()
    sources: Sources = Sources()
    methods: Methods = Methods()
    http: Http = Http()
    drug: DrugOptions = DrugOptions()

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


class _ParameterLoader(yaml.SafeLoader):
    """`yaml.SafeLoader` for parameters: no aliases, no duplicate keys, bounded nesting, dates as text."""

    yaml_implicit_resolvers = {
        first: [(tag, pattern) for tag, pattern in resolvers if tag != "tag:yaml.org,2002:timestamp"]
        for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
    }

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            mark = self.peek_event().start_mark
            raise yaml.composer.ComposerError(
                None, None, "YAML aliases (*name) are not allowed in parameters: write the value out", mark)
        depth = getattr(self, "_depth", 0)
        if depth >= MAX_NESTING:
            raise yaml.composer.ComposerError(
                None, None, f"nested deeper than {MAX_NESTING} levels", self.peek_event().start_mark)
        self._depth = depth + 1
        try:
            return super().compose_node(parent, index)
        finally:
            self._depth = depth

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: dict[Any, yaml.Mark] = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            if isinstance(key, (list, dict)):
                raise yaml.constructor.ConstructorError(None, None, "a key must be a plain value", key_node.start_mark)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {excerpt(key)} (first on line {seen[key].line + 1})", key_node.start_mark)
            seen[key] = key_node.start_mark
        return super().construct_mapping(node, deep=deep)


def parse_parameter_yaml(text: str, source: str) -> Any:
    """The value in parameter text (a file's, or one ``--set`` value), read with `_ParameterLoader`.

    ``source`` names where the text came from in messages. Raises `ParameterError`.
    """
    if len(text.encode("utf-8", errors="replace")) > MAX_PARAMETER_BYTES:
        raise ParameterError(f"{source}: larger than {MAX_PARAMETER_BYTES // 1024} KB; parameters are a few lines")
    try:
        return yaml.load(text, Loader=_ParameterLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as exc:
        raise ParameterError(f"{source}: not valid YAML: {exc}") from None


def parse_override(assignment: str) -> dict[str, Any]:
    """``"methods.forecast.horizon_months=6"`` -> nested dict, value parsed as YAML."""
    key, sep, raw = assignment.partition("=")
    if not sep or not key.strip():
        raise ParameterError(f"override {excerpt(assignment)} must look like section.field=value")
    value = parse_parameter_yaml(raw, f"--set {excerpt(key.strip())}") if raw.strip() else None
    for part in reversed(key.strip().split(".")):
        value = {part: value}
    return value


def read_parameter_file(path: Path) -> dict[str, Any]:
    """The mapping in a parameters YAML file (not yet validated)."""
    if not Path(path).is_file():
        raise ParameterError(f"parameters file {path} not found")
    return read_yaml_mapping(Path(path))


def read_yaml_mapping(path: Path) -> dict[str, Any]:
    """The mapping in a parameters YAML file, read with `parse_parameter_yaml` (``{}`` when empty)."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise ParameterError(f"{path}: not UTF-8 text (byte {exc.start})") from None
    data = parse_parameter_yaml(text, str(path)) or {}
    if not isinstance(data, dict):
        raise ParameterError(f"{path}: expected a mapping of parameters at the top level")
    return data


def describe_validation_error(exc: ValidationError, layers: list[str]) -> str:
    lines = [f"invalid parameters (from {', then '.join(layers)}):"]
    errors = exc.errors()
    for err in errors[:MAX_ERRORS_SHOWN]:
        field = shorten(".".join(str(p) for p in err["loc"])) or "(top level)"
        got = err.get("input")
        got_text = "" if isinstance(got, dict) else f" (got {excerpt(got)})"
        message = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            message = "unknown field; check the spelling against parameters/defaults.yaml"
        lines.append(f"  - {field}: {message}{got_text}")
    if len(errors) > MAX_ERRORS_SHOWN:
        lines.append(f"  … and {len(errors) - MAX_ERRORS_SHOWN:,} more")
    return "\n".join(lines)


def load_parameters(
    code: str,
    *,
    kind: str | None = None,
    overrides: dict[str, Any] | None = None,
    parameters_dir: Path = PARAMETERS_DIR,
) -> Parameters:
    """Merge defaults, the per-code file and ``overrides``; validate; return `Parameters`.

    ``code`` is checked before it is used to look up ``parameters/<slug>.yaml`` (the code's folder name,
    e.g. ``HWC.yaml`` or ``brand-MINIMED_630G.yaml``).
    """
    if "code" in (overrides or {}):
        raise ParameterError(
            f"the code is given on the command line ({excerpt(code)}); an override cannot replace it "
            f"(got code={excerpt((overrides or {})['code'])}): run a report for the other code instead")
    cli: dict[str, Any] = {"code": code}
    if kind:
        cli["kind"] = kind
    cli = deep_merge(cli, overrides or {})
    layers = [str(parameters_dir / "defaults.yaml")]
    merged = read_yaml_mapping(parameters_dir / "defaults.yaml")
    kind_given = cli.get("kind") or merged.get("kind") or Kind.product_code
    per_code = parameters_dir / f"{code_slug(normalise_code(code, kind_given), kind_given)}.yaml"
    if per_code.is_file():
        layers.append(str(per_code))
        merged = deep_merge(merged, read_yaml_mapping(per_code))
    layers.append("the command line")
    merged = deep_merge(merged, cli)
    try:
        return Parameters.model_validate(merged)
    except ValidationError as exc:
        raise ParameterError(describe_validation_error(exc, layers)) from None


def save_parameters(params: Parameters, path: Path) -> None:
    """Write ``params`` as YAML, atomically (a reader never sees half a file)."""
    header = "# Effective parameters of this run (defaults < per-code file < command line).\n"
    write_text_atomic(Path(path), header + yaml.safe_dump(params.to_yaml_dict(), sort_keys=False))


def read_parameters(path: Path) -> Parameters:
    try:
        return Parameters.model_validate(read_yaml_mapping(path))
    except ValidationError as exc:
        raise ParameterError(describe_validation_error(exc, [str(path)])) from None
