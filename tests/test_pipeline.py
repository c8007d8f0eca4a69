"""The runner: a failing stage is named, kept aside, and never looks like a finished run."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import nbformat
import pytest

from cer_lib.runfolder.layout import STAGES
from cer_lib.errors import StageFailed
from cer_lib.pipeline import make_run_id, run_report
from cer_lib.params import load_parameters
from cer_lib.settings import PROJECT_ROOT, Settings

NOTEBOOKS = PROJECT_ROOT / "notebooks"


@pytest.fixture()
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """Outputs and cache in tmp_path, for this process and the kernels it starts; synthetic demo data."""
    monkeypatch.setenv("CER_OUTPUTS_DIR", str(tmp_path / "outputs"))
    monkeypatch.setenv("CER_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("CER_REALDATA_DIR", str(tmp_path / "no-realdata"))
    return Settings.from_env()


def _notebooks_failing_at(folder: Path, stage: str, error: str) -> Path:
    """The real stage notebooks, with ``stage`` raising ``error`` in an added cell."""
    for path in NOTEBOOKS.glob("*.ipynb"):
        shutil.copy(path, folder / path.name)
    nb = nbformat.read(folder / f"{stage}.ipynb", as_version=4)
    nb.cells.insert(3, nbformat.v4.new_code_cell(f"raise {error}"))
    nbformat.write(nb, folder / f"{stage}.ipynb")
    return folder


def test_run_id_is_utc_time_plus_a_parameters_hash() -> None:
    import datetime as dt

    params = load_parameters("HWC").resolved(today=dt.date(2026, 11, 30))
    when = dt.datetime(2026, 11, 30, 1, 2, 3, tzinfo=dt.timezone.utc)
    run_id = make_run_id(params, when)
    assert run_id.startswith("20261130T010203Z-") and len(run_id.split("-")[1]) == 7
    assert make_run_id(params, when) == run_id
    other = load_parameters("HWC", overrides={"methods": {"review_sample_size": 5}}).resolved(today=dt.date(2026, 11, 30))
    assert make_run_id(other, when) != run_id


@pytest.mark.slow
def test_a_failing_stage_is_named_kept_aside_and_latest_is_untouched(isolated: Settings, tmp_path: Path) -> None:
    (tmp_path / "nb").mkdir()
    notebooks = _notebooks_failing_at(tmp_path / "nb", "02_integrate", 'ValueError("malformed table from upstream")')
    with pytest.raises(StageFailed) as info:
        run_report("HWC", overrides={"from": "mirror"}, settings=isolated, notebooks_dir=notebooks, progress=lambda _: None)
    failure = info.value
    # cells counted from 1 in the executed notebook: title, parameters, injected parameters, open_run, ours
    assert failure.stage == "02_integrate" and failure.cell == 5
    assert 'cell 5 (raise ValueError("malformed table from upstream"))' in str(failure)
    assert "ValueError: malformed table from upstream" in str(failure)
    code_dir = isolated.outputs_dir / "HWC"
    entries = sorted(p.name for p in code_dir.iterdir())
    assert len(entries) == 1 and entries[0].startswith(".failed-"), entries
    kept = code_dir / entries[0]
    assert (kept / "01_collect.ipynb").is_file() and (kept / "02_integrate.ipynb").is_file()
    assert not (kept / "manifest.json").exists() and not (kept / "03_analyze.ipynb").exists()
    assert not (code_dir / "latest").exists()
    assert str(kept) in str(failure)


@pytest.mark.slow
def test_a_successful_run_moves_latest_and_verifies(synthetic_demo_run: Path) -> None:
    """The session's synthetic demo run (`conftest.synthetic_demo_run`), made by the runner through `cer report`."""
    from cer_lib.verify import verify_run

    latest = synthetic_demo_run.parent / "latest"
    assert latest.is_symlink() and latest.resolve() == synthetic_demo_run
    assert [p.name for p in synthetic_demo_run.parent.iterdir() if p.name.startswith(".")] == []
    manifest = json.loads((synthetic_demo_run / "manifest.json").read_text())
    assert [s["stage"] for s in manifest["stages"]] == [*STAGES, "assemble"]
    assert manifest["data"]["synthetic"] is True
    assert verify_run(synthetic_demo_run).ok
