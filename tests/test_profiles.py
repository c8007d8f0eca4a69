"""Profiles and registries: the kind is looked up once, the report renders the structure the profile
gives, and every source is one registry entry."""
from __future__ import annotations

import dataclasses

import pytest

from cer_lib.codes import Kind
from cer_lib.errors import NoProfile
from cer_lib.params import Sources, load_parameters
from cer_lib.profiles import DEVICE, PROFILES, DeviceResolution, profile_for
from cer_lib.report.document import TABLE_SPECS, provenance_items, section_html
from cer_lib.report.narrative import narrate
from cer_lib.runfolder import RunFolder
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


def test_device_kinds_share_one_profile_and_drugs_are_refused_by_the_registry() -> None:
    assert {kind: profile.name for kind, profile in PROFILES.items()} == {
        Kind.product_code: "device", Kind.udi_di: "device", Kind.brand: "device"}
    assert profile_for("udi_di") is DEVICE
    with pytest.raises(NoProfile, match=r"drug reports are not built yet: 'METFORMIN' is a drug, and this version "
                                        r"reports on devices \(kind product_code, udi_di or brand\)"):
        profile_for("drug", "METFORMIN")


def test_every_source_is_one_registry_entry_the_profile_collects() -> None:
    assert DEVICE.source_names == tuple(SOURCES) == tuple(s.name for s in family("device"))
    switches = set(Sources.model_fields)
    for spec in DEVICE.sources:
        assert spec.switch in switches, spec.name
        assert set(spec.tables) <= set(TABLE_NAMES), spec.name
    assert {s.name for s in DEVICE.sources if s.required} == {"device_event", "device_classification"}
    for name in TABLE_NAMES:  # every table is built from at least one source, whose statuses become its notes
        assert DEVICE.sources_feeding(name), name
    assert DEVICE.sources_feeding("submissions") == ("device_510k", "device_pma")


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
