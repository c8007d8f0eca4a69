"""``cer.html``: one self-contained page per run, report first, code trail after.

Layout of the page (nbconvert template ``templates/nbconvert/cer``, extending JupyterLab's)::

    title block      code, device name, class, data window, run id, data last_updated,
                     a SYNTHETIC DATA banner when the collect status says so
    contents         links to every section (page numbers in the PDF)
    report           the executed 05_report notebook: its outputs (narrative, tables, figures),
                     the code of each cell folded in <details>; no prompts
    annex 1          the five executed notebooks, code and outputs (1.5 points back to the report
                     for outputs already shown there instead of printing them twice)
    annex 2          provenance: each table/figure id -> its queries and data hashes, then the
                     query log itself
    annex 3          how to reproduce (only when the report does not already say it)

("Annex", not "Appendix": the report's own MEDDEV structure has an Appendix A.)

Everything the page needs is inside it: CSS inlined, images as data URIs, no scripts at all.

Untrusted text (MAUDE/FAERS narratives) reaches the page only through notebook outputs.
``text/plain`` is escaped by the template; every HTML fragment (``text/html``, ``image/svg+xml``,
rendered markdown) is cleaned by `cer_lib.report.notebooks` and sanitised by
`cer_lib.report.sanitize` (nh3, then the page outline), so one output can neither run anything nor
break the page around it; control characters are removed from the whole page. `audit_html` checks
the finished page and the assembly refuses to write a page that fails it.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

import nbformat

from .. import __version__
from ..errors import CerError, ReportError
from ..runfolder import RunFolder, RunRecord
from ..runfolder.layout import STAGES
from .document import exhibit_provenance, figure_anchors
from .facts import device_class_text
from .notebooks import clean_notebook_outputs, mentions_reproduce, prepare_appendix, prepare_report, read_notebook
from .sanitize import audit_html, sanitize_fragment, sanitize_html
from .text import printable

TEMPLATES_DIR = Path(__file__).resolve().parent / "templates" / "nbconvert"
TEMPLATE_NAME = "cer"
STATIC_DIR = TEMPLATES_DIR / TEMPLATE_NAME / "static"
REPORT_STAGE = STAGES[-1]

__all__ = ["ProvenanceRow", "ReportError", "RunInfo", "audit_html", "provenance_rows", "read_run_info",
           "render_cer_html", "sanitize_fragment", "sanitize_html"]

STAGE_TITLES = {
    "01_collect": "Collect: public sources queried",
    "02_integrate": "Integrate: tidy tables and duplicates",
    "03_analyze": "Analyze: series, trends, change points, forecast, signals",
    "04_narrate": "Narrate: text generated from the results",
    "05_report": "Report: the CER sections",
}


# ==============================================================================================
# Facts about the run
# ==============================================================================================


@dataclass
class RunInfo:
    """What the title block, the running header and the book index say about a run."""

    run_dir: Path
    code: str
    kind: str
    run_id: str
    device_name: str | None = None
    device_class: str | None = None
    window_start: str | None = None
    window_end: str | None = None
    data_from: str | None = None
    origin: str | None = None
    synthetic: bool = False
    last_updated: dict[str, str] = field(default_factory=dict)
    run: RunRecord | None = None
    started_utc: str | None = None
    first_month: str | None = None  # the data's real span: first and last month with a report received
    last_month: str | None = None
    cut_off: str | None = None  # the data cut-off (analysis meta.as_of)
    document_kind: str = "Clinical Evaluation Report"  # from the kind's report structure
    subject_labels: tuple[str, str] = ("Device name", "Device class")

    @property
    def span_text(self) -> str:
        """The data's real span and cut-off, then the requested window: "reports received 2018-10 to 2021-03 ..."."""
        requested = f"{self.window_start or '?'} to {self.window_end or '?'}"
        if not self.first_month:
            return f"requested {requested} (date FDA received the report); no reports"
        cut = f"; data cut-off {self.cut_off}" if self.cut_off else ""
        return f"reports received {self.first_month} to {self.last_month}{cut} (requested window {requested})"

    @property
    def last_updated_text(self) -> str:
        if not self.last_updated:
            return "not reported by the sources"
        dates = set(self.last_updated.values())
        if len(dates) == 1:
            return f"{dates.pop()} (all sources)"
        return "; ".join(f"{name} {date}" for name, date in sorted(self.last_updated.items()))

    @property
    def title(self) -> str:
        name = f" {self.device_name}" if self.device_name else ""
        return f"{self.document_kind}: {self.code}{name}".strip()


def _report_words(params: Any) -> dict[str, Any]:
    """The document's name and the title block's subject labels, from the kind's report structure."""
    if params is None:
        return {}
    from ..profiles import profile_of

    structure = _tolerant(lambda: profile_of(params).report)
    return {"document_kind": structure.document_kind, "subject_labels": structure.subject_labels} if structure else {}


def read_run_info(run_dir: Path) -> RunInfo:
    """What the title block and the book say about a run, from its typed files; a file that is
    missing or unreadable leaves its items unknown (the book still lists the run)."""
    folder = RunFolder(run_dir)
    params = _tolerant(folder.parameters)
    run = _tolerant(lambda: folder.run_record(missing_ok=True))
    status = _tolerant(lambda: folder.collect_status(missing_ok=True))
    resolution = _tolerant(lambda: folder.resolution(missing_ok=True)) if params is not None else None
    last_updated = {name: s.last_updated for name, s in status.sources.items() if s.last_updated} if status else {}
    return RunInfo(
        run_dir=folder.path,
        code=(params.code if params else None) or (run.code if run else None) or folder.path.resolve().parent.name,
        kind=params.kind.value if params else run.kind if run else "product_code",
        run_id=run.run_id if run else folder.run_id,
        device_name=resolution.subject_name if resolution else None,
        device_class=device_class_text(resolution.subject_class) if resolution else None,
        **_report_words(params),
        window_start=str(params.window.start) if params else None,
        window_end=str(params.window.end) if params and params.window.end else None,
        **_data_span(folder),
        data_from=params.data_from if params else None,
        origin=status.origin if status else None,
        synthetic=status.synthetic if status else False,
        last_updated=last_updated,
        run=run,
        started_utc=run.started_utc if run else None,
    )


def _data_span(folder: RunFolder) -> dict[str, str | None]:
    """First and last month with reports received, and the cut-off, from ``results/analysis.json`` (empty before stage 03)."""
    analysis = _tolerant(lambda: folder.analysis(missing_ok=True))
    if analysis is None:
        return {}
    months = [str(r.month)[:7] for r in analysis.monthly_counts.rows if r.event_type == "total" and r.n_reports]
    return {"first_month": min(months) if months else None, "last_month": max(months) if months else None,
            "cut_off": str(analysis.meta.as_of)[:10] if analysis.meta.as_of else None}


def _tolerant(read: Any) -> Any:
    try:
        return read()
    except CerError:
        return None


# ==============================================================================================
# Provenance table
# ==============================================================================================


@dataclass
class ProvenanceRow:
    id: str
    label: str  # "Table 3"
    kind: str
    title: str
    sources: list[str]  # what the item draws on, as text (sources and their queries, run data pointers)
    queries: list[dict[str, str]]  # {"label": "Q1-Q3", "href": "#q-1"}: ranges in the query log
    inputs: list[dict[str, str]]  # {"path", "sha256"}


def provenance_rows(run_dir: Path) -> tuple[list[ProvenanceRow], list[dict[str, Any]]]:
    """(a row per exhibit for the provenance annex, the numbered query log)."""
    folder = RunFolder(run_dir)
    requests = folder.requests()
    for number, record in enumerate(requests, start=1):
        record["_n"] = number
    rows = []
    for item in exhibit_provenance(folder):
        queries = [{"label": f"Q{a}" if a == b else f"Q{a}\u2013Q{b}", "href": f"#q-{a}"}
                   for a, b in _ranges(r.number for r in item.requests)]
        rows.append(ProvenanceRow(id=item.id, label=item.label, kind=item.kind, title=item.title,
                                  sources=[q.describe() for q in item.queries] + list(item.data), queries=queries,
                                  inputs=[{"path": i.path, "sha256": i.sha256} for i in item.inputs]))
    return rows, requests


def _input_files(run_dir: Path) -> list[dict[str, Any]]:
    """Files the run read from outside it (mirror files, ...), once each, by path."""
    inputs = RunFolder(run_dir).inputs()
    return sorted(inputs, key=lambda r: (str(r.get("role") or ""), str(r.get("path"))))


def _ranges(numbers: Iterable[int]) -> list[tuple[int, int]]:
    """[1, 2, 3, 7] -> [(1, 3), (7, 7)]."""
    parts: list[list[int]] = []
    for n in sorted(set(numbers)):
        if parts and parts[-1][1] == n - 1:
            parts[-1][1] = n
        else:
            parts.append([n, n])
    return [(a, b) for a, b in parts]


# ==============================================================================================
# Rendering
# ==============================================================================================


def css_string(text: str) -> str:
    """A double-quoted CSS string for any text (every non-alphanumeric character escaped)."""
    return '"' + "".join(ch if ch.isalnum() and ch.isascii() else f"\\{ord(ch):06x}" for ch in text) + '"'


def _page_css(info: RunInfo) -> str:
    """@page rules carrying run-specific text (running header, synthetic marker)."""
    header = css_string(f"CER {info.code} \u00b7 run {info.run_id}")
    font = 'font-family: "CER Sans", "DejaVu Sans", sans-serif; font-size: 8pt; color: #555;'
    synthetic = (
        f"@top-right {{ content: \"SYNTHETIC DATA\"; {font} color: #b00020; font-weight: bold; }}"
        if info.synthetic else ""
    )
    return (
        "@page { size: A4; margin: 20mm 16mm 18mm 16mm;"
        f" @top-left {{ content: {header}; {font} }}"
        f" {synthetic}"
        f" @bottom-center {{ content: \"page \" counter(page) \" of \" counter(pages); {font} }} }}"
    )


class _Renderer:
    """Two nbconvert exporters on the ``cer`` template: the report part, and the annex notebooks (and the page)."""

    def __init__(self) -> None:
        from nbconvert import HTMLExporter

        common = dict(template_name=TEMPLATE_NAME, extra_template_basedirs=[str(TEMPLATES_DIR)],
                      embed_images=True, sanitize_html=False)
        self.report = HTMLExporter(exclude_input_prompt=True, exclude_output_prompt=True, **common)
        self.appendix = HTMLExporter(**common)  # also renders the page around both

    def fragment(self, exporter: Any, nb: nbformat.NotebookNode, run_dir: Path, name: str, **cer: Any) -> str:
        resources = {"metadata": {"path": str(run_dir), "name": name}, "cer": {"mode": "fragment", **cer}}
        body, _ = exporter.from_notebook_node(nb, resources=resources)
        return body


def render_cer_html(run_dir: Path) -> str:
    """The complete ``cer.html`` of a run folder, as a string."""
    run_dir = Path(run_dir)
    folder = RunFolder(run_dir)
    report_path = folder.notebook_path(REPORT_STAGE)
    if not report_path.is_file():
        raise ReportError(f"{run_dir}: {report_path.name} is missing; run the report stage first")
    info = read_run_info(run_dir)
    renderer = _Renderer()
    used_ids: set[str] = {"cer-title", "contents", "report", "annex-1", "annex-2", "annex-3",
                          "provenance-items", "provenance-queries", "provenance-inputs"}

    # report part
    raw_report = read_notebook(report_path)
    report_nb, shown = prepare_report(clean_notebook_outputs(raw_report, base_dir=run_dir))
    report_html = renderer.fragment(renderer.report, report_nb, run_dir, REPORT_STAGE, fold_code=True)
    seen_styles: set[str] = set()
    report = sanitize_fragment(report_html, base_dir=run_dir, used_ids=used_ids, collect_headings=True,
                               seen_styles=seen_styles)
    page_ids = set(report.ids)

    # annex 1: the five notebooks (figures the report shows become links to them)
    figures = figure_anchors(folder)
    appendix = []
    for number, stage in enumerate(STAGES, start=1):
        path = folder.notebook_path(stage)
        entry = {"id": f"annex-1-{number}", "label": f"1.{number}", "stage": stage,
                 "title": STAGE_TITLES.get(stage, stage), "html": None}
        used_ids.add(entry["id"])
        if path.is_file():
            nb = prepare_appendix(read_notebook(path), number, shown if stage == REPORT_STAGE else {}, figures)
            nb = clean_notebook_outputs(nb, base_dir=run_dir)
            body = renderer.fragment(renderer.appendix, nb, run_dir, stage, fold_code=False)
            entry["html"] = sanitize_fragment(body, base_dir=run_dir, used_ids=used_ids, id_prefix=f"a{number}-",
                                              heading_shift=2, seen_styles=seen_styles).html
        appendix.append(entry)

    rows, requests = provenance_rows(run_dir)
    shows_reproduce = mentions_reproduce(raw_report) or any("reproduce" in i for i in page_ids)
    record = info.run
    reproduce = None if shows_reproduce else {
        "commands": list(record.reproduce) if record else [],
        "command": record.command if record else None,
        "code_version": record.code_version.model_dump() if record else {},
        "tool_version": record.tool_version if record else None,
    }
    toc = [{"level": 1, "id": "report", "text": "Report"}]
    toc += [{"level": min(h.level, 3) + 1, "id": h.id, "text": h.text} for h in report.headings if h.level <= 3]
    toc.append({"level": 1, "id": "annex-1", "text": "Annex 1. Executed notebooks"})
    toc += [{"level": 2, "id": a["id"], "text": f"{a['label']} {a['stage']}: {a['title']}"} for a in appendix]
    toc.append({"level": 1, "id": "annex-2", "text": "Annex 2. Provenance of tables and figures"})
    if reproduce is not None:
        toc.append({"level": 1, "id": "annex-3", "text": "Annex 3. How to reproduce this report"})

    cer = {
        "mode": "document",
        "info": info,
        "title": info.title,
        "toc": toc,
        "report_html": report.html,
        "appendix": appendix,
        "rows": rows,
        "page_ids": page_ids,
        "requests": requests,
        "inputs": _input_files(run_dir),
        "reproduce": reproduce,
        "tool_version": __version__,
        "generated_utc": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "screen_css": (STATIC_DIR / "cer.css").read_text(encoding="utf-8"),
        "print_css": _page_css(info) + "\n" + (STATIC_DIR / "print.css").read_text(encoding="utf-8"),
    }
    resources = {"metadata": {"path": str(run_dir), "name": "cer"}, "cer": cer}
    document, _ = renderer.appendix.from_notebook_node(nbformat.v4.new_notebook(), resources=resources)
    document = printable(document)
    problems = audit_html(document)
    if problems:
        raise ReportError(f"{run_dir}: cer.html would not be safe or self-contained: " + "; ".join(problems[:5]))
    return document

