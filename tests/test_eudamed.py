"""Eudamed look-ups against a local Eudamed serving the real records in realdata/eudamed/udi-di-records.json."""
from __future__ import annotations

import json
import socket
import uuid as uuidlib
from pathlib import Path

import pytest

from cer_lib.errors import SourceError, SourceUnavailable
from cer_lib.params import Http
from cer_lib.provenance import Provenance
from cer_lib.sources.eudamed import Eudamed
from cer_lib.sources.http import HttpClient
from openfda_server import serve_eudamed
from openfda_server import threaded_httpserver  # noqa: F401  (fixture)


@pytest.fixture
def devices(realdata: Path) -> list[dict]:
    return json.loads((realdata / "eudamed" / "udi-di-records.json").read_text(encoding="utf-8"))


def client(tmp_path: Path, **http) -> HttpClient:
    return HttpClient(source="eudamed", cache_dir=tmp_path / "cache", http=Http(max_retries=1, **http),
                      provenance=Provenance(tmp_path / "provenance"), backoff_seconds=0.01)


@pytest.fixture
def eudamed(threaded_httpserver, devices, tmp_path):  # noqa: F811
    rollator = devices[0]
    base = serve_eudamed(
        threaded_httpserver, devices,
        details={rollator["uuid"]: {**rollator, "deviceCertificateInfoList": []}},
        actors={"11111111-2222-3333-4444-555555555555": {"srn": rollator["manufacturerSrn"], "name": rollator["manufacturerName"]}},
        certificates=[{"certificateNumber": "C-1", "actorSrn": "CN-MF-000056467"},
                      {"certificateNumber": "C-2", "actorSrn": "CN-MF-0000564671"}],
    )
    return Eudamed(client(tmp_path), base)


def test_search_by_each_filter(eudamed, devices, threaded_httpserver):  # noqa: F811
    by_di = eudamed.devices(primary_di="06980211292118")
    assert [d["uuid"] for d in by_di.records] == [devices[0]["uuid"]] and by_di.total == 1
    assert "/devices/udiDiData?page=0&pageSize=25&size=25&primaryDi=06980211292118&iso2Code=en&languageIso2Code=en" in by_di.url
    assert {d["primaryDi"] for d in eudamed.devices(basic_udi="698021129RLTPW").records} == {"06980211292118", "06980211292101"}
    assert len(eudamed.devices(srn="CN-MF-000007970").records) == 1
    assert len(eudamed.devices(trade_name="rollator").records) == 2  # exact trade name, case-insensitive
    assert eudamed.devices(trade_name="Roll").records == []  # Eudamed's substring hits are filtered out
    assert eudamed.devices(primary_di="00000000000000").records == []
    with pytest.raises(ValueError, match="exactly one"):
        eudamed.devices(primary_di="1", srn="2")
    requests = eudamed.client.provenance.requests()
    assert requests and all(r["source"] == "eudamed" and r["status"] == 200 for r in requests)


def test_paging_up_to_300_per_page(threaded_httpserver, devices, tmp_path):  # noqa: F811
    many = [{**devices[i % 3], "uuid": str(uuidlib.UUID(int=i)), "manufacturerSrn": "CN-MF-000099999"} for i in range(650)]
    source = Eudamed(client(tmp_path), serve_eudamed(threaded_httpserver, many))
    page = source.devices(srn="CN-MF-000099999", limit=None)
    assert len(page.records) == 650 and page.total == 650 and page.complete
    assert len({d["uuid"] for d in page.records}) == 650
    urls = [r["url"] for r in source.client.provenance.requests()]
    assert [u.split("page=")[1].split("&")[0] for u in urls] == ["0", "1", "2"]
    assert all("pageSize=300&size=300" in u for u in urls)
    assert len(source.devices(srn="CN-MF-000099999", limit=310).records) == 310


def test_device_actor_and_certificates(eudamed, devices):
    assert eudamed.device(devices[0]["uuid"])["deviceCertificateInfoList"] == []
    assert eudamed.device(devices[1]["uuid"]) is None  # Eudamed answers 404: no such record
    assert eudamed.actor("11111111-2222-3333-4444-555555555555")["srn"] == "CN-MF-000056467"
    assert [c["certificateNumber"] for c in eudamed.certificates("CN-MF-000056467").records] == ["C-1"]
    for bad in ("../../etc/passwd", "3c64348f", ""):
        with pytest.raises(ValueError):
            eudamed.device(bad)
    with pytest.raises(ValueError, match="SRN"):
        eudamed.certificates("CN-MF-1 OR 1=1")


def test_unreachable_and_offline(tmp_path, eudamed):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(SourceUnavailable, match="connection failed"):
        Eudamed(client(tmp_path), f"http://127.0.0.1:{port}/api").devices(primary_di="06980211292118")
    eudamed.devices(primary_di="06980211292118")  # fills the cache
    offline = Eudamed(client(tmp_path, offline=True), eudamed.base_url)
    assert len(offline.devices(primary_di="06980211292118").records) == 1
    with pytest.raises(SourceUnavailable, match="offline mode and no cached response"):
        offline.devices(primary_di="03665728012291")


def test_server_errors_and_changed_shapes(threaded_httpserver, tmp_path):  # noqa: F811
    base = threaded_httpserver.url_for("/eudamed/api").rstrip("/")
    threaded_httpserver.expect_request("/eudamed/api/devices/udiDiData").respond_with_data("maintenance", status=503)
    with pytest.raises(SourceError, match=r"HTTP 503 maintenance .*after 2 attempt"):
        Eudamed(client(tmp_path), base).devices(primary_di="06980211292118")
    threaded_httpserver.clear()
    threaded_httpserver.expect_request("/eudamed/api/devices/udiDiData").respond_with_json({"items": []})
    with pytest.raises(SourceError, match="not a page of results"):
        Eudamed(client(tmp_path / "b"), base).devices(primary_di="06980211292118")
    threaded_httpserver.clear()
    threaded_httpserver.expect_request("/eudamed/api/devices/udiDiData").respond_with_data("<html>", status=400)
    with pytest.raises(SourceError, match="Eudamed answered HTTP 400 .*EUDAMED_BASE_URL"):
        Eudamed(client(tmp_path / "c"), base).devices(primary_di="06980211292118")
