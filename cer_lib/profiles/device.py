"""The device profile: FDA product codes, UDI-DIs and brand names.

A product code and a UDI-DI (resolved to its product code) are classified in ``device/classification``
and compared with the other product codes of the same regulation number; a brand has no product code,
hence no classification and no comparators (``collected/resolution.json``: `DeviceResolution`).
"""
from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from pydantic import Field

from ..codes import Kind, check_product_code_exists
from ..params import Parameters
from ..report import facts as F
from ..report.meddev import MEDDEV_A9
from ..runfolder import CollectedInputs, Comparator, Resolution, RunFileModel
from ..settings import Settings
from ..tables import device as device_tables
from ..tables.schemas import TABLE_NAMES
from .base import Profile

__all__ = ["DEVICE", "DeviceProfile", "DeviceResolution"]


class UdiResolution(RunFileModel):
    udi_di: str
    endpoint: str
    search: str
    product_codes: list[str]
    chosen: str
    rule: str


class DeviceResolution(Resolution):
    """``collected/resolution.json`` of a device: its classification and comparators."""

    product_code: str | None = None
    device_name: str | None = None
    device_class: str | None = None
    regulation_number: str | None = None
    review_panel: str | None = None
    medical_specialty: str | None = None
    implant: bool | None = None
    life_sustaining: bool | None = None
    definition: str | None = None
    comparators: list[Comparator] = Field(default_factory=list)
    comparators_truncated: bool = False
    comparators_available: int = 0
    comparators_rule: str | None = None
    udi_di_resolution: UdiResolution | None = None

    @property
    def subject_name(self) -> str | None:
        return self.device_name

    @property
    def subject_class(self) -> str | None:
        return self.device_class

    @property
    def comparator_codes(self) -> list[str]:
        return [c.product_code for c in self.comparators]


class DeviceProfile(Profile):
    name: ClassVar[str] = "device"
    kinds: ClassVar[tuple[Kind, ...]] = (Kind.product_code, Kind.udi_di, Kind.brand)
    resolution_model: ClassVar[type[Resolution]] = DeviceResolution
    table_names: ClassVar[tuple[str, ...]] = TABLE_NAMES
    report = MEDDEV_A9
    fact_builders = (F.run_facts, F.device_facts, F.source_facts, F.method_facts, F.maude_facts, F.trend_facts,
                     F.change_point_facts, F.forecast_facts, F.problem_facts, F.signal_facts, F.recall_facts,
                     F.submission_facts, F.product_facts, F.citation_facts)

    # -- before the run ------------------------------------------------------------------------

    def preflight(self, params: Parameters, settings: Settings) -> None:
        """The mirror exists, and a product code is in its FDA classification file (or the demo mirror's)."""
        super().preflight(params, settings)
        if params.kind is not Kind.product_code:
            return
        from ..sources.demo import mirror_folder
        from ..sources.foiclass import find_classification_file, product_codes

        if params.data_from == "mirror":
            candidates = [mirror_folder(params.mirror, settings)]
        else:
            candidates = [Path(p) for p in (params.mirror, settings.demo_mirror_dir) if p]
        for candidate in candidates:
            classification = find_classification_file(candidate)
            if classification is not None:
                check_product_code_exists(params.code, product_codes(classification),
                                          source=f"the classification file {classification.name}")
                return

    # -- tables --------------------------------------------------------------------------------

    def build_tables(self, inputs: CollectedInputs) -> dict[str, device_tables.TidyTable]:
        resolution = inputs.resolution.model_dump(mode="json") if inputs.resolution is not None else None
        return device_tables.build_device_tables(inputs.records, inputs.counts, inputs.totals, resolution)


DEVICE = DeviceProfile()
