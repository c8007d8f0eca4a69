"""Where the baseline and the monitoring window lie, and the in-control rate estimated from the baseline.

Every comparison of recent reporting with "usual" reporting (the trend-reporting verdict, the
c-chart, the CUSUM, the share tests) uses the same two windows of complete months:

- the **monitoring window**: the most recent ``recent_months`` complete months (phase II, the
  months that can signal);
- the **baseline**: the ``baseline_months`` complete months immediately before it (phase I, the
  months that estimate the in-control rate). Placing it just before the monitoring window, not at
  the start of a long series, keeps slow growth in use from piling up between the two windows.

When fewer than ``recent_months + baseline_months`` complete months exist but at least
``min_baseline_months`` precede the monitoring window, all of them form a *reduced baseline* (the
results say so); with fewer, there is no baseline.

Phase I (Montgomery, *Introduction to Statistical Quality Control*, 7th ed., ch. 7, trial control
limits): the baseline rate and c-chart limits are computed, baseline months beyond the limits are
set aside as out of control, and the rate and limits are recomputed from the remaining months until
no further month falls outside. The months set aside are reported (phase-I flags); they are never
signals.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

__all__ = ["BASELINE_LABELS", "PhaseOne", "TrendWindows", "pearson_dispersion", "phase_one_rate", "probability_at_least_one",
           "trend_windows",
           "window_dates"]

BASELINE_LABELS = {False: "full baseline", True: "reduced baseline"}


@dataclass(frozen=True)
class TrendWindows:
    """Baseline and monitoring windows as index ranges into the complete months."""

    status: str  # "ok" | "insufficient data"
    reason: str
    n_months: int
    recent_months: int
    baseline_months: int  # the months actually used (fewer when reduced)
    requested_baseline_months: int
    min_baseline_months: int
    reduced: bool
    baseline: slice | None
    monitoring: slice | None

    @property
    def label(self) -> str:
        return BASELINE_LABELS[self.reduced]

    def dates(self, months: pd.DatetimeIndex) -> dict[str, object]:
        """First and last month of the baseline and the monitoring window (``None`` without windows)."""
        (b0, b1), (m0, m1) = window_dates(months, self.baseline), window_dates(months, self.monitoring)
        return {"baseline_start": b0, "baseline_end": b1, "monitoring_start": m0, "monitoring_end": m1}

    def describe(self) -> dict[str, object]:
        """The rule and the outcome, for a result's parameters."""
        return {"recent_months": self.recent_months, "baseline_months": self.requested_baseline_months,
                "min_baseline_months": self.min_baseline_months, "baseline_months_used": self.baseline_months,
                "baseline": self.label if self.status == "ok" else None,
                "rule": (f"the last {self.recent_months} complete months against the {self.requested_baseline_months} "
                         f"complete months just before them; with fewer, every complete month before the last "
                         f"{self.recent_months} (a reduced baseline), if there are at least {self.min_baseline_months}")}


def trend_windows(n_months: int, *, recent_months: int = 12, baseline_months: int = 24,
                  min_baseline_months: int = 12) -> TrendWindows:
    """The baseline and monitoring windows for ``n_months`` consecutive complete months."""
    if recent_months < 1 or min_baseline_months < 1 or baseline_months < min_baseline_months:
        raise ValueError("need recent_months >= 1 and baseline_months >= min_baseline_months >= 1")
    common = dict(n_months=n_months, recent_months=recent_months, requested_baseline_months=baseline_months,
                  min_baseline_months=min_baseline_months)
    before = n_months - recent_months
    if before < min_baseline_months:
        return TrendWindows(status="insufficient data",
                            reason=(f"fewer than {recent_months + min_baseline_months} complete months "
                                    f"({n_months}): a baseline needs at least {min_baseline_months} months "
                                    f"before the last {recent_months}"),
                            baseline_months=0, reduced=False, baseline=None, monitoring=None, **common)
    used = min(before, baseline_months)
    return TrendWindows(status="ok", reason="windows set", baseline_months=used, reduced=used < baseline_months,
                        baseline=slice(before - used, before), monitoring=slice(before, n_months), **common)


@dataclass(frozen=True)
class PhaseOne:
    """The in-control rate from the baseline after removing out-of-control baseline months."""

    rate_per_day: float  # reports per day over the kept baseline months (0 when none)
    kept: np.ndarray  # bool per baseline month
    iterations: int
    first_rate_per_day: float  # before any month was set aside (the trial limits' rate)
    excluded: list[int] = field(default_factory=list)  # baseline positions set aside, in order of removal
    halted: bool = False  # a revision would have set aside more than half the baseline: stopped before it

    @property
    def stable(self) -> bool:
        """At most a third of the baseline set aside and no revision halted (else the baseline itself is
        not in control, e.g. it holds a level change)."""
        return not self.halted and len(self.excluded) <= len(self.kept) / 3


def phase_one_rate(counts: np.ndarray, days: np.ndarray, *, sigma_multiplier: float = 3.0,
                   max_iterations: int = 50) -> PhaseOne:
    """Montgomery's trial-limit revision on baseline counts with calendar days as the opportunity.

    Limits for each month are ``c_m +/- L sqrt(c_m)`` with ``c_m`` = rate per day x the month's
    days (the lower limit only where positive). Months outside are removed together and the rate
    recomputed, until none is outside. A revision that would leave fewer than half the baseline
    months is not made (``halted``): such a baseline is not in control (it may hold a level change)
    and the limits stay those of the last revision, with the result saying so.
    """
    y = np.asarray(counts, dtype=float)
    d = np.asarray(days, dtype=float)
    kept = np.ones(len(y), dtype=bool)
    first = float(y.sum() / d.sum()) if d.sum() > 0 else 0.0
    excluded: list[int] = []
    iterations, halted, rate = 0, False, first
    while iterations < max_iterations and rate > 0:
        iterations += 1
        centre = rate * d
        spread = sigma_multiplier * np.sqrt(centre)
        lower = centre - spread
        out = kept & ((y > centre + spread) | ((lower > 0) & (y < lower)))
        if not out.any():
            break
        if (kept & ~out).sum() < max(2, math.ceil(len(y) / 2)):
            halted = True
            break
        excluded += [int(i) for i in np.flatnonzero(out)]
        kept &= ~out
        rate = float(y[kept].sum() / d[kept].sum())
    return PhaseOne(rate_per_day=rate, kept=kept, iterations=iterations, first_rate_per_day=first,
                    excluded=excluded, halted=halted)


def window_dates(months: pd.DatetimeIndex, window: slice | None) -> tuple[object, object]:
    """First and last month (as dates) of a window, or ``(None, None)``."""
    if window is None:
        return None, None
    part = months[window]
    return (part[0].date(), part[-1].date()) if len(part) else (None, None)


def probability_at_least_one(per_month: np.ndarray) -> float:
    """``1 - prod(1 - p)``: the chance that at least one of independent months signals."""
    p = np.clip(np.asarray(per_month, dtype=float), 0.0, 1.0)
    return float(-math.expm1(np.sum(np.log1p(-p)))) if (p < 1).all() else 1.0


def pearson_dispersion(y: np.ndarray, expected: np.ndarray) -> float:
    """Pearson chi2 / (n - 1) of counts about their expected values (1 under Poisson)."""
    y, expected = np.asarray(y, dtype=float), np.asarray(expected, dtype=float)
    used = expected > 0
    if used.sum() < 2:
        return float("nan")
    return float(np.sum((y[used] - expected[used]) ** 2 / expected[used]) / (used.sum() - 1))
