"""Posterior scores of DuMouchel's Gamma-Poisson Shrinker: Q, EBGM, EB05, EB95 for every pair.

Given the prior (:class:`GammaMixturePrior`) and a pair's ``n ≥ 1`` and ``E``, the posterior of
``λ`` is ``Q·Gamma(α1 + n, β1 + E) + (1 − Q)·Gamma(α2 + n, β2 + E)`` with
``Q = P·f1(n) / (P·f1(n) + (1 − P)·f2(n))`` (untruncated NB pmfs; DuMouchel 1999). In the
α2 → 0 limit the second component's posterior is ``Gamma(n, β2 + E)`` and ``Q`` is computed from
the finite odds :attr:`GammaMixturePrior.log_observed_odds`.
``EBGM = exp(Q[ψ(α1 + n) − ln(β1 + E)] + (1 − Q)[ψ(α2 + n) − ln(β2 + E)])``; EB05 and EB95 are the
5 % and 95 % points of the mixture, found for all pairs at once (vectorised safeguarded Halley
iterations on the mixture CDF in log λ, from the Wilson-Hilferty approximation of the dominant
component's quantile; no per-pair loop and no inverse incomplete gamma). Zero cells (``n = 0``) are never scored.
"""
from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pandas as pd
from scipy import special

from .ebgm_fit import check_counts
from .ebgm_prior import Counts, GammaMixturePrior, log_g

__all__ = ["ebgm", "posterior_quantile", "posterior_scores", "posterior_weight"]

FloatArray = npt.NDArray[np.float64]


def _check_scored_counts(n: npt.ArrayLike, expected: npt.ArrayLike) -> tuple[FloatArray, FloatArray]:
    n_arr, e_arr = check_counts(n, expected)
    if np.any(n_arr < 1):
        raise ValueError("zero cells (n = 0) are never scored: drop them before computing posterior scores")
    return n_arr, e_arr


def posterior_weight(n: npt.ArrayLike, expected: npt.ArrayLike, prior: GammaMixturePrior) -> FloatArray:
    """``Q_n = P·f1(n) / (P·f1(n) + (1 − P)·f2(n))`` with untruncated NB pmfs (DuMouchel 1999)."""
    n_arr, e_arr = _check_scored_counts(n, expected)
    return _weight(n_arr, e_arr, prior)


def _weight(n: FloatArray, e: FloatArray, prior: GammaMixturePrior) -> FloatArray:
    # P f1 / ((1 − P) f2) = exp(log_observed_odds) · g1/g2 for n >= 1 (g = f/α)
    counts = Counts(n)
    log_odds = prior.log_observed_odds + log_g(counts, e, prior.alpha1, prior.beta1) - log_g(counts, e, prior.alpha2, prior.beta2)
    return special.expit(log_odds)


def ebgm(
    n: npt.ArrayLike, expected: npt.ArrayLike, prior: GammaMixturePrior, q: FloatArray | None = None
) -> FloatArray:
    """Empirical Bayes geometric mean ``exp(E[ln λ | n])`` of the posterior mixture.

    ``EBGM = exp(Q[ψ(α1 + n) − ln(β1 + E)] + (1 − Q)[ψ(α2 + n) − ln(β2 + E)])``.
    """
    n_arr, e_arr = _check_scored_counts(n, expected)
    qn = _weight(n_arr, e_arr, prior) if q is None else np.asarray(q, float)
    log1 = special.digamma(prior.alpha1 + n_arr) - np.log(prior.beta1 + e_arr)
    log2 = special.digamma(prior.alpha2 + n_arr) - np.log(prior.beta2 + e_arr)
    return np.exp(qn * log1 + (1.0 - qn) * log2)


def _wilson_hilferty(prob: float, shape: FloatArray, rate: FloatArray) -> FloatArray:
    """Approximate ``prob`` quantile of Gamma(shape, rate) (Wilson & Hilferty 1931), kept positive."""
    z = special.ndtri(prob)
    c = 1.0 / (9.0 * shape)
    cube = np.maximum(1.0 - c + z * np.sqrt(c), 0.05)
    return shape / rate * cube**3


def posterior_quantile(
    prob: float,
    n: npt.ArrayLike,
    expected: npt.ArrayLike,
    prior: GammaMixturePrior,
    q: FloatArray | None = None,
    *,
    rtol: float = 1e-12,
    max_iter: int = 200,
) -> FloatArray:
    """The ``prob`` quantile of ``Q·Gamma(α1 + n, β1 + E) + (1 − Q)·Gamma(α2 + n, β2 + E)``.

    Halley's method on ``F(e^y) − prob`` in ``y = ln λ``, all pairs at once: with ``D_j = λ·f_j(λ)``
    the first derivative is ``Σ w_j D_j`` and the second ``Σ w_j D_j (a_j − b_j λ)``. It starts at the
    Wilson-Hilferty quantile of the component with the larger weight. Every evaluation narrows a
    bracket ``[y_lo, y_hi]``; a step that leaves it is replaced by bisection (or, while one side is
    still open, by a unit step in ``y``), so every pair converges. A pair is done when its step is
    below ``rtol``, or when a Halley step inside the bracket is below ``rtol^(1/3)`` in units of the
    posterior's spread (``1/√a``): the cubic convergence then leaves an error below ``rtol`` in
    those units (about two evaluations per pair).
    """
    if not (0.0 < prob < 1.0):
        raise ValueError("prob must be in (0, 1)")
    n_arr, e_arr = _check_scored_counts(n, expected)
    qn = _weight(n_arr, e_arr, prior) if q is None else np.asarray(q, float)
    a1, b1 = prior.alpha1 + n_arr, prior.beta1 + e_arr
    a2, b2 = prior.alpha2 + n_arr, prior.beta2 + e_arr
    lg1, lg2 = special.gammaln(a1), special.gammaln(a2)
    spread = 1.0 / np.sqrt(np.maximum(a1, a2))
    y = np.log(np.where(qn >= 0.5, _wilson_hilferty(prob, a1, b1), _wilson_hilferty(prob, a2, b2)))
    y_lo = np.full_like(y, -np.inf)
    y_hi = np.full_like(y, np.inf)
    active = np.arange(y.size)
    for _ in range(max_iter):
        if active.size == 0:
            break
        yi = y[active]
        with np.errstate(over="ignore"):
            xi = np.exp(yi)
        qi = qn[active]
        a1i, a2i = a1[active], a2[active]
        s1, s2 = b1[active] * xi, b2[active] * xi
        cdf = qi * special.gammainc(a1i, s1) + (1.0 - qi) * special.gammainc(a2i, s2)
        with np.errstate(all="ignore"):  # D_j = λ·f_j(λ); 0 where λ under- or overflows (then no step)
            d1 = np.nan_to_num(qi * np.exp(a1i * np.log(s1) - s1 - lg1[active]), nan=0.0, posinf=0.0)
            d2 = np.nan_to_num((1.0 - qi) * np.exp(a2i * np.log(s2) - s2 - lg2[active]), nan=0.0, posinf=0.0)
            first = d1 + d2
            second = d1 * (a1i - s1) + d2 * (a2i - s2)
        err = cdf - prob
        below = err < 0
        lo = np.where(below, yi, y_lo[active])
        hi = np.where(below, y_hi[active], yi)
        y_lo[active], y_hi[active] = lo, hi
        with np.errstate(all="ignore"):
            step = -2.0 * err * first / (2.0 * first**2 - err * second)
        halley = yi + step
        inside = np.isfinite(halley) & (halley > lo) & (halley < hi)
        both = np.isfinite(lo) & np.isfinite(hi)
        fallback = np.where(both, 0.5 * (lo + hi), np.where(np.isfinite(lo), yi + 1.0, yi - 1.0))
        y_new = np.where(inside, halley, fallback)
        done = ((np.abs(y_new - yi) <= rtol) | (err == 0) | (both & (hi - lo <= rtol))
                | (inside & (np.abs(step) <= np.cbrt(rtol) * spread[active])))
        y[active] = np.where(err == 0, yi, y_new)
        active = active[~done]
    return np.exp(y)


def _distinct_pairs(n: FloatArray, e: FloatArray) -> tuple[FloatArray, FloatArray, npt.NDArray[np.intp]]:
    """The distinct ``(n, E)`` pairs and, for each input pair, the index of its distinct pair (hashing)."""
    e_code, e_values = pd.factorize(e)
    n_code, n_values = pd.factorize(n)
    inverse, keys = pd.factorize(e_code.astype(np.int64) * len(n_values) + n_code)
    return np.asarray(n_values)[keys % len(n_values)], np.asarray(e_values)[keys // len(n_values)], inverse


def posterior_scores(n: npt.ArrayLike, expected: npt.ArrayLike, prior: GammaMixturePrior) -> pd.DataFrame:
    """``Q``, ``EBGM``, ``EB05`` and ``EB95`` for pairs with ``n ≥ 1`` (zero cells are refused).

    Pairs with the same ``n`` and ``E`` have the same posterior: each distinct pair is computed once.
    """
    n_arr, e_arr = _check_scored_counts(n, expected)
    if n_arr.size == 0:
        return pd.DataFrame({k: np.empty(0) for k in ("Q", "EBGM", "EB05", "EB95")})
    nu, eu, inverse = _distinct_pairs(n_arr, e_arr)
    q = _weight(nu, eu, prior)
    return pd.DataFrame(
        {
            "Q": q[inverse],
            "EBGM": ebgm(nu, eu, prior, q)[inverse],
            "EB05": posterior_quantile(0.05, nu, eu, prior, q)[inverse],
            "EB95": posterior_quantile(0.95, nu, eu, prior, q)[inverse],
        }
    )
