"""Quarantine scans: every shipped test file passes; each kind of bad file is refused by the
right scan with a one-line message naming the file (and the line, for PHI)."""

from __future__ import annotations

import gzip
import os
import random
import re
import subprocess
import time
import tracemalloc
import zipfile
from pathlib import Path

import pytest

from genolake.lake.config import ScanLimits
from genolake.lake.errors import ScanFailed
from genolake.lake.scans import (
    BGZF_EOF,
    DEFAULT_PHI_PATTERNS,
    PhiPattern,
    active_phi_patterns,
    register_phi_pattern,
    scan_file,
    unregister_phi_pattern,
)

from conftest import SHARED as DATA  # noqa: E402  (the shared test data, found relative to the repo)
KIND_BY_FOLDER = {"vcf": "vcf", "vcf-invalid": "vcf", "clinvar": "clinvar", "panel": "panel"}
SHIPPED = [(p, KIND_BY_FOLDER[d]) for d in KIND_BY_FOLDER for p in sorted((DATA / d).iterdir()) if p.is_file()]
BGZF_VCF = DATA / "vcf" / "1000G.phase3.broad.withGenotypes.chr20.10100000.vcf.gz"
BIG_BGZF_VCF = DATA / "vcf" / "phase1_chr22_5samples.vcf.gz"
TEXT_VCF = DATA / "vcf" / "haploid.vcf"

VCF_HEAD = (
    "##fileformat=VCFv4.2\n"
    '##INFO=<ID=DP,Number=1,Type=Integer,Description="Total Depth">\n'
    '##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">\n'
    "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\tS1\n"
)
VCF_BODY = "22\t16050075\trs1\tA\tG\t50\tPASS\tDP=10\tGT\t0/1\n"


def refused(path, kind="vcf", limits=None, **kw) -> ScanFailed:
    """Scan a file that must fail; check the invariants every refusal shares."""
    with pytest.raises(ScanFailed) as ei:
        scan_file(path, kind, limits or ScanLimits(), **kw)
    e = ei.value
    msg = str(e)
    assert "\n" not in msg, msg
    assert str(path) in msg, msg
    assert e.scan in ("size", "file_type", "integrity", "decompression_ratio", "phi")
    failing = e.scan_report["checks"][-1]
    assert failing["status"] == "fail" and failing["scan"] == e.scan
    return e


def bgzip(tmp_path: Path, name: str, text: str) -> Path:
    plain = tmp_path / name.removesuffix(".gz")
    plain.write_text(text)
    subprocess.run(["bgzip", "-f", str(plain)], check=True)
    return tmp_path / name


# ------------------------------------------------------------------------------------------
# Real files pass


@pytest.mark.parametrize("path,kind", SHIPPED, ids=[f"{p.parent.name}/{p.name}" for p, _ in SHIPPED])
def test_shipped_files_pass(path, kind):
    r = scan_file(path, kind, ScanLimits())
    assert [c["scan"] for c in r.checks] == ["size", "file_type", "integrity", "decompression_ratio", "phi"]
    assert all(c["status"] == "pass" for c in r.checks)
    assert r.compressed_bytes == path.stat().st_size
    if r.file_type == "text":
        assert r.uncompressed_bytes == r.compressed_bytes
    else:
        assert r.uncompressed_bytes == len(gzip.decompress(path.read_bytes()))
    d = r.to_dict()
    assert d["path"] == str(path) and d["kind"] == kind


def test_file_types_are_recognised():
    assert scan_file(BGZF_VCF, "vcf", ScanLimits()).file_type == "bgzf"
    assert scan_file(DATA / "clinvar" / "variant_summary_excerpt.txt.gz", "clinvar", ScanLimits()).file_type == "gzip"
    assert scan_file(TEXT_VCF, "vcf", ScanLimits()).file_type == "text"


def test_multi_member_gzip_passes(tmp_path):
    p = tmp_path / "two.vcf.gz"
    p.write_bytes(gzip.compress(VCF_HEAD.encode()) + gzip.compress(VCF_BODY.encode() * 3))
    r = scan_file(p, "vcf", ScanLimits())
    assert r.file_type == "gzip"
    assert r.uncompressed_bytes == len(VCF_HEAD) + 3 * len(VCF_BODY)
    assert "2 gzip member" in r.checks[2]["detail"]


# ------------------------------------------------------------------------------------------
# size


def test_empty_file(tmp_path):
    p = tmp_path / "empty.vcf"
    p.write_bytes(b"")
    e = refused(p)
    assert e.scan == "size" and "empty file" in e.problem


def test_over_max_file_bytes(tmp_path):
    size = TEXT_VCF.stat().st_size
    e = refused(TEXT_VCF, limits=ScanLimits(max_file_bytes=100))
    assert e.scan == "size"
    assert f"{size:,}" in e.problem and "100" in e.problem


# ------------------------------------------------------------------------------------------
# file_type


def test_random_binary_junk(tmp_path):
    p = tmp_path / "junk.vcf"
    p.write_bytes(random.Random(20240501).randbytes(200_000))
    e = refused(p)
    assert e.scan == "file_type" and "binary data" in e.problem


def test_elf_header(tmp_path):
    p = tmp_path / "tool.vcf"
    p.write_bytes(b"\x7fELF\x02\x01\x01\x00" + bytes(200))
    e = refused(p)
    assert e.scan == "file_type" and "ELF" in e.problem


def test_zip_archive(tmp_path):
    p = tmp_path / "delivery.vcf"
    with zipfile.ZipFile(p, "w") as z:
        z.writestr("a.vcf", VCF_HEAD + VCF_BODY)
    e = refused(p)
    assert e.scan == "file_type" and "zip archive" in e.problem


def test_text_with_nul_bytes(tmp_path):
    p = tmp_path / "nul.vcf"
    p.write_bytes(VCF_HEAD.encode() + b"22\t1\t.\tA\t\x00\x00G\n")
    e = refused(p)
    assert e.scan == "file_type" and "NUL byte" in e.problem


def test_bcf_is_not_vcf_text(tmp_path):
    p = tmp_path / "calls.bcf"  # bcftools picks the output format from a .vcf.gz name
    subprocess.run(["bcftools", "view", "-Ob", "-o", str(p), str(DATA / "vcf" / "test-genotypes.vcf")], check=True)
    assert p.stat().st_size > 0
    e = refused(p)
    assert e.scan == "file_type" and "a binary BCF file inside BGZF, not VCF text" in e.problem


def test_gzip_of_binary_data(tmp_path):
    p = tmp_path / "packed.vcf.gz"
    p.write_bytes(gzip.compress(random.Random(7).randbytes(50_000)))
    e = refused(p)
    assert e.scan == "file_type" and "gzip-compressed binary data" in e.problem


# ------------------------------------------------------------------------------------------
# integrity


def test_truncated_bgzf(tmp_path):
    p = tmp_path / "cut.vcf.gz"
    p.write_bytes(BGZF_VCF.read_bytes()[:100_000])
    e = refused(p)
    assert e.scan == "integrity"
    assert e.problem.startswith("truncated BGZF: file ends inside a block at byte 100,000")
    assert "no EOF marker" in e.problem


def test_bgzf_without_eof_marker(tmp_path):
    data = BGZF_VCF.read_bytes()
    assert data.endswith(BGZF_EOF)
    p = tmp_path / "noeof.vcf.gz"
    p.write_bytes(data[: -len(BGZF_EOF)])
    e = refused(p)
    assert e.scan == "integrity" and "truncated BGZF" in e.problem and "no EOF marker" in e.problem


def test_bgzf_corrupt_first_block(tmp_path):
    data = bytearray(BGZF_VCF.read_bytes())
    data[100] ^= 0xFF  # inside the first block's deflate data
    p = tmp_path / "flipped.vcf.gz"
    p.write_bytes(bytes(data))
    e = refused(p)
    assert e.scan == "integrity" and "corrupt BGZF: the block at byte 0" in e.problem


def test_bgzf_junk_after_blocks(tmp_path):
    p = tmp_path / "trailing.vcf.gz"
    p.write_bytes(BGZF_VCF.read_bytes() + b"garbage here")
    e = refused(p)
    assert e.scan == "integrity" and "malformed BGZF" in e.problem


def test_truncated_plain_gzip(tmp_path):
    data = gzip.compress((VCF_HEAD + VCF_BODY * 2000).encode())
    p = tmp_path / "cut.vcf.gz"
    p.write_bytes(data[: len(data) // 2])
    e = refused(p)
    assert e.scan == "integrity" and "truncated gzip" in e.problem


def test_plain_gzip_crc_mismatch(tmp_path):
    data = bytearray(gzip.compress((VCF_HEAD + VCF_BODY).encode()))
    data[-8] ^= 0xFF  # CRC32 in the member trailer
    p = tmp_path / "crc.vcf.gz"
    p.write_bytes(bytes(data))
    e = refused(p)
    assert e.scan == "integrity" and "corrupt gzip data" in e.problem and "CRC32 mismatch" in e.problem


# ------------------------------------------------------------------------------------------
# decompression_ratio


def _write_gzip_stream(path: Path, head: bytes, line: bytes, total: int) -> None:
    """Write a gzip file of `total` uncompressed bytes without holding them in memory."""
    with gzip.open(path, "wb", compresslevel=9) as f:
        f.write(head)
        chunk = line * (1024 * 1024 // len(line))
        written = len(head)
        while written < total:
            f.write(chunk)
            written += len(chunk)


def test_gzip_bomb_stops_early(tmp_path):
    p = tmp_path / "bomb.vcf.gz"
    _write_gzip_stream(p, VCF_HEAD.encode(), VCF_BODY.encode(), 50 * 2**20)
    size = p.stat().st_size
    assert size < 500_000  # ~1000:1
    limits = ScanLimits(max_decompression_ratio=10.0)
    tracemalloc.start()
    t0 = time.perf_counter()
    try:
        e = refused(p, limits=limits)
        elapsed = time.perf_counter() - t0
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert e.scan == "decompression_ratio" and "stopped early" in e.problem
    # stopped once 10 x the file size was inflated (plus at most one 1 MiB inflate step),
    # nowhere near the 50 MB inside; memory stays a few MiB
    inflated = int(re.search(r"inflated to ([\d,]+)", e.problem).group(1).replace(",", ""))
    assert 10 * size < inflated <= 10 * size + 2**20, inflated
    assert elapsed < 2.0, elapsed
    assert peak < 12 * 2**20, peak


def test_gzip_of_zeros_is_refused_quickly(tmp_path):
    p = tmp_path / "zeros.vcf.gz"
    _write_gzip_stream(p, b"", bytes(4096), 50 * 2**20)
    t0 = time.perf_counter()
    e = refused(p, limits=ScanLimits(max_decompression_ratio=10.0))
    assert time.perf_counter() - t0 < 2.0
    assert e.scan == "file_type" and "NUL byte" in e.problem  # seen in the first 64 KiB


def test_max_uncompressed_bytes_stops_gzip(tmp_path):
    p = tmp_path / "big.vcf.gz"
    _write_gzip_stream(p, VCF_HEAD.encode(), VCF_BODY.encode(), 8 * 2**20)
    e = refused(p, limits=ScanLimits(max_uncompressed_bytes=2 * 2**20))
    assert e.scan == "decompression_ratio" and "max_uncompressed_bytes" in e.problem


def test_bgzf_ratio_from_block_sizes():
    e = refused(BIG_BGZF_VCF, limits=ScanLimits(max_decompression_ratio=2.0))
    assert e.scan == "decompression_ratio" and "over the 2:1 limit" in e.problem


def test_bgzf_walk_is_fast_on_150_mb(tmp_path):
    data = BIG_BGZF_VCF.read_bytes()[: -len(BGZF_EOF)]
    p = tmp_path / "big.vcf.gz"
    with open(p, "wb") as f:
        for _ in range(150 * 2**20 // len(data) + 1):
            f.write(data)
        f.write(BGZF_EOF)
    try:
        t0 = time.perf_counter()
        r = scan_file(p, "vcf", ScanLimits(phi_sample_bytes=64 * 1024))
        elapsed = time.perf_counter() - t0
    finally:
        p.unlink()  # pytest keeps recent tmp dirs: do not leave 150 MB behind
    assert r.compressed_bytes > 150 * 2**20
    assert elapsed < 1.0, elapsed


# ------------------------------------------------------------------------------------------
# phi


def test_email_in_vcf_header(tmp_path):
    lines = VCF_HEAD.splitlines(keepends=True)
    lines.insert(2, "##contact=jane.doe@example-hospital.org\n")  # line 3
    p = tmp_path / "email.vcf"
    p.write_text("".join(lines) + VCF_BODY)
    e = refused(p)
    assert e.scan == "phi" and e.line == 3
    assert "[email]" in e.problem and "header" in e.problem
    assert f"{p}:3:" in str(e)
    assert "jane.doe@example-hospital.org" not in str(e)  # masked


def test_ssn_in_vcf_header(tmp_path):
    lines = VCF_HEAD.splitlines(keepends=True)
    lines.insert(1, "##comment=subject 123-45-6789 consented\n")  # line 2
    p = tmp_path / "ssn.vcf"
    p.write_text("".join(lines) + VCF_BODY)
    e = refused(p)
    assert e.scan == "phi" and e.line == 2 and "[ssn]" in e.problem
    assert "123-45-6789" not in str(e)


def test_phi_in_bgzf_body_has_file_line(tmp_path):
    body = VCF_BODY * 5 + "22\t16050080\tpatient_name=Jane Roe\tA\tG\t50\tPASS\tDP=10\tGT\t0/1\n"
    p = bgzip(tmp_path, "body.vcf.gz", VCF_HEAD + body)
    e = refused(p)
    assert e.scan == "phi" and e.line == 4 + 5 + 1 and "data" in e.problem
    assert "Jane Roe" not in str(e)


@pytest.mark.parametrize(
    "header_line,pattern",
    [
        ("##contact=(555) 234-5678", "phone_us"),
        ("##note=DOB: 1980-02-03", "date_of_birth"),
        ("##note=MRN=12345678", "mrn"),
        ('##SAMPLE=<ID=S1,Name="John Smith">', "name_key_value"),
        ("##note=Patient Name: Doe", "patient_name"),
        ("##phone=+44 20 7946 0958", "phone_intl"),
    ],
)
def test_other_phi_patterns(tmp_path, header_line, pattern):
    p = tmp_path / "phi.vcf"
    p.write_text("##fileformat=VCFv4.2\n" + header_line + "\n" + VCF_HEAD.split("\n", 1)[1] + VCF_BODY)
    e = refused(p)
    assert e.scan == "phi" and e.line == 2 and f"[{pattern}]" in e.problem


def test_phi_in_tsv_columns(tmp_path):
    p = tmp_path / "panel.tsv"
    p.write_text("sample\tpop\tsuper_pop\tgender\nHG00096\tGBR\tEUR\tmale\nHG00097\tjoe@example.com\tEUR\tfemale\n")
    e = refused(p, kind="panel")
    assert e.scan == "phi" and e.line == 3


def test_no_false_positive_on_lookalikes(tmp_path):
    head = (
        "##fileformat=VCFv4.2\n##fileDate=20090805\n"
        "##VEP=v81 db=homo_sapiens_core_81_37@ensembldb.ensembl.org\n"
        "##reference=ftp://anonymous@ftp.ncbi.nih.gov/ref.fa\n"
        '##GATKCommandLine=<ID=X,Date="Wed Feb 27 04:08:16 EST 2019",Epoch=1551258496140,'
        'CommandLineOptions="intervals=[20:10,000,000-11,000,000] variant=(RodBinding name=variant2 source=/x)">\n'
        + VCF_HEAD.split("\n", 1)[1]
    )
    p = tmp_path / "ok.vcf"
    p.write_text(head + "22\t100\trs5\tA\tG\t9\tPASS\tCIPOS=-200,300;AF=0.123;HGVS=c.1413+1G>A\tGT\t0/1\n")
    assert scan_file(p, "vcf", ScanLimits()).checks[-1]["status"] == "pass"


def test_pluggable_phi_pattern(tmp_path):
    p = tmp_path / "study.vcf"
    p.write_text(VCF_HEAD.replace("#CHROM", "##study_subject=STUDY-000123\n#CHROM") + VCF_BODY)
    scan_file(p, "vcf", ScanLimits())  # unknown to the defaults
    custom = PhiPattern("study_id", re.compile(r"STUDY-(?P<value>\d{6})"), "a study participant id")
    register_phi_pattern(custom)
    try:
        assert custom in active_phi_patterns()
        e = refused(p)
        assert e.scan == "phi" and "[study_id]" in e.problem and e.line == 4
        assert "000123" not in str(e)
    finally:
        unregister_phi_pattern("study_id")
    assert tuple(active_phi_patterns()) == DEFAULT_PHI_PATTERNS
    # an explicit pattern list replaces the defaults for one call
    e = refused(p, phi_patterns=[custom])
    assert e.scan == "phi"
    lines = VCF_HEAD.splitlines(keepends=True)
    lines.insert(1, "##contact=x.y@example.org\n")
    q = tmp_path / "q.vcf"
    q.write_text("".join(lines))
    assert scan_file(q, "vcf", ScanLimits(), phi_patterns=[custom]).checks[-1]["status"] == "pass"


def test_phi_sample_is_bounded(tmp_path):
    # PHI beyond phi_sample_bytes of the body is not read (the scan is a sample, by design)
    p = tmp_path / "late.vcf"
    p.write_text(VCF_HEAD + VCF_BODY * 1000 + "22\t2\tjoe@example.com\tA\tG\t1\tPASS\t.\tGT\t0/1\n")
    assert scan_file(p, "vcf", ScanLimits(phi_sample_bytes=4096)).checks[-1]["status"] == "pass"
    e = refused(p, limits=ScanLimits(phi_sample_bytes=1 << 20))
    assert e.line == 4 + 1000 + 1


def test_scan_order_size_before_type(tmp_path):
    p = tmp_path / "junk.bin"
    p.write_bytes(os.urandom(1000))
    assert refused(p, limits=ScanLimits(max_file_bytes=10)).scan == "size"


def test_header_too_long_to_scan(tmp_path, monkeypatch):
    import genolake.lake.scans as scans

    monkeypatch.setattr(scans, "_MAX_HEADER_BYTES", 4096)
    p = tmp_path / "headers.vcf"
    p.write_text("##fileformat=VCFv4.2\n" + "##comment=xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\n" * 500 + VCF_HEAD.split("\n", 1)[1])
    e = refused(p)
    assert e.scan == "phi" and "header is longer than" in e.problem


def test_utf16_text_is_named(tmp_path):
    p = tmp_path / "excel-export.tsv"
    p.write_bytes("sample\tpop\nHG00096\tGBR\n".encode("utf-16"))
    e = refused(p, kind="panel")
    assert e.scan == "file_type" and "UTF-16" in e.problem
