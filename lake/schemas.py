"""Arrow schemas of the curated tables (DESIGN.md "Curated tables") and how each is laid out.

Genotypes and cpra_index join variants on (dataset, contig, pos, allele_ord): `allele_ord` is the
1-based rank of (ref, alt) among the dataset's split alleles at contig:pos. It keeps the sparse
call tables down to a few bits per row where ref/alt strings would cost bytes.
"""

from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa


# Rows per Parquet row group, unless a table says otherwise. A reader prunes whole row groups by
# their min/max statistics and decodes every projected column of each row group it keeps (neither
# DuckDB nor pyarrow uses the Parquet page index), so a point lookup costs about one row group per
# key. Lookup tables get small row groups; genotypes and samples, read whole, keep 1M.
# Measured on the chr22 cohort (benchmarks/queries.py; warm engine):
# - rsid_index (one file sorted by rsid): 4k rows -> one rsID read directly in ~0.4 ms (16k: ~1 ms;
#   as SQL, 1M: 34 ms, 16k: 3.9 ms); the file is no bigger;
# - variants (sorted by pos), 1M -> 16k: one site 17 -> 7 ms as SQL, ~1 ms read directly; +1.0 MB
#   (+6%, with cpra/rsid stored plain: delta_io._PLAIN_STRINGS; with dictionaries it was +19%);
# - cpra_index (1 Mb bins, ~3.5M rows each): a cohort lookup decodes one row group (64k: ~0.8 ms,
#   16k: ~0.3 ms) while the whole-contig cohort scan slows as groups shrink (64k -> 16k: +6% in
#   README run D, +19% in an earlier run). 16k: the 4-rsID cohort lookup 0.58x -> 0.34x bcftools
#   (target <= 0.5x), the every-site cohort scan 26x -> 21x (target >= 30x, missed either way);
# - clinvar: a gene's records by pos (the real variant_summary has ~3M rows per assembly).
DEFAULT_ROW_GROUP_ROWS = 1_000_000


@dataclass(frozen=True)
class TableSpec:
    name: str
    schema: pa.Schema
    partition_by: tuple[str, ...]
    sort_by: tuple[str, ...]
    description: str
    row_group_rows: int = DEFAULT_ROW_GROUP_ROWS  # rows per Parquet row group in this table's files

    @property
    def data_columns(self) -> list[str]:
        """Columns stored inside the Parquet files (partition columns live in the paths)."""
        return [f.name for f in self.schema if f.name not in self.partition_by]


def _f(name, type_, nullable=True, doc=""):
    return pa.field(name, type_, nullable=nullable, metadata={"doc": doc} if doc else None)


SAMPLES = TableSpec(
    "samples",
    pa.schema([
        _f("dataset", pa.string(), False),
        _f("sample_id", pa.string(), False),
        _f("sample_index", pa.int32(), False, "0-based column of the sample in the callset"),
        _f("population", pa.string()),
        _f("super_population", pa.string()),
        _f("sex", pa.string(), doc="as the panel gives it (male/female), null when unknown"),
    ]),
    (), ("dataset", "sample_id"),
    "one row per sample in a dataset",
)

VARIANTS = TableSpec(
    "variants",
    pa.schema([
        _f("dataset", pa.string(), False),
        _f("contig", pa.string(), False),
        _f("pos", pa.int32(), False, "1-based"),
        _f("allele_ord", pa.int16(), False),
        _f("ref", pa.string(), False),
        _f("alt", pa.string(), False),
        _f("cpra", pa.string(), False),
        _f("rsid", pa.string(), doc="first rs-prefixed entry of the ID column"),
        _f("id", pa.string(), doc="ID entries other than the rsid (';'-joined), null when none"),
        _f("qual", pa.float32()),
        _f("filter", pa.string(), doc="PASS, ';'-joined filters, or null for '.'"),
        _f("alt_index", pa.int16(), False, "1-based index of this ALT in the record"),
        _f("n_alt", pa.int16(), False, "ALT alleles in the unsplit record"),
        _f("ac", pa.int32(), False),
        _f("an", pa.int32(), False),
        _f("af", pa.float64(), doc="ac/an, null when an = 0"),
        _f("n_het", pa.int32(), False, "fully called, 0 < copies of this ALT < ploidy"),
        _f("n_hom_alt", pa.int32(), False, "fully called, every allele is this ALT"),
        _f("n_missing", pa.int32(), False, "calls with at least one missing allele"),
    ]),
    ("contig",), ("pos",),
    "one row per split ALT allele of a dataset's callset, with whole-callset counts",
    row_group_rows=16_384,
)

_CALL_FIELDS = [
    _f("alt_dosage", pa.int8(), False, "copies of this ALT in the call"),
    _f("called_alleles", pa.int8(), False, "non-missing alleles in the call"),
    _f("ploidy", pa.int8(), False),
    _f("phased", pa.bool_(), False, "alleles joined by '|'; false for a one-allele call"),
]

GENOTYPES = TableSpec(
    "genotypes",
    pa.schema([
        _f("sample_id", pa.string(), False),
        _f("dataset", pa.string(), False),
        _f("contig", pa.string(), False),
        _f("pos", pa.int32(), False),
        _f("allele_ord", pa.int16(), False),
        *_CALL_FIELDS,
        _f("dp", pa.int32()),
        _f("gq", pa.int32()),
        _f("ad_ref", pa.int32()),
        _f("ad_alt", pa.int32(), doc="AD of this ALT"),
    ]),
    ("sample_id",), ("contig", "pos"),
    "stored calls: every call except diploid, fully called, zero copies of the ALT",
)

CPRA_INDEX = TableSpec(
    "cpra_index",
    pa.schema([
        _f("contig", pa.string(), False),
        _f("pos_bin", pa.int32(), False, "pos rounded down to the lake's bin size"),
        _f("dataset", pa.string(), False),
        _f("pos", pa.int32(), False),
        _f("allele_ord", pa.int16(), False),
        _f("ref", pa.string(), False),
        _f("alt", pa.string(), False),
        _f("sample_index", pa.int32(), False, "the sample's column in the callset: samples.sample_index"),
        *_CALL_FIELDS,
    ]),
    ("contig", "pos_bin"), ("pos",),
    "the stored calls again, partitioned by location for CPRA lookups",
    # 16k, not 64k: see the comment at the top (12 % more bytes than 64k: 122 vs 109 MiB at chr22)
    row_group_rows=16_384,
)

RSID_INDEX = TableSpec(
    "rsid_index",
    pa.schema([
        _f("rsid", pa.string(), False),
        _f("dataset", pa.string(), False),
        _f("contig", pa.string(), False),
        _f("pos", pa.int32(), False),
        _f("allele_ord", pa.int16(), False),
        _f("ref", pa.string(), False),
        _f("alt", pa.string(), False),
        _f("cpra", pa.string(), False),
    ]),
    (), ("rsid",),
    "rsID to CPRA",
    row_group_rows=4_096,
)

CLINVAR = TableSpec(
    "clinvar",
    pa.schema([
        _f("assembly", pa.string(), False, "GRCh37, GRCh38, NCBI36, ..."),
        _f("contig", pa.string(), doc="normalised Chromosome"),
        _f("pos", pa.int32(), doc="PositionVCF, else Start"),
        _f("ref", pa.string(), doc="ReferenceAlleleVCF, null for 'na' or absent"),
        _f("alt", pa.string(), doc="AlternateAlleleVCF, null for 'na' or absent"),
        _f("cpra", pa.string(), doc="null unless VCF-style alleles are given"),
        _f("rsid", pa.string(), doc="rs-prefixed RS# (dbSNP); null for -1"),
        _f("allele_id", pa.int64()),
        _f("variation_id", pa.int64()),
        _f("type", pa.string()),
        _f("name", pa.string()),
        _f("gene_id", pa.int64()),
        _f("gene_symbol", pa.string()),
        _f("hgnc_id", pa.string()),
        _f("clinical_significance", pa.string()),
        _f("clin_sig_simple", pa.int32()),
        _f("last_evaluated", pa.string()),
        _f("phenotype_ids", pa.string()),
        _f("phenotype_list", pa.string()),
        _f("origin", pa.string()),
        _f("origin_simple", pa.string()),
        _f("review_status", pa.string()),
        _f("number_submitters", pa.int32()),
        _f("chromosome_accession", pa.string()),
        _f("start", pa.int64()),
        _f("stop", pa.int64()),
        _f("source_line", pa.int64(), False, "line in the source file"),
    ]),
    ("assembly",), ("contig", "pos"),
    "ClinVar variant_summary records, one per assembly",
    row_group_rows=65_536,
)

PREDICTIONS = TableSpec(
    "predictions",
    pa.schema([
        _f("model_id", pa.string(), False, "the registered model (genolake ml list)"),
        _f("task", pa.string(), False, "its feature set: ancestry, clinvar_conflict"),
        _f("run_id", pa.string(), False, "the `ml predict` run (genolake catalog runs)"),
        _f("dataset", pa.string(), doc="the dataset whose rows were predicted, when the task has one"),
        _f("cohort", pa.string(), doc="the cohort expression, when given"),
        _f("row_id", pa.string(), False, "sample_id (ancestry) or the variant's key (clinvar_conflict)"),
        _f("predicted", pa.string(), False, "the predicted label"),
        _f("probability", pa.float64(), doc="the model's probability of the predicted label"),
        _f("probabilities", pa.string(), doc="JSON {label: probability} over every label"),
        _f("lake_snapshot", pa.int64(), doc="the published snapshot the features were read at"),
        _f("predicted_at", pa.string(), False, "UTC, ISO 8601"),
    ]),
    (), ("model_id", "run_id", "row_id"),
    "model predictions, one row per predicted row per `ml predict` run",
)

ALL_TABLES: dict[str, TableSpec] = {
    t.name: t for t in (SAMPLES, VARIANTS, GENOTYPES, CPRA_INDEX, RSID_INDEX, CLINVAR, PREDICTIONS)
}
