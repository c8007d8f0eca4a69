"""A local mirror of openFDA data: bulk files in a folder, queried through DuckDB.

`Mirror` implements `Source` (``search`` / ``count`` / ``total``) over a folder of downloaded
files, so the collect stage runs offline and gets the same openFDA-shaped records it would get
from the API. Files are read lazily, on the first query that needs them; every file read is
recorded with `Provenance.record_input`.

Mirror folder layout (each place belongs to a registered file format, `formats`)::

    mirror.json                  {"name", "synthetic": bool, "created", "description",
                                  "last_updated": "YYYY-MM-DD", "files": [{"path", "sha256", ...}]}
    device/<endpoint>/*.json[.zip]   openFDA bulk download JSON              (formats.openfda_json)
    device/<endpoint>/*.csv          publisher-flattened '|' CSV             (formats.publisher_csv)
    classification/foiclass.txt[.zip]  FDA product classification        (formats.foiclass)
    maude/                       MAUDE flat files, joined into device/event  (formats.maude_flat)
    maude-sheets/*.xlsx          publisher MAUDE sheets, no product code     (formats.maude_sheet)
    eudamed/*.json               Eudamed device records (`Mirror.eudamed_records`)
    .derived/                    written by the mirror: Parquet conversions of large units,
                                 keyed by the sha256 of their inputs (`cache`; safe to delete)

The package, one concept per module:

- `source`: `Mirror`, the `Source`; lazy loading, refusal of unusable files, `Mirror.load_report`.
- `formats`: the file-format registry (`formats.mirror_formats`) and one module per format;
  `formats.base` documents the interface and how to add a format (FAERS: one file, one line).
- `endpoints`: per openFDA endpoint, the searchable fields, record key, required fields,
  fields that copies must agree on, and how strictly its files are read.
- `engine` (the DuckDB tables, search/count/total), `query` (openFDA query semantics as SQL),
  `dedup` (one record per key, the fullest source first; conflicting copies), `record_tables`
  (openFDA-shaped records -> Arrow tables), `cache` (``.derived/``).
- `load_report` (what loading did, per file; when a file is refused), `textfiles` (bytes, zip
  members, detected encodings, delimiter checks), `dates`.

Semantics match openFDA's (details in `query` and `engine`): exact and analysed-text matches,
date ranges, counts of distinct records per day or term, deterministic sort ties. ``last_updated``
of a result is the latest date the consulted files state (openFDA's ``meta.last_updated``, else
their latest record date), else ``mirror.json``'s.

Never quietly wrong: a file that cannot be read as intended (wrong encoding or delimiter, missing
columns, no usable rows, more rejected rows than ``max_rejected_share``, a key whose copies
disagree on a field that must agree) stops every query of its endpoint with a `MirrorError`
naming the file, the line and the reason; smaller rejections are listed per file in
`Mirror.load_report` (a `MirrorLoadReport`, ``as_dict()`` for the run's files).
"""
from __future__ import annotations

from .endpoints import DEVICE_ENDPOINTS, EndpointSpec, FieldSpec
from .formats import FileFormat, mirror_formats
from .formats.maude_sheet import read_xlsx_rows, split_problem_terms
from .load_report import DEFAULT_MAX_REJECTED_SHARE, FileLoadReport, MirrorLoadReport, Rejection
from .record_tables import values_at
from .source import MANIFEST_NAME, Mirror

__all__ = [
    "Mirror", "MirrorLoadReport", "FileLoadReport", "Rejection", "DEFAULT_MAX_REJECTED_SHARE", "MANIFEST_NAME",
    "mirror_formats", "FileFormat", "EndpointSpec", "FieldSpec", "DEVICE_ENDPOINTS",
    "read_xlsx_rows", "split_problem_terms", "values_at",
]
