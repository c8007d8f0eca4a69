"""Values of the MAUDE flat files, cleaned as FDA's pipeline cleans them.

Dates (``MM/DD/YYYY``, ``YYYY/MM/DD``, ``DD-MON-YY``, ...) become ``YYYYMMDD``; keys written as
``" 1234.0"`` become ``"1234"``; coded fields (event type, text type, report source, ...) are
decoded with FDA's enumeration table; ``sequence_number_outcome`` / ``sequence_number_treatment``
are split on ``;`` (entries stripped: openFDA keeps the space, ``["1. H", " 2. O"]``;
`outcome_code` reads both) and ``source_type`` / ``remedial_action`` / ``type_of_report`` on ``,``.

Multi-patient reports: in the ``patient`` file the outcome (and treatment) field of patient *k*
repeats the entries of patients 1..k-1 before its own (Ensign & Cohen 2017, tables 4a/4b; e.g.
``D`` / ``D;H`` / ``D;H;L``); `split_concatenated` undoes it.
"""
from __future__ import annotations

import re
from typing import Any

from .....dates import compact_date

__all__ = ["ENUMS", "OUTCOME_LABELS", "clean_row", "outcome_code", "decode_outcome", "split_concatenated"]

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


def clean_row(row: dict[str, Any]) -> tuple[dict[str, Any], int]:
    """A row's values cleaned (see the module docstring), and the number of dates it could not
    read (those values are dropped, as FDA's pipeline drops them)."""
    cleaned: dict[str, Any] = {}
    unparsed = 0
    for key, value in row.items():
        if not key:
            continue
        value = value.strip() if isinstance(value, str) else value
        if key in _KEY_COLUMNS and isinstance(value, str):
            value = value.removesuffix(".0")
        if key in _DATE_KEYS and value:
            date = compact_date(value)
            if date is None:
                unparsed += 1
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
    return cleaned, unparsed


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
