"""``/healthz`` (the process answers), ``/readyz`` (Redis, a worker and the outputs folder all usable;
503 naming what is not) and ``/metrics`` (Prometheus text). None needs a token: they say nothing about
reports or users."""
from __future__ import annotations

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from .. import runs, store
from ..deps import Service, service
from ..schemas import Health, Readiness

router = APIRouter(tags=["health"])
WORKER_PING_SECONDS = 1.0


@router.get("/healthz", response_model=Health)
def healthz() -> Health:
    return Health(status="ok")


def _checks(svc: Service) -> dict[str, str]:
    checks = {}
    try:
        svc.redis.ping()
        checks["redis"] = "ok"
    except store.RedisDown as exc:
        checks["redis"] = f"unreachable ({type(exc).__name__}): start Redis or fix CER_REDIS_URL"
    if checks["redis"] == "ok":
        try:
            answers = svc.celery.control.ping(timeout=WORKER_PING_SECONDS, limit=1)
            checks["workers"] = "ok" if answers else "no worker answered within 1 s: start one (`cer worker`)"
        except Exception as exc:  # the broadcast goes through Redis too
            checks["workers"] = f"could not ask the workers ({type(exc).__name__})"
    else:
        checks["workers"] = "unknown: Redis is unreachable"
    checks["outputs"] = runs.outputs_writable(svc.settings.core.outputs_dir) or "ok"
    return checks


@router.get("/readyz", response_model=Readiness, responses={503: {"model": Readiness}})
def readyz(svc: Service = Depends(service)) -> JSONResponse:
    checks = _checks(svc)
    ready = all(value == "ok" for value in checks.values())
    body = Readiness(status="ready" if ready else "not ready", checks=checks)
    return JSONResponse(body.model_dump(), status_code=200 if ready else 503)


@router.get("/metrics", response_class=Response, responses={200: {"content": {"text/plain": {}}}})
def metrics(svc: Service = Depends(service)) -> Response:
    return Response(generate_latest(svc.metrics.registry), media_type=CONTENT_TYPE_LATEST)
