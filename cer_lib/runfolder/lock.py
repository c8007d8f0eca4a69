"""Who is still running a run: an exclusive ``flock`` on its in-progress folder.

The process that starts a run (`CodeFolder.start_run`) locks the ``.tmp-<id>/`` folder and keeps the
lock until it finishes or fails the run. The kernel drops the lock when that process ends in any way,
``kill -9`` included, so an in-progress folder nobody holds was left by a run that died: `cer doctor`
reports it and `cer clean-runs` retires it. A folder younger than `ABANDONED_AFTER_SECONDS` is never
called abandoned (a run takes its lock just after creating its folder).
"""
from __future__ import annotations

import fcntl
import os
import time
from pathlib import Path

__all__ = ["ABANDONED_AFTER_SECONDS", "RunLock", "is_abandoned"]

ABANDONED_AFTER_SECONDS = 60


class RunLock:
    """An exclusive lock on a run folder, held until `release` (or the process ends)."""

    def __init__(self, folder: Path) -> None:
        self._fd: int | None = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(self._fd)
            raise

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing drops the lock
            self._fd = None


def is_abandoned(folder: Path, now: float | None = None) -> bool:
    """True when no process holds ``folder``'s lock and it is older than `ABANDONED_AFTER_SECONDS`."""
    try:
        if (now or time.time()) - folder.stat().st_mtime < ABANDONED_AFTER_SECONDS:
            return False
        lock = RunLock(folder)
    except BlockingIOError:
        return False  # a live process holds it
    except FileNotFoundError:
        return False  # finished or failed meanwhile
    lock.release()
    return True
