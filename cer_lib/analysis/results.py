"""Typed result objects of the time-series analyses and their JSON form.

Every result carries what a reader needs next to the number: the method's name, its definition in
one or two plain sentences, the parameters used, and the numbers. Results are plain dataclasses;
``to_dict()`` turns one into JSON-ready data with :func:`to_jsonable`:

- dataclasses become dicts (field order kept), nested results included;
- numpy scalars become Python scalars, numpy arrays lists;
- ``NaN`` / ``±inf`` / ``pd.NA`` / ``NaT`` become ``None``;
- dates (``datetime.date``, ``datetime.datetime`` and ``pd.Timestamp`` at midnight) become
  ``"YYYY-MM-DD"``; a timestamp with a time of day keeps its full ISO form;
- pandas DataFrames become a list of records, Series a list.

The analysis stage writes ``analysis.json`` from these dicts; the narrative templates read them.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import PurePath
from typing import Any

import numpy as np
import pandas as pd

__all__ = [
    "EVENT_TYPES",
    "ChangePoint",
    "ChangePointAnalysis",
    "ChangePointResult",
    "ControlChartResult",
    "CusumResult",
    "FigureRecord",
    "ForecastResult",
    "GlmTrendResult",
    "MonthlySeries",
    "ProblemProfile",
    "Result",
    "ShareTrend",
    "TrendAnalysis",
    "TrendVerdict",
    "to_jsonable",
]

#: Event types of the tidy ``event_counts`` table, in display order.
EVENT_TYPES: tuple[str, ...] = ("Death", "Injury", "Malfunction", "Other")


# --------------------------------------------------------------------------------------------
# JSON conversion
# --------------------------------------------------------------------------------------------


def _date_text(value: dt.datetime | dt.date | pd.Timestamp) -> str:
    if isinstance(value, dt.datetime):  # pd.Timestamp is a datetime subclass
        if (value.hour, value.minute, value.second, value.microsecond) == (0, 0, 0, 0) and (
            getattr(value, "nanosecond", 0) == 0
        ):
            return value.strftime("%Y-%m-%d")
        return value.isoformat()
    return value.isoformat()


def _key_text(key: Any) -> str:
    return _date_text(key) if isinstance(key, dt.date) else str(key)


def to_jsonable(obj: Any) -> Any:
    """Return ``obj`` as JSON-ready data (dicts, lists, str, int, float, bool, None).

    See the module docstring for the conversion rules. Unknown objects raise ``TypeError`` naming
    the type, so a new result field cannot silently turn into ``repr`` text.
    """
    if obj is None or isinstance(obj, (bool, str)):
        return obj
    if isinstance(obj, Result):
        return obj.to_dict()
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: to_jsonable(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, enum.Enum):
        return to_jsonable(obj.value)
    if isinstance(obj, (np.bool_,)):
        return bool(obj)
    if isinstance(obj, (int, np.integer)):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        value = float(obj)
        return value if math.isfinite(value) else None
    if obj is pd.NaT or obj is pd.NA:
        return None
    if isinstance(obj, (dt.date, pd.Timestamp)):
        return _date_text(obj)
    if isinstance(obj, np.datetime64):
        if np.isnat(obj):
            return None
        return _date_text(pd.Timestamp(obj))
    if isinstance(obj, pd.Period):
        return _date_text(obj.start_time)
    if isinstance(obj, PurePath):
        return obj.as_posix()
    if isinstance(obj, pd.DataFrame):
        return [
            {str(col): to_jsonable(val) for col, val in zip(obj.columns, row, strict=True)}
            for row in obj.itertuples(index=False, name=None)
        ]
    if isinstance(obj, (pd.Series, pd.Index)):
        return [to_jsonable(v) for v in obj.tolist()]
    if isinstance(obj, np.ndarray):
        return [to_jsonable(v) for v in obj.tolist()]
    if isinstance(obj, Mapping):
        return {_key_text(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_jsonable(v) for v in obj]
    if isinstance(obj, (set, frozenset)):
        return [to_jsonable(v) for v in sorted(obj, key=str)]
    raise TypeError(f"to_jsonable: cannot convert {type(obj).__name__!r}; add a rule or convert it first")


# --------------------------------------------------------------------------------------------
# Base
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class Result:
    """Fields every result shares: which method, what it means, with which parameters."""

    method: str
    definition: str
    parameters: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict of all fields (see :func:`to_jsonable`)."""
        return {f.name: to_jsonable(getattr(self, f.name)) for f in dataclasses.fields(self)}


# --------------------------------------------------------------------------------------------
# Monthly series
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class MonthlySeries(Result):
    """Monthly report counts on a complete calendar grid.

    ``table`` has one row per calendar month (``month`` = first day, a ``pd.Timestamp``) with the
    columns ``Death, Injury, Malfunction, Other, total`` (reports), ``days`` (calendar days in the
    month), ``days_covered`` (days inside the window and up to ``as_of``), ``status``
    (``complete``, ``partial`` or ``reporting-lag guard``) and ``complete`` (``True`` when the whole
    month is covered and ends on or before ``lag_guard_cutoff``). Incomplete months are shown,
    never tested.
    """

    date_field: str
    window_start: dt.date
    window_end: dt.date
    as_of: dt.date
    lag_guard_months: int
    lag_guard_cutoff: dt.date
    guarded_months: list[dt.date]
    table: pd.DataFrame
    n_months: int
    n_complete_months: int
    incomplete_months: list[dt.date]
    n_reports: int
    n_reports_complete_months: int
    n_reports_outside_window: int
    notes: list[str] = field(default_factory=list)

    def complete(self) -> pd.DataFrame:
        """The rows of complete months only (the data every test and model uses)."""
        return self.table.loc[self.table["complete"]].reset_index(drop=True)

    def counts(self, event_type: str = "total", *, complete_only: bool = True) -> pd.Series:
        """Monthly counts of one column (``total`` or an event type), indexed by month."""
        if event_type not in (*EVENT_TYPES, "total"):
            raise ValueError(f"event_type must be one of {(*EVENT_TYPES, 'total')}, got {event_type!r}")
        table = self.complete() if complete_only else self.table
        return pd.Series(table[event_type].to_numpy(), index=pd.DatetimeIndex(table["month"]),
                         name=event_type)


# --------------------------------------------------------------------------------------------
# Trend
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class GlmTrendResult(Result):
    """Log-linear trend of monthly counts on time (Poisson, or negative binomial when overdispersed)."""

    event_type: str
    status: str  # "ok" | "insufficient data"
    reason: str
    model: str | None  # "poisson" | "negative binomial (NB2)" | "quasi-poisson"
    model_reason: str | None
    n_months: int
    n_reports: int
    first_month: dt.date | None
    last_month: dt.date | None
    rate_ratio_per_year: float | None
    ci_low: float | None
    ci_high: float | None
    ci_level: float
    p_value: float | None
    pearson_dispersion: float | None
    cameron_trivedi_t: float | None
    cameron_trivedi_p: float | None
    nb_alpha: float | None
    fitted: pd.DataFrame | None = None  # month, fitted (reports per month)


@dataclass(frozen=True, kw_only=True)
class ControlChartResult(Result):
    """Shewhart c-chart by phase: limits from a phase-I baseline, signals only in the phase-II window."""

    event_type: str
    status: str
    reason: str
    baseline_start: dt.date | None
    baseline_end: dt.date | None
    baseline_months: int
    reduced_baseline: bool
    monitoring_start: dt.date | None
    monitoring_end: dt.date | None
    center: float | None
    ucl: float | None
    lcl: float | None
    sigma_multiplier: float
    false_alarm_probability: float | None  # per average in-control month, centre known
    false_alarm_probability_window_known: float | None  # >= 1 false signal in the monitoring window
    false_alarm_probability_window_estimated: float | None  # the same with the centre estimated in phase I
    baseline_dispersion: float | None
    phase_one_iterations: int
    phase_one_stable: bool | None
    # month, count, days, phase, center, ucl, lcl, above_ucl, below_lcl, phase_one_excluded, signal
    points: pd.DataFrame | None
    phase_one_excluded: list[dt.date] = field(default_factory=list)  # baseline months set aside
    months_above_ucl: list[dt.date] = field(default_factory=list)  # the signals (monitoring window)
    months_below_lcl: list[dt.date] = field(default_factory=list)  # monitoring window
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True, kw_only=True)
class CusumResult(Result):
    """Upper one-sided Poisson CUSUM (Lucas 1985) over the monitoring window after a phase-I baseline."""

    event_type: str
    status: str
    reason: str
    baseline_start: dt.date | None
    baseline_end: dt.date | None
    reduced_baseline: bool
    monitoring_start: dt.date | None
    monitoring_end: dt.date | None
    in_control_mean: float | None
    shifted_mean: float | None
    shift_ratio: float
    k: float | None
    h: float | None
    target_arl0: float
    arl0: float | None
    arl1: float | None
    false_alarm_probability_window_known: float | None
    false_alarm_probability_window_estimated: float | None
    first_alarm: dt.date | None
    alarms: list[dt.date] = field(default_factory=list)
    path: pd.DataFrame | None = None  # month, count, k, cusum, alarm
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True, kw_only=True)
class TrendVerdict(Result):
    """Recent window vs baseline: machine-readable verdict for trend reporting (MDR Art. 88 spirit)."""

    event_type: str
    verdict: str  # "increase" | "no significant increase" | "insufficient data"
    reason: str
    baseline_label: str | None  # "full baseline" | "reduced baseline"
    reduced_baseline: bool
    test: str | None
    recent_start: dt.date | None
    recent_end: dt.date | None
    baseline_start: dt.date | None
    baseline_end: dt.date | None
    recent_reports: int | None
    baseline_reports: int | None
    recent_days: int | None
    baseline_days: int | None
    recent_rate_per_month: float | None
    baseline_rate_per_month: float | None
    rate_ratio: float | None
    ci_low: float | None
    ci_high: float | None
    ci_level: float
    one_sided_lower_bound: float | None
    p_value: float | None
    alpha: float
    dispersion: float | None
    dispersion_p_value: float | None
    dispersion_adjusted: bool


@dataclass(frozen=True, kw_only=True)
class TrendAnalysis(Result):
    """All trend results for one monthly series."""

    date_field: str
    glm: dict[str, GlmTrendResult]
    control_chart: ControlChartResult
    cusum: CusumResult
    verdicts: dict[str, TrendVerdict]
    primary_event_type: str  # the pre-specified primary test's series
    primary_rule: str
    secondary_p_holm: dict[str, float | None]  # Holm-adjusted p of the other event types' verdicts

    @property
    def primary(self) -> TrendVerdict:
        """The primary verdict: the only trend result the report counts as a finding."""
        return self.verdicts[self.primary_event_type]


@dataclass(frozen=True, kw_only=True)
class ShareTrend(Result):
    """A share of reports by period (serious share, share of the comparator family), recent vs baseline."""

    measure: str
    status: str  # "ok" | "insufficient data"
    verdict: str  # "increase" | "no significant increase" | "insufficient data"
    reason: str
    numerator_label: str
    denominator_label: str
    period_unit: str  # "month" | "year"
    # shown by period: period, start, end, numerator, denominator, share, ci_low, ci_high
    periods: pd.DataFrame | None
    baseline_label: str | None
    reduced_baseline: bool
    recent_start: dt.date | None
    recent_end: dt.date | None
    baseline_start: dt.date | None
    baseline_end: dt.date | None
    recent_numerator: int | None
    recent_denominator: int | None
    baseline_numerator: int | None
    baseline_denominator: int | None
    recent_share: float | None
    baseline_share: float | None
    share_ratio: float | None  # recent share / baseline share (a PRR over time for the family share)
    ci_low: float | None
    ci_high: float | None
    ci_level: float
    p_value: float | None
    alpha: float
    dispersion: float | None
    dispersion_p_value: float | None
    dispersion_adjusted: bool
    test: str | None
    robust_to_growth: str


# --------------------------------------------------------------------------------------------
# Change points
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class ChangePoint:
    """One change in the monthly level; ``date`` is the first day of the new segment's first month."""

    date: dt.date
    index: int
    months_before: int
    months_after: int
    reports_before: int
    reports_after: int
    rate_before: float
    rate_before_ci_low: float
    rate_before_ci_high: float
    rate_after: float
    rate_after_ci_low: float
    rate_after_ci_high: float
    rate_ratio: float | None
    rate_ratio_ci_low: float | None
    rate_ratio_ci_high: float | None


@dataclass(frozen=True, kw_only=True)
class ChangePointResult(Result):
    """Change points of one search method (PELT or binary segmentation)."""

    algorithm: str
    change_points: list[ChangePoint]
    # start, end (first day of the last month), months, exposure, reports, rate, ci_low, ci_high
    segments: pd.DataFrame


@dataclass(frozen=True, kw_only=True)
class ChangePointAnalysis(Result):
    """PELT (primary) and binary segmentation (check) with the same cost, penalty and local validation."""

    event_type: str
    status: str
    reason: str
    n_months: int
    cost: str
    penalty: float | None
    min_size: int
    candidates: list[dt.date]  # PELT's candidates before validation
    validation_statistics: list[float]  # local self-normalised statistic of each kept change
    validation_critical_values: list[float]  # the critical value each beat (simulated under the fitted noise)
    dispersion: float | None  # residual long-run dispersion about the final PELT segments
    intervals: str  # how to read the before/after intervals (descriptive)
    change_points: list[ChangePoint]  # = pelt.change_points
    pelt: ChangePointResult | None
    binseg: ChangePointResult | None
    agreement: list[dt.date]  # PELT dates that Binseg also finds within ±1 month
    detectable_shift: dict[str, Any]


# --------------------------------------------------------------------------------------------
# Forecast
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class ForecastResult(Result):
    """ETS forecast of monthly totals with prediction intervals and a rolling-origin back-test."""

    event_type: str
    status: str  # "ok" | "warning"
    warning: str | None
    model: str | None
    candidates: list[dict[str, Any]]
    n_months: int
    train_start: dt.date | None
    train_end: dt.date | None
    horizon: int
    forecast: pd.DataFrame | None  # month, mean, pi80_low, pi80_high, pi95_low, pi95_high
    backtest: dict[str, Any] | None


# --------------------------------------------------------------------------------------------
# Problems
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class ProblemProfile(Result):
    """Top problem terms (share of reports) and terms whose share changed (Fisher, BH-FDR)."""

    product_code: str
    n_reports: int
    top_terms: pd.DataFrame  # problem_type, rank, term, n_reports, share
    # problem_type, term, counts, shares, p_value, q_value, direction, significant
    share_changes: pd.DataFrame
    recent_years: list[str]
    earlier_years: list[str]
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True, kw_only=True)
class SummaryReportCounts(Result):
    """The device's reports per year that are Voluntary Malfunction Summary Reports (``definition``: how they
    are counted). ``status``: ok, "not recorded" (no report carries the flag) or "no reports"."""

    status: str
    by_year: pd.DataFrame  # year, n_reports, summary_reports, other_reports, flag_not_recorded
    n_reports: int
    n_summary_reports: int
    n_flag_not_recorded: int


# --------------------------------------------------------------------------------------------
# Figures
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class FigureRecord:
    """One saved figure: ids and paths for the report, caption text from the results."""

    id: str
    title: str
    caption: str
    png: str
    svg: str

    def to_dict(self) -> dict[str, Any]:
        return to_jsonable(self)
