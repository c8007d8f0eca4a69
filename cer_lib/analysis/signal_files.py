"""Disproportionality at database scale from files: report rows in, one scored row per pair out.

The I/O edge of :mod:`cer_lib.analysis.disproportionality` (what ``cer signals`` runs):

1. read ``report_id, product, term`` from CSV or Parquet with Arrow (a multi-threaded CSV parser;
   product and term dictionary-encoded while they are read, so 12 million rows become three
   integer arrays and two short name lists);
2. 2x2 cells over distinct reports (:func:`cer_lib.analysis.contingency.cells_from_codes`);
3. PRR, ROR, χ², IC; the GPS prior fit (squashed); EBGM, EB05, EB95 for every pair (vectorised);
4. write CSV or Parquet (by the output's suffix) through a temporary file renamed into place.

On long inputs (at least :data:`PROGRESS_MIN_ROWS` rows) each step reports one line with its time.
"""
from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from .contingency import REPORT_COLUMNS, ReportCodes, cells_from_codes
from .disproportionality import SignalResult, SignalSettings, detect_signals

__all__ = ["PROGRESS_MIN_ROWS", "read_report_codes", "signals_file", "write_scores"]

#: Inputs with at least this many rows report a progress line per step.
PROGRESS_MIN_ROWS = 100_000
_FORMATS = {".csv": "CSV", ".parquet": "Parquet", ".pq": "Parquet"}


def _format(path: Path, what: str) -> str:
    try:
        return _FORMATS[path.suffix.lower()]
    except KeyError:
        raise ValueError(f"{what} {path} must end in .csv or .parquet (got {path.suffix or 'no suffix'!r})") from None


def _read_table(path: Path) -> pa.Table:
    if not path.is_file():
        raise FileNotFoundError(f"{path} does not exist")
    if _format(path, "the reports file") == "Parquet":
        try:
            names = pq.read_schema(path).names
            return pq.read_table(path, read_dictionary=[c for c in ("product", "term") if c in names])
        except pa.ArrowInvalid as exc:
            raise ValueError(f"{path} is not a readable Parquet file: {exc}") from None
    if path.stat().st_size == 0:
        raise ValueError(f"{path} is empty: expected a CSV with columns {', '.join(REPORT_COLUMNS)}")
    text = pa.dictionary(pa.int32(), pa.string())
    try:
        return pacsv.read_csv(
            path,
            convert_options=pacsv.ConvertOptions(
                column_types={"product": text, "term": text}, null_values=[""], strings_can_be_null=True,
            ),
        )
    except pa.ArrowInvalid as exc:
        raise ValueError(f"{path} is not a readable CSV file: {exc}") from None


def _sorted_codes(column: pa.ChunkedArray) -> tuple[npt.NDArray[np.int32], pd.Series]:
    """Codes (−1 where missing) into the sorted distinct names of a text column."""
    dictionary = pa.dictionary(pa.int32(), pa.string())
    if not pa.types.is_dictionary(column.type):
        column = pc.dictionary_encode(column.cast(pa.string()))
    column = pa.table({"x": column.cast(dictionary)}).unify_dictionaries()["x"]
    if column.num_chunks == 0:
        return np.empty(0, dtype=np.int32), pd.Series([], dtype="str")
    names = column.chunk(0).dictionary
    indices = pa.chunked_array([c.indices for c in column.chunks], type=pa.int32()).combine_chunks()
    codes = pc.fill_null(indices, -1).to_numpy(zero_copy_only=False)
    order = np.asarray(pc.array_sort_indices(names), dtype=np.int64)
    rank = np.empty(len(names) + 1, dtype=np.int32)
    rank[order] = np.arange(len(names))
    rank[-1] = -1  # code −1 (missing) stays −1
    return rank[codes], pd.Series(names.take(pa.array(order)).to_pandas(), dtype="str")


def _integer_report_codes(ids: npt.NDArray[np.integer]) -> tuple[npt.NDArray[np.int64], int]:
    """Codes 0..n−1 of integer report ids; a linear pass when the file lists them in order (the usual case)."""
    if ids.size and np.all(ids[1:] >= ids[:-1]):
        codes = np.cumsum(np.r_[True, ids[1:] != ids[:-1]]) - 1
        return codes, int(codes[-1]) + 1
    codes, distinct = pd.factorize(ids, sort=False)
    return codes.astype(np.int64), len(distinct)


def read_report_codes(path: str | os.PathLike[str]) -> ReportCodes:
    """Read ``report_id, product, term`` rows (CSV or Parquet) as integer codes.

    Raises ``FileNotFoundError``, or ``ValueError`` saying what is wrong: an unknown suffix, an
    empty file, a header without rows, missing columns (named), rows without a report_id.
    """
    path = Path(path)
    table = _read_table(path)
    missing = [c for c in REPORT_COLUMNS if c not in table.column_names]
    if missing:
        raise ValueError(
            f"{path} is missing column(s) {', '.join(repr(c) for c in missing)}; it needs "
            f"{', '.join(REPORT_COLUMNS)} (found: {', '.join(table.column_names) or 'none'})"
        )
    if table.num_rows == 0:
        raise ValueError(f"{path} has a header but no rows")
    report = table["report_id"]
    if report.null_count:
        raise ValueError(f"{path} has {report.null_count} rows without a report_id")
    if pa.types.is_integer(report.type):
        report_codes, n_reports = _integer_report_codes(report.to_numpy())
    else:
        encoded = pc.dictionary_encode(report.cast(pa.string())).combine_chunks()
        report_codes, n_reports = encoded.indices.to_numpy().astype(np.int64), len(encoded.dictionary)
    product, products = _sorted_codes(table["product"])
    term, terms = _sorted_codes(table["term"])
    return ReportCodes(report=np.asarray(report_codes, dtype=np.int64), product=product, term=term,
                       products=products, terms=terms, n_reports=int(n_reports))


def write_scores(table: pd.DataFrame, path: str | os.PathLike[str], *, batch_rows: int = 250_000) -> None:
    """Write a scored table as CSV or Parquet (by suffix) through a temporary file and a rename.

    Written in batches of ``batch_rows`` (the Arrow copy of a batch, never of the whole table).
    Missing values (NaN) are empty fields in CSV and nulls in Parquet; floats keep every digit
    (shortest round-trip form); text values are quoted in CSV.
    """
    path = Path(path)
    fmt = _format(path, "the output file")
    schema = pa.Schema.from_pandas(table.iloc[:0], preserve_index=False)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        writer = (pq.ParquetWriter(tmp, schema) if fmt == "Parquet"
                  else pacsv.CSVWriter(tmp, schema, write_options=pacsv.WriteOptions(quoting_header="none")))
        with writer:
            for start in range(0, max(len(table), 1), batch_rows):
                batch = pa.Table.from_pandas(table.iloc[start:start + batch_rows], schema=schema, preserve_index=False)
                writer.write_table(batch)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def signals_file(
    reports_path: str | os.PathLike[str],
    out_path: str | os.PathLike[str],
    settings: SignalSettings | None = None,
    progress: Callable[[str], None] | None = None,
) -> SignalResult:
    """Score a file of ``report_id, product, term`` rows and write one row per (product, term).

    CSV or Parquet in and out (by suffix). The output has the columns of
    :func:`cer_lib.analysis.disproportionality.score_table` (the first 19 exactly
    ``SCORE_COLUMNS``), sorted by product and term, written atomically. ``progress`` receives one
    line per step when the input has at least :data:`PROGRESS_MIN_ROWS` rows.
    """
    reports_path, out_path = Path(reports_path), Path(out_path)
    _format(out_path, "the output file")
    started = time.perf_counter()
    codes = read_report_codes(reports_path)
    say = progress if progress is not None and codes.n_rows >= PROGRESS_MIN_ROWS else None

    def step(text: str, since: float) -> float:
        now = time.perf_counter()
        if say is not None:
            say(f"{text} ({now - since:.1f} s)")
        return now

    t = step(f"read {codes.n_rows:,} report rows ({codes.n_reports:,} reports, {len(codes.products):,} products, "
             f"{len(codes.terms):,} terms) from {reports_path.name}", started)
    table = cells_from_codes(codes)
    del codes
    t = step(f"2x2 cells for {len(table):,} product-term pairs", t)
    result = detect_signals(
        table,
        settings=settings,
        data_description=f"distinct reports (report_id) in {reports_path.name}.",
        progress=say,
    )
    t = time.perf_counter()
    write_scores(result.table, out_path)
    step(f"wrote {out_path}", t)
    return result
