"""Everything the service knows about run folders, in one narrow interface.

The pipeline's layout (`cer_lib.pipeline`): ``outputs/<CODE>/<run-id>/`` for a finished run,
``.tmp-<run-id>`` while running, ``.failed-<run-id>`` after a failure, ``latest`` a symbolic link to
the newest finished run. The API lists codes and runs and serves a few files of finished runs; a
worker turns the folder of a run whose worker died into ``.failed-``. Nothing else in
`cer_lib.service` touches these names (so this module's body can become calls on the pipeline's own
run-folder object without changing its callers).

A client names a code folder, a run id and a file name; each is checked against a pattern and the
finished runs that exist, the file against the list of servable names, and the resolved path must
stay inside the run folder without following a symbolic link. Anything else is `RunNotFound`.
"""
from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from pathlib import Path

from ..runfolder.layout import STAGES

LATEST = "latest"
TMP_PREFIX, FAILED_PREFIX = ".tmp-", ".failed-"
RUN_ID = re.compile(r"\d{8}T\d{6}Z-[0-9a-f]{7}")
CODE_FOLDER = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.+-]{0,99}")
REPORT_FILES = ("cer.pdf", "cer.html", "manifest.json", *(f"{stage}.ipynb" for stage in STAGES))
MEDIA_TYPES = {".pdf": "application/pdf", ".html": "text/html; charset=utf-8",
               ".json": "application/json", ".ipynb": "application/x-ipynb+json"}


class RunNotFound(LookupError):
    """No such code, finished run or servable file (the message says which)."""


@dataclass(frozen=True)
class RunInfo:
    code: str
    run_id: str
    started_utc: str
    files: tuple[str, ...]
    latest: bool


@dataclass(frozen=True)
class CodeInfo:
    code: str
    runs: int
    latest_run_id: str | None


def _started(run_id: str) -> str:
    return dt.datetime.strptime(run_id[:16], "%Y%m%dT%H%M%SZ").replace(tzinfo=dt.timezone.utc).isoformat()


def _code_dir(outputs: Path, code: str) -> Path:
    if not CODE_FOLDER.fullmatch(code) or ".." in code:
        raise RunNotFound(f"no reports for code {code[:40]!r}")
    folder = outputs / code
    if folder.is_symlink() or not folder.is_dir():
        raise RunNotFound(f"no reports for code {code!r}: GET /v1/codes lists the codes with reports")
    return folder


def _finished_run_ids(code_dir: Path) -> list[str]:
    return sorted(p.name for p in code_dir.iterdir()
                  if RUN_ID.fullmatch(p.name) and p.is_dir() and not p.is_symlink())


def _latest(code_dir: Path) -> str | None:
    link = code_dir / LATEST
    if not link.is_symlink():
        return None
    target = link.readlink().name
    return target if RUN_ID.fullmatch(target) and (code_dir / target).is_dir() else None


def list_codes(outputs: Path) -> list[CodeInfo]:
    """Codes with at least one finished run, by name."""
    if not outputs.is_dir():
        return []
    codes = []
    for folder in sorted(outputs.iterdir()):
        if folder.is_dir() and not folder.is_symlink() and CODE_FOLDER.fullmatch(folder.name):
            runs = _finished_run_ids(folder)
            if runs:
                codes.append(CodeInfo(folder.name, len(runs), _latest(folder)))
    return codes


def list_runs(outputs: Path, code: str) -> list[RunInfo]:
    """Finished runs of one code folder, newest first."""
    code_dir = _code_dir(outputs, code)
    latest = _latest(code_dir)
    return [RunInfo(code, run_id, _started(run_id), tuple(servable_files(code_dir / run_id)), run_id == latest)
            for run_id in reversed(_finished_run_ids(code_dir))]


def find_run(outputs: Path, code: str, run_id: str) -> Path:
    """The folder of a finished run (``latest`` names the newest)."""
    code_dir = _code_dir(outputs, code)
    if run_id == LATEST:
        run_id = _latest(code_dir) or ""
        if not run_id:
            raise RunNotFound(f"{code} has no finished run yet")
    if not RUN_ID.fullmatch(run_id):
        raise RunNotFound(f"{run_id[:40]!r} is not a run id (YYYYMMDDTHHMMSSZ-xxxxxxx)")
    folder = code_dir / run_id
    if folder.is_symlink() or not folder.is_dir():
        raise RunNotFound(f"{code} has no finished run {run_id}: GET /v1/codes/{code}/runs lists them")
    return folder


def servable_files(run_dir: Path) -> list[str]:
    """The report files a client may download from a run, in `REPORT_FILES` order."""
    return [name for name in REPORT_FILES if (run_dir / name).is_file() and not (run_dir / name).is_symlink()]


def run_file(outputs: Path, code: str, run_id: str, name: str) -> Path:
    """A servable file of a finished run; never a path outside it, never through a symbolic link."""
    run_dir = find_run(outputs, code, run_id)
    if name not in REPORT_FILES:
        raise RunNotFound(f"{name[:60]!r} is not a report file; one of: {', '.join(REPORT_FILES)}")
    path = run_dir / name
    if path.is_symlink() or not path.is_file() or path.resolve().parent != run_dir.resolve():
        raise RunNotFound(f"run {run_dir.name} of {code} has no {name}")
    return path


def media_type(name: str) -> str:
    return MEDIA_TYPES.get(Path(name).suffix, "application/octet-stream")


def shown(outputs: Path, path: Path | str) -> str:
    """A run path as clients see it: relative to the outputs folder (``outputs/HWC/...``)."""
    text = str(path)
    root = str(outputs.resolve())
    return text.replace(root, "outputs").replace(str(outputs), "outputs")


def code_folder(code: str, kind: str) -> str:
    """The folder name of a (normalised) code under outputs/."""
    from ..codes import code_slug

    return code_slug(code, kind)


def failed_folder(outputs: Path, code: str, run_id: str) -> Path:
    """Where a failed run of ``code`` is kept."""
    return outputs / code / f"{FAILED_PREFIX}{run_id}"


def mark_failed(outputs: Path, code: str, run_id: str) -> Path | None:
    """Rename the run folder of a job whose worker died, ``.tmp-<id>`` -> ``.failed-<id>``.

    Only a run this job started is renamed (its id was recorded when it started); returns the new
    folder, or None when there is nothing to rename (it never started, or was already renamed).
    """
    if not RUN_ID.fullmatch(run_id) or not CODE_FOLDER.fullmatch(code):
        return None
    working = outputs / code / f"{TMP_PREFIX}{run_id}"
    if not working.is_dir():
        return None
    failed = failed_folder(outputs, code, run_id)
    working.rename(failed)
    return failed


def outputs_writable(outputs: Path) -> str | None:
    """None when a worker can create files in the outputs folder; else what is wrong."""
    import tempfile

    try:
        outputs.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=outputs, prefix=".ready-"):
            return None
    except OSError as exc:
        return f"cannot write {outputs.name}/ ({exc.strerror or type(exc).__name__})"
