"""Problem profiles: the device and patient problem terms coded most often, and changes in their shares."""
from __future__ import annotations

from collections.abc import Callable

import pandas as pd

from ...runfolder.layout import ANALYSIS, pointer
from .base import FigureExhibit, ReportRun, TableExhibit, fmt, frame_html, notice


def _tab_problems(kind: str) -> Callable[[ReportRun], str]:
    def build(run: ReportRun) -> str:
        top = run.analysis.problems.top.get(kind, [])
        if not top:
            return notice(f"No {kind} problem terms for this run.", "cer-notice")
        unit = "Events" if run.analysis.event_counting.problems.applied else "Reports"  # reports of one event counted once
        frame = pd.DataFrame([{"Term": t.term, unit: fmt(t.n_reports, "count"),
                               f"Share of {unit.lower()}": fmt(t.share, "share")} for t in top])
        return frame_html(frame, f"tab-problems-{kind}")
    return build


def _tab_problem_changes(run: ReportRun) -> str:
    changes = run.analysis.problems.changes
    method = run.analysis.problems.method
    note = notice(f"Method: {method}", "cer-source") if method else ""
    if not changes:
        return notice("No share changes were tested.", "cer-notice") + note
    frame = pd.DataFrame([{
        "Type": c.problem_type, "Term": c.term, "Share, recent": fmt(c.share_recent, "share"),
        "Share, earlier": fmt(c.share_earlier, "share"), "p": fmt(c.p_value, "p_value"),
        "q (BH)": fmt(c.q_value, "p_value"), "Direction": c.direction,
        "Significant": "yes" if c.significant else "no",
    } for c in changes])
    return frame_html(frame, "tab-problem-changes") + note


TABLES: tuple[TableExhibit, ...] = (
    TableExhibit("tab-problems-device", "Device problem terms coded most often", ("device_event",),
          (pointer(ANALYSIS, "problems", "top", "device"),), (ANALYSIS,), _tab_problems("device")),
    TableExhibit("tab-problems-patient", "Patient problem terms coded most often", ("device_event",),
          (pointer(ANALYSIS, "problems", "top", "patient"),), (ANALYSIS,), _tab_problems("patient")),
    TableExhibit("tab-problem-changes", "Changes in the share per problem term", ("device_event",),
          (pointer(ANALYSIS, "problems", "changes"),), (ANALYSIS,), _tab_problem_changes),
)

FIGURES: tuple[FigureExhibit, ...] = (
    FigureExhibit("fig-top-problems", "top_problems", follows="tab-problem-changes", sources=("device_event",)),
)
