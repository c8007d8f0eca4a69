"""The repository itself: layout, environment pins, stripped notebooks, Makefile targets."""
from __future__ import annotations

import json
import re
import subprocess
import tomllib

import yaml

from cer_lib.settings import PROJECT_ROOT

NOTEBOOKS = sorted((PROJECT_ROOT / "notebooks").glob("*.ipynb"))


def _lock_pins() -> dict[str, str]:
    text = (PROJECT_ROOT / "requirements.lock").read_text()
    return {m[0].lower(): m[1] for m in re.findall(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==(\S+)", text, re.MULTILINE)}


def test_top_level_is_the_design_card() -> None:
    tracked = subprocess.run(["git", "ls-files"], cwd=PROJECT_ROOT, capture_output=True, text=True, check=True).stdout.split()
    top = {path.split("/")[0] for path in tracked}
    expected = {"notebooks", "cer_lib", "parameters", "book", "outputs", "tests", "environment.yml", "Makefile",
                "README.md", "pyproject.toml", "requirements.lock", ".ci", ".gitignore",
                # deployment (issue 16): where Docker, Compose and GitHub look for them, and deploy/ for the rest
                "Dockerfile", ".dockerignore", "compose.yaml", ".env.example", ".github", "deploy"}
    assert top <= expected, f"unexpected top-level entries: {sorted(top - expected)}"


def test_environment_yml_carries_exactly_the_lock_pins() -> None:
    env = yaml.safe_load((PROJECT_ROOT / "environment.yml").read_text())
    pip_section = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict) and "pip" in d)
    conda_pins = {}
    for line in pip_section:
        if "==" in line:
            name, version = line.split("==")
            conda_pins[name.lower()] = version
    assert conda_pins == _lock_pins(), "environment.yml drifted from requirements.lock: run `make lock`"


def test_every_declared_dependency_is_pinned_in_the_lock() -> None:
    project = tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text())["project"]
    declared = project["dependencies"] + [d for extra in project["optional-dependencies"].values() for d in extra]
    pins = _lock_pins()
    for requirement in declared:
        name = re.match(r"[A-Za-z0-9._-]+", requirement)[0].lower()
        assert name in pins or name.replace("_", "-") in pins, f"{name} is declared in pyproject.toml but not pinned"


def test_stage_notebooks_are_committed_without_outputs_and_are_thin() -> None:
    assert [nb.stem for nb in NOTEBOOKS] == ["01_collect", "02_integrate", "03_analyze", "04_narrate", "05_report"]
    first_parameters = json.loads(NOTEBOOKS[0].read_text())["cells"][1]["source"]
    for path in NOTEBOOKS:
        nb = json.loads(path.read_text())
        assert nb["metadata"]["kernelspec"]["name"] == "cer-notebooks", path.name
        code = [c for c in nb["cells"] if c["cell_type"] == "code"]
        assert all(not c.get("outputs") and c.get("execution_count") is None for c in code), f"{path.name} has outputs"
        assert "parameters" in code[0]["metadata"].get("tags", []), f"{path.name}: first code cell must be the parameters cell"
        assert code[0]["source"] == first_parameters, f"{path.name}: the parameters cell differs from 01_collect's"
        assert f'stage="{path.stem}"' in "".join(code[1]["source"]), f"{path.name}: open_run names another stage"
        for cell in code[1:]:
            source = "".join(cell["source"])
            assert len(source.splitlines()) <= 12, f"{path.name}: a cell of {len(source.splitlines())} lines; move logic into cer_lib"
            assert not re.search(r"^\s*(def|class) ", source, re.MULTILINE), f"{path.name} defines functions; move them into cer_lib"


def test_make_help_lists_every_target() -> None:
    out = subprocess.run(["make", "-s", "help"], cwd=PROJECT_ROOT, capture_output=True, text=True, check=True).stdout
    for target in ("demo", "report", "batch", "lab", "book", "bench", "test", "clean", "doctor"):
        assert re.search(rf"^\s+{target}\s", out, re.MULTILINE), f"make help does not list {target}"


def test_make_clean_never_removes_outputs() -> None:
    recipe = subprocess.run(["make", "-n", "clean"], cwd=PROJECT_ROOT, capture_output=True, text=True, check=True).stdout
    assert "outputs" not in recipe.replace("-not -path './outputs/*'", "")
