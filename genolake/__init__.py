"""genolake: a local-first genomics data lake. `import genolake` is the whole public API.

    import genolake
    lake = genolake.init_lake("./genolake-data")
    genolake.ingest_vcf(lake, "cohort.vcf.gz", dataset="1kg", panel="panel.txt")
    genolake.ingest_clinvar(lake, "variant_summary.txt.gz")
    lake.read("variants")            # a pyarrow.Table at the published snapshot
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


__all__ = [
    "Lake", "LakeConfig", "ScanLimits", "init_lake", "open_lake", "ingest_vcf", "ingest_clinvar", "ingest_panel", "simulate",
    "GenolakeError", "ConfigError", "InputError", "LakeStateError", "NotFoundError", "QuarantinedError", "ScanFailed",
]
