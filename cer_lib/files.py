"""Writing files atomically, one way everywhere.

Writes are atomic: the text goes to a temporary file in the same folder, which is then renamed over
the target, so a reader (or a crash) never sees half a file.
"""
from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any


def write_bytes_atomic(path: Path, write: Callable[[Path], None]) -> None:
    """Let ``write(tmp)`` write a temporary file next to ``path``, then rename it over ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        write(Path(tmp))
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_text_atomic(path: Path, text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` through a temporary file and a rename."""
    write_bytes_atomic(path, lambda tmp: tmp.write_text(text, encoding="utf-8", newline=""))


def write_json_atomic(path: Path, data: Any, *, allow_nan: bool = True) -> None:
    """``data`` as indented JSON (non-ASCII kept, unknown types as text), written atomically."""
    write_text_atomic(path, json.dumps(data, indent=2, ensure_ascii=False, allow_nan=allow_nan, default=str) + "\n")
