"""``cer.pdf``: the same page as ``cer.html``, laid out for A4 by WeasyPrint.

The print rules live with the page (``templates/nbconvert/cer/static/print.css`` plus the per-run
``@page`` block from `cer_lib.report.html`), so a browser's "print" of cer.html and cer.pdf agree:

- A4, margins 20/16/18/16 mm; running header "CER <code> · run <run-id>" on the left and, for
  synthetic data, "SYNTHETIC DATA" in red on the right of every page; footer "page X of Y";
- contents with page numbers (``target-counter``), each appendix on a new page;
- code ``white-space: pre-wrap; overflow-wrap: anywhere`` (no line is cut off), figures and table
  rows ``break-inside: avoid``, table headers repeated on every page;
- folded code: the report part prints without code (the ``<details>`` blocks are hidden); every
  cell's code is printed in full in Annex 1.5, which links back to the outputs.

WeasyPrint never fetches anything: its URL fetcher allows only ``data:`` URLs, which backs up the
page's own guarantee that it is self-contained.
"""
from __future__ import annotations

import logging
from pathlib import Path

from .html import ReportError

#: extra rules for WeasyPrint only (the page's print.css already carries the layout)
WEASYPRINT_CSS = """
html { -weasy-hyphens: none; }
"""


def html_to_pdf(html: str, target: Path, *, base_dir: Path | None = None) -> Path:
    """Render ``html`` (a cer.html page) to ``target`` with WeasyPrint; returns ``target``."""
    try:
        from weasyprint import CSS, HTML
    except ImportError as exc:  # pragma: no cover - weasyprint is a main dependency
        raise ReportError(f"WeasyPrint is not importable ({exc}); reinstall with `make venv`") from None
    # WeasyPrint logs every CSS property it does not know (JupyterLab markup, browser-only rules)
    logging.getLogger("weasyprint").setLevel(logging.ERROR)
    logging.getLogger("fontTools").setLevel(logging.ERROR)
    from weasyprint.urls import URLFetcher

    fetcher = URLFetcher(allowed_protocols={"data"}, timeout=5)
    document = HTML(string=html, base_url=str(base_dir) if base_dir else None, url_fetcher=fetcher,
                    media_type="print")
    try:
        document.write_pdf(str(target), stylesheets=[CSS(string=WEASYPRINT_CSS)])
    except Exception as exc:  # WeasyPrint raises many types; the message is what matters
        raise ReportError(f"cer.pdf could not be rendered: {type(exc).__name__}: {exc}") from exc
    return Path(target)
