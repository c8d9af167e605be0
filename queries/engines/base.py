"""The engine interface every query engine implements (DuckDB now; Spark SQL and Athena later)."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass

import pyarrow as pa


@dataclass(frozen=True)
class TableBinding:
    """A curated table as an engine sees it: pinned to one Delta version for the session."""

    name: str
    version: int
    files: tuple[str, ...]
    partition_by: tuple[str, ...]


class Engine(ABC):
    """Runs read-only SQL over the curated tables, bound at the lake's published snapshot.

    `sql()` takes the engine's own dialect; analyses are written in DuckDB's dialect and go
    through `queries.sql.transpile(query, engine.dialect)`."""

    name: str
    dialect: str
    # what the engine can do: "local_files", "partition_pruning", "row_group_pruning", ...
    capabilities: frozenset[str] = frozenset()

    @abstractmethod
    def sql(self, query: str) -> pa.Table:
        """Run a read-only query; returns an Arrow table."""

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
