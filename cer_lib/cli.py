"""``cer`` (also ``python -m cer_lib``): a thin shell over the library.

    cer report HWC --from mirror          one Clinical Evaluation Report
    cer batch LZG DQY --from api          several; a failing code does not stop the others
    cer book                              the Jupyter Book site of every run
    cer doctor [--from api|mirror]        health table; non-zero when the chosen mode is broken
    cer verify outputs/HWC/<run-id>       re-hash a run and check its manifest (claims, hash chain, signature)
    cer clean-runs [--delete]             retire the in-progress folders of runs that died (never finished runs)
    cer signals --reports R.csv --out S.csv   disproportionality scores for report_id,product,term
                                              (CSV or Parquet in and out)

The report service (settings from CER_* variables; see the README, "Service"):

    cer serve [--all]                     the HTTP API under uvicorn (--all: with Redis and a worker)
    cer worker                            a Celery worker building queued reports
    cer token --subject me --role author  a bearer token for the API
    cer beat                              Celery Beat: queues the refreshes of parameters/schedules.yaml

Keeping reports current (see the README, "Refresh"):

    cer refresh [CODE ...] [--force]      rebuild a code's report only when its data changed since its
                                          last run; without codes, every scheduled code

Errors the user can act on are printed as one message (no traceback) with exit status 2; so is a full
disk. Ctrl-C and SIGTERM stop a run alike (its folder kept as ``.failed-<id>``), exit status 130 and 143.
A code is a positional argument: after ``--`` it is never read as an option (``cer report -- -h``
reports on the code ``-h``, which is refused as malformed), as the Makefile passes it.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any, Sequence

from .codes import Kind
from .errors import CerError, RunInterrupted, disk_full
from .interrupts import handle_sigterm, interruption
from .logs import configure_logging, get_logger
from .params import deep_merge, parse_override, read_parameter_file


def _report_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--kind", choices=[k.value for k in Kind], help="what the code names (default: product_code)")
    parser.add_argument("--from", dest="data_from", choices=["api", "mirror"], help="openFDA over HTTPS, or a local mirror")
    parser.add_argument("--mirror", help="mirror folder (default: the demo mirror)")
    parser.add_argument("--params", type=Path, metavar="FILE",
                        help="a parameters file (e.g. a run's saved parameters.yaml) applied over the defaults")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="FIELD=VALUE",
                        help="override a parameter, e.g. --set methods.forecast.horizon_months=6 (repeatable)")


def _overrides(args: argparse.Namespace) -> dict[str, Any]:
    merged: dict[str, Any] = {}
    if args.params:
        merged = read_parameter_file(args.params)
        merged.pop("code", None)  # the code comes from the command line
    for assignment in args.overrides:
        merged = deep_merge(merged, parse_override(assignment))
    if args.data_from:
        merged["from"] = args.data_from
    if args.mirror:
        merged["mirror"] = str(Path(args.mirror).expanduser().resolve())
    return merged


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="cer", description="Clinical Evaluation Reports from public FDA/EU safety data.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    report = commands.add_parser("report", help="run the five stages for one code")
    report.add_argument("code", help="device product code (e.g. LZG), UDI-DI, or brand with --kind")
    _report_options(report)

    batch = commands.add_parser("batch", help="run several codes; failures are reported, others go on")
    batch.add_argument("codes", nargs="+")
    _report_options(batch)

    book = commands.add_parser("book", help="build the Jupyter Book site from outputs/")
    book.add_argument("--outputs", help="outputs folder (default: outputs/)")

    doctor = commands.add_parser("doctor", help="print a health table; non-zero when the chosen mode is broken")
    doctor.add_argument("--from", dest="data_from", choices=["api", "mirror"], help="check one mode only (default: both)")
    doctor.add_argument("--mirror", help="mirror folder to check (default: the demo mirror)")

    verify = commands.add_parser("verify", help="re-hash a run folder and check its manifest; "
                                 "CER_MANIFEST_KEY checks the signature")
    verify.add_argument("run_dir", type=Path)
    verify.add_argument("--root", help="the manifest's chain root as recorded elsewhere (e.g. at sign-off): must match")

    clean = commands.add_parser("clean-runs", help="rename the in-progress folders of runs that died (killed, "
                                "power cut) to .failed-<id>; never touches finished, failed or running runs")
    clean.add_argument("--outputs", help="outputs folder (default: outputs/)")
    clean.add_argument("--delete", action="store_true", help="delete those folders instead of keeping them as failed")

    _signals_parser(commands)

    refresh = commands.add_parser("refresh", help="rebuild reports whose data changed since their last run, "
                                  "and notify the subscribers (every scheduled code when none is named)")
    refresh.add_argument("codes", nargs="*", help="codes to refresh (default: every code in the schedules file)")
    refresh.add_argument("--from", dest="data_from", choices=["api", "mirror"], help="override each code's source")
    refresh.add_argument("--mirror", help="mirror folder (default: the schedule's mirror name, or the demo mirror)")
    refresh.add_argument("--force", action="store_true", help="rebuild even when the data did not change")
    refresh.add_argument("--schedules", type=Path, metavar="FILE",
                         help="schedules file (default: CER_SCHEDULES_FILE or parameters/schedules.yaml)")

    serve = commands.add_parser("serve", help="the report service's HTTP API (CER_API_HOST, CER_API_PORT)")
    serve.add_argument("--all", action="store_true",
                       help="also start Redis (unless CER_REDIS_URL answers) and one worker; Ctrl-C stops all (make serve)")
    serve.add_argument("--workers", type=int, default=1, help="API processes (default 1)")

    worker = commands.add_parser("worker", help="a worker that builds queued reports (CER_REDIS_URL)")
    worker.add_argument("--name", help="worker name, unique per machine (default cer-<pid>@<host>)")
    worker.add_argument("--concurrency", type=int, help="reports built at once (default CER_WORKER_CONCURRENCY)")

    commands.add_parser("beat", help="Celery Beat: queue the refreshes of the schedules file when due (CER_REDIS_URL)")

    token = commands.add_parser("token", help="print a bearer token for the API")
    token.add_argument("--subject", required=True, help="who the token is for (user or system name)")
    token.add_argument("--role", required=True, choices=["viewer", "author", "admin"])
    token.add_argument("--minutes", type=int, help="lifetime (default CER_TOKEN_MINUTES, 60)")
    token.add_argument("--private-key", type=Path, help="RS256 private key (PEM) when the API checks RS256 tokens")
    return parser


def _signals_parser(commands: Any) -> None:
    """``cer signals``; options left out keep the defaults of ``SignalSettings`` (not imported here:
    building the parser must stay cheap for every other command)."""
    signals = commands.add_parser("signals", help="PRR, ROR, IC and EBGM for a long table of reports")
    signals.add_argument("--reports", required=True, type=Path,
                         help="CSV or Parquet with columns report_id,product,term (one row per report, product and term)")
    signals.add_argument("--out", required=True, type=Path, help="CSV or Parquet to write, one row per (product, term)")
    signals.add_argument("--primary", dest="primary_screen", choices=["EB05", "IC025"],
                         help="the pre-specified primary screen: EB05 >= threshold (default) or IC025 > threshold")
    signals.add_argument("--eb05-threshold", type=float, metavar="X", help="default 2")
    signals.add_argument("--ic025-threshold", type=float, metavar="X", help="default 0")
    signals.add_argument("--n-star", type=int, metavar="N", help="the prior is fitted on pairs with a >= N (default 1)")
    signals.add_argument("--truncation", choices=["whole-mixture", "per-component"],
                         help="likelihood truncation at N* (default whole-mixture)")
    signals.add_argument("--min-pairs", dest="min_pairs_for_prior", type=int, metavar="N",
                         help="fewest pairs to fit the prior (default 300)")
    signals.add_argument("--prior-fallback", choices=["dumouchel-1999", "none"],
                         help="prior used when the fit is not sound: DuMouchel's 1999 estimates (default), "
                              "or none (EBGM not estimable)")


_SIGNAL_OPTIONS = ("primary_screen", "eb05_threshold", "ic025_threshold", "n_star", "truncation",
                   "min_pairs_for_prior", "prior_fallback")


def _signals_command(args: argparse.Namespace) -> int:
    from .analysis.disproportionality import SignalSettings
    from .analysis.signal_files import signals_file

    try:
        settings = SignalSettings(**{k: getattr(args, k) for k in _SIGNAL_OPTIONS if getattr(args, k) is not None})
        result = signals_file(args.reports, args.out, settings,
                              progress=lambda line: print(f"signals: {line}", file=sys.stderr, flush=True))
    except (ValueError, FileNotFoundError) as exc:
        raise CerError(str(exc)) from None
    n_signals = result.n_signals()
    screen = (f"{n_signals} signals by the primary screen {settings.primary_rule}" if n_signals is not None
              else f"primary screen {settings.primary_rule} not applicable (EBGM not estimable)")
    source = result.prior.source if result.prior else "none"
    print(f"wrote {args.out} ({len(result.table)} product-term pairs; {screen}; prior: {source})")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    handle_sigterm()
    try:
        args.log_format = configure_logging("cli")
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    try:
        return _dispatch(args, ["cer", *argv])
    except RunInterrupted as exc:
        print(f"stopped: {exc}", file=sys.stderr)
        return exc.exit_status
    except CerError as exc:
        print(f"error: {exc}", file=sys.stderr)
        if args.log_format:
            get_logger("cer.cli").error("command.failed", command=args.command, outcome="failed", error=str(exc))
        return 2
    except KeyboardInterrupt as exc:
        how, status = interruption(exc)
        print(how, file=sys.stderr)
        return status
    except OSError as exc:
        full = disk_full(exc, f"running `cer {args.command}`")
        if full is None:
            raise
        print(f"error: {full}", file=sys.stderr)
        return 2


def _dispatch(args: argparse.Namespace, command: list[str]) -> int:
    if args.command == "report":
        from .pipeline import run_report

        run_report(args.code, kind=args.kind, overrides=_overrides(args), command=command, **_progress(args))
        return 0
    if args.command == "batch":
        from .pipeline import run_batch

        outcomes = run_batch(args.codes, kind=args.kind, overrides=_overrides(args), command=command, **_progress(args))
        width = max(len(o.code) for o in outcomes)
        print("\nbatch summary:")
        for o in outcomes:
            print(f"  {o.code:<{width}}  {'ok    ' if o.ok else 'FAILED'}  {o.detail}")
        return 0 if all(o.ok for o in outcomes) else 1
    if args.command == "book":
        from .report.book import build_book

        print(build_book(outputs_dir=Path(args.outputs) if args.outputs else None))
        return 0
    if args.command == "doctor":
        from .doctor import run_doctor

        return run_doctor(data_from=args.data_from, mirror=args.mirror)
    if args.command == "verify":
        from .settings import Settings
        from .verify import verify_run

        report = verify_run(args.run_dir, key=Settings.from_env().manifest_key, expected_root=args.root)
        if report.ok:
            print(f"{args.run_dir}: all {report.checked} files match the manifest; its claims match the run's files; "
                  f"hash chain intact, root {report.root}; signature {report.signature}")
            return 0
        print(f"{args.run_dir}: {len(report.problems)} problem(s) ({report.checked} files re-hashed):")
        for problem in report.problems:
            print(f"  - {problem}")
        return 1
    if args.command == "clean-runs":
        from .runfolder import CodeFolder, Outputs
        from .settings import Settings

        outputs = Outputs(Path(args.outputs) if args.outputs else Settings.from_env().outputs_dir)
        abandoned = outputs.abandoned_runs()
        for run in abandoned:
            kept = CodeFolder(run.path.parent).retire(run, delete=args.delete)
            print(f"{run.path}: " + ("deleted" if kept is None else f"kept as {kept.name}"))
        print(f"{len(abandoned)} in-progress folder(s) of runs that died" + (" retired" if abandoned else ""))
        return 0
    if args.command == "signals":
        return _signals_command(args)
    if args.command == "refresh":
        return _refresh_command(args, command)
    if args.command in ("serve", "worker", "token", "beat"):
        return _service_command(args)
    raise AssertionError(args.command)


def _refresh_command(args: argparse.Namespace, command: list[str]) -> int:
    from .refresh.refresh import FAILED, refresh_codes
    from .refresh.schedules import load_schedules
    from .service.config import ServiceSettings
    from .settings import Settings

    if args.mirror:
        folder = Path(args.mirror).expanduser().resolve()
        resolve = lambda _name: folder  # noqa: E731 - one folder for every code
    else:
        resolve = ServiceSettings.load().mirror_folder
    outcomes = refresh_codes(args.codes, settings=Settings.from_env(), mirror_folder=resolve,
                             schedules=load_schedules(args.schedules), data_from=args.data_from, force=args.force,
                             progress=lambda line: print(line, file=sys.stderr, flush=True), command=command)
    if not outcomes:
        print("nothing to refresh: no codes given and none scheduled (parameters/schedules.yaml)")
    for outcome in outcomes:
        print(outcome.line())
    return 1 if any(o.outcome == FAILED for o in outcomes) else 0


def _progress(args: argparse.Namespace) -> dict[str, Any]:
    """With ``CER_LOG_FORMAT`` set, a run's progress is logged as structured events; else printed as is."""
    if not args.log_format:
        return {}
    from .progress_events import LoggedProgress

    return {"progress": LoggedProgress("cer.cli")}


def _service_command(args: argparse.Namespace) -> int:
    import os

    from .service.config import ServiceSettings

    settings = ServiceSettings.load()
    if args.command == "token":
        from .service.security import mint_token

        try:
            print(mint_token(settings, args.subject, args.role, minutes=args.minutes, private_key=args.private_key))
        except ValueError as exc:
            raise CerError(str(exc)) from None
        return 0
    if args.command == "beat":
        from .service.worker import run_beat

        run_beat(settings)
        return 0
    if args.command == "worker":
        from .service.worker import run_worker

        run_worker(settings, name=args.name or f"cer-{os.getpid()}@%h", concurrency=args.concurrency)
        return 0
    if args.all:
        from .service.local import run_local_stack

        return run_local_stack(settings)
    from .service.app import serve

    serve(settings, workers=args.workers)
    return 0


if __name__ == "__main__":
    sys.exit(main())
