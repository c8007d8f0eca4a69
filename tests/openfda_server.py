"""A local openFDA (and Eudamed) for tests: real HTTP over given records, answering like the real API.

Use it with pytest-httpserver (the ``httpserver`` fixture, or the threaded one below)::

    from openfda_server import in2bones_datasets, serve_eudamed, serve_openfda

    fake = serve_openfda(httpserver, in2bones_datasets(realdata))   # or {"device/event": records, ...}
    monkeypatch.setenv("OPENFDA_BASE_URL", fake.base_url)
    monkeypatch.setenv("EUDAMED_BASE_URL", serve_eudamed(httpserver, eudamed_records))
    ...                                  # run `cer report HWC --from api` or collect(ctx)
    fake.keys_seen                       # API keys received (query api_key= or HTTP Basic user name)
    fake.urls                            # every path?query answered, as received

`in2bones_datasets(realdata)` gives real records for every device endpoint (IN2BONES events, the
classification file, IN2BONES 510(k)s/recalls/GUDID rows, the one-record endpoint samples);
`clone_events(...)` makes large real-shaped event sets (new keys, spread dates) for paging and volume tests.

What it implements (enough for `cer_lib.sources.openfda.OpenFDA` and for the shapes openFDA documents):

- ``search`` with the syntax `cer_lib.sources.openfda.render_search` produces and common hand-written
  forms: ``field:"phrase"``, ``field.exact:"value"``, ``field:("A" OR "B")``, ``field:[20150101 TO 20151231]``
  (dates with or without dashes), bare ``field:value``, ``_exists_:field`` (a non-blank value), ``NOT`` before a
  clause, clauses joined by ``AND``. Without ``.exact`` a phrase
  matches case-insensitively on word tokens (as openFDA's analysed fields); with ``.exact`` the whole value.
  Dotted fields reach into nested objects and lists (``device.device_report_product_code``,
  ``patient.patient_problems``, ``product_codes.code``). An endpoint without data behaves as empty.
- ``limit`` (search default 1, at most 1000, else 400), ``skip`` (at most 25 000, else 400
  "Skip value must 25000 or less."), ``sort=field:asc|desc``.
- paging by ``Link: <…&skip=0&search_after=…>; rel="next"`` as openFDA sends it; a request that starts
  with ``skip`` gets a skip-style Link instead, and ``skip`` together with ``search_after`` is a 400.
- ``count=field`` (default 100 rows, at most 1000): date fields (a ``date`` in the last name part, no
  ``.exact``) give ``{"time": "YYYYMMDD", "count"}`` per day in time order; other fields give
  ``{"term", "count"}`` by count descending (``.exact``: whole values; else lower-case word tokens).
  No ``meta.results`` and no Link, like openFDA.
- a search with a character openFDA does not accept (``&``, ``\\``, ``®``, ``é``, ...) is a 400
  "Search not supported: …", as openFDA checks it before parsing.
- 404 bodies exactly like openFDA's: ``{"error": {"code": "NOT_FOUND", "message": "No matches found!"}}``
  (``"Nothing to count"`` for a count over matching records that lack the field).
- ``api_key=...`` given to `serve_openfda`: any other key is a 403 ``API_KEY_INVALID`` with openFDA's text.

Indexes are built lazily per field, so 100 000 records answer a count in well under a second.
Faults are injected with pytest-httpserver's one-shot handlers, which take precedence over these.
"""
from __future__ import annotations

import atexit
import base64
import bisect
import csv
import html
import json
import re
from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
from pytest_httpserver import HTTPServer
from werkzeug.wrappers import Request, Response

DISCLAIMER = (
    "Do not rely on openFDA to make decisions regarding medical care. While we make every effort to ensure "
    "that data is accurate, you should assume all results are unvalidated. We may limit or otherwise restrict "
    "your access to the API in line with our Terms of Service."
)
NOT_FOUND = {"error": {"code": "NOT_FOUND", "message": "No matches found!"}}
NOTHING_TO_COUNT = {"error": {"code": "NOT_FOUND", "message": "Nothing to count"}}
API_KEY_INVALID = {"error": {"code": "API_KEY_INVALID", "message": "An invalid api_key was supplied. Get one at https://api.fda.gov:443"}}
SKIP_TOO_LARGE = {"error": {"code": "BAD_REQUEST", "message": "Skip value must 25000 or less."}}

_TOKEN_RE = re.compile(r"[a-z0-9]+")
# openFDA's check of the decoded search before it is parsed (FDA/openfda api/faers/elasticsearch_query.js)
SUPPORTED_QUERY_RE = re.compile(r"[0-9a-zA-Z@%/',._:()\"\[\]{}\-+><= ]+")
_DATE_RE = re.compile(r"^(\d{4})-?(\d{2})-?(\d{2})")


# ----------------------------------------------------------------------------------------------
# records and indexes


def _leaves(obj: Any, parts: list[str]) -> Iterable[str]:
    if isinstance(obj, list):
        for item in obj:
            yield from _leaves(item, parts)
        return
    if not parts:
        if obj is not None and not isinstance(obj, dict):
            yield str(obj)
        return
    if isinstance(obj, dict) and parts[0] in obj:
        yield from _leaves(obj[parts[0]], parts[1:])


def _tokens(text: str) -> list[str]:
    return _TOKEN_RE.findall(text.lower())


def _date(text: str) -> str | None:
    m = _DATE_RE.match(text.strip())
    return "".join(m.groups()) if m else None


def _is_date_field(path: str) -> bool:
    return "date" in path.rsplit(".", 1)[-1]


class _Dataset:
    """Records of one endpoint with lazily built per-field indexes."""

    def __init__(self, records: list[dict[str, Any]]) -> None:
        self.records = records
        self._values: dict[str, list[tuple[str, ...]]] = {}
        self._exact: dict[str, dict[str, set[int]]] = {}
        self._words: dict[str, dict[str, set[int]]] = {}
        self._dates: dict[str, tuple[list[str], list[int]]] = {}

    def values(self, path: str) -> list[tuple[str, ...]]:
        if path not in self._values:
            parts = path.split(".")
            self._values[path] = [tuple(v for v in _leaves(r, parts) if v != "") for r in self.records]
        return self._values[path]

    def exact(self, path: str, value: str) -> set[int]:
        if path not in self._exact:
            index: dict[str, set[int]] = {}
            for i, vals in enumerate(self.values(path)):
                for v in vals:
                    index.setdefault(v, set()).add(i)
            self._exact[path] = index
        return self._exact[path].get(value, set())

    def phrase(self, path: str, value: str) -> set[int]:
        words = _tokens(value)
        if not words:
            return set()
        if path not in self._words:
            index: dict[str, set[int]] = {}
            for i, vals in enumerate(self.values(path)):
                for v in vals:
                    for w in _tokens(v):
                        index.setdefault(w, set()).add(i)
            self._words[path] = index
        postings = [self._words[path].get(w, set()) for w in words]
        candidates = set.intersection(*sorted(postings, key=len))
        if len(words) == 1:
            return candidates
        n = len(words)
        found = set()
        for i in candidates:
            for v in self.values(path)[i]:
                toks = _tokens(v)
                if any(toks[k : k + n] == words for k in range(len(toks) - n + 1)):
                    found.add(i)
                    break
        return found

    def date_range(self, path: str, start: str, end: str) -> set[int]:
        if path not in self._dates:
            pairs = sorted((d, i) for i, vals in enumerate(self.values(path)) for v in vals if (d := _date(v)))
            self._dates[path] = ([d for d, _ in pairs], [i for _, i in pairs])
        dates, ids = self._dates[path]
        lo, hi = bisect.bisect_left(dates, start), bisect.bisect_right(dates, end)
        return set(ids[lo:hi])


# ----------------------------------------------------------------------------------------------
# the search syntax


class SearchSyntaxError(ValueError):
    pass


_LEX = re.compile(r'\s*(?:(?P<quoted>"[^"]*")|(?P<punct>[()\[\]:])|(?P<word>[^\s()\[\]:"]+))')


def _lex(text: str) -> list[tuple[str, str]]:
    tokens, pos = [], 0
    text = text.strip()
    while pos < len(text):
        m = _LEX.match(text, pos)
        if not m or m.end() == pos:
            raise SearchSyntaxError(f"cannot read the search at character {pos}: {text[pos:pos + 20]!r}")
        kind = m.lastgroup
        value = m.group(kind)
        tokens.append((kind, value[1:-1] if kind == "quoted" else value))
        pos = m.end()
    return tokens


def parse_search(text: str) -> list[tuple[str, str, Any]]:
    """Clauses of a decoded search: ``(field, "match"|"not"|"range", values | (start, end))``, all AND-ed
    (``NOT field:...`` is a "not" clause: records with none of the values)."""
    tokens = _lex(text)
    clauses: list[tuple[str, str, Any]] = []
    i = 0

    def take(kind: str | None = None, value: str | None = None) -> tuple[str, str]:
        nonlocal i
        if i >= len(tokens):
            raise SearchSyntaxError("the search ends too early")
        tok = tokens[i]
        if (kind and tok[0] != kind) or (value and tok[1] != value):
            raise SearchSyntaxError(f"unexpected {tok[1]!r} in the search")
        i += 1
        return tok

    while i < len(tokens):
        negate = tokens[i] == ("word", "NOT")
        if negate:
            take()
        field = take("word")[1]
        take("punct", ":")
        kind, value = tokens[i] if i < len(tokens) else ("", "")
        if kind == "punct" and value == "(":
            take()
            values = [take()[1]]
            while tokens[i][1] == "OR":
                take("word", "OR")
                values.append(take()[1])
            take("punct", ")")
            clauses.append((field, "not" if negate else "match", values))
        elif kind == "punct" and value == "[":
            take()
            start = take()[1]
            take("word", "TO")
            end = take()[1]
            take("punct", "]")
            clauses.append((field, "range", (start, end)))
        elif kind in ("quoted", "word"):
            clauses.append((field, "not" if negate else "match", [take()[1]]))
        else:
            raise SearchSyntaxError(f"no value after {field}:")
        if i < len(tokens):
            take("word", "AND")
    return clauses


# ----------------------------------------------------------------------------------------------
# the server


def _json_response(payload: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(json.dumps(payload, indent=2), status=status, headers=headers or {}, content_type="application/json")


def _bad_request(message: str) -> Response:
    return _json_response({"error": {"code": "BAD_REQUEST", "message": message}}, 400)


class FakeOpenFDA:
    """The request handler behind `serve_openfda` (see the module docstring)."""

    def __init__(self, datasets: dict[str, list[dict[str, Any]]], *, last_updated: str, api_key: str | None) -> None:
        self.datasets = {name: _Dataset(list(records)) for name, records in datasets.items()}
        self.last_updated = last_updated
        self.api_key = api_key
        self.keys_seen: list[str] = []
        self.urls: list[str] = []  # path?query of every request answered here
        self.base_url = ""

    def _meta(self, **results: int) -> dict[str, Any]:
        meta: dict[str, Any] = {
            "disclaimer": DISCLAIMER,
            "terms": "https://open.fda.gov/terms/",
            "license": "https://open.fda.gov/license/",
            "last_updated": self.last_updated,
        }
        if results:
            meta["results"] = results
        return meta

    def _key(self, request: Request) -> str | None:
        if request.args.get("api_key"):
            return request.args["api_key"]
        auth = request.headers.get("Authorization", "")
        if auth.startswith("Basic "):
            user = base64.b64decode(auth[6:]).decode("utf-8", "replace").split(":", 1)[0]
            return user or None
        return None

    def matching(self, endpoint: str, search: str | None) -> list[int]:
        data = self.datasets.get(endpoint) or _Dataset([])
        result: set[int] | None = None
        for field, kind, arg in parse_search(search) if search else []:
            exact = field.endswith(".exact")
            path = field[: -len(".exact")] if exact else field
            if field == "_exists_" and kind == "match":
                hits = {i for name in arg for i, vals in enumerate(data.values(name.removesuffix(".exact")))
                        if any(v.strip() for v in vals)}
            elif kind == "range":
                start, end = (_date(a) for a in arg)
                if not start or not end:
                    raise SearchSyntaxError(f"range on {field} needs dates")
                hits = data.date_range(path, start, end)
            else:
                hits = set()
                for value in arg:
                    hits |= data.exact(path, value) if exact else data.phrase(path, value)
                if kind == "not":
                    hits = set(range(len(data.records))) - hits
            result = hits if result is None else result & hits
            if not result:
                return []
        return sorted(range(len(data.records)) if result is None else result)

    def handle(self, request: Request) -> Response:
        raw = request.query_string.decode("latin-1")
        self.urls.append(request.path + (f"?{raw}" if raw else ""))  # as received, not re-encoded
        self.base_url = self.base_url or request.host_url.rstrip("/")
        key = self._key(request)
        if key:
            self.keys_seen.append(key)
        if self.api_key is not None and key is not None and key != self.api_key:
            return _json_response(API_KEY_INVALID, 403)
        endpoint = request.path.strip("/").removesuffix(".json")
        args = request.args
        try:
            limit = int(args["limit"]) if "limit" in args else None
            skip = int(args.get("skip", 0) or 0)
        except ValueError:
            return _bad_request("limit and skip must be integers")
        search = args.get("search")
        if search and not SUPPORTED_QUERY_RE.fullmatch(search):
            return _bad_request(f"Search not supported: {html.escape(search)}")
        try:
            ids = self.matching(endpoint, search)
        except SearchSyntaxError as exc:
            return _bad_request(f"Invalid search query: {exc}")
        if "count" in args:
            return self._count(endpoint, ids, args["count"], 100 if limit is None else limit)
        return self._search(request, endpoint, ids, 1 if limit is None else limit, skip)

    def _count(self, endpoint: str, ids: list[int], field: str, limit: int) -> Response:
        if limit > 1000:
            return _bad_request("Limit cannot exceed 1000 results for count requests.")
        if not ids:
            return _json_response(NOT_FOUND, 404)
        data = self.datasets[endpoint]
        exact = field.endswith(".exact")
        path = field[: -len(".exact")] if exact else field
        values = data.values(path)
        counter: Counter[str] = Counter()
        if not exact and _is_date_field(path):
            for i in ids:
                counter.update({d for v in values[i] if (d := _date(v))})
            rows = [{"time": t, "count": n} for t, n in sorted(counter.items())]
        else:
            for i in ids:
                counter.update(set(values[i]) if exact else {w for v in values[i] for w in _tokens(v)})
            rows = [{"term": t, "count": n} for t, n in sorted(counter.items(), key=lambda kv: (-kv[1], kv[0]))]
        if not rows:
            return _json_response(NOTHING_TO_COUNT, 404)
        return _json_response({"meta": self._meta(), "results": rows[:limit]})

    def _search(self, request: Request, endpoint: str, ids: list[int], limit: int, skip: int) -> Response:
        args = request.args
        if limit > 1000:
            return _bad_request("Limit cannot exceed 1000 results for search requests. Use the skip or search_after param to get additional results.")
        if skip > 25000:
            return _json_response(SKIP_TOO_LARGE, 400)
        cursor = args.get("search_after")
        if cursor and skip:
            return _bad_request("The skip and search_after parameters cannot be used together.")
        offset = skip
        if cursor:
            try:
                token = cursor.split("=", 1)[1]
                offset = int(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode().removeprefix("o"))
            except (ValueError, IndexError):
                return _bad_request("Invalid search_after value.")
        if not ids:
            return _json_response(NOT_FOUND, 404)
        records = self.datasets[endpoint].records
        if args.get("sort"):
            field, _, direction = args["sort"].partition(":")
            values = self.datasets[endpoint].values(field.removesuffix(".exact"))
            present = [i for i in ids if values[i]]
            missing = [i for i in ids if not values[i]]
            present.sort(key=lambda i: (_date(values[i][0]) or values[i][0], i), reverse=direction == "desc")
            ids = present + missing
        page = ids[offset : offset + limit]
        if not page:
            return _json_response(NOT_FOUND, 404)
        headers = {}
        if offset + limit < len(ids):
            nxt: dict[str, Any] = {k: args[k] for k in ("search", "sort") if k in args}
            nxt["limit"] = limit
            if skip and not cursor:
                nxt["skip"] = skip + limit  # a request started with skip gets skip paging
            else:
                token = base64.urlsafe_b64encode(f"o{offset + limit}".encode()).decode().rstrip("=")
                nxt["skip"] = 0
                nxt["search_after"] = f"0={token}"
            headers["Link"] = f'<{request.host_url.rstrip("/")}{request.path}?{urlencode(nxt)}>; rel="next"'
        payload = {"meta": self._meta(skip=skip, limit=limit, total=len(ids)), "results": [records[i] for i in page]}
        return _json_response(payload, 200, headers)


def serve_openfda(
    httpserver: HTTPServer,
    datasets: dict[str, list[dict[str, Any]]],
    *,
    last_updated: str = "2021-10-01",
    api_key: str | None = None,
) -> FakeOpenFDA:
    """Make ``httpserver`` answer ``/device/*.json`` and ``/drug/*.json`` like openFDA over ``datasets``.

    ``datasets`` maps endpoints (``"device/event"``) to their records. Returns the handler, whose
    ``base_url`` is the value for ``OPENFDA_BASE_URL`` and whose ``keys_seen`` lists the API keys received.
    """
    fake = FakeOpenFDA(datasets, last_updated=last_updated, api_key=api_key)
    fake.base_url = httpserver.url_for("/").rstrip("/")
    httpserver.expect_request(re.compile(r"^/(device|drug)/[a-z0-9]+\.json$")).respond_with_handler(fake.handle)
    return fake


# ----------------------------------------------------------------------------------------------
# Eudamed


def serve_eudamed(
    httpserver: HTTPServer,
    devices: list[dict[str, Any]],
    *,
    details: dict[str, dict[str, Any]] | None = None,
    actors: dict[str, dict[str, Any]] | None = None,
    certificates: list[dict[str, Any]] | None = None,
    prefix: str = "/eudamed/api",
) -> str:
    """Answer Eudamed's public device search, device detail, actor and certificate search; return the base URL.

    Search filters ``primaryDi``, ``basicUdi``, ``srn`` (manufacturer SRN) match exactly; ``tradeName``
    matches a case-insensitive substring, as Eudamed does. Pages are 0-based, ``pageSize`` capped at 300,
    answered as Spring pages (``content``, ``totalElements``, ``totalPages``, ``number``, ``size``).
    """
    details, actors, certificates = details or {}, actors or {}, certificates or []

    def page(items: list[dict[str, Any]], request: Request) -> Response:
        number = int(request.args.get("page", 0))
        size = min(int(request.args.get("pageSize") or request.args.get("size") or 20), 300)
        chunk = items[number * size : (number + 1) * size]
        total_pages = (len(items) + size - 1) // size
        return _json_response({
            "content": chunk, "totalElements": len(items), "totalPages": total_pages, "number": number,
            "size": size, "numberOfElements": len(chunk), "first": number == 0, "last": number >= total_pages - 1,
        })

    def search_devices(request: Request) -> Response:
        items = devices
        a = request.args
        if a.get("primaryDi"):
            items = [d for d in items if d.get("primaryDi") == a["primaryDi"]]
        if a.get("basicUdi"):
            items = [d for d in items if d.get("basicUdi") == a["basicUdi"]]
        if a.get("srn"):
            items = [d for d in items if d.get("manufacturerSrn") == a["srn"]]
        if a.get("tradeName"):
            items = [d for d in items if a["tradeName"].lower() in (d.get("tradeName") or "").lower()]
        return page(items, request)

    def one(table: dict[str, dict[str, Any]], position: int):
        def handler(request: Request) -> Response:
            uuid = request.path.rstrip("/").split("/")[position]
            if uuid not in table:
                return _json_response({"message": "Not found"}, 404)
            return _json_response(table[uuid])
        return handler

    def search_certificates(request: Request) -> Response:
        srn = request.args.get("actorSrn")
        items = [c for c in certificates if not srn or srn in (c.get("actorSrn") or "")]
        return page(items, request)

    httpserver.expect_request(f"{prefix}/devices/udiDiData").respond_with_handler(search_devices)
    httpserver.expect_request(re.compile(rf"^{prefix}/devices/udiDiData/[0-9a-f-]+$")).respond_with_handler(one(details, -1))
    httpserver.expect_request(re.compile(rf"^{prefix}/actors/[0-9a-f-]+/publicInformation$")).respond_with_handler(one(actors, -2))
    httpserver.expect_request(f"{prefix}/certificates/search/").respond_with_handler(search_certificates)
    return httpserver.url_for(prefix).rstrip("/")


# ----------------------------------------------------------------------------------------------
# real records for the fake (../shared/realdata), reshaped where the publisher flattened them


def _read_pipe_csv(path: Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle, delimiter="|"))
    return [{k: (v or "") for k, v in row.items() if k} for row in rows]


def classification_records(realdata: Path) -> list[dict[str, Any]]:
    """``foiclass.txt`` rows in the shape of openFDA ``device/classification`` records (derived)."""
    records = []
    with open(realdata / "classification" / "foiclass.txt", newline="", encoding="latin-1") as handle:
        for row in csv.DictReader(handle, delimiter="|", quoting=csv.QUOTE_NONE):
            if not row.get("PRODUCTCODE"):
                continue
            records.append({
                "product_code": row["PRODUCTCODE"],
                "device_name": row.get("DEVICENAME") or "",
                "device_class": row.get("DEVICECLASS") or "",
                "regulation_number": row.get("REGULATIONNUMBER") or "",
                "review_panel": row.get("REVIEW_PANEL") or "",
                "medical_specialty": row.get("MEDICALSPECIALTY") or "",
                "definition": row.get("DEFINITION") or "",
                "implant_flag": row.get("Implant_Flag") or "",
                "life_sustain_support_flag": row.get("Life_Sustain_support_flag") or "",
                "gmp_exempt_flag": row.get("GMPEXEMPTFLAG") or "",
                "third_party_flag": row.get("THIRDPARTYFLAG") or "",
                "submission_type_id": row.get("SUBMISSION_TYPE_ID") or "",
                "summary_malfunction_reporting": row.get("SummaryMalfunctionReporting") or "",
                "unclassified_reason": row.get("UNCLASSIFIED_REASON") or "",
                "review_code": row.get("REVIEWCODE") or "",
            })
    return records


def in2bones_datasets(realdata: Path) -> dict[str, list[dict[str, Any]]]:
    """Real records for the fake openFDA: IN2BONES events (raw API records), the classification file,
    and IN2BONES 510(k)s, recalls and GUDID rows reshaped from the publisher's flattened CSVs (derived:
    a GUDID row gets the product code of the 510(k) it cites), plus the real one-record endpoint samples."""
    base = realdata / "openfda"
    events = json.loads((base / "in2bones" / "openFDA_raw_data.json").read_text(encoding="utf-8"))
    k510 = [
        {"k_number": r["k_number"], "product_code": r["product_code"], "device_name": r["device_name"],
         "applicant": r["applicant"], "date_received": r["date_received"], "clearance_type": r["clearance_type"],
         "decision_description": r["decision_description"], "openfda": {"device_name": r["openfda_device"]}}
        for r in _read_pipe_csv(base / "in2bones" / "510k_data.csv")
    ]
    code_of_k = {r["k_number"]: r["product_code"] for r in k510}
    recalls = [
        {"product_code": r["product_code"], "recall_status": r["recall_status"], "recalling_firm": r["recalling_firm"],
         "root_cause_description": r["root_cause_description"], "product_description": r["product_description"],
         "action": r["action"], "event_date_created": r["event_date_created"],
         "openfda": {"device_name": r["device_name"], "medical_specialty_description": r["medical_specialty_description"]}}
        for r in _read_pipe_csv(base / "in2bones" / "recall_data.csv")
    ]
    udi = []
    for r in _read_pipe_csv(base / "in2bones" / "udi_data.csv"):
        record = {k: r[k] for k in ("public_device_record_key", "commercial_distribution_status", "device_description",
                                    "company_name", "brand_name", "public_version_date")}
        if r.get("k_number"):
            record["premarket_submissions"] = [{"submission_number": r["k_number"]}]
        if code_of_k.get(r.get("k_number", "")):
            record["product_codes"] = [{"code": code_of_k[r["k_number"]]}]
        udi.append(record)

    def sample(name: str) -> list[dict[str, Any]]:
        return json.loads((base / "endpoint-samples" / f"device__{name}.json").read_text(encoding="utf-8"))["results"]

    return {
        "device/event": events,
        "device/classification": classification_records(realdata),
        "device/510k": k510 + sample("510k"),
        "device/recall": recalls + sample("recall"),
        "device/enforcement": sample("enforcement"),
        "device/udi": udi + sample("udi"),
        "device/pma": sample("pma"),
        "device/registrationlisting": sample("registrationlisting"),
    }


def faers_datasets(realdata: Path) -> dict[str, list[dict[str, Any]]]:
    """Drug records for the fake openFDA, from real data:

    - ``drug/event``: the 100 real cases of the FAERS 2017Q2 quarterly files, read by the mirror's
      FAERS loader (openFDA-shaped) plus the 100 raw ``drug/event`` records of the first API page; each
      drug of the quarterly cases gets the ``openfda`` block openFDA's annotation adds (derived:
      ``generic_name`` and ``substance_name`` = the ``drug_key`` of its ``prod_ai``, ``brand_name`` = its
      drug name when that differs from the ingredient);
    - ``drug/label``: the 100 real SPL labels of 2015 (HALOPERIDOL among them);
    - ``drug/ndc``: one product per (drug name, ingredient, application) of the quarter's DRUG rows
      (derived, e.g. RISPERDAL / RISPERIDONE / NDA 020272), since no real NDC page of these drugs is stored;
    - ``drug/drugsfda`` and ``drug/enforcement``: the real one-record endpoint samples.
    """
    from cer_lib.names.drug import drug_key
    from cer_lib.sources.base import Query
    from cer_lib.sources.mirror import Mirror

    base = realdata / "openfda"
    quarter = Mirror(realdata / "faers" / "faers_ascii_2017q2").search("drug/event", Query(), limit=None).records
    ndc: dict[tuple[str, str, str], dict[str, Any]] = {}
    for case in quarter:
        for drug in case["patient"]["drug"]:
            ingredient = (drug.get("activesubstance") or {}).get("activesubstancename") or ""
            name = drug.get("medicinalproduct") or ""
            if not ingredient:
                continue
            generic = drug_key(ingredient)
            drug["openfda"] = {"generic_name": [generic], "substance_name": [generic],
                               **({"brand_name": [drug_key(name)]} if drug_key(name) != generic else {})}
            if drug_key(name) != generic:
                number = drug.get("drugauthorizationnumb") or ""
                ndc.setdefault((drug_key(name), generic, number), {
                    "product_ndc": f"{len(ndc) + 50000}-{len(ndc) % 1000:03d}", "brand_name": drug_key(name),
                    "generic_name": generic, "active_ingredients": [{"name": generic, "strength": ""}],
                    "application_number": f"NDA{number}" if number else None, "dosage_form": "TABLET",
                    "openfda": {"generic_name": [generic], "brand_name": [drug_key(name)]}})
    first_page = json.loads((base / "drug-event-first-page.json").read_text(encoding="utf-8"))
    first_page = first_page if isinstance(first_page, list) else first_page["results"]
    labels = json.loads((base / "drug-labels-2015.json").read_text(encoding="utf-8"))
    labels = labels if isinstance(labels, list) else labels["results"]

    def sample(name: str) -> list[dict[str, Any]]:
        return json.loads((base / "endpoint-samples" / f"drugs__{name}.json").read_text(encoding="utf-8"))["results"]

    return {"drug/event": quarter + first_page, "drug/label": labels, "drug/ndc": list(ndc.values()),
            "drug/drugsfda": sample("drugsfda"), "drug/enforcement": sample("enforcement")}


def clone_events(template: list[dict[str, Any]], n: int, *, product_code: str, start: str = "2015-01-01",
                 days: int = 3000, first_key: int = 90_000_000) -> list[dict[str, Any]]:
    """``n`` device events cloned from real ones: new ``mdr_report_key``/``report_number``, dates spread
    over ``days`` from ``start``, the given product code; only the fields the pipeline reads are kept, so
    tens of thousands stay small."""
    import datetime as dt

    keep = ("event_type", "date_of_event", "product_problems", "adverse_event_flag", "report_source_code")
    origin = dt.date.fromisoformat(start)
    out = []
    for i in range(n):
        src = template[i % len(template)]
        device = [{"device_report_product_code": product_code, "brand_name": d.get("brand_name", ""),
                   "generic_name": d.get("generic_name", ""), "manufacturer_d_name": d.get("manufacturer_d_name", "")}
                  for d in src.get("device", [])[:1]]
        received = origin + dt.timedelta(days=(i * 7919) % days)
        out.append({
            **{k: src[k] for k in keep if k in src},
            "mdr_report_key": str(first_key + i),
            "report_number": f"CLONE-{first_key + i}",
            "date_received": received.strftime("%Y%m%d"),
            "device": device,
            "patient": [{"patient_problems": p.get("patient_problems", [])} for p in src.get("patient", [])[:1]],
        })
    return out


_SERVER: HTTPServer | None = None


@pytest.fixture
def threaded_httpserver() -> Iterable[HTTPServer]:
    """A pytest-httpserver answering requests concurrently (a slow handler blocks no other).

    One server per test session (stopping one costs half a second), cleared after every test.
    """
    global _SERVER
    if _SERVER is None or not _SERVER.is_running():
        _SERVER = HTTPServer(host="127.0.0.1", port=0, threaded=True)
        _SERVER.start()
        atexit.register(_SERVER.stop)
    try:
        yield _SERVER
    finally:
        _SERVER.clear()
