"""``/v1/schedules``: the scheduled refreshes (``parameters/schedules.yaml``), read and replaced by an admin.

``PUT`` takes the whole file as JSON, checks it exactly as the file is checked (`cer_lib.refresh.schedules`:
cron expressions, mirror names, change kinds, one entry per code), and each code and kind as ``cer report``
checks them, and writes it atomically; ``cer beat``
picks the change up within seconds. A mirror is a name from ``CER_MIRRORS``, never a path.
"""
from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, HTTPException

from ...errors import CerError
from ...params import load_parameters
from ...refresh.schedules import Schedules, load_schedules, save_schedules
from ..config import ServiceError
from ..deps import Service, require_role, service
from ..schemas import ErrorBody

router = APIRouter(prefix="/v1", tags=["schedules"])


@router.get("/schedules")
def get_schedules(_: object = Depends(require_role("admin"))) -> dict[str, Any]:
    """The schedules in force."""
    try:
        return load_schedules().to_yaml_dict()
    except CerError as exc:
        raise HTTPException(500, f"the schedules file is not valid: {exc}") from None


@router.put("/schedules", responses={422: {"model": ErrorBody}})
def put_schedules(body: Schedules, _: object = Depends(require_role("admin")),
                  svc: Service = Depends(service)) -> dict[str, Any]:
    """Replace the schedules; refused (422, naming the field) when anything does not fit."""
    try:
        for entry in body.schedules:
            load_parameters(entry.code, kind=entry.kind)  # a malformed code or kind is refused as `cer report` refuses it
            if entry.mirror is not None:
                svc.settings.mirror_folder(entry.mirror)  # an unknown mirror name is refused here
    except (CerError, ServiceError) as exc:
        raise HTTPException(422, str(exc)) from None
    save_schedules(body)
    return body.to_yaml_dict()
