"""What a kind of code must provide, so that no stage ever asks which kind it is.

A `Profile` bundles, for the kinds it serves:

- ``preflight``: checks that need no run folder (the code exists), run before anything is created;
- ``resolve``: what the code is (a device's product code, classification and comparators), asked
  of the run's `Source` before anything else;
- ``plan``: the collect plan, a pure function of the parameters and the resolution;
- ``build_tables``: the tidy tables from what was collected (schemas in `cer_lib.tables.schemas`);
- ``analyze``: stage 03 on those tables (``results/analysis.json``, ``figures/``);
- ``fact_builders``: the functions that turn a run's files into the facts the prose may state;
- ``report``: the report's structure (sections, placeholders, where each exhibit goes).

Its sources are the registry entries of its family (`cer_lib.sources.registry`). A new kind is one
module here (``profiles/drug.py``) and one line in `cer_lib.profiles.PROFILES`.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

from ..codes import Kind
from ..sources.base import SourceStatus
from ..sources.registry import SourceSpec, family

if TYPE_CHECKING:
    from ..collect.execute import Progress
    from ..collect.plan import CollectPlan
    from ..params import Parameters
    from ..report.structure import ReportStructure
    from ..runfolder import CollectedInputs, Resolution
    from ..settings import Settings
    from ..sources.base import Source
    from ..tables.device import TidyTable

__all__ = ["FactBuilder", "Profile", "Resolved"]

#: ``builder(facts_builder, run_data)``: adds the facts of one family (see `cer_lib.report.facts`).
FactBuilder = Callable[[Any, Any], None]


@dataclass
class Resolved:
    """What resolving the code found: the resolution, and the statuses and records of the sources it asked."""

    resolution: "Resolution"
    statuses: dict[str, SourceStatus] = field(default_factory=dict)
    records: dict[str, list[dict[str, Any]]] = field(default_factory=dict)


class Profile(ABC):
    """The kind-specific parts of a report (see the module docstring)."""

    name: ClassVar[str]  # the family of its sources, e.g. "device"
    kinds: ClassVar[tuple[Kind, ...]]
    resolution_model: ClassVar[type["Resolution"]]
    table_names: ClassVar[tuple[str, ...]]
    fact_builders: ClassVar[tuple[FactBuilder, ...]]
    report: ClassVar["ReportStructure"]

    @property
    def sources(self) -> tuple[SourceSpec, ...]:
        """The registry entries this profile collects, in registry (and report) order."""
        return family(self.name)

    @property
    def source_names(self) -> tuple[str, ...]:
        return tuple(spec.name for spec in self.sources)

    def sources_feeding(self, table: str) -> tuple[str, ...]:
        """The sources a table is built from (their statuses become the table's notes)."""
        return tuple(spec.name for spec in self.sources if table in spec.tables)

    def preflight(self, params: "Parameters", settings: "Settings") -> None:
        """Checks that need no run folder (raise a `CerError` to refuse the run): the mirror exists."""
        if params.data_from == "mirror":
            from ..sources.demo import mirror_folder

            mirror_folder(params.mirror, settings)  # raises when absent; builds the demo mirror on first use

    @abstractmethod
    def resolve(self, params: "Parameters", source: "Source", progress: "Progress") -> Resolved:
        """What the code is, asked of ``source``; `CodeError` when it is not known there."""

    @abstractmethod
    def plan(self, params: "Parameters", resolution: "Resolution") -> "CollectPlan":
        """The requests stage 01 makes after resolving (pure: no I/O)."""

    @abstractmethod
    def build_tables(self, inputs: "CollectedInputs") -> dict[str, "TidyTable"]:
        """Every tidy table of the kind from the collected inputs (pure)."""

    @abstractmethod
    def analyze(self, ctx: Any) -> Any:
        """Stage 03: the analysis of the run's tables, written to ``results/analysis.json`` and ``figures/``."""

    def __repr__(self) -> str:
        return f"<{self.name} profile: {', '.join(k.value for k in self.kinds)}>"
