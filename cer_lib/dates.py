"""Dates as the sources and the run's files write them, read one way everywhere.

`parse_date` reads every form found in openFDA, MAUDE flat files, GUDID, recalls, enforcement
reports and the run's own JSON:

    YYYYMMDD, YYYY-MM-DD, YYYY/MM/DD    optionally followed by a time ("2009/10/08 00:00:00.000",
                                        "2024-06-15T12:00:00Z"); month and day may have one digit
    MM/DD/YYYY                          the US form of MAUDE and enforcement reports
    DD-MON-YY, DD-MON-YYYY              "08-OCT-09" (two-digit years: 70-99 -> 19xx, 00-69 -> 20xx)

and `datetime.date`, `datetime.datetime` and `pandas.Timestamp` values as they are. Anything else,
including impossible dates such as 2020-13-45, is None: a caller that must say how many values it
could not read counts the Nones of non-blank input. `compact_date` and `iso_date` give the two
spellings the project writes (``20091008``, ``2009-10-08``).
"""
from __future__ import annotations

import datetime as dt
import re
from typing import Any

__all__ = ["compact_date", "iso_date", "parse_date"]

_MONTHS = {m: i for i, m in enumerate(("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"), 1)}
_TIME = r"(?:[ T].*)?"
_YMD_COMPACT = re.compile(r"(\d{4})(\d{2})(\d{2})" + _TIME)
_YMD = re.compile(r"(\d{4})[-/](\d{1,2})[-/](\d{1,2})" + _TIME)
_MDY = re.compile(r"(\d{1,2})/(\d{1,2})/(\d{4})")
_DMONY = re.compile(r"(\d{1,2})-([A-Za-z]{3})-(\d{2}|\d{4})")


def parse_date(value: Any) -> dt.date | None:
    """The calendar date ``value`` names, or None when it is blank or not a date (see the module docstring)."""
    if isinstance(value, dt.datetime):  # pandas.Timestamp is a datetime
        return value.date()
    if isinstance(value, dt.date):
        return value
    if not isinstance(value, str):
        return None
    text = value.strip()
    if match := _YMD_COMPACT.fullmatch(text) or _YMD.fullmatch(text):
        y, m, d = (int(g) for g in match.groups())
    elif match := _MDY.fullmatch(text):
        m, d, y = (int(g) for g in match.groups())
    elif match := _DMONY.fullmatch(text):
        d, m, y = int(match.group(1)), _MONTHS.get(match.group(2).upper(), 0), int(match.group(3))
        if y < 100:
            y += 2000 if y < 70 else 1900
    else:
        return None
    try:
        return dt.date(y, m, d)
    except ValueError:
        return None


def compact_date(value: Any) -> str | None:
    """``YYYYMMDD`` of any date `parse_date` reads, None otherwise."""
    day = parse_date(value)
    return day.strftime("%Y%m%d") if day else None


def iso_date(value: Any) -> str | None:
    """``YYYY-MM-DD`` of any date `parse_date` reads, None otherwise."""
    day = parse_date(value)
    return day.isoformat() if day else None
