"""Reports of one event are grouped (issue 12.3): by event key, or by date of event, manufacturer and a
near-identical event description; the demo's real reports hold two such pairs (one surgery each)."""
from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from cer_lib.tables.event_groups import EVENT_DESCRIPTION, event_groups

STORY = "IT WAS REPORTED THAT DURING THE REMOVAL OF A PLATE AND SCREWS THE DRIVER BROKE AT THE TIP AND BECAME STUCK."


def _tables(rows: list[tuple[str, str, str, str | None, str | None]]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``(key, date of event, manufacturer, event key, description)`` -> events and texts."""
    events = pd.DataFrame([{"mdr_report_key": k, "date_received": f"2020-01-{i + 1:02d}", "date_of_event": day,
                            "manufacturer_name": maker, "event_key": event_key} for i, (k, day, maker, event_key, _) in enumerate(rows)])
    texts = pd.DataFrame([{"mdr_report_key": k, "text_type": EVENT_DESCRIPTION, "text": text}
                          for k, _, _, _, text in rows if text is not None])
    return events, texts


def _groups(rows) -> dict[str, str]:
    return dict(zip(*event_groups(*_tables(rows))[["mdr_report_key", "group"]].T.values))


def test_near_identical_descriptions_of_one_day_and_maker_are_one_event() -> None:
    groups = _groups([
        ("1", "2019-04-29", "In2Bones SAS", None, STORY),
        ("2", "2019-04-29", "IN2BONES SAS ", None, "  " + STORY.lower().replace(" ", "  ") + " SEE ALSO 1."),
        ("3", "2019-04-29", "IN2BONES SAS", None, "THE HEAD OF A SCREW BROKE OFF AS IT WAS SINKING IN NEAR THE VORTEX."),
        ("4", "2019-04-30", "IN2BONES SAS", None, STORY),  # another day
        ("5", "2019-04-29", "OTHER FIRM", None, STORY),  # another maker
        ("6", None, "IN2BONES SAS", None, STORY),  # no date of event: never grouped by the text rule
    ])
    assert groups == {"1": "1", "2": "1", "3": "3", "4": "4", "5": "5", "6": "6"}


def test_the_same_event_key_is_one_event_whatever_the_text_and_groups_join_through_any_member() -> None:
    frame = event_groups(*_tables([
        ("10", "2021-01-01", "A", "E-1", "FIRST TEXT OF A MANUFACTURER REPORT"),
        ("11", "2021-02-02", "B", "E-1", "A USER FACILITY'S WORDS, QUITE DIFFERENT"),
        ("12", "2021-02-02", "B", None, "A USER FACILITY'S WORDS, QUITE DIFFERENT"),
        ("13", "2021-03-03", "C", None, None),
    ]))
    assert frame["group"].tolist() == ["10", "10", "10", "13"]
    assert frame["group_size"].tolist() == [3, 3, 3, 1]
    assert frame["grouped_by"].tolist()[:3] == ["event key", "event key", "near-identical narrative"]
    assert pd.isna(frame["grouped_by"].iloc[3])


@pytest.mark.realdata
def test_the_demo_reports_of_one_surgery_are_grouped(demo_run: Path) -> None:
    """Reports 3011580264-2019-00013/-00014 (two 4.0 screws removed from one tibia) and -00006/-00007
    (one plate removal): each pair has the same date of event, maker and description."""
    events = pd.read_parquet(demo_run / "tables" / "events.parquet")
    frame = event_groups(events, pd.read_parquet(demo_run / "tables" / "event_texts.parquet"))
    numbers = dict(zip(events["mdr_report_key"].astype(str), events["report_number"]))
    pairs = sorted(sorted(numbers[k] for k in g["mdr_report_key"]) for _, g in frame.groupby("group") if len(g) > 1)
    assert pairs == [["3011580264-2019-00006", "3011580264-2019-00007"], ["3011580264-2019-00013", "3011580264-2019-00014"]]
    html = (demo_run / "cer.html").read_text(encoding="utf-8")
    assert html.count("2 reports of one event (near-identical narrative)") == 2
