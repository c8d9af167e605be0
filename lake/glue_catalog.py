"""Register the lake's curated tables in the AWS Glue Data Catalog, for Athena (the `athena` query engine).

`register_glue(catalog, database=..., location="s3://bucket/prefix")` creates the Glue database if
absent and creates or updates one Glue table per curated table, at `location/<table>/` (where the
curated/ folder was copied, e.g. with `aws s3 sync LAKE/curated s3://bucket/prefix`):

- `table_format="delta"` (default): a Delta table as Athena reads it natively, `table_type=DELTA`
  and the location; Athena takes the schema, partitions and files from the Delta log (the columns are
  recorded too, for tools that list them).
- `table_format="parquet"`: a Hive/Parquet table with the partition keys and one Glue partition per
  partition value set of the published version's files (from the Delta log: the folder names only
  encode the values), each at its folder.

Every table records `genolake.delta_version` (the published version registered) and, when the catalog
knows it, `genolake.snapshot`: the athena engine reports those as its provenance. Credentials come from
the standard AWS chain; nothing here reads or writes keys."""

from __future__ import annotations

import os
import re

import pyarrow as pa

from .errors import ConfigError, GenolakeError, one_line
from .schemas import ALL_TABLES

VERSION_KEY = "genolake.delta_version"
SNAPSHOT_KEY = "genolake.snapshot"
PARTITION_KEY = "genolake.partition_by"
FORMATS = ("delta", "parquet")
HIVE_NULL = "__HIVE_DEFAULT_PARTITION__"

# Glue/Athena database names: lower-case letters, digits and '_' (Athena refuses others in SQL)
_DATABASE = re.compile(r"[a-z0-9_]{1,255}")
# s3://bucket[/prefix]: a DNS-style bucket name; no quotes, backslashes or spaces in the prefix
_S3 = re.compile(r"s3://([a-z0-9][a-z0-9.-]{1,61}[a-z0-9])(/[^'\\\s]*)?")

_PARQUET_SERDE = {
    "InputFormat": "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat",
    "OutputFormat": "org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat",
    "SerdeInfo": {"SerializationLibrary": "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe",
                  "Parameters": {"serialization.format": "1"}},
}


class GlueError(GenolakeError):
    """AWS refused a Glue request (permissions, limits, a conflicting object): AWS's message, one line."""

    exit_code = 1


def check_database(database) -> str:
    if not isinstance(database, str) or not _DATABASE.fullmatch(database):
        raise ConfigError(f"Glue database name {database!r} is not allowed: use lower-case letters, digits and '_'"
                          " (at most 255)")
    return database


def check_location(location) -> str:
    """`location` as `s3://bucket/prefix` without a trailing '/'; a ConfigError otherwise."""
    if not isinstance(location, str) or not _S3.fullmatch(location.rstrip("/") or "x"):
        raise ConfigError(f"location {location!r} must be s3://BUCKET/PREFIX (where the curated tables were "
                          "copied), without quotes, backslashes or spaces")
    return location.rstrip("/")


def glue_type(t: pa.DataType) -> str:
    """The Glue/Hive type of an Arrow type."""
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        return "string"
    simple = {pa.int8(): "tinyint", pa.int16(): "smallint", pa.int32(): "int", pa.int64(): "bigint",
              pa.bool_(): "boolean", pa.float32(): "float", pa.float64(): "double", pa.date32(): "date",
              pa.binary(): "binary"}
    if t in simple:
        return simple[t]
    if pa.types.is_timestamp(t):
        return "timestamp"
    if pa.types.is_decimal(t):
        return f"decimal({t.precision},{t.scale})"
    if pa.types.is_list(t) or pa.types.is_large_list(t):
        return f"array<{glue_type(t.value_type)}>"
    if pa.types.is_struct(t):
        return "struct<" + ",".join(f"{f.name}:{glue_type(f.type)}" for f in t) + ">"
    raise ConfigError(f"no Glue type for Arrow type {t}")


def published_versions(catalog, as_of: int | None = None) -> tuple[int | None, dict[str, int]]:
    """(snapshot number or None, {table: Delta version}) the catalog publishes (or snapshot `as_of`)."""
    published = getattr(catalog, "published", None)
    if published is not None:
        snap = published(as_of)
        return snap.number, dict(snap.versions)
    if as_of is not None:
        raise ConfigError("this catalog records no snapshot history: register without --as-of")
    return None, dict(catalog.snapshot())


def glue_client(region: str | None = None):
    try:
        import boto3
    except ImportError:
        raise ConfigError("registering in Glue needs: pip install 'genolake[athena]'") from None
    import botocore.exceptions

    try:
        return boto3.session.Session(region_name=region).client("glue")
    except botocore.exceptions.NoRegionError:
        raise ConfigError("no AWS region: pass --region or set AWS_REGION / AWS_DEFAULT_REGION") from None


def _aws(call, **kwargs):
    """A Glue call; botocore's errors as one-line GlueErrors with AWS's message."""
    import botocore.exceptions

    try:
        return call(**kwargs)
    except botocore.exceptions.ClientError as err:
        e = err.response.get("Error", {})
        op = getattr(err, "operation_name", "") or "Glue request"
        raise GlueError(one_line(f"AWS Glue {op} failed: {e.get('Code', 'error')}: {e.get('Message', err)}")) from None
    except botocore.exceptions.NoCredentialsError:
        raise ConfigError("no AWS credentials: configure the standard AWS chain (AWS_PROFILE, "
                          "~/.aws/credentials, an instance role...)") from None
    except botocore.exceptions.BotoCoreError as err:
        raise GlueError(one_line(f"AWS Glue request failed: {err}")) from None


def _columns(spec, names) -> list[dict]:
    fields = {f.name: f for f in spec.schema}
    out = []
    for n in names:
        f = fields[n]
        col = {"Name": n, "Type": glue_type(f.type)}
        doc = (f.metadata or {}).get(b"doc")
        if doc:
            col["Comment"] = doc.decode()[:255]
        out.append(col)
    return out


def _partitions(entry, version: int, location: str, parts: list[str]) -> list[dict]:
    """One Glue partition per partition value set of the version's files, at the files' folder."""
    from .delta_io import open_table, table_files  # deltalake on first use

    dt = open_table(entry.location, version)
    if dt is None:
        return []
    seen: dict[tuple, str] = {}
    for f in table_files(dt, entry.location):
        values = tuple(HIVE_NULL if f.partition_values.get(c) is None else f.partition_values[c] for c in parts)
        rel = os.path.relpath(f.path, os.path.abspath(entry.location)).replace(os.sep, "/")
        folder = rel.rsplit("/", 1)[0] if "/" in rel else ""
        seen.setdefault(values, f"{location}/{folder}/" if folder else f"{location}/")
    return [{"Values": list(v), "StorageDescriptor": {"Location": loc, **_PARQUET_SERDE}} for v, loc in seen.items()]


def register_glue(catalog, *, database: str, location: str, region: str | None = None,
                  table_format: str = "delta", client=None, snapshot_versions=None,
                  as_of: int | None = None) -> list[str]:
    """Create the Glue database if absent and create or update one Glue table per curated table
    (`location/<table>/`). `snapshot_versions`: (number, {table: version}) to register instead of
    the catalog's published snapshot (or snapshot `as_of`). Returns the table names registered."""
    database = check_database(database)
    location = check_location(location)
    if table_format not in FORMATS:
        raise ConfigError(f"table format {table_format!r}: use {' or '.join(FORMATS)}")
    if snapshot_versions is None:
        number, versions = published_versions(catalog, as_of)
    elif isinstance(snapshot_versions, tuple):
        number, versions = snapshot_versions
    else:
        number, versions = getattr(snapshot_versions, "number", None), dict(snapshot_versions.versions)
    entries = {t.name: t for t in catalog.tables() if t.name in ALL_TABLES and t.zone == "curated"}
    if not entries:
        raise ConfigError("no curated tables in the catalog: ingest a file (or `genolake catalog crawl`) first")
    glue = client if client is not None else glue_client(region)
    try:
        _aws(glue.get_database, Name=database)
    except GlueError as err:
        if "EntityNotFoundException" not in str(err):
            raise
        _aws(glue.create_database, DatabaseInput={
            "Name": database, "Description": "genolake curated tables (genolake catalog register --target glue)"})
    done = []
    for name in sorted(entries):
        version = versions.get(name)
        if version is None:
            continue
        spec = ALL_TABLES[name]
        parts = list(entries[name].partition_by or spec.partition_by)
        loc = f"{location}/{name}"
        params = {VERSION_KEY: str(version), PARTITION_KEY: ",".join(parts), "genolake.format": table_format}
        if number is not None:
            params[SNAPSHOT_KEY] = str(number)
        if table_format == "delta":
            # Athena reads the columns, partitions and files from the Delta log
            params.update({"table_type": "DELTA", "EXTERNAL": "TRUE"})
            table_input = {"Name": name, "Description": spec.description[:2048], "TableType": "EXTERNAL_TABLE",
                           "Parameters": params,
                           "StorageDescriptor": {"Location": loc + "/",
                                                 "Columns": _columns(spec, [f.name for f in spec.schema])}}
        else:
            params.update({"classification": "parquet", "EXTERNAL": "TRUE"})
            table_input = {"Name": name, "Description": spec.description[:2048], "TableType": "EXTERNAL_TABLE",
                           "Parameters": params,
                           "PartitionKeys": _columns(spec, parts),
                           "StorageDescriptor": {"Location": loc + "/", "Columns": _columns(spec, spec.data_columns),
                                                 **_PARQUET_SERDE}}
        try:
            _aws(glue.get_table, DatabaseName=database, Name=name)
            exists = True
        except GlueError as err:
            if "EntityNotFoundException" not in str(err):
                raise
            exists = False
        if exists:
            _aws(glue.update_table, DatabaseName=database, TableInput=table_input)
        else:
            _aws(glue.create_table, DatabaseName=database, TableInput=table_input)
        if table_format == "parquet" and parts:
            _sync_partitions(glue, database, name, _partitions(entries[name], version, loc, parts))
        done.append(name)
    return done


def _sync_partitions(glue, database: str, table: str, wanted: list[dict]) -> None:
    """Make the table's Glue partitions exactly `wanted` (a re-registration drops stale ones)."""
    have = []
    token = None
    while True:
        kw = {"DatabaseName": database, "TableName": table, **({"NextToken": token} if token else {})}
        page = _aws(glue.get_partitions, **kw)
        have += [tuple(p["Values"]) for p in page.get("Partitions", [])]
        token = page.get("NextToken")
        if not token:
            break
    want = {tuple(p["Values"]): p for p in wanted}
    stale = [{"Values": list(v)} for v in have if v not in want]
    for i in range(0, len(stale), 25):
        _check_batch(_aws(glue.batch_delete_partition, DatabaseName=database, TableName=table,
                          PartitionsToDelete=stale[i:i + 25]), table)
    for v in set(have) & set(want):  # its folder may have moved
        _aws(glue.update_partition, DatabaseName=database, TableName=table, PartitionValueList=list(v),
             PartitionInput=want[v])
    new = [p for v, p in want.items() if v not in set(have)]
    for i in range(0, len(new), 100):
        _check_batch(_aws(glue.batch_create_partition, DatabaseName=database, TableName=table,
                          PartitionInputList=new[i:i + 100]), table)


def _check_batch(response: dict, table: str) -> None:
    errors = response.get("Errors") or []
    if errors:
        d = errors[0].get("ErrorDetail", {})
        raise GlueError(one_line(f"AWS Glue refused {len(errors)} partition(s) of {table}: "
                                 f"{d.get('ErrorCode', 'error')}: {d.get('ErrorMessage', '')}"))
