"""Quarantine scans: size, file type, integrity, decompression ratio and PHI.

`scan_file` runs the scans in that order and raises `ScanFailed` (one line naming the file,
the line when there is one, the scan and the problem) at the first that fails. On success it
returns a `ScanReport` recording what each scan saw.

Cost is bounded so the scans can run on every delivery of a multi-GB callset:

- BGZF files are checked by walking the block headers (a few small reads per 64 KiB block,
  nothing inflated but the first and last data blocks); the exact uncompressed size comes
  from the blocks' ISIZE footers.
- Plain gzip has no block index, so it is inflated once, streaming, in bounded chunks; the
  ratio and size limits are enforced while inflating, so a gzip bomb is stopped early.
- The PHI scan reads the header and the first `ScanLimits.phi_sample_bytes` of the body only
  (for plain gzip it is collected during the integrity pass, so the file is read once).

The PHI patterns are pluggable (`register_phi_pattern`) and tuned for specificity: real VCF
headers are full of URLs, paths, dates, version strings and long numbers, and ClinVar rows hold
OMIM/MedGen IDs and HGVS names; none of those may be mistaken for PHI.
"""

from __future__ import annotations

import os
import re
import struct
import zlib
from dataclasses import asdict, dataclass, field
from pathlib import Path

from .config import ScanLimits
from .errors import ConfigError, ScanFailed

KINDS = ("vcf", "clinvar", "panel")

SCAN_ORDER = ("size", "file_type", "integrity", "decompression_ratio", "phi")

# The standard 28-byte empty block that ends every complete BGZF file (SAM/BAM spec 4.1.2).
BGZF_EOF = bytes.fromhex("1f8b08040000000000ff0600424302001b0003000000000000000000")

_TEXT_SNIFF = 64 * 1024  # bytes looked at to decide "is this text?"
_READ_CHUNK = 256 * 1024  # compressed bytes read per step when streaming gzip
_INFLATE_MAX = 1024 * 1024  # most bytes one inflate call may produce (bounds memory on bombs)
_MAX_HEADER_BYTES = 64 * 2**20  # a header longer than this cannot be PHI-scanned: refuse it
_CONTROL_CHARS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
_MAX_CONTROL_FRACTION = 0.01  # text may hold the odd stray control byte, not more


# --------------------------------------------------------------------------------------------
# Report


@dataclass
class ScanReport:
    """What the scans saw. `uncompressed_bytes` is exact for BGZF (block ISIZEs) and after
    the full gzip pass; for plain text it is the file size."""

    path: str
    kind: str
    file_type: str = "unknown"  # "bgzf" | "gzip" | "text"
    compressed_bytes: int = 0
    uncompressed_bytes: int | None = None
    checks: list[dict] = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)

    def _pass(self, scan: str, detail: str) -> None:
        self.checks.append({"scan": scan, "status": "pass", "detail": detail})


# --------------------------------------------------------------------------------------------
# PHI patterns


@dataclass(frozen=True)
class PhiPattern:
    """A named regex for one kind of PHI, matched within one line.

    If the regex has a group named `value`, only that group is masked in messages (the key
    around it, e.g. `DOB=`, is shown to help the user). `trigger`, optional, is a cheap
    pre-filter that must match somewhere on a line for `regex` to be tried on that line: a
    pattern that starts with a literal or a small character class runs at memchr speed,
    while a regex that starts with a lookbehind or `\\b` costs a full match attempt at every
    character (8x slower over an 8 MiB sample).
    """

    name: str
    regex: re.Pattern
    description: str
    trigger: re.Pattern | None = None

    def __post_init__(self):
        for attr in ("regex", "trigger"):  # convenience: accept pattern strings
            if isinstance(getattr(self, attr), str):
                object.__setattr__(self, attr, re.compile(getattr(self, attr)))

    def first_match(self, text: str) -> re.Match | None:
        """The first match in `text` (lines separated by \\n)."""
        if self.trigger is None:
            return self.regex.search(text)
        pos = 0
        while (t := self.trigger.search(text, pos)) is not None:
            start = text.rfind("\n", 0, t.start()) + 1
            end = text.find("\n", t.end())
            end = len(text) if end < 0 else end
            m = self.regex.search(text, start, end)
            if m:
                return m
            pos = end + 1
        return None


_MONTH = r"(?i:jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]*\.?"

DEFAULT_PHI_PATTERNS: tuple[PhiPattern, ...] = (
    PhiPattern(
        "email",
        # Not user@host inside URLs (`ftp://anonymous@host`, `user:pass@host`) or database
        # connection strings (VEP headers carry `db=homo_sapiens_core_81_37@ensembldb.ensembl.org`),
        # nor git remotes (`git@github.com:org/repo`).
        re.compile(
            r"(?<![\w.%+-])(?<!db=)(?<!//)(?<!:)"
            r"(?P<value>[A-Za-z0-9][A-Za-z0-9._%+-]{0,63}@"
            r"(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,24})"
            r"(?![\w-]|:\w)"
        ),
        "an email address",
        re.compile(r"@"),
    ),
    PhiPattern(
        "ssn",
        # ddd-dd-dddd with the SSA's never-issued ranges excluded (area 000/666/9xx, group 00,
        # serial 0000), and not part of a longer dashed token such as an ID or a date range.
        re.compile(r"(?<![\w.-])(?P<value>(?!000|666|9\d\d)\d{3}-(?!00)\d{2}-(?!0000)\d{4})(?![\w-]|\.\d)"),
        "a US social security number",
        re.compile(r"-\d\d-"),
    ),
    PhiPattern(
        "ssn_keyword",
        re.compile(
            r"(?i:\b(?:ssn|social[ _-]?security(?:[ _-]?(?:number|num|no))?)\b)"
            r"[ \t:=#\"']{0,6}(?P<value>\d{3}[ .-]?\d{2}[ .-]?\d{4})(?!\d)"
        ),
        "a social security number after an SSN keyword",
        re.compile(r"[Ss](?i:sn|ocial)"),
    ),
    PhiPattern(
        "phone_us",
        # (555) 123-4567, 555-123-4567, 555.123.4567, 555 123 4567, +1 555 123 4567. A separator
        # is required between groups, so positions, epochs and counts never match.
        re.compile(
            r"(?<![\w.+/-])(?P<value>(?:\+?1[ .-]?)?(?:\([2-9]\d{2}\)[ ]?|[2-9]\d{2}[ .-])[2-9]\d{2}[ .-]\d{4})"
            r"(?![\w-]|\.\d)"
        ),
        "a phone number",
        re.compile(r"[ .)-]\d{3}[ .-]\d{4}"),
    ),
    PhiPattern(
        "phone_intl",
        # +44 20 7946 0958, +49-30-1234-5678: a leading + and at least three digit groups.
        re.compile(
            r"(?<![\w.+/-])(?P<value>\+[1-9]\d{0,2}[ .-]?\(?\d{1,4}\)?(?:[ .-]\d{2,4}){2,4})(?![\w-]|\.\d)"
        ),
        "an international phone number",
        re.compile(r"\+\d"),
    ),
    PhiPattern(
        "date_of_birth",
        # Only a date right after a birth keyword: plain dates (fileDate=20090805, GATK run
        # dates, ClinVar LastEvaluated) are not PHI on their own.
        re.compile(
            r"(?i:\b(?:dob|date[ _-]?of[ _-]?birth|birth[ _-]?date|birthday|born(?:[ _-]on)?)\b)"
            r"[ \t:=#\"']{0,6}(?P<value>"
            r"\d{4}[-/.]\d{1,2}[-/.]\d{1,2}|\d{1,2}[-/.]\d{1,2}[-/.]\d{2,4}|(?:19|20)\d{6}"
            rf"|\d{{1,2}}[ -]{_MONTH}[ -]\d{{2,4}}|{_MONTH} \d{{1,2}},? \d{{4}})"
        ),
        "a date of birth",
        re.compile(r"[DdBb](?i:ob|ate[ _-]?of|irth|orn)"),
    ),
    PhiPattern(
        "mrn",
        re.compile(
            r"(?i:\b(?:mrn|medical[ _-]?record(?:[ _-]?(?:number|num|no))?)\b)"
            r"[ \t]*[:=#][ \t]*[\"']?(?P<value>[A-Za-z]{0,3}\d{4,12})\b"
        ),
        "a medical record number",
        re.compile(r"[Mm](?i:rn|edical)"),
    ),
    PhiPattern(
        "patient_name",
        # "patient name: ...", "subject_name=..." with any non-placeholder value.
        re.compile(
            r"(?i:\b(?:patient|subject|participant|proband|donor)[ _-]?(?:full[ _-]?)?name\b)"
            r"[ \t\"']*[:=][ \t\"']*(?!(?i:na|n/a|null|none|unknown|\.)(?:[\t\",;>]|$))"
            r"(?P<value>[A-Za-z][^\t\",;>\r\n]*)"
        ),
        "a patient name",
        re.compile(r"[PpSsDd](?i:atient|ubject|articipant|roband|onor)"),
    ),
    PhiPattern(
        "name_key_value",
        # Name=John Smith / surname="Doe, Jane" in header key=value lists: the value must look
        # like a person's name (two or more capitalised words), so tool options such as
        # GATK's `RodBinding name=variant2` stay clear.
        re.compile(
            r"(?<![\w.-])(?i:name|full[ _-]?name|first[ _-]?name|last[ _-]?name|given[ _-]?name"
            r"|family[ _-]?name|surname|patient)[ \t]*=[ \t]*[\"']?"
            r"(?P<value>[A-Z][a-z'’-]+(?:, ?| )(?:[A-Z]\. ?)?[A-Z][a-z'’-]+(?: [A-Z][a-z'’-]+)*)"
        ),
        "a person's name in a key=value field",
        re.compile(r"=[ \t]*[\"']?[A-Z][a-z'’-]+(?:, ?| )"),
    ),
)

_registered: list[PhiPattern] = list(DEFAULT_PHI_PATTERNS)


def register_phi_pattern(p: PhiPattern) -> None:
    """Add `p` to the patterns `scan_file` uses by default; a pattern of the same name is replaced."""
    if not isinstance(p, PhiPattern):
        raise ConfigError(f"register_phi_pattern needs a PhiPattern, got {type(p).__name__}")
    for i, q in enumerate(_registered):
        if q.name == p.name:
            _registered[i] = p
            return
    _registered.append(p)


def unregister_phi_pattern(name: str) -> None:
    """Remove a pattern by name (defaults included); unknown names are ignored."""
    _registered[:] = [q for q in _registered if q.name != name]


def active_phi_patterns() -> tuple[PhiPattern, ...]:
    """The patterns `scan_file` uses when none are given."""
    return tuple(_registered)


def mask(value: str) -> str:
    """Show enough of a match to find it, never the whole value: `j****************m`."""
    if len(value) <= 4:
        return "*" * len(value)
    return value[0] + "*" * min(len(value) - 2, 12) + value[-1]


# --------------------------------------------------------------------------------------------
# Entry point


def scan_file(path, kind: str, limits: ScanLimits | None = None, phi_patterns=None) -> ScanReport:
    """Run every scan on `path` (a `kind` of "vcf", "clinvar" or "panel").

    Returns the report, or raises `ScanFailed` at the first failing scan; the raised error
    carries the report so far (failing check included) as `error.scan_report` (a dict).
    """
    if kind not in KINDS:
        raise ConfigError(f"unknown file kind {kind!r}: use one of {', '.join(KINDS)}")
    limits = limits or ScanLimits()
    patterns = tuple(active_phi_patterns() if phi_patterns is None else phi_patterns)
    p = Path(path)
    report = ScanReport(path=str(path), kind=kind)
    try:
        _Scanner(p, kind, limits, patterns, report).run()
    except ScanFailed as e:
        report.checks.append({"scan": e.scan, "status": "fail", "detail": e.problem, "line": e.line})
        e.scan_report = report.to_dict()
        raise
    return report


class _Scanner:
    def __init__(self, path: Path, kind: str, limits: ScanLimits, patterns, report: ScanReport):
        self.path = path
        self.kind = kind
        self.limits = limits
        self.patterns = patterns
        self.report = report
        self.size = 0
        self.sample: _TextSample | None = None

    def fail(self, scan: str, problem: str, line: int | None = None):
        raise ScanFailed(self.path, problem, scan=scan, line=line)

    def run(self) -> None:
        self.scan_size()
        try:
            f = open(self.path, "rb")
        except OSError as e:
            self.fail("size", f"cannot read the file: {e.strerror or e}")
        with f:
            self.f = f
            self.fd = f.fileno()
            self.scan_file_type()
            self.scan_integrity()
            self.scan_ratio()
            self.scan_phi()

    # 1 ------------------------------------------------------------------------------------
    def scan_size(self) -> None:
        try:
            st = self.path.stat()
        except FileNotFoundError:
            self.fail("size", "file not found")
        except OSError as e:
            self.fail("size", f"cannot read the file: {e.strerror or e}")
        if not self.path.is_file():
            self.fail("size", "not a regular file")
        self.size = self.report.compressed_bytes = st.st_size
        if st.st_size == 0:
            self.fail("size", "empty file (0 bytes): the delivery is incomplete or the wrong file was sent")
        if st.st_size > self.limits.max_file_bytes:
            self.fail(
                "size",
                f"file is {st.st_size:,} bytes, over the max_file_bytes limit of {self.limits.max_file_bytes:,} bytes",
            )
        self.report._pass("size", f"{st.st_size:,} bytes (limit {self.limits.max_file_bytes:,})")

    # 2 ------------------------------------------------------------------------------------
    def scan_file_type(self) -> None:
        head = os.pread(self.fd, _TEXT_SNIFF, 0)
        if head[:2] == b"\x1f\x8b":
            if len(head) < 10 or head[2] != 8:
                self.fail("file_type", "gzip header is incomplete or uses an unknown compression method")
            bgzf = _has_bc_subfield(head)
            self.report.file_type = "bgzf" if bgzf else "gzip"
            inner = _inflate_prefix(self.f, _TEXT_SNIFF)
            if inner:
                self.check_text(inner, "BGZF" if bgzf else "gzip")
            detail = (
                "BGZF (bgzip) compressed text"
                if bgzf
                else "gzip compressed text (not BGZF: it cannot be indexed; bgzip it for region queries)"
            )
            self.report._pass("file_type", detail)
            return
        looks = _recognise(head)
        if looks:
            self.fail("file_type", f"not a text or gzip file: this looks like {looks}")
        encoding = self.check_text(head, None)
        self.report.file_type = "text"
        self.report._pass("file_type", f"plain text ({encoding})")

    def check_text(self, data: bytes, container: str | None) -> str:
        """Fail unless `data` (the start of the file, or of its decompressed content when
        `container` names the compression) is text. Returns the encoding."""
        target = "VCF" if self.kind == "vcf" else "TSV"
        for magic, what, hint in _INNER_FORMATS:
            if data.startswith(magic):
                inside = f" inside {container}" if container else ""
                self.fail("file_type", f"this is {what}{inside}, not {target} text{hint}")
        prefix = f"{container}-compressed " if container else ""
        content = "decompressed content" if container else "file"
        nul = data.find(b"\x00")
        if nul >= 0:
            self.fail("file_type", f"{prefix}binary data, not text: NUL byte at byte {nul:,} of the {content}")
        try:
            text, encoding = data.decode("utf-8"), "UTF-8"
        except UnicodeDecodeError as e:
            if len(data) >= _TEXT_SNIFF and e.start >= len(data) - 3 and e.reason == "unexpected end of data":
                text, encoding = data[: e.start].decode("utf-8"), "UTF-8"  # a character cut by the sniff
            else:
                text, encoding = data.decode("latin-1"), "latin-1"
        controls = len(_CONTROL_CHARS.findall(text))
        if text and controls / len(text) > _MAX_CONTROL_FRACTION:
            self.fail(
                "file_type",
                f"{prefix}binary data, not text: {controls:,} of the first {len(text):,} characters are control characters",
            )
        return encoding

    # 3 ------------------------------------------------------------------------------------
    def scan_integrity(self) -> None:
        ft = self.report.file_type
        if ft == "bgzf":
            self.bgzf_walk()
        elif ft == "gzip":
            # One streaming pass: checks CRCs, counts bytes, enforces the limits as it goes and
            # keeps the header + body sample for the PHI scan so the file is not read again.
            self.sample = _TextSample(self.kind, self.limits.phi_sample_bytes)
            n, members = self.inflate_all(self.sample.feed, enforce_limits=True)
            self.sample.finish()
            self.report.uncompressed_bytes = n
            if n == 0:
                self.fail("integrity", "the gzip file holds no data (0 bytes after decompression)")
            self.report._pass("integrity", f"{members} gzip member(s), CRC32 and lengths verified, {n:,} bytes inflated")
        else:
            self.report.uncompressed_bytes = self.size
            self.report._pass("integrity", "plain text: no compression framing to verify")

    def bgzf_walk(self) -> None:
        """Walk the block chain with seeks (BSIZE from each header, ISIZE from each footer).
        One read per block: a block's 4-byte ISIZE footer and the next block's 18-byte header
        are adjacent, so they are fetched together."""
        fd, size = self.fd, self.size
        magic = b"\x1f\x8b\x08\x04"
        off = total = blocks = 0
        first = last_data = last = None
        hdr = os.pread(fd, 18, 0)
        while off < size:
            if len(hdr) < 18 and magic.startswith(hdr[:4]):
                self.fail("integrity", f"truncated BGZF: file ends inside a block header at byte {size:,} (no EOF marker)")
            if hdr[:4] != magic:
                self.fail(
                    "integrity",
                    f"malformed BGZF: no block header at byte {off:,} (expected 1f 8b 08 04, found {hdr[:4].hex(' ')})",
                )
            xlen = struct.unpack_from("<H", hdr, 10)[0]
            if xlen != 6:  # unusual but legal: other extra subfields next to BC
                hdr = os.pread(fd, 12 + xlen, off)
                if len(hdr) < 12 + xlen:
                    self.fail("integrity", f"truncated BGZF: file ends inside a block header at byte {size:,} (no EOF marker)")
            bsize = _bc_bsize(hdr, xlen)
            if bsize is None:
                self.fail("integrity", f"malformed BGZF: the block at byte {off:,} has no BC (block size) field")
            bsize += 1
            if bsize < 12 + xlen + 8 + 2:
                self.fail("integrity", f"malformed BGZF: the block at byte {off:,} claims an impossible size of {bsize} bytes")
            end = off + bsize
            if end > size:
                self.fail(
                    "integrity",
                    f"truncated BGZF: file ends inside a block at byte {size:,} "
                    f"(the block at byte {off:,} needs {bsize:,} bytes; no EOF marker)",
                )
            nxt = os.pread(fd, 4 + 18, end - 4)
            isize = struct.unpack_from("<I", nxt)[0]
            hdr = nxt[4:]
            if isize > 65536:
                self.fail("integrity", f"malformed BGZF: the block at byte {off:,} claims {isize:,} uncompressed bytes (max 65,536)")
            total += isize
            blocks += 1
            if first is None:
                first = (off, bsize, xlen)
            if isize:
                last_data = (off, bsize, xlen)
            last = (off, bsize)
            off = end
        if last is None or last[1] != len(BGZF_EOF) or os.pread(fd, len(BGZF_EOF), last[0]) != BGZF_EOF:
            self.fail(
                "integrity",
                f"truncated BGZF: no EOF marker at the end of the file (last block ends at byte {size:,}); "
                "the file was probably cut short at a block boundary",
            )
        if total == 0:
            self.fail("integrity", "the BGZF file holds no data (only empty blocks)")
        checked = {first[0]: first}
        if last_data:
            checked[last_data[0]] = last_data
        for boff, bsize, xlen in checked.values():
            self.inflate_block(boff, bsize, xlen)
        self.report.uncompressed_bytes = total
        self.report._pass(
            "integrity",
            f"{blocks:,} BGZF blocks chained to the EOF marker; first and last data blocks inflate with matching CRC32/ISIZE",
        )

    def inflate_block(self, off: int, bsize: int, xlen: int) -> None:
        block = os.pread(self.fd, bsize, off)
        cdata = block[12 + xlen : -8]
        crc, isize = struct.unpack("<II", block[-8:])
        d = zlib.decompressobj(-15)
        try:
            out = d.decompress(cdata, 65537)
        except zlib.error as e:
            self.fail("integrity", f"corrupt BGZF: the block at byte {off:,} does not inflate: {_zlib_problem(e)}")
        if not d.eof:
            self.fail("integrity", f"corrupt BGZF: the block at byte {off:,} ends before its deflate stream does")
        if len(out) != isize or zlib.crc32(out) != crc:
            self.fail("integrity", f"corrupt BGZF: the block at byte {off:,} fails its CRC32/length check")

    def inflate_all(self, sink, enforce_limits: bool, stop=None) -> tuple[int, int]:
        """Stream-inflate every gzip member from the start of the file, `sink(chunk)` per output
        chunk. With `enforce_limits`, raise as soon as the ratio or size limit is crossed: the
        total compressed size is known, so crossing `ratio × file size` mid-stream is final."""
        f, size = self.f, self.size
        max_out = min(self.limits.max_uncompressed_bytes, int(self.limits.max_decompression_ratio * size))
        f.seek(0)
        out_total = 0
        members = 0
        pos = 0  # compressed offset of the next byte to feed
        member_start = 0
        member_fed = False
        d = zlib.decompressobj(31)
        while True:
            buf = f.read(_READ_CHUNK)
            if not buf:
                break
            while buf:
                member_fed = True
                try:
                    out = d.decompress(buf, _INFLATE_MAX)
                except zlib.error as e:
                    if members and out_total and not d.eof and pos == member_start:
                        self.fail("integrity", f"unexpected data after the last gzip member, at byte {pos:,}: trailing garbage")
                    self.fail(
                        "integrity", f"corrupt gzip data in the member starting at byte {member_start:,}: {_zlib_problem(e)}"
                    )
                if out:
                    out_total += len(out)
                    if enforce_limits and out_total > max_out:
                        self.limit_exceeded(out_total)
                    sink(out)
                if d.eof:
                    rest = d.unused_data
                    pos += len(buf) - len(rest)
                    members += 1
                    member_start, member_fed = pos, False
                    d = zlib.decompressobj(31)
                    buf = rest
                else:
                    tail = d.unconsumed_tail
                    pos += len(buf) - len(tail)
                    buf = tail
                if stop is not None and stop():
                    return out_total, members
        if member_fed:
            self.fail(
                "integrity",
                f"truncated gzip: the file ends inside the compressed member starting at byte {member_start:,} "
                "(no gzip trailer); it was probably cut short",
            )
        return out_total, members

    def limit_exceeded(self, produced: int) -> None:
        lim = self.limits
        if produced > lim.max_uncompressed_bytes:
            self.fail(
                "decompression_ratio",
                f"decompresses to more than the max_uncompressed_bytes limit of {lim.max_uncompressed_bytes:,} bytes "
                f"(stopped after {produced:,})",
            )
        self.fail(
            "decompression_ratio",
            f"decompression ratio over the {lim.max_decompression_ratio:g}:1 limit: {self.size:,} compressed bytes "
            f"already inflated to {produced:,} (stopped early; possible gzip bomb)",
        )

    # 4 ------------------------------------------------------------------------------------
    def scan_ratio(self) -> None:
        lim = self.limits
        n = self.report.uncompressed_bytes
        ratio = n / self.size
        if n > lim.max_uncompressed_bytes:
            self.fail(
                "decompression_ratio",
                f"decompresses to {n:,} bytes, over the max_uncompressed_bytes limit of {lim.max_uncompressed_bytes:,}",
            )
        if ratio > lim.max_decompression_ratio:
            self.fail(
                "decompression_ratio",
                f"decompression ratio {ratio:,.1f}:1 is over the {lim.max_decompression_ratio:g}:1 limit "
                f"({self.size:,} bytes expand to {n:,}); possible decompression bomb",
            )
        self.report._pass(
            "decompression_ratio", f"{n:,} bytes uncompressed, ratio {ratio:.1f}:1 (limit {lim.max_decompression_ratio:g}:1)"
        )

    # 5 ------------------------------------------------------------------------------------
    def scan_phi(self) -> None:
        sample = self.sample
        if sample is None:  # BGZF or text: read just the header and the body sample
            sample = _TextSample(self.kind, self.limits.phi_sample_bytes)
            if self.report.file_type == "bgzf":
                self.inflate_all(sample.feed, enforce_limits=False, stop=lambda: sample.done)
            else:
                self.f.seek(0)
                while not sample.done:
                    buf = self.f.read(_READ_CHUNK)
                    if not buf:
                        break
                    sample.feed(buf)
            sample.finish()
        if sample.header_overflow:
            self.fail(
                "phi",
                f"the header is longer than {_MAX_HEADER_BYTES:,} bytes and cannot be scanned for PHI: "
                "check that the file is really a VCF/TSV",
            )
        text, header_lines, body_lines = sample.text(vcf=self.kind == "vcf")
        hit = None  # (position, pattern, match): the earliest hit in the file wins
        for pat in self.patterns:
            m = pat.first_match(text)
            if m and (hit is None or m.start() < hit[0]):
                hit = (m.start(), pat, m)
        if hit:
            pos, pat, m = hit
            line = text.count("\n", 0, pos) + 1
            where = "header" if line <= header_lines else "data"
            shown = _masked_match(m)
            self.fail(
                "phi",
                f"possible PHI in the {where}: {pat.description} [{pat.name}] {shown!r}; "
                "remove or de-identify it and deliver the file again",
                line=line,
            )
        self.report._pass(
            "phi",
            f"{len(self.patterns)} patterns, no match in {header_lines:,} header lines "
            f"and the first {body_lines:,} data lines ({sample.body_bytes:,} bytes)",
        )


# --------------------------------------------------------------------------------------------
# Helpers


_BCF_HINT = ": convert it with `bcftools view -Oz -o out.vcf.gz`"
_INNER_FORMATS = (  # (magic, what, hint) of binary formats that are BGZF-compressed
    (b"BAM\x01", "a BAM alignment file", ": variant calls are expected"),
    (b"BCF\x02", "a binary BCF file", _BCF_HINT),
    (b"BCF\x04", "a binary BCF file", _BCF_HINT),
)

_MAGIC = (
    (b"\x7fELF", "an ELF executable"),
    (b"\xff\xfe", "UTF-16 text: convert it to UTF-8"),
    (b"\xfe\xff", "UTF-16 text: convert it to UTF-8"),
    (b"PK\x03\x04", "a zip archive (.zip/.xlsx/.docx): unzip it and deliver the text or bgzip file"),
    (b"PK\x05\x06", "an empty zip archive"),
    (b"\x89PNG\r\n\x1a\n", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"GIF8", "a GIF image"),
    (b"%PDF-", "a PDF document"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "a Microsoft Office (OLE2) document"),
    (b"\xfd7zXZ\x00", "xz-compressed data: decompress it and recompress with bgzip"),
    (b"\x28\xb5\x2f\xfd", "zstd-compressed data: decompress it and recompress with bgzip"),
    (b"7z\xbc\xaf\x27\x1c", "a 7-Zip archive"),
    (b"\x89HDF\r\n\x1a\n", "an HDF5 file"),
    (b"PAR1", "a Parquet file"),
    (b"SQLite format 3\x00", "an SQLite database"),
    (b"BAM\x01", "an uncompressed BAM alignment file"),
    (b"BCF\x02", "an uncompressed binary BCF file" + _BCF_HINT),
)


def _recognise(head: bytes) -> str | None:
    for magic, what in _MAGIC:
        if head.startswith(magic):
            return what
    if head[:3] == b"BZh" and head[3:4].isdigit():
        return "bzip2-compressed data: decompress it and recompress with bgzip"
    if head[:4] == b"CRAM" and head[4:5] in (b"\x01", b"\x02", b"\x03"):
        return "a CRAM alignment file"
    if head[257:262] == b"ustar":
        return "a tar archive: extract it and deliver the files one by one"
    return None


def _has_bc_subfield(hdr: bytes) -> bool:
    if len(hdr) < 12 or not hdr[3] & 0x04:  # FLG.FEXTRA
        return False
    xlen = struct.unpack_from("<H", hdr, 10)[0]
    return _bc_bsize(hdr[: 12 + xlen], xlen) is not None


def _bc_bsize(hdr: bytes, xlen: int) -> int | None:
    """BSIZE (block size - 1) from the BC extra subfield, or None."""
    i, end = 12, 12 + xlen
    if len(hdr) < end:
        return None
    while i + 4 <= end:
        si1, si2, slen = hdr[i], hdr[i + 1], struct.unpack_from("<H", hdr, i + 2)[0]
        if si1 == 66 and si2 == 67 and slen == 2 and i + 6 <= end:
            return struct.unpack_from("<H", hdr, i + 4)[0]
        i += 4 + slen
    return None


def _inflate_prefix(f, n: int) -> bytes:
    """Up to `n` decompressed bytes from the start of a gzip file (any number of members).
    Errors are left to the integrity scan: this only feeds the file-type sniff."""
    f.seek(0)
    out = bytearray()
    d = zlib.decompressobj(31)
    try:
        while len(out) < n:
            buf = f.read(64 * 1024)
            if not buf:
                break
            while buf and len(out) < n:
                out += d.decompress(buf, n - len(out))
                if d.eof:
                    buf = d.unused_data
                    d = zlib.decompressobj(31)
                else:
                    buf = d.unconsumed_tail
    except zlib.error:
        pass
    return bytes(out)


def _zlib_problem(e: zlib.error) -> str:
    msg = str(e)
    for raw, plain in (
        ("incorrect data check", "CRC32 mismatch, the data is damaged"),
        ("incorrect length check", "length (ISIZE) mismatch, the data is damaged"),
        ("incorrect header check", "not a valid gzip header"),
        ("invalid", "invalid deflate data, the data is damaged"),
    ):
        if raw in msg:
            return f"{plain} (zlib: {msg.split(': ', 1)[-1]})"
    return msg


def _masked_match(m: re.Match) -> str:
    full = m.group(0)
    if "value" in m.re.groupindex and m.group("value") is not None:
        s, e = m.span("value")
        b = m.start()
        return full[: s - b] + mask(m.group("value")) + full[e - b :]
    return mask(full)


class _TextSample:
    """Keeps the header lines and the first `body_budget` bytes of the body, from a stream of
    chunks. Header = the leading `#` lines (VCF `##` meta lines and `#CHROM`); for the TSV
    kinds the next line too (a column header may lack the `#`)."""

    def __init__(self, kind: str, body_budget: int):
        self.kind = kind
        self.budget = max(0, int(body_budget))
        self.buf = bytearray()
        self.pos = 0  # start of the first line not yet classified
        self.header_end: int | None = None
        self.header_lines = 0
        self.extra_header = 0 if kind == "vcf" else 1
        self.done = False
        self.header_overflow = False
        self.eof = False

    def feed(self, data: bytes) -> None:
        if self.done:
            return
        self.buf += data
        if self.header_end is None:
            self._classify()
            if self.header_end is None and len(self.buf) > _MAX_HEADER_BYTES:
                self.header_overflow = self.done = True
                return
        if self.header_end is not None and len(self.buf) - self.header_end >= self.budget:
            self.done = True

    def _classify(self, at_eof: bool = False) -> None:
        buf = self.buf
        while self.header_end is None:
            nl = buf.find(b"\n", self.pos)
            if nl < 0:
                if not at_eof or self.pos >= len(buf):
                    return
                nl = len(buf) - 1  # last line without a newline
            if buf[self.pos : self.pos + 1] == b"#":
                self.header_lines += 1
                self.pos = nl + 1
            elif self.extra_header:
                self.extra_header = 0
                self.header_lines += 1
                self.pos = nl + 1
                self.header_end = self.pos
            else:
                self.header_end = self.pos
        if at_eof and self.header_end is None:
            self.header_end = len(buf)

    def finish(self) -> None:
        if not self.done:
            self.eof = True
            self._classify(at_eof=True)
            if self.header_end is None:
                self.header_end = len(self.buf)
        self.done = True

    @property
    def body_bytes(self) -> int:
        return len(self._body())

    def _body(self) -> bytes:
        body = bytes(self.buf[self.header_end : self.header_end + self.budget])
        cut = self.header_end + self.budget < len(self.buf) or not self.eof
        if cut and len(body) == self.budget:
            nl = body.rfind(b"\n")
            body = body[: nl + 1] if nl >= 0 else b""  # drop the partial line at the cut
        return body

    def text(self, vcf: bool) -> tuple[str, int, int]:
        """(text to scan, header line count, body line count); one text line per file line, so
        a match's line number is its newline count + 1. VCF data lines keep CHROM..INFO only:
        genotype columns are numbers and would only slow the scan down."""
        header = bytes(self.buf[: self.header_end])
        if header and not header.endswith(b"\n"):
            header += b"\n"
        body = self._body()
        lines = body.split(b"\n")
        if lines and lines[-1] == b"":
            lines.pop()
        if vcf:
            lines = [b"\t".join(ln.split(b"\t", 8)[:8]) for ln in lines]
        text = (header + b"\n".join(lines)).decode("utf-8", errors="replace")
        return text, self.header_lines, len(lines)
