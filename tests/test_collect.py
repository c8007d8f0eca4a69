"""The collect stage against a local openFDA and Eudamed serving real records (IN2BONES, foiclass.txt)."""
from __future__ import annotations

import base64
import dataclasses
import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from cer_lib.collect import CHUNK_DAYS, CollectSummary, collect, window_chunks, window_years
from cer_lib.context import RunContext, open_run
from cer_lib.profiles import DEVICE
from cer_lib.errors import CerError, CodeError, SourceError
from cer_lib.params import deep_merge, load_parameters, save_parameters
from cer_lib.settings import Secret, Settings
from cer_lib.sources.base import Query
from cer_lib.sources.openfda import OpenFDA
from openfda_server import clone_events, in2bones_datasets, serve_eudamed, serve_openfda
from openfda_server import threaded_httpserver  # noqa: F401  (fixture)

WINDOW = {"start": "2015-01-01", "end": "2021-12-31"}
SOURCE_NAMES = DEVICE.source_names


@pytest.fixture
def datasets(realdata: Path) -> dict[str, list[dict[str, Any]]]:
    return in2bones_datasets(realdata)


@pytest.fixture
def eudamed_records(realdata: Path) -> list[dict[str, Any]]:
    return json.loads((realdata / "eudamed" / "udi-di-records.json").read_text(encoding="utf-8"))


def make_ctx(tmp_path: Path, code: str, base_url: str, *, eudamed_url: str = "http://127.0.0.1:9/api",
             kind: str = "product_code", overrides: dict | None = None, api_key: str | None = None,
             name: str = "run", data_from: str = "api") -> RunContext:
    layers = {"from": data_from, "window": WINDOW, "http": {"max_retries": 1}}
    params = load_parameters(code, kind=kind, overrides=deep_merge(layers, overrides or {})).resolved()
    settings = Settings(openfda_base_url=base_url, eudamed_base_url=eudamed_url, openfda_api_key=Secret(api_key),
                        cache_dir=tmp_path / "cache", outputs_dir=tmp_path / "outputs")
    run = tmp_path / name
    run.mkdir(parents=True, exist_ok=True)
    save_parameters(params, run / "parameters.yaml")
    return RunContext(run, params, settings, stage="01_collect")


def fast_source(ctx: RunContext) -> OpenFDA:
    return OpenFDA.for_run(ctx, backoff_seconds=0.01)


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def hwc_events(datasets) -> list[dict[str, Any]]:
    return [r for r in datasets["device/event"] if r["device"][0]["device_report_product_code"] == "HWC"]


# ----------------------------------------------------------------------------------------------
# the contract, for IN2BONES HWC


def test_collect_in2bones_hwc_writes_the_contract(threaded_httpserver, datasets, eudamed_records, tmp_path, capsys):  # noqa: F811
    fda = serve_openfda(threaded_httpserver, datasets)
    eu = serve_eudamed(threaded_httpserver, eudamed_records)
    ctx = make_ctx(tmp_path, "HWC", fda.base_url, eudamed_url=eu)
    summary = collect(ctx)
    out = ctx.run_dir / "collected"
    assert isinstance(summary, CollectSummary) and summary.collected_dir == out

    status = json.loads((out / "status.json").read_text())
    assert status["origin"] == "api" and status["offline"] is False and status["synthetic"] is False
    assert status["mirror"] is None and status["base_url"] == fda.base_url
    assert list(status["sources"]) == list(SOURCE_NAMES)
    got = {name: s["status"] for name, s in status["sources"].items()}
    assert got == {"device_event": "ok", "device_recall": "empty", "device_enforcement": "empty", "device_510k": "ok",
                   "device_pma": "empty", "device_classification": "ok", "device_udi": "empty",
                   "device_registrationlisting": "empty", "eudamed": "empty"}
    assert set(status["sources"]["device_event"]) == {f.name for f in dataclasses.fields(summary.statuses["device_event"])}

    resolution = json.loads((out / "resolution.json").read_text())
    assert resolution["product_code"] == "HWC" and resolution["device_name"] == "Screw, Fixation, Bone"
    assert resolution["device_class"] == "2" and resolution["regulation_number"] == "888.3040"
    assert resolution["implant"] is True and resolution["life_sustaining"] is False
    codes = [c["product_code"] for c in resolution["comparators"]]
    assert codes == sorted(codes) and "HWC" not in codes and len(codes) == 17 and "HTY" in codes
    assert resolution["comparators_truncated"] is False and "regulation number 888.3040" in resolution["comparators_rule"]

    records = {name: read_jsonl(out / "records" / f"{name}.jsonl") for name in SOURCE_NAMES}
    assert len(records["device_event"]) == 13 and len(records["device_510k"]) == 7
    dates = [r["date_received"] for r in records["device_event"]]
    assert dates == sorted(dates, reverse=True)
    assert records["device_classification"][0]["product_code"] == "HWC"

    counts = read_jsonl(out / "counts.jsonl")
    totals = read_jsonl(out / "totals.jsonl")
    events = hwc_events(datasets)
    chunks = window_chunks(ctx.params.window.start, ctx.params.window.end)
    years = window_years(ctx.params.window.start, ctx.params.window.end)
    device_days = [c for c in counts if c["scope"] == "device" and c["field"] == "date_received"]
    assert len(device_days) == 4 * len(chunks)
    for event_type in ("all", "Death", "Injury", "Malfunction"):
        rows = [row for c in device_days if c["event_type"] == event_type for row in c["rows"]]
        wanted = [r for r in events if event_type in ("all", r["event_type"])]
        assert sum(row["count"] for row in rows) == len(wanted), event_type
    assert len([c for c in counts if c["field"] == "date_of_event"]) == len(chunks)
    for year, _, _ in years:
        for field, path in (("product_problems.exact", "product_problems"), ("patient.patient_problems.exact", "patient")):
            (line,) = [c for c in counts if c["scope"] == "device" and c["field"] == field and c["period"] == year]
            expected: Counter[str] = Counter()
            for r in events:
                if r["date_received"][:4] == year:
                    terms = r.get(path) or []
                    if path == "patient":
                        terms = [t for p in terms for t in p.get("patient_problems") or []]
                    expected.update(set(terms))
            assert {row["term"]: row["count"] for row in line["rows"]} == expected, (year, field)
    # the comparators' term counts per year (for the stratified E), asked only for years with reports
    comparator_lines = [c for c in counts if c["scope"] == "comparator"]
    assert len(comparator_lines) == 2 * 17 * len(years) and all(c["period"] != "all" for c in comparator_lines)
    with_reports = {(t["product_code"], t["period"]) for t in totals
                    if t["scope"] == "comparator" and t["subset"] == "all" and t["period"] != "all" and t["n_reports"]}
    assert {(c["product_code"], c["period"]) for c in comparator_lines if "skipped" not in c} == with_reports
    for c in counts:
        assert set(c) >= {"name", "endpoint", "search", "field", "scope", "product_code", "period", "event_type", "limit", "truncated", "rows"}
        assert c["limit"] == 1000 and c["truncated"] is False

    per_year = {t["period"]: t["n_reports"] for t in totals if t["scope"] == "device" and t["subset"] == "all"}
    assert per_year["all"] == 13 and sum(v for k, v in per_year.items() if k != "all") == 13
    assert per_year == {"all": 13, **{y: sum(1 for r in events if r["date_received"][:4] == y) for y, _, _ in years}}
    assert len([t for t in totals if t["scope"] == "comparator" and t["subset"] == "all" and t["period"] == "all"]) == 17
    assert len([t for t in totals if t["scope"] == "comparator" and t["subset"] == "all"]) == 17 * (len(years) + 1)
    # the row totals of the disproportionality analysis: reports carrying a device / patient problem code (_exists_)
    for subset, coded in (("device_problem", lambda r: any(str(t).strip() for t in r.get("product_problems") or [])),
                          ("patient_problem", lambda r: any(str(t).strip() for p in r.get("patient") or []
                                                            for t in p.get("patient_problems") or []))):
        got = {t["period"]: t["n_reports"] for t in totals if t["scope"] == "device" and t["subset"] == subset}
        assert got == {"all": sum(map(coded, events)),
                       **{y: sum(1 for r in events if r["date_received"][:4] == y and coded(r)) for y, _, _ in years}}
        assert len([t for t in totals if t["scope"] == "comparator" and t["subset"] == subset]) == 17 * (len(years) + 1)

    printed = capsys.readouterr().out
    assert "collect: device/event totals" in printed and "collect: done:" in printed
    assert summary.requests == len(ctx.provenance.requests()) and summary.from_cache == 0


def test_chunks_and_years():
    import datetime as dt

    spans = window_chunks(dt.date(2015, 1, 1), dt.date(2017, 12, 31))
    assert spans[0] == (dt.date(2015, 1, 1), dt.date(2015, 1, 1) + dt.timedelta(days=CHUNK_DAYS - 1))
    assert all((b - a).days + 1 <= CHUNK_DAYS for a, b in spans) and spans[-1][1] == dt.date(2017, 12, 31)
    assert all(spans[i][1] + dt.timedelta(days=1) == spans[i + 1][0] for i in range(len(spans) - 1))
    assert window_years(dt.date(2015, 3, 1), dt.date(2016, 2, 1)) == [
        ("2015", dt.date(2015, 3, 1), dt.date(2015, 12, 31)), ("2016", dt.date(2016, 1, 1), dt.date(2016, 2, 1))]


# ----------------------------------------------------------------------------------------------
# the API key


def test_api_key_reaches_the_server_and_nothing_stores_it(threaded_httpserver, datasets, tmp_path, monkeypatch, capsys):  # noqa: F811
    key = "cerFAKEkey-6b1d0e7a4c9f2h8j"
    fda = serve_openfda(threaded_httpserver, datasets, api_key=key)
    monkeypatch.setenv("OPENFDA_API_KEY", key)
    monkeypatch.setenv("OPENFDA_BASE_URL", fda.base_url)
    monkeypatch.setenv("EUDAMED_BASE_URL", "http://127.0.0.1:9/api")
    monkeypatch.setenv("CER_CACHE_DIR", str(tmp_path / "cache"))
    settings = Settings.from_env()
    params = load_parameters("HWC", overrides={"from": "api", "window": WINDOW, "http": {"max_retries": 0},
                                               "sources": {"eudamed": False}}).resolved()
    run = tmp_path / "outputs" / "HWC" / "run-1"
    run.mkdir(parents=True)
    save_parameters(params, run / "parameters.yaml")
    ctx = open_run(run, stage="01_collect", settings=settings)
    collect(ctx)  # the default source: OpenFDA.for_run(ctx), key from the environment
    assert fda.keys_seen and set(fda.keys_seen) == {key}
    basic = base64.b64encode(f"{key}:".encode()).decode()
    needles = [key.encode(), basic.encode(), basic.rstrip("=").encode()]
    files = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert any(p.name.startswith("http_cache.sqlite") for p in files) and any(p.name == "requests.jsonl" for p in files)
    leaks = [f"{p}: {n!r}" for p in files for n in needles if n in p.read_bytes()]
    assert leaks == []
    assert key not in capsys.readouterr().out + repr(settings) + repr(ctx)


def test_credentials_in_base_urls_reach_the_servers_and_nothing_stores_them(  # noqa: F811
        threaded_httpserver, datasets, eudamed_records, tmp_path, monkeypatch, capsys):
    user, password = "cer-gateway-user-31f", "pa:ss@w0rd-77e2"  # ':' and '@' travel percent-encoded
    fda = serve_openfda(threaded_httpserver, datasets)
    eu = serve_eudamed(threaded_httpserver, eudamed_records)
    userinfo = f"{user}:{password.replace(':', '%3A').replace('@', '%40')}@"
    monkeypatch.setenv("OPENFDA_BASE_URL", fda.base_url.replace("http://", "http://" + userinfo))
    monkeypatch.setenv("EUDAMED_BASE_URL", eu.replace("http://", "http://" + userinfo))
    monkeypatch.setenv("CER_CACHE_DIR", str(tmp_path / "cache"))
    settings = Settings.from_env()
    assert (settings.openfda_base_url, settings.eudamed_base_url) == (fda.base_url, eu)
    # a UDI-DI of the real GUDID sample: openFDA resolves it, then Eudamed is asked about it
    params = load_parameters("00810005110402", kind="udi_di",
                             overrides={"from": "api", "window": WINDOW, "http": {"max_retries": 0}}).resolved()
    run = tmp_path / "outputs" / "00810005110402" / "run-1"
    run.mkdir(parents=True)
    save_parameters(params, run / "parameters.yaml")
    ctx = open_run(run, stage="01_collect", settings=settings)
    summary = collect(ctx)
    assert summary.statuses["eudamed"].details["lookups"] == ["primaryDi=00810005110402"]
    basic = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
    assert set(fda.keys_seen) == {user}
    assert any(r.path.startswith("/eudamed/") and r.headers.get("Authorization") == basic for r, _ in threaded_httpserver.log)
    needles = [user.encode(), password.encode(), userinfo.encode(), basic[6:].encode()]
    files = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert any(p.name.startswith("http_cache.sqlite") for p in files) and any(p.name == "status.json" for p in files)
    leaks = [f"{p}: {n!r}" for p in files for n in needles if n in p.read_bytes()]
    assert leaks == []
    assert not any(n.decode() in capsys.readouterr().out + repr(settings) + repr(ctx) for n in needles)


def test_an_api_key_and_credentials_in_the_base_url_are_refused_together(tmp_path):
    ctx = make_ctx(tmp_path, "HWC", "http://user:secret-pw@127.0.0.1:9", api_key="a-key-1234")
    with pytest.raises(SourceError, match="both would be the one HTTP Basic credential") as info:
        OpenFDA.for_run(ctx)
    assert "secret-pw" not in str(info.value) and "a-key-1234" not in str(info.value)


# ----------------------------------------------------------------------------------------------
# request economy


@pytest.mark.slow
def test_requests_do_not_grow_with_the_number_of_events(threaded_httpserver, datasets, tmp_path):  # noqa: F811
    template = hwc_events(datasets)
    small = clone_events(template, 100, product_code="HTY", days=2900, first_key=10_000_000)
    big = clone_events(template, 100_000, product_code="HWC", days=2900, first_key=20_000_000)
    fda = serve_openfda(threaded_httpserver, {"device/event": small + big,
                                              "device/classification": datasets["device/classification"]})
    used = {}
    for code, n in (("HTY", 100), ("HWC", 100_000)):
        ctx = make_ctx(tmp_path / code, code, fda.base_url, overrides={
            "sources": {"eudamed": False}, "window": {"start": "2015-01-01", "end": "2022-12-31"}})
        summary = collect(ctx, fast_source(ctx))
        used[code] = summary.requests
        assert summary.from_cache == 0
        totals = read_jsonl(ctx.run_dir / "collected" / "totals.jsonl")
        assert [t["n_reports"] for t in totals if t["scope"] == "device" and t["period"] == "all" and t["subset"] == "all"] == [n]
        days = [c for c in read_jsonl(ctx.run_dir / "collected" / "counts.jsonl")
                if c["scope"] == "device" and c["field"] == "date_received" and c["event_type"] == "all"]
        assert sum(row["count"] for c in days for row in c["rows"]) == n  # the series is complete
        assert len(read_jsonl(ctx.run_dir / "collected" / "records" / "device_event.jsonl")) == min(n, 200)
    assert used["HWC"] <= 2 * used["HTY"], used
    assert used["HWC"] < 100  # a thousand times the events, still a few dozen requests


# ----------------------------------------------------------------------------------------------
# edge cases and failures


def test_zero_events_is_a_valid_result(threaded_httpserver, datasets, tmp_path):  # noqa: F811
    fda = serve_openfda(threaded_httpserver, datasets)
    ctx = make_ctx(tmp_path, "JDW", fda.base_url, overrides={"sources": {"eudamed": False}})
    collect(ctx, fast_source(ctx))
    status = json.loads((ctx.run_dir / "collected" / "status.json").read_text())
    event = status["sources"]["device_event"]
    assert event["status"] == "empty" and event["total"] == 0 and "no reports for JDW" in event["reason"]
    counts = read_jsonl(ctx.run_dir / "collected" / "counts.jsonl")
    assert counts and all(c["rows"] == [] for c in counts if c["scope"] == "device")
    assert (ctx.run_dir / "collected" / "records" / "device_event.jsonl").read_text() == ""
    assert status["sources"]["eudamed"]["status"] == "disabled"


def test_unknown_product_code_names_the_code(threaded_httpserver, datasets, tmp_path):  # noqa: F811
    fda = serve_openfda(threaded_httpserver, datasets)
    ctx = make_ctx(tmp_path, "ZZZ", fda.base_url)
    with pytest.raises(CodeError, match="'ZZZ' is not a product code in openFDA"):
        collect(ctx, fast_source(ctx))
    assert not (ctx.run_dir / "collected" / "status.json").exists()


def test_a_drug_is_resolved_first_and_an_unreachable_openfda_stops_it(tmp_path):
    """Drugs have a profile now (issue 13; this test said "not built yet" before): resolving the name asks
    drug/label first, and a server nobody answers stops the run there with the endpoint named."""
    ctx = make_ctx(tmp_path, "METFORMIN", "http://127.0.0.1:9", kind="drug")
    with pytest.raises(CerError, match="drug/label is required and failed"):
        collect(ctx)


def test_optional_failures_are_reported_and_the_run_continues(threaded_httpserver, datasets, tmp_path):  # noqa: F811
    threaded_httpserver.expect_request("/device/recall.json").respond_with_json(
        {"error": {"code": "SERVER_ERROR", "message": "Check your request and try again"}}, status=500)
    threaded_httpserver.expect_request("/device/pma.json").respond_with_data('{"results": [', content_type="application/json")
    fda = serve_openfda(threaded_httpserver, datasets)
    ctx = make_ctx(tmp_path, "00810005110402", fda.base_url, kind="udi_di",  # the real GUDID sample (NKB)
                   eudamed_url="http://127.0.0.1:9/api")  # nobody listens on port 9
    collect(ctx, fast_source(ctx))
    sources = json.loads((ctx.run_dir / "collected" / "status.json").read_text())["sources"]
    assert sources["device_recall"]["status"] == "error" and "HTTP 500 SERVER_ERROR" in sources["device_recall"]["reason"]
    assert sources["device_enforcement"]["status"] == "unavailable" and "device/recall, which is error" in sources["device_enforcement"]["reason"]
    assert sources["device_pma"]["status"] == "error" and "malformed JSON" in sources["device_pma"]["reason"]
    assert sources["eudamed"]["status"] == "unavailable" and "connection failed" in sources["eudamed"]["reason"]
    assert sources["device_udi"]["status"] == "ok" and sources["device_510k"]["status"] == "empty"
    assert sources["device_event"]["status"] == "empty" and sources["device_classification"]["status"] == "ok"


def test_required_source_failure_stops_with_a_clear_message(threaded_httpserver, datasets, tmp_path):  # noqa: F811
    threaded_httpserver.expect_request("/device/event.json").respond_with_data("busy", status=503)
    fda = serve_openfda(threaded_httpserver, datasets)
    ctx = make_ctx(tmp_path, "HWC", fda.base_url)
    with pytest.raises(SourceError, match=r"collect: device/event is required and failed: openfda failed with HTTP 503"):
        collect(ctx, fast_source(ctx))
    assert not (ctx.run_dir / "collected" / "status.json").exists()


def test_disabled_sources_and_truncated_comparators(threaded_httpserver, datasets, tmp_path):  # noqa: F811
    fda = serve_openfda(threaded_httpserver, datasets)
    ctx = make_ctx(tmp_path, "HWC", fda.base_url, overrides={
        "sources": {"recall": False, "submissions": False, "eudamed": False},
        "methods": {"review_sample_size": 3, "signals": {"max_comparators": 3}}})
    summary = collect(ctx, fast_source(ctx))
    st = summary.statuses
    assert st["device_recall"].status == "disabled" and "sources.recall is false" in st["device_recall"].reason
    assert st["device_510k"].status == st["device_pma"].status == st["eudamed"].status == "disabled"
    assert st["device_enforcement"].status == "unavailable"  # found only through recall numbers
    resolution = json.loads((ctx.run_dir / "collected" / "resolution.json").read_text())
    assert [c["product_code"] for c in resolution["comparators"]] == ["HTY", "JDW", "JEC"]
    assert resolution["comparators_truncated"] is True and resolution["comparators_available"] == 17
    assert len(read_jsonl(ctx.run_dir / "collected" / "records" / "device_event.jsonl")) == 3
    assert st["device_event"].fetched == 3 and st["device_event"].total == 13


def test_enforcement_is_found_through_recall_numbers(threaded_httpserver, datasets, tmp_path):  # noqa: F811
    """Derived data: the real recall sample re-pointed at HWC with the real enforcement sample's number."""
    enforcement = datasets["device/enforcement"][0]
    recall = {**datasets["device/recall"][-1], "product_code": "HWC", "product_res_number": enforcement["recall_number"]}
    fda = serve_openfda(threaded_httpserver, {**datasets, "device/recall": datasets["device/recall"] + [recall]})
    ctx = make_ctx(tmp_path, "HWC", fda.base_url, overrides={"sources": {"eudamed": False}})
    summary = collect(ctx, fast_source(ctx))
    assert summary.statuses["device_recall"].fetched == 1
    found = read_jsonl(ctx.run_dir / "collected" / "records" / "device_enforcement.jsonl")
    assert [r["recall_number"] for r in found] == ["Z-1448-2019"]
    assert summary.statuses["device_enforcement"].details["searches"] == ['recall_number:"Z-1448-2019"']


def test_udi_di_is_resolved_to_its_product_code(threaded_httpserver, datasets, eudamed_records, tmp_path):  # noqa: F811
    fda = serve_openfda(threaded_httpserver, datasets)
    eu = serve_eudamed(threaded_httpserver, eudamed_records)
    ctx = make_ctx(tmp_path, "00810005110402", fda.base_url, eudamed_url=eu, kind="udi_di")  # the real GUDID sample
    summary = collect(ctx, fast_source(ctx))
    resolution = json.loads((ctx.run_dir / "collected" / "resolution.json").read_text())
    assert resolution["code"] == "00810005110402" and resolution["kind"] == "udi_di"
    assert resolution["product_code"] == "NKB" and resolution["udi_di_resolution"]["product_codes"] == ["NKB"]
    assert resolution["device_name"] == "Thoracolumbosacral Pedicle Screw System"
    assert summary.statuses["device_event"].status == "empty"
    eudamed = summary.statuses["eudamed"]
    assert eudamed.status == "empty" and eudamed.details["lookups"] == ["primaryDi=00810005110402"]

    missing = make_ctx(tmp_path, "00000000000017", fda.base_url, kind="udi_di", name="missing")
    with pytest.raises(CodeError, match="UDI-DI '00000000000017' was not found"):
        collect(missing, fast_source(missing))


def test_brand_kind_has_no_product_code(threaded_httpserver, datasets, eudamed_records, tmp_path):  # noqa: F811
    fda = serve_openfda(threaded_httpserver, datasets)
    eu = serve_eudamed(threaded_httpserver, eudamed_records)
    ctx = make_ctx(tmp_path, "4.8 LAG SCREW DRILL", fda.base_url, eudamed_url=eu, kind="brand")
    summary = collect(ctx, fast_source(ctx))
    st = summary.statuses
    assert st["device_event"].status == "ok" and st["device_event"].total == 1
    assert st["device_classification"].status == "disabled"
    for name in ("device_recall", "device_510k", "device_pma", "device_udi", "device_registrationlisting"):
        assert st[name].status == "disabled" and "needs a product code" in st[name].reason
    assert st["eudamed"].details["lookups"] == ["tradeName=4.8 LAG SCREW DRILL"]
    resolution = json.loads((ctx.run_dir / "collected" / "resolution.json").read_text())
    assert resolution["product_code"] is None and resolution["comparators"] == []
    assert all(c["scope"] == "device" for c in read_jsonl(ctx.run_dir / "collected" / "counts.jsonl"))


class _MirrorDouble:
    """A `Source` of origin "mirror" over the local openFDA (and, when given, a mirror's EUDAMED records)."""

    origin = "mirror"
    synthetic = True

    def __init__(self, inner: OpenFDA, eudamed: list[dict[str, Any]] | None) -> None:
        self.inner = inner
        if eudamed is not None:
            self.eudamed_records = lambda: eudamed

    def search(self, endpoint: str, query: Query, *, limit: int | None = None, sort: str | None = None):
        return self.inner.search(endpoint, query, limit=limit, sort=sort)

    def count(self, endpoint: str, query: Query, field: str, *, limit: int = 1000):
        return self.inner.count(endpoint, query, field, limit=limit)

    def total(self, endpoint: str, query: Query) -> int:
        return self.inner.total(endpoint, query)


@pytest.mark.parametrize("with_eudamed", [True, False])
def test_mirror_origin(threaded_httpserver, datasets, eudamed_records, tmp_path, with_eudamed):  # noqa: F811
    fda = serve_openfda(threaded_httpserver, datasets)
    ctx = make_ctx(tmp_path, "HWC", fda.base_url, data_from="mirror")
    source = _MirrorDouble(fast_source(ctx), eudamed_records if with_eudamed else None)
    collect(ctx, source)
    status = json.loads((ctx.run_dir / "collected" / "status.json").read_text())
    assert status["origin"] == "mirror" and status["synthetic"] is True and status["base_url"] is None
    assert status["mirror"] == str(ctx.mirror_dir)
    eudamed = status["sources"]["eudamed"]
    if with_eudamed:  # the mirror's records are Rollators: none is this device's, none is reported as such
        assert eudamed["status"] == "empty" and eudamed["details"]["mirror_records"] == 3
    else:
        assert eudamed == {**eudamed, "status": "disabled", "reason": "not in mirror"}


def test_mirror_eudamed_records_are_the_devices_own(threaded_httpserver, datasets, eudamed_records, tmp_path):  # noqa: F811
    fda = serve_openfda(threaded_httpserver, datasets)
    ctx = make_ctx(tmp_path, "ROLLATOR", fda.base_url, kind="brand", data_from="mirror")
    summary = collect(ctx, _MirrorDouble(fast_source(ctx), eudamed_records))
    assert summary.statuses["eudamed"].status == "ok" and summary.statuses["eudamed"].fetched == 2
    kept = read_jsonl(ctx.run_dir / "collected" / "records" / "eudamed.jsonl")
    assert {r["primaryDi"] for r in kept} == {"06980211292118", "06980211292101"}
    assert summary.statuses["device_event"].status == "empty"


def test_rerun_is_served_from_the_cache(threaded_httpserver, datasets, tmp_path):  # noqa: F811
    fda = serve_openfda(threaded_httpserver, datasets)
    ctx = make_ctx(tmp_path, "HWC", fda.base_url, overrides={"sources": {"eudamed": False}})
    first = collect(ctx, fast_source(ctx))
    served = len(fda.urls)
    again = collect(ctx, fast_source(ctx))
    assert again.requests == first.requests == again.from_cache and len(fda.urls) == served
