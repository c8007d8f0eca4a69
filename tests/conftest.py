"""Shared test fixtures.

`realdata` points at ../shared/realdata (relative to the project root). Tests that need it use the
fixture (or the `realdata` marker): elsewhere they skip with a reason; under CI=true a missing folder
is a failure, never a silent skip.

Runs that many tests only read are built once per session, here: `demo_run` (``cer report HWC
--from mirror`` on the real demo data), `synthetic_demo_run` (the same where the real data are
absent) and `book_site` (the Jupyter Book of a hostile synthetic run and two runs of a second
code). Tests must not change them; they copy what they want to change.
"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import pytest

from needs import missing

PROJECT_ROOT = Path(__file__).resolve().parents[1]
REALDATA = PROJECT_ROOT.parent / "shared" / "realdata"


# Tests (and the kernels nbval starts, which inherit this environment) never write into the
# repository's outputs/ or .cache/: both point at a temporary folder for the whole session.
_SESSION_TMP = Path(tempfile.mkdtemp(prefix="cer-tests-"))
os.environ.setdefault("CER_OUTPUTS_DIR", str(_SESSION_TMP / "outputs"))
os.environ.setdefault("CER_CACHE_DIR", str(_SESSION_TMP / "cache"))
# Nothing in the tests may reach the public services: unset keys, point the clients at a closed port.
os.environ.pop("OPENFDA_API_KEY", None)
os.environ.pop("CER_MANIFEST_KEY", None)  # a developer's signing key must not change what the tests see
for _variable in [v for v in os.environ if v.startswith(("CER_JWT", "CER_REDIS", "CER_API", "CER_MIRRORS"))]:
    os.environ.pop(_variable)  # nor a developer's service settings (the service tests start their own)
os.environ.setdefault("OPENFDA_BASE_URL", "http://127.0.0.1:9")
os.environ.setdefault("EUDAMED_BASE_URL", "http://127.0.0.1:9")


def _require_realdata() -> Path:
    if REALDATA.is_dir():
        return REALDATA
    missing(f"real public data not found at {REALDATA} (see README, Development)")


@pytest.fixture(scope="session")
def realdata() -> Path:
    """Path to ../shared/realdata; skip (or fail under CI=true) when it is absent."""
    return _require_realdata()


def pytest_runtest_setup(item: pytest.Item) -> None:
    if item.get_closest_marker("realdata") is not None:
        _require_realdata()


@pytest.fixture(scope="session")
def demo_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo run on the real data (``cer report HWC --from mirror``), read only."""
    from demo_runs import cer_report

    _require_realdata()
    return cer_report(tmp_path_factory.mktemp("demo"), "--from", "mirror")[1]


@pytest.fixture(scope="session")
def synthetic_demo_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo run where ../shared/realdata is absent (the generated sample), read only."""
    from demo_runs import cer_report

    tmp = tmp_path_factory.mktemp("synthetic-demo")
    return cer_report(tmp, "--from", "mirror", CER_REALDATA_DIR=str(tmp / "absent"))[1]


@pytest.fixture(scope="session")
def book_site(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The book of a hostile synthetic HWC run and two runs of LZG (`_publishing_fixtures.build_book_site`), read only."""
    from _publishing_fixtures import build_book_site

    return build_book_site(tmp_path_factory.mktemp("book"))


# ----------------------------------------------------------------------------------------------
# two workers: `make test` runs pytest-xdist with ``-n 2 --dist loadgroup``; a group runs whole in one worker

# What a worker builds once and several modules read: every module that reads one of them joins one
# group, so each is built once in one worker rather than once per worker. (One group, not one per
# build: test_html reads both shared_run and synthetic_demo_run, test_end_to_end both demo runs.)
SHARED_BUILDS = ("demo_run", "synthetic_demo_run", "book_site", "shared_run")
SHARED_GROUP = "shared-runs"
# nbval runs the stage notebooks in order in one lab folder of the worker's outputs
NOTEBOOK_GROUP = "notebooks"
# The groups that take longest start first, so that both workers finish at about the same time
# (seconds from `pytest --durations=0` on the 2-core CI machine, listed in the README's Development).
LONGEST_FIRST = (SHARED_GROUP, "tests/test_names.py", "tests/test_refresh.py", "tests/test_deploy_stack.py",
                 NOTEBOOK_GROUP, "tests/test_service_api.py")


def _group(item: pytest.Item, shared_modules: set[Any]) -> str:
    if item.path.suffix == ".ipynb":
        return NOTEBOOK_GROUP
    if item.module in shared_modules:
        return SHARED_GROUP
    return item.nodeid.split("::", 1)[0]  # the module: its module-scoped fixtures are built once


def _reads_a_shared_build(item: pytest.Item) -> bool:
    module = getattr(item, "module", None)
    return any(name in getattr(item, "fixturenames", ()) or name in vars(module) for name in SHARED_BUILDS)


@pytest.hookimpl(tryfirst=True)  # before xdist's own hook, which turns the marks into the node ids' groups
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Under ``--dist loadgroup``: mark every test with its group, the longest groups first."""
    if getattr(config.option, "dist", "no") != "loadgroup":
        return
    shared_modules = {item.module for item in items if item.path.suffix == ".py" and _reads_a_shared_build(item)}
    groups = {item.nodeid: _group(item, shared_modules) for item in items}
    for item in items:
        item.add_marker(pytest.mark.xdist_group(groups[item.nodeid]))
    rank = {group: position for position, group in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(groups[item.nodeid], len(rank)))  # stable: in order within a group
