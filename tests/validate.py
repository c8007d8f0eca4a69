"""Operating characteristics of the time-series methods (`make validate`): the full simulation table.

Every row is a seeded simulation of ``tests/simulation.py`` with 200+ series (the tests run the same
functions with fewer); the README's methods section quotes this table. It prints the measured rate
beside its target or the value the report states, and never fails: it is a measurement, the tests
hold the assertions. About 15 minutes on two shared cores.

Run from the ``tests`` folder: ``../.venv/bin/python validate.py [--reps N] [--sections verdict ...]``.
"""
from __future__ import annotations

import argparse
import time
import warnings

from scipy import stats

import simulation as sim


def row(section: str, scenario: str, measured: float, target: str, seconds: float) -> None:
    print(f"{section:<15} {scenario:<62} {measured:>8.3f}   {target:<34} {seconds:>5.0f}s", flush=True)


def interval(rate: float, reps: int) -> str:
    """The exact (Clopper-Pearson) 95% interval of a simulated rate, as text."""
    low, high = stats.binomtest(round(rate * reps), reps).proportion_ci(0.95)
    return f"{low:.3f}-{high:.3f}"


def timed(fn, *args, **kwargs):
    start = time.perf_counter()
    value = fn(*args, **kwargs)
    return value, time.perf_counter() - start


SECTIONS = ("change_points", "verdict", "charts", "growth", "forecast")


def main(reps: int, sections: tuple[str, ...] = SECTIONS) -> None:
    warnings.simplefilter("ignore")
    print(f"Time-series methods: operating characteristics (at least {reps} series per scenario, fixed seeds)\n")
    print(f"{'method':<15} {'scenario':<62} {'measured':>8}   {'target / stated':<34} {'time':>6}")
    print("-" * 132)
    for name in sections:
        globals()[f"_{name}"](reps)


def _change_points(reps: int) -> None:
    cp = "change points"
    for label, kind, kwargs in (
            ("stationary Poisson, 20/month, 60 months: any change", "poisson", {}),
            ("Poisson + one 3x spike month: any change", "spike", {}),
            ("negative binomial alpha 0.1: any change", "nb", {"alpha": 0.1}),
            ("AR(1) log-mean rho 0.7 sd 0.2, 20/month: any change", "ar", {"sd": 0.2}),
            ("AR(1) log-mean rho 0.7 sd 0.2, 100/month: any change", "ar", {"sd": 0.2, "mean": 100.0}),
            ("AR(1) log-mean rho 0.7 sd 0.3, 20/month: any change", "ar", {"sd": 0.3}),
            ("stationary Poisson, 2/month: any change", "poisson", {"mean": 2.0})):
        value, seconds = timed(sim.false_change_rate, kind, reps=reps, seed=101, **kwargs)
        row(cp, label, value, f"<= 0.05; 95% CI {interval(value, reps)}", seconds)
    for label, kwargs in (("doubling at 20/month: dated within +/-1 month", {"mean": 20.0, "ratio": 2.0}),
                          ("1.5-fold at 20/month: dated within +/-1 month", {"mean": 20.0, "ratio": 1.5}),
                          ("doubling at 2/month: dated within +/-1 month", {"mean": 2.0, "ratio": 2.0})):
        value, seconds = timed(sim.change_dated_rate, reps=reps, seed=102, **kwargs)
        row(cp, label, value, "detection (stated in the docs)", seconds)
    value, seconds = timed(sim.bump_dated_rate, reps=reps, seed=103)
    row(cp, "20-month doubling at 20/month: both ends within +/-1 month", value, "detection (stated in the docs)", seconds)


def _verdict(reps: int) -> None:
    vd = "verdict"
    for label, kind, n, kwargs in (
            ("stationary Poisson, 36 months (full baseline)", "poisson", 36, {}),
            ("stationary Poisson, 30 months (reduced baseline)", "poisson", 30, {}),
            ("stationary Poisson, 24 months (reduced baseline)", "poisson", 24, {}),
            ("stationary Poisson 2/month, 30 months (reduced baseline)", "poisson", 30, {"mean": 2.0}),
            ("negative binomial alpha 0.1, 30 months (reduced baseline)", "nb", 30, {"alpha": 0.1}),
            ("negative binomial alpha 0.1, 36 months", "nb", 36, {"alpha": 0.1})):
        value, seconds = timed(sim.verdict_increase_rate, kind, reps=max(reps, 1000), seed=201, n=n, **kwargs)
        row(vd, f"{label}: size", value, "<= alpha = 0.05", seconds)
    for label, n, surge in (("1.5x surge in the last 12 of 30 months", 30, 1.5),
                            ("1.5x surge in the last 12 of 36 months", 36, 1.5)):
        value, seconds = timed(sim.verdict_increase_rate, "poisson", reps=reps, seed=202, n=n, surge=surge)
        row(vd, f"{label}: power", value, "power", seconds)


def _charts(reps: int) -> None:
    for mean in (2.0, 10.0, 50.0):
        rates, seconds = timed(sim.chart_false_alarms, reps=max(reps, 400), seed=301, mean=mean)
        row("c-chart", f"stationary Poisson {mean:g}/month: phase-II signal in 12 months", rates["chart_measured"],
            f"stated {rates['chart_stated_estimated']:.3f} (known centre {rates['chart_stated_known']:.3f})", seconds)
        row("CUSUM", f"stationary Poisson {mean:g}/month: alarm in 12 months", rates["cusum_measured"],
            f"stated {rates['cusum_stated_estimated']:.3f} (known mean {rates['cusum_stated_known']:.3f})", 0)


def _growth(reps: int) -> None:
    rates, seconds = timed(sim.growth_flag_rates, reps=reps, seed=401)
    stated = {"verdict": "not robust (report says so)", "c_chart": "not robust (report says so)",
              "cusum": "not robust (report says so)", "glm": "not robust (report says so)",
              "change_points": "partly: steady growth rarely dated", "serious_share": "<= 0.05 (robust)",
              "family_share": "<= 0.05 (family grows alike)"}
    for key, target in stated.items():
        row("growth 15%/yr", f"no safety change, 120 months from 50/month: {key} flags", rates[key], target,
            seconds if key == "verdict" else 0)


def _forecast(reps: int) -> None:
    for label, kind, kwargs in (("Poisson 2/month", "poisson", {"mean": 2.0}),
                                ("Poisson 20/month", "poisson", {"mean": 20.0}),
                                ("negative binomial alpha 0.1, 20/month", "nb", {"mean": 20.0, "alpha": 0.1}),
                                ("Poisson with 15%/year growth, 20/month", "poisson", {"mean": 20.0, "growth": 0.15})):
        cov, seconds = timed(sim.forecast_coverage, kind, reps=reps, seed=501, **kwargs)
        row("forecast", f"{label}: 95% interval coverage (12 months ahead)", cov["coverage95"],
            f"0.95 (below {cov['below95']:.3f}, above {cov['above95']:.3f})", seconds)
        row("forecast", f"{label}: 80% interval coverage", cov["coverage80"], "0.80", 0)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=200, help="series per scenario (default 200)")
    parser.add_argument("--sections", nargs="+", choices=SECTIONS, default=list(SECTIONS), help="which parts to run")
    args = parser.parse_args()
    main(args.reps, tuple(args.sections))
