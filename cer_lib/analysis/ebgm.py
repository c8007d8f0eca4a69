"""DuMouchel's Gamma-Poisson Shrinker: the prior fit and the posterior scores (EBGM, EB05, EB95).

The steps, in the order the method takes them (DuMouchel 1999, The American Statistician
53(3):177-190; DuMouchel & Pregibon 2001, Proc. KDD '01 pp. 67-76):

1. Each (product, term) pair has an observed count ``n`` and an expected count ``E`` (computed in
   :mod:`cer_lib.analysis.disproportionality`). Given the pair's relative reporting ratio ``λ``,
   ``n ~ Poisson(λ E)``.
2. The prior on ``λ`` is a two-gamma mixture (rate parametrisation)::

       λ ~ P·Gamma(α1, β1) + (1 − P)·Gamma(α2, β2)

   so the marginal of ``n`` is a mixture of negative binomials ``NB(size α, prob β/(β + E))``.
3. ``θ = (α1, β1, α2, β2, P)`` is fitted by maximum likelihood over the observed pairs with
   ``n ≥ N*``. The likelihood is truncated at ``N*`` *per component*: each component's NB pmf is
   divided by its own ``P(n ≥ N*)`` before mixing, exactly as openEBGM's ``negLL`` and
   ``negLLsquash`` do (R/f_likelihoodEqs.R)::

       L_i = P·f1(n_i)/(1 − F1(N*−1)) + (1 − P)·f2(n_i)/(1 − F2(N*−1))

   vigipy's ``truncated_likelihood`` instead divides the whole mixture by the mixture's
   ``P(n ≥ N*)`` (the exact conditional likelihood of the mixture given ``n ≥ N*``); the two
   are different likelihoods with different optima (``tests/test_ebgm.py``), and
   ``truncation="whole-mixture"`` selects the latter. With per-component truncation a
   component with small α can run to α → 0 (its truncated negative binomial tends to a
   log-series distribution), which the fit reports as ``at_boundary``. Data squashing
   (:func:`squash_pairs`) bins pairs with the same ``n`` and similar ``E`` into weighted
   super-points so the fit takes seconds on ~1e5 pairs.
4. Posterior of ``λ`` for a pair: ``Q·Gamma(α1 + n, β1 + E) + (1 − Q)·Gamma(α2 + n, β2 + E)``
   with ``Q = P·f1(n) / (P·f1(n) + (1 − P)·f2(n))`` (untruncated pmfs).
   ``EBGM = exp(Q[ψ(α1 + n) − ln(β1 + E)] + (1 − Q)[ψ(α2 + n) − ln(β2 + E)])``; EB05 and EB95
   are the 5 % and 95 % points of that mixture. Zero cells (``n = 0``) are never scored.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt
import pandas as pd
from scipy import optimize, special

__all__ = [
    "DUMOUCHEL_1999_START",
    "TRUNCATIONS",
    "Truncation",
    "OPENEBGM_VIGNETTE_STARTS",
    "GammaMixturePrior",
    "PriorFit",
    "PriorFitNotPossible",
    "ebgm",
    "fit_prior",
    "negative_log_likelihood",
    "posterior_quantile",
    "posterior_scores",
    "posterior_weight",
    "squash_pairs",
]

FloatArray = npt.NDArray[np.float64]
#: How the likelihood is truncated at N*: each component separately (openEBGM ``negLL``, PhViD
#: ``.likTronc2NB``; the default) or the whole mixture (vigipy ``truncated_likelihood``; the
#: exact conditional likelihood of the mixture given n >= N*).
Truncation = Literal["per-component", "whole-mixture"]
TRUNCATIONS: tuple[str, ...] = ("per-component", "whole-mixture")

#: vigipy's default ``prior_init``; PhViD's ``PRIOR.INIT`` is the same rounded to
#: (0.2, 0.06, 1.4, 1.8, 0.1), "the prior parameters found in DuMouchel (1999)" (PhViD man/GPS.Rd).
DUMOUCHEL_1999_START: tuple[float, float, float, float, float] = (0.2041, 0.05816, 1.415, 1.838, 0.0969)
#: The starting points of openEBGM's hyperparameter vignette (``theta_init`` for ``autoHyper``).
OPENEBGM_VIGNETTE_STARTS: tuple[tuple[float, float, float, float, float], ...] = (
    (0.2, 0.1, 2.0, 4.0, 1 / 3),
    (0.1, 0.2, 10.0, 10.0, 0.2),
    (0.3, 0.5, 6.0, 6.0, 0.5),
)
# Box on the unconstrained scale (log α, log β, logit P): an optimum on this box is a parameter
# running off to 0 or infinity, reported as not converged (openEBGM's ``in_bounds`` check).
_LOG_BOUND = 12.0


@dataclass(frozen=True)
class GammaMixturePrior:
    """The hyperparameters θ of DuMouchel's prior ``P·Gamma(α1, β1) + (1 − P)·Gamma(α2, β2)``.

    Gammas use the rate parametrisation (mean α/β). By the convention of this module component 1
    is the one with the larger prior mean, as in DuMouchel (1999).
    """

    alpha1: float
    beta1: float
    alpha2: float
    beta2: float
    p: float

    def __post_init__(self) -> None:
        values = (self.alpha1, self.beta1, self.alpha2, self.beta2)
        if not all(np.isfinite(v) and v > 0 for v in values):
            raise ValueError(f"alpha and beta must be finite and > 0, got {values}")
        if not (0.0 < self.p < 1.0):
            raise ValueError(f"the mixture weight P must be in (0, 1), got {self.p}")

    @classmethod
    def from_theta(cls, theta: npt.ArrayLike) -> GammaMixturePrior:
        """Build from ``θ = (α1, β1, α2, β2, P)`` (openEBGM's order)."""
        a1, b1, a2, b2, p = (float(v) for v in np.asarray(theta, dtype=float))
        return cls(a1, b1, a2, b2, p)

    @property
    def theta(self) -> tuple[float, float, float, float, float]:
        """``(α1, β1, α2, β2, P)``."""
        return (self.alpha1, self.beta1, self.alpha2, self.beta2, self.p)

    def canonical(self) -> GammaMixturePrior:
        """The same prior with component 1 the one of larger mean α/β (the labels are exchangeable)."""
        if self.alpha1 / self.beta1 >= self.alpha2 / self.beta2:
            return self
        return GammaMixturePrior(self.alpha2, self.beta2, self.alpha1, self.beta1, 1.0 - self.p)


@dataclass(frozen=True)
class PriorFit:
    """A maximum-likelihood fit of the GPS prior, with what an auditor needs to judge it.

    The estimate is the start with the smallest negative log-likelihood. ``converged`` is true
    when its optimiser reported success and no parameter ran to the edge of the search box;
    ``at_boundary`` says a parameter did (the likelihood's supremum is then a limit such as
    α → 0, where a per-component truncated negative binomial becomes a log-series distribution;
    the estimate is the box-edge value). ``n_at_optimum`` counts the starts that reached the
    best likelihood (within 1e-6 relative): more than one is evidence that the optimum is not a
    local accident (openEBGM's ``autoHyper`` asks the same of its starts). ``neg_log_likelihood`` is on
    the data the optimiser saw (squashed, weighted, if ``squashed``).
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

    @property
    def possible(self) -> bool:
        return True

    def to_dict(self) -> dict[str, object]:
        out = asdict(self)
        out["prior"] = dict(zip(("alpha1", "beta1", "alpha2", "beta2", "p"), self.prior.theta, strict=True))
        out["possible"] = True
        return out


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
        out: dict[str, object] = asdict(self)
        out["possible"] = False
        return out


def _as_float_array(values: npt.ArrayLike, name: str) -> FloatArray:
    arr = np.asarray(values, dtype=float)
    if arr.ndim != 1:
        arr = arr.reshape(-1)
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"'{name}' contains missing or infinite values")
    return arr


def _check_counts(n: npt.ArrayLike, expected: npt.ArrayLike) -> tuple[FloatArray, FloatArray]:
    n_arr = _as_float_array(n, "n")
    e_arr = _as_float_array(expected, "E")
    if n_arr.shape != e_arr.shape:
        raise ValueError(f"'n' and 'E' must have the same length, got {n_arr.size} and {e_arr.size}")
    if np.any(n_arr < 0) or np.any(n_arr != np.round(n_arr)):
        raise ValueError("'n' must hold non-negative whole numbers")
    if np.any(e_arr <= 0):
        raise ValueError("'E' must be > 0")
    return n_arr, e_arr


# ---------------------------------------------------------------------------------------------
# Data squashing
# ---------------------------------------------------------------------------------------------
def squash_pairs(
    n: npt.ArrayLike,
    expected: npt.ArrayLike,
    *,
    super_points: int = 500,
    keep_points: int = 100,
) -> pd.DataFrame:
    """Squash ``(n, E)`` pairs into weighted super-points for the prior fit.

    For each count ``n`` that has more than ``super_points + keep_points`` pairs, the
    ``keep_points`` pairs with the largest ``E`` are kept as they are (they carry the most
    information) and the others, sorted by ``E``, are cut into ``super_points`` bins of
    consecutive pairs of (near-)equal size; each bin becomes one point with the bin's count, the
    mean ``E`` of the bin and a weight equal to the number of pairs in it. Counts with fewer
    pairs are not squashed. This is the scheme of openEBGM's ``squashData``/``autoSquash``
    (DuMouchel & Pregibon 2001) with a fixed number of super-points per count.

    Returns a DataFrame with columns ``n``, ``E``, ``weight`` (weights sum to the number of
    pairs), sorted by ``n`` then ``E``.
    """
    if super_points < 1 or keep_points < 0:
        raise ValueError("super_points must be >= 1 and keep_points >= 0")
    n_arr, e_arr = _check_counts(n, expected)
    order = np.lexsort((e_arr, n_arr))
    n_sorted, e_sorted = n_arr[order], e_arr[order]
    frame = pd.DataFrame({"n": n_sorted, "E": e_sorted})
    size = frame.groupby("n", sort=False)["n"].transform("size").to_numpy()
    rank = frame.groupby("n", sort=False).cumcount().to_numpy()
    to_bin = size - keep_points
    squash = (size > super_points + keep_points) & (rank < to_bin)
    bins = np.where(squash, (rank * super_points) // np.maximum(to_bin, 1), -1 - rank)
    frame["bin"] = bins
    out = (
        frame.groupby(["n", "bin"], sort=False)
        .agg(E=("E", "mean"), weight=("E", "size"))
        .reset_index()
        .drop(columns="bin")
    )
    out["weight"] = out["weight"].astype(float)
    return out.sort_values(["n", "E"], kind="mergesort").reset_index(drop=True)


# ---------------------------------------------------------------------------------------------
# Likelihood (per-component truncation as openEBGM's negLL / negLLsquash; or whole-mixture)
# ---------------------------------------------------------------------------------------------
def _nb_log_pmf_and_grad(
    n: FloatArray, e: FloatArray, alpha: float, beta: float
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """log NB(n; size α, prob β/(β+E)) and its derivatives in α and β."""
    log1p_e_over_b = np.log1p(e / beta)
    log_pmf = (
        special.gammaln(n + alpha)
        - special.gammaln(alpha)
        - special.gammaln(n + 1.0)
        - alpha * log1p_e_over_b
        - n * np.log1p(beta / e)
    )
    d_alpha = special.digamma(n + alpha) - special.digamma(alpha) - log1p_e_over_b
    d_beta = (alpha * e - n * beta) / (beta * (beta + e))
    return log_pmf, d_alpha, d_beta


def _log_survival_and_grad(
    e: FloatArray, alpha: float, beta: float, n_star: int
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """log P(n ≥ N*) of one NB component and its derivatives in α and β.

    ``P(n ≥ N*) = I_{E/(β+E)}(N*, α)`` (regularised incomplete beta); the derivatives are
    ``−Σ_{k<N*} f(k)·∂log f(k)``.
    """
    if n_star <= 0:
        zeros = np.zeros_like(e)
        return zeros, zeros, zeros
    surv = special.betainc(float(n_star), alpha, e / (beta + e))
    surv = np.maximum(surv, np.finfo(float).tiny)
    d_surv_alpha = np.zeros_like(e)
    d_surv_beta = np.zeros_like(e)
    for k in range(n_star):
        kk = np.full_like(e, float(k))
        log_f, d_a, d_b = _nb_log_pmf_and_grad(kk, e, alpha, beta)
        f = np.exp(log_f)
        d_surv_alpha -= f * d_a
        d_surv_beta -= f * d_b
    return np.log(surv), d_surv_alpha / surv, d_surv_beta / surv


def _unpack(x: FloatArray) -> tuple[float, float, float, float, float]:
    a1, b1, a2, b2 = np.exp(x[:4])
    p = float(special.expit(x[4]))
    return float(a1), float(b1), float(a2), float(b2), p


def _objective(
    x: FloatArray, n: FloatArray, e: FloatArray, w: FloatArray, n_star: int,
    truncation: Truncation = "per-component",
) -> tuple[float, FloatArray]:
    """Mean (weighted) negative log-likelihood and its gradient on the unconstrained scale."""
    a1, b1, a2, b2, p = _unpack(x)
    lf1, da1, db1 = _nb_log_pmf_and_grad(n, e, a1, b1)
    lf2, da2, db2 = _nb_log_pmf_and_grad(n, e, a2, b2)
    ls1, dsa1, dsb1 = _log_survival_and_grad(e, a1, b1, n_star)
    ls2, dsa2, dsb2 = _log_survival_and_grad(e, a2, b2, n_star)
    p = min(max(p, 1e-300), 1.0 - 1e-16)
    log_p, log_q = np.log(p), np.log1p(-p)
    if truncation == "per-component":
        # L = P f1/S1 + (1-P) f2/S2
        l1 = log_p + lf1 - ls1
        l2 = log_q + lf2 - ls2
        log_lik = np.logaddexp(l1, l2)
        r1 = np.exp(l1 - log_lik)
        r2 = 1.0 - r1
        s1, s2 = r1, r2  # ∂log L/∂θj = rj·∂(log fj − log Sj)/∂θj
        d_logit = r1 - p
    else:
        # L = (P f1 + (1-P) f2) / (P S1 + (1-P) S2)
        t1, t2 = log_p + lf1, log_q + lf2
        log_mix = np.logaddexp(t1, t2)
        u1, u2 = log_p + ls1, log_q + ls2
        log_surv = np.logaddexp(u1, u2)
        log_lik = log_mix - log_surv
        r1 = np.exp(t1 - log_mix)
        r2 = 1.0 - r1
        s1 = np.exp(u1 - log_surv)
        s2 = 1.0 - s1
        d_logit = r1 - s1
    total_w = w.sum()
    value = -float(np.dot(w, log_lik)) / total_w
    grad = -np.array(
        [
            np.dot(w, r1 * da1 - s1 * dsa1) * a1,
            np.dot(w, r1 * db1 - s1 * dsb1) * b1,
            np.dot(w, r2 * da2 - s2 * dsa2) * a2,
            np.dot(w, r2 * db2 - s2 * dsb2) * b2,
            np.dot(w, d_logit),
        ]
    ) / total_w
    if not np.isfinite(value):
        return float("inf"), np.zeros(5)
    return value, grad


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

    Per-component (default): ``L_i = P·f1(n_i)/S1 + (1 − P)·f2(n_i)/S2`` with
    ``Sj = 1 − Fj(N*−1)``, ``fj`` the ``NB(αj, βj/(βj + E_i))`` pmf and ``Fj`` its CDF:
    openEBGM's ``negLL`` (``weight=None``) and ``negLLsquash``. Whole-mixture:
    ``L_i = (P·f1 + (1 − P)·f2)/(P·S1 + (1 − P)·S2)`` (vigipy's ``truncated_likelihood``).
    ``n_star = 0`` gives the untruncated likelihood for both (openEBGM's ``negLLzero``).
    Every ``n`` must be ``≥ N*``.
    """
    theta = prior.theta if isinstance(prior, GammaMixturePrior) else tuple(np.asarray(prior, float))
    GammaMixturePrior.from_theta(theta)  # validates
    n_arr, e_arr = _check_counts(n, expected)
    w = np.ones_like(n_arr) if weight is None else _as_float_array(weight, "weight")
    if w.shape != n_arr.shape:
        raise ValueError("'weight' must have the same length as 'n'")
    if n_star < 0:
        raise ValueError("n_star must be >= 0")
    if np.any(n_arr < n_star):
        raise ValueError(f"every count must be >= N* = {n_star}; filter the pairs first")
    _check_truncation(truncation)
    a1, b1, a2, b2, p = theta
    x = np.array([np.log(a1), np.log(b1), np.log(a2), np.log(b2), special.logit(p)])
    mean_value, _ = _objective(x, n_arr, e_arr, w, n_star, truncation)
    return mean_value * float(w.sum())


# ---------------------------------------------------------------------------------------------
# Prior fit
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


def _check_truncation(truncation: str) -> None:
    if truncation not in TRUNCATIONS:
        raise ValueError(f"truncation must be one of {TRUNCATIONS}, got {truncation!r}")


def _to_unconstrained(theta: FloatArray) -> FloatArray:
    return np.concatenate([np.log(theta[:4]), [special.logit(theta[4])]])


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
    truncation). ``truncation`` is ``"per-component"`` (openEBGM, the default) or
    ``"whole-mixture"`` (see :func:`negative_log_likelihood`). Each start is optimised with
    L-BFGS-B and the analytic gradient on the scale ``(log α1, log β1, log α2, log β2,
    logit P)``, inside a box ``|x| ≤ 12``; an optimum on the box edge is flagged
    ``at_boundary`` and not ``converged``. Starts: DuMouchel's (1999) estimates as vigipy and
    PhViD use them, the three of openEBGM's vignette, then seeded random ones. The start with the
    smallest negative log-likelihood gives the estimate.

    With ``squash`` the pairs are squashed first (:func:`squash_pairs`); the likelihood is then
    weighted. Fewer than ``min_pairs`` usable pairs, or a likelihood no start can evaluate, give
    a :class:`PriorFitNotPossible` saying why.
    """
    if n_star < 0:
        raise ValueError("n_star must be >= 0")
    if n_starts < 1:
        raise ValueError("n_starts must be >= 1")
    _check_truncation(truncation)
    n_arr, e_arr = _check_counts(n, expected)
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
        squashed = squash_pairs(n_used, e_used)
        n_fit = squashed["n"].to_numpy(float)
        e_fit = squashed["E"].to_numpy(float)
        w_fit = squashed["weight"].to_numpy(float)
    else:
        n_fit, e_fit, w_fit = n_used, e_used, np.ones_like(n_used)
    is_squashed = bool(squash and n_fit.size < n_used.size)

    bounds = [(-_LOG_BOUND, _LOG_BOUND)] * 5
    runs: list[tuple[float, FloatArray, bool, str, bool]] = []
    for start in _starting_points(n_starts, random_seed):
        x0 = _to_unconstrained(start)
        value0, _ = _objective(x0, n_fit, e_fit, w_fit, n_star, truncation)
        if not np.isfinite(value0):
            runs.append((float("inf"), x0, False, "likelihood not finite at the starting point", False))
            continue
        res = optimize.minimize(
            _objective,
            x0,
            args=(n_fit, e_fit, w_fit, n_star, truncation),
            jac=True,
            method="L-BFGS-B",
            bounds=bounds,
            options={"maxiter": 2000, "ftol": 1e-14, "gtol": 1e-9},
        )
        on_edge = bool(np.any(np.abs(res.x) >= _LOG_BOUND - 1e-6))
        ok = bool(res.success) and np.isfinite(res.fun) and not on_edge
        message = str(res.message) + (" (a parameter reached the edge of the search box)" if on_edge else "")
        runs.append((float(res.fun), np.asarray(res.x, float), ok, message, on_edge))

    finite = [r for r in runs if np.isfinite(r[0])]
    if not finite:
        return PriorFitNotPossible(
            reason="the likelihood could not be evaluated from any starting point: " + runs[0][3],
            n_pairs=n_pairs,
            n_star=n_star,
        )
    converged = [r for r in finite if r[2]]
    best = min(finite, key=lambda r: r[0])
    at_optimum = sum(1 for r in finite if abs(r[0] - best[0]) <= 1e-6 * max(1.0, abs(best[0])))
    prior = GammaMixturePrior.from_theta(_unpack(best[1])).canonical()
    total_w = float(w_fit.sum())
    return PriorFit(
        prior=prior,
        neg_log_likelihood=best[0] * total_w,
        converged=best[2],
        n_starts=len(runs),
        n_converged=len(converged),
        n_at_optimum=at_optimum,
        message=best[3],
        n_star=n_star,
        n_pairs=n_pairs,
        n_points=int(n_fit.size),
        squashed=is_squashed,
        at_boundary=best[4],
        truncation=truncation,
    )


# ---------------------------------------------------------------------------------------------
# Posterior
# ---------------------------------------------------------------------------------------------
def _check_scored_counts(n: npt.ArrayLike, expected: npt.ArrayLike) -> tuple[FloatArray, FloatArray]:
    n_arr, e_arr = _check_counts(n, expected)
    if np.any(n_arr < 1):
        raise ValueError("zero cells (n = 0) are never scored: drop them before computing posterior scores")
    return n_arr, e_arr


def posterior_weight(n: npt.ArrayLike, expected: npt.ArrayLike, prior: GammaMixturePrior) -> FloatArray:
    """``Q_n = P·f1(n) / (P·f1(n) + (1 − P)·f2(n))`` with untruncated NB pmfs (DuMouchel 1999)."""
    n_arr, e_arr = _check_scored_counts(n, expected)
    lf1, _, _ = _nb_log_pmf_and_grad(n_arr, e_arr, prior.alpha1, prior.beta1)
    lf2, _, _ = _nb_log_pmf_and_grad(n_arr, e_arr, prior.alpha2, prior.beta2)
    return special.expit(np.log(prior.p) + lf1 - np.log1p(-prior.p) - lf2)


def ebgm(
    n: npt.ArrayLike, expected: npt.ArrayLike, prior: GammaMixturePrior, q: FloatArray | None = None
) -> FloatArray:
    """Empirical Bayes geometric mean ``exp(E[ln λ | n])`` of the posterior mixture.

    ``EBGM = exp(Q[ψ(α1 + n) − ln(β1 + E)] + (1 − Q)[ψ(α2 + n) − ln(β2 + E)])``.
    """
    n_arr, e_arr = _check_scored_counts(n, expected)
    qn = posterior_weight(n_arr, e_arr, prior) if q is None else np.asarray(q, float)
    log1 = special.digamma(prior.alpha1 + n_arr) - np.log(prior.beta1 + e_arr)
    log2 = special.digamma(prior.alpha2 + n_arr) - np.log(prior.beta2 + e_arr)
    return np.exp(qn * log1 + (1.0 - qn) * log2)


def _mixture_cdf_pdf(
    x: FloatArray, q: FloatArray, a1: FloatArray, b1: FloatArray, a2: FloatArray, b2: FloatArray
) -> tuple[FloatArray, FloatArray]:
    cdf = q * special.gammainc(a1, b1 * x) + (1.0 - q) * special.gammainc(a2, b2 * x)

    def log_pdf(a: FloatArray, b: FloatArray) -> FloatArray:
        return a * np.log(b) + (a - 1.0) * np.log(x) - b * x - special.gammaln(a)

    pdf = q * np.exp(log_pdf(a1, b1)) + (1.0 - q) * np.exp(log_pdf(a2, b2))
    return cdf, pdf


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

    Vectorised safeguarded Newton on the mixture CDF. The root is bracketed by the two
    components' own quantiles (exact, from the inverse regularised gamma function), since the
    mixture CDF lies between the component CDFs; a Newton step that leaves the bracket is
    replaced by bisection (in log scale), so every pair converges.
    """
    if not (0.0 < prob < 1.0):
        raise ValueError("prob must be in (0, 1)")
    n_arr, e_arr = _check_scored_counts(n, expected)
    qn = posterior_weight(n_arr, e_arr, prior) if q is None else np.asarray(q, float)
    a1, b1 = prior.alpha1 + n_arr, prior.beta1 + e_arr
    a2, b2 = prior.alpha2 + n_arr, prior.beta2 + e_arr
    q1 = special.gammaincinv(a1, prob) / b1
    q2 = special.gammaincinv(a2, prob) / b2
    lo, hi = np.minimum(q1, q2), np.maximum(q1, q2)
    x = np.where(qn >= 0.5, q1, q2)
    active = hi - lo > rtol * hi
    for _ in range(max_iter):
        if not np.any(active):
            break
        idx = np.flatnonzero(active)
        xi = x[idx]
        cdf, pdf = _mixture_cdf_pdf(xi, qn[idx], a1[idx], b1[idx], a2[idx], b2[idx])
        err = cdf - prob
        below = err < 0
        lo[idx] = np.where(below, xi, lo[idx])
        hi[idx] = np.where(below, hi[idx], xi)
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            newton = xi - err / pdf
        inside = np.isfinite(newton) & (newton > lo[idx]) & (newton < hi[idx])
        bisect = np.sqrt(lo[idx] * hi[idx])
        x_new = np.where(inside, newton, bisect)
        done = (np.abs(x_new - xi) <= rtol * x_new) | (hi[idx] - lo[idx] <= rtol * hi[idx]) | (err == 0)
        x[idx] = np.where(err == 0, xi, x_new)
        active[idx] = ~done
    return x


def posterior_scores(n: npt.ArrayLike, expected: npt.ArrayLike, prior: GammaMixturePrior) -> pd.DataFrame:
    """``Q``, ``EBGM``, ``EB05`` and ``EB95`` for pairs with ``n ≥ 1`` (zero cells are refused)."""
    n_arr, e_arr = _check_scored_counts(n, expected)
    q = posterior_weight(n_arr, e_arr, prior)
    return pd.DataFrame(
        {
            "Q": q,
            "EBGM": ebgm(n_arr, e_arr, prior, q),
            "EB05": posterior_quantile(0.05, n_arr, e_arr, prior, q),
            "EB95": posterior_quantile(0.95, n_arr, e_arr, prior, q),
        }
    )
