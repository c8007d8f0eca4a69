"""The data sources of the run and their status (every kind of report has one)."""
from __future__ import annotations

from pathlib import PurePath

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
    # the API's base URL, or only the mirror folder's name: no path of the machine that made the run
    where = PurePath(run.status.mirror).name if run.status.mirror else run.status.base_url
    notes = [f"Data origin: {run.status.origin or 'not recorded'}" + (f" ({where})" if where else "")]
    if run.status.offline:
        notes.append("Offline run: cached responses only.")
    if run.synthetic:
        notes.append("SYNTHETIC DATA: the records are generated demonstration data.")
    return body + "".join(notice(n, "cer-source") for n in notes)


def _tab_mirror_load(run: ReportRun) -> str:
    """Per file of the mirror (`Mirror.load_report`, ``collected/mirror_load.json``): rows read, kept,
    repaired and rejected, the first rejected line with its reason, and why a file was refused."""
    load = run.folder.mirror_load()
    if load is None:
        return notice("Not a run from the local mirror: no file was loaded.", "cer-notice")
    rows = [{
        "File": f.path, "Format": f.layout or f.format, "Status": f.status,
        "Rows read": fmt(f.rows_read, "count"), "Kept": fmt(f.rows_kept, "count"),
        "Repaired": fmt(f.rows_repaired, "count") if f.rows_repaired else None,
        "Rejected": fmt(f.rows_rejected, "count"),
        "First rejection or refusal": f.refused or (f.rejected[0].describe() if f.rejected else None),
    } for f in load.files if f.status in ("loaded", "refused")]
    ignored = [f.path for f in load.files if f.status == "ignored"]
    unused = [f.path for f in load.files if f.status not in ("loaded", "refused", "ignored")]
    notes = [f"Largest share of rows a file may lose before it is refused: {load.max_rejected_share:.0%} "
             "(0 for the classification file); a refused file of a required source stops the run."]
    if unused:
        notes.append(f"{len(unused):,} further file{'s' if len(unused) != 1 else ''} of the mirror "
                     f"{'were' if len(unused) != 1 else 'was'} not needed by this run's queries and not read: {', '.join(unused)}.")
    if ignored:
        notes.append(f"Not read (no file format of the mirror reads them): {', '.join(ignored)}.")
    return frame_html(pd.DataFrame(rows), "tab-mirror-load") + "".join(notice(n, "cer-source") for n in notes)


TABLES: tuple[TableExhibit, ...] = (
    TableExhibit("tab-sources", "Data sources and their status in this run", ALL_SOURCES,
          (pointer(layout.COLLECT_STATUS, "sources"),), (layout.COLLECT_STATUS,), _tab_sources),
    TableExhibit("tab-mirror-load", "Files of the local mirror: rows read, kept and rejected", (),
          (pointer(layout.COLLECT_STATUS, "origin"), pointer(layout.MIRROR_LOAD, "files")),
          (layout.COLLECT_STATUS, layout.MIRROR_LOAD), _tab_mirror_load),
)
