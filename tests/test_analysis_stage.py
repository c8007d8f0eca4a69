"""The analyze stage on the demo mirrors: analysis.json has the documented shape.

The stages ran in the session's demo runs (`conftest.demo_run`, `conftest.synthetic_demo_run`),
made by ``cer report``; these tests read what the analyze stage wrote there.
"""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

ISO_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def _analysis(run: Path) -> dict:
    return json.loads((run / "results" / "analysis.json").read_text())


def _check_shape(analysis: dict, run: Path) -> None:
    for key in ("meta", "monthly_counts", "trend", "change_points", "forecast", "problems", "signals", "figures"):
        assert key in analysis, key
    assert analysis["schema_version"] == 1
    assert {i["path"] for i in analysis["meta"]["inputs"]} == {f"tables/{t}.parquet" for t in (
        "event_counts", "problem_counts", "report_totals", "summary_reports", "events", "event_problems")}
    monthly = analysis["monthly_counts"]
    totals = [r for r in monthly["rows"] if r["event_type"] == "total"]
    assert sum(r["n_reports"] for r in totals) == monthly["totals"]["all"]
    assert all(ISO_DAY.match(r["month"]) for r in monthly["rows"])
    for point in analysis["change_points"]:
        assert ISO_DAY.match(point["date"]) and point["method"] in ("PELT", "Binseg")
    assert analysis["trend"]["verdict"]["verdict"] in ("increase", "no significant increase", "insufficient data")
    for figure in analysis["figures"]:
        assert (run / figure["png"]).is_file() and (run / figure["svg"]).is_file()


def test_synthetic_demo_gives_a_complete_analysis(synthetic_demo_run: Path) -> None:
    analysis = _analysis(synthetic_demo_run)
    _check_shape(analysis, synthetic_demo_run)
    assert analysis["signals"]["status"] == "ok" and analysis["signals"]["rows"], "synthetic comparators have reports"
    assert all(r["product"] == "HWC" for r in analysis["signals"]["rows"])
    # the synthetic summary reports are counted per year (issue 9 item 5)
    summary = analysis["summary_reports"]
    assert summary["status"] == "ok" and summary["n_summary_reports"] > 0 and summary["n_flag_not_recorded"] == 0
    assert sum(r["summary_reports"] + r["other_reports"] for r in summary["by_year"]) == summary["n_reports"]
    # every signal row's cells add up to N, the report-product pairs of the family
    for row in analysis["signals"]["rows"]:
        assert row["a"] + row["b"] + row["c"] + row["d"] == row["N"]


@pytest.mark.realdata
def test_real_hwc_analysis_counts_the_13_reports(demo_run: Path, realdata: Path) -> None:
    analysis = _analysis(demo_run)
    _check_shape(analysis, demo_run)
    raw = json.loads((realdata / "openfda/in2bones/openFDA_raw_data.json").read_text())
    hwc = [r for r in raw if any(d.get("device_report_product_code") == "HWC" for d in r["device"])]
    assert analysis["monthly_counts"]["totals"]["all"] == len(hwc) == 13
    latest = max(r["date_received"] for r in raw)  # the demo mirror's last_updated
    assert analysis["meta"]["as_of"] == f"{latest[:4]}-{latest[4:6]}-{latest[6:]}"
    # no comparator of regulation 888.3040 has reports in these records: scoring is refused, not faked
    assert analysis["signals"]["status"] == "not possible"
    assert "comparator" in analysis["signals"]["reason"]
