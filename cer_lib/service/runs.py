"""Everything the service knows about run folders, in one narrow interface over `cer_lib.runfolder`.

The run folder's layout is known in `cer_lib.runfolder` alone (`Outputs`, `CodeFolder`, `RunFolder`,
`layout`): this module lists codes and finished runs, serves a few files of finished runs, and turns
the in-progress folder of a run whose worker died into a failed one, all through those objects.

A client names a code folder, a run id and a file name; the code folder must be one `Outputs` accepts,
the run one of the code's finished runs (``latest`` names the newest), the file one of the servable
names, and the resolved path must stay inside the run folder without following a symbolic link.
Anything else is `RunNotFound`.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..errors import RunFileInvalid
from ..runfolder import CodeFolder, Outputs, RunFolder, layout, run_started

REPORT_FILES = (layout.REPORT_PDF, layout.REPORT_HTML, layout.MANIFEST, layout.CHANGES,
                *(layout.notebook(stage) for stage in layout.STAGES))
MEDIA_TYPES = {".pdf": "application/pdf", ".html": "text/html; charset=utf-8",
               ".json": "application/json", ".ipynb": "application/x-ipynb+json"}
MAX_SHOWN = 40  # characters of a client's text repeated in an error


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


def code_folder_of(outputs: Path, code: str) -> CodeFolder:
    """The folder of a code with at least one finished run, by its folder name."""
    try:
        folder = Outputs(outputs)[code]
    except RunFileInvalid:
        raise RunNotFound(f"no reports for code {code[:MAX_SHOWN]!r}") from None
    if folder.path.is_symlink() or not folder.runs():
        raise RunNotFound(f"no reports for code {code!r}: GET /v1/codes lists the codes with reports")
    return folder


def list_codes(outputs: Path) -> list[CodeInfo]:
    """Codes with at least one finished run, by name."""
    return [CodeInfo(folder.slug, len(folder.runs()), _latest_id(folder))
            for folder in Outputs(outputs).code_folders() if not folder.path.is_symlink()]


def _latest_id(folder: CodeFolder) -> str | None:
    latest = folder.latest()
    return latest.run_id if latest is not None else None


def list_runs(outputs: Path, code: str) -> list[RunInfo]:
    """Finished runs of one code folder, newest first."""
    folder = code_folder_of(outputs, code)
    latest = _latest_id(folder)
    return [RunInfo(folder.slug, run.run_id, _started(run), tuple(servable_files(run.path)), run.run_id == latest)
            for run in folder.runs()]


def _started(run: RunFolder) -> str:
    started = run_started(run.run_id)
    return started.isoformat() if started else ""


def find_run(outputs: Path, code: str, run_id: str) -> RunFolder:
    """A finished run (``latest`` names the newest)."""
    folder = code_folder_of(outputs, code)
    if run_id == layout.LATEST:
        latest = folder.latest()
        if latest is None:
            raise RunNotFound(f"{code} has no finished run yet")
        return latest
    if run_started(run_id) is None:
        raise RunNotFound(f"{run_id[:MAX_SHOWN]!r} is not a run id (YYYYMMDDTHHMMSSZ-xxxxxxx)")
    try:
        run = folder.run(run_id)
    except RunFileInvalid:
        raise RunNotFound(f"{code} has no finished run {run_id}: GET /v1/codes/{code}/runs lists them") from None
    if run.path.is_symlink():
        raise RunNotFound(f"{code} has no finished run {run_id}")
    return run


def servable_files(run_dir: Path) -> list[str]:
    """The report files a client may download from a run, in `REPORT_FILES` order."""
    return [name for name in REPORT_FILES if (run_dir / name).is_file() and not (run_dir / name).is_symlink()]


def run_file(outputs: Path, code: str, run_id: str, name: str) -> Path:
    """A servable file of a finished run; never a path outside it, never through a symbolic link."""
    run = find_run(outputs, code, run_id)
    if name not in REPORT_FILES:
        raise RunNotFound(f"{name[:60]!r} is not a report file; one of: {', '.join(REPORT_FILES)}")
    try:
        path = run.file(name)
    except RunFileInvalid:  # a link that leads out of the run
        raise RunNotFound(f"run {run.run_id} of {code} has no {name}") from None
    if path.is_symlink() or not path.is_file() or path.resolve().parent != run.path.resolve():
        raise RunNotFound(f"run {run.run_id} of {code} has no {name}")
    return path


def media_type(name: str) -> str:
    return MEDIA_TYPES.get(Path(name).suffix, "application/octet-stream")


def shown(outputs: Path, path: Path | str) -> str:
    """A run path as clients see it: relative to the outputs folder (``outputs/HWC/...``)."""
    text = str(path)
    root = str(outputs.resolve())
    return text.replace(root, layout.OUTPUTS).replace(str(outputs), layout.OUTPUTS)


def code_folder(code: str, kind: str) -> str:
    """The folder name of a (normalised) code under outputs/."""
    return Outputs(".").code_folder(code, kind).slug


def failed_folder(outputs: Path, code: str, run_id: str) -> Path:
    """Where a failed run of ``code`` is kept."""
    return Outputs(outputs)[code].failed_path(run_id)


def mark_failed(outputs: Path, code: str, run_id: str) -> Path | None:
    """Rename the run folder of a job whose worker died, in progress -> failed (`CodeFolder.fail`).

    Only a run this job started is renamed (its id was recorded when it started); returns the new
    folder, or None when there is nothing to rename (it never started, or was already renamed).
    """
    if run_started(run_id) is None:
        return None
    try:
        folder = Outputs(outputs)[code]
    except RunFileInvalid:
        return None
    working = [run for run in folder.running() if run.run_id == run_id]
    return folder.fail(working[0]).path if working else None


def outputs_writable(outputs: Path) -> str | None:
    """None when a worker can create files in the outputs folder; else what is wrong."""
    import tempfile

    try:
        outputs.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=outputs, prefix=".ready-"):
            return None
    except OSError as exc:
        return f"cannot write {outputs.name}/ ({exc.strerror or type(exc).__name__})"
