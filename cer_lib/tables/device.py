"""Tidy device tables from openFDA / Eudamed records: pure functions, records in, typed tables out.

Each ``*_table`` function takes records exactly as the source returns them (one ``dict`` per
record, as in ``collected/records/<name>.jsonl``) and returns a `TidyTable`: the frame (columns and
dtypes fixed by `cer_lib.tables.schemas`), how many duplicate rows were removed by the table's
documented key, and notes on what was odd in the input (unreadable dates set to null, fields of the
wrong shape, codes normalised). Nothing here reads files or the network.

Conventions for every table
- Strings are stripped; an empty string is missing (``<NA>``). Lists of strings are joined with
  ``"; "`` (``k_numbers`` / ``pma_numbers`` with ``", "``) after dropping blanks and repeats.
- Dates are read by `cer_lib.dates.parse_date` (``YYYYMMDD``, ``YYYY-MM-DD``, ``MM/DD/YYYY``, ...);
  anything else that is not blank (e.g. ``"2020-13-45"``) becomes ``NaT`` and is counted in the notes.
- Flags ``Y``/``N`` become ``True``/``False``; anything else is missing.
- A record of the wrong shape (not an object; a ``device`` that is not a list, ...) is skipped or
  read as far as it can be, never a crash, and counted in the notes.
- Duplicates: the first occurrence of a key is kept (input order), later ones are removed and
  counted. The keys are the ones listed in `cer_lib.tables.schemas.TABLES`.
"""
from __future__ import annotations

import dataclasses
import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from ..dates import parse_date as read_date
from .event_groups import event_groups
from .schemas import COUNT_EVENT_TYPES, DATE_FIELDS, EVENT_TYPES, TABLES, empty_table

Record = Mapping[str, Any]

# --------------------------------------------------------------------------------------------
# vocabularies

# MAUDE event type codes (mdrfoi EVENT_TYPE) and the words openFDA shows; FDA/openfda
# openfda/maude/data/enums.csv: D Death, IN/IL/IJ Injury, M Malfunction, O Other, * No answer provided.
_EVENT_TYPE_WORDS = {
    "death": "Death",
    "d": "Death",
    "injury": "Injury",
    "in": "Injury",
    "il": "Injury",
    "ij": "Injury",
    "malfunction": "Malfunction",
    "m": "Malfunction",
    "other": "Other",
    "o": "Other",
}

# MAUDE patient outcome codes (patient file, SEQUENCE_NUMBER_OUTCOME). Source: the MAUDE data
# dictionary for the patient file, as used by FDA's openFDA pipeline, FDA/openfda
# openfda/maude/data/enums.csv ("sequence_number_outcome,L,Life Threatening" ... "D,Death").
OUTCOME_CODES: dict[str, str] = {
    "D": "Death",
    "L": "Life threatening",
    "H": "Hospitalization",
    "S": "Disability",
    "C": "Congenital anomaly",
    "R": "Required intervention",
    "O": "Other",
    "*": "Invalid data",
    "U": "Unknown",
    "I": "No information",
    "A": "Not applicable",
}
# openFDA renders the codes as words ("1, Life Threatening, 2, Required Intervention").
_OUTCOME_WORDS = {word.casefold(): word for word in OUTCOME_CODES.values()}
_OUTCOME_WORDS.update({"life-threatening": "Life threatening", "congenital anomaly/birth defect": "Congenital anomaly"})

_ENFORCEMENT_CLASSES = {"class i": "Class I", "class ii": "Class II", "class iii": "Class III"}
_PRODUCT_CODE = re.compile(r"^([A-Z]{3})[\s\-_.*]*$")
_PERIOD = re.compile(r"^(all|\d{4})$")
#: A total line's ``subset`` and the ``problem_type`` of ``report_totals`` it gives.
_SUBSET_PROBLEM_TYPES = {"all": "all", "device_problem": "device", "patient_problem": "patient"}
_PROBLEM_FIELDS = {
    "product_problems": "device",
    "product_problems.exact": "device",
    "patient.patient_problems": "patient",
    "patient.patient_problems.exact": "patient",
}

PREDICATES_NOTE = (
    "predicates is empty: openFDA 510(k) records do not carry predicate device numbers "
    "(they are named in the 510(k) summary documents, not in the API); equivalence candidates must be taken from those documents"
)


# --------------------------------------------------------------------------------------------
# the result of one table function


@dataclass
class TidyTable:
    """One tidy table: the frame plus what integrating it removed and noticed."""

    name: str
    frame: pd.DataFrame
    duplicates_removed: int = 0
    notes: list[str] = field(default_factory=list)
    counters: dict[str, int] = field(default_factory=dict)  # e.g. unreadable_dates, other_negative_days_clipped

    @property
    def key(self) -> tuple[str, ...]:
        return TABLES[self.name].key

    def __len__(self) -> int:
        return len(self.frame)


class _Issues:
    """Counts odd input values per kind while a table is built; turns them into notes and counters."""

    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()
        self.examples: dict[str, list[str]] = defaultdict(list)
        self.counters: Counter[str] = Counter()

    def add(self, kind: str, example: Any = None, n: int = 1, counter: str | None = None) -> None:
        """Count ``n`` occurrences of ``kind`` (a phrase for the notes); ``counter`` also adds to a named counter."""
        self.counts[kind] += n
        if counter:
            self.counters[counter] += n
        if example is not None and len(self.examples[kind]) < 3:
            shown = repr(example)[:60]
            if shown not in self.examples[kind]:
                self.examples[kind].append(shown)

    def notes(self) -> list[str]:
        lines = []
        for kind, n in self.counts.items():
            examples = self.examples.get(kind)
            lines.append(f"{n} {kind}" + (f" (e.g. {', '.join(examples)})" if examples else ""))
        return lines


# --------------------------------------------------------------------------------------------
# value readers


def clean_text(value: Any, sep: str = "; ") -> str | None:
    """A stripped string, or None when blank; lists are joined with ``sep`` (blanks and repeats dropped)."""
    if value is None:
        return None
    if isinstance(value, str):
        text = value.strip()
        return text or None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if value != value:  # NaN
            return None
        return str(int(value)) if value.is_integer() else str(value)
    if isinstance(value, (list, tuple)):
        parts = [clean_text(v, sep) for v in value]
        unique = list(dict.fromkeys(p for p in parts if p))
        return sep.join(unique) or None
    return None


def text_list(value: Any) -> list[str]:
    """The non-blank stripped strings of a value that should be a list of strings (a lone string counts)."""
    if value is None:
        return []
    if isinstance(value, str):
        text = value.strip()
        return [text] if text else []
    if isinstance(value, (list, tuple)):
        out: list[str] = []
        for item in value:
            out.extend(text_list(item))
        return out
    return []


def parse_date(value: Any) -> tuple[pd.Timestamp | None, bool]:
    """(date at midnight or None, whether a non-blank value could not be read)."""
    text = clean_text(value)
    if text is None:
        return None, False
    day = read_date(text)
    if day is None or not 1900 <= day.year <= 2100:
        return None, True
    return pd.Timestamp(day), False


def parse_flag(value: Any) -> bool | None:
    """``Y``/``N`` (also yes/no, true/false, 1/0) to a bool; anything else is missing."""
    if isinstance(value, bool):
        return value
    text = (clean_text(value) or "").casefold()
    if text in {"y", "yes", "true", "1"}:
        return True
    if text in {"n", "no", "false", "0"}:
        return False
    return None


def parse_count(value: Any) -> tuple[int | None, bool]:
    """(non-negative integer or None, whether a non-blank value could not be read). Accepts ``" 1.0"``."""
    if isinstance(value, bool):
        return None, True
    if isinstance(value, int):
        return (value, False) if value >= 0 else (None, True)
    text = clean_text(value)
    if text is None:
        return None, False
    try:
        number = float(text)
    except ValueError:
        return None, True
    if number != number or number < 0 or not number.is_integer():
        return None, True
    return int(number), False


def normalise_event_type(raw: str | None) -> str:
    """Death | Injury | Malfunction | Other; "No answer provided", blank and unknown values are Other."""
    if raw is None:
        return "Other"
    return _EVENT_TYPE_WORDS.get(raw.strip().casefold(), "Other")


def parse_outcomes(value: Any) -> tuple[list[str], list[str]]:
    """Outcome words from a ``sequence_number_outcome`` value, and the tokens that were not outcomes.

    Handles the flat-file form ``"1. L; 2. R"``, list items such as ``"1. H"`` / ``" 2. O"``, and
    openFDA's word form ``"1, Life Threatening, 2, Required Intervention"``. The numbers number the
    outcomes of one patient, not patients, so they are dropped. Repeats are removed (order kept).
    """
    words: list[str] = []
    unknown: list[str] = []
    for text in text_list(value):
        for token in re.split(r"[;,]", text):
            token = re.sub(r"^\s*\d+\s*[.)]?\s*", "", token).strip()
            if not token:
                continue
            word = OUTCOME_CODES.get(token.upper()) or _OUTCOME_WORDS.get(token.casefold())
            if word is None:
                unknown.append(token)
            elif word not in words:
                words.append(word)
    return words, unknown


def normalise_product_code(value: Any) -> tuple[str | None, bool]:
    """(product code, whether it was changed): ``"izl--"`` -> ``"IZL"``; other shapes are kept as given."""
    raw = clean_text(value)
    if raw is None:
        return None, False
    match = _PRODUCT_CODE.match(raw.upper())
    if match:
        return match.group(1), match.group(1) != raw
    return raw, False


def codes_in_scope(resolution: Mapping[str, Any] | None) -> dict[str, str]:
    """Product code -> ``device`` | ``comparator`` from ``collected/resolution.json``."""
    if not resolution:
        return {}
    scopes: dict[str, str] = {}
    for comparator in resolution.get("comparators") or []:
        if isinstance(comparator, Mapping):
            code, _ = normalise_product_code(comparator.get("product_code"))
            if code:
                scopes[code] = "comparator"
    code, _ = normalise_product_code(resolution.get("product_code"))
    if code:
        scopes[code] = "device"
    return scopes


def _items(record: Record, name: str, issues: _Issues) -> list[Mapping[str, Any]]:
    """The objects of a field that should be a list of objects (``device``, ``patient``, ``mdr_text``)."""
    value = record.get(name)
    if value is None or value == "" or value == []:
        return []
    if isinstance(value, Mapping):
        issues.add(f"record(s) with `{name}` as an object, not a list (read as a one-item list)")
        return [value]
    if isinstance(value, (list, tuple)):
        objects = [item for item in value if isinstance(item, Mapping)]
        if len(objects) != len(value):
            issues.add(f"`{name}` item(s) that are not objects (skipped)", n=len(value) - len(objects))
        return objects
    issues.add(f"record(s) with an unreadable `{name}` (not a list; skipped)", example=value)
    return []


def _openfda(block: Any) -> Mapping[str, Any]:
    return block if isinstance(block, Mapping) else {}


def _frame(name: str, rows: list[dict[str, Any]]) -> pd.DataFrame:
    """Rows to a frame with exactly the table's columns and dtypes."""
    if not rows:
        return empty_table(name)
    dtypes = TABLES[name].dtypes
    return pd.DataFrame({col: pd.Series([row.get(col) for row in rows], dtype=dtype) for col, dtype in dtypes.items()})


def _dedupe(frame: pd.DataFrame, key: Sequence[str]) -> tuple[pd.DataFrame, int]:
    """Drop later rows whose ``key`` repeats an earlier row's (missing values compare equal)."""
    repeated = frame.duplicated(list(key), keep="first")
    return frame.loc[~repeated].reset_index(drop=True), int(repeated.sum())


def _date_into(row: dict[str, Any], column: str, value: Any, issues: _Issues) -> None:
    day, bad = parse_date(value)
    if bad:
        issues.add(f"unreadable `{column}` value(s) set to null", example=value, counter="unreadable_dates")
    row[column] = day


def _mappings(records: Iterable[Any], issues: _Issues) -> list[Mapping[str, Any]]:
    out = []
    for record in records or []:
        if isinstance(record, Mapping):
            out.append(record)
        else:
            issues.add("record(s) that are not JSON objects (skipped)", example=record)
    return out


# --------------------------------------------------------------------------------------------
# MAUDE reports (device/event)


@dataclass
class DistinctReports:
    """The event records with one record per ``mdr_report_key`` (first occurrence kept)."""

    records: list[Mapping[str, Any]]
    duplicates_removed: int
    notes: list[str]


def distinct_event_records(records: Iterable[Any]) -> DistinctReports:
    """Records keyed by ``mdr_report_key``; later repeats and records without a key are dropped.

    Every ``event*``/``patient_outcomes`` table is built from the same distinct records, so a report
    that appears twice in the input appears once in each table.
    """
    issues = _Issues()
    seen: set[str] = set()
    kept: list[Mapping[str, Any]] = []
    duplicates = 0
    for record in _mappings(records, issues):
        key = clean_text(record.get("mdr_report_key"))
        if key is None:
            issues.add("record(s) without an mdr_report_key (skipped)")
            continue
        if key in seen:
            duplicates += 1
            continue
        seen.add(key)
        kept.append(record)
    return DistinctReports(kept, duplicates, issues.notes())


def _report_key(record: Record) -> str:
    return clean_text(record.get("mdr_report_key")) or ""


def events_table(records: Iterable[Any]) -> TidyTable:
    """``events``: one row per MAUDE report of the review sample. Key: ``mdr_report_key``.

    ``event_type`` is Death | Injury | Malfunction | Other ("No answer provided", blank and unknown
    values are Other); the value as given is kept in ``event_type_raw``. ``summary_report`` is openFDA's
    ``summary_report_flag``: True for a Voluntary Malfunction Summary Report (one report for many events). ``manufacturer_name`` is the
    report's ``manufacturer_name`` or, when that is blank (manufacturer reports fill section G1
    instead), ``manufacturer_g1_name``. ``source_type`` joins the reporter source types with ``"; "``.
    Reports that share a ``report_number`` under different keys are kept and counted in the notes.
    """
    distinct = distinct_event_records(records)
    issues = _Issues()
    rows = []
    for record in distinct.records:
        raw_type = clean_text(record.get("event_type"))
        row: dict[str, Any] = {
            "mdr_report_key": _report_key(record),
            "report_number": clean_text(record.get("report_number")),
            "event_type": normalise_event_type(raw_type),
            "event_type_raw": raw_type,
            "adverse_event_flag": parse_flag(record.get("adverse_event_flag")),
            "product_problem_flag": parse_flag(record.get("product_problem_flag")),
            "summary_report": parse_flag(record.get("summary_report_flag")),
            "report_source": clean_text(record.get("report_source_code")),
            "source_type": clean_text(record.get("source_type")),
            "manufacturer_name": _first_name(record.get("manufacturer_name"), record.get("manufacturer_g1_name")),
            "event_location": clean_text(record.get("event_location")),
            "event_key": clean_text(record.get("event_key")),
        }
        _date_into(row, "date_received", record.get("date_received"), issues)
        _date_into(row, "date_of_event", record.get("date_of_event"), issues)
        for column, source in (("n_devices", "number_devices_in_event"), ("n_patients", "number_patients_in_event")):
            number, bad = parse_count(record.get(source))
            if bad:
                issues.add(f"unreadable `{source}` value(s) set to null", example=record.get(source))
            row[column] = number
        if raw_type is None:
            issues.add("report(s) without an event_type counted as Other")
        elif normalise_event_type(raw_type) == "Other" and raw_type.casefold() != "other":
            issues.add("report(s) with event_type outside Death/Injury/Malfunction/Other counted as Other", example=raw_type)
        rows.append(row)
    frame = _frame("events", rows)
    notes = list(distinct.notes)
    numbers = frame["report_number"].dropna()
    shared = numbers[numbers.duplicated(keep=False)]
    if len(shared):
        issues.counters["report_numbers_shared"] = int(shared.nunique())
        notes.append(
            f"{shared.nunique()} report_number(s) appear under more than one mdr_report_key "
            f"({len(shared)} reports, kept; e.g. {', '.join(repr(v) for v in shared.unique()[:3])})"
        )
    if distinct.duplicates_removed:
        notes.append(f"{distinct.duplicates_removed} repeated record(s) of the same mdr_report_key removed (first kept)")
    return TidyTable("events", frame, distinct.duplicates_removed, notes + issues.notes(), dict(issues.counters))


def _first_name(*values: Any) -> str | None:
    for value in values:
        text = clean_text(value)
        if text and text != "*":
            return text
    return None


def event_devices_table(records: Iterable[Any]) -> TidyTable:
    """``event_devices``: one row per device named in a report. Key: (``mdr_report_key``, ``device_sequence_number``).

    ``product_code`` is the device's ``device_report_product_code``; ``device_name``, ``device_class``
    and ``regulation_number`` come from the device's ``openfda`` block (the classification of that
    product code). ``manufacturer_name`` is the device manufacturer (``manufacturer_d_name``). A
    missing or unreadable ``device_sequence_number`` is replaced by the device's position (1, 2, ...)
    in the report, counted in the notes.
    """
    distinct = distinct_event_records(records)
    issues = _Issues()
    rows = []
    for record in distinct.records:
        for position, device in enumerate(_items(record, "device", issues), start=1):
            sequence, bad = parse_count(device.get("device_sequence_number"))
            if sequence is None:
                issues.add("device(s) without a readable device_sequence_number (position used)", example=device.get("device_sequence_number") if bad else None)
                sequence = position
            openfda = _openfda(device.get("openfda"))
            rows.append(
                {
                    "mdr_report_key": _report_key(record),
                    "device_sequence_number": sequence,
                    "product_code": clean_text(device.get("device_report_product_code")),
                    "brand_name": clean_text(device.get("brand_name")),
                    "generic_name": clean_text(device.get("generic_name")),
                    "manufacturer_name": _first_name(device.get("manufacturer_d_name")),
                    "model_number": clean_text(device.get("model_number")),
                    "catalog_number": clean_text(device.get("catalog_number")),
                    "lot_number": clean_text(device.get("lot_number")),
                    "implant_flag": parse_flag(device.get("implant_flag")),
                    "device_name": clean_text(openfda.get("device_name")),
                    "device_class": clean_text(openfda.get("device_class")),
                    "regulation_number": clean_text(openfda.get("regulation_number")),
                }
            )
    frame, removed = _dedupe(_frame("event_devices", rows), TABLES["event_devices"].key)
    notes = issues.notes()
    if removed:
        notes.append(f"{removed} repeated device row(s) of the same report and sequence number removed")
    return TidyTable("event_devices", frame, removed, notes, dict(issues.counters))


def event_problems_table(records: Iterable[Any]) -> TidyTable:
    """``event_problems``: one row per distinct problem term of a report.

    Device problems come from the report's ``product_problems`` (``patient_sequence_number`` null);
    patient problems from each ``patient[].patient_problems`` with that patient's sequence number.
    Blank terms are dropped. Key: (``mdr_report_key``, ``problem_type``, ``term``,
    ``patient_sequence_number``); a term repeated within a report (for a patient) is one row.
    """
    distinct = distinct_event_records(records)
    issues = _Issues()
    rows = []
    for record in distinct.records:
        key = _report_key(record)
        for term in text_list(record.get("product_problems")):
            rows.append({"mdr_report_key": key, "problem_type": "device", "term": term, "patient_sequence_number": None})
        for patient in _items(record, "patient", issues):
            sequence, bad = parse_count(patient.get("patient_sequence_number"))
            if bad:
                issues.add("unreadable patient_sequence_number value(s) set to null", example=patient.get("patient_sequence_number"))
            for term in text_list(patient.get("patient_problems")):
                rows.append({"mdr_report_key": key, "problem_type": "patient", "term": term, "patient_sequence_number": sequence})
    frame, removed = _dedupe(_frame("event_problems", rows), TABLES["event_problems"].key)
    notes = issues.notes()
    if removed:
        notes.append(f"{removed} repeated term(s) within a report removed (one row per report, type, term and patient)")
    return TidyTable("event_problems", frame, removed, notes, dict(issues.counters))


def event_texts_table(records: Iterable[Any]) -> TidyTable:
    """``event_texts``: one row per narrative (``mdr_text[]``) of a report. Key: (``mdr_report_key``, ``mdr_text_key``).

    The text is UNTRUSTED input from the public: it is stored exactly as received (not stripped,
    not escaped, not interpreted). Escaping happens where it is rendered (HTML report, notebooks).
    ``text_type`` is the ``text_type_code`` as openFDA gives it (e.g. "Description of Event or
    Problem"). Narratives without a text are dropped; narratives without an ``mdr_text_key`` are
    kept (key null) and deduplicated on the whole row.
    """
    distinct = distinct_event_records(records)
    issues = _Issues()
    rows = []
    for record in distinct.records:
        for item in _items(record, "mdr_text", issues):
            text = item.get("text")
            if not isinstance(text, str) or not text.strip():
                issues.add("narrative(s) without text (dropped)")
                continue
            sequence, bad = parse_count(item.get("patient_sequence_number"))
            if bad:
                issues.add("unreadable patient_sequence_number value(s) set to null", example=item.get("patient_sequence_number"))
            rows.append(
                {
                    "mdr_report_key": _report_key(record),
                    "mdr_text_key": clean_text(item.get("mdr_text_key")),
                    "text_type": clean_text(item.get("text_type_code")),
                    "patient_sequence_number": sequence,
                    "text": text,
                }
            )
    frame = _frame("event_texts", rows)
    keyed = frame["mdr_text_key"].notna()
    repeated = (keyed & frame.duplicated(["mdr_report_key", "mdr_text_key"], keep="first")) | (
        ~keyed & frame.duplicated(keep="first")
    )
    frame = frame.loc[~repeated].reset_index(drop=True)
    removed = int(repeated.sum())
    notes = issues.notes()
    if removed:
        notes.append(f"{removed} repeated narrative(s) removed")
    unkeyed = int((~keyed).sum()) - int((~keyed & repeated).sum())
    if unkeyed:
        notes.append(f"{unkeyed} narrative(s) without an mdr_text_key kept")
    return TidyTable("event_texts", frame, removed, notes, dict(issues.counters))


def patient_outcomes_table(records: Iterable[Any]) -> TidyTable:
    """``patient_outcomes``: one row per distinct outcome of one patient of a report.

    Key: (``mdr_report_key``, ``patient_sequence_number``, ``outcome``). Read from
    ``patient[].sequence_number_outcome``; concatenated values ("1. L; 2. R", "1, Life Threatening,
    2, Required Intervention") are split, and codes mapped to words per the MAUDE patient-file data
    dictionary (see `OUTCOME_CODES`): D Death, L Life threatening, H Hospitalization, S Disability,
    C Congenital anomaly, R Required intervention, O Other (and * Invalid data, U Unknown,
    I No information, A Not applicable). Tokens that are none of these are dropped and counted.
    """
    distinct = distinct_event_records(records)
    issues = _Issues()
    rows = []
    for record in distinct.records:
        for patient in _items(record, "patient", issues):
            sequence, bad = parse_count(patient.get("patient_sequence_number"))
            if bad:
                issues.add("unreadable patient_sequence_number value(s) set to null", example=patient.get("patient_sequence_number"))
            words, unknown = parse_outcomes(patient.get("sequence_number_outcome"))
            for token in unknown:
                issues.add("outcome token(s) that are not MAUDE outcome codes (dropped)", example=token)
            for word in words:
                rows.append({"mdr_report_key": _report_key(record), "patient_sequence_number": sequence, "outcome": word})
    frame, removed = _dedupe(_frame("patient_outcomes", rows), TABLES["patient_outcomes"].key)
    notes = issues.notes()
    if removed:
        notes.append(f"{removed} repeated outcome(s) of the same patient removed")
    return TidyTable("patient_outcomes", frame, removed, notes, dict(issues.counters))


# --------------------------------------------------------------------------------------------
# recalls and enforcement


def recalls_table(records: Iterable[Any], resolution: Mapping[str, Any] | None = None) -> TidyTable:
    """``recalls``: one row per recalled product (device/recall). Key: ``recall_key``.

    ``recall_key`` is ``cfres_id``, else ``product_res_number``. ``product_code`` is the record's
    code with padding removed (``"IZL--"`` -> ``"IZL"``, counted in the notes); ``scope`` is
    ``device`` or ``comparator`` by the resolution's product codes, null when the code is neither.
    ``k_numbers`` / ``pma_numbers`` are comma-joined.
    """
    issues = _Issues()
    scopes = codes_in_scope(resolution)
    rows = []
    for record in _mappings(records, issues):
        key = clean_text(record.get("cfres_id")) or clean_text(record.get("product_res_number"))
        if key is None:
            issues.add("recall record(s) without cfres_id or product_res_number (skipped)")
            continue
        code, changed = normalise_product_code(record.get("product_code"))
        if changed:
            issues.add("recall product code(s) normalised", example=f"{clean_text(record.get('product_code'))} -> {code}")
        scope = scopes.get(code) if code else None
        if scopes and scope is None:
            issues.add("recall(s) whose product code is neither the device's nor a comparator's (scope null)", example=code)
        row: dict[str, Any] = {
            "recall_key": key,
            "res_event_number": clean_text(record.get("res_event_number")),
            "product_res_number": clean_text(record.get("product_res_number")),
            "product_code": code,
            "scope": scope,
            "recall_status": clean_text(record.get("recall_status")),
            "recalling_firm": clean_text(record.get("recalling_firm")),
            "root_cause_description": clean_text(record.get("root_cause_description")),
            "reason_for_recall": clean_text(record.get("reason_for_recall")),
            "product_description": clean_text(record.get("product_description")),
            "action": clean_text(record.get("action")),
            "k_numbers": clean_text(record.get("k_numbers"), sep=", "),
            "pma_numbers": clean_text(record.get("pma_numbers"), sep=", "),
        }
        for column in ("event_date_initiated", "event_date_posted", "event_date_terminated"):
            _date_into(row, column, record.get(column), issues)
        rows.append(row)
    frame, removed = _dedupe(_frame("recalls", rows), TABLES["recalls"].key)
    notes = issues.notes()
    if removed:
        notes.append(f"{removed} repeated recall record(s) removed (same recall_key; openFDA repeats recall rows)")
    return TidyTable("recalls", frame, removed, notes, dict(issues.counters))


def enforcement_table(
    records: Iterable[Any],
    resolution: Mapping[str, Any] | None = None,
    recalls: pd.DataFrame | None = None,
) -> TidyTable:
    """``enforcement``: one row per enforcement report (device/enforcement). Key: ``recall_number``.

    The device enforcement ``openfda`` block is empty and most records carry no product code:
    ``product_code`` is taken from the record when present (padding removed), else null, never
    guessed. ``scope`` is the product code's scope by the resolution; without a code, it is the
    scope of the recall in ``recalls`` whose ``product_res_number`` equals this ``recall_number``
    (the same Z-number), else null. ``classification`` is Class I | II | III; other values are null
    and counted.
    """
    issues = _Issues()
    scopes = codes_in_scope(resolution)
    by_recall_number: dict[str, str] = {}
    if recalls is not None and len(recalls):
        linked = recalls.dropna(subset=["product_res_number", "scope"])
        by_recall_number = dict(zip(linked["product_res_number"], linked["scope"]))
    rows = []
    for record in _mappings(records, issues):
        number = clean_text(record.get("recall_number"))
        if number is None:
            issues.add("enforcement record(s) without a recall_number (skipped)")
            continue
        code, changed = normalise_product_code(record.get("product_code"))
        if changed:
            issues.add("enforcement product code(s) normalised", example=f"{clean_text(record.get('product_code'))} -> {code}")
        if code:
            scope = scopes.get(code)
        else:
            scope = by_recall_number.get(number)
            if scope is None:
                issues.add("enforcement report(s) with no product code and no matching recall (product_code and scope null)")
        raw_class = clean_text(record.get("classification"))
        classification = _ENFORCEMENT_CLASSES.get((raw_class or "").casefold())
        if raw_class and classification is None:
            issues.add("classification value(s) other than Class I/II/III set to null", example=raw_class)
        row: dict[str, Any] = {
            "recall_number": number,
            "event_id": clean_text(record.get("event_id")),
            "classification": classification,
            "status": clean_text(record.get("status")),
            "recalling_firm": clean_text(record.get("recalling_firm")),
            "product_description": clean_text(record.get("product_description")),
            "reason_for_recall": clean_text(record.get("reason_for_recall")),
            "product_quantity": clean_text(record.get("product_quantity")),
            "distribution_pattern": clean_text(record.get("distribution_pattern")),
            "product_code": code,
            "scope": scope,
        }
        for column in ("recall_initiation_date", "report_date", "center_classification_date", "termination_date"):
            _date_into(row, column, record.get(column), issues)
        rows.append(row)
    frame, removed = _dedupe(_frame("enforcement", rows), TABLES["enforcement"].key)
    notes = issues.notes()
    if removed:
        notes.append(f"{removed} repeated enforcement record(s) removed (same recall_number)")
    return TidyTable("enforcement", frame, removed, notes, dict(issues.counters))


# --------------------------------------------------------------------------------------------
# premarket submissions


def submissions_table(records_510k: Iterable[Any] = (), records_pma: Iterable[Any] = ()) -> TidyTable:
    """``submissions``: one row per 510(k), De Novo, PMA or PMA supplement. Key: (``number``, ``supplement_number``).

    From device/510k: ``number`` = ``k_number``; a number starting with ``DEN`` is a De Novo, any
    other a 510(k); ``device_name`` is the submitted device name; ``decision`` is the decision
    description (else its code). From device/pma: ``number`` = ``pma_number``, ``supplement_number``
    (null for the original PMA), ``device_name`` = ``generic_name``, ``trade_name``, ``decision`` =
    ``decision_code``, ``clearance_type`` = the supplement type (review track).
    ``advisory_committee`` is the two-letter panel code.

    ``predicates`` is always null: openFDA 510(k) records do not carry predicate device numbers
    (they are only in the 510(k) summary documents). The column is kept so a later source can fill it.
    """
    issues = _Issues()
    rows = []
    for record in _mappings(records_510k, issues):
        number = clean_text(record.get("k_number"))
        if number is None:
            issues.add("510(k) record(s) without a k_number (skipped)")
            continue
        number = number.upper()
        row: dict[str, Any] = {
            "submission_type": "De Novo" if number.startswith("DEN") else "510(k)",
            "number": number,
            "supplement_number": None,
            "product_code": normalise_product_code(record.get("product_code"))[0],
            "applicant": clean_text(record.get("applicant")),
            "device_name": clean_text(record.get("device_name")),
            "trade_name": None,
            "decision": clean_text(record.get("decision_description")) or clean_text(record.get("decision_code")),
            "clearance_type": clean_text(record.get("clearance_type")),
            "advisory_committee": clean_text(record.get("advisory_committee")),
            "predicates": None,
        }
        _date_into(row, "date_received", record.get("date_received"), issues)
        _date_into(row, "decision_date", record.get("decision_date"), issues)
        rows.append(row)
    for record in _mappings(records_pma, issues):
        number = clean_text(record.get("pma_number"))
        if number is None:
            issues.add("PMA record(s) without a pma_number (skipped)")
            continue
        supplement = clean_text(record.get("supplement_number"))
        row = {
            "submission_type": "PMA supplement" if supplement else "PMA",
            "number": number.upper(),
            "supplement_number": supplement,
            "product_code": normalise_product_code(record.get("product_code"))[0],
            "applicant": clean_text(record.get("applicant")),
            "device_name": clean_text(record.get("generic_name")),
            "trade_name": clean_text(record.get("trade_name")),
            "decision": clean_text(record.get("decision_code")),
            "clearance_type": clean_text(record.get("supplement_type")),
            "advisory_committee": clean_text(record.get("advisory_committee")),
            "predicates": None,
        }
        _date_into(row, "date_received", record.get("date_received"), issues)
        _date_into(row, "decision_date", record.get("decision_date"), issues)
        rows.append(row)
    frame, removed = _dedupe(_frame("submissions", rows), TABLES["submissions"].key)
    notes = issues.notes()
    if removed:
        notes.append(f"{removed} repeated submission(s) removed (same number and supplement)")
    if (frame["submission_type"].isin(["510(k)", "De Novo"])).any():
        notes.append(PREDICATES_NOTE)
    return TidyTable("submissions", frame, removed, notes, dict(issues.counters))


# --------------------------------------------------------------------------------------------
# products: classification, UDI (GUDID), registration & listing, Eudamed


def _eudamed_value(value: Any) -> str | None:
    """Eudamed fields come as plain strings or as ``{"code": ...}`` / ``{"texts": [{"text": ...}]}`` objects."""
    if isinstance(value, Mapping):
        if "code" in value:
            return clean_text(value.get("code"))
        texts = value.get("texts")
        if isinstance(texts, list):
            return clean_text([t.get("text") for t in texts if isinstance(t, Mapping)])
        return None
    return clean_text(value)


def eu_risk_class(value: Any) -> str | None:
    """``"refdata.risk-class.class-iia"`` -> ``"Class IIa"``; other values are kept without the refdata prefix."""
    code = _eudamed_value(value)
    if code is None:
        return None
    tail = code.rsplit(".", 1)[-1] if code.startswith("refdata.") else code
    match = re.fullmatch(r"class-?(i{1,3})(a|b)?", tail.casefold())
    if match:
        return f"Class {match.group(1).upper()}{match.group(2) or ''}"
    return tail


def emdn(nomenclatures: Any) -> dict[str, str | None]:
    """``emdn_code`` and ``emdn_term`` of an Eudamed detail record's ``cndNomenclatures`` (EMDN entries
    ``{"code": "P09120601", "description": {"texts": [{"language": {"isoCode": "en"}, "text": ...}]}}``),
    several joined with ``"; "``; the English text when there is one, else the first."""
    entries = [n for n in nomenclatures if isinstance(n, Mapping)] if isinstance(nomenclatures, list) else []
    codes, terms = [], []
    for entry in entries:
        code = clean_text(entry.get("code"))
        if code is None:
            continue
        texts = (entry.get("description") or {}).get("texts") if isinstance(entry.get("description"), Mapping) else None
        texts = [t for t in texts if isinstance(t, Mapping)] if isinstance(texts, list) else []
        english = [t for t in texts if isinstance(t.get("language"), Mapping) and t["language"].get("isoCode") == "en"]
        codes.append(code)
        terms.append(clean_text((english or texts or [{}])[0].get("text")) or "")
    return {"emdn_code": "; ".join(codes) or None, "emdn_term": "; ".join(terms) if any(terms) else None}


def eu_status(value: Any) -> str | None:
    """``"refdata.device-model-status.on-the-market"`` -> ``"on the market"``."""
    code = _eudamed_value(value)
    if code is None:
        return None
    tail = code.rsplit(".", 1)[-1] if code.startswith("refdata.") else code
    return tail.replace("-", " ")


def _blank_product_row(source: str) -> dict[str, Any]:
    return {column: None for column in TABLES["products"].columns} | {"source": source}


def products_table(
    classification: Iterable[Any] = (),
    udi: Iterable[Any] = (),
    registrationlisting: Iterable[Any] = (),
    eudamed: Iterable[Any] = (),
    resolution: Mapping[str, Any] | None = None,
) -> TidyTable:
    """``products``: one row per product listing. Key: (``source``, ``record_key``).

    - classification: one row per product code; ``record_key`` = product code; ``implant`` /
      ``life_sustaining`` from ``implant_flag`` / ``life_sustain_support_flag``.
    - udi (GUDID): one row per (device identifier, product code) of the record; ``udi_di`` is the
      primary DI; ``record_key`` = ``"<DI>|<code>"``.
    - registrationlisting: one row per (registration, product code, 510(k)/PMA number) of the
      listing; ``brand_name`` = the proprietary names; ``company_name`` = the registered
      establishment; ``record_key`` = ``"<registration>|<code>|<K or P number>"``.
    - eudamed: one row per UDI-DI; ``record_key`` = the Eudamed uuid (else the primary DI);
      ``eu_risk_class`` e.g. "Class IIa", ``eu_status`` e.g. "on the market". No product code.

    When the resolution names product codes, openFDA rows under other product codes (a UDI or a
    listing can carry several) are dropped and counted.
    """
    issues = _Issues()
    wanted = set(codes_in_scope(resolution))
    rows: list[dict[str, Any]] = []
    dropped = 0

    for record in _mappings(classification, issues):
        code, _ = normalise_product_code(record.get("product_code"))
        if code is None:
            issues.add("classification record(s) without a product code (skipped)")
            continue
        if wanted and code not in wanted:
            dropped += 1
            continue
        rows.append(
            _blank_product_row("classification")
            | {
                "product_code": code,
                "device_name": clean_text(record.get("device_name")),
                "device_class": clean_text(record.get("device_class")),
                "regulation_number": clean_text(record.get("regulation_number")),
                "review_panel": clean_text(record.get("review_panel")),
                "implant": parse_flag(record.get("implant_flag")),
                "life_sustaining": parse_flag(record.get("life_sustain_support_flag")),
                "record_key": code,
            }
        )

    for record in _mappings(udi, issues):
        identifiers = record.get("identifiers") if isinstance(record.get("identifiers"), list) else []
        primary = next(
            (clean_text(i.get("id")) for i in identifiers if isinstance(i, Mapping) and clean_text(i.get("type")) == "Primary"),
            None,
        )
        di = primary or clean_text(record.get("public_device_record_key"))
        if di is None:
            issues.add("UDI record(s) without a primary DI or record key (skipped)")
            continue
        codes = record.get("product_codes")
        entries = [c for c in codes if isinstance(c, Mapping)] if isinstance(codes, list) else []
        if not entries:
            entries = [{}]
        for entry in entries:
            code, _ = normalise_product_code(entry.get("code"))
            if wanted and code not in wanted:
                dropped += 1
                continue
            openfda = _openfda(entry.get("openfda"))
            rows.append(
                _blank_product_row("udi")
                | {
                    "product_code": code,
                    "device_name": clean_text(openfda.get("device_name")) or clean_text(entry.get("name")),
                    "device_class": clean_text(openfda.get("device_class")),
                    "regulation_number": clean_text(openfda.get("regulation_number")),
                    "brand_name": clean_text(record.get("brand_name")),
                    "model_number": clean_text(record.get("version_or_model_number")),
                    "company_name": clean_text(record.get("company_name")),
                    "udi_di": primary,
                    "record_key": f"{di}|{code or ''}",
                }
            )

    for record in _mappings(registrationlisting, issues):
        registration = _openfda(record.get("registration"))
        number = clean_text(registration.get("registration_number")) or clean_text(registration.get("fei_number"))
        if number is None:
            issues.add("registration record(s) without a registration number (skipped)")
            continue
        owner = _openfda(registration.get("owner_operator"))
        submission = clean_text(record.get("k_number")) or clean_text(record.get("pma_number")) or ""
        for product in _items(record, "products", issues):
            code, _ = normalise_product_code(product.get("product_code"))
            if wanted and code not in wanted:
                dropped += 1
                continue
            openfda = _openfda(product.get("openfda"))
            rows.append(
                _blank_product_row("registrationlisting")
                | {
                    "product_code": code,
                    "device_name": clean_text(openfda.get("device_name")),
                    "device_class": clean_text(openfda.get("device_class")),
                    "regulation_number": clean_text(openfda.get("regulation_number")),
                    "brand_name": clean_text(record.get("proprietary_name")),
                    "company_name": clean_text(registration.get("name")) or clean_text(owner.get("firm_name")),
                    "record_key": f"{number}|{code or ''}|{submission}",
                }
            )

    for record in _mappings(eudamed, issues):
        primary = _eudamed_value(record.get("primaryDi"))
        key = _eudamed_value(record.get("uuid")) or primary
        if key is None:
            issues.add("Eudamed record(s) without uuid or primaryDi (skipped)")
            continue
        rows.append(
            _blank_product_row("eudamed")
            | {
                "device_name": _eudamed_value(record.get("deviceName")),
                "brand_name": _eudamed_value(record.get("tradeName")),
                "model_number": _eudamed_value(record.get("reference")) or _eudamed_value(record.get("modelName")),
                "company_name": _eudamed_value(record.get("manufacturerName")),
                "udi_di": primary,
                "basic_udi_di": _eudamed_value(record.get("basicUdi")),
                "eu_risk_class": eu_risk_class(record.get("riskClass")),
                "eu_status": eu_status(record.get("deviceStatusType")),
                "manufacturer_srn": _eudamed_value(record.get("manufacturerSrn")),
                **emdn(record.get("cndNomenclatures")),
                "record_key": key,
            }
        )

    frame, removed = _dedupe(_frame("products", rows), TABLES["products"].key)
    notes = issues.notes()
    if dropped:
        notes.append(f"{dropped} listing row(s) under product codes other than the device's and its comparators' dropped")
    if removed:
        notes.append(f"{removed} repeated product row(s) removed (same source and record_key)")
    return TidyTable("products", frame, removed, notes, dict(issues.counters))


# --------------------------------------------------------------------------------------------
# count queries: daily series, problem-term counts, totals


def _rows(line: Mapping[str, Any], issues: _Issues) -> list[Any]:
    rows = line.get("rows")
    if rows is None:
        return []
    if not isinstance(rows, list):
        issues.add("count query line(s) whose rows are not a list (skipped)")
        return []
    return rows


def other_reports_per_day(daily: pd.DataFrame) -> tuple[pd.Series, int]:
    """Other = all − Death − Injury − Malfunction for each day of one date field's ``event_counts`` rows.

    Returns the positive differences (a Series of ints indexed by day; zero days are omitted) and the
    number of days where the difference was negative (clipped to 0: an upstream inconsistency). A
    typed series without a row on a day counts 0 that day.
    """
    if daily.empty:
        return pd.Series([], dtype="int64"), 0
    wide = daily.pivot_table(index="date", columns="event_type", values="n_reports", aggfunc="sum", fill_value=0)
    wide = wide.reindex(columns=["all", "Death", "Injury", "Malfunction"], fill_value=0).astype("int64")
    other = wide["all"] - wide["Death"] - wide["Injury"] - wide["Malfunction"]
    negative = int((other < 0).sum())
    other = other.clip(lower=0)
    return other[other > 0], negative


def event_counts_table(count_queries: Iterable[Any]) -> TidyTable:
    """``event_counts``: reports of the device per day. Key: (``date``, ``date_field``, ``event_type``).

    Read from the device-scope count queries on ``date_received`` (per event type: all, Death,
    Injury, Malfunction) and ``date_of_event`` (all). Date ranges are queried in chunks that may
    overlap, so a day can come back more than once: it is counted once (when two answers differ,
    the larger is kept and the conflict counted). Days without reports have no row.

    ``Other`` = all − Death − Injury − Malfunction for each day with an ``all`` count, when the three
    typed series were queried for that date field. A negative difference is an upstream
    inconsistency (e.g. the series were counted at different times): it is clipped to 0 and the
    number of such days is in the notes.
    """
    issues = _Issues()
    rows: list[dict[str, Any]] = []
    queried: dict[str, set[str]] = defaultdict(set)
    truncated = 0
    for line in _mappings(count_queries, issues):
        date_field = clean_text(line.get("field"))
        if clean_text(line.get("scope")) != "device" or date_field not in DATE_FIELDS:
            continue
        event_type = clean_text(line.get("event_type")) or "all"
        if event_type not in COUNT_EVENT_TYPES or event_type == "Other":
            issues.add("count query line(s) with an unknown event_type (skipped)", example=event_type)
            continue
        queried[date_field].add(event_type)
        truncated += bool(line.get("truncated"))
        for item in _rows(line, issues):
            if not isinstance(item, Mapping):
                issues.add("count row(s) that are not objects (skipped)")
                continue
            day, _ = parse_date(item.get("time"))
            count, _ = parse_count(item.get("count"))
            if day is None or count is None:
                issues.add("count row(s) with an unreadable time or count (skipped)", example=f"{item.get('time')}: {item.get('count')}")
                continue
            rows.append({"date": day, "date_field": date_field, "event_type": event_type, "n_reports": count})
    frame = _frame("event_counts", rows)
    key = list(TABLES["event_counts"].key)
    before = len(frame)
    if before:
        spread = frame.groupby(key, sort=False)["n_reports"].agg(["min", "max"])
        conflicts = int((spread["min"] != spread["max"]).sum())
        if conflicts:
            issues.add("day(s) counted differently by overlapping date chunks (larger count kept)", n=conflicts)
        frame = frame.groupby(key, as_index=False, sort=True)["n_reports"].max()
    removed = before - len(frame)

    clipped = 0
    computed = []
    others = []
    for date_field in DATE_FIELDS:
        if not {"all", "Death", "Injury", "Malfunction"} <= queried.get(date_field, set()):
            continue
        computed.append(date_field)
        other, negative = other_reports_per_day(frame[frame["date_field"] == date_field])
        clipped += negative
        others += [{"date": day, "date_field": date_field, "event_type": "Other", "n_reports": n} for day, n in other.items()]
    if others:
        frame = pd.concat([frame, _frame("event_counts", others)], ignore_index=True)
    frame = frame.sort_values(["date_field", "event_type", "date"], kind="stable")
    frame = _frame("event_counts", frame.to_dict("records"))
    if clipped:
        issues.add("day(s) where all − Death − Injury − Malfunction was negative", n=clipped, counter="other_negative_days_clipped")
    notes = issues.notes()
    if removed:
        notes.append(f"{removed} day row(s) repeated by overlapping date chunks removed (each day counted once)")
    if computed:
        notes.append(
            f"Other = all − Death − Injury − Malfunction per day ({', '.join(computed)}); "
            f"{clipped} day(s) had a negative difference, an upstream inconsistency, clipped to 0"
        )
    else:
        notes.append("Other not computed: the all/Death/Injury/Malfunction date series were not all queried")
    if truncated:
        notes.append(f"{truncated} date count query(ies) returned the full row limit and may be missing days")
    counters = {"other_negative_days_clipped": clipped} | dict(issues.counters)
    return TidyTable("event_counts", frame, removed, notes, counters)


def problem_counts_table(count_queries: Iterable[Any]) -> TidyTable:
    """``problem_counts``: reports with a problem term. Key: (``scope``, ``product_code``, ``problem_type``, ``period``, ``term``).

    Read from the count queries on ``product_problems.exact`` (device) and
    ``patient.patient_problems.exact`` (patient), for the device (``period`` "all" and per year) and
    the comparators ("all"). ``truncated`` is True when the query returned the full term limit, so
    rarer terms may be missing (openFDA ``count`` gives no total). Blank terms are dropped.
    """
    issues = _Issues()
    rows = []
    truncated_queries = 0
    for line in _mappings(count_queries, issues):
        problem_type = _PROBLEM_FIELDS.get(clean_text(line.get("field")) or "")
        if problem_type is None:
            continue
        scope = clean_text(line.get("scope"))
        period = clean_text(line.get("period")) or "all"
        event_type = clean_text(line.get("event_type")) or "all"
        if scope not in ("device", "comparator") or not _PERIOD.match(period) or event_type != "all":
            issues.add("problem count line(s) with an unknown scope, period or event_type (skipped)", example=f"{scope}/{period}/{event_type}")
            continue
        code, _ = normalise_product_code(line.get("product_code"))
        is_truncated = bool(line.get("truncated"))
        truncated_queries += is_truncated
        for item in _rows(line, issues):
            if not isinstance(item, Mapping):
                issues.add("count row(s) that are not objects (skipped)")
                continue
            term = clean_text(item.get("term"))
            count, _bad = parse_count(item.get("count"))
            if term is None:
                issues.add("blank problem term(s) dropped")
                continue
            if count is None:
                issues.add("count row(s) with an unreadable count (skipped)", example=item.get("count"))
                continue
            rows.append(
                {
                    "scope": scope,
                    "product_code": code,
                    "problem_type": problem_type,
                    "term": term,
                    "period": period,
                    "n_reports": count,
                    "truncated": is_truncated,
                }
            )
    frame, removed = _dedupe(_frame("problem_counts", rows), TABLES["problem_counts"].key)
    notes = issues.notes()
    if removed:
        notes.append(f"{removed} repeated term count(s) removed (same scope, code, type, period and term; first kept)")
    if truncated_queries:
        notes.append(f"{truncated_queries} problem count query(ies) returned the full term limit (truncated: rarer terms may be missing)")
    return TidyTable("problem_counts", frame, removed, notes, dict(issues.counters))


def report_totals_table(totals: Iterable[Any]) -> TidyTable:
    """``report_totals``: reports of one product code in one period. Key: (``scope``, ``product_code``, ``period``,
    ``problem_type``).

    A total line's ``subset`` (missing: ``all``) gives ``problem_type``: ``all`` reports, or those carrying a
    ``device`` (``device_problem``) or ``patient`` (``patient_problem``) problem code. A line without a count
    (a total by code whose count query was truncated) is skipped and counted in the notes.
    """
    issues = _Issues()
    rows = []
    for line in _mappings(totals, issues):
        scope = clean_text(line.get("scope"))
        period = clean_text(line.get("period")) or "all"
        problem_type = _SUBSET_PROBLEM_TYPES.get(clean_text(line.get("subset")) or "all")
        count, _bad = parse_count(line.get("n_reports"))
        if scope not in ("device", "comparator") or not _PERIOD.match(period) or problem_type is None or count is None:
            issues.add("total line(s) with an unknown scope, period or subset or no count (skipped)",
                       example=f"{scope}/{period}/{line.get('subset')}/{line.get('n_reports')}")
            continue
        rows.append({"scope": scope, "product_code": normalise_product_code(line.get("product_code"))[0], "period": period,
                     "problem_type": problem_type, "n_reports": count})
    frame, removed = _dedupe(_frame("report_totals", rows), TABLES["report_totals"].key)
    notes = issues.notes()
    if removed:
        notes.append(f"{removed} repeated total(s) removed (first kept)")
    return TidyTable("report_totals", frame, removed, notes, dict(issues.counters))


def summary_reports_table(count_queries: Iterable[Any]) -> TidyTable:
    """``summary_reports``: the device's reports per year by ``summary_report_flag`` (Y / N). Key: (``scope``,
    ``product_code``, ``period``, ``summary_report_flag``).

    Read from the count queries on ``summary_report_flag(.exact)``. Reports without the flag (a source that does
    not carry it) have no row, so Y + N below the period's total means the flag is unknown for the rest.
    """
    issues = _Issues()
    rows = []
    for line in _mappings(count_queries, issues):
        if (clean_text(line.get("field")) or "").removesuffix(".exact") != "summary_report_flag":
            continue
        scope, period = clean_text(line.get("scope")), clean_text(line.get("period")) or "all"
        if scope not in ("device", "comparator") or not _PERIOD.match(period):
            issues.add("summary-report count line(s) with an unknown scope or period (skipped)", example=f"{scope}/{period}")
            continue
        code, _ = normalise_product_code(line.get("product_code"))
        for item in _rows(line, issues):
            flag = clean_text(item.get("term")) if isinstance(item, Mapping) else None
            count, _bad = parse_count(item.get("count")) if isinstance(item, Mapping) else (None, True)
            if flag is None or flag.upper() not in ("Y", "N") or count is None:
                issues.add("summary_report_flag count row(s) other than Y / N with a count (skipped)", example=item)
                continue
            rows.append({"scope": scope, "product_code": code, "period": period, "summary_report_flag": flag.upper(),
                         "n_reports": count})
    frame, removed = _dedupe(_frame("summary_reports", rows), TABLES["summary_reports"].key)
    notes = issues.notes()
    if removed:
        notes.append(f"{removed} repeated summary-report count(s) removed (first kept)")
    return TidyTable("summary_reports", frame, removed, notes, dict(issues.counters))


# --------------------------------------------------------------------------------------------
# all tables at once


def grouped_events(events: TidyTable, texts: pd.DataFrame) -> TidyTable:
    """``events`` with the reports of one event marked (`cer_lib.tables.event_groups`): ``event_group``
    (the key of the group's earliest report), ``event_group_size`` and ``grouped_by``."""
    frame = events.frame.copy()
    if len(frame):
        groups = event_groups(frame, texts)
        dtypes = TABLES["events"].dtypes
        for column, source in (("event_group", "group"), ("event_group_size", "group_size"), ("grouped_by", "grouped_by")):
            frame[column] = pd.Series(groups[source].to_numpy(), index=frame.index).astype(dtypes[column])
    return dataclasses.replace(events, frame=frame)


def build_device_tables(
    records: Mapping[str, Sequence[Any]],
    counts: Sequence[Any] = (),
    totals: Sequence[Any] = (),
    resolution: Mapping[str, Any] | None = None,
) -> dict[str, TidyTable]:
    """Every device table from the collected inputs (records by source name, as in ``collected/records``)."""
    events = records.get("device_event") or []
    recalls = recalls_table(records.get("device_recall") or [], resolution)
    texts = event_texts_table(events)
    tables = [
        grouped_events(events_table(events), texts.frame),
        event_devices_table(events),
        event_problems_table(events),
        texts,
        patient_outcomes_table(events),
        recalls,
        enforcement_table(records.get("device_enforcement") or [], resolution, recalls.frame),
        submissions_table(records.get("device_510k") or [], records.get("device_pma") or []),
        products_table(
            records.get("device_classification") or [],
            records.get("device_udi") or [],
            records.get("device_registrationlisting") or [],
            records.get("eudamed") or [],
            resolution,
        ),
        event_counts_table(counts),
        problem_counts_table(counts),
        report_totals_table(totals),
        summary_reports_table(counts),
    ]
    return {table.name: table for table in tables}


__all__ = [
    "EVENT_TYPES",
    "OUTCOME_CODES",
    "PREDICATES_NOTE",
    "DistinctReports",
    "TidyTable",
    "build_device_tables",
    "clean_text",
    "codes_in_scope",
    "distinct_event_records",
    "enforcement_table",
    "emdn",
    "eu_risk_class",
    "eu_status",
    "event_counts_table",
    "event_devices_table",
    "event_problems_table",
    "event_texts_table",
    "events_table",
    "grouped_events",
    "normalise_event_type",
    "normalise_product_code",
    "other_reports_per_day",
    "parse_count",
    "parse_date",
    "parse_flag",
    "parse_outcomes",
    "patient_outcomes_table",
    "problem_counts_table",
    "products_table",
    "recalls_table",
    "report_totals_table",
    "submissions_table",
    "text_list",
]
