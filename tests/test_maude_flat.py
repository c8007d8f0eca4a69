"""MAUDE flat-file readers: real excerpts (FDA's pipeline test data, a foitext2007 subset) and
small hand-made broken files whose expected repairs are stated next to each file."""
from __future__ import annotations

import json
import zipfile
from collections import Counter
from pathlib import Path

import pytest

from cer_lib.dates import compact_date as normalise_date
from cer_lib.errors import MirrorError
from cer_lib.sources.mirror.formats.maude_flat import (
    LAYOUTS,
    decode_outcome,
    join_maude,
    layout_for,
    maude_files,
    outcome_code,
    read_flat_file,
    split_concatenated,
)

PIPELINE = Path("openfda/fda-pipeline-tests")


def write(path: Path, text: str, encoding: str = "utf-8") -> Path:
    path.write_bytes(text.encode(encoding))
    return path


# ----------------------------------------------------------------------------------------------
# real excerpts


def test_real_foidev_excerpt_keeps_legacy_28_column_rows(realdata: Path) -> None:
    table = read_flat_file(realdata / PIPELINE / "maude__tests__data__foidev.txt", "foidev")
    report = table.report
    # 1 header (45 columns) + 4 rows in the old 28-column layout + 1 full 45-column row
    assert report.header and len(table.columns) == 45
    assert report.rows == 5 and report.legacy_width_rows == 4 and report.rejected_count == 0
    assert report.rows_repaired == 0
    first = table.rows[0]
    assert first["mdr_report_key"] == "1511544"
    assert first["date_received"] == "20091008"  # MM/DD/YYYY -> YYYYMMDD
    assert first["brand_name"] == '"""TC 410, 20 GAUGE, 10MM DISPOS"'  # quotes are literal (QUOTE_NONE, as FDA)
    assert first["device_report_product_code"] == "GXI"
    assert first["device_operator"] == "HEALTH PROFESSIONAL"  # FDA enumeration 0HP
    assert "baseline_brand_name" not in first  # a 28-column row has no baseline columns
    assert table.rows[4]["baseline_brand_name"] == "HEMOCHRON COAGULATION SYSTEM"


def test_real_foitext_and_patient_excerpts(realdata: Path) -> None:
    text = read_flat_file(realdata / PIPELINE / "maude__tests__data__foitext.txt", "foitext")
    # header + 10 narratives + one trailing empty line (CRLF): counted as blank, not as a repair
    assert text.report.rows == 10 and text.report.blank_lines == 1
    assert text.report.rows_repaired == 0 and text.report.rejected_count == 0
    assert Counter(r["text_type_code"] for r in text.rows) == {
        "Description of Event or Problem": 5, "Additional Manufacturer Narrative": 5,
    }
    patient = read_flat_file(realdata / PIPELINE / "maude__tests__data__patient.txt", "patient")
    assert patient.report.rows == 5
    by_key = {r["mdr_report_key"]: r for r in patient.rows}
    assert by_key["538836"]["sequence_number_outcome"] == ["1. L", "2. R"]  # one patient, two outcomes
    assert by_key["1511541"]["sequence_number_outcome"] == [""]


def test_real_foitext2007_subset_reads_cleanly(realdata: Path) -> None:
    path = realdata / "maude" / "foitext2007.pos.txt"
    table = read_flat_file(path)
    lines = [line for line in path.read_text(encoding="utf-8").split("\n") if line.strip()]
    # independent count: one record per physical line (this subset has no broken lines), no header
    assert not table.report.header
    assert table.report.rows == len(lines) == 7669
    assert len({r["mdr_report_key"] for r in table.rows}) == len({line.split("|", 1)[0] for line in lines}) == 5153
    assert table.report.rows_repaired == 0 and table.report.rejected_count == 0
    assert Counter(r["text_type_code"] for r in table.rows) == {
        "Description of Event or Problem": sum(1 for line in lines if line.split("|")[2] == "D"),
        "Additional Manufacturer Narrative": sum(1 for line in lines if line.split("|")[2] == "N"),
    }


def test_join_reproduces_fdas_joined_record(realdata: Path, tmp_path: Path) -> None:
    """The real foidev / foitext / patient excerpts + a master row for report 538836 give FDA's
    own joined record (maude__data__wide_sample.json) for its device and narratives."""
    wide = json.loads((realdata / PIPELINE / "maude__data__wide_sample.json").read_text(encoding="utf-8"))
    master = write(tmp_path / "mdrfoi.txt",
                   "MDR_REPORT_KEY|EVENT_KEY|REPORT_NUMBER|REPORT_SOURCE_CODE|DATE_RECEIVED|EVENT_TYPE|TYPE_OF_REPORT|SOURCE_TYPE\r\n"
                   "538836|511587|2248721-2004-00001|M|08/01/2004|IN|I|05\r\n")
    joined = join_maude([master] + [realdata / PIPELINE / f"maude__tests__data__{n}.txt" for n in ("foidev", "foitext", "patient")])
    assert len(joined.records) == 1
    record = joined.records[0]
    for key in ("mdr_report_key", "event_key", "report_number", "report_source_code", "date_received", "event_type",
                "type_of_report", "source_type"):
        assert record[key] == wide[key], key
    assert record["device"] == [{k: v for k, v in wide["device"][0].items() if k in record["device"][0]}]
    assert len(record["device"][0]) >= 40
    assert [(t["mdr_text_key"], t["text_type_code"], t["text"], t["date_report"]) for t in record["mdr_text"]] == [
        (t["mdr_text_key"], t["text_type_code"], t["text"], t["date_report"]) for t in wide["mdr_text"]
    ]
    assert record["patient"][0]["sequence_number_outcome"] == ["1. L", "2. R"]
    # the other reports of the excerpts have no master row: counted, not joined (as FDA's pipeline)
    orphans = {Path(p).name: n for p, n in joined.orphan_rows.items()}
    assert orphans == {"maude__tests__data__foidev.txt": 4, "maude__tests__data__foitext.txt": 8,
                       "maude__tests__data__patient.txt": 4}


# ----------------------------------------------------------------------------------------------
# hand-made broken files


def test_raw_newlines_inside_the_text_are_joined(tmp_path: Path) -> None:
    # record 101's narrative is broken over 3 physical lines (2 raw newlines) -> 1 record,
    # 1 newline repair, 2 lines joined, the pieces joined with single spaces
    path = write(tmp_path / "foitext.txt",
                 "101|9001|D|1|01/02/2020|THE SCREW BROKE\r\n"
                 "DURING INSERTION.\r\n"
                 "NO INJURY.\r\n"
                 "102|9002|N|1|01/03/2020|INVESTIGATION PENDING.\r\n")
    table = read_flat_file(path)
    assert table.report.rows == 2
    assert table.report.newline_repairs == 1 and table.report.lines_joined == 2
    assert table.rows[0]["text"] == "THE SCREW BROKE DURING INSERTION. NO INJURY."
    assert table.report.repaired_lines[0].line == 1
    assert table.rows[0]["date_report"] == "20200102"


def test_newline_inside_a_middle_field_is_joined_by_width(tmp_path: Path) -> None:
    # report 201's device row is cut after the city field (raw newline in the address): the first
    # piece has 12 of 29 fields, the next line does not start with a key -> one 29-field record
    fields = ["201", "", "N", "", "1", "03/04/2021", "BONE SCREW", "SCREW, FIXATION, BONE", "ACME", "1 MAIN ST", "", "SPRING"]
    rest = ["FIELD", "IL", "", "", "US", "", "0HP", "", "M-1", "C-1", "L-1", "", "No", "", "HWC", "", "N", "N"]
    assert len(fields) + len(rest) - 1 == 29
    path = write(tmp_path / "DEVICE2021.txt", "|".join(fields) + "\n" + "|".join(rest) + "\n")
    table = read_flat_file(path)
    assert table.report.rows == 1 and table.report.newline_repairs == 1 and table.report.rejected_count == 0
    row = table.rows[0]
    assert row["manufacturer_d_city"] == "SPRING FIELD"
    assert row["device_report_product_code"] == "HWC" and row["combination_product_flag"] == "N"


def test_stray_pipes_in_the_last_text_field_are_rejoined(tmp_path: Path) -> None:
    # 2 stray '|' in the narrative (8 fields for 6 columns) and a trailing '|' on the 2nd row:
    # both re-joined into the text column, 2 pipe repairs; the trailing '|' is dropped (FDA's rule)
    path = write(tmp_path / "foitext.txt",
                 "301|9101|D|1||PRESSURE 5|10|12 MMHG READ\n"
                 "302|9102|D|1||PATIENT OK|\n")
    table = read_flat_file(path)
    assert table.report.pipe_repairs == 2 and table.report.rows == 2
    assert table.rows[0]["text"] == "PRESSURE 5|10|12 MMHG READ"
    assert table.rows[1]["text"] == "PATIENT OK"


def test_rows_that_cannot_be_repaired_are_rejected_with_line_numbers(tmp_path: Path) -> None:
    # line 2: 3 fields, and line 3 starts a new record that does not fit after it -> rejected
    # line 4: 7 fields in a layout whose last column is not free text -> rejected
    # a second header in the middle (line 5, concatenated files) is skipped
    path = write(tmp_path / "patient.txt",
                 "MDR_REPORT_KEY|PATIENT_SEQUENCE_NUMBER|DATE_RECEIVED|SEQUENCE_NUMBER_TREATMENT|SEQUENCE_NUMBER_OUTCOME\n"
                 "401|1|01/01/2020\n"
                 "402|1|01/01/2020||1. H\n"
                 "403|1|01/01/2020||1. H|X|Y\n"
                 "MDR_REPORT_KEY|PATIENT_SEQUENCE_NUMBER|DATE_RECEIVED|SEQUENCE_NUMBER_TREATMENT|SEQUENCE_NUMBER_OUTCOME\n"
                 " 404.0|1|2020/01/05||\n")
    table = read_flat_file(path)
    report = table.report
    assert [r["mdr_report_key"] for r in table.rows] == ["402", "404"]  # " 404.0" cleaned as FDA does
    assert report.rejected_count == 2
    assert [(i.line, i.reason) for i in report.rejected] == [
        (2, "3 fields, expected 5; the next line does not continue it"),
        (4, "7 fields, expected 5; only a free-text last column can absorb '|'"),
    ]
    assert report.repeated_headers == 1
    assert table.rows[1]["date_received"] == "20200105"
    assert report.rejected_reasons() == {
        "3 fields, expected 5; the next line does not continue it": 1,
        "7 fields, expected 5; only a free-text last column can absorb '|'": 1,
    }


def test_latin1_fallback_and_zip_downloads(tmp_path: Path) -> None:
    text = "501|9201|D|1||CAF\xc9 AU LAIT SPOT NOTED\n"
    path = write(tmp_path / "foitext2020.txt", text, encoding="latin-1")
    table = read_flat_file(path)
    assert table.report.encoding == "latin-1" and table.rows[0]["text"] == "CAF\u00c9 AU LAIT SPOT NOTED"
    archive = tmp_path / "foitext2020.zip"
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("foitext2020.txt", text.encode("latin-1"))
    assert read_flat_file(archive).rows == table.rows


def test_unknown_file_name_says_what_is_expected(tmp_path: Path) -> None:
    with pytest.raises(MirrorError, match="mdrfoi\\*, foidev\\*"):
        read_flat_file(write(tmp_path / "notes.txt", "x|y\n"))


def test_layout_names_and_file_order(tmp_path: Path) -> None:
    names = {"mdrfoiThru2023.txt": "mdrfoi", "mdrfoiChange.txt": "mdrfoi", "DEVICE2022.zip": "device", "foidev1997.txt": "foidev",
             "foidevproblem.txt": "foidevproblem", "foitext2007.pos.txt": "foitext", "patientThru2023.txt": "patient",
             "patientproblemcode.txt": "patientproblemcode", "patientproblemcodes.csv": "patientproblemdata",
             "deviceproblemcodes.csv": "deviceproblemcodes"}
    for name, layout in names.items():
        assert layout_for(Path(name)).name == layout, name
        (tmp_path / name).write_text("")
    assert layout_for(Path("readme.txt")) is None
    order = [p.name for p in maude_files(tmp_path)]
    assert order[-1] == "mdrfoiChange.txt"  # change files last: their master rows win
    assert len(LAYOUTS["mdrfoi"].columns) == 81 and len(LAYOUTS["foidev"].columns) == 45 and len(LAYOUTS["device"].columns) == 29


# ----------------------------------------------------------------------------------------------
# values, outcomes, the join on hand-made files


def test_dates_and_outcomes() -> None:
    assert normalise_date("10/08/2009") == "20091008"
    assert normalise_date("2009/10/08 00:00:00.000") == "20091008"
    assert normalise_date("2009-10-08") == "20091008"
    assert normalise_date("08-OCT-09") == "20091008"
    assert normalise_date("20091008") == "20091008"
    assert normalise_date("13/45/2009") is None and normalise_date("") is None
    assert outcome_code(" 2. O") == "O" and outcome_code("H") == "H"
    assert decode_outcome("1. H") == "Hospitalization" and decode_outcome("1. D") == "Death"
    assert decode_outcome("") is None


def test_multi_patient_concatenation_is_split_per_patient() -> None:
    # Ensign & Cohen's pattern: patient k repeats patients 1..k-1's outcomes before its own
    assert split_concatenated([["D"], ["D", "H"], ["D", "H", "L"]]) == ([["D"], ["H"], ["L"]], 2)
    assert split_concatenated([["1. L"], ["1. L", "2. R"]]) == ([["1. L"], ["2. R"]], 1)
    # identical lists are two patients with the same outcome, not a concatenation
    assert split_concatenated([["H"], ["H"]]) == ([["H"], ["H"]], 0)
    assert split_concatenated([[""], ["", "H"]]) == ([[""], ["", "H"]], 0)


def test_join_with_problem_codes_and_multi_patient_reports(tmp_path: Path) -> None:
    folder = tmp_path / "maude"
    folder.mkdir()
    write(folder / "mdrfoiThru2020.txt",
          "MDR_REPORT_KEY|REPORT_NUMBER|DATE_RECEIVED|EVENT_TYPE\n"
          "601|R-601|01/15/2020|M\n"
          "602|R-602|02/15/2020|IN\n")
    write(folder / "mdrfoiChange.txt",  # a later master row for 602 replaces the first
          "MDR_REPORT_KEY|REPORT_NUMBER|DATE_RECEIVED|EVENT_TYPE\n"
          "602|R-602|02/15/2020|D\n")
    write(folder / "foidevproblem.txt", "601|1069\n601|2682\n602|9999\n")
    write(folder / "deviceproblemcodes.csv",
          'DEVICE_PROBLEM_CODE,DEVICE_PROBLEM_TEXT\n1069,Break\n2682,"Material Split, Cut or Torn"\n')
    write(folder / "patientThru2020.txt",
          "602|1|02/15/2020||D\n"
          "602|2|02/15/2020||D;H\n"
          "602|3|02/15/2020||D;H;L\n")
    write(folder / "patientproblemcode.txt",
          "MDR_REPORT_KEY|PATIENT_SEQUENCE_NO|PROBLEM_CODE|DATE_ADDED|DATE_CHANGED\n"
          "602.0|2|4582|||\n")
    write(folder / "patientproblemcodes.csv", 'Code,Problem\n4582,"No Clinical Signs, Symptoms or Conditions"\n')
    joined = join_maude(maude_files(folder))
    records = {r["mdr_report_key"]: r for r in joined.records}
    assert records["601"]["product_problems"] == ["Break", "Material Split, Cut or Torn"]
    assert records["601"]["event_type"] == "Malfunction" and records["601"]["device"] == []
    assert records["602"]["event_type"] == "Death"  # from the Change file
    assert [p["sequence_number_outcome"] for p in records["602"]["patient"]] == [["D"], ["H"], ["L"]]
    assert joined.outcome_splits == 2
    assert records["602"]["patient"][1]["patient_problems"] == ["No Clinical Signs, Symptoms or Conditions"]
    assert joined.unresolved_problem_codes == 1  # 9999 is in no code list
