"""The notifier interface, the notification a refresh sends, and delivery that never blocks a report.

A `Notifier` delivers one `Notification` to one subscription target, or raises. `deliver` tries
each subscription that wants one of the kinds of change found, retrying a failure with exponential
backoff (``CER_NOTIFY_RETRIES`` times, from ``CER_NOTIFY_BACKOFF`` seconds), logs every failure, and
returns what happened to each: the report is already finished and kept whatever the outcome, and a
failed delivery is recorded in the code's refresh log (`cer_lib.refresh.refresh`).
"""
from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from ..schedules import Subscription
from .settings import NotifySettings

__all__ = ["Delivery", "Notification", "Notifier", "deliver"]

log = logging.getLogger("cer.refresh.notify")


@dataclass(frozen=True)
class Notification:
    """What changed in a new report of a code, and where to read it."""

    code: str
    folder: str  # the code's folder under outputs/ (its name in the API)
    run_id: str
    previous_run_id: str | None
    kinds: tuple[str, ...]
    summary: tuple[str, ...]
    links: dict[str, str]
    changes: dict[str, Any] = field(default_factory=dict)

    @property
    def subject(self) -> str:
        return f"[cer] {self.code}: new report {self.run_id} ({', '.join(self.kinds) or 'no change'})"

    def text(self) -> str:
        """The plain-text body of an e-mail."""
        lines = [f"A new report of {self.code} was built: run {self.run_id}"
                 + (f", compared with run {self.previous_run_id}." if self.previous_run_id else "."), "",
                 "What changed:", *(f"- {s}" for s in self.summary), ""]
        lines += [f"{name}: {url}" for name, url in self.links.items()]
        return "\n".join(lines) + "\n"

    def payload(self) -> dict[str, Any]:
        """The JSON body of a webhook."""
        return {"event": "cer.report.changed", "code": self.code, "folder": self.folder, "run_id": self.run_id,
                "previous_run_id": self.previous_run_id, "kinds": list(self.kinds), "summary": list(self.summary),
                "links": self.links, "changes": self.changes}


class Notifier(Protocol):
    """Delivers a notification to one target (an address, a URL); raises when it could not."""

    def send(self, notification: Notification, subscription: Subscription) -> None: ...


@dataclass(frozen=True)
class Delivery:
    target: str
    ok: bool
    attempts: int
    error: str | None = None


def deliver(notification: Notification, subscriptions: Sequence[Subscription], notifiers: dict[str, Notifier],
            settings: NotifySettings, *, sleep: Callable[[float], None] = time.sleep) -> list[Delivery]:
    """Send to every subscription that wants one of the notification's kinds; never raises."""
    done = []
    for subscription in subscriptions:
        if not subscription.wants(list(notification.kinds)):
            continue
        channel = "email" if subscription.email else "webhook"
        attempts, error = 0, None
        while attempts <= settings.notify_retries:
            attempts += 1
            try:
                notifiers[channel].send(notification, subscription)
                error = None
                break
            except Exception as exc:  # any failure of a channel is retried, logged and recorded
                error = f"{type(exc).__name__}: {exc}"[:300]
                log.warning("notifying %s of %s run %s failed (attempt %d of %d): %s", subscription.target,
                            notification.code, notification.run_id, attempts, settings.notify_retries + 1, error)
                if attempts <= settings.notify_retries:
                    sleep(settings.notify_backoff * 2 ** (attempts - 1))
        if error is None:
            log.info("notified %s of %s run %s", subscription.target, notification.code, notification.run_id)
        else:
            log.error("gave up notifying %s of %s run %s after %d attempts: %s", subscription.target,
                      notification.code, notification.run_id, attempts, error)
        done.append(Delivery(subscription.target, error is None, attempts, error))
    return done
