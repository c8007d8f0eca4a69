"""The null distribution of the local change test under the series' own noise (a parametric bootstrap).

The change-point search keeps a candidate only when the self-normalised test for a change in mean
(:mod:`cer_lib.analysis.mean_change_test`) rejects on the months around it. That test is pivotal
only asymptotically: on some 60 monthly values whose noise is autocorrelated (an AR(1) log mean with
rho 0.7 at 100 reports a month) its tabulated 1% critical value is exceeded far more often than 1%.
So its critical value is taken from simulation under a null fitted to the series:

**Model** (a parameter-driven count model, Zeger 1988, Biometrika 75:621): reports in month t are
``Poisson(m_t exp(e_t - s^2/2))`` with ``m_t`` the pooled rate times the month's exposure and
``e_t`` a stationary Gaussian AR(1) with lag-one correlation ``rho`` and standard deviation ``s``.
``s = rho = 0`` is plain Poisson; ``rho = 0`` is independent extra-Poisson variation.

**Fit** (`fit_noise`, moments about fitted segment rates ``m_t``): the variance beyond Poisson
``v = mean((x - m)^2 - m)`` gives ``s^2 = ln(1 + v / mean(m^2))``; the lag-one covariance ``c`` of
``x - m`` over pairs of months in one segment gives ``rho = ln(1 + c / mean(m_t m_{t-1})) / s^2``,
raised by the first-order bias of a lag-one correlation estimated about a fitted mean,
``(1 + 3 rho) / n`` (Marriott & Pope 1954, Biometrika 41:390), and kept in [0, 0.95].

**Which segments.** About the candidate's segments (the alternative) a spurious split absorbs the
noise's slow wander, so the fit understates it; about one segment (the null) a real step looks like
persistence, so the fit overstates it. `null_noise` averages the two fits (``s^2`` and ``rho``): a
stated compromise, whose operating characteristics are measured by simulation (``make validate``;
README "Change points").

**Critical value** (`simulated_critical_value`): the ``1 - level`` quantile of the statistic over
``n_simulations`` series of the window's length, calendar exposure and pooled rate, simulated from
a generator seeded by the window (the same data give the same answer); never below the tabulated
asymptotic value, so independent noise keeps the published test.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .mean_change_test import CRITICAL_VALUES, self_normalised_statistics

__all__ = ["DEFAULT_SIMULATIONS", "NoiseFit", "fit_noise", "null_noise", "segment_fit", "simulated_critical_value"]

DEFAULT_SIMULATIONS = 400
MAX_RHO = 0.95


@dataclass(frozen=True)
class NoiseFit:
    """The fitted noise: ``sd`` of the AR(1) log-mean and its lag-one correlation ``rho``."""

    sd: float
    rho: float


def segment_fit(counts: np.ndarray, exposure: np.ndarray, breaks: list[int]) -> tuple[np.ndarray, np.ndarray]:
    """Each month's expected count under its segment's own rate (segments start at ``breaks``: rate of
    the segment times the month's exposure), and the index of its segment."""
    bounds = [0, *breaks, len(counts)]
    fitted = np.empty(len(counts))
    segment = np.empty(len(counts), dtype=int)
    for i, (a, b) in enumerate(zip(bounds[:-1], bounds[1:], strict=True)):
        fitted[a:b] = counts[a:b].sum() / exposure[a:b].sum() * exposure[a:b]
        segment[a:b] = i
    return fitted, segment


def fit_noise(counts: np.ndarray, exposure: np.ndarray, breaks: list[int]) -> NoiseFit:
    """Moment fit of the log-mean AR(1) noise about the segments that start at ``breaks`` (module docstring)."""
    x = np.asarray(counts, dtype=float)
    fitted, segment = segment_fit(x, np.asarray(exposure, dtype=float), breaks)
    dof = len(x) - (len(breaks) + 1)
    scale = float(np.mean(fitted**2))
    if dof < 2 or scale <= 0:
        return NoiseFit(0.0, 0.0)
    resid = x - fitted
    excess = float(np.sum(resid**2 - fitted)) / dof
    variance = math.log1p(max(excess, 0.0) / scale)
    within = segment[1:] == segment[:-1]
    rho = 0.0
    if variance > 1e-9 and within.any():
        covariance = float(np.mean(resid[1:][within] * resid[:-1][within]))
        neighbours = float(np.mean(fitted[1:][within] * fitted[:-1][within]))
        if covariance > 0 and neighbours > 0:
            rho = math.log1p(covariance / neighbours) / variance
    rho = min(max(rho, 0.0), MAX_RHO)
    rho = min(rho + (1 + 3 * rho) / dof, MAX_RHO)
    return NoiseFit(math.sqrt(variance), rho)


def null_noise(counts: np.ndarray, exposure: np.ndarray, breaks: list[int], start: int, end: int) -> NoiseFit:
    """The noise of the null for the window ``[start, end)``: the average of the fit about the series'
    candidate segments (``breaks``) and the fit about the window as one segment (module docstring)."""
    split = fit_noise(counts, exposure, breaks)
    whole = fit_noise(counts[start:end], exposure[start:end], [])
    variance = (split.sd**2 + whole.sd**2) / 2
    return NoiseFit(math.sqrt(variance), (split.rho + whole.rho) / 2)


def simulated_critical_value(rate: float, exposure: np.ndarray, noise: NoiseFit, *, level: float, seed: tuple[int, ...],
                             n_simulations: int = DEFAULT_SIMULATIONS) -> float:
    """The ``1 - level`` quantile of the self-normalised statistic on ``log(1 + rate)`` of series simulated
    under ``noise`` at ``rate`` reports per unit of ``exposure``; at least the tabulated value."""
    e = np.asarray(exposure, dtype=float)
    rng = np.random.default_rng(seed)
    n, sd, rho = len(e), noise.sd, noise.rho
    log_mean = np.empty((n_simulations, n))
    log_mean[:, 0] = rng.normal(0.0, sd, n_simulations)
    innovation = sd * math.sqrt(1 - rho**2)
    for t in range(1, n):
        log_mean[:, t] = rho * log_mean[:, t - 1] + rng.normal(0.0, innovation, n_simulations)
    counts = rng.poisson(rate * e * np.exp(log_mean - sd**2 / 2))
    statistics = self_normalised_statistics(np.log1p(counts / e))
    return max(CRITICAL_VALUES[level], float(np.quantile(statistics, 1 - level)))
