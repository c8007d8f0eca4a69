"""FAERS quarterly ASCII files for tests: the real 2017Q2 rows, rewritten in FDA's legacy AERS
layout, and whole quarters generated at real size from the real files' value distributions.

Layouts as FDA documents them (FAERS ``ASC_NTS.pdf`` / the AERS ``README``): current files have
lower-case headers starting ``primaryid$caseid``; legacy files upper-case headers starting
``ISR$CASE`` (DEMO) or ``ISR`` (the others), ``.TXT`` names and a ``$`` ending every line.
"""
from __future__ import annotations

import csv
import random
from collections import Counter
from pathlib import Path

KINDS = ("DEMO", "DRUG", "REAC", "OUTC", "RPSR", "THER", "INDI")
LEGACY_COLUMNS = {
    "DEMO": "ISR CASE I_F_COD FOLL_SEQ IMAGE EVENT_DT MFR_DT FDA_DT REPT_COD MFR_NUM MFR_SNDR AGE AGE_COD GNDR_COD "
            "E_SUB WT WT_COD REPT_DT OCCP_COD DEATH_DT TO_MFR CONFID REPORTER_COUNTRY",
    "DRUG": "ISR DRUG_SEQ ROLE_COD DRUGNAME VAL_VBM ROUTE DOSE_VBM DECHAL RECHAL LOT_NUM EXP_DT NDA_NUM",
    "REAC": "ISR PT", "OUTC": "ISR OUTC_COD", "RPSR": "ISR RPSR_COD",
    "THER": "ISR DRUG_SEQ START_DT END_DT DUR DUR_COD", "INDI": "ISR DRUG_SEQ INDI_PT",
}
# legacy column <- current column (the same meaning under another name)
_FROM_CURRENT = {"ISR": "primaryid", "CASE": "caseid", "GNDR_COD": "sex", "DRUG_SEQ": "drug_seq"}


def read_rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="latin-1") as handle:
        return list(csv.DictReader(handle, delimiter="$", quoting=csv.QUOTE_NONE))


def read_quarter(folder: Path, quarter: str = "17Q2") -> dict[str, list[dict[str, str]]]:
    """The rows of each file of one current-layout quarter, by kind."""
    return {kind: read_rows(folder / f"{kind}{quarter}.txt") for kind in KINDS}


def write_current(folder: Path, quarter: str, rows: dict[str, list[dict[str, str]]], header: dict[str, list[str]]) -> None:
    """Files ``<KIND><quarter>.txt`` in the current layout (``header[kind]``: its columns in order)."""
    folder.mkdir(parents=True, exist_ok=True)
    for kind, items in rows.items():
        lines = ["$".join(header[kind])] + ["$".join(r.get(c, "") for c in header[kind]) for r in items]
        (folder / f"{kind}{quarter}.txt").write_text("\n".join(lines) + "\n", encoding="latin-1")


def legacy_row(kind: str, row: dict[str, str]) -> dict[str, str]:
    """A current-layout row in the legacy layout's columns (ISR = primaryid, CASE = caseid, ...)."""
    out = {}
    for column in LEGACY_COLUMNS[kind].split():
        source = _FROM_CURRENT.get(column, column.lower())
        if kind == "THER" and column == "DRUG_SEQ":
            source = "dsg_drug_seq"
        if kind == "INDI" and column == "DRUG_SEQ":
            source = "indi_drug_seq"
        out[column] = row.get(source, "")
    return out


def write_legacy(folder: Path, quarter: str, rows: dict[str, list[dict[str, str]]]) -> None:
    """Files ``<KIND><quarter>.TXT`` in the legacy AERS layout (every line ends with ``$``)."""
    folder.mkdir(parents=True, exist_ok=True)
    for kind, items in rows.items():
        columns = LEGACY_COLUMNS[kind].split()
        lines = ["$".join(columns) + "$"] + ["$".join(legacy_row(kind, r)[c] for c in columns) + "$" for r in items]
        (folder / f"{kind}{quarter}.TXT").write_text("\n".join(lines) + "\n", encoding="latin-1")


def generate_quarter(real: Path, target: Path, n_cases: int, *, quarter: str = "22Q4", seed: int = 1) -> int:
    """One quarter of ``n_cases`` cases in the current layout, drawn from the real 2017Q2 files'
    value distributions: per case, the number of drugs, reactions, outcomes, indications and therapy
    rows of a real case picked at random; each value drawn from the real column's values (drug names
    with their own ingredient and role). About 4 % of cases get a second, earlier version in the same
    quarter (FAERS ships several versions of a case), so the loader has versions to drop.
    Written row by row, so memory stays flat. Returns the DEMO rows (case versions) written."""
    rng = random.Random(seed)
    source = read_quarter(real)
    header = {kind: list(source[kind][0].keys()) for kind in KINDS}
    per_case = {kind: Counter(r["primaryid"] for r in source[kind]) for kind in KINDS[1:]}
    shapes = [{kind: per_case[kind].get(d["primaryid"], 0) for kind in KINDS[1:]} for d in source["DEMO"]]
    demo_values = {c: [r[c] for r in source["DEMO"]] for c in header["DEMO"]}
    drugs = [(r["role_cod"], r["drugname"], r["prod_ai"], r["route"], r["dose_form"], r["nda_num"]) for r in source["DRUG"]]
    pts = [r["pt"] for r in source["REAC"]]
    outcomes = [r["outc_cod"] for r in source["OUTC"]]
    indications = [r["indi_pt"] for r in source["INDI"]]
    starts = [r["start_dt"] for r in source["THER"]]
    target.mkdir(parents=True, exist_ok=True)
    handles = {kind: open(target / f"{kind}{quarter}.txt", "w", encoding="latin-1") for kind in KINDS}
    written = Counter()
    try:
        for kind in KINDS:
            handles[kind].write("$".join(header[kind]) + "\n")
        for i in range(n_cases):
            caseid = str(20_000_000 + i)
            versions = [2, 1] if rng.random() < 0.04 else [1]
            shape = rng.choice(shapes)
            for version in versions:
                pid = f"{caseid}{version}"
                demo = {c: rng.choice(demo_values[c]) for c in header["DEMO"]}
                demo.update(primaryid=pid, caseid=caseid, caseversion=str(version), fda_dt=f"2022{rng.randint(10, 12)}"
                            f"{rng.randint(1, 28):02d}", init_fda_dt=f"20{rng.randint(15, 22)}{rng.randint(1, 12):02d}"
                            f"{rng.randint(1, 28):02d}")
                handles["DEMO"].write("$".join(demo[c] for c in header["DEMO"]) + "\n")
                n_drugs = max(shape["DRUG"], 1)
                for seq in range(1, n_drugs + 1):
                    role, name, ai, route, form, nda = rng.choice(drugs)
                    role = "PS" if seq == 1 else ("C" if role == "PS" else role)
                    row = dict(primaryid=pid, caseid=caseid, drug_seq=str(seq), role_cod=role, drugname=name,
                               prod_ai=ai, route=route, dose_form=form, nda_num=nda)
                    handles["DRUG"].write("$".join(row.get(c, "") for c in header["DRUG"]) + "\n")
                for pt in rng.sample(pts, min(max(shape["REAC"], 1), len(pts))):
                    handles["REAC"].write("$".join({"primaryid": pid, "caseid": caseid, "pt": pt}.get(c, "")
                                                   for c in header["REAC"]) + "\n")
                for code in sorted(set(rng.choice(outcomes) for _ in range(shape["OUTC"]))):
                    handles["OUTC"].write(f"{pid}${caseid}${code}\n")
                for _ in range(min(shape["RPSR"], 1)):
                    handles["RPSR"].write(f"{pid}${caseid}$HP\n")
                for seq in range(1, min(shape["THER"], n_drugs) + 1):
                    row = dict(primaryid=pid, caseid=caseid, dsg_drug_seq=str(seq), start_dt=rng.choice(starts))
                    handles["THER"].write("$".join(row.get(c, "") for c in header["THER"]) + "\n")
                for seq in range(1, min(shape["INDI"], n_drugs) + 1):
                    handles["INDI"].write(f"{pid}${caseid}${seq}${rng.choice(indications)}\n")
                written["DEMO"] += 1
    finally:
        for handle in handles.values():
            handle.close()
    return written["DEMO"]
