"""A report job: checked on submission exactly as the command line checks a report, built by a worker
with the same `run_report`.

Submission (`check_submission`, in the API): the request becomes the overrides ``cer report`` would
build from ``--from``, ``--mirror`` and ``--set``, then `load_parameters` and `preflight` run on
them, so a bad code or parameter is refused before anything is queued, with the CLI's message.

Execution (`run_job`, in a worker):

1. A job whose previous delivery was running when its worker died (killed, out of memory) finds
   that run's folder still ``.tmp-`` and renames it ``.failed-``; after ``CER_JOB_REDELIVERIES``
   such losses it fails with that said.
2. A per-code lock in Redis: two jobs never write the same code's folder at once; the second waits
   (its stage says for what) up to ``CER_CODE_LOCK_WAIT`` seconds, then fails saying so.
3. `run_report` with a `StageTracker` progress callback: the task state carries the stage and run id.
4. A transient source error (openFDA unreachable or rate-limiting) is retried with exponential
   backoff and jitter, up to ``CER_JOB_RETRIES`` times; bad input never is. Failures carry the
   CLI's message (stage, cell, error), with paths shown relative to the outputs folder.
"""
from __future__ import annotations

import random
import re
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from celery.exceptions import SoftTimeLimitExceeded

from .. import logs
from ..errors import CerError, ParameterError, RateLimited, SourceUnavailable, StageFailed
from ..params import Parameters, deep_merge, load_parameters
from ..pipeline import preflight, run_report
from . import runs, store
from .config import ServiceError, ServiceSettings
from .requestlog import RequestCounts, request_counts
from .progress import StageTracker

# Celery task states beyond its own (PENDING, RETRY, SUCCESS, FAILURE)
WAITING, RUNNING = "WAITING", "RUNNING"
log = logs.get_logger("cer.worker")
TRANSIENT_ERRORS = (SourceUnavailable, RateLimited)
FIELD_PATH = re.compile(r"[a-z_][a-z0-9_]{0,40}(\.[a-z_][a-z0-9_]{0,40}){0,5}")
SET_REFUSED = {"code": "the code is its own field", "from": "use the 'from' field",
               "mirror": "choose a configured mirror by name in the 'mirror' field", "kind": "use the 'kind' field"}


class JobFailed(Exception):
    """A job that will not succeed; the message is what the client is shown."""


@dataclass(frozen=True)
class JobSpec:
    """What a worker needs to build one report (the Celery message's body)."""

    code: str
    kind: str
    data_from: str | None  # None: the parameters' default
    mirror: str | None = None
    settings_overrides: dict[str, Any] = field(default_factory=dict)

    def overrides(self, settings: ServiceSettings) -> dict[str, Any]:
        """The overrides ``cer report --from … --mirror … --set …`` would pass to `run_report`."""
        merged = dict(self.settings_overrides)
        if self.data_from:
            merged["from"] = self.data_from
        folder = settings.mirror_folder(self.mirror)
        if folder is not None:
            merged["mirror"] = str(folder)
        return merged

    def message(self) -> dict[str, Any]:
        return asdict(self)


def overrides_from_set(values: dict[str, Any]) -> dict[str, Any]:
    """``{"methods.forecast.horizon_months": 6}`` -> nested overrides, as ``--set`` builds them."""
    merged: dict[str, Any] = {}
    for path, value in values.items():
        if not FIELD_PATH.fullmatch(path):
            raise ParameterError(f"'set' key {path[:60]!r} is not a parameter path such as methods.forecast.horizon_months")
        top = path.split(".", 1)[0]
        if top in SET_REFUSED:
            raise ParameterError(f"'set' cannot change {top!r}: {SET_REFUSED[top]}")
        nested: Any = value
        for part in reversed(path.split(".")):
            nested = {part: nested}
        merged = deep_merge(merged, nested)
    return merged


def check_submission(code: str, kind: str, data_from: str | None, mirror: str | None,
                     set_values: dict[str, Any], settings: ServiceSettings) -> tuple[JobSpec, Parameters]:
    """The job to queue and its parameters, or `CerError` (`ServiceError` for an unknown mirror)."""
    if mirror is not None and data_from != "mirror":
        raise ParameterError("'mirror' names the mirror to read with \"from\": \"mirror\"; set both or neither")
    settings.mirror_folder(mirror)  # an unknown name is refused here
    nested = overrides_from_set(set_values)
    asked = JobSpec(code, kind, data_from, mirror, nested)
    params = load_parameters(code, kind=kind, overrides=asked.overrides(settings)).resolved()
    preflight(params, settings.core)
    spec = JobSpec(params.code, params.kind.value, params.data_from, mirror, nested)
    return spec, params


def folder_of(spec: JobSpec) -> str:
    return runs.code_folder(spec.code, spec.kind)


def is_transient(exc: BaseException) -> bool:
    """openFDA unreachable or refusing too many requests: worth trying again later."""
    if isinstance(exc, TRANSIENT_ERRORS):
        return True
    if isinstance(exc, StageFailed):
        return exc.error.split(":", 1)[0] in {cls.__name__ for cls in TRANSIENT_ERRORS}
    return False


def retry_delay(retries: int, base: float, *, cap: float = 3600.0) -> float:
    """Full-jitter exponential backoff: uniform in [base/2, min(cap, base * 2**retries)]."""
    ceiling = min(cap, base * 2**retries)
    return random.uniform(min(base / 2, ceiling), ceiling)


class JobState:
    """Reports a job's state to Celery's result backend (what ``GET /v1/jobs/{id}`` shows)."""

    def __init__(self, task: Any, meta: dict[str, Any]) -> None:
        self.task, self.meta = task, meta

    def set(self, state: str, **changes: Any) -> None:
        self.meta.update(changes)
        self.task.update_state(state=state, meta=self.meta)


def _previous_delivery(task: Any) -> dict[str, Any]:
    """The state a previous delivery of this job left: RUNNING or WAITING means its worker died."""
    previous = task.backend.get_task_meta(task.request.id)
    if previous.get("status") in (RUNNING, WAITING) and isinstance(previous.get("result"), dict):
        return previous["result"]
    return {}


class JobOutcome:
    """Counts a job's outcome in Redis and logs it (``job.finished``, or ``job.retried``) with the
    job's duration; counts openFDA's 429 answers of the run it made, if any."""

    def __init__(self, client: Any, outputs: Path, folder: str) -> None:
        self.client, self.outputs, self.folder = client, outputs, folder
        self.started = time.monotonic()

    def __call__(self, outcome: str, *, counts: RequestCounts | None = None, run_id: str | None = None,
                 error: str | None = None) -> None:
        """``counts`` of a finished run, or ``run_id`` of a failed one (its folder is read)."""
        store.count_job(self.client, outcome)
        if counts is None and run_id and (failed := runs.failed_folder(self.outputs, self.folder, run_id)).is_dir():
            counts = request_counts(failed)
        if counts is not None:
            store.count_rate_limited(self.client, counts.openfda_rate_limited)
        event = "job.retried" if outcome == "retried" else "job.finished"
        fields = {"outcome": outcome, "duration": round(time.monotonic() - self.started, 2)}
        if error:
            fields["error"] = error
        (log.info if outcome in ("succeeded", "retried") else log.error)(event, **fields)


def run_job(task: Any, spec: JobSpec, settings: ServiceSettings) -> dict[str, Any]:
    """Build one report for a Celery task; return what the job status shows on success."""
    logs.bind(job_id=task.request.id, code=spec.code)
    try:
        return _run_job(task, spec, settings)
    finally:
        logs.unbind()


def _run_job(task: Any, spec: JobSpec, settings: ServiceSettings) -> dict[str, Any]:
    client = store.connect(settings)
    outputs = settings.core.outputs_dir
    folder = folder_of(spec)
    job_id = task.request.id
    finish = JobOutcome(client, outputs, folder)
    log.info("job.started", kind=spec.kind, data_from=spec.data_from, mirror=spec.mirror, attempt=task.request.retries + 1)
    previous = _previous_delivery(task)
    lost = int(previous.get("lost", 0)) + (1 if previous else 0)
    state = JobState(task, {"stage": None, "run_id": None, "lost": lost})
    if previous:
        store.count_job(client, "lost")
        log.error("job.lost", outcome="lost", stage=previous.get("stage"), run_id=previous.get("run_id"), times=lost)
        kept = runs.mark_failed(outputs, folder, previous["run_id"]) if previous.get("run_id") else None
        where = f"; its run folder is kept as {runs.shown(outputs, kept)}" if kept else ""
        if lost > settings.job_redeliveries:
            message = (f"the worker building this report stopped during stage {previous.get('stage') or 'start'} "
                       f"(killed or out of memory) {lost} time(s){where}. Not tried again: submit it again, "
                       f"and if it recurs, give the workers more memory or time (CER_JOB_HARD_TIME_LIMIT).")
            finish("failed", error=message)
            raise JobFailed(message)
    lock = client.lock(store.LOCK_PREFIX + folder, timeout=settings.job_hard_time_limit + 60,
                       blocking_timeout=settings.code_lock_wait, thread_local=False)
    if client.get(lock.name) == job_id:
        client.delete(lock.name)  # held by this job's own lost delivery
    holder = client.get(lock.name)
    if holder:
        state.set(WAITING, stage=f"waiting for job {holder}, which is writing {folder}")
        log.info("job.waiting", holder=holder)
    if not lock.acquire(token=job_id):
        message = (f"another job ({client.get(lock.name) or 'now finished'}) kept writing {folder} for more than "
                   f"{settings.code_lock_wait} s (CER_CODE_LOCK_WAIT); nothing was run: submit again later")
        finish("failed", error=message)
        raise JobFailed(message)
    try:
        tracker = StageTracker(lambda t: state.set(RUNNING, stage=t.stage, run_id=t.run_id))
        state.set(RUNNING, stage="starting")
        try:
            result = run_report(spec.code, kind=spec.kind, overrides=spec.overrides(settings), settings=settings.core,
                                progress=tracker, command=["cer", "worker", "job", job_id])
        except SoftTimeLimitExceeded:
            kept = (f" Its run folder is kept as {runs.shown(outputs, runs.failed_folder(outputs, folder, tracker.run_id))}."
                    if tracker.run_id else "")
            message = (f"the report took longer than {settings.job_soft_time_limit} s (CER_JOB_SOFT_TIME_LIMIT) "
                       f"and was stopped during stage {tracker.stage or 'start'}.{kept}")
            finish("failed", run_id=tracker.run_id, error=message)
            raise JobFailed(message) from None
        except (CerError, ServiceError) as exc:
            message = runs.shown(outputs, str(exc))
            if is_transient(exc) and task.request.retries < settings.job_retries:
                finish("retried", run_id=tracker.run_id, error=message)
                delay = retry_delay(task.request.retries, settings.job_retry_backoff)
                raise task.retry(exc=JobFailed(message), countdown=delay, max_retries=settings.job_retries) from None
            finish("failed", run_id=tracker.run_id, error=message)
            raise JobFailed(message) from None
    finally:
        try:
            lock.release()
        except Exception:  # expired or taken over: nothing of ours to release
            pass
    run_dir = result.run_dir
    counts = request_counts(run_dir)
    store.count_stages(client, {s.stage: s.seconds for s in result.stages})
    store.count_cache_use(client, counts.cache_hits, counts.cache_misses)
    store.note_success(client, result.code, time.time())
    logs.bind(run_id=run_dir.name)
    finish("succeeded", counts=counts)
    return {"run_id": run_dir.name, "folder": folder, "code": result.code,
            "files": runs.servable_files(run_dir), "stage": "done"}
