"""Where each exhibit of the report comes from, as typed items (never text that is parsed back).

A `ProvenanceItem` names the exhibit (id, "Table 3", title, section), the sources its data came
from (`SourceQuery`: the source, its endpoint, the search 01_collect ran, when its data were last
updated), the run data it shows, the numbers of the recorded requests to those sources in the
query log (``provenance/requests.jsonl``, numbered from 1) and the run files it is built from with
their sha256. ``describe()`` gives each part's text, for the report's "Source:" notes, the
provenance annex and ``as_dict()`` (JSON).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..provenance import redact_url

__all__ = ["InputFile", "ProvenanceItem", "RequestRef", "SourceQuery"]


@dataclass(frozen=True)
class InputFile:
    path: str  # relative to the run folder
    sha256: str


@dataclass(frozen=True)
class SourceQuery:
    """A source an exhibit's data came from, and how 01_collect asked it."""

    source: str  # registry name, e.g. "device_recall"
    label: str  # "openFDA device recalls"
    path: str | None = None  # endpoint path, e.g. "/device/recall.json"
    search: str | None = None  # the search 01_collect ran (status.json details.search)
    last_updated: str | None = None
    status: str | None = None  # the source's status when it was not "ok"

    def describe(self) -> str:
        detail = [d for d in (self.path, f"search {self.search}" if self.search else None,
                              f"data last updated {self.last_updated}" if self.last_updated else None,
                              f"status {self.status}" if self.status else None) if d]
        return self.label + (f" ({', '.join(detail)})" if detail else "")


@dataclass(frozen=True)
class RequestRef:
    """One recorded request, by its number in the query log."""

    number: int
    url: str
    time: str | None
    status: Any
    sha256: str | None

    def describe(self) -> str:
        return f"GET {redact_url(self.url)} ({self.time or 'time not recorded'}, HTTP {self.status}, sha256 {self.sha256})"


@dataclass(frozen=True)
class ProvenanceItem:
    """One table or figure of the report and everything it was made from."""

    id: str
    kind: str  # "table" | "figure"
    label: str  # "Table 3", "Figure 2"
    title: str
    section: str | None
    queries: tuple[SourceQuery, ...]
    data: tuple[str, ...]  # run data shown: file and selection
    requests: tuple[RequestRef, ...]
    inputs: tuple[InputFile, ...]

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id, "kind": self.kind, "label": self.label, "title": self.title, "section": self.section,
            "sources": [q.describe() for q in self.queries] + list(self.data) + [r.describe() for r in self.requests],
            "inputs": [{"path": i.path, "sha256": i.sha256} for i in self.inputs],
        }
