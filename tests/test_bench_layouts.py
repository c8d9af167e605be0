"""Smoke test of the layout benchmark's layouts and workloads (benchmarks/suite/layouts.py,
workloads.py): every layout kind is built from a tiny lake and answers every workload exactly as
the curated lake does through the public API; a corrupted layout is caught; planned I/O prunes;
layout names and knobs are parsed strictly.

Two datasets in one lake: a simulated cohort (30 samples, 150 kb, with ClinVar) and a hand-written
VCF of the calls the counting rule must get right (haploid, triploid, partial, missing,
multi-allelic, and alleles nobody carries)."""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

import genolake
from genolake.benchmarks.suite.contract import BenchParams
from genolake.benchmarks.suite.layouts import DEFAULT_LAYOUTS, BuiltLayout, build, connect, parse_layouts, remove
from genolake.benchmarks.suite.workloads import ANSWER_SCHEMAS, compare, planned_io, reference, run

WORKLOADS = list(ANSWER_SCHEMAS)  # every workload with an answer ("ingest" is a build time)
KNOB_VARIANTS = "bin_10m:rg=256:zstd=9,by_sample:rg=64:file_rows=100"
EDGE_WORKLOADS = ["af_rsids", "af_region", "af_all", "af_all_cohort", "sample_region", "genotype_matrix"]

EDGE_VCF = """##fileformat=VCFv4.2
##contig=<ID=1,length=10000>
##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">
#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\tE1\tE2\tE3\tE4
1\t100\trs900001\tA\tC,G\t.\tPASS\t.\tGT\t0/1\t1|1\t2/2\t0/0
1\t200\trs900002\tA\tC\t.\tPASS\t.\tGT\t0\t1\t./1\t0/0
1\t300\t.\tA\tC\t.\tPASS\t.\tGT\t0/1/1\t0/0/0\t./.\t.
1\t400\t.\tA\tC,G\t.\tPASS\t.\tGT\t0/1\t0/0\t0/0\t1/1
1\t500\t.\tAT\tA\t.\tPASS\t.\tGT\t./.\t./.\t./.\t./.
1\t600\t.\tG\tT\t.\tPASS\t.\tGT\t0/0\t0/0\t0/0\t0/0
"""


@pytest.fixture(scope="module")
def lake_root(tmp_path_factory) -> tuple[Path, Path]:
    base = tmp_path_factory.mktemp("bench-layouts")
    sim = genolake.simulate(base / "sim", n_samples=30, length_bp=150_000, seed=3, progress=False)
    lake = genolake.init_lake(base / "lake")
    genolake.ingest_vcf(lake, sim.vcf, dataset="sim", panel=sim.panel)
    genolake.ingest_clinvar(lake, sim.clinvar)
    edge = base / "edge.vcf"
    edge.write_text(EDGE_VCF)
    genolake.ingest_vcf(lake, edge, dataset="edge")
    return lake.root, sim.vcf


@pytest.fixture(scope="module")
def engine(lake_root):
    eng = genolake.connect(genolake.open_lake(lake_root[0]))
    yield eng
    eng.close()


def _samples(lake, dataset: str) -> tuple[str, ...]:
    t = lake.read("samples")
    t = t.filter(pc.equal(t["dataset"], dataset)).sort_by("sample_index")
    return tuple(t["sample_id"].to_pylist())


def _top_gene(lake) -> tuple[str, tuple[str, int, int]]:
    """The GRCh37 gene with the most ClinVar records, and its span."""
    cv = lake.read("clinvar")
    cv = cv.filter(pc.and_(pc.equal(cv["assembly"], "GRCh37"), pc.is_valid(cv["gene_symbol"])))
    counts = cv.group_by("gene_symbol").aggregate([("gene_symbol", "count")]).sort_by(
        [("gene_symbol_count", "descending"), ("gene_symbol", "ascending")])
    gene = counts["gene_symbol"][0].as_py()
    rows = cv.filter(pc.equal(cv["gene_symbol"], gene))
    return gene, ("22", pc.min(rows["start"]).as_py(), pc.max(rows["stop"]).as_py())


@pytest.fixture(scope="module")
def params(lake_root, tmp_path_factory) -> BenchParams:
    root, vcf = lake_root
    lake = genolake.open_lake(root)
    samples = _samples(lake, "sim")
    v = lake.read("variants", columns=["dataset", "contig", "pos", "ref", "alt", "rsid"])
    v = v.filter(pc.and_(pc.equal(v["dataset"], "sim"), pc.is_valid(v["rsid"]))).sort_by("pos")
    # two rsIDs in the first 100 kb: a 100 kb-bin layout then reads one bin of calls for them
    early = [r for r in v.to_pylist() if r["pos"] < 100_000]
    picks = tuple({k: r[k] for k in ("rsid", "contig", "pos", "ref", "alt")} for r in (early[3], early[len(early) // 2]))
    gene, gene_region = _top_gene(lake)
    return BenchParams(
        lake_root=root, dataset="sim", contig="22", vcf=vcf, bcf=None, samples=samples,
        cohort=tuple(range(10)), rsids=picks, region=("22", 40_000, 60_000), gene=gene, gene_region=gene_region,
        sample=samples[4], sample_region=("22", 20_000, 90_000), matrix_region=("22", 70_000, 80_000),
        work=tmp_path_factory.mktemp("bench-work"),
    )


@pytest.fixture(scope="module")
def edge_params(lake_root, tmp_path_factory) -> BenchParams:
    root, _ = lake_root
    samples = _samples(genolake.open_lake(root), "edge")
    return BenchParams(
        lake_root=root, dataset="edge", contig="1", vcf=root / "unused.vcf", bcf=None, samples=samples,
        cohort=(3, 0, 2),  # scattered and out of order: runs of indexes, and the matrix's column order
        rsids=({"rsid": "rs900001", "contig": "1", "pos": 100, "ref": "A", "alt": "C"},
               {"rsid": "rs900002", "contig": "1", "pos": 200, "ref": "A", "alt": "C"}),
        region=("1", 150, 450), gene=None, gene_region=None, sample=samples[2], sample_region=("1", 1, 10_000),
        matrix_region=("1", 1, 10_000), work=tmp_path_factory.mktemp("bench-work-edge"),
    )


ALL_SPECS = [*DEFAULT_LAYOUTS, *parse_layouts(KNOB_VARIANTS)]


@pytest.fixture(scope="module")
def built(params) -> dict[str, BuiltLayout]:
    return {spec.name: build(spec, params) for spec in ALL_SPECS}


@pytest.fixture(scope="module")
def edge_built(edge_params) -> dict[str, BuiltLayout]:
    return {spec.name: build(spec, edge_params) for spec in ALL_SPECS}


@pytest.fixture(scope="module")
def truths(params, engine) -> dict:
    return {w: reference(w, params, engine) for w in WORKLOADS}


@pytest.mark.parametrize("workload", WORKLOADS)
def test_every_layout_answers_like_the_curated_lake(workload, built, params, truths):
    truth = truths[workload]
    assert truth.num_rows > 0, f"{workload}: the parameters select nothing; the test would prove nothing"
    for name, layout in built.items():
        con = connect(layout, params)
        try:
            answer = run(workload, layout, con, params)
        finally:
            con.close()
        assert compare(answer, truth) is None, f"{name} / {workload}: {compare(answer, truth)}"


@pytest.mark.parametrize("workload", EDGE_WORKLOADS)
def test_counting_rule_edge_calls(workload, edge_built, edge_params, engine):
    truth = reference(workload, edge_params, engine)
    assert truth.num_rows > 0
    _assert_every_layout_matches(edge_built, edge_params, workload, truth)


def _assert_every_layout_matches(built, params, workload, truth):
    for name, layout in built.items():
        con = connect(layout, params)
        try:
            mismatch = compare(run(workload, layout, con, params), truth)
        finally:
            con.close()
        assert mismatch is None, f"{name} / {workload}: {mismatch}"


def test_edge_answers_follow_the_rule(edge_built, edge_params):
    """A few hand-checked numbers, so the reference and the layouts cannot be wrong together."""
    con = connect(edge_built["packed"], edge_params)
    af = {(r["pos"], r["alt"]): (r["ac"], r["an"]) for r in run("af_all", edge_built["packed"], con, edge_params).to_pylist()}
    # 300 A>C: 0/1/1 (3 called), 0/0/0 (3), ./. (0), '.' haploid missing (0): AN = 8 - (-1 - 1 + 2 + 2) = 6
    assert af[(300, "C")] == (2, 6)
    # 200 A>C: haploid 0 and 1, ./1, 0/0: AC = 2, AN = 8 - (1 + 1 + 1) = 5
    assert af[(200, "C")] == (2, 5)
    assert af[(400, "G")] == (0, 8) and af[(600, "T")] == (0, 8)  # nobody carries them
    matrix = run("genotype_matrix", edge_built["packed"], con, edge_params)
    rows = {(r["pos"], r["alt"]): r["dosages"] for r in matrix.to_pylist()}
    # cohort order E4, E1, E3; missing alleles give -1, a haploid '0' gives 0
    assert rows[(200, "C")] == [0, 0, -1]
    assert rows[(300, "C")] == [-1, 2, -1]
    con.close()


def _corrupt_copy(layout: BuiltLayout, tmp: Path, change, pick: str | None = None) -> BuiltLayout:
    """A copy of `layout` whose biggest calls (or packed/flat) file, or the first whose path
    contains `pick`, went through `change(table)`."""
    root = tmp / f"{layout.name}-corrupt"
    shutil.copytree(layout.root, root)
    tables = {v: [root / f.relative_to(layout.root) for f in fs] for v, fs in layout.tables.items()}
    view = next(v for v in ("calls", "packed", "flat") if v in tables)
    target = (max(tables[view], key=lambda f: f.stat().st_size) if pick is None
              else next(f for f in tables[view] if pick in str(f)))
    pq.write_table(change(pq.read_table(target)), target)
    files = [f for fs in tables.values() for f in fs]
    return dataclasses.replace(layout, root=root, tables=tables, files=files)


def _flip_dosage(t):
    col = t.column_names.index("alt_dosage")
    values = t["alt_dosage"].to_pylist()
    values[0] = (values[0] or 0) + 1
    return t.set_column(col, "alt_dosage", pa.array(values, t.schema.field("alt_dosage").type))


def _flip_packed(t):
    lists = t["dosage"].to_pylist()
    row = next(i for i, xs in enumerate(lists) if any(xs))
    lists[row] = [x + 1 if j == 0 else x for j, x in enumerate(lists[row])]
    return t.set_column(t.column_names.index("dosage"), "dosage", pa.array(lists, t.schema.field("dosage").type))


@pytest.mark.parametrize("name, change, workload, cohort_file", [
    ("bin_1m", lambda t: t.slice(0, t.num_rows - 5), "af_all", False),  # a few calls lost
    ("flat_sorted", _flip_dosage, "af_all", False),
    ("by_sample", _flip_dosage, "af_all_cohort", True),  # a cohort member's file
    ("packed", _flip_packed, "af_all", False),
    ("flat_default", lambda t: t.slice(3), "af_all", False),
])
def test_a_wrong_layout_is_caught(name, change, workload, cohort_file, built, params, truths, tmp_path):
    pick = f"sample_id={params.samples[0]}/" if cohort_file else None
    bad = _corrupt_copy(built[name], tmp_path, change, pick)
    con = connect(bad, params)
    mismatch = compare(run(workload, bad, con, params), truths[workload])
    con.close()
    assert mismatch is not None and ("ac" in mismatch or "an" in mismatch or "rows" in mismatch), mismatch


def test_compare_reports_the_first_difference(truths):
    truth = truths["af_region"]
    assert compare(truth, truth) is None
    assert "rows" in compare(truth.slice(1), truth)
    ac = truth["ac"].to_pylist()
    ac[2] += 1
    wrong = truth.set_column(truth.column_names.index("ac"), "ac", pa.array(ac, pa.int64()))
    message = compare(wrong, truth)
    key = "-".join(str(truth[c][2].as_py()) for c in ("contig", "pos", "ref", "alt"))
    assert message.startswith(key) and ": ac " in message


@pytest.mark.parametrize("name", ["bin_100k", "bin_10m-rg256-zstd9"])
def test_planned_io_prunes_site_lookups(name, built, params):
    rsids = planned_io("af_rsids", built[name], params)
    whole = planned_io("af_all", built[name], params)
    assert rsids["row_groups"] < whole["row_groups"] or rsids["files"] < whole["files"], (rsids, whole)
    assert rsids["bytes"] < whole["bytes"]
    sample = planned_io("sample_region", built["curated"], params)
    assert sample["files"] == 2  # the sample's genotypes file and the contig's variants file
    assert sample["files"] < planned_io("af_all", built["curated"], params)["files"]


def test_layout_sizes_and_files(built):
    assert built["curated"].build_s == 0 and built["curated"].spec.reference
    assert all(f.exists() for b in built.values() for f in b.files)
    assert all(b.bytes == sum(f.stat().st_size for f in b.files) for b in built.values())
    assert len(built["flat_default"].files) == 1 and built["flat_default"].spec.peer
    split = built["by_sample-rg64-filerows100"]
    assert all(pq.ParquetFile(f).metadata.num_rows <= 100 for f in split.tables["calls"])


def test_parse_layouts():
    specs = parse_layouts("curated, bin_1m, bin_100k:rg=16384:zstd=9, flat_sorted:file_rows=2m, packed")
    assert [s.name for s in specs] == ["curated", "bin_1m", "bin_100k-rg16384-zstd9", "flat_sorted-filerows2000000",
                                       "packed"]
    assert specs[2].bin_size == 100_000 and specs[2].row_group_rows == 16_384 and specs[2].zstd_level == 9
    assert specs[3].target_file_rows == 2_000_000
    assert [s.name for s in DEFAULT_LAYOUTS] == ["curated", "by_sample", "bin_100k", "bin_1m", "bin_10m",
                                                 "flat_sorted", "packed", "flat_default"]
    assert [s.name for s in DEFAULT_LAYOUTS if s.reference] == ["curated"]
    assert [s.name for s in DEFAULT_LAYOUTS if s.peer] == ["flat_default"]


@pytest.mark.parametrize("text, words", [
    ("", "no layouts"),
    ("curated,nope", "unknown layout 'nope'"),
    ("bin_1m:color=red", "unknown knob"),
    ("bin_1m:rg=lots", "not a whole number"),
    ("packed:zstd=30", "1 to 22"),
    ("curated:rg=10", "takes no knobs"),
    ("flat_default:zstd=3", "takes no knobs"),
    ("bin_1m,bin_1m", "given twice"),
    ("bin_1m,,packed", "empty layout name"),
])
def test_parse_layouts_errors(text, words):
    with pytest.raises(ValueError, match=words) as err:
        parse_layouts(text)
    assert "\n" not in str(err.value)


def test_ingest_and_unknown_workloads_are_refused(built, params):
    con = connect(built["packed"], params)
    with pytest.raises(ValueError, match="no answer"):
        run("ingest", built["packed"], con, params)
    with pytest.raises(ValueError, match="unknown workload"):
        run("af_everything", built["packed"], con, params)
    con.close()


def test_remove_deletes_a_layout_but_never_the_lake(built, params, tmp_path):
    mine = build(DEFAULT_LAYOUTS[3], dataclasses.replace(params, work=tmp_path))  # bin_1m, a private copy
    remove(mine)
    assert not mine.root.exists()
    remove(built["curated"])
    assert all(f.exists() for f in built["curated"].files)


@pytest.mark.parametrize("workload", ["af_all_cohort", "genotype_matrix"])
def test_scattered_cohorts_take_the_set_paths(workload, built, params, engine, monkeypatch):
    """A cohort in many runs of sample_index (list_select on packed, a semi-join elsewhere); the
    thresholds are lowered so the tiny cohort takes those paths."""
    import genolake.benchmarks.suite.workloads as W

    monkeypatch.setattr(W, "_MAX_RUNS", 1)
    monkeypatch.setattr(W, "_MAX_LITERAL", 1)
    scattered = dataclasses.replace(params, cohort=(9, 2, 4, 7, 21))
    truth = reference(workload, scattered, engine)
    _assert_every_layout_matches(built, scattered, workload, truth)
