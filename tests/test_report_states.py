"""Honest states (issue 12.5): what was not computed says so with its reason, never as a 0; the data's
real span and cut-off rather than a window end years after the last report; one spelling of the
class; no host path in the report; a sparse run says so first and presents no model output as a finding."""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from cer_lib.report.book import headline
from cer_lib.report.facts import SPARSE_REPORTS, build_facts
from cer_lib.report.html import read_run_info
from cer_lib.report.narrative import render_narrative
from report_fixtures import make_run_folder


def _edit_analysis(run: Path, change) -> None:
    path = run / "results" / "analysis.json"
    analysis = json.loads(path.read_text())
    change(analysis)
    path.write_text(json.dumps(analysis))


def test_signals_not_computed_are_not_a_zero_in_the_book(tmp_path: Path) -> None:
    run = make_run_folder(tmp_path)
    assert headline(run)["n_signals"] == 1

    def not_computed(analysis):
        analysis["signals"].update(status="not_possible", reason="no comparator product code has reports", rows=[])
        analysis["headline"]["n_signals"] = None
    _edit_analysis(run, not_computed)
    assert headline(run)["n_signals"] == "not computed: no comparator product code has reports"


def test_the_title_block_gives_the_datas_real_span_and_the_class_as_the_prose_spells_it(tmp_path: Path) -> None:
    run = make_run_folder(tmp_path)
    info = read_run_info(run)
    analysis = json.loads((run / "results" / "analysis.json").read_text())
    months = sorted(r["month"][:7] for r in analysis["monthly_counts"]["rows"] if r["event_type"] == "total" and r["n_reports"])
    assert info.span_text.startswith(f"reports received {months[0]} to {months[-1]}; data cut-off {analysis['meta']['as_of']}")
    assert info.device_class == "Class II"


def test_a_sparse_run_says_so_first_and_lists_no_model_output_as_a_finding(tmp_path: Path) -> None:
    run = make_run_folder(tmp_path)
    text = lambda number: next(s for s in render_narrative(build_facts(run)).sections if s.number == number).markdown
    assert "Too sparse for statistical inference" not in text("1")
    assert "Disproportionate reporting observed" in text("5")  # the fixture's run is not sparse

    def sparse(analysis):
        totals = analysis["monthly_counts"]["totals"]
        totals.update({"all": SPARSE_REPORTS - 1})
    _edit_analysis(run, sparse)
    summary, findings = text("1"), text("5")
    assert summary.index("Too sparse for statistical inference") < summary.index("This report assembles")
    assert "Disproportionate reporting" not in summary and "Disproportionate reporting" not in findings
    assert "not findings for this run, whose data are too sparse" in findings


@pytest.mark.realdata
def test_no_host_path_in_the_demo_report(demo_run: Path) -> None:
    from cer_lib.settings import PROJECT_ROOT

    html = (demo_run / "cer.html").read_text(encoding="utf-8")
    for root in {str(PROJECT_ROOT), str(PROJECT_ROOT.resolve()), str(demo_run.parent.parent)}:
        assert root not in html, root


def test_zero_recalls_and_enforcement_reports_are_said_in_words_not_as_zero_breakdowns(tmp_path: Path) -> None:
    run = make_run_folder(tmp_path)
    for name in ("recalls", "enforcement"):
        import pandas as pd

        path = run / "tables" / f"{name}.parquet"
        pd.read_parquet(path).head(0).to_parquet(path, index=False)
    summary = next(s for s in render_narrative(build_facts(run)).sections if s.number == "1").markdown
    assert "openFDA lists no recalled product of this product code, and none of its comparator product codes." in summary
    assert "None for this product code; none for its comparator product codes." in summary
    assert "0 Class I" not in summary and "(0 not terminated" not in summary


def test_the_collect_summary_shows_as_its_lines_in_a_notebook_not_as_a_python_repr(tmp_path: Path) -> None:
    from cer_lib.collect import CollectSummary
    from cer_lib.profiles import DeviceResolution
    from cer_lib.sources.base import SourceStatus

    summary = CollectSummary(collected_dir=tmp_path / "collected", origin="mirror", code="HWC", kind="product_code",
                             resolution=DeviceResolution(code="HWC", kind="product_code", product_code="HWC"), n_counts=3, n_totals=2, requests=0, from_cache=0,
                             statuses={"device_event": SourceStatus(name="device_event", status="ok", total=13, fetched=13)})
    shown = repr(summary)
    assert shown == str(summary) and shown.startswith("collected HWC (product_code) from mirror: 3 counts, 2 totals")
    assert "SourceStatus(" not in shown and "PosixPath(" not in shown and f"-> {tmp_path}" not in shown


RAW_REPR = re.compile(r"\{'|\[np\.|np\.float|Timestamp\(|dtype|datetime\.date\(|<IPython\.core\.display\.\w+ object>")


def raw_reprs(run: Path) -> list[str]:
    """Python reprs in any text output of the run's executed notebooks (plain-text alternatives included)."""
    import nbformat

    found = []
    for path in sorted(run.glob("0*.ipynb")):
        for index, cell in enumerate(nbformat.read(path, as_version=4).cells):
            for output in cell.get("outputs", []) if cell.cell_type == "code" else []:
                texts = [output.get("text", "")] + [v for k, v in output.get("data", {}).items() if k.startswith("text/")]
                for text in texts:
                    text = "".join(text) if isinstance(text, list) else str(text)
                    found += [f"{path.name} cell {index}: {text[max(0, m.start() - 40):m.end() + 40]!r}"
                              for m in RAW_REPR.finditer(text)]
    return found


@pytest.mark.realdata
def test_the_demo_notebooks_show_no_raw_python_repr(demo_run: Path) -> None:
    assert raw_reprs(demo_run) == []


@pytest.mark.realdata
@pytest.mark.slow
def test_a_drug_runs_notebooks_show_no_raw_python_repr_and_no_zero_for_not_assessed(realdata: Path, tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    from cer_lib.settings import PROJECT_ROOT

    outputs = tmp_path / "outputs"
    done = subprocess.run([sys.executable, "-m", "cer_lib", "report", "RISPERDAL", "--kind", "drug", "--from", "mirror",
                           "--mirror", str(realdata / "faers" / "faers_ascii_2017q2")], cwd=PROJECT_ROOT, capture_output=True,
                          text=True, timeout=900, env={**os.environ, "CER_OUTPUTS_DIR": str(outputs), "CER_CACHE_DIR": str(tmp_path / "cache")})
    assert done.returncode == 0, done.stderr[-3000:]
    run = outputs / "drug-RISPERDAL" / "latest"
    assert raw_reprs(run) == []
    analyze = (run / "03_analyze.ipynb").read_text(encoding="utf-8")
    assert "listedness not assessed" in analyze and "0 unlisted" not in analyze  # a mirror holds no label
    html = (run / "cer.html").read_text(encoding="utf-8")  # a block note is never wrapped inside a sentence's brackets
    assert not re.search(r"\(\s*</p>", html) and not re.search(r"<p[^>]*>\s*\)", html)


@pytest.mark.realdata
def test_template_sentences_agree_with_the_demo_data(demo_run: Path) -> None:
    """"tabulated below" only above a table (before the next heading), no zero counts with breakdowns."""
    html = (demo_run / "cer.html").read_text(encoding="utf-8")
    body = html[:html.index('id="annex-1"')]
    for match in re.finditer("tabulated below", body):
        following = re.split(r"<h[1-6][ >]", body[match.end():], maxsplit=1)[0]
        assert "<table" in following, body[match.start() - 300:match.end()]
    for wrong in ("0 device identifier records (0 brand names)", "returned 0 records", "lists 0 recalled products",
                  "Signals: 0"):
        assert wrong not in body, wrong
