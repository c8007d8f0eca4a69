"""Premarket submissions (510(k), De Novo, PMA): equivalence candidates only."""
from __future__ import annotations

import pandas as pd

from ...runfolder.layout import table
from .base import ReportRun, TableExhibit, date, frame_html, notice, unavailable


def _tab_submissions(run: ReportRun) -> str:
    gone = unavailable(run, "device_510k", "device_pma")
    if gone:
        return notice(gone)
    s = run.table("submissions")
    if s.empty:
        return notice("No premarket submissions for this product code.", "cer-notice")
    s = s.sort_values(["decision_date", "date_received"], ascending=False, na_position="last")
    frame = pd.DataFrame({
        "Type": s["submission_type"], "Number": s["number"],
        "Supplement": s["supplement_number"], "Received": s["date_received"].map(date),
        "Decision date": s["decision_date"].map(date),
        "Applicant": s["applicant"], "Trade name": s["trade_name"], "Device name": s["device_name"],
        "Decision": s["decision"], "Clearance type": s["clearance_type"],
        "Role in this report": s["submission_type"].map(
            lambda t: "equivalence candidate only" if t in ("510(k)", "De Novo") else "regulatory history"),
        "Predicates": s["predicates"].fillna("not published by openFDA"),
    }).reset_index(drop=True)
    warning = notice("Candidates only: a 510(k) clearance is a US substantial-equivalence decision, not a "
                      "demonstration of equivalence for a clinical evaluation (MDCG 2020-5); see section 4.2.", "cer-notice")
    return warning + frame_html(frame, "tab-submissions")


TABLES: tuple[TableExhibit, ...] = (
    TableExhibit("tab-submissions", "Premarket submissions of the product code: equivalence candidates only",
          ("device_510k", "device_pma"), (table("submissions"),), (table("submissions"),), _tab_submissions),
)
