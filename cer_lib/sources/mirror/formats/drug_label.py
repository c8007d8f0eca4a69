"""openFDA's drug-label bulk download (``drug/label``): SPL labels, for listedness offline.

FDA ships ``drug-label-0001-of-00NN.json.zip`` (each a ``{"meta", "results"}`` document, results
being openFDA ``drug/label`` records: ``boxed_warning``, ``warnings_and_cautions``, ``warnings``,
``precautions``, ``adverse_reactions``, the ``openfda`` block, ``set_id``, ``effective_time``). A
mirror holds them in openFDA's layout, ``drug/label/``, or as downloaded in the mirror folder itself
(``drug-label*.json`` or ``.json.zip``, beside the FAERS quarter of a drug mirror). Read as the
device endpoints' openFDA JSON is (`openfda_json`: ``meta`` or a bare results array, zips with
several parts, ``meta.last_updated`` dating the file). A label is kept once per ``set_id``, its
highest ``version`` (openFDA serves the current version of each label; two downloads in one mirror
hold older versions too). A drug report from such a mirror reads the label of its ingredient
(searched on ``openfda.generic_name``, newest ``effective_time`` first) and marks each signal
listed or unlisted, as from openFDA.
"""
from __future__ import annotations

import re
from pathlib import Path

from ..endpoints import EndpointSpec, field_specs
from .base import SourceUnit
from .openfda_json import OpenFDAJsonFormat

__all__ = ["DRUG_LABEL", "DrugLabelFormat"]

DRUG_LABEL = EndpointSpec(
    "drug/label",
    field_specs(
        "id set_id version openfda.generic_name openfda.brand_name openfda.substance_name openfda.product_ndc "
        "openfda.rxcui openfda.manufacturer_name openfda.application_number openfda.product_type",
        "effective_time"),
    key=("set_id",), newest_by="version", required=(("set_id",),), dating="effective_time", cache_conversions=True,
)
_DOWNLOAD_NAME = re.compile(r"^drug-label.*\.json(\.zip)?$", re.IGNORECASE)


class DrugLabelFormat(OpenFDAJsonFormat):
    """openFDA ``drug/label`` bulk JSON (see the module docstring)."""

    name = "openfda-drug-label"
    priority = 1
    folders = ("drug/label",)
    feeds = (DRUG_LABEL,)

    def units(self, folder: Path) -> list[SourceUnit]:
        downloaded = [p for p in sorted(folder.iterdir()) if p.is_file() and _DOWNLOAD_NAME.match(p.name)] \
            if folder.is_dir() else []
        return super().units(folder) + [self.unit(folder, DRUG_LABEL.name, [path]) for path in downloaded]
