"""The narrative (stage 04): numbers only from facts, wording rules, caveats once, escaping, strictness."""
from __future__ import annotations

import html
import json
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest
from jinja2 import DictLoader
from jinja2.exceptions import UndefinedError

import cer_lib
from cer_lib.report.facts import NOT_AVAILABLE, build_facts, format_value
from cer_lib.report.narrative import (
    CAVEATS,
    FORBIDDEN_WORDING,
    NAMED_TERMS,
    NarrativeError,
    environment,
    escape_markdown,
    load_narrative,
    markdown_to_html,
    narrate,
    render_narrative,
    render_template,
    wording_violations,
)
from cer_lib.report.meddev import MEDDEV_A9, SECTIONS
from cer_lib.runfolder.layout import NARRATIVE

from report_fixtures import HOSTILE, HOSTILE_STRINGS, make_run_folder

TEMPLATES = Path(cer_lib.__file__).parent / "report" / "templates" / "narrative"

# numbers as prose writes them: ISO dates, thousands separators, decimals, percentages, section numbers
NUMBER = re.compile(r"\d{4}-\d{2}-\d{2}|\d{1,3}(?:,\d{3})+(?:\.\d+)?%?|\d+(?:\.\d+)*%?")
LABEL = re.compile(r"\bLimitation L\d+\b")
SECTION_REF = re.compile(r"(?:\bsection |^#+ )(\d+(?:\.\d+)*)\b", re.MULTILINE)


def _degrade(run: Path) -> Path:
    """Every analysis 'not possible': nulls, empty lists, warnings (exercises the other template branches)."""
    path = run / "results" / "analysis.json"
    a = json.loads(path.read_text())
    a["trend"].update(status="insufficient data", reason="fewer than 24 complete months", rate_ratio_per_year=None,
                      ci_low=None, ci_high=None, p_value=None, dispersion=None)
    a["trend"]["verdict"].update(verdict="insufficient data", rate_ratio=None, ci_low=None, ci_high=None, p_value=None)
    a["trend"]["control_chart"]["signals"] = []
    a["trend"]["cusum"]["first_alarm"] = None
    a["change_points"] = []
    a["forecast"].update(status="warning", warning="only 14 complete months; at least 24 are needed", rows=[], mase=None)
    a["problems"]["changes"] = []
    a["signals"].update(status="not possible", reason="no comparator reports", rows=[])
    path.write_text(json.dumps(a))
    return run


VARIANTS = {
    "plain": dict(),
    "hostile": dict(hostile=True),
    "synthetic": dict(synthetic=True),
    "recall-unavailable": dict(unavailable={"device_recall": "HTTP 503 after 5 retries"}),
    "many-unavailable": dict(hostile=True, synthetic=True, unavailable={
        "device_event": "timeout", "device_recall": "HTTP 503", "device_enforcement": "HTTP 500",
        "device_510k": "refused", "device_pma": "refused", "device_udi": "DNS", "device_registrationlisting": "DNS",
        "eudamed": "HTTP 403"}),
}


@pytest.fixture(scope="module", params=[*VARIANTS, "degraded"])
def narrative(request, tmp_path_factory):
    name = request.param
    run = make_run_folder(tmp_path_factory.mktemp(name), **VARIANTS.get(name, {"hostile": True}))
    if name == "degraded":
        _degrade(run)
    return render_narrative(build_facts(run))


@pytest.fixture(scope="module")
def hostile_run(tmp_path_factory) -> Path:
    run = make_run_folder(tmp_path_factory.mktemp("hostile-run"), hostile=True)
    narrate(cer_lib.open_run(run))
    return run


# ----------------------------------------------------------------------------------------------
# numbers


def _without_names(text: str) -> str:
    """``text`` without limitation labels (L1) and the named terms that hold digits (EB05, 510(k))."""
    text = LABEL.sub(" ", text)
    for term in NAMED_TERMS:
        text = re.sub(r"(?<![\w.])" + re.escape(term) + r"(?![\w])", " ", text)
    return text


def _prose(markdown: str) -> str:
    return _without_names(html.unescape(markdown))


def _remove(text: str, item: str) -> str:
    """Remove whole occurrences of ``item`` (not inside a longer number or word)."""
    return re.sub(r"(?<![\w.,])" + re.escape(item) + r"(?![\w]|[.,]\d)", " ", text)


def test_every_number_in_the_prose_is_a_fact_or_a_section_number(narrative):
    sections = MEDDEV_A9.section_numbers()
    for s in narrative.sections:
        used_texts = [narrative.facts[name].text for name in s.facts_used]
        allowed = {tok for text in used_texts for tok in NUMBER.findall(text)} | sections
        stray = [tok for tok in NUMBER.findall(_prose(s.markdown)) if tok not in allowed]
        assert not stray, f"section {s.number}: numbers not from its facts: {stray}"


def test_no_digit_remains_once_facts_and_section_numbers_are_removed(narrative):
    """Stricter than the token check: a number may appear only as part of a whole fact text."""
    for s in narrative.sections:
        text = html.unescape(s.markdown)
        for fact_text in sorted({narrative.facts[n].text for n in s.facts_used}, key=len, reverse=True):
            text = _remove(text, fact_text)
        text = SECTION_REF.sub(" ", _without_names(text))
        leftover = re.findall(r".{0,30}\d.{0,30}", text)
        assert not leftover, f"section {s.number}: typed numbers: {leftover}"


def test_facts_used_exist_and_have_sources(narrative):
    for s in narrative.sections:
        for name in s.facts_used:
            fact = narrative.facts[name]
            assert fact.source, name
    for name, fact in narrative.facts.items():
        assert fact.source and fact.text, name
        assert fact.text == re.sub(r"\s+", " ", fact.text).strip(), name


def test_number_formats():
    assert format_value(12345, "count") == (12345, "12,345")
    assert format_value(1.23456, "ratio") == (1.23456, "1.23")
    assert format_value(-0.25, "decimal")[1] == "\u22120.25"
    assert format_value(0.0004, "p_value")[1] == "< 0.001"
    assert format_value(0.0123, "p_value")[1] == "0.012"
    assert format_value(0.1234, "share")[1] == "12.3%"
    assert format_value("2024-05-01", "month")[1] == "May 2024"
    assert format_value("20240501", "date")[1] == "2024-05-01"
    assert format_value(float("nan"), "ratio") == (None, NOT_AVAILABLE)
    assert format_value(None, "count") == (None, NOT_AVAILABLE)


def test_templates_type_no_numbers():
    """Outside Jinja tags a template holds no digit: every number is printed from a fact."""
    templates = sorted(TEMPLATES.glob("*.md.j2"))
    assert {t.name for t in templates} >= {s.template for s in SECTIONS}
    for path in templates:
        text = _without_names(re.sub(r"\{\{.*?\}\}|\{%.*?%\}|\{#.*?#\}", " ", path.read_text(), flags=re.S))
        typed = re.findall(r".{0,20}\d.{0,20}", text)
        assert not typed, f"{path.name}: digits typed in the template: {typed}"


def test_a_template_cannot_print_a_raw_number(tmp_path):
    facts = build_facts(make_run_folder(tmp_path))
    env = environment(DictLoader({
        "int.md.j2": "There were {{ 42 }} reports.",
        "value.md.j2": "There were {{ f.reports_total.value }} reports.",
        "text.md.j2": "There were {{ f.reports_total.text }} reports.",
        "ok.md.j2": "There were {{ count(f.reports_total, 'report') }}.",
    }))
    for name in ("int.md.j2", "value.md.j2", "text.md.j2"):
        with pytest.raises(NarrativeError):
            render_template(name, facts, env=env)
    markdown, used, _ = render_template("ok.md.j2", facts, env=env)
    assert used == ["reports_total"] and facts["reports_total"].text in markdown


# ----------------------------------------------------------------------------------------------
# strictness


def test_undefined_names_fail(tmp_path):
    facts = build_facts(make_run_folder(tmp_path))
    env = environment(DictLoader({
        "fact.md.j2": "{{ f.no_such_fact }}",
        "test.md.j2": "{% if f.no_such_fact.available %}x{% endif %}",
        "name.md.j2": "{{ no_such_variable }}",
        "group.md.j2": "{% for cp in f.group('change_point') %}{{ cp.no_such_field }}{% endfor %}",
    }))
    for name in ("fact.md.j2", "test.md.j2", "name.md.j2", "group.md.j2"):
        with pytest.raises(UndefinedError):
            render_template(name, facts, env=env)


def test_unknown_helpers_arguments_fail(tmp_path):
    facts = build_facts(make_run_folder(tmp_path))
    env = environment(DictLoader({
        "p.md.j2": "{{ placeholder('no-such-item') }}",
        "c.md.j2": "{{ caveat('no-such-caveat') }}",
        "r.md.j2": "{{ ref('12.7') }}",
        "s.md.j2": "{{ caveat('synthetic') }}",  # only for synthetic data
    }))
    for name in ("p.md.j2", "c.md.j2", "r.md.j2", "s.md.j2"):
        with pytest.raises(NarrativeError):
            render_template(name, facts, env=env)


def test_every_fact_name_exists_whatever_the_run(tmp_path):
    full = build_facts(make_run_folder(tmp_path / "a"))
    degraded = build_facts(_degrade(make_run_folder(tmp_path / "b", unavailable={"device_recall": "x", "eudamed": "y"})))
    singles = {n for n in full if n.count(".") == 0 or n.startswith(("source.", "cite."))}
    assert singles <= set(degraded)


def test_unusable_source_gives_not_available_not_zero(tmp_path):
    facts = build_facts(make_run_folder(tmp_path, unavailable={"device_recall": "HTTP 503"}))
    assert facts["n_recalls_device"].value is None
    assert facts["n_recalls_device"].text == NOT_AVAILABLE
    assert facts["n_enforcement_device"].value == 2


def test_every_list_item_starts_a_line(narrative):
    """A template's block tag can swallow a line break and glue one bullet to the previous one."""
    for section in narrative.sections:
        glued = re.findall(r"[^\n]- \*\*[^*]+\*\*", section.markdown)
        assert not glued, (section.number, glued)


def test_truncated_term_counts_are_said_in_the_report(tmp_path):
    run = make_run_folder(tmp_path)
    analysis_path = run / "results" / "analysis.json"
    text = lambda: " ".join(s.markdown for s in render_narrative(build_facts(run)).sections)
    assert "Possibly truncated" not in text()
    analysis = json.loads(analysis_path.read_text())
    analysis["problems"]["truncated"] = True
    analysis_path.write_text(json.dumps(analysis))
    assert "Possibly truncated" in text() and "rarer terms may be missing" in text()


# ----------------------------------------------------------------------------------------------
# wording


def test_forbidden_wording_in_no_section(narrative):
    for s in narrative.sections:
        found = wording_violations(s.markdown, (narrative.facts[n].text for n in s.facts_used))
        assert not found, f"section {s.number}: {found}"


@pytest.mark.parametrize("sentence", [
    "The device caused the fracture.", "Breakage causes revision.", "This was due to the device.",
    "The defect led to injury.", "Migration resulted in surgery.", "The signal proves a risk.",
    "The data confirms the trend.", "The incidence rate is low.", "Two failures per 1,000 implants.",
])
def test_wording_check_catches_causal_and_rate_language(sentence):
    assert wording_violations(sentence)


def test_forbidden_list_is_a_module_constant_with_the_required_phrases():
    for phrase in ("caused", "causes", "due to the device", "led to", "resulted in", "proves", "confirms",
                   "incidence rate"):
        assert phrase in FORBIDDEN_WORDING


def test_wording_in_data_does_not_count_as_our_wording():
    assert wording_violations("Term: Device Caused Injury.", ["Device Caused Injury"]) == []


def test_signals_use_hedged_verbs(tmp_path):
    n = render_narrative(build_facts(make_run_folder(tmp_path)))
    analysis = n.section("4.6").markdown
    assert "Disproportionate reporting was observed" in analysis
    assert "may warrant review" in analysis
    assert "not evidence that the device is responsible" in analysis


# ----------------------------------------------------------------------------------------------
# caveats


def test_caveats_stated_once_and_referenced_by_label(narrative):
    texts = [html.unescape(s.markdown) for s in narrative.sections]
    labels = {c["key"]: c["label"] for c in narrative.caveats}
    assert set(labels) >= {"numerator-only", "reporting-bias"}
    for caveat in CAVEATS:
        if caveat.key not in labels:
            continue
        where = [s.number for s, t in zip(narrative.sections, texts) if caveat.text in t]
        assert where == ["4.5"], f"{caveat.key} stated in {where}"
        label = f"Limitation {labels[caveat.key]}"
        referenced = [s.number for s, t in zip(narrative.sections, texts) if label in t and s.number != "4.5"]
        if caveat.key in ("numerator-only", "reporting-bias", "eu-vigilance", "synthetic"):
            assert referenced, f"{label} never referenced outside section 4.5"
    for key in ("numerator-only", "reporting-bias"):
        assert sum(t.count(f"Limitation {labels[key]}:") for t in texts) == 1


def test_synthetic_caveat_only_for_synthetic_data(tmp_path):
    plain = render_narrative(build_facts(make_run_folder(tmp_path / "p")))
    synthetic = render_narrative(build_facts(make_run_folder(tmp_path / "s", synthetic=True)))
    assert "synthetic" not in {c["key"] for c in plain.caveats}
    assert "synthetic" in {c["key"] for c in synthetic.caveats}
    summary = synthetic.section("1")
    assert summary.markdown.lstrip().startswith('<div class="cer-banner cer-synthetic">')
    assert "Synthetic data" in summary.html
    assert "ynthetic" not in plain.section("1").markdown


# ----------------------------------------------------------------------------------------------
# escaping


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, list[tuple[str, str | None]]]] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, attrs))


def _tags(markup: str) -> list[tuple[str, list]]:
    parser = _Tags()
    parser.feed(markup)
    return parser.tags


@pytest.mark.parametrize("payload", [*HOSTILE_STRINGS, HOSTILE, "1. item", "- item", "+ item", "---", "===",
                                     "# heading", "> quote", "    code", "<!-- c -->", "a\u2028b"])
def test_escaped_markdown_renders_as_the_same_text(payload):
    rendered = markdown_to_html(escape_markdown(payload))
    tags = _tags(rendered)
    assert [t for t, _ in tags] == ["p"], rendered
    inner = rendered.strip().removeprefix("<p>").removesuffix("</p>")
    assert html.unescape(inner) == re.sub(r"\s+", " ", payload).strip()


def test_hostile_text_is_escaped_in_narrative_json(hostile_run):
    data = json.loads((hostile_run / NARRATIVE).read_text())
    for section in data["sections"]:
        for field in ("markdown", "html"):
            text = section[field]
            assert "<script" not in text.lower() and "<img" not in text.lower(), (section["number"], field)
            assert "</table>" not in text and "</section>" not in text
            assert "{{ 7" not in text or field == "html"
        for tag, attrs in _tags(section["html"]):
            if tag == "span":  # a template's reference to an exhibit (label()), the only span allowed
                assert [n for n, _ in attrs] == ["class", "data-exhibit-ref"] and dict(attrs)["class"] == "cer-xref"
                assert re.fullmatch(r"(tab|fig)-[a-z-]+", dict(attrs)["data-exhibit-ref"]), attrs
                continue
            assert tag in {"p", "ul", "ol", "li", "strong", "em", "div", "h3", "h4", "h5", "h6", "code", "br"}, tag
            assert not any(name.startswith("on") for name, _ in attrs)
            assert tag != "a"
    summary = next(s for s in data["sections"] if s["number"] == "1")
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in summary["html"]  # present, as text
    assert "{{ 7*7 }}" in summary["html"]  # shown literally, never evaluated
    assert "Injected heading" in summary["html"] and "<h1" not in summary["html"]


# ----------------------------------------------------------------------------------------------
# the stage


def test_narrate_writes_narrative_json(hostile_run):
    data = json.loads((hostile_run / NARRATIVE).read_text())
    assert [s["number"] for s in data["sections"]] == [s.number for s in SECTIONS]
    for s in data["sections"]:
        assert set(s) >= {"id", "number", "title", "markdown", "html", "facts_used", "placeholder"}
        assert isinstance(s["placeholder"], bool)
    assert {s["number"] for s in data["sections"] if s["placeholder"]} >= {"4.3", "4.4", "6", "7", "8"}
    assert data["caveats"] and data["facts"]["reports_total"]["source"] == "results/analysis.json#/monthly_counts/totals/all"
    loaded = load_narrative(hostile_run)
    assert loaded.section("4.6").html == next(s["html"] for s in data["sections"] if s["number"] == "4.6")
    assert loaded.facts["trend_rr"].text == data["facts"]["trend_rr"]["text"]


def test_eu_vigilance_is_said_to_be_not_public(narrative):
    text = html.unescape(narrative.section("4.3").markdown)
    assert "EUDAMED is not public" in text or "not publicly accessible" in text
    assert "EU vigilance data are not public" in html.unescape(narrative.section("4.5").markdown)


def test_unavailable_source_is_explained_in_its_section(tmp_path):
    n = render_narrative(build_facts(make_run_folder(tmp_path, unavailable={"device_recall": "HTTP 503 after 5 retries"})))
    analysis = html.unescape(n.section("4.6").markdown)
    assert "openFDA device recalls" in analysis and "unavailable" in analysis and "HTTP 503 after 5 retries" in analysis
    assert "Recall data were not available" in html.unescape(n.section("1").markdown)
