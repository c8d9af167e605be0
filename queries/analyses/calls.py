"""Stored calls, two ways in: who carries a variant (`carriers`, the location path through
`cpra_index`) and what one sample carries (`sample_variants`, the by-sample path through `genotypes`).

Genotypes are written for the split allele, as `bcftools norm -m-` would show it: 1 is this ALT,
0 is REF or any other ALT, '.' is missing; missing alleles first, then 0s, then 1s; joined with '|'
for a phased call of two or more alleles, else '/'; a haploid call is one allele ("1", "0", ".").
A sample with no stored row for an allele is diploid, fully called, without it ("0/0").
"""

from __future__ import annotations

import re

import pyarrow as pa

from genolake.lake.coords import cpra_key
from genolake.lake.errors import QueryError, QueryNotFound

from ..regions import parse_cpra, parse_region
from ..provenance import analysis
from ..sql import in_list, lit, run
from ..cohorts import members_of
from .frequencies import check_region_contig, contig_order, rsid_cpras

__all__ = ["carriers", "sample_variants", "genotype_text", "CARRIERS_SCHEMA", "SAMPLE_VARIANTS_SCHEMA"]

CARRIERS_SCHEMA = pa.schema([
    ("dataset", pa.string()), ("sample_id", pa.string()), ("population", pa.string()),
    ("super_population", pa.string()), ("sex", pa.string()), ("genotype", pa.string()),
    ("alt_dosage", pa.int8()), ("called_alleles", pa.int8()), ("phased", pa.bool_()),
])
SAMPLE_VARIANTS_SCHEMA = pa.schema([
    ("dataset", pa.string()), ("contig", pa.string()), ("pos", pa.int32()), ("ref", pa.string()),
    ("alt", pa.string()), ("cpra", pa.string()), ("rsid", pa.string()), ("genotype", pa.string()),
    ("alt_dosage", pa.int8()), ("called_alleles", pa.int8()), ("ploidy", pa.int8()), ("phased", pa.bool_()),
])
_RSID_RE = re.compile(r"^rs[0-9]+$", re.IGNORECASE)
_VARIANT_FORM = "a CPRA like 22-16050075-A-G or an rsID like rs671"


def _sql(engine, query: str) -> pa.Table:
    return run(engine, query)


def genotype_text(alt_dosage: int, called_alleles: int, ploidy: int, phased: bool) -> str:
    """"0|1", "1/1", "./1", "1" ... from the stored counts (see the module docstring)."""
    if ploidy <= 0:
        return "./."
    alleles = ["."] * (ploidy - called_alleles) + ["0"] * (called_alleles - alt_dosage) + ["1"] * alt_dosage
    return ("|" if phased and ploidy > 1 else "/").join(alleles)


def _genotypes(table: pa.Table, ploidy=None) -> pa.Array:
    d = table["alt_dosage"].to_pylist()
    c = table["called_alleles"].to_pylist()
    p = table["ploidy"].to_pylist() if ploidy is None else ploidy
    f = table["phased"].to_pylist()
    memo: dict[tuple, str] = {}
    out = []
    for key in zip(d, c, p, f):
        text = memo.get(key)
        if text is None:
            text = memo[key] = genotype_text(*key)
        out.append(text)
    return pa.array(out, pa.string())


def _variant_key(engine, variant: str, datasets: list[str]) -> tuple[str, int, str, str, bool]:
    """(contig, pos, ref, alt, known_present) for a CPRA or an rsID naming one allele."""
    if not isinstance(variant, str) or not variant.strip():
        raise QueryError(f"no variant given; expected {_VARIANT_FORM}")
    text = variant.strip()
    if _RSID_RE.match(text):
        rsid = "rs" + text[2:]
        alleles = rsid_cpras(engine, [rsid], datasets)[rsid]
        if len(alleles) > 1:
            raise QueryError(f"{rsid} names {len(alleles)} alleles ({', '.join(a['cpra'] for a in alleles)}); "
                             "give one as a CPRA")
        a = alleles[0]
        return a["contig"], int(a["pos"]), a["ref"], a["alt"], True
    if text.lower().startswith("rs"):
        raise QueryError(f"{variant!r} is not an rsID (expected rs followed by digits, e.g. rs671)")
    try:
        return (*parse_cpra(text), False)
    except QueryError:
        raise QueryError(f"malformed variant {variant!r}; expected {_VARIANT_FORM}") from None


@analysis
def carriers(engine, variant: str, *, cohort=None, dataset=None, include_missing: bool = False) -> pa.Table:
    """The cohort's samples carrying at least one copy of `variant`'s ALT (a CPRA or an rsID naming
    one allele), and with `include_missing` also those whose call has missing alleles.

    Columns: dataset, sample_id, population, super_population, sex, genotype, alt_dosage,
    called_alleles, phased; sorted by dataset, sample_id. Read from `cpra_index` (one contig and
    pos_bin partition, row groups pruned by pos). QueryError for an unknown or malformed variant."""
    members = members_of(engine, cohort, dataset)
    datasets = members.datasets
    contig, pos, ref, alt, present = _variant_key(engine, variant, datasets)
    bin_start = pos // engine.pos_bin_size * engine.pos_bin_size
    wanted = "x.alt_dosage > 0" + (" OR x.called_alleles < x.ploidy" if include_missing else "")
    rows = _sql(engine, f"""
        SELECT x.dataset, m.sample_id, m.population, m.super_population, m.sex,
               x.alt_dosage, x.called_alleles, x.ploidy, x.phased
        FROM cpra_index x
        JOIN (SELECT dataset, sample_id, sample_index, population, super_population, sex FROM samples
              WHERE {members.predicate()}) m
          ON x.dataset = m.dataset AND x.sample_index = m.sample_index
        WHERE x.contig = {lit(contig)} AND x.pos_bin = {bin_start} AND x.pos = {pos}
          AND x.ref = {lit(ref)} AND x.alt = {lit(alt)} AND x.dataset IN {in_list(datasets)}
          AND ({wanted})
        ORDER BY x.dataset, m.sample_id""")
    if rows.num_rows == 0 and not present:
        key = cpra_key(contig, pos, ref, alt)
        found = _sql(engine, f"""
            SELECT count(*) AS n FROM variants
            WHERE contig = {lit(contig)} AND pos = {pos} AND cpra = {lit(key)} AND dataset IN {in_list(datasets)}""")
        if found["n"][0].as_py() == 0:
            scope = f"dataset {datasets[0]!r}" if len(datasets) == 1 else f"datasets {', '.join(datasets)}"
            raise QueryNotFound(f"variant {key} not found in {scope}")
    out = rows.drop_columns(["ploidy"])
    out = out.add_column(5, "genotype", _genotypes(rows))
    return out.select(CARRIERS_SCHEMA.names).cast(CARRIERS_SCHEMA)


@analysis
def sample_variants(engine, sample_id: str, *, region=None, dataset=None) -> pa.Table:
    """One sample's stored calls (every call but diploid, fully called, without the ALT), joined
    with `variants` for ref, alt, cpra and rsid; optionally in `region` ("22:16000000-17000000" or
    a Region) and one `dataset`. Read from `genotypes` (the sample's own partition).

    Columns: dataset, contig, pos, ref, alt, cpra, rsid, genotype, alt_dosage, called_alleles,
    ploidy, phased; sorted by contig, pos, allele, dataset. QueryError for an unknown sample."""
    if not isinstance(sample_id, str) or not sample_id.strip():
        raise QueryError("no sample ID given")
    if dataset is not None and (not isinstance(dataset, str) or not dataset.strip()):
        raise QueryError(f"dataset must be a dataset name, got {dataset!r}")
    # the ID as given (a VCF sample ID may end in a space); stripped only when that is unknown
    found = _sql(engine, f"SELECT DISTINCT dataset FROM samples WHERE sample_id = {lit(sample_id)}")["dataset"].to_pylist()
    if not found and sample_id.strip() != sample_id:
        sample_id = sample_id.strip()
        found = _sql(engine, f"SELECT DISTINCT dataset FROM samples WHERE sample_id = {lit(sample_id)}")["dataset"].to_pylist()
    if dataset is not None:
        dataset = dataset.strip()
        if dataset not in found:
            have = _sql(engine, "SELECT DISTINCT dataset FROM samples")["dataset"].to_pylist()
            if dataset not in have:
                raise QueryNotFound(f"dataset {dataset!r} is not in the lake; datasets: {', '.join(sorted(have))}")
            raise QueryNotFound(f"sample {sample_id!r} is not in dataset {dataset!r}"
                             + (f" (it is in {', '.join(sorted(found))})" if found else ""))
        found = [dataset]
    if not found:
        raise QueryNotFound(f"sample {sample_id!r} is not in the lake")
    where_g = f"g.sample_id = {lit(sample_id)} AND g.dataset IN {in_list(sorted(found))}"
    where_v = f"v.dataset IN {in_list(sorted(found))}"
    if region is not None:
        r = check_region_contig(engine, parse_region(region))
        where_g += f" AND g.contig = {lit(r.contig)} AND g.pos BETWEEN {int(r.start)} AND {int(r.end)}"
        where_v += f" AND v.contig = {lit(r.contig)} AND v.pos BETWEEN {int(r.start)} AND {int(r.end)}"
    rows = _sql(engine, f"""
        SELECT g.dataset, g.contig, g.pos, v.ref, v.alt, v.cpra, v.rsid,
               g.alt_dosage, g.called_alleles, g.ploidy, g.phased
        FROM (SELECT dataset, contig, pos, allele_ord, alt_dosage, called_alleles, ploidy, phased
              FROM genotypes g WHERE {where_g}) g
        JOIN (SELECT dataset, contig, pos, allele_ord, ref, alt, cpra, rsid
              FROM variants v WHERE {where_v}) v
          ON g.dataset = v.dataset AND g.contig = v.contig AND g.pos = v.pos AND g.allele_ord = v.allele_ord
        ORDER BY {contig_order('g.contig')}, g.contig, g.pos, g.allele_ord, g.dataset""")
    out = rows.add_column(7, "genotype", _genotypes(rows))
    return out.select(SAMPLE_VARIANTS_SCHEMA.names).cast(SAMPLE_VARIANTS_SCHEMA)
