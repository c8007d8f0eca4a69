"""DuMouchel's two-gamma prior, its published values, and the negative binomial it implies.

Given a pair's relative reporting ratio ``λ`` its count is ``n ~ Poisson(λ E)``; the prior is

    λ ~ P·Gamma(α1, β1) + (1 − P)·Gamma(α2, β2)          (rate parametrisation, mean α/β)

so ``n`` is marginally a mixture of negative binomials ``NB(size α, prob p = β/(β + E))``
(DuMouchel 1999, The American Statistician 53:177-190).

**The α → 0 limit.** As a component's ``α → 0`` its pmf vanishes for ``n ≥ 1`` like ``α·g(n)``
with ``g(n) = Γ(n + α)/(Γ(α + 1)·n!)·p^α·(1 − p)^n → (1 − p)^n/n``, and its probability of a
count ``≥ 1`` like ``α·(−ln p)``: given ``n ≥ 1`` the component is a log-series distribution,
and the prior ``Gamma(α, β)`` tends to the improper scale prior ``λ⁻¹·e^(−βλ)``. A fit whose
likelihood keeps rising as ``α2 → 0`` has its supremum there; this module represents that limit
exactly: ``alpha2 = 0``, ``p = 0`` and ``limit_ratio = lim P/α2`` (the weights of the two
components among pairs with ``n ≥ 1`` stay finite). Posterior scores of such a prior are proper:
the limit component's posterior is ``Gamma(n, β2 + E)``.

The functions here are the building blocks every likelihood and posterior in the package uses:
``log g`` and ``log T`` (``T = P(n ≥ N*)/α``), both smooth down to ``α = 0``, with their
derivatives in ``log α`` and ``log β``.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy import special

__all__ = [
    "DUMOUCHEL_1999_PRIOR",
    "DUMOUCHEL_1999_START",
    "OPENEBGM_VIGNETTE_STARTS",
    "Counts",
    "GammaMixturePrior",
    "log_g",
    "log_g_and_grad",
    "log_t_and_grad",
]

FloatArray = npt.NDArray[np.float64]

#: vigipy's default ``prior_init``; PhViD's ``PRIOR.INIT`` is the same rounded to
#: (0.2, 0.06, 1.4, 1.8, 0.1), "the prior parameters found in DuMouchel (1999)" (PhViD man/GPS.Rd).
DUMOUCHEL_1999_START: tuple[float, float, float, float, float] = (0.2041, 0.05816, 1.415, 1.838, 0.0969)
#: The starting points of openEBGM's hyperparameter vignette (``theta_init`` for ``autoHyper``).
OPENEBGM_VIGNETTE_STARTS: tuple[tuple[float, float, float, float, float], ...] = (
    (0.2, 0.1, 2.0, 4.0, 1 / 3),
    (0.1, 0.2, 10.0, 10.0, 0.2),
    (0.3, 0.5, 6.0, 6.0, 0.5),
)


@dataclass(frozen=True)
class GammaMixturePrior:
    """The hyperparameters θ of DuMouchel's prior ``P·Gamma(α1, β1) + (1 − P)·Gamma(α2, β2)``.

    Gammas use the rate parametrisation (mean α/β). Component 1 is the one with the larger prior
    mean, as in DuMouchel (1999) (:meth:`canonical`). In the α2 → 0 limit (module docstring)
    ``alpha2 = p = 0`` and ``limit_ratio`` holds ``lim P/α2``; otherwise ``limit_ratio`` is None.
    """

    alpha1: float
    beta1: float
    alpha2: float
    beta2: float
    p: float
    limit_ratio: float | None = None

    def __post_init__(self) -> None:
        if not all(np.isfinite(v) and v > 0 for v in (self.alpha1, self.beta1, self.beta2)):
            raise ValueError(f"alpha1, beta1 and beta2 must be finite and > 0, got {self.theta}")
        if self.is_limit:
            if self.p != 0.0 or not (self.limit_ratio is not None and math.isfinite(self.limit_ratio) and self.limit_ratio > 0):
                raise ValueError("in the alpha2 -> 0 limit p must be 0 and limit_ratio = lim P/alpha2 finite and > 0")
            return
        if not (np.isfinite(self.alpha2) and self.alpha2 > 0):
            raise ValueError(f"alpha2 must be finite and > 0 (or 0 for the log-series limit), got {self.alpha2}")
        if not (0.0 < self.p < 1.0):
            raise ValueError(f"the mixture weight P must be in (0, 1), got {self.p}")
        if self.limit_ratio is not None:
            raise ValueError("limit_ratio is only for the alpha2 -> 0 limit")

    @classmethod
    def from_theta(cls, theta: npt.ArrayLike) -> GammaMixturePrior:
        """Build from ``θ = (α1, β1, α2, β2, P)`` (openEBGM's order)."""
        a1, b1, a2, b2, p = (float(v) for v in np.asarray(theta, dtype=float))
        return cls(a1, b1, a2, b2, p)

    @property
    def theta(self) -> tuple[float, float, float, float, float]:
        """``(α1, β1, α2, β2, P)``."""
        return (self.alpha1, self.beta1, self.alpha2, self.beta2, self.p)

    @property
    def is_limit(self) -> bool:
        """Component 2 is the α → 0 limit (an improper scale prior; a log-series given n ≥ 1)."""
        return self.alpha2 == 0.0

    @property
    def log_observed_odds(self) -> float:
        """``ln(P·α1 / ((1 − P)·α2))``: the odds of component 1 in the weights that multiply ``g``.

        ``P·f1(n) / ((1 − P)·f2(n)) = exp(log_observed_odds)·g1(n)/g2(n)`` for ``n ≥ 1``; finite in
        the α2 → 0 limit, where it is ``ln(limit_ratio·α1)``.
        """
        if self.is_limit:
            assert self.limit_ratio is not None
            return math.log(self.limit_ratio * self.alpha1)
        return math.log(self.p) + math.log(self.alpha1) - math.log1p(-self.p) - math.log(self.alpha2)

    def canonical(self) -> GammaMixturePrior:
        """The same prior with component 1 the one of larger mean α/β (the labels are exchangeable)."""
        if self.is_limit or self.alpha1 / self.beta1 >= self.alpha2 / self.beta2:
            return self
        return GammaMixturePrior(self.alpha2, self.beta2, self.alpha1, self.beta1, 1.0 - self.p)

    def to_dict(self) -> dict[str, float]:
        """``alpha1, beta1, alpha2, beta2, p``, and ``limit_ratio`` for a limit prior."""
        out = {"alpha1": self.alpha1, "beta1": self.beta1, "alpha2": self.alpha2, "beta2": self.beta2, "p": self.p}
        return out | ({"limit_ratio": self.limit_ratio} if self.limit_ratio is not None else {})


#: DuMouchel's (1999) published estimates as a prior (the fixed fallback for small families).
DUMOUCHEL_1999_PRIOR = GammaMixturePrior(*DUMOUCHEL_1999_START)


# ---------------------------------------------------------------------------------------------
# Building blocks: log g and log T, smooth down to alpha = 0
# ---------------------------------------------------------------------------------------------
class Counts:
    """Counts ``n`` with the parts of ``log g`` that depend only on ``n`` and ``α``, once per distinct ``n``.

    Millions of pairs have a few thousand distinct counts, so ``log Γ(n + α)`` and ``ψ(n + α)``
    are computed for the distinct values and gathered.
    """

    def __init__(self, n: npt.ArrayLike) -> None:
        self.n = np.asarray(n, dtype=float)
        self.distinct, self.index = np.unique(self.n, return_inverse=True)
        self.log_factorial = special.gammaln(self.distinct + 1.0)

    def log_rising(self, alpha: float) -> tuple[FloatArray, FloatArray]:
        """``log Γ(n + α) − log Γ(α + 1) − log n!`` and its derivative in ``α``, per count."""
        value = special.gammaln(self.distinct + alpha) - special.gammaln(alpha + 1.0) - self.log_factorial
        deriv = special.digamma(self.distinct + alpha) - special.digamma(alpha + 1.0)
        return value[self.index], deriv[self.index]


def log_g(n: npt.ArrayLike | Counts, e: FloatArray, alpha: float, beta: float) -> FloatArray:
    """``log g(n) = log Γ(n + α) − log Γ(α + 1) − log n! + α·ln p + n·ln(1 − p)``, ``p = β/(β + E)``.

    ``g = f/α`` where ``f`` is the NB pmf; for ``n ≥ 1`` it is finite at ``α = 0`` (``(1 − p)^n/n``).
    For ``n = 0`` it needs ``α > 0`` (``g(0) = p^α/α``).
    """
    return log_g_and_grad(n if isinstance(n, Counts) else Counts(n), e, alpha, beta)[0]


def log_g_and_grad(
    counts: Counts, e: FloatArray, alpha: float, beta: float
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """``log g`` and its derivatives in ``log α`` and ``log β``.

    ``∂ log g/∂ log α = α·[ψ(n + α) − ψ(α + 1) + ln p]`` and
    ``∂ log g/∂ log β = (α E − n β)/(β + E)``.
    """
    n = counts.n
    minus_log_p = np.log1p(e / beta)  # −ln p
    log_q = np.log(e) - math.log(beta) - minus_log_p  # ln(1 − p) = ln E − ln(β + E)
    rising, d_rising = counts.log_rising(alpha)
    value = rising - alpha * minus_log_p + n * log_q
    d_log_alpha = alpha * (d_rising - minus_log_p) if alpha > 0 else np.zeros_like(e)
    d_log_beta = (alpha * e - n * beta) / (beta + e)
    return value, d_log_alpha, d_log_beta


def log_t_and_grad(
    e: FloatArray, alpha: float, beta: float, n_star: int
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """``log T`` with ``T = P(n ≥ N*)/α`` of one NB component, and its derivatives in log α, log β.

    ``T = (1 − p^α)/α − Σ_{k=1}^{N*−1} g(k)``; at ``α = 0`` the first term is ``−ln p`` (the
    log-series normaliser). ``N* = 0`` means no truncation: ``T = 1/α``.
    """
    if n_star <= 0:
        if alpha <= 0:
            raise ValueError("the untruncated likelihood (N* = 0) needs alpha > 0")
        return np.full_like(e, -math.log(alpha)), np.full_like(e, -1.0), np.zeros_like(e)
    log_p = -np.log1p(e / beta)
    dlogp_dlogbeta = e / (beta + e)  # β·∂ ln p/∂β
    if alpha > 0:
        x = alpha * log_p
        em1 = np.expm1(x)
        head = -em1 / alpha
        # α·∂/∂α of (1 − e^{x})/α is (e^x(1 − x) − 1)/α = (expm1(x)(1 − x) − x)/α: it vanishes like
        # −αL²/2 as α → 0, with an absolute error of order 1e-16·|L| (what the gradient needs)
        head_dlog_alpha = (em1 * (1.0 - x) - x) / alpha
        head_dlog_beta = -(1.0 + em1) * dlogp_dlogbeta  # β·∂/∂β of (1 − p^α)/α
    else:
        head = -log_p
        head_dlog_alpha = np.zeros_like(e)
        head_dlog_beta = -dlogp_dlogbeta
    t, dt_a, dt_b = head, head_dlog_alpha, head_dlog_beta
    for k in range(1, n_star):
        lg, dga, dgb = log_g_and_grad(Counts(np.full_like(e, float(k))), e, alpha, beta)
        gk = np.exp(lg)
        t = t - gk
        dt_a = dt_a - gk * dga
        dt_b = dt_b - gk * dgb
    t = np.maximum(t, np.finfo(float).tiny)
    return np.log(t), dt_a / t, dt_b / t
