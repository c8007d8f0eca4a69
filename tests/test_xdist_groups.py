"""`make test`'s two workers: every test that reads a shared run is in the one group that builds it.

The scheduler knows a test only by its node id (`xdist_groups`), so it finds the modules that read a
shared run from their source. Here the suite is collected for real and each test's fixtures (and
the helpers its module imports) are checked against that: a module that reaches a shared run in a
way its source does not name would have the run built a second time, in the other worker.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

from xdist_groups import LONGEST_FIRST, NOTEBOOK_GROUP, SHARED_BUILDS, SHARED_GROUP, group_of, shared_modules

PROJECT_ROOT = Path(__file__).resolve().parents[1]

# a plugin for a collect-only run: each test's node id, its fixtures, and the shared builds its module holds
_DUMP = textwrap.dedent('''
    import json, os
    def pytest_collection_finish(session):
        rows = [{"nodeid": item.nodeid, "fixtures": list(getattr(item, "fixturenames", ())),
                 "module_names": sorted(vars(item.module)) if getattr(item, "module", None) else []}
                for item in session.items]
        with open(os.environ["CER_GROUPS_DUMP"], "w") as out:
            json.dump(rows, out)
''')


def _collected(tmp_path: Path) -> list[dict]:
    (tmp_path / "dump_plugin.py").write_text(_DUMP)
    dump = tmp_path / "items.json"
    done = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider",
                           "-p", "dump_plugin"], cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=600,
                          env={**os.environ, "PYTHONPATH": str(tmp_path), "CER_GROUPS_DUMP": str(dump)})
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    return json.loads(dump.read_text())


def test_every_reader_of_a_shared_run_is_in_the_shared_group_and_the_notebooks_in_theirs(tmp_path: Path) -> None:
    items = _collected(tmp_path)
    shared = shared_modules(PROJECT_ROOT)
    readers = {row["nodeid"] for row in items
               if set(SHARED_BUILDS) & (set(row["fixtures"]) | set(row["module_names"]))}
    assert readers, "no test reads a shared run: the collection did not see the suite"
    assert {group_of(nodeid, shared) for nodeid in readers} == {SHARED_GROUP}
    notebooks = [row["nodeid"] for row in items if row["nodeid"].startswith("notebooks/")]
    assert len({n.split("::")[0] for n in notebooks}) == 5  # the five stage notebooks, in one group
    assert {group_of(nodeid, shared) for nodeid in notebooks} == {NOTEBOOK_GROUP}
    modules = {row["nodeid"].split("::")[0] for row in items}
    assert set(LONGEST_FIRST) - {SHARED_GROUP, NOTEBOOK_GROUP} <= modules  # a renamed module is noticed


def test_other_modules_are_each_their_own_group() -> None:
    shared = {"tests/test_html.py"}
    assert group_of("tests/test_html.py::test_x[a::b]", shared) == SHARED_GROUP
    assert group_of("tests/test_names.py::test_y[PIT'STOP]", shared) == "tests/test_names.py"
    assert group_of("tests/test_service_api.py::TestClass::test_z", shared) == "tests/test_service_api.py"
    assert group_of("notebooks/03_analyze.ipynb::Cell 2", shared) == NOTEBOOK_GROUP
