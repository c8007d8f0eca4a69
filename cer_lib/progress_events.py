"""The pipeline's progress messages as events: what `cer_lib.pipeline.run_report` says, parsed once.

`run_report` reports through ``progress(message)``: ``"HWC: run <run-id> (from mirror)"`` when the run
folder exists, ``"  [2/5] 02_integrate ..."`` as each stage starts, ``"        done in 12.4 s"`` when
it ends, ``"  [+] assembling ..."`` before cer.html and cer.pdf, ``"HWC: finished in 176 s -> …"``
at the end. `progress_event` turns one message into ``(event, fields)``; `LoggedProgress` is a
progress callback that logs each as a structured line (the CLI's, with ``CER_LOG_FORMAT`` set) and
binds the run id and stage to the lines that follow.
"""
from __future__ import annotations

import re
from typing import Any

from . import logs

ASSEMBLE = "assemble"
PATTERNS = (
    ("run.started", re.compile(r"^(?P<code>\S+): run (?P<run_id>\S+) \(from (?P<data_from>\w+)\)")),
    ("stage.started", re.compile(r"\[\d+/\d+\] (?P<stage>\S+) \.\.\.")),
    ("stage.started", re.compile(r"\[\+\] (?P<stage>assembling)")),
    ("stage.finished", re.compile(r"^\s+done in (?P<duration>[\d.]+) s")),
    ("report.finished", re.compile(r"^(?P<code>\S+): finished in (?P<duration>[\d.]+) s -> (?P<run_dir>.+)$")),
    ("report.finished", re.compile(r"^(?P<code>\S+): FAILED: (?P<error>.+)$", re.DOTALL)),
)


def progress_event(message: str) -> tuple[str, dict[str, Any]] | None:
    """``(event, fields)`` of one progress message, or None for any other message."""
    for event, pattern in PATTERNS:
        if match := pattern.search(message):
            fields: dict[str, Any] = {k: v for k, v in match.groupdict().items() if v is not None}
            if fields.get("stage") == "assembling":
                fields["stage"] = ASSEMBLE
            if "duration" in fields:
                fields["duration"] = float(fields["duration"])
            if event == "report.finished":
                fields["outcome"] = "failed" if "error" in fields else "succeeded"
            return event, fields
    return None


class LoggedProgress:
    """A ``progress`` callback for `run_report` that logs structured events (CLI with JSON logs)."""

    def __init__(self, logger_name: str = "cer.cli") -> None:
        self.log = logs.get_logger(logger_name)

    def __call__(self, message: str) -> None:
        parsed = progress_event(message)
        if parsed is None:
            self.log.info(message.strip())
            return
        event, fields = parsed
        if event == "run.started":
            logs.bind(code=fields["code"], run_id=fields["run_id"])
        elif event == "stage.started":
            logs.bind(stage=fields.pop("stage"))
        if event == "report.finished" and fields["outcome"] == "failed":
            self.log.error(event, **fields)
        else:
            self.log.info(event, **fields)
        if event == "report.finished":
            logs.unbind("run_id", "stage")
