"""FAERS quarterly ingestion at real size (`make bench`, section ``faers``).

One quarter of about 400 000 cases (FAERS received 400 000-450 000 reports a quarter in 2022) is
generated in the current layout from the real 2017Q2 files' value distributions
(`faers_files.generate_quarter`), then loaded by the mirror (`formats.faers_ascii`) in a child
process: the wall time of the first load (conversion into ``drug/event`` records) and of a second
process reading the ``.derived/`` cache, and each process's peak resident memory, beside the size
of the files; then the time to build the 1 000 newest cases as records (what a run asks for: the
drug's cases, a review sample; no record is built at load time). Target: the first load in 60 s or less, with memory bounded (DuckDB's memory limit in
the loader; no JSON record per case is built: the searchable fields, about 11 million rows, are the
largest thing held).
"""
from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from faers_files import generate_quarter

N_CASES = 400_000
TARGET_SECONDS = 60.0
_CHILD = """
import json, resource, sys, time
from cer_lib.sources.base import Query
from cer_lib.sources.mirror import Mirror
t0 = time.perf_counter()
mirror = Mirror(sys.argv[1])
cases = mirror.total("drug/event", Query())
seconds = time.perf_counter() - t0
t1 = time.perf_counter()
sample = mirror.search("drug/event", Query(), limit=1000, sort="receivedate:desc").records
built = time.perf_counter() - t1
files = {f.path: f.rows_read for f in mirror.load_report().files}
print(json.dumps({"seconds": seconds, "cases": cases, "peak_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  "rows": files, "sample_seconds": built, "sample": len(sample)}))
"""


def _load(folder: Path) -> dict:
    done = subprocess.run([sys.executable, "-c", _CHILD, str(folder)], capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def bench_faers(realdata: Path, n_cases: int = N_CASES) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "faers-22q4"
        t0 = time.perf_counter()
        versions = generate_quarter(realdata / "faers" / "faers_ascii_2017q2", folder, n_cases)
        size = sum(p.stat().st_size for p in folder.iterdir()) / 2**20
        print(f"  generated {n_cases:,} cases ({versions:,} DEMO rows with earlier versions), {size:,.0f} MiB of "
              f"'$' files in {time.perf_counter() - t0:.0f} s")
        first = _load(folder)
        rows = ", ".join(f"{Path(k).name[:4]} {v:,}" for k, v in sorted(first["rows"].items()))
        print(f"  rows read: {rows}")
        verdict = "within" if first["seconds"] <= TARGET_SECONDS else "OVER"
        print(f"  first load (convert + index):   {first['seconds']:6.1f} s  peak {first['peak_mib']:,.0f} MiB  "
              f"{first['cases']:,} cases  ({verdict} the {TARGET_SECONDS:.0f} s target; "
              f"{first['seconds'] / TARGET_SECONDS:.2f} of it)")
        print(f"  then the {first['sample']:,} newest cases as records (built on demand): {first['sample_seconds']:.2f} s")
        cached = _load(folder)
        print(f"  second process (.derived/):     {cached['seconds']:6.1f} s  peak {cached['peak_mib']:,.0f} MiB  "
              f"{cached['cases']:,} cases  (x{first['seconds'] / max(cached['seconds'], 1e-9):.1f} faster)")


if __name__ == "__main__":
    from cer_lib.settings import PROJECT_ROOT

    bench_faers(PROJECT_ROOT.parent / "shared" / "realdata", int(sys.argv[1]) if len(sys.argv) > 1 else N_CASES)
