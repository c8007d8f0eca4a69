"""Faults survived or clearly reported, over real HTTP: 429 + Retry-After, 5xx, time-outs, malformed JSON,
unreachable hosts, and openFDA's real error bodies (``drugsfda-paging-and-errors.json``) served verbatim.
"""
from __future__ import annotations

import datetime as dt
import email.utils
import json
import socket
import time
from pathlib import Path

import pytest
from werkzeug.wrappers import Response

from cer_lib.errors import RateLimited, SourceError, SourceUnavailable
from cer_lib.params import Http
from cer_lib.provenance import Provenance
from cer_lib.settings import Secret
from cer_lib.sources.base import Match, Query
from cer_lib.sources.http import HttpClient, _retry_after_seconds, error_fields
from cer_lib.sources.openfda import OpenFDA
from openfda_server import in2bones_datasets, serve_openfda
from openfda_server import threaded_httpserver  # noqa: F401  (fixture)

HWC = Query((Match("device.device_report_product_code", ("HWC",), exact=True),))
EVENT = "/device/event.json"


def source_for(server, tmp_path: Path, *, retries: int = 2, timeout: float = 5.0, sleep=time.sleep,
               api_key: str | None = None) -> OpenFDA:
    client = HttpClient(source="openfda", cache_dir=tmp_path / "cache",
                        http=Http(max_retries=retries, timeout_seconds=timeout),
                        provenance=Provenance(tmp_path / "provenance"), api_key=Secret(api_key),
                        backoff_seconds=0.01, sleep=sleep)
    return OpenFDA(client, server.url_for("/").rstrip("/"))


@pytest.fixture
def fda(threaded_httpserver, realdata):  # noqa: F811
    """The local openFDA over the real IN2BONES records; faults are one-shot handlers in front of it."""
    serve_openfda(threaded_httpserver, in2bones_datasets(realdata))
    return threaded_httpserver


def statuses(source: OpenFDA) -> list[int | None]:
    return [r["status"] for r in source.client.provenance.requests()]


# ----------------------------------------------------------------------------------------------
# retries


def test_429_with_retry_after_is_waited_for_then_succeeds(fda, tmp_path):
    fda.expect_oneshot_request(EVENT).respond_with_json(
        {"error": {"code": "OVER_RATE_LIMIT", "message": "too many requests"}}, status=429, headers={"Retry-After": "1"})
    source = source_for(fda, tmp_path)
    started = time.monotonic()
    assert source.total("device/event", HWC) == 13
    assert time.monotonic() - started >= 1.0  # the server's Retry-After was honoured
    assert statuses(source) == [429, 200]


def test_retry_after_as_http_date(fda, tmp_path):
    when = email.utils.format_datetime(dt.datetime.now(dt.timezone.utc) + dt.timedelta(seconds=30), usegmt=True)
    fda.expect_oneshot_request(EVENT).respond_with_data("slow down", status=429, headers={"Retry-After": when})
    waits: list[float] = []
    source = source_for(fda, tmp_path, sleep=waits.append)
    assert source.total("device/event", HWC) == 13
    assert len(waits) == 1 and 27 <= waits[0] <= 32
    assert _retry_after_seconds("7") == 7.0 and _retry_after_seconds("soon") is None and _retry_after_seconds(None) is None


def test_a_spent_quota_fails_at_once_instead_of_waiting(fda, tmp_path):
    fda.expect_oneshot_request(EVENT).respond_with_data("", status=429, headers={"Retry-After": "86400"})
    waits: list[float] = []
    with pytest.raises(RateLimited, match="asks to wait 86400 s.*OPENFDA_API_KEY"):
        source_for(fda, tmp_path, sleep=waits.append).total("device/event", HWC)
    assert waits == []


def test_persistent_429_is_rate_limited(fda, tmp_path):
    for _ in range(3):
        fda.expect_oneshot_request(EVENT).respond_with_data("", status=429)
    with pytest.raises(RateLimited, match=r"HTTP 429.*after 3 attempt\(s\).*requests_per_minute"):
        source_for(fda, tmp_path, retries=2).total("device/event", HWC)


def test_500_then_success(fda, tmp_path):
    fda.expect_oneshot_request(EVENT).respond_with_json({"error": {"code": "SERVER_ERROR", "message": "boom"}}, status=500)
    source = source_for(fda, tmp_path)
    assert source.count("device/event", HWC, "date_received").rows
    assert statuses(source) == [500, 200]


def test_timeout_then_success_and_persistent_timeout(fda, tmp_path):
    def slow(request):
        time.sleep(1.2)
        return Response("{}", content_type="application/json")

    fda.expect_oneshot_request(EVENT).respond_with_handler(slow)
    source = source_for(fda, tmp_path, timeout=0.5)
    assert source.total("device/event", HWC) == 13
    first, second = source.client.provenance.requests()
    assert first["status"] is None and "no answer within 0.5 s" in first["error"] and second["status"] == 200

    for _ in range(3):
        fda.expect_oneshot_request(EVENT).respond_with_handler(slow)
    with pytest.raises(SourceUnavailable, match=r"no answer within 0.5 s for .* after 3 attempt\(s\); raise http.timeout_seconds"):
        source_for(fda, tmp_path, timeout=0.5).count("device/event", HWC, "product_problems.exact")
    time.sleep(0.8)  # let the slow handlers finish before the next test


def test_unreachable_hosts_are_unavailable(tmp_path):
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    client = HttpClient(source="openfda", cache_dir=tmp_path, http=Http(max_retries=1), backoff_seconds=0.01,
                        api_key=Secret("k3y-in-a-header"))
    with pytest.raises(SourceUnavailable, match=r"connection failed .* after 2 attempt\(s\)") as caught:
        OpenFDA(client, f"http://127.0.0.1:{port}").total("device/event", HWC)
    # requests' exception (whose request carries the Authorization header) is not kept as context
    assert caught.value.__context__ is None and caught.value.__cause__ is None
    started = time.monotonic()
    with pytest.raises(SourceUnavailable, match="does not resolve"):
        OpenFDA(client, "http://openfda.invalid").total("device/event", HWC)
    assert time.monotonic() - started < 5  # a DNS failure is not retried


# ----------------------------------------------------------------------------------------------
# answers that are not results


def test_malformed_json_names_the_url_and_byte_offset(fda, tmp_path):
    fda.expect_oneshot_request(EVENT).respond_with_data('{"meta": {"last_updated": "2021-10-01"}, "results": [{"a": 1},',
                                                        content_type="application/json")
    with pytest.raises(SourceError, match=r"malformed JSON .* for http://127\.0\.0\.1:\d+/device/event\.json\?search=.*byte offset 62"):
        source_for(fda, tmp_path).search("device/event", HWC, limit=5)


def test_html_error_page_from_a_wrong_base_url(threaded_httpserver, tmp_path):  # noqa: F811
    threaded_httpserver.expect_request(EVENT).respond_with_data("<html>Not here</html>", status=404, content_type="text/html")
    with pytest.raises(SourceError, match="openFDA has no device/event at .* Check OPENFDA_BASE_URL"):
        source_for(threaded_httpserver, tmp_path).total("device/event", HWC)


def test_non_openfda_json_is_refused(threaded_httpserver, tmp_path):  # noqa: F811
    threaded_httpserver.expect_request(EVENT).respond_with_json(["not", "a", "result"])
    with pytest.raises(SourceError, match="not an openFDA result"):
        source_for(threaded_httpserver, tmp_path).search("device/event", HWC)


# ----------------------------------------------------------------------------------------------
# openFDA's real error bodies, verbatim


def real_errors(realdata: Path) -> list[dict]:
    exchanges = json.loads((realdata / "openfda" / "drugsfda-paging-and-errors.json").read_text())
    return [e for e in exchanges if e["status"] != 200]


@pytest.mark.parametrize("form", ["json", "python-repr"])
@pytest.mark.parametrize("index", range(5))
def test_real_error_bodies(threaded_httpserver, realdata, tmp_path, form, index):  # noqa: F811
    """400 -> SourceError with openFDA's message; 403 API_KEY_INVALID -> key refused (never shown);
    404 NOT_FOUND -> empty; 500 -> retried, then SourceError with the message. The recorded body is
    served as JSON and as the Python-repr text some recorders keep."""
    exchange = real_errors(realdata)[index]
    status, body = exchange["status"], exchange["body"]
    text = json.dumps(body) if form == "json" else str(body)
    threaded_httpserver.expect_request("/drug/drugsfda.json").respond_with_data(text, status=status, content_type="application/json")
    source = source_for(threaded_httpserver, tmp_path, retries=2, api_key="k3y-under-test-999")
    query = Query((Match("openfda.brand_name", ("verapamil",), exact=False),))
    message = body["error"]["message"]
    if status == 404:
        assert source.search("drug/drugsfda", query, limit=1).records == []
        assert source.count("drug/drugsfda", query, "openfda.brand_name.exact").rows == []
        return
    with pytest.raises(SourceError) as caught:
        source.search("drug/drugsfda", query, limit=1)
    said = str(caught.value)
    assert "k3y-under-test-999" not in said + repr(caught.value)
    if status == 400:
        assert "rejected the query (HTTP 400 BAD_REQUEST" in said and message in said
    elif status == 403:
        assert "refused the API key" in said and "API_KEY_INVALID" in said and "OPENFDA_API_KEY" in said
    elif status == 500:
        assert len(threaded_httpserver.log) == 3  # 1 + max_retries
        assert "SERVER_ERROR" in said and message in said and "after 3 attempt(s)" in said
    else:  # pragma: no cover - the file holds only these statuses
        pytest.fail(f"unexpected status {status}")


def test_error_fields_reads_json_and_python_repr(realdata):
    for exchange in real_errors(realdata):
        code, message = exchange["body"]["error"]["code"], exchange["body"]["error"]["message"]
        assert error_fields(json.dumps(exchange["body"]).encode()) == (code, message)
        assert error_fields(str(exchange["body"]).encode()) == (code, message)
    assert error_fields(b"<html>oops</html>") == (None, None)
