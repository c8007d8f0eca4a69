"""Shares of reports over time: measures that need no denominator of devices in use.

Report counts rise when more devices are in use, with no change in safety; public data give no
count of devices in use, so every count-based trend (verdict, c-chart, CUSUM, GLM, change points)
flags growth in use as an increase. A share of reports divides that growth out:

- :func:`serious_share` - the share of the device's reports that are serious (death or injury)
  among all its reports, by month. Robust to growth in use (both parts grow together); it moves
  when events become more severe, or when reporters classify events or report malfunctions
  differently.
- :func:`family_share` - the device's share of the reports of its comparator family (the device
  plus the other product codes of its regulation number), by period: a proportional reporting
  ratio over time (recent share / baseline share). Robust to growth common to the family
  (more use of the device type, reporting rules that change for every code); not robust to the
  device gaining market share within the family.

Both compare the recent window with the baseline just before it (:mod:`cer_lib.analysis.baseline`)
with the one-sided Fisher exact test for an increase of the share. When the shares vary between
periods more than binomially (Pearson chi2 of the period shares about each window's own share,
df = periods - 2, tested at ``dispersion_alpha``), all four cells are divided by phi = chi2/df
before the test and the interval is widened by sqrt(phi): the Rao & Scott (1992, Biometrics 48:577)
adjustment for clustered binary data. The ratio's interval is the usual log-scale interval of a
ratio of two proportions (Katz et al. 1978), as used for the PRR (Evans et al. 2001).
"""
from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np
import pandas as pd
from scipy import stats

from .baseline import BASELINE_LABELS, trend_windows
from .results import MonthlySeries, ShareTrend
from .series import complete_counts

__all__ = ["ROBUSTNESS", "family_share", "serious_share", "share_trend"]

SERIOUS_TYPES = ("Death", "Injury")

#: Which measures are robust to growth in use, and why (the report quotes this table), by measure.
ROBUSTNESS: dict[str, dict[str, str]] = {
    "counts": {
        "measure": "trend-reporting verdict, c-chart, CUSUM, GLM trend (report counts)",
        "robust_to_growth_in_use": "no",
        "why": "more devices in use give more reports with no change in safety; public data have no count of "
               "devices in use, so a rise in counts may be growth in use",
    },
    "change_points": {
        "measure": "change points (report counts)",
        "robust_to_growth_in_use": "partly",
        "why": "steady growth in use is rarely dated as a change, but a sudden rise in use (a launch, a new "
               "indication) is dated like any other shift in reporting",
    },
    "serious_share": {
        "measure": "serious share (death and injury reports among all reports)",
        "robust_to_growth_in_use": "yes",
        "why": "growth in use raises serious and other reports alike; the share moves when events become more "
               "severe or when reporters classify or batch reports differently",
    },
    "family_share": {
        "measure": "share of the comparator family's reports (a PRR over time)",
        "robust_to_growth_in_use": "partly",
        "why": "growth common to the device type cancels out; the device gaining market share within its family "
               "does not",
    },
}

_DEFINITION = (
    "{measure}: {num} among {den}, by {unit}. The recent {r} against the {b} just before it{reduced}: one-sided "
    "Fisher exact test for an increase of the share at level {a:g}; when the {unit} shares vary more than "
    "binomially the counts are divided by the dispersion phi first (Rao-Scott). The ratio of the recent to the "
    "baseline share is shown with a log-scale {ci:g}% interval."
)


def _clopper_pearson(x: np.ndarray, n: np.ndarray, level: float) -> tuple[np.ndarray, np.ndarray]:
    tail = (1 - level) / 2
    x, n = np.asarray(x, dtype=float), np.asarray(n, dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        low = np.where(x > 0, stats.beta.ppf(tail, x, n - x + 1), 0.0)
        high = np.where(x < n, stats.beta.ppf(1 - tail, x + 1, n - x), 1.0)
    low = np.where(n > 0, low, np.nan)
    high = np.where(n > 0, high, np.nan)
    return low, high


def _plural(count: int, unit: str) -> str:
    return f"{count} {unit}" + ("" if count == 1 else "s")


def share_trend(
    periods: pd.DataFrame,
    *,
    measure: str,
    numerator_label: str,
    denominator_label: str,
    unit: str,
    recent_periods: int,
    baseline_periods: int,
    min_baseline_periods: int,
    alpha: float = 0.05,
    ci_level: float = 0.95,
    dispersion_alpha: float = 0.05,
    robust_to_growth: str = "",
    display: pd.DataFrame | None = None,
) -> ShareTrend:
    """Recent-vs-baseline test of a share over consecutive complete ``periods``.

    ``periods`` has one row per period in time order with ``start`` (timestamp), ``numerator`` and
    ``denominator``; ``display`` (default: ``periods``) is the table shown by period, with share and
    Clopper-Pearson interval added.
    """
    table = periods.reset_index(drop=True)
    windows = trend_windows(len(table), recent_months=recent_periods, baseline_months=baseline_periods,
                            min_baseline_months=min_baseline_periods)
    shown = (table if display is None else display).copy()
    low, high = _clopper_pearson(shown["numerator"], shown["denominator"], ci_level)
    with np.errstate(invalid="ignore", divide="ignore"):
        shown["share"] = np.where(shown["denominator"] > 0, shown["numerator"] / shown["denominator"], np.nan)
    shown["ci_low"], shown["ci_high"] = low, high
    reduced = " (a reduced baseline)" if windows.reduced else ""
    params = {"recent_periods": recent_periods, "baseline_periods": baseline_periods,
              "min_baseline_periods": min_baseline_periods, "unit": unit, "alpha": alpha, "ci_level": ci_level,
              "dispersion_alpha": dispersion_alpha, "sided": "one-sided (increase of the share)"}
    common = dict(
        method=f"{measure} over time", parameters=params, measure=measure, numerator_label=numerator_label,
        denominator_label=denominator_label, period_unit=unit, periods=shown, alpha=alpha, ci_level=ci_level,
        robust_to_growth=robust_to_growth, reduced_baseline=windows.reduced,
        baseline_label=BASELINE_LABELS[windows.reduced] if windows.status == "ok" else None,
        definition=_DEFINITION.format(measure=measure[0].upper() + measure[1:], num=numerator_label,
                                      den=denominator_label, unit=unit, r=_plural(recent_periods, unit),
                                      b=_plural(windows.baseline_months or baseline_periods, unit),
                                      reduced=reduced, a=alpha, ci=100 * ci_level),
    )
    blank = dict(recent_start=None, recent_end=None, baseline_start=None, baseline_end=None,
                 recent_numerator=None, recent_denominator=None, baseline_numerator=None,
                 baseline_denominator=None, recent_share=None, baseline_share=None, share_ratio=None,
                 ci_low=None, ci_high=None, p_value=None, dispersion=None, dispersion_p_value=None,
                 dispersion_adjusted=False, test=None)
    if windows.status != "ok":
        reason = windows.reason.replace("complete months", f"complete {unit}s").replace(" months", f" {unit}s")
        return ShareTrend(**common, **blank, status="insufficient data", verdict="insufficient data", reason=reason)
    base, recent = windows.baseline, windows.monitoring
    num = table["numerator"].to_numpy(dtype=float)
    den = table["denominator"].to_numpy(dtype=float)
    a, n1 = float(num[recent].sum()), float(den[recent].sum())
    c, n0 = float(num[base].sum()), float(den[base].sum())
    starts = pd.DatetimeIndex(table["start"])
    dates = dict(recent_start=starts[recent][0].date(), recent_end=starts[recent][-1].date(),
                 baseline_start=starts[base][0].date(), baseline_end=starts[base][-1].date(),
                 recent_numerator=int(a), recent_denominator=int(n1), baseline_numerator=int(c),
                 baseline_denominator=int(n0))
    if n1 == 0 or n0 == 0 or a + c == 0:
        return ShareTrend(**common, **{**blank, **dates}, status="insufficient data", verdict="insufficient data",
                          reason=f"no {numerator_label} or no {denominator_label} in one of the windows")
    p1, p0 = a / n1, c / n0
    phi, phi_p = _share_dispersion(num, den, base, recent, p0, p1)
    adjusted = bool(np.isfinite(phi_p) and phi_p < dispersion_alpha and phi > 1)
    scale = phi if adjusted else 1.0
    cells = np.rint(np.array([[a, n1 - a], [c, n0 - c]]) / scale).astype(int)
    p_value = float(stats.fisher_exact(cells, alternative="greater").pvalue)
    ratio, low, high = _ratio_interval(a, n1, c, n0, ci_level, scale)
    test = ("one-sided Fisher exact test" if not adjusted
            else "one-sided Fisher exact test on counts divided by the dispersion (Rao-Scott)")
    verdict = "increase" if p_value < alpha else "no significant increase"
    return ShareTrend(
        **common, **dates, status="ok", verdict=verdict, reason="p < alpha" if verdict == "increase" else "p >= alpha",
        recent_share=p1, baseline_share=p0, share_ratio=ratio, ci_low=low, ci_high=high, p_value=p_value,
        dispersion=phi, dispersion_p_value=phi_p, dispersion_adjusted=adjusted, test=test,
    )


def _share_dispersion(num: np.ndarray, den: np.ndarray, base: slice, recent: slice, p0: float,
                      p1: float) -> tuple[float, float]:
    """Pearson chi2/df of the period shares about their window's share, and its p-value (df = periods - 2)."""
    x = np.concatenate([num[base], num[recent]])
    n = np.concatenate([den[base], den[recent]])
    p = np.concatenate([np.full(base.stop - base.start, p0), np.full(recent.stop - recent.start, p1)])
    var = n * p * (1 - p)
    used = var > 0
    dof = int(used.sum()) - 2
    if dof < 1:
        return float("nan"), float("nan")
    chi2 = float(np.sum((x[used] - n[used] * p[used]) ** 2 / var[used]))
    return chi2 / dof, float(stats.chi2.sf(chi2, dof))


def _ratio_interval(a: float, n1: float, c: float, n0: float, level: float, scale: float) -> tuple[float, float, float]:
    """(p1/p0, low, high) on the log scale, SE^2 = 1/a - 1/n1 + 1/c - 1/n0 times ``scale``; 0.5 added to zero cells."""
    if a == 0 or c == 0:
        a, c, n1, n0 = a + 0.5, c + 0.5, n1 + 0.5, n0 + 0.5
    ratio = (a / n1) / (c / n0)
    se = math.sqrt(max(0.0, (1 / a - 1 / n1 + 1 / c - 1 / n0) * scale))
    z = float(stats.norm.ppf(0.5 + level / 2))
    return ratio, ratio * math.exp(-z * se), ratio * math.exp(z * se)


def _by_year(frame: pd.DataFrame) -> pd.DataFrame:
    """Sum ``numerator`` and ``denominator`` of monthly rows by calendar year (complete months only)."""
    years = frame.assign(period=frame["start"].dt.year.astype(str))
    out = years.groupby("period", as_index=False).agg(start=("start", "min"), end=("start", "max"),
                                                       months=("start", "size"), numerator=("numerator", "sum"),
                                                       denominator=("denominator", "sum"))
    return out


def serious_share(
    series: MonthlySeries,
    *,
    recent_months: int = 12,
    baseline_months: int = 24,
    min_baseline_months: int = 12,
    alpha: float = 0.05,
    dispersion_alpha: float = 0.05,
) -> ShareTrend:
    """Share of death and injury reports among all reports, recent window against the baseline (complete months)."""
    months, serious, _ = complete_counts(series, "Death")
    serious = serious + complete_counts(series, "Injury")[1]
    total = complete_counts(series, "total")[1]
    monthly = pd.DataFrame({"start": months, "numerator": serious.astype("int64"), "denominator": total.astype("int64")})
    return share_trend(
        monthly, measure="serious share", numerator_label="death and injury reports", denominator_label="all reports",
        unit="month", recent_periods=recent_months, baseline_periods=baseline_months,
        min_baseline_periods=min_baseline_months, alpha=alpha, dispersion_alpha=dispersion_alpha,
        robust_to_growth=ROBUSTNESS["serious_share"]["why"], display=_by_year(monthly),
    )


def family_share(
    device: Mapping[str, int],
    family: Mapping[str, int],
    *,
    complete_periods: list[str],
    recent_years: int = 1,
    baseline_years: int = 2,
    min_baseline_years: int = 1,
    alpha: float = 0.05,
    dispersion_alpha: float = 0.05,
) -> ShareTrend:
    """The device's share of its comparator family's reports by calendar year (a PRR over time).

    ``device`` and ``family`` map a year ("2021") to reports received that year (``family`` includes
    the device); only ``complete_periods`` (years fully covered by the data, oldest first) are used.
    """
    rows = [{"period": year, "start": pd.Timestamp(f"{year}-01-01"), "numerator": int(device.get(year, 0)),
             "denominator": int(family.get(year, 0))} for year in complete_periods]
    frame = pd.DataFrame(rows, columns=["period", "start", "numerator", "denominator"])
    if (frame["numerator"] > frame["denominator"]).any():
        raise ValueError("the family's reports must include the device's: a year has more device reports than family reports")
    return share_trend(
        frame, measure="share of the comparator family's reports", numerator_label="reports of the device",
        denominator_label="reports of the device and its comparators", unit="year", recent_periods=recent_years,
        baseline_periods=baseline_years, min_baseline_periods=min_baseline_years, alpha=alpha,
        dispersion_alpha=dispersion_alpha, robust_to_growth=ROBUSTNESS["family_share"]["why"],
    )
