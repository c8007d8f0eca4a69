"""The report service as real processes, for tests and benchmarks.

`ServiceStack` starts a ``redis-server`` on a free loopback port with its data in a temporary folder,
``cer worker`` processes (real Celery prefork workers) and ``cer serve`` (uvicorn), each with the same
``CER_*`` environment; `client()` is an httpx client over real HTTP. Every part can be stopped and
started again (the Redis data folder survives), and `stop()` ends every process it started and their
descendants (Jupyter kernels included).
"""
from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import psutil

from needs import missing

PROJECT_ROOT = Path(__file__).resolve().parents[1]
TEST_JWT_SECRET = "service-tests-" + "0123456789abcdef" * 3


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(check, timeout: float, what: str, interval: float = 0.2) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(interval)
    raise TimeoutError(f"{what} not within {timeout:.0f} s")


class ServiceStack:
    def __init__(self, root: Path, *, env: dict[str, str] | None = None) -> None:
        if shutil.which("redis-server") is None:
            missing("redis-server is not installed (Debian package redis-server; `.ci/run` installs it)")
        self.root = root
        root.mkdir(parents=True, exist_ok=True)
        self.redis_port, self.api_port = free_port(), free_port()
        self.outputs = root / "outputs"
        self.audit_log = root / "audit.jsonl"
        self.env = {
            **os.environ,
            "CER_REDIS_URL": f"redis://127.0.0.1:{self.redis_port}/0",
            "CER_API_PORT": str(self.api_port),
            "CER_JWT_SECRET": TEST_JWT_SECRET,
            "CER_OUTPUTS_DIR": str(self.outputs),
            "CER_AUDIT_LOG": str(self.audit_log),
            "PYTHONUNBUFFERED": "1",
            **(env or {}),
        }
        self.redis: subprocess.Popen[bytes] | None = None
        self.api: subprocess.Popen[bytes] | None = None
        self.workers: list[subprocess.Popen[bytes]] = []
        self._everything: list[psutil.Process] = []

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    def _log(self, name: str):
        return open(self.root / f"{name}.log", "ab")

    def _spawn(self, name: str, command: list[str]) -> subprocess.Popen[bytes]:
        log = self._log(name)
        process = subprocess.Popen(command, env=self.env, stdout=log, stderr=subprocess.STDOUT, cwd=PROJECT_ROOT)
        self._everything.append(psutil.Process(process.pid))
        return process

    # -- parts -----------------------------------------------------------------------------------

    def start_redis(self) -> None:
        data = self.root / "redis"
        data.mkdir(exist_ok=True)
        self.redis = self._spawn("redis", ["redis-server", "--bind", "127.0.0.1", "--port", str(self.redis_port),
                                           "--dir", str(data), "--appendonly", "yes", "--save", "",
                                           "--protected-mode", "yes"])
        wait_until(self.redis_answers, 10, "redis-server answering")

    def redis_answers(self) -> bool:
        import redis

        try:
            return bool(redis.Redis(port=self.redis_port, socket_connect_timeout=0.5).ping())
        except redis.exceptions.RedisError:
            return False

    def stop_redis(self) -> None:
        assert self.redis is not None
        self.redis.send_signal(signal.SIGTERM)  # as an operator's stop: the append-only file is flushed
        self.redis.wait(10)
        self.redis = None

    def start_worker(self, name: str | None = None) -> subprocess.Popen[bytes]:
        name = name or f"w{len(self.workers)}-{self.redis_port}@%h"
        worker = self._spawn(f"worker-{len(self.workers)}", [sys.executable, "-m", "cer_lib", "worker", "--name", name])
        self.workers.append(worker)
        return worker

    def start_api(self) -> None:
        self.api = self._spawn("api", [sys.executable, "-m", "cer_lib", "serve"])

        def healthy() -> bool:
            if self.api.poll() is not None:
                raise RuntimeError(f"cer serve exited: {(self.root / 'api.log').read_text()[-2000:]}")
            try:
                return httpx.get(f"{self.base_url}/healthz", timeout=1).status_code == 200
            except httpx.HTTPError:
                return False

        wait_until(healthy, 60, "the API answering /healthz")

    def wait_ready(self, timeout: float = 90) -> None:
        def ready() -> bool:
            return httpx.get(f"{self.base_url}/readyz", timeout=5).status_code == 200

        wait_until(ready, timeout, "GET /readyz 200 (Redis, a worker, outputs)", interval=0.5)

    def start(self, *, workers: int = 1) -> "ServiceStack":
        self.start_redis()
        for _ in range(workers):
            self.start_worker()
        self.start_api()
        if workers:
            self.wait_ready()
        return self

    # -- use -------------------------------------------------------------------------------------

    def token(self, subject: str, role: str) -> str:
        import jwt
        import datetime as dt

        now = dt.datetime.now(dt.timezone.utc)
        return jwt.encode({"sub": subject, "role": role, "iat": now, "exp": now + dt.timedelta(hours=2)},
                          TEST_JWT_SECRET, algorithm="HS256")

    def client(self, subject: str | None = None, role: str = "author", **options: Any) -> httpx.Client:
        headers = {"Authorization": f"Bearer {self.token(subject, role)}"} if subject else {}
        return httpx.Client(base_url=self.base_url, headers=headers, timeout=30, **options)

    def wait_for_job(self, client: httpx.Client, job_id: str, timeout: float = 900,
                     until: tuple[str, ...] = ("succeeded", "failed")) -> tuple[dict, list[str]]:
        """Poll a job until its status is in ``until``; return its last status and the stages seen."""
        stages: list[str] = []
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            answer = client.get(f"/v1/jobs/{job_id}")
            assert answer.status_code == 200, answer.text
            status = answer.json()
            if status.get("stage") and (not stages or stages[-1] != status["stage"]):
                stages.append(status["stage"])
            if status["status"] in until:
                return status, stages
            time.sleep(1.0)
        raise TimeoutError(f"job {job_id} not {until} within {timeout:.0f} s; last: {status}")

    def logs(self) -> str:
        return "\n".join(f"--- {p.name}\n{p.read_text(errors='replace')[-3000:]}" for p in sorted(self.root.glob("*.log")))

    def stop(self) -> None:
        """End every process started here, and their descendants, whatever state they are in."""
        alive = []
        for process in self._everything:
            try:
                alive += [process, *process.children(recursive=True)]
            except psutil.Error:
                pass
        for process in alive:
            try:
                process.terminate()
            except psutil.Error:
                pass
        _, still = psutil.wait_procs(alive, timeout=15)
        for process in still:
            try:
                process.kill()
            except psutil.Error:
                pass
        psutil.wait_procs(still, timeout=5)
