"""Disproportionality of the device problem terms against the comparator product codes."""
from __future__ import annotations

import pandas as pd

from ...runfolder import layout
from ...runfolder.layout import ANALYSIS, pointer
from ..facts import NOT_AVAILABLE
from .base import ReportRun, TableExhibit, esc, fmt, frame_html, notice, with_ci


def _flag_columns(run: ReportRun) -> list[tuple[str, str]]:
    """``(column title, SignalRow field)``: the primary screen's flag first (it alone counts as a
    signal), then the secondary rules (Evans, and whichever of EB05 and IC025 is not primary)."""
    screen, f = run.analysis.signals.primary_screen, run.facts
    rules = {"EB05": (f"EB05 >= {f['eb05_threshold'].text}", "eb05_signal"),
             "IC025": (f"IC025 > {f['ic025_threshold'].text}", "ic025_signal")}
    primary = next((name for name in rules if screen.rule and screen.rule.startswith(name)), None)
    columns = [(f"Signal ({screen.rule or 'primary screen'})", "signal")] if primary else []
    columns.append(("Evans (secondary)", "evans_signal"))
    columns += [(f"{title} (secondary)", field) for name, (title, field) in rules.items() if name != primary]
    return columns


def _tab_signals(run: ReportRun) -> str:
    s = run.analysis.signals
    f = run.facts
    if s.status != "ok":
        return notice(f"Disproportionality not possible for this run: {s.reason or 'see ' + layout.ANALYSIS}.", "cer-notice")
    rows = [r for _, r in s.rows_of(s.device)]
    rows.sort(key=lambda r: (not r.signal, -(r.EB05 if r.EB05 is not None else float("-inf"))))
    flags = _flag_columns(run)
    frame = pd.DataFrame([{
        "Term": r.term, "Type": r.problem_type,
        "a": fmt(r.a, "count"), "b": fmt(r.b, "count"), "c": fmt(r.c, "count"),
        "d": fmt(r.d, "count"), "E": fmt(r.E, "decimal"),
        "PRR (95% CI)": with_ci(r.PRR, r.PRR_lo, r.PRR_hi),
        "Yates chi2": fmt(r.chi2_yates, "decimal"),
        "ROR (95% CI)": with_ci(r.ROR, r.ROR_lo, r.ROR_hi),
        "IC (IC025)": f"{fmt(r.IC, 'decimal')} ({fmt(r.IC025, 'decimal')})",
        "EBGM (EB05 to EB95)": with_ci(r.EBGM, r.EB05, r.EB95),
        **{title: ("signal" if field == "signal" else "flagged") if getattr(r, field) else "" for title, field in flags},
    } for r in rows])
    definitions = [
        ("a", "reports of this device coding the term"), ("b", "reports of this device without the term"),
        ("c", "reports of the comparators coding the term"), ("d", "reports of the comparators without the term"),
        ("N", "a + b + c + run, distinct reports"), ("E", "(a+b)(a+c)/N, the count expected under proportional reporting"),
        ("PRR", "[a/(a+b)] / [c/(c+d)], 95% CI from Var(ln PRR) = 1/a - 1/(a+b) + 1/c - 1/(c+d)"),
        ("Evans rule", f"PRR >= {f['prr_threshold'].text}, Yates chi2 >= {f['chi2_threshold'].text}, a >= {f['min_a'].text}"),
        ("ROR", "ad/bc, Woolf 95% CI, Var(ln ROR) = 1/a + 1/b + 1/c + 1/d; +0.5 on all cells only when a cell is zero"),
        ("IC", s.ic_definition or NOT_AVAILABLE),
        ("EBGM", "empirical Bayes geometric mean (DuMouchel two-gamma mixture prior fitted by maximum likelihood); "
                 "EB05 and EB95 are the 5% and 95% posterior points"),
        ("Signal", f"the pre-specified primary screen ({s.primary_screen.rule or NOT_AVAILABLE}): the only rule whose "
                   "flags are counted as signals; the secondary rules are shown for comparison"),
        ("Comparators", ", ".join(str(c) for c in s.comparators) or NOT_AVAILABLE),
    ]
    dl = '<dl class="cer-definitions">' + "".join(f"<dt>{esc(k)}</dt><dd>{esc(v)}</dd>" for k, v in definitions) + "</dl>"
    note = notice(f"Method: {s.method or NOT_AVAILABLE} Disproportionality measures reporting, not risk "
                   "(Limitation L4).", "cer-source")
    return (frame_html(frame, "tab-signals") if len(frame) else notice("No rows for this device.", "cer-notice")) + dl + note


TABLES: tuple[TableExhibit, ...] = (
    TableExhibit("tab-signals", "Disproportionality of device problem terms against the comparators",
          ("device_event",), (pointer(ANALYSIS, "signals"),), (ANALYSIS,), _tab_signals),
)
