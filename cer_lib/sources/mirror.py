"""A local mirror of openFDA device data: bulk files in a folder, queried through DuckDB.

`Mirror` implements `Source` (``search`` / ``count`` / ``total``) over a folder of downloaded
files, so the collect stage runs offline and gets the same openFDA-shaped records it would get
from the API. Files are read lazily, on the first query that needs them, into one in-process
DuckDB connection; every file read is recorded with `Provenance.record_input`.

Mirror folder layout (loaders dispatch on folder and extension)::

    mirror.json                  {"name", "synthetic": bool, "created", "description",
                                  "last_updated": "YYYY-MM-DD", "files": [{"path", "sha256", ...}]}
    device/event/*.json[.zip]    openFDA bulk download JSON {meta, results} or a bare results array;
                                 same for device/{recall,enforcement,510k,pma,udi,
                                 registrationlisting,classification}/
    device/{event,recall,510k,udi}/*.csv
                                 publisher-flattened '|'-delimited CSV with a pandas index first
                                 column (multi-line quoted fields); columns mapped to openFDA fields
                                 (`CSV_COLUMNS`; unmapped columns are kept at the top level)
    classification/foiclass.txt[.zip]
                                 FDA product-classification file -> device/classification records
    maude/                       MAUDE flat files (mdrfoi, foidev/device, foitext, patient,
                                 foidevproblem, deviceproblemcodes, patientproblemcode,
                                 patientproblemdata), repaired and joined into device/event
                                 records as FDA's pipeline does (`maude_flat.join_maude`); devices
                                 get their ``openfda`` block from classification/foiclass.txt
    maude-sheets/*.xlsx          publisher-flattened MAUDE sheets (11 columns, no product code):
                                 device/event records addressed by brand / generic name only;
                                 ``event_description`` holds patient-problem terms
                                 -> ``patient[0].patient_problems``. No product code is invented.
    eudamed/*.json               Eudamed device records (`Mirror.eudamed_records`)
    .derived/                    written by the mirror: Parquet conversions of device/event
                                 sources keyed by the sha256 of their input files (safe to delete)

Semantics, matching openFDA's:

- ``Match(exact=True)`` is a whole-value match (``field.exact``); ``exact=False`` an analysed-text
  phrase match (case-insensitive, words in order, any punctuation between them). Several values
  are OR-ed; clauses are AND-ed. Fields with a dotted path look into lists (``device.brand_name``
  matches any device of the report). Empty values never match and are never counted.
- ``count`` on a date field returns ``{"time": "YYYYMMDD", "count"}`` per day, sorted by time,
  complete (openFDA returns the whole timeseries; ``limit`` does not cut it, so
  `CountResult.truncated` is only meaningful for term counts); on a term field with ``.exact`` returns
  ``{"term", "count"}`` sorted by count descending then term, at most ``limit`` rows; without
  ``.exact`` it counts lower-cased words, as openFDA's analysed fields do. Counts are numbers of
  DISTINCT records: a report that lists a term twice counts once.
- ``sort="field:desc"`` (or ``:asc``) orders by that field, then by the record key
  (``mdr_report_key`` for events, compared as a number) in the same direction, so ties are
  deterministic. Without ``sort`` records come in file order.
- Duplicates: records with the same key are kept once - device events by ``mdr_report_key`` (a
  record without one, e.g. a publisher CSV row, by its ``report_number`` matched to a keyed
  record), 510(k) by ``k_number``, PMA by number + supplement, classification by product code, UDI
  by ``public_device_record_key``, enforcement by ``recall_number``, recall by
  ``product_res_number``, anything else when identical.
  The fullest source wins (openFDA JSON > MAUDE flat files > publisher CSV / foiclass > publisher
  sheet), then the first file in path order. `Mirror.load_report` counts what was collapsed.
- ``last_updated`` of a result: the latest ``meta.last_updated`` (or, for files without one, the
  latest record date) of the files the query consulted, else ``mirror.json``'s ``last_updated``.
- The publisher sheets are read only by queries they can answer (fields in `SHEET_FIELDS`: a
  product-code query never loads them); their first conversion takes a few seconds per sheet,
  later ones read the Parquet files in ``.derived/``.
- Values are always bound SQL parameters, never pasted into SQL.
"""
from __future__ import annotations

import ast
import dataclasses
import functools
import hashlib
import html
import json
import os
import re
import threading
import time
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from ..errors import MirrorError
from ..provenance import Provenance, sha256_file
from .base import CountResult, DateRange, Match, Query, SearchResult
from .foiclass import classification_index, find_classification_file, read_foiclass
from .maude_flat import join_maude, layout_for, maude_files, normalise_date, read_flat_file

__all__ = [
    "Mirror", "MirrorLoadReport", "FileLoadReport", "FIELDS", "ENDPOINTS", "SHEET_FIELDS", "CSV_COLUMNS",
    "COMMA_TERMS", "MANIFEST_NAME", "read_xlsx_rows", "split_problem_terms", "values_at",
]

CONVERSION_VERSION = "1"  # bump when the conversion of a source changes: invalidates .derived/
DERIVED_DIR = ".derived"
MANIFEST_NAME = "mirror.json"

# ----------------------------------------------------------------------------------------------
# searchable fields per endpoint


@dataclass(frozen=True)
class FieldSpec:
    """A field the mirror can search, count and sort on: its openFDA name and kind."""

    name: str
    kind: str = "term"  # "term" or "date" (dates are compared and counted as YYYYMMDD)


def _specs(terms: str, dates: str = "") -> dict[str, FieldSpec]:
    specs = {name: FieldSpec(name) for name in terms.split()}
    specs.update({name: FieldSpec(name, "date") for name in dates.split()})
    return specs


_OPENFDA = "openfda.device_name openfda.device_class openfda.regulation_number openfda.medical_specialty_description"

FIELDS: dict[str, dict[str, FieldSpec]] = {
    "device/event": _specs(
        "mdr_report_key report_number event_key event_type adverse_event_flag product_problem_flag "
        "report_source_code manufacturer_name product_problems patient.patient_problems "
        "patient.sequence_number_outcome device.device_report_product_code device.brand_name "
        "device.generic_name device.manufacturer_d_name device.model_number device.catalog_number "
        "device.openfda.device_name device.openfda.device_class device.openfda.regulation_number "
        "device.openfda.medical_specialty_description mdr_text.text_type_code",
        "date_received date_of_event date_report date_added date_changed",
    ),
    "device/recall": _specs(
        "product_code k_numbers recalling_firm recall_status res_event_number product_res_number cfres_id "
        "root_cause_description " + _OPENFDA,
        "event_date_initiated event_date_posted event_date_terminated event_date_created",
    ),
    "device/enforcement": _specs(
        "product_code recall_number event_id classification status recalling_firm product_type "
        "voluntary_mandated " + _OPENFDA,
        "report_date recall_initiation_date center_classification_date termination_date",
    ),
    "device/510k": _specs(
        "k_number product_code applicant device_name decision_code decision_description clearance_type "
        "advisory_committee " + _OPENFDA,
        "decision_date date_received",
    ),
    "device/pma": _specs(
        "pma_number supplement_number product_code applicant trade_name generic_name decision_code "
        "supplement_type advisory_committee " + _OPENFDA,
        "decision_date date_received",
    ),
    "device/udi": _specs(
        "identifiers.id product_codes.code product_codes.name brand_name company_name version_or_model_number "
        "public_device_record_key commercial_distribution_status device_description gmdn_terms.name "
        "premarket_submissions.submission_number product_codes.openfda.regulation_number "
        "product_codes.openfda.device_name product_codes.openfda.device_class",
        "public_version_date publish_date",
    ),
    "device/registrationlisting": _specs(
        "products.product_code k_number pma_number proprietary_name establishment_type registration.name "
        "registration.registration_number registration.fei_number registration.iso_country_code "
        "products.openfda.regulation_number products.openfda.device_name products.openfda.device_class",
    ),
    "device/classification": _specs(
        "product_code regulation_number device_class device_name medical_specialty "
        "medical_specialty_description review_panel implant_flag life_sustain_support_flag "
        "gmp_exempt_flag third_party_flag submission_type_id summary_malfunction_reporting",
    ),
}
# other names accepted for a field (openFDA's own, where it has two)
ALIASES: dict[str, dict[str, str]] = {
    "device/registrationlisting": {"product_code": "products.product_code"},
}
ENDPOINTS = tuple(FIELDS)

# the record key (dedup and sort tie-break) per endpoint: value paths joined with "/"
NATURAL_KEYS: dict[str, tuple[str, ...]] = {
    "device/event": ("mdr_report_key",),
    "device/510k": ("k_number",),
    "device/pma": ("pma_number", "supplement_number"),
    "device/classification": ("product_code",),
    "device/udi": ("public_device_record_key",),
    "device/enforcement": ("recall_number",),
    "device/recall": ("product_res_number",),
}
# the date that says how current a file is, per endpoint (when its JSON has no meta.last_updated)
DATING_FIELD = {
    "device/event": "date_received",
    "device/recall": "event_date_posted",
    "device/enforcement": "report_date",
    "device/510k": "decision_date",
    "device/pma": "decision_date",
    "device/udi": "public_version_date",
}

# what the publisher sheets can hold: a query on anything else never needs them loaded
SHEET_FIELDS = frozenset(
    "mdr_report_key report_number date_received event_type adverse_event_flag report_source_code "
    "device.brand_name device.generic_name device.manufacturer_d_name device.openfda.device_class "
    "patient.patient_problems".split()
)

# source kinds, fullest first (lower priority number wins a duplicate)
PRIORITY = {"openfda-json": 1, "maude-flat": 2, "publisher-csv": 3, "foiclass": 3, "maude-sheet": 4}

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
_LIST_COLUMNS = {
    "product_problems", "patient_problems", "sequence_number_outcome", "k_numbers", "source_type",
    "type_of_report", "remedial_action", "establishment_type", "proprietary_name",
}
_LIST_CONTAINERS = {"device", "patient", "mdr_text", "identifiers", "product_codes", "premarket_submissions", "products", "gmdn_terms"}

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

SHEET_COLUMNS = (
    "mdr_report_key", "report_number", "date_received", "event_type", "manufacturer_name", "brand_name",
    "generic_name", "device_class", "event_description", "adverse_event_flag", "report_source",
)


# ----------------------------------------------------------------------------------------------
# load report


@dataclass
class FileLoadReport:
    """What loading one mirror file did."""

    path: str  # relative to the mirror folder
    endpoint: str
    kind: str
    status: str = "not loaded"  # loaded | not loaded | ignored
    rows_read: int = 0
    rows_kept: int = 0
    rows_repaired: int = 0
    rows_rejected: int = 0
    # [{"line": n or None, "reason": str, "rows": n}] (the first 1000; "rows" > 1 groups unnumbered rows)
    rejected: list[dict[str, Any]] = field(default_factory=list)
    repairs: dict[str, int] = field(default_factory=dict)  # kind of repair -> rows
    duplicates_collapsed: int = 0  # records of this file dropped as duplicates of a fuller source
    duplicates_differing: int = 0  # ... of which differ in content from the record kept
    from_cache: bool = False
    seconds: float = 0.0
    last_updated: str | None = None
    note: str | None = None

    def rejected_reasons(self) -> dict[str, int]:
        """Rejected rows per reason (of the listed rejections)."""
        counts: dict[str, int] = {}
        for item in self.rejected:
            counts[item["reason"]] = counts.get(item["reason"], 0) + int(item.get("rows", 1))
        return counts


@dataclass
class MirrorLoadReport:
    """`Mirror.load_report`: one `FileLoadReport` per file (loaded, not loaded yet, or ignored)."""

    folder: str
    synthetic: bool
    files: list[FileLoadReport]

    @property
    def duplicates_collapsed(self) -> int:
        return sum(f.duplicates_collapsed for f in self.files)

    @property
    def rows_rejected(self) -> int:
        return sum(f.rows_rejected for f in self.files)

    @property
    def rows_repaired(self) -> int:
        return sum(f.rows_repaired for f in self.files)

    def file(self, path: str) -> FileLoadReport:
        for item in self.files:
            if item.path == path:
                return item
        raise KeyError(path)

    def as_dict(self) -> dict[str, Any]:
        return {
            "folder": self.folder,
            "synthetic": self.synthetic,
            "rows_rejected": self.rows_rejected,
            "rows_repaired": self.rows_repaired,
            "duplicates_collapsed": self.duplicates_collapsed,
            "files": [dataclasses.asdict(f) for f in self.files],
        }


# ----------------------------------------------------------------------------------------------
# source units: what is loaded together


@dataclass
class _Unit:
    name: str  # relative path of the file (or "maude/" for the joined flat files)
    endpoint: str
    kind: str
    paths: list[Path]
    loaded: bool = False
    last_updated: str | None = None  # YYYY-MM-DD
    files: dict[str, FileLoadReport] = field(default_factory=dict)

    @property
    def priority(self) -> int:
        return PRIORITY[self.kind]


def _rel(path: Path, root: Path) -> str:
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return path.as_posix()


def _discover(folder: Path) -> tuple[list[_Unit], list[Path], list[str]]:
    """Units to load, Eudamed files, and files the mirror does not know how to read."""
    units: list[_Unit] = []
    ignored: list[str] = []
    device = folder / "device"
    if device.is_dir():
        for sub in sorted(p for p in device.iterdir() if p.is_dir()):
            endpoint = f"device/{sub.name}"
            for path in sorted(p for p in sub.iterdir() if p.is_file() and not p.name.startswith(".")):
                name = path.name.lower()
                if endpoint not in FIELDS:
                    ignored.append(_rel(path, folder))
                elif name.endswith((".json", ".json.zip")) or (name.endswith(".zip") and not name.endswith(".csv.zip")):
                    units.append(_Unit(_rel(path, folder), endpoint, "openfda-json", [path]))
                elif name.endswith(".csv"):
                    units.append(_Unit(_rel(path, folder), endpoint, "publisher-csv", [path]))
                else:
                    ignored.append(_rel(path, folder))
    classification = find_classification_file(folder)
    if classification is not None:
        units.append(_Unit(_rel(classification, folder), "device/classification", "foiclass", [classification]))
    flat = maude_files(folder / "maude")
    if flat:
        units.append(_Unit("maude/", "device/event", "maude-flat", flat))
    if (folder / "maude").is_dir():
        known = set(flat)
        ignored += [_rel(p, folder) for p in sorted((folder / "maude").iterdir()) if p.is_file() and p not in known and not p.name.startswith(".")]
    sheets = folder / "maude-sheets"
    if sheets.is_dir():
        for path in sorted(p for p in sheets.iterdir() if p.is_file() and not p.name.startswith(".")):
            if path.suffix.lower() == ".xlsx":
                units.append(_Unit(_rel(path, folder), "device/event", "maude-sheet", [path]))
            else:
                ignored.append(_rel(path, folder))
    eudamed_dir = folder / "eudamed"
    eudamed = sorted(p for p in eudamed_dir.glob("*.json") if p.is_file()) if eudamed_dir.is_dir() else []
    return units, eudamed, ignored


# ----------------------------------------------------------------------------------------------
# helpers


def values_at(record: Any, path: str) -> list[Any]:
    """Leaf values at a dotted openFDA path, looking into lists at every level."""
    current = [record]
    for part in path.split("."):
        following = []
        for item in current:
            for obj in item if isinstance(item, list) else [item]:
                if isinstance(obj, dict) and part in obj:
                    following.append(obj[part])
        current = following
    leaves: list[Any] = []
    for item in current:
        leaves.extend(item if isinstance(item, list) else [item])
    return [v for v in leaves if not isinstance(v, (dict, list))]


def _clean_values(values: Iterable[Any], kind: str) -> list[str]:
    seen: dict[str, None] = {}
    for value in values:
        if value is None or isinstance(value, bool):
            continue
        text = str(value).strip()
        if kind == "date":
            text = normalise_date(text) or ""
        if text:
            seen[text] = None
    return list(seen)


def _iso(date: str | None) -> str | None:
    """``YYYY-MM-DD`` from a ``YYYYMMDD`` / ``YYYY-MM-DD`` date, else None."""
    if not date:
        return None
    compact = normalise_date(str(date))
    return f"{compact[:4]}-{compact[4:6]}-{compact[6:]}" if compact else None


_HASH_MEMO: dict[tuple[str, int, int], str] = {}


def _file_digest(path: Path, provenance: Provenance | None, role: str) -> str:
    """sha256 of ``path``; recorded as a run input when ``provenance`` is given."""
    if provenance is not None:
        digest = provenance.record_input(path, role=role)
    else:
        stat = path.stat()
        memo_key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
        digest = _HASH_MEMO.get(memo_key) or sha256_file(path)
        _HASH_MEMO[memo_key] = digest
    return digest


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


def _parse_list(text: str) -> list[str]:
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
# xlsx: a fast reader for plain worksheets (openpyxl is the fallback)

_CELL = re.compile(r'<c r="([A-Z]{1,3})(\d+)"([^>]*?)(?:/>|>(.*?)</c>)', re.S)
_TYPE = re.compile(r'\bt="(\w+)"')
_SIMPLE_INLINE = re.compile(r'<is><t(?: xml:space="preserve")?>([^<]*)</t></is>|<is><t/></is>')
_TEXT = re.compile(r"<t\b[^>]*?(?:/>|>(.*?)</t>)", re.S)
_VALUE = re.compile(r"<v>(.*?)</v>", re.S)
_COLUMN_INDEX: dict[str, int] = {}


def _column_index(letters: str) -> int:
    index = _COLUMN_INDEX.get(letters)
    if index is None:
        index = 0
        for char in letters:
            index = index * 26 + ord(char) - 64
        index -= 1
        _COLUMN_INDEX[letters] = index
    return index


def _number_text(value: str) -> str:
    if re.fullmatch(r"-?\d+", value):
        return value
    try:
        number = float(value)
    except ValueError:
        return value
    return str(int(number)) if number.is_integer() and abs(number) < 1e18 else repr(number)


def _first_sheet_member(archive: zipfile.ZipFile) -> str:
    names = set(archive.namelist())
    try:
        workbook = archive.read("xl/workbook.xml").decode("utf-8")
        rels = archive.read("xl/_rels/workbook.xml.rels").decode("utf-8")
        rid = re.search(r'<sheet\b[^>]*\br:id="([^"]+)"', workbook).group(1)
        target = re.search(rf'<Relationship\b[^>]*\bId="{re.escape(rid)}"[^>]*>', rels).group(0)
        target = re.search(r'\bTarget="([^"]+)"', target).group(1)
        member = target.lstrip("/") if target.startswith("/") else "xl/" + target
        if member in names:
            return member
    except (KeyError, AttributeError, UnicodeDecodeError):
        pass
    if "xl/worksheets/sheet1.xml" in names:
        return "xl/worksheets/sheet1.xml"
    raise MirrorError("no worksheet found in the workbook")


def read_xlsx_rows(path: Path) -> list[list[str | None]]:
    """All rows of the first worksheet of an ``.xlsx`` file, cells as text (``None`` when empty).

    Parses the sheet XML directly (about six times faster than openpyxl on the MAUDE sheets) and
    falls back to openpyxl for workbooks it cannot read that way.
    """
    path = Path(path)
    try:
        with zipfile.ZipFile(path) as archive:
            member = _first_sheet_member(archive)
            xml = archive.read(member).decode("utf-8")
            shared: list[str] = []
            if "xl/sharedStrings.xml" in archive.namelist():
                strings = archive.read("xl/sharedStrings.xml").decode("utf-8")
                shared = [
                    html.unescape("".join(t or "" for t in _TEXT.findall(si)))
                    for si in re.findall(r"<si>(.*?)</si>", strings, re.S)
                ]
    except zipfile.BadZipFile:
        raise MirrorError(f"{path}: not a readable .xlsx file; re-download it") from None
    except MirrorError as exc:
        raise MirrorError(f"{path}: {exc}; re-save it as a plain .xlsx workbook") from None
    cells = _CELL.findall(xml)
    if len(cells) != xml.count("<c ") + xml.count("<c>"):
        return _read_xlsx_openpyxl(path)
    rows: list[list[str | None]] = []
    current_row = None
    out: list[str | None] = []
    unescape = html.unescape
    for letters, row_number, attrs, inner in cells:
        kind_match = _TYPE.search(attrs)
        kind = kind_match.group(1) if kind_match else "n"
        value: str | None
        if kind == "inlineStr":
            if not inner:
                value = ""
            else:
                simple = _SIMPLE_INLINE.fullmatch(inner)
                value = (simple.group(1) or "") if simple else "".join(t or "" for t in _TEXT.findall(inner))
        else:
            found = _VALUE.search(inner)
            value = found.group(1) if found else None
            if value is not None:
                if kind == "s":
                    value = shared[int(value)]
                elif kind == "b":
                    value = "TRUE" if value == "1" else "FALSE"
                elif kind == "e":
                    value = None
                elif kind == "n":
                    value = _number_text(value)
        if value and "&" in value and kind != "s":
            value = unescape(value)
        if row_number != current_row:
            if current_row is not None:
                rows.append(out)
            out, current_row = [], row_number
        index = _column_index(letters)
        while len(out) < index:
            out.append(None)
        out.append(value)
    if current_row is not None:
        rows.append(out)
    return rows


def _read_xlsx_openpyxl(path: Path) -> list[list[str | None]]:
    import openpyxl

    workbook = openpyxl.load_workbook(path, read_only=True, data_only=True)
    try:
        sheet = workbook.worksheets[0]
        rows = []
        for row in sheet.iter_rows(values_only=True):
            rows.append([None if v is None else _number_text(str(v)) if isinstance(v, (int, float)) else str(v) for v in row])
        return rows
    finally:
        workbook.close()


# ----------------------------------------------------------------------------------------------
# the mirror


class Mirror:
    """openFDA device data from a local folder of bulk files (see the module docstring for the layout)."""

    name = "mirror"
    origin = "mirror"

    def __init__(self, folder: Path | str, *, provenance: Provenance | None = None) -> None:
        self.folder = Path(folder)
        if not self.folder.is_dir():
            raise MirrorError(
                f"{self.folder}: no mirror folder there; give the folder that holds mirror.json and device/, "
                "or build the demo mirror with cer_lib.sources.demo.ensure_demo_mirror"
            )
        self.provenance = provenance
        self.manifest: dict[str, Any] = self._read_manifest()
        self.synthetic: bool = str(self.manifest.get("synthetic", False)).strip().lower() in ("true", "1", "yes")
        self._units, self._eudamed_files, self._ignored = _discover(self.folder)
        self._lock = threading.RLock()
        self._con: duckdb.DuckDBPyConnection | None = None
        self._next_id = 1
        self._comma_terms: tuple[str, ...] | None = None
        self._classification: dict[str, dict[str, str]] | None = None

    # -- public ------------------------------------------------------------------------------

    def __repr__(self) -> str:
        return f"Mirror({str(self.folder)!r}, synthetic={self.synthetic})"

    @functools.cached_property
    def last_updated(self) -> str | None:
        """How current the mirror is (``YYYY-MM-DD``): ``mirror.json``'s ``last_updated``, else the
        latest ``meta.last_updated`` of its openFDA bulk files, else None."""
        stated = _iso(self.manifest.get("last_updated"))
        if stated:
            return stated
        dates = [d for d in (self._peek_meta_date(u.paths[0]) for u in self._units if u.kind == "openfda-json") if d]
        return max(dates) if dates else None

    @property
    def available_endpoints(self) -> list[str]:
        """Endpoints this mirror has at least one file for."""
        return sorted({u.endpoint for u in self._units})

    def search(self, endpoint: str, query: Query, *, limit: int | None = None, sort: str | None = None) -> SearchResult:
        """Records matching ``query`` (all of them when ``limit`` is None), openFDA-shaped."""
        if limit is not None and limit < 0:
            raise MirrorError(f"limit must be 0 or more, not {limit}")
        with self._lock:
            units = self._prepare(endpoint, query, extra_fields=[self._sort_field(endpoint, sort)[0]] if sort else [])
            where, params = self._where(endpoint, query)
            total = self._sql(f"SELECT count(*) FROM records r WHERE {where}", params)[0][0]
            order, order_params = self._order(endpoint, sort)
            sql = f"SELECT r.record_json FROM records r {order[0]} WHERE {where} ORDER BY {order[1]}"
            all_params = order_params + params
            if limit is not None:
                sql += " LIMIT ?"
                all_params.append(limit)
            rows = self._sql(sql, all_params)
        records = [json.loads(row[0]) for row in rows]
        return SearchResult(
            endpoint=endpoint,
            query=query,
            records=records,
            total=int(total),
            last_updated=self._last_updated_for(units),
        )

    def total(self, endpoint: str, query: Query) -> int:
        """Number of records matching ``query`` (0 when none)."""
        with self._lock:
            self._prepare(endpoint, query)
            where, params = self._where(endpoint, query)
            return int(self._sql(f"SELECT count(*) FROM records r WHERE {where}", params)[0][0])

    def count(self, endpoint: str, query: Query, field: str, *, limit: int = 1000) -> CountResult:
        """openFDA ``count=field`` over the matching records (see the module docstring)."""
        if limit < 1:
            raise MirrorError(f"count limit must be 1 or more, not {limit}")
        exact = field.endswith(".exact")
        base = field[: -len(".exact")] if exact else field
        with self._lock:
            spec = self._spec(endpoint, base)
            units = self._prepare(endpoint, query, extra_fields=[spec.name])
            where, params = self._where(endpoint, query)
            if spec.kind == "date":
                sql = (
                    "SELECT f.value AS time, count(DISTINCT f.rec_id) AS n FROM fields f JOIN records r USING (rec_id) "
                    f"WHERE f.field = ? AND {where} GROUP BY f.value ORDER BY f.value"
                )
                rows = [{"time": t, "count": int(n)} for t, n in self._sql(sql, [spec.name, *params])]
            elif exact:
                sql = (
                    "SELECT f.value AS term, count(DISTINCT f.rec_id) AS n FROM fields f JOIN records r USING (rec_id) "
                    f"WHERE f.field = ? AND {where} GROUP BY f.value ORDER BY n DESC, term LIMIT ?"
                )
                rows = [{"term": t, "count": int(n)} for t, n in self._sql(sql, [spec.name, *params, limit])]
            else:
                sql = (
                    "SELECT term, count(DISTINCT rec_id) AS n FROM ("
                    "  SELECT f.rec_id, unnest(regexp_extract_all(lower(f.value), '[a-z0-9]+')) AS term"
                    f"  FROM fields f JOIN records r USING (rec_id) WHERE f.field = ? AND {where}"
                    ") GROUP BY term ORDER BY n DESC, term LIMIT ?"
                )
                rows = [{"term": t, "count": int(n)} for t, n in self._sql(sql, [spec.name, *params, limit])]
        return CountResult(
            endpoint=endpoint, query=query, field=field, rows=rows, limit=limit, last_updated=self._last_updated_for(units)
        )

    def eudamed_records(self) -> list[dict[str, Any]]:
        """Eudamed device records from ``eudamed/*.json`` (a list, a ``{"content": [...]}`` page or
        one record per file); an empty list when the mirror has none."""
        records: list[dict[str, Any]] = []
        for path in self._eudamed_files:
            data = self._load_json(path, role="mirror eudamed")
            if isinstance(data, list):
                items = data
            elif isinstance(data, dict) and isinstance(data.get("content"), list):
                items = data["content"]
            else:
                items = [data]
            records.extend(item for item in items if isinstance(item, dict))
        return records

    def load_report(self) -> MirrorLoadReport:
        """Per file: rows read, repaired, rejected (with reasons), duplicates collapsed.

        Files no query has needed yet are listed with status ``"not loaded"``.
        """
        with self._lock:
            files: list[FileLoadReport] = []
            for unit in self._units:
                if unit.files:
                    files.extend(dataclasses.replace(f) for f in unit.files.values())
                else:
                    files.extend(FileLoadReport(_rel(p, self.folder), unit.endpoint, unit.kind) for p in unit.paths)
            if self._con is not None:
                counts = self._sql(
                    "SELECT r.source_file, count(*) AS n, count(*) FILTER (WHERE r.record_json <> w.record_json) AS differing "
                    "FROM records r JOIN records w ON w.endpoint = r.endpoint AND w.dedup_key = r.dedup_key AND w.live "
                    "WHERE NOT r.live GROUP BY r.source_file"
                )
                by_file = {path: (int(n), int(d)) for path, n, d in counts}
                for report in files:
                    report.duplicates_collapsed, report.duplicates_differing = by_file.get(report.path, (0, 0))
            files.extend(FileLoadReport(path, "", "", status="ignored", note="not a file the mirror reads") for path in self._ignored)
            return MirrorLoadReport(folder=str(self.folder), synthetic=self.synthetic, files=files)

    def close(self) -> None:
        with self._lock:
            if self._con is not None:
                self._con.close()
                self._con = None
                for unit in self._units:
                    unit.loaded = False
                    unit.files = {}

    def __enter__(self) -> "Mirror":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- fields, queries ---------------------------------------------------------------------

    def _spec(self, endpoint: str, name: str) -> FieldSpec:
        self._check_endpoint(endpoint)
        fields = FIELDS[endpoint]
        name = ALIASES.get(endpoint, {}).get(name, name)
        if name not in fields:
            supported = ", ".join(sorted(fields) + sorted(ALIASES.get(endpoint, {})))
            raise MirrorError(
                f"the mirror cannot search or count {endpoint} on field {name!r}; supported fields: {supported}"
            )
        return fields[name]

    @staticmethod
    def _check_endpoint(endpoint: str) -> None:
        if endpoint not in FIELDS:
            hint = " (the mirror holds device data only; use the openFDA source for drugs)" if endpoint.startswith("drug/") else ""
            raise MirrorError(f"unknown endpoint {endpoint!r}{hint}; the mirror serves: {', '.join(ENDPOINTS)}")

    def _where(self, endpoint: str, query: Query) -> tuple[str, list[Any]]:
        parts = ["r.endpoint = ?", "r.live"]
        params: list[Any] = [endpoint]
        for clause in query.clauses:
            spec = self._spec(endpoint, clause.field)
            if isinstance(clause, DateRange):
                if spec.kind != "date":
                    dates = ", ".join(sorted(n for n, s in FIELDS[endpoint].items() if s.kind == "date"))
                    raise MirrorError(f"{clause.field} is not a date field of {endpoint}; date ranges work on: {dates}")
                parts.append("r.rec_id IN (SELECT rec_id FROM fields WHERE field = ? AND value BETWEEN ? AND ?)")
                params += [spec.name, clause.start.strftime("%Y%m%d"), clause.end.strftime("%Y%m%d")]
            elif isinstance(clause, Match):
                if clause.exact or spec.kind == "date":
                    values = _clean_values(clause.values, spec.kind)
                    parts.append("r.rec_id IN (SELECT rec_id FROM fields WHERE field = ? AND list_contains(?, value))")
                    params += [spec.name, values]
                else:
                    patterns = [p for p in (_phrase_pattern(v) for v in clause.values) if p]
                    if not patterns:
                        parts.append("FALSE")
                        continue
                    any_of = " OR ".join("regexp_matches(lower(value), ?)" for _ in patterns)
                    parts.append(f"r.rec_id IN (SELECT rec_id FROM fields WHERE field = ? AND ({any_of}))")
                    params += [spec.name, *patterns]
            else:
                raise MirrorError(f"unsupported query clause {clause!r}; use Match or DateRange")
        return " AND ".join(parts), params

    def _sort_field(self, endpoint: str, sort: str) -> tuple[str, str]:
        name, _, direction = sort.partition(":")
        direction = (direction or "asc").lower()
        if direction not in ("asc", "desc"):
            raise MirrorError(f"sort {sort!r}: the direction must be 'asc' or 'desc', e.g. 'date_received:desc'")
        return self._spec(endpoint, name).name, direction.upper()

    def _order(self, endpoint: str, sort: str | None) -> tuple[tuple[str, str], list[Any]]:
        if not sort:
            return ("", "r.priority, r.unit, r.row_no"), []
        name, direction = self._sort_field(endpoint, sort)
        aggregate = "max" if direction == "DESC" else "min"
        join = f"LEFT JOIN (SELECT rec_id, {aggregate}(value) AS sort_value FROM fields WHERE field = ? GROUP BY rec_id) s USING (rec_id)"
        order = (
            f"s.sort_value {direction} NULLS LAST, TRY_CAST(r.natural_key AS HUGEINT) {direction} NULLS LAST, "
            f"r.natural_key {direction}, r.rec_id"
        )
        return (join, order), [name]

    # -- loading -----------------------------------------------------------------------------

    def _prepare(self, endpoint: str, query: Query, extra_fields: Iterable[str] = ()) -> list[_Unit]:
        """Validate the query and load the files it needs; returns the units consulted."""
        self._check_endpoint(endpoint)
        names = [self._spec(endpoint, c.field).name for c in query.clauses] + list(extra_fields)
        needs_sheets = all(name in SHEET_FIELDS for name in names)
        units = [u for u in self._units if u.endpoint == endpoint and (u.kind != "maude-sheet" or needs_sheets)]
        self._connect()
        fresh = [u for u in units if not u.loaded]
        for unit in fresh:
            self._load_unit(unit)
        if fresh:
            self._deduplicate(endpoint)
        return units

    def _last_updated_for(self, units: list[_Unit]) -> str | None:
        dates = [u.last_updated for u in units if u.last_updated]
        return max(dates) if dates else self.last_updated

    def _sql(self, sql: str, params: list[Any] | tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        """Run one statement with bound parameters and fetch everything (DuckDB wants results consumed)."""
        return self._con.execute(sql, list(params)).fetchall()

    def _connect(self) -> None:
        if self._con is not None:
            return
        con = duckdb.connect(":memory:")
        con.execute(
            "CREATE TABLE records (rec_id BIGINT, endpoint VARCHAR, unit VARCHAR, source_file VARCHAR, row_no BIGINT, "
            "priority INTEGER, natural_key VARCHAR, report_number VARCHAR, dedup_key VARCHAR, "
            "live BOOLEAN, record_json VARCHAR)"
        ).fetchall()
        con.execute("CREATE TABLE fields (rec_id BIGINT, field VARCHAR, value VARCHAR)").fetchall()
        self._con = con

    def _read_manifest(self) -> dict[str, Any]:
        path = self.folder / MANIFEST_NAME
        if not path.is_file():
            return {}
        data = self._load_json(path, role="mirror manifest")
        if not isinstance(data, dict):
            raise MirrorError(f"{path}: expected a JSON object with name, synthetic, last_updated, files; rewrite it")
        return data

    def _load_json(self, path: Path, *, role: str) -> Any:
        if self.provenance is not None:
            self.provenance.record_input(path, role=role)
        return _parse_json_file(path)

    def _peek_meta_date(self, path: Path) -> str | None:
        """``meta.last_updated`` from the first 64 KiB of a bulk JSON file (no full parse)."""
        try:
            if path.name.lower().endswith(".zip"):
                with zipfile.ZipFile(path) as archive:
                    members = [m for m in archive.namelist() if m.lower().endswith(".json")]
                    if not members:
                        return None
                    with archive.open(members[0]) as handle:
                        head = handle.read(65536)
            else:
                with open(path, "rb") as handle:
                    head = handle.read(65536)
        except (OSError, zipfile.BadZipFile):
            return None
        match = re.search(rb'"last_updated"\s*:\s*"([0-9-]{8,10})"', head)
        return _iso(match.group(1).decode()) if match and head.lstrip().startswith(b"{") else None

    def _load_unit(self, unit: _Unit) -> None:
        started = time.perf_counter()
        digests = [_file_digest(p, self.provenance, role=f"mirror {unit.endpoint} ({unit.kind})") for p in unit.paths]
        extra = ""
        if unit.kind == "maude-flat":
            classification_file = find_classification_file(self.folder)
            if classification_file is not None:
                extra = _file_digest(classification_file, self.provenance, role="mirror classification")
        elif unit.kind == "maude-sheet":
            extra = hashlib.sha256("\n".join(self._problem_terms()).encode()).hexdigest()
        key = hashlib.sha256("|".join([CONVERSION_VERSION, unit.kind, *digests, extra]).encode()).hexdigest()[:24]
        cached = self._read_derived(unit, key) if unit.endpoint == "device/event" else None
        from_cache = cached is not None
        if cached is not None:
            records_source, fields_source, meta = "read_parquet(?)", "read_parquet(?)", cached[2]
            records_param, fields_param = [str(cached[0])], [str(cached[1])]
            last_row = self._sql("SELECT coalesce(max(row_no), 0) FROM read_parquet(?)", records_param)[0][0]
        else:
            records, fields_table, meta = self._convert(unit)
            if unit.endpoint == "device/event":
                self._write_derived(unit, key, records, fields_table, meta)
            self._con.register("unit_records", records)
            self._con.register("unit_fields", fields_table)
            records_source, fields_source, records_param, fields_param = "unit_records", "unit_fields", [], []
            last_row = max(records.column("row_no").to_pylist(), default=0)
        base = self._next_id  # rec_id = base + row_no: unique across units
        self._next_id += int(last_row) + 1
        try:
            self._sql(
                "INSERT INTO records SELECT ? + row_no, ?, ?, source_file, row_no, ?, natural_key, report_number, "
                f"NULL, TRUE, record_json FROM {records_source}",
                [base, unit.endpoint, unit.name, unit.priority, *records_param],
            )
            self._sql(f"INSERT INTO fields SELECT ? + row_no, field, value FROM {fields_source}", [base, *fields_param])
            dating = DATING_FIELD.get(unit.endpoint)
            latest = None
            if dating:
                latest = self._sql(
                    "SELECT max(value) FROM fields WHERE field = ? AND rec_id BETWEEN ? AND ?", [dating, base, base + last_row]
                )[0][0]
        finally:
            if not from_cache:
                self._con.unregister("unit_records")
                self._con.unregister("unit_fields")
        unit.last_updated = _iso(meta.get("last_updated")) or _iso(latest)
        seconds = round(time.perf_counter() - started, 3)
        unit.files = {}
        for item in meta["files"]:
            report = FileLoadReport(**item)
            report.status, report.from_cache, report.seconds = "loaded", from_cache, seconds
            report.last_updated = unit.last_updated
            unit.files[report.path] = report
        unit.loaded = True

    def _deduplicate(self, endpoint: str) -> None:
        """Mark one record live per key (see the module docstring for keys and precedence)."""
        bridge = ""
        if endpoint == "device/event":
            bridge = (
                "WHEN r.report_number <> '' AND b.natural_key IS NOT NULL THEN b.natural_key "
                "WHEN r.report_number <> '' THEN 'report_number:' || r.report_number "
            )
        self._sql(
            f"""
            UPDATE records SET dedup_key = k.dedup_key FROM (
                SELECT r.rec_id, CASE WHEN r.natural_key <> '' THEN r.natural_key {bridge}
                                      ELSE 'content:' || md5(r.record_json) END AS dedup_key
                FROM records r LEFT JOIN (
                    SELECT report_number, min(natural_key) AS natural_key FROM records
                    WHERE endpoint = ? AND natural_key <> '' AND report_number <> ''
                    GROUP BY report_number HAVING count(DISTINCT natural_key) = 1
                ) b USING (report_number)
                WHERE r.endpoint = ?
            ) k WHERE records.rec_id = k.rec_id
            """,
            [endpoint, endpoint],
        )
        self._sql(
            """
            UPDATE records SET live = (w.rank = 1) FROM (
                SELECT rec_id, row_number() OVER (PARTITION BY dedup_key ORDER BY priority, unit, row_no) AS rank
                FROM records WHERE endpoint = ?
            ) w WHERE records.rec_id = w.rec_id
            """,
            [endpoint],
        )

    # -- derived (Parquet) cache -------------------------------------------------------------

    def _derived_paths(self, unit: _Unit, key: str) -> tuple[Path, Path, Path]:
        stem = re.sub(r"[^A-Za-z0-9._-]+", "_", unit.name.strip("/"))
        folder = self.folder / DERIVED_DIR
        return (
            folder / f"{stem}.{key}.records.parquet",
            folder / f"{stem}.{key}.fields.parquet",
            folder / f"{stem}.{key}.report.json",
        )

    def _read_derived(self, unit: _Unit, key: str) -> tuple[Path, Path, dict[str, Any]] | None:
        """The cached conversion of ``unit`` (records file, fields file, load report), if complete."""
        records_path, fields_path, report_path = self._derived_paths(unit, key)
        if not (records_path.is_file() and fields_path.is_file() and report_path.is_file()):
            return None
        try:
            meta = json.loads(report_path.read_text(encoding="utf-8"))
            pq.read_metadata(records_path)
            pq.read_metadata(fields_path)
        except (OSError, ValueError, pa.ArrowException):
            return None  # a damaged cache is rebuilt
        return records_path, fields_path, meta

    def _write_derived(self, unit: _Unit, key: str, records: pa.Table, fields_table: pa.Table, meta: dict[str, Any]) -> None:
        records_path, fields_path, report_path = self._derived_paths(unit, key)
        folder = records_path.parent
        stem = records_path.name[: -len(f".{key}.records.parquet")]
        ours = re.compile(rf"^{re.escape(stem)}\.([0-9a-f]{{24}})\.(records\.parquet|fields\.parquet|report\.json)$")
        try:
            folder.mkdir(exist_ok=True)
            suffix = f".tmp-{os.getpid()}-{threading.get_ident()}"
            for table, target in ((records, records_path), (fields_table, fields_path)):
                pq.write_table(table, str(target) + suffix)
                os.replace(str(target) + suffix, target)
            report_path.with_name(report_path.name + suffix).write_text(json.dumps(meta), encoding="utf-8")
            os.replace(report_path.with_name(report_path.name + suffix), report_path)
            for old in folder.iterdir():
                match = ours.match(old.name)
                if match and match.group(1) != key:
                    old.unlink(missing_ok=True)  # an older conversion of the same source
        except OSError:
            pass  # a read-only mirror folder: work without the cache

    # -- conversions -------------------------------------------------------------------------

    def _problem_terms(self) -> tuple[str, ...]:
        """Patient-problem terms containing a comma: built in, plus maude/patientproblemdata*."""
        if self._comma_terms is None:
            terms = set(COMMA_TERMS)
            for path in maude_files(self.folder / "maude"):
                if layout_for(path).name == "patientproblemdata":
                    if self.provenance is not None:
                        self.provenance.record_input(path, role="mirror patient-problem terms")
                    terms.update(row["term"] for row in read_flat_file(path).rows if "," in row["term"])
            self._comma_terms = tuple(sorted(terms))
        return self._comma_terms

    def _classification_index(self) -> dict[str, dict[str, str]]:
        if self._classification is None:
            path = find_classification_file(self.folder)
            self._classification = classification_index(path) if path is not None else {}
        return self._classification

    def _convert(self, unit: _Unit) -> tuple[pa.Table, pa.Table, dict[str, Any]]:
        if unit.kind == "maude-sheet":
            return self._convert_sheet(unit)
        reports: list[dict[str, Any]] = []
        if unit.kind == "openfda-json":
            path = unit.paths[0]
            data = _parse_json_file(path)
            meta_date = None
            if isinstance(data, dict):
                meta = data.get("meta") if isinstance(data.get("meta"), dict) else {}
                meta_date = meta.get("last_updated")
                if not isinstance(data.get("results"), list):
                    raise MirrorError(f"{path}: no 'results' list; expected openFDA bulk JSON {{meta, results}} or a results array")
                items = data["results"]
            elif isinstance(data, list):
                items = data
            else:
                raise MirrorError(f"{path}: expected openFDA bulk JSON {{meta, results}} or a results array")
            records = [item for item in items if isinstance(item, dict)]
            not_objects = len(items) - len(records)
            reports.append(_file_report(unit, path, self.folder, read=len(items), kept=len(records), rejected=(
                [{"line": None, "reason": "a result that is not a JSON object", "rows": not_objects}] if not_objects else [])))
            sources = [unit.name] * len(records)
            meta_out = {"last_updated": meta_date}
        elif unit.kind == "publisher-csv":
            records, report = _read_publisher_csv(unit.paths[0], unit.endpoint)
            report.update(path=unit.name, endpoint=unit.endpoint, kind=unit.kind)
            reports.append(report)
            sources = [unit.name] * len(records)
            meta_out = {}
        elif unit.kind == "foiclass":
            records = read_foiclass(unit.paths[0])
            reports.append(_file_report(unit, unit.paths[0], self.folder, read=len(records), kept=len(records)))
            sources = [unit.name] * len(records)
            meta_out = {}
        elif unit.kind == "maude-flat":
            joined = join_maude(unit.paths, classification=self._classification_index() or None)
            records = joined.records
            sources = [_rel(Path(s), self.folder) for s in joined.sources]
            for flat in joined.files:
                rel = _rel(Path(flat.path), self.folder)
                orphans = joined.orphan_rows.get(flat.path, 0)
                rejected = [{"line": i.line, "reason": i.reason, "rows": 1} for i in flat.rejected]
                if orphans:
                    rejected.append({"line": None, "rows": orphans,
                                     "reason": "no mdrfoi master row for its MDR_REPORT_KEY (not joined, as in FDA's pipeline)"})
                repairs = {k: v for k, v in {
                    "raw_newline_joined": flat.newline_repairs,
                    "stray_pipe_in_text": flat.pipe_repairs,
                    "legacy_width_rows": flat.legacy_width_rows,
                    "dates_unparsed": flat.dates_unparsed,
                }.items() if v}
                reports.append({
                    "path": rel, "endpoint": unit.endpoint, "kind": f"{unit.kind}:{flat.layout}",
                    "rows_read": flat.rows + flat.rejected_count, "rows_kept": flat.rows - orphans,
                    "rows_repaired": flat.rows_repaired, "rows_rejected": flat.rejected_count + orphans,
                    "rejected": rejected, "repairs": repairs,
                    "note": f"encoding {flat.encoding}; {'header row' if flat.header else 'no header row'}",
                })
            if joined.outcome_splits or joined.child_duplicates:
                first = next((r for r in reports if r["kind"].endswith(":patient")), reports[0] if reports else None)
                if first is not None:
                    if joined.outcome_splits:
                        first["repairs"]["multi_patient_outcomes_split"] = joined.outcome_splits
                    if joined.child_duplicates:
                        first["repairs"]["child_rows_replaced_by_later_files"] = joined.child_duplicates
            meta_out = {}
        else:  # pragma: no cover - every kind is handled above
            raise MirrorError(f"unknown source kind {unit.kind}")
        return (*_tables(unit.endpoint, records, sources), {**meta_out, "files": reports})

    def _convert_sheet(self, unit: _Unit) -> tuple[pa.Table, pa.Table, dict[str, Any]]:
        path = unit.paths[0]
        rows = read_xlsx_rows(path)
        if not rows:
            raise MirrorError(f"{path}: the sheet is empty; a MAUDE sheet has a header row with {', '.join(SHEET_COLUMNS)}")
        header = [str(h or "").strip().lower() for h in rows[0]]
        missing = [c for c in ("mdr_report_key", "date_received") if c not in header]
        if missing:
            raise MirrorError(
                f"{path}: a MAUDE sheet needs the columns {', '.join(SHEET_COLUMNS)}; "
                f"missing {', '.join(missing)} (found: {', '.join(h for h in header if h)})"
            )
        index = {name: header.index(name) for name in SHEET_COLUMNS if name in header}
        data = rows[1:]

        def column(name: str) -> list[str]:
            i = index.get(name)
            if i is None:
                return [""] * len(data)
            return ["" if i >= len(row) or row[i] is None else str(row[i]).strip() for row in data]

        raw = {name: column(name) for name in SHEET_COLUMNS}
        keys = [k.removesuffix(".0") for k in raw["mdr_report_key"]]
        dates: dict[str, str] = {}
        splits: dict[str, tuple[list[str], bool]] = {}
        terms_vocabulary = self._problem_terms()
        keep: list[int] = []
        rejected: list[dict[str, Any]] = []
        blank = rejoined_rows = 0
        for i, row in enumerate(data):
            if not keys[i] and not raw["report_number"][i]:
                if any(v not in (None, "") for v in row):
                    rejected.append({"line": i + 2, "reason": "no mdr_report_key and no report_number", "rows": 1})
                else:
                    blank += 1
                continue
            keep.append(i)
            description = raw["event_description"][i]
            if description not in splits:
                splits[description] = split_problem_terms(description, terms_vocabulary)
            rejoined_rows += splits[description][1]
            date = raw["date_received"][i]
            if date not in dates:
                dates[date] = normalise_date(date) or ""

        def kept(values: list[str]) -> pa.Array:
            return pa.array([values[i] for i in keep], pa.string())

        table = pa.table({
            "row_no": pa.array([i + 2 for i in keep], pa.int64()),
            "mdr_report_key": pa.array([keys[i] for i in keep], pa.string()),
            "report_number": kept(raw["report_number"]),
            "date_received": pa.array([dates[raw["date_received"][i]] for i in keep], pa.string()),
            "event_type": kept(raw["event_type"]),
            "adverse_event_flag": kept(raw["adverse_event_flag"]),
            "report_source_code": kept(raw["report_source"]),
            "brand_name": kept(raw["brand_name"]),
            "generic_name": kept(raw["generic_name"]),
            "manufacturer_d_name": kept(raw["manufacturer_name"]),
            "device_class": kept(raw["device_class"]),
            "patient_problems": pa.array([splits[raw["event_description"][i]][0] for i in keep], pa.list_(pa.string())),
        })
        con = self._con  # the mirror's one connection; the sheet is registered only while converting
        try:
            con.register("sheet", table)
            records = con.sql(
                """
                SELECT row_no, $source AS source_file, mdr_report_key AS natural_key, report_number,
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
                """,
                params={"source": unit.name},
            ).to_arrow_table()
            singles = [
                ("mdr_report_key", "mdr_report_key"), ("report_number", "report_number"),
                ("date_received", "date_received"), ("event_type", "event_type"),
                ("adverse_event_flag", "adverse_event_flag"), ("report_source_code", "report_source_code"),
                ("device.brand_name", "brand_name"), ("device.generic_name", "generic_name"),
                ("device.manufacturer_d_name", "manufacturer_d_name"), ("device.openfda.device_class", "device_class"),
            ]
            selects = [f"SELECT row_no, '{name}' AS field, {column} AS value FROM sheet WHERE {column} <> ''" for name, column in singles]
            selects.append(
                "SELECT row_no, 'patient.patient_problems' AS field, unnest(list_distinct(patient_problems)) AS value FROM sheet"
            )
            fields_table = con.sql(" UNION ALL ".join(selects)).to_arrow_table()
        finally:
            con.unregister("sheet")
        n_kept = table.num_rows
        report = {
            "path": unit.name, "endpoint": unit.endpoint, "kind": unit.kind,
            "rows_read": n_kept + len(rejected), "rows_kept": n_kept, "rows_repaired": rejoined_rows,
            "rows_rejected": len(rejected), "rejected": rejected[:1000],
            "repairs": {"patient_problem_terms_rejoined": rejoined_rows} if rejoined_rows else {},
            "note": f"publisher sheet without product codes; {blank} blank rows skipped" if blank else "publisher sheet without product codes",
        }
        return records, fields_table, {"files": [report]}


# ----------------------------------------------------------------------------------------------
# conversion helpers (module level: pure functions)


def _phrase_pattern(value: str) -> str | None:
    words = re.findall(r"[a-z0-9]+", str(value).lower())
    if not words:
        return None
    return r"(^|[^a-z0-9])" + r"[^a-z0-9]+".join(words) + r"($|[^a-z0-9])"


def _parse_json_file(path: Path) -> Any:
    try:
        if path.name.lower().endswith(".zip"):
            with zipfile.ZipFile(path) as archive:
                members = [m for m in archive.namelist() if m.lower().endswith(".json")]
                if not members:
                    raise MirrorError(f"{path}: no .json file inside the zip; re-download it")
                parts = [json.loads(archive.read(m).decode("utf-8")) for m in members]
            if len(parts) == 1:
                return parts[0]
            merged: list[Any] = []
            meta: dict[str, Any] = {}
            for part in parts:
                if isinstance(part, dict):
                    meta = part.get("meta", meta) or meta
                    merged.extend(part.get("results") or [])
                elif isinstance(part, list):
                    merged.extend(part)
            return {"meta": meta, "results": merged}
        with open(path, "rb") as handle:
            return json.loads(handle.read().decode("utf-8"))
    except json.JSONDecodeError as exc:
        raise MirrorError(f"{path}: not JSON at character {exc.pos} (line {exc.lineno}: {exc.msg}); re-download it") from None
    except UnicodeDecodeError as exc:
        raise MirrorError(f"{path}: not UTF-8 text at byte {exc.start}; re-download it") from None
    except zipfile.BadZipFile:
        raise MirrorError(f"{path}: not a readable zip archive; re-download it") from None
    except OSError as exc:
        raise MirrorError(f"{path}: cannot be read ({exc.strerror or exc}); check the path and permissions") from None


def _file_report(unit: _Unit, path: Path, root: Path, *, read: int, kept: int, rejected: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    rejected = rejected or []
    return {
        "path": _rel(path, root), "endpoint": unit.endpoint, "kind": unit.kind,
        "rows_read": read, "rows_kept": kept, "rows_repaired": 0, "rows_rejected": sum(r["rows"] for r in rejected),
        "rejected": rejected[:1000], "repairs": {},
    }


def _read_publisher_csv(path: Path, endpoint: str) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Rows of a publisher-flattened ``|`` CSV (pandas index first) as openFDA-shaped records."""
    import csv
    import io

    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError:
        text = path.read_bytes().decode("latin-1")
    reader = csv.reader(io.StringIO(text), delimiter="|", quotechar='"')
    try:
        header = next(reader)
    except StopIteration:
        return [], {"rows_read": 0, "rows_kept": 0, "rows_repaired": 0, "rows_rejected": 0, "rejected": [], "repairs": {}}
    has_index = bool(header) and header[0].strip() == ""
    names = [h.strip() for h in header[1:]] if has_index else [h.strip() for h in header]
    width = len(header)
    mapping = CSV_COLUMNS.get(endpoint, {})
    records: list[dict[str, Any]] = []
    rejected: list[dict[str, Any]] = []
    read = 0
    while True:
        line = reader.line_num + 1
        try:
            row = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            rejected.append({"line": line, "reason": f"unreadable CSV row ({exc})", "rows": 1})
            continue
        if not row or not any(v.strip() for v in row):
            continue
        read += 1
        if len(row) != width:
            rejected.append({"line": line, "reason": f"{len(row)} fields, expected {width}", "rows": 1})
            continue
        values = row[1:] if has_index else row
        record: dict[str, Any] = {}
        for name, value in zip(names, values):
            value = value.strip()
            target = mapping.get(name, name)
            leaf = target.rsplit(".", 1)[-1]
            _set_path(record, target, _parse_list(value) if leaf in _LIST_COLUMNS or name in _LIST_COLUMNS else value)
        records.append(record)
    report = {
        "rows_read": read, "rows_kept": len(records), "rows_repaired": 0, "rows_rejected": len(rejected),
        "rejected": rejected[:1000], "repairs": {},
        "note": f"publisher CSV; columns {', '.join(names)}",
    }
    return records, report


def _natural_key(endpoint: str, record: dict[str, Any]) -> str:
    paths = NATURAL_KEYS.get(endpoint)
    if not paths:
        return ""
    parts = []
    for path in paths:
        values = _clean_values(values_at(record, path), "term")
        parts.append(values[0] if values else "")
    if not parts[0]:
        return ""
    return "/".join(parts) if len(parts) > 1 else parts[0]


def _tables(endpoint: str, records: list[dict[str, Any]], sources: list[str]) -> tuple[pa.Table, pa.Table]:
    """Arrow tables of records (one row each) and their searchable field values (one row each)."""
    specs = list(FIELDS[endpoint].values())
    row_nos, source_files, keys, report_numbers, texts = [], [], [], [], []
    field_rows: list[int] = []
    field_names: list[str] = []
    field_values: list[str] = []
    for row_no, (record, source) in enumerate(zip(records, sources), 1):
        row_nos.append(row_no)
        source_files.append(source)
        keys.append(_natural_key(endpoint, record))
        numbers = _clean_values(values_at(record, "report_number"), "term") if endpoint == "device/event" else []
        report_numbers.append(numbers[0] if numbers else "")
        texts.append(json.dumps(record, ensure_ascii=False, separators=(",", ":")))
        for spec in specs:
            for value in _clean_values(values_at(record, spec.name), spec.kind):
                field_rows.append(row_no)
                field_names.append(spec.name)
                field_values.append(value)
    records_table = pa.table({
        "row_no": pa.array(row_nos, pa.int64()),
        "source_file": pa.array(source_files, pa.string()),
        "natural_key": pa.array(keys, pa.string()),
        "report_number": pa.array(report_numbers, pa.string()),
        "record_json": pa.array(texts, pa.string()),
    })
    fields_table = pa.table({
        "row_no": pa.array(field_rows, pa.int64()),
        "field": pa.array(field_names, pa.string()),
        "value": pa.array(field_values, pa.string()),
    })
    return records_table, fields_table
