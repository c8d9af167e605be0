"""Smoke test of the ingest benchmark script: it runs end to end and its oracle check passes.

Timings are not asserted (benchmarks are never timed in tests). No Spark or Hail here: the engine
axis runs with the local engine only (each engine runs in its own subprocess anyway)."""

from __future__ import annotations

import json
import shutil

import pytest

pytest.importorskip("psutil")
pytestmark = pytest.mark.skipif(shutil.which("bcftools") is None, reason="bcftools is not on PATH")


def test_ingest_benchmark_tiny(tmp_path):
    from genolake.benchmarks import ingest

    out = tmp_path / "results"
    status = ingest.main(["--scale", "tiny", "--out", str(out), "--data-dir", str(tmp_path / "data"),
                          "--work-dir", str(tmp_path), "--wait-idle", "0", "--retries", "0", "--quiet",
                          "--engines", "none"])
    result = json.loads((out / "ingest-tiny.json").read_text())
    assert status == 0
    assert result["valid"] is True
    check = result["oracle_check"]["runs"][0]
    assert check["mismatches"] == 0 and check["oracle_split_alleles"] > 0
    assert check["lake_variant_rows"] == check["oracle_split_alleles"]
    assert result["storage"]["genotypes"]["rows"] > 0
    assert result["genolake"]["ingest"]["peak_rss_tree_bytes"] > 0
    assert (out / "ingest-tiny.md").read_text().startswith("# Ingest benchmark: tiny")
    assert "engines" not in result


def test_ingest_engine_axis_local_only(tmp_path, monkeypatch):
    """`--engines local --engines-only` on a tiny simulated file: the axis's JSON, table and plot."""
    from genolake.benchmarks import ingest

    monkeypatch.chdir(tmp_path)  # defaults: ./genolake-bench/data and ./genolake-bench/results
    monkeypatch.delenv("GENOLAKE_BENCH_DATA", raising=False)
    status = ingest.main(["--scale", "tiny", "--engines", "local", "--engines-only", "--work-dir", str(tmp_path),
                          "--wait-idle", "0", "--retries", "0", "--quiet"])
    out = tmp_path / "genolake-bench" / "results"
    assert (tmp_path / "genolake-bench" / "data").is_dir()
    assert status == 0
    axis = json.loads((out / "ingest-engines-tiny.json").read_text())
    assert axis["engines"] == ["local"] and set(axis["rows"]) == {"local"}
    assert axis["samples"] == 50 and axis["records"] > 0 and axis["valid"] is True
    row = axis["rows"]["local"]
    assert row["available"] is True and row["valid"] is True and row["returncode"] == 0
    assert row["check"]["mismatches"] == 0 and row["check"]["oracle_split_alleles"] > 0
    assert row["wall_s"] > 0 and row["work_s"] > 0 and row["startup_s"] >= 0 and row["work_s"] < row["wall_s"]
    assert row["peak_rss_tree_bytes"] > 0 and row["max_processes"] >= 1
    assert row["jvm_startup_s"] is None  # no JVM in the local engine
    assert isinstance(axis["ratios"], dict)  # spark/hail ratios need those engines
    whole = json.loads((out / "ingest-tiny.json").read_text())
    assert whole["engines"]["rows"]["local"]["wall_s"] == row["wall_s"] and whole["valid"] is True
    assert "genolake" not in whole  # --engines-only: no CLI ingest repeats
    md = (out / "ingest-engines-tiny.md").read_text()
    assert md.startswith("## Ingest engines: tiny") and "| local |" in md
    assert (out / "ingest-engines.png").stat().st_size > 0


def test_engine_list_parsing():
    from genolake.benchmarks.ingest_engines import parse_engines

    assert parse_engines("local,hail") == ["local", "hail"]
    assert parse_engines("none") == []
    assert parse_engines("auto")[0] == "local"
    with pytest.raises(SystemExit, match="unknown engine"):
        parse_engines("local,presto")


def _row(engine, wall, rss, jvm=None, **kw):
    return {"engine": engine, "available": True, "valid": True, "wall_s": wall, "work_s": wall * 0.6,
            "startup_s": (jvm or 0) + 0.4, "jvm_startup_s": jvm, "peak_rss_tree_bytes": rss, **kw}


def test_engine_axis_reports_from_rows(tmp_path):
    """The table, the ratios' form and the plot over several scales, from synthetic rows (no JVM)."""
    from genolake.benchmarks import ingest_engines as ie
    from genolake.benchmarks.suite import report

    for name, n, k in (("small", 500, 1.0), ("chr22-5mb", 2504, 5.0)):
        rows = {"local": _row("local", 4 * k, 2**29), "hail": _row("hail", 60 * k, 2**31, jvm=18.0),
                "spark": {"engine": "spark", "available": False, "valid": None, "note": "not available: no engine"}}
        axis = {"name": name, "samples": n, "records": 1000, "vcf": "x.vcf.gz", "engines": list(rows), "rows": rows,
                "ratios": {"hail_over_local_wall": ie._ratio(rows, "hail", "local", "wall_s")}, "failed": []}
        assert axis["ratios"]["hail_over_local_wall"] == 15.0
        assert ie._ratio(rows, "spark", "hail", "wall_s") is None  # an engine that did not run has no ratio
        paths = ie.write_reports(axis, tmp_path)
    md = paths["md"].read_text()
    assert "| spark | not available" in md and "| hail | 300.0 s | 18.4 s (18.0 s) |" in md
    assert paths["png"].name == "ingest-engines.png" and paths["png"].stat().st_size > 0
    assert sorted(p.name for p in tmp_path.glob("ingest-engines-*.json")) == [
        "ingest-engines-chr22-5mb.json", "ingest-engines-small.json"]
    head, table = report.ingest_engines_table({"ingest_engines": axis})
    assert head[0] == "engine" and [r[0] for r in table] == ["local", "hail", "spark"]
    assert table[2][1].startswith("not available")
