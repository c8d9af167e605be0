"""The spark ETL engine writes the tables the local engine writes, row for row and value for value:
on every shared VCF, and on a simulated 200-sample cohort with multi-allelic sites, missing calls
and a haploid chrX for its males; its AC/AN equal bcftools there too. A re-ingest is a no-op, and
a spark ingest killed part-way leaves nothing visible, no Java process, and re-runs cleanly.

The bad-input contract (`test_bad_input_cli.py`) and the counting rule's conformance suite
(`test_exact_counts.py`) run over every engine already; this module holds what is only about
engines agreeing with each other and about the JVM.
"""

from __future__ import annotations

import gzip
import signal
import subprocess
import sys
import time

import psutil
import pyarrow.compute as pc
import pytest

import genolake
from conftest import GOOD_VCFS, VCF_DIR, lake_counts
from lake_checks import assert_same_view, reader_view
from oracle import bcftools_counts

OPTIONS = {"workers": 1, "chunk_records": 3}  # the conformance suite's: its lakes are shared


@pytest.mark.parametrize("vcf", GOOD_VCFS, ids=lambda p: p.name)
def test_same_tables_as_local(vcf, ingested):
    assert_same_view(reader_view(ingested(vcf, "local", **OPTIONS)), reader_view(ingested(vcf, "spark", **OPTIONS)))


EDGE_VCF = (
    "##fileformat=VCFv4.2\n"
    '##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">\n'
    '##FORMAT=<ID=AD,Number=R,Type=Integer,Description="Allelic depths">\n'
    '##FORMAT=<ID=DP,Number=1,Type=Float,Description="declared Float: not stored">\n'
    "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\tA\tB\tC\n"
    # FILTER order as written (not sorted), two rsIDs (the first is kept), a partly missing call
    "chr1\t10\trs9;x;rs2\tA\tC\t.\tq10;s50\t.\tGT:AD:DP\t./1:3,1:2.5\t0/0:4,0:1\t1/1/1:.:.\n"
    # lower-case REF, three ALTs listed out of order, a phased call, a missing sample column
    "chr1\t12\t.\ta\tT,G,<DEL>\t3.5\tPASS\t.\tGT\t1|2\t.\t3|0\n"
    "chr1\t12\t.\tAC\tA\t7\t.\t.\tGT:AD\t0/1:5\t0|0:3,0\t./.:.\n"
    # a record without GT: every call is missing
    "chrX\t5\trs1\tG\tA\t.\t.\t.\tAD\t1,2\t3,4\t.\n"
)


@pytest.mark.parametrize("kind", ["edge-cases", "sites-only"])
def test_same_tables_on_edge_cases(kind, tmp_path):
    text = EDGE_VCF
    if kind == "sites-only":
        text = "".join("\t".join(ln.split("\t")[:8]) + "\n" for ln in EDGE_VCF.splitlines())
    vcf = tmp_path / f"{kind}.vcf"
    vcf.write_text(text)
    views = []
    for engine in ("local", "spark"):
        lake = genolake.init_lake(tmp_path / engine)
        genolake.ingest_vcf(lake, vcf, "d", workers=1, engine=engine)
        views.append(reader_view(lake))
    assert views[0]["variants"].num_rows == 6
    assert_same_view(*views)


def test_repeated_cpra_refused_by_both_with_one_message(tmp_path):
    messages = []
    for engine in ("local", "spark"):
        lake = genolake.init_lake(tmp_path / engine)
        with pytest.raises(genolake.QuarantinedError) as err:
            genolake.ingest_vcf(lake, VCF_DIR / "test-genotypes.vcf", "d", workers=1, engine=engine)
        messages.append(str(err.value).split(" (quarantined:")[0])
        assert all(lake.read(t).num_rows == 0 for t in ("variants", "genotypes"))
    assert messages[0] == messages[1]
    assert "test-genotypes.vcf:7: CPRA 1-8466747-A-C is repeated in records at lines 6 and 7" in messages[0]


# ---------------------------------------------------------------- a 200-sample cohort with a haploid chrX

def _haploid(call: str) -> str:
    return call.split("|")[0].split("/")[0]


@pytest.fixture(scope="module")
def cohort_xy(tmp_path_factory):
    """chr22 (diploid) then chrX where the panel's males carry one allele, in one bgzipped VCF."""
    out = tmp_path_factory.mktemp("cohort_xy")
    auto = genolake.simulate(out / "22", n_samples=200, length_bp=150_000, seed=21, progress=False)
    x = genolake.simulate(out / "X", n_samples=200, length_bp=80_000, seed=22, contig="X", progress=False)
    sexes = {}
    for line in auto.panel.read_text().splitlines()[1:]:
        f = line.split("\t")
        sexes[f[0]] = f[3]
    a_lines = gzip.decompress(auto.vcf.read_bytes()).decode().splitlines()
    x_lines = gzip.decompress(x.vcf.read_bytes()).decode().splitlines()
    head = [ln for ln in a_lines if ln.startswith("##")]
    head += [ln for ln in x_lines if ln.startswith("##contig")]
    chrom = next(ln for ln in a_lines if ln.startswith("#CHROM"))
    assert chrom == next(ln for ln in x_lines if ln.startswith("#CHROM"))  # the same samples
    samples = chrom.split("\t")[9:]
    male = [sexes[s] == "male" for s in samples]
    assert 0 < sum(male) < len(samples)
    body = [ln for ln in a_lines if not ln.startswith("#")]
    for ln in x_lines:
        if ln.startswith("#"):
            continue
        f = ln.split("\t")
        f[9:] = [_haploid(c) if m else c for c, m in zip(f[9:], male)]
        body.append("\t".join(f))
    text = out / "cohort_xy.vcf"
    text.write_text("\n".join(head + [chrom] + body) + "\n")
    subprocess.run(["bgzip", "-f", str(text)], check=True)
    return out / "cohort_xy.vcf.gz", auto.panel, samples


def test_cohort_with_haploid_x_same_tables_and_bcftools(cohort_xy, tmp_path):
    vcf, panel, samples = cohort_xy
    lakes = {}
    for engine in ("local", "spark"):
        lakes[engine] = genolake.init_lake(tmp_path / engine)
        genolake.ingest_vcf(lakes[engine], vcf, "c", panel=panel, workers=2, engine=engine)
    assert_same_view(reader_view(lakes["local"]), reader_view(lakes["spark"]))
    spark = lakes["spark"]
    v = spark.read("variants")
    assert set(v["contig"].to_pylist()) == {"22", "X"}
    assert pc.max(v["n_alt"]).as_py() >= 2 and pc.sum(v["n_missing"]).as_py() > 0
    g = spark.read("genotypes")
    haploid_x = pc.and_(pc.equal(g["contig"], "X"), pc.equal(g["ploidy"], 1))
    assert pc.sum(haploid_x.cast("int32")).as_py() > 0
    for cohort in (None, samples[:37], samples[1::2]):
        assert lake_counts(spark, "c", cohort) == bcftools_counts(vcf, tmp_path / "bcf", cohort)


def test_reingest_is_a_noop(tmp_path):
    lake = genolake.init_lake(tmp_path / "lake")
    vcf = VCF_DIR / "haploid.vcf"
    first = genolake.ingest_vcf(lake, vcf, "d", engine="spark")
    files = sorted(p.relative_to(lake.root) for p in (lake.root / "curated").rglob("*") if p.is_file())
    second = genolake.ingest_vcf(lake, vcf, "d", engine="spark")
    assert (first.status, second.status) == ("succeeded", "unchanged")
    assert second.versions == first.versions
    assert sorted(p.relative_to(lake.root) for p in (lake.root / "curated").rglob("*") if p.is_file()) == files
    assert {r.engine for r in lake.catalog.runs()} == {"spark"}


# ---------------------------------------------------------------- SIGKILL while Spark works

_SPARK_INGEST = "import sys, genolake\ngenolake.ingest_vcf(sys.argv[1], sys.argv[2], 'k', workers=2, engine='spark')\n"


def _java_descendants(proc: psutil.Process) -> list[psutil.Process]:
    try:
        return [c for c in proc.children(recursive=True) if "java" in c.name()]
    except psutil.NoSuchProcess:
        return []


def test_sigkill_mid_spark_ingest(tmp_path, cohort_xy):
    vcf = cohort_xy[0]
    root = tmp_path / "lake"
    lake = genolake.init_lake(root)
    genolake.ingest_vcf(lake, VCF_DIR / "haploid.vcf", "seed", workers=1)
    before = reader_view(lake)
    p = subprocess.Popen([sys.executable, "-c", _SPARK_INGEST, str(root), str(vcf)],
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    proc = psutil.Process(p.pid)
    jvms: list[psutil.Process] = []
    try:
        # kill once Spark has started writing the run's Parquet (the JVM is busy, files are half there)
        deadline = time.monotonic() + 240
        while not list((root / "_staging").rglob("spark/out/*")):
            assert p.poll() is None, p.stderr.read().decode()[-2000:]
            assert time.monotonic() < deadline, "the spark ingest never reached its writes"
            jvms = jvms or _java_descendants(proc)
            time.sleep(0.05)
        jvms = jvms or _java_descendants(proc)
    finally:
        p.send_signal(signal.SIGKILL)
        p.wait()
        p.stderr.close()
    assert jvms, "the ingest ran no JVM"
    gone, alive = psutil.wait_procs(jvms, timeout=30)
    for j in alive:  # do not leave it behind for the rest of the session, then fail
        j.kill()
    assert not alive, "a Java process survived the SIGKILL of its ingest"

    assert_same_view(reader_view(genolake.open_lake(root)), before)  # nothing of the killed run is visible
    again = genolake.ingest_vcf(root, vcf, "k", workers=1, engine="spark")
    assert again.status == "succeeded"
    ref = genolake.init_lake(tmp_path / "ref")
    genolake.ingest_vcf(ref, VCF_DIR / "haploid.vcf", "seed", workers=1)
    genolake.ingest_vcf(ref, vcf, "k", workers=1)
    assert_same_view(reader_view(genolake.open_lake(root)), reader_view(ref))


def test_without_the_extra_one_line_says_how_to_install(tmp_path):
    code = ("import sys; sys.modules['hail'] = None\n"
            "from genolake import cli\n"
            f"sys.exit(cli.main(['--root', {str(tmp_path / 'lake')!r}, 'ingest', 'vcf', {str(GOOD_VCFS[0])!r}, "
            "'--dataset', 'd', '--engine', 'spark']))\n")
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert p.returncode == 2, p.stderr
    assert p.stderr.count("\n") == 1 and "Traceback" not in p.stderr
    assert "pip install 'genolake[spark]'" in p.stderr


def test_clinvar_and_panel_ingests_equal_local(tmp_path):
    from conftest import CLINVAR_EXCERPT, PANEL

    views = []
    for engine in ("local", "spark"):
        lake = genolake.init_lake(tmp_path / engine)
        genolake.ingest_vcf(lake, VCF_DIR / "1000genomes-phase3-1row.vcf", "g", panel=PANEL, workers=1, engine=engine)
        genolake.ingest_vcf(lake, VCF_DIR / "sample.vcf", "s", workers=1)
        genolake.ingest_panel(lake, PANEL, "g", engine=engine)
        genolake.ingest_clinvar(lake, CLINVAR_EXCERPT, engine=engine)
        assert {r.engine for r in lake.catalog.runs() if r.kind in ("clinvar", "panel")} == {engine}
        views.append(reader_view(lake))
    assert views[0]["clinvar"].num_rows > 0 and views[0]["samples"].num_rows > 2000
    assert_same_view(*views)
