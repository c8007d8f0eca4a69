"""Facts: every number (and every data-derived phrase) the report's prose may state.

`build_facts(run_dir)` is the only place that reads a run's results for prose. It returns `Facts`,
a flat mapping ``name -> Fact``; each `Fact` holds the value, the text exactly as the prose prints
it, and a pointer to where the value comes from, e.g.::

    trend_rr          1.1234   "1.12"   results/analysis.json#/trend/rate_ratio_per_year
    n_recalls_device  3        "3"      tables/recalls.parquet (rows where scope = device)

Every fact name always exists, whatever the run holds; a value that is missing (a source was
unavailable, an analysis was not possible, a float was NaN) is ``None`` with the text
"not available", and templates test ``fact.available``. Repeated facts (change points, top problem
terms, flagged signals, sources, citations) are groups named ``<group>.<key>.<field>``; see
`Facts.group`.

Formatting (one place, so the prose and the tables agree): counts ``1,234``; ratios and other
decimals two places ``1.12``; report means per month one place ``11.3``; p-values three places or
``< 0.001``; shares as percentages ``12.3%``; dates ISO ``2024-05-31``; months ``May 2024``;
negative numbers with a minus sign ``−0.25``.

Citations (regulations, guidance, methods papers) are facts too, so that no number is typed in a
template: their source is the publication.
"""
from __future__ import annotations

import math
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from ..dates import parse_date
from ..runfolder import AnalysisFile, CollectStatus, IntegrateSummary, Resolution, RunFolder, RunRecord
from ..runfolder.analysis import ShareTrend
from ..runfolder.layout import ANALYSIS, COLLECT_STATUS, INTEGRATE_SUMMARY, MIRROR_LOAD, PARAMETERS, RESOLUTION, RUN_RECORD, pointer, table
from ..settings import OPENFDA_PUBLIC
from ..tables.outcomes import SERIOUS_OUTCOMES, outcome_counts, outcome_reports

if TYPE_CHECKING:
    from ..params import Parameters
    from ..sources.mirror.load_report import FileLoadReport, MirrorLoadReport
    from ..profiles import Profile
    from .structure import ReportStructure

__all__ = ["CITATIONS", "Fact", "Facts", "RunData", "build_facts", "format_value", "load_run_data", "NOT_AVAILABLE"]

NOT_AVAILABLE = "not available"
MINUS = "\u2212"

STATUS_WORDS = {
    "ok": "available",
    "empty": "no matching records",
    "unavailable": "unavailable",
    "error": "failed with an error",
    "disabled": "not queried (disabled in the parameters)",
}

#: Publications and regulatory texts the report cites: key -> (short form, full reference).
CITATIONS: dict[str, tuple[str, str]] = {
    "meddev": ("MEDDEV 2.7/1 revision 4",
               "European Commission. MEDDEV 2.7/1 revision 4: Clinical evaluation: a guide for manufacturers and notified bodies under directives 93/42/EEC and 90/385/EEC. June 2016."),
    "meddev_a9": ("MEDDEV 2.7/1 revision 4, Appendix A9",
                  "European Commission. MEDDEV 2.7/1 revision 4, Appendix A9: Clinical evaluation report, proposed table of contents. June 2016."),
    "ich_e2c": ("ICH E2C(R2)",
                "International Council for Harmonisation. E2C(R2): Periodic benefit-risk evaluation report (PBRER). December 2012."),
    "mdr": ("Regulation (EU) 2017/745 (MDR)",
            "Regulation (EU) 2017/745 of the European Parliament and of the Council of 5 April 2017 on medical devices."),
    "mdr_art61": ("MDR Article 61", "Regulation (EU) 2017/745, Article 61: Clinical evaluation."),
    "mdr_art88": ("MDR Article 88", "Regulation (EU) 2017/745, Article 88: Trend reporting."),
    "mdcg_2020_13": ("MDCG 2020-13", "MDCG 2020-13: Clinical evaluation assessment report template. July 2020."),
    "mdcg_2020_5": ("MDCG 2020-5", "MDCG 2020-5: Clinical evaluation: equivalence. A guide for manufacturers and notified bodies. April 2020."),
    "cfr_803": ("21 CFR Part 803", "US Code of Federal Regulations, Title 21, Part 803: Medical device reporting."),
    "cfr_807": ("21 CFR Part 807 Subpart E", "US Code of Federal Regulations, Title 21, Part 807, Subpart E: Premarket notification procedures (510(k))."),
    "evans": ("Evans et al. (2001)",
              "Evans SJW, Waller PC, Davis S. Use of proportional reporting ratios (PRRs) for signal generation from spontaneous adverse drug reaction reports. Pharmacoepidemiol Drug Saf. 2001;10:483-486."),
    "rothman": ("Rothman et al. (2004)",
                "Rothman KJ, Lanes S, Sacks ST. The reporting odds ratio and its advantages over the proportional reporting ratio. Pharmacoepidemiol Drug Saf. 2004;13:519-523."),
    "noren": ("Norén et al. (2013)",
              "Norén GN, Hopstadius J, Bate A. Shrinkage observed-to-expected ratios for robust and transparent large-scale pattern discovery. Stat Methods Med Res. 2013;22:57-69."),
    "dumouchel": ("DuMouchel (1999)",
                  "DuMouchel W. Bayesian data mining in large frequency tables, with an application to the FDA spontaneous reporting system. Am Stat. 1999;53:177-190."),
    "killick": ("Killick et al. (2012)",
                "Killick R, Fearnhead P, Eckley IA. Optimal detection of changepoints with a linear computational cost. J Am Stat Assoc. 2012;107:1590-1598."),
    "lucas": ("Lucas (1985)", "Lucas JM. Counted data CUSUM's. Technometrics. 1985;27:129-144."),
    "montgomery": ("Montgomery (2013)",
                   "Montgomery DC. Introduction to Statistical Quality Control. 7th ed. Hoboken: Wiley; 2013 (chapters 7 and 9)."),
    "jensen": ("Jensen et al. (2006)",
               "Jensen WA, Jones-Farmer LA, Champ CW, Woodall WH. Effects of parameter estimation on control chart properties: a literature review. J Qual Technol. 2006;38:349-364."),
    "shao_zhang": ("Shao and Zhang (2010)",
                   "Shao X, Zhang X. Testing for change points in time series. J Am Stat Assoc. 2010;105:1228-1240."),
    "rao_scott": ("Rao and Scott (1992)",
                  "Rao JNK, Scott AJ. A simple method for the analysis of clustered binary data. Biometrics. 1992;48:577-585."),
    "fpp3": ("Hyndman and Athanasopoulos (2021)",
             "Hyndman RJ, Athanasopoulos G. Forecasting: principles and practice. 3rd ed. Melbourne: OTexts; 2021."),
    "hyndman": ("Hyndman and Koehler (2006)",
                "Hyndman RJ, Koehler AB. Another look at measures of forecast accuracy. Int J Forecast. 2006;22:679-688."),
    "bh": ("Benjamini and Hochberg (1995)",
           "Benjamini Y, Hochberg Y. Controlling the false discovery rate: a practical and powerful approach to multiple testing. J R Stat Soc B. 1995;57:289-300."),
}


# ----------------------------------------------------------------------------------------------
# Fact and Facts


def _clean_text(text: str) -> str:
    """One line: runs of whitespace (newlines included) become one space."""
    return re.sub(r"\s+", " ", text).strip()


@dataclass(frozen=True)
class Fact:
    """One named value with its printed text and where it comes from."""

    name: str
    value: Any
    text: str
    source: str
    kind: str = "text"

    @property
    def available(self) -> bool:
        return self.value is not None

    def __str__(self) -> str:
        return self.text

    def to_dict(self) -> dict[str, Any]:
        return {"value": self.value, "text": self.text, "source": self.source, "kind": self.kind}


class Facts(Mapping[str, Fact]):
    """A flat, read-only mapping of `Fact` by name."""

    def __init__(self, facts: Mapping[str, Fact], run_dir: Path | None = None,
                 structure: "ReportStructure | None" = None) -> None:
        self._facts = dict(facts)
        self.run_dir = run_dir
        self.structure = structure  # the report structure the facts are rendered into (the run's profile's)

    def __getitem__(self, name: str) -> Fact:
        try:
            return self._facts[name]
        except KeyError:
            raise KeyError(f"no fact named {name!r}") from None

    def __iter__(self) -> Iterator[str]:
        return iter(self._facts)

    def __len__(self) -> int:
        return len(self._facts)

    def group(self, prefix: str) -> list[dict[str, Fact]]:
        """Members of group ``prefix`` in insertion order: ``[{field: Fact}, ...]``.

        ``facts.group("change_point")`` -> ``[{"date": Fact, "rate_before": Fact, ...}, ...]``.
        """
        members: dict[str, dict[str, Fact]] = {}
        start = prefix + "."
        for name, fact in self._facts.items():
            if name.startswith(start):
                key, _, field_name = name[len(start):].partition(".")
                if field_name:
                    members.setdefault(key, {})[field_name] = fact
        return list(members.values())

    def member(self, prefix: str, key: str) -> dict[str, Fact]:
        """Fields of one group member: ``facts.member("source", "device_recall")["status"]``."""
        start = f"{prefix}.{key}."
        found = {name[len(start):]: fact for name, fact in self._facts.items() if name.startswith(start)}
        if not found:
            raise KeyError(f"no fact group member {prefix}.{key}")
        return found

    def to_dict(self) -> dict[str, dict[str, Any]]:
        return {name: fact.to_dict() for name, fact in self._facts.items()}

    def texts(self) -> set[str]:
        return {fact.text for fact in self._facts.values()}

    @property
    def synthetic(self) -> bool:
        return bool(self._facts["synthetic"].value)

    def __repr__(self) -> str:
        return f"Facts({len(self)} facts)"

    def _repr_html_(self) -> str:
        frame = pd.DataFrame(
            [{"fact": n, "text": f.text, "source": f.source} for n, f in self._facts.items()],
            columns=["fact", "text", "source"],
        )
        return frame.to_html(index=False, escape=True)


# ----------------------------------------------------------------------------------------------
# formatting


def _is_missing(value: Any) -> bool:
    if value is None or value is pd.NA or value is pd.NaT:
        return True
    if isinstance(value, float) and not math.isfinite(value):
        return True
    try:
        return bool(pd.isna(value)) if not isinstance(value, (str, list, tuple, dict)) else False
    except (TypeError, ValueError):
        return False


def _signed(text: str) -> str:
    return MINUS + text[1:] if text.startswith("-") else text


def format_value(value: Any, kind: str) -> tuple[Any, str]:
    """``(json_value, text)`` of ``value`` formatted as ``kind``; missing values -> ``(None, "not available")``."""
    if _is_missing(value):
        return None, NOT_AVAILABLE
    if kind == "count":
        number = int(value)
        return number, _signed(f"{number:,}")
    if kind in ("ratio", "decimal"):
        number = float(value)
        return number, _signed(f"{number:,.2f}")
    if kind == "rate":
        number = float(value)
        return number, _signed(f"{number:,.1f}")
    if kind == "p_value":
        number = float(value)
        return number, "< 0.001" if number < 0.001 else f"{number:.3f}"
    if kind == "share":
        number = float(value)
        return number, f"{100 * number:.1f}%"
    if kind == "percent":  # already in percent units
        number = float(value)
        return number, f"{number:g}%"
    if kind in ("date", "month"):
        day = parse_date(value)
        if day is None:
            return None, NOT_AVAILABLE
        return day.isoformat(), day.isoformat() if kind == "date" else f"{day:%B %Y}"
    if kind == "flag":
        flag = bool(value)
        return flag, "yes" if flag else "no"
    if kind == "list":
        items = [_clean_text(str(v)) for v in value if not _is_missing(v) and str(v).strip()]
        if not items:
            return None, NOT_AVAILABLE
        return items, ", ".join(items)
    text = _clean_text(str(value))
    if not text:
        return None, NOT_AVAILABLE
    return text, text


# ----------------------------------------------------------------------------------------------
# reading the run folder


@dataclass
class RunData:
    """A run's files as the fact builders read them: loaded once, typed (see `cer_lib.runfolder`)."""

    folder: RunFolder
    profile: "Profile"
    params: "Parameters"
    run: RunRecord | None  # absent in a JupyterLab working folder
    status: CollectStatus
    resolution: Resolution
    analysis: AnalysisFile
    summary: IntegrateSummary
    tables: dict[str, pd.DataFrame]
    mirror_load: "MirrorLoadReport | None" = None  # a run from the mirror: what loading each file did


def load_run_data(run_dir: str | Path | Any) -> RunData:
    """Every file the facts are built from (a path, a `RunFolder` or a `RunContext`)."""
    from ..profiles import profile_of

    folder = RunFolder.of(run_dir)
    params = folder.parameters()
    profile = profile_of(params)
    return RunData(
        folder=folder, profile=profile, params=params, run=folder.run_record(missing_ok=True),
        status=folder.collect_status(), resolution=folder.resolution(profile.resolution_model),
        analysis=folder.analysis(), summary=folder.integrate_summary(), tables=folder.tables(),
        mirror_load=folder.mirror_load(),
    )


UNUSABLE_STATES = ("unavailable", "error", "disabled")

#: Below this many reports in the window, or this many complete months, the data are too sparse for
#: statistical inference: the report says so first, and model output (trend tests, control chart,
#: change points, share changes, disproportionality) is shown as description, never as a finding.
SPARSE_REPORTS = 30
SPARSE_MONTHS = 24


class _Builder:
    """Collects facts. A fact that ``needs`` sources the run could not use (all of them) gets no
    value ("not available"), never a misleading zero from an empty table."""

    def __init__(self, unusable: set[str] | None = None) -> None:
        self.facts: dict[str, Fact] = {}
        self.unusable = unusable or set()
        self.needs: tuple[str, ...] = ()  # default for the facts being added (see `using`)

    def using(self, *sources: str) -> "_Builder":
        self.needs = sources
        return self

    def add(self, name: str, value: Any, kind: str, source: str, text: str | None = None,
            needs: tuple[str, ...] | None = None) -> None:
        if name in self.facts:
            raise ValueError(f"fact {name!r} defined twice")
        needs = self.needs if needs is None else needs
        if needs and all(n in self.unusable for n in needs):
            value = None
        json_value, formatted = format_value(value, kind)
        if text is not None and json_value is not None:
            formatted = _clean_text(text)
        self.facts[name] = Fact(name, json_value, formatted, source, kind)


def _ptr(path: str, *keys: Any) -> str:
    return pointer(path, *keys)


def _at(items: Sequence[Any], index: int) -> Any:
    """``items[index]``, None when there is no such item."""
    return items[index] if -len(items) <= index < len(items) else None


# ----------------------------------------------------------------------------------------------
# build


def build_facts(run_dir: str | Path | Any) -> Facts:
    """All facts of a run folder (a path, a `RunFolder` or a `RunContext`), by its profile's fact builders."""
    run = load_run_data(run_dir)
    unusable = {name for name, e in run.status.sources.items() if e.status in UNUSABLE_STATES}
    b = _Builder(unusable)
    for builder in run.profile.fact_builders:
        builder(b, run)
    return Facts(b.facts, run.folder.path, structure=run.profile.report)


_CLASS_TEXT = {"1": "Class I", "2": "Class II", "3": "Class III", "U": "unclassified", "N": "not classified", "F": "HDE"}


def device_class_text(klass: Any) -> str | None:
    """FDA's device class as the report spells it everywhere: "Class II" (from "2"), "unclassified", ..."""
    if klass is None or str(klass).strip() == "":
        return None
    return _CLASS_TEXT.get(str(klass).strip(), f"class {klass}")


def run_facts(b: _Builder, run: RunData) -> None:
    params, record, status, meta = run.params, run.run, run.status, run.analysis.meta
    b.add("run_id", record.run_id if record else None, "text", _ptr(RUN_RECORD, "run_id"))
    b.add("code", params.code, "text", _ptr(PARAMETERS, "code"))
    b.add("kind", params.kind.value.replace("_", " "), "text", _ptr(PARAMETERS, "kind"))
    b.add("as_of", meta.as_of or params.window.end, "date", _ptr(ANALYSIS, "meta", "as_of") if meta.as_of
          else _ptr(PARAMETERS, "window", "end"))
    b.add("window_start", params.window.start, "date", _ptr(PARAMETERS, "window", "start"))
    b.add("window_end", params.window.end, "date", _ptr(PARAMETERS, "window", "end"))
    origin_text = {"api": "the openFDA and EUDAMED public APIs", "mirror": "a local mirror of openFDA bulk files"}.get(
        status.origin or "")
    b.add("data_origin", origin_text, "text", _ptr(COLLECT_STATUS, "origin"))
    b.add("offline", status.offline, "flag", _ptr(COLLECT_STATUS, "offline"))
    b.add("synthetic", status.synthetic, "flag", _ptr(COLLECT_STATUS, "synthetic"))
    version = record.code_version if record else None
    commit = version.git_commit if version else None
    b.add("git_commit", commit, "text", _ptr(RUN_RECORD, "code_version", "git_commit"),
          text=commit[:12] if commit else None)
    b.add("git_dirty", version.dirty if version else None, "flag", _ptr(RUN_RECORD, "code_version", "dirty"))
    lock = version.lock_sha256 if version else None
    b.add("lock_sha256", lock, "text", _ptr(RUN_RECORD, "code_version", "lock_sha256"), text=lock[:16] if lock else None)
    b.add("tool_version", record.tool_version if record else None, "text", _ptr(RUN_RECORD, "tool_version"))
    b.add("started_utc", record.started_utc if record else None, "date", _ptr(RUN_RECORD, "started_utc"))


def device_facts(b: _Builder, run: RunData) -> None:
    r = run.resolution
    src = RESOLUTION
    b.add("device_name", r.device_name, "text", _ptr(src, "device_name"))
    b.add("product_code", r.product_code, "text", _ptr(src, "product_code"))
    klass = r.device_class
    b.add("device_class", klass, "text", _ptr(src, "device_class"), text=device_class_text(klass))
    regulation = r.regulation_number
    b.add("regulation_number", regulation, "text", _ptr(src, "regulation_number"),
          text=f"21 CFR {regulation}" if regulation else None)
    b.add("review_panel", r.review_panel, "text", _ptr(src, "review_panel"))
    b.add("medical_specialty", r.medical_specialty, "text", _ptr(src, "medical_specialty"))
    b.add("implant", r.implant, "flag", _ptr(src, "implant"))
    b.add("life_sustaining", r.life_sustaining, "flag", _ptr(src, "life_sustaining"))
    b.add("definition", r.definition, "text", _ptr(src, "definition"))
    b.add("n_comparators", len(r.comparators), "count", _ptr(src, "comparators") + " (number of entries)")
    b.add("comparator_codes", [c.product_code for c in r.comparators], "list", _ptr(src, "comparators") + " (product_code)")
    b.add("comparators_truncated", r.comparators_truncated, "flag", _ptr(src, "comparators_truncated"))
    b.add("comparators_by_volume", r.comparators_by_volume, "flag", _ptr(src, "comparators_by_volume"))
    b.add("max_comparators", run.params.methods.signals.max_comparators, "count",
          _ptr(PARAMETERS, "methods", "signals", "max_comparators"))
    brand = r.brand  # how a brand was searched (issue 17): its normalised form, the variants found, the others
    reports = lambda found: [f"“{v.value}” ({v.records:,} report{'' if v.records == 1 else 's'})" for v in found]
    b.add("brand_normalised", brand.normalised if brand else None, "text", _ptr(src, "brand", "normalised"), needs=())
    b.add("brand_rule", brand.rule if brand else None, "text", _ptr(src, "brand", "rule"), needs=())
    b.add("brand_variants", reports(brand.variants) if brand else None, "list", _ptr(src, "brand", "variants"), needs=())
    b.add("brand_others", reports(brand.others) if brand else None, "list", _ptr(src, "brand", "others"), needs=())


def source_facts(b: _Builder, run: RunData) -> None:
    status = run.status
    not_ok = []
    src = COLLECT_STATUS
    for spec in run.profile.sources:
        name = spec.name
        entry = status.source(name)
        state = entry.status if entry else None
        prefix = f"source.{name}"
        b.add(f"{prefix}.label", spec.label, "text", f"cer_lib/sources/registry.py#SOURCES/{name}")
        b.add(f"{prefix}.state", state, "text", _ptr(src, "sources", name, "status"))
        b.add(f"{prefix}.status", STATUS_WORDS.get(state, state) if state else "not recorded", "text",
              _ptr(src, "sources", name, "status"))
        b.add(f"{prefix}.reason", entry.reason if entry else None, "text", _ptr(src, "sources", name, "reason"))
        b.add(f"{prefix}.last_updated", entry.last_updated if entry else None, "date",
              _ptr(src, "sources", name, "last_updated"))
        b.add(f"{prefix}.total", entry.total if entry else None, "count", _ptr(src, "sources", name, "total"))
        b.add(f"{prefix}.fetched", entry.fetched if entry else None, "count", _ptr(src, "sources", name, "fetched"))
        b.add(f"{prefix}.truncated", bool(entry and entry.truncated), "flag", _ptr(src, "sources", name, "truncated"))
        b.add(f"{prefix}.url", spec.url(status.base_url or OPENFDA_PUBLIC), "text", _ptr(src, "base_url") + " + endpoint")
        if state not in ("ok", None):
            not_ok.append(state)
    b.add("n_sources_not_ok", len(not_ok), "count", _ptr(src, "sources") + " (status other than ok)")
    b.add("n_sources_unusable", sum(s in UNUSABLE_STATES for s in not_ok), "count",
          _ptr(src, "sources") + " (status unavailable, error or disabled)")
    b.add("n_sources_empty", sum(s == "empty" for s in not_ok), "count", _ptr(src, "sources") + " (status empty)")
    load = run.mirror_load  # rows the mirror's files lost: on the first page, never only in a file
    lost = load.with_rejections if load else []
    b.add("mirror_rows_rejected", load.rows_rejected if load else None, "count",
          _ptr(MIRROR_LOAD, "rows_rejected"), needs=())
    b.add("mirror_rejections", [_rejection_text(f) for f in lost] or None, "list",
          _ptr(MIRROR_LOAD, "files") + " (files with rows_rejected or status refused)", needs=())


def _rejection_text(file: "FileLoadReport") -> str:
    """``maude/foidev2007.txt: 3 of 1,200 rows rejected (line 17: ...)`` or the reason it was refused."""
    first = f" (first: {file.rejected[0].describe()})" if file.rejected else ""
    if file.status == "refused":
        return f"{file.path}: refused, {file.refused}"
    return f"{file.path}: {file.rows_rejected:,} of {file.rows_read:,} rows rejected{first}"


def method_facts(b: _Builder, run: RunData) -> None:
    m = run.params.methods
    p = PARAMETERS
    b.add("alpha", m.trend.alpha, "decimal", _ptr(p, "methods", "trend", "alpha"), text=f"{m.trend.alpha:g}")
    b.add("recent_months", m.trend.recent_months, "count", _ptr(p, "methods", "trend", "recent_months"))
    b.add("baseline_months", m.trend.baseline_months, "count", _ptr(p, "methods", "trend", "baseline_months"))
    b.add("overdispersion_threshold", m.trend.overdispersion_threshold, "decimal",
          _ptr(p, "methods", "trend", "overdispersion_threshold"), text=f"{m.trend.overdispersion_threshold:g}")
    b.add("prr_threshold", m.signals.prr_threshold, "decimal", _ptr(p, "methods", "signals", "prr_threshold"),
          text=f"{m.signals.prr_threshold:g}")
    b.add("chi2_threshold", m.signals.chi2_threshold, "decimal", _ptr(p, "methods", "signals", "chi2_threshold"),
          text=f"{m.signals.chi2_threshold:g}")
    b.add("min_a", m.signals.min_a, "count", _ptr(p, "methods", "signals", "min_a"))
    b.add("eb05_threshold", m.signals.eb05_threshold, "decimal", _ptr(p, "methods", "signals", "eb05_threshold"),
          text=f"{m.signals.eb05_threshold:g}")
    b.add("ic025_threshold", m.signals.ic025_threshold, "decimal", _ptr(p, "methods", "signals", "ic025_threshold"),
          text=f"{m.signals.ic025_threshold:g}")
    b.add("fdr_q", m.problems.fdr_q, "decimal", _ptr(p, "methods", "problems", "fdr_q"), text=f"{m.problems.fdr_q:g}")
    b.add("recent_years", m.problems.recent_years, "count", _ptr(p, "methods", "problems", "recent_years"))
    b.add("review_sample_size", m.review_sample_size, "count", _ptr(p, "methods", "review_sample_size"))
    b.add("ci_level", 95, "percent", "cer_lib.analysis (two-sided 95% intervals throughout)")
    b.add("pi_levels", "80% and 95%", "text", _ptr(ANALYSIS, "forecast", "rows") + " (pi80_*, pi95_*)")


def maude_facts(b: _Builder, run: RunData) -> None:
    src = ANALYSIS
    tables = run.tables
    mc = run.analysis.monthly_counts
    totals = mc.totals
    all_reports = totals.get("all")
    b.add("reports_total", all_reports, "count", _ptr(src, "monthly_counts", "totals", "all"))
    for event_type in ("Death", "Injury", "Malfunction", "Other"):
        n = totals.get(event_type)
        key = event_type.lower()
        b.add(f"reports_{key}", n, "count", _ptr(src, "monthly_counts", "totals", event_type))
        share = n / all_reports if n is not None and all_reports else None
        b.add(f"share_{key}", share, "share", _ptr(src, "monthly_counts", "totals", event_type) + " / totals/all")
    b.add("first_month", mc.first_month, "month", _ptr(src, "monthly_counts", "first_month"))
    with_reports = [r.month for r in mc.rows if r.event_type == "total" and r.n_reports]
    b.add("first_report_month", min(with_reports) if with_reports else None, "month",
          _ptr(src, "monthly_counts", "rows") + " (first month with n_reports > 0, event_type total)")
    b.add("last_report_month", max(with_reports) if with_reports else None, "month",
          _ptr(src, "monthly_counts", "rows") + " (last month with n_reports > 0, event_type total)")
    b.add("last_complete_month", mc.last_complete_month, "month", _ptr(src, "monthly_counts", "last_complete_month"))
    b.add("n_complete_months", mc.n_complete_months, "count", _ptr(src, "monthly_counts", "n_complete_months"))
    b.add("incomplete_month", mc.incomplete_month, "month", _ptr(src, "monthly_counts", "incomplete_month"))
    b.add("monthly_method", mc.method, "text", _ptr(src, "monthly_counts", "method"))
    b.add("sparse_min_reports", SPARSE_REPORTS, "count", "cer_lib/report/facts.py#SPARSE_REPORTS")
    b.add("sparse_min_months", SPARSE_MONTHS, "count", "cer_lib/report/facts.py#SPARSE_MONTHS")
    sparse = all_reports is not None and (all_reports < SPARSE_REPORTS or (mc.n_complete_months or 0) < SPARSE_MONTHS)
    b.add("sparse", sparse, "flag", _ptr(src, "monthly_counts", "totals", "all") + " and n_complete_months against "
          "SPARSE_REPORTS, SPARSE_MONTHS", needs=())

    b.using("device_event")
    events = tables.get("events", pd.DataFrame())
    texts = tables.get("event_texts", pd.DataFrame())
    b.add("n_review_sample", len(events), "count", f"{table('events')} (rows)")
    n_text_reports = int(texts["mdr_report_key"].nunique()) if "mdr_report_key" in texts else 0
    b.add("n_reports_with_text", n_text_reports, "count", f"{table('event_texts')} (distinct mdr_report_key)")
    received = _dates(events, "date_received")
    b.add("review_sample_first", received.min() if len(received) else None, "date", f"{table('events')} (min date_received)")
    b.add("review_sample_last", received.max() if len(received) else None, "date", f"{table('events')} (max date_received)")
    events_summary = run.summary.tables.get("events")
    b.add("events_duplicates_removed", events_summary.duplicates_removed if events_summary else None, "count",
          _ptr(INTEGRATE_SUMMARY, "tables", "events", "duplicates_removed"))
    outcomes = tables.get("patient_outcomes", pd.DataFrame())
    deaths_outcome = int(outcomes.loc[outcomes["outcome"] == "Death", "mdr_report_key"].nunique()) if "outcome" in outcomes else 0
    b.add("n_sample_death_outcome", deaths_outcome, "count",
          f"{table('patient_outcomes')} (distinct reports with outcome = Death)")
    serious = outcome_reports(outcomes, events)
    b.add("n_sample_serious_outcome", int(serious["serious"].sum()) if len(serious) else 0, "count",
          f"{table('patient_outcomes')} (distinct reports with a serious outcome: {', '.join(SERIOUS_OUTCOMES)})")
    b.add("n_sample_serious_malfunction", int((serious["serious"] & (serious["event_type"] == "Malfunction")).sum())
          if len(serious) else 0, "count", f"{table('patient_outcomes')} x {table('events')} (serious outcome, event_type Malfunction)")
    b.add("sample_outcomes", [f"{o.lower()} in {n:,} report{'' if n == 1 else 's'}" for o, n in outcome_counts(outcomes)] or None,
          "list", f"{table('patient_outcomes')} (distinct reports per outcome)")
    totals_table = tables.get("report_totals", pd.DataFrame())
    comp_total = None
    if {"scope", "period", "n_reports"} <= set(totals_table.columns):
        rows = totals_table[(totals_table["scope"] == "comparator") & (totals_table["period"] == "all")
                            & (totals_table.get("problem_type", "all") == "all")]
        comp_total = int(rows["n_reports"].sum()) if len(rows) else None
    b.add("reports_comparators", comp_total, "count",
          f"{table('report_totals')} (sum of n_reports where scope = comparator, period = all, problem_type = all)")
    b.using()
    events_once_facts(b, run)


def events_once_facts(b: _Builder, run: RunData) -> None:
    """Reports of one event counted once (`cer_lib.analysis.events_once`): in the series the models use
    (``series``) and in the device's term counts and totals the signals and problem profiles use (``problems``)."""
    counting = run.analysis.event_counting
    b.add("count_unit", "event" if counting.series.applied else "report", "text",
          _ptr(ANALYSIS, "event_counting", "unit") + " (singular)")
    for name, merge in (("series", counting.series), ("problems", counting.problems)):
        src = ("event_counting", name)
        b.add(f"events_once_{name}_applied", merge.applied, "flag", _ptr(ANALYSIS, *src, "applied"))
        b.add(f"events_once_{name}_reason", merge.reason, "text", _ptr(ANALYSIS, *src, "reason"))
        b.add(f"events_once_{name}_reports", merge.n_reports, "count", _ptr(ANALYSIS, *src, "n_reports"))
        b.add(f"events_once_{name}_events", merge.n_events, "count", _ptr(ANALYSIS, *src, "n_events"))
        b.add(f"events_once_{name}_merged", merge.n_reports_merged, "count", _ptr(ANALYSIS, *src, "n_reports_merged"))
        b.add(f"events_once_{name}_groups", merge.n_groups, "count", _ptr(ANALYSIS, *src, "n_groups"))
    b.add("events_once_rule", counting.series.rule or counting.problems.rule, "text", _ptr(ANALYSIS, "event_counting", "series", "rule"))


def trend_facts(b: _Builder, run: RunData) -> None:
    src = ANALYSIS
    t = run.analysis.trend
    b.add("trend_status", t.status, "text", _ptr(src, "trend", "status"))
    b.add("trend_ok", t.status == "ok", "flag", _ptr(src, "trend", "status"))
    b.add("trend_reason", t.reason or None, "text", _ptr(src, "trend", "reason"))
    b.add("trend_model", t.model, "text", _ptr(src, "trend", "model"))
    b.add("trend_method", t.method, "text", _ptr(src, "trend", "method"))
    b.add("trend_dispersion", t.dispersion, "decimal", _ptr(src, "trend", "dispersion"))
    b.add("trend_overdispersed", t.overdispersed, "flag", _ptr(src, "trend", "overdispersed"))
    b.add("trend_rr", t.rate_ratio_per_year, "ratio", _ptr(src, "trend", "rate_ratio_per_year"))
    b.add("trend_ci_low", t.ci_low, "ratio", _ptr(src, "trend", "ci_low"))
    b.add("trend_ci_high", t.ci_high, "ratio", _ptr(src, "trend", "ci_high"))
    b.add("trend_p", t.p_value, "p_value", _ptr(src, "trend", "p_value"))
    ci_excludes_one = None
    if t.ci_low is not None and t.ci_high is not None:
        ci_excludes_one = "above" if t.ci_low > 1 else "below" if t.ci_high < 1 else "includes"
    b.add("trend_direction", ci_excludes_one, "text", _ptr(src, "trend") + " (ci_low > 1: above; ci_high < 1: below)")

    v = t.verdict
    vp = ("trend", "verdict")
    b.add("verdict", v.verdict, "text", _ptr(src, *vp, "verdict"))
    b.add("verdict_reason", v.reason or None, "text", _ptr(src, *vp, "reason"))
    b.add("verdict_method", v.method, "text", _ptr(src, *vp, "method"))
    b.add("verdict_alpha", v.alpha, "decimal", _ptr(src, *vp, "alpha"), text=f"{v.alpha:g}" if v.alpha is not None else None)
    for window in ("recent", "baseline"):
        w = getattr(v, window)
        b.add(f"verdict_{window}_start", w.start, "date", _ptr(src, *vp, window, "start"))
        b.add(f"verdict_{window}_end", w.end, "date", _ptr(src, *vp, window, "end"))
        b.add(f"verdict_{window}_months", w.months, "count", _ptr(src, *vp, window, "months"))
        b.add(f"verdict_{window}_n", w.n_reports, "count", _ptr(src, *vp, window, "n_reports"))
    b.add("verdict_rr", v.rate_ratio, "ratio", _ptr(src, *vp, "rate_ratio"))
    b.add("verdict_ci_low", v.ci_low, "ratio", _ptr(src, *vp, "ci_low"))
    b.add("verdict_ci_high", v.ci_high, "ratio", _ptr(src, *vp, "ci_high"))
    b.add("verdict_p", v.p_value, "p_value", _ptr(src, *vp, "p_value"))

    cc = t.control_chart
    b.add("cc_ok", cc is not None and cc.centre is not None and cc.status == "ok", "flag",
          _ptr(src, "trend", "control_chart") + " (status ok and centre present)")
    b.add("cc_method", cc.method if cc else None, "text", _ptr(src, "trend", "control_chart", "method"))
    b.add("cc_centre", cc.centre if cc else None, "rate", _ptr(src, "trend", "control_chart", "centre"))
    b.add("cc_ucl", cc.ucl if cc else None, "rate", _ptr(src, "trend", "control_chart", "ucl"))
    b.add("cc_lcl", cc.lcl if cc else None, "rate", _ptr(src, "trend", "control_chart", "lcl"))
    signals = cc.signals if cc else []
    b.add("cc_n_signals", len(signals) if cc else None, "count", _ptr(src, "trend", "control_chart", "signals") + " (number)")
    months = [format_value(s.month, "month")[1] for s in signals]
    b.add("cc_signal_months", months, "list", _ptr(src, "trend", "control_chart", "signals") + " (month)")
    cu = t.cusum
    b.add("cusum_ok", cu.k is not None and cu.status == "ok", "flag", _ptr(src, "trend", "cusum") + " (status ok and k present)")
    b.add("cusum_method", cu.method, "text", _ptr(src, "trend", "cusum", "method"))
    b.add("cusum_k", cu.k, "decimal", _ptr(src, "trend", "cusum", "k"))
    b.add("cusum_h", cu.h, "decimal", _ptr(src, "trend", "cusum", "h"))
    b.add("cusum_first_alarm", cu.first_alarm, "month", _ptr(src, "trend", "cusum", "first_alarm"))


def trend_method_facts(b: _Builder, run: RunData) -> None:
    """The windows, the primary rule, the phases of the charts and their false-alarm rates, the reporting-lag guard."""
    src = ANALYSIS
    a = run.analysis
    mc = a.monthly_counts
    b.add("lag_guard_months", mc.lag_guard_months, "count", _ptr(src, "monthly_counts", "lag_guard_months"))
    b.add("lag_guard_cutoff", mc.lag_guard_cutoff, "date", _ptr(src, "monthly_counts", "lag_guard_cutoff"))
    t = a.trend
    b.add("trend_primary_rule", t.primary.rule, "text", _ptr(src, "trend", "primary", "rule"))
    b.add("verdict_baseline_label", t.verdict.baseline_label, "text", _ptr(src, "trend", "verdict", "baseline_label"))
    b.add("verdict_reduced_baseline", bool(t.verdict.reduced_baseline), "flag", _ptr(src, "trend", "verdict", "reduced_baseline"))
    for key, entry in t.by_event_type.items():
        g, p = f"secondary_verdict.{key}", ("trend", "by_event_type", key)
        b.add(f"{g}.event_type", key, "text", _ptr(src, *p))
        b.add(f"{g}.verdict", entry.verdict.verdict, "text", _ptr(src, *p, "verdict", "verdict"))
        b.add(f"{g}.rate_ratio", entry.verdict.rate_ratio, "ratio", _ptr(src, *p, "verdict", "rate_ratio"))
        b.add(f"{g}.p", entry.verdict.p_value, "p_value", _ptr(src, *p, "verdict", "p_value"))
        b.add(f"{g}.p_holm", entry.p_holm, "p_value", _ptr(src, *p, "p_holm"))
    cc = t.control_chart
    c = ("trend", "control_chart")
    b.add("cc_reason", cc.reason if cc else None, "text", _ptr(src, *c, "reason"))
    b.add("cc_baseline_start", cc.baseline.start if cc else None, "month", _ptr(src, *c, "baseline", "start"))
    b.add("cc_baseline_end", cc.baseline.end if cc else None, "month", _ptr(src, *c, "baseline", "end"))
    b.add("cc_reduced_baseline", bool(cc and cc.baseline.reduced), "flag", _ptr(src, *c, "baseline", "reduced"))
    b.add("cc_monitoring_start", cc.monitoring.start if cc else None, "month", _ptr(src, *c, "monitoring", "start"))
    b.add("cc_monitoring_end", cc.monitoring.end if cc else None, "month", _ptr(src, *c, "monitoring", "end"))
    excluded = cc.phase_one_excluded if cc else None
    b.add("cc_n_phase_one_excluded", len(excluded) if excluded is not None else None, "count",
          _ptr(src, *c, "phase_one_excluded") + " (number)")
    b.add("cc_phase_one_months", [format_value(m, "month")[1] for m in excluded or []], "list",
          _ptr(src, *c, "phase_one_excluded"))
    b.add("cc_false_alarm_known", cc.false_alarm_probability_window_known if cc else None, "share",
          _ptr(src, *c, "false_alarm_probability_window_known"))
    b.add("cc_false_alarm_estimated", cc.false_alarm_probability_window_estimated if cc else None, "share",
          _ptr(src, *c, "false_alarm_probability_window_estimated"))
    cu = t.cusum
    u = ("trend", "cusum")
    b.add("cusum_reason", cu.reason, "text", _ptr(src, *u, "reason"))
    b.add("cusum_monitoring_start", cu.monitoring.start, "month", _ptr(src, *u, "monitoring", "start"))
    b.add("cusum_monitoring_end", cu.monitoring.end, "month", _ptr(src, *u, "monitoring", "end"))
    b.add("cusum_false_alarm_known", cu.false_alarm_probability_window_known, "share",
          _ptr(src, *u, "false_alarm_probability_window_known"))
    b.add("cusum_false_alarm_estimated", cu.false_alarm_probability_window_estimated, "share",
          _ptr(src, *u, "false_alarm_probability_window_estimated"))


def share_facts(b: _Builder, run: RunData) -> None:
    """Shares that need no denominator (serious share, share of the comparator family) and which measures are robust."""
    src = ANALYSIS
    trend = run.analysis.trend
    for key in ("serious", "family"):
        sh = trend.shares.get(key) or ShareTrend()
        p, g = ("trend", "shares", key), f"{key}_share"
        b.add(f"{g}_ok", sh.status == "ok", "flag", _ptr(src, *p, "status"))
        b.add(f"{g}_status", sh.status, "text", _ptr(src, *p, "status"))
        b.add(f"{g}_reason", sh.reason, "text", _ptr(src, *p, "reason"))
        b.add(f"{g}_method", sh.method, "text", _ptr(src, *p, "method"))
        b.add(f"{g}_verdict", sh.verdict, "text", _ptr(src, *p, "verdict"))
        b.add(f"{g}_baseline_label", sh.baseline_label, "text", _ptr(src, *p, "baseline_label"))
        for window in ("recent", "baseline"):
            w = getattr(sh, window)
            b.add(f"{g}_{window}_start", w.start, "month", _ptr(src, *p, window, "start"))
            b.add(f"{g}_{window}_end", w.end, "month", _ptr(src, *p, window, "end"))
            b.add(f"{g}_{window}", w.share, "share", _ptr(src, *p, window, "share"))
            b.add(f"{g}_{window}_n", w.numerator, "count", _ptr(src, *p, window, "numerator"))
            b.add(f"{g}_{window}_of", w.denominator, "count", _ptr(src, *p, window, "denominator"))
        b.add(f"{g}_ratio", sh.share_ratio, "ratio", _ptr(src, *p, "share_ratio"))
        b.add(f"{g}_ci_low", sh.ci_low, "ratio", _ptr(src, *p, "ci_low"))
        b.add(f"{g}_ci_high", sh.ci_high, "ratio", _ptr(src, *p, "ci_high"))
        b.add(f"{g}_p", sh.p_value, "p_value", _ptr(src, *p, "p_value"))
    for i, r in enumerate(trend.robustness, start=1):
        g, p = f"robustness.{i}", ("trend", "robustness", i - 1)
        b.add(f"{g}.measure", r.measure, "text", _ptr(src, *p, "measure"))
        b.add(f"{g}.robust", r.robust_to_growth_in_use, "text", _ptr(src, *p, "robust_to_growth_in_use"))
        b.add(f"{g}.why", r.why, "text", _ptr(src, *p, "why"))


def change_point_facts(b: _Builder, run: RunData) -> None:
    src = ANALYSIS
    analysis = run.analysis
    points = analysis.change_points or []
    method = analysis.change_point_method
    dates = {p.date for p in points if p.date}
    b.add("n_change_points", len(dates) if analysis.change_points is not None else None, "count",
          _ptr(src, "change_points") + " (distinct dates over the methods)")
    b.add("cp_method", method.text, "text", _ptr(src, "change_point_method", "text"))
    b.add("cp_cost", method.cost, "text", _ptr(src, "change_point_method", "cost"))
    b.add("cp_penalty", method.penalty, "decimal", _ptr(src, "change_point_method", "penalty"))
    b.add("cp_min_segment", method.min_segment_months, "count", _ptr(src, "change_point_method", "min_segment_months"))
    for i, p in enumerate(points, start=1):
        g = f"change_point.{i}"
        b.add(f"{g}.date", p.date, "month", _ptr(src, "change_points", i - 1, "date"))
        b.add(f"{g}.method", p.method, "text", _ptr(src, "change_points", i - 1, "method"))
        b.add(f"{g}.rate_before", p.rate_before, "rate", _ptr(src, "change_points", i - 1, "rate_before"))
        b.add(f"{g}.before_lo", _at(p.before_ci, 0), "rate", _ptr(src, "change_points", i - 1, "before_ci", 0))
        b.add(f"{g}.before_hi", _at(p.before_ci, 1), "rate", _ptr(src, "change_points", i - 1, "before_ci", 1))
        b.add(f"{g}.rate_after", p.rate_after, "rate", _ptr(src, "change_points", i - 1, "rate_after"))
        b.add(f"{g}.after_lo", _at(p.after_ci, 0), "rate", _ptr(src, "change_points", i - 1, "after_ci", 0))
        b.add(f"{g}.after_hi", _at(p.after_ci, 1), "rate", _ptr(src, "change_points", i - 1, "after_ci", 1))
        b.add(f"{g}.rate_ratio", p.rate_ratio, "ratio", _ptr(src, "change_points", i - 1, "rate_ratio"))


def change_point_method_facts(b: _Builder, run: RunData) -> None:
    src = ANALYSIS
    method = run.analysis.change_point_method
    validation = method.validation
    b.add("cp_penalty_factor", method.penalty_factor, "decimal", _ptr(src, "change_point_method", "penalty_factor"),
          text=f"{method.penalty_factor:g}" if method.penalty_factor is not None else None)
    b.add("cp_validation_level", validation.level, "decimal", _ptr(src, "change_point_method", "validation", "level"),
          text=f"{validation.level:g}" if validation.level is not None else None)
    b.add("cp_n_candidates", len(validation.candidates), "count",
          _ptr(src, "change_point_method", "validation", "candidates") + " (number)")
    b.add("cp_intervals", method.intervals, "text", _ptr(src, "change_point_method", "intervals"))


def forecast_facts(b: _Builder, run: RunData) -> None:
    src = ANALYSIS
    f = run.analysis.forecast
    rows = f.rows
    b.add("forecast_status", f.status, "text", _ptr(src, "forecast", "status"))
    b.add("forecast_ok", f.status == "ok" and bool(rows), "flag", _ptr(src, "forecast", "status"))
    b.add("forecast_warning", f.warning, "text", _ptr(src, "forecast", "warning"))
    b.add("forecast_model", f.model, "text", _ptr(src, "forecast", "model"))
    b.add("forecast_method", f.method, "text", _ptr(src, "forecast", "method"))
    b.add("forecast_horizon", f.horizon_months, "count", _ptr(src, "forecast", "horizon_months"))
    b.add("forecast_mase", f.mase, "decimal", _ptr(src, "forecast", "mase"))
    b.add("forecast_mase_scale", f.mase_scale, "text", _ptr(src, "forecast", "mase_scale"))
    first, last = _at(rows, 0), _at(rows, -1)
    n = len(rows) - 1
    b.add("forecast_first_month", first.month if first else None, "month", _ptr(src, "forecast", "rows", 0, "month"))
    b.add("forecast_first_mean", first.mean if first else None, "rate", _ptr(src, "forecast", "rows", 0, "mean"))
    b.add("forecast_last_month", last.month if last else None, "month", _ptr(src, "forecast", "rows", n, "month"))
    b.add("forecast_last_mean", last.mean if last else None, "rate", _ptr(src, "forecast", "rows", n, "mean"))
    b.add("forecast_last_pi95_low", last.pi95_low if last else None, "rate", _ptr(src, "forecast", "rows", n, "pi95_low"))
    b.add("forecast_last_pi95_high", last.pi95_high if last else None, "rate", _ptr(src, "forecast", "rows", n, "pi95_high"))


def forecast_method_facts(b: _Builder, run: RunData) -> None:
    src = ANALYSIS
    f = run.analysis.forecast
    b.add("forecast_naive_mase", f.naive_mase, "decimal", _ptr(src, "forecast", "naive_mase"))
    b.add("forecast_backtest_horizon", f.backtest.get("horizon"), "count", _ptr(src, "forecast", "backtest", "horizon"))
    b.add("forecast_backtest_origins", f.backtest.get("n_origins"), "count", _ptr(src, "forecast", "backtest", "n_origins"))


def problem_facts(b: _Builder, run: RunData) -> None:
    src = ANALYSIS
    pr = run.analysis.problems
    b.add("problems_method", pr.method, "text", _ptr(src, "problems", "method"))
    b.add("problems_truncated", pr.truncated, "flag", _ptr(src, "problems", "truncated"))
    for kind in ("device", "patient"):
        top = pr.top.get(kind, [])
        b.add(f"n_top_{kind}_terms", len(top), "count", _ptr(src, "problems", "top", kind) + " (number)")
        for i, t in enumerate(top[:5], start=1):
            g = f"problem_{kind}.{i}"
            b.add(f"{g}.term", t.term, "text", _ptr(src, "problems", "top", kind, i - 1, "term"))
            b.add(f"{g}.n_reports", t.n_reports, "count", _ptr(src, "problems", "top", kind, i - 1, "n_reports"))
            b.add(f"{g}.share", t.share, "share", _ptr(src, "problems", "top", kind, i - 1, "share"))
    changes = pr.changes
    significant = [(i, c) for i, c in enumerate(changes) if c.significant]
    b.add("n_problem_changes_tested", len(changes), "count", _ptr(src, "problems", "changes") + " (number)")
    b.add("n_problem_changes_significant", len(significant), "count",
          _ptr(src, "problems", "changes") + " (rows with significant = true)")
    for j, (i, c) in enumerate(significant[:10], start=1):
        g = f"problem_change.{j}"
        b.add(f"{g}.problem_type", c.problem_type, "text", _ptr(src, "problems", "changes", i, "problem_type"))
        b.add(f"{g}.term", c.term, "text", _ptr(src, "problems", "changes", i, "term"))
        b.add(f"{g}.direction", c.direction, "text", _ptr(src, "problems", "changes", i, "direction"))
        b.add(f"{g}.share_recent", c.share_recent, "share", _ptr(src, "problems", "changes", i, "share_recent"))
        b.add(f"{g}.share_earlier", c.share_earlier, "share", _ptr(src, "problems", "changes", i, "share_earlier"))
        b.add(f"{g}.q_value", c.q_value, "p_value", _ptr(src, "problems", "changes", i, "q_value"))


def signal_facts(b: _Builder, run: RunData) -> None:
    src = ANALYSIS
    s = run.analysis.signals
    b.add("signals_status", s.status, "text", _ptr(src, "signals", "status"))
    b.add("signals_ok", s.status == "ok", "flag", _ptr(src, "signals", "status"))
    b.add("signals_reason", s.reason or None, "text", _ptr(src, "signals", "reason"))
    b.add("signals_method", s.method, "text", _ptr(src, "signals", "method"))
    b.add("ic_definition", s.ic_definition, "text", _ptr(src, "signals", "ic_definition"))
    b.add("signal_comparators", s.comparators, "list", _ptr(src, "signals", "comparators"))
    b.add("n_signal_comparators", len(s.comparators), "count", _ptr(src, "signals", "comparators") + " (number)")
    own = s.rows_of(s.device)
    b.add("signals_n_terms", len(own), "count", _ptr(src, "signals", "rows") + f" (rows where product = {s.device})")
    b.add("signals_n_evans", sum(r.evans_signal for _, r in own), "count",
          _ptr(src, "signals", "rows") + " (device rows with evans_signal)")
    b.add("signals_n_eb05", sum(r.eb05_signal for _, r in own), "count",
          _ptr(src, "signals", "rows") + " (device rows with eb05_signal)")
    screen = s.primary_screen
    b.add("signals_primary_rule", screen.rule, "text", _ptr(src, "signals", "primary_screen", "rule"))
    b.add("signals_secondary_rules", screen.secondary, "list", _ptr(src, "signals", "primary_screen", "secondary"))
    b.add("signals_n_ic025", sum(r.ic025_signal for _, r in own), "count",
          _ptr(src, "signals", "rows") + " (device rows with ic025_signal)")
    # the primary screen decides what is called a signal; Evans and the other rule are shown beside it
    flagged = [(i, r) for i, r in own if r.signal]
    flagged.sort(key=lambda ir: -(ir[1].EB05 if ir[1].EB05 is not None else -1e9))
    b.add("signals_n_flagged", len(flagged), "count",
          _ptr(src, "signals", "rows") + " (device rows with signal = true, the primary screen)")
    for j, (i, r) in enumerate(flagged[:10], start=1):
        g = f"signal.{j}"
        p = ("signals", "rows", i)
        b.add(f"{g}.term", r.term, "text", _ptr(src, *p, "term"))
        b.add(f"{g}.problem_type", r.problem_type, "text", _ptr(src, *p, "problem_type"))
        b.add(f"{g}.a", r.a, "count", _ptr(src, *p, "a"))
        b.add(f"{g}.prr", r.PRR, "ratio", _ptr(src, *p, "PRR"))
        b.add(f"{g}.prr_lo", r.PRR_lo, "ratio", _ptr(src, *p, "PRR_lo"))
        b.add(f"{g}.prr_hi", r.PRR_hi, "ratio", _ptr(src, *p, "PRR_hi"))
        b.add(f"{g}.chi2", r.chi2_yates, "decimal", _ptr(src, *p, "chi2_yates"))
        b.add(f"{g}.ebgm", r.EBGM, "ratio", _ptr(src, *p, "EBGM"))
        b.add(f"{g}.eb05", r.EB05, "ratio", _ptr(src, *p, "EB05"))
        b.add(f"{g}.evans", r.evans_signal, "flag", _ptr(src, *p, "evans_signal"))
        b.add(f"{g}.eb05_flag", r.eb05_signal, "flag", _ptr(src, *p, "eb05_signal"))


def _dates(frame: pd.DataFrame, column: str) -> pd.Series:
    if column not in frame:
        return pd.Series([], dtype="datetime64[ns]")
    return pd.to_datetime(frame[column], errors="coerce").dropna()


def recall_facts(b: _Builder, run: RunData) -> None:
    tables = run.tables
    recalls = tables.get("recalls", pd.DataFrame())
    enforcement = tables.get("enforcement", pd.DataFrame())
    for scope, word in (("device", "device"), ("comparator", "comparator")):
        b.using("device_recall")
        r = recalls[recalls["scope"] == scope] if "scope" in recalls else recalls.iloc[0:0]
        where = f"{table('recalls')} (rows where scope = {scope})"
        b.add(f"n_recalls_{word}", len(r), "count", where)
        dates = _dates(r, "event_date_initiated")
        b.add(f"recalls_{word}_first", dates.min() if len(dates) else None, "date", where + " (min event_date_initiated)")
        b.add(f"recalls_{word}_last", dates.max() if len(dates) else None, "date", where + " (max event_date_initiated)")
        status = r["recall_status"].fillna("").str.lower() if "recall_status" in r else pd.Series([], dtype=str)
        open_ = int((~status.str.contains("terminated|completed", regex=True)).sum()) if len(status) else 0
        b.add(f"n_recalls_{word}_open", open_, "count", where + " (recall_status not Terminated or Completed)")
        firms = r["recalling_firm"].dropna().nunique() if "recalling_firm" in r else 0
        b.add(f"n_recall_firms_{word}", int(firms), "count", where + " (distinct recalling_firm)")
        codes = r["product_code"].dropna().nunique() if "product_code" in r else 0
        b.add(f"n_recall_codes_{word}", int(codes), "count", where + " (distinct product_code)")
        b.using("device_enforcement")
        e = enforcement[enforcement["scope"] == scope] if "scope" in enforcement else enforcement.iloc[0:0]
        ewhere = f"{table('enforcement')} (rows where scope = {scope})"
        b.add(f"n_enforcement_{word}", len(e), "count", ewhere)
        for klass, key in (("Class I", "i"), ("Class II", "ii"), ("Class III", "iii")):
            n = int((e["classification"] == klass).sum()) if "classification" in e else 0
            b.add(f"n_enforcement_{word}_class_{key}", n, "count", ewhere[:-1] + f", classification = {klass})")
    b.using()


def submission_facts(b: _Builder, run: RunData) -> None:
    tables = run.tables
    s = tables.get("submissions", pd.DataFrame())
    where = table("submissions")
    for stype, key, source in (("510(k)", "510k", "device_510k"), ("De Novo", "denovo", "device_510k"),
                               ("PMA", "pma", "device_pma"), ("PMA supplement", "pma_supplement", "device_pma")):
        n = int((s["submission_type"] == stype).sum()) if "submission_type" in s else 0
        b.add(f"n_{key}", n, "count", f"{where} (rows where submission_type = {stype})", needs=(source,))
    b.using("device_510k")
    candidates = s[s["submission_type"].isin(["510(k)", "De Novo"])] if "submission_type" in s else s
    b.add("n_equivalence_candidates", len(candidates), "count", f"{where} (rows where submission_type is 510(k) or De Novo)")
    decisions = _dates(candidates, "decision_date")
    b.add("clearance_first", decisions.min() if len(decisions) else None, "date", f"{where} (min decision_date, 510(k) and De Novo)")
    b.add("clearance_last", decisions.max() if len(decisions) else None, "date", f"{where} (max decision_date, 510(k) and De Novo)")
    applicants = candidates["applicant"].dropna().nunique() if "applicant" in candidates else 0
    b.add("n_applicants", int(applicants), "count", f"{where} (distinct applicant, 510(k) and De Novo)")
    has_predicates = bool(s["predicates"].notna().any()) if "predicates" in s else False
    b.add("predicates_published", has_predicates, "flag", f"{where} (any predicates not null)")
    b.using()


def product_facts(b: _Builder, run: RunData) -> None:
    tables = run.tables
    p = tables.get("products", pd.DataFrame())
    where = table("products")
    for source, status_name in (("udi", "device_udi"), ("registrationlisting", "device_registrationlisting"),
                                ("eudamed", "eudamed")):
        rows = p[p["source"] == source] if "source" in p else p.iloc[0:0]
        b.add(f"n_products_{source}", len(rows), "count", f"{where} (rows where source = {source})", needs=(status_name,))
    udi = p[p["source"] == "udi"] if "source" in p else p.iloc[0:0]
    b.add("n_udi_brands", int(udi["brand_name"].dropna().nunique()) if "brand_name" in udi else 0, "count",
          f"{where} (distinct brand_name where source = udi)", needs=("device_udi",))
    listed = p[p["source"].isin(["udi", "registrationlisting"])] if "source" in p else p.iloc[0:0]
    companies = sorted(listed["company_name"].dropna().unique()) if "company_name" in listed else []
    us = ("device_udi", "device_registrationlisting")
    b.add("n_us_companies", len(companies), "count",
          f"{where} (distinct company_name where source = udi or registrationlisting)", needs=us)
    b.add("us_companies", companies[:10], "list",
          f"{where} (distinct company_name where source = udi or registrationlisting, first ten)", needs=us)
    eu = p[p["source"] == "eudamed"] if "source" in p else p.iloc[0:0]
    classes = sorted(eu["eu_risk_class"].dropna().unique()) if "eu_risk_class" in eu else []
    b.add("eu_risk_classes", classes, "list", f"{where} (distinct eu_risk_class where source = eudamed)",
          needs=("eudamed",))
    eu_view_facts(b, run, eu)


def _distinct(rows: pd.DataFrame, column: str) -> list[str]:
    return list(dict.fromkeys(v for value in rows[column].dropna() for v in str(value).split("; ") if v)) if column in rows else []


def eu_view_facts(b: _Builder, run: RunData, eu: pd.DataFrame) -> None:
    """The EU view of the device (issue 12.4): EMDN codes, EU risk class, Basic UDI-DI and manufacturer SRN
    of its EUDAMED records, and, where there are none, why (from the EUDAMED source's status)."""
    where = f"{table('products')} (where source = eudamed)"
    codes = _distinct(eu, "emdn_code")
    terms: dict[str, str] = {}
    for code, term in zip(eu.get("emdn_code", []), eu.get("emdn_term", [])):
        if isinstance(code, str) and isinstance(term, str):
            for c, t in zip(code.split("; "), term.split("; ")):
                terms.setdefault(c, t)
    b.add("eu_emdn", [f"{c} ({terms[c]})" if terms.get(c) else c for c in codes] or None, "list",
          f"{where}: distinct emdn_code with emdn_term")
    b.add("eu_basic_udi", _distinct(eu, "basic_udi_di") or None, "list", f"{where}: distinct basic_udi_di")
    makers = eu.drop_duplicates("manufacturer_srn") if "manufacturer_srn" in eu else eu.iloc[0:0]
    b.add("eu_manufacturers", [f"{m} (SRN {srn})" if isinstance(m, str) else f"SRN {srn}"
                               for m, srn in zip(makers["company_name"], makers["manufacturer_srn"]) if isinstance(srn, str)] or None,
          "list", f"{where}: company_name with manufacturer_srn")
    entry = run.status.source("eudamed")
    if not len(eu):  # the source's status line, printed beside it, gives the look-ups or the failure
        why = "no EUDAMED device record was found for this device" if entry and entry.status == "empty" else \
            "EUDAMED's device data were not available for this run (see the source status above)"
    elif not codes:
        why = ("its EUDAMED records carry no EMDN code: Eudamed's device search does not return it, only each device's "
               "detail record does, and " + ("the mirror's records are search records" if run.status.origin == "mirror"
                                            else "no detail record with an EMDN code was returned"))
    else:
        why = None
    b.add("eu_view_missing", why, "text", f"{COLLECT_STATUS}#/sources/eudamed and {where}", needs=())


def citation_facts(b: _Builder, run: RunData) -> None:
    for key, (short, full) in CITATIONS.items():
        b.add(f"cite.{key}.short", short, "citation", f"cer_lib/report/facts.py#CITATIONS/{key}")
        b.add(f"cite.{key}.full", full, "citation", f"cer_lib/report/facts.py#CITATIONS/{key}")
