"""Trend: GLM (Poisson / NB2), c-chart, Poisson CUSUM, recent-vs-baseline verdict.

Known answers come from seeded simulations whose true parameters are set here, and from scipy's own
exact tests. Sources: Cameron & Trivedi (1990) J Econometrics 46:347 (overdispersion test);
Montgomery, Introduction to Statistical Quality Control (c-chart ch. 7, CUSUM ch. 9); Lucas (1985)
Technometrics 27:129 (Poisson CUSUM, k = (mu1 - mu0)/ln(mu1/mu0)); Brook & Evans (1972) Biometrika
59:539 (Markov-chain ARL); Przyborowski & Wilenski (1940) / Cox (1953) conditional test for two
Poisson rates (binomial split given the total).
"""
from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from cer_lib.analysis.control_chart import control_chart
from cer_lib.analysis.cusum import poisson_cusum, poisson_cusum_arl, poisson_cusum_decision_interval
from cer_lib.analysis.series import monthly_counts
from cer_lib.analysis.trend import (
    VERDICTS,
    cameron_trivedi_test,
    conditional_rate_ratio,
    glm_trend,
    poisson_rate_ci,
    trend_analysis,
    trend_reporting_verdict,
)

AVERAGE_MONTH = 365.25 / 12


def series_from(totals, *, start="2019-01-01", event_type="Malfunction", extra=None):
    """MonthlySeries whose complete months hold ``totals`` (one row per month, dated the 15th)."""
    months = pd.date_range(start, periods=len(totals), freq="MS")
    frame = pd.DataFrame({"date": months + pd.Timedelta(days=14), "date_field": "date_received",
                          "event_type": event_type, "n_reports": np.asarray(totals, dtype="int64")})
    if extra is not None:
        frame = pd.concat([frame, extra], ignore_index=True)
    end = months[-1] + pd.offsets.MonthEnd(0)
    return monthly_counts(frame.loc[frame["n_reports"] > 0], window_start=months[0], window_end=end, as_of=end)


def days_of(n, start="2019-01-01"):
    return pd.date_range(start, periods=n, freq="MS").days_in_month.to_numpy()


def poisson_months(rng, per_day, n, start="2019-01-01"):
    """Poisson monthly counts with a daily rate (array or scalar) times the month's days."""
    return rng.poisson(np.asarray(per_day) * days_of(n, start))


# -- GLM trend -------------------------------------------------------------------------------


def test_poisson_glm_recovers_rate_ratio_and_ci_covers():
    """Log-linear Poisson GLM: 95% Wald CI for a true rate ratio of 1.2/year covers it ~95% of the time."""
    rng = np.random.default_rng(20240501)
    true_rr, covered, poisson_chosen, estimates = 1.2, 0, 0, []
    for _ in range(100):
        per_day = 40 / AVERAGE_MONTH * true_rr ** (np.arange(60) / 12)
        result = glm_trend(series_from(poisson_months(rng, per_day, 60)))
        covered += result.ci_low <= true_rr <= result.ci_high
        poisson_chosen += result.model == "poisson"
        estimates.append(result.rate_ratio_per_year)
    assert 0.88 <= covered / 100 <= 1.0
    assert poisson_chosen >= 85  # overdispersion rule fires rarely on Poisson data
    assert abs(np.mean(estimates) - true_rr) < 0.01


def test_overdispersed_counts_switch_to_negative_binomial():
    """NB2 counts (alpha = 0.2) are flagged by Cameron-Trivedi and fitted by NB2 with alpha near 0.2."""
    rng = np.random.default_rng(7)
    alpha, mean = 0.2, 50.0
    results = []
    for _ in range(30):
        mu = mean * 1.1 ** (np.arange(60) / 12)
        y = rng.poisson(rng.gamma(1 / alpha, alpha * mu))  # NB2: var = mu + alpha mu^2
        results.append(glm_trend(series_from(y)))
    assert sum(r.model == "negative binomial (NB2)" for r in results) >= 28
    assert all(r.cameron_trivedi_p < 0.05 or r.pearson_dispersion > 1.5 for r in results)
    alphas = [r.nb_alpha for r in results if r.nb_alpha is not None]
    assert 0.12 < np.median(alphas) < 0.3
    covered = sum(r.ci_low <= 1.1 <= r.ci_high for r in results)
    assert covered >= 25
    assert "overdispersed" in results[0].model_reason


def test_cameron_trivedi_statistic_by_hand():
    """Aux OLS slope of ((y-mu)^2 - y)/mu on mu through the origin, t on n-1 df."""
    y = np.array([3.0, 9, 1, 12, 0, 7, 15, 2])
    mu = np.full(8, y.mean())
    aux = ((y - mu) ** 2 - y) / mu
    slope = np.sum(aux * mu) / np.sum(mu**2)
    s2 = np.sum((aux - slope * mu) ** 2) / 7
    t = slope / math.sqrt(s2 / np.sum(mu**2))
    got_t, got_p = cameron_trivedi_test(y, mu)
    assert got_t == pytest.approx(t) and got_p == pytest.approx(stats.t.sf(t, 7))


def test_glm_insufficient_data_rules():
    assert glm_trend(series_from([5] * 11)).status == "insufficient data"
    few = glm_trend(series_from([0] * 20 + [3] * 2))
    assert few.status == "insufficient data" and "reports" in few.reason
    assert few.rate_ratio_per_year is None


# -- c-chart ---------------------------------------------------------------------------------


def test_c_chart_limits_and_flags():
    """Centre = baseline reports/day x days; limits centre +/- 3 sqrt(centre) (Montgomery ch. 7)."""
    rng = np.random.default_rng(11)
    y = poisson_months(rng, 20 / AVERAGE_MONTH, 36)
    y[30] = 80  # a spike after the baseline
    chart = control_chart(series_from(y), baseline_months=24)
    days = days_of(36)
    per_day = y[:24].sum() / days[:24].sum()
    assert chart.center == pytest.approx(per_day * AVERAGE_MONTH)
    assert chart.ucl == pytest.approx(chart.center + 3 * math.sqrt(chart.center))
    centre = per_day * days
    assert np.allclose(chart.points["ucl"], centre + 3 * np.sqrt(centre))
    assert chart.months_above_ucl == [pd.Timestamp("2021-07-01").date()]
    assert chart.false_alarm_probability == pytest.approx(
        stats.poisson.sf(math.floor(chart.ucl), chart.center) + stats.poisson.cdf(math.ceil(chart.lcl) - 1, chart.center))
    assert set(chart.points["phase"]) == {"baseline", "monitoring"}
    assert any("numerators only" in n for n in chart.notes)


def test_c_chart_month_length_does_not_flag_february():
    """At ~3000 reports/month a fixed centre would put every February below the LCL; days-scaled limits do not."""
    rng = np.random.default_rng(3)
    chart = control_chart(series_from(poisson_months(rng, 100.0, 48)))
    assert chart.months_below_lcl == [] and len(chart.months_above_ucl) <= 1
    assert chart.baseline_dispersion < 1.6


def test_c_chart_insufficient():
    assert control_chart(series_from([4] * 23)).status == "insufficient data"  # 12 monitored + 11 < 12 baseline
    zero = control_chart(series_from([0] * 24 + [5] * 6))
    assert zero.status == "insufficient data" and "no reports" in zero.reason


# -- CUSUM -----------------------------------------------------------------------------------


def _simulated_arl(mean, k, h, rng, runs=3000, max_steps=20000):
    level = np.zeros(runs)
    alive = np.ones(runs, dtype=bool)
    lengths = np.full(runs, np.nan)
    for step in range(1, max_steps):
        level = np.maximum(0.0, level + rng.poisson(mean, runs) - k)
        hit = alive & (level >= h - 1e-9)
        lengths[hit] = step
        alive &= ~hit
        if not alive.any():
            break
    assert not alive.any()
    return float(lengths.mean()), float(lengths.std() / math.sqrt(runs))


@pytest.mark.parametrize("mean", [1.5, 12.0])
def test_cusum_decision_interval_gives_target_arl_by_simulation(mean):
    """h from the Brook-Evans lattice chain: ARL0 >= 370 and a simulation agrees within 4 s.e."""
    k = (1.5 * mean - mean) / math.log(1.5)
    k_used, h, arl0 = poisson_cusum_decision_interval(mean, k, 370.0)
    assert arl0 >= 370.0 and abs(k_used - k) < 0.05
    assert poisson_cusum_arl(mean, k_used, h - 0.5) < arl0  # monotone in h
    simulated, se = _simulated_arl(mean, k_used, h, np.random.default_rng(42))
    assert abs(simulated - arl0) < 4 * se + 0.02 * arl0
    arl1 = poisson_cusum_arl(1.5 * mean, k_used, h, resolution=None)
    assert arl1 < arl0 / 10


def test_cusum_alarms_after_a_shift_not_before():
    """Baseline = the 24 months before the 12-month monitoring window; a doubling at the window's fifth
    month (2023-05) alarms within a few months, never before it."""
    rng = np.random.default_rng(5)
    per_day = np.r_[np.full(52, 10.0), np.full(8, 20.0)] / AVERAGE_MONTH
    y = poisson_months(rng, per_day, 60)
    cusum = poisson_cusum(series_from(y), baseline_months=24)
    assert cusum.status == "ok" and cusum.first_alarm is not None
    first = pd.Timestamp(cusum.first_alarm)
    assert pd.Timestamp("2023-05-01") <= first <= pd.Timestamp("2023-09-01")  # shift at 2023-05 (month 52)
    assert cusum.baseline_start.isoformat() == "2021-01-01" and cusum.monitoring_start.isoformat() == "2023-01-01"
    assert cusum.in_control_mean == pytest.approx(y[24:48].sum() / days_of(48)[24:].sum() * AVERAGE_MONTH)
    assert cusum.k == pytest.approx(0.5 * cusum.in_control_mean / math.log(1.5), rel=0.01)
    assert len(cusum.path) == 12 and bool(cusum.path["alarm"].iloc[-1])


def test_cusum_false_alarms_known_vs_estimated_mean():
    """Stationary series: with the true mean the 36-month false-alarm share is near the nominal
    1 - (1 - 1/ARL0)^36 ~ 9%; with the mean estimated from a 24-month baseline (and, since the
    baseline now sits just before it, a 12-month monitoring window) the share stays bounded (Phase-I
    estimation effect, Jensen et al. 2006; measured exactly in test_timeseries_phases.py)."""
    rng = np.random.default_rng(8)
    mean = 10.0
    k, h, arl0 = poisson_cusum_decision_interval(mean, 0.5 * mean / math.log(1.5), 370.0)
    known = 0
    for _ in range(2000):
        level, alarmed = 0.0, False
        for x in rng.poisson(mean, 36):
            level = max(0.0, level + x - k)
            alarmed |= level >= h - 1e-9
        known += alarmed
    estimated = sum(
        poisson_cusum(series_from(poisson_months(rng, mean / AVERAGE_MONTH, 60)),
                      quadrature_points=0).first_alarm is not None
        for _ in range(100))
    nominal = 1 - (1 - 1 / arl0) ** 36
    print(f"\nCUSUM false alarms in 36 months: nominal {nominal:.3f}, known mean {known / 2000:.3f}, "
          f"estimated mean, 12 monitored months {estimated / 100:.2f}")
    assert abs(known / 2000 - nominal) < 0.03
    assert estimated / 100 <= 0.35


# -- Verdict ---------------------------------------------------------------------------------


def test_verdict_matches_exact_binomial_test():
    """Exact conditional test equals scipy's binomtest on the split given the days."""
    y = np.r_[np.full(24, 10), np.full(12, 14)]
    verdict = trend_reporting_verdict(series_from(y))
    days = days_of(36)
    t0, t1 = days[:24].sum(), days[24:].sum()
    expected = stats.binomtest(168, 408, t1 / (t0 + t1), alternative="greater").pvalue
    assert not verdict.dispersion_adjusted and verdict.test.startswith("exact")
    assert verdict.p_value == pytest.approx(expected, rel=1e-9)
    assert verdict.rate_ratio == pytest.approx((168 / t1) / (240 / t0))
    assert verdict.verdict == ("increase" if expected < 0.05 else "no significant increase")
    assert (verdict.one_sided_lower_bound > 1) == (verdict.p_value < 0.05)
    assert verdict.ci_low < verdict.rate_ratio < verdict.ci_high
    assert verdict.recent_start.isoformat() == "2021-01-01" and verdict.baseline_end.isoformat() == "2020-12-01"


def test_verdict_size_and_power_under_poisson():
    """Size <= ~alpha on stationary Poisson series; a 1.5x increase at 20/month is found nearly always."""
    rng = np.random.default_rng(99)
    false_pos = sum(trend_reporting_verdict(series_from(poisson_months(rng, 20 / AVERAGE_MONTH, 36))).verdict
                    == "increase" for _ in range(200))
    per_day = np.r_[np.full(24, 20.0), np.full(12, 30.0)] / AVERAGE_MONTH
    hits = sum(trend_reporting_verdict(series_from(poisson_months(rng, per_day, 36))).verdict == "increase"
               for _ in range(100))
    print(f"\nverdict: false increase {false_pos / 200:.3f} (alpha 0.05), power at 1.5x {hits / 100:.2f}")
    assert false_pos / 200 <= 0.08
    assert hits >= 90


def test_verdict_scales_for_overdispersion():
    """With NB2 noise (alpha 0.1, mean 100) and no change, the exact Poisson test would call an increase
    in a large share of series; the dispersion-scaled test keeps false increases near alpha."""
    rng = np.random.default_rng(12)
    scaled = exact = 0
    for _ in range(200):
        y = rng.poisson(rng.gamma(10.0, 10.0, 36))
        verdict = trend_reporting_verdict(series_from(y))
        scaled += verdict.verdict == "increase"
        t = days_of(36)
        p0 = t[24:].sum() / t.sum()
        exact += stats.binomtest(int(y[24:].sum()), int(y.sum()), p0, alternative="greater").pvalue < 0.05
    print(f"\noverdispersed: exact test false increase {exact / 200:.2f}, scaled {scaled / 200:.3f}")
    assert exact / 200 > 0.2
    assert scaled / 200 <= 0.09


def test_verdict_minimum_data_rules():
    short = trend_reporting_verdict(series_from([5] * 23))  # 12 recent + 11 < 12 baseline months
    assert short.verdict == "insufficient data" and "23" in short.reason
    tiny = trend_reporting_verdict(series_from([0] * 34 + [1, 1]))  # n = 2, p0 = 1/3: (1/3)^2 > 0.05
    assert tiny.verdict == "insufficient data" and tiny.p_value is None
    three = trend_reporting_verdict(series_from([0] * 33 + [1, 1, 1]))  # (1/3)^3 < 0.05: testable
    assert three.verdict == "increase" and three.rate_ratio == math.inf
    assert set(VERDICTS) == {"increase", "no significant increase", "insufficient data"}


def test_rate_helpers_known_values():
    """Garwood exact interval for 10 events: (4.795, 18.39); conditional RR interval contains the estimate."""
    low, high = poisson_rate_ci(10, 1.0)
    assert low == pytest.approx(4.7954, abs=1e-3) and high == pytest.approx(18.390, abs=1e-3)
    ratio, lo, hi = conditional_rate_ratio(30, 12, 20, 24)
    assert ratio == pytest.approx(3.0) and lo < 3.0 < hi
    _, lo2, hi2 = conditional_rate_ratio(30, 12, 20, 24, scale=4.0)
    assert lo2 < lo and hi2 > hi  # scaling widens


def test_trend_analysis_serialises():
    rng = np.random.default_rng(1)
    extra = pd.DataFrame({"date": pd.date_range("2019-01-20", periods=48, freq="MS"),
                          "date_field": "date_received", "event_type": "Injury",
                          "n_reports": rng.poisson(3, 48)})
    result = trend_analysis(series_from(poisson_months(rng, 1.0, 48), extra=extra.loc[extra["n_reports"] > 0]))
    data = json.loads(json.dumps(result.to_dict(), allow_nan=False))
    assert set(data["glm"]) == {"total", "Death", "Injury", "Malfunction", "Other"}
    assert data["glm"]["Death"]["status"] == "insufficient data"
    assert data["verdicts"]["total"]["verdict"] in VERDICTS
    assert data["control_chart"]["points"][0]["month"] == "2019-01-01"
    assert data["cusum"]["baseline_start"] == "2020-01-01"  # the 24 months before the last 12
    assert data["cusum"]["monitoring_start"] == "2022-01-01"
    for item in (data["glm"]["total"], data["control_chart"], data["cusum"], data["verdicts"]["total"]):
        assert item["method"] and item["definition"] and isinstance(item["parameters"], dict)
