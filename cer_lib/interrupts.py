"""SIGTERM handled like Ctrl-C.

A run stopped by ``kill`` (a scheduler's timeout, a container stopping, a service manager) must end as
one stopped with Ctrl-C does: the in-progress folder kept as ``.failed-<id>/`` and a message saying
so, not a half-written ``.tmp-<id>/``. `handle_sigterm` makes SIGTERM raise `Terminated`, a
`KeyboardInterrupt`, wherever the main thread is, so every ``except``/``finally`` that cleans up after
Ctrl-C cleans up after SIGTERM too.
"""
from __future__ import annotations

import signal
from types import FrameType

__all__ = ["Terminated", "handle_sigterm", "interruption"]


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised where Ctrl-C's `KeyboardInterrupt` would be."""


def _raise_terminated(signum: int, frame: FrameType | None) -> None:
    raise Terminated()


def handle_sigterm() -> None:
    """Make SIGTERM raise `Terminated` in the main thread (call it from the command line's entry point)."""
    signal.signal(signal.SIGTERM, _raise_terminated)


def interruption(exc: KeyboardInterrupt) -> tuple[str, int]:
    """``(how it was stopped, exit status)``: SIGTERM 143, Ctrl-C (SIGINT) 130, as shells report them."""
    return ("terminated (SIGTERM)", 143) if isinstance(exc, Terminated) else ("interrupted (Ctrl-C, SIGINT)", 130)
