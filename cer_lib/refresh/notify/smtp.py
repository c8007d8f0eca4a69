"""E-mail notifications over SMTP (the standard library's `smtplib`), one message per recipient."""
from __future__ import annotations

import smtplib
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

from ..schedules import Subscription
from .base import Notification
from .settings import NotifySettings

__all__ = ["SmtpNotifier"]


class SmtpNotifier:
    """Sends a plain-text e-mail through ``CER_SMTP_HOST`` (STARTTLS and login when configured)."""

    def __init__(self, settings: NotifySettings) -> None:
        self.settings = settings

    def message(self, notification: Notification, to: str) -> EmailMessage:
        message = EmailMessage()
        message["From"] = self.settings.smtp_from
        message["To"] = to
        message["Subject"] = notification.subject
        message["Date"] = formatdate(usegmt=True)
        message["Message-ID"] = make_msgid(domain="cer-notebooks")
        message.set_content(notification.text())
        return message

    def send(self, notification: Notification, subscription: Subscription) -> None:
        s = self.settings
        if not s.smtp_host:
            raise RuntimeError("no SMTP server configured (CER_SMTP_HOST)")
        assert subscription.email is not None
        with smtplib.SMTP(s.smtp_host, s.smtp_port, timeout=s.smtp_timeout) as smtp:
            if s.smtp_starttls:
                smtp.starttls()
            if s.smtp_user and s.smtp_password is not None:
                smtp.login(s.smtp_user, s.smtp_password.get_secret_value())
            smtp.send_message(self.message(notification, subscription.email))
