"""Readers for the FDA MAUDE flat files, and their join into openFDA-shaped device event records.

The MAUDE download files are ``|``-delimited text without quoting (a ``"`` is a literal character,
as in FDA's own pipeline, which reads them with ``QUOTE_NONE``). They are known to be damaged in
two ways, both repaired here and counted in a `FlatReadReport`:

- **raw newlines inside a field** split one record over several physical lines. A line that does
  not start a record (it does not begin with a numeric ``MDR_REPORT_KEY`` and a ``|``) continues the
  record before it; so does a line after a record that is still short of a known width when the
  join does not make it too wide. The pieces are joined with one space, as FDA's pipeline does.
- **stray ``|`` inside the last, free-text field** (``foitext``) gives more fields than the layout;
  the extra fields are joined back into the text with ``|`` (a single trailing ``|`` is dropped,
  as FDA's pipeline does).

Any other row whose width is not a width of its layout is rejected, with its line number and the
reason. Files are decoded as UTF-8 and, failing that, as Latin-1 (the encoding FDA publishes); the
report says which. ``.zip`` downloads are read directly.

Column layouts (the file's own header row wins when there is one; names are lower-cased and the
few FDA spellings that differ from openFDA's are mapped, e.g. ``FOI_TEXT`` -> ``text``):

=====================  =========================================================================
layout (file names)    columns (canonical order used when the file has no header)
=====================  =========================================================================
mdrfoi (mdrfoi*)       the 81 ``MDRFOI`` columns of FDA's pipeline: mdr_report_key, event_key,
                       report_number, report_source_code, ..., event_type, ..., date_added,
                       date_changed, reporter_country_code, pma_pmn_number, exemption_number,
                       summary_report_flag (older files: the first 77)
foidev (foidev*)       45 columns: mdr_report_key ... device_report_product_code, device_age_text,
                       device_evaluated_by_manufacturer, then 17 ``baseline_*`` columns (older rows
                       stop after the first 28, which is accepted)
device (device*)       29 columns: as foidev but ``device_operator`` before the expiry date and
                       ``combination_product_flag`` last; newer files add UDI columns (by header)
foitext (foitext*)     mdr_report_key | mdr_text_key | text_type_code | patient_sequence_number |
                       date_report | text   (usually no header; ``text`` is free text)
patient (patient*)     mdr_report_key | patient_sequence_number | date_received |
                       sequence_number_treatment | sequence_number_outcome  (newer: + age, sex, ...)
foidevproblem          mdr_report_key | device_problem_code
patientproblemcode     mdr_report_key | patient_sequence_number | patient_problem_code |
                       date_added | date_changed
deviceproblemcodes     code , term  (comma CSV with quotes, or ``|``)
patientproblemdata     code , term  (``patientproblemcodes.csv``; comma CSV with quotes, or ``|``)
=====================  =========================================================================

Values are cleaned as FDA's pipeline cleans them: dates (``MM/DD/YYYY``, ``YYYY/MM/DD``,
``DD-MON-YY``, ...) become ``YYYYMMDD``; keys written as ``" 1234.0"`` become ``"1234"``; coded
fields (event type, text type, report source, ...) are decoded with FDA's enumeration table;
``sequence_number_outcome`` / ``sequence_number_treatment`` are split on ``;`` (entries stripped:
openFDA keeps the space, ``["1. H", " 2. O"]``; `outcome_code` reads both) and
``source_type`` / ``remedial_action`` / ``type_of_report`` on ``,``.

The join (`join_maude`) follows FDA's pipeline: one record per ``mdrfoi`` master row (a row in a
later file - ``*Add`` then ``*Change`` - replaces an earlier one); rows of the other files whose key
has no master row are counted and left out; device, narrative and patient rows seen again in a
later file replace the earlier ones (by device sequence number, text key, patient sequence number).

Multi-patient reports: in the ``patient`` file the outcome (and treatment) field of patient *k*
repeats the entries of patients 1..k-1 before its own (Ensign & Cohen 2017, tables 4a/4b; e.g.
``D`` / ``D;H`` / ``D;H;L``). `join_maude` splits them per patient: when patient k-1's list is a
proper prefix of patient k's, patient k keeps only the remainder. A single patient keeps all its
entries (one patient can have several outcomes, e.g. ``1. H; 2. O``). openFDA does not do this
split, so for multi-patient reports the API path lists the concatenated entries; count outcomes
per distinct report and both paths agree.
"""
from __future__ import annotations

import csv
import io
import re
import zipfile
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

from ..dates import compact_date as normalise_date  # one date parser for the project
from ..errors import MirrorError

__all__ = [
    "LAYOUTS", "FlatLayout", "FlatReadReport", "FlatTable", "LineIssue", "MaudeJoin", "ENUMS", "OUTCOME_LABELS",
    "layout_for", "read_text", "read_flat_file", "maude_files", "join_maude", "normalise_date", "outcome_code",
    "decode_outcome", "split_concatenated",
]

# ----------------------------------------------------------------------------------------------
# layouts

_MDRFOI = (
    "mdr_report_key event_key report_number report_source_code manufacturer_link_flag "
    "number_devices_in_event number_patients_in_event date_received adverse_event_flag "
    "product_problem_flag date_report date_of_event reprocessed_and_reused_flag "
    "reporter_occupation_code health_professional initial_report_to_fda date_facility_aware "
    "report_date report_to_fda date_report_to_fda event_location date_report_to_manufacturer "
    "manufacturer_contact_t_name manufacturer_contact_f_name manufacturer_contact_l_name "
    "manufacturer_contact_address_1 manufacturer_contact_address_2 manufacturer_contact_city "
    "manufacturer_contact_state manufacturer_contact_zip_code manufacturer_contact_zip_ext "
    "manufacturer_contact_country manufacturer_contact_postal_code manufacturer_contact_area_code "
    "manufacturer_contact_exchange manufacturer_contact_phone_number manufacturer_contact_extension "
    "manufacturer_contact_pcountry manufacturer_contact_pcity manufacturer_contact_plocal "
    "manufacturer_g1_name manufacturer_g1_address_1 manufacturer_g1_address_2 manufacturer_g1_city "
    "manufacturer_g1_state manufacturer_g1_zip_code manufacturer_g1_zip_code_ext "
    "manufacturer_g1_country manufacturer_g1_postal_code date_manufacturer_received "
    "device_date_of_manufacturer single_use_flag remedial_action previous_use_code "
    "removal_correction_number event_type distributor_name distributor_address_1 "
    "distributor_address_2 distributor_city distributor_state distributor_zip_code "
    "distributor_zip_code_ext report_to_manufacturer manufacturer_name manufacturer_address_1 "
    "manufacturer_address_2 manufacturer_city manufacturer_state manufacturer_zip_code "
    "manufacturer_zip_code_ext manufacturer_country manufacturer_postal_code type_of_report "
    "source_type date_added date_changed reporter_country_code pma_pmn_number exemption_number "
    "summary_report_flag"
).split()
_DEVICE_COMMON = (
    "mdr_report_key device_event_key implant_flag date_removed_flag device_sequence_number "
    "date_received brand_name generic_name manufacturer_d_name manufacturer_d_address_1 "
    "manufacturer_d_address_2 manufacturer_d_city manufacturer_d_state manufacturer_d_zip_code "
    "manufacturer_d_zip_code_ext manufacturer_d_country manufacturer_d_postal_code"
).split()
_FOIDEV = _DEVICE_COMMON + (
    "expiration_date_of_device model_number catalog_number lot_number other_id_number "
    "device_operator device_availability date_returned_to_manufacturer device_report_product_code "
    "device_age_text device_evaluated_by_manufacturer baseline_brand_name baseline_generic_name "
    "baseline_model_number baseline_catalog_number baseline_other_id_number baseline_device_family "
    "baseline_shelf_life_contained baseline_shelf_life_in_months baseline_pma_flag "
    "baseline_pma_number baseline_510_k_flag baseline_510_k_number baseline_preamendment_flag "
    "baseline_transitional_flag baseline_510_k_exempt_flag baseline_date_first_marketed "
    "baseline_date_ceased_marketing"
).split()
_DEVICE = _DEVICE_COMMON + (
    "device_operator expiration_date_of_device model_number catalog_number lot_number "
    "other_id_number device_availability date_returned_to_manufacturer device_report_product_code "
    "device_age_text device_evaluated_by_manufacturer combination_product_flag"
).split()


@dataclass(frozen=True)
class FlatLayout:
    """The shape of one kind of MAUDE flat file."""

    name: str
    columns: tuple[str, ...]  # canonical columns, used when the file has no header row
    legacy_widths: tuple[int, ...] = ()  # older rows holding only the first N columns (accepted)
    free_text_last: bool = False  # the last column is free text and may hold stray '|'
    code_list: bool = False  # a code -> term list (comma CSV or '|'), not keyed by MDR_REPORT_KEY


LAYOUTS: dict[str, FlatLayout] = {
    "mdrfoi": FlatLayout("mdrfoi", tuple(_MDRFOI), legacy_widths=(77,)),
    "foidev": FlatLayout("foidev", tuple(_FOIDEV), legacy_widths=(28,)),
    "device": FlatLayout("device", tuple(_DEVICE)),
    "foitext": FlatLayout(
        "foitext",
        ("mdr_report_key", "mdr_text_key", "text_type_code", "patient_sequence_number", "date_report", "text"),
        free_text_last=True,
    ),
    "patient": FlatLayout(
        "patient",
        ("mdr_report_key", "patient_sequence_number", "date_received", "sequence_number_treatment", "sequence_number_outcome"),
    ),
    "foidevproblem": FlatLayout("foidevproblem", ("mdr_report_key", "device_problem_code")),
    "patientproblemcode": FlatLayout(
        "patientproblemcode",
        ("mdr_report_key", "patient_sequence_number", "patient_problem_code", "date_added", "date_changed"),
    ),
    "deviceproblemcodes": FlatLayout("deviceproblemcodes", ("code", "term"), code_list=True),
    "patientproblemdata": FlatLayout("patientproblemdata", ("code", "term"), code_list=True),
}

# FDA header spellings that differ from the openFDA field names.
_COLUMN_ALIASES = {
    "foi_text": "text",
    "device_sequence_no": "device_sequence_number",
    "patient_sequence_no": "patient_sequence_number",
    "device_evaluated_by_manufactur": "device_evaluated_by_manufacturer",
    "device_date_of_manufacture": "device_date_of_manufacturer",
    "manufacturer_g1_street_1": "manufacturer_g1_address_1",
    "manufacturer_g1_street_2": "manufacturer_g1_address_2",
    "problem_code": "patient_problem_code",
    "udi-di": "udi_di",
    "udi-public": "udi_public",
}


_LAYOUT_NAMES = (  # file-name keyword -> layout; longer keywords first
    ("patientproblemcodes", "patientproblemdata"),  # FDA ships patientproblemdata.zip as patientproblemcodes.csv
    ("patientproblemdata", "patientproblemdata"),
    ("patientproblemcode", "patientproblemcode"),
    ("deviceproblemcode", "deviceproblemcodes"),
    ("foidevproblem", "foidevproblem"),
    ("mdrfoi", "mdrfoi"),
    ("foidev", "foidev"),
    ("foitext", "foitext"),
    ("device", "device"),
    ("patient", "patient"),
)


def layout_for(path: Path) -> FlatLayout | None:
    """The layout a MAUDE file name implies, or None.

    The keyword starts the name or follows ``_``, ``-`` or ``.``: ``mdrfoiThru2023.txt`` -> mdrfoi,
    ``DEVICE2022.zip`` -> device, ``maude__tests__data__foitext.txt`` -> foitext.
    """
    name = Path(path).name.lower()
    for keyword, layout in _LAYOUT_NAMES:
        if re.search(rf"(?:^|[_.-]){keyword}", name):
            return LAYOUTS[layout]
    return None


# ----------------------------------------------------------------------------------------------
# the read report


@dataclass(frozen=True)
class LineIssue:
    """A physical line (1-based) and what happened to it."""

    line: int
    reason: str


@dataclass
class FlatReadReport:
    """What reading one flat file did: rows kept, repairs by kind, rejections with line numbers."""

    path: str
    layout: str
    encoding: str = "utf-8"
    header: bool = False
    physical_lines: int = 0
    rows: int = 0  # records kept
    newline_repairs: int = 0  # records rebuilt from several physical lines
    lines_joined: int = 0  # physical lines appended to the record before them
    pipe_repairs: int = 0  # records whose extra '|' fields were joined back into the free text
    legacy_width_rows: int = 0  # rows in an older, shorter layout (accepted as such)
    blank_lines: int = 0
    repeated_headers: int = 0  # header rows in the middle of the file (concatenated files)
    dates_unparsed: int = 0  # date values in no known format (dropped, as FDA's pipeline does)
    rejected: list[LineIssue] = field(default_factory=list)  # the first MAX_LISTED rejections
    rejected_count: int = 0
    repaired_lines: list[LineIssue] = field(default_factory=list)  # the first MAX_LISTED repairs

    MAX_LISTED = 1000

    @property
    def rows_repaired(self) -> int:
        return self.newline_repairs + self.pipe_repairs

    def reject(self, line: int, reason: str) -> None:
        self.rejected_count += 1
        if len(self.rejected) < self.MAX_LISTED:
            self.rejected.append(LineIssue(line, reason))

    def repaired(self, line: int, reason: str) -> None:
        if len(self.repaired_lines) < self.MAX_LISTED:
            self.repaired_lines.append(LineIssue(line, reason))

    def rejected_reasons(self) -> dict[str, int]:
        """Rejections grouped by reason (line numbers dropped)."""
        return dict(Counter(issue.reason for issue in self.rejected))

    def as_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "layout": self.layout,
            "encoding": self.encoding,
            "header": self.header,
            "physical_lines": self.physical_lines,
            "rows": self.rows,
            "rows_repaired": self.rows_repaired,
            "newline_repairs": self.newline_repairs,
            "lines_joined": self.lines_joined,
            "pipe_repairs": self.pipe_repairs,
            "legacy_width_rows": self.legacy_width_rows,
            "blank_lines": self.blank_lines,
            "repeated_headers": self.repeated_headers,
            "dates_unparsed": self.dates_unparsed,
            "rejected_count": self.rejected_count,
            "rejected": [{"line": i.line, "reason": i.reason} for i in self.rejected],
            "repaired": [{"line": i.line, "reason": i.reason} for i in self.repaired_lines],
        }


@dataclass
class FlatTable:
    """The rows of one flat file, cleaned, as dicts keyed by openFDA field names."""

    layout: FlatLayout
    columns: tuple[str, ...]
    rows: list[dict[str, Any]]
    report: FlatReadReport


# ----------------------------------------------------------------------------------------------
# decoding


def read_text(path: Path) -> tuple[str, str]:
    """``(text, encoding)`` of a text file or of the text file inside a ``.zip`` download.

    UTF-8 first; Latin-1 (FDA's encoding, which cannot fail) when the bytes are not UTF-8.
    """
    path = Path(path)
    try:
        if path.suffix.lower() == ".zip":
            with zipfile.ZipFile(path) as archive:
                members = [m for m in archive.namelist() if not m.endswith("/")]
                if not members:
                    raise MirrorError(f"{path}: the zip archive is empty; re-download it")
                stem = path.name[: -len(".zip")].lower()
                member = next((m for m in members if Path(m).name.lower() == stem), members[0])
                data = archive.read(member)
        else:
            data = path.read_bytes()
    except zipfile.BadZipFile:
        raise MirrorError(f"{path}: not a readable zip archive; re-download it") from None
    except OSError as exc:
        raise MirrorError(f"{path}: cannot be read ({exc.strerror or exc}); check the path and permissions") from None
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        return data.decode("latin-1"), "latin-1"


def _physical_lines(text: str) -> list[str]:
    """Lines split on ``\\n`` only (a Latin-1 ``\\x85`` is a character, not a line break)."""
    if text.startswith("\ufeff"):
        text = text[1:]
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return [line[:-1] if line.endswith("\r") else line for line in lines]


# ----------------------------------------------------------------------------------------------
# reading one file

_RECORD_START = re.compile(r"^ ?\d{2,}(?:\.\d+)?\|")
_HEADER_FIRST = re.compile(r"^\ufeff?\s*\"?(MDR_REPORT_KEY|mdr_report_key)\"?\s*$")


def _normalise_header(fields: list[str]) -> tuple[str, ...]:
    names = []
    for name in fields:
        key = name.strip().strip('"').lower().replace(" ", "_")
        key = _COLUMN_ALIASES.get(key, key)
        key = re.sub(r"_{2,}", "_", key)
        names.append(key)
    return tuple(names)


def read_flat_file(path: Path, layout: FlatLayout | str | None = None) -> FlatTable:
    """Read one MAUDE ``|`` file (or ``.zip``): rows repaired, cleaned and counted.

    ``layout`` defaults to the one the file name implies (`layout_for`).
    """
    path = Path(path)
    if isinstance(layout, str):
        layout = LAYOUTS[layout]
    layout = layout or layout_for(path)
    if layout is None:
        raise MirrorError(
            f"{path}: not a MAUDE flat file name I know; expected one of mdrfoi*, foidev*, device*, foitext*, "
            "patient*, foidevproblem*, patientproblemcode*, deviceproblemcodes*, patientproblemdata*"
        )
    text, encoding = read_text(path)
    lines = _physical_lines(text)
    report = FlatReadReport(path=str(path), layout=layout.name, encoding=encoding, physical_lines=len(lines))
    if layout.code_list:
        return _read_code_list(lines, layout, report)

    columns = layout.columns
    start = 0
    if lines and _HEADER_FIRST.match(lines[0].split("|", 1)[0]):
        columns = _normalise_header(lines[0].split("|"))
        report.header = True
        start = 1
    width = len(columns)
    accepted = {width} | {w for w in layout.legacy_widths if w < width}
    rows: list[dict[str, Any]] = []

    def finish(fields: list[str], first_line: int, joined: int) -> None:
        n = len(fields)
        if n > width:
            if layout.free_text_last:
                text_value = "|".join(fields[width - 1 :])
                if text_value.endswith("|"):
                    text_value = text_value[:-1]
                fields = fields[: width - 1] + [text_value]
                report.pipe_repairs += 1
                report.repaired(first_line, f"{n} fields: {n - width} '|' inside the free text re-joined")
            elif not any(f.strip() for f in fields[width:]):
                fields = fields[:width]  # trailing empty fields after a final '|'
            else:
                report.reject(first_line, f"{n} fields, expected {width}; only a free-text last column can absorb '|'")
                return
        elif n not in accepted:
            report.reject(first_line, f"{n} fields, expected {width}" + (
                f" (or {', '.join(map(str, sorted(accepted - {width})))})" if len(accepted) > 1 else ""
            ) + "; the next line does not continue it")
            return
        elif n != width:
            report.legacy_width_rows += 1
        if joined:
            report.newline_repairs += 1
            report.lines_joined += joined
            report.repaired(first_line, f"raw newline: {joined + 1} physical lines joined into one record")
        row = _clean_row(dict(zip(columns, fields)), report)
        rows.append(row)

    pending: list[str] | None = None
    pending_line = 0
    pending_joined = 0
    blanks = 0  # blank lines since the last non-blank one: inside a field if a continuation follows
    for index in range(start, len(lines)):
        lineno = index + 1
        line = lines[index]
        if not line.strip():
            blanks += 1
            continue
        if index > 0 and _HEADER_FIRST.match(line.split("|", 1)[0]):
            if pending is not None:
                finish(pending, pending_line, pending_joined)
                pending = None
            report.repeated_headers += 1
            report.blank_lines += blanks
            blanks = 0
            continue
        fields = line.split("|")
        if pending is not None:
            continues = not _RECORD_START.match(line)
            if not continues and len(pending) < width and len(pending) not in accepted:
                continues = len(pending) + len(fields) - 1 <= width
            if continues:
                pending[-1] = pending[-1].rstrip() + " " + fields[0].lstrip()
                pending.extend(fields[1:])
                pending_joined += 1 + blanks
                blanks = 0
                continue
            finish(pending, pending_line, pending_joined)
        report.blank_lines += blanks
        blanks = 0
        pending, pending_line, pending_joined = fields, lineno, 0
    report.blank_lines += blanks
    if pending is not None:
        finish(pending, pending_line, pending_joined)
    report.rows = len(rows)
    return FlatTable(layout=layout, columns=columns, rows=rows, report=report)


def _read_code_list(lines: list[str], layout: FlatLayout, report: FlatReadReport) -> FlatTable:
    """``code -> term`` lists: comma CSV with quotes (FDA's ``*.csv``) or ``|``-delimited."""
    if not lines:
        return FlatTable(layout, layout.columns, [], report)
    delimiter = "|" if "|" in lines[0] else ","
    reader = csv.reader(io.StringIO("\n".join(lines)), delimiter=delimiter, quoting=csv.QUOTE_NONE if delimiter == "|" else csv.QUOTE_MINIMAL)
    rows: list[dict[str, Any]] = []
    term_column = 1
    for number, record in enumerate(reader, 1):
        lineno = reader.line_num
        if not record or not any(v.strip() for v in record):
            report.blank_lines += 1
            continue
        code = record[0].strip().strip('"')
        if number == 1 and not re.fullmatch(r"\d+(\.0)?", code):
            report.header = True
            names = [n.strip().lower() for n in record]
            for i, name in enumerate(names[1:], 1):
                if any(word in name for word in ("text", "term", "desc", "problem")) and "code" not in name:
                    term_column = i
                    break
            continue
        if not re.fullmatch(r"\d+(\.0)?", code) or len(record) <= term_column:
            report.reject(lineno, f"not a 'code{delimiter}term' row")
            continue
        rows.append({"code": code.removesuffix(".0"), "term": record[term_column].strip()})
    report.rows = len(rows)
    return FlatTable(layout, layout.columns, rows, report)


# ----------------------------------------------------------------------------------------------
# cleaning values (as FDA's pipeline does)

# FDA's enumeration table (openfda/maude/data/enums.csv). Its ``device_evaluated_by_manufactur``
# row never matched a column in FDA's pipeline, so openFDA keeps that field's raw code: so do we.
ENUMS: dict[str, dict[str, str]] = {
    "event_type": {"D": "Death", "IN": "Injury", "IL": "Injury", "IJ": "Injury", "M": "Malfunction", "O": "Other", "*": "No answer provided"},
    "text_type_code": {"D": "Description of Event or Problem", "E": "Manufacturer Evaluation Summary", "N": "Additional Manufacturer Narrative"},
    "report_source_code": {"P": "Voluntary report", "U": "User Facility report", "D": "Distributor report", "M": "Manufacturer report"},
    "initial_report_to_fda": {"Y": "Yes", "N": "No", "U": "Unknown", "*": "No answer provided"},
    "type_of_report": {"I": "Initial submission", "F": "Followup", "X": "Extra copy received", "O": "Other information submitted"},
    "source_type": {
        "00": "Other", "01": "Foreign", "02": "Study", "03": "Literature", "04": "Consumer", "05": "Health Professional",
        "06": "User facility", "07": "Company representation", "08": "Distributor", "99": "Unknown", "*": "Invalid data",
    },
    "remedial_action": {
        "RC": "Recall", "RP": "Repair", "RL": "Replace", "RB": "Relabeling", "OT": "Other", "NO": "Notification",
        "IN": "Inspection", "PM": "Patient Monitoring", "MA": "Modification/Adjustment", "*": "Invalid Data",
    },
    "date_removed_flag": {
        "U": "Unknown", "A": "Not available", "I": "No information at this time",
        "M": "Month and year provided only day defaults to 01", "Y": "Year provided only, day defaulted to 01 month defaulted to January",
    },
    "device_availability": {"Y": "Yes", "N": "No", "R": "Device was returned to manufacturer", "*": "No answer provided"},
    "reporter_occupation_code": {
        "*": "INVALID DATA", "000": "OTHER", "001": "PHYSICIAN", "002": "NURSE", "0HP": "HEALTH PROFESSIONAL",
        "0LP": "LAY USER/PATIENT", "100": "OTHER HEALTH CARE PROFESSIONAL", "300": "OTHER CAREGIVERS", "305": "PATIENT",
        "306": "PATIENT FAMILY MEMBER OR FRIEND", "400": "SERVICE AND TESTING PERSONNEL", "401": "BIOMEDICAL ENGINEER",
        "500": "RISK MANAGER", "600": "ATTORNEY", "999": "UNKNOWN", "NA": "NOT APPLICABLE", "NI": "NO INFORMATION", "UNK": "UNKNOWN",
    },
    "event_location": {
        "*": "INVALID DATA", "000": "OTHER", "001": "HOSPITAL", "002": "HOME", "003": "NURSING HOME",
        "004": "OUTPATIENT TREATMENT FACILITY", "005": "OUTPATIENT DIAGNOSTIC FACILITY", "006": "AMBULATORY SURGICAL FACILITY",
        "500": "HOSPITAL", "508": "OPERATING ROOM", "600": "AMBULATORY HEALTH CARE FACILITY", "700": "LONG-TERM CARE FACILITY",
        "810": "PATIENT'S HOME", "999": "UNKNOWN", "NA": "NOT APPLICABLE", "NI": "NO INFORMATION", "UNK": "UNKNOWN",
    },
}
ENUMS["device_operator"] = {k: v for k, v in ENUMS["reporter_occupation_code"].items()}

OUTCOME_LABELS = {
    "L": "Life Threatening", "H": "Hospitalization", "S": "Disability", "C": "Congenital Anomaly",
    "R": "Required Intervention", "O": "Other", "*": "Invalid Data", "U": "Unknown", "I": "No Information",
    "A": "Not Applicable", "D": "Death",
}

_DATE_KEYS = {
    "date_received", "baseline_date_first_marketed", "date_returned_to_manufacturer", "date_report_to_fda",
    "baseline_date_ceased_marketing", "date_report_to_manufacturer", "expiration_date_of_device",
    "device_date_of_manufacturer", "date_facility_aware", "report_date", "date_report",
    "date_manufacturer_received", "date_of_event", "date_added", "date_changed",
}
_SPLIT_SEMICOLON = {"sequence_number_treatment", "sequence_number_outcome"}
_SPLIT_COMMA = {"source_type", "remedial_action", "type_of_report"}
_KEY_COLUMNS = {"mdr_report_key", "device_event_key", "device_sequence_number", "patient_sequence_number", "mdr_text_key", "event_key"}
def _clean_row(row: dict[str, Any], report: FlatReadReport) -> dict[str, Any]:
    cleaned: dict[str, Any] = {}
    for key, value in row.items():
        if not key:
            continue
        value = value.strip() if isinstance(value, str) else value
        if key in _KEY_COLUMNS and isinstance(value, str):
            value = value.removesuffix(".0")
        if key in _DATE_KEYS and value:
            date = normalise_date(value)
            if date is None:
                report.dates_unparsed += 1
                continue
            value = date
        elif key in _SPLIT_SEMICOLON:
            value = [part.strip() for part in value.split(";")] if value else [""]
            value = [part for part in value if part] or [""]
        elif key in _SPLIT_COMMA:
            value = [ENUMS.get(key, {}).get(part.strip(), part.strip()) for part in value.split(",")] if value else [""]
        elif key in ENUMS and value in ENUMS[key]:
            value = ENUMS[key][value]
        cleaned[key] = value
    return cleaned


def outcome_code(entry: str) -> str:
    """The outcome letter of a ``sequence_number_outcome`` entry: ``"1. H"``, ``" 2. O"`` or ``"H"`` -> ``"H"``."""
    entry = (entry or "").strip()
    match = re.fullmatch(r"(?:\d+\s*[.,]\s*)?(.+)", entry)
    return match.group(1).strip() if match else entry


def decode_outcome(entry: str) -> str | None:
    """Readable outcome of a ``sequence_number_outcome`` entry (``"1. H"`` -> ``"Hospitalization"``)."""
    code = outcome_code(entry)
    if not code:
        return None
    return OUTCOME_LABELS.get(code.upper(), code)


def split_concatenated(per_patient: list[list[str]]) -> tuple[list[list[str]], int]:
    """Undo MAUDE's multi-patient concatenation: ``[[D], [D, H], [D, H, L]]`` -> ``[[D], [H], [L]]``.

    Lists are given in patient-sequence order. Where patient k-1's original list is a proper prefix
    of patient k's, patient k keeps the remainder. Returns the lists and the number split.
    """
    result = [list(entries) for entries in per_patient]
    splits = 0
    for k in range(1, len(per_patient)):
        before, current = per_patient[k - 1], per_patient[k]
        real_before = [e for e in before if e]
        if real_before and len(current) > len(before) and current[: len(before)] == before:
            result[k] = current[len(before) :]
            splits += 1
    return result, splits


# ----------------------------------------------------------------------------------------------
# the join


@dataclass
class MaudeJoin:
    """Device event records joined from a folder of MAUDE flat files, and what it took."""

    records: list[dict[str, Any]]
    sources: list[str]  # per record: the mdrfoi file its master row came from
    files: list[FlatReadReport]
    orphan_rows: dict[str, int]  # per file: rows whose MDR_REPORT_KEY has no mdrfoi master row
    child_duplicates: int  # device/text/patient rows seen twice (Add/Change files), later kept
    outcome_splits: int  # multi-patient outcome/treatment lists split per patient
    unresolved_problem_codes: int  # problem codes missing from the code lists


def maude_files(folder: Path) -> list[Path]:
    """MAUDE flat files in ``folder`` (``.txt``, ``.csv`` or their ``.zip``), Add/Change files last."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    found = [
        p for p in folder.iterdir()
        if p.is_file() and layout_for(p) is not None and re.search(r"\.(txt|csv)(\.zip)?$|\.zip$", p.name.lower())
    ]

    def order(p: Path) -> tuple[int, str]:
        name = p.name.lower()
        return (2 if "change" in name else 1 if "add" in name else 0, name)

    return sorted(found, key=order)


def join_maude(
    paths: Iterable[Path],
    *,
    classification: dict[str, dict[str, str]] | None = None,
) -> MaudeJoin:
    """Join MAUDE flat files into openFDA-shaped ``device/event`` records, as FDA's pipeline does.

    One record per ``mdrfoi`` master row (a master row in a later file replaces an earlier one);
    ``device``, ``mdr_text`` and ``patient`` lists from the other files; ``product_problems`` from
    ``foidevproblem`` + ``deviceproblemcodes``; ``patient[].patient_problems`` from
    ``patientproblemcode`` + ``patientproblemdata``. Rows whose key has no master row are counted,
    not joined (FDA's pipeline skips them too). When ``classification`` (product code ->
    ``{device_name, device_class, regulation_number, medical_specialty_description}``) is given,
    each device gets that ``openfda`` block, as openFDA's annotation step adds it.
    """
    tables: dict[str, list[FlatTable]] = defaultdict(list)
    for path in paths:
        table = read_flat_file(path)
        tables[table.layout.name].append(table)

    masters: dict[str, dict[str, Any]] = {}
    master_files: dict[str, str] = {}
    for table in tables["mdrfoi"]:
        for row in table.rows:
            key = row.get("mdr_report_key", "")
            if key:
                masters[key] = row
                master_files[key] = table.report.path

    orphan_rows: dict[str, int] = {}
    child_duplicates = 0

    def children(layouts: tuple[str, ...], identity: str) -> dict[str, list[dict[str, Any]]]:
        nonlocal child_duplicates
        grouped: dict[str, dict[str, dict[str, Any]]] = defaultdict(dict)
        for layout in layouts:
            for table in tables[layout]:
                orphans = 0
                for position, row in enumerate(table.rows):
                    key = row.get("mdr_report_key", "")
                    if key not in masters:
                        orphans += 1
                        continue
                    ident = row.get(identity) or f"#{layout}:{position}"
                    if ident in grouped[key]:
                        child_duplicates += 1
                    child = {k: v for k, v in row.items() if k != "mdr_report_key"}
                    grouped[key][ident] = child
                if orphans:
                    orphan_rows[table.report.path] = orphans
        return {key: list(rows.values()) for key, rows in grouped.items()}

    devices = children(("foidev", "device"), "device_sequence_number")
    texts = children(("foitext",), "mdr_text_key")
    patients = children(("patient",), "patient_sequence_number")

    device_terms = {row["code"]: row["term"] for t in tables["deviceproblemcodes"] for row in t.rows}
    patient_terms = {row["code"]: row["term"] for t in tables["patientproblemdata"] for row in t.rows}
    def problem_terms(kind: str, code_column: str, terms: dict[str, str], key_of) -> tuple[dict[Any, list[str]], int]:
        """Problem codes of the ``kind`` files translated to terms, grouped by ``key_of(row)``;
        rows of reports without a master row are counted as orphans, codes without a term as unresolved."""
        grouped: dict[Any, list[str]] = defaultdict(list)
        unresolved = 0
        for table in tables[kind]:
            orphans = 0
            for row in table.rows:
                if row.get("mdr_report_key", "") not in masters:
                    orphans += 1
                    continue
                term = terms.get(str(row.get(code_column, "")).strip().removesuffix(".0"))
                if term is None:
                    unresolved += 1
                    continue
                grouped[key_of(row)].append(term)
            if orphans:
                orphan_rows[table.report.path] = orphans
        return grouped, unresolved

    product_problems, unresolved_device = problem_terms(
        "foidevproblem", "device_problem_code", device_terms, lambda row: row.get("mdr_report_key", ""))
    patient_problems, unresolved_patient = problem_terms(
        "patientproblemcode", "patient_problem_code", patient_terms,
        lambda row: (row.get("mdr_report_key", ""), str(row.get("patient_sequence_number", "1"))))
    unresolved = unresolved_device + unresolved_patient

    outcome_splits = 0
    records = []
    sources = []
    for key, master in masters.items():
        sources.append(master_files[key])
        record = dict(master)
        if key in product_problems:
            record["product_problems"] = product_problems[key]
        device_rows = sorted(devices.get(key, []), key=lambda d: _seq(d.get("device_sequence_number")))
        if classification:
            for device in device_rows:
                info = classification.get(str(device.get("device_report_product_code", "")))
                device["openfda"] = dict(info) if info else {}
        record["device"] = device_rows
        record["mdr_text"] = texts.get(key, [])
        patient_rows = sorted(patients.get(key, []), key=lambda p: _seq(p.get("patient_sequence_number")))
        for column in ("sequence_number_outcome", "sequence_number_treatment"):
            lists = [p.get(column, [""]) for p in patient_rows]
            if len(lists) > 1:
                split, n = split_concatenated(lists)
                outcome_splits += n
                for patient, value in zip(patient_rows, split):
                    patient[column] = value or [""]
        seen_seq = set()
        for patient in patient_rows:
            seq = str(patient.get("patient_sequence_number", ""))
            seen_seq.add(seq)
            if (key, seq) in patient_problems:
                patient["patient_problems"] = patient_problems[(key, seq)]
        for (k, seq), terms in patient_problems.items():
            if k == key and seq not in seen_seq:
                patient_rows.append({"patient_sequence_number": seq, "patient_problems": terms})
        record["patient"] = patient_rows
        records.append(record)

    reports = [t.report for group in tables.values() for t in group]
    return MaudeJoin(
        records=records,
        sources=sources,
        files=reports,
        orphan_rows=orphan_rows,
        child_duplicates=child_duplicates,
        outcome_splits=outcome_splits,
        unresolved_problem_codes=unresolved,
    )


def _seq(value: Any) -> tuple[int, str]:
    text = str(value or "")
    return (int(text), text) if text.isdigit() else (1 << 30, text)
