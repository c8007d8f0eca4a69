"""Seeded simulations of the time-series methods' operating characteristics (issue 9).

Each function draws ``reps`` monthly series from a stated model with a fixed seed, runs one method on
each and returns the measured rate. The tests run them with few series (``make test`` stays quick);
``tests/validate.py`` (``make validate``) runs them with 200+ series per scenario and prints the table
the README quotes. Nothing here is tuned to pass: the models are the ones named in the issue.

Noise families (60 months unless stated; month lengths are calendar days):
- ``poisson``: independent Poisson months at a constant mean;
- ``spike``: Poisson, one month (uniform position) drawn at 3x the mean;
- ``nb``: negative binomial NB2, variance mu + alpha mu^2 (gamma-Poisson mixture);
- ``ar``: Poisson with an AR(1) log-mean, rho 0.7, stationary sd ``sd`` (mean kept at ``mean``).
"""
from __future__ import annotations

import math

import numpy as np
import pandas as pd

from cer_lib.analysis.changepoints import change_points
from cer_lib.analysis.control_chart import control_chart, estimated_centre_false_alarm
from cer_lib.analysis.cusum import cusum_false_alarm_within, poisson_cusum
from cer_lib.analysis.forecast import forecast_counts
from cer_lib.analysis.series import monthly_counts
from cer_lib.analysis.shares import serious_share, share_trend
from cer_lib.analysis.trend import glm_trend, trend_reporting_verdict

AVERAGE_MONTH = 365.25 / 12
START = "2015-01-01"


def days_of(n: int, start: str = START) -> np.ndarray:
    return pd.date_range(start, periods=n, freq="MS").days_in_month.to_numpy()


def series_from(types: dict[str, np.ndarray], start: str = START):
    """MonthlySeries whose complete months hold the given counts per event type (one row per month, the 15th)."""
    months = pd.date_range(start, periods=len(next(iter(types.values()))), freq="MS")
    frames = [pd.DataFrame({"date": months + pd.Timedelta(days=14), "date_field": "date_received", "event_type": t,
                            "n_reports": np.asarray(v, dtype="int64")}) for t, v in types.items()]
    frame = pd.concat(frames, ignore_index=True)
    end = months[-1] + pd.offsets.MonthEnd(0)
    return monthly_counts(frame.loc[frame["n_reports"] > 0], window_start=months[0], window_end=end, as_of=end)


def noisy_means(rng: np.random.Generator, kind: str, mean: np.ndarray, *, alpha: float = 0.1, sd: float = 0.2,
                rho: float = 0.7) -> np.ndarray:
    """Monthly counts around ``mean`` (array, per month) for one noise family."""
    mean = np.asarray(mean, dtype=float)
    n = len(mean)
    if kind == "poisson":
        return rng.poisson(mean)
    if kind == "spike":
        x = rng.poisson(mean)
        i = int(rng.integers(0, n))
        x[i] = rng.poisson(3 * mean[i])
        return x
    if kind == "nb":
        return rng.poisson(rng.gamma(1 / alpha, alpha * mean))
    if kind == "ar":
        e = np.empty(n)
        e[0] = rng.normal(0, sd)
        for t in range(1, n):
            e[t] = rho * e[t - 1] + rng.normal(0, sd * math.sqrt(1 - rho**2))
        return rng.poisson(mean * np.exp(e - sd**2 / 2))
    raise ValueError(kind)


def per_month(rate_per_average_month: float | np.ndarray, n: int) -> np.ndarray:
    """Mean counts for months of calendar length from a rate per average month."""
    return np.asarray(rate_per_average_month, dtype=float) * days_of(n) / AVERAGE_MONTH


# ----------------------------------------------------------------------------------------------
# change points


def false_change_rate(kind: str, *, reps: int, seed: int, mean: float = 20.0, n: int = 60, **noise) -> float:
    """Share of stationary series with at least one reported change point."""
    rng = np.random.default_rng(seed)
    hits = 0
    for _ in range(reps):
        y = noisy_means(rng, kind, per_month(mean, n), **noise)
        hits += bool(change_points(series_from({"Malfunction": y})).change_points)
    return hits / reps


def change_dated_rate(*, reps: int, seed: int, mean: float = 20.0, ratio: float = 2.0, n: int = 60) -> float:
    """Share of series with one step (at a month in 15..45) whose change is dated within +/-1 month."""
    rng = np.random.default_rng(seed)
    hits = 0
    for _ in range(reps):
        tau = int(rng.integers(15, 46))
        level = np.where(np.arange(n) < tau, mean, mean * ratio)
        result = change_points(series_from({"Malfunction": rng.poisson(per_month(level, n))}))
        hits += any(abs(c.index - tau) <= 1 for c in result.change_points)
    return hits / reps


def bump_dated_rate(*, reps: int, seed: int, mean: float = 20.0, ratio: float = 2.0, n: int = 60) -> float:
    """Share of series with a temporary rise (months 20..39 at ``ratio`` x) whose both ends are dated within +/-1."""
    rng = np.random.default_rng(seed)
    hits = 0
    for _ in range(reps):
        level = np.where((np.arange(n) >= 20) & (np.arange(n) < 40), mean * ratio, mean)
        found = [c.index for c in change_points(series_from({"Malfunction": rng.poisson(per_month(level, n))})).change_points]
        hits += any(abs(i - 20) <= 1 for i in found) and any(abs(i - 40) <= 1 for i in found)
    return hits / reps


# ----------------------------------------------------------------------------------------------
# trend-reporting verdict


def verdict_increase_rate(kind: str, *, reps: int, seed: int, n: int, mean: float = 20.0,
                          surge: float = 1.0, **noise) -> float:
    """Share of series called "increase"; ``surge`` multiplies the mean of the last 12 months."""
    rng = np.random.default_rng(seed)
    level = np.where(np.arange(n) >= n - 12, mean * surge, mean)
    hits = 0
    for _ in range(reps):
        y = noisy_means(rng, kind, per_month(level, n), **noise)
        hits += trend_reporting_verdict(series_from({"Malfunction": y})).verdict == "increase"
    return hits / reps


# ----------------------------------------------------------------------------------------------
# control chart and CUSUM with an estimated baseline


def chart_false_alarms(*, reps: int, seed: int, mean: float, n: int = 60) -> dict[str, float]:
    """Stationary Poisson series: share with a phase-II c-chart signal / CUSUM alarm, and the stated chances."""
    rng = np.random.default_rng(seed)
    chart = cusum = 0
    for _ in range(reps):
        series = series_from({"Malfunction": rng.poisson(per_month(mean, n))})
        chart += bool(control_chart(series).months_above_ucl)
        cusum += poisson_cusum(series, quadrature_points=0).first_alarm is not None
    monitored = days_of(n)[-12:]
    chart_known, chart_estimated = estimated_centre_false_alarm(mean / AVERAGE_MONTH, float(days_of(n)[-36:-12].sum()),
                                                                monitored)
    cusum_known, cusum_estimated = cusum_false_alarm_within(mean, 12, shift_ratio=1.5, target_arl0=370.0,
                                                            baseline_months=24.0)
    return {"chart_measured": chart / reps, "chart_stated_known": chart_known, "chart_stated_estimated": chart_estimated,
            "cusum_measured": cusum / reps, "cusum_stated_known": cusum_known,
            "cusum_stated_estimated": cusum_estimated}


# ----------------------------------------------------------------------------------------------
# growth in use without a safety change


def growth_flag_rates(*, reps: int, seed: int, n: int = 120, start_mean: float = 50.0, growth: float = 0.15,
                      serious: float = 0.2, family_ratio: float = 9.0) -> dict[str, float]:
    """15%/year growth in devices in use, no safety change: share of series each measure flags.

    Reports of the device grow with use; a constant share ``serious`` of them are serious; the comparator
    family's other codes report ``family_ratio`` times as much and grow alike.
    """
    rng = np.random.default_rng(seed)
    mean = per_month(start_mean * (1 + growth) ** (np.arange(n) / 12), n)
    flags = dict.fromkeys(("verdict", "c_chart", "cusum", "glm", "change_points", "serious_share", "family_share"), 0)
    for _ in range(reps):
        total = rng.poisson(mean)
        serious_n = rng.binomial(total, serious)
        deaths = rng.binomial(serious_n, 0.1)
        series = series_from({"Death": deaths, "Injury": serious_n - deaths, "Malfunction": total - serious_n})
        flags["verdict"] += trend_reporting_verdict(series).verdict == "increase"
        flags["c_chart"] += bool(control_chart(series).months_above_ucl)
        flags["cusum"] += poisson_cusum(series, quadrature_points=0).first_alarm is not None
        glm = glm_trend(series)
        flags["glm"] += glm.p_value is not None and glm.p_value < 0.05 and glm.rate_ratio_per_year > 1
        flags["change_points"] += bool(change_points(series).change_points)
        flags["serious_share"] += serious_share(series).verdict == "increase"
        family = total + rng.poisson(family_ratio * mean)
        months = pd.date_range(START, periods=n, freq="MS")
        frame = pd.DataFrame({"start": months, "numerator": total, "denominator": family})
        flags["family_share"] += share_trend(
            frame, measure="share of the comparator family's reports", numerator_label="device reports",
            denominator_label="family reports", unit="month", recent_periods=12, baseline_periods=24,
            min_baseline_periods=12).verdict == "increase"
    return {k: v / reps for k, v in flags.items()}


# ----------------------------------------------------------------------------------------------
# forecast


def forecast_coverage(kind: str, *, reps: int, seed: int, mean: float = 20.0, n: int = 60, growth: float = 0.0,
                      **noise) -> dict[str, float]:
    """Share of the next 12 months inside the 80% and 95% prediction intervals (fresh draws of the same model)."""
    rng = np.random.default_rng(seed)
    level = per_month(mean * (1 + growth) ** (np.arange(n + 12) / 12), n + 12)
    inside80, inside95, below, above = [], [], [], []
    for _ in range(reps):
        y = noisy_means(rng, kind, level, **noise)
        result = forecast_counts(series_from({"Malfunction": y[:n]}), n_origins=0)
        future = y[n:]
        f = result.forecast
        inside80.append(np.mean((future >= f["pi80_low"]) & (future <= f["pi80_high"])))
        inside95.append(np.mean((future >= f["pi95_low"]) & (future <= f["pi95_high"])))
        below.append(np.mean(future < f["pi95_low"]))
        above.append(np.mean(future > f["pi95_high"]))
    return {"coverage80": float(np.mean(inside80)), "coverage95": float(np.mean(inside95)),
            "below95": float(np.mean(below)), "above95": float(np.mean(above))}

