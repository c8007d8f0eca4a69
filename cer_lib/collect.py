"""Stage 01, collect: ask a `Source` for what a device report needs and write ``collected/``.

Request economy: series come from ``count`` queries and totals from ``limit=1`` searches, so the number
of requests depends on the window and the number of comparators, never on the number of events;
records are fetched only for the review sample and for the small registries (classification, 510(k),
PMA, UDI, registration, recalls). What is written (read by the integrate stage)::

    collected/status.json        origin, offline, synthetic, mirror, base_url, sources{name: SourceStatus}
    collected/resolution.json    the product code's classification, comparators and the rule used
    collected/records/<name>.jsonl   records as the source returned them, one per line
    collected/counts.jsonl       one line per count query (search, field, scope, period, event type, rows)
    collected/totals.jsonl       report totals per scope, product code and period

``status.json`` is written last: a ``collected/`` without it is an interrupted run.

Rules (also recorded in the files):

- device events: ``device.device_report_product_code`` (exact) and ``date_received`` in the window; a UDI-DI
  is first resolved to its product code through ``device/udi``; a brand uses ``device.brand_name`` (exact).
- day counts of ``date_received`` per window chunk of at most `CHUNK_DAYS` days (one fewer than the count
  limit, so a full chunk cannot look truncated), for all reports and each of Death, Injury, Malfunction;
  ``date_of_event`` for all reports over the same chunks; per calendar year ``product_problems.exact`` and
  ``patient.patient_problems.exact``; for each comparator the same two term counts over the whole window.
- comparators: the other product codes with the device's regulation number in ``device/classification``,
  sorted by code, at most ``methods.signals.max_comparators``.
- recalls: ``device/recall`` of the device and its comparators. Enforcement reports carry no product code
  (their ``openfda`` block is empty), so ``device/enforcement`` is searched by the recalls' numbers
  (``recall_number`` = the recall's ``product_res_number``).
- review sample: the ``methods.review_sample_size`` most recent reports (``date_received`` descending).
- Eudamed: device records whose ``primaryDi`` is the UDI-DI (kind udi_di) or one of the primary UDI-DIs of
  the product code's GUDID records (the GS1 DI is the same in both databases; at most `EUDAMED_MAX_LOOKUPS`
  look-ups online), or whose trade name is the brand. Online only in API mode; in mirror mode the same
  rule picks from the mirror's ``eudamed/`` records (status ``disabled``, "not in mirror", when it has
  none), so another device's registration is never reported as this one's. Vigilance data are not public.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .context import RunContext
from .errors import CerError, CodeError, MirrorError, SourceError, SourceUnavailable
from .params import Parameters
from .runfolder import CollectStatus, layout
from .sources.base import DateRange, Match, Query, Source, SourceStatus
from .sources.openfda import render_search
from .sources.registry import source_spec

EVENT_TYPES = ("Death", "Injury", "Malfunction")
TERM_FIELDS = ("product_problems.exact", "patient.patient_problems.exact")
COUNT_LIMIT = 1000
CHUNK_DAYS = COUNT_LIMIT - 1
EUDAMED_MAX_LOOKUPS = 10
ENFORCEMENT_BATCH = 50  # recall numbers OR-ed per enforcement search
_FLAG = {"Y": True, "N": False}


@dataclass
class CollectSummary:
    """What stage 01 did: where it wrote, how each source fared, how many requests it took."""

    collected_dir: Path
    origin: str
    code: str
    kind: str
    product_code: str | None
    statuses: dict[str, SourceStatus]
    n_counts: int
    n_totals: int
    requests: int  # HTTP answers recorded in provenance during the stage (cached ones included)
    from_cache: int

    def __str__(self) -> str:
        lines = [f"collected {self.code} ({self.kind}) from {self.origin}: {self.n_counts} counts, {self.n_totals} totals, "
                 f"{self.requests} requests ({self.from_cache} from cache) -> {self.collected_dir}"]
        for name, st in self.statuses.items():
            extra = f" total={st.total}" if st.total is not None else ""
            extra += f" fetched={st.fetched}" + (" TRUNCATED" if st.truncated else "")
            lines.append(f"  {name:<27} {st.status:<11}{extra}" + (f"  ({st.reason})" if st.reason else ""))
        return "\n".join(lines)


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


def _default_source(ctx: RunContext, params: Parameters) -> Source:
    if params.data_from == "api":
        from .sources.openfda import OpenFDA

        return OpenFDA.for_run(ctx)
    from .sources.demo import mirror_folder
    from .sources.mirror import Mirror  # imported only when used

    return Mirror(mirror_folder(params.mirror, ctx.settings), provenance=ctx.provenance)


def collect(ctx: RunContext, source: Source | None = None) -> CollectSummary:
    """Run stage 01 for ``ctx``: query ``source`` (by default openFDA or the mirror, per ``params.from``)."""
    params = ctx.params.resolved()
    ctx.profile  # refuses a kind without a profile before anything is asked
    own = source is None
    source = source if source is not None else _default_source(ctx, params)
    try:
        return _Collector(ctx, params, source).run()
    finally:
        client = getattr(source, "client", None)
        if own and client is not None and hasattr(client, "close"):
            client.close()


class _Collector:
    def __init__(self, ctx: RunContext, params: Parameters, source: Source) -> None:
        self.ctx, self.params, self.source = ctx, params, source
        self.kind = str(params.kind)
        self.origin = "api" if getattr(source, "name", "") == "openfda" else "mirror"
        self.start: dt.date = params.window.start
        self.end: dt.date = params.window.end  # resolved
        self.out = ctx.collected_dir
        self.sources = ctx.profile.source_names
        self.statuses: dict[str, SourceStatus] = {}
        self.records: dict[str, list[dict[str, Any]]] = {name: [] for name in self.sources}
        self.counts: list[dict[str, Any]] = []
        self.totals: list[dict[str, Any]] = []
        self.resolution: dict[str, Any] = {}
        self.product_code: str | None = None
        self.comparators: list[str] = []
        self._requests_at_start = self._n_requests()

    # -- helpers -------------------------------------------------------------------------------

    def _n_requests(self) -> int:
        path = self.ctx.provenance.requests_path
        if not path.is_file():
            return 0
        with open(path, "rb") as handle:
            return sum(1 for line in handle if line.strip())

    def _step(self, message: str, action: Callable[[], Any]) -> Any:
        before, started = self._n_requests(), time.monotonic()
        result = action()
        if self.origin == "api":
            n = self._n_requests() - before
            print(f"collect: {message} … {n} request{'s' if n != 1 else ''}", flush=True)
        else:
            print(f"collect: {message} … {time.monotonic() - started:.1f} s", flush=True)
        return result

    def _enabled(self, name: str) -> bool:
        return source_spec(name).enabled(self.params)

    def _status(self, name: str, status: str, reason: str | None = None, **fields: Any) -> SourceStatus:
        st = SourceStatus(name=name, status=status, reason=reason, **fields)
        self.statuses[name] = st
        return st

    def _optional(self, name: str, action: Callable[[], None], *, needs_code: bool = True) -> None:
        """Run an optional source; disabled, unavailable or failing is recorded, never fatal."""
        if not self._enabled(name):
            self._status(name, "disabled", f"sources.{source_spec(name).switch} is false in the parameters")
            return
        if needs_code and self.product_code is None:
            self._status(name, "disabled", f"needs a product code; {self.kind} reports have none")
            return
        try:
            action()
        except SourceUnavailable as exc:
            self._status(name, "unavailable", str(exc))
            print(f"collect: {name} unavailable: {exc}", flush=True)
        except (SourceError, MirrorError) as exc:
            self._status(name, "error", str(exc))
            print(f"collect: {name} failed: {exc}", flush=True)

    def _required(self, what: str, action: Callable[[], Any]) -> Any:
        try:
            return action()
        except SourceError as exc:
            raise type(exc)(f"collect: {what} is required and failed: {exc}") from None

    def _records_status(self, name: str, result: Any, *, reason: str | None = None, **details: Any) -> None:
        truncated = len(result.records) < result.total
        status = "ok" if result.records else "empty"
        why = reason or (f"{result.total:,} matching records, the first {len(result.records):,} kept"
                         if truncated else None)
        self.records[name] = list(result.records)
        self._status(name, status, why, last_updated=result.last_updated, total=result.total,
                     fetched=len(result.records), truncated=truncated, details={"search": render_search(result.query), **details})

    # -- resolution ----------------------------------------------------------------------------

    def _resolve_udi(self) -> str:
        di = self.params.code
        query = Query((Match("identifiers.id", (di,), exact=False),))
        found = self._required("device/udi (to resolve the UDI-DI)", lambda: self.source.search("device/udi", query, limit=10))
        codes: list[str] = []
        for record in found.records:
            if not any(str(i.get("id")) == di for i in record.get("identifiers") or [] if isinstance(i, dict)):
                continue
            for pc in record.get("product_codes") or []:
                code = pc.get("code") if isinstance(pc, dict) else None
                if code and code not in codes:
                    codes.append(code)
        if not codes:
            raise CodeError(
                f"UDI-DI {di!r} was not found with a product code in openFDA device/udi (GUDID). Check the "
                f"identifier (the device identifier part of the UDI, e.g. 00643169007222), or report on the "
                f"product code instead (KIND=product_code)."
            )
        self.resolution["udi_di_resolution"] = {
            "udi_di": di, "endpoint": "device/udi", "search": render_search(query),
            "product_codes": codes, "chosen": codes[0],
            "rule": "the first product code of the GUDID record whose identifiers include the UDI-DI",
        }
        return codes[0]

    def _classify(self, code: str) -> None:
        endpoint = "device/classification"
        query = Query((Match("product_code", (code,), exact=False),))
        found = self._required(endpoint, lambda: self.source.search(endpoint, query, limit=10))
        rows = [r for r in found.records if r.get("product_code") == code]
        if not rows:
            where = "the mirror's classification file" if self.origin == "mirror" else "openFDA"
            raise CodeError(
                f"{code!r} is not a product code in {where} (device/classification has no record for it). "
                f"Check the code against FDA's product classification database."
            )
        rec = rows[0]
        regulation = (rec.get("regulation_number") or "").strip()
        others: list[dict[str, Any]] = []
        if regulation:
            same = Query((Match("regulation_number", (regulation,), exact=False),))
            peers = self._required(endpoint, lambda: self.source.search(endpoint, same, limit=None))
            by_code: dict[str, dict[str, Any]] = {}
            for r in peers.records:
                pc = r.get("product_code")
                if pc and pc != code and (r.get("regulation_number") or "").strip() == regulation:
                    by_code.setdefault(pc, r)
            others = [by_code[pc] for pc in sorted(by_code)]
        cap = self.params.methods.signals.max_comparators
        chosen = others[:cap]
        self.comparators = [r["product_code"] for r in chosen]
        self.resolution.update({
            "product_code": code,
            "device_name": rec.get("device_name") or None,
            "device_class": rec.get("device_class") or None,
            "regulation_number": regulation or None,
            "review_panel": rec.get("review_panel") or None,
            "medical_specialty": rec.get("medical_specialty_description") or rec.get("medical_specialty") or None,
            "implant": _FLAG.get(str(rec.get("implant_flag") or "").upper()),
            "life_sustaining": _FLAG.get(str(rec.get("life_sustain_support_flag") or "").upper()),
            "definition": rec.get("definition") or None,
            "comparators": [{"product_code": r["product_code"], "device_name": r.get("device_name") or None,
                             "device_class": r.get("device_class") or None} for r in chosen],
            "comparators_truncated": len(others) > len(chosen),
            "comparators_available": len(others),
            "comparators_rule": (
                f"other product codes with regulation number {regulation} in device/classification, sorted by "
                f"code, at most methods.signals.max_comparators = {cap}"
                if regulation else "no regulation number in the classification record, so no comparators"
            ),
        })
        self.records["device_classification"] = rows
        note = None if self._enabled("device_classification") else \
            "queried anyway: the product code is resolved through it (sources.classification: false has no effect)"
        self._status("device_classification", "ok", note, last_updated=found.last_updated, total=found.total,
                     fetched=len(rows), details={"search": render_search(query), "comparators": len(chosen),
                                                 "comparators_available": len(others)})

    def resolve(self) -> None:
        code = self.params.code
        self.resolution = {"code": code, "kind": self.kind}
        if self.kind == "brand":
            self.resolution.update({
                "product_code": None, "device_name": None, "device_class": None, "regulation_number": None,
                "review_panel": None, "medical_specialty": None, "implant": None, "life_sustaining": None,
                "definition": None, "comparators": [], "comparators_truncated": False, "comparators_available": 0,
                "comparators_rule": "brand reports have no product code, hence no classification and no comparators",
            })
            self._status("device_classification", "disabled", "brand reports have no product code to classify")
            print(f"collect: {code} is a brand: no classification, no comparators", flush=True)
            return
        if self.kind == "udi_di":
            code = self._step(f"device/udi resolve UDI-DI {code}", self._resolve_udi)
        self.product_code = code
        self._step(f"device/classification {code} and comparators", lambda: self._classify(code))
        r = self.resolution
        print(f"collect: {code} = {r['device_name']} (class {r['device_class']}, regulation {r['regulation_number']}); "
              f"{len(self.comparators)} comparators" + (" (truncated)" if r["comparators_truncated"] else ""), flush=True)

    # -- device events -------------------------------------------------------------------------

    def _device_match(self) -> Match:
        if self.product_code is not None:
            return Match("device.device_report_product_code", (self.product_code,), exact=True)
        return Match("device.brand_name", (self.params.code,), exact=True)

    def _count(self, query: Query, field: str, *, scope: str, product_code: str | None, period: str,
               event_type: str, span: tuple[dt.date, dt.date], skip: bool = False) -> None:
        if skip:
            rows, truncated, last = [], False, None
        else:
            result = self.source.count("device/event", query, field, limit=COUNT_LIMIT)
            rows, truncated, last = result.rows, result.truncated, result.last_updated
        self.counts.append({
            "name": "device_event", "endpoint": "device/event", "search": render_search(query), "field": field,
            "scope": scope, "product_code": product_code, "period": period, "event_type": event_type,
            "start": span[0].isoformat(), "end": span[1].isoformat(), "limit": COUNT_LIMIT,
            "truncated": truncated, "rows": rows, "last_updated": last,
            **({"skipped": "no reports in the period (from totals.jsonl)"} if skip else {}),
        })

    def _total(self, query: Query, *, scope: str, product_code: str | None, period: str) -> int:
        n = self.source.total("device/event", query)
        self.totals.append({"scope": scope, "product_code": product_code, "period": period, "n_reports": n,
                            "endpoint": "device/event", "search": render_search(query)})
        return n

    def device_events(self) -> None:
        name = "device_event"
        if not self._enabled(name):
            self._status(name, "disabled", "sources.maude is false in the parameters")
            return
        match, pc = self._device_match(), self.product_code
        window = DateRange("date_received", self.start, self.end)
        years = window_years(self.start, self.end)

        def totals() -> dict[str, int]:
            per = {"all": self._total(Query((match, window)), scope="device", product_code=pc, period="all")}
            for year, a, b in years:
                per[year] = self._total(Query((match, DateRange("date_received", a, b))), scope="device",
                                        product_code=pc, period=year)
            return per

        per_period = self._required("device/event", lambda: self._step(
            f"device/event totals {self.start}..{self.end} (all + {len(years)} years)", totals))
        none = per_period["all"] == 0
        for a, b in window_chunks(self.start, self.end):
            span = DateRange("date_received", a, b)

            def chunk(span: DateRange = span, a: dt.date = a, b: dt.date = b) -> None:
                for event_type in ("all",) + EVENT_TYPES:
                    clauses = (match, span) + (() if event_type == "all" else (Match("event_type", (event_type,), exact=False),))
                    self._count(Query(clauses), "date_received", scope="device", product_code=pc, period="all",
                                event_type=event_type, span=(a, b), skip=none)
                self._count(Query((match, span)), "date_of_event", scope="device", product_code=pc, period="all",
                            event_type="all", span=(a, b), skip=none)

            self._required("device/event", lambda chunk=chunk, a=a, b=b: self._step(
                f"device/event count date_received, date_of_event {a}..{b} (all, {', '.join(EVENT_TYPES)})", chunk))

        def terms() -> None:
            for year, a, b in years:
                for term_field in TERM_FIELDS:
                    self._count(Query((match, DateRange("date_received", a, b))), term_field, scope="device",
                                product_code=pc, period=year, event_type="all", span=(a, b), skip=per_period[year] == 0)

        self._required("device/event", lambda: self._step(
            f"device/event count {', '.join(TERM_FIELDS)} per year ({len(years)} years)", terms))

        size = self.params.methods.review_sample_size
        sample = None
        if size > 0 and not none:
            sample = self._required("device/event", lambda: self._step(
                f"device/event review sample: {size} most recent", lambda: self.source.search(
                    "device/event", Query((match, window)), limit=size, sort="date_received:desc")))
            self.records[name] = list(sample.records)
        truncated_counts = [f"{c['field']} {c['period']} {c['event_type']} {c['start']}..{c['end']}"
                            for c in self.counts if c["truncated"] and c["scope"] == "device"]
        last = (sample.last_updated if sample else None) or next((c["last_updated"] for c in self.counts if c["last_updated"]), None)
        self._status(
            name, "ok" if not none else "empty",
            None if not none else f"no reports for {pc or self.params.code} received {self.start}..{self.end}",
            last_updated=last, total=per_period["all"], fetched=len(self.records[name]), truncated=bool(truncated_counts),
            details={
                "search": render_search(Query((match, window))),
                "sample_rule": f"the {size} most recent reports by date_received (descending) within the window",
                "count_queries": sum(1 for c in self.counts if c["scope"] == "device" and "skipped" not in c),
                "truncated_counts": truncated_counts,
                "window": {"start": self.start.isoformat(), "end": self.end.isoformat()},
            },
        )

    def comparator_events(self) -> None:
        if not self.comparators or not self._enabled("device_event"):
            return
        window = DateRange("date_received", self.start, self.end)

        def run() -> None:
            for code in self.comparators:
                match = Match("device.device_report_product_code", (code,), exact=True)
                n = self._total(Query((match, window)), scope="comparator", product_code=code, period="all")
                for term_field in TERM_FIELDS:
                    self._count(Query((match, window)), term_field, scope="comparator", product_code=code, period="all",
                                event_type="all", span=(self.start, self.end), skip=n == 0)

        self._required("device/event", lambda: self._step(
            f"device/event comparators: totals and {', '.join(TERM_FIELDS)} for {len(self.comparators)} codes", run))
        flagged = [f"{c['field']} {c['product_code']}" for c in self.counts if c["truncated"] and c["scope"] == "comparator"]
        st = self.statuses.get("device_event")
        if st is not None:
            st.details["comparator_truncated_counts"] = flagged
            st.truncated = st.truncated or bool(flagged)

    # -- registries ----------------------------------------------------------------------------

    def _registry(self, name: str, query: Query, *, sort: str | None = None, label: str | None = None, **details: Any) -> None:
        endpoint = name.replace("_", "/", 1)
        cap = source_spec(name).record_cap
        result = self._step(f"{endpoint} {label or query.describe()}",
                            lambda: self.source.search(endpoint, query, limit=cap, sort=sort))
        self._records_status(name, result, cap=cap, **details)

    def recalls(self) -> None:
        codes = tuple([self.product_code] + self.comparators)  # type: ignore[list-item]
        self._registry("device_recall", Query((Match("product_code", codes, exact=False),)),
                       label=f"product_code in {self.product_code} and {len(codes) - 1} comparators",
                       product_codes=list(codes), rule="recalls of the device's product code and of its comparators")

    def enforcement(self) -> None:
        name = "device_enforcement"
        recall = self.statuses.get("device_recall")
        if recall is None or recall.status not in ("ok", "empty"):
            why = recall.status if recall else "not run"
            self._status(name, "unavailable", f"enforcement reports carry no product code and are found through the "
                                              f"recall numbers of device/recall, which is {why}")
            return
        numbers = sorted({str(r["product_res_number"]) for r in self.records["device_recall"] if r.get("product_res_number")})
        if not numbers:
            self._status(name, "empty", "no recall numbers (product_res_number) to look up in device/enforcement",
                         details={"rule": "recall_number in the recalls' product_res_number"})
            return
        found: list[dict[str, Any]] = []
        total, last = 0, None
        searches = []

        def run() -> None:
            nonlocal total, last
            for i in range(0, len(numbers), ENFORCEMENT_BATCH):
                query = Query((Match("recall_number", tuple(numbers[i:i + ENFORCEMENT_BATCH]), exact=False),))
                searches.append(render_search(query))
                result = self.source.search("device/enforcement", query, limit=source_spec(name).record_cap)
                found.extend(result.records)
                total += result.total
                last = last or result.last_updated

        self._step(f"device/enforcement by {len(numbers)} recall numbers", run)
        self.records[name] = found
        self._status(name, "ok" if found else "empty", None if found else "no enforcement report for the recall numbers",
                     last_updated=last, total=total, fetched=len(found), truncated=len(found) < total,
                     details={"searches": searches, "recall_numbers": len(numbers),
                              "rule": "recall_number in the product_res_number of the collected recalls "
                                      "(device/enforcement has no product code; its openfda block is empty)"})

    def registries(self) -> None:
        def by_code(field: str) -> Query:
            return Query((Match(field, (self.product_code or "",), exact=False),))

        self._optional("device_recall", self.recalls)
        self._optional("device_enforcement", self.enforcement)
        self._optional("device_510k", lambda: self._registry("device_510k", by_code("product_code"), sort="decision_date:desc"))
        self._optional("device_pma", lambda: self._registry("device_pma", by_code("product_code"), sort="decision_date:desc"))
        self._optional("device_udi", lambda: self._registry("device_udi", by_code("product_codes.code")))
        self._optional("device_registrationlisting", lambda: self._registry(
            "device_registrationlisting", by_code("products.product_code")))

    # -- Eudamed -------------------------------------------------------------------------------

    def _primary_dis(self) -> list[str]:
        dis: list[str] = []
        if self.kind == "udi_di":
            dis.append(self.params.code)
        for record in self.records["device_udi"]:
            for ident in record.get("identifiers") or []:
                if isinstance(ident, dict) and ident.get("type") == "Primary" and ident.get("id"):
                    di = str(ident["id"])
                    if di not in dis:
                        dis.append(di)
        return dis

    def _eudamed_targets(self, cap: int | None) -> tuple[str, list[str], Callable[[dict[str, Any]], bool]]:
        """(rule, look-ups, record filter) for the device's Eudamed records."""
        if self.kind == "brand":
            wanted = self.params.code.strip().casefold()
            return ("trade name equal to the brand (case-insensitive)", [f"tradeName={self.params.code}"],
                    lambda r: str(r.get("tradeName") or "").strip().casefold() == wanted)
        dis = self._primary_dis()[:cap]
        rule = ("primaryDi equal to " + ("the UDI-DI, then " if self.kind == "udi_di" else "")
                + "the primary DIs of the product code's GUDID records (device/udi)"
                + (f", at most {cap}" if cap else ""))
        wanted_dis = set(dis)
        return rule, [f"primaryDi={di}" for di in dis], lambda r: str(r.get("primaryDi") or "") in wanted_dis

    def eudamed(self) -> None:
        name = "eudamed"
        if not self._enabled(name):
            self._status(name, "disabled", "sources.eudamed is false in the parameters")
        elif self.origin == "mirror":
            self._eudamed_mirror()
        else:
            self._optional(name, self._eudamed_api, needs_code=False)

    def _eudamed_mirror(self) -> None:
        reader = getattr(self.source, "eudamed_records", None)
        try:
            held = reader() if callable(reader) else None
        except CerError as exc:  # a malformed eudamed/ folder in the mirror
            self._status("eudamed", "error", str(exc))
            return
        if held is None:
            self._status("eudamed", "disabled", "not in mirror")
            return
        rule, lookups, keep = self._eudamed_targets(None)
        found = [r for r in held if keep(r)]
        self.records["eudamed"] = found
        self._status("eudamed", "ok" if found else "empty",
                     f"from the mirror's eudamed/ folder ({len(held)} records, {len(found)} for this device)",
                     total=len(found), fetched=len(found),
                     details={"rule": rule, "lookups": lookups, "mirror_records": len(held),
                              "vigilance": "not public in Eudamed"})

    def _eudamed_api(self) -> None:
        from .sources.eudamed import Eudamed

        rule, lookups, keep = self._eudamed_targets(EUDAMED_MAX_LOOKUPS)
        if not lookups:
            self._status("eudamed", "empty", f"no UDI-DI to look up: device/udi has no primary DI for {self.product_code}",
                         details={"rule": rule, "vigilance": "not public in Eudamed"})
            return
        eu = Eudamed.for_run(self.ctx)
        found: dict[str, dict[str, Any]] = {}

        def run() -> None:
            for lookup in lookups:
                key, _, value = lookup.partition("=")
                page = eu.devices(trade_name=value, limit=None) if key == "tradeName" else eu.devices(primary_di=value, limit=25)
                for r in page.records:
                    if keep(r):
                        found.setdefault(str(r.get("uuid") or len(found)), r)

        try:
            self._step(f"eudamed devices ({rule})", run)
        finally:
            eu.client.close()
        self.records["eudamed"] = list(found.values())
        self._status("eudamed", "ok" if found else "empty",
                     None if found else f"no Eudamed device record for {len(lookups)} look-up(s)",
                     total=len(found), fetched=len(found),
                     details={"lookups": lookups, "rule": rule, "base_url": eu.base_url,
                              "vigilance": "not public in Eudamed"})

    # -- output --------------------------------------------------------------------------------

    def write(self) -> None:
        settings = self.ctx.settings
        status = CollectStatus.model_validate({
            "origin": self.origin,
            "offline": bool(self.params.http.offline) if self.origin == "api" else False,
            "synthetic": bool(getattr(self.source, "synthetic", False)),
            "mirror": str(self.ctx.mirror_dir) if self.origin == "mirror" else None,
            "base_url": settings.openfda_base_url if self.origin == "api" else None,
            "code": self.params.code,
            "kind": self.kind,
            "window": {"start": self.start.isoformat(), "end": self.end.isoformat()},
            "sources": {name: dataclasses.asdict(self.statuses[name]) for name in self.sources},
        })
        self.ctx.folder.write_collected(records={name: self.records[name] for name in self.sources}, counts=self.counts,
                                        totals=self.totals, resolution=self.ctx.profile.resolution_model.model_validate(self.resolution),
                                        status=status)

    def run(self) -> CollectSummary:
        self.ctx.folder.remove(layout.COLLECT_STATUS)  # from an earlier run: this one is not finished until it is rewritten
        where = self.ctx.settings.openfda_base_url if self.origin == "api" else str(self.ctx.mirror_dir)
        print(f"collect: {self.params.code} ({self.kind}) from {self.origin} {where}, window {self.start}..{self.end}", flush=True)
        self.resolve()
        self.device_events()
        self.comparator_events()
        self.registries()
        self.eudamed()
        for name in self.sources:  # anything not reached
            self.statuses.setdefault(name, SourceStatus(name=name, status="disabled", reason="not collected"))
        self.write()
        answers = self.ctx.provenance.requests()[self._requests_at_start:]
        summary = CollectSummary(
            collected_dir=self.out, origin=self.origin, code=self.params.code, kind=self.kind,
            product_code=self.product_code, statuses=dict(self.statuses), n_counts=len(self.counts),
            n_totals=len(self.totals), requests=len(answers), from_cache=sum(1 for a in answers if a.get("from_cache")),
        )
        used = f"{summary.requests} requests ({summary.from_cache} from cache), " if self.origin == "api" else ""
        print(f"collect: done: {used}{summary.n_counts} counts, {summary.n_totals} totals", flush=True)
        return summary
