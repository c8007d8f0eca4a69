"""``cer doctor``: one table that says whether this machine can make a report, and in which mode.

Each row is ok, info or FAIL. A row fails only when the chosen mode needs it: being offline is
plainly reported, and is not an error when a mirror is used. Without a chosen mode, the table ends
with the readiness of each mode and the exit status says whether at least one is ready.
"""
from __future__ import annotations

import os
import shutil
import sys
import tempfile
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from .settings import PROJECT_ROOT, Settings

KEY_PACKAGES = ("pandas", "statsmodels", "ruptures", "seaborn", "duckdb", "papermill", "nbconvert", "weasyprint", "jupyter-book")


MODES = ("api", "mirror")


@dataclass
class Check:
    name: str
    status: str  # ok | info | FAIL
    detail: str
    needed_for: tuple[str, ...] = MODES  # the modes that cannot work without it
    passed: bool = True


def _writable(folder: Path) -> tuple[bool, str]:
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder):
            pass
        return True, str(folder)
    except OSError as exc:
        return False, f"{folder}: {exc.strerror or exc}"


def _reachable(url: str, timeout: float = 5.0) -> tuple[bool, str]:
    import requests

    try:
        response = requests.get(url, timeout=timeout)
    except requests.RequestException as exc:
        reason = type(exc).__name__
        if isinstance(exc, requests.ConnectionError):
            reason = "no connection (offline, DNS or firewall)"
        elif isinstance(exc, requests.Timeout):
            reason = f"no answer within {timeout:.0f} s"
        return False, f"unreachable: {reason}"
    return response.status_code < 500, f"reachable (HTTP {response.status_code})"


def _lock_drift() -> tuple[int, list[str]]:
    from ._devtools import lock_pins

    lock = PROJECT_ROOT / "requirements.lock"
    if not lock.is_file():
        return 0, ["requirements.lock missing"]
    pins = lock_pins(lock.read_text())
    drift = []
    for pin in pins:
        name, version = pin.split("==")
        try:
            installed = metadata.version(name)
        except metadata.PackageNotFoundError:
            drift.append(f"{name} missing")
            continue
        if installed != version:
            drift.append(f"{name} {installed} (lock {version})")
    return len(pins), drift


def _abandoned_runs(outputs_dir: Path) -> Check:
    """In-progress run folders left by runs that died (`CodeFolder.abandoned`): reported, never a failure."""
    from .runfolder import Outputs

    abandoned = Outputs(outputs_dir).abandoned_runs()
    if not abandoned:
        return Check("interrupted runs", "ok", "no in-progress folder left by a run that died")
    shown = ", ".join(str(run.path.relative_to(outputs_dir)) for run in abandoned[:3])
    more = f" and {len(abandoned) - 3} more" if len(abandoned) > 3 else ""
    return Check("interrupted runs", "info", f"{len(abandoned)} in-progress folder(s) of runs that died: {shown}{more}; "
                 "`cer clean-runs` keeps them as .failed-<id> (--delete removes them)", needed_for=())


def mirror_readiness(folder: Path) -> tuple[bool, str]:
    """Whether a mirror can serve a run: every file read as a query would read it (`Mirror.check`),
    none refused; the detail names each refused file with its line and reason."""
    from .errors import MirrorError
    from .sources.mirror import Mirror
    from .sources.mirror.formats.foiclass import find_classification_file

    try:
        report = Mirror(folder).check()
    except MirrorError as exc:
        return False, str(exc)
    loaded = [f for f in report.files if f.status == "loaded"]
    detail = f"{folder}: {len(loaded)} files read, {sum(f.rows_kept for f in loaded):,} rows"
    if report.rows_rejected:
        detail += f", {report.rows_rejected:,} rejected (listed in the load report)"
    detail += "; classification file " + ("found" if find_classification_file(folder) else "MISSING")
    if report.refused:
        detail += "; REFUSED: " + "; ".join(f"{f.path}: {f.refused}" for f in report.refused)
    return not report.refused, detail


def collect_checks(data_from: str | None, mirror: str | None, settings: Settings | None = None) -> list[Check]:
    """All checks; a failed check is FAIL when the chosen mode (or, with none chosen, every mode) needs it."""
    settings = settings or Settings.from_env()
    checks: list[Check] = []
    chosen = (data_from,) if data_from else MODES

    def add(name: str, ok: bool, detail: str, needed_for: tuple[str, ...] = MODES) -> None:
        failing = not ok and all(mode in needed_for for mode in chosen)
        checks.append(Check(name, "ok" if ok else ("FAIL" if failing else "info"), detail, needed_for, ok))

    add("python", sys.version_info >= (3, 11), sys.version.split()[0])
    n_pins, drift = _lock_drift()
    add("packages", not drift, f"{n_pins - len(drift)}/{n_pins} match requirements.lock" + (f"; differ: {', '.join(drift[:4])}" if drift else ""))
    versions = []
    for name in KEY_PACKAGES:
        try:
            versions.append(f"{name} {metadata.version(name)}")
        except metadata.PackageNotFoundError:
            versions.append(f"{name} MISSING")
    add("key packages", not any("MISSING" in v for v in versions), ", ".join(versions))
    try:
        from jupyter_client.kernelspec import find_kernel_specs

        specs = find_kernel_specs()
        add("jupyter kernel", "cer-notebooks" in specs, "cer-notebooks registered" if "cer-notebooks" in specs else "cer-notebooks not registered: run `make venv`")
    except Exception as exc:  # noqa: BLE001 - any failure here means no kernel
        add("jupyter kernel", False, f"cannot list kernels: {exc}")
    for label, folder in (("outputs writable", settings.outputs_dir), ("cache writable", settings.cache_dir)):
        ok, detail = _writable(folder)
        add(label, ok, detail)
    checks.append(_abandoned_runs(settings.outputs_dir))
    try:
        import weasyprint  # noqa: F401

        add("pdf engine", True, f"WeasyPrint {metadata.version('weasyprint')}")
    except Exception as exc:  # noqa: BLE001 - missing system libraries surface as OSError
        add("pdf engine", False, f"WeasyPrint unusable: {exc}")

    api_ok, api_detail = _reachable(f"{settings.openfda_base_url}/device/classification.json?limit=1")
    add("openFDA", api_ok, f"{settings.openfda_base_url}: {api_detail}" + ("; fine with a mirror (FROM=mirror)" if not api_ok and data_from != "api" else ""), needed_for=("api",))
    eu_ok, eu_detail = _reachable(f"{settings.eudamed_base_url}/devices/udiDiData?page=0&pageSize=1&size=1&iso2Code=en&languageIso2Code=en")
    add("Eudamed", eu_ok, f"{settings.eudamed_base_url}: {eu_detail} (optional: the report says when it was unavailable)", needed_for=())
    key = "set (never shown or stored)" if settings.openfda_api_key else "not set: 1,000 requests/day per IP; set OPENFDA_API_KEY for 120,000"
    checks.append(Check("openFDA API key", "info" if not settings.openfda_api_key else "ok", key))

    if mirror:
        folder = Path(mirror)
        if folder.is_dir():
            ok, detail = mirror_readiness(folder)
        else:
            ok, detail = False, f"{folder}: not found"
        add("mirror", ok, detail, needed_for=("mirror",))
    else:
        folder = settings.demo_mirror_dir
        if folder.is_dir():
            ok, detail = mirror_readiness(folder)
            add("mirror", ok, f"demo mirror {detail}", needed_for=("mirror",))
        else:
            checks.append(Check("mirror", "info", f"demo mirror not built yet; `make demo` builds it in {folder}"))
    real = settings.realdata_dir
    checks.append(Check("real data", "ok" if real.is_dir() else "info",
                        f"{real} found: demo uses real FDA data" if real.is_dir() else f"{real} absent: demo uses a small synthetic sample"))
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    checks.append(Check("chromium", "ok" if chromium else "info", chromium or "not installed: browser tests need `apt-get install chromium`"))
    return checks


def format_table(checks: list[Check]) -> str:
    width = max(len(c.name) for c in checks)
    lines = [f"{'check':<{width}}  status  detail", f"{'-' * width}  ------  ------"]
    lines += [f"{c.name:<{width}}  {c.status:<6}  {c.detail}" for c in checks]
    return "\n".join(lines)


def ready_modes(checks: list[Check]) -> dict[str, list[str]]:
    """For each mode, the names of the failed checks it needs (empty: ready)."""
    return {mode: [c.name for c in checks if not c.passed and mode in c.needed_for] for mode in MODES}


def run_doctor(data_from: str | None = None, mirror: str | None = None) -> int:
    checks = collect_checks(data_from, mirror or os.environ.get("MIRROR") or None)
    print(f"cer doctor ({'mode: from ' + data_from if data_from else 'all modes'})\n")
    print(format_table(checks))
    print()
    readiness = ready_modes(checks)
    for mode in (data_from,) if data_from else MODES:
        missing = readiness[mode]
        print(f"from {mode}: " + (f"NOT READY ({', '.join(missing)})" if missing else "ready"))
    ready = [mode for mode in MODES if not readiness[mode]]
    return 0 if (data_from in ready if data_from else ready) else 1
