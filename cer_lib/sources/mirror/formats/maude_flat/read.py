"""Reading one MAUDE flat file: rows repaired, cleaned and counted, or the file refused.

The MAUDE download files are ``|``-delimited text without quoting (a ``"`` is a literal character,
as in FDA's own pipeline, which reads them with ``QUOTE_NONE``). They are known to be damaged in
two ways, both repaired here and counted in a `FlatReadReport`:

- **raw newlines inside a field** split one record over several physical lines. A line that does
  not start a record (it does not begin with a numeric ``MDR_REPORT_KEY`` and a ``|``) continues the
  record before it; so does a line after a record that is still short of a known width when the
  join does not make it too wide. The pieces are joined with one space, as FDA's pipeline does.
- **stray ``|`` inside the last, free-text field** (``foitext``) gives more fields than the layout;
  the extra fields are joined back into the text with ``|`` (a single trailing ``|`` is dropped,
  as FDA's pipeline does).

Any other row whose width is not a width of its layout is rejected, with its line number and the
reason. A file that cannot be read as MAUDE at all is refused with `MirrorError` on its first
line: not ``|``-delimited (a file re-saved with commas or tabs), or a header row without the
layout's required columns. The encoding is detected (`textfiles.decode_text`: a byte-order mark,
UTF-16 without one, UTF-8, else Latin-1, the encoding FDA publishes); the report says which.
``.zip`` downloads are read directly.
"""
from __future__ import annotations

import csv
import io
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .....errors import MirrorError
from ...load_report import MAX_LISTED
from ...textfiles import read_text_file, require_delimiter
from .layouts import COLUMN_ALIASES, LAYOUTS, FlatLayout, layout_for
from .values import clean_row

__all__ = ["LineIssue", "FlatReadReport", "FlatTable", "read_flat_file"]


@dataclass(frozen=True)
class LineIssue:
    """A physical line (1-based) and what happened to it."""

    line: int
    reason: str


@dataclass
class FlatReadReport:
    """What reading one flat file did: rows kept, repairs by kind, rejections with line numbers."""

    path: str
    layout: str
    encoding: str = "utf-8"
    header: bool = False
    physical_lines: int = 0
    rows: int = 0  # records kept
    newline_repairs: int = 0  # records rebuilt from several physical lines
    lines_joined: int = 0  # physical lines appended to the record before them
    pipe_repairs: int = 0  # records whose extra '|' fields were joined back into the free text
    legacy_width_rows: int = 0  # rows in an older, shorter layout (accepted as such)
    blank_lines: int = 0
    repeated_headers: int = 0  # header rows in the middle of the file (concatenated files)
    dates_unparsed: int = 0  # date values in no known format (dropped, as FDA's pipeline does)
    rejected: list[LineIssue] = field(default_factory=list)  # the first MAX_LISTED rejections
    rejected_count: int = 0
    repaired_lines: list[LineIssue] = field(default_factory=list)  # the first MAX_LISTED repairs

    @property
    def rows_repaired(self) -> int:
        return self.newline_repairs + self.pipe_repairs

    def reject(self, line: int, reason: str) -> None:
        self.rejected_count += 1
        if len(self.rejected) < MAX_LISTED:
            self.rejected.append(LineIssue(line, reason))

    def repaired(self, line: int, reason: str) -> None:
        if len(self.repaired_lines) < MAX_LISTED:
            self.repaired_lines.append(LineIssue(line, reason))

    def rejected_reasons(self) -> dict[str, int]:
        """Rejections grouped by reason (line numbers dropped)."""
        return dict(Counter(issue.reason for issue in self.rejected))


@dataclass
class FlatTable:
    """The rows of one flat file, cleaned, as dicts keyed by openFDA field names."""

    layout: FlatLayout
    columns: tuple[str, ...]
    rows: list[dict[str, Any]]
    report: FlatReadReport


def _physical_lines(text: str) -> list[str]:
    """Lines split on ``\\n`` only (a Latin-1 ``\\x85`` is a character, not a line break)."""
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return [line[:-1] if line.endswith("\r") else line for line in lines]


_RECORD_START = re.compile(r"^ ?\d{2,}(?:\.\d+)?\|")
_HEADER_FIRST = re.compile(r"^\ufeff?\s*\"?(MDR_REPORT_KEY|mdr_report_key)\"?\s*$")


def _normalise_header(fields: list[str]) -> tuple[str, ...]:
    names = []
    for name in fields:
        key = name.strip().strip('"').lower().replace(" ", "_")
        key = COLUMN_ALIASES.get(key, key)
        key = re.sub(r"_{2,}", "_", key)
        names.append(key)
    return tuple(names)


def read_flat_file(path: Path, layout: FlatLayout | str | None = None) -> FlatTable:
    """Read one MAUDE ``|`` file (or ``.zip``): rows repaired, cleaned and counted.

    ``layout`` defaults to the one the file name implies (`layout_for`). `MirrorError` when the
    file is not ``|``-delimited or its header lacks a required column (see the module docstring).
    """
    path = Path(path)
    if isinstance(layout, str):
        layout = LAYOUTS[layout]
    layout = layout or layout_for(path)
    if layout is None:
        raise MirrorError(
            f"{path}: not a MAUDE flat file name I know; expected one of mdrfoi*, foidev*, device*, foitext*, "
            "patient*, foidevproblem*, patientproblemcode*, deviceproblemcodes*, patientproblemdata*"
        )
    decoded = read_text_file(path, legacy="latin-1")
    lines = _physical_lines(decoded.text)
    report = FlatReadReport(path=str(path), layout=layout.name, encoding=decoded.encoding, physical_lines=len(lines))
    if layout.code_list:
        return _read_code_list(lines, layout, report)

    columns = layout.columns
    start = 0
    first = next((i for i, line in enumerate(lines) if line.strip()), None)
    if first is not None:
        require_delimiter(lines[first], "|", path=path, lineno=first + 1,
                          expected=f"MAUDE {layout.name} files are '|'-delimited ({len(columns)} columns)")
    if lines and _HEADER_FIRST.match(lines[0].split("|", 1)[0]):
        columns = _normalise_header(lines[0].split("|"))
        missing = [name for name in layout.required if name not in columns]
        if missing:
            raise MirrorError(
                f"{path}: line 1: the header has no {', '.join(c.upper() for c in missing)} column; a MAUDE "
                f"{layout.name} file needs {', '.join(c.upper() for c in layout.required)} (columns found: "
                f"{', '.join(c.upper() for c in columns if c)})"
            )
        report.header = True
        start = 1
    width = len(columns)
    accepted = {width} | {w for w in layout.legacy_widths if w < width}
    rows: list[dict[str, Any]] = []

    def finish(fields: list[str], first_line: int, joined: int) -> None:
        n = len(fields)
        if n > width:
            if layout.free_text_last:
                text_value = "|".join(fields[width - 1 :])
                if text_value.endswith("|"):
                    text_value = text_value[:-1]
                fields = fields[: width - 1] + [text_value]
                report.pipe_repairs += 1
                report.repaired(first_line, f"{n} fields: {n - width} '|' inside the free text re-joined")
            elif not any(f.strip() for f in fields[width:]):
                fields = fields[:width]  # trailing empty fields after a final '|'
            else:
                report.reject(first_line, f"{n} fields, expected {width}; only a free-text last column can absorb '|'")
                return
        elif n not in accepted:
            report.reject(first_line, f"{n} fields, expected {width}" + (
                f" (or {', '.join(map(str, sorted(accepted - {width})))})" if len(accepted) > 1 else ""
            ) + "; the next line does not continue it")
            return
        elif n != width:
            report.legacy_width_rows += 1
        if joined:
            report.newline_repairs += 1
            report.lines_joined += joined
            report.repaired(first_line, f"raw newline: {joined + 1} physical lines joined into one record")
        row, unparsed = clean_row(dict(zip(columns, fields)))
        report.dates_unparsed += unparsed
        rows.append(row)

    pending: list[str] | None = None
    pending_line = 0
    pending_joined = 0
    blanks = 0  # blank lines since the last non-blank one: inside a field if a continuation follows
    for index in range(start, len(lines)):
        lineno = index + 1
        line = lines[index]
        if not line.strip():
            blanks += 1
            continue
        if index > 0 and _HEADER_FIRST.match(line.split("|", 1)[0]):
            if pending is not None:
                finish(pending, pending_line, pending_joined)
                pending = None
            report.repeated_headers += 1
            report.blank_lines += blanks
            blanks = 0
            continue
        fields = line.split("|")
        if pending is not None:
            continues = not _RECORD_START.match(line)
            if not continues and len(pending) < width and len(pending) not in accepted:
                continues = len(pending) + len(fields) - 1 <= width
            if continues:
                pending[-1] = pending[-1].rstrip() + " " + fields[0].lstrip()
                pending.extend(fields[1:])
                pending_joined += 1 + blanks
                blanks = 0
                continue
            finish(pending, pending_line, pending_joined)
        report.blank_lines += blanks
        blanks = 0
        pending, pending_line, pending_joined = fields, lineno, 0
    report.blank_lines += blanks
    if pending is not None:
        finish(pending, pending_line, pending_joined)
    report.rows = len(rows)
    return FlatTable(layout=layout, columns=columns, rows=rows, report=report)


def _read_code_list(lines: list[str], layout: FlatLayout, report: FlatReadReport) -> FlatTable:
    """``code -> term`` lists: comma CSV with quotes (FDA's ``*.csv``) or ``|``-delimited."""
    if not lines:
        return FlatTable(layout, layout.columns, [], report)
    delimiter = "|" if "|" in lines[0] else ","
    reader = csv.reader(io.StringIO("\n".join(lines)), delimiter=delimiter, quoting=csv.QUOTE_NONE if delimiter == "|" else csv.QUOTE_MINIMAL)
    rows: list[dict[str, Any]] = []
    term_column = 1
    for number, record in enumerate(reader, 1):
        lineno = reader.line_num
        if not record or not any(v.strip() for v in record):
            report.blank_lines += 1
            continue
        code = record[0].strip().strip('"')
        if number == 1 and not re.fullmatch(r"\d+(\.0)?", code):
            report.header = True
            names = [n.strip().lower() for n in record]
            for i, name in enumerate(names[1:], 1):
                if any(word in name for word in ("text", "term", "desc", "problem")) and "code" not in name:
                    term_column = i
                    break
            continue
        if not re.fullmatch(r"\d+(\.0)?", code) or len(record) <= term_column:
            report.reject(lineno, f"not a 'code{delimiter}term' row")
            continue
        rows.append({"code": code.removesuffix(".0"), "term": record[term_column].strip()})
    report.rows = len(rows)
    return FlatTable(layout, layout.columns, rows, report)
