"""FDA product-classification flat file (``foiclass.txt``): one row per device product code.

The file is ``|``-delimited with a header row (``REVIEW_PANEL|MEDICALSPECIALTY|PRODUCTCODE|
DEVICENAME|DEVICECLASS|...|REGULATIONNUMBER|...``), Windows line ends, Windows-1252 text. FDA
ships it alone or as ``foiclass.zip``. Rows come out with the field names of openFDA's
``device/classification`` endpoint (``product_code``, ``device_name``, ``device_class``,
``regulation_number``, ``medical_specialty_description``, ...), so a classification looked up
here and one fetched from the API read the same.

`product_codes` is the fast path the preflight uses to refuse unknown codes before a run starts.
"""
from __future__ import annotations

import zipfile
from pathlib import Path
from typing import Any

import pandas as pd

from ..errors import MirrorError

__all__ = [
    "find_classification_file", "read_foiclass", "foiclass_frame", "product_codes", "classification_index",
    "MEDICAL_SPECIALTIES",
]

# foiclass header -> openFDA device/classification field
FIELD_NAMES = {
    "REVIEW_PANEL": "review_panel",
    "MEDICALSPECIALTY": "medical_specialty",
    "PRODUCTCODE": "product_code",
    "DEVICENAME": "device_name",
    "DEVICECLASS": "device_class",
    "UNCLASSIFIED_REASON": "unclassified_reason",
    "GMPEXEMPTFLAG": "gmp_exempt_flag",
    "THIRDPARTYFLAG": "third_party_flag",
    "REVIEWCODE": "review_code",
    "REGULATIONNUMBER": "regulation_number",
    "SUBMISSION_TYPE_ID": "submission_type_id",
    "DEFINITION": "definition",
    "PHYSICALSTATE": "physical_state",
    "TECHNICALMETHOD": "technical_method",
    "TARGETAREA": "target_area",
    "IMPLANT_FLAG": "implant_flag",
    "LIFE_SUSTAIN_SUPPORT_FLAG": "life_sustain_support_flag",
    "SUMMARYMALFUNCTIONREPORTING": "summary_malfunction_reporting",
}

# FDA advisory-committee (medical specialty) codes, as openFDA spells them out.
MEDICAL_SPECIALTIES = {
    "AN": "Anesthesiology",
    "CH": "Clinical Chemistry",
    "CV": "Cardiovascular",
    "DE": "Dental",
    "EN": "Ear, Nose, Throat",
    "GU": "Gastroenterology, Urology",
    "HE": "Hematology",
    "HO": "General Hospital",
    "IM": "Immunology",
    "MG": "Medical Genetics",
    "MI": "Microbiology",
    "NE": "Neurology",
    "OB": "Obstetrics/Gynecology",
    "OP": "Ophthalmic",
    "OR": "Orthopedic",
    "PA": "Pathology",
    "PM": "Physical Medicine",
    "RA": "Radiology",
    "SU": "General, Plastic Surgery",
    "TX": "Clinical Toxicology",
}

_CANDIDATES = (
    "classification/foiclass.txt",
    "classification/foiclass.zip",
    "classification/foiclass.txt.zip",
    "foiclass.txt",
    "foiclass.zip",
)


def find_classification_file(mirror_dir: Path) -> Path | None:
    """The product-classification file of a mirror folder, or None when it has none.

    Looks for ``classification/foiclass.txt`` (or ``.zip``), then ``foiclass.txt`` at the top,
    then any ``classification/foiclass*`` file.
    """
    mirror_dir = Path(mirror_dir)
    for candidate in _CANDIDATES:
        path = mirror_dir / candidate
        if path.is_file():
            return path
    folder = mirror_dir / "classification"
    if folder.is_dir():
        found = sorted(p for p in folder.glob("foiclass*") if p.is_file())
        if found:
            return found[0]
    return None


def _read_bytes(path: Path) -> bytes:
    path = Path(path)
    try:
        if path.suffix.lower() == ".zip":
            with zipfile.ZipFile(path) as archive:
                names = [n for n in archive.namelist() if n.lower().endswith(".txt")] or archive.namelist()
                if not names:
                    raise MirrorError(f"{path}: the zip archive is empty; re-download foiclass.zip from FDA")
                return archive.read(names[0])
        return path.read_bytes()
    except FileNotFoundError:
        raise MirrorError(f"{path}: no such file; put FDA's foiclass.txt in the mirror's classification/ folder") from None
    except zipfile.BadZipFile:
        raise MirrorError(f"{path}: not a readable zip archive; re-download foiclass.zip from FDA") from None


def _decode(data: bytes) -> str:
    for encoding in ("utf-8", "cp1252"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    return data.decode("latin-1")


def _header_and_lines(path: Path) -> tuple[list[str], list[str]]:
    text = _decode(_read_bytes(path)).lstrip("\ufeff")
    lines = [line.rstrip("\r") for line in text.split("\n") if line.strip()]
    if not lines:
        raise MirrorError(f"{path}: empty classification file; re-download foiclass.txt from FDA")
    header = [h.strip().upper() for h in lines[0].split("|")]
    if "PRODUCTCODE" not in header:
        raise MirrorError(
            f"{path}: no PRODUCTCODE column in the header ({'|'.join(header[:5])}...); "
            "this is not FDA's foiclass.txt - download it from the FDA product classification page"
        )
    return header, lines[1:]


def read_foiclass(path: Path) -> list[dict[str, Any]]:
    """Every row as a dict with openFDA ``device/classification`` field names.

    ``medical_specialty_description`` is added from the ``MEDICALSPECIALTY`` code. Rows with a
    different number of fields than the header are skipped (FDA's file has none).
    """
    header, lines = _header_and_lines(path)
    names = [FIELD_NAMES.get(h, h.lower()) for h in header]
    rows = []
    for line in lines:
        values = line.split("|")
        if len(values) != len(names):
            continue
        row = {name: value.strip() for name, value in zip(names, values)}
        specialty = row.get("medical_specialty", "")
        row["medical_specialty_description"] = MEDICAL_SPECIALTIES.get(specialty, specialty)
        rows.append(row)
    return rows


def foiclass_frame(path: Path) -> pd.DataFrame:
    """`read_foiclass` as a DataFrame (all columns text)."""
    return pd.DataFrame(read_foiclass(path), dtype="string")


def product_codes(path: Path) -> set[str]:
    """Every product code in the file (fast: one split per line)."""
    header, lines = _header_and_lines(path)
    column = header.index("PRODUCTCODE")
    codes = set()
    for line in lines:
        values = line.split("|")
        if len(values) > column and values[column].strip():
            codes.add(values[column].strip().upper())
    return codes


def classification_index(path: Path) -> dict[str, dict[str, str]]:
    """Product code -> the ``openfda`` block openFDA puts on a device event's device.

    (``device_name``, ``device_class``, ``regulation_number``, ``medical_specialty_description``).
    """
    index = {}
    for row in read_foiclass(path):
        index[row["product_code"]] = {
            "device_name": row.get("device_name", ""),
            "medical_specialty_description": row.get("medical_specialty_description", ""),
            "regulation_number": row.get("regulation_number", ""),
            "device_class": row.get("device_class", ""),
        }
    return index
