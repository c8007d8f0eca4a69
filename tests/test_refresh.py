"""Acceptance of issue 15: refreshes rebuild only what changed and tell the subscribers; Beat lands a
refresh; reviewer feedback goes through the API into the next report's annex and the book.

Real parts only: ``cer refresh`` as a user runs it (subprocess), a real SMTP server (aiosmtpd) and a
real HTTP receiver (pytest-httpserver) that checks the webhook's HMAC signature; redis-server, a Celery
worker, Celery Beat and the API as processes (`service_stack.ServiceStack`). Each code reads its own
copy of the demo mirror (real in2bones data: HWC, LXH and HRS each have reports in it), and the test
changes one copy the way a mirror update would: one new report.
"""
from __future__ import annotations

import copy
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from cer_lib.refresh.notify import verify_signature
from cer_lib.runfolder import CodeFolder, RunFolder, layout
from cer_lib.settings import PROJECT_ROOT
from service_stack import ServiceStack, free_port, wait_until

pytestmark = [pytest.mark.realdata, pytest.mark.slow]

WEBHOOK_SECRET = "refresh-tests-" + "fedcba9876543210" * 2
EVENTS = "device/event/openFDA_raw_data.json"
NEW_REPORT = "3010470577-2021-99999"


def mirror_copy(target: Path) -> Path:
    """The demo mirror copied to ``target``, symbolic links resolved (a mirror of one's own to change)."""
    from cer_lib.sources.demo import ensure_demo_mirror

    shutil.copytree(ensure_demo_mirror(), target, symlinks=False)
    return target


def add_report(mirror: Path, code: str) -> dict:
    """One new Injury report of ``code`` in the mirror's device events: a copy of one of its reports
    under a new report number, received in June 2021 (inside the data, before its last date)."""
    path = mirror / EVENTS
    events = json.loads(path.read_text())
    template = next(e for e in events if any(d.get("device_report_product_code") == code for d in e["device"]))
    new = copy.deepcopy(template)
    new.update(report_number=NEW_REPORT, mdr_report_key="99999999", event_key="99999999", date_received="20210615",
               event_type="Injury")
    path.write_text(json.dumps(events + [new]))
    return new


def cer(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    done = subprocess.run([sys.executable, "-m", "cer_lib", *args], cwd=PROJECT_ROOT, env=env, capture_output=True,
                          text=True, timeout=1800)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-4000:]
    return done


class Mailbox:
    """aiosmtpd handler keeping every message it is given."""

    def __init__(self) -> None:
        self.messages: list = []

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's hook name
        from email import message_from_bytes, policy

        self.messages.append((list(envelope.rcpt_tos), message_from_bytes(envelope.content, policy=policy.default)))
        return "250 OK"


@pytest.fixture
def smtp_server():
    from aiosmtpd.controller import Controller

    mailbox = Mailbox()
    controller = Controller(mailbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    try:
        yield controller, mailbox
    finally:
        controller.stop()


@pytest.fixture
def webhook_receiver():
    """A local HTTP receiver that verifies the signature of each POST, as a subscriber would."""
    from pytest_httpserver import HTTPServer
    from werkzeug import Response

    received: list[dict] = []

    def receive(request):
        genuine = verify_signature(WEBHOOK_SECRET, request.get_data(), request.headers.get("X-CER-Signature"),
                                   request.headers.get("X-CER-Timestamp"))
        received.append({"genuine": genuine, "body": json.loads(request.get_data())})
        return Response("ok" if genuine else "bad signature", status=200 if genuine else 401)

    server = HTTPServer(host="127.0.0.1", port=free_port())
    server.expect_request("/hook", method="POST").respond_with_handler(receive)
    server.start()
    try:
        yield server, received
    finally:
        server.clear()
        server.stop()


def test_refresh_of_three_codes_rebuilds_only_the_changed_one_and_notifies(tmp_path, smtp_server, webhook_receiver):
    controller, mailbox = smtp_server
    server, received = webhook_receiver
    codes = ("HWC", "LXH", "HRS")
    mirrors = {code: mirror_copy(tmp_path / f"mirror-{code.lower()}") for code in codes}
    schedules = tmp_path / "schedules.yaml"
    schedules.write_text(yaml.safe_dump({"schedules": [
        {"code": code, "cron": "0 6 * * 1", "from": "mirror", "mirror": code.lower(),
         "notify": [{"email": f"safety-{code.lower()}@example.org"}, {"webhook": server.url_for("/hook")}]}
        for code in codes]}))
    outputs = tmp_path / "outputs"
    env = {**os.environ, "CER_OUTPUTS_DIR": str(outputs), "CER_CACHE_DIR": str(tmp_path / "cache"),
           "CER_MIRRORS": ",".join(f"{c.lower()}={m}" for c, m in mirrors.items()),
           "CER_SMTP_HOST": "127.0.0.1", "CER_SMTP_PORT": str(controller.port), "CER_WEBHOOK_SECRET": WEBHOOK_SECRET,
           "CER_PUBLIC_URL": "https://cer.example.org", "CER_NOTIFY_BACKOFF": "0.1"}

    first = cer(env, "refresh", "--schedules", str(schedules))  # every scheduled code: first reports
    for code in codes:
        assert f"{code}: rebuilt:" in first.stdout, first.stdout
    assert mailbox.messages == [] and received == []  # a first report is no change to tell anyone about
    first_runs = {code: CodeFolder(outputs / code).latest().run_id for code in codes}

    new = add_report(mirrors["HWC"], "HWC")
    started = time.monotonic()
    second = cer(env, "refresh", "HWC", "LXH", "HRS", "--schedules", str(schedules))
    assert "HWC: rebuilt:" in second.stdout, second.stdout
    for code in ("LXH", "HRS"):
        assert f"{code}: no change: data unchanged since run {first_runs[code]}" in second.stdout
        assert [r.run_id for r in CodeFolder(outputs / code).runs()] == [first_runs[code]]
        log = [json.loads(line) for line in (outputs / code / layout.REFRESH_LOG).read_text().splitlines()]
        assert [entry["outcome"] for entry in log] == ["rebuilt", "no change"]
        assert log[-1]["notified"] == [] and log[-1]["run_id"] is None

    hwc = CodeFolder(outputs / "HWC")
    run = hwc.latest()
    assert [r.run_id for r in hwc.runs()] == [run.run_id, first_runs["HWC"]]
    changes = run.read_json(layout.CHANGES)
    assert changes["previous_run_id"] == first_runs["HWC"]
    assert "data" in changes["kinds"] and "report_counts" in changes["kinds"]
    assert any("openFDA_raw_data.json changed" in d for d in changes["data"]), changes["data"]
    counts = {r["event_type"]: r for r in changes["report_counts"]}
    before = RunFolder(hwc.run(first_runs["HWC"]).path).analysis().monthly_counts.totals
    assert counts["all"] == {"event_type": "all", "previous": before["all"], "current": before["all"] + 1, "difference": 1}
    assert counts["Injury"]["difference"] == 1 and counts["Malfunction"]["difference"] == 0
    assert changes["parameters"] == [] or all(p["path"] == "mirror" for p in changes["parameters"])

    # the report's change section names the change
    section = next(s for s in run.narrative().sections if s.id == "changes")
    assert first_runs["HWC"] in section.markdown and "openFDA&#95;raw&#95;data.json changed" in section.markdown
    assert f"all: {before['all']}, {before['all'] + 1} (+1)" in section.markdown
    report = run.file(layout.REPORT_HTML).read_text()
    assert "Changes since the previous report" in report and "openFDA_raw_data.json changed" in report

    # one e-mail, to HWC's subscriber only, and one signed webhook, both naming the new run and the change
    assert len(mailbox.messages) == 1
    to, message = mailbox.messages[0]
    assert to == ["safety-hwc@example.org"]
    assert run.run_id in message["Subject"] and "HWC" in message["Subject"]
    body = message.get_content()
    assert "openFDA_raw_data.json changed" in body and f"all {before['all']} -> {before['all'] + 1} (+1)" in body
    assert f"https://cer.example.org/v1/codes/HWC/runs/{run.run_id}/files/cer.html" in body
    assert len(received) == 1 and received[0]["genuine"]
    payload = received[0]["body"]
    assert payload["code"] == "HWC" and payload["run_id"] == run.run_id and payload["previous_run_id"] == first_runs["HWC"]
    assert payload["kinds"] == changes["kinds"] and payload["changes"] == changes
    log = [json.loads(line) for line in (outputs / "HWC" / layout.REFRESH_LOG).read_text().splitlines()]
    assert [d["ok"] for d in log[-1]["notified"]] == [True, True]

    # the rebuilt run still verifies: changes.json and feedback.json are hashed with the rest
    verified = cer(env, "verify", str(run.path))
    assert "all" in verified.stdout and "files match the manifest" in verified.stdout
    assert new["report_number"] == NEW_REPORT
    print(f"second refresh of three codes (one rebuilt): {time.monotonic() - started:.0f} s; "
          f"no-change checks: {[json.loads(l)['seconds'] for c in ('LXH', 'HRS') for l in (outputs / c / layout.REFRESH_LOG).read_text().splitlines()[-1:]]} s")


def test_beat_lands_a_refresh_and_feedback_reaches_the_next_report_and_the_book(tmp_path):
    mirror = mirror_copy(tmp_path / "mirror")
    schedules = tmp_path / "schedules.yaml"
    schedules.write_text(yaml.safe_dump({"schedules": [{"code": "HWC", "every": 10, "from": "mirror", "mirror": "m"}]}))
    stack = ServiceStack(tmp_path / "stack", env={"CER_MIRRORS": f"m={mirror}", "CER_SCHEDULES_FILE": str(schedules),
                                                  "CER_CACHE_DIR": str(tmp_path / "cache")})
    try:
        stack.start()
        beat = stack._spawn("beat", [sys.executable, "-m", "cer_lib", "beat"])
        code = CodeFolder(stack.outputs / "HWC")
        first = wait_until(code.latest, 900, "Beat's first refresh of HWC landing", interval=2)
        assert beat.poll() is None

        viewer, admin = stack.client("reviewer-1", role="viewer"), stack.client("ops", role="admin")
        posted = viewer.post(f"/v1/codes/HWC/runs/{first.run_id}/feedback",
                             json={"comment": "Explain the <b>2019</b> peak & check *all* terms", "section": "4.6.1.3"})
        assert posted.status_code == 201, posted.text
        entry = posted.json()
        assert entry["author"] == "reviewer-1" and entry["role"] == "viewer" and entry["run_id"] == first.run_id
        closed = viewer.post(f"/v1/codes/HWC/runs/latest/feedback", json={"comment": "a second, resolved at once"})
        resolution = viewer.post(f"/v1/codes/HWC/runs/latest/feedback",
                                 json={"comment": "done", "resolves": closed.json()["id"]})
        assert resolution.status_code == 201
        assert viewer.post(f"/v1/codes/HWC/runs/{first.run_id}/feedback", json={"comment": ""}).status_code == 422
        assert viewer.post(f"/v1/codes/HWC/runs/20200101T000000Z-0000000/feedback", json={"comment": "x"}).status_code == 404
        assert [e["id"] for e in viewer.get(f"/v1/codes/HWC/runs/{first.run_id}/feedback").json()] == [
            entry["id"], closed.json()["id"], resolution.json()["id"]]
        # feedback lives beside the run: the run still verifies
        assert subprocess.run([sys.executable, "-m", "cer_lib", "verify", str(first.path)], cwd=PROJECT_ROOT,
                              env=stack.env, capture_output=True, text=True).returncode == 0

        # schedules through the API (admin only); a bad cron is refused naming the field
        assert viewer.get("/v1/schedules").status_code == 403
        assert admin.get("/v1/schedules").json()["schedules"][0]["code"] == "HWC"
        bad = admin.put("/v1/schedules", json={"schedules": [{"code": "HWC", "cron": "61 * * * *"}]})
        assert bad.status_code == 422 and "cron" in bad.json()["detail"]

        add_report(mirror, "HWC")  # the data change; Beat's next refresh rebuilds
        second = wait_until(lambda: (r := code.latest()) and r.run_id != first.run_id and r, 900,
                            "Beat's refresh after the data changed", interval=2)
        annex = next(s for s in second.narrative().sections if s.id == "feedback")
        assert "reviewer&#45;1" in annex.markdown or "reviewer-1" in annex.markdown, annex.markdown
        assert "&#60;b&#62;2019&#60;/b&#62;" in annex.markdown and "<b>" not in annex.markdown  # quoted, never markup
        assert "a second, resolved at once" not in annex.markdown
        assert "1 comment" in annex.markdown
        report = second.file(layout.REPORT_HTML).read_text()
        assert "Explain the &lt;b&gt;2019&lt;/b&gt; peak &amp; check *all* terms" in report
        assert second.read_json(layout.CHANGES)["previous_run_id"] == first.run_id

        from cer_lib.report.book import find_runs, generate_pages

        pages = tmp_path / "book"
        pages.mkdir()
        generate_pages(find_runs(stack.outputs), pages)
        run_page = (pages / "runs" / "HWC" / first.run_id / "index.md").read_text()
        assert "Reviewer feedback on this run (3)" in run_page
        assert "Explain the &lt;b&gt;2019&lt;/b&gt; peak &amp; check *all* terms" in run_page and "<b>2019" not in run_page
        assert "resolved;" in run_page and "open;" in run_page
        index = (pages / "index.md").read_text()
        assert "Changes since the previous run" in index and "data" in index
    except BaseException:
        print(stack.logs())
        raise
    finally:
        stack.stop()
