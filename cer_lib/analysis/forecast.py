"""Forecast of monthly report counts with exponential smoothing (ETS) on the log scale, and a back-test.

Model: statsmodels ``ETSModel`` with additive errors fitted to ``z = log(y + 1)`` of the complete
months, the form chosen by AICc among ETS(A,N,N) (level), ETS(A,A,N) (trend), ETS(A,Ad,N) (damped
trend) and, from 36 complete months on, ETS(A,N,A) (monthly seasonality). Counts cannot be negative
and vary more when they are larger, so the model works on the log scale (Hyndman & Athanasopoulos,
*Forecasting: Principles and Practice*, 3rd ed., section 13.3 "Ensuring forecasts stay within
limits"; section 5.6 for the back-transformation):

- prediction intervals (80% and 95%) are the log-scale quantiles transformed back, ``exp(q) - 1``:
  asymmetric, wider above than below, never cut at zero by hand. Counts are whole numbers, so the
  lower bound is rounded down to a whole report (at low counts the log-normal quantile would
  otherwise exclude months with no report, which are common); log-scale mass below 0 belongs to
  zero counts;
- the point forecast is the bias-adjusted mean ``exp(mu + sigma^2 / 2) - 1`` (section 5.6), not
  the median ``exp(mu) - 1``.

Back-test (rolling origin, section 5.10): at each of the last ``n_origins`` possible origins the
whole procedure (AICc selection and fit) is repeated on the data before it and the next
``backtest_horizon`` months are forecast, by default the forecast's own horizon (1..12 months), so
the error shown is the error of the forecast shown. Accuracy is the mean absolute scaled error, MASE
(Hyndman & Koehler 2006, Int J Forecast 22:679): absolute errors divided by the in-sample mean
absolute error of the naive forecast on that origin's training data - the one-step naive forecast,
or the seasonal naive forecast (same month last year) when the model selected at that origin is
seasonal. MASE is given per horizon and overall, beside the naive (seasonal naive) forecast's own
MASE. MASE < 1: better than the in-sample naive error. ``reselect=False`` re-fits only the form chosen
on all months (about five times faster, mildly optimistic). A series with no variation gives
zero-width intervals and no MASE.
"""
from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats
from statsmodels.tsa.exponential_smoothing.ets import ETSModel

from .results import ForecastResult, MonthlySeries
from .series import complete_counts
from .threads import single_blas_thread

__all__ = ["ETS_CANDIDATES", "forecast_counts", "mase", "select_ets"]

#: Candidate specifications: name -> ETSModel keyword arguments (seasonal ones need 36 months).
ETS_CANDIDATES: dict[str, dict[str, Any]] = {
    "ETS(A,N,N)": {"error": "add", "trend": None},
    "ETS(A,A,N)": {"error": "add", "trend": "add"},
    "ETS(A,Ad,N)": {"error": "add", "trend": "add", "damped_trend": True},
    "ETS(A,N,A)": {"error": "add", "trend": None, "seasonal": "add", "seasonal_periods": 12},
}
SEASONAL_MIN_MONTHS = 36
SEASON = 12
TRANSFORM = "log(y + 1)"

_DEFINITION = (
    "Exponential smoothing (ETS, additive errors; level, trend and seasonal forms chosen by AICc) fitted to "
    "log(reports + 1) of the complete months, projected {h} months ahead; the 80% and 95% prediction intervals "
    "are the log-scale quantiles transformed back (asymmetric, never below zero; lower bounds rounded down to whole "
    "reports) and the point forecast is the bias-adjusted mean. Back-test accuracy is MASE at horizons 1 to {b}: mean absolute error of rolling-origin "
    "forecasts divided by the in-sample mean absolute error of the naive forecast (seasonal naive when the "
    "selected form is seasonal)."
)


class _ScaledFit:
    """An ETS fit on ``y / scale`` that answers on the original scale."""

    def __init__(self, fit: Any, scale: float, n: int) -> None:
        self.fit, self.scale = fit, scale
        self.aicc = float(fit.aicc) + 2 * n * math.log(scale)

    def forecast(self, steps: int) -> np.ndarray:
        return np.asarray(self.fit.forecast(steps), dtype=float) * self.scale

    def predict(self, start: int, end: int, level: float) -> pd.DataFrame:
        frame = self.fit.get_prediction(start=start, end=end).summary_frame(alpha=1 - level)
        return frame[["mean", "pi_lower", "pi_upper"]] * self.scale


def _fit(y: pd.Series, spec: dict[str, Any]) -> _ScaledFit:
    scale = max(1.0, float(np.mean(y)))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return _ScaledFit(ETSModel(y / scale, **spec).fit(disp=False), scale, len(y))


def select_ets(y: pd.Series) -> tuple[str, Any, list[dict[str, Any]]]:
    """Fit the candidate ETS models to ``y`` and return (name, fitted model, candidate table).

    Seasonal candidates only with at least 36 observations. Candidates that fail or give a
    non-finite AICc are listed with ``aicc=None``. Raises ``RuntimeError`` if none fits.
    """
    table: list[dict[str, Any]] = []
    best: tuple[float, str, Any] | None = None
    for name, spec in ETS_CANDIDATES.items():
        if "seasonal" in spec and len(y) < SEASONAL_MIN_MONTHS:
            continue
        try:
            fit = _fit(y, spec)
            aicc = fit.aicc
        except (ValueError, np.linalg.LinAlgError, ZeroDivisionError):
            fit, aicc = None, float("nan")
        table.append({"model": name, "aicc": aicc if math.isfinite(aicc) else None})
        if fit is not None and math.isfinite(aicc) and (best is None or aicc < best[0]):
            best = (aicc, name, fit)
    if best is None:
        raise RuntimeError("no ETS candidate could be fitted")
    for row in table:
        row["selected"] = row["model"] == best[1]
    return best[1], best[2], table


def naive_scale(training: np.ndarray, season: int = 1) -> float:
    """In-sample mean absolute error of the (seasonal, ``season`` > 1) naive forecast: mean |y_t - y_(t-season)|."""
    y = np.asarray(training, dtype=float)
    if len(y) <= season:
        return float("nan")
    return float(np.mean(np.abs(y[season:] - y[:-season])))


def mase(actual: np.ndarray, forecast: np.ndarray, training: np.ndarray, season: int = 1) -> float:
    """Mean absolute scaled error (Hyndman & Koehler 2006); ``season=12`` scales by the seasonal naive error."""
    scale = naive_scale(training, season)
    if not scale or not math.isfinite(scale):
        return float("nan")
    return float(np.mean(np.abs(np.asarray(actual, float) - np.asarray(forecast, float))) / scale)


def _warning(common: dict[str, Any], text: str) -> ForecastResult:
    return ForecastResult(**common, status="warning", warning=text, model=None, candidates=[],
                          forecast=None, backtest=None)


def _count_scale(fit: _ScaledFit, start: int, horizon: int) -> pd.DataFrame:
    """Log-scale mean and variance of the next ``horizon`` months -> count-scale mean and interval bounds."""
    prediction = fit.fit.get_prediction(start=start, end=start + horizon - 1)
    mu = np.asarray(prediction.predicted_mean, dtype=float) * fit.scale
    var = np.asarray(prediction.forecast_variance, dtype=float) * fit.scale**2
    sd = np.sqrt(np.maximum(var, 0.0))
    frame = pd.DataFrame({"mean": np.expm1(mu + var / 2)})
    for level in (80, 95):
        z = float(stats.norm.ppf(0.5 + level / 200))
        # whole reports: a lower bound of 0.4 means a month with no report is inside the interval
        frame[f"pi{level}_low"] = np.floor(np.maximum(np.expm1(mu - z * sd), 0.0))
        frame[f"pi{level}_high"] = np.expm1(mu + z * sd)
    return frame


def forecast_counts(
    series: MonthlySeries,
    *,
    event_type: str = "total",
    horizon: int = 12,
    min_months: int = 24,
    n_origins: int = 12,
    backtest_horizon: int | None = None,
    min_train_months: int = 12,
    reselect: bool = True,
) -> ForecastResult:
    """ETS forecast of monthly counts ``horizon`` months past the last complete month.

    Returns a warning result (no forecast) when there are fewer than ``min_months`` complete months
    or all complete months are zero. The back-test forecasts ``backtest_horizon`` months (default:
    ``horizon``) from up to ``n_origins`` origins, fewer when the first training set would be
    shorter than ``min_train_months``.
    """
    backtest_horizon = horizon if backtest_horizon is None else backtest_horizon
    months, values, _ = complete_counts(series, event_type)
    params = {"event_type": event_type, "date_field": series.date_field, "horizon": horizon,
              "min_months": min_months, "n_origins": n_origins, "backtest_horizon": backtest_horizon,
              "min_train_months": min_train_months, "selection": "AICc", "transform": TRANSFORM,
              "point_forecast": "bias-adjusted mean exp(mu + sigma^2/2) - 1",
              "intervals": "log-scale normal quantiles transformed back (exp(q) - 1); lower bounds rounded down to whole reports",
              "backtest_reselects_model": reselect,
              "candidates": list(ETS_CANDIDATES), "seasonal_min_months": SEASONAL_MIN_MONTHS,
              "interval_levels": [0.8, 0.95],
              "mase_scale": ("in-sample MAE of the naive forecast on each origin's training data: one-step naive, "
                             "or seasonal naive (lag 12) when the form selected at that origin is seasonal")}
    common = dict(method="ETS forecast", definition=_DEFINITION.format(h=horizon, b=backtest_horizon),
                  parameters=params, event_type=event_type, n_months=len(values), horizon=horizon,
                  train_start=months[0].date() if len(months) else None,
                  train_end=months[-1].date() if len(months) else None)
    if len(values) < min_months:
        return _warning(common, f"fewer than {min_months} complete months ({len(values)}): no forecast")
    if not values.any():
        return _warning(common, "every complete month has zero reports: no forecast")
    y = pd.Series(values, index=pd.DatetimeIndex(months, freq="MS"))
    with single_blas_thread():
        return _forecast(y, common, horizon, n_origins, backtest_horizon, min_train_months, reselect)


def _forecast(y: pd.Series, common: dict[str, Any], horizon: int, n_origins: int, backtest_horizon: int,
              min_train_months: int, reselect: bool) -> ForecastResult:
    months = y.index
    try:
        name, fit, candidates = select_ets(np.log1p(y))
    except RuntimeError as exc:
        return _warning(common, f"{exc}: no forecast")
    future = pd.date_range(months[-1] + pd.offsets.MonthBegin(1), periods=horizon, freq="MS")
    frame = _count_scale(fit, len(y), horizon)
    frame.insert(0, "month", future)
    return ForecastResult(**common, status="ok", warning=None, model=name, candidates=candidates,
                          forecast=frame, backtest=_backtest(y, n_origins, backtest_horizon, min_train_months,
                                                             None if reselect else name))


def _backtest(y: pd.Series, n_origins: int, horizon: int, min_train: int,
              form: str | None) -> dict[str, Any]:
    n = len(y)
    used = max(0, min(n_origins, n - horizon + 1 - min_train))
    rows = []
    for origin in range(n - used - horizon + 1, n - horizon + 1):
        train = y.iloc[:origin]
        actual = y.iloc[origin:origin + horizon].to_numpy()
        spec = ETS_CANDIDATES.get(form) if form else None
        if spec is not None and "seasonal" in spec and len(train) < SEASONAL_MIN_MONTHS:
            spec = None  # too short for the seasonal form here: fall back to selection
        try:
            if spec is not None:
                name, fit = form, _fit(np.log1p(train), spec)
            else:
                name, fit, _ = select_ets(np.log1p(train))
            predicted = _count_scale(fit, origin, horizon)["mean"].to_numpy()
        except (RuntimeError, ValueError, np.linalg.LinAlgError):
            name, predicted = None, np.full(horizon, np.nan)
        season = SEASON if name is not None and "seasonal" in ETS_CANDIDATES[name] else 1
        scale = naive_scale(train.to_numpy(), season)
        history = train.to_numpy()
        naive = np.array([history[len(history) - season + (step % season)] for step in range(horizon)])
        for step in range(horizon):
            usable = scale > 0 and math.isfinite(scale)
            rows.append({
                "origin": y.index[origin - 1], "month": y.index[origin + step], "step": step + 1,
                "model": name, "actual": float(actual[step]), "forecast": float(predicted[step]),
                "naive": float(naive[step]), "season": season, "scale": scale,
                "scaled_error": abs(actual[step] - predicted[step]) / scale if usable else np.nan,
                "naive_scaled_error": abs(actual[step] - naive[step]) / scale if usable else np.nan,
            })
    table = pd.DataFrame(rows)
    if table.empty or table["scaled_error"].notna().sum() == 0:
        value = naive_value = mae = None
        by_horizon = pd.DataFrame(columns=["step", "n", "mase", "naive_mase"])
    else:
        value = float(table["scaled_error"].mean())
        naive_value = float(table["naive_scaled_error"].mean())
        mae = float((table["actual"] - table["forecast"]).abs().mean())
        by_horizon = (table.groupby("step", as_index=False)
                      .agg(n=("scaled_error", "count"), mase=("scaled_error", "mean"),
                           naive_mase=("naive_scaled_error", "mean")))
    seasonal_origins = int((table.groupby("origin")["season"].first() > 1).sum()) if not table.empty else 0
    return {"n_origins": used, "horizon": horizon, "model_reselected": form is None, "mase": value,
            "naive_mase": naive_value, "mae": mae, "seasonal_origins": seasonal_origins,
            "scaling": ("in-sample MAE of the naive forecast on each origin's training data (seasonal naive, "
                        "lag 12, at origins where the selected form is seasonal)"),
            "by_horizon": by_horizon, "errors": table}
