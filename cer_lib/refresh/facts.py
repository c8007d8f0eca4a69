"""The facts of the change section and the feedback annex (fact builders of the device profile).

`change_facts` reads ``changes.json`` and `feedback_facts` reads ``feedback.json``, both written into
the run by the runner after stage 03 (`cer_lib.refresh.history`). A run without them (stages run by
hand in JupyterLab) has ``changes_recorded`` / ``feedback_recorded`` false and the sections say so.
Reviewer comments are facts of kind ``text``: the narrative prints them escaped, never as markup.
"""
from __future__ import annotations

from typing import Any

from ..runfolder import layout
from ..runfolder.layout import pointer

__all__ = ["change_facts", "feedback_facts"]


def change_facts(b: Any, run: Any) -> None:
    """``changes_*`` facts and the groups ``change`` (one sentence each) and ``change_count`` (per event type)."""
    changes = run.folder.read_json(layout.CHANGES, missing_ok=True)
    b.add("changes_recorded", changes is not None, "flag", layout.CHANGES)
    changes = changes or {}
    b.add("changes_first_report", bool(changes.get("first_report")), "flag", pointer(layout.CHANGES, "first_report"))
    b.add("changes_previous_run", changes.get("previous_run_id"), "text", pointer(layout.CHANGES, "previous_run_id"))
    b.add("changes_n_kinds", len(changes.get("kinds", [])), "count", pointer(layout.CHANGES, "kinds") + " (number of entries)")
    for n, sentence in enumerate(changes.get("summary", [])):
        b.add(f"change.{n}.text", sentence, "text", pointer(layout.CHANGES, "summary", n))
    for n, row in enumerate(changes.get("report_counts", [])):
        where = pointer(layout.CHANGES, "report_counts", n)
        b.add(f"change_count.{n}.event_type", row["event_type"], "text", where + "/event_type")
        b.add(f"change_count.{n}.previous", row["previous"], "count", where + "/previous")
        b.add(f"change_count.{n}.current", row["current"], "count", where + "/current")
        b.add(f"change_count.{n}.difference", row["difference"], "count", where + "/difference",
              text=f"{row['difference']:+,d}".replace("-", "\u2212"))


def feedback_facts(b: Any, run: Any) -> None:
    """``feedback_recorded``, ``n_open_feedback`` and the group ``feedback`` (one member per open comment)."""
    snapshot = run.folder.read_json(layout.FEEDBACK_SNAPSHOT, missing_ok=True)
    b.add("feedback_recorded", snapshot is not None, "flag", layout.FEEDBACK_SNAPSHOT)
    entries = (snapshot or {}).get("open", [])
    b.add("n_open_feedback", len(entries), "count", pointer(layout.FEEDBACK_SNAPSHOT, "open") + " (number of entries)")
    for n, entry in enumerate(entries):
        where = pointer(layout.FEEDBACK_SNAPSHOT, "open", n)
        b.add(f"feedback.{n}.id", entry["id"], "text", where + "/id")
        b.add(f"feedback.{n}.run_id", entry["run_id"], "text", where + "/run_id")
        b.add(f"feedback.{n}.author", entry["author"], "text", where + "/author")
        b.add(f"feedback.{n}.time", entry["time_utc"], "text", where + "/time_utc")
        b.add(f"feedback.{n}.section", entry.get("section"), "text", where + "/section")
        b.add(f"feedback.{n}.comment", entry["comment"], "text", where + "/comment")
