"""The report service end to end, on real parts: redis-server, a Celery worker process, uvicorn, httpx.

One stack serves this module (the tests only read, apart from the one demo job of the journey).
The journey is the README's: mint a token, submit HWC from the demo mirror, poll, download the PDF,
`cer verify` the run. Then the security cases (401/403, bad tokens, traversal, body limits, CORS,
rate limit), the checks a submission gets before anything is queued, and what the metrics and the
audit log hold.
"""
from __future__ import annotations

import datetime as dt
import json
import shutil
import subprocess
import sys

import httpx
import jwt
import pytest

from service_stack import PROJECT_ROOT, TEST_JWT_SECRET, ServiceStack

pytestmark = pytest.mark.slow
RATE_LIMIT = 150


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    root = tmp_path_factory.mktemp("service")
    stack = ServiceStack(root, env={"CER_CORS_ORIGINS": "https://allowed.example",
                                    "CER_RATE_LIMIT_PER_MINUTE": str(RATE_LIMIT),
                                    "CER_MAX_BODY_BYTES": "4096", "CER_MAX_UPLOAD_BYTES": "20000",
                                    "CER_JOB_RETRIES": "0"})
    try:
        yield stack.start(workers=1)
    finally:
        stack.stop()


@pytest.fixture(scope="module")
def journey(stack):
    """The README's journey, once: token, submit HWC from the demo mirror, poll until done."""
    token = subprocess.run([sys.executable, "-m", "cer_lib", "token", "--subject", "alice", "--role", "author"],
                           env=stack.env, capture_output=True, text=True, check=True).stdout.strip()
    client = httpx.Client(base_url=stack.base_url, headers={"Authorization": f"Bearer {token}"}, timeout=30)
    answer = client.post("/v1/reports", json={"code": "HWC", "from": "mirror"})
    assert answer.status_code == 202, answer.text
    accepted = answer.json()
    status, stages = stack.wait_for_job(client, accepted["job_id"])
    return {"token": token, "client": client, "accepted": accepted, "status": status, "stages": stages}


# ----------------------------------------------------------------------------------------------
# the journey


def test_journey_submit_poll_download_verify(stack, journey):
    status, accepted = journey["status"], journey["accepted"]
    assert accepted["status"] == "queued" and accepted["links"]["status"] == f"/v1/jobs/{accepted['job_id']}"
    assert status["status"] == "succeeded", f"{status}\n{stack.logs()}"
    assert status["code"] == "HWC" and status["kind"] == "product_code" and status["from"] == "mirror"
    assert status["subject"] == "alice" and status["error"] is None
    # the stage was reported while it ran: several of the pipeline's stages were seen, in order
    seen = [s for s in journey["stages"] if s in ("01_collect", "02_integrate", "03_analyze", "04_narrate", "05_report", "assemble")]
    assert len(seen) >= 2 and seen == sorted(seen, key=["01_collect", "02_integrate", "03_analyze", "04_narrate",
                                                        "05_report", "assemble"].index), journey["stages"]
    run_id = status["run_id"]
    assert set(status["links"]) >= {"cer.pdf", "cer.html", "manifest.json", "01_collect.ipynb", "05_report.ipynb"}

    pdf = journey["client"].get(status["links"]["cer.pdf"])
    assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf"
    assert pdf.content.startswith(b"%PDF") and len(pdf.content) > 10_000
    run_dir = stack.outputs / "HWC" / run_id
    assert pdf.content == (run_dir / "cer.pdf").read_bytes()
    assert (stack.outputs / "HWC" / "latest").readlink().name == run_id

    # the same run folder `cer report` writes, and it verifies
    verified = subprocess.run([sys.executable, "-m", "cer_lib", "verify", str(run_dir)], env=stack.env,
                              capture_output=True, text=True, cwd=PROJECT_ROOT)
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert "hash chain intact" in verified.stdout
    record = json.loads((run_dir / "run.json").read_text())
    assert record["command"] == f"cer worker job {accepted['job_id']}"


def test_html_is_served_with_a_strict_content_security_policy(stack, journey):
    html = journey["client"].get(journey["status"]["links"]["cer.html"])
    assert html.status_code == 200 and html.headers["content-type"].startswith("text/html")
    policy = html.headers["content-security-policy"]
    assert "default-src 'none'" in policy and "script-src" not in policy and "frame-ancestors 'none'" in policy
    assert html.headers["x-content-type-options"] == "nosniff"


def test_codes_and_runs_list_the_finished_run(stack, journey):
    viewer = stack.client("victor", role="viewer")
    codes = viewer.get("/v1/codes").json()
    assert [c["code"] for c in codes] == ["HWC"] and codes[0]["latest_run_id"] == journey["status"]["run_id"]
    runs = viewer.get("/v1/codes/HWC/runs").json()
    assert [r["run_id"] for r in runs["runs"]] == [journey["status"]["run_id"]] and runs["runs"][0]["latest"]
    latest = viewer.get("/v1/codes/HWC/runs/latest/files/manifest.json")
    assert latest.status_code == 200 and latest.json()["run_id"] == journey["status"]["run_id"]
    assert viewer.get("/v1/codes/LZG/runs").status_code == 404


def test_metrics_count_requests_jobs_stages_and_cache(stack, journey):
    text = httpx.get(f"{stack.base_url}/metrics").text
    assert 'cer_jobs_total{outcome="succeeded"} 1.0' in text
    assert 'cer_stage_seconds_count{stage="01_collect"} 1.0' in text
    assert 'cer_http_cache_responses_total{result="hit"}' in text
    assert 'cer_http_requests_total{method="POST",route="/v1/reports",status="202"} 1.0' in text
    assert 'cer_http_request_seconds_bucket{le="0.005",method="GET",route="/v1/jobs/{job_id}"}' in text
    promtool = shutil.which("promtool")
    if promtool:
        checked = subprocess.run([promtool, "check", "metrics"], input=text, capture_output=True, text=True)
        assert checked.returncode == 0, checked.stdout + checked.stderr


def test_audit_log_has_every_request_and_no_token(stack, journey):
    lines = [json.loads(line) for line in stack.audit_log.read_text().splitlines()]
    submitted = [r for r in lines if r["method"] == "POST" and r["path"] == "/v1/reports" and r["status"] == 202]
    assert submitted and submitted[0]["subject"] == "alice" and submitted[0]["role"] == "author"
    assert submitted[0]["job_id"] == journey["accepted"]["job_id"] and submitted[0]["code"] == "HWC"
    assert set(submitted[0]) == {"time", "level", "event", "process", "logger",  # as every log line (issue 16)
                                 "subject", "role", "method", "path", "status", "job_id", "code", "client"}
    polls = [r for r in lines if r["path"] == f"/v1/jobs/{journey['accepted']['job_id']}"]
    assert polls and all(r["status"] == 200 for r in polls)
    text = stack.audit_log.read_text()
    assert journey["token"] not in text and journey["token"].split(".")[2] not in text


# ----------------------------------------------------------------------------------------------
# authentication and roles


def _token(claims: dict, key: str = TEST_JWT_SECRET, algorithm: str = "HS256") -> str:
    now = dt.datetime.now(dt.timezone.utc)
    return jwt.encode({"sub": "mallory", "role": "admin", "iat": now, "exp": now + dt.timedelta(hours=1), **claims},
                      key, algorithm=algorithm)


def _unsigned(claims: dict) -> str:
    import base64

    def part(data: dict) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()

    now = int(dt.datetime.now(dt.timezone.utc).timestamp())
    return f"{part({'alg': 'none', 'typ': 'JWT'})}.{part({'sub': 'mallory', 'role': 'admin', 'exp': now + 3600, **claims})}."


@pytest.mark.parametrize("case, token, reason", [
    ("no token", None, "no bearer token"),
    ("expired", _token({"exp": dt.datetime.now(dt.timezone.utc) - dt.timedelta(minutes=5)}), "expired"),
    ("wrong key", _token({}, key="another-secret-" + "x" * 40), "signature does not match"),
    ("alg none", _unsigned({}), "HS256"),
    ("no exp", jwt.encode({"sub": "mallory", "role": "admin"}, TEST_JWT_SECRET, algorithm="HS256"), "'exp'"),
    ("unknown role", _token({"role": "root"}), "role must be one of"),
    ("not a JWT", "abc.def", "malformed"),
])
def test_bad_tokens_are_401(stack, case, token, reason):
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    for method, path in (("GET", "/v1/codes"), ("POST", "/v1/reports")):
        answer = httpx.request(method, f"{stack.base_url}{path}", headers=headers, json={"code": "HWC"})
        assert answer.status_code == 401, (case, answer.text)
        assert reason in answer.json()["detail"] and answer.headers["www-authenticate"] == "Bearer"


def test_roles_viewer_reads_author_submits_admin_sees_others_jobs(stack, journey):
    viewer = stack.client("victor", role="viewer")
    refused = viewer.post("/v1/reports", json={"code": "HWC", "from": "mirror"})
    assert refused.status_code == 403 and "needs 'author'" in refused.json()["detail"]
    assert viewer.get("/v1/codes").status_code == 200
    job = f"/v1/jobs/{journey['accepted']['job_id']}"
    assert viewer.get(job).status_code == 403
    assert stack.client("bob", role="author").get(job).status_code == 403
    assert stack.client("root", role="admin").get(job).json()["status"] == "succeeded"
    assert viewer.get("/v1/jobs/00000000-0000-4000-8000-000000000000").status_code == 404


# ----------------------------------------------------------------------------------------------
# files: nothing outside a finished run's report files


def test_no_path_reaches_outside_a_run(stack, journey):
    viewer = stack.client("victor", role="viewer")
    run_id = journey["status"]["run_id"]
    # a planted code folder whose files are symbolic links out of the outputs
    secret = stack.root / "secret.txt"
    secret.write_text("TOP-SECRET")
    planted = stack.outputs / "ZZZ" / run_id
    planted.mkdir(parents=True)
    (planted / "cer.html").symlink_to(secret)
    (planted / "manifest.json").symlink_to("../../../secret.txt")
    (stack.outputs / "ZZY").symlink_to(stack.root)  # a code folder that is a link
    (stack.outputs / "HWC" / "20200101T000000Z-abcdef0").symlink_to(stack.root)  # a run that is a link
    try:
        attempts = [
            f"/v1/codes/HWC/runs/{run_id}/files/..%2F..%2F..%2Fsecret.txt",
            f"/v1/codes/HWC/runs/{run_id}/files/%2e%2e%2fsecret.txt",
            f"/v1/codes/HWC/runs/{run_id}/files/parameters.yaml",
            f"/v1/codes/HWC/runs/{run_id}/files/..",
            f"/v1/codes/HWC/runs/..%2F..%2F/files/secret.txt",
            f"/v1/codes/..%2F..%2F/runs/{run_id}/files/cer.pdf",
            f"/v1/codes/../../runs/{run_id}/files/cer.pdf",
            f"/v1/codes/ZZZ/runs/{run_id}/files/cer.html",
            f"/v1/codes/ZZZ/runs/{run_id}/files/manifest.json",
            "/v1/codes/ZZY/runs/latest/files/cer.pdf",
            "/v1/codes/HWC/runs/20200101T000000Z-abcdef0/files/secret.txt",
            f"/v1/codes/HWC/runs/.tmp-{run_id}/files/cer.pdf",
            f"/v1/codes/HWC%2F..%2FZZZ/runs/{run_id}/files/cer.html",
        ]
        for url in attempts:
            answer = viewer.get(url)
            assert answer.status_code in (404, 422), (url, answer.status_code)
            assert b"TOP-SECRET" not in answer.content, url
        assert "ZZY" not in [c["code"] for c in viewer.get("/v1/codes").json()]
    finally:
        shutil.rmtree(stack.outputs / "ZZZ")
        (stack.outputs / "ZZY").unlink()
        (stack.outputs / "HWC" / "20200101T000000Z-abcdef0").unlink()


# ----------------------------------------------------------------------------------------------
# what the gateway refuses before any work


def test_oversize_bodies_are_413_declared_or_streamed(stack):
    author = stack.client("olga")
    big = {"code": "HWC", "set": {"window.start": "2015-01-01", "pad": "x" * 8000}}
    answer = author.post("/v1/reports", json=big)
    assert answer.status_code == 413 and "larger than 4,096 bytes" in answer.json()["detail"]

    def chunks():
        for _ in range(10):
            yield b" " * 1000
    streamed = author.post("/v1/reports", content=chunks(), headers={"content-type": "application/json"})
    assert streamed.status_code == 413
    upload = author.post("/v1/signals", files={"file": ("r.csv", b"report_id,product,term\n" + b"1,A,x\n" * 5000)})
    assert upload.status_code == 413 and "20,000 bytes" in upload.json()["detail"]


def test_cors_only_for_allowed_origins(stack):
    preflight = {"Access-Control-Request-Method": "GET", "Access-Control-Request-Headers": "authorization"}
    allowed = httpx.options(f"{stack.base_url}/v1/codes", headers={"Origin": "https://allowed.example", **preflight})
    assert allowed.status_code == 200 and allowed.headers["access-control-allow-origin"] == "https://allowed.example"
    refused = httpx.options(f"{stack.base_url}/v1/codes", headers={"Origin": "https://evil.example", **preflight})
    assert refused.status_code == 400 and "access-control-allow-origin" not in refused.headers
    simple = stack.client("victor", role="viewer").get("/v1/codes", headers={"Origin": "https://evil.example"})
    assert simple.status_code == 200 and "access-control-allow-origin" not in simple.headers


def test_rate_limit_per_subject_429_with_retry_after(stack):
    greedy = stack.client("greedy", role="viewer")
    statuses = [greedy.get("/v1/codes").status_code for _ in range(RATE_LIMIT)]
    assert statuses == [200] * RATE_LIMIT
    refused = greedy.get("/v1/codes")
    assert refused.status_code == 429 and f"more than {RATE_LIMIT} requests" in refused.json()["detail"]
    assert 1 <= int(refused.headers["retry-after"]) <= 60
    assert stack.client("patient", role="viewer").get("/v1/codes").status_code == 200  # others are not affected


@pytest.mark.parametrize("body, expected", [
    ({"code": "HWZ", "from": "mirror"}, "Close matches: HWA"),
    ({"code": "../etc", "from": "mirror"}, "not a valid product code"),
    ({"code": "HWC", "from": "mirror", "set": {"methods.forecast.horizon_months": 999}}, "horizon_months"),
    ({"code": "HWC", "from": "mirror", "set": {"mirror": "/etc"}}, "choose a configured mirror by name"),
    ({"code": "HWC", "from": "mirror", "mirror": "/etc"}, "no mirror named '/etc': choose one of demo"),
    ({"code": "HWC", "mirror": "demo"}, "'mirror' names the mirror to read with \"from\": \"mirror\""),
    ({"code": "HWC", "from": "mirror", "mirror": "big"}, "no mirror named 'big': choose one of demo"),
    ({"code": "METFORMIN", "kind": "drug", "from": "mirror"}, "holds no FAERS quarterly files"),  # was: "not built yet"
    ({"code": "HWC", "from": "ftp"}, "from: Input should be 'api' or 'mirror'"),
    ({"code": "HWC", "path": "/tmp"}, "path: Extra inputs are not permitted"),
])
def test_bad_submissions_are_refused_before_queueing(stack, body, expected):
    author = stack.client("carol")
    answer = author.post("/v1/reports", json=body)
    assert answer.status_code == 422, answer.text
    detail = answer.json()["detail"]
    assert isinstance(detail, str) and expected in detail, detail


def test_signals_on_an_uploaded_csv(stack):
    author = stack.client("dora")
    rows = ["report_id,product,term"] + [f"r{i},A,bleeding" for i in range(6)] + [f"s{i},B,rash" for i in range(20)] \
        + ["t1,A,rash", "t2,B,bleeding"]
    answer = author.post("/v1/signals", files={"file": ("reports.csv", "\n".join(rows).encode())})
    assert answer.status_code == 200, answer.text
    result = answer.json()
    assert result["n_reports"] == 28 and result["n_pairs"] == 4
    pair = next(r for r in result["records"] if r["product"] == "A" and r["term"] == "bleeding")
    assert (pair["a"], pair["b"], pair["c"], pair["d"]) == (6, 1, 1, 20)
    wrong = author.post("/v1/signals", files={"file": ("x.csv", b"id,drug\n1,A\n")})
    assert wrong.status_code == 422 and "report_id" in wrong.json()["detail"] and "/tmp" not in wrong.json()["detail"]
    assert stack.client("vic", role="viewer").post("/v1/signals", files={"file": ("x.csv", b"a\n")}).status_code == 403


def test_health_and_readiness(stack):
    assert httpx.get(f"{stack.base_url}/healthz").json() == {"status": "ok"}
    ready = httpx.get(f"{stack.base_url}/readyz")
    assert ready.status_code == 200 and ready.json()["checks"] == {"redis": "ok", "workers": "ok", "outputs": "ok"}
    assert httpx.get(f"{stack.base_url}/openapi.json").json()["info"]["title"].startswith("cer-notebooks")
