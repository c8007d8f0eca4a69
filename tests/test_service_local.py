"""``make serve``: Redis, a worker and the API start together, answer, and Ctrl-C stops every process
it started (no orphans), with the Redis data kept for the next start."""
from __future__ import annotations

import os
import signal
import subprocess

import httpx
import psutil
import pytest

from service_stack import PROJECT_ROOT, free_port, wait_until

pytestmark = pytest.mark.slow


def test_make_serve_starts_everything_and_ctrl_c_stops_it_all(tmp_path):
    redis_port, api_port = free_port(), free_port()
    env = {**os.environ, "CER_REDIS_URL": f"redis://127.0.0.1:{redis_port}/0", "CER_API_PORT": str(api_port),
           "CER_CACHE_DIR": str(tmp_path / "cache"), "CER_OUTPUTS_DIR": str(tmp_path / "outputs")}
    log = open(tmp_path / "serve.log", "wb")
    serve = subprocess.Popen(["make", "-s", "serve"], cwd=PROJECT_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
                             start_new_session=True)  # its own process group, as a terminal's foreground job
    try:
        def ready() -> bool:
            try:
                return httpx.get(f"http://127.0.0.1:{api_port}/readyz", timeout=5).status_code == 200
            except httpx.HTTPError:
                return False

        wait_until(ready, 120, "make serve ready (Redis, worker, API)", interval=0.5)
        started = psutil.Process(serve.pid).children(recursive=True)
        names = " ".join(" ".join(p.cmdline()) for p in started)
        assert "redis-server" in names and "cer_lib worker" in names and "cer_lib serve" in names
        token = subprocess.run([str(PROJECT_ROOT / ".venv/bin/cer"), "token", "--subject", "me", "--role", "viewer"],
                               env=env, capture_output=True, text=True, check=True).stdout.strip()
        codes = httpx.get(f"http://127.0.0.1:{api_port}/v1/codes", headers={"Authorization": f"Bearer {token}"})
        assert codes.status_code == 200 and codes.json() == []

        os.killpg(serve.pid, signal.SIGINT)  # Ctrl-C in the terminal
        # make ends as Ctrl-C ends it (killed by SIGINT, once its recipe has finished)
        assert serve.wait(90) in (0, -signal.SIGINT), (tmp_path / "serve.log").read_text()[-3000:]
        text = (tmp_path / "serve.log").read_text()
        assert text.index("Warm shutdown") < text.index("Redis is now ready to exit")  # Redis stops last
        _, alive = psutil.wait_procs(started, timeout=10)
        assert alive == [], f"left running: {[p.cmdline() for p in alive]}"
        assert (tmp_path / "cache" / "service" / "redis" / "appendonlydir").is_dir()  # the queue's data is kept
    finally:
        if serve.poll() is None:
            os.killpg(serve.pid, signal.SIGKILL)
