"""The file-format interface: how a format recognises its files, which endpoints it feeds, and how it
converts them into what the query engine loads.

Formats are registered once, by name, in `cer_lib.sources.mirror.formats` (as papermill registers
its engines); the mirror asks the registry which files are there and which format reads each, and
never branches on a format itself. To add a format (FAERS quarterly ASCII, feeding ``drug/event``):

1. a module in this folder with a `FileFormat` subclass that sets

   - ``name`` (used in load reports, provenance roles and cache keys) and ``priority`` (when two
     sources hold the same record, the lower number's copy is kept: the fullest source first);
   - ``folders``: where its files live, as globs relative to the mirror folder (files there that no
     format reads are listed as ignored);
   - ``feeds``: the `EndpointSpec` of each endpoint it feeds (a new endpoint's spec is defined in
     the module: searchable fields, record key, the field whose newest value wins a duplicate -
     a FAERS case version -, required fields, strictness);

   and implements ``units(folder)`` (its files, grouped into the units that are loaded together: one
   file, or files joined into one set of records) and ``convert(unit, context)``, which returns a
   `Conversion`: openFDA-shaped records through `Conversion.of_records`, or the two tables built
   directly, and one `FileLoadReport` per file read (rows read, kept, repaired, rejected with line
   and reason). A file that cannot be read as intended raises `MirrorError` naming the file, the
   line and the reason; rejected rows are counted, and the mirror refuses a file that loses too many.
   A format whose units are too large to hold every record as JSON (a FAERS quarter: 400 000 cases)
   returns the records table with ``record_json`` empty, the tables the records are made of as
   ``Conversion.parts``, and implements ``record_sql``: the engine then builds the JSON of only the
   records a search returns.
   Optional: ``answers`` (the fields its records can match: a query on others never loads it),
   ``depends_on`` (endpoints whose records the conversion reads), ``companions`` (other files it
   reads), ``stated_date`` (how current a file says it is, read cheaply), ``version``.
2. one line in ``formats/__init__.py``: ``mirror_formats.register(FaersAsciiFormat())``.

``tests/test_mirror_reliability.py::test_a_new_file_format_is_one_class_and_one_registration``
is a worked example: a minimal FAERS DEMO/REAC reader on the real 2017Q2 files.
"""
from __future__ import annotations

import abc
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, ClassVar, Mapping, Sequence

import pyarrow as pa

from ..endpoints import EndpointSpec
from ..load_report import FileLoadReport
from ..record_tables import clean_values, record_tables, values_at

__all__ = ["FileFormat", "SourceUnit", "Conversion", "ConversionContext", "relative_path"]


def relative_path(path: Path, root: Path) -> str:
    """``path`` relative to ``root`` in POSIX form (as the mirror names files), or as given."""
    try:
        return Path(path).relative_to(root).as_posix()
    except ValueError:
        return Path(path).as_posix()


@dataclass(frozen=True)
class SourceUnit:
    """Files one format loads together into one endpoint."""

    name: str  # the file's path relative to the mirror folder, or a folder ("maude/") for joined files
    endpoint: str
    format: "FileFormat"
    paths: tuple[Path, ...]


@dataclass
class ConversionContext:
    """What a conversion may ask the mirror for."""

    folder: Path
    live_records: Callable[[str], list[dict[str, Any]]]  # a `depends_on` endpoint's records, duplicates collapsed

    def rel(self, path: Path) -> str:
        return relative_path(path, self.folder)


@dataclass
class Conversion:
    """A unit converted: the records and fields tables (`record_tables` schemas) and a report per file;
    ``parts``: the tables its records are built from on demand (`FileFormat.record_sql`), by name,
    when the records table leaves ``record_json`` empty."""

    records: pa.Table
    fields: pa.Table
    files: list[FileLoadReport]
    last_updated: str | None = None  # how current the files say they are (YYYY-MM-DD or YYYYMMDD)
    parts: dict[str, pa.Table] = field(default_factory=dict)

    @classmethod
    def of_records(
        cls,
        endpoint: EndpointSpec,
        records: Sequence[dict[str, Any]],
        sources: Sequence[str],
        files: list[FileLoadReport],
        *,
        lines: Sequence[int | None] | None = None,
        last_updated: str | None = None,
    ) -> "Conversion":
        """Tables of openFDA-shaped ``records`` (``sources[i]``: the file of record i, one of ``files``).

        A record without a value for one of the endpoint's required field groups is rejected in its
        file's report (``rows_kept`` there counts the records passed in) and left out.
        """
        by_path = {f.path: f for f in files}
        kept: list[int] = []
        for i, record in enumerate(records):
            missing = [group for group in endpoint.required if not any(clean_values(values_at(record, p)) for p in group)]
            if missing:
                report = by_path[sources[i]]
                report.rows_kept -= 1
                report.reject(lines[i] if lines is not None else None, "no " + " and no ".join(" or ".join(g) for g in missing))
                continue
            kept.append(i)
        if len(kept) < len(records):
            records = [records[i] for i in kept]
            sources = [sources[i] for i in kept]
            lines = [lines[i] for i in kept] if lines is not None else None
        records_table, fields_table = record_tables(endpoint, records, sources, lines)
        return cls(records_table, fields_table, files, last_updated)


class FileFormat(abc.ABC):
    """One kind of mirror file (see the module docstring for what a format declares)."""

    name: ClassVar[str]
    priority: ClassVar[int]
    folders: ClassVar[tuple[str, ...]]
    feeds: ClassVar[tuple[EndpointSpec, ...]]
    answers: ClassVar[frozenset[str] | None] = None  # None: any query may match its records
    depends_on: ClassVar[tuple[str, ...]] = ()
    version: ClassVar[str] = "1"  # bump when the conversion changes: invalidates .derived/

    @abc.abstractmethod
    def units(self, folder: Path) -> list[SourceUnit]:
        """The units of this format in the mirror ``folder`` (no reading beyond names and sizes)."""

    @abc.abstractmethod
    def convert(self, unit: SourceUnit, context: ConversionContext) -> Conversion:
        """Read and convert ``unit``; `MirrorError` naming file, line and reason when it cannot be read."""

    def record_sql(self, parts: Mapping[str, str], wanted: str) -> str | None:
        """SQL selecting ``row_no, record_json`` of the records whose ``row_no`` is in the table
        ``wanted``, from the unit's ``Conversion.parts`` (``parts``: part name -> the table holding it);
        None (the default) when the records table carries every record's JSON."""
        return None

    def companions(self, unit: SourceUnit, folder: Path) -> list[Path]:
        """Files outside the unit whose content changes its conversion (cache key, run inputs)."""
        return []

    def stated_date(self, unit: SourceUnit) -> str | None:
        """How current the unit's files say they are, read without converting them; None if they do not say."""
        return None

    def endpoint(self, name: str) -> EndpointSpec:
        """The spec of an endpoint this format feeds."""
        return next(spec for spec in self.feeds if spec.name == name)

    def can_answer(self, fields: Sequence[str]) -> bool:
        """Whether records of this format can match a query on ``fields``."""
        return self.answers is None or all(name in self.answers for name in fields)

    def endpoint_files(self, folder: Path) -> list[tuple[str, Path]]:
        """``(endpoint, file)`` for the files of ``<folder>/<endpoint>/`` of each endpoint this format
        feeds (hidden files left out), in name order: for formats kept in openFDA's own layout."""
        found = []
        for spec in self.feeds:
            place = folder / spec.name
            if place.is_dir():
                found += [(spec.name, p) for p in sorted(place.iterdir()) if p.is_file() and not p.name.startswith(".")]
        return found

    def unit(self, folder: Path, endpoint: str, paths: Sequence[Path], name: str | None = None) -> SourceUnit:
        """A unit of this format (named by its single file's path unless ``name`` is given)."""
        return SourceUnit(name or relative_path(paths[0], folder), endpoint, self, tuple(paths))

    def __repr__(self) -> str:
        return f"<file format {self.name}>"

