"""Interrupted and concurrent runs (issue 11 item 8): SIGTERM like Ctrl-C, runs that died found and
retired, a full disk as one message. (Two runs started in the same second: tests/test_runfolder.py.)"""
from __future__ import annotations

import errno
import multiprocessing
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from cer_lib.cli import main
from cer_lib.doctor import collect_checks
from cer_lib.runfolder import CodeFolder, RunFolder
from cer_lib.runfolder.lock import ABANDONED_AFTER_SECONDS
from cer_lib.settings import PROJECT_ROOT


def _cer(tmp: Path, *args: str) -> subprocess.Popen[str]:
    env = {**os.environ, "CER_OUTPUTS_DIR": str(tmp / "outputs"), "CER_CACHE_DIR": str(tmp / "cache")}
    return subprocess.Popen([sys.executable, "-m", "cer_lib", *args], cwd=PROJECT_ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_sigterm_stops_a_run_like_ctrl_c(tmp_path: Path) -> None:
    process = _cer(tmp_path, "report", "HWC", "--from", "mirror")
    code = tmp_path / "outputs" / "HWC"
    deadline = time.monotonic() + 120
    while not (code.is_dir() and any((p / "01_collect.ipynb").exists() for p in code.glob(".tmp-*"))):
        assert process.poll() is None and time.monotonic() < deadline, "the run never reached its first stage"
        time.sleep(0.2)
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 143, stderr[-2000:]
    assert "Traceback" not in stderr and "terminated (SIGTERM)" in stderr and ".failed-" in stderr
    assert not list(code.glob(".tmp-*"))  # nothing left looking in progress
    (failed,) = code.glob(".failed-*")
    assert (failed / "run.json").is_file() and not (code / "latest").exists()


def _die_during_a_run(code: str) -> None:
    CodeFolder(code).start_run("20240101T000000Z-dead000")
    os._exit(1)  # as a killed process: no cleanup, no finally


def test_runs_that_died_are_reported_and_retired_never_finished_or_live_ones(tmp_path: Path, capsys) -> None:
    outputs = tmp_path / "outputs"
    code = CodeFolder(outputs / "HWC")
    dead = multiprocessing.get_context("spawn").Process(target=_die_during_a_run, args=(str(code.path),))
    dead.start()
    dead.join(60)
    finished = code.finish(code.start_run("20240101T000000Z-done000"))
    (finished.path / "cer.html").write_text("<html></html>")
    live = code.start_run("20240101T000000Z-live000")  # held by this process, as by a run going on
    old = time.time() - ABANDONED_AFTER_SECONDS - 5
    for folder in code.path.iterdir():
        os.utime(folder, (old, old), follow_symlinks=False)
    dead_folder = code.path / ".tmp-20240101T000000Z-dead000"
    assert dead_folder.is_dir()
    assert [r.path for r in code.abandoned()] == [dead_folder]

    (doctor,) = [c for c in collect_checks("mirror", None, _settings(tmp_path)) if c.name == "interrupted runs"]
    assert doctor.status == "info" and "HWC/.tmp-20240101T000000Z-dead000" in doctor.detail and "cer clean-runs" in doctor.detail

    assert main(["clean-runs", "--outputs", str(outputs)]) == 0
    assert "kept as .failed-20240101T000000Z-dead000" in capsys.readouterr().out
    assert (code.path / ".failed-20240101T000000Z-dead000").is_dir() and not dead_folder.exists()
    assert finished.path.is_dir() and (finished.path / "cer.html").is_file() and live.path.is_dir()
    assert code.abandoned() == []
    code.fail(live)


def _settings(tmp_path: Path):
    from cer_lib.settings import Settings

    return Settings(openfda_base_url="http://127.0.0.1:9", outputs_dir=tmp_path / "outputs", cache_dir=tmp_path / "cache")


def test_a_full_disk_is_one_message_and_the_run_is_kept_as_failed(tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.setenv("CER_OUTPUTS_DIR", str(tmp_path / "outputs"))

    def full(self: RunFolder, record) -> None:
        raise OSError(errno.ENOSPC, "No space left on device", str(self.path / "run.json"))

    monkeypatch.setattr(RunFolder, "write_run_record", full)
    assert main(["report", "HWC", "--from", "mirror"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: the disk is full (") and "run.json" in err
    assert "kept in" in err and ".failed-" in err
    code = tmp_path / "outputs" / "HWC"
    assert list(code.glob(".failed-*")) and not list(code.glob(".tmp-*"))


@pytest.fixture
def small_disk(tmp_path: Path):
    """A 256 KB tmpfs (root only): where a run's files really do not fit."""
    mount = tmp_path / f"disk-{uuid.uuid4().hex[:6]}"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(mount)], capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here ({done.stderr.strip() or 'not root'}); "
                    "test_a_full_disk_is_one_message_and_the_run_is_kept_as_failed injects ENOSPC instead")
    yield mount
    subprocess.run(["umount", "-l", str(mount)], check=False)


def test_a_really_full_disk_gives_one_message(small_disk: Path, tmp_path: Path) -> None:
    env = {**os.environ, "CER_OUTPUTS_DIR": str(small_disk / "outputs"), "CER_CACHE_DIR": str(tmp_path / "cache")}
    done = subprocess.run([sys.executable, "-m", "cer_lib", "report", "HWC", "--from", "mirror"], cwd=PROJECT_ROOT,
                          env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 2, done.stderr[-2000:]
    assert "Traceback" not in done.stderr
    assert "the disk is full" in done.stderr or "No space left on device" in done.stderr, done.stderr[-2000:]
    assert not list((small_disk / "outputs" / "HWC").glob(".tmp-*"))
