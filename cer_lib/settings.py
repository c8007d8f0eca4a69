"""Settings from the environment: where the services are, where files go, and the secrets.

Secrets are read here and nowhere else, and held as `Secret`s whose repr is masked, so they are never
part of a `Settings` repr, a manifest, a log line or a cache key:

- ``OPENFDA_API_KEY``: the openFDA key (sent as the HTTP Basic user name);
- credentials in a base URL (``OPENFDA_BASE_URL=https://user:password@host``, ``EUDAMED_BASE_URL``
  likewise): taken out of the URL when `Settings` is made (`split_userinfo`), sent as HTTP Basic auth,
  so every base URL a run writes or prints is the URL without them;
- ``CER_MANIFEST_KEY``: the key that signs each run's manifest (HMAC-SHA256) and checks it in
  ``cer verify``;
- ``CER_REDIS_URL``: the Redis of the report service (it may carry a password). When set, the HTTP
  cache and the openFDA request pace live there, shared by every worker on every machine.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from .errors import ParameterError
from .redact import split_userinfo

PROJECT_ROOT = Path(__file__).resolve().parents[1]

OPENFDA_PUBLIC = "https://api.fda.gov"
EUDAMED_PUBLIC = "https://ec.europa.eu/tools/eudamed/api"


class Secret:
    """A string that does not print itself."""

    __slots__ = ("_value",)

    def __init__(self, value: str | None) -> None:
        self._value = value or None

    def reveal(self) -> str | None:
        return self._value

    def __bool__(self) -> bool:
        return self._value is not None

    def __repr__(self) -> str:
        return "Secret('***')" if self._value else "Secret(None)"

    __str__ = __repr__


@dataclass(frozen=True)
class Settings:
    openfda_base_url: str = OPENFDA_PUBLIC
    eudamed_base_url: str = EUDAMED_PUBLIC
    openfda_api_key: Secret = field(default_factory=lambda: Secret(None), repr=False, compare=False)
    openfda_credentials: Secret = field(default_factory=lambda: Secret(None), repr=False, compare=False)
    eudamed_credentials: Secret = field(default_factory=lambda: Secret(None), repr=False, compare=False)
    manifest_key: Secret = field(default_factory=lambda: Secret(None), repr=False, compare=False)
    redis_url: Secret = field(default_factory=lambda: Secret(None), repr=False, compare=False)
    outputs_dir: Path = PROJECT_ROOT / "outputs"
    cache_dir: Path = PROJECT_ROOT / ".cache"
    realdata_dir: Path = PROJECT_ROOT.parent / "shared" / "realdata"
    assembly_timeout_seconds: float = 600.0  # cer.html + cer.pdf; CER_ASSEMBLY_TIMEOUT

    def __post_init__(self) -> None:
        """Move ``user:password@`` out of the base URLs into the credential fields."""
        for source in ("openfda", "eudamed"):
            url, userinfo = split_userinfo(getattr(self, f"{source}_base_url"))
            if userinfo is not None:
                object.__setattr__(self, f"{source}_base_url", url)
                object.__setattr__(self, f"{source}_credentials", Secret(userinfo))

    @property
    def http_cache_path(self) -> Path:
        return self.cache_dir / "http"

    @property
    def demo_mirror_dir(self) -> Path:
        return self.cache_dir / "mirror" / "demo"

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> "Settings":
        env = os.environ if environ is None else environ
        defaults = cls()
        return cls(
            openfda_base_url=env.get("OPENFDA_BASE_URL", "").rstrip("/") or OPENFDA_PUBLIC,
            eudamed_base_url=env.get("EUDAMED_BASE_URL", "").rstrip("/") or EUDAMED_PUBLIC,
            openfda_api_key=Secret(env.get("OPENFDA_API_KEY")),
            manifest_key=Secret(env.get("CER_MANIFEST_KEY")),
            redis_url=Secret(env.get("CER_REDIS_URL")),
            outputs_dir=Path(env.get("CER_OUTPUTS_DIR") or defaults.outputs_dir),
            cache_dir=Path(env.get("CER_CACHE_DIR") or defaults.cache_dir),
            realdata_dir=Path(env.get("CER_REALDATA_DIR") or defaults.realdata_dir),
            assembly_timeout_seconds=_seconds(env.get("CER_ASSEMBLY_TIMEOUT"), defaults.assembly_timeout_seconds),
        )


def _seconds(value: str | None, default: float) -> float:
    """A positive, finite number of seconds from the environment (the default when unset); anything else is an error."""
    if not value:
        return default
    try:
        seconds = float(value)
    except ValueError:
        seconds = float("nan")
    if not 0 < seconds < float("inf"):
        raise ParameterError(f"CER_ASSEMBLY_TIMEOUT={value[:40]!r} is not a positive number of seconds")
    return seconds
