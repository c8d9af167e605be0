"""Streaming VCF/BCF reader on htslib (cyvcf2): records arrive as dense per-chunk numpy arrays.

cyvcf2 was chosen over pysam by measurement: pysam exposes calls one Python object per sample,
cyvcf2 hands over a record's whole GT matrix as one int16 array (see README, "Ingest speed").

htslib reports problems on the C stderr; `capture_htslib_messages` redirects file descriptor 2
while reading so that errors become one-line InputErrors and warnings land on the ingest run.
"""

from __future__ import annotations

import contextlib
import functools
import os
import re
import tempfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from genolake.lake.coords import normalize_contig
from genolake.lake.errors import InputError

MISSING = -1  # allele '.'
VECTOR_END = -2  # padding of a call shorter than the record's widest call
INT32_MISSING = np.iinfo(np.int32).min  # htslib's missing value for Integer FORMAT fields

_REF_RE = re.compile(r"^[ACGTNacgtn]+$")
# ALT: bases, '*', a symbolic allele <...>, or a breakend (bases with [ ] and a mate position)
_ALT_RE = re.compile(r"^(?:[ACGTNacgtn]+|\*|<[^<>\s,]+>|[ACGTNacgtn]*[\[\]][^\s,]+[\[\]][ACGTNacgtn]*|\.[ACGTNacgtn]+|[ACGTNacgtn]+\.)$")
_HTS_MSG = re.compile(r"^\[(E|W)::([A-Za-z0-9_]+)\]\s*(.*)$")

# Reserved keys of the VCF specification (4.3, sections 1.6.1 and 1.6.2): Number, Type.
_RESERVED_INFO = {
    "AA": ("1", "String"), "AC": ("A", "Integer"), "AD": ("R", "Integer"), "ADF": ("R", "Integer"),
    "ADR": ("R", "Integer"), "AF": ("A", "Float"), "AN": ("1", "Integer"), "BQ": ("1", "Float"),
    "CIGAR": ("A", "String"), "DB": ("0", "Flag"), "DP": ("1", "Integer"), "END": ("1", "Integer"),
    "H2": ("0", "Flag"), "H3": ("0", "Flag"), "MQ": ("1", "Float"), "MQ0": ("1", "Integer"),
    "NS": ("1", "Integer"), "SB": ("4", "Integer"), "SOMATIC": ("0", "Flag"),
    "VALIDATED": ("0", "Flag"), "1000G": ("0", "Flag"),
}
_RESERVED_FORMAT = {
    "AD": ("R", "Integer"), "ADF": ("R", "Integer"), "ADR": ("R", "Integer"), "DP": ("1", "Integer"),
    "EC": ("A", "Integer"), "FT": ("1", "String"), "GL": ("G", "Float"), "GP": ("G", "Float"),
    "GQ": ("1", "Integer"), "GT": ("1", "String"), "HQ": ("2", "Integer"), "MQ": ("1", "Integer"),
    "PL": ("G", "Integer"), "PQ": ("1", "Integer"), "PS": ("1", "Integer"),
}
_NUMBER_RE = re.compile(r"^(?:\d+|[ARG.])$")
_TYPES = {"Integer", "Float", "Flag", "Character", "String"}
_META_RE = re.compile(r"^##(INFO|FORMAT)=<(.*)>\s*$")


@dataclass
class VcfHeader:
    path: str
    samples: list[str]
    n_header_lines: int
    contigs_raw: list[str]  # as declared in ##contig lines, in order
    format_types: dict[str, tuple[str, str]]  # FORMAT id -> (Number, Type)
    warnings: list[str] = field(default_factory=list)


@dataclass
class RecordChunk:
    """K consecutive records. gt is (K, N, P) int16 with MISSING / VECTOR_END codes."""

    contig: list[str]  # normalised
    pos: np.ndarray  # (K,) int64
    ids: list[str | None]
    ref: list[str]
    alts: list[list[str]]
    qual: list[float | None]
    filters: list[str | None]
    gt: np.ndarray
    phased: np.ndarray  # (K, N) bool
    record_index: np.ndarray  # (K,) 0-based line of the record within the part being read
    dp: np.ndarray | None = None  # (K, N) int32, INT32_MISSING for missing
    gq: np.ndarray | None = None
    ad: np.ndarray | None = None  # (K, N, R) int32, R = max alleles in the chunk

    def __len__(self) -> int:
        return len(self.pos)


def _parse_meta_fields(body: str) -> dict[str, str]:
    out, key, val, quoted, in_val = {}, "", "", False, False
    for ch in body:
        if in_val:
            if ch == '"':
                quoted = not quoted
                val += ch
            elif ch == "," and not quoted:
                out[key.strip()] = val.strip().strip('"')
                key, val, in_val = "", "", False
            else:
                val += ch
        elif ch == "=":
            in_val = True
        else:
            key += ch
    if key:
        out[key.strip()] = val.strip().strip('"')
    return out


def check_header_lines(lines: list[str]) -> tuple[dict[str, tuple[str, str]], list[str]]:
    """Spec checks htslib does not make. Returns FORMAT types and warnings naming the line."""
    formats: dict[str, tuple[str, str]] = {}
    warnings: list[str] = []
    for lineno, line in enumerate(lines, start=1):
        m = _META_RE.match(line)
        if not m:
            if line.startswith("##") and "=<" in line and not line.rstrip().endswith(">"):
                warnings.append(f"line {lineno}: header line is not closed with '>'")
            if line.startswith("##SAMPLE=<") and not re.search(r"[<,]ID=", line):
                warnings.append(f"line {lineno}: ##SAMPLE line has no ID")
            continue
        kind, fields = m.group(1), _parse_meta_fields(m.group(2))
        fid, number, type_ = fields.get("ID"), fields.get("Number"), fields.get("Type")
        if not fid:
            warnings.append(f"line {lineno}: ##{kind} line has no ID")
            continue
        if number is None or not _NUMBER_RE.match(number):
            warnings.append(f"line {lineno}: ##{kind} {fid} has an invalid Number={number}")
        if type_ not in _TYPES:
            warnings.append(f"line {lineno}: ##{kind} {fid} has an invalid Type={type_}")
        reserved = (_RESERVED_INFO if kind == "INFO" else _RESERVED_FORMAT).get(fid)
        if reserved and (number, type_) != reserved:
            warnings.append(
                f"line {lineno}: reserved {kind} key {fid} declared Number={number},Type={type_};"
                f" the VCF specification says Number={reserved[0]},Type={reserved[1]}"
            )
        if kind == "FORMAT":
            formats[fid] = (number or "", type_ or "")
    return formats, warnings


@contextlib.contextmanager
def capture_htslib_messages(sink: list[tuple[str, str]]):
    """Redirect C-level stderr to a temp file for the block; parsed [E::]/[W::] lines go to `sink`."""
    with tempfile.TemporaryFile(mode="w+b") as tmp:
        saved = os.dup(2)
        os.dup2(tmp.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            tmp.seek(0)
            for raw in tmp.read().decode("utf-8", "replace").splitlines():
                m = _HTS_MSG.match(raw.strip())
                if m:
                    sink.append((m.group(1), m.group(3)))
                elif raw.strip() and sink:
                    sink.append(("I", raw.strip()))


def open_reader(path, *, threads: int | None = None):
    """cyvcf2 reader with header problems turned into InputError."""
    import cyvcf2

    msgs: list[tuple[str, str]] = []
    try:
        with capture_htslib_messages(msgs):
            vcf = cyvcf2.VCF(str(path), threads=threads) if threads else cyvcf2.VCF(str(path))
    except Exception as exc:  # cyvcf2 raises bare Exception/OSError for unreadable headers
        detail = "; ".join(m for k, m in msgs if k == "E") or str(exc)
        if "not valid bcf or vcf" in str(exc):
            detail = "not a VCF or BCF file (no valid header with a #CHROM line)"
        raise InputError(path, f"cannot read VCF header: {detail}", line=_header_error_line(path, detail)) from None
    return vcf, msgs


def _header_error_line(path, detail: str) -> int | None:
    m = re.search(r"Duplicated sample name '([^']+)'", detail)
    if not m:
        return None
    # the #CHROM line is where the duplicate sample lives
    for lineno, line in enumerate(_iter_text_lines(path), start=1):
        if line.startswith("#CHROM"):
            return lineno
        if not line.startswith("#"):
            return None
    return None


def _iter_text_lines(path):
    with open(path, "rb") as fh:
        magic = fh.read(2)
    if magic == b"\x1f\x8b":
        import gzip

        opener = gzip.open(path, "rt", encoding="utf-8", errors="replace")
    else:
        opener = open(path, "rt", encoding="utf-8", errors="replace")
    with opener as fh:
        yield from fh


def read_header(path) -> VcfHeader:
    vcf, msgs = open_reader(path)
    try:
        samples = list(vcf.samples)
        raw = vcf.raw_header
    finally:
        vcf.close()
    # the checks run on the file's own lines: htslib adds lines (##FILTER=<ID=PASS>) and mends others
    own = _own_header_lines(path)
    lines = own if own else raw.rstrip("\n").split("\n")  # BCF: no text lines of its own
    formats, warnings = check_header_lines(lines)
    warnings += [f"htslib: {m}" for k, m in msgs if k == "W"]
    seen: set[str] = set()
    for s in samples:
        if s in seen:
            raise InputError(path, f"duplicate sample ID {s!r} in the #CHROM line", line=len(lines))
        seen.add(s)
    contigs = [m.group(1) for m in re.finditer(r"^##contig=<ID=([^,>]+)", raw, re.M)]
    return VcfHeader(str(path), samples, len(own), contigs, formats, warnings)


def _own_header_lines(path) -> list[str]:
    """The header lines as the file has them (none for BCF)."""
    out = []
    for line in _iter_text_lines(path):
        if not line.startswith("#"):
            break
        out.append(line.rstrip("\r\n"))
    return out


def validate_alleles(path, local_line: int, ref: str, alts: list[str]) -> None:
    if not _REF_RE.match(ref):
        raise located_error(path, f"invalid REF allele {ref!r} (expected A, C, G, T or N bases)", local_line)
    for alt in alts:
        if not _ALT_RE.match(alt):
            raise located_error(path, f"invalid ALT allele {alt!r} (expected bases, '*', <ID> or a breakend)",
                                local_line)


def filter_text(filters: list[str]) -> str | None:
    """FILTER as stored: None for '.', else the names joined by ';' ('PASS' stays 'PASS')."""
    return ";".join(filters) if filters else None


def located_error(path, problem: str, local_line: int, other_local_line: int | None = None) -> InputError:
    """An InputError at a 0-based line of the part being read. The pipeline adds the lines of
    earlier parts; `{other_line}` in the problem is filled in then with a second line number."""
    text = problem.replace("{other_line}", str((other_local_line or 0) + 1)).replace("{line}", str(local_line + 1))
    err = InputError(path, text, line=local_line + 1)
    err.local_line = local_line
    err.other_local_line = other_local_line
    err.problem_template = problem
    return err


_FAST = object()  # a record whose calls arrive in bulk from the text fast path


class Chunker:
    """Cuts a stream of records into chunks and checks the sort order on the way.

    A chunk holds one contig (writers partition by it) and never splits records sharing a POS
    (allele ranks and the repeated-CPRA check need them together)."""

    def __init__(self, path, chunk_records: int):
        self.path, self.limit = path, chunk_records
        self.last: tuple[str, int] | None = None
        self.last_raw = ""
        self.seen: set[str] = set()
        self.buf: list = []

    def push(self, contig: str, raw_contig: str, pos: int, record, local_line: int) -> list | None:
        done = None
        last = self.last
        if last is not None:
            if contig == last[0] and pos < last[1]:
                raise located_error(self.path, f"records out of order: {raw_contig}:{pos} comes after "
                                    f"{self.last_raw}:{last[1]}", local_line)
            if contig != last[0]:
                if contig in self.seen:
                    raise located_error(self.path, f"records out of order: contig {raw_contig} appears again "
                                        "after other contigs", local_line)
                self.seen.add(last[0])
            if self.buf and (contig != last[0] or (len(self.buf) >= self.limit and pos != last[1])):
                done, self.buf = self.buf, []
        self.last, self.last_raw = (contig, pos), raw_contig
        self.buf.append(record)
        return done

    def flush(self) -> list:
        done, self.buf = self.buf, []
        return done


def iter_records(path, header: VcfHeader, *, region: tuple[str, int, int] | None = None,
                 warnings: list[str] | None = None, threads: int | None = None, line_offset: int | None = None):
    """Record tuples read by htslib (cyvcf2). With `region` (raw contig, start, end-exclusive) only
    records whose POS is in [start, end) are read (tabix/CSI index required).

    Line numbers are local to the part: records are numbered from `line_offset` (default: after
    the header, which is right for the whole file)."""
    vcf, msgs = open_reader(path, threads=threads)
    local = (header.n_header_lines if line_offset is None else line_offset) - 1
    it = None
    try:
        with capture_htslib_messages(msgs):
            it = vcf(f"{region[0]}:{region[1]}-{region[2] - 1}") if region else iter(vcf)
            while True:
                try:
                    rec = next(it)
                except StopIteration:
                    break
                except Exception:
                    # htslib could not parse the next record; its message says why
                    raise _ParseFailure(local + 1) from None
                local += 1
                if not rec.CHROM:
                    continue  # htslib's reading of a blank line: touching its fields would crash
                if region and not (region[1] <= rec.POS < region[2]):
                    local -= 1
                    continue  # a long record overlapping the region's start belongs to the previous part
                yield take_record(rec, local, normalize_contig(rec.CHROM), path, header)
    except _ParseFailure as pf:
        errs = [m for k, m in msgs if k == "E"]
        detail = errs[-1] if errs else "htslib could not parse the record"
        raise located_error(path, _tidy_htslib(detail), pf.local_line) from None
    finally:
        it = None  # a region iterator must be freed before its file is closed, or htslib crashes
        vcf.close()
        if warnings is not None:
            warnings.extend(w for w in (f"htslib: {m}" for k, m in msgs if k == "W") if w not in warnings)


def iter_chunks(path, header: VcfHeader, *, region: tuple[str, int, int] | None = None,
                chunk_records: int = 2048, warnings: list[str] | None = None, threads: int | None = None,
                line_offset: int | None = None):
    """RecordChunks of the records `iter_records` reads (see there for region and line numbers)."""
    chunker = Chunker(path, chunk_records)
    builder = ChunkBuilder(path, header)
    for rec in iter_records(path, header, region=region, warnings=warnings, threads=threads,
                            line_offset=line_offset):
        done = chunker.push(rec[0], rec[0], rec[1], rec, rec[9])
        if done:
            yield builder.build(done)
    done = chunker.flush()
    if done:
        yield builder.build(done)


@functools.lru_cache(maxsize=8)
def read_raw_header(path) -> str:
    """The header text as htslib holds it, ending with the #CHROM line and a newline."""
    vcf, _ = open_reader(path)
    try:
        raw = vcf.raw_header
    finally:
        vcf.close()
    return raw if raw.endswith("\n") else raw + "\n"


class _ParseFailure(Exception):
    def __init__(self, local_line):
        self.local_line = local_line


def _tidy_htslib(detail: str) -> str:
    # "Could not parse the position 'abc'" is clear; strip htslib's hints
    return re.sub(r"\s*\(Quick workaround:.*\)$", "", detail).strip()


def take_record(rec, local_line, contig, path, header):
    """One cyvcf2 record as the tuple ChunkBuilder consumes."""
    alts = list(rec.ALT)
    ref = rec.REF
    validate_alleles(path, local_line, ref, alts)
    fmt = rec.FORMAT or []
    if "GT" in fmt and header.samples:
        arr = rec.genotype.array()
        gt, phased = arr[:, :-1], arr[:, -1].astype(bool)
    else:
        gt, phased = None, None  # no GT: every call is missing
    extra = {}
    for key in ("DP", "GQ"):
        if key in fmt:
            vals = rec.format(key)
            if vals is not None and vals.dtype.kind == "i":
                extra[key] = vals[:, 0].astype(np.int32, copy=False)
    if "AD" in fmt:
        vals = rec.format("AD")
        if vals is not None and vals.dtype.kind == "i":
            extra["AD"] = vals.astype(np.int32, copy=False)
    qual = rec.QUAL
    return (contig, rec.POS, rec.ID, ref, alts, None if qual is None else float(qual),
            filter_text(rec.FILTERS), gt, phased, local_line, extra)


class ChunkBuilder:
    """Record tuples -> RecordChunk (dense per-chunk arrays), with the allele-index check."""

    def __init__(self, path, header: VcfHeader):
        self.path, self.header = path, header
        self.n = len(header.samples)
        fmt = header.format_types
        self.want = {k: fmt.get(k, ("", ""))[1] == "Integer" for k in ("DP", "GQ", "AD")}

    def build(self, buf, fast_rows=None, fast_alleles=None, fast_phased=None) -> RecordChunk:
        k, n = len(buf), self.n
        ploidy = max((b[7].shape[1] for b in buf if b[7] is not None and b[7] is not _FAST), default=2)
        ploidy = max(ploidy, 2) if fast_rows is not None and len(fast_rows) else ploidy
        max_alts = max(len(b[4]) for b in buf)
        # int8 holds allele indices up to 127 and halves the memory traffic of every pass
        gt = np.full((k, n, ploidy), VECTOR_END, dtype=np.int8 if max_alts < 127 else np.int16)
        phased = np.zeros((k, n), dtype=bool)
        for i, b in enumerate(buf):
            if b[7] is _FAST:
                continue
            if b[7] is None:
                gt[i, :, :2] = MISSING
            else:
                gt[i, :, : b[7].shape[1]] = b[7]
                phased[i] = b[8]
        if fast_rows is not None and len(fast_rows):
            gt[fast_rows, :, :2] = fast_alleles
            phased[fast_rows] = fast_phased
        n_alt = np.fromiter((len(b[4]) for b in buf), dtype=np.int64, count=k)
        if n and k:
            too_big = gt.reshape(k, -1).max(axis=1) > n_alt
            if too_big.any():
                i = int(np.flatnonzero(too_big)[0])
                bad = int(np.flatnonzero((gt[i] > n_alt[i]).any(axis=1))[0])
                raise located_error(self.path, f"sample {self.header.samples[bad]}: GT allele index "
                                    f"{int(gt[i, bad].max())} but the record has {n_alt[i]} ALT "
                                    f"allele{'s' if n_alt[i] != 1 else ''}", int(buf[i][9]))
        return RecordChunk(
            contig=[b[0] for b in buf],
            pos=np.fromiter((b[1] for b in buf), dtype=np.int64, count=k),
            ids=[b[2] for b in buf],
            ref=[b[3] for b in buf],
            alts=[b[4] for b in buf],
            qual=[b[5] for b in buf],
            filters=[b[6] for b in buf],
            gt=gt,
            phased=phased,
            record_index=np.fromiter((b[9] for b in buf), dtype=np.int64, count=k),
            dp=self._field_2d(buf, "DP"),
            gq=self._field_2d(buf, "GQ"),
            ad=self._ad(buf),
        )

    def _field_2d(self, buf, key):
        if not self.want[key] or not any(key in b[10] for b in buf):
            return None
        out = np.full((len(buf), self.n), INT32_MISSING, dtype=np.int32)
        for i, b in enumerate(buf):
            if key in b[10]:
                out[i] = b[10][key]
        return out

    def _ad(self, buf):
        if not self.want["AD"] or not any("AD" in b[10] for b in buf):
            return None
        width = max(b[10]["AD"].shape[1] for b in buf if "AD" in b[10])
        ad = np.full((len(buf), self.n, width), INT32_MISSING, dtype=np.int32)
        for i, b in enumerate(buf):
            if "AD" in b[10]:
                ad[i, :, : b[10]["AD"].shape[1]] = b[10]["AD"]
        return ad


def find_index(path) -> Path | None:
    for suffix in (".tbi", ".csi"):
        cand = Path(str(path) + suffix)
        if cand.exists():
            return cand
    return None


def plan_regions(path, n_parts: int) -> list[list[tuple[str, int, int]]]:
    """Split an indexed BGZF VCF into `n_parts` runs of records of about equal compressed size.

    Cut points are the first record starting in the BGZF block at each k/n byte offset; a cut
    never separates records sharing a POS (regions are by POS). Returns, per part, a list of
    (raw contig, start, end-exclusive) regions in file order."""
    import pysam

    contigs = list(pysam.TabixFile(str(path)).contigs)
    size = os.path.getsize(path)
    cuts: list[tuple[str, int]] = []
    for k in range(1, n_parts):
        key = _first_record_after(path, size * k // n_parts)
        if key and key[0] in contigs and (not cuts or key != cuts[-1]):
            cuts.append(key)
    end_pos = 2**31 - 1
    bounds = [(contigs[0], 1)] + cuts + [(None, None)]
    parts = []
    for (c0, p0), (c1, p1) in zip(bounds, bounds[1:]):
        regions = []
        i0 = contigs.index(c0)
        i1 = contigs.index(c1) if c1 is not None else len(contigs) - 1
        for i in range(i0, i1 + 1):
            start = p0 if i == i0 else 1
            stop = p1 if (c1 is not None and i == i1) else end_pos
            if start < stop:
                regions.append((contigs[i], start, stop))
        if regions:
            parts.append(regions)
    return parts


def _first_record_after(path, offset: int) -> tuple[str, int] | None:
    """(CHROM, POS) of the first whole record in the first BGZF block at or after `offset`."""
    with open(path, "rb") as fh:
        fh.seek(offset)
        data = fh.read(4 * 65536)
    # find a BGZF block header: gzip magic with the BC extra subfield
    start = 0
    while True:
        j = data.find(b"\x1f\x8b\x08\x04", start)
        if j < 0 or j + 18 > len(data):
            return None
        if data[j + 12:j + 14] == b"BC":
            break
        start = j + 1
    text = b""
    pos = j
    while pos + 18 <= len(data) and text.count(b"\n") < 3:
        bsize = int.from_bytes(data[pos + 16:pos + 18], "little") + 1
        block = data[pos:pos + bsize]
        if len(block) < bsize:
            break
        try:
            text += zlib.decompress(block[18:-8], -15)
        except zlib.error:
            return None
        pos += bsize
    lines = text.split(b"\n")
    for line in lines[1:-1]:  # the first piece may be a partial line, the last may be cut
        if line and not line.startswith(b"#"):
            cols = line.split(b"\t", 2)
            if len(cols) >= 2 and cols[1].isdigit():
                return cols[0].decode(), int(cols[1])
    return None
