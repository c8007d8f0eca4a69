"""The EU view (issue 12.4): a UDI-DI that resolves in EUDAMED shows its EMDN code, EU risk class, Basic UDI-DI and
manufacturer SRN; where there is none the report says why.

Against the local Eudamed of `openfda_server.serve_eudamed`, answering with the real records of
realdata/eudamed/udi-di-records.json. Derived for this test (no real record of a GUDID device of the local
openFDA is in that file): the first record re-keyed to the GUDID sample's UDI-DI 00810005110402, and its
detail record in the shape public clients record (search fields less ``riskClass``, plus ``cndNomenclatures``
with a real EMDN v2 code and term read from realdata/eudamed/emdn_v2.xlsx).
"""
from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import pandas as pd
import pytest

from cer_lib.context import RunContext
from cer_lib.collect import collect
from cer_lib.integrate import integrate
from cer_lib.report.facts import _Builder, eu_view_facts
from cer_lib.runfolder import RunFolder
from cer_lib.tables.device import emdn, products_table
from openfda_server import in2bones_datasets, serve_eudamed, serve_openfda
from openfda_server import threaded_httpserver  # noqa: F401  (fixture)
from test_collect import fast_source, make_ctx

UDI_DI = "00810005110402"  # the GUDID sample's pedicle screw system (product code NKB)

pytestmark = pytest.mark.realdata


def _emdn_entry(realdata: Path, code: str) -> dict:
    sheet = pd.read_excel(realdata / "eudamed" / "emdn_v2.xlsx", header=1, engine="openpyxl")
    term = sheet.loc[sheet["CODE"] == code, "TERM"].iloc[0]
    return {"uuid": "CD48A569F3438334E05343E4A79E78D8", "code": code, "gmdnNomenclatures": [],
            "description": {"texts": [{"language": {"isoCode": "en", "name": "English"}, "text": term,
                                       "allLanguagesApplicable": None}]}}


def _facts(folder: RunFolder, eu: pd.DataFrame) -> dict:
    builder = _Builder()
    eu_view_facts(builder, SimpleNamespace(status=folder.collect_status()), eu)
    return {name: fact.value for name, fact in builder.facts.items()}


def test_a_udi_di_found_in_eudamed_shows_emdn_risk_class_basic_udi_and_srn(threaded_httpserver, realdata: Path,  # noqa: F811
                                                                            tmp_path: Path) -> None:
    records = json.loads((realdata / "eudamed" / "udi-di-records.json").read_text(encoding="utf-8"))
    device = {**records[0], "primaryDi": UDI_DI}
    detail = {k: v for k, v in device.items() if k != "riskClass"} | {"cndNomenclatures": [_emdn_entry(realdata, "P09120699")]}
    eu_base = serve_eudamed(threaded_httpserver, [device, *records[1:]], details={device["uuid"]: detail})
    fda = serve_openfda(threaded_httpserver, in2bones_datasets(realdata))
    ctx = make_ctx(tmp_path, UDI_DI, fda.base_url, eudamed_url=eu_base, kind="udi_di")
    status = collect(ctx, fast_source(ctx)).statuses["eudamed"]
    assert status.status == "ok" and status.details["detail_records"] == 1

    integrate(RunContext(ctx.run_dir, ctx.params, ctx.settings, stage="02_integrate"))
    folder = RunFolder(ctx.run_dir)
    products = pd.read_parquet(ctx.run_dir / "tables" / "products.parquet")
    eu = products[products["source"] == "eudamed"]
    assert eu[["udi_di", "eu_risk_class", "emdn_code", "basic_udi_di", "manufacturer_srn"]].values.tolist() == [
        [UDI_DI, "Class I", "P09120699", "698021129RLTPW", "CN-MF-000056467"]]
    facts = _facts(folder, eu)
    assert facts["eu_emdn"] == ["P09120699 (BONE FIXATION SCREWS, TENDON AND LIGAMENT SYNTHESIS SCREWS - OTHER)"]
    assert facts["eu_basic_udi"] == ["698021129RLTPW"]
    assert facts["eu_manufacturers"] == ["Hebei Huaen Medical Devices Co., Ltd. (SRN CN-MF-000056467)"]
    assert facts["eu_view_missing"] is None


def test_without_a_detail_record_or_a_record_the_report_says_why(threaded_httpserver, realdata: Path,  # noqa: F811
                                                                 tmp_path: Path) -> None:
    records = json.loads((realdata / "eudamed" / "udi-di-records.json").read_text(encoding="utf-8"))
    fda = serve_openfda(threaded_httpserver, in2bones_datasets(realdata))
    device = {**records[0], "primaryDi": UDI_DI}
    ctx = make_ctx(tmp_path, UDI_DI, fda.base_url, kind="udi_di", name="no-detail",
                   eudamed_url=serve_eudamed(threaded_httpserver, [device], prefix="/eu-nodetail/api"))  # 404 on detail
    assert collect(ctx, fast_source(ctx)).statuses["eudamed"].details["detail_records_missing"] == 1
    integrate(RunContext(ctx.run_dir, ctx.params, ctx.settings, stage="02_integrate"))
    products = pd.read_parquet(ctx.run_dir / "tables" / "products.parquet")
    facts = _facts(RunFolder(ctx.run_dir), products[products["source"] == "eudamed"])
    assert facts["eu_emdn"] is None and facts["eu_basic_udi"] == ["698021129RLTPW"]
    assert "carry no EMDN code" in facts["eu_view_missing"] and "no detail record" in facts["eu_view_missing"]

    ctx = make_ctx(tmp_path, UDI_DI, fda.base_url, kind="udi_di", name="not-listed",
                   eudamed_url=serve_eudamed(threaded_httpserver, records, prefix="/eu-other/api"))
    collect(ctx, fast_source(ctx))
    integrate(RunContext(ctx.run_dir, ctx.params, ctx.settings, stage="02_integrate"))
    products = pd.read_parquet(ctx.run_dir / "tables" / "products.parquet")
    assert (products["source"] == "eudamed").sum() == 0
    facts = _facts(RunFolder(ctx.run_dir), products[products["source"] == "eudamed"])
    assert facts["eu_view_missing"] == "no EUDAMED device record was found for this device"


def test_emdn_reads_every_code_and_prefers_the_english_term() -> None:
    entry = {"code": "P0912", "description": {"texts": [{"language": {"isoCode": "fr"}, "text": "VIS"},
                                                        {"language": {"isoCode": "en"}, "text": "SCREWS"}]}}
    assert emdn([entry, {"code": "Z12"}]) == {"emdn_code": "P0912; Z12", "emdn_term": "SCREWS; "}
    assert emdn(None) == {"emdn_code": None, "emdn_term": None}
    row = products_table(eudamed=[{"uuid": "u", "primaryDi": "1", "cndNomenclatures": [entry], "manufacturerSrn": "DE-MF-1"}]).frame
    assert row[["emdn_code", "emdn_term", "manufacturer_srn"]].values.tolist() == [["P0912", "SCREWS", "DE-MF-1"]]


@pytest.mark.realdata
def test_the_demo_says_why_it_has_no_eu_view(demo_run: Path) -> None:
    html = (demo_run / "cer.html").read_text(encoding="utf-8")
    assert "EU view." in html and "No EMDN code or EU risk class is shown:" in html
