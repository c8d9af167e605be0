"""Physical layouts of one dataset's stored calls on one contig, for the layout benchmark.

A layout holds the same curated data as the lake (the dataset's stored calls on `params.contig`
and its split alleles, "sites") arranged differently on disk, under
`params.work / "layouts" / <name>/`, and is queried with DuckDB through views (`connect`). Kinds:

- `by_sample`: the reference design, calls in a hive folder per sample (`sample_id=...`) sorted
  by pos. The layout named `curated` (reference=True) IS the lake's own `variants` + `genotypes`
  files, used in place (no copy, build time 0); a rebuilt `by_sample` takes the knobs.
- `bin`: calls in a hive folder per position bin (`pos_bin=<start>`), sorted by pos
  (`bin_100k`, `bin_1m`, `bin_10m`, or any `bin_<N>[k|m]`).
- `flat_sorted`: calls unpartitioned, sorted by pos, in files of `target_file_rows` rows.
- `packed`: variant-major, one row per split allele with every sample's call as int8 lists in
  sample_index order: `dosage` (copies of the ALT), `deficit` (2 - called_alleles: AN is
  2n - sum(deficit), and it is negative for a triploid call) and `ploidy`, which is null for an
  allele whose calls are all diploid (nearly all of them) and otherwise gives every sample's
  ploidy, which the genotype matrix needs to tell a missing allele from a haploid call. A sample
  with no stored call is (0, 0, 2). No separate sites file: every allele has a row.
- `flat_default` (the peer): "DuckDB over one flat Parquet file": the stored calls joined with
  their site columns (contig, pos, ref, alt) in ONE file written with pyarrow's defaults (snappy,
  1Mi-row row groups, source order: sample after sample). Alleles without any stored call get one
  row with null call columns, so the file alone lists every allele.

Row layouts (by_sample, bin, flat_sorted) carry the calls as cpra_index has them (sample_index,
pos, allele_ord, alt_dosage, called_alleles, ploidy, phased; by_sample has sample_id in its
folder instead of sample_index) and their own `sites.parquet` (contig, pos, allele_ord, ref, alt).
FORMAT fields (DP, GQ, AD) are in no rebuilt layout: no workload reads them (curated keeps them).

Builds stream: position layouts and `packed` read cpra_index one chunk of sites at a time (a
position range, pruned by pos_bin partitions and pos statistics), `by_sample` and `flat_default`
read genotypes one sample at a time, and rows leave through ParquetWriters a row group at a time,
so memory stays bounded by one chunk (a few hundred MB at chr22 scale) whatever the contig size.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.dataset as pads
import pyarrow.parquet as pq

from genolake.lake.delta_io import open_table, table_dataset
from genolake.lake.store import Lake
from genolake.lake.config import LakeConfig

from .contract import BenchParams

__all__ = ["LayoutSpec", "BuiltLayout", "DEFAULT_LAYOUTS", "DEFAULT_LAYOUT_NAMES", "KINDS", "parse_layouts",
           "layout_spec", "build", "open_built", "remove", "connect", "curated_files", "open_lake_of",
           "Progress"]

KINDS = ("by_sample", "bin", "flat_sorted", "packed", "flat_default")
Progress = Callable[[str, int, int], None]  # (layout name, steps done, steps in all)

_MANIFEST = "layout.json"
_SITES_FILE = "sites.parquet"
# Sites per build chunk: at most this many sample cells (packed holds 3 int8 matrices of them; the
# row layouts use the same position chunks, ~7% of the cells being stored calls at chr22 density).
# Measured at 2,504 samples: peak RSS over the start is ~+330 MB for packed, ~+110 MB for bin_1m
# with 8M cells (+540 / +300 MB with 32M), at the same build speed; it does not grow with the contig.
_CHUNK_CELLS = 8_000_000
_MIN_CHUNK_SITES = 256
_PYARROW_DEFAULT_ROW_GROUP = 1024 * 1024  # pq.write_table's row_group_size=None
_SITES_ROW_GROUP = 16_384  # like curated variants: a few sites are one small row group


@dataclass(frozen=True)
class LayoutSpec:
    """One layout: its kind and knobs. Knobs left None take the kind's defaults (`_DEFAULTS`)."""

    name: str
    kind: str
    bin_size: int | None = None  # bin: positions per partition folder
    row_group_rows: int | None = None  # rows per Parquet row group (packed: alleles)
    target_file_rows: int | None = None  # a file is split when it would grow past this many rows
    zstd_level: int | None = None
    description: str = ""
    peer: bool = False  # True only for flat_default
    reference: bool = False  # True only for curated: the lake's own files

    @property
    def knobs(self) -> dict:
        """The knobs that apply to this layout, as built (defaults filled in)."""
        if self.reference or self.peer:
            return {}
        out = {"row_group_rows": self.row_group_rows, "target_file_rows": self.target_file_rows,
               "zstd_level": self.zstd_level}
        if self.kind == "bin":
            out = {"bin_size": self.bin_size, **out}
        return out


@dataclass(frozen=True)
class BuiltLayout:
    """A layout on disk. `tables`: DuckDB view name -> its files ("calls" and "sites" for row
    layouts, "packed", "flat"); `files` is all of them."""

    name: str
    spec: LayoutSpec
    root: Path
    files: list[Path]
    bytes: int
    build_s: float
    tables: dict[str, list[Path]] = field(default_factory=dict)


# ------------------------------------------------------------------------------------- specs

_DEFAULTS = {  # kind -> (row_group_rows, target_file_rows, zstd_level)
    # one sample's calls of a region should cost a row group or two, not the sample's whole file
    "by_sample": (16_384, 4_000_000, 3),
    # as curated cpra_index: a site lookup decodes one 64k-row group
    "bin": (65_536, 4_000_000, 3),
    "flat_sorted": (65_536, 4_000_000, 3),
    # rows are alleles of n samples each: 1,024 rows of 2,504 samples ~ 2.5 MB per list column
    "packed": (1_024, 131_072, 3),
}
_DESCRIPTIONS = {
    "curated": "the lake itself: genotypes partitioned by sample_id, sorted by contig, pos (reference)",
    "by_sample": "calls partitioned by sample (hive folder per sample), sorted by pos",
    "bin": "calls partitioned by {size} position bins, sorted by pos",
    "flat_sorted": "calls unpartitioned, sorted by pos",
    "packed": "one row per allele with every sample's dosage/deficit as int8 lists, sorted by pos",
    "flat_default": "one flat Parquet file of calls + site columns with pyarrow defaults (peer)",
}
_BASE_NAMES = ("curated", "by_sample", "flat_sorted", "packed", "flat_default")
_BIN_RE = re.compile(r"^bin_([0-9]+)([km]?)$")
_KNOB_FIELDS = {"rg": "row_group_rows", "file_rows": "target_file_rows", "zstd": "zstd_level"}
DEFAULT_LAYOUT_NAMES = "curated,by_sample,bin_100k,bin_1m,bin_10m,flat_sorted,packed,flat_default"


def _size_text(n: int) -> str:
    if n % 1_000_000 == 0:
        return f"{n // 1_000_000}m"
    if n % 1_000 == 0:
        return f"{n // 1_000}k"
    return str(n)


def _int_value(text: str, what: str) -> int:
    """An integer knob value: digits, optionally with _ separators and a k or m suffix."""
    m = re.fullmatch(r"([0-9][0-9_]*)([km]?)", text.strip().lower())
    if not m:
        raise ValueError(f"{what}={text!r} is not a whole number (e.g. 16384, 64k, 2m)")
    return int(m[1].replace("_", "")) * {"": 1, "k": 1_000, "m": 1_000_000}[m[2]]


def layout_spec(name: str) -> LayoutSpec:
    """The spec of a base layout name (no knobs): curated, by_sample, bin_<N>[k|m], flat_sorted,
    packed, flat_default."""
    name = name.strip()
    if name == "curated":
        return LayoutSpec("curated", "by_sample", description=_DESCRIPTIONS["curated"], reference=True)
    if name == "flat_default":
        return LayoutSpec("flat_default", "flat_default", description=_DESCRIPTIONS["flat_default"], peer=True)
    m = _BIN_RE.match(name)
    if m:
        size = int(m[1]) * {"": 1, "k": 1_000, "m": 1_000_000}[m[2]]
        if size < 1:
            raise ValueError(f"layout {name!r}: the bin size must be at least 1")
        kind, extra = "bin", {"bin_size": size}
        desc = _DESCRIPTIONS["bin"].format(size=_size_text(size))
    elif name in _DEFAULTS:
        kind, extra, desc = name, {}, _DESCRIPTIONS[name]
    else:
        raise ValueError(f"unknown layout {name!r}; layouts: {', '.join(_BASE_NAMES)}, bin_<size> (e.g. bin_1m)")
    rg, file_rows, zstd = _DEFAULTS[kind]
    return LayoutSpec(name, kind, row_group_rows=rg, target_file_rows=file_rows, zstd_level=zstd,
                      description=desc, **extra)


def _with_knobs(spec: LayoutSpec, knobs: list[str], text: str) -> LayoutSpec:
    """`spec` with `key=value` knobs applied; the name gets a suffix naming them."""
    if spec.reference or spec.peer:
        raise ValueError(f"layout {spec.name!r} takes no knobs (it is "
                         f"{'the lake as it is' if spec.reference else 'pyarrow defaults'}): {text!r}")
    changes, suffix = {}, []
    for knob in knobs:
        key, sep, value = knob.partition("=")
        key = key.strip()
        if not sep or key not in _KNOB_FIELDS:
            raise ValueError(f"unknown knob {knob!r} in {text!r}; knobs: rg=ROWS, file_rows=ROWS, zstd=LEVEL")
        n = _int_value(value, key)
        if key == "zstd" and not 1 <= n <= 22:
            raise ValueError(f"zstd={n} in {text!r}: the level must be 1 to 22")
        if key != "zstd" and n < 1:
            raise ValueError(f"{key}={n} in {text!r}: must be at least 1")
        changes[_KNOB_FIELDS[key]] = n
        suffix.append(f"{key.replace('_', '')}{n}")
    return replace(spec, name="-".join([spec.name, *suffix]), **changes)


def parse_layouts(text: str) -> list[LayoutSpec]:
    """Layouts from CLI text: names joined by ',', each with optional ':key=value' knobs, e.g.
    "curated,bin_1m,bin_100k:rg=16384:zstd=9,flat_sorted:file_rows=2000000,packed".
    Knobs: rg (rows per row group), file_rows (rows per file), zstd (level). ValueError for an
    unknown name or knob, a bad value, or two layouts with the same name."""
    if not isinstance(text, str) or not text.strip():
        raise ValueError(f"no layouts given; e.g. {DEFAULT_LAYOUT_NAMES}")
    specs: list[LayoutSpec] = []
    for item in text.split(","):
        item = item.strip()
        if not item:
            raise ValueError(f"empty layout name in {text!r}")
        base, *knobs = item.split(":")
        spec = layout_spec(base)
        if knobs:
            spec = _with_knobs(spec, knobs, item)
        if any(s.name == spec.name for s in specs):
            raise ValueError(f"layout {spec.name!r} is given twice in {text!r}")
        specs.append(spec)
    return specs


DEFAULT_LAYOUTS: tuple[LayoutSpec, ...] = tuple(parse_layouts(DEFAULT_LAYOUT_NAMES))


# ----------------------------------------------------------------------------- the curated lake


def open_lake_of(params: BenchParams) -> Lake:
    """The curated lake the parameters name; the suite only ever reads it."""
    return Lake.open(LakeConfig.from_env(params.lake_root))


def curated_files(lake: Lake, table: str) -> list[Path]:
    """The Parquet files of a curated table at the lake's published snapshot ([] if not ingested)."""
    version = lake.catalog.snapshot().get(table)
    dt = None if version is None else open_table(lake.table_root(table), version)
    return [] if dt is None else [Path(u) for u in dt.file_uris()]


class _Source:
    """What a build reads from the curated lake: one dataset's sites and stored calls on one contig."""

    def __init__(self, params: BenchParams):
        self.params = params
        self.lake = open_lake_of(params)
        self.dataset, self.contig = params.dataset, params.contig
        self.n_samples = len(params.samples)
        self._sites: pa.Table | None = None

    def sites(self) -> pa.Table:
        """contig, pos, allele_ord, ref, alt of the dataset's alleles on the contig, by pos, allele_ord."""
        if self._sites is None:
            flt = (pads.field("dataset") == self.dataset) & (pads.field("contig") == self.contig)
            t = self.lake.read("variants", columns=["contig", "pos", "allele_ord", "ref", "alt"], filter=flt)
            if t.num_rows == 0:
                raise ValueError(f"dataset {self.dataset!r} has no variants on contig {self.contig!r} "
                                 f"in {self.params.lake_root}")
            self._sites = t.sort_by([("pos", "ascending"), ("allele_ord", "ascending")])
        return self._sites

    def site_keys(self) -> np.ndarray:
        return _keys(self.sites()["pos"], self.sites()["allele_ord"])

    def calls_dataset(self) -> pads.Dataset:
        version = self.lake.catalog.snapshot().get("cpra_index")
        ds = None if version is None else table_dataset(self.lake.table_root("cpra_index"), version)
        if ds is None:
            raise ValueError(f"the lake {self.params.lake_root} has no cpra_index table")
        if "sample_index" not in ds.schema.names:
            raise ValueError(f"cpra_index of {self.params.lake_root} has no sample_index column "
                             "(a lake from an older genolake): ingest the VCF into a new lake")
        return ds

    def calls_between(self, ds: pads.Dataset, lo: int, hi: int, columns: list[str]) -> pa.Table:
        """The stored calls with lo <= pos <= hi, sorted by pos, allele_ord, sample_index."""
        size = self.lake.config.pos_bin_size
        flt = ((pads.field("contig") == self.contig) & (pads.field("pos_bin") >= lo // size * size)
               & (pads.field("pos_bin") <= hi // size * size) & (pads.field("pos") >= lo)
               & (pads.field("pos") <= hi) & (pads.field("dataset") == self.dataset))
        t = ds.to_table(columns=columns, filter=flt)
        return t.sort_by([("pos", "ascending"), ("allele_ord", "ascending"), ("sample_index", "ascending")])

    def genotype_files(self) -> dict[str, list[Path]]:
        """sample_id -> its curated genotypes files."""
        out: dict[str, list[Path]] = {}
        for f in curated_files(self.lake, "genotypes"):
            m = re.search(r"sample_id=([^/]+)/[^/]+$", str(f))
            if m:
                out.setdefault(urllib.parse.unquote(m[1]), []).append(f)
        return out

    def sample_calls(self, files: list[Path], columns: list[str]) -> pa.Table:
        """One sample's stored calls of the dataset on the contig, sorted by pos, allele_ord."""
        flt = (pads.field("dataset") == self.dataset) & (pads.field("contig") == self.contig)
        t = pads.dataset([str(f) for f in files], format="parquet").to_table(columns=columns, filter=flt)
        return t.sort_by([("pos", "ascending"), ("allele_ord", "ascending")])

    def chunks(self) -> list[tuple[int, int, int, int]]:
        """(first site, end site, lo pos, hi pos) chunks of the sites, cut between positions, each
        at most ~_CHUNK_CELLS sample cells."""
        pos = self.sites()["pos"].to_numpy()
        step = max(_MIN_CHUNK_SITES, _CHUNK_CELLS // max(self.n_samples, 1))
        out, start = [], 0
        while start < len(pos):
            end = min(start + step, len(pos))
            end = int(np.searchsorted(pos, pos[end - 1], side="right"))  # keep a position's alleles together
            out.append((start, end, int(pos[start]), int(pos[end - 1])))
            start = end
        return out


def _keys(pos, allele_ord) -> np.ndarray:
    """(pos, allele_ord) as one sortable int64 per allele."""
    p = np.asarray(pos, dtype=np.int64)
    return (p << 16) | np.asarray(allele_ord, dtype=np.int64)


# ---------------------------------------------------------------------------------- writing


class _PartWriter:
    """Writes rows that arrive in layout order into `<root>/<folder>/part-NNNNN.parquet`: row
    groups of exactly `row_group_rows` rows (the last of a file may be short), a new file when
    one reaches `file_rows`, a new folder when the partition changes (partitions arrive in order)."""

    def __init__(self, root: Path, schema: pa.Schema, *, row_group_rows: int, file_rows: int | None,
                 options: dict):
        self.root, self.schema, self.options = root, schema, options
        self.rg, self.file_rows = row_group_rows, file_rows
        self.folder: str | None = None
        self.writer: pq.ParquetWriter | None = None
        self.rows_in_file = 0
        self.pending: list[pa.Table] = []
        self.pending_rows = 0
        self.files: list[Path] = []
        self._parts: dict[str, int] = {}

    def write(self, table: pa.Table, folder: str = "") -> None:
        if table.num_rows == 0:
            return
        if folder != self.folder:
            self._finish_folder()
            self.folder = folder
        self.pending.append(table.select(self.schema.names).cast(self.schema))
        self.pending_rows += table.num_rows
        while self.pending_rows >= self._group_size():
            self._write_group(self._group_size())

    def close(self) -> list[Path]:
        self._finish_folder()
        return self.files

    def _group_size(self) -> int:
        if self.file_rows is None:
            return self.rg
        return max(1, min(self.rg, self.file_rows - (self.rows_in_file if self.writer else 0)))

    def _write_group(self, n: int) -> None:
        rows = pa.concat_tables(self.pending)
        group, rest = rows.slice(0, n), rows.slice(n)
        self.pending, self.pending_rows = ([rest] if rest.num_rows else []), rest.num_rows
        if self.writer is None:
            self._open_file()
        self.writer.write_table(group, row_group_size=n)
        self.rows_in_file += n
        if self.file_rows is not None and self.rows_in_file >= self.file_rows:
            self._close_file()

    def _open_file(self) -> None:
        part = self._parts.get(self.folder, 0)
        self._parts[self.folder] = part + 1
        path = self.root / self.folder / f"part-{part:05d}.parquet"
        path.parent.mkdir(parents=True, exist_ok=True)
        self.writer = pq.ParquetWriter(path, self.schema, **self.options)
        self.files.append(path)
        self.rows_in_file = 0

    def _close_file(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer = None

    def _finish_folder(self) -> None:
        while self.pending_rows:
            self._write_group(min(self.pending_rows, self._group_size()))
        self._close_file()


def _zstd_options(spec: LayoutSpec, schema: pa.Schema, *, delta: set[str], plain: set[str] = frozenset(),
                  stats: set[str]) -> dict:
    """ParquetWriter options as the lake writes: zstd, sorted ints DELTA_BINARY_PACKED, small
    columns dictionary-encoded, statistics only on the columns a reader prunes on."""
    names = schema.names
    # a list column's values are dictionary-encoded through its leaf's Parquet path: int8 is stored
    # as INT32, so PLAIN costs 4 bytes a value before zstd, a dictionary of 3-4 values 2 bits
    leaves = {f.name: f"{f.name}.list.element" if pa.types.is_list(f.type) else f.name for f in schema}
    return {
        "compression": "zstd", "compression_level": spec.zstd_level,
        "use_dictionary": [leaves[c] for c in names if c not in delta and c not in plain],
        "column_encoding": {c: "DELTA_BINARY_PACKED" for c in names if c in delta} or None,
        "write_statistics": [c for c in names if c in stats],
        "store_schema": False,
    }


_CALL_FIELDS = [pa.field("alt_dosage", pa.int8()), pa.field("called_alleles", pa.int8()),
                pa.field("ploidy", pa.int8()), pa.field("phased", pa.bool_())]
_POS_CALLS_SCHEMA = pa.schema([pa.field("pos", pa.int32()), pa.field("allele_ord", pa.int16()),
                               pa.field("sample_index", pa.int32()), *_CALL_FIELDS])
_SAMPLE_CALLS_SCHEMA = pa.schema([pa.field("pos", pa.int32()), pa.field("allele_ord", pa.int16()), *_CALL_FIELDS])
_SITES_SCHEMA = pa.schema([pa.field("contig", pa.string()), pa.field("pos", pa.int32()),
                           pa.field("allele_ord", pa.int16()), pa.field("ref", pa.string()),
                           pa.field("alt", pa.string())])
_PACKED_SCHEMA = pa.schema([
    pa.field("contig", pa.string()), pa.field("pos", pa.int32()), pa.field("allele_ord", pa.int16()),
    pa.field("ref", pa.string()), pa.field("alt", pa.string()),
    pa.field("dosage", pa.list_(pa.int8())), pa.field("deficit", pa.list_(pa.int8())),
    pa.field("ploidy", pa.list_(pa.int8())),
])
_FLAT_SCHEMA = pa.schema([
    pa.field("sample_id", pa.string()), pa.field("contig", pa.string()), pa.field("pos", pa.int32()),
    pa.field("ref", pa.string()), pa.field("alt", pa.string()), *_CALL_FIELDS,
])
_STATS = {"pos", "sample_index", "allele_ord", "contig"}


def _write_sites(src: _Source, spec: LayoutSpec, root: Path) -> Path:
    path = root / _SITES_FILE
    opts = _zstd_options(spec, _SITES_SCHEMA, delta={"pos"}, stats=_STATS)
    pq.write_table(src.sites().cast(_SITES_SCHEMA), path, row_group_size=_SITES_ROW_GROUP, **opts)
    return path


# ----------------------------------------------------------------------------------- builders


def _build_by_position(src: _Source, spec: LayoutSpec, root: Path, progress: Progress | None) -> dict:
    """bin and flat_sorted: cpra_index read a chunk of positions at a time, already in layout order."""
    opts = _zstd_options(spec, _POS_CALLS_SCHEMA, delta={"pos", "sample_index"}, stats=_STATS)
    out = _PartWriter(root / "calls", _POS_CALLS_SCHEMA, row_group_rows=spec.row_group_rows,
                      file_rows=spec.target_file_rows, options=opts)
    ds = src.calls_dataset()
    chunks = src.chunks()
    for i, (_, _, lo, hi) in enumerate(chunks):
        calls = src.calls_between(ds, lo, hi, _POS_CALLS_SCHEMA.names)
        if spec.kind == "bin":
            _write_by_bin(out, calls, spec.bin_size)
        else:
            out.write(calls)
        _tick(progress, spec, i + 1, len(chunks))
    return {"calls": out.close(), "sites": [_write_sites(src, spec, root)]}


def _write_by_bin(out: _PartWriter, calls: pa.Table, bin_size: int) -> None:
    """Rows sorted by pos, cut where the bin changes."""
    if calls.num_rows == 0:
        return
    bins = calls["pos"].to_numpy() // bin_size * bin_size
    cuts = np.flatnonzero(np.diff(bins)) + 1
    starts = np.concatenate([[0], cuts])
    ends = np.concatenate([cuts, [len(bins)]])
    for s, e in zip(starts, ends):
        out.write(calls.slice(int(s), int(e - s)), f"pos_bin={int(bins[s])}")


def _build_by_sample(src: _Source, spec: LayoutSpec, root: Path, progress: Progress | None) -> dict:
    """The curated genotypes rewritten one sample at a time, with this layout's knobs."""
    opts = _zstd_options(spec, _SAMPLE_CALLS_SCHEMA, delta={"pos"}, stats=_STATS)
    out = _PartWriter(root / "calls", _SAMPLE_CALLS_SCHEMA, row_group_rows=spec.row_group_rows,
                      file_rows=spec.target_file_rows, options=opts)
    files = src.genotype_files()
    samples = src.params.samples
    for i, sample in enumerate(samples):
        if sample in files:
            calls = src.sample_calls(files[sample], _SAMPLE_CALLS_SCHEMA.names)
            out.write(calls, f"sample_id={urllib.parse.quote(sample, safe='')}")
        _tick(progress, spec, i + 1, len(samples))
    return {"calls": out.close(), "sites": [_write_sites(src, spec, root)]}


def _build_flat_default(src: _Source, spec: LayoutSpec, root: Path, progress: Progress | None) -> dict:
    """One file, source order (sample after sample), then a row per allele without stored calls;
    pyarrow's defaults (snappy, dictionaries, statistics), and row groups of 1Mi rows: what one
    pq.write_table of the whole table makes."""
    sites, keys = src.sites(), src.site_keys()
    seen = np.zeros(len(keys), dtype=bool)
    out = _PartWriter(root, _FLAT_SCHEMA, row_group_rows=_PYARROW_DEFAULT_ROW_GROUP, file_rows=None, options={})
    files = src.genotype_files()
    samples = src.params.samples
    for i, sample in enumerate(samples):
        if sample in files:
            calls = src.sample_calls(files[sample], _SAMPLE_CALLS_SCHEMA.names)
            idx = _site_rows(keys, calls, f"sample {sample}")
            seen[idx] = True
            out.write(_flat_rows(sample, sites, idx, calls))
        _tick(progress, spec, i + 1, len(samples))
    lonely = np.flatnonzero(~seen)
    if len(lonely):
        out.write(_flat_rows(None, sites, lonely, None))
    return {"flat": out.close()}


def _site_rows(keys: np.ndarray, calls: pa.Table, what: str) -> np.ndarray:
    """Row of each call's allele in the sorted site keys; ValueError for a call without a site."""
    ck = _keys(calls["pos"], calls["allele_ord"])
    idx = np.searchsorted(keys, ck)
    bad = (idx >= len(keys)) | (keys[np.minimum(idx, len(keys) - 1)] != ck)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise ValueError(f"{what}: stored call at pos {int(ck[i] >> 16)} allele {int(ck[i] & 0xFFFF)} "
                         "has no row in variants: the lake is inconsistent")
    return idx


def _flat_rows(sample: str | None, sites: pa.Table, idx: np.ndarray, calls: pa.Table | None) -> pa.Table:
    take = pa.array(idx)
    cols = {"sample_id": pa.array([sample] * len(idx), pa.string())}
    for c in ("contig", "pos", "ref", "alt"):
        cols[c] = sites[c].take(take)
    for f in _CALL_FIELDS:
        cols[f.name] = calls[f.name] if calls is not None else pa.nulls(len(idx), f.type)
    return pa.table(cols).cast(_FLAT_SCHEMA)


def _build_packed(src: _Source, spec: LayoutSpec, root: Path, progress: Progress | None) -> dict:
    """Dense int8 matrices per chunk of alleles from cpra_index, written as list rows."""
    opts = _zstd_options(spec, _PACKED_SCHEMA, delta={"pos"}, stats=_STATS)
    out = _PartWriter(root / "packed", _PACKED_SCHEMA, row_group_rows=spec.row_group_rows,
                      file_rows=spec.target_file_rows, options=opts)
    ds = src.calls_dataset()
    sites, keys, n = src.sites(), src.site_keys(), src.n_samples
    chunks = src.chunks()
    cols = ["pos", "allele_ord", "sample_index", "alt_dosage", "called_alleles", "ploidy"]
    for i, (start, end, lo, hi) in enumerate(chunks):
        calls = src.calls_between(ds, lo, hi, cols)
        out.write(_packed_rows(sites.slice(start, end - start), keys[start:end], calls, n))
        _tick(progress, spec, i + 1, len(chunks))
    return {"packed": out.close()}


def _packed_rows(sites: pa.Table, keys: np.ndarray, calls: pa.Table, n: int) -> pa.Table:
    k = sites.num_rows
    row = _site_rows(keys, calls, "packed")
    sample = calls["sample_index"].to_numpy().astype(np.int64)
    if len(sample) and (sample.min() < 0 or sample.max() >= n):
        raise ValueError(f"a stored call has sample_index {int(sample.max())} outside the {n} samples")
    cell = row.astype(np.int64) * n + sample
    dosage = np.zeros(k * n, np.int8)
    deficit = np.zeros(k * n, np.int8)
    ploidy = np.full(k * n, 2, np.int8)
    dosage[cell] = calls["alt_dosage"].to_numpy()
    deficit[cell] = 2 - calls["called_alleles"].to_numpy().astype(np.int16)
    call_ploidy = calls["ploidy"].to_numpy()
    ploidy[cell] = call_ploidy
    odd = np.zeros(k, dtype=bool)  # alleles with a call that is not diploid
    odd[row[call_ploidy != 2]] = True
    offsets = pa.array(np.arange(0, (k + 1) * n, n, dtype=np.int32))

    def lists(values: np.ndarray, mask=None) -> pa.Array:
        return pa.ListArray.from_arrays(offsets, pa.array(values), mask=mask)

    return pa.table({
        "contig": sites["contig"], "pos": sites["pos"], "allele_ord": sites["allele_ord"],
        "ref": sites["ref"], "alt": sites["alt"],
        "dosage": lists(dosage), "deficit": lists(deficit),
        "ploidy": lists(ploidy, pa.array(~odd)),
    })


def _tick(progress: Progress | None, spec: LayoutSpec, done: int, total: int) -> None:
    if progress is not None:
        progress(spec.name, done, total)


_BUILDERS = {"by_sample": _build_by_sample, "bin": _build_by_position, "flat_sorted": _build_by_position,
             "packed": _build_packed, "flat_default": _build_flat_default}


# ------------------------------------------------------------------------------------ build


def layout_root(spec: LayoutSpec, params: BenchParams) -> Path:
    return Path(params.work) / "layouts" / spec.name


def build(spec: LayoutSpec, params: BenchParams, progress: Progress | None = None) -> BuiltLayout:
    """Build `spec` from the curated lake into params.work/layouts/<name>/ (replacing what is there)
    and return it. `curated` copies nothing: it is the lake's published variants + genotypes files.
    The layout is written into a temporary folder and renamed into place, with its manifest last,
    so a killed build leaves no half layout under the name."""
    if spec.kind not in KINDS:
        raise ValueError(f"unknown layout kind {spec.kind!r}; kinds: {', '.join(KINDS)}")
    if spec.reference:
        return _curated(spec, params)
    root = layout_root(spec, params)
    tmp = root.with_name(f".{root.name}.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    started = time.perf_counter()
    try:
        tables = _BUILDERS[spec.kind](_Source(params), spec, tmp, progress)
        shutil.rmtree(root, ignore_errors=True)
        os.replace(tmp, root)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    build_s = time.perf_counter() - started
    tables = {view: [root / Path(f).relative_to(tmp) for f in files] for view, files in tables.items()}
    built = _built(spec, root, tables, build_s)
    _write_manifest(built, params)
    return built


def _curated(spec: LayoutSpec, params: BenchParams) -> BuiltLayout:
    lake = open_lake_of(params)
    tables = {"calls": curated_files(lake, "genotypes"), "sites": curated_files(lake, "variants")}
    if not tables["calls"] or not tables["sites"]:
        raise ValueError(f"the lake {params.lake_root} has no published genotypes/variants: ingest a VCF first")
    return _built(spec, lake.root / "curated", tables, 0.0)


def _built(spec: LayoutSpec, root: Path, tables: dict[str, list[Path]], build_s: float) -> BuiltLayout:
    files = [f for fs in tables.values() for f in fs]
    return BuiltLayout(name=spec.name, spec=spec, root=root, files=files,
                       bytes=sum(f.stat().st_size for f in files), build_s=build_s, tables=tables)


def _source_key(params: BenchParams) -> dict:
    """What a layout was built from: a layout built from anything else is stale."""
    snapshot = open_lake_of(params).catalog.snapshot()
    return {"lake": str(Path(params.lake_root).resolve()), "dataset": params.dataset, "contig": params.contig,
            "samples": len(params.samples),
            "versions": {t: snapshot.get(t) for t in ("variants", "genotypes", "cpra_index")}}


def _write_manifest(built: BuiltLayout, params: BenchParams) -> None:
    doc = {"spec": {k: getattr(built.spec, k) for k in LayoutSpec.__dataclass_fields__},
           "source": _source_key(params),
           "tables": {v: [str(f.relative_to(built.root)) for f in fs] for v, fs in built.tables.items()},
           "build_s": built.build_s}
    tmp = built.root / f".{_MANIFEST}.tmp"
    tmp.write_text(json.dumps(doc, indent=1) + "\n")
    os.replace(tmp, built.root / _MANIFEST)


def open_built(spec: LayoutSpec, params: BenchParams) -> BuiltLayout | None:
    """The layout `spec` as an earlier `build` left it under params.work (None when it is missing,
    incomplete, or was built with other knobs or from another lake snapshot, dataset or contig).
    `curated` is always there."""
    if spec.reference:
        return _curated(spec, params)
    root = layout_root(spec, params)
    try:
        doc = json.loads((root / _MANIFEST).read_text())
    except (OSError, ValueError):
        return None
    if (doc.get("spec") != {k: getattr(spec, k) for k in LayoutSpec.__dataclass_fields__}
            or doc.get("source") != _source_key(params)):
        return None
    tables = {v: [root / f for f in fs] for v, fs in doc["tables"].items()}
    if not all(f.exists() for fs in tables.values() for f in fs):
        return None
    return _built(spec, root, tables, float(doc["build_s"]))


def remove(built: BuiltLayout) -> None:
    """Delete a built layout's folder. The curated layout (the lake's own files) is never touched,
    nor anything that is not a folder under a `layouts` folder."""
    if built.spec.reference or built.root.parent.name != "layouts":
        return
    shutil.rmtree(built.root, ignore_errors=True)


# ---------------------------------------------------------------------------------- connect


def _read(files: list[Path], hive: dict[str, str] | None = None) -> str:
    paths = "[" + ", ".join("'" + str(f).replace("'", "''") + "'" for f in files) + "]"
    if not hive:
        return f"read_parquet({paths})"
    types = ", ".join(f"'{c}': '{t}'" for c, t in hive.items())
    return f"read_parquet({paths}, hive_partitioning = true, hive_types = {{{types}}})"


def _quote(value: str) -> str:
    return "'" + str(value).replace("'", "''") + "'"


def _layout_views(built: BuiltLayout, params: BenchParams) -> dict[str, str]:
    """View name -> SELECT over the layout's own files."""
    t, kind = built.tables, built.spec.kind
    if built.spec.reference:  # the lake's tables hold every dataset and contig: the views pick ours
        where = f"dataset = {_quote(params.dataset)} AND contig = {_quote(params.contig)}"
        return {
            "calls": (f"SELECT sample_id, pos, allele_ord, alt_dosage, called_alleles, ploidy, phased "
                      f"FROM {_read(t['calls'], {'sample_id': 'VARCHAR'})} WHERE {where}"),
            "sites": (f"SELECT contig, pos, allele_ord, ref, alt "
                      f"FROM {_read(t['sites'], {'contig': 'VARCHAR'})} WHERE {where}"),
        }
    if kind in ("by_sample", "bin", "flat_sorted"):
        hive = {"by_sample": {"sample_id": "VARCHAR"}, "bin": {"pos_bin": "INTEGER"}}.get(kind)
        return {"calls": f"SELECT * FROM {_read(t['calls'], hive)}", "sites": f"SELECT * FROM {_read(t['sites'])}"}
    if kind == "packed":
        return {"packed": f"SELECT * FROM {_read(t['packed'])}"}
    return {"flat": f"SELECT * FROM {_read(t['flat'])}"}


def connect(built: BuiltLayout, params: BenchParams, *, threads: int | None = None) -> duckdb.DuckDBPyConnection:
    """A DuckDB connection with views over the layout's files (`calls` + `sites`, `packed` or
    `flat`) and the curated tables every layout shares: `clinvar` and `rsid_index` (rsID -> allele)."""
    con = duckdb.connect(":memory:")
    if threads:
        con.execute(f"SET threads = {int(threads)}")
    con.execute("SET parquet_metadata_cache = true")  # footers parsed once, not per statement
    for view, select in _layout_views(built, params).items():
        con.execute(f"CREATE VIEW {view} AS {select}")
    lake = open_lake_of(params)
    shared = {"clinvar": {"assembly": "VARCHAR"}, "rsid_index": None}
    for name, hive in shared.items():
        files = curated_files(lake, name)
        if files:
            con.execute(f"CREATE VIEW {name} AS SELECT * FROM {_read(files, hive)}")
        else:  # not ingested: an empty table with the columns the workloads read
            con.execute(f"CREATE VIEW {name} AS SELECT * FROM (SELECT NULL::VARCHAR AS assembly, "
                        "NULL::VARCHAR AS contig, NULL::INTEGER AS pos, NULL::VARCHAR AS ref, NULL::VARCHAR AS alt, "
                        "NULL::VARCHAR AS cpra, NULL::VARCHAR AS rsid, NULL::VARCHAR AS dataset, "
                        "NULL::SMALLINT AS allele_ord) WHERE FALSE")
    return con
