"""Regression tests for the hardening issue (items 6, 7, 8, 9, 13, 15 and the --help imports),
each written from the reproduction in the issue."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

import genolake
from genolake import cli
from genolake.lake import errors as E
from genolake.lake.errors import GenolakeError, LakeStateError, NotFoundError

from conftest import VCF_DIR

ROOT = Path(__file__).resolve().parents[1]
SAMPLE_VCF = VCF_DIR / "sample.vcf"


def run_cli(capsys, *argv):
    code = cli.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


# 6. names: `$` matched before a trailing newline
@pytest.mark.parametrize("option,value", [("--dataset", "ok\n"), ("--tenant", "t1\n")])
def test_names_with_trailing_newline_are_refused(tmp_path, capsys, option, value):
    root = tmp_path / "lake"
    genolake.init_lake(root)
    argv = ["--root", root, "ingest", "vcf", SAMPLE_VCF, "--dataset", value if option == "--dataset" else "ok"]
    if option == "--tenant":
        argv += ["--tenant", value]
    code, out, err = run_cli(capsys, *argv)
    assert code == 2, err
    assert "is not allowed" in err and len(err.strip().splitlines()) == 1
    assert genolake.open_lake(root).catalog.runs() == []


def test_check_name_is_a_full_match():
    from genolake.lake.config import check_name

    for bad in ["ok\n", "t1\n", "a\nb", "", "-x", "x" * 65]:
        with pytest.raises(genolake.ConfigError):
            check_name("dataset", bad)
    assert check_name("dataset", "1kg.v2_x-y") == "1kg.v2_x-y"


# 7. resource bounds: deep nesting, statement size
def test_deeply_nested_sql_is_a_query_error(tmp_path, capsys):
    root = tmp_path / "lake"
    genolake.init_lake(root)
    code, out, err = run_cli(capsys, "--root", root, "sql", "SELECT " + "(" * 600 + "1" + ")" * 600)
    assert code == 6, err
    assert "internal error" not in err and "nested too deeply" in err


def test_oversized_sql_is_refused_before_parsing():
    from genolake.queries.sql import MAX_SQL_CHARS, check_read_only

    with pytest.raises(genolake.QueryError, match="limit"):
        check_read_only("SELECT 1" + " " * MAX_SQL_CHARS)


# 8. catalog garbage, empty catalog, read-only lake, a root that cannot be a folder
def _one_error_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert "internal error" not in lines[0] and "\x1b" not in lines[0]
    return lines[0]


@pytest.mark.parametrize("content", [b"garbage\n", b""], ids=["garbage", "empty"])
def test_unusable_catalog_is_a_lake_state_error(tmp_path, capsys, content):
    root = tmp_path / "lake"
    root.mkdir()
    (root / "catalog.sqlite").write_bytes(content)
    for argv in (["catalog", "list"], ["catalog", "runs"], ["sql", "SELECT 1"]):
        code, out, err = run_cli(capsys, "--root", root, *argv)
        assert code == LakeStateError.exit_code, err
        line = _one_error_line(err)
        assert str(root / "catalog.sqlite") in line and "init" in line


def test_read_only_lake_is_a_lake_state_error(tmp_path, capsys, monkeypatch):
    root = tmp_path / "lake"
    lake = genolake.init_lake(root)
    real_open = open

    def deny(path, *a, **k):  # tests run as root, where chmod does not stop writes
        if str(path).endswith(".ingest.lock"):
            raise PermissionError(13, "Permission denied", str(path))
        return real_open(path, *a, **k)

    monkeypatch.setattr("builtins.open", deny)
    with pytest.raises(LakeStateError, match=r"\.ingest\.lock.*read-only"):
        with lake.ingest_lock():
            pass


def test_root_under_a_file_is_a_lake_state_error(capsys):
    code, out, err = run_cli(capsys, "--root", "/dev/null/lake", "init")
    assert code == LakeStateError.exit_code, err
    line = _one_error_line(err)
    assert "/dev/null/lake" in line and "--root" in line


def test_ansi_colour_codes_are_stripped():
    assert E.one_line("\x1b[31mError\x1b[0m: bad\n  thing") == "Error: bad thing"


# 9. Lake.read with a wrong name, version or column
@pytest.fixture(scope="module")
def small_lake(tmp_path_factory):
    lake = genolake.init_lake(tmp_path_factory.mktemp("small") / "lake")
    genolake.ingest_vcf(lake, SAMPLE_VCF, dataset="d1", progress=False)
    return lake


@pytest.mark.parametrize("kwargs,needle", [
    (dict(name="variant"), "tables are: samples, variants"),
    (dict(name="variants", version=7), "versions: 0 to 0"),
    (dict(name="variants", columns=["nope"]), "its columns are: dataset, contig, pos"),
])
def test_lake_read_names_the_valid_choices(small_lake, kwargs, needle):
    name = kwargs.pop("name")
    with pytest.raises(NotFoundError) as info:
        small_lake.read(name, **kwargs)
    assert isinstance(info.value, GenolakeError) and needle in str(info.value)
    assert len(str(info.value).splitlines()) == 1


# 13. one exit-code table: in code, in --help, in the README
def test_exit_codes_one_table_in_help_and_readme(capsys):
    code, out, err = run_cli(capsys, "--help")
    assert code == 0
    for status, meaning in E.EXIT_CODES.items():
        assert re.search(rf"^\s+{status}\s+{re.escape(meaning)}$", out, re.M), (status, out)
    readme = (ROOT / "README.md").read_text()
    rows = dict(re.findall(r"^\| (\d+) \| (.+?) \|$", readme, re.M))
    assert {int(k): v for k, v in rows.items()} == E.EXIT_CODES
    classes = [cls for cls in _subclasses(GenolakeError)] + [GenolakeError]
    assert {cls.exit_code for cls in classes} <= set(E.EXIT_CODES)


def _subclasses(cls):
    for sub in cls.__subclasses__():
        yield sub
        yield from _subclasses(sub)


def test_not_found_and_malformed_exit_differently(small_lake, capsys):
    code, _, err = run_cli(capsys, "--root", small_lake.root, "query", "af", "--rsid", "rs999999999")
    assert code == 4, err
    code, _, err = run_cli(capsys, "--root", small_lake.root, "query", "af", "--region", "22:abc-def")
    assert code == 6, err


# 15. smaller items
def test_version(capsys):
    code, out, err = run_cli(capsys, "--version")
    assert code == 0 and out.strip() == f"genolake {genolake.__version__}"


def test_ingest_summary_is_words(tmp_path, capsys):
    root = tmp_path / "lake"
    genolake.init_lake(root)
    code, out, err = run_cli(capsys, "--root", root, "ingest", "vcf", SAMPLE_VCF, "--dataset", "d1")
    assert code == 0, err
    assert "{" not in out and "=" not in out, out
    assert re.search(r"rows: [\d,]+ records, [\d,]+ variants", out), out


def test_lake_repr(small_lake):
    assert repr(small_lake) == f"Lake({str(small_lake.root)!r}, tenant='default')"


# `genolake --help` imports no heavy module
HEAVY = ["duckdb", "deltalake", "pyarrow.dataset", "cyvcf2", "pysam", "msprime", "matplotlib", "genolake.benchmarks",
         "sqlglot", "stdpopsim"]


def test_help_imports_no_heavy_module():
    code = ("import sys\nfrom genolake import cli\nrc = cli.main(['--help'])\n"
            f"heavy = [m for m in {HEAVY!r} if m in sys.modules]\nprint('HEAVY', heavy)\nsys.exit(rc)")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    assert "HEAVY []" in proc.stdout, proc.stdout.splitlines()[-1]


# 7. `genolake sql` streams: the table output reads the first rows, not the whole result
def test_sql_streams_to_the_limit(tmp_path, capsys, monkeypatch):
    from genolake.queries.engines.duckdb_engine import DuckDBEngine

    root = tmp_path / "lake"
    genolake.init_lake(root)

    def whole(self, *a, **k):
        raise AssertionError("the whole result was materialised")

    monkeypatch.setattr(DuckDBEngine, "sql", whole)
    code, out, err = run_cli(capsys, "--root", root, "sql", "SELECT range AS i FROM range(60000000)")
    assert code == 0, err
    lines = out.strip().splitlines()
    assert lines[2].strip() == "0" and lines[51].strip() == "49" and "the first 50 rows shown" in lines[-1]
    code, out, err = run_cli(capsys, "--root", root, "sql", "SELECT range AS i FROM range(60000000)",
                             "--format", "csv", "--limit", "3")
    assert code == 0 and out.split() == ["i", "0", "1", "2"], err


def test_malformed_variants_are_refused_before_the_engine(tmp_path, capsys, monkeypatch):
    import genolake.queries.engines as engines

    def no_engine(*a, **k):
        raise AssertionError("the engine was started for a malformed request")

    monkeypatch.setattr(engines, "connect", no_engine)
    root = tmp_path / "nolake"  # no lake: only the validation can answer
    for argv in (["query", "af", "--rsid", "rsX1"], ["query", "af", "--cpra", "22-abc-A"],
                 ["query", "carriers", "22-abc-A"], ["query", "carriers", "rs12x"]):
        code, out, err = run_cli(capsys, "--root", root, *argv)
        assert code == 6, (argv, err)
        assert "no lake" not in err and ("rsID" in err or "CPRA" in err), err


def test_listings_take_format_json_and_runs_fit_100_columns(tmp_path, capsys):
    import json

    root = tmp_path / "lake"
    genolake.init_lake(root)
    run_cli(capsys, "--root", root, "ingest", "vcf", SAMPLE_VCF, "--dataset", "d1")
    run_cli(capsys, "--root", root, "ingest", "vcf", VCF_DIR / "test-genotypes.vcf", "--dataset", "d2")
    for argv in (["catalog", "list"], ["catalog", "runs"], ["quarantine", "list"]):
        code, out, err = run_cli(capsys, "--root", root, *argv, "--format", "json")
        assert code == 0, err
        assert isinstance(json.loads(out), list) and json.loads(out)
    code, out, err = run_cli(capsys, "--root", root, "catalog", "runs")
    assert code == 0 and max(len(line) for line in out.splitlines()) <= 100, out


def test_engine_repr_and_docstring(small_lake):
    engine = genolake.connect(small_lake)
    try:
        text = repr(engine)
        assert text.startswith("<DuckDBEngine ") and "variants@v0" in text and str(small_lake.root) in text
        assert "genolake.connect" in type(engine).__mro__[1].__doc__
    finally:
        engine.close()


def test_af_is_formatted_one_way_everywhere():
    """Item 15: the quickstart printed AF as %.4f, tables as %#.4g with 2.000e-05 for small ones.
    One function now: four significant digits, never scientific, in tables, the report and the
    quickstart."""
    import pyarrow as pa

    from genolake import query_cli, quickstart
    from genolake.queries import report

    assert [query_cli.format_float(v) for v in (0.0125, 1 / 3, 1.0, 2e-5, 1 / 5008)] == \
        ["0.01250", "0.3333", "1.000", "0.00002000", "0.0001997"]
    text = query_cli.render_table(pa.table({"af": [2e-5, 0.5]}))
    assert "0.00002000" in text and "0.5000" in text and "e-05" not in text
    assert report.format_float is query_cli.format_float is quickstart.format_float
