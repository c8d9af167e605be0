"""Published snapshots and time travel: every publish that changes the lake's {table: version} map
is a numbered snapshot (`genolake catalog history`); `--as-of N` / `as_of=N` re-runs an analysis at
snapshot N and reproduces the answer given then, value for value, with the same provenance."""

from __future__ import annotations

import json
import sqlite3

import pytest

import genolake
from genolake import cli
from genolake.lake import NotFoundError
from genolake.lake.catalog import PublishedSnapshot
from conftest import VCF_DIR
from test_query_cli import _lake_files

VCF_A = VCF_DIR / "chr22.vcf.gz"  # 100 sites of chr22 near 10.5 Mb
VCF_B = VCF_DIR / "split_test.vcf"  # 4 sites of 22 near 1 kb
REGION = "22:1-11000000"  # spans both


def run(capsys, root, *args):
    capsys.readouterr()
    rc = cli.main(["--root", str(root), *args])
    out, err = capsys.readouterr()
    return rc, out, err


def answer(capsys, root, *extra) -> tuple[str, str, dict]:
    """`query af --region REGION` as CSV (every row, full precision), its provenance line, and the
    JSON document's provenance."""
    rc, csv_out, err = run(capsys, root, "query", "af", "--region", REGION, "--format", "csv", *extra)
    assert rc == 0, err
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("genolake: duckdb @ snapshot "), err
    rc, js, err = run(capsys, root, "query", "af", "--region", REGION, "--format", "json", *extra)
    assert rc == 0 and err == "", err
    doc = json.loads(js)
    assert set(doc) == {"provenance", "rows"}
    assert len(doc["rows"]) == len(csv_out.splitlines()) - 1
    return csv_out, lines[0], doc


@pytest.fixture(scope="module")
def travelled(tmp_path_factory):
    """An empty lake; the test ingests A then B, answering after each."""
    root = tmp_path_factory.mktemp("travel") / "lake"
    genolake.init_lake(root)
    return root


def test_as_of_reproduces_the_first_answer(travelled, capsys):
    root = travelled
    genolake.ingest_vcf(root, VCF_A, "a", workers=1, progress=False)
    first_csv, first_line, first = answer(capsys, root)
    assert first["provenance"]["snapshot"] == 1
    assert {r["dataset"] for r in first["rows"]} == {"a"}
    assert first_line == "genolake: duckdb @ snapshot 1 of {lake} ({tables})".format(
        lake=first["provenance"]["lake"],
        tables=", ".join(f"{t} v{v}" for t, v in sorted(first["provenance"]["versions"].items())))
    assert first["provenance"]["lake"] == root.resolve().as_uri()
    assert first["provenance"]["engine"] == "duckdb"

    genolake.ingest_vcf(root, VCF_B, "b", workers=1, progress=False)
    second_csv, _, second = answer(capsys, root)
    assert second["provenance"]["snapshot"] == 2
    assert {r["dataset"] for r in second["rows"]} == {"a", "b"}
    assert second_csv != first_csv and second["rows"] != first["rows"]
    assert second["provenance"]["versions"] != first["provenance"]["versions"]

    before = _lake_files(root)
    again_csv, again_line, again = answer(capsys, root, "--as-of", "1")
    assert again_csv == first_csv and again_line == first_line
    assert again == first  # rows and provenance (engine, lake, snapshot 1, versions)
    # the Python API agrees
    engine = genolake.connect(root, as_of=1)
    try:
        api = genolake.allele_frequency(engine, region=REGION)
        assert api.to_pylist() == [{k: v for k, v in r.items()} for r in first["rows"]]
        assert json.loads(api.schema.metadata[b"genolake.provenance"]) == first["provenance"]
        assert engine.snapshot().number == 1
    finally:
        engine.close()
    # the newest answer again, unchanged; queries wrote nothing
    assert answer(capsys, root)[0] == second_csv
    assert _lake_files(root) == before

    # history: both snapshots with their runs, newest first, the current one marked
    runs = {r.dataset: r for r in genolake.open_lake(root).catalog.runs()}
    rc, out, err = run(capsys, root, "catalog", "history")
    assert rc == 0 and err == "", err
    lines = out.splitlines()
    assert lines[0].split() == ["snapshot", "published", "run", "kind", "dataset", "changed"]
    assert lines[1].startswith("2 *") and runs["b"].run_id in lines[1] and " b " in lines[1]
    assert lines[2].startswith("1 ") and runs["a"].run_id in lines[2] and " a " in lines[2]
    assert "genotypes v" in lines[1] and "variants v" in lines[2]
    rc, out, err = run(capsys, root, "catalog", "history", "--format", "json")
    hist = json.loads(out)
    assert [h["number"] for h in hist] == [2, 1]
    assert [h["run_id"] for h in hist] == [runs["b"].run_id, runs["a"].run_id]
    assert [h["kind"] for h in hist] == ["vcf", "vcf"] and [h["dataset"] for h in hist] == ["b", "a"]
    assert [h["current"] for h in hist] == [True, False]
    assert set(hist[0]["changed"]) <= set(hist[0]["versions"]) and hist[0]["changed"]
    assert all(hist[0]["versions"][t] != hist[1]["versions"].get(t) for t in hist[0]["changed"])
    assert hist[1]["changed"] == hist[1]["versions"]
    rc, out, _ = run(capsys, root, "catalog", "history", "--format", "json", "--limit", "1")
    assert [h["number"] for h in json.loads(out)] == [2]

    # an unknown snapshot: one line, non-zero, naming the range
    for bad in ("7", "0"):
        rc, out, err = run(capsys, root, "query", "af", "--region", REGION, "--as-of", bad)
        assert rc != 0 and out == "" and err.count("\n") == 1, err
        assert f"no snapshot {bad}" in err and "1..2" in err and "catalog history" in err
    rc, out, err = run(capsys, root, "query", "af", "--region", REGION, "--as-of", "x")
    assert rc == 2 and out == ""

    # a re-ingest that changes nothing adds no snapshot
    genolake.ingest_vcf(root, VCF_B, "b", workers=1, progress=False)
    cat = genolake.open_lake(root).catalog
    assert [e.number for e in cat.history()] == [2, 1]
    assert cat.published().number == 2


@pytest.fixture
def small(lake):
    genolake.ingest_vcf(lake, VCF_B, "b", workers=1, progress=False)
    return lake.root


def test_engine_options_belong_to_their_engine(small, capsys):
    for extra in (["--master", "local[1]"], ["--database", "g"], ["--aws-region", "eu-west-1"],
                  ["--engine", "spark", "--workgroup", "w"], ["--engine", "nope"]):
        rc, out, err = run(capsys, small, "query", "af", "--region", REGION, *extra)
        assert rc != 0 and out == "" and err.count("\n") == 1, (extra, err)


def test_streamed_sql_names_its_snapshot(small, capsys):
    rc, out, err = run(capsys, small, "sql", "SELECT count(*) AS n FROM samples")
    assert rc == 0, err
    assert err == f"genolake: duckdb @ snapshot 1 of {small.resolve().as_uri()} (samples v0)\n"
    for limit in ("0", "5"):  # run_sql, and the streamed head
        rc, out, err = run(capsys, small, "sql", "SELECT count(*) AS n FROM samples", "--format", "csv", "--limit", limit)
        assert rc == 0 and out.split() == ["n", "8"], out
        assert err == f"genolake: duckdb @ snapshot 1 of {small.resolve().as_uri()} (samples v0)\n"
    rc, out, err = run(capsys, small, "sql", "SELECT count(*) AS n FROM samples", "--format", "json")
    assert rc == 0 and err == ""
    doc = json.loads(out)
    assert list(doc["provenance"]["versions"]) == ["samples"] and doc["rows"][0]["n"] > 0


# ---------------------------------------------------------------------------------------------
# the catalog API


def test_published_and_history_on_an_empty_lake(lake, capsys):
    assert lake.catalog.published() == PublishedSnapshot(None, {}, None, None)
    assert lake.catalog.history() == [] and lake.catalog.snapshot() == {}
    with pytest.raises(NotFoundError, match=r"no snapshot 1 in the catalog: it has no published snapshots yet"):
        lake.catalog.published(1)
    rc, out, err = run(capsys, lake.root, "catalog", "history")
    assert rc == 0 and out.count("\n") == 1 and "no published snapshots yet" in out
    rc, out, err = run(capsys, lake.root, "catalog", "history", "--format", "json")
    assert json.loads(out) == []


def test_an_old_catalog_gets_snapshot_1_on_first_use(lake):
    genolake.ingest_vcf(lake, VCF_A, "a", workers=1, progress=False)
    state = {t.name: t.delta_version for t in lake.catalog.tables()}
    with sqlite3.connect(lake.catalog.path) as con:  # a catalog from before snapshots were recorded
        con.execute("DROP TABLE snapshots")
    con.close()
    snap = lake.catalog.published()
    assert snap.number == 1 and snap.versions == state and snap.run_id is None
    assert lake.catalog.snapshot() == state
    (entry,) = lake.catalog.history()
    assert entry.number == 1 and entry.current and entry.versions == state and entry.kind is None
    assert lake.catalog.published(1) == snap

    # the same, when the first use is a publish: the old state stays reachable as snapshot 1
    with sqlite3.connect(lake.catalog.path) as con:
        con.execute("DROP TABLE snapshots")
    con.close()
    genolake.ingest_vcf(lake, VCF_B, "b", workers=1, progress=False)
    hist = lake.catalog.history()
    assert [e.number for e in hist] == [2, 1]
    assert hist[1].versions == state and hist[1].run_id is None
    run_b = next(r for r in lake.catalog.runs() if r.dataset == "b")
    assert hist[0].run_id == run_b.run_id and hist[0].dataset == "b" and hist[0].kind == "vcf"
    assert hist[0].versions == lake.catalog.snapshot() != state
    assert set(hist[0].changed) == {t for t, v in hist[0].versions.items() if state.get(t) != v}
    with pytest.raises(NotFoundError) as err:
        lake.catalog.published(3)
    assert str(err.value) == "no snapshot 3 in the catalog: snapshots are 1..2 (`genolake catalog history`)"


def test_a_crawl_finding_nothing_new_adds_no_snapshot(lake, capsys):
    genolake.ingest_vcf(lake, VCF_A, "a", workers=1, progress=False)
    before = lake.catalog.history()
    rc, _, err = run(capsys, lake.root, "catalog", "crawl")
    assert rc == 0, err
    assert lake.catalog.history() == before and len(before) == 1
    # the full map: a snapshot after a run that touched some tables still lists every table
    genolake.ingest_vcf(lake, VCF_B, "b", workers=1, progress=False)
    newest = lake.catalog.published()
    assert newest.number == 2 and set(newest.versions) >= set(before[0].versions)
