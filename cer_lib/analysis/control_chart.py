"""Shewhart c-chart of monthly report counts, by phase (Montgomery, *Introduction to Statistical
Quality Control*, 7th ed., ch. 7).

- **Phase I** (the baseline, :mod:`cer_lib.analysis.baseline`): the centre line is the baseline's
  reports per day; baseline months beyond the trial limits are set aside (phase-I flags) and the
  centre recomputed until every remaining baseline month lies inside (Montgomery's revised limits).
  Phase-I flags say the baseline was not in control; they are never signals.
- **Phase II** (the monitoring window, the most recent months): a month above its upper limit is a
  signal. Only phase-II months can signal.

The area of opportunity is the month's calendar days (28 to 31), not device exposure, which public
data do not give: each month's centre is the rate per day times its days, limits centre +/- L
sqrt(centre). Months before the baseline (history) are shown without limits.

The limits use an *estimated* centre, so the chance of a false signal is not the textbook 0.27% per
month: ``false_alarm_probability_window_known`` is the chance that at least one in-control phase-II
month exceeds the upper limit if the centre were exactly right, and
``false_alarm_probability_window_estimated`` averages that chance over the sampling distribution of
the phase-I estimate (the phase-I total is Poisson with the estimated rate; equal-probability
quadrature over 400 quantiles), which is what a user of this chart faces (Jensen et al. 2006, J Qual
Technol 38:349; the estimated-parameter effect).
"""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
from scipy import stats

from .baseline import (
    pearson_dispersion,
    phase_one_rate,
    probability_at_least_one,
    trend_windows,
)
from .results import ControlChartResult, MonthlySeries
from .series import complete_counts

__all__ = ["NUMERATOR_NOTE", "control_chart", "estimated_centre_false_alarm"]

AVERAGE_MONTH_DAYS = 365.25 / 12
QUADRATURE_POINTS = 400

NUMERATOR_NOTE = (
    "Public reports are numerators only (no device exposure): a u-chart per unit of exposure is "
    "impossible, so the chart is a c-chart of reports per month."
)

_DEFINITION = (
    "Shewhart c-chart by phase. Phase I: the centre line is the baseline months' reports per day times "
    "each month's calendar days, limits centre +/- {L:g} x sqrt(centre) (Poisson variation); baseline months "
    "outside the limits are set aside and the limits recomputed (Montgomery's revised limits). Phase II: "
    "a month of the monitoring window above its upper limit is a signal."
)


def _upper_tail(rate_per_day: np.ndarray, days: np.ndarray, centre_per_day: np.ndarray, L: float) -> np.ndarray:
    """P(X > UCL) per (centre, month) for X ~ Poisson(rate x days), UCL from ``centre_per_day``."""
    centre = centre_per_day[:, None] * days[None, :]
    ucl = centre + L * np.sqrt(centre)
    return stats.poisson.sf(np.floor(ucl), rate_per_day * days[None, :])


def estimated_centre_false_alarm(rate_per_day: float, baseline_days: float, monitoring_days: np.ndarray,
                                 sigma_multiplier: float = 3.0) -> tuple[float, float]:
    """Chance of at least one false signal in the monitoring months: (centre known, centre estimated).

    In control, each monitored month's count is Poisson(rate x days). Known centre: the limits use the
    true rate. Estimated centre: the phase-I total S is Poisson(rate x baseline_days) and the limits use
    S / baseline_days; the probability is averaged over S by equal-probability quadrature.
    """
    days = np.asarray(monitoring_days, dtype=float)
    if rate_per_day <= 0 or len(days) == 0:
        return float("nan"), float("nan")
    known = probability_at_least_one(_upper_tail(rate_per_day, days, np.array([rate_per_day]), sigma_multiplier)[0])
    levels = (np.arange(QUADRATURE_POINTS) + 0.5) / QUADRATURE_POINTS
    totals = stats.poisson.ppf(levels, rate_per_day * baseline_days)
    centres = totals / baseline_days
    tails = _upper_tail(rate_per_day, days, np.maximum(centres, 1e-12), sigma_multiplier)
    tails[centres <= 0] = 1.0  # a zero centre: any report signals
    per_draw = [probability_at_least_one(row) for row in tails]
    return known, float(np.mean(per_draw))


def control_chart(
    series: MonthlySeries,
    *,
    event_type: str = "total",
    recent_months: int = 12,
    baseline_months: int = 24,
    min_baseline_months: int = 12,
    sigma_multiplier: float = 3.0,
) -> ControlChartResult:
    """c-chart with a phase-I baseline just before a phase-II monitoring window (complete months).

    ``center``, ``ucl`` and ``lcl`` are for an average month (30.44 days) from the revised phase-I
    rate; ``points`` has each month's own centre and limits, its ``phase`` (``history``,
    ``baseline``, ``monitoring``), ``phase_one_excluded`` for baseline months set aside and
    ``signal`` for monitoring months above the upper limit. Only the single-point rule (beyond the
    limits) is applied, not the Western Electric run rules. ``false_alarm_probability`` is the exact
    Poisson probability of a point outside the limits in an average in-control month (it is not 0.27%
    at small counts). ``baseline_dispersion`` (Pearson chi2/df of the kept baseline) above ~1.5 means
    the Poisson limits are too narrow (extra-Poisson variation, e.g. batch reporting; see Laney 2002).
    """
    months, y, days = complete_counts(series, event_type)
    windows = trend_windows(len(y), recent_months=recent_months, baseline_months=baseline_months,
                            min_baseline_months=min_baseline_months)
    params = {"event_type": event_type, "date_field": series.date_field, **windows.describe(),
              "sigma_multiplier": sigma_multiplier, "rules": "one point above the upper control limit, "
              "monitoring window only", "phase_one": "baseline months outside the limits set aside, limits recomputed",
              "area_of_opportunity": "calendar days in the month"}
    common = dict(method="c-chart", definition=_DEFINITION.format(L=sigma_multiplier), parameters=params,
                  event_type=event_type, baseline_months=windows.baseline_months, sigma_multiplier=sigma_multiplier,
                  reduced_baseline=windows.reduced)
    none = dict(baseline_start=None, baseline_end=None, monitoring_start=None, monitoring_end=None, center=None,
                ucl=None, lcl=None, false_alarm_probability=None, false_alarm_probability_window_known=None,
                false_alarm_probability_window_estimated=None, baseline_dispersion=None, points=None,
                phase_one_iterations=0, phase_one_stable=None)
    if windows.status != "ok":
        return ControlChartResult(**common, **none, status="insufficient data", reason=windows.reason,
                                  notes=[NUMERATOR_NOTE])
    base, watch = windows.baseline, windows.monitoring
    dates = windows.dates(months)
    phase_one = phase_one_rate(y[base], days[base], sigma_multiplier=sigma_multiplier)
    per_day = phase_one.rate_per_day
    if per_day == 0:
        return ControlChartResult(**common, **{**none, **dates}, status="insufficient data",
                                  reason="no reports in the baseline period: Poisson limits are degenerate",
                                  notes=[NUMERATOR_NOTE])
    phase = np.full(len(y), "history", dtype=object)
    phase[base], phase[watch] = "baseline", "monitoring"
    charted = phase != "history"
    centre = np.where(charted, per_day * days, np.nan)
    spread = sigma_multiplier * np.sqrt(centre)
    ucl, lcl = centre + spread, np.maximum(0.0, centre - spread)
    above = charted & (y > np.nan_to_num(ucl, nan=np.inf))
    below = charted & (y < lcl) & (lcl > 0)
    excluded = np.zeros(len(y), dtype=bool)
    excluded[base.start + np.asarray(phase_one.excluded, dtype=int)] = True
    signal = above & (phase == "monitoring")
    center = per_day * AVERAGE_MONTH_DAYS
    ucl_avg = center + sigma_multiplier * math.sqrt(center)
    lcl_avg = max(0.0, center - sigma_multiplier * math.sqrt(center))
    p_out = float(stats.poisson.sf(math.floor(ucl_avg), center))
    if lcl_avg > 0:
        p_out += float(stats.poisson.cdf(math.ceil(lcl_avg) - 1, center))
    kept_days = float(days[base][phase_one.kept].sum())
    fa_known, fa_estimated = estimated_centre_false_alarm(per_day, kept_days, days[watch], sigma_multiplier)
    dispersion = pearson_dispersion(y[base][phase_one.kept], per_day * days[base][phase_one.kept])
    points = pd.DataFrame({"month": months, "count": y.astype("int64"), "days": days.astype("int64"),
                           "phase": phase.astype(str), "center": centre, "ucl": ucl, "lcl": lcl,
                           "above_ucl": above, "below_lcl": below, "phase_one_excluded": excluded,
                           "signal": signal})
    notes = [NUMERATOR_NOTE]
    if windows.reduced:
        notes.append(f"Reduced baseline: {windows.baseline_months} complete months before the monitoring window "
                     f"(fewer than the {baseline_months} requested).")
    if phase_one.excluded:
        notes.append(f"Phase I set aside {len(phase_one.excluded)} baseline month(s) outside the trial limits "
                     f"({', '.join(months[excluded].strftime('%Y-%m'))}); the centre line is the rate of the "
                     "remaining baseline months.")
    if phase_one.halted:
        notes.append("Phase I stopped revising: setting aside every baseline month outside the limits would have "
                     "left fewer than half of them. The baseline itself is not in control (it may hold a level "
                     "change), so the limits are a rough reference only.")
    elif not phase_one.stable:
        notes.append("More than a third of the baseline months were outside the trial limits: the baseline "
                     "itself was not in control, so the limits describe a selected part of it.")
    if np.isfinite(dispersion) and dispersion > 1.5:
        notes.append(
            f"Baseline Pearson chi2/df = {dispersion:.2g} (> 1.5): counts vary more than Poisson, so the "
            "limits are too narrow and points outside them may reflect ordinary extra-Poisson variation."
        )
    return ControlChartResult(
        **common, **dates, status="ok", reason="computed", center=center, ucl=ucl_avg, lcl=lcl_avg,
        false_alarm_probability=p_out, false_alarm_probability_window_known=fa_known,
        false_alarm_probability_window_estimated=fa_estimated, baseline_dispersion=dispersion, points=points,
        phase_one_iterations=phase_one.iterations, phase_one_stable=phase_one.stable,
        phase_one_excluded=[m.date() for m in months[excluded]],
        months_above_ucl=[m.date() for m in months[signal]],
        months_below_lcl=[m.date() for m in months[below & (phase == "monitoring")]], notes=notes,
    )
