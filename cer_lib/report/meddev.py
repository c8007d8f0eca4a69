"""The device report's structure: MEDDEV 2.7/1 rev 4, Appendix A9 (the device profile's `ReportStructure`).

`SECTIONS` lists the report's sections in order (numbers, titles, the narrative template of each,
whether public data can fill it). `SUBSECTIONS` lists the numbered headings inside a section's
text (4.6.1 Safety, ...). `PLACEHOLDERS` lists the items public data cannot fill; each is shown
as a boxed "To be completed by the manufacturer" block, never as invented text. `EXHIBITS` places
each table in its section; `TABLES` and `FIGURES` (from the exhibit families of
`cer_lib.report.exhibits`) are what the report shows, a figure after the table it follows.
"""
from __future__ import annotations

from .exhibits import (
    data_sources,
    identity,
    narratives,
    problems,
    recalls,
    reports,
    reproduce,
    signals,
    submissions,
    trend,
)
from .structure import Placeholder, ReportStructure, Section

__all__ = ["EXHIBITS", "FIGURES", "MEDDEV_A9", "PLACEHOLDERS", "SECTIONS", "SUBSECTIONS", "TABLES"]

SECTIONS: tuple[Section, ...] = (
    Section("summary", "1", "Summary", "summary.md.j2",
            guidance="Summary of the evaluation, its data and its conclusions."),
    Section("changes", "1.1", "Changes since the previous report", "changes.md.j2",
            guidance="(not in MEDDEV) what changed against the code's previous report: signals, change points, "
                     "trend verdicts, recalls, report counts, data, parameters and code version (changes.json)."),
    Section("scope", "2", "Scope of the clinical evaluation", "scope.md.j2",
            guidance="Device, models, manufacturer, description, intended purpose, indications, claims, market history, changes."),
    Section("background", "3", "Clinical background, current knowledge, state of the art", "background.md.j2",
            guidance="Clinical background and state of the art, alternative treatments, similar devices."),
    Section("device", "4", "Device under evaluation", "device.md.j2",
            guidance="Type of evaluation, equivalence, clinical data, appraisal, analysis."),
    Section("evaluation-type", "4.1", "Type of evaluation", "evaluation_type.md.j2",
            guidance="Whether the evaluation rests on the device's own data or on equivalence."),
    Section("equivalence", "4.2", "Demonstration of equivalence", "equivalence.md.j2",
            guidance="Technical, biological and clinical equivalence to an equivalent device (MDCG 2020-5)."),
    Section("manufacturer-data", "4.3", "Clinical data generated and held by the manufacturer", "manufacturer_data.md.j2",
            placeholder=True, guidance="Pre-market investigations, PMS and PMCF data, complaints, vigilance, sales and exposure."),
    Section("literature", "4.4", "Clinical data from literature", "literature.md.j2", placeholder=True,
            guidance="Literature search protocol, results, appraisal."),
    Section("appraisal", "4.5", "Summary and appraisal of clinical data", "appraisal.md.j2",
            guidance="Appraisal of each data set: suitability, quality, weight; limitations."),
    Section("analysis", "4.6", "Analysis of the clinical data", "analysis.md.j2",
            guidance="Safety, benefit-risk, performance, undesirable side-effects."),
    Section("conclusions", "5", "Conclusions", "conclusions.md.j2",
            guidance="Conformity, residual risks, benefit-risk, PMS and PMCF needs."),
    Section("next-evaluation", "6", "Date of the next clinical evaluation", "next_evaluation.md.j2", placeholder=True,
            guidance="Date of the next update and its justification."),
    Section("signatures", "7", "Dates and signatures", "signatures.md.j2", placeholder=True,
            guidance="Date of the report, signatures of the evaluators and of the manufacturer."),
    Section("evaluators", "8", "Qualification of the responsible evaluators", "evaluators.md.j2", placeholder=True,
            guidance="CVs of the evaluators and declarations of interest."),
    Section("references", "9", "References", "references.md.j2",
            guidance="Every source of data and every method cited."),
    Section("reproduce", "A", "Appendix A: How to reproduce this report", "reproduce.md.j2",
            guidance="(not in MEDDEV) the commands, code version, parameters and data requests behind this report."),
    Section("feedback", "B", "Appendix B: Reviewer feedback", "feedback.md.j2",
            guidance="(not in MEDDEV) reviewers' comments on earlier reports still open when this one was built (feedback.json)."),
)

#: Numbered headings inside a section's text: number -> title.
SUBSECTIONS: dict[str, str] = {
    "4.6.1": "Safety",
    "4.6.1.1": "Adverse event reports (MAUDE)",
    "4.6.1.2": "Trend and trend-reporting verdict",
    "4.6.1.3": "Change points",
    "4.6.1.4": "Forecast",
    "4.6.1.5": "Problem profiles",
    "4.6.1.6": "Disproportionality against comparator devices",
    "4.6.1.7": "Recalls and enforcement reports",
    "4.6.1.8": "Case narratives",
    "4.6.2": "Benefit-risk",
    "4.6.3": "Performance",
    "4.6.4": "Undesirable side-effects",
    "5.1": "Findings from public data",
    "5.2": "Residual risks and benefit-risk",
    "5.3": "Post-market surveillance and PMCF needs",
}


PLACEHOLDERS: dict[str, Placeholder] = {
    p.id: p
    for p in (
        Placeholder("legal-manufacturer", "2", "Legal manufacturer",
                    "name, address and single registration number (SRN) of the legal manufacturer, and of the authorised representative if any."),
        Placeholder("models", "2", "Models, variants and accessories covered",
                    "the models, sizes and accessories covered by this evaluation, with their Basic UDI-DIs. The UDI listings below show what public databases hold, not what this evaluation covers."),
        Placeholder("device-description", "2", "Device description",
                    "materials, design, principle of operation, patient-contacting parts and sterilisation."),
        Placeholder("intended-purpose", "2", "Intended purpose, indications and contra-indications",
                    "the intended purpose, indications, contra-indications, target population and intended users, as stated in the instructions for use (IFU)."),
        Placeholder("claims", "2", "Clinical claims",
                    "the clinical performance and safety claims made in the IFU and promotional material."),
        Placeholder("market-history", "2", "Market history outside the United States",
                    "EU and other market history: first CE marking, notified body certificates, markets, and any withdrawal."),
        Placeholder("changes", "2", "Changes since the previous evaluation",
                    "design, material, manufacturing, labelling or IFU changes since the previous clinical evaluation."),
        Placeholder("state-of-the-art", "3", "State of the art",
                    "the clinical background, the current standard of care, alternative treatments and the benchmark outcomes of similar devices, from a documented literature review."),
        Placeholder("evaluation-route", "4.1", "Route of the clinical evaluation",
                    "whether conformity rests on the device's own clinical data or on a demonstrated equivalence, and the justification under the applicable rules."),
        Placeholder("equivalence-demonstration", "4.2", "Demonstration of equivalence",
                    "a side-by-side comparison of technical, biological and clinical characteristics with the chosen device, the justification of every difference, and evidence of sufficient access to its data."),
        Placeholder("premarket-investigations", "4.3", "Pre-market clinical investigations",
                    "clinical investigations of the device: design, population, endpoints and results."),
        Placeholder("sales-exposure", "4.3", "Sales, exposure and population",
                    "units sold or implanted per year and region, and the characteristics of the exposed population, so that report counts can be related to use."),
        Placeholder("complaints", "4.3", "Complaints",
                    "complaint data by type and period, and their trend."),
        Placeholder("eu-incidents", "4.3", "Serious incidents and field safety corrective actions in the EU",
                    "the manufacturer's own vigilance data: serious incidents, trend reports and field safety corrective actions reported to EU competent authorities."),
        Placeholder("capa", "4.3", "Corrective and preventive actions",
                    "CAPA opened for the device, their root-cause findings and effectiveness checks."),
        Placeholder("pmcf", "4.3", "Post-market clinical follow-up",
                    "the PMCF plan, PMCF studies and their results (PMCF evaluation report)."),
        Placeholder("literature-search", "4.4", "Literature search and appraisal",
                    "the literature search protocol (databases, terms, dates), the selected publications and their appraisal."),
        Placeholder("appraisal-manufacturer-data", "4.5", "Appraisal of the manufacturer's data sets",
                    "the appraisal (suitability, quality, contribution) of the manufacturer's clinical data and of the literature."),
        Placeholder("risk-file", "4.6", "Comparison with the risk management file",
                    "whether each problem, outcome and recall reason observed in public data is identified in the risk management file, with its estimated probability and severity."),
        Placeholder("benefits", "4.6", "Clinical benefits",
                    "the clinical benefits of the device, with the data that show them. Public adverse-event data describe reported problems only and cannot show benefit."),
        Placeholder("performance", "4.6", "Clinical performance data",
                    "clinical performance outcomes (for example fusion or healing rates, revision-free survival) from investigations, registries or PMCF."),
        Placeholder("side-effects", "4.6", "Undesirable side-effects",
                    "the undesirable side-effects listed in the IFU and their frequencies from the manufacturer's data, compared with the patient problems reported in public data."),
        Placeholder("residual-risks", "5", "Residual risks",
                    "the residual risks after risk control and their acceptability."),
        Placeholder("benefit-risk-conclusion", "5", "Benefit-risk conclusion",
                    "the overall benefit-risk determination against the state of the art, based on all clinical data."),
        Placeholder("pms-pmcf-plan", "5", "PMS and PMCF plan",
                    "the post-market surveillance and PMCF activities that follow from this evaluation, including those suggested by the review items above."),
        Placeholder("next-evaluation-date", "6", "Date of the next evaluation",
                    "the planned date of the next update and its justification (risk class, novelty, and the findings of this evaluation)."),
        Placeholder("signatures", "7", "Signatures",
                    "names, roles, dates and signatures of the evaluators and of the manufacturer's responsible person."),
        Placeholder("evaluator-cvs", "8", "Evaluators' qualifications",
                    "the CV of each evaluator, showing the qualifications and experience required, and a signed declaration of interests."),
    )
}


#: Exhibit id -> the section it is shown in.
EXHIBITS: dict[str, str] = {
    "tab-device": "2",
    "tab-products": "2",
    "tab-comparators": "3",
    "tab-submissions": "4.2",
    "tab-sources": "4.5",
    "tab-mirror-load": "4.5",
    **{exhibit: "4.6" for exhibit in (
        "tab-maude-counts", "tab-outcomes", "tab-brands", "tab-manufacturers", "tab-trend", "tab-change-points", "tab-forecast", "tab-problems-device",
        "tab-problems-patient", "tab-problem-changes", "tab-signals", "tab-recalls-device", "tab-recalls-comparators",
        "tab-enforcement-device", "tab-enforcement-comparators", "tab-case-sample")},
    "tab-reproduce": "A",
    "tab-parameters": "A",
    "tab-requests": "A",
}

#: the device report's tables in report order, and its figures (each after its table)
TABLES = (identity.TABLES + submissions.TABLES + data_sources.TABLES + reports.TABLES + trend.TABLES + problems.TABLES
          + signals.TABLES + recalls.TABLES + narratives.TABLES + reproduce.TABLES)
FIGURES = reports.FIGURES + trend.FIGURES + problems.FIGURES

MEDDEV_A9 = ReportStructure(
    name="MEDDEV 2.7/1 revision 4, Appendix A9",
    title="Clinical evaluation report: public data part",
    templates="templates/narrative",
    sections=SECTIONS,
    subsections=SUBSECTIONS,
    placeholders=PLACEHOLDERS,
    exhibits=EXHIBITS,
    figures_section="4.6",
    sources_section="4.5",
    references_section="9",
    subject=("{device_name}", "product code {product_code}"),
    identification=(
        ("Device", "{device_name}"),
        ("Product code", "{product_code}"),
        ("Classification", "{device_class}, {regulation_number}"),
        ("Reports received", "{first_report_month} to {last_report_month}"),
        ("Window requested (date received)", "{window_start} to {window_end}"),
        ("Data cut-off", "{as_of}"),
        ("Data origin", "{data_origin}"),
        ("Run", "{run_id}"),
        ("Code version", "{git_commit} (cer-notebooks {tool_version})"),
    ),
    tables=TABLES,
    figures=FIGURES,
)
