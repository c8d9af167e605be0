"""The layout benchmark's workloads: each one's SQL per layout kind, its reference answer through the
project's public API, the comparison of the two, and the I/O its filters plan.

- `run(workload, built, con, params)`: the answer in the contract form (contract.py), from SQL on
  the layout's DuckDB connection (layouts.connect). Every layout counts from its stored calls with
  the DESIGN.md rule: AC = sum(alt_dosage), AN = 2|C| - sum(2 - called_alleles) over the cohort's
  stored rows; an allele without a stored call has AC 0 and AN 2|C|. (The curated `variants`
  table's precomputed whole-callset counts are not used: they would answer every "every sample"
  workload without reading any layout.) rsIDs are resolved through the curated rsid_index, which
  every layout shares, as ClinVar.
- `reference(workload, params, engine)`: the same answer from the curated lake through
  `allele_frequency`, `annotate`, `sample_variants` (and engine.sql for the genotype matrix).
- `compare(answer, truth)`: None when equal, else the first difference.
- `planned_io(workload, built, params)`: the files, row groups and compressed bytes of the
  projected columns that the workload's filters can touch, from the Parquet footers.

Filters are written so DuckDB prunes: `pos` as BETWEEN, or one `pos = p` arm per looked-up
position (an IN list or an OR of ranges is not pushed into the scan, so it would not skip row
groups); pos_bin folders as constants; samples as runs of sample_index (BETWEEN), or on by_sample
as names of sample_id folders: a literal list for a few, a semi-join for a cohort (see
_MAX_LITERAL: DuckDB's dynamic filter then skips folders by range, and a long literal list would
be evaluated on every row).
"""

from __future__ import annotations

import re
import urllib.parse
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as pads
import pyarrow.parquet as pq

from .contract import AF_COLUMNS, SORT_KEY, WORKLOADS, BenchParams
from .layouts import BuiltLayout, open_lake_of

__all__ = ["ANSWER_SCHEMAS", "run", "reference", "compare", "planned_io", "to_contract", "scope_of"]

_AF = [pa.field(c, pa.string() if c in ("contig", "ref", "alt") else pa.int64()) for c in AF_COLUMNS]
_KEY = _AF[:4]
ANSWER_SCHEMAS: dict[str, pa.Schema] = {
    "af_rsids": pa.schema(_AF),
    "af_region": pa.schema(_AF),
    "af_all": pa.schema(_AF),
    "af_all_cohort": pa.schema(_AF),
    "annotate_gene": pa.schema([*_AF, pa.field("n_clinvar", pa.int64())]),
    "sample_region": pa.schema([*_KEY, pa.field("alt_dosage", pa.int64()), pa.field("called_alleles", pa.int64())]),
    "genotype_matrix": pa.schema([*_KEY, pa.field("dosages", pa.list_(pa.int8()))]),
}
ASSEMBLY = "GRCh37"
_MAX_RUNS = 32  # cohorts in more runs of sample_index than this are matched as a set
# Samples named in a literal IN list at most; more become a semi-join on an unnest()ed list. DuckDB
# evaluates a literal IN on every row, even on a hive partition column it has already pruned by:
# measured on by_sample at 2,504 samples, 1,000 names cost 1.6 s as a literal list and 0.4 s as a
# semi-join, whose dynamic min/max filter still skips the folders outside the names' range; below
# ~16 names the two are even and the literal list prunes folders exactly.
_MAX_LITERAL = 8


# ------------------------------------------------------------------------------------- scope


@dataclass(frozen=True)
class Scope:
    """What a workload touches: `intervals` of positions (None: the whole contig), for rsIDs the
    `alleles` (pos, ref, alt) wanted, the `samples` (sample_index, in cohort order; None: every
    sample), and whether it needs ploidy (the genotype matrix: missing vs haploid)."""

    intervals: tuple[tuple[int, int], ...] | None
    samples: tuple[int, ...] | None
    alleles: tuple[tuple[int, str, str], ...] | None = None
    points: bool = False  # intervals are single positions (one scan arm each)
    ploidy: bool = False


def _check_workload(workload: str) -> None:
    if workload == "ingest":
        raise ValueError("workload 'ingest' has no answer: it is the layout's build time")
    if workload not in ANSWER_SCHEMAS:
        raise ValueError(f"unknown workload {workload!r}; workloads: {', '.join(WORKLOADS)}")


def _interval(region, params: BenchParams, what: str) -> tuple[int, int]:
    if region is None:
        raise ValueError(f"{what} is not set in the parameters (no ClinVar gene in the lake?)")
    contig, start, end = region
    if str(contig) != params.contig:
        raise ValueError(f"{what} is on contig {contig!r}, but the layouts hold contig {params.contig!r}")
    return int(start), int(end)


def rsid_alleles(params: BenchParams) -> tuple[tuple[int, str, str], ...]:
    """(pos, ref, alt) of every allele the parameters' rsIDs name in the dataset, from the curated
    rsid_index (the lookup every layout shares)."""
    rsids = sorted({r["rsid"] for r in params.rsids})
    flt = pads.field("rsid").isin(rsids) & (pads.field("dataset") == params.dataset)
    t = open_lake_of(params).read("rsid_index", columns=["contig", "pos", "ref", "alt"], filter=flt)
    return tuple(sorted({(int(p), r, a) for c, p, r, a in zip(*(t[x].to_pylist() for x in t.column_names))
                         if c == params.contig}))


def scope_of(workload: str, params: BenchParams, alleles=None) -> Scope:
    """The workload's positions and samples. `alleles`: the rsIDs' alleles when already resolved."""
    _check_workload(workload)
    if workload == "af_rsids":
        alleles = tuple(alleles) if alleles is not None else rsid_alleles(params)
        points = tuple(sorted({(p, p) for p, _, _ in alleles}))
        return Scope(points, None, alleles=alleles, points=True)
    if workload == "af_region":
        return Scope((_interval(params.region, params, "region"),), None)
    if workload == "annotate_gene":
        return Scope((_interval(params.gene_region, params, "gene_region"),), None)
    if workload == "af_all":
        return Scope(None, None)
    if workload == "af_all_cohort":
        return Scope(None, tuple(params.cohort))
    if workload == "sample_region":
        if params.sample not in params.samples:
            raise ValueError(f"sample {params.sample!r} is not one of the dataset's samples")
        return Scope((_interval(params.sample_region, params, "sample_region"),),
                     (params.samples.index(params.sample),))
    return Scope((_interval(params.matrix_region, params, "matrix_region"),), tuple(params.cohort), ploidy=True)


# ------------------------------------------------------------------------------ SQL fragments


def _lit(value) -> str:
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    return "'" + str(value).replace("'", "''") + "'"


def _in(values) -> str:
    return "(" + ", ".join(_lit(v) for v in values) + ")"


def _runs(indexes) -> list[tuple[int, int]]:
    """Sorted, distinct indexes as inclusive runs: [0,1,2,5] -> [(0, 2), (5, 5)]."""
    out: list[list[int]] = []
    for i in sorted(set(indexes)):
        if out and i == out[-1][1] + 1:
            out[-1][1] = i
        else:
            out.append([i, i])
    return [(a, b) for a, b in out]


def _pos_arms(scope: Scope, bin_size: int | None = None) -> list[str]:
    """Location predicates, one scan arm each: `pos = p` per looked-up position, else one BETWEEN
    (or TRUE for the whole contig); with a bin size, the pos_bin partitions too."""
    if scope.intervals is None:
        return ["TRUE"]
    if not scope.intervals:  # rsIDs not found on the contig
        return ["FALSE"]
    arms = []
    for lo, hi in scope.intervals:
        arm = f"pos = {lo}" if scope.points else f"pos BETWEEN {lo} AND {hi}"
        if bin_size:
            blo, bhi = lo // bin_size * bin_size, hi // bin_size * bin_size
            arm += f" AND pos_bin = {blo}" if blo == bhi else f" AND pos_bin BETWEEN {blo} AND {bhi}"
        arms.append(arm)
    return arms


def _site_pred(scope: Scope) -> str:
    """Predicate over a sites relation (contig, pos, ref, alt) selecting the scope's alleles."""
    if scope.alleles is not None:
        if not scope.alleles:
            return "FALSE"
        return "(" + " OR ".join(f"(pos = {p} AND ref = {_lit(r)} AND alt = {_lit(a)})"
                                 for p, r, a in scope.alleles) + ")"
    if scope.intervals is None:
        return "TRUE"
    return "(" + " OR ".join(f"pos BETWEEN {lo} AND {hi}" for lo, hi in scope.intervals) + ")"


def _sites_sql(scope: Scope) -> str:
    """The scope's alleles from a `sites` relation; looked-up alleles one arm per position, so
    each arm prunes row groups by pos."""
    cols = "contig, pos, allele_ord, ref, alt"
    if scope.alleles is None or not scope.alleles:
        return f"SELECT {cols} FROM sites WHERE {_site_pred(scope)}"
    by_pos: dict[int, list[str]] = {}
    for p, r, a in scope.alleles:
        by_pos.setdefault(p, []).append(f"(ref = {_lit(r)} AND alt = {_lit(a)})")
    return "\n  UNION ALL\n  ".join(f"SELECT {cols} FROM sites WHERE pos = {p} AND ({' OR '.join(alts)})"
                                    for p, alts in sorted(by_pos.items()))


def _member_pred(col: str, values) -> str:
    """`col` is one of `values`: a literal list when short, else a semi-join (see _MAX_LITERAL)."""
    values = list(dict.fromkeys(values))
    if len(values) <= _MAX_LITERAL:
        return f"{col} IN {_in(values)}"
    return f"{col} IN (SELECT unnest([{', '.join(_lit(v) for v in values)}]))"


def _index_pred(samples, col: str = "sample_index") -> str:
    runs = _runs(samples)
    if len(runs) > _MAX_RUNS:
        return _member_pred(col, sorted(set(samples)))
    return "(" + " OR ".join(f"{col} = {a}" if a == b else f"{col} BETWEEN {a} AND {b}" for a, b in runs) + ")"


def _n(scope: Scope, params: BenchParams) -> int:
    return len(params.samples) if scope.samples is None else len(scope.samples)


_AF_SELECT = ("CAST(coalesce({ac}, 0) AS BIGINT) AS ac, CAST({two_n} - coalesce({deficit}, 0) AS BIGINT) AS an")


# --------------------------------------------------------------------------- row layouts


@dataclass(frozen=True)
class _Rows:
    """How a row layout's `calls` view names things: its sample key and partition column."""

    key: str  # "sample_id" (by_sample, curated) or "sample_index"
    bin_size: int | None

    def sample_pred(self, scope: Scope, params: BenchParams) -> str:
        if scope.samples is None:
            return "TRUE"
        if self.key == "sample_id":  # the partition column: names prune whole folders
            return _member_pred("sample_id", (params.samples[i] for i in scope.samples))
        return _index_pred(scope.samples)

    def sample_keys(self, scope: Scope, params: BenchParams) -> list:
        return [params.samples[i] for i in scope.samples] if self.key == "sample_id" else list(scope.samples)

    def calls(self, scope: Scope, params: BenchParams, columns: str) -> str:
        """The scope's stored calls: one scan arm per location, UNION ALL."""
        who = self.sample_pred(scope, params)
        arms = [f"SELECT {columns} FROM calls WHERE {arm} AND {who}" for arm in _pos_arms(scope, self.bin_size)]
        return "\n  UNION ALL\n  ".join(arms)


def _rows_of(built: BuiltLayout) -> _Rows:
    kind = built.spec.kind
    return _Rows("sample_id" if kind == "by_sample" else "sample_index", built.spec.bin_size if kind == "bin" else None)


def _rows_af(rows: _Rows, scope: Scope, params: BenchParams) -> str:
    counts = _AF_SELECT.format(ac="c.ac", deficit="c.deficit", two_n=2 * _n(scope, params))
    return f"""WITH s AS ({_sites_sql(scope)}),
c AS (SELECT pos, allele_ord, sum(alt_dosage) AS ac, sum(2 - called_alleles) AS deficit
  FROM ({rows.calls(scope, params, "pos, allele_ord, alt_dosage, called_alleles")}) x
  GROUP BY pos, allele_ord)
SELECT s.contig, s.pos, s.ref, s.alt, {counts}
FROM s LEFT JOIN c ON c.pos = s.pos AND c.allele_ord = s.allele_ord"""


def _rows_sample(rows: _Rows, scope: Scope, params: BenchParams) -> str:
    return f"""SELECT s.contig, s.pos, s.ref, s.alt, c.alt_dosage, c.called_alleles
FROM ({rows.calls(scope, params, "pos, allele_ord, alt_dosage, called_alleles")}) c
JOIN ({_sites_sql(scope)}) s
  ON c.pos = s.pos AND c.allele_ord = s.allele_ord"""


def _cohort_table(keys: list) -> str:
    """(k, ord): the cohort's sample keys with their place in the cohort."""
    return f"SELECT unnest([{', '.join(_lit(k) for k in keys)}]) AS k, unnest(range({len(keys)})) AS ord"


_MATRIX_VALUE = "CASE WHEN called_alleles < ploidy THEN -1 ELSE alt_dosage END"


def _matrix_sql(sites: str, calls: str, on: tuple[str, ...], keys: list) -> str:
    """The dense matrix from sparse calls: each allele's stored calls become a map cohort place ->
    value, read back for every place (absent: 0). `calls` gives `on` columns, k and v.
    (A cross join of sites and cohort with list(v ORDER BY ord) was 3x slower: an ordered
    aggregate over every cell, where this groups the stored cells only.)"""
    cols = ", ".join(on)
    join = " AND ".join(f"g.{c} = s.{c}" for c in on)
    return f"""WITH s AS ({sites}),
m AS ({_cohort_table(keys)}),
c AS (SELECT {", ".join(f"x.{c}" for c in on)}, m.ord, x.v FROM ({calls}) x JOIN m ON x.k = m.k),
g AS (SELECT {cols}, map_from_entries(list((ord, v))) AS cells FROM c GROUP BY {cols})
SELECT s.contig, s.pos, s.ref, s.alt,
  CAST(list_transform(range({len(keys)}), lambda j: coalesce(g.cells[j], 0)) AS TINYINT[]) AS dosages
FROM s LEFT JOIN g ON {join}"""


def _rows_matrix(rows: _Rows, scope: Scope, params: BenchParams) -> str:
    sites = _sites_sql(scope)
    calls = rows.calls(scope, params, f"pos, allele_ord, {rows.key} AS k, {_MATRIX_VALUE} AS v")
    return _matrix_sql(sites, calls, ("pos", "allele_ord"), rows.sample_keys(scope, params))


# ------------------------------------------------------------------------------ packed


def _packed_scan(scope: Scope, columns: str, where: str = "TRUE") -> str:
    arms = [f"SELECT {columns} FROM packed WHERE {arm} AND {_site_pred(scope)} AND {where}"
            for arm in _pos_arms(scope)]
    return "\n  UNION ALL\n  ".join(arms)


def _list_sum(col: str, samples) -> str:
    """Sum of the cohort's entries of list column `col` (1-based lists; sample_index is 0-based)."""
    if samples is None:
        return f"list_sum({col})"
    runs = _runs(samples)
    if len(runs) > _MAX_RUNS:
        return f"list_sum(list_select({col}, [{', '.join(str(i + 1) for i in sorted(set(samples)))}]))"
    return " + ".join(f"coalesce(list_sum(list_slice({col}, {a + 1}, {b + 1})), 0)" for a, b in runs)


def _packed_af(scope: Scope, params: BenchParams) -> str:
    counts = _AF_SELECT.format(ac=_list_sum("dosage", scope.samples), deficit=_list_sum("deficit", scope.samples),
                               two_n=2 * _n(scope, params))
    return _packed_scan(scope, f"contig, pos, ref, alt, {counts}")


def _packed_sample(scope: Scope, params: BenchParams) -> str:
    i = scope.samples[0] + 1
    stored = f"(dosage[{i}] <> 0 OR deficit[{i}] <> 0 OR coalesce(ploidy[{i}], 2) <> 2)"
    return _packed_scan(scope, f"contig, pos, ref, alt, dosage[{i}] AS alt_dosage, 2 - deficit[{i}] AS called_alleles",
                        stored)


def _packed_matrix(scope: Scope, params: BenchParams) -> str:
    idx = ", ".join(str(i + 1) for i in scope.samples)
    # missing: called (2 - deficit) < ploidy; ploidy is null for an allele whose calls are all diploid
    value = "CASE WHEN 2 - deficit[i] < coalesce(ploidy[i], 2) THEN -1 ELSE dosage[i] END"
    return _packed_scan(scope, f"contig, pos, ref, alt, CAST(list_transform([{idx}], lambda i: {value}) AS TINYINT[]) AS dosages")


# -------------------------------------------------------------------------- flat (peer)


def _flat_scan(scope: Scope, columns: str) -> str:
    arms = [f"SELECT {columns} FROM flat WHERE {arm}" for arm in _pos_arms(scope)]
    return "\n  UNION ALL\n  ".join(arms)


def _flat_af(scope: Scope, params: BenchParams) -> str:
    cols = "contig, pos, ref, alt, sample_id, alt_dosage, called_alleles"
    two_n = 2 * _n(scope, params)
    if scope.samples is None:  # one pass: an allele's rows, its no-call row's nulls add nothing
        counts = _AF_SELECT.format(ac="sum(alt_dosage)", deficit="sum(2 - called_alleles)", two_n=two_n)
        return f"""SELECT contig, pos, ref, alt, {counts}
FROM ({_flat_scan(scope, cols)}) x
WHERE {_site_pred(scope)}
GROUP BY contig, pos, ref, alt"""
    # a cohort, in the same single pass: every row lists its allele, only the members' rows count
    # (a LEFT JOIN to the cohort's names; a literal IN list in a FILTER clause was 10x slower)
    keys = [params.samples[i] for i in scope.samples]
    counts = _AF_SELECT.format(ac="sum(CASE WHEN m.k IS NOT NULL THEN x.alt_dosage END)",
                               deficit="sum(CASE WHEN m.k IS NOT NULL THEN 2 - x.called_alleles END)", two_n=two_n)
    return f"""SELECT x.contig, x.pos, x.ref, x.alt, {counts}
FROM ({_flat_scan(scope, cols)}) x LEFT JOIN ({_cohort_table(keys)}) m ON x.sample_id = m.k
WHERE {_site_pred(scope)}
GROUP BY x.contig, x.pos, x.ref, x.alt"""


def _flat_sample(scope: Scope, params: BenchParams) -> str:
    sample = _lit(params.samples[scope.samples[0]])
    return f"""SELECT contig, pos, ref, alt, alt_dosage, called_alleles
FROM ({_flat_scan(scope, "contig, pos, ref, alt, sample_id, alt_dosage, called_alleles")}) x
WHERE sample_id = {sample}"""


def _flat_matrix(scope: Scope, params: BenchParams) -> str:
    keys = [params.samples[i] for i in scope.samples]
    cols = "contig, pos, ref, alt, sample_id, alt_dosage, called_alleles, ploidy"
    scan = _flat_scan(scope, cols)
    sites = f"SELECT DISTINCT contig, pos, ref, alt FROM ({scan}) y"  # the no-call rows list the rest
    calls = (f"SELECT pos, ref, alt, sample_id AS k, {_MATRIX_VALUE} AS v FROM ({scan}) y "
             f"WHERE {_member_pred('sample_id', keys)}")
    return _matrix_sql(sites, calls, ("pos", "ref", "alt"), keys)


# ------------------------------------------------------------------------------- run


def _clinvar_join(af_sql: str, scope: Scope, params: BenchParams) -> str:
    """The alleles of `af_sql` with ClinVar records of the same CPRA, and how many."""
    lo, hi = scope.intervals[0]
    return f"""WITH af AS ({af_sql}),
cv AS (SELECT contig, pos, ref, alt, count(*) AS n_clinvar FROM clinvar
  WHERE assembly = {_lit(ASSEMBLY)} AND contig = {_lit(params.contig)} AND pos BETWEEN {lo} AND {hi}
    AND cpra IS NOT NULL
  GROUP BY contig, pos, ref, alt)
SELECT af.*, CAST(cv.n_clinvar AS BIGINT) AS n_clinvar
FROM af JOIN cv ON af.contig = cv.contig AND af.pos = cv.pos AND af.ref = cv.ref AND af.alt = cv.alt"""


def workload_sql(workload: str, built: BuiltLayout, params: BenchParams, scope: Scope) -> str:
    """The layout's SQL for the workload (unordered rows in the contract's columns)."""
    kind = built.spec.kind
    if kind == "packed":
        af, sample, matrix = _packed_af, _packed_sample, _packed_matrix
    elif kind == "flat_default":
        af, sample, matrix = _flat_af, _flat_sample, _flat_matrix
    else:
        rows = _rows_of(built)

        def af(s, p):
            return _rows_af(rows, s, p)

        def sample(s, p):
            return _rows_sample(rows, s, p)

        def matrix(s, p):
            return _rows_matrix(rows, s, p)
    if workload == "sample_region":
        return sample(scope, params)
    if workload == "genotype_matrix":
        return matrix(scope, params)
    if workload == "annotate_gene":
        return _clinvar_join(af(scope, params), scope, params)
    return af(scope, params)


def _resolve_rsids(con, params: BenchParams) -> tuple[tuple[int, str, str], ...]:
    """The rsIDs' alleles on the contig, looked up in the shared rsid_index on the connection."""
    rsids = sorted({r["rsid"] for r in params.rsids})
    rows = con.sql(f"""SELECT DISTINCT pos, ref, alt FROM rsid_index
        WHERE rsid IN {_in(rsids)} AND dataset = {_lit(params.dataset)} AND contig = {_lit(params.contig)}""").fetchall()
    return tuple(sorted((int(p), r, a) for p, r, a in rows))


def run(workload: str, built: BuiltLayout, con, params: BenchParams) -> pa.Table:
    """The workload's answer on the layout, in the contract form (sorted, contract types)."""
    _check_workload(workload)
    alleles = _resolve_rsids(con, params) if workload == "af_rsids" else None
    scope = scope_of(workload, params, alleles)
    table = con.sql(workload_sql(workload, built, params, scope)).to_arrow_table()
    return to_contract(workload, table)


# --------------------------------------------------------------------------- reference


def _region_text(region) -> str:
    contig, start, end = region
    return f"{contig}:{int(start)}-{int(end)}"


def reference(workload: str, params: BenchParams, engine) -> pa.Table:
    """The workload's answer from the curated lake through the project's public API: the truth
    every layout is checked against. `engine`: genolake.connect(lake)."""
    import genolake

    _check_workload(workload)
    ds = params.dataset
    if workload == "af_rsids":
        t = genolake.allele_frequency(engine, rsids=sorted({r["rsid"] for r in params.rsids}), dataset=ds)
    elif workload == "af_region":
        t = genolake.allele_frequency(engine, region=_region_text(params.region), dataset=ds)
    elif workload == "af_all":
        t = genolake.allele_frequency(engine, region=params.contig, dataset=ds)
    elif workload == "af_all_cohort":
        t = genolake.allele_frequency(engine, region=params.contig, cohort=list(params.cohort_ids), dataset=ds)
    elif workload == "annotate_gene":
        _interval(params.gene_region, params, "gene_region")
        t = _clinvar_counts(genolake.annotate(engine, region=_region_text(params.gene_region), dataset=ds,
                                              assembly=ASSEMBLY))
    elif workload == "sample_region":
        t = genolake.sample_variants(engine, params.sample, region=_region_text(params.sample_region), dataset=ds)
    else:
        t = _reference_matrix(params, engine)
    return to_contract(workload, t)


_CLINVAR_COLUMNS = ("gene_symbol", "clinical_significance", "review_status", "phenotype_list", "variation_id",
                    "allele_id", "clinvar_rsid")


def _clinvar_counts(annotated: pa.Table) -> pa.Table:
    """annotate's rows (one per variant and matching ClinVar record; one row of nulls for a
    variant without a record) -> the variants with records and n_clinvar."""
    matched = None
    for c in _CLINVAR_COLUMNS:
        valid = pc.is_valid(annotated[c])
        matched = valid if matched is None else pc.or_(matched, valid)
    counts: dict[tuple, list] = {}
    keys = zip(*(annotated[c].to_pylist() for c in ("contig", "pos", "ref", "alt", "ac", "an")))
    for key, hit in zip(keys, matched.to_pylist()):
        entry = counts.setdefault(key[:4], [key[4], key[5], 0, 0])
        entry[2] += 1
        entry[3] += bool(hit)
    # a variant is matched when any of its rows has ClinVar values (a LEFT JOIN gives one null row otherwise)
    rows = [dict(zip(("contig", "pos", "ref", "alt"), k), ac=ac, an=an, n_clinvar=n)
            for k, (ac, an, n, hits) in counts.items() if hits]
    return pa.Table.from_pylist(rows, schema=ANSWER_SCHEMAS["annotate_gene"])


def _reference_matrix(params: BenchParams, engine) -> pa.Table:
    """Every split allele of the matrix region for the cohort, from the query layer's
    genotype_matrix analysis (samples x sites), turned site-major into the contract's form:
    dosages in cohort order, -1 for a missing call."""
    from genolake.queries import genotype_matrix

    lo, hi = _interval(params.matrix_region, params, "matrix_region")
    sites = engine.sql(f"""SELECT contig, pos, ref, alt, cpra FROM variants
        WHERE dataset = {_lit(params.dataset)} AND contig = {_lit(params.contig)} AND pos BETWEEN {lo} AND {hi}
        ORDER BY pos, allele_ord""")
    ids = list(params.cohort_ids)
    if sites.num_rows == 0:
        return pa.table({c: sites[c] for c in ("contig", "pos", "ref", "alt")}).append_column(
            "dosages", pa.array([], pa.list_(pa.int8())))
    table = genotype_matrix(engine, sites["cpra"].to_pylist(), dataset=params.dataset, cohort=ids)
    row = {s: i for i, s in enumerate(table["sample_id"].to_pylist())}
    order = np.array([row[s] for s in ids], dtype=np.int64)
    matrix = np.stack([table[c].to_numpy(zero_copy_only=False) for c in sites["cpra"].to_pylist()])  # sites x samples
    matrix = np.where(np.isnan(matrix.astype(np.float64)), -1, matrix).astype(np.int8)[:, order]
    offsets = pa.array(np.arange(sites.num_rows + 1, dtype=np.int32) * len(ids))
    dosages = pa.ListArray.from_arrays(offsets, pa.array(matrix.reshape(-1)))
    return sites.drop_columns(["cpra"]).append_column("dosages", dosages)


# ----------------------------------------------------------------------------- compare


def to_contract(workload: str, table: pa.Table) -> pa.Table:
    """`table` in the contract form: the workload's columns in order, its types, sorted by pos, ref, alt."""
    _check_workload(workload)
    schema = ANSWER_SCHEMAS[workload]
    missing = [c for c in schema.names if c not in table.column_names]
    if missing:
        raise ValueError(f"{workload} answer lacks column(s) {', '.join(missing)}")
    table = table.select(schema.names).cast(schema)
    return table.sort_by([(c, "ascending") for c in SORT_KEY]).combine_chunks()


def compare(answer: pa.Table, truth: pa.Table) -> str | None:
    """None when the answers are equal (after both are cast to truth's types and sorted by pos, ref,
    alt), else a one-line description of the first difference."""
    if answer.column_names != truth.column_names:
        return f"columns differ: {answer.column_names} vs truth {truth.column_names}"
    try:
        answer = answer.cast(truth.schema)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as err:
        return f"answer does not cast to the truth's types: {str(err).splitlines()[0]}"
    sort = [(c, "ascending") for c in SORT_KEY if c in truth.column_names]
    answer, truth = answer.sort_by(sort).combine_chunks(), truth.sort_by(sort).combine_chunks()
    if answer.equals(truth):
        return None
    n = min(answer.num_rows, truth.num_rows)
    key_cols = [c for c in ("contig", "pos", "ref", "alt") if c in truth.column_names]
    for name in key_cols + [c for c in truth.column_names if c not in key_cols]:
        i = _first_difference(answer[name], truth[name], n)
        if i is not None:
            key = _key_text(answer, i, key_cols)
            if name in key_cols:
                return (f"{answer.num_rows} rows vs {truth.num_rows} in truth; row {i}: {key} vs "
                        f"{_key_text(truth, i, key_cols)} in truth")
            return f"{key}: {name} {_short(answer[name][i].as_py())} vs {_short(truth[name][i].as_py())} in truth"
    if answer.num_rows != truth.num_rows:
        extra, other = (answer, "answer") if answer.num_rows > truth.num_rows else (truth, "truth")
        return (f"{answer.num_rows} rows vs {truth.num_rows} in truth; first extra row in {other}: "
                f"{_key_text(extra, n, key_cols)}")
    return "the tables differ (metadata or chunk layout only)"


def _first_difference(a: pa.ChunkedArray, b: pa.ChunkedArray, n: int) -> int | None:
    a, b = a.slice(0, n), b.slice(0, n)
    if pa.types.is_list(a.type):
        for i, (x, y) in enumerate(zip(a.to_pylist(), b.to_pylist())):
            if x != y:
                return i
        return None
    same = pc.fill_null(pc.equal(a, b), False)
    both_null = pc.and_(pc.is_null(a), pc.is_null(b))
    differ = pc.invert(pc.or_(same, both_null))
    idx = pc.indices_nonzero(differ)
    return idx[0].as_py() if len(idx) else None


def _key_text(t: pa.Table, i: int, key_cols: list[str]) -> str:
    return "-".join(str(t[c][i].as_py()) for c in key_cols)


def _short(value) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


# --------------------------------------------------------------------------- planned I/O

_FOOTERS: dict[tuple, list[dict]] = {}  # (path, mtime_ns, size) -> per row group: stats and bytes
_STAT_COLUMNS = ("pos", "sample_index", "sample_id", "contig", "dataset")


def _row_groups(path: Path) -> list[dict]:
    """Per row group of a Parquet file: min/max of the pruning columns and compressed bytes per
    top-level column. Cached per file version."""
    st = path.stat()
    key = (str(path), st.st_mtime_ns, st.st_size)
    if key not in _FOOTERS:
        meta = pq.ParquetFile(path).metadata
        groups = []
        for g in range(meta.num_row_groups):
            rg = meta.row_group(g)
            info = {"bytes": {}, "stats": {}}
            for c in range(rg.num_columns):
                col = rg.column(c)
                top = col.path_in_schema.split(".")[0]
                info["bytes"][top] = info["bytes"].get(top, 0) + col.total_compressed_size
                stats = col.statistics
                if top in _STAT_COLUMNS and stats is not None and stats.has_min_max:
                    info["stats"][top] = (stats.min, stats.max)
            groups.append(info)
        _FOOTERS[key] = groups
    return _FOOTERS[key]


def _partition(path, column: str) -> str | None:
    m = re.search(rf"(?:^|/){re.escape(column)}=([^/]+)/", str(path))
    return urllib.parse.unquote(m[1]) if m else None


def _touches(group: dict, wanted: dict[str, list[tuple]]) -> bool:
    """Whether a row group's min/max allow a row the workload wants: for each constrained column,
    some wanted (lo, hi) range overlaps [min, max]. A column without statistics might hold any."""
    for col, ranges in wanted.items():
        stat = group["stats"].get(col)
        if stat is not None and not any(lo <= stat[1] and stat[0] <= hi for lo, hi in ranges):
            return False
    return True


@dataclass(frozen=True)
class _Read:
    """One relation a workload reads: its files, which of them its partition values allow, the
    row-group ranges it wants per column, and the columns it projects."""

    files: list[Path]
    keep: object  # callable(path) -> bool, or None for every file
    wanted: dict[str, list[tuple]]
    columns: list[str]


def _sample_ranges(scope: Scope, params: BenchParams, column: str) -> dict[str, list[tuple]]:
    if scope.samples is None:
        return {}
    if column == "sample_index":
        return {column: _runs(scope.samples)}
    return {column: [(params.samples[i], params.samples[i]) for i in scope.samples]}


def _reads(workload: str, built: BuiltLayout, params: BenchParams, scope: Scope) -> list[_Read]:
    """What the workload's SQL on this layout reads (see the *_sql builders above)."""
    kind, ref = built.spec.kind, built.spec.reference
    pos = {} if scope.intervals is None else {"pos": list(scope.intervals)}
    ploidy = ["ploidy"] if scope.ploidy else []
    if kind == "packed":
        lists = ["dosage", "deficit"] + (["ploidy"] if workload in ("genotype_matrix", "sample_region") else [])
        return [_Read(built.tables["packed"], None, pos, ["contig", "pos", "ref", "alt", *lists])]
    if kind == "flat_default":
        cols = ["contig", "pos", "ref", "alt", "sample_id", "alt_dosage", "called_alleles", *ploidy]
        # a cohort's AF reads every row (each lists its allele); one sample's calls only its own
        who = _sample_ranges(scope, params, "sample_id") if workload == "sample_region" else {}
        return [_Read(built.tables["flat"], None, {**pos, **who}, cols)]
    call_cols = ["pos", "allele_ord", "alt_dosage", "called_alleles", *ploidy]
    wanted, keep = dict(pos), None
    if kind == "by_sample":
        if ref:  # the lake's genotypes hold every dataset and contig
            call_cols += ["dataset", "contig"]
            wanted.update(dataset=[(params.dataset,) * 2], contig=[(params.contig,) * 2])
        if scope.samples is not None:
            names = {params.samples[i] for i in scope.samples}

            def keep(path):
                return _partition(path, "sample_id") in names
    else:
        if scope.samples is not None:
            call_cols.append("sample_index")
            wanted.update(_sample_ranges(scope, params, "sample_index"))
        if kind == "bin" and scope.intervals is not None:
            size = built.spec.bin_size
            bins = [(lo // size * size, hi // size * size) for lo, hi in scope.intervals]

            def keep(path):
                b = _partition(path, "pos_bin")
                return b is None or any(lo <= int(b) <= hi for lo, hi in bins)
    site_cols = ["contig", "pos", "allele_ord", "ref", "alt"] + (["dataset"] if ref else [])
    site_keep = (lambda path: _partition(path, "contig") == params.contig) if ref else None
    return [_Read(built.tables["calls"], keep, wanted, call_cols),
            _Read(built.tables["sites"], site_keep, dict(pos), site_cols)]


def planned_io(workload: str, built: BuiltLayout, params: BenchParams) -> dict:
    """From the footers: how many of the layout's files and row groups, and how many compressed
    bytes of the projected columns, the workload's filters can touch: partition folders (sample_id,
    pos_bin, contig) and row-group min/max of pos and of the sample columns against the workload's
    positions and samples. ClinVar and rsid_index, shared by every layout, are not counted."""
    scope = scope_of(workload, params)
    files = groups = nbytes = 0
    for read in _reads(workload, built, params, scope):
        for path in read.files:
            if read.keep is not None and not read.keep(path):
                continue
            touched = [g for g in _row_groups(Path(path)) if _touches(g, read.wanted)]
            if touched:
                files += 1
                groups += len(touched)
                nbytes += sum(g["bytes"].get(c, 0) for g in touched for c in read.columns)
    return {"files": files, "row_groups": groups, "bytes": nbytes}
