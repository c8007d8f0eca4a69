"""Problem-term profiles of the device: top terms and terms whose share of reports changed.

Input: the tidy ``problem_counts`` table (``product_code, problem_type, term, period, n_reports``;
period ``"all"`` or a year) and the device's report totals per period. Two steps:

1. :func:`top_problem_terms` - the top-N device-problem and patient-problem terms with their share
   of the device's reports. A report can carry several terms, so shares do not add up to 100%.
2. :func:`problem_share_changes` - for each term, the share of reports carrying it in the last
   ``recent_years`` complete years against all earlier years: Fisher's exact test (two-sided) on the
   2x2 table (reports with / without the term, recent / earlier), then Benjamini-Hochberg false
   discovery rate control across all tested terms (both problem types together) at ``q``.

:func:`problem_profile` runs both. The shares are of reports, not of patients or devices in use;
a change in share can also come from coding practice (problem codes are missing for some periods
of MAUDE), so a significant change is a prompt to read the reports, not a finding by itself.
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Mapping

import numpy as np
import pandas as pd
from scipy import stats
from statsmodels.stats.multitest import multipletests

from .results import ProblemProfile

__all__ = ["PROBLEM_TYPES", "last_complete_year", "problem_profile", "problem_share_changes",
           "top_problem_terms"]

PROBLEM_TYPES: tuple[str, ...] = ("device", "patient")
_REQUIRED = ("product_code", "problem_type", "term", "period", "n_reports")

_DEFINITION = (
    "Share of the device's reports that carry each problem term (a report can carry several terms). "
    "Change in share: last {r} complete years against earlier years, Fisher's exact test per term with "
    "Benjamini-Hochberg false discovery rate control at q = {q:g}."
)


def _check(problem_counts: pd.DataFrame) -> pd.DataFrame:
    missing = [c for c in _REQUIRED if c not in problem_counts.columns]
    if missing:
        raise ValueError(f"problem_counts lacks column(s) {missing}; expected {list(_REQUIRED)}")
    table = problem_counts.copy()
    table["period"] = table["period"].astype(str)
    table["term"] = table["term"].astype("string").str.strip()
    return table


def last_complete_year(as_of: dt.date | str | pd.Timestamp) -> int:
    """The last calendar year fully covered by data dated ``as_of`` (inclusive)."""
    day = pd.Timestamp(as_of)
    return day.year if (day.month, day.day) == (12, 31) else day.year - 1


def top_problem_terms(
    problem_counts: pd.DataFrame,
    *,
    product_code: str,
    reports_per_period: Mapping[str, int],
    top_n: int = 10,
) -> pd.DataFrame:
    """Top ``top_n`` terms per problem type with ``n_reports`` and ``share`` of all the device's reports.

    Uses the ``"all"`` rows; if the device has none, the per-year rows summed. Columns:
    ``problem_type, rank, term, n_reports, share``. Ties are broken alphabetically.
    """
    table = _check(problem_counts)
    rows = table.loc[(table["product_code"] == product_code) & table["term"].notna() & (table["term"] != "")]
    total = _all_reports(reports_per_period)
    out = []
    for ptype in PROBLEM_TYPES:
        sub = rows.loc[rows["problem_type"] == ptype]
        use = sub.loc[sub["period"] == "all"]
        if use.empty:
            use = sub.loc[sub["period"] != "all"]
        counts = use.groupby("term", as_index=False)["n_reports"].sum()
        counts = counts.sort_values(["n_reports", "term"], ascending=[False, True]).head(top_n)
        counts.insert(0, "problem_type", ptype)
        counts.insert(1, "rank", np.arange(1, len(counts) + 1))
        counts["share"] = counts["n_reports"] / total if total > 0 else np.nan
        out.append(counts)
    result = pd.concat(out, ignore_index=True) if out else pd.DataFrame()
    result["term"] = result["term"].astype(object)
    result["n_reports"] = result["n_reports"].astype("int64")
    return result[["problem_type", "rank", "term", "n_reports", "share"]]


def _all_reports(reports_per_period: Mapping[str, int]) -> int:
    if "all" in reports_per_period:
        return int(reports_per_period["all"])
    return int(sum(int(v) for k, v in reports_per_period.items() if str(k).isdigit()))


def problem_share_changes(
    problem_counts: pd.DataFrame,
    *,
    product_code: str,
    reports_per_period: Mapping[str, int],
    as_of: dt.date | str | pd.Timestamp,
    recent_years: int = 2,
    q: float = 0.05,
    min_reports: int = 5,
) -> tuple[pd.DataFrame, list[str], list[str], list[str]]:
    """Per-term change in share of reports, recent complete years vs earlier years.

    Recent = the last ``recent_years`` complete years (by ``as_of``); earlier = every year before
    them with reports; the incomplete current year is left out of both, and so is, per problem type,
    any year with reports but no term of that type (missing coding would fake a fall in share).
    Denominators are the device's report totals of the years used, shown in ``reports_recent`` /
    ``reports_earlier``. Terms with fewer than
    ``min_reports`` reports in the compared years are not tested (they cannot reach significance
    and would only dilute the FDR correction). Returns ``(table, recent, earlier, notes)``; the
    table has ``problem_type, term, n_recent, reports_recent, share_recent, n_earlier,
    reports_earlier, share_earlier, share_difference, odds_ratio, p_value, q_value, direction,
    significant`` sorted by q then p.
    """
    table = _check(problem_counts)
    last = last_complete_year(as_of)
    recent = [str(y) for y in range(last - recent_years + 1, last + 1)]
    rows = table.loc[(table["product_code"] == product_code) & (table["period"] != "all")
                     & table["term"].notna() & (table["term"] != "")]
    denominators = {str(k): int(v) for k, v in reports_per_period.items() if str(k).isdigit()}
    years_in_data = sorted({p for p in rows["period"] if p.isdigit()})
    earlier = sorted(y for y in set(years_in_data) | set(denominators)
                     if int(y) < int(recent[0]) and denominators.get(y, 0) > 0)
    lacking = [y for y in years_in_data if int(y) <= last and y not in denominators]
    if lacking:
        raise ValueError(f"reports_per_period has no report total for year(s) {lacking}; "
                         "pass the device's report count for every year in problem_counts")
    notes: list[str] = []
    later = [y for y in years_in_data if int(y) > last]
    if later:
        notes.append(f"Incomplete year(s) {later} left out of the share comparison.")
    columns = ["problem_type", "term", "n_recent", "reports_recent", "share_recent", "n_earlier",
               "reports_earlier", "share_earlier", "share_difference", "odds_ratio", "p_value",
               "q_value", "direction", "significant"]
    parts = []
    for ptype in PROBLEM_TYPES:
        part, part_notes = _type_changes(rows.loc[rows["problem_type"] == ptype], ptype, recent,
                                         earlier, denominators, min_reports)
        notes.extend(part_notes)
        parts.append(part)
    tested = pd.concat([p for p in parts if not p.empty], ignore_index=True) if any(
        not p.empty for p in parts) else pd.DataFrame(columns=columns)
    if tested.empty:
        return pd.DataFrame(columns=columns), recent, earlier, notes
    tested["q_value"] = multipletests(tested["p_value"].to_numpy(dtype=float), alpha=q, method="fdr_bh")[1]
    tested["direction"] = np.select([tested["share_difference"] > 0, tested["share_difference"] < 0],
                                    ["increase", "decrease"], default="no change")
    tested["significant"] = tested["q_value"] < q
    tested["term"] = tested["term"].astype(object)
    tested = tested.sort_values(["q_value", "p_value", "problem_type", "term"]).reset_index(drop=True)
    return tested[columns], recent, earlier, notes


def _type_changes(rows: pd.DataFrame, ptype: str, recent: list[str], earlier: list[str],
                  denominators: dict[str, int], min_reports: int) -> tuple[pd.DataFrame, list[str]]:
    """Fisher tests for one problem type; years without any term of this type are left out."""
    notes: list[str] = []
    coded = set(rows["period"])
    uncoded = [y for y in (*earlier, *recent) if y not in coded and denominators.get(y, 0) > 0]
    if uncoded:
        notes.append(f"No {ptype}-problem terms recorded for year(s) {uncoded} although reports exist "
                     "(problem coding is missing for some MAUDE periods): those years are left out "
                     f"of the {ptype}-problem comparison.")
    use_recent = [y for y in recent if y in coded]
    use_earlier = [y for y in earlier if y in coded]
    n_recent = sum(denominators.get(y, 0) for y in use_recent)
    n_earlier = sum(denominators.get(y, 0) for y in use_earlier)
    if n_recent == 0 or n_earlier == 0:
        if not rows.empty:
            notes.append(f"No {ptype}-problem share comparison: no coded reports in the recent or the "
                         "earlier years.")
        return pd.DataFrame(), notes
    used = rows.loc[rows["period"].isin([*use_recent, *use_earlier])]
    per_year = used.groupby(["term", "period"], as_index=False)["n_reports"].sum()
    too_many = per_year.loc[per_year["n_reports"] > per_year["period"].map(denominators)]
    if not too_many.empty:
        raise ValueError(
            f"{ptype}-problem term counts exceed the year's report total for "
            f"{too_many[['term', 'period']].head(5).values.tolist()}: reports_per_period must count the "
            "same device's reports as problem_counts")
    used = used.assign(recent=used["period"].isin(use_recent))
    counts = (used.groupby(["term", "recent"])["n_reports"].sum()
              .unstack("recent", fill_value=0).reindex(columns=[True, False], fill_value=0))
    counts.columns = ["n_recent", "n_earlier"]
    counts = counts.reset_index()
    tested = counts.loc[counts["n_recent"] + counts["n_earlier"] >= min_reports].copy()
    skipped = len(counts) - len(tested)
    if skipped:
        notes.append(f"{skipped} {ptype}-problem term(s) with fewer than {min_reports} reports in the "
                     "compared years not tested.")
    if tested.empty:
        return pd.DataFrame(), notes
    odds, pvalues = [], []
    for a, c in zip(tested["n_recent"], tested["n_earlier"], strict=True):
        result = stats.fisher_exact([[a, n_recent - a], [c, n_earlier - c]], alternative="two-sided")
        odds.append(float(result.statistic))
        pvalues.append(float(result.pvalue))
    tested.insert(0, "problem_type", ptype)
    tested["reports_recent"] = n_recent
    tested["reports_earlier"] = n_earlier
    tested["share_recent"] = tested["n_recent"] / n_recent
    tested["share_earlier"] = tested["n_earlier"] / n_earlier
    tested["share_difference"] = tested["share_recent"] - tested["share_earlier"]
    tested["odds_ratio"] = odds
    tested["p_value"] = pvalues
    return tested, notes


def problem_profile(
    problem_counts: pd.DataFrame,
    *,
    product_code: str,
    reports_per_period: Mapping[str, int],
    as_of: dt.date | str | pd.Timestamp,
    top_n: int = 10,
    recent_years: int = 2,
    q: float = 0.05,
    min_reports: int = 5,
) -> ProblemProfile:
    """Top terms and share changes for one device (see the module docstring)."""
    top = top_problem_terms(problem_counts, product_code=product_code,
                            reports_per_period=reports_per_period, top_n=top_n)
    changes, recent, earlier, notes = problem_share_changes(
        problem_counts, product_code=product_code, reports_per_period=reports_per_period, as_of=as_of,
        recent_years=recent_years, q=q, min_reports=min_reports)
    notes = ["Shares are of reports; a report can carry several terms, so shares do not add up to 100%.",
             *notes]
    return ProblemProfile(
        method="problem-term profile",
        definition=_DEFINITION.format(r=recent_years, q=q),
        parameters={"product_code": product_code, "top_n": top_n, "recent_years": recent_years,
                    "q": q, "min_reports": min_reports, "test": "Fisher exact, two-sided",
                    "multiplicity": "Benjamini-Hochberg over all tested terms of both problem types",
                    "as_of": pd.Timestamp(as_of).date()},
        product_code=product_code, n_reports=_all_reports(reports_per_period), top_terms=top,
        share_changes=changes, recent_years=recent, earlier_years=earlier, notes=notes,
    )
