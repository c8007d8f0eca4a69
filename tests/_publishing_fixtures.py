"""Executed notebooks for the publishing tests (cer.html, cer.pdf, the book, the browser checks).

The run folder itself comes from ``report_fixtures.make_run_folder`` (parameters, run.json,
collected/, tables/, results/, figures/, provenance/). This module adds what papermill would
leave: the five executed stage notebooks, hand-made with nbformat so the tests neither start a
kernel nor depend on the stage code. Their outputs mimic the real ones: stream text, reprs,
pandas HTML tables, PNG figures, and for 05_report the CER sections as HTML with stable ids
(``sec-…``, ``tab-…``, ``fig-…``).

``hostile=True`` adds untrusted text the way it can reach a notebook: escaped in HTML (as
document.py emits it), as plain text, as Markdown, and once as *unescaped* HTML (a regression in
the content layer) that the publishing layer must neutralise. The payload sets
``window.__cer_pwned`` and ``document.title`` if it ever runs.
"""
from __future__ import annotations

import base64
import html
import json
import shutil
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

from cer_lib.runfolder.layout import STAGES

PWNED_TITLE = "PWNED"
# runs if it is ever executed: sets a global and the title
PAYLOAD = (
    "<script>window.__cer_pwned = 1; document.title = 'PWNED';</script>"
    "<img src=x onerror=\"window.__cer_pwned = 2; document.title = 'PWNED'\">"
    "<a href=\"javascript:window.__cer_pwned=3\">click me</a>"
    "<svg><script>window.__cer_pwned = 4</script></svg>"
    "<iframe srcdoc=\"<script>parent.__cer_pwned=5</script>\"></iframe>"
    "<style>body{background:url(https://evil.example/x.png)}</style>"
    "</div></section></table>"
)
HOSTILE_NARRATIVE = f"PATIENT REPORTED PAIN. {PAYLOAD} END OF NARRATIVE."

# a code line far wider than the page; its last word must survive in the PDF
LONG_LINE = "search=" + "+AND+".join(f"device.device_report_product_code:HWC{i:02d}" for i in range(12)) + "+END-OF-LONG-LINE"

STAGE_HEADINGS = {
    "01_collect": "# Stage 1: collect\n\nFetches what public sources hold about the code.",
    "02_integrate": "# Stage 2: integrate\n\nTidy tables, duplicates removed.",
    "03_analyze": "# Stage 3: analyze\n\nSeries, trends, change points, forecast, signals.",
    "04_narrate": "# Stage 4: narrate\n\nNarrative text generated from the results.",
    "05_report": "# Stage 5: report\n\nThe CER sections, tables and figures.",
}


def _metadata() -> dict:
    return {
        "kernelspec": {"name": "cer-notebooks", "display_name": "Python (cer-notebooks)", "language": "python"},
        "language_info": {"name": "python", "pygments_lexer": "ipython3", "version": "3.11.7"},
        "papermill": {"parameters": {"code": "HWC", "run_dir": "."}},
    }


def _code(source: str, outputs: list | None = None, *, n: int, tags: list[str] | None = None) -> nbformat.NotebookNode:
    cell = new_code_cell(source, execution_count=n, outputs=outputs or [])
    if tags:
        cell.metadata["tags"] = tags
    return cell


def _result(n: int, text: str, html_text: str | None = None) -> nbformat.NotebookNode:
    data = {"text/plain": text}
    if html_text is not None:
        data["text/html"] = html_text
    return new_output("execute_result", data=data, execution_count=n)


def _display(html_text: str, text: str = "<IPython.core.display.HTML object>") -> nbformat.NotebookNode:
    return new_output("display_data", data={"text/html": html_text, "text/plain": text})


def _png(path: Path) -> str:
    return base64.b64encode(path.read_bytes()).decode("ascii")


def _head_cells(stage: str, code: str) -> list[nbformat.NotebookNode]:
    return [
        new_markdown_cell(STAGE_HEADINGS[stage]),
        _code('code = "HWC"\nkind = "product_code"\ndata_from = "mirror"\nrun_dir = ""', n=1, tags=["parameters"]),
        _code(f'# Parameters\ncode = "{code}"\nkind = "product_code"\ndata_from = "mirror"\nrun_dir = "."\n', n=2,
              tags=["injected-parameters"]),
        _code(f'import cer_lib\n\nctx = cer_lib.open_run(run_dir, code=code, kind=kind, data_from=data_from, stage="{stage}")\n'
              "ctx.params.code, ctx.params.data_from", [_result(3, f"('{code}', 'mirror')")], n=3),
    ]


def _table_html(rows: list[dict], table_id: str | None = None, caption: str | None = None) -> str:
    cols = list(rows[0]) if rows else []
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in cols)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(str(r[c]))}</td>" for c in cols) + "</tr>" for r in rows)
    cap = f"<caption>{html.escape(caption)}</caption>" if caption else ""
    ident = f' id="{table_id}"' if table_id else ""
    return f'<table class="dataframe"{ident}>{cap}<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def write_executed_notebooks(run_dir: Path, *, hostile: bool = False, code: str | None = None) -> None:
    """Write 01_collect … 05_report.ipynb with outputs into ``run_dir``."""
    run_dir = Path(run_dir)
    code = code or _code_of(run_dir)
    analysis = json.loads((run_dir / "results" / "analysis.json").read_text())
    figures = [f for f in analysis.get("figures", []) if (run_dir / f["png"]).is_file()]
    monthly = [r for r in analysis["monthly_counts"]["rows"] if r["event_type"] == "total"]
    narrative = HOSTILE_NARRATIVE if hostile else "PATIENT REPORTED PAIN AFTER THE SCREW BROKE."

    nbs: dict[str, list] = {}
    # 01 collect: stream progress and a status repr
    status = json.loads((run_dir / "collected" / "status.json").read_text())
    lines = "".join(f"{name:<28} {s['status']:<12} fetched {s['fetched']}\n" for name, s in status["sources"].items())
    nbs["01_collect"] = [
        _code(f"query = {LONG_LINE!r}  # one long line: wrapped in print, never cut", n=5),
        _code("from cer_lib.collect import collect\n\nsummary = collect(ctx)\nsummary",
              [new_output("stream", name="stdout", text=lines),
               _result(4, "CollectSummary(sources=9, requests=9, from_cache=0)")], n=4),
    ]
    # 02 integrate: a pandas table and a stderr warning
    summary = json.loads((run_dir / "tables" / "summary.json").read_text())
    rows = [{"table": k, "rows": v["rows"], "duplicates_removed": v["duplicates_removed"]} for k, v in summary["tables"].items()]
    nbs["02_integrate"] = [
        _code("from cer_lib.integrate import integrate\n\nsummary = integrate(ctx)\nsummary.tables",
              [new_output("stream", name="stderr", text="note: 2 duplicate reports removed (report_number)\n"),
               _result(4, "\n".join(f"{r['table']:<20}{r['rows']:>6}" for r in rows), _table_html(rows))], n=4),
    ]
    # 03 analyze: figures as PNG outputs and a long line of text
    outs = [new_output("display_data", data={"image/png": _png(run_dir / f["png"]), "text/plain": "<Figure size 800x400>"})
            for f in figures[:3]]
    outs.append(new_output("stream", name="stdout",
                           text="trend: " + json.dumps(analysis["trend"]["verdict"], sort_keys=True) + "\n"))
    nbs["03_analyze"] = [
        _code("from cer_lib.analysis.stage import analyze\n\nresults = analyze(ctx)\nresults.figures", outs, n=4),
        _code("results.monthly.tail(12)", [_result(5, "\n".join(f"{r['month']} {r['n_reports']}" for r in monthly[-12:]),
                                                    _table_html(monthly[-12:]))], n=5),
    ]
    # 04 narrate: markdown output, plain text narrative
    nbs["04_narrate"] = [
        _code("from cer_lib.report.narrative import narrate\n\ntext = narrate(ctx)\ntext.show()",
              [new_output("display_data", data={"text/markdown": "## Narrative preview\n\nThe trend verdict is **increase**.\n\n"
                                                + (narrative if hostile else ""),
                                                "text/plain": "<IPython.core.display.Markdown object>"}),
               new_output("stream", name="stdout", text=f"case 9100000: {narrative}\n")], n=4),
    ]
    # 05 report: the CER sections as document.py renders them, with stable ids
    cells05 = [_code("from cer_lib.report.document import show_section", n=4)]
    for n, (key, body) in enumerate(_report_sections(run_dir), start=5):
        cells05.append(_code(f"show_section(ctx, {key!r})", [_display(body)], n=n))
    if hostile:
        cells05.append(_code("doc.show_raw_case(9100000)  # regression: unescaped HTML", [
            _display(f'<div class="cer-case">{HOSTILE_NARRATIVE}</div>'),
            new_output("stream", name="stdout", text=HOSTILE_NARRATIVE + "\n"),
            new_output("display_data", data={"text/markdown": f"Case text: {HOSTILE_NARRATIVE}", "text/plain": "md"}),
            new_output("display_data", data={"application/javascript": "window.__cer_pwned = 6;", "text/plain": "js"}),
            new_output("display_data", data={"image/svg+xml": '<svg xmlns="http://www.w3.org/2000/svg" onload="window.__cer_pwned=7">'
                                             '<script>window.__cer_pwned=8</script><rect width="10" height="10"/></svg>',
                                             "text/plain": "svg"}),
        ], n=20))
    cells05.append(_code("doc.write(ctx)", [new_output("stream", name="stdout", text="wrote results/document.json\n")], n=30))
    nbs["05_report"] = cells05

    for stage in STAGES:
        nb = new_notebook(metadata=_metadata())
        nb.cells = _head_cells(stage, code) + nbs[stage]
        if hostile and stage == "04_narrate":  # a page title with markup in it (the book prints titles)
            nb.cells[0].source = "# Stage 4: narrate `<script>window.__cer_pwned = 9</script>`\n\nNarrative text."
        nbformat.validate(nb)
        nbformat.write(nb, run_dir / f"{stage}.ipynb")


def _report_sections(run_dir: Path) -> list[tuple[str, str]]:
    """(key, html) of the front matter and every top-level section, from cer_lib.report.document."""
    from cer_lib.report.document import section_html
    from cer_lib.report.meddev import SECTIONS
    from cer_lib.report.narrative import narrate

    narrate(run_dir)
    keys = ["front"] + [s.number for s in SECTIONS if s.level == 1]
    return [(key, section_html(run_dir, key)) for key in keys]


def _code_of(run_dir: Path) -> str:
    import yaml

    return str(yaml.safe_load((run_dir / "parameters.yaml").read_text())["code"])


def make_published_run(
    tmp_path: Path, *, hostile: bool = False, synthetic: bool = False, code: str | None = None,
    run_id: str | None = None,
) -> Path:
    """A run folder with tables, results, figures and the five executed notebooks (no cer.html yet).

    ``code``/``run_id`` move the fixture's HWC run to ``tmp_path/<code>/<run_id>`` (a second code for
    the book tests; the data stay HWC's).
    """
    from report_fixtures import make_run_folder

    scratch = Path(tmp_path) / f".scratch-{code or 'HWC'}-{run_id or 'default'}"
    run = make_run_folder(scratch, hostile=hostile, synthetic=synthetic)
    target = Path(tmp_path) / (code or run.parent.name) / (run_id or run.name)
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.move(str(run), str(target))
    shutil.rmtree(scratch, ignore_errors=True)
    if code or run_id:
        import yaml

        params_file = target / "parameters.yaml"
        text = params_file.read_text()
        params = yaml.safe_load(text)
        params["code"] = code or params["code"]
        params_file.write_text(yaml.safe_dump(params, sort_keys=False))
        record = json.loads((target / "run.json").read_text())
        record.update(code=params["code"], run_id=target.name)
        (target / "run.json").write_text(json.dumps(record, indent=2))
    write_executed_notebooks(target, hostile=hostile)
    return target


def point_latest(run_dir: Path) -> None:
    """``<code>/latest`` -> run_dir, as the runner does."""
    link = run_dir.parent / "latest"
    if link.is_symlink() or link.exists():
        link.unlink()
    link.symlink_to(run_dir.name, target_is_directory=True)


# ----------------------------------------------------------------------------------------------
# assembled runs shared by the test modules of one pytest process (read-only for the tests)

_SHARED: dict[tuple[bool, bool], tuple[Path, float]] = {}


def shared_run(*, hostile: bool = False, synthetic: bool = False) -> tuple[Path, float]:
    """(run folder with cer.html and cer.pdf, seconds the assembly took), built once per process.

    Tests must not modify it; copy it (`copy_run`) to change anything.
    """
    key = (hostile, synthetic)
    if key not in _SHARED:
        import atexit
        import tempfile
        import time

        from cer_lib.report.assemble import assemble_report

        root = Path(tempfile.mkdtemp(prefix="cer-publishing-"))
        atexit.register(shutil.rmtree, root, True)
        run = make_published_run(root, hostile=hostile, synthetic=synthetic)
        started = time.perf_counter()
        assemble_report(run)
        _SHARED[key] = (run, time.perf_counter() - started)
    return _SHARED[key]


def copy_run(run: Path, outputs: Path) -> Path:
    """A copy of ``run`` at ``outputs/<code>/<run-id>`` (a real folder, as the runner leaves it)."""
    target = Path(outputs) / run.parent.name / run.name
    shutil.copytree(run, target)
    return target


# ----------------------------------------------------------------------------------------------
# the book of the book and browser tests (built once per session: conftest.book_site)

LZG_OLD, LZG_NEW = "20240701T080000Z-abcdef1", "20240801T080000Z-abcdef2"


def build_book_site(root: Path) -> dict:
    """A hostile synthetic HWC run and two runs of LZG (``latest`` on the older), beside folders that are
    not runs (failed, in progress, lab), built into a book under ``root``."""
    import time

    from cer_lib.report.book import build_book

    outputs = root / "outputs"
    hwc = copy_run(shared_run(hostile=True, synthetic=True)[0], outputs)
    point_latest(hwc)
    old = make_published_run(outputs, code="LZG", run_id=LZG_OLD)
    new = make_published_run(outputs, code="LZG", run_id=LZG_NEW)
    for name in ("cer.html", "cer.pdf"):  # report files of another run stand in for this one's
        shutil.copy2(shared_run()[0] / name, new / name)
    point_latest(old)  # latest is what the link says, not the newest name
    (outputs / "LZG" / ".failed-20240901T000000Z-0000000").mkdir()
    (outputs / "LZG" / ".tmp-20240902T000000Z-0000000").mkdir()
    (outputs / "LZG" / "lab").mkdir()
    (outputs / "LZG" / "lab" / "01_collect.ipynb").write_text((old / "01_collect.ipynb").read_text())
    started = time.perf_counter()
    index = Path(build_book(outputs, book_dir=root / "book"))
    return {"root": root, "outputs": outputs, "index": index, "html": index.parent,
            "seconds": time.perf_counter() - started, "hwc": hwc, "old": old, "new": new}
