"""Monthly report counts by event type on a complete calendar grid.

The input is the tidy ``event_counts`` table (one row per day, date field and event type; days
without reports are absent). The output is one row per calendar month from the window's first
month to the month holding ``min(window_end, as_of)``, zeros filled, with a ``complete`` flag:

- a month is *complete* when every one of its days lies inside ``[window_start, window_end]`` and
  on or before ``as_of`` (the data's ``last_updated`` date, taken as the last day covered), and it
  ends on or before the *reporting-lag cut-off* ``as_of`` minus ``lag_guard_months`` calendar months:
  reports reach FDA weeks after the event and the newest weeks are still filling in, so a month just
  before ``last_updated`` would look like a fall in reporting (the guard; the pipeline's default is
  one month, ``methods.series.lag_guard_months``);
- incomplete months (the last, those inside the guard, sometimes the first) are kept for display and
  excluded from every test and model downstream; ``status`` says why.
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

import numpy as np
import pandas as pd

from .results import EVENT_TYPES, MonthlySeries

__all__ = ["DATE_FIELDS", "complete_counts", "monthly_counts", "monthly_counts_by_date_field"]

#: Date fields the integrate stage can count on, in order of preference.
DATE_FIELDS: tuple[str, ...] = ("date_received", "date_of_event")

_REQUIRED = ("date", "date_field", "event_type", "n_reports")

_DEFINITION = (
    "Number of distinct reports per calendar month, by event type and in total, counted on {field}. "
    "A month is complete when all its days lie in the window and on or before the data date (as_of){guard}; "
    "incomplete months are shown but excluded from all tests and models."
)

_GUARD = (
    ", and it ends at least {g} month{s} before the data date (a reporting-lag guard: the newest "
    "reports are still arriving, so the last month before the data date would look like a fall in "
    "reporting; here months ending after {cutoff} are excluded)"
)

_DATE_OF_EVENT_NOTE = (
    "Counts by date_of_event: recent months are under-counted because events are reported weeks to "
    "months after they occur, and date_of_event is blank on some reports; the complete flag only "
    "reflects calendar coverage. Tests and models use date_received."
)


def _day(value: dt.date | dt.datetime | str | pd.Timestamp, name: str) -> pd.Timestamp:
    try:
        stamp = pd.Timestamp(value)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} must be a date (got {value!r})") from exc
    if stamp is pd.NaT:
        raise ValueError(f"{name} must be a date (got {value!r})")
    return stamp.tz_localize(None).normalize() if stamp.tzinfo else stamp.normalize()


def _check_table(event_counts: pd.DataFrame) -> None:
    missing = [c for c in _REQUIRED if c not in event_counts.columns]
    if missing:
        raise ValueError(
            f"event_counts lacks column(s) {missing}; expected {list(_REQUIRED)} "
            "(the integrate stage's tidy event_counts table)"
        )
    unknown = sorted(set(event_counts["event_type"].dropna().astype(str)) - set(EVENT_TYPES))
    if unknown:
        raise ValueError(
            f"event_counts has event_type value(s) {unknown}; expected one of {list(EVENT_TYPES)} "
            "(map openFDA's 'No answer provided' and blanks to 'Other' in the integrate stage)"
        )
    if event_counts["event_type"].isna().any():
        raise ValueError("event_counts has blank event_type values; map them to 'Other' upstream")
    if (pd.to_numeric(event_counts["n_reports"], errors="coerce").fillna(-1) < 0).any():
        raise ValueError("event_counts.n_reports must be non-negative integers")


def monthly_counts(
    event_counts: pd.DataFrame,
    *,
    date_field: str = "date_received",
    window_start: dt.date | str | pd.Timestamp,
    window_end: dt.date | str | pd.Timestamp,
    as_of: dt.date | str | pd.Timestamp,
    lag_guard_months: int = 0,
) -> MonthlySeries:
    """Monthly counts by event type (``Death, Injury, Malfunction, Other``) and ``total``.

    Args:
        event_counts: tidy daily counts (``date, date_field, event_type, n_reports``).
        date_field: ``"date_received"`` (default; the series tests use) or ``"date_of_event"``.
        window_start, window_end: the evaluation window (inclusive dates).
        as_of: the data's ``last_updated`` date, the last day the data cover (inclusive).
        lag_guard_months: calendar months before ``as_of`` whose months are not complete yet
            (reporting lag); months ending after ``as_of - lag_guard_months`` get status
            ``"reporting-lag guard"``. 0 (no guard) by default; the pipeline passes its parameter.

    Returns:
        A :class:`MonthlySeries`; reports dated outside ``[window_start, min(window_end, as_of)]``
        are dropped and counted in ``n_reports_outside_window``.
    """
    if date_field not in DATE_FIELDS:
        raise ValueError(f"date_field must be one of {DATE_FIELDS}, got {date_field!r}")
    _check_table(event_counts)
    start = _day(window_start, "window_start")
    end = _day(window_end, "window_end")
    data_date = _day(as_of, "as_of")
    if end < start:
        raise ValueError(f"window_end {end.date()} is before window_start {start.date()}")
    if data_date < start:
        raise ValueError(
            f"as_of {data_date.date()} is before window_start {start.date()}: no data in the window")
    if lag_guard_months < 0:
        raise ValueError(f"lag_guard_months must be >= 0, got {lag_guard_months}")
    last_day = min(end, data_date)
    # The data cover through as_of; the guard's cut-off is the day that leaves ``lag_guard_months``
    # whole months of coverage after it (as_of 2024-04-30 -> 2024-03-31; 2024-05-20 -> 2024-04-20).
    cutoff = data_date + pd.Timedelta(days=1) - pd.DateOffset(months=lag_guard_months) - pd.Timedelta(days=1)

    rows = event_counts.loc[event_counts["date_field"] == date_field]
    dates = pd.DatetimeIndex(pd.to_datetime(rows["date"]))
    if dates.tz is not None:
        dates = dates.tz_localize(None)
    dates = dates.normalize()
    n = pd.to_numeric(rows["n_reports"]).to_numpy(dtype="int64")
    inside = np.asarray((dates >= start) & (dates <= last_day))
    outside = int(n[~inside].sum())

    first = start.year * 12 + start.month - 1
    months = pd.date_range(start.to_period("M").to_timestamp(), last_day.to_period("M").to_timestamp(),
                           freq="MS")
    grid = np.zeros((len(months), len(EVENT_TYPES)), dtype="int64")
    month_index = (dates.year.to_numpy() * 12 + dates.month.to_numpy() - 1 - first)[inside]
    type_index = pd.Categorical(rows["event_type"].astype(str), categories=list(EVENT_TYPES)).codes[inside]
    np.add.at(grid, (month_index, type_index), n[inside])
    table = pd.DataFrame(grid, columns=list(EVENT_TYPES))
    table.insert(0, "month", months)
    table["total"] = grid.sum(axis=1)
    month_end = table["month"] + pd.offsets.MonthEnd(0)
    table["days"] = table["month"].dt.days_in_month.astype("int64")
    covered_from = table["month"].where(table["month"] >= start, start)
    covered_to = month_end.where(month_end <= last_day, last_day)
    table["days_covered"] = ((covered_to - covered_from).dt.days + 1).clip(lower=0).astype("int64")
    covered = (table["days_covered"] == table["days"]).to_numpy()
    settled = (month_end <= cutoff).to_numpy()
    table["status"] = np.where(~covered, "partial", np.where(settled, "complete", "reporting-lag guard"))
    table["complete"] = (table["status"] == "complete").astype(bool)

    notes: list[str] = []
    if rows.empty:
        notes.append(f"No {date_field} rows in event_counts: every month is zero.")
    if date_field == "date_of_event":
        notes.append(_DATE_OF_EVENT_NOTE)
    if outside:
        notes.append(
            f"{outside} report(s) dated outside {start.date()}..{last_day.date()} were left out."
        )
    complete = table["complete"].to_numpy()
    guarded = table.loc[table["status"] == "reporting-lag guard", "month"]
    guard_text = (_GUARD.format(g=lag_guard_months, s="" if lag_guard_months == 1 else "s",
                                cutoff=cutoff.date().isoformat()) if lag_guard_months else "")
    return MonthlySeries(
        method="monthly counts",
        definition=_DEFINITION.format(field=date_field, guard=guard_text),
        parameters={
            "date_field": date_field,
            "window_start": start.date(),
            "window_end": end.date(),
            "as_of": data_date.date(),
            "lag_guard_months": lag_guard_months,
        },
        date_field=date_field,
        window_start=start.date(),
        window_end=end.date(),
        as_of=data_date.date(),
        lag_guard_months=lag_guard_months,
        lag_guard_cutoff=cutoff.date(),
        guarded_months=[m.date() for m in guarded],
        table=table[["month", *EVENT_TYPES, "total", "days", "days_covered", "status", "complete"]],
        n_months=len(table),
        n_complete_months=int(complete.sum()),
        incomplete_months=[m.date() for m in table.loc[~complete, "month"]],
        n_reports=int(table["total"].sum()),
        n_reports_complete_months=int(table.loc[complete, "total"].sum()),
        n_reports_outside_window=outside,
        notes=notes,
    )


def monthly_counts_by_date_field(
    event_counts: pd.DataFrame,
    *,
    window_start: dt.date | str | pd.Timestamp,
    window_end: dt.date | str | pd.Timestamp,
    as_of: dt.date | str | pd.Timestamp,
    date_fields: Iterable[str] = DATE_FIELDS,
    lag_guard_months: int = 0,
) -> dict[str, MonthlySeries]:
    """:func:`monthly_counts` for each date field present in ``event_counts`` (``date_received`` first).

    ``date_received`` is always returned (all zeros when absent, with a note); ``date_of_event``
    only when the table has rows for it.
    """
    present = set(event_counts["date_field"].astype(str)) if "date_field" in event_counts else set()
    out: dict[str, MonthlySeries] = {}
    for name in date_fields:
        if name == "date_received" or name in present:
            out[name] = monthly_counts(event_counts, date_field=name, window_start=window_start,
                                       window_end=window_end, as_of=as_of, lag_guard_months=lag_guard_months)
    return out


def complete_counts(
    series: MonthlySeries, event_type: str = "total"
) -> tuple[pd.DatetimeIndex, np.ndarray, np.ndarray]:
    """Months, counts and calendar days of the complete months, checked to be consecutive.

    Complete months can only be missing at the ends of the grid (a window cut or the data date),
    so they form one run; this is checked, since every model downstream assumes equal spacing.
    """
    table = series.complete()
    months = pd.DatetimeIndex(table["month"])
    if len(months) > 1:
        gaps = months.to_period("M").astype("int64")
        if not np.all(np.diff(np.asarray(gaps)) == 1):
            raise ValueError("complete months are not consecutive; the monthly grid is inconsistent")
    return months, table[event_type].to_numpy(dtype=float), table["days"].to_numpy(dtype=float)
