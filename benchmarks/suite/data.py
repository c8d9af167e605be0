"""The suite's data: a simulated 1000 Genomes-like cohort per scale (made once, cached) ingested into
a fresh lake, or a user's own lake; and the workload parameters drawn from it (seeded)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from genolake.benchmarks.common import preset_dir
from genolake.benchmarks.ingest import measure
from genolake.benchmarks.queries import (contig_span, pick_rsids, read_clinvar_plain, top_gene, vcf_contigs,
                                         vcf_samples)

from .contract import BenchParams

SCALES = {  # name: (samples, length_bp, seed)
    "tiny": (40, 300_000, 1),
    "small": (500, 5_000_000, 7),
    "chr22": (2504, 51_000_000, 22),
}
DATASET = "bench"
COHORT_SIZE = 1000


def scale_inputs(scale: str, data_dir: Path, log) -> dict:
    """VCF, panel and ClinVar of a scale: <data_dir>/<scale>/ when it holds cohort.chr22.vcf.gz, else
    simulated once into `data_dir` (deterministic by seed) and reused."""
    preset = preset_dir(Path(data_dir), scale)
    if preset is not None:
        return {"vcf": preset / "cohort.chr22.vcf.gz", "panel": _present(preset / "cohort.panel"),
                "clinvar": _present(preset / "variant_summary.txt.gz")}
    n, length, seed = SCALES[scale]
    cache = Path(data_dir).expanduser() / f"{scale}-n{n}-L{length}-s{seed}"
    vcf = cache / "cohort.chr22.vcf.gz"
    if not (vcf.is_file() and Path(str(vcf) + ".tbi").is_file() and (cache / "variant_summary.txt.gz").is_file()):
        import genolake

        log(f"[bench] simulating the {scale} cohort ({n} samples x {length:,} bp, seed {seed}) into {cache} ...")
        genolake.simulate(cache, n_samples=n, length_bp=length, seed=seed, progress=False)
    return {"vcf": vcf, "panel": cache / "cohort.panel", "clinvar": cache / "variant_summary.txt.gz"}


def _present(path: Path) -> Path | None:
    return path if path.is_file() else None


def build_lake(root: Path, inputs: dict, log) -> dict:
    """`genolake init` + `ingest vcf --panel` + `ingest clinvar` as separate processes, the VCF
    ingest timed whole with the peak RSS of its process tree (the suite's ingest workload)."""
    if root.exists():
        shutil.rmtree(root)
    cli = [sys.executable, "-m", "genolake", "--root", str(root)]
    subprocess.run(cli + ["init"], check=True, capture_output=True)
    cmd = cli + ["ingest", "vcf", str(inputs["vcf"]), "--dataset", DATASET]
    if inputs.get("panel"):
        cmd += ["--panel", str(inputs["panel"])]
    log(f"[bench] ingesting {inputs['vcf'].name} into a fresh lake ...")
    m = measure([cmd])
    if m.returncode != 0:
        raise SystemExit(f"ingest failed: {m.stderr.strip().splitlines()[-1:] or m.returncode}")
    if inputs.get("clinvar"):
        subprocess.run(cli + ["ingest", "clinvar", str(inputs["clinvar"])], check=True, capture_output=True)
    return {"wall_s": m.wall_s, "peak_rss_bytes": m.peak_rss_tree_bytes, "cmd": m.cmd}


def make_params(lake_root: Path, vcf: Path, clinvar: Path | None, work: Path, *, dataset: str = DATASET,
                seed: int = 22, cohort_size: int = COHORT_SIZE, bcf: Path | None = None) -> BenchParams:
    """Workload parameters from the data: the VCF's first contig, four rsIDs (one per quarter),
    a region of ~1/50 of the contig (1 Mb at chr22 scale), the gene with most GRCh37 ClinVar
    records, the middle sample, a matrix region of ~1/500 (100 kb), the first N samples."""
    contig_name, length, _n = vcf_contigs(vcf)[0]
    lo, hi = contig_span(vcf, contig_name, length)
    from genolake.lake.coords import normalize_contig

    contig = normalize_contig(contig_name)
    picks = pick_rsids(vcf, contig_name, lo, hi, seed)
    rsids = tuple({"rsid": p["rsid"], "contig": contig, "pos": p["pos"], "ref": p["ref"], "alt": p["alt"].split(",")[0]}
                  for p in picks)
    span = hi - lo + 1
    mid = lo + span // 2
    region = (contig, mid, mid + max(span // 50, 10_000) - 1)
    matrix = (contig, mid, mid + max(span // 500, 2_000) - 1)
    samples = tuple(vcf_samples(vcf))
    n = min(cohort_size, len(samples) // 2)
    gene = gene_region = None
    if clinvar is not None and Path(clinvar).is_file():
        import genolake
        from genolake.queries.genes import gene_region as _gene_region

        gene = top_gene(read_clinvar_plain(Path(clinvar)))
        with genolake.connect(genolake.open_lake(lake_root)) as engine:
            r = _gene_region(engine, gene, assembly="GRCh37")
        gene_region = (r.contig, int(r.start), int(r.end))
    return BenchParams(lake_root=Path(lake_root), dataset=dataset, contig=contig, vcf=Path(vcf), bcf=bcf,
                       samples=samples, cohort=tuple(range(n)), rsids=rsids, region=region, gene=gene,
                       gene_region=gene_region, sample=samples[len(samples) // 2], sample_region=region,
                       matrix_region=matrix, work=Path(work))


def data_facts(params: BenchParams) -> dict:
    """Sizes the report prints: files, samples, records, alleles, stored calls."""
    import genolake

    lake = genolake.open_lake(params.lake_root)
    with genolake.connect(lake) as engine:
        row = engine.sql(f"SELECT count(*) AS alleles FROM variants WHERE dataset = '{params.dataset}'").to_pylist()[0]
        calls = engine.sql(f"SELECT count(*) AS n FROM cpra_index WHERE dataset = '{params.dataset}'").to_pylist()[0]
    records = sum(n for _c, _l, n in vcf_contigs(params.vcf))
    return {"vcf": str(params.vcf), "vcf_bytes": params.vcf.stat().st_size,
            "bcf_bytes": params.bcf.stat().st_size if params.bcf and params.bcf.exists() else None,
            "samples": len(params.samples), "records": records, "alleles": row["alleles"],
            "stored_calls": calls["n"], "contig": params.contig, "cohort_size": len(params.cohort)}
