"""The analyze stage for a drug: FAERS series by seriousness, trend, change points, forecast,
database-wide disproportionality of every reaction, and listedness against the label.

- **Series.** Reports received per month: all, serious, fatal (`series.monthly_counts`, each
  series passed under one event type so that only its ``total`` is used). The trend tests,
  control chart, CUSUM, change points and forecast run on *all* reports (the pre-specified
  primary series); the trend tests also run on serious reports (secondary).
- **Disproportionality** (`disproportionality.detect_signals`): for each reaction term T of the
  drug, the 2x2 table over the FAERS database in the window: a = the drug's reports with T,
  a + b = the drug's reports, a + c = the database's reports with T, N = the database's reports;
  PRR, ROR (95% CI), IC with IC025, EBGM with EB05/EB95. From a FAERS mirror the GPS prior is
  the one fitted once on every drug-reaction pair of the snapshot (`drug_prior`, cached); from the
  API, where only the drug's own terms are counted, it is fitted on the pairs of this
  drug-versus-rest-of-database table (the drug's terms and the same terms in all other reports).
  The methods text says which. A term whose database count is not known (openFDA
  counts at most 1000 terms, so a term outside the database's 1000 most reported is missing) is
  not scored: it is listed with that reason, never given a made-up background.
- **Listedness** (`listedness`): a term is *listed* when it occurs in the current label's boxed
  warning, warnings and precautions, adverse reactions or contraindications, as case-insensitive
  whole words, the MedDRA preferred term or one of its common variants (US spelling of British
  MedDRA spelling: ae/oe -> e, "oedema" -> "edema"; the plural); otherwise *unlisted*. Without a
  label the listedness is "not assessed". Unlisted signals are the table a safety physician reads first.

Written to ``results/analysis.json`` in the device analysis' shape where the meaning is the same
(meta, monthly counts, trend, change points, forecast, figures, headline) and the drug's own
results under ``details.drug``.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import re
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from ..context import RunContext
from ..dates import parse_date
from ..runfolder import layout
from .changepoints import change_points
from .contingency import contingency_from_counts
from .disproportionality import SignalResult, SignalSettings, detect_signals
from .drug_prior import prior_from_dict
from .ebgm_fit import PriorChoice
from .figures import OKABE_ITO, _legend, _save, plot_change_points, plot_control_chart, plot_cusum, plot_forecast
from .forecast import forecast_counts
from .results import FigureRecord, to_jsonable
from .series import monthly_counts
from .stage import (
    SCHEMA_VERSION,
    _change_points_view,
    _forecast_view,
    _monthly_counts_view,
    _series_window,
    _trend_view,
)
from .trend import trend_analysis

__all__ = ["analyze_drug", "drug_signals", "listedness", "term_variants", "LISTEDNESS_METHOD", "SERIES"]

SERIES = ("all", "serious", "death")
INPUT_TABLES = ("drug_event_counts", "reaction_counts", "drug_report_totals", "labels")
LISTEDNESS_METHOD = (
    "A reaction is listed when its MedDRA preferred term, or a common variant of it (the US spelling of "
    "MedDRA's British spelling: ae and oe read as e, oedema as edema; the plural with s), occurs as whole words, "
    "ignoring case, in the current label's boxed warning, warnings and precautions (or warnings, precautions), "
    "adverse reactions or contraindications; otherwise it is unlisted. Synonyms and broader or narrower terms are "
    "not matched: an unlisted term is a candidate for review, not a finding.")
_SPELLING = ((r"oedema", "edema"), (r"haem", "hem"), (r"oesoph", "esoph"), (r"ae", "e"), (r"oe", "e"))


def term_variants(term: str) -> list[str]:
    """The forms of a MedDRA term that count as the same words in a US label (see `LISTEDNESS_METHOD`)."""
    base = term.strip().lower()
    forms = {base}
    us = base
    for pattern, repl in _SPELLING:
        us = re.sub(pattern, repl, us)
    forms.add(us)
    forms |= {f + "s" for f in list(forms)}
    return sorted(forms)


def listedness(terms: list[str], labels: pd.DataFrame) -> tuple[dict[str, str], dict[str, list[str]], str | None]:
    """``(status per term, label sections per listed term, label used)``: listed, unlisted, or not assessed."""
    if labels is None or labels.empty:
        return {t: "not assessed" for t in terms}, {}, None
    newest = labels.sort_values("effective_time", ascending=False, na_position="last")["set_id"].iloc[0]
    label = labels[labels["set_id"] == newest]
    texts = {str(r.section): " " + re.sub(r"\s+", " ", str(r.text)).lower() + " " for r in label.itertuples()}
    status, where = {}, {}
    for term in terms:
        patterns = [re.compile(r"(?<![\w])" + re.escape(v) + r"(?![\w])") for v in term_variants(term)]
        sections = [s for s, text in texts.items() if any(p.search(text) for p in patterns)]
        status[term] = "listed" if sections else "unlisted"
        if sections:
            where[term] = sections
    effective = label["effective_time"].iloc[0]
    described = f"set id {newest}" + (f", effective {pd.Timestamp(effective):%Y-%m-%d}" if pd.notna(effective) else "")
    return status, where, described


def drug_signals(reactions: pd.DataFrame, totals: pd.DataFrame, drug: str, settings: SignalSettings,
                 database_prior: dict[str, Any] | None = None) -> tuple[SignalResult | None, list[dict[str, Any]], str | None]:
    """The drug-versus-database disproportionality of its reaction terms (module docstring). With
    ``database_prior`` (`drug_prior.database_prior`: the GPS prior of the whole FAERS snapshot)
    EBGM, EB05 and EB95 use it instead of the prior of the drug-versus-rest table.

    Returns ``(result, terms not scored with the reason, why nothing was scored)``.
    """
    whole = totals[totals["period"] == "all"].set_index("scope")["n_reports"]
    n_drug, n_database = int(whole.get("drug", 0)), int(whole.get("database", 0))
    own = reactions[reactions["scope"] == "drug"].set_index("term")["n_reports"]
    background = reactions[reactions["scope"] == "database"].set_index("term")["n_reports"]
    if own.empty or n_drug == 0:
        return None, [], "the drug has no reports with a reaction term in the window"
    if n_database <= n_drug:
        return None, [], "the database holds no reports besides the drug's, so there is no background"
    truncated = bool(reactions.loc[reactions["scope"] == "database", "truncated"].any())
    unknown = [t for t in own.index if t not in background.index]
    not_scored = [{"term": t, "n_reports": int(own[t]), "reason": (
        "outside the database's reaction count (openFDA counts at most 1000 terms): no background count"
        if truncated else "no database count for the term")} for t in unknown]
    scored = own.drop(unknown)
    inconsistent = [t for t in scored.index if background[t] < scored[t]]
    if inconsistent:
        raise ValueError(f"the database count of {inconsistent[0]!r} is below the drug's: the counts are inconsistent")
    rest = "all other reports"
    term_counts = pd.concat([
        pd.DataFrame({"product": drug, "term": scored.index, "n_reports": scored.to_numpy()}),
        pd.DataFrame({"product": rest, "term": scored.index, "n_reports": (background[scored.index] - scored).to_numpy()}),
    ], ignore_index=True)
    term_counts = term_counts[term_counts["n_reports"] > 0]
    product_totals = pd.DataFrame({"product": [drug, rest], "n_reports": [n_drug, n_database - n_drug]})
    table = contingency_from_counts(term_counts, product_totals)
    given = _database_prior_choice(database_prior)
    prior_text = ("The GPS prior is the one fitted once on the whole FAERS snapshot (every drug-reaction pair of the "
                  "window); the fit on this table's pairs is reported beside it." if given else
                  "The GPS prior is fitted on the pairs of this table: the drug's terms and the same terms in all "
                  "other reports.")
    result = detect_signals(
        table, settings=settings, product_of_interest=drug, prior=given,
        data_description=(f"FAERS reports received in the window, the drug's ({n_drug:,}) against all other reports of the "
                          f"database ({n_database - n_drug:,}); a report counts once per term. " + prior_text),
    )
    return result, not_scored, None


def _database_prior_choice(database_prior: dict[str, Any] | None) -> PriorChoice | None:
    """The snapshot's prior (`drug_prior.database_prior`) as the prior the scores use; None without one."""
    prior = prior_from_dict(database_prior) if database_prior else None
    if prior is None:
        return None
    return PriorChoice(
        source=f"prior fitted once on the whole FAERS snapshot ({database_prior['source']})",
        prior=prior,
        reason=(f"{database_prior['n_pairs']:,} drug-reaction pairs of {database_prior['n_reports']:,} reports, "
                f"snapshot key {str(database_prior['key'])[:12]}"),
    )


def plot_seriousness(series: dict[str, Any], out_dir: Any) -> FigureRecord:
    """Monthly reports of the drug, all, serious and fatal (lines); incomplete months hollow."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(7.5, 3.4), layout="constrained")
    ax = fig.add_subplot()
    colours = {"all": OKABE_ITO["blue"], "serious": OKABE_ITO["orange"], "death": OKABE_ITO["vermillion"]}
    labels = {"all": "all reports", "serious": "serious", "death": "fatal outcome"}
    for name, srs in series.items():
        table = srs.table
        months = pd.to_datetime(table["month"].astype(str))
        ax.plot(months, table["total"], color=colours[name], label=labels[name], linewidth=1.4)
        done = table["complete"].astype(bool).to_numpy()
        ax.scatter(months[~done], table["total"][~done], facecolors="none", edgecolors=colours[name], s=18)
    ax.set_ylabel("reports per month")
    ax.set_xlabel("month received by FDA")
    ax.set_ylim(bottom=0)
    _legend(fig, ax, ncols=3)
    return _save(fig, out_dir, "drug_monthly_seriousness", "FAERS reports per month by seriousness (date received)",
                 "Reports of the drug received per month: all, serious (any seriousness criterion) and with a fatal "
                 "outcome. Hollow markers: months not complete at the cut-off (reporting lag), excluded from the tests.")


def _series(counts: pd.DataFrame, name: str, window: tuple[dt.date, dt.date], as_of: dt.date, guard: int):
    rows = counts[counts["series"] == name]
    frame = pd.DataFrame({"date": rows["date"], "date_field": "date_received", "event_type": "Other",
                          "n_reports": rows["n_reports"]})
    return monthly_counts(frame, date_field="date_received", window_start=window[0], window_end=window[1], as_of=as_of,
                          lag_guard_months=guard)


@dataclass
class DrugAnalysis:
    """What `analyze_drug` wrote (the dict is ``results/analysis.json``)."""

    data: dict[str, Any]
    signals: SignalResult | None

    def __repr__(self) -> str:
        d = self.data["details"]["drug"]
        rows = d["signals"]["rows"]
        assessed = any(r.get("listedness") in ("listed", "unlisted") for r in rows)
        unlisted = f"{len(d['unlisted_signals']):,} unlisted" if assessed else "listedness not assessed"
        return (f"<drug analysis of {d['subject']}: {sum(d['series']['all']['reports']):,} reports in the modelled months, "
                f"trend {self.data['trend'].get('status')}, {len(rows):,} reactions scored, "
                f"{sum(r['signal'] for r in rows):,} flagged by the primary screen, {unlisted}; "
                "written to results/analysis.json>")


def _signal_rows(result: SignalResult | None, drug: str, status: dict[str, str], where: dict[str, list[str]]) -> list[dict[str, Any]]:
    if result is None:
        return []
    own = result.table[result.table["product"] == drug].sort_values(["signal", "a"], ascending=[False, False])
    rows = []
    for r in own.itertuples(index=False):
        rows.append({"term": r.term, "a": int(r.a), "b": int(r.b), "c": int(r.c), "d": int(r.d), "E": float(r.E),
                     "PRR": r.PRR, "PRR_lo": r.PRR_lo, "PRR_hi": r.PRR_hi, "ROR": r.ROR, "ROR_lo": r.ROR_lo,
                     "ROR_hi": r.ROR_hi, "IC": r.IC, "IC025": r.IC025, "EBGM": r.EBGM, "EB05": r.EB05, "EB95": r.EB95,
                     "evans_signal": bool(r.evans_signal), "signal": bool(r.signal),
                     "listedness": status.get(r.term, "not assessed"), "label_sections": where.get(r.term, [])})
    return rows


def analyze_drug(ctx: RunContext) -> DrugAnalysis:
    """Run the drug analysis on the run's tables; write ``results/analysis.json`` and ``figures/``."""
    params, folder = ctx.params, ctx.folder
    methods = params.methods
    tables = folder.tables(INPUT_TABLES)
    resolution = folder.resolution(ctx.profile.resolution_model)
    status = folder.collect_status()
    window = (params.window.start, params.window.end)
    events = status.source("drug_event")
    as_of = min(parse_date(events.last_updated if events else None) or window[1], window[1])
    counts = tables["drug_event_counts"]
    received = counts[counts["series"] == "all"].rename(columns={})
    modelled, notes = _series_window(received, window, methods.series_start)
    guard = methods.lag_guard_months
    series = {name: _series(counts, name, modelled, as_of, guard) for name in SERIES}
    windows = dict(recent_months=methods.trend.recent_months, baseline_months=methods.trend.baseline_months,
                   min_baseline_months=methods.trend.min_baseline_months)
    trend = trend_analysis(series["all"], event_types=("total",), primary_event_type="total", alpha=methods.trend.alpha,
                           dispersion_threshold=methods.trend.overdispersion_threshold, **windows)
    serious_trend = trend_analysis(series["serious"], event_types=("total",), primary_event_type="total",
                                   alpha=methods.trend.alpha, dispersion_threshold=methods.trend.overdispersion_threshold,
                                   **windows)
    changes = change_points(series["all"], penalty_factor=methods.changepoint.penalty_multiplier,
                            min_size=methods.changepoint.min_segment_months,
                            validation_level=methods.changepoint.validation_level)
    forecast = forecast_counts(series["all"], horizon=methods.forecast.horizon_months, min_months=methods.forecast.min_months,
                               n_origins=methods.forecast.backtest_origins)
    s = methods.signals
    settings = SignalSettings(
        n_star=s.n_star, prr_threshold=s.prr_threshold, chi2_threshold=s.chi2_threshold, min_cases=s.min_a,
        eb05_threshold=s.eb05_threshold, ic025_threshold=s.ic025_threshold, primary_screen=s.primary_screen,
        min_pairs_for_prior=s.min_pairs_for_prior, prior_fallback=s.prior_fallback, truncation=s.truncation)
    drug = resolution.subject_name or params.code
    result, not_scored, unavailable = drug_signals(tables["reaction_counts"], tables["drug_report_totals"], drug, settings,
                                                   getattr(resolution, "database_prior", None))
    terms = sorted(set(tables["reaction_counts"].loc[tables["reaction_counts"]["scope"] == "drug", "term"]))
    listed, where, label = listedness(terms, tables["labels"])
    rows = _signal_rows(result, drug, listed, where)
    figures = [plot_seriousness(series, folder.figures_dir),
               plot_control_chart(trend.control_chart, folder.figures_dir), plot_cusum(trend.cusum, folder.figures_dir),
               plot_change_points(series["all"], changes, folder.figures_dir),
               plot_forecast(series["all"], forecast, folder.figures_dir)]
    figures = [FigureRecord(id=f.id, title=f.title, caption=f.caption, png=folder.relative(f.png), svg=folder.relative(f.svg))
               for f in figures if f is not None]
    notes += series["all"].notes
    n_signals = sum(r["signal"] for r in rows) if result is not None else None
    data = {
        "schema_version": SCHEMA_VERSION,
        "meta": {"code": params.code, "kind": params.kind.value, "device_name": drug,
                 "window": {"start": window[0], "end": window[1]}, "series_start": series["all"].window_start,
                 "as_of": as_of, "notes": notes,
                 "inputs": [{"path": layout.table(n), "sha256": folder.sha256(layout.table(n))} for n in INPUT_TABLES],
                 "parameters": methods.model_dump(mode="json") | {"window": {"start": window[0], "end": window[1]}}},
        "monthly_counts": _monthly_counts_view(series["all"]),
        "trend": _trend_view(trend),
        "change_points": _change_points_view(changes),
        "forecast": _forecast_view(forecast),
        "headline": {"n_signals": n_signals},
        "figures": [f.to_dict() for f in figures],
        "details": {"drug": {
            "subject": drug,
            "series": {name: {"months": [str(m)[:7] for m in srs.table["month"]],
                              "reports": [int(v) for v in srs.table["total"]],
                              "complete": [bool(c) for c in srs.table["complete"]]} for name, srs in series.items()},
            "serious_trend": _trend_view(serious_trend),
            "signals": {"rows": rows, "not_scored": not_scored, "unavailable": unavailable,
                        "methods": result.methods if result is not None else {},
                        "screen": result.screen if result is not None else None,
                        "n_reports": result.n_reports if result is not None else None},
            "listedness": {"method": LISTEDNESS_METHOD, "label": label,
                           "status": listed, "sections": where},
            "unlisted_signals": [r for r in rows if r["signal"] and r["listedness"] == "unlisted"],
        }},
    }
    data = to_jsonable(data)
    folder.write_analysis(_finite(data))
    return DrugAnalysis(data, result)


def _finite(value: Any) -> Any:
    """NaN and infinities as None (the analysis file is strict JSON)."""
    if isinstance(value, float):
        return value if np.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    return value
