"""Credentials out of every URL the tool stores or shows.

A URL can carry a secret in two places: the user-information part (``https://user:password@host``,
as an ``OPENFDA_BASE_URL`` or ``EUDAMED_BASE_URL`` may) and a query parameter (``?api_key=…``).
`split_userinfo` takes the first out of a URL and returns it separately, so `Settings` keeps base
URLs without it and sends it as HTTP Basic auth; `redact_url` removes both, and is the one function
every writer of a URL (request log, manifest, report, messages) calls.
"""
from __future__ import annotations

from urllib.parse import parse_qsl, unquote, urlencode, urlsplit, urlunsplit

SECRET_QUERY_KEYS = frozenset({"api_key", "apikey", "key", "token", "access_token"})


def split_userinfo(url: str) -> tuple[str, str | None]:
    """``(url without user:password@, "user:password" percent-decoded or None)``.

    The rest of the URL is returned exactly as given (no re-encoding).
    """
    parts = urlsplit(url)
    userinfo, at, host = parts.netloc.rpartition("@")
    if not at:
        return url, None
    user, _, password = userinfo.partition(":")
    return urlunsplit(parts._replace(netloc=host)), f"{unquote(user)}:{unquote(password)}"


def redact_url(url: str) -> str:
    """``url`` without credentials: user:password and secret query parameters (``api_key``, ``token``, …)."""
    parts = urlsplit(split_userinfo(url)[0])
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k.lower() not in SECRET_QUERY_KEYS]
    return urlunsplit(parts._replace(query=urlencode(query, safe=":[]()+\"*,")))
