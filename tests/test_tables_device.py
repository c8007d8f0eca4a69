"""Tidy device tables built from real openFDA / Eudamed records (../shared/realdata).

Expected numbers are computed in the tests by plain Python over the raw JSON (independently of the
code under test) or read off the records by hand; the sources are named next to each test.
"""
from __future__ import annotations

import copy
import json
from collections import Counter
from pathlib import Path

import pandas as pd
import pytest

from cer_lib.errors import CerError
from cer_lib.tables import device as dev
from cer_lib.tables.schemas import TABLE_NAMES, TABLES, TableSchemaError, empty_table, validate_table

pytestmark = pytest.mark.realdata


# --------------------------------------------------------------------------------------------
# real records


def _load(path: Path):
    return json.loads(path.read_text(encoding="utf-8"), strict=False)


@pytest.fixture(scope="module")
def in2bones(realdata: Path) -> list[dict]:
    """43 real MAUDE reports of IN2BONES (openFDA device/event ``results``)."""
    return _load(realdata / "openfda/in2bones/openFDA_raw_data.json")


@pytest.fixture(scope="module")
def wide_sample(realdata: Path) -> dict:
    """FDA pipeline test report 538836 (outcomes in openFDA's word form, event_key set)."""
    return _load(realdata / "openfda/fda-pipeline-tests/maude__data__wide_sample.json")


@pytest.fixture(scope="module")
def samples(realdata: Path) -> dict[str, dict]:
    """One real record per device endpoint: endpoint-samples (full envelope) and doc-examples."""
    base = realdata / "openfda"
    first = lambda name: _load(base / "endpoint-samples" / f"device__{name}.json")["results"][0]  # noqa: E731
    doc = lambda name: _load(base / "doc-examples" / f"device_{name}__examples.json")  # noqa: E731
    return {
        "recall": first("recall"),
        "recall_doc": doc("recall")["record"],
        "recall_doc_anatomy": doc("recall")["anatomy"]["results"][0],
        "enforcement": first("enforcement"),
        "enforcement_doc": doc("enforcement")["result"],
        "510k": first("510k"),
        "510k_doc": doc("510k")["record"],
        "pma": first("pma"),
        "pma_doc": doc("pma")["header"],
        "classification": first("classification"),
        "classification_doc": doc("classification")["header"],
        "udi": first("udi"),
        "udi_doc": doc("udi")["header"],
        "registrationlisting": first("registrationlisting"),
        "eudamed": _load(realdata / "eudamed/udi-di-records.json"),
    }


def _hwc_keys(records: list[dict]) -> set[str]:
    return {
        r["mdr_report_key"]
        for r in records
        if any(d.get("device_report_product_code") == "HWC" for d in r.get("device", []))
    }


def _valid(table: dev.TidyTable) -> pd.DataFrame:
    return validate_table(table.name, table.frame)


# --------------------------------------------------------------------------------------------
# events and their child tables


def test_events_from_in2bones(in2bones):
    table = dev.events_table(in2bones)
    frame = _valid(table)
    assert len(frame) == 43 and frame["mdr_report_key"].is_unique
    assert table.duplicates_removed == 0
    assert Counter(frame["event_type"]) == Counter(r["event_type"] for r in in2bones)  # Malfunction 37, Injury 6
    assert str(frame["date_received"].dtype) == "datetime64[ns]"
    assert str(frame["report_number"].dtype) == "string"
    assert str(frame["adverse_event_flag"].dtype) == "boolean"
    # MANIFEST: received 2016-11 ... 2021-09
    assert frame["date_received"].min().strftime("%Y-%m") == "2016-11"
    assert frame["date_received"].max().strftime("%Y-%m") == "2021-09"
    # manufacturer reports leave manufacturer_name blank and fill section G1
    first = frame.set_index("mdr_report_key").loc["10313964"]
    assert first["manufacturer_name"] == "IN2BONES USA"
    assert first["source_type"] == "DISTRIBUTOR; HEALTH PROFESSION"
    assert first["date_of_event"] == pd.Timestamp("2020-07-14")
    assert first["adverse_event_flag"] is False or first["adverse_event_flag"] == False  # noqa: E712


def test_event_devices_product_codes_match_raw(in2bones):
    frame = _valid(dev.event_devices_table(in2bones))
    raw = Counter(d["device_report_product_code"] for r in in2bones for d in r["device"])
    assert Counter(frame["product_code"]) == raw
    assert raw["HWC"] == 13  # MANIFEST
    row = frame[frame["mdr_report_key"] == "10313964"].iloc[0]
    assert (row["device_sequence_number"], row["product_code"], row["device_class"]) == (1, "LXH", "1")
    assert row["regulation_number"] == "888.4540" and pd.isna(row["implant_flag"])


def test_hwc_problem_rows_match_plain_python(in2bones):
    """Device and patient problem rows of the HWC reports, computed over the raw JSON."""
    hwc = _hwc_keys(in2bones)
    assert len(hwc) == 13
    expected_device = sum(
        len({t.strip() for t in r.get("product_problems") or [] if t and t.strip()})
        for r in in2bones
        if r["mdr_report_key"] in hwc
    )
    expected_patient = sum(
        len(
            {
                (p.get("patient_sequence_number"), t.strip())
                for p in r.get("patient") or []
                for t in p.get("patient_problems") or []
                if t and t.strip()
            }
        )
        for r in in2bones
        if r["mdr_report_key"] in hwc
    )
    problems = _valid(dev.event_problems_table(in2bones))
    devices = dev.event_devices_table(in2bones).frame
    hwc_keys = set(devices.loc[devices["product_code"] == "HWC", "mdr_report_key"])
    assert hwc_keys == hwc
    mine = problems[problems["mdr_report_key"].isin(hwc_keys)]
    assert (mine["problem_type"] == "device").sum() == expected_device
    assert (mine["problem_type"] == "patient").sum() == expected_patient
    assert mine.loc[mine["problem_type"] == "device", "patient_sequence_number"].isna().all()
    assert (mine.loc[mine["problem_type"] == "patient", "patient_sequence_number"] == 1).all()


def test_event_texts_are_stored_raw(in2bones):
    record = copy.deepcopy(in2bones[0])
    hostile = "  <script>alert('x')</script> & {{ jinja }}\n"
    record["mdr_report_key"] = "X-1"
    record["mdr_text"] = [{"mdr_text_key": "9", "text_type_code": "Description of Event or Problem", "patient_sequence_number": "1", "text": hostile}]
    table = dev.event_texts_table(in2bones + [record])
    frame = _valid(table)
    expected = sum(1 for r in in2bones for t in r.get("mdr_text", []) if t.get("text", "").strip())
    assert len(frame) == expected + 1  # 56 narratives + the added one
    assert frame.loc[frame["mdr_report_key"] == "X-1", "text"].item() == hostile  # not stripped, not escaped
    assert "UNTRUSTED" in dev.event_texts_table.__doc__


def test_patient_outcomes_in2bones(in2bones, wide_sample):
    table = dev.patient_outcomes_table(in2bones + [wide_sample])
    frame = _valid(table)
    mine = Counter(frame.loc[frame["mdr_report_key"] != "538836", "outcome"])
    # raw values: ['1. R'] x12, ['1. O'] x7, ['1. H'] x2, ['1. H', ' 2. O'] x1, [''] x21
    assert mine == {"Required intervention": 12, "Other": 8, "Hospitalization": 3}
    # "1, Life Threatening", "1, Life Threatening, 2, Required Intervention": two distinct outcomes
    wide = frame[frame["mdr_report_key"] == "538836"]
    assert list(wide["outcome"]) == ["Life threatening", "Required intervention"]


def test_outcome_codes_from_flat_file(realdata):
    """maude patient.txt: ``1. L; 2. R`` concatenated in one field."""
    lines = (realdata / "openfda/fda-pipeline-tests/maude__tests__data__patient.txt").read_text().splitlines()
    header = lines[0].split("|")
    rows = [dict(zip(header, line.split("|"))) for line in lines[1:]]
    parsed = {r["mdr_report_key"]: dev.parse_outcomes(r["sequence_number_outcome"]) for r in rows}
    assert parsed["538836"] == (["Life threatening", "Required intervention"], [])
    assert parsed["1511544"] == (["Other"], [])
    assert parsed["1511543"] == (["Hospitalization"], [])
    assert parsed["1511541"] == ([], [])
    assert dev.parse_outcomes(["1. D", "2. S", "3. C", "4. *", "5. X"]) == (
        ["Death", "Disability", "Congenital anomaly", "Invalid data"],
        ["X"],
    )


def test_same_report_twice_is_removed_everywhere(in2bones):
    doubled = in2bones + [copy.deepcopy(in2bones[5])]
    single = dev.build_device_tables({"device_event": in2bones})
    double = dev.build_device_tables({"device_event": doubled})
    assert double["events"].duplicates_removed == 1
    assert any("1 repeated record" in note for note in double["events"].notes)
    for name in ("events", "event_devices", "event_problems", "event_texts", "patient_outcomes"):
        pd.testing.assert_frame_equal(single[name].frame, double[name].frame)


def test_shared_report_number_is_noted_not_removed(in2bones):
    twin = copy.deepcopy(in2bones[0])
    twin["mdr_report_key"] = "99999999"
    table = dev.events_table(in2bones + [twin])
    assert len(table.frame) == 44 and table.duplicates_removed == 0
    assert any("report_number" in note and "3011580264-2020-00004" in note for note in table.notes)
    assert table.counters["report_numbers_shared"] == 1


def test_event_type_normalised_and_raw_kept(in2bones):
    records = []
    for key, raw in (("a", "No answer provided"), ("b", ""), ("c", "death"), ("d", None), ("e", "*")):
        record = copy.deepcopy(in2bones[0])
        record["mdr_report_key"] = key
        record["event_type"] = raw
        records.append(record)
    frame = _valid(dev.events_table(records)).set_index("mdr_report_key")
    assert list(frame["event_type"]) == ["Other", "Other", "Death", "Other", "Other"]
    assert frame.loc["a", "event_type_raw"] == "No answer provided"
    assert pd.isna(frame.loc["b", "event_type_raw"]) and pd.isna(frame.loc["d", "event_type_raw"])


def test_malformed_event_records_survive(in2bones):
    bad_date = copy.deepcopy(in2bones[0])
    bad_date.update(mdr_report_key="bad-date", date_received="2020-13-45", date_of_event="20201301")
    device_object = copy.deepcopy(in2bones[1])
    device_object.update(mdr_report_key="device-object", device=in2bones[1]["device"][0])
    device_string = copy.deepcopy(in2bones[2])
    device_string.update(mdr_report_key="device-string", device="HWC", patient="n/a", mdr_text=None)
    no_key = copy.deepcopy(in2bones[3])
    del no_key["mdr_report_key"]
    odd_seq = copy.deepcopy(in2bones[4])
    odd_seq["mdr_report_key"] = "odd-seq"
    odd_seq["device"][0]["device_sequence_number"] = " 1.0"  # as in FDA's own doc example
    records = [bad_date, device_object, device_string, no_key, odd_seq, "not a record", None]
    tables = dev.build_device_tables({"device_event": records})
    for name, table in tables.items():
        validate_table(name, table.frame)
    events = tables["events"]
    assert set(events.frame["mdr_report_key"]) == {"bad-date", "device-object", "device-string", "odd-seq"}
    row = events.frame.set_index("mdr_report_key").loc["bad-date"]
    assert pd.isna(row["date_received"]) and pd.isna(row["date_of_event"])
    assert events.counters["unreadable_dates"] == 2
    assert any("date_received" in n and "2020-13-45" in n for n in events.notes)
    assert any("without an mdr_report_key" in n for n in events.notes)
    assert any("not JSON objects" in n for n in events.notes)
    devices = tables["event_devices"]
    assert set(devices.frame["mdr_report_key"]) == {"bad-date", "device-object", "odd-seq"}
    assert devices.frame.set_index("mdr_report_key").loc["odd-seq", "device_sequence_number"] == 1
    assert any("`device` as an object" in n for n in devices.notes)
    assert any("unreadable `device`" in n for n in devices.notes)


def test_value_readers():
    assert dev.parse_date("20200714")[0] == pd.Timestamp("2020-07-14")
    assert dev.parse_date("2003-10-27")[0] == pd.Timestamp("2003-10-27")
    assert dev.parse_date("06/10/2004")[0] == pd.Timestamp("2004-06-10")
    assert dev.parse_date("2020-13-45") == (None, True)
    assert dev.parse_date("") == (None, False)
    assert dev.parse_count(" 1.0") == (1, False)
    assert dev.parse_count("x") == (None, True)
    assert dev.parse_flag("Y") is True and dev.parse_flag("N") is False and dev.parse_flag("*") is None
    assert dev.normalise_product_code("IZL--") == ("IZL", True)
    assert dev.normalise_product_code("N/A") == ("N/A", False)


# --------------------------------------------------------------------------------------------
# recalls, enforcement, submissions, products


def test_recalls_real_records(samples):
    records = [samples["recall"], samples["recall_doc"], samples["recall_doc_anatomy"], copy.deepcopy(samples["recall"])]
    resolution = {"product_code": "NKB", "comparators": [{"product_code": "IZL"}]}
    table = dev.recalls_table(records, resolution)
    frame = _valid(table).set_index("recall_key")
    assert table.duplicates_removed == 1
    assert len(frame) == 3
    sedecal = frame.loc["30043"]  # cfres_id
    assert sedecal["product_code"] == "IZL" and sedecal["scope"] == "comparator"
    assert sedecal["event_date_initiated"] == pd.Timestamp("2003-10-27")
    assert sedecal["k_numbers"] == "K020436" and pd.isna(sedecal["pma_numbers"])
    assert any("IZL-- -> IZL" in n for n in table.notes)
    nkb = frame.loc["Z-0359-2013"]  # no cfres_id in the doc example: product_res_number is the key
    assert nkb["scope"] == "device" and nkb["root_cause_description"] == "Device Design"
    assert pd.isna(frame.loc[frame["product_code"] == "FOZ", "scope"]).all()  # neither device nor comparator


def test_enforcement_real_records(samples):
    records = [samples["enforcement"], samples["enforcement_doc"], copy.deepcopy(samples["enforcement"])]
    table = dev.enforcement_table(records, {"product_code": "HWC"})
    frame = _valid(table)
    assert table.duplicates_removed == 1
    # the FDA doc example has no recall_number: it cannot be keyed
    assert list(frame["recall_number"]) == ["Z-1448-2019"]
    row = frame.iloc[0]
    assert row["classification"] == "Class II" and row["status"] == "Terminated"
    assert row["center_classification_date"] == pd.Timestamp("2019-05-23")
    assert pd.isna(row["product_code"]) and pd.isna(row["scope"])  # empty openfda block: never guessed
    assert any("without a recall_number" in n for n in table.notes)
    # a recall with the same Z-number gives the scope (not the product code)
    recalls = dev.recalls_table(
        [{"product_res_number": "Z-1448-2019", "product_code": "HWC", "recall_status": "Terminated"}],
        {"product_code": "HWC"},
    ).frame
    linked = dev.enforcement_table([samples["enforcement"]], {"product_code": "HWC"}, recalls).frame.iloc[0]
    assert linked["scope"] == "device" and pd.isna(linked["product_code"])


def test_submissions_real_records(samples):
    de_novo = copy.deepcopy(samples["510k"])
    de_novo["k_number"] = "DEN170001"
    records_510k = [samples["510k"], samples["510k_doc"], de_novo, copy.deepcopy(samples["510k"])]
    table = dev.submissions_table(records_510k, [samples["pma"], samples["pma_doc"]])
    frame = _valid(table).set_index("number")
    assert table.duplicates_removed == 1
    assert frame.loc["K143570", "submission_type"] == "510(k)"
    assert frame.loc["K143570", "decision"] == "Substantially Equivalent"
    assert frame.loc["K143570", "decision_date"] == pd.Timestamp("2015-06-04")
    assert frame.loc["DEN170001", "submission_type"] == "De Novo"
    assert frame.loc["P910077", "submission_type"] == "PMA supplement"
    assert frame.loc["P910077", "supplement_number"] == "S030"
    assert frame.loc["P970051", "trade_name"] == "NUCLEUS 24 COCHLEAR IMPLANT SYSTEM"
    assert frame["predicates"].isna().all()
    assert dev.PREDICATES_NOTE in table.notes
    assert "predicate" in dev.submissions_table.__doc__


def test_products_real_records(samples):
    table = dev.products_table(
        classification=[samples["classification"], samples["classification_doc"]],
        udi=[samples["udi"], samples["udi_doc"]],
        registrationlisting=[samples["registrationlisting"]],
        eudamed=samples["eudamed"] + [samples["eudamed"][0]],
    )
    frame = _valid(table)
    assert table.duplicates_removed == 1  # the repeated Eudamed record
    assert Counter(frame["source"]) == {"classification": 2, "udi": 3, "registrationlisting": 2, "eudamed": 3}
    fpp = frame[(frame["source"] == "classification") & (frame["product_code"] == "FPP")].iloc[0]
    assert fpp["implant"] == False and fpp["life_sustaining"] == False  # noqa: E712
    assert fpp["review_panel"] == "HO" and fpp["regulation_number"] == "880.6900"
    udi = frame[frame["source"] == "udi"].set_index("record_key")
    assert udi.loc["00810005110402|NKB", "udi_di"] == "00810005110402"
    assert udi.loc["00810005110402|NKB", "company_name"] == "OrthoCircle Spine"
    eu = frame[frame["source"] == "eudamed"].set_index("record_key")
    row = eu.loc["3c64348f-04c2-4be4-92e2-4ac5bddc8186"]
    assert (row["udi_di"], row["basic_udi_di"], row["eu_risk_class"], row["eu_status"]) == (
        "06980211292118",
        "698021129RLTPW",
        "Class I",
        "on the market",
    )
    # with a resolution, listings under other product codes are dropped
    scoped = dev.products_table(
        classification=[samples["classification"]],
        udi=[samples["udi_doc"]],
        registrationlisting=[samples["registrationlisting"]],
        resolution={"product_code": "MAX", "comparators": [{"product_code": "HGL"}]},
    )
    assert sorted(zip(scoped.frame["source"], scoped.frame["product_code"])) == [("registrationlisting", "HGL"), ("udi", "MAX")]
    assert any("3 listing row(s)" in n for n in scoped.notes)


# --------------------------------------------------------------------------------------------
# count queries


def _date_line(field: str, event_type: str, rows: list[dict], **extra) -> dict:
    return {
        "name": "device_event",
        "endpoint": "device/event",
        "field": field,
        "scope": "device",
        "product_code": "HWC",
        "period": "all",
        "event_type": event_type,
        "limit": 1000,
        "truncated": False,
        "rows": rows,
    } | extra


def _daily_rows(records: list[dict], event_type: str | None, years: range) -> list[dict]:
    """openFDA ``count=date_received`` rows computed from a record set (MANIFEST: 'compute such series')."""
    days = Counter(
        r["date_received"]
        for r in records
        if (event_type is None or r["event_type"] == event_type) and int(r["date_received"][:4]) in years
    )
    return [{"time": day, "count": n} for day, n in sorted(days.items())]


def test_event_counts_overlapping_chunks_not_double_counted(in2bones):
    lines = []
    for event_type, label in ((None, "all"), ("Death", "Death"), ("Injury", "Injury"), ("Malfunction", "Malfunction")):
        for years in (range(2016, 2020), range(2019, 2022)):  # 2019 is in both chunks
            lines.append(_date_line("date_received", label, _daily_rows(in2bones, event_type, years)))
    table = dev.event_counts_table(lines)
    frame = _valid(table)
    received = frame[frame["date_field"] == "date_received"]
    assert received.loc[received["event_type"] == "all", "n_reports"].sum() == 43
    assert received.loc[received["event_type"] == "Malfunction", "n_reports"].sum() == 37
    assert received.loc[received["event_type"] == "Injury", "n_reports"].sum() == 6
    assert not (received["event_type"] == "Other").any()  # every report is D, I or M
    repeated_2019 = sum(len(_daily_rows(in2bones, t, range(2019, 2020))) for t in (None, "Death", "Injury", "Malfunction"))
    assert repeated_2019 > 0 and table.duplicates_removed == repeated_2019
    assert table.counters["other_negative_days_clipped"] == 0


def test_event_counts_real_count_response_in_overlapping_chunks(realdata):
    """A real openFDA ``count=receivedate`` answer (152 days of 2004), fed as two overlapping chunks."""
    rows = _load(realdata / "openfda/drug-event-count-receivedate-2004.json")["results"]
    lines = [_date_line("date_received", "all", rows[:100]), _date_line("date_received", "all", rows[80:])]
    table = dev.event_counts_table(lines)
    frame = _valid(table)
    assert len(frame) == 152 and table.duplicates_removed == 20
    assert frame["n_reports"].sum() == sum(r["count"] for r in rows)
    assert any("Other not computed" in n for n in table.notes)


def test_other_is_all_minus_death_injury_malfunction_clipped():
    day1, day2, day3 = "20210104", "20210105", "20210106"
    lines = [
        _date_line("date_received", "all", [{"time": day1, "count": 10}, {"time": day2, "count": 1}, {"time": day3, "count": 4}]),
        _date_line("date_received", "Death", [{"time": day1, "count": 1}]),
        _date_line("date_received", "Injury", [{"time": day1, "count": 2}, {"time": day3, "count": 4}]),
        _date_line("date_received", "Malfunction", [{"time": day1, "count": 3}, {"time": day2, "count": 3}]),
        _date_line("date_of_event", "all", [{"time": day1, "count": 7}]),
    ]
    table = dev.event_counts_table(lines)
    frame = _valid(table)
    other = frame[frame["event_type"] == "Other"]
    # day1: 10-1-2-3 = 4; day2: 1-0-0-3 = -2 -> clipped to 0 (no row); day3: 4-0-4-0 = 0 (no row)
    assert list(zip(other["date"].dt.strftime("%Y%m%d"), other["n_reports"])) == [(day1, 4)]
    assert table.counters["other_negative_days_clipped"] == 1
    assert any("1 day(s) had a negative difference" in n for n in table.notes)
    assert (frame.loc[frame["date_field"] == "date_of_event", "event_type"] == "all").all()


def test_problem_counts_and_totals():
    term_line = {
        "name": "device_event",
        "endpoint": "device/event",
        "field": "product_problems.exact",
        "scope": "device",
        "product_code": "HWC",
        "period": "2020",
        "event_type": "all",
        "limit": 3,
        "truncated": True,
        "rows": [{"term": "Break", "count": 7}, {"term": "Material Fragmentation", "count": 20}, {"term": "", "count": 2}],
    }
    patient_line = term_line | {"field": "patient.patient_problems.exact", "scope": "comparator", "product_code": "HTN", "period": "all", "truncated": False, "rows": [{"term": "Pain", "count": 2}]}
    table = dev.problem_counts_table([term_line, patient_line, term_line, _date_line("date_received", "all", [])])
    frame = _valid(table)
    assert len(frame) == 3 and table.duplicates_removed == 2
    assert frame.loc[frame["term"] == "Break", "truncated"].item() == True  # noqa: E712
    assert frame.loc[frame["term"] == "Pain", ["scope", "problem_type"]].values.tolist() == [["comparator", "patient"]]
    assert any("blank problem term" in n for n in table.notes)
    totals = dev.report_totals_table(
        [
            {"scope": "device", "product_code": "HWC", "period": "all", "n_reports": 566},
            {"scope": "device", "product_code": "HWC", "period": "all", "n_reports": 566},
            {"scope": "device", "product_code": "HWC", "period": "2020", "n_reports": None},
        ]
    )
    assert len(_valid(totals)) == 1 and totals.duplicates_removed == 1 and totals.notes


# --------------------------------------------------------------------------------------------
# schemas


def test_empty_inputs_give_empty_typed_tables():
    tables = dev.build_device_tables({})
    assert set(tables) == set(TABLE_NAMES)
    for name, table in tables.items():
        assert table.frame.empty
        assert list(table.frame.columns) == list(TABLES[name].columns)
        assert table.frame.dtypes.astype(str).to_dict() == TABLES[name].dtypes
        validate_table(name, table.frame)


def test_schema_failure_names_table_column_and_values(in2bones):
    frame = dev.events_table(in2bones).frame.copy()
    frame.loc[0, "event_type"] = "Explosion"
    frame.loc[1, "mdr_report_key"] = pd.NA
    frame.loc[2, "n_devices"] = -3
    with pytest.raises(TableSchemaError) as raised:
        validate_table("events", frame)
    message = str(raised.value)
    assert isinstance(raised.value, CerError)
    assert "table 'events'" in message
    assert "column 'event_type'" in message and "'Explosion'" in message
    assert "column 'mdr_report_key'" in message and "not_nullable" in message
    assert "column 'n_devices'" in message and "-3" in message


def test_schema_failure_on_dtype_missing_column_and_duplicate_key(in2bones):
    frame = dev.events_table(in2bones).frame
    with pytest.raises(TableSchemaError, match=r"column 'report_number': expected dtype string, found object"):
        validate_table("events", frame.astype({"report_number": object}))
    with pytest.raises(TableSchemaError, match=r"missing column\(s\): 'event_key'"):
        validate_table("events", frame.drop(columns=["event_key"]))
    with pytest.raises(TableSchemaError, match=r"column .mdr_report_key.: duplicate key value.*10313964"):
        validate_table("events", pd.concat([frame, frame.iloc[:1]], ignore_index=True))
    problems = dev.event_problems_table(in2bones).frame.copy()
    problems.loc[0, "patient_sequence_number"] = 1  # a device problem with a patient
    with pytest.raises(TableSchemaError, match="device_problem_without_patient"):
        validate_table("event_problems", problems)
    assert empty_table("recalls").empty
