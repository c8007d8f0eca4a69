"""The service when its parts fail: Redis stopped and restarted, a worker killed in the middle of a job.

Real processes (redis-server, a Celery worker, uvicorn). One job is submitted while no worker runs,
survives a Redis restart, and is then the job whose worker gets killed.
"""
from __future__ import annotations

import signal

import httpx
import psutil
import pytest
import redis

from service_stack import ServiceStack, wait_until

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    stack = ServiceStack(tmp_path_factory.mktemp("faults"),
                         env={"CER_JOB_REDELIVERIES": "0", "CER_JOB_RETRIES": "0"})
    stack.start_redis()
    stack.start_api()
    try:
        yield stack
    finally:
        stack.stop()


@pytest.fixture(scope="module")
def queued_job(stack):
    author = stack.client("alice")
    answer = author.post("/v1/reports", json={"code": "HWC", "from": "mirror"})
    assert answer.status_code == 202, answer.text
    return answer.json()["job_id"]


def test_redis_stopped_readyz_503_submit_503_and_nothing_lost_after_restart(stack, queued_job):
    author = stack.client("alice")
    not_ready = httpx.get(f"{stack.base_url}/readyz")
    assert not_ready.status_code == 503 and not_ready.json()["checks"]["workers"].startswith("no worker answered")

    stack.stop_redis()
    down = httpx.get(f"{stack.base_url}/readyz", timeout=30)
    assert down.status_code == 503
    assert down.json()["checks"]["redis"].startswith("unreachable") and down.json()["status"] == "not ready"
    refused = author.post("/v1/reports", json={"code": "HWC", "from": "mirror"})
    assert refused.status_code == 503 and refused.headers["retry-after"] == "60"
    assert "Redis) is unreachable, so nothing was done" in refused.json()["detail"]
    assert author.get(f"/v1/jobs/{queued_job}").status_code == 503
    assert httpx.get(f"{stack.base_url}/healthz").status_code == 200  # alive, only not ready

    stack.start_redis()  # same port, same data folder
    status = author.get(f"/v1/jobs/{queued_job}")
    assert status.status_code == 200 and status.json()["status"] == "queued"
    assert redis.Redis(port=stack.redis_port).llen("cer") == 1  # the queued message survived
    again = author.post("/v1/reports", json={"code": "HWZ", "from": "mirror"})
    assert again.status_code == 422  # answering again (the token's rate limit reads Redis)


def test_worker_killed_mid_job_fails_it_plainly_never_latest(stack, queued_job):
    author = stack.client("alice")
    worker = psutil.Process(stack.start_worker().pid)

    def deep_in_the_job():
        status = author.get(f"/v1/jobs/{queued_job}").json()
        return status if status["status"] == "running" and status.get("stage") in ("02_integrate", "03_analyze") else None

    running = wait_until(deep_in_the_job, 300, "the job running stage 02 or 03", interval=0.5)
    run_id = running["run_id"]
    assert (stack.outputs / "HWC" / f".tmp-{run_id}").is_dir()
    pool = [p for p in worker.children() if any("ipykernel" in " ".join(k.cmdline()) for k in p.children(recursive=True))]
    assert len(pool) == 1, "the pool process running the job"
    kernels = pool[0].children(recursive=True)
    pool[0].send_signal(signal.SIGKILL)  # as the kernel's OOM killer would

    failed, _ = stack.wait_for_job(author, queued_job, timeout=120)
    assert failed["status"] == "failed", failed
    assert "stopped during stage" in failed["error"] and "killed or out of memory" in failed["error"]
    assert f"outputs/HWC/.failed-{run_id}" in failed["error"]
    code_dir = stack.outputs / "HWC"
    assert (code_dir / f".failed-{run_id}").is_dir()
    assert not list(code_dir.glob(".tmp-*")) and not (code_dir / "latest").exists()
    assert not [p for p in code_dir.iterdir() if not p.name.startswith(".")]  # no finished run
    gone, alive = psutil.wait_procs(kernels, timeout=15)
    assert not alive, "the killed job's kernel exits with its parent"
    assert worker.is_running()  # the worker itself carries on with a new pool process
    metrics = httpx.get(f"{stack.base_url}/metrics").text
    assert 'cer_jobs_total{outcome="lost"} 1.0' in metrics and 'cer_jobs_total{outcome="failed"} 1.0' in metrics
