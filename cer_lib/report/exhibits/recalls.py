"""Recalls and enforcement reports of the product code and of its comparators."""
from __future__ import annotations

from collections.abc import Callable

import pandas as pd

from ...runfolder.layout import table
from .base import ReportRun, TableExhibit, date, frame_html, notice, unavailable


_RECALL_COLUMNS = {
    "product_code": "Product code", "product_res_number": "Recall number", "event_date_initiated": "Initiated",
    "recall_status": "Status", "recalling_firm": "Recalling firm", "root_cause_description": "Root-cause category (FDA)",
    "reason_for_recall": "Reason for recall (as published)", "product_description": "Product", "action": "Action",
}
_ENFORCEMENT_COLUMNS = {
    "product_code": "Product code", "recall_number": "Recall number", "classification": "Class", "status": "Status",
    "recall_initiation_date": "Initiated", "recalling_firm": "Recalling firm", "product_description": "Product",
    "reason_for_recall": "Reason for recall (as published)", "product_quantity": "Quantity",
    "distribution_pattern": "Distribution",
}


def _scoped_table(name: str, scope: str, columns: dict[str, str], date_col: str, source: str) -> Callable[[ReportRun], str]:
    def build(run: ReportRun) -> str:
        gone = unavailable(run, source)
        if gone:
            return notice(gone)
        table = run.table(name)
        rows = table[table["scope"] == scope] if "scope" in table else table.iloc[0:0]
        if rows.empty:
            who = "this product code" if scope == "device" else "the comparator product codes"
            return notice(f"No records for {who}.", "cer-notice")
        rows = rows.sort_values(date_col, ascending=False, na_position="last") if date_col in rows else rows
        shown = pd.DataFrame({label: rows[col] for col, label in columns.items() if col in rows})
        for col in shown.columns:
            if pd.api.types.is_datetime64_any_dtype(shown[col]):
                shown[col] = shown[col].map(date)
        return frame_html(shown.reset_index(drop=True), f"tab-{name}-{scope if scope == 'device' else 'comparators'}")
    return build


TABLES: tuple[TableExhibit, ...] = (
    TableExhibit("tab-recalls-device", "Recalls of the product code", ("device_recall",),
          (f"{table('recalls')} (rows where scope = device)",), (table("recalls"),),
          _scoped_table("recalls", "device", _RECALL_COLUMNS, "event_date_initiated", "device_recall")),
    TableExhibit("tab-recalls-comparators", "Recalls of the comparator product codes", ("device_recall",),
          (f"{table('recalls')} (rows where scope = comparator)",), (table("recalls"),),
          _scoped_table("recalls", "comparator", _RECALL_COLUMNS, "event_date_initiated", "device_recall")),
    TableExhibit("tab-enforcement-device", "Enforcement reports of the product code", ("device_enforcement",),
          (f"{table('enforcement')} (rows where scope = device)",), (table("enforcement"),),
          _scoped_table("enforcement", "device", _ENFORCEMENT_COLUMNS, "recall_initiation_date", "device_enforcement")),
    TableExhibit("tab-enforcement-comparators", "Enforcement reports of the comparator product codes",
          ("device_enforcement",), (f"{table('enforcement')} (rows where scope = comparator)",),
          (table("enforcement"),),
          _scoped_table("enforcement", "comparator", _ENFORCEMENT_COLUMNS, "recall_initiation_date", "device_enforcement")),
)
