"""Forecast: ETS selection, prediction-interval coverage, trend following, MASE back-test, warnings.

Sources: Hyndman, Koehler, Ord & Snyder (2008) Forecasting with Exponential Smoothing (ETS state
space models and their prediction intervals); Hyndman & Koehler (2006) Int J Forecast 22:679 (MASE,
scaled by the in-sample one-step, or seasonal, naive MAE); Hyndman & Athanasopoulos, Forecasting:
Principles and Practice, 3rd ed. (5.6 bias-adjusted back-transformation, 5.10 rolling-origin
evaluation, 13.3 log scale for positive forecasts).
"""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from cer_lib.analysis.forecast import forecast_counts, mase, select_ets
from cer_lib.analysis.series import monthly_counts


def series_from(totals, start="2019-01-01", as_of=None):
    months = pd.date_range(start, periods=len(totals), freq="MS")
    frame = pd.DataFrame({"date": months, "date_field": "date_received", "event_type": "Malfunction",
                          "n_reports": np.asarray(totals, dtype="int64")})
    end = months[-1] + pd.offsets.MonthEnd(0)
    return monthly_counts(frame.loc[frame["n_reports"] > 0], window_start=months[0], window_end=end,
                          as_of=as_of or end)


def test_constant_mean_forecast_and_interval_coverage():
    """Poisson(20) series: point forecast near 20; the 95% (80%) interval covers ~95% (~80%) of fresh draws."""
    rng = np.random.default_rng(2024)
    cover95, cover80, means = [], [], []
    for _ in range(10):
        result = forecast_counts(series_from(rng.poisson(20, 60)), n_origins=0)  # no back-test needed here
        frame = result.forecast
        draws = rng.poisson(20, (400, 12))
        cover95.append(((draws >= frame["pi95_low"].to_numpy()) & (draws <= frame["pi95_high"].to_numpy())).mean())
        cover80.append(((draws >= frame["pi80_low"].to_numpy()) & (draws <= frame["pi80_high"].to_numpy())).mean())
        means.append(frame["mean"].mean())
    print(f"\nconstant mean 20: forecast {np.mean(means):.2f}, 95% PI coverage {np.mean(cover95):.3f}, "
          f"80% PI coverage {np.mean(cover80):.3f}")
    assert abs(np.mean(means) - 20) < 1.0
    assert 0.90 <= np.mean(cover95) <= 0.99
    assert 0.72 <= np.mean(cover80) <= 0.90


def test_linear_trend_is_followed():
    """y = 10 + 1.0 t + noise: a trend model is selected and month 72 is forecast near 81."""
    rng = np.random.default_rng(5)
    y = np.round(10 + np.arange(60) + rng.normal(0, 2, 60)).astype(int)
    result = forecast_counts(series_from(y))
    assert result.model in {"ETS(A,A,N)", "ETS(A,Ad,N)"}
    assert result.forecast["mean"].iloc[0] == pytest.approx(70, abs=3)
    assert result.forecast["mean"].iloc[-1] == pytest.approx(81, abs=5)
    assert result.forecast["month"].iloc[0] == pd.Timestamp("2024-01-01")
    # The back-test now forecasts 1..12 months ahead (issue 9 item 7), where every method's error exceeds the
    # one-step naive in-sample error that scales MASE; on a trend the model still beats the naive forecast.
    assert result.backtest["mase"] < result.backtest["naive_mase"]


def test_mase_definition():
    """MASE of the in-sample naive forecast is exactly 1; hand-computed example."""
    y = np.array([3.0, 5, 4, 8, 6, 9])
    assert mase(y[1:], y[:-1], y) == pytest.approx(1.0)
    # scale = mean(|2,1,4,2,3|) = 2.4; errors |7-6|,|10-9| -> 1 -> MASE = 1/2.4
    assert mase(np.array([7.0, 10]), np.array([6.0, 9]), y) == pytest.approx(1 / 2.4)
    assert np.isnan(mase(np.array([1.0]), np.array([1.0]), np.array([2.0, 2.0, 2.0])))


def test_backtest_table_and_json():
    rng = np.random.default_rng(9)
    result = forecast_counts(series_from(rng.poisson(30, 48)), n_origins=12, backtest_horizon=3)
    backtest = result.backtest
    assert backtest["n_origins"] == 12 and backtest["model_reselected"]
    errors = backtest["errors"]
    assert len(errors) == 36 and set(errors["step"]) == {1, 2, 3}
    assert errors["month"].max() == pd.Timestamp("2022-12-01")
    assert backtest["mase"] == pytest.approx(errors["scaled_error"].mean())
    assert 0.3 < backtest["mase"] < 1.5 and 0.3 < backtest["naive_mase"] < 2.0
    data = json.loads(json.dumps(result.to_dict(), allow_nan=False))
    assert data["forecast"][0]["month"] == "2023-01-01"
    assert set(data["forecast"][0]) == {"month", "mean", "pi80_low", "pi80_high", "pi95_low", "pi95_high"}
    assert any(c["selected"] for c in data["candidates"])
    assert data["parameters"]["mase_scale"].startswith("in-sample MAE")


def test_intervals_non_negative_at_low_counts_and_ordered():
    rng = np.random.default_rng(13)
    result = forecast_counts(series_from(rng.poisson(1.0, 40)))
    f = result.forecast
    assert (f[["mean", "pi80_low", "pi80_high", "pi95_low", "pi95_high"]] >= 0).all().all()
    assert (f["pi95_low"] <= f["pi80_low"]).all() and (f["pi80_high"] <= f["pi95_high"]).all()


def test_incomplete_month_not_used():
    rng = np.random.default_rng(21)
    y = rng.poisson(20, 37)
    y[-1] = 2  # a partial month
    result = forecast_counts(series_from(y, as_of="2022-01-05"), n_origins=0)
    assert result.n_months == 36 and result.train_end.isoformat() == "2021-12-01"
    assert result.backtest["mase"] is None and result.backtest["n_origins"] == 0
    assert result.forecast["month"].iloc[0] == pd.Timestamp("2022-01-01")  # the partial month gets a forecast


def test_warnings_instead_of_forecasts():
    short = forecast_counts(series_from([5] * 23))
    assert short.status == "warning" and "fewer than 24" in short.warning and short.forecast is None
    zeros = forecast_counts(series_from([0] * 30))
    assert zeros.status == "warning" and "zero" in zeros.warning
    json.dumps(short.to_dict(), allow_nan=False)


def test_seasonal_candidates_only_from_36_months():
    rng = np.random.default_rng(3)
    y = pd.Series(rng.poisson(20, 30).astype(float), index=pd.date_range("2020-01-01", periods=30, freq="MS"))
    _, _, table = select_ets(y)
    assert [row["model"] for row in table] == ["ETS(A,N,N)", "ETS(A,A,N)", "ETS(A,Ad,N)"]
    seasonal = 20 + 8 * np.sin(2 * np.pi * np.arange(72) / 12)
    y2 = pd.Series(rng.poisson(seasonal).astype(float), index=pd.date_range("2018-01-01", periods=72, freq="MS"))
    name, _, table2 = select_ets(y2)
    assert "ETS(A,N,A)" in [row["model"] for row in table2] and name == "ETS(A,N,A)"
