"""The analyze stage's disproportionality (issue 9 items 5 and 6): what `_signals` builds from the
collected tables and what analysis.json's ``signals`` part says.

The stage stratifies E by year when the collect stage supplied per-year term counts and per-year
totals for every product of the family, counts the row totals over the reports that carry a problem
code of the type when ``report_totals`` has them (a ``problem_type`` column), and reports the primary
screen's signal count as the headline.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from cer_lib.analysis.disproportionality import contingency_from_counts
from cer_lib.analysis.stage import _signals, _signals_view
from cer_lib.params import SignalMethod

DEVICE, COMPARATORS, YEARS = "DEV", ["CA", "CB", "CC"], ["2020", "2021", "2022"]


def _collected(per_year_comparators: bool, coded_totals: bool) -> tuple[pd.DataFrame, pd.DataFrame]:
    """problem_counts and report_totals shaped as the collect stage writes them."""
    rng = np.random.default_rng(3)
    counts, totals = [], []
    for product in [DEVICE, *COMPARATORS]:
        per_year_total = {y: int(rng.integers(300, 900)) for y in YEARS}
        per_year_coded = {y: int(per_year_total[y] * 0.8) for y in YEARS}
        for y in YEARS:
            totals.append({"scope": "device" if product == DEVICE else "comparator", "product_code": product,
                           "period": y, "n_reports": per_year_total[y]})
            if coded_totals:
                for kind in ("device", "patient"):
                    totals.append({"scope": "device" if product == DEVICE else "comparator", "product_code": product,
                                   "period": y, "n_reports": per_year_coded[y], "problem_type": kind})
        totals.append({"scope": "device" if product == DEVICE else "comparator", "product_code": product,
                       "period": "all", "n_reports": sum(per_year_total.values())})
        if coded_totals:
            for kind in ("device", "patient"):
                totals.append({"scope": "device" if product == DEVICE else "comparator", "product_code": product,
                               "period": "all", "n_reports": sum(per_year_coded.values()), "problem_type": kind})
        for kind in ("device", "patient"):
            yearly = {}
            for y in YEARS:
                # term 0 is coded more often in 2020 for every product (a calendar change in coding)
                shares = rng.dirichlet(np.ones(12)) * 0.6
                shares[0] = 0.5 if y == "2020" else 0.05
                yearly[y] = np.minimum(rng.poisson(per_year_coded[y] * shares), per_year_coded[y])
            for y in YEARS if product == DEVICE or per_year_comparators else []:
                counts += [{"scope": "x", "product_code": product, "problem_type": kind, "period": y, "term": f"t{i}",
                            "n_reports": int(c), "truncated": False} for i, c in enumerate(yearly[y]) if c > 0]
            if product != DEVICE:  # comparators' whole-window counts (what collect supplies today)
                whole = sum(yearly.values())
                counts += [{"scope": "x", "product_code": product, "problem_type": kind, "period": "all", "term": f"t{i}",
                            "n_reports": int(c), "truncated": False} for i, c in enumerate(whole) if c > 0]
    totals_frame = pd.DataFrame(totals)
    if coded_totals:
        totals_frame["problem_type"] = totals_frame["problem_type"].astype(object)
    return pd.DataFrame(counts), totals_frame


def test_stage_as_collected_today_is_not_stratified_and_says_so() -> None:
    counts, totals = _collected(per_year_comparators=False, coded_totals=False)
    results, reason = _signals(counts, totals, DEVICE, COMPARATORS, SignalMethod())
    assert reason is None and set(results) == {"device", "patient"}
    for result in results.values():
        assert result.expected_counts.startswith("E = (a+b)(a+c)/N (not stratified")
        assert "all reports of the product code" in result.data_description
    view = _signals_view(results, reason, DEVICE, COMPARATORS)
    assert view["expected_counts"]["device"] == results["device"].expected_counts


def test_stage_stratifies_by_year_and_counts_coded_reports_when_collected() -> None:
    counts, totals = _collected(per_year_comparators=True, coded_totals=True)
    results, _ = _signals(counts, totals, DEVICE, COMPARATORS, SignalMethod())
    device = results["device"]
    assert "stratified by year" in device.expected_counts and "stratified by year" in device.methods["contingency"]
    assert "carrying a device problem code" in device.data_description
    # the table is the stratified one, built by hand from the collected rows
    rows = counts[(counts["problem_type"] == "device") & (counts["period"] != "all")]
    coded = totals[(totals["problem_type"] == "device") & (totals["period"] != "all")]
    expected = contingency_from_counts(
        rows.rename(columns={"product_code": "product", "period": "stratum"})[["product", "term", "stratum", "n_reports"]],
        coded.rename(columns={"product_code": "product", "period": "stratum"})[["product", "stratum", "n_reports"]],
        stratified=True)
    got = device.table.set_index(["product", "term"])
    want = expected.set_index(["product", "term"])
    assert got.index.equals(want.index)
    np.testing.assert_allclose(got["E"], want["E"], rtol=1e-12)
    assert (got["a"] + got["b"]).groupby(level=0).first().to_dict() == coded.groupby("product_code")["n_reports"].sum().to_dict()
    # stratification moves E for the term whose coding changed with the calendar
    off = _signals(counts, totals, DEVICE, COMPARATORS, SignalMethod(stratify_by_year=False))[0]["device"]
    assert not np.allclose(off.table["E"], device.table["E"])


def test_signals_view_reports_the_primary_screen_and_its_count() -> None:
    counts, totals = _collected(per_year_comparators=True, coded_totals=True)
    for screen in ("EB05", "IC025"):
        results, reason = _signals(counts, totals, DEVICE, COMPARATORS, SignalMethod(primary_screen=screen))
        view = _signals_view(results, reason, DEVICE, COMPARATORS)
        primary = view["primary_screen"]
        own = [r for r in view["rows"] if r["product"] == DEVICE]
        assert primary["rule"] == ("EB05 >= 2" if screen == "EB05" else "IC025 > 0") and primary["applicable"]
        assert primary["n_signals"] == sum(1 for r in own if r["signal"])
        column = "eb05_signal" if screen == "EB05" else "ic025_signal"
        assert all(r["signal"] == r[column] for r in own)
        assert primary["n_signals_by_problem_type"] == {t: int(r.for_product(DEVICE)["signal"].sum()) for t, r in results.items()}
        assert any(s.startswith("Evans") for s in primary["secondary"])
        assert primary["rule"] in view["method"] and "Primary screen" in view["method"]
        assert set(view["prior_used"]) == {"device", "patient"}


def test_signals_parameters_are_validated() -> None:
    with pytest.raises(ValueError):
        SignalMethod(primary_screen="PRR")
    with pytest.raises(ValueError):
        SignalMethod(min_pairs_for_prior=2)
    assert SignalMethod().primary_screen == "EB05" and SignalMethod().stratify_by_year
