"""What changed since the previous report of a code: ``changes.json``, from two runs' files.

`RunSnapshot.of(run)` reads what the comparison needs from a finished (or in-progress) run folder:
its ``results/analysis.json``, the keys of its recall and enforcement tables, its parameters, its
code version and its data fingerprint. `summarise_changes(previous, current)` is a pure function of
two snapshots; it compares

- **signals**: (problem type, comparator product, term) pairs flagged by the primary screen now and
  not before (new), and before but not now (closed);
- **change points**: months found now that the previous run did not find;
- **trend verdicts**: the primary verdict and each event type's verdict, where they differ;
- **recalls and enforcement reports**: recall keys and recall numbers absent from the previous run;
- **reports by event type**: the number of reports in each run's window, per event type, and the
  difference (the runs' windows are stated, since a moved window changes counts too);
- **parameters and code version**: every parameter path whose value differs, and the commit, lock
  file, tool version or uncommitted state that differ: what could explain a difference;
- **data**: what the data fingerprints say changed (`cer_lib.refresh.fingerprint`).

``kinds`` lists the kinds of change found (`CHANGE_KINDS`), which notification subscriptions filter on;
``summary`` says each in one sentence. `record_changes` writes the file into a run in progress (the
runner calls it after stage 03, so the narrative and the book can show it).
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ..errors import CerError
from ..runfolder import AnalysisFile, RunFolder, layout
from .fingerprint import Fingerprint, data_differences, recorded_fingerprint

__all__ = ["CHANGE_KINDS", "RunSnapshot", "change_headline", "record_changes", "summarise_changes"]

SCHEMA_VERSION = 1

#: Every kind of change, in the order the summary lists them (subscriptions name these).
CHANGE_KINDS = ("new_signal", "closed_signal", "new_change_point", "trend_verdict", "new_recall",
                "new_enforcement", "report_counts", "data", "parameters", "code_version")
CODE_VERSION_FIELDS = ("git_commit", "dirty", "lock_sha256", "tool_version")


@dataclass(frozen=True)
class RunSnapshot:
    """What a change summary compares of one run."""

    run_id: str
    analysis: AnalysisFile
    recall_keys: frozenset[str] = frozenset()
    enforcement_numbers: frozenset[str] = frozenset()
    parameters: Mapping[str, Any] = field(default_factory=dict)
    code_version: Mapping[str, Any] = field(default_factory=dict)
    fingerprint: Fingerprint | None = None

    @classmethod
    def of(cls, run: RunFolder) -> "RunSnapshot":
        """Read a run's analysis, recall and enforcement keys, parameters, code version and fingerprint."""
        analysis = run.analysis()
        assert analysis is not None
        tables = run.tables([name for name in ("recalls", "enforcement") if run.exists(layout.table(name))])
        recalls = tables.get("recalls")
        enforcement = tables.get("enforcement")
        record = run.run_record(missing_ok=True)
        version = record.code_version.model_dump(mode="json") if record else {}
        version["tool_version"] = record.tool_version if record else None
        return cls(
            run_id=run.run_id,
            analysis=analysis,
            recall_keys=frozenset(recalls["recall_key"].dropna()) if recalls is not None else frozenset(),
            enforcement_numbers=frozenset(enforcement["recall_number"].dropna()) if enforcement is not None else frozenset(),
            parameters=run.parameters().to_yaml_dict(),
            code_version=version,
            fingerprint=recorded_fingerprint(run),
        )


def _flagged(analysis: AnalysisFile) -> dict[tuple[str, str, str], Any]:
    return {(r.problem_type or "", r.product or "", r.term or ""): r for r in analysis.signals.rows if r.signal}


def _signal(key: tuple[str, str, str]) -> dict[str, str]:
    return {"problem_type": key[0], "product": key[1], "term": key[2]}


def signal_changes(previous: AnalysisFile, current: AnalysisFile) -> dict[str, list[dict[str, str]]]:
    """Pairs flagged by the primary screen now and not before (``new``), before and not now (``closed``)."""
    before, now = _flagged(previous), _flagged(current)
    return {"new": [_signal(k) for k in sorted(set(now) - set(before))],
            "closed": [_signal(k) for k in sorted(set(before) - set(now))]}


def new_change_points(previous: AnalysisFile, current: AnalysisFile) -> list[dict[str, Any]]:
    """Change points (by month) found now that the previous run did not find."""
    before = {p.date for p in previous.change_points or []}
    return [{"date": p.date.isoformat() if p.date else None, "rate_before": p.rate_before, "rate_after": p.rate_after}
            for p in current.change_points or [] if p.date not in before]


def _verdicts(analysis: AnalysisFile) -> dict[str, str | None]:
    verdicts = {"primary": analysis.trend.primary.verdict or analysis.trend.verdict.verdict}
    verdicts.update({event_type: t.verdict.verdict for event_type, t in analysis.trend.by_event_type.items()})
    return verdicts


def trend_verdict_changes(previous: AnalysisFile, current: AnalysisFile) -> list[dict[str, Any]]:
    """The primary trend verdict and each event type's, where the two runs differ."""
    before, now = _verdicts(previous), _verdicts(current)
    return [{"test": test, "before": before.get(test), "after": now.get(test)}
            for test in sorted(set(before) | set(now), key=lambda t: (t != "primary", t))
            if before.get(test) != now.get(test)]


def report_counts(previous: AnalysisFile, current: AnalysisFile) -> list[dict[str, Any]]:
    """Reports in each run's window per event type (``all`` first), with the difference, where either has any."""
    before, now = previous.monthly_counts.totals, current.monthly_counts.totals
    types = sorted(set(before) | set(now), key=lambda t: (t != "all", t))
    return [{"event_type": t, "previous": before.get(t, 0), "current": now.get(t, 0),
             "difference": now.get(t, 0) - before.get(t, 0)} for t in types if before.get(t) or now.get(t)]


def _flatten(mapping: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in mapping.items():
        path = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(_flatten(value, path + "."))
        else:
            flat[path] = value
    return flat


def parameter_differences(previous: Mapping[str, Any], current: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Every parameter path (``window.end``, ``methods.trend.alpha``) whose value differs."""
    before, now = _flatten(previous), _flatten(current)
    return [{"path": path, "previous": before.get(path), "current": now.get(path)}
            for path in sorted(set(before) | set(now)) if before.get(path) != now.get(path)]


def code_version_differences(previous: Mapping[str, Any], current: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Commit, uncommitted state, lock file hash and tool version, where they differ."""
    return [{"field": name, "previous": previous.get(name), "current": current.get(name)}
            for name in CODE_VERSION_FIELDS if previous.get(name) != current.get(name)]


def _sentences(c: dict[str, Any]) -> list[str]:
    said = []
    for s in c["signals"]["new"]:
        said.append(f"New signal: {s['term']} ({s['problem_type']} problem) against {s['product']}.")
    for s in c["signals"]["closed"]:
        said.append(f"Signal closed: {s['term']} ({s['problem_type']} problem) against {s['product']}.")
    for p in c["change_points"]["new"]:
        said.append(f"New change point in {p['date'][:7] if p['date'] else 'an unknown month'}.")
    for v in c["trend_verdicts"]:
        said.append(f"Trend verdict ({v['test']}) changed from {v['before'] or 'none'} to {v['after'] or 'none'}.")
    if c["recalls"]["new"]:
        said.append(f"{len(c['recalls']['new'])} new recall(s): {', '.join(c['recalls']['new'])}.")
    if c["enforcement"]["new"]:
        said.append(f"{len(c['enforcement']['new'])} new enforcement report(s): {', '.join(c['enforcement']['new'])}.")
    moved = [r for r in c["report_counts"] if r["difference"]]
    if moved:
        said.append("Reports by event type: " + "; ".join(
            f"{r['event_type']} {r['previous']} -> {r['current']} ({r['difference']:+d})" for r in moved) + ".")
    if c["data"]:
        said.append("Data: " + "; ".join(c["data"]) + ".")
    if c["parameters"]:
        said.append("Parameters changed: " + ", ".join(p["path"] for p in c["parameters"]) + ".")
    if c["code_version"]:
        said.append("Code version changed: " + ", ".join(v["field"] for v in c["code_version"]) + ".")
    return said


def summarise_changes(previous: RunSnapshot | None, current: RunSnapshot) -> dict[str, Any]:
    """The change summary of ``current`` against ``previous`` (None: the code's first report)."""
    if previous is None:
        return {"schema_version": SCHEMA_VERSION, "run_id": current.run_id, "previous_run_id": None,
                "first_report": True, "kinds": [], "summary": ["This is the first report of this code."]}
    p, c = previous.analysis, current.analysis
    changes: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "run_id": current.run_id,
        "previous_run_id": previous.run_id,
        "first_report": False,
        "windows": {"previous": {"start": _iso(p.meta.window.start), "end": _iso(p.meta.window.end), "as_of": _iso(p.meta.as_of)},
                    "current": {"start": _iso(c.meta.window.start), "end": _iso(c.meta.window.end), "as_of": _iso(c.meta.as_of)}},
        "signals": signal_changes(p, c),
        "change_points": {"new": new_change_points(p, c)},
        "trend_verdicts": trend_verdict_changes(p, c),
        "recalls": {"new": sorted(current.recall_keys - previous.recall_keys)},
        "enforcement": {"new": sorted(current.enforcement_numbers - previous.enforcement_numbers)},
        "report_counts": report_counts(p, c),
        "data": data_differences(previous.fingerprint, current.fingerprint),
        "parameters": parameter_differences(previous.parameters, current.parameters),
        "code_version": code_version_differences(previous.code_version, current.code_version),
    }
    found = {
        "new_signal": changes["signals"]["new"], "closed_signal": changes["signals"]["closed"],
        "new_change_point": changes["change_points"]["new"], "trend_verdict": changes["trend_verdicts"],
        "new_recall": changes["recalls"]["new"], "new_enforcement": changes["enforcement"]["new"],
        "report_counts": [r for r in changes["report_counts"] if r["difference"]], "data": changes["data"],
        "parameters": changes["parameters"], "code_version": changes["code_version"],
    }
    changes["kinds"] = [kind for kind in CHANGE_KINDS if found[kind]]
    changes["summary"] = _sentences(changes) or ["Nothing changed since the previous report."]
    return changes


def _iso(value: Any) -> str | None:
    return value.isoformat() if value is not None else None


def record_changes(run: RunFolder, previous: RunFolder | None) -> dict[str, Any]:
    """Write ``changes.json`` into ``run`` (after its stage 03) against ``previous``; return it.

    A run this version cannot read (another schema, a damaged or missing file) is said in the summary
    instead of stopping the report.
    """
    try:
        changes = summarise_changes(RunSnapshot.of(previous) if previous is not None else None, RunSnapshot.of(run))
    except CerError as exc:
        problem = str(exc).splitlines()[0]
        changes = {"schema_version": SCHEMA_VERSION, "run_id": run.run_id,
                   "previous_run_id": previous.run_id if previous is not None else None,
                   "first_report": previous is None, "kinds": [], "error": problem,
                   "summary": [f"This run could not be compared with the previous one: {problem}"]}
    run.write_json(layout.CHANGES, changes, allow_nan=False)
    return changes


KIND_WORDS = {"new_signal": "new signal", "closed_signal": "signal closed", "new_change_point": "new change point",
              "trend_verdict": "trend verdict", "new_recall": "new recall", "new_enforcement": "new enforcement report",
              "report_counts": "report counts", "data": "data", "parameters": "parameters", "code_version": "code version"}


def change_headline(run: RunFolder) -> str | None:
    """A few words on what changed in ``run`` against the previous run (None when it recorded nothing)."""
    try:
        changes = run.read_json(layout.CHANGES, missing_ok=True)
    except CerError:
        return None
    if not isinstance(changes, dict):
        return None
    if changes.get("first_report"):
        return "first report"
    if changes.get("error"):
        return "not compared"
    kinds = [KIND_WORDS.get(k, k) for k in changes.get("kinds", [])]
    return ", ".join(kinds) if kinds else "no change"
