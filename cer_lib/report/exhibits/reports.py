"""Adverse event reports: counts by year and event type (with the figure of monthly counts); in the
review sample, patient outcomes by event type and the reports per brand and model and per manufacturer
(names normalised by `cer_lib.names.match_key`, each written form shown)."""
from __future__ import annotations

from typing import Any

import pandas as pd

from ...names import match_key
from ...runfolder import layout
from ...runfolder.layout import ANALYSIS, pointer, table
from ...tables.outcomes import SERIOUS_OUTCOMES, outcome_counts
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
    summary = run.analysis.summary_reports
    by_year = {r.year: r for r in summary.by_year}
    if summary.status == "ok":
        out["Summary reports (VMSR)"] = [fmt(by_year[y].summary_reports, "count") if y in by_year else "" for y in out.index]
    out.loc["All"] = ([fmt(totals.get(k), "count") for k in ("Death", "Injury", "Malfunction", "Other", "all")] + [""]
                      + ([fmt(summary.n_summary_reports, "count")] if summary.status == "ok" else []))
    out = out.reset_index().rename(columns={"year": "Year received"})
    vmsr = ""
    if summary.status == "ok":
        vmsr = f" {summary.definition}"
        if summary.n_flag_not_recorded:
            vmsr += f" The summary-report flag is not recorded for {summary.n_flag_not_recorded:,} of the reports."
    elif summary.status == "not recorded":
        vmsr = (" The source does not record which reports are Voluntary Malfunction Summary Reports (one report for "
                "many events), so they cannot be told apart here.")
    return frame_html(out, "tab-maude-counts") + notice(
        "Reports by the year FDA received them (date_received) and the event type given by the reporter. "
        "Counts of reports, not of events or patients (Limitation L1)." + vmsr, "cer-source")


def _tab_outcomes(run: ReportRun) -> str:
    gone = unavailable(run, "device_event")
    if gone:
        return notice(gone)
    events, outcomes = run.table("events"), run.table("patient_outcomes")
    if events.empty:
        return notice("No reports in the review sample.", "cer-notice")
    types = dict(zip(events["mdr_report_key"], events["event_type"]))
    rows = []
    for outcome, n in outcome_counts(outcomes):
        keys = outcomes.loc[outcomes["outcome"] == outcome, "mdr_report_key"].unique()
        by_type = pd.Series([types.get(k) or "not recorded" for k in keys]).value_counts()
        rows.append({"Patient outcome": outcome, "Serious": "yes" if outcome in SERIOUS_OUTCOMES else "no",
                     "Reports": fmt(n, "count"),
                     "Event type of those reports": "; ".join(f"{t} {c:,}" for t, c in by_type.items())})
    if not rows:
        return notice(f"No patient outcome is recorded in the {len(events):,} reports of the review sample.", "cer-notice")
    return frame_html(pd.DataFrame(rows), "tab-outcomes") + notice(
        f"Distinct reports of the review sample ({len(events):,} reports) recording each outcome for any patient; a report "
        "may record several. Serious: death or a serious injury under 21 CFR 803.3. The event type is the reporter's "
        "classification and can understate harm (Limitation L1).", "cer-source")


def _by_name(run: ReportRun, column: str, label: str, table_id: str, note: str, models: bool = False) -> str:
    """Reports of the review sample per name in ``event_devices[column]``, names normalised by
    `match_key` (one row per normalised name, with the written forms when there are several)."""
    gone = unavailable(run, "device_event")
    if gone:
        return notice(gone)
    devices = run.table("event_devices")
    if devices.empty:
        return notice("No device records in the review sample.", "cer-notice")
    written = devices[column].fillna("not recorded").astype(str).str.strip()
    devices = devices.assign(_written=written, _key=written.map(match_key))
    rows = []
    for key, part in devices[devices["_key"] != ""].groupby("_key"):
        forms = part["_written"].value_counts()
        row = {f"{label} (normalised)": key, "Written in the data as": "; ".join(forms.index) if len(forms) > 1 else None}
        if models:
            counts = part["model_number"].dropna().astype(str).str.strip().value_counts()
            row["Models"] = "; ".join(f"{m} ({c:,})" for m, c in counts.items()) or None
        rows.append({**row, "Reports": part["mdr_report_key"].nunique()})
    frame = pd.DataFrame(rows).sort_values(["Reports", f"{label} (normalised)"], ascending=[False, True])
    frame["Reports"] = frame["Reports"].map(lambda n: fmt(n, "count"))
    return frame_html(frame, table_id) + notice(note, "cer-source")


def _tab_brands(run: ReportRun) -> str:
    return _by_name(run, "brand_name", "Brand", "tab-brands", models=True, note=(
        "Reports of the review sample per brand name as reported, names compared in capitals without surrounding "
        "punctuation or repeated spaces (the mapping from the written forms is shown); models with their number of "
        "device records. A report may name several devices."))


def _tab_manufacturers(run: ReportRun) -> str:
    return _by_name(run, "manufacturer_name", "Manufacturer", "tab-manufacturers", note=(
        "Reports of the review sample per device manufacturer as reported (the device's manufacturer, names "
        "normalised as for the brands)."))


_SAMPLE = (table("events"), table("event_devices"))

TABLES: tuple[TableExhibit, ...] = (
    TableExhibit("tab-maude-counts", "MAUDE reports by year received and event type", ("device_event",),
          (pointer(ANALYSIS, "monthly_counts"),), (ANALYSIS,), _tab_maude_counts),
    TableExhibit("tab-outcomes", "Patient outcomes recorded in the review sample, by event type", ("device_event",),
          (table("patient_outcomes"), table("events")), (table("patient_outcomes"), table("events")), _tab_outcomes),
    TableExhibit("tab-brands", "Reports of the review sample by brand and model", ("device_event",), _SAMPLE, _SAMPLE,
          _tab_brands),
    TableExhibit("tab-manufacturers", "Reports of the review sample by manufacturer", ("device_event",), _SAMPLE, _SAMPLE,
          _tab_manufacturers),
)

FIGURES: tuple[FigureExhibit, ...] = (
    FigureExhibit("fig-monthly-counts", "monthly_counts", follows="tab-maude-counts", sources=("device_event",)),
)
