"""Notification settings: the SMTP server, the webhook signing secret, retries, the public address.

Read from ``CER_*`` environment variables by every process that refreshes (``cer refresh``, the
workers, ``cer beat``). Secrets (``CER_SMTP_PASSWORD``, ``CER_WEBHOOK_SECRET``) are held as secrets,
never printed, logged or written into a run.
"""
from __future__ import annotations

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["NotifySettings"]


class NotifySettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CER_", extra="ignore", frozen=True)

    smtp_host: str | None = Field(None, description="SMTP server; e-mail subscriptions fail (logged) without it")
    smtp_port: int = Field(25, ge=1, le=65535)
    smtp_starttls: bool = Field(False, description="upgrade the connection with STARTTLS before logging in")
    smtp_user: str | None = None
    smtp_password: SecretStr | None = None
    smtp_from: str = Field("cer-notebooks@localhost", description="the From: address of notification e-mails")
    smtp_timeout: float = Field(20.0, gt=0, le=300)
    webhook_secret: SecretStr | None = Field(None, description="HMAC-SHA256 key of the X-CER-Signature header")
    webhook_timeout: float = Field(10.0, gt=0, le=300)
    notify_retries: int = Field(3, ge=0, le=10, description="re-tries of a failed delivery")
    notify_backoff: float = Field(2.0, ge=0, le=600, description="first retry delay (s), doubling each time")
    public_url: str = Field("http://127.0.0.1:8000", description="the API's address as recipients reach it (links)")
