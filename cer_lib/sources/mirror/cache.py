"""The mirror's derived cache: conversions of large units as Parquet in ``<mirror>/.derived/``.

A conversion is stored as files named after the unit and a key (``<unit>.<key>.records.parquet``,
``.fields.parquet``, ``.report.json``, and ``.part-<name>.parquet`` for each of its parts); the key
hashes the conversion version, the format and the sha256 of every input file (the unit's own, its
companions', those of the endpoints it depends on), so any change to an input is a new key.
Writing is atomic (temporary name, then rename; the report, written last, completes an entry);
older conversions of the same unit are removed. A damaged or partial entry is ignored and
rebuilt; a read-only mirror folder simply works without the cache. Safe to delete.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

import pyarrow as pa
import pyarrow.parquet as pq

from ...provenance import Provenance, sha256_file
from .load_report import FileLoadReport

__all__ = ["DERIVED_DIR", "CONVERSION_VERSION", "CachedConversion", "DerivedCache", "file_digest", "cache_key"]

DERIVED_DIR = ".derived"
CONVERSION_VERSION = "2"  # bump when the tables' shape changes: invalidates every .derived/ entry

_HASH_MEMO: dict[tuple[str, int, int], str] = {}


def file_digest(path: Path, provenance: Provenance | None, role: str) -> str:
    """sha256 of ``path``; recorded as a run input with ``role`` when ``provenance`` is given."""
    if provenance is not None:
        return provenance.record_input(path, role=role)
    stat = path.stat()
    memo_key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
    digest = _HASH_MEMO.get(memo_key) or sha256_file(path)
    _HASH_MEMO[memo_key] = digest
    return digest


def cache_key(parts: Iterable[str]) -> str:
    return hashlib.sha256("|".join([CONVERSION_VERSION, *parts]).encode()).hexdigest()[:24]


@dataclass(frozen=True)
class CachedConversion:
    records: Path
    fields: Path
    files: list[FileLoadReport]
    last_updated: str | None
    parts: dict[str, Path]


class DerivedCache:
    """``.derived/`` of one mirror folder."""

    def __init__(self, mirror_folder: Path) -> None:
        self.folder = Path(mirror_folder) / DERIVED_DIR

    def _paths(self, unit_name: str, key: str) -> tuple[Path, Path, Path]:
        stem = re.sub(r"[^A-Za-z0-9._-]+", "_", unit_name.strip("/"))
        return (
            self.folder / f"{stem}.{key}.records.parquet",
            self.folder / f"{stem}.{key}.fields.parquet",
            self.folder / f"{stem}.{key}.report.json",
        )

    def read(self, unit_name: str, key: str) -> CachedConversion | None:
        """The cached conversion of a unit under ``key``, if complete and readable."""
        records_path, fields_path, report_path = self._paths(unit_name, key)
        if not (records_path.is_file() and fields_path.is_file() and report_path.is_file()):
            return None
        try:
            meta = json.loads(report_path.read_text(encoding="utf-8"))
            pq.read_metadata(records_path)
            pq.read_metadata(fields_path)
            files = [FileLoadReport.from_dict(item) for item in meta["files"]]
            parts = {name: self._part_path(records_path, key, name) for name in meta.get("parts", [])}
            for part in parts.values():
                pq.read_metadata(part)
        except (OSError, ValueError, KeyError, TypeError, pa.ArrowException):
            return None  # a damaged cache is rebuilt
        return CachedConversion(records_path, fields_path, files, meta.get("last_updated"), parts)

    @staticmethod
    def _part_path(records_path: Path, key: str, name: str) -> Path:
        return records_path.with_name(records_path.name.replace(f".{key}.records.parquet", f".{key}.part-{name}.parquet"))

    def write(self, unit_name: str, key: str, records: pa.Table, fields: pa.Table,
              files: list[FileLoadReport], last_updated: str | None, parts: dict[str, pa.Table] | None = None) -> None:
        """Store a conversion (atomically) and drop older conversions of the same unit."""
        records_path, fields_path, report_path = self._paths(unit_name, key)
        stem = records_path.name[: -len(f".{key}.records.parquet")]
        ours = re.compile(rf"^{re.escape(stem)}\.([0-9a-f]{{24}})\.(records\.parquet|fields\.parquet|report\.json|"
                          rf"part-\w+\.parquet)$")
        parts = parts or {}
        meta = {"files": [f.as_dict() for f in files], "last_updated": last_updated, "parts": sorted(parts)}
        tables = [(records, records_path), (fields, fields_path)]
        tables += [(table, self._part_path(records_path, key, name)) for name, table in parts.items()]
        try:
            self.folder.mkdir(exist_ok=True)
            suffix = f".tmp-{os.getpid()}-{threading.get_ident()}"
            for table, target in tables:
                pq.write_table(table, str(target) + suffix)
                os.replace(str(target) + suffix, target)
            report_path.with_name(report_path.name + suffix).write_text(json.dumps(meta), encoding="utf-8")
            os.replace(report_path.with_name(report_path.name + suffix), report_path)
            for old in self.folder.iterdir():
                match = ours.match(old.name)
                if match and match.group(1) != key:
                    old.unlink(missing_ok=True)  # an older conversion of the same unit
        except OSError:
            pass  # a read-only mirror folder: work without the cache
