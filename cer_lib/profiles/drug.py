"""The drug profile: a drug name (brand or generic), an active ingredient or an NDC, reported from FAERS.

Resolution (asked of the run's `Source`; the name checked and normalised by `cer_lib.names`):

- **mirror** (FAERS quarterly files, `formats.faers_ascii`): the name's `drug_key` (case,
  punctuation, one trailing salt word) is looked up in the drug rows of any role, as drug name or
  as active ingredient (``faers.match``). The ingredients (``prod_ai``) of the drug rows that
  matched are the candidates; a name with several (a brand sold with different ingredients, a
  combination product beside a single one) is refused with the list, unless ``drug.ingredient``
  names one. The report's subject is the chosen ingredient: a case counts when one of its drugs in
  a role of ``drug.roles`` (primary and secondary suspect by default) has the ingredient's key or
  the name's key as drug name or ingredient, i.e. the *same* drug row carries the role and the name.
  The legacy AERS layout has no ingredient: the name alone is matched.
- **openFDA**: an NDC (``1234-5678`` or ``12345-678-90``) is looked up in ``drug/ndc``; a name in
  ``drug/label`` as ``openfda.brand_name``, ``openfda.generic_name`` or ``openfda.substance_name``,
  then in ``drug/ndc`` when no label has it. The ``openfda.generic_name`` values of what matched are
  the candidates (shown and chosen as above). Reports are those with a drug whose
  ``patient.drug.openfda.generic_name`` is the chosen generic (openFDA's harmonisation of the
  drug name); with the suspect roles only, ``patient.drug.drugcharacterization:1`` is added, which
  openFDA applies to *any* drug of the report (its search cannot tie the role to the matched drug).
  This caveat is in the resolution's ``rule``.

An unknown name fails before anything is collected, with the closest names the source holds (the
1000 most reported product names and substances, `difflib`).

The collect plan (`DrugProfile.plan`) for the sources of the ``drug`` family:

- FAERS: totals of the drug and of the whole database for the window and each calendar year; day
  counts of ``receivedate`` per window chunk, all reports, serious and fatal; reaction counts
  (``patient.reaction.reactionmeddrapt.exact``) of the drug and of the database over the window
  (openFDA returns at most 1000 terms: a truncated count is flagged, and the database count of a
  term outside the top 1000 is missing, so that term is not scored, see `cer_lib.analysis.drug`);
  counts of seriousness, reporter qualification, sex and country; the review sample (the
  ``methods.review_sample_size`` most recent cases);
- labels, NDC products, Drugs@FDA applications and enforcement reports of the chosen generic name;
  from a mirror, the labels when it holds openFDA's drug-label download (`formats.drug_label`:
  listedness offline), the others from openFDA only.
"""
from __future__ import annotations

import difflib
import re
from collections import Counter
from typing import Any, ClassVar

from pydantic import Field

from ..codes import Kind
from ..collect.execute import Progress
from ..collect.plan import COUNT_LIMIT, CollectPlan, Count, Search, SourcePlan, Step, Total, window_chunks, window_years
from ..errors import CodeError
from ..names.drug import drug_key
from ..params import Parameters
from ..runfolder import CollectedInputs, Resolution, RunFileModel
from ..sources.base import DateRange, Match, Query, Source
from ..sources.openfda import search_text
from ..sources.registry import SourceSpec
from ..tables.device import TidyTable
from ..tables.drug import REACTION_FIELD, RECEIVED_FIELD, build_drug_tables
from ..tables.drug_schemas import DRUG_TABLE_NAMES
from .base import Profile, Resolved

__all__ = ["DRUG", "DrugProfile", "DrugResolution", "NDC_SHAPE"]

NDC_SHAPE = re.compile(r"^\d{4,5}-\d{3,4}(-\d{1,2})?$")
MATCH_FIELD = "patient.drug.faers.match"  # mirror: "<role>|<drug_key>" of each drug row's name and ingredient
GENERIC_FIELD = "patient.drug.openfda.generic_name"
SUMMARY_FIELDS = ("serious", "primarysource.qualification", "patient.patientsex", "occurcountry")
LABEL_FIELDS = ("openfda.brand_name", "openfda.generic_name", "openfda.substance_name")
RESOLUTION_SAMPLE = 1000  # reports read to find a name's ingredients in a mirror
MIRROR_TERMS = 100_000  # a mirror counts every term (no openFDA limit)
ALL_ROLES = ("PS", "SS", "C", "I")


class IngredientCandidate(RunFileModel):
    ingredient: str  # as the source writes it ("RISPERIDONE", "ACETAMINOPHEN\\HYDROCODONE BITARTRATE")
    key: str  # its normalised form
    records: int  # records (drug rows, labels or NDC products) that link it to the name


class DrugResolution(Resolution):
    """``collected/resolution.json`` of a drug: what the name stands for and how its reports are found."""

    typed: str
    normalised: str  # `drug_key` of the name
    matched_as: str  # "NDC", "brand or generic name", "drug name or active ingredient in FAERS"
    candidates: list[IngredientCandidate] = Field(default_factory=list)
    ingredient: str | None = None  # the chosen one (None: the legacy layout has none; the name alone is matched)
    chosen_by: str = ""
    generic_names: list[str] = Field(default_factory=list)
    brand_names: list[str] = Field(default_factory=list)
    substance_names: list[str] = Field(default_factory=list)
    ndcs: list[str] = Field(default_factory=list)
    rxcuis: list[str] = Field(default_factory=list)
    roles: list[str] = Field(default_factory=list)
    match_field: str
    match_values: list[str]
    role_clause: bool = False  # openFDA: drugcharacterization:1 AND-ed (applies to any drug of the report)
    name_mapping: dict[str, str] = Field(default_factory=dict)  # names as the data write them -> normalised
    origin: str = "api"
    mirror_endpoints: list[str] = Field(default_factory=list)  # mirror: the endpoints its files feed (drug/label?)
    rule: str = ""
    database_prior: dict[str, Any] | None = None  # mirror: the GPS prior of the FAERS snapshot (`analysis.drug_prior`)

    @property
    def subject_name(self) -> str | None:
        return self.ingredient or self.typed

    def clauses(self) -> tuple[Match, ...]:
        """The clauses that select the drug's reports (the caller adds its date range)."""
        found = (Match(self.match_field, tuple(self.match_values), exact=True),)
        return found + ((Match("patient.drug.drugcharacterization", ("1",), exact=False),) if self.role_clause else ())


class DrugProfile(Profile):
    name: ClassVar[str] = "drug"
    kinds: ClassVar[tuple[Kind, ...]] = (Kind.drug,)
    resolution_model: ClassVar[type[Resolution]] = DrugResolution
    table_names: ClassVar[tuple[str, ...]] = DRUG_TABLE_NAMES

    @property
    def report(self):  # noqa: D102 - the PBRER structure (imported late: the report package imports profiles)
        from ..report.pbrer import PBRER
        return PBRER

    @property
    def fact_builders(self):  # noqa: D102
        from ..report import facts as F
        from ..refresh.facts import feedback_facts
        from ..report import facts_drug as D
        return (F.run_facts, D.drug_facts, F.source_facts, F.method_facts, D.faers_facts, F.trend_facts,
                F.trend_method_facts, F.change_point_facts, F.change_point_method_facts, F.forecast_facts,
                F.forecast_method_facts, D.signal_facts, D.label_facts, D.approval_facts, F.citation_facts, feedback_facts)

    # -- before the run ------------------------------------------------------------------------

    def preflight(self, params: Parameters, settings: Any) -> None:
        """The mirror exists and holds FAERS quarterly files (a mirror serves drugs from them alone)."""
        super().preflight(params, settings)
        if params.data_from != "mirror":
            return
        from ..sources.demo import mirror_folder
        from ..sources.mirror.formats.faers_ascii import faers_files

        folder = mirror_folder(params.mirror, settings)
        if not faers_files(folder):
            raise CodeError(f"the mirror {folder} holds no FAERS quarterly files (DEMO/DRUG/REAC...yyQq.txt, flat, under "
                            "faers/ or ascii/, or FDA's zips): a drug report from a mirror reads them; give MIRROR=... "
                            "or report from openFDA (--from api)")

    # -- resolution ----------------------------------------------------------------------------

    def resolve(self, params: Parameters, source: Source, progress: Progress) -> Resolved:
        resolve = self._resolve_in_mirror if source.origin == "mirror" else self._resolve_online
        resolution = progress.step(f"resolve the drug {params.code}", lambda: resolve(params, source, progress))
        if source.origin == "mirror":
            from ..analysis.drug_prior import database_prior
            from ..settings import Settings

            window = (params.window.start, params.window.end)
            resolution.database_prior = progress.step(
                "drug/event GPS prior of the whole FAERS snapshot (fitted once per snapshot, then cached)",
                lambda: database_prior(source, window, list(params.drug.roles), params.methods.signals,
                                       Settings.from_env().cache_dir))
        found = ", ".join(f"{c.ingredient} ({c.records})" for c in resolution.candidates) or "none"
        print(f"collect: {params.code} = {resolution.subject_name} ({resolution.matched_as}; candidates {found}; "
              f"roles {', '.join(resolution.roles) or 'any'})", flush=True)
        return Resolved(resolution)

    @staticmethod
    def _choose(params: Parameters, candidates: list[IngredientCandidate], where: str) -> tuple[str | None, str]:
        """The ingredient the name stands for: the only candidate, or ``drug.ingredient``; refused otherwise."""
        wanted = params.drug.ingredient
        if wanted is not None:
            match = [c for c in candidates if drug_key(wanted) in (c.key, drug_key(c.ingredient))]
            if not match:
                listed = "; ".join(c.ingredient for c in candidates) or "none"
                raise CodeError(f"drug.ingredient {wanted!r} is not one of the ingredients {params.code!r} has in {where}: "
                                f"{listed}")
            return match[0].ingredient, f"drug.ingredient = {wanted!r} (a parameter)"
        if len(candidates) > 1:
            listed = "; ".join(f"{c.ingredient} ({c.records} records)" for c in candidates)
            raise CodeError(
                f"{params.code!r} stands for {len(candidates)} different active ingredients in {where}: {listed}. "
                f"Choose one with --set drug.ingredient=NAME (or `drug: {{ingredient: NAME}}` in the parameters file); "
                "each choice is its own report")
        if candidates:
            return candidates[0].ingredient, "the only ingredient found for the name"
        return None, "no ingredient in the data (legacy AERS files): the name alone is matched"

    def _resolve_in_mirror(self, params: Parameters, source: Source, progress: Progress) -> DrugResolution:
        key = drug_key(params.code)
        if not key:
            raise CodeError(f"{params.code!r} has no letters or digits left to match a drug name")
        endpoint = "drug/event"
        anyone = Query((Match(MATCH_FIELD, tuple(f"{r}|{key}" for r in ALL_ROLES), exact=True),))
        found = progress.required(endpoint, lambda: source.search(endpoint, anyone, limit=RESOLUTION_SAMPLE,
                                                                  sort="receivedate:desc"))
        if not found.records:
            raise CodeError(f"{params.code!r} (normalised {key!r}) is not a drug name or active ingredient in the mirror's "
                            f"FAERS files.{self._close_matches(key, source)}")
        ingredients: Counter[str] = Counter()
        written: dict[str, str] = {}
        names: Counter[str] = Counter()
        for record in found.records:
            for drug in (record.get("patient") or {}).get("drug") or []:
                name = str(drug.get("medicinalproduct") or "")
                ingredient = str((drug.get("activesubstance") or {}).get("activesubstancename") or "")
                if key not in (drug_key(name), drug_key(ingredient)):
                    continue
                written[name] = drug_key(name)
                names[drug_key(name)] += 1
                if ingredient:
                    written[ingredient] = drug_key(ingredient)
                    ingredients[ingredient] += 1
        by_key: dict[str, IngredientCandidate] = {}
        for ingredient, n in ingredients.most_common():
            k = drug_key(ingredient)
            if k in by_key:
                by_key[k].records += n
            else:
                by_key[k] = IngredientCandidate(ingredient=ingredient, key=k, records=n)
        candidates = sorted(by_key.values(), key=lambda c: (-c.records, c.ingredient))
        chosen, why = self._choose(params, candidates, "the mirror's FAERS files")
        keys = sorted({key} | ({drug_key(chosen)} if chosen else set()))
        roles = list(params.drug.roles)
        return DrugResolution(
            code=params.code, kind=params.kind.value, typed=params.code, normalised=key,
            matched_as="drug name or active ingredient in FAERS (DRUG drugname, prod_ai)", candidates=candidates,
            ingredient=chosen, chosen_by=why, brand_names=sorted(n for n in names if n != (drug_key(chosen or ""))),
            roles=roles, match_field=MATCH_FIELD, match_values=[f"{r}|{k}" for r in roles for k in keys],
            name_mapping=dict(sorted(written.items())), origin="mirror", mirror_endpoints=list(source.available_endpoints),
            rule=(f"a case counts when one of its drug rows has role {' or '.join(roles)} and the normalised drug name or "
                  f"active ingredient {' or '.join(repr(k) for k in keys)} (case, punctuation and one trailing salt "
                  "word ignored); the latest version of each case, DELETE files applied"))

    def _resolve_online(self, params: Parameters, source: Source, progress: Progress) -> DrugResolution:
        code = params.code
        key = drug_key(code)
        records: list[dict[str, Any]] = []
        if NDC_SHAPE.match(code.strip()):
            matched_as = "NDC (drug/ndc product_ndc or package_ndc)"
            for field in ("product_ndc", "packaging.package_ndc"):
                query = Query((Match(field, (code.strip(),), exact=False),))
                records = progress.required("drug/ndc", lambda: source.search("drug/ndc", query, limit=100)).records
                if records:
                    break
            blocks = [{"generic_name": [r.get("generic_name")], "brand_name": [r.get("brand_name")],
                       "substance_name": [a.get("name") for a in r.get("active_ingredients") or []],
                       "product_ndc": [r.get("product_ndc")], "rxcui": (r.get("openfda") or {}).get("rxcui") or []}
                      for r in records]
        else:
            matched_as = "brand, generic or substance name (drug/label openfda block; drug/ndc when no label has it)"
            blocks = []
            for field in LABEL_FIELDS:
                query = Query((Match(field, (code,), exact=False),))
                result = progress.required("drug/label", lambda: source.search("drug/label", query, limit=100))
                blocks += [r.get("openfda") or {} for r in result.records
                           if any(drug_key(v) == key for v in (r.get("openfda") or {}).get(field.split(".")[1]) or [])]
            if not blocks:
                for field in ("brand_name", "generic_name"):
                    query = Query((Match(field, (code,), exact=False),))
                    result = progress.required("drug/ndc", lambda: source.search("drug/ndc", query, limit=100))
                    blocks += [{"generic_name": [r.get("generic_name")], "brand_name": [r.get("brand_name")],
                                "product_ndc": [r.get("product_ndc")], "rxcui": (r.get("openfda") or {}).get("rxcui") or []}
                               for r in result.records if drug_key(str(r.get(field) or "")) == key]
        if not blocks:
            raise CodeError(f"{code!r} is not a drug name, ingredient or NDC openFDA knows (drug/label, drug/ndc)."
                            f"{self._close_matches(key, source)}")

        def values(name: str) -> list[str]:
            return sorted({str(v) for b in blocks for v in (b.get(name) or []) if v})

        generics: Counter[str] = Counter(str(v) for b in blocks for v in (b.get("generic_name") or []) if v)
        candidates = [IngredientCandidate(ingredient=g, key=drug_key(g), records=n)
                      for g, n in sorted(generics.items(), key=lambda kv: (-kv[1], kv[0]))]
        chosen, why = self._choose(params, candidates, "openFDA")
        roles = list(params.drug.roles)
        suspect_only = set(roles) <= {"PS", "SS"}
        return DrugResolution(
            code=code, kind=params.kind.value, typed=code, normalised=key, matched_as=matched_as, candidates=candidates,
            ingredient=chosen, chosen_by=why, generic_names=values("generic_name"), brand_names=values("brand_name"),
            substance_names=values("substance_name"), ndcs=values("product_ndc")[:50], rxcuis=values("rxcui"),
            roles=roles, match_field=GENERIC_FIELD, match_values=[chosen or code], role_clause=suspect_only,
            origin="api",
            rule=(f"reports with a drug whose {GENERIC_FIELD} is {chosen!r} (openFDA's harmonised name)"
                  + ("; patient.drug.drugcharacterization:1 (suspect) is AND-ed, which openFDA applies to any drug of the "
                     "report, not necessarily the matched one" if suspect_only else "; any role")))

    @staticmethod
    def _close_matches(key: str, source: Source) -> str:
        """`` Close matches: ...`` among the most reported product names and substances, or ""."""
        known: dict[str, str] = {}
        fields = ("patient.drug.medicinalproduct.exact", "patient.drug.activesubstance.activesubstancename.exact") \
            if source.origin == "mirror" else ("patient.drug.openfda.brand_name.exact", "patient.drug.openfda.generic_name.exact")
        for field in fields:
            try:
                rows = source.count("drug/event", Query(), field, limit=COUNT_LIMIT).rows
            except Exception:  # noqa: BLE001 - suggestions are a courtesy; the refusal stands without them
                continue
            for row in rows:
                known.setdefault(drug_key(str(row.get("term") or "")), str(row.get("term")))
        close = difflib.get_close_matches(key, [k for k in known if k], n=6, cutoff=0.6)
        return f" Close matches: {', '.join(known[k] for k in close)}." if close else ""

    # -- the collect plan ----------------------------------------------------------------------

    def plan(self, params: Parameters, resolution: Resolution) -> CollectPlan:
        assert isinstance(resolution, DrugResolution)
        plans = []
        for spec in self.sources:
            if not spec.enabled(params):
                plans.append(SourcePlan(spec.name, spec.required, disabled=f"sources.{spec.switch} is false in the parameters"))
            elif spec.name == "drug_event":
                plans.append(self._event_plan(params, resolution, spec))
            elif resolution.origin == "mirror" and spec.endpoint not in resolution.mirror_endpoints:
                plans.append(SourcePlan(spec.name, spec.required, disabled=(
                    f"the mirror holds no {spec.endpoint} files; {spec.endpoint} is asked of openFDA (--from api)"
                    + (" or read from openFDA's drug-label download in the mirror" if spec.endpoint == "drug/label" else ""))))
            else:
                plans.append(self._product_plan(resolution, spec))
        return CollectPlan(tuple(plans))

    @staticmethod
    def _product_plan(resolution: DrugResolution, spec: SourceSpec) -> SourcePlan:
        generic = resolution.ingredient or resolution.typed
        field = {"drug_label": "openfda.generic_name", "drug_ndc": "generic_name", "drug_drugsfda": "openfda.generic_name",
                 "drug_enforcement": "openfda.generic_name"}[spec.name]
        query = Query((Match(field, (generic,), exact=False),))
        sort = {"drug_label": "effective_time:desc"}.get(spec.name)
        step = Step(f"{spec.endpoint} {query.describe()}", (Search(spec.endpoint or "", query, limit=spec.record_cap, sort=sort),))
        return SourcePlan(spec.name, spec.required, steps=(step,))

    @staticmethod
    def _event_plan(params: Parameters, resolution: DrugResolution, spec: SourceSpec) -> SourcePlan:
        endpoint = spec.endpoint or ""
        start, end = params.window.start, params.window.end
        assert end is not None, "plan from resolved parameters (window end fixed)"
        subject = resolution.clauses()
        window = DateRange(RECEIVED_FIELD, start, end)
        years = window_years(start, end)
        label = resolution.subject_name
        drug_all = ("drug", label, "all")
        limit = MIRROR_TERMS if resolution.origin == "mirror" else COUNT_LIMIT
        steps = [Step(f"{endpoint} totals of the drug and of the database {start}..{end} (all + {len(years)} years)", (
            Total(endpoint, Query((*subject, window)), "drug", label, "all"),
            *(Total(endpoint, Query((*subject, DateRange(RECEIVED_FIELD, a, b))), "drug", label, y) for y, a, b in years),
            Total(endpoint, Query((window,)), "database", None, "all"),
            *(Total(endpoint, Query((DateRange(RECEIVED_FIELD, a, b),)), "database", None, y) for y, a, b in years),
        ))]
        series = {"all": (), "serious": (Match("serious", ("1",), exact=False),),
                  "death": (Match("seriousnessdeath", ("1",), exact=False),)}
        for a, b in window_chunks(start, end):
            span = DateRange(RECEIVED_FIELD, a, b)
            steps.append(Step(f"{endpoint} count {RECEIVED_FIELD} {a}..{b} (all, serious, death)", tuple(
                Count(endpoint, Query((*subject, span, *extra)), RECEIVED_FIELD, "drug", label, "all", name, (a, b),
                      unless_empty=drug_all) for name, extra in series.items())))
        steps.append(Step(f"{endpoint} count {REACTION_FIELD} of the drug and of the database", (
            Count(endpoint, Query((*subject, window)), REACTION_FIELD, "drug", label, "all", "terms", (start, end),
                  unless_empty=drug_all, limit=limit),
            Count(endpoint, Query((window,)), REACTION_FIELD, "database", None, "all", "terms", (start, end), limit=limit),
        )))
        steps.append(Step(f"{endpoint} count {', '.join(SUMMARY_FIELDS)} of the drug", tuple(
            Count(endpoint, Query((*subject, window)), f + (".exact" if "." in f or f == "occurcountry" else ""), "drug",
                  label, "all", "summary", (start, end), unless_empty=drug_all) for f in SUMMARY_FIELDS)))
        size = params.methods.review_sample_size
        if size > 0:
            steps.append(Step(f"{endpoint} review sample: {size} most recent", (
                Search(endpoint, Query((*subject, window)), limit=size, sort=f"{RECEIVED_FIELD}:desc", unless_empty=drug_all),)))
        return SourcePlan(
            spec.name, spec.required, steps=tuple(steps), outcome="series",
            empty_reason=f"no reports of {label} received {start}..{end}",
            details={"search": search_text(Query((*subject, window))), "rule": resolution.rule,
                     "sample_rule": f"the {size} most recent reports by {RECEIVED_FIELD} (descending) within the window",
                     "window": {"start": start.isoformat(), "end": end.isoformat()}},
        )

    # -- tables --------------------------------------------------------------------------------

    def build_tables(self, inputs: CollectedInputs) -> dict[str, TidyTable]:
        return build_drug_tables(inputs.records, inputs.counts, inputs.totals)

    def analyze(self, ctx: Any) -> Any:
        from ..analysis.drug import analyze_drug  # the analysis package is heavy: imported when the stage runs

        return analyze_drug(ctx)


DRUG = DrugProfile()
