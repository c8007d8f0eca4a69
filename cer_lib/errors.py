"""Every error the tool raises on purpose.

Each carries a message written for the person at the terminal: what went wrong and what to do.
The command line prints the message (no traceback) and exits non-zero.
"""
from __future__ import annotations

import errno
from typing import Any

EXCERPT_CHARS = 60


def shorten(text: str, limit: int = EXCERPT_CHARS) -> str:
    """``text`` cut to ``limit`` characters, with the full length said: how a message quotes input."""
    return text if len(text) <= limit else f"{text[:limit]}… ({len(text):,} characters)"


def excerpt(value: Any, limit: int = EXCERPT_CHARS) -> str:
    """``repr(value)``, shortened (`shorten`)."""
    return shorten(repr(value), limit)


class CerError(Exception):
    """Base class: a problem the user can act on."""


class ParameterError(CerError):
    """Parameters (files, command line) are invalid."""


class CodeError(ParameterError):
    """The code to report on is malformed, unsafe or unknown."""


class SourceError(CerError):
    """A data source failed (HTTP error, unreachable, malformed response)."""


class SourceUnavailable(SourceError):
    """A source could not be reached at all (offline, DNS, refused)."""


class RateLimited(SourceError):
    """openFDA kept answering 429 after the allowed retries."""


class MirrorError(CerError):
    """The local mirror is missing or holds malformed files."""


class NoProfile(CerError):
    """No profile reports on this kind of code yet (`cer_lib.profiles`)."""


class RunFileError(CerError):
    """A file of a run folder is missing or is not what the project writes."""


class RunFileMissing(RunFileError):
    """A run folder lacks a file a stage needs; the message names the stage that writes it."""


class RunFileInvalid(RunFileError):
    """A run folder file is malformed, or a name leads outside the run folder."""


class TablesNotFound(RunFileMissing):
    """The run folder has no (complete) integrated tables."""


class TableSchemaError(CerError):
    """A tidy table does not match its schema (wrong columns, types, values or duplicate keys)."""

    def __init__(self, table: str, problems: list[str]) -> None:
        self.table = table
        self.problems = problems
        listed = "\n".join(f"  - {p}" for p in problems)
        super().__init__(f"table {table!r} failed its schema check ({len(problems)} problem(s)):\n{listed}")


class NarrativeError(CerError):
    """A narrative template broke a rule (printed a raw number, used forbidden wording, ...)."""


class ReportError(CerError):
    """The report could not be assembled (missing notebook, unsafe content, renderer failure)."""


class StageFailed(CerError):
    """A stage notebook raised; names the stage, the cell (counted from 1, as in the executed
    notebook, which includes papermill's injected-parameters cell), and the error."""

    def __init__(self, stage: str, cell: int | None, error: str, notebook: str, source: str = "") -> None:
        self.stage, self.cell, self.error, self.notebook, self.source = stage, cell, error, notebook, source
        where = f"cell {cell}" if cell is not None else "an unknown cell"
        first_line = source.strip().splitlines()[0] if source.strip() else ""
        if first_line:
            where += f" ({first_line[:60]}{'…' if len(first_line) > 60 else ''})"
        super().__init__(f"stage {stage} failed in {where}: {error}\n  executed notebook kept at {notebook}")


class VerifyError(CerError):
    """A run folder does not match its manifest."""


class RunInterrupted(CerError):
    """A run stopped by Ctrl-C (SIGINT) or SIGTERM; its folder was kept as failed. ``exit_status`` is the
    shell's convention for the signal (130, 143)."""

    def __init__(self, message: str, exit_status: int) -> None:
        super().__init__(message)
        self.exit_status = exit_status


class DiskFull(CerError):
    """A file could not be written because its disk (or the user's quota) is full."""


DISK_FULL_ERRNOS = (errno.ENOSPC, errno.EDQUOT)


def disk_full(exc: BaseException, doing: str) -> DiskFull | None:
    """A `DiskFull` saying what was being done when ``exc`` is a full disk (or quota), else None."""
    if not isinstance(exc, OSError) or exc.errno not in DISK_FULL_ERRNOS:
        return None
    where = f" ({exc.filename})" if exc.filename else ""
    return DiskFull(f"the disk is full{where}: {exc.strerror or 'no space left on device'} while {doing}. "
                    f"Free some space (or point CER_OUTPUTS_DIR / CER_CACHE_DIR elsewhere) and run again.")
