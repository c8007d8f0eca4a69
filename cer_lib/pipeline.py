"""Run the five stage notebooks for one code into a new run folder; several codes in a batch.

The run folder starts in progress (it never looks finished), is renamed to its run id on success
with the manifest written last, and is kept aside as failed otherwise — after an error, Ctrl-C or
SIGTERM (`RunInterrupted`) or a full disk (`DiskFull`), each with one message; ``latest`` moves only
on success (`cer_lib.runfolder.CodeFolder`: ``start_run``, ``finish``, ``fail``). Two identical jobs
started in the same second get distinct run ids.

Each notebook is executed by papermill inside the run folder with ``run_dir="."``, so executed
notebooks hold no machine-specific paths.
"""
from __future__ import annotations

import datetime as dt
import shlex
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import __version__
from .errors import CerError, DiskFull, RunInterrupted, StageFailed, disk_full
from .interrupts import interruption
from .params import Parameters, load_parameters
from .profiles import profile_of
from .manifest import RunChain, write_manifest
from .provenance import display_path, environment_versions, git_version, lock_sha256, utc_now
from .runfolder import CodeFolder, Outputs, RunFolder, RunRecord, layout
from .runfolder import make_run_id as _run_id
from .runfolder.layout import STAGES
from .refresh.history import record_history
from .settings import PROJECT_ROOT, Settings

KERNEL_NAME = "cer-notebooks"
NOTEBOOKS_DIR = PROJECT_ROOT / "notebooks"
HISTORY_AFTER = "03_analyze"  # changes.json and feedback.json need the analysis, and the narrative needs them

Progress = Callable[[str], None]


def _stderr(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def make_run_id(params: Parameters, when: dt.datetime | None = None) -> str:
    """``YYYYMMDDTHHMMSSZ-<7 hex>``: UTC start time plus a hash of the effective parameters and commit."""
    return _run_id(params.to_yaml_dict(), git_version().get("git_commit"), when)


def preflight(params: Parameters, settings: Settings) -> None:
    """Checks that need no run folder: a profile for the kind, and the profile's own (mirror present, code known)."""
    profile_of(params).preflight(params, settings)


@dataclass
class StageTiming:
    stage: str
    notebook: str
    seconds: float
    status: str


@dataclass
class RunResult:
    code: str
    run_dir: Path
    stages: list[StageTiming] = field(default_factory=list)


def _execute_stage(stage: str, run_dir: Path, params: Parameters, notebooks_dir: Path) -> None:
    import papermill
    from papermill.exceptions import PapermillExecutionError

    notebook = layout.notebook(stage)
    try:
        papermill.execute_notebook(
            str(notebooks_dir / notebook),
            str(run_dir / notebook),
            parameters={"code": params.code, "kind": params.kind.value, "data_from": params.data_from, "run_dir": "."},
            kernel_name=KERNEL_NAME,
            cwd=str(run_dir),
            progress_bar=False,
            log_output=False,
            # the kernel's own log says only that it talks to us over local TCP: keep its errors only
            extra_arguments=["--IPKernelApp.log_level=ERROR"],
        )
    except PapermillExecutionError as exc:
        raise StageFailed(stage, exc.cell_index + 1, f"{exc.ename}: {exc.evalue}", notebook, exc.source) from None
    finally:
        _portable_papermill_metadata(run_dir / notebook, notebooks_dir / notebook)


def _portable_papermill_metadata(executed: Path, source: Path) -> None:
    """Papermill records absolute input and output paths (the temporary run folder among them):
    keep the notebook's own name and the source relative to the project instead."""
    import nbformat
    from nbformat.reader import NotJSONError

    if not executed.is_file():
        return
    try:
        nb = nbformat.read(executed, as_version=4)
    except NotJSONError:
        return  # cut short (a full disk, a kill): the error that cut it is the one reported
    meta = nb.metadata.get("papermill", {})
    meta.update({"input_path": display_path(source), "output_path": executed.name})
    nbformat.write(nb, executed)


def run_report(
    code: str,
    *,
    kind: str | None = None,
    overrides: dict[str, Any] | None = None,
    settings: Settings | None = None,
    progress: Progress = _stderr,
    command: Sequence[str] | None = None,
    notebooks_dir: Path = NOTEBOOKS_DIR,
) -> RunResult:
    """Run all stages for one code; return the finished run folder or raise `CerError`."""
    settings = settings or Settings.from_env()
    params = load_parameters(code, kind=kind, overrides=overrides).resolved()
    preflight(params, settings)
    codes = Outputs(settings.outputs_dir).code_folder(params.code, params.kind)
    try:
        work = codes.start_run(make_run_id(params))
    except OSError as exc:
        raise disk_full(exc, f"creating the run folder in {codes.path}") or exc from None
    run_id = work.run_id
    result = RunResult(params.code, work.path)
    doing = "writing the run's parameters and record"
    try:
        work.write_parameters(params)
        work.write_run_record(_run_record(params, codes, run_id, utc_now(), command))
        progress(f"{params.code}: run {run_id} (from {params.data_from})")
        chain = RunChain(work.path)
        chain.seal("start")
        for number, stage in enumerate(STAGES, start=1):
            doing = f"running stage {stage}"
            progress(f"  [{number}/{len(STAGES)}] {stage} ...")
            t0 = time.perf_counter()
            try:
                _execute_stage(stage, work.path, params, notebooks_dir)
            finally:
                seconds = time.perf_counter() - t0
            result.stages.append(StageTiming(stage, layout.notebook(stage), round(seconds, 2), "ok"))
            chain.seal(stage)
            progress(f"        done in {seconds:.1f} s")
            if stage == HISTORY_AFTER:
                doing = f"writing {layout.CHANGES} and {layout.FEEDBACK_SNAPSHOT}"
                record_history(work, codes)
                chain.seal("history")
        doing = f"assembling {layout.REPORT_HTML} and {layout.REPORT_PDF}"
        progress(f"  [+] {doing} ...")
        t0 = time.perf_counter()
        from .report.assemble import assemble_within

        assemble_within(work.path, settings.assembly_timeout_seconds)
        seconds = time.perf_counter() - t0
        result.stages.append(StageTiming("assemble", f"{layout.REPORT_HTML}, {layout.REPORT_PDF}", round(seconds, 2), "ok"))
        chain.seal("assemble")
        progress(f"        done in {seconds:.1f} s")
        doing = f"writing {layout.MANIFEST}"
        write_manifest(work.path, chain, _manifest_payload(result), key=settings.manifest_key)
    except BaseException as exc:
        failed = codes.fail(work)
        if isinstance(exc, StageFailed):
            raise StageFailed(exc.stage, exc.cell, exc.error, str(failed.path / exc.notebook), exc.source) from None
        if isinstance(exc, KeyboardInterrupt):
            how, status = interruption(exc)
            raise RunInterrupted(f"run {run_id} of {params.code} {how} during {doing}; nothing was finished and "
                                 f"what it had done is kept in {failed.path}", status) from None
        full = disk_full(exc, doing)
        if full is not None:
            raise DiskFull(f"{full} The run so far is kept in {failed.path}.") from None
        raise
    result.run_dir = codes.finish(work).path
    total = sum(s.seconds for s in result.stages)
    progress(f"{params.code}: finished in {total:.0f} s -> {_shown(result.run_dir)}")
    return result


def _run_record(params: Parameters, codes: CodeFolder, run_id: str, started: str, command: Sequence[str] | None) -> RunRecord:
    """The run record: what a reader needs to reproduce the run, known before any stage starts."""
    return RunRecord.model_validate({
        "run_id": run_id,
        "code": params.code,
        "kind": params.kind.value,
        "command": shlex.join(command) if command else None,
        "reproduce": _reproduce_commands(params, codes, run_id),
        "started_utc": started,
        "code_version": {**git_version(), "lock_sha256": lock_sha256()},
        "tool_version": __version__,
    })


def _reproduce_commands(params: Parameters, codes: CodeFolder, run_id: str) -> list[str]:
    """Shell commands that re-run this report with the same code version and parameters."""
    commit = git_version().get("git_commit") or "<commit>"
    saved = codes.display(run_id, layout.PARAMETERS)
    return [
        f"git checkout {commit}",
        "make venv",
        f".venv/bin/cer report {shlex.quote(params.code)} --kind {params.kind.value} --params {saved}",
    ]


def _shown(path: Path) -> str:
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def _manifest_payload(result: RunResult) -> dict[str, Any]:
    """The manifest's claims that no file of the run repeats (the rest `write_manifest` reads from the files);
    ``environment.fonts`` lists the font files cer.pdf is set in."""
    from .report.pdf import pdf_fonts

    return {
        "finished_utc": utc_now(),
        "environment": {**environment_versions(), "fonts": pdf_fonts()},
        "stages": [vars(s) for s in result.stages],
    }


@dataclass
class BatchOutcome:
    code: str
    ok: bool
    detail: str


def run_batch(codes: Sequence[str], *, progress: Progress = _stderr, **options: Any) -> list[BatchOutcome]:
    """Run each code in turn; a failing code is reported and the others go on."""
    outcomes = []
    for code in codes:
        try:
            result = run_report(code, progress=progress, **options)
            outcomes.append(BatchOutcome(result.code, True, _shown(result.run_dir)))
        except CerError as exc:
            progress(f"{code}: FAILED: {exc}")
            outcomes.append(BatchOutcome(code, False, str(exc).splitlines()[0]))
    return outcomes

