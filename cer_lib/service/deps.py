"""Dependencies of the routes: the service's parts, who is calling, and what they may do.

`current_user` checks the bearer token (401 without a valid one) and the subject's rate limit (429
with ``Retry-After``); `require_role` adds the role check (403: the token is good, the role is not
enough). The subject and role are put on the request's state for the audit log.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import redis
from celery import Celery
from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from . import store
from .audit import AuditLog
from .config import ServiceSettings
from .metrics import ApiMetrics
from .ratelimit import SubjectRateLimit
from .security import InvalidToken, Principal, verify_token

REDIS_DOWN = ("the job queue (Redis) is unreachable, so nothing was done; nothing already queued is lost. "
              "Try again in a minute; if it persists, the operator should check Redis (GET /readyz)")


@dataclass
class Service:
    """Everything the routes share, made once when the app starts."""

    settings: ServiceSettings
    redis: redis.Redis
    celery: Celery
    rate_limit: SubjectRateLimit
    audit: AuditLog
    metrics: ApiMetrics


async def service(request: Request) -> Service:
    """(async: no I/O, so no trip through the thread pool that runs the blocking dependencies)"""
    return request.app.state.service


def redis_down() -> HTTPException:
    return HTTPException(503, REDIS_DOWN, headers={"Retry-After": "60"})


_bearer = HTTPBearer(auto_error=False, description="a token from `cer token --subject NAME --role ROLE`")


def current_user(request: Request, credentials: HTTPAuthorizationCredentials | None = Depends(_bearer),
                 svc: Service = Depends(service)) -> Principal:
    """The caller, from a valid bearer token, within their rate limit."""
    challenge = {"WWW-Authenticate": "Bearer"}
    if credentials is None:
        raise HTTPException(401, "no bearer token: send 'Authorization: Bearer <token>' (a token comes from "
                                 "`cer token --subject NAME --role ROLE`)", headers=challenge)
    try:
        principal = verify_token(credentials.credentials, svc.settings)
    except InvalidToken as exc:
        raise HTTPException(401, f"invalid bearer token: {exc}", headers=challenge) from None
    request.state.subject, request.state.role = principal.subject, principal.role
    try:
        wait = svc.rate_limit.admit(principal.subject)
    except store.RedisDown:
        raise redis_down() from None
    if wait is not None:
        raise HTTPException(429, f"more than {svc.settings.rate_limit_per_minute} requests in a minute for "
                                 f"{principal.subject!r}: wait {wait} s (Retry-After)", headers={"Retry-After": str(wait)})
    return principal


def require_role(role: str) -> Callable[..., Principal]:
    """A dependency that lets through callers with ``role`` or a higher one."""

    async def check(principal: Principal = Depends(current_user)) -> Principal:
        if not principal.can(role):
            raise HTTPException(403, f"role {principal.role!r} may not do this: it needs {role!r} or higher")
        return principal

    check.__name__ = f"require_{role}"
    return check
