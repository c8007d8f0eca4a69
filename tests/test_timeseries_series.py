"""Monthly series: complete grid, completeness flags, window handling, JSON form."""
from __future__ import annotations

import datetime as dt
import json

import numpy as np
import pandas as pd
import pytest

from cer_lib.analysis.results import EVENT_TYPES, ChangePoint, Result, to_jsonable
from cer_lib.analysis.series import complete_counts, monthly_counts, monthly_counts_by_date_field


def _event_counts(rows):
    return pd.DataFrame(rows, columns=["date", "date_field", "event_type", "n_reports"]).assign(
        date=lambda d: pd.to_datetime(d["date"]))


@pytest.fixture
def sparse_counts() -> pd.DataFrame:
    # Reports in Jan, Mar and mid-June 2023 only; February, April and May have none.
    return _event_counts([
        ("2023-01-03", "date_received", "Malfunction", 4),
        ("2023-01-20", "date_received", "Death", 1),
        ("2023-03-31", "date_received", "Injury", 2),
        ("2023-03-31", "date_received", "Other", 1),
        ("2023-06-10", "date_received", "Malfunction", 7),
        ("2023-06-20", "date_received", "Malfunction", 3),  # after as_of: left out
        ("2022-12-31", "date_received", "Malfunction", 5),  # before the window: left out
        ("2023-01-15", "date_of_event", "Injury", 9),
    ])


def test_grid_is_complete_and_zero_filled(sparse_counts):
    s = monthly_counts(sparse_counts, window_start="2023-01-01", window_end="2023-12-31", as_of="2023-06-15")
    t = s.table
    assert list(t["month"].dt.strftime("%Y-%m")) == ["2023-01", "2023-02", "2023-03", "2023-04", "2023-05", "2023-06"]
    assert list(t["total"]) == [5, 0, 3, 0, 0, 7]
    assert list(t["Death"]) == [1, 0, 0, 0, 0, 0]
    assert (t[list(EVENT_TYPES)].sum(axis=1) == t["total"]).all()
    assert s.n_reports == 15
    assert s.n_reports_outside_window == 8  # 3 after as_of + 5 before the window
    assert any("left out" in note for note in s.notes)


def test_last_month_incomplete_when_as_of_inside_it(sparse_counts):
    s = monthly_counts(sparse_counts, window_start="2023-01-01", window_end="2023-12-31", as_of="2023-06-15")
    assert list(s.table["complete"]) == [True] * 5 + [False]
    assert s.incomplete_months == [dt.date(2023, 6, 1)]
    assert s.table["days_covered"].iloc[-1] == 15
    assert s.n_complete_months == 5
    assert s.n_reports_complete_months == 8
    months, y, days = complete_counts(s)
    assert len(months) == 5 and y.sum() == 8 and list(days) == [31, 28, 31, 30, 31]


def test_as_of_on_last_day_keeps_month_complete(sparse_counts):
    s = monthly_counts(sparse_counts, window_start="2023-01-01", window_end="2023-12-31", as_of="2023-05-31")
    assert s.table["complete"].all() and s.n_months == 5


def test_window_cuts_first_and_last_month(sparse_counts):
    s = monthly_counts(sparse_counts, window_start="2023-01-10", window_end="2023-03-15", as_of="2024-01-01")
    assert list(s.table["complete"]) == [False, True, False]
    assert list(s.table["days_covered"]) == [22, 28, 15]
    assert list(s.table["total"]) == [1, 0, 0]  # the Jan 3 reports fall before the window start
    months, _, _ = complete_counts(s)
    assert [m.strftime("%Y-%m") for m in months] == ["2023-02"]


def test_date_of_event_variant_only_when_present(sparse_counts):
    both = monthly_counts_by_date_field(sparse_counts, window_start="2023-01-01", window_end="2023-12-31",
                                        as_of="2023-06-15")
    assert list(both) == ["date_received", "date_of_event"]
    assert both["date_of_event"].table["Injury"].iloc[0] == 9
    assert any("reporting" in n or "reported" in n for n in both["date_of_event"].notes)
    only = monthly_counts_by_date_field(sparse_counts.loc[sparse_counts["date_field"] == "date_received"],
                                        window_start="2023-01-01", window_end="2023-12-31", as_of="2023-06-15")
    assert list(only) == ["date_received"]


def test_bad_inputs_raise_clear_errors(sparse_counts):
    with pytest.raises(ValueError, match="No answer provided"):
        monthly_counts(sparse_counts.assign(event_type="No answer provided"), window_start="2023-01-01",
                       window_end="2023-12-31", as_of="2023-06-15")
    with pytest.raises(ValueError, match="lacks column"):
        monthly_counts(sparse_counts.drop(columns="n_reports"), window_start="2023-01-01",
                       window_end="2023-12-31", as_of="2023-06-15")
    with pytest.raises(ValueError, match="before window_start"):
        monthly_counts(sparse_counts, window_start="2023-05-01", window_end="2023-01-01", as_of="2023-06-15")
    with pytest.raises(ValueError, match="date_field"):
        monthly_counts(sparse_counts, date_field="date_report", window_start="2023-01-01",
                       window_end="2023-12-31", as_of="2023-06-15")


def test_no_rows_gives_zero_series_with_note():
    empty = _event_counts([])
    s = monthly_counts(empty, window_start="2023-01-01", window_end="2023-03-31", as_of="2023-03-31")
    assert s.n_months == 3 and s.n_reports == 0 and s.table["complete"].all()
    assert any("No date_received rows" in n for n in s.notes)


def test_monthly_series_json_shape(sparse_counts):
    s = monthly_counts(sparse_counts, window_start="2023-01-01", window_end="2023-12-31", as_of="2023-06-15")
    data = json.loads(json.dumps(s.to_dict(), allow_nan=False))
    assert data["method"] == "monthly counts" and "complete" in data["definition"]
    assert data["as_of"] == "2023-06-15" and data["incomplete_months"] == ["2023-06-01"]
    first = data["table"][0]
    assert first == {"month": "2023-01-01", "Death": 1, "Injury": 0, "Malfunction": 4, "Other": 0,
                     "total": 5, "days": 31, "days_covered": 31, "status": "complete", "complete": True}
    assert data["table"][-1]["status"] == "partial" and data["lag_guard_months"] == 0


# -- to_jsonable -----------------------------------------------------------------------------


def test_to_jsonable_rules():
    frame = pd.DataFrame({"month": pd.to_datetime(["2024-01-01", "2024-02-01"]), "x": [1.5, np.nan],
                          "n": np.array([1, 2], dtype="int64"), "flag": [True, False]})
    point = ChangePoint(date=dt.date(2024, 3, 1), index=3, months_before=3, months_after=2, reports_before=3,
                        reports_after=8, rate_before=1.0, rate_before_ci_low=0.2, rate_before_ci_high=2.9,
                        rate_after=4.0, rate_after_ci_low=1.7, rate_after_ci_high=7.9,
                        rate_ratio=float("inf"), rate_ratio_ci_low=np.float64(1.1), rate_ratio_ci_high=None)
    out = to_jsonable({
        "nan": float("nan"), "inf": np.float32("inf"), "i": np.int32(3), "b": np.bool_(True),
        "date": dt.date(2024, 1, 31), "stamp": pd.Timestamp("2024-05-01"),
        "stamp_time": pd.Timestamp("2024-05-01 13:30"), "nat": pd.NaT, "arr": np.array([1.0, np.nan]),
        "frame": frame, "point": point, "tuple": (1, "a"), dt.date(2024, 1, 1): "date key",
    })
    assert out["nan"] is None and out["inf"] is None and out["i"] == 3 and out["b"] is True
    assert out["date"] == "2024-01-31" and out["stamp"] == "2024-05-01"
    assert out["stamp_time"] == "2024-05-01T13:30:00" and out["nat"] is None
    assert out["arr"] == [1.0, None] and out["tuple"] == [1, "a"] and out["2024-01-01"] == "date key"
    assert out["frame"] == [{"month": "2024-01-01", "x": 1.5, "n": 1, "flag": True},
                            {"month": "2024-02-01", "x": None, "n": 2, "flag": False}]
    assert out["point"]["date"] == "2024-03-01" and out["point"]["rate_ratio"] is None
    assert out["point"]["rate_ratio_ci_low"] == 1.1
    json.dumps(out, allow_nan=False)
    with pytest.raises(TypeError, match="cannot convert"):
        to_jsonable(object())


def test_result_base_fields_first():
    r = Result(method="m", definition="d", parameters={"a": np.float64(0.5)})
    assert r.to_dict() == {"method": "m", "definition": "d", "parameters": {"a": 0.5}}
