"""The mirror's load report is part of the run (issue 11.1, run side): ``collected/mirror_load.json``
is written by stage 01 (also when a refused file stops it), the manifest states the rows each file
lost, and the report says so on its first page and lists every file in its data section (4.5).

The rejected rows are real: the foitext2007 subset of ../shared/realdata with a patient file whose
first three rows hold a stray '|' (`test_mirror_reliability.patient_rows`), read by a real `Mirror`.
"""
from __future__ import annotations

import html
import json
import re
from pathlib import Path

import pytest

import cer_lib
from cer_lib.manifest import derived_claims
from cer_lib.report.document import section_html
from cer_lib.report.facts import build_facts
from cer_lib.report.narrative import narrate, render_narrative
from cer_lib.runfolder import RunFolder
from cer_lib.sources.mirror import Mirror, MirrorLoadReport
from report_fixtures import make_run_folder
from test_mirror_reliability import ALL, foitext_keys, foitext_mirror, patient_rows, run_with_a_refused_file

STRAY = "line 1: 6 fields, expected 5; only a free-text last column can absorb '|'"


@pytest.fixture(scope="module")
def three_rejected(realdata: Path, tmp_path_factory) -> MirrorLoadReport:
    folder = foitext_mirror(tmp_path_factory.mktemp("mirror"), realdata, patient=patient_rows(foitext_keys(realdata), 3))
    mirror = Mirror(folder)
    assert mirror.total("device/event", ALL) == 5153
    return mirror.load_report()


def test_rejected_rows_are_said_on_the_first_page_and_listed_in_the_data_section(three_rejected, tmp_path: Path) -> None:
    run = make_run_folder(tmp_path)
    RunFolder(run).write_mirror_load(three_rejected)
    narrate(cer_lib.open_run(run))
    summary = html.unescape(next(s for s in render_narrative(build_facts(run)).sections if s.id == "summary").markdown)
    assert "3 rows of the local mirror's files could not be read" in summary
    assert f"maude/patient2007.txt: 3 of 5,153 rows rejected (first: {STRAY})" in summary

    data_section = section_html(cer_lib.open_run(run), "4")
    table = data_section[data_section.index('id="tab-mirror-load"'):]
    for name in ("maude/mdrfoi2007.txt", "maude/foitext2007.txt", "maude/patient2007.txt"):
        assert name in table
    assert STRAY in html.unescape(table)

    claims = derived_claims(run)["data"]["mirror_load"]
    assert claims["rows_rejected"] == 3 and claims["refused"] == []
    assert claims["files_with_rejections"] == [{
        "path": "maude/patient2007.txt", "status": "loaded", "rows_read": 5153, "rows_rejected": 3,
        "reasons": {"6 fields, expected 5; only a free-text last column can absorb '|'": 3}}]


def test_a_run_from_the_api_says_no_file_was_read(tmp_path: Path) -> None:
    run = make_run_folder(tmp_path)
    narrate(cer_lib.open_run(run))
    assert "Not a run from the local mirror" in section_html(cer_lib.open_run(run), "4")
    assert "mirror_load" not in derived_claims(run)["data"]


@pytest.mark.realdata
def test_the_demo_run_keeps_its_load_report_and_its_manifest_states_it(demo_run: Path) -> None:
    folder = RunFolder(demo_run)
    load = folder.mirror_load()
    assert load is not None and {f.status for f in load.files} >= {"loaded"}
    manifest = json.loads((demo_run / "manifest.json").read_text())
    assert manifest["data"]["mirror_load"] == json.loads(json.dumps(load.summary()))
    assert "collected/mirror_load.json" in {o["path"] for o in manifest["outputs"]}
    html = re.sub(r"<wbr/?>", "", (demo_run / "cer.html").read_text(encoding="utf-8"))  # long names get break points
    table = html[html.index('id="tab-mirror-load"'):]
    for f in load.files:
        if f.status == "loaded":
            assert f.path in table


@pytest.mark.slow
def test_a_failed_run_keeps_the_load_report_naming_the_refused_file(realdata: Path, tmp_path: Path) -> None:
    done, _, outputs = run_with_a_refused_file(realdata, tmp_path)
    assert done.returncode == 2, done.stdout + done.stderr
    (failed,) = (outputs / "HWC").iterdir()
    load = RunFolder(failed).mirror_load()
    assert load is not None
    refused = load.file("device/event/event_data.csv")
    assert refused.status == "refused" and refused.refused.startswith("line 1: not '|'-delimited")
