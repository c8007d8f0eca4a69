"""Calibration by simulation (issue 9 items 2, 4, 7): the measured rates, printed beside their targets.

Small versions of the ``make validate`` table (tests/validate.py; the full table has 200+ series per
scenario). Sources: Killick, Fearnhead & Eckley (2012) JASA 107:1590 (PELT); Shao & Zhang (2010) JASA
105:1228 (self-normalised test); Rao & Scott (1992) Biometrics 48:577 (dispersion-adjusted tests of
proportions); Hyndman & Athanasopoulos, Forecasting: Principles and Practice, 3rd ed. (5.6, 5.10,
13.3); Hyndman & Koehler (2006) Int J Forecast 22:679 (MASE, seasonal scaling).
"""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from cer_lib.analysis.changepoints import validate_changes
from cer_lib.analysis.forecast import forecast_counts, naive_scale
from cer_lib.analysis.mean_change_test import CRITICAL_VALUES, self_normalised_statistic

from simulation import (
    AVERAGE_MONTH,
    bump_dated_rate,
    change_dated_rate,
    false_change_rate,
    forecast_coverage,
    days_of,
    growth_flag_rates,
    noisy_means,
    per_month,
    series_from,
)

TARGET_FALSE_CHANGES = 0.05


@pytest.mark.parametrize(("kind", "noise"), [
    ("spike", {}), ("nb", {"alpha": 0.1}), ("ar", {"sd": 0.2}), ("ar", {"sd": 0.2, "mean": 100.0})],
    ids=["poisson-with-3x-spike", "negative-binomial", "ar1-log-mean", "ar1-log-mean-dominant"])
def test_few_false_change_points_under_three_noise_families(kind, noise):
    """60 stationary months at 20/month (and 100/month, where the autocorrelated variation dominates the
    Poisson noise); the old penalty and lag-1 dispersion gave 51% (spike), 16% (NB) and 73% (AR(1),
    rho 0.7) on these series, the tabulated validation 7.5% at 100/month. Target 5% for all; 80 series
    here, so the bound is the target plus two binomial standard errors (`make validate`: 200 each)."""
    rate = false_change_rate(kind, reps=80, seed=901, **noise)
    print(f"\nfalse change points, {kind} {noise}: {rate:.3f} (target {TARGET_FALSE_CHANGES})")
    assert rate <= TARGET_FALSE_CHANGES + 2 * math.sqrt(TARGET_FALSE_CHANGES * (1 - TARGET_FALSE_CHANGES) / 80)


@pytest.mark.parametrize(("kind", "noise"), [("ar", {"sd": 0.2, "mean": 100.0}), ("poisson", {})],
                         ids=["ar1-log-mean-dominant", "poisson"])
def test_the_local_validation_keeps_its_level_under_the_series_noise(kind, noise):
    """The validation test alone, at level 1%, on stationary 60-month series split where its statistic is
    largest: with the tabulated critical value (Shao & Zhang 2010, 68.6) it rejects about 5% of series
    under an AR(1) log mean (rho 0.7) at 100/month; with the value simulated under the fitted noise
    (`cer_lib.analysis.noise_null`) about 1%. 200 series: the bound is 1% plus two standard errors."""
    rng = np.random.default_rng(905)
    exposure = days_of(60) / AVERAGE_MONTH
    tabulated = simulated = 0
    for _ in range(200):
        y = noisy_means(rng, kind, per_month(20.0, 60) * noise.get("mean", 20.0) / 20.0,
                        **{k: v for k, v in noise.items() if k != "mean"}).astype(float)
        statistic, split = self_normalised_statistic(np.log1p(y / exposure))
        tabulated += statistic > CRITICAL_VALUES[0.01]
        simulated += bool(validate_changes(y, exposure, [split], level=0.01)[0])
    print(f"\nlocal validation at 1%, {kind} {noise}: tabulated critical value {tabulated / 200:.3f}, "
          f"simulated {simulated / 200:.3f} (target 0.01)")
    assert simulated / 200 <= 0.01 + 2 * math.sqrt(0.01 * 0.99 / 200)


def test_real_changes_are_still_dated():
    """Doubling at 20/month dated within +/-1 month in >= 90%; both ends of a 20-month doubling in >= 85%."""
    step = change_dated_rate(reps=40, seed=902)
    bump = bump_dated_rate(reps=30, seed=903)
    print(f"\ndoubling dated within +/-1 month: {step:.3f} (target 0.90); temporary doubling, both ends: {bump:.3f} "
          "(target 0.85)")
    assert step >= 0.90 and bump >= 0.85


def test_growth_in_use_flags_counts_not_shares():
    """15%/year growth in use and no safety change (120 months from 50/month): count measures flag it
    (the report says they are not robust); the serious share and the share of a family that grows
    alike stay near their 5% size."""
    rates = growth_flag_rates(reps=40, seed=904)
    print("\ngrowth 15%/year, no safety change, share of series flagged: "
          + ", ".join(f"{k} {v:.3f}" for k, v in rates.items()) + " (shares: target 0.05)")
    assert rates["verdict"] >= 0.9 and rates["glm"] >= 0.9  # not robust, as stated
    assert rates["serious_share"] <= 0.05 + 2 * math.sqrt(0.05 * 0.95 / 40)
    assert rates["family_share"] <= 0.05 + 2 * math.sqrt(0.05 * 0.95 / 40)


def test_forecast_intervals_fit_counts():
    """Log-scale intervals: asymmetric (more room above than below), lower bounds from the model not from
    cutting a normal interval at zero, and a 95% coverage near 95% at 2 and 20 reports per month."""
    rng = np.random.default_rng(905)
    result = forecast_counts(series_from({"Malfunction": rng.poisson(per_month(20.0, 60))}), n_origins=0)
    f = result.forecast
    assert ((f["pi95_high"] - f["mean"]) > (f["mean"] - f["pi95_low"])).all()
    assert (f["pi95_low"] > 0).all() and (f["pi80_low"] > f["pi95_low"]).all()
    for mean in (2.0, 20.0):
        cov = forecast_coverage("poisson", reps=15, seed=906, mean=mean)
        print(f"\nforecast at {mean:g}/month, 12 months ahead: 95% coverage {cov['coverage95']:.3f} "
              f"(below {cov['below95']:.3f}, above {cov['above95']:.3f}), 80% coverage {cov['coverage80']:.3f}")
        assert 0.90 <= cov["coverage95"] <= 0.995 and cov["above95"] <= 0.05


def test_backtest_covers_the_forecast_horizon_with_seasonal_scaling():
    """The back-test forecasts 1..12 months ahead (the horizon shown); MASE is scaled by the seasonal
    naive in-sample error at origins where the seasonal form is selected."""
    rng = np.random.default_rng(907)
    t = np.arange(72)
    y = rng.poisson(per_month(40 + 25 * np.sin(2 * np.pi * t / 12), 72))
    result = forecast_counts(series_from({"Malfunction": y}), n_origins=4)
    backtest = result.backtest
    assert backtest["horizon"] == 12 and list(backtest["by_horizon"]["step"]) == list(range(1, 13))
    errors = backtest["errors"]
    seasonal = errors[errors["season"] == 12]
    assert not seasonal.empty and backtest["seasonal_origins"] >= 1
    for origin, rows in seasonal.groupby("origin"):
        train = y[: int(np.flatnonzero(pd.date_range("2015-01-01", periods=72, freq="MS") == origin)[0]) + 1]
        assert rows["scale"].iloc[0] == pytest.approx(np.mean(np.abs(train[12:] - train[:-12])))
        assert rows["scale"].iloc[0] == pytest.approx(naive_scale(train, 12))
    assert backtest["mase"] == pytest.approx(errors["scaled_error"].mean())
    print(f"\nseasonal series: model {result.model}, MASE {backtest['mase']:.2f} (naive {backtest['naive_mase']:.2f}), "
          f"by horizon: {np.round(backtest['by_horizon']['mase'].to_numpy(), 2).tolist()}")
