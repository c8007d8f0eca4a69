"""cer.pdf holds its layout: no text leaves the page, headers repeat, each narrative printed once,
the project's own fonts, control characters never printed, assembly bounded in time (issues 12.1,
12.2 and 11.3).

Two reports are checked page by page: the demo on the real data (``demo_run``) and a wide fixture
whose case narratives hold a 2,000-character unbroken term, control bytes and a 1 MB text.
"""
from __future__ import annotations

import collections
import json
import re
import time
from pathlib import Path

import pandas as pd
import pytest
from pypdf import PdfReader

from pdf_layout import pdf_words, table_fragments, words_outside_the_text_area

LONG_TERM = "FRACTURED" + "X" * 1982 + "END-OF-TERM"  # 2,000 characters without a break
CONTROL = "NUL\x00BYTE BELL\x07 ESC\x1b PATIENT\x92S SCREW \x96 BROKE"
HUGE = "THE SCREW BROKE DURING INSERTION. " * 31_000  # about 1 MB


def _pdf_text(pdf: Path) -> str:
    return re.sub(r"\s+", " ", " ".join(page.extract_text() or "" for page in PdfReader(pdf).pages))


@pytest.fixture(scope="module")
def wide_run(tmp_path_factory) -> tuple[Path, float]:
    """A report whose narratives are hostile to layout, assembled as the runner does (with a time limit)."""
    from _publishing_fixtures import write_executed_notebooks
    from report_fixtures import make_run_folder

    from cer_lib.report.assemble import assemble_within

    run = make_run_folder(tmp_path_factory.mktemp("wide"))
    texts = pd.read_parquet(run / "tables" / "event_texts.parquet")
    events = pd.read_parquet(run / "tables" / "events.parquet")
    newest = events.sort_values("date_received").iloc[-1]["mdr_report_key"]
    extra = pd.DataFrame([{**texts.iloc[0].to_dict(), "mdr_report_key": newest, "mdr_text_key": f"{newest}-{i}",
                           "text_type": "Additional Manufacturer Narrative", "text": text}
                          for i, text in enumerate((f"SEE {LONG_TERM} IN THE FILE", CONTROL, HUGE), start=90)])
    pd.concat([texts, extra.astype(texts.dtypes.to_dict())], ignore_index=True).to_parquet(
        run / "tables" / "event_texts.parquet", index=False)
    write_executed_notebooks(run)
    started = time.perf_counter()
    assemble_within(run, 600)
    return run, time.perf_counter() - started


@pytest.mark.realdata
def test_no_text_leaves_the_page_in_the_demo(demo_run: Path) -> None:
    outside = words_outside_the_text_area(demo_run / "cer.pdf")
    assert outside == [], [(w.page, w.text[:40], round(w.x_max), round(w.page_width)) for w in outside[:10]]


def test_no_text_leaves_the_page_in_a_wide_report(wide_run) -> None:
    run, _ = wide_run
    outside = words_outside_the_text_area(run / "cer.pdf")
    assert outside == [], [(w.page, w.text[:40], round(w.x_max), round(w.page_width)) for w in outside[:10]]
    printed = "".join(w.text for w in pdf_words(run / "cer.pdf"))
    assert "SEEFRACTURED" + "X" * 200 in printed  # the excerpt of the term is printed, broken across lines
    assert "END-OF-TERM" in re.sub(r"<wbr/?>", "", (run / "cer.html").read_text(encoding="utf-8"))  # whole, folded on screen


def _check_tables(html: str, run: Path) -> None:
    by_table = collections.defaultdict(list)
    for fragment in table_fragments(html, run):
        by_table[fragment.table].append(fragment)
    assert by_table
    for table, parts in by_table.items():
        if len(parts) > 1 and any(p.has_header for p in parts):
            missing = [p.page for p in parts if not p.has_header]
            assert not missing, f"{table}: no header row on continuation page(s) {missing}"
        empty = [p.page for p in parts if p.has_header and p.body_rows == 0 and len(parts) > 1]
        assert not empty, f"{table}: a header row alone at the foot of page(s) {empty}"


@pytest.mark.realdata
def test_table_headers_repeat_on_every_page_in_the_demo(demo_run: Path) -> None:
    _check_tables((demo_run / "cer.html").read_text(encoding="utf-8"), demo_run)


def test_table_headers_repeat_on_every_page_in_a_wide_report(wide_run) -> None:
    run, _ = wide_run
    _check_tables((run / "cer.html").read_text(encoding="utf-8"), run)


@pytest.mark.realdata
def test_each_narrative_is_printed_once(demo_run: Path) -> None:
    """The excerpt or the whole text, never both, and never again in the annex."""
    text = _pdf_text(demo_run / "cer.pdf")
    narratives = pd.read_parquet(demo_run / "tables" / "event_texts.parquet")["text"].dropna()
    checked = 0
    for narrative in narratives:
        snippet = re.sub(r"\s+", " ", narrative).strip()[:80]
        if len(snippet) < 80:
            continue
        checked += 1
        assert text.count(snippet) <= 1, f"printed {text.count(snippet)} times: {snippet!r}"
    assert checked >= 10


def test_a_huge_narrative_is_excerpted_and_the_report_says_where_the_text_is(wide_run) -> None:
    run, seconds = wide_run
    html = (run / "cer.html").read_text(encoding="utf-8")
    assert len(html) < 3_000_000, f"cer.html is {len(html):,} characters: the 1 MB narrative was not capped"
    text = _pdf_text(run / "cer.pdf")
    assert text.count("THE SCREW BROKE DURING INSERTION.") < 20
    assert "thewholetextisintables/event_texts.parquet" in re.sub(r"\s+", "", text)
    assert len(PdfReader(run / "cer.pdf").pages) < 120
    print(f"wide report assembled in {seconds:.1f} s")


def test_control_characters_never_reach_the_page(wide_run) -> None:
    run, _ = wide_run
    html = (run / "cer.html").read_text(encoding="utf-8")
    assert not re.search("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]", html)
    assert "PATIENT\u2019S SCREW \u2013 BROKE" in html  # U+0092 and U+0096 as the Windows-1252 characters they stand for
    assert "NULBYTE BELL ESC PATIENT" in html
    text = _pdf_text(run / "cer.pdf")
    assert not re.search("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ufffd]", text)
    assert "PATIENT\u2019S SCREW" in text


@pytest.mark.realdata
def test_the_pdf_is_set_in_the_projects_fonts_and_the_manifest_lists_them(demo_run: Path) -> None:
    import hashlib

    import matplotlib

    fonts = set()
    for page in PdfReader(demo_run / "cer.pdf").pages:
        for font in (page.get("/Resources") or {}).get("/Font", {}).values():
            fonts.add(str(font.get_object()["/BaseFont"]).split("+", 1)[-1])
    assert fonts and all(f.startswith(("CER-Sans", "CER-Mono")) for f in fonts), fonts
    listed = json.loads((demo_run / "manifest.json").read_text())["environment"]["fonts"]
    folder = Path(matplotlib.get_data_path()) / "fonts" / "ttf"
    assert {f["family"] for f in listed} == {"CER Sans", "CER Mono"}
    for font in listed:
        assert font["sha256"] == hashlib.sha256((folder / font["file"]).read_bytes()).hexdigest()
        assert font["package"].startswith("matplotlib ")


def test_assembly_that_runs_out_of_time_fails_with_a_message(tmp_path: Path) -> None:
    from _publishing_fixtures import make_published_run

    from cer_lib.errors import ReportError
    from cer_lib.report.assemble import assemble_within

    run = make_published_run(tmp_path)
    with pytest.raises(ReportError, match=r"did not finish within 0.05 s and was stopped.*CER_ASSEMBLY_TIMEOUT"):
        assemble_within(run, 0.05)
    assert not {p.name for p in run.iterdir()} & {"cer.html", "cer.pdf", ".cer.html.tmp", ".cer.pdf.tmp"}


def _assemble_in_a_daemon(run: str, answer) -> None:  # noqa: ANN001 - a multiprocessing connection
    from cer_lib.report.assemble import assemble_within

    try:
        answer.send([p.name for p in assemble_within(Path(run), 600)])
    except Exception as exc:  # sent back so that the test shows it
        answer.send(f"{type(exc).__name__}: {exc}")


def test_assembly_works_inside_a_daemonic_process(tmp_path: Path) -> None:
    """A Celery prefork worker is a daemonic process: it may start programs, not multiprocessing
    children (the time-limited assembly once started one, and every service job failed)."""
    import multiprocessing

    from _publishing_fixtures import make_published_run

    run = make_published_run(tmp_path)
    context = multiprocessing.get_context("fork")
    receive, send = context.Pipe(duplex=False)
    daemon = context.Process(target=_assemble_in_a_daemon, args=(str(run), send), daemon=True)
    daemon.start()
    assert receive.poll(600), "no answer from the daemonic process"
    answer = receive.recv()
    daemon.join()
    assert answer == ["cer.html", "cer.pdf"], answer
    assert (run / "cer.pdf").stat().st_size > 10_000
