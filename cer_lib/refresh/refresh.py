"""Refresh a code: check whether its data changed, rebuild its report only then, tell the subscribers.

`refresh_code` for one code (a `RefreshTarget`, such as a schedule entry: code, source, mirror name, subscriptions):

1. The parameters are loaded and checked exactly as for ``cer report``.
2. Unless ``force``: the latest finished run's data fingerprint (`recorded_fingerprint`) is compared
   with what the sources hold now (`current_fingerprint`: file hashes, or one small openFDA request
   per source). Nothing differs: the outcome is **no change**, recorded in the code's refresh log
   (``outputs/<CODE>/_refresh.jsonl``), and nothing else happens: no run, no notification.
3. Otherwise the report is built by `run_report` (the same runner as ``cer report``; its
   ``changes.json`` says what changed against the previous run), and every subscription that wants
   one of the kinds of change found is notified (`cer_lib.refresh.notify.deliver`: retried, logged,
   never raising). The outcome, the run and each delivery go into the refresh log.

`refresh_codes` refreshes several (every scheduled code when none is named); a failing code is
recorded and the others go on.
"""
from __future__ import annotations

import datetime as dt
import json
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ..errors import CerError
from ..params import load_parameters
from ..pipeline import preflight, run_report
from ..runfolder import CodeFolder, Outputs, RunFolder, layout
from ..settings import Settings
from .changes import change_headline
from .fingerprint import current_fingerprint, data_differences, recorded_fingerprint
from .notify import Notification, Notifier, NotifySettings, deliver, default_notifiers
from .schedules import RefreshTarget, Schedules, load_schedules

__all__ = ["RefreshOutcome", "refresh_code", "refresh_codes"]

log = logging.getLogger("cer.refresh")

REBUILT, NO_CHANGE, FAILED = "rebuilt", "no change", "failed"
Progress = Callable[[str], None]
MirrorResolver = Callable[[str | None], Path | None]


@dataclass
class RefreshOutcome:
    """What a refresh of one code did."""

    code: str
    outcome: str  # rebuilt, no change, failed
    detail: str
    checked_utc: str
    seconds: float = 0.0
    previous_run_id: str | None = None
    run_id: str | None = None
    differences: list[str] = field(default_factory=list)
    kinds: list[str] = field(default_factory=list)
    forced: bool = False
    notified: list[dict[str, Any]] = field(default_factory=list)

    def line(self) -> str:
        """One line for a terminal."""
        sent = sum(1 for d in self.notified if d["ok"])
        failed = len(self.notified) - sent
        tell = f"; notified {sent}" + (f", {failed} delivery failed (see the log)" if failed else "") if self.notified else ""
        return f"{self.code}: {self.outcome}: {self.detail}{tell}"


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


def _shown(settings: Settings, path: Path) -> str:
    try:
        return f"{layout.OUTPUTS}/{path.resolve().relative_to(settings.outputs_dir.resolve()).as_posix()}"
    except ValueError:
        return str(path)


def refresh_code(entry: RefreshTarget, *, settings: Settings, mirror_folder: MirrorResolver, force: bool = False,
                 notify_settings: NotifySettings | None = None, notifiers: dict[str, Notifier] | None = None,
                 progress: Progress = lambda _: None, command: Sequence[str] | None = None) -> RefreshOutcome:
    """Refresh one code; return the outcome (also appended to the code's refresh log). Raises `CerError`
    for bad input only (an unknown code, bad parameters), before anything is checked or built."""
    started = time.perf_counter()
    overrides: dict[str, Any] = {"from": entry.data_from} if entry.data_from else {}
    folder = mirror_folder(entry.mirror) if (entry.data_from == "mirror") else None
    if folder is not None:
        overrides["mirror"] = str(folder)
    params = load_parameters(entry.code, kind=entry.kind, overrides=overrides).resolved()
    preflight(params, settings)
    code = Outputs(settings.outputs_dir).code_folder(params.code, params.kind)
    latest = code.latest()
    outcome = RefreshOutcome(params.code, FAILED, "", _now(), previous_run_id=latest.run_id if latest else None,
                             forced=force)
    try:
        if latest is not None and not force:
            before = recorded_fingerprint(latest)
            if before is not None:
                outcome.differences = data_differences(before, current_fingerprint(before, params, settings))
                if not outcome.differences:
                    outcome.outcome = NO_CHANGE
                    outcome.detail = f"data unchanged since run {latest.run_id}"
                    return _finish(code, outcome, started)
        progress(f"{params.code}: " + ("forced rebuild" if force else "; ".join(outcome.differences) or "first report"))
        result = run_report(entry.code, kind=entry.kind, overrides=overrides, settings=settings, progress=progress,
                            command=command)
    except CerError as exc:
        outcome.detail = str(exc).splitlines()[0]
        log.error("refresh of %s failed: %s", params.code, outcome.detail)
        return _finish(code, outcome, started)
    run = RunFolder(result.run_dir)
    changes = run.read_json(layout.CHANGES, missing_ok=True) or {}
    outcome.outcome, outcome.run_id = REBUILT, run.run_id
    outcome.kinds = list(changes.get("kinds", []))
    outcome.detail = f"{_shown(settings, run.path)} ({change_headline(run) or 'changes not recorded'})"
    if entry.notify:
        notify_settings = notify_settings or NotifySettings()
        notification = _notification(code, run, changes, notify_settings)
        deliveries = deliver(notification, entry.notify, notifiers or default_notifiers(notify_settings), notify_settings)
        outcome.notified = [asdict(d) for d in deliveries]
    return _finish(code, outcome, started)


def _notification(code: CodeFolder, run: RunFolder, changes: dict[str, Any], settings: NotifySettings) -> Notification:
    base = f"{settings.public_url.rstrip('/')}/v1/codes/{code.slug}/runs/{run.run_id}"
    links = {"report": f"{base}/files/{layout.REPORT_HTML}", "pdf": f"{base}/files/{layout.REPORT_PDF}",
             "changes": f"{base}/files/{layout.CHANGES}"}
    record = run.run_record(missing_ok=True)
    return Notification(code=record.code if record else code.slug, folder=code.slug, run_id=run.run_id,
                        previous_run_id=changes.get("previous_run_id"), kinds=tuple(changes.get("kinds", [])),
                        summary=tuple(changes.get("summary", [])), links=links, changes=changes)


def _finish(code: CodeFolder, outcome: RefreshOutcome, started: float) -> RefreshOutcome:
    outcome.seconds = round(time.perf_counter() - started, 2)
    code.path.mkdir(parents=True, exist_ok=True)
    with open(code.refresh_log, "a", encoding="utf-8") as handle:
        handle.write(json.dumps(asdict(outcome), ensure_ascii=False) + "\n")
    log.info("refresh %s", outcome.line())
    return outcome


def refresh_codes(codes: Sequence[str] = (), *, settings: Settings, mirror_folder: MirrorResolver,
                  schedules: Schedules | None = None, data_from: str | None = None, force: bool = False,
                  progress: Progress = lambda _: None, **options: Any) -> list[RefreshOutcome]:
    """Refresh the codes named (with their schedule entry's options and subscriptions when scheduled),
    or every scheduled code; ``data_from`` overrides each entry's source. A code that fails is recorded
    and the others go on."""
    schedules = schedules if schedules is not None else load_schedules()
    entries: list[RefreshTarget] = list(schedules.schedules) if not codes else [
        schedules.find(code) or RefreshTarget(code=code) for code in codes]
    outcomes = []
    for entry in entries:
        if data_from:
            entry = entry.model_copy(update={"data_from": data_from, "mirror": entry.mirror if data_from == "mirror" else None})
        try:
            outcomes.append(refresh_code(entry, settings=settings, mirror_folder=mirror_folder, force=force,
                                         progress=progress, **options))
        except CerError as exc:
            outcomes.append(RefreshOutcome(entry.code, FAILED, str(exc).splitlines()[0], _now(), forced=force))
    return outcomes
