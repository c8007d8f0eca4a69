"""Stage 02_integrate end to end: a collected/ folder in the 01_collect contract, built from real
openFDA / Eudamed records (../shared/realdata), in; validated Parquet tables and summary.json out.
"""
from __future__ import annotations

import copy
import hashlib
import json
from collections import Counter
from pathlib import Path

import pandas as pd
import pytest

from cer_lib.context import RunContext
from cer_lib.integrate import IntegrateSummary, TablesNotFound, integrate, load_summary, load_tables
from cer_lib.params import load_parameters
from cer_lib.profiles import DEVICE
from cer_lib.tables.schemas import TABLE_NAMES, TABLES, TableSchemaError

pytestmark = pytest.mark.realdata


def _load(path: Path):
    return json.loads(path.read_text(encoding="utf-8"), strict=False)


@pytest.fixture(scope="module")
def real_records(realdata: Path) -> dict[str, list]:
    """Records per collected source name, each a real openFDA / Eudamed record."""
    base = realdata / "openfda"
    sample = lambda name: _load(base / "endpoint-samples" / f"device__{name}.json")["results"]  # noqa: E731
    doc = lambda name: _load(base / "doc-examples" / f"device_{name}__examples.json")  # noqa: E731
    return {
        "device_event": _load(base / "in2bones/openFDA_raw_data.json"),
        "device_recall": sample("recall") + [doc("recall")["record"]],
        "device_enforcement": sample("enforcement"),
        "device_510k": sample("510k") + [doc("510k")["record"]],
        "device_pma": sample("pma") + [doc("pma")["header"]],
        "device_classification": sample("classification") + [doc("classification")["header"]],
        "device_udi": sample("udi"),
        "device_registrationlisting": sample("registrationlisting"),
        "eudamed": _load(realdata / "eudamed/udi-di-records.json"),
    }


RESOLUTION = {
    "code": "HWC",
    "kind": "product_code",
    "product_code": "HWC",
    "device_name": "Screw, Fixation, Bone",
    "device_class": "2",
    "regulation_number": "888.3040",
    "review_panel": "OR",
    "medical_specialty": "OR",
    "implant": True,
    "life_sustaining": False,
    "definition": None,
    "comparators": [{"product_code": "NKB", "device_name": "x", "device_class": "3"}, {"product_code": "IZL", "device_name": "y", "device_class": "2"}],
    "comparators_truncated": False,
}


def _count_lines(events: list[dict]) -> list[dict]:
    """counts.jsonl lines as 01_collect writes them, computed from the real reports (two overlapping date chunks)."""
    lines = []

    def line(field, event_type, rows, scope="device", code="HWC", period="all"):
        lines.append(
            {
                "name": "device_event",
                "endpoint": "device/event",
                "search": f"device.device_report_product_code:{code}",
                "field": field,
                "scope": scope,
                "product_code": code,
                "period": period,
                "event_type": event_type,
                "limit": 1000,
                "truncated": False,
                "rows": rows,
            }
        )

    for event_type in ("all", "Death", "Injury", "Malfunction"):
        for years in (range(2016, 2020), range(2019, 2022)):
            days = Counter(
                r["date_received"]
                for r in events
                if event_type in ("all", r["event_type"]) and int(r["date_received"][:4]) in years
            )
            line("date_received", event_type, [{"time": d, "count": n} for d, n in sorted(days.items())])
    days = Counter(r["date_of_event"] for r in events if r.get("date_of_event"))
    line("date_of_event", "all", [{"time": d, "count": n} for d, n in sorted(days.items())])
    terms = Counter(t for r in events for t in set(r.get("product_problems") or []) if t)
    line("product_problems.exact", "all", [{"term": t, "count": n} for t, n in terms.most_common()], period="2020")
    line("patient.patient_problems.exact", "all", [{"term": "Pain", "count": 3}], scope="comparator", code="NKB")
    return lines


def _status(**sources) -> dict:
    names = ["device_event", "device_recall", "device_enforcement", "device_510k", "device_pma", "device_classification", "device_udi", "device_registrationlisting", "eudamed"]
    entries = {
        n: {"name": n, "status": "ok", "reason": None, "last_updated": "2022-01-23", "total": 1, "fetched": 1, "truncated": False, "details": {}}
        for n in names
    }
    for name, change in sources.items():
        entries[name] |= change
    return {"origin": "mirror", "offline": True, "synthetic": False, "mirror": "test", "base_url": None, "sources": entries}


def write_collected(
    run_dir: Path,
    records: dict[str, list],
    *,
    counts: list | None = None,
    totals: list | None = None,
    resolution: dict | None = RESOLUTION,
    status: dict | None = None,
) -> Path:
    """A collected/ folder exactly as the 01_collect contract describes it."""
    collected = run_dir / "collected"
    (collected / "records").mkdir(parents=True, exist_ok=True)
    for name, items in records.items():
        with open(collected / "records" / f"{name}.jsonl", "w", encoding="utf-8") as handle:
            for item in items:
                handle.write(json.dumps(item) + "\n")
    if counts is not None:
        (collected / "counts.jsonl").write_text("".join(json.dumps(c) + "\n" for c in counts))
    if totals is not None:
        (collected / "totals.jsonl").write_text("".join(json.dumps(t) + "\n" for t in totals))
    if resolution is not None:
        (collected / "resolution.json").write_text(json.dumps(resolution))
    if status is not None:
        (collected / "status.json").write_text(json.dumps(status))
    return collected


@pytest.fixture(scope="module")
def params():
    return load_parameters("HWC", overrides={"from": "mirror"}).resolved()


def _ctx(run_dir: Path, params) -> RunContext:
    return RunContext(run_dir, params, stage="02_integrate")


@pytest.fixture()
def full_run(tmp_path, real_records, params):
    events = real_records["device_event"]
    write_collected(
        tmp_path,
        real_records,
        counts=_count_lines(events),
        totals=[{"scope": "device", "product_code": "HWC", "period": "all", "n_reports": 43}],
        status=_status(device_event={"total": 566, "fetched": 43}),
    )
    return tmp_path, integrate(_ctx(tmp_path, params))


# --------------------------------------------------------------------------------------------


def test_integrate_writes_every_table_and_a_summary(full_run):
    run_dir, summary = full_run
    tables_dir = run_dir / "tables"
    assert sorted(p.name for p in tables_dir.iterdir()) == sorted([f"{n}.parquet" for n in TABLE_NAMES] + ["summary.json"])
    data = json.loads((tables_dir / "summary.json").read_text())
    assert set(data["tables"]) == set(TABLE_NAMES)
    events = data["tables"]["events"]
    assert events["rows"] == 43 and events["key"] == ["mdr_report_key"] and events["duplicates_removed"] == 0
    assert events["columns"] == list(TABLES["events"].columns)
    assert any("43 of 566 matching records fetched" in n for n in events["notes"])
    # inputs: sha256 of every collected file
    collected = run_dir / "collected"
    expected = {
        f"collected/{p.relative_to(collected).as_posix()}": hashlib.sha256(p.read_bytes()).hexdigest()
        for p in collected.rglob("*")
        if p.is_file()
    }
    assert data["inputs"] == expected and len(expected) == 13
    counts = data["tables"]["event_counts"]
    assert counts["counters"]["other_negative_days_clipped"] == 0
    assert data["tables"]["submissions"]["notes"] and any("predicate" in n for n in data["tables"]["submissions"]["notes"])
    assert summary["events"].rows == 43


def test_loaded_tables_are_typed_and_match_hand_counts(full_run, real_records):
    run_dir, _ = full_run
    tables = load_tables(run_dir)
    assert set(tables) == set(TABLE_NAMES)
    for name, frame in tables.items():
        assert frame.dtypes.astype(str).to_dict() == TABLES[name].dtypes, name
    events = real_records["device_event"]
    assert len(tables["events"]) == 43
    hwc = {r["mdr_report_key"] for r in events if r["device"][0]["device_report_product_code"] == "HWC"}
    problems = tables["event_problems"]
    hwc_device_rows = sum(len(set(r["product_problems"])) for r in events if r["mdr_report_key"] in hwc)
    assert ((problems["problem_type"] == "device") & problems["mdr_report_key"].isin(hwc)).sum() == hwc_device_rows
    counts = tables["event_counts"]
    received = counts[counts["date_field"] == "date_received"]
    assert received.loc[received["event_type"] == "all", "n_reports"].sum() == 43
    assert counts.loc[counts["date_field"] == "date_of_event", "n_reports"].sum() == sum(1 for r in events if r.get("date_of_event"))
    recalls = tables["recalls"].set_index("recall_key")
    assert recalls.loc["30043", ["product_code", "scope"]].tolist() == ["IZL", "comparator"]
    assert recalls.loc["Z-0359-2013", "scope"] == "comparator"  # NKB is a comparator here
    enforcement = tables["enforcement"]
    assert enforcement["product_code"].isna().all()
    products = tables["products"]
    assert set(products["source"]) == {"udi", "eudamed"}  # FPP/EHE/HGL/HGM are not HWC or a comparator
    assert tables["problem_counts"]["scope"].tolist().count("comparator") == 1
    assert tables["report_totals"]["n_reports"].tolist() == [43]


def test_same_record_twice_counts_as_duplicate(tmp_path, real_records, params):
    records = copy.deepcopy(real_records)
    records["device_event"] = records["device_event"] + [records["device_event"][7]]
    records["device_recall"] = records["device_recall"] + [records["device_recall"][0]]
    write_collected(tmp_path, records)
    summary = integrate(_ctx(tmp_path, params))
    assert summary["events"].duplicates_removed == 1 and summary["events"].rows == 43
    assert summary["recalls"].duplicates_removed == 1
    assert summary["event_devices"].rows == 43


def test_empty_collected_folder_gives_empty_typed_tables(tmp_path, params):
    summary = integrate(_ctx(tmp_path, params))
    assert all(t.rows == 0 for t in summary.tables.values())
    assert any("status.json not found" in n for n in summary.notes)
    tables = load_tables(tmp_path)
    for name, frame in tables.items():
        assert frame.empty and list(frame.columns) == list(TABLES[name].columns)


def test_empty_files_unavailable_sources_and_bad_lines(tmp_path, real_records, params):
    write_collected(
        tmp_path,
        {"device_event": [], "device_recall": []},
        counts=[],
        totals=[],
        status=_status(device_recall={"status": "unavailable", "reason": "offline and not cached"}, eudamed={"status": "disabled", "reason": None}),
    )
    (tmp_path / "collected/records/device_510k.jsonl").write_text(
        json.dumps(real_records["device_510k"][0]) + "\n{not json\n\n"
    )
    summary = integrate(_ctx(tmp_path, params))
    assert summary["events"].rows == 0 and summary["submissions"].rows == 1
    assert "source device_recall unavailable: offline and not cached" in summary["recalls"].notes
    assert "source eudamed disabled" in summary["products"].notes
    assert any("device_510k.jsonl: 1 line(s) not valid JSON" in n for n in summary.notes)
    assert len(load_tables(tmp_path, ["events"])["events"]) == 0


def test_malformed_records_survive_the_stage(tmp_path, real_records, params):
    event = copy.deepcopy(real_records["device_event"][0])
    event.update(date_received="2020-13-45", device={"device_report_product_code": "HWC", "device_sequence_number": "1"})
    recall = copy.deepcopy(real_records["device_recall"][0])  # product_code "IZL--"
    write_collected(tmp_path, {"device_event": [event], "device_recall": [recall]})
    summary = integrate(_ctx(tmp_path, params))
    assert summary["events"].rows == 1 and summary["events"].counters["unreadable_dates"] == 1
    assert any("2020-13-45" in n for n in summary["events"].notes)
    assert summary["event_devices"].rows == 1
    assert any("IZL-- -> IZL" in n for n in summary["recalls"].notes)


def test_schema_failure_stops_the_stage_before_a_summary(tmp_path, real_records, params, monkeypatch):
    write_collected(tmp_path, {"device_event": real_records["device_event"]})

    build = DEVICE.build_tables

    def broken(inputs):
        tables = build(inputs)
        tables["events"].frame.loc[0, "event_type"] = "Explosion"
        return tables

    monkeypatch.setattr(DEVICE, "build_tables", broken)  # the device profile builds the tables
    with pytest.raises(TableSchemaError, match=r"(?s)table 'events'.*column 'event_type'.*'Explosion'"):
        integrate(_ctx(tmp_path, params))
    assert not (tmp_path / "tables" / "summary.json").exists()
    with pytest.raises(TablesNotFound, match="run stage 02_integrate first"):
        load_tables(tmp_path)


def test_load_tables_validates_what_it_reads(full_run):
    run_dir, _ = full_run
    path = run_dir / "tables" / "events.parquet"
    frame = pd.read_parquet(path)
    frame.loc[0, "event_type"] = "Explosion"
    frame.to_parquet(path, index=False)
    with pytest.raises(TableSchemaError, match=r"'Explosion'"):
        load_tables(run_dir, ["events"])
    assert len(load_tables(run_dir, ["recalls"])["recalls"]) == 2


def test_rerun_replaces_tables_atomically(full_run, params):
    run_dir, first = full_run
    second = integrate(_ctx(run_dir, params))
    assert second.to_json() == first.to_json()
    assert not [p.name for p in (run_dir / "tables").iterdir() if p.name.startswith(".")]  # no temp files left


def test_summary_display(full_run):
    run_dir, summary = full_run
    text = str(summary)
    assert text.splitlines()[0] == f"integrated {len(TABLE_NAMES)} tables from 13 collected file(s)"
    assert "events" in text and "mdr_report_key" in text
    frame = summary.to_frame()
    assert list(frame["table"]) == list(TABLE_NAMES)
    assert frame.set_index("table").loc["events", "rows"] == 43
    assert "<table" in summary._repr_html_()
    again = load_summary(run_dir)
    assert isinstance(again, IntegrateSummary) and again.to_json() == summary.to_json()
