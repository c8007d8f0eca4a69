"""The run folder's layout: every name a run folder holds, and how run folders are named.

This module and `cer_lib.runfolder` are the only places that spell these names; everything else asks
a `RunFolder` (one run) or a `CodeFolder` (the runs of one code)::

    outputs/<CODE>/                          one folder per code (`code_slug`)
        <run-id>/                            a finished run, never overwritten
        .tmp-<run-id>/                       a run in progress (never looks finished)
        .failed-<run-id>/                    a failed run, kept with its executed notebooks
        latest -> <run-id>                   the newest successful run (moved only on success)
        lab/                                 the working folder of stages run by hand in JupyterLab
        _feedback/<run-id>/                  reviewer feedback on a run, beside it (never inside)
        _refresh.jsonl                       one line per refresh of the code: no change, rebuilt, failed

    <run-id>/
        parameters.yaml                      effective parameters (runner, before any stage)
        run.json                             run record: id, command, how to reproduce (runner)
        provenance/requests.jsonl            one line per data request (every stage appends)
        provenance/inputs.jsonl              one line per input file read from outside the run
        collected/status.json                01_collect: origin and the status of every source
        collected/resolution.json            01_collect: what the code resolved to
        collected/records/<source>.jsonl     01_collect: records as each source returned them
        collected/counts.jsonl               01_collect: one line per count query
        collected/totals.jsonl               01_collect: report totals per scope and period
        collected/mirror_load.json           01_collect: what loading each mirror file did (mirror runs)
        tables/<table>.parquet               02_integrate: tidy tables
        tables/summary.json                  02_integrate: per table rows, key, duplicates, notes
        results/analysis.json                03_analyze
        figures/<id>.png, <id>.svg           03_analyze
        results/narrative.json               04_narrate
        0N_<stage>.ipynb                     the executed stage notebooks
        cer.html, cer.pdf                    the report (assembled after 05_report)
        changes.json                         runner, after 03_analyze: what changed against the previous run
        feedback.json                        runner, after 03_analyze: open reviewer feedback on earlier runs
        manifest.json                        written last: hashes of everything above

A run id is ``YYYYMMDDTHHMMSSZ-<7 hex>`` (UTC start, hash of the parameters and commit), with
``-2``, ``-3``, ... appended when that id is already taken in the code's folder.
"""
from __future__ import annotations

STAGES = ("01_collect", "02_integrate", "03_analyze", "04_narrate", "05_report")

# files of a run, relative to its folder (POSIX separators)
PARAMETERS = "parameters.yaml"
RUN_RECORD = "run.json"
MANIFEST = "manifest.json"
CHANGES = "changes.json"
FEEDBACK_SNAPSHOT = "feedback.json"
REPORT_HTML = "cer.html"
REPORT_PDF = "cer.pdf"

PROVENANCE = "provenance"
REQUESTS = "provenance/requests.jsonl"
INPUTS = "provenance/inputs.jsonl"

COLLECTED = "collected"
COLLECT_STATUS = "collected/status.json"
RESOLUTION = "collected/resolution.json"
RECORDS = "collected/records"
COUNTS = "collected/counts.jsonl"
TOTALS = "collected/totals.jsonl"
MIRROR_LOAD = "collected/mirror_load.json"

TABLES = "tables"
INTEGRATE_SUMMARY = "tables/summary.json"

RESULTS = "results"
ANALYSIS = "results/analysis.json"
NARRATIVE = "results/narrative.json"
FIGURES = "figures"

# the outputs folder and the folders of a code (outputs/<CODE>/...)
OUTPUTS = "outputs"
RUNNING_PREFIX = ".tmp-"
FAILED_PREFIX = ".failed-"
LATEST = "latest"
LAB = "lab"
FEEDBACK = "_feedback"
REFRESH_LOG = "_refresh.jsonl"


#: what each stage needs from the stages before it: the file that marks their work complete
STAGE_NEEDS = {
    "01_collect": None,
    "02_integrate": COLLECT_STATUS,
    "03_analyze": INTEGRATE_SUMMARY,
    "04_narrate": ANALYSIS,
    "05_report": NARRATIVE,
}
#: the data a JupyterLab working folder is seeded with from the code's latest run
LAB_SEED = (PARAMETERS, PROVENANCE, COLLECTED, TABLES, RESULTS, FIGURES)


def notebook(stage: str) -> str:
    """``01_collect.ipynb``: the executed notebook of a stage."""
    return f"{stage}.ipynb"


def table(name: str) -> str:
    """``tables/<name>.parquet``."""
    return f"{TABLES}/{name}.parquet"


def records(source: str) -> str:
    """``collected/records/<source>.jsonl``."""
    return f"{RECORDS}/{source}.jsonl"


def pointer(path: str, *keys: object) -> str:
    """A JSON pointer into a run file, as the report cites it: ``results/analysis.json#/trend/ci_low``."""
    return path + "#/" + "/".join(str(k) for k in keys)
