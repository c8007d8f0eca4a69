"""Running a collect plan against a `Source`: the requests, one progress line per step, each source's status.

`Executor.run` goes through the plan's sources in order. A required source that fails stops the run
with a message naming it; an optional one that fails is recorded as ``unavailable`` (could not be
reached) or ``error`` and the run goes on. When a source is done, its status is summarised from what
its requests returned, by the source plan's ``outcome``:

- ``records``: ok or empty by the records found; the reason says when more matched than were kept;
- ``series`` (totals, counts and a review sample): ok or empty by the headline total (the plan's
  first `Total`); truncated when a count returned openFDA's maximum number of terms;
- ``lookup``: records found through another source's records; unavailable when that source was not
  collected, empty when it gave nothing to look up;
- ``eudamed``: EUDAMED device records online, or the mirror's copy filtered by the same rule
  (``disabled``, "not in mirror", when the mirror has none), so that another device's
  registration is never reported as this one's.
"""
from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from ..errors import CerError, MirrorError, SourceError, SourceUnavailable
from ..sources.base import Match, Query, SearchResult, Source, SourceStatus
from ..names import match_key
from ..sources.openfda import search_text
from .plan import (
    CollectPlan,
    Count,
    EudamedLookup,
    LookupByRecords,
    Search,
    SourcePlan,
    Step,
    Total,
    TotalKey,
    TotalsByCode,
)

__all__ = ["Collected", "Executor", "Progress"]

T = TypeVar("T")


class Progress:
    """One line per step on stdout: the requests it made (online) or the seconds it took (mirror)."""

    def __init__(self, provenance: Any, origin: str) -> None:
        self.provenance, self.origin = provenance, origin

    def n_requests(self) -> int:
        """HTTP answers recorded so far in the run's provenance (cached ones included)."""
        path = self.provenance.requests_path
        if not path.is_file():
            return 0
        with open(path, "rb") as handle:
            return sum(1 for line in handle if line.strip())

    def step(self, message: str, action: Callable[[], T]) -> T:
        before, started = self.n_requests(), time.monotonic()
        result = action()
        if self.origin == "api":
            n = self.n_requests() - before
            print(f"collect: {message} … {n} request{'s' if n != 1 else ''}", flush=True)
        else:
            print(f"collect: {message} … {time.monotonic() - started:.1f} s", flush=True)
        return result

    @staticmethod
    def required(what: str, action: Callable[[], T]) -> T:
        """Run ``action``; a `SourceError` becomes one saying that ``what`` is required."""
        try:
            return action()
        except SourceError as exc:
            raise type(exc)(f"collect: {what} is required and failed: {exc}") from None


@dataclass
class Collected:
    """What stage 01 gathered: records per source, count and total lines, and every source's status."""

    records: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    counts: list[dict[str, Any]] = field(default_factory=list)
    totals: list[dict[str, Any]] = field(default_factory=list)
    statuses: dict[str, SourceStatus] = field(default_factory=dict)


@dataclass
class _Answers:
    """What one source's requests returned, before its status is summarised."""

    searches: list[SearchResult] = field(default_factory=list)
    counts: list[dict[str, Any]] = field(default_factory=list)
    totals: dict[TotalKey, int] = field(default_factory=dict)
    truncated_totals: list[str] = field(default_factory=list)  # totals by code whose count hit its term limit

    def empty(self, key: TotalKey | None) -> bool:
        """Whether the total ``key`` names was found to be zero."""
        return key is not None and self.totals.get(key) == 0


class Executor:
    """Runs a `CollectPlan` against ``source`` for the run ``ctx`` (its provenance and settings)."""

    def __init__(self, ctx: Any, source: Source, progress: Progress, collected: Collected | None = None) -> None:
        self.ctx, self.source, self.progress = ctx, source, progress
        self.collected = collected or Collected()

    def run(self, plan: CollectPlan) -> Collected:
        for source_plan in plan.sources:
            self.collected.records.setdefault(source_plan.source, [])
            if source_plan.disabled:
                self._status(source_plan.source, "disabled", source_plan.disabled)
                continue
            run = {"records": self._steps, "series": self._steps, "lookup": self._lookup,
                   "eudamed": self._eudamed}[source_plan.outcome]
            self._guarded(source_plan, lambda: run(source_plan))
        return self.collected

    def _status(self, name: str, status: str, reason: str | None = None, **fields: Any) -> SourceStatus:
        st = SourceStatus(name=name, status=status, reason=reason, **fields)
        self.collected.statuses[name] = st
        return st

    def _guarded(self, plan: SourcePlan, action: Callable[[], None]) -> None:
        """A required source's failure stops the run; an optional one's is its status."""
        if plan.required:
            endpoint = next((r.endpoint for r in plan.requests if isinstance(r, (Total, TotalsByCode, Count, Search))),
                            plan.source)
            self.progress.required(endpoint, action)
            return
        try:
            action()
        except (SourceError, MirrorError) as exc:
            self._failed(plan.source, exc)

    def _failed(self, name: str, exc: CerError) -> None:
        if isinstance(exc, SourceUnavailable):
            self._status(name, "unavailable", str(exc))
            print(f"collect: {name} unavailable: {exc}", flush=True)
        else:
            self._status(name, "error", str(exc))
            print(f"collect: {name} failed: {exc}", flush=True)

    # -- totals, counts, searches ---------------------------------------------------------------

    def _steps(self, plan: SourcePlan) -> None:
        answers = _Answers()
        for step in plan.steps:
            if all(isinstance(r, Search) and answers.empty(r.unless_empty) for r in step.requests):
                continue  # nothing to ask (a sample of no reports): no request, no progress line
            self.progress.step(step.label, lambda step=step: self._run_step(plan, step, answers))
        (self._series_status if plan.outcome == "series" else self._records_status)(plan, answers)

    def _run_step(self, plan: SourcePlan, step: Step, answers: _Answers) -> None:
        for request in step.requests:
            if isinstance(request, Total):
                n = self.source.total(request.endpoint, request.query)
                if request.subset == "all":
                    answers.totals[request.key] = n
                self.collected.totals.append({
                    "scope": request.scope, "product_code": request.product_code, "period": request.period,
                    "subset": request.subset, "n_reports": n, "endpoint": request.endpoint,
                    "search": search_text(request.query)})
            elif isinstance(request, TotalsByCode):
                self._totals_by_code(request, answers)
            elif isinstance(request, Count):
                self._count(plan, request, answers)
            elif isinstance(request, Search) and not answers.empty(request.unless_empty):
                result = self.source.search(request.endpoint, request.query, limit=request.limit, sort=request.sort)
                answers.searches.append(result)
                self.collected.records[plan.source] = list(result.records)

    def _totals_by_code(self, request: TotalsByCode, answers: _Answers) -> None:
        result = self.source.count(request.endpoint, request.query, request.field, limit=request.limit)
        counted = {str(row.get("term")): int(row.get("count") or 0) for row in result.rows}
        if result.truncated:
            answers.truncated_totals.append(f"{request.field} {request.period} {request.subset}")
        for code, scope in request.codes:
            n = counted.get(code, None if result.truncated else 0)
            if request.subset == "all" and n is not None:
                answers.totals[(scope, code, request.period)] = n
            self.collected.totals.append({
                "scope": scope, "product_code": code, "period": request.period, "subset": request.subset,
                "n_reports": n, "endpoint": request.endpoint, "search": search_text(request.query),
                "counted_by": request.field, "truncated": result.truncated})

    def _count(self, plan: SourcePlan, request: Count, answers: _Answers) -> None:
        skip = answers.empty(request.unless_empty)
        if skip:
            rows, truncated, last = [], False, None
        else:
            result = self.source.count(request.endpoint, request.query, request.field, limit=request.limit)
            rows, truncated, last = result.rows, result.truncated, result.last_updated
        line = {
            "name": plan.source, "endpoint": request.endpoint, "search": search_text(request.query),
            "field": request.field, "scope": request.scope, "product_code": request.product_code,
            "period": request.period, "event_type": request.event_type, "start": request.span[0].isoformat(),
            "end": request.span[1].isoformat(), "limit": request.limit, "truncated": truncated, "rows": rows,
            "last_updated": last, **({"skipped": "no reports in the period (from totals.jsonl)"} if skip else {}),
        }
        answers.counts.append(line)
        self.collected.counts.append(line)

    def _records_status(self, plan: SourcePlan, answers: _Answers) -> None:
        (result,) = answers.searches
        (search,) = [r for r in plan.requests if isinstance(r, Search)]
        truncated = len(result.records) < result.total
        self._status(plan.source, "ok" if result.records else "empty",
                     f"{result.total:,} matching records, the first {len(result.records):,} kept" if truncated else None,
                     last_updated=result.last_updated, total=result.total, fetched=len(result.records), truncated=truncated,
                     details={"search": search_text(result.query), "cap": search.limit, **plan.details})

    def _series_status(self, plan: SourcePlan, answers: _Answers) -> None:
        headline = next(r for r in plan.requests if isinstance(r, Total))
        total = answers.totals[headline.key]
        own = [c for c in answers.counts if c["scope"] == headline.scope]
        flagged = [f"{c['field']} {c['period']} {c['event_type']} {c['start']}..{c['end']}" for c in own if c["truncated"]]
        sample = answers.searches[0] if answers.searches else None
        last = (sample.last_updated if sample else None) or next((c["last_updated"] for c in own if c["last_updated"]), None)
        details = {**plan.details, "count_queries": sum(1 for c in own if "skipped" not in c), "truncated_counts": flagged}
        others = sorted({r.scope for r in plan.requests if isinstance(r, (Total, Count)) and r.scope != headline.scope})
        for scope in others:  # e.g. comparator_truncated_counts
            details[f"{scope}_truncated_counts"] = [f"{c['field']} {c['product_code']} {c['period']}" for c in answers.counts
                                                    if c["truncated"] and c["scope"] == scope]
        if answers.truncated_totals:
            details["truncated_totals"] = answers.truncated_totals
        truncated = (bool(flagged) or bool(answers.truncated_totals)
                     or any(details[f"{scope}_truncated_counts"] for scope in others))
        self._status(plan.source, "ok" if total else "empty", None if total else plan.empty_reason, last_updated=last,
                     total=total, fetched=len(sample.records) if sample else 0, truncated=truncated, details=details)

    # -- records found through another source's records -----------------------------------------

    def _lookup(self, plan: SourcePlan) -> None:
        (lookup,) = [r for r in plan.requests if isinstance(r, LookupByRecords)]
        (step,) = plan.steps
        upstream = self.collected.statuses.get(lookup.from_source)
        if upstream is None or upstream.status not in ("ok", "empty"):
            self._status(plan.source, "unavailable", f"{lookup.why}, which is {upstream.status if upstream else 'not run'}")
            return
        values = sorted({str(r[lookup.from_field]) for r in self.collected.records.get(lookup.from_source, [])
                         if r.get(lookup.from_field)})
        if not values:
            self._status(plan.source, "empty", lookup.nothing_to_look_up, details={"rule": lookup.rule})
            return
        found: list[dict[str, Any]] = []
        searches: list[str] = []
        sums = {"total": 0, "last": None}

        def run() -> None:
            for i in range(0, len(values), lookup.batch):
                query = Query((Match(lookup.field, tuple(values[i:i + lookup.batch]), exact=False),))
                searches.append(search_text(query))
                result = self.source.search(lookup.endpoint, query, limit=lookup.limit)
                found.extend(result.records)
                sums["total"] += result.total
                sums["last"] = sums["last"] or result.last_updated

        self.progress.step(step.label.format(n=len(values)), run)
        self.collected.records[plan.source] = found
        self._status(plan.source, "ok" if found else "empty", None if found else lookup.none_found,
                     last_updated=sums["last"], total=sums["total"], fetched=len(found), truncated=len(found) < sums["total"],
                     details={"searches": searches, lookup.count_key: len(values), "rule": lookup.rule})

    # -- EUDAMED --------------------------------------------------------------------------------

    def _eudamed_targets(self, lookup: EudamedLookup, cap: int | None) -> tuple[str, list[str], Callable[[dict[str, Any]], bool]]:
        """(rule, look-ups, record filter) for the device's EUDAMED records."""
        if lookup.trade_name is not None:
            wanted = match_key(lookup.trade_name)
            return (lookup.rule, [f"tradeName={wanted}"], lambda r: match_key(str(r.get("tradeName") or "")) == wanted)
        dis = list(lookup.dis)
        for record in self.collected.records.get(lookup.dis_from or "", []):
            for ident in record.get("identifiers") or []:
                if isinstance(ident, dict) and ident.get("type") == "Primary" and ident.get("id") and str(ident["id"]) not in dis:
                    dis.append(str(ident["id"]))
        dis = dis[:cap]
        wanted_dis = set(dis)
        rule = lookup.rule + (f", at most {cap}" if cap else "")
        return rule, [f"primaryDi={di}" for di in dis], lambda r: str(r.get("primaryDi") or "") in wanted_dis

    def _eudamed(self, plan: SourcePlan) -> None:
        (lookup,) = [r for r in plan.requests if isinstance(r, EudamedLookup)]
        if self.source.origin == "mirror":
            self._eudamed_from_mirror(plan.source, lookup)
        else:
            self._eudamed_online(plan, lookup)

    def _eudamed_from_mirror(self, name: str, lookup: EudamedLookup) -> None:
        reader = getattr(self.source, "eudamed_records", None)  # a mirror's optional copy of EUDAMED
        try:
            held = reader() if callable(reader) else None
        except CerError as exc:  # a malformed eudamed/ folder in the mirror
            self._status(name, "error", str(exc))
            return
        if held is None:
            self._status(name, "disabled", "not in mirror")
            return
        rule, lookups, keep = self._eudamed_targets(lookup, None)
        found = [r for r in held if keep(r)]
        self.collected.records[name] = found
        self._status(name, "ok" if found else "empty",
                     f"from the mirror's eudamed/ folder ({len(held)} records, {len(found)} for this device)",
                     total=len(found), fetched=len(found),
                     details={"rule": rule, "lookups": lookups, "mirror_records": len(held), "vigilance": lookup.vigilance})

    def _eudamed_online(self, plan: SourcePlan, lookup: EudamedLookup) -> None:
        from ..sources.eudamed import Eudamed, is_eudamed_uuid

        name = plan.source
        rule, lookups, keep = self._eudamed_targets(lookup, lookup.max_lookups)
        if not lookups:
            self._status(name, "empty", lookup.nothing_to_look_up, details={"rule": rule, "vigilance": lookup.vigilance})
            return
        eu = Eudamed.for_run(self.ctx)
        found: dict[str, dict[str, Any]] = {}

        details = {"read": 0, "missing": 0}

        def run() -> None:
            for item in lookups:
                key, _, value = item.partition("=")
                page = eu.devices(trade_name=value, limit=None) if key == "tradeName" else eu.devices(primary_di=value, limit=25)
                for r in page.records:
                    if keep(r):
                        found.setdefault(str(r.get("uuid") or len(found)), r)
            # the EMDN codes (cndNomenclatures) are only in a device's detail record: one request each, bounded
            for uuid, record in list(found.items())[:lookup.max_details]:
                detail = eu.device(uuid) if is_eudamed_uuid(uuid) else None
                details["read" if detail else "missing"] += 1
                if detail:
                    record["cndNomenclatures"] = detail.get("cndNomenclatures") or []

        (step,) = plan.steps
        try:
            self.progress.step(step.label.format(rule=rule), run)
        finally:
            eu.client.close()
        self.collected.records[name] = list(found.values())
        self._status(name, "ok" if found else "empty", None if found else f"no Eudamed device record for {len(lookups)} look-up(s)",
                     total=len(found), fetched=len(found),
                     details={"lookups": lookups, "rule": rule, "base_url": eu.base_url, "vigilance": lookup.vigilance,
                              "detail_records": details["read"], "detail_records_missing": details["missing"]})
