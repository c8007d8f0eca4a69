"""Maximum-likelihood fit of DuMouchel's prior, the likelihood truncated at N*, with data squashing.

1. Pairs with ``n ≥ N*`` enter the likelihood. Two truncations are offered:

   - ``"whole-mixture"`` (the default of the signal analysis): the exact likelihood of DuMouchel's
     model given ``n ≥ N*``, ``L = (P f1 + (1 − P) f2)/(P S1 + (1 − P) S2)`` with ``Sj`` the
     component's ``P(n ≥ N*)``; vigipy's ``truncated_likelihood``. Its ``P`` is the prior weight
     that the posterior weights ``Q`` use, so fit and scores belong to one model.
   - ``"per-component"``: ``L = P f1/S1 + (1 − P) f2/S2``, each component truncated separately
     (openEBGM ``negLL``/``negLLsquash``, PhViD ``.likTronc2NB``). Here ``P`` is a weight among
     truncated components, not the prior weight the posterior uses.

2. The optimiser works on ``x = (ln α1, ln β1, ln α2, ln β2, w)`` with an analytic gradient
   (L-BFGS-B): ``w = logit P`` for per-component truncation, ``w = ln(P α1/((1 − P) α2))`` for the
   whole mixture, whose likelihood written with ``g = f/α`` and ``T = S/α``
   (:mod:`cer_lib.analysis.ebgm_prior`) is ``(e^w g1 + g2)/(e^w T1 + T2)``: smooth as ``α2 → 0``.
   When a start ends with ``α2`` at the lower edge of the search box, or when setting ``α2 = 0``
   is at least as likely, the four other parameters are refitted with ``α2 = 0`` exactly (the
   log-series limit, represented by :class:`GammaMixturePrior` with ``limit_ratio``). That is an
   explicit limit, reported as such, not a runaway. Any other parameter on the box edge (a β or
   an α running to 0 or infinity under per-component truncation, a weight running to 0 or 1) is
   ``at_boundary``: the fit is then not converged and is not used for scores
   (:func:`choose_prior`).

3. Several starts (DuMouchel's 1999 estimates, openEBGM's vignette starts, seeded random ones);
   the best likelihood wins; every start's end point is kept for the report (``starts``), with the
   spread of their log-likelihoods.

4. Data squashing (DuMouchel & Pregibon 2001, KDD '01 pp. 67-76): pairs with the same count and
   nearly the same ``E`` are merged into weighted points (:func:`squash_pairs`, on a grid in
   ``ln E``), so the fit on two million pairs evaluates the likelihood on about ten thousand
   points. The benchmark compares the squashed fit with the unsquashed one on the same pairs.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import numpy.typing as npt
import pandas as pd
from scipy import optimize, special
from threadpoolctl import threadpool_limits

from .ebgm_prior import (
    DUMOUCHEL_1999_PRIOR,
    DUMOUCHEL_1999_START,
    OPENEBGM_VIGNETTE_STARTS,
    Counts,
    GammaMixturePrior,
    log_g_and_grad,
    log_t_and_grad,
)

__all__ = [
    "TRUNCATIONS",
    "PriorChoice",
    "PriorFit",
    "PriorFitNotPossible",
    "StartResult",
    "Truncation",
    "check_counts",
    "choose_prior",
    "fit_prior",
    "negative_log_likelihood",
    "squash_pairs",
]

FloatArray = npt.NDArray[np.float64]
#: How the likelihood is truncated at N* (module docstring).
Truncation = Literal["per-component", "whole-mixture"]
TRUNCATIONS: tuple[str, ...] = ("per-component", "whole-mixture")

# Box on x = (ln α1, ln β1, ln α2, ln β2, w): an estimate on this box is a parameter running off
# to 0 or infinity (openEBGM's ``in_bounds`` check) unless it is the handled α2 → 0 limit.
_LOG_BOUND = 12.0
# The fit's squashing: cells 0.05 wide in ln E; counts above 50 merged in cells 0.02 wide in ln n.
_SQUASH_GRID = 0.05
_COUNT_CELL = 0.02
# Starts whose mean negative log-likelihood is within this of the best reached the same optimum.
_SAME_OPTIMUM = 1e-6
# The optimiser's end point counts as converged when the projected gradient of the mean
# negative log-likelihood is below this (L-BFGS-B sometimes stops with "ABNORMAL" there).
_GRADIENT_TOLERANCE = 1e-5


# ---------------------------------------------------------------------------------------------
# Results
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class StartResult:
    """Where one starting point ended: its prior (None if the likelihood was not finite there),
    negative log-likelihood and status (as in :class:`PriorFit`)."""

    start: tuple[float, ...]
    prior: GammaMixturePrior | None
    neg_log_likelihood: float
    converged: bool
    at_boundary: bool
    limit: bool
    message: str

    def to_dict(self) -> dict[str, object]:
        return {"start": list(self.start), "prior": self.prior.to_dict() if self.prior else None,
                "neg_log_likelihood": self.neg_log_likelihood, "converged": self.converged,
                "at_boundary": self.at_boundary, "limit": self.limit, "message": self.message}


@dataclass(frozen=True)
class PriorFit:
    """A maximum-likelihood fit of the GPS prior, with what an auditor needs to judge it.

    The estimate is the start with the smallest negative log-likelihood. ``converged``: its
    optimiser reached an optimum (gradient below tolerance) that is interior or the explicit
    α2 → 0 limit (``limit`` then says so). ``at_boundary``: a parameter ran to the edge of the
    search box otherwise (the estimate is a box-edge value, not an optimum). ``n_at_optimum``
    counts the starts that reached the best likelihood (within 1e-6 of the mean negative
    log-likelihood); ``neg_log_likelihood_spread`` is the worst minus the best over the starts
    that ended finite, and ``starts`` lists each. ``neg_log_likelihood`` is on the data the
    optimiser saw (squashed, weighted, if ``squashed``).
    """

    prior: GammaMixturePrior
    neg_log_likelihood: float
    converged: bool
    n_starts: int
    n_converged: int
    n_at_optimum: int
    message: str
    n_star: int
    n_pairs: int
    n_points: int
    squashed: bool
    at_boundary: bool = False
    truncation: Truncation = "per-component"
    limit: str | None = None
    neg_log_likelihood_spread: float = 0.0
    starts: tuple[StartResult, ...] = field(default=(), repr=False)

    @property
    def possible(self) -> bool:
        return True

    def to_dict(self) -> dict[str, object]:
        return {
            "possible": True,
            "prior": self.prior.to_dict(),
            "neg_log_likelihood": self.neg_log_likelihood,
            "converged": self.converged,
            "at_boundary": self.at_boundary,
            "limit": self.limit,
            "message": self.message,
            "truncation": self.truncation,
            "n_star": self.n_star,
            "n_pairs": self.n_pairs,
            "n_points": self.n_points,
            "squashed": self.squashed,
            "n_starts": self.n_starts,
            "n_converged": self.n_converged,
            "n_at_optimum": self.n_at_optimum,
            "neg_log_likelihood_spread": self.neg_log_likelihood_spread,
            "starts": [s.to_dict() for s in self.starts],
        }


@dataclass(frozen=True)
class PriorFitNotPossible:
    """The prior could not be fitted; ``reason`` says why in words fit for the report."""

    reason: str
    n_pairs: int
    n_star: int

    @property
    def possible(self) -> bool:
        return False

    def to_dict(self) -> dict[str, object]:
        return {"possible": False, "reason": self.reason, "n_pairs": self.n_pairs, "n_star": self.n_star}


@dataclass(frozen=True)
class PriorChoice:
    """The prior the scores use, and why: the fit, a stated fixed prior, or none (not estimable).

    ``source`` is ``"fitted"``, ``"fixed: DuMouchel 1999"`` or ``"none"``; ``prior`` is None only
    for ``"none"`` (EBGM, EB05 and EB95 are then "not estimable").
    """

    source: str
    prior: GammaMixturePrior | None
    reason: str

    def to_dict(self) -> dict[str, object]:
        return {"source": self.source, "prior": self.prior.to_dict() if self.prior else None, "reason": self.reason}


# ---------------------------------------------------------------------------------------------
# Input checks
# ---------------------------------------------------------------------------------------------
def _as_float_array(values: npt.ArrayLike, name: str) -> FloatArray:
    arr = np.asarray(values, dtype=float).reshape(-1)
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"'{name}' contains missing or infinite values")
    return arr


def check_counts(n: npt.ArrayLike, expected: npt.ArrayLike, *, whole: bool = True) -> tuple[FloatArray, FloatArray]:
    """``n`` and ``E`` as float arrays of one length: ``n ≥ 0`` (whole unless ``whole=False``, for
    squashed points that carry a mean count), ``E > 0``; else ValueError."""
    n_arr = _as_float_array(n, "n")
    e_arr = _as_float_array(expected, "E")
    if n_arr.shape != e_arr.shape:
        raise ValueError(f"'n' and 'E' must have the same length, got {n_arr.size} and {e_arr.size}")
    if np.any(n_arr < 0) or (whole and np.any(n_arr != np.round(n_arr))):
        raise ValueError("'n' must hold non-negative whole numbers")
    if np.any(e_arr <= 0):
        raise ValueError("'E' must be > 0")
    return n_arr, e_arr


def _check_truncation(truncation: str) -> None:
    if truncation not in TRUNCATIONS:
        raise ValueError(f"truncation must be one of {TRUNCATIONS}, got {truncation!r}")


# ---------------------------------------------------------------------------------------------
# Data squashing
# ---------------------------------------------------------------------------------------------
def squash_pairs(
    n: npt.ArrayLike,
    expected: npt.ArrayLike,
    *,
    super_points: int = 500,
    keep_points: int = 100,
    grid: float | None = None,
    exact_counts: int = 50,
) -> pd.DataFrame:
    """Squash ``(n, E)`` pairs into weighted points for the prior fit (DuMouchel & Pregibon 2001).

    Two schemes; each point has the mean ``n`` and mean ``E`` of its pairs and their number as
    weight, so the weighted sums of ``n`` and ``E`` are preserved exactly.

    - ``grid=None``: openEBGM's ``squashData``/``autoSquash`` scheme with a fixed number of
      super-points per count. For each count ``n`` that has more than ``super_points +
      keep_points`` pairs, the ``keep_points`` pairs with the largest ``E`` are kept as they are
      and the others, sorted by ``E``, are cut into ``super_points`` bins of (near-)equal size;
      counts with fewer pairs are not squashed.
    - ``grid=w`` (what :func:`fit_prior` uses, ``w = 0.05``): cells ``w`` wide in ``ln E``; counts
      up to ``exact_counts`` exact, larger counts (sparse: a few pairs each) merged in cells
      0.02 wide in ``ln n`` (the point's ``n`` is then not a whole number; the likelihood accepts
      that). Equal widths in ``ln E`` keep the tails of ``E``, where single pairs carry the most
      information, which equal-count bins average away: on the 1-million-pair benchmark table
      the grid's 6,600 points gave a fit 27 log-likelihood units better on the full data than
      openEBGM's scheme with 30,000.

    Returns a DataFrame with columns ``n``, ``E``, ``weight`` (weights sum to the number of
    pairs), sorted by ``n`` then ``E``.
    """
    if super_points < 1 or keep_points < 0:
        raise ValueError("super_points must be >= 1 and keep_points >= 0")
    if grid is not None and not grid > 0:
        raise ValueError("grid must be > 0")
    n_arr, e_arr = check_counts(n, expected)
    if grid is not None:
        large = n_arr > exact_counts
        n_key = np.where(large, -1.0 - np.floor(np.log(np.maximum(n_arr, 1.0)) / _COUNT_CELL), n_arr)
        e_key = np.floor(np.log(e_arr) / grid)
        keys = pd.DataFrame({"n_key": n_key, "bin": e_key, "n": n_arr, "E": e_arr})
    else:
        order = np.lexsort((e_arr, n_arr))
        n_sorted, e_sorted = n_arr[order], e_arr[order]
        starts = np.flatnonzero(np.r_[True, n_sorted[1:] != n_sorted[:-1]])
        sizes = np.diff(np.r_[starts, n_sorted.size])
        size = np.repeat(sizes, sizes)
        rank = np.arange(n_sorted.size) - np.repeat(starts, sizes)
        to_bin = size - keep_points
        squash = (size > super_points + keep_points) & (rank < to_bin)
        # bin id within a count: (rank * super_points) // to_bin; unsquashed pairs alone
        bin_id = np.where(squash, (rank * super_points) // np.maximum(to_bin, 1), super_points + rank)
        keys = pd.DataFrame({"n_key": n_sorted, "bin": bin_id, "n": n_sorted, "E": e_sorted})
    out = keys.groupby(["n_key", "bin"], sort=False).agg(n=("n", "mean"), E=("E", "mean"), weight=("E", "size"))
    out = out.reset_index(drop=True)
    out["weight"] = out["weight"].astype(float)
    return out.sort_values(["n", "E"], kind="mergesort").reset_index(drop=True)


# ---------------------------------------------------------------------------------------------
# Likelihood
# ---------------------------------------------------------------------------------------------
def _unpack(x: FloatArray) -> tuple[float, float, float, float, float]:
    a1, b1, a2, b2 = (float(v) for v in np.exp(x[:4]))
    return a1, b1, a2, b2, float(x[4])


def _log_sum_and_share(a: FloatArray, b: FloatArray) -> tuple[FloatArray, FloatArray]:
    """``ln(e^a + e^b)`` and ``e^a/(e^a + e^b)``, with differences clipped at 300.

    The clip keeps the shares and their products with gradients normal floats: subnormal numbers
    (below 1e-308) make every operation on them a hundred times slower; a share below 1e-130
    changes nothing in a sum of log-likelihoods.
    """
    d = np.clip(a - b, -300.0, 300.0)
    e = np.exp(-np.abs(d))
    log_sum = np.maximum(a, b) + np.log1p(e)
    share = np.where(d >= 0, 1.0 / (1.0 + e), e / (1.0 + e))
    return log_sum, share


class _Likelihood:
    """Mean weighted negative log-likelihood of the points and its gradient in x.

    ``alpha2_zero`` evaluates the α2 → 0 limit exactly (x[2] is then ignored, its gradient 0).
    """

    def __init__(self, n: FloatArray, e: FloatArray, w: FloatArray, n_star: int, truncation: Truncation) -> None:
        self.counts, self.e, self.w = Counts(n), e, w
        self.total_w = float(w.sum())
        self.n_star = n_star
        self.truncation = truncation

    def __call__(self, x: FloatArray, alpha2_zero: bool = False) -> tuple[float, FloatArray]:
        a1, b1, a2, b2, w = _unpack(x)
        if alpha2_zero:
            a2 = 0.0
        lg1, dga1, dgb1 = log_g_and_grad(self.counts, self.e, a1, b1)
        lg2, dga2, dgb2 = log_g_and_grad(self.counts, self.e, a2, b2)
        lt1, dta1, dtb1 = log_t_and_grad(self.e, a1, b1, self.n_star)
        lt2, dta2, dtb2 = log_t_and_grad(self.e, a2, b2, self.n_star)
        if self.truncation == "per-component":
            # L = P g1/T1 + (1 − P) g2/T2, w = logit P
            p = float(special.expit(w))
            log_p, log_q = -np.logaddexp(0.0, -w), -np.logaddexp(0.0, w)
            log_lik, r1 = _log_sum_and_share(log_p + lg1 - lt1, log_q + lg2 - lt2)
            s1 = r1
            d_w = r1 - p
        else:
            # L = (e^w g1 + g2)/(e^w T1 + T2), w = ln(P α1/((1 − P) α2))
            log_num, r1 = _log_sum_and_share(w + lg1, lg2)
            log_den, s1 = _log_sum_and_share(w + lt1, lt2)
            log_lik = log_num - log_den
            d_w = r1 - s1
        r2, s2 = 1.0 - r1, 1.0 - s1
        value = -float(np.dot(self.w, log_lik)) / self.total_w
        if not np.isfinite(value):
            return float("inf"), np.zeros(5)
        grad = -np.array([
            np.dot(self.w, r1 * dga1 - s1 * dta1),
            np.dot(self.w, r1 * dgb1 - s1 * dtb1),
            0.0 if alpha2_zero else np.dot(self.w, r2 * dga2 - s2 * dta2),
            np.dot(self.w, r2 * dgb2 - s2 * dtb2),
            np.dot(self.w, d_w),
        ]) / self.total_w
        return value, grad


def _to_x(prior: GammaMixturePrior, truncation: Truncation) -> FloatArray:
    if truncation == "per-component":
        if prior.is_limit:
            raise ValueError("the alpha2 -> 0 limit prior is defined for the whole-mixture likelihood only")
        w = float(special.logit(prior.p))
    else:
        w = prior.log_observed_odds
    a2 = prior.alpha2 if not prior.is_limit else math.exp(-_LOG_BOUND)
    return np.array([math.log(prior.alpha1), math.log(prior.beta1), math.log(a2), math.log(prior.beta2), w])


def _to_prior(x: FloatArray, truncation: Truncation, alpha2_zero: bool) -> GammaMixturePrior:
    a1, b1, a2, b2, w = _unpack(x)
    if truncation == "per-component":
        return GammaMixturePrior(a1, b1, a2, b2, float(special.expit(w)))
    if alpha2_zero:
        return GammaMixturePrior(a1, b1, 0.0, b2, 0.0, limit_ratio=math.exp(w) / a1)
    # P/(1 − P) = e^w α2/α1
    return GammaMixturePrior(a1, b1, a2, b2, float(special.expit(w + math.log(a2) - math.log(a1))))


def negative_log_likelihood(
    prior: GammaMixturePrior | npt.ArrayLike,
    n: npt.ArrayLike,
    expected: npt.ArrayLike,
    weight: npt.ArrayLike | None = None,
    *,
    n_star: int = 1,
    truncation: Truncation = "per-component",
) -> float:
    """``−Σ w_i log L_i``, the likelihood truncated at ``N*``.

    Per-component: ``L_i = P·f1(n_i)/S1 + (1 − P)·f2(n_i)/S2`` with ``Sj = 1 − Fj(N*−1)``, ``fj``
    the ``NB(αj, βj/(βj + E_i))`` pmf and ``Fj`` its CDF: openEBGM's ``negLL`` (``weight=None``)
    and ``negLLsquash``. Whole-mixture: ``L_i = (P·f1 + (1 − P)·f2)/(P·S1 + (1 − P)·S2)``
    (vigipy's ``truncated_likelihood``); it also takes a limit prior (``alpha2 = 0``).
    ``n_star = 0`` gives the untruncated likelihood for both (openEBGM's ``negLLzero``).
    Every ``n`` must be ``≥ N*``; with weights (squashed points) ``n`` may be a mean count.
    """
    if not isinstance(prior, GammaMixturePrior):
        prior = GammaMixturePrior.from_theta(prior)
    n_arr, e_arr = check_counts(n, expected, whole=weight is None)
    w = np.ones_like(n_arr) if weight is None else _as_float_array(weight, "weight")
    if w.shape != n_arr.shape:
        raise ValueError("'weight' must have the same length as 'n'")
    if n_star < 0:
        raise ValueError("n_star must be >= 0")
    if np.any(n_arr < n_star):
        raise ValueError(f"every count must be >= N* = {n_star}; filter the pairs first")
    _check_truncation(truncation)
    if prior.is_limit and n_star == 0:
        raise ValueError("the alpha2 -> 0 limit prior has no untruncated likelihood (N* = 0)")
    likelihood = _Likelihood(n_arr, e_arr, w, n_star, truncation)  # type: ignore[arg-type]
    mean_value, _ = likelihood(_to_x(prior, truncation), alpha2_zero=prior.is_limit)  # type: ignore[arg-type]
    return mean_value * float(w.sum())


# ---------------------------------------------------------------------------------------------
# Fit
# ---------------------------------------------------------------------------------------------
def _starting_points(n_starts: int, seed: int) -> list[FloatArray]:
    fixed = [DUMOUCHEL_1999_START, *OPENEBGM_VIGNETTE_STARTS]
    starts = [np.asarray(t, dtype=float) for t in fixed[:n_starts]]
    rng = np.random.default_rng(seed)
    while len(starts) < n_starts:
        a1, b1 = np.exp(rng.uniform(np.log(0.05), np.log(5.0), size=2))
        a2, b2 = np.exp(rng.uniform(np.log(0.5), np.log(20.0), size=2))
        p = rng.uniform(0.05, 0.5)
        starts.append(np.array([a1, b1, a2, b2, p]))
    return starts


def _projected_gradient(z: FloatArray, grad: FloatArray, bounds: list[tuple[float, float]]) -> float:
    g = grad.copy()
    for i, (lo, hi) in enumerate(bounds):
        if (z[i] <= lo + 1e-9 and g[i] > 0) or (z[i] >= hi - 1e-9 and g[i] < 0):
            g[i] = 0.0
    return float(np.max(np.abs(g)))


# The optimiser's coordinates z map linearly to x = (ln α1, ln β1, ln α2, ln β2, w): x = M z.
# Both components in (ln α, ln mean), ln β = ln α − ln mean: a concentrated component has α and
# β large and nearly proportional, a long valley in (ln α, ln β) that L-BFGS crosses slowly.
_MEAN_COORDINATES = np.array([
    [1, 0, 0, 0, 0],
    [1, -1, 0, 0, 0],
    [0, 0, 1, 0, 0],
    [0, 0, 1, -1, 0],
    [0, 0, 0, 0, 1],
], dtype=float)
# In the α2 → 0 limit component 2 keeps only ln β2: z = (ln α1, ln mean1, ln β2, w).
_LIMIT_COORDINATES = np.array([
    [1, 0, 0, 0],
    [1, -1, 0, 0],
    [0, 0, 0, 0],
    [0, 0, 1, 0],
    [0, 0, 0, 1],
], dtype=float)
_W_BOUND = 3 * _LOG_BOUND


def _minimise(likelihood: _Likelihood, x0: FloatArray, limit: bool) -> tuple[FloatArray, float, str, float, bool]:
    """Minimise from x0 in mean coordinates; returns (x, mean nll, message, projected gradient, on the box edge)."""
    m = _LIMIT_COORDINATES if limit else _MEAN_COORDINATES
    z0, *_ = np.linalg.lstsq(m, x0, rcond=None)
    bounds = [(-_LOG_BOUND, _LOG_BOUND)] * (m.shape[1] - 1) + [(-_W_BOUND, _W_BOUND)]
    z0 = np.clip(z0, [b[0] for b in bounds], [b[1] for b in bounds])

    def objective(z: FloatArray) -> tuple[float, FloatArray]:
        value, grad = likelihood(m @ z, alpha2_zero=limit)
        return value, m.T @ grad

    res = optimize.minimize(objective, z0, jac=True, method="L-BFGS-B", bounds=bounds,
                            options={"maxiter": 3000, "ftol": 1e-15, "gtol": 1e-10})
    value, grad = objective(res.x)
    on_edge = bool(np.any(res.x <= [b[0] + 1e-6 for b in bounds]) or np.any(res.x >= [b[1] - 1e-6 for b in bounds]))
    return m @ res.x, value, str(res.message), _projected_gradient(res.x, grad, bounds), on_edge


def _smaller_alpha_second(x: FloatArray) -> FloatArray:
    """Swap the labels (whole-mixture x) so that component 2 has the smaller α, the one that may run to 0."""
    if x[2] <= x[0]:
        return x
    return np.array([x[2], x[3], x[0], x[1], -x[4]])


def _fit_from(likelihood: _Likelihood, start: FloatArray, truncation: Truncation) -> StartResult:
    """Optimise from one start; for the whole mixture, refit in the α2 → 0 limit when that is at least as likely."""
    x0 = _to_x(GammaMixturePrior.from_theta(start), truncation)
    start_tuple = tuple(float(v) for v in start)
    value0, _ = likelihood(x0)
    if not np.isfinite(value0):
        return StartResult(start_tuple, None, float("inf"), False, False, False, "likelihood not finite at the starting point")
    x, value, message, pgrad, on_edge = _minimise(likelihood, x0, limit=False)
    limit = False
    if truncation == "whole-mixture" and np.isfinite(value):
        x = _smaller_alpha_second(x)
        value_limit, _ = likelihood(x, alpha2_zero=True)
        if x[2] <= -_LOG_BOUND + 1e-6 or value_limit <= value + 1e-12:
            xl, vl, message_l, pgrad_l, edge_l = _minimise(likelihood, x, limit=True)
            if vl <= value + 1e-12:
                x, value, message, pgrad, on_edge, limit = xl, vl, message_l, pgrad_l, edge_l, True
    if not np.isfinite(value):
        return StartResult(start_tuple, None, float("inf"), False, False, False, "the likelihood became infinite: " + message)
    if on_edge:
        message += " (a parameter reached the edge of the search box)"
    prior = _to_prior(x, truncation, alpha2_zero=limit)
    return StartResult(
        start=start_tuple,
        prior=prior if limit else prior.canonical(),
        neg_log_likelihood=value * likelihood.total_w,
        converged=bool(pgrad <= _GRADIENT_TOLERANCE and not on_edge),
        at_boundary=on_edge,
        limit=limit,
        message=message,
    )


def fit_prior(
    n: npt.ArrayLike,
    expected: npt.ArrayLike,
    *,
    n_star: int = 1,
    n_starts: int = 6,
    squash: bool = True,
    random_seed: int = 1999,
    min_pairs: int = 10,
    truncation: Truncation = "per-component",
) -> PriorFit | PriorFitNotPossible:
    """Fit DuMouchel's two-gamma prior by maximum likelihood, the likelihood truncated at N*.

    Uses the pairs with ``n ≥ N*`` (``N* = 0`` uses every pair, zero counts included, and no
    truncation). ``truncation`` is ``"per-component"`` (openEBGM; this function's default, kept
    for reproducing openEBGM) or ``"whole-mixture"`` (the signal analysis' default; module
    docstring). Each start is optimised with L-BFGS-B and the analytic gradient inside a box
    ``|ln α|, |ln β| ≤ 12``; the whole-mixture fit handles ``α2 → 0`` as an explicit limit. Starts:
    DuMouchel's (1999) estimates as vigipy and PhViD use them, the three of openEBGM's vignette,
    then seeded random ones. The start with the smallest negative log-likelihood gives the estimate.

    With ``squash`` the pairs are squashed first (:func:`squash_pairs` on its grid: cells 0.05 wide
    in ln E, counts above 50 merged); the likelihood is then weighted. Fewer than ``min_pairs``
    usable pairs, or a likelihood no start can evaluate, give a :class:`PriorFitNotPossible`
    saying why.
    """
    if n_star < 0:
        raise ValueError("n_star must be >= 0")
    if n_starts < 1:
        raise ValueError("n_starts must be >= 1")
    _check_truncation(truncation)
    n_arr, e_arr = check_counts(n, expected)
    keep = n_arr >= n_star
    n_used, e_used = n_arr[keep], e_arr[keep]
    n_pairs = int(n_used.size)
    if n_pairs < max(min_pairs, 1):
        return PriorFitNotPossible(
            reason=(
                f"only {n_pairs} product-term pairs with n >= N* = {n_star}; at least {min_pairs} "
                "are needed to fit the 5-parameter gamma-mixture prior"
            ),
            n_pairs=n_pairs,
            n_star=n_star,
        )
    if np.unique(n_used).size < 2 and np.unique(np.round(e_used, 12)).size < 2:
        return PriorFitNotPossible(
            reason="all pairs have the same count and the same expected count: the prior is not identifiable",
            n_pairs=n_pairs,
            n_star=n_star,
        )
    if squash:
        squashed = squash_pairs(n_used, e_used, grid=_SQUASH_GRID)
        n_fit, e_fit, w_fit = (squashed[k].to_numpy(float) for k in ("n", "E", "weight"))
    else:
        n_fit, e_fit, w_fit = n_used, e_used, np.ones_like(n_used)
    is_squashed = bool(squash and n_fit.size < n_used.size)
    likelihood = _Likelihood(n_fit, e_fit, w_fit, n_star, truncation)  # type: ignore[arg-type]

    # one BLAS thread: the likelihood's dot products are small, and threads fight on shared cores
    with threadpool_limits(limits=1, user_api="blas"):
        runs = [_fit_from(likelihood, start, truncation) for start in _starting_points(n_starts, random_seed)]  # type: ignore[arg-type]
    finite = [r for r in runs if r.prior is not None]
    if not finite:
        return PriorFitNotPossible(
            reason="the likelihood could not be evaluated from any starting point: " + runs[0].message,
            n_pairs=n_pairs,
            n_star=n_star,
        )
    best = min(finite, key=lambda r: r.neg_log_likelihood)
    values = [r.neg_log_likelihood for r in finite]
    same = _SAME_OPTIMUM * max(likelihood.total_w, abs(best.neg_log_likelihood))  # 1e-6 of the mean, in total units
    assert best.prior is not None
    return PriorFit(
        prior=best.prior,
        neg_log_likelihood=best.neg_log_likelihood,
        converged=best.converged,
        n_starts=len(runs),
        n_converged=sum(1 for r in runs if r.converged),
        n_at_optimum=sum(1 for v in values if abs(v - best.neg_log_likelihood) <= same),
        message=best.message,
        n_star=n_star,
        n_pairs=n_pairs,
        n_points=int(n_fit.size),
        squashed=is_squashed,
        at_boundary=best.at_boundary,
        truncation=truncation,
        limit=(
            "alpha2 -> 0: component 2 is the limit of Gamma(alpha, beta2) as alpha -> 0 (the improper "
            "prior 1/lambda * exp(-beta2 * lambda)); given n >= N* its counts follow a log-series "
            "distribution. P -> 0 with P/alpha2 -> limit_ratio; the likelihood's supremum is this limit"
        ) if best.limit else None,
        neg_log_likelihood_spread=max(values) - min(values),
        starts=tuple(runs),
    )


# ---------------------------------------------------------------------------------------------
# Which prior the scores use
# ---------------------------------------------------------------------------------------------
def choose_prior(fit: PriorFit | PriorFitNotPossible, fallback: Literal["dumouchel-1999", "none"]) -> PriorChoice:
    """Score from the fit only when it is sound; otherwise the stated fallback.

    Sound: the fit converged to an interior optimum or to the explicit α2 → 0 limit of the
    whole-mixture likelihood. Not sound: too few pairs (:class:`PriorFitNotPossible`), a parameter
    on the edge of the search box, no convergence, or a per-component fit whose second component
    collapsed (its posterior weights would ignore that component). Then ``fallback`` decides:
    ``"dumouchel-1999"`` scores with DuMouchel's (1999) published prior (α1 = 0.2041,
    β1 = 0.05816, α2 = 1.415, β2 = 1.838, P = 0.0969), ``"none"`` reports EBGM as not estimable.
    """
    if isinstance(fit, PriorFit) and fit.converged and not fit.at_boundary:
        return PriorChoice("fitted", fit.prior, "the maximum-likelihood fit converged"
                           + (" to the alpha2 -> 0 limit (log-series component)" if fit.limit else " to an interior optimum"))
    if isinstance(fit, PriorFitNotPossible):
        why = fit.reason
    elif fit.at_boundary:
        why = "the likelihood's maximum is on the edge of the parameter space (a degenerate fit: " + fit.message + ")"
    else:
        why = "the optimiser did not converge (" + fit.message + ")"
    if fallback == "none":
        return PriorChoice("none", None, f"EBGM not estimable: {why}")
    return PriorChoice("fixed: DuMouchel 1999", DUMOUCHEL_1999_PRIOR,
                       f"the fixed prior of DuMouchel (1999) is used because {why}")
