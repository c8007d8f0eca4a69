"""Figures (PNG + SVG, captions from results) and the whole series -> figures chain, incl. real MAUDE data."""
from __future__ import annotations

import json
import struct
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd
import pytest

from cer_lib.analysis.changepoints import change_points
from cer_lib.analysis.figures import make_figures, plot_forecast
from cer_lib.analysis.forecast import forecast_counts
from cer_lib.analysis.problems import problem_profile
from cer_lib.analysis.series import monthly_counts
from cer_lib.analysis.trend import trend_analysis

FIGURE_IDS = ["monthly_counts", "control_chart", "cusum", "change_points", "forecast", "top_problems"]


def synthetic_inputs(seed: int = 3):
    """~50 000 reports over 60 months (daily counts with a step up in 2022-03), plus problem counts."""
    rng = np.random.default_rng(seed)
    days = pd.date_range("2019-01-01", "2024-01-15")
    rate = np.where(days < "2022-03-01", 22.0, 33.0)
    frames = [pd.DataFrame({"date": days, "date_field": "date_received", "event_type": et,
                            "n_reports": rng.poisson(rate * share)})
              for et, share in [("Malfunction", 0.85), ("Injury", 0.13), ("Death", 0.01), ("Other", 0.01)]]
    events = pd.concat(frames, ignore_index=True)
    events = events.loc[events["n_reports"] > 0]
    years = [str(y) for y in range(2019, 2025)]
    per_year = {y: int(events.loc[events["date"].dt.year == int(y), "n_reports"].sum()) for y in years}
    rows = []
    for year in years:
        for i in range(25):
            share = 0.3 / (i + 1) * (1.5 if i == 3 and int(year) >= 2022 else 1.0)
            rows.append(("LZG", "device", f"Device problem {i}", year, int(rng.binomial(per_year[year], share))))
        for i in range(12):
            rows.append(("LZG", "patient", f"Patient problem {i}", year, int(rng.binomial(per_year[year], 0.1 / (i + 1)))))
    problems = pd.DataFrame(rows, columns=["product_code", "problem_type", "term", "period", "n_reports"])
    totals = problems.groupby(["product_code", "problem_type", "term"], as_index=False)["n_reports"].sum()
    problems = pd.concat([problems, totals.assign(period="all")], ignore_index=True)
    return events, problems, {**per_year, "all": sum(per_year.values())}


def run_chain(events, problems, totals, out_dir, *, as_of="2024-01-15"):
    series = monthly_counts(events, window_start="2019-01-01", window_end="2024-12-31", as_of=as_of)
    trend = trend_analysis(series)
    changes = change_points(series)
    forecast = forecast_counts(series)
    profile = problem_profile(problems, product_code="LZG", reports_per_period=totals, as_of=as_of)
    figures = make_figures(series, out_dir, trend=trend, changes=changes, forecast=forecast, problems=profile)
    return series, trend, changes, forecast, profile, figures


def _png_size(path: Path) -> tuple[int, int]:
    header = path.read_bytes()[:24]
    assert header[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", header[16:24])


def test_whole_chain_files_and_json(tmp_path):
    """series -> trend -> change points -> forecast -> problems -> figures on ~50 000 reports.

    Its speed is measured by ``make bench`` (the analyze stage on the largest real series), not here."""
    events, problems, totals = synthetic_inputs()
    assert 45_000 < events["n_reports"].sum() < 55_000
    series, trend, changes, forecast, profile, figures = run_chain(events, problems, totals, tmp_path)

    assert [f.id for f in figures] == FIGURE_IDS
    for record in figures:
        png, svg = Path(record.png), Path(record.svg)
        assert png.parent == tmp_path and png.name == f"{record.id}.png" and svg.name == f"{record.id}.svg"
        width, height = _png_size(png)
        assert width >= 1100 and height >= 500  # ~150 dpi
        root = ET.parse(svg).getroot()
        assert root.tag.endswith("svg")
        assert record.title and record.caption and record.title in svg.read_text()
    assert not list(tmp_path.glob(".*tmp"))  # atomic writes leave no temporary files

    captions = {f.id: f.caption for f in figures}
    assert "incomplete" in captions["monthly_counts"].lower() and "2024-01" in captions["monthly_counts"]
    assert f"{trend.control_chart.center:.1f}" in captions["control_chart"]
    assert changes.change_points[0].date.strftime("%Y-%m") in captions["change_points"]
    assert forecast.model in captions["forecast"]
    assert changes.change_points[0].date.isoformat() == "2022-03-01"

    analysis = {"monthly_counts": series.to_dict(), "trend": trend.to_dict(), "change_points": changes.to_dict(),
                "forecast": forecast.to_dict(), "problems": profile.to_dict(),
                "figures": [f.to_dict() for f in figures]}
    data = json.loads(json.dumps(analysis, allow_nan=False))
    assert data["change_points"]["change_points"][0]["date"] == "2022-03-01"
    assert data["trend"]["verdicts"]["total"]["verdict"] == "increase"


def test_figures_are_reproducible_readable_and_leave_pyplot_alone(tmp_path):
    import matplotlib.pyplot as plt

    backend = matplotlib.get_backend()
    events, problems, totals = synthetic_inputs(seed=5)
    series, trend, changes, forecast, profile, first = run_chain(events, problems, totals, tmp_path / "a")
    second = make_figures(series, tmp_path / "b", trend=trend, changes=changes, forecast=forecast, problems=profile)
    for a, b in zip(first, second, strict=True):
        assert Path(a.svg).read_bytes() == Path(b.svg).read_bytes()
        assert a.caption == b.caption
        assert Path(a.png).stat().st_mode & 0o044 == 0o044  # readable by the report / book server
    assert plt.get_fignums() == [] and matplotlib.get_backend() == backend


def test_figures_for_insufficient_results(tmp_path):
    rng = np.random.default_rng(1)
    months = pd.date_range("2023-01-01", periods=10, freq="MS")
    events = pd.DataFrame({"date": months, "date_field": "date_received", "event_type": "Injury",
                           "n_reports": rng.poisson(3, 10)})
    series = monthly_counts(events, window_start="2023-01-01", window_end="2023-12-31", as_of="2023-10-20")
    trend = trend_analysis(series)
    records = make_figures(series, tmp_path, trend=trend, changes=change_points(series),
                           forecast=forecast_counts(series))
    # Issue 9 item 1: no empty axes for results that could not be computed; the report's text says why.
    assert [r.id for r in records] == ["monthly_counts"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["monthly_counts.png", "monthly_counts.svg"]
    assert plot_forecast(series, forecast_counts(series), tmp_path, figure_id="forecast_alone") is None
    assert not (tmp_path / "forecast_alone.png").exists()


@pytest.mark.realdata
@pytest.mark.slow
def test_real_maude_series(realdata, tmp_path):
    """Real MAUDE reports (MiniMed 3032 pump, openFDA pull by brand, 2020-04..2025-04, ~50 000 rows):
    heavy extra-Poisson variation must be detected and handled (NB2, scaled verdict, dispersion-aware
    change points), and everything must serialise."""
    raw = pd.read_excel(realdata / "maude" / "medtronic_minimed_pump_mdl_3032.xlsx",
                        usecols=["mdr_report_key", "date_received", "event_type"])
    raw = raw.drop_duplicates("mdr_report_key")
    raw["date"] = pd.to_datetime(raw["date_received"].astype(str), format="%Y%m%d")
    raw["event_type"] = raw["event_type"].where(raw["event_type"].isin(["Death", "Injury", "Malfunction"]), "Other")
    events = (raw.groupby(["date", "event_type"]).size().rename("n_reports").reset_index()
              .assign(date_field="date_received"))
    start = time.perf_counter()
    series = monthly_counts(events, window_start="2020-04-01", window_end="2025-04-30", as_of="2025-04-04")
    trend = trend_analysis(series)
    changes = change_points(series)
    forecast = forecast_counts(series)
    figures = make_figures(series, tmp_path, trend=trend, changes=changes, forecast=forecast)
    print(f"\nreal MAUDE chain ({series.n_reports} reports, {series.n_months} months): "
          f"{time.perf_counter() - start:.2f} s")
    assert series.n_reports == raw.shape[0] and series.incomplete_months[-1].isoformat() == "2025-04-01"
    assert trend.glm["total"].model == "negative binomial (NB2)"
    assert trend.verdicts["total"].dispersion_adjusted
    assert any("extra-Poisson" in n for n in trend.control_chart.notes)
    assert changes.dispersion > 10 and changes.change_points
    assert all(p.date.day == 1 for p in changes.change_points)
    assert forecast.status == "ok" and forecast.backtest["mase"] is not None
    assert len(figures) == 5
    json.dumps({"trend": trend.to_dict(), "change_points": changes.to_dict(), "forecast": forecast.to_dict()},
               allow_nan=False)


def test_count_axes_have_integer_ticks(tmp_path, monkeypatch):
    """Issue 12.6: a series of a few reports a month gets ticks 0, 1, 2, 3, never 0.5 or 2.5."""
    import cer_lib.analysis.figures as figures

    drawn = []
    monkeypatch.setattr(figures, "_save", lambda fig, *args, **kwargs: drawn.append(fig) or None)
    days = pd.to_datetime(["2019-01-10", "2019-03-02", "2019-03-03", "2019-03-04", "2019-06-01", "2020-02-02"])
    events = pd.DataFrame({"date": days, "date_field": "date_received", "event_type": "Malfunction", "n_reports": 1})
    series = monthly_counts(events, window_start="2019-01-01", window_end="2020-06-30", as_of="2020-06-30")
    figures.plot_monthly_counts(series, tmp_path)
    (fig,) = drawn
    ticks = [t for ax in fig.axes for t in ax.get_yticks() if ax.get_ylabel() == "reports per month"]
    assert ticks and all(float(t).is_integer() for t in ticks), ticks
