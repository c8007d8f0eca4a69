"""Assemble a run's report files: ``cer.html`` then ``cer.pdf`` in the run folder.

Called by the runner after the five notebooks (``assemble_report(work_dir)``). Both files are
written under temporary names (``.cer.html.tmp``, ``.cer.pdf.tmp``) and renamed into place only
when both are complete, so a failure never leaves a half-written report under a name that looks
finished; on failure the temporary files are removed and `ReportError` says what went wrong.

`assemble_within(run_dir, seconds)` (what the runner calls) does the same in a child process and
stops it after ``seconds`` (``CER_ASSEMBLY_TIMEOUT``, default 600): a report whose layout does not
finish fails with a message that says so, instead of running for ever. The text it lays out is
bounded anyway (`cer_lib.report.text`: narratives excerpted, long tokens breakable).
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from ..errors import ReportError
from ..runfolder.layout import REPORT_HTML as HTML_NAME
from ..runfolder.layout import REPORT_PDF as PDF_NAME
from .html import render_cer_html
from .pdf import html_to_pdf

__all__ = ["HTML_NAME", "PDF_NAME", "ReportError", "assemble_report", "assemble_within"]


def assemble_report(run_dir: Path) -> list[Path]:
    """Write ``cer.html`` and ``cer.pdf`` into ``run_dir``; return their paths (html first)."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise ReportError(f"{run_dir} is not a run folder")
    html = render_cer_html(run_dir)
    html_path, pdf_path = run_dir / HTML_NAME, run_dir / PDF_NAME
    html_tmp, pdf_tmp = run_dir / f".{HTML_NAME}.tmp", run_dir / f".{PDF_NAME}.tmp"
    try:
        html_tmp.write_text(html, encoding="utf-8")
        html_to_pdf(html, pdf_tmp, base_dir=run_dir)
        os.replace(html_tmp, html_path)  # both renamed only once both are complete
        os.replace(pdf_tmp, pdf_path)
    finally:
        for tmp in (html_tmp, pdf_tmp):
            tmp.unlink(missing_ok=True)
    return [html_path, pdf_path]


def assemble_within(run_dir: Path, seconds: float) -> list[Path]:
    """`assemble_report` in a child process stopped after ``seconds``; `ReportError` when it fails or runs out of time.

    The child is a new interpreter (``python -m cer_lib.report.assemble RUN_DIR``), not a
    multiprocessing child: a Celery prefork worker is a daemonic process, which may start programs
    but not multiprocessing children."""
    run_dir = Path(run_dir)
    command = [sys.executable, "-m", "cer_lib.report.assemble", str(run_dir)]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=seconds, env=os.environ.copy())
    except subprocess.TimeoutExpired:  # subprocess.run has killed the child
        raise ReportError(
            f"assembling {HTML_NAME} and {PDF_NAME} did not finish within {seconds:g} s and was stopped. "
            f"The run's files are kept; set CER_ASSEMBLY_TIMEOUT to allow longer.") from None
    finally:
        for tmp in (run_dir / f".{HTML_NAME}.tmp", run_dir / f".{PDF_NAME}.tmp"):
            tmp.unlink(missing_ok=True)
    if done.returncode != 0:
        lines = done.stderr.strip().splitlines()
        raise ReportError(lines[-1] if lines else f"assembling {HTML_NAME} and {PDF_NAME} stopped "
                          f"without an answer (exit code {done.returncode})")
    return [Path(p) for p in json.loads(done.stdout.strip().splitlines()[-1])]


def _main(argv: list[str]) -> int:
    """``python -m cer_lib.report.assemble RUN_DIR``: the paths written as one JSON line, or the error on stderr."""
    try:
        paths = assemble_report(Path(argv[0]))
    except Exception as exc:  # the parent raises it as a ReportError
        print(str(exc) if isinstance(exc, ReportError) else f"{type(exc).__name__}: {exc}", file=sys.stderr)
        return 2
    print(json.dumps([str(p) for p in paths]))
    return 0


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))
