"""The `local` ETL engine: an htslib reader, numpy, and Parquet files committed to Delta. No JVM.

Work is split into parts of the file (by index regions when the VCF is indexed, one part
otherwise), converted in parallel processes, then the per-sample genotype files are assembled
from each part's spills. Memory is bounded by the chunk size and the spill threshold, not by
the file.

Counting rule (DESIGN.md): a call is stored unless it is diploid, fully called, with zero copies
of the allele. Stored rows carry alt_dosage and called_alleles, so AN over a cohort C is
2|C| - sum(2 - called_alleles) over C's stored rows.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from genolake.lake.coords import cpra_key
from genolake.lake.delta_io import DataFile, write_data_file
from genolake.lake.errors import InputError
from genolake.lake.schemas import CPRA_INDEX, GENOTYPES, VARIANTS

from ..sources.vcf import INT32_MISSING, VECTOR_END, RecordChunk, VcfHeader, iter_chunks, located_error
from ..sources.vcf_text import iter_text_chunks

SPILL_ROWS = 6_000_000  # sparse calls held per part before they go to disk (~85 MB, ~300 MB while sorting)
_GENO_COLS = ("pos", "allele_ord", "alt_dosage", "called_alleles", "ploidy", "phased", "contig_code")
_FMT_COLS = ("dp", "gq", "ad_ref", "ad_alt")


@dataclass(frozen=True)
class IngestTarget:
    """Where a part writes: table roots, names unique to the run, and the lake's bin size."""

    dataset: str
    run_id: str
    variants_root: Path
    genotypes_root: Path
    cpra_root: Path
    spill_dir: Path
    pos_bin_size: int
    sample_offset: int = 0  # samples.sample_index of the file's first sample (a dataset's N+1 append)


@dataclass
class PartResult:
    part: int
    n_records: int = 0
    n_lines: int = 0  # lines of the file this part covers: numbers the lines of later parts
    n_alleles: int = 0
    n_calls: int = 0
    variant_files: list[DataFile] = field(default_factory=list)
    cpra_files: list[DataFile] = field(default_factory=list)
    spills: list[str] = field(default_factory=list)
    contigs: list[str] = field(default_factory=list)
    rsids: list[pa.Table] = field(default_factory=list)  # RSID_INDEX columns but dataset
    warnings: list[str] = field(default_factory=list)
    error: InputError | None = None
    has_format: dict = field(default_factory=dict)


# ---------------------------------------------------------------- splitting one chunk

@dataclass
class SplitChunk:
    variants: pa.Table  # VARIANTS columns, one row per split allele
    calls: dict[str, np.ndarray]  # sparse stored calls in variant-major order
    row_of_call: np.ndarray  # index into `variants` for each call
    sample_of_call: np.ndarray


def split_chunk(chunk: RecordChunk, dataset: str, path: str, header: VcfHeader) -> SplitChunk:
    """Split multi-allelic records into one row per ALT and apply the counting rule, vectorised.

    Only the stored calls are ever gathered: the stored mask is the one pass over every call,
    and every count is a bincount over the (few) stored calls, since an unstored call is by
    definition a diploid, fully called 0-copy call."""
    k = len(chunk)
    gt = chunk.gt
    n_samples = gt.shape[1]
    n_alt = np.fromiter((len(a) for a in chunk.alts), dtype=np.int64, count=k)
    rec_of_row = np.repeat(np.arange(k), n_alt)
    alt_of_row = (np.arange(len(rec_of_row)) - np.repeat(np.cumsum(n_alt) - n_alt, n_alt) + 1).astype(np.int64)
    j = len(rec_of_row)
    refs = [chunk.ref[r] for r in rec_of_row]
    alts = [chunk.alts[r][a - 1] for r, a in zip(rec_of_row, alt_of_row)]
    contigs = [chunk.contig[r] for r in rec_of_row]
    pos = chunk.pos[rec_of_row]
    allele_ord = _allele_ord(pos, refs, alts, chunk, rec_of_row, path, header)

    stored = _stored_mask(gt, n_alt, rec_of_row, alt_of_row)
    flat = np.flatnonzero(stored)  # variant-major: sorted by (pos, allele, sample)
    rows, samples = np.divmod(flat, n_samples)
    recs = rec_of_row[rows]
    call_idx = recs * n_samples + samples
    slots = gt.reshape(k * n_samples, gt.shape[2])[call_idx]  # one gather of the stored calls' alleles
    alt_of_call = alt_of_row[rows].astype(gt.dtype)
    dosage = np.zeros(len(flat), np.int8)
    called = np.zeros(len(flat), np.int8)
    ploidy = np.zeros(len(flat), np.int8)
    for p in range(slots.shape[1]):  # explicit slots: numpy reduces a length-2 axis slowly
        col = slots[:, p]
        dosage += col == alt_of_call
        called += col >= 0
        ploidy += col != VECTOR_END
    full = called == ploidy

    ac = np.bincount(rows, weights=dosage, minlength=j).astype(np.int64)
    an = 2 * n_samples - np.bincount(rows, weights=2 - called.astype(np.int64), minlength=j).astype(np.int64)
    n_het = np.bincount(rows, weights=full & (dosage > 0) & (dosage < ploidy), minlength=j)
    n_hom = np.bincount(rows, weights=full & (dosage == ploidy) & (ploidy > 0), minlength=j)
    n_missing = np.bincount(rows, weights=~full, minlength=j)
    with np.errstate(divide="ignore", invalid="ignore"):
        af = np.where(an > 0, ac / np.maximum(an, 1), np.nan)

    rsid, raw_id = _ids(chunk.ids, rec_of_row)
    variants = pa.table({
        "dataset": pa.array([dataset] * j, pa.string()),
        "contig": pa.array(contigs, pa.string()),
        "pos": pa.array(pos, pa.int32()),
        "allele_ord": pa.array(allele_ord, pa.int16()),
        "ref": pa.array(refs, pa.string()),
        "alt": pa.array(alts, pa.string()),
        "cpra": pa.array([cpra_key(c, int(p), r, a) for c, p, r, a in zip(contigs, pos, refs, alts)], pa.string()),
        "rsid": pa.array(rsid, pa.string()),
        "id": pa.array(raw_id, pa.string()),
        "qual": pa.array([chunk.qual[r] for r in rec_of_row], pa.float32()),
        "filter": pa.array([chunk.filters[r] for r in rec_of_row], pa.string()),
        "alt_index": pa.array(alt_of_row, pa.int16()),
        "n_alt": pa.array(n_alt[rec_of_row], pa.int16()),
        "ac": pa.array(ac, pa.int32()),
        "an": pa.array(an, pa.int32()),
        "af": pa.array(af, pa.float64(), mask=~(an > 0)),
        "n_het": pa.array(n_het.astype(np.int32), pa.int32()),
        "n_hom_alt": pa.array(n_hom.astype(np.int32), pa.int32()),
        "n_missing": pa.array(n_missing.astype(np.int32), pa.int32()),
    }, schema=VARIANTS.schema)

    calls = {
        "pos": pos[rows].astype(np.int32),
        "allele_ord": allele_ord[rows],
        "alt_dosage": dosage,
        "called_alleles": called,
        "ploidy": ploidy,
        # a one-allele call has no phase, whatever htslib's encoding implies
        "phased": chunk.phased.reshape(-1)[call_idx] & (ploidy >= 2),
    }
    for name, arr in (("dp", chunk.dp), ("gq", chunk.gq)):
        if arr is not None:
            calls[name] = arr.reshape(-1)[call_idx]
    if chunk.ad is not None:
        width = chunk.ad.shape[2]
        ad = chunk.ad.reshape(-1, width)
        calls["ad_ref"] = ad[call_idx, 0]
        alt_col = np.minimum(alt_of_row[rows], width - 1)
        ad_alt = ad[call_idx, alt_col]
        ad_alt[alt_of_row[rows] >= width] = INT32_MISSING
        calls["ad_alt"] = ad_alt
    return SplitChunk(variants, calls, rows, samples)


def _stored_mask(gt: np.ndarray, n_alt: np.ndarray, rec_of_row: np.ndarray, alt_of_row: np.ndarray) -> np.ndarray:
    """(rows, samples) bool: the call is not (diploid, fully called, zero copies of the row's ALT)."""
    k, n, p = gt.shape
    if p < 2:  # every call is haploid (or missing): none is diploid, so all are stored
        return np.ones((len(rec_of_row), n), dtype=bool)
    if p == 2 and gt.dtype == np.int8:
        # an allele pair of a biallelic record is unstored only when it is exactly 0/0: one pass
        pairs = gt.view(np.int16).reshape(k, n)
        if (n_alt == 1).all():
            return pairs != 0
        stored = np.empty((len(rec_of_row), n), dtype=bool)
        single = n_alt[rec_of_row] == 1
        stored[single] = pairs[rec_of_row[single]] != 0
        multi = np.flatnonzero(~single)
        stored[multi] = _stored_general(gt, rec_of_row[multi], alt_of_row[multi])
        return stored
    return _stored_general(gt, rec_of_row, alt_of_row)


def _stored_general(gt: np.ndarray, rec_of_row: np.ndarray, alt_of_row: np.ndarray) -> np.ndarray:
    k, n, p = gt.shape
    sub = gt[rec_of_row]  # (rows, N, P)
    # slot 1 negative: a missing allele, or VECTOR_END (a haploid call)
    base = (sub[:, :, 0] < 0) | (sub[:, :, 1] < 0)
    for slot in range(2, p):  # anything but padding beyond two alleles: a wider call, always stored
        base |= sub[:, :, slot] != VECTOR_END
    alt = alt_of_row.astype(gt.dtype)[:, None]
    for slot in range(p):
        base |= sub[:, :, slot] == alt
    return base


def _allele_ord(pos, refs, alts, chunk, rec_of_row, path, header) -> np.ndarray:
    """1-based rank of (ref, alt) among split alleles at the same contig:pos; refuses a repeated CPRA.

    Rows sharing a contig:pos are adjacent (the file is sorted, a chunk never splits them)."""
    n = len(pos)
    out = np.ones(n, dtype=np.int16)
    if n < 2:
        return out
    contig_of_row = [chunk.contig[r] for r in rec_of_row]
    same = (pos[1:] == pos[:-1]) & np.array([a == b for a, b in zip(contig_of_row[1:], contig_of_row[:-1])])
    if not same.any():
        return out
    starts = np.flatnonzero(np.r_[True, ~same])
    ends = np.r_[starts[1:], n]
    for s, e in zip(starts, ends):
        if e - s < 2:
            continue
        group = sorted(range(s, e), key=lambda i: (refs[i], alts[i]))
        for rank, i in enumerate(group, start=1):
            out[i] = rank
        for a, b in zip(group, group[1:]):
            if (refs[a], alts[a]) == (refs[b], alts[b]):
                raise _repeated_cpra(a, b, pos, refs, alts, chunk, rec_of_row, path, header)
    return out


def _repeated_cpra(a, b, pos, refs, alts, chunk, rec_of_row, path, header) -> InputError:
    la, lb = sorted((int(chunk.record_index[rec_of_row[a]]), int(chunk.record_index[rec_of_row[b]])))
    contig = chunk.contig[rec_of_row[a]]
    if la == lb:
        return located_error(path, f"ALT {alts[a]} is listed twice in the record at {contig}:{pos[a]}", lb)
    return located_error(
        path, f"CPRA {cpra_key(contig, int(pos[a]), refs[a], alts[a])} is repeated in records at lines"
        " {other_line} and {line}; `bcftools norm -d exact` makes a clean callset", lb, la)


def _ids(ids, rec_of_row):
    """rsid: the first rs-prefixed ID entry; id: the other entries (ID = rsid + id, nothing twice)."""
    rsid, other = [], []
    for r in rec_of_row:
        v = ids[r]
        rs, rest = None, None
        if v:
            parts = v.split(";")
            for i, part in enumerate(parts):
                if part.startswith("rs"):
                    rs = part
                    parts = parts[:i] + parts[i + 1:]
                    break
            rest = ";".join(parts) or None
        rsid.append(rs)
        other.append(rest)
    return rsid, other


# ---------------------------------------------------------------- one part of the file


def _distinct_dictionary(rows: pa.Array, alleles: pa.Array) -> pa.DictionaryArray:
    """rows (indexes into the bin's allele list) as a dictionary column over the DISTINCT alleles.
    Parquet writes an Arrow dictionary whole into every row group: the bin's allele list (one entry
    per split allele, ~20k) overflowed the dictionary page and fell back to PLAIN strings, 8x larger."""
    distinct = pc.dictionary_encode(alleles)
    return pa.DictionaryArray.from_arrays(distinct.indices.take(rows), distinct.dictionary)

class _PartWriter:
    """Consumes split chunks of one part: variants and cpra_index files stream out as they fill,
    genotype calls are buffered and spilled to disk sorted by sample."""

    def __init__(self, part: int, target: IngestTarget, header: VcfHeader, result: PartResult):
        self.part, self.t, self.header, self.res = part, target, header, result
        self.samples = pa.array(header.samples, pa.string())
        self.var_tables: list[pa.Table] = []
        self.var_contig: str | None = None
        self.cpra_buf: list[dict] = []
        self.cpra_key: tuple | None = None
        self.cpra_alleles: list = []  # (ref, alt) arrays of the chunks in the current bin
        self.cpra_rows = 0
        self.geno: dict[str, list[np.ndarray]] = {}
        self.geno_rows = 0
        self.contig_codes: dict[str, int] = {}
        self.seq = 0

    def name(self, kind: str) -> str:
        self.seq += 1
        return f"part-{self.t.run_id}-{self.part:03d}-{kind}-{self.seq:05d}.parquet"

    def add(self, sc: SplitChunk):
        v = sc.variants
        if not v.num_rows:
            return
        contig = v["contig"][0].as_py()
        if self.var_contig is not None and contig != self.var_contig:
            self.flush_variants()
        self.var_contig = contig
        self.var_tables.append(v)
        self.res.n_alleles += v.num_rows
        if v["rsid"].null_count < v.num_rows:
            self.res.rsids.append(v.filter(v["rsid"].is_valid()).select(
                ["rsid", "contig", "pos", "allele_ord", "ref", "alt", "cpra"]))
        self._add_cpra(sc, contig)
        self._add_geno(sc, contig)

    def _add_cpra(self, sc: SplitChunk, contig: str):
        """Buffer the chunk's calls per position bin as numpy; Arrow is built once per file."""
        calls = sc.calls
        n = len(calls["pos"])
        self.res.n_calls += n
        if not n:
            return
        bins = (calls["pos"] // self.t.pos_bin_size) * self.t.pos_bin_size
        # cut the chunk's calls at bin boundaries: each piece belongs to one partition
        cuts = np.flatnonzero(bins[1:] != bins[:-1]) + 1
        v = sc.variants
        for lo, hi in zip(np.r_[0, cuts], np.r_[cuts, n]):
            key = (contig, int(bins[lo]))
            if self.cpra_key is not None and key != self.cpra_key:
                self.flush_cpra()
            if self.cpra_key != key:
                self.cpra_key, self.cpra_alleles, self.cpra_rows = key, [], 0
            self.cpra_buf.append({
                "pos": calls["pos"][lo:hi], "allele_ord": calls["allele_ord"][lo:hi],
                "sample": sc.sample_of_call[lo:hi], "alt_dosage": calls["alt_dosage"][lo:hi],
                "called_alleles": calls["called_alleles"][lo:hi], "ploidy": calls["ploidy"][lo:hi],
                "phased": calls["phased"][lo:hi],
                "allele_row": sc.row_of_call[lo:hi] + self.cpra_rows,  # into this bin's allele list
            })
            self.cpra_alleles.append((v["ref"], v["alt"]))
            self.cpra_rows += v.num_rows

    def _add_geno(self, sc: SplitChunk, contig: str):
        code = self.contig_codes.setdefault(contig, len(self.contig_codes))
        calls = sc.calls
        n = len(calls["pos"])
        if not n:
            return
        cols = dict(calls)
        # FORMAT fields come and go between chunks: pad absent ones with htslib's missing value
        for key in _FMT_COLS:
            if key in cols and key not in self.geno and self.geno_rows:
                self.geno[key] = [np.full(self.geno_rows, INT32_MISSING, np.int32)]
            elif key not in cols and key in self.geno:
                cols[key] = np.full(n, INT32_MISSING, np.int32)
        cols["contig_code"] = np.full(n, code, np.int16)
        # int16 keys make the spill's stable argsort a radix sort
        cols["sample"] = sc.sample_of_call.astype(np.int16 if len(self.header.samples) < 2**15 else np.int32)
        for key, arr in cols.items():
            self.geno.setdefault(key, []).append(arr)
            self.res.has_format[key] = True
        self.geno_rows += n
        if self.geno_rows >= SPILL_ROWS:
            self.spill()

    def flush_variants(self):
        if self.var_tables:
            table = pa.concat_tables(self.var_tables)
            self.res.variant_files.append(write_data_file(
                self.t.variants_root, VARIANTS, table, {"contig": self.var_contig}, self.name("variants")))
            if self.var_contig not in self.res.contigs:
                self.res.contigs.append(self.var_contig)
        self.var_tables = []

    def flush_cpra(self):
        if self.cpra_buf:
            col = {k: np.concatenate([piece[k] for piece in self.cpra_buf]) for k in self.cpra_buf[0]}
            n = len(col["pos"])
            rows = pa.array(col["allele_row"].astype(np.int32))
            # ref/alt as dictionary columns over the bin's alleles: no per-call string copies
            refs = pa.concat_arrays([r.combine_chunks() for r, _ in self.cpra_alleles])
            alts = pa.concat_arrays([a.combine_chunks() for _, a in self.cpra_alleles])
            table = pa.table({
                "dataset": pa.DictionaryArray.from_arrays(pa.array(np.zeros(n, np.int32)), pa.array([self.t.dataset])),
                "pos": pa.array(col["pos"], pa.int32()),
                "allele_ord": pa.array(col["allele_ord"], pa.int16()),
                "ref": _distinct_dictionary(rows, refs),
                "alt": _distinct_dictionary(rows, alts),
                "sample_index": pa.array(col["sample"].astype(np.int32) + self.t.sample_offset, pa.int32()),
                "alt_dosage": pa.array(col["alt_dosage"], pa.int8()),
                "called_alleles": pa.array(col["called_alleles"], pa.int8()),
                "ploidy": pa.array(col["ploidy"], pa.int8()),
                "phased": pa.array(col["phased"], pa.bool_()),
            })
            contig, bin_start = self.cpra_key
            self.res.cpra_files.append(write_data_file(
                self.t.cpra_root, CPRA_INDEX, table, {"contig": contig, "pos_bin": bin_start}, self.name("cpra")))
        self.cpra_buf = []

    def spill(self):
        """Write buffered calls sorted by sample (stable, so position order holds within a sample)."""
        if not self.geno_rows:
            return
        cols = {k: np.concatenate(v) for k, v in self.geno.items()}
        order = np.argsort(cols["sample"], kind="stable")
        d = self.t.spill_dir / f"p{self.part:03d}-s{len(self.res.spills):04d}"
        d.mkdir(parents=True, exist_ok=True)
        sample_sorted = cols.pop("sample")[order]
        offsets = np.searchsorted(sample_sorted, np.arange(len(self.header.samples) + 1))
        np.save(d / "offsets.npy", offsets)
        for k, arr in cols.items():
            np.save(d / f"{k}.npy", arr[order])
        with open(d / "contigs.txt", "w") as fh:
            fh.write("\n".join(sorted(self.contig_codes, key=self.contig_codes.get)))
        self.res.spills.append(str(d))
        self.geno, self.geno_rows = {}, 0

    def close(self):
        self.flush_variants()
        self.flush_cpra()
        self.spill()


def convert_part(args) -> PartResult:
    """Convert one part of the file. Runs in a worker process when there are several.

    A part is ("text", TextPart): a byte range read by the GT fast path; ("regions", [...]):
    index regions read by htslib; or ("whole", None): the whole file read by htslib."""
    part, path, header, (kind, spec), target, chunk_records = args
    res = PartResult(part=part)
    writer = _PartWriter(part, target, header, res)
    try:
        if kind == "text":
            counts: dict = {}
            chunks = iter_text_chunks(path, header, spec, chunk_records=chunk_records, warnings=res.warnings,
                                      counts=counts, on_bytes=_report_progress)
        elif kind == "regions":
            chunks = (c for region in spec for c in iter_chunks(
                path, header, region=region, chunk_records=chunk_records, warnings=res.warnings,
                line_offset=header.n_header_lines if part == 0 else 0))
        else:
            chunks = iter_chunks(path, header, chunk_records=chunk_records, warnings=res.warnings)
        for chunk in chunks:
            writer.add(split_chunk(chunk, target.dataset, str(path), header))
            res.n_records += len(chunk)
            if kind != "text":  # the text path reports bytes as it reads them
                _report_progress(len(chunk))
        writer.close()
        if kind == "text":
            res.n_lines = counts["lines"]
        else:
            res.n_lines = res.n_records + (header.n_header_lines if part == 0 else 0)
    except InputError as err:
        res.error = err
    return res


_progress = None  # callable(n) or None: records or samples done, reported as work goes


def set_progress(fn) -> None:
    global _progress
    _progress = fn


def _report_progress(n: int):
    if _progress is not None:
        _progress(n)


# ---------------------------------------------------------------- genotypes: one file per sample

def _open_spills(spills):
    """Each spill's offsets and columns (memory-mapped), with its contig codes mapped to `names`."""
    names: list[str] = []
    loaded = []
    for d in spills:
        d = Path(d)
        contigs = (d / "contigs.txt").read_text().split("\n")
        for c in contigs:
            if c not in names:
                names.append(c)
        remap = np.array([names.index(c) for c in contigs], dtype=np.int32)
        cols = {p.stem: np.load(p, mmap_mode="r") for p in d.glob("*.npy") if p.stem != "offsets"}
        loaded.append((np.load(d / "offsets.npy"), cols, remap))
    return names, loaded


def assemble_genotypes(args) -> list[DataFile]:
    """For samples [lo, hi): gather each part's spill slices (in file order) into one file per sample."""
    lo, hi, samples, spills, target = args
    files = []
    dataset_dict = pa.array([target.dataset])
    names, loaded = _open_spills(spills)
    contig_dict = pa.array(names, pa.string())
    for s in range(lo, hi):
        if (s - lo) % 128 == 127:
            # mapped pages count as resident memory: drop them now and then to keep RSS bounded
            names, loaded = _open_spills(spills)
        pieces: dict[str, list] = {}
        for offsets, cols, remap in loaded:
            a, b = int(offsets[s]), int(offsets[s + 1])
            if a == b:
                continue
            for k, arr in cols.items():
                pieces.setdefault(k, []).append(remap[arr[a:b]] if k == "contig_code" else np.asarray(arr[a:b]))
        if not pieces:
            continue
        col = {k: np.concatenate(v) for k, v in pieces.items()}
        n = len(col["pos"])
        data = {
            "dataset": pa.DictionaryArray.from_arrays(pa.array(np.zeros(n, np.int32)), dataset_dict),
            "contig": pa.DictionaryArray.from_arrays(pa.array(col["contig_code"]), contig_dict),
            "pos": pa.array(col["pos"], pa.int32()),
            "allele_ord": pa.array(col["allele_ord"], pa.int16()),
            "alt_dosage": pa.array(col["alt_dosage"], pa.int8()),
            "called_alleles": pa.array(col["called_alleles"], pa.int8()),
            "ploidy": pa.array(col["ploidy"], pa.int8()),
            "phased": pa.array(col["phased"], pa.bool_()),
        }
        for k in _FMT_COLS:
            if k in col:
                # htslib pads a short vector (AD of a './.' call) with vector-end, one above missing
                data[k] = pa.array(col[k], pa.int32(), mask=col[k] <= INT32_MISSING + 1)
            else:
                data[k] = pa.nulls(n, pa.int32())
        files.append(write_data_file(target.genotypes_root, GENOTYPES, pa.table(data), {"sample_id": samples[s]},
                                     f"part-{target.run_id}-g{s:06d}.parquet"))
        _report_progress(1)
    return files


# ---------------------------------------------------------------- orchestration

def run_parts(path, header: VcfHeader, parts: list[tuple], target: IngestTarget, *, workers: int,
              chunk_records: int = 2048, progress=None) -> list[PartResult]:
    """Convert parts, one worker process each (in this process when there is one part)."""
    jobs = [(i, path, header, regions, target, chunk_records) for i, regions in enumerate(parts)]
    return _map(convert_part, jobs, workers, progress, target.spill_dir / "jobs-convert")


def build_genotypes(header: VcfHeader, results: list[PartResult], target: IngestTarget, *, workers: int,
                    progress=None) -> list[DataFile]:
    spills = [s for r in sorted(results, key=lambda r: r.part) for s in r.spills]
    n = len(header.samples)
    if not spills or not n:
        return []
    step = -(-n // max(1, workers))
    jobs = [(lo, min(n, lo + step), header.samples, spills, target) for lo in range(0, n, step)]
    out = []
    for files in _map(assemble_genotypes, jobs, workers, progress, target.spill_dir / "jobs-genotypes"):
        out.extend(files)
    shutil.rmtree(target.spill_dir, ignore_errors=True)
    return out


def _map(fn, jobs, workers, progress, scratch: Path):
    if workers <= 1 or len(jobs) <= 1:
        saved = _progress
        set_progress(progress)
        try:
            return [fn(j) for j in jobs]
        finally:
            set_progress(saved)
    from .worker import run_jobs

    return run_jobs(fn, jobs, scratch, progress)


def default_workers() -> int:
    return max(1, min(os.cpu_count() or 1, 8))
