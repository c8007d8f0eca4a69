"""The drug report's exhibits (the PBRER's own tables and figures; the shared ones come from the
other family modules).

Each table is a `TableExhibit`: id, title, the sources and run files it shows, and a builder from
the loaded run. FAERS text (reaction terms, drug names) is escaped by the shared table renderer.
"""
from __future__ import annotations

import pandas as pd

from ...runfolder import layout
from ...runfolder.layout import ANALYSIS, pointer, table
from .base import FigureExhibit, ReportRun, TableExhibit, date, fmt, frame_html, notice, unavailable, with_ci

__all__ = ["FIGURES", "TABLES"]

_SIGNALS = ("details", "drug", "signals")


def _drug(d: ReportRun) -> dict:
    return (d.analysis.details or {}).get("drug") or {}


def _tab_identity(d: ReportRun) -> str:
    r = d.resolution
    rows = [("Drug as given", r.typed), ("Normalised form", r.normalised), ("Resolved as", r.matched_as),
            ("Active ingredient (subject)", r.ingredient or "none in the data: the name alone is matched"),
            ("How it was chosen", r.chosen_by),
            ("Candidates", "; ".join(f"{c.ingredient} ({c.records:,})" for c in r.candidates) or None),
            ("Brand names", "; ".join(r.brand_names) or None), ("Generic names", "; ".join(r.generic_names) or None),
            ("RxCUI", "; ".join(r.rxcuis) or None), ("NDC products", f"{len(r.ndcs):,}" if r.ndcs else None),
            ("FAERS roles counted", ", ".join(r.roles)), ("Search", "; ".join(r.match_values)), ("Rule", r.rule)]
    return frame_html(pd.DataFrame(rows, columns=["Item", "Value"]), "tab-drug-identity")


def _records_table(name: str, source: str, columns: dict[str, str], table_id: str, empty: str):
    def build(d: ReportRun) -> str:
        gone = unavailable(d, source)
        if gone:
            return notice(gone)
        frame = d.table(name)
        if frame.empty:
            return notice(empty, "cer-notice")
        shown = frame[list(columns)].rename(columns=columns).copy()
        for col in shown.columns:
            if pd.api.types.is_datetime64_any_dtype(shown[col]):
                shown[col] = shown[col].map(date)
        return frame_html(shown, table_id)
    return build


def _tab_label(d: ReportRun) -> str:
    gone = unavailable(d, "drug_label")
    if gone:
        return notice(gone)
    labels = d.table("labels")
    if labels.empty:
        return notice("No label of the drug was found.", "cer-notice")
    newest = labels.sort_values("effective_time", ascending=False, na_position="last")["set_id"].iloc[0]
    label = labels[labels["set_id"] == newest].copy()
    label["text"] = label["text"].map(lambda t: t if len(t) <= 1500 else t[:1500] + "\u2026 (full text in the run's labels table)")
    label = label[["section", "text"]].rename(columns={"section": "Label section", "text": "Text (as published)"})
    return frame_html(label, "tab-label")


def _tab_summary(d: ReportRun) -> str:
    gone = unavailable(d, "drug_event")
    if gone:
        return notice(gone)
    frame = d.table("drug_summary_counts")
    if frame.empty:
        return notice("No reports of the drug in the interval.", "cer-notice")
    names = {"serious": "Seriousness", "primarysource.qualification": "Reporter", "patient.patientsex": "Sex",
             "occurcountry": "Country of occurrence"}
    shown = frame.assign(field=frame["field"].map(lambda f: names.get(f, f)), n_reports=frame["n_reports"].map(
        lambda n: fmt(int(n), "count")))
    return frame_html(shown.rename(columns={"field": "Case field", "value": "Value", "n_reports": "Reports"}),
                       "tab-drug-summary")


def _tab_counts(d: ReportRun) -> str:
    gone = unavailable(d, "drug_event")
    if gone:
        return notice(gone)
    counts = d.table("drug_event_counts")
    if counts.empty:
        return notice("No reports of the drug in the interval.", "cer-notice")
    yearly = counts.assign(year=pd.to_datetime(counts["date"]).dt.year).pivot_table(
        index="year", columns="series", values="n_reports", aggfunc="sum", fill_value=0)
    yearly = yearly.reindex(columns=[c for c in ("all", "serious", "non-serious", "death") if c in yearly.columns])
    yearly.loc["All years"] = yearly.sum()
    shown = yearly.reset_index().rename(columns={"year": "Year received", "all": "All reports", "serious": "Serious",
                                                 "non-serious": "Non-serious", "death": "Fatal outcome"})
    return frame_html(shown.astype(str), "tab-drug-counts")


def _tab_reactions(d: ReportRun) -> str:
    gone = unavailable(d, "drug_event")
    if gone:
        return notice(gone)
    reactions = d.table("reaction_counts")
    own = reactions[reactions["scope"] == "drug"].sort_values(["n_reports", "term"], ascending=[False, True])
    if own.empty:
        return notice("No reaction terms in the drug's reports.", "cer-notice")
    status = (_drug(d).get("listedness") or {}).get("status") or {}
    shown = pd.DataFrame({"Reaction (MedDRA PT)": own["term"], "Reports": own["n_reports"].map(lambda n: fmt(int(n), "count")),
                          "Listed in the label": own["term"].map(lambda t: status.get(t, "not assessed"))})
    return frame_html(shown, "tab-reactions")


def _signal_frame(rows: list[dict]) -> pd.DataFrame:
    return pd.DataFrame([{
        "Reaction": r["term"], "a": fmt(r["a"], "count"), "Expected": fmt(r["E"], "decimal"),
        "PRR (95% CI)": with_ci(r["PRR"], r["PRR_lo"], r["PRR_hi"]), "ROR (95% CI)": with_ci(r["ROR"], r["ROR_lo"], r["ROR_hi"]),
        "IC (IC025)": f"{fmt(r['IC'], 'decimal')} ({fmt(r['IC025'], 'decimal')})",
        "EBGM (EB05 to EB95)": with_ci(r["EBGM"], r["EB05"], r["EB95"]),
        "Signal (primary screen)": "yes" if r["signal"] else "no", "Listedness": r["listedness"],
    } for r in rows])


def _tab_signals(d: ReportRun) -> str:
    gone = unavailable(d, "drug_event")
    if gone:
        return notice(gone)
    s = _drug(d).get("signals") or {}
    if s.get("unavailable"):
        return notice(f"Not computed: {s['unavailable']}.", "cer-notice")
    body = frame_html(_signal_frame(s.get("rows") or []), "tab-drug-signals")
    missing = s.get("not_scored") or []
    if missing:
        body += notice(f"Not scored ({len(missing):,}): " + "; ".join(f"{m['term']} ({m['reason']})" for m in missing[:20])
                        + ("; \u2026" if len(missing) > 20 else ""), "cer-source")
    return body


def _tab_unlisted(d: ReportRun) -> str:
    drug = _drug(d)
    listing = drug.get("listedness") or {}
    if not listing.get("label"):
        return notice("Listedness not assessed: no label of the drug in this run (labels come from openFDA drug/label).",
                       "cer-notice")
    rows = drug.get("unlisted_signals") or []
    if not rows:
        return notice("No reaction flagged by the primary screen is missing from the label.", "cer-notice")
    return frame_html(_signal_frame(rows), "tab-unlisted-signals")


def _tab_trend(d: ReportRun) -> str:
    series = _drug(d).get("series") or {}
    if not series.get("all", {}).get("months"):
        return notice("No monthly series.", "cer-notice")
    frame = pd.DataFrame({"Month": series["all"]["months"], **{
        label: series[name]["reports"] for name, label in (("all", "All reports"), ("serious", "Serious"),
                                                           ("death", "Fatal outcome")) if name in series},
        "Complete": ["yes" if c else "no (excluded from tests)" for c in series["all"]["complete"]]})
    return frame_html(frame.iloc[::-1].astype(str), "tab-drug-trend")


_CASE_COLUMNS = {"safetyreportid": "Case", "receivedate": "Received", "serious": "Serious", "death": "Fatal",
                 "qualification": "Reporter", "country": "Country", "suspect_drugs": "Suspect drugs",
                 "concomitant_drugs": "Concomitant drugs", "reactions": "Reactions"}  # all columns: tables/drug_cases

TABLES: tuple[TableExhibit, ...] = (
    TableExhibit("tab-drug-identity", "The drug as resolved", (), (layout.RESOLUTION,), (layout.RESOLUTION,), _tab_identity),
    TableExhibit("tab-approvals", "US applications and submissions (Drugs@FDA)", ("drug_drugsfda",), (table("approvals"),),
          (table("approvals"),), _records_table("approvals", "drug_drugsfda", {
              "application_number": "Application", "sponsor_name": "Sponsor", "brand_name": "Brand",
              "submission_type": "Type", "submission_number": "Number", "submission_status": "Status",
              "status_date": "Date", "submission_class": "Class"}, "tab-approvals", "No application found.")),
    TableExhibit("tab-drug-enforcement", "Enforcement reports (recalls) of products of the drug", ("drug_enforcement",),
          (table("drug_enforcement"),), (table("drug_enforcement"),), _records_table("drug_enforcement", "drug_enforcement", {
              "recall_number": "Recall", "classification": "Class", "status": "Status",
              "recall_initiation_date": "Initiated", "recalling_firm": "Firm", "reason_for_recall": "Reason"},
              "tab-drug-enforcement", "No enforcement report found.")),
    TableExhibit("tab-label", "Safety sections of the current US label", ("drug_label",), (table("labels"),),
          (table("labels"),), _tab_label),
    TableExhibit("tab-drug-summary", "FAERS reports of the drug by case field", ("drug_event",),
          (table("drug_summary_counts"),), (table("drug_summary_counts"),), _tab_summary),
    TableExhibit("tab-drug-counts", "FAERS reports of the drug by year received and seriousness", ("drug_event",),
          (table("drug_event_counts"),), (table("drug_event_counts"),), _tab_counts),
    TableExhibit("tab-reactions", "Reactions coded in the drug's reports, with listedness", ("drug_event",),
          (table("reaction_counts"), pointer(ANALYSIS, "details", "drug", "listedness")), (table("reaction_counts"), ANALYSIS),
          _tab_reactions),
    TableExhibit("tab-drug-signals", "Disproportionality of each reaction against all other FAERS reports",
          ("drug_event",), (pointer(ANALYSIS, *_SIGNALS),), (ANALYSIS,), _tab_signals),
    TableExhibit("tab-unlisted-signals", "Unlisted signals: reactions flagged by the primary screen and not in the label",
          ("drug_event", "drug_label"), (pointer(ANALYSIS, "details", "drug", "unlisted_signals"),), (ANALYSIS,), _tab_unlisted),
    TableExhibit("tab-drug-trend", "Monthly FAERS reports of the drug (all, serious, fatal)", ("drug_event",),
          (pointer(ANALYSIS, "details", "drug", "series"),), (ANALYSIS,), _tab_trend),
    TableExhibit("tab-drug-cases", "Review sample: the most recent cases (as reported, unverified)", ("drug_event",),
          (table("drug_cases"),), (table("drug_cases"),), _records_table("drug_cases", "drug_event", _CASE_COLUMNS,
                                                                   "tab-drug-cases", "No case in the review sample.")),
)

FIGURES: tuple[FigureExhibit, ...] = (
    FigureExhibit("fig-drug-seriousness", "drug_monthly_seriousness", follows="tab-drug-trend", sources=("drug_event",)),
    FigureExhibit("fig-drug-control-chart", "control_chart", follows="tab-drug-trend", sources=("drug_event",)),
    FigureExhibit("fig-drug-cusum", "cusum", follows="tab-drug-trend", sources=("drug_event",)),
    FigureExhibit("fig-drug-change-points", "change_points", follows="tab-drug-trend", sources=("drug_event",)),
    FigureExhibit("fig-drug-forecast", "forecast", follows="tab-drug-trend", sources=("drug_event",)),
)
