"""Tests of cer_lib.analysis.ebgm: DuMouchel's GPS prior fit and posterior scores.

Independent references used here:
- openEBGM's own likelihood tests (cran/openEBGM, tests/testthat/testC_Likelihoods.R): the same
  small data and theta, with the likelihood written out with gamma() and factorial();
- a likelihood written in this file from DuMouchel (1999) with scipy.stats.nbinom, minimised by
  Nelder-Mead (a different optimiser from the module's L-BFGS-B with analytic gradient);
- vigipy 3.5.1 (vigipy/GPS/GPS.py): ``non_truncated_likelihood`` and ``truncated_likelihood``
  (which truncates the whole mixture), and ``gps(prior_param=...)`` for posterior scores;
- direct numerical integration of the posterior density prior(λ)·Poisson(n | λE) (scipy quad),
  which does not use the closed forms for Q, EBGM or the gamma-mixture quantiles.
"""
from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd
import pytest
from scipy import integrate, optimize, special, stats

from cer_lib.analysis.ebgm import (
    DUMOUCHEL_1999_START,
    OPENEBGM_VIGNETTE_STARTS,
    GammaMixturePrior,
    PriorFit,
    PriorFitNotPossible,
    ebgm,
    fit_prior,
    negative_log_likelihood,
    posterior_quantile,
    posterior_scores,
    posterior_weight,
    squash_pairs,
)

TRUE_THETA = (2.0, 0.8, 20.0, 20.0, 0.15)  # component 1: mean 2.5, wide; component 2: mean 1, tight


def simulate_pairs(seed: int, n_pairs: int, theta: tuple[float, ...] = TRUE_THETA,
                   log_e_mean: float = -0.5, log_e_sd: float = 1.2) -> tuple[np.ndarray, np.ndarray]:
    """(n, E) drawn from DuMouchel's model, zero counts included."""
    rng = np.random.default_rng(seed)
    a1, b1, a2, b2, p = theta
    e = np.exp(rng.normal(log_e_mean, log_e_sd, n_pairs))
    first = rng.random(n_pairs) < p
    lam = np.where(first, rng.gamma(a1, 1 / b1, n_pairs), rng.gamma(a2, 1 / b2, n_pairs))
    return rng.poisson(lam * e).astype(float), e


# ---------------------------------------------------------------------------------------------
# Likelihood
# ---------------------------------------------------------------------------------------------
def _openebgm_manual_negll(theta, n, e, w, n_star):  # noqa: ANN001, ANN202
    """The likelihoods of openEBGM's testC_Likelihoods.R, written with gamma() and factorial()."""
    a1, b1, a2, b2, p = theta

    def f(k, alpha, beta, ei):  # noqa: ANN001, ANN202
        prob = beta / (beta + ei)
        return math.gamma(alpha + k) / (math.gamma(alpha) * math.factorial(k)) * prob**alpha * (1 - prob) ** k

    total = 0.0
    for k, ei, wi in zip(n, e, w, strict=True):
        s1 = 1 - sum(f(j, a1, b1, ei) for j in range(n_star))
        s2 = 1 - sum(f(j, a2, b2, ei) for j in range(n_star))
        total -= wi * math.log(p * f(int(k), a1, b1, ei) / s1 + (1 - p) * f(int(k), a2, b2, ei) / s2)
    return total


def test_likelihood_matches_openebgm_test_fixture() -> None:
    # cran/openEBGM tests/testthat/testC_Likelihoods.R: datN, datni and theta_hat.
    theta_hat = (0.125874, 0.13587, 1.24578, 3.01587, 0.05)
    n_big = np.array([0] * 5 + [1] * 4 + [2] * 6 + [3] * 2, dtype=float)
    e_big = np.arange(1, 18, dtype=float)
    ni = np.array([0] * 3 + [1] * 2 + [2] * 3 + [3] * 2, dtype=float)
    ei = np.arange(1, 11, dtype=float)
    wi = np.full(10, 0.1)
    # negLLzero (all counts, no truncation) and negLLzeroSquash (weights)
    assert negative_log_likelihood(theta_hat, n_big, e_big, n_star=0) == pytest.approx(
        _openebgm_manual_negll(theta_hat, n_big, e_big, np.ones(17), 0), rel=1e-12)
    assert negative_log_likelihood(theta_hat, ni, ei, wi, n_star=0) == pytest.approx(
        _openebgm_manual_negll(theta_hat, ni, ei, wi, 0), rel=1e-12)
    # negLL and negLLsquash with N_star = 2: each component divided by its own P(n >= 2)
    keep, keep_i = n_big >= 2, ni >= 2
    assert negative_log_likelihood(theta_hat, n_big[keep], e_big[keep], n_star=2) == pytest.approx(
        _openebgm_manual_negll(theta_hat, n_big[keep], e_big[keep], np.ones(keep.sum()), 2), rel=1e-12)
    assert negative_log_likelihood(theta_hat, ni[keep_i], ei[keep_i], wi[keep_i], n_star=2) == pytest.approx(
        _openebgm_manual_negll(theta_hat, ni[keep_i], ei[keep_i], wi[keep_i], 2), rel=1e-12)
    with pytest.raises(ValueError, match="N\\* = 2"):
        negative_log_likelihood(theta_hat, n_big, e_big, n_star=2)


def _negll_per_component(theta, n, e, n_star):  # noqa: ANN001, ANN202
    """DuMouchel's marginal: NB(size α, prob β/(β+E)) mixture, each component truncated at N*."""
    a1, b1, a2, b2, p = theta
    l1 = stats.nbinom.logpmf(n, a1, b1 / (b1 + e))
    l2 = stats.nbinom.logpmf(n, a2, b2 / (b2 + e))
    if n_star > 0:
        l1 = l1 - stats.nbinom.logsf(n_star - 1, a1, b1 / (b1 + e))
        l2 = l2 - stats.nbinom.logsf(n_star - 1, a2, b2 / (b2 + e))
    return -float(np.sum(np.logaddexp(np.log(p) + l1, np.log1p(-p) + l2)))


def _negll_whole_mixture(theta, n, e, n_star):  # noqa: ANN001, ANN202
    """The mixture pmf divided by the mixture's P(n >= N*) (what vigipy implements)."""
    a1, b1, a2, b2, p = theta
    mix = np.logaddexp(np.log(p) + stats.nbinom.logpmf(n, a1, b1 / (b1 + e)),
                       np.log1p(-p) + stats.nbinom.logpmf(n, a2, b2 / (b2 + e)))
    surv = p * stats.nbinom.sf(n_star - 1, a1, b1 / (b1 + e)) + (1 - p) * stats.nbinom.sf(n_star - 1, a2, b2 / (b2 + e))
    return -float(np.sum(mix - np.log(surv)))


def _canonical(theta) -> np.ndarray:  # noqa: ANN001
    a1, b1, a2, b2, p = theta
    return np.array(theta if a1 / b1 >= a2 / b2 else (a2, b2, a1, b1, 1 - p), dtype=float)


def _nelder_mead(objective, starts) -> tuple[np.ndarray, float]:  # noqa: ANN001
    """Minimise over (log α1, log β1, log α2, log β2, logit P) from several starts.

    The box |x| <= 10 keeps α and β below ~2e4: beyond ~1e12, lgamma(n + α) − lgamma(α) loses
    all precision in double arithmetic (scipy.stats.nbinom included) and an unbounded simplex
    walks into spurious "optima" made of rounding error.
    """
    def to_theta(x):  # noqa: ANN001, ANN202
        return np.r_[np.exp(x[:4]), special.expit(x[4])]

    best = None
    for start in starts:
        x0 = np.r_[np.log(start[:4]), special.logit(start[4])]
        res = optimize.minimize(lambda x: objective(to_theta(x)), x0, method="Nelder-Mead",
                                bounds=[(-10.0, 10.0)] * 5,
                                options={"maxiter": 8000, "maxfev": 8000, "xatol": 1e-8,
                                         "fatol": 1e-9, "adaptive": True})
        if best is None or res.fun < best.fun:
            best = res
    return _canonical(to_theta(best.x)), float(best.fun)


NM_STARTS = [DUMOUCHEL_1999_START, OPENEBGM_VIGNETTE_STARTS[0]]


@pytest.mark.parametrize("n_star", [1, 2])
def test_fit_agrees_with_independent_likelihood_and_optimiser(n_star: int) -> None:
    n, e = simulate_pairs(seed=21, n_pairs=2500)
    keep = n >= n_star
    fit = fit_prior(n[keep], e[keep], n_star=n_star, squash=False)
    assert isinstance(fit, PriorFit) and fit.converged and fit.n_star == n_star
    theta_nm, nll_nm = _nelder_mead(lambda t: _negll_per_component(t, n[keep], e[keep], n_star), NM_STARTS)
    # same function: the module's value equals the scipy.stats one at the optimum
    independent = _negll_per_component(fit.prior.theta, n[keep], e[keep], n_star)
    assert fit.neg_log_likelihood == pytest.approx(independent, rel=1e-10)
    # same optimum: no worse than Nelder-Mead's, and the same parameters
    assert fit.neg_log_likelihood <= nll_nm + 1e-6
    np.testing.assert_allclose(fit.prior.theta, theta_nm, rtol=2e-3)


def test_untruncated_fit_agrees_with_vigipy_likelihood() -> None:
    # With zero counts included and no truncation (N* = 0, openEBGM's negLLzero) per-component
    # and whole-mixture truncation are the same likelihood, so vigipy's non_truncated_likelihood
    # must have the same optimum. vigipy adds 1e-7 to every mixture pmf (GPS.py), which moves
    # its optimum by ~1e-3 relative; hence the tolerance.
    from vigipy.GPS.GPS import non_truncated_likelihood

    n, e = simulate_pairs(seed=22, n_pairs=3000)
    fit = fit_prior(n, e, n_star=0, squash=False)
    assert isinstance(fit, PriorFit) and fit.converged
    theta_v, nll_v = _nelder_mead(lambda t: non_truncated_likelihood(t, n, e), NM_STARTS)
    np.testing.assert_allclose(fit.prior.theta, theta_v, rtol=1e-2)
    assert non_truncated_likelihood(np.array(fit.prior.theta), n, e) == pytest.approx(nll_v, abs=0.05)
    theta_own, nll_own = _nelder_mead(lambda t: _negll_per_component(t, n, e, 0), NM_STARTS)
    assert fit.neg_log_likelihood <= nll_own + 1e-6
    np.testing.assert_allclose(fit.prior.theta, theta_own, rtol=2e-3)


def test_per_component_and_whole_mixture_truncation_have_different_optima() -> None:
    """The known difference between openEBGM/PhViD and vigipy.

    openEBGM (negLL, negLLsquash; cran/openEBGM R/f_likelihoodEqs.R) and PhViD
    (.likTronc2NB; cran/PhViD R/GPS.R) divide *each* component's NB pmf by its own P(n >= N*)
    before mixing: L = P f1/S1 + (1-P) f2/S2. vigipy's truncated_likelihood divides the
    mixture by the mixture's P(n >= N*): L = (P f1 + (1-P) f2)/(P S1 + (1-P) S2). Since S1 and
    S2 differ (they depend on α, β and E), these are different likelihoods, so the maximum
    likelihood estimates differ on the same data even at N* = 1. (The whole-mixture form is the
    exact conditional likelihood of DuMouchel's model given n >= N*; the per-component form
    is the one of DuMouchel & Pregibon 2001 and openEBGM, which this module follows.)
    """
    from vigipy.GPS.GPS import truncated_likelihood

    n, e = simulate_pairs(seed=23, n_pairs=4000)
    keep = n >= 1
    n1, e1 = n[keep], e[keep]
    # vigipy computes the whole-mixture form (its `truncate` argument is N* - 1)
    rng = np.random.default_rng(0)
    for _ in range(5):
        theta = np.r_[np.exp(rng.uniform(-1.5, 2.5, 4)), rng.uniform(0.05, 0.95)]
        assert truncated_likelihood(theta, n1, e1, 0) == pytest.approx(_negll_whole_mixture(theta, n1, e1, 1), rel=1e-9)
        assert negative_log_likelihood(theta, n1, e1, n_star=1) == pytest.approx(
            _negll_per_component(theta, n1, e1, 1), rel=1e-10)
    fit = fit_prior(n1, e1, n_star=1, squash=False)
    assert isinstance(fit, PriorFit) and fit.converged
    theta_pc = np.array(fit.prior.theta)
    theta_wm, nll_wm = _nelder_mead(lambda t: truncated_likelihood(t, n1, e1, 0), NM_STARTS)
    # each optimum is clearly not the other's (optimiser tolerance is ~1e-6 here)
    assert negative_log_likelihood(theta_wm, n1, e1, n_star=1) - fit.neg_log_likelihood > 0.5
    assert truncated_likelihood(theta_pc, n1, e1, 0) - nll_wm > 0.5
    # (on these data: 1.1 and 1.6 log-likelihood units; alpha1 2.32 vs 2.11, P 0.121 vs 0.106)
    assert np.max(np.abs(theta_pc - theta_wm) / theta_wm) > 0.05
    # and where they should agree, they do: the module's whole-mixture option reaches the optimum
    # of vigipy's likelihood found by Nelder-Mead
    whole = fit_prior(n1, e1, n_star=1, squash=False, truncation="whole-mixture")
    assert isinstance(whole, PriorFit) and whole.converged and whole.truncation == "whole-mixture"
    assert whole.neg_log_likelihood <= nll_wm + 1e-6
    vigipy_value = truncated_likelihood(np.array(whole.prior.theta), n1, e1, 0)
    assert vigipy_value == pytest.approx(whole.neg_log_likelihood, rel=1e-10)
    np.testing.assert_allclose(whole.prior.theta, theta_wm, rtol=2e-3)


def test_per_component_truncation_can_run_to_the_boundary() -> None:
    """A documented behaviour of per-component truncation, reported by the fit.

    On pairs simulated from DuMouchel's (1999) published prior (alpha1 = 0.2041, beta1 =
    0.05816, alpha2 = 1.415, beta2 = 1.838, P = 0.0969: vigipy's prior_init, which PhViD's
    man/GPS.Rd gives rounded as "the prior parameters found in DuMouchel (1999)") with the
    zero counts unobserved, the per-component likelihood keeps increasing as the small-alpha
    component's alpha -> 0 (a truncated NB(alpha, p) tends to a log-series distribution, still a
    proper distribution on n >= 1), so its maximum is a limit. The fit says so (at_boundary,
    not converged); the whole-mixture likelihood has an interior maximum near the truth.
    """
    n, e = simulate_pairs(seed=26, n_pairs=100000, theta=DUMOUCHEL_1999_START,
                          log_e_mean=-2.5, log_e_sd=1.8)
    keep = n >= 1
    per_component = fit_prior(n[keep], e[keep], n_starts=4)
    whole = fit_prior(n[keep], e[keep], n_starts=4, truncation="whole-mixture")
    assert isinstance(per_component, PriorFit) and isinstance(whole, PriorFit)
    assert per_component.at_boundary and not per_component.converged
    assert min(per_component.prior.alpha1, per_component.prior.alpha2) < 1e-4
    assert "edge" in per_component.message
    assert whole.converged and not whole.at_boundary
    # component 1 (larger mean) of the whole-mixture fit is near DuMouchel's mean 0.2041/0.05816
    assert whole.prior.alpha1 / whole.prior.beta1 == pytest.approx(0.2041 / 0.05816, rel=0.4)
    assert whole.prior.alpha2 / whole.prior.beta2 == pytest.approx(1.415 / 1.838, rel=0.1)


# ---------------------------------------------------------------------------------------------
# Squashing
# ---------------------------------------------------------------------------------------------
def test_squashing_preserves_counts_weights_and_the_fit() -> None:
    n, e = simulate_pairs(seed=24, n_pairs=15000)
    keep = n >= 1
    n1, e1 = n[keep], e[keep]
    squashed = squash_pairs(n1, e1, super_points=200, keep_points=50)
    assert len(squashed) < len(n1) / 2
    assert squashed["weight"].sum() == len(n1)
    per_n = squashed.groupby("n")["weight"].sum()
    assert per_n.to_dict() == pd.Series(n1).value_counts().sort_index().astype(float).to_dict()
    # the weighted mean of E is preserved within each count
    sums = squashed.assign(we=squashed["E"] * squashed["weight"]).groupby("n")["we"].sum()
    np.testing.assert_allclose(sums.to_numpy(), pd.Series(e1).groupby(n1).sum().to_numpy(), rtol=1e-10)
    # counts with few pairs are not squashed
    big_n = squashed[squashed["n"] >= 20]
    assert (big_n["weight"] == 1).all()

    full = fit_prior(n1, e1, squash=False, n_starts=2)
    fast = fit_prior(n1, e1, squash=True, n_starts=2)
    assert isinstance(full, PriorFit) and isinstance(fast, PriorFit)
    assert fast.squashed and fast.n_points < full.n_points
    # the squashed optimum is (almost) optimal for the full data
    assert negative_log_likelihood(fast.prior, n1, e1, n_star=1) - full.neg_log_likelihood < 1.0
    scores_full = posterior_scores(n1, e1, full.prior)
    scores_fast = posterior_scores(n1, e1, fast.prior)
    np.testing.assert_allclose(scores_fast["EBGM"], scores_full["EBGM"], rtol=2e-2)


# ---------------------------------------------------------------------------------------------
# Posterior
# ---------------------------------------------------------------------------------------------
PRIOR = GammaMixturePrior(*DUMOUCHEL_1999_START)
CASES = [(1, 0.01), (1, 2.0), (3, 0.2), (10, 1.5), (50, 60.0), (400, 35.0)]


def _posterior_by_quadrature(prior: GammaMixturePrior, n: int, e: float) -> tuple[float, float, float]:
    """EBGM, EB05, EB95 from the density prior(λ)·λ^n·exp(−λE), integrated numerically."""
    def log_gamma_pdf(lam: float, alpha: float, beta: float) -> float:
        return alpha * math.log(beta) + (alpha - 1) * math.log(lam) - beta * lam - math.lgamma(alpha)

    def log_prior(lam: float) -> float:
        l1 = math.log(prior.p) + log_gamma_pdf(lam, prior.alpha1, prior.beta1)
        l2 = math.log1p(-prior.p) + log_gamma_pdf(lam, prior.alpha2, prior.beta2)
        top = max(l1, l2)
        return top + math.log(math.exp(l1 - top) + math.exp(l2 - top))

    # integrate in u = log λ over where the unnormalised log density is within 60 of its maximum
    def log_dens_u(u: float) -> float:
        lam = math.exp(u)
        return log_prior(lam) + n * u - lam * e + u

    grid = np.linspace(-25, 12, 4001)
    vals = np.array([log_dens_u(u) for u in grid])
    shift = vals.max()
    support = grid[vals > shift - 60]
    lo, hi = support.min(), support.max()

    def dens(u: float) -> float:
        return math.exp(log_dens_u(u) - shift)

    opts = {"epsabs": 0.0, "epsrel": 1e-12, "limit": 500}
    total = integrate.quad(dens, lo, hi, **opts)[0]
    mean_log = integrate.quad(lambda u: u * dens(u), lo, hi, **opts)[0] / total

    def cdf(x: float) -> float:
        return integrate.quad(dens, lo, math.log(x), **opts)[0] / total

    q05 = optimize.brentq(lambda x: cdf(x) - 0.05, math.exp(lo), math.exp(hi), xtol=1e-14, rtol=1e-12)
    q95 = optimize.brentq(lambda x: cdf(x) - 0.95, math.exp(lo), math.exp(hi), xtol=1e-14, rtol=1e-12)
    return math.exp(mean_log), q05, q95


@pytest.mark.parametrize(("n", "e"), CASES)
def test_posterior_scores_match_numerical_integration(n: int, e: float) -> None:
    scores = posterior_scores(np.array([n]), np.array([e]), PRIOR).iloc[0]
    ebgm_q, eb05_q, eb95_q = _posterior_by_quadrature(PRIOR, n, e)
    assert scores["EBGM"] == pytest.approx(ebgm_q, rel=1e-6)
    assert scores["EB05"] == pytest.approx(eb05_q, rel=1e-6)
    assert scores["EB95"] == pytest.approx(eb95_q, rel=1e-6)
    assert scores["EB05"] < scores["EBGM"] < scores["EB95"]


def test_posterior_scores_match_vigipy() -> None:
    from vigipy.GPS.GPS import gps
    from vigipy.utils.Container import DataContainer

    n = np.array([1, 1, 2, 3, 5, 8, 13, 40, 120], dtype=float)
    row = np.array([50, 400, 30, 800, 60, 900, 100, 2000, 5000], dtype=float)
    col = np.array([20, 10, 300, 40, 90, 15, 700, 300, 600], dtype=float)
    total = 20000
    e = row * col / total
    data = pd.DataFrame({"events": n, "product_aes": row, "count_across_brands": col,
                         "ae_name": [f"T{i}" for i in range(9)], "product_name": [f"P{i}" for i in range(9)]})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = gps(DataContainer(data=data, N=total), prior_param=list(PRIOR.theta), min_events=1,
                  decision_metric="rank", decision_thres=1.0).all_signals
    ref = ref.set_index("Adverse Event").loc[[f"T{i}" for i in range(9)]]
    ours = posterior_scores(n, e, PRIOR)
    np.testing.assert_allclose(ours["EBGM"], ref["EBGM"], rtol=1e-7)
    # vigipy bisects the mixture CDF to |F - p| < 1e-5 only
    np.testing.assert_allclose(ours["EB05"], ref["LowerBound"], rtol=1e-3)
    np.testing.assert_allclose(ours["EB95"], ref["UpperBound"], rtol=1e-3)


def test_posterior_quantile_is_robust_at_extremes() -> None:
    n = np.array([1, 1, 100000, 5, 2, 30], dtype=float)
    e = np.array([1e-9, 1e4, 1e5, 5.0, 1e-4, 0.02])
    prior = GammaMixturePrior(0.05, 0.01, 50.0, 50.0, 0.001)
    q = posterior_weight(n, e, prior)
    for prob in (0.05, 0.5, 0.95):
        x = posterior_quantile(prob, n, e, prior)
        cdf = q * stats.gamma.cdf(x, prior.alpha1 + n, scale=1 / (prior.beta1 + e)) + (1 - q) * stats.gamma.cdf(
            x, prior.alpha2 + n, scale=1 / (prior.beta2 + e))
        np.testing.assert_allclose(cdf, prob, atol=1e-9)
    scores = posterior_scores(n, e, prior)
    assert (scores["EB05"] <= scores["EBGM"]).all() and (scores["EBGM"] <= scores["EB95"]).all()
    assert np.isfinite(scores.to_numpy()).all()


def test_zero_cells_are_never_scored() -> None:
    with pytest.raises(ValueError, match="zero cells"):
        posterior_scores(np.array([0.0, 1.0]), np.array([1.0, 1.0]), PRIOR)
    with pytest.raises(ValueError, match="zero cells"):
        ebgm(np.array([0.0]), np.array([1.0]), PRIOR)


def test_crude_ratio_is_not_ebgm() -> None:
    # REFERENCE.md: "EBGM = a*N/((a+b)(a+c))" is the crude observed/expected ratio, not EBGM;
    # for one report against E = 0.01 the crude ratio is 100, EBGM shrinks it strongly.
    value = float(ebgm(np.array([1.0]), np.array([0.01]), PRIOR)[0])
    assert value < 20 and value != pytest.approx(100.0)


# ---------------------------------------------------------------------------------------------
# Fit reporting and refusal
# ---------------------------------------------------------------------------------------------
def test_fit_reports_what_an_auditor_needs() -> None:
    n, e = simulate_pairs(seed=25, n_pairs=2000)
    fit = fit_prior(n[n >= 1], e[n >= 1], n_starts=6, random_seed=3)
    assert isinstance(fit, PriorFit)
    assert fit.n_starts == 6 and 1 <= fit.n_converged <= 6 and 1 <= fit.n_at_optimum <= 6
    assert fit.converged and isinstance(fit.message, str) and fit.message
    assert fit.n_pairs == int((n >= 1).sum()) and fit.truncation == "per-component"
    p = fit.prior
    assert p.alpha1 / p.beta1 >= p.alpha2 / p.beta2  # component 1 has the larger mean
    d = fit.to_dict()
    assert set(d["prior"]) == {"alpha1", "beta1", "alpha2", "beta2", "p"} and d["possible"] is True
    # the same seed gives the same fit
    again = fit_prior(n[n >= 1], e[n >= 1], n_starts=6, random_seed=3)
    assert again.prior == fit.prior


def test_fit_not_possible_is_a_typed_result() -> None:
    few = fit_prior(np.array([1.0, 2.0, 1.0]), np.array([0.5, 0.2, 1.0]))
    assert isinstance(few, PriorFitNotPossible) and not few.possible
    assert "only 3" in few.reason and few.to_dict()["possible"] is False
    flat = fit_prior(np.ones(50), np.full(50, 0.3))
    assert isinstance(flat, PriorFitNotPossible) and "identifiable" in flat.reason
    # pairs below N* do not count towards the minimum
    n = np.r_[np.ones(40), np.full(5, 3.0)]
    assert isinstance(fit_prior(n, np.full(45, 0.5), n_star=2), PriorFitNotPossible)


def test_prior_validates_its_parameters() -> None:
    with pytest.raises(ValueError):
        GammaMixturePrior(0.0, 1.0, 1.0, 1.0, 0.5)
    with pytest.raises(ValueError):
        GammaMixturePrior(1.0, 1.0, 1.0, 1.0, 1.0)
    swapped = GammaMixturePrior(1.0, 1.0, 4.0, 1.0, 0.3).canonical()
    assert swapped.theta == (4.0, 1.0, 1.0, 1.0, pytest.approx(0.7))


# ---------------------------------------------------------------------------------------------
# Issue 10: the alpha2 -> 0 limit, start spread, grid squashing, the fallback prior
# ---------------------------------------------------------------------------------------------
def _planted_pairs(n_pairs: int) -> tuple[np.ndarray, np.ndarray]:
    """(n, E) of the issue-10 generator's table of ``n_pairs`` pairs (one report per row)."""
    import planted_signals

    rows = planted_signals.report_rows(n_pairs)
    key = rows.product_rank.astype(np.int64) * planted_signals.N_TERMS + rows.term_rank
    pairs, n = np.unique(key, return_counts=True)
    n_product = np.bincount(rows.product_rank.astype(np.int64), minlength=planted_signals.N_PRODUCTS)
    n_term = np.bincount(rows.term_rank.astype(np.int64), minlength=planted_signals.N_TERMS)
    e = n_product[pairs // planted_signals.N_TERMS] * n_term[pairs % planted_signals.N_TERMS] / rows.n_rows
    return n.astype(float), e


def _negll_limit_scipy(prior: GammaMixturePrior, n: np.ndarray, e: np.ndarray, w: np.ndarray, n_star: int) -> float:
    """The whole-mixture likelihood in the alpha2 -> 0 limit, from scipy.stats (nbinom, logser).

    As alpha2 -> 0 with P/alpha2 -> r, P*f1 + (1-P)*f2 -> r*f1(n) + q^n/n and P*S1 + (1-P)*S2 ->
    r*S1 + sum_{k >= N*} q^k/k, with q = E/(beta2 + E); q^n/n = -ln(1-q)*logser.pmf(n, q).
    """
    r = prior.limit_ratio
    q = e / (prior.beta2 + e)
    log_norm = -np.log1p(-q)  # -ln(1 - q) = sum_k q^k/k
    f1 = stats.nbinom.pmf(n, prior.alpha1, prior.beta1 / (prior.beta1 + e))
    s1 = stats.nbinom.sf(n_star - 1, prior.alpha1, prior.beta1 / (prior.beta1 + e))
    num = r * f1 + log_norm * stats.logser.pmf(n, q)
    den = r * s1 + log_norm * stats.logser.sf(n_star - 1, q)
    return -float(np.sum(w * np.log(num / den)))


@pytest.mark.parametrize("n_star", [1, 2])
def test_limit_likelihood_matches_scipy_logseries(n_star: int) -> None:
    n, e = simulate_pairs(seed=30, n_pairs=3000)
    keep = n >= n_star
    w = np.random.default_rng(1).uniform(0.5, 2.0, keep.sum())
    prior = GammaMixturePrior(40.0, 42.0, 0.0, 0.003, 0.0, limit_ratio=2500.0)
    ours = negative_log_likelihood(prior, n[keep], e[keep], w, n_star=n_star, truncation="whole-mixture")
    assert ours == pytest.approx(_negll_limit_scipy(prior, n[keep], e[keep], w, n_star), rel=1e-9)
    # and it is the limit of the interior priors: alpha2 -> 0 with P = limit_ratio * alpha2
    for alpha2 in (1e-4, 1e-6, 1e-8):
        interior = GammaMixturePrior(40.0, 42.0, alpha2, 0.003, 2500.0 * alpha2)
        gap = negative_log_likelihood(interior, n[keep], e[keep], w, n_star=n_star, truncation="whole-mixture") - ours
        assert abs(gap) < 2e3 * alpha2 * keep.sum()


def test_whole_mixture_fit_is_interior_on_small_planted_tables() -> None:
    # the same generator at 10,000 pairs: an interior optimum, found by every start
    n, e = _planted_pairs(10_000)
    fit = fit_prior(n, e, truncation="whole-mixture", n_starts=4, squash=False)
    assert isinstance(fit, PriorFit) and fit.converged and fit.limit is None and not fit.at_boundary
    assert fit.prior.alpha2 > 0 and 0 < fit.prior.p < 1 and fit.n_at_optimum == 4
    # Nelder-Mead on vigipy's likelihood (whole-mixture), started next to the estimate, finds no better point
    from vigipy.GPS.GPS import truncated_likelihood

    nudged = np.r_[np.array(fit.prior.theta[:4]) * 1.05, fit.prior.p]
    _, nll_nm = _nelder_mead(lambda t: truncated_likelihood(t, n, e, 0), [nudged])
    assert fit.neg_log_likelihood <= nll_nm + 1e-3


def test_whole_mixture_fit_reaches_the_log_series_limit_on_planted_data() -> None:
    """Issue 10, the boundary case: on FAERS-like data the likelihood's supremum is alpha2 -> 0.

    Before issue 10 the fit ended at its search box's edge (alpha2 = e^-12), reported "not
    converged", and scored from that box-edge point. Now the limit is the estimate: alpha2 = 0
    exactly with P/alpha2 -> limit_ratio, every start ends there, and it is an optimum of the limit
    model (Nelder-Mead on the scipy-written limit likelihood finds nothing better) and better than
    any interior point along the way to it.
    """
    n, e = _planted_pairs(100_000)
    fit = fit_prior(n, e, truncation="whole-mixture", n_starts=6)
    assert isinstance(fit, PriorFit)
    assert fit.converged and not fit.at_boundary and fit.limit is not None and "log-series" in fit.limit
    p = fit.prior
    assert p.alpha2 == 0.0 and p.p == 0.0 and p.limit_ratio > 0 and p.is_limit
    assert fit.n_at_optimum == 6 and len(fit.starts) == 6 and all(s.limit for s in fit.starts)
    assert 0.0 <= fit.neg_log_likelihood_spread < 1e-3
    print(f"limit prior alpha1={p.alpha1:.4g} beta1={p.beta1:.4g} beta2={p.beta2:.4g} P/alpha2={p.limit_ratio:.4g}; "
          f"spread over 6 starts {fit.neg_log_likelihood_spread:.2g}")
    # the likelihood at the estimate, written independently with scipy.stats, on all 100,000 pairs
    ours = negative_log_likelihood(p, n, e, truncation="whole-mixture")
    assert ours == pytest.approx(_negll_limit_scipy(p, n, e, np.ones_like(n), 1), rel=1e-9)
    # an optimum of the limit model on the points the fit saw (the grid-squashed pairs)
    squashed = squash_pairs(n, e, grid=0.05)
    sn, se, sw = (squashed[k].to_numpy(float) for k in ("n", "E", "weight"))
    assert negative_log_likelihood(p, sn, se, sw, truncation="whole-mixture") == pytest.approx(fit.neg_log_likelihood, rel=1e-12)

    def limit_objective(z: np.ndarray) -> float:
        a1, b1, b2, r = np.exp(z)
        return negative_log_likelihood(GammaMixturePrior(a1, b1, 0.0, b2, 0.0, limit_ratio=r), sn, se, sw,
                                       truncation="whole-mixture")

    z0 = np.log([p.alpha1, p.beta1, p.beta2, p.limit_ratio])
    res = optimize.minimize(limit_objective, z0 + 0.05, method="Nelder-Mead",
                            options={"maxiter": 4000, "xatol": 1e-9, "fatol": 1e-9, "adaptive": True})
    assert fit.neg_log_likelihood <= res.fun + 1e-4
    for alpha2 in (1e-4, 1e-5, 1e-6):  # interior points approaching the limit (P = ratio * alpha2) are worse
        interior = GammaMixturePrior(p.alpha1, p.beta1, alpha2, p.beta2, p.limit_ratio * alpha2)
        assert negative_log_likelihood(interior, sn, se, sw, truncation="whole-mixture") > fit.neg_log_likelihood
    # the posterior of the limit prior is proper: the limit component's posterior is Gamma(n, beta2 + E)
    scores = posterior_scores(n[:2000], e[:2000], p)
    assert np.isfinite(scores.to_numpy()).all() and (scores["EB05"] < scores["EB95"]).all()
    q = posterior_weight(np.array([3.0]), np.array([0.4]), p)[0]
    direct = p.limit_ratio * stats.nbinom.pmf(3, p.alpha1, p.beta1 / (p.beta1 + 0.4))
    limit_term = (0.4 / (p.beta2 + 0.4)) ** 3 / 3
    assert q == pytest.approx(direct / (direct + limit_term), rel=1e-10)


def test_grid_squashing_preserves_counts_and_the_fit() -> None:
    n, e = simulate_pairs(seed=31, n_pairs=60000, log_e_sd=2.0)
    keep = n >= 1
    n1, e1 = n[keep], e[keep]
    squashed = squash_pairs(n1, e1, grid=0.05)
    assert len(squashed) < len(n1) / 5
    assert squashed["weight"].sum() == len(n1)
    np.testing.assert_allclose((squashed["n"] * squashed["weight"]).sum(), n1.sum(), rtol=1e-12)
    np.testing.assert_allclose((squashed["E"] * squashed["weight"]).sum(), e1.sum(), rtol=1e-12)
    small = squashed[squashed["n"] <= 50]
    assert small.groupby("n")["weight"].sum().to_dict() == pd.Series(n1[n1 <= 50]).value_counts().astype(float).to_dict()
    assert np.all(np.diff(np.log(small[small["n"] == 1]["E"].to_numpy())) > 0)  # one point per occupied cell
    full = fit_prior(n1, e1, squash=False, n_starts=2, truncation="whole-mixture")
    fast = fit_prior(n1, e1, squash=True, n_starts=2, truncation="whole-mixture")
    assert isinstance(full, PriorFit) and isinstance(fast, PriorFit) and fast.squashed
    loss = negative_log_likelihood(fast.prior, n1, e1, truncation="whole-mixture") - full.neg_log_likelihood
    print(f"grid squashing: {len(n1)} pairs -> {fast.n_points} points; log-likelihood lost {loss:.3f}")
    assert 0 <= loss < 1.0
    np.testing.assert_allclose(posterior_scores(n1, e1, fast.prior)["EBGM"], posterior_scores(n1, e1, full.prior)["EBGM"], rtol=2e-2)


def test_choose_prior_scores_only_from_a_sound_fit() -> None:
    from cer_lib.analysis.ebgm import DUMOUCHEL_1999_PRIOR, choose_prior

    few = fit_prior(np.array([1.0, 2.0, 1.0]), np.array([0.5, 0.2, 1.0]), min_pairs=300)
    chosen = choose_prior(few, "dumouchel-1999")
    assert chosen.source == "fixed: DuMouchel 1999" and chosen.prior == DUMOUCHEL_1999_PRIOR
    assert DUMOUCHEL_1999_PRIOR.theta == DUMOUCHEL_1999_START and "only 3" in chosen.reason
    none = choose_prior(few, "none")
    assert none.prior is None and "not estimable" in none.reason
    # a per-component fit at the box edge (DuMouchel's prior, zero counts unobserved; see above)
    n, e = simulate_pairs(seed=26, n_pairs=20000, theta=DUMOUCHEL_1999_START, log_e_mean=-2.5, log_e_sd=1.8)
    edge = fit_prior(n[n >= 1], e[n >= 1], n_starts=2, truncation="per-component")
    assert isinstance(edge, PriorFit) and edge.at_boundary
    assert choose_prior(edge, "dumouchel-1999").source == "fixed: DuMouchel 1999"
    interior = fit_prior(*simulate_pairs(seed=21, n_pairs=2500), n_star=0, n_starts=2)
    assert choose_prior(interior, "none").source == "fitted"
