"""Step 1 of disproportionality: 2x2 cells and expected counts for (product, term) pairs.

Cells for a product P and a term T: ``a`` = reports with P and T, ``b`` = P without T, ``c`` = T
without P, ``d`` = neither; ``N = a + b + c + d``; ``E = (a+b)(a+c)/N``, or, stratified (by year),
``E = Σ_s (a+b)_s (a+c)_s / N_s`` (openEBGM's ``processRaw(stratify = TRUE)``; Canida & Ihrie
2017, R Journal 9:499-519). Only pairs with ``a ≥ 1`` exist in a table: zero cells are never scored.

Two sources of counts:

- report rows ``report_id, product, term`` (:func:`contingency_from_reports`, or
  :func:`cells_from_codes` on integer codes, which is what reading a file produces): cells over
  distinct reports, computed with integer arrays (millions of rows in seconds);
- aggregated counts as openFDA ``count`` queries return them (:func:`contingency_from_counts`),
  optionally per stratum.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pandas as pd

__all__ = [
    "CONTINGENCY_COLUMNS",
    "REPORT_COLUMNS",
    "ReportCodes",
    "cells_from_codes",
    "contingency_from_counts",
    "contingency_from_reports",
    "require_columns",
]

IntArray = npt.NDArray[np.int64]
CONTINGENCY_COLUMNS: tuple[str, ...] = ("product", "term", "a", "b", "c", "d", "N", "E")
REPORT_COLUMNS: tuple[str, ...] = ("report_id", "product", "term")


def require_columns(frame: pd.DataFrame, required: tuple[str, ...], what: str) -> None:
    """ValueError naming the missing columns (and the ones found) when ``frame`` lacks some."""
    missing = [c for c in required if c not in frame.columns]
    if missing:
        raise ValueError(
            f"{what} is missing column(s) {', '.join(repr(c) for c in missing)}; "
            f"it needs {', '.join(required)} (found: {', '.join(map(str, frame.columns)) or 'none'})"
        )


def _cells(
    product: pd.Series | npt.ArrayLike, term: pd.Series | npt.ArrayLike, a: npt.ArrayLike,
    n_product: npt.ArrayLike, n_term: npt.ArrayLike, n_total: int, expected: npt.ArrayLike | None = None,
) -> pd.DataFrame:
    """The table from ``a`` and the margins; rows in the order given (callers sort)."""
    a_ = np.asarray(a, dtype=np.int64)
    row = np.asarray(n_product, dtype=np.int64)
    col = np.asarray(n_term, dtype=np.int64)
    b = row - a_
    c = col - a_
    d = n_total - row - col + a_
    if np.any(b < 0) or np.any(c < 0) or np.any(d < 0):
        raise ValueError("inconsistent counts: a cell of a 2x2 table came out negative")
    if expected is None:
        expected = row.astype(float) * col.astype(float) / float(n_total) if n_total else np.zeros(a_.size)
    return pd.DataFrame(
        {
            "product": pd.Series(product).astype("str").array,
            "term": pd.Series(term).astype("str").array,
            "a": a_, "b": b, "c": c, "d": d,
            "N": np.full(a_.size, n_total, dtype=np.int64),
            "E": np.asarray(expected, dtype=float),
        }
    )


# ---------------------------------------------------------------------------------------------
# From report rows
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ReportCodes:
    """Report rows as integer codes: what :func:`cells_from_codes` counts.

    ``report``: a code per row, ``0 .. n_reports − 1`` (every report, with or without a product
    or term). ``product``/``term``: a code per row into ``products``/``terms``, ``-1`` where
    missing. ``products`` and ``terms`` are sorted, so code order is name order.
    """

    report: IntArray
    product: npt.NDArray[np.integer]
    term: npt.NDArray[np.integer]
    products: pd.Series
    terms: pd.Series
    n_reports: int

    @property
    def n_rows(self) -> int:
        return int(self.report.size)


def report_codes_from_frame(reports: pd.DataFrame) -> ReportCodes:
    """Integer codes of a ``report_id, product, term`` frame (names sorted; missing → −1)."""
    require_columns(reports, REPORT_COLUMNS, "the reports table")
    if reports["report_id"].isna().any():
        raise ValueError("the reports table has rows without a report_id")
    rid, _ = pd.factorize(reports["report_id"], sort=False)
    pcode, products = pd.factorize(reports["product"].astype("str").where(reports["product"].notna()), sort=True)
    tcode, terms = pd.factorize(reports["term"].astype("str").where(reports["term"].notna()), sort=True)
    return ReportCodes(
        report=rid.astype(np.int64), product=pcode.astype(np.int32), term=tcode.astype(np.int32),
        products=pd.Series(products, dtype="str"), terms=pd.Series(terms, dtype="str"),
        n_reports=int(rid.max()) + 1 if rid.size else 0,
    )


def _distinct_report_items(report: IntArray, item: npt.NDArray[np.integer], n_items: int) -> tuple[IntArray, IntArray]:
    """Distinct (report, item) pairs with item ≥ 0, sorted by report then item."""
    keep = item >= 0
    key = np.unique(report[keep] * max(n_items, 1) + item[keep].astype(np.int64))
    return key // max(n_items, 1), key % max(n_items, 1)


def cells_from_codes(codes: ReportCodes) -> pd.DataFrame:
    """2x2 cells over distinct reports, from integer codes; sorted by product then term.

    A report "names P" if any of its rows has product P, and "names T" if any has term T; for
    each (P, T) named together by at least one report, ``a`` counts those reports, ``a + b`` the
    reports naming P, ``a + c`` those naming T, ``N`` all distinct reports (rows without a
    product or term still count in ``N`` and in the margin they have). A report naming two
    products and two terms counts for all four pairs. Duplicate rows count once.

    Vectorised: distinct (report, product) and (report, term) pairs by sorting integer keys, the
    pairs of a report by repeating its product rows over its term rows, ``a`` by counting keys.
    When every row is a report of its own (as in a table of single-product, single-term
    reports) the row is the pair and the join is skipped.
    """
    n_products, n_terms = len(codes.products), len(codes.terms)
    if codes.n_reports == codes.n_rows:
        # every row its own report: the row's product and term are the report's only pair
        both = (codes.product >= 0) & (codes.term >= 0)
        n_product = np.bincount(codes.product[codes.product >= 0], minlength=n_products)
        n_term = np.bincount(codes.term[codes.term >= 0], minlength=n_terms)
        p_rep, t_rep = codes.product[both].astype(np.int64), codes.term[both].astype(np.int64)
    else:
        rp_r, rp_p = _distinct_report_items(codes.report, codes.product, n_products)
        rt_r, rt_t = _distinct_report_items(codes.report, codes.term, n_terms)
        n_product = np.bincount(rp_p, minlength=n_products)
        n_term = np.bincount(rt_t, minlength=n_terms)
        # each (report, product) row meets each (report, term) row of the same report
        per_report_terms = np.bincount(rt_r, minlength=codes.n_reports)
        first_term = np.r_[0, np.cumsum(per_report_terms)[:-1]]
        reps = per_report_terms[rp_r]
        p_rep = np.repeat(rp_p, reps)
        block_start = np.repeat(first_term[rp_r], reps)
        offset = np.arange(p_rep.size) - np.repeat(np.cumsum(reps) - reps, reps)
        t_rep = rt_t[block_start + offset]
    key, a = np.unique(p_rep * max(n_terms, 1) + t_rep, return_counts=True)
    p_idx, t_idx = key // max(n_terms, 1), key % max(n_terms, 1)
    return _cells(
        codes.products.iloc[p_idx].reset_index(drop=True), codes.terms.iloc[t_idx].reset_index(drop=True),
        a, n_product[p_idx], n_term[t_idx], codes.n_reports,
    )


def contingency_from_reports(reports: pd.DataFrame) -> pd.DataFrame:
    """2x2 cells over distinct reports from a long table ``report_id, product, term``.

    One input row per report, product and term; duplicate rows are counted once; see
    :func:`cells_from_codes` for the definition. ``N`` = distinct reports in the whole table
    (``a + b + c + d = N``), ``E = (a+b)(a+c)/N``. Only pairs with ``a ≥ 1`` are produced.

    Returns columns ``product, term, a, b, c, d, N, E`` (integer cells), sorted by product and term.
    """
    return cells_from_codes(report_codes_from_frame(reports))


# ---------------------------------------------------------------------------------------------
# From aggregated counts
# ---------------------------------------------------------------------------------------------
def _whole_counts(series: pd.Series, what: str) -> IntArray:
    values = pd.to_numeric(series, errors="coerce").to_numpy(dtype=float)
    if np.any(~np.isfinite(values)) or np.any(values < 0) or np.any(values != np.round(values)):
        raise ValueError(f"{what} must hold non-negative whole numbers")
    return values.astype(np.int64)


def _check_count_tables(term_counts: pd.DataFrame, product_totals: pd.DataFrame, stratum: tuple[str, ...]) -> None:
    require_columns(term_counts, ("product", "term", *stratum, "n_reports"), "term_counts")
    require_columns(product_totals, ("product", *stratum, "n_reports"), "product_totals")
    keys = ["product", *stratum]
    if product_totals[keys].duplicated().any():
        dup = product_totals.loc[product_totals[keys].duplicated(), keys].iloc[0].tolist()
        raise ValueError(f"product_totals lists {dup} more than once")
    if term_counts[["product", "term", *stratum]].duplicated().any():
        dup = term_counts.loc[term_counts[["product", "term", *stratum]].duplicated(), ["product", "term"]].iloc[0]
        raise ValueError(f"term_counts lists the pair ({dup['product']!r}, {dup['term']!r}) more than once")
    if term_counts[["product", "term", *stratum]].isna().any().any() or product_totals[keys].isna().any().any():
        raise ValueError("product, term" + (" and stratum" if stratum else "") + " must not be missing")


def contingency_from_counts(
    term_counts: pd.DataFrame, product_totals: pd.DataFrame, *, stratified: bool = False
) -> pd.DataFrame:
    """2x2 cells from aggregated counts (how openFDA ``count`` queries arrive).

    ``term_counts`` has columns ``product, term, n_reports`` (reports of product P mentioning
    term T) and ``product_totals`` has ``product, n_reports`` (the reports of P that count as
    the row total: all reports, or those carrying a problem code of the type analysed). Then
    ``a = n(P,T)``, ``a + b = total(P)``, ``c = Σ_{P'≠P} n(P',T)``,
    ``c + d = Σ_{P'≠P} total(P')``, ``N = Σ_P total(P)`` and ``E = (a+b)(a+c)/N``.

    With ``stratified``, both tables carry a ``stratum`` column (e.g. the year received) and the
    cells are the sums over strata while ``E = Σ_s (a+b)_s (a+c)_s / N_s`` (openEBGM-style
    stratified expected count): a product's share of a term is compared with the other products'
    within the same year, so a change of coding practice over the calendar does not make a
    product whose reports fall in other years look disproportionate.

    Aggregated counts cannot tell which reports are shared between products: a report naming
    two products counts once for each, so ``N`` is a count of report-product pairs, not of
    distinct reports. This is an approximation to the distinct-report table of
    :func:`contingency_from_reports`, exact when every report names one product.

    Pairs with ``n_reports = 0`` are dropped (zero cells are never scored). Returns columns
    ``product, term, a, b, c, d, N, E`` sorted by product and term.
    """
    stratum = ("stratum",) if stratified else ()
    _check_count_tables(term_counts, product_totals, stratum)
    totals = product_totals.assign(n_reports=_whole_counts(product_totals["n_reports"], "product_totals.n_reports"))
    counts = term_counts.assign(n_reports=_whole_counts(term_counts["n_reports"], "term_counts.n_reports"))
    known = set(totals[["product", *stratum]].itertuples(index=False, name=None))
    unknown = sorted({k for k in counts[["product", *stratum]].itertuples(index=False, name=None)} - known, key=str)
    if unknown:
        what = "products" + (" and strata" if stratified else "")
        raise ValueError(f"term_counts has {what} without a total in product_totals: {unknown[:5]}")
    merged = counts.merge(totals.rename(columns={"n_reports": "total"}), on=["product", *stratum], how="left")
    if (merged["n_reports"] > merged["total"]).any():
        bad = merged[merged["n_reports"] > merged["total"]].iloc[0]
        raise ValueError(f"n_reports for ({bad['product']!r}, {bad['term']!r}) exceeds the product's total reports")

    pairs = counts.groupby(["product", "term"], sort=True, as_index=False)["n_reports"].sum()
    pairs = pairs[pairs["n_reports"] > 0].reset_index(drop=True)
    row_total = totals.groupby("product")["n_reports"].sum()
    term_total = counts.groupby("term")["n_reports"].sum()
    n_total = int(totals["n_reports"].sum())
    row = row_total.reindex(pairs["product"]).to_numpy()
    col = term_total.reindex(pairs["term"]).to_numpy()
    expected = None
    if stratified:
        expected = np.zeros(len(pairs))
        row_s = totals.pivot_table(index="product", columns="stratum", values="n_reports", aggfunc="sum", fill_value=0)
        col_s = counts.pivot_table(index="term", columns="stratum", values="n_reports", aggfunc="sum", fill_value=0)
        n_s = totals.groupby("stratum")["n_reports"].sum()
        for s, n_in_s in n_s.items():
            if n_in_s == 0 or s not in col_s.columns:
                continue
            expected += (row_s[s].reindex(pairs["product"]).fillna(0).to_numpy(float)
                         * col_s[s].reindex(pairs["term"]).fillna(0).to_numpy(float) / float(n_in_s))
    table = _cells(pairs["product"], pairs["term"], pairs["n_reports"].to_numpy(), row, col, n_total, expected)
    return table.sort_values(["product", "term"], kind="mergesort").reset_index(drop=True)
