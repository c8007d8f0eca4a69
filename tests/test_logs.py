"""Structured logs (`cer_lib.logs`, `cer_lib.progress_events`): one JSON object per line with the bound job
and run fields, standard-library records included, and no secret or token in any line."""
from __future__ import annotations

import io
import json
import logging

import pytest

from cer_lib import logs
from cer_lib.progress_events import LoggedProgress, progress_event

KEY, SECRET, PASSWORD = "FAKEKEY-logs-81c2d0", "jwt-" + "ab12" * 10, "redis-pw-77aa"
JWT = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJtZSIsInJvbGUiOiJhdXRob3IifQ.c2lnbmF0dXJlLWJ5dGVz"


@pytest.fixture
def json_logs(monkeypatch):
    monkeypatch.setenv("CER_LOG_FORMAT", "json")
    monkeypatch.setenv("OPENFDA_API_KEY", KEY)
    monkeypatch.setenv("CER_JWT_SECRET", SECRET)
    monkeypatch.setenv("CER_REDIS_URL", f"redis://:{PASSWORD}@redis:6379/0")
    stream = io.StringIO()
    assert logs.configure_logging("worker", stream=stream) == "json"
    yield stream
    logs.unbind()
    logging.getLogger().handlers.clear()


def lines(stream: io.StringIO) -> list[dict]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_bound_fields_reach_every_line_standard_logging_included(json_logs) -> None:
    logs.bind(job_id="job-1", code="HWC")
    progress = LoggedProgress("cer.worker")
    for message in ("HWC: run 20260101T000000Z-abc1234 (from mirror)", "  [3/5] 03_analyze ...", "        done in 12.5 s"):
        progress(message)
    logging.getLogger("celery.worker").info("Task %s received", "cer.report")
    records = lines(json_logs)
    assert [r["event"] for r in records] == ["run.started", "stage.started", "stage.finished", "Task cer.report received"]
    assert all(r["job_id"] == "job-1" and r["code"] == "HWC" and r["process"] == "worker" and r["time"].endswith("Z")
               for r in records)
    assert records[2]["stage"] == "03_analyze" and records[2]["duration"] == 12.5
    assert records[3]["run_id"] == "20260101T000000Z-abc1234" and records[3]["logger"] == "celery.worker"


def test_no_secret_or_token_survives_in_any_field(json_logs) -> None:
    log = logs.get_logger("cer.api")
    log.info("request", header=f"Bearer {JWT}", url=f"https://api.fda.gov/x?api_key={KEY}", nested={"k": [SECRET]})
    logging.getLogger("redis").warning("cannot reach redis://:%s@redis:6379/0 with %s", PASSWORD, KEY)
    try:
        raise ValueError(f"bad key {KEY}")
    except ValueError:
        logging.getLogger("cer.api").exception("failed with token %s", JWT)
    text = json_logs.getvalue()
    for needle in (KEY, SECRET, PASSWORD, JWT, JWT.split(".")[1]):
        assert needle not in text
    assert text.count(logs.REDACTED) >= 7 and "ValueError" in text  # the traceback stays, without the key


def test_console_format_for_a_terminal_and_bad_format_refused(monkeypatch) -> None:
    monkeypatch.setenv("CER_LOG_FORMAT", "xml")
    with pytest.raises(ValueError, match="choose json or console"):
        logs.configure_logging("api", stream=io.StringIO())
    monkeypatch.delenv("CER_LOG_FORMAT")
    assert logs.chosen_format("api", io.StringIO()) == "json" and logs.chosen_format("cli", io.StringIO()) is None


def test_progress_events_parse_the_pipelines_messages() -> None:
    assert progress_event("HWC: run 20260101T000000Z-abc1234 (from api)") == (
        "run.started", {"code": "HWC", "run_id": "20260101T000000Z-abc1234", "data_from": "api"})
    assert progress_event("  [+] assembling cer.html and cer.pdf ...") == ("stage.started", {"stage": "assemble"})
    assert progress_event("HWC: finished in 176 s -> outputs/HWC/x") == (
        "report.finished", {"code": "HWC", "duration": 176.0, "run_dir": "outputs/HWC/x", "outcome": "succeeded"})
    assert progress_event("LZG: FAILED: stage 03_analyze cell 4")[1]["outcome"] == "failed"
    assert progress_event("anything else") is None
