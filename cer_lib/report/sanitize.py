"""HTML fragments made safe to show (cer.html, the book), and the audit of a finished page.

Two passes:

1. **Safety, by nh3** (the Ammonia sanitiser): the fragment is parsed as a browser parses HTML5 and
   re-serialised with an allow-list of elements and attributes. Scripts, frames, objects, forms,
   templates and MathML go with their content; event handlers, unknown attributes and comments
   are dropped; URLs keep only ``http``, ``https``, ``mailto``, in-page ``#`` links, relative paths
   (pass 2 embeds or drops them) and ``data:image/...``; inline styles and ``<style>`` blocks that
   load anything (``url()``, ``@import``) or could hide markup are removed.
2. **Outline** (the standard library's parser over nh3's well-formed output): ids made unique on
   the page (links inside the fragment follow a rename), headings demoted and given ids and listed
   for the contents, relative images embedded as ``data:`` URIs when they lie inside the run
   folder (dropped otherwise), repeated ``<style>`` blocks kept once, control characters dropped
   (`cer_lib.report.text.printable`), and long unbroken tokens in table cells given ``<wbr>``
   break opportunities.

`audit_html` is the project's own check of the finished page: no script-capable element, no event
handler, no ``javascript:``-like URL, nothing loaded from the network. The assembly refuses a page
that fails it, whatever the sanitiser did.
"""
from __future__ import annotations

import base64
import html as htmllib
import re
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import nh3

from .text import MAX_TOKEN, printable

__all__ = ["Heading", "SanitizeResult", "audit_html", "sanitize_fragment", "sanitize_html"]

# -- pass 1: what nh3 keeps ------------------------------------------------------------------------

_HTML_TAGS = {
    "a", "abbr", "article", "aside", "b", "bdi", "bdo", "blockquote", "br", "caption", "cite", "code", "col",
    "colgroup", "dd", "del", "details", "dfn", "div", "dl", "dt", "em", "figcaption", "figure", "footer", "h1",
    "h2", "h3", "h4", "h5", "h6", "header", "hr", "i", "img", "ins", "kbd", "li", "main", "mark", "nav", "ol", "p",
    "pre", "q", "s", "samp", "section", "small", "span", "strong", "style", "sub", "summary", "sup", "table",
    "tbody", "td", "tfoot", "th", "thead", "time", "tr", "u", "ul", "var", "wbr",
}
_SVG_TAGS = {
    "svg", "g", "defs", "symbol", "use", "path", "rect", "circle", "ellipse", "line", "polyline", "polygon",
    "text", "tspan", "clippath", "lineargradient", "radialgradient", "stop", "marker", "pattern", "mask", "image",
    "title", "desc", "metadata",
}
#: removed together with everything inside them
_DROP_WITH_CONTENT = {
    "script", "iframe", "frameset", "object", "applet", "noscript", "noembed", "noframes", "template", "xmp",
    "plaintext", "math", "select", "textarea", "button", "audio", "video", "canvas", "dialog", "head",
    "set", "animate", "animatemotion", "animatetransform", "handler", "listener", "foreignobject",
}
_GENERIC_ATTRIBUTES = {"id", "class", "title", "lang", "dir", "role", "style", "align", "valign", "width", "height"}
_ATTRIBUTES: dict[str, set[str]] = {
    "a": {"href", "name", "target"},
    "img": {"src", "alt"},
    "td": {"colspan", "rowspan", "headers"},
    "th": {"colspan", "rowspan", "headers", "scope", "abbr"},
    "col": {"span"}, "colgroup": {"span"},
    "ol": {"start", "type", "reversed"}, "li": {"value"},
    "details": {"open"}, "time": {"datetime"}, "q": {"cite"}, "del": {"datetime"}, "ins": {"datetime"},
    "style": {"media", "type"},
}
_SVG_ATTRIBUTES = {
    "viewbox", "preserveaspectratio", "xmlns", "xmlns:xlink", "version", "d", "x", "y", "x1", "x2", "y1", "y2",
    "cx", "cy", "r", "rx", "ry", "dx", "dy", "points", "transform", "fill", "fill-opacity", "fill-rule", "stroke",
    "stroke-width", "stroke-opacity", "stroke-linecap", "stroke-linejoin", "stroke-dasharray", "stroke-miterlimit",
    "opacity", "clip-path", "clip-rule", "font-family", "font-size", "font-weight", "font-style", "text-anchor",
    "dominant-baseline", "offset", "stop-color", "stop-opacity", "gradientunits", "gradienttransform",
    "marker-start", "marker-mid", "marker-end", "markerwidth", "markerheight", "refx", "refy", "orient",
    "patternunits", "href", "xlink:href", "letter-spacing", "textlength",
}
_SVG_ATTRIBUTES |= {"viewBox", "preserveAspectRatio", "gradientUnits", "gradientTransform", "markerWidth",
                    "markerHeight", "refX", "refY", "patternUnits", "textLength", "clipPathUnits"}
_URL_ATTRIBUTES = {"href", "xlink:href", "src", "cite"}
_IMAGE_DATA = re.compile(r"^data:image/(png|jpeg|jpg|gif|webp|svg\+xml)[;,]", re.I)
_BAD_VALUE = re.compile(r"(javascript|vbscript|livescript|mocha):|data:text/html|data:application", re.I)
_BAD_CSS = re.compile(r"url\s*\(|expression\s*\(|@import|behavior\s*:|-moz-binding|javascript:|</?\s*[a-z!/]|\\", re.I)


def _squash(value: str) -> str:
    """What a browser sees when it reads a URL: control characters and whitespace ignored, lower case."""
    return re.sub(r"[\x00-\x20\x7f]+", "", value).lower()


def _attribute_filter(tag: str, name: str, value: str) -> str | None:
    """nh3's hook for every kept attribute: the value to keep, or None to drop it."""
    squashed = _squash(value)
    if name == "style":
        return None if _BAD_CSS.search(value) else value
    if name in _URL_ATTRIBUTES:
        if _IMAGE_DATA.match(squashed):
            return value.strip() if name == "src" or tag != "a" else None
        if _BAD_VALUE.search(squashed) or squashed.startswith("//") or squashed.startswith("data:"):
            return None
        if tag in ("use", "image") and not squashed.startswith("#"):
            return None  # SVG references: inside the document only
        if name == "src" and re.match(r"^[a-z][a-z0-9+.\-]*:", squashed):
            return None  # an image from the network is never loaded
        return value.strip()
    if name == "target":
        return "_blank"
    return None if _BAD_VALUE.search(squashed) else value


def _nh3_clean(html: str) -> str:
    attributes: dict[str, set[str]] = {"*": set(_GENERIC_ATTRIBUTES)}
    for tag, names in _ATTRIBUTES.items():
        attributes[tag] = set(names)
    for tag in _SVG_TAGS:
        attributes[tag] = set(_SVG_ATTRIBUTES)
    return nh3.clean(
        html,
        tags=_HTML_TAGS | _SVG_TAGS,
        clean_content_tags=_DROP_WITH_CONTENT,
        attributes=attributes,
        attribute_filter=_attribute_filter,
        url_schemes={"http", "https", "mailto", "data"},
        link_rel=None,
        strip_comments=True,
    )


# -- pass 2: the outline -----------------------------------------------------------------------------

_VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "param", "source", "track", "wbr"}
_HEADING = re.compile(r"^h([1-6])$")
_LONG_TOKEN = re.compile(r"\S{%d,}" % (MAX_TOKEN + 1))
_INLINE_SUFFIXES = {".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".gif": "image/gif",
                    ".svg": "image/svg+xml", ".webp": "image/webp"}


def _breakable(text: str) -> str:
    """Escaped text; tokens longer than `MAX_TOKEN` characters (URLs, hashes) get ``<wbr>`` every 16.

    With break opportunities in the markup, print CSS can use ``overflow-wrap: break-word`` in
    table cells instead of ``anywhere`` (which WeasyPrint lays out character by character when it
    sizes columns: quadratic in the text), and still no long token overflows its column.
    Idempotent: re-sanitising sees pieces of 16 characters.
    """
    out, last = [], 0
    for match in _LONG_TOKEN.finditer(text):
        out.append(htmllib.escape(text[last:match.start()], quote=False))
        token = match.group(0)
        out.append("<wbr>".join(htmllib.escape(token[i:i + 16], quote=False) for i in range(0, len(token), 16)))
        last = match.end()
    out.append(htmllib.escape(text[last:], quote=False))
    return "".join(out)


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


class _Outliner(HTMLParser):
    """Re-serialises nh3's output: unique ids, shifted headings with ids, embedded images, one copy of each style."""

    def __init__(self, *, base_dir: Path | None, used_ids: set[str] | None, id_prefix: str, heading_shift: int,
                 collect_headings: bool, seen_styles: set[str] | None) -> None:
        super().__init__(convert_charrefs=True)
        self.base_dir = base_dir.resolve() if base_dir else None
        self.used_ids = used_ids if used_ids is not None else set()
        self.id_prefix = id_prefix
        self.heading_shift = heading_shift
        self.collect_headings = collect_headings
        self.seen_styles = seen_styles
        self.out: list[str] = []
        self.open: list[str] = []
        self.style: list[str] | None = None  # content of an open <style>
        self.style_attrs = ""
        self.heading: dict[str, Any] | None = None
        self.anchor_depth = 0  # inside <a class="anchor-link"> of a heading
        self.renamed: dict[str, str] = {}
        self.result = SanitizeResult("")

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

    def _attrs(self, tag: str, attrs: list[tuple[str, str | None]]) -> list[tuple[str, str | None]]:
        kept: list[tuple[str, str | None]] = []
        for name, value in attrs:
            if value is not None:
                value = printable(value)
            if name == "id" and value is not None:
                value = self._unique_id(value.strip() or "x")
            elif name in ("href", "xlink:href") and value and value.startswith("#"):
                value = "#" + self.renamed.get(value[1:], value[1:])
            elif name == "src" and value is not None and not _IMAGE_DATA.match(_squash(value)):
                value = self._inline_image(value)
                if value is None:
                    continue
            kept.append((name, value))
        if tag == "img" and not any(n == "alt" for n, _ in kept):
            kept.append(("alt", ""))
        if tag == "a" and ("target", "_blank") in kept:
            kept.append(("rel", "noopener noreferrer"))
        return kept

    @staticmethod
    def _attr_text(attrs: list[tuple[str, str | None]]) -> str:
        return "".join(f" {n}" if v is None else f' {n}="{htmllib.escape(v, quote=True)}"' for n, v in attrs)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if self.style is not None:
            return
        if tag == "style":
            self.style, self.style_attrs = [], self._attr_text(attrs)
            return
        heading = _HEADING.match(tag)
        if heading and self.heading is None:
            level = min(6, int(heading.group(1)) + self.heading_shift)
            tag = f"h{level}"
            self.heading = {"tag": tag, "level": level, "attrs": self._attrs(tag, attrs), "buffer": [], "text": []}
            self.open.append(tag)
            return
        cleaned = self._attrs(tag, attrs)
        if self.heading is not None and tag == "a" and "anchor-link" in (dict(cleaned).get("class") or ""):
            self.anchor_depth += 1
        self._emit(f"<{tag}{self._attr_text(cleaned)}>")
        if tag not in _VOID:
            self.open.append(tag)

    handle_startendtag = handle_starttag

    def handle_endtag(self, tag: str) -> None:
        if self.style is not None:
            if tag == "style":
                css, self.style = "".join(self.style), None
                if _BAD_CSS.search(css) or (self.seen_styles is not None and css in self.seen_styles):
                    return  # unsafe, or the same stylesheet again (one per displayed section): once is enough
                if self.seen_styles is not None:
                    self.seen_styles.add(css)
                self._emit(f"<style{self.style_attrs}>{css}</style>")
            return
        if self.heading is not None and _HEADING.match(tag):
            self._close_until(self.heading["tag"])  # </h1> closes the heading even when shifted to <h3>
        elif tag in self.open:
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
        hid = ids[0] if ids else self._unique_id(f"{self.id_prefix}{_slug(text)}")
        if not ids:
            attrs = [("id", hid), *attrs]
        if self.collect_headings and text:
            self.result.headings.append(Heading(info["level"], str(hid), text))
        self.out.append(f"<{info['tag']}{self._attr_text(attrs)}>{''.join(info['buffer'])}</{info['tag']}>")

    def handle_data(self, data: str) -> None:
        if self.style is not None:
            self.style.append(data)
            return
        data = printable(data)
        if self.heading is not None and not self.anchor_depth:
            self.heading["text"].append(data)
        self._emit(_breakable(data) if self._in_cell() and _LONG_TOKEN.search(data) else htmllib.escape(data, quote=False))

    def _in_cell(self) -> bool:
        """Inside a table cell (or a definition), where the layout sizes columns by the text."""
        for tag in reversed(self.open):
            if tag in ("pre", "code", "svg"):
                return False
            if tag in ("td", "th", "dd"):
                return True
        return False

    def finish(self) -> SanitizeResult:
        self.close()
        self.style = None
        self._close_until("")
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
    """Sanitise an HTML fragment and report what it holds (headings, ids).

    ``base_dir``: relative ``<img src>`` inside it are embedded as data URIs (others are dropped).
    ``used_ids``: ids already taken on the page; clashing ids get ``id_prefix`` (and a number), and
    ``href="#old"`` later in the fragment follows the rename. ``heading_shift`` demotes headings
    (h1 -> h3 with 2), every heading gets an id, and with ``collect_headings`` they are listed.
    ``seen_styles``: ``<style>`` blocks already on the page are not repeated.
    """
    outliner = _Outliner(base_dir=base_dir, used_ids=used_ids, id_prefix=id_prefix, heading_shift=heading_shift,
                         collect_headings=collect_headings, seen_styles=seen_styles)
    outliner.feed(_nh3_clean(printable(html)))
    return outliner.finish()


def sanitize_html(html: str, *, base_dir: Path | None = None) -> str:
    """``html`` without scripts, event handlers, ``javascript:`` URLs or external resources (see the module)."""
    return sanitize_fragment(html, base_dir=base_dir).html


# -- the audit ---------------------------------------------------------------------------------------

_HYPERLINK_TAGS = {"a", "area"}


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
