"""Benchmarks (`make bench`): figures and ratios, side by side in one run, never pass/fail timings.

1. Requests per report against the number of events (openFDA request economy): the collect stage
   against a local openFDA stand-in (a real HTTP server) serving 100 ... 100 000 events of one code.
2. The analyze stage on the largest real series in ../shared/realdata: the MiniMed 3032 MAUDE sheet
   (50 200 reports), read through the mirror; target under 10 s on this machine.
3. Report assembly (cer.html + cer.pdf) of the newest demo run, when there is one.
4. Mirror load: the six real MAUDE sheets (196 274 rows) and the real foitext2007 MAUDE subset,
   first load (conversion) and a second process reading the ``.derived/`` cache; the smallest
   sheet read by the mirror's reader (calamine) beside openpyxl (a reference reader).
5. Disproportionality at database scale: 100 k, 1 M and 2 M planted-signal pairs, ours beside
   vigipy's GPS (time, memory, priors, planted-signal precision); see ``signals_benchmark.py``.
6. The report service (real redis-server, Celery workers, uvicorn): reports per hour through the API
   with one and with two workers, beside ``cer report`` run directly; latency (p50/p99) of
   ``GET /v1/jobs/{id}`` under 50 concurrent clients, beside the same status read in-process.

Run from the project root: ``.venv/bin/python tests/benchmarks.py``.
"""
from __future__ import annotations

import contextlib
import datetime as dt
import io
import json
import logging
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd
from pytest_httpserver import HTTPServer

from cer_lib.analysis.stage import analyze
from cer_lib.collect import collect, window_chunks, window_years
from cer_lib.context import RunContext
from cer_lib.integrate import integrate
from cer_lib.params import load_parameters, save_parameters
from cer_lib.settings import PROJECT_ROOT, Settings
from cer_lib.sources.base import DateRange, Match, Query
from cer_lib.sources.mirror import Mirror
from cer_lib.sources.openfda import OpenFDA
from openfda_server import clone_events, in2bones_datasets, serve_openfda
from signals_benchmark import bench_signals

REALDATA = PROJECT_ROOT.parent / "shared" / "realdata"
ANALYSIS_TARGET_SECONDS = 10.0


def heading(text: str) -> None:
    print(f"\n{text}\n{'-' * len(text)}")


def _context(root: Path, code: str, overrides: dict, settings: Settings) -> RunContext:
    params = load_parameters(code, overrides=overrides).resolved()
    run = root / "run"
    run.mkdir(parents=True, exist_ok=True)
    save_parameters(params, run / "parameters.yaml")
    return RunContext(run, params, settings, stage="01_collect")


# ----------------------------------------------------------------------------------------------
# 1. requests per report


def bench_requests_per_report(sizes: tuple[int, ...] = (100, 1_000, 10_000, 100_000)) -> None:
    heading("1. openFDA requests per report against the number of events (collect stage, local openFDA stand-in)")
    datasets = in2bones_datasets(REALDATA)
    template = [r for r in datasets["device/event"] if r["device"][0]["device_report_product_code"] == "HWC"]
    server = HTTPServer(host="127.0.0.1", port=0, threaded=True)
    server.start()
    rows = []
    try:
        for n in sizes:
            server.clear()
            events = clone_events(template, n, product_code="HWC", days=2900, first_key=10_000_000)
            fda = serve_openfda(server, {**datasets, "device/event": events})
            with tempfile.TemporaryDirectory() as tmp:
                settings = Settings(openfda_base_url=fda.base_url, eudamed_base_url="http://127.0.0.1:9", cache_dir=Path(tmp) / "cache",
                                    outputs_dir=Path(tmp) / "outputs")
                ctx = _context(Path(tmp), "HWC", {"from": "api", "sources": {"eudamed": False},
                                                  "window": {"start": "2015-01-01", "end": "2022-12-31"}}, settings)
                t0 = time.perf_counter()
                with contextlib.redirect_stdout(io.StringIO()):  # the stage's progress lines
                    summary = collect(ctx, OpenFDA.for_run(ctx, backoff_seconds=0.01))
                rows.append((n, summary.requests, time.perf_counter() - t0))
    finally:
        server.stop()
    base = rows[0][1]
    print(f"{'events':>9}  {'requests':>8}  {'ratio to ' + str(rows[0][0]):>12}  {'collect s':>9}")
    for n, requests, seconds in rows:
        print(f"{n:>9,}  {requests:>8}  {requests / base:>12.2f}  {seconds:>9.1f}")
    print(f"target: requests for {sizes[-1]:,} events <= 2 x requests for {sizes[0]:,} -> ratio {rows[-1][1] / base:.2f}")


# ----------------------------------------------------------------------------------------------
# 2. analysis on the largest real series


def _sheet_inputs(mirror: Mirror, run: Path, start: dt.date, end: dt.date) -> None:
    """collected/ for every report of a publisher sheet, with the count queries the collect stage uses."""
    out = run / "collected"
    (out / "records").mkdir(parents=True, exist_ok=True)
    counts, totals = [], []
    window = DateRange("date_received", start, end)

    def count(query: Query, field: str, period: str, event_type: str) -> None:
        result = mirror.count("device/event", query, field, limit=1000)
        counts.append({"name": "device_event", "endpoint": "device/event", "search": query.describe(), "field": field, "scope": "device",
                       "product_code": None, "period": period, "event_type": event_type, "limit": 1000,
                       "truncated": result.truncated, "rows": result.rows})

    for a, b in window_chunks(start, end):
        span = DateRange("date_received", a, b)
        count(Query((span,)), "date_received", "all", "all")
        for event_type in ("Death", "Injury", "Malfunction"):
            count(Query((span, Match("event_type", (event_type,), exact=False))), "date_received", "all", event_type)
    totals.append({"scope": "device", "product_code": None, "period": "all", "n_reports": mirror.total("device/event", Query((window,)))})
    for year, a, b in window_years(start, end):
        span = Query((DateRange("date_received", a, b),))
        totals.append({"scope": "device", "product_code": None, "period": year, "n_reports": mirror.total("device/event", span)})
        for field in ("product_problems.exact", "patient.patient_problems.exact"):
            count(span, field, year, "all")
    (out / "counts.jsonl").write_text("".join(json.dumps(c) + "\n" for c in counts))
    (out / "totals.jsonl").write_text("".join(json.dumps(t) + "\n" for t in totals))
    (out / "resolution.json").write_text(json.dumps({"code": "MINIMED 3032 SHEET", "kind": "brand", "product_code": None, "comparators": []}))
    (out / "status.json").write_text(json.dumps({"origin": "mirror", "synthetic": False, "sources": {
        "device_event": {"name": "device_event", "status": "ok", "last_updated": str(mirror.last_updated or end)}}}))


def bench_analysis_on_largest_real_series() -> None:
    heading("2. analyze stage on the largest real series (MiniMed 3032 MAUDE sheet, realdata/maude)")
    sheet = REALDATA / "maude" / "medtronic_minimed_pump_mdl_3032.xlsx"
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "mirror"
        (folder / "maude-sheets").mkdir(parents=True)
        (folder / "maude-sheets" / sheet.name).symlink_to(sheet)
        start, end = dt.date(2020, 1, 1), dt.date(2025, 4, 30)
        t0 = time.perf_counter()
        mirror = Mirror(folder)
        run = Path(tmp) / "run"
        _sheet_inputs(mirror, run, start, end)
        build_seconds = time.perf_counter() - t0
        settings = Settings(outputs_dir=Path(tmp) / "outputs", cache_dir=Path(tmp) / "cache")
        params = load_parameters("MINIMED 3032 SHEET", kind="brand", overrides={
            "from": "mirror", "mirror": str(folder), "window": {"start": start, "end": end}})
        save_parameters(params, run / "parameters.yaml")
        ctx = RunContext(run, params, settings, stage="03_analyze")
        integrate(ctx)
        n_reports = json.loads((run / "collected" / "totals.jsonl").read_text().splitlines()[0])["n_reports"]
        times = []
        for _ in range(3):
            t0 = time.perf_counter()
            results = analyze(ctx)
            times.append(time.perf_counter() - t0)
    best, median = min(times), statistics.median(times)
    print(f"reports in the series:          {n_reports:,} over {results.series.n_complete_months} complete months")
    print(f"mirror load + count queries:    {build_seconds:.1f} s (first read of the sheet; cached afterwards)")
    print(f"analyze stage, 3 runs:          {', '.join(f'{t:.2f}' for t in times)} s (best {best:.2f}, median {median:.2f})")
    print(f"target {ANALYSIS_TARGET_SECONDS:.0f} s -> median / target = {median / ANALYSIS_TARGET_SECONDS:.2f}")
    print(f"trend model chosen: {results.trend.glm['total'].model}; verdict: {results.trend.verdicts['total'].verdict}; "
          f"change points: {', '.join(str(c.date) for c in results.changes.change_points) or 'none'}")


# ----------------------------------------------------------------------------------------------
# 3. report assembly


def bench_assembly() -> None:
    heading("3. report assembly (cer.html + cer.pdf) of the newest demo run")
    outputs = Settings.from_env().outputs_dir
    latest = outputs / "HWC" / "latest"
    if not latest.is_dir():
        print("no demo run yet: `make demo` first; skipped")
        return
    from cer_lib.report.assemble import assemble_report

    with tempfile.TemporaryDirectory() as tmp:
        import shutil

        copy = Path(tmp) / "run"
        shutil.copytree(latest.resolve(), copy, symlinks=True)
        for name in ("cer.html", "cer.pdf", "manifest.json"):
            (copy / name).unlink(missing_ok=True)
        times = []
        for _ in range(3):
            t0 = time.perf_counter()
            assemble_report(copy)
            times.append(time.perf_counter() - t0)
        size_html, size_pdf = (copy / "cer.html").stat().st_size, (copy / "cer.pdf").stat().st_size
    print(f"assembly, 3 runs: {', '.join(f'{t:.2f}' for t in times)} s; cer.html {size_html / 1e6:.1f} MB, cer.pdf {size_pdf / 1e6:.1f} MB")


# ----------------------------------------------------------------------------------------------
# 4. mirror load


def _load_seconds(folder: Path) -> tuple[float, float, int]:
    """(first load, load from .derived/ in a new Mirror, reports) of every device event of a mirror."""
    t0 = time.perf_counter()
    n = Mirror(folder).total("device/event", Query())
    first = time.perf_counter() - t0
    t0 = time.perf_counter()
    Mirror(folder).total("device/event", Query())
    return first, time.perf_counter() - t0, n


def bench_mirror_load() -> None:
    heading("4. mirror load: the six real MAUDE sheets and the foitext2007 MAUDE subset (realdata/maude)")
    sheets = sorted((REALDATA / "maude").glob("*.xlsx"))
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "sheets"
        (folder / "maude-sheets").mkdir(parents=True)
        for sheet in sheets:
            (folder / "maude-sheets" / sheet.name).symlink_to(sheet)
        first, cached, n = _load_seconds(folder)
        print(f"six sheets, {n:,} reports: first load {first:.1f} s, from .derived/ {cached:.2f} s")
        flat = Path(tmp) / "flat"
        (flat / "maude").mkdir(parents=True)
        foitext = REALDATA / "maude" / "foitext2007.pos.txt"
        (flat / "maude" / "foitext2007.txt").symlink_to(foitext)
        keys = sorted({line.split("|", 1)[0] for line in foitext.read_text(encoding="utf-8").splitlines() if line.strip()}, key=int)
        (flat / "maude" / "mdrfoi2007.txt").write_text(  # master rows derived from the subset's keys (it ships without them)
            "MDR_REPORT_KEY|REPORT_NUMBER|DATE_RECEIVED|EVENT_TYPE\n" + "".join(f"{k}|R-{k}|06/30/2007|M\n" for k in keys))
        first, cached, n = _load_seconds(flat)
        print(f"MAUDE flat files, {n:,} reports (7,669 narratives): first load {first:.1f} s, from .derived/ {cached:.2f} s")
    try:
        import openpyxl
        from cer_lib.sources.mirror import read_xlsx_rows
    except ImportError as exc:  # an older tree without the calamine reader
        print(f"xlsx readers not compared: {exc}")
        return
    t0 = time.perf_counter()
    rows = sum(len(read_xlsx_rows(sheet)) for sheet in sheets)
    print(f"reading the six sheets with the mirror's reader: {rows:,} rows in {time.perf_counter() - t0:.1f} s")
    smallest = min(sheets, key=lambda p: p.stat().st_size)
    t0 = time.perf_counter()
    read_xlsx_rows(smallest)
    ours = time.perf_counter() - t0
    t0 = time.perf_counter()
    workbook = openpyxl.load_workbook(smallest, read_only=True, data_only=True)
    sum(1 for _ in workbook.worksheets[0].iter_rows(values_only=True))
    workbook.close()
    reference = time.perf_counter() - t0
    print(f"{smallest.name}: mirror's reader {ours:.2f} s, openpyxl {reference:.2f} s (openpyxl / mirror's = {reference / ours:.1f})")
# 6. the report service


SERVICE_CODES = ("HWC", "HTY")  # two codes of the demo mirror: the per-code lock lets two workers share them
LATENCY_CLIENTS, LATENCY_REQUESTS_EACH = 50, 20


def _percentiles(seconds: list[float]) -> tuple[float, float]:
    ordered = sorted(seconds)
    return ordered[len(ordered) // 2] * 1000, ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1000


async def _poll_latency(base_url: str, token: str, job_id: str) -> list[float]:
    import asyncio

    import httpx

    limits = httpx.Limits(max_connections=LATENCY_CLIENTS)
    async with httpx.AsyncClient(base_url=base_url, headers={"Authorization": f"Bearer {token}"}, limits=limits,
                                 timeout=60) as client:
        async def one_client() -> list[float]:
            times = []
            for _ in range(LATENCY_REQUESTS_EACH):
                t0 = time.perf_counter()
                answer = await client.get(f"/v1/jobs/{job_id}")
                times.append(time.perf_counter() - t0)
                assert answer.status_code == 200, answer.text
            return times

        results = await asyncio.gather(*(one_client() for _ in range(LATENCY_CLIENTS)))
    return [t for times in results for t in times]


def _status_in_process(stack, job_id: str, n: int = 1000) -> list[float]:
    """The job status as the route reads it (job record + Celery result), without HTTP or a token."""
    from cer_lib.service import store
    from cer_lib.service.config import ServiceSettings
    from cer_lib.service.worker import celery_app

    saved = dict(os.environ)
    os.environ.update({k: v for k, v in stack.env.items() if k.startswith("CER_")})
    try:
        settings = ServiceSettings.load()
        client, app = store.connect(settings), celery_app(settings)
        times = []
        for _ in range(n):
            t0 = time.perf_counter()
            store.load_job(client, job_id)
            app.backend.get_task_meta(job_id)
            times.append(time.perf_counter() - t0)
        return times
    finally:
        os.environ.clear()
        os.environ.update(saved)


def bench_service() -> None:
    import asyncio
    import subprocess

    from service_stack import ServiceStack

    heading(f"6. The report service: {len(SERVICE_CODES)} demo reports ({', '.join(SERVICE_CODES)}) through the API, "
            f"and GET /v1/jobs/{{id}} under {LATENCY_CLIENTS} clients")
    with tempfile.TemporaryDirectory(prefix="cer-bench-service-") as tmp:
        env = {**os.environ, "CER_OUTPUTS_DIR": str(Path(tmp) / "direct")}
        t0 = time.perf_counter()
        for code in SERVICE_CODES:
            subprocess.run([sys.executable, "-m", "cer_lib", "report", code, "--from", "mirror"], env=env, check=True,
                           capture_output=True)
        direct = time.perf_counter() - t0
        print(f"direct `cer report`, one after another: {direct:.0f} s -> {len(SERVICE_CODES) * 3600 / direct:.0f} reports/hour")
        for workers in (1, 2):
            stack = ServiceStack(Path(tmp) / f"workers-{workers}", env={"CER_RATE_LIMIT_PER_MINUTE": "1000000"})
            try:
                stack.start(workers=workers)
                client = stack.client("bench")
                t0 = time.perf_counter()
                jobs = [client.post("/v1/reports", json={"code": code, "from": "mirror"}).json()["job_id"]
                        for code in SERVICE_CODES]
                outcomes = [stack.wait_for_job(client, job)[0]["status"] for job in jobs]
                elapsed = time.perf_counter() - t0
                print(f"service, {workers} worker(s): {elapsed:.0f} s -> {len(jobs) * 3600 / elapsed:.0f} reports/hour "
                      f"({', '.join(outcomes)}); direct CLI {len(SERVICE_CODES) * 3600 / direct:.0f}, "
                      f"ratio {direct / elapsed:.2f}")
                if workers == 1:
                    latencies = asyncio.run(_poll_latency(stack.base_url, stack.token("bench", "author"), jobs[0]))
                    p50, p99 = _percentiles(latencies)
                    d50, d99 = _percentiles(_status_in_process(stack, jobs[0]))
                    print(f"GET /v1/jobs/{{id}}, {LATENCY_CLIENTS} concurrent clients x {LATENCY_REQUESTS_EACH}: "
                          f"p50 {p50:.1f} ms, p99 {p99:.1f} ms (one uvicorn process; token, rate limit and audit "
                          f"included); the same status read in-process: p50 {d50:.2f} ms, p99 {d99:.2f} ms")
            finally:
                stack.stop()


def main() -> int:
    if not REALDATA.is_dir():
        print(f"{REALDATA} not found: the benchmarks use the real public data there", file=sys.stderr)
        return 1
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # the local server's access log
    print(f"cer benchmarks on {os.cpu_count()} cores, {time.strftime('%Y-%m-%d %H:%M:%S')}; pandas {pd.__version__}")
    sections = {"requests": bench_requests_per_report, "analysis": bench_analysis_on_largest_real_series,
                "assembly": bench_assembly, "mirror": bench_mirror_load, "signals": bench_signals,
                "service": bench_service}
    chosen = sys.argv[1:] or list(sections)  # e.g. `python tests/benchmarks.py mirror`
    for name in chosen:
        sections[name]()
    return 0


if __name__ == "__main__":
    sys.exit(main())
