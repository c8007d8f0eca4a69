"""``parameters/schedules.yaml``: which codes are refreshed when, with which options, and who hears of it.

::

    schedules:
      - code: HWC                    # as for `cer report`; kind optional (guessed from the code)
        cron: "0 6 * * 1"            # minute hour day-of-month month day-of-week, UTC (Celery crontab)
        from: mirror                 # api (default) or mirror
        mirror: demo                 # a mirror by name (CER_MIRRORS; demo is the bundled one)
        notify:                      # subscriptions: who is told, and of which kinds of change
          - email: safety@example.org
            kinds: [new_signal, trend_verdict, new_recall]
          - webhook: https://hooks.example.org/cer
      - code: LXH
        every: 3600                  # instead of cron: every N seconds (at least 5)

The file is read strictly, like the other parameters files: unknown fields, a cron expression Celery
cannot parse, an unknown change kind, a mirror given as a path, or one code listed twice are refused
with the field named. `kinds` defaults to every kind (`cer_lib.refresh.changes.CHANGE_KINDS`). The
same model checks ``PUT /v1/schedules``, which writes the file atomically.
"""
from __future__ import annotations

import datetime as dt
import os
import re
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from ..errors import ParameterError
from ..files import write_text_atomic
from ..params import PARAMETERS_DIR, describe_validation_error, read_yaml_mapping
from .changes import CHANGE_KINDS

__all__ = ["RefreshTarget", "Schedule", "Schedules", "Subscription", "load_schedules", "save_schedules", "schedules_file", "SCHEDULES_FILE"]

SCHEDULES_FILE = PARAMETERS_DIR / "schedules.yaml"
SCHEDULES_FILE_VARIABLE = "CER_SCHEDULES_FILE"
MIRROR_NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,39}")
EMAIL = re.compile(r"[^@\s,;<>]+@[^@\s,;<>]+\.[^@\s,;<>]+")
MIN_EVERY_SECONDS = 5


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class Subscription(_Strict):
    """One recipient: an e-mail address or a webhook URL, and the kinds of change it wants."""

    email: str | None = Field(None, max_length=254)
    webhook: str | None = Field(None, max_length=2000)
    kinds: tuple[str, ...] = CHANGE_KINDS

    @model_validator(mode="after")
    def _one_target(self) -> "Subscription":
        if (self.email is None) == (self.webhook is None):
            raise ValueError("give exactly one of email or webhook")
        if self.email is not None and not EMAIL.fullmatch(self.email):
            raise ValueError(f"{self.email[:60]!r} is not an e-mail address")
        if self.webhook is not None and not re.fullmatch(r"https?://[^\s]+", self.webhook):
            raise ValueError(f"{self.webhook[:60]!r} is not an http(s) URL")
        unknown = sorted(set(self.kinds) - set(CHANGE_KINDS))
        if unknown:
            raise ValueError(f"unknown change kind(s) {', '.join(unknown)}; kinds are {', '.join(CHANGE_KINDS)}")
        return self

    @property
    def target(self) -> str:
        return f"mailto:{self.email}" if self.email else str(self.webhook)

    def wants(self, kinds: list[str]) -> bool:
        """Whether any of the change kinds found is one this subscription asked for."""
        return any(kind in self.kinds for kind in kinds)


class RefreshTarget(_Strict):
    """What a refresh of one code needs: the code, where its data come from, and who is told."""

    code: str = Field(min_length=1, max_length=200)
    kind: str | None = None
    data_from: Literal["api", "mirror"] | None = Field(None, alias="from")
    mirror: str | None = None
    notify: tuple[Subscription, ...] = ()

    @field_validator("mirror")
    @classmethod
    def _mirror_name(cls, value: str | None) -> str | None:
        if value is not None and not MIRROR_NAME.fullmatch(value):
            raise ValueError(f"{value[:60]!r} is not a mirror name (a name from CER_MIRRORS, such as demo; never a path)")
        return value

    @model_validator(mode="after")
    def _mirror_needs_mirror(self) -> "RefreshTarget":
        if self.mirror is not None and self.data_from != "mirror":
            raise ValueError(f"{self.code}: mirror needs from: mirror")
        return self


class Schedule(RefreshTarget):
    """One scheduled code: a refresh target and when it is refreshed."""

    cron: str | None = None
    every: int | None = Field(None, ge=MIN_EVERY_SECONDS, le=366 * 86400)

    @field_validator("cron")
    @classmethod
    def _cron(cls, value: str | None) -> str | None:
        if value is not None:
            crontab_of(value)
        return value

    @model_validator(mode="after")
    def _when(self) -> "Schedule":
        if (self.cron is None) == (self.every is None):
            raise ValueError(f"{self.code}: give exactly one of cron or every")
        return self

    def celery_schedule(self) -> Any:
        """The Celery Beat schedule: a crontab (UTC), or a fixed interval."""
        if self.cron is not None:
            return crontab_of(self.cron)
        from celery.schedules import schedule

        return schedule(dt.timedelta(seconds=self.every or 0))

    def interval_seconds(self, now: dt.datetime) -> float:
        """Seconds between two refreshes: ``every``, or the gap between the crontab's next two times after ``now``."""
        if self.every is not None:
            return float(self.every)
        cron = crontab_of(self.cron or "")
        first = next_cron_time(cron, now)
        return (next_cron_time(cron, first) - first).total_seconds()


def next_cron_time(cron: Any, after: dt.datetime) -> dt.datetime:
    """The first time after ``after`` that the Celery crontab ``cron`` fires, as Celery Beat computes
    it (`crontab.remaining_estimate`, with Celery's clock set to ``after``)."""
    cron.nowfun = lambda: after
    return after + cron.remaining_estimate(after)


class Schedules(_Strict):
    """The whole file."""

    schedules: tuple[Schedule, ...] = ()

    @model_validator(mode="after")
    def _unique(self) -> "Schedules":
        seen: set[str] = set()
        for entry in self.schedules:
            key = entry.code.strip().upper()
            if key in seen:
                raise ValueError(f"code {entry.code} is scheduled twice: one entry per code")
            seen.add(key)
        return self

    def find(self, code: str) -> Schedule | None:
        """The entry of a code (case-insensitive), None when it is not scheduled."""
        key = code.strip().upper()
        return next((e for e in self.schedules if e.code.strip().upper() == key), None)

    def to_yaml_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json", by_alias=True, exclude_none=True, exclude_defaults=False)


def crontab_of(expression: str) -> Any:
    """A Celery crontab (UTC) from five fields ``minute hour day-of-month month day-of-week``."""
    from celery.schedules import crontab

    fields = expression.split()
    if len(fields) != 5:
        raise ValueError(f"cron {expression!r} needs five fields: minute hour day-of-month month day-of-week")
    minute, hour, day_of_month, month, day_of_week = fields
    try:
        return crontab(minute=minute, hour=hour, day_of_month=day_of_month, month_of_year=month, day_of_week=day_of_week)
    except Exception as exc:  # celery raises its own parse errors (and ValueError) for bad fields
        raise ValueError(f"cron {expression!r}: {exc}") from None


def parse_schedules(data: Any, where: str) -> Schedules:
    """Validate a mapping as a schedules file; `ParameterError` naming each field that does not fit."""
    try:
        return Schedules.model_validate(data if data is not None else {})
    except ValidationError as exc:
        raise ParameterError(describe_validation_error(exc, [where])) from None


def schedules_file() -> Path:
    """``CER_SCHEDULES_FILE``, else ``parameters/schedules.yaml``."""
    return Path(os.environ.get(SCHEDULES_FILE_VARIABLE) or SCHEDULES_FILE)


def load_schedules(path: Path | None = None) -> Schedules:
    """The schedules file (`schedules_file` unless given; none scheduled when it does not exist)."""
    path = path or schedules_file()
    if not path.is_file():
        return Schedules()
    return parse_schedules(read_yaml_mapping(path), str(path))


def save_schedules(schedules: Schedules, path: Path | None = None) -> None:
    """Write the schedules file atomically (a reader never sees half of it)."""
    path = path or schedules_file()
    header = "# Scheduled refreshes (cer beat, cer refresh). Format: cer_lib/refresh/schedules.py\n"
    write_text_atomic(path, header + yaml.safe_dump(schedules.to_yaml_dict(), sort_keys=False, allow_unicode=True))
