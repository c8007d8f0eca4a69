"""``GET /v1/jobs/{job_id}``: a job's status, stage, run and error, and its files when done."""
from __future__ import annotations

import uuid
from typing import Any

from celery.exceptions import BackendGetMetaError
from fastapi import APIRouter, Depends, HTTPException, Request

from .. import store
from ..deps import Service, current_user, redis_down, service
from ..jobs import RUNNING, WAITING
from ..schemas import ErrorBody, JobStatus
from ..security import Principal
from .codes import file_links

router = APIRouter(prefix="/v1", tags=["jobs"])

STATUS_OF_STATE = {"PENDING": "queued", WAITING: "queued", "RETRY": "queued", "STARTED": "running",
                   RUNNING: "running", "SUCCESS": "succeeded", "FAILURE": "failed", "REVOKED": "failed"}


def _failure_message(result: Any) -> str:
    name = type(result).__name__
    if name == "TimeLimitExceeded":
        return ("the report ran past the hard time limit (CER_JOB_HARD_TIME_LIMIT) and its worker process was "
                "stopped; its run folder never became a finished run. Submit again, or raise the limit")
    if name == "JobFailed":
        return str(result)
    return f"{name}: {result}" if str(result) else name


@router.get("/jobs/{job_id}", response_model=JobStatus, response_model_by_alias=True,
            responses={403: {"model": ErrorBody}, 404: {"model": ErrorBody}, 503: {"model": ErrorBody}})
def job_status(job_id: uuid.UUID, request: Request, user: Principal = Depends(current_user),
               svc: Service = Depends(service)) -> JobStatus:
    """Status (queued, running, succeeded, failed), the stage running now, the run id, the error, and
    links to the report's files once it succeeded. Only the submitter and admins see a job."""
    key = str(job_id)
    request.state.job_id = key
    try:
        record = store.load_job(svc.redis, key)
        if record is None:
            raise HTTPException(404, f"no job {key}: job ids come from POST /v1/reports, and are kept "
                                     f"{svc.settings.job_keep_days} days")
        request.state.code = record.code
        if record.subject != user.subject and not user.can("admin"):
            raise HTTPException(403, "this job was submitted by someone else: only they or an admin can see it")
        meta = svc.celery.backend.get_task_meta(key)
    except (*store.RedisDown, BackendGetMetaError):
        raise redis_down() from None
    state, result = meta.get("status", "PENDING"), meta.get("result")
    status = STATUS_OF_STATE.get(state, "running")
    info = result if isinstance(result, dict) else {}
    answer = JobStatus(job_id=key, status=status, stage=info.get("stage"), code=record.code, kind=record.kind,
                       data_from=record.data_from or None, mirror=record.mirror or None, subject=record.subject,
                       submitted_utc=record.submitted_utc, run_id=info.get("run_id"))
    if state == "RETRY":
        answer.stage = f"waiting to try again after a transient source error: {result}"
    elif state == "FAILURE":
        answer.error = _failure_message(result)
    elif state == "REVOKED":
        answer.error = "the job was cancelled"
    elif state == "SUCCESS":
        answer.links = file_links(record.folder, info["run_id"], info.get("files", []))
    return answer
