"""End to end: `cer report` on the demo mirror and on a local openFDA, as a user runs it.

- the run folder holds five executed notebooks without errors, a non-trivial cer.html and cer.pdf,
  and a complete manifest.json whose every hash verifies;
- FROM=api against a local server that speaks openFDA (serving the same real records) gives the
  same tidy tables, row for row and key for key, as FROM=mirror; the API key it sends is written
  nowhere (run folder, executed notebooks, manifest, report, HTTP cache, console), nor are credentials
  given in the base URLs (``http://user:password@host``).
"""
from __future__ import annotations

import base64
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import nbformat
import pandas as pd
import pytest

from demo_runs import cer_report as _report
from cer_lib.provenance import sha256_file
from cer_lib.runfolder import RunFolder
from cer_lib.runfolder.layout import STAGES
from cer_lib.settings import PROJECT_ROOT, Secret
from cer_lib.verify import verify_run
from cer_lib.tables.schemas import TABLE_NAMES, TABLES
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
def test_a_real_run_with_an_edited_report_or_claim_does_not_verify(mirror_run: Path, tmp_path: Path) -> None:
    def rehashed_report(run: Path) -> None:
        (run / "cer.html").write_text((run / "cer.html").read_text(encoding="utf-8").replace("HWC", "HWX"), encoding="utf-8")
        manifest = json.loads((run / "manifest.json").read_text())
        for entry in manifest["outputs"]:
            if entry["path"] == "cer.html":
                entry.update(sha256=sha256_file(run / "cer.html"), bytes=(run / "cer.html").stat().st_size)
        (run / "manifest.json").write_text(json.dumps(manifest))

    def flipped_claim(run: Path) -> None:
        manifest = json.loads((run / "manifest.json").read_text())
        manifest["data"]["synthetic"] = not manifest["data"]["synthetic"]
        (run / "manifest.json").write_text(json.dumps(manifest))

    expected = {rehashed_report: "the outputs list is not what the hash chain's links leave: an entry was edited, added or removed",
                flipped_claim: "the chain root does not match the manifest's claims: a claim was edited after the run"}
    for tamper, problem in expected.items():
        run = shutil.copytree(mirror_run, tmp_path / tamper.__name__, symlinks=True)
        assert verify_run(run).ok  # the copy verifies ...
        tamper(run)
        assert problem in verify_run(run).problems  # ... until it is edited


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
    leaks = _leaks(needles, api_run, tmp_path / "cache")
    assert not leaks, f"the API key was written to {leaks}"
    assert key not in done.stdout + done.stderr
    compared = 0
    device_tables = {name: TABLES[name] for name in TABLE_NAMES}  # TABLES also holds the drug tables
    for name, spec in device_tables.items():
        mirror_table = pd.read_parquet(mirror_run / "tables" / f"{name}.parquet")
        api_table = pd.read_parquet(api_run / "tables" / f"{name}.parquet")
        assert len(api_table) == len(mirror_table), f"{name}: {len(api_table)} rows from the API, {len(mirror_table)} from the mirror"
        key = list(spec.key)
        keys = lambda t: sorted(map(tuple, t[key].astype(str).values.tolist()))
        assert keys(api_table) == keys(mirror_table), f"{name}: keys differ"
        compared += 1
    assert compared == len(device_tables)
    requests = json.loads((api_run / "manifest.json").read_text())["requests"]
    assert requests and all(r["url"].startswith(fda.base_url) or r["url"].startswith(eudamed) for r in requests)


def _leaks(needles: list[bytes], *folders: Path) -> list[Path]:
    """Files under ``folders`` that hold any of ``needles``."""
    return [p for folder in folders for p in folder.rglob("*") if p.is_file() and any(n in p.read_bytes() for n in needles)]


@pytest.mark.realdata
def test_credentials_in_base_urls_are_written_nowhere(mirror_run: Path, threaded_httpserver, realdata: Path, tmp_path: Path) -> None:  # noqa: F811
    """``OPENFDA_BASE_URL`` and ``EUDAMED_BASE_URL`` with ``user:password@``: sent as HTTP Basic auth, stored nowhere;
    ``CER_MANIFEST_KEY`` signs the manifest and is stored nowhere either."""
    fda = serve_openfda(threaded_httpserver, in2bones_datasets(realdata), last_updated="2021-09-07")
    eudamed = serve_eudamed(threaded_httpserver, json.loads((realdata / "eudamed" / "udi-di-records.json").read_text()))
    user, password = "cer-user-5d1e07", "s3cret-p@ss-91c2b8"  # '@' travels percent-encoded in a URL
    manifest_key = "manifest-key-e2e-0c44a1"
    with_userinfo = lambda url: url.replace("http://", f"http://{user}:{password.replace('@', '%40')}@", 1)
    window_end = __import__("yaml").safe_load((mirror_run / "parameters.yaml").read_text())["window"]["end"]
    done, api_run = _report(tmp_path, "--from", "api", "--set", f"window.end={window_end}", CER_MANIFEST_KEY=manifest_key,
                            OPENFDA_BASE_URL=with_userinfo(fda.base_url), EUDAMED_BASE_URL=with_userinfo(eudamed))
    # the credentials reached openFDA (HWC has no UDI-DI to ask Eudamed about: test_collect covers that) ...
    assert set(fda.keys_seen) == {user}
    basic = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
    # ... and no file of the run, of the cache, nor the console holds them in any form
    needles = [user.encode(), password.encode(), password.replace("@", "%40").encode(), basic[6:].encode(), manifest_key.encode()]
    leaks = _leaks(needles, api_run, tmp_path / "cache")
    assert not leaks, f"base-URL credentials or the manifest key were written to {leaks}"
    assert not any(n.decode() in done.stdout + done.stderr for n in needles)
    status = json.loads((api_run / "collected" / "status.json").read_text())
    assert status["base_url"] == fda.base_url
    assert verify_run(api_run, key=Secret(manifest_key)).signature == "valid"


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
