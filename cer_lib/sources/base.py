"""The one shape every data source has, so the collect stage is written once.

`OpenFDA` (HTTPS) and `Mirror` (local bulk files in DuckDB) both implement `Source`: a search that
returns openFDA-shaped records and a count that returns openFDA-shaped ``{term|time, count}`` rows.
Queries are structured (`Query`), never strings pasted together: each source renders them its own
way (openFDA syntax with escaping, or SQL with bound parameters), so a value can never become syntax.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, runtime_checkable


@dataclass(frozen=True)
class Match:
    """``field`` equals one of ``values`` (several values are OR-ed: ``field:(A+OR+B)``); with ``negate``,
    none of them (``NOT+field:(A+OR+B)``: a record with any of the values is left out)."""

    field: str
    values: tuple[str, ...]
    exact: bool = True  # match the whole phrase (openFDA ``.exact`` / quoted); False = analysed text
    negate: bool = False

    def __post_init__(self) -> None:
        if not self.values:
            raise ValueError(f"Match on {self.field!r} needs at least one value")


@dataclass(frozen=True)
class DateRange:
    """``field`` between ``start`` and ``end`` inclusive: ``field:[YYYYMMDD+TO+YYYYMMDD]``."""

    field: str
    start: dt.date
    end: dt.date


@dataclass(frozen=True)
class Exists:
    """``field`` has a non-blank value: ``_exists_:field`` (e.g. reports that carry a problem code)."""

    field: str


Clause = Match | DateRange | Exists


@dataclass(frozen=True)
class Query:
    """All clauses AND-ed. An empty query matches everything."""

    clauses: tuple[Clause, ...] = ()

    def and_(self, *more: Clause) -> "Query":
        return Query(self.clauses + tuple(more))

    def describe(self) -> str:
        """Human-readable form for reports and provenance (not a query string to send)."""
        parts = []
        for c in self.clauses:
            if isinstance(c, Match):
                if c.negate:
                    parts.append(f"{c.field} not in ({', '.join(c.values)})")
                elif len(c.values) > 1:
                    parts.append(f"{c.field} in ({', '.join(c.values)})")
                else:
                    parts.append(f"{c.field} = {c.values[0]}")
            elif isinstance(c, Exists):
                parts.append(f"{c.field} present")
            else:
                parts.append(f"{c.field} in [{c.start:%Y-%m-%d}, {c.end:%Y-%m-%d}]")
        return " AND ".join(parts) or "(all records)"


@dataclass
class SearchResult:
    endpoint: str
    query: Query
    records: list[dict[str, Any]]
    total: int  # matching records at the source (openFDA meta.results.total), not just those fetched
    last_updated: str | None = None  # YYYY-MM-DD


@dataclass
class CountResult:
    endpoint: str
    query: Query
    field: str
    rows: list[dict[str, Any]]  # [{"term": str, "count": int}] or [{"time": "YYYYMMDD", "count": int}]
    limit: int
    last_updated: str | None = None

    @property
    def truncated(self) -> bool:
        """openFDA returns at most ``limit`` terms and no total: a full page may be missing terms."""
        return len(self.rows) >= self.limit


@dataclass
class SourceStatus:
    """How an optional source fared; goes into collected/status.json and the report."""

    name: str
    status: str  # ok | empty | unavailable | error | disabled
    reason: str | None = None
    last_updated: str | None = None
    total: int | None = None
    fetched: int = 0
    truncated: bool = False
    details: dict[str, Any] = field(default_factory=dict)


@runtime_checkable
class Source(Protocol):
    """What the collect stage needs from a place that holds openFDA data.

    ``origin`` says what it is: ``"api"`` (openFDA over HTTPS; the run reports its base URL and
    whether it ran offline) or ``"mirror"`` (local bulk files; the run reports the folder).
    ``synthetic`` is true for generated demo data, which every page of the report then says.
    A mirror may also hold a copy of EUDAMED's device records (``eudamed_records()``).
    """

    origin: Literal["api", "mirror"]
    synthetic: bool

    def search(self, endpoint: str, query: Query, *, limit: int | None = None, sort: str | None = None) -> SearchResult:
        """Records matching ``query``; ``limit=None`` means all of them (paged), else the first ``limit``.

        ``endpoint`` is an openFDA path without ``.json``, e.g. ``"device/event"``. ``sort`` is an
        openFDA sort such as ``"date_received:desc"``. No match is an empty result, not an error.
        """
        ...

    def count(self, endpoint: str, query: Query, field: str, *, limit: int = 1000) -> CountResult:
        """openFDA ``count=field``: rows of ``{term, count}`` (or ``{time, count}`` for date fields)."""
        ...

    def total(self, endpoint: str, query: Query) -> int:
        """Number of records matching ``query`` (0 when none)."""
        ...
