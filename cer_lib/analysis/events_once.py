"""Each event counted once: the device's count tables corrected for reports of one event (issue 12.3).

The integrate stage marks reports of one event in the review sample (``events.event_group``, by the
rule of `cer_lib.tables.event_groups`). The count tables the analysis reads (``event_counts``,
``problem_counts``, ``report_totals``) come from openFDA count queries and count *reports*. This
module turns the device's counts into counts of *events*: for every group of k reports,

- each member's report is taken out of the cell it was counted in (its day and event type, its year
  and terms), and
- the event is put back once: on the day (and in the year) its earliest report was received, under
  the most serious event type of its reports (Death, then Injury, Malfunction, Other), and with every
  problem term any of its reports carries (counted once per term),

so k reports become one event and the totals fall by k - 1. Comparator product codes are not
corrected: their reports are counted, not collected, so they cannot be grouped (the device is
compared with them conservatively: its counts can only fall).

The correction needs every report the counts cover. Only the review sample is collected, so it is
applied only when the sample holds as many reports of the counted period as the counts do (a mirror,
or a device with fewer reports than the sample size); otherwise the counts stay report counts and the
reason says so. Pure functions: tables in, tables and a summary out.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import pandas as pd

from ..tables.event_groups import RULE

__all__ = ["RULE", "SEVERITY", "EventMerge", "count_events_once", "count_problem_events_once"]

#: Event types from the most to the least serious; a group takes the first its reports carry.
SEVERITY = ("Death", "Injury", "Malfunction", "Other")


@dataclass(frozen=True)
class EventMerge:
    """What counting each event once did to one family of counts."""

    applied: bool
    reason: str | None  # why it was not applied (None when applied)
    n_reports: int  # reports the counts hold (before)
    n_events: int  # events after merging (= n_reports when not applied)
    n_groups: int  # events reported more than once
    merged: list[dict] = field(default_factory=list)  # one row per group: kept report, members, how grouped

    @property
    def n_reports_merged(self) -> int:
        return self.n_reports - self.n_events

    def to_dict(self) -> dict:
        return {"applied": self.applied, "reason": self.reason, "rule": RULE, "n_reports": self.n_reports,
                "n_events": self.n_events, "n_groups": self.n_groups, "n_reports_merged": self.n_reports_merged,
                "groups": self.merged}


def _groups(events: pd.DataFrame) -> list[pd.DataFrame]:
    """The groups of more than one report, each sorted earliest report first (as `event_groups` names them)."""
    if events.empty or "event_group" not in events.columns:
        return []
    grouped = events[events["event_group_size"].fillna(1) > 1]
    ordered = grouped.assign(_key=grouped["mdr_report_key"].astype(str)).sort_values(["date_received", "_key"])
    return [members for _, members in ordered.groupby("event_group", sort=True)]


def _most_serious(types: pd.Series) -> str:
    present = set(types.dropna().astype(str))
    return next((t for t in SEVERITY if t in present), "Other")


def _describe(members: pd.DataFrame) -> dict:
    return {"event": str(members["mdr_report_key"].iloc[0]),
            "reports": [str(k) for k in members["mdr_report_key"]],
            "report_numbers": [None if pd.isna(n) else str(n) for n in members.get("report_number", [None] * len(members))],
            "date_received": str(pd.Timestamp(members["date_received"].iloc[0]).date()),
            "grouped_by": next((str(g) for g in members["grouped_by"] if isinstance(g, str)), None),
            "event_type": _most_serious(members["event_type"])}


def _apply(counts: pd.DataFrame, key_columns: list[str], deltas: Counter) -> pd.DataFrame | None:
    """``counts`` with ``n_reports`` changed by ``deltas`` (keyed by the values of ``key_columns``);
    None when a delta has no row to take from or would make a count negative (the counts and the
    sample disagree)."""
    if not deltas:
        return counts
    frame = counts.copy()
    index = {tuple(row): i for i, row in zip(frame.index, frame[key_columns].itertuples(index=False, name=None))}
    extra = []
    for cell, delta in deltas.items():
        if delta == 0:
            continue
        if cell in index:
            frame.loc[index[cell], "n_reports"] = int(frame.loc[index[cell], "n_reports"]) + delta
        elif delta > 0:
            extra.append(dict(zip(key_columns, cell)) | {"n_reports": delta})
        else:
            return None
    if (frame["n_reports"] < 0).any():
        return None
    if extra:
        frame = pd.concat([frame, pd.DataFrame(extra)], ignore_index=True)
    return frame


def _not_applied(reason: str, n_reports: int) -> EventMerge:
    return EventMerge(False, reason, n_reports, n_reports, 0)


def count_events_once(event_counts: pd.DataFrame, events: pd.DataFrame, start: pd.Timestamp, end: pd.Timestamp
                      ) -> tuple[pd.DataFrame, EventMerge]:
    """``event_counts`` with each event of the device counted once, and what was merged.

    Corrects the ``date_received`` rows (per event type and ``all``) and the ``date_of_event`` rows
    (``all``: a group's event on its earliest known date of event). ``start``/``end`` bound the period
    whose counts must all be in the sample (the modelled series window).
    """
    received = event_counts[(event_counts["date_field"] == "date_received") & (event_counts["event_type"] == "all")]
    days = pd.to_datetime(received["date"])
    n_counted = int(received.loc[(days >= start) & (days <= end), "n_reports"].sum())
    stamps = pd.to_datetime(events["date_received"]) if not events.empty else pd.Series(dtype="datetime64[ns]")
    n_sample = int(((stamps >= start) & (stamps <= end)).sum())
    if n_sample < n_counted:
        return event_counts, _not_applied(
            f"the review sample holds {n_sample:,} of the {n_counted:,} reports received from {start:%Y-%m-%d} to "
            f"{end:%Y-%m-%d}; reports outside it cannot be grouped, and merging only some months would bias the "
            "trend, so the series counts reports", n_counted)
    groups = _groups(events[(stamps >= start) & (stamps <= end)] if not events.empty else events)
    deltas: Counter = Counter()
    for members in groups:
        first = members.iloc[0]
        for _, m in members.iterrows():
            day = pd.Timestamp(m["date_received"])
            deltas[(day, "date_received", str(m["event_type"]))] -= 1
            deltas[(day, "date_received", "all")] -= 1
            if not pd.isna(m["date_of_event"]):
                deltas[(pd.Timestamp(m["date_of_event"]), "date_of_event", "all")] -= 1
        kept_day = pd.Timestamp(first["date_received"])
        deltas[(kept_day, "date_received", _most_serious(members["event_type"]))] += 1
        deltas[(kept_day, "date_received", "all")] += 1
        known = members["date_of_event"].dropna()
        if len(known):
            deltas[(pd.Timestamp(known.min()), "date_of_event", "all")] += 1
    keyed = event_counts.assign(date=pd.to_datetime(event_counts["date"]))
    corrected = _apply(keyed, ["date", "date_field", "event_type"], deltas)
    if corrected is None:
        return event_counts, _not_applied("the grouped reports are not all in the daily counts (the counts and the "
                                          "review sample disagree), so the series counts reports", n_counted)
    merged = sum(len(m) - 1 for m in groups)
    return corrected, EventMerge(True, None, n_counted, n_counted - merged, len(groups), [_describe(m) for m in groups])


def count_problem_events_once(problem_counts: pd.DataFrame, totals: pd.DataFrame, events: pd.DataFrame,
                              problems: pd.DataFrame, device: str) -> tuple[pd.DataFrame, pd.DataFrame, EventMerge]:
    """The device's term counts and report totals (whole window and per year) with each event counted once.

    An event carries a term when any of its reports does, and is counted in the year of its earliest
    report. Totals per problem type (``report_totals.problem_type``, when present) count the events
    with any term of that type. Applied only when the sample holds all the device's reports of the
    window (its ``report_totals`` row for ``all``).
    """
    own = totals[(totals["scope"] == "device") & (totals["product_code"] == device) & (totals["period"] == "all")]
    by_type = own["problem_type"].fillna("").replace("all", "") if "problem_type" in own.columns else pd.Series("", own.index)
    n_counted = int(own.loc[by_type == "", "n_reports"].max()) if (by_type == "").any() else 0
    if len(events) < n_counted or not n_counted:
        reason = (f"the review sample holds {len(events):,} of the device's {n_counted:,} reports, so reports outside "
                  "it cannot be grouped and the term counts stay report counts") if n_counted else \
            "the device's report total was not collected, so the term counts stay report counts"
        return problem_counts, totals, _not_applied(reason, n_counted)
    groups = _groups(events)
    terms = problems.groupby("mdr_report_key")[["problem_type", "term"]].apply(
        lambda f: set(f.itertuples(index=False, name=None))).to_dict() if not problems.empty else {}
    term_deltas: Counter = Counter()
    total_deltas: Counter = Counter()
    for members in groups:
        first_year = str(pd.Timestamp(members["date_received"].iloc[0]).year)
        union: set = set()
        for _, m in members.iterrows():
            year = str(pd.Timestamp(m["date_received"]).year)
            own_terms = terms.get(str(m["mdr_report_key"]), set())
            union |= own_terms
            for period in (year, "all"):
                total_deltas[(period, "")] -= 1
                for problem_type in {t for t, _ in own_terms}:
                    total_deltas[(period, problem_type)] -= 1
                for problem_type, term in own_terms:
                    term_deltas[(problem_type, period, term)] -= 1
        for period in (first_year, "all"):
            total_deltas[(period, "")] += 1
            for problem_type in {t for t, _ in union}:
                total_deltas[(period, problem_type)] += 1
            for problem_type, term in union:
                term_deltas[(problem_type, period, term)] += 1
    mine = (problem_counts["scope"] == "device") & (problem_counts["product_code"] == device)
    periods = set(problem_counts.loc[mine, "period"])
    term_deltas = Counter({k: v for k, v in term_deltas.items() if k[1] in periods})  # years collected only
    device_terms = _apply(problem_counts[mine], ["problem_type", "period", "term"], term_deltas)
    totals_mine = (totals["scope"] == "device") & (totals["product_code"] == device)
    kinds = totals["problem_type"].fillna("").replace("all", "") if "problem_type" in totals.columns else pd.Series("", totals.index)
    keyed = totals[totals_mine].assign(_kind=kinds[totals_mine])
    present = set(keyed[["period", "_kind"]].itertuples(index=False, name=None))
    device_totals = _apply(keyed, ["period", "_kind"], Counter({k: v for k, v in total_deltas.items() if k in present}))
    if device_terms is None or device_totals is None:
        return problem_counts, totals, _not_applied(
            "the grouped reports' terms are not all in the term counts (the counts and the review sample disagree), "
            "so the term counts stay report counts", n_counted)
    device_terms = device_terms.assign(scope="device", product_code=device,
                                       truncated=device_terms["truncated"].fillna(False).astype(bool))
    merged = sum(len(m) - 1 for m in groups)
    return (pd.concat([problem_counts[~mine], device_terms[problem_counts.columns]], ignore_index=True),
            pd.concat([totals[~totals_mine], device_totals.drop(columns="_kind")[totals.columns]], ignore_index=True),
            EventMerge(True, None, n_counted, n_counted - merged, len(groups), [_describe(m) for m in groups]))
