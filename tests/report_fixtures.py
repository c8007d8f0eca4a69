"""A complete, realistic run folder for the report tests (narrative, document, HTML, PDF, book).

``make_run_folder(tmp_path)`` writes what stages 01-03 leave behind for product code HWC
(Screw, Fixation, Bone; 21 CFR 888.3040) and returns the run folder::

    parameters.yaml  run.json
    provenance/requests.jsonl  provenance/inputs.jsonl
    collected/status.json  collected/resolution.json
    tables/*.parquet (every table of cer_lib.tables.schemas, schema-valid)  tables/summary.json
    results/analysis.json
    figures/*.png  figures/*.svg (tiny real matplotlib figures)

Options:
- ``hostile=True`` puts markup, template syntax and Markdown into every untrusted text field that
  reaches the report: event narratives, recall reasons, firm names, product descriptions, brand
  names, problem terms, the device name and definition, and the reason of a failed source
  (`HOSTILE_STRINGS` lists the payloads).
- ``synthetic=True`` marks the data as synthetic in ``collected/status.json``.
- ``unavailable={"device_recall": "HTTP 503 after 5 retries"}`` marks sources unavailable, with
  their rows removed from the tables they feed.

The numbers are made up but internally consistent: monthly counts in analysis.json are computed
from tables/event_counts.parquet, event-type totals match, and so on.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from cer_lib.params import Parameters, save_parameters
from cer_lib.tables.schemas import TABLES, validate_table

CODE = "HWC"
RUN_ID = "20240615T120000Z-1a2b3c4"
AS_OF = dt.date(2024, 6, 15)
WINDOW_START = dt.date(2019, 1, 1)
COMPARATORS = [("HTY", "Pin, Fixation, Smooth", "2"), ("JDW", "Pin, Fixation, Threaded", "2"),
               ("NDJ", "Screw, Fixation, Bone, Non-Spinal, Metallic", "2")]
GIT_COMMIT = "0123456789abcdef0123456789abcdef01234567"
LOCK_SHA = "5f2b6e1c9d8a7b6c5d4e3f2a1b0c9d8e7f6a5b4c3d2e1f0a9b8c7d6e5f4a3b2c1"

HOSTILE_STRINGS = (
    "<script>alert(1)</script>",
    "<img src=x onerror=alert(1)>",
    "{{ 7*7 }}",
    "{% for x in range(3) %}X{% endfor %}",
    "</table>",
    "</div></section>",
    "[click me](javascript:alert(1))",
    "*bold* _under_ | pipe | `tick` $x^2$",
    "&lt;script&gt; &amp;",
    "\n# Injected heading\n- injected item",
)
HOSTILE = " ".join(HOSTILE_STRINGS)  # one string carrying every payload

SOURCES = ("device_event", "device_recall", "device_enforcement", "device_510k", "device_pma",
           "device_classification", "device_udi", "device_registrationlisting", "eudamed")
ENDPOINTS = {
    "device_event": "/device/event.json", "device_recall": "/device/recall.json",
    "device_enforcement": "/device/enforcement.json", "device_510k": "/device/510k.json",
    "device_pma": "/device/pma.json", "device_classification": "/device/classification.json",
    "device_udi": "/device/udi.json", "device_registrationlisting": "/device/registrationlisting.json",
}
# which tables a source feeds (rows removed when the source is unavailable)
_SOURCE_TABLES = {
    "device_event": ("events", "event_devices", "event_problems", "event_texts", "patient_outcomes",
                     "event_counts", "problem_counts", "report_totals", "summary_reports"),
    "device_recall": ("recalls",), "device_enforcement": ("enforcement",),
    "device_510k": ("submissions",), "device_pma": ("submissions",),
}

DEVICE_TERMS = ["Break", "Loosening of Implant Not Related to Bone-Ingrowth", "Migration", "Fracture",
                "Device Dislodged or Dislocated", "Adverse Event Without Identified Device or Use Problem"]
PATIENT_TERMS = ["Pain", "Failure of Implant", "No Clinical Signs, Symptoms or Conditions",
                 "Bone Fracture(s)", "Infection"]


# ----------------------------------------------------------------------------------------------
# helpers


def _frame(name: str, rows: list[dict[str, Any]]) -> pd.DataFrame:
    """Rows -> a frame with exactly the schema's columns and dtypes (validated)."""
    dtypes = TABLES[name].dtypes
    data = {col: [row.get(col) for row in rows] for col in dtypes}
    frame = pd.DataFrame(data, columns=list(dtypes))
    for col, dtype in dtypes.items():
        if dtype.startswith("datetime64"):
            frame[col] = pd.to_datetime(frame[col]).astype(dtype)
        else:
            frame[col] = frame[col].astype(dtype)
    return validate_table(name, frame)


def _months(start: dt.date, end: dt.date) -> list[dt.date]:
    months, current = [], dt.date(start.year, start.month, 1)
    while current <= end:
        months.append(current)
        current = dt.date(current.year + (current.month == 12), current.month % 12 + 1, 1)
    return months


_FIGURE_CACHE: dict[tuple, tuple[bytes, bytes]] = {}


def _tiny_figure(path_png: Path, path_svg: Path, title: str, values: list[float]) -> None:
    """A real (tiny) matplotlib figure as PNG and SVG; drawn once per title and data."""
    key = (title, tuple(values))
    if key not in _FIGURE_CACHE:
        import io

        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(2.0, 1.2), dpi=40)
        ax.plot(range(len(values)), values, linewidth=1)
        ax.set_title(title, fontsize=5)
        ax.tick_params(labelsize=4)
        png, svg = io.BytesIO(), io.BytesIO()
        fig.savefig(png, format="png", metadata={"Software": None})
        fig.savefig(svg, format="svg", metadata={"Date": None})
        plt.close(fig)
        _FIGURE_CACHE[key] = (png.getvalue(), svg.getvalue())
    png_bytes, svg_bytes = _FIGURE_CACHE[key]
    path_png.write_bytes(png_bytes)
    path_svg.write_bytes(svg_bytes)


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _write_json(path: Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


# ----------------------------------------------------------------------------------------------
# the fixture


def make_run_folder(
    tmp_path: Path,
    *,
    hostile: bool = False,
    synthetic: bool = False,
    unavailable: Mapping[str, str] | None = None,
) -> Path:
    """Write a complete run folder under ``tmp_path/HWC/<run-id>`` and return its path."""
    unavailable = dict(unavailable or {})
    bad = set(unavailable) - set(SOURCES)
    if bad:
        raise ValueError(f"unknown source(s) {sorted(bad)}; sources are {SOURCES}")
    run = Path(tmp_path) / CODE / RUN_ID
    for sub in ("collected", "tables", "results", "figures", "provenance"):
        (run / sub).mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(20240615)
    evil = (lambda text: f"{text} {HOSTILE}") if hostile else (lambda text: text)

    # -- parameters.yaml and run.json -----------------------------------------------------------
    params = Parameters.model_validate(
        {"code": CODE, "kind": "product_code", "from": "mirror",
         "window": {"start": WINDOW_START.isoformat(), "end": AS_OF.isoformat()}}
    )
    save_parameters(params, run / "parameters.yaml")
    _write_json(run / "run.json", {
        "run_id": RUN_ID,
        "code": CODE,
        "kind": "product_code",
        "command": "cer report HWC --from mirror",
        "reproduce": [
            f"git checkout {GIT_COMMIT}",
            "make venv",
            f".venv/bin/cer report HWC --kind product_code --params outputs/HWC/{RUN_ID}/parameters.yaml",
        ],
        "started_utc": "2024-06-15T12:00:00Z",
        "code_version": {"git_commit": GIT_COMMIT, "dirty": False, "lock_sha256": LOCK_SHA},
        "tool_version": "0.1.0",
    })

    # -- collected/ -------------------------------------------------------------------------------
    device_name = evil("Screw, Fixation, Bone")
    resolution = {
        "code": CODE, "kind": "product_code", "product_code": CODE, "device_name": device_name,
        "device_class": "2", "regulation_number": "888.3040", "review_panel": "OR",
        "medical_specialty": "OR", "implant": True, "life_sustaining": False,
        "definition": evil("Metallic bone fixation screw intended for fracture fixation."),
        "comparators": [{"product_code": c, "device_name": n, "device_class": k} for c, n, k in COMPARATORS],
        "comparators_truncated": False,
    }
    _write_json(run / "collected" / "resolution.json", resolution)

    # -- event counts per day and the review sample ---------------------------------------------
    months = _months(WINDOW_START, AS_OF)
    count_rows: list[dict[str, Any]] = []
    monthly: dict[tuple[dt.date, str], int] = {}
    for i, month in enumerate(months):
        last_day = (months[i + 1] - dt.timedelta(days=1)) if i + 1 < len(months) else AS_OF
        level = 9.0 * (1.0 + 0.012 * i) * (1.35 if month >= dt.date(2022, 7, 1) else 1.0)
        if last_day == AS_OF and AS_OF.day < 28:
            level *= AS_OF.day / 30.0
        for event_type, share in (("Malfunction", 0.68), ("Injury", 0.27), ("Death", 0.015), ("Other", 0.035)):
            n = int(rng.poisson(level * share))
            monthly[(month, event_type)] = n
            if n:
                day = dt.date(month.year, month.month, min(15, last_day.day))
                count_rows.append({"date": day, "date_field": "date_received", "event_type": event_type, "n_reports": n})
        total = sum(monthly[(month, t)] for t in ("Malfunction", "Injury", "Death", "Other"))
        if total:
            day = dt.date(month.year, month.month, min(15, last_day.day))
            count_rows.append({"date": day, "date_field": "date_received", "event_type": "all", "n_reports": total})

    sample = 40
    event_rows, device_rows, problem_rows, text_rows, outcome_rows = [], [], [], [], []
    types = ["Malfunction"] * 26 + ["Injury"] * 11 + ["Death"] * 1 + ["Other"] * 2
    for k in range(sample):
        key = str(9100000 + k)
        received = AS_OF - dt.timedelta(days=3 + 9 * k)
        event_type = types[k]
        event_rows.append({
            "mdr_report_key": key, "report_number": f"3004154314-{received.year}-{k:05d}",
            "date_received": received, "date_of_event": received - dt.timedelta(days=20),
            "event_type": event_type, "event_type_raw": event_type,
            "adverse_event_flag": event_type != "Malfunction", "product_problem_flag": True,
            "report_source": "Manufacturer report", "source_type": "Company representation",
            "manufacturer_name": evil("ACME ORTHOPAEDICS INC.") if k % 5 == 0 else "ACME ORTHOPAEDICS INC.",
            "event_location": None, "n_devices": 1, "n_patients": 1, "event_key": None,
        })
        device_rows.append({
            "mdr_report_key": key, "device_sequence_number": 1, "product_code": CODE,
            "brand_name": evil("ACME CANNULATED SCREW") if k == 0 else "ACME CANNULATED SCREW",
            "generic_name": "SCREW, FIXATION, BONE", "manufacturer_name": "ACME ORTHOPAEDICS INC.",
            "model_number": f"CS-{40 + k % 6}", "catalog_number": None, "lot_number": None,
            "implant_flag": True, "device_name": "Screw, Fixation, Bone", "device_class": "2",
            "regulation_number": "888.3040",
        })
        problem_rows.append({"mdr_report_key": key, "problem_type": "device",
                             "term": DEVICE_TERMS[k % len(DEVICE_TERMS)], "patient_sequence_number": None})
        problem_rows.append({"mdr_report_key": key, "problem_type": "patient",
                             "term": PATIENT_TERMS[k % len(PATIENT_TERMS)], "patient_sequence_number": 1})
        description = (
            f"IT WAS REPORTED THAT DURING A FOLLOW-UP VISIT THE SCREW WAS FOUND BROKEN (CASE {k}). "
            "THE PATIENT UNDERWENT REVISION SURGERY. NO FURTHER INFORMATION WAS PROVIDED. "
        )
        if k == 1:
            description = description * 8  # a long narrative: truncated in tables, full text available
        if hostile and k < 3:
            description = f"{HOSTILE} {description}"
        text_rows.append({"mdr_report_key": key, "mdr_text_key": f"{key}1", "text_type": "Description of Event or Problem",
                          "patient_sequence_number": 1, "text": description})
        text_rows.append({"mdr_report_key": key, "mdr_text_key": f"{key}2", "text_type": "Additional Manufacturer Narrative",
                          "patient_sequence_number": 1,
                          "text": evil("THE DEVICE WAS NOT RETURNED FOR EVALUATION.") if k == 0 else "THE DEVICE WAS NOT RETURNED FOR EVALUATION."})
        outcome = {"Death": "Death", "Injury": "Required intervention"}.get(event_type, "Other")
        outcome_rows.append({"mdr_report_key": key, "patient_sequence_number": 1, "outcome": outcome})

    # -- problem counts and totals (device and comparators) --------------------------------------
    problem_count_rows, total_rows = [], []
    device_term_n = {t: n for t, n in zip(DEVICE_TERMS, [212, 140, 96, 61, 33, 20])}
    patient_term_n = {t: n for t, n in zip(PATIENT_TERMS, [188, 120, 64, 41, 12])}
    if hostile:
        device_term_n[evil("Break")] = device_term_n.pop("Break")
    device_total = sum(v for (m, t), v in monthly.items())
    for term, n in device_term_n.items():
        problem_count_rows.append({"scope": "device", "product_code": CODE, "problem_type": "device", "term": term,
                                   "period": "all", "n_reports": n, "truncated": False})
    for term, n in patient_term_n.items():
        problem_count_rows.append({"scope": "device", "product_code": CODE, "problem_type": "patient", "term": term,
                                   "period": "all", "n_reports": n, "truncated": False})
    total_rows.append({"scope": "device", "product_code": CODE, "period": "all", "problem_type": "all",
                       "n_reports": device_total})
    for j, (code, _, _) in enumerate(COMPARATORS):
        for term, n in device_term_n.items():
            problem_count_rows.append({"scope": "comparator", "product_code": code, "problem_type": "device",
                                       "term": term, "period": "all", "n_reports": max(1, n // (2 + j)),
                                       "truncated": False})
        total_rows.append({"scope": "comparator", "product_code": code, "period": "all", "problem_type": "all",
                           "n_reports": 300 + 150 * j})

    # -- recalls, enforcement --------------------------------------------------------------------
    recall_rows = []
    recall_specs = [
        ("device", CODE, "Terminated", "2020-03-10", "ACME ORTHOPAEDICS INC.", "Device Design",
         "Screws may fracture during insertion.", "Cannulated bone screw 4.0 mm"),
        ("device", CODE, "Open, Classified", "2023-11-02", "ACME ORTHOPAEDICS INC.", "Process control",
         "Thread dimension out of specification in certain lots.", "Cannulated bone screw 6.5 mm"),
        ("device", CODE, "Completed", "2022-05-19", "BONEWORKS LTD", "Packaging",
         "Sterile barrier breach found in distribution.", "Locking screw, sterile"),
        ("comparator", "HTY", "Terminated", "2019-08-01", "PINCO MEDICAL", "Labeling mix-ups",
         "Wrong length printed on label.", "Smooth fixation pin"),
        ("comparator", "JDW", "Open, Classified", "2024-01-15", "THREADS SURGICAL", "Material/Component Contamination",
         "Particulate found on pins.", "Threaded fixation pin"),
        ("comparator", "NDJ", "Terminated", "2021-02-22", "METALWORKS ORTHO", "Device Design",
         "Head may separate from shaft.", "Non-spinal metallic bone screw"),
        ("comparator", "NDJ", "Completed", "2022-09-30", "METALWORKS ORTHO", "Nonconforming Material/Component",
         "Hardness below specification.", "Non-spinal metallic bone screw, 3.5 mm"),
    ]
    for i, (scope, code, status, initiated, firm, root, reason, description) in enumerate(recall_specs):
        recall_rows.append({
            "recall_key": f"R{190000 + i}", "res_event_number": str(85000 + i), "product_res_number": f"Z-{1000 + i}-{initiated[:4]}",
            "product_code": code, "scope": scope, "recall_status": status, "event_date_initiated": initiated,
            "event_date_posted": initiated, "event_date_terminated": None if status.startswith("Open") else "2024-01-01",
            "recalling_firm": evil(firm) if hostile and i in (0, 4) else firm, "root_cause_description": root,
            "reason_for_recall": evil(reason) if hostile else reason,
            "product_description": evil(description) if hostile and i == 1 else description,
            "action": "Firm sent letters to consignees.", "k_numbers": "K123456" if scope == "device" else None,
            "pma_numbers": None,
        })
    enforcement_rows = []
    enforcement_specs = [
        ("device", CODE, "Class II", "Terminated", "2020-03-10", "ACME ORTHOPAEDICS INC.", "Screws may fracture during insertion."),
        ("device", CODE, "Class II", "Ongoing", "2023-11-02", "ACME ORTHOPAEDICS INC.", "Thread dimension out of specification."),
        ("comparator", "JDW", "Class I", "Ongoing", "2024-01-15", "THREADS SURGICAL", "Particulate found on pins."),
        ("comparator", "NDJ", "Class II", "Terminated", "2021-02-22", "METALWORKS ORTHO", "Head may separate from shaft."),
    ]
    for i, (scope, code, klass, status, initiated, firm, reason) in enumerate(enforcement_specs):
        enforcement_rows.append({
            "recall_number": f"Z-{2000 + i}-{initiated[:4]}", "event_id": str(85000 + i), "classification": klass,
            "status": status, "recall_initiation_date": initiated, "report_date": initiated,
            "center_classification_date": initiated, "termination_date": None,
            "recalling_firm": evil(firm) if hostile and i == 0 else firm,
            "product_description": evil("Bone screw") if hostile else "Bone screw",
            "reason_for_recall": evil(reason) if hostile else reason, "product_quantity": "1,200 units",
            "distribution_pattern": "US nationwide", "product_code": code, "scope": scope,
        })

    # -- submissions, products -------------------------------------------------------------------
    submission_rows = []
    for i, (number, applicant, trade, received, decided) in enumerate([
        ("K171234", "ACME ORTHOPAEDICS INC.", "ACME Cannulated Screw System", "2017-03-01", "2017-06-20"),
        ("K193456", "BONEWORKS LTD", "BoneWorks Locking Screw", "2019-10-11", "2020-01-30"),
        ("K201111", "ACME ORTHOPAEDICS INC.", "ACME Headless Compression Screw", "2020-04-02", "2020-07-15"),
        ("K223344", "METALWORKS ORTHO", "MW Small Fragment Screw", "2022-02-14", "2022-05-03"),
        ("K230987", "ACME ORTHOPAEDICS INC.", "ACME Cannulated Screw System (line extension)", "2023-01-09", "2023-04-21"),
    ]):
        submission_rows.append({
            "submission_type": "510(k)", "number": number, "supplement_number": None, "product_code": CODE,
            "applicant": evil(applicant) if hostile and i == 0 else applicant, "device_name": "Screw, Fixation, Bone",
            "trade_name": evil(trade) if hostile and i == 1 else trade, "date_received": received, "decision_date": decided,
            "decision": "Substantially Equivalent (SESE)", "clearance_type": "Traditional", "advisory_committee": "OR",
            "predicates": None,
        })
    product_rows = [{
        "source": "classification", "product_code": CODE, "device_name": device_name, "device_class": "2",
        "regulation_number": "888.3040", "review_panel": "OR", "implant": True, "life_sustaining": False,
        "brand_name": None, "model_number": None, "company_name": None, "udi_di": None, "basic_udi_di": None,
        "eu_risk_class": None, "eu_status": None, "record_key": CODE,
    }]
    for i in range(4):
        product_rows.append({
            "source": "udi", "product_code": CODE, "device_name": "Screw, Fixation, Bone", "device_class": "2",
            "regulation_number": None, "review_panel": None, "implant": True, "life_sustaining": False,
            "brand_name": evil("ACME CANNULATED SCREW") if hostile and i == 0 else "ACME CANNULATED SCREW",
            "model_number": f"CS-{40 + i}", "company_name": "ACME ORTHOPAEDICS INC." if i < 3 else "BONEWORKS LTD",
            "udi_di": f"0088{i:010d}", "basic_udi_di": None, "eu_risk_class": None, "eu_status": None,
            "record_key": f"0088{i:010d}",
        })
    product_rows.append({
        "source": "registrationlisting", "product_code": CODE, "device_name": "Screw, Fixation, Bone", "device_class": "2",
        "regulation_number": "888.3040", "review_panel": None, "implant": None, "life_sustaining": None,
        "brand_name": "ACME CANNULATED SCREW", "model_number": None, "company_name": "ACME ORTHOPAEDICS INC.",
        "udi_di": None, "basic_udi_di": None, "eu_risk_class": None, "eu_status": None, "record_key": "E1234567",
    })
    for i in range(2):
        product_rows.append({
            "source": "eudamed", "product_code": None, "device_name": None, "device_class": None,
            "regulation_number": None, "review_panel": None, "implant": True, "life_sustaining": None,
            "brand_name": "ACME CANNULATED SCREW", "model_number": f"CS-{40 + i}",
            "company_name": evil("ACME ORTHOPAEDICS GMBH") if hostile and i == 0 else "ACME ORTHOPAEDICS GMBH",
            "udi_di": f"0088{i:010d}", "basic_udi_di": f"++ACMECS{i}", "eu_risk_class": "Class IIb",
            "eu_status": "On the EU market", "record_key": f"eu-{i}",
        })

    tables = {
        "events": event_rows, "event_devices": device_rows, "event_problems": problem_rows, "event_texts": text_rows,
        "patient_outcomes": outcome_rows, "recalls": recall_rows, "enforcement": enforcement_rows,
        "submissions": submission_rows, "products": product_rows, "event_counts": count_rows,
        "problem_counts": problem_count_rows, "report_totals": total_rows, "summary_reports": [],
    }
    for source in unavailable:
        for name in _SOURCE_TABLES.get(source, ()):
            if source == "device_pma":
                continue
            tables[name] = []
        if source in ("device_udi", "device_registrationlisting", "eudamed", "device_classification"):
            kind = {"device_udi": "udi", "device_registrationlisting": "registrationlisting",
                    "eudamed": "eudamed", "device_classification": "classification"}[source]
            tables["products"] = [r for r in tables["products"] if r["source"] != kind]
    summary_tables = {}
    for name, rows in tables.items():
        frame = _frame(name, rows)
        frame.to_parquet(run / "tables" / f"{name}.parquet", index=False)
        summary_tables[name] = {
            "rows": len(frame), "grain": TABLES[name].grain, "columns": list(frame.columns),
            "dtypes": TABLES[name].dtypes, "key": list(TABLES[name].key),
            "duplicates_removed": {"events": 2, "recalls": 1}.get(name, 0), "counters": {}, "notes": [],
        }

    # -- status.json -----------------------------------------------------------------------------
    sources_status = {}
    fetched = {"device_event": sample, "device_recall": 7, "device_enforcement": 4, "device_510k": 5, "device_pma": 0,
               "device_classification": 4, "device_udi": 4, "device_registrationlisting": 1, "eudamed": 2}
    for name in SOURCES:
        entry = {"status": "ok", "reason": None, "last_updated": "2024-06-11", "total": fetched[name],
                 "fetched": fetched[name], "truncated": False}
        if name in ENDPOINTS:
            codes = CODE if name in ("device_event", "device_510k", "device_pma", "device_udi") else \
                "(" + "+OR+".join(f'"{c}"' for c in [CODE] + [c for c, _, _ in COMPARATORS]) + ")"
            entry["details"] = {"search": f'product_code:{codes if codes.startswith("(") else chr(34) + codes + chr(34)}'}
        if name == "device_event":
            entry["total"] = device_total
        if name == "device_pma":
            entry.update(status="empty", reason="No matches found!")
        if name == "eudamed":
            entry["last_updated"] = None
        if name in unavailable:
            entry.update(status="unavailable", reason=evil(unavailable[name]) if hostile else unavailable[name],
                         total=None, fetched=0, last_updated=None)
        sources_status[name] = entry
    _write_json(run / "collected" / "status.json", {
        "origin": "mirror", "offline": False, "synthetic": synthetic, "mirror": ".cache/mirror/demo",
        "base_url": None, "sources": sources_status,
    })

    # -- provenance ------------------------------------------------------------------------------
    lines = []
    for name in SOURCES:
        endpoint = ENDPOINTS.get(name, "/devices/udiDiData")
        base = "https://api.fda.gov" if name in ENDPOINTS else "https://ec.europa.eu/tools/eudamed/api"
        url = f"{base}{endpoint}?search=product_code:HWC&limit=100"
        if hostile and name == "device_event":
            url += "&q=%3Cscript%3E<script>alert(1)</script>"
        lines.append(json.dumps({
            "source": name, "url": url, "time": "2024-06-15T12:00:0%dZ" % (len(lines) % 10),
            "status": 503 if name in unavailable else 200, "bytes": 1000 + 17 * len(lines),
            "sha256": hashlib.sha256(name.encode()).hexdigest(), "last_updated": sources_status[name]["last_updated"],
            "elapsed_seconds": 0.2, "from_cache": False, "error": None, "stage": "01_collect",
        }, sort_keys=True))
    (run / "provenance" / "requests.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")

    # -- figures ---------------------------------------------------------------------------------
    totals_by_month = [sum(monthly[(m, t)] for t in ("Malfunction", "Injury", "Death", "Other")) for m in months]
    figures = []
    for fig_id, title, caption in [
        ("monthly_counts", "MAUDE reports per month by event type", "Reports received per month (date_received); the last month is incomplete."),
        ("control_chart", "Control chart and CUSUM", "Shewhart c-chart with 3-sigma limits from the baseline; upper CUSUM."),
        ("change_points", "Change points", "PELT change points with segment means."),
        ("forecast", "Forecast", "ETS forecast with 80% and 95% prediction intervals."),
        ("problem_terms", evil("Top device and patient problem terms"), "Share of reports with each term."),
        ("disproportionality", "Disproportionality", "PRR with 95% CI per device problem term."),
    ]:
        png, svg = run / "figures" / f"{fig_id}.png", run / "figures" / f"{fig_id}.svg"
        _tiny_figure(png, svg, fig_id, totals_by_month)
        figures.append({"id": fig_id, "title": title, "caption": evil(caption) if hostile else caption,
                        "png": f"figures/{fig_id}.png", "svg": f"figures/{fig_id}.svg"})

    # -- analysis.json ---------------------------------------------------------------------------
    rows = []
    complete_months = [m for m in months if m < dt.date(AS_OF.year, AS_OF.month, 1)]
    for m in months:
        complete = m in complete_months
        for t in ("Death", "Injury", "Malfunction", "Other"):
            rows.append({"month": m.isoformat(), "event_type": t, "n_reports": monthly[(m, t)], "complete": complete})
        rows.append({"month": m.isoformat(), "event_type": "total",
                     "n_reports": sum(monthly[(m, t)] for t in ("Death", "Injury", "Malfunction", "Other")), "complete": complete})
    totals = {t: sum(monthly[(m, t)] for m in months) for t in ("Death", "Injury", "Malfunction", "Other")}
    totals["all"] = sum(totals.values())
    recent = complete_months[-12:]
    baseline = complete_months[-36:-12]
    total_of = lambda ms: sum(monthly[(m, t)] for m in ms for t in ("Death", "Injury", "Malfunction", "Other"))  # noqa: E731
    last = complete_months[-1]
    last_end = (dt.date(last.year + (last.month == 12), last.month % 12 + 1, 1) - dt.timedelta(days=1))
    signal_rows = []
    for term, a in list(device_term_n.items())[:5]:
        b = device_total - a
        c = sum(max(1, a // (2 + j)) for j in range(3))
        d = 750 + 450 - c
        ratio = (a / (a + b)) / (c / (c + d))
        signal_rows.append({
            "problem_type": "device", "product": CODE, "term": term, "a": a, "b": b, "c": c, "d": d,
            "E": round((a + b) * (a + c) / (a + b + c + d), 3), "PRR": round(ratio, 4),
            "PRR_lo": round(ratio * 0.8, 4), "PRR_hi": round(ratio * 1.25, 4), "chi2_yates": 12.5,
            "ROR": round(ratio * 1.1, 4), "ROR_lo": round(ratio * 0.85, 4), "ROR_hi": round(ratio * 1.4, 4),
            "IC": 0.41, "IC025": 0.12, "EBGM": 1.31, "EB05": 1.12, "EB95": 1.52,
            "evans_signal": term.startswith("Migration") or term.startswith("Loosening"),
            "eb05_signal": term.startswith("Migration"), "ic025_signal": False,
            "signal": term.startswith("Migration"),  # the primary screen is EB05
        })
    # Migration: flagged by both rules; Loosening: by the Evans rule only; the others by neither
    for row in signal_rows:
        if row["term"].startswith("Loosening"):
            row.update(PRR=2.21, PRR_lo=1.83, PRR_hi=2.67, chi2_yates=58.2, ROR=2.43, ROR_lo=1.96, ROR_hi=3.01)
        elif row["term"].startswith("Migration"):
            row.update(PRR=2.61, PRR_lo=2.05, PRR_hi=3.32, chi2_yates=61.7, ROR=2.87, ROR_lo=2.17, ROR_hi=3.79,
                       EBGM=2.64, EB05=2.11, EB95=3.28, IC=-0.25, IC025=None)
        else:
            row.update(PRR=round(min(row["PRR"], 1.4), 4), chi2_yates=1.2)
    signal_rows.append({
        "problem_type": "device", "product": "NDJ", "term": "Break", "a": 70, "b": 530, "c": 300, "d": 2000,
        "E": 76.6, "PRR": 0.91, "PRR_lo": 0.72, "PRR_hi": 1.15, "chi2_yates": 0.5, "ROR": 0.88, "ROR_lo": 0.66,
        "ROR_hi": 1.17, "IC": -0.13, "IC025": -0.48, "EBGM": 0.93, "EB05": 0.77, "EB95": 1.11,
        "evans_signal": False, "eb05_signal": False, "ic025_signal": False, "signal": False,
    })
    analysis = {
        "schema_version": 1,
        "meta": {
            "code": CODE, "kind": "product_code", "device_name": device_name,
            "window": {"start": WINDOW_START.isoformat(), "end": AS_OF.isoformat()}, "as_of": AS_OF.isoformat(),
            "inputs": [{"path": f"tables/{n}.parquet", "sha256": _sha(run / "tables" / f"{n}.parquet")}
                       for n in ("event_counts", "problem_counts", "report_totals")],
            "parameters": params.to_yaml_dict()["methods"],
        },
        "monthly_counts": {
            "date_field": "date_received",
            "method": "Reports received per calendar month (date_received), by event type; months not fully covered by the data are marked incomplete and excluded from tests.",
            "rows": rows, "totals": totals, "first_month": months[0].isoformat(),
            "last_complete_month": last.isoformat(), "n_complete_months": len(complete_months),
            "incomplete_month": months[-1].isoformat(),
            "lag_guard_months": 1, "lag_guard_cutoff": (AS_OF - dt.timedelta(days=31)).isoformat(),
        },
        "trend": {
            "status": "ok", "reason": "", "model": "Negative binomial GLM",
            "method": "Log-linear GLM of monthly report counts on time in years; negative binomial (NB2) because the Pearson dispersion exceeded 1.5.",
            "dispersion": 1.87, "overdispersed": True, "rate_ratio_per_year": 1.1234, "ci_low": 1.0411,
            "ci_high": 1.2122, "p_value": 0.0027,
            "verdict": {
                "verdict": "increase",
                "method": "Exact conditional test of the recent window against the baseline (Poisson, dispersion-adjusted), one-sided at alpha.",
                "alpha": 0.05,
                "recent": {"start": recent[0].isoformat(), "end": last_end.isoformat(), "months": len(recent), "n_reports": total_of(recent)},
                "baseline": {"start": baseline[0].isoformat(), "end": (recent[0] - dt.timedelta(days=1)).isoformat(),
                             "months": len(baseline), "n_reports": total_of(baseline)},
                "rate_ratio": 1.3512, "ci_low": 1.1203, "ci_high": 1.6287, "p_value": 0.00042,
                "baseline_label": "full baseline", "reduced_baseline": False,
            },
            "primary": {"event_type": "total", "verdict": "increase", "p_value": 0.00042,
                        "rule": "Primary trend test, fixed before the data are seen: the trend-reporting verdict on all reports."},
            "by_event_type": {
                "Injury": {"verdict": {"verdict": "no significant increase", "rate_ratio": 1.21, "p_value": 0.083},
                           "role": "secondary", "p_holm": 0.249},
                "Death": {"verdict": {"verdict": "insufficient data", "rate_ratio": None, "p_value": None},
                          "role": "secondary", "p_holm": None},
            },
            "control_chart": {"method": "Shewhart c-chart by phase: limits from the baseline (phase I), signals in the monitoring window (phase II).",
                              "status": "ok", "centre": 14.21, "ucl": 25.52, "lcl": 2.9,
                              "baseline": {"start": baseline[0].isoformat(), "end": baseline[-1].isoformat(), "months": 24, "reduced": False},
                              "monitoring": {"start": recent[0].isoformat(), "end": last.isoformat()},
                              "phase_one_excluded": [baseline[3].isoformat()],
                              "false_alarm_probability_window_known": 0.0212, "false_alarm_probability_window_estimated": 0.0437,
                              "signals": [{"month": "2024-02-01", "n_reports": 27}]},
            "cusum": {"method": "Upper Poisson CUSUM (Lucas 1985) for a 1.5-fold shift.", "status": "ok", "k": 16.91, "h": 4.2,
                      "monitoring": {"start": recent[0].isoformat(), "end": last.isoformat()},
                      "false_alarm_probability_window_known": 0.0251, "false_alarm_probability_window_estimated": 0.0398,
                      "first_alarm": "2024-03-01"},
            "shares": {
                "serious": {"measure": "serious share", "status": "ok", "verdict": "no significant increase", "reason": "p >= alpha",
                            "method": "Serious share: death and injury reports among all reports, by month.",
                            "recent": {"start": recent[0].isoformat(), "end": last.isoformat(), "numerator": 31, "denominator": 190, "share": 0.1632},
                            "baseline": {"start": baseline[0].isoformat(), "end": baseline[-1].isoformat(), "numerator": 52, "denominator": 330, "share": 0.1576},
                            "share_ratio": 1.0356, "ci_low": 0.6912, "ci_high": 1.5517, "p_value": 0.4671},
                "family": {"measure": "share of the comparator family's reports", "status": "not available",
                           "verdict": "insufficient data",
                           "reason": "not available: the comparator product codes' reports are collected for the whole window only"},
            },
            "robustness": [
                {"measure": "report counts (verdict, c-chart, CUSUM, GLM, change points)", "robust_to_growth_in_use": "no",
                 "why": "more devices in use give more reports"},
                {"measure": "serious share", "robust_to_growth_in_use": "yes", "why": "both parts grow with use"},
            ],
        },
        "change_points": [
            {"date": "2022-07-01", "method": "PELT", "rate_before": 11.31, "before_ci": [10.42, 12.25],
             "rate_after": 16.08, "after_ci": [14.87, 17.36], "rate_ratio": 1.4218},
        ],
        "change_point_method": {"text": "PELT on a Poisson cost with penalty 4 log(n), candidates validated locally; Binseg as a check.",
                                "cost": "poisson", "penalty": 16.68, "penalty_factor": 4.0, "min_segment_months": 6,
                                "validation": {"level": 0.01, "critical_value": 68.6, "candidates": ["2022-07-01"], "statistics": [112.3]},
                                "intervals": "descriptive: the change date was chosen from the same data"},
        "forecast": {
            "status": "ok", "warning": None, "model": "ETS(A,N,N)",
            "method": "Exponential smoothing (statsmodels ETS) selected by AICc; prediction intervals by simulation.",
            "horizon_months": 12,
            "rows": [{"month": m.isoformat(), "mean": 17.2 + 0.1 * i, "pi80_low": 11.9, "pi80_high": 22.5 + 0.1 * i,
                      "pi95_low": 9.1, "pi95_high": 25.3 + 0.2 * i}
                     for i, m in enumerate(_months(dt.date(2024, 6, 1), dt.date(2025, 5, 1)))],
            "mase": 0.8123, "naive_mase": 1.1542, "mase_scale": "in-sample seasonal naive (lag 12)",
            "backtest": {"horizon": 12, "n_origins": 12},
        },
        "problems": {
            "method": "Share of reports coding each term (device and patient problems); recent two years against earlier years by Fisher's exact test with Benjamini-Hochberg FDR.",
            "top": {
                "device": [{"term": t, "n_reports": n, "share": round(n / device_total, 4)} for t, n in device_term_n.items()],
                "patient": [{"term": t, "n_reports": n, "share": round(n / device_total, 4)} for t, n in patient_term_n.items()],
            },
            "changes": [
                {"problem_type": "device", "term": "Migration", "share_recent": 0.152, "share_earlier": 0.081,
                 "p_value": 0.0011, "q_value": 0.0066, "direction": "increase", "significant": True},
                {"problem_type": "patient", "term": "Pain", "share_recent": 0.21, "share_earlier": 0.19,
                 "p_value": 0.61, "q_value": 0.73, "direction": "increase", "significant": False},
            ],
        },
        "signals": {
            "status": "ok", "reason": "",
            "method": "Disproportionality of device problem terms of HWC against the comparator product codes of regulation 888.3040, over distinct reports.",
            "ic_definition": "WHO shrinkage IC = log2((a+0.5)/(E+0.5)), IC025 by Noren (2013).",
            "device": CODE, "comparators": [c for c, _, _ in COMPARATORS],
            "prior": {"alpha1": 0.2, "beta1": 0.1, "alpha2": 2.0, "beta2": 4.0, "p": 0.3},
            "primary_screen": {"rule": "EB05 >= 2", "column": "signal", "applicable": True, "n_signals": 1,
                               "secondary": ["Evans: PRR >= 2, Yates chi-square >= 4, a >= 3", "IC025 > 0"]},
            "rows": signal_rows,
        },
        "headline": {"n_signals": 1},
        "figures": figures,
    }
    if "device_event" in unavailable:
        analysis["trend"]["status"] = "insufficient data"
    _write_json(run / "results" / "analysis.json", analysis)

    summary = {"summary_version": 1, "tables": summary_tables, "inputs": {}, "notes": []}
    _write_json(run / "tables" / "summary.json", summary)
    inputs = [json.dumps({"path": f"tables/{n}.parquet", "sha256": _sha(run / "tables" / f"{n}.parquet"),
                          "bytes": (run / "tables" / f"{n}.parquet").stat().st_size, "role": "table"}, sort_keys=True)
              for n in tables]
    (run / "provenance" / "inputs.jsonl").write_text("\n".join(inputs) + "\n", encoding="utf-8")
    return run
