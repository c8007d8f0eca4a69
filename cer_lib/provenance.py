"""Provenance: what a run read, asked, wrote and with which code, so an auditor can re-derive it.

During a run the stages append one JSON line per data request (``provenance/requests.jsonl``) and
per input file (``provenance/inputs.jsonl``). At the end the runner writes ``manifest.json``:
effective parameters, code version, environment, requests, inputs, outputs (sha256 each) and
seconds per stage. `verify_run` re-hashes everything and lists what changed.

No URL is stored with an ``api_key`` in it: `redact_url` strips it, and the HTTP client never puts the
key in a URL it records in the first place.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import platform
import subprocess
import sys
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any, Iterable
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from .errors import VerifyError
from .files import write_json_atomic
from .runfolder.layout import INPUTS, MANIFEST, PROVENANCE, REQUESTS
from .settings import PROJECT_ROOT

SECRET_QUERY_KEYS = {"api_key", "apikey", "key", "token", "access_token"}


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def redact_url(url: str) -> str:
    """``url`` without credentials: secret query parameters and user:password are removed."""
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k.lower() not in SECRET_QUERY_KEYS]
    netloc = parts.netloc.rsplit("@", 1)[-1]
    return urlunsplit((parts.scheme, netloc, parts.path, urlencode(query, safe=":[]()+\"*,"), parts.fragment))


def utc_now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")


def display_path(path: Path) -> str:
    """Path relative to the project root when possible (``../shared/...`` stays readable), else absolute."""
    resolved = Path(path).resolve()
    try:
        return os.path.relpath(resolved, PROJECT_ROOT)
    except ValueError:
        return str(resolved)


def _append_jsonl(path: Path, record: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    line = (json.dumps(record, sort_keys=True, default=str) + "\n").encode("utf-8")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    try:
        os.write(fd, line)  # one write per line: safe across processes appending to the same file
    finally:
        os.close(fd)


def _read_jsonl(path: Path) -> list[dict[str, Any]]:
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


@dataclass(frozen=True)
class Provenance:
    """Append-only log of a run's data requests and input files (``<run>/provenance/``)."""

    folder: Path

    @property
    def requests_path(self) -> Path:
        return self.folder / Path(REQUESTS).name

    @property
    def inputs_path(self) -> Path:
        return self.folder / Path(INPUTS).name

    def record_request(
        self,
        *,
        source: str,
        url: str,
        status: int | None,
        n_bytes: int,
        sha256: str | None,
        last_updated: str | None = None,
        elapsed_seconds: float | None = None,
        from_cache: bool = False,
        error: str | None = None,
        stage: str | None = None,
    ) -> None:
        _append_jsonl(
            self.requests_path,
            {
                "source": source,
                "url": redact_url(url),
                "time": utc_now(),
                "status": status,
                "bytes": n_bytes,
                "sha256": sha256,
                "last_updated": last_updated,
                "elapsed_seconds": None if elapsed_seconds is None else round(elapsed_seconds, 3),
                "from_cache": from_cache,
                "error": error,
                "stage": stage,
            },
        )

    def record_input(self, path: Path, *, role: str) -> str:
        """Hash ``path`` (a file from outside the run that the run read) and log it; returns the sha256.

        Files inside the run folder are the run's own artifacts: the manifest hashes them as outputs,
        so they are not logged here (their paths change when the run folder is renamed).
        """
        digest = sha256_file(path)
        if Path(path).resolve().is_relative_to(self.folder.parent.resolve()):
            return digest
        _append_jsonl(
            self.inputs_path,
            {"path": display_path(path), "sha256": digest, "bytes": Path(path).stat().st_size, "role": role},
        )
        return digest

    def requests(self) -> list[dict[str, Any]]:
        return _read_jsonl(self.requests_path)

    def inputs(self) -> list[dict[str, Any]]:
        unique: dict[tuple[str, str], dict[str, Any]] = {}
        for record in _read_jsonl(self.inputs_path):
            unique[(record["path"], record["sha256"])] = record
        return sorted(unique.values(), key=lambda r: r["path"])


# ----------------------------------------------------------------------------------------------
# code version and environment


def git_version(root: Path = PROJECT_ROOT) -> dict[str, Any]:
    def git(*args: str) -> str | None:
        try:
            done = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, timeout=10)
        except (OSError, subprocess.TimeoutExpired):
            return None
        return done.stdout.strip() if done.returncode == 0 else None

    commit = git("rev-parse", "HEAD")
    status = git("status", "--porcelain", "--untracked-files=no")
    return {"git_commit": commit, "dirty": bool(status) if status is not None else None}


def lock_sha256(root: Path = PROJECT_ROOT) -> str | None:
    lock = root / "requirements.lock"
    return sha256_file(lock) if lock.is_file() else None


def environment_versions(packages: Iterable[str] | None = None) -> dict[str, Any]:
    """Python, platform and the installed version of every locked (or given) package."""
    if packages is None:
        from ._devtools import lock_pins

        lock = PROJECT_ROOT / "requirements.lock"
        packages = [pin.split("==")[0] for pin in lock_pins(lock.read_text())] if lock.is_file() else []
    versions: dict[str, str | None] = {}
    for name in sorted(set(packages), key=str.lower):
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return {
        "python": sys.version.split()[0],
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "packages": versions,
    }


# ----------------------------------------------------------------------------------------------
# manifest


def hash_outputs(run_dir: Path) -> list[dict[str, Any]]:
    """Every file in the run folder except the manifest itself, with size and sha256."""
    records = []
    for path in sorted(p for p in run_dir.rglob("*") if p.is_file() and p.name != MANIFEST):
        rel = path.relative_to(run_dir).as_posix()
        records.append({"path": rel, "sha256": sha256_file(path), "bytes": path.stat().st_size})
    return records


def write_manifest(run_dir: Path, payload: dict[str, Any]) -> Path:
    """Write ``manifest.json`` (payload plus requests, inputs and hashed outputs) atomically."""
    prov = Provenance(run_dir / PROVENANCE)
    manifest = {
        "manifest_version": 1,
        **payload,
        "requests": prov.requests(),
        "inputs": prov.inputs(),
        "outputs": hash_outputs(run_dir),
    }
    target = run_dir / MANIFEST
    write_json_atomic(target, manifest)
    return target


@dataclass(frozen=True)
class VerifyReport:
    checked: int
    problems: list[str]

    @property
    def ok(self) -> bool:
        return not self.problems


def verify_run(run_dir: Path) -> VerifyReport:
    """Re-hash every output and input listed in ``manifest.json``; list what changed, vanished or appeared."""
    run_dir = Path(run_dir)
    manifest_path = run_dir / MANIFEST
    if not manifest_path.is_file():
        raise VerifyError(f"{run_dir}: no {MANIFEST}; this is not a finished run folder")
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise VerifyError(f"{manifest_path}: not valid JSON ({exc})") from None
    problems: list[str] = []
    checked = 0
    listed = set()
    for record in manifest.get("outputs", []):
        listed.add(record["path"])
        path = run_dir / record["path"]
        checked += 1
        if not path.is_file():
            problems.append(f"output missing: {record['path']}")
        elif sha256_file(path) != record["sha256"]:
            problems.append(f"output changed: {record['path']}")
    for path in sorted(p for p in run_dir.rglob("*") if p.is_file() and p.name != MANIFEST):
        rel = path.relative_to(run_dir).as_posix()
        if rel not in listed:
            problems.append(f"output not in manifest: {rel}")
    for record in manifest.get("inputs", []):
        path = Path(record["path"])
        path = path if path.is_absolute() else PROJECT_ROOT / path
        checked += 1
        if not path.is_file():
            problems.append(f"input missing: {record['path']}")
        elif sha256_file(path) != record["sha256"]:
            problems.append(f"input changed: {record['path']}")
    return VerifyReport(checked=checked, problems=problems)
