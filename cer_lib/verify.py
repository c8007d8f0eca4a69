"""``cer verify``: check a finished run folder against its manifest, and the manifest against itself.

Checks, each failure one line in `VerifyReport.problems`:

1. **Shape.** The manifest is a version-2 manifest whose entries have the fields they need. An entry
   without a path, or whose path leaves the run folder (absolute, ``..``, through a symbolic link), is
   reported and never read.
2. **Files.** Every output is re-hashed (changed, missing, or present but not listed); every input
   file outside the run (mirror files) is re-hashed; symbolic links in the run folder are reported.
3. **Claims.** The claims that files of the run determine (`cer_lib.manifest.derived_claims`: run
   record, parameters, collect status, request and input logs) are recomputed from those files and
   must be equal.
4. **Chain.** Each link's digest is recomputed from the previous digest and the hashes it lists; the
   outputs must be what the links leave; the root is recomputed over the last digest and the claims.
5. **Signature.** With a key (``CER_MANIFEST_KEY``), the HMAC of the root must match; a manifest
   without a signature then fails (the signature may have been stripped). Without a key a signature
   is reported as not checked.
6. **Root**, when the caller gives one recorded elsewhere (``cer verify --root``): must be equal.

What this proves. Without a key, a run that verifies is *consistent*: its files are the ones the
manifest hashes, each claim agrees with the file it comes from, and all hashes are bound, in the
order the steps wrote them, into one root. An edit to a file, to its manifest entry, to a claim or to
a link is found unless the editor also rewrites every dependent value: the file's entry in
``outputs`` and in its link, that link's digest and every later one, the root, and for a claim the
file it comes from. That is what the chain makes necessary. It cannot make it impossible: anyone
with this code can recompute all of them, so without a key ``cer verify`` cannot tell an original run
from a consistent forgery. Two things can: a root recorded somewhere the editor cannot reach (a
ticket, a signed e-mail; compare with ``--root``), or the HMAC signature, which needs the key the run
was written with.
"""
from __future__ import annotations

import hmac
import json
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from .errors import CerError, VerifyError, excerpt, shorten
from .manifest import (
    CHAIN_SEED, MANIFEST, MANIFEST_VERSION, SIGNATURE_ALGORITHM, chain_root, claims_of, derived_claims,
    link_digest, run_files, sign, state_after,
)
from .provenance import sha256_file
from .settings import PROJECT_ROOT, Secret

HEX64 = r"^[0-9a-f]{64}$"
MAX_MANIFEST_BYTES = 64 * 1024 * 1024
MAX_SHAPE_PROBLEMS = 20


class _Entry(BaseModel):
    model_config = ConfigDict(extra="allow")


class FileEntry(_Entry):
    path: str = Field(min_length=1)
    sha256: str = Field(pattern=HEX64)
    bytes: int = Field(ge=0)


class Link(_Entry):
    step: str
    files: list[FileEntry]
    removed: list[str] = []
    digest: str = Field(pattern=HEX64)


class Chain(_Entry):
    algorithm: Literal["sha256"]
    links: list[Link]
    root: str = Field(pattern=HEX64)


class Signature(_Entry):
    algorithm: Literal["HMAC-SHA256"]
    value: str = Field(pattern=HEX64)


class ManifestShape(_Entry):
    """The parts of a manifest that verification relies on; other claims are free-form."""

    manifest_version: int
    outputs: list[FileEntry]
    inputs: list[FileEntry]
    requests: list[dict[str, Any]]
    chain: Chain
    signature: Signature | None = None


@dataclass
class VerifyReport:
    """The outcome: files re-hashed, problems found, the root recomputed and what the signature said."""

    checked: int = 0
    problems: list[str] = field(default_factory=list)
    root: str | None = None
    signature: str = "absent"  # absent | valid | not checked (no CER_MANIFEST_KEY)

    @property
    def ok(self) -> bool:
        return not self.problems


def verify_run(run_dir: Path, *, key: Secret | None = None, expected_root: str | None = None) -> VerifyReport:
    """Verify ``run_dir`` (see the module docstring). Raises `VerifyError` only when there is no
    manifest to verify; everything else is a line in the report's problems."""
    run_dir = Path(run_dir)
    manifest = _read_manifest(run_dir)
    report = VerifyReport()
    try:
        shape = ManifestShape.model_validate(manifest)
    except ValidationError as exc:
        report.problems += _shape_problems(exc)
        return report
    if shape.manifest_version != MANIFEST_VERSION:
        report.problems.append(f"manifest version {shape.manifest_version}: only version {MANIFEST_VERSION} binds its "
                               f"claims and files into a hash chain; this run cannot be verified (run the report again)")
        return report
    outside = _entries_outside(run_dir, shape)
    report.problems += outside
    if not outside:
        _check_outputs(run_dir, shape, report)
    _check_inputs(shape, report)
    _check_claims(run_dir, manifest, report)
    _check_chain(manifest, shape, report)
    _check_signature(shape, key, report)
    if expected_root is not None and report.root != expected_root.strip().lower():
        report.problems.append(f"the chain root is {report.root}, not the root recorded elsewhere ({shorten(expected_root, 80)})")
    return report


def _read_manifest(run_dir: Path) -> dict[str, Any]:
    path = run_dir / MANIFEST
    if not path.is_file() or path.is_symlink():
        raise VerifyError(f"{run_dir}: no {MANIFEST}; this is not a finished run folder")
    if path.stat().st_size > MAX_MANIFEST_BYTES:
        raise VerifyError(f"{path}: larger than {MAX_MANIFEST_BYTES >> 20} MB; not a manifest this tool wrote")
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise VerifyError(f"{path}: not valid JSON ({exc})") from None
    if not isinstance(manifest, dict):
        raise VerifyError(f"{path}: not a JSON object")
    return manifest


def _shape_problems(exc: ValidationError) -> list[str]:
    problems = []
    for err in exc.errors()[:MAX_SHAPE_PROBLEMS]:
        where = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in err["loc"]).lstrip(".")
        if err["type"] == "missing":
            problems.append(f"manifest entry {where or '(top level)'} is missing")
        else:
            problems.append(f"manifest entry {where}: {err['msg']} (got {excerpt(err.get('input'))})")
    if len(exc.errors()) > MAX_SHAPE_PROBLEMS:
        problems.append(f"… and {len(exc.errors()) - MAX_SHAPE_PROBLEMS:,} more malformed manifest entries")
    return problems


def inside_run(run_dir: Path, rel: str) -> bool:
    """Whether ``rel`` names a path inside ``run_dir``: relative, no ``..``, no symbolic link on the way."""
    pure = PurePosixPath(rel)
    if pure.is_absolute() or "\\" in rel or "\x00" in rel or any(part in ("..", "") for part in rel.split("/")):
        return False
    path = run_dir
    for part in pure.parts:
        path = path / part
        if path.is_symlink():
            return False
    return True


def _entries_outside(run_dir: Path, shape: ManifestShape) -> list[str]:
    named = [(f"outputs[{i}]", e.path) for i, e in enumerate(shape.outputs)]
    for n, link in enumerate(shape.chain.links):
        named += [(f"chain.links[{n}].files[{i}]", e.path) for i, e in enumerate(link.files)]
        named += [(f"chain.links[{n}].removed[{i}]", rel) for i, rel in enumerate(link.removed)]
    return [f"manifest entry {where} names {excerpt(rel)}, which is outside the run folder: not read"
            for where, rel in named if not inside_run(run_dir, rel)]


def _check_outputs(run_dir: Path, shape: ManifestShape, report: VerifyReport) -> None:
    files, links = run_files(run_dir)
    for rel in links:
        report.problems.append(f"symbolic link in the run folder: {rel} (not followed)")
    listed = set()
    for entry in shape.outputs:
        listed.add(entry.path)
        path = run_dir / entry.path
        report.checked += 1
        if not path.is_file():
            report.problems.append(f"output missing: {entry.path}")
        elif sha256_file(path) != entry.sha256:
            report.problems.append(f"output changed: {entry.path}")
    report.problems += [f"output not in manifest: {rel}" for rel in files if rel not in listed]


def _check_inputs(shape: ManifestShape, report: VerifyReport) -> None:
    """Input files live outside the run (mirror files): paths are relative to the project or absolute."""
    for entry in shape.inputs:
        path = Path(entry.path)
        path = path if path.is_absolute() else PROJECT_ROOT / path
        report.checked += 1
        try:
            same = sha256_file(path) == entry.sha256 if path.is_file() else None
        except OSError as exc:
            report.problems.append(f"input unreadable: {entry.path} ({exc.strerror})")
            continue
        if same is None:
            report.problems.append(f"input missing: {entry.path}")
        elif not same:
            report.problems.append(f"input changed: {entry.path}")


def _check_claims(run_dir: Path, manifest: dict[str, Any], report: VerifyReport) -> None:
    """Each claim that a file of the run determines must equal what that file says now."""
    try:
        derived = json.loads(json.dumps(derived_claims(run_dir), default=str))
    except (CerError, OSError, ValueError) as exc:
        report.problems.append(f"the files the manifest's claims come from cannot be read: {shorten(str(exc), 200)}")
        return
    for name, actual in derived.items():
        claimed = manifest.get(name)
        if claimed != actual:
            report.problems.append(f"manifest claim {name!r} does not match the run's files: {_difference(claimed, actual)}")


def _difference(claimed: Any, actual: Any, where: str = "") -> str:
    """The first place two JSON values differ, said briefly."""
    if isinstance(claimed, dict) and isinstance(actual, dict):
        for key in sorted(set(claimed) | set(actual), key=str):
            if claimed.get(key) != actual.get(key):
                return _difference(claimed.get(key), actual.get(key), f"{where}.{key}")
    if isinstance(claimed, list) and isinstance(actual, list):
        if len(claimed) != len(actual):
            return f"{where or 'the list'} has {len(claimed)} entries in the manifest, {len(actual)} in the files"
        for i, (a, b) in enumerate(zip(claimed, actual)):
            if a != b:
                return _difference(a, b, f"{where}[{i}]")
    return f"{where.lstrip('.') or 'value'} is {excerpt(claimed)} in the manifest, {excerpt(actual)} in the files"


def _check_chain(manifest: dict[str, Any], shape: ManifestShape, report: VerifyReport) -> None:
    links = [link.model_dump(include={"step", "files", "removed"}) for link in shape.chain.links]
    previous = CHAIN_SEED
    for n, (link, recorded) in enumerate(zip(links, shape.chain.links)):
        digest = link_digest(previous, link)
        if digest != recorded.digest:
            report.problems.append(f"hash chain broken at link {n} (step {excerpt(recorded.step)}): its digest does not "
                                   f"follow from the previous one and the hashes it lists")
        previous = recorded.digest
    expected_outputs = [state_after(links)[rel] for rel in sorted(state_after(links))]
    if [e.model_dump(include={"path", "sha256", "bytes"}) for e in shape.outputs] != expected_outputs:
        report.problems.append("the outputs list is not what the hash chain's links leave: an entry was edited, added or removed")
    report.root = chain_root(previous, claims_of(manifest))
    if report.root != shape.chain.root:
        report.problems.append("the chain root does not match the manifest's claims: a claim was edited after the run")


def _check_signature(shape: ManifestShape, key: Secret | None, report: VerifyReport) -> None:
    if not key:
        report.signature = "not checked (set CER_MANIFEST_KEY)" if shape.signature else "absent"
        return
    if shape.signature is None:
        report.signature = "absent"
        report.problems.append("CER_MANIFEST_KEY is set but the manifest is not signed: it was written without a key, "
                               "or its signature was removed")
    elif report.root is None or not hmac.compare_digest(sign(report.root, key), shape.signature.value):
        report.signature = "invalid"
        report.problems.append(f"the {SIGNATURE_ALGORITHM} signature does not match: the manifest was changed after it "
                               f"was signed, or CER_MANIFEST_KEY is not the key it was signed with")
    else:
        report.signature = "valid"
