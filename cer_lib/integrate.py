"""Stage 02_integrate: collected openFDA / Eudamed records -> validated tidy tables.

Reads ``collected/`` (written by 01_collect)::

    status.json, resolution.json, records/<source>.jsonl, counts.jsonl, totals.jsonl

and writes ``tables/<table>.parquet`` for every table in `cer_lib.tables.schemas.TABLES` plus
``tables/summary.json`` (per table: rows, columns, key, duplicates removed, notes; and the sha256 of
every collected file it read). Every file is written under a temporary name and renamed into place,
and ``summary.json`` is written last, so a folder with a summary holds a complete set of tables.

Missing or empty inputs give empty tables with the right columns and dtypes, never a crash. A table
that fails its schema raises `TableSchemaError` and nothing more is written.

The analysis and report stages read the tables with `load_tables`, which checks them against the
same schemas.
"""
from __future__ import annotations

import html
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from .context import RunContext
from .errors import TablesNotFound
from .files import write_bytes_atomic, write_text_atomic
from .provenance import sha256_file
from .tables.device import TidyTable, build_device_tables
from .tables.schemas import TABLE_NAMES, TABLES, validate_table

SUMMARY_FILE = "summary.json"
SUMMARY_VERSION = 1

# collected/records/<name>.jsonl and collected/status.json source names
RECORD_SOURCES = (
    "device_event",
    "device_recall",
    "device_enforcement",
    "device_510k",
    "device_pma",
    "device_classification",
    "device_udi",
    "device_registrationlisting",
    "eudamed",
)

# which collected sources feed which table (for the source-status notes)
TABLE_SOURCES: dict[str, tuple[str, ...]] = {
    "events": ("device_event",),
    "event_devices": ("device_event",),
    "event_problems": ("device_event",),
    "event_texts": ("device_event",),
    "patient_outcomes": ("device_event",),
    "recalls": ("device_recall",),
    "enforcement": ("device_enforcement",),
    "submissions": ("device_510k", "device_pma"),
    "products": ("device_classification", "device_udi", "device_registrationlisting", "eudamed"),
    "event_counts": ("device_event",),
    "problem_counts": ("device_event",),
    "report_totals": ("device_event",),
}


# --------------------------------------------------------------------------------------------
# reading collected/


@dataclass
class CollectedInputs:
    """Everything 01_collect left in ``collected/``, parsed; ``notes`` lists what could not be read."""

    records: dict[str, list[Any]] = field(default_factory=dict)
    counts: list[Any] = field(default_factory=list)
    totals: list[Any] = field(default_factory=list)
    resolution: dict[str, Any] = field(default_factory=dict)
    status: dict[str, Any] = field(default_factory=dict)
    files: dict[str, str] = field(default_factory=dict)  # path relative to the run folder -> sha256
    notes: list[str] = field(default_factory=list)


def _read_json_object(path: Path, notes: list[str], label: str) -> dict[str, Any]:
    if not path.is_file():
        notes.append(f"{label} not found")
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        notes.append(f"{label} is not valid JSON ({exc}); ignored")
        return {}
    if not isinstance(data, dict):
        notes.append(f"{label} is not a JSON object; ignored")
        return {}
    return data


def read_jsonl(path: Path, notes: list[str], label: str) -> list[Any]:
    """The JSON values of a JSON-lines file; blank lines skipped, unreadable lines skipped and noted."""
    if not path.is_file():
        return []
    values: list[Any] = []
    bad: list[int] = []
    with open(path, encoding="utf-8", errors="replace") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                values.append(json.loads(line))
            except json.JSONDecodeError:
                bad.append(number)
    if bad:
        shown = ", ".join(str(n) for n in bad[:5]) + (" ..." if len(bad) > 5 else "")
        notes.append(f"{label}: {len(bad)} line(s) not valid JSON, skipped (line {shown})")
    return values


def read_collected(collected_dir: Path) -> CollectedInputs:
    """Parse ``collected/`` as 01_collect writes it; absent files are empty inputs."""
    collected_dir = Path(collected_dir)
    inputs = CollectedInputs()
    notes = inputs.notes
    if collected_dir.is_dir():
        for path in sorted(p for p in collected_dir.rglob("*") if p.is_file()):
            relative = Path(collected_dir.name) / path.relative_to(collected_dir)
            inputs.files[relative.as_posix()] = sha256_file(path)
    else:
        notes.append(f"{collected_dir.name}/ not found: every table is empty")
    inputs.status = _read_json_object(collected_dir / "status.json", notes, "collected/status.json")
    inputs.resolution = _read_json_object(collected_dir / "resolution.json", notes, "collected/resolution.json")
    records_dir = collected_dir / "records"
    for name in RECORD_SOURCES:
        inputs.records[name] = read_jsonl(records_dir / f"{name}.jsonl", notes, f"records/{name}.jsonl")
    if records_dir.is_dir():
        unknown = sorted(p.name for p in records_dir.glob("*.jsonl") if p.stem not in RECORD_SOURCES)
        if unknown:
            notes.append(f"records files not used by any table: {', '.join(unknown)}")
    inputs.counts = read_jsonl(collected_dir / "counts.jsonl", notes, "counts.jsonl")
    inputs.totals = read_jsonl(collected_dir / "totals.jsonl", notes, "totals.jsonl")
    return inputs


def source_notes(status: Mapping[str, Any], sources: Iterable[str]) -> list[str]:
    """Notes for a table from ``status.json``: sources that were not fetched, and samples/truncation."""
    notes = []
    listed = status.get("sources") if isinstance(status.get("sources"), Mapping) else {}
    for name in sources:
        entry = listed.get(name)
        if not isinstance(entry, Mapping):
            continue
        state = entry.get("status")
        reason = f": {entry.get('reason')}" if entry.get("reason") else ""
        if state not in (None, "ok"):
            notes.append(f"source {name} {state}{reason}")
        total, fetched = entry.get("total"), entry.get("fetched")
        if state == "ok" and isinstance(total, int) and isinstance(fetched, int) and fetched < total:
            notes.append(f"source {name}: {fetched} of {total} matching records fetched (a sample)")
        if entry.get("truncated") and state == "ok":
            notes.append(f"source {name}: results truncated at the source limit")
    return notes


# --------------------------------------------------------------------------------------------
# summary


@dataclass
class TableSummary:
    name: str
    rows: int
    columns: dict[str, str]  # column -> dtype, in order
    key: tuple[str, ...]
    duplicates_removed: int
    notes: list[str]
    counters: dict[str, int] = field(default_factory=dict)
    grain: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "rows": self.rows,
            "grain": self.grain,
            "columns": list(self.columns),
            "dtypes": self.columns,
            "key": list(self.key),
            "duplicates_removed": self.duplicates_removed,
            "counters": self.counters,
            "notes": self.notes,
        }

    @classmethod
    def from_json(cls, name: str, data: Mapping[str, Any]) -> "TableSummary":
        dtypes = data.get("dtypes") or {c: "" for c in data.get("columns", [])}
        return cls(
            name=name,
            rows=int(data.get("rows", 0)),
            columns=dict(dtypes),
            key=tuple(data.get("key", ())),
            duplicates_removed=int(data.get("duplicates_removed", 0)),
            notes=list(data.get("notes", [])),
            counters=dict(data.get("counters", {})),
            grain=data.get("grain", ""),
        )


@dataclass(repr=False)
class IntegrateSummary:
    """What 02_integrate produced: one `TableSummary` per table, the input hashes and general notes."""

    tables: dict[str, TableSummary]
    inputs: dict[str, str]
    notes: list[str] = field(default_factory=list)
    tables_dir: Path | None = None

    def __getitem__(self, name: str) -> TableSummary:
        return self.tables[name]

    def to_frame(self) -> pd.DataFrame:
        """One row per table: rows, key, duplicates removed, notes."""
        return pd.DataFrame(
            [
                {
                    "table": t.name,
                    "rows": t.rows,
                    "columns": len(t.columns),
                    "key": ", ".join(t.key),
                    "duplicates_removed": t.duplicates_removed,
                    "notes": "; ".join(t.notes),
                }
                for t in self.tables.values()
            ],
            columns=["table", "rows", "columns", "key", "duplicates_removed", "notes"],
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "summary_version": SUMMARY_VERSION,
            "tables": {name: t.to_json() for name, t in self.tables.items()},
            "inputs": self.inputs,
            "notes": self.notes,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any], tables_dir: Path | None = None) -> "IntegrateSummary":
        tables = {name: TableSummary.from_json(name, t) for name, t in (data.get("tables") or {}).items()}
        return cls(tables, dict(data.get("inputs") or {}), list(data.get("notes") or []), tables_dir)

    def __str__(self) -> str:
        width = max((len(n) for n in self.tables), default=5)
        lines = [f"integrated {len(self.tables)} tables from {len(self.inputs)} collected file(s)"]
        lines.append(f"  {'table':<{width}}  {'rows':>7}  {'dupes':>5}  key")
        for t in self.tables.values():
            lines.append(f"  {t.name:<{width}}  {t.rows:>7}  {t.duplicates_removed:>5}  {', '.join(t.key)}")
            lines.extend(f"  {'':<{width}}    - {note}" for note in t.notes)
        if self.notes:
            lines.append("notes:")
            lines.extend(f"  - {note}" for note in self.notes)
        return "\n".join(lines)

    def __repr__(self) -> str:
        return str(self)

    def _repr_html_(self) -> str:
        notes = "".join(f"<li>{html.escape(n)}</li>" for n in self.notes)
        return self.to_frame().to_html(index=False, escape=True) + (f"<p>Notes:</p><ul>{notes}</ul>" if notes else "")


# --------------------------------------------------------------------------------------------
# the stage


def write_table(frame: pd.DataFrame, target: Path) -> None:
    """Write one table as Parquet under a temporary name, then rename it into place."""
    write_bytes_atomic(target, lambda tmp: frame.to_parquet(tmp, index=False))


def write_summary(summary: IntegrateSummary, target: Path) -> None:
    write_text_atomic(target, json.dumps(summary.to_json(), indent=2, ensure_ascii=False, default=str) + "\n")


def _general_notes(inputs: CollectedInputs) -> list[str]:
    notes = list(inputs.notes)
    status = inputs.status
    if status.get("synthetic"):
        notes.append("the collected data are SYNTHETIC (demo data), not real reports")
    if status.get("offline"):
        notes.append("collected offline: cached responses only")
    if status.get("origin"):
        where = status.get("mirror") or status.get("base_url")
        notes.append(f"data origin: {status['origin']}" + (f" ({where})" if where else ""))
    return notes


def summarise(tables: Mapping[str, TidyTable], inputs: CollectedInputs, tables_dir: Path | None = None) -> IntegrateSummary:
    """The summary of built tables (no I/O)."""
    summaries = {}
    for name, table in tables.items():
        spec = TABLES[name]
        summaries[name] = TableSummary(
            name=name,
            rows=len(table.frame),
            columns=spec.dtypes,
            key=spec.key,
            duplicates_removed=table.duplicates_removed,
            notes=source_notes(inputs.status, TABLE_SOURCES.get(name, ())) + table.notes,
            counters=table.counters,
            grain=spec.grain,
        )
    return IntegrateSummary(summaries, dict(inputs.files), _general_notes(inputs), tables_dir)


def integrate(ctx: RunContext) -> IntegrateSummary:
    """Build, validate and write every tidy table of the run; return the summary.

    Raises `TableSchemaError` (naming table, column and values) when a table fails its schema;
    in that case no ``summary.json`` is written.
    """
    inputs = read_collected(ctx.collected_dir)
    tables = build_device_tables(inputs.records, inputs.counts, inputs.totals, inputs.resolution)
    for name, table in tables.items():
        validate_table(name, table.frame)
    tables_dir = ctx.tables_dir
    stale = tables_dir / SUMMARY_FILE
    if stale.exists():
        stale.unlink()  # the folder is complete again only when the new summary is written
    for name, table in tables.items():
        write_table(table.frame, tables_dir / f"{name}.parquet")
    summary = summarise(tables, inputs, tables_dir)
    write_summary(summary, tables_dir / SUMMARY_FILE)
    return summary


# --------------------------------------------------------------------------------------------
# reading the tables back (analysis and report stages)


def load_summary(run_dir: str | Path) -> IntegrateSummary:
    """``tables/summary.json`` of a run folder."""
    tables_dir = Path(run_dir) / "tables"
    path = tables_dir / SUMMARY_FILE
    if not path.is_file():
        raise TablesNotFound(f"{tables_dir} has no {SUMMARY_FILE}: run stage 02_integrate first")
    return IntegrateSummary.from_json(json.loads(path.read_text(encoding="utf-8")), tables_dir)


def load_tables(run_dir: str | Path, names: Iterable[str] | None = None) -> dict[str, pd.DataFrame]:
    """The tidy tables of a run folder, each checked against its schema (raises `TableSchemaError`)."""
    tables_dir = Path(run_dir) / "tables"
    if not (tables_dir / SUMMARY_FILE).is_file():
        raise TablesNotFound(f"{tables_dir} has no {SUMMARY_FILE}: run stage 02_integrate first")
    wanted = list(names) if names is not None else list(TABLE_NAMES)
    loaded = {}
    for name in wanted:
        if name not in TABLES:
            raise KeyError(f"unknown table {name!r}; tables are {', '.join(TABLE_NAMES)}")
        path = tables_dir / f"{name}.parquet"
        if not path.is_file():
            raise TablesNotFound(f"{path} is missing: re-run stage 02_integrate")
        loaded[name] = validate_table(name, pd.read_parquet(path))
    return loaded


__all__ = [
    "CollectedInputs",
    "IntegrateSummary",
    "TableSummary",
    "TablesNotFound",
    "integrate",
    "load_summary",
    "load_tables",
    "read_collected",
    "summarise",
]
