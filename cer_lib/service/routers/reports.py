"""``POST /v1/reports``: check a report request exactly as ``cer report`` would, then queue it."""
from __future__ import annotations

import uuid

from fastapi import APIRouter, Depends, HTTPException, Request
from kombu.exceptions import OperationalError

from ...errors import CerError
from .. import store
from ..config import ServiceError
from ..deps import Service, redis_down, require_role, service
from ..jobs import check_submission, folder_of
from ..schemas import ErrorBody, JobAccepted, ReportRequest
from ..security import Principal
from ..worker import TASK_NAME

router = APIRouter(prefix="/v1", tags=["reports"])


@router.post("/reports", status_code=202, response_model=JobAccepted,
             responses={422: {"model": ErrorBody}, 503: {"model": ErrorBody}})
def submit_report(body: ReportRequest, request: Request, user: Principal = Depends(require_role("author")),
                  svc: Service = Depends(service)) -> JobAccepted:
    """Queue one report. The code and parameters are checked first (a bad code is refused with close
    matches); the job id then answers ``GET /v1/jobs/{job_id}``."""
    request.state.code = body.code[:40]
    try:
        spec, _ = check_submission(body.code, body.kind.value, body.data_from, body.mirror, body.set, svc.settings)
    except (CerError, ServiceError) as exc:
        raise HTTPException(422, str(exc)) from None
    request.state.code = spec.code
    job_id = str(uuid.uuid4())
    record = store.JobRecord.new(job_id, subject=user.subject, code=spec.code, kind=spec.kind, folder=folder_of(spec),
                                 data_from=spec.data_from or "", mirror=spec.mirror or "")
    try:
        store.save_job(svc.redis, record, svc.settings)
        svc.celery.send_task(TASK_NAME, args=[spec.message()], task_id=job_id)
    except (*store.RedisDown, OperationalError):  # Redis is down: nothing was queued
        try:
            store.delete_job(svc.redis, job_id)
        except store.RedisDown:
            pass
        raise redis_down() from None
    request.state.job_id = job_id
    return JobAccepted(job_id=job_id, links={"status": f"/v1/jobs/{job_id}"})
