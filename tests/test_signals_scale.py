"""Signals at database scale (issue 10) on the generator's 100,000-pair table with planted signals.

`make bench` repeats the comparison at 1 and 2 million pairs with times and memory; here the
properties: the command reads CSV and writes Parquet with a progress line per step, the prior fit is
sound (the explicit alpha2 -> 0 limit, every start agreeing), and EB05 ranks the planted signals
at least as well as vigipy's GPS on the same cells.
"""
from __future__ import annotations

import math
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import planted_signals
from cer_lib.analysis.disproportionality import SignalSettings
from cer_lib.analysis.ebgm import PriorFit
from cer_lib.analysis.signal_files import signals_file

pytestmark = pytest.mark.slow
N_PAIRS = 100_000


@pytest.fixture(scope="module")
def reports(tmp_path_factory: pytest.TempPathFactory) -> Path:
    rows = planted_signals.report_rows(N_PAIRS)
    return planted_signals.write_reports(rows, tmp_path_factory.mktemp("planted") / "reports.csv")


@pytest.fixture(scope="module")
def scored(reports: Path, tmp_path_factory: pytest.TempPathFactory):  # noqa: ANN201 - SignalResult
    return signals_file(reports, tmp_path_factory.mktemp("scored") / "signals.parquet", SignalSettings())


def test_command_reads_csv_writes_parquet_with_progress(reports: Path, tmp_path: Path) -> None:
    out = tmp_path / "signals.parquet"
    done = subprocess.run([sys.executable, "-m", "cer_lib", "signals", "--reports", str(reports), "--out", str(out)],
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    steps = [line for line in done.stderr.splitlines() if line.startswith("signals: ")]
    for what in ("read 2", "2x2 cells for 100,000", "prior fit on 100,000 pairs", "PRR, ROR", "EBGM, EB05, EB95", "wrote"):
        assert any(what in line for line in steps), (what, steps)
    assert all(line.rstrip().endswith(" s)") for line in steps)
    table = pd.read_parquet(out)
    assert len(table) == N_PAIRS and not table.duplicated(["product", "term"]).any()
    assert "signals by the primary screen EB05 >= 2" in done.stdout and "prior: fitted" in done.stdout


def test_prior_is_the_explicit_limit_and_every_start_agrees(scored) -> None:  # noqa: ANN001
    fit = scored.prior_fit
    assert isinstance(fit, PriorFit) and fit.converged and fit.limit is not None and not fit.at_boundary
    assert fit.n_at_optimum == fit.n_starts == 6 and fit.neg_log_likelihood_spread < 1e-3
    assert scored.prior.source == "fitted" and scored.prior.prior.is_limit
    table = scored.table
    assert not (table["signal"] & (table["EB05"] > table["EBGM"])).any()


def _average_precision(score: np.ndarray, truth: np.ndarray) -> float:
    order = np.argsort(-score, kind="stable")
    hits = truth[order]
    return float((np.cumsum(hits)[hits] / (np.flatnonzero(hits) + 1)).mean())


def test_eb05_ranks_planted_signals_at_least_as_well_as_vigipy(scored) -> None:  # noqa: ANN001
    """Against vigipy 3.5.1's GPS (its own prior fit, Nelder-Mead, whole-mixture truncation) on the
    same cells. Measures, printed: precision among the top K pairs by EB05 (K = vigipy's number of
    pairs with EB05 >= 2), flags among pairs that are not planted signals, and the average
    precision over the whole ranking (every planted pair).

    At 100,000 pairs the two rankings agree on all but a few pairs at the K-th place, where EB05
    values differ in the third digit (both about 10): which of them wins there is chance. The
    test holds ours to vigipy's precision at K and false flags within two binomial (Poisson)
    standard errors, and to at least vigipy's average precision, which measures the whole ranking.
    """
    from vigipy.GPS.GPS import gps
    from vigipy.utils.Container import DataContainer

    table = scored.table
    truth = planted_signals.is_planted(table["product"].to_numpy(), table["term"].to_numpy())
    data = pd.DataFrame({"events": table["a"].to_numpy(), "product_aes": (table["a"] + table["b"]).to_numpy(),
                         "count_across_brands": (table["a"] + table["c"]).to_numpy(),
                         "ae_name": table["term"].astype(object).to_numpy(),
                         "product_name": table["product"].astype(object).to_numpy()})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = gps(DataContainer(data=data, N=int(table["N"].iloc[0])), min_events=1, decision_metric="rank",
                  decision_thres=1.0, ranking_statistic="quantile")
    theirs = (table[["product", "term"]].merge(
        ref.all_signals.rename(columns={"Product": "product", "Adverse Event": "term"}), on=["product", "term"], how="left"
    )["LowerBound"].to_numpy())
    assert np.isfinite(theirs).all()
    ours = table["EB05"].to_numpy()
    k = int((theirs >= 2).sum())
    top_ours, top_theirs = np.argsort(-ours, kind="stable")[:k], np.argsort(-theirs, kind="stable")[:k]
    precision_ours, precision_theirs = truth[top_ours].mean(), truth[top_theirs].mean()
    false_ours = int((table["signal"].to_numpy() & ~truth).sum())
    false_theirs = int(((theirs >= 2) & ~truth).sum())
    ap_ours, ap_theirs = _average_precision(ours, truth), _average_precision(theirs, truth)
    print(f"\n{N_PAIRS:,} pairs, {truth.sum():,} planted; vigipy prior {[float(f'{v:.4g}') for v in ref.params['prior_param']]} "
          f"({ref.params['convergence']}); ours {scored.prior.prior.to_dict()}")
    print(f"precision at K = {k}: ours {precision_ours:.4f}, vigipy {precision_theirs:.4f}; false flags: ours "
          f"{false_ours}, vigipy {false_theirs}; average precision: ours {ap_ours:.4f}, vigipy {ap_theirs:.4f}")
    assert precision_ours >= 0.99
    assert precision_ours >= precision_theirs - 2 * math.sqrt(precision_theirs * (1 - precision_theirs) / k)
    assert false_ours <= false_theirs + 2 * math.sqrt(false_theirs + 1)
    assert ap_ours >= ap_theirs
