"""ETL engines that turn a validated source file into curated table files, chosen by name.

`ENGINES` maps a name to the module and class that implement it, imported only when chosen (a
heavy engine's dependencies are an install extra)."""

from __future__ import annotations

import importlib

from genolake.lake.errors import ConfigError

from .base import ClinvarJob, Converted, EtlEngine, VcfJob

ENGINES = {
    "local": ("genolake.etl.engines.local_engine", "LocalEngine"),
    "spark": ("genolake.etl.engines.spark_engine", "SparkEngine"),  # the spark extra: Hail + pyspark
}
DEFAULT_ENGINE = "local"


def get_engine(name: str | EtlEngine | None = None, **options) -> EtlEngine:
    """The engine called `name` (default: local), or `name` itself when it already is one."""
    if isinstance(name, EtlEngine):
        return name
    name = name or DEFAULT_ENGINE
    if name not in ENGINES:
        raise ConfigError(f"unknown ETL engine {name!r}; available: {', '.join(sorted(ENGINES))}")
    module, cls = ENGINES[name]
    return getattr(importlib.import_module(module), cls)(**options)


__all__ = ["ENGINES", "DEFAULT_ENGINE", "ClinvarJob", "Converted", "EtlEngine", "VcfJob", "get_engine"]
