"""Bad input through the command line: each file ends in quarantine with a reason.json, the user
gets ONE line on stderr naming the file (and the line when the problem is at one), the exit status
is non-zero, and the curated tables are exactly as they were. Also `genolake quarantine list|show`.

Every bad file is built in tmp_path from the shared VCFs; a good file is ingested first so the
lake is not empty and "unchanged" means something.
"""

from __future__ import annotations

import gzip
import json
import re
from pathlib import Path

import pytest

import genolake
from genolake import cli
from conftest import CLINVAR_EXCERPT, curated_state
from lake_checks import SEED_VCF, VCF_DIR, base_parts, fields, joined, read_reason, run_cli

N_HEADER = 51  # lines of BASE_VCF's header; its first record is line 52


@pytest.fixture
def seeded(tmp_path):
    """A lake holding one good dataset."""
    root = tmp_path / "lake"
    genolake.init_lake(root)
    assert cli.main(["--root", str(root), "ingest", "vcf", str(SEED_VCF), "--dataset", "seed", "--workers", "1"]) == 0
    return root


# ---------------------------------------------------------------- the bad files

def _write(tmp_path: Path, name: str, data) -> Path:
    p = tmp_path / name
    p.write_bytes(data if isinstance(data, bytes) else data.encode())
    return p


def truncated_bgzf(tmp_path):
    src = VCF_DIR / "1000G.phase3.broad.withGenotypes.chr20.10100000.vcf.gz"
    return _write(tmp_path, "cut.vcf.gz", src.read_bytes()[:50_000])


def empty_file(tmp_path):
    return _write(tmp_path, "empty.vcf", b"")


def binary_junk(tmp_path):
    return _write(tmp_path, "junk.vcf", bytes(range(256)) * 16)


def header_only(tmp_path):
    header, _ = base_parts()
    return _write(tmp_path, "header_only.vcf", "".join(header))


def fewer_columns(tmp_path):
    header, recs = base_parts()
    short = fields(recs[1])[:-1]  # the last sample's column is missing
    return _write(tmp_path, "fewer_columns.vcf", "".join(header) + recs[0] + joined(short) + recs[2])


def more_columns(tmp_path):
    header, recs = base_parts()
    long = fields(recs[1]) + [fields(recs[1])[-1]]  # one sample column more than the header names
    return _write(tmp_path, "more_columns.vcf", "".join(header) + recs[0] + joined(long) + recs[2])


def non_numeric_pos(tmp_path):
    header, recs = base_parts()
    bad = fields(recs[1])
    bad[1] = "27x4760"
    return _write(tmp_path, "bad_pos.vcf", "".join(header) + recs[0] + joined(bad) + recs[2])


def decreasing_pos(tmp_path):
    header, recs = base_parts()
    return _write(tmp_path, "unsorted.vcf", "".join(header) + recs[0] + recs[2] + recs[1])


def contig_reappears(tmp_path):
    header, recs = base_parts()
    other = fields(recs[1])
    other[0] = "chrY"
    return _write(tmp_path, "contig_again.vcf", "".join(header) + recs[0] + joined(other) + recs[2])


def duplicate_samples(tmp_path):
    header, recs = base_parts()
    chrom = fields(header[-1])
    chrom[-1] = chrom[-3]  # the first sample's ID twice
    return _write(tmp_path, "dup_samples.vcf", "".join(header[:-1]) + joined(chrom) + "".join(recs))


def gt_beyond_alt(tmp_path):
    header, recs = base_parts()
    bad = fields(recs[0])
    assert "," not in bad[4]  # one ALT allele
    sub = bad[9].split(":")
    sub[0] = "0/3"
    bad[9] = ":".join(sub)
    return _write(tmp_path, "gt_beyond_alt.vcf", "".join(header) + joined(bad) + "".join(recs[1:]))


def clinvar_missing_columns(tmp_path):
    lines = gzip.decompress(CLINVAR_EXCERPT.read_bytes()).decode().splitlines()
    names = lines[0].split("\t")
    drop = {names.index("Assembly"), names.index("Chromosome")}
    text = "".join("\t".join(v for i, v in enumerate(ln.split("\t")) if i not in drop) + "\n" for ln in lines)
    return _write(tmp_path, "variant_summary_no_assembly.txt", text)


# (id, builder, kind, line, problem regex, scan)
CASES = [
    ("truncated-bgzf", truncated_bgzf, "vcf", None, r"truncated BGZF", "integrity"),
    ("empty", empty_file, "vcf", None, r"empty file", "size"),
    ("binary-junk", binary_junk, "vcf", None, r"binary data, not text", "file_type"),
    ("header-only", header_only, "vcf", N_HEADER, r"header only", None),
    ("fewer-columns", fewer_columns, "vcf", N_HEADER + 2, r"(?i)columns.*samples", None),
    ("non-numeric-pos", non_numeric_pos, "vcf", N_HEADER + 2, r"(?i)position '27x4760'", None),
    ("decreasing-pos", decreasing_pos, "vcf", N_HEADER + 3, r"out of order: (chr)?X:2724760 comes after (chr)?X:2733109", None),
    ("contig-reappears", contig_reappears, "vcf", N_HEADER + 3, r"out of order: contig (chr)?X appears again", None),
    ("duplicate-samples", duplicate_samples, "vcf", N_HEADER, r"(?i)duplicate.*sample.*'37150'", None),
    ("gt-beyond-alt", gt_beyond_alt, "vcf", N_HEADER + 1, r"GT allele index 3 but the record has 1 ALT allele", None),
    ("clinvar-missing-columns", clinvar_missing_columns, "clinvar", 1,
     r"missing required ClinVar columns: Assembly, Chromosome", None),
]


def _ingest_args(root, kind, path, dataset="bad", engine="local"):
    if kind == "clinvar":
        return ["--root", str(root), "ingest", "clinvar", str(path), "--engine", engine]
    return ["--root", str(root), "ingest", "vcf", str(path), "--dataset", dataset, "--workers", "1", "--engine", engine]


def _check_refused(root, src: Path, rc: int, err: str, out: str, line, problem: str, scan):
    """The contract for a refused file, whatever the defect."""
    assert rc == 3, (rc, err)
    assert out == ""
    lines = err.splitlines()
    assert len(lines) == 1, err
    msg = lines[0]
    assert "Traceback" not in err
    assert msg.startswith("genolake: error: ")
    assert str(src) in msg  # the user's file, not our quarantined copy
    where = f"{src}:{line}: " if line is not None else f"{src}: "
    assert where in msg, msg
    assert re.search(problem, msg), msg
    reason = read_reason(msg)
    assert reason["status"] == "quarantined"
    assert reason["file"] == str(src)
    assert reason["line"] == line
    assert re.search(problem, reason["problem"]), reason["problem"]
    assert reason["scan"] == scan
    kept = Path(reason["quarantined_as"])  # the file stays, byte for byte, beside its reason
    assert kept.read_bytes() == src.read_bytes()
    assert kept.parent.relative_to(Path(root) / "quarantine" / "default")  # <yyyy>/<mm>/<dd>/<run_id>
    assert (kept.parent / "reason.json").is_file()
    return reason


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_bad_file_is_quarantined(seeded, tmp_path, capsys, case, etl_engine):
    _, build, kind, line, problem, scan = case
    src = build(tmp_path)
    lake = genolake.open_lake(seeded)
    before = curated_state(lake)
    capsys.readouterr()
    rc = cli.main(_ingest_args(seeded, kind, src, engine=etl_engine))
    cap = capsys.readouterr()
    _check_refused(seeded, src, rc, cap.err, cap.out, line, problem, scan)
    assert curated_state(lake) == before
    run = lake.catalog.runs(limit=1)[0]
    assert run.status == "quarantined" and run.source_path == str(src.resolve())
    assert str(src) in run.error


def test_more_columns_than_samples_is_refused(seeded, tmp_path, capsys, etl_engine):
    """htslib ignores columns beyond the samples; the text reader counts them."""
    src = more_columns(tmp_path)
    lake = genolake.open_lake(seeded)
    before = curated_state(lake)
    rc = cli.main(_ingest_args(seeded, "vcf", src, engine=etl_engine))
    cap = capsys.readouterr()
    assert curated_state(lake) == before
    _check_refused(seeded, src, rc, cap.err, cap.out, N_HEADER + 2, r"(?i)column", None)


def test_repeated_cpra_names_both_lines(seeded, capsys, etl_engine):
    """test-genotypes.vcf repeats 1-8466747-A-C (and A-T): refused, and the reason names two lines."""
    src = VCF_DIR / "test-genotypes.vcf"
    lake = genolake.open_lake(seeded)
    before = curated_state(lake)
    rc = cli.main(_ingest_args(seeded, "vcf", src, engine=etl_engine))
    cap = capsys.readouterr()
    reason = _check_refused(seeded, src, rc, cap.err, cap.out, reason_line(cap.err), r"CPRA 1-8466747-A-C is repeated", None)
    m = re.search(r"lines (\d+) and (\d+)", reason["problem"])
    assert m, reason["problem"]
    first, second = int(m.group(1)), int(m.group(2))
    assert first < second == reason["line"]
    assert curated_state(lake) == before


def reason_line(err: str) -> int | None:
    m = re.search(r":(\d+): ", err)
    return int(m.group(1)) if m else None


def test_line_numbers_without_pass_line(seeded, capsys):
    """test-genotypes.vcf declares no ##FILTER=<ID=PASS> (htslib adds one to the header it reports):
    the line numbers must still be the file's. Header lines 1-5; 1-8466747-A-C is on lines 6 and 7."""
    rc = cli.main(_ingest_args(seeded, "vcf", VCF_DIR / "test-genotypes.vcf"))
    err = capsys.readouterr().err
    assert rc == 3
    assert "test-genotypes.vcf:7: CPRA 1-8466747-A-C is repeated in records at lines 6 and 7" in err


def test_file_over_size_limit(seeded, tmp_path, capsys, monkeypatch, etl_engine):
    """GENOLAKE_MAX_FILE_BYTES (documented in --help) gives the CLI's lake a small ScanLimits.max_file_bytes."""
    assert cli.MAX_FILE_BYTES_ENV in cli.build_parser().format_help()
    header, recs = base_parts()
    src = _write(tmp_path, "big.vcf", "".join(header) + "".join(recs))
    limit = src.stat().st_size - 1
    monkeypatch.setenv(cli.MAX_FILE_BYTES_ENV, str(limit))
    lake = genolake.open_lake(seeded)
    before = curated_state(lake)
    rc = cli.main(_ingest_args(seeded, "vcf", src, engine=etl_engine))
    cap = capsys.readouterr()
    _check_refused(seeded, src, rc, cap.err, cap.out, None, rf"over the max_file_bytes limit of {limit:,} bytes", "size")
    assert curated_state(lake) == before
    # the same limit through the Python API
    small = genolake.open_lake(seeded, limits=genolake.ScanLimits(max_file_bytes=limit))
    with pytest.raises(genolake.QuarantinedError, match="max_file_bytes"):
        genolake.ingest_vcf(small, src, "bad2", workers=1)
    monkeypatch.setenv(cli.MAX_FILE_BYTES_ENV, "lots")
    assert cli.main(_ingest_args(seeded, "vcf", src)) == 2
    assert "GENOLAKE_MAX_FILE_BYTES" in capsys.readouterr().err
    assert curated_state(lake) == before


def test_missing_path(seeded, tmp_path, capsys):
    lake = genolake.open_lake(seeded)
    before = curated_state(lake)
    missing = tmp_path / "no_such.vcf.gz"
    rc = cli.main(_ingest_args(seeded, "vcf", missing))
    cap = capsys.readouterr()
    assert rc != 0
    assert cap.err.count("\n") == 1 and str(missing) in cap.err and "no such file" in cap.err
    assert curated_state(lake) == before
    assert not list((seeded / "quarantine").rglob("no_such.vcf.gz"))


def test_real_process_exit_status_and_one_line(seeded, tmp_path):
    """A real `python -m genolake` process: exit status 3, exactly one stderr line, no traceback;
    the missing-file case too (status 3, one line, nothing quarantined)."""
    src = decreasing_pos(tmp_path)
    lake = genolake.open_lake(seeded)
    before = curated_state(lake)
    p = run_cli(_ingest_args(seeded, "vcf", src))
    _check_refused(seeded, src, p.returncode, p.stderr, p.stdout, N_HEADER + 3, r"out of order", None)
    p = run_cli(_ingest_args(seeded, "vcf", tmp_path / "absent.vcf"))
    assert p.returncode == 3 and p.stdout == ""
    assert p.stderr.count("\n") == 1 and "absent.vcf: no such file" in p.stderr and "Traceback" not in p.stderr
    assert curated_state(lake) == before


# ---------------------------------------------------------------- quarantine list / show

def test_quarantine_list_and_show(seeded, tmp_path, capsys):
    src = gt_beyond_alt(tmp_path)
    assert cli.main(_ingest_args(seeded, "vcf", src)) == 3
    run_id = genolake.open_lake(seeded).catalog.runs(limit=1)[0].run_id
    capsys.readouterr()

    assert cli.main(["--root", str(seeded), "quarantine", "list"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].split()[:3] == ["id", "tenant", "file"]
    row = next(ln for ln in out if ln.startswith(run_id))
    assert "gt_beyond_alt.vcf" in row and "GT allele index 3" in row

    assert cli.main(["--root", str(seeded), "quarantine", "show", run_id]) == 0
    reason = json.loads(capsys.readouterr().out)
    assert reason["run_id"] == run_id and reason["file"] == str(src)
    assert reason["line"] == N_HEADER + 1 and reason["kind"] == "vcf" and reason["dataset"] == "bad"
    assert "GT allele index 3" in reason["problem"] and reason["what_to_do"]

    assert cli.main(["--root", str(seeded), "quarantine", "show", "no-such-id"]) == 4
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no-such-id" in err
