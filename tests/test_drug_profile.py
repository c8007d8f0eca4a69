"""The drug profile (issue 13): resolution of brands, ingredients and NDCs, ambiguity and unknown names,
drug-versus-database disproportionality checked against hand-computed 2x2 statistics, listedness,
and the PBRER report built offline from the real FAERS 2017Q2 files and through the local openFDA.
"""
from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from cer_lib.analysis.disproportionality import SignalSettings
from cer_lib.analysis.drug import drug_signals, listedness, term_variants
from cer_lib.collect.execute import Progress
from cer_lib.errors import CodeError
from cer_lib.names.drug import drug_key
from cer_lib.params import Http, load_parameters
from cer_lib.sources.http import HttpClient
from cer_lib.profiles import DRUG, profile_for
from cer_lib.settings import PROJECT_ROOT
from cer_lib.sources.mirror import Mirror
from cer_lib.sources.openfda import OpenFDA
from faers_files import read_quarter, write_current
from openfda_server import faers_datasets, serve_openfda, threaded_httpserver  # noqa: F401  (fixture)


class _Quiet:
    """A `Progress` stand-in: runs each step (resolution asks the source directly)."""

    origin = "mirror"

    def step(self, message, action):
        return action()

    @staticmethod
    def required(what, action):
        return Progress.required(what, action)


def params(code: str, **overrides) -> object:
    return load_parameters(code, overrides={"kind": "drug", **overrides}).resolved()


@pytest.fixture
def quarter(realdata: Path) -> Path:
    return realdata / "faers" / "faers_ascii_2017q2"


def test_drug_names_normalise_case_punctuation_and_one_salt_word() -> None:
    assert drug_key("Risperdal.") == drug_key("RISPERDAL") == "RISPERDAL"
    assert drug_key("Doxorubicin Hydrochloride") == drug_key("DOXORUBICIN HCl") == "DOXORUBICIN"
    assert drug_key("LEVOTHYROXINE SODIUM") == "LEVOTHYROXINE"
    assert drug_key("POTASSIUM CHLORIDE.") == "POTASSIUM CHLORIDE"  # the salt is the drug
    assert drug_key("HALOPERIDOL DECANOATE") == "HALOPERIDOL DECANOATE"  # an ester is another product


def test_a_drug_kind_has_a_profile() -> None:
    assert profile_for("drug") is DRUG


def test_a_brand_resolves_to_its_ingredient_in_the_mirror(quarter: Path) -> None:
    rows = read_quarter(quarter)
    resolved = DRUG.resolve(params("Risperdal"), Mirror(quarter), _Quiet()).resolution
    assert resolved.ingredient == "RISPERIDONE" and [c.key for c in resolved.candidates] == ["RISPERIDONE"]
    assert resolved.match_values == ["PS|RISPERDAL", "PS|RISPERIDONE", "SS|RISPERDAL", "SS|RISPERIDONE"]
    assert resolved.name_mapping["RISPERDAL"] == "RISPERDAL"
    # the ingredient as given resolves to the same subject
    by_ingredient = DRUG.resolve(params("risperidone"), Mirror(quarter), _Quiet()).resolution
    assert by_ingredient.ingredient == "RISPERIDONE"
    expected = {r["caseid"] for r in rows["DRUG"] if r["role_cod"] in ("PS", "SS")
                and {drug_key(r["drugname"]), drug_key(r["prod_ai"])} & {"RISPERDAL", "RISPERIDONE"}}
    from cer_lib.sources.base import Match, Query
    found = Mirror(quarter).search("drug/event", Query((Match(resolved.match_field, tuple(resolved.match_values)),)), limit=None)
    assert {r["safetyreportid"] for r in found.records} == expected


def test_an_unknown_name_fails_fast_with_close_matches(quarter: Path) -> None:
    with pytest.raises(CodeError, match=r"'RISPERDLA'.*not a drug name or active ingredient.*Close matches: .*RISPERDAL"):
        DRUG.resolve(params("RISPERDLA"), Mirror(quarter), _Quiet())


def test_a_name_with_two_ingredients_is_refused_until_one_is_chosen(quarter: Path, tmp_path: Path) -> None:
    """A brand whose drug rows name two different ingredients (crafted: one RISPERDAL row re-coded as a
    combination) is ambiguous: refused with both, resolved by drug.ingredient."""
    rows = read_quarter(quarter)
    header = {k: list(v[0].keys()) for k, v in rows.items()}
    first = next(i for i, r in enumerate(rows["DRUG"]) if r["drugname"] == "RISPERDAL")
    rows["DRUG"][first] = {**rows["DRUG"][first], "prod_ai": "RISPERIDONE\\FLUOXETINE"}
    write_current(tmp_path / "m", "17Q2", rows, header)
    with pytest.raises(CodeError, match=r"stands for 2 different active ingredients.*RISPERIDONE \(\d+ records\); "
                                        r"RISPERIDONE\\FLUOXETINE \(1 records\).*--set drug.ingredient=NAME"):
        DRUG.resolve(params("RISPERDAL"), Mirror(tmp_path / "m"), _Quiet())
    chosen = DRUG.resolve(params("RISPERDAL", drug={"ingredient": "risperidone"}), Mirror(tmp_path / "m"), _Quiet())
    assert chosen.resolution.ingredient == "RISPERIDONE"
    assert chosen.resolution.chosen_by.startswith("drug.ingredient")


def test_online_a_brand_an_ingredient_and_an_ndc_resolve_through_labels_and_ndc(realdata: Path, threaded_httpserver, tmp_path: Path) -> None:  # noqa: F811
    fda = serve_openfda(threaded_httpserver, faers_datasets(realdata))
    source = OpenFDA(HttpClient(source="openfda", cache_dir=tmp_path / "cache", http=Http()), fda.base_url)
    haloperidol = DRUG.resolve(params("Haloperidol"), source, _Quiet()).resolution  # a real 2015 label
    assert haloperidol.ingredient == "HALOPERIDOL" and haloperidol.matched_as.startswith("brand, generic or substance")
    assert haloperidol.match_field == "patient.drug.openfda.generic_name" and haloperidol.role_clause
    risperdal = DRUG.resolve(params("RISPERDAL"), source, _Quiet()).resolution  # no label: drug/ndc
    assert risperdal.ingredient == "RISPERIDONE" and "RISPERDAL" in risperdal.brand_names
    ndc = faers_datasets(realdata)["drug/ndc"][0]["product_ndc"]
    by_ndc = DRUG.resolve(params(ndc), source, _Quiet()).resolution
    assert by_ndc.matched_as.startswith("NDC") and by_ndc.ndcs == [ndc]
    with pytest.raises(CodeError, match="not a drug name, ingredient or NDC openFDA knows"):
        DRUG.resolve(params("NOSUCHDRUGNAME"), source, _Quiet())


def test_drug_versus_database_scores_match_hand_computed_2x2_statistics() -> None:
    """PRR, ROR and their Woolf/log intervals from the cells written out by hand (Evans et al. 2001;
    van Puijenbroek et al. 2002): a = 6, drug 6, term in database 7, database 99."""
    reactions = pd.DataFrame({"scope": ["drug", "database", "drug", "database", "drug"],
                              "term": ["Gynaecomastia", "Gynaecomastia", "Nausea", "Nausea", "Rare term"],
                              "n_reports": [6, 7, 1, 20, 1], "truncated": [False, True, False, True, False]})
    totals = pd.DataFrame({"scope": ["drug", "database"], "period": ["all", "all"], "n_reports": [6, 99]})
    result, not_scored, why = drug_signals(reactions, totals, "RISPERIDONE", SignalSettings())
    assert why is None
    assert not_scored == [{"term": "Rare term", "n_reports": 1, "reason":
                           "outside the database's reaction count (openFDA counts at most 1000 terms): no background count"}]
    row = result.table[(result.table["product"] == "RISPERIDONE") & (result.table["term"] == "Nausea")].iloc[0]
    a, b, c, d = 1, 5, 19, 74
    assert (row.a, row.b, row.c, row.d) == (a, b, c, d)
    prr = (a / (a + b)) / (c / (c + d))
    se = math.sqrt(1 / a - 1 / (a + b) + 1 / c - 1 / (c + d))
    assert row.PRR == pytest.approx(prr) and row.PRR_lo == pytest.approx(prr * math.exp(-1.959964 * se))
    ror = a * d / (b * c)
    assert row.ROR == pytest.approx(ror)
    assert row.ROR_hi == pytest.approx(ror * math.exp(1.959964 * math.sqrt(1 / a + 1 / b + 1 / c + 1 / d)))
    assert row.E == pytest.approx((a + b) * (a + c) / 99)
    gyn = result.table[(result.table["product"] == "RISPERIDONE") & (result.table["term"] == "Gynaecomastia")].iloc[0]
    assert (gyn.a, gyn.b, gyn.c, gyn.d) == (6, 0, 1, 92) and gyn.haldane  # a zero cell: +0.5 on all four


def test_listedness_matches_whole_words_and_us_spelling_of_meddrA_terms(realdata: Path) -> None:
    assert "gynecomastia" in term_variants("Gynaecomastia") and "edema peripheral" in term_variants("Oedema peripheral")
    labels = json.loads((realdata / "openfda" / "drug-labels-2015.json").read_text())
    labels = labels if isinstance(labels, list) else labels["results"]
    label = next(r for r in labels if "HALOPERIDOL" in (r.get("openfda") or {}).get("generic_name", []))
    from cer_lib.tables.drug import labels_table
    table = labels_table([label]).frame
    text = " ".join(table["text"]).lower()
    listed_term = next(t for t in ("Tardive dyskinesia", "Neuroleptic malignant syndrome", "Hypotension")
                       if t.lower() in text)
    status, where, used = listedness([listed_term, "Gynaecomastia", "Hyperglycaemia", "Xyzzy syndrome"], table)
    assert status[listed_term] == "listed" and where[listed_term]
    assert status["Xyzzy syndrome"] == "unlisted"
    assert status["Gynaecomastia"] == ("listed" if "gynecomastia" in text else "unlisted")
    assert used.startswith("set id ")
    assert listedness(["Nausea"], table.iloc[0:0])[0] == {"Nausea": "not assessed"}


def _report(tmp_path: Path, *args: str, **env: str) -> tuple[subprocess.CompletedProcess, Path]:
    outputs = tmp_path / "outputs"
    done = subprocess.run([sys.executable, "-m", "cer_lib", "report", "RISPERDAL", "--kind", "drug", *args],
                          cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=900,
                          env={**os.environ, "CER_OUTPUTS_DIR": str(outputs), "CER_CACHE_DIR": str(tmp_path / "cache"), **env})
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done, outputs / "drug-RISPERDAL" / "latest"


def _check_pbrer(run: Path) -> dict:
    narrative = json.loads((run / "results" / "narrative.json").read_text())
    numbers = [s["number"] for s in narrative["sections"] if s["level"] == 1]
    assert numbers == [str(n) for n in range(1, 21)] + ["A", "B"]  # B: open reviewer feedback (issue 15), as in the device report
    placeholders = {p for s in narrative["sections"] for p in s["placeholders"]}
    assert {"exposure", "benefit-risk", "literature", "signal-assessment"} <= placeholders
    html = (run / "cer.html").read_text()
    assert "To be completed by the marketing authorisation holder" in html
    assert "tab-drug-signals" in html and "tab-unlisted-signals" in html and "20 Appendices to the PBRER" in html
    assert (run / "cer.pdf").stat().st_size > 10_000
    return json.loads((run / "results" / "analysis.json").read_text())["details"]["drug"]


@pytest.mark.slow
def test_the_pbrer_builds_offline_from_the_real_quarterly_files(quarter: Path, tmp_path: Path) -> None:
    _, run = _report(tmp_path, "--from", "mirror", "--mirror", str(quarter))
    drug = _check_pbrer(run)
    rows = read_quarter(quarter)
    cases = {r["caseid"] for r in rows["DRUG"] if r["role_cod"] in ("PS", "SS")
             and {drug_key(r["drugname"]), drug_key(r["prod_ai"])} & {"RISPERDAL", "RISPERIDONE"}}
    received = {r["caseid"]: r["init_fda_dt"] for r in rows["DEMO"]}
    in_window = {c for c in cases if received[c] >= "20150101"}
    totals = pd.read_parquet(run / "tables" / "drug_report_totals.parquet")
    assert int(totals[(totals.scope == "drug") & (totals.period == "all")].n_reports.iloc[0]) == len(in_window)
    gyn = next(r for r in drug["signals"]["rows"] if r["term"] == "Gynaecomastia")
    assert gyn["a"] == len(in_window) and gyn["listedness"] == "not assessed"  # a mirror holds no label
    # EBGM with the GPS prior of the whole snapshot (fitted in collect, cached), and the methods say so
    prior = json.loads((run / "collected" / "resolution.json").read_text())["database_prior"]
    assert prior["n_pairs"] > 100 and "prior fitted once on the whole FAERS snapshot" in drug["signals"]["methods"]["EBGM"]


@pytest.mark.slow
def test_the_pbrer_builds_from_the_local_openfda(realdata: Path, threaded_httpserver, tmp_path: Path) -> None:  # noqa: F811
    fda = serve_openfda(threaded_httpserver, faers_datasets(realdata), last_updated="2017-06-30")
    _, run = _report(tmp_path, "--from", "api", "--set", "window.end=2017-06-30", OPENFDA_BASE_URL=fda.base_url)
    drug = _check_pbrer(run)
    resolution = json.loads((run / "collected" / "resolution.json").read_text())
    assert resolution["ingredient"] == "RISPERIDONE" and resolution["matched_as"].startswith("brand, generic")
    assert any("count=patient.reaction.reactionmeddrapt.exact" in u and "limit=1000" in u for u in fda.urls)
    assert drug["signals"]["rows"]


def test_the_gps_prior_of_a_faers_snapshot_is_fitted_on_every_pair_once_then_cached(quarter: Path, tmp_path: Path) -> None:
    """The database-wide table counted here from the files with the csv module: every (drug, reaction)
    pair of the cases received in the window, drugs in the suspect roles by normalised name and ingredient."""
    import datetime as dt

    from cer_lib.analysis.drug_prior import database_prior

    rows = read_quarter(quarter)
    received = {r["primaryid"]: r["init_fda_dt"] for r in rows["DEMO"]}
    inside = {pid for pid, day in received.items() if "20150101" <= day <= "20170630"}
    products: dict[str, set[str]] = {}
    for r in rows["DRUG"]:
        if r["primaryid"] in inside and r["role_cod"] in ("PS", "SS"):
            products.setdefault(r["primaryid"], set()).update(k for k in (drug_key(r["drugname"]), drug_key(r["prod_ai"])) if k)
    terms: dict[str, set[str]] = {}
    for r in rows["REAC"]:
        if r["primaryid"] in inside:
            terms.setdefault(r["primaryid"], set()).add(r["pt"])
    pairs = {(p, t) for pid in products for p in products[pid] for t in terms.get(pid, ())}
    settings = params("X").methods.signals
    first = database_prior(Mirror(quarter), (dt.date(2015, 1, 1), dt.date(2017, 6, 30)), ["PS", "SS"], settings, tmp_path)
    assert first["n_pairs"] == len(pairs) and first["n_products"] == len({p for p, _ in pairs})
    assert first["cached"] is False and first["prior"] is not None and first["reason"]
    again = database_prior(Mirror(quarter), (dt.date(2015, 1, 1), dt.date(2017, 6, 30)), ["PS", "SS"], settings, tmp_path)
    assert again["cached"] is True and again["prior"] == first["prior"]
    other = database_prior(Mirror(quarter), (dt.date(2015, 1, 1), dt.date(2017, 6, 30)), ["PS"], settings, tmp_path)
    assert other["cached"] is False and other["key"] != first["key"]  # another table, another fit


def test_a_mirror_without_faers_files_is_refused_before_the_run(tmp_path: Path) -> None:
    from cer_lib.settings import Settings

    (tmp_path / "empty").mkdir()
    with pytest.raises(CodeError, match="holds no FAERS quarterly files"):
        DRUG.preflight(params("METFORMIN", **{"from": "mirror", "mirror": str(tmp_path / "empty")}), Settings.from_env())


# ----------------------------------------------------------------------------------------------
# labels from a mirror: openFDA's drug-label bulk download (formats.drug_label)

def risperidone_label(label_id: str, effective_time: str) -> dict:
    """A crafted ``drug/label`` record of RISPERDAL: short excerpts of the sections of the US label
    (Janssen, SPL set 7e117c2b-...) that listedness reads; gynecomastia is listed (section 6), "abnormal
    weight gain" is not (the label says "weight gain")."""
    return {
        "id": label_id, "set_id": "7e117c2b-1e3c-4de1-9b44-b8b3c7f1c3a2", "version": label_id[-1],
        "effective_time": effective_time,
        "boxed_warning": ["WARNING: INCREASED MORTALITY IN ELDERLY PATIENTS WITH DEMENTIA-RELATED PSYCHOSIS. Elderly "
                          "patients with dementia-related psychosis treated with antipsychotic drugs are at an increased "
                          "risk of death. RISPERDAL is not approved for the treatment of patients with dementia-related "
                          "psychosis."],
        "warnings_and_cautions": ["5.3 Neuroleptic Malignant Syndrome ... 5.4 Tardive Dyskinesia ... 5.5 Metabolic "
                                  "Changes: hyperglycemia and diabetes mellitus, dyslipidemia, weight gain ... 5.6 "
                                  "Hyperprolactinemia ... 5.7 Orthostatic Hypotension ... 5.14 Priapism"],
        "adverse_reactions": ["The most common adverse reactions in clinical trials (>5% and twice placebo) were "
                              "parkinsonism, akathisia, dystonia, tremor, sedation, dizziness, anxiety, blurred vision, "
                              "nausea, vomiting, upper abdominal pain, fatigue, increased appetite. Endocrine disorders: "
                              "hyperprolactinemia, gynecomastia."],
        "openfda": {"generic_name": ["RISPERIDONE"], "brand_name": ["RISPERDAL"], "substance_name": ["RISPERIDONE"],
                    "product_type": ["HUMAN PRESCRIPTION DRUG"]},
    }


def label_download(folder: Path) -> Path:
    """FDA's download as shipped: ``drug-label-0001-of-0001.json.zip`` holding ``{meta, results}`` with two
    versions of the RISPERDAL label (the older first, as when two downloads are merged)."""
    import zipfile

    folder.mkdir(parents=True, exist_ok=True)
    document = {"meta": {"last_updated": "2017-06-30", "results": {"total": 2}},
                "results": [risperidone_label("a1-v1", "20140101"), risperidone_label("a1-v2", "20170301")]}
    path = folder / "drug-label-0001-of-0001.json.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("drug-label-0001-of-0001.json", json.dumps(document))
    return path


def test_a_mirror_reads_openfdas_drug_label_download(realdata: Path, tmp_path: Path) -> None:
    from cer_lib.sources.base import Match, Query

    real = tmp_path / "real"
    (real / "drug" / "label").mkdir(parents=True)
    shutil.copy(realdata / "openfda" / "drug-labels-2015.json", real / "drug" / "label")
    mirror = Mirror(real)
    assert mirror.available_endpoints == ["drug/label"] and mirror.total("drug/label", Query()) == 100
    haloperidol = mirror.search("drug/label", Query((Match("openfda.generic_name", ("haloperidol",), exact=False),)))
    assert [r["openfda"]["generic_name"] for r in haloperidol.records] == [["HALOPERIDOL"]]
    assert haloperidol.records[0]["boxed_warning"] and haloperidol.records[0]["adverse_reactions"]
    report = {f.path: f for f in mirror.load_report().files}["drug/label/drug-labels-2015.json"]
    assert (report.format, report.rows_read, report.rows_kept) == ("openfda-drug-label", 100, 100)
    # the download as FDA ships it, in the mirror folder beside a FAERS quarter: newest version first
    crafted = tmp_path / "crafted"
    shutil.copytree(realdata / "faers" / "faers_ascii_2017q2", crafted)
    label_download(crafted)
    mirror = Mirror(crafted)
    assert mirror.available_endpoints == ["drug/event", "drug/label"]
    found = mirror.search("drug/label", Query((Match("openfda.generic_name", ("RISPERIDONE",), exact=False),)),
                          limit=100, sort="effective_time:desc")
    assert [r["id"] for r in found.records] == ["a1-v2"] and found.last_updated == "2017-06-30"  # one label, its latest version
    report = {f.path: f for f in mirror.load_report().files}["drug-label-0001-of-0001.json.zip"]
    assert (report.rows_read, report.duplicates_collapsed) == (2, 1)


def test_a_drug_from_a_mirror_with_labels_plans_them_and_without_says_where_they_come_from(quarter: Path, tmp_path: Path) -> None:
    folder = tmp_path / "m"
    shutil.copytree(quarter, folder)
    label_download(folder)
    resolved = DRUG.resolve(params("RISPERDAL"), Mirror(folder), _Quiet()).resolution
    assert resolved.mirror_endpoints == ["drug/event", "drug/label"]
    plans = {p.source: p for p in DRUG.plan(params("RISPERDAL"), resolved).sources}
    label = plans["drug_label"]
    assert not label.disabled and label.steps[0].requests[0].endpoint == "drug/label"
    assert plans["drug_ndc"].disabled.startswith("the mirror holds no drug/ndc files")
    bare = DRUG.resolve(params("RISPERDAL"), Mirror(quarter), _Quiet()).resolution
    assert "drug-label download" in {p.source: p for p in DRUG.plan(params("RISPERDAL"), bare).sources}["drug_label"].disabled


@pytest.mark.slow
def test_the_pbrer_from_a_mirror_with_the_label_download_marks_listedness(quarter: Path, tmp_path: Path) -> None:
    """``cer report RISPERDAL --kind drug --from mirror`` on the real 2017Q2 files beside a label download:
    each reaction listed or unlisted against the label's newest version, in the analysis and the PDF."""
    from pypdf import PdfReader

    folder = tmp_path / "m"
    shutil.copytree(quarter, folder)
    label_download(folder)
    _, run = _report(tmp_path, "--from", "mirror", "--mirror", str(folder))
    drug = _check_pbrer(run)
    assert drug["listedness"]["label"] == "set id 7e117c2b-1e3c-4de1-9b44-b8b3c7f1c3a2, effective 2017-03-01"
    status = drug["listedness"]["status"]
    assert status["Gynaecomastia"] == "listed" and status["Hyperglycaemia"] == "listed"  # gynecomastia, hyperglycemia
    assert status["Abnormal weight gain"] == "unlisted" and status["Off label use"] == "unlisted"
    gyn = next(r for r in drug["signals"]["rows"] if r["term"] == "Gynaecomastia")
    assert gyn["listedness"] == "listed" and "adverse_reactions" in gyn["label_sections"]
    sources = json.loads((run / "collected" / "status.json").read_text())["sources"]
    assert (sources["drug_label"]["status"], sources["drug_label"]["total"]) == ("ok", 1)
    assert sources["drug_ndc"]["status"] == "disabled"
    text = " ".join(" ".join(page.extract_text().split()) for page in PdfReader(run / "cer.pdf").pages)
    assert "Safety sections of the current US label" in text and "hyperprolactinemia, gynecomastia" in text
    assert "Listedness" in text and "unlisted" in text
