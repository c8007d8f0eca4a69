"""The parts of the refresh (issue 15), each on its own: change summary, data fingerprints, schedules,
webhook signatures, delivery with retries, reviewer feedback, the Beat scheduler's reloading.

Real components where there is one: pytest-httpserver as the webhook receiver and as openFDA
(`openfda_server`), `openssl` to compute a webhook signature independently of our code.
"""
from __future__ import annotations

import datetime as dt
import json
import shutil
import subprocess
import threading
from pathlib import Path

import pytest

from cer_lib.errors import ParameterError, RunFileInvalid
from cer_lib.params import load_parameters
from cer_lib.refresh.changes import RunSnapshot, summarise_changes
from cer_lib.refresh.feedback import add_feedback, open_feedback, read_feedback
from cer_lib.refresh.fingerprint import Fingerprint, current_fingerprint, data_differences
from cer_lib.refresh.notify import Notification, NotifySettings, WebhookNotifier, deliver, sign, verify_signature
from cer_lib.refresh.schedules import Schedules, Subscription, load_schedules, parse_schedules
from cer_lib.runfolder import AnalysisFile, CodeFolder, layout
from cer_lib.settings import Settings
from openfda_server import serve_openfda

SECRET = "parts-" + "0123456789abcdef" * 2


# -- the change summary ------------------------------------------------------------------------


def analysis(signals: list[tuple[str, str, str]], change_points: list[str], primary: str, injury: str,
             totals: dict[str, int]) -> AnalysisFile:
    return AnalysisFile.model_validate({
        "meta": {"window": {"start": "2015-01-01", "end": "2024-12-31"}, "as_of": "2024-12-01"},
        "monthly_counts": {"totals": totals},
        "trend": {"primary": {"verdict": primary}, "by_event_type": {"Injury": {"verdict": {"verdict": injury}}}},
        "change_points": [{"date": d, "rate_before": 1.0, "rate_after": 2.0} for d in change_points],
        "signals": {"rows": [{"problem_type": t, "product": p, "term": term, "signal": True} for t, p, term in signals]
                    + [{"problem_type": "device", "product": "ZZZ", "term": "Noise", "signal": False}]},
    })


def test_change_summary_names_every_kind_of_change():
    before = RunSnapshot("run-1", analysis([("device", "ABC", "Break"), ("patient", "ABC", "Pain")], ["2019-05-01"],
                                           "no increase", "no increase", {"all": 10, "Injury": 4, "Malfunction": 6}),
                         recall_keys=frozenset({"R1"}), enforcement_numbers=frozenset(),
                         parameters={"window": {"end": "2024-12-31"}, "methods": {"alpha": 0.05}},
                         code_version={"git_commit": "aaa", "tool_version": "0.3"},
                         fingerprint=Fingerprint("mirror", "/m", {"events.json": "1" * 64}))
    after = RunSnapshot("run-2", analysis([("patient", "ABC", "Pain"), ("device", "DEF", "Leak")],
                                          ["2019-05-01", "2024-02-01"], "increase", "no increase",
                                          {"all": 13, "Injury": 7, "Malfunction": 6}),
                        recall_keys=frozenset({"R1", "R2"}), enforcement_numbers=frozenset({"Z-1"}),
                        parameters={"window": {"end": "2025-01-31"}, "methods": {"alpha": 0.05}},
                        code_version={"git_commit": "bbb", "tool_version": "0.3"},
                        fingerprint=Fingerprint("mirror", "/m", {"events.json": "2" * 64}))
    c = summarise_changes(before, after)
    assert c["previous_run_id"] == "run-1" and c["first_report"] is False
    assert c["signals"] == {"new": [{"problem_type": "device", "product": "DEF", "term": "Leak"}],
                            "closed": [{"problem_type": "device", "product": "ABC", "term": "Break"}]}
    assert [p["date"] for p in c["change_points"]["new"]] == ["2024-02-01"]
    assert c["trend_verdicts"] == [{"test": "primary", "before": "no increase", "after": "increase"}]
    assert c["recalls"] == {"new": ["R2"]} and c["enforcement"] == {"new": ["Z-1"]}
    assert c["report_counts"] == [{"event_type": "all", "previous": 10, "current": 13, "difference": 3},
                                  {"event_type": "Injury", "previous": 4, "current": 7, "difference": 3},
                                  {"event_type": "Malfunction", "previous": 6, "current": 6, "difference": 0}]
    assert c["parameters"] == [{"path": "window.end", "previous": "2024-12-31", "current": "2025-01-31"}]
    assert c["code_version"] == [{"field": "git_commit", "previous": "aaa", "current": "bbb"}]
    assert c["data"] == [f"events.json changed (sha256 {'1' * 12} -> {'2' * 12})"]
    assert c["kinds"] == ["new_signal", "closed_signal", "new_change_point", "trend_verdict", "new_recall",
                          "new_enforcement", "report_counts", "data", "parameters", "code_version"]
    assert "New signal: Leak (device problem) against DEF." in c["summary"]
    assert "Reports by event type: all 10 -> 13 (+3); Injury 4 -> 7 (+3)." in c["summary"]
    json.dumps(c, allow_nan=False)  # what record_changes writes


def test_change_summary_of_identical_runs_and_of_a_first_report():
    same = analysis([("device", "ABC", "Break")], [], "no increase", "no increase", {"all": 5})
    c = summarise_changes(RunSnapshot("a", same), RunSnapshot("b", same))
    assert c["kinds"] == [] and c["summary"] == ["Nothing changed since the previous report."]
    first = summarise_changes(None, RunSnapshot("b", same))
    assert first["first_report"] and first["kinds"] == [] and first["previous_run_id"] is None


# -- data fingerprints -------------------------------------------------------------------------


def test_data_differences():
    a = Fingerprint("mirror", "/m", {"x/a.json": "a" * 64, "x/b.csv": "b" * 64})
    assert data_differences(a, a) == []
    assert data_differences(a, Fingerprint("mirror", "/m", {"x/a.json": "a" * 64, "x/b.csv": "missing"})) == ["x/b.csv is gone"]
    assert data_differences(a, Fingerprint("mirror", "/other", a.items)) == ["mirror folder /m -> /other"]
    assert data_differences(a, Fingerprint("api", "https://api", {})) == ["data origin mirror -> api"]
    api = Fingerprint("api", "https://api", {"device_event": "2024-01-01"})
    assert data_differences(api, Fingerprint("api", "https://api", {"device_event": "2024-02-01"})) == [
        "device_event last updated 2024-01-01 -> 2024-02-01"]
    assert data_differences(None, api) == ["the previous run recorded no data fingerprint"]


def test_current_fingerprint_of_a_mirror_rehashes_the_files_read(tmp_path):
    mirror = tmp_path / "mirror"
    (mirror / "device" / "event").mkdir(parents=True)
    events = mirror / "device" / "event" / "e.json"
    events.write_text("[]")
    params = load_parameters("HWC", overrides={"from": "mirror", "mirror": str(mirror)}).resolved()
    from cer_lib.provenance import display_path, sha256_file

    recorded = Fingerprint("mirror", str(mirror.resolve()), {display_path(events): sha256_file(events)})
    assert current_fingerprint(recorded, params, Settings.from_env()) == recorded
    events.write_text("[{}]")
    changed = current_fingerprint(recorded, params, Settings.from_env())
    assert data_differences(recorded, changed) == [
        f"device/event/e.json changed (sha256 {recorded.items[display_path(events)][:12]} -> {sha256_file(events)[:12]})"]
    events.unlink()
    assert data_differences(recorded, current_fingerprint(recorded, params, Settings.from_env())) == ["device/event/e.json is gone"]


def test_current_fingerprint_of_the_api_asks_last_updated_past_the_cache(httpserver, monkeypatch, tmp_path):
    fake = serve_openfda(httpserver, {"device/event": [{"report_number": "1"}]}, last_updated="2024-01-01")
    monkeypatch.setenv("OPENFDA_BASE_URL", fake.base_url)
    monkeypatch.setenv("CER_CACHE_DIR", str(tmp_path / "cache"))
    settings = Settings.from_env()
    params = load_parameters("HWC", overrides={"from": "api"}).resolved()
    recorded = Fingerprint("api", fake.base_url, {"device_event": "2024-01-01"})
    assert current_fingerprint(recorded, params, settings) == recorded
    fake.last_updated = "2024-02-01"
    assert data_differences(recorded, current_fingerprint(recorded, params, settings)) == [
        "device_event last updated 2024-01-01 -> 2024-02-01"]


# -- schedules ---------------------------------------------------------------------------------


def test_schedules_are_validated_like_parameters(tmp_path):
    good = parse_schedules({"schedules": [
        {"code": "HWC", "cron": "30 6 * * 1", "from": "mirror", "mirror": "demo",
         "notify": [{"email": "a@example.org", "kinds": ["new_signal"]}, {"webhook": "https://h.example.org/x"}]},
        {"code": "LXH", "every": 60}]}, "test")
    cron = good.find("hwc").celery_schedule()
    assert cron.minute == {30} and cron.hour == {6} and cron.day_of_week == {1}
    assert good.find("LXH").celery_schedule().run_every == dt.timedelta(seconds=60)
    assert good.find("HWC").notify[0].wants(["new_signal", "data"]) and not good.find("HWC").notify[0].wants(["data"])
    assert good.find("HWC").notify[1].wants(["data"])  # no kinds given: every kind
    refused = {
        "61 * * * *": {"code": "HWC", "cron": "61 * * * *"},
        "five fields": {"code": "HWC", "cron": "* * *"},
        "exactly one of cron or every": {"code": "HWC", "cron": "* * * * *", "every": 60},
        "unknown change kind": {"code": "HWC", "every": 60, "notify": [{"email": "a@b.org", "kinds": ["gossip"]}]},
        "never a path": {"code": "HWC", "every": 60, "from": "mirror", "mirror": "/etc"},
        "not an http(s) URL": {"code": "HWC", "every": 60, "notify": [{"webhook": "file:///etc/passwd"}]},
        "unknown field": {"code": "HWC", "every": 60, "force": True},
        "greater than or equal to 5": {"code": "HWC", "every": 1},
    }
    for message, entry in refused.items():
        with pytest.raises(ParameterError, match=message.replace("(", r"\(").replace(")", r"\)")):
            parse_schedules({"schedules": [entry]}, "test")
    with pytest.raises(ParameterError, match="scheduled twice"):
        parse_schedules({"schedules": [{"code": "HWC", "every": 60}, {"code": "hwc", "every": 90}]}, "test")
    assert load_schedules(tmp_path / "absent.yaml") == Schedules()


# -- webhook signature and delivery ------------------------------------------------------------


def test_webhook_signature_matches_openssl_and_refuses_tampering_and_replays():
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed")
    body, timestamp = b'{"code":"HWC","run_id":"x"}', "1767225600"
    independent = subprocess.run(["openssl", "dgst", "-sha256", "-hmac", SECRET], input=timestamp.encode() + b"." + body,
                                 capture_output=True, check=True).stdout.decode().split()[-1]
    assert sign(SECRET, timestamp, body) == f"sha256={independent}"
    now = 1767225600 + 10
    assert verify_signature(SECRET, body, f"sha256={independent}", timestamp, now=now)
    assert not verify_signature(SECRET, body + b" ", f"sha256={independent}", timestamp, now=now)
    assert not verify_signature("another-secret", body, f"sha256={independent}", timestamp, now=now)
    assert not verify_signature(SECRET, body, f"sha256={independent}", timestamp, now=now + 3600)  # replayed later
    assert not verify_signature(SECRET, body, None, timestamp, now=now)


def notification() -> Notification:
    return Notification("HWC", "HWC", "run-2", "run-1", ("data", "report_counts"), ("Data: x changed.",),
                        {"report": "https://cer.example.org/v1/codes/HWC/runs/run-2/files/cer.html"})


def test_delivery_retries_with_backoff_and_never_raises(httpserver):
    answers = iter([500, 503, 200])
    seen = []

    def handler(request):
        from werkzeug import Response

        seen.append(verify_signature(SECRET, request.get_data(), request.headers["X-CER-Signature"],
                                     request.headers["X-CER-Timestamp"]))
        return Response("", status=next(answers))

    httpserver.expect_request("/hook", method="POST").respond_with_handler(handler)
    settings = NotifySettings(webhook_secret=SECRET, notify_retries=3, notify_backoff=0.5)
    sleeps: list[float] = []
    subscription = Subscription(webhook=httpserver.url_for("/hook"))
    done = deliver(notification(), [subscription], {"webhook": WebhookNotifier(settings)}, settings, sleep=sleeps.append)
    assert [(d.ok, d.attempts) for d in done] == [(True, 3)] and seen == [True, True, True]
    assert sleeps == [0.5, 1.0]

    failing = NotifySettings(webhook_secret=SECRET, notify_retries=2, notify_backoff=0)
    gone = Subscription(webhook=httpserver.url_for("/nowhere"))  # pytest-httpserver answers 500 to unexpected paths
    done = deliver(notification(), [gone], {"webhook": WebhookNotifier(failing)}, failing, sleep=lambda _: None)
    assert [(d.ok, d.attempts) for d in done] == [(False, 3)] and "500" in done[0].error

    unsigned = NotifySettings(notify_retries=0)
    done = deliver(notification(), [subscription], {"webhook": WebhookNotifier(unsigned)}, unsigned)
    assert not done[0].ok and "CER_WEBHOOK_SECRET" in done[0].error
    not_wanted = Subscription(webhook=httpserver.url_for("/hook"), kinds=("new_signal",))
    assert deliver(notification(), [not_wanted], {"webhook": WebhookNotifier(settings)}, settings) == []


# -- reviewer feedback -------------------------------------------------------------------------


def finished_run(outputs: Path, run_id: str) -> None:
    run = outputs / "HWC" / run_id
    run.mkdir(parents=True)
    (run / "cer.html").write_text("<html>")


def test_feedback_is_appended_beside_the_run_and_open_until_resolved(tmp_path):
    finished_run(tmp_path, "20260101T000000Z-aaaaaaa")
    finished_run(tmp_path, "20260102T000000Z-bbbbbbb")
    code = CodeFolder(tmp_path / "HWC")
    first = add_feedback(code, "20260101T000000Z-aaaaaaa", author="r1", role="viewer", comment="Check the peak",
                         section="4.6.1.3")
    second = add_feedback(code, "20260102T000000Z-bbbbbbb", author="r2", role="author", comment="Typo in 2")
    add_feedback(code, "20260102T000000Z-bbbbbbb", author="r2", role="author", comment="fixed", resolves=second.id)
    assert sorted(p.relative_to(tmp_path).as_posix() for p in (tmp_path / "HWC").rglob("*.jsonl")) == [
        f"HWC/{layout.FEEDBACK}/20260101T000000Z-aaaaaaa/feedback.jsonl",
        f"HWC/{layout.FEEDBACK}/20260102T000000Z-bbbbbbb/feedback.jsonl"]
    assert [r.run_id for r in code.runs()] == ["20260102T000000Z-bbbbbbb", "20260101T000000Z-aaaaaaa"]
    assert [e.id for e in open_feedback(code, "20260103T000000Z-ccccccc")] == [first.id]
    assert open_feedback(code, "20260101T000000Z-aaaaaaa") == []  # nothing before the first run
    with pytest.raises(RunFileInvalid):
        add_feedback(code, "20260109T000000Z-fffffff", author="r", role="viewer", comment="no such run")
    with pytest.raises(RunFileInvalid, match="no feedback entry"):
        add_feedback(code, "20260101T000000Z-aaaaaaa", author="r", role="viewer", comment="x", resolves=second.id)


def test_concurrent_feedback_never_interleaves(tmp_path):
    finished_run(tmp_path, "20260101T000000Z-aaaaaaa")
    code = CodeFolder(tmp_path / "HWC")
    long = "word " * 900  # lines of several kilobytes

    def post(n: int) -> None:
        for i in range(10):
            add_feedback(code, "20260101T000000Z-aaaaaaa", author=f"r{n}", role="viewer", comment=f"{n}-{i} {long}")

    threads = [threading.Thread(target=post, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    entries = read_feedback(code, "20260101T000000Z-aaaaaaa")  # raises on a broken line
    assert len(entries) == 80 and len({e.id for e in entries}) == 80


# -- Beat reads the schedules file and follows its changes ---------------------------------------


def test_beat_scheduler_follows_the_schedules_file(tmp_path, monkeypatch):
    from celery import Celery

    from cer_lib.refresh.beat import REFRESH_TASK, ScheduleFileScheduler

    schedules = tmp_path / "schedules.yaml"
    schedules.write_text("schedules:\n  - {code: HWC, every: 60}\n")
    monkeypatch.setenv("CER_SCHEDULES_FILE", str(schedules))
    app = Celery("t", broker="memory://", set_as_current=False)
    scheduler = ScheduleFileScheduler(app=app, schedule_filename=str(tmp_path / "beat-state"), lazy=True)
    scheduler.setup_schedule()
    entry = scheduler.schedule["refresh HWC"]
    assert entry.task == REFRESH_TASK and entry.args[0]["code"] == "HWC"
    from cer_lib.refresh.schedules import Schedule

    assert Schedule.model_validate(entry.args[0]).every == 60  # the task reads its message back as the entry
    schedules.write_text("schedules:\n  - {code: LXH, cron: '0 6 * * 1'}\n  - {code: HRS, every: 30}\n")
    scheduler._reload()
    assert sorted(k for k in scheduler.schedule if k.startswith("refresh ")) == ["refresh HRS", "refresh LXH"]
    schedules.write_text("schedules:\n  - {code: LXH, cron: 'not cron'}\n")
    scheduler._reload()  # an invalid file is logged, and the schedule in force is kept
    assert sorted(k for k in scheduler.schedule if k.startswith("refresh ")) == ["refresh HRS", "refresh LXH"]
    scheduler.close()


def test_a_run_that_cannot_be_compared_says_so_and_the_report_goes_on(tmp_path):
    from cer_lib.refresh.changes import record_changes
    from cer_lib.runfolder import RunFolder

    run = RunFolder(tmp_path / "HWC" / ".tmp-20260102T000000Z-bbbbbbb")
    run.path.mkdir(parents=True)
    previous = RunFolder(tmp_path / "HWC" / "20260101T000000Z-aaaaaaa")
    previous.path.mkdir()
    changes = record_changes(run, previous)  # neither has an analysis.json
    assert changes["previous_run_id"] == "20260101T000000Z-aaaaaaa" and changes["kinds"] == []
    assert "run stage 03_analyze first" in changes["error"]
    assert run.read_json(layout.CHANGES) == changes


def test_schedule_intervals_for_the_stale_report_alert(tmp_path, monkeypatch):
    """``cer_schedule_interval_seconds``: ``every`` as given; a crontab's gap between its next two
    times, counted by hand on the calendar (2026-11-30 is a Monday; December has 31 days)."""
    from prometheus_client import CollectorRegistry, generate_latest

    from cer_lib.refresh.schedules import crontab_of, next_cron_time
    from cer_lib.service.metrics import ScheduleIntervals

    now = dt.datetime(2026, 11, 30, 22, 0, tzinfo=dt.timezone.utc)
    weekly = next_cron_time(crontab_of("0 6 * * 1"), now)
    assert weekly == dt.datetime(2026, 12, 7, 6, 0, tzinfo=dt.timezone.utc)  # the next Monday, 06:00
    entries = parse_schedules({"schedules": [
        {"code": "HWC", "cron": "0 6 * * 1"}, {"code": "LXH", "every": 3600},
        {"code": "HRS", "cron": "*/15 * * * *"}, {"code": "DQY", "cron": "30 2 1 * *"}]}, "test")
    intervals = {e.code: e.interval_seconds(now) for e in entries.schedules}
    assert intervals == {"HWC": 7 * 86400, "LXH": 3600, "HRS": 900, "DQY": 31 * 86400}  # 1 Dec -> 1 Jan
    path = tmp_path / "schedules.yaml"
    path.write_text("schedules:\n  - {code: HWC, cron: '0 6 * * 1'}\n  - {code: LXH, every: 3600}\n", encoding="utf-8")
    monkeypatch.setenv("CER_SCHEDULES_FILE", str(path))
    registry = CollectorRegistry()
    registry.register(ScheduleIntervals())
    text = generate_latest(registry).decode()
    assert 'cer_schedule_interval_seconds{code="HWC"} 604800.0' in text
    assert 'cer_schedule_interval_seconds{code="LXH"} 3600.0' in text
