"""A job's stage, from the progress callback of `cer_lib.pipeline.run_report`.

`run_report` reports through ``progress(message)``: ``"HWC: run <run-id> (from mirror)"`` when the
run folder exists, ``"  [2/5] 02_integrate ..."`` as each stage starts, ``"  [+] assembling ..."``
before cer.html and cer.pdf. `StageTracker` turns these into the run id and the current stage and
hands each change to ``on_change``; every message also goes to the worker's log.
"""
from __future__ import annotations

import logging
import re
from collections.abc import Callable

RUN_STARTED = re.compile(r": run (?P<run_id>\S+) \(from ")
STAGE_STARTED = re.compile(r"\[\d+/\d+\] (?P<stage>\S+) \.\.\.")
ASSEMBLY_STARTED = re.compile(r"\[\+\] assembling")
ASSEMBLE = "assemble"

log = logging.getLogger("cer.worker")


class StageTracker:
    """The ``progress`` callback of one job."""

    def __init__(self, on_change: Callable[["StageTracker"], None]) -> None:
        self.run_id: str | None = None
        self.stage: str | None = None
        self._on_change = on_change

    def __call__(self, message: str) -> None:
        log.info("%s", message.strip())
        if match := RUN_STARTED.search(message):
            self.run_id, self.stage = match["run_id"], "starting"
        elif match := STAGE_STARTED.search(message):
            self.stage = match["stage"]
        elif ASSEMBLY_STARTED.search(message):
            self.stage = ASSEMBLE
        else:
            return
        self._on_change(self)
