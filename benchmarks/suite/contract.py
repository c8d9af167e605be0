"""What the parts of the layout benchmark suite agree on: the run's parameters, the workloads and
their answer forms, and the result document the runner writes and the report reads.

Answer forms (pyarrow Tables, rows sorted by the listed key, integer columns int64). Every layout,
every peer and the reference (the curated tables through the project's analyses) answer in the same
form, so answers compare with `Table.equals`:

- "af_rsids", "af_region", "af_all", "af_all_cohort":
  contig, pos, ref, alt, ac, an — one row per split allele; sorted by pos, ref, alt.
  af_rsids: the alleles at the four rsIDs (every sample); af_region: every allele in `region`
  (every sample); af_all: every allele of the contig, every sample; af_all_cohort: every allele of
  the contig for the `cohort` (AC/AN over the cohort's samples only).
- "annotate_gene": contig, pos, ref, alt, ac, an, n_clinvar — the dataset's alleles in
  `gene_region` that have GRCh37 ClinVar records with the same CPRA, n_clinvar = how many such
  records; every sample.
- "sample_region": contig, pos, ref, alt, alt_dosage, called_alleles — the stored calls of `sample`
  in `sample_region`.
- "genotype_matrix": contig, pos, ref, alt, dosages — every allele in `matrix_region`; dosages is a
  list<int8> with one entry per cohort sample in cohort order: copies of the ALT, or -1 when the
  call has a missing allele (called_alleles < ploidy). The ML feature matrix.
- "ingest": no answer; the time to build the layout from the curated tables (and, for the
  reference, the lake's own VCF ingest).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

WORKLOADS = {
    "af_rsids": "allele frequencies of four rsIDs, every sample (the federated-query paper's Table 1)",
    "af_region": "allele frequencies of every site in a region, every sample",
    "annotate_gene": "a gene's variants joined with ClinVar (GRCh37), with AC/AN",
    "af_all": "allele frequencies of every site of the contig, every sample",
    "af_all_cohort": "allele frequencies of every site of the contig, for a 1,000-sample cohort",
    "sample_region": "one sample's stored calls in a region",
    "genotype_matrix": "a cohort x sites dosage matrix over a region (features for ML)",
    "ingest": "building the layout from the curated tables",
}
AF_COLUMNS = ("contig", "pos", "ref", "alt", "ac", "an")
SORT_KEY = ("pos", "ref", "alt")


@dataclass(frozen=True)
class BenchParams:
    """One run's data and workload parameters (chosen by the runner from the data, seeded)."""

    lake_root: Path  # the curated lake: the reference layout and the source of every other layout
    dataset: str
    contig: str
    vcf: Path  # the bgzipped, tabix-indexed VCF the lake was ingested from
    bcf: Path | None  # an indexed BCF copy for the bcftools peer (None: not made)
    samples: tuple[str, ...]  # every sample ID, in VCF column order (= samples.sample_index)
    cohort: tuple[int, ...]  # sample_index of the cohort: the first min(1000, n // 2) samples
    rsids: tuple[dict, ...]  # four picks: {"rsid", "contig", "pos", "ref", "alt"} (one allele each)
    region: tuple[str, int, int]  # (contig, start, end), 1-based inclusive
    gene: str | None  # the GRCh37 gene with most ClinVar records (None: no ClinVar in the lake)
    gene_region: tuple[str, int, int] | None
    sample: str  # sample_region's sample
    sample_region: tuple[str, int, int]
    matrix_region: tuple[str, int, int]
    work: Path  # scratch folder for layouts and peer files

    @property
    def cohort_ids(self) -> list[str]:
        return [self.samples[i] for i in self.cohort]


# The result document (JSON) the runner writes and report.py renders:
# {
#   "suite": "layouts", "name": str, "scale": str | None, "started_utc": str,
#   "hardware": {...}, "versions": {...}, "git": {...}, "settings": {...},
#   "data": {"vcf": str, "vcf_bytes": int, "bcf_bytes": int | None, "samples": int, "records": int,
#            "alleles": int, "stored_calls": int, "contig": str, "cohort_size": int},
#   "params": {"rsids": [...], "region": [...], "gene": ..., "gene_region": [...], "sample": ...,
#              "sample_region": [...], "matrix_region": [...]},
#   "workloads": {name: description},
#   "layouts": {name: {"description": str, "knobs": {...}, "bytes": int, "files": int,
#                      "build_s": float, "peak_rss_bytes": int | None, "reference": bool, "peer": bool}},
#   "results": [{"layout": str, "engine": "duckdb", "workload": str, "valid": bool,
#                "mismatch": str | None, "times_s": [float], "median_s": float, "p25_s": float,
#                "p75_s": float, "min_s": float, "max_s": float, "bytes_read": int | None,
#                "files_planned": int | None, "row_groups_planned": int | None,
#                "bytes_planned": int | None, "peak_rss_bytes": int | None}],
#   "peers": [{"peer": "bcftools-vcf" | "bcftools-bcf" | "hail", "workload": str,
#              "valid": bool | None, "mismatch": str | None, "cmd": str, "times_s": [float],
#              "median_s": float, "peak_rss_bytes": int | None, "note": str | None}],
#   "engine_results": [{"engine": "duckdb" | "spark", "workload": str, "valid": bool, "mismatch": str | None,
#                       "times_s": [float], "median_s": float, "p25_s", "p75_s", "min_s", "max_s": float,
#                       "connect_s": float}],  (only with --engines: the analyses on each query engine)
#   "recommendations": {workload: {"layout": str, "reason": str}},
# }
# A result with valid = false has its timing kept but is never recommended nor called fast.
