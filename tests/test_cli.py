"""The command line and the Makefile: bad input fails fast and loses nothing; doctor tells the truth."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from cer_lib.settings import PROJECT_ROOT


def _run(args: list[str], tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    environment = {**os.environ, "CER_OUTPUTS_DIR": str(tmp_path / "outputs"), "CER_CACHE_DIR": str(tmp_path / "cache"), **env}
    return subprocess.run(args, cwd=PROJECT_ROOT, env=environment, capture_output=True, text=True, timeout=120)


def _finished_runs(outputs: Path) -> list[Path]:
    return [p for p in outputs.rglob("*") if p.is_dir() and not p.name.startswith(".") and (p / "manifest.json").exists()]


@pytest.mark.parametrize(
    ("code", "message"),
    [
        ("NOPE", "'NOPE' is not a valid product code: expected exactly three letters"),
        ("../../etc", "It contains '..', '/'"),
        ("A+OR+B", "'+OR+'"),
        ('HWC" OR "1', "'\"'"),
    ],
)
def test_bad_codes_fail_fast_with_a_message_and_create_nothing(code: str, message: str, tmp_path: Path) -> None:
    started = time.perf_counter()
    done = _run([sys.executable, "-m", "cer_lib", "report", code, "--from", "mirror"], tmp_path)
    assert done.returncode == 2, done.stderr
    assert time.perf_counter() - started < 15
    assert message in done.stderr and "Traceback" not in done.stderr
    assert not (tmp_path / "outputs").exists() or not any((tmp_path / "outputs").iterdir())


@pytest.mark.realdata
def test_unknown_product_code_is_checked_against_the_classification_file(tmp_path: Path) -> None:
    done = _run([sys.executable, "-m", "cer_lib", "report", "HWZ", "--from", "mirror"], tmp_path)
    assert done.returncode == 2
    assert "'HWZ' is not an FDA product code in the classification file foiclass.txt (7,039 codes)" in done.stderr
    assert "Close matches: " in done.stderr and "HWC" in done.stderr
    assert not _finished_runs(tmp_path / "outputs")


@pytest.mark.parametrize("code", ["NOPE", "../../etc"])
def test_make_report_refuses_bad_codes(code: str, tmp_path: Path) -> None:
    done = _run(["make", "-s", "report", f"CODE={code}"], tmp_path)
    assert done.returncode != 0
    assert repr(code) in done.stderr
    assert not _finished_runs(tmp_path / "outputs")


@pytest.mark.parametrize("template", ["HWC; touch {marker}", "`touch {marker}`", "HWC\" ; touch {marker} ; \""])
def test_make_passes_hostile_values_as_arguments_not_shell(template: str, tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    done = _run(["make", "-s", "report", "CODE=" + template.format(marker=marker), "KIND=product_code"], tmp_path)
    assert done.returncode != 0 and not marker.exists()
    assert "is not a valid product code" in done.stderr and "refused" in done.stderr


@pytest.mark.parametrize(
    ("target", "variables", "reached"),
    [
        ("report", {"CODE": "$(shell touch {marker})HWC"}, "'$(shell touch {marker})HWC' is not a valid product code"),
        ("batch", {"CODES": "HWC$(shell touch {marker})"}, "'HWC$(shell' is not a valid product code"),
        ("report", {"CODE": "HWC", "KIND": "$(shell touch {marker})"}, "argument --kind: invalid choice: '$(shell touch {marker})'"),
        ("report", {"CODE": "HWC", "FROM": "$(shell touch {marker})"}, "argument --from: invalid choice: '$(shell touch {marker})'"),
        ("report", {"CODE": "HWC", "FROM": "mirror", "MIRROR": "$(shell touch {marker})"},
         "/$(shell touch {marker}) does not exist"),
        ("doctor", {"MIRROR": "$(shell touch {marker})"}, "$(shell touch {marker}): not found"),
    ],
    ids=["CODE", "CODES", "KIND", "FROM", "MIRROR", "doctor MIRROR"],
)
def test_make_variables_reach_the_cli_as_typed_never_as_make_syntax(target: str, variables: dict[str, str], reached: str,
                                                                     tmp_path: Path) -> None:
    """Make expands a command-line variable's value when it exports it: ``$(shell …)`` would run."""
    with tempfile.TemporaryDirectory(prefix="mk") as short:  # a short path: messages quote at most 60 characters
        marker = Path(short) / "pwned"
        assignments = [f"{name}={value.format(marker=marker)}" for name, value in variables.items()]
        done = _run(["make", "-s", target, *assignments], tmp_path, OPENFDA_BASE_URL="http://127.0.0.1:9")
        assert not marker.exists(), "make ran the shell command in a variable's value"
    assert reached.format(marker=marker) in done.stdout + done.stderr  # the value reached the CLI unexpanded
    assert done.returncode != 0 and not _finished_runs(tmp_path / "outputs")


def test_make_variables_from_the_environment_are_data_too(tmp_path: Path) -> None:
    with tempfile.TemporaryDirectory(prefix="mk") as short:
        marker = Path(short) / "pwned"
        done = _run(["make", "-s", "report"], tmp_path, CODE=f"$(shell touch {marker})HWC")
        assert not marker.exists()
    assert f"'$(shell touch {marker})HWC' is not a valid product code" in done.stderr and done.returncode != 0


@pytest.mark.parametrize(("target", "variable"), [("report", "CODE"), ("batch", "CODES")])
def test_make_passes_a_code_that_looks_like_an_option_as_a_code(target: str, variable: str, tmp_path: Path) -> None:
    done = _run(["make", "-s", target, f"{variable}=-h"], tmp_path)
    assert "usage:" not in done.stdout + done.stderr
    assert "'-h' is not a valid product code" in done.stdout + done.stderr and done.returncode != 0


def test_set_cannot_replace_the_code_given_on_the_command_line(tmp_path: Path) -> None:
    done = _run([sys.executable, "-m", "cer_lib", "report", "HWC", "--set", "code=LZG", "--from", "mirror"], tmp_path)
    assert done.returncode == 2 and "an override cannot replace it (got code='LZG')" in done.stderr
    assert not (tmp_path / "outputs").exists()


@pytest.mark.parametrize(
    ("assignment", "message"),
    [
        ("http.timeout_seconds=.inf", "http.timeout_seconds: Input should be a finite number (got inf)"),
        ("window.end=9999-12-31", "window.end: 9999-12-31 is in the future"),
        ("window.end=2015-02-30", "window.end: Input should be a valid date or datetime, day value is outside expected range"),
        ("methods.review_sample_size=true", "methods.review_sample_size: Input should be a valid integer (got True)"),
        ("sources.maude=1", "sources.maude: Input should be a valid boolean (got 1)"),
        ("methods.forecast.model=" + "x" * 100_000, "(got 'xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx… (100,002 characters))"),
    ],
    ids=["infinite", "far future", "no such day", "boolean as number", "number as boolean", "long value"],
)
def test_bad_parameter_values_fail_before_any_stage_with_a_short_message(assignment: str, message: str, tmp_path: Path) -> None:
    started = time.perf_counter()
    done = _run([sys.executable, "-m", "cer_lib", "report", "HWC", "--from", "mirror", "--set", assignment], tmp_path)
    assert done.returncode == 2 and message in done.stderr and "Traceback" not in done.stderr, done.stderr[-2000:]
    assert len(done.stderr) < 1000 and time.perf_counter() - started < 15
    assert not (tmp_path / "outputs").exists()


@pytest.mark.realdata
def test_an_unknown_drug_fails_fast_with_close_matches(realdata: Path, tmp_path: Path) -> None:
    """Drug reports are built now (issue 13; this test said "not built yet" before): a name the FAERS
    files do not hold stops in collect, before any table, with the closest names they do hold."""
    quarter = realdata / "faers" / "faers_ascii_2017q2"
    done = _run([sys.executable, "-m", "cer_lib", "report", "Risperdl", "--kind", "drug", "--from", "mirror",
                 "--mirror", str(quarter)], tmp_path)
    assert done.returncode == 2, done.stdout[-2000:] + done.stderr[-2000:]
    assert "'Risperdl' (normalised 'RISPERDL') is not a drug name or active ingredient" in done.stderr
    assert "Close matches: RISPERDAL" in done.stderr and "Traceback" not in done.stderr


def test_doctor_reports_offline_plainly_and_is_not_an_error_with_a_mirror(tmp_path: Path) -> None:
    closed = {"OPENFDA_BASE_URL": "http://127.0.0.1:9", "EUDAMED_BASE_URL": "http://127.0.0.1:9"}
    mirror_mode = _run([sys.executable, "-m", "cer_lib", "doctor", "--from", "mirror"], tmp_path, **closed)
    assert "openFDA" in mirror_mode.stdout and "unreachable" in mirror_mode.stdout
    assert "fine with a mirror" in mirror_mode.stdout and "from mirror: ready" in mirror_mode.stdout
    for check in ("python", "packages", "jupyter kernel", "outputs writable", "cache writable", "Eudamed", "mirror"):
        assert check in mirror_mode.stdout
    assert mirror_mode.returncode == 0, mirror_mode.stdout
    api_mode = _run([sys.executable, "-m", "cer_lib", "doctor", "--from", "api"], tmp_path, **closed)
    assert api_mode.returncode == 1 and "from api: NOT READY (openFDA)" in api_mode.stdout
    assert "FAIL" in next(line for line in api_mode.stdout.splitlines() if line.startswith("openFDA "))
    both = _run([sys.executable, "-m", "cer_lib", "doctor"], tmp_path, **closed)
    assert "from api: NOT READY (openFDA)" in both.stdout and "from mirror: ready" in both.stdout
    assert both.returncode == 0  # one mode works


def test_verify_of_a_folder_that_is_not_a_run(tmp_path: Path) -> None:
    done = _run([sys.executable, "-m", "cer_lib", "verify", str(tmp_path)], tmp_path)
    assert done.returncode == 2 and "not a finished run folder" in done.stderr


def test_verify_reports_a_manifest_entry_outside_the_run_without_a_traceback(tmp_path: Path) -> None:
    run = tmp_path / "run"
    run.mkdir()
    manifest = {"manifest_version": 2, "requests": [], "inputs": [],
                "outputs": [{"sha256": "0" * 64, "bytes": 1}, {"path": "../../etc/passwd", "sha256": "0" * 64, "bytes": 1}],
                "chain": {"algorithm": "sha256", "links": [], "root": "0" * 64}}
    (run / "manifest.json").write_text(json.dumps(manifest))
    done = _run([sys.executable, "-m", "cer_lib", "verify", str(run)], tmp_path)
    assert done.returncode == 1 and "Traceback" not in done.stdout + done.stderr
    assert "manifest entry outputs[0].path is missing" in done.stdout
    manifest["outputs"].pop(0)
    (run / "manifest.json").write_text(json.dumps(manifest))
    done = _run([sys.executable, "-m", "cer_lib", "verify", str(run)], tmp_path)
    assert done.returncode == 1 and "Traceback" not in done.stdout + done.stderr
    assert "manifest entry outputs[0] names '../../etc/passwd', which is outside the run folder: not read" in done.stdout


def test_signals_command_writes_the_documented_columns(tmp_path: Path) -> None:
    reports = tmp_path / "reports.csv"
    lines = ["report_id,product,term"] + [f"r{i},{'A' if i % 3 else 'B'},{'rash' if i % 4 == 0 else 'nausea'}" for i in range(60)]
    reports.write_text("\n".join(lines) + "\n")
    out = tmp_path / "signals.csv"
    done = _run([sys.executable, "-m", "cer_lib", "signals", "--reports", str(reports), "--out", str(out)], tmp_path)
    assert done.returncode == 0, done.stderr
    header = out.read_text().splitlines()[0].split(",")
    assert header[:19] == "product,term,a,b,c,d,E,PRR,PRR_lo,PRR_hi,chi2_yates,ROR,ROR_lo,ROR_hi,IC,IC025,EBGM,EB05,EB95".split(",")
    missing = _run([sys.executable, "-m", "cer_lib", "signals", "--reports", str(out), "--out", str(tmp_path / "x.csv")], tmp_path)
    assert missing.returncode == 2 and "report_id" in missing.stderr
