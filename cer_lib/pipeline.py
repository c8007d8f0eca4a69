"""Run the five stage notebooks for one code into a new run folder; several codes in a batch.

    outputs/<CODE>/.tmp-<run-id>/   while running (never looks finished)
    outputs/<CODE>/<run-id>/        renamed there on success, with manifest.json written last
    outputs/<CODE>/.failed-<run-id>/ on failure, kept so the executed notebooks show what went wrong
    outputs/<CODE>/latest           symlink to the newest successful run, changed only on success

Each notebook is executed by papermill inside the run folder with ``run_dir="."``, so executed
notebooks hold no machine-specific paths.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import shlex
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import __version__
from .codes import Kind, check_product_code_exists, code_slug
from .context import PARAMETERS_FILE, STAGES
from .errors import CerError, StageFailed
from .files import write_json_atomic
from .params import Parameters, load_parameters, save_parameters
from .provenance import display_path, environment_versions, git_version, lock_sha256, utc_now, write_manifest
from .settings import PROJECT_ROOT, Settings

KERNEL_NAME = "cer-notebooks"
RUN_FILE = "run.json"
NOTEBOOKS_DIR = PROJECT_ROOT / "notebooks"

Progress = Callable[[str], None]


def _stderr(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def make_run_id(params: Parameters, when: dt.datetime | None = None) -> str:
    """``YYYYMMDDTHHMMSSZ-<7 hex>``: UTC start time plus a hash of the effective parameters and commit."""
    when = when or dt.datetime.now(dt.timezone.utc)
    basis = json.dumps({"params": params.to_yaml_dict(), "commit": git_version().get("git_commit")}, sort_keys=True)
    return f"{when:%Y%m%dT%H%M%SZ}-{hashlib.sha256(basis.encode()).hexdigest()[:7]}"


def preflight(params: Parameters, settings: Settings) -> None:
    """Checks that need no run folder: supported kind, mirror present, product code known."""
    if params.kind is Kind.drug:
        raise CerError(
            f"{params.code}: drug reports (FAERS, labels, PBRER structure) are not built yet; "
            "this version reports on devices (KIND=product_code, udi_di or brand)"
        )
    classification = None
    from .sources.demo import mirror_folder
    from .sources.foiclass import find_classification_file, product_codes

    if params.data_from == "mirror":
        classification = find_classification_file(mirror_folder(params.mirror, settings))
    else:
        for candidate in filter(None, [params.mirror, settings.demo_mirror_dir]):
            classification = find_classification_file(Path(candidate))
            if classification:
                break
    if params.kind is Kind.product_code and classification is not None:
        check_product_code_exists(params.code, product_codes(classification), source=f"the classification file {classification.name}")


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

    notebook = f"{stage}.ipynb"
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

    if not executed.is_file():
        return
    nb = nbformat.read(executed, as_version=4)
    meta = nb.metadata.get("papermill", {})
    meta.update({"input_path": display_path(source), "output_path": executed.name})
    nbformat.write(nb, executed)


def _point_latest(code_dir: Path, run_dir: Path) -> None:
    link = code_dir / "latest"
    tmp = code_dir / f".latest-{os.getpid()}"
    if tmp.is_symlink() or tmp.exists():
        tmp.unlink()
    tmp.symlink_to(run_dir.name, target_is_directory=True)
    os.replace(tmp, link)


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
    run_id = make_run_id(params)
    code_dir = settings.outputs_dir / code_slug(params.code, params.kind)
    work = code_dir / f".tmp-{run_id}"
    final = code_dir / run_id
    work.mkdir(parents=True)
    save_parameters(params, work / PARAMETERS_FILE)
    result = RunResult(params.code, final)
    started = utc_now()
    write_json_atomic(work / RUN_FILE, _run_record(params, run_id, started, command))
    progress(f"{params.code}: run {run_id} (from {params.data_from})")
    try:
        for number, stage in enumerate(STAGES, start=1):
            progress(f"  [{number}/{len(STAGES)}] {stage} ...")
            t0 = time.perf_counter()
            try:
                _execute_stage(stage, work, params, notebooks_dir)
            finally:
                seconds = time.perf_counter() - t0
            result.stages.append(StageTiming(stage, f"{stage}.ipynb", round(seconds, 2), "ok"))
            progress(f"        done in {seconds:.1f} s")
        progress("  [+] assembling cer.html and cer.pdf ...")
        t0 = time.perf_counter()
        from .report.assemble import assemble_report

        assemble_report(work)
        seconds = time.perf_counter() - t0
        result.stages.append(StageTiming("assemble", "cer.html, cer.pdf", round(seconds, 2), "ok"))
        progress(f"        done in {seconds:.1f} s")
        write_manifest(work, _manifest_payload(params, run_id, started, result, work, command))
    except BaseException as exc:
        failed = code_dir / f".failed-{run_id}"
        if work.exists():
            work.rename(failed)
        if isinstance(exc, StageFailed):
            raise StageFailed(exc.stage, exc.cell, exc.error, str(failed / exc.notebook), exc.source) from None
        raise
    work.rename(final)
    _point_latest(code_dir, final)
    total = sum(s.seconds for s in result.stages)
    progress(f"{params.code}: finished in {total:.0f} s -> {_shown(final)}")
    return result


def _run_record(params: Parameters, run_id: str, started: str, command: Sequence[str] | None) -> dict[str, Any]:
    """``run.json``: what a reader needs to reproduce the run, known before any stage starts."""
    return {
        "run_id": run_id,
        "code": params.code,
        "kind": params.kind.value,
        "command": shlex.join(command) if command else None,
        "reproduce": _reproduce_commands(params, run_id),
        "started_utc": started,
        "code_version": {**git_version(), "lock_sha256": lock_sha256()},
        "tool_version": __version__,
    }


def _reproduce_commands(params: Parameters, run_id: str) -> list[str]:
    """Shell commands that re-run this report with the same code version and parameters."""
    commit = git_version().get("git_commit") or "<commit>"
    saved = f"outputs/{code_slug(params.code, params.kind)}/{run_id}/{PARAMETERS_FILE}"
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


def _manifest_payload(
    params: Parameters, run_id: str, started: str, result: RunResult, work: Path, command: Sequence[str] | None
) -> dict[str, Any]:
    status_file = work / "collected" / "status.json"
    status = json.loads(status_file.read_text()) if status_file.is_file() else {}
    sources = status.get("sources", {})
    return {
        "tool": {"name": "cer-notebooks", "version": __version__},
        "run_id": run_id,
        "code": params.code,
        "kind": params.kind.value,
        "command": shlex.join(command) if command else None,
        "started_utc": started,
        "finished_utc": utc_now(),
        "parameters": params.to_yaml_dict(),
        "code_version": {**git_version(), "lock_sha256": lock_sha256()},
        "environment": environment_versions(),
        "data": {
            "origin": status.get("origin"),
            "synthetic": status.get("synthetic", False),
            "offline": status.get("offline", False),
            "last_updated": {name: s.get("last_updated") for name, s in sources.items()},
        },
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

