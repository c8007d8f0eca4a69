"""One date parser for the project: every form the sources and the run's files use."""
from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from cer_lib.dates import compact_date, iso_date, parse_date
from cer_lib.sources.mirror import record_tables
from cer_lib.sources.mirror.formats import maude_sheet
from cer_lib.sources.mirror.formats.maude_flat import values as maude_flat_values
from cer_lib.tables.device import parse_date as table_date

DAY = dt.date(2009, 10, 8)


@pytest.mark.parametrize("text", [
    "20091008", "2009-10-08", "2009/10/08", "2009/10/08 00:00:00.000", "2009-10-08T12:00:00Z", "2009-10-8",
    "10/08/2009", "08-OCT-09", "8-Oct-2009", " 20091008 ",
])
def test_every_form_the_sources_write_is_read(text: str) -> None:
    assert parse_date(text) == DAY
    assert compact_date(text) == "20091008" and iso_date(text) == "2009-10-08"


@pytest.mark.parametrize("value", ["", "   ", "2020-13-45", "13/45/2009", "31-FOO-09", "2009-10", "yesterday", None, 20091008])
def test_anything_else_is_none(value) -> None:  # noqa: ANN001
    assert parse_date(value) is None and compact_date(value) is None


def test_dates_and_timestamps_are_taken_as_they_are() -> None:
    assert parse_date(DAY) == DAY
    assert parse_date(dt.datetime(2009, 10, 8, 23, 59)) == DAY
    assert parse_date(pd.Timestamp("2009-10-08 06:00")) == DAY
    assert parse_date("31-DEC-69") == dt.date(2069, 12, 31) and parse_date("01-JAN-70") == dt.date(1970, 1, 1)


def test_the_mirror_and_the_tables_use_the_same_parser() -> None:
    assert record_tables.compact_date is maude_sheet.compact_date is maude_flat_values.compact_date is compact_date
    assert table_date("08-OCT-09") == (pd.Timestamp(DAY), False)  # a form the tables did not read before
    assert table_date("2020-13-45") == (None, True) and table_date("1899-12-31") == (None, True)
