"""Geometry of a rendered report, for the layout tests: word boxes per PDF page, table fragments per page.

`words_outside_the_text_area` reads every word's box with ``pdftotext -bbox`` and lists the words
that reach into the side margins or off the page. `table_fragments` lays the page out again with
WeasyPrint (the renderer of cer.pdf) and lists, for every table, the part of it on each page:
whether that part has the header row and how many body rows it has.
"""
from __future__ import annotations

import html as htmllib
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from needs import missing

MM = 72 / 25.4
SIDE_MARGIN_MM = 16  # cer_lib.report.html._page_css: margin 20mm 16mm 18mm 16mm
_PAGE = re.compile(r'<page width="([\d.]+)" height="([\d.]+)">(.*?)</page>', re.S)
_WORD = re.compile(r'<word xMin="([\d.-]+)" yMin="([\d.-]+)" xMax="([\d.-]+)" yMax="([\d.-]+)">(.*?)</word>', re.S)


@dataclass(frozen=True)
class Word:
    page: int
    text: str
    x_min: float
    y_min: float
    x_max: float
    y_max: float
    page_width: float
    page_height: float


def pdf_words(pdf: Path) -> list[Word]:
    tool = shutil.which("pdftotext") or missing("pdftotext not found (apt-get install poppler-utils)")
    out = subprocess.run([tool, "-bbox", str(pdf), "-"], capture_output=True, text=True, check=True).stdout
    words = []
    for number, page in enumerate(_PAGE.finditer(out), start=1):
        width, height = float(page.group(1)), float(page.group(2))
        for w in _WORD.finditer(page.group(3)):
            words.append(Word(number, htmllib.unescape(w.group(5)), *map(float, w.group(1, 2, 3, 4)), width, height))
    return words


def words_outside_the_text_area(pdf: Path, tolerance: float = 1.0) -> list[Word]:
    """Words that leave the page or reach into its left or right margin."""
    margin = SIDE_MARGIN_MM * MM - tolerance
    return [w for w in pdf_words(pdf)
            if w.x_min < margin or w.x_max > w.page_width - margin or w.y_min < 0 or w.y_max > w.page_height]


@dataclass(frozen=True)
class TableFragment:
    table: str  # "<id or class> #<n>": the table's id, or its class and its rank on the page
    page: int
    has_header: bool
    body_rows: int


def table_fragments(html: str, base_dir: Path) -> list[TableFragment]:
    from weasyprint.formatting_structure.boxes import ParentBox, TableBox

    from cer_lib.report.pdf import render_pdf_document

    document = render_pdf_document(html, base_dir=base_dir)
    names: dict[int, str] = {}
    fragments = []
    for number, page in enumerate(document.pages, start=1):
        stack = [page._page_box]
        while stack:
            box = stack.pop()
            if isinstance(box, TableBox):
                element = box.element
                key = id(element)
                if key not in names:
                    names[key] = f"{element.get('id') or element.get('class') or 'table'} #{len(names) + 1}"
                groups = [g for g in box.children if hasattr(g, "is_header")]
                header = any(g.is_header for g in groups)
                rows = sum(len(g.children) for g in groups if not g.is_header and not g.is_footer)
                fragments.append(TableFragment(names[key], number, header, rows))
            if isinstance(box, ParentBox):
                stack.extend(box.children)
    return fragments
