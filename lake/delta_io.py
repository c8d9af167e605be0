"""Delta Lake IO: Parquet files written by our own workers, committed to Delta in one transaction.

Writers put files straight into the table folder; a file no commit references is invisible to
every Delta reader, so a killed ingest leaves nothing visible. Each commit carries the ingest's
run id and source checksum in its commitInfo, which makes a re-run able to tell what it already
committed (`find_run_commit`).
"""

from __future__ import annotations

import json
import os
import time
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from deltalake import CommitProperties, DeltaTable, Schema, write_deltalake
from deltalake.exceptions import TableNotFoundError
from deltalake.transaction import AddAction, create_table_with_add_actions

from .schemas import TableSpec

RUN_KEY = "genolake.run_id"
CHECKSUM_KEY = "genolake.source_sha256"

# Columns with few distinct values per file compress to almost nothing with dictionary+RLE;
# sorted positions compress best as deltas (DESIGN.md measured 1.68 B/row this way).
_DELTA_ENCODED = {"pos"}
# row-group statistics only where a reader prunes on them
_STATS_COLUMNS = {"contig", "pos", "rsid", "cpra", "dataset", "assembly", "gene_symbol", "sample_id", "allele_ord"}


@dataclass(frozen=True)
class DataFile:
    """A Parquet file in a table folder, not yet committed."""

    rel_path: str  # relative to the table root, as on disk
    size: int
    partition_values: dict[str, str | None]
    num_records: int
    stats: dict = field(default_factory=dict)  # {"minValues": {...}, "maxValues": {...}, "nullCount": {...}}


@dataclass(frozen=True)
class ParquetOptions:
    compression: str = "zstd"
    compression_level: int = 3
    row_group_size: int = 1_000_000


def partition_dir(spec: TableSpec, values: dict[str, object]) -> str:
    """Hive-style folder for partition values; unsafe characters are percent-escaped on disk."""
    parts = [f"{col}={urllib.parse.quote(str(values[col]), safe='')}" for col in spec.partition_by]
    return "/".join(parts)


def write_data_file(table_root: Path, spec: TableSpec, table: pa.Table, partition_values: dict[str, object],
                    name: str, options: ParquetOptions = ParquetOptions()) -> DataFile:
    """Write one Parquet file of `table` (data columns only, already sorted) into the table folder."""
    rel_dir = partition_dir(spec, partition_values)
    rel = f"{rel_dir}/{name}" if rel_dir else name
    path = Path(table_root) / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    cols = spec.data_columns
    table = table.select(cols)
    dict_cols = [c for c in cols if c not in _DELTA_ENCODED]
    encodings = {c: "DELTA_BINARY_PACKED" for c in cols if c in _DELTA_ENCODED}
    pq.write_table(
        table, path,
        compression=options.compression, compression_level=options.compression_level,
        use_dictionary=dict_cols, column_encoding=encodings or None,
        row_group_size=options.row_group_size, store_schema=False,
        write_statistics=[c for c in cols if c in _STATS_COLUMNS],
    )
    return DataFile(
        rel_path=rel, size=path.stat().st_size,
        partition_values={k: None if v is None else str(v) for k, v in partition_values.items()},
        num_records=table.num_rows, stats=_stats(table, spec),
    )


def _stats(table: pa.Table, spec: TableSpec) -> dict:
    """min/max/null counts of the sort and key columns: enough for file skipping by pos."""
    import pyarrow.compute as pc

    mins, maxs, nulls = {}, {}, {}
    for name in ("contig", "pos", "rsid"):
        if name not in table.column_names or name in spec.partition_by:
            continue
        col = table[name]
        if pa.types.is_dictionary(col.type):
            col = col.cast(pa.string())
        mm = pc.min_max(col)
        if mm["min"].is_valid:
            mins[name], maxs[name] = mm["min"].as_py(), mm["max"].as_py()
        nulls[name] = col.null_count
    return {"minValues": mins, "maxValues": maxs, "nullCount": nulls}


def open_table(table_root: Path, version: int | None = None) -> DeltaTable | None:
    try:
        return DeltaTable(str(table_root), version=version)
    except TableNotFoundError:
        return None


def table_version(table_root: Path) -> int | None:
    dt = open_table(table_root)
    return None if dt is None else dt.version()


def find_run_commit(table_root: Path, run_id: str) -> int | None:
    """The Delta version committed by `run_id`, if any."""
    dt = open_table(table_root)
    if dt is None:
        return None
    for entry in dt.history():
        if entry.get(RUN_KEY) == run_id:
            return entry.get("version")
    return None


def commit_files(table_root: Path, spec: TableSpec, files: list[DataFile], *, run_id: str,
                 checksum: str | None = None) -> int:
    """Append `files` in one atomic Delta commit (creating the table if needed). Returns the version."""
    props = CommitProperties(custom_metadata={RUN_KEY: run_id, CHECKSUM_KEY: checksum or ""})
    now = int(time.time() * 1000)
    actions = [
        AddAction(f.rel_path, f.size, f.partition_values, now, True,
                  json.dumps({"numRecords": f.num_records, **f.stats}))
        for f in files
    ]
    dt = open_table(table_root)
    if dt is None:
        Path(table_root).mkdir(parents=True, exist_ok=True)
        create_table_with_add_actions(
            str(table_root), Schema.from_arrow(spec.schema), actions, mode="error",
            partition_by=list(spec.partition_by) or None, name=spec.name, description=spec.description,
            commit_properties=props,
        )
    else:
        dt.create_write_transaction(actions, mode="append", schema=spec.schema,
                                    partition_by=list(spec.partition_by) or None, commit_properties=props)
    return DeltaTable(str(table_root)).version()


def replace_rows(table_root: Path, spec: TableSpec, data: pa.Table, predicate: str | None, *, run_id: str,
                 checksum: str | None = None) -> int:
    """Overwrite the rows matching `predicate` (all rows when None) with `data`, atomically.

    Used for small tables (samples, clinvar per assembly) where a delivery replaces earlier rows."""
    data = data.select([f.name for f in spec.schema]).cast(spec.schema)
    props = CommitProperties(custom_metadata={RUN_KEY: run_id, CHECKSUM_KEY: checksum or ""})
    exists = open_table(table_root) is not None
    Path(table_root).mkdir(parents=True, exist_ok=True)
    write_deltalake(
        str(table_root), data, mode="overwrite" if exists else "error",
        predicate=predicate if exists else None,
        partition_by=list(spec.partition_by) or None, name=spec.name, description=spec.description,
        commit_properties=props,
    )
    return DeltaTable(str(table_root)).version()


def read_table(table_root: Path, version: int | None = None, columns: list[str] | None = None,
               filter=None) -> pa.Table:
    """The whole table at `version` (latest when None) as Arrow, with the contract's column types."""
    dt = open_table(table_root, version)
    if dt is None:
        return pa.table({})
    return dt.to_pyarrow_dataset().to_table(columns=columns, filter=filter)


def remove_unreferenced(table_root: Path, prefix: str) -> int:
    """Delete data files named `prefix*` that no commit references (leftovers of a killed run)."""
    dt = open_table(table_root)
    referenced = set() if dt is None else {urllib.parse.unquote(p) for p in dt.files()}
    removed = 0
    for dirpath, _dirs, names in os.walk(table_root):
        if "_delta_log" in dirpath:
            continue
        for n in names:
            if n.startswith(prefix):
                rel = os.path.relpath(os.path.join(dirpath, n), table_root)
                if rel not in referenced:
                    os.unlink(os.path.join(dirpath, n))
                    removed += 1
    return removed
