"""What "the data changed" means: a run's data fingerprint, and what the sources hold now.

A `Fingerprint` says where a run's data came from and what they were:

- **mirror**: every file the run read from the mirror (its ``provenance/inputs.jsonl``: the mirror's
  ``mirror.json`` and each bulk file, path and sha256). The data changed when any of those files now
  has other bytes or is gone, or when the run would read another mirror folder. A mirror whose
  update adds files rewrites its ``mirror.json``, which is one of the files read.
- **api**: each source's ``meta.last_updated`` as openFDA stated it (``collected/status.json``). The
  data changed when openFDA now states another date for any of them (asked with one ``limit=1``
  request per source, past the HTTP cache).

`recorded_fingerprint` reads a finished run's fingerprint from its own files (so every run has one,
whether `cer report` or a refresh made it); `current_fingerprint` asks the sources, without running
anything; `data_differences` (pure) says what differs, one phrase per difference.
"""
from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from ..provenance import sha256_file
from ..runfolder import RunFolder
from ..settings import PROJECT_ROOT, Settings

if TYPE_CHECKING:
    from ..params import Parameters

__all__ = ["Fingerprint", "current_fingerprint", "data_differences", "recorded_fingerprint"]

GONE = "missing"


@dataclass(frozen=True)
class Fingerprint:
    """Where a run's data came from (``origin``: api or mirror; ``where``: the base URL or mirror
    folder) and ``items``: file path -> sha256 (mirror) or source -> last_updated (api)."""

    origin: str
    where: str | None
    items: dict[str, str] = field(default_factory=dict)


def recorded_fingerprint(run: RunFolder) -> Fingerprint | None:
    """The fingerprint of a run's data, from its collect status and input log; None before stage 01."""
    status = run.collect_status(missing_ok=True)
    if status is None or status.origin is None:
        return None
    if status.origin == "mirror":
        items = {entry["path"]: entry["sha256"] for entry in run.inputs() if entry.get("sha256")}
        where = str(Path(status.mirror).resolve()) if status.mirror else None
    else:
        items = {name: s.last_updated for name, s in status.sources.items() if s.last_updated}
        where = status.base_url
    return Fingerprint(status.origin, where, items)


def current_fingerprint(previous: Fingerprint, params: "Parameters", settings: Settings) -> Fingerprint:
    """What the sources ``params`` would read hold now, item by item as in ``previous``."""
    if params.data_from == "mirror":
        from ..sources.demo import mirror_folder

        folder = str(mirror_folder(params.mirror, settings).resolve())
        if previous.origin != "mirror":
            return Fingerprint("mirror", folder, {})
        return Fingerprint("mirror", folder, {path: _file_hash(path) for path in previous.items})
    base_url = settings.openfda_base_url
    if previous.origin != "api":
        return Fingerprint("api", base_url, {})
    return Fingerprint("api", base_url, _last_updated_now(previous.items, params, settings))


def _file_hash(display: str) -> str:
    """sha256 of an input file as the input log names it (relative to the project, or absolute)."""
    path = PROJECT_ROOT / display
    return sha256_file(path) if path.is_file() else GONE


def _last_updated_now(sources: dict[str, str], params: "Parameters", settings: Settings) -> dict[str, str]:
    """openFDA's ``meta.last_updated`` for each source now: one ``limit=1`` request each, with a fresh cache."""
    from ..sources.base import Query
    from ..sources.http import HttpClient
    from ..sources.openfda import OpenFDA
    from ..sources.registry import SOURCES

    endpoints = {spec.name: spec.endpoint for spec in SOURCES.values() if spec.endpoint}
    now: dict[str, str] = {}
    with tempfile.TemporaryDirectory(prefix="cer-fingerprint-") as cache:
        with HttpClient(source="openfda", cache_dir=Path(cache), http=params.http, api_key=settings.openfda_api_key,
                        credentials=settings.openfda_credentials) as client:
            api = OpenFDA(client, settings.openfda_base_url)
            for name in sorted(sources):
                if name in endpoints:
                    now[name] = api.search(endpoints[name], Query(), limit=1).last_updated or GONE
    return now


def data_differences(previous: Fingerprint | None, current: Fingerprint | None) -> list[str]:
    """What differs between two fingerprints, one phrase each; empty when the data are the same."""
    if previous is None or current is None:
        return [] if previous is current else ["the previous run recorded no data fingerprint"]
    if previous.origin != current.origin:
        return [f"data origin {previous.origin} -> {current.origin}"]
    if previous.where != current.where:
        return [f"{'mirror folder' if current.origin == 'mirror' else 'API'} {previous.where} -> {current.where}"]
    said = []
    for key in sorted(set(previous.items) | set(current.items)):
        before, now = previous.items.get(key), current.items.get(key)
        if before == now:
            continue
        if current.origin == "api":
            said.append(f"{key} last updated {before or 'unknown'} -> {now or 'unknown'}")
        elif before is None:
            said.append(f"{_short(key)} read for the first time")
        elif now in (None, GONE):
            said.append(f"{_short(key)} is gone")
        else:
            said.append(f"{_short(key)} changed (sha256 {before[:12]} -> {now[:12]})")
    return said


def _short(path: str) -> str:
    """The last three parts of a path: enough to name a mirror file."""
    return "/".join(Path(path).parts[-3:])
