"""Celery Beat over ``parameters/schedules.yaml``: each entry queues a ``cer.refresh`` task when due.

`ScheduleFileScheduler` is Celery's persistent scheduler (last run times kept in
``<CER_CACHE_DIR>/service/beat-schedule``) whose entries come from the schedules file, re-read
whenever the file changes (``PUT /v1/schedules`` or an edit), at most `RELOAD_SECONDS` later; a file
that no longer validates is logged and the schedule in force is kept. The task runs in the ordinary
workers (`register_refresh_task`): `refresh_code` with the worker's settings, under the same per-code
lock as a report job, so a refresh and a submitted report of one code never write its folder at once.
"""
from __future__ import annotations

import logging
from dataclasses import asdict
from pathlib import Path
from typing import Any

from celery import Celery
from celery.beat import PersistentScheduler

from ..errors import CerError
from .schedules import Schedule, Schedules, load_schedules, schedules_file

__all__ = ["REFRESH_TASK", "ScheduleFileScheduler", "beat_schedule", "register_refresh_task", "run_beat"]

log = logging.getLogger("cer.refresh.beat")

REFRESH_TASK = "cer.refresh"
RELOAD_SECONDS = 5.0


def beat_schedule(schedules: Schedules) -> dict[str, dict[str, Any]]:
    """Celery Beat entries, one per scheduled code (queued on the app's default queue)."""
    return {f"refresh {entry.code}": {"task": REFRESH_TASK, "schedule": entry.celery_schedule(),
                                      "args": [entry.model_dump(mode="json", by_alias=True)]}
            for entry in schedules.schedules}


class ScheduleFileScheduler(PersistentScheduler):
    """Celery's persistent scheduler, its entries read from the schedules file and re-read when it changes."""

    def setup_schedule(self) -> None:
        super().setup_schedule()
        self._stamp: tuple[float, int] | None = None
        self._reload()

    def tick(self, *args: Any, **kwargs: Any) -> float:
        self._reload()
        return min(super().tick(*args, **kwargs), RELOAD_SECONDS)

    def _reload(self) -> None:
        path = schedules_file()
        stat = path.stat() if path.is_file() else None
        stamp = (stat.st_mtime, stat.st_size) if stat else None
        if stamp == self._stamp and self._stamp is not None:
            return
        try:
            entries = beat_schedule(load_schedules(path))
        except CerError as exc:
            log.error("%s is not valid, keeping the schedule in force: %s", path, exc)
            self._stamp = stamp
            return
        self._stamp = stamp
        self.merge_inplace(entries)
        log.info("schedules from %s: %s", path, ", ".join(sorted(entries)) or "none")


def register_refresh_task(app: Celery, settings: Any) -> None:
    """Add ``cer.refresh`` to the workers' Celery app (``settings``: the `ServiceSettings`)."""

    @app.task(bind=True, name=REFRESH_TASK)
    def refresh(task: Any, entry: dict[str, Any]) -> dict[str, Any]:
        from ..params import load_parameters
        from ..service import runs, store
        from .refresh import refresh_code

        target = Schedule.model_validate(entry)  # the schedule entry Beat sent
        params = load_parameters(target.code, kind=target.kind)
        folder = runs.code_folder(params.code, params.kind.value)
        client = store.connect(settings)
        lock = client.lock(store.LOCK_PREFIX + folder, timeout=settings.job_hard_time_limit + 60,
                           blocking_timeout=settings.code_lock_wait, thread_local=False)
        if not lock.acquire(token=task.request.id):
            raise RuntimeError(f"another job kept writing {folder} for more than {settings.code_lock_wait} s "
                               f"(CER_CODE_LOCK_WAIT); this refresh was not run")
        try:
            outcome = refresh_code(target, settings=settings.core, mirror_folder=settings.mirror_folder,
                                   command=["cer", "beat", "refresh", task.request.id or ""])
        finally:
            try:
                lock.release()
            except Exception:  # expired or taken over: nothing of ours to release
                pass
        return asdict(outcome)


def run_beat(app: Celery, state_file: Path) -> None:
    """Run Celery Beat in the foreground (``cer beat``) with the schedules-file scheduler."""
    state_file.parent.mkdir(parents=True, exist_ok=True)
    app.conf.beat_max_loop_interval = RELOAD_SECONDS
    app.Beat(scheduler=ScheduleFileScheduler, schedule=str(state_file), loglevel="INFO").run()
