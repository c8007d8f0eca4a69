"""FDA's MAUDE flat files: their layouts (`layouts`), reading one file with its repairs (`read`),
cleaning values as FDA's pipeline does (`values`), joining them into openFDA-shaped device event
records (`join`), and the mirror file format that reads a ``maude/`` folder (`format`)."""
from __future__ import annotations

from .format import MaudeFlatFormat
from .join import MaudeJoin, join_maude
from .layouts import LAYOUTS, FlatLayout, layout_for, maude_files
from .read import FlatReadReport, FlatTable, read_flat_file
from .values import ENUMS, OUTCOME_LABELS, decode_outcome, outcome_code, split_concatenated

__all__ = [
    "MaudeFlatFormat", "LAYOUTS", "FlatLayout", "FlatReadReport", "FlatTable", "MaudeJoin", "ENUMS", "OUTCOME_LABELS",
    "layout_for", "read_flat_file", "maude_files", "join_maude", "outcome_code", "decode_outcome",
    "split_concatenated",
]
