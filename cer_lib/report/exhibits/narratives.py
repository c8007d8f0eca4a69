"""Case narratives of the review sample, as submitted (bounded: see `cer_lib.report.text`)."""
from __future__ import annotations

import pandas as pd

from ...runfolder import layout
from ...runfolder.layout import table
from ..text import EXCERPT_CHARS, FULL_TEXT_CHARS, excerpt
from .base import ReportRun, TableExhibit, date, esc, notice, unavailable


CASE_SAMPLE_REPORTS = 25  # reports shown in the case-narrative table


def _narrative_html(label: str, full: str, key: str) -> str:
    """One narrative: the whole text when short; else an excerpt, and on screen (never in print) the text up to
    `FULL_TEXT_CHARS` in a folded block; the note says where the whole text is."""
    shown, cut = excerpt(full, EXCERPT_CHARS)
    if not cut:
        return f"<p>{label}{esc(full)}</p>"
    where = f"{layout.table('event_texts')}, mdr_report_key {key}"
    folded, folded_cut = excerpt(full, FULL_TEXT_CHARS)
    rest = f" The first {FULL_TEXT_CHARS:,} characters are shown." if folded_cut else ""
    return (f"<p>{label}{esc(shown)}</p>"
            f'<details class="cer-fulltext"><summary>Full text ({len(full):,} characters)</summary><p>{esc(folded)}</p>'
            f'<p class="cer-source">{esc(rest.strip())} The whole text is in {esc(where)}.</p></details>'
            f'<p class="cer-print-only cer-source">Excerpt of {len(full):,} characters; the whole text is in {esc(where)}.</p>')


def _tab_case_sample(run: ReportRun) -> str:
    gone = unavailable(run, "device_event")
    if gone:
        return notice(gone)
    events, texts, problems = run.table("events"), run.table("event_texts"), run.table("event_problems")
    if texts.empty or events.empty:
        return notice("No case narratives in the review sample.", "cer-notice")
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
            parts.append(_narrative_html(label, full, str(key)))
        rows.append(
            f"<tr><td>{esc(e['report_number'])}</td><td>{date(e['date_received'])}</td>"
            f"<td>{esc(e['event_type'])}</td><td>{esc('; '.join(map(str, terms)) or None)}</td><td>{''.join(parts)}</td></tr>"
        )
    head = "".join(f"<th>{h}</th>" for h in ("Report", "Received", "Event type", "Device problems", "Narrative (as submitted, unverified)"))
    more = len(with_text) - len(chosen)
    tail = notice(f"{more:,} further reports with narratives are in {layout.table('event_texts')}.", "cer-source") if more > 0 else ""
    return (f'<table class="cer-table cer-narratives" id="tab-case-sample-data"><thead><tr>{head}</tr></thead>'
            f"<tbody>{''.join(rows)}</tbody></table>" + tail)


TABLES: tuple[TableExhibit, ...] = (
    TableExhibit("tab-case-sample", "Review sample of case narratives (most recent reports)", ("device_event",),
          (table("events"), table("event_texts"), table("event_problems")),
          (table("events"), table("event_texts"), table("event_problems")), _tab_case_sample),
)
