"""`genolake query ...` and `genolake sql ...`: every command through cli.main, its output parsed
and compared with the Python API (whose exactness the analyses' own tests check); bad requests are
one stderr line and a non-zero status; SQL that writes is refused and changes nothing."""

from __future__ import annotations

import csv
import io
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pytest

import genolake
from genolake import cli
from genolake.query_cli import render_table, write_table

DATASET = "sim"


@pytest.fixture(scope="module")
def qlake(tmp_path_factory):
    """A tiny simulated cohort ingested with its panel and ClinVar."""
    tmp = tmp_path_factory.mktemp("qcli")
    cohort = genolake.simulate(tmp / "sim", n_samples=40, length_bp=300_000, seed=5, progress=False)
    lake = genolake.init_lake(tmp / "lake")
    genolake.ingest_vcf(lake, cohort.vcf, DATASET, panel=cohort.panel, progress=False)
    genolake.ingest_clinvar(lake, cohort.clinvar, progress=False)
    return lake


@pytest.fixture(scope="module")
def engine(qlake):
    e = genolake.connect(qlake)
    yield e
    e.close()


@pytest.fixture(scope="module")
def picks(engine):
    """Names the tests ask about, read from the lake."""
    rs = engine.sql("SELECT rsid, cpra FROM variants WHERE rsid IS NOT NULL AND af BETWEEN 0.1 AND 0.9 "
                    "ORDER BY pos LIMIT 3").to_pylist()
    gene = engine.sql("SELECT gene_symbol FROM clinvar WHERE assembly = 'GRCh37' AND gene_symbol NOT LIKE '%;%' "
                      "GROUP BY 1 ORDER BY count(*) DESC, 1 LIMIT 1")["gene_symbol"][0].as_py()
    sample = engine.sql("SELECT sample_id FROM samples ORDER BY sample_id LIMIT 1")["sample_id"][0].as_py()
    return {"rsids": [r["rsid"] for r in rs], "cpras": [r["cpra"] for r in rs], "gene": gene, "sample": sample}


def run(capsys, root, *args):
    rc = cli.main(["--root", str(root), *args])
    out, err = capsys.readouterr()
    return rc, out, err


_PROVENANCE_LINE = re.compile(r"genolake: duckdb @ snapshot \d+ of file:///\S+ \((\w+ v\d+(, \w+ v\d+)*|no tables)\)\n")


def warnings_of(err: str) -> str:
    """stderr without its one provenance line (which must be the last line)."""
    head, _, last = err[:-1].rpartition("\n") if err.endswith("\n") else ("", "", err)
    assert _PROVENANCE_LINE.fullmatch(last + "\n"), err
    return head + "\n" if head else ""


def ok(capsys, root, *args) -> str:
    """stdout of a command that must succeed; stderr is only the provenance line (table, csv) or
    nothing (json: the provenance is in the document)."""
    rc, out, err = run(capsys, root, *args)
    assert rc == 0, err
    if "json" in args:
        assert err == ""
    else:
        assert _PROVENANCE_LINE.fullmatch(err), err
    return out


# ---------------------------------------------------------------------------------------------
# comparing printed output with the API's table


def _from_csv(text: str, schema: pa.Schema) -> list[dict]:
    reader = csv.DictReader(io.StringIO(text))
    assert reader.fieldnames == schema.names
    rows = []
    for raw in reader:
        row = {}
        for f in schema:
            cell = raw[f.name]
            if cell == "":
                row[f.name] = None if not pa.types.is_string(f.type) else None
            elif pa.types.is_integer(f.type):
                row[f.name] = int(cell)
            elif pa.types.is_floating(f.type):
                row[f.name] = float(cell)
            elif pa.types.is_boolean(f.type):
                row[f.name] = {"true": True, "false": False}[cell]
            else:
                row[f.name] = cell
        rows.append(row)
    return rows


def _expected(table: pa.Table) -> list[dict]:
    """The API's rows as CSV can carry them: empty strings read back as nulls."""
    return [{k: (None if v == "" else v) for k, v in r.items()} for r in table.to_pylist()]


def assert_csv_equals(text: str, table: pa.Table) -> None:
    assert table.num_rows > 0, "a comparison over no rows proves nothing"
    assert _from_csv(text, table.schema) == _expected(table)


def assert_json_equals(text: str, table: pa.Table) -> None:
    """The JSON document is {"provenance": the API table's provenance, "rows": its rows}."""
    assert table.num_rows > 0, "a comparison over no rows proves nothing"
    got = json.loads(text)
    assert isinstance(got, dict) and set(got) == {"provenance", "rows"}
    assert got["rows"] == table.to_pylist()
    assert got["provenance"] == json.loads(table.schema.metadata[b"genolake.provenance"])


# ---------------------------------------------------------------------------------------------
# the commands


def test_af_rsids_csv_and_json_equal_the_api(capsys, qlake, engine, picks):
    api = genolake.allele_frequency(engine, rsids=picks["rsids"])
    assert api.num_rows == len(picks["rsids"])
    assert_csv_equals(ok(capsys, qlake.root, "query", "af", "--rsid", ",".join(picks["rsids"]), "--format", "csv"), api)
    # repeated --rsid is the same request as a comma list
    args = [x for r in picks["rsids"] for x in ("--rsid", r)]
    assert_json_equals(ok(capsys, qlake.root, "query", "af", *args, "--format", "json"), api)


def test_af_table_is_aligned_with_a_footer(capsys, qlake, engine, picks):
    api = genolake.allele_frequency(engine, rsids=picks["rsids"], cohort="super_pop=EAS")
    out = ok(capsys, qlake.root, "query", "af", "--rsid", ",".join(picks["rsids"]), "--cohort", "super_pop=EAS")
    lines = out.rstrip("\n").split("\n")
    assert lines[0].split() == api.column_names
    assert set(lines[1]) <= {"-", " "}
    assert lines[-1] == f"({api.num_rows} rows)"
    body = lines[2:-1]
    assert len(body) == api.num_rows
    header = lines[0]
    af_end = header.index(" af") + len(" af")  # numbers are right-aligned under their header
    for line, row in zip(body, api.to_pylist()):
        cell = line[:af_end].split()[-1]
        assert cell == ("." if row["af"] is None else ("0" if row["af"] == 0 else f"{row['af']:#.4g}"))
        assert float(cell if cell != "." else "nan") == pytest.approx(row["af"] or float("nan"), rel=1e-3, nan_ok=True)
        assert line.split()[header.split().index("ac")] == str(row["ac"])


def test_af_cpra_gene_and_region(capsys, qlake, engine, picks):
    api = genolake.allele_frequency(engine, cpras=picks["cpras"], cohort="sex=female")
    assert_csv_equals(ok(capsys, qlake.root, "query", "af", "--cpra", ",".join(picks["cpras"]), "--cohort",
                         "sex=female", "--format", "csv"), api)
    api = genolake.allele_frequency(engine, gene=picks["gene"], dataset=DATASET)
    assert_json_equals(ok(capsys, qlake.root, "query", "af", "--gene", picks["gene"], "--dataset", DATASET,
                          "--format", "json"), api)
    api = genolake.allele_frequency(engine, region="22:1-60000", cohort="super_pop=AFR")
    assert api.num_rows > 50
    assert_csv_equals(ok(capsys, qlake.root, "query", "af", "--region", "22:1-60000", "--cohort", "super_pop=AFR",
                         "--format", "csv"), api)  # csv: every row, no truncation
    table = ok(capsys, qlake.root, "query", "af", "--region", "22:1-60000", "--cohort", "super_pop=AFR")
    lines = table.rstrip("\n").split("\n")
    assert len(lines) == 2 + 50 + 1 and lines[-1].startswith(f"({api.num_rows:,} rows; the first 50 shown")
    full = ok(capsys, qlake.root, "query", "af", "--region", "22:1-60000", "--cohort", "super_pop=AFR", "--limit", "0")
    assert len(full.rstrip("\n").split("\n")) == 2 + api.num_rows + 1
    three = ok(capsys, qlake.root, "query", "af", "--region", "22:1-60000", "--format", "json", "--limit", "3")
    assert len(json.loads(three)["rows"]) == 3


@pytest.mark.parametrize("by,column", [("super_pop", "super_population"), ("pop", "population"), ("sex", "sex")])
def test_af_by_group_equals_population_frequencies(capsys, qlake, engine, picks, by, column):
    api = genolake.population_frequencies(engine, rsids=picks["rsids"], by=column, cohort="sex=female")
    out = ok(capsys, qlake.root, "query", "af", "--rsid", ",".join(picks["rsids"]), "--by", by, "--cohort",
             "sex=female", "--format", "json")
    assert_json_equals(out, api)
    assert any(c.endswith("_af") for c in json.loads(out)["rows"][0])


def test_carriers(capsys, qlake, engine, picks):
    api = genolake.carriers(engine, picks["rsids"][0])
    assert_json_equals(ok(capsys, qlake.root, "query", "carriers", picks["rsids"][0], "--format", "json"), api)
    api = genolake.carriers(engine, picks["cpras"][1], cohort="super_pop=EUR", include_missing=True)
    assert_csv_equals(ok(capsys, qlake.root, "query", "carriers", picks["cpras"][1], "--cohort", "super_pop=EUR",
                         "--include-missing", "--format", "csv"), api)


def test_sample(capsys, qlake, engine, picks):
    api = genolake.sample_variants(engine, picks["sample"], region="22:1-100000")
    assert_csv_equals(ok(capsys, qlake.root, "query", "sample", picks["sample"], "--region", "22:1-100000",
                         "--format", "csv"), api)
    api = genolake.sample_variants(engine, picks["sample"])
    out = ok(capsys, qlake.root, "query", "sample", picks["sample"], "--format", "json")
    assert_json_equals(out, api)


def test_annotate(capsys, qlake, engine, picks):
    api = genolake.annotate(engine, gene=picks["gene"])
    assert_json_equals(ok(capsys, qlake.root, "query", "annotate", "--gene", picks["gene"], "--format", "json"), api)
    api = genolake.annotate(engine, region="22:1-80000", assembly="GRCh38")
    rc, out, err = run(capsys, qlake.root, "query", "annotate", "--region", "22:1-80000", "--assembly", "GRCh38",
                       "--format", "csv")
    err = warnings_of(err)
    assert rc == 0 and err.count("\n") == 1 and "sim is GRCh37" in err  # the simulated callset is GRCh37
    assert_csv_equals(out, api)


def test_drug_response(capsys, qlake, engine):
    api = genolake.drug_response_report(engine, top=5)
    assert_json_equals(ok(capsys, qlake.root, "query", "drug-response", "--top", "5", "--format", "json"), api)
    api = genolake.drug_response_report(engine, cohort="super_pop=EAS")
    assert_csv_equals(ok(capsys, qlake.root, "query", "drug-response", "--cohort", "super_pop=EAS", "--format",
                         "csv"), api)
    assert genolake.drug_response_report(engine).num_rows > 1
    table = ok(capsys, qlake.root, "query", "drug-response", "--top", "1")
    assert table.rstrip().endswith("(1 row)") and len(table.rstrip().split("\n")) == 5
    assert table.startswith("ranked by: ")


def test_sql_formats(capsys, qlake, engine):
    q = "SELECT cpra, rsid, ac, an, af FROM variants WHERE pos < 20000 ORDER BY pos"
    api = genolake.sql(engine, q)  # run_sql: engine.sql's rows, with their provenance (variants)
    assert any(r is None for r in api["rsid"].to_pylist()), "the test wants a null to show"
    assert_csv_equals(ok(capsys, qlake.root, "sql", q, "--format", "csv"), api)
    assert_json_equals(ok(capsys, qlake.root, "sql", q, "--format", "json"), api)
    text = ok(capsys, qlake.root, "sql", q, "--limit", "0")
    rows = text.rstrip("\n").split("\n")[2:-1]
    assert [r.split()[1] == "." for r in rows] == [v is None for v in api["rsid"].to_pylist()]
    assert json.loads(ok(capsys, qlake.root, "sql", "SELECT 1 AS x WHERE FALSE", "--format", "json"))["rows"] == []
    empty = ok(capsys, qlake.root, "sql", "SELECT 1 AS x WHERE FALSE")
    assert empty.rstrip().endswith("(0 rows)")
    with_cte = ok(capsys, qlake.root, "sql", "WITH s AS (SELECT * FROM samples) SELECT count(*) AS n FROM s",
                  "--format", "csv")
    assert with_cte.split() == ["n", "40"]


# ---------------------------------------------------------------------------------------------
# bad requests: one line, non-zero, no traceback


@pytest.fixture(scope="module")
def bad_requests(picks):
    return {
        "unknown rsID": (["query", "af", "--rsid", "rs999999999", "--strict"], 4),
        "unknown rsID (carriers)": (["query", "carriers", "rs999999999"], 4),
        "not an rsID": (["query", "af", "--rsid", "rsX12"], 6),
        "malformed region": (["query", "af", "--region", "22:abc-def"], 6),
        "region backwards": (["query", "annotate", "--region", "22:500-100"], 6),
        "malformed CPRA": (["query", "carriers", "22-abc-A"], 6),
        "unknown gene": (["query", "af", "--gene", "NOSUCHGENE1"], 4),
        "unknown gene (annotate)": (["query", "annotate", "--gene", "NOSUCHGENE1"], 4),
        "empty cohort": (["query", "af", "--rsid", picks["rsids"][0], "--cohort", "pattern=ZZ*"], 6),
        "unknown population": (["query", "af", "--rsid", picks["rsids"][0], "--cohort", "pop=XXX"], 4),
        "unknown super-population": (["query", "drug-response", "--cohort", "super_pop=MARS"], 4),
        "malformed cohort": (["query", "af", "--rsid", picks["rsids"][0], "--cohort", "nonsense"], 6),
        "unknown sample": (["query", "sample", "NOBODY"], 4),
        "unknown dataset": (["query", "af", "--rsid", picks["rsids"][0], "--dataset", "nope"], 4),
        "SQL that writes": (["sql", "DELETE FROM variants"], 6),
        "SQL that does not parse": (["sql", "SELEC 1 FROM"], 6),
        "SQL on a missing table": (["sql", "SELECT * FROM nothing_here"], 6),
        "no selector": (["query", "af"], 2),
        "two selectors": (["query", "af", "--rsid", "rs1", "--gene", "TP53"], 2),
        "bad --by": (["query", "af", "--rsid", picks["rsids"][0], "--by", "planet"], 2),
        "bad --format": (["sql", "SELECT 1", "--format", "xml"], 2),
        "bad --top": (["query", "drug-response", "--top", "0"], 2),
        "unknown analysis": (["query", "frobnicate"], 2),
    }


BAD = ["unknown rsID", "unknown rsID (carriers)", "not an rsID", "malformed region", "region backwards",
       "malformed CPRA", "unknown gene", "unknown gene (annotate)", "empty cohort", "unknown population",
       "unknown super-population", "malformed cohort", "unknown sample", "unknown dataset", "SQL that writes",
       "SQL that does not parse", "SQL on a missing table", "no selector", "two selectors", "bad --by",
       "bad --format", "bad --top", "unknown analysis"]


@pytest.mark.parametrize("case", BAD)
def test_bad_request_is_one_line(capsys, qlake, bad_requests, case):
    args, status = bad_requests[case]
    rc, out, err = run(capsys, qlake.root, *args)
    assert rc == status, err
    assert out == ""
    assert err.endswith("\n") and err.count("\n") == 1, err
    assert err.startswith("genolake: error: ") and "Traceback" not in err


def test_no_lake_at_root(capsys, tmp_path, picks):
    for args in (["query", "af", "--rsid", picks["rsids"][0]], ["sql", "SELECT 1"], ["query", "drug-response"]):
        rc, out, err = run(capsys, tmp_path / "nowhere", *args)
        assert rc == 5 and out == ""
        assert err.count("\n") == 1 and "no lake at" in err and "Traceback" not in err


def _lake_files(root: Path) -> dict:
    return {str(p.relative_to(root)): (p.stat().st_size, p.stat().st_mtime_ns)
            for p in sorted(root.rglob("*")) if p.is_file()}


WRITES = [
    "INSERT INTO samples (dataset, sample_id, sample_index) VALUES ('x', 'y', 0)",
    "CREATE TABLE t AS SELECT * FROM variants",
    "CREATE VIEW variants2 AS SELECT 1",
    "COPY (SELECT * FROM variants) TO '{out}/copy.csv'",
    "COPY variants TO '{out}/copy.parquet' (FORMAT parquet)",
    "DROP VIEW variants",
    "ATTACH '{out}/other.duckdb' AS other",
    "UPDATE samples SET sex = 'male'",
    "DELETE FROM genotypes",
    "SELECT 1; DROP VIEW samples",
    "WITH x AS (SELECT 1) INSERT INTO samples SELECT * FROM samples",
    "SET enable_external_access = true",
    "PRAGMA disable_checkpoint_on_shutdown",
    "EXPORT DATABASE '{out}/dump'",
    "INSTALL httpfs",
]


@pytest.mark.parametrize("statement", WRITES)
def test_sql_that_writes_is_refused_and_changes_nothing(capsys, qlake, tmp_path, statement):
    before = _lake_files(qlake.root)
    snapshot = qlake.catalog.snapshot()
    rc, out, err = run(capsys, qlake.root, "sql", statement.format(out=tmp_path))
    assert rc == 6, err
    assert out == "" and err.count("\n") == 1 and "Traceback" not in err
    assert err.startswith("genolake: error: ")
    assert "refused" in err or "could not parse" in err
    assert _lake_files(qlake.root) == before
    assert qlake.catalog.snapshot() == snapshot
    assert list(tmp_path.iterdir()) == []
    # and the lake still answers
    assert ok(capsys, qlake.root, "sql", "SELECT count(*) AS n FROM samples", "--format", "csv").split() == ["n", "40"]


def test_run_sql_refuses_writes_through_the_python_api(engine):
    with pytest.raises(genolake.QueryError, match="refused"):
        genolake.sql(engine, "DROP VIEW variants")
    assert genolake.sql(engine, "SELECT count(*) AS n FROM samples")["n"][0].as_py() == 40


def test_a_real_process(qlake, engine, picks):
    env = {**os.environ, "GENOLAKE_ROOT": ""}
    proc = subprocess.run([sys.executable, "-m", "genolake", "--root", str(qlake.root), "query", "af", "--rsid",
                           ",".join(picks["rsids"]), "--by", "super_pop", "--format", "csv"],
                          capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 0, proc.stderr
    api = genolake.population_frequencies(engine, rsids=picks["rsids"], by="super_population")
    assert_csv_equals(proc.stdout, api)
    bad = subprocess.run([sys.executable, "-m", "genolake", "--root", str(qlake.root), "query", "af", "--rsid",
                          "rs999999999", "--strict"], capture_output=True, text=True, env=env, timeout=120)
    assert bad.returncode == 4 and bad.stdout == "" and bad.stderr.count("\n") == 1
    assert "rs999999999" in bad.stderr and "Traceback" not in bad.stderr


# ---------------------------------------------------------------------------------------------
# the facade and the formatter


def test_facade_is_lazy_and_complete():
    code = ("import sys, genolake; assert 'duckdb' not in sys.modules and 'sqlglot' not in sys.modules; "
            "import genolake.queries as q; assert 'duckdb' not in sys.modules; "
            "from genolake.queries.analyses import frequencies, calls, annotation; "
            "assert genolake.allele_frequency is frequencies.allele_frequency is q.allele_frequency; "
            "assert genolake.population_frequencies is frequencies.population_frequencies; "
            "assert genolake.carriers is calls.carriers and genolake.sample_variants is calls.sample_variants; "
            "assert genolake.annotate is annotation.annotate; "
            "assert genolake.drug_response_report is annotation.drug_response_report; "
            "assert genolake.sql is q.run_sql; from genolake.queries.cohorts import Cohort; "
            "assert genolake.Cohort is Cohort is q.Cohort; assert callable(genolake.connect); "
            "assert all(hasattr(genolake, n) for n in genolake.__all__); print('ok')")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and proc.stdout.strip() == "ok", proc.stderr


def test_formatter_nulls_numbers_and_truncation():
    t = pa.table({"name": ["a", None, "ccc"], "n": pa.array([1, None, 300], pa.int64()),
                  "af": [0.0125, None, 1 / 3], "flag": [True, None, False]})
    text = render_table(t)
    lines = text.split("\n")
    assert lines[:5] == ["name    n       af  flag",
                         "----  ---  -------  -----",
                         "a       1  0.01250  true",
                         ".       .        .  .",
                         "ccc   300   0.3333  false"]
    assert lines[-1] == "(3 rows)"
    assert render_table(t, limit=2).split("\n")[-1].startswith("(3 rows; the first 2 shown")
    buf = io.StringIO()
    write_table(t, "csv", out=buf)
    assert buf.getvalue() == "name,n,af,flag\na,1,0.0125,true\n,,,\nccc,300,0.3333333333333333,false\n"
    buf = io.StringIO()
    write_table(t, "json", out=buf)
    assert json.loads(buf.getvalue()) == t.to_pylist()
    buf = io.StringIO()
    write_table(t, "table", limit=0, out=buf)
    assert buf.getvalue().rstrip().endswith("(3 rows)")


def test_af_with_an_unknown_rsid_answers_the_found_ones(capsys, qlake, engine, picks):
    """Issue item 11: the found rsIDs are printed, the unknown one named in one stderr line;
    --strict keeps the old behaviour (an error, no rows; exit 4: not found)."""
    ids = ",".join(picks["rsids"][:2] + ["rs999999999"])
    rc, out, err = run(capsys, qlake.root, "query", "af", "--rsid", ids, "--format", "csv")
    assert rc == 0
    err = warnings_of(err)
    assert err.count("\n") == 1 and "rs999999999" in err and "not found" in err
    rows = list(csv.DictReader(io.StringIO(out)))
    assert sorted({r["rsid"] for r in rows}) == sorted(picks["rsids"][:2])
    rc, out, err = run(capsys, qlake.root, "query", "af", "--rsid", ids, "--strict")
    assert rc == 4 and out == "" and "rs999999999" in err and err.count("\n") == 1
    rc, out, err = run(capsys, qlake.root, "query", "af", "--rsid", picks["rsids"][0], "--by", "super_pop")
    assert rc == 0 and warnings_of(err) == ""
