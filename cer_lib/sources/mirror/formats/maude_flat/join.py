"""MAUDE flat files joined into openFDA-shaped ``device/event`` records, as FDA's pipeline joins them.

One record per ``mdrfoi`` master row (a row in a later file - ``*Add`` then ``*Change`` - replaces
an earlier one); rows of the other files whose key has no master row are counted and left out;
device, narrative and patient rows seen again in a later file replace the earlier ones (by device
sequence number, text key, patient sequence number).

Multi-patient reports: the concatenated outcome (and treatment) lists of the ``patient`` file are
split per patient (`values.split_concatenated`): when patient k-1's list is a proper prefix of
patient k's, patient k keeps only the remainder. A single patient keeps all its entries (one
patient can have several outcomes, e.g. ``1. H; 2. O``). openFDA does not do this split, so for
multi-patient reports the API path lists the concatenated entries; count outcomes per distinct
report and both paths agree.
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

from .read import FlatReadReport, FlatTable, read_flat_file
from .values import split_concatenated

__all__ = ["MaudeJoin", "join_maude"]


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
