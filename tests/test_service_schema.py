"""Schemathesis over the live API's OpenAPI schema: a bounded number of generated requests per
operation, with an admin token, finds no server error (5xx). ``/readyz`` is left out: without a worker
its 503 is the intended answer (tested in test_service_faults).

Its own Redis and API, without a worker: generated submissions that pass the checks are only queued.
"""
from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from service_stack import ServiceStack

pytestmark = pytest.mark.slow
MAX_EXAMPLES = 10


def test_generated_requests_find_no_server_error(tmp_path):
    stack = ServiceStack(tmp_path, env={"CER_RATE_LIMIT_PER_MINUTE": "100000"})
    stack.start_redis()
    stack.start_api()
    try:
        st = shutil.which("st", path=str(Path(sys.executable).parent))
        assert st, "schemathesis's `st` is installed with the test extra"
        run = subprocess.run(
            [st, "run", f"{stack.base_url}/openapi.json", "--checks", "not_a_server_error",
             "--max-examples", str(MAX_EXAMPLES), "--seed", "20261130", "--workers", "1", "--max-time", "30",
             "--phases", "examples,coverage,fuzzing", "--exclude-path", "/readyz",  # 503 without a worker, by design
             "--header", f"Authorization: Bearer {stack.token('fuzzer', 'admin')}", "--no-color"],
            capture_output=True, text=True, timeout=400, cwd=tmp_path)
        summary = run.stdout[-4000:]
        assert run.returncode == 0, summary + run.stderr[-2000:] + stack.logs()
        assert "No issues found" in run.stdout or " passed" in run.stdout, summary
        api_log = (tmp_path / "api.log").read_text()
        assert "Traceback" not in api_log, api_log[-3000:]
    finally:
        stack.stop()
