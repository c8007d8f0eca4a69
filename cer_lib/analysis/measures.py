"""Step 2 of disproportionality: frequentist measures of a 2x2 table, vectorised and pure.

PRR with its confidence interval (Evans, Waller & Davis 2001), Yates' χ², ROR with Woolf's interval
(van Puijenbroek et al. 2002), the WHO-UMC shrinkage information component (Norén, Hopstadius &
Bate 2013) and the BCPNN expectation (Gould 2003), and the Haldane-Anscombe correction for tables
with a zero cell. Each function takes the cells as arrays and returns arrays.
"""
from __future__ import annotations

import numpy as np
import numpy.typing as npt
from scipy import special

__all__ = [
    "IC_DEFINITION",
    "haldane_anscombe",
    "information_component",
    "information_component_bcpnn",
    "proportional_reporting_ratio",
    "reporting_odds_ratio",
    "yates_chi_square",
]

FloatArray = npt.NDArray[np.float64]

#: The IC definition used for the ``IC``/``IC025`` columns (named in every result).
IC_DEFINITION = (
    "WHO-UMC shrinkage IC = log2((a + 0.5)/(E + 0.5)), IC025 = IC - 3.3(a + 0.5)^(-1/2) "
    "- 2(a + 0.5)^(-3/2) (Noren, Hopstadius & Bate 2013, Stat Methods Med Res 22:57-69)"
)


def _float_cells(*cells: npt.ArrayLike) -> tuple[FloatArray, ...]:
    return tuple(np.asarray(x, dtype=float) for x in cells)


def haldane_anscombe(
    a: npt.ArrayLike, b: npt.ArrayLike, c: npt.ArrayLike, d: npt.ArrayLike
) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray, npt.NDArray[np.bool_]]:
    """Add 0.5 to all four cells of the tables that contain a zero cell, and only those.

    Returns the corrected cells and a boolean array saying where the correction was applied
    (Haldane 1956; Anscombe 1956).
    """
    a_, b_, c_, d_ = _float_cells(a, b, c, d)
    applied = (a_ == 0) | (b_ == 0) | (c_ == 0) | (d_ == 0)
    shift = np.where(applied, 0.5, 0.0)
    return a_ + shift, b_ + shift, c_ + shift, d_ + shift, applied


def proportional_reporting_ratio(
    a: npt.ArrayLike, b: npt.ArrayLike, c: npt.ArrayLike, d: npt.ArrayLike, z: float = 1.959964
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """PRR = [a/(a+b)]/[c/(c+d)] with its confidence interval exp(ln PRR ± z·SE).

    ``Var(ln PRR) = 1/a − 1/(a+b) + 1/c − 1/(c+d)`` (Evans, Waller & Davis 2001,
    Pharmacoepidemiol Drug Saf 10:483-486). Cells are used as given: apply
    :func:`haldane_anscombe` first for tables with a zero cell.
    """
    a_, b_, c_, d_ = _float_cells(a, b, c, d)
    with np.errstate(divide="ignore", invalid="ignore"):
        prr = (a_ / (a_ + b_)) / (c_ / (c_ + d_))
        se = np.sqrt(1 / a_ - 1 / (a_ + b_) + 1 / c_ - 1 / (c_ + d_))
        return prr, prr * np.exp(-z * se), prr * np.exp(z * se)


def reporting_odds_ratio(
    a: npt.ArrayLike, b: npt.ArrayLike, c: npt.ArrayLike, d: npt.ArrayLike, z: float = 1.959964
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """ROR = ad/bc with Woolf's confidence interval exp(ln ROR ± z·SE).

    ``Var(ln ROR) = 1/a + 1/b + 1/c + 1/d`` (Woolf 1955; van Puijenbroek et al. 2002,
    Pharmacoepidemiol Drug Saf 11:3-10). Apply :func:`haldane_anscombe` first for zero cells.
    """
    a_, b_, c_, d_ = _float_cells(a, b, c, d)
    with np.errstate(divide="ignore", invalid="ignore"):
        ror = (a_ * d_) / (b_ * c_)
        se = np.sqrt(1 / a_ + 1 / b_ + 1 / c_ + 1 / d_)
        return ror, ror * np.exp(-z * se), ror * np.exp(z * se)


def yates_chi_square(
    a: npt.ArrayLike, b: npt.ArrayLike, c: npt.ArrayLike, d: npt.ArrayLike
) -> FloatArray:
    """Yates-corrected χ² (1 df) of the 2x2 table.

    ``χ² = N·max(|ad − bc| − N/2, 0)² / [(a+b)(c+d)(a+c)(b+d)]``; the ``max`` stops the
    correction at the expected counts, as ``scipy.stats.chi2_contingency(correction=True)``
    does. A table with an empty margin has no χ² (NaN).
    """
    a_, b_, c_, d_ = _float_cells(a, b, c, d)
    n = a_ + b_ + c_ + d_
    with np.errstate(divide="ignore", invalid="ignore"):
        num = n * np.maximum(np.abs(a_ * d_ - b_ * c_) - n / 2, 0.0) ** 2
        den = (a_ + b_) * (c_ + d_) * (a_ + c_) * (b_ + d_)
        return np.where(den > 0, num / den, np.nan)


def information_component(a: npt.ArrayLike, expected: npt.ArrayLike) -> tuple[FloatArray, FloatArray]:
    """WHO-UMC shrinkage information component and its approximate lower 95 % credibility bound.

    ``IC = log2((a + 0.5)/(E + 0.5))`` and
    ``IC025 ≈ IC − 3.3·(a + 0.5)^(−1/2) − 2·(a + 0.5)^(−3/2)`` (Norén, Hopstadius & Bate 2013,
    Stat Methods Med Res 22:57-69).
    """
    a_, e_ = _float_cells(a, expected)
    ic = np.log2((a_ + 0.5) / (e_ + 0.5))
    return ic, ic - 3.3 * (a_ + 0.5) ** -0.5 - 2.0 * (a_ + 0.5) ** -1.5


def information_component_bcpnn(
    a: npt.ArrayLike, n_product: npt.ArrayLike, n_term: npt.ArrayLike, n_total: npt.ArrayLike
) -> tuple[FloatArray, FloatArray]:
    """BCPNN posterior expectation and variance of the IC (Gould 2003; Norén et al. 2006).

    With ``p1 = 1 + (a+b)``, ``p2 = 1 + N − (a+b)``, ``q1 = 1 + (a+c)``, ``q2 = 1 + N − (a+c)``,
    ``r1 = 1 + a`` and ``r2 = N − a − 1 + (N + 2)²/(p1·q1)``::

        E[IC]   = [ψ(r1) − ψ(r1 + r2) − (ψ(p1) − ψ(p1 + p2) + ψ(q1) − ψ(q1 + q2))] / ln 2
        Var[IC] = [ψ'(r1) − ψ'(r1 + r2) + ψ'(p1) − ψ'(p1 + p2) + ψ'(q1) − ψ'(q1 + q2)] / (ln 2)²

    (Gould AL 2003, Pharmacoepidemiol Drug Saf 12:559-574). Differs from the shrinkage IC of
    :func:`information_component` at small ``a``; not used for the ``IC`` column.
    """
    a_, row, col, n = _float_cells(a, n_product, n_term, n_total)
    p1, p2 = 1 + row, 1 + n - row
    q1, q2 = 1 + col, 1 + n - col
    r1 = 1 + a_
    r2 = n - a_ - 1 + (n + 2) ** 2 / (p1 * q1)
    psi, tri = special.digamma, lambda x: special.polygamma(1, x)
    mean = (psi(r1) - psi(r1 + r2) - (psi(p1) - psi(p1 + p2) + psi(q1) - psi(q1 + q2))) / np.log(2)
    var = (tri(r1) - tri(r1 + r2) + tri(p1) - tri(p1 + p2) + tri(q1) - tri(q1 + q2)) / np.log(2) ** 2
    return mean, var
