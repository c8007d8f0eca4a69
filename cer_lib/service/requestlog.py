"""What a finished (or failed) run's request log says, for the workers' counters (`cer_lib.service.metrics`):
answers from the HTTP cache and from the network, and openFDA's 429 Too Many Requests answers."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..provenance import Provenance

OPENFDA = "openfda"
TOO_MANY_REQUESTS = 429


@dataclass(frozen=True)
class RequestCounts:
    """What one run's request log says, for the counters: HTTP-cache use and openFDA's refusals."""

    cache_hits: int
    cache_misses: int
    openfda_rate_limited: int


def request_counts(run_dir: Path) -> RequestCounts:
    """Answers (a status, not a connection failure) from the HTTP cache and from the network, and
    openFDA's 429 answers (each attempt counts: a retried 429 is one more), in a run's request log."""
    answers = [r for r in Provenance(run_dir / "provenance").requests() if r.get("status") is not None]
    hits = sum(1 for r in answers if r.get("from_cache"))
    refused = sum(1 for r in answers if r.get("source") == OPENFDA and r.get("status") == TOO_MANY_REQUESTS)
    return RequestCounts(hits, len(answers) - hits, refused)
