"""Disproportionality analysis: 2x2 tables, PRR, ROR, IC and EBGM for (product, term) pairs.

The pipeline reads as the method's own steps, each a pure function:

1. raw counts -> 2x2 cells and expected counts: :func:`contingency_from_reports` (one row per
   report, product and term; cells over distinct reports) or :func:`contingency_from_counts`
   (aggregated counts as openFDA ``count`` queries return them);
2. frequentist scores: :func:`proportional_reporting_ratio`, :func:`yates_chi_square`,
   :func:`reporting_odds_ratio`, :func:`information_component`;
3. prior fit and 4. posterior scores: :mod:`cer_lib.analysis.ebgm`;
5. :func:`score_table` / :func:`detect_signals` put them together, :func:`signals_csv` is the
   command-line entry and :func:`score_device_problems` the device report's.

Cells for a product P and a term T (distinct reports): ``a`` = reports with P and T, ``b`` = P
without T, ``c`` = T without P, ``d`` = neither; ``N = a + b + c + d``; ``E = (a+b)(a+c)/N``.
Only pairs with ``a ≥ 1`` exist in a table: zero cells are never scored.

Public adverse-event reports are numerators only: these scores measure disproportionate
*reporting*, not incidence or causation.
"""
from __future__ import annotations

import math
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pandas as pd
from scipy import special

from ..files import write_text_atomic
from .ebgm import (
    TRUNCATIONS,
    PriorFit,
    PriorFitNotPossible,
    Truncation,
    fit_prior,
    posterior_scores,
)

__all__ = [
    "IC_DEFINITION",
    "SCORE_COLUMNS",
    "SignalResult",
    "SignalSettings",
    "contingency_from_counts",
    "contingency_from_reports",
    "detect_signals",
    "frequentist_scores",
    "haldane_anscombe",
    "information_component",
    "information_component_bcpnn",
    "proportional_reporting_ratio",
    "reporting_odds_ratio",
    "score_device_problems",
    "score_table",
    "signals_csv",
    "yates_chi_square",
]

FloatArray = npt.NDArray[np.float64]

#: The output columns of :func:`score_table`, in order (extra columns follow them).
SCORE_COLUMNS: tuple[str, ...] = (
    "product", "term", "a", "b", "c", "d", "E",
    "PRR", "PRR_lo", "PRR_hi", "chi2_yates",
    "ROR", "ROR_lo", "ROR_hi",
    "IC", "IC025",
    "EBGM", "EB05", "EB95",
)
EXTRA_COLUMNS: tuple[str, ...] = ("N", "haldane", "evans_signal", "eb05_signal")
CONTINGENCY_COLUMNS: tuple[str, ...] = ("product", "term", "a", "b", "c", "d", "N", "E")
REPORT_COLUMNS: tuple[str, ...] = ("report_id", "product", "term")

#: The IC definition used for the ``IC``/``IC025`` columns (named in every result).
IC_DEFINITION = (
    "WHO-UMC shrinkage IC = log2((a + 0.5)/(E + 0.5)), IC025 = IC - 3.3(a + 0.5)^(-1/2) "
    "- 2(a + 0.5)^(-3/2) (Noren, Hopstadius & Bate 2013, Stat Methods Med Res 22:57-69)"
)


# ---------------------------------------------------------------------------------------------
# Settings and result
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class SignalSettings:
    """Parameters of the disproportionality analysis, with the conventional defaults.

    - ``n_star``: the GPS prior is fitted on pairs with ``a ≥ n_star`` (truncated likelihood).
    - ``z``: normal quantile of the 95 % confidence intervals of PRR and ROR.
    - ``prr_threshold``, ``chi2_threshold``, ``min_cases``: the Evans/MHRA rule
      (PRR ≥ 2, Yates χ² ≥ 4, a ≥ 3; Evans et al. 2001).
    - ``eb05_threshold``: the EB05 screening threshold (EB05 ≥ 2; Szarfman et al. 2002).
    - ``n_starts``, ``squash``, ``random_seed``, ``min_pairs_for_prior``, ``truncation``: the
      prior fit (:func:`cer_lib.analysis.ebgm.fit_prior`); ``truncation`` is
      ``"per-component"`` (openEBGM, the project's choice) or ``"whole-mixture"``.
    """

    n_star: int = 1
    z: float = 1.959964
    prr_threshold: float = 2.0
    chi2_threshold: float = 4.0
    min_cases: int = 3
    eb05_threshold: float = 2.0
    n_starts: int = 6
    squash: bool = True
    random_seed: int = 1999
    min_pairs_for_prior: int = 10
    truncation: Truncation = "per-component"

    def __post_init__(self) -> None:
        if self.n_star < 1:
            raise ValueError("n_star must be >= 1 (pairs with a = 0 do not exist in a table)")
        if not self.z > 0:
            raise ValueError("z must be > 0")
        if self.n_starts < 1:
            raise ValueError("n_starts must be >= 1")
        if self.min_cases < 1:
            raise ValueError("min_cases must be >= 1")
        if self.min_pairs_for_prior < 5:
            raise ValueError("min_pairs_for_prior must be >= 5 (the prior has 5 parameters)")
        if self.truncation not in TRUNCATIONS:
            raise ValueError(f"truncation must be one of {TRUNCATIONS}, got {self.truncation!r}")


def _json_value(value: object) -> object:
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return None if not math.isfinite(float(value)) else float(value)
    if isinstance(value, dict):
        return {str(k): _json_value(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_value(v) for v in value]
    return str(value) if not isinstance(value, str) else value


@dataclass(frozen=True, eq=False)
class SignalResult:
    """A scored table with everything needed to report it.

    ``table`` has the columns :data:`SCORE_COLUMNS` then ``N, haldane, evans_signal,
    eb05_signal``, one row per (product, term) pair with ``a ≥ 1``, sorted by product and term.
    ``prior_fit`` is the GPS prior fit (or why it was not possible; then EBGM/EB05/EB95 are
    missing). ``methods`` holds one paragraph per method naming its definition and reference.
    """

    table: pd.DataFrame
    prior_fit: PriorFit | PriorFitNotPossible
    settings: SignalSettings
    methods: dict[str, str]
    data_description: str
    ic_definition: str = IC_DEFINITION
    product_of_interest: str | None = None
    n_reports: int = field(default=0)

    def for_product(self, product: str) -> pd.DataFrame:
        """Rows of one product (e.g. the device under evaluation)."""
        return self.table[self.table["product"] == product].reset_index(drop=True)

    def to_dict(self) -> dict[str, object]:
        """JSON-serialisable form: floats as float, NaN as None, records as a list of dicts."""
        records = [
            {str(k): _json_value(v) for k, v in row.items()}
            for row in self.table.to_dict(orient="records")
        ]
        return {
            "data_description": self.data_description,
            "product_of_interest": self.product_of_interest,
            "n_reports": int(self.n_reports),
            "n_pairs": len(self.table),
            "settings": _json_value(asdict(self.settings)),
            "ic_definition": self.ic_definition,
            "prior_fit": _json_value(self.prior_fit.to_dict()),
            "methods": dict(self.methods),
            "columns": list(self.table.columns),
            "records": records,
        }


# ---------------------------------------------------------------------------------------------
# Step 1: 2x2 cells and expected counts
# ---------------------------------------------------------------------------------------------
def _require_columns(frame: pd.DataFrame, required: tuple[str, ...], what: str) -> None:
    missing = [c for c in required if c not in frame.columns]
    if missing:
        raise ValueError(
            f"{what} is missing column(s) {', '.join(repr(c) for c in missing)}; "
            f"it needs {', '.join(required)} (found: {', '.join(map(str, frame.columns)) or 'none'})"
        )


def _cells(
    product: npt.ArrayLike, term: npt.ArrayLike, a: npt.ArrayLike,
    n_product: npt.ArrayLike, n_term: npt.ArrayLike, n_total: int,
) -> pd.DataFrame:
    a_ = np.asarray(a, dtype=np.int64)
    row = np.asarray(n_product, dtype=np.int64)
    col = np.asarray(n_term, dtype=np.int64)
    b = row - a_
    c = col - a_
    d = n_total - row - col + a_
    if np.any(b < 0) or np.any(c < 0) or np.any(d < 0):
        raise ValueError("inconsistent counts: a cell of a 2x2 table came out negative")
    table = pd.DataFrame(
        {
            "product": np.asarray(product, dtype=object),
            "term": np.asarray(term, dtype=object),
            "a": a_, "b": b, "c": c, "d": d,
            "N": np.full(a_.size, n_total, dtype=np.int64),
            "E": row.astype(float) * col.astype(float) / float(n_total) if n_total else np.zeros(a_.size),
        }
    )
    table["product"] = table["product"].astype(str)
    table["term"] = table["term"].astype(str)
    return table.sort_values(["product", "term"], kind="mergesort").reset_index(drop=True)


def contingency_from_reports(reports: pd.DataFrame) -> pd.DataFrame:
    """2x2 cells over distinct reports from a long table ``report_id, product, term``.

    One input row per report, product and term; duplicate rows are counted once. The report is
    the unit: a report "names P" if any of its rows has product P, and "names T" if any of its
    rows has term T. For each (product P, term T) named together by at least one report:
    ``a`` = reports naming P and T, ``b`` = reports naming P but not T, ``c`` = reports naming T
    but not P, ``d`` = the rest, ``N`` = distinct reports in the whole table
    (``a + b + c + d = N``, the four cells partition the reports) and ``E = (a+b)(a+c)/N``.
    A report naming two products and two terms therefore counts for all four combinations,
    as in report-level FAERS analyses. A row with a missing term (or product) still counts its
    report in ``N`` and in its product's (term's) margin. Only pairs with ``a ≥ 1`` are
    produced.

    Returns columns ``product, term, a, b, c, d, N, E`` (integer cells), sorted by product and
    term. Vectorised: ~1e6 rows take about a second.
    """
    _require_columns(reports, REPORT_COLUMNS, "the reports table")
    if reports["report_id"].isna().any():
        raise ValueError("the reports table has rows without a report_id")
    rid, _ = pd.factorize(reports["report_id"], sort=False)
    pcode, products = pd.factorize(reports["product"], sort=False)
    tcode, terms = pd.factorize(reports["term"], sort=False)
    n_total = int(rid.max()) + 1 if rid.size else 0

    codes = pd.DataFrame({"r": rid, "p": pcode, "t": tcode})
    has_p, has_t = pcode >= 0, tcode >= 0
    report_product = codes.loc[has_p, ["r", "p"]].drop_duplicates()
    report_term = codes.loc[has_t, ["r", "t"]].drop_duplicates()
    n_product = np.bincount(report_product["p"].to_numpy(), minlength=len(products))
    n_term = np.bincount(report_term["t"].to_numpy(), minlength=len(terms))

    # the report is the unit: a report naming P and T (in any of its rows) counts once for (P, T)
    triples = report_product.merge(report_term, on="r", how="inner", sort=False)
    key = triples["p"].to_numpy(np.int64) * max(len(terms), 1) + triples["t"].to_numpy(np.int64)
    pair_key, a = np.unique(key, return_counts=True)
    p_idx = pair_key // max(len(terms), 1)
    t_idx = pair_key % max(len(terms), 1)
    return _cells(
        np.asarray(products, dtype=object)[p_idx], np.asarray(terms, dtype=object)[t_idx],
        a, n_product[p_idx], n_term[t_idx], n_total,
    )


def _whole_counts(series: pd.Series, what: str) -> npt.NDArray[np.int64]:
    values = pd.to_numeric(series, errors="coerce").to_numpy(dtype=float)
    if np.any(~np.isfinite(values)) or np.any(values < 0) or np.any(values != np.round(values)):
        raise ValueError(f"{what} must hold non-negative whole numbers")
    return values.astype(np.int64)


def contingency_from_counts(term_counts: pd.DataFrame, product_totals: pd.DataFrame) -> pd.DataFrame:
    """2x2 cells from aggregated counts (how openFDA ``count`` queries arrive).

    ``term_counts`` has columns ``product, term, n_reports`` (reports of product P mentioning
    term T) and ``product_totals`` has ``product, n_reports`` (all reports of P). Then
    ``a = n(P,T)``, ``a + b = total(P)``, ``c = Σ_{P'≠P} n(P',T)``,
    ``c + d = Σ_{P'≠P} total(P')``, ``N = Σ_P total(P)`` and ``E = (a+b)(a+c)/N``.

    Aggregated counts cannot tell which reports are shared between products: a report naming
    two products counts once for each, so ``N`` is a count of report-product pairs, not of
    distinct reports. This is an approximation to the distinct-report table of
    :func:`contingency_from_reports`, exact when every report names one product.

    Pairs with ``n_reports = 0`` are dropped (zero cells are never scored). Returns columns
    ``product, term, a, b, c, d, N, E`` sorted by product and term.
    """
    _require_columns(term_counts, ("product", "term", "n_reports"), "term_counts")
    _require_columns(product_totals, ("product", "n_reports"), "product_totals")
    if product_totals["product"].duplicated().any():
        dup = product_totals.loc[product_totals["product"].duplicated(), "product"].iloc[0]
        raise ValueError(f"product_totals lists product {dup!r} more than once")
    if term_counts[["product", "term"]].duplicated().any():
        dup = term_counts.loc[term_counts[["product", "term"]].duplicated(), ["product", "term"]].iloc[0]
        raise ValueError(f"term_counts lists the pair ({dup['product']!r}, {dup['term']!r}) more than once")
    if term_counts[["product", "term"]].isna().any().any() or product_totals["product"].isna().any():
        raise ValueError("product and term must not be missing")

    totals = pd.Series(_whole_counts(product_totals["n_reports"], "product_totals.n_reports"),
                       index=product_totals["product"].to_numpy())
    counts = term_counts.assign(n_reports=_whole_counts(term_counts["n_reports"], "term_counts.n_reports"))
    unknown = sorted(set(counts["product"]) - set(totals.index), key=str)
    if unknown:
        raise ValueError(f"term_counts has products without a total in product_totals: {unknown[:5]}")
    n_total = int(totals.sum())
    term_total = counts.groupby("term", sort=False)["n_reports"].sum()
    counts = counts[counts["n_reports"] > 0]
    row = totals.reindex(counts["product"].to_numpy()).to_numpy()
    if np.any(counts["n_reports"].to_numpy() > row):
        bad = counts[counts["n_reports"].to_numpy() > row].iloc[0]
        raise ValueError(
            f"n_reports for ({bad['product']!r}, {bad['term']!r}) exceeds the product's total reports"
        )
    col = term_total.reindex(counts["term"].to_numpy()).to_numpy()
    return _cells(counts["product"].to_numpy(), counts["term"].to_numpy(),
                  counts["n_reports"].to_numpy(), row, col, n_total)


# ---------------------------------------------------------------------------------------------
# Step 2: frequentist scores (vectorised, pure)
# ---------------------------------------------------------------------------------------------
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


def _check_table(table: pd.DataFrame) -> None:
    _require_columns(table, CONTINGENCY_COLUMNS, "the contingency table")
    if len(table) and (table["a"] < 1).any():
        raise ValueError("the table has pairs with a = 0: zero cells are never scored")


def frequentist_scores(table: pd.DataFrame, settings: SignalSettings | None = None) -> pd.DataFrame:
    """PRR (95 % CI), Yates χ², ROR (Woolf 95 % CI), IC/IC025, the Haldane flag and the Evans rule.

    The +0.5 correction is applied only to tables with a zero cell, and only for the ratios and
    their intervals; χ², IC and E use the raw cells. Evans/MHRA signal: PRR ≥ 2 and Yates
    χ² ≥ 4 and a ≥ 3 (thresholds from ``settings``).
    """
    settings = settings or SignalSettings()
    _check_table(table)
    a, b, c, d = (table[k].to_numpy(dtype=float) for k in ("a", "b", "c", "d"))
    ha, hb, hc, hd, applied = haldane_anscombe(a, b, c, d)
    prr, prr_lo, prr_hi = proportional_reporting_ratio(ha, hb, hc, hd, settings.z)
    ror, ror_lo, ror_hi = reporting_odds_ratio(ha, hb, hc, hd, settings.z)
    chi2 = yates_chi_square(a, b, c, d)
    ic, ic025 = information_component(a, table["E"].to_numpy(dtype=float))
    with np.errstate(invalid="ignore"):
        evans = (prr >= settings.prr_threshold) & (chi2 >= settings.chi2_threshold) & (a >= settings.min_cases)
    return pd.DataFrame(
        {
            "PRR": prr, "PRR_lo": prr_lo, "PRR_hi": prr_hi, "chi2_yates": chi2,
            "ROR": ror, "ROR_lo": ror_lo, "ROR_hi": ror_hi,
            "IC": ic, "IC025": ic025,
            "haldane": applied, "evans_signal": evans,
        },
        index=table.index,
    )


# ---------------------------------------------------------------------------------------------
# Steps 3-5: prior fit, posterior scores, the whole table
# ---------------------------------------------------------------------------------------------
def _fit_for(table: pd.DataFrame, settings: SignalSettings) -> PriorFit | PriorFitNotPossible:
    return fit_prior(
        table["a"].to_numpy(dtype=float),
        table["E"].to_numpy(dtype=float),
        n_star=settings.n_star,
        n_starts=settings.n_starts,
        squash=settings.squash,
        random_seed=settings.random_seed,
        min_pairs=settings.min_pairs_for_prior,
        truncation=settings.truncation,
    )


def score_table(
    table: pd.DataFrame,
    *,
    settings: SignalSettings | None = None,
    prior: PriorFit | PriorFitNotPossible | None = None,
) -> pd.DataFrame:
    """Score every pair of a contingency table (from ``contingency_from_*``).

    Columns, in this order: ``product, term, a, b, c, d, E, PRR, PRR_lo, PRR_hi, chi2_yates,
    ROR, ROR_lo, ROR_hi, IC, IC025, EBGM, EB05, EB95`` then ``N, haldane, evans_signal,
    eb05_signal`` (EB05 ≥ ``settings.eb05_threshold``). The GPS prior is fitted on the table's
    pairs unless ``prior`` is given; when the fit is not possible EBGM/EB05/EB95 are NaN.
    Rows are sorted by product and term.
    """
    settings = settings or SignalSettings()
    _check_table(table)
    table = table.sort_values(["product", "term"], kind="mergesort").reset_index(drop=True)
    scores = frequentist_scores(table, settings)
    fit = prior if prior is not None else _fit_for(table, settings)
    if isinstance(fit, PriorFit) and len(table):
        posterior = posterior_scores(table["a"].to_numpy(float), table["E"].to_numpy(float), fit.prior)
        eb = posterior[["EBGM", "EB05", "EB95"]].set_index(table.index)
    else:
        eb = pd.DataFrame({k: np.full(len(table), np.nan) for k in ("EBGM", "EB05", "EB95")}, index=table.index)
    out = pd.concat([table[["product", "term", "a", "b", "c", "d", "E"]], scores, eb, table[["N"]]], axis=1)
    out["eb05_signal"] = (out["EB05"] >= settings.eb05_threshold).fillna(False).astype(bool)
    return out[list(SCORE_COLUMNS) + list(EXTRA_COLUMNS)]


def _method_text(
    settings: SignalSettings, fit: PriorFit | PriorFitNotPossible, data_description: str
) -> dict[str, str]:
    methods = {
        "contingency": (
            f"Counts: {data_description} For each product P and term T, a = reports with P and T, "
            "b = reports with P without T, c = reports with T without P, d = the other reports, "
            "N = a + b + c + d and the expected count E = (a+b)(a+c)/N. Only pairs with a >= 1 are "
            "scored. Public adverse-event reports are numerators only: the scores measure "
            "disproportionate reporting, not incidence or causation."
        ),
        "PRR": (
            "Proportional reporting ratio PRR = [a/(a+b)]/[c/(c+d)] with a 95% confidence interval "
            f"exp(ln PRR +/- {settings.z}*SE), Var(ln PRR) = 1/a - 1/(a+b) + 1/c - 1/(c+d), and the "
            "Yates-corrected chi-square of the 2x2 table (1 df). Signal by the Evans/MHRA rule: "
            f"PRR >= {settings.prr_threshold:g}, chi-square >= {settings.chi2_threshold:g} and "
            f"a >= {settings.min_cases} (Evans, Waller & Davis 2001, Pharmacoepidemiol Drug Saf "
            "10:483-486). Tables with a zero cell get +0.5 on all four cells (Haldane-Anscombe) for "
            "the ratio and its interval only; the 'haldane' column marks them."
        ),
        "ROR": (
            f"Reporting odds ratio ROR = ad/bc with Woolf's 95% confidence interval exp(ln ROR +/- "
            f"{settings.z}*SE), Var(ln ROR) = 1/a + 1/b + 1/c + 1/d (van Puijenbroek et al. 2002, "
            "Pharmacoepidemiol Drug Saf 11:3-10), with the same zero-cell correction as PRR."
        ),
        "IC": f"Information component, {IC_DEFINITION}.",
    }
    truncation_text = (
        "each component's negative binomial truncated at N* separately, as openEBGM does "
        "(Canida & Ihrie 2017, R Journal 9:499-519)"
        if settings.truncation == "per-component"
        else "the mixture truncated at N* as a whole (the conditional likelihood given a >= N*)"
    )
    gps = (
        "Empirical Bayes geometric mean (DuMouchel 1999, Am Stat 53:177-190): a two-gamma mixture "
        "prior P*Gamma(alpha1, beta1) + (1-P)*Gamma(alpha2, beta2) on the relative reporting ratio, "
        "n ~ Poisson(lambda*E), so n is marginally a mixture of negative binomials. The prior is "
        f"fitted by maximum likelihood over the pairs with a >= N* = {settings.n_star}, "
        + truncation_text
    )
    if isinstance(fit, PriorFit):
        p = fit.prior
        gps += (
            f"; {fit.n_pairs} pairs"
            + (f" squashed to {fit.n_points} weighted points (DuMouchel & Pregibon 2001)" if fit.squashed else "")
            + f", {fit.n_starts} starting points, {fit.n_converged} converged"
            + f", estimates alpha1 = {p.alpha1:.4g}, beta1 = {p.beta1:.4g}, alpha2 = {p.alpha2:.4g}, "
            + f"beta2 = {p.beta2:.4g}, P = {p.p:.4g}"
            + (
                " (a parameter is at the edge of its search range: the likelihood's maximum is a "
                "limit, not an interior point; treat EBGM with caution)"
                if fit.at_boundary
                else ""
                if fit.converged
                else " (the optimiser did not report convergence: treat EBGM with caution)"
            )
            + ". EBGM = exp(E[ln lambda | a]) and EB05/EB95 are the 5% and 95% points of the posterior "
            f"gamma mixture; screening threshold EB05 >= {settings.eb05_threshold:g}."
        )
    else:
        gps += f". Not computed for these data: {fit.reason}."
    methods["EBGM"] = gps
    return methods


def detect_signals(
    table: pd.DataFrame,
    *,
    settings: SignalSettings | None = None,
    data_description: str = "distinct reports.",
    product_of_interest: str | None = None,
) -> SignalResult:
    """Fit the prior, score the table and return it with the fit, the settings and the methods."""
    settings = settings or SignalSettings()
    _check_table(table)
    fit = _fit_for(table, settings)
    scored = score_table(table, settings=settings, prior=fit)
    n_reports = int(table["N"].iloc[0]) if len(table) else 0
    return SignalResult(
        table=scored,
        prior_fit=fit,
        settings=settings,
        methods=_method_text(settings, fit, data_description),
        data_description=data_description,
        product_of_interest=product_of_interest,
        n_reports=n_reports,
    )


def _read_reports_csv(path: Path) -> pd.DataFrame:
    try:
        reports = pd.read_csv(path, dtype=str, keep_default_na=False, na_values=[""])
    except pd.errors.EmptyDataError:
        raise ValueError(f"{path} is empty: expected a CSV with columns {', '.join(REPORT_COLUMNS)}") from None
    _require_columns(reports, REPORT_COLUMNS, str(path))
    if reports.empty:
        raise ValueError(f"{path} has a header but no rows")
    return reports


def signals_csv(
    reports_path: str | os.PathLike[str],
    out_path: str | os.PathLike[str],
    settings: SignalSettings | None = None,
) -> SignalResult:
    """Score a CSV of ``report_id,product,term`` rows and write one row per (product, term).

    The output CSV has the columns of :func:`score_table` (the first 19 exactly
    :data:`SCORE_COLUMNS`), sorted by product and term, written atomically. Raises
    ``ValueError`` naming the missing columns, or saying the file is empty.
    """
    reports_path, out_path = Path(reports_path), Path(out_path)
    reports = _read_reports_csv(reports_path)
    table = contingency_from_reports(reports)
    result = detect_signals(
        table,
        settings=settings,
        data_description=f"distinct reports (report_id) in {reports_path.name}.",
    )
    write_text_atomic(out_path, result.table.to_csv(index=False))
    return result


def score_device_problems(
    term_counts: pd.DataFrame,
    product_totals: pd.DataFrame,
    device_code: str,
    settings: SignalSettings | None = None,
) -> SignalResult:
    """Score device-problem terms of a product-code family from aggregated counts.

    Every pair of the family is scored, so the GPS prior is fitted on the whole family; the
    caller keeps the rows of ``device_code`` (``result.for_product(device_code)``). Counts are
    aggregated (see :func:`contingency_from_counts`): N counts report-product pairs.
    """
    if device_code not in set(product_totals.get("product", pd.Series(dtype=object))):
        raise ValueError(f"device code {device_code!r} is not in product_totals")
    table = contingency_from_counts(term_counts, product_totals)
    return detect_signals(
        table,
        settings=settings,
        data_description=(
            "aggregated report counts per product code and problem term (a report naming two "
            "products counts for both, so N counts report-product pairs)."
        ),
        product_of_interest=device_code,
    )
