"""The drug profile's tidy tables: their grain, key and columns (checked like the device tables'
in `cer_lib.tables.schemas`, whose `TABLES` they join)."""
from __future__ import annotations

import pandera.pandas as pa

from .schemas import DATE, FLAG, ColumnSpec, TableSpec, _count, _in, _NOT_BLANK, _s

__all__ = ["DRUG_TABLES", "DRUG_TABLE_NAMES", "DRUG_SERIES", "DRUG_SCOPES", "LABEL_SECTIONS"]

DRUG_SERIES = ("all", "serious", "death", "non-serious")  # reports received per day, by seriousness
DRUG_SCOPES = ("drug", "database")
PERIOD = pa.Check.str_matches(r"^(all|\d{4})$")
LABEL_SECTIONS = ("boxed_warning", "warnings_and_cautions", "warnings", "precautions", "adverse_reactions",
                  "contraindications")

DRUG_TABLES: dict[str, TableSpec] = {
    spec.name: spec
    for spec in (
        TableSpec(
            "drug_event_counts",
            "FAERS reports of the drug received on one day, all or by seriousness; days without reports have no row",
            ("date", "series"),
            {"date": ColumnSpec(DATE, False), "series": _in(DRUG_SERIES), "n_reports": _count()},
        ),
        TableSpec(
            "reaction_counts",
            "reports with one MedDRA preferred term in the window: of the drug, or of the whole database",
            ("scope", "term"),
            {"scope": _in(DRUG_SCOPES), "term": _s(False, _NOT_BLANK), "n_reports": _count(),
             "truncated": ColumnSpec(FLAG, False)},
        ),
        TableSpec(
            "drug_report_totals",
            "reports of the drug, or of the whole database, in one period",
            ("scope", "period"),
            {"scope": _in(DRUG_SCOPES), "period": _s(False, PERIOD), "n_reports": _count()},
        ),
        TableSpec(
            "drug_summary_counts",
            "reports of the drug in the window with one value of a case field (seriousness, reporter, sex, country)",
            ("field", "value"),
            {"field": _s(False, _NOT_BLANK), "value": _s(False), "n_reports": _count()},
        ),
        TableSpec(
            "drug_cases",
            "one case of the review sample (the most recent reports of the drug)",
            ("safetyreportid",),
            {"safetyreportid": _s(False, _NOT_BLANK), "version": _s(), "receivedate": ColumnSpec(DATE),
             "serious": ColumnSpec(FLAG), "death": ColumnSpec(FLAG), "qualification": _s(), "country": _s(),
             "sex": _s(), "age": _s(), "suspect_drugs": _s(), "concomitant_drugs": _s(), "reactions": _s(),
             "indications": _s()},
        ),
        TableSpec(
            "labels",
            "one safety section of one product label (SPL)",
            ("set_id", "section"),
            {"set_id": _s(False, _NOT_BLANK), "effective_time": ColumnSpec(DATE), "brand_name": _s(),
             "generic_name": _s(), "section": _in(LABEL_SECTIONS), "text": _s(False)},
        ),
        TableSpec(
            "drug_products",
            "one NDC product of the drug",
            ("product_ndc",),
            {"product_ndc": _s(False, _NOT_BLANK), "brand_name": _s(), "generic_name": _s(), "labeler_name": _s(),
             "dosage_form": _s(), "route": _s(), "marketing_category": _s(), "application_number": _s(),
             "marketing_start_date": ColumnSpec(DATE), "active_ingredients": _s()},
        ),
        TableSpec(
            "approvals",
            "one submission of an application (Drugs@FDA): original approval, supplements, labelling changes",
            ("application_number", "submission_type", "submission_number"),
            {"application_number": _s(False, _NOT_BLANK), "sponsor_name": _s(), "brand_name": _s(),
             "submission_type": _s(False), "submission_number": _s(False), "submission_status": _s(),
             "status_date": ColumnSpec(DATE), "submission_class": _s()},
        ),
        TableSpec(
            "drug_enforcement",
            "one enforcement report (recall) of a product of the drug",
            ("recall_number",),
            {"recall_number": _s(False, _NOT_BLANK), "classification": _s(), "status": _s(),
             "recall_initiation_date": ColumnSpec(DATE), "recalling_firm": _s(), "reason_for_recall": _s(),
             "product_description": _s()},
        ),
    )
}
DRUG_TABLE_NAMES: tuple[str, ...] = tuple(DRUG_TABLES)

