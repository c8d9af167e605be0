"""The simulated cohort generator: valid, indexed, deterministic files with the injected messiness."""

from __future__ import annotations

import gzip
import hashlib
import shutil
import subprocess

import pysam
import pytest

from genolake.etl.simulate import simulate
from genolake.etl.simulate_clinvar import COLUMNS
from genolake.lake.errors import ConfigError

pytestmark = pytest.mark.skipif(shutil.which("bcftools") is None, reason="bcftools is the oracle")

TINY = dict(n_samples=30, length_bp=200_000, progress=False)


def _md5s(cohort) -> dict[str, str]:
    paths = [cohort.vcf, cohort.vcf.with_name(cohort.vcf.name + ".tbi"), cohort.panel, cohort.clinvar]
    return {p.name: hashlib.md5(p.read_bytes()).hexdigest() for p in paths}


def _bcftools(*args) -> subprocess.CompletedProcess:
    return subprocess.run(["bcftools", *args], capture_output=True, text=True, check=True)


def _records(vcf):
    """(pos, id, ref, alts, gts) per record, via bcftools."""
    out = _bcftools("query", "-f", "%POS\t%ID\t%REF\t%ALT[\t%GT]\n", str(vcf)).stdout
    rows = []
    for line in out.splitlines():
        pos, rid, ref, alt, *gts = line.split("\t")
        rows.append((int(pos), rid, ref, alt.split(","), gts))
    return rows


@pytest.fixture(scope="module")
def cohort(tmp_path_factory):
    return simulate(tmp_path_factory.mktemp("sim") / "a", seed=1, **TINY)


def test_vcf_reads_cleanly_and_counts_match(cohort):
    proc = subprocess.run(["bcftools", "view", "-H", str(cohort.vcf)], capture_output=True, text=True, check=True)
    assert proc.stderr == ""  # no htslib warnings either
    assert len(proc.stdout.splitlines()) == cohort.n_sites > 100
    header = _bcftools("view", "-h", str(cohort.vcf)).stdout
    assert header.startswith("##fileformat=VCFv4.2\n")
    for line in ("##contig=<ID=22,length=200000", "##FORMAT=<ID=GT", "##INFO=<ID=AC", "##source="):
        assert line in header


def test_indexed_and_region_query_works(cohort):
    tbi = cohort.vcf.with_name(cohort.vcf.name + ".tbi")
    assert tbi.exists()
    with pysam.TabixFile(str(cohort.vcf)) as tf:
        assert tf.contigs == ["22"]
        hits = list(tf.fetch("22", 50_000, 100_000))
    positions = [int(h.split("\t")[1]) for h in hits]
    assert positions and all(50_000 < p <= 100_000 for p in positions)
    assert not [p for p in cohort.vcf.parent.iterdir() if ".tmp-" in p.name]  # no temp leftovers


def test_same_seed_is_byte_identical_other_seed_differs(cohort, tmp_path):
    again = simulate(tmp_path / "again", seed=1, **TINY)
    other = simulate(tmp_path / "other", seed=2, **TINY)
    assert _md5s(again) == _md5s(cohort)
    differing = {k for k, v in _md5s(other).items() if _md5s(cohort)[k] != v}
    assert {"cohort.chr22.vcf.gz", "variant_summary.txt.gz"} <= differing


def test_panel_matches_vcf_samples(cohort):
    lines = cohort.panel.read_text().splitlines()
    assert lines[0] == "sample\tpop\tsuper_pop\tgender"
    rows = [line.split("\t") for line in lines[1:]]
    vcf_samples = _bcftools("query", "-l", str(cohort.vcf)).stdout.split()
    assert [r[0] for r in rows] == vcf_samples and len(vcf_samples) == cohort.n_samples == 30
    assert len(set(vcf_samples)) == 30
    assert {(r[1], r[2]) for r in rows} == {("YRI", "AFR"), ("CEU", "EUR"), ("CHB", "EAS")}
    assert {r[3] for r in rows} <= {"male", "female"}
    assert all(s[:2] in ("HG", "NA") and s[2:].isdigit() for s in vcf_samples)


def test_injected_realism(cohort):
    recs = _records(cohort.vcf)
    positions = [r[0] for r in recs]
    assert positions == sorted(positions) and len(set(positions)) == len(positions)
    calls = [gt for r in recs for gt in r[4]]
    assert all(len(gt) == 3 and gt[1] == "|" for gt in calls)  # diploid, phased
    n_missing = sum(gt == ".|." for gt in calls)
    assert 0.005 < n_missing / len(calls) < 0.05  # missing_rate 0.02
    assert any(len(r[3]) > 1 for r in recs)  # multi-allelic
    assert any(len(r[2]) != len(a) for r in recs for a in r[3])  # indel
    for _, _, ref, alts, _ in recs:
        assert ref not in alts and len(set(alts)) == len(alts)
    ids = [r[1] for r in recs if r[1] != "."]
    assert len(set(ids)) == len(ids) and all(i.startswith("rs") and i[2:].isdigit() for i in ids)
    assert 0.8 < len(ids) / len(recs) < 0.97
    # INFO AC/AN agree with bcftools' own count over the genotypes.
    mine = _bcftools("query", "-f", "%AC\t%AN\n", str(cohort.vcf)).stdout
    fill = subprocess.run(f"bcftools +fill-tags '{cohort.vcf}' -- -t AC,AN | bcftools query -f '%AC\\t%AN\\n'",
                          shell=True, capture_output=True, text=True, check=True).stdout
    assert mine == fill


def test_rates_zero_inject_nothing(tmp_path):
    c = simulate(tmp_path, seed=3, missing_rate=0.0, multiallelic_fraction=0.0, indel_fraction=0.0, **TINY)
    recs = _records(c.vcf)
    assert not any(".|." in r[4] for r in recs)
    assert all(len(r[3]) == 1 and len(r[2]) == 1 == len(r[3][0]) for r in recs)


def test_clinvar_layout_and_joins(cohort):
    with gzip.open(cohort.clinvar, "rt") as fh:
        header = fh.readline().rstrip("\n").split("\t")
        rows = [line.rstrip("\n").split("\t") for line in fh]
    assert tuple(header) == COLUMNS and len(header) == 43 and header[0] == "#AlleleID"
    assert all(len(r) == 43 for r in rows)
    col = {name: i for i, name in enumerate(header)}
    by_assembly = {"GRCh37": {}, "GRCh38": {}}
    for r in rows:
        by_assembly[r[col["Assembly"]]][r[col["#AlleleID"]]] = r
    assert by_assembly["GRCh37"].keys() == by_assembly["GRCh38"].keys() and len(by_assembly["GRCh37"]) >= 50

    vcf = {pos: (rid, ref, alts) for pos, rid, ref, alts, _ in _records(cohort.vcf)}
    matched = rs_matched = absent = na_alleles = 0
    for r in by_assembly["GRCh37"].values():
        pos, ref, alt, rs = (int(r[col["PositionVCF"]]), r[col["ReferenceAlleleVCF"]],
                             r[col["AlternateAlleleVCF"]], r[col["RS# (dbSNP)"]])
        if pos == -1:
            assert (ref, alt) == ("na", "na")
            na_alleles += 1
        elif pos not in vcf:
            absent += 1
        else:
            rid, vref, valts = vcf[pos]
            assert ref == vref
            assert rs == "-1" or f"rs{rs}" == rid  # RS# is the VCF's rsID for that position
            matched += alt in valts
            rs_matched += rs != "-1"
    assert matched >= 0.9 * len(by_assembly["GRCh37"]) - 20 and rs_matched > 0
    assert absent > 0 and na_alleles > 0
    sigs = {r[col["ClinicalSignificance"]] for r in rows}
    assert {"Pathogenic", "Benign", "Uncertain significance"} <= sigs
    shifted = [int(r[col["Start"]]) for r in by_assembly["GRCh38"].values()]
    original = [int(by_assembly["GRCh37"][a][col["Start"]]) for a in by_assembly["GRCh38"]]
    assert shifted != original


def test_bad_arguments_are_refused(tmp_path):
    with pytest.raises(ConfigError, match="n_samples"):
        simulate(tmp_path, n_samples=0, length_bp=200_000, seed=1, progress=False)
    with pytest.raises(ConfigError, match="missing_rate"):
        simulate(tmp_path, n_samples=3, length_bp=200_000, seed=1, missing_rate=2.0, progress=False)
