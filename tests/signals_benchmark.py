"""Benchmark section 4 (issue 10): disproportionality at database scale, ours beside vigipy's GPS.

For the generator's tables of 100 k, 1 M and 2 M (product, term) pairs (``planted_signals``, one
report per row), each run in a fresh process whose wall time and peak memory (``wait4`` rusage of
the process) are measured:

- ours: read, 2x2 cells, PRR, ROR, IC, prior fit, EBGM/EB05/EB95 for every pair, write
  (``signals_file``, what ``cer signals`` runs), CSV to CSV and Parquet to Parquet;
- vigipy 3.5.1: read the CSV with pandas, count the pairs, ``convert`` and ``gps`` (its prior fit,
  ``min_events=1`` so every pair is scored), write the CSV: the same computation by its documented path.

Printed: times and peak memory with the ratios ours/vigipy, both fitted priors with whether each
converged, the planted-signal precision of both (precision among the top K pairs by EB05, K =
vigipy's number of pairs with EB05 >= 2; flags among pairs that are not planted; average precision
over the whole ranking), and our squashed prior fit against the unsquashed fit on the same pairs.

Run alone: ``.venv/bin/python tests/signals_benchmark.py [100000 1000000 2000000]``.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
import planted_signals  # noqa: E402

SIZES = (100_000, 1_000_000, 2_000_000)
TARGET_SECONDS, TARGET_GB = 30.0, 2.0


def _run_child(args: list[str]) -> tuple[float, float, dict, str]:
    """Run this file as a child process: (wall seconds, peak resident GB, the JSON it prints last, its stderr)."""
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        started = time.perf_counter()
        proc = subprocess.Popen([sys.executable, __file__, *args], stdout=out, stderr=err, text=True)
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - started
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read(), err.read()
    if status != 0:
        raise RuntimeError(f"{args[0]} failed:\n{stderr[-3000:]}")
    return seconds, usage.ru_maxrss / 1024**2, json.loads(stdout.strip().splitlines()[-1]), stderr


def _child_ours(reports: str, out: str) -> None:
    from cer_lib.analysis.signal_files import signals_file

    result = signals_file(reports, out, progress=lambda line: print(f"    {line}", file=sys.stderr))
    fit = result.prior_fit
    print(json.dumps({"prior": result.prior.prior.to_dict() if result.prior.prior else None, "source": result.prior.source,
                      "converged": bool(getattr(fit, "converged", False)), "limit": getattr(fit, "limit", None) is not None,
                      "n_points": getattr(fit, "n_points", None), "spread": getattr(fit, "neg_log_likelihood_spread", None),
                      "n_at_optimum": getattr(fit, "n_at_optimum", None), "n_starts": getattr(fit, "n_starts", None)}))


def _child_vigipy(reports: str, out: str) -> None:
    import warnings

    from vigipy import convert, gps

    rows = pd.read_csv(reports)
    counts = rows.groupby(["product", "term"]).size().rename("count").reset_index()
    del rows
    container = convert(counts, product_label="product", ae_label="term", count_label="count")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = gps(container, min_events=1, decision_metric="rank", decision_thres=1.0, ranking_statistic="quantile")
    result.all_signals.to_csv(out, index=False)
    print(json.dumps({"prior": [float(v) for v in result.params["prior_param"]],
                      "message": str(result.params["convergence"])}))


def _average_precision(score: np.ndarray, truth: np.ndarray) -> float:
    order = np.argsort(-score, kind="stable")
    hits = truth[order]
    return float((np.cumsum(hits)[hits] / (np.flatnonzero(hits) + 1)).mean())


def _ranking(ours_csv: Path, vigipy_csv: Path) -> dict[str, float]:
    ours = pd.read_csv(ours_csv, usecols=["product", "term", "EB05", "signal"])
    theirs = pd.read_csv(vigipy_csv, usecols=["Product", "Adverse Event", "LowerBound"]).rename(
        columns={"Product": "product", "Adverse Event": "term"})
    both = ours.merge(theirs, on=["product", "term"], how="inner")
    truth = planted_signals.is_planted(both["product"].to_numpy(), both["term"].to_numpy())
    k = int((both["LowerBound"] >= 2).sum())
    out = {"pairs": len(both), "planted": int(truth.sum()), "K": k}
    for name, score, flags in (("ours", both["EB05"].to_numpy(), both["signal"].to_numpy(bool)),
                               ("vigipy", both["LowerBound"].to_numpy(), both["LowerBound"].to_numpy() >= 2)):
        top = np.argsort(-score, kind="stable")[:k]
        out[f"{name}_precision"] = float(truth[top].mean())
        out[f"{name}_true_flags"] = int((flags & truth).sum())
        out[f"{name}_false_flags"] = int((flags & ~truth).sum())
        out[f"{name}_ap"] = _average_precision(score, truth)
    return out


def _squash_check(ours_csv: Path, squashed_prior: dict) -> str:
    """Our squashed fit against the unsquashed fit (2 starts) on the same pairs."""
    from cer_lib.analysis.ebgm import GammaMixturePrior, fit_prior, negative_log_likelihood

    table = pd.read_csv(ours_csv, usecols=["a", "E"])
    n, e = table["a"].to_numpy(float), table["E"].to_numpy(float)
    started = time.perf_counter()
    full = fit_prior(n, e, squash=False, n_starts=2, truncation="whole-mixture")
    seconds = time.perf_counter() - started
    squashed = GammaMixturePrior(**squashed_prior)
    lost = negative_log_likelihood(squashed, n, e, truncation="whole-mixture") - full.neg_log_likelihood
    return (f"unsquashed fit ({seconds:.0f} s, {'converged' if full.converged else 'NOT converged'}"
            f"{', limit' if full.limit else ''}): {_theta(full.prior.to_dict())}; the squashed prior is "
            f"{lost:.2f} log-likelihood units below it on all {len(n):,} pairs")


def _theta(prior: dict | list | None) -> str:
    if prior is None:
        return "none"
    if isinstance(prior, list):
        return "(" + ", ".join(f"{v:.4g}" for v in prior) + ")"
    text = ", ".join(f"{k}={v:.4g}" for k, v in prior.items())
    return text


def bench_signals(sizes: tuple[int, ...] = SIZES) -> None:
    title = "4. Disproportionality at database scale (issue 10): ours beside vigipy's GPS on planted-signal tables"
    print(f"\n{title}\n{'-' * len(title)}")
    print(f"targets for 2,000,000 pairs: <= {TARGET_SECONDS:.0f} s and <= {TARGET_GB:.0f} GB; times are wall clock of a "
          "fresh process (imports included), memory its peak resident set")
    rows_out = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        for n_pairs in sizes:
            rows = planted_signals.report_rows(n_pairs)
            csv, parquet = folder / f"r{n_pairs}.csv", folder / f"r{n_pairs}.parquet"
            planted_signals.write_reports(rows, csv)
            planted_signals.write_reports(rows, parquet)
            print(f"\n{n_pairs:,} pairs from {rows.n_rows:,} report rows")
            del rows
            t_csv, m_csv, ours, steps = _run_child(["ours", str(csv), str(folder / "ours.csv")])
            t_pq, m_pq, _, _ = _run_child(["ours", str(parquet), str(folder / "ours.parquet")])
            t_v, m_v, theirs, _ = _run_child(["vigipy", str(csv), str(folder / "vigipy.csv")])
            rank = _ranking(folder / "ours.csv", folder / "vigipy.csv")
            state = ("converged" + (" (alpha2 -> 0 limit)" if ours["limit"] else "") if ours["converged"] else "NOT converged")
            print(f"  ours   CSV->CSV {t_csv:6.1f} s {m_csv:5.2f} GB; Parquet->Parquet {t_pq:6.1f} s {m_pq:5.2f} GB; steps (CSV):")
            print("\n".join(f"    {line.removeprefix('    ')}" for line in steps.splitlines() if line.strip()))
            print(f"  vigipy CSV->CSV {t_v:6.1f} s {m_v:5.2f} GB;  ratios ours/vigipy: time {t_csv / t_v:.2f}, memory {m_csv / m_v:.2f}")
            print(f"  prior, ours ({ours['source']}, {state}; {ours['n_at_optimum']} of {ours['n_starts']} starts at the "
                  f"best optimum, spread {ours['spread']:.2g}; {ours['n_points']:,} squashed points): {_theta(ours['prior'])}")
            converged_v = "converged" if "success" in theirs["message"].lower() or "terminated successfully" in theirs["message"].lower() else "NOT converged"
            print(f"  prior, vigipy ({converged_v}: {theirs['message']}): {_theta(theirs['prior'])}")
            print(f"  planted signals: {rank['planted']:,} of {rank['pairs']:,} pairs; K = {rank['K']:,}")
            for name in ("ours", "vigipy"):
                print(f"    {name:<6} precision at K {rank[f'{name}_precision']:.4f}; EB05 >= 2 flags {rank[f'{name}_true_flags']:,} "
                      f"planted, {rank[f'{name}_false_flags']:,} not planted; average precision {rank[f'{name}_ap']:.4f}")
            if ours["prior"] is not None:
                print("  " + _squash_check(folder / "ours.csv", ours["prior"]))
            rows_out.append((n_pairs, t_csv, m_csv, t_pq, m_pq, t_v, m_v, rank))
    print("\nsummary")
    print(f"{'pairs':>10} {'ours s':>7} {'ours GB':>8} {'parquet s':>9} {'vigipy s':>9} {'vigipy GB':>9} {'time ratio':>10} "
          f"{'mem ratio':>9} {'prec@K ours':>11} {'vigipy':>7} {'AP ours':>8} {'vigipy':>7}")
    for n_pairs, t_csv, m_csv, t_pq, _m_pq, t_v, m_v, rank in rows_out:
        print(f"{n_pairs:>10,} {t_csv:>7.1f} {m_csv:>8.2f} {t_pq:>9.1f} {t_v:>9.1f} {m_v:>9.2f} {t_csv / t_v:>10.2f} "
              f"{m_csv / m_v:>9.2f} {rank['ours_precision']:>11.4f} {rank['vigipy_precision']:>7.4f} "
              f"{rank['ours_ap']:>8.4f} {rank['vigipy_ap']:>7.4f}")


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "ours":
        _child_ours(sys.argv[2], sys.argv[3])
    elif len(sys.argv) > 1 and sys.argv[1] == "vigipy":
        _child_vigipy(sys.argv[2], sys.argv[3])
    else:
        bench_signals(tuple(int(a) for a in sys.argv[1:]) or SIZES)
