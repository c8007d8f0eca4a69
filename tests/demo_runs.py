"""``cer report`` as a user runs it, for the tests that need a real run (see ``conftest.demo_run``)."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from cer_lib.settings import PROJECT_ROOT


def cer_report(tmp: Path, *args: str, **env: str) -> tuple[subprocess.CompletedProcess[str], Path]:
    """``cer report HWC *args`` as a user runs it, outputs and cache in ``tmp``; (the process, the latest run)."""
    outputs = tmp / "outputs"
    environment = {**os.environ, "CER_OUTPUTS_DIR": str(outputs), "CER_CACHE_DIR": str(tmp / "cache"), **env}
    done = subprocess.run([sys.executable, "-m", "cer_lib", "report", "HWC", *args], cwd=PROJECT_ROOT, env=environment,
                          capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    return done, (outputs / "HWC" / "latest").resolve()
