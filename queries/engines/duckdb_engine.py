"""DuckDB, embedded: the default query engine.

Each curated table is a view over the Parquet files of its published Delta version (DuckDB's
delta extension cannot be installed here; deltalake gives the file list). Filters on partition
columns prune files and filters on `pos` prune row groups. The connection is sandboxed after
binding: file access only under curated/, configuration locked, and every statement checked
read-only before it runs, so a query cannot change the lake. Parquet footers are cached across
statements; key lookups (`read_rows`) skip SQL and read the pruned row groups directly."""

from __future__ import annotations

import shutil
import tempfile
import threading
import weakref

import duckdb
import pyarrow as pa

from genolake.lake.delta_io import open_table, table_files
from genolake.lake.errors import QueryError
from genolake.lake.schemas import ALL_TABLES
from genolake.lake.store import Lake

from ..sql import check_read_only, lit
from .base import LakeBoundEngine, TableBinding, published_snapshot
from .point_reads import PointReader

_PARTITION_TYPES = {"contig": "VARCHAR", "pos_bin": "INTEGER", "sample_id": "VARCHAR", "assembly": "VARCHAR"}
_DUCK_TYPES = {"string": "VARCHAR", "int8": "TINYINT", "int16": "SMALLINT", "int32": "INTEGER", "int64": "BIGINT",
               "float": "FLOAT", "double": "DOUBLE", "bool": "BOOLEAN"}


class DuckDBEngine(LakeBoundEngine):
    name = "duckdb"
    dialect = "duckdb"
    capabilities = frozenset({"local_files", "partition_pruning", "row_group_pruning", "arrow"})

    def __init__(self, lake: Lake, *, as_of: int | None = None, threads: int | None = None,
                 memory_limit: str | None = None):
        self.lake = lake
        self._as_of = as_of
        self._lock = threading.Lock()  # one DuckDB connection: serialise calls from threads
        self._threads, self._memory_limit = threads, memory_limit
        self._bind()

    def _bind(self) -> None:
        # DuckDB may read and write its temp_directory even when sandboxed (by default `.tmp` under
        # the working directory, so a query could read whatever lies there): a private empty one
        self._tmp = tempfile.mkdtemp(prefix="genolake-duckdb-")
        weakref.finalize(self, shutil.rmtree, self._tmp, True)  # an engine never closed leaves none
        con = duckdb.connect(":memory:", config={"temp_directory": self._tmp})
        if self._threads:
            con.execute(f"SET threads = {int(self._threads)}")
        if self._memory_limit:
            con.execute(f"SET memory_limit = {lit(self._memory_limit)}")
        bindings = {}
        number, versions = published_snapshot(self.lake, self._as_of)
        for name, version in versions.items():
            spec = ALL_TABLES.get(name)
            root = self.lake.table_root(name)
            dt = open_table(root, version) if spec else None
            if dt is None:
                continue
            files = table_files(dt, root)
            bindings[name] = TableBinding(name, version, tuple(f.path for f in files), spec.partition_by,
                                          tuple(f.partition_values for f in files))
            con.execute(f"CREATE VIEW {name} AS {self._select_files(spec, files)}")
        for name, spec in ALL_TABLES.items():  # a table not ingested yet is empty, not missing
            if name not in bindings:
                cols = ", ".join(f"CAST(NULL AS {_DUCK_TYPES.get(str(f.type), 'VARCHAR')}) AS {f.name}"
                                 for f in spec.schema)
                con.execute(f"CREATE VIEW {name} AS SELECT {cols} WHERE FALSE")
        # footers parsed once per file, not once per statement: halves a warm lookup
        con.execute("SET parquet_metadata_cache = true")
        curated = str(self.lake.zones.curated_table("x").parent) + "/"
        con.execute(f"SET allowed_directories = [{lit(curated)}]")
        con.execute("SET enable_external_access = false")
        con.execute("SET lock_configuration = true")
        self._con, self._bindings, self._number = con, bindings, number
        self._readers = {name: PointReader(ALL_TABLES[name], b.files, b.partitions) for name, b in bindings.items()}

    @staticmethod
    def _select_files(spec, files) -> str:
        """The view over a table version's files. Files whose folders are exactly their partition
        values (every normal value) are one hive-partitioned scan, so partition filters prune them;
        the others (values a folder name can only encode) are a branch per partition with the
        log's values as constants, which DuckDB prunes by those constants."""
        parts = list(spec.partition_by)
        cols = [f.name for f in spec.schema]  # the contract's column order, whatever the files give
        if not files:  # a version without files (e.g. everything removed): empty, typed
            return "SELECT " + ", ".join(f"CAST(NULL AS {_DUCK_TYPES.get(str(f.type), 'VARCHAR')}) AS {f.name}"
                                         for f in spec.schema) + " WHERE FALSE"
        if not parts:
            return f"SELECT {', '.join(cols)} FROM read_parquet({_paths(f.path for f in files)})"
        types = ", ".join(f"{lit(c)}: {lit(_PARTITION_TYPES.get(c, 'VARCHAR'))}" for c in parts)
        hive = [f.path for f in files if f.hive]
        branches = []
        if hive:
            branches.append(f"SELECT {', '.join(cols)} FROM read_parquet({_paths(hive)}, hive_partitioning = true, "
                            f"hive_types = {{{types}}})")
        groups: dict[tuple, list[str]] = {}
        for f in files:
            if not f.hive:
                groups.setdefault(tuple(f.partition_values.get(c) for c in parts), []).append(f.path)
        for values, paths in groups.items():
            consts = dict(zip(parts, values))
            select = ", ".join(
                f"CAST({lit(consts[c])} AS {_PARTITION_TYPES.get(c, 'VARCHAR')}) AS {c}" if c in consts else c
                for c in cols)
            branches.append(f"SELECT {select} FROM read_parquet({_paths(paths)}, hive_partitioning = false)")
        return "\nUNION ALL\n".join(branches)

    def sql(self, query: str, *, trusted: bool = False) -> pa.Table:
        if not trusted:
            check_read_only(query, self.dialect)
        with self._lock:
            try:
                return self._con.sql(query).to_arrow_table()
            except duckdb.Error as err:
                raise QueryError(f"query failed: {str(err).splitlines()[0]}") from None

    def sql_head(self, query: str, limit: int | None, *, trusted: bool = False) -> tuple[pa.Table, bool]:
        """Streams record batches from DuckDB and stops once `limit` rows (and one more, to tell
        whether there are more) have arrived: a 60M-row result costs no more than its first rows."""
        if limit is None:
            return self.sql(query, trusted=trusted), False
        if not trusted:
            check_read_only(query, self.dialect)
        with self._lock:
            try:
                reader = self._con.sql(query).to_arrow_reader(max(1024, min(limit + 1, 100_000)))
                batches, n = [], 0
                for batch in reader:
                    batches.append(batch)
                    n += batch.num_rows
                    if n > limit:
                        break
                table = pa.Table.from_batches(batches, schema=reader.schema)
            except duckdb.Error as err:
                raise QueryError(f"query failed: {str(err).splitlines()[0]}") from None
        if table.num_rows > limit:
            return table.slice(0, limit), True
        return table, False

    def read_rows(self, table: str, where, columns) -> pa.Table:
        reader = self._readers.get(table)
        if reader is None:  # not ingested yet: no rows
            spec = ALL_TABLES[table]
            return pa.schema([spec.schema.field(c) for c in columns]).empty_table()
        try:
            return reader.read(where, columns)
        except (OSError, pa.ArrowException) as err:
            raise QueryError(f"reading {table} failed: {str(err).splitlines()[0]}") from None

    def refresh(self) -> None:
        with self._lock:
            self._con.close()
            self._close_readers()
            shutil.rmtree(self._tmp, ignore_errors=True)
            self._as_of = None  # refresh: the newest published snapshot
            self._bind()

    def _close_readers(self) -> None:
        for reader in self._readers.values():
            reader.close()

    def close(self) -> None:
        self._con.close()
        self._close_readers()
        shutil.rmtree(self._tmp, ignore_errors=True)


def _paths(paths) -> str:
    """A DuckDB list of file paths, each quoted by `lit`."""
    return "[" + ", ".join(lit(p) for p in paths) + "]"
