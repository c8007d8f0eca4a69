"""The run folder: its layout, typed readers of what the stages write, and the runs of each code.

    RunFolder        one run: paths, typed readers (parameters, run record, collect status,
                     resolution, tables, analysis, narrative, manifest) and atomic writers
    CodeFolder       outputs/<CODE>/: the runs of one code, latest, previous; start, finish, fail
    Outputs          outputs/: the codes
    layout           every name a run folder holds (the only place that spells them)
"""
from . import layout
from .analysis import AnalysisFile
from .collected import CollectedInputs
from .folder import RunFolder
from .models import (
    CollectStatus,
    Comparator,
    IntegrateSummary,
    Manifest,
    NarrativeFile,
    NarrativeSection,
    Resolution,
    RunFileModel,
    RunRecord,
    TableSummary,
)
from .outputs import CodeFolder, Outputs, make_run_id, run_started

__all__ = [
    "AnalysisFile",
    "CodeFolder",
    "CollectStatus",
    "CollectedInputs",
    "Comparator",
    "IntegrateSummary",
    "Manifest",
    "NarrativeFile",
    "NarrativeSection",
    "Outputs",
    "Resolution",
    "RunFileModel",
    "RunFolder",
    "RunRecord",
    "TableSummary",
    "layout",
    "make_run_id",
    "run_started",
]
