"""Reports of one event are counted once in the trends and the signals (issue 12.3).

The fixture: 36 months with one report every fourth month (a c-chart centre of 0.25 reports per month,
upper limit 0.25 + 3 * 0.5 = 1.75), then a monitoring month in which one event arrives as two reports
(a manufacturer and a user-facility report of one surgery). Counted as reports, that month (2) lies
above the limit; counted as events (1), it does not.
"""
from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from cer_lib.analysis.events_once import count_events_once, count_problem_events_once
from cer_lib.analysis.series import monthly_counts
from cer_lib.analysis.trend import trend_analysis

START, END = pd.Timestamp("2020-01-01"), pd.Timestamp("2023-12-31")


def _reports() -> pd.DataFrame:
    """One report every fourth month of 2020-2022, and two reports of one event in 2023-06."""
    rows = [{"mdr_report_key": f"R{i}", "report_number": f"N{i}", "date_received": pd.Timestamp(2020 + i // 12, i % 12 + 1, 10),
             "date_of_event": pd.Timestamp(2020 + i // 12, i % 12 + 1, 1), "event_type": "Malfunction",
             "event_group": f"R{i}", "event_group_size": 1, "grouped_by": None} for i in range(0, 36, 4)]
    rows += [
        {"mdr_report_key": "M1", "report_number": "M-1", "date_received": pd.Timestamp("2023-06-05"),
         "date_of_event": pd.Timestamp("2023-05-30"), "event_type": "Malfunction", "event_group": "M1",
         "event_group_size": 2, "grouped_by": "event key"},
        {"mdr_report_key": "U1", "report_number": "U-1", "date_received": pd.Timestamp("2023-06-20"),
         "date_of_event": pd.Timestamp("2023-05-30"), "event_type": "Injury", "event_group": "M1",
         "event_group_size": 2, "grouped_by": "event key"},
    ]
    return pd.DataFrame(rows)


def _daily_counts(events: pd.DataFrame) -> pd.DataFrame:
    """The count queries' daily rows as a mirror computes them from the reports (per event type and all)."""
    rows = []
    for field in ("date_received", "date_of_event"):
        for (day, event_type), n in events.groupby([field, "event_type"]).size().items():
            if field == "date_received":
                rows.append({"date": day, "date_field": field, "event_type": event_type, "n_reports": int(n)})
        for day, n in events.groupby(field).size().items():
            rows.append({"date": day, "date_field": field, "event_type": "all", "n_reports": int(n)})
    return pd.DataFrame(rows)


def _chart_signals(counts: pd.DataFrame) -> list[str]:
    received = counts[(counts["date_field"] == "date_received") & (counts["event_type"] != "all")]
    series = monthly_counts(received, window_start=START, window_end=END, as_of=END)
    chart = trend_analysis(series, recent_months=12, baseline_months=36).control_chart
    return [f"{row.month:%Y-%m}" for row in chart.points.itertuples() if row.signal]


def test_two_reports_of_one_event_make_a_spike_counted_as_reports_and_none_counted_once() -> None:
    events = _reports()
    reported = _daily_counts(events)
    assert _chart_signals(reported) == ["2023-06"]  # before: the event's two reports look like a spike

    counted, merge = count_events_once(reported, events, START, END)
    assert _chart_signals(counted) == []  # after: one event, inside the limits
    assert (merge.applied, merge.n_reports, merge.n_events, merge.n_groups, merge.n_reports_merged) == (True, 11, 10, 1, 1)
    assert merge.merged == [{"event": "M1", "reports": ["M1", "U1"], "report_numbers": ["M-1", "U-1"],
                             "date_received": "2023-06-05", "grouped_by": "event key", "event_type": "Injury"}]
    by_day = counted.set_index(["date", "date_field", "event_type"])["n_reports"]
    # the event counts once, on its earliest report's day, under its most serious event type
    assert by_day[(pd.Timestamp("2023-06-05"), "date_received", "Injury")] == 1
    assert by_day[(pd.Timestamp("2023-06-05"), "date_received", "Malfunction")] == 0
    assert by_day[(pd.Timestamp("2023-06-20"), "date_received", "all")] == 0
    assert by_day[(pd.Timestamp("2023-05-30"), "date_of_event", "all")] == 1
    assert int(counted.loc[counted["date_field"] == "date_received"].query("event_type == 'all'")["n_reports"].sum()) == 10


def test_a_sample_that_misses_reports_of_the_window_leaves_the_counts_as_reports() -> None:
    events = _reports()
    reported = _daily_counts(events)
    counted, merge = count_events_once(reported, events[events["date_received"] >= "2021-01-01"], START, END)
    assert counted is reported
    assert not merge.applied and merge.n_events == merge.n_reports == 11
    assert "holds 8 of the 11 reports" in merge.reason and "bias" in merge.reason


def _problem_inputs() -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Term counts and totals of the device (DEV) and one comparator (CMP), whole window and per year."""
    terms = pd.DataFrame([
        ("device", "DEV", "device", "all", "Break", 3), ("device", "DEV", "device", "2023", "Break", 2),
        ("device", "DEV", "device", "2020", "Break", 1), ("device", "DEV", "patient", "all", "Pain", 1),
        ("device", "DEV", "patient", "2023", "Pain", 1), ("comparator", "CMP", "device", "all", "Break", 2),
    ], columns=["scope", "product_code", "problem_type", "period", "term", "n_reports"]).assign(truncated=False)
    totals = pd.DataFrame([("device", "DEV", "all", 11), ("device", "DEV", "2023", 2), ("device", "DEV", "2020", 3),
                           ("device", "DEV", "2021", 3), ("device", "DEV", "2022", 3), ("comparator", "CMP", "all", 50)],
                          columns=["scope", "product_code", "period", "n_reports"])
    problems = pd.DataFrame([("M1", "device", "Break"), ("U1", "device", "Break"), ("U1", "patient", "Pain"),
                             ("R0", "device", "Break")], columns=["mdr_report_key", "problem_type", "term"])
    return terms, totals, problems


def test_the_signal_counts_of_the_device_count_one_event_once_and_the_comparators_stay_reports() -> None:
    terms, totals, problems = _problem_inputs()
    new_terms, new_totals, merge = count_problem_events_once(terms, totals, _reports(), problems, "DEV")
    assert merge.applied and merge.n_reports_merged == 1
    a = new_terms.set_index(["product_code", "problem_type", "period", "term"])["n_reports"]
    assert a[("DEV", "device", "all", "Break")] == 2  # both reports of the event carry it: once
    assert a[("DEV", "device", "2023", "Break")] == 1
    assert a[("DEV", "patient", "all", "Pain")] == 1  # only the user report carries it: the event does
    assert a[("CMP", "device", "all", "Break")] == 2
    n = new_totals.set_index(["product_code", "period"])["n_reports"]
    assert (n[("DEV", "all")], n[("DEV", "2023")], n[("CMP", "all")]) == (10, 1, 50)


def test_signal_counts_stay_report_counts_when_the_sample_does_not_hold_every_report() -> None:
    terms, totals, problems = _problem_inputs()
    totals.loc[(totals["product_code"] == "DEV") & (totals["period"] == "all"), "n_reports"] = 500
    new_terms, new_totals, merge = count_problem_events_once(terms, totals, _reports(), problems, "DEV")
    assert new_terms is terms and new_totals is totals
    assert not merge.applied and "holds 11 of the device's 500 reports" in merge.reason


@pytest.mark.realdata
def test_the_demo_counts_its_two_surgeries_once_and_says_so(demo_run: Path) -> None:
    """The demo's 13 real HWC reports hold two pairs of reports of one surgery (tests/test_event_groups.py):
    the models see 11 events; the MAUDE counts table still shows 13 reports."""
    analysis = json.loads((demo_run / "results" / "analysis.json").read_text())
    counting = analysis["event_counting"]
    assert counting["unit"] == "events"
    assert (counting["series"]["n_reports"], counting["series"]["n_events"], counting["series"]["n_groups"]) == (13, 11, 2)
    assert counting["problems"]["applied"] and counting["problems"]["n_reports_merged"] == 2
    assert analysis["monthly_counts"]["totals"]["all"] == 13
    assert sum(r["n_events"] for r in counting["monthly_events"]) == 11
    assert analysis["details"]["series"]["n_reports"] == 11
    html = (demo_run / "cer.html").read_text(encoding="utf-8")
    assert "Reports of one event, counted once." in html
    assert "count 11 events" in html
    # before (reports): the two surgeries made 2019-05 and 2019-07 phase-I months outside the limits
    assert analysis["trend"]["control_chart"]["phase_one_excluded"] == []
