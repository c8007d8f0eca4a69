"""The disproportionality background as collected (issue 9 item 5, collect side), end to end.

Real HTTP client against the local openFDA stand-in (`openfda_server`), and the same records as a
local mirror: the comparators are the regulation's product codes with the most reports (not the
first ones alphabetically), the family's row totals count the reports that carry a problem code of
each type (``_exists_``), the comparators' term counts and totals come per year (so E is stratified
and the family share is followed over time), and Voluntary Malfunction Summary Reports are flagged
and counted. Every expected number is computed here in plain Python from the records served.
"""
from __future__ import annotations

import dataclasses
import json
from collections import Counter
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from cer_lib.collect import collect, window_years
from cer_lib.context import RunContext
from cer_lib.integrate import integrate
from cer_lib.profiles import DEVICE
from openfda_server import clone_events, in2bones_datasets, serve_openfda
from openfda_server import threaded_httpserver  # noqa: F401  (fixture)
from test_collect import make_ctx, read_jsonl

pytestmark = pytest.mark.realdata

# product codes of regulation 888.3040 in the real classification file, with their number of reports
VOLUMES = {"HWC": 40, "SCY": 30, "NDJ": 25, "HTY": 3, "JDW": 2}
CAP = 2
WINDOW = {"start": "2018-01-01", "end": "2021-12-31"}
N_SUMMARY = 6  # HWC reports flagged as Voluntary Malfunction Summary Reports


def _events(realdata: Path) -> list[dict[str, Any]]:
    template = [r for r in in2bones_datasets(realdata)["device/event"]
                if r["device"][0]["device_report_product_code"] == "HWC"]
    events: list[dict[str, Any]] = []
    for i, (code, n) in enumerate(VOLUMES.items()):
        events += clone_events(template, n, product_code=code, start=WINDOW["start"], days=1400,
                               first_key=10_000_000 * (i + 1))
    for k, event in enumerate(e for e in events if e["device"][0]["device_report_product_code"] == "HWC"):
        if k % 5 == 4:
            event["product_problems"] = []  # a report without a device problem code
        if k < N_SUMMARY + 2:  # the flag as openFDA writes it; two reports without it
            event["summary_report_flag"] = "Y" if k < N_SUMMARY else None
        else:
            event["summary_report_flag"] = "N"
    return events


@pytest.fixture
def served(realdata: Path) -> dict[str, list[dict[str, Any]]]:
    classification = in2bones_datasets(realdata)["device/classification"]
    return {"device/event": _events(realdata), "device/classification": classification}


def _overrides(**more: Any) -> dict[str, Any]:
    return {"window": WINDOW, "methods": {"signals": {"max_comparators": CAP}, "review_sample_size": 60},
            "sources": {"eudamed": False, "udi": False, "registrationlisting": False, "submissions": False,
                        "recall": False, "enforcement": False}, **more}


def _code(event: dict[str, Any]) -> str:
    return event["device"][0]["device_report_product_code"]


def _coded(event: dict[str, Any], kind: str) -> bool:
    if kind == "device_problem":
        return any(str(t).strip() for t in event.get("product_problems") or [])
    return any(str(t).strip() for p in event.get("patient") or [] for t in p.get("patient_problems") or [])


def _mirror(folder: Path, served: dict[str, list[dict[str, Any]]], realdata: Path) -> Path:
    (folder / "device" / "event").mkdir(parents=True)
    (folder / "device" / "event" / "events.json").write_text(json.dumps({"results": served["device/event"]}))
    (folder / "classification").mkdir()
    (folder / "classification" / "foiclass.txt").symlink_to(realdata / "classification" / "foiclass.txt")
    return folder


def _totals(run: Path) -> dict[tuple[str, str, str, str], int | None]:
    return {(t["scope"], t["product_code"], t["period"], t["subset"]): t["n_reports"]
            for t in read_jsonl(run / "collected" / "totals.jsonl")}


def test_comparators_by_volume_with_per_year_and_problem_coded_totals_online_and_from_a_mirror(
        threaded_httpserver, served, realdata, tmp_path):  # noqa: F811
    fda = serve_openfda(threaded_httpserver, served)
    online = make_ctx(tmp_path / "api", "HWC", fda.base_url, overrides=_overrides())
    collect(online)
    resolution = json.loads((online.run_dir / "collected" / "resolution.json").read_text())

    # the two codes with the most reports, not the first two of the 17 in code order (HTY, JDW)
    assert [(c["product_code"], c["reports"]) for c in resolution["comparators"]] == [("SCY", 30), ("NDJ", 25)]
    left_out = [(c["product_code"], c["reports"]) for c in resolution["comparators_left_out"]]
    assert left_out[:2] == [("HTY", 3), ("JDW", 2)] and len(left_out) == 17 - CAP
    assert all(n == 0 for _, n in left_out[2:]) and [c for c, _ in left_out[2:]] == sorted(c for c, _ in left_out[2:])
    assert resolution["comparators_by_volume"] is True and resolution["comparators_truncated"] is True
    assert "ranked by their number of device event reports" in resolution["comparators_rule"]
    assert "count=device.device_report_product_code.exact" in "\n".join(fda.urls)
    # the status still says whether a comparator's term count was truncated (none here)
    status = json.loads((online.run_dir / "collected" / "status.json").read_text())["sources"]["device_event"]
    assert status["details"]["comparator_truncated_counts"] == [] and status["truncated"] is False

    # totals: per year for the whole family, and of the reports carrying a problem code (_exists_)
    events = served["device/event"]
    years = [y for y, _, _ in window_years(online.params.window.start, online.params.window.end)]
    totals = _totals(online.run_dir)
    for code, scope in (("HWC", "device"), ("SCY", "comparator"), ("NDJ", "comparator")):
        mine = [e for e in events if _code(e) == code]
        for year in years:
            in_year = [e for e in mine if e["date_received"][:4] == year]
            assert totals[(scope, code, year, "all")] == len(in_year)
            for subset in ("device_problem", "patient_problem"):
                assert totals[(scope, code, year, subset)] == sum(_coded(e, subset) for e in in_year)
        for subset in ("device_problem", "patient_problem"):
            assert totals[(scope, code, "all", subset)] == sum(_coded(e, subset) for e in mine)
    assert totals[("device", "HWC", "all", "device_problem")] < VOLUMES["HWC"]  # the uncoded reports are left out
    # the comparators' term counts per year: what a stratified E needs
    lines = [c for c in read_jsonl(online.run_dir / "collected" / "counts.jsonl")
             if c["scope"] == "comparator" and c["field"] == "product_problems.exact" and "skipped" not in c]
    for line in lines:
        expected = Counter(t for e in events if _code(e) == line["product_code"]
                           and e["date_received"][:4] == line["period"] for t in set(e.get("product_problems") or []))
        assert {r["term"]: r["count"] for r in line["rows"]} == expected
    assert {(line["product_code"], line["period"]) for line in lines} == {
        (code, y) for code in ("SCY", "NDJ") for y in years if totals[("comparator", code, y, "all")]}

    # a mirror of the same records answers the same queries with the same numbers
    mirror = _mirror(tmp_path / "mirror", served, realdata)
    offline = make_ctx(tmp_path / "mirror-run", "HWC", fda.base_url, data_from="mirror",
                       overrides=_overrides(mirror=str(mirror)))
    collect(offline)
    from_mirror = json.loads((offline.run_dir / "collected" / "resolution.json").read_text())
    for key in ("comparators", "comparators_left_out", "comparators_by_volume", "comparators_rule"):
        assert from_mirror[key] == resolution[key], key
    assert _totals(offline.run_dir) == totals


def test_the_analysis_uses_the_collected_background_and_counts_summary_reports(
        threaded_httpserver, served, tmp_path):  # noqa: F811
    fda = serve_openfda(threaded_httpserver, served)
    ctx = make_ctx(tmp_path, "HWC", fda.base_url, overrides=_overrides())
    collect(ctx)
    integrate(dataclasses.replace(ctx, stage="02_integrate"))
    DEVICE.analyze(dataclasses.replace(ctx, stage="03_analyze"))
    analysis = json.loads((ctx.run_dir / "results" / "analysis.json").read_text())
    events = served["device/event"]
    hwc = [e for e in events if _code(e) == "HWC"]

    # row totals over the reports with a device problem code; E stratified by year (per-year comparator counts)
    signals = analysis["signals"]
    assert signals["status"] == "ok", signals
    assert "stratified by year" in signals["expected_counts"]["device"]
    device_rows = [r for r in signals["rows"] if r["problem_type"] == "device" and r["product"] == "HWC"]
    assert device_rows and all(r["a"] + r["b"] == sum(_coded(e, "device_problem") for e in hwc) for r in device_rows)
    family_coded = sum(_coded(e, "device_problem") for e in events if _code(e) in ("HWC", "SCY", "NDJ"))
    assert all(r["a"] + r["b"] + r["c"] + r["d"] == family_coded for r in device_rows)

    # the family share over time is computed from the collected per-year comparator totals
    family = analysis["trend"]["shares"]["family"]
    assert family["status"] != "not available", family
    by_year = {r["period"]: r for r in analysis["details"]["shares"]["family"]["periods"]}
    assert by_year
    for year, row in by_year.items():
        in_year = [e for e in events if e["date_received"][:4] == year]
        assert row["numerator"] == sum(_code(e) == "HWC" for e in in_year)
        assert row["denominator"] == sum(_code(e) in ("HWC", "SCY", "NDJ") for e in in_year)

    # Voluntary Malfunction Summary Reports: flagged in the case table, counted per year, the rule stated
    summary = analysis["summary_reports"]
    assert summary["status"] == "ok" and summary["n_summary_reports"] == N_SUMMARY
    assert summary["n_flag_not_recorded"] == 2 and summary["n_reports"] == VOLUMES["HWC"]
    for row in summary["by_year"]:
        in_year = [e for e in hwc if e["date_received"][:4] == row["year"]]
        assert row["summary_reports"] == sum(e["summary_report_flag"] == "Y" for e in in_year)
        assert row["other_reports"] == sum(e["summary_report_flag"] == "N" for e in in_year)
    assert "counts once" in summary["definition"]
    sample = pd.read_parquet(ctx.run_dir / "tables" / "events.parquet")
    flagged = {e["mdr_report_key"] for e in hwc if e["summary_report_flag"] == "Y"}
    assert set(sample.loc[sample["summary_report"].fillna(False).astype(bool), "mdr_report_key"]) == flagged


def test_without_device_events_the_comparators_are_in_code_order_and_the_rule_says_why(realdata, tmp_path):
    """With device events switched off, report volumes cannot be counted: the comparators are the first
    codes in product-code order, and the recorded rule says so and why. A mirror without event files
    counts no report for any code: every volume is 0 and the tie-break (code order) decides."""
    from types import SimpleNamespace

    from cer_lib.collect.execute import Progress
    from cer_lib.params import load_parameters
    from cer_lib.sources.mirror import Mirror

    folder = tmp_path / "mirror"
    (folder / "classification").mkdir(parents=True)
    (folder / "classification" / "foiclass.txt").symlink_to(realdata / "classification" / "foiclass.txt")
    progress = Progress(SimpleNamespace(requests_path=tmp_path / "requests.jsonl"), "mirror")

    def resolve(**sources: bool):
        overrides = _overrides(mirror=str(folder))
        overrides["sources"] = {**overrides["sources"], **sources}
        params = load_parameters("HWC", overrides={"from": "mirror", **overrides}).resolved()
        return DEVICE.resolve(params, Mirror(folder), progress).resolution

    off = resolve(maude=False)
    codes = [c.product_code for c in off.comparators]
    assert len(codes) == CAP and codes == sorted(codes + [c.product_code for c in off.comparators_left_out])[:CAP]
    assert all(c.reports is None for c in off.comparators) and off.comparators_by_volume is False
    assert "product-code order (not by report volume: device events are switched off" in off.comparators_rule
    empty = resolve()
    assert [c.product_code for c in empty.comparators] == codes and [c.reports for c in empty.comparators] == [0, 0]
    assert empty.comparators_by_volume is True and "ties by code" in empty.comparators_rule
