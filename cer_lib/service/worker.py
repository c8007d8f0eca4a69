"""The Celery application and its one task, ``cer.report``: a thin wrapper around `run_job`.

Redis is the broker and the result backend. Delivery is at least once: a task is acknowledged only
when it has finished (``acks_late``); a pool process that dies mid-job (killed, out of memory) has
its task put back on the queue (``reject_on_worker_lost``); a worker asked to stop gives a running
job ``SOFT_SHUTDOWN_SECONDS`` and then puts it back too. Redis's visibility timeout, after which a
message taken by a worker that vanished whole is delivered again, is longer than the hard time
limit, so a job still running is never handed to a second worker.
"""
from __future__ import annotations

from typing import Any

from celery import Celery, signals

from ..logs import configure_logging
from ..refresh.beat import register_refresh_task
from .config import ServiceSettings
from .jobs import JobSpec, run_job
from .store import SOCKET_TIMEOUTS

TASK_NAME = "cer.report"
QUEUE = "cer"
SOFT_SHUTDOWN_SECONDS = 10.0


def celery_app(settings: ServiceSettings) -> Celery:
    """The Celery app for these settings, with the report task registered."""
    app = Celery("cer", broker=settings.redis_url, backend=settings.redis_url, set_as_current=False)
    app.conf.update(
        task_serializer="json",
        result_serializer="json",
        accept_content=["json"],
        task_default_queue=QUEUE,
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        worker_concurrency=settings.worker_concurrency,
        worker_soft_shutdown_timeout=SOFT_SHUTDOWN_SECONDS,
        worker_hijack_root_logger=False,  # JSON lines from cer_lib.logs, configured by the command
        task_soft_time_limit=settings.job_soft_time_limit,
        task_time_limit=settings.job_hard_time_limit,
        result_expires=settings.job_keep_days * 86400,
        broker_connection_retry_on_startup=True,
        broker_transport_options={"visibility_timeout": settings.job_hard_time_limit + 300, **SOCKET_TIMEOUTS},
        redis_socket_connect_timeout=SOCKET_TIMEOUTS["socket_connect_timeout"],
        redis_socket_timeout=SOCKET_TIMEOUTS["socket_timeout"],
        task_publish_retry_policy={"max_retries": 1, "interval_start": 0, "interval_step": 0.5, "interval_max": 0.5},
    )

    @app.task(bind=True, name=TASK_NAME)
    def build_report(task: Any, spec: dict[str, Any]) -> dict[str, Any]:
        return run_job(task, JobSpec(**spec), settings)

    register_refresh_task(app, settings)  # cer.refresh: what `cer beat` queues (cer_lib.refresh.beat)
    return app


@signals.setup_logging.connect
def _logging_is_configured_by_the_command(**_: Any) -> None:
    """Celery leaves logging alone when this signal has a receiver: `configure_logging` set it up."""


def run_worker(settings: ServiceSettings, *, name: str | None = None, concurrency: int | None = None) -> None:
    """Run one worker in the foreground (``cer worker``); JSON-line logs go to standard error."""
    log_format = configure_logging("worker")
    quiet = ["--quiet"] if log_format == "json" else []  # JSON lines only: no start-up banner
    argv = [*quiet, "worker", "--loglevel=INFO", f"--queues={QUEUE}", "--pool=prefork",
            f"--concurrency={concurrency or settings.worker_concurrency}", "--without-mingle", "--without-gossip"]
    if name:
        argv.append(f"--hostname={name}")
    celery_app(settings).worker_main(argv)


def run_beat(settings: ServiceSettings) -> None:
    """Run Celery Beat in the foreground (``cer beat``): queues the scheduled refreshes; JSON-line logs
    as the worker's (Celery leaves logging to `configure_logging`)."""
    from ..refresh.beat import run_beat as beat

    configure_logging("beat")

    beat(celery_app(settings), settings.core.cache_dir / "service" / "beat-schedule")
