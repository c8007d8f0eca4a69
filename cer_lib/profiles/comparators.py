"""The comparator product codes of a device: the other codes of its regulation number, by report volume.

The comparators are the background of the disproportionality analysis and the family of the
family-share measure, so which codes they are must not depend on how the codes happen to sort.
Rule (`choose_comparators`):

1. candidates: every other product code whose classification record has the device's regulation
   number (``device/classification``);
2. volumes: one request, whatever the number of candidates or reports: the device events received
   in the report window whose ``device.device_report_product_code`` is the device's code or one of
   the candidates, counted by ``device.device_report_product_code.exact`` (openFDA counts a report
   once per code it names, so a candidate's count is its number of reports; codes of other devices
   named on the same reports are ignored). A mirror answers the same count from its files;
3. the candidates ranked by that volume (most reports first, ties by code; a code without reports
   in the window has volume 0) and the first ``methods.signals.max_comparators`` kept. When the count
   returned openFDA's full term limit, a candidate without a row has fewer reports than every code
   shown: its volume is unknown (null) and it ranks after them.

When the volumes cannot be counted (the device events are switched off, or the source cannot answer
the count, e.g. a mirror without device events), the candidates are taken in product-code order and
the rule recorded in the resolution says so and why; the report prints that rule.
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from ..collect.plan import COUNT_LIMIT
from ..errors import MirrorError, SourceError
from ..runfolder import Comparator
from ..sources.base import DateRange, Match, Query, Source
from ..sources.openfda import search_text

__all__ = ["ComparatorChoice", "CODE_FIELD", "choose_comparators", "volume_query"]

CODE_FIELD = "device.device_report_product_code"
EVENTS = "device/event"


@dataclass(frozen=True)
class ComparatorChoice:
    """The comparators kept (in rank order), the candidates left out, and the rule in words."""

    chosen: list[Comparator]
    left_out: list[Comparator]
    rule: str
    by_volume: bool
    volume_search: str | None = None  # the count's search, when the volumes were counted


def volume_query(codes: Sequence[str], start: dt.date, end: dt.date) -> Query:
    """Device events in ``[start, end]`` (received) naming one of ``codes``."""
    return Query((Match(CODE_FIELD, tuple(codes), exact=True), DateRange("date_received", start, end)))


def choose_comparators(
    device_code: str,
    candidates: Sequence[Comparator],
    regulation: str,
    *,
    cap: int,
    window: tuple[dt.date, dt.date],
    source: Source,
    events_enabled: bool,
    step: Callable[[str, Callable[[], object]], object],
) -> ComparatorChoice:
    """The comparators of a device among ``candidates`` (see the module docstring).

    ``step(label, action)`` runs the one count request (a progress line); ``events_enabled`` is
    whether the run reads device events at all.
    """
    candidates = sorted(candidates, key=lambda c: c.product_code)
    if not candidates:
        return ComparatorChoice([], [], f"no other product code has regulation number {regulation}", by_volume=False)
    start, end = window
    query = volume_query([device_code, *(c.product_code for c in candidates)], start, end)
    reason = None
    if not events_enabled:
        reason = "device events are switched off (sources.maude: false), so report volumes cannot be counted"
    else:
        try:
            counted = step(f"{EVENTS} report volume of {len(candidates)} product codes of regulation {regulation}",
                           lambda: source.count(EVENTS, query, f"{CODE_FIELD}.exact", limit=COUNT_LIMIT))
        except (SourceError, MirrorError) as exc:
            reason = f"the source could not count the reports by product code ({exc})"
    if reason is not None:
        return ComparatorChoice(
            candidates[:cap], candidates[cap:], by_volume=False,
            rule=(f"other product codes with regulation number {regulation} in device/classification, in product-code "
                  f"order (not by report volume: {reason}), at most methods.signals.max_comparators = {cap}"))
    volumes = {str(row.get("term")): int(row.get("count") or 0) for row in counted.rows}  # type: ignore[attr-defined]
    truncated = bool(counted.truncated)  # type: ignore[attr-defined]
    ranked = [c.model_copy(update={"reports": volumes.get(c.product_code, None if truncated else 0)}) for c in candidates]
    ranked.sort(key=lambda c: (c.reports is None, -(c.reports or 0), c.product_code))
    rule = (f"other product codes with regulation number {regulation} in device/classification, ranked by their "
            f"number of device event reports received {start:%Y-%m-%d}..{end:%Y-%m-%d} (one count of "
            f"{CODE_FIELD}.exact over the reports naming the device or any of them; most reports first, ties by "
            "code), "
            f"at most methods.signals.max_comparators = {cap}")
    if truncated:
        rule += (f"; the count returned its limit of {COUNT_LIMIT} codes, so codes without a row have fewer reports "
                 "than those shown and an unknown volume")
    return ComparatorChoice(ranked[:cap], ranked[cap:], rule, by_volume=True, volume_search=search_text(query))
