"""Athena: the curated tables as registered in the Glue catalog (`genolake catalog register --target
glue`), queried through PyAthena.

The engine reads what Glue says: each table's `genolake.delta_version` parameter is the version its
provenance names, so the answer says what Athena read, not what the local catalog publishes now.
Analyses reach it in DuckDB's dialect through `queries.sql.run`, transpiled by sqlglot to Athena's
(Trino) dialect; `render` is that step and `prepare` the Athena-side fixes, in one place, so the
loopback test (tests/athena_loopback.py) checks exactly the SQL this engine sends. Results come
back page by page (GetQueryResults, 1,000 rows each) and are decoded into Arrow by the column types
Athena reports. Credentials come from the standard AWS chain; this module never touches keys."""

from __future__ import annotations

import datetime as _dt
import decimal
import json
import threading

import pyarrow as pa

from genolake.lake.errors import ConfigError, GenolakeError, QueryError, one_line
from genolake.lake.schemas import ALL_TABLES

from ..sql import check_read_only, transpile
from .base import LakeBoundEngine, TableBinding

DIALECT = "athena"
VERSION_KEY = "genolake.delta_version"
SNAPSHOT_KEY = "genolake.snapshot"
_INSTALL = "the athena engine needs: pip install 'genolake[athena]'"

# Athena result type name -> Arrow type (parameterised ones: decimal, char/varchar(n) by prefix)
_ARROW_TYPES = {
    "varchar": pa.string(), "char": pa.string(), "string": pa.string(), "json": pa.string(),
    "integer": pa.int32(), "int": pa.int32(), "bigint": pa.int64(), "smallint": pa.int16(),
    "tinyint": pa.int8(), "boolean": pa.bool_(), "double": pa.float64(), "real": pa.float32(),
    "float": pa.float32(), "date": pa.date32(), "timestamp": pa.timestamp("ms"), "varbinary": pa.binary(),
    "time": pa.time64("us"),
}


def render(duckdb_sql: str) -> str:
    """An analysis's SQL (DuckDB's dialect) as this engine sends it to Athena."""
    return prepare(transpile(duckdb_sql, DIALECT))


def prepare(athena_sql: str) -> str:
    """Athena-side fixes of transpiled SQL (sqlglot dialect gaps would be worked around here).
    None are needed for the current analyses: the text is sent as sqlglot writes it."""
    return athena_sql.strip().rstrip(";").strip()


def arrow_type(type_name: str, precision=None, scale=None) -> pa.DataType:
    """The Arrow type of an Athena result column type (ColumnInfo Type, Precision, Scale)."""
    t = (type_name or "varchar").lower().strip()
    base = t.split("(", 1)[0].strip()
    if base == "decimal":
        if "(" in t:
            p, _, s = t.split("(", 1)[1].rstrip(")").partition(",")
            precision, scale = int(p), int(s or 0)
        return pa.decimal128(int(precision or 38), int(scale or 0))
    if base.startswith("timestamp"):
        return pa.timestamp("ms")
    if base == "array":
        return pa.list_(pa.string())  # Athena does not say the element type: refined from the values
    return _ARROW_TYPES.get(base, pa.string())


def _raw_converter():
    """A PyAthena converter that keeps every value as Athena's text (we decode by type ourselves)."""
    from pyathena.converter import Converter

    class _Raw(Converter):
        def __init__(self):
            super().__init__(mappings={}, default=lambda v: v)

        def convert(self, type_, value, type_hint=None):
            return value

    return _Raw()


def decode_column(values: list, type_name: str, precision=None, scale=None) -> pa.Array:
    """Athena's text values of one column as an Arrow array of the column's type."""
    t = arrow_type(type_name, precision, scale)
    base = (type_name or "varchar").lower().split("(", 1)[0].strip()
    if pa.types.is_string(t):
        return pa.array(values, pa.string())
    if base == "boolean":
        return pa.array([None if v is None else v.strip().lower() == "true" for v in values], t)
    if pa.types.is_integer(t):
        return pa.array([None if v is None else int(v) for v in values], t)
    if pa.types.is_floating(t):
        return pa.array([None if v is None else float(v) for v in values], t)  # NaN / Infinity parse too
    if pa.types.is_decimal(t):
        return pa.array([None if v is None else decimal.Decimal(v) for v in values], t)
    if base == "date":
        return pa.array([None if v is None else _dt.date.fromisoformat(v) for v in values], t)
    if pa.types.is_timestamp(t):
        return pa.array([None if v is None else _dt.datetime.fromisoformat(v.strip()[:26]) for v in values], t)
    if pa.types.is_binary(t):
        return pa.array([None if v is None else bytes.fromhex(v.replace(" ", "")) for v in values], t)
    if pa.types.is_time(t):
        return pa.array([None if v is None else _dt.time.fromisoformat(v) for v in values], t)
    if base == "array":
        return pa.array([None if v is None else _parse_array(v) for v in values])
    return pa.array(values, pa.string())


def _parse_array(text: str):
    """Athena's array text (`[1, 2, 3]`, `[a, b]`) as a list: JSON when it is, else split on ', '."""
    try:
        out = json.loads(text)
        if isinstance(out, list):
            return out
    except ValueError:
        pass
    inner = text.strip()[1:-1]
    return [] if not inner else [None if x == "null" else x for x in inner.split(", ")]


class AthenaEngine(LakeBoundEngine):
    name = "athena"
    dialect = DIALECT
    capabilities = frozenset({"arrow"})

    def __init__(self, lake, *, as_of: int | None = None, database: str = "genolake", workgroup: str = "primary",
                 output_location: str | None = None, region: str | None = None, poll_interval: float = 0.2,
                 connection=None, glue_client=None):
        if as_of is not None:
            raise ConfigError("the athena engine reads the snapshot registered in Glue; to query snapshot "
                              f"{as_of}, run `genolake catalog register --target glue --as-of {as_of}` first")
        from genolake.lake.glue_catalog import check_database

        self.lake = lake
        self.database = check_database(database)
        self.workgroup, self.output_location, self.region = workgroup, output_location, region
        self.poll_interval = poll_interval
        if output_location is not None and not str(output_location).startswith("s3://"):
            raise ConfigError(f"output_location {output_location!r} must be an s3:// URI for Athena's results")
        self._lock = threading.Lock()
        self._conn = connection if connection is not None else self._connect()
        self._glue = glue_client
        self._bind()

    # ---------------------------------------------------------------- connection
    def _connect(self):
        try:
            import boto3  # noqa: F401
            import pyathena
        except ImportError:
            raise ConfigError(_INSTALL) from None
        import botocore.exceptions

        kwargs = {"schema_name": self.database, "work_group": self.workgroup, "poll_interval": self.poll_interval}
        if self.output_location:
            kwargs["s3_staging_dir"] = self.output_location
        if self.region:
            kwargs["region_name"] = self.region
        try:
            return pyathena.connect(**kwargs)
        except botocore.exceptions.NoRegionError:
            raise ConfigError("no AWS region for Athena: pass region= (--region) or set AWS_REGION") from None
        except botocore.exceptions.BotoCoreError as err:
            raise ConfigError(one_line(f"cannot connect to Athena: {err}")) from None

    def _glue_client(self):
        if self._glue is None:
            session = getattr(self._conn, "session", None)
            if session is not None:
                self._glue = session.client("glue", region_name=getattr(self._conn, "region_name", None) or self.region)
            else:
                from genolake.lake.glue_catalog import glue_client

                self._glue = glue_client(self.region)
        return self._glue

    # ---------------------------------------------------------------- bindings from Glue
    def _bind(self) -> None:
        from genolake.lake.glue_catalog import GlueError, _aws

        glue = self._glue_client()
        try:
            tables, token = [], None
            while True:
                page = _aws(glue.get_tables, DatabaseName=self.database, **({"NextToken": token} if token else {}))
                tables += page.get("TableList", [])
                token = page.get("NextToken")
                if not token:
                    break
        except GlueError as err:
            if "EntityNotFoundException" in str(err):
                raise ConfigError(f"no Glue database {self.database!r}: run `genolake catalog register --target glue "
                                  f"--database {self.database} --location s3://BUCKET/PREFIX` first") from None
            raise
        bindings, numbers = {}, set()
        for t in tables:
            name, params = t.get("Name"), t.get("Parameters") or {}
            spec = ALL_TABLES.get(name)
            if spec is None or VERSION_KEY not in params:
                continue  # not one of ours
            version = int(params[VERSION_KEY])
            if params.get(SNAPSHOT_KEY) not in (None, ""):
                numbers.add(int(params[SNAPSHOT_KEY]))
            location = (t.get("StorageDescriptor") or {}).get("Location", "")
            partitions = self._partitions(glue, name, version, t)
            bindings[name] = TableBinding(name, version, (location,) if location else (), spec.partition_by,
                                          partitions)
        self._bindings = bindings
        self._number = numbers.pop() if len(numbers) == 1 else None

    def _partitions(self, glue, name: str, version: int, table: dict) -> tuple[dict, ...]:
        """Partition values of the registered version: from the local lake's Delta log at that
        version when it has it (the log is the truth), else from the Glue partitions."""
        from genolake.lake.delta_io import open_table, table_files

        try:
            dt = open_table(self.lake.table_root(name), version)
            if dt is not None:
                return tuple(f.partition_values for f in table_files(dt, self.lake.table_root(name)))
        except Exception:  # noqa: BLE001 - no local copy of that version: ask Glue
            pass
        keys = [k["Name"] for k in table.get("PartitionKeys") or []]
        if not keys:
            return ()
        from genolake.lake.glue_catalog import HIVE_NULL, _aws

        out, token = [], None
        while True:
            page = _aws(glue.get_partitions, DatabaseName=self.database, TableName=name,
                        **({"NextToken": token} if token else {}))
            out += [{k: (None if v == HIVE_NULL else v) for k, v in zip(keys, p["Values"])}
                    for p in page.get("Partitions", [])]
            token = page.get("NextToken")
            if not token:
                break
        return tuple(out)

    # ---------------------------------------------------------------- queries
    def statement(self, query: str, *, trusted: bool = False) -> str:
        """The exact text sent to Athena for `query` (Athena dialect): checked read-only unless
        trusted, with `prepare`'s fixes."""
        if not trusted:
            check_read_only(query, self.dialect)
        return prepare(query)

    def sql(self, query: str, *, trusted: bool = False) -> pa.Table:
        text = self.statement(query, trusted=trusted)
        with self._lock:
            return self._execute(text)

    def _execute(self, text: str) -> pa.Table:
        from pyathena.error import Error as PyAthenaError

        states: list = []
        try:
            cursor = self._conn.cursor(converter=_raw_converter(), on_poll=states.append)
        except TypeError:  # an older PyAthena: no per-cursor poll callback
            cursor = self._conn.cursor(converter=_raw_converter())
        try:
            cursor.execute(text)
            description = cursor.description or []
            rows = cursor.fetchall()
        except PyAthenaError as err:
            state = getattr(states[-1], "state", None) if states else None
            reason = one_line(err) or "no reason given"
            if state == "CANCELLED":
                raise QueryError(f"athena query cancelled: {reason}") from None
            raise QueryError(f"athena query failed: {reason}") from None
        except GenolakeError:
            raise
        except Exception as err:  # botocore transport and credential errors
            raise QueryError(one_line(f"athena query failed: {type(err).__name__}: {err}")) from None
        finally:
            try:
                cursor.close()
            except Exception:  # noqa: BLE001
                pass
        return self._to_arrow(description, rows)

    @staticmethod
    def _to_arrow(description, rows) -> pa.Table:
        names = [d[0] for d in description]
        arrays = []
        for i, d in enumerate(description):
            type_name, precision, scale = d[1], d[4] if len(d) > 4 else None, d[5] if len(d) > 5 else None
            values = [r[i] for r in rows]
            try:
                arrays.append(decode_column(values, type_name, precision, scale))
            except (ValueError, TypeError, pa.ArrowException) as err:
                raise QueryError(one_line(f"athena result column {names[i]!r} ({type_name}) could not be "
                                          f"decoded: {err}")) from None
        if not names:
            return pa.table({})
        return pa.Table.from_arrays(arrays, names=names)

    # ---------------------------------------------------------------- the interface
    def refresh(self) -> None:
        with self._lock:
            self._bind()

    def close(self) -> None:
        try:
            self._conn.close()
        except Exception:  # noqa: BLE001
            pass

