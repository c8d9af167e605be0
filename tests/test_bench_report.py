"""The layout benchmark's peers and report.

- report: a synthetic result document (two layouts, one invalid on a workload, a layout flagged peer,
  a peer set with Hail absent) renders to Markdown, self-contained HTML and PNGs, and the
  recommendation never picks the invalid or the peer layout;
- peers: on a tiny simulated cohort ingested into a lake, every bcftools peer answer (VCF.gz and BCF)
  equals the same answer computed through the project's own analyses; Hail absent gives valid=None
  with the install note (the Hail run itself is opt-in: GENOLAKE_TEST_HAIL=1 and `make hail-venv`).
Timings are never asserted."""

from __future__ import annotations

import json
import os
import subprocess

import pyarrow as pa
import pyarrow.compute as pc
import pytest

pytest.importorskip("psutil")
pytest.importorskip("matplotlib")

import genolake  # noqa: E402
from genolake.benchmarks.suite import peers, report  # noqa: E402
from genolake.benchmarks.suite.contract import SORT_KEY, BenchParams  # noqa: E402
from oracle import have_bcftools  # noqa: E402

needs_bcftools = pytest.mark.skipif(not have_bcftools(), reason="bcftools/tabix not on PATH")


# ---------------------------------------------------------------- report, on a synthetic document

def _row(layout, workload, median, valid=True, mismatch=None, **extra):
    return {"layout": layout, "engine": "duckdb", "workload": workload, "valid": valid, "mismatch": mismatch,
            "times_s": [median] * 3, "median_s": median, "p25_s": median, "p75_s": median, "min_s": median,
            "max_s": median, "bytes_read": 4096, "files_planned": 2, "row_groups_planned": 3,
            "bytes_planned": 8192, "peak_rss_bytes": None, **extra}


def _peer(peer, workload, median, note=None, valid=True):
    return {"peer": peer, "workload": workload, "valid": valid, "mismatch": None, "cmd": f"bcftools view | query {workload}",
            "times_s": [] if median is None else [median], "median_s": median, "peak_rss_bytes": 5_000_000, "note": note}


def synthetic_result() -> dict:
    layouts = {
        "reference": {"description": "the curated lake", "knobs": {}, "bytes": 2_000_000, "files": 10, "build_s": 3.0,
                      "peak_rss_bytes": 300_000_000, "reference": True, "peer": False},
        "bin_x": {"description": "cpra_index, 100 kb bins", "knobs": {"bin": 100_000}, "bytes": 3_000_000, "files": 40,
                  "build_s": 1.5, "peak_rss_bytes": 200_000_000, "reference": False, "peer": False},
        "vcf_as_layout": {"description": "the VCF itself", "knobs": {}, "bytes": 1_500_000, "files": 1, "build_s": 0.0,
                          "peak_rss_bytes": None, "reference": False, "peer": True},
    }
    results = [
        _row("reference", "af_rsids", 0.05), _row("bin_x", "af_rsids", 0.02), _row("vcf_as_layout", "af_rsids", 0.001),
        _row("reference", "af_region", 0.30),
        _row("bin_x", "af_region", 0.10, valid=False, mismatch="22-20071-C-G: AC 3 != 2"),
        _row("vcf_as_layout", "af_region", 0.01),
        _row("reference", "annotate_gene", 0.08), _row("bin_x", "annotate_gene", 0.09),
        _row("reference", "sample_region", 0.5, valid=False, mismatch="12 rows missing"),
        _row("bin_x", "sample_region", 0.4, valid=False, mismatch="order"),
    ]
    results[0]["answer"] = pa.table({"pos": [1]})  # the runner strips these; render must too
    return {
        "suite": "layouts", "name": "synthetic", "scale": "tiny", "started_utc": "2026-01-01T00:00:00+00:00",
        "hardware": {"nproc": 2, "cpu_model": "Test CPU 3000", "ram_GiB": 8.0, "kernel": "6.1"},
        "versions": {"python": "3.11.7", "duckdb": "1.1.0", "bcftools": "1.16"},
        "git": {"commit": "0123456789abcdef", "modified_files": []}, "settings": {"repeat": 3, "warmup": 1},
        "data": {"vcf": "cohort.vcf.gz", "vcf_bytes": 1_800_000, "bcf_bytes": 1_600_000, "samples": 20, "records": 441,
                 "alleles": 450, "stored_calls": 3000, "contig": "22", "cohort_size": 10},
        "params": {"region": ["22", 20000, 60000]},
        "workloads": {w: f"{w} description" for w in ("af_rsids", "af_region", "annotate_gene", "sample_region")},
        "layouts": layouts, "results": results,
        "peers": [_peer("bcftools-vcf", "af_rsids", 2.0), _peer("bcftools-bcf", "af_rsids", 1.5),
                  _peer("bcftools-vcf", "af_region", 1.0), _peer("bcftools-bcf", "af_region", 0.8),
                  _peer("hail", "af_region", None, note=peers.HAIL_NOT_INSTALLED, valid=None)],
    }


def test_recommend_skips_invalid_and_peer_layouts():
    recs = report.recommend(synthetic_result())
    assert recs["af_rsids"]["layout"] == "bin_x"
    assert recs["af_region"]["layout"] == "reference"  # bin_x was faster but wrong; the peer layout never counts
    assert recs["annotate_gene"]["layout"] == "reference"
    assert recs["sample_region"]["layout"] is None  # every answer was wrong
    assert all(r["layout"] != "vcf_as_layout" for r in recs.values())
    assert "0.01× bcftools-vcf" in recs["af_rsids"]["reason"]  # 0.02 s / 2.0 s
    assert "0.3× bcftools-vcf" in recs["af_region"]["reason"]
    assert "bin_x gave a wrong answer: 22-20071-C-G" in recs["af_region"]["reason"]
    assert "no bcftools-vcf peer" in recs["annotate_gene"]["reason"]
    assert "1.5× the reference layout" in recs["af_rsids"]["reason"]  # 3 MB / 2 MB


def test_render_writes_markdown_html_and_plots(tmp_path):
    paths = report.render(synthetic_result(), tmp_path)
    assert {p.name for p in paths["png"]} == {"layouts-synthetic-latency.png", "layouts-synthetic-storage.png",
                                              "layouts-synthetic-recommendations.png"}
    for png in paths["png"]:
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    page = paths["html"].read_text()
    assert page.count("data:image/png;base64,") == 3 and ".png'" not in page  # self-contained
    md = paths["md"].read_text()
    for text in ("INVALID", "Test CPU 3000", "bcftools 1.16", "1.7 MiB", peers.HAIL_NOT_INSTALLED,
                 "0.01×", "bin_x gave a wrong answer"):  # in both: verdicts, hardware, versions, data size, notes
        assert text in md and text in page, text
    assert "(layouts-synthetic-latency.png)" in md and "## Recommendations" in md
    assert "| annotate_gene | reference | 80.0 ms | 80.0 ms–80.0 ms | — |" in md  # no bcftools peer: no ratio
    doc = json.loads(paths["json"].read_text())
    assert '"answer":' not in json.dumps(doc) and doc["recommendations"]["af_region"]["layout"] == "reference"
    assert "_ratio" not in json.dumps(doc)


def test_render_without_peers_or_results(tmp_path):
    paths = report.render({"name": "empty", "layouts": {}, "results": []}, tmp_path)
    assert paths["md"].exists() and len(paths["png"]) == 3 and "No peers ran" in paths["md"].read_text()


# ---------------------------------------------------------------- peers, on a tiny lake

def test_gt_parsing_haploid_partial_missing():
    assert peers.call_counts("0/1", 1) == (1, 2, 2)
    assert peers.call_counts("./1", 1) == (1, 1, 2)
    assert peers.call_counts("1|2", 2) == (1, 2, 2)
    assert peers.call_counts("1", 1) == (1, 1, 1)
    assert peers.call_counts(".", 1) == (0, 0, 1)
    assert not peers.is_stored(*peers.call_counts("0|2", 1))  # diploid, called, no copy of ALT 1
    assert peers.is_stored(*peers.call_counts("0", 1))  # haploid calls are stored
    assert peers.is_stored(*peers.call_counts("./.", 1))
    assert peers.matrix_dosage("./1", 1) == -1 and peers.matrix_dosage("1", 1) == 1 and peers.matrix_dosage("2|2", 1) == 0


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """A 20-sample simulated cohort, its lake, and the run's parameters."""
    root = tmp_path_factory.mktemp("peers")
    sim = genolake.simulate(root / "sim", n_samples=20, length_bp=100_000, seed=5, progress=False)
    lake = genolake.init_lake(root / "lake")
    genolake.ingest_vcf(lake, sim.vcf, "d", panel=sim.panel)
    samples = subprocess.run(["bcftools", "query", "-l", str(sim.vcf)], capture_output=True, text=True,
                             check=True).stdout.split()
    variants = lake.read("variants")
    with_rs = variants.filter(pc.invert(pc.is_null(variants["rsid"]))).to_pylist()
    picks, seen = [], set()
    for v in with_rs[::7]:  # spread over the contig; one allele per position
        if v["pos"] not in seen and len(picks) < 4:
            seen.add(v["pos"])
            picks.append({k: v[k] for k in ("rsid", "contig", "pos", "ref", "alt")})
    params = BenchParams(
        lake_root=root / "lake", dataset="d", contig="22", vcf=sim.vcf, bcf=None, samples=tuple(samples),
        cohort=tuple(range(10)), rsids=tuple(picks), region=("22", 20_000, 60_000), gene=None, gene_region=None,
        sample=samples[3], sample_region=("22", 1, 100_000), matrix_region=("22", 10_000, 50_000), work=root / "work")
    engine = genolake.connect(lake)
    yield params, engine
    engine.close()


@pytest.fixture(scope="module")
def peer_records(tiny):
    params, _ = tiny
    return peers.run_peers(params, list(peers.BCFTOOLS_WORKLOADS), repeat=1, warmup=0, log=None, hail=False)


def _af_form(table: pa.Table) -> pa.Table:
    out = table.select(["contig", "pos", "ref", "alt", "ac", "an"]).cast(peers.AF_SCHEMA)
    return out.sort_by([(k, "ascending") for k in SORT_KEY])


def _region(r) -> str:
    return f"{r[0]}:{r[1]}-{r[2]}"


def expected(workload: str, params: BenchParams, engine) -> pa.Table:
    """The same answer through the project's analyses (the curated lake), in the contract form."""
    if workload == "af_rsids":
        t = _af_form(genolake.allele_frequency(engine, rsids=[p["rsid"] for p in params.rsids], dataset="d"))
        asked = {(p["pos"], p["ref"], p["alt"]) for p in params.rsids}
        return t.filter(pa.array([k in asked for k in zip(*(t[c].to_pylist() for c in ("pos", "ref", "alt")))]))
    if workload == "af_region":
        return _af_form(genolake.allele_frequency(engine, region=_region(params.region), dataset="d"))
    if workload == "af_all":
        return _af_form(genolake.allele_frequency(engine, dataset="d"))
    if workload == "af_all_cohort":
        return _af_form(genolake.allele_frequency(engine, region=params.contig, cohort=params.cohort_ids, dataset="d"))
    if workload == "sample_region":
        t = genolake.sample_variants(engine, params.sample, region=_region(params.sample_region), dataset="d")
        t = t.select(peers.CALLS_SCHEMA.names).cast(peers.CALLS_SCHEMA)
        return t.sort_by([(k, "ascending") for k in SORT_KEY])
    if workload == "genotype_matrix":
        return expected_matrix(params, engine)
    raise AssertionError(workload)


def expected_matrix(params: BenchParams, engine) -> pa.Table:
    """Dosages from each cohort sample's stored calls; a call not stored is diploid, called, 0 copies."""
    sites = _af_form(genolake.allele_frequency(engine, region=_region(params.matrix_region), dataset="d"))
    keys = list(zip(*(sites[c].to_pylist() for c in ("pos", "ref", "alt"))))
    columns = []
    for sample in params.cohort_ids:
        calls = genolake.sample_variants(engine, sample, region=_region(params.matrix_region), dataset="d").to_pylist()
        stored = {(c["pos"], c["ref"], c["alt"]): (-1 if c["called_alleles"] < c["ploidy"] else c["alt_dosage"])
                  for c in calls}
        columns.append([stored.get(k, 0) for k in keys])
    dosages = [[col[i] for col in columns] for i in range(len(keys))]
    return pa.table({"contig": sites["contig"], "pos": sites["pos"], "ref": sites["ref"], "alt": sites["alt"],
                     "dosages": pa.array(dosages, pa.list_(pa.int8()))}, schema=peers.MATRIX_SCHEMA)


@needs_bcftools
@pytest.mark.parametrize("workload", peers.BCFTOOLS_WORKLOADS)
def test_bcftools_peer_answers_equal_the_lake(tiny, peer_records, workload):
    params, engine = tiny
    want = expected(workload, params, engine)
    assert want.num_rows > 0
    got = {r["peer"]: r for r in peer_records if r["workload"] == workload}
    assert set(got) == set(peers.BCFTOOLS_PEERS)
    for peer, rec in got.items():
        assert rec["valid"] is None and rec["median_s"] > 0 and len(rec["times_s"]) == 1, rec
        assert rec["peak_rss_bytes"] and rec["cmd"].startswith("bcftools")
        answer = rec["answer"]
        assert answer.schema.equals(want.schema), (peer, answer.schema, want.schema)
        assert answer.equals(want), (peer, workload, answer.num_rows, want.num_rows)
    if workload == "af_rsids":
        assert got["bcftools-vcf"]["answer"].num_rows == len(params.rsids)


@needs_bcftools
def test_make_bcf_is_indexed(tiny, peer_records):
    params, _ = tiny
    bcf = peers.make_bcf(params)
    assert bcf.exists() and bcf.with_name(bcf.name + ".csi").exists()
    assert any(str(bcf) in r["cmd"] for r in peer_records if r["peer"] == "bcftools-bcf")


@needs_bcftools
def test_hail_absent_gives_a_note(tiny, tmp_path, monkeypatch):
    params, _ = tiny
    monkeypatch.setenv("GENOLAKE_HAIL_PYTHON", str(tmp_path / "no-such-python"))
    records = peers.run_peers(params, ["af_region", "annotate_gene"], repeat=1, warmup=0, log=None)
    hail = [r for r in records if r["peer"] == "hail"]
    assert len(hail) == 1 and hail[0]["valid"] is None and hail[0]["answer"] is None
    assert hail[0]["note"] == peers.HAIL_NOT_INSTALLED and hail[0]["workload"] == "af_region"
    assert {r["workload"] for r in records} == {"af_region"}  # no bcftools peer for annotate_gene


@needs_bcftools
@pytest.mark.skipif(os.environ.get("GENOLAKE_TEST_HAIL") != "1", reason="Hail run is opt-in (GENOLAKE_TEST_HAIL=1)")
def test_hail_peer_equals_the_lake(tiny):
    params, engine = tiny
    if peers.hail_python() is None:
        pytest.skip(peers.HAIL_NOT_INSTALLED)
    rec = peers.run_hail_peer(params, repeat=1, warmup=0, log=print)
    assert rec["answer"] is not None, rec["note"]
    assert rec["answer"].equals(expected("af_region", params, engine))
    assert rec["startup_s"] > 0 and rec["median_s"] > 0


# ---------------------------------------------------------------- the query engine axis

def _engine_cell(engine, workload, median, valid=True, connect=0.05):
    return {"engine": engine, "workload": workload, "valid": valid, "mismatch": None if valid else "3 rows vs 4",
            "times_s": [median] * 3, "median_s": median, "p25_s": median, "p75_s": median, "min_s": median,
            "max_s": median, "bytes_read": None, "peak_rss_bytes": None, "connect_s": connect}


def test_render_by_query_engine(tmp_path):
    doc = synthetic_result()
    doc["settings"]["engines"] = ["duckdb", "spark"]
    doc["engine_results"] = [_engine_cell("duckdb", "af_rsids", 0.01), _engine_cell("spark", "af_rsids", 0.5, connect=20.0),
                             _engine_cell("duckdb", "af_region", 0.02),
                             _engine_cell("spark", "af_region", 0.4, valid=False, connect=20.0)]
    assert report.engine_ratio(doc, "spark", "af_rsids") == pytest.approx(50.0)
    assert report.engine_ratio(doc, "spark", "af_region") is None  # an invalid answer has no ratio
    paths = report.render(doc, tmp_path)
    assert [p.name for p in paths["png"]][-1] == "layouts-synthetic-engines.png"
    md = paths["md"].read_text()
    section = md.split("## By query engine", 1)[1].split("## Recommendations", 1)[0]
    assert "| workload | duckdb | spark | spark / duckdb | answers |" in section
    assert "| af_rsids | 10.0 ms | 500.0 ms | 50× | all valid |" in section
    assert "INVALID" in section and "| connect (once per engine) | 50.0 ms | 20.00 s | 400× |" in section
    assert paths["html"].read_text().count("data:image/png;base64,") == 4
