"""``manifest.json``: what a run claims, a hash chain binding its files to the claims, and a signature.

The manifest (version 2) has three parts.

**Claims.** What the run states about itself. Most are *derived from files of the run* by
`derived_claims`, which the writer and `cer verify` both call, so a claim that disagrees with its file
is found: ``run_id``, ``code``, ``kind``, ``command``, ``started_utc``, ``code_version`` and ``tool`` from
``run.json``; ``parameters`` from ``parameters.yaml``; ``data`` (origin, synthetic, offline, each
source's ``last_updated``) from ``collected/status.json`` and, for a mirror run, ``data.mirror_load`` (rows
rejected per file and why) from ``collected/mirror_load.json``; ``requests`` and ``inputs`` from
``provenance/``. The runner adds ``finished_utc``, ``environment`` and ``stages`` (seconds per stage),
which no file repeats. ``outputs`` lists every file of the run folder but the manifest, with sha256
and size.

**Chain.** `RunChain` seals the run folder after each step (``start``: parameters.yaml and run.json;
then each stage; then ``assemble``). A link lists the files that appeared or changed in its step and
the paths that vanished, and its digest is ``sha256(previous digest ‖ canonical JSON of the link)``,
starting from ``sha256("cer-notebooks manifest chain v2")``. The ``root`` is
``sha256(last digest ‖ canonical JSON of the claims)``: one value that fixes every file hash, the
order the steps wrote them in, and every claim.

**Signature** (when ``CER_MANIFEST_KEY`` is set): HMAC-SHA256 of the root under that key.

What this proves is stated in `cer_lib.verify`.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .files import write_json_atomic
from .params import read_yaml_mapping
from .provenance import sha256_file
from .runfolder import RunFolder
from .runfolder.layout import COLLECT_STATUS, MANIFEST, PARAMETERS, RUN_RECORD
from .settings import Secret
from .sources.mirror.load_report import MirrorLoadReport

MANIFEST_VERSION = 2
CHAIN_SEED = hashlib.sha256(b"cer-notebooks manifest chain v2").hexdigest()
SIGNATURE_ALGORITHM = "HMAC-SHA256"
# claims copied from run.json, which the runner writes before the first stage
RUN_RECORD_CLAIMS = ("run_id", "code", "kind", "command", "started_utc", "code_version")
# parts of the manifest that are not claims
UNCLAIMED = ("chain", "signature")


def canonical_json(value: Any) -> bytes:
    """The one byte form of a JSON value that is hashed: sorted keys, no spaces, UTF-8."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str).encode("utf-8")


def link_digest(previous: str, link: dict[str, Any]) -> str:
    """``sha256(previous ‖ canonical JSON of the link's step, files and removed paths)``."""
    body = {"step": link["step"], "files": link["files"], "removed": link.get("removed", [])}
    return hashlib.sha256(previous.encode("ascii") + canonical_json(body)).hexdigest()


def chain_root(last_digest: str, claims: dict[str, Any]) -> str:
    """``sha256(last link digest ‖ canonical JSON of the claims)``."""
    return hashlib.sha256(last_digest.encode("ascii") + canonical_json(claims)).hexdigest()


def sign(root: str, key: Secret) -> str:
    """HMAC-SHA256 of ``root`` under ``key`` (hex)."""
    return hmac.new((key.reveal() or "").encode("utf-8"), root.encode("ascii"), hashlib.sha256).hexdigest()


def claims_of(manifest: dict[str, Any]) -> dict[str, Any]:
    """The manifest without its chain and signature: what the root binds."""
    return {k: v for k, v in manifest.items() if k not in UNCLAIMED}


def run_files(run_dir: Path) -> tuple[list[str], list[str]]:
    """``(regular files, symbolic links)`` under ``run_dir`` as sorted POSIX paths, the manifest left out.

    Symbolic links are not followed (a run writes none; one found is reported, never read through).
    """
    files, links = [], []
    for folder, dirs, names in os.walk(run_dir, followlinks=False):
        base = Path(folder)
        for name in [*names, *(d for d in dirs if (base / d).is_symlink())]:
            path = base / name
            rel = path.relative_to(run_dir).as_posix()
            if path.is_symlink():
                links.append(rel)
            elif path.is_file() and rel != MANIFEST:
                files.append(rel)
    return sorted(files), sorted(links)


@dataclass
class RunChain:
    """Seals a run folder step by step while it is written (see the module docstring)."""

    run_dir: Path
    links: list[dict[str, Any]] = field(default_factory=list)
    _state: dict[str, dict[str, Any]] = field(default_factory=dict)  # path -> {path, sha256, bytes}

    def seal(self, step: str) -> dict[str, Any]:
        """Hash every file; link what appeared or changed since the last seal; append and return the link."""
        files, _ = run_files(self.run_dir)
        changed = []
        for rel in files:
            entry = {"path": rel, "sha256": sha256_file(self.run_dir / rel), "bytes": (self.run_dir / rel).stat().st_size}
            if self._state.get(rel) != entry:
                changed.append(entry)
                self._state[rel] = entry
        removed = sorted(set(self._state) - set(files))
        for rel in removed:
            del self._state[rel]
        link = {"step": step, "files": changed, "removed": removed}
        link["digest"] = link_digest(self.links[-1]["digest"] if self.links else CHAIN_SEED, link)
        self.links.append(link)
        return link

    def outputs(self) -> list[dict[str, Any]]:
        """Every file as of the last seal: path, sha256, bytes."""
        return [self._state[rel] for rel in sorted(self._state)]


def state_after(links: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The files (path -> entry) a list of links leaves, applied in order."""
    state: dict[str, dict[str, Any]] = {}
    for link in links:
        for entry in link["files"]:
            state[entry["path"]] = entry
        for rel in link.get("removed", []):
            state.pop(rel, None)
    return state


def data_claims(status: dict[str, Any], mirror_load: "MirrorLoadReport | None" = None) -> dict[str, Any]:
    """The manifest's ``data`` section from ``collected/status.json`` (``{}`` when absent) and, for a
    run from the mirror, ``collected/mirror_load.json``: rows rejected and, per file that lost rows, how many and why."""
    sources = status.get("sources", {})
    return {
        "origin": status.get("origin"),
        "synthetic": status.get("synthetic", False),
        "offline": status.get("offline", False),
        "last_updated": {name: s.get("last_updated") for name, s in sources.items()},
        **({"mirror_load": mirror_load.summary()} if mirror_load is not None else {}),
    }


def _json_object(folder: RunFolder, name: str) -> dict[str, Any]:
    """A JSON object file of the run as written, or ``{}`` when it is absent or holds no object."""
    data = folder.read_json(name, missing_ok=True)
    return data if isinstance(data, dict) else {}


def derived_claims(run_dir: Path) -> dict[str, Any]:
    """The claims that files of the run determine (see the module docstring). Raises on unreadable files."""
    folder = RunFolder(run_dir)
    run = _json_object(folder, RUN_RECORD)
    prov = folder.provenance
    return {
        "tool": {"name": "cer-notebooks", "version": run.get("tool_version")},
        **{key: run.get(key) for key in RUN_RECORD_CLAIMS},
        "parameters": read_yaml_mapping(folder.file(PARAMETERS)),
        "data": data_claims(_json_object(folder, COLLECT_STATUS), folder.mirror_load()),
        "requests": prov.requests(),
        "inputs": prov.inputs(),
    }


def write_manifest(run_dir: Path, chain: RunChain, payload: dict[str, Any], *, key: Secret | None = None) -> Path:
    """Write ``manifest.json`` atomically: derived claims, ``payload``, outputs, chain, signature.

    ``chain`` must have sealed the folder after its last change; ``payload`` holds the claims no
    file repeats (``finished_utc``, ``environment``, ``stages``).
    """
    claims = {"manifest_version": MANIFEST_VERSION, **derived_claims(run_dir), **payload, "outputs": chain.outputs()}
    claims = json.loads(json.dumps(claims, default=str))  # as it will read back: tuples as lists, paths as text
    root = chain_root(chain.links[-1]["digest"] if chain.links else CHAIN_SEED, claims)
    manifest = {**claims, "chain": {"algorithm": "sha256", "links": chain.links, "root": root}}
    if key:
        manifest["signature"] = {"algorithm": SIGNATURE_ALGORITHM, "of": "chain.root", "value": sign(root, key)}
    target = run_dir / MANIFEST
    write_json_atomic(target, manifest)
    return target
