"""``make lint-deploy`` (``deploy/lint.py``): the deployment files pass every linter, and each linter fails
on a copy of the files with one deliberate mistake in its format (so a passing run means the linter
really read the file and would have objected)."""
from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from needs import missing

PROJECT_ROOT = Path(__file__).resolve().parents[1]
DEPLOY_FILES = ("Dockerfile", "compose.yaml", ".github", "deploy")


def lint(root: Path, only: str | None = None) -> subprocess.CompletedProcess[str]:
    argv = [sys.executable, str(PROJECT_ROOT / "deploy/lint.py"), "--root", str(root)] + (["--only", only] if only else [])
    return subprocess.run(argv, capture_output=True, text=True, timeout=300)


@pytest.fixture
def copy(tmp_path: Path) -> Path:
    if shutil.which("promtool") is None:
        missing("promtool is not installed (Debian package prometheus; `make lint-deploy` installs it)")
    for name in DEPLOY_FILES:
        source = PROJECT_ROOT / name
        (shutil.copytree if source.is_dir() else shutil.copy2)(source, tmp_path / name)
    return tmp_path


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text, f"{path.name} no longer holds {old!r}: update this test's mistake"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


# (check, file, text replaced, replacement, what the linter's message must say)
MISTAKES = [
    ("hadolint", "Dockerfile", "USER 10001:10001", "USER root", "DL3002"),  # the last USER is root
    ("compose", "compose.yaml", "stop_grace_period: 30s", "stop_grace_periods: 30s", "stop_grace_periods"),
    ("workflows", ".github/workflows/deploy.yml", "    runs-on: ubuntu-latest", "    runs_on: ubuntu-latest", "deploy.yml"),
    ("dependabot", ".github/dependabot.yml", "interval: weekly, day: monday}\n    open", "interval: fortnightly}\n    open",
     "dependabot.yml"),
    # --strict: a misspelt field (readOnlyRootFileSystem) is an error, not silently ignored
    ("kubernetes", "deploy/k8s/base/api.yaml", "readOnlyRootFilesystem: true", "readOnlyRootFileSystem: true",
     "readOnlyRootFileSystem"),
    ("kubernetes", "deploy/k8s/production/autoscaling.yaml", "maxReplicas: 8", "maxReplicas: eight", "maxReplicas"),
    ("alert-rules", "deploy/monitoring/alerts.yaml", "expr: max(cer_queue_length) > 20", "expr: max(cer_queue_length > 20",
     "parse error"),
    ("alert-tests", "deploy/monitoring/alerts.yaml", "max(cer_queue_length) > 20", "max(cer_queue_length) > 30",
     "CerQueueBacklog"),
    ("prometheus-config", "deploy/monitoring/prometheus.yaml", "scrape_interval: 30s", "scrape_interval: thirty", "thirty"),
    ("dashboard", "deploy/monitoring/grafana-dashboard.json", "sum by (outcome) (increase(cer_jobs_total[1h]))",
     "sum by (outcome) (increase(cer_jobs_total[1h])", "parse error"),
]


def test_the_deployment_files_pass_every_linter(copy: Path) -> None:
    done = lint(copy)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "all 9 check(s) passed" in done.stdout


@pytest.mark.parametrize(("check", "file", "old", "new", "said"), MISTAKES, ids=[f"{m[0]}-{m[1]}" for m in MISTAKES])
def test_each_linter_fails_on_a_broken_copy(copy: Path, check: str, file: str, old: str, new: str, said: str) -> None:
    edit(copy / file, old, new)
    done = lint(copy, check)
    assert done.returncode == 1, done.stdout + done.stderr
    assert f"FAILED  {check}" in done.stdout and said in done.stdout, done.stdout
    ran = re.findall(r"^  (?:ok|FAILED)  (\S+)", done.stdout, re.MULTILINE)
    assert ran == [check]  # only that check ran (the intact copy passes them all, test above)


def test_make_test_runs_lint_deploy() -> None:
    recipe = subprocess.run(["make", "-n", "test"], cwd=PROJECT_ROOT, capture_output=True, text=True, check=True).stdout
    assert recipe.index("deploy/lint.py") < recipe.index("-m pytest")
