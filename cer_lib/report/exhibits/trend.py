"""Trend, trend-reporting verdict, control chart and CUSUM; change points; forecast."""
from __future__ import annotations

import pandas as pd

from ...runfolder import layout
from ...runfolder.layout import ANALYSIS, pointer
from ..facts import NOT_AVAILABLE
from .base import FigureExhibit, ReportRun, TableExhibit, ci, fmt, frame_html, notice, with_ci


def _tab_trend(run: ReportRun) -> str:
    f = run.facts
    if not f["trend_ok"].value:
        reason = f["trend_reason"].text if f["trend_reason"].available else f"see {layout.ANALYSIS}"
        return notice(f"Trend analysis not possible for this run: {reason}.", "cer-notice")
    t = run.analysis.trend
    v = t.verdict
    cc = t.control_chart
    cu = t.cusum
    unit = run.analysis.event_counting.unit  # events when reports of one event were merged, else reports
    rows = [
        ("Model", f["trend_model"].text, t.method),
        ("Ratio of monthly counts per year (95% CI)", with_ci(t.rate_ratio_per_year, t.ci_low, t.ci_high),
         "exp(slope) of the GLM on time in years"),
        ("p-value (trend)", f["trend_p"].text, ""),
        ("Pearson dispersion", f["trend_dispersion"].text, "chi-squared / degrees of freedom; above the threshold the negative binomial replaces Poisson"),
        ("Trend-reporting verdict", f["verdict"].text, v.method),
        ("Recent window", f"{f['verdict_recent_start'].text} to {f['verdict_recent_end'].text} ({f['verdict_recent_n'].text} {unit})", ""),
        ("Baseline window", f"{f['verdict_baseline_start'].text} to {f['verdict_baseline_end'].text} ({f['verdict_baseline_n'].text} {unit})", ""),
        ("Recent / baseline ratio (95% CI)", with_ci(v.rate_ratio, v.ci_low, v.ci_high),
         "ratio of mean monthly counts"),
        ("p-value (verdict), alpha", f"{f['verdict_p'].text}, alpha {f['verdict_alpha'].text}", ""),
        ("Control chart centre / upper / lower limit", f"{f['cc_centre'].text} / {f['cc_ucl'].text} / {f['cc_lcl'].text}", cc.method if cc else None),
        ("Months above the upper limit", f["cc_signal_months"].text if f["cc_signal_months"].available else "none", ""),
        ("CUSUM k, h", f"{f['cusum_k'].text}, {f['cusum_h'].text}", cu.method),
        ("CUSUM first alarm", f["cusum_first_alarm"].text if f["cusum_first_alarm"].available else "none", ""),
    ]
    return frame_html(pd.DataFrame(rows, columns=["Quantity", "Value", "Definition"]), "tab-trend")


def _tab_change_points(run: ReportRun) -> str:
    points = run.analysis.change_points or []
    method = run.analysis.change_point_method
    note = notice(f"Method: {method.text or NOT_AVAILABLE} Cost: {method.cost or NOT_AVAILABLE}; "
                   f"penalty {fmt(method.penalty, 'decimal')}; minimum segment "
                   f"{fmt(method.min_segment_months, 'count')} months. Means are {run.analysis.event_counting.unit} per month.", "cer-source")
    if not points:
        analysed = run.analysis.change_points is not None
        return notice("No change point found." if analysed else "Change points not analysed.", "cer-notice") + note
    rows = [{
        "New level from": fmt(p.date, "month"), "Method": p.method,
        "Mean before (95% CI)": with_ci(p.rate_before, *(p.before_ci or [None, None]), kind="rate"),
        "Mean after (95% CI)": with_ci(p.rate_after, *(p.after_ci or [None, None]), kind="rate"),
        "Ratio after / before": fmt(p.rate_ratio, "ratio"),
    } for p in points]
    return frame_html(pd.DataFrame(rows), "tab-change-points") + note


def _tab_forecast(run: ReportRun) -> str:
    fc = run.analysis.forecast
    rows = fc.rows
    if fc.status != "ok" or not rows:
        return notice(f"No forecast: {fc.warning or 'not computed for this run'}.", "cer-notice")
    frame = pd.DataFrame([{
        "Month": fmt(r.month, "month"), f"Mean ({run.analysis.event_counting.unit})": fmt(r.mean, "rate"),
        "80% prediction interval": ci(r.pi80_low, r.pi80_high, "rate"),
        "95% prediction interval": ci(r.pi95_low, r.pi95_high, "rate"),
    } for r in rows])
    note = notice(f"Model: {fc.model or NOT_AVAILABLE}. {fc.method or ''} Back-test MASE "
                   f"{fmt(fc.mase, 'decimal')} (scale: {fc.mase_scale or NOT_AVAILABLE}).", "cer-source")
    warning = notice(f"Warning: {fc.warning}", "cer-notice") if fc.warning else ""
    return frame_html(frame, "tab-forecast") + note + warning


TABLES: tuple[TableExhibit, ...] = (
    TableExhibit("tab-trend", "Trend, trend-reporting verdict, control chart and CUSUM", ("device_event",),
          (pointer(ANALYSIS, "trend"),), (ANALYSIS,), _tab_trend),
    TableExhibit("tab-change-points", "Change points in the monthly series", ("device_event",),
          (pointer(ANALYSIS, "change_points"), pointer(ANALYSIS, "change_point_method")), (ANALYSIS,), _tab_change_points),
    TableExhibit("tab-forecast", "Forecast of the monthly series", ("device_event",),
          (pointer(ANALYSIS, "forecast"),), (ANALYSIS,), _tab_forecast),
)

FIGURES: tuple[FigureExhibit, ...] = (
    FigureExhibit("fig-control-chart", "control_chart", follows="tab-trend", sources=("device_event",)),
    FigureExhibit("fig-cusum", "cusum", follows="tab-trend", sources=("device_event",)),
    FigureExhibit("fig-trend-shares", "trend_shares", follows="tab-trend", sources=("device_event",)),
    FigureExhibit("fig-change-points", "change_points", follows="tab-change-points", sources=("device_event",)),
    FigureExhibit("fig-forecast", "forecast", follows="tab-forecast", sources=("device_event",)),
)
