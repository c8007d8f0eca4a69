"""End to end: `cer report` on the demo mirror and on a local openFDA, as a user runs it.

- the run folder holds five executed notebooks without errors, a non-trivial cer.html and cer.pdf,
  and a complete manifest.json whose every hash verifies;
- FROM=api against a local server that speaks openFDA (serving the same real records) gives the
  same tidy tables, row for row and key for key, as FROM=mirror; the API key it sends is written
  nowhere (run folder, executed notebooks, manifest, report, HTTP cache, console).
"""
from __future__ import annotations

import base64
import json
import os
import re
import subprocess
from pathlib import Path

import nbformat
import pandas as pd
import pytest

from demo_runs import cer_report as _report
from cer_lib.provenance import verify_run
from cer_lib.runfolder import RunFolder
from cer_lib.runfolder.layout import STAGES
from cer_lib.settings import PROJECT_ROOT
from cer_lib.tables.schemas import TABLES
from openfda_server import in2bones_datasets, serve_eudamed, serve_openfda
from openfda_server import threaded_httpserver  # noqa: F401  (fixture)

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def mirror_run(demo_run: Path) -> Path:
    """The session's demo run (`conftest.demo_run`)."""
    return demo_run


@pytest.mark.realdata
def test_the_run_folder_is_complete_and_verifies(mirror_run: Path) -> None:
    for stage in STAGES:
        nb = nbformat.read(mirror_run / f"{stage}.ipynb", as_version=4)
        errors = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []) if o.get("output_type") == "error"]
        assert not errors, f"{stage} has error outputs"
        assert any(c.get("outputs") for c in nb.cells if c.cell_type == "code"), f"{stage} was not executed"
    html = (mirror_run / "cer.html").read_text(encoding="utf-8")
    assert len(html) > 200_000 and "Screw, Fixation, Bone" in html and "HWC" in html
    assert (mirror_run / "cer.pdf").read_bytes().startswith(b"%PDF") and (mirror_run / "cer.pdf").stat().st_size > 50_000
    manifest = json.loads((mirror_run / "manifest.json").read_text())
    for key in ("parameters", "code_version", "environment", "inputs", "outputs", "stages", "run_id"):
        assert manifest[key], key
    assert manifest["requests"] == []  # a mirror run makes no HTTP request; its files are the inputs
    assert manifest["code_version"]["git_commit"] and "dirty" in manifest["code_version"]
    assert manifest["environment"]["packages"]["pandas"] == pd.__version__
    assert {s["stage"] for s in manifest["stages"]} >= set(STAGES) and all(s["seconds"] > 0 for s in manifest["stages"])
    assert any(i["path"].endswith("openFDA_raw_data.json") for i in manifest["inputs"])
    assert any(i["path"].endswith("foiclass.txt") for i in manifest["inputs"])
    listed = {o["path"] for o in manifest["outputs"]}
    assert {f"{s}.ipynb" for s in STAGES} | {"cer.html", "cer.pdf", "parameters.yaml", "results/analysis.json"} <= listed
    report = verify_run(mirror_run)
    assert report.ok, report.problems
    assert report.checked == len(manifest["outputs"]) + len(manifest["inputs"])


@pytest.mark.realdata
def test_the_run_files_have_exactly_the_shape_the_typed_models_declare(mirror_run: Path) -> None:
    """Every field the stages wrote is known to `cer_lib.runfolder`'s models, which read them all."""
    folder = RunFolder(mirror_run)
    assert folder.unknown_fields() == {}
    assert folder.analysis().monthly_counts.totals["all"] == 13 and folder.manifest().run_id == mirror_run.name


@pytest.mark.realdata
def test_executed_notebooks_hold_no_machine_paths(mirror_run: Path) -> None:
    for stage in STAGES:
        text = (mirror_run / f"{stage}.ipynb").read_text()
        assert ".tmp-" not in text, f"{stage} mentions the temporary run folder"


@pytest.mark.realdata
def test_api_and_mirror_give_the_same_tables(mirror_run: Path, threaded_httpserver, realdata: Path, tmp_path: Path) -> None:  # noqa: F811
    datasets = in2bones_datasets(realdata)
    fda = serve_openfda(threaded_httpserver, datasets, last_updated="2021-09-07")
    eudamed = serve_eudamed(threaded_httpserver, json.loads((realdata / "eudamed" / "udi-di-records.json").read_text()))
    window = json.loads(json.dumps(__import__("yaml").safe_load((mirror_run / "parameters.yaml").read_text())["window"], default=str))
    key = "FAKEKEY-e2e-7f3a9c21d4b8"
    done, api_run = _report(tmp_path, "--from", "api", "--set", f"window.end={window['end']}",
                            OPENFDA_BASE_URL=fda.base_url, EUDAMED_BASE_URL=eudamed, OPENFDA_API_KEY=key)
    # the key reached openFDA, and no file of the run (notebooks, manifest, HTML, PDF, tables), the cache or the log holds it
    assert key in fda.keys_seen
    needles = [key.encode(), base64.b64encode(f"{key}:".encode()), base64.b64encode(key.encode())]
    leaks = [p for p in [*api_run.rglob("*"), *(tmp_path / "cache").rglob("*")] if p.is_file() and any(n in p.read_bytes() for n in needles)]
    assert not leaks, f"the API key was written to {leaks}"
    assert key not in done.stdout + done.stderr
    compared = 0
    for name, spec in TABLES.items():
        mirror_table = pd.read_parquet(mirror_run / "tables" / f"{name}.parquet")
        api_table = pd.read_parquet(api_run / "tables" / f"{name}.parquet")
        assert len(api_table) == len(mirror_table), f"{name}: {len(api_table)} rows from the API, {len(mirror_table)} from the mirror"
        key = list(spec.key)
        keys = lambda t: sorted(map(tuple, t[key].astype(str).values.tolist()))
        assert keys(api_table) == keys(mirror_table), f"{name}: keys differ"
        compared += 1
    assert compared == len(TABLES)
    requests = json.loads((api_run / "manifest.json").read_text())["requests"]
    assert requests and all(r["url"].startswith(fda.base_url) or r["url"].startswith(eudamed) for r in requests)


def test_without_real_data_the_demo_says_synthetic_on_every_page(synthetic_demo_run: Path) -> None:
    """Elsewhere than this workplace the demo runs on a generated sample: every page must say so."""
    from pypdf import PdfReader

    run = synthetic_demo_run
    assert RunFolder(run).unknown_fields() == {}
    status = json.loads((run / "collected" / "status.json").read_text())
    assert status["synthetic"] is True
    pages = PdfReader(run / "cer.pdf").pages
    assert len(pages) > 10
    unmarked = [i + 1 for i, page in enumerate(pages) if "SYNTHETIC" not in page.extract_text().upper()]
    assert not unmarked, f"pages without the synthetic-data notice: {unmarked}"
    assert "SYNTHETIC DATA" in (run / "cer.html").read_text(encoding="utf-8")


@pytest.mark.realdata
def test_batch_reports_each_code_and_a_bad_code_harms_no_other(tmp_path: Path) -> None:
    environment = {**os.environ, "CER_OUTPUTS_DIR": str(tmp_path / "outputs"), "CER_CACHE_DIR": str(tmp_path / "cache")}
    done = subprocess.run(["make", "-s", "batch", "CODES=ZZZ HWC ../x", "FROM=mirror"], cwd=PROJECT_ROOT, env=environment,
                          capture_output=True, text=True, timeout=900)
    assert done.returncode != 0  # one or more codes failed
    summary = done.stdout[done.stdout.index("batch summary:"):]
    assert re.search(r"ZZZ\s+FAILED\s+'ZZZ' is not an FDA product code", summary)
    assert re.search(r"HWC\s+ok\s+", summary)
    assert re.search(r"\.\./x\s+FAILED\s+'\.\./x' is not a valid product code", summary)
    assert (tmp_path / "outputs" / "HWC" / "latest" / "manifest.json").is_file()
    assert sorted(p.name for p in (tmp_path / "outputs").iterdir()) == ["HWC"]
