"""The service stack exactly as ``compose.yaml`` wires it, run as processes instead of containers.

Read from compose.yaml: each service's command, its ``environment`` (anchors and merge keys as Compose
reads them) over the ``env_file`` (a filled-in copy of ``.env.example``), interpolated as Compose does
(``${VAR}``, ``${VAR:-default}``, ``${VAR:?message}``, ``$$``). What a container would have and a process
cannot is translated, and only that: the host name ``redis`` is 127.0.0.1 on a free port, ``/data`` is a
temporary folder, the api's port 8000 is a free port, and redis-server gets ``--port/--bind/--dir``.
The tests also add ``OPENFDA_BASE_URL``/``EUDAMED_BASE_URL`` (a local openFDA) to the workers' env.

Through that stack, `deploy/smoke.sh` (the workflows' smoke test) runs the demo job to success, and a
second job collects from the local openFDA with the API key (which answers 429 once). Then: every log
line of the api and the worker is one JSON object with the fields ops need, no log holds a secret or a
token, and ``/metrics`` counts what happened (jobs, 429s, queue, last success).
"""
from __future__ import annotations

import base64
import json
import os
import re
import shutil
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest
import yaml
from werkzeug import Request, Response

from needs import missing
from openfda_server import FakeOpenFDA, in2bones_datasets, serve_eudamed
from openfda_server import threaded_httpserver  # noqa: F401  (fixture)
from service_stack import free_port, wait_until

PROJECT_ROOT = Path(__file__).resolve().parents[1]
VENV_BIN = PROJECT_ROOT / ".venv" / "bin"
SECRETS = {  # distinctive values, so any copy in a log is found
    "REDIS_PASSWORD": "redis-pw-Zq83kL0vX2",
    "CER_JWT_SECRET": "jwt-secret-" + "9f8e7d6c5b4a3210" * 3,
    "OPENFDA_API_KEY": "FAKEKEY-deploy-4d1c9a77e0b2",
    "CER_MANIFEST_KEY": "manifest-key-6b2f0e91c3d8a7",
}
INTERPOLATION = re.compile(r"\$\$|\$\{(?P<name>\w+)(?:(?P<op>:-|:\?)(?P<arg>[^}]*))?\}")
LOG_FIELDS = {"time", "level", "event", "process", "logger"}
# the only lines not written through cer_lib.logs: Celery's shutdown notice (printed, not logged) and the
# Jupyter kernel's own error lines (another program, sharing the worker's standard error)
OTHER_PROGRAMS = re.compile(r"worker: (Warm|Cold) shutdown \(MainProcess\)$|\[IPKernelApp\] ")


def interpolate(value: str, variables: dict[str, str]) -> str:
    """Compose's variable interpolation of one string."""
    def one(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        name, op, arg = match["name"], match["op"], match["arg"]
        if variables.get(name):
            return variables[name]
        if op == ":?":
            raise AssertionError(f"compose.yaml needs {name}: {arg}")
        return arg if op == ":-" else ""

    return INTERPOLATION.sub(one, value)


def env_file_names() -> list[str]:
    return re.findall(r"^#?\s*([A-Z][A-Z0-9_]+)=", (PROJECT_ROOT / ".env.example").read_text(), re.MULTILINE)


class ComposeStack:
    """The services of compose.yaml as local processes (see the module docstring for the translation)."""

    def __init__(self, root: Path, extra_worker_env: dict[str, str]) -> None:
        self.root, self.data = root, root / "data"
        self.data.mkdir(parents=True)
        (root / "home").mkdir()  # the image's HOME (/home/cer) exists
        self.compose = yaml.safe_load((PROJECT_ROOT / "compose.yaml").read_text())
        self.redis_port, self.api_port = free_port(), free_port()
        self.env_file = {name: SECRETS.get(name, "") for name in env_file_names() if name in SECRETS}
        self.extra_worker_env = extra_worker_env
        self.processes: dict[str, subprocess.Popen[bytes]] = {}

    def service_env(self, name: str) -> dict[str, str]:
        service = self.compose["services"][name]
        env = {"PATH": f"{VENV_BIN}:{os.environ['PATH']}", "HOME": str(self.root / "home"), "PYTHONUNBUFFERED": "1"}
        if service.get("env_file"):
            env.update(self.env_file)
        for key, value in (service.get("environment") or {}).items():
            env[key] = interpolate(str(value), self.env_file)
        for key, value in env.items():  # container -> process
            value = value.replace("@redis:6379", f"@127.0.0.1:{self.redis_port}")
            env[key] = value.replace("/data/", f"{self.data}/") if value.startswith("/data/") else value
        if name == "api":
            env["CER_API_PORT"] = str(self.api_port)
        if name == "worker":
            env.update(self.extra_worker_env)
        return env

    def command(self, name: str) -> list[str]:
        command = [interpolate(str(part), self.env_file) for part in self.compose["services"][name]["command"]]
        if name == "redis":
            (self.root / "redis").mkdir()
            command[-1] += f" --port {self.redis_port} --bind 127.0.0.1 --dir {self.root / 'redis'}"
        return command

    def start(self, name: str) -> None:
        log = open(self.root / f"{name}.log", "ab")
        self.processes[name] = subprocess.Popen(self.command(name), env=self.service_env(name), stdout=log,
                                                stderr=subprocess.STDOUT, cwd=self.root)

    def logs(self) -> dict[str, str]:
        return {p.stem: p.read_text(errors="replace") for p in self.root.glob("*.log")}

    def stop(self) -> None:
        everything = []
        for process in self.processes.values():
            try:
                everything += [psutil.Process(process.pid), *psutil.Process(process.pid).children(recursive=True)]
            except psutil.Error:
                pass
        for name in ("beat", "api", "worker", "redis"):
            if name in self.processes and self.processes[name].poll() is None:
                self.processes[name].send_signal(signal.SIGTERM)
                try:
                    self.processes[name].wait(40)
                except subprocess.TimeoutExpired:
                    pass
        for process in everything:
            try:
                process.kill()
            except psutil.Error:
                pass


def beat_exists() -> bool:
    return subprocess.run([str(VENV_BIN / "cer"), "beat", "--help"], capture_output=True).returncode == 0


def openfda_refusing_once(httpserver: Any, realdata: Path) -> FakeOpenFDA:
    """The local openFDA over the real IN2BONES records, requiring the key; its first answer is a 429."""
    fake = FakeOpenFDA(in2bones_datasets(realdata), last_updated="2021-09-07", api_key=SECRETS["OPENFDA_API_KEY"])
    fake.base_url = httpserver.url_for("/").rstrip("/")
    refused: list[str] = []

    def handle(request: Request) -> Response:
        if not refused:
            refused.append(request.full_path)
            return Response(json.dumps({"error": {"code": "OVER_RATE_LIMIT", "message": "slow down"}}), status=429,
                            headers={"Retry-After": "0"}, content_type="application/json")
        return fake.handle(request)

    httpserver.expect_request(re.compile(r"^/(device|drug)/[a-z0-9]+\.json$")).respond_with_handler(handle)
    return fake


@pytest.fixture(scope="module")
def finished_stack(tmp_path_factory, realdata: Path) -> dict[str, Any]:
    """The compose-wired stack after the smoke test and an openFDA job; its logs, metrics and answers."""
    if shutil.which("redis-server") is None:
        missing("redis-server is not installed (Debian package redis-server; `.ci/run` installs it)")
    from pytest_httpserver import HTTPServer

    server = HTTPServer(host="127.0.0.1", port=0, threaded=True)
    server.start()
    root = tmp_path_factory.mktemp("compose")
    fake = openfda_refusing_once(server, realdata)
    eudamed = serve_eudamed(server, json.loads((realdata / "eudamed" / "udi-di-records.json").read_text()))
    stack = ComposeStack(root, {"OPENFDA_BASE_URL": fake.base_url, "EUDAMED_BASE_URL": eudamed})
    parts = ["redis", "worker", "api"] + (["beat"] if beat_exists() else [])
    try:
        stack.start("redis")
        wait_until(lambda: subprocess.run(["redis-cli", "-p", str(stack.redis_port), "ping"],
                                          env={**os.environ, "REDISCLI_AUTH": SECRETS["REDIS_PASSWORD"]},
                                          capture_output=True, text=True).stdout.strip() == "PONG", 15, "redis answering")
        for name in parts[1:]:
            stack.start(name)
        base = f"http://127.0.0.1:{stack.api_port}"
        health = stack.compose["services"]["api"]["healthcheck"]["test"][1:]
        health = [part.replace(":8000/", f":{stack.api_port}/") for part in health]
        wait_until(lambda: subprocess.run(health, env=stack.service_env("api"), capture_output=True).returncode == 0,
                   90, "the api's compose healthcheck passing")
        wait_until(lambda: httpx.get(f"{base}/readyz", timeout=5).status_code == 200, 90, "GET /readyz 200")
        # as an operator would: docker compose exec api cer token …
        token = subprocess.run(["cer", "token", "--subject", "ops", "--role", "author"], env=stack.service_env("api"),
                               capture_output=True, text=True, check=True, cwd=root).stdout.strip()
        smoke = subprocess.run([str(PROJECT_ROOT / "deploy/smoke.sh"), base], capture_output=True, text=True,
                               env={**os.environ, "SMOKE_TOKEN": token, "SMOKE_WAIT_SECONDS": "900"}, timeout=1000)
        (root / "smoke.log").write_text(smoke.stdout + smoke.stderr)
        headers = {"Authorization": f"Bearer {token}"}
        job = httpx.post(f"{base}/v1/reports", json={"code": "HWC", "from": "api"}, headers=headers).json()["job_id"]
        status = wait_until(lambda: (s := httpx.get(f"{base}/v1/jobs/{job}", headers=headers).json())["status"]
                            in ("succeeded", "failed") and s, 900, "the openFDA job finishing", interval=2)
        metrics = httpx.get(f"{base}/metrics").text
        return {"smoke": smoke, "status": status, "metrics": metrics, "token": token, "fake": fake,
                "parts": parts, "stack": stack, "finished_at": time.time()}
    finally:
        stack.stop()
        server.stop()


@pytest.mark.slow
def test_compose_wires_api_worker_beat_and_redis_and_a_demo_job_succeeds(finished_stack) -> None:
    stack: ComposeStack = finished_stack["stack"]
    services = stack.compose["services"]
    assert services["worker"]["command"] == ["cer", "worker"] and services["api"]["command"][:2] == ["cer", "serve"]
    assert services["beat"]["command"] == ["cer", "beat"]  # started here only once `cer beat` exists (issue 15)
    smoke = finished_stack["smoke"]
    assert smoke.returncode == 0, smoke.stdout + smoke.stderr + json.dumps({k: v[-3000:] for k, v in stack.logs().items()})
    assert "succeeded" in smoke.stdout and "cer.pdf: served" in smoke.stdout
    status = finished_stack["status"]
    assert status["status"] == "succeeded", status
    assert SECRETS["OPENFDA_API_KEY"] in finished_stack["fake"].keys_seen  # the key was used, so it could leak


@pytest.mark.slow
def test_logs_are_json_lines_with_job_fields_and_never_a_secret_or_token(finished_stack) -> None:
    logs = finished_stack["stack"].logs()
    needles = {**SECRETS, "token": finished_stack["token"],
               "basic auth": base64.b64encode(f"{SECRETS['OPENFDA_API_KEY']}:".encode()).decode()}
    for part, text in logs.items():
        for what, needle in needles.items():
            assert needle not in text, f"{part}.log holds the {what}"
    for part in ("api", "worker"):
        lines = [line for line in logs[part].splitlines() if line.strip()]
        records = []
        for line in lines:
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError:
                if part == "worker" and OTHER_PROGRAMS.match(line):
                    continue
                raise AssertionError(f"{part}.log: not a JSON line: {line[:200]}")
        assert records and all(LOG_FIELDS <= record.keys() for record in records), part
    worker = [json.loads(line) for line in logs["worker"].splitlines() if line.startswith("{")]
    finished = [r for r in worker if r["event"] == "job.finished"]
    assert len(finished) == 2 and {r["outcome"] for r in finished} == {"succeeded"}
    assert all(r["job_id"] and r["code"] == "HWC" and r["run_id"] and r["duration"] > 0 for r in finished)
    stages = [r for r in worker if r["event"] == "stage.finished"]
    assert {r["stage"] for r in stages} >= {"01_collect", "05_report", "assemble"}
    assert all(r["duration"] >= 0 and r["job_id"] and r["run_id"] for r in stages)
    assert any(r["level"] == "info" and r["logger"].startswith("celery") for r in worker)  # Celery's own lines too


@pytest.mark.slow
def test_metrics_count_jobs_429s_queue_and_last_success(finished_stack) -> None:
    text = finished_stack["metrics"]

    def value(series: str) -> float:
        match = re.search(rf"^{re.escape(series)} (\S+)$", text, re.MULTILINE)
        assert match, f"{series} not in /metrics"
        return float(match[1])

    assert value('cer_jobs_total{outcome="succeeded"}') == 2
    assert value("cer_openfda_rate_limited_total") == 1  # the one 429 the local openFDA answered
    assert value('cer_queue_length{queue="cer"}') == 0
    assert value('cer_http_cache_responses_total{result="miss"}') > 0
    assert 0 < finished_stack["finished_at"] - value('cer_report_last_success_timestamp_seconds{code="HWC"}') < 900
    assert value('cer_stage_seconds_count{stage="03_analyze"}') == 2
    # every series the alerts and the dashboard use is served (cer_schedule_interval_seconds from the schedules file)
    used = set()
    for name in ("alerts.yaml", "grafana-dashboard.json"):
        used |= set(re.findall(r"\bcer_[a-z_]+", (PROJECT_ROOT / "deploy/monitoring" / name).read_text()))
    family = lambda name: re.sub(r"_(total|sum|count|bucket)$", "", name)  # noqa: E731
    served = {family(name) for name in re.findall(r"^# TYPE (cer_[a-z_]+) ", text, re.MULTILINE)}
    unserved = {family(name) for name in used} - served
    assert unserved == set(), unserved
