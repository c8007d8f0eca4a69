"""Published values the time-series methods reproduce (issue 9 item 9).

- Lucas JM (1985) Counted data CUSUM's. Technometrics 27:129-144, Table 2: upper Poisson CUSUM with
  h = 10, k = 0.25 at mean 0.25 has ARL 438 (alarm when S >= h; quoted in the documentation of the R
  package spc, pois.cusum.arl, S. Knoth).
- Shao X, Zhang X (2010) Testing for change points in time series. JASA 105:1228-1240, Table 1:
  upper quantiles 29.6 (10%) and 40.1 (5%) of the self-normalised statistic's null limit.
- Montgomery DC (2013) Introduction to Statistical Quality Control, 7th ed., Example 7.3: see
  test_timeseries_phases.py (trial and revised c-chart limits).
- Durbin J, Koopman SJ (2012) Time Series Analysis by State Space Methods, 2nd ed., section 2.10:
  the Nile flow (statsmodels' copy of the data) as a local level model with maximum-likelihood
  variances 15099 (observation) and 1469.1 (level), whose steady-state Kalman gain is the simple
  exponential smoothing constant of ETS(A,N,N) (Hyndman et al. 2008, ch. 3).
"""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm

from cer_lib.analysis.cusum import poisson_cusum_arl
from cer_lib.analysis.forecast import ETS_CANDIDATES, _fit, select_ets
from cer_lib.analysis.mean_change_test import CRITICAL_VALUES, self_normalised_statistic, self_normalised_test


def test_lucas_1985_table_2_arl():
    """h = 10, k = 0.25 (lattice of quarter counts), mean 0.25: Lucas reports 438."""
    assert poisson_cusum_arl(0.25, 0.25, 10.0, resolution=4) == pytest.approx(438, abs=0.5)


def test_shao_zhang_critical_values_by_simulation():
    """Null quantiles of G_n for 3000 Gaussian series of 200 values agree with the tabulated limit values."""
    rng = np.random.default_rng(2010)
    values = np.array([self_normalised_statistic(rng.normal(size=200))[0] for _ in range(3000)])
    q90, q95 = np.quantile(values, [0.90, 0.95])
    print(f"\nself-normalised statistic, n = 200: 90% {q90:.1f} (table {CRITICAL_VALUES[0.10]}), "
          f"95% {q95:.1f} (table {CRITICAL_VALUES[0.05]})")
    assert q90 == pytest.approx(CRITICAL_VALUES[0.10], abs=2.0)
    assert q95 == pytest.approx(CRITICAL_VALUES[0.05], abs=3.5)


def test_self_normalised_statistic_properties():
    """Location and scale invariant; a clear mid-series shift is located and rejected; flat gives 0."""
    rng = np.random.default_rng(5)
    x = np.r_[rng.normal(0, 1, 40), rng.normal(3, 1, 40)]
    g, at = self_normalised_statistic(x)
    assert self_normalised_statistic(5 + 7 * x)[0] == pytest.approx(g)
    assert abs(at - 40) <= 2 and self_normalised_test(x).rejects
    assert self_normalised_statistic(np.full(20, 3.0)) == (0.0, None)


def test_nile_local_level_smoothing_constant():
    """ETS(A,N,N) on the Nile flow: alpha near the steady-state gain of Durbin & Koopman's fitted local
    level model (0.267), and the AICc selection keeps the level model."""
    data = sm.datasets.nile.load_pandas().data
    y = pd.Series(data["volume"].to_numpy(dtype=float), index=pd.date_range("1871-01-01", periods=len(data), freq="YS"))
    q = 1469.1 / 15099
    gain = (q + math.sqrt(q * q + 4 * q)) / 2
    gain /= 1 + gain
    alpha = _fit(y, ETS_CANDIDATES["ETS(A,N,N)"]).fit.smoothing_level
    print(f"\nNile: ETS(A,N,N) alpha {alpha:.3f}, Durbin-Koopman steady-state gain {gain:.3f}")
    assert gain == pytest.approx(0.267, abs=0.001)
    assert alpha == pytest.approx(gain, abs=0.03)  # innovations-form ML with a fitted initial level vs diffuse Kalman ML
    assert select_ets(y)[0] == "ETS(A,N,N)"
