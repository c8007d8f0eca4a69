"""Notifications of a refreshed report: the `Notifier` protocol, SMTP e-mail and signed webhooks."""
from .base import Delivery, Notification, Notifier, deliver
from .settings import NotifySettings
from .smtp import SmtpNotifier
from .webhook import WebhookNotifier, sign, verify_signature


def default_notifiers(settings: NotifySettings) -> dict[str, Notifier]:
    """One notifier per channel a subscription can name."""
    return {"email": SmtpNotifier(settings), "webhook": WebhookNotifier(settings)}


__all__ = ["Delivery", "Notification", "Notifier", "NotifySettings", "SmtpNotifier", "WebhookNotifier",
           "default_notifiers", "deliver", "sign", "verify_signature"]
