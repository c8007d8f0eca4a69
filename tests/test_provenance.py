"""Provenance: redacted URLs, request and input logs (the manifest and `cer verify`: test_manifest.py)."""
from __future__ import annotations

from multiprocessing import Pool
from pathlib import Path

import pytest

from cer_lib.provenance import Provenance
from cer_lib.redact import redact_url


@pytest.mark.parametrize(
    "url",
    [
        "https://api.fda.gov/device/event.json?search=x&api_key=SECRET123&limit=1",
        "https://api.fda.gov/device/event.json?API_KEY=SECRET123",
        "https://user:SECRET123@api.fda.gov/device/event.json?limit=1",
    ],
)
def test_redacted_urls_keep_the_query_but_never_the_key(url: str) -> None:
    clean = redact_url(url)
    assert "SECRET123" not in clean and "api.fda.gov/device/event.json" in clean


def test_redaction_keeps_openfda_syntax_readable() -> None:
    url = 'https://api.fda.gov/device/event.json?search=device.device_report_product_code:("HWC"+OR+"HTY")&limit=1'
    assert redact_url(url) == url


def _append(args: tuple[str, int]) -> None:
    folder, i = args
    Provenance(Path(folder)).record_request(source="openfda", url=f"http://x/{i}", status=200, n_bytes=i, sha256="h")


def test_request_log_is_safe_to_append_from_several_processes(tmp_path: Path) -> None:
    with Pool(4) as pool:
        pool.map(_append, [(str(tmp_path), i) for i in range(200)])
    records = Provenance(tmp_path).requests()
    assert sorted(r["bytes"] for r in records) == list(range(200))
