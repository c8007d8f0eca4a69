"""Identity of the device: its classification, its listings (GUDID, registration, EUDAMED) and its comparators."""
from __future__ import annotations

import pandas as pd

from ...runfolder import layout
from ...runfolder.layout import pointer, table
from .base import ReportRun, TableExhibit, fmt, frame_html, notice, unavailable


def _tab_device(run: ReportRun) -> str:
    f = run.facts
    rows = [
        ("Device name (FDA classification)", f["device_name"].text),
        ("Product code", f["product_code"].text),
        ("Device class (US)", f["device_class"].text),
        ("Regulation", f["regulation_number"].text),
        ("Review panel", f["review_panel"].text),
        ("Medical specialty", f["medical_specialty"].text),
        ("Implant", f["implant"].text),
        ("Life-sustaining or life-supporting", f["life_sustaining"].text),
        ("Definition (FDA)", f["definition"].text),
        ("Comparator product codes (same regulation)", f["comparator_codes"].text),
    ]
    return frame_html(pd.DataFrame(rows, columns=["Item", "Value"]), "tab-device")


def _tab_comparators(run: ReportRun) -> str:
    comps = run.resolution.comparators  # type: ignore[attr-defined]  # a device resolution
    if not comps:
        return notice("No comparator product codes under the same regulation.", "cer-notice")
    totals = run.table("report_totals")
    recalls = run.table("recalls")
    rows = []
    for c in comps:
        code = c.product_code
        n = None
        if {"product_code", "period", "n_reports"} <= set(totals.columns):
            sel = totals[(totals["product_code"] == code) & (totals["period"] == "all")
                         & (totals.get("problem_type", "all") == "all")]
            n = int(sel["n_reports"].sum()) if len(sel) else None
        r = int((recalls["product_code"] == code).sum()) if "product_code" in recalls else None
        rows.append({"Product code": code, "Device name": c.device_name, "Class": c.device_class,
                     "MAUDE reports in window": fmt(n, "count"), "Recalled products": fmt(r, "count")})
    body = frame_html(pd.DataFrame(rows), "tab-comparators")
    if run.resolution.comparators_truncated:  # type: ignore[attr-defined]
        body += notice("The comparator list was truncated to the maximum set in the parameters.", "cer-notice")
    rule = run.resolution.comparators_rule  # type: ignore[attr-defined]
    return body + (notice(f"Comparators: {rule}.", "cer-source") if rule else "")




def _tab_products(run: ReportRun) -> str:
    p = run.table("products")
    p = p[p["source"] != "classification"] if "source" in p else p
    notes = [n for n in (unavailable(run, "device_udi"), unavailable(run, "device_registrationlisting"), unavailable(run, "eudamed")) if n]
    if p.empty:
        return "".join(notice(n) for n in notes) + notice("No UDI, registration or EUDAMED listings.", "cer-notice")
    frame = pd.DataFrame({
        "Database": p["source"].map({"udi": "GUDID (US)", "registrationlisting": "FDA registration and listing",
                                     "eudamed": "EUDAMED (EU)"}).fillna(p["source"]),
        "Brand": p["brand_name"], "Model": p["model_number"], "Company": p["company_name"], "UDI-DI": p["udi_di"],
        "Basic UDI-DI": p["basic_udi_di"], "EU risk class": p["eu_risk_class"], "EMDN code": p["emdn_code"],
        "Manufacturer SRN": p["manufacturer_srn"], "EU status": p["eu_status"],
    }).reset_index(drop=True)
    return "".join(notice(n) for n in notes) + frame_html(frame, "tab-products")


TABLES: tuple[TableExhibit, ...] = (
    TableExhibit("tab-device", "Device identity and classification", ("device_classification",),
          (layout.RESOLUTION,), (layout.RESOLUTION,), _tab_device),
    TableExhibit("tab-products", "Listings of the product code in GUDID, FDA registration and EUDAMED",
          ("device_udi", "device_registrationlisting", "eudamed"),
          (f"{table('products')} (rows where source is udi, registrationlisting or eudamed)",),
          (table("products"),), _tab_products),
    TableExhibit("tab-comparators", "Comparator product codes (same classification regulation)",
          ("device_classification", "device_event", "device_recall"),
          (pointer(layout.RESOLUTION, "comparators"), f"{table('report_totals')} (period = all, problem_type = all)",
           f"{table('recalls')} (count by product_code)"),
          (layout.RESOLUTION, table("report_totals"), table("recalls")), _tab_comparators),
)
