"""The drug profile's tidy tables from what 01_collect kept (schemas in `cer_lib.tables.drug_schemas`).

Count lines are those `cer_lib.profiles.drug` plans: ``scope`` drug or database; ``event_type`` the
series (``all``, ``serious``, ``death``) for day counts of ``receivedate``, ``terms`` for reaction
counts, ``summary`` for the case-field tabulations. ``non-serious`` = all − serious per day.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import pandas as pd

from .device import TidyTable, clean_text, parse_count, parse_date, text_list
from .drug_schemas import DRUG_TABLES, LABEL_SECTIONS

__all__ = ["build_drug_tables", "REACTION_FIELD", "RECEIVED_FIELD"]

REACTION_FIELD = "patient.reaction.reactionmeddrapt.exact"
RECEIVED_FIELD = "receivedate"
QUALIFICATIONS = {"1": "Physician", "2": "Pharmacist", "3": "Other health professional", "4": "Lawyer", "5": "Consumer"}
SEXES = {"0": "Unknown", "1": "Male", "2": "Female"}


def _frame(name: str, rows: list[dict[str, Any]]) -> pd.DataFrame:
    """Rows as the table's columns and dtypes (strings as pandas' NA-backed string dtype)."""
    spec = DRUG_TABLES[name]
    frame = pd.DataFrame(rows, columns=list(spec.dtypes))
    for column, dtype in spec.dtypes.items():
        if dtype == "string":
            frame[column] = frame[column].astype("string")
        elif dtype == "datetime64[ns]":
            frame[column] = pd.to_datetime(frame[column], errors="coerce").astype("datetime64[ns]")
        elif dtype == "boolean":
            frame[column] = frame[column].astype("boolean")
        else:
            frame[column] = frame[column].astype(dtype)
    return frame.reset_index(drop=True)


def _dedupe(name: str, frame: pd.DataFrame) -> tuple[pd.DataFrame, int]:
    key = list(DRUG_TABLES[name].key)
    kept = frame.drop_duplicates(key, keep="first").reset_index(drop=True)
    return kept, len(frame) - len(kept)


def _date(value: Any) -> pd.Timestamp | None:
    day, _ = parse_date(value)
    return day


def drug_event_counts_table(counts: Iterable[Mapping[str, Any]]) -> TidyTable:
    """Reports of the drug per day received, all, serious and fatal; non-serious = all − serious."""
    rows, notes = [], []
    truncated = 0
    for line in counts:
        if line.get("scope") != "drug" or line.get("field") != RECEIVED_FIELD:
            continue
        truncated += bool(line.get("truncated"))
        for item in line.get("rows") or []:
            day, (n, _) = _date(item.get("time")), parse_count(item.get("count"))
            if day is not None and n is not None:
                rows.append({"date": day, "series": line.get("event_type"), "n_reports": n})
    frame = pd.DataFrame(rows, columns=["date", "series", "n_reports"])
    before = len(frame)
    frame = frame.groupby(["date", "series"], as_index=False)["n_reports"].max() if before else frame
    removed = before - len(frame)
    wide = frame.pivot_table(index="date", columns="series", values="n_reports", aggfunc="sum", fill_value=0)
    if {"all", "serious"} <= set(wide.columns):
        other = (wide["all"] - wide["serious"]).clip(lower=0)
        negative = int(((wide["all"] - wide["serious"]) < 0).sum())
        extra = [{"date": d, "series": "non-serious", "n_reports": int(n)} for d, n in other.items() if n > 0]
        frame = pd.concat([frame, pd.DataFrame(extra, columns=frame.columns)], ignore_index=True)
        notes.append(f"non-serious = all − serious per day; {negative} day(s) with a negative difference clipped to 0")
    if truncated:
        notes.append(f"{truncated} day count query(ies) returned the full row limit and may be missing days")
    frame = frame.sort_values(["series", "date"], kind="stable")
    return TidyTable("drug_event_counts", _frame("drug_event_counts", frame.to_dict("records")), removed, notes)


def reaction_counts_table(counts: Iterable[Mapping[str, Any]]) -> TidyTable:
    """Reports per MedDRA preferred term over the window, of the drug and of the database."""
    rows, notes = [], []
    for line in counts:
        if line.get("field") != REACTION_FIELD or line.get("event_type") != "terms":
            continue
        truncated = bool(line.get("truncated"))
        if truncated:
            notes.append(f"the {line.get('scope')} reaction count returned its limit of {line.get('limit')} terms: rarer "
                         "terms are not listed")
        for item in line.get("rows") or []:
            term = clean_text(item.get("term"))
            n, _ = parse_count(item.get("count"))
            if term and n is not None:
                rows.append({"scope": line.get("scope"), "term": term, "n_reports": n, "truncated": truncated})
    frame, removed = _dedupe("reaction_counts", _frame("reaction_counts", rows))
    return TidyTable("reaction_counts", frame, removed, notes)


def drug_report_totals_table(totals: Iterable[Mapping[str, Any]]) -> TidyTable:
    rows = [{"scope": t.get("scope"), "period": t.get("period"), "n_reports": int(t.get("n_reports") or 0)}
            for t in totals if t.get("scope") in ("drug", "database")]
    frame, removed = _dedupe("drug_report_totals", _frame("drug_report_totals", rows))
    return TidyTable("drug_report_totals", frame, removed)


def drug_summary_counts_table(counts: Iterable[Mapping[str, Any]]) -> TidyTable:
    """Reports of the drug by seriousness, reporter qualification, sex and country (codes in words)."""
    words = {"primarysource.qualification": QUALIFICATIONS, "patient.patientsex": SEXES,
             "serious": {"1": "Serious", "2": "Non-serious"}}
    rows = []
    for line in counts:
        if line.get("scope") != "drug" or line.get("event_type") != "summary":
            continue
        field = str(line.get("field") or "").removesuffix(".exact")
        for item in line.get("rows") or []:
            n, _ = parse_count(item.get("count"))
            term = str(item.get("term") if item.get("term") is not None else "")
            if n is not None:
                rows.append({"field": field, "value": words.get(field, {}).get(term, term), "n_reports": n})
    frame, removed = _dedupe("drug_summary_counts", _frame("drug_summary_counts", rows))
    return TidyTable("drug_summary_counts", frame, removed)


def _names(drugs: list[Mapping[str, Any]], characterizations: set[str]) -> str | None:
    names = [clean_text(d.get("medicinalproduct")) for d in drugs if str(d.get("drugcharacterization")) in characterizations]
    return "; ".join(dict.fromkeys(n for n in names if n)) or None


def drug_cases_table(records: Iterable[Mapping[str, Any]]) -> TidyTable:
    """The review sample, one row per case (the latest version openFDA or the files hold)."""
    rows = []
    for r in records:
        patient = r.get("patient") or {}
        drugs = [d for d in patient.get("drug") or [] if isinstance(d, Mapping)]
        source = r.get("primarysource") or {}
        age = clean_text(patient.get("patientonsetage"))
        rows.append({
            "safetyreportid": clean_text(r.get("safetyreportid")), "version": clean_text(r.get("safetyreportversion")),
            "receivedate": _date(r.get("receivedate")), "serious": str(r.get("serious")) == "1" if r.get("serious") else None,
            "death": str(r.get("seriousnessdeath")) == "1",
            "qualification": QUALIFICATIONS.get(str(source.get("qualification") or ""), None),
            "country": clean_text(r.get("occurcountry") or source.get("reportercountry")),
            "sex": SEXES.get(str(patient.get("patientsex") or ""), None), "age": age,
            "suspect_drugs": _names(drugs, {"1"}), "concomitant_drugs": _names(drugs, {"2", "3"}),
            "reactions": "; ".join(dict.fromkeys(clean_text(x.get("reactionmeddrapt")) or "" for x in patient.get("reaction") or []
                                                 if isinstance(x, Mapping))) or None,
            "indications": "; ".join(dict.fromkeys(clean_text(d.get("drugindication")) or "" for d in drugs
                                                   if d.get("drugindication"))) or None,
        })
    rows = [row for row in rows if row["safetyreportid"]]
    frame, removed = _dedupe("drug_cases", _frame("drug_cases", rows))
    return TidyTable("drug_cases", frame, removed)


def labels_table(records: Iterable[Mapping[str, Any]]) -> TidyTable:
    """The safety sections of each label (PLR ``warnings_and_cautions`` or older ``warnings``/``precautions``)."""
    rows = []
    for r in records:
        openfda = r.get("openfda") or {}
        set_id = clean_text(r.get("set_id") or r.get("id"))
        for section in LABEL_SECTIONS:
            text = " ".join(text_list(r.get(section)))
            if set_id and text.strip():
                rows.append({"set_id": set_id, "effective_time": _date(r.get("effective_time")),
                             "brand_name": clean_text(openfda.get("brand_name")),
                             "generic_name": clean_text(openfda.get("generic_name")), "section": section, "text": text})
    frame, removed = _dedupe("labels", _frame("labels", rows))
    return TidyTable("labels", frame, removed)


def drug_products_table(records: Iterable[Mapping[str, Any]]) -> TidyTable:
    rows = [{"product_ndc": clean_text(r.get("product_ndc")), "brand_name": clean_text(r.get("brand_name")),
             "generic_name": clean_text(r.get("generic_name")), "labeler_name": clean_text(r.get("labeler_name")),
             "dosage_form": clean_text(r.get("dosage_form")), "route": clean_text(r.get("route")),
             "marketing_category": clean_text(r.get("marketing_category")),
             "application_number": clean_text(r.get("application_number")),
             "marketing_start_date": _date(r.get("marketing_start_date")),
             "active_ingredients": "; ".join(f"{a.get('name')} {a.get('strength') or ''}".strip()
                                             for a in r.get("active_ingredients") or [] if isinstance(a, Mapping)) or None}
            for r in records]
    frame, removed = _dedupe("drug_products", _frame("drug_products", [r for r in rows if r["product_ndc"]]))
    return TidyTable("drug_products", frame, removed)


def approvals_table(records: Iterable[Mapping[str, Any]]) -> TidyTable:
    rows = []
    for r in records:
        brand = next((clean_text(p.get("brand_name")) for p in r.get("products") or [] if isinstance(p, Mapping)), None)
        for s in r.get("submissions") or []:
            rows.append({"application_number": clean_text(r.get("application_number")),
                         "sponsor_name": clean_text(r.get("sponsor_name")), "brand_name": brand,
                         "submission_type": clean_text(s.get("submission_type")) or "",
                         "submission_number": clean_text(s.get("submission_number")) or "",
                         "submission_status": clean_text(s.get("submission_status")),
                         "status_date": _date(s.get("submission_status_date")),
                         "submission_class": clean_text(s.get("submission_class_code_description"))})
    frame, removed = _dedupe("approvals", _frame("approvals", [r for r in rows if r["application_number"]]))
    return TidyTable("approvals", frame.sort_values("status_date", na_position="last").reset_index(drop=True), removed)


def drug_enforcement_table(records: Iterable[Mapping[str, Any]]) -> TidyTable:
    rows = [{"recall_number": clean_text(r.get("recall_number")), "classification": clean_text(r.get("classification")),
             "status": clean_text(r.get("status")), "recall_initiation_date": _date(r.get("recall_initiation_date")),
             "recalling_firm": clean_text(r.get("recalling_firm")), "reason_for_recall": clean_text(r.get("reason_for_recall")),
             "product_description": clean_text(r.get("product_description"))} for r in records]
    frame, removed = _dedupe("drug_enforcement", _frame("drug_enforcement", [r for r in rows if r["recall_number"]]))
    return TidyTable("drug_enforcement", frame, removed)


def build_drug_tables(records: Mapping[str, list[Any]], counts: list[Any], totals: list[Any]) -> dict[str, TidyTable]:
    """Every drug table from the collected records, counts and totals."""
    counts = [c for c in counts if isinstance(c, Mapping)]
    totals = [t for t in totals if isinstance(t, Mapping)]

    def of(source: str) -> list[Mapping[str, Any]]:
        return [r for r in records.get(source) or [] if isinstance(r, Mapping)]

    tables = [drug_event_counts_table(counts), reaction_counts_table(counts), drug_report_totals_table(totals),
              drug_summary_counts_table(counts), drug_cases_table(of("drug_event")), labels_table(of("drug_label")),
              drug_products_table(of("drug_ndc")), approvals_table(of("drug_drugsfda")),
              drug_enforcement_table(of("drug_enforcement"))]
    return {t.name: t for t in tables}
