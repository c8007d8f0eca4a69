"""Voluntary Malfunction Summary Reports (VMSR) among the device's reports, per year.

Under FDA's Voluntary Malfunction Summary Reporting Program (in force since August 2017, for eligible
product codes) a manufacturer may report malfunctions of one kind quarterly in a single summary report
instead of one report per event. openFDA marks such a report with ``summary_report_flag = Y``. The
number of events a summary report stands for is written in its text, not in a field openFDA counts,
so every count of this tool is a count of reports: a VMSR counts once, like any other report, and a
year with many VMSRs under-represents its malfunction events relative to years without them. The
table says, per year, how many of the device's reports are VMSRs, and for how many the flag is not
recorded (sources without it, e.g. publishers' extracts), so a reader can weigh each year's count.

Input: the tidy ``summary_reports`` table (``period`` a year, ``summary_report_flag`` Y / N,
``n_reports``) and the device's report totals per year (``report_totals`` rows with
``problem_type = all``).
"""
from __future__ import annotations

from collections.abc import Mapping

import pandas as pd

from .results import SummaryReportCounts

__all__ = ["COUNTING_RULE", "summary_report_counts"]

COUNTING_RULE = (
    "Every count in this report is a count of reports. A Voluntary Malfunction Summary Report (VMSR; openFDA "
    "summary_report_flag = Y) summarises many malfunction events of one kind in a single report, and counts once, "
    "like any other report: the number of events it stands for is stated in its text, not in a field openFDA "
    "counts. Years with many summary reports therefore show fewer malfunction reports than events."
)


def summary_report_counts(summary_reports: pd.DataFrame, reports_per_year: Mapping[str, int],
                          product_code: str) -> SummaryReportCounts:
    """Per year: the device's reports, how many are VMSRs (flag Y), how many are not (N), and how many
    have no flag recorded (the year's total less Y and N)."""
    rows = summary_reports
    if not rows.empty:
        rows = rows[(rows["scope"] == "device") & (rows["product_code"].fillna(product_code) == product_code)
                    & (rows["period"] != "all")]
    flags = rows.pivot_table(index="period", columns="summary_report_flag", values="n_reports", aggfunc="sum",
                             fill_value=0) if not rows.empty else pd.DataFrame()
    years = sorted({str(y) for y in reports_per_year if str(y).isdigit()} | set(flags.index.astype(str)))
    table = []
    for year in years:
        total = int(reports_per_year.get(year, 0))
        summary = int(flags.loc[year, "Y"]) if year in flags.index and "Y" in flags.columns else 0
        other = int(flags.loc[year, "N"]) if year in flags.index and "N" in flags.columns else 0
        table.append({"year": year, "n_reports": total, "summary_reports": summary, "other_reports": other,
                      "flag_not_recorded": max(total - summary - other, 0)})
    frame = pd.DataFrame(table, columns=["year", "n_reports", "summary_reports", "other_reports", "flag_not_recorded"])
    n_reports = int(frame["n_reports"].sum())
    n_summary = int(frame["summary_reports"].sum())
    missing = int(frame["flag_not_recorded"].sum())
    status = "ok" if n_reports and missing < n_reports else "not recorded" if n_reports else "no reports"
    return SummaryReportCounts(method="summary reports (VMSR) per year", definition=COUNTING_RULE,
                               parameters={"product_code": product_code, "flag": "summary_report_flag"},
                               status=status, by_year=frame, n_reports=n_reports, n_summary_reports=n_summary,
                               n_flag_not_recorded=missing)
