"""Spark SQL over the curated tables at the lake's published snapshot (`--engine spark`).

Each table is a temporary view over exactly the Parquet files of its bound Delta version (Spark
cannot read the Delta log here: the delta-spark jars are not available). Spark must not list the
table folders themselves, which also hold the files of other versions, so the engine mirrors the
snapshot's files as symlinks in a private folder laid out `col=value/...` and reads that, with the
contract's schema (partition columns typed as the contract says, not inferred). Files whose folder
names only encode their partition values are read per partition with the log's values as literals.

The session is the process's one Hail/Spark session (lake.spark_session): `local[*]` by default or
`master="spark://HOST:PORT"`. Read-only: every statement is parsed and refused unless it only reads
the lake's tables, before it reaches Spark."""

from __future__ import annotations

import os
import shutil
import tempfile
import threading
import weakref

import pyarrow as pa

from genolake.lake.delta_io import open_table, table_files
from genolake.lake.errors import ConfigError, QueryError
from genolake.lake.schemas import ALL_TABLES
from genolake.lake.spark_session import DEFAULT_MASTER, SparkOptions, get_session

from ..sql import check_read_only
from .base import LakeBoundEngine, TableBinding, published_snapshot

# Spark SQL functions that reach outside the query (Java reflection, files, the cluster)
_REFUSED_FUNCTIONS = ("reflect", "java_method", "input_file_name", "input_file_block_start",
                      "input_file_block_length", "read_files", "url_decode_to_file")


class SparkSQLEngine(LakeBoundEngine):
    name = "spark"
    dialect = "spark"
    capabilities = frozenset({"partition_pruning", "cluster"})

    def __init__(self, lake, *, as_of: int | None = None, master: str | None = None,
                 driver_memory: str = "4g", shuffle_partitions: int | None = None):
        if master is not None and not (isinstance(master, str) and (master.startswith(("spark://", "local"))
                                                                    or master == "yarn")):
            raise ConfigError(f"master {master!r}: use local[*], local[N] or spark://HOST:PORT")
        self.lake = lake
        self._as_of = as_of
        self._options = SparkOptions(master=master or DEFAULT_MASTER, driver_memory=driver_memory,
                                     shuffle_partitions=shuffle_partitions)
        self._lock = threading.Lock()
        # a session of its own (same SparkContext): its temporary views are not another engine's
        self._spark = get_session(self._options).newSession()
        self._views: list[str] = []
        self._bind()

    # -- binding ---------------------------------------------------------------------------------
    def _bind(self) -> None:
        self._mirror = tempfile.mkdtemp(prefix="genolake-spark-views-")
        weakref.finalize(self, shutil.rmtree, self._mirror, True)
        number, versions = published_snapshot(self.lake, self._as_of)
        bindings = {}
        for name, spec in ALL_TABLES.items():
            dt = open_table(self.lake.table_root(name), versions[name]) if name in versions else None
            files = table_files(dt, self.lake.table_root(name)) if dt is not None else []
            if dt is not None:
                bindings[name] = TableBinding(name, versions[name], tuple(f.path for f in files),
                                              spec.partition_by, tuple(f.partition_values for f in files))
            view = f"{name}"
            self._frame(spec, files).createOrReplaceTempView(view)
            self._views.append(view)
        self._bindings, self._number = bindings, number

    def _frame(self, spec, files):
        """A DataFrame of the table's files in the contract's column order and types."""
        from pyspark.sql import functions as F

        spark = self._spark
        schema = _spark_schema(spec.schema)
        cols = [f.name for f in spec.schema]
        if not files:
            return spark.createDataFrame([], schema)
        parts = list(spec.partition_by)
        data_schema = _spark_schema(pa.schema([spec.schema.field(c) for c in cols if c not in parts]))
        root = os.path.join(self._mirror, spec.name)
        frames = []
        hive = [f for f in files if f.hive]
        if hive:
            for i, f in enumerate(hive):
                folder = os.path.join(root, *(f"{c}={f.partition_values[c]}" for c in parts))
                os.makedirs(folder, exist_ok=True)
                os.symlink(f.path, os.path.join(folder, f"f{i:07d}.parquet"))
            reader = spark.read.schema(schema).option("basePath", "file://" + root)
            frames.append(reader.parquet("file://" + root).select(*cols))
        groups: dict[tuple, list[str]] = {}
        for f in files:
            if not f.hive:
                groups.setdefault(tuple(f.partition_values.get(c) for c in parts), []).append(f.path)
        for g, (values, paths) in enumerate(groups.items()):
            folder = os.path.join(self._mirror, f"_{spec.name}", f"g{g:07d}")
            os.makedirs(folder)
            for i, path in enumerate(paths):
                os.symlink(path, os.path.join(folder, f"f{i:07d}.parquet"))
            frame = spark.read.schema(data_schema).parquet("file://" + folder)
            for c, v in zip(parts, values):
                frame = frame.withColumn(c, F.lit(v).cast(schema[c].dataType))
            frames.append(frame.select(*cols))
        out = frames[0]
        for frame in frames[1:]:
            out = out.unionByName(frame)
        return out

    # -- queries ---------------------------------------------------------------------------------
    def sql(self, query: str, *, trusted: bool = False) -> pa.Table:
        if not trusted:
            _check_spark_query(query)
        with self._lock:
            try:
                return _to_arrow(self._spark.sql(query))
            except QueryError:
                raise
            except Exception as exc:  # AnalysisException, ParseException, Py4JJavaError...
                raise QueryError(f"query failed: {_spark_message(exc)}") from None

    def refresh(self) -> None:
        with self._lock:
            self._drop_views()
            self._as_of = None
            self._bind()

    def _drop_views(self) -> None:
        for view in self._views:
            self._spark.catalog.dropTempView(view)
        self._views = []
        shutil.rmtree(self._mirror, ignore_errors=True)

    def close(self) -> None:
        """Drops this engine's views; the process's Spark session stays for the next engine."""
        with self._lock:
            try:
                self._drop_views()
            except Exception:  # the session was stopped underneath us: nothing left to drop
                shutil.rmtree(self._mirror, ignore_errors=True)


def _check_spark_query(query: str) -> None:
    """check_read_only in Spark's dialect (which also refuses SQL on files, parquet.`/path`), plus
    Spark's functions that reach Java or the files."""
    from sqlglot import exp

    statements = check_read_only(query, "spark")
    for stmt in statements:
        for node in stmt.walk():
            if isinstance(node, (exp.Anonymous, exp.Func)):
                fname = (node.name if isinstance(node, exp.Anonymous) else node.sql_name()).lower()
                if fname in _REFUSED_FUNCTIONS:
                    raise QueryError(f"refused: the function {fname}() is not allowed here")


def _spark_schema(schema: pa.Schema):
    from pyspark.sql import types as T

    simple = {pa.string(): T.StringType(), pa.large_string(): T.StringType(), pa.int8(): T.ByteType(),
              pa.int16(): T.ShortType(), pa.int32(): T.IntegerType(), pa.int64(): T.LongType(),
              pa.float32(): T.FloatType(), pa.float64(): T.DoubleType(), pa.bool_(): T.BooleanType()}

    def conv(t: pa.DataType):
        if t in simple:
            return simple[t]
        if pa.types.is_list(t) or pa.types.is_large_list(t):
            return T.ArrayType(conv(t.value_type), True)
        raise ConfigError(f"no Spark type for the Arrow type {t}")

    return T.StructType([T.StructField(f.name, conv(f.type), True) for f in schema])


def _to_arrow(df) -> pa.Table:
    """Collect a DataFrame as Arrow (Spark 3.5's Arrow collect; the empty result keeps its types)."""
    from pyspark.sql.pandas.types import to_arrow_schema

    # nullable like every other engine's answer (Spark marks e.g. count(*) NOT NULL)
    schema = pa.schema([f.with_nullable(True) for f in to_arrow_schema(df.schema)])
    batches = df._collect_as_arrow()
    if not batches:
        return schema.empty_table()
    return pa.Table.from_batches(batches).cast(schema)


def _spark_message(exc: BaseException) -> str:
    """The first line of what Spark said, without the JVM stack."""
    text = getattr(exc, "desc", None) or str(exc)
    for line in str(text).splitlines():
        line = line.strip()
        if line and not line.startswith(("at ", "Traceback", "py4j")):
            return line[:400]
    return type(exc).__name__
