"""openFDA query semantics as SQL over the engine's ``records`` and ``fields`` tables (pure functions).

- ``Match(exact=True)`` is a whole-value match (``field.exact``); ``exact=False`` an analysed-text
  phrase match (case-insensitive, words in order, any punctuation between them). Several values
  are OR-ed; ``negate`` keeps the records with none of them; clauses are AND-ed. Fields with a dotted path look into lists (``device.brand_name``
  matches any device of the report). Empty values never match.
- ``DateRange`` compares ``YYYYMMDD`` values, bounds included.
- ``Exists`` keeps the records with a non-blank value in the field (blank values are never stored).
- ``sort="field:desc"`` (or ``:asc``) orders by that field (a record's largest value for desc,
  smallest for asc), then by the record key (compared as a number when it is one) in the same
  direction, so ties are deterministic. Without ``sort`` records come in file order, the fullest
  source first.

Values are always bound parameters, never pasted into SQL.
"""
from __future__ import annotations

import re
from typing import Any

from ...errors import MirrorError
from ..base import DateRange, Exists, Match, Query
from .endpoints import EndpointSpec, FieldSpec
from .record_tables import clean_values

__all__ = ["phrase_pattern", "where_sql", "sort_field", "order_sql", "query_fields"]

FILE_ORDER = "r.priority, r.unit, r.row_no"


def phrase_pattern(value: str) -> str | None:
    """A regular expression (RE2, over the lower-cased value) for openFDA's analysed phrase match of
    ``value``: its words (runs of letters and digits, any script) in order, anything else between them;
    None without words."""
    words = re.findall(r"[^\W_]+", str(value).lower())
    if not words:
        return None
    other = r"[^\pL\pN]"
    return rf"(^|{other})" + rf"{other}+".join(re.escape(w) for w in words) + rf"($|{other})"


def query_fields(endpoint: EndpointSpec, query: Query) -> list[FieldSpec]:
    """The specs of the fields a query's clauses name (an error for fields the endpoint lacks)."""
    return [endpoint.field(clause.field) for clause in query.clauses]


def where_sql(endpoint: EndpointSpec, query: Query) -> tuple[str, list[Any]]:
    """The WHERE condition (over ``records r``) of the live records matching ``query``."""
    parts = ["r.endpoint = ?", "r.live"]
    params: list[Any] = [endpoint.name]
    for clause in query.clauses:
        spec = endpoint.field(clause.field)
        if isinstance(clause, DateRange):
            if spec.kind != "date":
                raise MirrorError(
                    f"{clause.field} is not a date field of {endpoint.name}; date ranges work on: {', '.join(endpoint.date_fields())}"
                )
            parts.append("r.rec_id IN (SELECT rec_id FROM fields WHERE field = ? AND value BETWEEN ? AND ?)")
            params += [spec.name, clause.start.strftime("%Y%m%d"), clause.end.strftime("%Y%m%d")]
        elif isinstance(clause, Match):
            among = "NOT IN" if clause.negate else "IN"
            if clause.exact or spec.kind == "date":
                parts.append(f"r.rec_id {among} (SELECT rec_id FROM fields WHERE field = ? AND list_contains(?, value))")
                params += [spec.name, clean_values(clause.values, spec.kind)]
            else:
                patterns = [p for p in (phrase_pattern(v) for v in clause.values) if p]
                if not patterns:
                    parts.append("TRUE" if clause.negate else "FALSE")
                    continue
                any_of = " OR ".join("regexp_matches(lower(value), ?)" for _ in patterns)
                parts.append(f"r.rec_id {among} (SELECT rec_id FROM fields WHERE field = ? AND ({any_of}))")
                params += [spec.name, *patterns]
        elif isinstance(clause, Exists):
            parts.append("r.rec_id IN (SELECT rec_id FROM fields WHERE field = ?)")
            params.append(spec.name)
        else:
            raise MirrorError(f"unsupported query clause {clause!r}; use Match, DateRange or Exists")
    return " AND ".join(parts), params


def sort_field(endpoint: EndpointSpec, sort: str) -> tuple[str, str]:
    """``(field name, "ASC" | "DESC")`` of an openFDA sort such as ``"date_received:desc"``."""
    name, _, direction = sort.partition(":")
    direction = (direction or "asc").lower()
    if direction not in ("asc", "desc"):
        raise MirrorError(f"sort {sort!r}: the direction must be 'asc' or 'desc', e.g. 'date_received:desc'")
    return endpoint.field(name).name, direction.upper()


def order_sql(endpoint: EndpointSpec, sort: str | None) -> tuple[str, str, list[Any]]:
    """``(join, order by, params)`` for ``sort`` (see the module docstring)."""
    if not sort:
        return "", FILE_ORDER, []
    name, direction = sort_field(endpoint, sort)
    aggregate = "max" if direction == "DESC" else "min"
    join = f"LEFT JOIN (SELECT rec_id, {aggregate}(value) AS sort_value FROM fields WHERE field = ? GROUP BY rec_id) s USING (rec_id)"
    order = (
        f"s.sort_value {direction} NULLS LAST, TRY_CAST(r.natural_key AS HUGEINT) {direction} NULLS LAST, "
        f"r.natural_key {direction}, r.rec_id"
    )
    return join, order, [name]
