"""What every exhibit (a numbered table or figure of the report) is made of, whatever its family.

A `TableExhibit` has a stable id (``tab-recalls-device``: an HTML anchor and the provenance key,
never printed), a title, the sources its data come from (registry names), the run data it shows
and the run files it is built from, and a ``build`` function that returns its body as HTML from a
`ReportRun`. A `FigureExhibit` names the analysis figure it shows and the table it follows.

Tables are rendered by `frame_html`: columns that are empty in every row are dropped and the note
under the table names them; every cell's text is escaped and made printable
(`cer_lib.report.text.printable`); the page's sanitiser gives long tokens in cells break
opportunities. Nothing here
knows a kind of code: the families (one module each beside this one) do.
"""
from __future__ import annotations

import html
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from ...runfolder import AnalysisFile, CollectStatus, Resolution, RunFolder, RunRecord
from ...sources.base import SourceStatus
from ...sources.registry import SourceSpec, source_spec
from ..facts import NOT_AVAILABLE, Facts, format_value
from ..text import printable

if TYPE_CHECKING:
    from ..narrative import Narrative
    from ..structure import ReportStructure

__all__ = [
    "ALL_SOURCES", "DASH", "FigureExhibit", "ReportRun", "TableExhibit", "ci", "date", "esc", "fmt", "frame_html",
    "notice", "unavailable", "with_ci",
]

DASH = "\u2014"
MAX_TABLE_ROWS = 500
WIDE_COLUMNS = 6  # a table with more columns prints in a smaller type and may break inside words
ALL_SOURCES = ("*",)  # an exhibit about every source of the run's profile


def esc(value: Any) -> str:
    """Any value as escaped, printable HTML text (None and NaN -> an em dash)."""
    if value is None or (not isinstance(value, (str, list, dict)) and pd.isna(value)):
        return DASH
    return html.escape(printable(str(value)), quote=True)


def fmt(value: Any, kind: str) -> str:
    """``value`` formatted as the prose formats it (`cer_lib.report.facts.format_value`); None -> an em dash."""
    return format_value(value, kind)[1] if value is not None else DASH


def ci(lo: Any, hi: Any, kind: str = "ratio") -> str:
    if lo is None and hi is None:
        return ""
    return f"{fmt(lo, kind)} to {fmt(hi, kind)}"


def with_ci(value: Any, lo: Any, hi: Any, kind: str = "ratio") -> str:
    if value is None:
        return DASH
    interval = ci(lo, hi, kind)
    return f"{fmt(value, kind)} ({interval})" if interval else fmt(value, kind)


def date(value: Any) -> str:
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return DASH
    return format_value(value, "date")[1]


def _blank(value: Any) -> bool:
    if value is None or (not isinstance(value, (str, list, dict)) and pd.isna(value)):
        return True
    return isinstance(value, str) and value.strip() in ("", DASH)


def frame_html(frame: pd.DataFrame, table_id: str, *, keep: tuple[str, ...] = ()) -> str:
    """``frame`` as an escaped HTML table (``id = <table_id>-data``), without the columns that are
    empty in every row (``keep`` names columns always shown) and with a note naming those dropped."""
    dropped = [c for c in frame.columns if c not in keep and len(frame) and all(_blank(v) for v in frame[c])]
    shown = frame.drop(columns=dropped).head(MAX_TABLE_ROWS).astype(object)
    shown = shown.where(shown.notna(), DASH)
    shown = shown.map(lambda v: printable(v) if isinstance(v, str) else v)
    shown.columns = [printable(str(c)) for c in shown.columns]
    classes = "cer-table cer-wide" if len(shown.columns) > WIDE_COLUMNS else "cer-table"
    body = shown.to_html(index=False, escape=True, na_rep=DASH, border=0, classes=classes, table_id=table_id + "-data")
    notes = []
    if dropped:
        names = ", ".join(f"\u201c{c}\u201d" for c in dropped)
        notes.append(f"Column{'s' if len(dropped) > 1 else ''} empty in every row, not shown: {names}.")
    if len(frame) > len(shown):
        notes.append(f"First {len(shown):,} of {len(frame):,} rows; all rows are in the run folder.")
    return body + "".join(notice(n, "cer-source cer-table-note") for n in notes)


def notice(text: str, css: str = "cer-unavailable") -> str:
    return f'<p class="{css}">{esc(text)}</p>'


@dataclass
class ReportRun:
    """A run's files as the exhibits read them: loaded once per display (see `cer_lib.report.document`)."""

    folder: RunFolder
    structure: "ReportStructure"
    sources: tuple[SourceSpec, ...]  # the profile's, in report order
    status: CollectStatus
    resolution: Resolution
    analysis: AnalysisFile
    run: RunRecord | None  # absent in a JupyterLab working folder
    tables: dict[str, pd.DataFrame]
    requests: list[dict[str, Any]]
    embed_figures: bool = True
    _narrative: "Narrative | None" = None

    @property
    def run_dir(self) -> Path:
        return self.folder.path

    @property
    def narrative(self) -> "Narrative":
        """``results/narrative.json`` (read on first use: provenance items do not need it)."""
        if self._narrative is None:
            from ..narrative import load_narrative

            self._narrative = load_narrative(self.folder)
        return self._narrative

    @property
    def facts(self) -> Facts:
        return self.narrative.facts

    @property
    def synthetic(self) -> bool:
        return self.status.synthetic

    def source_state(self, name: str) -> SourceStatus | None:
        return self.status.source(name)

    def table(self, name: str) -> pd.DataFrame:
        return self.tables.get(name, pd.DataFrame())


@dataclass(frozen=True)
class TableExhibit:
    """A numbered table of the report."""

    id: str
    title: str
    sources: tuple[str, ...]  # status.json source names the data come from (`ALL_SOURCES`: all of them)
    data: tuple[str, ...]  # what in the run folder (file and selection)
    inputs: tuple[str, ...]  # run-relative files to hash
    build: Callable[[ReportRun], str]
    kind = "table"


@dataclass(frozen=True)
class FigureExhibit:
    """A numbered figure: the analysis figure ``figure`` (its id in ``results/analysis.json``), shown after ``follows``."""

    id: str
    figure: str
    follows: str  # the id of the table it is shown after
    sources: tuple[str, ...]
    kind = "figure"


def sources_of(run: ReportRun, sources: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(s.name for s in run.sources) if sources == ALL_SOURCES else sources


def unavailable(run: ReportRun, *sources: str) -> str | None:
    """A notice when every source of the exhibit was unusable; None when data may be shown."""
    states = [run.source_state(s) for s in sources]
    if not sources or not all(s is not None and s.status in ("unavailable", "error", "disabled") for s in states):
        return None
    parts = []
    for name, state in zip(sources, states):
        assert state is not None
        reason = f" (reason recorded: {state.reason})" if state.reason else ""
        parts.append(f"the source \u201c{source_spec(name).label}\u201d was {state.status} for this run{reason}")
    return "Not available: " + "; ".join(parts) + "."


def text_or(value: Any, default: str = NOT_AVAILABLE) -> str:
    return default if _blank(value) else str(value)
