"""FAERS-like report rows with planted signals: the generator of issue 10, for tests and benchmarks.

The stream: 40 million iid report rows, each one report naming one product and one term.

- product rank ``p`` (0 = most reported) ~ Zipf(1.2) over 20,000 products: ``P(p) ∝ (p + 1)^-1.2``;
- term rank ``t`` ~ Zipf(1.1) over 15,000 terms, independent of the product;
- 10 % of rows have their term replaced by one of 5 terms fixed per product, chosen uniformly:
  term ``(p·7919 + k) mod 15,000`` for ``k = 0..4``. These (product, term) pairs are the planted
  signals: their reporting ratio is above 1, every other pair's is at most 1 (0.9·Zipf(t)/P(t)).

The table for ``T`` pairs is the shortest prefix of the stream holding exactly ``T`` distinct
(product, term) pairs, so a smaller table is a prefix of a larger one. Names are random permutations
of the ranks (``P07311``, ``T00042``), so names carry no information on rank. Everything is drawn from
fixed seeds, in fixed chunks, with vectorised numpy; memory stays near the prefix's size (two int16
columns) plus a 37.5 MB bitmap of the pairs seen, never 40 million rows at once.

Used by ``tests/test_signals_scale.py`` (100 k pairs) and ``tests/benchmarks.py`` (100 k, 1 M, 2 M).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pandas as pd

N_ROWS = 40_000_000
N_PRODUCTS = 20_000
N_TERMS = 15_000
PRODUCT_EXPONENT = 1.2
TERM_EXPONENT = 1.1
PLANTED_SHARE = 0.10
PLANTED_PER_PRODUCT = 5
PLANTED_STRIDE = 7919
SEED = 20_010_001
NAME_SEED = 7
CHUNK_ROWS = 1_000_000

IntArray = npt.NDArray[np.int64]


def _zipf_cdf(n: int, exponent: float) -> npt.NDArray[np.float64]:
    weights = np.arange(1, n + 1, dtype=float) ** -exponent
    cdf = np.cumsum(weights)
    return cdf / cdf[-1]


def planted_terms(product_rank: npt.ArrayLike) -> IntArray:
    """The 5 planted term ranks of each product rank, shape ``(len(product_rank), 5)``."""
    p = np.asarray(product_rank, dtype=np.int64).reshape(-1, 1)
    return (p * PLANTED_STRIDE + np.arange(PLANTED_PER_PRODUCT)) % N_TERMS


@dataclass(frozen=True)
class ReportRows:
    """The prefix of the stream: one row per report, ranks as int16, names from the permutations."""

    product_rank: npt.NDArray[np.int16]
    term_rank: npt.NDArray[np.int16]
    n_pairs: int

    @property
    def n_rows(self) -> int:
        return int(self.product_rank.size)

    def is_planted_rank(self, product_rank: npt.ArrayLike, term_rank: npt.ArrayLike) -> npt.NDArray[np.bool_]:
        """Whether (product rank, term rank) is a planted signal."""
        planted = planted_terms(product_rank)
        return (planted == np.asarray(term_rank, dtype=np.int64).reshape(-1, 1)).any(axis=1)


def _names() -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    rng = np.random.default_rng(NAME_SEED)
    return rng.permutation(N_PRODUCTS), rng.permutation(N_TERMS)


def product_names(rank: npt.ArrayLike) -> npt.NDArray[np.str_]:
    """``P#####`` names of product ranks (a fixed random permutation)."""
    perm, _ = _names()
    return np.char.add("P", np.char.zfill(perm[np.asarray(rank, dtype=np.int64)].astype(str), 5))


def term_names(rank: npt.ArrayLike) -> npt.NDArray[np.str_]:
    """``T#####`` names of term ranks (a fixed random permutation)."""
    _, perm = _names()
    return np.char.add("T", np.char.zfill(perm[np.asarray(rank, dtype=np.int64)].astype(str), 5))


def ranks_of_names(products: npt.ArrayLike, terms: npt.ArrayLike) -> tuple[IntArray, IntArray]:
    """Invert :func:`product_names` / :func:`term_names` (names back to ranks)."""
    perm_p, perm_t = _names()
    inv_p, inv_t = np.empty_like(perm_p), np.empty_like(perm_t)
    inv_p[perm_p] = np.arange(N_PRODUCTS)
    inv_t[perm_t] = np.arange(N_TERMS)
    p_idx = pd.Series(np.asarray(products)).str.slice(1).astype(np.int64).to_numpy()
    t_idx = pd.Series(np.asarray(terms)).str.slice(1).astype(np.int64).to_numpy()
    return inv_p[p_idx], inv_t[t_idx]


def is_planted(products: npt.ArrayLike, terms: npt.ArrayLike) -> npt.NDArray[np.bool_]:
    """Whether each (product name, term name) pair is a planted signal."""
    p, t = ranks_of_names(products, terms)
    return (planted_terms(p) == t.reshape(-1, 1)).any(axis=1)


def report_rows(n_pairs: int) -> ReportRows:
    """The shortest prefix of the 40-million-row stream holding exactly ``n_pairs`` distinct pairs."""
    if n_pairs < 1:
        raise ValueError("n_pairs must be >= 1")
    rng = np.random.default_rng(SEED)
    cdf_p, cdf_t = _zipf_cdf(N_PRODUCTS, PRODUCT_EXPONENT), _zipf_cdf(N_TERMS, TERM_EXPONENT)
    seen = np.zeros(N_PRODUCTS * N_TERMS // 8 + 1, dtype=np.uint8)  # one bit per (product, term)
    products: list[npt.NDArray[np.int16]] = []
    terms: list[npt.NDArray[np.int16]] = []
    found = 0
    for start in range(0, N_ROWS, CHUNK_ROWS):
        size = min(CHUNK_ROWS, N_ROWS - start)
        p = np.searchsorted(cdf_p, rng.random(size), side="right").astype(np.int64)
        t = np.searchsorted(cdf_t, rng.random(size), side="right").astype(np.int64)
        replace = rng.random(size) < PLANTED_SHARE
        k = rng.integers(0, PLANTED_PER_PRODUCT, size)
        t = np.where(replace, (p * PLANTED_STRIDE + k) % N_TERMS, t)
        key = p * N_TERMS + t
        unique_key, first_row = np.unique(key, return_index=True)
        new = ((seen[unique_key >> 3] >> (unique_key & 7).astype(np.uint8)) & 1) == 0
        first_new = np.sort(first_row[new])
        if found + first_new.size >= n_pairs:
            stop = int(first_new[n_pairs - found - 1]) + 1
            products.append(p[:stop].astype(np.int16))
            terms.append(t[:stop].astype(np.int16))
            return ReportRows(np.concatenate(products), np.concatenate(terms), n_pairs)
        np.bitwise_or.at(seen, unique_key[new] >> 3, np.left_shift(1, unique_key[new] & 7).astype(np.uint8))
        found += first_new.size
        products.append(p.astype(np.int16))
        terms.append(t.astype(np.int16))
    raise ValueError(f"the {N_ROWS:,} rows hold only {found:,} distinct pairs, fewer than {n_pairs:,}")


def write_reports(rows: ReportRows, path: Path) -> Path:
    """Write ``report_id,product,term`` (CSV or Parquet by the suffix) with DuckDB; returns ``path``.

    ``report_id`` is the row number (one report per row).
    """
    import duckdb
    import pyarrow as pa

    perm_p, perm_t = _names()
    table = pa.table({"p": perm_p[rows.product_rank.astype(np.int64)].astype(np.int32),
                      "t": perm_t[rows.term_rank.astype(np.int64)].astype(np.int32)})
    fmt = "FORMAT PARQUET" if path.suffix == ".parquet" else "FORMAT CSV, HEADER"
    con = duckdb.connect()
    try:
        con.register("ranks", table)
        con.execute(
            "COPY (SELECT row_number() OVER () AS report_id, 'P' || lpad(p::VARCHAR, 5, '0') AS product, "
            f"'T' || lpad(t::VARCHAR, 5, '0') AS term FROM ranks) TO '{path}' ({fmt})"
        )
    finally:
        con.close()
    return path
