"""ClinVar annotation of a callset: the "data query" and the drug-response runbook.

`annotate` — the variants of a region or gene, LEFT-joined with ClinVar on CPRA.
`drug_response_report` — genotype frequencies, in a cohort, of ClinVar "drug response" variants.

Both are written once in DuckDB's dialect and sent through `queries.sql.transpile`, and both filter
by location before joining (the partition column `contig`, a `pos` range or `pos IN (...)` that
prunes row groups, `pos_bin` partitions of cpra_index, the `assembly` partition of clinvar), so a
gene-sized question reads a few row groups, not the callset.
"""

from __future__ import annotations

import numbers
import operator
from collections import defaultdict

import pyarrow as pa

from genolake.lake.errors import QueryError, QueryNotFound

from ..cohorts import as_cohort, cohort_sql, resolve
from ..genes import gene_region
from ..regions import parse_region
from ..provenance import analysis
from ..sql import in_list, lit, run
from .frequencies import assembly_warning, check_region_contig, with_warning

__all__ = ["annotate", "drug_response_report", "ANNOTATE_SCHEMA", "DRUG_RESPONSE_SCHEMA", "genotype_label"]

ANNOTATE_SCHEMA = pa.schema([
    ("dataset", pa.string()), ("contig", pa.string()), ("pos", pa.int32()), ("ref", pa.string()),
    ("alt", pa.string()), ("cpra", pa.string()), ("rsid", pa.string()), ("af", pa.float64()),
    ("ac", pa.int32()), ("an", pa.int32()), ("gene_symbol", pa.string()),
    ("clinical_significance", pa.string()), ("review_status", pa.string()), ("phenotype_list", pa.string()),
    ("variation_id", pa.int64()), ("allele_id", pa.int64()), ("clinvar_rsid", pa.string()),
])

DRUG_RESPONSE_SCHEMA = pa.schema([
    ("cpra", pa.string()), ("rsid", pa.string()), ("gene_symbol", pa.string()),
    ("clinical_significance", pa.string()), ("phenotype_list", pa.string()), ("genotype", pa.string()),
    ("n_samples", pa.int64()), ("fraction", pa.float64()), ("dataset", pa.string()),
])


def _sql(engine, query: str) -> pa.Table:
    return run(engine, query)


def _datasets(engine, dataset) -> list[str] | None:
    """None (every dataset) or the list asked for, each checked to exist."""
    if dataset is None:
        return None
    wanted = [dataset] if isinstance(dataset, str) else list(dataset)
    if not wanted:
        raise QueryError("no dataset given")
    have = set(_sql(engine, "SELECT DISTINCT dataset FROM samples").column(0).to_pylist())
    missing = [d for d in wanted if d not in have]
    if missing:
        raise QueryNotFound(f"unknown dataset {missing[0]!r}; datasets in the lake: "
                         f"{', '.join(sorted(have)) or 'none (ingest a VCF first)'}")
    return wanted


@analysis
def annotate(engine, *, region=None, gene=None, dataset=None, assembly: str = "GRCh37",
             genes_file=None) -> pa.Table:
    """Variants of `dataset` (None: every dataset; a name or a list) in `region` (a Region or
    "22:16000000-17000000") or in `gene` (placed by `genes.gene_region`), LEFT-joined with the
    ClinVar records of `assembly` on CPRA. A variant is in the region when its POS is (as
    `bcftools view -t`). One row per variant and matching ClinVar record; ClinVar columns are null
    for a variant ClinVar does not have; ClinVar records without VCF-style alleles never match.
    Sorted by contig, pos, alt, dataset (then ref, variation_id, allele_id).

    `genes_file` without a region or gene: every gene of the file, one query; the answer has a
    first column `gene` (the file's symbol) and is sorted by gene position, then as above."""
    warn = assembly_warning(engine, None if dataset is None else ([dataset] if isinstance(dataset, str) else dataset),
                            assembly)
    if region is None and gene is None and genes_file is not None:
        return with_warning(_annotate_genes_file(engine, genes_file, dataset, assembly), warn)
    if (region is None) == (gene is None):
        raise QueryError("give exactly one of a region or a gene")
    reg = (gene_region(engine, gene, assembly=assembly, genes_file=genes_file) if gene is not None
           else check_region_contig(engine, parse_region(region)))
    datasets = _datasets(engine, dataset)
    ds_filter = f"AND dataset IN {in_list(datasets)}" if datasets is not None else ""
    where = f"contig = {lit(reg.contig)} AND pos BETWEEN {int(reg.start)} AND {int(reg.end)}"
    query = f"""
        WITH v AS (
            SELECT dataset, contig, pos, ref, alt, cpra, rsid, af, ac, an
            FROM variants
            WHERE {where} {ds_filter}
        ), c AS (
            SELECT contig, pos, ref, alt, gene_symbol, clinical_significance, review_status,
                   phenotype_list, variation_id, allele_id, rsid AS clinvar_rsid
            FROM clinvar
            WHERE assembly = {lit(assembly)} AND {where} AND cpra IS NOT NULL
        )
        SELECT v.dataset, v.contig, v.pos, v.ref, v.alt, v.cpra, v.rsid, v.af, v.ac, v.an,
               c.gene_symbol, c.clinical_significance, c.review_status, c.phenotype_list,
               c.variation_id, c.allele_id, c.clinvar_rsid
        FROM v LEFT JOIN c
          ON v.contig = c.contig AND v.pos = c.pos AND v.ref = c.ref AND v.alt = c.alt
        ORDER BY v.contig, v.pos, v.alt, v.dataset, v.ref, c.variation_id, c.allele_id"""
    return with_warning(_sql(engine, query).cast(ANNOTATE_SCHEMA), warn)


def _annotate_genes_file(engine, genes_file, dataset, assembly: str) -> pa.Table:
    from ..genes import gene_regions

    genes = gene_regions(genes_file)
    schema = pa.schema([pa.field("gene", pa.string()), *ANNOTATE_SCHEMA])
    if not genes:
        raise QueryError(f"gene file {genes_file} lists no genes")
    datasets = _datasets(engine, dataset)
    ds_filter = f"AND v.dataset IN {in_list(datasets)}" if datasets is not None else ""
    rows = ", ".join(f"({lit(sym)}, {i}, {lit(r.contig)}, {int(r.start)}, {int(r.end)})"
                     for i, (sym, r) in enumerate(genes.items()))
    near = " OR ".join(f"(x.contig = {lit(c)} AND x.pos BETWEEN {min(r.start for r in rs)} AND {max(r.end for r in rs)})"
                       for c, rs in _by_contig(genes.values()).items())
    query = f"""
        WITH g(gene, gene_order, contig, lo, hi) AS (VALUES {rows}),
        v AS (
            SELECT g.gene, g.gene_order, x.dataset, x.contig, x.pos, x.ref, x.alt, x.cpra, x.rsid, x.af, x.ac, x.an
            FROM variants x JOIN g ON x.contig = g.contig AND x.pos BETWEEN g.lo AND g.hi
            WHERE ({near})
        ), c AS (
            SELECT contig, pos, ref, alt, gene_symbol, clinical_significance, review_status,
                   phenotype_list, variation_id, allele_id, rsid AS clinvar_rsid
            FROM clinvar x
            WHERE assembly = {lit(assembly)} AND ({near}) AND cpra IS NOT NULL
        )
        SELECT v.gene, v.dataset, v.contig, v.pos, v.ref, v.alt, v.cpra, v.rsid, v.af, v.ac, v.an,
               c.gene_symbol, c.clinical_significance, c.review_status, c.phenotype_list,
               c.variation_id, c.allele_id, c.clinvar_rsid
        FROM v LEFT JOIN c
          ON v.contig = c.contig AND v.pos = c.pos AND v.ref = c.ref AND v.alt = c.alt
        WHERE TRUE {ds_filter}
        ORDER BY v.gene_order, v.contig, v.pos, v.alt, v.dataset, v.ref, c.variation_id, c.allele_id"""
    return _sql(engine, query).cast(schema)


def _by_contig(regions) -> dict[str, list]:
    out: dict[str, list] = defaultdict(list)
    for r in regions:
        out[r.contig].append(r)
    return out


# ---------------------------------------------------------------------------- drug response


def genotype_label(ploidy: int, called: int, dosage: int) -> str:
    """The call as the split allele sees it (as `bcftools norm -m-` writes it: other ALTs count as
    0), unphased, missing alleles first: "0/1", "1/1", "./1", "./.", "1" (haploid), "0/0/1"."""
    if ploidy <= 0:  # no GT at all: every call missing, counted as diploid (DESIGN.md AN rule)
        return "./."
    alleles = ["."] * (ploidy - called) + ["0"] * (called - dosage) + ["1"] * dosage
    return "/".join(alleles)


def _cohort_predicate(cohort, datasets) -> str:
    preds = [] if cohort.is_everyone else [f"({cohort_sql(cohort)})"]
    if datasets is not None:
        preds.append(f"dataset IN {in_list(datasets)}")
    return " AND ".join(preds) or "TRUE"


RANKED_BY_KEY = b"genolake.ranked_by"
RANKED_BY = ("variants with carriers first, by clinical significance (pathogenic > drug response > other), "
             "then carriers in the cohort; reference-only sites last")
_TIERS = (("pathogenic", 0), ("drug response", 1))


def significance_tier(significance: str | None) -> int:
    """0: pathogenic or likely pathogenic (not "conflicting"), 1: drug response, 2: anything else."""
    text = (significance or "").lower()
    parts = [p.strip() for p in text.replace("/", ";").replace(",", ";").split(";")]
    for word, tier in _TIERS:
        if any(p.endswith(word) and "conflicting" not in p and "benign" not in p for p in parts):
            return tier
    return len(_TIERS)


def _carries(genotype: str) -> bool:
    return "1" in genotype.split("/")


def _join_text(values, sep: str) -> str | None:
    vals = sorted({v for v in values if v is not None})
    return sep.join(vals) if vals else None


# Point lookups by position. An IN list alone does not prune row groups (DuckDB runs a long one as
# a hash join over the column) and an OR of ranges is not pushed into the scan, so each lookup is
# a UNION ALL of arms, one per partition the positions fall in (a contig of `variants`, a
# (contig, pos_bin) of `cpra_index`): `contig = .. [AND pos_bin = ..] AND pos BETWEEN lo AND hi
# AND pos IN (...)`. Partitions are disjoint files, so no file is read twice; the range prunes the
# row groups outside the partition's targets by their statistics.


def _partition_arms(select: str, by_contig: dict[str, set[int]], *, bin_size: int | None = None) -> str:
    """`select` (a SELECT ... WHERE ...) restricted to the positions, one UNION ALL arm per partition."""
    arms = []
    for ctg in sorted(by_contig):
        groups: dict[int | None, list[int]] = defaultdict(list)
        for p in sorted(by_contig[ctg]):
            groups[p // bin_size * bin_size if bin_size else None].append(p)
        for b, ps in sorted(groups.items(), key=lambda kv: kv[1][0]):
            cond = f"contig = {lit(ctg)}" + (f" AND pos_bin = {b}" if b is not None else "")
            cond += f" AND pos BETWEEN {ps[0]} AND {ps[-1]} AND pos IN {in_list(ps)}"
            arms.append(f"{select} AND {cond}")
    return "\nUNION ALL\n".join(arms)


@analysis
def drug_response_report(engine, *, cohort=None, dataset=None, assembly: str = "GRCh37",
                         top: int = 50) -> pa.Table:
    """Genotype frequencies in `cohort` (a Cohort, cohort text such as "super_pop=EUR", a list of
    sample IDs, or None for every sample), within `dataset` (a name, a list, None: all), of the ClinVar `assembly` variants whose clinical
    significance mentions "response" (case-insensitive: "drug response", "Pathogenic; drug response").

    One row per (dataset, variant, genotype) with n_samples > 0. Genotypes are derived per sample
    from the stored calls (`genotype_label`); a cohort sample without a stored call for the allele
    is diploid, fully called, without it: "0/0". So for every variant the counts of a dataset sum
    to the cohort's size in that dataset (`fraction` = n_samples / that size). A ClinVar variant
    absent from a dataset's callset gets no rows for that dataset. Only the drug-response records
    describe a variant; several sharing a CPRA are one variant (their rsIDs, genes, significances
    and phenotypes joined, distinct, sorted). Ranked (RANKED_BY, also in the schema metadata under
    RANKED_BY_KEY): variants whose allele someone in the cohort carries first, by clinical
    significance (`significance_tier`), then by the number of carriers, then cpra, dataset; sites
    where everyone is reference last. Within a variant: carrier genotypes first, commonest first.
    At most `top` rows."""
    top = operator.index(top) if not isinstance(top, bool) and isinstance(top, numbers.Integral) else top
    if not isinstance(top, int) or isinstance(top, bool) or top < 1:
        raise QueryError(f"top must be a positive integer, got {top!r}")
    datasets = _datasets(engine, dataset)
    cohort = as_cohort(cohort)
    resolve(engine, cohort)  # QueryError: no samples in the lake, unknown population/sample, empty cohort
    members = _cohort_predicate(cohort, datasets)
    sizes = {r["dataset"]: r["n"] for r in _sql(
        engine, f"SELECT dataset, count(*) AS n FROM samples WHERE {members} GROUP BY dataset").to_pylist()}
    if not sizes:
        where = f" in dataset {', '.join(map(repr, datasets))}" if datasets is not None else ""
        raise QueryError(f"the cohort has no samples{where}")

    # 1. ClinVar drug-response records with VCF-style alleles (the assembly partition only)
    records = _sql(engine, f"""
        SELECT contig, pos, ref, alt, cpra, rsid, gene_symbol, clinical_significance, phenotype_list
        FROM clinvar
        WHERE assembly = {lit(assembly)} AND cpra IS NOT NULL
          AND lower(clinical_significance) LIKE '%response%'""").to_pylist()
    clin: dict[str, dict] = {}
    for r in records:
        clin.setdefault(r["cpra"], {"contig": r["contig"], "pos": r["pos"], "recs": []})["recs"].append(r)
    empty = DRUG_RESPONSE_SCHEMA.empty_table()
    if not clin:
        return with_warning(empty, assembly_warning(engine, sorted(sizes), assembly))

    # 2. which of them each dataset's callset has
    in_datasets = in_list(sorted(sizes))
    by_contig: dict[str, set[int]] = defaultdict(set)
    for c in clin.values():
        by_contig[c["contig"]].add(int(c["pos"]))
    targets = _sql(engine, _partition_arms(
        "SELECT dataset, contig, pos, allele_ord, cpra, rsid FROM variants WHERE dataset IN " + in_datasets,
        by_contig)).to_pylist()
    targets = [t for t in targets if t["cpra"] in clin]
    if not targets:
        return with_warning(empty, assembly_warning(engine, sorted(sizes), assembly))

    # 3. stored calls of the cohort at those alleles (cpra_index: contig + pos_bin partitions)
    hit: dict[str, set[int]] = defaultdict(set)
    for t in targets:
        hit[t["contig"]].add(int(t["pos"]))
    calls_at = _partition_arms(
        "SELECT dataset, sample_index, contig, pos, allele_ord, ploidy, called_alleles, alt_dosage "
        "FROM cpra_index WHERE dataset IN " + in_datasets,
        hit, bin_size=engine.pos_bin_size)
    # every stored row belongs to a sample of its dataset: only a cohort needs the samples join
    join = "" if cohort.is_everyone else f"""
        JOIN (SELECT dataset, sample_index FROM samples WHERE {members}) s
          ON x.dataset = s.dataset AND x.sample_index = s.sample_index"""
    calls = _sql(engine, f"""
        SELECT x.dataset, x.contig, x.pos, x.allele_ord, x.ploidy, x.called_alleles, x.alt_dosage,
               count(*) AS n
        FROM ({calls_at}) x{join}
        GROUP BY x.dataset, x.contig, x.pos, x.allele_ord, x.ploidy, x.called_alleles, x.alt_dosage""").to_pylist()
    stored: dict[tuple, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for c in calls:
        key = (c["dataset"], c["contig"], c["pos"], c["allele_ord"])
        stored[key][genotype_label(c["ploidy"], c["called_alleles"], c["alt_dosage"])] += c["n"]

    # 4. one row per genotype present; "0/0" is whoever in the cohort has no stored call
    rows = []
    for t in targets:
        key = (t["dataset"], t["contig"], t["pos"], t["allele_ord"])
        n_cohort = sizes[t["dataset"]]
        counts = dict(stored.get(key, {}))
        n_stored = sum(counts.values())
        if n_stored > n_cohort:  # the contract was broken on disk: say so rather than report it
            raise QueryError(f"{t['cpra']} in {t['dataset']}: {n_stored} stored calls for "
                             f"{n_cohort} cohort samples; the cpra_index table is inconsistent")
        counts["0/0"] = counts.get("0/0", 0) + n_cohort - n_stored
        recs = clin[t["cpra"]]["recs"]
        rsid = _join_text((r["rsid"] for r in recs), ";") or t["rsid"]
        info = (rsid, _join_text((r["gene_symbol"] for r in recs), ";"),
                _join_text((r["clinical_significance"] for r in recs), "; "),
                _join_text((r["phenotype_list"] for r in recs), "|"))
        for gt, n in counts.items():
            if n > 0:
                rows.append((t["cpra"], *info, gt, n, n / n_cohort, t["dataset"]))
    # rank variants: carriers of the allele first, by clinical significance, then carrier count;
    # reference-only sites last; within a variant the carrier genotypes first, commonest first
    carriers: dict[tuple, int] = defaultdict(int)
    for r in rows:
        if _carries(r[5]):
            carriers[(r[8], r[0])] += r[6]
    rows.sort(key=lambda r: (carriers[(r[8], r[0])] == 0, significance_tier(r[3]), -carriers[(r[8], r[0])],
                             r[0], r[8], not _carries(r[5]), -r[6], r[5]))
    rows = rows[:top]
    table = pa.Table.from_pylist([dict(zip(DRUG_RESPONSE_SCHEMA.names, r)) for r in rows],
                                 schema=DRUG_RESPONSE_SCHEMA)
    table = table.replace_schema_metadata({RANKED_BY_KEY: RANKED_BY.encode()})
    return with_warning(table, assembly_warning(engine, sorted(sizes), assembly))
