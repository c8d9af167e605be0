"""Shared fixtures. Heavy things (the simulated cohort) are made once per test session."""

from __future__ import annotations

import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pytest

sys.path.insert(0, str(Path(__file__).parent))

import genolake  # noqa: E402

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"
VCF_DIR = SHARED / "vcf"
INVALID_DIR = SHARED / "vcf-invalid"
CLINVAR_EXCERPT = SHARED / "clinvar" / "variant_summary_excerpt.txt.gz"
PANEL = SHARED / "panel" / "integrated_call_samples_v3.20130502.ALL.panel"
# every shared VCF but test-genotypes.vcf, which repeats a CPRA and must be refused
GOOD_VCFS = sorted(p for p in VCF_DIR.iterdir() if p.name != "test-genotypes.vcf" and not p.name.endswith((".tbi", ".csi")))


@pytest.fixture(params=sorted(__import__("genolake.etl.engines", fromlist=["ENGINES"]).ENGINES))
def etl_engine(request):
    """Each ETL engine of the registry: a test taking this runs once per engine (the conformance
    suite of the counting rule)."""
    return request.param


@pytest.fixture(scope="session")
def ingested(tmp_path_factory):
    """ingested(vcf, engine, **options) -> a lake holding `vcf` as dataset "d", ingested once per
    test session (a JVM engine's ingest costs seconds: the tests that only read share it)."""
    cache: dict = {}

    def get(vcf, engine: str, **options):
        key = (str(vcf), engine, tuple(sorted(options.items())))
        if key not in cache:
            lake = genolake.init_lake(tmp_path_factory.mktemp(f"{engine}-{Path(vcf).name[:20]}") / "lake")
            genolake.ingest_vcf(lake, vcf, "d", engine=engine, **options)
            cache[key] = lake
        return cache[key]

    return get


@pytest.fixture
def lake(tmp_path):
    return genolake.init_lake(tmp_path / "lake")


@pytest.fixture(scope="session")
def sim_cohort(tmp_path_factory):
    """A small simulated 1000G-like cohort (VCF.gz + .tbi, panel, ClinVar), made once."""
    out = tmp_path_factory.mktemp("sim")
    return genolake.simulate(out, n_samples=60, length_bp=400_000, seed=11, progress=False)


def lake_counts(lake, dataset: str, cohort: list[str] | None = None) -> dict[tuple, tuple[int, int]]:
    """AC and AN per split allele from the genotypes and samples tables by the DESIGN.md rule.

    Independent of the variants table's own counts: AC = sum(alt_dosage), AN = 2|C| - sum(2 - called)."""
    samples = lake.read("samples")
    samples = samples.filter(pc.equal(samples["dataset"], dataset))
    members = samples["sample_id"].to_pylist() if cohort is None else cohort
    variants = lake.read("variants", columns=["dataset", "contig", "pos", "allele_ord", "ref", "alt"])
    variants = variants.filter(pc.equal(variants["dataset"], dataset))
    geno = lake.read("genotypes", columns=["sample_id", "dataset", "contig", "pos", "allele_ord", "alt_dosage", "called_alleles"])
    geno = geno.filter(pc.and_(pc.equal(geno["dataset"], dataset), pc.is_in(geno["sample_id"], pa.array(members))))
    geno = geno.append_column("deficit", pc.subtract(pa.scalar(2, pa.int32()), geno["called_alleles"].cast(pa.int32())))
    agg = geno.group_by(["contig", "pos", "allele_ord"]).aggregate([("alt_dosage", "sum"), ("deficit", "sum")])
    by_key = {(c, p, o): (ac, d) for c, p, o, ac, d in zip(*(agg[x].to_pylist() for x in
              ("contig", "pos", "allele_ord", "alt_dosage_sum", "deficit_sum")))}
    n = len(members)
    out = {}
    for c, p, o, r, a in zip(*(variants[x].to_pylist() for x in ("contig", "pos", "allele_ord", "ref", "alt"))):
        ac, deficit = by_key.get((c, p, o), (0, 0))
        out[(c, p, r, a)] = (int(ac), 2 * n - int(deficit))
    return out


def curated_state(lake) -> dict:
    """What a reader could see: published versions and every file under curated/."""
    files = sorted(str(p.relative_to(lake.root)) for p in (lake.root / "curated").rglob("*") if p.is_file())
    return {"snapshot": lake.catalog.snapshot(), "files": files}


@pytest.fixture(scope="session")
def ql(tmp_path_factory, sim_cohort):
    """The six-dataset query lake of tests/test_query_frequencies.py (its docstring says what is in
    it), built once and read by every query test module."""
    from test_query_frequencies import build_query_lake

    q = build_query_lake(tmp_path_factory.mktemp("qlake"), sim_cohort)
    yield q
    q.engine.close()
