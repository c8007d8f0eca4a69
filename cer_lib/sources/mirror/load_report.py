"""What loading the mirror's files did, per file, and when a file cannot be used as read.

Every file a format reads gets a `FileLoadReport`: rows read, kept, repaired and rejected (each
rejection with its line and reason), duplicates collapsed. `refusal` applies the mirror's rule:

- a file that yields **no usable row** is refused (an empty main file, a file whose every row is
  rejected, a companion file none of whose rows joins a main record);
- a file that rejects **more than a share** of its rows is refused: `DEFAULT_MAX_REJECTED_SHARE`
  (1 %), or the mirror's ``max_rejected_share``, or the endpoint's own (0 for the classification
  file: reference data must be read whole). Rows that are only left unjoined (a MAUDE companion row
  whose report has no master row, as in FDA's pipeline) do not count against the share.

A refused file stops every query of the endpoint it feeds with a `MirrorError` naming the file,
the line and the reason; smaller rejections stay listed here, and `MirrorLoadReport.as_dict`
is what a run writes out.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

__all__ = ["DEFAULT_MAX_REJECTED_SHARE", "MAX_LISTED", "Rejection", "FileLoadReport", "MirrorLoadReport", "refusal"]

DEFAULT_MAX_REJECTED_SHARE = 0.01
MAX_LISTED = 1000  # rejections listed per file (all are counted)


@dataclass(frozen=True)
class Rejection:
    """Rows left out of a file: where (``line`` None when the format has no lines) and why."""

    line: int | None
    reason: str
    rows: int = 1  # > 1 groups rows without a line of their own

    def describe(self) -> str:
        where = f"line {self.line}" if self.line is not None else (f"{self.rows} rows" if self.rows > 1 else "a row")
        return f"{where}: {self.reason}"


@dataclass
class FileLoadReport:
    """What loading one mirror file did."""

    path: str  # relative to the mirror folder
    endpoint: str
    format: str  # the file format's registry name
    layout: str | None = None  # a format's sub-kind (the MAUDE file kind: mdrfoi, foidev, ...)
    status: str = "not loaded"  # loaded | not loaded | refused | ignored
    encoding: str | None = None
    rows_read: int = 0
    rows_kept: int = 0
    rows_repaired: int = 0
    rows_rejected: int = 0
    rows_unjoined: int = 0  # of the rejected: only unjoined (no master row), not held against the share
    rejected: list[Rejection] = field(default_factory=list)  # the first MAX_LISTED
    repairs: dict[str, int] = field(default_factory=dict)  # kind of repair -> rows
    duplicates_collapsed: int = 0  # records of this file dropped as duplicates of a fuller source
    duplicates_differing: int = 0  # ... of which differ in content from the record kept
    from_cache: bool = False
    seconds: float = 0.0
    last_updated: str | None = None
    note: str | None = None
    refused: str | None = None  # why the file cannot be used (status "refused")

    def reject(self, line: int | None, reason: str, rows: int = 1) -> None:
        """Count ``rows`` rejected rows (listing the first `MAX_LISTED`)."""
        self.rows_rejected += rows
        if len(self.rejected) < MAX_LISTED:
            self.rejected.append(Rejection(line, reason, rows))

    def rejected_reasons(self) -> dict[str, int]:
        """Rejected rows per reason (of the listed rejections)."""
        counts: dict[str, int] = {}
        for item in self.rejected:
            counts[item.reason] = counts.get(item.reason, 0) + item.rows
        return counts

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "FileLoadReport":
        return cls(**{**data, "rejected": [Rejection(**r) for r in data.get("rejected", [])]})


@dataclass
class MirrorLoadReport:
    """`Mirror.load_report`: one `FileLoadReport` per file (loaded, refused, not loaded yet, or ignored)."""

    folder: str
    synthetic: bool
    max_rejected_share: float
    files: list[FileLoadReport]

    @property
    def duplicates_collapsed(self) -> int:
        return sum(f.duplicates_collapsed for f in self.files)

    @property
    def rows_rejected(self) -> int:
        return sum(f.rows_rejected for f in self.files)

    @property
    def rows_repaired(self) -> int:
        return sum(f.rows_repaired for f in self.files)

    @property
    def refused(self) -> list[FileLoadReport]:
        return [f for f in self.files if f.status == "refused"]

    def file(self, path: str) -> FileLoadReport:
        for item in self.files:
            if item.path == path:
                return item
        raise KeyError(path)

    @property
    def with_rejections(self) -> list[FileLoadReport]:
        """The files that lost rows or were refused: what a run's report and manifest list."""
        return [f for f in self.files if f.rows_rejected or f.status == "refused"]

    def summary(self) -> dict[str, Any]:
        """Counts and, per file that lost rows, what it lost (the manifest's ``data.mirror_load``)."""
        return {
            "rows_rejected": self.rows_rejected, "rows_repaired": self.rows_repaired,
            "duplicates_collapsed": self.duplicates_collapsed, "max_rejected_share": self.max_rejected_share,
            "refused": [f.path for f in self.refused],
            "files_with_rejections": [{"path": f.path, "status": f.status, "rows_read": f.rows_read,
                                       "rows_rejected": f.rows_rejected, "reasons": f.rejected_reasons()}
                                      for f in self.with_rejections],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "MirrorLoadReport":
        """Read back what `as_dict` wrote (its derived counts are recomputed, not trusted)."""
        return cls(folder=data["folder"], synthetic=bool(data.get("synthetic")),
                   max_rejected_share=float(data["max_rejected_share"]),
                   files=[FileLoadReport.from_dict(f) for f in data.get("files", [])])

    def as_dict(self) -> dict[str, Any]:
        return {
            "folder": self.folder,
            "synthetic": self.synthetic,
            "max_rejected_share": self.max_rejected_share,
            "rows_rejected": self.rows_rejected,
            "rows_repaired": self.rows_repaired,
            "duplicates_collapsed": self.duplicates_collapsed,
            "refused": [f.path for f in self.refused],
            "files": [f.as_dict() for f in self.files],
        }


def refusal(report: FileLoadReport, max_share: float) -> str | None:
    """Why a loaded file cannot be used as read (naming the line and the reason), or None."""
    first = f"; {report.rejected[0].describe()}" if report.rejected else ""
    if report.rows_kept == 0:
        if report.rows_read == 0:
            return "line 1: no data row (the file is empty or holds only its header; remove it if nothing is meant to be there)"
        return f"no usable row: all {report.rows_read:,} rows rejected{first}"
    counted = report.rows_rejected - report.rows_unjoined
    if report.rows_read and counted / report.rows_read > max_share:
        limit = "every row of reference data must be read" if max_share == 0 else f"more than the {max_share * 100:g} % a file may lose"
        return f"{counted:,} of {report.rows_read:,} rows rejected ({counted / report.rows_read:.1%}; {limit}){first}"
    return None
