"""The Jupyter Book site of every report: ``cer book`` / ``make book``.

`build_book` generates the pages from ``outputs/`` and builds ``book/_build/html`` with
jupyter-book 1.x (Sphinx), offline, executing nothing::

    book/_config.yml, intro.md, methods.md, _static/     written by hand (in git)
    book/_toc.yml, index.md                               generated: the index of all codes
    book/runs/<CODE>/index.md                             generated: the runs of one code
    book/runs/<CODE>/<run-id>/index.md                    generated: one run, links to its CER
    book/runs/<CODE>/<run-id>/0N_<stage>.ipynb            copies of the executed notebooks
    book/_extra/runs/<CODE>/<run-id>/cer.html, cer.pdf, manifest.json
                                                          copied next to the run's page

Runs are the finished runs of each code (`cer_lib.runfolder.CodeFolder.runs`): runs in progress or
failed, ``lab/`` working folders and the ``latest`` link are not runs (``latest`` only marks the newest).

Untrusted text never becomes markup: the generated pages put run data into HTML that is escaped
here, and the notebook copies have their outputs sanitised like cer.html's (a Markdown/HTML output
would otherwise reach the page raw through myst-nb). Page titles hold no run data beyond the code
and run id, and this module is also a Sphinx extension (``_config.yml``: ``extra_extensions``, see
`_page_context`) that escapes the page title sphinx-book-theme 1.3 prints unescaped in its print
header (``<h1>{{ pagetitle }}</h1>`` is the title's plain text: an escaped ``&lt;script&gt;`` would
come back as a live ``<script>``), and removes the thebe scripts jupyter-book adds twice.
"""
from __future__ import annotations

import html
import os
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import nbformat
import yaml

from ..errors import ReportError, RunFileError
from ..refresh.changes import change_headline
from ..refresh.feedback import read_feedback
from ..runfolder import CodeFolder, Outputs, RunFolder, layout, run_started
from ..settings import PROJECT_ROOT, Settings
from .html import RunInfo, read_run_info
from .notebooks import clean_notebook_outputs

BOOK_DIR = PROJECT_ROOT / "book"
STATIC_FILES = ("_config.yml", "intro.md", "methods.md", "_static", ".gitignore")
GENERATED = ("_toc.yml", "index.md", "runs", "_extra")
RUN_FILES = (layout.REPORT_HTML, layout.REPORT_PDF, layout.MANIFEST)  # copied next to the run's page


@dataclass
class BookRun:
    code_slug: str
    folder: RunFolder
    info: RunInfo
    latest: bool = False
    headline: dict[str, Any] = field(default_factory=dict)

    @property
    def path(self) -> Path:
        return self.folder.path

    @property
    def run_id(self) -> str:
        return self.folder.run_id

    @property
    def when(self) -> str:
        """UTC start of the run, from its run record or its run id."""
        if self.info.started_utc:
            return str(self.info.started_utc).replace("T", " ").replace("Z", " UTC")
        started = run_started(self.run_id)
        return started.strftime("%Y-%m-%d %H:%M:%S UTC") if started else "unknown"

    @property
    def page(self) -> str:
        """Path of the run page (without suffix) relative to the book root."""
        return f"runs/{self.code_slug}/{self.run_id}/index"


def find_runs(outputs_dir: Path) -> dict[str, list[BookRun]]:
    """``{code_slug: [runs, newest first]}`` for every finished run folder under ``outputs_dir``."""
    found: dict[str, list[BookRun]] = {}
    for code in Outputs(outputs_dir).code_folders():
        latest = code.latest()
        found[code.slug] = [BookRun(code.slug, run, read_run_info(run.path), latest=run == latest,
                                    headline=headline(run.path)) for run in code.runs()]
    return found


# ----------------------------------------------------------------------------------------------
# headline figures


def headline(run_dir: Path) -> dict[str, Any]:
    """Total reports, trend verdict and number of signals from the run's analysis (None when absent):
    ``monthly_counts.totals.all``, ``trend.verdict.verdict`` (the trend's status when there is no
    verdict) and the primary screen's number of signals; what was not computed says so, with the reason."""
    out: dict[str, Any] = {"total_reports": None, "trend_verdict": None, "n_signals": None}
    try:
        analysis = RunFolder(run_dir).analysis(missing_ok=True)
    except RunFileError:
        analysis = None
    if analysis is None:
        return out
    trend = analysis.trend
    out["total_reports"] = analysis.monthly_counts.totals.get("all")
    out["trend_verdict"] = trend.verdict.verdict or (trend.status if trend.status not in (None, "ok") else None)
    # the primary screen's count; "not computed" with the reason when it was not applied, never a 0
    n_signals, signals = analysis.headline.n_signals, analysis.signals
    out["n_signals"] = n_signals if n_signals is not None else f"not computed: {signals.reason or signals.status or 'no analysis'}"
    if trend.status not in (None, "ok") and not trend.verdict.verdict:
        out["trend_verdict"] = f"not tested: {trend.reason or trend.status}"
    return out


# ----------------------------------------------------------------------------------------------
# page generation


def _text(value: Any, missing: str = "n/a") -> str:
    """Escaped single-line text for a raw-HTML block (a blank line would end the block)."""
    if value is None or value == "":
        return missing
    if isinstance(value, int) and not isinstance(value, bool):
        value = f"{value:,}"
    return html.escape(re.sub(r"\s+", " ", str(value)).strip(), quote=True)


def _md(text: str) -> str:
    """Text for a Markdown heading: every ASCII punctuation character backslash-escaped."""
    return re.sub(r"([!-/:-@\[-`{-~])", r"\\\1", re.sub(r"\s+", " ", str(text)).strip())


def _url(path: str) -> str:
    return html.escape(path, quote=True)


def _index_page(runs: dict[str, list[BookRun]]) -> str:
    rows = []
    for slug, code_runs in runs.items():
        latest = next(r for r in code_runs if r.latest)
        h, info = latest.headline, latest.info
        links = [f'<a href="{_url(f"runs/{slug}/{latest.run_id}/index.html")}">run page</a>']
        for name, label in ((layout.REPORT_HTML, "CER (HTML)"), (layout.REPORT_PDF, "CER (PDF)")):
            if latest.folder.exists(name):
                links.append(f'<a href="{_url(f"runs/{slug}/{latest.run_id}/{name}")}">{label}</a>')
        rows.append(
            "<tr>"
            f'<td><a href="{_url(f"runs/{slug}/index.html")}"><strong>{_text(info.code)}</strong></a></td>'
            f"<td>{_text(info.device_name)}</td>"
            f"<td>{_text(info.device_class)}</td>"
            f"<td><code>{_text(latest.run_id)}</code><br>{_text(latest.when)}</td>"
            f"<td>{_text(h.get('total_reports'))}</td>"
            f"<td>{_text(h.get('trend_verdict'))}</td>"
            f"<td>{_text(h.get('n_signals'))}</td>"
            f"<td>{_text(change_headline(latest.folder), 'not recorded')}</td>"
            f"<td>{' · '.join(links)}{' <strong>SYNTHETIC DATA</strong>' if info.synthetic else ''}</td>"
            "</tr>"
        )
    n_runs = sum(len(v) for v in runs.values())
    return "\n".join([
        "# Clinical Evaluation Reports",
        "",
        f"{len(runs)} code{'s' if len(runs) != 1 else ''}, {n_runs} run{'s' if n_runs != 1 else ''}. "
        "For each code, the latest run: its headline figures, its report (HTML and PDF) and its executed notebooks. "
        "Older runs are listed on each code's page. How the numbers are made: [Methods](methods.md); "
        "what a report is: [About](intro.md).",
        "",
        '<table class="cer-index">',
        "<thead><tr><th>Code</th><th>Device</th><th>Class</th><th>Latest run</th><th>Total reports</th>"
        "<th>Trend verdict</th><th>Signals</th><th>Changes since the previous run</th><th>Report</th></tr></thead>",
        "<tbody>",
        *rows,
        "</tbody>",
        "</table>",
        "",
        "Total reports: MAUDE reports received in the data window. Trend verdict: recent window against "
        "the baseline. Signals: device problem terms flagged by the Evans rule or EB05 at or above the threshold. "
        "Changes: the kinds of change the latest run found against the run before it (its changes.json).",
        "",
    ])


def _code_page(slug: str, code_runs: list[BookRun]) -> str:
    info = next(r for r in code_runs if r.latest).info
    rows = []
    for run in code_runs:
        h = run.headline
        rows.append(
            "<tr>"
            f'<td><a href="{_url(f"{run.run_id}/index.html")}"><code>{_text(run.run_id)}</code></a>'
            f"{' <strong>(latest)</strong>' if run.latest else ''}</td>"
            f"<td>{_text(run.when)}</td>"
            f"<td>{_text(run.info.span_text)}</td>"
            f"<td>{_text(h.get('total_reports'))}</td><td>{_text(h.get('trend_verdict'))}</td><td>{_text(h.get('n_signals'))}</td>"
            f"<td>{'SYNTHETIC' if run.info.synthetic else _text(run.info.data_from)}</td>"
            "</tr>"
        )
    return "\n".join([
        f"# {_md(info.code)}",
        "",
        f"<p><strong>{_text(info.device_name)}</strong>, device class {_text(info.device_class)}. "
        f"{len(code_runs)} run{'s' if len(code_runs) != 1 else ''}, newest first.</p>",
        "",
        '<table class="cer-runs">',
        "<thead><tr><th>Run</th><th>Started</th><th>Data window</th><th>Total reports</th><th>Trend verdict</th>"
        "<th>Signals</th><th>Data</th></tr></thead>",
        "<tbody>",
        *rows,
        "</tbody>",
        "</table>",
        "",
    ])


def _run_page(run: BookRun, notebooks: list[str]) -> str:
    info, h = run.info, run.headline
    links = []
    if run.folder.exists(layout.REPORT_HTML):
        links.append(f'<li><a href="{_url(REPORT_PAGE + ".html")}">Clinical Evaluation Report (in this site)</a></li>')
    for name, label in ((layout.REPORT_HTML, "Clinical Evaluation Report (HTML, self-contained)"),
                        (layout.REPORT_PDF, "Clinical Evaluation Report (PDF)"),
                        (layout.MANIFEST, f"{layout.MANIFEST} (queries, data versions, hashes)")):
        if run.folder.exists(name):
            links.append(f'<li><a href="{_url(name)}">{_text(label)}</a></li>')
    nb_links = [f'<li><a href="{_url(nb + ".html")}"><code>{_text(nb)}.ipynb</code></a></li>' for nb in notebooks]
    banner = ('<p class="cer-synthetic"><strong>SYNTHETIC DATA</strong>: this run used a synthetic demo data set; '
              "its numbers describe no real device.</p>") if info.synthetic else ""
    return "\n".join([
        f"# {_md(info.code)} run {_md(run.run_id)}",
        "",
        banner,
        "",
        '<table class="cer-facts"><tbody>',
        f"<tr><th>Code</th><td>{_text(info.code)} ({_text(info.kind)})</td></tr>",
        f"<tr><th>Device</th><td>{_text(info.device_name)}</td></tr>",
        f"<tr><th>Class</th><td>{_text(info.device_class)}</td></tr>",
        f"<tr><th>Data</th><td>{_text(info.span_text)}</td></tr>",
        f"<tr><th>Data last updated</th><td>{_text(info.last_updated_text)}</td></tr>",
        f"<tr><th>Started</th><td>{_text(run.when)}{' (latest run of this code)' if run.latest else ''}</td></tr>",
        f"<tr><th>Total reports</th><td>{_text(h.get('total_reports'))}</td></tr>",
        f"<tr><th>Trend verdict</th><td>{_text(h.get('trend_verdict'))}</td></tr>",
        f"<tr><th>Signals</th><td>{_text(h.get('n_signals'))}</td></tr>",
        "</tbody></table>",
        "",
        _feedback_block(run),
        "",
        "<p>The report:</p>",
        "",
        "<ul>" + "".join(links or ["<li>no cer.html in this run folder</li>"]) + "</ul>",
        "",
        "<p>The executed notebooks, code and outputs (the report's sections are the outputs of <code>05_report</code>):</p>",
        "",
        "<ul>" + "".join(nb_links) + "</ul>",
        "",
    ])


def _feedback_block(run: BookRun) -> str:
    """Reviewers' comments on this run (`cer_lib.refresh.feedback`), escaped, oldest first."""
    try:
        entries = read_feedback(CodeFolder(run.path.parent), run.run_id)
    except RunFileError as exc:
        return f"<p>Reviewer feedback on this run could not be read: {_text(exc)}</p>"
    if not entries:
        return "<p>Reviewer feedback on this run: none.</p>"
    resolved = {e.resolves for e in entries if e.resolves}
    items = [f"<li><strong>{_text(e.author)}</strong> ({_text(e.role)}), {_text(e.time_utc)}"
             f"{f', section {_text(e.section)}' if e.section else ''}"
             f"{f', resolves {_text(e.resolves)}' if e.resolves else ''}: {_text(e.comment)} "
             f"<em>({'resolved' if e.id in resolved else 'resolution' if e.resolves else 'open'}; {_text(e.id)})</em></li>"
             for e in entries]
    return f'<p>Reviewer feedback on this run ({len(entries)}):</p>\n\n<ul class="cer-feedback">{"".join(items)}</ul>'



REPORT_PAGE = "report"  # the CER inside the site: navigation around it, a way back, the full width


def _report_page(run: BookRun) -> str:
    """The run's cer.html as a page of the site: the book's navigation, links back to the run and the code,
    and the report in a frame the width of the content column (cer.html itself stays as the manifest hashed it)."""
    info = run.info
    title = f"Clinical Evaluation Report: {info.code}, run {run.run_id}"
    back = (f'<p class="cer-book-back"><a href="index.html">&#8592; Run {_text(run.run_id)}</a> &#183; '
            f'<a href="../index.html">All runs of {_text(info.code)}</a> &#183; <a href="{_url(layout.REPORT_HTML)}">'
            f'cer.html on its own</a>' + (f' &#183; <a href="{_url(layout.REPORT_PDF)}">cer.pdf</a>'
                                          if run.folder.exists(layout.REPORT_PDF) else "") + "</p>")
    frame = (f'<iframe class="cer-frame" src="{_url(layout.REPORT_HTML)}" title="{_text(title)}" '
             'sandbox="allow-same-origin allow-popups allow-popups-to-escape-sandbox"></iframe>')
    return "\n".join([f"# {_md(title)}", "", back, "", frame, ""])


def _copy_notebook(source: Path, target: Path, run_dir: Path) -> None:
    """A copy of an executed notebook whose outputs are safe to render (see `clean_notebook_outputs`)."""
    nb = nbformat.read(source, as_version=4)
    nb = clean_notebook_outputs(nb, base_dir=run_dir)
    nb.metadata.pop("widgets", None)
    nbformat.write(nb, target)


def generate_pages(runs: dict[str, list[BookRun]], book_dir: Path) -> list[str]:
    """Write _toc.yml, index.md, runs/ and _extra/ into ``book_dir``; returns the generated page paths."""
    for name in GENERATED:
        path = book_dir / name
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        elif path.exists() or path.is_symlink():
            path.unlink()
    pages = ["index"]
    chapters = []
    for slug, code_runs in runs.items():
        code_dir = book_dir / "runs" / slug
        code_dir.mkdir(parents=True)
        (code_dir / "index.md").write_text(_code_page(slug, code_runs), encoding="utf-8")
        run_sections = []
        for run in code_runs:
            page_dir = code_dir / run.run_id
            page_dir.mkdir()
            extra_dir = book_dir / "_extra" / "runs" / slug / run.run_id
            extra_dir.mkdir(parents=True)
            for name in RUN_FILES:
                if run.folder.exists(name):
                    shutil.copy2(run.folder.file(name), extra_dir / name)
            notebooks = []
            for stage in layout.STAGES:
                if run.folder.notebook_path(stage).is_file():
                    _copy_notebook(run.folder.notebook_path(stage), page_dir / layout.notebook(stage), run.path)
                    notebooks.append(stage)
            (page_dir / "index.md").write_text(_run_page(run, notebooks), encoding="utf-8")
            children = [f"runs/{slug}/{run.run_id}/{nb}" for nb in notebooks]
            if run.folder.exists(layout.REPORT_HTML):
                (page_dir / f"{REPORT_PAGE}.md").write_text(_report_page(run), encoding="utf-8")
                children.insert(0, f"runs/{slug}/{run.run_id}/{REPORT_PAGE}")
            run_sections.append({"file": run.page, "sections": [{"file": child} for child in children]})
            pages += [run.page, *children]
        chapters.append({"file": f"runs/{slug}/index", "sections": run_sections})
        pages.append(f"runs/{slug}/index")
    toc = {
        "format": "jb-book",
        "root": "index",
        "parts": [
            {"caption": "Reports", "chapters": chapters},
            {"caption": "About", "chapters": [{"file": "intro"}, {"file": "methods"}]},
        ],
    }
    (book_dir / "_toc.yml").write_text("# generated by `cer book` from outputs/; do not edit\n"
                                       + yaml.safe_dump(toc, sort_keys=False), encoding="utf-8")
    (book_dir / "index.md").write_text(_index_page(runs), encoding="utf-8")
    return pages


def _prepare_book_dir(book_dir: Path) -> None:
    """A book folder other than book/ gets the hand-written files from book/ first."""
    book_dir.mkdir(parents=True, exist_ok=True)
    if book_dir.resolve() == BOOK_DIR.resolve():
        return
    for name in STATIC_FILES:
        source = BOOK_DIR / name
        if source.is_dir():
            shutil.copytree(source, book_dir / name, dirs_exist_ok=True)
        elif source.is_file():
            shutil.copy2(source, book_dir / name)


def build_book(outputs_dir: Path | None = None, *, book_dir: Path | None = None, quiet: bool = True) -> str:
    """Generate the pages from ``outputs_dir`` (default: outputs/) and build the site.

    Returns the path of ``<book_dir>/_build/html/index.html``. Raises `ReportError` when there is no
    run to show or the build fails (with the end of Sphinx's log).
    """
    outputs_dir = Path(outputs_dir) if outputs_dir else Settings.from_env().outputs_dir
    book_dir = Path(book_dir) if book_dir else BOOK_DIR
    runs = find_runs(outputs_dir)
    if not runs:
        raise ReportError(
            f"no report runs under {outputs_dir}: run one first (e.g. `make demo` or `make report CODE=LZG`); "
            f"unfinished ({layout.RUNNING_PREFIX}*), failed ({layout.FAILED_PREFIX}*) and {layout.LAB}/ folders are not published"
        )
    _prepare_book_dir(book_dir)
    generate_pages(runs, book_dir)
    build_dir = book_dir / "_build"
    if (build_dir / "html").exists():
        shutil.rmtree(build_dir / "html")  # no pages of deleted runs left behind
    command = [str(Path(sys.executable).with_name("jupyter-book")), "build", str(book_dir), "--path-output", str(book_dir)]
    if not Path(command[0]).is_file():
        command = [sys.executable, "-m", "jupyter_book.cli.main", "build", str(book_dir), "--path-output", str(book_dir)]
    env = {**os.environ, "PYDEVD_DISABLE_FILE_VALIDATION": "1"}
    started = time.perf_counter()
    done = subprocess.run(command, cwd=book_dir, capture_output=True, text=True, env=env)
    index = build_dir / "html" / "index.html"
    if done.returncode != 0 or not index.is_file():
        tail = "\n".join((done.stdout + "\n" + done.stderr).strip().splitlines()[-25:])
        raise ReportError(f"jupyter-book build of {book_dir} failed (exit {done.returncode}):\n{tail}")
    log = book_dir / "_build" / "build.log"
    log.write_text(done.stdout + "\n" + done.stderr, encoding="utf-8")
    if not quiet:
        print(f"built {index} in {time.perf_counter() - started:.1f} s", file=sys.stderr)
    return str(index)


# ----------------------------------------------------------------------------------------------
# Sphinx extension (loaded by book/_config.yml)


def _page_context(app: Any, pagename: str, templatename: str, context: dict[str, Any], doctree: Any) -> None:
    """Make each page safe and quiet, after the theme has filled the context.

    - escape the plain-text titles sphinx-book-theme prints without escaping (``pagetitle``);
    - drop sphinx-thebe's scripts: this book launches no kernels, and jupyter-book 1.0 adds the
      thebe configuration twice (``const THEBE_JS_URL`` declared twice: a console SyntaxError);
    - give pydata-sphinx-theme a colour mode (empty by default: "Got invalid theme mode" error).
    """
    from markupsafe import Markup, escape

    for key in ("pagetitle", "root_title"):
        value = context.get(key)
        if isinstance(value, str) and not isinstance(value, Markup):
            context[key] = escape(value)
    scripts = context.get("script_files")
    if isinstance(scripts, list):
        context["script_files"] = [js for js in scripts if not _is_thebe(js)]
    if not context.get("default_mode"):
        context["default_mode"] = "light"


def _is_thebe(js: Any) -> bool:
    name = str(getattr(js, "filename", js) or "")
    body = str((getattr(js, "attributes", None) or {}).get("body", ""))
    return "thebe" in name.lower() or "THEBE_JS_URL" in body


def setup(app: Any) -> dict[str, Any]:
    """Sphinx entry point: runs after the themes' own html-page-context handlers (priority 500)."""
    app.connect("html-page-context", _page_context, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
