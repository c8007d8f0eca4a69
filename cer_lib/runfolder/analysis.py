"""Typed model of ``results/analysis.json`` (stage 03, ``schema_version`` 1).

The analysis stage builds the file from its result objects (`cer_lib.analysis.stage`); the narrative,
the report and the book read it through this model. Numbers a method could not produce are None;
a section the analysis did not reach at all (``change_points`` of an older run) is None as well,
which the report tells apart from "none found" (an empty list).
"""
from __future__ import annotations

import datetime as dt
from typing import Any

from pydantic import Field

from .models import RunFileModel

__all__ = ["AnalysisFile"]


class Window(RunFileModel):
    start: dt.date | None = None
    end: dt.date | None = None


class InputFile(RunFileModel):
    path: str
    sha256: str | None = None


class Meta(RunFileModel):
    code: str | None = None
    kind: str | None = None
    device_name: str | None = None
    window: Window = Field(default_factory=Window)
    series_start: dt.date | None = None
    as_of: dt.date | None = None
    inputs: list[InputFile] = Field(default_factory=list)
    parameters: dict[str, Any] = Field(default_factory=dict)
    notes: list[str] = Field(default_factory=list)


class MonthRow(RunFileModel):
    month: dt.date
    event_type: str
    n_reports: int
    complete: bool


class MonthlyCounts(RunFileModel):
    date_field: str | None = None
    method: str | None = None
    rows: list[MonthRow] = Field(default_factory=list)
    totals: dict[str, int] = Field(default_factory=dict)  # all, Death, Injury, Malfunction, Other
    first_month: dt.date | None = None
    last_complete_month: dt.date | None = None
    n_complete_months: int | None = None
    incomplete_month: dt.date | None = None
    incomplete_months: list[dt.date] = Field(default_factory=list)
    lag_guard_months: int | None = None  # months before the source's last_updated left out of every test
    lag_guard_cutoff: dt.date | None = None
    guarded_months: list[dt.date] = Field(default_factory=list)
    notes: list[str] = Field(default_factory=list)


class MergedEvent(RunFileModel):
    event: str  # the key of the event's earliest report
    reports: list[str] = Field(default_factory=list)
    report_numbers: list[str | None] = Field(default_factory=list)
    date_received: dt.date | None = None
    grouped_by: str | None = None
    event_type: str | None = None


class EventMerge(RunFileModel):
    """What counting each event once did to one family of counts (`cer_lib.analysis.events_once`)."""

    applied: bool = False
    reason: str | None = None
    rule: str | None = None
    n_reports: int | None = None
    n_events: int | None = None
    n_groups: int = 0
    n_reports_merged: int = 0
    groups: list[MergedEvent] = Field(default_factory=list)


class MonthEvents(RunFileModel):
    month: dt.date
    n_events: int


class EventCounting(RunFileModel):
    """``unit``: what the models count (``events`` when reports of one event were merged, else ``reports``)."""

    unit: str = "reports"
    series: EventMerge = Field(default_factory=EventMerge)
    problems: EventMerge = Field(default_factory=EventMerge)
    monthly_events: list[MonthEvents] = Field(default_factory=list)


class Period(RunFileModel):
    start: dt.date | None = None
    end: dt.date | None = None
    months: int | None = None
    n_reports: int | None = None
    rate_per_month: float | None = None


class Verdict(RunFileModel):
    verdict: str | None = None
    reason: str | None = None
    method: str | None = None
    test: str | None = None
    alpha: float | None = None
    recent: Period = Field(default_factory=Period)
    baseline: Period = Field(default_factory=Period)
    rate_ratio: float | None = None
    ci_low: float | None = None
    ci_high: float | None = None
    p_value: float | None = None
    dispersion_adjusted: bool | None = None
    baseline_label: str | None = None  # "baseline" or "reduced baseline"
    reduced_baseline: bool | None = None


class PrimaryTrendTest(RunFileModel):
    """The one pre-specified trend test whose verdict the report counts as a finding."""

    event_type: str | None = None
    rule: str | None = None
    verdict: str | None = None
    p_value: float | None = None


class EventTypeTrend(RunFileModel):
    model: str | None = None
    status: str | None = None
    rate_ratio_per_year: float | None = None
    ci_low: float | None = None
    ci_high: float | None = None
    p_value: float | None = None
    verdict: Verdict = Field(default_factory=Verdict)
    role: str | None = None  # primary | secondary
    p_holm: float | None = None


class ChartSignal(RunFileModel):
    month: dt.date
    n_reports: int


class ChartBaseline(RunFileModel):
    """Phase I: the months whose rate sets the chart's centre and limits."""

    start: dt.date | None = None
    end: dt.date | None = None
    months: int | None = None
    reduced: bool | None = None


class ControlChart(RunFileModel):
    method: str | None = None
    status: str = "ok"
    reason: str | None = None
    centre: float | None = None
    ucl: float | None = None
    lcl: float | None = None
    baseline: ChartBaseline = Field(default_factory=ChartBaseline)
    monitoring: Window = Field(default_factory=Window)  # phase II: only these months can signal
    phase_one_excluded: list[dt.date] = Field(default_factory=list)
    phase_one_stable: bool | None = None
    false_alarm_probability_month: float | None = None
    false_alarm_probability_window_known: float | None = None
    false_alarm_probability_window_estimated: float | None = None
    signals: list[ChartSignal] = Field(default_factory=list)
    notes: list[str] = Field(default_factory=list)


class Cusum(RunFileModel):
    method: str | None = None
    status: str = "ok"
    reason: str | None = None
    k: float | None = None
    h: float | None = None
    in_control_mean: float | None = None
    arl0: float | None = None
    baseline: ChartBaseline = Field(default_factory=ChartBaseline)
    monitoring: Window = Field(default_factory=Window)
    false_alarm_probability_window_known: float | None = None
    false_alarm_probability_window_estimated: float | None = None
    first_alarm: dt.date | None = None
    alarms: list[Any] = Field(default_factory=list)
    notes: list[str] = Field(default_factory=list)


class ShareWindow(RunFileModel):
    start: dt.date | None = None
    end: dt.date | None = None
    numerator: int | None = None
    denominator: int | None = None
    share: float | None = None


class ShareTrend(RunFileModel):
    """A share that needs no denominator of devices in use (serious share, share of the comparator family)."""

    measure: str | None = None
    status: str | None = None
    verdict: str | None = None
    reason: str | None = None
    method: str | None = None
    test: str | None = None
    unit: str | None = None
    baseline_label: str | None = None
    recent: ShareWindow = Field(default_factory=ShareWindow)
    baseline: ShareWindow = Field(default_factory=ShareWindow)
    share_ratio: float | None = None
    ci_low: float | None = None
    ci_high: float | None = None
    p_value: float | None = None
    alpha: float | None = None
    dispersion_adjusted: bool | None = None
    robust_to_growth: str | None = None
    by_period: list[dict[str, Any]] = Field(default_factory=list)


class Robustness(RunFileModel):
    measure: str | None = None
    robust_to_growth_in_use: str | None = None  # yes | partly | no
    why: str | None = None


class Trend(RunFileModel):
    primary: PrimaryTrendTest = Field(default_factory=PrimaryTrendTest)
    status: str | None = None
    reason: str | None = None
    model: str | None = None
    model_reason: str | None = None
    method: str | None = None
    dispersion: float | None = None
    overdispersed: bool | None = None
    rate_ratio_per_year: float | None = None
    ci_low: float | None = None
    ci_high: float | None = None
    p_value: float | None = None
    verdict: Verdict = Field(default_factory=Verdict)
    by_event_type: dict[str, EventTypeTrend] = Field(default_factory=dict)
    control_chart: ControlChart | None = None
    cusum: Cusum = Field(default_factory=Cusum)
    shares: dict[str, ShareTrend] = Field(default_factory=dict)  # serious, family
    robustness: list[Robustness] = Field(default_factory=list)


class ChangePoint(RunFileModel):
    date: dt.date | None = None
    method: str | None = None
    rate_before: float | None = None
    before_ci: list[float | None] = Field(default_factory=lambda: [None, None])
    rate_after: float | None = None
    after_ci: list[float | None] = Field(default_factory=lambda: [None, None])
    rate_ratio: float | None = None
    rate_ratio_ci: list[float | None] = Field(default_factory=lambda: [None, None])
    reports_before: int | None = None
    reports_after: int | None = None


class ChangePointValidation(RunFileModel):
    """The local test each PELT candidate must pass to be reported."""

    test: str | None = None
    level: float | None = None
    critical_value: float | None = None  # the tabulated (asymptotic) value: the least a simulated one can be
    candidates: list[Any] = Field(default_factory=list)
    statistics: list[Any] = Field(default_factory=list)
    critical_values: list[Any] = Field(default_factory=list)  # simulated under the fitted noise, per kept change


class ChangePointMethod(RunFileModel):
    text: str | None = None
    status: str | None = None
    reason: str | None = None
    cost: str | None = None
    penalty: float | None = None
    penalty_factor: float | None = None
    min_segment_months: int | None = None
    validation: ChangePointValidation = Field(default_factory=ChangePointValidation)
    dispersion: float | None = None
    intervals: str | None = None  # how the before/after intervals are to be read
    detectable_shift: Any = None
    binseg_agrees_on: Any = None


class ForecastRow(RunFileModel):
    month: dt.date
    mean: float | None = None
    pi80_low: float | None = None
    pi80_high: float | None = None
    pi95_low: float | None = None
    pi95_high: float | None = None


class Forecast(RunFileModel):
    status: str | None = None
    warning: str | None = None
    model: str | None = None
    method: str | None = None
    horizon_months: int | None = None
    rows: list[ForecastRow] = Field(default_factory=list)
    mase: float | None = None
    naive_mase: float | None = None
    mase_scale: str | None = None
    mase_by_horizon: list[dict[str, Any]] = Field(default_factory=list)
    transform: str | None = None
    point_forecast: str | None = None
    backtest: dict[str, Any] = Field(default_factory=dict)


class TermShare(RunFileModel):
    term: str | None = None
    n_reports: int | None = None
    share: float | None = None


class ShareChange(RunFileModel):
    problem_type: str | None = None
    term: str | None = None
    n_recent: int | None = None  # reports coding the term in the recent years
    reports_recent: int | None = None  # reports in the recent years
    n_earlier: int | None = None
    reports_earlier: int | None = None
    share_recent: float | None = None
    share_earlier: float | None = None
    share_difference: float | None = None
    odds_ratio: float | None = None
    p_value: float | None = None
    q_value: float | None = None
    direction: str | None = None
    significant: bool = False


class Problems(RunFileModel):
    method: str | None = None
    n_reports: int | None = None
    top: dict[str, list[TermShare]] = Field(default_factory=dict)  # by problem type: device, patient
    changes: list[ShareChange] = Field(default_factory=list)
    recent_years: list[Any] = Field(default_factory=list)
    earlier_years: list[Any] = Field(default_factory=list)
    notes: list[str] = Field(default_factory=list)
    truncated: bool = False


class SignalRow(RunFileModel):
    """One (product, term) pair: the 2x2 counts and every measure (column names as in the method papers)."""

    problem_type: str | None = None
    product: str | None = None
    term: str | None = None
    a: int | None = None
    b: int | None = None
    c: int | None = None
    d: int | None = None
    E: float | None = None
    PRR: float | None = None
    PRR_lo: float | None = None
    PRR_hi: float | None = None
    chi2_yates: float | None = None
    ROR: float | None = None
    ROR_lo: float | None = None
    ROR_hi: float | None = None
    IC: float | None = None
    IC025: float | None = None
    EBGM: float | None = None
    EB05: float | None = None
    EB95: float | None = None
    N: int | None = None
    haldane: bool | None = None  # the +0.5 zero-cell correction was applied
    evans_signal: bool = False
    eb05_signal: bool = False
    ic025_signal: bool = False
    signal: bool = False  # the primary screen (``signals.primary_screen.rule``)


class PrimaryScreen(RunFileModel):
    """The rule behind each row's ``signal`` column; the other rules are shown as secondary."""

    rule: str | None = None
    column: str = "signal"
    applicable: bool = False
    n_signals: int | None = None
    n_signals_by_problem_type: dict[str, int | None] = Field(default_factory=dict)
    secondary: list[str] = Field(default_factory=list)
    text: str | None = None


class Signals(RunFileModel):
    status: str | None = None
    reason: str | None = None
    method: str | None = None
    methods: dict[str, str] = Field(default_factory=dict)
    ic_definition: str | None = None
    data_description: Any = None
    device: str | None = None
    comparators: list[str] = Field(default_factory=list)
    primary_screen: PrimaryScreen = Field(default_factory=lambda: PrimaryScreen())
    expected_counts: dict[str, Any] = Field(default_factory=dict)  # by problem type: how E was computed
    row_totals: dict[str, Any] = Field(default_factory=dict)  # by problem type: what the margins count
    prior: dict[str, Any] = Field(default_factory=dict)  # by problem type: the fit (starts, limit, spread)
    prior_used: dict[str, Any] = Field(default_factory=dict)  # by problem type: fitted or the fallback prior
    n_pairs: dict[str, int] = Field(default_factory=dict)
    rows: list[SignalRow] = Field(default_factory=list)

    def rows_of(self, product: str | None) -> list[tuple[int, SignalRow]]:
        """``(index in rows, row)`` of one product's rows (the index is the row's JSON pointer)."""
        return [(i, r) for i, r in enumerate(self.rows) if r.product == product]


class SummaryReportYear(RunFileModel):
    year: str
    n_reports: int
    summary_reports: int
    other_reports: int
    flag_not_recorded: int


class SummaryReports(RunFileModel):
    """Voluntary Malfunction Summary Reports among the device's reports (`cer_lib.analysis.summary_reports`)."""

    method: str | None = None
    definition: str | None = None  # how they are counted
    parameters: dict[str, Any] = Field(default_factory=dict)
    status: str | None = None  # ok | not recorded | no reports; None: an older run without them
    by_year: list[SummaryReportYear] = Field(default_factory=list)
    n_reports: int | None = None
    n_summary_reports: int | None = None
    n_flag_not_recorded: int | None = None


class Figure(RunFileModel):
    id: str
    title: str | None = None
    caption: str | None = None
    png: str | None = None
    svg: str | None = None


class Headline(RunFileModel):
    """The figures summaries (book index, report summary) quote."""

    n_signals: int | None = None  # pairs flagged by the primary screen; None when it could not be applied


class AnalysisFile(RunFileModel):
    """``results/analysis.json``."""

    schema_version: int = 1
    meta: Meta = Field(default_factory=Meta)
    monthly_counts: MonthlyCounts = Field(default_factory=MonthlyCounts)
    monthly_counts_date_of_event: MonthlyCounts | None = None
    event_counting: EventCounting = Field(default_factory=EventCounting)
    trend: Trend = Field(default_factory=Trend)
    change_points: list[ChangePoint] | None = None  # None: not analysed; []: none found
    change_point_method: ChangePointMethod = Field(default_factory=ChangePointMethod)
    forecast: Forecast = Field(default_factory=Forecast)
    problems: Problems = Field(default_factory=Problems)
    summary_reports: SummaryReports = Field(default_factory=SummaryReports)
    signals: Signals = Field(default_factory=Signals)
    headline: Headline = Field(default_factory=lambda: Headline())
    figures: list[Figure] = Field(default_factory=list)
    details: dict[str, Any] = Field(default_factory=dict)
