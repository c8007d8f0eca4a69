"""What a stage needs to know about its run: the folder, the parameters, the settings and the profile.

A stage notebook starts with ``ctx = open_run(run_dir, code=..., stage="01_collect")``. Under the
runner, ``run_dir`` is ``"."`` (papermill executes each notebook inside the run folder) and the
effective parameters are already saved there. In JupyterLab, an empty ``run_dir`` means the code's
working folder (``outputs/<CODE>/lab``) so a statistician can re-run any stage by hand: seeded from the
code's latest run, with its own ``parameters.yaml`` that no stage overwrites.

The folder's layout and its typed readers are `cer_lib.runfolder.RunFolder`'s; what differs by kind
of code is the run's `profile`, looked up once from the parameters.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

from .params import Parameters, load_parameters
from .provenance import Provenance, display_path
from .runfolder import Outputs, RunFolder, layout
from .settings import Settings

if TYPE_CHECKING:
    from .profiles import Profile


@dataclass
class RunContext:
    run_dir: Path
    params: Parameters
    settings: Settings = field(default_factory=Settings.from_env)
    stage: str | None = None

    @property
    def folder(self) -> RunFolder:
        """The run folder: paths and typed readers and writers of every stage's files."""
        return RunFolder(self.run_dir)

    @cached_property
    def profile(self) -> "Profile":
        """What differs by kind of code (`cer_lib.profiles`); refuses a kind that has no profile."""
        from .profiles import profile_of

        return profile_of(self.params)

    @property
    def provenance(self) -> Provenance:
        return self.folder.provenance

    @property
    def collected_dir(self) -> Path:
        return self.folder.collected_dir

    @property
    def tables_dir(self) -> Path:
        return self.folder.tables_dir

    @property
    def results_dir(self) -> Path:
        return self.folder.results_dir

    @property
    def figures_dir(self) -> Path:
        return self.folder.figures_dir

    @property
    def mirror_dir(self) -> Path:
        """The mirror folder for ``from: mirror`` (the demo mirror unless one is set)."""
        return Path(self.params.mirror) if self.params.mirror else self.settings.demo_mirror_dir

    @property
    def run_id(self) -> str:
        return self.folder.run_id

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
    """Context for a stage. Reads the effective parameters from the run folder when they are there.

    With an empty ``run_dir`` (interactive use) the working folder is the code's ``lab`` folder. When it
    lacks what the stage needs from earlier stages, those files are copied from the code's latest run
    (`CodeFolder.seed_lab`). Its ``parameters.yaml`` is written from ``parameters/`` and the arguments
    given here only when absent: the statistician's edits there are kept by every stage.
    """
    settings = settings or Settings.from_env()
    if run_dir in ("", None):
        params = load_parameters(code, kind=kind, overrides={"from": data_from}).resolved()
        codes = Outputs(settings.outputs_dir).code_folder(params.code, params.kind)
        lab = codes.lab()
        seeded = codes.seed_lab(stage) if stage else None
        if seeded is not None:
            print(f"lab: the earlier stages' files copied from run {seeded.run_id} ({display_path(seeded.path)})")
        if not lab.exists(layout.PARAMETERS):
            lab.write_parameters(params)
        print(f"lab: parameters from {display_path(lab.file(layout.PARAMETERS))}: edit a method setting there "
              "(e.g. methods.trend.alpha); every stage run here reads it, and no stage overwrites it")
        return RunContext(lab.path, lab.parameters(), settings, stage)
    folder = RunFolder(run_dir)
    return RunContext(folder.path, folder.parameters(), settings, stage)
