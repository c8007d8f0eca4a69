"""``cer.html``: one self-contained page per run, report first, code trail after.

Layout of the page (nbconvert template ``templates/nbconvert/cer``, extending JupyterLab's)::

    title block      code, device name, class, data window, run id, data last_updated,
                     a SYNTHETIC DATA banner when the collect status says so
    contents         links to every section (page numbers in the PDF)
    report           the executed 05_report notebook: its outputs (narrative, tables, figures),
                     the code of each cell folded in <details>; no prompts
    annex 1          the five executed notebooks, code and outputs (1.5 points back to the report
                     for outputs already shown there instead of printing them twice)
    annex 2          provenance: each table/figure id -> its queries and data hashes, then the
                     query log itself
    annex 3          how to reproduce (only when the report does not already say it)

("Annex", not "Appendix": the report's own MEDDEV structure has an Appendix A.)

Everything the page needs is inside it: CSS inlined, images as data URIs, no scripts at all.

Untrusted text (MAUDE/FAERS narratives) reaches the page only through notebook outputs.
``text/plain`` is escaped by the template; every HTML fragment (``text/html``, ``image/svg+xml``,
rendered markdown) goes through `sanitize_html`, a re-serialising sanitiser on the standard
library's ``html.parser``: ``<script>`` and other active elements are removed with their content,
``on*=`` attributes and ``javascript:``-like URLs are dropped, external resources are not loaded,
unbalanced tags are closed so one output cannot break the page around it. `audit_html` checks the
finished page and the assembly refuses to write a page that fails it.
"""
from __future__ import annotations

import base64
import copy
import datetime as dt
import html as htmllib
import re
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from typing import Any, Iterable

import nbformat

from .. import __version__
from ..errors import CerError, ReportError
from ..provenance import redact_url
from ..runfolder import RunFolder, RunRecord, layout
from ..runfolder.layout import STAGES

TEMPLATES_DIR = Path(__file__).resolve().parent / "templates" / "nbconvert"
TEMPLATE_NAME = "cer"
STATIC_DIR = TEMPLATES_DIR / TEMPLATE_NAME / "static"
REPORT_STAGE = STAGES[-1]

STAGE_TITLES = {
    "01_collect": "Collect: public sources queried",
    "02_integrate": "Integrate: tidy tables and duplicates",
    "03_analyze": "Analyze: series, trends, change points, forecast, signals",
    "04_narrate": "Narrate: text generated from the results",
    "05_report": "Report: the CER sections",
}


# ==============================================================================================
# Sanitiser
# ==============================================================================================

_VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "param", "source",
         "track", "wbr", "keygen", "frame"}
# removed together with everything inside them
_DROP_WITH_CONTENT = {"script", "iframe", "frameset", "object", "applet", "noscript", "noembed", "noframes",
                      "template", "xmp", "plaintext", "math", "select", "textarea", "button", "audio", "video",
                      "canvas", "dialog", "portal", "fencedframe", "head", "title", "set", "animate",
                      "animatemotion", "animatetransform", "handler", "listener"}
# the tag goes, its content stays (or it is void)
_DROP_TAG = {"html", "body", "form", "base", "link", "meta", "input", "param", "source", "track", "keygen",
             "embed", "frame", "picture"}
_DROP_ATTRS = {"srcdoc", "formaction", "action", "ping", "srcset", "imagesrcset", "manifest", "codebase",
               "classid", "archive", "data", "dynsrc", "lowsrc", "background", "is", "http-equiv", "cite",
               "longdesc", "usemap", "attributename", "autofocus", "contenteditable", "nonce", "integrity"}
_HYPERLINK_TAGS = {"a", "area"}
_HYPERLINK_SCHEMES = {"http", "https", "mailto"}
_IMAGE_DATA = re.compile(r"^data:image/(png|jpeg|jpg|gif|webp|svg\+xml)[;,]", re.I)
_SCHEME = re.compile(r"^([a-z][a-z0-9+.\-]*):")
_BAD_VALUE = re.compile(r"(javascript|vbscript|livescript|mocha):|data:text/html|data:application", re.I)
_BAD_CSS = re.compile(r"url\s*\(|expression\s*\(|@import|behavior\s*:|-moz-binding|javascript:|</?\s*[a-z!/]|\\", re.I)
_NAME_OK = re.compile(r"^[a-zA-Z_:][-a-zA-Z0-9_:.]*$")
_TAG_OK = re.compile(r"^[a-zA-Z][a-zA-Z0-9:-]*$")
_HEADING = re.compile(r"^h([1-6])$")
_INLINE_SUFFIXES = {".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".gif": "image/gif",
                    ".svg": "image/svg+xml", ".webp": "image/webp"}


_LONG = 32
_LONG_TOKEN = re.compile(r"\S{%d,}" % (_LONG + 1))


def _breakable(text: str) -> str:
    """Escaped text; tokens longer than 32 characters (URLs, hashes) get ``<wbr>`` every 16.

    With break opportunities in the markup, print CSS can use ``overflow-wrap: break-word`` in
    table cells instead of ``anywhere`` (which WeasyPrint lays out character by character when it
    sizes columns: quadratic in the text, minutes for a table of case narratives), and still no
    long token overflows its column. Idempotent: re-sanitising sees pieces of 16 characters.
    """
    out, last = [], 0
    for match in _LONG_TOKEN.finditer(text):
        out.append(htmllib.escape(text[last:match.start()], quote=False))
        token = match.group(0)
        out.append("<wbr>".join(htmllib.escape(token[i:i + 16], quote=False) for i in range(0, len(token), 16)))
        last = match.end()
    out.append(htmllib.escape(text[last:], quote=False))
    return "".join(out)


def _squash(value: str) -> str:
    """What a browser sees when it reads a URL: control characters and whitespace ignored, lower case."""
    return re.sub(r"[\x00-\x20\x7f]+", "", value).lower()


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:60] or "section"


@dataclass
class Heading:
    level: int
    id: str
    text: str


@dataclass
class SanitizeResult:
    html: str
    headings: list[Heading] = field(default_factory=list)
    ids: set[str] = field(default_factory=set)
    removed: list[str] = field(default_factory=list)


class _Sanitiser(HTMLParser):
    def __init__(
        self,
        *,
        base_dir: Path | None,
        used_ids: set[str] | None,
        id_prefix: str,
        heading_shift: int,
        collect_headings: bool,
        seen_styles: set[str] | None = None,
    ) -> None:
        super().__init__(convert_charrefs=True)
        self.seen_styles = seen_styles
        self.base_dir = base_dir.resolve() if base_dir else None
        self.used_ids = used_ids if used_ids is not None else set()
        self.id_prefix = id_prefix
        self.heading_shift = heading_shift
        self.collect_headings = collect_headings
        self.out: list[str] = []
        self.open: list[str] = []
        self.skip: tuple[str, int] | None = None  # (tag, nesting) while dropping an element with its content
        self.style: list[str] | None = None  # content of an open <style>
        self.style_attrs = ""
        self.heading: dict[str, Any] | None = None
        self.anchor_depth = 0  # inside <a class="anchor-link"> of a heading
        self.renamed: dict[str, str] = {}
        self.result = SanitizeResult("")

    # -- output helpers ------------------------------------------------------------------------
    def _emit(self, text: str) -> None:
        (self.heading["buffer"] if self.heading else self.out).append(text)

    def _unique_id(self, wanted: str) -> str:
        candidate = wanted
        if candidate in self.used_ids:
            base = f"{self.id_prefix}{wanted}" if self.id_prefix and not wanted.startswith(self.id_prefix) else wanted
            candidate, n = base, 2
            while candidate in self.used_ids:
                candidate, n = f"{base}-{n}", n + 1
            self.renamed[wanted] = candidate
        self.used_ids.add(candidate)
        self.result.ids.add(candidate)
        return candidate

    def _inline_image(self, src: str) -> str | None:
        if self.base_dir is None:
            return None
        path = (self.base_dir / src.split("?", 1)[0].split("#", 1)[0]).resolve()
        mime = _INLINE_SUFFIXES.get(path.suffix.lower())
        if mime is None or not path.is_file() or not path.is_relative_to(self.base_dir):
            return None
        return f"data:{mime};base64,{base64.b64encode(path.read_bytes()).decode('ascii')}"

    def _clean_attrs(self, tag: str, attrs: list[tuple[str, str | None]]) -> list[tuple[str, str | None]]:
        kept: list[tuple[str, str | None]] = []
        seen: set[str] = set()
        for name, value in attrs:
            name = name.lower()
            if name in seen or not _NAME_OK.match(name):
                continue
            seen.add(name)
            if name.startswith("on") or name in _DROP_ATTRS:
                self.result.removed.append(f"{tag}[{name}]")
                continue
            if value is None:
                kept.append((name, None))
                continue
            squashed = _squash(value)
            if _BAD_VALUE.search(squashed) and not (name == "src" and _IMAGE_DATA.match(squashed)):
                self.result.removed.append(f"{tag}[{name}]")
                continue
            if name == "style" and _BAD_CSS.search(value):
                self.result.removed.append(f"{tag}[style]")
                continue
            if name in ("href", "xlink:href"):
                value = self._clean_href(tag, value, squashed)
                if value is None:
                    self.result.removed.append(f"{tag}[{name}]")
                    continue
            elif name == "src":
                value = self._clean_src(value, squashed)
                if value is None:
                    self.result.removed.append(f"{tag}[src]")
                    continue
            elif name == "id":
                value = self._unique_id(value.strip() or "x")
            elif name == "target":
                value = "_blank"
            kept.append((name, value))
        if tag == "img" and "alt" not in seen:
            kept.append(("alt", ""))
        if tag == "a" and ("target", "_blank") in kept:
            kept.append(("rel", "noopener noreferrer"))
        return kept

    def _clean_href(self, tag: str, value: str, squashed: str) -> str | None:
        if squashed.startswith("#"):
            target = value.strip()[1:]
            return "#" + self.renamed.get(target, target)
        scheme = _SCHEME.match(squashed)
        if tag in _HYPERLINK_TAGS:
            if squashed.startswith("//"):
                return None
            if scheme is None or scheme.group(1) in _HYPERLINK_SCHEMES:
                return value.strip()
            return None
        # <use>, <image>, <feImage> ... in SVG: in-document references and embedded images only
        if _IMAGE_DATA.match(squashed):
            return value.strip()
        return None

    def _clean_src(self, value: str, squashed: str) -> str | None:
        if _IMAGE_DATA.match(squashed):
            return value.strip()
        if squashed.startswith("//") or _SCHEME.match(squashed):
            return None  # external or unknown scheme: never loaded
        return self._inline_image(value.strip())

    @staticmethod
    def _attr_text(attrs: list[tuple[str, str | None]]) -> str:
        return "".join(f" {n}" if v is None else f' {n}="{htmllib.escape(v, quote=True)}"' for n, v in attrs)

    # -- parser callbacks ----------------------------------------------------------------------
    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._start(tag, attrs, self_closing=False)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._start(tag, attrs, self_closing=True)

    def _start(self, tag: str, attrs: list[tuple[str, str | None]], *, self_closing: bool) -> None:
        tag = tag.lower()
        if self.skip is not None:
            if tag == self.skip[0] and not self_closing:
                self.skip = (tag, self.skip[1] + 1)
            return
        if self.style is not None:
            return
        if not _TAG_OK.match(tag):
            return
        if tag in _DROP_WITH_CONTENT:
            self.result.removed.append(tag)
            if not self_closing and tag not in _VOID:
                self.skip = (tag, 1)
            return
        if tag in _DROP_TAG:
            if tag not in ("html", "body", "form", "picture"):
                self.result.removed.append(tag)
            return
        if tag == "style":
            if not self_closing:
                self.style, self.style_attrs = [], self._attr_text(
                    [(n, v) for n, v in self._clean_attrs(tag, attrs) if n in ("media", "type")])
            return
        heading = _HEADING.match(tag)
        if heading and self.heading is None and not self_closing:
            level = min(6, int(heading.group(1)) + self.heading_shift)
            tag = f"h{level}"
            cleaned = self._clean_attrs(tag, attrs)
            self.heading = {"tag": tag, "level": level, "attrs": cleaned, "buffer": [], "text": []}
            self.open.append(tag)
            return
        cleaned = self._clean_attrs(tag, attrs)
        if self.heading is not None and tag == "a" and "anchor-link" in (dict(cleaned).get("class") or ""):
            self.anchor_depth += 1
        if tag in _VOID:
            self._emit(f"<{tag}{self._attr_text(cleaned)}>")
        elif self_closing:
            self._emit(f"<{tag}{self._attr_text(cleaned)}/>")
        else:
            self._emit(f"<{tag}{self._attr_text(cleaned)}>")
            self.open.append(tag)

    def handle_endtag(self, tag: str) -> None:
        tag = tag.lower()
        if self.skip is not None:
            if tag == self.skip[0]:
                depth = self.skip[1] - 1
                self.skip = None if depth == 0 else (tag, depth)
            return
        if self.style is not None:
            if tag == "style":
                css = "".join(self.style)
                self.style = None
                if _BAD_CSS.search(css):
                    self.result.removed.append("style")
                elif self.seen_styles is not None and css in self.seen_styles:
                    pass  # the same stylesheet again (one per displayed section): once is enough
                else:
                    if self.seen_styles is not None:
                        self.seen_styles.add(css)
                    self._emit(f"<style{self.style_attrs}>{css}</style>")
            return
        if self.heading is not None and _HEADING.match(tag):
            self._close_until(self.heading["tag"])  # </h1> closes the heading even when shifted to <h3>
            return
        if tag not in self.open:
            return  # a stray end tag cannot close what this fragment did not open
        self._close_until(tag)

    def _close_until(self, tag: str) -> None:
        while self.open:
            current = self.open.pop()
            if self.heading is not None and current == self.heading["tag"]:
                self._finish_heading()
            else:
                if current == "a" and self.anchor_depth:
                    self.anchor_depth -= 1
                self._emit(f"</{current}>")
            if current == tag:
                break

    def _finish_heading(self) -> None:
        info, self.heading = self.heading, None
        assert info is not None
        text = re.sub(r"\s+", " ", "".join(info["text"])).strip()
        attrs = info["attrs"]
        ids = [v for n, v in attrs if n == "id"]
        if ids:
            hid = ids[0]
        else:
            hid = self._unique_id(f"{self.id_prefix}{_slug(text)}")
            attrs = [("id", hid), *attrs]
        if self.collect_headings and text:
            self.result.headings.append(Heading(info["level"], str(hid), text))
        self.out.append(f"<{info['tag']}{self._attr_text(attrs)}>{''.join(info['buffer'])}</{info['tag']}>")

    def handle_data(self, data: str) -> None:
        if self.skip is not None:
            return
        if self.style is not None:
            self.style.append(data)
            return
        if self.heading is not None and not self.anchor_depth:
            self.heading["text"].append(data)
        if self._in_cell() and _LONG_TOKEN.search(data):
            self._emit(_breakable(data))
        else:
            self._emit(htmllib.escape(data, quote=False))

    def _in_cell(self) -> bool:
        """Inside a table cell (or a grid definition), where the layout sizes columns by the text."""
        for tag in reversed(self.open):
            if tag in ("pre", "code", "textarea", "svg"):
                return False
            if tag in ("td", "th", "dd"):
                return True
        return False

    # comments, doctype, processing instructions and CDATA sections are dropped
    def handle_comment(self, data: str) -> None:  # noqa: D401
        return

    def handle_decl(self, decl: str) -> None:
        return

    def handle_pi(self, data: str) -> None:
        return

    def unknown_decl(self, data: str) -> None:
        return

    def finish(self) -> SanitizeResult:
        self.close()
        if self.style is not None:
            self.style = None
            self.result.removed.append("style")
        self._close_until("")  # close whatever the fragment left open
        self.result.html = "".join(self.out)
        return self.result


def sanitize_fragment(
    html: str,
    *,
    base_dir: Path | None = None,
    used_ids: set[str] | None = None,
    id_prefix: str = "",
    heading_shift: int = 0,
    collect_headings: bool = False,
    seen_styles: set[str] | None = None,
) -> SanitizeResult:
    """Sanitise an HTML fragment and report what it holds (headings, ids) and what was removed.

    ``base_dir``: relative ``<img src>`` inside it are embedded as data URIs (others are dropped).
    ``used_ids``: ids already taken on the page; clashing ids get ``id_prefix`` (and a number), and
    ``href="#old"`` later in the fragment follows the rename. ``heading_shift`` demotes headings
    (h1 -> h3 with 2), every heading gets an id, and with ``collect_headings`` they are listed.
    ``seen_styles``: ``<style>`` blocks already on the page are not repeated.
    """
    parser = _Sanitiser(base_dir=base_dir, used_ids=used_ids, id_prefix=id_prefix,
                        heading_shift=heading_shift, collect_headings=collect_headings, seen_styles=seen_styles)
    parser.feed(html)
    return parser.finish()


def sanitize_html(html: str, *, base_dir: Path | None = None) -> str:
    """``html`` without scripts, event handlers, ``javascript:`` URLs or external resources.

    Re-serialised from the parse (text and attribute values escaped, comments dropped, unbalanced
    tags closed), so what a browser reads is what the parser saw. Tables, figures, inline SVG,
    ids, classes and inline styles without ``url()`` are kept.
    """
    return sanitize_fragment(html, base_dir=base_dir).html


class _Auditor(HTMLParser):
    _URL_ATTRS = ("src", "href", "xlink:href", "poster", "data", "background", "srcset", "action", "formaction")

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.problems: list[str] = []
        self.in_style = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("script", "iframe", "object", "embed", "applet", "frame", "frameset", "base"):
            self.problems.append(f"<{tag}> element")
        if tag == "link":
            self.problems.append("<link> element (external stylesheet or resource)")
        if tag == "meta" and any(n == "http-equiv" for n, _ in attrs):
            self.problems.append("<meta http-equiv>")
        self.in_style = tag == "style"
        for name, value in attrs:
            if name.startswith("on"):
                self.problems.append(f"<{tag} {name}=...> event handler")
            if value is None:
                continue
            squashed = _squash(value)
            if _BAD_VALUE.search(squashed) and not (name == "src" and _IMAGE_DATA.match(squashed)):
                self.problems.append(f"<{tag} {name}={value[:60]!r}>")
            if name in self._URL_ATTRS and not (tag in _HYPERLINK_TAGS and name == "href"):
                if squashed.startswith(("http:", "https:", "//", "ftp:")):
                    self.problems.append(f"external resource <{tag} {name}={value[:80]!r}>")
            if name == "style" and re.search(r"url\s*\(\s*['\"]?\s*(https?:|//)|@import", value, re.I):
                self.problems.append(f"external resource in style attribute of <{tag}>")

    handle_startendtag = handle_starttag

    def handle_endtag(self, tag: str) -> None:
        if tag == "style":
            self.in_style = False

    def handle_data(self, data: str) -> None:
        if self.in_style and re.search(r"url\s*\(\s*['\"]?\s*(https?:|//)|@import", data, re.I):
            self.problems.append("external resource in a <style> element")


def audit_html(html: str) -> list[str]:
    """Problems that make a page unsafe or not self-contained (empty list when fine).

    Flags script-capable elements, event-handler attributes, ``javascript:``-like URLs and any
    resource loaded from the network (``src``, ``<link>``, CSS ``url()``/``@import``). Plain
    ``<a href="https://...">`` hyperlinks are allowed.
    """
    auditor = _Auditor()
    auditor.feed(html)
    auditor.close()
    return auditor.problems


# ==============================================================================================
# Facts about the run
# ==============================================================================================


@dataclass
class RunInfo:
    """What the title block, the running header and the book index say about a run."""

    run_dir: Path
    code: str
    kind: str
    run_id: str
    device_name: str | None = None
    device_class: str | None = None
    window_start: str | None = None
    window_end: str | None = None
    data_from: str | None = None
    origin: str | None = None
    synthetic: bool = False
    last_updated: dict[str, str] = field(default_factory=dict)
    run: RunRecord | None = None
    started_utc: str | None = None

    @property
    def last_updated_text(self) -> str:
        if not self.last_updated:
            return "not reported by the sources"
        dates = set(self.last_updated.values())
        if len(dates) == 1:
            return f"{dates.pop()} (all sources)"
        return "; ".join(f"{name} {date}" for name, date in sorted(self.last_updated.items()))

    @property
    def title(self) -> str:
        name = f" {self.device_name}" if self.device_name else ""
        return f"Clinical Evaluation Report: {self.code}{name}".strip()


def read_run_info(run_dir: Path) -> RunInfo:
    """What the title block and the book say about a run, from its typed files; a file that is
    missing or unreadable leaves its items unknown (the book still lists the run)."""
    folder = RunFolder(run_dir)
    params = _tolerant(folder.parameters)
    run = _tolerant(lambda: folder.run_record(missing_ok=True))
    status = _tolerant(lambda: folder.collect_status(missing_ok=True))
    resolution = _tolerant(lambda: folder.resolution(missing_ok=True)) if params is not None else None
    last_updated = {name: s.last_updated for name, s in status.sources.items() if s.last_updated} if status else {}
    return RunInfo(
        run_dir=folder.path,
        code=(params.code if params else None) or (run.code if run else None) or folder.path.resolve().parent.name,
        kind=params.kind.value if params else run.kind if run else "product_code",
        run_id=run.run_id if run else folder.run_id,
        device_name=resolution.subject_name if resolution else None,
        device_class=resolution.subject_class if resolution else None,
        window_start=str(params.window.start) if params else None,
        window_end=str(params.window.end) if params and params.window.end else None,
        data_from=params.data_from if params else None,
        origin=status.origin if status else None,
        synthetic=status.synthetic if status else False,
        last_updated=last_updated,
        run=run,
        started_utc=run.started_utc if run else None,
    )


def _tolerant(read: Any) -> Any:
    try:
        return read()
    except CerError:
        return None


# ==============================================================================================
# Provenance table
# ==============================================================================================


@dataclass
class ProvenanceRow:
    id: str
    kind: str
    title: str
    sources: list[str]  # what the item draws on, as text (source names, run data pointers)
    queries: list[dict[str, str]]  # {"label": "Q1-Q3", "href": "#q-1"}: ranges in the query log
    inputs: list[dict[str, str]]  # {"path", "sha256"}


def _provenance_items(run_dir: Path) -> list[dict[str, Any]] | None:
    """``cer_lib.report.document.provenance_items(ctx)`` when that module exists, else None."""
    import importlib

    try:
        document = importlib.import_module("cer_lib.report.document")
    except ModuleNotFoundError as exc:
        if exc.name == "cer_lib.report.document":
            return None
        raise
    if not hasattr(document, "provenance_items"):
        return None
    return list(document.provenance_items(RunFolder(run_dir)))


ALL_QUERIES = "*"


def _fallback_items(run_dir: Path, requests: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Items from the analysis' figures and the tidy tables when document.py does not provide them."""
    folder = RunFolder(run_dir)
    items: list[dict[str, Any]] = []
    sources = [ALL_QUERIES] if requests else []
    analysis = _tolerant(lambda: folder.analysis(missing_ok=True))
    meta_inputs = [{"path": i.path, "sha256": i.sha256 or ""} for i in analysis.meta.inputs] if analysis else []
    for fig in analysis.figures if analysis else []:
        inputs = [{"path": p, "sha256": folder.sha256(p)} for p in (fig.png, fig.svg) if p and folder.exists(p)]
        fig_id = re.sub(r"[^a-z0-9]+", "-", fig.id.lower()).strip("-")
        items.append({"id": fig_id if fig_id.startswith("fig-") else f"fig-{fig_id}", "kind": "figure",
                      "title": fig.title or "", "sources": sources, "inputs": inputs + meta_inputs})
    summary = _tolerant(folder.integrate_summary)
    for name, info in (summary.tables.items() if summary else []):
        if folder.exists(layout.table(name)):
            items.append({"id": f"tab-{name}", "kind": "table", "title": f"{name} table ({info.rows} rows)",
                          "sources": sources, "inputs": [{"path": layout.table(name), "sha256": folder.sha256(layout.table(name))}]})
    return items


def provenance_rows(run_dir: Path) -> tuple[list[ProvenanceRow], list[dict[str, Any]], bool]:
    """(rows for the id table, the numbered query log, whether document.py supplied the items).

    An item's ``sources`` may name requests as ``"GET <url> (...)"`` strings, ``{"url": ...}`` dicts,
    source names (``"device_event"``) or ``"*"`` (all); those become links to the numbered query log,
    anything else is shown as text.
    """
    run_dir = Path(run_dir)
    requests = RunFolder(run_dir).requests()
    by_url: dict[str, list[int]] = {}
    by_source: dict[str, list[int]] = {}
    for number, record in enumerate(requests, start=1):
        record["_n"] = number
        url = str(record.get("url"))
        by_url.setdefault(url, []).append(number)
        if redact_url(url) != url:  # document.py prints URLs through redact_url (re-encoded)
            by_url.setdefault(redact_url(url), []).append(number)
        by_source.setdefault(str(record.get("source")), []).append(number)
    items = _provenance_items(run_dir)
    from_document = items is not None
    if items is None:
        items = _fallback_items(run_dir, requests)
    rows = []
    for item in items:
        if not isinstance(item, dict):
            continue
        texts: list[str] = []
        numbers: list[int] = []
        for source in item.get("sources") or []:
            if isinstance(source, dict):
                url, label = source.get("url"), source.get("source") or source.get("label")
                if url is not None and str(url) in by_url:
                    numbers += by_url[str(url)]
                elif url or label:
                    texts.append(" ".join(str(x) for x in (label, url) if x))
                continue
            text = str(source)
            url = text[4:].split(" (", 1)[0].strip() if text.startswith("GET ") else None
            if text == ALL_QUERIES:
                numbers += [r["_n"] for r in requests]
            elif url is not None and url in by_url:
                numbers += by_url[url]
            elif text in by_source:
                numbers += by_source[text]
            else:
                texts.append(text)
        inputs = []
        for entry in item.get("inputs") or []:
            if isinstance(entry, dict):
                inputs.append({"path": str(entry.get("path", "")), "sha256": str(entry.get("sha256") or "")})
            else:
                inputs.append({"path": str(entry), "sha256": ""})
        queries = [{"label": f"Q{a}" if a == b else f"Q{a}\u2013Q{b}", "href": f"#q-{a}"} for a, b in _ranges(numbers)]
        rows.append(ProvenanceRow(id=str(item.get("id", "")), kind=str(item.get("kind", "")),
                                  title=str(item.get("title", "")), sources=texts, queries=queries, inputs=inputs))
    return rows, requests, from_document


def _input_files(run_dir: Path) -> list[dict[str, Any]]:
    """Files the run read from outside it (mirror files, ...), once each, by path."""
    inputs = RunFolder(run_dir).inputs()
    return sorted(inputs, key=lambda r: (str(r.get("role") or ""), str(r.get("path"))))


def _ranges(numbers: Iterable[int]) -> list[tuple[int, int]]:
    """[1, 2, 3, 7] -> [(1, 3), (7, 7)]."""
    parts: list[list[int]] = []
    for n in sorted(set(numbers)):
        if parts and parts[-1][1] == n - 1:
            parts[-1][1] = n
        else:
            parts.append([n, n])
    return [(a, b) for a, b in parts]


# ==============================================================================================
# Rendering
# ==============================================================================================

_DROP_MIMETYPES = ("application/javascript", "text/javascript", "application/vnd.jupyter.widget-view+json",
                   "application/vnd.jupyter.widget-state+json", "application/vnd.bokehjs_load.v0+json",
                   "application/vnd.bokehjs_exec.v0+json", "application/vnd.holoviews_load.v0+json",
                   "application/vnd.holoviews_exec.v0+json", "text/vnd.mermaid", "application/pdf")
_REPRODUCE = re.compile(r"how\s+to\s+reproduce", re.I)


def clean_notebook_outputs(nb: nbformat.NotebookNode, *, base_dir: Path | None = None) -> nbformat.NotebookNode:
    """Copy of ``nb`` whose outputs can be shown anywhere (cer.html, the book).

    Script outputs and widget state are removed; ``text/html`` and ``image/svg+xml`` are sanitised;
    ``text/markdown`` outputs are rendered and sanitised to ``text/html`` (a markdown renderer
    passes raw HTML through). ``text/plain`` is left as text: every renderer escapes it.
    """
    from nbconvert.filters.markdown_mistune import markdown2html_mistune

    nb = copy.deepcopy(nb)
    nb.metadata.pop("widgets", None)
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        outputs = []
        for output in cell.get("outputs", []):
            if output.get("output_type") in ("display_data", "execute_result"):
                data = output.get("data", {})
                for mime in list(data):
                    if mime in _DROP_MIMETYPES or "javascript" in mime:
                        del data[mime]
                if "text/markdown" in data:
                    rendered = markdown2html_mistune(str(data.pop("text/markdown")))
                    data.setdefault("text/html", rendered)
                for mime in ("text/html", "image/svg+xml"):
                    if mime in data:
                        value = data[mime]
                        text = "".join(value) if isinstance(value, list) else str(value)
                        data[mime] = sanitize_html(text, base_dir=base_dir)
                if not data:
                    continue
            outputs.append(output)
        cell.outputs = outputs
    return nb


def _read_notebook(path: Path) -> nbformat.NotebookNode:
    try:
        return nbformat.read(path, as_version=4)
    except Exception as exc:  # nbformat raises several types for a damaged file
        raise ReportError(f"{path}: not a readable notebook ({exc})") from None


# A stage-5 cell that belongs to the code trail but not to the report itself (title, set-up, imports).
ANNEX_ONLY = "cer-annex-only"


def _tags(cell: nbformat.NotebookNode) -> set[str]:
    return set(cell.get("metadata", {}).get("tags", []) or [])


def _prepare_report(nb: nbformat.NotebookNode) -> tuple[nbformat.NotebookNode, dict[int, str]]:
    """The report part: jupyter-book style tags and `ANNEX_ONLY` honoured; returns the anchor of each kept cell."""
    kept = []
    anchors: dict[int, str] = {}
    for index, cell in enumerate(nb.cells, start=1):
        tags = _tags(cell)
        if tags & {"remove-cell", "injected-parameters", ANNEX_ONLY}:
            continue
        anchor = f"r-c{index}"
        cell.metadata["cer_anchor"] = anchor
        if cell.cell_type == "code":
            if tags & {"remove-output", "hide-output"}:
                cell.outputs = []
            if "remove-input" in tags:
                cell.metadata.setdefault("transient", {})["remove_source"] = True
            if cell.get("outputs"):
                anchors[index] = anchor
        kept.append(cell)
    nb.cells = kept
    return nb, anchors


def _prepare_appendix(nb: nbformat.NotebookNode, number: int, shown_in_report: dict[int, str]) -> nbformat.NotebookNode:
    """Annex copy: every cell; for 05, outputs already in the report become a link to them."""
    for index, cell in enumerate(nb.cells, start=1):
        cell.metadata["cer_anchor"] = f"a{number}-c{index}"
        if cell.cell_type == "code" and index in shown_in_report:
            cell.outputs = []
            cell.metadata["cer_output_ref"] = shown_in_report[index]
    return nb


def _mentions_reproduce(nb: nbformat.NotebookNode) -> bool:
    for cell in nb.cells:
        if cell.cell_type == "markdown" and _REPRODUCE.search(str(cell.source)):
            return True
        for output in cell.get("outputs", []) if cell.cell_type == "code" else []:
            for value in output.get("data", {}).values():
                if isinstance(value, str) and _REPRODUCE.search(value):
                    return True
            if _REPRODUCE.search(str(output.get("text", ""))):
                return True
    return False


def css_string(text: str) -> str:
    """A double-quoted CSS string for any text (every non-alphanumeric character escaped)."""
    return '"' + "".join(ch if ch.isalnum() and ch.isascii() else f"\\{ord(ch):06x}" for ch in text) + '"'


def _page_css(info: RunInfo) -> str:
    """@page rules carrying run-specific text (running header, synthetic marker)."""
    header = css_string(f"CER {info.code} \u00b7 run {info.run_id}")
    font = 'font-family: "DejaVu Sans", "Liberation Sans", Arial, sans-serif; font-size: 8pt; color: #555;'
    synthetic = (
        f"@top-right {{ content: \"SYNTHETIC DATA\"; {font} color: #b00020; font-weight: bold; }}"
        if info.synthetic else ""
    )
    return (
        "@page { size: A4; margin: 20mm 16mm 18mm 16mm;"
        f" @top-left {{ content: {header}; {font} }}"
        f" {synthetic}"
        f" @bottom-center {{ content: \"page \" counter(page) \" of \" counter(pages); {font} }} }}"
    )


class _Renderer:
    """Two nbconvert exporters on the ``cer`` template: the report part, and the annex notebooks (and the page)."""

    def __init__(self) -> None:
        from nbconvert import HTMLExporter

        common = dict(template_name=TEMPLATE_NAME, extra_template_basedirs=[str(TEMPLATES_DIR)],
                      embed_images=True, sanitize_html=False)
        self.report = HTMLExporter(exclude_input_prompt=True, exclude_output_prompt=True, **common)
        self.appendix = HTMLExporter(**common)  # also renders the page around both

    def fragment(self, exporter: Any, nb: nbformat.NotebookNode, run_dir: Path, name: str, **cer: Any) -> str:
        resources = {"metadata": {"path": str(run_dir), "name": name}, "cer": {"mode": "fragment", **cer}}
        body, _ = exporter.from_notebook_node(nb, resources=resources)
        return body


def render_cer_html(run_dir: Path) -> str:
    """The complete ``cer.html`` of a run folder, as a string."""
    run_dir = Path(run_dir)
    folder = RunFolder(run_dir)
    report_path = folder.notebook_path(REPORT_STAGE)
    if not report_path.is_file():
        raise ReportError(f"{run_dir}: {report_path.name} is missing; run the report stage first")
    info = read_run_info(run_dir)
    renderer = _Renderer()
    used_ids: set[str] = {"cer-title", "contents", "report", "annex-1", "annex-2", "annex-3",
                          "provenance-items", "provenance-queries", "provenance-inputs"}

    # report part
    raw_report = _read_notebook(report_path)
    report_nb, shown = _prepare_report(clean_notebook_outputs(raw_report, base_dir=run_dir))
    report_html = renderer.fragment(renderer.report, report_nb, run_dir, REPORT_STAGE, fold_code=True)
    seen_styles: set[str] = set()
    report = sanitize_fragment(report_html, base_dir=run_dir, used_ids=used_ids, collect_headings=True,
                               seen_styles=seen_styles)
    page_ids = set(report.ids)

    # annex 1: the five notebooks
    appendix = []
    for number, stage in enumerate(STAGES, start=1):
        path = folder.notebook_path(stage)
        entry = {"id": f"annex-1-{number}", "label": f"1.{number}", "stage": stage,
                 "title": STAGE_TITLES.get(stage, stage), "html": None}
        used_ids.add(entry["id"])
        if path.is_file():
            nb = clean_notebook_outputs(_read_notebook(path), base_dir=run_dir)
            nb = _prepare_appendix(nb, number, shown if stage == REPORT_STAGE else {})
            body = renderer.fragment(renderer.appendix, nb, run_dir, stage, fold_code=False)
            entry["html"] = sanitize_fragment(body, base_dir=run_dir, used_ids=used_ids, id_prefix=f"a{number}-",
                                              heading_shift=2, seen_styles=seen_styles).html
        appendix.append(entry)

    rows, requests, from_document = provenance_rows(run_dir)
    shows_reproduce = _mentions_reproduce(raw_report) or any("reproduce" in i for i in page_ids)
    record = info.run
    reproduce = None if shows_reproduce else {
        "commands": list(record.reproduce) if record else [],
        "command": record.command if record else None,
        "code_version": record.code_version.model_dump() if record else {},
        "tool_version": record.tool_version if record else None,
    }
    toc = [{"level": 1, "id": "report", "text": "Report"}]
    toc += [{"level": min(h.level, 3) + 1, "id": h.id, "text": h.text} for h in report.headings if h.level <= 3]
    toc.append({"level": 1, "id": "annex-1", "text": "Annex 1. Executed notebooks"})
    toc += [{"level": 2, "id": a["id"], "text": f"{a['label']} {a['stage']}: {a['title']}"} for a in appendix]
    toc.append({"level": 1, "id": "annex-2", "text": "Annex 2. Provenance of tables and figures"})
    if reproduce is not None:
        toc.append({"level": 1, "id": "annex-3", "text": "Annex 3. How to reproduce this report"})

    cer = {
        "mode": "document",
        "info": info,
        "title": info.title,
        "toc": toc,
        "report_html": report.html,
        "appendix": appendix,
        "rows": rows,
        "page_ids": page_ids,
        "requests": requests,
        "inputs": _input_files(run_dir),
        "from_document": from_document,
        "reproduce": reproduce,
        "tool_version": __version__,
        "generated_utc": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "screen_css": (STATIC_DIR / "cer.css").read_text(encoding="utf-8"),
        "print_css": _page_css(info) + "\n" + (STATIC_DIR / "print.css").read_text(encoding="utf-8"),
    }
    resources = {"metadata": {"path": str(run_dir), "name": "cer"}, "cer": cer}
    document, _ = renderer.appendix.from_notebook_node(nbformat.v4.new_notebook(), resources=resources)
    problems = audit_html(document)
    if problems:
        raise ReportError(f"{run_dir}: cer.html would not be safe or self-contained: " + "; ".join(problems[:5]))
    return document

