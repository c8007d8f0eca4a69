"""Tests of cer_lib.analysis.disproportionality: 2x2 tables and frequentist scores.

Every pinned number is cited to the source that computed it independently of this code.
"""
from __future__ import annotations

import dataclasses
import itertools
import json
import math
import warnings

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from scipy.stats import chi2_contingency
from statsmodels.stats.contingency_tables import Table2x2

from cer_lib.analysis.disproportionality import (
    IC_DEFINITION,
    SCORE_COLUMNS,
    SignalResult,
    SignalSettings,
    contingency_from_counts,
    contingency_from_reports,
    detect_signals,
    haldane_anscombe,
    information_component,
    information_component_bcpnn,
    proportional_reporting_ratio,
    reporting_odds_ratio,
    score_device_problems,
    score_table,
    yates_chi_square,
)
from cer_lib.analysis.ebgm import PriorFit, PriorFitNotPossible
from cer_lib.analysis.signal_files import signals_file as signals_csv

Z95 = 1.959964


# ---------------------------------------------------------------------------------------------
# Step 1: 2x2 cells
# ---------------------------------------------------------------------------------------------
def openebgm_dat2() -> pd.DataFrame:
    """The 10-report example of openEBGM's tests/testthat/testA_Counts.R (``dat2``)."""
    return pd.DataFrame(
        {
            "report_id": range(1, 11),
            "product": ["product_A"] + ["product_B"] * 3 + ["product_C"] + ["product_A"] * 2
            + ["product_B"] * 2 + ["product_C"],
            "term": ["event_1"] + ["event_2"] * 2 + ["event_3"] * 2 + ["event_2"] + ["event_3"] * 3
            + ["event_1"],
        }
    )


def test_contingency_matches_openebgm_hand_calculation() -> None:
    # openEBGM tests/testthat/testA_Counts.R, data frame `hand` (unstratified, zero pairs
    # dropped): N, E and PRR computed by hand by the openEBGM authors, rounded to 4 digits.
    hand = pd.DataFrame(
        {
            "product": ["product_A"] * 3 + ["product_B"] * 2 + ["product_C"] * 2,
            "term": ["event_1", "event_2", "event_3", "event_2", "event_3", "event_1", "event_3"],
            "a": [1, 1, 1, 2, 3, 1, 1],
            "E": [0.6, 0.9, 1.5, 1.5, 2.5, 0.4, 1.0],
            "PRR": [2.3333, 1.1667, 0.5833, 2.0, 1.5, 4.0, 1.0],
        }
    )
    table = contingency_from_reports(openebgm_dat2())
    assert list(table.columns) == ["product", "term", "a", "b", "c", "d", "N", "E"]
    assert table[["product", "term"]].equals(hand[["product", "term"]])
    assert table["a"].tolist() == hand["a"].tolist()
    np.testing.assert_allclose(table["E"], hand["E"], rtol=1e-12)
    assert (table["N"] == 10).all()
    assert (table[["a", "b", "c", "d"]].sum(axis=1) == 10).all()
    assert all(pd.api.types.is_integer_dtype(table[k]) for k in ("a", "b", "c", "d", "N"))
    prr, _, _ = proportional_reporting_ratio(table["a"], table["b"], table["c"], table["d"])
    np.testing.assert_allclose(np.round(prr, 4), hand["PRR"], atol=1e-12)


def _brute_force_cells(reports: pd.DataFrame) -> pd.DataFrame:
    """Cells by explicit loops over sets of distinct reports (the definition, written plainly)."""
    all_reports = set(reports["report_id"])
    with_product: dict[str, set] = {}
    with_term: dict[str, set] = {}
    for rid, product, term in reports[["report_id", "product", "term"]].itertuples(index=False):
        if isinstance(product, str):
            with_product.setdefault(product, set()).add(rid)
        if isinstance(term, str):
            with_term.setdefault(term, set()).add(rid)
    rows = []
    for product, term in sorted(itertools.product(with_product, with_term)):
        p_ids, t_ids = with_product[product], with_term[term]
        a = len(p_ids & t_ids)
        if a == 0:
            continue
        b = len(p_ids - t_ids)
        c = len(t_ids - p_ids)
        d = len(all_reports - p_ids - t_ids)
        rows.append((product, term, a, b, c, d, len(all_reports), len(p_ids) * len(t_ids) / len(all_reports)))
    return pd.DataFrame(rows, columns=["product", "term", "a", "b", "c", "d", "N", "E"])


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_contingency_from_reports_equals_brute_force(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n_rows = 400
    reports = pd.DataFrame(
        {
            "report_id": rng.integers(0, 120, n_rows),
            "product": rng.choice(["P1", "P2", "P3", "P4", "P5"], n_rows, p=[0.4, 0.3, 0.15, 0.1, 0.05]),
            "term": rng.choice([f"T{i}" for i in range(12)], n_rows),
        }
    )
    # duplicated rows (the same report, product and term twice) and rows without a term
    reports = pd.concat([reports, reports.sample(50, random_state=seed)], ignore_index=True)
    reports.loc[reports.sample(15, random_state=seed + 10).index, "term"] = None
    expected = _brute_force_cells(reports)
    table = contingency_from_reports(reports)
    pd.testing.assert_frame_equal(
        table.reset_index(drop=True), expected, check_dtype=False, rtol=1e-12, atol=0
    )
    # properties: cells add up to N, E = (a+b)(a+c)/N, a never 0, a <= reports of the product
    assert ((table["a"] + table["b"] + table["c"] + table["d"]) == table["N"]).all()
    np.testing.assert_allclose(
        table["E"], (table["a"] + table["b"]) * (table["a"] + table["c"]) / table["N"], rtol=1e-12
    )
    assert (table["a"] >= 1).all()
    per_product = table.groupby("product")[["a", "b"]].first().sum(axis=1)
    assert (table.groupby("product")["a"].max() <= per_product).all()
    # within a product every row has the same a + b (the product margin)
    assert (table.assign(ab=table["a"] + table["b"]).groupby("product")["ab"].nunique() == 1).all()


def test_contingency_from_reports_counts_duplicates_once() -> None:
    reports = pd.DataFrame(
        {"report_id": [1, 1, 2, 3], "product": ["X", "X", "X", "Y"], "term": ["t", "t", "u", "t"]}
    )
    table = contingency_from_reports(reports).set_index(["product", "term"])
    assert table.loc[("X", "t"), ["a", "b", "c", "d", "N"]].tolist() == [1, 1, 1, 0, 3]
    assert table.loc[("Y", "t"), ["a", "b", "c", "d", "N"]].tolist() == [1, 0, 1, 1, 3]


def test_contingency_from_reports_rejects_missing_columns_and_ids() -> None:
    with pytest.raises(ValueError, match="'term'"):
        contingency_from_reports(pd.DataFrame({"report_id": [1], "product": ["X"]}))
    with pytest.raises(ValueError, match="report_id"):
        contingency_from_reports(pd.DataFrame({"report_id": [None], "product": ["X"], "term": ["t"]}))


def test_contingency_from_counts_equals_distinct_reports_when_one_product_per_report() -> None:
    rng = np.random.default_rng(5)
    reports = pd.DataFrame(
        {
            "report_id": np.arange(300),
            "product": rng.choice(["A", "B", "C"], 300),
        }
    )
    # 1-3 terms per report, one product per report
    long = reports.loc[reports.index.repeat(rng.integers(1, 4, 300))].copy()
    long["term"] = rng.choice(["t1", "t2", "t3", "t4", "t5"], len(long))
    long = long.drop_duplicates()
    term_counts = long.groupby(["product", "term"])["report_id"].nunique().rename("n_reports").reset_index()
    product_totals = long.groupby("product")["report_id"].nunique().rename("n_reports").reset_index()
    from_counts = contingency_from_counts(term_counts, product_totals)
    from_reports = contingency_from_reports(long)
    pd.testing.assert_frame_equal(from_counts, from_reports, check_dtype=False)


def test_contingency_from_counts_counts_report_product_pairs() -> None:
    # report 1 names products A and B with term t; report 2 names A with u; report 3 names B with t.
    term_counts = pd.DataFrame({"product": ["A", "A", "B", "B"], "term": ["t", "u", "t", "v"],
                                "n_reports": [1, 1, 2, 0]})
    product_totals = pd.DataFrame({"product": ["A", "B"], "n_reports": [2, 2]})
    table = contingency_from_counts(term_counts, product_totals).set_index(["product", "term"])
    # N = 4 report-product pairs (3 distinct reports): the documented approximation
    assert (table["N"] == 4).all()
    assert table.loc[("A", "t"), ["a", "b", "c", "d"]].tolist() == [1, 1, 2, 0]
    assert ("B", "v") not in table.index  # zero cells are never produced
    assert table.loc[("B", "t"), "E"] == pytest.approx(2 * 3 / 4)


@pytest.mark.parametrize(
    ("term_counts", "product_totals", "message"),
    [
        (pd.DataFrame({"product": ["A"], "term": ["t"], "n_reports": [5]}),
         pd.DataFrame({"product": ["A"], "n_reports": [3]}), "exceeds"),
        (pd.DataFrame({"product": ["Z"], "term": ["t"], "n_reports": [1]}),
         pd.DataFrame({"product": ["A"], "n_reports": [3]}), "without a total"),
        (pd.DataFrame({"product": ["A", "A"], "term": ["t", "t"], "n_reports": [1, 1]}),
         pd.DataFrame({"product": ["A"], "n_reports": [3]}), "more than once"),
        (pd.DataFrame({"product": ["A"], "term": ["t"], "n_reports": [1.5]}),
         pd.DataFrame({"product": ["A"], "n_reports": [3]}), "whole numbers"),
        (pd.DataFrame({"product": ["A"], "term": ["t"]}),
         pd.DataFrame({"product": ["A"], "n_reports": [3]}), "'n_reports'"),
    ],
)
def test_contingency_from_counts_rejects_inconsistent_input(
    term_counts: pd.DataFrame, product_totals: pd.DataFrame, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        contingency_from_counts(term_counts, product_totals)


# ---------------------------------------------------------------------------------------------
# Step 2: frequentist scores, pinned to published worked examples and independent libraries
# ---------------------------------------------------------------------------------------------
def test_prr_and_yates_match_epi_info_worked_example() -> None:
    # Epi Info "2 x 2 Table Statistics", Stratum 1 (exposure+: 66 disease+, 28 disease-;
    # exposure-: 36, 32), from the EpiInformatics course material
    # https://epiinformatics.com/DownloadFiles/SessionI.zip : Risk Ratio 1.326 (Taylor series
    # 95% CI 1.023, 1.72), Yates corrected chi square 4.334. The risk ratio of the exposure row
    # is the PRR of the 2x2 table with the same variance formula.
    a, b, c, d = 66, 28, 36, 32
    prr, lo, hi = proportional_reporting_ratio(a, b, c, d, Z95)
    assert float(prr) == pytest.approx(1.326, abs=5e-4)
    assert float(lo) == pytest.approx(1.023, abs=5e-4)
    assert float(hi) == pytest.approx(1.72, abs=5e-3)
    assert float(yates_chi_square(a, b, c, d)) == pytest.approx(4.334, abs=5e-4)
    # and to more digits against independent libraries
    table = Table2x2(np.array([[a, b], [c, d]]))
    assert float(prr) == pytest.approx(table.riskratio, rel=1e-12)
    np.testing.assert_allclose([lo, hi], table.riskratio_confint(alpha=0.05), rtol=1e-8)
    assert float(yates_chi_square(a, b, c, d)) == pytest.approx(
        chi2_contingency([[a, b], [c, d]], correction=True)[0], rel=1e-12
    )


def test_ror_woolf_interval_matches_agresti_aspirin_example() -> None:
    # Agresti (1990) Categorical Data Analysis, Physicians' Health Study (placebo 189 MI /
    # 10,845 no MI; aspirin 104 / 10,933) as worked in the STATISTICA documentation
    # "Crosstabulations - Odds Ratio" (documentation.statsoft.com): odds ratio 1.832054,
    # asymptotic 95% CI [1.440042, 2.330780] (Woolf: sqrt(1/a+1/b+1/c+1/d)).
    ror, lo, hi = reporting_odds_ratio(189, 10845, 104, 10933, Z95)
    assert float(ror) == pytest.approx(1.832054, rel=1e-6)
    assert float(lo) == pytest.approx(1.440042, rel=1e-6)
    assert float(hi) == pytest.approx(2.330780, rel=1e-6)
    table = Table2x2(np.array([[189, 10845], [104, 10933]]))
    assert float(ror) == pytest.approx(table.oddsratio, rel=1e-12)
    np.testing.assert_allclose([lo, hi], table.oddsratio_confint(alpha=0.05), rtol=1e-8)


def test_yates_chi_square_matches_scipy_on_random_tables() -> None:
    rng = np.random.default_rng(11)
    cells = rng.integers(1, 200, size=(200, 4))
    cells[:20, 0] = 1  # tables where |ad - bc| < N/2: the correction stops at the expected counts
    ours = yates_chi_square(*cells.T)
    theirs = [chi2_contingency(c.reshape(2, 2), correction=True)[0] for c in cells]
    np.testing.assert_allclose(ours, theirs, rtol=1e-10, atol=1e-12)


def test_haldane_correction_only_for_tables_with_a_zero_cell() -> None:
    # Row 0 has b = 0, row 1 has c = 0, row 2 has no zero cell.
    table = pd.DataFrame(
        {"product": ["P", "P", "P"], "term": ["t1", "t2", "t3"], "a": [5, 4, 6], "b": [0, 1, 14],
         "c": [20, 0, 30], "d": [975, 995, 950]}
    )
    table["N"] = table[["a", "b", "c", "d"]].sum(axis=1)
    table["E"] = (table["a"] + table["b"]) * (table["a"] + table["c"]) / table["N"]
    scored = score_table(table, settings=SignalSettings())
    assert scored["haldane"].tolist() == [True, True, False]
    for _, row in scored.iterrows():
        cells = np.array([[row["a"], row["b"]], [row["c"], row["d"]]], dtype=float)
        # Haldane-Anscombe by hand, then statsmodels for the ratios and intervals. (statsmodels'
        # own shift_zeros replaces zero cells by 0.5 instead of adding 0.5 to all four cells,
        # despite its docstring, so it is not used here.)
        ref = Table2x2(cells + 0.5 if (cells == 0).any() else cells, shift_zeros=False)
        assert row["ROR"] == pytest.approx(ref.oddsratio, rel=1e-12)
        # (z = 1.959964 here against the exact normal quantile in statsmodels: 1e-7 relative)
        np.testing.assert_allclose([row["ROR_lo"], row["ROR_hi"]], ref.oddsratio_confint(), rtol=1e-7)
        assert row["PRR"] == pytest.approx(ref.riskratio, rel=1e-12)
        np.testing.assert_allclose([row["PRR_lo"], row["PRR_hi"]], ref.riskratio_confint(), rtol=1e-7)
        # chi-square uses the raw cells
        assert row["chi2_yates"] == pytest.approx(chi2_contingency(cells, correction=True)[0], rel=1e-12)
    # the uncorrected table keeps its exact ratio: (6/20)/(30/980)
    assert scored.loc[2, "PRR"] == pytest.approx((6 / 20) / (30 / 980), rel=1e-12)
    # by hand for row 0: (5.5/6)/(20.5/996)
    assert scored.loc[0, "PRR"] == pytest.approx((5.5 / 6.0) / (20.5 / 996.0), rel=1e-12)
    # vigipy applies the same rule (all four cells, only tables with a zero cell)
    from vigipy import prr as vigipy_prr
    from vigipy import ror as vigipy_ror

    for fn, col in ((vigipy_prr, "PRR"), (vigipy_ror, "ROR")):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ref_v = fn(_vigipy_container(table), min_events=1, decision_metric="rank",
                       decision_thres=1.0).all_signals
        merged = scored.merge(ref_v.rename(columns={"Product": "product", "Adverse Event": "term"}),
                              on=["product", "term"], suffixes=("", "_vigipy"))
        assert len(merged) == 3
        np.testing.assert_allclose(merged[col], merged[f"{col}_vigipy"], rtol=1e-10)
        np.testing.assert_allclose(merged[f"{col}_lo"], merged["CI Lower"], rtol=1e-6)
    corrected = haldane_anscombe([5, 6], [0, 14], [20, 30], [975, 950])
    assert corrected[4].tolist() == [True, False]
    assert corrected[1].tolist() == [0.5, 14.0]


def _vigipy_container(table: pd.DataFrame):  # noqa: ANN202 - vigipy type
    from vigipy.utils.Container import DataContainer

    data = pd.DataFrame(
        {
            "events": table["a"].to_numpy(),
            "product_aes": (table["a"] + table["b"]).to_numpy(),
            "count_across_brands": (table["a"] + table["c"]).to_numpy(),
            "ae_name": table["term"].to_numpy(),
            "product_name": table["product"].to_numpy(),
        }
    )
    return DataContainer(data=data, N=int(table["N"].iloc[0]))


def _random_report_table(seed: int, n_reports: int = 3000) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    product = rng.choice([f"P{i}" for i in range(8)], n_reports, p=np.r_[0.5, np.full(7, 0.5 / 7)])
    long = pd.DataFrame({"report_id": np.arange(n_reports), "product": product})
    long = long.loc[long.index.repeat(rng.integers(1, 4, n_reports))].copy()
    long["term"] = rng.choice([f"T{i}" for i in range(25)], len(long), p=np.r_[np.full(5, 0.1), np.full(20, 0.025)])
    # a product-specific excess of one term
    mask = long["product"].eq("P3") & (rng.random(len(long)) < 0.3)
    long.loc[mask, "term"] = "T24"
    return long


def test_prr_ror_match_vigipy() -> None:
    from vigipy import prr as vigipy_prr
    from vigipy import ror as vigipy_ror

    table = contingency_from_reports(_random_report_table(3))
    scored = score_table(table, settings=SignalSettings(n_starts=2))
    container = _vigipy_container(table)
    for fn, col in ((vigipy_prr, "PRR"), (vigipy_ror, "ROR")):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ref = fn(container, min_events=1, decision_metric="rank", decision_thres=1.0).all_signals
        ref = ref.rename(columns={"Product": "product", "Adverse Event": "term"})
        merged = scored.merge(ref, on=["product", "term"], suffixes=("", "_vigipy"))
        assert len(merged) == len(scored)
        np.testing.assert_allclose(merged[col], merged[f"{col}_vigipy"], rtol=1e-10)
        np.testing.assert_allclose(merged[f"{col}_lo"], merged["CI Lower"], rtol=1e-6)
        np.testing.assert_allclose(merged[f"{col}_hi"], merged["CI Upper"], rtol=1e-6)


def test_information_component_shrinkage_definition() -> None:
    # Noren, Hopstadius & Bate (2013) Stat Methods Med Res 22:57-69:
    # IC = log2((a + 0.5)/(E + 0.5)); IC025 ~ IC - 3.3 (a+0.5)^-1/2 - 2 (a+0.5)^-3/2.
    # a = 3, E = 0.5: IC = log2(3.5) = 1.807355; IC025 = 1.807355 - 3.3/sqrt(3.5) - 2/3.5^1.5
    # = 1.807355 - 1.763924 - 0.305441 = -0.262011 (hand calculation).
    ic, ic025 = information_component(np.array([3.0]), np.array([0.5]))
    assert float(ic[0]) == pytest.approx(1.807355, abs=5e-7)
    assert float(ic025[0]) == pytest.approx(-0.262011, abs=5e-6)
    # the closed form approximates the 2.5% point of the Gamma(a + 0.5, E + 0.5) posterior
    # (vigicaen::ic_tail: log2(qgamma(0.025, a + .5, rate = E + .5))) to within 0.06 log2 units
    a = np.array([1, 3, 3, 10, 50, 200, 1000], dtype=float)
    e = np.array([0.1, 0.5, 3.0, 2.0, 10.0, 180.0, 20.0])
    _, approx = information_component(a, e)
    exact = np.log2(stats.gamma.ppf(0.025, a + 0.5, scale=1 / (e + 0.5)))
    assert np.max(np.abs(approx - exact)) < 0.06
    assert "shrinkage" in IC_DEFINITION and "Noren" in IC_DEFINITION


def test_bcpnn_expectation_matches_vigipy() -> None:
    from vigipy import bcpnn as vigipy_bcpnn

    table = contingency_from_reports(_random_report_table(4))
    mean, var = information_component_bcpnn(table["a"], table["a"] + table["b"],
                                             table["a"] + table["c"], table["N"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = vigipy_bcpnn(_vigipy_container(table), min_events=1, MC=False, decision_metric="rank",
                           decision_thres=1.0, ranking_statistic="quantile").all_signals
    ref = ref.rename(columns={"Product": "product", "Adverse Event": "term"})
    merged = table.assign(lower=stats.norm.ppf(0.025, mean, np.sqrt(var))).merge(ref, on=["product", "term"])
    assert len(merged) == len(table)
    # vigipy's 'quantile' column is norm.ppf(0.025, E[IC], sd[IC]) of its Gould BCPNN
    np.testing.assert_allclose(merged["lower"], merged["quantile"], rtol=1e-8, atol=1e-10)
    # the two IC definitions differ at small a (the reason the report names the one it uses)
    ic, _ = information_component(table["a"], table["E"])
    small = table["a"].to_numpy() <= 2
    assert np.max(np.abs(ic[small] - mean[small])) > 0.05


# ---------------------------------------------------------------------------------------------
# Steps 3-5 and the entry points
# ---------------------------------------------------------------------------------------------
def test_score_table_columns_and_rules() -> None:
    table = contingency_from_reports(_random_report_table(6))
    settings = SignalSettings(n_starts=3)
    scored = score_table(table, settings=settings)
    assert tuple(scored.columns[:19]) == SCORE_COLUMNS
    # issue 9 item 6: the primary screen's flag ('signal') and the IC025 rule follow the original four
    assert list(scored.columns[19:]) == ["N", "haldane", "evans_signal", "eb05_signal", "ic025_signal", "signal"]
    assert scored["signal"].tolist() == scored["eb05_signal"].tolist()  # EB05 is the default primary screen
    assert scored["ic025_signal"].tolist() == (scored["IC025"] > 0).tolist()
    assert (scored["a"] >= 1).all()
    expected_evans = (scored["PRR"] >= 2) & (scored["chi2_yates"] >= 4) & (scored["a"] >= 3)
    assert scored["evans_signal"].tolist() == expected_evans.tolist()
    assert scored["eb05_signal"].tolist() == (scored["EB05"] >= 2).tolist()
    # the planted excess (P3, T24) is flagged by every method
    row = scored.set_index(["product", "term"]).loc[("P3", "T24")]
    assert row["evans_signal"] and row["eb05_signal"] and row["IC025"] > 0 and row["ROR_lo"] > 1
    assert scored[["product", "term"]].equals(
        scored[["product", "term"]].sort_values(["product", "term"]).reset_index(drop=True)
    )


def test_zero_cells_are_never_scored() -> None:
    table = contingency_from_reports(openebgm_dat2())
    assert not ((table["product"] == "product_B") & (table["term"] == "event_1")).any()
    bad = table.copy()
    bad.loc[0, "a"] = 0
    with pytest.raises(ValueError, match="a = 0"):
        score_table(bad)


def test_prior_fit_not_possible_on_few_pairs_is_reported_not_raised() -> None:
    # with prior_fallback="none" (the default falls back to DuMouchel's 1999 prior instead, tested below)
    result = detect_signals(contingency_from_reports(openebgm_dat2()), settings=SignalSettings(prior_fallback="none"))
    assert isinstance(result.prior_fit, PriorFitNotPossible)
    assert "7 product-term pairs" in result.prior_fit.reason
    assert result.table[["EBGM", "EB05", "EB95"]].isna().all().all()
    assert not result.table["eb05_signal"].any()
    assert "Not computed" in result.methods["EBGM"]
    # frequentist scores are still there
    assert result.table["PRR"].notna().all()


def test_signal_result_to_dict_is_json() -> None:
    # per-component truncation and a 10-pair minimum were the defaults before issue 10 (now
    # whole-mixture and 300 pairs); they are set explicitly so this test keeps checking them
    result = detect_signals(contingency_from_reports(_random_report_table(7)),
                            settings=SignalSettings(n_starts=2, truncation="per-component", min_pairs_for_prior=10))
    assert isinstance(result, SignalResult)
    assert isinstance(result.prior_fit, PriorFit)
    out = result.to_dict()
    text = json.dumps(out, allow_nan=False)  # NaN would raise
    back = json.loads(text)
    assert back["ic_definition"] == IC_DEFINITION
    assert back["columns"][:19] == list(SCORE_COLUMNS)
    assert len(back["records"]) == len(result.table)
    assert set(back["methods"]) == {"contingency", "PRR", "ROR", "IC", "EBGM"}
    assert back["prior_fit"]["truncation"] == "per-component"
    assert "truncated at N* separately" in back["methods"]["EBGM"]
    whole = detect_signals(contingency_from_reports(_random_report_table(7)),
                           settings=SignalSettings(n_starts=2, truncation="whole-mixture", min_pairs_for_prior=10))
    assert whole.prior_fit.truncation == "whole-mixture"
    assert "as a whole" in whole.methods["EBGM"]
    first = back["records"][0]
    assert isinstance(first["PRR"], float) and isinstance(first["a"], int) and isinstance(first["haldane"], bool)
    # NaN becomes None
    small = detect_signals(contingency_from_reports(openebgm_dat2()), settings=SignalSettings(prior_fallback="none")).to_dict()
    json.dumps(small, allow_nan=False)
    assert small["records"][0]["EBGM"] is None


def test_signals_csv_round_trip(tmp_path) -> None:  # noqa: ANN001 - pytest fixture
    reports = _random_report_table(8, n_reports=800)
    src = tmp_path / "reports.csv"
    reports.to_csv(src, index=False)
    out = tmp_path / "out" / "signals.csv"
    result = signals_csv(src, out, SignalSettings(n_starts=2))
    written = pd.read_csv(out, keep_default_na=False, na_values=[""])
    assert list(written.columns[:19]) == list(SCORE_COLUMNS)
    assert list(written.columns) == list(result.table.columns)
    assert written[["product", "term"]].equals(
        written[["product", "term"]].sort_values(["product", "term"]).reset_index(drop=True)
    )
    assert not written.duplicated(["product", "term"]).any()
    for col in ("a", "b", "c", "d", "N"):
        assert written[col].tolist() == result.table[col].tolist()
    for col in ("E", "PRR", "PRR_lo", "ROR_hi", "IC025", "EBGM", "EB05", "EB95"):
        np.testing.assert_allclose(written[col], result.table[col], rtol=1e-12)
    assert written["haldane"].tolist() == result.table["haldane"].tolist()
    assert list(tmp_path.joinpath("out").iterdir()) == [out]  # no temporary file left behind


def test_signals_csv_errors(tmp_path) -> None:  # noqa: ANN001 - pytest fixture
    missing = tmp_path / "missing.csv"
    missing.write_text("report_id,device\n1,X\n")
    with pytest.raises(ValueError, match=r"missing column\(s\) 'product', 'term'"):
        signals_csv(missing, tmp_path / "o.csv")
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    with pytest.raises(ValueError, match="empty"):
        signals_csv(empty, tmp_path / "o.csv")
    header_only = tmp_path / "header.csv"
    header_only.write_text("report_id,product,term\n")
    with pytest.raises(ValueError, match="no rows"):
        signals_csv(header_only, tmp_path / "o.csv")
    assert not (tmp_path / "o.csv").exists()


def test_score_device_problems_scores_the_family() -> None:
    long = _random_report_table(9)
    term_counts = long.groupby(["product", "term"])["report_id"].nunique().rename("n_reports").reset_index()
    product_totals = long.groupby("product")["report_id"].nunique().rename("n_reports").reset_index()
    result = score_device_problems(term_counts, product_totals, "P3", SignalSettings(n_starts=2))
    assert result.product_of_interest == "P3"
    assert set(result.table["product"]) == set(product_totals["product"])  # the whole family
    mine = result.for_product("P3")
    assert (mine["product"] == "P3").all() and len(mine) == (term_counts["product"] == "P3").sum()
    assert "report-product pairs" in result.methods["contingency"]
    with pytest.raises(ValueError, match="not in product_totals"):
        score_device_problems(term_counts, product_totals, "NOPE")


def test_settings_validate() -> None:
    with pytest.raises(ValueError):
        SignalSettings(n_star=0)
    with pytest.raises(ValueError):
        SignalSettings(min_pairs_for_prior=2)
    with pytest.raises(ValueError, match="truncation"):
        SignalSettings(truncation="both")  # type: ignore[arg-type]
    assert SignalSettings().z == Z95
    with pytest.raises(dataclasses.FrozenInstanceError):
        SignalSettings().z = 2.0  # type: ignore[misc]


def test_many_pairs_are_fast() -> None:
    # ~1e5 report rows -> a table in well under a second (vectorised groupbys, no loops on pairs)
    import time

    rng = np.random.default_rng(12)
    n = 100_000
    reports = pd.DataFrame({"report_id": rng.integers(0, 40_000, n),
                            "product": rng.integers(0, 200, n).astype(str),
                            "term": rng.integers(0, 500, n).astype(str)})
    start = time.perf_counter()
    table = contingency_from_reports(reports)
    assert time.perf_counter() - start < 5.0
    assert math.isclose(table["N"].iloc[0], reports["report_id"].nunique())
    # reports here name several products: pairs are report-level co-occurrences, a superset of rows
    assert len(table) >= len(reports[["product", "term"]].drop_duplicates())
    assert ((table["a"] + table["b"] + table["c"] + table["d"]) == table["N"]).all()


def test_every_observed_pair_appears_once() -> None:
    reports = _random_report_table(10, n_reports=500)
    table = contingency_from_reports(reports)
    observed = set(map(tuple, reports[["product", "term"]].drop_duplicates().to_numpy()))
    assert set(map(tuple, table[["product", "term"]].to_numpy())) == observed
    assert not table.duplicated(["product", "term"]).any()


# ---------------------------------------------------------------------------------------------
# Issue 9 items 5 and 6, issue 10: stratified E, the primary screen, small families, files
# ---------------------------------------------------------------------------------------------
def _yearly_reports(seed: int) -> pd.DataFrame:
    """One product and one term per report, with a year: products and coding differ by year."""
    rng = np.random.default_rng(seed)
    n = 4000
    year = rng.choice([2019, 2020, 2021], n)
    product = np.where(rng.random(n) < np.select([year == 2019, year == 2020], [0.7, 0.4], 0.15), "A",
                       rng.choice(["B", "C", "D"], n))
    term = rng.choice([f"T{i}" for i in range(8)], n)
    term = np.where((year == 2019) & (rng.random(n) < 0.3), "T0", term)  # T0 coded more often in 2019
    return pd.DataFrame({"report_id": np.arange(n), "product": product, "term": term, "year": year})


def test_stratified_expected_counts_match_the_definition() -> None:
    # E = sum over strata s of (a+b)_s (a+c)_s / N_s (openEBGM processRaw(stratify = TRUE)),
    # written here as explicit loops over the report table
    reports = _yearly_reports(40)
    term_counts = reports.groupby(["product", "term", "year"]).size().rename("n_reports").reset_index()
    totals = reports.groupby(["product", "year"]).size().rename("n_reports").reset_index()
    table = contingency_from_counts(term_counts.rename(columns={"year": "stratum"}),
                                    totals.rename(columns={"year": "stratum"}), stratified=True)
    plain = contingency_from_counts(term_counts.groupby(["product", "term"], as_index=False)["n_reports"].sum(),
                                    totals.groupby("product", as_index=False)["n_reports"].sum())
    # the cells are the pooled cells; only E changes
    pd.testing.assert_frame_equal(table.drop(columns="E"), plain.drop(columns="E"))
    for row in table.itertuples():
        expected = 0.0
        for year in (2019, 2020, 2021):
            in_year = reports[reports["year"] == year]
            n_p = (in_year["product"] == row.product).sum()
            n_t = (in_year["term"] == row.term).sum()
            expected += n_p * n_t / len(in_year)
        assert row.E == pytest.approx(expected, rel=1e-12)
    with pytest.raises(ValueError, match="'stratum'"):
        contingency_from_counts(term_counts, totals.rename(columns={"year": "stratum"}), stratified=True)


def test_stratified_expected_counts_remove_a_calendar_change_in_coding() -> None:
    # Product A: 800 reports in 2015, 200 in 2020; B: 200 and 800. Term T is coded in 30 % of the
    # 2015 reports and 5 % of the 2020 reports of every product: no product-specific excess.
    term_counts = pd.DataFrame({
        "product": ["A", "A", "A", "A", "B", "B", "B", "B"],
        "term": ["T", "U", "T", "U", "T", "U", "T", "U"],
        "stratum": [2015, 2015, 2020, 2020, 2015, 2015, 2020, 2020],
        "n_reports": [240, 560, 10, 190, 60, 140, 40, 760],
    })
    totals = pd.DataFrame({"product": ["A", "A", "B", "B"], "stratum": [2015, 2020, 2015, 2020],
                           "n_reports": [800, 200, 200, 800]})
    stratified = contingency_from_counts(term_counts, totals, stratified=True).set_index(["product", "term"])
    crude = contingency_from_counts(term_counts.groupby(["product", "term"], as_index=False)["n_reports"].sum(),
                                    totals.groupby("product", as_index=False)["n_reports"].sum()).set_index(["product", "term"])
    # by hand: stratified E(A, T) = 800*300/1000 + 200*50/1000 = 250 = a; crude E = 1000*350/2000 = 175
    assert stratified.loc[("A", "T"), "E"] == pytest.approx(250.0) and stratified.loc[("A", "T"), "a"] == 250
    assert crude.loc[("A", "T"), "E"] == pytest.approx(175.0)
    ic_strat, _ = information_component(250, stratified.loc[("A", "T"), "E"])
    ic_crude, _ = information_component(250, crude.loc[("A", "T"), "E"])
    assert abs(float(ic_strat)) < 1e-12 and float(ic_crude) > 0.5


def test_primary_screen_decides_the_signals_and_says_so() -> None:
    table = contingency_from_reports(_random_report_table(6))
    eb05 = detect_signals(table, settings=SignalSettings(n_starts=2))
    ic = detect_signals(table, settings=SignalSettings(n_starts=2, primary_screen="IC025"))
    assert eb05.table["signal"].tolist() == eb05.table["eb05_signal"].tolist()
    assert ic.table["signal"].tolist() == ic.table["ic025_signal"].tolist()
    assert eb05.n_signals() == int(eb05.table["eb05_signal"].sum()) and ic.n_signals() == int(ic.table["ic025_signal"].sum())
    assert eb05.n_signals() != ic.n_signals()  # the rule matters on these data
    # the Evans rule is secondary: pairs it flags are not counted unless the primary rule flags them
    evans_only = eb05.table["evans_signal"] & ~eb05.table["signal"]
    assert evans_only.any() and eb05.n_signals() == int(eb05.table["signal"].sum())
    screen = eb05.to_dict()["screen"]
    assert screen["primary"] == "EB05 >= 2" and screen["n_signals"] == eb05.n_signals() and screen["applicable"]
    assert any(s.startswith("Evans") for s in screen["secondary"])
    assert "Primary screen" in screen["text"] and "EB05 >= 2" in screen["text"]
    assert ic.to_dict()["screen"]["primary"] == "IC025 > 0"
    with pytest.raises(ValueError, match="primary_screen"):
        SignalSettings(primary_screen="PRR")  # type: ignore[arg-type]
    # without a prior (fallback "none" on a table too small to fit) the EB05 screen cannot be applied
    small = detect_signals(contingency_from_reports(openebgm_dat2()), settings=SignalSettings(prior_fallback="none"))
    assert not small.screen_applicable and small.n_signals() is None
    assert small.to_dict()["screen"]["applicable"] is False


def test_eb05_never_flags_a_pair_above_its_ebgm() -> None:
    # A prior with two tight components far apart (means 10 and 0.001) and P chosen so that one
    # pair's posterior puts 97 % on the upper one: EB05 (in the upper component) > EBGM.
    from cer_lib.analysis.ebgm import GammaMixturePrior, PriorChoice, posterior_scores

    f1 = stats.nbinom.pmf(1, 4000, 400 / 400.5)
    f2 = stats.nbinom.pmf(1, 4000, 4e6 / (4e6 + 0.5))
    p = (0.97 / 0.03 * f2) / (f1 + 0.97 / 0.03 * f2)
    prior = GammaMixturePrior(4000.0, 400.0, 4000.0, 4e6, p)
    table = pd.DataFrame({"product": ["P"], "term": ["t"], "a": [1], "b": [9], "c": [9], "d": [181], "N": [200]})
    table["E"] = 10 * 10 / 200
    scored = score_table(table, prior=PriorChoice("fixed: constructed", prior, "test"))
    row = scored.iloc[0]
    reference = posterior_scores([1], [0.5], prior).iloc[0]
    assert reference["Q"] == pytest.approx(0.97, rel=1e-9)
    assert row["EB05"] == pytest.approx(reference["EB05"]) and row["EB05"] > row["EBGM"] >= 2
    assert not row["eb05_signal"] and not row["signal"]


def _two_product_family(seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A device family of 2 product codes x 30 problem terms, with excess terms for product A."""
    rng = np.random.default_rng(seed)
    terms = [f"T{i:02d}" for i in range(30)]
    totals = pd.DataFrame({"product": ["A", "B"], "n_reports": rng.integers(200, 3000, 2)})
    share = rng.dirichlet(np.full(30, 0.5))
    rows = []
    for product, total in zip(totals["product"], totals["n_reports"], strict=True):
        mult = np.exp(rng.normal(0, 0.8, 30))
        if product == "A":
            mult[:8] *= rng.uniform(2, 30, 8)
        counts = np.minimum(rng.poisson(total * share * mult * 0.6), total)
        rows += [(product, t, int(c)) for t, c in zip(terms, counts, strict=True)]
    return pd.DataFrame(rows, columns=["product", "term", "n_reports"]), totals


@pytest.mark.parametrize("seed", [29, 230])
def test_small_family_is_not_scored_from_a_degenerate_fit(seed: int) -> None:
    """Issue 10: 2 product codes x 30 terms (the seeds are two where the pre-issue-10 fit ended on
    its box edge, gave EB05-EB95 intervals under 1 % of EBGM wide and EB05 > EBGM for 9 and 10 pairs).

    Now the family is below the stated 300-pair minimum: the prior is not fitted, the scores use
    DuMouchel's (1999) published prior, said in the result, and agree with vigipy's posterior
    for that prior; intervals are of a plausible width and no pair has EB05 > EBGM.
    """
    from vigipy.GPS.GPS import gps
    from vigipy.utils.Container import DataContainer

    from cer_lib.analysis.ebgm import DUMOUCHEL_1999_START

    term_counts, totals = _two_product_family(seed)
    result = score_device_problems(term_counts, totals, "A")
    table = result.table
    assert isinstance(result.prior_fit, PriorFitNotPossible) and "at least 300" in result.prior_fit.reason
    assert result.prior.source == "fixed: DuMouchel 1999" and result.prior.prior.theta == DUMOUCHEL_1999_START
    assert "DuMouchel" in result.methods["EBGM"] and "fixed" in result.methods["EBGM"]
    assert result.to_dict()["prior_used"]["source"] == "fixed: DuMouchel 1999"
    assert not (table["EB05"] > table["EBGM"]).any()
    # a 90 % interval no narrower than half of what the count alone gives (~3.29/sqrt(a) relative):
    # only a prior concentrated on a point (the degenerate fit) makes it narrower
    assert (((table["EB95"] - table["EB05"]) / table["EBGM"]) * np.sqrt(table["a"]) / 3.29).min() > 0.5
    assert not (table["eb05_signal"] & (table["EB05"] > table["EBGM"])).any()
    data = pd.DataFrame({"events": table["a"], "product_aes": table["a"] + table["b"],
                         "count_across_brands": table["a"] + table["c"], "ae_name": table["term"].astype(object),
                         "product_name": table["product"].astype(object)})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = gps(DataContainer(data=data, N=int(table["N"].iloc[0])), prior_param=list(DUMOUCHEL_1999_START),
                  min_events=1, decision_metric="rank", decision_thres=1.0).all_signals
    merged = table.merge(ref.rename(columns={"Product": "product", "Adverse Event": "term"}), on=["product", "term"],
                         suffixes=("", "_vigipy"))
    assert len(merged) == len(table)
    np.testing.assert_allclose(merged["EBGM"], merged["EBGM_vigipy"], rtol=1e-7)
    np.testing.assert_allclose(merged["EB05"], merged["LowerBound"], rtol=1e-3)


def test_signals_file_reads_and_writes_parquet_and_csv_alike(tmp_path) -> None:  # noqa: ANN001 - pytest fixture
    reports = _random_report_table(11, n_reports=1500)
    reports.loc[reports.sample(10, random_state=1).index, "term"] = None
    csv_in, parquet_in = tmp_path / "r.csv", tmp_path / "r.parquet"
    reports.to_csv(csv_in, index=False)
    reports.to_parquet(parquet_in, index=False)
    settings = SignalSettings(n_starts=2)
    from_csv = signals_csv(csv_in, tmp_path / "a.parquet", settings)
    from_parquet = signals_csv(parquet_in, tmp_path / "b.csv", settings)
    pd.testing.assert_frame_equal(from_csv.table, from_parquet.table)
    pd.testing.assert_frame_equal(from_csv.table, score_table(contingency_from_reports(reports), settings=settings))
    written = pd.read_parquet(tmp_path / "a.parquet")
    assert list(written.columns) == list(from_csv.table.columns)
    np.testing.assert_array_equal(written["EB05"].to_numpy(), from_csv.table["EB05"].to_numpy())
    again = pd.read_csv(tmp_path / "b.csv", keep_default_na=False, na_values=[""])
    np.testing.assert_array_equal(again["EB05"].to_numpy(), from_csv.table["EB05"].to_numpy())  # every digit
    with pytest.raises(ValueError, match=r"\.csv or \.parquet"):
        signals_csv(csv_in, tmp_path / "out.xlsx")
    with pytest.raises(FileNotFoundError):
        signals_csv(tmp_path / "absent.parquet", tmp_path / "c.csv")
