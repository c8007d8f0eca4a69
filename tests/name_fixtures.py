"""A mirror whose device events carry brand names as people type them (issue 17).

`build_names_mirror(folder)` takes the generated demo events (`cer_lib.sources.demo.synthetic_events`,
380 events 2019-2023) and gives groups of them new brand names: for each name of `NAMES`, several
*variants* (the name as typed, upper case, lower case, with or without ``®``: one normalised form)
and two *other brands* that share its words but are different names. It writes them as an openFDA
bulk file under ``device/event/`` and returns, per name, what a correct search must find — computed
here from the construction, not by the code under test.
"""
from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cer_lib.sources.demo import synthetic_events

# the names of issue 17, as a new user types them
NAMES = ("PIT'STOP", "I.B.S.", "ACCU-CHEK®", "Dexcom G6®", "St. John's Wort", "5-FU", "Tylenol (acetaminophen)",
         "Co-Amoxiclav 500/125", "Johnson & Johnson")
PER_VARIANT = 5  # events per variant
PER_OTHER = 3  # events per other brand

# brands that share a name's words but are other brands (PIT'STOP, PIT STOP and PITSTOP are three)
OTHER_BRANDS = {
    "PIT'STOP": ("PIT STOP", "PITSTOP"),
    "I.B.S.": ("IBS", "I.B.S. XL"),
}


@dataclass
class NameCase:
    name: str
    variants: dict[str, int]  # brand_name value -> events written with it
    others: dict[str, int]

    @property
    def reports(self) -> int:
        return sum(self.variants.values())


def _variants(name: str) -> list[str]:
    """Ways the data write ``name``: as typed, upper, lower, and with ``®`` added (or taken away)."""
    marked = name.replace("®", "") if "®" in name else f"{name}®"
    return list(dict.fromkeys([name, name.upper(), name.lower(), marked]))


def _others(name: str) -> tuple[str, ...]:
    words = " ".join("".join(c if c.isalnum() else " " for c in name.replace("®", "")).split()).upper()
    return OTHER_BRANDS.get(name, (f"{words} XL", f"{words} KIT"))


def build_names_mirror(folder: Path) -> dict[str, NameCase]:
    """Write the mirror into ``folder`` (``device/event/names.json``); return the expected matches per name."""
    events = sorted(synthetic_events(), key=lambda e: (e["date_received"], e["mdr_report_key"]))
    cases: dict[str, NameCase] = {}
    plan: list[tuple[str, str]] = []  # (name, brand) per event slot
    for name in NAMES:
        case = NameCase(name, {v: PER_VARIANT for v in _variants(name)}, {o: PER_OTHER for o in _others(name)})
        cases[name] = case
        plan += [(name, v) for v, n in case.variants.items() for _ in range(n)]
        plan += [(name, o) for o, n in case.others.items() for _ in range(n)]
    assert len(plan) <= len(events), "not enough demo events for the name groups"
    stride = len(events) // len(plan)
    written: list[dict[str, Any]] = []
    for slot, (_, brand) in enumerate(plan):
        event = copy.deepcopy(events[slot * stride])
        event["device"][0]["brand_name"] = brand
        written.append(event)
    latest = max(e["date_received"] for e in written)
    bulk = {"meta": {"disclaimer": "SYNTHETIC test data for brand names (tests/name_fixtures.py).",
                     "last_updated": f"{latest[:4]}-{latest[4:6]}-{latest[6:]}",
                     "results": {"skip": 0, "limit": len(written), "total": len(written)}},
            "results": written}
    target = folder / "device" / "event" / "names.json"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(bulk, ensure_ascii=False, indent=1), encoding="utf-8")
    return cases


def names_events(folder: Path) -> tuple[list[dict[str, Any]], str]:
    """The events of a mirror `build_names_mirror` wrote and its ``last_updated`` (for the local openFDA server)."""
    bulk = json.loads((folder / "device" / "event" / "names.json").read_text(encoding="utf-8"))
    return bulk["results"], bulk["meta"]["last_updated"]
