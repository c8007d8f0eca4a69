"""The query engine: one in-process DuckDB database holding every loaded unit's records.

Two tables: ``records`` (one row per record per source: endpoint, unit, file, line, priority,
key, bridge, whether it is the live copy, the openFDA-shaped JSON) and ``fields`` (one row per
searchable value). A unit's converted tables (Arrow, or Parquet from the derived cache) are
appended as they are; ``rec_id`` = a per-unit base + the unit's ``row_no``. A unit whose records
are built on demand (`FileFormat.record_sql`: a FAERS quarter) leaves ``record_json`` empty and
adds its parts as Arrow views ``part_<n>_<name>``; a search builds the JSON of the records it
returns, and only those. Search, total and count run the SQL of `query` on the live records.
Counting follows openFDA:

- on a date field: ``{"time": "YYYYMMDD", "count"}`` per day, sorted by time, complete (openFDA
  returns the whole timeseries; ``limit`` does not cut it);
- on a term field with ``.exact``: ``{"term", "count"}`` sorted by count descending then term, at
  most ``limit`` rows; without ``.exact`` it counts lower-cased words, as openFDA's analysed
  fields do;
- counts are numbers of DISTINCT records: a report that lists a term twice counts once.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable, Mapping

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from ..base import Query
from . import dedup
from .endpoints import EndpointSpec
from .query import order_sql, where_sql

__all__ = ["RecordStore"]


class RecordStore:
    """The engine's DuckDB database (not thread-safe: the mirror serialises calls)."""

    def __init__(self) -> None:
        self._con = duckdb.connect(":memory:")
        self._con.execute(
            "CREATE TABLE records (rec_id BIGINT, endpoint VARCHAR, unit VARCHAR, source_file VARCHAR, source_line BIGINT, "
            "row_no BIGINT, priority INTEGER, natural_key VARCHAR, bridge VARCHAR, dedup_key VARCHAR, live BOOLEAN, "
            "record_json VARCHAR)"
        ).fetchall()
        self._con.execute("CREATE TABLE fields (rec_id BIGINT, field VARCHAR, value VARCHAR)").fetchall()
        self._next_id = 1
        self._builders: dict[str, Callable[[str], str]] = {}  # unit -> SQL of its records' JSON, given the wanted rows

    def close(self) -> None:
        self._con.close()

    def sql(self, statement: str, params: list[Any] | tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        """Run one statement with bound parameters and fetch everything (DuckDB wants results consumed)."""
        return self._con.execute(statement, list(params)).fetchall()

    # -- loading -------------------------------------------------------------------------------

    def add(self, unit: str, endpoint: str, priority: int, records: pa.Table | Path, fields: pa.Table | Path,
            dating: str | None = None, parts: Mapping[str, pa.Table | Path] | None = None,
            record_sql: Callable[[Mapping[str, str], str], str | None] | None = None) -> str | None:
        """Append a unit's tables (Arrow, or Parquet files); returns its latest ``dating`` value, if any.
        With ``parts``, ``record_sql(part tables, wanted table)`` builds the JSON its records leave empty."""
        if parts:
            self._add_parts(unit, parts, record_sql)
        registered = []
        sources = []
        for name, table in (("unit_records", records), ("unit_fields", fields)):
            if isinstance(table, pa.Table):
                self._con.register(name, table)
                registered.append(name)
                sources.append((name, []))
            else:
                sources.append(("read_parquet(?)", [str(table)]))
        (records_from, records_params), (fields_from, fields_params) = sources
        try:
            last_row = self.sql(f"SELECT coalesce(max(row_no), 0) FROM {records_from}", records_params)[0][0]
            base = self._next_id  # rec_id = base + row_no: unique across units
            self._next_id += int(last_row) + 1
            self.sql(
                "INSERT INTO records SELECT ? + row_no, ?, ?, source_file, source_line, row_no, ?, natural_key, bridge, "
                f"NULL, TRUE, record_json FROM {records_from}",
                [base, endpoint, unit, priority, *records_params],
            )
            self.sql(f"INSERT INTO fields SELECT ? + row_no, field, value FROM {fields_from}", [base, *fields_params])
            if not dating:
                return None
            return self.sql(
                "SELECT max(value) FROM fields WHERE field = ? AND rec_id BETWEEN ? AND ?", [dating, base, base + last_row]
            )[0][0]
        finally:
            for name in registered:
                self._con.unregister(name)

    def _add_parts(self, unit: str, parts: Mapping[str, pa.Table | Path],
                   record_sql: Callable[[Mapping[str, str], str], str | None] | None) -> None:
        """Register a unit's parts as Arrow views ``part_<n>_<name>`` (read, never copied: only the
        records a search returns are built from them)."""
        number = len(self._builders) + 1
        tables = {name: f"part_{number}_{name}" for name in parts}
        if record_sql is None or record_sql(tables, "wanted") is None:
            raise ValueError(f"{unit}: parts given without the SQL that builds records from them")
        for name, part in parts.items():
            self._con.register(tables[name], part if isinstance(part, pa.Table) else pq.read_table(part))
        self._builders[unit] = lambda wanted: record_sql(tables, wanted)

    def _with_json(self, rows: list[tuple[str, int, str | None]]) -> list[dict[str, Any]]:
        """The records of ``(unit, row_no, record_json)`` rows, in order; empty JSON built by the unit's SQL."""
        built: dict[tuple[str, int], str] = {}
        missing: dict[str, list[int]] = {}
        for unit, row_no, text in rows:
            if text is None:
                missing.setdefault(unit, []).append(row_no)
        for unit, row_nos in missing.items():
            self._con.register("wanted", pa.table({"row_no": pa.array(row_nos, pa.int64())}))
            try:
                built.update(((unit, n), text) for n, text in self.sql(self._builders[unit]("wanted")))
            finally:
                self._con.unregister("wanted")
        return [json.loads(text if text is not None else built[(unit, row_no)]) for unit, row_no, text in rows]

    def deduplicate(self, endpoint: EndpointSpec) -> list[dedup.Conflict]:
        """Mark the live copy of every record of the endpoint; returns the keys whose copies conflict."""
        dedup.deduplicate(self.sql, endpoint)
        return dedup.conflicts(self.sql, endpoint)

    def collapsed_per_file(self) -> dict[str, tuple[int, int]]:
        return dedup.collapsed_per_file(self.sql)

    # -- queries -------------------------------------------------------------------------------

    def total(self, endpoint: EndpointSpec, query: Query) -> int:
        where, params = where_sql(endpoint, query)
        return int(self.sql(f"SELECT count(*) FROM records r WHERE {where}", params)[0][0])

    def search(self, endpoint: EndpointSpec, query: Query, *, limit: int | None, sort: str | None) -> tuple[int, list[dict[str, Any]]]:
        """``(total, records)``: the number of matching records and the first ``limit`` of them."""
        total = self.total(endpoint, query)
        where, params = where_sql(endpoint, query)
        join, order, order_params = order_sql(endpoint, sort)
        statement = f"SELECT r.unit, r.row_no, r.record_json FROM records r {join} WHERE {where} ORDER BY {order}"
        all_params = order_params + params
        if limit is not None:
            statement += " LIMIT ?"
            all_params.append(limit)
        return total, self._with_json(self.sql(statement, all_params))

    def field_values(self, endpoint: EndpointSpec, query: Query, field: str) -> pa.Table:
        """``rec_id, value``: every value of ``field`` in the live records matching ``query`` (no JSON parsed)."""
        where, params = where_sql(endpoint, query)
        return self._con.sql(
            f"SELECT f.rec_id, f.value FROM fields f WHERE f.field = ? AND f.rec_id IN (SELECT r.rec_id FROM records r "
            f"WHERE {where})", params=[endpoint.field(field).name, *params]).to_arrow_table()

    def count(self, endpoint: EndpointSpec, query: Query, field: str, *, limit: int) -> list[dict[str, Any]]:
        """openFDA ``count=field`` rows over the matching records (see the module docstring)."""
        exact = field.endswith(".exact")
        spec = endpoint.field(field[: -len(".exact")] if exact else field)
        where, params = where_sql(endpoint, query)
        if spec.kind == "date":
            rows = self.sql(
                "SELECT f.value AS time, count(DISTINCT f.rec_id) AS n FROM fields f JOIN records r USING (rec_id) "
                f"WHERE f.field = ? AND {where} GROUP BY f.value ORDER BY f.value",
                [spec.name, *params],
            )
            return [{"time": t, "count": int(n)} for t, n in rows]
        if exact:
            statement = (
                "SELECT f.value AS term, count(DISTINCT f.rec_id) AS n FROM fields f JOIN records r USING (rec_id) "
                f"WHERE f.field = ? AND {where} GROUP BY f.value ORDER BY n DESC, term LIMIT ?"
            )
        else:
            statement = (
                "SELECT term, count(DISTINCT rec_id) AS n FROM ("
                "  SELECT f.rec_id, unnest(regexp_extract_all(lower(f.value), '[a-z0-9]+')) AS term"
                f"  FROM fields f JOIN records r USING (rec_id) WHERE f.field = ? AND {where}"
                ") GROUP BY term ORDER BY n DESC, term LIMIT ?"
            )
        return [{"term": t, "count": int(n)} for t, n in self.sql(statement, [spec.name, *params, limit])]

    def live_records(self, endpoint: str) -> list[dict[str, Any]]:
        """The live records of an endpoint, in file order."""
        return self._with_json(self.sql(
            "SELECT r.unit, r.row_no, r.record_json FROM records r WHERE r.endpoint = ? AND r.live "
            "ORDER BY r.priority, r.unit, r.row_no", [endpoint]))
