"""Reports of one event: MAUDE reports that describe the same event, grouped (issue 12.3).

A surgery in which two screws broke often gives two reports with one narrative; a manufacturer
and a user facility may both report one event. Exact duplicates (one report key twice) are
removed when the tables are built; this module finds the near-duplicates among distinct reports.

Two reports are of one event when

1. both carry the same ``event_key`` (openFDA's key of the event, MAUDE's ``EVENT_KEY``), or
2. they have the same date of event, the same manufacturer (names compared by
   `cer_lib.names.match_key`, so "In2Bones SAS" = "IN2BONES SAS") and near-identical event
   descriptions: a `difflib.SequenceMatcher` ratio of at least `NEAR_IDENTICAL` between the texts
   in capitals with runs of white space as one space. Reports without a date of event or a
   description are never grouped by this rule.

Groups are the connected components of these pairs (a union-find), so a report joins a group
through any one of its members. Each group is named by its earliest report (date received, then
report key). The function is pure: tables in, a table out.
"""
from __future__ import annotations

import difflib
import re
from itertools import combinations

import pandas as pd

from ..names import match_key

__all__ = ["EVENT_DESCRIPTION", "NEAR_IDENTICAL", "RULE", "event_groups"]

NEAR_IDENTICAL = 0.9
EVENT_DESCRIPTION = "Description of Event or Problem"
RULE = (f"reports are counted as one event when they carry the same event key, or when they share the date of "
        f"event and the manufacturer and their event descriptions are near-identical (similarity at least "
        f"{NEAR_IDENTICAL:g}, difflib ratio after case and spacing are made uniform)")
_SPACE = re.compile(r"\s+")


def _blank(value: object) -> bool:
    return value is None or (not isinstance(value, str) and pd.isna(value)) or (isinstance(value, str) and not value.strip())


def _text_key(text: str) -> str:
    return _SPACE.sub(" ", text).strip().upper()


class _Components:
    def __init__(self, keys: list[str]) -> None:
        self.parent = {k: k for k in keys}

    def find(self, key: str) -> str:
        while self.parent[key] != key:
            self.parent[key] = self.parent[self.parent[key]]
            key = self.parent[key]
        return key

    def join(self, a: str, b: str) -> None:
        self.parent[self.find(a)] = self.find(b)


def event_groups(events: pd.DataFrame, texts: pd.DataFrame) -> pd.DataFrame:
    """One row per report of ``events``: ``mdr_report_key``, ``group`` (the report key of the group's
    earliest report), ``group_size`` and ``grouped_by`` (``event key``, ``near-identical narrative``,
    or None for a report alone), in the order of ``events``."""
    columns = ["mdr_report_key", "group", "group_size", "grouped_by"]
    if events.empty:
        return pd.DataFrame(columns=columns)
    keys = [str(k) for k in events["mdr_report_key"]]
    components = _Components(keys)
    how: dict[str, str] = {}

    def join(a: str, b: str, reason: str) -> None:
        if components.find(a) != components.find(b):
            components.join(a, b)
            how[a] = how.get(a, reason)
            how[b] = how.get(b, reason)

    by_event_key: dict[str, str] = {}
    for key, event_key in zip(keys, events.get("event_key", pd.Series([None] * len(keys)))):
        if not _blank(event_key):
            if str(event_key) in by_event_key:
                join(key, by_event_key[str(event_key)], "event key")
            else:
                by_event_key[str(event_key)] = key

    described = texts[texts["text_type"] == EVENT_DESCRIPTION] if not texts.empty else texts
    description = {str(k): _text_key(str(t)) for k, t in zip(described.get("mdr_report_key", []), described.get("text", []))
                   if not _blank(t)}
    blocks: dict[tuple[str, str], list[str]] = {}
    for key, day, maker in zip(keys, events["date_of_event"], events["manufacturer_name"]):
        if not _blank(day) and not _blank(maker) and key in description:
            blocks.setdefault((str(day)[:10], match_key(str(maker))), []).append(key)
    for members in blocks.values():
        for a, b in combinations(members, 2):
            if difflib.SequenceMatcher(None, description[a], description[b], autojunk=False).ratio() >= NEAR_IDENTICAL:
                join(a, b, "near-identical narrative")

    order = events.assign(_key=keys).sort_values(["date_received", "_key"])["_key"].tolist()
    first = {}
    for key in order:
        first.setdefault(components.find(key), key)
    roots = [components.find(k) for k in keys]
    sizes = pd.Series(roots).value_counts()
    return pd.DataFrame({
        "mdr_report_key": keys, "group": [first[r] for r in roots], "group_size": [int(sizes[r]) for r in roots],
        "grouped_by": [how.get(k) if sizes[r] > 1 else None for k, r in zip(keys, roots)],
    }, columns=columns)
