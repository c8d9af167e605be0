"""`genolake catalog list | show | runs | crawl | ddl` through the command-line entry point, on a
lake holding the five VCF tables and ClinVar. The DDL is parsed with sqlglot's Athena dialect."""

from __future__ import annotations

import json

import pytest
import sqlglot
from sqlglot import exp

import genolake
from genolake import cli
from genolake.lake.delta_io import table_version
from genolake.lake.schemas import ALL_TABLES

# the tables an ingest makes (`predictions` is written by `ml predict`)
INGESTED = [name for name in ALL_TABLES if name != "predictions"]
from conftest import CLINVAR_EXCERPT, VCF_DIR

VCF = VCF_DIR / "phase1_chr22_5samples.vcf.gz"  # has rsIDs, so all five VCF tables get rows


@pytest.fixture(scope="module")
def full_lake(tmp_path_factory):
    """Five VCF tables + clinvar, and runs of every status: succeeded, unchanged, quarantined."""
    root = tmp_path_factory.mktemp("catalog") / "lake"
    genolake.init_lake(root)
    genolake.ingest_vcf(root, VCF, "p1", workers=1)
    genolake.ingest_clinvar(root, CLINVAR_EXCERPT)
    genolake.ingest_vcf(root, VCF, "p1", workers=1)  # unchanged
    with pytest.raises(genolake.QuarantinedError):
        genolake.ingest_vcf(root, VCF_DIR / "test-genotypes.vcf", "tg", workers=1)
    return root


def _cli(capsys, *args) -> str:
    capsys.readouterr()
    assert cli.main(list(args)) == 0
    cap = capsys.readouterr()
    assert cap.err == ""
    return cap.out


def _table_rows(text: str) -> dict[str, dict]:
    lines = text.strip().splitlines()
    cols = lines[0].split()
    return {ln.split()[0]: dict(zip(cols, ln.split())) for ln in lines[1:]}


def test_catalog_list(full_lake, capsys):
    rows = _table_rows(_cli(capsys, "--root", str(full_lake), "catalog", "list"))
    assert set(rows) == set(INGESTED) == {"samples", "variants", "genotypes", "cpra_index", "rsid_index", "clinvar"}
    lake = genolake.open_lake(full_lake)
    for name, row in rows.items():
        assert int(row["delta_version"]) == table_version(lake.table_root(name))
        assert int(row["num_rows"]) == lake.read(name).num_rows > 0
        assert row["zone"] == "curated"
        assert row["partition_by"] == (",".join(ALL_TABLES[name].partition_by) or "-")
    as_json = json.loads(_cli(capsys, "--root", str(full_lake), "catalog", "list", "--json"))
    assert {t["name"]: t["num_rows"] for t in as_json} == {n: int(r["num_rows"]) for n, r in rows.items()}


def test_catalog_show(full_lake, capsys):
    out = _cli(capsys, "--root", str(full_lake), "catalog", "show", "cpra_index")
    lake = genolake.open_lake(full_lake)
    assert f"location:       {lake.table_root('cpra_index')}" in out
    assert f"delta version:  {table_version(lake.table_root('cpra_index'))}" in out
    assert "partitioned by: contig, pos_bin" in out
    schema = out.split("schema:\n", 1)[1].splitlines()
    assert [ln.split()[0] for ln in schema] == ALL_TABLES["cpra_index"].schema.names
    assert any(ln.split()[:2] == ["pos_bin", "int32"] and ln.endswith("(partition)") for ln in schema)
    as_json = json.loads(_cli(capsys, "--root", str(full_lake), "catalog", "show", "clinvar", "--json"))
    assert as_json["partition_by"] == ["assembly"] and as_json["location"].endswith("curated/clinvar")
    capsys.readouterr()
    assert cli.main(["--root", str(full_lake), "catalog", "show", "nope"]) == 4
    assert "no table 'nope'" in capsys.readouterr().err


def test_catalog_runs(full_lake, capsys):
    lake = genolake.open_lake(full_lake)
    runs = lake.catalog.runs()
    out = _cli(capsys, "--root", str(full_lake), "catalog", "runs")
    header = out.splitlines()[0].split()
    assert header == ["run", "kind", "dataset", "status", "started", "rows", "warn", "file"]  # fits 100 columns
    assert max(len(ln) for ln in out.splitlines()) <= 100
    lines = out.splitlines()
    by_id = {ln.split()[0]: ln + "\n" + (lines[i + 2] if i + 2 < len(lines) else "")
             for i, ln in enumerate(lines[1:]) if not ln.startswith(" ")}
    assert sorted(r.status for r in runs) == ["quarantined", "succeeded", "succeeded", "unchanged"]
    for r in runs:
        line = by_id[r.run_id]
        assert f" {r.status} " in line  # checksum and seconds: `catalog runs --format json`
        if r.status in ("succeeded", "unchanged"):  # records read, or ClinVar rows
            assert f" {r.rows.get('records', r.rows.get('clinvar')):,} " in line
        if r.status == "quarantined":
            assert "CPRA 1-8466747-A-C is repeated" in line
    as_json = json.loads(_cli(capsys, "--root", str(full_lake), "catalog", "runs", "--json"))
    vcf = next(r for r in as_json if r["kind"] == "vcf" and r["status"] == "succeeded")
    assert vcf["rows"]["records"] == 10376 and vcf["rows"]["rsid_index"] > 0 and vcf["seconds"] > 0
    assert vcf["versions"] and len(vcf["sha256"]) == 64


def test_catalog_crawl_after_the_catalog_is_lost(full_lake, tmp_path, capsys):
    import shutil

    root = tmp_path / "copy"
    shutil.copytree(full_lake, root)
    (root / "catalog.sqlite").unlink()
    genolake.Lake.init(genolake.LakeConfig.from_env(root))
    assert "(none)" in _cli(capsys, "--root", str(root), "catalog", "list")
    out = _cli(capsys, "--root", str(root), "catalog", "crawl")
    assert out.startswith("registered: ") and set(out.split(": ", 1)[1].strip().split(", ")) == set(INGESTED)
    lake = genolake.open_lake(root)
    original = genolake.open_lake(full_lake)
    assert lake.catalog.snapshot() == original.catalog.snapshot()
    for name in INGESTED:
        assert lake.catalog.table(name).num_rows == original.catalog.table(name).num_rows
        assert lake.read(name).num_rows == original.read(name).num_rows
        assert lake.catalog.table(name).location == str(root / "curated" / name)


def test_catalog_ddl_parses_as_athena(full_lake, capsys):
    out = _cli(capsys, "--root", str(full_lake), "catalog", "ddl", "--database", "kg1000",
               "--location-prefix", "s3://my-bucket/lakes/genolake/curated/")
    statements = [s for s in sqlglot.parse(out, read="athena") if s is not None]
    assert len(statements) == 1 + len(INGESTED)
    assert isinstance(statements[0], exp.Create) and statements[0].kind == "DATABASE"
    seen = {}
    for st in statements[1:]:
        assert isinstance(st, exp.Create) and st.kind == "TABLE"
        table = st.this
        assert isinstance(table, exp.Table) and table.db == "kg1000"  # no column list: Delta has its own
        props = st.args["properties"].expressions
        assert any(isinstance(p, exp.ExternalProperty) for p in props)
        location = next(p for p in props if isinstance(p, exp.LocationProperty)).this.name
        tblprops = {p.name: p.text("value") for p in props if isinstance(p, exp.Property)
                    and not isinstance(p, (exp.LocationProperty, exp.ExternalProperty))}
        assert tblprops == {"table_type": "DELTA"}
        seen[table.name] = location
    assert seen == {n: f"s3://my-bucket/lakes/genolake/curated/{n}/" for n in INGESTED}

    local = _cli(capsys, "--root", str(full_lake), "catalog", "ddl")
    parsed = [s for s in sqlglot.parse(local, read="athena") if s is not None]
    assert len(parsed) == 1 + len(INGESTED)
    assert f"LOCATION '{(full_lake / 'curated' / 'variants').as_uri()}/'" in local
    assert "CREATE DATABASE IF NOT EXISTS genolake;" in local

    for bad in (["--database", "x; DROP"], ["--location-prefix", "s3://b/it's"]):
        capsys.readouterr()
        assert cli.main(["--root", str(full_lake), "catalog", "ddl", *bad]) == 2
        assert capsys.readouterr().err.count("\n") == 1


def test_catalog_history(full_lake, capsys):
    """Two publishing runs (the VCF, ClinVar) are two snapshots; the unchanged re-ingest and the
    quarantined file publish nothing and add none."""
    runs = {r.kind: r for r in genolake.open_lake(full_lake).catalog.runs() if r.status == "succeeded"}
    out = _cli(capsys, "--root", str(full_lake), "catalog", "history")
    lines = out.splitlines()
    assert lines[0].split() == ["snapshot", "published", "run", "kind", "dataset", "changed"]
    assert lines[1].split()[:2] == ["2", "*"] and runs["clinvar"].run_id in lines[1] and lines[1].endswith("clinvar v0")
    assert lines[2].split()[0] == "1" and runs["vcf"].run_id in lines[2] and " p1 " in lines[2]
    assert lines[2].endswith("samples v0, variants v0, genotypes v0, cpra_index v0, rsid_index v0")
    assert len(lines) == 4 and lines[3].startswith("* ")
    as_json = json.loads(_cli(capsys, "--root", str(full_lake), "catalog", "history", "--format", "json"))
    assert [h["number"] for h in as_json] == [2, 1] and as_json[0]["current"] and not as_json[1]["current"]
    assert as_json[0]["versions"] == genolake.open_lake(full_lake).catalog.snapshot()
    assert as_json[0]["changed"] == {"clinvar": 0} and as_json[1]["kind"] == "vcf"
    assert as_json[1]["source_path"] == str(VCF) and as_json[1]["engine"] == "local"
