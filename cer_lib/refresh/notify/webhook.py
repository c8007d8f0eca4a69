"""Webhook notifications: an HTTP POST of JSON, signed with HMAC-SHA256 so the receiver can verify it.

The request carries

    X-CER-Timestamp: 1767225600                     (Unix seconds when it was signed)
    X-CER-Signature: sha256=<hex>                   (HMAC-SHA256 under CER_WEBHOOK_SECRET)

where the signed message is ``<timestamp>.<body bytes>``. A receiver verifies it with `verify_signature`
(or the same three lines in any language): recompute the HMAC over the timestamp, a dot and the raw
body, compare in constant time, and refuse timestamps older than a few minutes (a replayed request).
Without ``CER_WEBHOOK_SECRET`` a webhook is not sent (the delivery fails, logged): unsigned
notifications are never posted.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import time

import httpx

from ..schedules import Subscription
from .base import Notification
from .settings import NotifySettings

__all__ = ["SIGNATURE_HEADER", "TIMESTAMP_HEADER", "WebhookNotifier", "sign", "verify_signature"]

SIGNATURE_HEADER = "X-CER-Signature"
TIMESTAMP_HEADER = "X-CER-Timestamp"
MAX_AGE_SECONDS = 300


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """``sha256=<hex>``: HMAC-SHA256 of ``<timestamp>.<body>`` under ``secret``."""
    digest = hmac.new(secret.encode("utf-8"), timestamp.encode("ascii") + b"." + body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def verify_signature(secret: str, body: bytes, signature: str | None, timestamp: str | None, *,
                     now: float | None = None, max_age: float = MAX_AGE_SECONDS) -> bool:
    """Whether a received webhook is genuine: the signature matches and the timestamp is recent."""
    if not signature or not timestamp or not timestamp.isdigit():
        return False
    if abs((now if now is not None else time.time()) - int(timestamp)) > max_age:
        return False
    return hmac.compare_digest(sign(secret, timestamp, body), signature)


class WebhookNotifier:
    """POSTs the notification's JSON to the subscription's URL; any answer but 2xx is a failure."""

    def __init__(self, settings: NotifySettings) -> None:
        self.settings = settings

    def send(self, notification: Notification, subscription: Subscription) -> None:
        if self.settings.webhook_secret is None:
            raise RuntimeError("no webhook signing secret configured (CER_WEBHOOK_SECRET): not sending unsigned")
        assert subscription.webhook is not None
        body = json.dumps(notification.payload(), sort_keys=True, ensure_ascii=False).encode("utf-8")
        timestamp = str(int(time.time()))
        headers = {"Content-Type": "application/json", TIMESTAMP_HEADER: timestamp,
                   SIGNATURE_HEADER: sign(self.settings.webhook_secret.get_secret_value(), timestamp, body)}
        answer = httpx.post(subscription.webhook, content=body, headers=headers, timeout=self.settings.webhook_timeout)
        answer.raise_for_status()
