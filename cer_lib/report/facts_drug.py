"""The drug report's facts (builders of the drug profile, beside the shared ones of `cer_lib.report.facts`):
the drug as resolved, FAERS counts, the database-wide signals with listedness, the label and approvals."""
from __future__ import annotations

from typing import Any

from ..runfolder.layout import ANALYSIS, RESOLUTION, pointer, table
from .facts import RunData, _Builder

__all__ = ["approval_facts", "drug_facts", "faers_facts", "label_facts", "signal_facts"]

_DRUG = ("details", "drug")


def _drug_details(run: RunData) -> dict[str, Any]:
    return (run.analysis.details or {}).get("drug") or {}


def drug_facts(b: _Builder, run: RunData) -> None:
    r = run.resolution
    b.using()
    b.add("drug_name", r.subject_name, "text", pointer(RESOLUTION, "ingredient"))
    b.add("drug_matched_as", r.matched_as, "text", pointer(RESOLUTION, "matched_as"))
    b.add("drug_normalised", r.normalised, "text", pointer(RESOLUTION, "normalised"))
    b.add("drug_rule", r.rule, "text", pointer(RESOLUTION, "rule"))
    b.add("drug_chosen_by", r.chosen_by, "text", pointer(RESOLUTION, "chosen_by"))
    b.add("drug_roles", ", ".join(r.roles) if r.roles else None, "text", pointer(RESOLUTION, "roles"))
    b.add("drug_candidates", [f"{c.ingredient} ({c.records:,} records)" for c in r.candidates], "list",
          pointer(RESOLUTION, "candidates"))
    b.add("drug_brand_names", r.brand_names or None, "list", pointer(RESOLUTION, "brand_names"))
    b.add("drug_generic_names", r.generic_names or None, "list", pointer(RESOLUTION, "generic_names"))
    b.add("drug_n_ndcs", len(r.ndcs) if r.ndcs else None, "count", pointer(RESOLUTION, "ndcs") + " (number)")
    b.add("drug_names_mapped", [f"{k} → {v}" for k, v in r.name_mapping.items()] or None, "list",
          pointer(RESOLUTION, "name_mapping"))
    b.using()


def faers_facts(b: _Builder, run: RunData) -> None:
    b.using("drug_event")
    totals = run.tables.get("drug_report_totals")
    whole = totals[totals["period"] == "all"].set_index("scope")["n_reports"] if totals is not None else {}
    src = table("drug_report_totals")
    b.add("faers_n_reports", int(whole["drug"]) if "drug" in whole else None, "count", f"{src} (scope drug, period all)")
    b.add("faers_n_database", int(whole["database"]) if "database" in whole else None, "count",
          f"{src} (scope database, period all)")
    summary = run.tables.get("drug_summary_counts")
    seriousness = (summary[summary["field"] == "serious"].set_index("value")["n_reports"]
                   if summary is not None else {})
    ssrc = table("drug_summary_counts")
    b.add("faers_n_serious", int(seriousness.get("Serious", 0)) if len(seriousness) else None, "count",
          f"{ssrc} (field serious, value Serious)")
    b.add("faers_n_nonserious", int(seriousness.get("Non-serious", 0)) if len(seriousness) else None, "count",
          f"{ssrc} (field serious, value Non-serious)")
    counts = run.tables.get("drug_event_counts")
    deaths = int(counts.loc[counts["series"] == "death", "n_reports"].sum()) if counts is not None else None
    b.add("faers_n_death", deaths, "count", f"{table('drug_event_counts')} (series death, summed)")
    reactions = run.tables.get("reaction_counts")
    own = reactions[reactions["scope"] == "drug"] if reactions is not None else None
    b.add("faers_n_terms", len(own) if own is not None else None, "count", f"{table('reaction_counts')} (scope drug, rows)")
    b.add("faers_terms_truncated", bool(reactions["truncated"].any()) if reactions is not None else None, "flag",
          f"{table('reaction_counts')} (truncated)")
    top = own.sort_values(["n_reports", "term"], ascending=[False, True]).head(5) if own is not None else None
    b.add("faers_top_terms", [f"{t} ({n:,})" for t, n in zip(top["term"], top["n_reports"])] if top is not None else None,
          "list", f"{table('reaction_counts')} (scope drug, the five largest)")
    cases = run.tables.get("drug_cases")
    b.add("faers_n_sample", len(cases) if cases is not None else None, "count", f"{table('drug_cases')} (rows)")
    b.using()


def signal_facts(b: _Builder, run: RunData) -> None:
    b.using("drug_event")
    d = _drug_details(run)
    s = d.get("signals") or {}
    rows = s.get("rows") or []
    src = pointer(ANALYSIS, *_DRUG, "signals")
    b.add("dsig_available", s.get("unavailable") is None and bool(rows), "flag", src + " (rows, unavailable)")
    b.add("dsig_unavailable", s.get("unavailable"), "text", src + "/unavailable")
    b.add("dsig_n_scored", len(rows), "count", src + "/rows (number)")
    b.add("dsig_n_not_scored", len(s.get("not_scored") or []), "count", src + "/not_scored (number)")
    flagged = [r for r in rows if r.get("signal")]
    b.add("dsig_n_flagged", len(flagged), "count", src + "/rows (signal true)")
    b.add("dsig_flagged_terms", [r["term"] for r in flagged], "list", src + "/rows (term where signal)")
    b.add("dsig_n_evans", sum(bool(r.get("evans_signal")) for r in rows), "count", src + "/rows (evans_signal true)")
    b.add("dsig_screen", s.get("screen"), "text", src + "/screen")
    methods = s.get("methods") or {}
    for key in ("contingency", "PRR", "ROR", "IC", "EBGM"):
        b.add(f"dsig_method_{key.lower()}", methods.get(key), "text", src + f"/methods/{key}")
    unlisted = d.get("unlisted_signals") or []
    b.add("dsig_n_unlisted", len(unlisted), "count", pointer(ANALYSIS, *_DRUG, "unlisted_signals") + " (number)")
    b.add("dsig_unlisted_terms", [r["term"] for r in unlisted], "list", pointer(ANALYSIS, *_DRUG, "unlisted_signals"))
    listing = d.get("listedness") or {}
    b.add("listedness_method", listing.get("method"), "text", pointer(ANALYSIS, *_DRUG, "listedness", "method"))
    b.add("listedness_label", listing.get("label"), "text", pointer(ANALYSIS, *_DRUG, "listedness", "label"), needs=())
    status = listing.get("status") or {}
    b.add("n_listed", sum(v == "listed" for v in status.values()), "count",
          pointer(ANALYSIS, *_DRUG, "listedness", "status") + " (listed)", needs=())
    b.add("n_unlisted", sum(v == "unlisted" for v in status.values()), "count",
          pointer(ANALYSIS, *_DRUG, "listedness", "status") + " (unlisted)", needs=())
    serious = (d.get("serious_trend") or {}).get("verdict") or {}
    b.add("serious_verdict", serious.get("verdict"), "text", pointer(ANALYSIS, *_DRUG, "serious_trend", "verdict", "verdict"))
    b.add("serious_verdict_rr", serious.get("rate_ratio"), "ratio",
          pointer(ANALYSIS, *_DRUG, "serious_trend", "verdict", "rate_ratio"))
    b.add("serious_verdict_p", serious.get("p_value"), "p_value",
          pointer(ANALYSIS, *_DRUG, "serious_trend", "verdict", "p_value"))
    b.using()


def label_facts(b: _Builder, run: RunData) -> None:
    b.using("drug_label")
    labels = run.tables.get("labels")
    src = table("labels")
    has = labels is not None and not labels.empty
    newest = labels.sort_values("effective_time", ascending=False, na_position="last").iloc[0] if has else None
    b.add("label_n", labels["set_id"].nunique() if labels is not None else None, "count", f"{src} (distinct set_id)")
    b.add("label_effective", newest["effective_time"] if newest is not None else None, "date", f"{src} (newest effective_time)")
    sections = set(labels.loc[labels["set_id"] == newest["set_id"], "section"]) if newest is not None else set()
    b.add("label_boxed_warning", "boxed_warning" in sections if newest is not None else None, "flag",
          f"{src} (section boxed_warning of the newest label)")
    b.using()


def approval_facts(b: _Builder, run: RunData) -> None:
    b.using("drug_drugsfda")
    approvals = run.tables.get("approvals")
    src = table("approvals")
    b.add("n_applications", approvals["application_number"].nunique() if approvals is not None else None, "count",
          f"{src} (distinct application_number)")
    originals = approvals[approvals["submission_type"] == "ORIG"] if approvals is not None else None
    first = originals["status_date"].min() if originals is not None and not originals.empty else None
    b.add("first_approval", first, "date", f"{src} (earliest status_date of an ORIG submission)")
    b.using("drug_enforcement")
    enforcement = run.tables.get("drug_enforcement")
    b.add("n_drug_enforcement", len(enforcement) if enforcement is not None else None, "count",
          f"{table('drug_enforcement')} (rows)")
    b.using()
