"""`genolake bench --scale tiny` end to end, as CI runs it: every layout answers every workload
with the curated tables' answer, the peers' answers are checked too, and the report is written."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from oracle import have_bcftools

pytestmark = pytest.mark.skipif(not have_bcftools(), reason="bcftools/tabix not on PATH")


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    work = tmp_path_factory.mktemp("bench")
    cmd = [sys.executable, "-m", "genolake", "bench", "--scale", "tiny", "--repeat", "1", "--warmup", "1",
           "--wait-idle", "0", "--cohort-size", "12", "--out", str(work / "out"), "--work-dir", str(work / "work"),
           "--data-dir", str(work / "data"), "--quiet"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
    return proc, work


def test_every_layout_answers_every_workload(tiny_run):
    proc, work = tiny_run
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads((work / "out" / "layouts-tiny.json").read_text())
    from genolake.benchmarks.suite.contract import WORKLOADS
    from genolake.benchmarks.suite.layouts import DEFAULT_LAYOUTS

    cells = {(r["layout"], r["workload"]): r for r in result["results"]}
    for spec in DEFAULT_LAYOUTS:
        assert result["layouts"][spec.name]["bytes"] > 0
        for w in WORKLOADS:
            cell = cells[(spec.name, w)]
            assert cell["valid"], (spec.name, w, cell["mismatch"])
            assert cell["median_s"] >= 0
    # the peers answered on the same data and agreed with the curated tables
    bcftools = [p for p in result["peers"] if p["peer"].startswith("bcftools")]
    assert {p["workload"] for p in bcftools} >= {"af_rsids", "af_region", "af_all", "af_all_cohort"}
    assert all(p["valid"] for p in bcftools), [p for p in bcftools if not p["valid"]]
    assert set(result["recommendations"]) >= set(WORKLOADS) - {"ingest"}
    html = (work / "out" / "layouts-tiny.html").read_text()
    assert "data:image/png;base64," in html and result["data"]["samples"] == 40


def test_unknown_layout_is_one_line_error(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "genolake", "bench", "--layouts", "bin_1m,nope"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert "nope" in proc.stderr and "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


def _have_spark() -> bool:
    import importlib.util
    import shutil

    return importlib.util.find_spec("pyspark") is not None and shutil.which("java") is not None


@pytest.fixture(scope="module")
def engines_run(tmp_path_factory):
    """The query engine axis at the smallest scale: one layout, no peers, one timed call per cell;
    in a subprocess, so its JVM is not this process's Spark session."""
    work = tmp_path_factory.mktemp("bench-engines")
    cmd = [sys.executable, "-m", "genolake", "bench", "--scale", "tiny", "--layouts", "curated", "--no-peers",
           "--engines", "duckdb,spark", "--repeat", "1", "--warmup", "1", "--scan-repeat", "1", "--wait-idle", "0",
           "--cohort-size", "12", "--out", str(work / "out"), "--work-dir", str(work / "work"),
           "--data-dir", str(work / "data"), "--quiet"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
    return proc, work


@pytest.mark.skipif(not _have_spark(), reason="pyspark or java not available")
def test_engines_axis_duckdb_and_spark(engines_run):
    proc, work = engines_run
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads((work / "out" / "layouts-tiny.json").read_text())
    from genolake.benchmarks.suite.contract import WORKLOADS

    cells = {(c["engine"], c["workload"]): c for c in result["engine_results"]}
    query_workloads = set(WORKLOADS) - {"ingest"}
    for engine in ("duckdb", "spark"):
        assert {w for e, w in cells if e == engine} == query_workloads
        for w in query_workloads:
            cell = cells[(engine, w)]
            assert cell["valid"], (engine, w, cell["mismatch"])
            assert cell["median_s"] >= 0 and cell["connect_s"] > 0
    assert {r["engine"] for r in result["results"]} == {"duckdb"}  # the layouts are measured with DuckDB
    md = (work / "out" / "layouts-tiny.md").read_text()
    assert "## By query engine" in md and "spark / duckdb" in md
    assert (work / "out" / "layouts-tiny-engines.png").is_file()


@pytest.mark.parametrize("engines, words", [("athena", ("athena", "AWS")), ("duckdb,nope", ("nope",))])
def test_engine_refusals_are_one_line_errors(engines, words):
    proc = subprocess.run([sys.executable, "-m", "genolake", "bench", "--engines", engines],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode != 0
    assert all(w in proc.stderr for w in words) and "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
