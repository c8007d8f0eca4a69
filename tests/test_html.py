"""cer.html: structure, self-containment and untrusted text (cer_lib.report.html / assemble)."""
from __future__ import annotations

import json
import re
from html.parser import HTMLParser
from pathlib import Path

import nbformat
import pytest

from _publishing_fixtures import HOSTILE_NARRATIVE, make_published_run, shared_run
from cer_lib.runfolder.layout import STAGES
from cer_lib.report import assemble as assemble_module
from cer_lib.report.assemble import assemble_report
from cer_lib.report.html import ReportError, audit_html, render_cer_html, sanitize_fragment, sanitize_html


# ----------------------------------------------------------------------------------------------
# a small DOM, enough to ask structural questions without a browser


class Node:
    def __init__(self, tag: str, attrs: dict[str, str | None], parent: "Node | None") -> None:
        self.tag, self.attrs, self.parent = tag, attrs, parent
        self.children: list[Node | str] = []

    def text(self) -> str:
        return "".join(c if isinstance(c, str) else c.text() for c in self.children)

    def iter(self):
        yield self
        for child in self.children:
            if isinstance(child, Node):
                yield from child.iter()

    def find_all(self, tag: str | None = None, **attrs: str) -> list["Node"]:
        found = []
        for node in self.iter():
            if tag and node.tag != tag:
                continue
            if all((node.attrs.get(k.rstrip("_")) or "").split().count(v) if k == "class_" else node.attrs.get(k) == v
                   for k, v in attrs.items()):
                found.append(node)
        return found

    def ancestors(self):
        node = self.parent
        while node is not None:
            yield node
            node = node.parent


_VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}


class _Builder(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root = Node("#root", {}, None)
        self.current = self.root

    def handle_starttag(self, tag, attrs):
        node = Node(tag, dict(attrs), self.current)
        self.current.children.append(node)
        if tag not in _VOID:
            self.current = node

    def handle_startendtag(self, tag, attrs):
        self.current.children.append(Node(tag, dict(attrs), self.current))

    def handle_endtag(self, tag):
        node = self.current
        while node is not None and node.tag != tag:
            node = node.parent
        if node is not None and node.parent is not None:
            self.current = node.parent

    def handle_data(self, data):
        self.current.children.append(data)


def parse(html: str) -> Node:
    builder = _Builder()
    builder.feed(html)
    builder.close()
    return builder.root


# ----------------------------------------------------------------------------------------------
# fixtures: one hostile synthetic run, one ordinary run (built once per module)


@pytest.fixture(scope="module")
def hostile_run() -> Path:
    return shared_run(hostile=True, synthetic=True)[0]


@pytest.fixture(scope="module")
def plain_run() -> Path:
    return shared_run()[0]


@pytest.fixture(scope="module")
def hostile_html(hostile_run) -> str:
    return (hostile_run / "cer.html").read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def plain_html(plain_run) -> str:
    return (plain_run / "cer.html").read_text(encoding="utf-8")


# ----------------------------------------------------------------------------------------------
# assembly


def test_assemble_writes_html_then_pdf_and_leaves_no_temporary_files(plain_run: Path) -> None:
    assert (plain_run / "cer.html").stat().st_size > 10_000
    assert (plain_run / "cer.pdf").read_bytes()[:5] == b"%PDF-"
    assert not [p.name for p in plain_run.iterdir() if p.name.endswith(".tmp")]


def test_assemble_returns_the_two_paths_and_fails_cleanly_on_a_pdf_error(tmp_path: Path, monkeypatch) -> None:
    run = make_published_run(tmp_path)

    def broken(html, target, base_dir=None):
        Path(target).write_bytes(b"%PDF-half")
        raise ReportError("renderer exploded")

    monkeypatch.setattr(assemble_module, "html_to_pdf", broken)
    with pytest.raises(ReportError, match="renderer exploded"):
        assemble_report(run)
    leftovers = {p.name for p in run.iterdir()} & {"cer.html", "cer.pdf", ".cer.html.tmp", ".cer.pdf.tmp"}
    assert leftovers == set(), "a failed assembly must leave nothing that looks finished"
    monkeypatch.setattr(assemble_module, "html_to_pdf", lambda html, target, base_dir=None: Path(target).write_bytes(b"%PDF-1.7 ok"))
    assert assemble_report(run) == [run / "cer.html", run / "cer.pdf"]
    assert (run / "cer.pdf").read_bytes() == b"%PDF-1.7 ok" and "<!DOCTYPE html>" in (run / "cer.html").read_text()
    assert not [p.name for p in run.iterdir() if p.name.endswith(".tmp")]


def test_a_run_without_the_report_notebook_is_refused(tmp_path: Path) -> None:
    run = make_published_run(tmp_path)
    (run / "05_report.ipynb").unlink()
    with pytest.raises(ReportError, match="05_report.ipynb is missing"):
        assemble_report(run)
    assert not (run / "cer.html").exists()


# ----------------------------------------------------------------------------------------------
# structure


def test_title_block_has_code_device_class_window_run_id_and_last_updated(plain_html: str, plain_run: Path) -> None:
    title = parse(plain_html).find_all("header", id="cer-title")[0]
    facts = {dt.text().strip(): dd.text().strip() for dt, dd in _pairs(title)}
    assert facts["Code"].startswith("HWC")
    assert facts["Device name"] == "Screw, Fixation, Bone"
    assert facts["Device class"] == "Class II"  # one spelling of the class (issue 12.5)
    assert facts["Data"].startswith("reports received ")  # the data's real span first, then the requested window
    assert "(requested window 2019-01-01 to 2024-06-15)" in facts["Data"]
    assert facts["Run id"] == plain_run.name
    assert facts["Data last updated"].startswith("2024-06-11")
    assert "SYNTHETIC" not in title.text()
    assert not parse(plain_html).find_all(class_="cer-synthetic-banner") and "@top-right" not in plain_html


def _pairs(node: Node):
    dts = node.find_all("dt")
    dds = node.find_all("dd")
    return list(zip(dts, dds, strict=True))


def test_synthetic_runs_carry_the_banner_on_screen_and_on_every_printed_page(hostile_html: str) -> None:
    dom = parse(hostile_html)
    banner = dom.find_all("div", class_="cer-synthetic-banner")
    assert banner and "SYNTHETIC DATA" in banner[0].text()
    assert hostile_html.index("cer-synthetic-banner") < hostile_html.index('id="cer-title"')
    print_css = "".join(n.text() for n in dom.find_all("style") if n.attrs.get("media") == "print")
    assert re.search(r"@top-right\s*\{\s*content:\s*\"SYNTHETIC DATA\"", print_css)


def test_contents_link_to_every_part_and_every_link_resolves(plain_html: str) -> None:
    dom = parse(plain_html)
    toc = dom.find_all("nav", id="contents")[0]
    hrefs = [a.attrs["href"] for a in toc.find_all("a")]
    texts = [a.text() for a in toc.find_all("a")]
    ids = {n.attrs["id"] for n in dom.iter() if n.attrs.get("id")}
    assert all(h.startswith("#") and h[1:] in ids for h in hrefs), [h for h in hrefs if h[1:] not in ids]
    for expected in ("Report", "Annex 1. Executed notebooks", "Annex 2. Provenance of tables and figures"):
        assert expected in texts
    assert sum(bool(re.match(r"1\.[1-5] 0[1-5]_", t)) for t in texts) == 5
    # every in-page link of the whole document resolves too
    dangling = [a.attrs["href"] for a in dom.find_all("a") if (a.attrs.get("href") or "").startswith("#")
                and a.attrs["href"][1:] not in ids]
    assert dangling == []


def test_ids_are_unique(hostile_html: str) -> None:
    ids = [n.attrs["id"] for n in parse(hostile_html).iter() if n.attrs.get("id")]
    assert len(ids) == len(set(ids)), sorted({i for i in ids if ids.count(i) > 1})


def test_report_comes_before_the_appendix_and_its_code_is_folded(plain_html: str) -> None:
    dom = parse(plain_html)
    report = dom.find_all("section", id="report")[0]
    appendix = dom.find_all("section", id="annex-1")[0]
    assert plain_html.index('id="report"') < plain_html.index('id="annex-1"') < plain_html.index('id="annex-2"')
    cells = report.find_all(class_="jp-CodeCell")
    assert cells, "the report part shows the 05_report cells"
    for cell in cells:
        editors = cell.find_all(class_="jp-InputArea-editor")
        assert editors and all(any(a.tag == "details" for a in e.ancestors()) for e in editors)
    assert report.find_all("details", class_="cer-code")[0].find_all("summary")[0].text().strip() == "code"
    # the report's outputs: sections, tables and figures with their stable ids
    ids = {n.attrs.get("id") for n in report.iter()}
    assert {"sec-summary", "sec-scope"} <= ids or {"sec-front"} <= ids
    assert any(str(i).startswith("tab-") for i in ids) and any(str(i).startswith("fig-") for i in ids)
    # the appendix shows code unfolded
    assert not appendix.find_all("details")
    assert appendix.find_all(class_="jp-InputArea-editor")


def test_appendix_has_the_five_executed_notebooks_in_order(plain_html: str) -> None:
    dom = parse(plain_html)
    sections = dom.find_all("section", class_="cer-notebook")
    assert [s.attrs["id"] for s in sections] == [f"annex-1-{i}" for i in range(1, 6)]
    for stage, section in zip(STAGES, sections):
        heading = section.find_all("h2")[0].text()
        assert f"{stage}.ipynb" in heading
        assert section.find_all(class_="jp-CodeCell"), stage
    # 05's outputs are not printed twice: its cells point back at the report
    refs = sections[-1].find_all("p", class_="cer-output-ref")
    assert refs and all(r.find_all("a")[0].attrs["href"].startswith("#r-c") for r in refs)
    assert "In&nbsp;[" in plain_html or "In\xa0[" in sections[0].text()


def test_provenance_table_ties_every_table_and_figure_to_queries_and_hashes(plain_html: str, plain_run: Path) -> None:
    dom = parse(plain_html)
    table = dom.find_all("table", id="provenance-items")[0]
    rows = table.find_all("tbody")[0].find_all("tr")
    page_ids = {n.attrs.get("id") for n in dom.find_all("section", id="report")[0].iter()}
    by_id = {r.find_all("td")[0].text().strip(): r for r in rows}
    figures = [f"fig-{p.stem.replace('_', '-')}" for p in (plain_run / "figures").glob("*.png")]
    for fig in figures:
        assert fig in by_id or fig.replace("-", "_") in by_id, (fig, sorted(by_id))
    exhibits_on_page = [i for i in page_ids if i and re.match(r"(tab|fig)-", str(i)) and not str(i).endswith("-data")]
    assert set(exhibits_on_page) <= set(by_id), set(exhibits_on_page) - set(by_id)
    for row in rows:
        cells = row.find_all("td")
        hashes = [c.text() for c in cells[4].find_all("code", class_="cer-sha") if re.fullmatch(r"[0-9a-f]{64}", c.text())]
        assert hashes, f"no sha256 for {cells[0].text()}"
        link = cells[0].find_all("a")
        if link:
            assert link[0].attrs["href"][1:] in page_ids
    queries = dom.find_all("table", class_="cer-queries")[0].find_all("tbody")[0].find_all("tr")
    n_requests = len((plain_run / "provenance" / "requests.jsonl").read_text().splitlines())
    assert len(queries) == n_requests
    # query links of the items point into the log
    q_ids = {r.attrs["id"] for r in queries}
    for a in table.find_all("a"):
        if a.attrs["href"].startswith("#q-"):
            assert a.attrs["href"][1:] in q_ids
    assert any(a.attrs["href"].startswith("#q-") for a in table.find_all("a"))
    inputs = dom.find_all("table", class_="cer-inputs")[0].find_all("tbody")[0].find_all("tr")
    recorded = {(json.loads(line)["path"], json.loads(line)["sha256"])
                for line in (plain_run / "provenance" / "inputs.jsonl").read_text().splitlines() if line.strip()}
    assert len(inputs) == len(recorded) and all(len(r.find_all("td")) == 4 for r in inputs)


def test_reproduce_section_is_added_only_when_the_report_lacks_one(plain_html: str, tmp_path: Path) -> None:
    reported = "tab-reproduce" in plain_html or re.search(r"how\s+to\s+reproduce", plain_html.split('id="annex-1"')[0], re.I)
    if reported:
        assert 'id="annex-3"' not in plain_html
    run = make_published_run(tmp_path)
    nb = nbformat.read(run / "05_report.ipynb", as_version=4)
    nb.cells = [c for c in nb.cells if c.cell_type == "markdown" or "show_section" not in c.source]
    nbformat.write(nb, run / "05_report.ipynb")
    html = render_cer_html(run)
    section = parse(html).find_all("section", id="annex-3")[0]
    assert "git checkout 0123456789abcdef0123456789abcdef01234567" in section.text()
    assert "--params outputs/HWC/" in section.text()


def test_page_is_self_contained(hostile_html: str, plain_html: str) -> None:
    for html in (hostile_html, plain_html):
        assert audit_html(html) == []
        dom = parse(html)
        assert not dom.find_all("script") and not dom.find_all("link") and not dom.find_all("iframe")
        for img in dom.find_all("img"):  # embedded, or (a hostile src=x) no source at all
            assert img.attrs.get("src", "data:image/").startswith("data:image/"), img.attrs.get("src", "")[:60]
        assert len([i for i in dom.find_all("img") if i.attrs.get("src")]) >= 3
        for node in dom.iter():
            for name, value in node.attrs.items():
                if name in ("src", "srcset", "poster", "data", "background") and value:
                    assert not re.match(r"\s*(https?:)?//", value)
                if node.tag == "a" and name == "href" and value and re.match(r"https?://", value):
                    continue  # plain hyperlinks are allowed
        css = "".join(n.text() for n in dom.find_all("style"))
        assert not re.search(r"url\(\s*['\"]?(https?:)?//|@import|@font-face", css)
        assert "require.js" not in html and "mathjax" not in html.lower()


def test_hostile_text_is_shown_as_text_and_never_as_markup(hostile_html: str) -> None:
    dom = parse(hostile_html)
    assert not dom.find_all("script") and not dom.find_all("iframe")
    for node in dom.iter():
        for name, value in node.attrs.items():
            assert not name.startswith("on"), (node.tag, name)
            assert "javascript:" not in (value or "").replace(" ", "").lower(), (node.tag, name, value)
    text = dom.text()
    # the payload is visible, literally, as it was written
    assert "<script>window.__cer_pwned = 1; document.title = 'PWNED';</script>" in text
    assert "<img src=x onerror=" in text
    assert "{{ 7*7 }}" in text  # template syntax in data is not evaluated
    # the unescaped copy (a content-layer regression) lost its active parts but kept its words
    report = dom.find_all("section", id="report")[0]
    assert "PATIENT REPORTED PAIN." in report.text() and "END OF NARRATIVE." in report.text()
    # </table>, </section> in data cannot close the page's own elements
    assert dom.find_all("section", id="annex-2") and dom.find_all("table", id="provenance-items")
    ids = [s.attrs.get("id") for s in dom.find_all("section") if re.fullmatch(r"annex-\d", s.attrs.get("id") or "")]
    assert ids[:2] == ["annex-1", "annex-2"]


# ----------------------------------------------------------------------------------------------
# the sanitiser on its own


@pytest.mark.parametrize("payload", [
    "<script>alert(1)</script>",
    "<SCRIPT SRC=//evil.example/x.js></SCRIPT>",
    "<img src=x onerror=alert(1)>",
    "<img src=\"jav&#x09;ascript:alert(1)\">",
    "<a href=\"  JaVaScRiPt:alert(1)\">x</a>",
    "<a href=\"java\nscript:alert(1)\">x</a>",
    "<svg><script>alert(1)</script></svg>",
    "<svg onload=alert(1)><a xlink:href=\"javascript:alert(1)\"><text>t</text></a></svg>",
    "<svg><animate attributeName=href values=\"javascript:alert(1)\"/></svg>",
    "<iframe src=\"data:text/html,<script>alert(1)</script>\"></iframe>",
    "<object data=\"x.swf\"></object><embed src=x.swf>",
    "<math><mtext><table><mglyph><style><img src=x onerror=alert(1)></style></mglyph></table></mtext></math>",
    "<svg><style><img src=x onerror=alert(1)></style></svg>",
    "<style>@import 'https://evil.example/x.css';</style>",
    "<div style=\"background:url(https://evil.example/x.png)\">x</div>",
    "<noscript><p title=\"</noscript><img src=x onerror=alert(1)>\"></noscript>",
    "<base href=\"https://evil.example/\"><link rel=stylesheet href=https://evil.example/x.css>",
    "<meta http-equiv=refresh content=\"0;url=javascript:alert(1)\">",
    "<form action=javascript:alert(1)><button formaction=javascript:alert(1)>b</button></form>",
    "<!--<script>alert(1)</script>-->",
    "<img src=x onerror=alert(1)",
    "<scr<script>ipt>alert(1)</script>",
    "<a href=//evil.example>x</a><img src=https://evil.example/t.png>",
    "<template><script>alert(1)</script></template>",
    "<div><p>unclosed <b>tags</div></section></table>",
])
def test_sanitiser_removes_active_content(payload: str) -> None:
    clean = sanitize_html(payload)
    assert audit_html(clean) == [], clean
    lowered = clean.lower()
    assert "<script" not in lowered and "<iframe" not in lowered and "<object" not in lowered and "<embed" not in lowered
    assert not re.search(r"<[^>]+\son[a-z]+\s*=", lowered), clean
    assert not re.search(r"(src|href)\s*=\s*\"\s*(https?:)?//", lowered), clean
    assert "url(" not in lowered and "@import" not in lowered
    # idempotent: sanitising the result changes nothing
    assert sanitize_html(clean) == clean


def test_sanitiser_keeps_tables_figures_ids_and_text() -> None:
    html = ('<figure id="fig-x" class="cer-exhibit"><img src="data:image/png;base64,AAAA" alt="a &amp; b">'
            '<figcaption>Fig &lt;1&gt;</figcaption></figure>'
            '<table id="tab-x" class="cer-table"><thead><tr><th>a</th></tr></thead><tbody><tr><td>1 &lt; 2</td></tr></tbody></table>'
            '<a href="https://www.fda.gov/x">FDA</a> <a href="#tab-x">table</a>'
            '<svg viewBox="0 0 10 10"><rect width="10" height="10"/></svg><style>.a { color: red; }</style>')
    clean = sanitize_html(html)
    for kept in ('id="fig-x"', 'id="tab-x"', "data:image/png;base64,AAAA", "Fig &lt;1&gt;", "1 &lt; 2",
                 'href="https://www.fda.gov/x"', 'href="#tab-x"', "<rect", "<style>.a { color: red; }</style>"):
        assert kept in clean, kept


def test_sanitiser_closes_what_a_fragment_leaves_open_and_ignores_stray_closers() -> None:
    clean = sanitize_html("<div><table><tr><td>x")
    # parsed as a browser parses HTML5 (nh3): the row group a browser inserts is written out
    assert clean == "<div><table><tbody><tr><td>x</td></tr></tbody></table></div>"
    assert sanitize_html("</div></section>text</table>") == "text"


def test_relative_images_are_embedded_only_from_inside_the_run(tmp_path: Path) -> None:
    (tmp_path / "figures").mkdir()
    (tmp_path / "figures" / "a.png").write_bytes(b"\x89PNG\r\n\x1a\nfake")
    (tmp_path.parent / "secret.png").write_bytes(b"\x89PNG\r\n\x1a\nsecret")
    html = sanitize_html('<img src="figures/a.png"><img src="../secret.png"><img src="missing.png">', base_dir=tmp_path)
    imgs = re.findall(r"<img[^>]*>", html)
    assert imgs[0].startswith('<img src="data:image/png;base64,')
    assert "src=" not in imgs[1] and "src=" not in imgs[2]


def test_duplicate_ids_are_renamed_and_local_links_follow() -> None:
    used: set[str] = {"fig-a"}
    result = sanitize_fragment('<h2 id="fig-a">Title <a class="anchor-link" href="#fig-a">¶</a></h2><p>x</p>',
                               used_ids=used, id_prefix="a3-", heading_shift=2, collect_headings=True)
    assert '<h4 id="a3-fig-a">' in result.html and 'href="#a3-fig-a"' in result.html
    assert [(h.level, h.id, h.text) for h in result.headings] == [(4, "a3-fig-a", "Title")]


def test_the_payload_constant_is_really_hostile() -> None:
    # guards the fixtures: if the payload lost its teeth the hostile tests would prove nothing
    assert "<script>" in HOSTILE_NARRATIVE and "onerror" in HOSTILE_NARRATIVE
    assert audit_html(HOSTILE_NARRATIVE)


# ----------------------------------------------------------------------------------------------
# the project's own 04/05 notebooks, executed as the runner does


@pytest.mark.slow
def test_the_real_report_notebooks_assemble(synthetic_demo_run: Path) -> None:
    """The session's synthetic demo run: 04 and 05 executed by papermill as the runner does, then assembled."""
    html_path, pdf_path = synthetic_demo_run / "cer.html", synthetic_demo_run / "cer.pdf"
    html = html_path.read_text(encoding="utf-8")
    assert audit_html(html) == []
    dom = parse(html)
    report = dom.find_all("section", id="report")[0]
    ids = {n.attrs.get("id") for n in report.iter()}
    assert any(str(i).startswith("sec-") for i in ids) and any(str(i).startswith("tab-") for i in ids)
    assert "Derived from" not in dom.find_all("section", id="annex-2")[0].text()  # document.py's items
    assert pdf_path.read_bytes()[:5] == b"%PDF-"
