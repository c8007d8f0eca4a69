"""How to reproduce the run: commands and code version, effective parameters, the data requests (every kind)."""
from __future__ import annotations

import pandas as pd

from ...runfolder import layout
from ...provenance import redact_url
from ...runfolder import RunRecord
from .base import ALL_SOURCES, ReportRun, TableExhibit, esc, fmt, frame_html, notice


def _tab_reproduce(run: ReportRun) -> str:
    record = run.run or RunRecord(run_id=run.folder.run_id, code="", kind="")
    version = record.code_version
    rows = [("Run", record.run_id if run.run else None), ("Command that made this run", record.command)]
    rows += [(f"Reproduce, step {i}", cmd) for i, cmd in enumerate(record.reproduce, start=1)]
    rows += [
        ("Git commit", version.git_commit),
        ("Uncommitted changes at run time", {True: "yes: the commit alone does not reproduce this run", False: "no"}.get(version.dirty, "unknown")),
        ("Dependency lock (sha256 of requirements.lock)", version.lock_sha256),
        ("cer-notebooks version", record.tool_version),
        ("Started (UTC)", record.started_utc),
    ]
    return frame_html(pd.DataFrame(rows, columns=["Item", "Value"]), "tab-reproduce")


def _tab_parameters(run: ReportRun) -> str:
    path = run.folder.file(layout.PARAMETERS)
    text = path.read_text(encoding="utf-8") if path.is_file() else f"({layout.PARAMETERS} not found)"
    return f'<pre class="cer-pre" id="tab-parameters-data">{esc(text)}</pre>'


def _tab_requests(run: ReportRun) -> str:
    if not run.requests:
        return notice(f"No data requests were recorded ({layout.REQUESTS} is empty or missing).", "cer-notice")
    frame = pd.DataFrame([{
        "Source": r.get("source"), "URL (no key)": redact_url(str(r.get("url") or "")), "Time (UTC)": r.get("time"),
        "HTTP status": r.get("status"), "Bytes": fmt(r.get("bytes"), "count"), "sha256": r.get("sha256"),
        "Data last updated": r.get("last_updated"), "From cache": "yes" if r.get("from_cache") else "no",
        "Error": r.get("error"),
    } for r in run.requests])
    return frame_html(frame, "tab-requests")


TABLES: tuple[TableExhibit, ...] = (
    TableExhibit("tab-reproduce", "How to reproduce this report", (), (layout.RUN_RECORD,), (layout.RUN_RECORD,),
          _tab_reproduce),
    TableExhibit("tab-parameters", f"Effective parameters of this run ({layout.PARAMETERS})", (), (layout.PARAMETERS,),
          (layout.PARAMETERS,), _tab_parameters),
    TableExhibit("tab-requests", "Data requests of this run", ALL_SOURCES, (layout.REQUESTS,), (layout.REQUESTS,),
                 _tab_requests),
)
