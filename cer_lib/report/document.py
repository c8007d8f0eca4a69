"""Stage 05_report: the report as displayable HTML, section by section.

``report_sections(ctx)`` yields one `ReportBlock` per section (front matter first, then the sections
of the report structure the run's profile gives): the section's narrative (``results/narrative.json``)
with its exhibits in place of the narrative's exhibit markers. The structure lists the exhibits
(`cer_lib.report.exhibits`) and their sections; each figure follows the table it names, and an
exhibit the narrative did not place goes to the end of its section. ``show_section(ctx, "4")``
displays a top-level section with its subsections (one notebook cell each), ``show_report(ctx)``
everything. Nothing here knows a kind of code.

Exhibits are numbered in the order they appear ("Table 3", "Figure 2": `ReportStructure.exhibit_labels`);
their ids (``tab-recalls-device``) are HTML anchors and provenance keys, never printed. Each has
one "Source:" note naming the query and the run data it comes from; an exhibit whose sources were
already given by an earlier one refers to it ("as for Table 5") instead of repeating the query.
``exhibit_provenance(ctx)`` lists every exhibit as a typed `ProvenanceItem` with the numbers of
its requests in the query log and the sha256 of each input file (``provenance_items`` is the JSON form).

Escaping: tables are rendered by ``DataFrame.to_html(escape=True)``; every other piece of data
(case narratives, captions, reasons, URLs) goes through ``html.escape`` after control characters
are removed; figures are ``<img>`` with a base64 ``data:`` URI (self-contained) or the
run-relative PNG path. Untrusted text can therefore neither add markup nor close the page's tables.
"""
from __future__ import annotations

import base64
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from ..provenance import redact_url
from ..runfolder import RunFolder, layout
from ..runfolder.analysis import Figure
from ..sources.registry import source_spec
from .facts import NOT_AVAILABLE
from .exhibits.base import FigureExhibit, ReportRun, TableExhibit, esc, frame_html, notice, sources_of
from .provenance import InputFile, ProvenanceItem, RequestRef, SourceQuery
from .structure import Section

__all__ = [
    "REPORT_CSS",
    "ReportBlock",
    "exhibit_ids",
    "exhibit_provenance",
    "figure_anchors",
    "front_matter",
    "provenance_items",
    "report_html",
    "report_sections",
    "section_html",
    "show_report",
    "show_section",
]

REPORT_CSS = """
.cer-report { font-family: -apple-system, 'Segoe UI', Helvetica, Arial, sans-serif; line-height: 1.45; max-width: 70em; }
.cer-report h1 { font-size: 1.7em; margin-bottom: .2em; }
.cer-report table.cer-table { border-collapse: collapse; font-size: .85em; margin: .4em 0; }
.cer-report table.cer-table th, .cer-report table.cer-table td { border: 1px solid #cbd5e1; padding: 2px 6px; vertical-align: top; text-align: left; }
.cer-report table.cer-table th { background: #f1f5f9; }
.cer-report .cer-placeholder { border: 2px dashed #b45309; background: #fffbeb; padding: .3em 1em; margin: 1em 0; border-radius: 4px; }
.cer-report .cer-banner { padding: .4em 1em; margin: 1em 0; border-radius: 4px; }
.cer-report .cer-synthetic { border: 3px solid #b91c1c; background: #fef2f2; color: #7f1d1d; }
.cer-report .cer-notice { border: 1px solid #64748b; background: #f8fafc; }
.cer-report .cer-ribbon { display: inline-block; background: #b91c1c; color: #fff; font-weight: bold; font-size: .8em; padding: 1px 8px; border-radius: 3px; }
.cer-report .cer-exhibit { margin: 1em 0 1.4em 0; }
.cer-report .cer-caption { font-weight: bold; margin: .2em 0; }
.cer-report .cer-exhibit-label { font-weight: bold; margin-right: .3em; }
.cer-report .cer-print-only { display: none; }
.cer-report .cer-source { font-size: .8em; color: #475569; margin: .2em 0; overflow-wrap: break-word; }
.cer-report table.cer-table td { overflow-wrap: break-word; }
.cer-report .cer-unavailable { border-left: 4px solid #b45309; padding: .2em .8em; background: #fff7ed; }
.cer-report dl.cer-definitions { font-size: .85em; display: grid; grid-template-columns: max-content auto; gap: 2px 12px; }
.cer-report dl.cer-definitions dt { font-weight: bold; }
.cer-report dl.cer-definitions dd { margin: 0; }
.cer-report pre.cer-pre { background: #f8fafc; border: 1px solid #e2e8f0; padding: .5em; font-size: .8em; white-space: pre-wrap; }
.cer-report details.cer-fulltext summary { cursor: pointer; color: #1d4ed8; }
.cer-report img.cer-figure { max-width: 100%; height: auto; }
""".strip()


# ----------------------------------------------------------------------------------------------
# the run's data, loaded once per display


_CACHE: dict[tuple, ReportRun] = {}
_STAMPED = (layout.NARRATIVE, layout.ANALYSIS, layout.INTEGRATE_SUMMARY, layout.COLLECT_STATUS)


def _stamp(folder: RunFolder) -> tuple:
    return tuple((f, folder.file(f).stat().st_mtime_ns if folder.exists(f) else None) for f in _STAMPED)


def _load(ctx: Any, embed_figures: bool = True) -> ReportRun:
    from ..profiles import profile_of

    folder = RunFolder(RunFolder.of(ctx).path.resolve())
    key = (str(folder.path), _stamp(folder), embed_figures)
    if key in _CACHE:
        return _CACHE[key]
    profile = profile_of(folder.parameters())
    loaded = ReportRun(
        folder=folder,
        structure=profile.report,
        sources=profile.sources,
        status=folder.collect_status(),
        resolution=folder.resolution(profile.resolution_model),
        analysis=folder.analysis(),
        run=folder.run_record(missing_ok=True),
        tables=folder.tables(),
        requests=folder.requests(),
        embed_figures=embed_figures,
    )
    _CACHE.clear()
    _CACHE[key] = loaded
    return loaded


# ----------------------------------------------------------------------------------------------
# exhibits: order, numbers, source notes


Exhibit = TableExhibit | FigureExhibit


def _drawn(run: ReportRun) -> dict[str, Figure]:
    """The analysis' figures by id (what 03_analyze drew)."""
    return {fig.id: fig for fig in run.analysis.figures}


def _order(run: ReportRun) -> list[Exhibit]:
    return run.structure.exhibit_order(list(_drawn(run)))


def _labels(run: ReportRun) -> dict[str, str]:
    return run.structure.exhibit_labels(list(_drawn(run)))


def _figures(run: ReportRun) -> list[FigureExhibit]:
    return run.structure.figure_exhibits(list(_drawn(run)))


def figure_anchors(folder: RunFolder) -> dict[str, tuple[str, str]]:
    """``{analysis figure id: (its anchor in the report, its label "Figure 3")}`` for every figure the report shows."""
    from ..profiles import profile_of  # the profiles import the report package

    structure = profile_of(folder.parameters()).report
    drawn = [fig.id for fig in folder.analysis().figures]
    labels = structure.exhibit_labels(drawn)
    return {exhibit.figure: (exhibit.id, labels[exhibit.id]) for exhibit in structure.figure_exhibits(drawn)}


def _queries(run: ReportRun, exhibit: Exhibit) -> tuple[SourceQuery, ...]:
    queries = []
    for name in sources_of(run, exhibit.sources):
        spec, state = source_spec(name), run.source_state(name)
        search = state.details.get("search") if state else None
        queries.append(SourceQuery(name, spec.label, spec.path, str(search) if search else None,
                                   state.last_updated if state else None,
                                   state.status if state and state.status != "ok" else None))
    return tuple(queries)


def _data(run: ReportRun, exhibit: Exhibit) -> tuple[str, ...]:
    if isinstance(exhibit, TableExhibit):
        return exhibit.data
    index = [fig.id for fig in run.analysis.figures].index(exhibit.figure)
    return (layout.pointer(layout.ANALYSIS, "figures", index),)


def _first_with_same_sources(run: ReportRun) -> dict[str, str]:
    """``{exhibit id: label of the earlier exhibit with the same queries}`` for every exhibit that repeats them."""
    labels, seen, refer = _labels(run), {}, {}
    for exhibit in _order(run):
        queries = _queries(run, exhibit)
        if not queries:
            continue
        if queries in seen:
            refer[exhibit.id] = seen[queries]
        else:
            seen[queries] = labels[exhibit.id]
    return refer


def _source_line(run: ReportRun, exhibit: Exhibit) -> str:
    earlier = _first_with_same_sources(run).get(exhibit.id)
    queries = [f"as for {earlier}"] if earlier else [q.describe() for q in _queries(run, exhibit)]
    return f'<p class="cer-source">Source: {esc("; ".join(queries + list(_data(run, exhibit))))}.</p>'


def _caption(run: ReportRun, exhibit: Exhibit, title: str) -> str:
    return f'<span class="cer-exhibit-label">{esc(_labels(run)[exhibit.id])}.</span> {esc(title)}'


def _figure_html(run: ReportRun, exhibit: FigureExhibit) -> str:
    fig = _drawn(run)[exhibit.figure]
    path = run.folder.file(fig.png) if fig.png else None
    title, caption = fig.title or exhibit.id, fig.caption or ""
    if path is None or not path.is_file():
        img = notice(f"Figure file {fig.png or '(none)'} is missing from the run folder.")
    elif run.embed_figures:
        data = base64.b64encode(path.read_bytes()).decode("ascii")
        img = f'<img class="cer-figure" src="data:image/png;base64,{data}" alt="{esc(title)}">'
    else:
        img = f'<img class="cer-figure" src="{esc(Path(fig.png).as_posix())}" alt="{esc(title)}">'
    return (f'<figure class="cer-exhibit" id="{esc(exhibit.id)}">{img}<figcaption>{_caption(run, exhibit, title)}. '
            f"{esc(caption)}</figcaption>{_source_line(run, exhibit)}</figure>")


def _table_html(run: ReportRun, exhibit: TableExhibit) -> str:
    body = exhibit.build(run)
    out = (f'<div class="cer-exhibit" id="{esc(exhibit.id)}"><p class="cer-caption">{_caption(run, exhibit, exhibit.title)}</p>'
           f"{body}{_source_line(run, exhibit)}</div>")
    for figure in _figures(run):
        if figure.follows == exhibit.id:
            out += _figure_html(run, figure)
    return out


def exhibit_ids(ctx: Any = None) -> list[str]:
    """Ids of every exhibit in report order: the tables of the run's structure (with a run: and its drawn figures)."""
    if ctx is None:
        from .meddev import MEDDEV_A9

        return [t.id for t in MEDDEV_A9.tables]
    return [e.id for e in _order(_load(ctx))]


# ----------------------------------------------------------------------------------------------
# sections


@dataclass
class ReportBlock:
    """One displayable piece of the report (HTML); notebooks show it through ``_repr_html_``."""

    key: str
    number: str
    title: str
    html: str

    def _repr_html_(self) -> str:
        return self.html

    def __str__(self) -> str:
        return self.html


_MARKER = re.compile(r'<div class="cer-exhibit" data-exhibit="([a-z-]+)"></div>')
_XREF = re.compile(r'<span class="cer-xref" data-exhibit-ref="([a-z-]+)"></span>')


def _cross_references(run: ReportRun, html: str) -> str:
    """The prose's references to exhibits (``label(id)`` in a template) as their numbers, linked."""
    labels = _labels(run)

    def replace(match: re.Match[str]) -> str:
        label = labels.get(match.group(1))
        return f'<a class="cer-xref" href="#{match.group(1)}">{esc(label)}</a>' if label else "the table below"
    return _XREF.sub(replace, html)


def _only_missing(text: str) -> bool:
    """Whether ``text`` holds nothing but "not available" and the words and punctuation joining them."""
    return NOT_AVAILABLE in text and not re.sub(rf"{re.escape(NOT_AVAILABLE)}|\bto\b|[\s,;:()]", "", text)


def _style() -> str:
    return f"<style>{REPORT_CSS}</style>"


def _ribbon(run: ReportRun, narrative_html: str = "") -> str:
    if not run.synthetic or "cer-banner cer-synthetic" in narrative_html:
        return ""
    return '<p><span class="cer-ribbon">SYNTHETIC DATA: not a real device</span></p>'



def _section_block(run: ReportRun, section: Section) -> ReportBlock:
    text = run.narrative.section(section.number)
    tables = {t.id: t for t in run.structure.tables}
    shown: set[str] = set()

    def replace(match: re.Match[str]) -> str:
        exhibit = tables.get(match.group(1))
        if exhibit is None:
            return ""
        shown.add(exhibit.id)
        return _table_html(run, exhibit)

    body = _MARKER.sub(replace, _cross_references(run, text.html))
    for exhibit in run.structure.tables:  # exhibits of this section the narrative did not place
        if run.structure.exhibit_section(exhibit.id) == section.number and exhibit.id not in shown:
            body += _table_html(run, exhibit)
    if section.number == run.structure.figures_section:  # figures whose table the structure does not show
        for figure in _figures(run):
            if figure.follows not in tables:
                body += _figure_html(run, figure)
    level = min(section.level + 1, 6)
    box = " cer-placeholder-section" if text.placeholder else ""
    html_out = (f'<section class="cer-section{box}" id="{esc(section.anchor)}" data-section="{esc(section.number)}">'
                f"<h{level}>{esc(section.number)} {esc(section.title)}</h{level}>{_ribbon(run, text.html)}{body}</section>")
    return ReportBlock(section.id, section.number, section.title, html_out)


def front_matter(ctx: Any, *, embed_figures: bool = True) -> ReportBlock:
    """Title, identification and data banners (the HTML and PDF carry the table of contents)."""
    d = _load(ctx, embed_figures)
    f = d.facts
    structure = d.structure
    texts = {name: fact.text for name, fact in f.items()}
    banners = []
    if d.synthetic:
        banners.append('<div class="cer-banner cer-synthetic" role="alert"><b>SYNTHETIC DATA.</b> This report was generated '
                       "from synthetic demonstration data. It does not describe a real device, manufacturer or patient and "
                       "must not be used for any regulatory or clinical decision.</div>")
    if d.status.offline:
        banners.append('<div class="cer-banner cer-notice"><b>Offline run.</b> Only cached responses were used; see the '
                       f"data last-updated dates in section {esc(structure.references_section)}.</div>")
    not_ok = [s.label for s in d.sources if d.status.state(s.name) not in (None, "ok")]
    if not_ok:
        banners.append('<div class="cer-banner cer-notice"><b>Sources without data in this run:</b> '
                       f"{esc(', '.join(not_ok))}. Section {esc(structure.sources_section)} gives each status and reason.</div>")
    rows = [(label, value.format_map(texts)) for label, value in structure.identification]
    # a row whose every fact is missing ("not available to not available") says so once
    ident = pd.DataFrame([(label, NOT_AVAILABLE if _only_missing(value) else value) for label, value in rows],
                         columns=["Item", "Value"])
    name, detail = (part.format_map(texts) for part in structure.subject)
    html_out = (f'<section class="cer-section cer-front" id="sec-front">{_style()}'
                f"<h1>{esc(structure.title)}</h1>"
                f"<p><b>{esc(name)}</b> ({esc(detail)})</p>"
                f"{''.join(banners)}{frame_html(ident, 'tab-identification')}"
                f"<p>Structure: {esc(structure.name)}. Items public data cannot fill are boxed "
                "placeholders for the manufacturer.</p></section>")
    return ReportBlock("front", "", "Front matter", f'<div class="cer-report">{html_out}</div>')


def report_sections(ctx: Any, *, embed_figures: bool = True) -> Iterator[ReportBlock]:
    """Front matter, then one block per section of the report structure (1, 2, 3, 4, 4.1 ... 4.6, 5 ... 9, A), in order."""
    yield front_matter(ctx, embed_figures=embed_figures)
    d = _load(ctx, embed_figures)
    for section in d.structure.sections:
        block = _section_block(d, section)
        block.html = f'<div class="cer-report">{block.html}</div>'
        yield block


def section_html(ctx: Any, key: str, *, embed_figures: bool = True) -> str:
    """HTML of a top-level section with its subsections (``"4"`` gives 4 and 4.1 ... 4.6); ``"front"`` the front matter."""
    if key in ("front", "0", ""):
        return front_matter(ctx, embed_figures=embed_figures).html
    d = _load(ctx, embed_figures)
    sections = d.structure.sections
    chosen = d.structure.subsections_of(next((s.number for s in sections if key in (s.number, s.id)), key))
    if not chosen:
        raise KeyError(f"no report section {key!r}; use front or one of {', '.join(s.number for s in sections)}")
    blocks = "".join(_section_block(d, s).html for s in chosen)
    return f'<div class="cer-report">{_style()}{blocks}</div>'


def _section_label(ctx: Any, key: str, embed_figures: bool) -> str:
    """The plain-text stand-in of a displayed section: "Section 4.6 Analysis of the clinical data"."""
    if key in ("front", "0", ""):
        return "Front matter of the report"
    section = next((s for s in _load(ctx, embed_figures).structure.sections if key in (s.number, s.id)), None)
    return f"Section {section.number} {section.title}" if section else f"Section {key}"


def _display_section(ctx: Any, key: str, embed_figures: bool) -> None:
    """Show a section as HTML with its title as the plain-text alternative (never an object's repr)."""
    from IPython.display import display

    html = section_html(ctx, key, embed_figures=embed_figures)
    display({"text/html": html, "text/plain": _section_label(ctx, key, embed_figures)}, raw=True)


def show_section(ctx: Any, key: str, *, embed_figures: bool = True) -> None:
    """Display a section (with its subsections) in the notebook: ``show_section(ctx, "4")``."""
    _display_section(ctx, key, embed_figures)


def report_html(ctx: Any, *, embed_figures: bool = True) -> str:
    """The whole report body as one HTML fragment (style included)."""
    d = _load(ctx, embed_figures)
    blocks = [front_matter(ctx, embed_figures=embed_figures).html]
    blocks += [_section_block(d, s).html for s in d.structure.sections]
    return f'<div class="cer-report">{_style()}{"".join(blocks)}</div>'


def show_report(ctx: Any, *, embed_figures: bool = True) -> None:
    """Display the whole report, section by section."""
    _display_section(ctx, "front", embed_figures)
    for top in _load(ctx, embed_figures).structure.top_level():
        _display_section(ctx, top.number, embed_figures)



# ----------------------------------------------------------------------------------------------
# provenance


def _requests_for(run: ReportRun, sources: Sequence[str]) -> tuple[RequestRef, ...]:
    """The recorded requests to ``sources``: by the source the client logged, or by the endpoint in the URL."""
    paths = {source_spec(s).path for s in sources} - {None}
    found = []
    for number, r in enumerate(run.requests, start=1):
        url = redact_url(str(r.get("url") or ""))
        if r.get("source") in sources or any(p in url for p in paths if p):
            found.append(RequestRef(number, url, r.get("time"), r.get("status"), r.get("sha256")))
    return tuple(found)


def exhibit_provenance(ctx: Any) -> list[ProvenanceItem]:
    """One `ProvenanceItem` per exhibit, in report order (needs no narrative)."""
    run = _load(ctx)
    labels = _labels(run)
    meta_inputs = tuple(InputFile(i.path, i.sha256 or "") for i in run.analysis.meta.inputs)
    drawn = _drawn(run)
    items = []
    for exhibit in _order(run):
        if isinstance(exhibit, TableExhibit):
            files, title = exhibit.inputs, exhibit.title
        else:
            fig = drawn[exhibit.figure]
            files, title = tuple(p for p in (fig.png, fig.svg) if p) + (layout.ANALYSIS,), fig.title or exhibit.id
        inputs = tuple(InputFile(rel, run.folder.sha256(rel) or "") for rel in files
                       if rel != layout.MIRROR_LOAD or run.folder.exists(rel))  # the one input of mirror runs only
        if layout.ANALYSIS in files:
            inputs += meta_inputs
        sources = sources_of(run, exhibit.sources)
        items.append(ProvenanceItem(
            id=exhibit.id, kind=exhibit.kind, label=labels[exhibit.id], title=title,
            section=run.structure.exhibit_section(exhibit.id), queries=_queries(run, exhibit), data=_data(run, exhibit),
            requests=_requests_for(run, sources), inputs=inputs))
    return items


def provenance_items(ctx: Any) -> list[dict[str, Any]]:
    """`exhibit_provenance` as JSON: ``{"id", "kind", "label", "title", "section", "sources", "inputs": [{"path", "sha256"}]}``."""
    return [item.as_dict() for item in exhibit_provenance(ctx)]
