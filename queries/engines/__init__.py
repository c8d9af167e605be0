"""Query engines behind one interface. `connect(lake)` gives the embedded DuckDB engine."""

from __future__ import annotations

from genolake.lake.errors import ConfigError

from .base import Engine, TableBinding

ENGINES = ("duckdb",)


def connect(lake, engine: str = "duckdb", **options) -> Engine:
    """An engine bound to `lake`'s published snapshot (a Lake, a LakeConfig or a root path)."""
    from genolake.lake.config import LakeConfig
    from genolake.lake.store import Lake

    if not isinstance(lake, Lake):
        lake = Lake.open(lake if isinstance(lake, LakeConfig) else LakeConfig.from_env(lake))
    if engine == "duckdb":
        from .duckdb_engine import DuckDBEngine

        return DuckDBEngine(lake, **options)
    raise ConfigError(f"unknown query engine {engine!r}; available: {', '.join(ENGINES)}")


__all__ = ["Engine", "TableBinding", "connect", "ENGINES"]
