"""The displayed report (stage 05): structure, placeholders, tables, banners, escaping, provenance, notebooks."""
from __future__ import annotations

import base64
import html
import json
import re
from html.parser import HTMLParser
from pathlib import Path

import nbformat
import pytest

import cer_lib
from cer_lib.report.document import (
    REPORT_CSS,
    exhibit_ids,
    provenance_items,
    report_html,
    report_sections,
    section_html,
    show_section,
)
from cer_lib.report.narrative import narrate
from cer_lib.report.meddev import MEDDEV_A9, PLACEHOLDERS
from cer_lib.settings import PROJECT_ROOT

from report_fixtures import CODE, COMPARATORS, HOSTILE_STRINGS, make_run_folder

MEDDEV_ORDER = ["1", "2", "3", "4", "4.1", "4.2", "4.3", "4.4", "4.5", "4.6", "5", "6", "7", "8", "9"]
MEDDEV_TITLES = {
    "1": "summary", "2": "scope", "3": "state of the art", "4": "device under evaluation", "4.1": "type of evaluation",
    "4.2": "equivalence", "4.3": "manufacturer", "4.4": "literature", "4.5": "appraisal", "4.6": "analysis",
    "5": "conclusions", "6": "next", "7": "signatures", "8": "qualification", "9": "references",
}


def _ready(run: Path):
    ctx = cer_lib.open_run(run)
    narrate(ctx)
    return ctx


@pytest.fixture(scope="module")
def ctx(tmp_path_factory):
    return _ready(make_run_folder(tmp_path_factory.mktemp("doc")))


@pytest.fixture(scope="module")
def hostile_ctx(tmp_path_factory):
    return _ready(make_run_folder(tmp_path_factory.mktemp("hostile"), hostile=True, synthetic=True,
                                  unavailable={"device_pma": "HTTP 500 <script>alert(1)</script>"}))


def _section(markup: str, number: str) -> str:
    """The <section> element of one section number (without its subsections' elements)."""
    match = re.search(rf'<section class="cer-section[^"]*" id="[^"]+" data-section="{re.escape(number)}">(.*?)</section>',
                      markup, re.S)
    assert match, f"section {number} not found"
    return match.group(1)


# ----------------------------------------------------------------------------------------------
# structure


def test_every_meddev_section_present_in_order(ctx):
    blocks = list(report_sections(ctx))
    assert blocks[0].key == "front"
    numbers = [b.number for b in blocks[1:]]
    # besides MEDDEV's: 1.1 (changes since the previous report) and appendices A (reproduce) and B (feedback)
    assert numbers == MEDDEV_ORDER[:1] + ["1.1"] + MEDDEV_ORDER[1:] + ["A", "B"]
    for block in blocks[1:]:
        if block.number in MEDDEV_TITLES:
            assert MEDDEV_TITLES[block.number] in block.title.lower(), (block.number, block.title)
    whole = report_html(ctx)
    positions = [whole.index(f'data-section="{n}"') for n in MEDDEV_ORDER + ["A", "B"]]
    assert positions == sorted(positions)


def test_scope_and_analysis_cover_the_required_items(ctx):
    scope = section_html(ctx, "2")
    for item in ("Legal manufacturer", "Models", "Device description", "Intended purpose", "indications",
                 "Clinical claims", "Market history", "Changes since"):
        assert item in scope, item
    analysis = section_html(ctx, "4.6")
    for heading in ("4.6.1 Safety", "Trend", "Change points", "Forecast", "Problem profiles", "Disproportionality",
                    "Recalls and enforcement", "4.6.2 Benefit-risk", "4.6.3 Performance", "4.6.4 Undesirable side-effects"):
        assert heading in analysis, heading


def test_show_section_takes_top_level_numbers_with_subsections(ctx, capsys):
    four = section_html(ctx, "4")
    for n in ("4", "4.1", "4.2", "4.3", "4.4", "4.5", "4.6"):
        assert f'data-section="{n}"' in four
    assert 'data-section="5"' not in four
    show_section(ctx, "4")
    show_section(ctx, "front")
    with pytest.raises(KeyError):
        section_html(ctx, "12")


# ----------------------------------------------------------------------------------------------
# placeholders


REQUIRED_PLACEHOLDERS = {  # what public data cannot fill -> the placeholder that asks for it
    "sales and exposure": "sales-exposure", "population": "sales-exposure", "complaints": "complaints",
    "CAPA": "capa", "PMCF": "pmcf", "risk file": "risk-file", "IFU claims": "claims",
    "signatures": "signatures", "evaluator CVs": "evaluator-cvs", "EU incidents": "eu-incidents",
    "state of the art": "state-of-the-art", "literature": "literature-search", "benefit-risk": "benefit-risk-conclusion",
    "residual risks": "residual-risks", "next evaluation": "next-evaluation-date",
    "equivalence demonstration": "equivalence-demonstration",
}


def test_placeholders_are_boxed_in_their_sections(ctx):
    whole = report_html(ctx)
    assert ".cer-placeholder" in REPORT_CSS and "dashed" in REPORT_CSS
    for item, pid in REQUIRED_PLACEHOLDERS.items():
        assert pid in PLACEHOLDERS, item
    for pid, p in PLACEHOLDERS.items():
        block = _section(whole, p.section)
        match = re.search(rf'<div class="cer-placeholder" data-placeholder="{pid}">(.*?)</div>', block, re.S)
        assert match, f"placeholder {pid} not boxed in section {p.section}"
        assert "To be completed by the manufacturer" in match.group(1)
    for number in ("4.3", "4.4", "6", "7", "8"):
        assert "cer-placeholder-section" in re.search(rf'<section class="([^"]+)"[^>]*data-section="{re.escape(number)}"',
                                                      whole).group(1)


# ----------------------------------------------------------------------------------------------
# tables


def test_equivalence_candidates_are_worded_as_candidates(ctx):
    block = section_html(ctx, "4.2")
    text = html.unescape(re.sub(r"<[^>]+>", " ", block))
    assert "equivalence candidates only" in text
    assert "not a demonstration of equivalence" in text
    table = re.search(r'id="tab-submissions-data".*?</table>', block, re.S).group(0)
    for number in ("K171234", "K193456", "K201111", "K223344", "K230987"):
        assert number in table
    assert table.count("equivalence candidate only") == 5
    assert "not published by openFDA" in table
    for claim in ("is equivalent to", "equivalence is demonstrated", "demonstrates equivalence"):
        assert claim not in text.lower()


def test_recalls_of_device_and_comparators_are_tabulated(ctx):
    block = section_html(ctx, "4.6")
    device = re.search(r'id="tab-recalls-device-data".*?</table>', block, re.S).group(0)
    comparators = re.search(r'id="tab-recalls-comparators-data".*?</table>', block, re.S).group(0)
    assert device.count("<tr>") == 3 and "BONEWORKS LTD" in device  # body rows (the header row has a style)
    for code, _, _ in COMPARATORS:
        assert f"<td>{code}</td>" in comparators
    assert "Head may separate from shaft." in comparators and "PINCO MEDICAL" in comparators
    enforcement = re.search(r'id="tab-enforcement-comparators-data".*?</table>', block, re.S).group(0)
    assert "Class I" in enforcement and "THREADS SURGICAL" in enforcement


def test_required_tables_present_with_source_notes(ctx):
    whole = report_html(ctx)
    for exhibit in exhibit_ids(ctx):
        assert whole.count(f'id="{exhibit}"') == 1, exhibit
        start = whole.index(f'id="{exhibit}"')
        tail = whole[start:start + 200000]
        assert '<p class="cer-source">Source: ' in tail, exhibit
    recalls = whole[whole.index('id="tab-recalls-device"'):]
    source = re.search(r'<p class="cer-source">Source: (.*?)</p>', recalls).group(1)
    assert "/device/recall.json" in source and "search product_code:" in html.unescape(source)
    assert "data last updated 2024-06-11" in source and "scope = device" in source
    for required in ("tab-device", "tab-sources", "tab-maude-counts", "tab-trend", "tab-change-points", "tab-forecast",
                     "tab-problems-device", "tab-signals", "tab-recalls-device", "tab-recalls-comparators",
                     "tab-enforcement-device", "tab-submissions", "tab-products", "tab-case-sample", "tab-reproduce",
                     "tab-requests", "fig-monthly-counts"):
        assert required in exhibit_ids(ctx)


def test_signals_table_shows_cells_and_definitions(ctx):
    block = section_html(ctx, "4.6")
    table = re.search(r'id="tab-signals-data".*?</table>', block, re.S).group(0)
    for header in ("<th>a</th>", "<th>b</th>", "<th>c</th>", "<th>d</th>", "<th>E</th>", "PRR (95% CI)", "ROR (95% CI)",
                   "IC (IC025)", "EBGM (EB05 to EB95)"):
        assert header in table, header
    definitions = re.search(r'<dl class="cer-definitions">.*?</dl>', block, re.S).group(0)
    for term in ("reports of this device coding the term", "(a+b)(a+c)/N", "Woolf", "log2((a+0.5)/(E+0.5))", "EB05"):
        assert html.escape(term, quote=True) in definitions or term in definitions, term


def test_case_narratives_truncated_with_full_text_available(ctx):
    block = section_html(ctx, "4.6")
    table = re.search(r'id="tab-case-sample-data".*?</table>', block, re.S).group(0)
    assert "\u2026</p><details" in table and "Full text (" in table
    full = re.search(r"<details.*?<p>(.*?)</p></details>", table, re.S).group(1)
    assert len(html.unescape(full)) > 1000


def test_figures_embedded_or_linked(ctx):
    block = section_html(ctx, "4.6")
    sources = re.findall(r'<img class="cer-figure" src="([^"]+)"', block)
    assert len(sources) == 6
    for src in sources:
        assert src.startswith("data:image/png;base64,")
        assert base64.b64decode(src.split(",", 1)[1])[:8] == b"\x89PNG\r\n\x1a\n"
    linked = section_html(ctx, "4.6", embed_figures=False)
    assert sorted(re.findall(r'<img class="cer-figure" src="([^"]+)"', linked))[0].startswith("figures/")


def test_reproduce_appendix(ctx, tmp_path):
    block = section_html(ctx, "A")
    run = json.loads((ctx.run_dir / "run.json").read_text())
    assert run["code_version"]["git_commit"] in block and run["code_version"]["lock_sha256"] in block
    for command in run["reproduce"]:
        assert html.escape(command) in block
    assert html.escape((ctx.run_dir / "parameters.yaml").read_text()) in block
    assert "https://api.fda.gov/device/recall.json" in block and "<th>sha256</th>" in block


def test_request_urls_never_show_a_key(tmp_path):
    run = make_run_folder(tmp_path)
    with open(run / "provenance" / "requests.jsonl", "a") as handle:
        handle.write(json.dumps({"source": "device_event", "url": "https://api.fda.gov/device/event.json?api_key=SECRET123&limit=1",
                                 "time": "2024-06-15T12:00:00Z", "status": 200, "bytes": 1, "sha256": "0" * 64}) + "\n")
    ctx = _ready(run)
    assert "SECRET123" not in report_html(ctx)
    assert "SECRET123" not in json.dumps(provenance_items(ctx))


# ----------------------------------------------------------------------------------------------
# banners and missing sources


def test_synthetic_banner(hostile_ctx, ctx):
    front = section_html(hostile_ctx, "front")
    assert 'class="cer-banner cer-synthetic" role="alert"' in front and "SYNTHETIC DATA" in front
    for block in list(report_sections(hostile_ctx))[1:]:
        assert "SYNTHETIC DATA" in block.html or "Synthetic data" in block.html, block.number
    assert "ynthetic" not in report_html(ctx).replace(".cer-synthetic", "")


def test_offline_runs_say_so(tmp_path, ctx):
    """http.offline uses only cached responses; the report says so on its first page."""
    assert "Offline run" not in section_html(ctx, "front")
    run = make_run_folder(tmp_path)
    status_path = run / "collected" / "status.json"
    status_path.write_text(json.dumps({**json.loads(status_path.read_text()), "offline": True}))
    assert "<b>Offline run.</b> Only cached responses were used" in section_html(_ready(run), "front")


@pytest.mark.parametrize("source, number, label", [
    ("device_recall", "4.6", "openFDA device recalls"),
    ("device_enforcement", "4.6", "openFDA device enforcement reports"),
    ("device_event", "4.6", "openFDA device adverse events (MAUDE)"),
    ("device_510k", "4.2", "openFDA 510(k) clearances"),
    ("device_udi", "2", "openFDA GUDID (UDI)"),
    ("eudamed", "4.3", "EUDAMED public device data"),
])
def test_unavailable_source_is_explained(tmp_path, source, number, label):
    reason = "HTTP 503 after 5 retries"
    ctx = _ready(make_run_folder(tmp_path, unavailable={source: reason}))
    block = section_html(ctx, number)
    text = html.unescape(re.sub(r"<[^>]+>", " ", block))
    assert label in text and "unavailable" in text and reason in text
    sources = section_html(ctx, "4.5")
    assert html.escape(reason) in sources
    assert label in html.unescape(section_html(ctx, "front"))


def test_eu_vigilance_not_public_is_stated(ctx):
    text = html.unescape(re.sub(r"<[^>]+>", " ", report_html(ctx)))
    assert "EU vigilance data are not public" in text


# ----------------------------------------------------------------------------------------------
# escaping


class _Audit(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.problems: list[str] = []
        self.depth: dict[str, int] = {}

    def handle_starttag(self, tag, attrs):
        self.depth[tag] = self.depth.get(tag, 0) + 1
        if tag in ("script", "iframe", "object", "embed", "form", "input", "base", "meta", "link"):
            self.problems.append(f"<{tag}>")
        if tag == "a" and not all((n == "href" and (v or "").startswith(("#sec-", "#tab-", "#fig-")))
                                  or (n, v) == ("class", "cer-xref") for n, v in attrs):
            self.problems.append(f"<a {attrs}>")  # only links inside the report: contents and cross-references
        for name, value in attrs:
            if name.startswith("on"):
                self.problems.append(f"{tag} {name}=")
            if name in ("href", "src") and value and not (value.startswith("data:image/png;base64,")
                                                         or value.startswith("figures/") or value.startswith(("#sec-", "#tab-", "#fig-"))):
                self.problems.append(f"{tag} {name}={value[:40]}")

    def handle_endtag(self, tag):
        self.depth[tag] = self.depth.get(tag, 0) - 1


def _audit(markup: str) -> list[str]:
    audit = _Audit()
    audit.feed(markup)
    audit.close()
    unbalanced = [f"{t}:{n}" for t, n in audit.depth.items() if n and t in ("table", "div", "section", "details", "tr", "td")]
    return audit.problems + unbalanced


def test_hostile_text_is_escaped_in_every_displayed_block(hostile_ctx):
    blocks = list(report_sections(hostile_ctx))
    for block in blocks:
        assert not _audit(block.html), (block.number, _audit(block.html))
        assert "<script>alert(1)</script>" not in block.html
        assert "<img src=x" not in block.html
    for key in ("front", "1", "2", "3", "4", "5", "6", "7", "8", "9", "A"):
        assert not _audit(section_html(hostile_ctx, key)), key
    whole = report_html(hostile_ctx)
    assert not _audit(whole)
    assert whole.count("<table") == whole.count("</table>")
    case_table = re.search(r'id="tab-case-sample-data".*?</table>', whole, re.S).group(0)
    assert "{{ 7*7 }}" in case_table and "&lt;script&gt;alert(1)&lt;/script&gt;" in case_table
    recalls = re.search(r'id="tab-recalls-device-data".*?</table>', whole, re.S).group(0)
    assert "&lt;/table&gt;" in recalls
    for payload in HOSTILE_STRINGS[:2]:
        assert html.escape(payload, quote=False) in whole or html.escape(payload) in whole


# ----------------------------------------------------------------------------------------------
# provenance


def test_provenance_items_need_no_narrative(tmp_path):
    run = make_run_folder(tmp_path)
    items = provenance_items(cer_lib.open_run(run))
    assert {i["id"] for i in items} >= {"tab-recalls-device", "fig-monthly-counts"}


def test_provenance_items(ctx):
    items = provenance_items(ctx)
    ids = [i["id"] for i in items]
    assert ids == exhibit_ids(ctx) and len(set(ids)) == len(ids)
    json.dumps(items)
    for item in items:
        assert item["kind"] in ("table", "figure") and item["title"] and item["sources"]
        for inp in item["inputs"]:
            assert inp["path"] and inp["sha256"] and re.fullmatch(r"[0-9a-f]{64}", inp["sha256"]), item["id"]
    recalls = next(i for i in items if i["id"] == "tab-recalls-comparators")
    assert any("scope = comparator" in s for s in recalls["sources"])
    assert any(s.startswith("GET https://api.fda.gov/device/recall.json") for s in recalls["sources"])
    assert any('search product_code:("HWC"+OR+"HTY"' in s for s in recalls["sources"])  # the query 01_collect ran
    figures = [i for i in items if i["kind"] == "figure"]
    assert figures and all(any(p["path"].endswith(".png") for p in i["inputs"]) for i in figures)


# ----------------------------------------------------------------------------------------------
# notebooks


def _cells(name: str):
    return nbformat.read(PROJECT_ROOT / "notebooks" / name, as_version=4)



def test_report_notebook_shows_one_cell_per_top_level_section_first():
    calls = [c.source for c in _cells("05_report.ipynb").cells if c.source.startswith("show_section(")]
    assert calls == [f'show_section(ctx, "{n}")' for n in ["front", "1", "2", "3", "4", "5", "6", "7", "8", "9", "A", "B"]]
    assert calls[1:] == [f'show_section(ctx, "{s.number}")' for s in MEDDEV_A9.top_level()]  # every top-level section


@pytest.mark.slow
def test_notebooks_execute_with_papermill(tmp_path):
    import papermill
    run = make_run_folder(tmp_path, hostile=True, synthetic=True)
    for stage in ("04_narrate", "05_report"):
        papermill.execute_notebook(
            str(PROJECT_ROOT / "notebooks" / f"{stage}.ipynb"), str(run / f"{stage}.ipynb"),
            parameters={"code": CODE, "kind": "product_code", "data_from": "mirror", "run_dir": "."},
            kernel_name="cer-notebooks", cwd=str(run), progress_bar=False,
        )
    assert (run / "results" / "narrative.json").is_file()
    executed = nbformat.read(run / "05_report.ipynb", as_version=4)
    shown = [o for c in executed.cells if c.source.startswith("show_section(") for o in c.outputs]
    assert len(shown) == 12 and all("text/html" in o.data for o in shown)
    for output in shown:
        assert "<script>alert(1)</script>" not in output.data["text/html"]
