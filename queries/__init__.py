"""Query engines and analyses over the curated tables (see DESIGN.md).

    from genolake.queries import connect, allele_frequency, Cohort, run_sql
    engine = connect("./genolake-data")
    allele_frequency(engine, rsids=["rs671"], cohort="super_pop=EAS")
    run_sql(engine, "SELECT count(*) FROM variants")

`connect` and `Engine` are imported eagerly (they import no engine library until a connection is
made); the cohorts, regions and analyses are loaded on first use so `import genolake` stays fast.
"""

from __future__ import annotations

import importlib

import pyarrow as pa

from .engines import Engine, connect

# public name -> the module (relative to this package) that defines it
_LAZY = {
    "Cohort": ".cohorts",
    "resolve": ".cohorts",
    "parse_region": ".regions",
    "parse_cpra": ".regions",
    "allele_frequency": ".analyses.frequencies",
    "population_frequencies": ".analyses.frequencies",
    "carriers": ".analyses.calls",
    "sample_variants": ".analyses.calls",
    "select_sites": ".analyses.genotype_matrix",
    "genotype_matrix": ".analyses.genotype_matrix",
    "dosage_array": ".analyses.genotype_matrix",
    "annotate": ".analyses.annotation",
    "drug_response_report": ".analyses.annotation",
}


def run_sql(engine: Engine, query: str) -> pa.Table:
    """Run one read-only query (SELECT/WITH/DESCRIBE) on `engine`; anything that would write
    (DDL, DML, COPY, ATTACH, SET, PRAGMA...) raises QueryError before it reaches the engine."""
    from .provenance import stamp, tables_in
    from .sql import check_read_only

    statements = check_read_only(query, getattr(engine, "dialect", "duckdb"))
    return stamp(engine.sql(query), engine, tables_in(statements))


def __getattr__(name: str):
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(_LAZY))


__all__ = ["Engine", "connect", "run_sql", *_LAZY]
