"""The outputs folder: one folder per code, the runs inside it, and how a run is started, finished or failed.

`Outputs` lists the codes; `CodeFolder` lists a code's runs (newest first), finds the latest and the
previous finished run, and moves a run through its life::

    start_run(id)   creates .tmp-<id>/ with an exclusive mkdir and locks it (`runfolder.lock`); an id
                    already taken (two identical jobs started in the same second, by one process or
                    two) gets -2, -3, ...
    finish(run)     renames .tmp-<id>/ to <id>/ and points ``latest`` at it (an atomic symlink swap)
    fail(run)       renames .tmp-<id>/ to .failed-<id>/, keeping the executed notebooks
    abandoned()     the .tmp-<id>/ folders of runs that died (killed, power cut): no process holds them
    retire(run)     such a folder renamed to .failed-<id>/ (or deleted); finished runs are never touched

Only finished runs are listed as runs: in-progress and failed folders, ``lab/``, ``latest`` and
``_feedback/`` are not.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import re
import shutil
from pathlib import Path
from typing import Any

from ..codes import Kind, code_slug
from ..errors import RunFileInvalid
from . import layout
from .folder import RunFolder
from .lock import RunLock, is_abandoned

__all__ = ["CodeFolder", "Outputs", "make_run_id", "run_started"]

_RUN_ID = re.compile(r"^(\d{8}T\d{6}Z)")
_SLUG = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+-]*$")
MAX_SAME_ID = 1000


def make_run_id(parameters: dict[str, Any], commit: str | None, when: dt.datetime | None = None) -> str:
    """``YYYYMMDDTHHMMSSZ-<7 hex>``: UTC start time plus a hash of the effective parameters and commit."""
    when = when or dt.datetime.now(dt.timezone.utc)
    basis = json.dumps({"params": parameters, "commit": commit}, sort_keys=True)
    return f"{when:%Y%m%dT%H%M%SZ}-{hashlib.sha256(basis.encode()).hexdigest()[:7]}"


def run_started(run_id: str) -> dt.datetime | None:
    """The UTC start time a run id carries, None when it is not a run id."""
    match = _RUN_ID.match(run_id)
    if not match:
        return None
    return dt.datetime.strptime(match.group(1), "%Y%m%dT%H%M%SZ").replace(tzinfo=dt.timezone.utc)


class Outputs:
    """``outputs/``: one `CodeFolder` per code."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    def code_folder(self, code: str, kind: Kind | str) -> "CodeFolder":
        """The folder of a (normalised) code of a kind: ``outputs/<slug>``."""
        return CodeFolder(self.root / code_slug(code, kind))

    def __getitem__(self, slug: str) -> "CodeFolder":
        """The folder of a code by its folder name, refusing names that are not one."""
        if not _SLUG.match(slug) or slug in (".", ".."):
            raise RunFileInvalid(f"{slug!r} is not the folder name of a code")
        return CodeFolder(self.root / slug)

    def abandoned_runs(self) -> list[RunFolder]:
        """The in-progress folders of dead runs under every code (`CodeFolder.abandoned`)."""
        if not self.root.is_dir():
            return []
        return [run for p in sorted(self.root.iterdir()) if p.is_dir() and not p.is_symlink()
                for run in CodeFolder(p).abandoned()]

    def code_folders(self) -> list["CodeFolder"]:
        """Every code with at least one finished run, by folder name."""
        if not self.root.is_dir():
            return []
        folders = [CodeFolder(p) for p in sorted(self.root.iterdir())
                   if p.is_dir() and not p.name.startswith((".", "_"))]
        return [f for f in folders if f.runs()]


class CodeFolder:
    """``outputs/<CODE>/``: the runs of one code."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._locks: dict[str, RunLock] = {}  # run id -> the lock this process holds on its run

    def __repr__(self) -> str:
        return f"CodeFolder({str(self.path)!r})"

    @property
    def slug(self) -> str:
        return self.path.name

    # -- listing -------------------------------------------------------------------------------

    def runs(self) -> list[RunFolder]:
        """Finished runs, newest first (a run id starts with its UTC start time)."""
        if not self.path.is_dir():
            return []
        found = [RunFolder(p) for p in self.path.iterdir() if _is_finished_run(p)]
        return sorted(found, key=lambda r: r.path.name, reverse=True)

    def failed_runs(self) -> list[RunFolder]:
        return self._prefixed(layout.FAILED_PREFIX)

    def running(self) -> list[RunFolder]:
        return self._prefixed(layout.RUNNING_PREFIX)

    def abandoned(self) -> list[RunFolder]:
        """In-progress folders of runs that died: no process holds their lock (see `runfolder.lock`)."""
        return [run for run in self.running() if is_abandoned(run.path)]

    def _prefixed(self, prefix: str) -> list[RunFolder]:
        if not self.path.is_dir():
            return []
        return sorted((RunFolder(p) for p in self.path.iterdir() if p.is_dir() and p.name.startswith(prefix)),
                      key=lambda r: r.path.name, reverse=True)

    def run(self, run_id: str) -> RunFolder:
        """A finished run by id; `RunFileInvalid` for anything else (unknown, unfinished, not an id)."""
        candidate = self.path / run_id
        if "/" in run_id or run_id in ("", ".", "..") or not _is_finished_run(candidate):
            raise RunFileInvalid(f"{run_id!r} is not a finished run of {self.slug}")
        return RunFolder(candidate)

    def latest(self) -> RunFolder | None:
        """The run ``latest`` points at when that is a finished run, else the newest finished run."""
        runs = self.runs()
        link = self.path / layout.LATEST
        if link.is_symlink():
            target = (self.path / os.readlink(link)).resolve()
            for run in runs:
                if run.path.resolve() == target:
                    return run
        return runs[0] if runs else None

    def previous_run(self, run: RunFolder | str) -> RunFolder | None:
        """The newest finished run that started before ``run`` (what a refresh compares against)."""
        run_id = run.run_id if isinstance(run, RunFolder) else run
        earlier = [r for r in self.runs() if r.path.name < run_id]
        return earlier[0] if earlier else None

    def lab(self) -> RunFolder:
        """``lab/``: the working folder of the stages run by hand in JupyterLab (created when absent)."""
        path = self.path / layout.LAB
        path.mkdir(parents=True, exist_ok=True)
        return RunFolder(path)

    def seed_lab(self, stage: str) -> RunFolder | None:
        """Give ``lab/`` what ``stage`` needs from earlier stages, copied from the latest run, when the lab
        lacks it (`layout.STAGE_NEEDS`); returns the run copied from, None when nothing was copied (the lab
        had it, or there is no finished run: the stage then says which stage to run first).
        The lab's own ``parameters.yaml`` is never replaced: a statistician's edits survive."""
        lab, needed = self.lab(), layout.STAGE_NEEDS.get(stage)
        latest = self.latest()
        if needed is None or lab.exists(needed) or latest is None:
            return None
        for name in layout.LAB_SEED:
            source, target = latest.file(name), lab.file(name)
            if name == layout.PARAMETERS and target.exists():
                continue
            if source.is_dir():
                shutil.rmtree(target, ignore_errors=True)
                shutil.copytree(source, target)
            elif source.is_file():
                shutil.copy2(source, target)
        return latest

    def feedback_dir(self, run_id: str) -> Path:
        """Where reviewer feedback on a finished run is kept: beside the run, so its manifest stays valid."""
        return self.path / layout.FEEDBACK / self.run(run_id).path.name

    @property
    def refresh_log(self) -> Path:
        """``_refresh.jsonl``: one line per refresh of the code (no change, rebuilt, failed)."""
        return self.path / layout.REFRESH_LOG

    def display(self, run_id: str, name: str) -> str:
        """``outputs/<CODE>/<run-id>/<name>``: a run file as the reproduce commands cite it."""
        return f"{layout.OUTPUTS}/{self.slug}/{run_id}/{name}"

    # -- a run's life --------------------------------------------------------------------------

    def start_run(self, run_id: str) -> RunFolder:
        """Create the in-progress folder of a new run, with ``run_id`` or, when taken, ``run_id-2`` ..."""
        self.path.mkdir(parents=True, exist_ok=True)
        for n in range(1, MAX_SAME_ID + 1):
            candidate = run_id if n == 1 else f"{run_id}-{n}"
            work = self.path / f"{layout.RUNNING_PREFIX}{candidate}"
            try:
                work.mkdir()  # exclusive: only one process creates it
            except FileExistsError:
                continue
            if (self.path / candidate).exists() or (self.path / f"{layout.FAILED_PREFIX}{candidate}").exists():
                work.rmdir()  # the id was used by a run that has already finished or failed
                continue
            self._locks[candidate] = RunLock(work)
            return RunFolder(work)
        raise RunFileInvalid(f"{self.path}: {MAX_SAME_ID} runs with id {run_id} already exist")

    def finish(self, run: RunFolder) -> RunFolder:
        """Rename an in-progress run to its id and point ``latest`` at it."""
        final = self.path / run.run_id
        run.path.rename(final)
        self._release(run)
        self._point_latest(final)
        return RunFolder(final)

    def failed_path(self, run_id: str) -> Path:
        """``.failed-<id>``: where a failed run is kept."""
        return self.path / f"{layout.FAILED_PREFIX}{run_id}"

    def fail(self, run: RunFolder) -> RunFolder:
        """Rename an in-progress run to ``.failed-<id>`` (kept, so the executed notebooks show what went wrong)."""
        failed = self.failed_path(run.run_id)
        if run.path.exists():
            run.path.rename(failed)
        self._release(run)
        return RunFolder(failed)

    def retire(self, run: RunFolder, *, delete: bool = False) -> Path | None:
        """An abandoned in-progress run renamed to ``.failed-<id>`` (returned), or deleted (None).

        Refuses anything else: a finished run, a failed one, or one a live process still holds.
        """
        if run.path.parent != self.path or not run.path.name.startswith(layout.RUNNING_PREFIX) \
                or not is_abandoned(run.path):
            raise RunFileInvalid(f"{run.path} is not an abandoned in-progress run of {self.slug}")
        if delete:
            shutil.rmtree(run.path)
            return None
        return self.fail(run).path

    def _release(self, run: RunFolder) -> None:
        lock = self._locks.pop(run.run_id, None)
        if lock is not None:
            lock.release()

    def _point_latest(self, run_dir: Path) -> None:
        link = self.path / layout.LATEST
        tmp = self.path / f".{layout.LATEST}-{os.getpid()}"
        if tmp.is_symlink() or tmp.exists():
            tmp.unlink()
        tmp.symlink_to(run_dir.name, target_is_directory=True)
        os.replace(tmp, link)


def _is_finished_run(path: Path) -> bool:
    """A run folder with at least an executed notebook or a report, not in progress, failed or special."""
    if not path.is_dir() or path.is_symlink():
        return False
    if path.name.startswith((".", "_")) or path.name in (layout.LAB, layout.LATEST):
        return False
    return any((path / layout.notebook(stage)).is_file() for stage in layout.STAGES) or (path / layout.REPORT_HTML).is_file()
