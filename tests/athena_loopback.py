"""An Athena engine whose "Athena" is DuckDB: for tests that hold Athena's SQL to DuckDB's answers.

`loopback_engine(lake)` is an AthenaEngine in every respect but where the SQL goes: the text it
would send to Athena (`AthenaEngine.statement`, the same read-only check and `prepare` fixes) is
parsed with sqlglot's athena (Trino) dialect, written back as DuckDB SQL and run on a DuckDB engine
over the same lake. Bindings, snapshot, bin size, partitions and assemblies are DuckDB's (the
Glue-registered ones are tested against moto in test_athena.py); the engine reports name "athena".

What this proves: every analysis's SQL survives the trip to Athena's dialect and parses as Trino
SQL with the meaning sqlglot gives it. What it cannot: Trino's own semantics (integer division,
NULL ordering, float formatting) where sqlglot's transpilation both ways hides a difference."""

from __future__ import annotations

import sqlglot

from genolake.queries.engines import connect
from genolake.queries.engines.athena_engine import AthenaEngine


class LoopbackAthenaEngine(AthenaEngine):
    name = "athena"

    def __init__(self, lake):  # noqa: D107 - no AWS: the DuckDB engine answers
        self.lake = lake
        self.database = "genolake"
        self._duck = connect(lake)
        self.sent: list[str] = []  # every statement "sent to Athena", in order

    def sql(self, query: str, *, trusted: bool = False):
        text = self.statement(query, trusted=trusted)
        self.sent.append(text)
        duck = ";\n".join(sqlglot.transpile(text, read="athena", write="duckdb"))
        return self._duck.sql(duck, trusted=True)

    # everything but the SQL: the DuckDB engine's
    def bindings(self):
        return self._duck.bindings()

    def snapshot(self):
        return self._duck.snapshot()

    @property
    def pos_bin_size(self) -> int:
        return self._duck.pos_bin_size

    def dataset_assemblies(self):
        return self._duck.dataset_assemblies()

    def partition_columns(self, table: str):
        return self._duck.partition_columns(table)

    def refresh(self) -> None:
        self._duck.refresh()

    def close(self) -> None:
        self._duck.close()


def loopback_engine(lake) -> LoopbackAthenaEngine:
    return LoopbackAthenaEngine(lake)
