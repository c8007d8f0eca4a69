"""The run folder: one place for its layout, typed readers of what the stages write, and run ids that never collide."""
from __future__ import annotations

import datetime as dt
import json
import multiprocessing
import os
from pathlib import Path

import pytest

from cer_lib.errors import RunFileInvalid, RunFileMissing, TablesNotFound
from cer_lib.runfolder import CodeFolder, Outputs, RunFolder, layout, run_started
from cer_lib.runfolder.analysis import AnalysisFile
from cer_lib.settings import Settings

from report_fixtures import CODE, RUN_ID, make_run_folder


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> RunFolder:
    return RunFolder(make_run_folder(tmp_path_factory.mktemp("runfolder")))


def _finished(code_dir: Path, run_id: str) -> Path:
    path = code_dir / run_id
    path.mkdir(parents=True)
    (path / layout.notebook(layout.STAGES[0])).write_text("{}")
    return path


# ----------------------------------------------------------------------------------------------
# typed readers


def test_readers_return_typed_models_of_what_the_stages_wrote(run: RunFolder) -> None:
    assert run.run_id == RUN_ID and run.state == "finished"
    assert run.parameters().code == CODE and run.run_record().run_id == RUN_ID
    status = run.collect_status()
    assert status.origin == "mirror" and status.state("device_pma") == "empty"
    assert status.source("device_event").name == "device_event"  # filled from the key when the entry lacks it
    resolution = run.resolution()
    assert type(resolution).__name__ == "DeviceResolution" and resolution.comparator_codes == ["HTY", "JDW", "NDJ"]
    analysis = run.analysis()
    assert isinstance(analysis, AnalysisFile) and analysis.meta.as_of == dt.date(2024, 6, 15)
    assert analysis.trend.verdict.recent.months == 12 and analysis.change_points[0].before_ci == [10.42, 12.25]
    assert run.integrate_summary()["events"].duplicates_removed == 2
    assert set(run.tables(["recalls"])) == {"recalls"}


def test_a_missing_file_names_the_stage_that_writes_it(tmp_path: Path) -> None:
    folder = RunFolder(tmp_path)
    with pytest.raises(RunFileMissing, match="results/analysis.json not found: run stage 03_analyze first"):
        folder.analysis()
    assert folder.run_record(missing_ok=True) is None
    with pytest.raises(TablesNotFound, match="run stage 02_integrate first"):
        folder.tables()


def test_a_file_of_the_wrong_shape_is_refused_naming_the_field(tmp_path: Path) -> None:
    folder = RunFolder(tmp_path)
    (tmp_path / "results").mkdir()
    (tmp_path / "results" / "analysis.json").write_text(json.dumps({"trend": {"rate_ratio_per_year": "a lot"}}))
    with pytest.raises(RunFileInvalid, match=r"analysis\.json: not the shape.*trend\.rate_ratio_per_year"):
        folder.analysis()
    (tmp_path / "results" / "analysis.json").write_text("{not json")
    with pytest.raises(RunFileInvalid, match="not valid JSON"):
        folder.analysis()
    with pytest.raises(RunFileInvalid):
        folder.write_analysis({"monthly_counts": {"rows": [{"month": "not a month"}]}})
    assert not folder.exists(layout.ANALYSIS + ".tmp")


def test_older_files_are_read_and_unknown_fields_are_kept_and_listed(tmp_path: Path) -> None:
    folder = RunFolder(tmp_path)
    (tmp_path / "results").mkdir()
    (tmp_path / "results" / "analysis.json").write_text(json.dumps({"trend": {"status": "ok", "new_measure": 3}}))
    analysis = folder.analysis()
    assert analysis.trend.status == "ok" and analysis.forecast.rows == [] and analysis.change_points is None
    assert analysis.unknown_fields() == ["trend.new_measure"]


def test_run_files_are_never_served_from_outside_the_run(run: RunFolder, tmp_path: Path) -> None:
    assert run.file("results/analysis.json").is_file()
    for name in ("../parameters.yaml", "/etc/passwd", "tables/../../x", "", "tables\\..\\x"):
        with pytest.raises(RunFileInvalid):
            run.file(name)
    outside = tmp_path / "secret.txt"
    outside.write_text("secret")
    (run.path / "escape").symlink_to(outside)
    try:
        with pytest.raises(RunFileInvalid, match="outside the run folder"):
            run.file("escape")
        assert "escape" not in run.files()
    finally:
        (run.path / "escape").unlink()
    assert {"parameters.yaml", "results/analysis.json", "tables/summary.json"} <= set(run.files())


# ----------------------------------------------------------------------------------------------
# the runs of a code


def test_a_code_lists_only_its_finished_runs_newest_first(tmp_path: Path) -> None:
    code = Outputs(tmp_path).code_folder("HWC", "product_code")
    old = _finished(code.path, "20240101T000000Z-aaaaaaa")
    new = _finished(code.path, "20240201T000000Z-bbbbbbb")
    for name in (".tmp-20240301T000000Z-ccccccc", ".failed-20240302T000000Z-ddddddd", "lab", "_feedback"):
        (code.path / name).mkdir()
        (code.path / name / layout.notebook(layout.STAGES[0])).write_text("{}")
    assert [r.path for r in code.runs()] == [new, old]
    assert code.latest().path == new  # no link: the newest
    (code.path / layout.LATEST).symlink_to(old.name)
    assert code.latest().path == old  # the link wins
    assert code.previous_run(RunFolder(new)).path == old and code.previous_run(RunFolder(old)) is None
    assert [r.state for r in code.running()] == ["running"] and [r.state for r in code.failed_runs()] == ["failed"]
    assert [c.slug for c in Outputs(tmp_path).code_folders()] == ["HWC"]
    assert code.feedback_dir(new.name) == code.path / "_feedback" / new.name
    with pytest.raises(RunFileInvalid):
        code.run(".tmp-20240301T000000Z-ccccccc")
    with pytest.raises(RunFileInvalid):
        Outputs(tmp_path)["../HWC"]
    assert run_started(new.name) == dt.datetime(2024, 2, 1, tzinfo=dt.timezone.utc)


def test_a_run_id_already_taken_gets_a_suffix(tmp_path: Path) -> None:
    code = CodeFolder(tmp_path / "HWC")
    first = code.start_run("20240101T000000Z-aaaaaaa")
    second = code.start_run("20240101T000000Z-aaaaaaa")  # same id while the first runs
    assert (first.run_id, second.run_id) == ("20240101T000000Z-aaaaaaa", "20240101T000000Z-aaaaaaa-2")
    code.finish(first)
    code.fail(second)
    third = code.start_run("20240101T000000Z-aaaaaaa")  # both taken, finished and failed
    assert third.run_id == "20240101T000000Z-aaaaaaa-3" and third.state == "running"
    assert os.readlink(code.path / "latest") == "20240101T000000Z-aaaaaaa"


def _start(path: str, barrier, queue) -> None:  # noqa: ANN001 - a child process
    barrier.wait()
    queue.put(CodeFolder(path).start_run("20240101T000000Z-aaaaaaa").run_id)


def test_two_processes_starting_the_same_run_get_distinct_ids(tmp_path: Path) -> None:
    context = multiprocessing.get_context("fork")
    barrier, queue = context.Barrier(2), context.Queue()
    processes = [context.Process(target=_start, args=(str(tmp_path / "HWC"), barrier, queue)) for _ in range(2)]
    for p in processes:
        p.start()
    for p in processes:
        p.join(30)
    ids = sorted(queue.get(timeout=5) for _ in processes)
    assert ids == ["20240101T000000Z-aaaaaaa", "20240101T000000Z-aaaaaaa-2"]


def test_two_identical_reports_in_the_same_second_both_finish(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The runner with its stages stubbed: identical parameters, one clock second, two finished runs."""
    from cer_lib import pipeline

    settings = Settings(outputs_dir=tmp_path / "outputs", cache_dir=tmp_path / "cache", realdata_dir=tmp_path / "none")
    monkeypatch.setattr(pipeline, "make_run_id", lambda params: "20240101T000000Z-aaaaaaa")
    monkeypatch.setattr(pipeline, "_execute_stage", lambda stage, run_dir, params, notebooks: (run_dir / f"{stage}.ipynb").write_text("{}"))
    monkeypatch.setattr("cer_lib.report.assemble.assemble_within", lambda run_dir, seconds: [])  # the stages are stubs
    runs = [pipeline.run_report("HWC", overrides={"from": "api"}, settings=settings, progress=lambda _: None) for _ in range(2)]
    assert [r.run_dir.name for r in runs] == ["20240101T000000Z-aaaaaaa", "20240101T000000Z-aaaaaaa-2"]
    assert all((r.run_dir / "manifest.json").is_file() for r in runs)
    record = json.loads((runs[1].run_dir / "run.json").read_text())
    assert record["run_id"] == "20240101T000000Z-aaaaaaa-2" and record["reproduce"][-1].endswith(
        "--params outputs/HWC/20240101T000000Z-aaaaaaa-2/parameters.yaml")
