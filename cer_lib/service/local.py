"""``cer serve --all`` (``make serve``): Redis, one worker and the API on one machine, in the foreground.

Redis is started from the Debian ``redis-server`` program unless ``CER_REDIS_URL`` already answers,
on the URL's loopback port (6379 by default), with its data under ``.cache/service/redis`` in an
append-only file, so queued jobs and results survive a restart. The worker and the API are this
program's children in its process group: Ctrl-C reaches them and the worker puts a running job back
on the queue (it runs again at the next start) before it exits. Redis runs in its own process group,
so it stops last, after they have written to it; it is also told to exit if this program dies.
Anything still running after the grace period is killed, descendants included (no orphans).
"""
from __future__ import annotations

import ctypes
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

import psutil
import redis

from .config import ServiceError, ServiceSettings

GRACE_SECONDS = 30.0
PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def _redis_answers(url: str) -> bool:
    try:
        return bool(redis.Redis.from_url(url, socket_connect_timeout=1).ping())
    except redis.exceptions.RedisError:
        return False


def start_redis(url: str, data_dir: Path) -> subprocess.Popen[bytes]:
    """A ``redis-server`` for ``url`` (a loopback address), data in ``data_dir``."""
    parts = urlsplit(url)
    if parts.hostname not in ("127.0.0.1", "localhost", "::1"):
        raise ServiceError(f"CER_REDIS_URL names {parts.hostname}, which does not answer; "
                           f"`cer serve --all` only starts a Redis on this machine (127.0.0.1)")
    program = shutil.which("redis-server")
    if program is None:
        raise ServiceError("redis-server is not installed: `make serve` installs it (Debian: apt-get install redis-server)")
    data_dir.mkdir(parents=True, exist_ok=True)
    command = [program, "--bind", "127.0.0.1", "--port", str(parts.port or 6379), "--dir", str(data_dir),
               "--appendonly", "yes", "--save", "", "--daemonize", "no", "--protected-mode", "yes"]
    process = subprocess.Popen(command, process_group=0, preexec_fn=_die_with_parent)
    for _ in range(100):
        if _redis_answers(url):
            return process
        if process.poll() is not None:
            raise ServiceError(f"redis-server exited at start (status {process.returncode}); see its messages above")
        time.sleep(0.1)
    process.terminate()
    raise ServiceError("redis-server did not answer within 10 s")


def _stop(processes: list[subprocess.Popen[bytes]], sig: int) -> None:
    for process in processes:
        if process.poll() is None:
            try:
                process.send_signal(sig)
            except ProcessLookupError:
                pass


def _wait(processes: list[subprocess.Popen[bytes]], seconds: float) -> None:
    deadline = time.monotonic() + seconds
    for process in processes:
        try:
            process.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            pass


def run_local_stack(settings: ServiceSettings) -> int:
    """Start everything, wait for Ctrl-C (or any part to exit), then stop everything; exit status."""
    url = settings.redis_url
    env = {**os.environ, "CER_REDIS_URL": url, "PYTHONUNBUFFERED": "1"}
    if not settings.jwt_public_key:
        settings.hs256_secret(create=True)  # before the API and `cer token` both look for it
    redis_process = None
    if _redis_answers(url):
        print(f"==> using the Redis already answering on {urlsplit(url).hostname}:{urlsplit(url).port or 6379}", flush=True)
    else:
        redis_process = start_redis(url, settings.core.cache_dir / "service" / "redis")
        print(f"==> redis-server started (pid {redis_process.pid})", flush=True)
    cer = [sys.executable, "-m", "cer_lib"]
    worker = subprocess.Popen([*cer, "worker", "--name", "cer-local@%h"], env=env)
    api = subprocess.Popen([*cer, "serve"], env=env)
    print(f"==> worker (pid {worker.pid}) and API (pid {api.pid}) on http://{settings.api_host}:{settings.api_port} "
          f"(docs: /docs); Ctrl-C stops all of it", flush=True)
    children = [api, worker]
    stopping = False

    def on_signal(signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    while not stopping and all(p.poll() is None for p in children):
        time.sleep(0.2)
    descendants = _descendants()
    _stop(children, signal.SIGTERM)  # a terminal's Ctrl-C reached them already; a SIGTERM to us did not
    _wait(children, GRACE_SECONDS)
    if redis_process is not None:
        redis_process.terminate()  # saves the append-only file and exits
        _wait([redis_process], 10)
    for process in _descendants() + descendants:
        try:
            process.kill()
        except psutil.Error:
            pass
    status = 0 if stopping else 1
    if not stopping:
        print("==> a part of the service stopped by itself; the rest was stopped", file=sys.stderr)
    return status


def _descendants() -> list[psutil.Process]:
    try:
        return psutil.Process().children(recursive=True)
    except psutil.Error:
        return []
