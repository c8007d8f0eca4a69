"""DuMouchel's Gamma-Poisson Shrinker (GPS): the prior fit and the posterior scores (EBGM, EB05, EB95).

The method's steps, one module each (DuMouchel 1999, The American Statistician 53(3):177-190;
DuMouchel & Pregibon 2001, Proc. KDD '01 pp. 67-76):

1. :mod:`cer_lib.analysis.ebgm_prior`: the two-gamma prior ``P·Gamma(α1, β1) + (1 − P)·Gamma(α2, β2)``
   on a pair's relative reporting ratio λ (``n ~ Poisson(λE)``, so ``n`` is a mixture of negative
   binomials), its published values, and its α → 0 (log-series) limit;
2. :mod:`cer_lib.analysis.ebgm_fit`: the maximum-likelihood fit over the pairs with ``n ≥ N*``
   (truncated likelihood, whole-mixture or per-component), data squashing, several starts, and
   :func:`choose_prior`, which scores from the fit only when it is sound and otherwise from a
   stated fallback;
3. :mod:`cer_lib.analysis.ebgm_posterior`: the posterior weight ``Q``, ``EBGM`` and the 5 %/95 %
   points ``EB05``/``EB95`` of every pair, vectorised.

This module is the public face: import from here.
"""
from __future__ import annotations

from .ebgm_fit import (
    TRUNCATIONS,
    PriorChoice,
    PriorFit,
    PriorFitNotPossible,
    StartResult,
    Truncation,
    choose_prior,
    fit_prior,
    negative_log_likelihood,
    squash_pairs,
)
from .ebgm_posterior import ebgm, posterior_quantile, posterior_scores, posterior_weight
from .ebgm_prior import DUMOUCHEL_1999_PRIOR, DUMOUCHEL_1999_START, OPENEBGM_VIGNETTE_STARTS, GammaMixturePrior

__all__ = [
    "DUMOUCHEL_1999_PRIOR",
    "DUMOUCHEL_1999_START",
    "OPENEBGM_VIGNETTE_STARTS",
    "TRUNCATIONS",
    "GammaMixturePrior",
    "PriorChoice",
    "PriorFit",
    "PriorFitNotPossible",
    "StartResult",
    "Truncation",
    "choose_prior",
    "ebgm",
    "fit_prior",
    "negative_log_likelihood",
    "posterior_quantile",
    "posterior_scores",
    "posterior_weight",
    "squash_pairs",
]
