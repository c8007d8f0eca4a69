"""Case narratives of the review sample, as submitted (bounded: see `cer_lib.report.text`), one row per event."""
from __future__ import annotations

import pandas as pd

from ...runfolder import layout
from ...runfolder.layout import table
from ...tables.event_groups import RULE
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


VMSR_MARK = " (summary report, VMSR)"


def _summary(event: pd.Series) -> bool:
    """Whether a report of the sample is a Voluntary Malfunction Summary Report (``events.summary_report``)."""
    flag = event.get("summary_report")
    return flag is not None and not pd.isna(flag) and bool(flag)


def _tab_case_sample(run: ReportRun) -> str:
    """The most recent reports with narratives, one row per event: reports of one event
    (`cer_lib.tables.event_groups`) share a row, and their narrative is printed once."""
    gone = unavailable(run, "device_event")
    if gone:
        return notice(gone)
    events, texts, problems = run.table("events"), run.table("event_texts"), run.table("event_problems")
    if texts.empty or events.empty:
        return notice("No case narratives in the review sample.", "cer-notice")
    with_text = events[events["mdr_report_key"].isin(texts["mdr_report_key"])]
    groups = events.set_index(events["mdr_report_key"].astype(str))[["event_group", "event_group_size", "grouped_by"]]
    ungrouped = groups["event_group"].isna()  # a report integrate did not mark is an event of its own
    groups.loc[ungrouped, "event_group"] = groups.index[ungrouped]
    ordered = with_text.sort_values(["date_received", "mdr_report_key"], ascending=[False, True])
    chosen = ordered.head(CASE_SAMPLE_REPORTS)
    rows, shown_groups = [], {}
    for _, e in chosen.iterrows():
        group = groups.loc[str(e["mdr_report_key"]), "event_group"]
        shown_groups.setdefault(group, []).append(e)
    for group, members in shown_groups.items():
        keys = [str(m["mdr_report_key"]) for m in members]
        terms = problems[(problems["mdr_report_key"].isin(keys)) & (problems["problem_type"] == "device")]["term"].dropna()
        parts, seen = [], {}
        for _, t in texts[texts["mdr_report_key"] == keys[0]].iterrows():
            full = str(t["text"]) if t["text"] is not None and not pd.isna(t["text"]) else ""
            kind = str(t["text_type"]) if t["text_type"] is not None and not pd.isna(t["text_type"]) else ""
            label = f"<b>{esc(kind)}:</b> " if kind else ""
            same = " ".join(full.split()).upper()
            if same and same in seen:  # a report repeating one text under two types: printed once
                parts.append(f'<p class="cer-source">{label}the same text as the {esc(seen[same] or "text above")}.</p>')
                continue
            seen[same] = kind
            parts.append(_narrative_html(label, full, keys[0]))
        if len(members) > 1:
            how = groups.loc[keys[0], "grouped_by"]
            parts.append(f'<p class="cer-source">{len(members)} reports of one event ({esc(how)}); the narrative of '
                         f"{esc(members[0]['report_number'])} is shown.</p>")
        numbers = "<br>".join(esc(m["report_number"]) for m in members)
        rows.append(
            f"<tr><td>{numbers}</td><td>{date(members[0]['date_received'])}</td>"
            f"<td>{esc('; '.join(dict.fromkeys(str(m['event_type']) + (VMSR_MARK if _summary(m) else '') for m in members)))}</td>"
            f"<td>{esc('; '.join(dict.fromkeys(map(str, terms))) or None)}</td><td>{''.join(parts)}</td></tr>"
        )
    head = "".join(f"<th>{h}</th>" for h in ("Report", "Received", "Event type", "Device problems", "Narrative (as submitted, unverified)"))
    notes = []
    repeated = groups[groups["event_group_size"].fillna(1) > 1]
    if len(repeated):
        n_repeated = repeated["event_group"].nunique()
        notes.append(f"Reports of one event: {len(repeated):,} of the {len(groups):,} reports of the review sample describe "
                     f"{n_repeated:,} event{'' if n_repeated == 1 else 's'} reported more than once, so the sample describes "
                     f"{groups['event_group'].nunique():,} events. Rule: {RULE}.")
    else:
        notes.append(f"No two reports of the review sample describe one event. Rule: {RULE}.")
    if any(_summary(e) for _, e in chosen.iterrows()):
        notes.append(f"{VMSR_MARK.strip()}: a Voluntary Malfunction Summary Report, one report that summarises many "
                     "malfunction events of one kind; it counts as one report in every count of this report.")
    more = len(with_text) - len(chosen)
    if more > 0:
        notes.append(f"{more:,} further reports with narratives are in {layout.table('event_texts')}.")
    return (f'<table class="cer-table cer-narratives" id="tab-case-sample-data"><thead><tr>{head}</tr></thead>'
            f"<tbody>{''.join(rows)}</tbody></table>" + "".join(notice(n, "cer-source") for n in notes))


TABLES: tuple[TableExhibit, ...] = (
    TableExhibit("tab-case-sample", "Review sample of case narratives (most recent reports)", ("device_event",),
          (table("events"), table("event_texts"), table("event_problems")),
          (table("events"), table("event_texts"), table("event_problems")), _tab_case_sample),
)
