"""The demo mirror: real public data when ``../shared/realdata`` is there, a synthetic sample when not.

`ensure_demo_mirror` builds the mirror folder at ``settings.demo_mirror_dir`` (``.cache/mirror/demo``,
git-ignored) in the layout `cer_lib.sources.mirror` reads, and returns it. It is idempotent and
cheap: a second call only reads ``mirror.json`` and stats a few files. It rebuilds when the real
data appear or disappear, or when the generator changes.

- **Real data** (``settings.realdata_dir`` holds the in2bones openFDA extract): the files are
  *symlinked*, never copied - the in2bones ``device/event`` JSON, its recall / 510(k) / UDI CSVs,
  FDA's ``foiclass.txt``, the six publisher MAUDE sheets and the Eudamed records. ``mirror.json``
  says ``"synthetic": false``, names the public repositories the files come from, lists every file
  with its sha256, and dates the mirror by the latest ``date_received`` of its device events.
- **Synthetic sample** (no real data): a few hundred seeded, made-up device events over five years
  for the demo product code HWC (bone fixation screw) and three comparators under the same
  regulation number 888.3040, a minimal product-classification file with them and some
  neighbours, and a couple of recalls, enforcement reports, 510(k)s and UDI records. Every text
  says it is synthetic and ``mirror.json`` says ``"synthetic": true``: the report prints that on
  every page. The bytes are the same on every machine (fixed seed, fixed dates).

The demo product code is ``HWC`` in both cases (`DEMO_PRODUCT_CODE`).
"""
from __future__ import annotations

import datetime as dt
import fcntl
import json
import os
import random
import shutil
from pathlib import Path
from typing import Any

from ..errors import MirrorError
from ..provenance import sha256_file, utc_now
from ..settings import Settings
from .mirror import MANIFEST_NAME

__all__ = ["ensure_demo_mirror", "synthetic_events", "DEMO_PRODUCT_CODE"]

DEMO_PRODUCT_CODE = "HWC"
GENERATOR_VERSION = 2  # bump when the demo layout or the synthetic generator changes

# (file under realdata, place in the mirror, role); a glob takes every match
REAL_FILES: tuple[tuple[str, str, str], ...] = (
    ("openfda/in2bones/openFDA_raw_data.json", "device/event/openFDA_raw_data.json", "device events (openFDA device/event results)"),
    ("openfda/in2bones/recall_data.csv", "device/recall/recall_data.csv", "recalls (publisher CSV)"),
    ("openfda/in2bones/510k_data.csv", "device/510k/510k_data.csv", "510(k) clearances (publisher CSV)"),
    ("openfda/in2bones/udi_data.csv", "device/udi/udi_data.csv", "GUDID records (publisher CSV)"),
    ("classification/foiclass.txt", "classification/foiclass.txt", "FDA product classification"),
    ("maude/*.xlsx", "maude-sheets/", "MAUDE reports by brand (publisher sheets, no product code)"),
    ("eudamed/udi-di-records.json", "eudamed/udi-di-records.json", "Eudamed UDI-DI records"),
)
REAL_SOURCES = (
    {"files": "device/event/openFDA_raw_data.json", "repository": "KhalilAMARDJIA/open_FDA", "commit": "cd0a376",
     "what": "raw openFDA device/event results of one manufacturer (IN2BONES), 43 reports 2016-11..2021-09"},
    {"files": "device/{recall,510k,udi}/*.csv", "repository": "KhalilAMARDJIA/open_FDA", "commit": "8e714c9 / 3faa396",
     "what": "the same company's recalls, 510(k)s and GUDID rows, flattened by the publisher"},
    {"files": "classification/foiclass.txt", "repository": "Frederic1011/CICC-IBD-Healthcare-FDA510k-Weekly-Tracker",
     "commit": "9b47137", "what": "FDA product-classification file, 7,039 product codes"},
    {"files": "maude-sheets/*.xlsx", "repository": "Praveenkumarbalaji251/medical-device-litigation-benchmark",
     "commit": "04e2843", "license": "Apache-2.0",
     "what": "MAUDE reports pulled from openFDA by brand and flattened (no product code)"},
    {"files": "eudamed/udi-di-records.json", "repository": "lmt991931-alt/eudamed-device-monitor-example",
     "commit": "dcb8fd5", "what": "3 Eudamed devices/udiDiData records"},
)
_REQUIRED_REAL = "openfda/in2bones/openFDA_raw_data.json"


def mirror_folder(mirror: Path | str | None, settings: Settings) -> Path:
    """The mirror a run reads: the folder given, or the demo mirror (built on first use) when none is."""
    if mirror is None:
        return ensure_demo_mirror(settings)
    folder = Path(mirror).expanduser()
    if not folder.is_dir():
        raise MirrorError(f"mirror folder {folder} does not exist (MIRROR=... or `mirror:` in the parameters)")
    return folder


def ensure_demo_mirror(settings: Settings | None = None) -> Path:
    """Build the demo mirror at ``settings.demo_mirror_dir`` unless it is current; return its folder."""
    settings = settings or Settings.from_env()
    target = Path(settings.demo_mirror_dir)
    realdata = Path(settings.realdata_dir)
    real = (realdata / _REQUIRED_REAL).is_file()
    stamp = {
        "generator_version": GENERATOR_VERSION,
        "mode": "real" if real else "synthetic",
        "realdata_dir": str(realdata.resolve()) if real else None,
    }
    if _is_current(target, stamp):
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with open(target.parent / f".{target.name}.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # one builder at a time (parallel batch runs)
        if _is_current(target, stamp):  # built by another process while we waited
            return target
        building = target.parent / f".{target.name}.tmp-{os.getpid()}"
        if building.exists():
            shutil.rmtree(building)
        building.mkdir()
        try:
            if real:
                _build_real(building, realdata, stamp)
            else:
                _build_synthetic(building, stamp)
            _swap_into_place(building, target)
        finally:
            if building.exists():
                shutil.rmtree(building)
    return target


def _is_current(target: Path, stamp: dict[str, Any]) -> bool:
    manifest_path = target / MANIFEST_NAME
    if not manifest_path.is_file():
        return False
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    if manifest.get("build") != stamp:
        return False
    for item in manifest.get("files", []):
        path = target / item["path"]
        try:
            if path.stat().st_size != item.get("bytes"):
                return False
        except OSError:  # a dangling symlink or a deleted file
            return False
    return True


def _swap_into_place(building: Path, target: Path) -> None:
    """Replace ``target`` by the freshly built folder (the old one is removed: its symlinks, not their targets)."""
    old = target.parent / f".{target.name}.old-{os.getpid()}"
    had_old = target.exists() or target.is_symlink()
    if had_old:
        os.replace(target, old)
    try:
        os.replace(building, target)
    except OSError as exc:
        if had_old and not target.exists():
            os.replace(old, target)  # put the previous mirror back
        raise MirrorError(f"could not put the demo mirror in place at {target} ({exc}); delete that folder and retry") from None
    if had_old:
        if old.is_symlink():
            old.unlink()
        else:
            shutil.rmtree(old)


def _write_manifest(folder: Path, manifest: dict[str, Any]) -> None:
    files = []
    for path in sorted(p for p in folder.rglob("*") if p.is_file() and p.name != MANIFEST_NAME):
        rel = path.relative_to(folder).as_posix()
        entry: dict[str, Any] = {"path": rel, "sha256": sha256_file(path), "bytes": path.stat().st_size}
        if path.is_symlink():
            entry["target"] = os.readlink(path)
        files.append(entry)
        entry["role"] = _role_for(rel, synthetic=bool(manifest.get("synthetic")))
    manifest["files"] = files
    (folder / MANIFEST_NAME).write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def _role_for(rel: str, *, synthetic: bool) -> str:
    if synthetic:
        return "synthetic " + rel.rsplit("/", 1)[0]
    for _source, place, role in REAL_FILES:
        if rel == place or (place.endswith("/") and rel.startswith(place)):
            return role
    return rel.rsplit("/", 1)[0]


def _latest_date_received(paths: list[Path]) -> str | None:
    latest = ""
    for path in paths:
        data = json.loads(path.read_text(encoding="utf-8"))
        results = data.get("results", []) if isinstance(data, dict) else data
        for record in results:
            if isinstance(record, dict):
                latest = max(latest, str(record.get("date_received") or ""))
    return f"{latest[:4]}-{latest[4:6]}-{latest[6:8]}" if len(latest) == 8 and latest.isdigit() else None


# ----------------------------------------------------------------------------------------------
# real data: symlinks


def _build_real(folder: Path, realdata: Path, stamp: dict[str, Any]) -> None:
    realdata = realdata.resolve()
    linked = []
    for source, place, _role in REAL_FILES:
        matches = sorted(realdata.glob(source)) if "*" in source else [realdata / source]
        for path in matches:
            if not path.is_file():
                continue
            link = folder / place / path.name if place.endswith("/") else folder / place
            link.parent.mkdir(parents=True, exist_ok=True)
            link.symlink_to(path)
            linked.append(link)
    events = [p for p in linked if p.parent.name == "event" and p.suffix == ".json"]
    _write_manifest(folder, {
        "name": "demo",
        "synthetic": False,
        "created": utc_now(),
        "product_code": DEMO_PRODUCT_CODE,
        "description": (
            "Demo mirror of REAL public data (US FDA openFDA / MAUDE, EU Eudamed), symlinked from "
            f"{realdata}; nothing here is synthetic. The device events are one manufacturer's "
            "openFDA extract (IN2BONES, product code HWC among others), the MAUDE sheets are "
            "publisher-flattened reports by brand without product codes."
        ),
        "last_updated": _latest_date_received(events),
        "last_updated_rule": "the latest date_received of the device/event files",
        "sources": list(REAL_SOURCES),
        "build": stamp,
    })


# ----------------------------------------------------------------------------------------------
# synthetic sample

SYNTHETIC_FIRM = "SYNTHETIC ORTHO INC. (DEMO DATA)"
_START, _END = dt.date(2019, 1, 1), dt.date(2023, 12, 31)

# (product code, device name, regulation, class, specialty, events) - real FDA codes, made-up events
SYNTHETIC_CODES = (
    ("HWC", "Screw, Fixation, Bone", "888.3040", "2", "OR", 220),
    ("HTY", "Pin, Fixation, Smooth", "888.3040", "2", "OR", 60),
    ("JDW", "Pin, Fixation, Threaded", "888.3040", "2", "OR", 45),
    ("NDJ", "Screw, Fixation, Bone, Non-Spinal, Metallic", "888.3040", "2", "OR", 55),
)
# neighbours in the classification file only (no events)
SYNTHETIC_NEIGHBOURS = (
    ("HRS", "Plate, Fixation, Bone", "888.3030", "2", "OR"),
    ("HTN", "Washer, Bolt Nut", "888.3030", "2", "OR"),
    ("JDR", "Staple, Fixation, Bone", "888.3030", "2", "OR"),
    ("LXH", "Orthopedic Manual Surgical Instrument", "888.4540", "1", "OR"),
    ("KWH", "Prosthesis, Toe, Constrained, Polymer", "888.3720", "2", "OR"),
    ("DQY", "Catheter, Percutaneous", "870.1250", "2", "CV"),
)
_PRODUCT_PROBLEMS = (
    ("Break", 10), ("Fracture", 6), ("Material Fragmentation", 5), ("Loosening of Implant Not Related to Bone-Ingrowth", 4),
    ("Migration", 3), ("Material Twisted/Bent", 3), ("Difficult to Insert", 2), ("Device Slipped", 2),
    ("Mechanical Problem", 2), ("Insufficient Information", 3), ("Adverse Event Without Identified Device or Use Problem", 2),
)
_PATIENT_PROBLEMS = (
    ("No Clinical Signs, Symptoms or Conditions", 10), ("Pain", 6), ("Failure of Implant", 4), ("Bone Fracture(s)", 3),
    ("Unspecified Infection", 2), ("Device Embedded In Tissue or Plaque", 4), ("No Consequences Or Impact To Patient", 5),
    ("Insufficient Information", 2), ("Non-union Bone Fracture", 2),
)
_EVENT_TYPES = (("Malfunction", 70), ("Injury", 25), ("Death", 1), ("Other", 4))
_OUTCOMES = {"Malfunction": ("",), "Injury": ("1. R", "1. H", "1. O"), "Death": ("1. D",), "Other": ("1. O", "")}


def _pick(rng: random.Random, weighted: tuple[tuple[str, int], ...], boost: dict[str, int] | None = None) -> str:
    names = [name for name, _ in weighted]
    weights = [weight * (boost or {}).get(name, 1) for name, weight in weighted]
    return rng.choices(names, weights=weights, k=1)[0]


_VMSR_START = dt.date(2017, 8, 1)  # FDA's Voluntary Malfunction Summary Reporting Program


def synthetic_events(seed: int = 20190101) -> list[dict[str, Any]]:
    """Made-up device events in openFDA record shape (deterministic for a seed)."""
    rng = random.Random(seed)
    span = (_END - _START).days
    events: list[dict[str, Any]] = []
    serial = 0
    for code, device_name, regulation, device_class, _specialty, n in SYNTHETIC_CODES:
        boost = {"Break": 3} if code == "HWC" else None  # a disproportionate term for the demo's signal tables
        for _ in range(n):
            serial += 1
            # HWC reports grow over time (a trend for the demo); the others are flat
            offset = int(span * (rng.random() ** 0.7 if code == "HWC" else rng.random()))
            received = _START + dt.timedelta(days=offset)
            event_date = received - dt.timedelta(days=rng.randint(0, 60))
            event_type = _pick(rng, _EVENT_TYPES)
            problems = sorted({_pick(rng, _PRODUCT_PROBLEMS, boost) for _ in range(rng.choice((1, 1, 2)))})
            patient_problems = sorted({_pick(rng, _PATIENT_PROBLEMS) for _ in range(rng.choice((1, 1, 2)))})
            brand = f"SYNTHETIC {device_name.split(',')[0].upper()} {rng.choice(('2.7', '3.5', '4.0', '6.5'))}MM"
            key = str(9000000 + serial)
            events.append({
                "mdr_report_key": key,
                "report_number": f"9999999-{received.year}-{serial:05d}",
                "date_received": received.strftime("%Y%m%d"),
                "date_of_event": event_date.strftime("%Y%m%d") if rng.random() > 0.1 else "",
                "event_type": event_type,
                "report_source_code": "Manufacturer report",
                # every 25th malfunction received since the VMSR program (August 2017) is a summary report
                "summary_report_flag": "Y" if event_type == "Malfunction" and received >= _VMSR_START
                and serial % 25 == 0 else "N",
                "adverse_event_flag": "N" if event_type == "Malfunction" else "Y",
                "product_problem_flag": "Y",
                "manufacturer_name": SYNTHETIC_FIRM,
                "product_problems": problems,
                "device": [{
                    "device_sequence_number": "1",
                    "brand_name": brand,
                    "generic_name": device_name.upper(),
                    "manufacturer_d_name": SYNTHETIC_FIRM,
                    "model_number": f"SYN-{code}-{rng.randint(100, 999)}",
                    "device_report_product_code": code,
                    "openfda": {
                        "device_name": device_name,
                        "medical_specialty_description": "Orthopedic",
                        "regulation_number": regulation,
                        "device_class": device_class,
                    },
                }],
                "patient": [{
                    "patient_sequence_number": "1",
                    "date_received": received.strftime("%Y%m%d"),
                    "sequence_number_treatment": [""],
                    "sequence_number_outcome": [rng.choice(_OUTCOMES[event_type])],
                    "patient_problems": patient_problems,
                }],
                "mdr_text": [{
                    "mdr_text_key": str(70000000 + serial),
                    "text_type_code": "Description of Event or Problem",
                    "patient_sequence_number": "1",
                    "text": (
                        f"SYNTHETIC DEMO REPORT, NOT A REAL EVENT. IT WAS REPORTED THAT A {brand} "
                        f"({device_name.upper()}) SHOWED: {', '.join(problems).upper()}. "
                        f"PATIENT: {', '.join(patient_problems).upper()}."
                    ),
                }],
            })
    events.sort(key=lambda e: (e["date_received"], int(e["mdr_report_key"])))
    return events


def _synthetic_registries() -> dict[str, list[dict[str, Any]]]:
    def openfda(code: str) -> dict[str, str]:
        name, regulation, klass = next((n, r, c) for k, n, r, c, _s, _e in SYNTHETIC_CODES if k == code)
        return {"device_name": name, "medical_specialty_description": "Orthopedic", "regulation_number": regulation, "device_class": klass}

    recalls = [
        {"cfres_id": "990001", "product_res_number": "Z-9001-2021", "res_event_number": "99001", "product_code": "HWC",
         "event_date_initiated": "2021-03-15", "event_date_posted": "2021-04-02", "event_date_terminated": "2022-01-20",
         "recall_status": "Terminated", "recalling_firm": SYNTHETIC_FIRM, "root_cause_description": "Process control",
         "reason_for_recall": "SYNTHETIC DEMO RECORD: screws of one lot may break under load.",
         "product_description": "SYNTHETIC BONE SCREW 3.5MM, lot SYN-0001", "action": "SYNTHETIC: customers were told to quarantine the lot.",
         "k_numbers": ["K999001"], "openfda": openfda("HWC")},
        {"cfres_id": "990002", "product_res_number": "Z-9002-2023", "res_event_number": "99002", "product_code": "HWC",
         "event_date_initiated": "2023-06-01", "event_date_posted": "2023-06-20", "recall_status": "Open, Classified",
         "recalling_firm": SYNTHETIC_FIRM, "root_cause_description": "Device design",
         "reason_for_recall": "SYNTHETIC DEMO RECORD: thread geometry out of specification.",
         "product_description": "SYNTHETIC BONE SCREW 6.5MM, all lots", "action": "SYNTHETIC: replacement offered.",
         "k_numbers": ["K999002"], "openfda": openfda("HWC")},
        {"cfres_id": "990003", "product_res_number": "Z-9003-2020", "res_event_number": "99003", "product_code": "HTY",
         "event_date_initiated": "2020-09-10", "event_date_posted": "2020-10-01", "event_date_terminated": "2021-05-05",
         "recall_status": "Terminated", "recalling_firm": SYNTHETIC_FIRM, "root_cause_description": "Labeling",
         "reason_for_recall": "SYNTHETIC DEMO RECORD: wrong length printed on the label.",
         "product_description": "SYNTHETIC SMOOTH PIN 2.0MM", "action": "SYNTHETIC: relabelling.", "k_numbers": [],
         "openfda": openfda("HTY")},
    ]
    enforcement = [
        {"recall_number": r["product_res_number"], "event_id": r["res_event_number"], "status": r["recall_status"].split(",")[0],
         "classification": "Class II", "product_type": "Devices", "recalling_firm": SYNTHETIC_FIRM,
         "reason_for_recall": r["reason_for_recall"], "product_description": r["product_description"],
         "recall_initiation_date": r["event_date_initiated"].replace("-", ""), "report_date": r["event_date_posted"].replace("-", ""),
         "voluntary_mandated": "Voluntary: Firm initiated", "openfda": {}}
        for r in recalls
    ]
    clearances = [
        {"k_number": "K999001", "product_code": "HWC", "applicant": SYNTHETIC_FIRM, "device_name": "SYNTHETIC BONE SCREW SYSTEM",
         "date_received": "2018-02-01", "decision_date": "2018-05-10", "decision_code": "SESE",
         "decision_description": "Substantially Equivalent", "clearance_type": "Traditional", "advisory_committee": "OR",
         "openfda": openfda("HWC")},
        {"k_number": "K999002", "product_code": "HWC", "applicant": SYNTHETIC_FIRM, "device_name": "SYNTHETIC CANNULATED SCREW",
         "date_received": "2020-07-01", "decision_date": "2020-09-30", "decision_code": "SESE",
         "decision_description": "Substantially Equivalent", "clearance_type": "Special", "advisory_committee": "OR",
         "openfda": openfda("HWC")},
        {"k_number": "K999003", "product_code": "HTY", "applicant": SYNTHETIC_FIRM, "device_name": "SYNTHETIC SMOOTH PIN",
         "date_received": "2017-03-01", "decision_date": "2017-06-15", "decision_code": "SESE",
         "decision_description": "Substantially Equivalent", "clearance_type": "Traditional", "advisory_committee": "OR",
         "openfda": openfda("HTY")},
    ]
    udi = [
        {"public_device_record_key": f"00000000-0000-4000-8000-00000000000{i}", "brand_name": name, "company_name": SYNTHETIC_FIRM,
         "version_or_model_number": model, "device_description": f"SYNTHETIC DEMO RECORD: {name}",
         "commercial_distribution_status": "In Commercial Distribution", "public_version_date": "2022-01-15",
         "identifiers": [{"id": di, "type": "Primary", "issuing_agency": "GS1"}],
         "product_codes": [{"code": "HWC", "name": "Screw, Fixation, Bone", "openfda": openfda("HWC")}],
         "premarket_submissions": [{"submission_number": k}]}
        for i, (name, model, di, k) in enumerate((
            ("SYNTHETIC BONE SCREW 3.5MM", "SYN-HWC-350", "00000000000017", "K999001"),
            ("SYNTHETIC CANNULATED SCREW 6.5MM", "SYN-HWC-650", "00000000000024", "K999002"),
        ), 1)
    ]
    return {"recall": recalls, "enforcement": enforcement, "510k": clearances, "udi": udi}


def _synthetic_foiclass() -> str:
    header = ("REVIEW_PANEL|MEDICALSPECIALTY|PRODUCTCODE|DEVICENAME|DEVICECLASS|UNCLASSIFIED_REASON|GMPEXEMPTFLAG|"
              "THIRDPARTYFLAG|REVIEWCODE|REGULATIONNUMBER|SUBMISSION_TYPE_ID|DEFINITION|PHYSICALSTATE|TECHNICALMETHOD|"
              "TARGETAREA|Implant_Flag|Life_Sustain_support_flag|SummaryMalfunctionReporting")
    rows = [header]
    codes = [(c, n, r, k, s) for c, n, r, k, s, _e in SYNTHETIC_CODES] + list(SYNTHETIC_NEIGHBOURS)
    for code, name, regulation, klass, specialty in sorted(codes):
        implant = "Y" if specialty == "OR" and code not in ("LXH",) else "N"
        rows.append(f"{specialty}|{specialty}|{code}|{name}|{klass}||N|N||{regulation}|1|||||{implant}|N|Eligible")
    return "\r\n".join(rows) + "\r\n"


def _bulk(results: list[dict[str, Any]], last_updated: str) -> str:
    meta = {
        "disclaimer": "SYNTHETIC DEMO DATA generated by cer_lib.sources.demo; these are not real FDA records.",
        "last_updated": last_updated,
        "results": {"skip": 0, "limit": len(results), "total": len(results)},
    }
    return json.dumps({"meta": meta, "results": results}, indent=1, ensure_ascii=False) + "\n"


def _build_synthetic(folder: Path, stamp: dict[str, Any]) -> None:
    events = synthetic_events()
    latest = max(e["date_received"] for e in events)
    last_updated = f"{latest[:4]}-{latest[4:6]}-{latest[6:]}"
    files = {"device/event/synthetic-device-events.json": _bulk(events, last_updated)}
    for endpoint, records in _synthetic_registries().items():
        files[f"device/{endpoint}/synthetic-{endpoint}.json"] = _bulk(records, last_updated)
    files["classification/foiclass.txt"] = _synthetic_foiclass()
    files["eudamed/synthetic-udi-di-records.json"] = json.dumps([{
        "basicUdi": "SYNTHETICDEMO0001", "primaryDi": "00000000000017", "uuid": "00000000-0000-4000-8000-000000000101",
        "deviceName": None, "tradeName": "SYNTHETIC BONE SCREW 3.5MM", "riskClass": "refdata.risk-class.class-iib",
        "manufacturerName": SYNTHETIC_FIRM, "manufacturerSrn": "XX-MF-000000000",
        "authorisedRepresentativeName": None, "deviceStatusType": "refdata.device-model-status.on-the-market",
        "lastUpdateDate": None,
    }], indent=1) + "\n"
    for rel, text in files.items():
        path = folder / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(text.encode("utf-8"))
    codes = ", ".join(c for c, *_ in SYNTHETIC_CODES)
    _write_manifest(folder, {
        "name": "demo",
        "synthetic": True,
        "created": utc_now(),
        "product_code": DEMO_PRODUCT_CODE,
        "description": (
            "SYNTHETIC demo sample generated by cer_lib.sources.demo (fixed seed) because the real public data "
            f"folder was not found: {len(events)} made-up device events {_START}..{_END} for product codes {codes} "
            "(regulation 888.3040), a few recalls, enforcement reports, 510(k)s and UDI records. "
            "Not real reports: do not draw any conclusion from them."
        ),
        "last_updated": last_updated,
        "last_updated_rule": "the latest date_received of the synthetic device events",
        "sources": [{"files": "*", "generator": "cer_lib.sources.demo", "generator_version": GENERATOR_VERSION, "seed": 20190101}],
        "build": stamp,
    })
