"""Provenance: what a run read and asked, and with which code, so an auditor can re-derive it.

During a run the stages append one JSON line per data request (``provenance/requests.jsonl``) and
per input file (``provenance/inputs.jsonl``). At the end the runner writes ``manifest.json`` from
them (`cer_lib.manifest`), with the code version and environment recorded here.

No URL is stored with a credential in it: every request is logged through `redact_url`, and the
HTTP client never puts the key in a URL in the first place.
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

from .redact import redact_url
from .runfolder.layout import INPUTS, MANIFEST, REQUESTS  # noqa: F401  (MANIFEST re-exported)
from .settings import PROJECT_ROOT


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(chunk):
            digest.update(block)
    return digest.hexdigest()


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
