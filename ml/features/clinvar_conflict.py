"""Features for "will ClinVar's submitters disagree about this variant?" (task "clinvar_conflict").

One row per ClinVar variation of `assembly`: the curated `clinvar` table's record of each
`variation_id` (a variation written more than once in an assembly, e.g. mapped to two places, keeps
its first record in the file, the smallest `source_line`), joined with the lake's `variants` and
stored calls of one dataset. Everything is computed in SQL through the query layer, over the table
contract (any query engine); the per-super-population AFs are `population_frequencies` itself.

Label y: "conflicting" when clinical_significance says "Conflicting interpretations of
pathogenicity" (older releases) or "Conflicting classifications of pathogenicity" (newer),
case-insensitive, anywhere in the text; else "not_conflicting". Groups: the gene symbol as ClinVar
writes it ("-" for none), so a gene-grouped CV split never has one gene on both sides.

No leakage, by construction: the feature SQL reads only the clinvar columns in FEATURE_COLUMNS
(plus KEY_COLUMNS to select and join rows); the label is read by a separate query. At import, every
clinvar column must be in exactly one of FEATURE_COLUMNS, KEY_COLUMNS and LEAKING_COLUMNS (a new
column must be classified before this module loads), and the feature SQL is parsed to check it
names no leaking column. LEAKING_COLUMNS: the classification and what is written from it
(clin_sig_simple; review_status says "criteria provided, conflicting classifications";
last_evaluated), and the phenotypes submitters attach to their classifications.
`name` is kept: it is the HGVS description of the variant itself; only its protein-change class is
used (PROTEIN_CHANGES).

Columns (all float64; NaN = unknown), in this fixed order:
- type_<t> for t in VARIANT_TYPES, then type_other (ClinVar Type, case-insensitive; a fixed
  vocabulary, so the columns do not depend on the data);
- protein_<p> for p in PROTEIN_CHANGES, from the name's `(p.…)`: missense, nonsense, frameshift,
  synonymous, inframe (del/ins/dup), other, none (no protein change written);
- ref_length, alt_length (len of the VCF-style alleles; NaN without them), span_length
  (stop - start + 1; NaN without valid coordinates), has_rsid;
- number_submitters;
- origin_<o> for o in ORIGINS, then origin_other (OriginSimple);
- has_gene, gene_records (ClinVar variations of the same gene symbol in the assembly),
  gene_lake_variants (the dataset's split alleles within the gene's span: min(start)..max(stop) of
  its records on the record's contig; NaN when none of them has valid coordinates);
- in_lake (the record's CPRA is a split allele of the dataset), af (the dataset's whole-callset AF
  from `variants`), af_<P> for each super-population P in `populations` (exact AF over the
  dataset's samples of P); NaN when not in the lake. Without a dataset in the lake the lake columns
  are NaN and in_lake 0.
"""

from __future__ import annotations

import json
import re

import numpy as np
import pyarrow as pa
import sqlglot
from sqlglot import exp

from genolake.lake.errors import QueryError, QueryNotFound
from genolake.lake.schemas import CLINVAR
from genolake.queries.analyses.frequencies import population_frequencies
from genolake.queries.cohorts import members_of
from genolake.queries.provenance import analysis, read_provenance
from genolake.queries.sql import lit, run

from .base import FeatureSet

__all__ = ["build", "FEATURE_COLUMNS", "KEY_COLUMNS", "LEAKING_COLUMNS", "VARIANT_TYPES", "PROTEIN_CHANGES",
           "ORIGINS", "CONFLICT_PHRASES", "LABELS", "feature_columns"]

TASK = "clinvar_conflict"
LABELS = ("conflicting", "not_conflicting")
CONFLICT_PHRASES = ("conflicting interpretations of pathogenicity", "conflicting classifications of pathogenicity")

# the clinvar columns the features may read ...
FEATURE_COLUMNS = frozenset({"contig", "pos", "ref", "alt", "cpra", "rsid", "type", "name", "gene_symbol",
                             "origin_simple", "number_submitters", "start", "stop"})
# ... the ones used only to pick and key rows (identifiers, not features) ...
KEY_COLUMNS = frozenset({"assembly", "variation_id", "source_line", "allele_id", "gene_id", "hgnc_id",
                         "chromosome_accession", "origin"})
# ... and the ones that say (or are written from) the classification: never read by the features
LEAKING_COLUMNS = frozenset({"clinical_significance", "clin_sig_simple", "review_status", "last_evaluated",
                             "phenotype_ids", "phenotype_list"})

VARIANT_TYPES = ("single nucleotide variant", "Deletion", "Duplication", "Insertion", "Indel", "Microsatellite",
                 "Inversion", "copy number loss", "copy number gain", "Variation")
PROTEIN_CHANGES = ("missense", "nonsense", "frameshift", "synonymous", "inframe", "other", "none")
ORIGINS = ("germline", "somatic", "germline/somatic", "de novo", "inherited", "unknown", "not provided")
NO_GENE = "-"
_PARAMS_KEY = b"genolake.features.params"


def _check_contract() -> None:
    schema = set(CLINVAR.schema.names)
    parts = (FEATURE_COLUMNS, KEY_COLUMNS, LEAKING_COLUMNS)
    overlap = (FEATURE_COLUMNS & KEY_COLUMNS) | (FEATURE_COLUMNS & LEAKING_COLUMNS) | (KEY_COLUMNS & LEAKING_COLUMNS)
    unclassified = schema - set().union(*parts)
    unknown = set().union(*parts) - schema
    if overlap or unclassified or unknown:
        raise AssertionError(f"clinvar_conflict: clinvar columns misclassified: in two lists {sorted(overlap)}, "
                             f"in none {sorted(unclassified)}, not in the table {sorted(unknown)}")


_check_contract()

_SLUG = re.compile(r"[^a-z0-9]+")


def _slug(text: str) -> str:
    return _SLUG.sub("_", text.lower()).strip("_")


def feature_columns(populations=()) -> list[str]:
    """The column names, in order, for the given super-populations."""
    return ([f"type_{_slug(t)}" for t in VARIANT_TYPES] + ["type_other"]
            + [f"protein_{p}" for p in PROTEIN_CHANGES]
            + ["ref_length", "alt_length", "span_length", "has_rsid", "number_submitters"]
            + [f"origin_{_slug(o)}" for o in ORIGINS] + ["origin_other"]
            + ["has_gene", "gene_records", "gene_lake_variants", "in_lake", "af"]
            + [f"af_{p}" for p in populations])


# ------------------------------------------------------------------------------------ SQL


def _records_sql(assembly: str) -> str:
    """The first record of each variation in `assembly`; only allowed columns."""
    return f"""records AS (
        SELECT variation_id, contig, pos, ref, alt, cpra, rsid, type, name, gene_symbol, origin_simple,
               number_submitters, start, stop
        FROM (SELECT variation_id, contig, pos, ref, alt, cpra, rsid, type, name, gene_symbol, origin_simple,
                     number_submitters, start, stop,
                     row_number() OVER (PARTITION BY variation_id ORDER BY source_line) AS nth
              FROM clinvar WHERE assembly = {lit(assembly)}) r
        WHERE nth = 1
    )"""


def _feature_sql(assembly: str, dataset: str | None) -> str:
    genes = f"""genes AS (
        SELECT gene_symbol, contig, count(*) AS n_records,
               min(CASE WHEN start > 0 AND stop >= start THEN start END) AS lo,
               max(CASE WHEN start > 0 AND stop >= start THEN stop END) AS hi
        FROM records WHERE gene_symbol IS NOT NULL GROUP BY gene_symbol, contig
    ), per_gene AS (
        SELECT gene_symbol, sum(n_records) AS n_records FROM genes GROUP BY gene_symbol
    )"""
    if dataset is None:
        lake_ctes = ""
        lake_cols = ("CAST(NULL AS BIGINT) AS gene_lake_variants, FALSE AS in_lake, "
                     "CAST(NULL AS DOUBLE) AS af")
        lake_joins = ""
    else:
        lake_ctes = f""", gene_variants AS (
        SELECT g.gene_symbol, g.contig, CASE WHEN g.lo IS NULL THEN NULL ELSE count(v.pos) END AS n_variants
        FROM genes g LEFT JOIN variants v
          ON v.dataset = {lit(dataset)} AND v.contig = g.contig AND v.pos BETWEEN g.lo AND g.hi
        GROUP BY g.gene_symbol, g.contig, g.lo
    ), lake AS (
        SELECT contig, pos, cpra, af FROM variants WHERE dataset = {lit(dataset)}
    )"""
        lake_cols = "gv.n_variants AS gene_lake_variants, l.cpra IS NOT NULL AS in_lake, l.af AS af"
        lake_joins = """
        LEFT JOIN gene_variants gv ON gv.gene_symbol = c.gene_symbol AND gv.contig = c.contig
        LEFT JOIN lake l ON l.contig = c.contig AND l.pos = c.pos AND l.cpra = c.cpra"""
    return f"""WITH {_records_sql(assembly)}, {genes}{lake_ctes}
    SELECT c.variation_id, c.cpra, c.type, c.name, c.gene_symbol, c.origin_simple,
           length(c.ref) AS ref_length, length(c.alt) AS alt_length,
           CASE WHEN c.start > 0 AND c.stop >= c.start THEN c.stop - c.start + 1 END AS span_length,
           c.rsid IS NOT NULL AS has_rsid, c.number_submitters,
           pg.n_records AS gene_records, {lake_cols}
    FROM records c
        LEFT JOIN per_gene pg ON pg.gene_symbol = c.gene_symbol{lake_joins}
    ORDER BY c.variation_id"""


def _label_sql(assembly: str) -> str:
    phrases = " OR ".join(f"strpos(lower(clinical_significance), {lit(p)}) > 0" for p in CONFLICT_PHRASES)
    return f"""SELECT variation_id, coalesce({phrases}, FALSE) AS conflicting
    FROM (SELECT variation_id, clinical_significance,
                 row_number() OVER (PARTITION BY variation_id ORDER BY source_line) AS nth
          FROM clinvar WHERE assembly = {lit(assembly)}) r
    WHERE nth = 1 ORDER BY variation_id"""


def leaking_columns_in(query: str) -> set[str]:
    """The LEAKING_COLUMNS a query names anywhere (columns, aliases)."""
    names = {c.name for stmt in sqlglot.parse(query, read="duckdb") if stmt for c in stmt.find_all(exp.Column)}
    names |= {a.alias for stmt in sqlglot.parse(query, read="duckdb") if stmt for a in stmt.find_all(exp.Alias)}
    return names & LEAKING_COLUMNS


for _q in (_feature_sql("GRCh38", None), _feature_sql("GRCh38", "d")):
    if leaking_columns_in(_q):
        raise AssertionError(f"clinvar_conflict: the feature SQL reads {sorted(leaking_columns_in(_q))}")

# ------------------------------------------------------------------------------ encoding

_PROTEIN = re.compile(r"\(p\.([^)]*)\)")
_AA3 = r"(?:Ala|Arg|Asn|Asp|Cys|Gln|Glu|Gly|His|Ile|Leu|Lys|Met|Phe|Pro|Ser|Thr|Trp|Tyr|Val|Sec|Pyl)"
_MISSENSE = re.compile(rf"^{_AA3}\d+{_AA3}$")
_NONSENSE = re.compile(rf"^{_AA3}\d+(?:Ter|\*)$")


def protein_change(name: str | None) -> str:
    """The class of the `(p.…)` change in a ClinVar Name (PROTEIN_CHANGES)."""
    m = _PROTEIN.search(name or "")
    if not m:
        return "none"
    p = m.group(1).strip("()[]")
    if "fs" in p:
        return "frameshift"
    if p.endswith("=") or p == "=":
        return "synonymous"
    if _NONSENSE.match(p):
        return "nonsense"
    if _MISSENSE.match(p):
        return "missense"
    if re.search(r"(del|ins|dup)", p):
        return "inframe"
    return "other"


def _one_hot(values, vocabulary, *, other: bool) -> np.ndarray:
    index = {v.lower(): i for i, v in enumerate(vocabulary)}
    out = np.zeros((len(values), len(vocabulary) + other))
    for row, v in enumerate(values):
        j = index.get((v or "").strip().lower(), len(vocabulary) if other else None)
        if j is not None:
            out[row, j] = 1.0
    return out


def _numeric(table: pa.Table, name: str) -> np.ndarray:
    """A column as float64, null -> NaN."""
    return table[name].cast(pa.float64()).to_numpy(zero_copy_only=False).astype(np.float64)


# --------------------------------------------------------------------------------- build


def _assemblies(engine) -> list[str]:
    return run(engine, "SELECT DISTINCT assembly FROM clinvar ORDER BY assembly").column(0).to_pylist()


def _dataset_and_populations(engine, dataset, populations) -> tuple[str | None, list[str], list[str]]:
    """The dataset (None: the lake has none), the super-populations to give AFs for, and the
    dataset's own super-populations."""
    if dataset is None:
        if "samples" not in engine.bindings():
            if populations:
                raise QueryError("populations given but the lake has no samples: ingest a VCF and a panel first")
            return None, [], []
        datasets = members_of(engine).datasets
        if len(datasets) > 1:
            raise QueryError(f"the lake has {len(datasets)} datasets ({', '.join(datasets)}): choose one with dataset=")
        dataset = datasets[0]
    members = members_of(engine, None, dataset)
    have = sorted({p for p in members.table["super_population"].to_pylist() if p is not None})
    if populations is None:
        return dataset, have, have
    if isinstance(populations, str):
        populations = [p for p in re.split(r"[,\s]+", populations) if p]
    chosen = list(dict.fromkeys(str(p) for p in populations))
    missing = [p for p in chosen if p not in have]
    if missing:
        raise QueryNotFound(f"dataset {dataset!r} has no samples of super-population {', '.join(missing)} "
                            f"(it has: {', '.join(have) or 'none: ingest a panel'})")
    return dataset, chosen, have


@analysis
def feature_table(engine, *, assembly: str = "GRCh38", dataset=None, populations=None,
                  labels: bool = True) -> pa.Table:
    """The features as an Arrow table: variation_id, gene_symbol, [conflicting], then the columns of
    `feature_columns(populations)`; provenance in the schema metadata."""
    if "clinvar" not in engine.bindings():
        raise QueryError("the lake has no ClinVar: ingest a variant_summary release first "
                         "(genolake ingest clinvar variant_summary.txt.gz)")
    have = _assemblies(engine)
    if str(assembly) not in have:
        raise QueryNotFound(f"the lake's ClinVar has no {assembly} records (assemblies: {', '.join(have) or 'none'})")
    dataset, pops, _ = _dataset_and_populations(engine, dataset, populations)
    recorded = engine.dataset_assemblies().get(dataset) if dataset is not None else None
    if recorded is not None and recorded.lower() != str(assembly).lower():
        # positions of one assembly never match the other's: every lake feature would be "absent"
        raise QueryError(f"dataset {dataset!r} is {recorded} (recorded at ingest) but assembly={assembly}: "
                         f"use assembly={recorded!r}")
    raw = run(engine, _feature_sql(assembly, dataset))
    n = raw.num_rows
    blocks = [
        _one_hot(raw["type"].to_pylist(), VARIANT_TYPES, other=True),
        _one_hot([protein_change(x) for x in raw["name"].to_pylist()], PROTEIN_CHANGES, other=False),
        np.column_stack([_numeric(raw, c) for c in ("ref_length", "alt_length", "span_length", "has_rsid",
                                                    "number_submitters")]),
        _one_hot(raw["origin_simple"].to_pylist(), ORIGINS, other=True),
        np.column_stack([np.array([s is not None for s in raw["gene_symbol"].to_pylist()], dtype=float)]
                        + [_numeric(raw, c) for c in ("gene_records", "gene_lake_variants", "in_lake", "af")]),
    ]
    if pops:
        freq = population_frequencies(engine, dataset=dataset, by="super_population")
        at = {cpra: i for i, cpra in enumerate(freq["cpra"].to_pylist())}
        rows = [at.get(c) for c in raw["cpra"].to_pylist()]
        for p in pops:
            values = freq[f"{p}_af"].to_pylist()
            blocks.append(np.array([[np.nan if i is None or values[i] is None else values[i]] for i in rows],
                                   dtype=np.float64).reshape(n, 1))
    X = np.hstack(blocks) if n else np.zeros((0, len(feature_columns(pops))))
    names = feature_columns(pops)
    arrays = {"variation_id": raw["variation_id"],
              "gene_symbol": pa.array([s if s is not None else NO_GENE for s in raw["gene_symbol"].to_pylist()],
                                      pa.string())}
    if labels:
        lab = run(engine, _label_sql(assembly))
        if lab["variation_id"].to_pylist() != raw["variation_id"].to_pylist():
            raise QueryError("clinvar changed between the feature and label reads; bind the engine to one snapshot")
        arrays["conflicting"] = lab["conflicting"]
    for j, name in enumerate(names):
        arrays[name] = pa.array(X[:, j], pa.float64())
    table = pa.table(arrays)
    return table.replace_schema_metadata({_PARAMS_KEY: json.dumps({"dataset": dataset, "populations": pops})})


def build(engine, *, assembly: str = "GRCh38", dataset=None, populations=None, labels: bool = True) -> FeatureSet:
    """The clinvar_conflict FeatureSet over `engine`'s lake (see the module docstring).

    assembly: the ClinVar records used (QueryNotFound when the lake's ClinVar has none of it; QueryError
    when the dataset was recorded at ingest with another assembly).
    dataset: the callset the lake features come from; None: the lake's only dataset (none: the lake
    features are NaN; several: QueryError). populations: super-populations to give AFs for (a list or
    "AFR,EUR"); None: all of the dataset's, sorted. labels: False builds for prediction (y is None)."""
    table = feature_table(engine, assembly=assembly, dataset=dataset, populations=populations, labels=labels)
    ds, pops = _params_of(table)
    names = [c for c in table.column_names if c not in ("variation_id", "gene_symbol", "conflicting")]
    X = np.column_stack([table[c].to_numpy(zero_copy_only=False).astype(np.float64) for c in names]) \
        if table.num_rows else np.zeros((0, len(names)))
    y = None
    if labels:
        y = np.array([LABELS[0] if v else LABELS[1] for v in table["conflicting"].to_pylist()], dtype=object)
    return FeatureSet(
        task=TASK, X=X, rows=[str(v) for v in table["variation_id"].to_pylist()], columns=names, y=y,
        groups=np.array(table["gene_symbol"].to_pylist(), dtype=object),
        params={"assembly": str(assembly), "dataset": ds, "populations": pops, "labels": bool(labels)},
        provenance=read_provenance(table) or {})


def _params_of(table: pa.Table) -> tuple[str | None, list[str]]:
    """The dataset and super-populations feature_table resolved (it records them in the metadata)."""
    p = json.loads(table.schema.metadata[_PARAMS_KEY])
    return p["dataset"], list(p["populations"])
