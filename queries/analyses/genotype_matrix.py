"""A samples x sites dosage matrix for machine learning, and the sites to put in it.

`select_sites` picks common, biallelic sites spread along each contig (LD thinned by distance):

- a site is the only split allele at its position in the dataset's callset (no second ALT, no second
  record at that position), with `snps_only` REF and ALT each one of A, C, G, T;
- its whole-callset MAF = min(AF, 1 - AF) (the `variants` table's own AF) is >= `min_maf`;
- greedy left to right along each contig: a site is kept when it lies >= `spacing_bp` after the last
  kept one (the first site of a contig is kept);
- with `max_sites` and more thinned sites than that, the i-th of `max_sites` kept sites is the
  thinned list's entry floor(i * n / max_sites) (evenly spaced over the list, deterministic).

`genotype_matrix` gives one row per sample and one nullable int8 column per site: copies of that
ALT in the call as written; null when the call has a missing allele (called_alleles < ploidy: a
half-call `./1` is missing, as plink2 --vcf-half-call missing; so is a record without GT); 0 for a
sample without a stored row (DESIGN.md "Stored calls": diploid, fully called, without the ALT).
Ploidy is not rescaled: a haploid call (chrX/Y of a male, chrM) is 0 or 1, a triploid one 0..3. A
haploid REF call is a stored row (it is not diploid), so it reads 0 like an absent diploid one; a
model that must tell ploidy apart needs the `samples` sex, not the dosage. (plink2 --export A
counts its A1 allele, REF by default, and codes haploid calls by its own sex/chrX rules: a
comparison with it must map both.) Rows in callset order (samples.sample_index, the VCF's column
order).

How: the sites' allele_ord from `variants`, then their calls from `cpra_index` (contig, pos_bin
and pos predicates), one query per _CHUNK sites of a contig taken in position order, so each
query's pos_bin predicate prunes to its own stretch of the contig; the engine sends (site code,
sample, dosage or -1) and numpy scatters them into a dense site-major int8 block.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from genolake.lake.coords import cpra_key, normalize_contig
from genolake.lake.errors import QueryError, QueryNotFound

from ..cohorts import members_of
from ..provenance import analysis, note_reads
from ..regions import parse_cpra
from ..sql import in_list, lit, run, transpile
from .frequencies import contig_order

__all__ = ["select_sites", "genotype_matrix", "dosage_array", "SITES_SCHEMA"]

SITES_SCHEMA = pa.schema([
    ("contig", pa.string()), ("pos", pa.int32()), ("ref", pa.string()), ("alt", pa.string()),
    ("cpra", pa.string()), ("af", pa.float64()),
])
_BASES = ("A", "C", "G", "T")
# sites per calls query: bounds each SQL text (its IN lists), which sqlglot transpiles for Spark/Athena
_CHUNK = 2_000
_SHOW = 5


def _check_dataset(dataset) -> str:
    if not isinstance(dataset, str) or not dataset.strip():
        raise QueryError(f"dataset must be a dataset name, got {dataset!r}")
    return dataset.strip()


def _shown(names) -> str:
    names = list(names)
    return ", ".join(names[:_SHOW]) + (f" and {len(names) - _SHOW} more" if len(names) > _SHOW else "")


# ------------------------------------------------------------------------------------ sites


def thin_by_distance(pos: np.ndarray, spacing_bp: int) -> np.ndarray:
    """Indexes kept by the greedy rule on one contig's sorted positions: a loop over kept sites only
    (each step jumps to the first position >= last kept + spacing)."""
    pos = np.asarray(pos, dtype=np.int64)  # int32 + a large spacing would overflow
    kept = []
    i, n = 0, len(pos)
    while i < n:
        kept.append(i)
        # max(i + 1, ...): spacing 0 keeps every site instead of looping on the same one
        i = max(i + 1, int(np.searchsorted(pos, pos[i] + spacing_bp, side="left")))
    return np.asarray(kept, dtype=np.int64)


def evenly_spaced(n: int, k: int) -> np.ndarray:
    """k of range(n), the i-th being floor(i * n / k) (all of them when k >= n)."""
    if k >= n:
        return np.arange(n, dtype=np.int64)
    return (np.arange(k, dtype=np.int64) * n) // k


@analysis
def select_sites(engine, *, dataset: str, min_maf: float = 0.05, spacing_bp: int = 10_000,
                 max_sites: int | None = None, contig: str | None = None, snps_only: bool = True) -> pa.Table:
    """Common biallelic sites of `dataset`, thinned by distance (see the module docstring for the
    rules). Columns: contig, pos, ref, alt, cpra, af; in karyotype order then pos."""
    dataset = _check_dataset(dataset)
    try:
        min_maf = float(min_maf)
    except (TypeError, ValueError):
        raise QueryError(f"min_maf must be a number between 0 and 0.5, got {min_maf!r}") from None
    if not 0.0 <= min_maf <= 0.5:
        raise QueryError(f"min_maf must be between 0 and 0.5, got {min_maf!r}")
    if isinstance(spacing_bp, bool) or not isinstance(spacing_bp, (int, np.integer)) or spacing_bp < 0:
        raise QueryError(f"spacing_bp must be a whole number of base pairs >= 0, got {spacing_bp!r}")
    if max_sites is not None and (isinstance(max_sites, bool) or not isinstance(max_sites, (int, np.integer))
                                  or max_sites < 1):
        raise QueryError(f"max_sites must be a whole number >= 1 (or None for no cap), got {max_sites!r}")
    members_of(engine, None, dataset)  # an unknown dataset is QueryNotFound naming the datasets
    where = f"dataset = {lit(dataset)}"
    where_v = f"v.dataset = {lit(dataset)}"
    if contig is not None:
        where += f" AND contig = {lit(normalize_contig(str(contig)))}"
        where_v += f" AND v.contig = {lit(normalize_contig(str(contig)))}"
    snp = (f" AND length(v.ref) = 1 AND length(v.alt) = 1 AND v.ref IN {in_list(_BASES)} AND v.alt IN {in_list(_BASES)}"
           if snps_only else "")
    # MAF >= m as two comparisons of the same doubles min(af, 1 - af) would compare
    m = f"CAST({min_maf!r} AS DOUBLE)"
    rows = run(engine, f"""
        WITH alone AS (
            SELECT contig, pos FROM variants WHERE {where} GROUP BY contig, pos HAVING count(*) = 1
        )
        SELECT v.contig, v.pos, v.ref, v.alt, v.cpra, v.af
        FROM variants v JOIN alone a ON v.contig = a.contig AND v.pos = a.pos
        WHERE {where_v} AND v.af IS NOT NULL
          AND v.af >= {m} AND 1 - v.af >= {m}{snp}
        ORDER BY {contig_order('v.contig')}, v.contig, v.pos""")
    rows = rows.cast(SITES_SCHEMA)
    contigs = np.asarray(rows["contig"].to_numpy(zero_copy_only=False), dtype=object)
    pos = rows["pos"].to_numpy()
    keep = []
    if len(pos):
        starts = np.flatnonzero(np.r_[True, contigs[1:] != contigs[:-1]])
        for a, b in zip(starts, np.r_[starts[1:], len(pos)]):
            keep.append(a + thin_by_distance(pos[a:b], int(spacing_bp)))
    keep = np.concatenate(keep) if keep else np.zeros(0, dtype=np.int64)
    if max_sites is not None:
        keep = keep[evenly_spaced(len(keep), int(max_sites))]
    return rows.take(pa.array(keep, pa.int64()))


# ----------------------------------------------------------------------------------- matrix


def _site_list(sites) -> list[str]:
    """CPRA strings from a list, a comma string, or a table with a `cpra` column."""
    if isinstance(sites, pa.Table):
        if "cpra" not in sites.column_names:
            raise QueryError("a sites table needs a 'cpra' column (as select_sites gives)")
        sites = sites["cpra"].to_pylist()
    elif isinstance(sites, str):
        sites = [s for s in sites.split(",") if s.strip()]
    elif isinstance(sites, (pa.Array, pa.ChunkedArray)):
        sites = sites.to_pylist()
    elif isinstance(sites, np.ndarray):
        sites = sites.tolist()
    if not isinstance(sites, (list, tuple)) or not sites:
        raise QueryError("no sites given; expected CPRAs like 22-16050075-A-G (or select_sites' table)")
    return list(sites)


@analysis
def genotype_matrix(engine, sites, *, dataset: str, cohort=None) -> pa.Table:
    """`sample_id`, then one int8 dosage column per site named by its CPRA, in the order given
    (see the module docstring). `sites`: CPRA strings or select_sites' table. `cohort` restricts the
    rows (Cohort, cohort text, list of sample IDs). QueryNotFound naming sites the dataset lacks."""
    dataset = _check_dataset(dataset)
    keys = [parse_cpra(s) for s in _site_list(sites)]
    names = [cpra_key(*k) for k in keys]
    if len(set(names)) != len(names):
        seen: set[str] = set()
        twice = [n for n in names if n in seen or seen.add(n)]
        raise QueryError(f"sites repeat {_shown(dict.fromkeys(twice))}: each site is one column")
    members = members_of(engine, cohort, dataset)
    if dataset not in members.sizes:
        raise QueryError(f"cohort {members.cohort.describe()} has no samples in dataset {dataset!r}")
    samples = run(engine, f"SELECT sample_id, sample_index FROM samples WHERE {members.predicates[dataset]} "
                          "ORDER BY sample_index")
    sample_index = samples["sample_index"].to_numpy().astype(np.int64)
    n, m = len(sample_index), len(keys)
    # sample_index -> matrix row (-1: not a member; index_predicate may select a superset); None
    # when every sample of the callset is a row, in order: then the row is the sample_index itself
    row_of = None
    if members.index_predicate(dataset) != "TRUE" or not np.array_equal(sample_index, np.arange(n)):
        row_of = np.full(int(sample_index.max()) + 1 if n else 0, -1, dtype=np.int64)
        row_of[sample_index] = np.arange(n)
    # site-major (each output column is one contiguous run of memory); -1 marks a missing call
    value = np.zeros((m, n), dtype=np.int8)
    by_contig: dict[str, list[int]] = {}
    for j, k in enumerate(keys):
        by_contig.setdefault(k[0], []).append(j)
    found: set[str] = set()
    for contig, cols in by_contig.items():
        # position order: a chunk's pos_bin predicate then covers one stretch of the contig, so the
        # chunks together read each bin once however the sites were ordered
        cols.sort(key=lambda j: keys[j][1])
        for chunk in range(0, len(cols), _CHUNK):
            part = cols[chunk:chunk + _CHUNK]
            _fill(engine, dataset, contig, {names[j]: (keys[j][1], j) for j in part}, members, row_of,
                  value, found)
    absent = [s for s in names if s not in found]
    if absent:
        raise QueryNotFound(f"{'site' if len(absent) == 1 else f'{len(absent)} sites'} not in dataset "
                            f"{dataset!r}: {_shown(absent)}")
    arrays = [samples["sample_id"].cast(pa.string())]
    missing = value < 0
    value[missing] = 0
    has_missing = missing.any(axis=1)
    arrays += [pa.array(value[j], pa.int8(), mask=missing[j] if has_missing[j] else None) for j in range(m)]
    return pa.Table.from_arrays(arrays, names=["sample_id", *names])


def _run(engine, query: str, tables) -> pa.Table:
    """`run` with the tables read named by the caller: these queries carry thousands of literals,
    and parsing them (sqlglot, to find the tables) cost more than DuckDB spent answering them."""
    note_reads(tables)
    return engine.sql(transpile(query, engine.dialect), trusted=True)


def _fill(engine, dataset, contig, wanted, members, row_of, value, found) -> None:
    """One contig's chunk of sites ({cpra: (pos, matrix column)}): their allele_ord from `variants`,
    then their stored calls for the members from `cpra_index`, scattered into `value` (site x row)."""
    positions = sorted({p for p, _ in wanted.values()})
    bins = sorted({p // engine.pos_bin_size * engine.pos_bin_size for p in positions})
    # every split allele at those positions; the wanted ones are picked by CPRA here (a CPRA list in
    # the SQL would double its size)
    alleles = _run(engine, f"""
        SELECT pos, allele_ord, cpra FROM variants
        WHERE dataset = {lit(dataset)} AND contig = {lit(contig)} AND pos IN {in_list(positions)}""", ["variants"])
    # split alleles are keyed by (contig, pos, allele_ord) in the calls tables: code pos * 2^16 + allele_ord
    codes, cols = [], []
    for p, o, cpra in zip(*(alleles[c].to_pylist() for c in ("pos", "allele_ord", "cpra"))):
        if cpra in wanted:
            found.add(cpra)
            codes.append((int(p) << 16) | int(o))
            cols.append(wanted[cpra][1])
    if not codes:
        return
    order = np.argsort(codes)
    codes_sorted, cols_sorted = np.asarray(codes, np.int64)[order], np.asarray(cols, np.int64)[order]
    # the engine does the per-row arithmetic (in parallel) and sends three narrow columns: the
    # site code, the sample and the dosage with -1 for a call with a missing allele
    calls = _run(engine, f"""
        SELECT CAST(x.pos AS BIGINT) * 65536 + x.allele_ord AS code, x.sample_index,
               CAST(CASE WHEN x.called_alleles < x.ploidy THEN -1 ELSE x.alt_dosage END AS TINYINT) AS d
        FROM cpra_index x
        WHERE x.contig = {lit(contig)} AND x.pos_bin IN {in_list(bins)} AND x.pos IN {in_list(positions)}
          AND x.dataset = {lit(dataset)} AND {members.index_predicate(dataset, 'x.sample_index')}""",
                 ["cpra_index", "samples"])
    if calls.num_rows == 0:
        return
    code, idx, d = (calls[c].to_numpy() for c in ("code", "sample_index", "d"))
    keep = None
    if alleles.num_rows == len(codes):  # every allele at these positions is wanted: every code is found
        at = np.searchsorted(codes_sorted, code)
    else:  # another allele at a wanted position: its calls are not asked for
        at = np.minimum(np.searchsorted(codes_sorted, code), len(codes_sorted) - 1)
        keep = codes_sorted[at] == code
    if row_of is None:
        row = idx
    else:  # rows of non-members (a superset selected by index_predicate) are dropped
        row = row_of[np.minimum(idx, len(row_of) - 1)]
        member = (idx < len(row_of)) & (row >= 0)
        keep = member if keep is None else keep & member
    if keep is not None and not keep.all():
        at, row, d = at[keep], row[keep], d[keep]
    value.reshape(-1)[cols_sorted[at] * value.shape[1] + row] = d


def dosage_array(table: pa.Table) -> tuple[np.ndarray, list[str], list[str]]:
    """(float64 samples x sites with NaN for null, sample IDs, site CPRAs) from genotype_matrix."""
    if "sample_id" not in table.column_names:
        raise QueryError("not a genotype matrix: it has no 'sample_id' column")
    sites = [c for c in table.column_names if c != "sample_id"]
    X = np.empty((table.num_rows, len(sites)), dtype=np.float64)
    for j, name in enumerate(sites):
        X[:, j] = table[name].to_numpy(zero_copy_only=False)  # null -> NaN
    return X, table["sample_id"].to_pylist(), sites
