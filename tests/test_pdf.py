"""cer.pdf: pages, running header and footer, contents with page numbers, nothing cut off."""
from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
from pypdf import PdfReader

from _publishing_fixtures import LONG_LINE, shared_run
from needs import missing


def _require(tool: str) -> str:
    path = shutil.which(tool)
    if path:
        return path
    missing(f"{tool} not found (apt-get install poppler-utils)")


@pytest.fixture(scope="module")
def synthetic_pdf() -> tuple[Path, list[str], float]:
    run, seconds = shared_run(hostile=True, synthetic=True)
    pages = [page.extract_text() or "" for page in PdfReader(run / "cer.pdf").pages]
    return run, pages, seconds


@pytest.fixture(scope="module")
def plain_pdf() -> tuple[Path, list[str]]:
    run, _ = shared_run()
    return run, [page.extract_text() or "" for page in PdfReader(run / "cer.pdf").pages]


def _flat(text: str) -> str:
    return re.sub(r"\s+", " ", text)


def test_pdf_has_pages_and_the_document_headings(plain_pdf) -> None:
    run, pages = plain_pdf
    assert len(pages) > 8
    text = _flat("\n".join(pages))
    for heading in ("Contents", "Annex 1. Executed notebooks", "Annex 2. Provenance of tables and figures",
                    "1.1 01_collect.ipynb", "1.5 05_report.ipynb", "Query log"):
        assert heading in text, heading
    assert re.search(r"1 Summary", text) and re.search(r"5 Conclusions", text)


def test_every_page_has_the_running_header_and_page_x_of_y(plain_pdf) -> None:
    run, pages = plain_pdf
    n = len(pages)
    for number, text in enumerate(pages, start=1):
        flat = _flat(text)
        assert f"CER HWC · run {run.name}" in flat, f"page {number} has no running header"
        assert f"page {number} of {n}" in flat, f"page {number} has no 'page {number} of {n}'"
    assert "page 1 of" in _flat(pages[0])
    assert not any("SYNTHETIC DATA" in p for p in pages), "an ordinary run must not say SYNTHETIC"


def test_synthetic_runs_say_so_on_every_page(synthetic_pdf) -> None:
    _, pages, _ = synthetic_pdf
    missing = [i for i, text in enumerate(pages, start=1) if "SYNTHETIC DATA" not in text]
    assert missing == []


def test_contents_give_the_page_of_each_part(plain_pdf) -> None:
    _, pages = plain_pdf
    toc = _flat(" ".join(pages[:3]))
    for title in ("Annex 1. Executed notebooks", "Annex 2. Provenance of tables and figures"):
        match = re.search(re.escape(title) + r"[ .]*?(\d+)", toc)
        assert match, f"no page number after {title!r} in the contents"
        page = int(match.group(1))
        assert title in _flat(pages[page - 1]), f"{title!r} is not on page {page}"
        assert page > 2


def test_report_part_prints_no_code_and_the_appendix_prints_all_of_it(plain_pdf) -> None:
    _, pages = plain_pdf
    text = [_flat(p) for p in pages]
    appendix_start = next(i for i, p in enumerate(text) if "Annex 1. Executed notebooks" in p and i > 1)
    report_pages = "\n".join(text[2:appendix_start])
    assert "import cer_lib" not in report_pages and "show_section(" not in report_pages
    appendix = "\n".join(text[appendix_start:])
    assert "import cer_lib" in appendix and "show_section(" in appendix


def test_long_code_lines_wrap_instead_of_being_cut(plain_pdf) -> None:
    _, pages = plain_pdf
    joined = re.sub(r"\s+", "", "".join(pages))
    assert "END-OF-LONG-LINE" in joined
    # every piece of the line is there, in order, only broken across lines
    assert re.sub(r"\s+", "", LONG_LINE)[-120:] in joined


def test_assembly_is_quick_enough(synthetic_pdf) -> None:
    _, pages, seconds = synthetic_pdf
    # a ~50-page report takes ~2 s (HTML) + ~6 s of CPU (WeasyPrint) here; generous for loaded CI machines
    assert seconds < 90, f"assembly took {seconds:.1f} s for {len(pages)} pages"


def test_rendered_pages_are_not_blank(synthetic_pdf, tmp_path: Path) -> None:
    pdftoppm = _require("pdftoppm")
    run, pages, _ = synthetic_pdf
    last = len(pages)
    chosen = sorted({1, 2, 3, last // 2, last})
    for number in chosen:
        subprocess.run([pdftoppm, "-r", "60", "-png", "-f", str(number), "-l", str(number), str(run / "cer.pdf"),
                        str(tmp_path / f"p{number}")], check=True, capture_output=True)
    images = sorted(tmp_path.glob("p*.png"))
    assert len(images) == len(chosen)
    for image in images:
        ink = _ink_fraction(image)
        assert ink > 0.005, f"{image.name} looks blank ({ink:.4f} of the pixels are not white)"


def _ink_fraction(path: Path) -> float:
    from PIL import Image  # matplotlib's dependency

    with Image.open(path) as image:
        grey = image.convert("L")
        histogram = grey.histogram()
        total = sum(histogram)
        return sum(histogram[:240]) / total
