"""The FastAPI gateway: routers, authentication (in `deps`), CORS, body limits, audit log, metrics.

The API never computes a report: it checks a request as the command line does, queues it for a
worker, reports the job's status and serves files of finished runs. ``cer serve`` runs
`create_app_from_env` under uvicorn.

Middleware, outermost first: `RequestLog` (one audit line and the request metrics per request,
whatever the outcome), `BodyLimit` (413 for a body over ``CER_MAX_BODY_BYTES``, or
``CER_MAX_UPLOAD_BYTES`` on the upload route, by its Content-Length or as it streams), CORS (only
origins in ``CER_CORS_ORIGINS``; none by default). Every error is JSON ``{"detail": "…"}``.
"""
from __future__ import annotations

import logging
import time

from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .. import __version__
from ..logs import configure_logging
from . import store
from .audit import AuditLog
from .config import ServiceSettings
from .deps import Service
from .metrics import ApiMetrics
from .ratelimit import SubjectRateLimit
from .routers import codes, feedback, health, jobs, reports, schedules, signals
from .worker import celery_app

UPLOAD_PATHS = ("/v1/signals",)
log = logging.getLogger("cer.api")


class RequestLog:
    """Audit line and metrics for every HTTP request (after the response, with its status)."""

    def __init__(self, app: ASGIApp, audit: AuditLog, metrics: ApiMetrics) -> None:
        self.app, self.audit, self.metrics = app, audit, metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started, status = time.perf_counter(), 500
        state = scope.setdefault("state", {})

        async def send_and_note(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_and_note)
        finally:
            route = getattr(scope.get("route"), "path", "unmatched")
            self.metrics.observe(route, scope["method"], status, time.perf_counter() - started)
            client = scope.get("client")
            self.audit.write(subject=state.get("subject"), role=state.get("role"), method=scope["method"],
                             path=scope["path"][:300], status=status, job_id=state.get("job_id"),
                             code=state.get("code"), client=client[0] if client else None)


class BodyLimit:
    """Refuse request bodies over the limit with 413, before or while they arrive."""

    def __init__(self, app: ASGIApp, settings: ServiceSettings) -> None:
        self.app, self.settings = app, settings

    def _limit(self, path: str) -> int:
        return self.settings.max_upload_bytes if path in UPLOAD_PATHS else self.settings.max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self._limit(scope["path"])
        too_large = f"the request body is larger than {limit:,} bytes, the limit for {scope['path'][:60]}"
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > limit):
            response = JSONResponse({"detail": too_large}, status_code=413)
            await response(scope, receive, send)
            return
        received = 0

        async def counted() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise HTTPException(413, too_large)  # FastAPI passes middleware HTTPExceptions through
            return message

        await self.app(scope, counted, send)


def _validation_message(exc: RequestValidationError) -> str:
    parts = []
    for error in exc.errors()[:20]:
        where = ".".join(str(p) for p in error.get("loc", ()) if p != "body") or "body"
        parts.append(f"{where}: {error.get('msg', 'invalid')}")
    return "invalid request: " + "; ".join(parts)


def create_app(settings: ServiceSettings) -> FastAPI:
    client = store.connect(settings)
    svc = Service(settings=settings, redis=client, celery=celery_app(settings),
                  rate_limit=SubjectRateLimit(client, settings.rate_limit_per_minute),
                  audit=AuditLog(settings.audit_log), metrics=ApiMetrics(client))
    app = FastAPI(
        title="cer-notebooks report service",
        version=__version__,
        description="Clinical Evaluation Reports from public safety data, built by workers running the same "
                    "pipeline as `cer report`. Authenticate with a bearer token (`cer token`).",
        docs_url="/docs",
        redoc_url=None,
    )
    app.state.service = svc
    for router in (reports.router, jobs.router, codes.router, feedback.router, schedules.router, signals.router,
                   health.router):
        app.include_router(router)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(_: Request, exc: RequestValidationError) -> JSONResponse:
        return JSONResponse({"detail": _validation_message(exc)}, status_code=422)

    @app.exception_handler(Exception)
    async def internal_error(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error on %s %s", request.method, request.url.path)
        return JSONResponse({"detail": "internal error: the service log has the details"}, status_code=500)

    app.add_middleware(CORSMiddleware, allow_origins=settings.cors_origins, allow_methods=["GET", "POST", "PUT"],
                       allow_headers=["Authorization", "Content-Type"], max_age=600)
    app.add_middleware(BodyLimit, settings=settings)
    app.add_middleware(RequestLog, audit=svc.audit, metrics=svc.metrics)
    return app


def create_app_from_env() -> FastAPI:
    """The app for uvicorn (``cer serve``), from the ``CER_*`` environment; logs as JSON lines."""
    configure_logging("api")
    return create_app(ServiceSettings.load())


def serve(settings: ServiceSettings, *, workers: int = 1) -> None:
    """Run the API under uvicorn in the foreground (``cer serve``); JSON-line logs go to standard error."""
    import uvicorn

    configure_logging("api")
    if settings.jwt_public_key:
        settings.jwt_verification_key()  # an unreadable key is said now, not at the first request
    else:
        settings.hs256_secret(create=True)
    uvicorn.run("cer_lib.service.app:create_app_from_env", factory=True, host=settings.api_host,
                port=settings.api_port, workers=workers, access_log=False, log_level="info", log_config=None,
                proxy_headers=False, timeout_graceful_shutdown=10)
