"""Stage 01, collect: resolve the code, plan the requests, execute them, write ``collected/``.

    resolve   the profile asks the `Source` what the code is (`Profile.resolve`)
    plan      the profile turns parameters and resolution into requests (`Profile.plan`, pure)
    execute   `cer_lib.collect.execute.Executor` makes them, one progress line per step, and
              summarises each source's status
    write     `RunFolder.write_collected`: records, counts, totals, the resolution, and
              ``status.json`` last (a ``collected/`` without it is an interrupted run)

What is written (read by the integrate stage)::

    collected/status.json        origin, offline, synthetic, mirror, base_url, sources{name: SourceStatus}
    collected/resolution.json    what the code resolved to and the rules used
    collected/records/<name>.jsonl   records as the source returned them, one per line
    collected/counts.jsonl       one line per count query (search, field, scope, period, event type, rows)
    collected/totals.jsonl       report totals per scope, product code and period
    collected/mirror_load.json   (mirror runs) per mirror file: rows read, kept, repaired, rejected with
                                 line and reason, refused or not (`Mirror.load_report`); a refused file
                                 of a required source has already stopped the stage with its line and reason

The rules of each kind are in its profile (`cer_lib.profiles.device` for devices).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..provenance import display_path
from ..runfolder import CollectStatus, Resolution, layout
from ..runfolder.models import DateWindow
from ..sources.base import Source, SourceStatus
from .execute import Collected, Executor, Progress
from .plan import CHUNK_DAYS, COUNT_LIMIT, CollectPlan, window_chunks, window_years

__all__ = ["CHUNK_DAYS", "COUNT_LIMIT", "CollectPlan", "CollectSummary", "collect", "window_chunks", "window_years"]


@dataclass(repr=False)
class CollectSummary:
    """What stage 01 did: where it wrote, how each source fared, how many requests it took. A notebook
    shows it as its summary lines (``__repr__`` is ``__str__``), never as a raw Python repr."""

    collected_dir: Path
    origin: str
    code: str
    kind: str
    resolution: Resolution
    statuses: dict[str, SourceStatus]
    n_counts: int
    n_totals: int
    requests: int  # HTTP answers recorded in provenance during the stage (cached ones included)
    from_cache: int

    def __str__(self) -> str:
        lines = [f"collected {self.code} ({self.kind}) from {self.origin}: {self.n_counts} counts, {self.n_totals} totals, "
                 f"{self.requests} requests ({self.from_cache} from cache) -> {self.collected_dir.name}/ of the run folder"]
        for name, st in self.statuses.items():
            extra = f" total={st.total}" if st.total is not None else ""
            extra += f" fetched={st.fetched}" + (" TRUNCATED" if st.truncated else "")
            lines.append(f"  {name:<27} {st.status:<11}{extra}" + (f"  ({st.reason})" if st.reason else ""))
        return "\n".join(lines)

    __repr__ = __str__


def _default_source(ctx: Any) -> Source:
    """openFDA over HTTPS or the mirror, per ``params.from``."""
    params = ctx.params
    if params.data_from == "api":
        from ..sources.openfda import OpenFDA

        return OpenFDA.for_run(ctx)
    from ..sources.demo import mirror_folder
    from ..sources.mirror import Mirror  # imported only when used

    return Mirror(mirror_folder(params.mirror, ctx.settings), provenance=ctx.provenance)


def collect(ctx: Any, source: Source | None = None) -> CollectSummary:
    """Run stage 01 for ``ctx`` (a `RunContext`): query ``source`` (by default openFDA or the mirror, per ``params.from``)."""
    params = ctx.params.resolved()
    profile = ctx.profile  # refuses a kind without a profile before anything is asked
    own = source is None
    source = source if source is not None else _default_source(ctx)
    folder = ctx.folder
    try:
        folder.remove(layout.COLLECT_STATUS)  # from an earlier run: this one is not finished until it is rewritten
        folder.remove(layout.MIRROR_LOAD)
        where = ctx.settings.openfda_base_url if source.origin == "api" else display_path(ctx.mirror_dir)  # printed in the notebook: no host path
        print(f"collect: {params.code} ({params.kind.value}) from {source.origin} {where}, "
              f"window {params.window.start}..{params.window.end}", flush=True)
        requests_before = len(folder.requests())
        progress = Progress(ctx.provenance, source.origin)
        try:
            resolved = profile.resolve(params, source, progress)
            collected = Collected(records=dict(resolved.records), statuses=dict(resolved.statuses))
            Executor(ctx, source, progress, collected).run(profile.plan(params, resolved.resolution))
        finally:  # what loading each mirror file did, kept also when a refused file stops the stage
            load_report = getattr(source, "load_report", None)
            if source.origin == "mirror" and callable(load_report):
                folder.write_mirror_load(load_report())
        for name in profile.source_names:  # anything not reached
            collected.statuses.setdefault(name, SourceStatus(name=name, status="disabled", reason="not collected"))
        status = CollectStatus(
            origin=source.origin,
            offline=bool(params.http.offline) if source.origin == "api" else False,
            synthetic=bool(source.synthetic),
            mirror=str(ctx.mirror_dir) if source.origin == "mirror" else None,
            base_url=ctx.settings.openfda_base_url if source.origin == "api" else None,
            code=params.code, kind=params.kind.value,
            window=DateWindow(start=params.window.start.isoformat(), end=params.window.end.isoformat()),
            sources={name: collected.statuses[name] for name in profile.source_names},
        )
        folder.write_collected(records={name: collected.records.get(name, []) for name in profile.source_names},
                               counts=collected.counts, totals=collected.totals, resolution=resolved.resolution,
                               status=status)
    finally:
        client = getattr(source, "client", None)
        if own and client is not None and hasattr(client, "close"):
            client.close()
    answers = folder.requests()[requests_before:]
    summary = CollectSummary(
        collected_dir=folder.collected_dir, origin=source.origin, code=params.code, kind=params.kind.value,
        resolution=resolved.resolution, statuses=dict(status.sources), n_counts=len(collected.counts),
        n_totals=len(collected.totals), requests=len(answers), from_cache=sum(1 for a in answers if a.get("from_cache")),
    )
    used = f"{summary.requests} requests ({summary.from_cache} from cache), " if source.origin == "api" else ""
    print(f"collect: done: {used}{summary.n_counts} counts, {summary.n_totals} totals", flush=True)
    return summary
