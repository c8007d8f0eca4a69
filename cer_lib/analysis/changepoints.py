"""Change points in the level of monthly report counts (ruptures PELT and binary segmentation).

Model: the monthly counts are Poisson with a mean that is constant within segments and changes at
unknown months. Both searches minimise the same penalised cost

    sum over segments of D(segment) / phi  +  beta x (number of segments)

where ``D`` is the Poisson deviance of the segment about its own mean (:class:`CostPoisson`), ``phi``
the dispersion (:func:`estimate_dispersion`, at least 1) and ``beta = 2 ln(n)``: the Schwarz (BIC)
penalty on the deviance scale for the two parameters a change adds (its location and the new mean).
PELT (Killick, Fearnhead & Eckley 2012) finds the exact optimum; binary segmentation (Scott & Knott
1974; the method of FDA's openFDA apps) is the greedy check. Minimum segment length 6 months: a
level change must persist half a year (single-month spikes are the control chart's job).

Validated by seeded simulation (tests/test_timeseries_changepoints.py; 60 months, 200 series each):
a doubling from 20 reports/month at a month in 15..45 is dated within +/-1 month in about 99% of
series, and a change is reported in about 5% of stationary series. Limits, stated honestly: what
matters is the size of a change relative to Poisson noise. At 2 reports/month a doubling is just
at the detection limit: it is *detected* in about 90% of series but dated within +/-1 month only
about half the time, and smaller changes are missed. :func:`change_points` reports the change
detectable at the series' own level in ``detectable_shift`` (an approximation checked against
simulation in the tests). A smooth trend is represented as a staircase of steps, and the result
says nothing about causes.
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
import ruptures as rpt
from ruptures.base import BaseCost
from ruptures.costs import NotEnoughPoints
from scipy import optimize, stats

from .results import ChangePoint, ChangePointAnalysis, ChangePointResult, MonthlySeries
from .series import complete_counts
from .trend import conditional_rate_ratio, poisson_rate_ci

__all__ = [
    "CostPoisson",
    "bic_penalty",
    "change_points",
    "detectable_rate_ratio",
    "estimate_dispersion",
    "segment_counts",
]

AVERAGE_MONTH_DAYS = 365.25 / 12
DEFAULT_MIN_SIZE = 6
DEFAULT_PENALTY_FACTOR = 2.0
LOW_COUNT_THRESHOLD = 10.0  # reports per month below which change dates are imprecise

_DEFINITION = (
    "Months where the mean monthly report count changes, found by minimising the Poisson deviance of "
    "piecewise-constant segments (scaled by the dispersion phi >= 1, months weighted by calendar days) "
    "plus a penalty of 2 ln(n) per change (BIC), with segments of at least {m} months. Each change is "
    "dated by the first month of the new segment."
)


class CostPoisson(BaseCost):
    """Poisson cost of a segment, divided by ``dispersion`` (a ruptures custom cost).

    ``error(start, end) = 2 (S - S ln(S / E)) / phi`` with S the segment's total and E its exposure
    (its length in months, or the sum of ``exposure``, e.g. calendar days / 30.44): minus twice the
    Poisson log-likelihood at the segment's own rate, without the terms that are the same for every
    segmentation, so differences are Poisson deviance differences. 0 for an all-zero segment. O(1)
    per call from cumulative sums; additive over segments, so PELT's pruning is exact.
    """

    model = "poisson"

    def __init__(self, dispersion: float = 1.0, min_size: int = DEFAULT_MIN_SIZE,
                 exposure: np.ndarray | None = None) -> None:
        if dispersion <= 0:
            raise ValueError("dispersion must be positive")
        self.dispersion = float(dispersion)
        self.min_size = int(min_size)
        self.exposure = None if exposure is None else np.asarray(exposure, dtype=float)
        self.signal: np.ndarray | None = None
        self._cumsum: np.ndarray | None = None
        self._cumexp: np.ndarray | None = None

    def fit(self, signal: np.ndarray) -> CostPoisson:
        values = np.asarray(signal, dtype=float)
        values = values.reshape(len(values), -1)
        if values.shape[1] != 1:
            raise ValueError("CostPoisson takes one series of counts")
        if (values < 0).any():
            raise ValueError("counts must be non-negative")
        exposure = np.ones(len(values)) if self.exposure is None else self.exposure
        if len(exposure) != len(values) or (exposure <= 0).any():
            raise ValueError("exposure must be positive and as long as the signal")
        self.signal = values
        self._cumsum = np.concatenate([[0.0], np.cumsum(values[:, 0])])
        self._cumexp = np.concatenate([[0.0], np.cumsum(exposure)])
        return self

    def error(self, start: int, end: int) -> float:
        if end - start < self.min_size:
            raise NotEnoughPoints
        total = self._cumsum[end] - self._cumsum[start]
        if total <= 0:
            return 0.0
        exposure = self._cumexp[end] - self._cumexp[start]
        return 2.0 * (total - total * math.log(total / exposure)) / self.dispersion


def estimate_dispersion(counts: np.ndarray, exposure: np.ndarray | None = None) -> float:
    """Dispersion phi of monthly counts, robust to level changes; never below 1.

    For consecutive months with the same Poisson rate, ``z = (r_t - r_(t-1)) / sqrt(x_t/e_t^2 +
    x_(t-1)/e_(t-1)^2)`` with ``r = x/e`` (``e`` the exposure, 1 by default; with e = 1,
    ``z = (x_t - x_(t-1)) / sqrt(x_t + x_(t-1))``) has variance ~phi. The largest 10% of ``z^2``
    (where level changes sit) are trimmed and the trimmed mean divided by its value under
    normality, ``F_chi2(3)(q) / 0.9`` with ``q`` the 90% chi2(1) point. Returns
    ``max(1, estimate)``; 1 with fewer than 6 usable pairs.
    """
    x = np.asarray(counts, dtype=float)
    e = np.ones(len(x)) if exposure is None else np.asarray(exposure, dtype=float)
    rate = x / e
    pair_var = x[1:] / e[1:] ** 2 + x[:-1] / e[:-1] ** 2
    usable = pair_var > 0
    z2 = np.diff(rate)[usable] ** 2 / pair_var[usable]
    if len(z2) < 6:
        return 1.0
    cut = np.quantile(z2, 0.9)
    trimmed = z2[z2 <= cut].mean()
    correction = stats.chi2.cdf(stats.chi2.ppf(0.9, 1), 3) / 0.9
    return float(max(1.0, trimmed / correction))


def bic_penalty(n_months: int, factor: float = DEFAULT_PENALTY_FACTOR) -> float:
    """``factor x ln(n)``; the default 2 ln(n) is BIC for two parameters per change."""
    return float(factor * math.log(n_months))


def segment_counts(
    counts: np.ndarray,
    *,
    algorithm: str = "pelt",
    penalty: float | None = None,
    min_size: int = DEFAULT_MIN_SIZE,
    dispersion: float | None = None,
    exposure: np.ndarray | None = None,
) -> list[int]:
    """Indices where new segments start (0 < i < n), by PELT or binary segmentation.

    ``penalty`` defaults to :func:`bic_penalty`; ``dispersion`` to :func:`estimate_dispersion`;
    ``exposure`` (e.g. calendar days / 30.44) to 1 per month. Every candidate month is tried
    (``jump=1``).
    """
    x = np.asarray(counts, dtype=float)
    if len(x) < 2 * min_size:
        return []
    phi = estimate_dispersion(x, exposure) if dispersion is None else float(dispersion)
    pen = bic_penalty(len(x)) if penalty is None else float(penalty)
    cost = CostPoisson(dispersion=phi, min_size=min_size, exposure=exposure)
    if algorithm == "pelt":
        search = rpt.Pelt(custom_cost=cost, min_size=min_size, jump=1)
    elif algorithm == "binseg":
        search = rpt.Binseg(custom_cost=cost, min_size=min_size, jump=1)
    else:
        raise ValueError(f"algorithm must be 'pelt' or 'binseg', got {algorithm!r}")
    ends = search.fit(x.reshape(-1, 1)).predict(pen=pen)
    return [int(i) for i in ends[:-1]]


def detectable_rate_ratio(
    mean_per_month: float,
    n_months: int,
    *,
    penalty: float | None = None,
    dispersion: float = 1.0,
    power: float = 0.9,
) -> float | None:
    """Smallest rate ratio detected with probability ``power`` for one change at mid-series.

    Approximation: the deviance gain of the true split is noncentral chi2(1) with noncentrality
    ``(ln r)^2 / (phi (1/(m mu) + 1/(m r mu)))``, m = n/2; detection when it exceeds the penalty.
    ``None`` when even a 100-fold change would not reach the power (no reports at all).
    """
    if mean_per_month <= 0 or n_months < 2:
        return None
    pen = bic_penalty(n_months) if penalty is None else penalty
    half = n_months / 2

    def shortfall(log_r: float) -> float:
        r = math.exp(log_r)
        nc = log_r**2 / (dispersion * (1 / (half * mean_per_month) + 1 / (half * r * mean_per_month)))
        return float(stats.ncx2.sf(pen, 1, nc)) - power

    if shortfall(math.log(100.0)) < 0:
        return None
    return math.exp(optimize.brentq(shortfall, 1e-6, math.log(100.0), xtol=1e-6))


def _segments_table(months: pd.DatetimeIndex, y: np.ndarray, exposure: np.ndarray, breaks: list[int],
                    phi: float, ci_level: float) -> pd.DataFrame:
    rows = []
    for start, end in zip([0, *breaks], [*breaks, len(y)], strict=True):
        total = float(y[start:end].sum())
        span = float(exposure[start:end].sum())
        low, high = poisson_rate_ci(total, span, ci_level=ci_level, scale=phi)
        rows.append({"start": months[start], "end": months[end - 1], "months": end - start,
                     "exposure": span, "reports": int(total), "rate": total / span,
                     "ci_low": low, "ci_high": high})
    return pd.DataFrame(rows)


def _result(algorithm: str, months, y, exposure, breaks, phi, ci_level, common) -> ChangePointResult:
    segments = _segments_table(months, y, exposure, breaks, phi, ci_level)
    points = []
    for i, index in enumerate(breaks):
        before, after = segments.iloc[i], segments.iloc[i + 1]
        ratio, low, high = conditional_rate_ratio(
            float(after["reports"]), float(after["exposure"]), float(before["reports"]),
            float(before["exposure"]), ci_level=ci_level, scale=phi)
        points.append(ChangePoint(
            date=months[index].date(), index=index,
            months_before=int(before["months"]), months_after=int(after["months"]),
            reports_before=int(before["reports"]), reports_after=int(after["reports"]),
            rate_before=float(before["rate"]), rate_before_ci_low=float(before["ci_low"]),
            rate_before_ci_high=float(before["ci_high"]),
            rate_after=float(after["rate"]), rate_after_ci_low=float(after["ci_low"]),
            rate_after_ci_high=float(after["ci_high"]),
            rate_ratio=ratio, rate_ratio_ci_low=low, rate_ratio_ci_high=high,
        ))
    name = "PELT" if algorithm == "pelt" else "binary segmentation"
    return ChangePointResult(method=name, **common, algorithm=algorithm, change_points=points,
                             segments=segments)


def change_points(
    series: MonthlySeries,
    *,
    event_type: str = "total",
    penalty_factor: float = DEFAULT_PENALTY_FACTOR,
    min_size: int = DEFAULT_MIN_SIZE,
    ci_level: float = 0.95,
) -> ChangePointAnalysis:
    """Change points of the complete months' counts by PELT (reported) and Binseg (check).

    Months are weighted by their calendar days (exposure = days / 30.44), so rates are reports per
    average month. Each change point has its date (first day of the new segment's first month), the
    rate before and after (the adjacent segments) with exact Poisson CIs, and the rate ratio
    after/before with the exact conditional CI; with dispersion phi > 1 the counts are divided by
    phi first (quasi-Poisson), widening the intervals. ``agreement`` lists PELT dates that Binseg
    also finds within +/-1 month. ``detectable_shift`` gives the change detectable with 90% power at
    the series' mean level and flags low counts (< 10 reports/month) where dates are imprecise.
    Needs ``2 x min_size`` complete months.
    """
    months, y, days = complete_counts(series, event_type)
    exposure = days / AVERAGE_MONTH_DAYS
    n = len(y)
    pen = bic_penalty(n, penalty_factor) if n > 1 else None
    params: dict[str, Any] = {
        "event_type": event_type, "date_field": series.date_field, "cost": "poisson deviance / phi",
        "exposure": "calendar days / 30.4375 (rates are reports per average month)",
        "penalty": f"{penalty_factor:g} x ln(n_months)", "penalty_factor": penalty_factor,
        "min_size": min_size, "jump": 1, "ci_level": ci_level,
    }
    common = dict(definition=_DEFINITION.format(m=min_size), parameters=params)
    if n < 2 * min_size:
        return ChangePointAnalysis(
            method="change points (PELT, binary segmentation)", **common, event_type=event_type,
            status="insufficient data", reason=f"fewer than {2 * min_size} complete months",
            n_months=n, cost="poisson", penalty=pen, min_size=min_size, dispersion=None,
            change_points=[], pelt=None, binseg=None, agreement=[],
            detectable_shift={"rate_ratio": None, "note": "series too short to search for change points"},
        )
    phi = estimate_dispersion(y, exposure)
    search = dict(penalty=pen, min_size=min_size, dispersion=phi, exposure=exposure)
    pelt_breaks = segment_counts(y, algorithm="pelt", **search)
    binseg_breaks = segment_counts(y, algorithm="binseg", **search)
    pelt = _result("pelt", months, y, exposure, pelt_breaks, phi, ci_level, common)
    binseg = _result("binseg", months, y, exposure, binseg_breaks, phi, ci_level, common)
    agreement = [months[i].date() for i in pelt_breaks if any(abs(i - j) <= 1 for j in binseg_breaks)]
    return ChangePointAnalysis(
        method="change points (PELT, binary segmentation)", **common, event_type=event_type,
        status="ok", reason="searched", n_months=n, cost="poisson", penalty=pen, min_size=min_size,
        dispersion=phi, change_points=pelt.change_points, pelt=pelt, binseg=binseg, agreement=agreement,
        detectable_shift=_detectable_shift(float(y.mean()), n, pen, phi),
    )


def _detectable_shift(mean: float, n: int, pen: float, phi: float) -> dict[str, Any]:
    ratio = detectable_rate_ratio(mean, n, penalty=pen, dispersion=phi)
    low = mean < LOW_COUNT_THRESHOLD
    if ratio is None:
        note = "no reports: no change can be detected"
    else:
        note = (f"a single change by a factor of {ratio:.2f} or more at mid-series is found with about "
                "90% probability; changes of about that size are dated within one month only about half "
                "the time (larger changes more precisely), and smaller changes, or changes near either "
                "end, may be missed")
        if low:
            note += (f". At fewer than {LOW_COUNT_THRESHOLD:g} reports per month even a doubling is close "
                     "to this limit")
    return {"rate_ratio": ratio, "power": 0.9, "mean_per_month": mean, "dispersion": phi,
            "low_counts": low, "doubling_detectable": ratio is not None and ratio <= 2.0,
            "assumes": "one change at mid-series; noncentral chi2 approximation", "note": note}
