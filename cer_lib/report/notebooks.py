"""Executed notebooks made fit to show in cer.html and the book: cleaned outputs, the report part, the annex copies.

`clean_notebook_outputs` removes script outputs and widget state, renders ``text/markdown``
outputs, and sends every HTML and SVG output through the sanitiser (`cer_lib.report.sanitize`);
``text/plain`` stays text (every renderer escapes it). `prepare_report` keeps the cells of the
report part (jupyter-book tags and `ANNEX_ONLY` honoured); `prepare_appendix` gives the annex copy
of a notebook, where outputs already shown in the report become a link to them and figures
already shown in the report (the analyze stage's ``<figure data-cer-figure=…>`` outputs) become a
link to the numbered figure, so that nothing is printed twice.
"""
from __future__ import annotations

import copy
import re
from pathlib import Path

import nbformat

from ..errors import ReportError
from .sanitize import sanitize_html

__all__ = ["ANNEX_ONLY", "clean_notebook_outputs", "mentions_reproduce", "prepare_appendix", "prepare_report",
           "read_notebook"]

_DROP_MIMETYPES = ("application/javascript", "text/javascript", "application/vnd.jupyter.widget-view+json",
                   "application/vnd.jupyter.widget-state+json", "application/vnd.bokehjs_load.v0+json",
                   "application/vnd.bokehjs_exec.v0+json", "application/vnd.holoviews_load.v0+json",
                   "application/vnd.holoviews_exec.v0+json", "text/vnd.mermaid", "application/pdf")
_REPRODUCE = re.compile(r"how\s+to\s+reproduce", re.I)


def clean_notebook_outputs(nb: nbformat.NotebookNode, *, base_dir: Path | None = None) -> nbformat.NotebookNode:
    """Copy of ``nb`` whose outputs can be shown anywhere (cer.html, the book).

    Script outputs and widget state are removed; ``text/html`` and ``image/svg+xml`` are sanitised;
    ``text/markdown`` outputs are rendered and sanitised to ``text/html`` (a markdown renderer
    passes raw HTML through). ``text/plain`` is left as text: every renderer escapes it.
    """
    from nbconvert.filters.markdown_mistune import markdown2html_mistune

    nb = copy.deepcopy(nb)
    nb.metadata.pop("widgets", None)
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        outputs = []
        for output in cell.get("outputs", []):
            if output.get("output_type") in ("display_data", "execute_result"):
                data = output.get("data", {})
                for mime in list(data):
                    if mime in _DROP_MIMETYPES or "javascript" in mime:
                        del data[mime]
                if "text/markdown" in data:
                    rendered = markdown2html_mistune(str(data.pop("text/markdown")))
                    data.setdefault("text/html", rendered)
                for mime in ("text/html", "image/svg+xml"):
                    if mime in data:
                        value = data[mime]
                        text = "".join(value) if isinstance(value, list) else str(value)
                        data[mime] = sanitize_html(text, base_dir=base_dir)
                if not data:
                    continue
            outputs.append(output)
        cell.outputs = outputs
    return nb


def read_notebook(path: Path) -> nbformat.NotebookNode:
    try:
        return nbformat.read(path, as_version=4)
    except Exception as exc:  # nbformat raises several types for a damaged file
        raise ReportError(f"{path}: not a readable notebook ({exc})") from None


# A stage-5 cell that belongs to the code trail but not to the report itself (title, set-up, imports).
ANNEX_ONLY = "cer-annex-only"


def _tags(cell: nbformat.NotebookNode) -> set[str]:
    return set(cell.get("metadata", {}).get("tags", []) or [])


def prepare_report(nb: nbformat.NotebookNode) -> tuple[nbformat.NotebookNode, dict[int, str]]:
    """The report part: jupyter-book style tags and `ANNEX_ONLY` honoured; returns the anchor of each kept cell."""
    kept = []
    anchors: dict[int, str] = {}
    for index, cell in enumerate(nb.cells, start=1):
        tags = _tags(cell)
        if tags & {"remove-cell", "injected-parameters", ANNEX_ONLY}:
            continue
        anchor = f"r-c{index}"
        cell.metadata["cer_anchor"] = anchor
        if cell.cell_type == "code":
            if tags & {"remove-output", "hide-output"}:
                cell.outputs = []
            if "remove-input" in tags:
                cell.metadata.setdefault("transient", {})["remove_source"] = True
            if cell.get("outputs"):
                anchors[index] = anchor
        kept.append(cell)
    nb.cells = kept
    return nb, anchors


#: A figure an output draws: ``<figure data-cer-figure="<analysis figure id>">…</figure>`` (the analyze stage's display).
_DRAWN_FIGURE = re.compile(r'<figure data-cer-figure="([^"]+)">.*?</figure>', re.S)


def _figure_link(anchor: str, label: str) -> str:
    return f'<p class="cer-source">Figure drawn here; it is shown once, in the report: <a href="#{anchor}">{label}</a>.</p>'


def prepare_appendix(nb: nbformat.NotebookNode, number: int, shown_in_report: dict[int, str],
                     figures_in_report: dict[str, tuple[str, str]] | None = None) -> nbformat.NotebookNode:
    """Annex copy: every cell; for 05, outputs already in the report become a link to them; a figure an
    output draws that the report shows (``figures_in_report``: analysis figure id -> (anchor, label))
    becomes a link to it. Call before `clean_notebook_outputs` (the sanitiser drops the figure's id)."""
    figures = figures_in_report or {}

    def link(match: re.Match[str]) -> str:
        return _figure_link(*figures[match.group(1)]) if match.group(1) in figures else match.group(0)

    for index, cell in enumerate(nb.cells, start=1):
        cell.metadata["cer_anchor"] = f"a{number}-c{index}"
        if cell.cell_type != "code":
            continue
        if index in shown_in_report:
            cell.outputs = []
            cell.metadata["cer_output_ref"] = shown_in_report[index]
        for output in cell.get("outputs", []):
            data = output.get("data", {}) if output.get("output_type") in ("display_data", "execute_result") else {}
            if "text/html" in data:
                value = data["text/html"]
                data["text/html"] = _DRAWN_FIGURE.sub(link, "".join(value) if isinstance(value, list) else str(value))
    return nb


def mentions_reproduce(nb: nbformat.NotebookNode) -> bool:
    for cell in nb.cells:
        if cell.cell_type == "markdown" and _REPRODUCE.search(str(cell.source)):
            return True
        for output in cell.get("outputs", []) if cell.cell_type == "code" else []:
            for value in output.get("data", {}).values():
                if isinstance(value, str) and _REPRODUCE.search(value):
                    return True
            if _REPRODUCE.search(str(output.get("text", ""))):
                return True
    return False
