"""The audit log: one JSON line per API request.

Fields: ``time`` (UTC), ``level``, ``event`` (``http.request``), ``process`` and ``logger`` (as every
structured log line has them, `cer_lib.logs`), ``subject`` and ``role`` (from a valid token, else null), ``method``,
``path`` (without the query string), ``status``, ``job_id`` and ``code`` (when the request named
or created one), ``client`` (the peer address). Never a header, a token, a query string or a body, so
neither a bearer token nor the openFDA key can reach it. ``CER_AUDIT_LOG`` is a file (appended) or
``-`` for standard output (a container's log).
"""
from __future__ import annotations

import datetime as dt
import json
import sys
import threading
from pathlib import Path
from typing import Any, TextIO


class AuditLog:
    def __init__(self, target: str) -> None:
        self._lock = threading.Lock()
        if target == "-":
            self._stream: TextIO = sys.stdout
        else:
            path = Path(target)
            path.parent.mkdir(parents=True, exist_ok=True)
            self._stream = open(path, "a", encoding="utf-8", buffering=1)

    def write(self, *, subject: str | None, role: str | None, method: str, path: str, status: int,
              job_id: str | None, code: str | None, client: str | None) -> None:
        record: dict[str, Any] = {
            "time": dt.datetime.now(dt.timezone.utc).isoformat(timespec="milliseconds"),
            "level": "info", "event": "http.request", "process": "api", "logger": "cer.audit",
            "subject": subject, "role": role, "method": method, "path": path, "status": status,
            "job_id": job_id, "code": code, "client": client,
        }
        line = json.dumps(record, ensure_ascii=True)
        with self._lock:
            self._stream.write(line + "\n")
            self._stream.flush()
