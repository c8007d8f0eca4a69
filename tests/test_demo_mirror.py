"""The demo mirror: real data symlinked when ../shared/realdata is there, a synthetic sample when not."""
from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import pytest

from cer_lib.provenance import sha256_file
from cer_lib.settings import Settings
from cer_lib.sources.base import Match, Query
from cer_lib.sources.demo import DEMO_PRODUCT_CODE, ensure_demo_mirror, synthetic_events
from cer_lib.sources.mirror import Mirror

HWC = Query((Match("device.device_report_product_code", ("HWC",)),))


def settings_for(tmp_path: Path, realdata: Path) -> Settings:
    return Settings(cache_dir=tmp_path / "cache", outputs_dir=tmp_path / "outputs", realdata_dir=realdata)


def manifest(folder: Path) -> dict:
    return json.loads((folder / "mirror.json").read_text(encoding="utf-8"))


# ----------------------------------------------------------------------------------------------
# writes stay in tmp_path: every write-mode open, mkdir, rename, symlink and delete is audited

_AUDIT: dict[str, list[str] | None] = {"paths": None}


def _audit(event: str, args: tuple) -> None:
    paths = _AUDIT["paths"]
    if paths is None:
        return
    if event == "open" and len(args) >= 3:
        path, mode, flags = args[0], args[1], args[2]
        writing = (isinstance(mode, str) and any(c in mode for c in "wax+")) or (
            isinstance(flags, int) and flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT))
        if writing and isinstance(path, (str, bytes, os.PathLike)):
            paths.append(os.fsdecode(path))
    elif event == "os.symlink":  # (target, link, dir_fd): only the link is written
        paths.append(os.fsdecode(args[1]))
    elif event in ("os.mkdir", "os.remove", "os.rmdir", "os.rename", "os.replace", "shutil.rmtree"):
        for arg in args[:2]:
            if isinstance(arg, (str, bytes, os.PathLike)):
                paths.append(os.fsdecode(arg))


sys.addaudithook(_audit)


@pytest.fixture
def writes() -> list[str]:
    _AUDIT["paths"] = []
    try:
        yield _AUDIT["paths"]
    finally:
        _AUDIT["paths"] = None


def assert_only_under(paths: list[str], root: Path) -> None:
    root = root.resolve()

    def where(path: str) -> Path:  # resolve the folder, not a symlink's target
        absolute = Path(os.path.abspath(path))
        return absolute.parent.resolve() / absolute.name

    assert paths, "the audit hook saw no writes at all"
    outside = sorted({p for p in paths if not where(p).is_relative_to(root)})
    assert not outside, f"written outside {root}: {outside}"


# ----------------------------------------------------------------------------------------------
# real data


def test_real_demo_mirror_symlinks_the_real_files(realdata: Path, tmp_path: Path, writes: list[str]) -> None:
    settings = settings_for(tmp_path, realdata)
    started = time.perf_counter()
    folder = ensure_demo_mirror(settings)
    built = time.perf_counter() - started
    assert folder == settings.demo_mirror_dir == tmp_path / "cache" / "mirror" / "demo"
    data = manifest(folder)
    assert data["synthetic"] is False and data["product_code"] == DEMO_PRODUCT_CODE == "HWC"
    assert data["last_updated"] == "2021-09-07"
    assert {s["repository"] for s in data["sources"]} >= {"KhalilAMARDJIA/open_FDA", "Praveenkumarbalaji251/medical-device-litigation-benchmark"}
    expected = {
        "device/event/openFDA_raw_data.json", "device/recall/recall_data.csv", "device/510k/510k_data.csv",
        "device/udi/udi_data.csv", "classification/foiclass.txt", "eudamed/udi-di-records.json",
    } | {f"maude-sheets/{p.name}" for p in (realdata / "maude").glob("*.xlsx")}
    assert {f["path"] for f in data["files"]} == expected
    for entry in data["files"]:
        path = folder / entry["path"]
        assert path.is_symlink(), f"{entry['path']} is a copy, not a symlink"
        assert path.resolve().is_relative_to(realdata.resolve())
        assert entry["sha256"] == sha256_file(path.resolve())
    print(f"\nreal demo mirror built in {built:.3f}s")

    again = time.perf_counter()
    stamp = (folder / "mirror.json").stat().st_mtime_ns
    assert ensure_demo_mirror(settings) == folder
    assert (folder / "mirror.json").stat().st_mtime_ns == stamp  # idempotent: nothing rewritten
    assert time.perf_counter() - again < 0.5

    mirror = Mirror(folder)
    assert mirror.synthetic is False and mirror.last_updated == "2021-09-07"
    assert mirror.total("device/event", HWC) == 13
    assert len(mirror.eudamed_records()) == 3
    assert_only_under(writes, tmp_path)


# ----------------------------------------------------------------------------------------------
# synthetic sample


def test_synthetic_demo_mirror_when_realdata_is_absent(tmp_path: Path, writes: list[str]) -> None:
    settings = settings_for(tmp_path, tmp_path / "no-such-realdata")
    folder = ensure_demo_mirror(settings)
    data = manifest(folder)
    assert data["synthetic"] is True and "SYNTHETIC" in data["description"]
    assert not any((folder / f["path"]).is_symlink() for f in data["files"])
    mirror = Mirror(folder)
    assert mirror.synthetic is True
    events = mirror.search("device/event", HWC)
    assert 150 <= events.total <= 300
    years = {r["date_received"][:4] for r in events.records}
    assert years == {"2019", "2020", "2021", "2022", "2023"}
    assert all("SYNTHETIC" in r["mdr_text"][0]["text"] for r in events.records)
    assert {r["event_type"] for r in events.records} >= {"Malfunction", "Injury"}
    classification = mirror.search("device/classification", Query((Match("regulation_number", ("888.3040",)),)))
    peers = sorted(r["product_code"] for r in classification.records)
    assert "HWC" in peers and 3 <= len(peers) - 1 <= 3  # HWC and its 3 comparators
    assert mirror.total("device/classification", Query()) > len(peers)  # plus neighbours
    for code in peers:
        assert mirror.total("device/event", Query((Match("device.device_report_product_code", (code,)),))) > 0
    assert mirror.total("device/recall", Query((Match("product_code", ("HWC",)),))) == 2
    assert mirror.total("device/510k", Query((Match("product_code", ("HWC",)),))) == 2
    recall_numbers = [r["product_res_number"] for r in mirror.search("device/recall", Query()).records]
    assert mirror.total("device/enforcement", Query((Match("recall_number", tuple(recall_numbers)),))) == 3
    assert mirror.total("device/udi", Query((Match("product_codes.code", ("HWC",)),))) == 2
    assert mirror.count("device/event", HWC, "product_problems.exact").rows[0]["term"] == "Break"
    assert mirror.last_updated == data["last_updated"]
    assert any(".derived" in p for p in writes)  # the audit sees the mirror's own cache writes
    assert_only_under(writes, tmp_path)


def test_synthetic_sample_is_the_same_everywhere(tmp_path: Path) -> None:
    a = ensure_demo_mirror(settings_for(tmp_path / "a", tmp_path / "none"))
    b = ensure_demo_mirror(settings_for(tmp_path / "b", tmp_path / "none"))
    assert {f["path"]: f["sha256"] for f in manifest(a)["files"]} == {f["path"]: f["sha256"] for f in manifest(b)["files"]}
    assert synthetic_events() == synthetic_events()


def test_rebuilds_when_realdata_appears_or_disappears(realdata: Path, tmp_path: Path) -> None:
    real = settings_for(tmp_path, realdata)
    hidden = settings_for(tmp_path, tmp_path / "hidden")
    folder = ensure_demo_mirror(hidden)
    assert manifest(folder)["synthetic"] is True
    # derived files written next to a mirror go away with it
    assert Mirror(folder).total("device/event", HWC) > 0 and (folder / ".derived").is_dir()
    assert ensure_demo_mirror(real) == folder
    assert manifest(folder)["synthetic"] is False
    assert not list(folder.rglob("synthetic-*")) and not (folder / ".derived").exists()
    assert ensure_demo_mirror(hidden) == folder and manifest(folder)["synthetic"] is True
    assert not any(p.is_symlink() for p in folder.rglob("*"))
    assert realdata.joinpath("openfda/in2bones/openFDA_raw_data.json").is_file()  # targets untouched
    assert sorted(p.name for p in folder.parent.iterdir()) == [".demo.lock", "demo"]  # no temporary folders left


def test_a_broken_symlink_triggers_a_rebuild(realdata: Path, tmp_path: Path) -> None:
    settings = settings_for(tmp_path, realdata)
    folder = ensure_demo_mirror(settings)
    link = folder / "device" / "event" / "openFDA_raw_data.json"
    link.unlink()
    link.symlink_to(tmp_path / "gone.json")
    ensure_demo_mirror(settings)
    assert link.resolve() == (realdata / "openfda/in2bones/openFDA_raw_data.json").resolve()
