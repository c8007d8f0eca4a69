"""Reviewer feedback on a finished run: append-only JSON lines beside the run, never inside it.

A comment is kept in ``outputs/<CODE>/_feedback/<run-id>/feedback.jsonl`` (`CodeFolder.feedback_dir`):
outside the run folder, so the run's manifest and ``cer verify`` are untouched by it. Each line is one
`FeedbackEntry` (id, run, author and role from the token, UTC time, the comment, optionally the report
section it is about, or the id of an earlier entry it resolves). Lines are only ever appended, under
an exclusive lock, so concurrent posts never interleave and nothing is rewritten.

An entry is **open** until a later entry resolves it. `open_feedback` gathers the open entries on
every finished run of a code before a given run; the runner snapshots them into the new run
(``feedback.json``, hashed with the rest) so its annex lists them as they stood when it was built.
"""
from __future__ import annotations

import datetime as dt
import fcntl
import json
import os
import secrets
from pathlib import Path

from pydantic import BaseModel, Field, ValidationError

from ..errors import RunFileInvalid
from ..runfolder import CodeFolder, RunFolder, layout

__all__ = ["FeedbackEntry", "add_feedback", "open_feedback", "read_feedback", "record_open_feedback"]

FEEDBACK_FILE = "feedback.jsonl"
MAX_COMMENT = 5000


class FeedbackEntry(BaseModel):
    """One reviewer comment (or the resolution of one)."""

    id: str
    run_id: str
    author: str = Field(max_length=200)
    role: str
    time_utc: str
    comment: str = Field(min_length=1, max_length=MAX_COMMENT)
    section: str | None = Field(None, max_length=80)
    resolves: str | None = None


def _file(code: CodeFolder, run_id: str) -> Path:
    return code.feedback_dir(run_id) / FEEDBACK_FILE


def add_feedback(code: CodeFolder, run_id: str, *, author: str, role: str, comment: str,
                 section: str | None = None, resolves: str | None = None) -> FeedbackEntry:
    """Append one entry to a finished run's feedback; `RunFileInvalid` for an unknown run or entry."""
    if resolves is not None and resolves not in {e.id for e in read_feedback(code, run_id)}:
        raise RunFileInvalid(f"run {run_id} of {code.slug} has no feedback entry {resolves[:40]!r} to resolve")
    entry = FeedbackEntry(id=secrets.token_hex(6), run_id=code.run(run_id).run_id, author=author, role=role,
                          time_utc=dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
                          comment=comment.strip(), section=section, resolves=resolves)
    path = _file(code, run_id)
    path.parent.mkdir(parents=True, exist_ok=True)
    line = (json.dumps(entry.model_dump(mode="json"), ensure_ascii=False) + "\n").encode("utf-8")
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        os.write(fd, line)
        os.fsync(fd)
    finally:
        os.close(fd)  # closing releases the lock
    return entry


def read_feedback(code: CodeFolder, run_id: str) -> list[FeedbackEntry]:
    """Every entry on one finished run, oldest first."""
    path = _file(code, run_id)
    if not path.is_file():
        return []
    entries = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            entries.append(FeedbackEntry.model_validate_json(line))
        except ValidationError as exc:
            raise RunFileInvalid(f"{path}, line {number}: not a feedback entry ({exc.errors()[0]['msg']})") from None
    return entries


def open_feedback(code: CodeFolder, before_run_id: str | None = None) -> list[FeedbackEntry]:
    """Open entries (comments no later entry resolves) on the code's finished runs before ``before_run_id``."""
    runs = [r for r in reversed(code.runs()) if before_run_id is None or r.run_id < before_run_id]
    entries = [e for run in runs for e in read_feedback(code, run.run_id)]
    resolved = {e.resolves for e in entries if e.resolves}
    return [e for e in entries if e.resolves is None and e.id not in resolved]


def record_open_feedback(run: RunFolder, code: CodeFolder) -> list[FeedbackEntry]:
    """Snapshot the open feedback on earlier runs into a run in progress (``feedback.json``)."""
    entries = open_feedback(code, run.run_id)
    run.write_json(layout.FEEDBACK_SNAPSHOT, {"schema_version": 1, "open": [e.model_dump(mode="json") for e in entries]})
    return entries
