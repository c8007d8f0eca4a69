"""Assemble a run's report files: ``cer.html`` then ``cer.pdf`` in the run folder.

Called by the runner after the five notebooks (``assemble_report(work_dir)``). Both files are
written under temporary names (``.cer.html.tmp``, ``.cer.pdf.tmp``) and renamed into place only
when both are complete, so a failure never leaves a half-written report under a name that looks
finished; on failure the temporary files are removed and `ReportError` says what went wrong.
"""
from __future__ import annotations

import os
from pathlib import Path

from ..errors import ReportError
from ..runfolder.layout import REPORT_HTML as HTML_NAME
from ..runfolder.layout import REPORT_PDF as PDF_NAME
from .html import render_cer_html
from .pdf import html_to_pdf

__all__ = ["HTML_NAME", "PDF_NAME", "ReportError", "assemble_report"]


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
