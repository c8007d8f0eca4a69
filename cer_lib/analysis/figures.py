"""Figures of the time-series analyses, saved as PNG (150 dpi) and SVG.

Each function takes result objects and a folder, draws one figure, writes ``<id>.png`` and
``<id>.svg`` atomically (temporary file, then rename) and returns a
:class:`~cer_lib.analysis.results.FigureRecord` whose caption is built from the result's numbers.
A result that could not be computed (too few months, no forecast) gets no figure (``None``): an
empty axis says nothing the report's text does not say better.

Drawing never touches pyplot or the global backend: figures are ``matplotlib.figure.Figure``
objects rendered by the Agg canvas, so nothing needs a display and a notebook's own backend is left
alone. One restrained style (seaborn ``whitegrid`` with a fixed rc) and the Okabe-Ito colour-blind-
safe palette throughout. SVG text stays text (searchable, small); SVG output carries no date and a
fixed hash salt, so the same results give the same bytes (useful for the run manifest's hashes).
"""
from __future__ import annotations

import os
import tempfile
import textwrap
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import matplotlib as mpl
import matplotlib.dates as mdates
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from .results import (
    EVENT_TYPES,
    ChangePointAnalysis,
    ControlChartResult,
    CusumResult,
    FigureRecord,
    ForecastResult,
    MonthlySeries,
    ProblemProfile,
    ShareTrend,
    TrendAnalysis,
)

__all__ = [
    "EVENT_COLOURS",
    "OKABE_ITO",
    "make_figures",
    "plot_change_points",
    "plot_control_chart",
    "plot_cusum",
    "plot_forecast",
    "plot_monthly_counts",
    "plot_share_trends",
    "plot_top_problems",
]

#: Okabe & Ito (2008) colour-blind-safe palette.
OKABE_ITO: dict[str, str] = {
    "black": "#000000", "orange": "#E69F00", "sky_blue": "#56B4E9", "bluish_green": "#009E73",
    "yellow": "#F0E442", "blue": "#0072B2", "vermillion": "#D55E00", "reddish_purple": "#CC79A7",
    "grey": "#999999",
}
EVENT_COLOURS: dict[str, str] = {
    "Death": OKABE_ITO["vermillion"], "Injury": OKABE_ITO["orange"],
    "Malfunction": OKABE_ITO["blue"], "Other": OKABE_ITO["grey"],
}
_SIGNAL = OKABE_ITO["vermillion"]
_LINE = OKABE_ITO["black"]
_ACCENT = OKABE_ITO["blue"]
_DPI = 150
TERM_LABEL_WIDTH = 34  # characters per line of a problem term's label
_SIZE = (8.0, 4.6)

_RC = {
    **sns.axes_style("whitegrid"),
    "font.size": 9.0, "axes.titlesize": 11.0, "axes.titleweight": "bold", "axes.labelsize": 9.0,
    "xtick.labelsize": 8.0, "ytick.labelsize": 8.0, "legend.fontsize": 8.0, "legend.frameon": False,
    "axes.spines.top": False, "axes.spines.right": False, "grid.color": "#e6e6e6",
    "svg.hashsalt": "cer_lib", "svg.fonttype": "none", "figure.dpi": 100, "savefig.dpi": _DPI,
}


@contextmanager
def _style() -> Iterator[None]:
    with mpl.rc_context(_RC):
        yield


def _new_figure(ncols: int = 1, size: tuple[float, float] = _SIZE):
    fig = Figure(figsize=size, layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, ncols)
    return fig, axes


def _count_axis(ax) -> None:
    """Integer ticks on an axis of report counts (no "2.5 reports")."""
    from matplotlib.ticker import MaxNLocator

    ax.yaxis.set_major_locator(MaxNLocator(integer=True))


def _date_axis(ax) -> None:
    locator = mdates.AutoDateLocator(minticks=4, maxticks=10)
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))


def _atomic_save(fig: Figure, path: Path, fmt: str) -> None:
    handle, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(handle)
    try:
        metadata = {"Date": None} if fmt == "svg" else None
        fig.savefig(tmp, format=fmt, dpi=_DPI, metadata=metadata)
        os.chmod(tmp, 0o644)  # mkstemp makes 0600; the report and book must be able to read it
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _save(fig: Figure, out_dir: str | os.PathLike[str], figure_id: str, title: str,
          caption: str) -> FigureRecord:
    folder = Path(out_dir)
    folder.mkdir(parents=True, exist_ok=True)
    png, svg = folder / f"{figure_id}.png", folder / f"{figure_id}.svg"
    fig.draw_without_rendering()  # run the constrained layout once ...
    fig.set_layout_engine("none")  # ... and keep it for both formats
    _atomic_save(fig, png, "png")
    _atomic_save(fig, svg, "svg")
    return FigureRecord(id=figure_id, title=title, caption=caption, png=png.as_posix(), svg=svg.as_posix())


def _field_label(result: MonthlySeries | ControlChartResult | CusumResult | ForecastResult
                 | ChangePointAnalysis) -> str:
    field = getattr(result, "date_field", None) or result.parameters.get("date_field", "date_received")
    return str(field).replace("_", " ")


def _fmt_month(value) -> str:
    return pd.Timestamp(value).strftime("%Y-%m")


def _legend(fig: Figure, ax, ncols: int = 4) -> None:
    """One legend below the axes, outside the data."""
    handles, labels = ax.get_legend_handles_labels()
    if handles:
        fig.legend(handles, labels, loc="outside lower center", ncols=min(ncols, len(handles)))


def _note(ax, text: str) -> None:
    ax.text(0.5, 0.5, text, transform=ax.transAxes, ha="center", va="center", fontsize=9,
            color=OKABE_ITO["grey"], wrap=True)


# --------------------------------------------------------------------------------------------
# Figures
# --------------------------------------------------------------------------------------------


def plot_monthly_counts(series: MonthlySeries, out_dir: str | os.PathLike[str], *,
                        figure_id: str = "monthly_counts") -> FigureRecord:
    """Stacked bars of monthly reports by event type; incomplete months hatched and labelled."""
    table = series.table
    title = f"Reports per month by event type ({_field_label(series)})"
    with _style():
        fig, ax = _new_figure()
        bottom = np.zeros(len(table))
        width = 24  # days
        for event_type in EVENT_TYPES:
            values = table[event_type].to_numpy(dtype=float)
            if values.sum() == 0:
                continue
            ax.bar(table["month"], values, width=width, bottom=bottom, align="edge",
                   color=EVENT_COLOURS[event_type], label=event_type, linewidth=0)
            bottom += values
        incomplete = ~table["complete"].to_numpy()
        if incomplete.any():
            ax.bar(table["month"][incomplete], bottom[incomplete], width=width, align="edge",
                   facecolor="white", alpha=0.55, edgecolor=_LINE, hatch="///", linewidth=0.6,
                   label="incomplete or within the reporting-lag guard (not tested)")
        ax.set_title(title, loc="left")
        ax.set_xlabel(f"month ({_field_label(series)})")
        ax.set_ylabel("reports per month")
        _count_axis(ax)
        _date_axis(ax)
        if bottom.sum() == 0:
            _note(ax, "no reports in the window")
        _legend(fig, ax, ncols=5)
        ax.set_ylim(0, max(1.0, bottom.max()) * 1.05)
        ax.grid(axis="x", visible=False)
        gaps = ", ".join(_fmt_month(m) for m in series.incomplete_months) or "none"
        caption = (
            f"Reports per calendar month by event type, counted on {_field_label(series)}, "
            f"{_fmt_month(table['month'].iloc[0])} to {_fmt_month(table['month'].iloc[-1])} "
            f"({series.n_reports} reports; data as of {series.as_of.isoformat()}). Incomplete months "
            f"(hatched: {gaps}) are shown but excluded from tests and models"
            + (f"; they include the {series.lag_guard_months} month(s) before the data date still filling with "
               f"late reports (months ending after {series.lag_guard_cutoff.isoformat()})" if series.lag_guard_months
               else "")
            + ". Counts are reports (numerators only), not incidence."
        )
        return _save(fig, out_dir, figure_id, title, caption)


def plot_control_chart(chart: ControlChartResult, out_dir: str | os.PathLike[str], *,
                       unit: str = "reports", figure_id: str = "control_chart") -> FigureRecord | None:
    """c-chart by phase: history grey, baseline (phase I) and monitoring window (phase II) shaded, each
    month's centre and limits; phase-I months set aside marked x, phase-II signals circled. ``None``
    when the chart could not be computed."""
    if chart.status != "ok" or chart.points is None:
        return None
    title = f"c-chart of monthly {unit} (phase I baseline, phase II monitoring)"
    with _style():
        fig, ax = _new_figure()
        ax.set_title(title, loc="left")
        ax.set_xlabel(f"month ({_field_label(chart)})")
        ax.set_ylabel(f"{unit} per month")
        _count_axis(ax)
        points = chart.points
        for phase, colour, label in (("baseline", OKABE_ITO["sky_blue"], "phase I: baseline"),
                                     ("monitoring", OKABE_ITO["orange"], "phase II: monitoring window")):
            part = points.loc[points["phase"] == phase, "month"]
            ax.axvspan(part.iloc[0], part.iloc[-1] + pd.offsets.MonthEnd(0), color=colour, alpha=0.12,
                       linewidth=0, label=label)
        history = points.loc[points["phase"] == "history"]
        if not history.empty:
            ax.plot(history["month"], history["count"], color=OKABE_ITO["grey"], marker="o", markersize=2.5,
                    linewidth=0.8, label="earlier months (not charted)")
        charted = points.loc[points["phase"] != "history"]
        ax.plot(charted["month"], charted["count"], color=_LINE, marker="o", markersize=3, linewidth=1,
                label=unit)
        steps = dict(where="mid", linewidth=1)
        ax.step(charted["month"], charted["center"], color=_ACCENT,
                label=f"centre ({chart.center:.1f} per average month)", **{**steps, "linewidth": 1.2})
        ax.step(charted["month"], charted["ucl"], color=_SIGNAL, linestyle="--", label="upper control limit", **steps)
        if (charted["lcl"] > 0).any():
            ax.step(charted["month"], charted["lcl"], color=_SIGNAL, linestyle=":", label="lower control limit",
                    **steps)
        excluded = points.loc[points["phase_one_excluded"]]
        if not excluded.empty:
            ax.scatter(excluded["month"], excluded["count"], s=36, marker="x", color=OKABE_ITO["reddish_purple"],
                       linewidth=1.4, zorder=5, label="phase I: set aside (not a signal)")
        signals = points.loc[points["signal"]]
        if not signals.empty:
            ax.scatter(signals["month"], signals["count"], s=44, facecolor="none", edgecolor=_SIGNAL,
                       linewidth=1.5, zorder=6, label="phase II signal")
        _date_axis(ax)
        ax.set_ylim(bottom=0)
        _legend(fig, ax, ncols=3)
        reduced = " (a reduced baseline)" if chart.reduced_baseline else ""
        fa = chart.false_alarm_probability_window_estimated
        caption = (
            f"c-chart of monthly {unit} (complete months). Phase I: the baseline {_fmt_month(chart.baseline_start)} "
            f"to {_fmt_month(chart.baseline_end)}{reduced} sets the centre, its {unit} per day times the month's "
            f"days ({chart.center:.1f} in an average month), limits centre +/- {chart.sigma_multiplier:g} "
            f"sqrt(centre) (average month: UCL {chart.ucl:.1f}, LCL {chart.lcl:.1f}); "
            f"{len(chart.phase_one_excluded)} baseline month(s) outside the trial limits were set aside. Phase II: "
            f"{len(chart.months_above_ucl)} month(s) of the monitoring window {_fmt_month(chart.monitoring_start)} "
            f"to {_fmt_month(chart.monitoring_end)} above the upper limit"
            + (f"; with the centre estimated, an in-control window shows at least one such month with probability "
               f"{fa:.1%}" if fa is not None and np.isfinite(fa) else "")
            + ". Limits assume Poisson variation"
            + (f"; baseline Pearson chi2/df {chart.baseline_dispersion:.2g}." if chart.baseline_dispersion
               is not None and np.isfinite(chart.baseline_dispersion) else ".")
        )
        return _save(fig, out_dir, figure_id, title, caption)


def plot_cusum(cusum: CusumResult, out_dir: str | os.PathLike[str], *,
               unit: str = "reports", figure_id: str = "cusum") -> FigureRecord | None:
    """Upper Poisson CUSUM path over the monitoring window with the decision interval h and alarms."""
    if cusum.status != "ok" or cusum.path is None or cusum.path.empty:
        return None
    title = f"Poisson CUSUM for an increase in monthly {unit}"
    with _style():
        fig, ax = _new_figure()
        ax.set_title(title, loc="left")
        ax.set_xlabel(f"month ({_field_label(cusum)})")
        ax.set_ylabel(f"CUSUM ({unit})")
        path = cusum.path
        ax.plot(path["month"], path["cusum"], color=_LINE, linewidth=1.2, marker="o", markersize=2.5,
                label="CUSUM S_t")
        ax.axhline(cusum.h, color=_SIGNAL, linestyle="--", linewidth=1, label=f"h = {cusum.h:.3g}")
        alarms = path.loc[path["alarm"]]
        if not alarms.empty:
            ax.scatter(alarms["month"], alarms["cusum"], s=30, color=_SIGNAL, zorder=5, label="alarm")
        if cusum.first_alarm is not None:
            ax.axvline(pd.Timestamp(cusum.first_alarm), color=_SIGNAL, linewidth=0.8, alpha=0.6)
        _date_axis(ax)
        ax.set_ylim(bottom=0, top=max(cusum.h * 1.3, float(path["cusum"].max()) * 1.1))
        _legend(fig, ax, ncols=3)
        first = _fmt_month(cusum.first_alarm) if cusum.first_alarm else "none"
        arl0 = (f"{cusum.arl0:,.0f}" if cusum.arl0 is not None and cusum.arl0 < 1e5
                else "over 100,000")
        fa = cusum.false_alarm_probability_window_estimated
        caption = (
            f"Upper Poisson CUSUM of monthly {unit} over the monitoring window {_fmt_month(cusum.monitoring_start)} "
            f"to {_fmt_month(cusum.monitoring_end)}, after the baseline {_fmt_month(cusum.baseline_start)} "
            f"to {_fmt_month(cusum.baseline_end)} (in-control mean {cusum.in_control_mean:.1f} per month). "
            f"Tuned to a {cusum.shift_ratio:g}-fold increase: k = {cusum.k:.3g}, h = {cusum.h:.3g}, "
            f"in-control average run length {arl0} months with the mean known"
            + (f"; with the mean estimated, an in-control window alarms with probability {fa:.1%}"
               if fa is not None and np.isfinite(fa) else "")
            + f". First alarm: {first}."
        )
        return _save(fig, out_dir, figure_id, title, caption)


def plot_change_points(series: MonthlySeries, changes: ChangePointAnalysis,
                       out_dir: str | os.PathLike[str], *, unit: str = "reports", figure_id: str = "change_points") -> FigureRecord | None:
    """Monthly totals with PELT segment means (descriptive 95% CI bands) and change dates; Binseg dates as
    ticks. ``None`` when the series was too short to search."""
    if changes.status != "ok":
        return None
    title = f"Change points in monthly {unit}"
    table = series.complete()
    with _style():
        fig, ax = _new_figure()
        ax.set_title(title, loc="left")
        ax.set_xlabel(f"month ({_field_label(series)})")
        ax.set_ylabel(f"{unit} per month")
        _count_axis(ax)
        ax.plot(table["month"], table[changes.event_type], color=OKABE_ITO["grey"], marker="o",
                markersize=3, linewidth=0.8, label=f"{unit} (complete months)")
        if changes.pelt is not None:  # one legend entry per kind of mark, on the first mark drawn
            for i, row in enumerate(changes.pelt.segments.itertuples()):
                x = [row.start, row.end + pd.offsets.MonthEnd(0)]
                ax.fill_between(x, row.ci_low, row.ci_high, color=_ACCENT, alpha=0.15, linewidth=0)
                ax.plot(x, [row.rate, row.rate], color=_ACCENT, linewidth=2,
                        label="segment mean (descriptive 95% CI)" if i == 0 else "_nolegend_")
            for i, point in enumerate(changes.pelt.change_points):
                ax.axvline(pd.Timestamp(point.date), color=_SIGNAL, linewidth=1.2,
                           label="change point (PELT)" if i == 0 else "_nolegend_")
        if changes.binseg is not None and changes.binseg.change_points:
            dates = [pd.Timestamp(p.date) for p in changes.binseg.change_points]
            ax.plot(dates, np.zeros(len(dates)), linestyle="none", marker="^", color=OKABE_ITO["orange"],
                    markersize=8, clip_on=False, label="change point (binary segmentation)")
        _date_axis(ax)
        ax.set_ylim(bottom=0)
        _legend(fig, ax, ncols=2)
        points = changes.change_points
        level = changes.parameters.get("validation_level")
        checked = (f"{len(changes.candidates)} candidate(s), each kept only if a local self-normalised test for a "
                   f"change in mean rejects at level {level:g}")
        if not points:
            found = f"{checked}: no change point."
        else:
            found = f"{checked}; change points: " + "; ".join(
                f"{_fmt_month(p.date)} ({p.rate_before:.1f} to {p.rate_after:.1f} {unit} per month"
                + (f", ratio {p.rate_ratio:.2f}" if p.rate_ratio is not None and np.isfinite(p.rate_ratio)
                   else "") + ")" for p in points) + ". Intervals are descriptive (the dates were chosen from the data)."
        caption = (
            f"Monthly {unit} (complete months) with segments of constant mean found by PELT "
            f"(Poisson cost scaled by the residual dispersion, penalty {changes.penalty:.2f} = "
            f"{changes.parameters.get('penalty_factor', 4):g} ln n, segments of at least {changes.min_size} months); "
            f"triangles mark binary segmentation's dates. {found} "
            f"Sensitivity: {changes.detectable_shift.get('note', '')}."
        )
        return _save(fig, out_dir, figure_id, title, caption)


def plot_forecast(series: MonthlySeries, forecast: ForecastResult, out_dir: str | os.PathLike[str], *,
                  unit: str = "reports", figure_id: str = "forecast") -> FigureRecord | None:
    """History (complete months; incomplete hollow), forecast mean and 80%/95% prediction bands; ``None``
    without a forecast."""
    if forecast.status != "ok" or forecast.forecast is None:
        return None
    title = f"Forecast of monthly {unit} ({forecast.horizon} months)"
    table = series.table
    done = table.loc[table["complete"]]
    partial = table.loc[~table["complete"]]
    with _style():
        fig, ax = _new_figure()
        ax.set_title(title, loc="left")
        ax.set_xlabel(f"month ({_field_label(series)})")
        ax.set_ylabel(f"{unit} per month")
        _count_axis(ax)
        ax.plot(done["month"], done[forecast.event_type], color=_LINE, linewidth=1.1, marker="o",
                markersize=2.5, label="observed")
        if not partial.empty:
            ax.scatter(partial["month"], partial[forecast.event_type], facecolor="white", edgecolor=_LINE,
                       s=22, zorder=5, label="incomplete month (partial count)")
        frame = forecast.forecast
        ax.fill_between(frame["month"], frame["pi95_low"], frame["pi95_high"], color=_ACCENT,
                        alpha=0.15, linewidth=0, label="95% prediction interval")
        ax.fill_between(frame["month"], frame["pi80_low"], frame["pi80_high"], color=_ACCENT,
                        alpha=0.3, linewidth=0, label="80% prediction interval")
        ax.plot(frame["month"], frame["mean"], color=_ACCENT, linewidth=1.5, linestyle="--",
                label=f"forecast, {forecast.model}")
        backtest = forecast.backtest or {}
        mase, naive = backtest.get("mase"), backtest.get("naive_mase")
        mase_text = f"{mase:.2f}" if mase is not None else "not available"
        caption = (
            f"Monthly {unit} to {_fmt_month(forecast.train_end)} and a {forecast.horizon}-month "
            f"{forecast.model} forecast (selected by AICc, fitted to log({unit} + 1)): bias-adjusted mean with 80% "
            f"and 95% prediction intervals transformed back from the log scale (asymmetric, never below zero). "
            f"Rolling-origin back-test over {backtest.get('n_origins', 0)} origins at horizons 1 to "
            f"{backtest.get('horizon', forecast.horizon)} months: MASE {mase_text}"
            + (f" (naive forecast {naive:.2f})" if naive is not None else "")
            + ", scaled by the in-sample naive error (seasonal naive for a seasonal model). A forecast "
            "extrapolates reporting patterns, it does not predict incidents."
        )
        _date_axis(ax)
        ax.set_ylim(bottom=0)
        _legend(fig, ax, ncols=3)
        return _save(fig, out_dir, figure_id, title, caption)


def plot_top_problems(profile: ProblemProfile, out_dir: str | os.PathLike[str], *,
                      unit: str = "reports", figure_id: str = "top_problems") -> FigureRecord:
    """Horizontal bars of the top device- and patient-problem terms, share of reports (%)."""
    title = f"Top problem terms, {profile.product_code} (share of {unit})"
    top = profile.top_terms
    lines = top.assign(lines=[_wrapped(t).count("\n") + 1 for t in top["term"]]) if not top.empty else top
    n_rows = max(1, int(lines.groupby("problem_type")["lines"].sum().max()) if not top.empty else 1)
    with _style():
        fig, axes = _new_figure(ncols=2, size=(9.0, max(3.0, 0.32 * n_rows + 1.4)))
        for ax, ptype, colour in zip(axes, ("device", "patient"), (_ACCENT, OKABE_ITO["bluish_green"]),
                                     strict=True):
            rows = top.loc[top["problem_type"] == ptype]
            ax.set_title(f"{ptype} problems", loc="left", fontsize=10)
            ax.set_xlabel(f"share of {unit} (%)")
            if rows.empty:
                _note(ax, "no terms")
                ax.set_yticks([])
                continue
            labels = [_wrapped(t) for t in rows["term"]]
            shares = rows["share"].to_numpy(dtype=float) * 100
            positions = np.arange(len(rows))[::-1]
            ax.barh(positions, shares, color=colour, height=0.7)
            ax.set_yticks(positions, labels)
            for pos, share, count in zip(positions, shares, rows["n_reports"], strict=True):
                ax.text(share, pos, f" {count:,}", va="center", fontsize=7)
            ax.set_xlim(0, max(1.0, float(np.nanmax(shares))) * 1.25)
            ax.grid(axis="y", visible=False)
        fig.suptitle(title, x=0.01, ha="left", fontweight="bold", fontsize=11)
        changed = profile.share_changes
        significant = changed.loc[changed["significant"].astype(bool)] if not changed.empty else changed
        recent = profile.recent_years
        span = f"{recent[0]}-{recent[-1]}" if len(recent) > 1 else (recent[0] if recent else "recent years")
        caption = (
            f"Most frequent device-problem and patient-problem terms for {profile.product_code}, as a share "
            f"of its {profile.n_reports:,} {unit} (numbers at the bar ends are {unit}). A report can carry "
            f"several terms, so shares do not add up to 100%. {len(significant)} term(s) changed share "
            f"between {span} and earlier "
            f"years at FDR q = {profile.parameters.get('q', 0.05):g} (Fisher exact, Benjamini-Hochberg)."
        )
        return _save(fig, out_dir, figure_id, title, caption)


def _wrapped(term: str, width: int = TERM_LABEL_WIDTH) -> str:
    """A problem term on lines of at most ``width`` characters, broken between words: never cut short."""
    return textwrap.fill(str(term), width=width, break_long_words=False, break_on_hyphens=False)


def plot_share_trends(shares: dict[str, ShareTrend], out_dir: str | os.PathLike[str], *,
                      figure_id: str = "trend_shares") -> FigureRecord | None:
    """Shares that need no denominator, by year with 95% intervals: serious share, and the device's
    share of its comparator family when available. ``None`` when neither could be computed."""
    shown = [(key, share) for key, share in shares.items()
             if share.status == "ok" and share.periods is not None and len(share.periods)]
    if not shown:
        return None
    title = "Shares of reports robust to growth in use"
    with _style():
        fig, axes = _new_figure(ncols=len(shown), size=(8.0 if len(shown) == 1 else 9.5, 4.2))
        axes = np.atleast_1d(axes)
        parts = []
        for ax, (key, share) in zip(axes, shown, strict=True):
            frame = share.periods
            x = pd.to_datetime(frame["start"]) + pd.offsets.MonthBegin(0) + pd.Timedelta(days=182)
            shares_pct = frame["share"].to_numpy(dtype=float) * 100
            err = np.vstack([shares_pct - frame["ci_low"].to_numpy(dtype=float) * 100,
                             frame["ci_high"].to_numpy(dtype=float) * 100 - shares_pct])
            colour = OKABE_ITO["vermillion"] if key == "serious" else _ACCENT
            ax.errorbar(x, shares_pct, yerr=err, fmt="o", color=colour, capsize=3, linewidth=1, markersize=4,
                        label="share by year (95% CI)")
            for start, end, value, style, label in (
                    (share.baseline_start, share.baseline_end, share.baseline_share, ":", "baseline"),
                    (share.recent_start, share.recent_end, share.recent_share, "--", "recent window")):
                end_day = pd.Timestamp(end) + (pd.offsets.MonthEnd(0) if share.period_unit == "month"
                                               else pd.offsets.YearEnd(0))
                ax.plot([pd.Timestamp(start), end_day], [value * 100] * 2, color=_LINE, linestyle=style,
                        linewidth=1.3, label=f"{label} share")
            ax.set_title(share.measure[0].upper() + share.measure[1:], loc="left", fontsize=10)
            ax.set_ylabel("% of reports")
            ax.set_ylim(bottom=0)
            _date_axis(ax)
            ratio = (f"ratio {share.share_ratio:.2f} (95% CI {share.ci_low:.2f} to {share.ci_high:.2f}), "
                     f"p = {share.p_value:.3g}" if share.share_ratio is not None else "not tested")
            parts.append(f"{share.measure}: {share.numerator_label} among {share.denominator_label}, recent "
                         f"{share.recent_share:.1%} against baseline {share.baseline_share:.1%}, {ratio} "
                         f"({share.verdict})")
        fig.suptitle(title, x=0.01, ha="left", fontweight="bold", fontsize=11)
        _legend(fig, axes[0], ncols=4)
        caption = ("Shares of the device's reports by calendar year with Clopper-Pearson 95% intervals; lines mark the "
                   "baseline and recent-window shares the test compares. Unlike report counts, a share does not rise "
                   "with growth in the number of devices in use. " + "; ".join(parts) + ".")
        return _save(fig, out_dir, figure_id, title, caption)


def make_figures(
    series: MonthlySeries,
    out_dir: str | os.PathLike[str],
    *,
    trend: TrendAnalysis | None = None,
    shares: dict[str, ShareTrend] | None = None,
    changes: ChangePointAnalysis | None = None,
    forecast: ForecastResult | None = None,
    problems: ProblemProfile | None = None,
    reports: MonthlySeries | None = None,
    unit: str = "reports",
    problems_unit: str = "reports",
) -> list[FigureRecord]:
    """Every figure the given results allow, in report order (results without a figure are skipped).

    ``series`` is what the models counted (``unit``: ``reports``, or ``events`` when reports of one
    event were merged); ``reports`` the same months counting reports as received, drawn as the
    monthly-counts figure beside the report-count table (``series`` when not given); ``problems_unit``
    what the problem profile counted."""
    records = [plot_monthly_counts(reports if reports is not None else series, out_dir)]
    if trend is not None:
        records.append(plot_control_chart(trend.control_chart, out_dir, unit=unit))
        records.append(plot_cusum(trend.cusum, out_dir, unit=unit))
    if shares is not None:
        records.append(plot_share_trends(shares, out_dir))
    if changes is not None:
        records.append(plot_change_points(series, changes, out_dir, unit=unit))
    if forecast is not None:
        records.append(plot_forecast(series, forecast, out_dir, unit=unit))
    if problems is not None:
        records.append(plot_top_problems(problems, out_dir, unit=problems_unit))
    return [record for record in records if record is not None]
