"""The drug report's structure: the PBRER of ICH E2C(R2) (the drug profile's `ReportStructure`).

The 20 sections of ICH E2C(R2), in order, then Appendix A (how to reproduce the report) and
Appendix B (open reviewer feedback, the shared template). Sections public data can fill: 1 (introduction: the drug as resolved, the data), 2 (US approvals, Drugs@FDA),
3 (enforcement reports), 4 (the current US label's safety sections), 6 (FAERS summary
tabulations), 15 (signals: database-wide disproportionality, listedness, the unlisted signals),
16 (signal and risk evaluation: trends, change points, forecast, case review), 19 (findings from
public data) and 20 (appendices: sources and references). The others are marked placeholders for
the marketing authorisation holder, never invented text (exposure, trials, literature, benefit).
The limitations stated once in section 9 are the FAERS ones (`CAVEATS`).
"""
from __future__ import annotations

from .exhibits import data_sources, drug, reproduce
from .narrative import Caveat
from .structure import Placeholder, ReportStructure, Section

__all__ = ["CAVEATS", "EXHIBITS", "PBRER", "PLACEHOLDERS", "SECTIONS", "SUBSECTIONS"]

_S = Section
SECTIONS: tuple[Section, ...] = (
    _S("introduction", "1", "Introduction", "introduction.md.j2",
       guidance="The product, its approved indications, the reporting interval and the data used."),
    _S("authorisation", "2", "Worldwide marketing authorisation status", "authorisation.md.j2",
       guidance="Approvals, dates, countries; here the US applications in Drugs@FDA."),
    _S("safety-actions", "3", "Actions taken in the reporting interval for safety reasons", "safety_actions.md.j2",
       guidance="Regulatory and MAH safety actions; public data show FDA enforcement reports (recalls)."),
    _S("rsi-changes", "4", "Changes to reference safety information", "rsi_changes.md.j2",
       guidance="Changes to the reference safety information; here the current US label's safety sections."),
    _S("exposure", "5", "Estimated exposure and use patterns", "exposure.md.j2", placeholder=True,
       guidance="Cumulative and interval exposure in trials and in marketing experience."),
    _S("tabulations", "6", "Data in summary tabulations", "tabulations.md.j2",
       guidance="Summary tabulations of serious adverse events; here FAERS reports by seriousness, reporter, "
                "sex, country and reaction."),
    _S("trials", "7", "Summaries of significant findings from clinical trials during the reporting interval",
       "trials.md.j2", placeholder=True, guidance="Completed and ongoing clinical trials."),
    _S("non-interventional", "8", "Findings from non-interventional studies", "non_interventional.md.j2",
       placeholder=True, guidance="Post-authorisation safety studies and other non-interventional studies."),
    _S("other-sources", "9", "Information from other clinical trials and sources", "other_sources.md.j2",
       guidance="Other sources; here the spontaneous reports of FAERS, their status and their limitations."),
    _S("non-clinical", "10", "Non-clinical data", "non_clinical.md.j2", placeholder=True,
       guidance="Non-clinical safety findings."),
    _S("literature", "11", "Literature", "literature.md.j2", placeholder=True,
       guidance="Published safety findings."),
    _S("other-reports", "12", "Other periodic reports", "other_reports.md.j2", placeholder=True,
       guidance="Other periodic reports of the MAH."),
    _S("lack-of-efficacy", "13", "Lack of efficacy in controlled clinical trials", "lack_of_efficacy.md.j2",
       placeholder=True, guidance="Lack of efficacy that might reflect a significant risk."),
    _S("late-breaking", "14", "Late-breaking information", "late_breaking.md.j2", placeholder=True,
       guidance="Important findings after the data lock point."),
    _S("signals", "15", "Overview of signals: new, ongoing or closed", "signals.md.j2",
       guidance="Signals; here database-wide disproportionality of each reaction, with listedness."),
    _S("evaluation", "16", "Signal and risk evaluation", "evaluation.md.j2",
       guidance="Evaluation of signals and risks; here trends, change points, forecast and the case review sample."),
    _S("benefit", "17", "Benefit evaluation", "benefit.md.j2", placeholder=True,
       guidance="Important baseline efficacy and effectiveness information, newly identified information."),
    _S("benefit-risk", "18", "Integrated benefit-risk analysis for approved indications", "benefit_risk.md.j2",
       placeholder=True, guidance="Benefit-risk context and integrated analysis."),
    _S("conclusions", "19", "Conclusions and actions", "conclusions.md.j2",
       guidance="Conclusions and proposed actions; here only the findings from public data."),
    _S("appendices", "20", "Appendices to the PBRER", "appendices.md.j2",
       guidance="Reference information, tabulations, data sources and references."),
    _S("reproduce", "A", "Appendix A: How to reproduce this report", "reproduce.md.j2",
       guidance="(not in ICH E2C) the commands, code version, parameters and data requests behind this report."),
    _S("feedback", "B", "Appendix B: Reviewer feedback", "feedback.md.j2",
       guidance="(not in ICH E2C) reviewers' comments on earlier reports still open when this one was built (feedback.json)."),
)

SUBSECTIONS: dict[str, str] = {
    "15.1": "Disproportionality of every reaction against the FAERS database",
    "15.2": "Unlisted signals",
    "16.1": "Trend of reports received",
    "16.2": "Change points and forecast",
    "16.3": "Case review sample",
    "19.1": "Findings from public data",
}

_P = Placeholder
PLACEHOLDERS: dict[str, Placeholder] = {p.id: p for p in (
    _P("non-us-authorisations", "2", "Marketing authorisations outside the United States",
       "approvals, refusals, withdrawals and their dates in each country or region."),
    _P("mah-safety-actions", "3", "Safety actions of the MAH and of other regulators",
       "actions taken for safety reasons in the interval: suspensions, restrictions, changes to trials, DHPCs."),
    _P("rsi", "4", "Reference safety information", "the reference safety information (for example the CCDS) at the "
       "start of the interval and every change to it. The US label shown here is a public label, not necessarily the RSI."),
    _P("exposure", "5", "Exposure", "cumulative and interval patient exposure in clinical trials and in marketing "
       "experience, by indication, dose, age and sex. FAERS counts reports, not patients treated."),
    _P("trial-findings", "7", "Clinical trial findings", "significant safety findings of completed and ongoing trials."),
    _P("nis-findings", "8", "Non-interventional study findings", "safety findings of non-interventional studies."),
    _P("other-trials", "9", "Other clinical trials and sources", "findings of other trials, medication errors, "
       "and sources other than FAERS (the MAH's own safety database, other regulators' databases)."),
    _P("non-clinical", "10", "Non-clinical data", "new safety findings from non-clinical studies."),
    _P("literature", "11", "Literature", "the literature search and the safety findings published in the interval."),
    _P("other-reports", "12", "Other periodic reports", "findings of other periodic reports."),
    _P("lack-of-efficacy", "13", "Lack of efficacy", "data on lack of efficacy in controlled trials."),
    _P("late-breaking", "14", "Late-breaking information", "important findings after the data lock point."),
    _P("signal-assessment", "15", "Signal status and assessment", "for each signal: source, date, status (new, "
       "ongoing, closed), the MAH's evaluation and outcome. The screen here flags reporting patterns for review only."),
    _P("risk-evaluation", "16", "Evaluation of risks", "the evaluation of important identified and potential risks "
       "and of the signals closed in the interval, with the MAH's case-level data."),
    _P("benefit", "17", "Benefit evaluation", "baseline and new efficacy and effectiveness information."),
    _P("benefit-risk", "18", "Integrated benefit-risk analysis", "the benefit-risk context and its integrated "
       "analysis for each approved indication. Public adverse-event data cannot show benefit."),
    _P("conclusions", "19", "Conclusions and actions", "the overall conclusion on benefit-risk and the actions "
       "proposed (label changes, risk minimisation, studies)."),
    _P("signatures", "19", "Signatures", "name, role, date and signature of the qualified person responsible for "
       "pharmacovigilance."),
)}

EXHIBITS: dict[str, str] = {
    "tab-drug-identity": "1",
    "tab-approvals": "2",
    "tab-drug-enforcement": "3",
    "tab-label": "4",
    "tab-drug-summary": "6",
    "tab-drug-counts": "6",
    "tab-reactions": "6",
    "tab-sources": "9",
    "tab-mirror-load": "9",
    "tab-drug-signals": "15",
    "tab-unlisted-signals": "15",
    "tab-drug-trend": "16",
    "tab-drug-cases": "16",
    "tab-reproduce": "A",
    "tab-parameters": "A",
    "tab-requests": "A",
}

#: Every table the PBRER shows (the drug's own and the shared data-source and reproduction tables),
#: in the order of the sections `EXHIBITS` places them in, and every figure it may show.
_SECTION_ORDER = [s.number for s in SECTIONS]
TABLES = tuple(sorted(drug.TABLES + data_sources.TABLES + reproduce.TABLES,
                      key=lambda t: _SECTION_ORDER.index(EXHIBITS[t.id])))
FIGURES = drug.FIGURES

CAVEATS: tuple[Caveat, ...] = (
    Caveat("numerator-only", "Counts are numerators only",
           "FAERS holds reports. It does not hold the number of patients treated or prescriptions dispensed; "
           "exposure is not public. Report counts therefore cannot be turned into frequencies of adverse reactions "
           "in patients, and a difference in report volume between drugs or periods can reflect a difference in use."),
    Caveat("reporting-bias", "Reports are spontaneous, unverified and biased",
           "FAERS receives mandatory reports from manufacturers and voluntary reports from health professionals and "
           "consumers. Under-reporting is usual; publicity, litigation and label changes stimulate reporting; one case "
           "can be reported more than once; reports are often incomplete and FDA does not verify them. A report does "
           "not establish a causal relationship between the drug and the reaction described."),
    Caveat("data-currency", "Data are as published at the cut-off date",
           "Reports reach FDA weeks or months after the reaction, and cases are updated by follow-up versions (only "
           "the latest version of each case is counted); the last month of the interval is incomplete and is excluded "
           "from statistical tests; openFDA and the quarterly files can differ for the same period."),
    Caveat("disproportionality", "Disproportionality measures reporting, not risk",
           "Disproportionality statistics compare the share of the drug's reports coding a reaction with the share of "
           "all other reports in FAERS coding it. They depend on coding practice and on the other drugs in the "
           "database, are affected by the biases above, and generate hypotheses for review only."),
    Caveat("non-us-data", "Only US data are public here",
           "FAERS and openFDA are FDA's data. Reports held by other regulators (EudraVigilance, VigiBase) and the "
           "marketing authorisation holder's own safety database are not part of this report and have to be added "
           "by the marketing authorisation holder."),
    Caveat("synthetic", "The data are synthetic",
           "This run used synthetic demonstration data. Nothing in this report describes a real drug, company or "
           "patient, and it must not be used for any regulatory or clinical decision.", only_if_synthetic=True),
)

PBRER = ReportStructure(
    name="ICH E2C(R2) Periodic Benefit-Risk Evaluation Report (PBRER)",
    title="Periodic benefit-risk evaluation report: public-data sections",
    templates="templates/narrative/pbrer",
    sections=SECTIONS,
    subsections=SUBSECTIONS,
    placeholders=PLACEHOLDERS,
    exhibits=EXHIBITS,
    figures_section="16",
    sources_section="9",
    references_section="20",
    subject=("{drug_name}", "{drug_matched_as}"),
    identification=(
        ("Drug as given", "{code}"),
        ("Active ingredient", "{drug_name}"),
        ("Resolved as", "{drug_matched_as}"),
        ("FAERS roles counted", "{drug_roles}"),
        ("Reporting interval (FDA receipt date)", "{window_start} to {window_end}"),
        ("Data cut-off", "{as_of}"),
        ("Data", "{data_origin}"),
    ),
    caveats=CAVEATS,
    completed_by="marketing authorisation holder",
    document_kind="Periodic Benefit-Risk Evaluation Report",
    subject_labels=("Drug (as resolved)", ""),
    tables=TABLES,
    figures=FIGURES,
)
