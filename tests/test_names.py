"""Names as people type them (issue 17): checked, normalised, slugged, escaped — and found.

Properties (hypothesis, arbitrary Unicode): no name reaches a URL unescaped, no name leads a path
outside ``outputs/``. Cases: every name of the issue's list is found in a mirror that holds it under
several spellings, with the same result from the API path against the local openFDA server.
"""
from __future__ import annotations

import html
import json
import os
import re
import string
import subprocess
import sys
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cer_lib.codes import Kind, code_slug, normalise_code
from cer_lib.collect import collect
from cer_lib.context import RunContext
from cer_lib.errors import CodeError
from cer_lib.names import MAX_NAME_CHARS, check_name, classify_terms, match_key, name_slug
from cer_lib.params import deep_merge, load_parameters, save_parameters
from cer_lib.runfolder import Outputs
from cer_lib.settings import PROJECT_ROOT, Settings
from cer_lib.sources.base import Match, Query
from cer_lib.sources.mirror import Mirror
from cer_lib.sources.openfda import NotExpressible, OpenFDA, build_url, render_search, render_value
from name_fixtures import NAMES, build_names_mirror, names_events
from openfda_server import SUPPORTED_QUERY_RE, parse_search, serve_openfda
from openfda_server import threaded_httpserver  # noqa: F401  (fixture)

WINDOW = {"start": "2015-01-01", "end": "2023-12-31"}
# any text, including controls, surrogate-free astral characters, quotes, '&', '\\', '/', '..'
ANY_TEXT = st.text(st.characters(exclude_categories=("Cs",)), min_size=0, max_size=150)
NAMEISH = st.text(st.sampled_from(string.ascii_letters + string.digits + " .'&®™©/()-+\"\\:é\n\t"), min_size=1, max_size=40)


# ----------------------------------------------------------------------------------------------
# checking: what is refused, and why


@pytest.mark.parametrize("name", NAMES)
def test_the_names_of_the_issue_are_accepted_as_typed(name: str) -> None:
    assert normalise_code(name, "brand") == name
    assert normalise_code(f"  {name} ", "drug") == name


@pytest.mark.parametrize(("name", "reason"), [
    ("ACCU\nCHEK", "a newline"), ("A\tB", "a tab"), ("A\x00B", "a NUL byte"), ("A\u202eB", "invisible format character"),
    ("A\u2028B", "a line separator"), ("../etc/passwd", "path"), ("A/../../B", "path"), ("/etc", "path"),
    ("A\\..\\B", "path"), ("x" * (MAX_NAME_CHARS + 1), f"more than the {MAX_NAME_CHARS}"), ("®.'", "no letter or digit"),
    ("   ", "no brand given"),
])
def test_attacks_and_mistakes_are_refused_with_the_reason(name: str, reason: str) -> None:
    with pytest.raises(CodeError, match=re.escape(reason)) as info:
        check_name(name, "brand")
    assert "\n" not in str(info.value) and "\x00" not in str(info.value)


def test_the_normalised_form_ignores_case_marks_surrounding_punctuation_and_spaces() -> None:
    assert {match_key(n) for n in ("Dexcom G6®", "DEXCOM  G6", '"dexcom g6"', "Dexcom G6™.", "ＤＥＸＣＯＭ G6")} == {"DEXCOM G6"}
    assert match_key("I.B.S.") == match_key("I.B.S") == "I.B.S" != match_key("IBS")
    assert len({match_key(n) for n in ("PIT'STOP", "PIT STOP", "PITSTOP")}) == 3
    assert match_key("St. John’s Wort") == match_key("ST. JOHN'S WORT")  # a typographic apostrophe
    assert match_key("Tylenol (acetaminophen)") == "TYLENOL (ACETAMINOPHEN)"  # the closing bracket pairs inside
    assert match_key("(Tylenol") == "TYLENOL"


def test_variants_are_the_values_with_the_same_normalised_form() -> None:
    rows = [{"term": "DEXCOM G6", "count": 30}, {"term": "Dexcom G6®", "count": 12}, {"term": "DEXCOM G6 RECEIVER", "count": 4}]
    found = classify_terms("dexcom g6", rows)
    assert found.key == "DEXCOM G6"
    assert [(t.value, t.records) for t in found.variants] == [("DEXCOM G6", 30), ("Dexcom G6®", 12)]
    assert [t.value for t in found.others] == ["DEXCOM G6 RECEIVER"]


def test_slugs_follow_the_stated_rule_and_tell_colliding_names_apart() -> None:
    assert code_slug("MiniMed 630G", "brand") == "brand-MINIMED_630G"
    assert code_slug("Dexcom G6®", "brand") == code_slug("DEXCOM G6", "brand") == "brand-DEXCOM_G6"  # one search
    pit = {n: name_slug(n) for n in ("PIT'STOP", "PIT STOP", "PITSTOP", "PIT_STOP")}
    assert len(set(pit.values())) == 4
    assert pit["PITSTOP"] == "PITSTOP" and pit["PIT STOP"] == "PIT_STOP"
    assert re.fullmatch(r"PIT_STOP--[0-9a-f]{8}", pit["PIT'STOP"])
    assert len({name_slug(n) for n in NAMES}) == len(NAMES)


# ----------------------------------------------------------------------------------------------
# properties over arbitrary Unicode


@settings(max_examples=400, deadline=None)
@given(ANY_TEXT | NAMEISH, st.sampled_from([Kind.brand, Kind.drug]))
def test_no_name_leads_a_path_outside_outputs(name: str, kind: Kind) -> None:
    root = Path("/tmp/cer-names-outputs")
    try:
        checked = normalise_code(name, kind)
    except CodeError as exc:
        assert "refused" in str(exc) or "no " in str(exc) or "characters" in str(exc)
        return
    folder = Outputs(root).code_folder(checked, kind)
    assert folder.path.parent == root  # one level below outputs/, never elsewhere
    assert folder.path.resolve().parent == root.resolve()
    assert re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]*", folder.slug) and ".." not in folder.slug
    assert Outputs(root)[folder.slug].path == folder.path  # and outputs/ accepts it as a code's folder
    load_parameters(checked, kind=kind.value)  # the per-code parameter file is looked up by the same slug


@settings(max_examples=400, deadline=None)
@given(ANY_TEXT | NAMEISH, st.booleans())
def test_no_value_reaches_a_url_unescaped(value: str, exact: bool) -> None:
    query = Query((Match("device.brand_name", (value, "OTHER"), exact=exact),))
    try:
        url = build_url("http://127.0.0.1:1", "device/event", search=render_search(query), limit=5)
    except NotExpressible as exc:
        assert "refused" in str(exc) or "empty" in str(exc)
        return
    parts = urlsplit(url)
    assert all(33 <= ord(c) < 127 for c in url) and "#" not in url  # every other byte is %-encoded
    params = parse_qs(parts.query, keep_blank_values=True)
    assert set(params) == {"search", "limit"} and params["limit"] == ["5"]  # nothing injected
    (search,) = params["search"]
    assert SUPPORTED_QUERY_RE.fullmatch(search)  # openFDA accepts it (no 400 "Search not supported")
    field = "device.brand_name.exact" if exact else "device.brand_name"
    assert parse_search(search) == [(field, "match", [value, "OTHER"])]  # the value comes back as one literal


@given(ANY_TEXT)
def test_a_phrase_is_either_sent_exactly_or_refused(value: str) -> None:
    try:
        rendered = render_value(value)
    except NotExpressible:
        return
    assert rendered.startswith('"') and rendered.endswith('"') and '"' not in rendered[1:-1]


# ----------------------------------------------------------------------------------------------
# every name of the issue is found, from a mirror and from the API alike


@pytest.fixture(scope="module")
def names_mirror(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    folder = tmp_path_factory.mktemp("names-mirror")
    return folder, build_names_mirror(folder)


def _ctx(tmp_path: Path, name: str, data_from: str, mirror: Path, base_url: str = "http://127.0.0.1:9") -> RunContext:
    layers = {"from": data_from, "mirror": str(mirror), "window": WINDOW, "http": {"max_retries": 1},
              "sources": {"eudamed": False}}
    params = load_parameters(name, kind="brand", overrides=deep_merge(layers, {})).resolved()
    settings_ = Settings(openfda_base_url=base_url, cache_dir=tmp_path / "cache", outputs_dir=tmp_path / "outputs")
    run = tmp_path / f"{data_from}-{name_slug(name)}"
    run.mkdir(parents=True)
    save_parameters(params, run / "parameters.yaml")
    return RunContext(run, params, settings_, stage="01_collect")


def _collected(ctx: RunContext) -> dict[str, Any]:
    read = lambda name: (ctx.run_dir / "collected" / name).read_text(encoding="utf-8")
    # the rows, not how each source spells its query or dates an empty answer (openFDA's 404 has no meta)
    counts = [{k: v for k, v in json.loads(line).items() if k not in ("search", "last_updated")}
              for line in read("counts.jsonl").splitlines()]
    return {"brand": json.loads(read("resolution.json"))["brand"],
            "status": json.loads(read("status.json"))["sources"]["device_event"]["total"],
            "counts": counts}


@pytest.mark.parametrize("name", NAMES)
def test_every_name_is_found_in_the_mirror_and_through_the_api_alike(
        name: str, names_mirror, threaded_httpserver, tmp_path: Path) -> None:  # noqa: F811
    folder, cases = names_mirror
    case = cases[name]
    from_mirror = _ctx(tmp_path, name, "mirror", folder)
    collect(from_mirror)
    mirrored = _collected(from_mirror)
    brand = mirrored["brand"]
    assert brand["typed"] == name and brand["normalised"] == match_key(name)
    assert {v["value"]: v["records"] for v in brand["variants"]} == case.variants
    assert {o["value"] for o in brand["others"]} <= set(case.others)  # other brands are found, and left out
    assert mirrored["status"] == case.reports

    events, last_updated = names_events(folder)
    fda = serve_openfda(threaded_httpserver, {"device/event": events}, last_updated=last_updated)
    from_api = _ctx(tmp_path, name, "api", folder, fda.base_url)
    collect(from_api, OpenFDA.for_run(from_api, backoff_seconds=0.01))
    online = _collected(from_api)
    assert online["status"] == mirrored["status"] == case.reports
    assert {v["value"]: v["records"] for v in online["brand"]["variants"]} == case.variants
    assert online["counts"] == mirrored["counts"]  # every count series is the same
    unescaped = [u for u in fda.urls if not SUPPORTED_QUERY_RE.fullmatch(parse_qs(urlsplit(u).query).get("search", ["x"])[0])]
    assert not unescaped
    if any(not_sent in name for not_sent in "&®"):  # a variant openFDA cannot carry: the words, less the others
        assert online["brand"]["mode"] == "words less others"


def test_pitstop_and_its_look_alikes_are_three_brands(names_mirror, tmp_path: Path) -> None:
    folder, cases = names_mirror
    brand = Mirror(folder)
    found = brand.search("device/event", Query((Match("device.brand_name", ("PIT STOP",), exact=False),)))
    assert {r["device"][0]["brand_name"] for r in found.records} == {"PIT'STOP", "pit'stop", "PIT'STOP®", "PIT STOP"}
    ctx = _ctx(tmp_path, "PIT'STOP", "mirror", folder)
    collect(ctx)
    assert [o["value"] for o in _collected(ctx)["brand"]["others"]] == ["PIT STOP"]


def test_an_api_search_that_cannot_be_exact_fails_with_the_reason(names_mirror, threaded_httpserver, tmp_path) -> None:  # noqa: F811
    folder, _ = names_mirror
    events, last_updated = names_events(folder)
    events[0]["device"][0]["brand_name"] = "JOHNSON & JOHNSON VISION"  # another brand openFDA cannot name
    fda = serve_openfda(threaded_httpserver, {"device/event": events}, last_updated=last_updated)
    ctx = _ctx(tmp_path, "Johnson & Johnson", "api", folder, fda.base_url)
    with pytest.raises(CodeError, match="JOHNSON & JOHNSON VISION.*report from a mirror"):
        collect(ctx, OpenFDA.for_run(ctx, backoff_seconds=0.01))
    non_ascii = _ctx(tmp_path, "Müller Stent", "api", folder, fda.base_url)
    with pytest.raises(CodeError, match="letters openFDA's search syntax does not accept"):
        collect(non_ascii, OpenFDA.for_run(non_ascii, backoff_seconds=0.01))


# ----------------------------------------------------------------------------------------------
# every name of the issue builds a report (the real command line, one batch)


def _cer(tmp: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    environment = {**os.environ, "CER_OUTPUTS_DIR": str(tmp / "outputs"), "CER_CACHE_DIR": str(tmp / "cache"), **env}
    return subprocess.run([sys.executable, "-m", "cer_lib", *args], cwd=PROJECT_ROOT, env=environment,
                          capture_output=True, text=True, timeout=1800)


@pytest.fixture(scope="module")
def name_reports(names_mirror, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``cer batch`` over the nine names from the fixture mirror: the outputs folder."""
    folder, _ = names_mirror
    tmp = tmp_path_factory.mktemp("name-reports")
    done = _cer(tmp, "batch", "--kind", "brand", "--from", "mirror", "--mirror", str(folder),
                "--set", f"window.start={WINDOW['start']}", "--set", f"window.end={WINDOW['end']}", "--", *NAMES)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return tmp / "outputs"


def _report_keys(run: Path) -> list[str]:
    return sorted(pd.read_parquet(run / "tables" / "events.parquet")["mdr_report_key"].astype(str))


@pytest.mark.parametrize("name", NAMES)
def test_every_name_builds_a_report_that_shows_it_as_typed(name: str, name_reports: Path, names_mirror) -> None:
    _, cases = names_mirror
    run = (name_reports / code_slug(name, "brand") / "latest").resolve()
    page = (run / "cer.html").read_text(encoding="utf-8")
    assert (run / "cer.pdf").stat().st_size > 10_000
    assert f"<title>Clinical Evaluation Report: {html.escape(name, quote=False)}</title>" in page
    text = html.unescape(re.sub(r"<[^>]+>", "", page))
    assert f"normalised form {match_key(name)} (" in text  # which normalised form was searched ...
    for variant, n in cases[name].variants.items():  # ... and how many reports each variant matched
        assert f"“{variant}” ({n} reports)" in text
    assert len(_report_keys(run)) == cases[name].reports


def test_the_api_path_builds_the_same_report(name_reports: Path, names_mirror, threaded_httpserver, tmp_path) -> None:  # noqa: F811
    folder, cases = names_mirror
    name = "Johnson & Johnson"  # '&' cannot be sent to openFDA: its words, less the other brands
    events, last_updated = names_events(folder)
    fda = serve_openfda(threaded_httpserver, {"device/event": events}, last_updated=last_updated)
    done = _cer(tmp_path, "report", "--kind", "brand", "--from", "api", "--set", "sources.eudamed=false",
                "--set", f"window.start={WINDOW['start']}", "--set", f"window.end={WINDOW['end']}", "--", name,
                OPENFDA_BASE_URL=fda.base_url)
    assert done.returncode == 0, done.stderr[-3000:]
    online = (tmp_path / "outputs" / code_slug(name, "brand") / "latest").resolve()
    mirrored = (name_reports / code_slug(name, "brand") / "latest").resolve()
    assert _report_keys(online) == _report_keys(mirrored) and len(_report_keys(online)) == cases[name].reports
    analysis = lambda run: json.loads((run / "results" / "analysis.json").read_text(encoding="utf-8"))
    for part in ("monthly_counts", "trend", "change_points", "forecast", "problems"):
        assert analysis(online)[part] == analysis(mirrored)[part], part
