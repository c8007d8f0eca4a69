"""Control charts by phase, the baseline just before the monitoring window, reduced baselines, the
reporting-lag guard and the pre-specified primary trend test (issue 9 items 1, 3, 4, 6, 8).

Sources: Montgomery, Introduction to Statistical Quality Control, 7th ed. (2013), ch. 7 (phase I trial
limits, revised after removing out-of-control samples; Example 7.3 below); Jensen et al. (2006) J Qual
Technol 38:349 (estimated parameters change a chart's false-alarm rate); Holm (1979) Scand J Stat 6:65.
"""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from cer_lib.analysis.baseline import phase_one_rate, trend_windows
from cer_lib.analysis.control_chart import control_chart
from cer_lib.analysis.cusum import poisson_cusum
from cer_lib.analysis.series import monthly_counts
from cer_lib.analysis.trend import trend_analysis, trend_reporting_verdict

from simulation import AVERAGE_MONTH, per_month, series_from, verdict_increase_rate

# Montgomery (2013) Example 7.3: nonconformities in 26 samples of 100 printed circuit boards.
MONTGOMERY_7_3 = [21, 24, 16, 12, 15, 5, 28, 20, 31, 25, 20, 24, 16, 19, 10, 17, 13, 22, 18, 39, 30, 24, 16, 19, 17, 15]


def test_montgomery_example_7_3_trial_and_revised_limits():
    """Trial limits c-bar 19.85, UCL 33.22, LCL 6.48 flag samples 6 and 20; revised: 19.67, 32.97, 6.36."""
    result = phase_one_rate(np.array(MONTGOMERY_7_3), np.ones(26))
    trial = result.first_rate_per_day
    assert trial == pytest.approx(19.85, abs=0.005)
    assert trial + 3 * math.sqrt(trial) == pytest.approx(33.22, abs=0.01)
    assert trial - 3 * math.sqrt(trial) == pytest.approx(6.48, abs=0.01)
    assert sorted(i + 1 for i in result.excluded) == [6, 20]
    revised = result.rate_per_day
    assert revised == pytest.approx(19.67, abs=0.005)
    assert revised + 3 * math.sqrt(revised) == pytest.approx(32.97, abs=0.01)
    assert revised - 3 * math.sqrt(revised) == pytest.approx(6.36, abs=0.01)
    assert result.stable and result.iterations == 2


def test_phase_one_flags_are_not_signals():
    """A spike inside the baseline is set aside in phase I; only monitoring-window months can signal."""
    rng = np.random.default_rng(3)
    y = rng.poisson(per_month(20.0, 36))
    y[5] = 80  # baseline month
    y[30] = 80  # monitoring month
    chart = control_chart(series_from({"Malfunction": y}))
    assert chart.phase_one_excluded == [pd.Timestamp("2015-06-01").date()]
    assert chart.months_above_ucl == [pd.Timestamp("2017-07-01").date()]
    points = chart.points
    assert not points.loc[points["phase"] == "baseline", "signal"].any()
    assert points.loc[points["phase_one_excluded"], "phase"].tolist() == ["baseline"]
    kept = np.ones(24, dtype=bool)
    kept[5] = False
    days = points["days"].to_numpy()[:24]
    assert chart.center == pytest.approx(y[:24][kept].sum() / days[kept].sum() * AVERAGE_MONTH)


def test_baseline_sits_just_before_the_monitoring_window():
    """Ten years of counts: phase I = the 24 months before the last 12, not the first 24 (issue 9 item 4)."""
    rng = np.random.default_rng(4)
    series = series_from({"Malfunction": rng.poisson(per_month(30.0, 120))})
    chart, cusum = control_chart(series), poisson_cusum(series, quadrature_points=0)
    for result in (chart, cusum):
        assert result.baseline_start.isoformat() == "2022-01-01" and result.baseline_end.isoformat() == "2023-12-01"
        assert result.monitoring_start.isoformat() == "2024-01-01" and result.monitoring_end.isoformat() == "2024-12-01"
    assert (chart.points["phase"] == "history").sum() == 84
    assert chart.points.loc[chart.points["phase"] == "history", "ucl"].isna().all()
    assert len(cusum.path) == 12


def test_estimated_centre_false_alarm_rate_is_stated_and_true():
    """The stated chance of a phase-II false signal with an estimated centre matches simulation (10/month)."""
    rng = np.random.default_rng(11)
    reps, stated, signals = 300, [], 0
    for _ in range(reps):
        chart = control_chart(series_from({"Malfunction": rng.poisson(per_month(10.0, 36))}))
        stated.append(chart.false_alarm_probability_window_estimated)
        signals += bool(chart.months_above_ucl)
    measured, expected = signals / reps, float(np.mean(stated))
    se = math.sqrt(expected * (1 - expected) / reps)
    print(f"\nc-chart, 12 monitored months at 10/month: measured false-signal share {measured:.3f}, "
          f"stated (estimated centre) {expected:.3f}, known-centre value {chart.false_alarm_probability_window_known:.3f}")
    assert abs(measured - expected) < 3 * se + 0.01
    assert expected > chart.false_alarm_probability_window_known  # estimating the centre costs false alarms


def test_short_series_gets_a_verdict_on_a_reduced_baseline():
    """30 complete months with a recall-scale surge in the last 12: a verdict, on a labelled reduced baseline."""
    rng = np.random.default_rng(6)
    level = np.where(np.arange(30) >= 18, 40.0, 20.0)
    verdict = trend_reporting_verdict(series_from({"Malfunction": rng.poisson(per_month(level, 30))}))
    assert verdict.verdict == "increase" and verdict.reduced_baseline
    assert verdict.baseline_label == "reduced baseline" and "reduced baseline" in verdict.definition
    assert verdict.baseline_start.isoformat() == "2015-01-01" and verdict.baseline_end.isoformat() == "2016-06-01"
    assert verdict.parameters["baseline_months_used"] == 18
    windows = trend_windows(23)
    assert windows.status == "insufficient data" and "23" in windows.reason


def test_reduced_baseline_keeps_the_test_size():
    """Stationary Poisson (20/month) and 2/month series of 30 and 24 months: false increases <= alpha."""
    rates = {(mean, n): verdict_increase_rate("poisson", reps=200, seed=71, n=n, mean=mean)
             for mean, n in ((20.0, 30), (20.0, 24), (2.0, 30))}
    for (mean, n), rate in rates.items():
        print(f"\nverdict size, {n} months at {mean:g}/month (reduced baseline): {rate:.3f} (alpha 0.05)")
    assert all(rate <= 0.05 + 2 * math.sqrt(0.05 * 0.95 / 200) for rate in rates.values())


def test_reporting_lag_guard_excludes_the_last_month_before_last_updated():
    """last_updated 2024-05-20 with a one-month guard: April 2024 (fully covered) is not complete yet."""
    days = pd.date_range("2023-01-01", "2024-05-20")
    frame = pd.DataFrame({"date": days, "date_field": "date_received", "event_type": "Malfunction", "n_reports": 3})
    guarded = monthly_counts(frame, window_start="2023-01-01", window_end="2024-12-31", as_of="2024-05-20",
                             lag_guard_months=1)
    status = dict(zip(guarded.table["month"].dt.strftime("%Y-%m"), guarded.table["status"], strict=True))
    assert status["2024-03"] == "complete" and status["2024-04"] == "reporting-lag guard"
    assert status["2024-05"] == "partial"
    assert guarded.guarded_months == [pd.Timestamp("2024-04-01").date()]
    assert guarded.lag_guard_cutoff.isoformat() == "2024-04-20" and guarded.n_complete_months == 15
    assert "reporting-lag guard" in guarded.definition and "2024-04-20" in guarded.definition
    unguarded = monthly_counts(frame, window_start="2023-01-01", window_end="2024-12-31", as_of="2024-05-20")
    assert unguarded.n_complete_months == 16 and unguarded.guarded_months == []
    month_end = monthly_counts(frame, window_start="2023-01-01", window_end="2024-12-31", as_of="2024-04-30",
                               lag_guard_months=1)  # data through April: April is the guarded month, March settles
    assert month_end.lag_guard_cutoff.isoformat() == "2024-03-31"
    assert month_end.guarded_months == [pd.Timestamp("2024-04-01").date()] and month_end.n_complete_months == 15


def test_one_primary_trend_test_and_holm_adjusted_secondary_tests():
    """Injury reports rise while all reports do not: the primary verdict (all reports) decides; the
    per-event-type verdicts are secondary, with Holm-adjusted p-values."""
    rng = np.random.default_rng(8)
    n = 36
    injury = rng.poisson(per_month(np.where(np.arange(n) >= 24, 12.0, 6.0), n))
    malfunction = rng.poisson(per_month(np.where(np.arange(n) >= 24, 54.0, 60.0), n))
    analysis = trend_analysis(series_from({"Injury": injury, "Malfunction": malfunction}))
    assert analysis.primary_event_type == "total" and analysis.primary is analysis.verdicts["total"]
    assert analysis.primary.verdict == "no significant increase"
    assert analysis.verdicts["Injury"].verdict == "increase"
    raw = {t: v.p_value for t, v in analysis.verdicts.items() if t != "total" and v.p_value is not None}
    ordered = sorted(raw, key=raw.get)
    m = len(ordered)
    expected, running = {}, 0.0
    for i, t in enumerate(ordered):  # Holm step-down by hand
        running = max(running, min(1.0, (m - i) * raw[t]))
        expected[t] = running
    for t, p in expected.items():
        assert analysis.secondary_p_holm[t] == pytest.approx(p)
    assert "primary" in analysis.primary_rule.lower() and "not counted" in analysis.primary_rule
    other = trend_analysis(series_from({"Injury": injury, "Malfunction": malfunction}), primary_event_type="Injury")
    assert other.primary.event_type == "Injury" and "Injury" not in other.secondary_p_holm
