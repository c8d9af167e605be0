"""Parquet files written by another writer (Spark) taken into a table folder, ready to commit.

The file is moved (a rename on one filesystem) to the table's own partition folder under our
naming rule, and its DataFile is described from the Parquet footer alone: rows, size and the
min/max/null counts a Delta reader skips files by, without reading the data.
"""

from __future__ import annotations

import os
from pathlib import Path

import pyarrow.parquet as pq

from .delta_io import DataFile, partition_dir
from .schemas import TableSpec

_STAT_COLUMNS = ("contig", "pos", "rsid")  # as delta_io._stats records for our own files


def adopt_parquet_file(table_root: Path, spec: TableSpec, src: Path, partition_values: dict[str, object],
                       name: str) -> DataFile:
    rel_dir = partition_dir(spec, partition_values)
    rel = f"{rel_dir}/{name}" if rel_dir else name
    dest = Path(table_root) / rel
    dest.parent.mkdir(parents=True, exist_ok=True)
    os.replace(src, dest)
    meta = pq.ParquetFile(dest).metadata
    return DataFile(
        rel_path=rel, size=dest.stat().st_size,
        partition_values={k: None if v is None else str(v) for k, v in partition_values.items()},
        num_records=meta.num_rows, stats=_footer_stats(meta, spec),
    )


def _footer_stats(meta, spec: TableSpec) -> dict:
    names = [meta.schema.column(i).name for i in range(meta.num_columns)]
    mins, maxs, nulls = {}, {}, {}
    for col in _STAT_COLUMNS:
        if col not in names or col in spec.partition_by:
            continue
        i = names.index(col)
        lo = hi = None
        n_null, complete = 0, True
        for g in range(meta.num_row_groups):
            st = meta.row_group(g).column(i).statistics
            if st is None or not st.has_null_count:
                complete = False
                continue
            n_null += st.null_count
            if st.has_min_max:
                lo = st.min if lo is None or st.min < lo else lo
                hi = st.max if hi is None or st.max > hi else hi
        if not complete:  # a row group without statistics: skipping by this column is not safe
            continue
        if lo is not None:
            mins[col], maxs[col] = _plain(lo), _plain(hi)
        nulls[col] = n_null
    return {"minValues": mins, "maxValues": maxs, "nullCount": nulls}


def _plain(v):
    return v.decode() if isinstance(v, bytes) else v
