"""The service's settings: one pydantic-settings object read from ``CER_*`` environment variables.

Every process of the service (``cer serve``, ``cer worker``, ``cer token``) reads the same variables,
so one environment configures a machine or a cluster. The pipeline's own settings (outputs folder,
caches, the openFDA key, ``CER_REDIS_URL`` for the shared HTTP cache and pace) stay in
`cer_lib.settings.Settings`, reachable here as ``.core``.

Secrets (``CER_JWT_SECRET``, a password in ``CER_REDIS_URL``) are held as secrets and never printed.
Without ``CER_JWT_SECRET`` or ``CER_JWT_PUBLIC_KEY``, the signing secret is the file
``CER_JWT_SECRET_FILE`` (default ``.cache/service/jwt-secret``, under ``CER_CACHE_DIR``), created with mode 600 on first use, so
``make serve`` and ``cer token`` in another terminal agree without any setup on one machine.
"""
from __future__ import annotations

import os
import re
import secrets
from functools import cached_property
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from ..errors import CerError
from ..settings import Settings

ROLES = ("viewer", "author", "admin")
Role = Literal["viewer", "author", "admin"]
DEMO_MIRROR = "demo"
MIRROR_NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,39}")


class ServiceError(CerError):
    """The service is misconfigured (said at start, with the variable to fix)."""


class ServiceSettings(BaseSettings):
    """All settings of the report service (see the README, "Service", for each variable)."""

    model_config = SettingsConfigDict(env_prefix="CER_", extra="ignore", frozen=True)

    # where things are
    api_host: str = Field("127.0.0.1", description="address `cer serve` binds (0.0.0.0 in a container)")
    api_port: int = Field(8000, ge=1, le=65535)
    mirrors: Annotated[dict[str, Path], NoDecode] = Field(
        default_factory=dict,
        description="name=folder list (comma-separated) of mirrors clients may choose by name; "
        "'demo' (the bundled demo mirror) is always there unless given another folder")

    # authentication
    jwt_secret: SecretStr | None = Field(None, description="HS256 signing secret (at least 32 characters)")
    jwt_public_key: str | None = Field(None, description="RS256 public key: PEM text or a path to a PEM file")
    jwt_secret_file: Path | None = Field(None, description="HS256 secret kept here when neither of the above is set "
                                         "(default <CER_CACHE_DIR>/service/jwt-secret)")
    token_minutes: int = Field(60, ge=1, le=60 * 24 * 366, description="lifetime of a `cer token`")

    # what the gateway lets through
    cors_origins: Annotated[list[str], NoDecode] = Field(default_factory=list, description="allowed origins (comma-separated); none by default")
    rate_limit_per_minute: int = Field(120, ge=1, le=1_000_000, description="requests per subject per minute")
    max_body_bytes: int = Field(64 * 1024, ge=1024, le=16 * 1024 * 1024, description="largest JSON request body")
    max_upload_bytes: int = Field(5 * 1024 * 1024, ge=1024, le=512 * 1024 * 1024, description="largest CSV upload (POST /v1/signals)")
    audit_log: str = Field("-", description="JSON-lines audit log: a file path, or '-' for standard output")

    # workers
    worker_concurrency: int = Field(1, ge=1, le=64, description="reports one `cer worker` builds at once")
    job_soft_time_limit: int = Field(1800, ge=10, description="seconds before a job is asked to stop (its run becomes .failed-)")
    job_hard_time_limit: int = Field(2100, ge=15, description="seconds before a job's worker process is killed")
    job_retries: int = Field(3, ge=0, le=20, description="re-runs after a transient source error (never after bad input)")
    job_retry_backoff: float = Field(30.0, ge=0, le=3600, description="first retry delay (s); doubles each time, with jitter")
    job_redeliveries: int = Field(1, ge=0, le=10, description="re-runs of a job whose worker was lost (killed, out of memory)")
    code_lock_wait: int = Field(3600, ge=0, description="seconds a job waits while another job writes the same code")
    job_keep_days: int = Field(7, ge=1, le=366, description="days job records and results are kept in Redis")

    @field_validator("cors_origins", mode="before")
    @classmethod
    def _comma_list(cls, value: object) -> object:
        if isinstance(value, str):
            return [item.strip() for item in value.split(",") if item.strip()]
        return value

    @field_validator("mirrors", mode="before")
    @classmethod
    def _name_equals_path(cls, value: object) -> object:
        if not isinstance(value, str):
            return value
        mirrors: dict[str, str] = {}
        for item in filter(None, (part.strip() for part in value.split(","))):
            name, equals, folder = item.partition("=")
            name = name.strip()
            if not equals or not MIRROR_NAME.fullmatch(name) or not folder.strip():
                raise ValueError(f"CER_MIRRORS entry {item[:60]!r} is not name=folder "
                                 f"(name: lower-case letters, digits, '-' or '_')")
            mirrors[name] = folder.strip()
        return mirrors

    @model_validator(mode="after")
    def _consistent(self) -> "ServiceSettings":
        if self.jwt_secret is not None and self.jwt_public_key:
            raise ValueError("set CER_JWT_SECRET (HS256) or CER_JWT_PUBLIC_KEY (RS256), not both")
        if self.jwt_secret is not None and len(self.jwt_secret.get_secret_value()) < 32:
            raise ValueError("CER_JWT_SECRET must be at least 32 characters (e.g. `openssl rand -hex 32`)")
        if self.job_hard_time_limit <= self.job_soft_time_limit:
            raise ValueError("CER_JOB_HARD_TIME_LIMIT must be larger than CER_JOB_SOFT_TIME_LIMIT")
        return self

    @classmethod
    def load(cls) -> "ServiceSettings":
        """Settings from the environment, or `ServiceError` naming the variable that is wrong."""
        from pydantic import ValidationError

        try:
            return cls()
        except ValidationError as exc:
            problems = "; ".join(
                f"CER_{'_'.join(str(p) for p in e['loc']).upper() or '…'}: {e['msg']}" for e in exc.errors()
            )
            raise ServiceError(f"service settings are invalid: {problems}") from None

    # -- derived -----------------------------------------------------------------------------

    @cached_property
    def core(self) -> Settings:
        """The pipeline's settings (outputs, caches, secrets of the sources, ``CER_REDIS_URL``)."""
        return Settings.from_env()

    @property
    def redis_url(self) -> str:
        url = self.core.redis_url.reveal()
        return url or "redis://127.0.0.1:6379/0"

    @property
    def jwt_algorithm(self) -> str:
        return "RS256" if self.jwt_public_key else "HS256"

    def jwt_verification_key(self) -> str:
        """The key tokens are checked with: the RS256 public key, or the HS256 secret."""
        if self.jwt_public_key:
            text = self.jwt_public_key
            if "-----BEGIN" not in text:
                path = Path(text).expanduser()
                if not path.is_file():
                    raise ServiceError(f"CER_JWT_PUBLIC_KEY is neither PEM text nor a readable file: {path}")
                text = path.read_text(encoding="utf-8")
            return text
        return self.hs256_secret(create=False)

    def hs256_secret(self, *, create: bool) -> str:
        """``CER_JWT_SECRET``, else the secret file (made, mode 600, when ``create`` and missing)."""
        if self.jwt_secret is not None:
            return self.jwt_secret.get_secret_value()
        path = self.jwt_secret_file or self.core.cache_dir / "service" / "jwt-secret"
        if not path.is_file():
            if not create:
                raise ServiceError(
                    f"no token signing secret: set CER_JWT_SECRET (or CER_JWT_PUBLIC_KEY), "
                    f"or start the service once (`make serve`) to create {path}")
            path.parent.mkdir(parents=True, exist_ok=True)
            try:
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            except FileExistsError:
                pass  # made by another process meanwhile
            else:
                with os.fdopen(fd, "w") as handle:
                    handle.write(secrets.token_hex(32) + "\n")
        secret = path.read_text(encoding="utf-8").strip()
        if len(secret) < 32:
            raise ServiceError(f"{path} holds a secret shorter than 32 characters: delete it to make a new one")
        return secret

    def mirror_folder(self, name: str | None) -> Path | None:
        """The folder of a configured mirror; None is the bundled demo mirror (built on first use)."""
        name = name or DEMO_MIRROR
        if name in self.mirrors:
            return Path(self.mirrors[name])
        if name == DEMO_MIRROR:
            return None
        known = ", ".join(sorted({DEMO_MIRROR, *self.mirrors}))
        raise ServiceError(f"no mirror named {name[:40]!r}: choose one of {known}")

    @property
    def mirror_names(self) -> list[str]:
        return sorted({DEMO_MIRROR, *self.mirrors})
