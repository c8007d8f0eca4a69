"""`RunFolder`: one run's folder, the files each stage writes there, typed readers and atomic writers.

Readers return the models of `cer_lib.runfolder.models` and `cer_lib.runfolder.analysis`. A file
that is absent raises `RunFileMissing` naming the stage that writes it (``missing_ok=True`` returns
None instead, for files a run may lack, such as ``run.json`` in a JupyterLab working folder); a file
that is not what the project writes raises `RunFileInvalid` naming the file and the field. Writers
go through a temporary file and a rename, so a reader never sees half a file.
"""
from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any, TypeVar

import pandas as pd
from pydantic import BaseModel, ValidationError

from ..errors import RunFileInvalid, RunFileMissing, TablesNotFound
from ..files import write_bytes_atomic, write_json_atomic, write_text_atomic
from . import layout
from .analysis import AnalysisFile
from .models import CollectStatus, IntegrateSummary, Manifest, NarrativeFile, Resolution, RunRecord

if TYPE_CHECKING:
    from ..sources.mirror.load_report import MirrorLoadReport
    from ..params import Parameters
    from ..provenance import Provenance
    from .collected import CollectedInputs

__all__ = ["RunFolder"]

Model = TypeVar("Model", bound=BaseModel)

#: Which step writes each file: the hint of a `RunFileMissing`.
WRITTEN_BY = {
    layout.PARAMETERS: "start the run with `cer report` or stage 01 in JupyterLab",
    layout.RUN_RECORD: "written by the runner (`cer report`) before the first stage",
    layout.COLLECT_STATUS: "run stage 01_collect first",
    layout.RESOLUTION: "run stage 01_collect first",
    layout.INTEGRATE_SUMMARY: "run stage 02_integrate first",
    layout.ANALYSIS: "run stage 03_analyze first",
    layout.NARRATIVE: "run stage 04_narrate first",
    layout.MANIFEST: "this is not a finished run folder",
}


class RunFolder:
    """The folder of one run (finished, in progress, failed, or a JupyterLab working folder)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    @classmethod
    def of(cls, run: "RunFolder | Any") -> "RunFolder":
        """The run folder of a `RunFolder`, a stage's `RunContext` (its ``folder``) or a path."""
        if isinstance(run, RunFolder):
            return run
        folder = getattr(run, "folder", None)
        return folder if isinstance(folder, RunFolder) else cls(run)

    def __repr__(self) -> str:
        return f"RunFolder({str(self.path)!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, RunFolder) and self.path.resolve() == other.path.resolve()

    def __hash__(self) -> int:
        return hash(self.path.resolve())

    # -- identity ------------------------------------------------------------------------------

    @property
    def name(self) -> str:
        return self.path.resolve().name

    @property
    def run_id(self) -> str:
        """The run id, without the in-progress or failed prefix."""
        return self.name.removeprefix(layout.RUNNING_PREFIX).removeprefix(layout.FAILED_PREFIX)

    @property
    def state(self) -> str:
        """``running``, ``failed``, ``lab`` or ``finished``."""
        if self.name.startswith(layout.RUNNING_PREFIX):
            return "running"
        if self.name.startswith(layout.FAILED_PREFIX):
            return "failed"
        return "lab" if self.name == layout.LAB else "finished"

    # -- paths ---------------------------------------------------------------------------------

    def file(self, name: str) -> Path:
        """The path of the run file ``name`` (run-relative, POSIX), refusing any name that leads
        outside the run folder (absolute paths, ``..``, symbolic links that point out)."""
        relative = PurePosixPath(str(name))
        if not str(name) or relative.is_absolute() or ".." in relative.parts or "\\" in str(name):
            raise RunFileInvalid(f"{name!r} is not the name of a file inside a run folder")
        path = self.path.joinpath(*relative.parts)
        root = self.path.resolve()
        if path.exists() and not path.resolve().is_relative_to(root):
            raise RunFileInvalid(f"{name!r} leads outside the run folder {self.path}")
        return path

    def exists(self, name: str) -> bool:
        return self.file(name).is_file()

    def subfolder(self, name: str) -> Path:
        """A sub-folder of the run (``collected``, ``tables`` ...), created when absent."""
        path = self.file(name)
        path.mkdir(parents=True, exist_ok=True)
        return path

    @property
    def collected_dir(self) -> Path:
        return self.subfolder(layout.COLLECTED)

    @property
    def tables_dir(self) -> Path:
        return self.subfolder(layout.TABLES)

    @property
    def results_dir(self) -> Path:
        return self.subfolder(layout.RESULTS)

    @property
    def figures_dir(self) -> Path:
        return self.subfolder(layout.FIGURES)

    def table_path(self, name: str) -> Path:
        return self.file(layout.table(name))

    def notebook_path(self, stage: str) -> Path:
        return self.file(layout.notebook(stage))

    def relative(self, path: str | Path) -> str:
        """``path`` (inside the run) as the run-relative POSIX name the files cite."""
        return Path(path).resolve().relative_to(self.path.resolve()).as_posix()

    def files(self) -> list[str]:
        """Every file of the run, run-relative, sorted (the service lists and serves these)."""
        root = self.path.resolve()
        return sorted(p.relative_to(self.path).as_posix() for p in self.path.rglob("*")
                      if p.is_file() and p.resolve().is_relative_to(root))

    @property
    def provenance(self) -> "Provenance":
        """The append-only request and input logs (``provenance/``)."""
        from ..provenance import Provenance

        return Provenance(self.file(layout.PROVENANCE))

    def sha256(self, name: str) -> str | None:
        """sha256 of a run file, None when it is absent."""
        from ..provenance import sha256_file

        path = self.file(name)
        return sha256_file(path) if path.is_file() else None

    # -- reading -------------------------------------------------------------------------------

    def _missing(self, name: str) -> RunFileMissing:
        hint = WRITTEN_BY.get(name, "")
        return RunFileMissing(f"{self.file(name)} not found" + (f": {hint}" if hint else ""))

    def read_json(self, name: str, *, missing_ok: bool = False) -> Any:
        """The parsed JSON of a run file; `RunFileInvalid` when it is not JSON."""
        path = self.file(name)
        if not path.is_file():
            if missing_ok:
                return None
            raise self._missing(name)
        try:
            return json.loads(path.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise RunFileInvalid(f"{path}: not valid JSON ({exc})") from None

    def read_model(self, name: str, model: type[Model], *, missing_ok: bool = False) -> Model | None:
        """A run file parsed into ``model``; `RunFileInvalid` lists the fields that do not fit."""
        data = self.read_json(name, missing_ok=missing_ok)
        if data is None and missing_ok:
            return None
        try:
            return model.model_validate(data)
        except ValidationError as exc:
            raise RunFileInvalid(_describe(self.file(name), exc)) from None

    def parameters(self) -> "Parameters":
        """``parameters.yaml``: the run's effective parameters."""
        from ..params import read_parameters

        path = self.file(layout.PARAMETERS)
        if not path.is_file():
            raise self._missing(layout.PARAMETERS)
        return read_parameters(path)

    def run_record(self, *, missing_ok: bool = False) -> RunRecord | None:
        """``run.json`` (absent in a JupyterLab working folder: use ``missing_ok``)."""
        return self.read_model(layout.RUN_RECORD, RunRecord, missing_ok=missing_ok)

    def collect_status(self, *, missing_ok: bool = False) -> CollectStatus | None:
        """``collected/status.json``."""
        return self.read_model(layout.COLLECT_STATUS, CollectStatus, missing_ok=missing_ok)

    def mirror_load(self) -> "MirrorLoadReport | None":
        """``collected/mirror_load.json``: the mirror's load report (None for a run from the API)."""
        from ..sources.mirror.load_report import MirrorLoadReport

        data = self.read_json(layout.MIRROR_LOAD, missing_ok=True)
        return MirrorLoadReport.from_dict(data) if data is not None else None

    def resolution(self, model: type[Resolution] | None = None, *, missing_ok: bool = False) -> Resolution | None:
        """``collected/resolution.json``, in the model of the run's kind (its profile's) unless ``model`` is given."""
        if model is None:
            from ..profiles import profile_for

            model = profile_for(self.parameters().kind).resolution_model
        return self.read_model(layout.RESOLUTION, model, missing_ok=missing_ok)

    def collected(self, sources: Iterable[str], resolution_model: type[Resolution]) -> "CollectedInputs":
        """Everything in ``collected/``, read tolerantly: what cannot be read is a note, not an error."""
        from .collected import read_collected

        return read_collected(self, sources, resolution_model)

    def integrate_summary(self) -> IntegrateSummary:
        """``tables/summary.json``; `TablesNotFound` when stage 02 did not finish."""
        if not self.exists(layout.INTEGRATE_SUMMARY):
            raise TablesNotFound(f"{self.file(layout.TABLES)} has no summary.json: run stage 02_integrate first")
        summary = self.read_model(layout.INTEGRATE_SUMMARY, IntegrateSummary)
        assert summary is not None
        return summary

    def tables(self, names: Iterable[str] | None = None) -> dict[str, pd.DataFrame]:
        """The tidy tables (``names``, or every table of the summary), each checked against its schema
        (`TableSchemaError` when one fails)."""
        from ..tables.schemas import TABLE_NAMES, TABLES, validate_table

        summary = self.integrate_summary()  # raises TablesNotFound when stage 02 did not finish
        loaded = {}
        for name in list(names) if names is not None else list(summary.tables):
            if name not in TABLES:
                raise KeyError(f"unknown table {name!r}; tables are {', '.join(TABLE_NAMES)}")
            path = self.table_path(name)
            if not path.is_file():
                raise TablesNotFound(f"{path} is missing: re-run stage 02_integrate")
            loaded[name] = validate_table(name, pd.read_parquet(path))
        return loaded

    def analysis(self, *, missing_ok: bool = False) -> AnalysisFile | None:
        """``results/analysis.json``."""
        return self.read_model(layout.ANALYSIS, AnalysisFile, missing_ok=missing_ok)

    def narrative(self) -> NarrativeFile:
        """``results/narrative.json``."""
        narrative = self.read_model(layout.NARRATIVE, NarrativeFile)
        assert narrative is not None
        return narrative

    def manifest(self) -> Manifest:
        """``manifest.json`` (only a finished run has one)."""
        manifest = self.read_model(layout.MANIFEST, Manifest)
        assert manifest is not None
        return manifest

    def requests(self) -> list[dict[str, Any]]:
        """The data requests the run made (``provenance/requests.jsonl``), in order."""
        return self.provenance.requests()

    def inputs(self) -> list[dict[str, Any]]:
        """The files from outside the run it read (``provenance/inputs.jsonl``), once each."""
        return self.provenance.inputs()

    def unknown_fields(self) -> dict[str, list[str]]:
        """Per JSON file of the run, the fields no model declares (empty when the models know the shape)."""
        found = {}
        for name, read in ((layout.RUN_RECORD, self.run_record), (layout.COLLECT_STATUS, self.collect_status),
                           (layout.RESOLUTION, self.resolution), (layout.ANALYSIS, self.analysis)):
            model = read(missing_ok=True)
            if model is not None and model.unknown_fields():
                found[name] = model.unknown_fields()
        for name, model in ((layout.INTEGRATE_SUMMARY, IntegrateSummary), (layout.NARRATIVE, NarrativeFile),
                            (layout.MANIFEST, Manifest)):
            parsed = self.read_model(name, model, missing_ok=True)
            if parsed is not None and parsed.unknown_fields():
                found[name] = parsed.unknown_fields()
        return found

    # -- writing -------------------------------------------------------------------------------

    def remove(self, name: str) -> None:
        """Delete a run file if present (a stage removes its completion marker before it starts)."""
        self.file(name).unlink(missing_ok=True)

    def write_parameters(self, params: "Parameters") -> Path:
        from ..params import save_parameters

        path = self.file(layout.PARAMETERS)
        save_parameters(params, path)
        return path

    def write_run_record(self, record: RunRecord) -> Path:
        return self.write_json(layout.RUN_RECORD, record.model_dump(mode="json"))

    def write_collected(self, *, records: dict[str, list[Any]], counts: list[Any], totals: list[Any],
                        resolution: Resolution, status: CollectStatus) -> None:
        """Everything stage 01 collected; ``status.json`` last (a ``collected/`` without it is unfinished)."""
        for source, rows in records.items():
            write_text_atomic(self.file(layout.records(source)), _jsonl(rows))
        write_text_atomic(self.file(layout.COUNTS), _jsonl(counts))
        write_text_atomic(self.file(layout.TOTALS), _jsonl(totals))
        self.write_json(layout.RESOLUTION, resolution.model_dump(mode="json"))
        self.write_json(layout.COLLECT_STATUS, status.model_dump(mode="json"))

    def write_mirror_load(self, report: "MirrorLoadReport") -> Path:
        """``collected/mirror_load.json`` (written by stage 01 even when a refused file stops it)."""
        return self.write_json(layout.MIRROR_LOAD, report.as_dict())

    def write_table(self, name: str, frame: pd.DataFrame) -> Path:
        """One tidy table as Parquet, written under a temporary name and renamed into place."""
        path = self.table_path(name)
        write_bytes_atomic(path, lambda tmp: frame.to_parquet(tmp, index=False))
        return path

    def write_integrate_summary(self, summary: IntegrateSummary) -> Path:
        """``tables/summary.json``: written last by stage 02 (a folder with it holds a complete set of tables)."""
        return self.write_json(layout.INTEGRATE_SUMMARY, summary.to_json())

    def write_analysis(self, data: dict[str, Any]) -> Path:
        """``results/analysis.json``; refused (`RunFileInvalid`) when it does not fit `AnalysisFile`."""
        return self._write_checked(layout.ANALYSIS, data, AnalysisFile, allow_nan=False)

    def write_narrative(self, data: dict[str, Any]) -> Path:
        return self._write_checked(layout.NARRATIVE, data, NarrativeFile)

    def _write_checked(self, name: str, data: dict[str, Any], model: type[BaseModel], *, allow_nan: bool = True) -> Path:
        try:
            model.model_validate(data)
        except ValidationError as exc:
            raise RunFileInvalid(_describe(self.file(name), exc)) from None
        return self.write_json(name, data, allow_nan=allow_nan)

    def write_json(self, name: str, data: Any, *, allow_nan: bool = True) -> Path:
        """Any JSON file of the run by its layout name (e.g. ``layout.CHANGES``), atomically."""
        path = self.file(name)
        write_json_atomic(path, data, allow_nan=allow_nan)
        return path


def _jsonl(rows: Iterable[Any]) -> str:
    return "".join(json.dumps(r, ensure_ascii=False, default=str) + "\n" for r in rows)


def _describe(path: Path, exc: ValidationError) -> str:
    problems = [f"{'.'.join(str(p) for p in err['loc']) or '(top level)'}: {err['msg']}" for err in exc.errors()[:8]]
    return f"{path}: not the shape this version writes ({'; '.join(problems)})"
