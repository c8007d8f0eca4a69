"""``POST /v1/signals``: what ``cer signals`` computes, on an uploaded CSV of report_id,product,term."""
from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Depends, HTTPException, UploadFile

from ...analysis.signal_files import signals_file
from ..deps import require_role
from ..schemas import ErrorBody, SignalResult

router = APIRouter(prefix="/v1", tags=["signals"])


@router.post("/signals", response_model=SignalResult, responses={413: {"model": ErrorBody}, 422: {"model": ErrorBody}})
def score_signals(file: UploadFile, _: object = Depends(require_role("author"))) -> dict[str, Any]:
    """PRR, ROR, IC and EBGM for every (product, term) pair of the upload (at most ``CER_MAX_UPLOAD_BYTES``)."""
    with tempfile.TemporaryDirectory(prefix="cer-signals-") as folder:
        reports, scores = Path(folder) / "reports.csv", Path(folder) / "scores.csv"
        with open(reports, "wb") as handle:
            shutil.copyfileobj(file.file, handle)
        try:
            result = signals_file(reports, scores)
        except (ValueError, UnicodeDecodeError) as exc:
            message = str(exc).replace(str(reports), "the uploaded CSV")
            raise HTTPException(422, f"{message} (a CSV with a header row report_id,product,term is expected)") from None
        return result.to_dict()
