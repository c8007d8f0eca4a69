"""Self-normalised test for a change in the mean of a series (Shao & Zhang 2010, JASA 105:1228).

The change-point search (:mod:`cer_lib.analysis.changepoints`) keeps a candidate change only when
this test rejects "no change in mean" on the months between the candidate's neighbours. Its
statistic needs no estimate of the noise's variance or autocorrelation, which is where penalised
searches go wrong on real report counts (batch reporting, summary reports, publicity waves make
months vary more than Poisson and resemble each other):

    G_n = max over k of  n T(k)^2 / (L(k) + R(k))

with ``T(k) = S_k - (k/n) S_n`` the CUSUM of the series at k and the self-normaliser built from the
partial sums *within* each side of k:
``L(k) = sum_{t<=k} (S_t - (t/k) S_k)^2`` and ``R(k)`` the same over the last ``n - k`` values taken
from the end. Under no change (for weakly dependent noise) G_n converges to a pivotal limit, whose
upper quantiles Shao & Zhang tabulate: 29.6 (10%), 40.1 (5%), 68.6 (1%). The tests check the
implementation against these by simulation (at 12 to 240 values the null quantiles stay within a
few units of them). `self_normalised_statistics` computes it for many simulated series at once (the
change-point validation calibrates its critical value by simulation, `cer_lib.analysis.noise_null`).
The test is for one change: applied to a whole series with a temporary rise it
has almost no power, which is why it is applied locally, around each candidate. Its size is close to
nominal for independent noise and above it under strong autocorrelation (AR(1) with rho 0.7); see
the simulation table of ``make validate``.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["CRITICAL_VALUES", "MeanChangeTest", "self_normalised_statistic", "self_normalised_statistics",
           "self_normalised_test"]

#: Upper quantiles of the limiting null distribution (Shao & Zhang 2010, Table 1), by test level.
CRITICAL_VALUES: dict[float, float] = {0.10: 29.6, 0.05: 40.1, 0.01: 68.6}


@dataclass(frozen=True)
class MeanChangeTest:
    statistic: float
    critical_value: float
    level: float
    rejects: bool
    at: int | None  # the k of the maximum (first month of the second part), None when the series is flat


def _within_sums(partial: np.ndarray) -> np.ndarray:
    """``L(k) = sum_{t<=k} (P_t - (t/k) P_k)^2`` for k = 1..n from partial sums ``P_1..P_n`` (along the last axis)."""
    n = partial.shape[-1]
    t = np.arange(1, n + 1, dtype=float)
    a = np.cumsum(partial**2, axis=-1)
    b = np.cumsum(t * partial, axis=-1)
    c = t * (t + 1) * (2 * t + 1) / 6
    slope = partial / t
    return np.maximum(a - 2 * slope * b + slope**2 * c, 0.0)


def _ratios(rows: np.ndarray) -> np.ndarray:
    """``n T(k)^2 / (L(k) + R(k))`` for k = 1..n-1, per row of ``rows`` (0 where a row has no variation)."""
    n = rows.shape[-1]
    z = rows - rows.mean(axis=-1, keepdims=True)  # G_n is location-invariant; centring avoids cancellation
    forward = np.cumsum(z, axis=-1)
    backward = np.cumsum(z[..., ::-1], axis=-1)
    cusum = forward[..., :-1]  # S_k - (k/n) S_n with S_n = 0 after centring
    left = _within_sums(forward)[..., :-1]
    right = _within_sums(backward)[..., ::-1][..., 1:]  # R(k) uses the last n - k values
    normaliser = left + right
    usable = normaliser > 1e-12 * np.maximum(1.0, np.sum(z**2, axis=-1, keepdims=True)) * n
    return np.where(usable, n * cusum**2 / np.where(usable, normaliser, 1.0), 0.0)


def self_normalised_statistic(values: np.ndarray) -> tuple[float, int | None]:
    """``(G_n, argmax k)`` for a series of at least 4 values; ``(0, None)`` when it has no variation."""
    x = np.asarray(values, dtype=float)
    if x.ndim != 1 or len(x) < 4:
        raise ValueError("the self-normalised test needs one series of at least 4 values")
    ratio = _ratios(x)
    if not ratio.any():
        return 0.0, None
    best = int(np.argmax(ratio))
    return float(ratio[best]), best + 1


def self_normalised_statistics(rows: np.ndarray) -> np.ndarray:
    """``G_n`` of each row of a 2-d array (series of equal length, at least 4): simulations at once."""
    x = np.asarray(rows, dtype=float)
    if x.ndim != 2 or x.shape[1] < 4:
        raise ValueError("expected a 2-d array of series with at least 4 values each")
    return _ratios(x).max(axis=1)


def self_normalised_test(values: np.ndarray, *, level: float = 0.05) -> MeanChangeTest:
    """Reject "no change in mean" when G_n exceeds the critical value at ``level`` (0.10, 0.05 or 0.01)."""
    if level not in CRITICAL_VALUES:
        raise ValueError(f"level must be one of {sorted(CRITICAL_VALUES)} (tabulated by Shao & Zhang 2010)")
    statistic, at = self_normalised_statistic(values)
    critical = CRITICAL_VALUES[level]
    return MeanChangeTest(statistic=statistic, critical_value=critical, level=level, rejects=statistic > critical,
                          at=at)
