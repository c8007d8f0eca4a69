"""Publisher-flattened MAUDE sheets: ``maude-sheets/*.xlsx``, feeding ``device/event``.

The first worksheet holds a header row and the 11 columns of `SHEET_COLUMNS` (reports pulled from
openFDA by brand and flattened by their publisher). They have no product code, and none is
invented: the records are found by brand or generic name, and a product-code query never loads
them (`SHEET_FIELDS`: the fields their records can match). ``event_description`` holds
patient-problem terms joined with ``", "``; `split_problem_terms` splits them and re-joins the FDA
terms that themselves contain a comma (`COMMA_TERMS`, plus the terms of the mirror's
``maude/patientproblemdata*`` code list when it has one).

The workbook is read with calamine (python-calamine); numbers become text as Excel shows them
(``10038351``, ``1.5``), booleans ``TRUE`` / ``FALSE``, dates ISO text. A row with neither
``mdr_report_key`` nor ``report_number``, or without ``date_received``, is rejected with its sheet
row number; blank rows are skipped and counted.
"""
from __future__ import annotations

import datetime as dt
import re
from pathlib import Path
from typing import Any, Iterable

import duckdb
import pyarrow as pa
from python_calamine import CalamineError, CalamineWorkbook

from ....errors import MirrorError
from ....dates import compact_date
from ..endpoints import DEVICE_ENDPOINTS
from ..load_report import FileLoadReport
from ..record_tables import RECORDS_SCHEMA
from .base import Conversion, ConversionContext, FileFormat, SourceUnit
from .maude_flat import layout_for, maude_files, read_flat_file

__all__ = ["MaudeSheetFormat", "SHEET_COLUMNS", "SHEET_FIELDS", "COMMA_TERMS", "sheet_rows", "read_xlsx_rows", "split_problem_terms"]

SHEET_COLUMNS = (
    "mdr_report_key", "report_number", "date_received", "event_type", "manufacturer_name", "brand_name",
    "generic_name", "device_class", "event_description", "adverse_event_flag", "report_source",
)
# what the sheets can hold: a query on anything else never needs them loaded
SHEET_FIELDS = frozenset(
    "mdr_report_key report_number date_received event_type adverse_event_flag report_source_code "
    "device.brand_name device.generic_name device.manufacturer_d_name device.openfda.device_class "
    "patient.patient_problems".split()
)
# FDA patient-problem terms that contain ", " (the sheets join terms with ", "); extended by the
# terms of maude/patientproblemdata* (FDA's code list) when the mirror has it
COMMA_TERMS = (
    "No Clinical Signs, Symptoms or Conditions",
    "Appropriate Clinical Signs, Symptoms, Conditions Term / Code Not Available",
    "Therapeutic Response, Decreased",
    "Therapeutic Effects, Unexpected",
    "Complaint, Ill-Defined",
    "Unspecified Mental, Emotional or Behavioural Problem",
    "Headache, Lumbar Puncture",
    "Convulsion, Clonic",
    "Convulsion, Tonic",
    "Hemorrhage, Cerebral",
    "Hemorrhage, Intraventricular",
    "Hemorrhage, Subarachnoid",
    "Hemorrhage, Subdural",
    "Shock, Insulin",
    "Reaction, Injection Site",
    "Burn, Thermal",
    "Renal Disease, End Stage",
    "Vascular System (Circulation), Impaired",
    "Insufficiency, Valvular",
    "Debris, Bone Shedding",
    "Seizures, Absence",
)


# ----------------------------------------------------------------------------------------------
# reading the workbook


def _cell_text(value: Any) -> str | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() and abs(value) < 1e18 else repr(value)
    if isinstance(value, (dt.date, dt.time)):
        return value.isoformat()
    return str(value)


def sheet_rows(path: Path) -> list[list[str | None]]:
    """Every row of the first worksheet, from row 1 (``rows[i]`` is sheet row i + 1), cells as text
    (None when empty), trailing empty cells dropped (a blank row is ``[]``)."""
    path = Path(path)
    try:
        workbook = CalamineWorkbook.from_path(str(path))
        try:
            grid = workbook.get_sheet_by_index(0).to_python(skip_empty_area=False)
        finally:
            workbook.close()
    except (CalamineError, OSError) as exc:
        raise MirrorError(f"{path}: not a readable .xlsx workbook ({exc}); re-download it or re-save it as .xlsx") from None
    rows = []
    for raw in grid:
        cells = [_cell_text(v) for v in raw]
        while cells and cells[-1] is None:
            cells.pop()
        rows.append(cells)
    return rows


def read_xlsx_rows(path: Path) -> list[list[str | None]]:
    """The non-blank rows of the first worksheet of an ``.xlsx`` file, cells as text (None when empty)."""
    return [row for row in sheet_rows(path) if row]


def split_problem_terms(text: str, comma_terms: Iterable[str] = COMMA_TERMS) -> tuple[list[str], bool]:
    """Terms of a sheet's ``event_description`` (``"Pain, No Clinical Signs, Symptoms or Conditions"``).

    Splits at commas, then re-joins neighbours that together form a known term containing a
    comma. Returns the terms and whether any were re-joined.
    """
    text = (text or "").strip()
    if not text:
        return [], False
    known = {term.casefold() for term in comma_terms}
    longest = max((term.count(",") + 1 for term in comma_terms), default=1)
    parts = [p.strip() for p in re.split(r"\s*,\s*", text)]
    terms: list[str] = []
    rejoined = False
    i = 0
    while i < len(parts):
        for width in range(min(longest, len(parts) - i), 1, -1):
            candidate = ", ".join(parts[i : i + width])
            if candidate.casefold() in known:
                terms.append(candidate)
                i += width
                rejoined = True
                break
        else:
            if parts[i]:
                terms.append(parts[i])
            i += 1
    return terms, rejoined


# ----------------------------------------------------------------------------------------------
# the format

_RECORDS_SQL = """
SELECT row_no, $source AS source_file, row_no AS source_line, mdr_report_key AS natural_key, report_number AS bridge,
  json_object(
    'mdr_report_key', mdr_report_key, 'report_number', report_number,
    'date_received', date_received, 'event_type', event_type,
    'adverse_event_flag', adverse_event_flag, 'report_source_code', report_source_code,
    'device', json_array(json_object(
        'brand_name', brand_name, 'generic_name', generic_name,
        'manufacturer_d_name', manufacturer_d_name,
        'openfda', CASE WHEN device_class <> '' THEN json_object('device_class', device_class)
                        ELSE json_object() END)),
    'patient', CASE WHEN len(patient_problems) > 0
                    THEN json_array(json_object('patient_sequence_number', '1',
                                                'patient_problems', patient_problems))
                    ELSE json_array() END
  )::VARCHAR AS record_json
FROM sheet ORDER BY row_no
"""
# searchable field -> sheet table column
_SINGLE_FIELDS = (
    ("mdr_report_key", "mdr_report_key"), ("report_number", "report_number"),
    ("date_received", "date_received"), ("event_type", "event_type"),
    ("adverse_event_flag", "adverse_event_flag"), ("report_source_code", "report_source_code"),
    ("device.brand_name", "brand_name"), ("device.generic_name", "generic_name"),
    ("device.manufacturer_d_name", "manufacturer_d_name"), ("device.openfda.device_class", "device_class"),
)
_FIELDS_SQL = " UNION ALL ".join(
    [f"SELECT row_no, '{name}' AS field, {column} AS value FROM sheet WHERE {column} <> ''" for name, column in _SINGLE_FIELDS]
    + ["SELECT row_no, 'patient.patient_problems' AS field, unnest(list_distinct(patient_problems)) AS value FROM sheet"]
)


class MaudeSheetFormat(FileFormat):
    """Publisher MAUDE sheets in ``maude-sheets/`` (see the module docstring)."""

    name = "maude-sheet"
    priority = 4  # the sparsest copy of a report
    folders = ("maude-sheets",)
    feeds = (DEVICE_ENDPOINTS["device/event"],)
    answers = SHEET_FIELDS

    def units(self, folder: Path) -> list[SourceUnit]:
        place = folder / "maude-sheets"
        if not place.is_dir():
            return []
        return [self.unit(folder, "device/event", [p]) for p in sorted(place.glob("*.xlsx")) if p.is_file() and not p.name.startswith(".")]

    def companions(self, unit: SourceUnit, folder: Path) -> list[Path]:
        """FDA's patient-problem code list (``maude/patientproblemdata*``): its terms with a comma."""
        return [p for p in maude_files(folder / "maude") if layout_for(p).name == "patientproblemdata"]

    def convert(self, unit: SourceUnit, context: ConversionContext) -> Conversion:
        path = unit.paths[0]
        rows = sheet_rows(path)
        first = next((i for i, row in enumerate(rows) if row), None)
        if first is None:
            raise MirrorError(f"{path}: the sheet is empty; a MAUDE sheet has a header row with {', '.join(SHEET_COLUMNS)}")
        header = [str(h or "").strip().lower() for h in rows[first]]
        missing = [c for c in ("mdr_report_key", "date_received") if c not in header]
        if missing:
            raise MirrorError(
                f"{path}: row {first + 1}: a MAUDE sheet needs the columns {', '.join(SHEET_COLUMNS)}; "
                f"missing {', '.join(missing)} (found: {', '.join(h for h in header if h)})"
            )
        index = {name: header.index(name) for name in SHEET_COLUMNS if name in header}
        terms_vocabulary = set(COMMA_TERMS)
        for companion in self.companions(unit, context.folder):
            terms_vocabulary.update(row["term"] for row in read_flat_file(companion).rows if "," in row["term"])
        comma_terms = tuple(sorted(terms_vocabulary))

        report = FileLoadReport(unit.name, unit.endpoint, self.name, encoding="xlsx")
        columns: dict[str, list[Any]] = {name: [] for name in ("row_no", *SHEET_COLUMNS, "patient_problems")}
        splits: dict[str, tuple[list[str], bool]] = {}
        dates: dict[str, str] = {}
        blank = 0
        for number, row in enumerate(rows[first + 1:], first + 2):
            if not row:
                blank += 1
                continue
            values = {name: ("" if i >= len(row) or row[i] is None else row[i].strip()) for name, i in index.items()}
            report.rows_read += 1
            key = values.get("mdr_report_key", "").removesuffix(".0")
            if not key and not values.get("report_number"):
                report.reject(number, "no mdr_report_key and no report_number")
                continue
            raw_date = values.get("date_received", "")
            if raw_date not in dates:
                dates[raw_date] = compact_date(raw_date) or ""
            if not dates[raw_date]:
                report.reject(number, f"no readable date_received ({raw_date!r})" if raw_date else "no date_received")
                continue
            description = values.get("event_description", "")
            if description not in splits:
                splits[description] = split_problem_terms(description, comma_terms)
            report.rows_repaired += splits[description][1]
            columns["row_no"].append(number)
            for name in SHEET_COLUMNS:
                columns[name].append(values.get(name, ""))
            columns["mdr_report_key"][-1] = key
            columns["date_received"][-1] = dates[raw_date]
            columns["patient_problems"].append(splits[description][0])
        report.rows_kept = len(columns["row_no"])
        if report.rows_repaired:
            report.repairs = {"patient_problem_terms_rejoined": report.rows_repaired}
        report.note = "publisher sheet without product codes" + (f"; {blank} blank rows skipped" if blank else "")
        table = pa.table({
            "row_no": pa.array(columns["row_no"], pa.int64()),
            "mdr_report_key": pa.array(columns["mdr_report_key"], pa.string()),
            "report_number": pa.array(columns["report_number"], pa.string()),
            "date_received": pa.array(columns["date_received"], pa.string()),
            "event_type": pa.array(columns["event_type"], pa.string()),
            "adverse_event_flag": pa.array(columns["adverse_event_flag"], pa.string()),
            "report_source_code": pa.array(columns["report_source"], pa.string()),
            "brand_name": pa.array(columns["brand_name"], pa.string()),
            "generic_name": pa.array(columns["generic_name"], pa.string()),
            "manufacturer_d_name": pa.array(columns["manufacturer_name"], pa.string()),
            "device_class": pa.array(columns["device_class"], pa.string()),
            "patient_problems": pa.array(columns["patient_problems"], pa.list_(pa.string())),
        })
        with duckdb.connect(":memory:") as con:
            con.register("sheet", table)
            records = con.sql(_RECORDS_SQL, params={"source": unit.name}).to_arrow_table().cast(RECORDS_SCHEMA)
            fields = con.sql(_FIELDS_SQL).to_arrow_table()
        return Conversion(records, fields, [report])
