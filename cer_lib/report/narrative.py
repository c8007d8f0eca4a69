"""Stage 04_narrate: the report's prose, rendered from facts by one Jinja2 template per section.

``narrate(ctx)`` builds the facts of the run (`cer_lib.report.facts.build_facts`), renders every
section of the report structure its profile gives (`cer_lib.report.structure.ReportStructure`; for
devices `cer_lib.report.meddev.MEDDEV_A9`) from the structure's template folder, one
``<section>.md.j2`` each, and writes ``results/narrative.json``::

    {"schema_version": 1,
     "sections": [{"id", "number", "title", "level", "markdown", "html", "facts_used": [...],
                   "placeholder": bool, "placeholders": [...]}],
     "caveats": [{"key", "label", "title", "text"}],
     "facts": {name: {"value", "text", "source", "kind"}}}

``markdown`` and ``html`` are the section body, without its numbered heading (the section's
``number`` and ``title`` give that).

Rules the renderer enforces (a template that breaks one fails the stage, it does not print):

- A template prints only facts (``{{ f.trend_rr }}``) and the helpers below. Printing a bare number,
  or a string with a digit in it, raises `NarrativeError`: every number in the prose is a fact, and
  `Section.facts_used` lists the facts each section printed.
- Undefined names raise (``StrictUndefined``); every fact name always exists (missing values have
  ``available`` false).
- Data are escaped, never compiled: fact texts (device names, firm names, problem terms, reasons)
  are entity-escaped for Markdown and HTML alike (``<``, ``&``, ``*``, ``[``, ``{``, ``|``, ``$``, ... become
  character references), so untrusted text cannot add markup, links, template syntax or structure.
  The HTML is rendered from that Markdown by markdown-it (CommonMark).
- Wording: no causal language (`FORBIDDEN_WORDING`), no incidence rates; disproportionality is
  described with hedged verbs. The numerator-only and reporting-bias limitations (`CAVEATS`) are
  stated once, in section 4.5, and referenced elsewhere by label ("Limitation L1").

Template helpers: ``cite(key)``, ``heading(number)``, ``ref(number)``, ``caveat(key)``,
``caveat_statements()``, ``placeholder(id)``, ``count(fact, noun[, plural])``, ``p(fact)``,
``join(facts)``, ``source_note(name)``, ``exhibit(id)``, ``label(id)`` (the exhibit's number, "Table 7",
written by the document), ``banner(kind)``.
"""
from __future__ import annotations

import html as html_lib
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from jinja2 import ChoiceLoader, Environment, PackageLoader, StrictUndefined, pass_context
from jinja2.runtime import Context, Undefined
from markupsafe import Markup

from ..errors import NarrativeError
from ..runfolder import NarrativeSection, RunFolder
from .facts import Fact, Facts, build_facts
from .structure import ReportStructure, Section

__all__ = [
    "CAVEATS",
    "FORBIDDEN_WORDING",
    "NAMED_TERMS",
    "Caveat",
    "Narrative",
    "NarrativeError",
    "SectionText",
    "environment",
    "escape_markdown",
    "load_narrative",
    "markdown_to_html",
    "narrate",
    "render_narrative",
    "render_template",
    "wording_violations",
]

SCHEMA_VERSION = 1


# ----------------------------------------------------------------------------------------------
# wording rules

#: Phrases the prose must never use (case-insensitive, whole words). Causal claims, proof words and
#: incidence-style rates: public adverse-event data are numerators of unverified reports.
FORBIDDEN_WORDING: tuple[str, ...] = (
    "caused", "causes", "causing", "cause of", "caused by",
    "due to the device", "attributable to the device", "because of the device",
    "led to", "leads to", "lead to", "resulted in", "results in", "result in",
    "proves", "proved", "proven", "prove", "confirms", "confirmed", "confirm",
    "demonstrates that", "establishes that",
    "the device causes", "is safe", "is unsafe", "safe and effective",
    "incidence rate", "incidence of", "complication rate", "failure rate", "event rate",
    "adverse event rate", "rate of adverse", "rate of failure", "rate of complications",
    "per patient", "per patients", "per implant", "per procedure", "per use", "per device sold",
    "per 100", "per 1,000", "per 1000", "per 10,000", "per 100,000",
    "signal confirmed", "risk is increased", "increased risk",
)
_FORBIDDEN = [(phrase, re.compile(r"(?<![\w-])" + re.escape(phrase) + r"(?![\w-])", re.IGNORECASE))
              for phrase in FORBIDDEN_WORDING]


#: Names that contain digits but are not numbers: statistic names and a US procedure. The number
#: checks of the prose skip exactly these (and the section numbers and limitation labels).
NAMED_TERMS: tuple[str, ...] = ("510(k)", "EB05", "EB95", "IC025", "SHA-256")


def _remove_texts(text: str, texts: Iterable[str]) -> str:
    """``text`` with every occurrence of each of ``texts`` (longest first) blanked out."""
    for item in sorted({t for t in texts if t}, key=len, reverse=True):
        text = text.replace(item, " \u2063 ")
    return text


def wording_violations(markdown: str, fact_texts: Iterable[str] = ()) -> list[str]:
    """Forbidden phrases found in the template-written part of ``markdown``.

    Fact texts (data such as device definitions or problem terms) are removed first: the rule is
    about what the report says, not about what a public record says.
    """
    plain = _remove_texts(html_lib.unescape(markdown), fact_texts)
    return [phrase for phrase, pattern in _FORBIDDEN if pattern.search(plain)]


# ----------------------------------------------------------------------------------------------
# caveats


@dataclass(frozen=True)
class Caveat:
    """A limitation of the data, stated once and referenced by label elsewhere."""

    key: str
    title: str
    text: str
    only_if_synthetic: bool = False


CAVEATS: tuple[Caveat, ...] = (
    Caveat(
        "numerator-only",
        "Counts are numerators only",
        "Public adverse-event databases hold reports. They do not hold the number of devices in use, "
        "procedures performed or patients treated; sales and exposure are not public. Report counts "
        "therefore cannot be turned into frequencies of occurrence in patients or uses, and a "
        "difference in report volume between devices or periods can reflect a difference in use.",
    ),
    Caveat(
        "reporting-bias",
        "Reports are passive, unverified and biased",
        "MAUDE receives mandatory reports from manufacturers and importers and voluntary reports from "
        "user facilities, health professionals and patients. Under-reporting is usual; publicity, "
        "litigation and recalls stimulate reporting; one event can be reported more than once; reports "
        "are often incomplete and FDA does not verify them. A report does not establish a causal "
        "relationship between the device and the event described.",
    ),
    Caveat(
        "data-currency",
        "Data are as published at the cut-off date",
        "Reports reach FDA weeks or months after the event and can be supplemented later; the last "
        "month of the window is incomplete and is excluded from statistical tests; problem codes are "
        "missing for some periods; counts from the public API can differ from those of the MAUDE web "
        "interface.",
    ),
    Caveat(
        "disproportionality",
        "Disproportionality measures reporting, not risk",
        "Disproportionality statistics compare the share of reports coding a term for this device with "
        "the share for the comparator devices. They depend on the choice of comparators and on coding "
        "practice, are affected by the biases above, and generate hypotheses for review only.",
    ),
    Caveat(
        "eu-vigilance",
        "EU vigilance data are not public",
        "The vigilance part of EUDAMED is not publicly accessible. Serious incidents, trend reports and "
        "field safety corrective actions reported in the European Union are therefore not part of "
        "this report and have to be added by the manufacturer.",
    ),
    Caveat(
        "synthetic",
        "The data are synthetic",
        "This run used synthetic demonstration data. Nothing in this report describes a real device, "
        "manufacturer or patient, and it must not be used for any regulatory or clinical decision.",
        only_if_synthetic=True,
    ),
)


def active_caveats(synthetic: bool, structure: ReportStructure | None = None) -> list[tuple[str, Caveat]]:
    """``[(label, caveat)]`` for this run: L1, L2, ... (the synthetic caveat only for synthetic data); the
    report structure's own caveats when it has them (a drug's PBRER), else `CAVEATS`."""
    chosen = [c for c in (structure.caveats if structure is not None and structure.caveats else CAVEATS)
              if synthetic or not c.only_if_synthetic]
    return [(f"L{i}", c) for i, c in enumerate(chosen, start=1)]


# ----------------------------------------------------------------------------------------------
# escaping and Markdown

_MD_SPECIAL = set('\\`*_[]<>&#|{}$~!"\'')


def escape_markdown(text: str) -> str:
    """``text`` as inert Markdown/HTML: one line, every markup character a numeric character reference.

    The result renders as the original characters in CommonMark, MyST and Jupyter (which all decode
    character references and never treat them as syntax), and contains no ``<``, ``&``-less entity,
    ``*``, ``_``, ``[``, backtick, ``{``, ``|``, ``$`` that a renderer or template engine could act on.
    """
    line = re.sub(r"\s+", " ", str(text)).strip()
    out = "".join(f"&#{ord(ch)};" if ch in _MD_SPECIAL else ch for ch in line)
    if out[:1] in ("-", "+", "=") and (len(out) == 1 or out[1] in " -+="):
        out = f"&#{ord(out[0])};" + out[1:]  # would start a list item, a rule or a setext underline
    match = re.match(r"(\d{1,9})([.)])(?= |$)", out)  # would start an ordered list
    if match:
        out = match.group(1) + f"&#{ord(match.group(2))};" + out[match.end():]
    return out


def markdown_to_html(markdown: str) -> str:
    """CommonMark (plus tables) -> HTML. Raw HTML passes only because data cannot contain ``<`` (see `escape_markdown`)."""
    from markdown_it import MarkdownIt

    md = MarkdownIt("commonmark", {"html": True, "typographer": False}).enable("table")
    return md.render(markdown)


# ----------------------------------------------------------------------------------------------
# rendering


@dataclass
class _RenderState:
    facts: Facts
    synthetic: bool
    stated: dict[str, str]  # caveat key -> section number where stated (shared by all sections)
    section: str = ""
    used: list[str] = field(default_factory=list)
    placeholders: list[str] = field(default_factory=list)

    def use(self, fact: Fact) -> str:
        if fact.name not in self.used:
            self.used.append(fact.name)
        return escape_markdown(fact.text)

    @property
    def structure(self) -> ReportStructure:
        if self.facts.structure is None:
            raise NarrativeError("these facts carry no report structure: build them with build_facts()")
        return self.facts.structure


def _state(context: Context) -> _RenderState:
    state = context.get("_state")
    if not isinstance(state, _RenderState):
        raise NarrativeError("narrative templates must be rendered with render_template()")
    return state


_DIGIT = re.compile(r"\d")


@pass_context
def _finalize(context: Context, value: Any) -> Any:
    if isinstance(value, Undefined):
        str(value)  # StrictUndefined raises UndefinedError naming the missing variable
    if isinstance(value, Fact):
        return Markup(_state(context).use(value))
    if isinstance(value, Markup):
        return value
    if isinstance(value, str):
        if _DIGIT.search(value):
            raise NarrativeError(f"a template printed the string {value!r}, which holds a number: print the Fact itself")
        return Markup(escape_markdown(value))
    raise NarrativeError(
        f"a template printed {type(value).__name__} {value!r}: numbers in the prose must be facts (print f.<name>)"
    )


def _fact(value: Any, helper: str) -> Fact:
    if isinstance(value, Undefined):
        str(value)
    if not isinstance(value, Fact):
        raise NarrativeError(f"{helper}() expects a Fact, got {type(value).__name__} {value!r}")
    return value


@pass_context
def _cite(context: Context, key: str) -> Markup:
    return Markup(_state(context).use(_state(context).facts[f"cite.{key}.short"]))


@pass_context
def _cite_full(context: Context, key: str) -> Markup:
    return Markup(_state(context).use(_state(context).facts[f"cite.{key}.full"]))


@pass_context
def _heading(context: Context, number: str) -> Markup:
    subsections = _state(context).structure.subsections
    if number not in subsections:
        raise NarrativeError(f"heading({number!r}): not a numbered heading of the report structure")
    return Markup(f"{'#' * (number.count('.') + 2)} {number} {escape_markdown(subsections[number])}")


@pass_context
def _ref(context: Context, number: str) -> Markup:
    if number not in _state(context).structure.section_numbers():
        raise NarrativeError(f"ref({number!r}): no such section")
    return Markup(f"section {number}")


@pass_context
def _caveat(context: Context, key: str) -> Markup:
    state = _state(context)
    for label, caveat in active_caveats(state.synthetic, state.structure):
        if caveat.key == key:
            return Markup(f"Limitation {label}")
    raise NarrativeError(f"caveat({key!r}): no such caveat for this run")


@pass_context
def _caveat_statements(context: Context) -> Markup:
    state = _state(context)
    parts = []
    for label, caveat in active_caveats(state.synthetic, state.structure):
        if caveat.key in state.stated:
            raise NarrativeError(f"caveat {caveat.key!r} stated twice (sections {state.stated[caveat.key]} and {state.section})")
        state.stated[caveat.key] = state.section
        parts.append(f"**Limitation {label}: {escape_markdown(caveat.title)}.** {escape_markdown(caveat.text)}")
    return Markup("\n\n".join(parts))


@pass_context
def _placeholder(context: Context, placeholder_id: str) -> Markup:
    state = _state(context)
    item = state.structure.placeholders.get(placeholder_id)
    if item is None:
        raise NarrativeError(f"placeholder({placeholder_id!r}): not a placeholder of the report structure")
    if placeholder_id not in state.placeholders:
        state.placeholders.append(placeholder_id)
    return Markup(
        f'\n\n<div class="cer-placeholder" data-placeholder="{placeholder_id}">\n\n'
        f"**To be completed by the {state.structure.completed_by}: {escape_markdown(item.title)}.** "
        f"{escape_markdown(item.needed)}\n\n"
        "</div>\n\n"
    )


@pass_context
def _count(context: Context, value: Any, singular: str, plural: str | None = None) -> Markup:
    """``"3 reports"``; ``"an unknown number of reports"`` when the fact is not available."""
    fact = _fact(value, "count")
    plural = plural or singular + "s"
    if not fact.available:
        return Markup(f"an unknown number of {escape_markdown(plural)}")
    noun = singular if fact.value == 1 else plural
    return Markup(f"{_state(context).use(fact)} {escape_markdown(noun)}")


@pass_context
def _p(context: Context, value: Any) -> Markup:
    fact = _fact(value, "p")
    text = _state(context).use(fact)
    return Markup(f"p {text}" if fact.text.startswith("<") else f"p = {text}")


@pass_context
def _join(context: Context, values: Sequence[Any], conjunction: str = "and") -> Markup:
    texts = [_state(context).use(_fact(v, "join")) for v in values]
    if len(texts) <= 1:
        return Markup("".join(texts))
    return Markup(", ".join(texts[:-1]) + f" {escape_markdown(conjunction)} " + texts[-1])


_STATE_SENTENCES = {
    "empty": "returned no matching records for this run",
    "unavailable": "was unavailable for this run",
    "error": "failed with an error in this run",
    "disabled": "was not queried in this run (disabled in the parameters)",
}


@pass_context
def _source_note(context: Context, name: str) -> Markup:
    """A sentence saying why a source gave nothing; empty when the source was available."""
    state = _state(context)
    member = state.facts.member("source", name)
    raw = member["state"].value
    if raw in (None, "ok"):
        return Markup("")
    sentence = _STATE_SENTENCES.get(raw, "did not return data for this run")
    text = f"**Source status:** the source \u201c{state.use(member['label'])}\u201d {sentence}"
    if member["reason"].available:
        text += f" (reason recorded: {state.use(member['reason'])})"
    if raw == "empty":
        text += "."
    else:
        text += "; what it would contribute here is missing from this report."
    return Markup(f"\n\n{text}\n\n")


def _exhibit(exhibit_id: str) -> Markup:
    if not re.fullmatch(r"(tab|fig)-[a-z-]+", exhibit_id):
        raise NarrativeError(f"exhibit({exhibit_id!r}): ids look like tab-recalls-device")
    return Markup(f'\n\n<div class="cer-exhibit" data-exhibit="{exhibit_id}"></div>\n\n')


def _label(exhibit_id: str) -> Markup:
    """A reference to an exhibit in the prose; the document writes its number ("Table 7"), linked to it."""
    if not re.fullmatch(r"(tab|fig)-[a-z-]+", exhibit_id):
        raise NarrativeError(f"label({exhibit_id!r}): ids look like tab-recalls-device")
    return Markup(f'<span class="cer-xref" data-exhibit-ref="{exhibit_id}"></span>')


@pass_context
def _banner(context: Context, kind: str) -> Markup:
    """Open a highlighted block (``kind`` is synthetic or notice); close it with ``end_banner()``."""
    if kind not in ("synthetic", "notice"):
        raise NarrativeError(f"banner({kind!r}): kind is synthetic or notice")
    return Markup(f'\n\n<div class="cer-banner cer-{kind}">\n\n')


def _end_banner() -> Markup:
    return Markup("\n\n</div>\n\n")


class _FactAccess:
    """``f`` in templates: ``f.name`` is the Fact; unknown names are undefined (and raise when used)."""

    def __init__(self, facts: Facts) -> None:
        self._facts = facts

    def __getattr__(self, name: str) -> Fact:
        if name.startswith("_"):
            raise AttributeError(name)
        try:
            return self._facts[name]
        except KeyError:
            raise AttributeError(name) from None

    def __getitem__(self, name: str) -> Fact:
        return self._facts[name]

    def group(self, prefix: str) -> list[dict[str, Fact]]:
        return self._facts.group(prefix)

    def member(self, prefix: str, key: str) -> dict[str, Fact]:
        return self._facts.member(prefix, key)


SHARED_TEMPLATES = "templates/narrative"  # a kind's own folder is searched first


def environment(loader: Any = None, *, structure: ReportStructure | None = None) -> Environment:
    """The Jinja2 environment of the narrative templates (autoescape, StrictUndefined, fact-only output):
    ``loader``, or the template folder of ``structure`` and then the shared one (`SHARED_TEMPLATES`:
    sections every kind of report has, such as the reviewer-feedback appendix)."""
    if loader is None:
        if structure is None:
            raise TypeError("environment() needs a template loader or a report structure")
        folders = dict.fromkeys((structure.templates, SHARED_TEMPLATES))
        loader = ChoiceLoader([PackageLoader("cer_lib.report", folder) for folder in folders])
    env = Environment(
        loader=loader,
        autoescape=True,
        undefined=StrictUndefined,
        finalize=_finalize,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.globals.update(
        cite=_cite, cite_full=_cite_full, heading=_heading, ref=_ref, caveat=_caveat,
        caveat_statements=_caveat_statements, placeholder=_placeholder, count=_count, p=_p, join=_join,
        source_note=_source_note, exhibit=_exhibit, label=_label, banner=_banner, end_banner=_end_banner,
    )
    return env


def _tidy(markdown: str) -> str:
    lines = [line.rstrip() for line in markdown.strip().splitlines()]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip() + "\n"


def render_template(
    template: str,
    facts: Facts,
    *,
    env: Environment | None = None,
    section_number: str = "",
    stated: dict[str, str] | None = None,
) -> tuple[str, list[str], list[str]]:
    """Render one template by name; returns ``(markdown, facts_used, placeholders)``."""
    env = env or environment(structure=facts.structure)
    state = _RenderState(facts, facts.synthetic, stated if stated is not None else {}, section_number)
    text = env.get_template(template).render(f=_FactAccess(facts), _state=state)
    return _tidy(text), state.used, state.placeholders


# ----------------------------------------------------------------------------------------------
# the narrative


#: One rendered section (the model of ``narrative.json``'s sections).
SectionText = NarrativeSection


@dataclass
class Narrative:
    """All sections in report order, the caveats and the facts they were rendered from."""

    sections: list[SectionText]
    caveats: list[dict[str, str]]
    facts: Facts

    def section(self, key: str) -> SectionText:
        for s in self.sections:
            if key in (s.id, s.number):
                return s
        raise KeyError(f"no narrative section {key!r}")

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema_version": SCHEMA_VERSION,
            "sections": [s.model_dump(mode="json") for s in self.sections],
            "caveats": self.caveats,
            "facts": self.facts.to_dict(),
        }

    def __repr__(self) -> str:
        """What the notebook shows as plain text: a summary, never the whole text as a Python repr."""
        return (f"Narrative: {len(self.sections)} sections rendered from {len(self.facts)} facts; "
                f"limitations {', '.join(c['label'] for c in self.caveats)}")

    def _repr_html_(self) -> str:
        rows = "".join(
            f"<tr><td>{html_lib.escape(s.number)}</td><td>{html_lib.escape(s.title)}</td>"
            f"<td>{len(s.facts_used)}</td><td>{html_lib.escape(', '.join(s.placeholders))}</td></tr>"
            for s in self.sections
        )
        caveats = "".join(f"<li><b>{html_lib.escape(c['label'])}</b> {html_lib.escape(c['title'])}</li>" for c in self.caveats)
        return (
            f"<p>{len(self.sections)} sections rendered from {len(self.facts)} facts.</p>"
            "<table><thead><tr><th>section</th><th>title</th><th>facts used</th><th>placeholders for the manufacturer</th>"
            f"</tr></thead><tbody>{rows}</tbody></table><p>Limitations stated in section 4.5:</p><ul>{caveats}</ul>"
        )


def render_narrative(facts: Facts, *, env: Environment | None = None, sections: Sequence[Section] | None = None) -> Narrative:
    """Render every section of the facts' report structure (or ``sections``); checks wording and the once-only caveats."""
    structure = facts.structure
    if structure is None:
        raise NarrativeError("these facts carry no report structure: build them with build_facts()")
    env = env or environment(structure=structure)
    sections = structure.sections if sections is None else tuple(sections)
    stated: dict[str, str] = {}
    rendered = []
    for s in sections:
        markdown, used, placeholders = render_template(s.template, facts, env=env, section_number=s.number, stated=stated)
        found = wording_violations(markdown, (facts[name].text for name in used))
        if found:
            raise NarrativeError(f"section {s.number} ({s.template}) uses forbidden wording: {', '.join(found)}")
        rendered.append(SectionText(id=s.id, number=s.number, title=s.title, level=s.level, markdown=markdown,
                                    html=markdown_to_html(markdown), facts_used=used, placeholder=s.placeholder,
                                    placeholders=placeholders))
    caveats = active_caveats(facts.synthetic, structure)
    missing = [c.key for _, c in caveats if c.key not in stated]
    if len(sections) == len(structure.sections) and missing:
        raise NarrativeError(f"caveats never stated: {', '.join(missing)} (call caveat_statements() in section {structure.sources_section})")
    return Narrative(
        rendered,
        [{"key": c.key, "label": label, "title": c.title, "text": c.text, "section": stated.get(c.key, "")}
         for label, c in caveats],
        facts,
    )


def narrate(ctx: Any) -> Narrative:
    """Stage 04: facts -> sections -> ``results/narrative.json``. ``ctx`` is a `RunContext` (or a run folder)."""
    facts = build_facts(ctx)
    narrative = render_narrative(facts)
    RunFolder.of(ctx).write_narrative(narrative.to_dict())
    return narrative


def load_narrative(run_dir: Any) -> Narrative:
    """``results/narrative.json`` of a run folder (a path, `RunFolder` or `RunContext`), as a `Narrative`."""
    from ..profiles import profile_of

    folder = RunFolder.of(run_dir)
    data = folder.narrative()
    structure = profile_of(folder.parameters()).report
    facts = Facts({name: Fact(name, d.value, d.text, d.source, d.kind) for name, d in data.facts.items()},
                  folder.path, structure=structure)
    return Narrative(list(data.sections), [c.model_dump(mode="json") for c in data.caveats], facts)
