"""FDA's FAERS quarterly ASCII files as ``drug/event`` records, loaded with DuckDB.

Files (``$``-delimited, one header row, FDA's ``ASCII`` folder of each quarterly zip):
``DEMO, DRUG, REAC, OUTC, RPSR, THER, INDI`` and ``DELETE`` (case ids, one a line), named
``<KIND><yy>Q<q>.txt``. Two layouts, told apart by the DEMO header:

- **current** (FAERS, 2012Q4 on): ``primaryid`` (case id and version), ``caseid``, ``caseversion``,
  ``init_fda_dt`` / ``fda_dt``, ``sex`` (``gndr_cod`` in 2012Q4-2014Q2), ``prod_ai`` in DRUG;
- **legacy** (AERS, to 2012Q3; upper-case ``.TXT`` names): ``ISR`` (one report version),
  ``CASE``, no case version (a later ISR of a case is a later version), ``GNDR_COD``, no ``prod_ai``.

A mirror may hold one quarter flat in its folder (as the real ``faers_ascii_2017q2``), quarters in
sub-folders of ``faers/`` (or ``ascii/``), or FDA's quarterly zips there; layouts may be mixed. All
FAERS files of a mirror are one unit, because DELETE files and later versions act across quarters:

1. the DEMO rows of every quarter, each with its quarter;
2. **DELETE**: a case listed in any DELETE file is removed, every version of it;
3. **latest version per case**: of the remaining DEMO rows of a case, the one of the latest
   quarter, then the highest ``caseversion`` (legacy: the highest ISR), then the latest ``fda_dt``;
   the counts of both removals are in the DEMO file's load report;
4. the other files joined to the kept version by ``primaryid`` (legacy ``isr``) of the same
   quarter; rows without a kept DEMO row are counted as unjoined (superseded or deleted versions).

All of it is SQL in DuckDB over the files read as they are (``$``-delimited, every column text):
the steps above are window functions and joins; the role codes, outcome flags and reporter codes
are decoded in SQL; drug names are normalised once per distinct name (`drug_key`, the same function
that normalises what a user types). What a load keeps are the **parts**: the kept cases' rows, one
table per kind (cases, drugs, reactions, indications, therapies, outcomes, report sources), and
from them, by SQL, the searchable fields every count and search runs on. No record is built at
load time (a quarter holds 400 000 cases); a search builds the records it returns from the parts
(`case_record_sql`): the drug's cases, a review sample.

Each case returned is an openFDA-shaped record: ``safetyreportid`` = caseid,
``safetyreportversion``, ``receivedate`` = ``init_fda_dt`` (legacy: ``fda_dt``), ``receiptdate`` =
``fda_dt``, ``serious`` (1 when the case has an outcome code, else 2) and the ``seriousness*``
flags from OUTC (DE death, LT life-threatening, HO hospitalization, DS disabling, CA congenital
anomaly, RI and OT other), ``primarysource.qualification`` from ``occp_cod`` (MD 1, PH 2, OT and HP
3, LW 4, CN 5), ``patient.patientsex`` (M 1, F 2), ``patient.reaction[].reactionmeddrapt``,
``patient.drug[]`` (``medicinalproduct`` = drugname, ``drugcharacterization`` PS/SS 1, C 2, I 3,
``activesubstance.activesubstancename`` = prod_ai, ``drugindication`` from INDI,
``drugauthorizationnumb`` = nda_num, ``drugstartdate``/``drugenddate`` from THER). The quarterly
files carry no ``openfda`` block; what they have that openFDA lacks is kept under ``faers``: the
role code, and ``faers.match`` = ``<role>|<drug_key>`` of the drug name and of the active
ingredient (`cer_lib.names.drug.drug_key`), the field a drug profile searches so that the role
filter applies to the same drug that matched (openFDA's search cannot say that).
"""
from __future__ import annotations

import re
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

import duckdb
import pyarrow as pa

from ....errors import MirrorError
from ....names.drug import drug_key
from ..endpoints import EndpointSpec, field_specs
from ..load_report import FileLoadReport
from ..record_tables import FIELDS_SCHEMA, RECORDS_SCHEMA
from .base import Conversion, ConversionContext, FileFormat, SourceUnit

__all__ = ["DRUG_EVENT", "FaersAsciiFormat", "FaersFile", "faers_files", "ROLE_CHARACTERIZATION"]

DRUG_EVENT = EndpointSpec(
    "drug/event",
    field_specs(
        "safetyreportid safetyreportversion serious seriousnessdeath seriousnesshospitalization "
        "seriousnesslifethreatening seriousnessdisabling seriousnesscongenitalanomali seriousnessother occurcountry "
        "primarysource.qualification primarysource.reportercountry patient.patientsex "
        "patient.reaction.reactionmeddrapt patient.drug.medicinalproduct patient.drug.drugcharacterization "
        "patient.drug.activesubstance.activesubstancename patient.drug.drugindication patient.drug.faers.match",
        "receivedate receiptdate"),
    key=("safetyreportid",), newest_by="safetyreportversion", required=(("safetyreportid",),), dating="receiptdate",
    cache_conversions=True,
)
PARTS = ("cases", "drugs", "reactions", "indications", "therapies", "outcomes", "report_sources")
KINDS = ("DEMO", "DRUG", "REAC", "OUTC", "RPSR", "THER", "INDI", "DELETE")
_NAME = re.compile(r"^(DEMO|DRUG|REAC|OUTC|RPSR|THER|INDI|DELETE)(\d\d)Q([1-4])\.TXT$", re.IGNORECASE)
ROLE_CHARACTERIZATION = {"PS": "1", "SS": "1", "C": "2", "I": "3"}
SERIOUSNESS = {"DE": "seriousnessdeath", "LT": "seriousnesslifethreatening", "HO": "seriousnesshospitalization",
               "DS": "seriousnessdisabling", "CA": "seriousnesscongenitalanomali", "RI": "seriousnessother",
               "OT": "seriousnessother"}
QUALIFICATION = {"MD": "1", "PH": "2", "OT": "3", "HP": "3", "LW": "4", "CN": "5"}
SEX = {"M": "1", "F": "2"}


def _decode_sql(column: str, codes: dict[str, str]) -> str:
    """SQL mapping the upper-cased ``column`` through ``codes`` (NULL for other values)."""
    return "CASE " + " ".join(f"WHEN upper({column}) = '{k}' THEN '{v}'" for k, v in codes.items()) + " END"


ROLE_SQL = _decode_sql("d.role_cod", ROLE_CHARACTERIZATION)
QUALIFICATION_SQL = _decode_sql("c.occp_cod", QUALIFICATION)
SEX_SQL = _decode_sql("c.sex", SEX)
# canonical column <- the layout's columns, first present wins (None: not in that layout)
_COLUMNS: dict[str, dict[str, tuple[str, ...]]] = {
    "DEMO": {"primaryid": ("primaryid", "isr"), "caseid": ("caseid", "case"), "caseversion": ("caseversion", "isr"),
             "fda_dt": ("fda_dt",), "init_fda_dt": ("init_fda_dt", "fda_dt"), "sex": ("sex", "gndr_cod"),
             "age": ("age",), "age_cod": ("age_cod",), "occp_cod": ("occp_cod",),
             "reporter_country": ("reporter_country",), "occr_country": ("occr_country",), "rept_cod": ("rept_cod",)},
    "DRUG": {"primaryid": ("primaryid", "isr"), "drug_seq": ("drug_seq",), "role_cod": ("role_cod",),
             "drugname": ("drugname",), "prod_ai": ("prod_ai",), "nda_num": ("nda_num",), "route": ("route",)},
    "REAC": {"primaryid": ("primaryid", "isr"), "pt": ("pt",)},
    "OUTC": {"primaryid": ("primaryid", "isr"), "outc_cod": ("outc_cod", "outc_code")},
    "RPSR": {"primaryid": ("primaryid", "isr"), "rpsr_cod": ("rpsr_cod",)},
    "THER": {"primaryid": ("primaryid", "isr"), "drug_seq": ("dsg_drug_seq", "drug_seq"), "start_dt": ("start_dt",),
             "end_dt": ("end_dt",)},
    "INDI": {"primaryid": ("primaryid", "isr"), "drug_seq": ("indi_drug_seq", "drug_seq"), "indi_pt": ("indi_pt",)},
}
_REQUIRED = {"DEMO": ("primaryid", "caseid", "caseversion", "fda_dt"), "DRUG": ("primaryid", "role_cod", "drugname"),
             "REAC": ("primaryid", "pt"), "OUTC": ("primaryid", "outc_cod"), "RPSR": ("primaryid", "rpsr_cod"),
             "THER": ("primaryid", "drug_seq"), "INDI": ("primaryid", "drug_seq", "indi_pt")}


@dataclass(frozen=True)
class FaersFile:
    """One FAERS file: where it is (a file, or a member of a zip), its kind and quarter."""

    path: Path  # the file, or the zip that holds it
    member: str | None  # the member's name inside the zip
    kind: str  # DEMO, DRUG, ..., DELETE
    quarter: str  # "2017Q2"

    @property
    def label(self) -> str:
        return f"{self.path}:{self.member}" if self.member else str(self.path)

    @property
    def order(self) -> int:
        return int(self.quarter[:4]) * 4 + int(self.quarter[-1])


def _parse_name(name: str) -> tuple[str, str] | None:
    found = _NAME.match(Path(name).name)
    if not found:
        return None
    kind, yy, q = found.groups()
    return kind.upper(), f"{2000 + int(yy)}Q{q}"


def faers_files(folder: Path) -> list[FaersFile]:
    """The FAERS files of a mirror: flat in the folder, under ``ascii/`` or ``faers/`` (any depth),
    and inside the zips there (no reading beyond names)."""
    places = [p for p in folder.iterdir() if p.is_file()] if folder.is_dir() else []
    for sub in ("faers", "ascii", "ASCII"):
        if (folder / sub).is_dir():
            places += [p for p in sorted((folder / sub).rglob("*")) if p.is_file()]
    found: list[FaersFile] = []
    for path in sorted(set(places)):
        if path.name.startswith("."):
            continue
        if path.suffix.lower() == ".zip" and (path.parent != folder or "faers" in path.name.lower()):
            try:
                with zipfile.ZipFile(path) as archive:
                    names = archive.namelist()
            except zipfile.BadZipFile:
                continue
            for member in names:
                parsed = _parse_name(member)
                if parsed:
                    found.append(FaersFile(path, member, *parsed))
            continue
        parsed = _parse_name(path.name)
        if parsed:
            found.append(FaersFile(path, None, *parsed))
    return found


class FaersAsciiFormat(FileFormat):
    """FAERS quarterly ASCII files (both layouts) as one unit feeding ``drug/event`` (module docstring)."""

    name = "faers-ascii"
    priority = 2
    folders = ("faers", "ascii")
    feeds = (DRUG_EVENT,)
    version = "2"  # 2: records built on demand from the parts

    def units(self, folder: Path) -> list[SourceUnit]:
        files = faers_files(folder)
        paths = tuple(sorted({f.path for f in files}))
        return [self.unit(folder, DRUG_EVENT.name, paths, name="faers/")] if files else []

    def stated_date(self, unit: SourceUnit) -> str | None:
        return None

    def record_sql(self, parts: Mapping[str, str], wanted: str) -> str:
        return case_record_sql(parts, wanted)

    def convert(self, unit: SourceUnit, context: ConversionContext) -> Conversion:
        files = [f for path in unit.paths for f in faers_files_of(path)]
        _refuse_repeated_quarters(files, context)
        with tempfile.TemporaryDirectory(prefix="faers-") as scratch:
            return FaersLoad(files, context, Path(scratch), self.name).run()


def faers_files_of(path: Path) -> list[FaersFile]:
    """The FAERS files a unit path holds: itself, or the FAERS members of a zip."""
    if path.suffix.lower() == ".zip":
        try:
            with zipfile.ZipFile(path) as archive:
                return [FaersFile(path, m, *p) for m in archive.namelist() if (p := _parse_name(m))]
        except zipfile.BadZipFile:
            raise MirrorError(f"{path}: not a readable zip archive; re-download it") from None
    parsed = _parse_name(path.name)
    return [FaersFile(path, None, *parsed)] if parsed else []


def _refuse_repeated_quarters(files: list[FaersFile], context: ConversionContext) -> None:
    seen: dict[tuple[str, str], FaersFile] = {}
    for f in files:
        other = seen.setdefault((f.kind, f.quarter), f)
        if other is not f:
            raise MirrorError(
                f"{context.folder}: the FAERS {f.kind} file of {f.quarter} is in the mirror twice ({_rel(other, context)} "
                f"and {_rel(f, context)}); keep one copy of each quarter")


def _rel(f: FaersFile, context: ConversionContext) -> str:
    return context.rel(f.path) + (f"!{f.member}" if f.member else "")


class FaersLoad:
    """One load of a mirror's FAERS files into the records and fields tables (steps in the module docstring)."""

    def __init__(self, files: list[FaersFile], context: ConversionContext, scratch: Path, format_name: str) -> None:
        self.files, self.context, self.scratch, self.format_name = files, context, scratch, format_name
        self.con = duckdb.connect(config={"memory_limit": "4GB", "temp_directory": str(scratch / "spill")})
        self.reports: dict[str, FileLoadReport] = {}

    # -- reading ---------------------------------------------------------------------------------

    def _local(self, f: FaersFile) -> Path:
        """A path DuckDB can read: the file, or the zip member extracted into the scratch folder."""
        if f.member is None:
            return f.path
        target = self.scratch / f"{f.quarter}-{Path(f.member).name}"
        with zipfile.ZipFile(f.path) as archive, archive.open(f.member) as source, open(target, "wb") as out:
            while chunk := source.read(1 << 20):
                out.write(chunk)
        return target

    def _report(self, f: FaersFile, layout: str | None) -> FileLoadReport:
        report = FileLoadReport(_rel(f, self.context), DRUG_EVENT.name, self.format_name, layout=layout)
        self.reports[report.path] = report
        return report

    @staticmethod
    def _header(path: Path) -> tuple[list[str], str]:
        with open(path, "rb") as handle:
            first = handle.readline()
            sample = first + handle.read(1 << 20)
        try:
            sample.decode("utf-8")
            encoding = "utf-8"
        except UnicodeDecodeError as exc:
            encoding = "latin-1" if exc.start < len(sample) - 4 else "utf-8"  # a cut multi-byte character is utf-8
        text = first.decode(encoding, errors="replace").rstrip("\r\n")
        return text.split("$"), encoding

    def _read(self, f: FaersFile) -> str:
        """Load one file into a table of canonical columns (plus quarter); the table's name."""
        path = self._local(f)
        table = f"{f.kind.lower()}_{f.quarter}"
        if f.kind == "DELETE":
            report = self._report(f, None)
            self.con.execute(
                f"CREATE TABLE {table} AS SELECT trim(column0) AS caseid FROM read_csv(?, delim='$', header=false, "
                "all_varchar=true, quote='', escape='', columns={'column0': 'VARCHAR'}, null_padding=true) "
                "WHERE regexp_matches(trim(column0), '^[0-9]+$')", [str(path)])
            report.rows_read = report.rows_kept = self._count(table)
            report.note = "case ids to delete from every quarter"
            return table
        header, encoding = self._header(path)
        names = [h.strip().lower() for h in header]
        if len(names) < 2:
            raise MirrorError(f"{_rel(f, self.context)}: line 1: not '$'-delimited (a single column); FAERS ASCII "
                              "files are '$'-delimited with a header row")
        layout = "legacy" if names[0] == "isr" else "current" if names[0] == "primaryid" else None
        if layout is None:
            raise MirrorError(f"{_rel(f, self.context)}: line 1: the header starts with {header[0]!r}, not primaryid "
                              "(FAERS) or ISR (legacy AERS); not a FAERS quarterly file")
        report = self._report(f, layout)
        report.encoding = encoding
        columns = {f"c{i}": "VARCHAR" for i in range(len(names))}
        with open(path, "rb") as handle:
            header_only = len(handle.read(1 << 16).rstrip(b"\r\n").splitlines()) <= 1
        if header_only:  # an empty table
            rows_from = "(SELECT " + ", ".join(f"NULL::VARCHAR AS {c}" for c in columns) + " WHERE FALSE)"
            params: list[object] = []
        else:
            rows_from = ("read_csv(?, delim='$', header=false, skip=1, all_varchar=true, quote='', escape='', "
                      "columns=?, null_padding=true, encoding=?)")
            params = [str(path), columns, encoding]
        picks = []
        for canonical, candidates in _COLUMNS[f.kind].items():
            source = next((c for c in candidates if c in names), None)
            if source is None and canonical in _REQUIRED[f.kind]:
                raise MirrorError(f"{_rel(f, self.context)}: line 1: no column {' or '.join(candidates)}, which "
                                  f"the {f.kind} file needs ({layout} layout)")
            picks.append(f"nullif(trim(c{names.index(source)}), '') AS {canonical}" if source else f"NULL AS {canonical}")
        try:
            self.con.execute(
                f"CREATE TABLE {table} AS SELECT {', '.join(picks)}, ? AS quarter, ?::INTEGER AS qorder FROM {rows_from}",
                [f.quarter, f.order, *params])
        except duckdb.Error as exc:
            raise MirrorError(f"{_rel(f, self.context)}: cannot be read as a FAERS {f.kind} file: "
                              f"{str(exc).splitlines()[0]}") from None
        report.rows_read = self._count(table)
        missing = self.con.execute(f"SELECT count(*) FROM {table} WHERE primaryid IS NULL").fetchone()[0]
        if missing:
            report.reject(None, "no primaryid (legacy: ISR)", rows=int(missing))
            self.con.execute(f"DELETE FROM {table} WHERE primaryid IS NULL")
        report.rows_kept = report.rows_read - int(missing)
        return table

    def _count(self, table: str) -> int:
        return int(self.con.execute(f"SELECT count(*) FROM {table}").fetchone()[0])

    def _union(self, kind: str, parts: list[str]) -> None:
        """``all_<kind>``: the kind's files in one table; a companion's rows with the ``row_no`` of the
        kept case they belong to (NULL: a version not kept) and ``known`` (a DEMO row has their id)."""
        columns = [*_COLUMNS[kind], "quarter", "qorder"] if kind != "DELETE" else ["caseid"]
        if parts:
            rows = " UNION ALL ".join(f"SELECT * FROM {t}" for t in parts)
        else:
            types = {"caseid": "VARCHAR", "qorder": "INTEGER"}
            rows = "SELECT " + ", ".join(f"NULL::{types.get(c, 'VARCHAR')} AS {c}" for c in columns) + " WHERE FALSE"
        if kind in ("DEMO", "DELETE"):
            self.con.execute(f"CREATE TABLE all_{kind.lower()} AS {rows}")
        else:
            self.con.execute(f"CREATE TABLE all_{kind.lower()} AS SELECT u.*, ids.row_no, ids.known IS NOT NULL AS known "
                             f"FROM ({rows}) u LEFT JOIN demo_ids ids USING (quarter, primaryid)")
        for t in parts:
            self.con.execute(f"DROP TABLE {t}")

    # -- the load ----------------------------------------------------------------------------------

    def run(self) -> Conversion:
        tables: dict[str, list[str]] = {}
        by_table: dict[str, FaersFile] = {}
        for f in sorted(self.files, key=lambda x: (x.order, KINDS.index(x.kind))):
            name = self._read(f)
            tables.setdefault(f.kind, []).append(name)
            by_table[name] = f
        if "DEMO" not in tables:
            raise MirrorError(f"{self.context.folder}: FAERS files without a DEMO file; each quarter needs its DEMO file")
        self._union("DELETE", tables.get("DELETE", []))
        self._union("DEMO", tables["DEMO"])
        self._keep_latest_versions(by_table)
        for kind in KINDS[1:-1]:
            self._union(kind, tables.get(kind, []))
        self._count_companions(by_table)
        self._drug_keys()
        parts = self._parts()
        records, fields = self._records(), self._fields()
        self.con.close()
        return Conversion(records, fields, list(self.reports.values()), parts=parts)

    def _keep_latest_versions(self, by_table: dict[str, FaersFile]) -> None:
        """Steps 2 and 3: DELETE applied, then the latest version per case; counts into the DEMO reports.
        ``demo_ids``: every DEMO row's id, with the ``row_no`` of its case when it is the version kept."""
        con = self.con
        con.execute("""
            CREATE TABLE ranked AS SELECT d.quarter, d.primaryid, d.caseid, d.caseid IN (SELECT caseid FROM all_delete) AS deleted,
                row_number() OVER (PARTITION BY d.caseid ORDER BY d.qorder DESC,
                    TRY_CAST(d.caseversion AS BIGINT) DESC NULLS LAST, d.fda_dt DESC NULLS LAST, d.primaryid DESC) AS version_rank
            FROM all_demo d WHERE d.caseid IS NOT NULL""")
        con.execute("CREATE TABLE kept_ids AS SELECT quarter, primaryid, "
                    "row_number() OVER (ORDER BY TRY_CAST(caseid AS BIGINT), caseid) AS row_no "
                    "FROM ranked WHERE version_rank = 1 AND NOT deleted")
        con.execute("CREATE TABLE demo_ids AS SELECT quarter, primaryid, max(k.row_no) AS row_no, TRUE AS known "
                    "FROM all_demo LEFT JOIN kept_ids k USING (quarter, primaryid) GROUP BY ALL")
        per_quarter = con.execute("""
            SELECT quarter, count(*) FILTER (WHERE deleted), count(*) FILTER (WHERE NOT deleted AND version_rank > 1)
            FROM ranked GROUP BY quarter""").fetchall()
        removed = {q: (int(d), int(s)) for q, d, s in per_quarter}
        no_case = dict(con.execute("SELECT quarter, count(*) FROM all_demo WHERE caseid IS NULL GROUP BY quarter").fetchall())
        for name, f in by_table.items():
            if f.kind != "DEMO":
                continue
            report = self.reports[_rel(f, self.context)]
            deleted, superseded = removed.get(f.quarter, (0, 0))
            if no_case.get(f.quarter):
                report.reject(None, "no caseid (legacy: CASE)", rows=int(no_case[f.quarter]))
                report.rows_kept -= int(no_case[f.quarter])
            report.note = (f"{deleted} case version(s) removed by DELETE files; {superseded} superseded by a later "
                           "version of the same case (latest quarter, then highest caseversion / ISR, kept)")

    def _count_companions(self, by_table: dict[str, FaersFile]) -> None:
        """Step 4's counts: companion rows of a version not kept (left out, in the note), or of no DEMO
        row at all (unjoined)."""
        counts = {}
        for kind in KINDS[1:-1]:
            for quarter, dropped, orphans in self.con.execute(
                    f"SELECT quarter, count(*) FILTER (WHERE known AND row_no IS NULL), count(*) FILTER (WHERE NOT known) "
                    f"FROM all_{kind.lower()} GROUP BY quarter").fetchall():
                counts[(kind, quarter)] = (int(dropped), int(orphans))
        for name, f in by_table.items():
            if f.kind in ("DEMO", "DELETE"):
                continue
            report = self.reports[_rel(f, self.context)]
            dropped, orphans = counts.get((f.kind, f.quarter), (0, 0))
            report.rows_kept -= orphans  # rows of dropped versions were read well: counted in the note
            if orphans:
                report.reject(None, "no DEMO row with its primaryid (ISR) in its quarter (not joined)", rows=orphans)
                report.rows_unjoined += orphans
            if dropped:
                report.note = f"{dropped} row(s) of superseded or deleted case versions left out"

    def _drug_keys(self) -> None:
        """The normalised form of every distinct drug name and ingredient (`drug_key`), as a table."""
        names = [r[0] for r in self.con.execute(
            "SELECT DISTINCT v FROM (SELECT drugname AS v FROM all_drug UNION SELECT prod_ai FROM all_drug) WHERE v IS NOT NULL"
        ).fetchall()]
        keys = pa.table({"name": pa.array(names, pa.string()), "drug_key": pa.array([drug_key(n) for n in names], pa.string())})
        self.con.register("drug_key_arrow", keys)
        self.con.execute("CREATE TABLE drug_keys AS SELECT * FROM drug_key_arrow")
        self.con.unregister("drug_key_arrow")

    def _parts(self) -> dict[str, pa.Table]:
        """The kept cases' rows, decoded, one table per kind of row, keyed by ``row_no``: what the
        searchable fields and, on demand, the records (`record_sql`) are built from."""
        con = self.con
        demo_path = {f.quarter: _rel(f, self.context) for f in self.files if f.kind == "DEMO"}
        con.register("demo_paths", pa.table({"quarter": list(demo_path), "path": list(demo_path.values())}))
        con.execute(f"""
            CREATE TABLE part_cases AS SELECT k.row_no::BIGINT AS row_no, p.path AS source_file, c.caseid, c.caseversion,
                c.init_fda_dt, c.fda_dt, c.occr_country, c.reporter_country, {QUALIFICATION_SQL} AS qualification,
                {SEX_SQL} AS sex, c.age, c.age_cod, c.rept_cod, c.primaryid, c.quarter
            FROM kept_ids k JOIN all_demo c USING (quarter, primaryid) JOIN demo_paths p USING (quarter)""")
        con.unregister("demo_paths")
        con.execute(f"""
            CREATE TABLE part_drugs AS
            SELECT d.row_no::BIGINT AS row_no, d.drug_seq, d.drugname, d.prod_ai, d.nda_num, d.route,
                   upper(d.role_cod) AS role, {ROLE_SQL} AS characterization,
                   upper(d.role_cod) || '|' || nk.drug_key AS name_match, upper(d.role_cod) || '|' || ak.drug_key AS ai_match
            FROM all_drug d LEFT JOIN drug_keys nk ON nk.name = d.drugname LEFT JOIN drug_keys ak ON ak.name = d.prod_ai
            WHERE d.row_no IS NOT NULL""")
        con.execute("CREATE TABLE part_indications AS SELECT row_no::BIGINT AS row_no, drug_seq, indi_pt AS value "
                    "FROM all_indi WHERE row_no IS NOT NULL")
        con.execute("CREATE TABLE part_therapies AS SELECT row_no::BIGINT AS row_no, drug_seq, start_dt, end_dt "
                    "FROM all_ther WHERE row_no IS NOT NULL")
        for part, table, column in (("reactions", "all_reac", "pt"), ("outcomes", "all_outc", "upper(outc_cod)"),
                                    ("report_sources", "all_rpsr", "upper(rpsr_cod)")):
            con.execute(f"CREATE TABLE part_{part} AS SELECT DISTINCT row_no::BIGINT AS row_no, {column} AS value "
                        f"FROM {table} WHERE row_no IS NOT NULL")
        return {name: con.table(f"part_{name}").to_arrow_table() for name in PARTS}

    def _records(self) -> pa.Table:
        """One row per kept case, its JSON left to `record_sql` (built for the cases a search returns)."""
        return self.con.sql("SELECT row_no, source_file, NULL::BIGINT AS source_line, caseid AS natural_key, '' AS bridge, "
                            "NULL::VARCHAR AS record_json FROM part_cases").to_arrow_table().cast(RECORDS_SCHEMA)

    def _fields(self) -> pa.Table:
        """One row per searchable value (``fields`` of `record_tables`), by SQL over the parts. A drug
        value may repeat within a case (two rows of one drug): every query of the engine counts
        distinct records, so the rows are not made distinct (a third of this step's time)."""
        names = {"caseid": "safetyreportid", "caseversion": "safetyreportversion", "occr_country": "occurcountry",
                 "qualification": "primarysource.qualification", "reporter_country": "primarysource.reportercountry",
                 "sex": "patient.patientsex"}
        drug_names = {"drugname": "patient.drug.medicinalproduct", "characterization": "patient.drug.drugcharacterization",
                      "prod_ai": "patient.drug.activesubstance.activesubstancename", "name_match": "patient.drug.faers.match",
                      "ai_match": "patient.drug.faers.match"}
        parts = [_unpivot("part_cases", names),
                 _unpivot("part_cases", {"init_fda_dt": "receivedate", "fda_dt": "receiptdate"},
                          "regexp_matches(value, '^[0-9]{8}$')"),
                 "SELECT c.row_no, 'serious', CASE WHEN o.row_no IS NULL THEN '2' ELSE '1' END FROM part_cases c "
                 "LEFT JOIN (SELECT DISTINCT row_no FROM part_outcomes) o USING (row_no)",
                 *(f"SELECT DISTINCT row_no, '{name}', '1' FROM part_outcomes WHERE value IN ({_codes_of(name)})"
                   for name in dict.fromkeys(SERIOUSNESS.values())),
                 "SELECT row_no, 'patient.reaction.reactionmeddrapt', value FROM part_reactions",
                 "SELECT row_no, 'patient.drug.drugindication', value FROM part_indications",
                 _unpivot("part_drugs", drug_names)]
        return self.con.sql(" UNION ALL ".join(f"({p})" for p in parts)).to_arrow_table().cast(FIELDS_SCHEMA)


def _unpivot(table: str, columns: dict[str, str], condition: str = "value <> ''") -> str:
    """SQL of ``row_no, field, value``: the non-null values of ``table``'s columns as fields
    (``columns``: column -> field name; values are trimmed when read)."""
    slots = [f"s{i}" for i in range(len(columns))]  # a field may take the values of two columns
    renamed = ", ".join(f"{column} AS {slot}" for slot, column in zip(slots, columns))
    cases = " ".join(f"WHEN '{slot}' THEN '{name}'" for slot, name in zip(slots, columns.values()))
    return (f"SELECT row_no, CASE slot {cases} END AS field, value FROM (UNPIVOT (SELECT row_no, {renamed} FROM {table}) "
            f"ON {', '.join(slots)} INTO NAME slot VALUE value) WHERE {condition}")


def _codes_of(flag: str) -> str:
    """The outcome codes that set a seriousness flag, as a SQL list."""
    return ", ".join(repr(code) for code, name in SERIOUSNESS.items() if name == flag)


def case_record_sql(parts: Mapping[str, str], wanted: str) -> str:
    """SQL of ``row_no, record_json``: the openFDA-shaped record of each case whose ``row_no`` is in
    ``wanted``, from the parts (module docstring for the fields)."""
    flags = ", ".join(f"max(CASE WHEN value IN ({_codes_of(name)}) THEN '1' END) AS {name}"
                      for name in dict.fromkeys(SERIOUSNESS.values()))
    seriousness = ", ".join(f"'{name}': o.{name}" for name in dict.fromkeys(SERIOUSNESS.values()))
    return f"""
        WITH w AS (SELECT DISTINCT row_no FROM {wanted}),
        drugs AS (
            SELECT d.row_no, list_sort(list({{
                'medicinalproduct': d.drugname, 'drugcharacterization': d.characterization,
                'activesubstance': {{'activesubstancename': d.prod_ai}}, 'drugauthorizationnumb': d.nda_num,
                'drugadministrationroute': d.route, 'drugindication': i.indications, 'drugstartdate': t.start_dt,
                'drugenddate': t.end_dt,
                'faers': {{'role_cod': d.role, 'drug_seq': d.drug_seq,
                          'match': CASE WHEN d.ai_match IS NULL THEN [d.name_match] ELSE [d.name_match, d.ai_match] END}}
            }})) AS drug
            FROM {parts['drugs']} d JOIN w USING (row_no)
            LEFT JOIN (SELECT row_no, drug_seq, string_agg(DISTINCT value, '; ' ORDER BY value) AS indications
                       FROM {parts['indications']} JOIN w USING (row_no) GROUP BY ALL) i USING (row_no, drug_seq)
            LEFT JOIN (SELECT row_no, drug_seq, min(start_dt) AS start_dt, max(end_dt) AS end_dt
                       FROM {parts['therapies']} JOIN w USING (row_no) GROUP BY ALL) t USING (row_no, drug_seq)
            GROUP BY d.row_no),
        reactions AS (SELECT r.row_no, list(r.value ORDER BY r.value) AS pts FROM {parts['reactions']} r JOIN w USING (row_no)
                      GROUP BY r.row_no),
        outcomes AS (SELECT o.row_no, {flags}, list(o.value ORDER BY o.value) AS codes FROM {parts['outcomes']} o
                     JOIN w USING (row_no) GROUP BY o.row_no),
        sources AS (SELECT s.row_no, list(s.value ORDER BY s.value) AS codes FROM {parts['report_sources']} s
                    JOIN w USING (row_no) GROUP BY s.row_no)
        SELECT c.row_no, to_json({{
            'safetyreportid': c.caseid, 'safetyreportversion': c.caseversion,
            'receivedate': c.init_fda_dt, 'receiptdate': c.fda_dt,
            'serious': CASE WHEN o.row_no IS NULL THEN '2' ELSE '1' END, {seriousness},
            'occurcountry': c.occr_country,
            'primarysource': {{'qualification': c.qualification, 'reportercountry': c.reporter_country}},
            'patient': {{'patientsex': c.sex, 'patientonsetage': c.age, 'patientonsetageunit': c.age_cod,
                        'reaction': list_transform(coalesce(r.pts, []), lambda p: {{'reactionmeddrapt': p}}),
                        'drug': coalesce(g.drug, [])}},
            'faers': {{'primaryid': c.primaryid, 'caseid': c.caseid, 'quarter': c.quarter,
                      'report_type': c.rept_cod, 'outcome_codes': o.codes, 'report_sources': s.codes}}
        }})::VARCHAR AS record_json
        FROM {parts['cases']} c JOIN w USING (row_no) LEFT JOIN outcomes o USING (row_no)
        LEFT JOIN reactions r USING (row_no) LEFT JOIN drugs g USING (row_no) LEFT JOIN sources s USING (row_no)"""
