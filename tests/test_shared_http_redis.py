"""With CER_REDIS_URL, the openFDA HTTP cache and the request pace live in Redis, shared by every worker.

A real redis-server on a free loopback port; a local openFDA (real HTTP) serving real records. The
same assertions as the file-based client tests: the pace holds across processes, cached answers do not
count, and the API key (sent on the network) is in no key or value Redis holds.
"""
from __future__ import annotations

import time

import pytest
import redis

from cer_lib.params import Http
from cer_lib.settings import Secret, Settings
from cer_lib.sources.base import Match, Query
from cer_lib.sources.http import REDIS_CACHE_NAMESPACE, HttpClient
from cer_lib.sources.openfda import OpenFDA
from openfda_server import in2bones_datasets, serve_openfda
from openfda_server import threaded_httpserver  # noqa: F401  (fixture)
from service_stack import ServiceStack
from test_openfda_client import _paced_burst, key_forms, paced_bursts

HWC = Match("device.device_report_product_code", ("HWC",), exact=True)


@pytest.fixture(scope="module")
def redis_url(tmp_path_factory):
    stack = ServiceStack(tmp_path_factory.mktemp("redis"))
    stack.start_redis()
    try:
        yield f"redis://127.0.0.1:{stack.redis_port}/0"
    finally:
        stack.stop()


def test_pace_is_shared_through_redis_by_processes_with_separate_cache_folders(threaded_httpserver, tmp_path, redis_url):  # noqa: F811
    """Two processes on different folders (as on two machines) stay within one budget of 5 per 1 s."""
    arrivals, elapsed, base = paced_bursts(threaded_httpserver, [tmp_path / "machine0", tmp_path / "machine1"], redis_url)
    assert len(arrivals) == 12
    assert elapsed >= 2.0  # 12 requests at 5 per second need two full waits
    for t in arrivals:  # never more than 5 in any 1-second window (250 ms allowed for delivery on a loaded machine;
        # unshared pacing would put 10 in the first window)
        assert sum(1 for u in arrivals if t <= u < t + 0.75) <= 5
    assert not list(tmp_path.rglob("pace.sqlite"))  # the pace was kept in Redis, not in the folders
    # the cache is shared too: a third "machine" with an empty folder gets every answer from Redis
    again = time.monotonic()
    _paced_burst(str(tmp_path / "machine3"), base, 0, 6, redis_url)
    _paced_burst(str(tmp_path / "machine3"), base, 100, 6, redis_url)
    assert len(arrivals) == 12 and time.monotonic() - again < 1.8


def test_api_key_never_reaches_redis(threaded_httpserver, tmp_path, redis_url, realdata):  # noqa: F811
    fda = serve_openfda(threaded_httpserver, in2bones_datasets(realdata))
    key = "cerREDISkey0123456789abcdefXYZ"
    client = HttpClient(source="openfda", cache_dir=tmp_path / "cache", http=Http(max_retries=0),
                        api_key=Secret(key), redis_url=Secret(redis_url))
    source = OpenFDA(client, fda.base_url)
    first = source.search("device/event", Query((HWC,)), limit=2)
    source.count("device/event", Query((HWC,)), "date_received")
    client.close()
    assert fda.keys_seen == [key, key]
    assert first.total > 0
    store = redis.Redis.from_url(redis_url)
    stored = b""
    for name in store.scan_iter("*"):
        stored += name + b"\0"
        kind = store.type(name)
        if kind == b"hash":
            stored += b"".join(k + v for k, v in store.hgetall(name).items())
        elif kind == b"string":
            stored += store.get(name) or b""
        elif kind == b"zset":
            stored += b"".join(m for m, _ in store.zrange(name, 0, -1, withscores=True))
    assert REDIS_CACHE_NAMESPACE.encode() in stored and b"mdr_report_key" in stored  # the dump sees the cache
    assert b"REDACTED" in stored
    assert [form for form in key_forms(key) if form in stored] == []
    assert not (tmp_path / "cache" / "http_cache.sqlite").exists()


def test_settings_read_the_redis_url_as_a_secret():
    settings = Settings.from_env({"CER_REDIS_URL": "redis://:hunter2secret@cache:6379/0"})
    assert settings.redis_url.reveal() == "redis://:hunter2secret@cache:6379/0"
    assert "hunter2secret" not in repr(settings)
