"""Structured logs: one JSON object per line from the API, the workers, Beat and the CLI (structlog).

`configure_logging` is called once per process (``cer serve``, each uvicorn worker, ``cer worker`` and
its pool processes, ``cer beat``, the CLI). It routes structlog and the standard library's logging
(uvicorn, Celery, everything else) through one renderer, so every line of a process has the same fields:

    {"time": "2026-11-30T20:31:02.118Z", "level": "info", "process": "worker", "logger": "cer.worker",
     "event": "stage.finished", "job_id": "0b6c…", "code": "HWC", "run_id": "20261130T…",
     "stage": "03_analyze", "duration": 12.4}

``job_id``, ``code``, ``run_id`` and ``stage`` are bound with `bind` (context variables) while a job or a
run is under way, so every line logged meanwhile carries them, Celery's own included. ``duration`` is in
seconds; ``outcome`` is succeeded, failed, retried or lost on the ``job.finished`` and ``report.finished``
events.

``CER_LOG_FORMAT``: ``json`` (one object per line), ``console`` (the same fields, human-readable, for a
terminal), or unset: JSON for the service's processes unless standard error is a terminal, and the
command line's own human-readable progress for the CLI. ``CER_LOG_LEVEL`` (default ``INFO``).

No secret reaches a line: before rendering, every text field has the values of the secret variables
(`SECRET_VARIABLES`, the password of ``CER_REDIS_URL``, credentials in a base URL) replaced by
``[redacted]``, and so is anything shaped like a bearer token or a JSON Web Token.
"""
from __future__ import annotations

import logging
import os
import re
import sys
from collections.abc import Iterable, Mapping
from typing import Any, TextIO

import structlog
from structlog.typing import EventDict, WrappedLogger

from .redact import split_userinfo

SECRET_VARIABLES = ("OPENFDA_API_KEY", "CER_JWT_SECRET", "CER_MANIFEST_KEY", "REDIS_PASSWORD")
URL_VARIABLES = ("CER_REDIS_URL", "OPENFDA_BASE_URL", "EUDAMED_BASE_URL")  # may carry user:password@
REDACTED = "[redacted]"
TOKEN_SHAPES = re.compile(
    r"(?i:bearer)\s+[A-Za-z0-9._~+/=-]{8,}"  # an Authorization header's value
    r"|eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*"  # a JWT (its header is base64 of '{"')
    r"|(?<=://)[^/\s:@]*:[^/\s@]+(?=@)"  # user:password@ in any URL
)
MIN_SECRET_LENGTH = 4  # shorter values would blank ordinary words
FORMATS = ("json", "console")
CONTEXT_FIELDS = ("job_id", "code", "run_id", "stage")
QUIET_LOGGERS = ("papermill", "weasyprint", "fontTools", "traitlets")  # their INFO lines repeat our stage events


def secret_values(environ: Mapping[str, str]) -> list[str]:
    """The secret values configured in ``environ``, longest first (so no part is replaced before its whole)."""
    values = {environ.get(name, "") for name in SECRET_VARIABLES}
    for name in URL_VARIABLES:
        credentials = split_userinfo(environ.get(name, ""))[1]
        if credentials:
            user, _, password = credentials.partition(":")
            values.update({password, user if not password else ""})
    return sorted((v for v in values if len(v) >= MIN_SECRET_LENGTH), key=len, reverse=True)


class Redact:
    """structlog processor: secrets and token-shaped text out of every string in the event."""

    def __init__(self, secrets: Iterable[str]) -> None:
        self.secrets = list(secrets)

    def text(self, value: str) -> str:
        for secret in self.secrets:
            value = value.replace(secret, REDACTED)
        return TOKEN_SHAPES.sub(REDACTED, value)

    def _clean(self, value: Any) -> Any:
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, dict):
            return {k: self._clean(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [self._clean(v) for v in value]
        return value

    def __call__(self, _: WrappedLogger, __: str, event: EventDict) -> EventDict:
        return {key: self._clean(value) for key, value in event.items()}


def chosen_format(process: str, stream: TextIO) -> str | None:
    """``json`` or ``console`` from ``CER_LOG_FORMAT``; unset: JSON unless a terminal (None for the CLI)."""
    asked = os.environ.get("CER_LOG_FORMAT", "").strip().lower()
    if asked:
        if asked not in FORMATS:
            raise ValueError(f"CER_LOG_FORMAT={asked[:20]!r}: choose json or console")
        return asked
    if process == "cli":
        return None
    return "console" if stream.isatty() else "json"


def configure_logging(process: str, *, stream: TextIO | None = None) -> str | None:
    """Send this process's logs (structlog and standard logging) to ``stream`` (standard error) in the
    chosen format; return the format (None: the CLI keeps its own human-readable output)."""
    stream = stream or sys.stderr
    fmt = chosen_format(process, stream)
    level = logging.getLevelName(os.environ.get("CER_LOG_LEVEL", "INFO").upper())
    level = level if isinstance(level, int) else logging.INFO
    shared = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True, key="time"),
        _add_process(process),
        structlog.processors.StackInfoRenderer(),
    ]
    renderer = (structlog.processors.JSONRenderer(ensure_ascii=True) if fmt != "console"
                else structlog.dev.ConsoleRenderer(colors=stream.isatty()))
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[structlog.stdlib.ExtraAdder(), *shared],
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                    structlog.processors.format_exc_info if fmt != "console" else _keep,
                    Redact(secret_values(os.environ)), renderer],
    )
    handler = logging.StreamHandler(stream)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    logging.captureWarnings(True)  # warnings.warn lines become log lines too
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(max(level, logging.WARNING))
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    return fmt


def _add_process(process: str):
    def add(_: WrappedLogger, __: str, event: EventDict) -> EventDict:
        event.setdefault("process", process)
        return event

    return add


def _keep(_: WrappedLogger, __: str, event: EventDict) -> EventDict:
    return event


def get_logger(name: str) -> structlog.stdlib.BoundLogger:
    return structlog.get_logger(name)


def bind(**fields: Any) -> None:
    """Fields on every line this context logs from now on (``job_id``, ``code``, ``run_id``, ``stage``)."""
    structlog.contextvars.bind_contextvars(**{k: v for k, v in fields.items() if v is not None})


def unbind(*fields: str) -> None:
    """Forget bound fields (default: all of `CONTEXT_FIELDS`) once a run or job is over."""
    structlog.contextvars.unbind_contextvars(*(fields or CONTEXT_FIELDS))
