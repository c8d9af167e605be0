"""Every file in shared/data/vcf-invalid/ is either refused with a reason naming the defect, or
ingested with the defect recorded as a warning on the run — never a crash or a traceback, never
a silently wrong row.

Each file is ingested by a real `python -m genolake` process (into its own lake, all at once): a
native crash in the reader must fail one test, not kill the test session.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import genolake
from conftest import INVALID_DIR
from genolake.lake.coords import normalize_contig
from lake_checks import read_reason

# file -> (outcome, regex the reason (refused) or a run warning (ingested) must match (None: no
# warning can name it, see the note on body defects below), line the reason names (None: no line)).
EXPECTED = {
    "ILLUMINA.wex.broad_phase2_baseline.20111114.both.exome.genotypes.1000.vcf":
        ("refused", r"'GQ' FORMAT field", 128),
    "corrupt_file_that_starts_with_#.vcf": ("refused", r"(?i)not a VCF", None),
    "hts-specs_failed_body_alt_000.vcf": ("refused", r"invalid ALT allele 'R'", 4),
    "hts-specs_failed_body_format_000.vcf": ("any", r"(?i)FORMAT ''|empty", None),
    # INFO/FORMAT defects in fields genolake does not store: htslib only says the field is not
    # declared; no row can be wrong (checked against a plain parse below).
    "hts-specs_failed_body_info_010.vcf": ("ingested", r"INFO 'CIGAR'", None),
    "hts-specs_failed_body_info_033.vcf": ("ingested", r"INFO 'AA'", None),
    "hts-specs_failed_body_sample_004.vcf": ("ingested", None, None),
    # header defects: check_header_lines (or htslib's own header parser) names them
    "hts-specs_failed_meta_003.vcf": ("ingested", r"(?i)incomplete header line|not closed", None),
    "hts-specs_failed_meta_format_000.vcf": ("ingested", r"##FORMAT DP has an invalid Number=N", None),
    "hts-specs_failed_meta_format_022.vcf": ("ingested", r"reserved FORMAT key GT declared Number=1,Type=Float", None),
    "hts-specs_failed_meta_info_010.vcf": ("ingested", r"reserved INFO key ADF declared Number=R,Type=String", None),
    "hts-specs_failed_meta_info_032.vcf": ("ingested", r"reserved INFO key MQ declared Number=R,Type=Integer", None),
    "hts-specs_failed_meta_sample_000.vcf": ("ingested", r"##SAMPLE line has no ID", None),
    "malformed.vcf": ("refused", r"GT|columns", 54),  # two records fused: too many columns
}

KNOWN_BUGS: dict[str, str] = {}  # file name -> reason, for a defect genolake still mishandles

FILES = sorted(p.name for p in INVALID_DIR.iterdir())


def test_every_file_has_an_expectation():
    assert set(FILES) == set(EXPECTED)


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory):
    """Ingest every file in its own lake, in parallel real processes. name -> (lake, process result)."""
    base = tmp_path_factory.mktemp("invalid")
    procs = {}
    env = {k: v for k, v in os.environ.items() if k != "GENOLAKE_DEBUG"}
    for i, name in enumerate(FILES):
        root = base / f"lake{i}"
        genolake.init_lake(root)
        cmd = [sys.executable, "-m", "genolake", "--root", str(root), "ingest", "vcf", str(INVALID_DIR / name),
               "--dataset", "inv", "--workers", "1"]
        procs[name] = (root, subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env))
    out = {}
    for name, (root, p) in procs.items():
        stdout, stderr = p.communicate(timeout=300)
        out[name] = (root, p.returncode, stdout, stderr)
    return out


def plain_counts(path: Path) -> dict[tuple, tuple[int, int]]:
    """(contig, pos, ref, alt) -> (AC, AN) over all samples, from a plain split of the text:
    AC = copies of the ALT, AN = non-missing alleles (DESIGN.md's rule, whatever the ploidy)."""
    out = {}
    for line in path.read_text().splitlines():
        if not line or line.startswith("#"):
            continue
        f = line.split("\t")
        alts = [a for a in f[4].split(",") if a != "."]
        fmt = f[8].split(":") if len(f) > 8 else []
        calls = []
        for s in f[9:]:
            gt = s.split(":")[fmt.index("GT")] if "GT" in fmt else "."
            calls.append(re.split(r"[/|]", gt))
        an = sum(a != "." for c in calls for a in c)
        for k, alt in enumerate(alts, start=1):
            ac = sum(a == str(k) for c in calls for a in c)
            out[(normalize_contig(f[0]), int(f[1]), f[3], alt)] = (ac, an)
    return out


@pytest.mark.parametrize("name", FILES)
def test_invalid_file_is_refused_or_warned(outcomes, name, request):
    if name in KNOWN_BUGS:
        request.applymarker(pytest.mark.xfail(strict=True, reason=KNOWN_BUGS[name]))
    root, rc, stdout, stderr = outcomes[name]
    expected, pattern, line = EXPECTED[name]
    assert "Traceback" not in stderr and "Fatal Python error" not in stderr, stderr
    assert rc in (0, 3), f"exit status {rc} (crash?): {stderr[-500:]}"
    src = INVALID_DIR / name
    lake = genolake.open_lake(root)
    run = lake.catalog.runs(limit=1)[0]
    if rc == 3:
        assert expected in ("refused", "any"), f"refused, but expected to be ingested: {stderr}"
        assert stderr.count("\n") == 1 and str(src) in stderr
        reason = read_reason(stderr.strip())
        assert reason["file"] == str(src)
        assert re.search(pattern, reason["problem"]), reason["problem"]
        if line is not None:
            assert reason["line"] == line
        assert run.status == "quarantined"
        assert lake.catalog.snapshot() == {}  # nothing reached the curated tables
        return
    assert expected in ("ingested", "any"), f"ingested, but expected a refusal: {stdout}"
    assert stderr == ""
    assert run.status == "succeeded"
    if pattern is not None:
        assert any(re.search(pattern, w) for w in run.warnings), run.warnings
    # never a silently wrong row: the variants and their whole-callset counts equal a plain parse
    v = lake.read("variants")
    got = {(c, p, r, a): (ac, an) for c, p, r, a, ac, an in
           zip(*(v[x].to_pylist() for x in ("contig", "pos", "ref", "alt", "ac", "an")))}
    assert got == plain_counts(src)
    header_samples = next(ln for ln in src.read_text().splitlines() if ln.startswith("#CHROM")).split("\t")[9:]
    assert lake.read("samples")["sample_id"].to_pylist() == sorted(header_samples)


def test_header_warnings_name_the_file_line(outcomes):
    root, rc, _, _ = outcomes["hts-specs_failed_meta_format_000.vcf"]
    warnings = genolake.open_lake(root).catalog.runs(limit=1)[0].warnings
    assert any(w.startswith("line 3: ##FORMAT DP has an invalid Number=N") for w in warnings), warnings
    root, rc, _, _ = outcomes["hts-specs_failed_meta_003.vcf"]
    warnings = genolake.open_lake(root).catalog.runs(limit=1)[0].warnings
    assert any(w.startswith("line 3: header line is not closed with '>'") for w in warnings), warnings
