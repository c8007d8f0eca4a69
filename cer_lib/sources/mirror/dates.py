"""Dates as the mirror stores and compares them: ``YYYYMMDD`` text, from the formats FDA files use."""
from __future__ import annotations

import datetime as dt
import re

__all__ = ["normalise_date", "iso_date"]

_MONTHS = {m: i for i, m in enumerate(("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"), 1)}


def normalise_date(value: str) -> str | None:
    """``YYYYMMDD`` from the date formats found in MAUDE and openFDA files; None when unparseable.

    Accepted: ``YYYYMMDD``, ``YYYY-MM-DD``, ``YYYY/MM/DD`` (optionally with a time),
    ``MM/DD/YYYY``, ``DD-MON-YY`` / ``DD-MON-YYYY``.
    """
    value = (value or "").strip()
    if not value:
        return None
    match = re.fullmatch(r"(\d{4})[-/]?(\d{2})[-/]?(\d{2})(?:[ T].*)?", value)
    if match:
        y, m, d = (int(g) for g in match.groups())
    elif match := re.fullmatch(r"(\d{1,2})/(\d{1,2})/(\d{4})", value):
        m, d, y = (int(g) for g in match.groups())
    elif match := re.fullmatch(r"(\d{1,2})-([A-Za-z]{3})-(\d{2}|\d{4})", value):
        d, y = int(match.group(1)), int(match.group(3))
        m = _MONTHS.get(match.group(2).upper(), 0)
        if y < 100:
            y += 2000 if y < 70 else 1900
    else:
        return None
    try:
        return dt.date(y, m, d).strftime("%Y%m%d")
    except ValueError:
        return None


def iso_date(date: str | None) -> str | None:
    """``YYYY-MM-DD`` from any date `normalise_date` reads, else None."""
    if not date:
        return None
    compact = normalise_date(str(date))
    return f"{compact[:4]}-{compact[4:6]}-{compact[6:]}" if compact else None
