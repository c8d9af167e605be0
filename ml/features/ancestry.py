"""Features for "which super-population is this sample from?" (task "ancestry").

One row per sample of `dataset` (optionally a cohort of it), in callset order; one column per site:
the sample's dosage of that site's ALT from `queries.genotype_matrix` (NaN for a missing call,
0/1 for a haploid call; see its module docstring). The sites are common, biallelic SNPs spread
along each contig (`queries.select_sites`: whole-callset MAF >= min_maf, >= spacing_bp apart, at
most max_sites), or, to predict with a trained model, exactly the model's own list (`sites=`), so
the columns are the same CPRAs in the same order.

Label y: the sample's super_population from `samples` (the panel given at ingest). With
labels=True a dataset without any label is a QueryError naming it; samples without one are dropped
and counted in params["unlabeled_dropped"]. Groups: the sample IDs (a sample is never on both sides
of a split). Everything goes through the query layer, so any query engine builds the same set.
"""

from __future__ import annotations

import json

import numpy as np
import pyarrow as pa

from genolake.lake.errors import QueryError
from genolake.queries.analyses.genotype_matrix import dosage_array, genotype_matrix, select_sites
from genolake.queries.cohorts import as_cohort, members_of
from genolake.queries.provenance import analysis, read_provenance

from .base import FeatureSet

__all__ = ["build", "feature_table", "TASK", "LABEL_COLUMN"]

TASK = "ancestry"
LABEL_COLUMN = "super_population"
_PARAMS_KEY = b"genolake.features.params"


@analysis
def feature_table(engine, *, dataset: str, cohort=None, min_maf: float = 0.05, spacing_bp: int = 10_000,
                  max_sites: int | None = 10_000, labels: bool = True, sites=None) -> pa.Table:
    """The genotype matrix (sample_id, one dosage column per CPRA) and, with labels, the
    super_population column; the resolved parameters in the schema metadata. One @analysis, so the
    provenance names every table read (samples, variants, cpra_index)."""
    members = members_of(engine, cohort, dataset)  # unknown dataset / empty cohort: one-line QueryError
    if sites is None:
        chosen = select_sites(engine, dataset=dataset, min_maf=min_maf, spacing_bp=spacing_bp, max_sites=max_sites)
        if chosen.num_rows == 0:
            raise QueryError(f"dataset {dataset!r} has no biallelic SNP with MAF >= {min_maf}: "
                             "lower min_maf or give sites=")
        sites = chosen
    matrix = genotype_matrix(engine, sites, dataset=dataset, cohort=cohort)
    if labels:
        label_of = {r["sample_id"]: r[LABEL_COLUMN] for r in members.table.to_pylist() if r["dataset"] == dataset}
        values = [label_of.get(s) for s in matrix["sample_id"].to_pylist()]
        if all(v is None for v in values):
            raise QueryError(f"dataset {dataset!r} has no {LABEL_COLUMN} labels: ingest its panel "
                             f"(genolake ingest panel PANEL --dataset {dataset}) or build with labels=False")
        matrix = matrix.add_column(1, LABEL_COLUMN, pa.array(values, pa.string()))
    params = {"dataset": dataset, "cohort": None if cohort is None else as_cohort(cohort).describe()}
    return matrix.replace_schema_metadata({**(matrix.schema.metadata or {}), _PARAMS_KEY: json.dumps(params)})


def build(engine, *, dataset: str, cohort=None, min_maf: float = 0.05, spacing_bp: int = 10_000,
          max_sites: int | None = 10_000, labels: bool = True, sites=None) -> FeatureSet:
    """The ancestry FeatureSet of `dataset` over `engine`'s lake (see the module docstring).

    cohort: restricts the rows (Cohort, cohort text, list of sample IDs). min_maf, spacing_bp,
    max_sites: select_sites' rules (ignored when `sites` is given). sites: the columns to build, as
    CPRAs (a model's `columns`): QueryNotFound when the dataset lacks one. labels=False: for
    prediction, y is None and unlabeled samples are kept."""
    table = feature_table(engine, dataset=dataset, cohort=cohort, min_maf=min_maf, spacing_bp=spacing_bp,
                          max_sites=max_sites, labels=labels, sites=sites)
    matrix = table.drop_columns([LABEL_COLUMN]) if labels else table
    X, rows, columns = dosage_array(matrix)
    y = None
    dropped = 0
    if labels:
        values = table[LABEL_COLUMN].to_pylist()
        keep = np.array([v is not None for v in values], dtype=bool)
        dropped = int((~keep).sum())
        X = X[keep]
        rows = [r for r, k in zip(rows, keep) if k]
        y = np.array([v for v in values if v is not None], dtype=object)
    resolved = json.loads(table.schema.metadata[_PARAMS_KEY])
    params = {
        "dataset": resolved["dataset"], "cohort": resolved["cohort"], "labels": bool(labels),
        "sites": "explicit" if sites is not None else "select_sites",
        "min_maf": None if sites is not None else float(min_maf),
        "spacing_bp": None if sites is not None else int(spacing_bp),
        "max_sites": None if sites is not None or max_sites is None else int(max_sites),
        "n_sites": len(columns), "n_samples": len(rows), "unlabeled_dropped": dropped,
    }
    return FeatureSet(task=TASK, X=X, rows=[str(r) for r in rows], columns=list(columns), y=y,
                      groups=np.array(rows, dtype=object), params=params,
                      provenance=read_provenance(table) or {})
