"""Exact allele frequencies for a cohort (DESIGN.md "Stored calls and exact allele counts").

For a cohort C and a split allele of dataset d, with C_d the cohort's samples in d:

    AC = Σ alt_dosage over C_d's stored rows
    AN = 2·|C_d| − Σ (2 − called_alleles) over C_d's stored rows
    AF = AC / AN (null when AN = 0)

A cohort spanning datasets gives one row per (site, dataset) for each of its datasets whose callset
has the site, counted over that dataset's members only.

Where the numbers come from:

- a dataset the cohort covers completely: the `variants` table's own whole-callset columns (no
  genotype scan);
- otherwise the stored calls of the cohort's members, aggregated per allele, from one of the two
  copies (`_calls_source` weighs them):
  - `cpra_index` for rsIDs and CPRAs, for regions, and for scans of large cohorts: `contig` and
    `pos_bin` predicates (computed here from the positions) prune files, `pos` prunes row groups,
    and a site's rows lie together, so aggregating them stays in cache;
  - `genotypes` for scans of small cohorts: the semi-join on the members (`sample_id IN (SELECT
    ...)`) lets the engine read only those samples' partitions.
  The members travel into SQL as the shortest exact predicate (`cohorts.Members.predicates`): the
  cohort's own terms, or runs of callset columns ("the first 1,000 samples" is one BETWEEN).

Each query is written once in DuckDB's dialect, every user value quoted with `lit`/`in_list`, and
run through `transpile` for the engine's dialect.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import pyarrow as pa

from genolake.lake.coords import cpra_key
from genolake.lake.errors import QueryError, QueryNotFound

from ..cohorts import Members, members_of
from ..regions import Region, parse_cpra, parse_region
from ..provenance import analysis, note_reads
from ..sql import in_list, lit, run, read_rows
from .site_lookup import lookup_frequencies

__all__ = ["allele_frequency", "population_frequencies", "AF_SCHEMA", "GROUP_COLUMNS"]

AF_SCHEMA = pa.schema([
    ("dataset", pa.string()), ("contig", pa.string()), ("pos", pa.int32()), ("ref", pa.string()),
    ("alt", pa.string()), ("cpra", pa.string()), ("rsid", pa.string()),
    ("ac", pa.int64()), ("an", pa.int64()), ("af", pa.float64()),
    ("n_het", pa.int64()), ("n_hom_alt", pa.int64()), ("n_missing", pa.int64()), ("n_samples", pa.int64()),
])
ID_COLUMNS = ("dataset", "contig", "pos", "ref", "alt", "cpra", "rsid")
GROUP_COLUMNS = {"super_population": "super_population", "population": "population", "sex": "sex"}
UNKNOWN_GROUP = "unknown"
# the CLI's and the cohorts' spellings of a group column
_BY_ALIASES = {"super_pop": "super_population", "superpop": "super_population", "super_population": "super_population",
               "pop": "population", "population": "population", "sex": "sex"}
SOURCES = ("auto", "variants", "cpra_index", "genotypes")

_RSID_RE = re.compile(r"^rs[0-9]+$", re.IGNORECASE)
_SHOW = 5


def _sql(engine, query: str) -> pa.Table:
    return run(engine, query)


def _shown(names) -> str:
    names = list(names)
    return ", ".join(names[:_SHOW]) + (f" and {len(names) - _SHOW} more" if len(names) > _SHOW else "")


def contig_order(col: str = "contig") -> str:
    """A sort key putting contigs in karyotype order: 1..22, X, Y, MT, then other names."""
    return (f"CASE {col} WHEN 'X' THEN 23 WHEN 'Y' THEN 24 WHEN 'MT' THEN 25 "
            f"ELSE coalesce(TRY_CAST({col} AS INTEGER), 1000) END")


# ---------------------------------------------------------------------------------- selection


@dataclass(frozen=True)
class Selection:
    """Which split alleles: "keys" (CPRAs, with their contigs and positions), "region", or "all"."""

    kind: str
    cpras: tuple[str, ...] = ()
    contigs: tuple[str, ...] = ()
    positions: tuple[int, ...] = ()
    region: Region | None = None
    # rsID selections: the rsid_index rows found (dataset, contig, pos, allele_ord, ref, alt, cpra, rsid)
    sites: tuple[dict, ...] | None = field(default=None, compare=False)
    # rsIDs asked for but not found (a non-strict lookup), and the one-line note naming them
    unknown: tuple[str, ...] = field(default=(), compare=False)
    unknown_note: str | None = field(default=None, compare=False)

    def variants_pred(self, a: str = "") -> str:
        """Predicate over `variants` (alias prefix `a`, e.g. "v.")."""
        if self.kind == "keys":
            return (f"{a}contig IN {in_list(self.contigs)} AND {a}pos IN {in_list(self.positions)} "
                    f"AND {a}cpra IN {in_list(self.cpras)}")
        if self.kind == "region":
            r = self.region
            return f"{a}contig = {lit(r.contig)} AND {a}pos BETWEEN {int(r.start)} AND {int(r.end)}"
        return "TRUE"

    def calls_pred(self, a: str, bin_size: int | None) -> str:
        """Location predicate over `cpra_index` (bin_size given: adds `pos_bin`) or `genotypes`.
        A superset for keys: the join with the selected sites makes it exact."""
        if self.kind == "keys":
            pred = f"{a}contig IN {in_list(self.contigs)} AND {a}pos IN {in_list(self.positions)}"
            if bin_size:
                bins = sorted({p // bin_size * bin_size for p in self.positions})
                pred += f" AND {a}pos_bin IN {in_list(bins)}"
            return pred
        if self.kind == "region":
            r = self.region
            pred = f"{a}contig = {lit(r.contig)} AND {a}pos BETWEEN {int(r.start)} AND {int(r.end)}"
            if bin_size:
                pred += (f" AND {a}pos_bin BETWEEN {r.start // bin_size * bin_size} "
                         f"AND {r.end // bin_size * bin_size}")
            return pred
        return "TRUE"


def _as_list(values, what: str) -> list[str]:
    if isinstance(values, str):
        values = re.split(r"[,\s]+", values)
    try:
        items = [str(v).strip() for v in values]
    except TypeError:
        raise QueryError(f"{what} must be a list or a comma-separated string, got {values!r}") from None
    items = [v for v in items if v]
    if not items:
        raise QueryError(f"no {what} given")
    return list(dict.fromkeys(items))


def normalize_rsids(rsids) -> list[str]:
    out = []
    for r in _as_list(rsids, "rsIDs"):
        if not _RSID_RE.match(r):
            raise QueryError(f"{r!r} is not an rsID (expected rs followed by digits, e.g. rs671)")
        out.append("rs" + r[2:])
    return list(dict.fromkeys(out))


_RSID_SITE_COLUMNS = ["dataset", "contig", "pos", "allele_ord", "ref", "alt", "cpra", "rsid"]


def rsid_sites(engine, rsids: list[str], datasets: list[str]) -> list[dict]:
    """The rsid_index rows of `rsids` in `datasets` (dicts of dataset, contig, pos, allele_ord,
    ref, alt, cpra, rsid). QueryNotFound naming the rsIDs found in none of the datasets."""
    rows, missing, note = _rsid_lookup(engine, rsids, datasets)
    if missing:
        raise QueryNotFound(note)
    return rows


def _rsid_lookup(engine, rsids: list[str], datasets: list[str]) -> tuple[list[dict], list[str], str | None]:
    """The rsid_index rows of `rsids` in `datasets`, the rsIDs found in none of them, and a
    one-line note naming those (None when every rsID was found)."""
    # cpra is contig-pos-ref-alt: built here rather than decoded from the file
    rows = read_rows(engine, "rsid_index", {"rsid": rsids}, [c for c in _RSID_SITE_COLUMNS if c != "cpra"]).to_pylist()
    for r in rows:
        r["cpra"] = cpra_key(r["contig"], r["pos"], r["ref"], r["alt"])
    found: set[str] = set()
    elsewhere: dict[str, set[str]] = {}
    for r in rows:
        if r["dataset"] in datasets:
            found.add(r["rsid"])
        else:
            elsewhere.setdefault(r["rsid"], set()).add(r["dataset"])
    missing = [r for r in rsids if r not in found]
    note = None
    if missing:
        scope = f"dataset {datasets[0]!r}" if len(datasets) == 1 else f"datasets {', '.join(datasets)}"
        other = sorted({d for m in missing for d in elsewhere.get(m, ())})
        hint = f" (found in {', '.join(other)}: choose that dataset)" if other else ""
        noun = "rsID" if len(missing) == 1 else f"{len(missing)} rsIDs"
        note = f"{noun} not found in {scope}: {_shown(missing)}{hint}"
    return [r for r in rows if r["dataset"] in datasets], missing, note


def rsid_cpras(engine, rsids: list[str], datasets: list[str]) -> dict[str, list[dict]]:
    """rsID -> the alleles it names in `datasets` (via rsid_index): dicts with cpra, contig, pos,
    ref, alt, sorted by cpra. QueryError naming the rsIDs found in none of the datasets."""
    found: dict[str, dict[str, dict]] = {}
    for r in rsid_sites(engine, rsids, datasets):
        found.setdefault(r["rsid"], {})[r["cpra"]] = {k: r[k] for k in ("cpra", "contig", "pos", "ref", "alt")}
    return {r: [found[r][c] for c in sorted(found[r])] for r in rsids}


def lake_contigs(engine) -> list[str]:
    """The contigs `variants` has at the engine's snapshot (its partition values), karyotype order."""
    note_reads(["variants"])  # its partition values are part of the answer's inputs
    binding = engine.bindings().get("variants")
    if binding is None:
        return []
    contigs = {p.get("contig") for p in binding.partitions} - {None}
    return sorted(contigs, key=lambda c: (0, int(c), "") if c.isdigit() else (1, 0, c))


def check_region_contig(engine, region: Region) -> Region:
    """`region`, or a QueryError naming the lake's contigs when it has none of `region.contig`
    (an empty answer would look like "no variants there")."""
    have = lake_contigs(engine)
    if have and region.contig not in have:
        raise QueryError(f"region {region}: the lake has no contig {region.contig!r}; its contigs: "
                         f"{', '.join(have[:30])}" + (f" and {len(have) - 30} more" if len(have) > 30 else ""))
    return region


WARNING_KEY = b"genolake.warning"  # schema metadata: one line the CLI prints on stderr


def assembly_warning(engine, datasets, assembly: str) -> str | None:
    """A one-line warning when a dataset asked about (None: every dataset) was recorded at ingest
    with another assembly than the one the question uses (ClinVar records, gene positions)."""
    recorded = engine.dataset_assemblies()
    names = sorted(recorded) if datasets is None else sorted(set(datasets))
    other = {d: recorded[d] for d in names if d in recorded and recorded[d].lower() != str(assembly).lower()}
    if not other:
        return None
    shown = ", ".join(f"{d} is {a}" for d, a in sorted(other.items()))
    return (f"the assembly asked for is {assembly} but {shown} (recorded at ingest): positions may not match; "
            f"use --assembly {sorted(set(other.values()))[0]}")


def with_warning(table: pa.Table, warning: str | None) -> pa.Table:
    if not warning:
        return table
    meta = dict(table.schema.metadata or {})
    old = meta.get(WARNING_KEY)
    meta[WARNING_KEY] = (old.decode() + "; " + warning).encode() if old else warning.encode()
    return table.replace_schema_metadata(meta)


def _keys(alleles: list[tuple[str, int, str]], sites: list[dict] | None = None) -> Selection:
    """A keys Selection from (contig, pos, cpra) triples."""
    return Selection("keys", tuple(dict.fromkeys(a[2] for a in alleles)), tuple(sorted({a[0] for a in alleles})),
                     tuple(sorted({int(a[1]) for a in alleles})), sites=None if sites is None else tuple(sites))


def select_sites(engine, members: Members, *, rsids=None, cpras=None, region=None, gene=None,
                 assembly: str = "GRCh37", genes_file=None, strict: bool = True) -> tuple[Selection, list[str]]:
    """The Selection for at most one selector (none: every site), and the CPRAs that must be found.
    `strict`: an unknown rsID is a QueryError; otherwise the Selection names it (`unknown`)."""
    given = [name for name, v in (("rsids", rsids), ("cpras", cpras), ("region", region), ("gene", gene))
             if v is not None]
    if len(given) > 1:
        raise QueryError(f"give one of rsids, cpras, region or gene, not {' and '.join(given)}")
    if rsids is not None:
        names = normalize_rsids(rsids)
        sites, missing, note = _rsid_lookup(engine, names, members.datasets)
        if missing and (strict or not sites):  # none found at all: there is no answer to give
            raise QueryNotFound(note)
        sel = _keys([(a["contig"], a["pos"], a["cpra"]) for a in sites], sites)
        return Selection(sel.kind, sel.cpras, sel.contigs, sel.positions, sites=sel.sites, unknown=tuple(missing),
                         unknown_note=note), []
    if cpras is not None:
        parsed = [parse_cpra(c) for c in _as_list(cpras, "CPRAs")]
        sel = _keys([(p[0], p[1], cpra_key(*p)) for p in parsed])
        return sel, list(sel.cpras)
    if region is not None:
        return Selection("region", region=check_region_contig(engine, parse_region(region))), []
    if gene is not None:
        from genolake.queries.genes import gene_region

        return Selection("region", region=gene_region(engine, gene, assembly=assembly, genes_file=genes_file)), []
    return Selection("all"), []


UNKNOWN_KEY = b"genolake.unknown"  # schema metadata: JSON list of the rsIDs/CPRAs not found
UNKNOWN_NOTE_KEY = b"genolake.unknown_note"  # schema metadata: the one line naming them


def _check_found(table: pa.Table, wanted: list[str], members: Members, sel: Selection | None = None,
                 strict: bool = True) -> pa.Table:
    """`table`, with the selected names that were not found in its schema metadata (UNKNOWN_KEY,
    UNKNOWN_NOTE_KEY); `strict`: a QueryError naming them instead."""
    have = set(table["cpra"].to_pylist()) if wanted else set()
    missing = [c for c in wanted if c not in have]
    note = None
    if missing:
        ds = members.datasets
        scope = f"dataset {ds[0]!r}" if len(ds) == 1 else f"datasets {', '.join(ds)}"
        noun = "variant" if len(missing) == 1 else f"{len(missing)} variants"
        note = f"{noun} not found in {scope}: {_shown(missing)}"
        if strict or not have:  # none found at all: there is no answer to give
            raise QueryNotFound(note)
    if sel is not None and sel.unknown:
        missing, note = list(sel.unknown), sel.unknown_note
    if not missing:
        return table
    import json

    meta = dict(table.schema.metadata or {})
    meta[UNKNOWN_KEY] = json.dumps(missing).encode()
    meta[UNKNOWN_NOTE_KEY] = note.encode()
    return table.replace_schema_metadata(meta)


# --------------------------------------------------------------------------- where calls come from


# Relative CPU cost per stored row, measured with DuckDB on the chr22-scale lake (2,504 samples,
# 184M stored calls): reading a row and matching it to the cohort; aggregating a row of cpra_index,
# where a site's rows are adjacent (the hash table stays in cache); aggregating a row of genotypes,
# where consecutive rows are different sites.
_COST_SCAN, _COST_AGG_ADJACENT, _COST_AGG_SCATTERED = 1.0, 4.0, 9.0


def _calls_source(engine, sel: Selection, members: Members, partial: list[str]) -> str:
    """Which copy of the stored calls to count: cpra_index reads every sample's calls in the
    selected location partitions (once per dataset counted), genotypes reads the members'
    partitions whole. With r the fraction of location partitions selected, f the members' fraction
    of all samples and k the datasets counted: cpra_index ~ r·(k·scan + f·agg_adjacent),
    genotypes ~ f·(scan + r·agg_scattered). Lookups of rsIDs/CPRAs always take cpra_index."""
    if sel.kind == "keys":
        return "cpra_index"
    r = 1.0
    if sel.kind == "region":
        binding = engine.bindings().get("cpra_index")
        parts = {(p.get("contig"), p.get("pos_bin")) for p in binding.partitions} if binding else set()
        if parts:
            size = engine.pos_bin_size
            lo, hi = sel.region.start // size * size, sel.region.end // size * size
            r = sum(1 for c, b in parts if c == sel.region.contig and lo <= int(b) <= hi) / len(parts)
    f = sum(members.sizes[d] for d in partial) / max(sum(members.totals.values()), 1)
    cpra = r * (len(partial) * _COST_SCAN + f * _COST_AGG_ADJACENT)
    geno = f * (_COST_SCAN + r * _COST_AGG_SCATTERED)
    return "cpra_index" if cpra <= geno else "genotypes"


def _single_contig(engine, sel: Selection) -> str | None:
    """The one contig the selection can touch (from the selection, or for "all" from the contig
    partitions of variants), else None."""
    if sel.kind == "region":
        return sel.region.contig
    if sel.kind == "keys":
        return sel.contigs[0] if len(sel.contigs) == 1 else None
    binding = engine.bindings().get("variants")
    if binding is None:
        return None
    contigs = {p.get("contig") for p in binding.partitions}
    return next(iter(contigs)) if len(contigs) == 1 else None


def _per_dataset(values: dict[str, int], col: str) -> str:
    """A SQL expression giving values[dataset] for the row's dataset (integers only)."""
    items = sorted(values.items())
    if len(items) == 1:
        return str(int(items[0][1]))
    return "CASE " + col + " " + " ".join(f"WHEN {lit(d)} THEN {int(n)}" for d, n in items) + " ELSE 0 END"


def _calls_cte(sel: Selection, source: str, members: Members, partial: list[str], bin_size: int,
               aggregates: str, group_col: str | None = None, contig: str | None = None) -> str:
    """`sites` (the selected alleles of the partial datasets, from variants) and `calls` (the
    members' stored calls aggregated per allele), as CTE text.

    One branch per dataset, so the members are matched on sample_id alone with the dataset a
    constant: a semi-join (`sample_id IN (SELECT ...)`) that lets the engine read only the members'
    genotypes partitions, or with groups a join on sample_id to the member's group `g`. `contig`:
    the one contig the selection can touch, when there is one."""
    loc = sel.calls_pred("x.", bin_size if source == "cpra_index" else None)
    if contig is not None:  # one contig: group on integers only (a string key costs ~1/3 more)
        if sel.kind == "all":
            loc = f"x.contig = {lit(contig)}"
        key_select, key_group = f"{lit(contig)} AS contig, x.pos, x.allele_ord", "x.pos, x.allele_ord"
    else:
        key_select = key_group = "x.contig, x.pos, x.allele_ord"
    # cpra_index names a call's sample by its callset column (an integer the scan filters on),
    # genotypes by sample_id (its partition column, so a semi-join prunes whole files)
    key = "sample_index" if source == "cpra_index" else "sample_id"
    branches = []
    for d in partial:
        if group_col:
            g = f"coalesce({group_col}, {lit(UNKNOWN_GROUP)}) AS g"
            src = (f"{source} x JOIN (SELECT {key}, {g} FROM samples WHERE {members.predicates[d]}) m "
                   f"ON x.{key} = m.{key}")
            where = f"x.dataset = {lit(d)}"
        elif key == "sample_index":
            src = f"{source} x"
            where = f"x.dataset = {lit(d)} AND {members.index_predicate(d, 'x.sample_index')}"
        else:
            src = f"{source} x"
            where = f"x.dataset = {lit(d)} AND x.sample_id IN (SELECT sample_id FROM samples WHERE {members.predicates[d]})"
        branches.append(f"""SELECT {lit(d)} AS dataset, {key_select}, {aggregates}
        FROM {src}
        WHERE {where} AND {loc}
        GROUP BY {key_group}""")
    calls = "\n        UNION ALL\n        ".join(branches)
    return f"""sites AS (
        SELECT dataset, contig, pos, allele_ord, ref, alt, cpra, rsid FROM variants
        WHERE {sel.variants_pred()} AND dataset IN {in_list(partial)}
    ), calls AS (
        {calls}
    )"""


_ORDER = f"ORDER BY {contig_order()}, contig, pos, allele_ord, dataset"


def _join_calls(partial: list[str], contig: str | None) -> str:
    """sites LEFT JOIN calls on the allele. With one dataset counted and one contig (a contig scan,
    the common case) the key is two integers: a string compare per row costs ~15% of the scan."""
    keys = ([] if len(partial) == 1 else ["dataset"]) + ([] if contig is not None else ["contig"]) + ["pos", "allele_ord"]
    return "FROM sites s LEFT JOIN calls c ON " + " AND ".join(f"s.{k} = c.{k}" for k in keys)


def _order(contig: str | None) -> str:
    """`_ORDER`; on one contig without the karyotype rank (the same order, sorted on integers)."""
    return "ORDER BY pos, allele_ord, dataset" if contig is not None else _ORDER
_KARYOTYPE = {"X": 23, "Y": 24, "MT": 25}


def _row_order(row: dict) -> tuple:
    """`_ORDER` for a row in Python."""
    c = row["contig"]
    rank = _KARYOTYPE.get(c, int(c) if c.isascii() and c.isdigit() else 1000)
    return rank, c, row["pos"], row["allele_ord"], row["dataset"]


def _af(ac: str, an: str) -> str:
    return f"CASE WHEN {an} = 0 THEN NULL ELSE CAST({ac} AS DOUBLE) / {an} END"


# ------------------------------------------------------------------------------ allele frequency


@analysis
def allele_frequency(engine, *, rsids=None, cpras=None, region=None, gene=None, cohort=None, dataset=None,
                     assembly: str = "GRCh37", genes_file=None, strict: bool = False,
                     _source: str = "auto") -> pa.Table:
    """Exact AC, AN, AF (and n_het, n_hom_alt, n_missing) per split allele per dataset in `cohort`.

    Select the alleles with one of `rsids` (list or "rs1,rs2"), `cpras` ("22-16050075-A-G", list or
    comma string), `region` ("22:16000000-17000000" or a Region) or `gene` (a symbol placed by
    `queries.genes.gene_region` from ClinVar of `assembly` or `genes_file`); with none, every site.
    `cohort`: a Cohort, cohort text ("super_pop=EAS"), a list of sample IDs, or None (everyone);
    `dataset` restricts it to one dataset.

    Columns: dataset, contig, pos, ref, alt, cpra, rsid, ac, an, af (null when an = 0), n_het,
    n_hom_alt, n_missing, n_samples (the cohort's samples in that dataset); sorted by contig, pos,
    allele, dataset. Unknown rsIDs or CPRAs: the found ones are returned and the unknown ones are
    named in the schema metadata (UNKNOWN_KEY: a JSON list, UNKNOWN_NOTE_KEY: one line); with
    `strict` they are a QueryError naming them. A region without variants gives an empty table.

    `_source` (testing and benchmarks): "auto"; "variants" (whole-dataset counts, only for a cohort
    covering whole datasets); "cpra_index" or "genotypes" (count the stored calls, even for whole
    datasets)."""
    if _source not in SOURCES:
        raise QueryError(f"_source must be one of {', '.join(SOURCES)}, not {_source!r}")
    members = members_of(engine, cohort, dataset)
    sel, must_find = select_sites(engine, members, rsids=rsids, cpras=cpras, region=region, gene=gene,
                                  assembly=assembly, genes_file=genes_file, strict=strict)
    warn = assembly_warning(engine, members.datasets, assembly) if gene is not None and genes_file is None else None
    return with_warning(_allele_frequency(engine, members, sel, must_find, strict, _source), warn)


def _allele_frequency(engine, members, sel, must_find, strict, _source) -> pa.Table:
    full = members.full if _source in ("auto", "variants") else []
    partial = [d for d in members.datasets if d not in full]
    if _source == "variants" and partial:
        raise QueryError(f"cohort {members.cohort.describe()} does not cover whole datasets "
                         f"({', '.join(partial)}): the variants table cannot answer it")
    if sel.kind == "keys" and _source == "auto":  # a few named sites: key lookups, no scan
        table = lookup_frequencies(engine, sel, members, full, partial, None if sel.sites is None else list(sel.sites),
                                   AF_SCHEMA, _row_order)
        return _check_found(table, must_find, members, sel, strict)
    parts = []
    ctes = ""
    contig = _single_contig(engine, sel)
    if partial:
        source = _source if _source in ("cpra_index", "genotypes") else _calls_source(engine, sel, members, partial)
        aggregates = """sum(x.alt_dosage) AS ac, sum(2 - x.called_alleles) AS deficit,
            count_if(x.called_alleles = x.ploidy AND x.alt_dosage > 0 AND x.alt_dosage < x.ploidy) AS n_het,
            count_if(x.called_alleles = x.ploidy AND x.alt_dosage = x.ploidy AND x.ploidy > 0) AS n_hom_alt,
            count_if(x.called_alleles <> x.ploidy) AS n_missing"""
        ctes = "WITH " + _calls_cte(sel, source, members, partial, engine.pos_bin_size,
                                    aggregates, contig=contig) + ","
        n = _per_dataset({d: members.sizes[d] for d in partial}, "s.dataset")
        ctes += f""" counted AS (
        SELECT s.dataset, s.contig, s.pos, s.allele_ord, s.ref, s.alt, s.cpra, s.rsid,
               coalesce(c.ac, 0) AS ac, 2 * {n} - coalesce(c.deficit, 0) AS an,
               coalesce(c.n_het, 0) AS n_het, coalesce(c.n_hom_alt, 0) AS n_hom_alt,
               coalesce(c.n_missing, 0) AS n_missing, {n} AS n_samples
        {_join_calls(partial, contig)}
    )"""
        parts.append(f"""SELECT dataset, contig, pos, allele_ord, ref, alt, cpra, rsid,
               CAST(ac AS BIGINT) AS ac, CAST(an AS BIGINT) AS an, {_af('ac', 'an')} AS af,
               CAST(n_het AS BIGINT) AS n_het, CAST(n_hom_alt AS BIGINT) AS n_hom_alt,
               CAST(n_missing AS BIGINT) AS n_missing, CAST(n_samples AS BIGINT) AS n_samples
        FROM counted""")
    if full:
        n = _per_dataset({d: members.sizes[d] for d in full}, "dataset")
        parts.append(f"""SELECT dataset, contig, pos, allele_ord, ref, alt, cpra, rsid,
               CAST(ac AS BIGINT) AS ac, CAST(an AS BIGINT) AS an, af,
               CAST(n_het AS BIGINT) AS n_het, CAST(n_hom_alt AS BIGINT) AS n_hom_alt,
               CAST(n_missing AS BIGINT) AS n_missing, CAST({n} AS BIGINT) AS n_samples
        FROM variants WHERE {sel.variants_pred()} AND dataset IN {in_list(full)}""")
    union = "\n        UNION ALL\n        ".join(parts)
    query = f"{ctes}\n    SELECT * FROM ({union}) u\n    {_order(contig)}"
    table = _sql(engine, query)
    _check_found(table, must_find, members, sel, strict)  # strict: raises before the cast
    return _check_found(table.drop_columns(["allele_ord"]).cast(AF_SCHEMA), must_find, members, sel, strict)


# ------------------------------------------------------------------------ population frequencies


@analysis
def population_frequencies(engine, *, rsids=None, cpras=None, region=None, gene=None, cohort=None, dataset=None,
                           by: str = "super_population", assembly: str = "GRCh37", genes_file=None,
                           strict: bool = False, _source: str = "auto") -> pa.Table:
    """AC, AN, AF per group of the cohort's samples: one row per split allele per dataset with
    dataset, contig, pos, ref, alt, cpra, rsid, then `{G}_ac, {G}_an, {G}_af` for each group value G
    in sorted order. `by`: "super_population", "population" or "sex"; a sample without a value is
    in group "unknown". Selectors, cohort and dataset as for `allele_frequency`."""
    by = _BY_ALIASES.get(str(by).strip().lower(), by)
    if by not in GROUP_COLUMNS:
        raise QueryError(f"by must be one of {', '.join(GROUP_COLUMNS)}, not {by!r}")
    if _source not in ("auto", "cpra_index", "genotypes"):
        raise QueryError(f"_source must be auto, cpra_index or genotypes, not {_source!r}")
    members = members_of(engine, cohort, dataset)
    sel, must_find = select_sites(engine, members, rsids=rsids, cpras=cpras, region=region, gene=gene,
                                  assembly=assembly, genes_file=genes_file, strict=strict)
    col = GROUP_COLUMNS[by]
    values = [UNKNOWN_GROUP if v is None else v for v in members.table[col].to_pylist()]
    groups = sorted(set(values))
    sizes: list[dict[str, int]] = [{d: 0 for d in members.datasets} for _ in groups]
    index = {g: i for i, g in enumerate(groups)}
    for d, g in zip(members.table["dataset"].to_pylist(), values):
        sizes[index[g]][d] += 1
    partial = members.datasets
    source = _source if _source != "auto" else _calls_source(engine, sel, members, partial)
    aggregates = ",\n            ".join(
        f"sum(CASE WHEN m.g = {lit(g)} THEN x.alt_dosage ELSE 0 END) AS ac_{i}, "
        f"sum(CASE WHEN m.g = {lit(g)} THEN 2 - x.called_alleles ELSE 0 END) AS def_{i}"
        for i, g in enumerate(groups))
    contig = _single_contig(engine, sel)
    ctes = _calls_cte(sel, source, members, partial, engine.pos_bin_size, aggregates, col, contig=contig)
    counted = ",\n               ".join(
        f"coalesce(c.ac_{i}, 0) AS ac_{i}, 2 * {_per_dataset(sizes[i], 's.dataset')} - coalesce(c.def_{i}, 0) AS an_{i}"
        for i in range(len(groups)))
    outputs = ",\n           ".join(
        f"CAST(ac_{i} AS BIGINT) AS ac_{i}, CAST(an_{i} AS BIGINT) AS an_{i}, {_af(f'ac_{i}', f'an_{i}')} AS af_{i}"
        for i in range(len(groups)))
    query = f"""WITH {ctes}, counted AS (
        SELECT s.dataset, s.contig, s.pos, s.allele_ord, s.ref, s.alt, s.cpra, s.rsid,
               {counted}
        {_join_calls(partial, contig)}
    )
    SELECT dataset, contig, pos, allele_ord, ref, alt, cpra, rsid,
           {outputs}
    FROM counted
    {_order(contig)}"""
    table = _sql(engine, query)
    _check_found(table, must_find, members, sel, strict)
    table = table.drop_columns(["allele_ord"])
    names = list(ID_COLUMNS)
    fields = [AF_SCHEMA.field(c) for c in ID_COLUMNS]
    for g in groups:
        for stat, typ in (("ac", pa.int64()), ("an", pa.int64()), ("af", pa.float64())):
            names.append(f"{g}_{stat}")
            fields.append(pa.field(f"{g}_{stat}", typ))
    return _check_found(table.rename_columns(names).cast(pa.schema(fields)), must_find, members, sel, strict)


__all__ += ["select_sites", "Selection", "contig_order", "normalize_rsids", "rsid_cpras", "rsid_sites"]
