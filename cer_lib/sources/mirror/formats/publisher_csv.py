"""Publisher-flattened CSV: ``device/<endpoint>/*.csv``.

``|``-delimited, a header row, usually a pandas index as the first (unnamed) column, ``"``-quoted
fields that may span lines. Columns are mapped to openFDA field paths (`CSV_COLUMNS`; unmapped
columns stay at the top level); list columns hold a Python list literal (``"['a', 'b']"``).

Read strictly: the header must be ``|``-delimited and hold the columns the endpoint cannot do
without (its record key, and the product code for 510(k)s and recalls, `REQUIRED_COLUMNS`),
else the file is refused on line 1; a row with a different number of fields is rejected with its
line. A product code the file does not have is never invented: an event CSV without one simply
cannot match a product-code query.
"""
from __future__ import annotations

import ast
import csv
import io
from pathlib import Path
from typing import Any

from ....errors import MirrorError
from ..endpoints import DEVICE_ENDPOINTS
from ..load_report import FileLoadReport
from ..textfiles import read_text_file, require_delimiter
from .base import Conversion, ConversionContext, FileFormat, SourceUnit

__all__ = ["PublisherCsvFormat", "CSV_COLUMNS", "REQUIRED_COLUMNS", "parse_list"]

# publisher CSV column -> openFDA field path, per endpoint (other columns stay at the top level)
CSV_COLUMNS: dict[str, dict[str, str]] = {
    "device/event": {
        "brand_name": "device.brand_name",
        "generic_name": "device.generic_name",
        "manufacturer_d_name": "device.manufacturer_d_name",
        "model_number": "device.model_number",
        "catalog_number": "device.catalog_number",
        "lot_number": "device.lot_number",
        "device_report_product_code": "device.device_report_product_code",
        "device_name": "device.openfda.device_name",
        "device_class": "device.openfda.device_class",
        "regulation_number": "device.openfda.regulation_number",
        "patient_problems": "patient.patient_problems",
        "sequence_number_outcome": "patient.sequence_number_outcome",
        "text": "mdr_text.text",
        "text_type_code": "mdr_text.text_type_code",
    },
    "device/recall": {
        "device_name": "openfda.device_name",
        "device_class": "openfda.device_class",
        "regulation_number": "openfda.regulation_number",
        "medical_specialty_description": "openfda.medical_specialty_description",
    },
    "device/510k": {
        "openfda_device": "openfda.device_name",
        "openfda_device_name": "openfda.device_name",
        "device_class": "openfda.device_class",
        "regulation_number": "openfda.regulation_number",
        "medical_specialty_description": "openfda.medical_specialty_description",
    },
    "device/udi": {
        "product_code": "product_codes.code",
        "product_code_name": "product_codes.name",
        "k_number": "premarket_submissions.submission_number",
        "primary_di": "identifiers.id",
        "di": "identifiers.id",
    },
}
# columns a publisher CSV of the endpoint must have besides the endpoint's required fields: the
# device report finds 510(k)s and recalls by product code, so a file without one is unusable
REQUIRED_COLUMNS: dict[str, tuple[tuple[str, ...], ...]] = {
    "device/510k": (("product_code",),),
    "device/recall": (("product_code",),),
}
_LIST_COLUMNS = {
    "product_problems", "patient_problems", "sequence_number_outcome", "k_numbers", "source_type",
    "type_of_report", "remedial_action", "establishment_type", "proprietary_name",
}
_LIST_CONTAINERS = {"device", "patient", "mdr_text", "identifiers", "product_codes", "premarket_submissions", "products", "gmdn_terms"}


def _set_path(record: dict[str, Any], path: str, value: Any) -> None:
    """Put ``value`` at a dotted path, creating one-element lists for openFDA list fields."""
    parts = path.split(".")
    target = record
    for part in parts[:-1]:
        if part in _LIST_CONTAINERS:
            container = target.setdefault(part, [{}])
            if not container:
                container.append({})
            target = container[0]
        else:
            target = target.setdefault(part, {})
    target[parts[-1]] = value


def parse_list(text: str) -> list[str]:
    """A publisher's list cell: ``"['a', 'b']"`` (a Python literal) or a plain value."""
    text = (text or "").strip()
    if not text:
        return []
    if text.startswith("[") and text.endswith("]"):
        try:
            value = ast.literal_eval(text)
        except (ValueError, SyntaxError):
            value = None
        if isinstance(value, (list, tuple)):
            return [str(v).strip() for v in value]
    return [text]


class PublisherCsvFormat(FileFormat):
    """Publisher-flattened ``|`` CSV in ``device/<endpoint>/`` (see the module docstring)."""

    name = "publisher-csv"
    priority = 3
    folders = ("device/*",)
    feeds = tuple(DEVICE_ENDPOINTS.values())

    def units(self, folder: Path) -> list[SourceUnit]:
        return [self.unit(folder, endpoint, [path]) for endpoint, path in self.endpoint_files(folder)
                if path.name.lower().endswith(".csv")]

    def convert(self, unit: SourceUnit, context: ConversionContext) -> Conversion:
        path, endpoint = unit.paths[0], self.endpoint(unit.endpoint)
        decoded = read_text_file(path, legacy="latin-1")
        reader = csv.reader(io.StringIO(decoded.text), delimiter="|", quotechar='"')
        report = FileLoadReport(unit.name, unit.endpoint, self.name, encoding=decoded.encoding)
        try:
            header = next(reader)
        except StopIteration:
            return Conversion.of_records(endpoint, [], [], [report])
        require_delimiter(decoded.text.split("\n", 1)[0], "|", path=path, lineno=1,
                          expected="publisher CSVs are '|'-delimited with a header row")
        has_index = bool(header) and header[0].strip() == ""
        names = [h.strip() for h in (header[1:] if has_index else header)]
        mapping = CSV_COLUMNS.get(unit.endpoint, {})
        fields = {mapping.get(name, name) for name in names} | set(names)
        for group in endpoint.required + REQUIRED_COLUMNS.get(unit.endpoint, ()):
            if not fields & set(group):
                raise MirrorError(
                    f"{path}: line 1: no {' or '.join(group)} column; a publisher {unit.endpoint} CSV needs it "
                    f"(columns found: {', '.join(n for n in names if n) or 'none'})"
                )
        width = len(header)
        records: list[dict[str, Any]] = []
        lines: list[int] = []
        while True:
            line = reader.line_num + 1
            try:
                row = next(reader)
            except StopIteration:
                break
            except csv.Error as exc:
                report.rows_read += 1
                report.reject(line, f"unreadable CSV row ({exc})")
                continue
            if not row or not any(v.strip() for v in row):
                continue
            report.rows_read += 1
            if len(row) != width:
                report.reject(line, f"{len(row)} fields, expected {width} (a stray '|' or a broken quote?)")
                continue
            record: dict[str, Any] = {}
            for name, value in zip(names, row[1:] if has_index else row):
                value = value.strip()
                target = mapping.get(name, name)
                leaf = target.rsplit(".", 1)[-1]
                _set_path(record, target, parse_list(value) if leaf in _LIST_COLUMNS or name in _LIST_COLUMNS else value)
            records.append(record)
            lines.append(line)
        report.rows_kept = len(records)
        report.note = f"publisher CSV; columns {', '.join(names)}"
        return Conversion.of_records(endpoint, records, [unit.name] * len(records), [report], lines=lines)
