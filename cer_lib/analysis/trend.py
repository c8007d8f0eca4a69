"""Trend of monthly report counts: GLM trend and the trend-reporting verdict; the trend analysis as a whole.

Each step is one function over a :class:`~cer_lib.analysis.results.MonthlySeries` and uses its
complete months only:

1. :func:`glm_trend` - log-linear Poisson regression of monthly counts on time; when the counts are
   overdispersed (Cameron & Trivedi 1990 test, or Pearson chi2/df above a threshold) the negative
   binomial NB2 model with alpha by maximum likelihood. Rate ratio per year, CI, p-value. A
   description of the whole period, not a test of recent months.
2. :func:`trend_reporting_verdict` - the monitoring window (the most recent months) against the
   baseline just before it (:mod:`cer_lib.analysis.baseline`, reduced when the series is short)
   with the exact conditional Poisson rate test (binomial split of the counts given the periods'
   lengths), in the spirit of EU MDR Art. 88 trend reporting. Returns a short machine-readable verdict.
3. :func:`trend_analysis` - the pre-specified primary test (the verdict on one series, all reports
   by default), the per-event-type verdicts as secondary tests with Holm-adjusted p-values, the
   GLM per event type, and the c-chart (:mod:`cer_lib.analysis.control_chart`) and Poisson CUSUM
   (:mod:`cer_lib.analysis.cusum`) of the primary series as supporting analyses.

Public adverse-event data are numerators only: there is no exposure (devices in use), so rates are
reports per month, never incidence. Every count-based measure here rises with growth in use; the
share measures of :mod:`cer_lib.analysis.shares` do not.
"""
from __future__ import annotations

import math
import warnings
from collections.abc import Iterable

import numpy as np
import pandas as pd
import statsmodels.api as sm
from scipy import special, stats
from statsmodels.stats.multitest import multipletests

from .baseline import trend_windows, window_dates
from .control_chart import control_chart
from .cusum import poisson_cusum
from .results import (
    EVENT_TYPES,
    GlmTrendResult,
    MonthlySeries,
    TrendAnalysis,
    TrendVerdict,
)
from .series import complete_counts
from .threads import single_blas_thread

__all__ = [
    "VERDICTS",
    "cameron_trivedi_test",
    "conditional_rate_ratio",
    "glm_trend",
    "poisson_rate_ci",
    "trend_analysis",
    "trend_reporting_verdict",
]

#: The three verdicts of :func:`trend_reporting_verdict`.
VERDICTS: tuple[str, ...] = ("increase", "no significant increase", "insufficient data")

_AVERAGE_MONTH_DAYS = 365.25 / 12


def _z(level: float) -> float:
    return float(stats.norm.ppf(0.5 + level / 2))


def _first(months: pd.DatetimeIndex):
    return months[0].date() if len(months) else None


def _last(months: pd.DatetimeIndex):
    return months[-1].date() if len(months) else None


# --------------------------------------------------------------------------------------------
# 1. GLM trend
# --------------------------------------------------------------------------------------------

_GLM_DEFINITION = (
    "Log-linear regression of monthly report counts on time in years, with calendar days in the "
    "month as exposure offset; exp(slope) is the rate ratio per year. Poisson unless the counts are "
    "overdispersed, then negative binomial (NB2, variance mu + alpha mu^2, alpha by maximum likelihood)."
)


def cameron_trivedi_test(y: np.ndarray, mu: np.ndarray) -> tuple[float, float]:
    """Cameron & Trivedi (1990) regression test of Poisson against NB2 overdispersion.

    OLS without intercept of ``((y - mu)^2 - y) / mu`` on ``mu``; under the Poisson null the slope
    is zero. Returns ``(t statistic, one-sided p-value)`` for the alternative alpha > 0.
    """
    aux = ((y - mu) ** 2 - y) / mu
    denom = float(np.sum(mu**2))
    slope = float(np.sum(aux * mu) / denom)
    resid = aux - slope * mu
    dof = len(y) - 1
    s2 = float(np.sum(resid**2) / dof) if dof > 0 else float("nan")
    se = math.sqrt(s2 / denom) if s2 > 0 else float("nan")
    if not np.isfinite(se) or se == 0:
        return float("nan"), float("nan")
    t_stat = slope / se
    return t_stat, float(stats.t.sf(t_stat, dof))


def glm_trend(
    series: MonthlySeries,
    *,
    event_type: str = "total",
    ci_level: float = 0.95,
    min_months: int = 12,
    min_reports: int = 10,
    dispersion_threshold: float = 1.5,
    overdispersion_alpha: float = 0.05,
) -> GlmTrendResult:
    """Rate ratio per year of monthly counts from a Poisson or negative-binomial GLM.

    Model: ``log E[y_t] = log(days_t / 30.44) + b0 + b1 * t`` with ``t`` in years since the first
    complete month. The Poisson fit is checked for overdispersion with the Cameron-Trivedi test
    (one-sided, level ``overdispersion_alpha``) and the Pearson chi2/df; if the test rejects *or*
    chi2/df exceeds ``dispersion_threshold`` the NB2 model is fitted instead (if NB2 fails to
    converge, quasi-Poisson: Poisson with standard errors scaled by Pearson chi2/df). Wald CI and
    two-sided p-value for ``b1``.

    Minimum data: ``min_months`` complete months and ``min_reports`` reports, otherwise status
    ``"insufficient data"``.
    """
    months, y, days = complete_counts(series, event_type)
    params = {
        "event_type": event_type, "date_field": series.date_field, "ci_level": ci_level,
        "min_months": min_months, "min_reports": min_reports,
        "dispersion_threshold": dispersion_threshold, "overdispersion_alpha": overdispersion_alpha,
        "time_unit": "years since the first complete month", "offset": "log(calendar days / 30.4375)",
    }
    base = dict(
        method="GLM trend (Poisson / negative binomial)", definition=_GLM_DEFINITION, parameters=params,
        event_type=event_type, n_months=len(y), n_reports=int(y.sum()), first_month=_first(months),
        last_month=_last(months), ci_level=ci_level,
    )
    empty = dict(model=None, model_reason=None, rate_ratio_per_year=None, ci_low=None, ci_high=None,
                 p_value=None, pearson_dispersion=None, cameron_trivedi_t=None, cameron_trivedi_p=None,
                 nb_alpha=None)
    if len(y) < min_months or y.sum() < min_reports:
        reason = (f"fewer than {min_months} complete months" if len(y) < min_months
                  else f"fewer than {min_reports} reports in the complete months")
        return GlmTrendResult(**base, **empty, status="insufficient data", reason=reason)

    time = np.arange(len(y)) / 12.0
    exog = np.column_stack([np.ones_like(time), time])
    offset = np.log(days / _AVERAGE_MONTH_DAYS)
    poisson = sm.GLM(y, exog, family=sm.families.Poisson(), offset=offset).fit()
    mu = np.asarray(poisson.fittedvalues)
    dof = len(y) - 2
    pearson = float(np.sum((y - mu) ** 2 / mu) / dof) if dof > 0 else float("nan")
    ct_t, ct_p = cameron_trivedi_test(y, mu)
    overdispersed = (np.isfinite(ct_p) and ct_p < overdispersion_alpha) or (
        np.isfinite(pearson) and pearson > dispersion_threshold)
    diag = f"Cameron-Trivedi p = {ct_p:.3g}, Pearson chi2/df = {pearson:.3g}"

    nb_alpha = None
    slope, se, p_value = float(poisson.params[1]), float(poisson.bse[1]), float(poisson.pvalues[1])
    fitted = mu
    if not overdispersed:
        model = "poisson"
        model_reason = (f"no overdispersion ({diag}; threshold p < {overdispersion_alpha} "
                        f"or chi2/df > {dispersion_threshold})")
    else:
        nb = _fit_nb2(y, exog, offset, poisson.params, pearson, mu)
        if nb is not None:
            model = "negative binomial (NB2)"
            model_reason = f"overdispersed ({diag}); NB2 with alpha by maximum likelihood"
            slope, se, p_value = float(nb.params[1]), float(nb.bse[1]), float(nb.pvalues[1])
            nb_alpha = float(nb.params[-1])
            fitted = np.exp(exog @ nb.params[:2] + offset)
        else:
            quasi = sm.GLM(y, exog, family=sm.families.Poisson(), offset=offset).fit(scale="X2")
            model = "quasi-poisson"
            model_reason = (f"overdispersed ({diag}); NB2 did not converge, Poisson estimates with "
                            "standard errors scaled by Pearson chi2/df")
            slope, se, p_value = float(quasi.params[1]), float(quasi.bse[1]), float(quasi.pvalues[1])
    z = _z(ci_level)
    return GlmTrendResult(
        **base, status="ok", reason="fitted", model=model, model_reason=model_reason,
        rate_ratio_per_year=math.exp(slope), ci_low=math.exp(slope - z * se),
        ci_high=math.exp(slope + z * se), p_value=p_value, pearson_dispersion=pearson,
        cameron_trivedi_t=ct_t, cameron_trivedi_p=ct_p, nb_alpha=nb_alpha,
        fitted=pd.DataFrame({"month": months, "observed": y.astype("int64"), "fitted": fitted}),
    )


def _fit_nb2(y, exog, offset, start, pearson, mu):
    """NB2 by maximum likelihood (statsmodels ``NegativeBinomial``); ``None`` if it fails."""
    alpha0 = max(1e-3, (pearson - 1.0) / max(float(np.mean(mu)), 1e-9)) if np.isfinite(pearson) else 0.1
    model = sm.NegativeBinomial(y, exog, loglike_method="nb2", offset=offset)
    with warnings.catch_warnings(), single_blas_thread():
        warnings.simplefilter("ignore")
        try:
            fit = model.fit(start_params=np.append(np.asarray(start), alpha0), disp=0, maxiter=300)
        except (np.linalg.LinAlgError, ValueError):
            return None
    if not fit.mle_retvals.get("converged", False):
        return None
    if not np.all(np.isfinite(fit.bse[:2])) or fit.params[-1] < 0:
        return None
    return fit


# --------------------------------------------------------------------------------------------
# 2. Trend-reporting verdict
# --------------------------------------------------------------------------------------------

_VERDICT_DEFINITION = (
    "Reports in the most recent {r} complete months against the {b} complete months just before them{reduced}, "
    "adjusted for the periods' lengths in days: exact conditional Poisson test (the recent share of "
    "all reports in both periods is binomial under equal rates), one-sided for an increase at level {a:g}."
)


def _binomial_upper_p(a: float, n: float, p0: float) -> float:
    """P(X >= a) for X ~ Binomial(n, p0), continued to non-integer a, n by the incomplete beta."""
    if a <= 0:
        return 1.0
    return float(special.betainc(a, n - a + 1.0, p0))


def _share_interval(a: float, n: float, level: float) -> tuple[float, float]:
    """Clopper-Pearson interval for a binomial share a/n (beta quantiles; non-integer a allowed)."""
    tail = (1 - level) / 2
    low = float(stats.beta.ppf(tail, a, n - a + 1)) if a > 0 else 0.0
    high = float(stats.beta.ppf(1 - tail, a + 1, n - a)) if a < n else 1.0
    return low, high


def _odds_to_ratio(share: float, t_recent: float, t_base: float) -> float:
    if share >= 1:
        return float("inf")
    return share / (1 - share) * t_base / t_recent


def conditional_rate_ratio(
    x1: float, t1: float, x0: float, t0: float, *, ci_level: float = 0.95, scale: float = 1.0
) -> tuple[float, float, float]:
    """Rate ratio (x1/t1)/(x0/t0) with the exact conditional (Clopper-Pearson) interval.

    Given x1 + x0, x1 is binomial with share t1 r/(t1 r + t0) where r is the rate ratio, so the
    Clopper-Pearson interval of the share maps to an interval of r. ``scale`` (phi >= 1) divides both
    counts first (quasi-Poisson); ``scale=1`` is the exact interval. ``inf`` when x0 is 0.
    """
    a, n = x1 / scale, (x1 + x0) / scale
    ratio = (x1 / t1) / (x0 / t0) if x0 > 0 else float("inf")
    if n <= 0:
        return float("nan"), float("nan"), float("nan")
    low, high = _share_interval(a, n, ci_level)
    return ratio, _odds_to_ratio(low, t1, t0), _odds_to_ratio(high, t1, t0)


def poisson_rate_ci(
    count: float, exposure: float, *, ci_level: float = 0.95, scale: float = 1.0
) -> tuple[float, float]:
    """Exact (Garwood) Poisson interval for the rate count/exposure; ``scale`` = phi as above."""
    tail = (1 - ci_level) / 2
    c = count / scale
    low = stats.chi2.ppf(tail, 2 * c) / 2 if c > 0 else 0.0
    high = stats.chi2.ppf(1 - tail, 2 * (c + 1)) / 2
    return float(low * scale / exposure), float(high * scale / exposure)


def trend_reporting_verdict(
    series: MonthlySeries,
    *,
    event_type: str = "total",
    recent_months: int = 12,
    baseline_months: int = 24,
    min_baseline_months: int = 12,
    alpha: float = 0.05,
    ci_level: float = 0.95,
    dispersion_alpha: float = 0.05,
) -> TrendVerdict:
    """Is the recent report rate significantly higher than the baseline rate?

    Recent = the last ``recent_months`` complete months; baseline = the ``baseline_months`` complete
    months just before them, or, with fewer, every complete month before the recent ones if there are
    at least ``min_baseline_months`` (``reduced_baseline=True``, "reduced baseline"). Given the total
    count n, the recent count is Binomial(n, p0) under equal rates with p0 = recent days / (recent +
    baseline days); p = P(X >= recent count) (one-sided). Rate ratio (recent / baseline, per day) with
    a two-sided ``ci_level`` Clopper-Pearson interval, and the one-sided lower bound at ``1 - alpha``,
    which exceeds 1 exactly when p < alpha. The test is exact whatever the baseline's length, so a
    reduced baseline keeps the test size (checked by simulation in the tests) at lower power.

    Overdispersion: the Pearson chi2 of the monthly counts about each period's own rate (df = months
    - 2) is tested at ``dispersion_alpha``; if it rejects, both counts are divided by
    phi = chi2/df before the test (a quasi-Poisson scaled test, ``dispersion_adjusted=True``), since
    the exact Poisson test would otherwise call ordinary month-to-month noise an increase.

    Minimum-data rule: ``"insufficient data"`` when fewer than ``recent_months + min_baseline_months``
    complete months exist, or when even all reports falling in the recent window could not give
    p < alpha (p0 ** n >= alpha with the scaled n; e.g. n < 3 at p0 = 1/3, alpha = 0.05).
    Verdicts are statistical statements about report counts only, never about causes or incidence.
    """
    months, y, days = complete_counts(series, event_type)
    windows = trend_windows(len(y), recent_months=recent_months, baseline_months=baseline_months,
                            min_baseline_months=min_baseline_months)
    params = {"event_type": event_type, "date_field": series.date_field, **windows.describe(), "alpha": alpha,
              "ci_level": ci_level, "dispersion_alpha": dispersion_alpha, "sided": "one-sided (increase)",
              "minimum_data_rule": (f"at least {recent_months + min_baseline_months} complete months, and enough "
                                    "reports that a significant split is attainable (p0**n < alpha)")}
    reduced = " (a reduced baseline: fewer complete months than requested)" if windows.reduced else ""
    common = dict(method="recent-vs-baseline rate test",
                  definition=_VERDICT_DEFINITION.format(r=recent_months, b=windows.baseline_months or baseline_months,
                                                        a=alpha, reduced=reduced),
                  parameters=params, event_type=event_type, ci_level=ci_level, alpha=alpha,
                  baseline_label=windows.label if windows.status == "ok" else None,
                  reduced_baseline=windows.reduced)
    blank = dict(test=None, recent_start=None, recent_end=None, baseline_start=None, baseline_end=None,
                 recent_reports=None, baseline_reports=None, recent_days=None, baseline_days=None,
                 recent_rate_per_month=None, baseline_rate_per_month=None, rate_ratio=None, ci_low=None,
                 ci_high=None, one_sided_lower_bound=None, p_value=None, dispersion=None,
                 dispersion_p_value=None, dispersion_adjusted=False)
    if windows.status != "ok":
        return TrendVerdict(**common, **blank, verdict="insufficient data", reason=windows.reason)
    recent, base = windows.monitoring, windows.baseline
    x1, x0 = float(y[recent].sum()), float(y[base].sum())
    t1, t0 = float(days[recent].sum()), float(days[base].sum())
    (recent_start, recent_end), (baseline_start, baseline_end) = window_dates(months, recent), window_dates(months, base)
    periods = dict(
        recent_start=recent_start, recent_end=recent_end, baseline_start=baseline_start, baseline_end=baseline_end,
        recent_reports=int(x1), baseline_reports=int(x0), recent_days=int(t1), baseline_days=int(t0),
        recent_rate_per_month=x1 / t1 * _AVERAGE_MONTH_DAYS,
        baseline_rate_per_month=x0 / t0 * _AVERAGE_MONTH_DAYS,
    )
    # Pearson dispersion about each period's own daily rate.
    expected = np.concatenate([days[base] * x0 / t0, days[recent] * x1 / t1])
    observed = np.concatenate([y[base], y[recent]])
    used = expected > 0
    dof = len(observed) - 2
    chi2 = float(np.sum((observed[used] - expected[used]) ** 2 / expected[used]))
    phi = chi2 / dof if dof > 0 else float("nan")
    phi_p = float(stats.chi2.sf(chi2, dof)) if dof > 0 else float("nan")
    adjusted = bool(np.isfinite(phi_p) and phi_p < dispersion_alpha and phi > 1)
    scale = phi if adjusted else 1.0
    a, n = x1 / scale, (x1 + x0) / scale
    p0 = t1 / (t1 + t0)
    test = ("exact conditional Poisson test (binomial)" if not adjusted
            else "dispersion-scaled conditional Poisson test (quasi-Poisson, counts / phi)")
    disp = dict(dispersion=phi, dispersion_p_value=phi_p, dispersion_adjusted=adjusted, test=test)
    if n <= 0 or p0**n >= alpha:
        return TrendVerdict(**common, **{**blank, **periods, **disp}, verdict="insufficient data",
                            reason="too few reports: no split of them could reach p < alpha")
    p_value = _binomial_upper_p(a, n, p0)
    rate_ratio, ci_low, ci_high = conditional_rate_ratio(x1, t1, x0, t0, ci_level=ci_level, scale=scale)
    lower_bound = float(stats.beta.ppf(alpha, a, n - a + 1)) if a > 0 else 0.0
    verdict = "increase" if p_value < alpha else "no significant increase"
    return TrendVerdict(
        **common, **periods, **disp, verdict=verdict,
        reason="p < alpha" if verdict == "increase" else "p >= alpha",
        rate_ratio=rate_ratio, ci_low=ci_low, ci_high=ci_high,
        one_sided_lower_bound=_odds_to_ratio(lower_bound, t1, t0), p_value=p_value,
    )


# --------------------------------------------------------------------------------------------
# 3. All together: one primary test, the rest secondary or supporting
# --------------------------------------------------------------------------------------------

PRIMARY_RULE = (
    "Primary trend test, fixed before the data are seen: the trend-reporting verdict on {primary}. It alone "
    "decides whether the report states an increase in reporting. The verdicts per event type are secondary "
    "tests (p-values also Holm-adjusted over the {n} of them); the GLM, the c-chart, the CUSUM and the change "
    "points describe the series and are shown as supporting analyses, not counted as findings."
)


def secondary_holm(verdicts: dict[str, TrendVerdict], primary: str) -> dict[str, float | None]:
    """Holm-adjusted p-values of the secondary verdicts (every event type but the primary)."""
    tested = {t: v.p_value for t, v in verdicts.items() if t != primary and v.p_value is not None}
    adjusted: dict[str, float | None] = {t: None for t in verdicts if t != primary}
    if tested:
        values = multipletests(list(tested.values()), method="holm")[1]
        adjusted.update({t: float(p) for t, p in zip(tested, values, strict=True)})
    return adjusted


def trend_analysis(
    series: MonthlySeries,
    *,
    event_types: Iterable[str] = ("total", *EVENT_TYPES),
    primary_event_type: str = "total",
    recent_months: int = 12,
    baseline_months: int = 24,
    min_baseline_months: int = 12,
    alpha: float = 0.05,
    shift_ratio: float = 1.5,
    target_arl0: float = 370.0,
    dispersion_threshold: float = 1.5,
    sigma_multiplier: float = 3.0,
) -> TrendAnalysis:
    """Primary verdict, secondary verdicts per event type, GLM per type; c-chart and CUSUM of the primary series."""
    types = list(event_types)
    if primary_event_type not in types:
        raise ValueError(f"primary_event_type {primary_event_type!r} is not among the event types {types}")
    windows = dict(recent_months=recent_months, baseline_months=baseline_months,
                   min_baseline_months=min_baseline_months)
    glm = {t: glm_trend(series, event_type=t, dispersion_threshold=dispersion_threshold) for t in types}
    verdicts = {t: trend_reporting_verdict(series, event_type=t, alpha=alpha, **windows) for t in types}
    chart = control_chart(series, event_type=primary_event_type, sigma_multiplier=sigma_multiplier, **windows)
    cusum = poisson_cusum(series, event_type=primary_event_type, shift_ratio=shift_ratio, target_arl0=target_arl0,
                          sigma_multiplier=sigma_multiplier, **windows)
    primary_name = "all reports" if primary_event_type == "total" else f"{primary_event_type} reports"
    return TrendAnalysis(
        method="trend analysis",
        definition=("Trend of monthly report counts: a pre-specified primary recent-vs-baseline rate test, "
                    "secondary tests per event type, GLM rate ratio per year, c-chart and Poisson CUSUM, on "
                    "complete months only."),
        parameters={"date_field": series.date_field, "event_types": types, "primary_event_type": primary_event_type,
                    **windows, "alpha": alpha, "shift_ratio": shift_ratio, "target_arl0": target_arl0,
                    "dispersion_threshold": dispersion_threshold, "sigma_multiplier": sigma_multiplier},
        date_field=series.date_field, glm=glm, control_chart=chart, cusum=cusum, verdicts=verdicts,
        primary_event_type=primary_event_type,
        primary_rule=PRIMARY_RULE.format(primary=primary_name, n=len(types) - 1),
        secondary_p_holm=secondary_holm(verdicts, primary_event_type),
    )
