"""Schemas of the tidy tables, checked at the stage boundary (when 02_integrate writes them and when
the analysis and report stages read them back).

Each table has a fixed list of typed columns (strict and ordered: no column more, none less), value
checks (vocabularies, non-negative counts) and a documented key that must be unique. A failed check
raises `TableSchemaError`, whose message names the table, each failing column and check, and the
first few offending values, e.g.::

    table 'events' failed its schema check (2 problem(s)):
      - column 'event_type', check isin(['Death', 'Injury', 'Malfunction', 'Other']): 1 value(s), e.g. 'Explosion'
      - column 'mdr_report_key', check not_nullable: 1 value(s), e.g. <NA>

Dtypes (checked exactly, not coerced): strings are pandas ``string`` (missing = ``<NA>``; an
``object`` or NaN-backed ``str`` column fails), dates ``datetime64[ns]`` at midnight
(missing = ``NaT``), flags nullable ``boolean``, counts and sequence numbers ``Int64``/``int64``.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import pandas as pd
import pandera.pandas as pa
from pandera.errors import SchemaError, SchemaErrors

from ..errors import TableSchemaError

STRING = "string"
DATE = "datetime64[ns]"
FLAG = "boolean"
NULLABLE_INT = "Int64"
COUNT = "int64"

EVENT_TYPES = ("Death", "Injury", "Malfunction", "Other")
COUNT_EVENT_TYPES = ("all",) + EVENT_TYPES
DATE_FIELDS = ("date_received", "date_of_event")
PROBLEM_TYPES = ("device", "patient")
TOTAL_PROBLEM_TYPES = ("all",) + PROBLEM_TYPES  # report totals: all reports, or those carrying a problem code of the type
SUMMARY_REPORT_FLAGS = ("Y", "N")
SCOPES = ("device", "comparator")
# Words for MAUDE patient outcome codes (see device.OUTCOME_CODES for the source).
OUTCOMES = (
    "Death",
    "Life threatening",
    "Hospitalization",
    "Disability",
    "Congenital anomaly",
    "Required intervention",
    "Other",
    "Invalid data",
    "Unknown",
    "No information",
    "Not applicable",
)
ENFORCEMENT_CLASSES = ("Class I", "Class II", "Class III")
SUBMISSION_TYPES = ("510(k)", "De Novo", "PMA", "PMA supplement")
PRODUCT_SOURCES = ("classification", "udi", "registrationlisting", "eudamed")


@dataclass(frozen=True)
class ColumnSpec:
    """A column's dtype (checked exactly, see `dtype_matches`), whether it may be missing, and value checks."""

    dtype: str
    nullable: bool = True
    checks: tuple[pa.Check, ...] = ()

    def column(self) -> pa.Column:
        # dtype=None: pandera's own string check also passes object and NaN-string columns, so
        # dtypes are checked exactly by `dtype_matches` instead.
        return pa.Column(None, list(self.checks), nullable=self.nullable)


@dataclass(frozen=True)
class TableSpec:
    """One tidy table: what a row is, its key, and its columns with their dtypes and checks."""

    name: str
    grain: str
    key: tuple[str, ...]
    columns: Mapping[str, ColumnSpec]
    key_unique: bool = True  # False: uniqueness is checked by a custom check (see event_texts)
    extra_checks: tuple[pa.Check, ...] = ()

    @property
    def dtypes(self) -> dict[str, str]:
        return {name: column.dtype for name, column in self.columns.items()}

    @property
    def schema(self) -> pa.DataFrameSchema:
        return pa.DataFrameSchema(
            {name: column.column() for name, column in self.columns.items()},
            checks=list(self.extra_checks),
            strict=True,
            ordered=True,
            unique=list(self.key) if self.key_unique else None,
            name=self.name,
            coerce=False,
        )


def dtype_matches(actual: object, expected: str) -> bool:
    """``string`` means pandas' NA-backed StringDtype (any storage); the others compare by name."""
    if expected == STRING:
        return isinstance(actual, pd.StringDtype) and actual.na_value is pd.NA
    return str(actual) == expected


def _s(nullable: bool = True, *checks: pa.Check) -> ColumnSpec:
    return ColumnSpec(STRING, nullable, checks)


def _in(values: tuple[str, ...], nullable: bool = False) -> ColumnSpec:
    return ColumnSpec(STRING, nullable, (pa.Check.isin(list(values)),))


def _date() -> ColumnSpec:
    return ColumnSpec(DATE)


def _flag() -> ColumnSpec:
    return ColumnSpec(FLAG)


def _seq(nullable: bool = True) -> ColumnSpec:
    return ColumnSpec(NULLABLE_INT, nullable, (pa.Check.ge(0),))


def _count() -> ColumnSpec:
    return ColumnSpec(COUNT, False, (pa.Check.ge(0),))


_NOT_BLANK = pa.Check(lambda s: s.str.strip().str.len() > 0, element_wise=False, name="not_blank")


def _device_problems_have_no_patient(df: pd.DataFrame) -> pd.Series:
    """Device problems carry no patient sequence number."""
    return ~((df["problem_type"] == "device") & df["patient_sequence_number"].notna())


def _text_keys_unique(df: pd.DataFrame) -> pd.Series:
    """(mdr_report_key, mdr_text_key) unique among texts that have an mdr_text_key."""
    keyed = df["mdr_text_key"].notna()
    dup = df.duplicated(["mdr_report_key", "mdr_text_key"], keep=False) & keyed
    return ~dup


TABLES: dict[str, TableSpec] = {
    spec.name: spec
    for spec in (
        TableSpec(
            "events",
            "one MAUDE report (device/event record) of the review sample",
            ("mdr_report_key",),
            {
                "mdr_report_key": _s(False, _NOT_BLANK),
                "report_number": _s(),
                "date_received": _date(),
                "date_of_event": _date(),
                "event_type": _in(EVENT_TYPES),
                "event_type_raw": _s(),
                "adverse_event_flag": _flag(),
                "product_problem_flag": _flag(),
                "summary_report": _flag(),
                "report_source": _s(),
                "source_type": _s(),
                "manufacturer_name": _s(),
                "event_location": _s(),
                "n_devices": _seq(),
                "n_patients": _seq(),
                "event_key": _s(),
                "event_group": _s(),
                "event_group_size": _seq(),
                "grouped_by": _s(),
            },
        ),
        TableSpec(
            "event_devices",
            "one device named in a report",
            ("mdr_report_key", "device_sequence_number"),
            {
                "mdr_report_key": _s(False, _NOT_BLANK),
                "device_sequence_number": _seq(False),
                "product_code": _s(),
                "brand_name": _s(),
                "generic_name": _s(),
                "manufacturer_name": _s(),
                "model_number": _s(),
                "catalog_number": _s(),
                "lot_number": _s(),
                "implant_flag": _flag(),
                "device_name": _s(),
                "device_class": _s(),
                "regulation_number": _s(),
            },
        ),
        TableSpec(
            "event_problems",
            "one distinct problem term of a report: a device problem, or a patient problem of one patient",
            ("mdr_report_key", "problem_type", "term", "patient_sequence_number"),
            {
                "mdr_report_key": _s(False, _NOT_BLANK),
                "problem_type": _in(PROBLEM_TYPES),
                "term": _s(False, _NOT_BLANK),
                "patient_sequence_number": _seq(),
            },
            extra_checks=(pa.Check(_device_problems_have_no_patient, name="device_problem_without_patient"),),
        ),
        TableSpec(
            "event_texts",
            "one narrative text of a report (untrusted, stored raw)",
            ("mdr_report_key", "mdr_text_key"),
            {
                "mdr_report_key": _s(False, _NOT_BLANK),
                "mdr_text_key": _s(),
                "text_type": _s(),
                "patient_sequence_number": _seq(),
                "text": _s(False),
            },
            key_unique=False,
            extra_checks=(pa.Check(_text_keys_unique, name="unique_mdr_text_key_per_report"),),
        ),
        TableSpec(
            "patient_outcomes",
            "one distinct outcome of one patient of a report",
            ("mdr_report_key", "patient_sequence_number", "outcome"),
            {
                "mdr_report_key": _s(False, _NOT_BLANK),
                "patient_sequence_number": _seq(),
                "outcome": _in(OUTCOMES),
            },
        ),
        TableSpec(
            "recalls",
            "one recalled product (device/recall record) of the device or a comparator",
            ("recall_key",),
            {
                "recall_key": _s(False, _NOT_BLANK),
                "res_event_number": _s(),
                "product_res_number": _s(),
                "product_code": _s(),
                "scope": _in(SCOPES, nullable=True),
                "recall_status": _s(),
                "event_date_initiated": _date(),
                "event_date_posted": _date(),
                "event_date_terminated": _date(),
                "recalling_firm": _s(),
                "root_cause_description": _s(),
                "reason_for_recall": _s(),
                "product_description": _s(),
                "action": _s(),
                "k_numbers": _s(),
                "pma_numbers": _s(),
            },
        ),
        TableSpec(
            "enforcement",
            "one enforcement report (device/enforcement record, one recall number)",
            ("recall_number",),
            {
                "recall_number": _s(False, _NOT_BLANK),
                "event_id": _s(),
                "classification": _in(ENFORCEMENT_CLASSES, nullable=True),
                "status": _s(),
                "recall_initiation_date": _date(),
                "report_date": _date(),
                "center_classification_date": _date(),
                "termination_date": _date(),
                "recalling_firm": _s(),
                "product_description": _s(),
                "reason_for_recall": _s(),
                "product_quantity": _s(),
                "distribution_pattern": _s(),
                "product_code": _s(),
                "scope": _in(SCOPES, nullable=True),
            },
        ),
        TableSpec(
            "submissions",
            "one premarket submission: a 510(k), De Novo, PMA original or PMA supplement",
            ("number", "supplement_number"),
            {
                "submission_type": _in(SUBMISSION_TYPES),
                "number": _s(False, _NOT_BLANK),
                "supplement_number": _s(),
                "product_code": _s(),
                "applicant": _s(),
                "device_name": _s(),
                "trade_name": _s(),
                "date_received": _date(),
                "decision_date": _date(),
                "decision": _s(),
                "clearance_type": _s(),
                "advisory_committee": _s(),
                "predicates": _s(),
            },
        ),
        TableSpec(
            "products",
            "one product listing: a classification entry, a UDI-DI under a product code, a registered "
            "listing of a product code, or an Eudamed UDI-DI",
            ("source", "record_key"),
            {
                "source": _in(PRODUCT_SOURCES),
                "product_code": _s(),
                "device_name": _s(),
                "device_class": _s(),
                "regulation_number": _s(),
                "review_panel": _s(),
                "implant": _flag(),
                "life_sustaining": _flag(),
                "brand_name": _s(),
                "model_number": _s(),
                "company_name": _s(),
                "udi_di": _s(),
                "basic_udi_di": _s(),
                "eu_risk_class": _s(),
                "eu_status": _s(),
                "emdn_code": _s(),
                "emdn_term": _s(),
                "manufacturer_srn": _s(),
                "record_key": _s(False, _NOT_BLANK),
            },
        ),
        TableSpec(
            "event_counts",
            "reports of the device received (or with an event) on one day, by event type; days without reports have no row",
            ("date", "date_field", "event_type"),
            {
                "date": ColumnSpec(DATE, False),
                "date_field": _in(DATE_FIELDS),
                "event_type": _in(COUNT_EVENT_TYPES),
                "n_reports": _count(),
            },
        ),
        TableSpec(
            "problem_counts",
            "reports of one product code with one problem term in one period (openFDA count query)",
            ("scope", "product_code", "problem_type", "period", "term"),
            {
                "scope": _in(SCOPES),
                "product_code": _s(),
                "problem_type": _in(PROBLEM_TYPES),
                "term": _s(False, _NOT_BLANK),
                "period": _s(False, pa.Check.str_matches(r"^(all|\d{4})$")),
                "n_reports": _count(),
                "truncated": ColumnSpec(FLAG, False),
            },
        ),
        TableSpec(
            "report_totals",
            "reports of one product code in one period: all of them (problem_type all), or those carrying a "
            "device / patient problem code",
            ("scope", "product_code", "period", "problem_type"),
            {
                "scope": _in(SCOPES),
                "product_code": _s(),
                "period": _s(False, pa.Check.str_matches(r"^(all|\d{4})$")),
                "problem_type": _in(TOTAL_PROBLEM_TYPES),
                "n_reports": _count(),
            },
        ),
        TableSpec(
            "summary_reports",
            "reports of the device in one year by openFDA's summary_report_flag (Y: a Voluntary Malfunction Summary "
            "Report, one report that stands for many events); reports without the flag have no row",
            ("scope", "product_code", "period", "summary_report_flag"),
            {
                "scope": _in(SCOPES),
                "product_code": _s(),
                "period": _s(False, pa.Check.str_matches(r"^(all|\d{4})$")),
                "summary_report_flag": _in(SUMMARY_REPORT_FLAGS),
                "n_reports": _count(),
            },
        ),
    )
}

TABLE_NAMES: tuple[str, ...] = tuple(TABLES)  # the device tables

from .drug_schemas import DRUG_TABLES  # noqa: E402  (the drug tables use the helpers above)

TABLES.update(DRUG_TABLES)


def table_spec(name: str) -> TableSpec:
    try:
        return TABLES[name]
    except KeyError:
        raise KeyError(f"unknown table {name!r}; tables are {', '.join(TABLES)}") from None


def empty_table(name: str) -> pd.DataFrame:
    """A table with no rows and the right columns and dtypes."""
    spec = table_spec(name)
    return pd.DataFrame({col: pd.Series([], dtype=dtype) for col, dtype in spec.dtypes.items()})


def _shown(value: object) -> str:
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return "<NA>"
    text = repr(value) if isinstance(value, str) else str(value)
    return text if len(text) <= 60 else text[:57] + "..."


def describe_failures(failure_cases: pd.DataFrame, examples: int = 3) -> list[str]:
    """One line per (column, check): how many values failed and the first few of them."""
    problems = []
    cases = failure_cases.copy()
    cases["column"] = cases["column"].astype(object).where(cases["column"].notna(), None)
    for (column, check), group in cases.groupby(["column", "check"], dropna=False, sort=False):
        values = list(dict.fromkeys(_shown(v) for v in group["failure_case"]))
        where = f"column {column!r}" if column is not None and not pd.isna(column) else "table"
        if str(check).startswith("dtype("):
            problems.append(f"{where}: expected dtype {str(check)[6:-1]}, found {', '.join(values)}")
        elif check == "column_in_dataframe":
            problems.append(f"missing column(s): {', '.join(values)}")
        elif check == "column_in_schema":
            problems.append(f"unexpected column(s): {', '.join(values)}")
        elif check in ("multiple_fields_uniqueness", "field_uniqueness"):
            problems.append(f"{where}: duplicate key value(s) in {len(group)} row(s), e.g. {', '.join(values[:examples])}")
        elif check == "column_ordered":
            problems.append(f"columns out of order at {', '.join(values)}")
        else:
            rows = len(group)
            problems.append(f"{where}, check {check}: {rows} value(s), e.g. {', '.join(values[:examples])}")
    return problems


def dtype_problems(name: str, frame: pd.DataFrame) -> list[str]:
    """Columns whose dtype is not the table's (missing and extra columns are left to the schema)."""
    expected = table_spec(name).dtypes
    return [
        f"column {column!r}: expected dtype {dtype}, found {frame[column].dtype}"
        for column, dtype in expected.items()
        if column in frame.columns and not dtype_matches(frame[column].dtype, dtype)
    ]


def validate_table(name: str, frame: pd.DataFrame) -> pd.DataFrame:
    """Check ``frame`` against the schema of table ``name``; return it unchanged or raise `TableSchemaError`."""
    spec = table_spec(name)
    if not isinstance(frame, pd.DataFrame):
        raise TableSchemaError(name, [f"expected a pandas DataFrame, got {type(frame).__name__}"])
    problems = dtype_problems(name, frame)
    try:
        spec.schema.validate(frame, lazy=True)
    except SchemaErrors as exc:
        problems += describe_failures(exc.failure_cases)
    except SchemaError as exc:  # raised eagerly by some checks even in lazy mode
        problems.append(str(exc).splitlines()[0])
    if problems:
        raise TableSchemaError(name, problems)
    return frame
