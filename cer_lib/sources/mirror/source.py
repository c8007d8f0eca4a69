"""`Mirror`: the `Source` over a local folder of bulk files (see the package docstring for the layout).

Files are found by the registered file formats (`formats.mirror_formats`) and read lazily, on the
first query that needs them: a query loads the units of its endpoint whose format can answer it,
collapses duplicates, and checks what was read. A file that cannot be used as read - refused by
its reader, by `load_report.refusal`, or by a conflict between copies of one key - stops every
query of its endpoint with a `MirrorError` naming the file, the line and the reason; `load_report`
lists every file's counts, and `check` loads everything (``cer doctor``).
"""
from __future__ import annotations

import dataclasses
import functools
import hashlib
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import pyarrow as pa

from ...errors import MirrorError
from ...provenance import Provenance
from ..base import CountResult, Query, SearchResult
from .cache import DerivedCache, cache_key, file_digest
from ...dates import iso_date
from .endpoints import EndpointSpec
from .engine import RecordStore
from .formats import FormatRegistry, mirror_formats
from .formats.base import ConversionContext, SourceUnit, relative_path
from .formats.openfda_json import parse_json_file
from .load_report import DEFAULT_MAX_REJECTED_SHARE, FileLoadReport, MirrorLoadReport, refusal
from .query import query_fields, sort_field

__all__ = ["Mirror", "MANIFEST_NAME"]

MANIFEST_NAME = "mirror.json"


@dataclass
class _UnitState:
    loaded: bool = False
    refused: str | None = None  # why the unit cannot be used (a MirrorError message)
    last_updated: str | None = None  # YYYY-MM-DD
    digests: list[str] = field(default_factory=list)  # sha256 of its files, once hashed
    files: dict[str, FileLoadReport] = field(default_factory=dict)


class Mirror:
    """openFDA data from a local folder of bulk files, as a `Source`.

    ``max_rejected_share``: the share of a file's rows that may be rejected before the file is
    refused (`DEFAULT_MAX_REJECTED_SHARE`, 1 %; an endpoint may be stricter, e.g. classification).
    ``formats``: the file-format registry (the built-in one unless a test or plug-in passes its own).
    """

    name = "mirror"
    origin = "mirror"

    def __init__(
        self,
        folder: Path | str,
        *,
        provenance: Provenance | None = None,
        max_rejected_share: float = DEFAULT_MAX_REJECTED_SHARE,
        formats: FormatRegistry = mirror_formats,
    ) -> None:
        self.folder = Path(folder)
        if not self.folder.is_dir():
            raise MirrorError(
                f"{self.folder}: no mirror folder there; give the folder that holds mirror.json and device/, "
                "or build the demo mirror with cer_lib.sources.demo.ensure_demo_mirror"
            )
        if not 0 <= max_rejected_share < 1:
            raise MirrorError(f"max_rejected_share must be at least 0 and below 1, not {max_rejected_share}")
        self.provenance = provenance
        self.max_rejected_share = max_rejected_share
        self.manifest: dict[str, Any] = self._read_manifest()
        self.synthetic: bool = str(self.manifest.get("synthetic", False)).strip().lower() in ("true", "1", "yes")
        self._endpoints: dict[str, EndpointSpec] = formats.endpoints()
        found = formats.discover(self.folder)
        self._units: list[SourceUnit] = sorted(found.units, key=lambda u: u.name)
        self._ignored = found.ignored
        eudamed = self.folder / "eudamed"
        self._eudamed_files = sorted(p for p in eudamed.glob("*.json") if p.is_file()) if eudamed.is_dir() else []
        self._state: dict[str, _UnitState] = {u.name: _UnitState() for u in self._units}
        self._refused_endpoints: dict[str, str] = {}
        self._cache = DerivedCache(self.folder)
        self._lock = threading.RLock()
        self._store: RecordStore | None = None

    # -- public ------------------------------------------------------------------------------

    def __repr__(self) -> str:
        return f"Mirror({str(self.folder)!r}, synthetic={self.synthetic})"

    @functools.cached_property
    def last_updated(self) -> str | None:
        """How current the mirror is (``YYYY-MM-DD``): ``mirror.json``'s ``last_updated``, else the
        latest date its files state (openFDA's ``meta.last_updated``), else None."""
        stated = iso_date(self.manifest.get("last_updated"))
        if stated:
            return stated
        dates = [d for d in (u.format.stated_date(u) for u in self._units) if d]
        return max(dates) if dates else None

    @property
    def available_endpoints(self) -> list[str]:
        """Endpoints this mirror has at least one file for."""
        return sorted({u.endpoint for u in self._units})

    def search(self, endpoint: str, query: Query, *, limit: int | None = None, sort: str | None = None) -> SearchResult:
        """Records matching ``query`` (all of them when ``limit`` is None), openFDA-shaped."""
        if limit is not None and limit < 0:
            raise MirrorError(f"limit must be 0 or more, not {limit}")
        with self._lock:
            spec = self._endpoint(endpoint)
            extra = [sort_field(spec, sort)[0]] if sort else []
            units = self._prepare(spec, [f.name for f in query_fields(spec, query)] + extra)
            total, records = self._store.search(spec, query, limit=limit, sort=sort)
        return SearchResult(endpoint=endpoint, query=query, records=records, total=total,
                            last_updated=self._last_updated_for(units))

    def total(self, endpoint: str, query: Query) -> int:
        """Number of records matching ``query`` (0 when none)."""
        with self._lock:
            spec = self._endpoint(endpoint)
            self._prepare(spec, [f.name for f in query_fields(spec, query)])
            return self._store.total(spec, query)

    def count(self, endpoint: str, query: Query, field: str, *, limit: int = 1000) -> CountResult:
        """openFDA ``count=field`` over the matching records (semantics in `engine`)."""
        if limit < 1:
            raise MirrorError(f"count limit must be 1 or more, not {limit}")
        with self._lock:
            spec = self._endpoint(endpoint)
            counted = spec.field(field.removesuffix(".exact")).name
            units = self._prepare(spec, [f.name for f in query_fields(spec, query)] + [counted])
            rows = self._store.count(spec, query, field, limit=limit)
        return CountResult(endpoint=endpoint, query=query, field=field, rows=rows, limit=limit,
                           last_updated=self._last_updated_for(units))

    def field_values(self, endpoint: str, query: Query, field: str) -> pa.Table:
        """``rec_id, value`` of ``field`` in every record matching ``query``: database-wide tables
        (a drug-by-reaction table for the EBGM prior) without reading the records themselves."""
        with self._lock:
            spec = self._endpoint(endpoint)
            self._prepare(spec, [f.name for f in query_fields(spec, query)] + [spec.field(field).name])
            return self._store.field_values(spec, query, field)

    def snapshot(self, endpoint: str) -> str:
        """The sha256 of the files an endpoint is served from (loading them first): what a result
        computed over the whole endpoint is cached under."""
        with self._lock:
            units = self._prepare(self._endpoint(endpoint), ())
            digests = sorted(d for u in units for d in self._state[u.name].digests)
        return hashlib.sha256("\n".join(digests).encode()).hexdigest()

    def eudamed_records(self) -> list[dict[str, Any]]:
        """Eudamed device records from ``eudamed/*.json`` (a list, a ``{"content": [...]}`` page or
        one record per file); an empty list when the mirror has none."""
        records: list[dict[str, Any]] = []
        for path in self._eudamed_files:
            data = self._load_json(path, role="mirror eudamed")
            if isinstance(data, list):
                items = data
            elif isinstance(data, dict) and isinstance(data.get("content"), list):
                items = data["content"]
            else:
                items = [data]
            records.extend(item for item in items if isinstance(item, dict))
        return records

    def load_report(self) -> MirrorLoadReport:
        """Per file: status, rows read, kept, repaired, rejected (with line and reason), duplicates
        collapsed. Files no query has needed yet are listed as ``"not loaded"``; files in the
        formats' folders that no format reads as ``"ignored"``."""
        with self._lock:
            files: list[FileLoadReport] = []
            for unit in self._units:
                state = self._state[unit.name]
                if state.files:
                    files.extend(dataclasses.replace(f) for f in state.files.values())
                    continue
                for path in unit.paths:  # not loaded yet, or its reader refused one of them
                    report = FileLoadReport(relative_path(path, self.folder), unit.endpoint, unit.format.name)
                    if state.refused and state.refused.startswith(f"{path}: "):
                        report.status, report.refused = "refused", state.refused.removeprefix(f"{path}: ")
                    elif state.refused:
                        report.note = f"not used: {state.refused}"
                    files.append(report)
            if self._store is not None:
                collapsed = self._store.collapsed_per_file()
                for report in files:
                    report.duplicates_collapsed, report.duplicates_differing = collapsed.get(report.path, (0, 0))
            files.extend(FileLoadReport(path, "", "", status="ignored", note="not a file the mirror reads") for path in self._ignored)
            return MirrorLoadReport(folder=str(self.folder), synthetic=self.synthetic,
                                    max_rejected_share=self.max_rejected_share, files=files)

    def check(self) -> MirrorLoadReport:
        """Load every file of every endpoint (as queries would) and return the load report: what
        ``cer doctor`` checks before calling a mirror ready. Refusals are in the report, not raised."""
        with self._lock:
            for endpoint in self.available_endpoints:
                try:
                    self._prepare(self._endpoints[endpoint], ())
                except MirrorError:
                    pass  # recorded in the unit states and the load report
        return self.load_report()

    def close(self) -> None:
        with self._lock:
            if self._store is not None:
                self._store.close()
                self._store = None
                self._state = {u.name: _UnitState() for u in self._units}
                self._refused_endpoints = {}

    def __enter__(self) -> "Mirror":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- loading -----------------------------------------------------------------------------

    def _endpoint(self, name: str) -> EndpointSpec:
        spec = self._endpoints.get(name)
        if spec is None:
            served = ", ".join(sorted(self._endpoints))
            hint = f" (no mirror file format feeds {name}; use the openFDA source for drugs)" if name.startswith("drug/") else ""
            raise MirrorError(f"unknown endpoint {name!r}{hint}; the mirror serves: {served}")
        return spec

    def _prepare(self, spec: EndpointSpec, fields: Sequence[str]) -> list[SourceUnit]:
        """Load the units of ``spec`` that can match a query on ``fields``; raise if any is refused."""
        units = [u for u in self._units if u.endpoint == spec.name and u.format.can_answer(fields)]
        if self._store is None:
            self._store = RecordStore()
        fresh = [u for u in units if not self._state[u.name].loaded and not self._state[u.name].refused]
        for unit in fresh:
            try:
                self._load_unit(unit, spec)
            except MirrorError as exc:
                self._state[unit.name].refused = str(exc)
        if any(self._state[u.name].loaded for u in fresh):
            conflicts = self._store.deduplicate(spec)
            if conflicts:
                self._refuse_conflicts(spec, conflicts)
        reasons = [self._state[u.name].refused for u in units if self._state[u.name].refused]
        if spec.name in self._refused_endpoints:
            reasons.append(self._refused_endpoints[spec.name])
        if reasons:
            raise MirrorError(
                f"{self.folder}: {spec.name} cannot be served: fix or remove what is named below\n  - " + "\n  - ".join(reasons)
            )
        return units

    def _refuse_conflicts(self, spec: EndpointSpec, conflicts: list) -> None:
        listed = "; ".join(c.describe() for c in conflicts[:10]) + (f"; and {len(conflicts) - 10} more" if len(conflicts) > 10 else "")
        self._refused_endpoints[spec.name] = (
            f"{len(conflicts)} key(s) listed more than once with different {' or '.join(spec.must_agree)}, which must agree: "
            f"{listed}. Correct or remove one of the copies"
        )
        involved = {file for c in conflicts for _, file, _ in c.copies}
        for state in self._state.values():
            for report in state.files.values():
                if report.path in involved and report.endpoint == spec.name:
                    report.status, report.refused = "refused", self._refused_endpoints[spec.name]

    def _load_unit(self, unit: SourceUnit, spec: EndpointSpec) -> None:
        started = time.perf_counter()
        state = self._state[unit.name]
        file_format = unit.format
        role = f"mirror {unit.endpoint} ({file_format.name})"
        state.digests = [file_digest(p, self.provenance, role) for p in unit.paths]
        inputs = [file_format.name, file_format.version, *state.digests]
        inputs += [file_digest(p, self.provenance, f"{role} companion") for p in file_format.companions(unit, self.folder)]
        for dependency in file_format.depends_on:
            dependency_units = self._prepare(self._endpoint(dependency), ())
            inputs += [d for u in dependency_units for d in self._state[u.name].digests]
        key = cache_key(inputs)
        cached = self._cache.read(unit.name, key) if spec.cache_conversions else None
        parts: dict[str, Any]
        if cached is not None:
            records, fields, files, stated, parts = cached.records, cached.fields, cached.files, cached.last_updated, cached.parts
        else:
            context = ConversionContext(self.folder, self._live_records)
            conversion = file_format.convert(unit, context)
            records, fields, files, stated = conversion.records, conversion.fields, conversion.files, conversion.last_updated
            parts = conversion.parts
            if spec.cache_conversions:
                self._cache.write(unit.name, key, records, fields, files, stated, parts)
        seconds = round(time.perf_counter() - started, 3)
        limit = spec.max_rejected_share if spec.max_rejected_share is not None else self.max_rejected_share
        refused = []
        for report in files:
            report.status, report.from_cache, report.seconds = "loaded", cached is not None, seconds
            why = refusal(report, limit)
            if why:
                report.status, report.refused = "refused", why
                refused.append(f"{report.path}: {why}")
        state.files = {f.path: f for f in files}
        if refused:
            raise MirrorError("\n  - ".join(refused))
        latest = self._store.add(unit.name, unit.endpoint, file_format.priority, records, fields, dating=spec.dating,
                                 parts=parts, record_sql=file_format.record_sql)
        state.last_updated = iso_date(stated) or iso_date(latest)
        for report in files:
            report.last_updated = state.last_updated
        state.loaded = True

    def _live_records(self, endpoint: str) -> list[dict[str, Any]]:
        """The records of an endpoint, duplicates collapsed, loading (and checking) it first."""
        self._prepare(self._endpoint(endpoint), ())
        return self._store.live_records(endpoint)

    def _last_updated_for(self, units: list[SourceUnit]) -> str | None:
        dates = [self._state[u.name].last_updated for u in units if self._state[u.name].last_updated]
        return max(dates) if dates else self.last_updated

    def _read_manifest(self) -> dict[str, Any]:
        path = self.folder / MANIFEST_NAME
        if not path.is_file():
            return {}
        data = self._load_json(path, role="mirror manifest")
        if not isinstance(data, dict):
            raise MirrorError(f"{path}: expected a JSON object with name, synthetic, last_updated, files; rewrite it")
        return data

    def _load_json(self, path: Path, *, role: str) -> Any:
        if self.provenance is not None:
            self.provenance.record_input(path, role=role)
        return parse_json_file(path)
