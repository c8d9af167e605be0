"""Delta Lake IO: Parquet files written by our own workers, committed to Delta in one transaction.

Writers put files straight into the table folder; a file no commit references is invisible to
every Delta reader, so a killed ingest leaves nothing visible. Each commit carries the ingest's
run id, its ingest key (kind, dataset, checksum) and the source checksum in its commitInfo, so a
later ingest can find the commits of a run that was killed before the catalog published them
(`run_commits`) and roll them back (`rollback_to`).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import time
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa
import pyarrow.dataset as pads
import pyarrow.parquet as pq
from deltalake import CommitProperties, DeltaTable, Schema, write_deltalake
from deltalake.exceptions import TableNotFoundError
from deltalake.transaction import AddAction, RemoveAction, create_table_with_add_actions

from .errors import ConfigError, LakeStateError
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


HIVE_NULL = "__HIVE_DEFAULT_PARTITION__"  # what hive readers (DuckDB, pyarrow) read as NULL
# a value written as a plain `col=value` folder: conservative characters, not hidden, not reserved,
# short. Anything else is encoded (`_folder_value`) and its true value lives only in the Delta log.
_PLAIN_VALUE = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9_.-]{0,99}")
_UNSAFE_CHAR = re.compile(r"[^A-Za-z0-9_.-]")


def plain_partition_value(value) -> bool:
    """Whether `value` is its own folder name: a hive reader of `col=value` gets exactly it back."""
    return value is not None and _PLAIN_VALUE.fullmatch(str(value)) is not None and str(value) != HIVE_NULL


def _folder_value(value) -> str:
    """The folder-name form of a partition value: the value itself when plain, else a readable
    prefix (unsafe characters as `_`, at most 48) and `~` and 16 hex digits of its SHA-256. `~` is
    never in a plain value, so an encoded folder never equals a plain one, and distinct values get
    distinct folders; every name is a single path component of at most ~80 bytes, never `.`/`..`."""
    if value is None:
        return HIVE_NULL
    text = str(value)
    if plain_partition_value(text):
        return text
    prefix = _UNSAFE_CHAR.sub("_", text)[:48]
    if prefix.startswith("."):
        prefix = "_" + prefix[1:]
    return f"{prefix}~{hashlib.sha256(text.encode('utf-8', 'surrogatepass')).hexdigest()[:16]}"


def partition_dir(spec: TableSpec, values: dict[str, object]) -> str:
    """The folder of a data file with these partition values: `col=value` per partition column,
    with each value in its bounded, safe folder form (`_folder_value`). Readers take the values
    from the Delta log (`table_files`), never from these names."""
    return "/".join(f"{col}={_folder_value(values[col])}" for col in spec.partition_by)


@dataclass(frozen=True)
class TableFile:
    """A data file of a table version, as the Delta log lists it."""

    path: str  # absolute local path (or the URI, for object storage)
    partition_values: dict[str, str | None]  # from the log's add action: the truth
    hive: bool  # its folder names are `col=value` with exactly these values (hive readers may use them)


def table_files(dt: DeltaTable, table_root) -> list[TableFile]:
    """Every data file of `dt`'s version with its partition values from the log's add actions."""
    parts = list(dt.metadata().partition_columns)
    adds = pa.table(dt.get_add_actions(flatten=True))
    root = str(table_root)
    remote = "://" in root
    base = root.rstrip("/") if remote else os.path.abspath(root)
    paths = adds["path"].to_pylist()
    values = {c: adds[f"partition.{c}"].to_pylist() for c in parts}
    out = []
    for i, logged in enumerate(paths):
        rel = urllib.parse.unquote(logged)  # the log keeps paths URI-encoded
        pv = {c: None if values[c][i] is None else str(values[c][i]) for c in parts}
        folders = rel.split("/")[:-1]
        hive = (len(folders) == len(parts)
                and all(plain_partition_value(pv[c]) and folders[j] == f"{c}={pv[c]}" for j, c in enumerate(parts)))
        out.append(TableFile(f"{base}/{logged}" if remote else os.path.join(base, rel), pv, hive))
    return out


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
                 checksum: str | None = None, ingest_key: str | None = None, mode: str = "append",
                 replace_dataset: str | None = None) -> int | None:
    """Commit `files` in one atomic Delta transaction (creating the table if needed). Returns the
    version (None when there was nothing to do).

    mode="append" adds them to the table; mode="overwrite" makes them the whole table: the same
    commit removes every file of the previous version, so a reader sees the old rows or the new
    ones, never both (a ClinVar release replacing the previous one). `replace_dataset`: the same
    commit also removes every current file holding that dataset's rows, so a reader sees the
    dataset's old rows or its new ones, never both (a `--replace` ingest, a merged `variants`)."""
    if mode not in ("append", "overwrite"):
        raise ConfigError(f"commit mode must be 'append' or 'overwrite', not {mode!r}")
    props = _props(run_id, checksum, ingest_key)
    now = int(time.time() * 1000)
    actions = [
        AddAction(f.rel_path, f.size, f.partition_values, now, True,
                  json.dumps({"numRecords": f.num_records, **f.stats}))
        for f in files
    ]
    dt = open_table(table_root)
    if replace_dataset is not None and dt is not None:
        actions += [RemoveAction(a["path"], True, now, a["size_bytes"], a["partition_values"])
                    for a in dataset_files(table_root, replace_dataset)]
    if not actions:
        return None
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


def dataset_files(table_root: Path, dataset: str) -> list[dict]:
    """The current version's add actions (path as logged, size_bytes, partition_values) of the
    files whose `dataset` column holds `dataset`, read from the footers' statistics. Every writer
    of ours puts one dataset in a file; a file mixing it with another cannot be removed whole."""
    dt = open_table(table_root)
    if dt is None:
        return []
    adds = pa.table(dt.get_add_actions(flatten=True))
    out = []
    for logged, size, f in zip(adds["path"].to_pylist(), adds["size_bytes"].to_pylist(), table_files(dt, table_root)):
        md = pq.ParquetFile(f.path).metadata
        names = md.schema.to_arrow_schema().names
        if "dataset" not in names:
            continue
        j = names.index("dataset")
        seen = set()
        for i in range(md.num_row_groups):
            st = md.row_group(i).column(j).statistics
            seen.update({st.min, st.max} if st is not None and st.has_min_max else {None})
        if dataset in seen or None in seen:
            if seen != {dataset}:
                raise LakeStateError(f"{f.path} holds rows of datasets {sorted(map(str, seen))}: it cannot be "
                                     f"replaced as one dataset's file")
            out.append({"path": logged, "size_bytes": size, "partition_values": f.partition_values})
    return out


def added_by_versions(table_root: Path, versions) -> set[str]:
    """Relative paths (as on disk) of the files the commits `versions` added."""
    root = Path(table_root) / "_delta_log"
    out = set()
    for v in versions:
        log = root / f"{int(v):020d}.json"
        if not log.exists():
            continue
        with open(log, encoding="utf-8") as fh:
            for line in fh:
                if '"add"' in line:
                    action = json.loads(line)
                    if "add" in action:
                        out.add(urllib.parse.unquote(action["add"]["path"]))
    return out


def logged_current(table_root: Path) -> set[str]:
    """Relative paths (as on disk) of the latest version's data files."""
    dt = open_table(table_root)
    if dt is None:
        return set()
    root = os.path.abspath(table_root)
    return {os.path.relpath(f.path, root) for f in table_files(dt, table_root)}


def remove_files(table_root: Path, rel_paths) -> int:
    """Delete these data files (a rolled-back run's: no published version references them)."""
    removed = 0
    for rel in rel_paths:
        p = Path(table_root) / rel
        if p.is_file():
            p.unlink()
            removed += 1
    _remove_empty_dirs(Path(table_root))
    return removed


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
    values of the log's add actions (folder names are only a safe encoding of them): deltalake's own `to_pyarrow_dataset` reads through
    a filesystem bridge whose native threads make the interpreter abort at exit about one run in
    two ("terminate called without an active exception", delta-rs #2184), and a CLI must exit with
    the code it means. Reading the files directly is exact for our tables: they use neither deletion
    vectors nor column mapping."""
    dt = open_table(table_root, version)
    if dt is None:
        return None
    if "://" in str(table_root):  # object storage: only deltalake knows how to reach it
        return dt.to_pyarrow_dataset()
    import pyarrow.compute as pc
    import pyarrow.fs as pafs

    schema = pa.schema(dt.schema().to_arrow())
    files = table_files(dt, table_root)

    def expression(pv: dict):
        conds = [pc.field(c).is_null() if v is None else pc.field(c) == pa.scalar(v).cast(schema.field(c).type)
                 for c, v in pv.items()]
        out = pc.scalar(True)
        for cond in conds:
            out = out & cond
        return out

    # the partition values come from the log, not from folder names (which only encode them)
    return pads.FileSystemDataset.from_paths(
        [f.path for f in files], schema=schema, format=pads.ParquetFileFormat(),
        filesystem=pafs.LocalFileSystem(), partitions=[expression(f.partition_values) for f in files])


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
    seen = logged_current(root)
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
