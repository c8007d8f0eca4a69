"""openFDA-shaped records as the two Arrow tables the query engine loads.

``records``: one row per record (``row_no``, ``source_file``, ``source_line``, ``natural_key``,
``bridge``, ``record_json``); ``fields``: one row per searchable value (``row_no``, ``field``,
``value``), the values of a record's list fields flattened, blank values dropped, dates as
``YYYYMMDD``. A format that builds these tables itself (the MAUDE sheets) uses the same schemas.
"""
from __future__ import annotations

import json
from typing import Any, Iterable, Sequence

import pyarrow as pa

from ...dates import compact_date
from .endpoints import EndpointSpec

__all__ = ["RECORDS_SCHEMA", "FIELDS_SCHEMA", "values_at", "clean_values", "key_of", "record_tables"]

RECORDS_SCHEMA = pa.schema([
    ("row_no", pa.int64()),
    ("source_file", pa.string()),  # relative to the mirror folder
    ("source_line", pa.int64()),  # the line (or sheet row) the record came from, when the format knows it
    ("natural_key", pa.string()),
    ("bridge", pa.string()),
    ("record_json", pa.string()),
])
FIELDS_SCHEMA = pa.schema([("row_no", pa.int64()), ("field", pa.string()), ("value", pa.string())])


def values_at(record: Any, path: str) -> list[Any]:
    """Leaf values at a dotted openFDA path, looking into lists at every level."""
    current = [record]
    for part in path.split("."):
        following = []
        for item in current:
            for obj in item if isinstance(item, list) else [item]:
                if isinstance(obj, dict) and part in obj:
                    following.append(obj[part])
        current = following
    leaves: list[Any] = []
    for item in current:
        leaves.extend(item if isinstance(item, list) else [item])
    return [v for v in leaves if not isinstance(v, (dict, list))]


def clean_values(values: Iterable[Any], kind: str = "term") -> list[str]:
    """Distinct non-blank values as text, in order; dates as ``YYYYMMDD`` (unreadable dates dropped)."""
    seen: dict[str, None] = {}
    for value in values:
        if value is None or isinstance(value, bool):
            continue
        text = str(value).strip()
        if kind == "date":
            text = compact_date(text) or ""
        if text:
            seen[text] = None
    return list(seen)


def key_of(paths: Sequence[str], record: dict[str, Any]) -> str:
    """The key of a record: the first value at each path, joined with ``/``; "" without a first part."""
    if not paths:
        return ""
    parts = []
    for path in paths:
        values = clean_values(values_at(record, path))
        parts.append(values[0] if values else "")
    if not parts[0]:
        return ""
    return "/".join(parts)


def record_tables(
    endpoint: EndpointSpec,
    records: Sequence[dict[str, Any]],
    sources: Sequence[str],
    lines: Sequence[int | None] | None = None,
) -> tuple[pa.Table, pa.Table]:
    """The records and fields tables of ``records`` (``sources[i]``: the file of record i)."""
    specs = list(endpoint.fields.values())
    lines = lines if lines is not None else [None] * len(records)
    keys, bridges, texts = [], [], []
    field_rows: list[int] = []
    field_names: list[str] = []
    field_values: list[str] = []
    for row_no, record in enumerate(records, 1):
        keys.append(key_of(endpoint.key, record))
        bridges.append(key_of((endpoint.bridge,), record) if endpoint.bridge else "")
        texts.append(json.dumps(record, ensure_ascii=False, separators=(",", ":")))
        for spec in specs:
            for value in clean_values(values_at(record, spec.name), spec.kind):
                field_rows.append(row_no)
                field_names.append(spec.name)
                field_values.append(value)
    records_table = pa.table({
        "row_no": pa.array(range(1, len(records) + 1), pa.int64()),
        "source_file": pa.array(list(sources), pa.string()),
        "source_line": pa.array(list(lines), pa.int64()),
        "natural_key": pa.array(keys, pa.string()),
        "bridge": pa.array(bridges, pa.string()),
        "record_json": pa.array(texts, pa.string()),
    }, schema=RECORDS_SCHEMA)
    fields_table = pa.table({
        "row_no": pa.array(field_rows, pa.int64()),
        "field": pa.array(field_names, pa.string()),
        "value": pa.array(field_values, pa.string()),
    }, schema=FIELDS_SCHEMA)
    return records_table, fields_table
