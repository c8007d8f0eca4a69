"""A job's stage, from the progress callback of `cer_lib.pipeline.run_report`.

`StageTracker` turns the pipeline's progress messages (parsed by `cer_lib.progress_events`) into the
run id and the current stage, hands each change to ``on_change`` (the job's state in Celery), and logs
every message as a structured event with the run id and stage bound (`cer_lib.progress_events.LoggedProgress`).
"""
from __future__ import annotations

from collections.abc import Callable

from ..progress_events import LoggedProgress, progress_event


class StageTracker:
    """The ``progress`` callback of one job."""

    def __init__(self, on_change: Callable[["StageTracker"], None]) -> None:
        self.run_id: str | None = None
        self.stage: str | None = None
        self._on_change = on_change
        self._log = LoggedProgress("cer.worker")

    def __call__(self, message: str) -> None:
        parsed = progress_event(message)
        self._log(message)
        if parsed is None:
            return
        event, fields = parsed
        if event == "run.started":
            self.run_id, self.stage = fields["run_id"], "starting"
        elif event == "stage.started":
            self.stage = fields["stage"]
        else:
            return
        self._on_change(self)
