"""The analyze stage: tidy tables in, ``results/analysis.json`` and ``figures/`` out.

It reads as the analysis does: monthly series -> trend (the primary trend-reporting verdict,
secondary verdicts per event type, GLM, control chart, CUSUM) -> shares of reports that need no
denominator (serious share, share of the comparator family) -> change points -> forecast ->
problem profiles -> disproportionality against the comparator product codes -> figures. Every step is a function of its own module; this module only
feeds them the run's tables and parameters and writes the results in the shape the narrative and
the report read (``schema_version`` 1, documented in `AnalysisResults.to_dict`).
"""
from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import html
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from ..context import RunContext
from ..dates import parse_date
from ..runfolder import CollectStatus, layout
from .changepoints import change_points
from .disproportionality import SignalResult, SignalSettings, score_device_problems
from .events_once import EventMerge, count_events_once, count_problem_events_once
from .figures import make_figures
from .forecast import forecast_counts
from .problems import problem_profile
from .results import (
    ChangePointAnalysis,
    FigureRecord,
    ForecastResult,
    MonthlySeries,
    ProblemProfile,
    ShareTrend,
    SummaryReportCounts,
    TrendAnalysis,
    to_jsonable,
)
from .series import monthly_counts
from .shares import ROBUSTNESS, family_share, serious_share
from .summary_reports import summary_report_counts
from .trend import trend_analysis

SCHEMA_VERSION = 1
EVENT_TYPES = ("Death", "Injury", "Malfunction", "Other")
INPUT_TABLES = ("event_counts", "problem_counts", "report_totals", "summary_reports", "events", "event_problems")


@dataclass
class AnalysisResults:
    """Everything the analyze stage computed, and where it was written."""

    code: str
    window: tuple[dt.date, dt.date]
    as_of: dt.date
    series: MonthlySeries  # the series the models use: events (each counted once) when merging applied
    series_reports: MonthlySeries  # the same months counting reports, as received
    series_date_of_event: MonthlySeries | None
    event_merge: dict[str, EventMerge]  # series, problems: what counting each event once merged
    trend: TrendAnalysis
    shares: dict[str, ShareTrend]  # serious, family
    changes: ChangePointAnalysis
    forecast: ForecastResult
    problems: ProblemProfile
    summary_reports: SummaryReportCounts
    problem_counts_truncated: bool  # a term count returned openFDA's maximum number of terms
    signals: dict[str, SignalResult]  # by problem type (device, patient)
    signals_unavailable: str | None
    comparators: list[str]
    figures: list[FigureRecord]
    inputs: list[dict[str, str]]
    parameters: dict[str, Any]
    notes: list[str] = field(default_factory=list)
    run_dir: Path | None = None

    def to_dict(self, device_name: str | None = None, kind: str | None = None) -> dict[str, Any]:
        return {
            "schema_version": SCHEMA_VERSION,
            "meta": {
                "code": self.code,
                "kind": kind,
                "device_name": device_name,
                "window": {"start": self.window[0], "end": self.window[1]},
                "series_start": self.series.window_start,
                "as_of": self.as_of,
                "inputs": self.inputs,
                "parameters": self.parameters,
                "notes": self.notes,
            },
            "monthly_counts": _monthly_counts_view(self.series_reports),
            "event_counting": _event_counting_view(self.event_merge, self.series),
            "monthly_counts_date_of_event": _monthly_counts_view(self.series_date_of_event) if self.series_date_of_event else None,
            "trend": _trend_view(self.trend) | {"shares": {k: _share_view(v) for k, v in self.shares.items()},
                                                "robustness": list(ROBUSTNESS.values())},
            "change_points": _change_points_view(self.changes),
            "change_point_method": {
                "text": self.changes.definition,
                "status": self.changes.status,
                "reason": self.changes.reason,
                "cost": self.changes.cost,
                "penalty": self.changes.penalty,
                "penalty_factor": self.changes.parameters.get("penalty_factor"),
                "min_segment_months": self.changes.min_size,
                "validation": {"test": self.changes.parameters.get("validation"),
                               "level": self.changes.parameters.get("validation_level"),
                               "critical_value": self.changes.parameters.get("validation_critical_value"),
                               "candidates": self.changes.candidates,
                               "statistics": self.changes.validation_statistics,
                               "critical_values": self.changes.validation_critical_values},
                "dispersion": self.changes.dispersion,
                "intervals": self.changes.intervals,
                "detectable_shift": self.changes.detectable_shift,
                "binseg_agrees_on": self.changes.agreement,
            },
            "forecast": _forecast_view(self.forecast),
            "problems": _problems_view(self.problems) | {"truncated": self.problem_counts_truncated},
            "summary_reports": self.summary_reports.to_dict(),
            "signals": _signals_view(self.signals, self.signals_unavailable, self.code, self.comparators),
            # the headline signal count follows the primary screen (book and report summaries read it)
            "headline": {"n_signals": _count_signals(self.signals, self.code) if self.signals else None},
            "figures": [f.to_dict() for f in self.figures],
            "details": {  # the typed results in full, for auditors
                "series": self.series.to_dict(),
                "trend": self.trend.to_dict(),
                "shares": {k: v.to_dict() for k, v in self.shares.items()},
                "change_points": self.changes.to_dict(),
                "forecast": self.forecast.to_dict(),
                "problems": self.problems.to_dict(),
            },
        }

    def _summary(self) -> list[tuple[str, str]]:
        verdict = self.trend.primary
        return [
            ("reports in window", f"{self.series_reports.n_reports:,}"),
            ("events the models count (reports of one event once)", f"{self.series.n_reports:,}"
             if self.event_merge["series"].applied else f"not merged: {self.event_merge['series'].reason}"),
            ("complete months", str(self.series.n_complete_months)),
            ("trend model", str(self.trend.glm["total"].model or self.trend.glm["total"].status)),
            ("trend-reporting verdict", verdict.verdict),
            ("change points (PELT)", ", ".join(str(c.date) for c in self.changes.change_points) or "none"),
            ("forecast", self.forecast.status + (f": {self.forecast.warning}" if self.forecast.warning else "")),
            (f"signals ({_primary_rule(self.signals)}, the primary screen)", _signals_headline(self.signals, self.code,
                                                                                                 self.signals_unavailable)),
        ]

    def __repr__(self) -> str:
        """What the notebook shows as plain text: the summary, never the dataclass's repr of every table."""
        return f"Analysis of {self.code}: " + "; ".join(f"{k}: {v}" for k, v in self._summary())

    def _repr_html_(self) -> str:
        table = "".join(f"<tr><th>{html.escape(k)}</th><td>{html.escape(v)}</td></tr>" for k, v in self._summary())
        images = ""
        if self.run_dir is not None:
            for figure in self.figures:
                data = base64.b64encode((self.run_dir / figure.png).read_bytes()).decode()
                images += (f'<figure data-cer-figure="{html.escape(figure.id)}"><img alt="{html.escape(figure.title)}" '
                           f'src="data:image/png;base64,{data}" '
                           f'style="max-width:100%"><figcaption>{html.escape(figure.caption)}</figcaption></figure>')
        return f"<table>{table}</table>{images}"


def analyze(ctx: RunContext) -> AnalysisResults:
    """Run the analysis on the run's tables and write ``results/analysis.json`` and ``figures/``."""
    params = ctx.params
    methods = params.methods
    folder = ctx.folder
    tables = folder.tables(INPUT_TABLES)
    resolution = folder.resolution(ctx.profile.resolution_model)
    status = folder.collect_status()
    window = (params.window.start, params.window.end)
    as_of = _as_of(status, window[1])
    device = resolution.product_code or params.code

    reported = tables["event_counts"]
    modelled, notes = _series_window(_received(reported), window, methods.series_start)
    guard = methods.lag_guard_months
    series_reports = monthly_counts(_received(reported), date_field="date_received", window_start=modelled[0],
                                    window_end=modelled[1], as_of=as_of, lag_guard_months=guard)
    counts, series_merge = count_events_once(reported, tables["events"], pd.Timestamp(modelled[0]),
                                             pd.Timestamp(min(modelled[1], as_of)))
    series = monthly_counts(_received(counts), date_field="date_received", window_start=modelled[0], window_end=modelled[1],
                            as_of=as_of, lag_guard_months=guard)
    if series_merge.applied:
        series = dataclasses.replace(series, definition=series.definition + " " + _events_once_text(
            series_merge, "on the day its earliest report was received, under the most serious event type of its reports"))
    series_event = _date_of_event_series(counts, modelled, as_of, guard)

    windows = dict(recent_months=methods.trend.recent_months, baseline_months=methods.trend.baseline_months,
                   min_baseline_months=methods.trend.min_baseline_months)
    trend = trend_analysis(
        series,
        primary_event_type=methods.trend.primary_event_type,
        alpha=methods.trend.alpha,
        dispersion_threshold=methods.trend.overdispersion_threshold,
        **windows,
    )
    problem_counts, totals, problems_merge = count_problem_events_once(
        tables["problem_counts"], tables["report_totals"], tables["events"], tables["event_problems"], device)
    all_totals = _row_totals(totals, None)  # product, period, n_reports (events once for the device) of all reports
    shares = {"serious": serious_share(series, alpha=methods.trend.alpha, **windows),
              "family": _family_share(all_totals, device, series, methods.trend.alpha)}
    changes = change_points(series, penalty_factor=methods.changepoint.penalty_multiplier, min_size=methods.changepoint.min_segment_months,
                            validation_level=methods.changepoint.validation_level)
    forecast = forecast_counts(
        series,
        horizon=methods.forecast.horizon_months,
        min_months=methods.forecast.min_months,
        n_origins=methods.forecast.backtest_origins,
    )
    counted_per_year = _device_per_year(totals)  # events once, when reports of one event were merged
    truncated_terms = bool(problem_counts["truncated"].fillna(False).any())
    problems = problem_profile(
        problem_counts,
        product_code=device,
        reports_per_period=counted_per_year,
        as_of=series.lag_guard_cutoff,
        top_n=methods.problems.top_n,
        recent_years=methods.problems.recent_years,
        q=methods.problems.fdr_q,
    )
    if problems_merge.n_reports_merged:
        problems = dataclasses.replace(problems, notes=[*problems.notes, _events_once_text(
            problems_merge, "in the year of its earliest report, with every term any of its reports carries")])
    comparators = resolution.comparator_codes
    summary_reports = summary_report_counts(tables["summary_reports"], _device_per_year(tables["report_totals"]), device)
    signals, unavailable = _signals(problem_counts, totals, device, comparators, methods.signals)
    figures = make_figures(series, folder.figures_dir, trend=trend, shares=shares, changes=changes, forecast=forecast,
                           problems=problems, reports=series_reports, unit="events" if series_merge.applied else "reports",
                           problems_unit="events" if problems_merge.applied else "reports")
    figures = [FigureRecord(id=f.id, title=f.title, caption=f.caption, png=folder.relative(f.png), svg=folder.relative(f.svg))
               for f in figures]

    notes += series.notes
    if truncated_terms:
        notes.append("At least one problem-term count returned the maximum number of terms and may be truncated.")
    results = AnalysisResults(
        code=params.code, window=window, as_of=as_of, series=series, series_reports=series_reports,
        series_date_of_event=series_event, event_merge={"series": series_merge, "problems": problems_merge},
        trend=trend, shares=shares, changes=changes, forecast=forecast, problems=problems, summary_reports=summary_reports,
        problem_counts_truncated=truncated_terms, signals=signals,
        signals_unavailable=unavailable, comparators=comparators, figures=figures,
        inputs=[{"path": layout.table(name), "sha256": folder.sha256(layout.table(name))} for name in INPUT_TABLES],
        parameters=params.methods.model_dump(mode="json") | {"window": {"start": window[0], "end": window[1]}},
        notes=notes, run_dir=ctx.run_dir,
    )
    folder.write_analysis(to_jsonable(results.to_dict(resolution.subject_name, params.kind.value)))
    return results


# ----------------------------------------------------------------------------------------------
# inputs


def _as_of(status: CollectStatus, window_end: dt.date) -> dt.date:
    """The data's ``last_updated`` (device events), never later than the window end."""
    events = status.source("device_event")
    return min(parse_date(events.last_updated if events else None) or window_end, window_end)


def _received(counts: pd.DataFrame) -> pd.DataFrame:
    """The daily counts by date received, per event type (the rows the monthly series read)."""
    return counts[(counts["date_field"] == "date_received") & counts["event_type"].isin(EVENT_TYPES)]


def _events_once_text(merge: EventMerge, how: str) -> str:
    """The sentence a method gains when reports of one event were merged (``how``: where the event counts)."""
    return (f"Each event is counted once: {merge.n_reports:,} reports describe {merge.n_events:,} events "
            f"({merge.n_reports_merged:,} reports merged into {merge.n_groups:,} events reported more than once; "
            f"an event counts {how}).")


def _series_window(received: pd.DataFrame, window: tuple[dt.date, dt.date], series_start: str) -> tuple[tuple[dt.date, dt.date], list[str]]:
    """The months the models see: from the first month with a report (``first_report``) or the window start."""
    if series_start == "window" or received.empty:
        return window, []
    first = pd.Timestamp(received.loc[received["n_reports"] > 0, "date"].min()).date().replace(day=1)
    if first <= window[0]:
        return window, []
    note = (f"Series start at {first:%Y-%m}, the month of the first report in the data window: the "
            f"{(first.year - window[0].year) * 12 + first.month - window[0].month} months from {window[0]:%Y-%m} "
            "without any report carry no information on a reporting rate (methods.series_start = first_report).")
    return (first, window[1]), [note]


def _date_of_event_series(counts: pd.DataFrame, window: tuple[dt.date, dt.date], as_of: dt.date,
                          lag_guard_months: int) -> MonthlySeries | None:
    """Monthly totals by date of event (collected for all event types together).

    The count rows carry ``event_type = all``; they are passed to `monthly_counts` under one event
    type so that only its ``total`` column is meaningful, and only that column is reported.
    """
    rows = counts[(counts["date_field"] == "date_of_event") & (counts["event_type"] == "all")]
    if rows.empty:
        return None
    rows = rows.assign(event_type="Other")
    return monthly_counts(rows, date_field="date_of_event", window_start=window[0], window_end=window[1], as_of=as_of,
                          lag_guard_months=lag_guard_months)


FAMILY_SHARE_NOT_COLLECTED = (
    "not available: report_totals has no per-year report totals of comparator product codes (the device has no "
    "comparators with reports, or the run was collected before they were gathered per year), so the device's "
    "share of its family cannot be followed over time"
)


def _family_share(totals: pd.DataFrame, device: str, series: MonthlySeries, alpha: float) -> ShareTrend:
    """The device's share of its comparator family's reports by complete calendar year (a PRR over time).

    Uses the totals of all reports (`_row_totals`) per year: the device's (``scope = device``) and the
    comparators' (``scope = comparator``). A year counts when it lies inside the series window and ends on or
    before the reporting-lag cut-off. Without per-year comparator rows the result says what is missing.
    """
    yearly = totals[totals["period"] != "all"]
    others = yearly[yearly["scope"] == "comparator"]
    if others.empty:
        missing = family_share({}, {}, complete_periods=[], alpha=alpha)
        return dataclasses.replace(missing, status="not available", reason=FAMILY_SHARE_NOT_COLLECTED)
    own = yearly[(yearly["scope"] == "device") & (yearly["product"] == device)]
    device_by_year = own.groupby("period")["n_reports"].sum().astype(int).to_dict()
    family_by_year = pd.concat([own, others]).groupby("period")["n_reports"].sum().astype(int).to_dict()
    start, cutoff = series.window_start, series.lag_guard_cutoff
    first = start.year if (start.month, start.day) == (1, 1) else start.year + 1
    last = cutoff.year if (cutoff.month, cutoff.day) == (12, 31) else cutoff.year - 1
    return family_share(device_by_year, family_by_year, complete_periods=[str(y) for y in range(first, last + 1)],
                        alpha=alpha)


def _signals(
    problem_counts: pd.DataFrame, totals: pd.DataFrame, device: str, comparators: list[str], settings: Any
) -> tuple[dict[str, SignalResult], str | None]:
    """Disproportionality of the device's problem terms against the comparator product codes.

    Per problem type (device, patient): the family's term counts and row totals, the row totals
    counting the reports that carry a problem code of that type when ``report_totals`` has them
    (a ``problem_type`` column), else all reports; expected counts stratified by year when
    every product of the family has per-year term counts and per-year totals (and
    ``stratify_by_year``), else unstratified. The methods text of each result says which.
    """
    if not comparators:
        return {}, "no comparator product codes (none share the device's regulation number, or the code has no classification)"
    all_reports = _row_totals(totals, None)
    family_totals = all_reports[all_reports["period"] == "all"][["product", "n_reports"]]
    family_totals = family_totals[family_totals["n_reports"] > 0].drop_duplicates("product")
    if device not in set(family_totals["product"]):
        return {}, "the device has no reports in the window"
    if len(family_totals) < 2:
        return {}, f"none of the {len(comparators)} comparator product codes has reports in the window"
    signal_settings = SignalSettings(
        n_star=settings.n_star, prr_threshold=settings.prr_threshold, chi2_threshold=settings.chi2_threshold,
        min_cases=settings.min_a, eb05_threshold=settings.eb05_threshold, ic025_threshold=settings.ic025_threshold,
        primary_screen=settings.primary_screen, min_pairs_for_prior=settings.min_pairs_for_prior,
        prior_fallback=settings.prior_fallback, truncation=settings.truncation,
    )
    family = set(family_totals["product"])
    results = {}
    for problem_type in ("device", "patient"):
        rows = problem_counts[problem_counts["problem_type"] == problem_type].rename(columns={"product_code": "product"})
        rows = rows[rows["product"].isin(family)]
        if rows.empty or device not in set(rows["product"]):
            continue
        coded = _row_totals(totals, problem_type)
        row_totals = coded if not coded.empty else all_reports
        row_words = (f"reports of the product code carrying a {problem_type} problem code" if not coded.empty
                     else "all reports of the product code (no totals of reports with a coded problem were collected)")
        yearly_counts = rows[rows["period"] != "all"]
        yearly_totals = row_totals[(row_totals["period"] != "all") & row_totals["product"].isin(family)]
        stratify = settings.stratify_by_year and _every_product_has_years(rows, yearly_totals, family)
        if stratify:
            term_counts = yearly_counts.rename(columns={"period": "stratum"})[["product", "term", "stratum", "n_reports"]]
            product_totals = yearly_totals.rename(columns={"period": "stratum"})[["product", "stratum", "n_reports"]]
        else:
            # the device's terms per year (each report falls in one year, so the sum is exact);
            # products without per-year counts (runs collected before they were) for the whole window
            per_year = set(yearly_counts["product"])
            chosen = rows[((rows["period"] != "all") & rows["product"].isin(per_year))
                          | ((rows["period"] == "all") & ~rows["product"].isin(per_year))]
            term_counts = chosen.groupby(["product", "term"], as_index=False)["n_reports"].sum()
            whole = row_totals[row_totals["period"] == "all"][["product", "n_reports"]].drop_duplicates("product")
            product_totals = whole[whole["product"].isin(family)]
            if device not in set(product_totals["product"]):
                continue
        results[problem_type] = score_device_problems(
            term_counts, product_totals, device, signal_settings, stratified=stratify, row_totals=row_words)
    return results, None if results else "no problem terms were coded for the device's reports"


def _device_per_year(totals: pd.DataFrame) -> dict[str, int]:
    """The device's reports (all reports, not only coded ones) per calendar year."""
    rows = _row_totals(totals, None)
    rows = rows[(rows["scope"] == "device") & (rows["period"] != "all")]
    return dict(zip(rows["period"], rows["n_reports"].astype(int)))


def _row_totals(totals: pd.DataFrame, problem_type: str | None) -> pd.DataFrame:
    """``scope, product, period, n_reports`` of all reports (None) or of those coding a problem of the type."""
    frame = totals.rename(columns={"product_code": "product"})
    if "problem_type" in frame.columns:
        kind = frame["problem_type"].fillna("all").replace("", "all")
        frame = frame[kind == (problem_type or "all")]
    elif problem_type is not None:
        return frame.iloc[0:0][["scope", "product", "period", "n_reports"]]
    return frame[["scope", "product", "period", "n_reports"]]


def _every_product_has_years(rows: pd.DataFrame, totals: pd.DataFrame, family: set[str]) -> bool:
    """Per-year data for the whole family: no product's term counts come only for the whole window,
    every product has per-year totals, and every (product, year) with term counts has a total."""
    yearly = rows[rows["period"] != "all"]
    if yearly.empty or set(rows["product"]) - set(yearly["product"]):
        return False
    years = totals[totals["period"] != "all"]
    if family - set(years["product"]):
        return False
    needed = set(yearly[["product", "period"]].itertuples(index=False, name=None))
    return needed <= set(years[["product", "period"]].itertuples(index=False, name=None))


# ----------------------------------------------------------------------------------------------
# views: the stable shape of analysis.json


def _monthly_counts_view(series: MonthlySeries) -> dict[str, Any]:
    table = series.table
    rows = [
        {"month": month, "event_type": event_type, "n_reports": int(count), "complete": bool(complete)}
        for month, complete, *values in table[["month", "complete", *EVENT_TYPES, "total"]].itertuples(index=False)
        for event_type, count in zip((*EVENT_TYPES, "total"), values)
    ]
    complete = table[table["complete"]]
    totals = {"all": int(table["total"].sum()), **{t: int(table[t].sum()) for t in EVENT_TYPES}}
    return {
        "date_field": series.date_field,
        "method": series.definition,
        "rows": rows,
        "totals": totals,
        "first_month": table["month"].min() if len(table) else None,
        "last_complete_month": complete["month"].max() if len(complete) else None,
        "n_complete_months": series.n_complete_months,
        "incomplete_month": series.incomplete_months[-1] if series.incomplete_months else None,
        "incomplete_months": series.incomplete_months,
        "lag_guard_months": series.lag_guard_months,
        "lag_guard_cutoff": series.lag_guard_cutoff,
        "guarded_months": series.guarded_months,
        "notes": series.notes,
    }


def _event_counting_view(merge: dict[str, EventMerge], series: MonthlySeries) -> dict[str, Any]:
    """How the models count: ``unit`` events (each counted once) or reports, per family of counts, and the
    monthly totals of events when they differ from the reports of ``monthly_counts``."""
    counted = merge["series"]
    return {
        "unit": "events" if counted.applied else "reports",
        "series": counted.to_dict(),
        "problems": merge["problems"].to_dict(),
        "monthly_events": ([{"month": m, "n_events": int(n)} for m, n in zip(series.table["month"], series.table["total"])]
                           if counted.applied else []),
    }


def _trend_view(trend: TrendAnalysis) -> dict[str, Any]:
    glm = trend.glm["total"]
    verdict = trend.primary
    chart, cusum = trend.control_chart, trend.cusum
    return {
        "primary": {"event_type": trend.primary_event_type, "rule": trend.primary_rule,
                    "verdict": verdict.verdict, "p_value": verdict.p_value},
        "status": glm.status,
        "reason": glm.reason,
        "model": glm.model,
        "model_reason": glm.model_reason,
        "method": glm.definition,
        "dispersion": glm.pearson_dispersion,
        "overdispersed": glm.model not in (None, "poisson"),
        "rate_ratio_per_year": glm.rate_ratio_per_year,
        "ci_low": glm.ci_low,
        "ci_high": glm.ci_high,
        "p_value": glm.p_value,
        "verdict": _verdict_view(verdict),
        "by_event_type": {
            t: {"model": g.model, "status": g.status, "rate_ratio_per_year": g.rate_ratio_per_year, "ci_low": g.ci_low,
                "ci_high": g.ci_high, "p_value": g.p_value, "verdict": _verdict_view(trend.verdicts[t]),
                "role": "primary" if t == trend.primary_event_type else "secondary",
                "p_holm": trend.secondary_p_holm.get(t)}
            for t, g in trend.glm.items() if t != "total"
        },
        "control_chart": {
            "method": chart.definition,
            "status": chart.status,
            "reason": chart.reason,
            "centre": chart.center,
            "ucl": chart.ucl,
            "lcl": chart.lcl,
            "baseline": {"start": chart.baseline_start, "end": chart.baseline_end, "months": chart.baseline_months,
                         "reduced": chart.reduced_baseline},
            "monitoring": {"start": chart.monitoring_start, "end": chart.monitoring_end},
            "phase_one_excluded": chart.phase_one_excluded,
            "phase_one_stable": chart.phase_one_stable,
            "false_alarm_probability_month": chart.false_alarm_probability,
            "false_alarm_probability_window_known": chart.false_alarm_probability_window_known,
            "false_alarm_probability_window_estimated": chart.false_alarm_probability_window_estimated,
            "signals": [
                {"month": row.month, "n_reports": int(row.count)}
                for row in (chart.points.itertuples() if chart.points is not None else [])
                if row.signal
            ],
            "notes": chart.notes,
        },
        "cusum": {
            "method": cusum.definition,
            "status": cusum.status,
            "reason": cusum.reason,
            "k": cusum.k,
            "h": cusum.h,
            "in_control_mean": cusum.in_control_mean,
            "arl0": cusum.arl0,
            "baseline": {"start": cusum.baseline_start, "end": cusum.baseline_end, "reduced": cusum.reduced_baseline},
            "monitoring": {"start": cusum.monitoring_start, "end": cusum.monitoring_end},
            "false_alarm_probability_window_known": cusum.false_alarm_probability_window_known,
            "false_alarm_probability_window_estimated": cusum.false_alarm_probability_window_estimated,
            "first_alarm": cusum.first_alarm,
            "alarms": cusum.alarms,
            "notes": cusum.notes,
        },
    }


def _share_view(share: ShareTrend) -> dict[str, Any]:
    return {
        "measure": share.measure,
        "status": share.status,
        "verdict": share.verdict,
        "reason": share.reason,
        "method": share.definition,
        "test": share.test,
        "unit": share.period_unit,
        "baseline_label": share.baseline_label,
        "recent": {"start": share.recent_start, "end": share.recent_end, "numerator": share.recent_numerator,
                   "denominator": share.recent_denominator, "share": share.recent_share},
        "baseline": {"start": share.baseline_start, "end": share.baseline_end, "numerator": share.baseline_numerator,
                     "denominator": share.baseline_denominator, "share": share.baseline_share},
        "share_ratio": share.share_ratio,
        "ci_low": share.ci_low,
        "ci_high": share.ci_high,
        "p_value": share.p_value,
        "alpha": share.alpha,
        "dispersion_adjusted": share.dispersion_adjusted,
        "robust_to_growth": share.robust_to_growth,
        "by_period": share.periods if share.periods is not None else [],
    }


def _verdict_view(v: Any) -> dict[str, Any]:
    return {
        "verdict": v.verdict,
        "reason": v.reason,
        "method": v.definition,
        "test": v.test,
        "alpha": v.alpha,
        "recent": {"start": v.recent_start, "end": v.recent_end, "months": v.parameters.get("recent_months"), "n_reports": v.recent_reports,
                   "rate_per_month": v.recent_rate_per_month},
        "baseline": {"start": v.baseline_start, "end": v.baseline_end, "months": v.parameters.get("baseline_months_used"),
                     "n_reports": v.baseline_reports, "rate_per_month": v.baseline_rate_per_month},
        "rate_ratio": v.rate_ratio,
        "ci_low": v.ci_low,
        "ci_high": v.ci_high,
        "p_value": v.p_value,
        "dispersion_adjusted": v.dispersion_adjusted,
        "baseline_label": v.baseline_label,
        "reduced_baseline": v.reduced_baseline,
    }


def _change_points_view(changes: ChangePointAnalysis) -> list[dict[str, Any]]:
    points = []
    for algorithm, result in (("PELT", changes.pelt), ("Binseg", changes.binseg)):
        for c in result.change_points if result is not None else []:
            points.append({
                "date": c.date, "method": algorithm,
                "rate_before": c.rate_before, "before_ci": [c.rate_before_ci_low, c.rate_before_ci_high],
                "rate_after": c.rate_after, "after_ci": [c.rate_after_ci_low, c.rate_after_ci_high],
                "rate_ratio": c.rate_ratio, "rate_ratio_ci": [c.rate_ratio_ci_low, c.rate_ratio_ci_high],
                "reports_before": c.reports_before, "reports_after": c.reports_after,
            })
    return points


def _forecast_view(forecast: ForecastResult) -> dict[str, Any]:
    backtest = forecast.backtest or {}
    return {
        "status": forecast.status,
        "warning": forecast.warning,
        "model": forecast.model,
        "method": forecast.definition,
        "horizon_months": forecast.horizon,
        "rows": forecast.forecast if forecast.forecast is not None else [],
        "mase": backtest.get("mase"),
        "naive_mase": backtest.get("naive_mase"),
        "mase_scale": backtest.get("scaling"),
        "mase_by_horizon": backtest.get("by_horizon", []),
        "transform": forecast.parameters.get("transform"),
        "point_forecast": forecast.parameters.get("point_forecast"),
        "backtest": backtest,
    }


def _problems_view(problems: ProblemProfile) -> dict[str, Any]:
    top = problems.top_terms
    return {
        "method": problems.definition,
        "n_reports": problems.n_reports,
        "top": {t: top[top["problem_type"] == t][["term", "n_reports", "share"]] for t in ("device", "patient")},
        "changes": problems.share_changes,
        "recent_years": problems.recent_years,
        "earlier_years": problems.earlier_years,
        "notes": problems.notes,
    }


def _signals_view(signals: dict[str, SignalResult], unavailable: str | None, device: str, comparators: list[str]) -> dict[str, Any]:
    if not signals:
        return {"status": "not possible", "reason": unavailable, "device": device, "comparators": comparators, "rows": []}
    first = next(iter(signals.values()))
    rows = []
    for problem_type, result in signals.items():
        for record in result.for_product(device).to_dict(orient="records"):
            rows.append({"problem_type": problem_type, **record})
    applicable = all(r.screen_applicable for r in signals.values())
    return {
        "status": "ok",
        "reason": None,
        "method": "\n\n".join([*first.methods.values(), first.screen]),
        "methods": first.methods,
        "ic_definition": first.ic_definition,
        "data_description": first.data_description,
        "device": device,
        "comparators": comparators,
        "primary_screen": {
            "rule": first.settings.primary_rule,
            "column": "signal",
            "applicable": applicable,
            "n_signals": _count_signals(signals, device),
            "n_signals_by_problem_type": {t: r.n_signals(device) for t, r in signals.items()},
            "secondary": first.settings.secondary_rules,
            "text": first.screen,
        },
        "expected_counts": {t: r.expected_counts for t, r in signals.items()},
        "row_totals": {t: r.data_description for t, r in signals.items()},
        "prior": {t: r.prior_fit.to_dict() for t, r in signals.items()},
        "prior_used": {t: r.prior.to_dict() if r.prior else None for t, r in signals.items()},
        "n_pairs": {t: len(r.table) for t, r in signals.items()},
        "rows": rows,
    }


def _count_signals(signals: dict[str, SignalResult], device: str) -> int | None:
    """The device's pairs flagged by the primary screen; None when it could not be applied."""
    counts = [r.n_signals(device) for r in signals.values()]
    return None if any(c is None for c in counts) else sum(counts)  # type: ignore[misc]


def _signals_headline(signals: dict[str, SignalResult], device: str, unavailable: str | None) -> str:
    """The signal count, or why there is none: "not computed" is never shown as 0."""
    if not signals:
        return f"not computed: {unavailable}"
    count = _count_signals(signals, device)
    return "not applicable (the primary screen could not be applied)" if count is None else str(count)


def _primary_rule(signals: dict[str, SignalResult]) -> str:
    return next(iter(signals.values())).settings.primary_rule if signals else "no screen"

