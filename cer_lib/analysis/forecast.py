"""Forecast of monthly report counts with exponential smoothing (ETS) and a rolling-origin back-test.

Model: statsmodels ``ETSModel`` with additive errors, chosen by AICc among ETS(A,N,N) (level),
ETS(A,A,N) (trend), ETS(A,Ad,N) (damped trend) and, from 36 complete months on, ETS(A,N,A)
(monthly seasonality). Fitted to complete months only, on counts divided by their mean (additive
ETS is scale-equivariant; this only makes the optimiser faster and steadier; AICc is reported on the
original scale). Prediction intervals (80% and 95%) are the model's analytic intervals, cut at 0
since counts cannot be negative.

Back-test: at each of the last ``n_origins`` months the whole procedure (AICc selection and fit) is
repeated on the data before it and the next ``backtest_horizon`` months are forecast, so the
back-test is fully out-of-sample (``reselect=False`` instead re-fits only the form chosen on all
months: about five times faster, mildly optimistic). Accuracy is the mean absolute scaled error,
MASE (Hyndman & Koehler 2006): absolute errors divided by the in-sample mean absolute error of the
one-step naive forecast (non-seasonal) on that origin's training data. MASE < 1: better than the
naive forecast's in-sample one-step error. The out-of-sample naive forecast's MASE is reported
alongside for comparison. A series with no variation gives zero-width intervals and no MASE.
"""
from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np
import pandas as pd
from statsmodels.tsa.exponential_smoothing.ets import ETSModel

from .results import ForecastResult, MonthlySeries
from .series import complete_counts
from .trend import single_blas_thread

__all__ = ["ETS_CANDIDATES", "forecast_counts", "mase", "select_ets"]

#: Candidate specifications: name -> ETSModel keyword arguments (seasonal ones need 36 months).
ETS_CANDIDATES: dict[str, dict[str, Any]] = {
    "ETS(A,N,N)": {"error": "add", "trend": None},
    "ETS(A,A,N)": {"error": "add", "trend": "add"},
    "ETS(A,Ad,N)": {"error": "add", "trend": "add", "damped_trend": True},
    "ETS(A,N,A)": {"error": "add", "trend": None, "seasonal": "add", "seasonal_periods": 12},
}
SEASONAL_MIN_MONTHS = 36

_DEFINITION = (
    "Exponential smoothing (ETS, additive errors; level, trend and seasonal forms chosen by AICc) "
    "fitted to the complete months, projected {h} months ahead with 80% and 95% prediction intervals "
    "cut at zero. Back-test accuracy is MASE: mean absolute error of rolling-origin forecasts divided "
    "by the in-sample one-step naive forecast's mean absolute error."
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


def mase(actual: np.ndarray, forecast: np.ndarray, training: np.ndarray) -> float:
    """Mean absolute scaled error (Hyndman & Koehler 2006), non-seasonal one-step naive scaling."""
    scale = float(np.mean(np.abs(np.diff(np.asarray(training, dtype=float)))))
    if scale == 0:
        return float("nan")
    return float(np.mean(np.abs(np.asarray(actual, float) - np.asarray(forecast, float))) / scale)


def _warning(common: dict[str, Any], text: str) -> ForecastResult:
    return ForecastResult(**common, status="warning", warning=text, model=None, candidates=[],
                          forecast=None, backtest=None)


def forecast_counts(
    series: MonthlySeries,
    *,
    event_type: str = "total",
    horizon: int = 12,
    min_months: int = 24,
    n_origins: int = 12,
    backtest_horizon: int = 1,
    min_train_months: int = 12,
    reselect: bool = True,
) -> ForecastResult:
    """ETS forecast of monthly counts ``horizon`` months past the last complete month.

    Returns a warning result (no forecast) when there are fewer than ``min_months`` complete months
    or all complete months are zero. The back-test uses up to ``n_origins`` origins, fewer when the
    first training set would be shorter than ``min_train_months``.
    """
    months, values, _ = complete_counts(series, event_type)
    params = {"event_type": event_type, "date_field": series.date_field, "horizon": horizon,
              "min_months": min_months, "n_origins": n_origins, "backtest_horizon": backtest_horizon,
              "min_train_months": min_train_months, "selection": "AICc",
              "backtest_reselects_model": reselect,
              "candidates": list(ETS_CANDIDATES), "seasonal_min_months": SEASONAL_MIN_MONTHS,
              "interval_levels": [0.8, 0.95],
              "mase_scale": "in-sample MAE of the one-step naive forecast (non-seasonal), per origin"}
    common = dict(method="ETS forecast", definition=_DEFINITION.format(h=horizon), parameters=params,
                  event_type=event_type, n_months=len(values), horizon=horizon,
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
        name, fit, candidates = select_ets(y)
    except RuntimeError as exc:
        return _warning(common, f"{exc}: no forecast")

    future = pd.date_range(months[-1] + pd.offsets.MonthBegin(1), periods=horizon, freq="MS")
    frame = pd.DataFrame({"month": future})
    for level in (80, 95):
        bounds = fit.predict(len(y), len(y) + horizon - 1, level / 100)
        frame["mean"] = np.clip(bounds["mean"].to_numpy(dtype=float), 0, None)
        frame[f"pi{level}_low"] = np.clip(bounds["pi_lower"].to_numpy(dtype=float), 0, None)
        frame[f"pi{level}_high"] = np.clip(bounds["pi_upper"].to_numpy(dtype=float), 0, None)

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
        scale = float(np.mean(np.abs(np.diff(train.to_numpy()))))
        spec = ETS_CANDIDATES.get(form) if form else None
        if spec is not None and "seasonal" in spec and len(train) < SEASONAL_MIN_MONTHS:
            spec = None  # too short for the seasonal form here: fall back to selection
        try:
            if spec is not None:
                name, fit = form, _fit(train, spec)
            else:
                name, fit, _ = select_ets(train)
            predicted = np.clip(fit.forecast(horizon), 0, None)
        except (RuntimeError, ValueError, np.linalg.LinAlgError):
            name, predicted = None, np.full(horizon, np.nan)
        naive = np.full(horizon, float(train.iloc[-1]))
        for step in range(horizon):
            rows.append({
                "origin": y.index[origin - 1], "month": y.index[origin + step], "step": step + 1,
                "model": name, "actual": float(actual[step]), "forecast": float(predicted[step]),
                "naive": float(naive[step]), "scale": scale,
                "scaled_error": abs(actual[step] - predicted[step]) / scale if scale > 0 else np.nan,
                "naive_scaled_error": abs(actual[step] - naive[step]) / scale if scale > 0 else np.nan,
            })
    table = pd.DataFrame(rows)
    if table.empty or table["scaled_error"].notna().sum() == 0:
        value = naive_value = mae = None
    else:
        value = float(table["scaled_error"].mean())
        naive_value = float(table["naive_scaled_error"].mean())
        mae = float((table["actual"] - table["forecast"]).abs().mean())
    return {"n_origins": used, "horizon": horizon, "model_reselected": form is None, "mase": value,
            "naive_mase": naive_value, "mae": mae,
            "scaling": "in-sample MAE of the one-step naive forecast on each origin's training data",
            "errors": table}
