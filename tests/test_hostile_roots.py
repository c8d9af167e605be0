"""Lake roots a user may well have (a space, `#`, `%`, unicode, a quote) and one built to attack the
SQL sandbox (`','/etc/','`): init, ingest and queries work under each, and every `genolake sql`
escape attempt (writes, and reads of files outside curated/) is refused with the lake unchanged.

Paths reach DuckDB only as literals quoted by `queries.sql.lit`, and as local paths (not
URL-encoded URIs); the sandbox allows curated/ alone (DuckDB's temp directory is a private one)."""

from __future__ import annotations

import pytest
from lake_checks import SEED_VCF
from oracle import plain_counts
from test_query_cli import WRITES, _lake_files

import genolake
from genolake import cli

ROOTS = {
    "space": "my lake",
    "hash": "lake#1",
    "unicode": "lac-génomique-湖",
    "quote": "it's a lake",
    "sandbox widening": "x','/etc/','y",
    "all at once": "a b#c d'é',''",
}

# reads a sandboxed engine must refuse: files outside curated/, of the system, the lake and the cwd
READS = [
    "SELECT * FROM read_text('/etc/passwd')",
    "SELECT * FROM read_csv('/etc/passwd')",
    "SELECT * FROM glob('/etc/*')",
    "SELECT * FROM read_text('{root}/catalog.db')",
    "SELECT * FROM glob('{root}/*')",
    "SELECT * FROM glob('{root}/pre-curated/**')",
    "SELECT * FROM read_text('{outside}/secret.txt')",
    "SELECT * FROM read_text('.tmp/secret.txt')",
    "SELECT * FROM glob('.tmp/*')",
    "SELECT * FROM glob('{cwd}/.tmp/*')",
    "SELECT * FROM read_text('{cwd}/.tmp/secret.txt')",
]


def run(capsys, root, *args):
    rc = cli.main(["--root", str(root), *args])
    out, err = capsys.readouterr()
    return rc, out, err


@pytest.fixture(params=list(ROOTS), ids=list(ROOTS))
def hostile_lake(request, tmp_path, monkeypatch):
    base = tmp_path / ROOTS[request.param]
    base.mkdir(parents=True)
    cwd = tmp_path / "cwd"
    (cwd / ".tmp").mkdir(parents=True)
    (cwd / ".tmp" / "secret.txt").write_text("secret in the working directory\n")
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text("secret beside the lake\n")
    monkeypatch.chdir(cwd)
    lake = genolake.init_lake(base / "lake")
    genolake.ingest_vcf(lake, SEED_VCF, "d", workers=2, progress=False)
    # the paths as they go inside a SQL string literal (a quote doubled)
    where = {"root": lake.root, "cwd": cwd, "outside": outside, "out": outside}
    return lake, {k: str(v).replace("'", "''") for k, v in where.items()}


def _af(table) -> dict:
    return {(r["contig"], r["pos"], r["ref"], r["alt"]): (r["ac"], r["an"]) for r in table.to_pylist()}


def test_ingest_and_query_under_a_hostile_root(hostile_lake, capsys):
    lake, _ = hostile_lake
    want = plain_counts(SEED_VCF)
    with genolake.connect(lake) as engine:
        for source in ("variants", "genotypes", "cpra_index"):
            assert _af(genolake.allele_frequency(engine, dataset="d", _source=source)) == want, source
        sample = engine.sql("SELECT min(sample_id) AS s FROM samples")["s"][0].as_py()
        assert genolake.sample_variants(engine, sample).num_rows > 0
        cpra = engine.sql("SELECT cpra FROM variants WHERE ac > 0 ORDER BY pos LIMIT 1")["cpra"][0].as_py()
        assert genolake.carriers(engine, cpra).num_rows > 0
        n = engine.sql("SELECT count(*) AS n FROM genotypes")["n"][0].as_py()
        assert n == lake.read("genotypes").num_rows > 0
    rc, out, err = run(capsys, lake.root, "query", "af", "--cpra", cpra, "--format", "csv")
    assert rc == 0, err
    assert cpra in out
    # ingesting the same file again is a no-op, not a failure
    genolake.ingest_vcf(lake, SEED_VCF, "d", workers=1, progress=False)
    assert lake.read("genotypes").num_rows == n


@pytest.mark.parametrize("kind", ["writes", "reads"])
def test_escape_attempts_are_refused_under_a_hostile_root(hostile_lake, capsys, kind):
    lake, where = hostile_lake
    before = _lake_files(lake.root)
    snapshot = lake.catalog.snapshot()
    statements = WRITES if kind == "writes" else READS
    for statement in statements:
        sql = statement.format(**where)
        rc, out, err = run(capsys, lake.root, "sql", sql)
        assert rc == 6, (sql, out, err)
        assert out == "" and err.count("\n") == 1 and "Traceback" not in err, (sql, err)
        assert "secret in" not in err and "secret beside" not in err and "root:" not in err, (sql, err)
    assert _lake_files(lake.root) == before
    assert lake.catalog.snapshot() == snapshot
    # and the lake still answers
    rc, out, err = run(capsys, lake.root, "sql", "SELECT count(*) AS n FROM samples", "--format", "csv")
    assert rc == 0 and out.split() == ["n", str(len(genolake.open_lake(lake.root).read("samples")))], err


def test_regression_root_cannot_widen_the_sandbox(tmp_path, monkeypatch):
    """The reproduction: a root containing `','/etc/','` made the allowed directories
    ['<...>x', '/etc/', 'y/lake/curated/'], and read_text('/etc/passwd') then worked."""
    lake = genolake.init_lake(tmp_path / "x','" / "etc" / "','y" / "lake")
    genolake.ingest_vcf(lake, SEED_VCF, "d", workers=1, progress=False)
    with genolake.connect(lake) as engine:
        with pytest.raises(genolake.QueryError):
            engine.sql("SELECT * FROM read_text('/etc/passwd')")
        assert engine.sql("SELECT count(*) AS n FROM samples")["n"][0].as_py() > 0


def test_regression_duckdb_temp_directory_is_not_readable(tmp_path, monkeypatch):
    """The reproduction: DuckDB's default temp_directory is `<cwd>/.tmp`, which its sandbox
    allows, so `read_text('.tmp/...')` read a file outside curated/."""
    (tmp_path / "cwd" / ".tmp").mkdir(parents=True)
    (tmp_path / "cwd" / ".tmp" / "secret.txt").write_text("secret\n")
    monkeypatch.chdir(tmp_path / "cwd")
    lake = genolake.init_lake(tmp_path / "lake")
    genolake.ingest_vcf(lake, SEED_VCF, "d", workers=1, progress=False)
    with genolake.connect(lake) as engine:
        for sql in ("SELECT * FROM read_text('.tmp/secret.txt')", "SELECT * FROM glob('.tmp/*')"):
            with pytest.raises(genolake.QueryError):
                engine.sql(sql)


@pytest.mark.parametrize("name", ["space", "hash", "unicode", "quote"])
def test_regression_plain_roots_ingest_and_query(tmp_path, name):
    """The reproduction: file lists came URL-encoded (`my%20lake`), so under a root with a space,
    `#`, unicode or a quote every query failed or ingest stopped with exit 70."""
    lake = genolake.init_lake(tmp_path / ROOTS[name] / "lake")
    genolake.ingest_vcf(lake, SEED_VCF, "d", workers=1, progress=False)
    assert lake.read("genotypes").num_rows > 0
    with genolake.connect(lake) as engine:
        assert _af(genolake.allele_frequency(engine, dataset="d", _source="genotypes")) == plain_counts(SEED_VCF)


@pytest.mark.parametrize("root", ["lake%20x", "100%", "p%2F..%2Fq"])
def test_a_root_with_percent_is_refused_in_one_line(tmp_path, capsys, root):
    """deltalake 1.x decodes URL escapes in local table paths (once writing, twice reading), so
    such a lake could not be read back: refused up front, nothing created."""
    with pytest.raises(genolake.ConfigError, match="'%'"):
        genolake.init_lake(tmp_path / root / "lake")
    rc = cli.main(["--root", str(tmp_path / root / "lake"), "init"])
    out, err = capsys.readouterr()
    assert rc == 2 and err.count("\n") == 1 and "'%'" in err and "Traceback" not in err
    assert not (tmp_path / root / "lake").exists()


@pytest.mark.parametrize("root", ["lake[x]", "a]b", "[v6]"])
def test_a_root_with_brackets_is_refused_in_one_line(tmp_path, capsys, root):
    """deltalake 1.x reads a local table path as a URL whose brackets are an IPv6 host, and its
    writer panics: refused up front in one line, nothing created."""
    with pytest.raises(genolake.ConfigError, match="not supported"):
        genolake.init_lake(tmp_path / root / "lake")
    rc = cli.main(["--root", str(tmp_path / root / "lake"), "init"])
    out, err = capsys.readouterr()
    assert rc == 2 and err.count("\n") == 1 and "deltalake" in err and "Traceback" not in err
    assert not (tmp_path / root / "lake").exists()
