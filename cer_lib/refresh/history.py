"""What a new run records of its code's history, after stage 03 and before the narrative.

`record_history` writes ``changes.json`` (`cer_lib.refresh.changes`: against the code's latest
finished run) and ``feedback.json`` (`cer_lib.refresh.feedback`: open reviewer feedback on earlier
runs) into the run in progress; the narrative's change section and feedback annex, and the book,
read them from there, and the manifest hashes them with the rest of the run.
"""
from __future__ import annotations

from ..runfolder import CodeFolder, RunFolder
from .changes import record_changes
from .feedback import record_open_feedback

__all__ = ["record_history"]


def record_history(run: RunFolder, code: CodeFolder) -> None:
    """``changes.json`` and ``feedback.json`` for ``run`` (in progress) of ``code``."""
    record_changes(run, code.latest())
    record_open_feedback(run, code)
