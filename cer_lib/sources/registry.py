"""The registry of data sources: one `SourceSpec` per source a report can draw on.

A source's name is the key of its entry in ``collected/status.json`` and the name of its records
file (``collected/records/<name>.jsonl``). Its spec says where it lives (the openFDA endpoint, or a
public page for sources without one), which parameter switches it on (``sources.<switch>``), whether
a failure stops the run (``required``) or is recorded and reported (optional), which tidy tables it
feeds, and how many records a search keeps. A profile collects the sources of its ``family`` in
registry order, which is also the order the report lists them in.

Adding a source is one entry here (and, for a new kind of request, a step in the profile's plan).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ["SOURCES", "SourceSpec", "family", "source_spec"]


@dataclass(frozen=True)
class SourceSpec:
    name: str
    family: str  # the profile family that collects it: "device" or "drug"
    label: str  # how the report names it
    endpoint: str | None  # openFDA path without ".json", e.g. "device/event"; None for non-openFDA sources
    switch: str  # field of `Parameters.sources` that turns it on
    tables: tuple[str, ...]  # tidy tables it feeds
    required: bool = False  # a failure stops the run; optional sources that fail are reported
    record_cap: int | None = None  # records a search keeps; the status says when the source held more
    home: str | None = None  # public address of a source without an openFDA endpoint

    def enabled(self, params: Any) -> bool:
        """Whether ``params.sources.<switch>`` turns it on."""
        return bool(getattr(params.sources, self.switch))

    @property
    def path(self) -> str | None:
        """``/device/event.json``: the endpoint's path on the openFDA server."""
        return f"/{self.endpoint}.json" if self.endpoint else None

    def url(self, base_url: str | None) -> str | None:
        """Where the source's data come from: the endpoint on ``base_url``, or its public address."""
        if self.endpoint and base_url:
            return f"{base_url.rstrip('/')}{self.path}"
        return self.home


SOURCES: dict[str, SourceSpec] = {
    spec.name: spec
    for spec in (
        SourceSpec("device_event", "device", "openFDA device adverse events (MAUDE)", "device/event", "maude",
                   ("events", "event_devices", "event_problems", "event_texts", "patient_outcomes", "event_counts",
                    "problem_counts", "report_totals", "summary_reports"), required=True),
        SourceSpec("device_recall", "device", "openFDA device recalls", "device/recall", "recall", ("recalls",),
                   record_cap=5000),
        SourceSpec("device_enforcement", "device", "openFDA device enforcement reports", "device/enforcement",
                   "enforcement", ("enforcement",), record_cap=5000),
        SourceSpec("device_510k", "device", "openFDA 510(k) clearances", "device/510k", "submissions", ("submissions",),
                   record_cap=1000),
        SourceSpec("device_pma", "device", "openFDA premarket approvals (PMA)", "device/pma", "submissions",
                   ("submissions",), record_cap=1000),
        SourceSpec("device_classification", "device", "openFDA device classification", "device/classification",
                   "classification", ("products",), required=True),
        SourceSpec("device_udi", "device", "openFDA GUDID (UDI)", "device/udi", "udi", ("products",), record_cap=1000),
        SourceSpec("device_registrationlisting", "device", "openFDA registration and listing",
                   "device/registrationlisting", "registrationlisting", ("products",), record_cap=1000),
        SourceSpec("eudamed", "device", "EUDAMED public device data", None, "eudamed", ("products",),
                   home="https://ec.europa.eu/tools/eudamed"),
        SourceSpec("drug_event", "drug", "FAERS adverse event reports (openFDA drug/event, or FDA's quarterly files)",
                   "drug/event", "faers", ("drug_event_counts", "reaction_counts", "drug_report_totals",
                                           "drug_summary_counts", "drug_cases"), required=True),
        SourceSpec("drug_label", "drug", "openFDA drug labels (SPL)", "drug/label", "label", ("labels",), record_cap=100),
        SourceSpec("drug_ndc", "drug", "openFDA NDC directory", "drug/ndc", "ndc", ("drug_products",), record_cap=1000),
        SourceSpec("drug_drugsfda", "drug", "openFDA Drugs@FDA approvals", "drug/drugsfda", "drugsfda", ("approvals",),
                   record_cap=100),
        SourceSpec("drug_enforcement", "drug", "openFDA drug enforcement reports", "drug/enforcement", "enforcement",
                   ("drug_enforcement",), record_cap=1000),
    )
}


def source_spec(name: str) -> SourceSpec:
    try:
        return SOURCES[name]
    except KeyError:
        raise KeyError(f"no source {name!r}; sources are {', '.join(SOURCES)}") from None


def family(name: str) -> tuple[SourceSpec, ...]:
    """The sources of one profile family, in registry (and report) order."""
    return tuple(spec for spec in SOURCES.values() if spec.family == name)
