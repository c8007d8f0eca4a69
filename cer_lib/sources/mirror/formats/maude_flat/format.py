"""The MAUDE flat files of a mirror's ``maude/`` folder as one unit feeding ``device/event``."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from ...endpoints import DEVICE_ENDPOINTS
from ...load_report import FileLoadReport
from ..base import Conversion, ConversionContext, FileFormat, SourceUnit
from .join import join_maude
from .layouts import maude_files

__all__ = ["MaudeFlatFormat", "UNJOINED_REASON"]

UNJOINED_REASON = "no mdrfoi master row for its MDR_REPORT_KEY (not joined, as in FDA's pipeline)"
_OPENFDA_BLOCK = ("device_name", "medical_specialty_description", "regulation_number", "device_class")


class MaudeFlatFormat(FileFormat):
    """FDA's MAUDE download files (mdrfoi, foidev/device, foitext, patient, problem codes) in
    ``maude/``, repaired and joined into ``device/event`` records (see `join`, `read`). Each device
    gets the ``openfda`` block of its product code from the mirror's ``device/classification``
    records, as openFDA's annotation step adds it: the same classification the rest of the run uses."""

    name = "maude-flat"
    priority = 2
    folders = ("maude",)
    feeds = (DEVICE_ENDPOINTS["device/event"],)
    depends_on = ("device/classification",)

    def units(self, folder: Path) -> list[SourceUnit]:
        files = maude_files(folder / "maude")
        return [self.unit(folder, "device/event", files, name="maude/")] if files else []

    def convert(self, unit: SourceUnit, context: ConversionContext) -> Conversion:
        classification: dict[str, dict[str, Any]] = {}
        for record in context.live_records("device/classification"):
            code = record.get("product_code")
            if code and code not in classification:
                classification[code] = {name: record.get(name, "") for name in _OPENFDA_BLOCK}
        joined = join_maude(unit.paths, classification=classification or None)
        reports: list[FileLoadReport] = []
        for flat in joined.files:
            orphans = joined.orphan_rows.get(flat.path, 0)
            report = FileLoadReport(
                context.rel(Path(flat.path)), unit.endpoint, self.name, layout=flat.layout, encoding=flat.encoding,
                rows_read=flat.rows + flat.rejected_count, rows_kept=flat.rows - orphans, rows_repaired=flat.rows_repaired,
                repairs={k: v for k, v in {
                    "raw_newline_joined": flat.newline_repairs,
                    "stray_pipe_in_text": flat.pipe_repairs,
                    "legacy_width_rows": flat.legacy_width_rows,
                    "dates_unparsed": flat.dates_unparsed,
                }.items() if v},
                note=f"encoding {flat.encoding}; {'header row' if flat.header else 'no header row'}",
            )
            for issue in flat.rejected:
                report.reject(issue.line, issue.reason)
            report.rows_rejected += flat.rejected_count - len(flat.rejected)  # counted beyond the listed ones
            if orphans:
                report.reject(None, UNJOINED_REASON, rows=orphans)
                report.rows_unjoined = orphans
            reports.append(report)
        if joined.outcome_splits or joined.child_duplicates:
            first = next((r for r in reports if r.layout == "patient"), reports[0] if reports else None)
            if first is not None:
                if joined.outcome_splits:
                    first.repairs["multi_patient_outcomes_split"] = joined.outcome_splits
                if joined.child_duplicates:
                    first.repairs["child_rows_replaced_by_later_files"] = joined.child_duplicates
        sources = [context.rel(Path(s)) for s in joined.sources]
        return Conversion.of_records(self.endpoint(unit.endpoint), joined.records, sources, reports)
