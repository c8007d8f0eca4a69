"""``/v1/codes/{code}/runs/{run_id}/feedback``: reviewers' comments on a finished run.

Any role may comment (viewer and up); the author and role come from the token, the time from the
server. Comments are appended beside the run, never inside it (`cer_lib.refresh.feedback`), so the
run's manifest still verifies; the code's next report lists the open ones in its feedback annex.
"""
from __future__ import annotations

from fastapi import APIRouter, Depends, HTTPException, Request
from pydantic import BaseModel, ConfigDict, Field

from ...errors import RunFileInvalid
from ...refresh.feedback import MAX_COMMENT, FeedbackEntry, add_feedback, read_feedback
from ...runfolder import CodeFolder
from .. import runs
from ..deps import Service, require_role, service
from ..schemas import ErrorBody
from ..security import Principal

router = APIRouter(prefix="/v1", tags=["feedback"])


class FeedbackRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    comment: str = Field(min_length=1, max_length=MAX_COMMENT, description="the comment, as the reviewer writes it")
    section: str | None = Field(None, max_length=80, description="the report section it is about, e.g. 4.6.1.2")
    resolves: str | None = Field(None, max_length=40, description="the id of an earlier comment on this run it closes")


def _code_and_run(svc: Service, code: str, run_id: str) -> tuple[CodeFolder, str]:
    try:
        run = runs.find_run(svc.settings.core.outputs_dir, code, run_id)
    except runs.RunNotFound as exc:
        raise HTTPException(404, str(exc)) from None
    return CodeFolder(run.path.parent), run.run_id


@router.post("/codes/{code}/runs/{run_id}/feedback", status_code=201, response_model=FeedbackEntry,
             responses={404: {"model": ErrorBody}, 422: {"model": ErrorBody}})
def post_feedback(code: str, run_id: str, body: FeedbackRequest, request: Request,
                  user: Principal = Depends(require_role("viewer")), svc: Service = Depends(service)) -> FeedbackEntry:
    """Comment on a finished run (``latest`` names the newest); the next report of the code lists it until resolved."""
    request.state.code = code[:40]
    folder, found = _code_and_run(svc, code, run_id)
    if not body.comment.strip():
        raise HTTPException(422, "the comment is empty")
    try:
        return add_feedback(folder, found, author=user.subject, role=user.role, comment=body.comment,
                            section=body.section, resolves=body.resolves)
    except RunFileInvalid as exc:
        raise HTTPException(422, str(exc)) from None


@router.get("/codes/{code}/runs/{run_id}/feedback", response_model=list[FeedbackEntry],
            responses={404: {"model": ErrorBody}})
def list_feedback(code: str, run_id: str, request: Request, _: object = Depends(require_role("viewer")),
                  svc: Service = Depends(service)) -> list[FeedbackEntry]:
    """Every comment on a finished run, oldest first."""
    request.state.code = code[:40]
    folder, found = _code_and_run(svc, code, run_id)
    return read_feedback(folder, found)
