"""Disproportionality analysis: PRR, ROR, IC and EBGM for (product, term) pairs, and the signal screen.

The pipeline reads as the method's own steps, each a pure function in its own module:

1. raw counts -> 2x2 cells and expected counts: :mod:`cer_lib.analysis.contingency`
   (:func:`contingency_from_reports`, :func:`contingency_from_counts`, optionally stratified);
2. frequentist measures: :mod:`cer_lib.analysis.measures` (PRR, Yates χ², ROR, IC);
3. prior fit and 4. posterior scores: :mod:`cer_lib.analysis.ebgm`;
5. the screen: one pre-specified **primary** rule decides which pairs are signals (``signal``):
   ``EB05 ≥ eb05_threshold`` (default; Szarfman, Machado & O'Neill 2002) or
   ``IC025 > ic025_threshold``; the Evans rule and the other rule are shown as secondary
   flags and never enter the headline counts. A pair whose EB05 exceeds its EBGM (a bimodal
   posterior) is never flagged by EB05.

:func:`score_table` / :func:`detect_signals` put the steps together, :func:`score_device_problems`
is the device report's entry; reading and writing files is :mod:`cer_lib.analysis.signal_files`.

Public adverse-event reports are numerators only: these scores measure disproportionate
*reporting*, not incidence or causation.
"""
from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Literal

import numpy as np
import pandas as pd

from .contingency import (
    CONTINGENCY_COLUMNS,
    REPORT_COLUMNS,
    contingency_from_counts,
    contingency_from_reports,
    require_columns,
)
from .ebgm import (
    TRUNCATIONS,
    PriorChoice,
    PriorFit,
    PriorFitNotPossible,
    Truncation,
    choose_prior,
    fit_prior,
    posterior_scores,
)
from .measures import (
    IC_DEFINITION,
    haldane_anscombe,
    information_component,
    information_component_bcpnn,
    proportional_reporting_ratio,
    reporting_odds_ratio,
    yates_chi_square,
)

__all__ = [
    "CONTINGENCY_COLUMNS",
    "IC_DEFINITION",
    "PRIMARY_SCREENS",
    "REPORT_COLUMNS",
    "SCORE_COLUMNS",
    "SignalResult",
    "SignalSettings",
    "contingency_from_counts",
    "contingency_from_reports",
    "detect_signals",
    "frequentist_scores",
    "haldane_anscombe",
    "information_component",
    "information_component_bcpnn",
    "proportional_reporting_ratio",
    "reporting_odds_ratio",
    "score_device_problems",
    "score_table",
    "yates_chi_square",
]

#: The output columns of :func:`score_table`, in order (extra columns follow them).
SCORE_COLUMNS: tuple[str, ...] = (
    "product", "term", "a", "b", "c", "d", "E",
    "PRR", "PRR_lo", "PRR_hi", "chi2_yates",
    "ROR", "ROR_lo", "ROR_hi",
    "IC", "IC025",
    "EBGM", "EB05", "EB95",
)
EXTRA_COLUMNS: tuple[str, ...] = ("N", "haldane", "evans_signal", "eb05_signal", "ic025_signal", "signal")
PrimaryScreen = Literal["EB05", "IC025"]
PRIMARY_SCREENS: tuple[str, ...] = ("EB05", "IC025")
PriorFallback = Literal["dumouchel-1999", "none"]
Progress = Callable[[str], None]


# ---------------------------------------------------------------------------------------------
# Settings and result
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class SignalSettings:
    """Parameters of the disproportionality analysis, with their stated defaults.

    - ``primary_screen``: the pre-specified rule behind ``signal`` and the headline counts:
      ``"EB05"`` (EB05 ≥ ``eb05_threshold``, default 2; Szarfman et al. 2002) or ``"IC025"``
      (IC025 > ``ic025_threshold``, default 0; Norén et al. 2013). The other rule and the
      Evans rule (PRR ≥ ``prr_threshold``, Yates χ² ≥ ``chi2_threshold``, a ≥ ``min_cases``;
      Evans et al. 2001) are secondary: shown, never counted as signals.
    - ``n_star``: the GPS prior is fitted on pairs with ``a ≥ n_star`` (truncated likelihood).
    - ``truncation``: ``"whole-mixture"`` (default: the exact likelihood of DuMouchel's model given
      ``a ≥ N*``) or ``"per-component"`` (openEBGM's); see :mod:`cer_lib.analysis.ebgm_fit`.
    - ``min_pairs_for_prior``: fewer pairs than this (default 300) and the two-gamma prior is not
      fitted: five parameters, one of them a weight of a component that may hold a few percent of
      the pairs, are not estimable from a few dozen pairs (a family of 2 products x 30 terms fits
      two point masses).
    - ``prior_fallback``: what scores EBGM when the fit is not sound (too few pairs, a parameter
      on the edge of the parameter space, no convergence): ``"dumouchel-1999"`` (default: the
      fixed prior DuMouchel 1999 estimated, alpha1 = 0.2041, beta1 = 0.05816, alpha2 = 1.415,
      beta2 = 1.838, P = 0.0969) or ``"none"`` (EBGM, EB05, EB95 "not estimable").
    - ``z``: normal quantile of the 95 % confidence intervals of PRR and ROR.
    - ``n_starts``, ``squash``, ``random_seed``: the prior fit (:func:`cer_lib.analysis.ebgm.fit_prior`).
    """

    n_star: int = 1
    z: float = 1.959964
    prr_threshold: float = 2.0
    chi2_threshold: float = 4.0
    min_cases: int = 3
    eb05_threshold: float = 2.0
    ic025_threshold: float = 0.0
    primary_screen: PrimaryScreen = "EB05"
    n_starts: int = 6
    squash: bool = True
    random_seed: int = 1999
    min_pairs_for_prior: int = 300
    truncation: Truncation = "whole-mixture"
    prior_fallback: PriorFallback = "dumouchel-1999"

    def __post_init__(self) -> None:
        if self.n_star < 1:
            raise ValueError("n_star must be >= 1 (pairs with a = 0 do not exist in a table)")
        if not self.z > 0:
            raise ValueError("z must be > 0")
        if self.n_starts < 1:
            raise ValueError("n_starts must be >= 1")
        if self.min_cases < 1:
            raise ValueError("min_cases must be >= 1")
        if self.min_pairs_for_prior < 5:
            raise ValueError("min_pairs_for_prior must be >= 5 (the prior has 5 parameters)")
        if self.truncation not in TRUNCATIONS:
            raise ValueError(f"truncation must be one of {TRUNCATIONS}, got {self.truncation!r}")
        if self.primary_screen not in PRIMARY_SCREENS:
            raise ValueError(f"primary_screen must be one of {PRIMARY_SCREENS}, got {self.primary_screen!r}")
        if self.prior_fallback not in ("dumouchel-1999", "none"):
            raise ValueError(f"prior_fallback must be 'dumouchel-1999' or 'none', got {self.prior_fallback!r}")

    @property
    def primary_rule(self) -> str:
        """The primary screen in words, e.g. ``EB05 >= 2``."""
        if self.primary_screen == "EB05":
            return f"EB05 >= {self.eb05_threshold:g}"
        return f"IC025 > {self.ic025_threshold:g}"

    @property
    def secondary_rules(self) -> list[str]:
        evans = (f"Evans: PRR >= {self.prr_threshold:g}, Yates chi-square >= {self.chi2_threshold:g}, "
                 f"a >= {self.min_cases}")
        other = (f"IC025 > {self.ic025_threshold:g}" if self.primary_screen == "EB05"
                 else f"EB05 >= {self.eb05_threshold:g}")
        return [evans, other]


def _json_value(value: object) -> object:
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return None if not math.isfinite(float(value)) else float(value)
    if isinstance(value, dict):
        return {str(k): _json_value(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_value(v) for v in value]
    return str(value) if not isinstance(value, str) else value


@dataclass(frozen=True, eq=False)
class SignalResult:
    """A scored table with everything needed to report it.

    ``table`` has the columns :data:`SCORE_COLUMNS` then ``N, haldane, evans_signal,
    eb05_signal, ic025_signal, signal``, one row per (product, term) pair with ``a ≥ 1``, sorted
    by product and term; ``signal`` is the primary screen. ``prior_fit`` is the GPS prior fit
    (or why it was not possible), ``prior`` the prior the scores used and why (the fit, a fixed
    fallback, or none: then EBGM/EB05/EB95 are missing). ``methods`` holds one paragraph per
    method naming its definition and reference; ``screen`` states the primary and secondary rules.
    """

    table: pd.DataFrame
    prior_fit: PriorFit | PriorFitNotPossible
    settings: SignalSettings
    methods: dict[str, str]
    data_description: str
    ic_definition: str = IC_DEFINITION
    product_of_interest: str | None = None
    n_reports: int = field(default=0)
    prior: PriorChoice | None = None
    screen: str = ""
    expected_counts: str = "E = (a+b)(a+c)/N (not stratified)"

    @property
    def screen_applicable(self) -> bool:
        """False when the primary screen is EB05 and EBGM was not estimable (no prior)."""
        return not (self.settings.primary_screen == "EB05" and self.prior is not None and self.prior.prior is None)

    @property
    def n_eb05_above_ebgm(self) -> int:
        """Pairs whose EB05 exceeds their EBGM (bimodal posterior): never flagged by EB05."""
        return int((self.table["EB05"] > self.table["EBGM"]).sum())

    def for_product(self, product: str) -> pd.DataFrame:
        """Rows of one product (e.g. the device under evaluation)."""
        return self.table[self.table["product"] == product].reset_index(drop=True)

    def n_signals(self, product: str | None = None) -> int | None:
        """Pairs flagged by the primary screen (of one product if given); None when it could not be applied."""
        if not self.screen_applicable:
            return None
        rows = self.table if product is None else self.for_product(product)
        return int(rows["signal"].sum())

    def to_dict(self) -> dict[str, object]:
        """JSON-serialisable form: floats as float, NaN as None, records as a list of dicts."""
        records = [
            {str(k): _json_value(v) for k, v in row.items()}
            for row in self.table.to_dict(orient="records")
        ]
        return {
            "data_description": self.data_description,
            "product_of_interest": self.product_of_interest,
            "n_reports": int(self.n_reports),
            "n_pairs": len(self.table),
            "settings": _json_value(asdict(self.settings)),
            "ic_definition": self.ic_definition,
            "expected_counts": self.expected_counts,
            "prior_fit": _json_value(self.prior_fit.to_dict()),
            "prior_used": _json_value(self.prior.to_dict()) if self.prior else None,
            "screen": self.screen_summary(),
            "methods": dict(self.methods),
            "columns": list(self.table.columns),
            "records": records,
        }

    def screen_summary(self, product: str | None = None) -> dict[str, object]:
        """The primary rule, whether it could be applied, and the signal count it gives."""
        return {
            "primary": self.settings.primary_rule,
            "column": "signal",
            "applicable": self.screen_applicable,
            "n_signals": self.n_signals(product),
            "secondary": self.settings.secondary_rules,
            "n_eb05_above_ebgm": self.n_eb05_above_ebgm,
            "text": self.screen,
        }


# ---------------------------------------------------------------------------------------------
# Frequentist scores
# ---------------------------------------------------------------------------------------------
def _check_table(table: pd.DataFrame) -> None:
    require_columns(table, CONTINGENCY_COLUMNS, "the contingency table")
    if len(table) and (table["a"] < 1).any():
        raise ValueError("the table has pairs with a = 0: zero cells are never scored")


def frequentist_scores(table: pd.DataFrame, settings: SignalSettings | None = None) -> pd.DataFrame:
    """PRR (95 % CI), Yates χ², ROR (Woolf 95 % CI), IC/IC025, the Haldane flag and the Evans rule.

    The +0.5 correction is applied only to tables with a zero cell, and only for the ratios and
    their intervals; χ², IC and E use the raw cells. Evans/MHRA signal: PRR ≥ 2 and Yates
    χ² ≥ 4 and a ≥ 3 (thresholds from ``settings``).
    """
    settings = settings or SignalSettings()
    _check_table(table)
    a, b, c, d = (table[k].to_numpy(dtype=float) for k in ("a", "b", "c", "d"))
    ha, hb, hc, hd, applied = haldane_anscombe(a, b, c, d)
    prr, prr_lo, prr_hi = proportional_reporting_ratio(ha, hb, hc, hd, settings.z)
    ror, ror_lo, ror_hi = reporting_odds_ratio(ha, hb, hc, hd, settings.z)
    chi2 = yates_chi_square(a, b, c, d)
    ic, ic025 = information_component(a, table["E"].to_numpy(dtype=float))
    with np.errstate(invalid="ignore"):
        evans = (prr >= settings.prr_threshold) & (chi2 >= settings.chi2_threshold) & (a >= settings.min_cases)
    return pd.DataFrame(
        {
            "PRR": prr, "PRR_lo": prr_lo, "PRR_hi": prr_hi, "chi2_yates": chi2,
            "ROR": ror, "ROR_lo": ror_lo, "ROR_hi": ror_hi,
            "IC": ic, "IC025": ic025,
            "haldane": applied, "evans_signal": evans,
        },
        index=table.index,
    )


# ---------------------------------------------------------------------------------------------
# Prior, posterior, screen
# ---------------------------------------------------------------------------------------------
def _fit_for(table: pd.DataFrame, settings: SignalSettings) -> PriorFit | PriorFitNotPossible:
    return fit_prior(
        table["a"].to_numpy(dtype=float),
        table["E"].to_numpy(dtype=float),
        n_star=settings.n_star,
        n_starts=settings.n_starts,
        squash=settings.squash,
        random_seed=settings.random_seed,
        min_pairs=settings.min_pairs_for_prior,
        truncation=settings.truncation,
    )


def _sorted_by_pair(table: pd.DataFrame) -> bool:
    p, t = table["product"].to_numpy(), table["term"].to_numpy()
    if len(p) < 2:
        return True
    return bool(np.all((p[1:] > p[:-1]) | ((p[1:] == p[:-1]) & (t[1:] > t[:-1]))))


class _Steps:
    """Times the steps and reports each through ``progress`` (a line per step), if given."""

    def __init__(self, progress: Progress | None) -> None:
        self.progress = progress
        self.started = time.perf_counter()

    def done(self, what: str) -> None:
        now = time.perf_counter()
        if self.progress is not None:
            self.progress(f"{what} ({now - self.started:.1f} s)")
        self.started = now


def score_table(
    table: pd.DataFrame,
    *,
    settings: SignalSettings | None = None,
    prior: PriorFit | PriorFitNotPossible | PriorChoice | None = None,
    progress: Progress | None = None,
) -> pd.DataFrame:
    """Score every pair of a contingency table (from ``contingency_from_*``).

    Columns, in this order: ``product, term, a, b, c, d, E, PRR, PRR_lo, PRR_hi, chi2_yates,
    ROR, ROR_lo, ROR_hi, IC, IC025, EBGM, EB05, EB95`` then ``N, haldane, evans_signal,
    eb05_signal, ic025_signal, signal``. ``eb05_signal``: EB05 ≥ ``settings.eb05_threshold`` and
    EB05 ≤ EBGM; ``ic025_signal``: IC025 > ``settings.ic025_threshold``; ``signal``: the primary
    screen's flag. The GPS prior is fitted on the table's pairs unless ``prior`` (a fit or a
    choice) is given; the prior actually used follows :func:`cer_lib.analysis.ebgm.choose_prior`,
    and without one EBGM/EB05/EB95 are NaN. Rows are sorted by product and term.
    """
    settings = settings or SignalSettings()
    _check_table(table)
    steps = _Steps(progress)
    if not _sorted_by_pair(table):
        table = table.sort_values(["product", "term"], kind="mergesort")
    table = table.reset_index(drop=True)
    scores = frequentist_scores(table, settings)
    steps.done(f"PRR, ROR, chi-square, IC for {len(table):,} pairs")
    if not isinstance(prior, PriorChoice):
        fit = prior if prior is not None else _fit_for(table, settings)
        if prior is None:
            steps.done(_fit_line(fit))
        prior = choose_prior(fit, settings.prior_fallback)
    if prior.prior is not None and len(table):
        posterior = posterior_scores(table["a"].to_numpy(float), table["E"].to_numpy(float), prior.prior)
        eb = posterior[["EBGM", "EB05", "EB95"]].set_index(table.index)
        steps.done(f"EBGM, EB05, EB95 for {len(table):,} pairs ({prior.source} prior)")
    else:
        eb = pd.DataFrame({k: np.full(len(table), np.nan) for k in ("EBGM", "EB05", "EB95")}, index=table.index)
    out = pd.concat([table[["product", "term", "a", "b", "c", "d", "E"]], scores, eb, table[["N"]]], axis=1)
    with np.errstate(invalid="ignore"):
        out["eb05_signal"] = ((out["EB05"] >= settings.eb05_threshold) & (out["EB05"] <= out["EBGM"])).to_numpy(bool)
        out["ic025_signal"] = (out["IC025"] > settings.ic025_threshold).to_numpy(bool)
    out["signal"] = out["eb05_signal" if settings.primary_screen == "EB05" else "ic025_signal"]
    return out[list(SCORE_COLUMNS) + list(EXTRA_COLUMNS)]


def _fit_line(fit: PriorFit | PriorFitNotPossible) -> str:
    if isinstance(fit, PriorFitNotPossible):
        return f"prior fit not possible: {fit.reason}"
    state = "converged" if fit.converged else "at the boundary" if fit.at_boundary else "not converged"
    return (f"prior fit on {fit.n_pairs:,} pairs ({fit.n_points:,} points), {fit.n_starts} starts, "
            f"{fit.n_at_optimum} at the best optimum, {state}" + (" (alpha2 -> 0 limit)" if fit.limit else ""))


def _prior_text(prior: PriorChoice) -> str:
    if prior.prior is None:
        return f"EBGM, EB05 and EB95 are not computed (not estimable): {prior.reason}."
    p = prior.prior
    theta = (f"alpha1 = {p.alpha1:.4g}, beta1 = {p.beta1:.4g}, alpha2 = {p.alpha2:.4g}, beta2 = {p.beta2:.4g}, "
             + (f"P -> 0 with P/alpha2 -> {p.limit_ratio:.4g}" if p.is_limit else f"P = {p.p:.4g}"))
    return f"Prior used ({prior.source}): {theta}; {prior.reason}."


def _method_text(
    settings: SignalSettings, fit: PriorFit | PriorFitNotPossible, prior: PriorChoice,
    data_description: str, expected_counts: str,
) -> dict[str, str]:
    methods = {
        "contingency": (
            f"Counts: {data_description} For each product P and term T, a = reports with P and T, "
            "b = reports with P without T, c = reports with T without P, d = the other reports, "
            f"N = a + b + c + d and the expected count {expected_counts}. Only pairs with a >= 1 are "
            "scored. Public adverse-event reports are numerators only: the scores measure "
            "disproportionate reporting, not incidence or causation."
        ),
        "PRR": (
            "Proportional reporting ratio PRR = [a/(a+b)]/[c/(c+d)] with a 95% confidence interval "
            f"exp(ln PRR +/- {settings.z}*SE), Var(ln PRR) = 1/a - 1/(a+b) + 1/c - 1/(c+d), and the "
            "Yates-corrected chi-square of the 2x2 table (1 df). Secondary flag by the Evans/MHRA rule: "
            f"PRR >= {settings.prr_threshold:g}, chi-square >= {settings.chi2_threshold:g} and "
            f"a >= {settings.min_cases} (Evans, Waller & Davis 2001, Pharmacoepidemiol Drug Saf "
            "10:483-486). Tables with a zero cell get +0.5 on all four cells (Haldane-Anscombe) for "
            "the ratio and its interval only; the 'haldane' column marks them."
        ),
        "ROR": (
            f"Reporting odds ratio ROR = ad/bc with Woolf's 95% confidence interval exp(ln ROR +/- "
            f"{settings.z}*SE), Var(ln ROR) = 1/a + 1/b + 1/c + 1/d (van Puijenbroek et al. 2002, "
            "Pharmacoepidemiol Drug Saf 11:3-10), with the same zero-cell correction as PRR."
        ),
        "IC": f"Information component, {IC_DEFINITION}.",
    }
    truncation_text = (
        "each component's negative binomial truncated at N* separately, as openEBGM does "
        "(Canida & Ihrie 2017, R Journal 9:499-519)"
        if settings.truncation == "per-component"
        else "the mixture truncated at N* as a whole (the conditional likelihood given a >= N*, whose "
        "mixture weight is the prior weight the posterior uses)"
    )
    gps = (
        "Empirical Bayes geometric mean (DuMouchel 1999, Am Stat 53:177-190): a two-gamma mixture "
        "prior P*Gamma(alpha1, beta1) + (1-P)*Gamma(alpha2, beta2) on the relative reporting ratio, "
        "n ~ Poisson(lambda*E), so n is marginally a mixture of negative binomials. The prior is "
        f"fitted by maximum likelihood over the pairs with a >= N* = {settings.n_star}, "
        + truncation_text
        + f", when there are at least {settings.min_pairs_for_prior} such pairs"
    )
    if isinstance(fit, PriorFit):
        gps += (
            f"; {fit.n_pairs} pairs"
            + (f" squashed to {fit.n_points} weighted points (DuMouchel & Pregibon 2001)" if fit.squashed else "")
            + f", {fit.n_starts} starting points (DuMouchel's 1999 estimates, openEBGM's, seeded random ones), "
            + f"{fit.n_converged} converged, {fit.n_at_optimum} reached the best likelihood; the log-likelihoods "
            + f"of the starts spread over {fit.neg_log_likelihood_spread:.3g}"
            + (f". The maximum is the limit alpha2 -> 0: {fit.limit}" if fit.limit else "")
            + (". A parameter is at the edge of its search range (a degenerate fit)" if fit.at_boundary else "")
            + (". The optimiser did not converge" if not fit.converged and not fit.at_boundary else "")
        )
    else:
        gps += f". Not fitted: {fit.reason}"
    gps += ". " + _prior_text(prior)
    if prior.prior is not None:
        gps += (" EBGM = exp(E[ln lambda | a]) and EB05/EB95 are the 5% and 95% points of the posterior "
                f"gamma mixture; EB05 flag: EB05 >= {settings.eb05_threshold:g} and EB05 <= EBGM.")
    else:
        gps += " Not computed for these data."
    methods["EBGM"] = gps
    return methods


def _screen_text(settings: SignalSettings) -> str:
    return (
        f"Primary screen, fixed before the analysis: {settings.primary_rule} (column 'signal'); the "
        "signal counts reported follow this rule only. Secondary, shown for each pair but not counted: "
        + "; ".join(settings.secondary_rules)
        + ". A pair whose EB05 exceeds its EBGM (a two-humped posterior) is never flagged by EB05."
    )


def detect_signals(
    table: pd.DataFrame,
    *,
    settings: SignalSettings | None = None,
    data_description: str = "distinct reports.",
    product_of_interest: str | None = None,
    expected_counts: str = "E = (a+b)(a+c)/N (not stratified)",
    progress: Progress | None = None,
) -> SignalResult:
    """Fit the prior, score the table and return it with the fit, the prior used, the settings and the methods."""
    settings = settings or SignalSettings()
    _check_table(table)
    steps = _Steps(progress)
    fit = _fit_for(table, settings)
    steps.done(_fit_line(fit))
    prior = choose_prior(fit, settings.prior_fallback)
    scored = score_table(table, settings=settings, prior=prior, progress=progress)
    n_reports = int(table["N"].iloc[0]) if len(table) else 0
    return SignalResult(
        table=scored,
        prior_fit=fit,
        settings=settings,
        methods=_method_text(settings, fit, prior, data_description, expected_counts),
        data_description=data_description,
        product_of_interest=product_of_interest,
        n_reports=n_reports,
        prior=prior,
        screen=_screen_text(settings),
        expected_counts=expected_counts,
    )


def score_device_problems(
    term_counts: pd.DataFrame,
    product_totals: pd.DataFrame,
    device_code: str,
    settings: SignalSettings | None = None,
    *,
    stratified: bool = False,
    row_totals: str = "all reports of the product code",
) -> SignalResult:
    """Score device-problem terms of a product-code family from aggregated counts.

    Every pair of the family is scored, so the GPS prior is fitted on the whole family; the
    caller keeps the rows of ``device_code`` (``result.for_product(device_code)``). Counts are
    aggregated (see :func:`contingency_from_counts`): N counts report-product pairs. With
    ``stratified`` both tables carry a ``stratum`` (year) column and E is stratified by it.
    ``row_totals`` says in words what ``product_totals`` counts (for the methods text).
    """
    if device_code not in set(product_totals.get("product", pd.Series(dtype=object))):
        raise ValueError(f"device code {device_code!r} is not in product_totals")
    table = contingency_from_counts(term_counts, product_totals, stratified=stratified)
    expected = (
        "E = sum over years s of (a+b)_s (a+c)_s / N_s, stratified by year received (openEBGM-style): "
        "a change of coding practice over the calendar does not make a product look disproportionate in "
        "E, IC, EBGM and the primary screen; the cells a, b, c, d and with them PRR, ROR and chi-square "
        "are pooled over the years"
        if stratified else "E = (a+b)(a+c)/N (not stratified by year)"
    )
    return detect_signals(
        table,
        settings=settings,
        data_description=(
            "aggregated report counts per product code and problem term (a report naming two "
            f"products counts for both, so N counts report-product pairs); row totals a + b: {row_totals}."
        ),
        product_of_interest=device_code,
        expected_counts=expected,
    )
