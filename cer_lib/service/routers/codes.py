"""``/v1/codes``: the codes with reports, their finished runs, and the report files of a run.

Only finished runs are listed and served, and only their report files (cer.pdf, cer.html,
manifest.json, the executed notebooks): see `cer_lib.service.runs`. HTML is sent with a strict
Content-Security-Policy (no script, nothing loaded from elsewhere), every file with ``nosniff``.
"""
from __future__ import annotations

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import FileResponse

from .. import runs
from ..deps import Service, require_role, service
from ..schemas import CodeRuns, CodeSummary, ErrorBody, RunSummary

router = APIRouter(prefix="/v1", tags=["codes"])

HTML_POLICY = ("default-src 'none'; img-src 'self' data:; style-src 'unsafe-inline'; font-src data:; "
               "base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
NOT_FOUND = {404: {"model": ErrorBody}}


def file_links(folder: str, run_id: str, names: list[str] | tuple[str, ...]) -> dict[str, str]:
    return {name: f"/v1/codes/{folder}/runs/{run_id}/files/{name}" for name in names}


@router.get("/codes", response_model=list[CodeSummary])
def list_codes(_: object = Depends(require_role("viewer")), svc: Service = Depends(service)) -> list[CodeSummary]:
    """Every code with at least one finished report."""
    return [CodeSummary(code=c.code, runs=c.runs, latest_run_id=c.latest_run_id, links={"runs": f"/v1/codes/{c.code}/runs"})
            for c in runs.list_codes(svc.settings.core.outputs_dir)]


@router.get("/codes/{code}/runs", response_model=CodeRuns, responses=NOT_FOUND)
def list_runs(code: str, request: Request, _: object = Depends(require_role("viewer")),
              svc: Service = Depends(service)) -> CodeRuns:
    """The finished runs of one code, newest first, with links to their files."""
    request.state.code = code[:40]
    try:
        found = runs.list_runs(svc.settings.core.outputs_dir, code)
    except runs.RunNotFound as exc:
        raise HTTPException(404, str(exc)) from None
    return CodeRuns(code=code, runs=[RunSummary(run_id=r.run_id, started_utc=r.started_utc, latest=r.latest,
                                                files=file_links(code, r.run_id, r.files)) for r in found])


@router.get("/codes/{code}/runs/{run_id}/files/{name}", responses={**NOT_FOUND, 200: {"content": {
    "application/pdf": {}, "text/html": {}, "application/json": {}, "application/x-ipynb+json": {}}}})
def run_file(code: str, run_id: str, name: str, request: Request, _: object = Depends(require_role("viewer")),
             svc: Service = Depends(service)) -> FileResponse:
    """One report file of a finished run (``latest`` as the run id names the newest)."""
    request.state.code = code[:40]
    try:
        path = runs.run_file(svc.settings.core.outputs_dir, code, run_id, name)
    except runs.RunNotFound as exc:
        raise HTTPException(404, str(exc)) from None
    headers = {"X-Content-Type-Options": "nosniff"}
    if name.endswith(".html"):
        headers["Content-Security-Policy"] = HTML_POLICY
    disposition = "inline" if name.endswith((".html", ".pdf")) else "attachment"
    return FileResponse(path, media_type=runs.media_type(name), headers=headers,
                        filename=f"{code}-{path.parent.name}-{name}", content_disposition_type=disposition)
