"""What stage 01 left in ``collected/``, read tolerantly for stage 02.

Integration must never crash on its input: an absent file is an empty input, an unreadable line is
skipped, a status that is not JSON is ignored, and each of these becomes a note in the tables'
summary. `RunFolder.collected` is the entry point.
"""
from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import RunFileError
from . import layout
from .models import CollectStatus, Resolution

if TYPE_CHECKING:
    from .folder import RunFolder

__all__ = ["CollectedInputs", "read_collected", "read_jsonl"]


@dataclass
class CollectedInputs:
    """Everything 01_collect left in ``collected/``, parsed; ``notes`` lists what could not be read."""

    records: dict[str, list[Any]] = field(default_factory=dict)
    counts: list[Any] = field(default_factory=list)
    totals: list[Any] = field(default_factory=list)
    resolution: Resolution | None = None
    status: CollectStatus | None = None
    files: dict[str, str] = field(default_factory=dict)  # path relative to the run folder -> sha256
    notes: list[str] = field(default_factory=list)


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


def read_collected(folder: "RunFolder", sources: Iterable[str], resolution_model: type[Resolution]) -> CollectedInputs:
    """Parse ``collected/`` as 01_collect writes it: the records of ``sources`` and the resolution as
    ``resolution_model`` (both from the run's profile)."""
    sources = tuple(sources)
    inputs = CollectedInputs()
    notes = inputs.notes
    collected = folder.file(layout.COLLECTED)
    if collected.is_dir():
        for path in sorted(p for p in collected.rglob("*") if p.is_file()):
            inputs.files[folder.relative(path)] = folder.sha256(folder.relative(path)) or ""
    else:
        notes.append(f"{layout.COLLECTED}/ not found: every table is empty")
    inputs.status = _tolerant(folder.collect_status, layout.COLLECT_STATUS, notes)
    inputs.resolution = _tolerant(lambda **kw: folder.resolution(resolution_model, **kw), layout.RESOLUTION, notes)
    for name in sources:
        inputs.records[name] = read_jsonl(folder.file(layout.records(name)), notes, f"records/{name}.jsonl")
    records_dir = folder.file(layout.RECORDS)
    if records_dir.is_dir():
        unknown = sorted(p.name for p in records_dir.glob("*.jsonl") if p.stem not in sources)
        if unknown:
            notes.append(f"records files not used by any table: {', '.join(unknown)}")
    inputs.counts = read_jsonl(folder.file(layout.COUNTS), notes, "counts.jsonl")
    inputs.totals = read_jsonl(folder.file(layout.TOTALS), notes, "totals.jsonl")
    return inputs


def _tolerant(read: Any, name: str, notes: list[str]) -> Any:
    try:
        value = read(missing_ok=True)
    except RunFileError as exc:
        notes.append(f"{name} could not be read ({exc}); ignored")
        return None
    if value is None:
        notes.append(f"{name} not found")
    return value
