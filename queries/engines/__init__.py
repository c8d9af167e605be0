"""Query engines behind one interface, chosen by name from `ENGINES` (never by `if` in callers).

`connect(lake)` gives the embedded DuckDB engine; `connect(lake, "spark")` Spark SQL over the same
snapshot; `connect(lake, "athena", database=..., ...)` Athena over the tables registered in Glue.
An engine's module (and its library: pyspark, pyathena) is imported only when it is connected."""

from __future__ import annotations

import importlib

from genolake.lake.errors import ConfigError

from .base import Engine, Snapshot, TableBinding

# name -> "module:class", relative to this package
ENGINES: dict[str, str] = {
    "duckdb": ".duckdb_engine:DuckDBEngine",
    "spark": ".spark_engine:SparkSQLEngine",
    "athena": ".athena_engine:AthenaEngine",
}


def engine_class(name: str) -> type[Engine]:
    """The class registered under `name`; a ConfigError naming the registered ones otherwise."""
    target = ENGINES.get(name) if isinstance(name, str) else None
    if target is None:
        raise ConfigError(f"unknown query engine {name!r}; available: {', '.join(ENGINES)}")
    module, cls = target.split(":")
    return getattr(importlib.import_module(module, __name__), cls)


def connect(lake, engine: str = "duckdb", *, as_of: int | None = None, **options) -> Engine:
    """An engine bound to `lake`'s published snapshot (a Lake, a LakeConfig or a root path), or
    with `as_of=N` to the lake's earlier snapshot N (`genolake catalog history`)."""
    from genolake.lake.config import LakeConfig
    from genolake.lake.store import Lake

    cls = engine_class(engine)
    _check_options(cls, options)
    if as_of is not None and (isinstance(as_of, bool) or not isinstance(as_of, int) or as_of < 0):
        raise ConfigError(f"as_of must be a snapshot number (`genolake catalog history`), not {as_of!r}")
    if not isinstance(lake, Lake):
        lake = Lake.open(lake if isinstance(lake, LakeConfig) else LakeConfig.from_env(lake))
    return cls(lake, as_of=as_of, **options)


def _check_options(cls, options: dict) -> None:
    """An unknown option is a one-line ConfigError naming the valid ones, not a TypeError."""
    import inspect

    valid = [p for p in inspect.signature(cls.__init__).parameters if p not in ("self", "lake", "as_of")]
    unknown = sorted(set(options) - set(valid))
    if unknown:
        raise ConfigError(f"unknown option{'s' if len(unknown) > 1 else ''} {', '.join(unknown)} for the "
                          f"{cls.__name__} query engine; valid: {', '.join(valid) or 'none'}")


__all__ = ["Engine", "Snapshot", "TableBinding", "connect", "engine_class", "ENGINES"]
