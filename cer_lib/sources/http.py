"""One HTTP client for every online source: on-disk cache, pacing, retries, provenance, secret credentials.

``HttpClient.get(url)`` is the only way `cer_lib` talks to a web service. Behind it:

- **cache**: requests-cache, SQLite under ``settings.http_cache_path`` (``http_cache.sqlite``), or Redis
  when ``CER_REDIS_URL`` is set (shared by all workers); entries kept
  ``http.cache_expire_hours`` (0: nothing is reused). Successful answers and openFDA's "no matches"
  404s are cached; errors never are.
- **offline** (``http.offline: true``): only cached answers, however old; a miss raises
  `SourceUnavailable` naming the URL.
- **retries**: 429, 500/502/503/504, time-outs and dropped connections are retried up to
  ``http.max_retries`` times with exponential backoff and full jitter; a ``Retry-After`` header (seconds
  or an HTTP date) is honoured. A DNS failure is not retried (the machine is offline).
- **pacing**: at most ``http.requests_per_minute`` requests per source reach the network per minute,
  counted across every process that shares the cache folder (pyrate-limiter, a SQLite file under a file
  lock there), or across every worker on every machine when ``CER_REDIS_URL`` is set (Redis). Cached answers do not count: the pacer sits in the transport adapter, below the cache.
- **provenance**: every answer, cached or not, and every failed attempt is appended to the run's
  ``provenance/requests.jsonl`` (URL, time, status, bytes, sha256, ``meta.last_updated``, from_cache, elapsed).
- **the API key** is sent as the HTTP Basic user name (openFDA accepts it there), so it is never in a
  URL, a cache key, a provenance line or an exception; the cache stores the request's ``Authorization``
  header as ``REDACTED``. Credentials from a base URL (``https://user:password@host``, split off by
  `Settings`) travel the same way; a source gets one or the other, never both.
"""
from __future__ import annotations

import base64
import contextlib
import datetime as dt
import email.utils
import json
import random
import re
import socket
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from requests.auth import AuthBase
from requests.structures import CaseInsensitiveDict
from requests_cache import CachedSession, RedisCache, SQLiteCache
from requests_cache.policy.expiration import NEVER_EXPIRE
from requests_cache.policy.settings import DEFAULT_IGNORED_PARAMS

from ..errors import RateLimited, SourceError, SourceUnavailable
from ..params import Http
from ..provenance import Provenance, sha256_bytes
from ..redact import redact_url
from ..settings import Secret

CACHE_FILE = "http_cache.sqlite"
REDIS_CACHE_NAMESPACE = "cer-http"
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
MAX_RETRY_AFTER_SECONDS = 120.0  # a longer Retry-After (a spent daily quota) fails at once instead of waiting
USER_AGENT = "cer-notebooks (+https://open.fda.gov/apis/; clinical evaluation reports from public data)"


# ----------------------------------------------------------------------------------------------
# pacing across processes and machines


class Pacer:
    """At most ``budget`` requests per ``window_seconds`` for one source, shared by every process that
    uses the same store; a sliding window (pyrate-limiter's leaky bucket, one timestamp per request).

    The store is a SQLite file ``<folder>/pace.sqlite`` under a file lock (every process on one
    machine that shares the cache folder), or, with ``redis_url``, the Redis key ``cer:pace:<name>``
    under a Redis lock (every worker on every machine; their clocks must agree, as NTP keeps them).
    The lock makes each attempt's stamp and check one step, so stamps enter in time order.
    ``wait()`` blocks until a slot is free, takes it and returns the seconds waited.
    """

    def __init__(
        self,
        folder: Path,
        budget: int,
        window_seconds: float = 60.0,
        *,
        name: str = "default",
        redis_url: Secret | None = None,
    ) -> None:
        from pyrate_limiter import Limiter, Rate, RedisBucket, SingleBucketFactory, SQLiteBucket

        if budget < 1:
            raise ValueError(f"pacer budget must be at least 1 request per window, got {budget}")
        self.budget = budget
        self.window_seconds = float(window_seconds)
        self.name = re.sub(r"[^a-z0-9_]", "_", name.lower())
        self.window_ms = max(1, round(self.window_seconds * 1000))
        rates = [Rate(budget, self.window_ms)]
        if redis_url:
            from redis import Redis

            self.store = "redis"
            self._redis = Redis.from_url(redis_url.reveal() or "", socket_timeout=10, socket_connect_timeout=5)
            self.bucket = RedisBucket.init(rates, self._redis, f"cer:pace:{self.name}")
            self._lock: Any = self._redis.lock(f"cer:pace:{self.name}:lock", timeout=10, blocking_timeout=60)
        else:
            self.store = "sqlite"
            Path(folder).mkdir(parents=True, exist_ok=True)
            self.bucket = SQLiteBucket.init_from_file(
                rates, table=f"pace_{self.name}", db_path=str(Path(folder) / "pace.sqlite"), use_file_lock=True)
            self._lock = contextlib.nullcontext()  # the limiter holds the bucket's file lock itself
        # no background leaker thread: old timestamps are dropped before each attempt instead
        self._limiter = Limiter(SingleBucketFactory(self.bucket, schedule_leak=False))

    def wait(self) -> float:
        """Block until a request may go out; record it; return the seconds waited.

        Each attempt is a non-blocking acquire stamped with the time it is made, so a stored stamp
        is always when the request really went (pyrate-limiter's own blocking wait stamps the
        planned wake-up, which a busy machine oversleeps); between attempts it sleeps until the
        oldest stamp leaves the window.
        """
        from pyrate_limiter import RateItem

        started = time.monotonic()
        while True:
            with self._lock:
                self.bucket.leak(self.bucket.now())
                if self._limiter.try_acquire(self.name, blocking=False):
                    return time.monotonic() - started
                delay_ms = self.bucket.waiting(RateItem(self.name, self.bucket.now()))
            time.sleep(min(max(int(delay_ms), 5), self.window_ms) / 1000)

    def close(self) -> None:
        self.bucket.close()

    def __repr__(self) -> str:
        return f"Pacer({self.name!r}, {self.budget} per {self.window_seconds:g} s, {self.store})"


class _PacedAdapter(HTTPAdapter):
    """Transport adapter that asks the pacer before each request reaching the network."""

    def __init__(self, pacer: Pacer | None) -> None:
        super().__init__()
        self.pacer = pacer

    def send(self, request: requests.PreparedRequest, *args: Any, **kwargs: Any) -> requests.Response:
        if self.pacer is not None:
            self.pacer.wait()
        return super().send(request, *args, **kwargs)


class _BasicAuth(AuthBase):
    """HTTP Basic auth from a ``user:password`` `Secret` (an API key is ``key:``); never prints it."""

    __slots__ = ("_secret",)

    def __init__(self, user_password: Secret) -> None:
        self._secret = user_password

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        pair = self._secret.reveal()
        if pair:
            token = base64.b64encode(pair.encode("utf-8")).decode("ascii")
            request.headers["Authorization"] = f"Basic {token}"
        return request

    def __repr__(self) -> str:
        return "_BasicAuth('***')"


def basic_credentials(source: str, api_key: Secret | None, credentials: Secret | None) -> Secret | None:
    """The ``user:password`` a source is sent: the API key as user name, or the base URL's credentials.

    Both at once cannot be sent (there is one ``Authorization`` header): that is a `SourceError`.
    """
    if api_key and credentials:
        raise SourceError(
            f"{source}: the base URL carries credentials (user:password@) and an API key is set as well; "
            f"both would be the one HTTP Basic credential. Keep one: unset OPENFDA_API_KEY, or remove "
            f"user:password@ from the base URL (the key can be given as the user name there)."
        )
    if api_key:
        return Secret(f"{api_key.reveal()}:")
    return credentials if credentials else None


def _cacheable(response: requests.Response) -> bool:
    """Cache successes and openFDA's "no matches" 404s; never errors (they must be retried next time)."""
    if response.status_code == 200:
        return True
    return response.status_code == 404 and b"NOT_FOUND" in (response.content or b"")[:2000]


def cached_session(
    cache_dir: Path,
    http: Http,
    *,
    pacer: Pacer | None = None,
    credentials: Secret | None = None,
    redis_url: Secret | None = None,
) -> CachedSession:
    """The one `requests` session factory: cache, offline mode, pacing adapter and Basic auth.

    ``credentials`` is the ``user:password`` `Secret` from `basic_credentials`.

    The cache is the file ``<cache_dir>/http_cache.sqlite`` (``cache_dir`` is
    ``settings.http_cache_path``), or with ``redis_url`` requests-cache's Redis backend under the
    namespace ``cer-http``, shared by every worker; entries expire there with the same policy.
    """
    cache_dir = Path(cache_dir)
    cache_dir.mkdir(parents=True, exist_ok=True)
    if redis_url:
        from redis import Redis

        backend: Any = RedisCache(
            namespace=REDIS_CACHE_NAMESPACE,
            connection=Redis.from_url(redis_url.reveal() or "", socket_timeout=30, socket_connect_timeout=5))
    else:
        backend = SQLiteCache(cache_dir / CACHE_FILE, wal=True)
    if http.offline:
        expire_after: Any = NEVER_EXPIRE
    elif http.cache_expire_hours > 0:
        expire_after = dt.timedelta(hours=http.cache_expire_hours)
    else:
        expire_after = 0  # EXPIRE_IMMEDIATELY: nothing without validators is stored or reused
    session = CachedSession(
        backend=backend,
        expire_after=expire_after,
        allowable_codes=(200, 404),
        allowable_methods=("GET",),
        filter_fn=_cacheable,
        # the key travels in Authorization; api_key too in case a URL ever carries one:
        # both are left out of cache keys and stored as REDACTED
        ignored_parameters=tuple(DEFAULT_IGNORED_PARAMS) + ("api_key",),
        match_headers=False,
        only_if_cached=http.offline,
        stale_if_error=http.offline,  # offline: an expired entry is better than nothing
    )
    adapter = _PacedAdapter(pacer)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    session.headers["User-Agent"] = USER_AGENT
    session.headers["Accept"] = "application/json"
    if credentials:
        session.auth = _BasicAuth(credentials)
    return session


# ----------------------------------------------------------------------------------------------
# answers


def error_fields(body: bytes) -> tuple[str | None, str | None]:
    """``(code, message)`` from an error body such as openFDA's ``{"error": {"code", "message"}}``.

    Accepts JSON and, as a fallback, the Python-repr form some recorders store (single quotes).
    """
    text = body[:20000].decode("utf-8", errors="replace")
    try:
        data = json.loads(text, strict=False)
    except ValueError:
        data = None
    if isinstance(data, dict):
        err = data.get("error", data)
        if isinstance(err, dict):
            code, message = err.get("code"), err.get("message") or err.get("title") or err.get("detail")
            return (str(code) if code is not None else None, str(message) if message is not None else None)
        if isinstance(err, str):
            return None, err
    code = re.search(r"""['"]code['"]\s*:\s*['"]([A-Za-z_]+)['"]""", text)
    message = re.search(r"""['"]message['"]\s*:\s*(['"])(.*?)\1""", text)
    return (code.group(1) if code else None, message.group(2) if message else None)


def _last_updated(data: Any) -> str | None:
    if isinstance(data, dict) and isinstance(data.get("meta"), dict):
        value = data["meta"].get("last_updated")
        return str(value) if value else None
    return None


@dataclass
class Fetched:
    """One HTTP answer as the sources need it. ``url`` is the redacted URL that was requested."""

    url: str
    status: int
    headers: Mapping[str, str]
    body: bytes
    from_cache: bool
    elapsed: float
    source: str = "http"
    _parsed: Any = field(default=None, repr=False)
    _parse_error: str | None = field(default=None, repr=False)

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    def json(self) -> Any:
        """The parsed body, or `SourceError` naming the URL and the byte offset where parsing failed."""
        if self._parse_error is not None:
            raise SourceError(
                f"{self.source} sent a malformed JSON answer (HTTP {self.status}, {len(self.body):,} bytes) "
                f"for {self.url}: {self._parse_error}. The service may be failing: try again later; "
                f"if it persists, report the URL."
            )
        return self._parsed

    def error_fields(self) -> tuple[str | None, str | None]:
        return error_fields(self.body)

    @property
    def last_updated(self) -> str | None:
        return _last_updated(self._parsed)


def _parse_json(body: bytes) -> tuple[Any, str | None]:
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        return None, f"not UTF-8 at byte offset {exc.start}"
    try:
        # strict=False: real openFDA answers have carried raw line breaks inside strings
        return json.loads(text, strict=False), None
    except json.JSONDecodeError as exc:
        offset = len(text[: exc.pos].encode("utf-8"))
        return None, f"{exc.msg} at byte offset {offset} (line {exc.lineno}, column {exc.colno})"


def _retry_after_seconds(value: str | None, *, now: Callable[[], float] = time.time) -> float | None:
    """Seconds to wait from a ``Retry-After`` header: delta-seconds or an HTTP date; None if absent/bad."""
    if not value:
        return None
    value = value.strip()
    if re.fullmatch(r"\d+(\.\d+)?", value):
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.timezone.utc)
    return max(0.0, when.timestamp() - now())


def _is_dns_failure(exc: BaseException) -> bool:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, socket.gaierror) or type(current).__name__ == "NameResolutionError":
            return True
        for arg in getattr(current, "args", ()):
            if isinstance(arg, BaseException) and _is_dns_failure(arg):
                return True
        current = current.__cause__ or current.__context__ or getattr(current, "reason", None)
    return False


# ----------------------------------------------------------------------------------------------
# the client


class HttpClient:
    """GET with cache, pacing, retries and provenance, for one source (``"openfda"``, ``"eudamed"``).

    ``get(url)`` returns a `Fetched` for any final answer (2xx, or a 4xx other than 429: the caller
    decides what a 404 means) and raises `SourceUnavailable` (offline miss, DNS failure, time-outs or
    dropped connections after the retries), `RateLimited` (429 after the retries) or `SourceError`
    (5xx after the retries).
    """

    def __init__(
        self,
        *,
        source: str,
        cache_dir: Path,
        http: Http,
        provenance: Provenance | None = None,
        api_key: Secret | None = None,
        credentials: Secret | None = None,
        stage: str | None = None,
        pacer: Pacer | None = None,
        redis_url: Secret | None = None,
        backoff_seconds: float = 1.0,
        max_backoff_seconds: float = 60.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.source = source
        self.http = http
        self.provenance = provenance
        self.stage = stage
        self.backoff_seconds = backoff_seconds
        self.max_backoff_seconds = max_backoff_seconds
        self._sleep = sleep
        self._random = random.Random()
        self._secret = basic_credentials(source, api_key, credentials)
        self.pacer = pacer or Pacer(Path(cache_dir), http.requests_per_minute, 60.0, name=source, redis_url=redis_url)
        self.session = cached_session(Path(cache_dir), http, pacer=self.pacer, credentials=self._secret,
                                      redis_url=redis_url)

    @classmethod
    def for_run(cls, ctx: Any, *, source: str, api_key: Secret | None = None, **options: Any) -> "HttpClient":
        """Client for a stage: cache under ``settings.http_cache_path`` (or in ``CER_REDIS_URL``'s Redis),
        the run's provenance and http parameters."""
        return cls(
            source=source,
            cache_dir=ctx.settings.http_cache_path,
            http=ctx.params.http,
            provenance=ctx.provenance,
            api_key=api_key,
            stage=ctx.stage,
            redis_url=ctx.settings.redis_url,
            **options,
        )

    def __repr__(self) -> str:
        return f"HttpClient(source={self.source!r}, offline={self.http.offline}, key={'set' if self._secret else 'none'})"

    def close(self) -> None:
        self.session.close()
        self.pacer.close()

    def __enter__(self) -> "HttpClient":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- helpers -------------------------------------------------------------------------------

    def scrub(self, text: str) -> str:
        """Remove the key, user name and password from any text that might end up in a message.

        Parts shorter than 4 characters are left: they cannot be told from ordinary words.
        """
        pair = self._secret.reveal() if self._secret else None
        for part in sorted(set((pair or "").split(":", 1)), key=len, reverse=True):
            if len(part) >= 4:
                text = text.replace(part, "***")
        return text

    def _record(self, url: str, *, status: int | None, body: bytes = b"", data: Any = None,
                elapsed: float, from_cache: bool = False, error: str | None = None) -> None:
        if self.provenance is None:
            return
        self.provenance.record_request(
            source=self.source,
            url=url,
            status=status,
            n_bytes=len(body),
            sha256=sha256_bytes(body) if status is not None else None,
            last_updated=_last_updated(data),
            elapsed_seconds=elapsed,
            from_cache=from_cache,
            error=self.scrub(error) if error else None,
            stage=self.stage,
        )

    def _backoff(self, attempt: int) -> float:
        """Full jitter: uniform in [0, min(cap, base * 2**attempt)] (attempt counts from 0)."""
        ceiling = min(self.max_backoff_seconds, self.backoff_seconds * (2**attempt))
        return self._random.uniform(0.0, ceiling)

    # -- the request ---------------------------------------------------------------------------

    def get(self, url: str) -> Fetched:
        shown = self.scrub(redact_url(url))
        timeout = self.http.timeout_seconds
        attempts = self.http.max_retries + 1
        last_problem = ""
        for attempt in range(attempts):
            started = time.monotonic()
            # errors are turned into ours *outside* the except blocks, so no exception we raise keeps
            # requests' original (and its request, with the Authorization header) as __context__
            invalid_url, failure, timed_out, dns = False, None, False, False
            try:
                response = self.session.get(url, timeout=(timeout, timeout))
            except requests.exceptions.InvalidURL:
                invalid_url = True
            except (requests.exceptions.Timeout, requests.exceptions.ConnectionError,
                    requests.exceptions.ChunkedEncodingError) as exc:
                timed_out = isinstance(exc, requests.exceptions.Timeout)
                dns = not timed_out and _is_dns_failure(exc)
                failure = f"no answer within {timeout:g} s" if timed_out else f"connection failed ({type(exc).__name__})"
            if invalid_url:
                raise SourceError(f"{self.source}: {shown} is not a valid URL; check the base URL setting")
            if failure is not None:
                self._record(url, status=None, elapsed=time.monotonic() - started, error=failure)
                if dns:
                    raise SourceUnavailable(
                        f"{self.source} is unreachable: the host name of {shown} does not resolve. "
                        f"Check the network (or the base URL setting), or run with http.offline: true "
                        f"to use cached answers, or FROM=mirror."
                    )
                last_problem = failure
                if attempt + 1 < attempts:
                    self._sleep(self._backoff(attempt))
                    continue
                advice = (
                    "raise http.timeout_seconds, try again later, or run with http.offline: true to use cached answers"
                    if timed_out
                    else "check the network, try again later, or run with http.offline: true to use cached answers"
                )
                raise SourceUnavailable(f"{self.source}: {failure} for {shown} after {attempts} attempt(s); {advice}.")

            elapsed = time.monotonic() - started
            body = response.content or b""
            from_cache = bool(getattr(response, "from_cache", False))
            status = response.status_code

            if self.http.offline and status == 504 and getattr(response, "reason", "") == "Not Cached":
                self._record(url, status=None, elapsed=elapsed, error="offline: not in cache")
                raise SourceUnavailable(
                    f"offline mode and no cached response for {shown}: run once online "
                    f"(http.offline: false) to fill the cache, or use FROM=mirror."
                )

            data, parse_error = _parse_json(body) if body else (None, "empty body")
            self._record(url, status=status, body=body, data=data, elapsed=elapsed, from_cache=from_cache,
                         error=None if 200 <= status < 300 else f"HTTP {status}")

            if status in RETRY_STATUSES:
                code, message = error_fields(body)
                detail = " ".join(x for x in (code, message) if x) or body[:200].decode("utf-8", "replace").strip()
                last_problem = f"HTTP {status}" + (f" {detail}" if detail else "")
                wait = self._backoff(attempt)
                if status == 429 or status == 503:
                    retry_after = _retry_after_seconds(response.headers.get("Retry-After"))
                    if retry_after is not None:
                        if retry_after > MAX_RETRY_AFTER_SECONDS:
                            raise RateLimited(self.scrub(
                                f"{self.source} asks to wait {retry_after:.0f} s before the next request "
                                f"(HTTP {status}; a daily quota may be spent) for {shown}. Try again later; "
                                f"with openFDA, set OPENFDA_API_KEY for a larger quota."
                            ))
                        wait = retry_after + self._random.uniform(0.0, min(1.0, 0.1 * retry_after + 0.01))
                if attempt + 1 < attempts:
                    self._sleep(wait)
                    continue
                if status == 429:
                    raise RateLimited(self.scrub(
                        f"{self.source} kept refusing requests as too many (HTTP 429) for {shown} after "
                        f"{attempts} attempt(s). Lower http.requests_per_minute, wait a minute and run again; "
                        f"with openFDA, an OPENFDA_API_KEY raises the daily quota."
                    ))
                raise SourceError(self.scrub(
                    f"{self.source} failed with {last_problem} for {shown} after {attempts} attempt(s). "
                    f"The service may be down: try again later, or run with http.offline: true to use cached answers."
                ))

            return Fetched(
                url=shown,
                status=status,
                headers=CaseInsensitiveDict(response.headers),
                body=body,
                from_cache=from_cache,
                elapsed=elapsed,
                source=self.source,
                _parsed=data,
                _parse_error=parse_error,
            )
        raise SourceError(f"{self.source}: {last_problem} for {shown}")  # pragma: no cover - loop always returns/raises
