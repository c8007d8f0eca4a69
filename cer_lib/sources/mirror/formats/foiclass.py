"""FDA product-classification file (``foiclass.txt``): one row per device product code, feeding
``device/classification``.

The file is ``|``-delimited with a header row (``REVIEW_PANEL|MEDICALSPECIALTY|PRODUCTCODE|
DEVICENAME|DEVICECLASS|...|REGULATIONNUMBER|...``), Windows line ends, Windows-1252 text. FDA
ships it alone or as ``foiclass.zip``. Rows come out with the field names of openFDA's
``device/classification`` endpoint (``product_code``, ``device_name``, ``device_class``,
``regulation_number``, ``medical_specialty_description``, ...), so a classification looked up
here and one fetched from the API read the same.

It is reference data, read whole or not at all: a row with the wrong number of fields, a product
code that is not three capital letters, a device class FDA does not use or a malformed
regulation number is rejected with its line, and the endpoint refuses a file with any rejected
row (a lost row is a product code reported as unknown, or a comparator silently missing). A
product code listed twice must agree on class and regulation number (`EndpointSpec.must_agree`,
checked by the query engine over every classification source); otherwise the first row in file
order is the one used, everywhere (search, comparators and the ``openfda`` block of MAUDE
flat-file events).

`product_codes` is the fast path the preflight uses to refuse unknown codes before a run starts;
it reads the file as strictly as the mirror does.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ....errors import MirrorError
from ..endpoints import DEVICE_ENDPOINTS
from ..load_report import FileLoadReport, Rejection
from ..textfiles import read_text_file, require_delimiter
from .base import Conversion, ConversionContext, FileFormat, SourceUnit

__all__ = [
    "FoiclassFormat", "ClassificationFile", "find_classification_file", "parse_foiclass", "read_foiclass",
    "product_codes", "MEDICAL_SPECIALTIES", "DEVICE_CLASSES",
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

# the DEVICECLASS values of FDA's file: classes 1-3, U (unclassified), N (not classified) and f
DEVICE_CLASSES = ("1", "2", "3", "U", "N", "f")
_PRODUCT_CODE = re.compile(r"[A-Z]{3}")
_REGULATION = re.compile(r"\d{3}\.\d{1,4}")

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


@dataclass
class ClassificationFile:
    """A classification file read: rows with their lines, rows rejected with line and reason."""

    path: Path
    encoding: str
    header: list[str]
    rows: list[tuple[int, dict[str, Any]]] = field(default_factory=list)  # (line, row)
    rejected: list[Rejection] = field(default_factory=list)

    def raise_if_rejected(self) -> None:
        if self.rejected:
            more = f" (and {len(self.rejected) - 1:,} more rejected rows)" if len(self.rejected) > 1 else ""
            raise MirrorError(
                f"{self.path}: {self.rejected[0].describe()}{more}; the classification file must be read whole: "
                "correct the row or re-download foiclass.txt from FDA"
            )


def _row_problem(row: dict[str, Any]) -> str | None:
    code = row.get("product_code", "")
    if not _PRODUCT_CODE.fullmatch(code):
        return f"product code {code!r} is not three capital letters"
    klass = row.get("device_class", "")
    if klass not in DEVICE_CLASSES:
        return f"{code}: device class {klass!r} is not one of FDA's {', '.join(DEVICE_CLASSES)}"
    regulation = row.get("regulation_number", "")
    if regulation and not _REGULATION.fullmatch(regulation):
        return f"{code}: regulation number {regulation!r} is not of the form 888.3040"
    return None


def parse_foiclass(path: Path) -> ClassificationFile:
    """Every row with openFDA ``device/classification`` field names and its line; malformed rows
    rejected with line and reason. ``medical_specialty_description`` is added from the
    ``MEDICALSPECIALTY`` code."""
    path = Path(path)
    if not path.is_file():
        raise MirrorError(f"{path}: no such file; put FDA's foiclass.txt in the mirror's classification/ folder")
    decoded = read_text_file(path, legacy="cp1252")
    lines = decoded.text.split("\n")
    first = next((i for i, line in enumerate(lines) if line.strip()), None)
    if first is None:
        raise MirrorError(f"{path}: line 1: empty classification file; re-download foiclass.txt from FDA")
    require_delimiter(lines[first], "|", path=path, lineno=first + 1, expected="FDA's foiclass.txt is '|'-delimited")
    header = [h.strip().upper() for h in lines[first].rstrip("\r").split("|")]
    if "PRODUCTCODE" not in header:
        raise MirrorError(
            f"{path}: line {first + 1}: no PRODUCTCODE column in the header ({'|'.join(header[:5])}...); "
            "this is not FDA's foiclass.txt - download it from the FDA product classification page"
        )
    names = [FIELD_NAMES.get(h, h.lower()) for h in header]
    read = ClassificationFile(path, decoded.encoding, header)
    for number, line in enumerate(lines[first + 1:], first + 2):
        line = line.rstrip("\r")
        if not line.strip():
            continue
        values = line.split("|")
        if len(values) != len(names):
            read.rejected.append(Rejection(number, f"{len(values)} fields, expected {len(names)} (a '|' inside a value, or a cut line?)"))
            continue
        row = {name: value.strip() for name, value in zip(names, values)}
        problem = _row_problem(row)
        if problem:
            read.rejected.append(Rejection(number, problem))
            continue
        specialty = row.get("medical_specialty", "")
        row["medical_specialty_description"] = MEDICAL_SPECIALTIES.get(specialty, specialty)
        read.rows.append((number, row))
    return read


def read_foiclass(path: Path) -> list[dict[str, Any]]:
    """Every row as a dict with openFDA ``device/classification`` field names; `MirrorError`
    naming the line when a row is malformed."""
    read = parse_foiclass(path)
    read.raise_if_rejected()
    return [row for _, row in read.rows]


def product_codes(path: Path) -> set[str]:
    """Every product code in the file (read as strictly as `read_foiclass`)."""
    return {row["product_code"] for row in read_foiclass(path)}


class FoiclassFormat(FileFormat):
    """FDA's ``foiclass.txt`` in ``classification/`` (or at the top of the mirror), see the module docstring."""

    name = "foiclass"
    priority = 3
    folders = ("classification",)
    feeds = (DEVICE_ENDPOINTS["device/classification"],)

    def units(self, folder: Path) -> list[SourceUnit]:
        path = find_classification_file(folder)
        return [self.unit(folder, "device/classification", [path])] if path is not None else []

    def convert(self, unit: SourceUnit, context: ConversionContext) -> Conversion:
        read = parse_foiclass(unit.paths[0])
        report = FileLoadReport(unit.name, unit.endpoint, self.name, encoding=read.encoding,
                                rows_read=len(read.rows) + len(read.rejected), rows_kept=len(read.rows))
        for rejection in read.rejected:
            report.reject(rejection.line, rejection.reason)
        return Conversion.of_records(self.endpoint(unit.endpoint), [row for _, row in read.rows], [unit.name] * len(read.rows),
                                     [report], lines=[line for line, _ in read.rows])
