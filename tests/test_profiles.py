"""Profiles and registries: the kind is looked up once, the collect plan is a pure function, the report
renders the structure the profile gives, and every source is one registry entry."""
from __future__ import annotations

import dataclasses
import datetime as dt

import pytest

from cer_lib.codes import Kind
from cer_lib.collect.plan import (
    CHUNK_DAYS,
    Count,
    EudamedLookup,
    LookupByRecords,
    Search,
    Total,
    TotalsByCode,
    window_chunks,
    window_years,
)
from cer_lib.errors import NoProfile
from cer_lib.params import Sources, load_parameters
from cer_lib.profiles import DEVICE, PROFILES, DeviceResolution, profile_for
from cer_lib.profiles.device import TERM_FIELDS, BrandMatch, NameVariant
from cer_lib.report.document import provenance_items, section_html
from cer_lib.report.meddev import TABLES as TABLE_SPECS
from cer_lib.report.narrative import narrate
from cer_lib.runfolder import Comparator, RunFolder
from cer_lib.sources.base import Exists, Match
from cer_lib.sources.registry import SOURCES, family
from cer_lib.tables.schemas import TABLE_NAMES

from report_fixtures import make_run_folder

WINDOW = {"start": "2019-01-01", "end": "2021-12-31"}


def _params(code: str = "HWC", kind: str = "product_code", **overrides):
    return load_parameters(code, kind=kind, overrides={"from": "api", "window": WINDOW, **overrides}).resolved()


def _resolution(code: str = "HWC", kind: str = "product_code", **fields) -> DeviceResolution:
    return DeviceResolution(code=code, kind=kind, **fields)


# ----------------------------------------------------------------------------------------------
# the registry of profiles


def test_device_kinds_share_one_profile_and_a_kind_without_one_is_refused(monkeypatch) -> None:
    """Drugs have their profile now (issue 13); a kind without a profile is still refused by the registry."""
    assert {kind: profile.name for kind, profile in PROFILES.items()} == {
        Kind.product_code: "device", Kind.udi_di: "device", Kind.brand: "device", Kind.drug: "drug"}
    assert profile_for("udi_di") is DEVICE
    monkeypatch.delitem(PROFILES, Kind.drug)
    with pytest.raises(NoProfile, match=r"drug reports are not built yet: 'METFORMIN' is a drug, and this version "
                                        r"reports on devices \(kind product_code, udi_di or brand\)"):
        profile_for("drug", "METFORMIN")


def test_every_source_is_one_registry_entry_the_profile_collects() -> None:
    assert DEVICE.source_names == tuple(s for s in SOURCES if SOURCES[s].family == "device") == tuple(
        s.name for s in family("device"))
    switches = set(Sources.model_fields)
    for spec in DEVICE.sources:
        assert spec.switch in switches, spec.name
        assert set(spec.tables) <= set(TABLE_NAMES), spec.name
    assert {s.name for s in DEVICE.sources if s.required} == {"device_event", "device_classification"}
    for name in TABLE_NAMES:  # every table is built from at least one source, whose statuses become its notes
        assert DEVICE.sources_feeding(name), name
    assert DEVICE.sources_feeding("submissions") == ("device_510k", "device_pma")


# ----------------------------------------------------------------------------------------------
# the collect plan, without any HTTP


def test_the_plan_of_a_product_code_lists_every_request_in_order() -> None:
    params = _params()
    comparators = [Comparator(product_code=c) for c in ("HTY", "JDW")]
    plan = DEVICE.plan(params, _resolution(product_code="HWC", comparators=comparators))
    names = [p.source for p in plan.sources]
    assert names == [n for n in DEVICE.source_names if n != "device_classification"]  # asked while resolving
    events = plan["device_event"]
    assert events.required and events.outcome == "series" and not events.disabled
    start, end = params.window.start, params.window.end
    chunks, years = window_chunks(start, end), window_years(start, end)
    totals = [r for r in events.requests if isinstance(r, Total)]
    counts = [r for r in events.requests if isinstance(r, Count)]
    samples = [r for r in events.requests if isinstance(r, Search)]
    assert [(t.scope, t.product_code, t.period) for t in totals] == [("device", "HWC", "all")]
    # device: 5 series per chunk, 2 term counts and the summary-report flag per year; comparators: 2 term counts per year
    assert len(counts) == 5 * len(chunks) + 3 * len(years) + 2 * 2 * len(years)
    assert [c.period for c in counts if c.field == "summary_report_flag.exact"] == [y for y, _, _ in years]
    assert sorted((c.product_code, c.period) for c in counts if c.scope == "comparator" and c.field == TERM_FIELDS[0]) == \
        sorted((code, y) for code in ("HTY", "JDW") for y, _, _ in years)
    assert all(c.unless_empty == ("comparator", c.product_code, c.period) for c in counts if c.scope == "comparator")
    # totals of many codes, one count by product code per period: the device's and the comparators', and the family's
    # reports with a device / patient problem code for the window and per year (issue 9, item 5)
    by_code = [r for r in events.requests if isinstance(r, TotalsByCode)]
    family = (("HWC", "device"), ("HTY", "comparator"), ("JDW", "comparator"))
    assert [(t.period, t.subset, t.codes) for t in by_code] == (
        [("all", "all", family[1:])] + [(y, "all", family) for y, _, _ in years]
        + [(p, subset, family) for subset in ("device_problem", "patient_problem") for p in ("all", *(y for y, _, _ in years))])
    assert all(t.field == "device.device_report_product_code.exact" for t in by_code)
    assert [c for t in by_code if t.subset == "device_problem" for c in t.query.clauses if isinstance(c, Exists)] == \
        [Exists("product_problems")] * (len(years) + 1)
    assert all(c.span[1] - c.span[0] < dt.timedelta(days=CHUNK_DAYS) for c in counts if c.field.startswith("date_"))
    assert all(c.unless_empty is not None for c in counts)  # a period without reports asks nothing
    assert len(samples) == 1 and samples[0].limit == params.methods.review_sample_size and samples[0].sort == "date_received:desc"
    (lookup,) = plan["device_enforcement"].requests
    assert isinstance(lookup, LookupByRecords) and lookup.from_source == "device_recall" and lookup.field == "recall_number"
    (recalls,) = plan["device_recall"].requests
    assert recalls.query.clauses[0].values == ("HWC", "HTY", "JDW") and not plan["device_recall"].required
    (eudamed,) = plan["eudamed"].requests
    assert isinstance(eudamed, EudamedLookup) and eudamed.dis == () and eudamed.dis_from == "device_udi"


def test_comparator_term_counts_are_per_year_only_when_e_is_stratified_by_year() -> None:
    comparators = [Comparator(product_code=c) for c in ("HTY", "JDW")]
    resolution = _resolution(product_code="HWC", comparators=comparators)
    pooled = DEVICE.plan(_params(methods={"signals": {"stratify_by_year": False}}), resolution)["device_event"]
    lines = [(r.product_code, r.period, r.unless_empty) for r in pooled.requests
             if isinstance(r, Count) and r.scope == "comparator"]
    assert lines == [(c, "all", ("comparator", c, "all")) for c in ("HTY", "JDW") for _ in TERM_FIELDS]
    stratified = DEVICE.plan(_params(), resolution)["device_event"]
    assert len([r for r in stratified.requests if isinstance(r, Count) and r.scope == "comparator"]) > len(lines)


def test_the_plan_does_not_grow_with_the_number_of_events_and_follows_the_switches() -> None:
    params = _params(sources={"recall": False, "eudamed": False}, methods={"review_sample_size": 0})
    plan = DEVICE.plan(params, _resolution(product_code="HWC"))
    assert plan["device_recall"].disabled == "sources.recall is false in the parameters"
    assert plan["eudamed"].disabled == "sources.eudamed is false in the parameters"
    assert plan["device_enforcement"].disabled is None  # found through recalls, whose status then says why not
    assert not [r for r in plan["device_event"].requests if isinstance(r, Search)]
    assert len(plan.requests) == len(DEVICE.plan(params, _resolution(product_code="HWC")).requests)


def test_a_brand_is_planned_without_a_product_code_and_a_udi_di_looks_itself_up() -> None:
    rollator = BrandMatch(typed="ROLLATOR", normalised="ROLLATOR", field="device.brand_name", words="ROLLATOR",
                          variants=[NameVariant(value="Rollator", records=2)], others=[], mode="variants", rule="test")
    brand = DEVICE.plan(_params("ROLLATOR", "brand"), _resolution("ROLLATOR", "brand", brand=rollator))
    for name in ("device_recall", "device_enforcement", "device_510k", "device_pma", "device_udi", "device_registrationlisting"):
        assert brand[name].disabled == "needs a product code; brand reports have none", name
    assert brand["device_event"].requests[0].query.clauses[0] == Match("device.brand_name", ("Rollator",), exact=True)
    assert brand["eudamed"].requests[0].trade_name == "ROLLATOR"
    udi = DEVICE.plan(_params("00810005110402", "udi_di"), _resolution("00810005110402", "udi_di", product_code="NKB"))
    assert udi["eudamed"].requests[0].dis == ("00810005110402",)
    assert "the UDI-DI, then" in udi["eudamed"].requests[0].rule


# ----------------------------------------------------------------------------------------------
# the report renders the structure the profile gives


def test_every_exhibit_has_a_section_in_the_device_structure() -> None:
    structure = DEVICE.report
    numbers = {s.number for s in structure.sections}
    assert {spec.id for spec in TABLE_SPECS} == set(structure.exhibits)
    assert set(structure.exhibits.values()) <= numbers
    assert {structure.figures_section, structure.sources_section, structure.references_section} <= numbers


def test_the_document_renders_the_structure_the_profile_gives(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    run = make_run_folder(tmp_path, unavailable={"device_recall": "HTTP 503"})
    narrate(RunFolder(run))
    renamed = tuple(dataclasses.replace(s, title="Sources and their appraisal") if s.number == "4.5" else s
                    for s in DEVICE.report.sections)
    outline = dataclasses.replace(DEVICE.report, name="A test outline", title="A test report", sections=renamed,
                                  exhibits={**DEVICE.report.exhibits, "tab-sources": "9"}, sources_section="9")
    monkeypatch.setattr(type(DEVICE), "report", outline)
    front = section_html(run, "front")
    assert "<h1>A test report</h1>" in front and "Structure: A test outline." in front
    assert "Section 9 gives each status and reason" in front
    assert "4.5 Sources and their appraisal" in section_html(run, "4.5")
    assert {i["id"]: i["section"] for i in provenance_items(run)}["tab-sources"] == "9"
