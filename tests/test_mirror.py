"""The local mirror: real in2bones / classification / MAUDE-sheet files through `Mirror`, checked
against counts computed independently with plain Python from the raw files."""
from __future__ import annotations

import csv
import datetime as dt
import json
import re
import time
import zipfile
from collections import Counter
from pathlib import Path

import pytest

from cer_lib.errors import MirrorError
from cer_lib.provenance import Provenance, sha256_file
from cer_lib.sources.base import DateRange, Match, Query, Source
from cer_lib.sources.mirror.formats.foiclass import find_classification_file, product_codes, read_foiclass
from cer_lib.sources.mirror import Mirror, read_xlsx_rows, split_problem_terms

IN2BONES = Path("openfda/in2bones")
HWC = Query((Match("device.device_report_product_code", ("HWC",)),))


def link(mirror: Path, place: str, target: Path) -> Path:
    path = mirror / place
    path.parent.mkdir(parents=True, exist_ok=True)
    path.symlink_to(target)
    return path


@pytest.fixture
def raw_events(realdata: Path) -> list[dict]:
    return json.loads((realdata / IN2BONES / "openFDA_raw_data.json").read_text(encoding="utf-8"))


@pytest.fixture
def in2bones_mirror(realdata: Path, tmp_path: Path) -> Path:
    folder = tmp_path / "mirror"
    link(folder, "device/event/openFDA_raw_data.json", realdata / IN2BONES / "openFDA_raw_data.json")
    for endpoint in ("recall", "510k", "udi"):
        link(folder, f"device/{endpoint}/{endpoint}_data.csv", realdata / IN2BONES / f"{endpoint}_data.csv")
    link(folder, "classification/foiclass.txt", realdata / "classification" / "foiclass.txt")
    link(folder, "eudamed/udi-di-records.json", realdata / "eudamed" / "udi-di-records.json")
    return folder


def hwc_events(raw: list[dict]) -> list[dict]:
    return [r for r in raw if any(d.get("device_report_product_code") == "HWC" for d in r["device"])]


def term_counts(records: list[dict], values) -> list[dict]:
    """openFDA count semantics with plain Python: distinct records per term, count desc then term."""
    counter = Counter(term for r in records for term in set(values(r)) if term)
    return [{"term": t, "count": n} for t, n in sorted(counter.items(), key=lambda kv: (-kv[1], kv[0]))]


# ----------------------------------------------------------------------------------------------
# device events


def test_mirror_is_a_source(in2bones_mirror: Path) -> None:
    mirror = Mirror(in2bones_mirror)
    assert isinstance(mirror, Source) and mirror.name == "mirror"
    assert mirror.synthetic is False
    assert "device/event" in mirror.available_endpoints


def test_hwc_reports_match_the_raw_json(in2bones_mirror: Path, raw_events: list[dict]) -> None:
    expected = hwc_events(raw_events)
    assert len(expected) == 13
    result = Mirror(in2bones_mirror).search("device/event", HWC, sort="date_received:desc")
    assert result.total == len(result.records) == 13
    # the same records, in date_received desc order with mdr_report_key desc (as a number) breaking ties
    order = sorted(expected, key=lambda r: (r["date_received"], int(r["mdr_report_key"])), reverse=True)
    assert [r["mdr_report_key"] for r in result.records] == [r["mdr_report_key"] for r in order]
    assert result.records == order  # records come back exactly as in the bulk file
    assert result.last_updated == "2021-09-07"  # no meta in the file: its latest date_received

    first = Mirror(in2bones_mirror).search("device/event", HWC, limit=3, sort="date_received:desc")
    assert first.total == 13 and len(first.records) == 3
    assert [r["mdr_report_key"] for r in first.records] == [r["mdr_report_key"] for r in order[:3]]


def test_counts_equal_plain_python_counts(in2bones_mirror: Path, raw_events: list[dict]) -> None:
    mirror = Mirror(in2bones_mirror)
    expected = hwc_events(raw_events)
    by_day = Counter(r["date_received"] for r in expected)
    assert mirror.count("device/event", HWC, "date_received").rows == [
        {"time": day, "count": n} for day, n in sorted(by_day.items())
    ]
    assert mirror.count("device/event", HWC, "product_problems.exact").rows == term_counts(expected, lambda r: r["product_problems"])
    assert mirror.count("device/event", HWC, "patient.patient_problems.exact").rows == term_counts(
        expected, lambda r: [t for p in r["patient"] for t in p["patient_problems"]])
    assert mirror.count("device/event", HWC, "event_type.exact").rows == term_counts(expected, lambda r: [r["event_type"]])
    # without .exact openFDA counts lower-cased words
    assert mirror.count("device/event", HWC, "event_type").rows == term_counts(expected, lambda r: [r["event_type"].lower()])
    # the limit cuts the sorted list
    assert mirror.count("device/event", HWC, "product_problems.exact", limit=2).rows == term_counts(
        expected, lambda r: r["product_problems"])[:2]
    # every code at once, all 43 reports
    assert mirror.count("device/event", Query(), "device.device_report_product_code.exact").rows == term_counts(
        raw_events, lambda r: [d["device_report_product_code"] for d in r["device"]])


def test_date_ranges_and_text_matches(in2bones_mirror: Path, raw_events: list[dict]) -> None:
    mirror = Mirror(in2bones_mirror)
    in_2019 = HWC.and_(DateRange("date_received", dt.date(2019, 1, 1), dt.date(2019, 12, 31)))
    expected = [r for r in hwc_events(raw_events) if r["date_received"].startswith("2019")]
    assert mirror.total("device/event", in_2019) == len(expected) == 8
    # several values are OR-ed; an analysed match is case-insensitive and ignores punctuation
    either = Query((Match("device.device_report_product_code", ("HWC", "LXH")),))
    assert mirror.total("device/event", either) == 13 + 8
    words = Query((Match("device.brand_name", ("lag screw drill",), exact=False),))
    assert {r["device"][0]["brand_name"] for r in mirror.search("device/event", words).records} == {
        b for b in (r["device"][0]["brand_name"] for r in raw_events) if "LAG SCREW DRILL" in b
    }
    assert mirror.total("device/event", Query((Match("device.brand_name", ("lag screw drill",)),))) == 0  # exact: whole value
    injuries = Query((Match("event_type", ("injury",), exact=False),))
    assert mirror.total("device/event", injuries) == sum(r["event_type"] == "Injury" for r in raw_events)


def test_values_are_parameters_not_sql(in2bones_mirror: Path) -> None:
    mirror = Mirror(in2bones_mirror)
    hostile = Query((Match("device.device_report_product_code", ("HWC' OR '1'='1", "x); DROP TABLE records; --")),))
    assert mirror.total("device/event", hostile) == 0
    assert mirror.total("device/event", Query((Match("device.brand_name", ("%",), exact=False),))) == 0
    assert mirror.total("device/event", HWC) == 13


def test_unknown_fields_and_endpoints_are_errors_that_list_what_works(in2bones_mirror: Path) -> None:
    mirror = Mirror(in2bones_mirror)
    with pytest.raises(MirrorError, match=r"field 'device.colour'.*device\.device_report_product_code"):
        mirror.search("device/event", Query((Match("device.colour", ("red",)),)))
    with pytest.raises(MirrorError, match="'patient.age'"):
        mirror.count("device/event", HWC, "patient.age")
    with pytest.raises(MirrorError, match="not a date field.*date_received"):
        mirror.total("device/event", Query((DateRange("event_type", dt.date(2020, 1, 1), dt.date(2020, 2, 1)),)))
    with pytest.raises(MirrorError, match="use the openFDA source for drugs"):
        mirror.total("drug/ndc", Query())  # drug/event and drug/label have mirror formats (issue 13); NDC products not
    with pytest.raises(MirrorError, match="'asc' or 'desc'"):
        mirror.search("device/event", HWC, sort="date_received:down")


def test_duplicates_collapse_and_are_reported(realdata: Path, tmp_path: Path, raw_events: list[dict]) -> None:
    folder = tmp_path / "mirror"
    raw = realdata / IN2BONES / "openFDA_raw_data.json"
    link(folder, "device/event/a_openFDA_raw_data.json", raw)
    link(folder, "device/event/b_same_reports_again.json", raw)  # the same 43 reports loaded twice
    link(folder, "device/event/c_event_data.csv", realdata / IN2BONES / "event_data.csv")  # the same 43, flattened
    mirror = Mirror(folder)
    assert mirror.total("device/event", Query()) == 43
    assert mirror.total("device/event", HWC) == 13
    report = mirror.load_report()
    assert report.file("device/event/a_openFDA_raw_data.json").duplicates_collapsed == 0
    assert report.file("device/event/b_same_reports_again.json").duplicates_collapsed == 43
    assert report.file("device/event/b_same_reports_again.json").duplicates_differing == 0
    csv_report = report.file("device/event/c_event_data.csv")
    # CSV rows have no mdr_report_key: matched to the JSON records by report_number, JSON kept
    assert csv_report.rows_read == 43 and csv_report.duplicates_collapsed == 43 and csv_report.duplicates_differing == 43
    assert report.duplicates_collapsed == 86
    # the kept records are the full openFDA ones
    kept = {r["mdr_report_key"]: r for r in mirror.search("device/event", Query()).records}
    assert kept == {r["mdr_report_key"]: r for r in raw_events}


def test_publisher_event_csv_maps_to_openfda_fields(realdata: Path, tmp_path: Path) -> None:
    folder = tmp_path / "mirror"
    link(folder, "device/event/event_data.csv", realdata / IN2BONES / "event_data.csv")
    mirror = Mirror(folder)
    with open(realdata / IN2BONES / "event_data.csv", newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle, delimiter="|"))
    records = mirror.search("device/event", Query(), sort="date_received:asc").records
    assert len(records) == len(rows) == 43
    first = next(r for r in records if r["report_number"] == "3011580264-2020-00004")
    assert first["device"][0]["brand_name"] == "4.8 LAG SCREW DRILL"
    assert first["device"][0]["openfda"]["device_name"] == "Orthopedic Manual Surgical Instrument"
    assert first["product_problems"] == ["Material Fragmentation"]  # the publisher's list literal, parsed
    assert first["patient"][0]["patient_problems"] == ["Device Embedded In Tissue or Plaque"]
    assert first["mdr_text"][0]["text"].startswith("IT WAS REPORTED THAT DURING AN ANKLE FUSION")
    assert "device_report_product_code" not in first["device"][0]  # the CSV has no product code: none invented
    assert mirror.total("device/event", HWC) == 0


def test_a_term_listed_twice_in_a_report_counts_once(tmp_path: Path) -> None:
    folder = tmp_path / "mirror"
    (folder / "device" / "event").mkdir(parents=True)
    records = [
        {"mdr_report_key": "1", "date_received": "20200101", "product_problems": ["Break", "Break", "Fracture"],
         "device": [{"device_report_product_code": "HWC"}, {"device_report_product_code": "HWC"}]},
        {"mdr_report_key": "2", "date_received": "20200101", "product_problems": ["Fracture"],
         "device": [{"device_report_product_code": "HWC"}]},
        {"mdr_report_key": "3", "date_received": "20200102", "product_problems": ["Break"],
         "device": [{"device_report_product_code": "HTY"}]},
    ]
    (folder / "device" / "event" / "events.json").write_text(json.dumps({"meta": {"last_updated": "2020-01-05"}, "results": records}))
    mirror = Mirror(folder)
    assert mirror.count("device/event", HWC, "product_problems.exact").rows == [
        {"term": "Fracture", "count": 2}, {"term": "Break", "count": 1},
    ]
    assert mirror.count("device/event", HWC, "device.device_report_product_code.exact").rows == [{"term": "HWC", "count": 2}]
    assert mirror.count("device/event", HWC, "date_received").rows == [{"time": "20200101", "count": 2}]
    assert mirror.count("device/event", HWC, "date_received").last_updated == "2020-01-05"  # meta.last_updated
    assert mirror.last_updated == "2020-01-05"


def test_broken_json_says_where_and_what_to_do(tmp_path: Path) -> None:
    folder = tmp_path / "mirror"
    (folder / "device" / "event").mkdir(parents=True)
    (folder / "device" / "event" / "x.json").write_text('{"meta": {}, "results": [{"a": 1},')
    with pytest.raises(MirrorError, match=r"device/event/x\.json: not JSON at character \d+.*re-download it"):
        Mirror(folder).total("device/event", Query())
    with pytest.raises(MirrorError, match="no mirror folder there"):
        Mirror(tmp_path / "missing")


def test_maude_flat_files_are_joined_into_device_events(realdata: Path, tmp_path: Path) -> None:
    folder = tmp_path / "mirror"
    for name in ("foidev", "foitext", "patient"):
        link(folder, f"maude/{name}.txt", realdata / "openfda" / "fda-pipeline-tests" / f"maude__tests__data__{name}.txt")
    link(folder, "classification/foiclass.txt", realdata / "classification" / "foiclass.txt")
    # master rows for two of the excerpt's reports; the other three stay unjoined (no master row)
    (folder / "maude" / "mdrfoi.txt").write_text(
        "MDR_REPORT_KEY|REPORT_NUMBER|DATE_RECEIVED|EVENT_TYPE\n"
        "538836|2248721-2004-00001|08/01/2004|IN\n"
        "1511544|3007582679-2009-00011|10/08/2009|IN\n")
    # a hand-made broken narrative file: one raw newline (1 repair) and one stray '|' (1 repair)
    (folder / "maude" / "foitext2009.txt").write_text(
        "1511544|99000001|D|1||SECOND DEGREE BURN\nAT THE NEEDLE SITE.\n"
        "1511544|99000002|N|1||TEMPERATURE 40|42 C\n")
    mirror = Mirror(folder)
    jpa = mirror.search("device/event", Query((Match("device.device_report_product_code", ("JPA",)),)))
    assert [r["mdr_report_key"] for r in jpa.records] == ["538836"]
    device = jpa.records[0]["device"][0]
    assert device["openfda"] == {"device_name": "System, Multipurpose For In Vitro Coagulation Studies",
                                 "medical_specialty_description": "Hematology", "regulation_number": "864.5425",
                                 "device_class": "2"}  # annotated from foiclass, as openFDA does
    assert mirror.total("device/event", Query((Match("device.openfda.regulation_number", ("882.4725",)),))) == 1  # GXI
    texts = {t["mdr_text_key"]: t["text"] for t in mirror.search("device/event", Query((Match("mdr_report_key", ("1511544",)),))).records[0]["mdr_text"]}
    assert texts["99000001"] == "SECOND DEGREE BURN AT THE NEEDLE SITE." and texts["99000002"] == "TEMPERATURE 40|42 C"
    report = mirror.load_report()
    broken = report.file("maude/foitext2009.txt")
    assert broken.rows_repaired == 2 and broken.repairs == {"raw_newline_joined": 1, "stray_pipe_in_text": 1}
    excerpt = report.file("maude/foidev.txt")
    assert excerpt.rows_read == 5 and excerpt.rows_rejected == 3  # reports without a master row
    assert excerpt.rejected_reasons() == {"no mdrfoi master row for its MDR_REPORT_KEY (not joined, as in FDA's pipeline)": 3}
    assert excerpt.repairs == {"legacy_width_rows": 4}
    json.dumps(report.as_dict())  # the report is plain data


# ----------------------------------------------------------------------------------------------
# registries, classification, Eudamed


def test_classification_lookups(in2bones_mirror: Path, realdata: Path) -> None:
    foiclass = realdata / "classification" / "foiclass.txt"
    assert find_classification_file(in2bones_mirror) == in2bones_mirror / "classification" / "foiclass.txt"
    codes = product_codes(foiclass)
    assert len(codes) == 7039 and "HWC" in codes and "ZZZ" not in codes
    mirror = Mirror(in2bones_mirror)
    found = mirror.search("device/classification", Query((Match("product_code", ("HWC",)),)))
    assert found.total == 1
    hwc = found.records[0]
    assert (hwc["device_name"], hwc["device_class"], hwc["regulation_number"]) == ("Screw, Fixation, Bone", "2", "888.3040")
    assert hwc["medical_specialty_description"] == "Orthopedic" and hwc["implant_flag"] == "Y"
    same_regulation = mirror.search("device/classification", Query((Match("regulation_number", ("888.3040",)),)))
    independent = [line.split("|")[2] for line in foiclass.read_bytes().decode("cp1252").splitlines()[1:] if line.split("|")[9] == "888.3040"]
    assert sorted(r["product_code"] for r in same_regulation.records) == sorted(independent) and len(independent) == 18
    assert len(read_foiclass(foiclass)) == 7039


def test_registry_csvs(in2bones_mirror: Path, realdata: Path) -> None:
    mirror = Mirror(in2bones_mirror)
    with open(realdata / IN2BONES / "510k_data.csv", newline="", encoding="utf-8") as handle:
        clearances = list(csv.DictReader(handle, delimiter="|"))
    hwc = mirror.search("device/510k", Query((Match("product_code", ("HWC",)),)), sort="decision_date:desc")
    assert sorted(r["k_number"] for r in hwc.records) == sorted(c["k_number"] for c in clearances if c["product_code"] == "HWC")
    assert hwc.records[0]["openfda"]["device_name"] == "Screw, Fixation, Bone"
    recalls = mirror.search("device/recall", Query())
    assert recalls.total == 7
    assert "\n" in recalls.records[0]["action"]  # multi-line quoted fields survive
    assert mirror.total("device/recall", Query((Match("product_code", ("FSY",)),))) == 5
    udi = mirror.search("device/udi", Query((Match("premarket_submissions.submission_number", ("K173811",)),)))
    with open(realdata / IN2BONES / "udi_data.csv", newline="", encoding="utf-8") as handle:
        assert udi.total == sum(1 for row in csv.DictReader(handle, delimiter="|") if row["k_number"] == "K173811")
    assert mirror.total("device/udi", Query((Match("product_codes.code", ("HWC",)),))) == 0  # no product code in that CSV
    assert mirror.total("device/enforcement", Query()) == 0  # no files: no matches, not an error


def test_eudamed_records(in2bones_mirror: Path, realdata: Path, tmp_path: Path) -> None:
    expected = json.loads((realdata / "eudamed" / "udi-di-records.json").read_text(encoding="utf-8"))
    assert Mirror(in2bones_mirror).eudamed_records() == expected
    empty = tmp_path / "empty"
    empty.mkdir()
    assert Mirror(empty).eudamed_records() == []


def test_every_file_read_is_a_recorded_input(in2bones_mirror: Path, tmp_path: Path, realdata: Path) -> None:
    (in2bones_mirror / "mirror.json").write_text(json.dumps({"name": "t", "synthetic": True, "last_updated": "2021-10-01"}))
    provenance = Provenance(tmp_path / "run" / "provenance")
    mirror = Mirror(in2bones_mirror, provenance=provenance)
    assert mirror.synthetic is True and mirror.last_updated == "2021-10-01"
    mirror.search("device/event", HWC)
    mirror.search("device/classification", Query((Match("product_code", ("HWC",)),)))
    mirror.eudamed_records()
    inputs = {Path(r["path"]).name: r for r in provenance.inputs()}
    assert set(inputs) == {"mirror.json", "openFDA_raw_data.json", "foiclass.txt", "udi-di-records.json"}
    raw = realdata / IN2BONES / "openFDA_raw_data.json"
    assert inputs["openFDA_raw_data.json"]["sha256"] == sha256_file(raw)
    assert inputs["openFDA_raw_data.json"]["role"] == "mirror device/event (openfda-json)"


# ----------------------------------------------------------------------------------------------
# MAUDE sheets (publisher-flattened, no product code)


def test_patient_problem_terms_keep_their_commas() -> None:
    assert split_problem_terms("Hyperglycemia, Cramp(s), Polydipsia") == (["Hyperglycemia", "Cramp(s)", "Polydipsia"], False)
    assert split_problem_terms("Pain, No Clinical Signs, Symptoms or Conditions, Therapeutic Response, Decreased") == (
        ["Pain", "No Clinical Signs, Symptoms or Conditions", "Therapeutic Response, Decreased"], True)
    assert split_problem_terms("") == ([], False)


def test_fast_xlsx_reader_equals_openpyxl(realdata: Path) -> None:
    import openpyxl

    path = realdata / "maude" / "abbott_freestyle_libre_cgm.xlsx"
    workbook = openpyxl.load_workbook(path, read_only=True)
    expected = [["" if v is None else str(v) for v in row] for row in workbook.worksheets[0].iter_rows(values_only=True)]
    workbook.close()
    got = [["" if v is None else v for v in row] + [""] * (len(expected[0]) - len(row)) for row in read_xlsx_rows(path)]
    assert got == expected and len(got) == 10106


def test_xlsx_reader_handles_shared_strings_numbers_and_entities(tmp_path: Path) -> None:
    # a minimal workbook as Excel writes it: shared strings, a rich-text run, numbers, a boolean,
    # an escaped '&', a skipped (empty) column and an empty row
    sheet = (
        '<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>'
        '<row r="1"><c r="A1" t="s"><v>0</v></c><c r="B1" t="s"><v>1</v></c><c r="D1" t="s"><v>2</v></c></row>'
        '<row r="2"><c r="A2"><v>10038351</v></c><c r="B2"><v>1.5</v></c><c r="C2" t="b"><v>1</v></c>'
        '<c r="D2" t="s"><v>3</v></c></row>'
        '<row r="4"><c r="A4" t="inlineStr"><is><t xml:space="preserve"> A &amp; B </t></is></c></row>'
        '</sheetData></worksheet>'
    )
    strings = (
        '<sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
        '<si><t>mdr_report_key</t></si><si><t>value</t></si><si><t>brand_name</t></si>'
        '<si><r><t>MINI</t></r><r><t xml:space="preserve">MED &lt;630G&gt;</t></r></si></sst>'
    )
    path = tmp_path / "book.xlsx"
    rel, package = "http://schemas.openxmlformats.org/officeDocument/2006/relationships", "http://schemas.openxmlformats.org/package/2006"
    with zipfile.ZipFile(path, "w") as z:  # the parts of a valid package; the worksheet under a non-default name
        z.writestr("[Content_Types].xml", f'<Types xmlns="{package}/content-types">'
                   '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
                   '<Default Extension="xml" ContentType="application/xml"/></Types>')
        z.writestr("_rels/.rels", f'<Relationships xmlns="{package}/relationships">'
                   f'<Relationship Id="rId1" Type="{rel}/officeDocument" Target="xl/workbook.xml"/></Relationships>')
        z.writestr("xl/workbook.xml", f'<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" xmlns:r="{rel}">'
                                      '<sheets><sheet name="S" sheetId="1" r:id="rId7"/></sheets></workbook>')
        z.writestr("xl/_rels/workbook.xml.rels", f'<Relationships xmlns="{package}/relationships">'
                   f'<Relationship Id="rId7" Type="{rel}/worksheet" Target="worksheets/data.xml"/>'
                   f'<Relationship Id="rId8" Type="{rel}/sharedStrings" Target="sharedStrings.xml"/></Relationships>')
        z.writestr("xl/worksheets/data.xml", sheet)
        z.writestr("xl/sharedStrings.xml", strings)
    assert read_xlsx_rows(path) == [
        ["mdr_report_key", "value", None, "brand_name"],
        ["10038351", "1.5", "TRUE", "MINIMED <630G>"],
        [" A & B "],
    ]


def test_minimed_sheet_loads_and_counts_by_month(realdata: Path, tmp_path: Path) -> None:
    folder = tmp_path / "mirror"
    link(folder, "maude-sheets/medtronic_minimed_pump_mdl_3032.xlsx", realdata / "maude" / "medtronic_minimed_pump_mdl_3032.xlsx")
    started = time.perf_counter()
    mirror = Mirror(folder)
    by_day = mirror.count("device/event", Query(), "date_received")
    first_load = time.perf_counter() - started
    by_month = Counter()
    for row in by_day.rows:
        by_month[row["time"][:6]] += row["count"]
    assert sum(by_month.values()) == mirror.total("device/event", Query()) == 50200
    assert min(by_month) == "202004" and max(by_month) == "202504"
    report = mirror.load_report().file("maude-sheets/medtronic_minimed_pump_mdl_3032.xlsx")
    assert report.rows_read == 50200 and report.rows_rejected == 0 and not report.from_cache
    print(f"\nMiniMed sheet, 50,200 rows: first load + count by day {first_load:.2f}s")
    assert first_load < 20  # typically 2-4 s; generous for slow CI machines

    started = time.perf_counter()
    again = Mirror(folder)  # a second process: the Parquet conversion in .derived/ is reused
    assert again.count("device/event", Query(), "date_received").rows == by_day.rows
    cached = time.perf_counter() - started
    print(f"MiniMed sheet from the .derived cache: {cached:.2f}s")
    assert again.load_report().file("maude-sheets/medtronic_minimed_pump_mdl_3032.xlsx").from_cache

    # brand search, no product code; the comma-containing FDA term is one term, not two
    brand = Query((Match("device.brand_name", ("MINIMED 630G",)),))
    records = mirror.search("device/event", brand).records
    assert records and all(r["device"][0]["brand_name"] == "MINIMED 630G" for r in records)
    assert all("device_report_product_code" not in d for r in records for d in r["device"])
    terms = {row["term"] for row in mirror.count("device/event", Query(), "patient.patient_problems.exact").rows}
    assert "No Clinical Signs, Symptoms or Conditions" in terms and "Symptoms or Conditions" not in terms
    assert mirror.total("device/event", HWC) == 0


def test_sheets_load_only_when_a_query_can_match_them(realdata: Path, in2bones_mirror: Path) -> None:
    link(in2bones_mirror, "maude-sheets/abbott_freestyle_libre_cgm.xlsx", realdata / "maude" / "abbott_freestyle_libre_cgm.xlsx")
    mirror = Mirror(in2bones_mirror)
    assert mirror.total("device/event", HWC) == 13  # a product-code query: sheets have no product code
    sheet = "maude-sheets/abbott_freestyle_libre_cgm.xlsx"
    assert mirror.load_report().file(sheet).status == "not loaded"
    libre = Query((Match("device.brand_name", ("freestyle libre 14 day",), exact=False),))
    brands = [row[5] or "" for row in read_xlsx_rows(realdata / "maude" / "abbott_freestyle_libre_cgm.xlsx")[1:]]
    words = [" ".join(re.findall(r"[a-z0-9]+", b.lower())) for b in brands]
    assert mirror.total("device/event", libre) == sum(f" {w} ".count(" freestyle libre 14 day ") > 0 for w in words) == 2472
    assert mirror.total("device/event", Query((Match("device.brand_name", ("FREESTYLE LIBRE 14 DAY",)),))) == brands.count(
        "FREESTYLE LIBRE 14 DAY")
    assert mirror.load_report().file(sheet).status == "loaded"
    assert mirror.total("device/event", HWC) == 13


@pytest.mark.slow
def test_all_six_sheets_collapse_the_reports_they_share(realdata: Path, tmp_path: Path) -> None:
    folder = tmp_path / "mirror"
    sheets = sorted((realdata / "maude").glob("*.xlsx"))
    for sheet in sheets:
        link(folder, f"maude-sheets/{sheet.name}", sheet)
    mirror = Mirror(folder)
    total = mirror.total("device/event", Query())
    report = mirror.load_report()
    read = sum(f.rows_read for f in report.files)
    assert read == 196274
    # Paradigm and SynchroMed sheets share 22,512 identical reports; MiniMed and Paradigm 75
    assert report.file("maude-sheets/medtronic_paradigm_pump.xlsx").duplicates_collapsed == 75
    assert report.file("maude-sheets/medtronic_synchromed_ii_mdl_2903.xlsx").duplicates_collapsed == 22512
    assert report.duplicates_collapsed == read - total == 22587
