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

        _check_options(DuckDBEngine, options)
        return DuckDBEngine(lake, **options)
    raise ConfigError(f"unknown query engine {engine!r}; available: {', '.join(ENGINES)}")


def _check_options(cls, options: dict) -> None:
    """An unknown option is a one-line ConfigError naming the valid ones, not a TypeError."""
    import inspect

    valid = [p for p in inspect.signature(cls.__init__).parameters if p not in ("self", "lake")]
    unknown = sorted(set(options) - set(valid))
    if unknown:
        raise ConfigError(f"unknown option{'s' if len(unknown) > 1 else ''} {', '.join(unknown)} for the "
                          f"{cls.__name__} query engine; valid: {', '.join(valid) or 'none'}")


__all__ = ["Engine", "TableBinding", "connect", "ENGINES"]
