"""The manifest and `cer verify`: files, claims, the hash chain, the signature, entries outside the run.

The run folders here are built by the writers a run uses (parameters, run record, collect status,
provenance logs, `RunChain`, `write_manifest`), small enough to tamper with one value at a time.
"""
from __future__ import annotations

import datetime as dt
import json
import os
from pathlib import Path
from typing import Any, Callable

import pytest

import cer_lib.verify as verify_module
from cer_lib.runfolder.layout import COLLECT_STATUS as STATUS_FILE, PARAMETERS as PARAMETERS_FILE, RUN_RECORD as RUN_FILE
from cer_lib.errors import VerifyError
from cer_lib.files import write_json_atomic
from cer_lib.manifest import MANIFEST, RunChain, chain_root, claims_of, link_digest, sign, write_manifest
from cer_lib.params import load_parameters, save_parameters
from cer_lib.provenance import Provenance, sha256_bytes, sha256_file
from cer_lib.settings import Secret
from cer_lib.verify import verify_run

KEY = Secret("manifest-key-for-tests-8c1f")


def _finished_run(tmp_path: Path, *, key: Secret | None = None) -> Path:
    """A run folder written step by step as the runner writes one, then its manifest."""
    run = tmp_path / "run"
    run.mkdir()
    params = load_parameters("HWC", overrides={"from": "mirror"}).resolved(today=dt.date(2026, 11, 1))
    save_parameters(params, run / PARAMETERS_FILE)
    write_json_atomic(run / RUN_FILE, {
        "run_id": "20261101T000000Z-abcdef0", "code": "HWC", "kind": "product_code", "command": "cer report HWC --from mirror",
        "started_utc": "2026-11-01T00:00:00Z", "tool_version": "0.1.0",
        "code_version": {"git_commit": "0123456789abcdef0123456789abcdef01234567", "dirty": False, "lock_sha256": "ab" * 32},
    })
    chain = RunChain(run)
    chain.seal("start")
    data = tmp_path / "input.json"
    data.write_text('{"results": []}')
    prov = Provenance(run / "provenance")
    prov.record_input(data, role="device/event")
    prov.record_input(data, role="device/event")  # read twice, listed once
    prov.record_request(source="openfda", url="https://api.fda.gov/x.json?api_key=K&limit=1", status=200, n_bytes=3,
                        sha256=sha256_bytes(b"abc"), last_updated="2021-09-07")
    write_json_atomic(run / STATUS_FILE, {"origin": "mirror", "synthetic": True, "offline": False,
                                          "sources": {"maude": {"status": "ok", "last_updated": "2021-09-07"}}})
    chain.seal("01_collect")
    (run / "tables").mkdir()
    (run / "tables" / "events.parquet").write_bytes(b"table bytes")
    chain.seal("02_integrate")
    (run / "cer.html").write_text("<html>report</html>")
    chain.seal("assemble")
    payload = {"finished_utc": "2026-11-01T00:01:00Z", "environment": {"python": "3.11"},
               "stages": [{"stage": "01_collect", "seconds": 1.0}]}
    write_manifest(run, chain, payload, key=key)
    return run


def _manifest(run: Path) -> dict[str, Any]:
    return json.loads((run / MANIFEST).read_text())


def _save(run: Path, manifest: dict[str, Any]) -> None:
    (run / MANIFEST).write_text(json.dumps(manifest, indent=2))


# ----------------------------------------------------------------------------------------------
# files


def test_manifest_lists_requests_inputs_and_every_output(tmp_path: Path) -> None:
    run = _finished_run(tmp_path)
    manifest = _manifest(run)
    assert manifest["run_id"] == "20261101T000000Z-abcdef0" and manifest["manifest_version"] == 2
    assert [r["url"] for r in manifest["requests"]] == ["https://api.fda.gov/x.json?limit=1"]
    assert len(manifest["inputs"]) == 1 and manifest["inputs"][0]["role"] == "device/event"
    paths = {o["path"] for o in manifest["outputs"]}
    assert {"tables/events.parquet", "cer.html", "provenance/requests.jsonl", "provenance/inputs.jsonl"} <= paths
    assert manifest["data"] == {"origin": "mirror", "synthetic": True, "offline": False, "last_updated": {"maude": "2021-09-07"}}
    # each link holds what its step wrote
    steps = {link["step"]: {f["path"] for f in link["files"]} for link in manifest["chain"]["links"]}
    assert steps["start"] == {PARAMETERS_FILE, RUN_FILE}
    assert steps["01_collect"] == {STATUS_FILE, "provenance/requests.jsonl", "provenance/inputs.jsonl"}
    assert steps["02_integrate"] == {"tables/events.parquet"} and steps["assemble"] == {"cer.html"}
    report = verify_run(run)
    assert report.ok, report.problems
    assert report.root == manifest["chain"]["root"] and report.signature == "absent"
    assert report.checked == len(manifest["outputs"]) + len(manifest["inputs"])


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


# ----------------------------------------------------------------------------------------------
# the manifest's own claims


def _set(path: tuple[Any, ...], value: Any) -> Callable[[dict[str, Any]], None]:
    def edit(manifest: dict[str, Any]) -> None:
        target = manifest
        for part in path[:-1]:
            target = target[part]
        target[path[-1]] = value
    return edit


@pytest.mark.parametrize(
    ("edit", "claim"),
    [
        (_set(("data", "synthetic"), False), "data"),  # real-looking data
        (_set(("parameters", "window", "start"), "2010-01-01"), "parameters"),
        (_set(("code_version", "git_commit"), "f" * 40), "code_version"),
        (_set(("requests",), []), "requests"),  # the queries hidden
        (_set(("inputs",), []), "inputs"),
        (_set(("code",), "LZG"), "code"),
    ],
    ids=["synthetic", "parameters", "commit", "requests emptied", "inputs emptied", "code"],
)
def test_an_edited_claim_does_not_verify(tmp_path: Path, edit: Callable[[dict[str, Any]], None], claim: str) -> None:
    run = _finished_run(tmp_path)
    manifest = _manifest(run)
    edit(manifest)
    _save(run, manifest)
    problems = verify_run(run).problems
    assert any(p.startswith(f"manifest claim {claim!r} does not match the run's files") for p in problems), problems
    assert "the chain root does not match the manifest's claims: a claim was edited after the run" in problems


def test_a_claim_edited_with_its_file_breaks_the_chain(tmp_path: Path) -> None:
    """Make the run look real: synthetic false in the manifest *and* in status.json, re-hashed in outputs."""
    run = _finished_run(tmp_path)
    status = json.loads((run / STATUS_FILE).read_text())
    status["synthetic"] = False
    write_json_atomic(run / STATUS_FILE, status)
    manifest = _manifest(run)
    manifest["data"]["synthetic"] = False
    for entry in manifest["outputs"]:
        if entry["path"] == STATUS_FILE:
            entry.update(sha256=sha256_file(run / STATUS_FILE), bytes=(run / STATUS_FILE).stat().st_size)
    _save(run, manifest)
    problems = verify_run(run).problems
    assert not any(p.startswith("manifest claim") for p in problems)  # claim and file agree now ...
    assert not any(p.startswith("output changed") for p in problems)  # ... and the file matches its entry
    assert "the outputs list is not what the hash chain's links leave: an entry was edited, added or removed" in problems


def _rehash_cer_html(run: Path, depth: int) -> dict[str, Any]:
    """Edit cer.html and rewrite ``depth`` levels of what depends on its hash:
    1 its outputs entry, 2 + its link entry, 3 + that link's digest, 4 + the root (everything)."""
    (run / "cer.html").write_text("<html>a better report</html>")
    manifest = _manifest(run)
    new = {"path": "cer.html", "sha256": sha256_file(run / "cer.html"), "bytes": (run / "cer.html").stat().st_size}
    manifest["outputs"] = [new if e["path"] == "cer.html" else e for e in manifest["outputs"]]
    links = manifest["chain"]["links"]
    if depth >= 2:
        links[-1]["files"] = [new if e["path"] == "cer.html" else e for e in links[-1]["files"]]
    if depth >= 3:
        links[-1]["digest"] = link_digest(links[-2]["digest"], links[-1])
    if depth >= 4:
        manifest["chain"]["root"] = chain_root(links[-1]["digest"], claims_of(manifest))
    _save(run, manifest)
    return manifest


@pytest.mark.parametrize(
    ("depth", "expected"),
    [
        (1, "the outputs list is not what the hash chain's links leave: an entry was edited, added or removed"),
        (2, "hash chain broken at link 3 (step 'assemble'): its digest does not follow from the previous one and the hashes it lists"),
        (3, "the chain root does not match the manifest's claims: a claim was edited after the run"),
    ],
)
def test_an_edited_report_re_hashed_in_the_manifest_does_not_verify(tmp_path: Path, depth: int, expected: str) -> None:
    run = _finished_run(tmp_path)
    _rehash_cer_html(run, depth)
    problems = verify_run(run).problems
    assert "output changed: cer.html" not in problems  # the file matches its (rewritten) entry
    assert expected in problems, problems


def test_without_a_key_only_a_recorded_root_catches_a_complete_rewrite(tmp_path: Path) -> None:
    """The limit of a chain without a key: rewrite every dependent hash and it verifies, as documented."""
    run = _finished_run(tmp_path)
    original_root = verify_run(run).root
    _rehash_cer_html(run, depth=4)
    forged = verify_run(run)
    assert forged.ok and forged.root != original_root
    recorded = verify_run(run, expected_root=original_root)
    assert recorded.problems == [f"the chain root is {forged.root}, not the root recorded elsewhere ({original_root})"]


# ----------------------------------------------------------------------------------------------
# the signature


def test_a_signed_manifest_verifies_with_its_key_and_a_complete_rewrite_does_not(tmp_path: Path) -> None:
    run = _finished_run(tmp_path, key=KEY)
    manifest = _manifest(run)
    assert manifest["signature"]["value"] == sign(manifest["chain"]["root"], KEY)
    assert KEY.reveal() not in (run / MANIFEST).read_text()
    assert verify_run(run, key=KEY).signature == "valid" and verify_run(run, key=KEY).ok
    assert verify_run(run).signature == "not checked (set CER_MANIFEST_KEY)" and verify_run(run).ok
    wrong = verify_run(run, key=Secret("another-key"))
    assert wrong.signature == "invalid" and any("signature does not match" in p for p in wrong.problems)
    _rehash_cer_html(run, depth=4)
    forged = verify_run(run, key=KEY)
    assert forged.signature == "invalid" and not forged.ok


def test_with_a_key_a_manifest_whose_signature_was_removed_does_not_verify(tmp_path: Path) -> None:
    run = _finished_run(tmp_path, key=KEY)
    manifest = _manifest(run)
    del manifest["signature"]
    _save(run, manifest)
    assert verify_run(run).ok  # nothing to check it against ...
    report = verify_run(run, key=KEY)  # ... but with the key, an unsigned manifest is refused
    assert report.problems == ["CER_MANIFEST_KEY is set but the manifest is not signed: it was written without a key, "
                               "or its signature was removed"]


# ----------------------------------------------------------------------------------------------
# entries that are not files of the run


@pytest.mark.parametrize(
    ("entry", "expected"),
    [
        ({"sha256": "0" * 64, "bytes": 1}, "manifest entry outputs[0].path is missing"),
        ({"path": "", "sha256": "0" * 64, "bytes": 1}, "manifest entry outputs[0].path: String should have at least 1 character"),
        ({"path": "cer.html", "sha256": "not-a-hash", "bytes": 1}, "manifest entry outputs[0].sha256: String should match pattern"),
        ({"path": "../outside.txt", "sha256": "0" * 64, "bytes": 1}, "names '../outside.txt', which is outside the run folder: not read"),
        ({"path": "tables/../../outside.txt", "sha256": "0" * 64, "bytes": 1}, "which is outside the run folder: not read"),
        ({"path": "OUTSIDE_ABSOLUTE", "sha256": "0" * 64, "bytes": 1}, "which is outside the run folder: not read"),
        ({"path": "escape/outside.txt", "sha256": "0" * 64, "bytes": 1}, "names 'escape/outside.txt', which is outside the run folder"),
    ],
    ids=["no path", "empty path", "bad hash", "dot-dot", "dot-dot inside", "absolute", "through a symlink"],
)
def test_an_entry_outside_the_run_is_reported_and_never_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                              entry: dict[str, Any], expected: str) -> None:
    run = _finished_run(tmp_path)
    outside = tmp_path / "outside.txt"
    outside.write_text("not part of the run")
    (run / "escape").symlink_to(tmp_path, target_is_directory=True)
    if entry.get("path") == "OUTSIDE_ABSOLUTE":
        entry = {**entry, "path": str(outside)}
    manifest = _manifest(run)
    manifest["outputs"].insert(0, entry)
    _save(run, manifest)
    read: list[Path] = []
    real_sha256 = verify_module.sha256_file
    monkeypatch.setattr(verify_module, "sha256_file", lambda path: read.append(Path(path).resolve()) or real_sha256(path))
    report = verify_run(run)
    assert not report.ok and any(expected in p for p in report.problems), report.problems
    assert outside.resolve() not in read
    assert all(p.is_relative_to(run.resolve()) or p == (tmp_path / "input.json").resolve() for p in read)


def test_a_symbolic_link_in_the_run_folder_is_reported_not_followed(tmp_path: Path) -> None:
    run = _finished_run(tmp_path)
    os.symlink(tmp_path / "input.json", run / "tables" / "linked.parquet")
    assert "symbolic link in the run folder: tables/linked.parquet (not followed)" in verify_run(run).problems


@pytest.mark.parametrize("text", ["[1, 2]", "{not json", ""])
def test_a_manifest_that_is_not_an_object_is_an_error_not_a_traceback(tmp_path: Path, text: str) -> None:
    run = _finished_run(tmp_path)
    (run / MANIFEST).write_text(text)
    with pytest.raises(VerifyError, match="not valid JSON|not a JSON object"):
        verify_run(run)


def test_an_old_manifest_without_a_chain_is_not_reported_as_verified(tmp_path: Path) -> None:
    run = _finished_run(tmp_path)
    manifest = _manifest(run)
    manifest["manifest_version"] = 1
    _save(run, manifest)
    problems = verify_run(run).problems
    assert problems and "this run cannot be verified" in problems[0]
