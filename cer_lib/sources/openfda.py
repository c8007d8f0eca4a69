"""openFDA over HTTPS, as a `Source`.

Queries are `Query` objects rendered here into openFDA's search syntax::

    device.device_report_product_code.exact:"HWC"+AND+date_received:[20150101+TO+20171231]
    product_code:("HWC"+OR+"HTY")

- field names must match ``[a-z0-9_]+(.[a-z0-9_]+)*``; anything else is refused;
- every value is a quoted phrase (`render_value`), URL-encoded inside its quotes (a space becomes
  ``+``, a literal ``+`` ``%2B``, ``&`` ``%26``), so ``A+OR+B``, ``X) OR (Y`` or ``PIT'STOP`` stay literal
  text. openFDA passes the decoded search to Elasticsearch's query-string parser, in whose quoted
  phrases only ``"`` and ``\\`` are special, but first refuses any search with a character outside
  letters, digits and ``@ % / ' , . _ : ( ) " [ ] { } - + > < =`` and space (HTTP 400 "Search not
  supported": ``SUPPORTED_QUERY_RE`` in FDA's openfda API, ``api/faers/elasticsearch_query.js``). So
  ``\\`` can never be sent and ``"`` cannot be escaped: a value with ``"``, ``\\``, ``&``, ``®``, a
  non-ASCII letter or any other such character is `NotExpressible` (a `ValueError` naming the
  characters), never sent altered;
- ``Match.exact`` searches the field's ``.exact`` variant (the whole value, as for ``count=...exact``);
  ``Match.negate`` puts ``NOT`` before the clause (none of the values); ``Exists`` is
  ``_exists_:field`` (the field has a value);
- ``+`` is the separator openFDA expects (it decodes to a space), so the URL is assembled by hand;
  ``"``, ``[`` and ``]`` are sent as ``%22``, ``%5B``, ``%5D`` (urllib3 would encode them anyway), so
  `build_url` returns the exact bytes requested.

Paging: pages of at most 1000 records; the next page is the ``Link: <…>; rel="next"`` URL openFDA
sends (``search_after`` cursor, used as given, never with a ``skip`` of ours), falling back to
``skip`` paging (at most 25 000) only if a server sends no Link. ``limit=None`` fetches everything.

Errors: a 404 ``NOT_FOUND`` ("No matches found!", or "Nothing to count") is an empty result. Other
answers raise `SourceError` with the status, openFDA's error code and message, and what to do.
"""
from __future__ import annotations

import re
import string
from typing import Any
from urllib.parse import quote_plus, urlsplit

import requests

from ..errors import SourceError
from ..settings import OPENFDA_PUBLIC
from .base import Clause, CountResult, DateRange, Exists, Match, Query, SearchResult
from .http import Fetched, HttpClient

DEVICE_ENDPOINTS = ("event", "recall", "enforcement", "510k", "pma", "classification", "udi", "registrationlisting")
DRUG_ENDPOINTS = ("event", "label", "enforcement", "ndc", "drugsfda")
ENDPOINTS = frozenset({f"device/{e}" for e in DEVICE_ENDPOINTS} | {f"drug/{e}" for e in DRUG_ENDPOINTS})

MAX_LIMIT = 1000  # records per search page, and terms per count
MAX_SKIP = 25_000  # openFDA: "Skip value must 25000 or less."

_FIELD = re.compile(r"[a-z0-9_]+(?:\.[a-z0-9_]+)*")
_SORT = re.compile(r"([a-z0-9_]+(?:\.[a-z0-9_]+)*):(asc|desc)")
_KEY_HELP = "https://open.fda.gov/apis/authentication/"
_URL_ESCAPES = str.maketrans({'"': "%22", "[": "%5B", "]": "%5D"})
# openFDA's SUPPORTED_QUERY_RE (the decoded search), less '"', which would end the phrase
PHRASE_CHARACTERS = frozenset(string.ascii_letters + string.digits + "@%/',._:()[]{}-+><= ")


# ----------------------------------------------------------------------------------------------
# query rendering


def check_field(name: str) -> str:
    """``name`` if it is a safe openFDA field name (``a-z0-9_`` parts joined by dots), else `ValueError`."""
    if not isinstance(name, str) or not _FIELD.fullmatch(name):
        raise ValueError(f"{name!r} is not an openFDA field name (lower-case letters, digits, '_' and '.')")
    return name


class NotExpressible(ValueError):
    """A value openFDA's search syntax cannot carry (see the module docstring)."""


def unsendable_characters(value: str) -> list[str]:
    """The distinct characters of ``value`` that cannot stand inside an openFDA quoted phrase, sorted."""
    return sorted({c for c in str(value) if c not in PHRASE_CHARACTERS})


def render_value(value: str) -> str:
    """``value`` as an openFDA quoted phrase, URL-encoded inside the quotes, or `NotExpressible`."""
    text = str(value)
    if not text.strip():
        raise NotExpressible("an empty value cannot be searched in openFDA")
    bad = unsendable_characters(text)
    if bad:
        shown = ", ".join(repr(c) for c in bad[:8])
        raise NotExpressible(
            f"value {text[:80]!r} contains {shown}, which openFDA's search syntax does not accept (it answers "
            f"\"Search not supported\"), so it is refused, never sent altered")
    return '"' + quote_plus(text, safe="") + '"'


def _render_clause(clause: Clause) -> str:
    if isinstance(clause, Match):
        name = check_field(clause.field)
        if clause.exact and not name.endswith(".exact"):
            name += ".exact"
        values = [render_value(v) for v in clause.values]
        rendered = f"{name}:{values[0]}" if len(values) == 1 else f"{name}:({'+OR+'.join(values)})"
        return f"NOT+{rendered}" if clause.negate else rendered
    if isinstance(clause, DateRange):
        if clause.end < clause.start:
            raise ValueError(f"date range on {clause.field} ends ({clause.end}) before it starts ({clause.start})")
        return f"{check_field(clause.field)}:[{clause.start:%Y%m%d}+TO+{clause.end:%Y%m%d}]"
    if isinstance(clause, Exists):
        return f"_exists_:{check_field(clause.field)}"
    raise TypeError(f"not a query clause: {clause!r}")


def render_search(query: Query) -> str:
    """The ``search=`` text for ``query`` in openFDA syntax (``+`` separators), or ``""`` for all records."""
    return "+AND+".join(_render_clause(c) for c in query.clauses)


def search_text(query: Query) -> str:
    """How provenance and the report show a query: its `render_search` text, or for a query openFDA's syntax
    cannot carry (a mirror's, for a brand with ``&`` or ``®``) its `Query.describe` text."""
    try:
        return render_search(query)
    except NotExpressible:
        return query.describe()


def check_endpoint(endpoint: str) -> str:
    if endpoint not in ENDPOINTS:
        raise ValueError(f"{endpoint!r} is not an openFDA endpoint this tool reads; one of: {', '.join(sorted(ENDPOINTS))}")
    return endpoint


def build_url(
    base_url: str,
    endpoint: str,
    *,
    search: str | None = None,
    count: str | None = None,
    sort: str | None = None,
    limit: int | None = None,
    skip: int | None = None,
) -> str:
    """The exact URL requested. ``search`` is `render_search` output, in which only ``"[]`` need encoding."""
    params: list[str] = []
    if search:
        params.append("search=" + search.translate(_URL_ESCAPES))
    if count:
        params.append("count=" + check_field(count))
    if sort:
        if not _SORT.fullmatch(sort):
            raise ValueError(f"sort {sort!r} must look like field:asc or field:desc")
        params.append("sort=" + sort)
    if limit is not None:
        params.append(f"limit={int(limit)}")
    if skip:
        params.append(f"skip={int(skip)}")
    url = f"{base_url.rstrip('/')}/{check_endpoint(endpoint)}.json"
    return url + ("?" + "&".join(params) if params else "")


def _next_link(header: str | None) -> str | None:
    if not header:
        return None
    for link in requests.utils.parse_header_links(header):
        if link.get("rel") == "next" and link.get("url"):
            return link["url"]
    return None


# ----------------------------------------------------------------------------------------------
# the source


class OpenFDA:
    """openFDA device (and drug) endpoints through one `HttpClient`."""

    name = "openfda"
    origin = "api"
    synthetic = False

    def __init__(self, client: HttpClient, base_url: str = OPENFDA_PUBLIC) -> None:
        self.client = client
        self.base_url = base_url.rstrip("/")

    @classmethod
    def for_run(cls, ctx: Any, **client_options: Any) -> "OpenFDA":
        """openFDA for a stage: ``OPENFDA_BASE_URL`` (and its credentials), ``OPENFDA_API_KEY``, the run's cache,
        pacing and provenance."""
        client = HttpClient.for_run(ctx, source="openfda", api_key=ctx.settings.openfda_api_key,
                                    credentials=ctx.settings.openfda_credentials, **client_options)
        return cls(client, ctx.settings.openfda_base_url)

    def __repr__(self) -> str:
        return f"OpenFDA({self.base_url!r})"

    def url(self, endpoint: str, query: Query = Query(), **params: Any) -> str:
        """The URL a search or count on ``endpoint`` requests (``count=``, ``sort=``, ``limit=``, ``skip=``)."""
        return build_url(self.base_url, endpoint, search=render_search(query) or None, **params)

    # -- answers -------------------------------------------------------------------------------

    def _data(self, fetched: Fetched, endpoint: str) -> dict[str, Any] | None:
        """The JSON of a successful answer; None for openFDA's "no matches"; `SourceError` otherwise."""
        status = fetched.status
        if status == 200:
            data = fetched.json()
            if not isinstance(data, dict) or not isinstance(data.get("results", []), list):
                raise SourceError(
                    f"openFDA answered {fetched.url} with JSON that is not an openFDA result "
                    f"(no 'results' list). Check OPENFDA_BASE_URL ({self.base_url})."
                )
            return data
        code, message = fetched.error_fields()
        said = " ".join(x for x in (code, message and f"{message!r}") if x) or "no error details"
        if status == 404 and code == "NOT_FOUND":
            return None
        if status == 404:
            raise SourceError(
                f"openFDA has no {endpoint} at {fetched.url} (HTTP 404, {said}). "
                f"Check OPENFDA_BASE_URL ({self.base_url})."
            )
        if status in (401, 403):
            if code == "API_KEY_INVALID" or "api_key" in (message or "").lower():
                raise SourceError(self.client.scrub(
                    f"openFDA refused the API key (HTTP {status} {said}). Check OPENFDA_API_KEY "
                    f"(get a key at {_KEY_HELP}), or unset it to use the keyless quota."
                ))
            raise SourceError(self.client.scrub(
                f"openFDA refused access (HTTP {status} {said}) for {fetched.url}. "
                f"Check OPENFDA_BASE_URL and OPENFDA_API_KEY."
            ))
        if status == 400:
            raise SourceError(self.client.scrub(
                f"openFDA rejected the query (HTTP 400 {said}) for {fetched.url}. The query is built by "
                f"cer_lib from the parameters; check the code and window, and report the URL if they are right."
            ))
        raise SourceError(self.client.scrub(
            f"openFDA answered HTTP {status} ({said}) for {fetched.url}. Try again later; report the URL if it persists."
        ))

    def _follow(self, link: str, endpoint: str) -> str:
        """The Link URL as given, kept on our base URL's host (the key is never sent elsewhere)."""
        parts, base = urlsplit(link), urlsplit(self.base_url)
        if (parts.scheme, parts.netloc) == (base.scheme, base.netloc):
            return link
        return f"{self.base_url}/{endpoint}.json" + (f"?{parts.query}" if parts.query else "")

    # -- Source --------------------------------------------------------------------------------

    def search(self, endpoint: str, query: Query, *, limit: int | None = None, sort: str | None = None) -> SearchResult:
        """Records matching ``query`` (``limit=None``: all of them), following openFDA's Link paging."""
        check_endpoint(endpoint)
        if limit is not None and limit < 0:
            raise ValueError(f"limit must be None or >= 0, got {limit}")
        search = render_search(query) or None
        if limit == 0:
            total, last_updated = self._total(endpoint, search)
            return SearchResult(endpoint, query, [], total, last_updated)
        page = min(MAX_LIMIT, limit) if limit else MAX_LIMIT
        url = build_url(self.base_url, endpoint, search=search, sort=sort, limit=page)
        records: list[dict[str, Any]] = []
        total: int | None = None
        last_updated: str | None = None
        seen_urls: set[str] = set()
        while url not in seen_urls:
            seen_urls.add(url)
            fetched = self.client.get(url)
            data = self._data(fetched, endpoint)
            if data is None:
                break  # no matches (or past the end)
            results = data.get("results") or []
            meta = data.get("meta") or {}
            last_updated = last_updated or meta.get("last_updated")
            reported = (meta.get("results") or {}).get("total")
            if isinstance(reported, int):
                total = reported
            records.extend(results)
            known_total = total if total is not None else len(records)
            if not results or (limit is not None and len(records) >= limit) or len(records) >= known_total:
                break
            link = _next_link(fetched.headers.get("Link"))
            if link:
                url = self._follow(link, endpoint)
            elif len(records) <= MAX_SKIP:
                url = build_url(self.base_url, endpoint, search=search, sort=sort, limit=page, skip=len(records))
            else:
                break  # no cursor and skip exhausted: report what we have (fewer records than the total)
        if limit is not None:
            records = records[:limit]
        total = total if total is not None else len(records)
        return SearchResult(endpoint, query, records, total, last_updated)

    def count(self, endpoint: str, query: Query, field: str, *, limit: int = MAX_LIMIT) -> CountResult:
        """``count=field`` rows (``{term, count}``, or ``{time, count}`` for dates); none is an empty result."""
        check_endpoint(endpoint)
        check_field(field)
        if not 1 <= limit <= MAX_LIMIT:
            raise ValueError(f"count limit must be 1..{MAX_LIMIT}, got {limit}")
        url = build_url(self.base_url, endpoint, search=render_search(query) or None, count=field, limit=limit)
        fetched = self.client.get(url)
        data = self._data(fetched, endpoint)
        if data is None:
            return CountResult(endpoint, query, field, [], limit, None)
        rows = data.get("results") or []
        if not all(isinstance(r, dict) and isinstance(r.get("count"), int) for r in rows):
            raise SourceError(f"openFDA count answer for {fetched.url} has rows without an integer 'count'; report the URL.")
        return CountResult(endpoint, query, field, rows, limit, (data.get("meta") or {}).get("last_updated"))

    def _total(self, endpoint: str, search: str | None) -> tuple[int, str | None]:
        fetched = self.client.get(build_url(self.base_url, endpoint, search=search, limit=1))
        data = self._data(fetched, endpoint)
        if data is None:
            return 0, None
        meta = data.get("meta") or {}
        total = (meta.get("results") or {}).get("total")
        if not isinstance(total, int):
            raise SourceError(f"openFDA answer for {fetched.url} has no meta.results.total; report the URL.")
        return total, meta.get("last_updated")

    def total(self, endpoint: str, query: Query) -> int:
        """``meta.results.total`` of a ``limit=1`` search (0 when nothing matches)."""
        check_endpoint(endpoint)
        return self._total(endpoint, render_search(query) or None)[0]
