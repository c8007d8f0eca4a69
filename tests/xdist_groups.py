"""Which tests run together in one pytest-xdist worker, and which groups start first (`make test`).

A group runs whole in one worker:

- the modules that read a run the session builds once and shares (`SHARED_BUILDS`, see conftest):
  one group, so each run is built once, in one worker, not once per worker (one group rather than
  one per build: test_html reads both shared_run and synthetic_demo_run, test_end_to_end both demo runs);
- the stage notebooks that nbval runs: in order, in one lab folder of the worker's outputs;
- every other module: its module-scoped fixtures (a service stack, a batch of reports) are built once.

The longest groups (`LONGEST_FIRST`, from ``pytest --durations``) are handed out first, so that the two
workers finish at about the same time. Groups are known from the node ids alone: the controller that
schedules them collects no tests, so a module reads a shared run when its source names one.

pytest-xdist's own ``--dist loadgroup`` reads ``xdist_group`` marks through the node ids, which pytest
9.2 no longer lets a plugin change (pytest-xdist issue 1386): hence this scheduler, which replaces it
under ``--dist loadgroup``.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from xdist.scheduler import LoadScopeScheduling

SHARED_BUILDS = ("demo_run", "synthetic_demo_run", "book_site", "shared_run")
SHARED_GROUP = "shared-runs"
NOTEBOOK_GROUP = "notebooks"
# seconds in one process on the shared 2-core machine (pytest --durations=60, 2026-11-30): 845, 724, 559, 291,
# 290, 184, 158, 141, 137; every other module under 90
LONGEST_FIRST = (SHARED_GROUP, "tests/test_names.py", "tests/test_refresh.py", "tests/test_deploy_stack.py",
                 "tests/test_timeseries_figures.py", "tests/test_service_api.py", "tests/test_timeseries_phases.py",
                 "tests/test_timeseries_trend.py", "tests/test_drug_profile.py")

_NAMES_A_SHARED_BUILD = re.compile(r"\b(?:%s)\b" % "|".join(SHARED_BUILDS))


def shared_modules(root: Path) -> set[str]:
    """The test modules (paths as in node ids) whose source names one of `SHARED_BUILDS`."""
    return {path.relative_to(root).as_posix() for path in sorted((root / "tests").glob("test_*.py"))
            if _NAMES_A_SHARED_BUILD.search(path.read_text(encoding="utf-8"))}


def group_of(nodeid: str, shared: set[str]) -> str:
    """The group of a test: its module, or the shared-runs or notebooks group."""
    module = nodeid.split("::", 1)[0]
    if module.endswith(".ipynb"):
        return NOTEBOOK_GROUP
    return SHARED_GROUP if module in shared else module


class GroupScheduling(LoadScopeScheduling):
    """xdist's scheduling by scope, with `group_of` as the scope and `LONGEST_FIRST` handed out first."""

    def __init__(self, config: pytest.Config, log: Any = None) -> None:
        super().__init__(config, log)
        self.shared = shared_modules(Path(config.rootpath))
        self.ordered = False

    def _split_scope(self, nodeid: str) -> str:
        return group_of(nodeid, self.shared)

    def _assign_work_unit(self, node: Any) -> None:
        if not self.ordered:  # once, on the first hand-out: the longest first, the rest in collection order
            rank = {group: position for position, group in enumerate(LONGEST_FIRST)}
            for group in sorted(self.workqueue, key=lambda group: rank.get(group, len(rank))):
                self.workqueue.move_to_end(group)
            self.ordered = True
        super()._assign_work_unit(node)
