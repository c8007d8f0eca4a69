"""openFDA client against a local openFDA (real HTTP, pytest-httpserver) serving real records.

Query rendering and exact URLs, Link/search_after paging past 25 000, counts, "no matches", provenance,
the cache (and offline mode), the API key kept out of every stored byte, and pacing across processes.
"""
from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import multiprocessing
import threading
import time
from pathlib import Path

import pytest
import requests
from werkzeug.wrappers import Response

from cer_lib.errors import SourceUnavailable
from cer_lib.params import Http
from cer_lib.provenance import Provenance
from cer_lib.settings import Secret
from cer_lib.sources.base import DateRange, Match, Query, Source
from cer_lib.sources.http import HttpClient, Pacer
from cer_lib.sources.openfda import OpenFDA, build_url, render_search, render_value
from openfda_server import clone_events, in2bones_datasets, parse_search, serve_openfda
from openfda_server import threaded_httpserver  # noqa: F401  (fixture)

HWC = Match("device.device_report_product_code", ("HWC",), exact=True)
WINDOW = DateRange("date_received", dt.date(2015, 1, 1), dt.date(2021, 12, 31))


def make_client(tmp_path: Path, *, api_key: str | None = None, offline: bool = False, retries: int = 1,
                timeout: float = 10.0, provenance: bool = True) -> HttpClient:
    return HttpClient(
        source="openfda",
        cache_dir=tmp_path / "cache",
        http=Http(max_retries=retries, timeout_seconds=timeout, offline=offline),
        provenance=Provenance(tmp_path / "run" / "provenance") if provenance else None,
        api_key=Secret(api_key),
        backoff_seconds=0.01,
    )


@pytest.fixture
def in2bones(realdata: Path) -> dict:
    return in2bones_datasets(realdata)


@pytest.fixture
def fda(threaded_httpserver, in2bones):  # noqa: F811
    return serve_openfda(threaded_httpserver, in2bones)


def hwc_records(in2bones: dict) -> list[dict]:
    return [r for r in in2bones["device/event"] if any(d["device_report_product_code"] == "HWC" for d in r["device"])]


# ----------------------------------------------------------------------------------------------
# query builder


def test_render_search_and_exact_url():
    query = Query((HWC, WINDOW, Match("event_type", ("Death", "Injury"), exact=False)))
    search = render_search(query)
    assert search == (
        'device.device_report_product_code.exact:"HWC"+AND+date_received:[20150101+TO+20211231]'
        '+AND+event_type:("Death"+OR+"Injury")'
    )
    assert build_url("https://api.fda.gov", "device/event", search=search, count="date_received", limit=1000) == (
        "https://api.fda.gov/device/event.json?search=device.device_report_product_code.exact:%22HWC%22"
        "+AND+date_received:%5B20150101+TO+20211231%5D+AND+event_type:(%22Death%22+OR+%22Injury%22)"
        "&count=date_received&limit=1000"
    )
    assert render_search(Query()) == ""
    assert build_url("https://api.fda.gov/", "device/udi") == "https://api.fda.gov/device/udi.json"


def test_url_is_sent_exactly_as_built(fda, tmp_path):
    """requests must not re-encode the URL: the server sees the bytes build_url produced."""
    source = OpenFDA(make_client(tmp_path), fda.base_url)
    query = Query((Match("device.brand_name", ("4.8 LAG SCREW DRILL",), exact=True), WINDOW))
    expected = source.url("device/event", query, limit=5)
    assert expected.endswith(
        "/device/event.json?search=device.brand_name.exact:%224.8+LAG+SCREW+DRILL%22"
        "+AND+date_received:%5B20150101+TO+20211231%5D&limit=5"
    )
    result = source.search("device/event", query, limit=5)
    assert fda.urls[-1] == expected.removeprefix(fda.base_url)
    assert result.total == 1 and result.records[0]["device"][0]["brand_name"] == "4.8 LAG SCREW DRILL"


@pytest.mark.parametrize(
    "value, rendered",
    [
        ("A+OR+B", '"A%2BOR%2BB"'),
        ("A OR B", '"A+OR+B"'),
        ("X) OR (Y", '"X%29+OR+%28Y"'),
        ("field:value", '"field%3Avalue"'),
        ("50% more=1", '"50%25+more%3D1"'),
        ("PIT'STOP (500/125)", '"PIT%27STOP+%28500%2F125%29"'),
    ],
)
def test_values_are_quoted_and_encoded_literals(value, rendered):
    assert render_value(value) == rendered


# openFDA answers 400 "Search not supported" to a decoded search with any character outside its
# SUPPORTED_QUERY_RE (FDA/openfda api/faers/elasticsearch_query.js): '&', 'Ä', '®' are never sent
@pytest.mark.parametrize("value", ['HWC" OR "LZG', "back\\slash", "line\nbreak", "tab\there", "nul\x00", "  ",
                                   "50% & more", "ÄSCULAP", "ACCU-CHEK®"])
def test_values_that_could_change_the_query_are_refused(value):
    with pytest.raises(ValueError, match="refused|empty"):
        render_value(value)


@pytest.mark.parametrize("field", ["product_code:x OR y", "Product_Code", "a..b", ".a", "a.", "a b", "a+b", "a)", ""])
def test_bad_field_names_are_refused(field):
    with pytest.raises(ValueError, match="not an openFDA field name"):
        render_search(Query((Match(field, ("x",)),)))


def test_injection_attempts_match_only_the_literal_value(threaded_httpserver, in2bones, tmp_path):  # noqa: F811
    """A brand that looks like query syntax finds only the record whose brand is exactly that text."""
    template = hwc_records(in2bones)
    records = clone_events(template, 4, product_code="HWC")
    for record, brand in zip(records, ["A+OR+B", "A", "B", 'X) OR (Y']):
        record["device"][0]["brand_name"] = brand
    fake = serve_openfda(threaded_httpserver, {"device/event": records})
    source = OpenFDA(make_client(tmp_path), fake.base_url)
    for brand in ["A+OR+B", "X) OR (Y"]:
        for exact in (True, False):
            found = source.search("device/event", Query((Match("device.brand_name", (brand,), exact=exact),)), limit=10)
            assert [r["device"][0]["brand_name"] for r in found.records] == [brand], (brand, exact)
    # the fake's own parser reads our syntax back into the same literal values
    assert parse_search('device.brand_name.exact:"A+OR+B" AND x:("a b" OR "c") AND d:[20150101 TO 20151231]') == [
        ("device.brand_name.exact", "match", ["A+OR+B"]), ("x", "match", ["a b", "c"]), ("d", "range", ("20150101", "20151231"))
    ]


# ----------------------------------------------------------------------------------------------
# search, count, total


def test_openfda_implements_the_source_protocol(fda, tmp_path):
    assert isinstance(OpenFDA(make_client(tmp_path), fda.base_url), Source)


def test_search_sorted_sample_and_meta(fda, in2bones, tmp_path):
    source = OpenFDA(make_client(tmp_path), fda.base_url)
    result = source.search("device/event", Query((HWC, WINDOW)), limit=5, sort="date_received:desc")
    expected = sorted((r["date_received"] for r in hwc_records(in2bones)), reverse=True)[:5]
    assert [r["date_received"] for r in result.records] == expected
    assert result.total == 13 and len(result.records) == 5 and result.last_updated == "2021-10-01"
    everything = source.search("device/event", Query((HWC,)), limit=None)
    assert len(everything.records) == everything.total == 13
    assert {r["mdr_report_key"] for r in everything.records} == {r["mdr_report_key"] for r in hwc_records(in2bones)}


def test_counts_match_the_records_served(fda, in2bones, tmp_path):
    source = OpenFDA(make_client(tmp_path), fda.base_url)
    records = hwc_records(in2bones)
    days = source.count("device/event", Query((HWC, WINDOW)), "date_received")
    expected_days: dict[str, int] = {}
    for r in records:
        expected_days[r["date_received"]] = expected_days.get(r["date_received"], 0) + 1
    assert {row["time"]: row["count"] for row in days.rows} == expected_days
    assert [row["time"] for row in days.rows] == sorted(expected_days) and not days.truncated

    problems = source.count("device/event", Query((HWC, WINDOW)), "product_problems.exact")
    expected_terms: dict[str, int] = {}
    for r in records:
        for term in set(r.get("product_problems") or []):
            expected_terms[term] = expected_terms.get(term, 0) + 1
    assert {row["term"]: row["count"] for row in problems.rows} == expected_terms
    assert problems.rows[0] == {"term": "Material Fragmentation", "count": 9}

    top2 = source.count("device/event", Query((HWC, WINDOW)), "product_problems.exact", limit=2)
    assert len(top2.rows) == 2 and top2.truncated  # a full page: terms may be missing, and it says so
    assert fda.urls[-1].endswith("&count=product_problems.exact&limit=2")
    assert source.total("device/event", Query((HWC, WINDOW))) == 13


def test_no_matches_is_an_empty_result(fda, tmp_path):
    source = OpenFDA(make_client(tmp_path), fda.base_url)
    nothing = Query((Match("device.device_report_product_code", ("ZZZ",), exact=True),))
    result = source.search("device/event", nothing, limit=None)
    assert result.records == [] and result.total == 0
    assert source.count("device/event", nothing, "date_received").rows == []
    assert source.total("device/event", nothing) == 0
    # records match but none has the field: openFDA says "Nothing to count"
    none_have = source.count("device/event", Query((HWC,)), "no_such_field.exact")
    assert none_have.rows == [] and not none_have.truncated


def test_real_count_response_with_raw_line_breaks_is_read(threaded_httpserver, realdata, tmp_path):  # noqa: F811
    """A real drug/event count=receivedate answer whose disclaimer holds raw line breaks (not strict JSON)."""
    body = (realdata / "openfda" / "drug-event-count-receivedate-2004.json").read_bytes()
    threaded_httpserver.expect_request("/drug/event.json").respond_with_data(body, content_type="application/json")
    source = OpenFDA(make_client(tmp_path), threaded_httpserver.url_for("/").rstrip("/"))
    result = source.count("drug/event", Query((DateRange("receivedate", dt.date(2004, 1, 1), dt.date(2004, 12, 31)),)), "receivedate")
    assert len(result.rows) == 152 and result.rows[1] == {"time": "20040102", "count": 519}
    assert result.last_updated == "2015-01-21" and not result.truncated


# ----------------------------------------------------------------------------------------------
# paging


@pytest.mark.slow
def test_paging_past_25000_follows_search_after(threaded_httpserver, in2bones, tmp_path):  # noqa: F811
    records = clone_events(hwc_records(in2bones), 26_500, product_code="HWC")
    fake = serve_openfda(threaded_httpserver, {"device/event": records})
    source = OpenFDA(make_client(tmp_path, provenance=False), fake.base_url)
    result = source.search("device/event", Query((HWC,)), limit=None)
    assert len(result.records) == result.total == 26_500
    assert len({r["mdr_report_key"] for r in result.records}) == 26_500
    assert len(fake.urls) == 27
    assert "search_after" not in fake.urls[0] and "skip" not in fake.urls[0]
    # every later page is the Link URL as given: skip=0 plus the cursor, never a skip of ours
    assert all("skip=0&search_after=0%3D" in url for url in fake.urls[1:])
    # the same fake refuses skip paging past 25 000, as openFDA does
    direct = requests.get(f"{fake.base_url}/device/event.json", params={"limit": 1000, "skip": 25_001}, timeout=10)
    assert direct.status_code == 400 and direct.json()["error"]["message"] == "Skip value must 25000 or less."


def test_limit_above_one_page(threaded_httpserver, in2bones, tmp_path):  # noqa: F811
    records = clone_events(hwc_records(in2bones), 2_300, product_code="HWC")
    fake = serve_openfda(threaded_httpserver, {"device/event": records})
    source = OpenFDA(make_client(tmp_path), fake.base_url)
    result = source.search("device/event", Query((HWC,)), limit=1_500, sort="date_received:desc")
    assert len(result.records) == 1_500 and result.total == 2_300
    assert len(fake.urls) == 2
    dates = [r["date_received"] for r in result.records]
    assert dates == sorted(dates, reverse=True)


def test_real_link_header_is_followed_on_our_host(threaded_httpserver, realdata, tmp_path):  # noqa: F811
    """Real drugsfda pages: the real Link (api.fda.gov) is followed on the configured host, query as given."""
    exchanges = json.loads((realdata / "openfda" / "drugsfda-paging-and-errors.json").read_text())
    first, second = [e for e in exchanges if "semaglutide" in e["request_uri"]]
    link_query = first["link_header"].split("?", 1)[1].split(">", 1)[0]
    seen: list[str] = []

    def handler(request):
        seen.append(request.query_string.decode())
        page = second if "search_after" in request.args else first
        headers = {"Link": page["link_header"]} if page["link_header"] else {}
        return Response(json.dumps(page["body"]), status=page["status"], headers=headers, content_type="application/json")

    threaded_httpserver.expect_request("/drug/drugsfda.json").respond_with_handler(handler)
    source = OpenFDA(make_client(tmp_path), threaded_httpserver.url_for("/").rstrip("/"))
    result = source.search("drug/drugsfda", Query((Match("openfda.generic_name", ("semaglutide",), exact=False),)), limit=None)
    assert [r["application_number"] for r in result.records] == ["NDA213051", "NDA215256", "NDA209637"]
    assert result.total == len(result.records) == 3 and result.last_updated == "2025-07-09"
    assert seen[1] == link_query  # the cursor URL exactly as openFDA sent it


# ----------------------------------------------------------------------------------------------
# provenance, cache, offline, key


def test_every_request_is_recorded_with_hash_and_cache_flag(fda, tmp_path):
    client = make_client(tmp_path)
    source = OpenFDA(client, fda.base_url)
    source.search("device/event", Query((HWC,)), limit=3)
    source.search("device/event", Query((HWC,)), limit=3)
    first, second = client.provenance.requests()
    assert first["from_cache"] is False and second["from_cache"] is True
    assert first["status"] == 200 and first["last_updated"] == "2021-10-01" and first["source"] == "openfda"
    assert first["sha256"] == second["sha256"] and first["bytes"] == second["bytes"] > 0
    body = requests.get(source.url("device/event", Query((HWC,)), limit=3), timeout=10).content
    assert first["sha256"] == hashlib.sha256(body).hexdigest()
    assert len(fda.urls) == 2  # the second search never reached the server


def test_offline_uses_the_cache_and_names_a_miss(fda, tmp_path):
    online = OpenFDA(make_client(tmp_path), fda.base_url)
    online.count("device/event", Query((HWC,)), "date_received")
    served = len(fda.urls)
    offline = OpenFDA(make_client(tmp_path, offline=True), fda.base_url)
    assert offline.count("device/event", Query((HWC,)), "date_received").rows  # from the cache
    with pytest.raises(SourceUnavailable, match="offline mode and no cached response for .*count=product_problems"):
        offline.count("device/event", Query((HWC,)), "product_problems.exact")
    assert len(fda.urls) == served


def key_forms(key: str) -> list[bytes]:
    basic = base64.b64encode(f"{key}:".encode()).decode()
    return [key.encode(), basic.encode(), basic.rstrip("=").encode(), base64.b64encode(key.encode()).rstrip(b"=")]


def files_containing(folder: Path, needles: list[bytes]) -> list[str]:
    hits = []
    for path in folder.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            hits += [f"{path}: {n!r}" for n in needles if n in data]
    return hits


def test_api_key_is_sent_but_never_stored(fda, tmp_path, capsys):
    key = "cerTESTkey0123456789abcdefXYZ"
    client = make_client(tmp_path, api_key=key)
    source = OpenFDA(client, fda.base_url)
    source.search("device/event", Query((HWC,)), limit=2)
    source.count("device/event", Query((HWC,)), "date_received")
    source.search("device/event", Query((HWC,)), limit=2)  # from the cache
    client.close()
    assert fda.keys_seen == [key, key]  # sent (as the HTTP Basic user name) on each network request
    assert files_containing(tmp_path, key_forms(key)) == []
    stored = b"".join(p.read_bytes() for p in (tmp_path / "cache").glob("http_cache.sqlite*"))
    assert b"mdr_report_key" in stored  # the grep does see what the cache stores (bodies are plain bytes) ...
    assert b"Authorization" in stored and b"REDACTED" in stored  # ... and the request's header is stored redacted
    assert key not in repr(client) + repr(source) + repr(client.session.auth) + capsys.readouterr().out


def test_refused_key_error_never_shows_the_key(threaded_httpserver, in2bones, tmp_path):  # noqa: F811
    fake = serve_openfda(threaded_httpserver, in2bones, api_key="the-right-key")
    source = OpenFDA(make_client(tmp_path, api_key="a-wrong-key-0042"), fake.base_url)
    with pytest.raises(Exception) as caught:
        source.total("device/event", Query((HWC,)))
    text = str(caught.value) + repr(caught.value)
    assert "refused the API key" in text and "OPENFDA_API_KEY" in text and "a-wrong-key-0042" not in text


# ----------------------------------------------------------------------------------------------
# pacing


def _paced_burst(cache_dir: str, base_url: str, first: int, n: int, redis_url: str | None = None) -> None:
    shared = Secret(redis_url)
    client = HttpClient(source="pace", cache_dir=Path(cache_dir), http=Http(max_retries=0),
                        pacer=Pacer(Path(cache_dir), 5, 1.0, name="pace", redis_url=shared), redis_url=shared)
    for i in range(first, first + n):
        client.get(f"{base_url}/pace?i={i}")
    client.close()


def paced_bursts(server, folders: list[Path], redis_url: str | None = None) -> tuple[list[float], float, str]:
    """Two processes send 6 requests each through their own client; ``(arrival times, seconds, base URL)``."""
    arrivals: list[float] = []

    def handler(request):
        arrivals.append(time.time())
        return Response(json.dumps({"ok": int(request.args["i"])}), content_type="application/json")

    server.expect_request("/pace").respond_with_handler(handler)
    base = server.url_for("/").rstrip("/")
    ctx = multiprocessing.get_context("fork")
    started = time.monotonic()
    workers = [ctx.Process(target=_paced_burst, args=(str(folder), base, k * 100, 6, redis_url))
               for k, folder in enumerate(folders)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(30)
        assert w.exitcode == 0
    return arrivals, time.monotonic() - started, base


def test_pacing_is_shared_across_processes(threaded_httpserver, tmp_path):  # noqa: F811
    """Two processes sharing the cache folder stay within one budget (5 requests per 1 s here)."""
    arrivals, elapsed, base = paced_bursts(threaded_httpserver, [tmp_path, tmp_path])
    assert len(arrivals) == 12
    assert elapsed >= 2.0  # 12 requests at 5 per second need two full waits
    for t in arrivals:  # never more than 5 in any 1-second window (250 ms allowed for delivery on a loaded machine;
        # unshared pacing would put 10 in the first window)
        assert sum(1 for u in arrivals if t <= u < t + 0.75) <= 5
    # cached answers do not count against the budget
    again = time.monotonic()
    _paced_burst(str(tmp_path), base, 0, 6)
    _paced_burst(str(tmp_path), base, 100, 6)
    assert len(arrivals) == 12 and time.monotonic() - again < 1.8  # counted, they would need 2 s or more


def test_pacer_waits_for_the_oldest_slot(tmp_path):
    """Three requests per 1.5 s: three go at once, the fourth waits until the first leaves the window."""
    pacer = Pacer(tmp_path, 3, 1.5)
    first = time.monotonic()
    waits = [pacer.wait()]
    for _ in range(2):
        time.sleep(0.2)
        waits.append(pacer.wait())
    assert max(waits) < 0.1  # a free slot is taken at once
    waited = pacer.wait()
    freed = time.monotonic() - first
    assert freed >= 1.5 - 0.01 and waited > 0.8  # the first slot frees 1.5 s after it was taken ...
    assert freed < 2.0  # ... and the fourth request goes then (loaded machines allowed 0.5 s)
    pacer.close()


def test_pacer_stamps_the_time_a_request_really_goes(tmp_path, monkeypatch):
    """On a busy machine a sleep lasts longer than asked. The window must count from when each request
    went, not from when a pacer planned to wake: else a punctual process sharing the pace gets in
    early. Here one of two threads oversleeps by 0.3 s; no three requests may go within the 1 s window."""
    real_sleep = time.sleep

    def sleep(seconds: float) -> None:
        real_sleep(seconds + (0.3 if threading.current_thread().name == "slow" else 0.0))

    monkeypatch.setattr(time, "sleep", sleep)
    monkeypatch.setattr("pyrate_limiter.limiter.sleep", sleep)
    went: list[float] = []
    lock = threading.Lock()

    def requests_from(name: str) -> None:
        pacer = Pacer(tmp_path, 2, 1.0)
        for _ in range(4):
            pacer.wait()
            with lock:
                went.append(time.monotonic())
        pacer.close()

    threads = [threading.Thread(target=requests_from, args=(name,), name=name) for name in ("slow", "punctual")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    went.sort()
    assert len(went) == 8
    for i in range(2, 8):
        assert went[i] - went[i - 2] >= 1.0 - 0.02, [round(t - went[0], 3) for t in went]
