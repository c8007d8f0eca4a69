"""Stage 02_integrate: collected openFDA / Eudamed records -> validated tidy tables.

Reads ``collected/`` (written by 01_collect: status, resolution, records per source, counts, totals)
and writes one Parquet file per table the run's profile builds (`Profile.build_tables`; the schemas
are in `cer_lib.tables.schemas`) plus the tables' summary (per table: rows, columns, key, duplicates
removed, notes; and the sha256 of every collected file it read). Every file is written under a
temporary name and renamed into place, and the summary is written last, so a folder with a summary
holds a complete set of tables.

Missing or empty inputs give empty tables with the right columns and dtypes, never a crash. A table
that fails its schema raises `TableSchemaError` and nothing more is written.

The analysis and report stages read the tables with `RunFolder.tables`, which checks them against
the same schemas.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from .errors import TablesNotFound
from .provenance import display_path
from .runfolder import CollectedInputs, CollectStatus, IntegrateSummary, RunFolder, TableSummary, layout
from .tables.schemas import TABLES, validate_table

if TYPE_CHECKING:
    from .tables.device import TidyTable

__all__ = [
    "CollectedInputs",
    "IntegrateSummary",
    "TableSummary",
    "TablesNotFound",
    "integrate",
    "load_summary",
    "load_tables",
    "source_notes",
    "summarise",
]


def source_notes(status: CollectStatus | None, sources: Iterable[str]) -> list[str]:
    """Notes for a table from the collect status: sources that were not fetched, and samples/truncation."""
    notes = []
    for name in sources:
        entry = status.source(name) if status else None
        if entry is None:
            continue
        state = entry.status
        reason = f": {entry.reason}" if entry.reason else ""
        if state != "ok":
            notes.append(f"source {name} {state}{reason}")
            continue
        if entry.total is not None and entry.fetched < entry.total:
            notes.append(f"source {name}: {entry.fetched} of {entry.total} matching records fetched (a sample)")
        if entry.truncated:
            notes.append(f"source {name}: results truncated at the source limit")
    return notes


def _general_notes(inputs: CollectedInputs) -> list[str]:
    notes = list(inputs.notes)
    status = inputs.status
    if status is None:
        return notes
    if status.synthetic:
        notes.append("the collected data are SYNTHETIC (demo data), not real reports")
    if status.offline:
        notes.append("collected offline: cached responses only")
    if status.origin:
        where = display_path(Path(status.mirror)) if status.mirror else status.base_url  # shown in the report: no host path
        notes.append(f"data origin: {status.origin}" + (f" ({where})" if where else ""))
    return notes


def summarise(tables: Mapping[str, "TidyTable"], inputs: CollectedInputs, feeding: Any) -> IntegrateSummary:
    """The summary of built tables (no I/O); ``feeding(table)`` names the sources a table is built from."""
    summaries = {}
    for name, table in tables.items():
        spec = TABLES[name]
        summaries[name] = TableSummary(
            name=name,
            rows=len(table.frame),
            grain=spec.grain,
            columns=list(spec.dtypes),
            dtypes=spec.dtypes,
            key=list(spec.key),
            duplicates_removed=table.duplicates_removed,
            counters=table.counters,
            notes=source_notes(inputs.status, feeding(name)) + table.notes,
        )
    return IntegrateSummary(tables=summaries, inputs=dict(inputs.files), notes=_general_notes(inputs))


def integrate(ctx: Any) -> IntegrateSummary:
    """Build, validate and write every tidy table of the run (a `RunContext`); return the summary.

    Raises `TableSchemaError` (naming table, column and values) when a table fails its schema;
    in that case no summary is written.
    """
    folder, profile = ctx.folder, ctx.profile
    inputs = folder.collected(profile.source_names, profile.resolution_model)
    tables = profile.build_tables(inputs)
    for name, table in tables.items():
        validate_table(name, table.frame)
    folder.remove(layout.INTEGRATE_SUMMARY)  # the folder is complete again only when the new summary is written
    for name, table in tables.items():
        folder.write_table(name, table.frame)
    summary = summarise(tables, inputs, profile.sources_feeding)
    folder.write_integrate_summary(summary)
    return summary


# --------------------------------------------------------------------------------------------
# reading the tables back (analysis and report stages)


def load_summary(run_dir: str | Path) -> IntegrateSummary:
    """The tables' summary of a run folder."""
    return RunFolder(run_dir).integrate_summary()


def load_tables(run_dir: str | Path, names: Iterable[str] | None = None) -> dict[str, pd.DataFrame]:
    """The tidy tables of a run folder, each checked against its schema (raises `TableSchemaError`)."""
    return RunFolder(run_dir).tables(names)
