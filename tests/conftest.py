"""Shared test fixtures.

`realdata` points at ../shared/realdata (relative to the project root). Tests that need it use the
fixture (or the `realdata` marker): elsewhere they skip with a reason; under CI=true a missing folder
is a failure, never a silent skip.

Runs that many tests only read are built once per session, here: `demo_run` (``cer report HWC
--from mirror`` on the real demo data), `synthetic_demo_run` (the same where the real data are
absent) and `book_site` (the Jupyter Book of a hostile synthetic run and two runs of a second
code). Tests must not change them; they copy what they want to change. Under `make test`'s two
workers every module that reads one of them runs in the same worker, so each is built once
(`xdist_groups`).
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


@pytest.hookimpl(optionalhook=True)  # a hook of pytest-xdist: `make test` runs two workers
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """Under ``--dist loadgroup``: whole groups of tests per worker, the longest first (`xdist_groups`)."""
    if config.getvalue("dist") != "loadgroup":
        return None
    from xdist_groups import GroupScheduling

    return GroupScheduling(config, log)
