"""Atomic writes of the run folder's small files."""
from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from cer_lib.files import write_json_atomic, write_text_atomic


def test_a_write_replaces_the_file_whole_and_leaves_no_temporary(tmp_path: Path) -> None:
    target = tmp_path / "sub" / "status.json"
    write_json_atomic(target, {"b": "é", "a": 1})
    write_json_atomic(target, {"a": 2})
    assert json.loads(target.read_text()) == {"a": 2}
    assert [p.name for p in target.parent.iterdir()] == ["status.json"]
    assert oct(target.stat().st_mode & 0o777) == "0o644"


def test_a_failed_write_keeps_the_old_file_and_leaves_no_temporary(tmp_path: Path) -> None:
    target = tmp_path / "analysis.json"
    write_text_atomic(target, "old")
    with pytest.raises(ValueError):  # fails before writing: NaN is not JSON
        write_json_atomic(target, {"x": math.nan}, allow_nan=False)
    assert target.read_text() == "old"
    blocked = tmp_path / "blocked"
    blocked.mkdir()
    with pytest.raises(OSError):  # fails after writing: the rename cannot replace a folder
        write_text_atomic(blocked, "new")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["analysis.json", "blocked"]
