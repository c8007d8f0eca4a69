"""``cer.pdf``: the same page as ``cer.html``, laid out for A4 by WeasyPrint, in fonts the project ships.

The print rules live with the page (``templates/nbconvert/cer/static/print.css`` plus the per-run
``@page`` block from `cer_lib.report.html`), so a browser's "print" of cer.html and cer.pdf agree:

- A4, margins 20/16/18/16 mm; running header "CER <code> · run <run-id>" on the left and, for
  synthetic data, "SYNTHETIC DATA" in red on the right of every page; footer "page X of Y";
- contents with page numbers (``target-counter``), each appendix on a new page;
- tables repeat their header row on every page; a wide table (more than six columns, or a table of
  the annex) takes the full width in a smaller type and may break inside any word of a cell, so
  that no text leaves the page;
- folded code: the report part prints without code; every cell's code is printed in Annex 1.5.

**Fonts.** The PDF does not depend on the fonts a machine happens to have: every text is set in
DejaVu Sans and DejaVu Sans Mono from the TrueType files matplotlib (a pinned dependency) ships in
its package data, declared with ``@font-face``; `PDF_FONTS` lists them, and `pdf_fonts` gives the
files with their sha256 for the manifest.

WeasyPrint never fetches anything else: its URL fetcher allows ``data:`` URLs and those font files only.
"""
from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from ..errors import ReportError

__all__ = ["PDF_FONTS", "FontFile", "html_to_pdf", "pdf_fonts", "render_pdf_document"]

SANS, MONO = "CER Sans", "CER Mono"


@dataclass(frozen=True)
class FontFile:
    family: str  # the name the print CSS uses
    weight: str
    style: str
    file: str  # in matplotlib's mpl-data/fonts/ttf


PDF_FONTS: tuple[FontFile, ...] = (
    FontFile(SANS, "normal", "normal", "DejaVuSans.ttf"),
    FontFile(SANS, "bold", "normal", "DejaVuSans-Bold.ttf"),
    FontFile(SANS, "normal", "italic", "DejaVuSans-Oblique.ttf"),
    FontFile(SANS, "bold", "italic", "DejaVuSans-BoldOblique.ttf"),
    FontFile(MONO, "normal", "normal", "DejaVuSansMono.ttf"),
    FontFile(MONO, "bold", "normal", "DejaVuSansMono-Bold.ttf"),
    FontFile(MONO, "normal", "italic", "DejaVuSansMono-Oblique.ttf"),
    FontFile(MONO, "bold", "italic", "DejaVuSansMono-BoldOblique.ttf"),
)


def _font_dir() -> Path:
    import matplotlib

    return Path(matplotlib.get_data_path()) / "fonts" / "ttf"


@cache
def pdf_fonts() -> list[dict[str, Any]]:
    """The font files the PDF is set in: family, weight, style, file, the package that ships it, sha256."""
    from importlib.metadata import version

    package = f"matplotlib {version('matplotlib')}"
    fonts = []
    for font in PDF_FONTS:
        path = _font_dir() / font.file
        if not path.is_file():
            raise ReportError(f"font file {path} is missing: reinstall matplotlib with `make venv`")
        fonts.append({"family": font.family, "weight": font.weight, "style": font.style, "file": font.file,
                      "package": package, "sha256": hashlib.sha256(path.read_bytes()).hexdigest()})
    return fonts


def _font_css() -> str:
    faces = "".join(
        f'@font-face {{ font-family: "{f.family}"; font-weight: {f.weight}; font-style: {f.style}; '
        f'src: url("{(_font_dir() / f.file).as_uri()}"); }}\n' for f in PDF_FONTS)
    return faces + f"""
html {{ -weasy-hyphens: none; }}
html, body, body * {{ font-family: "{SANS}" !important; }}
pre, code, kbd, samp, tt, .highlight, .highlight *, .jp-InputArea-editor, .jp-InputArea-editor *, .jp-OutputArea-output pre,
.jp-OutputArea-output pre * {{ font-family: "{MONO}" !important; }}
"""


def _fetcher() -> Any:
    """WeasyPrint's URL fetcher: ``data:`` URLs and the font files of `PDF_FONTS`, nothing else."""
    from weasyprint.urls import URLFetcher, URLFetcherResponse

    fonts = {(_font_dir() / f.file).as_uri(): _font_dir() / f.file for f in PDF_FONTS}

    class _Fetcher(URLFetcher):
        def fetch(self, url: str, headers: Any = None) -> Any:
            if url in fonts:
                return URLFetcherResponse(url, body=fonts[url].read_bytes(), headers={"Content-Type": "font/ttf"})
            return super().fetch(url, headers)

    return _Fetcher(allowed_protocols={"data"}, timeout=5)


def render_pdf_document(html: str, *, base_dir: Path | None = None) -> Any:
    """The laid-out WeasyPrint document of ``html`` (pages and boxes), in the project's fonts."""
    from weasyprint import CSS, HTML
    from weasyprint.text.fonts import FontConfiguration

    # WeasyPrint logs every CSS property it does not know (JupyterLab markup, browser-only rules)
    logging.getLogger("weasyprint").setLevel(logging.ERROR)
    logging.getLogger("fontTools").setLevel(logging.ERROR)
    pdf_fonts()  # every font file is there
    fonts = FontConfiguration()
    fetch = _fetcher()
    document = HTML(string=html, base_url=str(base_dir) if base_dir else None, url_fetcher=fetch, media_type="print")
    return document.render(stylesheets=[CSS(string=_font_css(), font_config=fonts, url_fetcher=fetch)], font_config=fonts)


def html_to_pdf(html: str, target: Path, *, base_dir: Path | None = None) -> Path:
    """Render ``html`` (a cer.html page) to ``target`` with WeasyPrint; returns ``target``."""
    try:
        render_pdf_document(html, base_dir=base_dir).write_pdf(str(target))
    except ReportError:
        raise
    except Exception as exc:  # WeasyPrint raises many types; the message is what matters
        raise ReportError(f"cer.pdf could not be rendered: {type(exc).__name__}: {exc}") from exc
    return Path(target)
