"""Upper Poisson CUSUM of monthly report counts (Lucas 1985; Montgomery, *Introduction to Statistical
Quality Control*, 7th ed., ch. 9), run over the monitoring window after a phase-I baseline.

The in-control mean mu0 is the phase-I rate of the baseline just before the monitoring window (the
same windows and the same revised baseline as the c-chart, :mod:`cer_lib.analysis.baseline`); the
shift to detect is mu1 = ``shift_ratio`` x mu0. The reference value k = (mu1 - mu0)/ln(mu1/mu0)
(Lucas 1985) and the decision interval h is the smallest value giving an in-control average run
length of at least ``target_arl0`` months, computed exactly on a lattice Markov chain (Brook & Evans
1972, Biometrika 59:539). The lattice code is checked against Lucas (1985) Table 2 in the tests.

ARL0 is for a *known* in-control mean. Here mu0 is estimated from the baseline, which shortens and
scatters the in-control run length (Jensen et al. 2006, J Qual Technol 38:349). The result states,
for the months actually monitored, the chance of a false alarm with the mean known
(``false_alarm_probability_window_known``, exact by the same Markov chain) and averaged over the
sampling distribution of the estimated mean (``false_alarm_probability_window_estimated``: the
baseline total is Poisson with the estimated rate; equal-probability quadrature over 21 quantiles, k
and h re-derived for each, average-length months).
"""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
from scipy import stats

from .baseline import pearson_dispersion, phase_one_rate, trend_windows
from .results import CusumResult, MonthlySeries
from .series import complete_counts
from .threads import single_blas_thread

__all__ = ["cusum_false_alarm_within", "poisson_cusum", "poisson_cusum_arl", "poisson_cusum_decision_interval"]

AVERAGE_MONTH_DAYS = 365.25 / 12
QUADRATURE_POINTS = 21

_DEFINITION = (
    "Upper Poisson CUSUM over the monitoring window: S_t = max(0, S_(t-1) + x_t - k_t), started at 0 after "
    "the baseline; an alarm is raised when S_t >= h. k = (mu1 - mu0)/ln(mu1/mu0) for the in-control mean mu0 "
    "(the phase-I baseline rate) and the shifted mean mu1, scaled to each month's calendar days; h gives the "
    "stated in-control average run length (ARL0, months) for a known mu0."
)

_MAX_LATTICE_STATES = 1500


def _resolution(mean: float) -> int:
    """Lattice steps per count: about 30 per Poisson standard deviation, at least 1."""
    return int(min(1000, max(1, round(30.0 / math.sqrt(mean)))))


def _lattice_transitions(mean: float, k_steps: int, h_steps: int, m: int) -> np.ndarray:
    """Transient transition matrix of the lattice CUSUM ``S' = max(0, S + m*x - K)``, alarm at ``S' >= H``."""
    s = np.arange(h_steps)
    # Only counts that land strictly inside (0, H) need a column; lower ones reset to 0 (the cdf
    # below), higher ones signal (absorbed).
    x_min = max(0, (k_steps - h_steps) // m)
    x_max = (h_steps + k_steps) // m + 1
    x = np.arange(x_min, x_max + 1)
    pmf = stats.poisson.pmf(x, mean)
    target = s[:, None] + m * x[None, :] - k_steps
    inside = (target > 0) & (target < h_steps)
    r = np.zeros((h_steps, h_steps))
    rows = np.broadcast_to(s[:, None], target.shape)[inside]
    np.add.at(r, (rows, target[inside]), np.broadcast_to(pmf, target.shape)[inside])
    r[:, 0] += stats.poisson.cdf(np.floor((k_steps - s) / m), mean)
    return r


def _lattice_arl(mean: float, k_steps: int, h_steps: int, m: int) -> float:
    """Exact ARL of the integer-lattice CUSUM (Brook & Evans 1972): ``(I - R)^-1 1`` from state 0."""
    if h_steps <= 0:
        return 1.0
    r = _lattice_transitions(mean, k_steps, h_steps, m)
    try:
        arl = np.linalg.solve(np.eye(h_steps) - r, np.ones(h_steps))
    except np.linalg.LinAlgError:
        return float("inf")
    return float(arl[0])


def _lattice_alarm_within(mean: float, k_steps: int, h_steps: int, m: int, n_steps: int) -> float:
    """P(run length <= n_steps) from state 0: ``1 - (R^n 1)[0]``."""
    if h_steps <= 0:
        return 1.0
    r = _lattice_transitions(mean, k_steps, h_steps, m)
    alive = np.ones(h_steps)
    for _ in range(n_steps):
        alive = r @ alive
    return float(1.0 - alive[0])


def _siegmund_arl(mean: float, k: float, h: float) -> float:
    """Siegmund's (1985) normal approximation, used only for very large monthly counts."""
    sigma = math.sqrt(mean)
    delta = (mean - k) / sigma
    b = h / sigma + 1.166
    if abs(delta) < 1e-9:
        return b * b
    return (math.exp(-2 * delta * b) + 2 * delta * b - 1) / (2 * delta * delta)


def poisson_cusum_arl(mean: float, k: float, h: float, *, resolution: int | None = None) -> float:
    """Average run length (months) of the upper Poisson CUSUM with reference ``k`` and interval ``h``.

    Exact for the lattice-rounded ``k`` and ``h`` (steps of 1/m count, m ~ 30/sqrt(mean)) by the
    Markov-chain method of Brook & Evans (1972); Siegmund's normal approximation when the lattice
    would exceed 1500 states (means above ~20 000 reports per month). ``resolution`` (steps per
    count) defaults to the one :func:`poisson_cusum_decision_interval` uses for ``mean``; pass the
    in-control mean's resolution to evaluate an out-of-control ARL on the same lattice.
    """
    if mean <= 0:
        raise ValueError("mean must be positive")
    m = resolution or _resolution(mean)
    k_steps, h_steps = round(k * m), round(h * m)
    if h_steps > _MAX_LATTICE_STATES:
        return _siegmund_arl(mean, k, h)
    with single_blas_thread():
        return _lattice_arl(mean, k_steps, h_steps, m)


def poisson_cusum_decision_interval(mean: float, k: float, target_arl0: float) -> tuple[float, float, float]:
    """Smallest lattice ``h`` whose in-control ARL at ``mean`` is at least ``target_arl0``.

    Returns ``(k_used, h, arl0)`` where ``k_used`` is ``k`` rounded to the lattice.
    """
    if mean <= 0:
        raise ValueError("mean must be positive")
    with single_blas_thread():
        return _decision_interval(mean, k, target_arl0)


def _decision_interval(mean: float, k: float, target_arl0: float,
                       guess: float | None = None) -> tuple[float, float, float]:
    """Bisection on the lattice; ``guess`` (an h from a nearby mean) brackets the search near it."""
    m = _resolution(mean)
    k_steps = max(1, round(k * m))
    k_used = k_steps / m
    if guess is not None and 1 <= round(guess * m) <= _MAX_LATTICE_STATES:
        lo, hi = _bracket(mean, k_steps, m, round(guess * m), target_arl0)
    else:
        lo, hi = 0, max(1, m)
        while _lattice_arl(mean, k_steps, hi, m) < target_arl0:
            lo, hi = hi, hi * 2
            if hi > _MAX_LATTICE_STATES:
                break
    if hi > _MAX_LATTICE_STATES:  # very large counts: normal approximation, bisection on h
        h_lo, h_hi = lo / m, lo / m
        while _siegmund_arl(mean, k_used, h_hi) < target_arl0:
            h_hi *= 2
        for _ in range(60):
            mid = (h_lo + h_hi) / 2
            h_lo, h_hi = (mid, h_hi) if _siegmund_arl(mean, k_used, mid) < target_arl0 else (h_lo, mid)
        return k_used, h_hi, _siegmund_arl(mean, k_used, h_hi)
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if _lattice_arl(mean, k_steps, mid, m) >= target_arl0:
            hi = mid
        else:
            lo = mid
    return k_used, hi / m, _lattice_arl(mean, k_steps, hi, m)


def _bracket(mean: float, k_steps: int, m: int, start: int, target_arl0: float) -> tuple[int, int]:
    """``(lo, hi)`` lattice steps with ARL(lo) < target <= ARL(hi), expanding from ``start``."""
    step = 1
    if _lattice_arl(mean, k_steps, start, m) >= target_arl0:
        hi = start
        while hi - step > 0 and _lattice_arl(mean, k_steps, hi - step, m) >= target_arl0:
            hi, step = hi - step, step * 2
        return max(0, hi - step), hi
    lo = start
    while lo + step <= _MAX_LATTICE_STATES and _lattice_arl(mean, k_steps, lo + step, m) < target_arl0:
        lo, step = lo + step, step * 2
    return lo, lo + step


def cusum_false_alarm_within(mean: float, n_months: int, *, shift_ratio: float, target_arl0: float,
                             baseline_months: float | None = None,
                             points: int = QUADRATURE_POINTS) -> tuple[float, float]:
    """Chance of an alarm within ``n_months`` in-control months: (mean known, mean estimated).

    Known: exact from the lattice chain at the chart's own k and h. Estimated: the baseline total over
    ``baseline_months`` average months is Poisson(mean x baseline_months); for each of 21 equal-probability
    quantiles (``points``) the chart is designed from the estimate (k, h) and run on the true ``mean``.
    ``nan`` for the estimated value when ``baseline_months`` or ``points`` is 0 or the lattice would be
    too large.
    """
    if mean <= 0 or n_months <= 0:
        return float("nan"), float("nan")
    with single_blas_thread():
        known, _ = _alarm_within(mean, mean, n_months, shift_ratio, target_arl0)
        if not baseline_months or points <= 0:
            return known, float("nan")
        levels = (np.arange(points) + 0.5) / points
        estimates = stats.poisson.ppf(levels, mean * baseline_months) / baseline_months
        values, h = [], None
        for mu0 in estimates:
            if mu0 <= 0:
                values.append(1.0)  # a zero in-control mean: any report alarms
                continue
            value, h = _alarm_within(mean, mu0, n_months, shift_ratio, target_arl0, guess=h)
            values.append(value)
    return known, float(np.mean(values))


def _alarm_within(true_mean: float, design_mean: float, n_months: int, shift_ratio: float,
                  target_arl0: float, guess: float | None = None) -> tuple[float, float]:
    """(P(alarm within n months) at ``true_mean`` for the chart designed at ``design_mean``, its h)."""
    mu1 = shift_ratio * design_mean
    k, h, _ = _decision_interval(design_mean, (mu1 - design_mean) / math.log(shift_ratio), target_arl0, guess)
    m = _resolution(design_mean)
    k_steps, h_steps = round(k * m), round(h * m)
    if h_steps > _MAX_LATTICE_STATES:
        return float("nan"), h
    return _lattice_alarm_within(true_mean, k_steps, h_steps, m, n_months), h


def poisson_cusum(
    series: MonthlySeries,
    *,
    event_type: str = "total",
    recent_months: int = 12,
    baseline_months: int = 24,
    min_baseline_months: int = 12,
    shift_ratio: float = 1.5,
    target_arl0: float = 370.0,
    sigma_multiplier: float = 3.0,
    quadrature_points: int = QUADRATURE_POINTS,
) -> CusumResult:
    """Upper Poisson CUSUM over the monitoring window, mu0 from the phase-I baseline before it.

    mu0 = the baseline's revised phase-I reports per day (months outside the c-chart's trial limits at
    ``sigma_multiplier`` set aside) x 30.44; mu1 = ``shift_ratio`` x mu0 (default a 50% increase); k
    scaled by each month's days / 30.44; h for ARL0 >= ``target_arl0`` months (default 370, the ARL of
    a 3-sigma Shewhart chart), exact on the lattice for average-length months (months of 28-31 days
    make it approximate). ``arl1`` is the ARL at mu1. With large counts a 50% shift is many Poisson
    standard deviations, h is tiny and the CUSUM behaves like a Shewhart chart at k. The path is not
    reset after an alarm, so ``alarms`` lists every month at or above h; ``first_alarm`` is the one to
    report. ``quadrature_points`` (0 skips it) sets the accuracy of the estimated-mean false-alarm
    probability, the costly part (about 0.3 s at 10 reports a month, more at very low counts).
    """
    if shift_ratio <= 1:
        raise ValueError("shift_ratio must be > 1 (an upward shift)")
    months, y, days = complete_counts(series, event_type)
    windows = trend_windows(len(y), recent_months=recent_months, baseline_months=baseline_months,
                            min_baseline_months=min_baseline_months)
    params = {"event_type": event_type, "date_field": series.date_field, **windows.describe(),
              "shift_ratio": shift_ratio, "target_arl0": target_arl0, "side": "upper", "reset_after_alarm": False,
              "phase_one": f"baseline months outside the c-chart's {sigma_multiplier:g}-sigma trial limits set aside"}
    common = dict(method="Poisson CUSUM", definition=_DEFINITION, parameters=params, event_type=event_type,
                  shift_ratio=shift_ratio, target_arl0=target_arl0, reduced_baseline=windows.reduced)
    none = dict(baseline_start=None, baseline_end=None, monitoring_start=None, monitoring_end=None,
                in_control_mean=None, shifted_mean=None, k=None, h=None, arl0=None, arl1=None, first_alarm=None,
                false_alarm_probability_window_known=None, false_alarm_probability_window_estimated=None)
    if windows.status != "ok":
        return CusumResult(**common, **none, status="insufficient data", reason=windows.reason)
    base, watch = windows.baseline, windows.monitoring
    dates = windows.dates(months)
    phase_one = phase_one_rate(y[base], days[base], sigma_multiplier=sigma_multiplier)
    per_day = phase_one.rate_per_day
    mu0 = per_day * AVERAGE_MONTH_DAYS
    if mu0 == 0:
        return CusumResult(**common, **{**none, **dates}, status="insufficient data",
                           reason="no reports in the baseline period: the in-control mean is zero")
    mu1 = shift_ratio * mu0
    k_exact = (mu1 - mu0) / math.log(mu1 / mu0)
    k, h, arl0 = poisson_cusum_decision_interval(mu0, k_exact, target_arl0)
    arl1 = poisson_cusum_arl(mu1, k, h, resolution=_resolution(mu0))
    watch_y, watch_days = y[watch], days[watch]
    k_month = k * watch_days / AVERAGE_MONTH_DAYS
    path = np.empty(len(watch_y))
    level = 0.0
    for i, (count, k_i) in enumerate(zip(watch_y, k_month, strict=True)):
        level = max(0.0, level + count - k_i)
        path[i] = level
    alarm = path >= h - 1e-9
    watch_months = months[watch]
    kept_months = float(days[base][phase_one.kept].sum() / AVERAGE_MONTH_DAYS)
    fa_known, fa_estimated = cusum_false_alarm_within(mu0, len(watch_y), shift_ratio=shift_ratio,
                                                      target_arl0=target_arl0, baseline_months=kept_months,
                                                      points=quadrature_points)
    notes = []
    if windows.reduced:
        notes.append(f"Reduced baseline: {windows.baseline_months} complete months before the monitoring window.")
    if phase_one.excluded:
        notes.append(f"The in-control mean leaves out {len(phase_one.excluded)} baseline month(s) outside the "
                     "c-chart's trial limits (phase I).")
    if abs(k - k_exact) > 1e-12:
        notes.append(f"k rounded to the ARL lattice: {k_exact:.6g} -> {k:.6g}.")
    dispersion = pearson_dispersion(y[base][phase_one.kept], per_day * days[base][phase_one.kept])
    if np.isfinite(dispersion) and dispersion > 1.5:
        notes.append(
            f"Baseline Pearson chi2/df = {dispersion:.2g} (> 1.5): counts vary more than Poisson, so the "
            "in-control ARL is shorter than stated and alarms may reflect extra-Poisson variation."
        )
    return CusumResult(
        **common, **dates, status="ok", reason="computed",
        in_control_mean=mu0, shifted_mean=mu1, k=k, h=h, arl0=arl0, arl1=arl1,
        false_alarm_probability_window_known=fa_known, false_alarm_probability_window_estimated=fa_estimated,
        first_alarm=watch_months[alarm][0].date() if alarm.any() else None,
        alarms=[m.date() for m in watch_months[alarm]],
        path=pd.DataFrame({"month": watch_months, "count": watch_y.astype("int64"), "k": k_month,
                           "cusum": path, "alarm": alarm}),
        notes=notes,
    )
