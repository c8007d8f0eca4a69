"""Provenance: redacted URLs, request and input logs, manifest hashes and `cer verify`."""
from __future__ import annotations

import json
from multiprocessing import Pool
from pathlib import Path

import pytest

from cer_lib.errors import VerifyError
from cer_lib.provenance import MANIFEST, Provenance, redact_url, sha256_bytes, verify_run, write_manifest


@pytest.mark.parametrize(
    "url",
    [
        "https://api.fda.gov/device/event.json?search=x&api_key=SECRET123&limit=1",
        "https://api.fda.gov/device/event.json?API_KEY=SECRET123",
        "https://user:SECRET123@api.fda.gov/device/event.json?limit=1",
    ],
)
def test_redacted_urls_keep_the_query_but_never_the_key(url: str) -> None:
    clean = redact_url(url)
    assert "SECRET123" not in clean and "api.fda.gov/device/event.json" in clean


def test_redaction_keeps_openfda_syntax_readable() -> None:
    url = 'https://api.fda.gov/device/event.json?search=device.device_report_product_code:("HWC"+OR+"HTY")&limit=1'
    assert redact_url(url) == url


def _append(args: tuple[str, int]) -> None:
    folder, i = args
    Provenance(Path(folder)).record_request(source="openfda", url=f"http://x/{i}", status=200, n_bytes=i, sha256="h")


def test_request_log_is_safe_to_append_from_several_processes(tmp_path: Path) -> None:
    with Pool(4) as pool:
        pool.map(_append, [(str(tmp_path), i) for i in range(200)])
    records = Provenance(tmp_path).requests()
    assert sorted(r["bytes"] for r in records) == list(range(200))


def _finished_run(tmp_path: Path) -> Path:
    run = tmp_path / "run"
    (run / "tables").mkdir(parents=True)
    (run / "tables" / "events.parquet").write_bytes(b"table bytes")
    (run / "cer.html").write_text("<html>report</html>")
    data = tmp_path / "input.json"
    data.write_text('{"results": []}')
    prov = Provenance(run / "provenance")
    prov.record_input(data, role="device/event")
    prov.record_input(data, role="device/event")  # read twice, listed once
    prov.record_request(source="openfda", url="https://api.fda.gov/x.json?api_key=K&limit=1", status=200, n_bytes=3, sha256=sha256_bytes(b"abc"))
    write_manifest(run, {"run_id": "r1", "parameters": {"code": "HWC"}})
    return run


def test_manifest_lists_requests_inputs_and_every_output(tmp_path: Path) -> None:
    run = _finished_run(tmp_path)
    manifest = json.loads((run / MANIFEST).read_text())
    assert manifest["run_id"] == "r1"
    assert [r["url"] for r in manifest["requests"]] == ["https://api.fda.gov/x.json?limit=1"]
    assert len(manifest["inputs"]) == 1 and manifest["inputs"][0]["role"] == "device/event"
    paths = {o["path"] for o in manifest["outputs"]}
    assert {"tables/events.parquet", "cer.html", "provenance/requests.jsonl", "provenance/inputs.jsonl"} <= paths
    assert verify_run(run).ok


def test_verify_names_what_changed_vanished_or_appeared(tmp_path: Path) -> None:
    run = _finished_run(tmp_path)
    (run / "cer.html").write_text("<html>edited</html>")
    (run / "tables" / "events.parquet").unlink()
    (run / "extra.txt").write_text("new")
    (tmp_path / "input.json").write_text("{}")
    problems = verify_run(run).problems
    assert "output changed: cer.html" in problems
    assert "output missing: tables/events.parquet" in problems
    assert "output not in manifest: extra.txt" in problems
    assert any(p.startswith("input changed:") for p in problems)


def test_verify_refuses_a_folder_without_manifest(tmp_path: Path) -> None:
    with pytest.raises(VerifyError, match="not a finished run"):
        verify_run(tmp_path)
