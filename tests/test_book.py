"""The Jupyter Book site: generated from a fake outputs/ with two codes, built offline."""
from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest

from _publishing_fixtures import LZG_NEW, LZG_OLD
from cer_lib.errors import ReportError
from cer_lib.report.book import build_book, find_runs, headline


@pytest.fixture(scope="module")
def site(book_site: dict) -> dict:
    """The session's book (`conftest.book_site`)."""
    return book_site


class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.refs: list[tuple[str, str, str]] = []
        self.ids: set[str] = set()
        self.scripts: list[str] = []
        self.handlers: list[str] = []
        self.in_script = False

    def handle_starttag(self, tag, attrs):
        for name, value in attrs:
            if name in ("href", "src") and value:
                self.refs.append((tag, name, value))
            if name in ("id", "name") and value:
                self.ids.add(value)
            if name.startswith("on"):
                self.handlers.append(f"<{tag} {name}={value!r}>")
        self.in_script = tag == "script"

    def handle_endtag(self, tag):
        if tag == "script":
            self.in_script = False

    def handle_data(self, data):
        if self.in_script:
            self.scripts.append(data)


def _parse(path: Path) -> _Links:
    parser = _Links()
    parser.feed(path.read_text(encoding="utf-8", errors="replace"))
    return parser


def _pages(site: dict) -> list[Path]:
    return sorted(p for p in site["html"].rglob("*.html") if "_static" not in p.parts)


def test_build_returns_the_index_and_is_reasonably_quick(site: dict) -> None:
    assert site["index"].name == "index.html" and site["index"].is_file()
    assert site["index"] == site["root"] / "book" / "_build" / "html" / "index.html"
    assert site["seconds"] < 180, f"book build took {site['seconds']:.0f} s"


def test_index_lists_both_codes_with_their_latest_run_and_headline(site: dict) -> None:
    page = site["index"].read_text(encoding="utf-8")
    text = page[page.index('<table class="cer-index">'):page.index("</table>", page.index('<table class="cer-index">'))]
    assert "HWC" in text and "LZG" in text
    assert site["hwc"].name in text
    assert LZG_OLD in text and LZG_NEW not in text, "the index shows the run `latest` points to"
    h = headline(site["hwc"])
    assert h["total_reports"] and h["trend_verdict"] == "increase" and h["n_signals"] is not None
    assert f"{h['total_reports']:,}" in text and "increase" in text
    assert "SYNTHETIC DATA" in text


def test_runs_pages_notebooks_and_report_files_are_published(site: dict) -> None:
    html = site["html"]
    for run in (site["hwc"], site["old"], site["new"]):
        page_dir = html / "runs" / run.parent.name / run.name
        assert (page_dir / "index.html").is_file()
        for stage in ("01_collect", "02_integrate", "03_analyze", "04_narrate", "05_report"):
            assert (page_dir / f"{stage}.html").is_file(), (run.name, stage)
    assert (html / "runs" / "HWC" / site["hwc"].name / "cer.html").is_file()
    assert (html / "runs" / "HWC" / site["hwc"].name / "cer.pdf").is_file()
    assert (html / "runs" / "LZG" / LZG_NEW / "cer.html").is_file()
    assert not (html / "runs" / "LZG" / LZG_OLD / "cer.html").exists()  # that run has no report files
    names = {p.name for p in (html / "runs" / "LZG").iterdir()}
    assert not any(n.startswith((".failed", ".tmp")) or n == "lab" for n in names)
    assert (html / "intro.html").is_file() and (html / "methods.html").is_file()
    # the run page links its report and notebooks
    run_page = (html / "runs" / "HWC" / site["hwc"].name / "index.html").read_text(encoding="utf-8")
    assert 'href="cer.html"' in run_page and 'href="cer.pdf"' in run_page and 'href="05_report.html"' in run_page
    # the CER as a page of the site: its navigation, a way back, the report framed at the content's full width
    report_page = (html / "runs" / "HWC" / site["hwc"].name / "report.html").read_text(encoding="utf-8")
    assert 'href="report.html"' in run_page
    assert re.search(r'<iframe class="cer-frame" src="cer.html"', report_page)
    assert 'href="index.html"' in report_page and 'href="../index.html"' in report_page
    assert "bd-sidebar" in report_page or "bd-docs-nav" in report_page  # the site's navigation
    assert "cer-book.css" in report_page
    css = next(site["html"].rglob("cer-book.css")).read_text()
    assert ".bd-article-container { max-width: 100%; }" in css


def test_every_internal_link_resolves(site: dict) -> None:
    html = site["html"]
    broken = []
    ids_cache: dict[Path, set[str]] = {}
    for page in _pages(site):
        links = _parse(page)
        for tag, attr, ref in links.refs:
            parts = urlsplit(ref)
            if parts.scheme or ref.startswith(("//", "mailto:", "data:", "javascript:")):
                continue
            target = page if not parts.path else (page.parent / unquote(parts.path)).resolve()
            if not target.exists():
                broken.append(f"{page.relative_to(html)}: <{tag} {attr}={ref!r}>")
                continue
            if parts.fragment and target.suffix == ".html" and target.is_file():
                ids = ids_cache.setdefault(target, _parse(target).ids)
                if parts.fragment not in ids and unquote(parts.fragment) not in ids:  # as browsers: raw, then decoded
                    broken.append(f"{page.relative_to(html)}: {ref!r} (no such anchor)")
    assert broken == [], "\n".join(broken[:30])


def test_nothing_is_loaded_from_the_network(site: dict) -> None:
    offenders = []
    for page in _pages(site):
        for tag, attr, ref in _parse(page).refs:
            external = re.match(r"\s*(https?:)?//", ref)
            if external and not (tag == "a" and attr == "href"):
                offenders.append(f"{page.name}: <{tag} {attr}={ref}>")
    assert offenders == []
    for css in site["html"].rglob("*.css"):
        text = css.read_text(encoding="utf-8", errors="replace")
        assert not re.search(r"@import\s+url\(\s*['\"]?https?:|url\(\s*['\"]?https?://", text), css.name


def test_hostile_text_is_not_executed_in_the_book(site: dict) -> None:
    run_dir = site["html"] / "runs" / "HWC" / site["hwc"].name
    for page in [site["index"], run_dir / "index.html", *(run_dir / f"{s}.html" for s in
                                                             ("01_collect", "02_integrate", "03_analyze", "04_narrate", "05_report"))]:
        links = _parse(page)
        assert not any("__cer_pwned" in s or "alert(1)" in s for s in links.scripts), page.name
        theirs = [h for h in links.handlers if "pwned" in h.lower() or "alert" in h.lower()]
        assert theirs == [], (page.name, theirs[:3])
        assert not [r for t, a, r in links.refs if r.replace(" ", "").lower().startswith("javascript:")], page.name
    for page in (site["html"] / "runs" / "HWC").rglob("*.html"):
        text = page.read_text(encoding="utf-8")
        for raw in ("<script>alert(1)", "<img src=x onerror", "<script>window.__cer_pwned"):
            assert raw not in text, (page.name, raw)
    report = (run_dir / "05_report.html").read_text(encoding="utf-8")
    assert "&lt;script&gt;window.__cer_pwned = 1" in report, "the payload is shown as text"
    assert "<script>window.__cer_pwned" not in report


def test_no_runs_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "outputs" / "HWC" / ".failed-20240101T000000Z-0000000").mkdir(parents=True)
    (tmp_path / "outputs" / "HWC" / "lab").mkdir()
    with pytest.raises(ReportError, match="no report runs under"):
        build_book(tmp_path / "outputs", book_dir=tmp_path / "book")
    assert find_runs(tmp_path / "missing") == {}
