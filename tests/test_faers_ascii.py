"""The FAERS quarterly ASCII loader (a mirror format feeding ``drug/event``) on the real 2017Q2 files,
their rows rewritten in the legacy AERS layout, crafted DELETE files and later case versions.

Expected values are computed here from the files with the csv module, independently of the loader's
SQL: FDA's rules (keep the latest version per case, apply DELETE files) restated in Python.
"""
from __future__ import annotations

import shutil
import zipfile
from collections import Counter
from pathlib import Path

import pytest

from cer_lib.errors import MirrorError
from cer_lib.names.drug import drug_key
from cer_lib.sources.base import Match, Query
from cer_lib.sources.mirror import Mirror
from faers_files import KINDS, read_quarter, write_current, write_legacy

ALL = Query()
REACTIONS = "patient.reaction.reactionmeddrapt.exact"


@pytest.fixture
def quarter(realdata: Path) -> Path:
    return realdata / "faers" / "faers_ascii_2017q2"


def suspect(name: str) -> Query:
    return Query((Match("patient.drug.faers.match", tuple(f"{r}|{drug_key(name)}" for r in ("PS", "SS"))),))


def test_the_real_quarter_loads_as_openfda_shaped_cases(quarter: Path) -> None:
    rows = read_quarter(quarter)
    mirror = Mirror(quarter)
    assert mirror.available_endpoints == ["drug/event"]
    assert mirror.total("drug/event", ALL) == len({r["caseid"] for r in rows["DEMO"]}) == 100
    # RISPERDAL as primary or secondary suspect: the cases whose DRUG rows say so
    risperdal = {r["caseid"] for r in rows["DRUG"] if r["role_cod"] in ("PS", "SS") and drug_key(r["drugname"]) == "RISPERDAL"}
    found = mirror.search("drug/event", suspect("Risperdal."), limit=None)
    assert {r["safetyreportid"] for r in found.records} == risperdal and len(risperdal) == 6
    case = next(r for r in found.records if r["safetyreportid"] == "10979236")
    assert case["receivedate"] == "20150402" and case["receiptdate"] == "20170406"
    assert [d["medicinalproduct"] for d in case["patient"]["drug"]] == ["RISPERDAL"]
    assert case["patient"]["drug"][0]["drugcharacterization"] == "1"
    assert case["patient"]["drug"][0]["activesubstance"]["activesubstancename"] == "RISPERIDONE"
    # reaction counts over distinct cases, from REAC rows of the drug's cases
    primary = {r["primaryid"] for r in rows["DEMO"] if r["caseid"] in risperdal}
    expected = Counter(pt for pid, pt in {(r["primaryid"], r["pt"]) for r in rows["REAC"] if r["primaryid"] in primary})
    counted = mirror.count("drug/event", suspect("RISPERDAL"), REACTIONS).rows
    assert {r["term"]: r["count"] for r in counted} == dict(expected)
    # seriousness: a case is serious when it has an outcome code; death from DE
    outcomes = {r["primaryid"]: set() for r in rows["DEMO"]}
    for r in rows["OUTC"]:
        outcomes[r["primaryid"]].add(r["outc_cod"])
    assert mirror.total("drug/event", Query((Match("serious", ("1",)),))) == sum(1 for v in outcomes.values() if v)
    assert mirror.total("drug/event", Query((Match("seriousnessdeath", ("1",)),))) == sum(1 for v in outcomes.values() if "DE" in v)
    files = {f.path: f for f in mirror.load_report().files}
    assert set(files) == {f"{k}17Q2.txt" for k in KINDS}
    assert all(f.status == "loaded" and f.layout == "current" for f in files.values())
    assert files["DRUG17Q2.txt"].rows_read == len(rows["DRUG"])


def test_a_secondary_suspect_counts_only_when_the_role_filter_says_so(quarter: Path) -> None:
    rows = read_quarter(quarter)
    mirror = Mirror(quarter)
    ps_only = Query((Match("patient.drug.faers.match", (f"PS|{drug_key('METHOTREXATE')}",)),))
    with_ss = suspect("METHOTREXATE")
    named = [r for r in rows["DRUG"] if "METHOTREXATE" in (drug_key(r["drugname"]), drug_key(r["prod_ai"]))]
    ps = {r["caseid"] for r in named if r["role_cod"] == "PS"}
    both = {r["caseid"] for r in named if r["role_cod"] in ("PS", "SS")}
    anywhere = {r["caseid"] for r in named}
    assert len(both) > len(ps) > 0  # "METHOTREXATE." as secondary suspect in other cases
    concomitant = Query((Match("patient.drug.faers.match", ("C|METHOTREXATE",)),))  # by name or ingredient
    assert mirror.total("drug/event", concomitant) == len({r["caseid"] for r in named if r["role_cod"] == "C"})
    assert len(anywhere) >= len(both)
    assert mirror.total("drug/event", ps_only) == len(ps)
    assert mirror.total("drug/event", with_ss) == len(both)


def later_quarter(rows: dict[str, list[dict[str, str]]], caseid: str) -> dict[str, list[dict[str, str]]]:
    """A quarter holding version + 1 of one case, with one reaction only."""
    demo = next(r for r in rows["DEMO"] if r["caseid"] == caseid)
    pid = f"{caseid}{int(demo['caseversion']) + 1}"
    new = {**demo, "primaryid": pid, "caseversion": str(int(demo["caseversion"]) + 1), "fda_dt": "20170815"}
    drug = [{**r, "primaryid": pid} for r in rows["DRUG"] if r["primaryid"] == demo["primaryid"]]
    return {"DEMO": [new], "DRUG": drug, "REAC": [{"primaryid": pid, "caseid": caseid, "pt": "Somnolence", "drug_rec_act": ""}],
            }


def test_delete_files_and_later_versions_act_across_quarters(quarter: Path, tmp_path: Path) -> None:
    rows = read_quarter(quarter)
    header = {k: list(v[0].keys()) for k, v in rows.items()}
    folder = tmp_path / "mirror"
    shutil.copytree(quarter, folder / "faers" / "2017q2")
    risperdal = sorted({r["caseid"] for r in rows["DRUG"] if r["drugname"] == "RISPERDAL"})
    updated, deleted = risperdal[0], risperdal[1]
    write_current(folder / "faers" / "2017q3", "17Q3", later_quarter(rows, updated), header)
    (folder / "faers" / "2017q3" / "DELETE17Q3.txt").write_text(f"{deleted}\n")
    mirror = Mirror(folder)
    assert mirror.total("drug/event", ALL) == 99  # 100 cases, one deleted, one replaced by its later version
    found = {r["safetyreportid"]: r for r in mirror.search("drug/event", suspect("RISPERDAL"), limit=None).records}
    assert deleted not in found and set(found) == set(risperdal) - {deleted}
    newest = found[updated]
    assert newest["patient"]["reaction"] == [{"reactionmeddrapt": "Somnolence"}]
    assert newest["faers"]["quarter"] == "2017Q3" and newest["receiptdate"] == "20170815"
    report = {f.path: f for f in mirror.load_report().files}
    assert report["faers/2017q2/DEMO17Q2.txt"].note.startswith("1 case version(s) removed by DELETE files; 1 superseded")
    assert report["faers/2017q3/DELETE17Q3.txt"].rows_read == 1
    # the superseded and deleted versions' reactions are left out, and the load report says so
    old = next(r for r in rows["DEMO"] if r["caseid"] == updated)["primaryid"]
    gone = next(r for r in rows["DEMO"] if r["caseid"] == deleted)["primaryid"]
    dropped = sum(1 for r in rows["REAC"] if r["primaryid"] in (old, gone))
    assert report["faers/2017q2/REAC17Q2.txt"].note == f"{dropped} row(s) of superseded or deleted case versions left out"
    assert dropped > 0 and report["faers/2017q2/REAC17Q2.txt"].rows_unjoined == 0


def test_the_legacy_layout_reads_like_the_current_one(quarter: Path, tmp_path: Path) -> None:
    rows = read_quarter(quarter)
    legacy = tmp_path / "legacy"
    write_legacy(legacy, "12Q3", rows)
    assert (legacy / "DEMO12Q3.TXT").read_text(encoding="latin-1").startswith("ISR$CASE$I_F_COD$")
    current, old = Mirror(quarter), Mirror(legacy)
    assert old.total("drug/event", ALL) == current.total("drug/event", ALL) == 100
    assert old.count("drug/event", ALL, REACTIONS, limit=1000).rows == current.count("drug/event", ALL, REACTIONS, limit=1000).rows
    # legacy DRUG has no prod_ai: a drug is found by its name only
    assert old.total("drug/event", suspect("RISPERDAL")) == current.total("drug/event", suspect("RISPERDAL")) == 6
    by_name = {r["caseid"] for r in rows["DRUG"] if r["role_cod"] in ("PS", "SS") and drug_key(r["drugname"]) == "RISPERIDONE"}
    assert old.total("drug/event", suspect("RISPERIDONE")) == len(by_name) < current.total("drug/event", suspect("RISPERIDONE"))
    assert {f.layout for f in old.load_report().files} == {"legacy"}
    # legacy dates: receivedate is FDA_DT (no init_fda_dt in AERS)
    case = old.search("drug/event", Query((Match("safetyreportid", ("10979236",)),))).records[0]
    assert case["receivedate"] == case["receiptdate"] == "20170406"


def test_mixed_layouts_and_zipped_quarters_in_one_mirror(quarter: Path, tmp_path: Path) -> None:
    """A legacy quarter in a sub-folder and the current one as FDA's zip: the current quarter's version
    of each case wins (a later quarter), so each case is counted once, with its 2017Q2 data."""
    rows = read_quarter(quarter)
    folder = tmp_path / "mirror"
    write_legacy(folder / "faers" / "aers_2012q3", "12Q3", rows)
    with zipfile.ZipFile(folder / "faers" / "faers_ascii_2017q2.zip", "w") as archive:
        for path in sorted(quarter.iterdir()):
            archive.write(path, f"ascii/{path.name}")
    mirror = Mirror(folder)
    assert mirror.total("drug/event", ALL) == 100
    quarters = Counter(r["faers"]["quarter"] for r in mirror.search("drug/event", ALL, limit=None).records)
    assert quarters == {"2017Q2": 100}
    report = {f.path: f for f in mirror.load_report().files}
    assert report["faers/aers_2012q3/DEMO12Q3.TXT"].note.startswith("0 case version(s) removed by DELETE files; 100 superseded")
    assert "faers/faers_ascii_2017q2.zip!ascii/DEMO17Q2.txt" in report


def test_one_quarter_twice_and_a_file_that_is_not_faers_are_refused_by_name(quarter: Path, tmp_path: Path) -> None:
    folder = tmp_path / "twice"
    shutil.copytree(quarter, folder / "faers" / "a")
    shutil.copytree(quarter, folder / "faers" / "b")
    with pytest.raises(MirrorError, match=r"the FAERS DEMO file of 2017Q2 is in the mirror twice \(faers/a/DEMO17Q2.txt and faers/b/DEMO17Q2.txt\)"):
        Mirror(folder).total("drug/event", ALL)
    broken = tmp_path / "broken"
    shutil.copytree(quarter, broken)
    (broken / "REAC17Q2.txt").chmod(0o644)
    (broken / "REAC17Q2.txt").write_text("primaryid,caseid,pt\n1,2,Nausea\n")
    with pytest.raises(MirrorError, match=r"REAC17Q2.txt: line 1: not '\$'-delimited"):
        Mirror(broken).total("drug/event", ALL)


def test_cases_become_records_only_when_a_search_returns_them(quarter: Path, tmp_path: Path) -> None:
    """The load keeps the cases' rows (parts), not one JSON record per case: the records table of the
    conversion (and of ``.derived/``) holds no JSON, a search builds the records it returns, and a
    second process reading the cache builds the same records and counts."""
    import pyarrow.parquet as pq

    folder = tmp_path / "q"
    shutil.copytree(quarter, folder)
    first = Mirror(folder)
    records = first.search("drug/event", ALL, limit=None).records
    counts = first.count("drug/event", ALL, REACTIONS, limit=1000).rows
    stored = pq.read_table(next((folder / ".derived").glob("*.records.parquet")))
    assert stored.num_rows == 100 and stored.column("record_json").null_count == 100
    assert {p.name.split(".part-")[1] for p in (folder / ".derived").glob("*.part-*.parquet")} == {
        "cases.parquet", "drugs.parquet", "reactions.parquet", "indications.parquet", "therapies.parquet",
        "outcomes.parquet", "report_sources.parquet"}
    case = next(r for r in records if r["safetyreportid"] == "10979236")
    assert case["patient"]["drug"][0]["activesubstance"]["activesubstancename"] == "RISPERIDONE"
    # each drug's therapy start (the earliest THER start_dt of its drug_seq) and indications, from the files
    rows = read_quarter(quarter)
    starts: dict[tuple[str, str], list[str]] = {}
    for r in rows["THER"]:
        starts.setdefault((r["primaryid"], r["dsg_drug_seq"]), []).extend([r["start_dt"]] if r["start_dt"] else [])
    indications: dict[tuple[str, str], set[str]] = {}
    for r in rows["INDI"]:
        indications.setdefault((r["primaryid"], r["indi_drug_seq"]), set()).add(r["indi_pt"])
    drugs = [(r["faers"]["primaryid"], d) for r in records for d in r["patient"]["drug"]]
    assert len(drugs) == len(rows["DRUG"])
    assert all(d["drugstartdate"] == min(starts.get((pid, d["faers"]["drug_seq"])) or [None]) for pid, d in drugs)
    assert all(d["drugindication"] == ("; ".join(sorted(indications[(pid, d["faers"]["drug_seq"])]))
                                       if (pid, d["faers"]["drug_seq"]) in indications else None) for pid, d in drugs)
    assert sum(d["drugstartdate"] is not None for _, d in drugs) > 10
    again = Mirror(folder)
    assert again.search("drug/event", ALL, limit=None).records == records
    assert again.count("drug/event", ALL, REACTIONS, limit=1000).rows == counts
    assert all(f.from_cache for f in again.load_report().files)
    # a page of the newest cases: only those are built, in the order asked
    newest = again.search("drug/event", ALL, limit=5, sort="receivedate:desc").records
    assert [r["receivedate"] for r in newest] == sorted((r["receivedate"] for r in records), reverse=True)[:5]
