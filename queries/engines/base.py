"""The engine interface every query engine implements (DuckDB now; Spark SQL and Athena later)."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa

from genolake.lake.schemas import ALL_TABLES

from ..sql import in_list, transpile


@dataclass(frozen=True)
class TableBinding:
    """A curated table as an engine sees it: pinned to one Delta version for the session."""

    name: str
    version: int
    files: tuple[str, ...]  # local paths (or URIs for object storage)
    partition_by: tuple[str, ...]
    # per file, its partition values from the Delta log (the truth; folder names only encode them)
    partitions: tuple[dict[str, str | None], ...] = ()


@dataclass(frozen=True)
class Snapshot:
    """What an engine reads: the lake (its root as a URI), the lake's published snapshot number
    (`genolake catalog history`; None when the catalog records none) and each table's Delta version.
    Every answer carries it in its schema metadata (queries.provenance)."""

    lake: str
    number: int | None
    versions: dict[str, int]


def published_snapshot(lake, as_of: int | None = None) -> tuple[int | None, dict[str, int]]:
    """(snapshot number, {table: Delta version}) of the lake's published snapshot, or of snapshot
    `as_of`; read once, so the number and the versions agree."""
    snap = lake.catalog.published(as_of)
    return snap.number, dict(snap.versions)


def lake_uri(lake) -> str:
    """The lake's root as a URI: what provenance names."""
    root = str(lake.root)
    return root if "://" in root else Path(root).resolve().as_uri()


class Engine(ABC):
    """Runs read-only SQL over the curated tables, bound at the lake's published snapshot.

    Get one with `genolake.connect(lake)`; pass it to the analyses (`genolake.allele_frequency(engine,
    rsids=[...])`), or run SQL with `engine.sql(query)` (an Arrow table) or `engine.sql_head(query, n)`
    (the first n rows, streamed). `engine.refresh()` rebinds to a newer published snapshot;
    `engine.bindings()` says which Delta version of each table it reads.

    `sql()` takes the engine's own dialect; analyses are written in DuckDB's dialect and go
    through `queries.sql.transpile(query, engine.dialect)`."""

    name: str
    dialect: str
    # what the engine can do: "local_files", "partition_pruning", "row_group_pruning", ...
    capabilities: frozenset[str] = frozenset()

    @abstractmethod
    def sql(self, query: str, *, trusted: bool = False) -> pa.Table:
        """Run a read-only query; returns an Arrow table. Statements are parsed and refused unless
        they only read; `trusted`: SQL an analysis built itself (every value quoted with
        `queries.sql.lit`), which skips that parse."""

    def __repr__(self) -> str:
        try:
            tables = ", ".join(f"{n}@v{b.version}" for n, b in sorted(self.bindings().items())) or "no tables"
        except Exception:  # a closed or half-built engine still has a repr
            tables = "?"
        lake = getattr(self, "lake", None)
        where = f" {str(lake.root)!r}" if lake is not None else ""
        return f"<{type(self).__name__}{where}: {tables}>"

    def sql_head(self, query: str, limit: int | None, *, trusted: bool = False) -> tuple[pa.Table, bool]:
        """The first `limit` rows of a read-only query (None: all) and whether it had more. An engine
        that can stream stops reading at the limit instead of holding the whole result."""
        table = self.sql(query, trusted=trusted)
        if limit is None or table.num_rows <= limit:
            return table, False
        return table.slice(0, limit), True

    def read_rows(self, table: str, where: dict[str, Sequence], columns: Sequence[str]) -> pa.Table:
        """Rows of a curated table whose columns each equal one of the given values (key lookups:
        a few rows by rsid, position...), with `columns` in that order, unsorted. This runs SQL;
        an engine that reads the files itself does it without planning a query."""
        spec = ALL_TABLES[table]
        conds = " AND ".join(f"{c} IN {in_list(sorted(set(v)))}" for c, v in where.items()) or "TRUE"
        query = f"SELECT {', '.join(columns)} FROM {table} WHERE {conds}"
        out = self.sql(transpile(query, self.dialect), trusted=True)
        return out.cast(pa.schema([spec.schema.field(c) for c in columns]))

    def dataset_assemblies(self) -> dict[str, str]:
        """dataset -> the reference assembly recorded at ingest (datasets without one are absent)."""
        return {}

    # -- what an analysis may know of the storage: only through these, never a path or the lake --
    @property
    @abstractmethod
    def pos_bin_size(self) -> int:
        """The lake's position bin (the `pos_bin` partition of cpra_index is pos // this * this)."""

    def partition_columns(self, table: str) -> tuple[str, ...]:
        """The partition columns of a curated table, as bound (the contract's when not ingested)."""
        binding = self.bindings().get(table)
        return binding.partition_by if binding is not None else ALL_TABLES[table].partition_by

    @abstractmethod
    def snapshot(self) -> Snapshot:
        """The lake, snapshot number and Delta versions this engine reads (its provenance)."""

    @abstractmethod
    def bindings(self) -> dict[str, TableBinding]:
        """Table name -> the version and files this session reads."""

    def refresh(self) -> None:
        """Rebind to the lake's current published snapshot."""

    def close(self) -> None:
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class LakeBoundEngine(Engine):
    """An engine over a genolake lake, bound at one of its published snapshots. Get one with
    `genolake.connect(lake, engine="duckdb"|"spark"|"athena", as_of=None)`; `Engine` says what it
    offers. Subclasses set `self.lake`, `self._bindings` ({table: TableBinding}) and `self._number`
    (the snapshot number) when they bind."""

    lake: object
    _bindings: dict[str, TableBinding]
    _number: int | None

    def dataset_assemblies(self) -> dict[str, str]:
        return self.lake.catalog.dataset_assemblies()

    def bindings(self) -> dict[str, TableBinding]:
        return dict(self._bindings)

    @property
    def pos_bin_size(self) -> int:
        return self.lake.config.pos_bin_size

    def snapshot(self) -> Snapshot:
        uri = self.__dict__.get("_lake_uri")
        if uri is None:  # resolved once: it touches the filesystem
            uri = self._lake_uri = lake_uri(self.lake)
        return Snapshot(uri, self._number, {n: b.version for n, b in self._bindings.items()})
