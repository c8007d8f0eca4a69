"""openFDA bulk-download JSON: ``device/<endpoint>/*.json`` (or ``.json.zip``, ``.zip``).

A file holds ``{"meta": {...}, "results": [...]}`` as openFDA's downloads do, or a bare results
array (as publishers often save it). Records are kept exactly as in the file; a result that is not
a JSON object is rejected. ``meta.last_updated`` dates the file. A zip with several JSON parts (FDA
splits large endpoints) is read as one file whose results are the parts' results in order.
"""
from __future__ import annotations

import json
import re
import zipfile
from pathlib import Path
from typing import Any

from ....errors import MirrorError
from ....dates import iso_date
from ..endpoints import DEVICE_ENDPOINTS
from ..load_report import FileLoadReport
from ..textfiles import decode_text
from .base import Conversion, ConversionContext, FileFormat, SourceUnit

__all__ = ["OpenFDAJsonFormat", "parse_json_file"]


def _is_json(name: str) -> bool:
    name = name.lower()
    return name.endswith((".json", ".json.zip")) or (name.endswith(".zip") and not name.endswith(".csv.zip"))


def _json_text(data: bytes, path: Path, member: str | None = None) -> Any:
    where = f"{path} ({member})" if member else str(path)
    try:
        return json.loads(decode_text(data, where, legacy="utf-8").text)
    except json.JSONDecodeError as exc:
        raise MirrorError(f"{where}: not JSON at character {exc.pos} (line {exc.lineno}: {exc.msg}); re-download it") from None
    except UnicodeDecodeError as exc:
        raise MirrorError(f"{where}: not UTF-8 text at byte {exc.start}; re-download it") from None


def parse_json_file(path: Path) -> Any:
    """The JSON value of a file, or of the JSON parts of a zip (their results merged, the last meta kept)."""
    path = Path(path)
    try:
        if not path.name.lower().endswith(".zip"):
            return _json_text(path.read_bytes(), path)
        with zipfile.ZipFile(path) as archive:
            members = [m for m in archive.namelist() if m.lower().endswith(".json")]
            if not members:
                raise MirrorError(f"{path}: no .json file inside the zip; re-download it")
            parts = [_json_text(archive.read(m), path, m) for m in members]
    except zipfile.BadZipFile:
        raise MirrorError(f"{path}: not a readable zip archive; re-download it") from None
    except OSError as exc:
        raise MirrorError(f"{path}: cannot be read ({exc.strerror or exc}); check the path and permissions") from None
    if len(parts) == 1:
        return parts[0]
    merged: list[Any] = []
    meta: dict[str, Any] = {}
    for part in parts:
        if isinstance(part, dict):
            meta = part.get("meta", meta) or meta
            merged.extend(part.get("results") or [])
        elif isinstance(part, list):
            merged.extend(part)
    return {"meta": meta, "results": merged}


class OpenFDAJsonFormat(FileFormat):
    """openFDA bulk JSON in ``device/<endpoint>/`` (see the module docstring)."""

    name = "openfda-json"
    priority = 1  # openFDA's own records are the fullest
    folders = ("device/*",)
    feeds = tuple(DEVICE_ENDPOINTS.values())

    def units(self, folder: Path) -> list[SourceUnit]:
        return [self.unit(folder, endpoint, [path]) for endpoint, path in self.endpoint_files(folder) if _is_json(path.name)]

    def stated_date(self, unit: SourceUnit) -> str | None:
        """``meta.last_updated`` from the first 64 KiB of the file (no full parse)."""
        path = unit.paths[0]
        try:
            if path.name.lower().endswith(".zip"):
                with zipfile.ZipFile(path) as archive:
                    members = [m for m in archive.namelist() if m.lower().endswith(".json")]
                    if not members:
                        return None
                    with archive.open(members[0]) as handle:
                        head = handle.read(65536)
            else:
                with open(path, "rb") as handle:
                    head = handle.read(65536)
        except (OSError, zipfile.BadZipFile):
            return None
        match = re.search(rb'"last_updated"\s*:\s*"([0-9-]{8,10})"', head)
        return iso_date(match.group(1).decode()) if match and head.lstrip().startswith(b"{") else None

    def convert(self, unit: SourceUnit, context: ConversionContext) -> Conversion:
        path = unit.paths[0]
        data = parse_json_file(path)
        stated = None
        if isinstance(data, dict):
            meta = data.get("meta") if isinstance(data.get("meta"), dict) else {}
            stated = meta.get("last_updated")
            if not isinstance(data.get("results"), list):
                raise MirrorError(f"{path}: no 'results' list; expected openFDA bulk JSON {{meta, results}} or a results array")
            items = data["results"]
        elif isinstance(data, list):
            items = data
        else:
            raise MirrorError(f"{path}: expected openFDA bulk JSON {{meta, results}} or a results array")
        records = [item for item in items if isinstance(item, dict)]
        report = FileLoadReport(unit.name, unit.endpoint, self.name, encoding="utf-8",
                                rows_read=len(items), rows_kept=len(records))
        if len(records) < len(items):
            report.reject(None, "a result that is not a JSON object", rows=len(items) - len(records))
        return Conversion.of_records(self.endpoint(unit.endpoint), records, [unit.name] * len(records), [report],
                                     last_updated=stated)
