"""Stage 05_report: the report as displayable HTML, section by section.

``report_sections(ctx)`` yields one `ReportBlock` per section (front matter first, then the sections
of the report structure the run's profile gives, e.g. MEDDEV 2.7/1 rev 4 A9 and Appendix A): the
section's narrative (``results/narrative.json``) with its tables and figures in place of the
narrative's exhibit markers; the structure says which section shows each exhibit. ``show_section(ctx, "4")`` displays a
top-level section with its subsections (one notebook cell each), ``show_report(ctx)`` everything.

Every table and figure ("exhibit") has a stable id (``tab-recalls-device``, ``fig-monthly-counts``)
and a one-line "Source:" note naming the query and the run file it comes from;
``provenance_items(ctx)`` lists them with the sha256 of each input file for the provenance table
of the HTML/PDF report.

Escaping: tables are rendered by ``DataFrame.to_html(escape=True)``; every other piece of data
(case narratives, captions, reasons, URLs) goes through ``html.escape``; figures are ``<img>`` with
a base64 ``data:`` URI (self-contained) or the run-relative PNG path. Untrusted text can therefore
neither add markup nor close the page's tables. `REPORT_CSS` styles the blocks (placeholders are
boxed, the synthetic-data banner is red).
"""
from __future__ import annotations

import base64
import html
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from ..provenance import redact_url
from ..runfolder import AnalysisFile, CollectStatus, Resolution, RunFolder, RunRecord, layout
from ..runfolder.analysis import Figure
from ..sources.base import SourceStatus
from ..sources.registry import SourceSpec, source_spec
from .facts import NOT_AVAILABLE, Facts, format_value
from .narrative import Narrative, load_narrative
from .structure import ReportStructure, Section

__all__ = [
    "REPORT_CSS",
    "ReportBlock",
    "exhibit_ids",
    "front_matter",
    "provenance_items",
    "report_html",
    "report_sections",
    "section_html",
    "show_report",
    "show_section",
]

REPORT_CSS = """
.cer-report { font-family: -apple-system, 'Segoe UI', Helvetica, Arial, sans-serif; line-height: 1.45; max-width: 70em; }
.cer-report h1 { font-size: 1.7em; margin-bottom: .2em; }
.cer-report table.cer-table { border-collapse: collapse; font-size: .85em; margin: .4em 0; }
.cer-report table.cer-table th, .cer-report table.cer-table td { border: 1px solid #cbd5e1; padding: 2px 6px; vertical-align: top; text-align: left; }
.cer-report table.cer-table th { background: #f1f5f9; }
.cer-report .cer-placeholder { border: 2px dashed #b45309; background: #fffbeb; padding: .3em 1em; margin: 1em 0; border-radius: 4px; }
.cer-report .cer-banner { padding: .4em 1em; margin: 1em 0; border-radius: 4px; }
.cer-report .cer-synthetic { border: 3px solid #b91c1c; background: #fef2f2; color: #7f1d1d; }
.cer-report .cer-notice { border: 1px solid #64748b; background: #f8fafc; }
.cer-report .cer-ribbon { display: inline-block; background: #b91c1c; color: #fff; font-weight: bold; font-size: .8em; padding: 1px 8px; border-radius: 3px; }
.cer-report .cer-exhibit { margin: 1em 0 1.4em 0; }
.cer-report .cer-caption { font-weight: bold; margin: .2em 0; }
.cer-report .cer-exhibit-id { font-family: monospace; font-weight: normal; color: #475569; margin-right: .5em; }
.cer-report .cer-source { font-size: .8em; color: #475569; margin: .2em 0; overflow-wrap: anywhere; }
.cer-report table.cer-table td { overflow-wrap: anywhere; }
.cer-report .cer-unavailable { border-left: 4px solid #b45309; padding: .2em .8em; background: #fff7ed; }
.cer-report dl.cer-definitions { font-size: .85em; display: grid; grid-template-columns: max-content auto; gap: 2px 12px; }
.cer-report dl.cer-definitions dt { font-weight: bold; }
.cer-report dl.cer-definitions dd { margin: 0; }
.cer-report pre.cer-pre { background: #f8fafc; border: 1px solid #e2e8f0; padding: .5em; font-size: .8em; white-space: pre-wrap; }
.cer-report details.cer-fulltext summary { cursor: pointer; color: #1d4ed8; }
.cer-report img.cer-figure { max-width: 100%; height: auto; }
""".strip()

CASE_SAMPLE_REPORTS = 25  # reports shown in the case-narrative table
EXCERPT_CHARS = 300
MAX_TABLE_ROWS = 500


def esc(value: Any) -> str:
    """Any value as escaped HTML text (None and NaN -> an em dash)."""
    if value is None or (not isinstance(value, (str, list, dict)) and pd.isna(value)):
        return "\u2014"
    return html.escape(str(value), quote=True)


# ----------------------------------------------------------------------------------------------
# the run's data, loaded once per display


@dataclass
class _Run:
    folder: RunFolder
    structure: ReportStructure
    sources: tuple[SourceSpec, ...]  # the profile's, in report order
    status: CollectStatus
    resolution: Resolution
    analysis: AnalysisFile
    run: RunRecord | None  # absent in a JupyterLab working folder
    tables: dict[str, pd.DataFrame]
    requests: list[dict[str, Any]]
    embed_figures: bool = True
    _narrative: Narrative | None = None

    @property
    def run_dir(self) -> Path:
        return self.folder.path

    @property
    def narrative(self) -> Narrative:
        """``results/narrative.json`` (read on first use: provenance items do not need it)."""
        if self._narrative is None:
            self._narrative = load_narrative(self.folder)
        return self._narrative

    @property
    def facts(self) -> Facts:
        return self.narrative.facts

    @property
    def synthetic(self) -> bool:
        return self.status.synthetic

    def source_state(self, name: str) -> SourceStatus | None:
        return self.status.source(name)

    def table(self, name: str) -> pd.DataFrame:
        return self.tables.get(name, pd.DataFrame())


_CACHE: dict[tuple, _Run] = {}
_STAMPED = (layout.NARRATIVE, layout.ANALYSIS, layout.INTEGRATE_SUMMARY, layout.COLLECT_STATUS)


def _stamp(folder: RunFolder) -> tuple:
    return tuple((f, folder.file(f).stat().st_mtime_ns if folder.exists(f) else None) for f in _STAMPED)


def _load(ctx: Any, embed_figures: bool = True) -> _Run:
    from ..profiles import profile_of

    folder = RunFolder(RunFolder.of(ctx).path.resolve())
    key = (str(folder.path), _stamp(folder), embed_figures)
    if key in _CACHE:
        return _CACHE[key]
    profile = profile_of(folder.parameters())
    loaded = _Run(
        folder=folder,
        structure=profile.report,
        sources=profile.sources,
        status=folder.collect_status(),
        resolution=folder.resolution(profile.resolution_model),
        analysis=folder.analysis(),
        run=folder.run_record(missing_ok=True),
        tables=folder.tables(),
        requests=folder.requests(),
        embed_figures=embed_figures,
    )
    _CACHE.clear()
    _CACHE[key] = loaded
    return loaded


# ----------------------------------------------------------------------------------------------
# formatting helpers for table cells


def _fmt(value: Any, kind: str) -> str:
    return format_value(value, kind)[1] if value is not None else "\u2014"


def _ci(lo: Any, hi: Any, kind: str = "ratio") -> str:
    if lo is None and hi is None:
        return ""
    return f"{_fmt(lo, kind)} to {_fmt(hi, kind)}"


def _with_ci(value: Any, lo: Any, hi: Any, kind: str = "ratio") -> str:
    if value is None:
        return "\u2014"
    interval = _ci(lo, hi, kind)
    return f"{_fmt(value, kind)} ({interval})" if interval else _fmt(value, kind)


def _date(value: Any) -> str:
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return "\u2014"
    return format_value(value, "date")[1]


def _frame_html(frame: pd.DataFrame, table_id: str) -> str:
    shown = frame.head(MAX_TABLE_ROWS).astype(object)
    shown = shown.where(shown.notna(), "\u2014")
    body = shown.to_html(index=False, escape=True, na_rep="\u2014", border=0, classes="cer-table", table_id=table_id + "-data")
    if len(frame) > len(shown):
        body += f'<p class="cer-source">First {len(shown):,} of {len(frame):,} rows; all rows are in the run folder.</p>'
    return body


def _notice(text: str, css: str = "cer-unavailable") -> str:
    return f'<p class="{css}">{esc(text)}</p>'


# ----------------------------------------------------------------------------------------------
# exhibits


ALL_SOURCES = ("*",)  # an exhibit about every source of the run's profile


@dataclass(frozen=True)
class _Spec:
    id: str
    kind: str  # "table" | "figure"
    title: str
    sources: tuple[str, ...]  # status.json source names the data come from (`ALL_SOURCES`: all of them)
    data: tuple[str, ...]  # what in the run folder (file and selection)
    inputs: tuple[str, ...]  # run-relative files to hash
    build: Callable[[_Run], str] | None = None
    figure: Figure | None = None


def _sources_of(d: _Run, spec: _Spec) -> tuple[str, ...]:
    return tuple(s.name for s in d.sources) if spec.sources == ALL_SOURCES else spec.sources


def _label(name: str) -> str:
    return source_spec(name).label


def _unavailable(d: _Run, *sources: str) -> str | None:
    """A notice when every source of the exhibit was unusable; None when data may be shown."""
    states = [d.source_state(s) for s in sources]
    if not sources or not all(s is not None and s.status in ("unavailable", "error", "disabled") for s in states):
        return None
    parts = []
    for name, state in zip(sources, states):
        assert state is not None
        reason = f" (reason recorded: {state.reason})" if state.reason else ""
        parts.append(f"the source \u201c{_label(name)}\u201d was {state.status} for this run{reason}")
    return "Not available: " + "; ".join(parts) + "."


def _tab_device(d: _Run) -> str:
    f = d.facts
    rows = [
        ("Device name (FDA classification)", f["device_name"].text),
        ("Product code", f["product_code"].text),
        ("Device class (US)", f["device_class"].text),
        ("Regulation", f["regulation_number"].text),
        ("Review panel", f["review_panel"].text),
        ("Medical specialty", f["medical_specialty"].text),
        ("Implant", f["implant"].text),
        ("Life-sustaining or life-supporting", f["life_sustaining"].text),
        ("Definition (FDA)", f["definition"].text),
        ("Comparator product codes (same regulation)", f["comparator_codes"].text),
    ]
    return _frame_html(pd.DataFrame(rows, columns=["Item", "Value"]), "tab-device")


def _tab_comparators(d: _Run) -> str:
    comps = d.resolution.comparators  # type: ignore[attr-defined]  # a device resolution
    if not comps:
        return _notice("No comparator product codes under the same regulation.", "cer-notice")
    totals = d.table("report_totals")
    recalls = d.table("recalls")
    rows = []
    for c in comps:
        code = c.product_code
        n = None
        if {"product_code", "period", "n_reports"} <= set(totals.columns):
            sel = totals[(totals["product_code"] == code) & (totals["period"] == "all")]
            n = int(sel["n_reports"].sum()) if len(sel) else None
        r = int((recalls["product_code"] == code).sum()) if "product_code" in recalls else None
        rows.append({"Product code": code, "Device name": c.device_name, "Class": c.device_class,
                     "MAUDE reports in window": _fmt(n, "count"), "Recalled products": _fmt(r, "count")})
    body = _frame_html(pd.DataFrame(rows), "tab-comparators")
    if d.resolution.comparators_truncated:  # type: ignore[attr-defined]
        body += _notice("The comparator list was truncated to the maximum set in the parameters.", "cer-notice")
    return body


def _tab_sources(d: _Run) -> str:
    rows = []
    for spec in d.sources:
        s = d.source_state(spec.name)
        rows.append({
            "Source": spec.label, "Status": (s.status if s else None) or "not recorded", "Reason": s.reason if s else None,
            "Data last updated": s.last_updated if s else None, "Records matched": _fmt(s.total if s else None, "count"),
            "Records fetched": _fmt(s.fetched if s else None, "count"), "Truncated": "yes" if s and s.truncated else "no",
        })
    body = _frame_html(pd.DataFrame(rows), "tab-sources")
    where = d.status.where
    notes = [f"Data origin: {d.status.origin or 'not recorded'}" + (f" ({where})" if where else "")]
    if d.status.offline:
        notes.append("Offline run: cached responses only.")
    if d.synthetic:
        notes.append("SYNTHETIC DATA: the records are generated demonstration data.")
    return body + "".join(_notice(n, "cer-source") for n in notes)


def _monthly_rows(d: _Run) -> list[dict[str, Any]]:
    return [r.model_dump() for r in d.analysis.monthly_counts.rows]


def _tab_maude_counts(d: _Run) -> str:
    gone = _unavailable(d, "device_event")
    rows = _monthly_rows(d)
    if gone and not rows:
        return _notice(gone)
    if not rows:
        return _notice(f"No monthly counts in {layout.ANALYSIS}.", "cer-notice")
    frame = pd.DataFrame(rows)
    frame["year"] = frame["month"].astype(str).str[:4]
    pivot = frame.pivot_table(index="year", columns="event_type", values="n_reports", aggfunc="sum", fill_value=0)
    months = frame[frame["event_type"] == "total"].groupby("year")["complete"].agg(["sum", "count"])
    out = pd.DataFrame(index=pivot.index)
    for col in ("Death", "Injury", "Malfunction", "Other", "total"):
        out[col if col != "total" else "Total"] = pivot[col].map(lambda v: _fmt(int(v), "count")) if col in pivot else "0"
    out["Complete months"] = [f"{int(months.loc[y, 'sum'])} of {int(months.loc[y, 'count'])}" for y in out.index]
    totals = d.analysis.monthly_counts.totals
    out.loc["All"] = [_fmt(totals.get(k), "count") for k in ("Death", "Injury", "Malfunction", "Other", "all")] + [""]
    out = out.reset_index().rename(columns={"year": "Year received"})
    return _frame_html(out, "tab-maude-counts") + _notice(
        "Reports by the year FDA received them (date_received) and the event type given by the reporter. "
        "Counts of reports, not of events or patients (Limitation L1).", "cer-source")


def _tab_trend(d: _Run) -> str:
    f = d.facts
    if not f["trend_ok"].value:
        reason = f["trend_reason"].text if f["trend_reason"].available else f"see {layout.ANALYSIS}"
        return _notice(f"Trend analysis not possible for this run: {reason}.", "cer-notice")
    t = d.analysis.trend
    v = t.verdict
    cc = t.control_chart
    cu = t.cusum
    rows = [
        ("Model", f["trend_model"].text, t.method),
        ("Ratio of monthly counts per year (95% CI)", _with_ci(t.rate_ratio_per_year, t.ci_low, t.ci_high),
         "exp(slope) of the GLM on time in years"),
        ("p-value (trend)", f["trend_p"].text, ""),
        ("Pearson dispersion", f["trend_dispersion"].text, "chi-squared / degrees of freedom; above the threshold the negative binomial replaces Poisson"),
        ("Trend-reporting verdict", f["verdict"].text, v.method),
        ("Recent window", f"{f['verdict_recent_start'].text} to {f['verdict_recent_end'].text} ({f['verdict_recent_n'].text} reports)", ""),
        ("Baseline window", f"{f['verdict_baseline_start'].text} to {f['verdict_baseline_end'].text} ({f['verdict_baseline_n'].text} reports)", ""),
        ("Recent / baseline ratio (95% CI)", _with_ci(v.rate_ratio, v.ci_low, v.ci_high),
         "ratio of mean monthly counts"),
        ("p-value (verdict), alpha", f"{f['verdict_p'].text}, alpha {f['verdict_alpha'].text}", ""),
        ("Control chart centre / upper / lower limit", f"{f['cc_centre'].text} / {f['cc_ucl'].text} / {f['cc_lcl'].text}", cc.method if cc else None),
        ("Months above the upper limit", f["cc_signal_months"].text if f["cc_signal_months"].available else "none", ""),
        ("CUSUM k, h", f"{f['cusum_k'].text}, {f['cusum_h'].text}", cu.method),
        ("CUSUM first alarm", f["cusum_first_alarm"].text if f["cusum_first_alarm"].available else "none", ""),
    ]
    return _frame_html(pd.DataFrame(rows, columns=["Quantity", "Value", "Definition"]), "tab-trend")


def _tab_change_points(d: _Run) -> str:
    points = d.analysis.change_points or []
    method = d.analysis.change_point_method
    note = _notice(f"Method: {method.text or NOT_AVAILABLE} Cost: {method.cost or NOT_AVAILABLE}; "
                   f"penalty {_fmt(method.penalty, 'decimal')}; minimum segment "
                   f"{_fmt(method.min_segment_months, 'count')} months. Means are reports per month.", "cer-source")
    if not points:
        analysed = d.analysis.change_points is not None
        return _notice("No change point found." if analysed else "Change points not analysed.", "cer-notice") + note
    rows = [{
        "New level from": _fmt(p.date, "month"), "Method": p.method,
        "Mean before (95% CI)": _with_ci(p.rate_before, *(p.before_ci or [None, None]), kind="rate"),
        "Mean after (95% CI)": _with_ci(p.rate_after, *(p.after_ci or [None, None]), kind="rate"),
        "Ratio after / before": _fmt(p.rate_ratio, "ratio"),
    } for p in points]
    return _frame_html(pd.DataFrame(rows), "tab-change-points") + note


def _tab_forecast(d: _Run) -> str:
    fc = d.analysis.forecast
    rows = fc.rows
    if fc.status != "ok" or not rows:
        return _notice(f"No forecast: {fc.warning or 'not computed for this run'}.", "cer-notice")
    table = pd.DataFrame([{
        "Month": _fmt(r.month, "month"), "Mean (reports)": _fmt(r.mean, "rate"),
        "80% prediction interval": _ci(r.pi80_low, r.pi80_high, "rate"),
        "95% prediction interval": _ci(r.pi95_low, r.pi95_high, "rate"),
    } for r in rows])
    note = _notice(f"Model: {fc.model or NOT_AVAILABLE}. {fc.method or ''} Back-test MASE "
                   f"{_fmt(fc.mase, 'decimal')} (scale: {fc.mase_scale or NOT_AVAILABLE}).", "cer-source")
    warning = _notice(f"Warning: {fc.warning}", "cer-notice") if fc.warning else ""
    return _frame_html(table, "tab-forecast") + note + warning


def _tab_problems(kind: str) -> Callable[[_Run], str]:
    def build(d: _Run) -> str:
        top = d.analysis.problems.top.get(kind, [])
        if not top:
            return _notice(f"No {kind} problem terms for this run.", "cer-notice")
        frame = pd.DataFrame([{"Term": t.term, "Reports": _fmt(t.n_reports, "count"),
                               "Share of reports": _fmt(t.share, "share")} for t in top])
        return _frame_html(frame, f"tab-problems-{kind}")
    return build


def _tab_problem_changes(d: _Run) -> str:
    changes = d.analysis.problems.changes
    method = d.analysis.problems.method
    note = _notice(f"Method: {method}", "cer-source") if method else ""
    if not changes:
        return _notice("No share changes were tested.", "cer-notice") + note
    frame = pd.DataFrame([{
        "Type": c.problem_type, "Term": c.term, "Share, recent": _fmt(c.share_recent, "share"),
        "Share, earlier": _fmt(c.share_earlier, "share"), "p": _fmt(c.p_value, "p_value"),
        "q (BH)": _fmt(c.q_value, "p_value"), "Direction": c.direction,
        "Significant": "yes" if c.significant else "no",
    } for c in changes])
    return _frame_html(frame, "tab-problem-changes") + note


def _tab_signals(d: _Run) -> str:
    s = d.analysis.signals
    f = d.facts
    if s.status != "ok":
        return _notice(f"Disproportionality not possible for this run: {s.reason or 'see ' + layout.ANALYSIS}.", "cer-notice")
    rows = [r for _, r in s.rows_of(s.device)]
    rows.sort(key=lambda r: -(r.EB05 if r.EB05 is not None else float("-inf")))
    frame = pd.DataFrame([{
        "Term": r.term, "Type": r.problem_type,
        "a": _fmt(r.a, "count"), "b": _fmt(r.b, "count"), "c": _fmt(r.c, "count"),
        "d": _fmt(r.d, "count"), "E": _fmt(r.E, "decimal"),
        "PRR (95% CI)": _with_ci(r.PRR, r.PRR_lo, r.PRR_hi),
        "Yates chi2": _fmt(r.chi2_yates, "decimal"),
        "ROR (95% CI)": _with_ci(r.ROR, r.ROR_lo, r.ROR_hi),
        "IC (IC025)": f"{_fmt(r.IC, 'decimal')} ({_fmt(r.IC025, 'decimal')})",
        "EBGM (EB05 to EB95)": _with_ci(r.EBGM, r.EB05, r.EB95),
        "Evans rule": "flagged" if r.evans_signal else "",
        f"EB05 >= {f['eb05_threshold'].text}": "flagged" if r.eb05_signal else "",
    } for r in rows])
    definitions = [
        ("a", "reports of this device coding the term"), ("b", "reports of this device without the term"),
        ("c", "reports of the comparators coding the term"), ("d", "reports of the comparators without the term"),
        ("N", "a + b + c + d, distinct reports"), ("E", "(a+b)(a+c)/N, the count expected under proportional reporting"),
        ("PRR", "[a/(a+b)] / [c/(c+d)], 95% CI from Var(ln PRR) = 1/a - 1/(a+b) + 1/c - 1/(c+d)"),
        ("Evans rule", f"PRR >= {f['prr_threshold'].text}, Yates chi2 >= {f['chi2_threshold'].text}, a >= {f['min_a'].text}"),
        ("ROR", "ad/bc, Woolf 95% CI, Var(ln ROR) = 1/a + 1/b + 1/c + 1/d; +0.5 on all cells only when a cell is zero"),
        ("IC", s.ic_definition or NOT_AVAILABLE),
        ("EBGM", "empirical Bayes geometric mean (DuMouchel two-gamma mixture prior fitted by maximum likelihood); "
                 f"EB05 and EB95 are the 5% and 95% posterior points; flagged when EB05 >= {f['eb05_threshold'].text}"),
        ("Comparators", ", ".join(str(c) for c in s.comparators) or NOT_AVAILABLE),
    ]
    dl = '<dl class="cer-definitions">' + "".join(f"<dt>{esc(k)}</dt><dd>{esc(v)}</dd>" for k, v in definitions) + "</dl>"
    note = _notice(f"Method: {s.method or NOT_AVAILABLE} Disproportionality measures reporting, not risk "
                   "(Limitation L4).", "cer-source")
    return (_frame_html(frame, "tab-signals") if len(frame) else _notice("No rows for this device.", "cer-notice")) + dl + note


_RECALL_COLUMNS = {
    "product_code": "Product code", "product_res_number": "Recall number", "event_date_initiated": "Initiated",
    "recall_status": "Status", "recalling_firm": "Recalling firm", "root_cause_description": "Root-cause category (FDA)",
    "reason_for_recall": "Reason for recall (as published)", "product_description": "Product", "action": "Action",
}
_ENFORCEMENT_COLUMNS = {
    "product_code": "Product code", "recall_number": "Recall number", "classification": "Class", "status": "Status",
    "recall_initiation_date": "Initiated", "recalling_firm": "Recalling firm", "product_description": "Product",
    "reason_for_recall": "Reason for recall (as published)", "product_quantity": "Quantity",
    "distribution_pattern": "Distribution",
}


def _scoped_table(name: str, scope: str, columns: dict[str, str], date_col: str, source: str) -> Callable[[_Run], str]:
    def build(d: _Run) -> str:
        gone = _unavailable(d, source)
        if gone:
            return _notice(gone)
        table = d.table(name)
        rows = table[table["scope"] == scope] if "scope" in table else table.iloc[0:0]
        if rows.empty:
            who = "this product code" if scope == "device" else "the comparator product codes"
            return _notice(f"No records for {who}.", "cer-notice")
        rows = rows.sort_values(date_col, ascending=False, na_position="last") if date_col in rows else rows
        shown = pd.DataFrame({label: rows[col] for col, label in columns.items() if col in rows})
        for col in shown.columns:
            if pd.api.types.is_datetime64_any_dtype(shown[col]):
                shown[col] = shown[col].map(_date)
        return _frame_html(shown.reset_index(drop=True), f"tab-{name}-{scope if scope == 'device' else 'comparators'}")
    return build


def _tab_submissions(d: _Run) -> str:
    gone = _unavailable(d, "device_510k", "device_pma")
    if gone:
        return _notice(gone)
    s = d.table("submissions")
    if s.empty:
        return _notice("No premarket submissions for this product code.", "cer-notice")
    s = s.sort_values(["decision_date", "date_received"], ascending=False, na_position="last")
    frame = pd.DataFrame({
        "Type": s["submission_type"], "Number": s["number"],
        "Supplement": s["supplement_number"], "Received": s["date_received"].map(_date),
        "Decision date": s["decision_date"].map(_date),
        "Applicant": s["applicant"], "Trade name": s["trade_name"], "Device name": s["device_name"],
        "Decision": s["decision"], "Clearance type": s["clearance_type"],
        "Role in this report": s["submission_type"].map(
            lambda t: "equivalence candidate only" if t in ("510(k)", "De Novo") else "regulatory history"),
        "Predicates": s["predicates"].fillna("not published by openFDA"),
    }).reset_index(drop=True)
    warning = _notice("Candidates only: a 510(k) clearance is a US substantial-equivalence decision, not a "
                      "demonstration of equivalence for a clinical evaluation (MDCG 2020-5); see section 4.2.", "cer-notice")
    return warning + _frame_html(frame, "tab-submissions")


def _tab_products(d: _Run) -> str:
    p = d.table("products")
    p = p[p["source"] != "classification"] if "source" in p else p
    notes = [n for n in (_unavailable(d, "device_udi"), _unavailable(d, "device_registrationlisting"), _unavailable(d, "eudamed")) if n]
    if p.empty:
        return "".join(_notice(n) for n in notes) + _notice("No UDI, registration or EUDAMED listings.", "cer-notice")
    frame = pd.DataFrame({
        "Database": p["source"].map({"udi": "GUDID (US)", "registrationlisting": "FDA registration and listing",
                                     "eudamed": "EUDAMED (EU)"}).fillna(p["source"]),
        "Brand": p["brand_name"], "Model": p["model_number"], "Company": p["company_name"], "UDI-DI": p["udi_di"],
        "Basic UDI-DI": p["basic_udi_di"], "EU risk class": p["eu_risk_class"], "EU status": p["eu_status"],
    }).reset_index(drop=True)
    return "".join(_notice(n) for n in notes) + _frame_html(frame, "tab-products")


def _tab_case_sample(d: _Run) -> str:
    gone = _unavailable(d, "device_event")
    if gone:
        return _notice(gone)
    events, texts, problems = d.table("events"), d.table("event_texts"), d.table("event_problems")
    if texts.empty or events.empty:
        return _notice("No case narratives in the review sample.", "cer-notice")
    with_text = events[events["mdr_report_key"].isin(texts["mdr_report_key"])]
    chosen = with_text.sort_values(["date_received", "mdr_report_key"], ascending=[False, True]).head(CASE_SAMPLE_REPORTS)
    rows = []
    for _, e in chosen.iterrows():
        key = e["mdr_report_key"]
        terms = problems[(problems["mdr_report_key"] == key) & (problems["problem_type"] == "device")]["term"].dropna().tolist()
        parts = []
        for _, t in texts[texts["mdr_report_key"] == key].iterrows():
            full = str(t["text"]) if t["text"] is not None and not pd.isna(t["text"]) else ""
            label = f"<b>{esc(t['text_type'])}:</b> " if t["text_type"] is not None and not pd.isna(t["text_type"]) else ""
            if len(full) > EXCERPT_CHARS:
                parts.append(f'<p>{label}{esc(full[:EXCERPT_CHARS])}\u2026</p><details class="cer-fulltext">'
                             f"<summary>Full text ({len(full):,} characters)</summary><p>{esc(full)}</p></details>")
            else:
                parts.append(f"<p>{label}{esc(full)}</p>")
        rows.append(
            f"<tr><td>{esc(e['report_number'])}<br><small>key {esc(key)}</small></td><td>{_date(e['date_received'])}</td>"
            f"<td>{esc(e['event_type'])}</td><td>{esc('; '.join(map(str, terms)) or None)}</td><td>{''.join(parts)}</td></tr>"
        )
    head = "".join(f"<th>{h}</th>" for h in ("Report", "Received", "Event type", "Device problems", "Narrative (as submitted, unverified)"))
    more = len(with_text) - len(chosen)
    tail = _notice(f"{more:,} further reports with narratives are in {layout.table('event_texts')}.", "cer-source") if more > 0 else ""
    return (f'<table class="cer-table" id="tab-case-sample-data"><thead><tr>{head}</tr></thead>'
            f"<tbody>{''.join(rows)}</tbody></table>" + tail)


def _tab_reproduce(d: _Run) -> str:
    run = d.run or RunRecord(run_id=d.folder.run_id, code="", kind="")
    version = run.code_version
    rows = [("Run", run.run_id if d.run else None), ("Command that made this run", run.command)]
    rows += [(f"Reproduce, step {i}", cmd) for i, cmd in enumerate(run.reproduce, start=1)]
    rows += [
        ("Git commit", version.git_commit),
        ("Uncommitted changes at run time", {True: "yes: the commit alone does not reproduce this run", False: "no"}.get(version.dirty, "unknown")),
        ("Dependency lock (sha256 of requirements.lock)", version.lock_sha256),
        ("cer-notebooks version", run.tool_version),
        ("Started (UTC)", run.started_utc),
    ]
    return _frame_html(pd.DataFrame(rows, columns=["Item", "Value"]), "tab-reproduce")


def _tab_parameters(d: _Run) -> str:
    path = d.folder.file(layout.PARAMETERS)
    text = path.read_text(encoding="utf-8") if path.is_file() else f"({layout.PARAMETERS} not found)"
    return f'<pre class="cer-pre" id="tab-parameters-data">{esc(text)}</pre>'


def _tab_requests(d: _Run) -> str:
    if not d.requests:
        return _notice(f"No data requests were recorded ({layout.REQUESTS} is empty or missing).", "cer-notice")
    frame = pd.DataFrame([{
        "Source": r.get("source"), "URL (no key)": redact_url(str(r.get("url") or "")), "Time (UTC)": r.get("time"),
        "HTTP status": r.get("status"), "Bytes": _fmt(r.get("bytes"), "count"), "sha256": r.get("sha256"),
        "Data last updated": r.get("last_updated"), "From cache": "yes" if r.get("from_cache") else "no",
        "Error": r.get("error"),
    } for r in d.requests])
    return _frame_html(frame, "tab-requests")


_T = layout.table
_ANALYSIS = layout.ANALYSIS


def _at(path: str, *keys: Any) -> str:
    return layout.pointer(path, *keys)


TABLE_SPECS: tuple[_Spec, ...] = (
    _Spec("tab-device", "table", "Device identity and classification", ("device_classification",),
          (layout.RESOLUTION,), (layout.RESOLUTION,), _tab_device),
    _Spec("tab-products", "table", "Listings of the product code in GUDID, FDA registration and EUDAMED",
          ("device_udi", "device_registrationlisting", "eudamed"),
          (f"{_T('products')} (rows where source is udi, registrationlisting or eudamed)",),
          (_T("products"),), _tab_products),
    _Spec("tab-comparators", "table", "Comparator product codes (same classification regulation)",
          ("device_classification", "device_event", "device_recall"),
          (_at(layout.RESOLUTION, "comparators"), f"{_T('report_totals')} (period = all)",
           f"{_T('recalls')} (count by product_code)"),
          (layout.RESOLUTION, _T("report_totals"), _T("recalls")), _tab_comparators),
    _Spec("tab-submissions", "table", "Premarket submissions of the product code: equivalence candidates only",
          ("device_510k", "device_pma"), (_T("submissions"),), (_T("submissions"),), _tab_submissions),
    _Spec("tab-sources", "table", "Data sources and their status in this run", ALL_SOURCES,
          (_at(layout.COLLECT_STATUS, "sources"),), (layout.COLLECT_STATUS,), _tab_sources),
    _Spec("tab-maude-counts", "table", "MAUDE reports by year received and event type", ("device_event",),
          (_at(_ANALYSIS, "monthly_counts"),), (_ANALYSIS,), _tab_maude_counts),
    _Spec("tab-trend", "table", "Trend, trend-reporting verdict, control chart and CUSUM", ("device_event",),
          (_at(_ANALYSIS, "trend"),), (_ANALYSIS,), _tab_trend),
    _Spec("tab-change-points", "table", "Change points in monthly report counts", ("device_event",),
          (_at(_ANALYSIS, "change_points"), _at(_ANALYSIS, "change_point_method")), (_ANALYSIS,), _tab_change_points),
    _Spec("tab-forecast", "table", "Forecast of monthly report counts", ("device_event",),
          (_at(_ANALYSIS, "forecast"),), (_ANALYSIS,), _tab_forecast),
    _Spec("tab-problems-device", "table", "Device problem terms coded most often", ("device_event",),
          (_at(_ANALYSIS, "problems", "top", "device"),), (_ANALYSIS,), _tab_problems("device")),
    _Spec("tab-problems-patient", "table", "Patient problem terms coded most often", ("device_event",),
          (_at(_ANALYSIS, "problems", "top", "patient"),), (_ANALYSIS,), _tab_problems("patient")),
    _Spec("tab-problem-changes", "table", "Changes in the share of reports per problem term", ("device_event",),
          (_at(_ANALYSIS, "problems", "changes"),), (_ANALYSIS,), _tab_problem_changes),
    _Spec("tab-signals", "table", "Disproportionality of device problem terms against the comparators",
          ("device_event",), (_at(_ANALYSIS, "signals"),), (_ANALYSIS,), _tab_signals),
    _Spec("tab-recalls-device", "table", "Recalls of the product code", ("device_recall",),
          (f"{_T('recalls')} (rows where scope = device)",), (_T("recalls"),),
          _scoped_table("recalls", "device", _RECALL_COLUMNS, "event_date_initiated", "device_recall")),
    _Spec("tab-recalls-comparators", "table", "Recalls of the comparator product codes", ("device_recall",),
          (f"{_T('recalls')} (rows where scope = comparator)",), (_T("recalls"),),
          _scoped_table("recalls", "comparator", _RECALL_COLUMNS, "event_date_initiated", "device_recall")),
    _Spec("tab-enforcement-device", "table", "Enforcement reports of the product code", ("device_enforcement",),
          (f"{_T('enforcement')} (rows where scope = device)",), (_T("enforcement"),),
          _scoped_table("enforcement", "device", _ENFORCEMENT_COLUMNS, "recall_initiation_date", "device_enforcement")),
    _Spec("tab-enforcement-comparators", "table", "Enforcement reports of the comparator product codes",
          ("device_enforcement",), (f"{_T('enforcement')} (rows where scope = comparator)",),
          (_T("enforcement"),),
          _scoped_table("enforcement", "comparator", _ENFORCEMENT_COLUMNS, "recall_initiation_date", "device_enforcement")),
    _Spec("tab-case-sample", "table", "Review sample of case narratives (most recent reports)", ("device_event",),
          (_T("events"), _T("event_texts"), _T("event_problems")),
          (_T("events"), _T("event_texts"), _T("event_problems")), _tab_case_sample),
    _Spec("tab-reproduce", "table", "How to reproduce this report", (), (layout.RUN_RECORD,), (layout.RUN_RECORD,),
          _tab_reproduce),
    _Spec("tab-parameters", "table", f"Effective parameters of this run ({layout.PARAMETERS})", (), (layout.PARAMETERS,),
          (layout.PARAMETERS,), _tab_parameters),
    _Spec("tab-requests", "table", "Data requests of this run", ALL_SOURCES,
          (layout.REQUESTS,), (layout.REQUESTS,), _tab_requests),
)

# figure id keyword -> the table it is shown after
_FIGURE_PLACEMENT = (
    (("month", "count", "series"), "tab-maude-counts"),
    (("control", "cusum", "trend", "shewhart"), "tab-trend"),
    (("change",), "tab-change-points"),
    (("forecast",), "tab-forecast"),
    (("problem", "term"), "tab-problem-changes"),
    (("signal", "dispro", "prr", "ebgm", "ror"), "tab-signals"),
    (("recall", "enforcement"), "tab-enforcement-comparators"),
)


def _figure_id(raw: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", str(raw).lower()).strip("-") or "figure"
    return slug if slug.startswith("fig-") else "fig-" + slug


def _figure_specs(analysis: AnalysisFile, source: str = "device_event") -> list[_Spec]:
    """The analysis' figures; ``source``: the source their data come from (the profile's first, its events)."""
    specs = []
    for i, fig in enumerate(analysis.figures):
        inputs = tuple(p for p in (fig.png, fig.svg) if p) + (_ANALYSIS,)
        specs.append(_Spec(_figure_id(fig.id or f"figure-{i + 1}"), "figure", str(fig.title or fig.id),
                           (source,), (_at(_ANALYSIS, "figures", i),), inputs, None, fig))
    return specs


def _table_specs(d: _Run) -> tuple[_Spec, ...]:
    """The tables the run's report structure places: of the shared ones and its own (a drug's PBRER adds some)."""
    return tuple(s for s in TABLE_SPECS + tuple(d.structure.tables) if d.structure.exhibit_section(s.id) is not None)


def _figure_after(spec: _Spec) -> str | None:
    raw = str(spec.figure.id if spec.figure else spec.id).lower()
    for keywords, table in _FIGURE_PLACEMENT:
        if any(k in raw for k in keywords):
            return table
    return None


def _figure_html(d: _Run, spec: _Spec) -> str:
    fig = spec.figure
    png = fig.png if fig else None
    path = d.folder.file(png) if png else None
    title, caption = (fig.title if fig else None) or spec.id, (fig.caption if fig else None) or ""
    if path is None or not path.is_file():
        img = _notice(f"Figure file {png or '(none)'} is missing from the run folder.")
    elif d.embed_figures:
        data = base64.b64encode(path.read_bytes()).decode("ascii")
        img = f'<img class="cer-figure" src="data:image/png;base64,{data}" alt="{esc(title)}">'
    else:
        img = f'<img class="cer-figure" src="{esc(Path(png).as_posix())}" alt="{esc(title)}">'
    return (f'<figure class="cer-exhibit" id="{esc(spec.id)}">{img}<figcaption><span class="cer-exhibit-id">'
            f"{esc(spec.id)}</span><b>{esc(title)}.</b> {esc(caption)}</figcaption>{_source_line(d, spec)}</figure>")


def _query(state: SourceStatus | None) -> str | None:
    """The search a source ran, as 01_collect recorded it in status.json (``details.search``)."""
    search = state.details.get("search") if state else None
    return str(search) if search else None


def _source_line(d: _Run, spec: _Spec) -> str:
    parts = []
    for name in _sources_of(d, spec):
        source = source_spec(name)
        state = d.source_state(name)
        detail = []
        if source.path:
            detail.append(source.path)
        query = _query(state)
        if query:
            detail.append(f"search {query}")
        if state and state.last_updated:
            detail.append(f"data last updated {state.last_updated}")
        if state and state.status != "ok":
            detail.append(f"status {state.status}")
        parts.append(source.label + (f" ({', '.join(detail)})" if detail else ""))
    text = "; ".join(parts + list(spec.data))
    return f'<p class="cer-source">Source: {esc(text)}.</p>'


def exhibit_ids(ctx: Any = None) -> list[str]:
    """Ids of every table (and, with a run, every figure) in report order."""
    ids = [s.id for s in TABLE_SPECS]
    if ctx is not None:
        analysis = RunFolder.of(ctx).analysis(missing_ok=True)
        ids += [s.id for s in _figure_specs(analysis)] if analysis else []
    return ids


def _exhibit_html(d: _Run, spec: _Spec, figures_after: dict[str, list[_Spec]]) -> str:
    if spec.kind == "figure":
        return _figure_html(d, spec)
    assert spec.build is not None
    body = spec.build(d)
    html_out = (f'<div class="cer-exhibit" id="{esc(spec.id)}"><p class="cer-caption"><span class="cer-exhibit-id">'
                f"{esc(spec.id)}</span>{esc(spec.title)}</p>{body}{_source_line(d, spec)}</div>")
    for fig in figures_after.get(spec.id, []):
        html_out += _figure_html(d, fig)
    return html_out


# ----------------------------------------------------------------------------------------------
# sections


@dataclass
class ReportBlock:
    """One displayable piece of the report (HTML); notebooks show it through ``_repr_html_``."""

    key: str
    number: str
    title: str
    html: str

    def _repr_html_(self) -> str:
        return self.html

    def __str__(self) -> str:
        return self.html


_MARKER = re.compile(r'<div class="cer-exhibit" data-exhibit="([a-z-]+)"></div>')


def _style() -> str:
    return f"<style>{REPORT_CSS}</style>"


def _ribbon(d: _Run, narrative_html: str = "") -> str:
    if not d.synthetic or "cer-banner cer-synthetic" in narrative_html:
        return ""
    return '<p><span class="cer-ribbon">SYNTHETIC DATA: not a real device</span></p>'



def _section_block(d: _Run, section: Section) -> ReportBlock:
    text = d.narrative.section(section.number)
    figure_specs = _figure_specs(d.analysis, d.sources[0].name)
    placed: dict[str, list[_Spec]] = {}
    leftovers = []
    for fig in figure_specs:
        target = _figure_after(fig)
        (placed.setdefault(target, []) if target else leftovers).append(fig)
    specs = {s.id: s for s in _table_specs(d)}
    shown: set[str] = set()

    def replace(match: re.Match[str]) -> str:
        spec = specs.get(match.group(1))
        if spec is None:
            return ""
        shown.add(spec.id)
        return _exhibit_html(d, spec, placed)

    body = _MARKER.sub(replace, text.html)
    for spec in _table_specs(d):  # exhibits of this section the narrative did not place
        if d.structure.exhibit_section(spec.id) == section.number and spec.id not in shown:
            body += _exhibit_html(d, spec, placed)
            shown.add(spec.id)
    if section.number == d.structure.figures_section:
        for fig in leftovers + [f for t, figs in placed.items() if t not in shown for f in figs]:
            body += _figure_html(d, fig)
    level = min(section.level + 1, 6)
    box = " cer-placeholder-section" if text.placeholder else ""
    html_out = (f'<section class="cer-section{box}" id="{esc(section.anchor)}" data-section="{esc(section.number)}">'
                f"<h{level}>{esc(section.number)} {esc(section.title)}</h{level}>{_ribbon(d, text.html)}{body}</section>")
    return ReportBlock(section.id, section.number, section.title, html_out)


def front_matter(ctx: Any, *, embed_figures: bool = True) -> ReportBlock:
    """Title, identification and data banners (the HTML and PDF carry the table of contents)."""
    d = _load(ctx, embed_figures)
    f = d.facts
    structure = d.structure
    texts = {name: fact.text for name, fact in f.items()}
    banners = []
    if d.synthetic:
        banners.append('<div class="cer-banner cer-synthetic" role="alert"><b>SYNTHETIC DATA.</b> This report was generated '
                       "from synthetic demonstration data. It does not describe a real device, manufacturer or patient and "
                       "must not be used for any regulatory or clinical decision.</div>")
    if d.status.offline:
        banners.append('<div class="cer-banner cer-notice"><b>Offline run.</b> Only cached responses were used; see the '
                       f"data last-updated dates in section {esc(structure.references_section)}.</div>")
    not_ok = [s.label for s in d.sources if d.status.state(s.name) not in (None, "ok")]
    if not_ok:
        banners.append('<div class="cer-banner cer-notice"><b>Sources without data in this run:</b> '
                       f"{esc(', '.join(not_ok))}. Section {esc(structure.sources_section)} gives each status and reason.</div>")
    ident = pd.DataFrame([(label, value.format_map(texts)) for label, value in structure.identification],
                         columns=["Item", "Value"])
    name, detail = (part.format_map(texts) for part in structure.subject)
    html_out = (f'<section class="cer-section cer-front" id="sec-front">{_style()}'
                f"<h1>{esc(structure.title)}</h1>"
                f"<p><b>{esc(name)}</b> ({esc(detail)})</p>"
                f"{''.join(banners)}{_frame_html(ident, 'tab-identification')}"
                f"<p>Structure: {esc(structure.name)}. Items public data cannot fill are boxed "
                "placeholders for the manufacturer.</p></section>")
    return ReportBlock("front", "", "Front matter", f'<div class="cer-report">{html_out}</div>')


def report_sections(ctx: Any, *, embed_figures: bool = True) -> Iterator[ReportBlock]:
    """Front matter, then one block per section of the report structure (1, 2, 3, 4, 4.1 ... 4.6, 5 ... 9, A), in order."""
    yield front_matter(ctx, embed_figures=embed_figures)
    d = _load(ctx, embed_figures)
    for section in d.structure.sections:
        block = _section_block(d, section)
        block.html = f'<div class="cer-report">{block.html}</div>'
        yield block


def section_html(ctx: Any, key: str, *, embed_figures: bool = True) -> str:
    """HTML of a top-level section with its subsections (``"4"`` gives 4 and 4.1 ... 4.6); ``"front"`` the front matter."""
    if key in ("front", "0", ""):
        return front_matter(ctx, embed_figures=embed_figures).html
    d = _load(ctx, embed_figures)
    sections = d.structure.sections
    chosen = d.structure.subsections_of(next((s.number for s in sections if key in (s.number, s.id)), key))
    if not chosen:
        raise KeyError(f"no report section {key!r}; use front or one of {', '.join(s.number for s in sections)}")
    blocks = "".join(_section_block(d, s).html for s in chosen)
    return f'<div class="cer-report">{_style()}{blocks}</div>'


def show_section(ctx: Any, key: str, *, embed_figures: bool = True) -> None:
    """Display a section (with its subsections) in the notebook: ``show_section(ctx, "4")``."""
    from IPython.display import HTML, display

    display(HTML(section_html(ctx, key, embed_figures=embed_figures)))


def report_html(ctx: Any, *, embed_figures: bool = True) -> str:
    """The whole report body as one HTML fragment (style included)."""
    d = _load(ctx, embed_figures)
    blocks = [front_matter(ctx, embed_figures=embed_figures).html]
    blocks += [_section_block(d, s).html for s in d.structure.sections]
    return f'<div class="cer-report">{_style()}{"".join(blocks)}</div>'


def show_report(ctx: Any, *, embed_figures: bool = True) -> None:
    """Display the whole report, section by section."""
    from IPython.display import HTML, display

    display(HTML(section_html(ctx, "front", embed_figures=embed_figures)))
    for top in _load(ctx, embed_figures).structure.top_level():
        display(HTML(section_html(ctx, top.number, embed_figures=embed_figures)))


# ----------------------------------------------------------------------------------------------
# provenance


def _requests_for(d: _Run, sources: Sequence[str]) -> list[str]:
    """The recorded requests to ``sources``: by the source the client logged, or by the endpoint in the URL."""
    paths = {source_spec(s).path for s in sources} - {None}
    urls = []
    for r in d.requests:
        url = redact_url(str(r.get("url") or ""))
        if r.get("source") in sources or any(p in url for p in paths if p):
            urls.append(f"GET {url} ({r.get('time') or 'time not recorded'}, HTTP {r.get('status')}, sha256 {r.get('sha256')})")
    return urls


def provenance_items(ctx: Any) -> list[dict[str, Any]]:
    """One entry per table and figure: ``{"id", "kind", "title", "section", "sources", "inputs": [{"path", "sha256"}]}``.

    ``sources`` names the public source(s) and the run data the exhibit shows, then the recorded requests
    to those sources; ``inputs`` are the run files it is built from, with their current sha256.
    """
    d = _load(ctx)
    meta_inputs = d.analysis.meta.inputs
    items = []
    for spec in list(_table_specs(d)) + _figure_specs(d.analysis, d.sources[0].name):
        inputs = [{"path": rel, "sha256": d.folder.sha256(rel)} for rel in spec.inputs]
        if _ANALYSIS in spec.inputs:
            inputs += [{"path": i.path, "sha256": i.sha256} for i in meta_inputs]
        sources = _sources_of(d, spec)
        labels = []
        for name in sources:
            source = source_spec(name)
            query = _query(d.source_state(name))
            labels.append(f"{source.label} ({source.path or name}{', search ' + query if query else ''})")
        items.append({
            "id": spec.id, "kind": spec.kind, "title": spec.title, "section": d.structure.exhibit_section(spec.id),
            "sources": labels + list(spec.data) + _requests_for(d, sources), "inputs": inputs,
        })
    return items
