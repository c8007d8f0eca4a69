"""The workers' counters (issue 16): what a run's request log says (`request_counts`), and what
``/metrics`` reads from Redis at a scrape: the queue's length, openFDA's 429s, the last success per code."""
from __future__ import annotations

import re

from prometheus_client import generate_latest

from cer_lib.provenance import Provenance
from cer_lib.service import store
from cer_lib.service.config import ServiceSettings
from cer_lib.service.metrics import ApiMetrics
from cer_lib.service.requestlog import RequestCounts, request_counts
from cer_lib.service.worker import TASK_NAME, celery_app
from service_stack import ServiceStack


def test_request_counts_read_cache_use_and_openfdas_429s(tmp_path):
    log = Provenance(tmp_path / "provenance")
    for source, status, cached in [("openfda", 200, True), ("openfda", 429, False), ("openfda", 429, False),
                                   ("openfda", 200, False), ("eudamed", 429, False), ("openfda", None, False)]:
        log.record_request(source=source, url="https://api.fda.gov/device/event.json", status=status, n_bytes=0,
                           sha256=None, from_cache=cached)
    # five answers (the connection failure has no status): one from the cache; two 429s from openFDA
    assert request_counts(tmp_path) == RequestCounts(cache_hits=1, cache_misses=4, openfda_rate_limited=2)


def test_metrics_show_queue_length_429s_and_last_success(monkeypatch, tmp_path):
    stack = ServiceStack(tmp_path)
    stack.start_redis()
    try:
        monkeypatch.setenv("CER_REDIS_URL", f"redis://127.0.0.1:{stack.redis_port}/0")
        monkeypatch.setenv("CER_JWT_SECRET", "m" * 40)
        settings = ServiceSettings.load()
        client = store.connect(settings)
        app = celery_app(settings)
        for _ in range(3):  # no worker runs: the jobs wait in the queue
            app.send_task(TASK_NAME, args=[{"code": "HWC", "kind": "product_code", "data_from": "mirror"}])
        store.count_rate_limited(client, 2)
        store.count_rate_limited(client, 0)
        store.note_success(client, "HWC", 1_796_000_000.4)
        text = generate_latest(ApiMetrics(client).registry).decode()
        assert 'cer_queue_length{queue="cer"} 3.0' in text
        assert "cer_openfda_rate_limited_total 2.0" in text
        assert 'cer_report_last_success_timestamp_seconds{code="HWC"} 1.7960000004e+09' in text  # the exact time, not rounded
    finally:
        stack.stop()


def test_a_job_failed_by_openfdas_429s_counts_them_and_the_failure(monkeypatch, tmp_path, httpserver):
    from types import SimpleNamespace

    import pytest
    from werkzeug import Response

    from cer_lib.service.jobs import JobFailed, JobSpec, run_job

    httpserver.expect_request(re.compile(r"^/device/.*")).respond_with_handler(
        lambda _: Response('{"error": {"code": "OVER_RATE_LIMIT"}}', status=429, headers={"Retry-After": "0"}))
    stack = ServiceStack(tmp_path)
    stack.start_redis()
    try:
        for name, value in {"CER_REDIS_URL": f"redis://127.0.0.1:{stack.redis_port}/0", "CER_JWT_SECRET": "m" * 40,
                            "CER_OUTPUTS_DIR": str(tmp_path / "outputs"), "CER_CACHE_DIR": str(tmp_path / "cache"),
                            "OPENFDA_BASE_URL": httpserver.url_for("/").rstrip("/"), "CER_JOB_RETRIES": "0"}.items():
            monkeypatch.setenv(name, value)
        settings = ServiceSettings.load()
        task = SimpleNamespace(request=SimpleNamespace(id="job-429", retries=0),
                               backend=SimpleNamespace(get_task_meta=lambda _: {"status": "PENDING"}),
                               update_state=lambda state, meta: None)
        with pytest.raises(JobFailed, match="429"):
            run_job(task, JobSpec("HWC", "product_code", "api", settings_overrides={"http": {"max_retries": 1}}), settings)
        client = store.connect(settings)
        counts = store.counters(client, "cer")
        assert counts["jobs"] == {"failed": "1"}
        assert int(counts["openfda"]["rate_limited"]) == len(httpserver.log) >= 2  # every 429 answer, retries too
    finally:
        stack.stop()
