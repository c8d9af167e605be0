"""genolake: a local-first genomics data lake. `import genolake` is the whole public API.

    import genolake
    lake = genolake.init_lake("./genolake-data")
    genolake.ingest_vcf(lake, "cohort.vcf.gz", dataset="1kg", panel="panel.txt")
    genolake.ingest_clinvar(lake, "variant_summary.txt.gz")
    lake.read("variants")            # a pyarrow.Table at the published snapshot

    engine = genolake.connect(lake)  # DuckDB over the published snapshot
    genolake.allele_frequency(engine, rsids=["rs671"], cohort="super_pop=EAS")
    genolake.population_frequencies(engine, gene="CYP2D6", by="super_population")
    genolake.carriers(engine, "22-16050075-A-G")
    genolake.annotate(engine, gene="TP53")
    genolake.drug_response_report(engine, top=10)
    genolake.sql(engine, "SELECT count(*) FROM variants")   # read-only

The query layer (DuckDB, sqlglot) is imported on first use, so `import genolake` stays fast.
"""

from __future__ import annotations

__version__ = "0.1.0"

from genolake.lake import (
    ConfigError,
    GenolakeError,
    InputError,
    LakeConfig,
    LakeStateError,
    NotFoundError,
    QuarantinedError,
    QueryError,
    ScanFailed,
    ScanLimits,
)
from genolake.lake.store import Lake


def _config(lake_or_root) -> LakeConfig:
    if isinstance(lake_or_root, Lake):
        return lake_or_root.config
    if isinstance(lake_or_root, LakeConfig):
        return lake_or_root
    return LakeConfig.from_env(lake_or_root)


def init_lake(root=None, **options) -> Lake:
    """Create (or reopen) a lake at `root` (default: $GENOLAKE_ROOT or ./genolake-data)."""
    return Lake.init(LakeConfig.from_env(root, **options))


def open_lake(root=None, **options) -> Lake:
    return Lake.open(LakeConfig.from_env(root, **options))


def ingest_vcf(lake, path, dataset: str, **kwargs):
    from genolake.etl.pipeline import ingest_vcf as _ingest

    return _ingest(_config(lake), path, dataset, **kwargs)


def ingest_clinvar(lake, path, **kwargs):
    from genolake.etl.pipeline import ingest_clinvar as _ingest

    return _ingest(_config(lake), path, **kwargs)


def ingest_panel(lake, path, dataset: str, **kwargs):
    from genolake.etl.pipeline import ingest_panel as _ingest

    return _ingest(_config(lake), path, dataset, **kwargs)


def simulate(out_dir, **kwargs):
    """A 1000 Genomes-like cohort (VCF.gz + panel + ClinVar) from a coalescent model; see etl.simulate."""
    from genolake.etl.simulate import simulate as _simulate

    return _simulate(out_dir, **kwargs)


def connect(lake_or_root=None, engine: str = "duckdb", **options):
    """A query engine over the lake's published snapshot (a Lake, a LakeConfig or a root path;
    default $GENOLAKE_ROOT or ./genolake-data). Pass it to the analyses; `engine.sql(q)` runs SQL."""
    from genolake.queries.engines import connect as _connect

    return _connect(lake_or_root, engine, **options)


# name -> (module, attribute): the query layer, loaded on first use
_LAZY = {
    "Cohort": ("genolake.queries.cohorts", "Cohort"),
    "parse_region": ("genolake.queries.regions", "parse_region"),
    "allele_frequency": ("genolake.queries.analyses.frequencies", "allele_frequency"),
    "population_frequencies": ("genolake.queries.analyses.frequencies", "population_frequencies"),
    "carriers": ("genolake.queries.analyses.calls", "carriers"),
    "sample_variants": ("genolake.queries.analyses.calls", "sample_variants"),
    "annotate": ("genolake.queries.analyses.annotation", "annotate"),
    "drug_response_report": ("genolake.queries.analyses.annotation", "drug_response_report"),
    "sql": ("genolake.queries", "run_sql"),
    "run_sql": ("genolake.queries", "run_sql"),
    "write_report": ("genolake.queries.report", "write_report"),
}


def __getattr__(name: str):
    target = _LAZY.get(name)
    if target is None:
        raise AttributeError(f"module 'genolake' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(target[0]), target[1])
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(_LAZY))


__all__ = [
    "connect", *_LAZY,
    "Lake", "LakeConfig", "ScanLimits", "init_lake", "open_lake", "ingest_vcf", "ingest_clinvar", "ingest_panel", "simulate",
    "GenolakeError", "ConfigError", "InputError", "LakeStateError", "NotFoundError", "QuarantinedError", "QueryError",
    "ScanFailed",
]
