"""JupyterLab as the README promises (issue 12.7): a stage notebook opened on a fresh clone runs with its
default parameters (empty ``run_dir``): the lab folder is seeded from the code's latest run, and the
statistician's edited ``parameters.yaml`` is kept by every stage, the first included."""
from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

import cer_lib
from cer_lib.params import read_yaml_mapping
from cer_lib.pipeline import KERNEL_NAME
from cer_lib.settings import PROJECT_ROOT, Settings
from report_fixtures import make_run_folder


def _outputs_with_a_run(tmp_path: Path, run: Path) -> tuple[Path, Path]:
    """``tmp_path/outputs/HWC/<run-id>`` copied from ``run``, with ``latest`` pointing at it, and no lab."""
    outputs = tmp_path / "outputs"
    target = outputs / "HWC" / run.name
    shutil.copytree(run, target)
    (outputs / "HWC" / "latest").symlink_to(run.name)
    return outputs, target


def test_edited_lab_parameters_survive_every_stage_and_the_lab_is_seeded_from_the_latest_run(tmp_path: Path) -> None:
    run = make_run_folder(tmp_path / "made")
    (run / "05_report.ipynb").write_text("{}")  # a finished run has its executed notebooks
    outputs, latest = _outputs_with_a_run(tmp_path, run)
    settings = Settings(outputs_dir=outputs)
    ctx = cer_lib.open_run("", code="HWC", stage="03_analyze", settings=settings)
    lab = outputs / "HWC" / "lab"
    assert ctx.run_dir == lab
    for name in ("tables/summary.json", "collected/status.json", "parameters.yaml"):
        assert (lab / name).read_bytes() == (latest / name).read_bytes(), name

    edited = (lab / "parameters.yaml").read_text().replace("alpha: 0.05", "alpha: 0.01", 1)
    assert edited != (lab / "parameters.yaml").read_text()
    (lab / "parameters.yaml").write_text(edited)
    for stage in ("01_collect", "02_integrate", "03_analyze"):
        ctx = cer_lib.open_run("", code="HWC", stage=stage, settings=settings)
        assert ctx.params.methods.trend.alpha == 0.01, stage
    assert read_yaml_mapping(lab / "parameters.yaml")["methods"]["trend"]["alpha"] == 0.01


def test_without_any_run_the_lab_is_not_seeded_and_the_stage_says_what_to_run_first(tmp_path: Path) -> None:
    from cer_lib.errors import RunFileMissing

    settings = Settings(outputs_dir=tmp_path / "outputs")
    ctx = cer_lib.open_run("", code="HWC", stage="03_analyze", settings=settings)
    with pytest.raises(RunFileMissing, match="02_integrate"):
        ctx.folder.integrate_summary()


@pytest.mark.realdata
@pytest.mark.slow
def test_03_analyze_runs_alone_in_jupyterlab_after_make_demo(demo_run: Path, tmp_path: Path) -> None:
    """The notebook as committed, default parameters, executed from notebooks/ as JupyterLab would."""
    import papermill

    outputs, latest = _outputs_with_a_run(tmp_path, demo_run)
    executed = tmp_path / "03_analyze.ipynb"
    env = {**os.environ, "CER_OUTPUTS_DIR": str(outputs)}
    old = os.environ.copy()
    os.environ.update(env)
    try:
        papermill.execute_notebook(str(PROJECT_ROOT / "notebooks" / "03_analyze.ipynb"), str(executed),
                                   kernel_name=KERNEL_NAME, cwd=str(PROJECT_ROOT / "notebooks"), progress_bar=False)
    finally:
        os.environ.clear()
        os.environ.update(old)
    analysis = json.loads((outputs / "HWC" / "lab" / "results" / "analysis.json").read_text())
    assert analysis["monthly_counts"]["totals"]["all"] == json.loads((latest / "results/analysis.json").read_text())["monthly_counts"]["totals"]["all"]
    text = executed.read_text()
    assert f"copied from run {latest.name}" in text and "lab/parameters.yaml" in text
