"""Patient outcomes of the review sample, per report: what event type alone does not say.

A MAUDE report's event type (death, injury, malfunction) is the reporter's choice; its patient
outcomes (``patient_outcomes`` table, one row per report, patient and outcome) can show harm that
the event type hides, such as a "malfunction" report with a hospitalisation. An outcome is
*serious* when it is one of `SERIOUS_OUTCOMES`: death, and the outcomes of a serious injury under
21 CFR 803.3 (life-threatening, hospitalisation, disability, congenital anomaly, required
intervention). Counts are of distinct reports, not of patients or events.
"""
from __future__ import annotations

import pandas as pd

from .device import OUTCOME_CODES

__all__ = ["SERIOUS_OUTCOMES", "outcome_counts", "outcome_reports"]

SERIOUS_OUTCOMES = ("Death", "Life threatening", "Hospitalization", "Disability", "Congenital anomaly", "Required intervention")


def outcome_counts(outcomes: pd.DataFrame) -> list[tuple[str, int]]:
    """``(outcome, distinct reports)``, most reports first (ties in the order of the MAUDE code list)."""
    if outcomes.empty or "outcome" not in outcomes:
        return []
    order = {o: i for i, o in enumerate(OUTCOME_CODES.values())}
    counts = outcomes.groupby("outcome")["mdr_report_key"].nunique()
    return sorted(((str(o), int(n)) for o, n in counts.items()), key=lambda on: (-on[1], order.get(on[0], len(order))))


def outcome_reports(outcomes: pd.DataFrame, events: pd.DataFrame) -> pd.DataFrame:
    """Per report of ``events``: its event type and whether any of its patient outcomes is serious."""
    if events.empty:
        return pd.DataFrame(columns=["mdr_report_key", "event_type", "serious"])
    serious = set(outcomes.loc[outcomes["outcome"].isin(SERIOUS_OUTCOMES), "mdr_report_key"]) if "outcome" in outcomes else set()
    return pd.DataFrame({"mdr_report_key": events["mdr_report_key"], "event_type": events["event_type"],
                         "serious": events["mdr_report_key"].isin(serious)})
