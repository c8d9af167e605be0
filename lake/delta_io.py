"""Delta Lake IO: Parquet files written by our own workers, committed to Delta in one transaction.

Writers put files straight into the table folder; a file no commit references is invisible to
every Delta reader, so a killed ingest leaves nothing visible. Each commit carries the ingest's
run id, its ingest key (kind, dataset, checksum) and the source checksum in its commitInfo, so a
later ingest can find the commits of a run that was killed before the catalog published them
(`run_commits`) and roll them back (`rollback_to`).
"""

from __future__ import annotations

import json
import os
import time
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa
import pyarrow.dataset as pads
import pyarrow.parquet as pq
from deltalake import CommitProperties, DeltaTable, Schema, write_deltalake
from deltalake.exceptions import TableNotFoundError
from deltalake.transaction import AddAction, create_table_with_add_actions

from .schemas import TableSpec

from .delta_keys import CHECKSUM_KEY, INGEST_KEY, ROLLBACK_KEY, RUN_KEY  # noqa: F401  (re-exported)

# Columns with few distinct values per file compress to almost nothing with dictionary+RLE;
# sorted positions compress best as deltas (DESIGN.md measured 1.68 B/row this way), and so does
# cpra_index's sample_index, ascending within a site (a 1 Mb bin: 1.4 MB against 3.7 MB as a dictionary).
_DELTA_ENCODED = {"pos", "sample_index"}
# Near-unique strings (one value per row) are stored PLAIN: a dictionary of them is as big as the
# column and is rebuilt for every row group, so with the lookup tables' small row groups it made
# `variants` 19% bigger (benchmarks/queries.py, chr22); plain + zstd is smaller than it was before.
_PLAIN_STRINGS = {"cpra", "rsid", "id"}
# row-group statistics only where a reader prunes on them
_STATS_COLUMNS = {"contig", "pos", "rsid", "cpra", "dataset", "assembly", "gene_symbol", "sample_id", "allele_ord",
                  "sample_index"}


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
    row_group_size: int | None = None  # None: the table's own (TableSpec.row_group_rows)


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
    dict_cols = [c for c in cols if c not in _DELTA_ENCODED and c not in _PLAIN_STRINGS]
    encodings = {c: "DELTA_BINARY_PACKED" for c in cols if c in _DELTA_ENCODED}
    pq.write_table(
        table, path,
        compression=options.compression, compression_level=options.compression_level,
        use_dictionary=dict_cols, column_encoding=encodings or None,
        row_group_size=options.row_group_size or spec.row_group_rows, store_schema=False,
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
    """The latest Delta version committed by `run_id`, if any."""
    versions = run_commits(table_root, run_id)
    return versions[-1] if versions else None


def run_commits(table_root: Path, run_id: str) -> list[int]:
    """Every Delta version committed by `run_id`, oldest first."""
    dt = open_table(table_root)
    if dt is None:
        return []
    return sorted(e["version"] for e in dt.history() if e.get(RUN_KEY) == run_id)


def _props(run_id: str, checksum: str | None, ingest_key: str | None) -> CommitProperties:
    meta = {RUN_KEY: run_id, CHECKSUM_KEY: checksum or ""}
    if ingest_key:
        meta[INGEST_KEY] = ingest_key
    return CommitProperties(custom_metadata=meta)


def commit_files(table_root: Path, spec: TableSpec, files: list[DataFile], *, run_id: str,
                 checksum: str | None = None, ingest_key: str | None = None, mode: str = "append") -> int:
    """Commit `files` in one atomic Delta transaction (creating the table if needed). Returns the version.

    mode="append" adds them to the table; mode="overwrite" makes them the whole table: the same
    commit removes every file of the previous version, so a reader sees the old rows or the new
    ones, never both (a ClinVar release replacing the previous one)."""
    if mode not in ("append", "overwrite"):
        raise ValueError(f"mode must be 'append' or 'overwrite', not {mode!r}")
    props = _props(run_id, checksum, ingest_key)
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
        dt.create_write_transaction(actions, mode=mode, schema=spec.schema,
                                    partition_by=list(spec.partition_by) or None, commit_properties=props)
    return DeltaTable(str(table_root)).version()


def replace_rows(table_root: Path, spec: TableSpec, data: pa.Table, predicate: str | None, *, run_id: str,
                 checksum: str | None = None, ingest_key: str | None = None) -> int:
    """Overwrite the rows matching `predicate` (all rows when None) with `data`, atomically.

    Used for small tables (samples) where a delivery replaces earlier rows."""
    data = data.select([f.name for f in spec.schema]).cast(spec.schema)
    props = _props(run_id, checksum, ingest_key)
    exists = open_table(table_root) is not None
    Path(table_root).mkdir(parents=True, exist_ok=True)
    write_deltalake(
        str(table_root), data, mode="overwrite" if exists else "error",
        predicate=predicate if exists else None,
        partition_by=list(spec.partition_by) or None, name=spec.name, description=spec.description,
        commit_properties=props,
    )
    return DeltaTable(str(table_root)).version()


def rollback_to(table_root: Path, version: int, *, run_id: str) -> int:
    """Make `version` the table's content again with a new commit (Delta RESTORE). Returns the new version.

    The commits after `version` stay in the log (so the history says what happened) but no longer
    count: a reader of the latest version sees exactly what `version` held."""
    dt = open_table(table_root)
    if dt is None or dt.version() == version:
        return version
    dt.restore(version, commit_properties=CommitProperties(custom_metadata={ROLLBACK_KEY: run_id}))
    return DeltaTable(str(table_root)).version()


def table_dataset(table_root: Path, version: int | None = None) -> pads.Dataset | None:
    """A pyarrow dataset of the table at `version` (latest when None), with the table's schema.

    For a local table it is a plain Parquet dataset over the version's files, with the partition
    values read from the hive-style folder names: deltalake's own `to_pyarrow_dataset` reads through
    a filesystem bridge whose native threads make the interpreter abort at exit about one run in
    two ("terminate called without an active exception", delta-rs #2184), and a CLI must exit with
    the code it means. Reading the files directly is exact for our tables: they use neither deletion
    vectors nor column mapping."""
    dt = open_table(table_root, version)
    if dt is None:
        return None
    uris = dt.file_uris()
    if any("://" in u for u in uris):  # object storage: only deltalake knows how to reach it
        return dt.to_pyarrow_dataset()
    schema = pa.schema(dt.schema().to_arrow())
    parts = list(dt.metadata().partition_columns)
    partitioning = (pads.partitioning(pa.schema([schema.field(c) for c in parts]), flavor="hive")
                    if parts else None)
    return pads.dataset(uris, schema=schema, format="parquet", partitioning=partitioning,
                        partition_base_dir=os.path.abspath(table_root))


def read_table(table_root: Path, version: int | None = None, columns: list[str] | None = None,
               filter=None) -> pa.Table:
    """The whole table at `version` (latest when None) as Arrow, with the contract's column types."""
    ds = table_dataset(table_root, version)
    if ds is None:
        return pa.table({})
    return ds.to_table(columns=columns, filter=filter)


def logged_files(table_root: Path) -> set[str]:
    """Relative paths (as on disk) of every data file any commit in the log has added."""
    root = Path(table_root)
    dt = open_table(root)
    if dt is None:
        return set()
    # the latest version's files cover adds folded into a checkpoint whose JSON was cleaned up
    seen = {os.path.relpath(p, os.path.abspath(root)) for p in dt.file_uris()}
    for log in (root / "_delta_log").glob("*.json"):
        with open(log, encoding="utf-8") as fh:
            for line in fh:
                if '"add"' not in line and '"remove"' not in line:
                    continue
                action = json.loads(line)
                for kind in ("add", "remove"):
                    if kind in action:
                        seen.add(urllib.parse.unquote(action[kind]["path"]))
    return seen


def remove_unreferenced(table_root: Path, prefix: str = "part-") -> int:
    """Delete data files named `prefix*` that no commit of the log has ever added.

    Those are the leftovers of an ingest that stopped before its commit (killed, or refused part
    way). Files that an earlier version references stay: time travel to a published version must
    keep working. Only call this while holding the ingest lock, or a running ingest's files go."""
    root = Path(table_root)
    if not root.is_dir():
        return 0
    referenced = logged_files(root)
    removed = 0
    for dirpath, dirs, names in os.walk(root):
        if "_delta_log" in dirs:
            dirs.remove("_delta_log")
        for n in names:
            if n.startswith(prefix):
                rel = os.path.relpath(os.path.join(dirpath, n), root)
                if rel not in referenced:
                    os.unlink(os.path.join(dirpath, n))
                    removed += 1
    _remove_empty_dirs(root)
    return removed


def _remove_empty_dirs(root: Path) -> None:
    """Partition folders emptied by `remove_unreferenced` go too (never the root or the log)."""
    for dirpath, dirs, names in os.walk(root, topdown=False):
        p = Path(dirpath)
        if p == root or "_delta_log" in p.parts:
            continue
        try:
            p.rmdir()  # only succeeds when empty
        except OSError:
            pass
