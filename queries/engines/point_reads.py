"""Key lookups read straight from a table's Parquet files, without SQL planning.

A warm DuckDB statement over Parquet costs about 2 ms before it reads a byte (binding the file
list, planning, starting the scan), which is most of a one-rsID lookup. Here the files of the bound
Delta version are pruned by their partition folders, then by the row-group min/max statistics of
the footers (parsed once per file and kept), and only the surviving row groups' projected columns
are decoded: about 0.3 ms for a 4k-row rsid_index group, 1 ms for a 64k-row cpra_index group.
Delta data files are never rewritten in place, so a footer cached by path stays true."""

from __future__ import annotations

import bisect
import threading
import urllib.parse
from collections import OrderedDict
from collections.abc import Sequence

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from genolake.lake.schemas import TableSpec

# open ParquetFiles kept per engine (each holds its parsed footer and a file handle)
_OPEN_FILES = 256


def _partition_values(path: str, partition_by: Sequence[str]) -> dict[str, str]:
    """Hive `col=value` folders of a data file path (values unescaped)."""
    values = {}
    for segment in path.split("/")[:-1]:
        col, sep, value = segment.partition("=")
        if sep and col in partition_by:
            values[col] = urllib.parse.unquote(value)
    return values


def _overlaps(sorted_values: list, lo, hi) -> bool:
    i = bisect.bisect_left(sorted_values, lo)
    return i < len(sorted_values) and sorted_values[i] <= hi


class PointReader:
    """Rows of one bound table version whose columns equal given values."""

    def __init__(self, spec: TableSpec, files: Sequence[str]):
        self.spec = spec
        self.files = [(f, _partition_values(f, spec.partition_by)) for f in files]
        self._open: OrderedDict[str, pq.ParquetFile] = OrderedDict()
        self._lock = threading.Lock()

    def _file(self, path: str) -> pq.ParquetFile:
        pf = self._open.get(path)
        if pf is None:
            pf = pq.ParquetFile(path.removeprefix("file://"))
            self._open[path] = pf
            if len(self._open) > _OPEN_FILES:
                self._open.popitem(last=False)[1].close()
        else:
            self._open.move_to_end(path)
        return pf

    def read(self, where: dict[str, Sequence], columns: Sequence[str]) -> pa.Table:
        schema = self.spec.schema
        parts = {c: {str(v) for v in vals} for c, vals in where.items() if c in self.spec.partition_by}
        data_keys = {c: vals for c, vals in where.items() if c not in self.spec.partition_by}
        wanted = {c: sorted(set(vals)) for c, vals in data_keys.items()}
        read_cols = list(dict.fromkeys([c for c in columns if c not in self.spec.partition_by] + list(wanted)))
        pieces = []
        with self._lock:
            for path, pvals in self.files:
                if any(pvals.get(c) not in vals for c, vals in parts.items()):
                    continue
                pf = self._file(path)
                groups = self._row_groups(pf, wanted)
                if not groups:
                    continue
                t = pf.read_row_groups(groups, columns=read_cols)
                mask = None
                for c, vals in wanted.items():
                    m = pc.is_in(t[c], value_set=pa.array(vals, schema.field(c).type))
                    mask = m if mask is None else pc.and_(mask, m)
                if mask is not None:
                    t = t.filter(mask)
                for c in self.spec.partition_by:
                    if c in columns:
                        value = pa.scalar(pvals.get(c)).cast(schema.field(c).type)
                        t = t.append_column(c, pa.array([value.as_py()] * t.num_rows, schema.field(c).type))
                pieces.append(t.select(list(columns)))
        out_schema = pa.schema([schema.field(c) for c in columns])
        if not pieces:
            return out_schema.empty_table()
        return pa.concat_tables([p.cast(out_schema) for p in pieces])

    @staticmethod
    def _row_groups(pf: pq.ParquetFile, wanted: dict[str, list]) -> list[int]:
        md = pf.metadata
        names = pf.schema_arrow.names
        index = {c: names.index(c) for c in wanted if c in names}
        keep = []
        for i in range(md.num_row_groups):
            rg = md.row_group(i)
            ok = True
            for c, j in index.items():
                stats = rg.column(j).statistics
                if stats is not None and stats.has_min_max and not _overlaps(wanted[c], stats.min, stats.max):
                    ok = False
                    break
            if ok and rg.num_rows:
                keep.append(i)
        return keep

    def close(self) -> None:
        with self._lock:
            for pf in self._open.values():
                pf.close()
            self._open.clear()
