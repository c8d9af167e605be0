"""The GT fast path (etl/sources/vcf_text.py) against htslib alone, and its byte-range parts.

Every table an ingest writes must be the same whichever reader produced it, and the same
whichever way the file was split into parts."""

from __future__ import annotations

import random
import subprocess

import pytest
from conftest import GOOD_VCFS, lake_counts
from oracle import bcftools_counts, plain_counts, polyploid_sites

import genolake
from genolake.etl import pipeline
from genolake.etl.engines import local_engine
from genolake.etl.sources.vcf import read_header
from genolake.etl.sources.vcf_text import iter_text_chunks, plan_text_parts, text_reader_applies

SAMPLES = [f"S{i}" for i in range(7)]
HEADER = "\n".join([
    "##fileformat=VCFv4.2",
    "##contig=<ID=chr21,length=48129895>",
    "##contig=<ID=chrX,length=155270560>",
    '##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">',
    '##FORMAT=<ID=DP,Number=1,Type=Integer,Description="Depth">',
    '##ALT=<ID=DEL,Description="Deletion">',
    '##FILTER=<ID=q10,Description="Quality below 10">',
    '##FILTER=<ID=s50,Description="Less than 50% of samples have data">',
    "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\t" + "\t".join(SAMPLES),
])


def _edge_records() -> list[str]:
    """Fast-shaped lines mixed with every shape that must go to htslib."""
    def rec(chrom, pos, ref, alt, calls, fmt="GT", rid=".", qual=".", flt="PASS"):
        return "\t".join([chrom, str(pos), rid, ref, alt, qual, flt, ".", fmt, *calls])
    alts11 = ",".join(["C", "G", "T", "CA", "CC", "CG", "CT", "CAA", "CAC", "CAG", "CAT"])
    return [
        rec("chr21", 100, "A", "G", ["0|1", "1|1", ".|.", "./1", "0|.", "0/0", "1/0"], rid="rs1", qual="50"),
        rec("chr21", 100, "A", "AT", ["0|0", "0|1", "0|0", "1|1", "0|0", "./.", "0|0"]),  # same POS, indel
        rec("chr21", 150, "C", "T,G", ["1|2", "2|2", "0|2", "0|0", "1|1", ".|2", "2/1"], flt="q10;s50"),
        rec("chr21", 200, "G", "A", ["0", "1", ".", "0|1", "1|1", "0|0", "1"]),  # haploid calls: htslib
        rec("chr21", 250, "A", alts11, ["10|11", "0|11", "1|2", "0|0", "11|11", ".|10", "3|4"]),  # two digits
        rec("chr21", 300, "T", "C", ["0|1:5", "1|1:.", "0|0:7", ".|.:0", "0|1:3", "0|0:1", "1|0:9"], fmt="GT:DP"),
        rec("chr21", 350, "G", "C", ["0/1/1", "0|0", "1|1", "0|1", "0|0", "0|0", "0|0"]),  # triploid
        rec("chr21", 400, "T", ".", ["0|0"] * 7),  # no ALT: no split row
        rec("chr21", 450, "A", "<DEL>,*", ["0|1", "2|2", "0|0", "1|2", "0|0", "0|0", "0|0"]),
        rec("chr21", 500, "C", "A", ["0|0"] * 7),  # nobody carries it
        rec("chrX", 10, "A", "G", ["0|1", "1|1", "0|0", "0|0", "1|0", "0|0", "0|0"], qual="12.5"),
        rec("chrX", 20, "C", "T", ["1", "0", "1", "0", "1", ".", "0"]),  # all haploid
    ]


def _write(path, records):
    path.write_text(HEADER + "\n" + "\n".join(records) + "\n")
    return path


def _bgzip(path):
    subprocess.run(["bgzip", "-f", str(path)], check=True)
    return path.with_name(path.name + ".gz")


def _tables(lake):
    sort = {"variants": ["contig", "pos", "allele_ord"], "genotypes": ["sample_id", "contig", "pos", "allele_ord"],
            "cpra_index": ["contig", "pos", "allele_ord", "sample_index"], "rsid_index": ["rsid", "pos"],
            "samples": ["sample_id"]}
    return {name: lake.read(name).sort_by([(c, "ascending") for c in cols]) for name, cols in sort.items()}


def _ingest_both(tmp_path, vcf, **kwargs):
    out = {}
    for reader in ("auto", "htslib"):
        lake = genolake.init_lake(tmp_path / f"lake-{reader}")
        genolake.ingest_vcf(lake, vcf, "d", reader=reader, **kwargs)
        out[reader] = (lake, _tables(lake))
    return out


def _assert_same_tables(both):
    for name, table in both["auto"][1].items():
        other = both["htslib"][1][name]
        assert table.num_rows == other.num_rows, name
        assert table.equals(other), f"{name} differs between the fast path and htslib"


@pytest.mark.parametrize("compress", [False, True], ids=["plain", "bgzf"])
def test_edge_cases_fast_path_equals_htslib_and_bcftools(tmp_path, compress):
    vcf = _write(tmp_path / "edge.vcf", _edge_records())
    if compress:
        vcf = _bgzip(vcf)
    assert text_reader_applies(vcf)
    both = _ingest_both(tmp_path, vcf, workers=1, chunk_records=3)
    _assert_same_tables(both)
    lake = both["auto"][0]
    polyploid = polyploid_sites(vcf)
    assert polyploid  # the file has a triploid call, which bcftools counts as diploid
    for cohort in (None, SAMPLES[:3], SAMPLES[2::2]):
        got = lake_counts(lake, "d", cohort)
        assert got == plain_counts(vcf, cohort)
        bcf = bcftools_counts(vcf, tmp_path / "bcf", cohort)
        assert {k: v for k, v in got.items() if k[:2] not in polyploid} == \
            {k: v for k, v in bcf.items() if k[:2] not in polyploid}


@pytest.mark.parametrize("vcf", [p for p in GOOD_VCFS], ids=lambda p: p.name)
def test_shared_files_same_tables_either_reader(tmp_path, vcf):
    _assert_same_tables(_ingest_both(tmp_path, vcf, workers=1))


def _random_vcf(tmp_path, n_records=3000, seed=5):
    rng = random.Random(seed)
    records, pos = [], 0
    for i in range(n_records):
        pos += rng.randint(1, 40)
        calls = [f"{rng.choice('0001.')}{rng.choice('||/')}{rng.choice('0011')}" for _ in SAMPLES]
        if i % 97 == 0:
            calls[0] = "1"  # a haploid call now and then: that line goes to htslib
        records.append("\t".join(["chr21", str(pos), f"rs{i}", "A", "G", ".", "PASS", ".", "GT", *calls]))
    return _write(tmp_path / "random.vcf", records)


@pytest.mark.parametrize("compress", [False, True], ids=["plain", "bgzf"])
def test_byte_range_parts_read_every_line_once(tmp_path, compress):
    vcf = _random_vcf(tmp_path)
    if compress:
        vcf = _bgzip(vcf)
    header = read_header(vcf)

    def read(n_parts):
        positions, lines = [], 0
        for part in plan_text_parts(vcf, n_parts):
            counts = {}
            for chunk in iter_text_chunks(vcf, header, part, chunk_records=64, counts=counts):
                positions.extend(chunk.pos.tolist())
            lines += counts["lines"]
        return positions, lines

    whole, whole_lines = read(1)
    assert len(whole) == 3000 and whole_lines == 3000 + header.n_header_lines
    for n in range(2, 8):
        parts = plan_text_parts(vcf, n)
        assert len(parts) >= 2 or compress  # a small BGZF file may hold fewer blocks than parts
        assert read(n) == (whole, whole_lines), f"{n} parts"


def test_parallel_parts_equal_one_part_and_number_lines(tmp_path, monkeypatch):
    """Two worker processes over byte ranges: same tables; an error late in the file names its line."""
    monkeypatch.setattr(local_engine, "PARALLEL_MIN_BYTES", 0)
    vcf = _random_vcf(tmp_path, n_records=4000)
    tables = []
    for workers in (1, 2):
        lake = genolake.init_lake(tmp_path / f"w{workers}")
        genolake.ingest_vcf(lake, vcf, "d", workers=workers, chunk_records=100)
        tables.append(_tables(lake))
    for name in tables[0]:
        assert tables[0][name].equals(tables[1][name]), name

    lines = vcf.read_text().splitlines()
    bad_line = len(lines) - 5  # 1-based number of the line made bad: deep in the second part
    fields = lines[bad_line - 1].split("\t")
    fields[1] = "12x"
    lines[bad_line - 1] = "\t".join(fields)
    bad = tmp_path / "bad.vcf"
    bad.write_text("\n".join(lines) + "\n")
    lake = genolake.init_lake(tmp_path / "bad-lake")
    with pytest.raises(genolake.QuarantinedError) as info:
        genolake.ingest_vcf(lake, bad, "d", workers=2)
    assert info.value.cause.line == bad_line
    assert "12x" in str(info.value)
