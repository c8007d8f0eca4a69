"""The data sources of the run and their status (every kind of report has one)."""
from __future__ import annotations

import pandas as pd

from ...runfolder import layout
from ...runfolder.layout import pointer
from .base import ALL_SOURCES, ReportRun, TableExhibit, fmt, frame_html, notice


def _tab_sources(run: ReportRun) -> str:
    rows = []
    for spec in run.sources:
        s = run.source_state(spec.name)
        rows.append({
            "Source": spec.label, "Status": (s.status if s else None) or "not recorded", "Reason": s.reason if s else None,
            "Data last updated": s.last_updated if s else None, "Records matched": fmt(s.total if s else None, "count"),
            "Records fetched": fmt(s.fetched if s else None, "count"), "Truncated": "yes" if s and s.truncated else "no",
        })
    body = frame_html(pd.DataFrame(rows), "tab-sources")
    where = run.status.where
    notes = [f"Data origin: {run.status.origin or 'not recorded'}" + (f" ({where})" if where else "")]
    if run.status.offline:
        notes.append("Offline run: cached responses only.")
    if run.synthetic:
        notes.append("SYNTHETIC DATA: the records are generated demonstration data.")
    return body + "".join(notice(n, "cer-source") for n in notes)


TABLES: tuple[TableExhibit, ...] = (
    TableExhibit("tab-sources", "Data sources and their status in this run", ALL_SOURCES,
          (pointer(layout.COLLECT_STATUS, "sources"),), (layout.COLLECT_STATUS,), _tab_sources),
)
