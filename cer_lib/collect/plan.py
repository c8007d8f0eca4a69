"""The collect plan: what stage 01 will ask its `Source`, as data.

A profile turns the parameters and the resolved code into a `CollectPlan` (a pure function, tested
without HTTP); `cer_lib.collect.execute` runs it. The plan is one `SourcePlan` per source of the
profile, in registry order. A source plan is either disabled (with the reason the status records) or
a list of `Step`s, each a line of progress holding requests:

- `Total`: how many records match (a ``limit=1`` search), kept in ``totals.jsonl``;
- `TotalsByCode`: the totals of many product codes from one ``count`` on the code field, one line
  each in ``totals.jsonl`` (the number of requests does not grow with the number of codes);
- `Count`: an openFDA ``count=field`` query, kept in ``counts.jsonl``;
- `Search`: records, kept in ``records/<source>.jsonl``;
- `LookupByRecords`: records found through values of another source's records (enforcement reports
  through the recalls' numbers), in batches;
- `EudamedLookup`: EUDAMED device records by trade name or primary DI (DIs may come from another
  source's records), online or from the mirror's copy.

A request with ``unless_empty`` is not sent when the total it names is zero (a count is then kept as
skipped, so the series says why it is empty). Whether a failure stops the run is the source plan's
``required``; how its status is summarised is its ``outcome`` (see `cer_lib.collect.execute`).
Request economy: series come from count queries and totals from ``limit=1`` searches, so the number
of requests depends on the window and the number of comparators, never on the number of events.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any, Literal

from ..sources.base import Query

__all__ = [
    "CHUNK_DAYS",
    "COUNT_LIMIT",
    "CollectPlan",
    "Count",
    "EudamedLookup",
    "LookupByRecords",
    "Request",
    "Search",
    "SourcePlan",
    "Step",
    "Total",
    "TotalKey",
    "TotalsByCode",
    "window_chunks",
    "window_years",
]

COUNT_LIMIT = 1000  # openFDA's most terms per count query
CHUNK_DAYS = COUNT_LIMIT - 1  # day counts per window chunk: one fewer than the limit, so a full chunk cannot look truncated

#: (scope, product code, period) of a total: the key ``unless_empty`` refers to.
TotalKey = tuple[str, "str | None", str]


def window_chunks(start: dt.date, end: dt.date, days: int = CHUNK_DAYS) -> list[tuple[dt.date, dt.date]]:
    """``[start, end]`` cut into consecutive inclusive spans of at most ``days`` days."""
    spans, cursor = [], start
    while cursor <= end:
        stop = min(end, cursor + dt.timedelta(days=days - 1))
        spans.append((cursor, stop))
        cursor = stop + dt.timedelta(days=1)
    return spans


def window_years(start: dt.date, end: dt.date) -> list[tuple[str, dt.date, dt.date]]:
    """Calendar years of the window, clipped to it: ``[(YYYY, first day, last day)]``."""
    return [(str(y), max(start, dt.date(y, 1, 1)), min(end, dt.date(y, 12, 31))) for y in range(start.year, end.year + 1)]


@dataclass(frozen=True)
class Total:
    """Number of records matching ``query`` (``limit=1``); one line of ``totals.jsonl``.

    ``subset`` names the part of the period's reports counted (``"all"``, or e.g. the reports that carry
    a device problem code); only the totals of all reports are what ``unless_empty`` refers to.
    """

    endpoint: str
    query: Query
    scope: str
    product_code: str | None
    period: str
    subset: str = "all"

    @property
    def key(self) -> TotalKey:
        return (self.scope, self.product_code, self.period)


@dataclass(frozen=True)
class TotalsByCode:
    """The totals of several product codes from one ``count=field`` over ``query`` (``field`` is the
    product-code field's ``.exact``): one line of ``totals.jsonl`` per ``(code, scope)`` of ``codes``,
    0 when the count has no row for the code. openFDA counts a record once per distinct value, so a
    code's count is the number of its records, as a `Total` would give; when the count returned its
    full ``limit`` of terms, a code without a row has an unknown total (kept as null, never as 0).
    """

    endpoint: str
    query: Query
    field: str
    codes: tuple[tuple[str, str], ...]  # (product code, scope)
    period: str
    subset: str = "all"
    limit: int = COUNT_LIMIT


@dataclass(frozen=True)
class Count:
    """``count=field`` over ``query``; one line of ``counts.jsonl`` (kept as skipped when ``unless_empty`` is zero)."""

    endpoint: str
    query: Query
    field: str
    scope: str
    product_code: str | None
    period: str
    event_type: str
    span: tuple[dt.date, dt.date]
    unless_empty: TotalKey | None = None
    limit: int = COUNT_LIMIT


@dataclass(frozen=True)
class Search:
    """Records matching ``query`` (at most ``limit``, all when None), in ``sort`` order."""

    endpoint: str
    query: Query
    limit: int | None
    sort: str | None = None
    unless_empty: TotalKey | None = None


@dataclass(frozen=True)
class LookupByRecords:
    """Records of ``endpoint`` whose ``field`` is one of the ``from_field`` values of ``from_source``'s records.

    Runs only when ``from_source`` was collected (status ok or empty); the values are OR-ed ``batch`` at a time.
    """

    endpoint: str
    field: str
    from_source: str
    from_field: str
    batch: int
    limit: int | None
    rule: str
    why: str  # why the lookup goes through another source (in the status when that source is not usable)
    nothing_to_look_up: str  # the reason of an empty status when the other source gave no values
    none_found: str  # the reason of an empty status when no record matched
    count_key: str = "values"  # the status detail that says how many values were looked up


@dataclass(frozen=True)
class EudamedLookup:
    """EUDAMED device records by ``trade_name``, or by primary DI: ``dis`` then the primary DIs of
    ``dis_from``'s records (GUDID), at most ``max_lookups`` look-ups online; online, the detail record
    of at most ``max_details`` of the devices found (it alone holds the EMDN codes)."""

    rule: str
    trade_name: str | None = None
    dis: tuple[str, ...] = ()
    dis_from: str | None = None
    max_lookups: int | None = None
    max_details: int = 10  # detail records read (one request each) for the EMDN codes of the devices found
    nothing_to_look_up: str = "no UDI-DI to look up"
    vigilance: str = "not public in Eudamed"


Request = Total | TotalsByCode | Count | Search | LookupByRecords | EudamedLookup


@dataclass(frozen=True)
class Step:
    """One line of progress: what it does, and its requests in order."""

    label: str
    requests: tuple[Request, ...]


#: How a source's status is summarised from what its requests returned (`cer_lib.collect.execute`).
Outcome = Literal["records", "series", "lookup", "eudamed"]


@dataclass(frozen=True)
class SourcePlan:
    """What to ask one source. ``disabled`` (a reason) means nothing is asked and the status says why."""

    source: str
    required: bool = False
    steps: tuple[Step, ...] = ()
    outcome: Outcome = "records"
    disabled: str | None = None
    details: dict[str, Any] = field(default_factory=dict)  # recorded in the status as they are
    empty_reason: str | None = None  # the status reason when nothing matched (series)

    @property
    def requests(self) -> list[Request]:
        return [r for step in self.steps for r in step.requests]


@dataclass(frozen=True)
class CollectPlan:
    """Every source of a profile, in registry order."""

    sources: tuple[SourcePlan, ...]

    def __getitem__(self, name: str) -> SourcePlan:
        for plan in self.sources:
            if plan.source == name:
                return plan
        raise KeyError(f"no source {name!r} in the plan")

    @property
    def requests(self) -> list[Request]:
        return [r for plan in self.sources for r in plan.requests]
