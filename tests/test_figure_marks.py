"""Figures say only what they draw (issue 12.6): a legend entry only for marks that are drawn, labels never cut
short, integer ticks on count axes, and each figure shown once in cer.html (the annex links to it).

The matplotlib figures are inspected as objects: `figures._save` is wrapped to keep each one before it is saved.
"""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from matplotlib.collections import Collection, PathCollection
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.ticker import MaxNLocator

from cer_lib.analysis import figures as figures_module
from test_timeseries_figures import run_chain, synthetic_inputs

LONG_TERM = "Adverse Event Without Identified Device or Use Problem"  # a real FDA device problem term (54 characters)


@pytest.fixture
def drawn(monkeypatch):
    """Every matplotlib Figure the figure functions save, by figure id."""
    kept = {}
    save = figures_module._save

    def keep(fig, out_dir, figure_id, title, caption):
        kept[figure_id] = fig
        return save(fig, out_dir, figure_id, title, caption)

    monkeypatch.setattr(figures_module, "_save", keep)
    return kept


def _has_marks(artist) -> bool:
    if isinstance(artist, Line2D):
        return len(artist.get_xdata()) > 0
    if isinstance(artist, PathCollection):  # a scatter: its points are the offsets
        return len(artist.get_offsets()) > 0
    if isinstance(artist, Collection):  # a filled band: its polygons
        return any(len(p.vertices) for p in artist.get_paths())
    return isinstance(artist, Patch)


def _marks_drawn(fig) -> set[str]:
    """Labels of the artists that put something on the axes (bar containers with bars included)."""
    labels = set()
    for ax in fig.axes:
        for artist in ax.get_children():
            label = artist.get_label()
            if isinstance(label, str) and label and not label.startswith("_") and _has_marks(artist):
                labels.add(label)
        labels |= {c.get_label() for c in ax.containers if len(c) and not c.get_label().startswith("_")}
    return labels


def _legend_entries(fig) -> list[str]:
    legends = list(fig.legends) + [ax.get_legend() for ax in fig.axes if ax.get_legend() is not None]
    return [t.get_text() for legend in legends for t in legend.get_texts()]


def _stationary(seed: int = 11) -> pd.DataFrame:
    """Five years of 10 reports a day on average, no change: no chart signal, no CUSUM alarm expected."""
    rng = np.random.default_rng(seed)
    days = pd.date_range("2019-01-01", "2024-01-15")
    return pd.DataFrame({"date": days, "date_field": "date_received", "event_type": "Malfunction",
                         "n_reports": rng.poisson(10.0, len(days))})


@pytest.mark.parametrize("case", ["step", "stationary"])
def test_every_legend_entry_is_a_mark_that_is_drawn(case, drawn, tmp_path) -> None:
    events, problems, totals = synthetic_inputs()
    if case == "stationary":
        events = _stationary()
    _, trend, *_ = run_chain(events, problems, totals, tmp_path)
    assert set(drawn) >= {"monthly_counts", "control_chart", "cusum", "change_points", "forecast"}
    for figure_id, fig in drawn.items():
        entries = _legend_entries(fig)
        assert set(entries) <= _marks_drawn(fig), (figure_id, set(entries) - _marks_drawn(fig))
        assert len(entries) == len(set(entries)), (figure_id, entries)
    if case == "stationary":  # nothing to mark: no legend entry for it
        assert not trend.cusum.alarms and "alarm" not in _legend_entries(drawn["cusum"])
        assert "phase II signal" not in _legend_entries(drawn["control_chart"])


def test_count_axes_have_integer_ticks(drawn, tmp_path) -> None:
    run_chain(*synthetic_inputs(), tmp_path)
    for figure_id in ("monthly_counts", "control_chart", "change_points", "forecast"):
        locator = drawn[figure_id].axes[0].yaxis.get_major_locator()
        assert isinstance(locator, MaxNLocator) and locator._integer, figure_id


def test_long_problem_terms_are_wrapped_never_cut(drawn, tmp_path) -> None:
    events, problems, totals = synthetic_inputs()
    problems = problems.replace({"term": {"Device problem 0": LONG_TERM}})
    run_chain(events, problems, totals, tmp_path)
    labels = [t.get_text() for t in drawn["top_problems"].axes[0].get_yticklabels()]
    assert "\u2026" not in "".join(labels)
    assert LONG_TERM in [" ".join(label.split()) for label in labels]
    longest = max(len(line) for label in labels for line in label.split("\n"))
    assert longest <= figures_module.TERM_LABEL_WIDTH


@pytest.mark.realdata
def test_each_figure_is_shown_once_and_the_annex_links_to_it(demo_run: Path) -> None:
    html = (demo_run / "cer.html").read_text(encoding="utf-8")
    images = re.findall(r'<img [^>]*alt="([^"]+)"', html)
    assert images and len(images) == len(set(images)), sorted(a for a in images if images.count(a) > 1)
    body_figures = re.findall(r'<figure class="cer-exhibit" id="(fig-[a-z-]+)"', html)
    assert len(body_figures) == len(images)
    for anchor in body_figures:  # the analyze notebook's display of it, in the annex, is a link
        assert re.search(rf'shown once, in the report: <a href="#{anchor}">Figure \d+</a>', html), anchor
