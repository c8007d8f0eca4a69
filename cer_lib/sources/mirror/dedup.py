"""Records held by several sources, kept once; keys whose copies disagree where they must not.

Records with the same key are kept once: device events by ``mdr_report_key`` (a record without
one, e.g. a publisher CSV row, by its ``report_number`` matched to a keyed record: the endpoint's
``bridge``), 510(k) by ``k_number``, PMA by number + supplement, classification by product code,
UDI by ``public_device_record_key``, enforcement by ``recall_number``, recall by
``product_res_number``, anything else when identical. The fullest source wins (the format's
``priority``: openFDA JSON > MAUDE flat files > publisher CSV / foiclass > publisher sheet), then
the first file in path order, then the first row; an endpoint with ``newest_by`` keeps the copy
with the largest value of that field first (compared as a number when it is one). A record built
on demand (no JSON held) without a key is its own copy: its content is not compared.

Copies of one key that differ in a field of the endpoint's ``must_agree`` (a product code listed
with two classes) are `conflicts`: the mirror refuses the endpoint rather than pick one.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from .endpoints import EndpointSpec

__all__ = ["deduplicate", "Conflict", "conflicts", "collapsed_per_file"]

Sql = Callable[[str, list[Any]], list[tuple[Any, ...]]]


def deduplicate(sql: Sql, endpoint: EndpointSpec) -> None:
    """Mark one record live per key among the endpoint's loaded records."""
    bridge = ""
    if endpoint.bridge:
        bridge = (
            "WHEN r.bridge <> '' AND b.natural_key IS NOT NULL THEN b.natural_key "
            "WHEN r.bridge <> '' THEN 'bridge:' || r.bridge "
        )
    sql(
        f"""
        UPDATE records SET dedup_key = k.dedup_key FROM (
            SELECT r.rec_id, CASE WHEN r.natural_key <> '' THEN r.natural_key {bridge}
                                  ELSE 'content:' || coalesce(md5(r.record_json), r.unit || '#' || r.row_no) END AS dedup_key
            FROM records r LEFT JOIN (
                SELECT bridge, min(natural_key) AS natural_key FROM records
                WHERE endpoint = ? AND natural_key <> '' AND bridge <> ''
                GROUP BY bridge HAVING count(DISTINCT natural_key) = 1
            ) b USING (bridge)
            WHERE r.endpoint = ?
        ) k WHERE records.rec_id = k.rec_id
        """,
        [endpoint.name, endpoint.name],
    )
    newest, join, params = "", "", [endpoint.name]
    if endpoint.newest_by:
        newest = "TRY_CAST(n.v AS HUGEINT) DESC NULLS LAST, n.v DESC NULLS LAST, "
        join = "LEFT JOIN (SELECT rec_id, max(value) AS v FROM fields WHERE field = ? GROUP BY rec_id) n USING (rec_id)"
        params = [endpoint.newest_by, endpoint.name]
    sql(
        f"""
        UPDATE records SET live = (w.rank = 1) FROM (
            SELECT r.rec_id, row_number() OVER (PARTITION BY r.dedup_key ORDER BY {newest}r.priority, r.unit, r.row_no) AS rank
            FROM records r {join} WHERE r.endpoint = ?
        ) w WHERE records.rec_id = w.rec_id
        """,
        params,
    )


@dataclass(frozen=True)
class Conflict:
    """One key whose copies give different values of a field that must agree."""

    key: str
    field: str
    copies: tuple[tuple[str, str, int | None], ...]  # (value, file, line), in precedence order

    def describe(self) -> str:
        where = "; ".join(f"{value!r} in {file}" + (f" line {line}" if line is not None else "") for value, file, line in self.copies)
        return f"{self.key}: {self.field} differs between its copies ({where})"


def conflicts(sql: Sql, endpoint: EndpointSpec) -> list[Conflict]:
    """Keys of the endpoint whose copies disagree on a ``must_agree`` field (a missing value agrees)."""
    if not endpoint.must_agree:
        return []
    names = list(endpoint.must_agree)
    rows = sql(
        """
        WITH copies AS (
            SELECT r.dedup_key, f.field, f.value, r.source_file, r.source_line, r.priority, r.unit, r.row_no
            FROM records r JOIN fields f USING (rec_id)
            WHERE r.endpoint = ? AND list_contains(?, f.field)
        ), disputed AS (
            SELECT dedup_key, field FROM copies GROUP BY dedup_key, field HAVING count(DISTINCT value) > 1
        )
        SELECT c.dedup_key, c.field, c.value, c.source_file, c.source_line
        FROM copies c JOIN disputed d USING (dedup_key, field)
        ORDER BY c.dedup_key, c.field, c.priority, c.unit, c.row_no
        """,
        [endpoint.name, names],
    )
    grouped: dict[tuple[str, str], list[tuple[str, str, int | None]]] = {}
    for key, name, value, source, line in rows:
        grouped.setdefault((key, name), []).append((value, source, line))
    return [Conflict(key, name, tuple(copies)) for (key, name), copies in grouped.items()]


def collapsed_per_file(sql: Sql) -> dict[str, tuple[int, int]]:
    """Per source file: (records dropped as duplicates, of which differ in content from the kept one)."""
    rows = sql(
        "SELECT r.source_file, count(*) AS n, count(*) FILTER (WHERE r.record_json <> w.record_json) AS differing "
        "FROM records r JOIN records w ON w.endpoint = r.endpoint AND w.dedup_key = r.dedup_key AND w.live "
        "WHERE NOT r.live GROUP BY r.source_file",
        [],
    )
    return {path: (int(n), int(d)) for path, n, d in rows}
