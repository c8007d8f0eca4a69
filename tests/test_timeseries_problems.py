"""Problem-term profiles: top terms by share of reports; share changes by Fisher exact test with
Benjamini-Hochberg FDR control.

Sources: Fisher (1922) exact test for 2x2 tables; Benjamini & Hochberg (1995) JRSS B 57:289 (step-up
FDR procedure: q_(i) = min over j >= i of p_(j) m / j).
"""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from cer_lib.analysis.problems import (
    last_complete_year,
    problem_profile,
    problem_share_changes,
    top_problem_terms,
)

YEARS = [str(y) for y in range(2017, 2025)]  # 2024 incomplete (as_of 2024-06-30)


def build(rng, shares, *, reports=2000, shift=None, code="LZG", uncoded=()):
    """Per-year and 'all' rows; ``shift`` = {term: (share_before, share_from_2022)}."""
    per_year = {y: reports for y in YEARS}
    rows = []
    for year in YEARS:
        for (ptype, term), share in shares.items():
            if year in uncoded and ptype == "patient":
                continue
            p = share
            if shift and term in shift:
                p = shift[term][1] if int(year) >= 2022 else shift[term][0]
            rows.append((code, ptype, term, year, int(rng.binomial(reports, p))))
    rows.append(("OTHER", "device", "Break", "all", 999))  # a comparator row: must be ignored
    table = pd.DataFrame(rows, columns=["product_code", "problem_type", "term", "period", "n_reports"])
    totals = table.loc[table["product_code"] == code].groupby(["product_code", "problem_type", "term"],
                                                              as_index=False)["n_reports"].sum()
    table = pd.concat([table, totals.assign(period="all")], ignore_index=True)
    return table, {**per_year, "all": reports * len(YEARS)}


SHARES = {("device", "Break"): 0.10, ("device", "Leak"): 0.05, ("device", "Alarm"): 0.20,
          ("device", "Crack"): 0.05, ("device", "Rare"): 0.0004, ("patient", "Pain"): 0.04,
          ("patient", "Burn"): 0.02}


def test_top_terms_share_and_order():
    table = pd.DataFrame([
        ("LZG", "device", "B", "all", 30), ("LZG", "device", "A", "all", 30), ("LZG", "device", "C", "all", 50),
        ("LZG", "patient", "P", "all", 10), ("LZG", "device", "C", "2023", 50), ("XYZ", "device", "Z", "all", 500),
        ("LZG", "device", "", "all", 70), ("LZG", "device", None, "all", 80),
    ], columns=["product_code", "problem_type", "term", "period", "n_reports"])
    top = top_problem_terms(table, product_code="LZG", reports_per_period={"all": 200}, top_n=2)
    assert top.to_dict("records") == [
        {"problem_type": "device", "rank": 1, "term": "C", "n_reports": 50, "share": 0.25},
        {"problem_type": "device", "rank": 2, "term": "A", "n_reports": 30, "share": 0.15},  # tie: alphabetical
        {"problem_type": "patient", "rank": 1, "term": "P", "n_reports": 10, "share": 0.05},
    ]


def test_fisher_and_bh_by_hand():
    """Each p equals scipy's two-sided Fisher test; q equals the BH step-up values computed here."""
    rng = np.random.default_rng(3)
    table, totals = build(rng, SHARES)
    changes, recent, earlier, _ = problem_share_changes(table, product_code="LZG", reports_per_period=totals,
                                                        as_of="2024-06-30")
    assert recent == ["2022", "2023"] and earlier == ["2017", "2018", "2019", "2020", "2021"]
    for row in changes.itertuples():
        p = stats.fisher_exact([[row.n_recent, 4000 - row.n_recent], [row.n_earlier, 10000 - row.n_earlier]]).pvalue
        assert row.p_value == pytest.approx(p)
        assert row.reports_recent == 4000 and row.reports_earlier == 10000
    p = changes["p_value"].to_numpy()
    order = np.argsort(p)
    m = len(p)
    ranked = p[order] * m / np.arange(1, m + 1)
    q_sorted = np.minimum.accumulate(ranked[::-1])[::-1].clip(max=1)
    q = np.empty(m)
    q[order] = q_sorted
    assert np.allclose(changes["q_value"], q)


def test_injected_share_change_is_found_and_stable_terms_are_not():
    """'Leak' goes from 5% to 9% of reports from 2022: significant increase; unchanged terms mostly not."""
    hits = false = 0
    for seed in range(20):
        table, totals = build(np.random.default_rng(seed), SHARES, shift={"Leak": (0.05, 0.09)})
        profile = problem_profile(table, product_code="LZG", reports_per_period=totals, as_of="2024-06-30")
        changes = profile.share_changes.set_index("term")
        hits += bool(changes.loc["Leak", "significant"]) and changes.loc["Leak", "direction"] == "increase"
        false += int(changes.drop(index="Leak")["significant"].sum())
    print(f"\nshare change found in {hits}/20 runs; false discoveries among stable terms: {false}")
    assert hits == 20
    assert false <= 3


def test_profile_notes_exclusions_and_json():
    rng = np.random.default_rng(8)
    table, totals = build(rng, SHARES, uncoded=("2018",))
    profile = problem_profile(table, product_code="LZG", reports_per_period=totals, as_of="2024-06-30")
    notes = " ".join(profile.notes)
    assert "several terms" in notes and "['2024']" in notes
    assert "No patient-problem terms recorded for year(s) ['2018']" in notes
    assert "not tested" in notes  # 'Rare' has fewer than 5 reports
    patient = profile.share_changes.loc[profile.share_changes["problem_type"] == "patient"]
    device = profile.share_changes.loc[profile.share_changes["problem_type"] == "device"]
    assert set(patient["reports_earlier"]) == {8000} and set(device["reports_earlier"]) == {10000}
    assert "Rare" not in set(profile.share_changes["term"])
    data = json.loads(json.dumps(profile.to_dict(), allow_nan=False))
    assert data["top_terms"][0]["term"] == "Alarm" and data["parameters"]["test"] == "Fisher exact, two-sided"
    assert {"p_value", "q_value", "direction", "significant"} <= set(data["share_changes"][0])


def test_bad_denominators_raise():
    rng = np.random.default_rng(2)
    table, totals = build(rng, SHARES)
    missing = {k: v for k, v in totals.items() if k != "2019"}
    with pytest.raises(ValueError, match="2019"):
        problem_share_changes(table, product_code="LZG", reports_per_period=missing, as_of="2024-06-30")
    with pytest.raises(ValueError, match="exceed"):
        problem_share_changes(table, product_code="LZG", reports_per_period={**totals, "2023": 10},
                              as_of="2024-06-30")


def test_last_complete_year():
    assert last_complete_year("2024-12-31") == 2024
    assert last_complete_year("2024-12-30") == 2023
    assert last_complete_year("2025-01-01") == 2024
