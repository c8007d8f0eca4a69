"""A mirror file that cannot be read as intended never gives a quietly empty or short result (issue 11,
items 1 and 2): real files from ../shared/realdata, copied into tmp folders and damaged there.

Each damaged variant either reads exactly like the good file (an encoding that is detected), or
stops every query of the endpoint it feeds with a MirrorError naming the file, the line and the
reason; smaller rejections are listed per file in the typed load report.
"""
from __future__ import annotations

import csv
import os
import datetime as dt
import io
import json
import struct
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from cer_lib.doctor import collect_checks, ready_modes
from cer_lib.errors import MirrorError
from cer_lib.settings import PROJECT_ROOT
from cer_lib.sources.base import DateRange, Match, Query
from cer_lib.sources.mirror import DEFAULT_MAX_REJECTED_SHARE, Mirror, MirrorLoadReport
from cer_lib.sources.mirror.formats.foiclass import product_codes

FOITEXT = Path("maude/foitext2007.pos.txt")  # 7,669 real narratives of 5,153 reports, no header
PIPELINE = Path("openfda/fda-pipeline-tests")
IN2BONES = Path("openfda/in2bones")
FOICLASS = Path("classification/foiclass.txt")
ALL = Query()


def put(folder: Path, place: str, data: bytes | str) -> Path:
    path = folder / place
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data.encode("utf-8") if isinstance(data, str) else data)
    return path


def foitext_keys(realdata: Path) -> list[str]:
    lines = (realdata / FOITEXT).read_text(encoding="utf-8").splitlines()
    return sorted({line.split("|", 1)[0] for line in lines if line.strip()}, key=int)


def masters(keys: list[str]) -> str:
    """mdrfoi master rows for ``keys`` (the real subset ships without its master file)."""
    return "MDR_REPORT_KEY|REPORT_NUMBER|DATE_RECEIVED|EVENT_TYPE\n" + "".join(f"{k}|R-{k}|06/30/2007|M\n" for k in keys)


def foitext_mirror(folder: Path, realdata: Path, foitext: bytes | None = None, patient: str | None = None) -> Path:
    """A mirror of the real foitext2007 subset (or a damaged copy of it), master rows for its
    reports and, when given, a patient file."""
    put(folder, "maude/mdrfoi2007.txt", masters(foitext_keys(realdata)))
    put(folder, "maude/foitext2007.txt", foitext if foitext is not None else (realdata / FOITEXT).read_bytes())
    if patient is not None:
        put(folder, "maude/patient2007.txt", patient)
    return folder


def narratives(mirror: Mirror) -> dict[str, list]:
    return {r["mdr_report_key"]: r["mdr_text"] for r in mirror.search("device/event", ALL).records}


def pipe_rows(path: Path, encoding: str = "utf-8") -> list[list[str]]:
    with open(path, newline="", encoding=encoding) as handle:
        return list(csv.reader(handle, delimiter="|"))


def as_csv(rows: list[list[str]], delimiter: str) -> str:
    out = io.StringIO()
    csv.writer(out, delimiter=delimiter, lineterminator="\n").writerows(rows)
    return out.getvalue()


# ----------------------------------------------------------------------------------------------
# encodings: detected, so a re-saved file reads exactly like the original


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le", "utf-8-sig"])
def test_a_maude_file_saved_in_another_unicode_encoding_reads_like_the_original(realdata: Path, tmp_path: Path, encoding: str) -> None:
    good = Mirror(foitext_mirror(tmp_path / "good", realdata))
    expected = narratives(good)
    assert len(expected) == 5153 and sum(len(texts) for texts in expected.values()) == 7669
    text = (realdata / FOITEXT).read_text(encoding="utf-8")
    resaved = Mirror(foitext_mirror(tmp_path / encoding, realdata, foitext=text.encode(encoding)))  # "utf-16": with a BOM
    assert narratives(resaved) == expected
    report = resaved.load_report().file("maude/foitext2007.txt")
    assert report.encoding == {"utf-16": "utf-16-le", "utf-16-le": "utf-16-le", "utf-8-sig": "utf-8"}[encoding]
    assert report.rows_rejected == 0 and report.rows_kept == 7669


def test_a_publisher_csv_saved_as_utf16_reads_like_the_original(realdata: Path, tmp_path: Path) -> None:
    text = (realdata / IN2BONES / "510k_data.csv").read_text(encoding="utf-8")
    hwc = Query((Match("product_code", ("HWC",)),))
    good = Mirror(put(tmp_path / "good", "device/510k/510k_data.csv", text).parents[2])
    resaved = Mirror(put(tmp_path / "utf16", "device/510k/510k_data.csv", text.encode("utf-16")).parents[2])
    expected = good.search("device/510k", hwc).records
    assert len(expected) == sum(1 for row in pipe_rows(realdata / IN2BONES / "510k_data.csv") if row[2] == "HWC") == 7
    assert resaved.search("device/510k", hwc).records == expected


def test_binary_data_is_refused_not_read_as_latin1(realdata: Path, tmp_path: Path) -> None:
    junk = struct.pack("<4I", 7669, 5153, 2007, 0) * 512  # numbers as 4-byte integers: NUL bytes that are not UTF-16 text
    mirror = Mirror(foitext_mirror(tmp_path / "m", realdata, foitext=junk))
    with pytest.raises(MirrorError, match=r"foitext2007\.txt: binary data \(a NUL byte at byte 2\)"):
        mirror.total("device/event", ALL)


# ----------------------------------------------------------------------------------------------
# delimiters and columns: refused on line 1


def test_a_maude_file_resaved_with_commas_is_refused_naming_file_line_and_reason(realdata: Path, tmp_path: Path) -> None:
    rows = [line.split("|") for line in (realdata / FOITEXT).read_text(encoding="utf-8").splitlines()]
    mirror = Mirror(foitext_mirror(tmp_path / "m", realdata, foitext=as_csv(rows, ",").encode()))
    with pytest.raises(MirrorError) as failure:
        mirror.total("device/event", ALL)
    message = str(failure.value)
    assert "foitext2007.txt: line 1: not '|'-delimited (it holds" in message and "',' instead)" in message
    with pytest.raises(MirrorError, match="foitext2007.txt: line 1: not '|'-delimited"):  # every later query too
        mirror.search("device/event", Query((Match("mdr_report_key", ("866131",)),)))
    assert mirror.load_report().file("maude/foitext2007.txt").status == "refused"


def test_a_maude_file_without_a_required_column_is_refused(realdata: Path, tmp_path: Path) -> None:
    rows = pipe_rows(realdata / PIPELINE / "maude__tests__data__foidev.txt", encoding="latin-1")
    column = rows[0].index("device_report_product_code")
    cut = "".join("|".join(row[:column] + row[column + 1:]) + "\n" for row in rows)
    folder = tmp_path / "m"
    put(folder, "maude/mdrfoi.txt", masters([row[0] for row in rows[1:]]))
    put(folder, "maude/foidev.txt", cut)
    jpa = Query((Match("device.device_report_product_code", ("JPA",)),))
    with pytest.raises(MirrorError, match=r"foidev\.txt: line 1: the header has no DEVICE_REPORT_PRODUCT_CODE column"):
        Mirror(folder).total("device/event", jpa)
    # the same files with the column: the excerpt's JPA reports are found by their product code
    put(folder, "maude/foidev.txt", (realdata / PIPELINE / "maude__tests__data__foidev.txt").read_bytes())
    assert Mirror(folder).total("device/event", jpa) == sum(row[column] == "JPA" for row in rows[1:]) == 2


def test_an_empty_main_file_beside_full_companions_is_refused(realdata: Path, tmp_path: Path) -> None:
    for content in ("", "MDR_REPORT_KEY|REPORT_NUMBER|DATE_RECEIVED|EVENT_TYPE\n"):
        folder = foitext_mirror(tmp_path / f"m{len(content)}", realdata)
        put(folder, "maude/mdrfoi2007.txt", content)
        mirror = Mirror(folder)
        with pytest.raises(MirrorError) as failure:
            mirror.total("device/event", ALL)
        message = str(failure.value)
        assert "maude/mdrfoi2007.txt: line 1: no data row (the file is empty or holds only its header" in message
        assert "maude/foitext2007.txt: no usable row: all 7,669 rows rejected; 7669 rows: no mdrfoi master row" in message
        assert {f.path for f in mirror.load_report().refused} == {"maude/mdrfoi2007.txt", "maude/foitext2007.txt"}


def test_a_publisher_csv_with_the_wrong_delimiter_or_without_its_product_code_is_refused(realdata: Path, tmp_path: Path) -> None:
    rows = pipe_rows(realdata / IN2BONES / "510k_data.csv")
    hwc = Query((Match("product_code", ("HWC",)),))
    commas = Mirror(put(tmp_path / "commas", "device/510k/510k_data.csv", as_csv(rows, ",")).parents[2])
    with pytest.raises(MirrorError, match=r"510k_data\.csv: line 1: not '\|'-delimited \(it holds 8 ',' instead\)"):
        commas.search("device/510k", hwc)
    column = rows[0].index("product_code")
    without = Mirror(put(tmp_path / "no-code", "device/510k/510k_data.csv",
                         as_csv([row[:column] + row[column + 1:] for row in rows], "|")).parents[2])
    with pytest.raises(MirrorError, match=r"510k_data\.csv: line 1: no product_code column; a publisher device/510k CSV needs it"):
        without.search("device/510k", hwc)


# ----------------------------------------------------------------------------------------------
# rejected rows: a few are listed per file, too many refuse the file


def patient_rows(keys: list[str], stray: int) -> str:
    """One patient row per report; the first ``stray`` rows hold a stray '|' in the outcome field."""
    return "".join(f"{k}|1|06/30/2007||1. H{'|X' if i < stray else ''}\n" for i, k in enumerate(keys))


def test_stray_delimiters_in_too_many_rows_refuse_the_file(realdata: Path, tmp_path: Path) -> None:
    keys = foitext_keys(realdata)
    mirror = Mirror(foitext_mirror(tmp_path / "m", realdata, patient=patient_rows(keys, 200)))
    with pytest.raises(MirrorError) as failure:
        mirror.count("device/event", ALL, "date_received")
    message = str(failure.value)
    assert (f"maude/patient2007.txt: 200 of 5,153 rows rejected (3.9%; more than the {DEFAULT_MAX_REJECTED_SHARE * 100:g} % "
            "a file may lose); line 1: 6 fields, expected 5; only a free-text last column can absorb '|'") in message
    # the share is a parameter: with 5 % allowed the same file loads, its rejections listed
    lenient = Mirror(mirror.folder, max_rejected_share=0.05)
    assert lenient.total("device/event", ALL) == 5153
    with_outcome = Counter(bool(p.get("sequence_number_outcome")) for r in lenient.search("device/event", ALL).records for p in r["patient"])
    assert with_outcome == {True: 5153 - 200}
    assert lenient.load_report().file("maude/patient2007.txt").rows_rejected == 200


def test_a_few_rejected_rows_are_listed_per_file_in_the_load_report(realdata: Path, tmp_path: Path) -> None:
    keys = foitext_keys(realdata)
    mirror = Mirror(foitext_mirror(tmp_path / "m", realdata, patient=patient_rows(keys, 3)))
    assert mirror.total("device/event", ALL) == 5153
    report = mirror.load_report()
    assert isinstance(report, MirrorLoadReport) and report.refused == []
    patient = report.file("maude/patient2007.txt")
    assert (patient.status, patient.rows_read, patient.rows_kept, patient.rows_rejected) == ("loaded", 5153, 5150, 3)
    assert [(r.line, r.reason) for r in patient.rejected] == [
        (n, "6 fields, expected 5; only a free-text last column can absorb '|'") for n in (1, 2, 3)]
    data = json.loads(json.dumps(report.as_dict()))  # plain data, for the run folder
    assert data["rows_rejected"] == 3 and data["max_rejected_share"] == DEFAULT_MAX_REJECTED_SHARE
    listed = next(f for f in data["files"] if f["path"] == "maude/patient2007.txt")
    assert listed["rejected"][0] == {"line": 1, "reason": "6 fields, expected 5; only a free-text last column can absorb '|'", "rows": 1}


def test_a_refused_file_stops_only_the_endpoint_it_feeds(realdata: Path, tmp_path: Path) -> None:
    folder = foitext_mirror(tmp_path / "m", realdata, patient=patient_rows(foitext_keys(realdata), 200))
    put(folder, "device/510k/510k_data.csv", (realdata / IN2BONES / "510k_data.csv").read_bytes())
    mirror = Mirror(folder)
    for _ in range(2):
        with pytest.raises(MirrorError, match="patient2007.txt: 200 of 5,153 rows rejected"):
            mirror.total("device/event", Query((DateRange("date_received", dt.date(2007, 1, 1), dt.date(2007, 12, 31)),)))
    assert mirror.total("device/510k", Query((Match("product_code", ("HWC",)),))) == 7


def test_doctor_does_not_call_a_mirror_with_a_refused_file_ready(realdata: Path, tmp_path: Path) -> None:
    good = foitext_mirror(tmp_path / "good", realdata)
    checks = {c.name: c for c in collect_checks("mirror", str(good))}
    assert checks["mirror"].status == "ok" and "mirror" not in ready_modes(list(checks.values()))["mirror"]
    broken = foitext_mirror(tmp_path / "broken", realdata, patient=patient_rows(foitext_keys(realdata), 200))
    checks = {c.name: c for c in collect_checks("mirror", str(broken))}
    assert checks["mirror"].status == "FAIL"
    assert "maude/patient2007.txt: 200 of 5,153 rows rejected" in checks["mirror"].detail
    assert "line 1: 6 fields, expected 5" in checks["mirror"].detail
    assert "mirror" in ready_modes(list(checks.values()))["mirror"]


# ----------------------------------------------------------------------------------------------
# classification: one rule everywhere, malformed rows named by line


def foiclass_lines(realdata: Path) -> list[str]:
    return (realdata / FOICLASS).read_bytes().decode("cp1252").split("\r\n")


def classification_mirror(folder: Path, realdata: Path, lines: list[str]) -> Path:
    """The foiclass lines given, and the real MAUDE foidev excerpt joined to master rows for its reports."""
    put(folder, "classification/foiclass.txt", "\r\n".join(lines).encode("cp1252"))
    rows = pipe_rows(realdata / PIPELINE / "maude__tests__data__foidev.txt", encoding="latin-1")
    put(folder, "maude/mdrfoi.txt", masters([row[0] for row in rows[1:]]))
    put(folder, "maude/foidev.txt", (realdata / PIPELINE / "maude__tests__data__foidev.txt").read_bytes())
    return folder


def line_of(lines: list[str], code: str) -> int:
    return next(i for i, line in enumerate(lines, 1) if line.split("|")[2:3] == [code])


JPA = Query((Match("product_code", ("JPA",)),))
JPA_EVENTS = Query((Match("device.device_report_product_code", ("JPA",)),))


def test_a_product_code_listed_twice_with_another_class_is_refused_everywhere(realdata: Path, tmp_path: Path) -> None:
    lines = foiclass_lines(realdata)
    jpa = line_of(lines, "JPA")
    fields = lines[jpa - 1].split("|")
    fields[4] = "3"  # class 3 instead of 2
    lines.insert(len(lines) - 1, "|".join(fields))  # before the final empty line
    mirror = Mirror(classification_mirror(tmp_path / "m", realdata, lines))
    expected = (f"JPA: device_class differs between its copies ('2' in classification/foiclass.txt line {jpa}; "
                f"'3' in classification/foiclass.txt line {len(lines) - 1})")
    with pytest.raises(MirrorError) as failure:
        mirror.search("device/classification", JPA)
    assert expected in str(failure.value) and "must agree" in str(failure.value)
    # the events annotated from the classification refuse for the same reason: no stage picks a class
    with pytest.raises(MirrorError, match="JPA: device_class differs"):
        mirror.search("device/event", JPA_EVENTS)


def test_a_product_code_listed_twice_otherwise_agreeing_resolves_to_its_first_row_everywhere(realdata: Path, tmp_path: Path) -> None:
    lines = foiclass_lines(realdata)
    first = lines[line_of(lines, "JPA") - 1].split("|")
    second = list(first)
    second[3] = "Renamed In A Later Row"  # same class and regulation, another device name
    lines.insert(len(lines) - 1, "|".join(second))
    mirror = Mirror(classification_mirror(tmp_path / "m", realdata, lines))
    found = mirror.search("device/classification", JPA)
    assert found.total == 1 and found.records[0]["device_name"] == first[3]
    event = mirror.search("device/event", JPA_EVENTS).records[0]
    assert event["device"][0]["openfda"]["device_name"] == first[3]  # the same row, not the last one
    report = mirror.load_report().file("classification/foiclass.txt")
    assert (report.duplicates_collapsed, report.duplicates_differing) == (1, 1)


def test_a_malformed_classification_row_is_an_error_naming_its_line(realdata: Path, tmp_path: Path) -> None:
    lines = foiclass_lines(realdata)
    hwc = line_of(lines, "HWC")
    lines[hwc - 1] = lines[hwc - 1].replace("Screw, Fixation, Bone", "Screw| Fixation, Bone")
    folder = classification_mirror(tmp_path / "m", realdata, lines)
    reason = f"line {hwc}: 19 fields, expected 18"
    with pytest.raises(MirrorError, match=reason):
        Mirror(folder).search("device/classification", Query((Match("product_code", ("HWC",)),)))
    with pytest.raises(MirrorError, match=reason):
        product_codes(folder / "classification" / "foiclass.txt")  # the preflight reads it as strictly
    done = subprocess.run([sys.executable, "-m", "cer_lib", "report", "HWC", "--from", "mirror", "--mirror", str(folder)],
                          cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode != 0 and reason in done.stderr
    assert "is not a product code" not in done.stderr and "not an FDA product code" not in done.stderr


def test_a_comparator_row_that_cannot_be_parsed_is_reported_not_dropped(realdata: Path, tmp_path: Path) -> None:
    lines = foiclass_lines(realdata)
    same_regulation = Query((Match("regulation_number", ("888.3040",)),))
    assert Mirror(classification_mirror(tmp_path / "good", realdata, lines)).total("device/classification", same_regulation) == 18
    hty = line_of(lines, "HTY")  # one of HWC's 17 comparators
    lines[hty - 1] = lines[hty - 1].replace("|2||N|N||888.3040|", "|Class 2||N|N||888.3040|")
    with pytest.raises(MirrorError, match=rf"line {hty}: HTY: device class 'Class 2' is not one of FDA's 1, 2, 3, U, N, f"):
        Mirror(classification_mirror(tmp_path / "m", realdata, lines)).search("device/classification", same_regulation)


def test_a_classification_record_without_a_product_code_is_reported_not_dropped(realdata: Path, tmp_path: Path) -> None:
    sample = json.loads((realdata / "openfda/endpoint-samples/device__classification.json").read_text(encoding="utf-8"))
    record = dict(sample["results"][0])
    blank = {**record, "product_code": ""}
    folder = tmp_path / "m"
    put(folder, "device/classification/classification.json", json.dumps({"meta": sample["meta"], "results": [record, blank]}))
    with pytest.raises(MirrorError, match=r"classification\.json: 1 of 2 rows rejected \(50\.0%; every row of reference data "
                                          r"must be read\); a row: no product_code"):
        Mirror(folder).total("device/classification", Query())


# ----------------------------------------------------------------------------------------------
# the format registry: a new format is one class and one registration


def test_a_new_file_format_is_one_class_and_one_registration(realdata: Path, tmp_path: Path) -> None:
    """A minimal FAERS quarterly reader (DEMO + REAC only, the real 2017Q2 files) feeding an endpoint
    the mirror did not serve: the interface the FAERS format will use, checked end to end. A second
    quarter holding a newer version of one case replaces that case (``newest_by``)."""
    from cer_lib.sources.mirror.endpoints import EndpointSpec, field_specs
    from cer_lib.sources.mirror.formats import Conversion, FileFormat, FormatRegistry, mirror_formats
    from cer_lib.sources.mirror.load_report import FileLoadReport
    from cer_lib.sources.mirror.textfiles import read_text_file, require_delimiter

    drug_event = EndpointSpec(
        "drug/event", field_specs("safetyreportid safetyreportversion patient.reaction.reactionmeddrapt", "receivedate"),
        key=("safetyreportid",), newest_by="safetyreportversion", required=(("safetyreportid",),))

    def dollar_rows(path: Path) -> list[dict[str, str]]:
        lines = read_text_file(path, legacy="latin-1").text.splitlines()
        require_delimiter(lines[0], "$", path=path, lineno=1, expected="FAERS ASCII files are '$'-delimited")
        header = lines[0].lower().split("$")
        return [dict(zip(header, line.split("$"))) for line in lines[1:] if line.strip()]

    class FaersDemoReac(FileFormat):
        name, priority, folders, feeds = "faers-demo-reac", 2, ("faers",), (drug_event,)

        def units(self, folder: Path):
            demo = sorted((folder / "faers").glob("DEMO*.txt"))
            return [self.unit(folder, "drug/event", [d, d.with_name(d.name.replace("DEMO", "REAC"))]) for d in demo]

        def convert(self, unit, context):
            demo, reac = (dollar_rows(p) for p in unit.paths)
            reactions: dict[str, list[dict[str, str]]] = {}
            for row in reac:
                reactions.setdefault(row["primaryid"], []).append({"reactionmeddrapt": row["pt"]})
            records = [{"safetyreportid": r["caseid"], "safetyreportversion": r["caseversion"], "receivedate": r["fda_dt"],
                        "patient": {"reaction": reactions.get(r["primaryid"], [])}} for r in demo]
            reports = [FileLoadReport(context.rel(unit.paths[0]), unit.endpoint, self.name, rows_read=len(demo), rows_kept=len(demo)),
                       FileLoadReport(context.rel(unit.paths[1]), unit.endpoint, self.name, rows_read=len(reac), rows_kept=len(reac))]
            return Conversion.of_records(drug_event, records, [reports[0].path] * len(records), reports)

    # the built-in registry without its own FAERS reader (issue 13), to show the interface on its own
    registry = FormatRegistry(f for f in mirror_formats if f.name != "faers-ascii")
    registry.register(FaersDemoReac())  # the one registration line
    quarter = realdata / "faers" / "faers_ascii_2017q2"
    folder = tmp_path / "m"
    for name in ("DEMO17Q2.txt", "REAC17Q2.txt"):
        put(folder, f"faers/{name}", (quarter / name).read_bytes())
    with open(quarter / "DEMO17Q2.txt", newline="", encoding="latin-1") as handle:
        cases = list(csv.DictReader(handle, delimiter="$"))
    with open(quarter / "REAC17Q2.txt", newline="", encoding="latin-1") as handle:
        reactions = list(csv.DictReader(handle, delimiter="$"))
    first = cases[0]  # a later quarter: version + 1 of the first case, with one reaction
    put(folder, "faers/DEMO17Q3.txt", "$".join(cases[0]) + "\n" + "$".join(
        {**first, "primaryid": "999", "caseversion": str(int(first["caseversion"]) + 1)}.values()) + "\n")
    put(folder, "faers/REAC17Q3.txt", "primaryid$caseid$pt$drug_rec_act\n" + f"999${first['caseid']}$Recovered case$\n")

    mirror = Mirror(folder, formats=registry)
    assert mirror.available_endpoints == ["drug/event"]
    assert mirror.total("drug/event", ALL) == len({c["caseid"] for c in cases}) == 100
    newest = mirror.search("drug/event", Query((Match("safetyreportid", (first["caseid"],)),))).records
    assert [r["patient"]["reaction"] for r in newest] == [[{"reactionmeddrapt": "Recovered case"}]]
    pairs = {(r["primaryid"], r["pt"]) for r in reactions if r["primaryid"] != first["primaryid"]} | {("999", "Recovered case")}
    expected = Counter(pt for _, pt in pairs)
    rows = mirror.count("drug/event", ALL, "patient.reaction.reactionmeddrapt.exact", limit=1000).rows
    assert rows == [{"term": t, "count": n} for t, n in sorted(expected.items(), key=lambda kv: (-kv[1], kv[0]))]
    # the built-in registry serves drug/event with the full FAERS reader now: the same cases from the same files
    assert Mirror(folder).total("drug/event", ALL) == 100


# ----------------------------------------------------------------------------------------------
# a run


def run_with_a_refused_file(realdata: Path, tmp_path: Path) -> tuple[subprocess.CompletedProcess, Path, Path]:
    """``cer report HWC`` on the demo's own event and classification files plus the publisher's event
    CSV re-saved with commas: (the finished process, the mirror folder, the outputs folder)."""
    folder = tmp_path / "mirror"
    put(folder, "device/event/openFDA_raw_data.json", (realdata / IN2BONES / "openFDA_raw_data.json").read_bytes())
    put(folder, "classification/foiclass.txt", (realdata / FOICLASS).read_bytes())
    put(folder, "device/event/event_data.csv", as_csv(pipe_rows(realdata / IN2BONES / "event_data.csv"), ","))
    outputs = tmp_path / "outputs"
    done = subprocess.run([sys.executable, "-m", "cer_lib", "report", "HWC", "--from", "mirror", "--mirror", str(folder)],
                          cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=300,
                          env={**os.environ, "CER_OUTPUTS_DIR": str(outputs)})
    return done, folder, outputs


@pytest.mark.slow
def test_a_run_on_a_mirror_with_a_refused_file_fails_naming_file_and_line(realdata: Path, tmp_path: Path) -> None:
    """The run stops in collect with the file, the line and the reason; ``latest`` never moves."""
    done, folder, outputs = run_with_a_refused_file(realdata, tmp_path)
    assert done.returncode == 2, done.stdout + done.stderr
    assert f"{folder}/device/event/event_data.csv: line 1: not '|'-delimited (it holds" in done.stderr
    assert not (outputs / "HWC" / "latest").exists()
    assert [p.name.startswith(".failed-") for p in (outputs / "HWC").iterdir()] == [True]
