"""Request and response models of API v1 (they are the OpenAPI schema at ``/docs``)."""
from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from ..codes import Kind

JobStatusName = Literal["queued", "running", "succeeded", "failed"]


class ErrorBody(BaseModel):
    """Every error: what went wrong and what to do."""

    detail: str = Field(examples=["'HWZ' is not an FDA product code in the classification file foiclass.txt "
                                  "(6,000 codes). Close matches: HWA, HWB, HWC."])


class ReportRequest(BaseModel):
    """A report to build: the code, what it names, where the data come from, parameter overrides."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    code: str = Field(min_length=1, max_length=100, examples=["HWC"])
    kind: Kind = Kind.product_code
    data_from: Literal["api", "mirror"] | None = Field(
        None, alias="from", description="openFDA over HTTPS, or a mirror; default: the parameters' `from`")
    mirror: str | None = Field(None, max_length=40, description="name of a configured mirror (with from=mirror); "
                               "default 'demo'. Clients choose by name, never by path")
    set: dict[str, Any] = Field(default_factory=dict, max_length=50,
                                description="parameter overrides as `cer report --set` takes them",
                                examples=[{"methods.forecast.horizon_months": 6}])


class JobAccepted(BaseModel):
    job_id: str
    status: JobStatusName = "queued"
    links: dict[str, str]


class JobStatus(BaseModel):
    job_id: str
    status: JobStatusName
    stage: str | None = Field(None, description="the stage running now (01_collect … 05_report, assemble), "
                              "or what the job waits for")
    code: str
    kind: str
    data_from: str | None = Field(None, alias="from")
    mirror: str | None = None
    subject: str
    submitted_utc: str
    run_id: str | None = None
    error: str | None = Field(None, description="why it failed: the command line's message (stage, cell, error)")
    links: dict[str, str] = Field(default_factory=dict, description="the report's files, when it succeeded")

    model_config = ConfigDict(populate_by_name=True)


class CodeSummary(BaseModel):
    code: str = Field(description="the code's folder under outputs/ (a product code, or kind-name for brands)")
    runs: int
    latest_run_id: str | None
    links: dict[str, str]


class RunSummary(BaseModel):
    run_id: str
    started_utc: str
    latest: bool
    files: dict[str, str] = Field(description="file name -> download link")


class CodeRuns(BaseModel):
    code: str
    runs: list[RunSummary]


class SignalResult(BaseModel):
    """What `cer signals` computes (PRR, ROR, IC, EBGM per product-term pair), as JSON."""

    data_description: str
    n_reports: int
    n_pairs: int
    ic_definition: str
    settings: dict[str, Any]
    product_of_interest: str | None = None
    expected_counts: Any = None
    prior_fit: dict[str, Any]
    prior_used: dict[str, Any] | None = Field(None, description="the fitted prior, or the fallback prior when the fit was not sound")
    screen: dict[str, Any] = Field(description="the primary screen (its rule, whether it applied, the signal count) and the secondary rules")
    methods: dict[str, str]
    columns: list[str]
    records: list[dict[str, Any]] = Field(description="one row per (product, term), the columns above")


class Health(BaseModel):
    status: Literal["ok"]


class Readiness(BaseModel):
    status: Literal["ready", "not ready"]
    checks: dict[str, str] = Field(description="each part: 'ok' or what is wrong")
