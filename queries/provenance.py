"""Provenance: every answer names the engine, the lake and the Delta version of each table it read.

An analysis is wrapped by `@analysis`; while it runs, the tables its SQL and key lookups touch are
noted (`note_reads`), and its result table gets schema metadata `genolake.provenance`:
`{"engine": "duckdb", "lake": "file:///...", "snapshot": 3, "versions": {"variants": 2, ...}}`.
Nested analyses share one set of reads, so the outer answer names everything underneath it."""

from __future__ import annotations

import functools
import json
from contextvars import ContextVar

import pyarrow as pa
import sqlglot
from sqlglot import exp

PROVENANCE_KEY = b"genolake.provenance"

_READS: ContextVar[set[str] | None] = ContextVar("genolake_reads", default=None)


def note_reads(tables) -> None:
    """Record that the running analysis read these curated tables (no-op outside an analysis)."""
    reads = _READS.get()
    if reads is not None:
        reads.update(tables)


def tables_in(statements) -> set[str]:
    """Names of the tables a parsed statement (or SQL text in DuckDB's dialect) reads; CTE names
    are not tables."""
    if isinstance(statements, str):
        statements = [s for s in sqlglot.parse(statements, read="duckdb") if s is not None]
    names: set[str] = set()
    for stmt in statements:
        ctes = {c.alias_or_name for c in stmt.find_all(exp.CTE)}
        names.update(t.name for t in stmt.find_all(exp.Table) if t.name and t.name not in ctes)
    return names


def provenance(engine, tables) -> dict:
    """The provenance document of an answer that read `tables` on `engine`."""
    snap = engine.snapshot()
    read = sorted(t for t in tables if t in snap.versions)
    return {"engine": engine.name, "lake": snap.lake, "snapshot": snap.number,
            "versions": {t: snap.versions[t] for t in read}}


def stamp(table: pa.Table, engine, tables) -> pa.Table:
    """`table` with its provenance added to the schema metadata (other keys kept)."""
    meta = dict(table.schema.metadata or {})
    meta[PROVENANCE_KEY] = json.dumps(provenance(engine, tables), sort_keys=True).encode()
    return table.replace_schema_metadata(meta)


def read_provenance(table: pa.Table) -> dict | None:
    raw = (table.schema.metadata or {}).get(PROVENANCE_KEY)
    return json.loads(raw) if raw else None


def analysis(fn):
    """Decorator for a public analysis `fn(engine, ...) -> pa.Table`: stamps its provenance."""

    @functools.wraps(fn)
    def wrapper(engine, *args, **kwargs):
        outer = _READS.get()
        token = _READS.set(set()) if outer is None else None
        try:
            result = fn(engine, *args, **kwargs)
            return stamp(result, engine, _READS.get()) if isinstance(result, pa.Table) else result
        finally:
            if token is not None:
                _READS.reset(token)

    return wrapper
