"""Typed models of the small files the stages write into a run folder.

Every model is what `RunFolder`'s readers return. They are strict about the types of the fields the
project writes (a string where a number belongs is an error naming the file and the field) and
tolerant of what is cheap to tolerate: a field an older run did not write takes its default, a field
a newer version added is kept (``model_extra``) rather than refused. `RunFileModel.unknown_fields`
lists those, so a test can hold the models to the shape the stages write now.

The analysis results (``results/analysis.json``) have their own module, `cer_lib.runfolder.analysis`.
"""
from __future__ import annotations

import html
from typing import Any, Literal

import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, model_validator

from ..sources.base import SourceStatus

__all__ = [
    "CodeVersion",
    "CollectStatus",
    "Comparator",
    "FactRecord",
    "IntegrateSummary",
    "Manifest",
    "NarrativeFile",
    "NarrativeSection",
    "Resolution",
    "RunFileModel",
    "RunRecord",
    "StageTime",
    "TableSummary",
]


class RunFileModel(BaseModel):
    """Base of the run-file models: unknown fields are kept, not refused (see the module docstring)."""

    model_config = ConfigDict(extra="allow", populate_by_name=True)

    def unknown_fields(self, prefix: str = "") -> list[str]:
        """Dotted names of every field in the file that no model declares (recursively)."""
        found = [f"{prefix}{name}" for name in (self.model_extra or {})]
        for name in type(self).model_fields:
            found += _unknown_in(getattr(self, name), f"{prefix}{name}.")
        return found


def _unknown_in(value: Any, prefix: str) -> list[str]:
    if isinstance(value, RunFileModel):
        return value.unknown_fields(prefix)
    if isinstance(value, dict):
        return [f for key, item in value.items() for f in _unknown_in(item, f"{prefix}{key}.")]
    if isinstance(value, list):
        return [f for i, item in enumerate(value) for f in _unknown_in(item, f"{prefix}{i}.")]
    return []


# ----------------------------------------------------------------------------------------------
# run.json and manifest.json (the runner)


class CodeVersion(RunFileModel):
    git_commit: str | None = None
    dirty: bool | None = None
    lock_sha256: str | None = None


class RunRecord(RunFileModel):
    """``run.json``: what a reader needs to reproduce the run, written before any stage starts."""

    run_id: str
    code: str
    kind: str
    command: str | None = None
    reproduce: list[str] = Field(default_factory=list)
    started_utc: str | None = None
    code_version: CodeVersion = Field(default_factory=CodeVersion)
    tool_version: str | None = None


class StageTime(RunFileModel):
    stage: str
    notebook: str
    seconds: float
    status: str


class ManifestData(RunFileModel):
    origin: str | None = None
    synthetic: bool = False
    offline: bool = False
    last_updated: dict[str, str | None] = Field(default_factory=dict)
    mirror_load: dict[str, Any] | None = None  # a mirror run: rows rejected per file (`MirrorLoadReport.summary`)


class HashedFile(RunFileModel):
    path: str
    sha256: str | None = None
    bytes: int | None = None
    role: str | None = None  # inputs: what the run read the file as


class ChainLink(RunFileModel):
    step: str
    files: list[HashedFile] = Field(default_factory=list)
    removed: list[str] = Field(default_factory=list)
    digest: str | None = None


class ManifestChain(RunFileModel):
    """The hash chain sealed after each step (`cer_lib.manifest`); ``root`` binds it to the claims."""

    algorithm: str | None = None
    links: list[ChainLink] = Field(default_factory=list)
    root: str | None = None


class ManifestSignature(RunFileModel):
    algorithm: str | None = None
    of: str | None = None
    value: str | None = None


class Manifest(RunFileModel):
    """``manifest.json``: written last; the run's claims, every request, input and output with its sha256, the hash
    chain and (with ``CER_MANIFEST_KEY``) a signature. `cer_lib.verify` checks it; this model only reads it."""

    manifest_version: int = 1
    tool: dict[str, Any] = Field(default_factory=dict)
    run_id: str
    code: str
    kind: str
    command: str | None = None
    started_utc: str | None = None
    finished_utc: str | None = None
    parameters: dict[str, Any] = Field(default_factory=dict)
    code_version: CodeVersion = Field(default_factory=CodeVersion)
    environment: dict[str, Any] = Field(default_factory=dict)
    data: ManifestData = Field(default_factory=ManifestData)
    stages: list[StageTime] = Field(default_factory=list)
    requests: list[dict[str, Any]] = Field(default_factory=list)
    inputs: list[HashedFile] = Field(default_factory=list)
    outputs: list[HashedFile] = Field(default_factory=list)
    chain: ManifestChain | None = None
    signature: ManifestSignature | None = None


# ----------------------------------------------------------------------------------------------
# collected/ (01_collect)


class DateWindow(RunFileModel):
    start: str | None = None
    end: str | None = None


class CollectStatus(RunFileModel):
    """``collected/status.json``: where the data came from and how every source fared."""

    origin: Literal["api", "mirror"] | None = None
    offline: bool = False
    synthetic: bool = False
    mirror: str | None = None
    base_url: str | None = None
    code: str | None = None
    kind: str | None = None
    window: DateWindow | None = None
    sources: dict[str, SourceStatus] = Field(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _names_from_keys(cls, data: Any) -> Any:
        """Each entry's ``name`` is its key (older runs did not repeat it inside the entry)."""
        if isinstance(data, dict) and isinstance(data.get("sources"), dict):
            data = {**data, "sources": {k: {"name": k, **v} if isinstance(v, dict) else v for k, v in data["sources"].items()}}
        return data

    def source(self, name: str) -> SourceStatus | None:
        """The status of one source, None when the run did not record it."""
        return self.sources.get(name)

    def state(self, name: str) -> str | None:
        """``ok``, ``empty``, ``unavailable``, ``error``, ``disabled``, or None when not recorded."""
        entry = self.sources.get(name)
        return entry.status if entry else None

    @property
    def where(self) -> str | None:
        """The mirror folder or the API's base URL."""
        return self.mirror or self.base_url


class Comparator(RunFileModel):
    product_code: str
    device_name: str | None = None
    device_class: str | None = None
    reports: int | None = None  # device event reports in the window, when chosen by report volume


class Resolution(RunFileModel):
    """``collected/resolution.json``: what the code resolved to. Each kind's profile extends it
    (`cer_lib.profiles.device.DeviceResolution`)."""

    code: str
    kind: str

    @property
    def subject_name(self) -> str | None:
        """The name the report gives its subject (a device name, a drug name)."""
        return None

    @property
    def subject_class(self) -> str | None:
        """The subject's regulatory class, when it has one."""
        return None


# ----------------------------------------------------------------------------------------------
# tables/summary.json (02_integrate)


class TableSummary(RunFileModel):
    """One table of ``tables/summary.json``: rows, columns and dtypes, key, duplicates, notes."""

    name: str = Field("", exclude=True)  # the key in the summary
    rows: int = 0
    grain: str = ""
    columns: list[str] = Field(default_factory=list)
    dtypes: dict[str, str] = Field(default_factory=dict)
    key: list[str] = Field(default_factory=list)
    duplicates_removed: int = 0
    counters: dict[str, int] = Field(default_factory=dict)
    notes: list[str] = Field(default_factory=list)


SUMMARY_VERSION = 1


class IntegrateSummary(RunFileModel):
    """``tables/summary.json``: one `TableSummary` per table, the sha256 of every collected file read,
    and general notes. It is also what stage 02 returns, so it displays itself in the notebook."""

    summary_version: int = SUMMARY_VERSION
    tables: dict[str, TableSummary] = Field(default_factory=dict)
    inputs: dict[str, str] = Field(default_factory=dict)  # path relative to the run folder -> sha256
    notes: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _names(self) -> "IntegrateSummary":
        for name, table in self.tables.items():
            table.name = name
        return self

    def __getitem__(self, name: str) -> TableSummary:
        return self.tables[name]

    def to_json(self) -> dict[str, Any]:
        return self.model_dump(mode="json")

    def to_frame(self) -> pd.DataFrame:
        """One row per table: rows, key, duplicates removed, notes."""
        return pd.DataFrame(
            [{"table": t.name, "rows": t.rows, "columns": len(t.columns), "key": ", ".join(t.key),
              "duplicates_removed": t.duplicates_removed, "notes": "; ".join(t.notes)} for t in self.tables.values()],
            columns=["table", "rows", "columns", "key", "duplicates_removed", "notes"],
        )

    def __str__(self) -> str:
        width = max((len(n) for n in self.tables), default=5)
        lines = [f"integrated {len(self.tables)} tables from {len(self.inputs)} collected file(s)"]
        lines.append(f"  {'table':<{width}}  {'rows':>7}  {'dupes':>5}  key")
        for t in self.tables.values():
            lines.append(f"  {t.name:<{width}}  {t.rows:>7}  {t.duplicates_removed:>5}  {', '.join(t.key)}")
            lines.extend(f"  {'':<{width}}    - {note}" for note in t.notes)
        if self.notes:
            lines.append("notes:")
            lines.extend(f"  - {note}" for note in self.notes)
        return "\n".join(lines)

    def __repr__(self) -> str:
        return str(self)

    def _repr_html_(self) -> str:
        notes = "".join(f"<li>{html.escape(n)}</li>" for n in self.notes)
        return self.to_frame().to_html(index=False, escape=True) + (f"<p>Notes:</p><ul>{notes}</ul>" if notes else "")


# ----------------------------------------------------------------------------------------------
# results/narrative.json (04_narrate)


class NarrativeSection(RunFileModel):
    """One rendered section: Markdown and HTML body (without its numbered heading) and the facts it printed."""

    id: str
    number: str
    title: str
    level: int = 1
    markdown: str
    html: str
    facts_used: list[str] = Field(default_factory=list)
    placeholder: bool = False
    placeholders: list[str] = Field(default_factory=list)

    def _repr_html_(self) -> str:
        return f"<h3>{html.escape(self.number)} {html.escape(self.title)}</h3>\n{self.html}"


class CaveatRecord(RunFileModel):
    key: str
    label: str
    title: str
    text: str
    section: str = ""


class FactRecord(RunFileModel):
    value: Any = None
    text: str = ""
    source: str = ""
    kind: str = "text"


class NarrativeFile(RunFileModel):
    """``results/narrative.json``: the sections in report order, the caveats and every fact."""

    schema_version: int = 1
    sections: list[NarrativeSection] = Field(default_factory=list)
    caveats: list[CaveatRecord] = Field(default_factory=list)
    facts: dict[str, FactRecord] = Field(default_factory=dict)
