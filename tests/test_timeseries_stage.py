"""The analyze stage writes the issue-9 results into analysis.json (demo mirror, end to end).

What the report and a later "what changed since the last run" comparison read: the reporting-lag
guard, the primary rule and secondary tests, the chart phases with their false-alarm chances, the
shares robust to growth in use (the family share says what collect must add), the validated change
points and the forecast back-test by horizon.
"""
from __future__ import annotations

import datetime as dt
import json
from pathlib import Path


def test_analysis_json_carries_the_time_series_fields(synthetic_demo_run: Path) -> None:
    """Read from the session's synthetic demo run (`conftest.synthetic_demo_run`), made by ``cer report``."""
    analysis = json.loads((synthetic_demo_run / "results" / "analysis.json").read_text())
    monthly = analysis["monthly_counts"]
    assert monthly["lag_guard_months"] == 1
    cutoff = dt.date.fromisoformat(monthly["lag_guard_cutoff"])
    as_of = dt.date.fromisoformat(analysis["meta"]["as_of"])
    assert (as_of.year * 12 + as_of.month) - (cutoff.year * 12 + cutoff.month) == 1
    last = dt.date.fromisoformat(monthly["last_complete_month"])
    assert last.replace(day=28) < cutoff  # the last complete month ends before the cut-off

    trend = analysis["trend"]
    assert trend["primary"]["event_type"] == "total" and "primary" in trend["primary"]["rule"].lower()
    assert trend["primary"]["verdict"] == trend["verdict"]["verdict"]
    assert {e["role"] for e in trend["by_event_type"].values()} == {"secondary"}
    assert all("p_holm" in e for e in trend["by_event_type"].values())
    chart = trend["control_chart"]
    assert {"baseline", "monitoring", "phase_one_excluded", "false_alarm_probability_window_estimated"} <= set(chart)
    if chart["status"] == "ok":
        assert chart["monitoring"]["end"] == monthly["last_complete_month"]
        assert all(chart["monitoring"]["start"] <= s["month"] for s in chart["signals"])
    assert {"monitoring", "false_alarm_probability_window_known"} <= set(trend["cusum"])
    shares = trend["shares"]
    assert shares["serious"]["measure"] == "serious share" and "robust_to_growth" in shares["serious"]
    # the comparators' yearly totals are collected (issue 9 item 5), so the family share is computed
    family = analysis["details"]["shares"]["family"]
    assert shares["family"]["status"] != "not available" and family["periods"]
    assert all(0 < p["numerator"] <= p["denominator"] for p in family["periods"])
    assert [r["robust_to_growth_in_use"] for r in trend["robustness"]] == ["no", "partly", "yes", "partly"]

    method = analysis["change_point_method"]
    assert method["penalty_factor"] == 4.0 and method["validation"]["level"] == 0.01
    assert method["intervals"].startswith("descriptive")
    forecast = analysis["forecast"]
    if forecast["status"] == "ok":
        assert forecast["transform"] == "log(y + 1)" and forecast["mase_scale"]
        assert [r["step"] for r in forecast["mase_by_horizon"]] == list(range(1, forecast["horizon_months"] + 1))
    assert analysis["meta"]["parameters"]["lag_guard_months"] == 1
    assert analysis["meta"]["parameters"]["trend"]["primary_event_type"] == "total"
