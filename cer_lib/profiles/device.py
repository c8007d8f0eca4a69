"""The device profile: FDA product codes, UDI-DIs and brand names.

Resolution (asked of the run's `Source` before anything else):

- a UDI-DI is first resolved to its product code through ``device/udi`` (GUDID): the first product
  code of the record whose identifiers include the DI;
- a product code is looked up in ``device/classification``; its comparators are the other product
  codes with the same regulation number, the ``methods.signals.max_comparators`` with the most device
  event reports in the window (one count request; `cer_lib.profiles.comparators`);
- a brand has no product code, hence no classification and no comparators. It is resolved to the
  way the data write it (`BrandMatch`): the device events in the window whose ``device.brand_name``
  has the brand's words (an analysed phrase search) are counted by ``device.brand_name.exact``; the
  values whose normalised form (`cer_lib.names.match_key`: case, ``® ™ ©``, surrounding punctuation,
  repeated spaces) equals the brand's are its variants, the others are other brands that share its
  words. The events searched are those with one of the variants (``.exact``); when openFDA's search
  syntax cannot carry a variant (``&``, ``®``, ...), those with the brand's words less those with one
  of the other brands, which selects the same reports.

The collect plan (`DeviceProfile.plan`), for the sources of the ``device`` family:

- device events: ``device.device_report_product_code`` (exact), or the brand's `BrandMatch` for a
  brand, and ``date_received`` in the window: report totals for the window and per calendar year;
  day counts of ``date_received`` per window chunk of at most `CHUNK_DAYS` days, for all reports and
  each of Death, Injury, Malfunction; ``date_of_event`` for all reports over the same chunks; per
  calendar year ``product_problems.exact``, ``patient.patient_problems.exact`` and
  ``summary_report_flag.exact`` (Voluntary Malfunction Summary Reports); the review sample
  (``methods.review_sample_size`` most recent reports); for the comparators: each one's total over
  the window, the totals per year of all comparators and the totals (window and per year) of the
  reports of the device and the comparators that carry a device / patient problem code, each
  period's totals from one count by product code (`TotalsByCode`), and each comparator's two term
  counts per year with reports;
- recalls: ``device/recall`` of the device and its comparators. Enforcement reports carry no product
  code (their ``openfda`` block is empty), so ``device/enforcement`` is searched by the recalls'
  numbers (``recall_number`` = the recall's ``product_res_number``);
- 510(k), PMA, UDI and registration records of the product code;
- EUDAMED: device records whose ``primaryDi`` is the UDI-DI (kind udi_di) or one of the primary
  UDI-DIs of the product code's GUDID records (the GS1 DI is the same in both databases; at most
  `EUDAMED_MAX_LOOKUPS` look-ups online), or whose trade name has the brand's normalised form. Vigilance
  data are not public.
"""
from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any, ClassVar, Literal

from pydantic import Field

from ..codes import Kind, check_product_code_exists
from ..collect.execute import Progress
from ..collect.plan import (
    CollectPlan,
    Count,
    EudamedLookup,
    LookupByRecords,
    Search,
    SourcePlan,
    Step,
    Total,
    TotalsByCode,
    window_chunks,
    window_years,
)
from ..errors import CodeError
from ..names import classify_terms, word_phrase
from ..params import Parameters
from ..refresh.facts import change_facts, feedback_facts
from ..report import facts as F
from ..report.meddev import MEDDEV_A9
from ..runfolder import CollectedInputs, Comparator, Resolution, RunFileModel
from ..settings import Settings
from ..sources.base import DateRange, Exists, Match, Query, Source, SourceStatus
from ..sources.openfda import render_search, search_text, unsendable_characters
from ..sources.registry import SourceSpec, source_spec
from ..tables import device as device_tables
from ..tables.schemas import TABLE_NAMES
from .base import Profile, Resolved
from .comparators import CODE_FIELD, ComparatorChoice, choose_comparators

__all__ = ["DEVICE", "DeviceProfile", "DeviceResolution"]

EVENT_TYPES = ("Death", "Injury", "Malfunction")
TERM_FIELDS = ("product_problems.exact", "patient.patient_problems.exact")
#: Totals of the reports carrying a problem code of each type: the row totals of the disproportionality analysis.
PROBLEM_SUBSETS = {"device_problem": "product_problems", "patient_problem": "patient.patient_problems"}
#: openFDA's flag of a summary report (a Voluntary Malfunction Summary Report: one report, many events).
SUMMARY_REPORT_FIELD = "summary_report_flag.exact"
EUDAMED_MAX_LOOKUPS = 10
ENFORCEMENT_BATCH = 50  # recall numbers OR-ed per enforcement search
RESOLVING = ("device_classification",)  # asked while resolving the code, not planned
WITHOUT_PRODUCT_CODE = ("device_event", "eudamed")  # the sources a brand (no product code) can still ask
PRODUCT_CODE_FIELD = {"device_udi": "product_codes.code", "device_registrationlisting": "products.product_code"}
BRAND_FIELD = "device.brand_name"
BRAND_TERMS = 1000  # distinct brand names counted per brand resolution (openFDA's count limit)
_FLAG = {"Y": True, "N": False}


class NameVariant(RunFileModel):
    value: str
    records: int


class BrandMatch(RunFileModel):
    """How a brand's device events are found (``collected/resolution.json`` → ``brand``)."""

    typed: str  # the brand as given
    normalised: str  # its normalised form (`cer_lib.names.match_key`)
    field: str
    words: str  # the analysed phrase that finds how the data write it
    variants: list[NameVariant]  # values of the field with the brand's normalised form, reports in the window
    others: list[NameVariant]  # values that share its words but are other brands
    mode: Literal["variants", "words less others"]
    rule: str

    def clauses(self) -> tuple[Match, ...]:
        """The query clauses that select the brand's events (with any date clause AND-ed by the caller)."""
        if self.mode == "variants":
            return (Match(self.field, tuple(v.value for v in self.variants) or (self.normalised,), exact=True),)
        words = Match(self.field, (self.words,), exact=False)
        others = tuple(v.value for v in self.others)
        return (words, Match(self.field, others, exact=True, negate=True)) if others else (words,)


class UdiResolution(RunFileModel):
    udi_di: str
    endpoint: str
    search: str
    product_codes: list[str]
    chosen: str
    rule: str


class DeviceResolution(Resolution):
    """``collected/resolution.json`` of a device: its classification and comparators."""

    product_code: str | None = None
    device_name: str | None = None
    device_class: str | None = None
    regulation_number: str | None = None
    review_panel: str | None = None
    medical_specialty: str | None = None
    implant: bool | None = None
    life_sustaining: bool | None = None
    definition: str | None = None
    comparators: list[Comparator] = Field(default_factory=list)
    comparators_truncated: bool = False
    comparators_available: int = 0
    comparators_rule: str | None = None
    comparators_by_volume: bool = False  # ranked by report volume (else in product-code order, the rule says why)
    comparators_left_out: list[Comparator] = Field(default_factory=list)  # candidates beyond the cap, ranked
    comparators_volume_search: str | None = None  # the search of the volume count
    udi_di_resolution: UdiResolution | None = None
    brand: BrandMatch | None = None

    @property
    def subject_name(self) -> str | None:
        return self.device_name

    @property
    def subject_class(self) -> str | None:
        return self.device_class

    @property
    def comparator_codes(self) -> list[str]:
        return [c.product_code for c in self.comparators]


class DeviceProfile(Profile):
    name: ClassVar[str] = "device"
    kinds: ClassVar[tuple[Kind, ...]] = (Kind.product_code, Kind.udi_di, Kind.brand)
    resolution_model: ClassVar[type[Resolution]] = DeviceResolution
    table_names: ClassVar[tuple[str, ...]] = TABLE_NAMES
    report = MEDDEV_A9
    fact_builders = (F.run_facts, F.device_facts, F.source_facts, F.method_facts, F.maude_facts, F.trend_facts,
                     F.trend_method_facts, F.share_facts, F.change_point_facts, F.change_point_method_facts,
                     F.forecast_facts, F.forecast_method_facts, F.problem_facts, F.signal_facts, F.recall_facts,
                     F.submission_facts, F.product_facts, F.citation_facts, change_facts, feedback_facts)

    # -- before the run ------------------------------------------------------------------------

    def preflight(self, params: Parameters, settings: Settings) -> None:
        """The mirror exists, and a product code is in its FDA classification file (or the demo mirror's)."""
        super().preflight(params, settings)
        if params.kind is not Kind.product_code:
            return
        from ..sources.demo import mirror_folder
        from ..sources.mirror.formats.foiclass import find_classification_file, product_codes

        if params.data_from == "mirror":
            candidates = [mirror_folder(params.mirror, settings)]
        else:
            candidates = [Path(p) for p in (params.mirror, settings.demo_mirror_dir) if p]
        for candidate in candidates:
            classification = find_classification_file(candidate)
            if classification is not None:
                check_product_code_exists(params.code, product_codes(classification),
                                          source=f"the classification file {classification.name}")
                return

    # -- resolution ----------------------------------------------------------------------------

    def resolve(self, params: Parameters, source: Source, progress: Progress) -> Resolved:
        code = params.code
        if params.kind is Kind.brand:
            brand = progress.step(f"device/event how the data write the brand {code}",
                                  lambda: self._resolve_brand(params, source, progress))
            resolution = DeviceResolution(
                code=code, kind=params.kind.value, brand=brand,
                comparators_rule="brand reports have no product code, hence no classification and no comparators")
            status = SourceStatus("device_classification", "disabled", "brand reports have no product code to classify")
            found = ", ".join(f"{v.value!r} ({v.records})" for v in brand.variants) or "none"
            print(f"collect: {code} is a brand (normalised {brand.normalised!r}; variants in the data: {found}): "
                  f"no classification, no comparators", flush=True)
            return Resolved(resolution, {status.name: status})
        udi = None
        if params.kind is Kind.udi_di:
            udi = progress.step(f"device/udi resolve UDI-DI {code}", lambda: self._resolve_udi(code, source, progress))
            code = udi.chosen
        resolved = progress.step(f"device/classification {code} and comparators",
                                 lambda: self._classify(params, code, source, progress, udi))
        r = resolved.resolution
        assert isinstance(r, DeviceResolution)
        print(f"collect: {code} = {r.device_name} (class {r.device_class}, regulation {r.regulation_number}); "
              f"{len(r.comparators)} comparators" + (" (truncated)" if r.comparators_truncated else ""), flush=True)
        return resolved

    @staticmethod
    def _resolve_brand(params: Parameters, source: Source, progress: Progress) -> BrandMatch:
        """The brand's `BrandMatch` (see the module docstring), from one count of the source."""
        name, endpoint = params.code, source_spec("device_event").endpoint or ""
        assert params.window.end is not None, "resolve from resolved parameters (window end fixed)"
        words = word_phrase(name)
        online = source.origin == "api"
        if online and unsendable_characters(words):
            letters = ", ".join(repr(c) for c in unsendable_characters(words)[:6])
            raise CodeError(
                f"the brand {name!r} has letters openFDA's search syntax does not accept ({letters}: it takes only "
                f"A-Z and 0-9 in words), so openFDA cannot be searched for it; report from a mirror (--from mirror)")
        finder = Query((Match(BRAND_FIELD, (words,), exact=False),
                        DateRange("date_received", params.window.start, params.window.end)))
        counted = progress.required(f"{endpoint} (brand names with the words {words!r})",
                                    lambda: source.count(endpoint, finder, f"{BRAND_FIELD}.exact", limit=BRAND_TERMS))
        if counted.truncated:
            raise CodeError(f"{BRAND_TERMS:,} or more brand names in {endpoint} have the words of {name!r}; give the "
                            f"brand more fully so that its reports can be told from the others'")
        terms = classify_terms(name, counted.rows)
        variants = [NameVariant(value=t.value, records=t.records) for t in terms.variants]
        others = [NameVariant(value=t.value, records=t.records) for t in terms.others]
        exact_values = [v.value for v in variants] or [terms.key]
        normalisation = ("case, the marks ® ™ © ℠ ℗, typographic quotes and dashes, surrounding punctuation and "
                         "repeated spaces ignored")
        if not online or not any(unsendable_characters(v) for v in exact_values):
            mode, rule = "variants", f"{BRAND_FIELD} equal to one of the values with that form; {normalisation}"
        elif not any(unsendable_characters(o.value) for o in others):
            mode, rule = "words less others", (
                f"{BRAND_FIELD} with the words {words!r} and none of the other brands that have them, as openFDA's "
                f"search syntax cannot carry a variant of the brand; {normalisation}")
        else:
            bad = next(o.value for o in others if unsendable_characters(o.value))
            raise CodeError(
                f"openFDA cannot be searched exactly for the brand {name!r}: its variants hold characters its search "
                f"syntax does not accept, and so does {bad!r}, another brand with the same words that would have to "
                f"be left out; report from a mirror (--from mirror)")
        return BrandMatch(typed=name, normalised=terms.key, field=BRAND_FIELD, words=words, variants=variants,
                          others=others, mode=mode, rule=rule)

    @staticmethod
    def _resolve_udi(di: str, source: Source, progress: Progress) -> UdiResolution:
        query = Query((Match("identifiers.id", (di,), exact=False),))
        found = progress.required("device/udi (to resolve the UDI-DI)", lambda: source.search("device/udi", query, limit=10))
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
        return UdiResolution(udi_di=di, endpoint="device/udi", search=render_search(query), product_codes=codes,
                             chosen=codes[0],
                             rule="the first product code of the GUDID record whose identifiers include the UDI-DI")

    def _classify(self, params: Parameters, code: str, source: Source, progress: Progress,
                  udi: UdiResolution | None) -> Resolved:
        endpoint = "device/classification"
        query = Query((Match("product_code", (code,), exact=False),))
        found = progress.required(endpoint, lambda: source.search(endpoint, query, limit=10))
        rows = [r for r in found.records if r.get("product_code") == code]
        if not rows:
            where = "the mirror's classification file" if source.origin == "mirror" else "openFDA"
            raise CodeError(
                f"{code!r} is not a product code in {where} (device/classification has no record for it). "
                f"Check the code against FDA's product classification database."
            )
        rec = rows[0]
        regulation = (rec.get("regulation_number") or "").strip()
        choice = ComparatorChoice([], [], "no regulation number in the classification record, so no comparators",
                                  by_volume=False)
        if regulation:
            same = Query((Match("regulation_number", (regulation,), exact=False),))
            peers = progress.required(endpoint, lambda: source.search(endpoint, same, limit=None))
            by_code: dict[str, Comparator] = {}
            for r in peers.records:
                pc = r.get("product_code")
                if pc and pc != code and (r.get("regulation_number") or "").strip() == regulation:
                    by_code.setdefault(pc, Comparator(product_code=pc, device_name=r.get("device_name") or None,
                                                      device_class=r.get("device_class") or None))
            assert params.window.end is not None, "resolve from resolved parameters (window end fixed)"
            choice = choose_comparators(
                code, list(by_code.values()), regulation, cap=params.methods.signals.max_comparators,
                window=(params.window.start, params.window.end), source=source,
                events_enabled=source_spec("device_event").enabled(params), step=progress.step)
        resolution = DeviceResolution(
            code=params.code, kind=params.kind.value, udi_di_resolution=udi,
            product_code=code,
            device_name=rec.get("device_name") or None,
            device_class=rec.get("device_class") or None,
            regulation_number=regulation or None,
            review_panel=rec.get("review_panel") or None,
            medical_specialty=rec.get("medical_specialty_description") or rec.get("medical_specialty") or None,
            implant=_FLAG.get(str(rec.get("implant_flag") or "").upper()),
            life_sustaining=_FLAG.get(str(rec.get("life_sustain_support_flag") or "").upper()),
            definition=rec.get("definition") or None,
            comparators=choice.chosen,
            comparators_truncated=bool(choice.left_out),
            comparators_available=len(choice.chosen) + len(choice.left_out),
            comparators_rule=choice.rule,
            comparators_by_volume=choice.by_volume,
            comparators_left_out=choice.left_out,
            comparators_volume_search=choice.volume_search,
        )
        spec = source_spec("device_classification")
        note = None if spec.enabled(params) else \
            f"queried anyway: the product code is resolved through it (sources.{spec.switch}: false has no effect)"
        status = SourceStatus(spec.name, "ok", note, last_updated=found.last_updated, total=found.total,
                              fetched=len(rows), details={"search": render_search(query), "comparators": len(choice.chosen),
                                                          "comparators_available": len(choice.chosen) + len(choice.left_out)})
        return Resolved(resolution, {spec.name: status}, {spec.name: rows})

    # -- the collect plan ----------------------------------------------------------------------

    def plan(self, params: Parameters, resolution: Resolution) -> CollectPlan:
        """Every request of stage 01 after resolution, in the order they are made (see the module docstring)."""
        assert isinstance(resolution, DeviceResolution)
        assert params.window.end is not None, "plan from resolved parameters (window end fixed)"
        planners = {"device_event": self._event_plan, "device_enforcement": self._enforcement_plan,
                    "eudamed": self._eudamed_plan}
        plans = []
        for spec in self.sources:
            if spec.name in RESOLVING:
                continue  # asked while resolving
            disabled = None if spec.enabled(params) else f"sources.{spec.switch} is false in the parameters"
            if disabled is None and resolution.product_code is None and spec.name not in WITHOUT_PRODUCT_CODE:
                disabled = f"needs a product code; {params.kind.value} reports have none"
            if disabled:
                plans.append(SourcePlan(spec.name, spec.required, disabled=disabled))
            else:
                plans.append(planners.get(spec.name, self._registry_plan)(params, resolution, spec))
        return CollectPlan(tuple(plans))

    @staticmethod
    def _enforcement_plan(params: Parameters, resolution: DeviceResolution, spec: SourceSpec) -> SourcePlan:
        lookup = LookupByRecords(
            endpoint=spec.endpoint or "", field="recall_number", from_source="device_recall",
            from_field="product_res_number", batch=ENFORCEMENT_BATCH, limit=spec.record_cap,
            rule="recall_number in the product_res_number of the collected recalls "
                 "(device/enforcement has no product code; its openfda block is empty)",
            why="enforcement reports carry no product code and are found through the recall numbers of device/recall",
            nothing_to_look_up="no recall numbers (product_res_number) to look up in device/enforcement",
            none_found="no enforcement report for the recall numbers", count_key="recall_numbers")
        return SourcePlan(spec.name, spec.required, outcome="lookup",
                          steps=(Step("device/enforcement by {n} recall numbers", (lookup,)),))

    def _eudamed_plan(self, params: Parameters, resolution: DeviceResolution, spec: SourceSpec) -> SourcePlan:
        return SourcePlan(spec.name, spec.required, outcome="eudamed",
                          steps=(Step("eudamed devices ({rule})", (self._eudamed_lookup(params, resolution),)),))

    @staticmethod
    def _registry_plan(params: Parameters, resolution: DeviceResolution, spec: SourceSpec) -> SourcePlan:
        """A search of the product code's records (recalls: also of the comparators)."""
        endpoint, pc = spec.endpoint or "", resolution.product_code or ""
        details: dict[str, Any] = {}
        label = None
        sort = None
        if spec.name == "device_recall":
            codes = (pc, *resolution.comparator_codes)
            query = Query((Match("product_code", codes, exact=False),))
            label = f"product_code in {pc} and {len(codes) - 1} comparators"
            details = {"product_codes": list(codes), "rule": "recalls of the device's product code and of its comparators"}
        else:
            query = Query((Match(PRODUCT_CODE_FIELD.get(spec.name, "product_code"), (pc,), exact=False),))
            sort = "decision_date:desc" if spec.name in ("device_510k", "device_pma") else None
        step = Step(f"{endpoint} {label or query.describe()}", (Search(endpoint, query, limit=spec.record_cap, sort=sort),))
        return SourcePlan(spec.name, spec.required, steps=(step,), details=details)

    @staticmethod
    def _event_plan(params: Parameters, resolution: DeviceResolution, spec: SourceSpec) -> SourcePlan:
        endpoint = spec.endpoint or ""
        start, end = params.window.start, params.window.end
        assert end is not None
        pc = resolution.product_code
        if pc:
            subject: tuple[Match, ...] = (Match(CODE_FIELD, (pc,), exact=True),)
        else:
            assert resolution.brand is not None, "a device without a product code is a brand, resolved first"
            subject = resolution.brand.clauses()
        window = DateRange("date_received", start, end)
        years = window_years(start, end)
        everything = ("device", pc, "all")
        comparators = resolution.comparator_codes if pc else []
        if comparators:  # the device's yearly totals come with the comparators', one count per period
            totals: tuple[Any, ...] = _family_totals(endpoint, pc or "", comparators, start, end)
            label = f"{endpoint} totals {start}..{end} (all + {len(years)} years; device and {len(comparators)} comparators)"
        else:
            totals = tuple(Total(endpoint, Query((*subject, DateRange("date_received", a, b))), "device", pc, year)
                           for year, a, b in years)
            label = f"{endpoint} totals {start}..{end} (all + {len(years)} years)"
        steps = [Step(label, (Total(endpoint, Query((*subject, window)), "device", pc, "all"), *totals))]
        for a, b in window_chunks(start, end):
            span = DateRange("date_received", a, b)
            counts = [Count(endpoint, Query((*subject, span, *(() if t == "all" else (Match("event_type", (t,), exact=False),)))),
                            "date_received", "device", pc, "all", t, (a, b), unless_empty=everything)
                      for t in ("all",) + EVENT_TYPES]
            counts.append(Count(endpoint, Query((*subject, span)), "date_of_event", "device", pc, "all", "all", (a, b),
                                unless_empty=everything))
            steps.append(Step(f"{endpoint} count date_received, date_of_event {a}..{b} (all, {', '.join(EVENT_TYPES)})",
                              tuple(counts)))
        steps.append(Step(f"{endpoint} count {', '.join(TERM_FIELDS)} per year ({len(years)} years)", tuple(
            Count(endpoint, Query((*subject, DateRange("date_received", a, b))), term, "device", pc, year, "all", (a, b),
                  unless_empty=("device", pc, year))
            for year, a, b in years for term in TERM_FIELDS)))
        size = params.methods.review_sample_size
        if size > 0:
            steps.append(Step(f"{endpoint} review sample: {size} most recent", (
                Search(endpoint, Query((*subject, window)), limit=size, sort="date_received:desc", unless_empty=everything),)))
        steps.append(Step(f"{endpoint} count {SUMMARY_REPORT_FIELD} per year ({len(years)} years)", tuple(
            Count(endpoint, Query((*subject, DateRange("date_received", a, b))), SUMMARY_REPORT_FIELD, "device", pc, year,
                  "all", (a, b), unless_empty=("device", pc, year))
            for year, a, b in years)))
        if comparators:
            steps += _comparator_steps(endpoint, pc or "", comparators, start, end,
                                       per_year=params.methods.signals.stratify_by_year)
        return SourcePlan(
            spec.name, spec.required, steps=tuple(steps), outcome="series",
            empty_reason=f"no reports for {pc or params.code} received {start}..{end}",
            details={"search": search_text(Query((*subject, window))),
                     "sample_rule": f"the {size} most recent reports by date_received (descending) within the window",
                     "window": {"start": start.isoformat(), "end": end.isoformat()}},
        )

    @staticmethod
    def _eudamed_lookup(params: Parameters, resolution: DeviceResolution) -> EudamedLookup:
        if params.kind is Kind.brand:
            return EudamedLookup(rule="trade name with the brand's normalised form (case, ® ™ ©, surrounding "
                                      "punctuation and repeated spaces ignored)", trade_name=params.code)
        own = (params.code,) if params.kind is Kind.udi_di else ()
        rule = ("primaryDi equal to " + ("the UDI-DI, then " if own else "")
                + "the primary DIs of the product code's GUDID records (device/udi)")
        return EudamedLookup(rule=rule, dis=own, dis_from="device_udi", max_lookups=EUDAMED_MAX_LOOKUPS,
                             nothing_to_look_up=f"no UDI-DI to look up: device/udi has no primary DI for {resolution.product_code}")

    # -- tables --------------------------------------------------------------------------------

    def build_tables(self, inputs: CollectedInputs) -> dict[str, device_tables.TidyTable]:
        resolution = inputs.resolution.model_dump(mode="json") if inputs.resolution is not None else None
        return device_tables.build_device_tables(inputs.records, inputs.counts, inputs.totals, resolution)

    def analyze(self, ctx: Any) -> Any:
        from ..analysis.stage import analyze  # the analysis package is heavy: imported when the stage runs

        return analyze(ctx)


def _family(pc: str, comparators: list[str]) -> tuple[tuple[str, str], ...]:
    """``(code, scope)`` of the device and its comparators."""
    return ((pc, "device"), *((code, "comparator") for code in comparators))


def _of(codes: tuple[tuple[str, str], ...]) -> Match:
    return Match(CODE_FIELD, tuple(code for code, _ in codes), exact=True)


def _family_totals(endpoint: str, pc: str, comparators: list[str], start: dt.date, end: dt.date) -> tuple[TotalsByCode, ...]:
    """The report totals of the device and its comparators per year, and of the comparators over the
    window (the device's own window total is the headline `Total`): one count by product code per period."""
    family = _family(pc, comparators)
    by_code = f"{CODE_FIELD}.exact"
    window = DateRange("date_received", start, end)
    return (TotalsByCode(endpoint, Query((_of(family[1:]), window)), by_code, family[1:], "all"),
            *(TotalsByCode(endpoint, Query((_of(family), DateRange("date_received", a, b))), by_code, family, year)
              for year, a, b in window_years(start, end)))


def _comparator_steps(endpoint: str, pc: str, comparators: list[str], start: dt.date, end: dt.date,
                      per_year: bool = True) -> list[Step]:
    """The family's requests after its totals (`_family_totals`): the totals (window and per year) of the
    device's and the comparators' reports that carry a device / patient problem code, the row totals of
    the disproportionality analysis, one count by product code per period and problem type; then each
    comparator's two term counts per year with reports (years without are skipped by the yearly totals),
    or over the whole window when E is not stratified by year (``per_year`` false: two per comparator).
    """
    window = DateRange("date_received", start, end)
    years = window_years(start, end)
    spans = years if per_year else [("all", start, end)]
    family = _family(pc, comparators)
    coded = tuple(TotalsByCode(endpoint, Query((_of(family), span, Exists(field))), f"{CODE_FIELD}.exact", family, period,
                               subset)
                  for subset, field in PROBLEM_SUBSETS.items()
                  for period, span in (("all", window), *((y, DateRange("date_received", a, b)) for y, a, b in years)))
    counts = tuple(Count(endpoint, Query((Match(CODE_FIELD, (code,), exact=True), DateRange("date_received", a, b))),
                         term, "comparator", code, year, "all", (a, b), unless_empty=("comparator", code, year))
                   for code in comparators for year, a, b in spans for term in TERM_FIELDS)
    return [
        Step(f"{endpoint} reports with a device / patient problem code: device and {len(comparators)} comparators "
             f"(all + {len(years)} years)", coded),
        Step(f"{endpoint} comparators: {', '.join(TERM_FIELDS)} {'per year' if per_year else 'over the window'} for "
             f"{len(comparators)} codes", counts),
    ]


DEVICE = DeviceProfile()
