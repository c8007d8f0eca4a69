"""The run folder a stage works in, and everything a stage needs to know about the run.

A stage notebook starts with ``ctx = open_run(run_dir, code=..., stage="01_collect")``. Under the
runner, ``run_dir`` is ``"."`` (papermill executes each notebook inside the run folder) and the
effective parameters are already saved there. In JupyterLab, an empty ``run_dir`` means a working
folder ``outputs/<CODE>/lab`` so a statistician can re-run any stage by hand.

Layout of a run folder::

    parameters.yaml      effective parameters
    run.json             what started the run (command, commit, start time), written by the runner
    provenance/          requests.jsonl, inputs.jsonl (appended by the stages)
    collected/           01_collect: status.json, resolution.json, records/*.jsonl, counts.jsonl
    tables/              02_integrate: tidy tables (*.parquet) and summary.json
    results/             03_analyze: analysis.json; 04_narrate: narrative.json
    figures/             03_analyze: *.png and *.svg
    0N_<stage>.ipynb     the executed notebooks
    cer.html, cer.pdf    05_report + assembly
    manifest.json        written last by the runner (`cer_lib.manifest`)
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from .codes import code_slug
from .params import Parameters, load_parameters, read_parameters, save_parameters
from .provenance import Provenance
from .settings import Settings

PARAMETERS_FILE = "parameters.yaml"
RUN_FILE = "run.json"
STATUS_FILE = "collected/status.json"
STAGES = ("01_collect", "02_integrate", "03_analyze", "04_narrate", "05_report")


@dataclass
class RunContext:
    run_dir: Path
    params: Parameters
    settings: Settings = field(default_factory=Settings.from_env)
    stage: str | None = None

    @property
    def provenance(self) -> Provenance:
        return Provenance(self.run_dir / "provenance")

    def folder(self, name: str) -> Path:
        path = self.run_dir / name
        path.mkdir(parents=True, exist_ok=True)
        return path

    @property
    def collected_dir(self) -> Path:
        return self.folder("collected")

    @property
    def tables_dir(self) -> Path:
        return self.folder("tables")

    @property
    def results_dir(self) -> Path:
        return self.folder("results")

    @property
    def figures_dir(self) -> Path:
        return self.folder("figures")

    @property
    def mirror_dir(self) -> Path:
        """The mirror folder for ``from: mirror`` (the demo mirror unless one is set)."""
        return Path(self.params.mirror) if self.params.mirror else self.settings.demo_mirror_dir

    @property
    def run_id(self) -> str:
        return self.run_dir.resolve().name.removeprefix(".tmp-")

    def __repr__(self) -> str:
        p = self.params
        return (f"run of {p.code} ({p.kind.value}) from {p.data_from}, data window {p.window.start} to {p.window.end}"
                + (f", stage {self.stage}" if self.stage else "") + f", folder {self.run_dir}")


def open_run(
    run_dir: str | Path = "",
    *,
    code: str = "HWC",
    kind: str = "product_code",
    data_from: str = "mirror",
    stage: str | None = None,
    settings: Settings | None = None,
) -> RunContext:
    """Context for a stage. Reads ``parameters.yaml`` from the run folder when it is there.

    With an empty ``run_dir`` (interactive use) the working folder is ``outputs/<CODE>/lab``; the
    first stage (re)writes its parameters from ``parameters/`` and the arguments given here.
    """
    settings = settings or Settings.from_env()
    if run_dir in ("", None):
        params = load_parameters(code, kind=kind, overrides={"from": data_from}).resolved()
        folder = settings.outputs_dir / code_slug(params.code, params.kind) / "lab"
        folder.mkdir(parents=True, exist_ok=True)
        saved = folder / PARAMETERS_FILE
        if stage == STAGES[0] or not saved.is_file():
            save_parameters(params, saved)
        return RunContext(folder, read_parameters(saved), settings, stage)
    folder = Path(run_dir)
    saved = folder / PARAMETERS_FILE
    if not saved.is_file():
        raise FileNotFoundError(f"{folder.resolve()} has no {PARAMETERS_FILE}: start the run with `cer report` or stage 01")
    return RunContext(folder, read_parameters(saved), settings, stage)
