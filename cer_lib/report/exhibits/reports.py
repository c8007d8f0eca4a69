"""Adverse event reports: counts by year and event type, and the figure of monthly counts."""
from __future__ import annotations

from typing import Any

import pandas as pd

from ...runfolder import layout
from ...runfolder.layout import ANALYSIS, pointer
from .base import FigureExhibit, ReportRun, TableExhibit, fmt, frame_html, notice, unavailable


def _monthly_rows(run: ReportRun) -> list[dict[str, Any]]:
    return [r.model_dump() for r in run.analysis.monthly_counts.rows]


def _tab_maude_counts(run: ReportRun) -> str:
    gone = unavailable(run, "device_event")
    rows = _monthly_rows(run)
    if gone and not rows:
        return notice(gone)
    if not rows:
        return notice(f"No monthly counts in {layout.ANALYSIS}.", "cer-notice")
    frame = pd.DataFrame(rows)
    frame["year"] = frame["month"].astype(str).str[:4]
    pivot = frame.pivot_table(index="year", columns="event_type", values="n_reports", aggfunc="sum", fill_value=0)
    months = frame[frame["event_type"] == "total"].groupby("year")["complete"].agg(["sum", "count"])
    out = pd.DataFrame(index=pivot.index)
    for col in ("Death", "Injury", "Malfunction", "Other", "total"):
        out[col if col != "total" else "Total"] = pivot[col].map(lambda v: fmt(int(v), "count")) if col in pivot else "0"
    out["Complete months"] = [f"{int(months.loc[y, 'sum'])} of {int(months.loc[y, 'count'])}" for y in out.index]
    totals = run.analysis.monthly_counts.totals
    out.loc["All"] = [fmt(totals.get(k), "count") for k in ("Death", "Injury", "Malfunction", "Other", "all")] + [""]
    out = out.reset_index().rename(columns={"year": "Year received"})
    return frame_html(out, "tab-maude-counts") + notice(
        "Reports by the year FDA received them (date_received) and the event type given by the reporter. "
        "Counts of reports, not of events or patients (Limitation L1).", "cer-source")


TABLES: tuple[TableExhibit, ...] = (
    TableExhibit("tab-maude-counts", "MAUDE reports by year received and event type", ("device_event",),
          (pointer(ANALYSIS, "monthly_counts"),), (ANALYSIS,), _tab_maude_counts),
)

FIGURES: tuple[FigureExhibit, ...] = (
    FigureExhibit("fig-monthly-counts", "monthly_counts", follows="tab-maude-counts", sources=("device_event",)),
)
