"""genolake.ml.prs against the oracle `plink2 --score` (Debian package plink2, 2.00~a3.5).

Oracle: `plink2 --vcf F --vcf-half-call missing [--set-all-var-ids @:#:$r:$a --new-id-max-allele-len 1000]
--freq counts` then the same with `--read-freq OUT.acount --score W 1 2 3 header cols=+scoresums`
(mean imputation is plink2's default; the allele counts file makes the imputed frequencies exact and
lets plink2 impute with fewer than 50 samples).  plink2 prints 6 significant digits, so real-valued
scores are compared at 1e-5 relative; with integer weights, samples whose score is an integer (no
imputed call) are compared exactly.
"""

from __future__ import annotations

import random
import shutil
import subprocess
from pathlib import Path

import pytest

import genolake
from genolake.lake.errors import InputError
from genolake.ml.prs import read_weights, score

PGS = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "gwas" / "PGS001229_22.txt"
_COMP = {"A": "T", "T": "A", "C": "G", "G": "C"}


def plink2_scores(vcf: Path, weights: Path, work: Path, cols: str = "1 2 3 header", set_ids: bool = True) -> dict:
    exe = shutil.which("plink2")
    assert exe, "plink2 is not installed: apt-get install plink2 (part of the test install)"
    base = [exe, "--vcf", str(vcf), "--vcf-half-call", "missing", "--allow-extra-chr"]
    if set_ids:
        base += ["--set-all-var-ids", "@:#:$r:$a", "--new-id-max-allele-len", "1000"]
    subprocess.run(base + ["--freq", "counts", "--out", str(work / "f")], check=True, capture_output=True)
    subprocess.run(base + ["--read-freq", str(work / "f.acount"), "--score", str(weights), *cols.split(),
                           "cols=+scoresums", "--out", str(work / "o")], check=True, capture_output=True)
    lines = (work / "o.sscore").read_text().splitlines()
    head = lines[0].lstrip("#").split("\t")
    return {r[head.index("IID")]: {h: r[i] for i, h in enumerate(head)} for r in (x.split("\t") for x in lines[1:])}


def compare(ours, theirs: dict, exact: bool = False):
    assert ours.num_rows == len(theirs)
    for r in ours.to_pylist():
        t = theirs[r["sample_id"]]
        assert r["allele_ct"] == int(t["ALLELE_CT"]), r
        assert r["named_allele_dosage_sum"] == pytest.approx(float(t["NAMED_ALLELE_DOSAGE_SUM"]), rel=1e-5, abs=1e-12)
        if exact and float(r["score"]).is_integer():  # integer weights, no imputed call: exact
            assert r["score"] == float(t["SCORE1_SUM"]), r
        else:
            assert r["score"] == pytest.approx(float(t["SCORE1_SUM"]), rel=1e-5, abs=1e-12), r


def _lake(tmp_path, vcf):
    lake = genolake.init_lake(tmp_path / "lake")
    genolake.ingest_vcf(lake, vcf, "d", workers=1)
    return genolake.connect(lake)


HAND = """##fileformat=VCFv4.2
##contig=<ID=22>
##FORMAT=<ID=GT,Number=1,Type=String,Description="GT">
#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\tS1\tS2\tS3\tS4\tS5
22\t100\trs1\tA\tG\t.\t.\t.\tGT\t0/1\t./.\t1/1\t0/0\t0/1
22\t200\trs2\tC\tT,G\t.\t.\t.\tGT\t1/2\t./1\t2/2\t0/1\t0/0
22\t300\t.\tG\tA\t.\t.\t.\tGT\t0|1\t1|1\t.|.\t0/0\t1/.
22\t400\trs4\tA\tT\t.\t.\t.\tGT\t0/1\t1/1\t0/0\t./.\t0/0
22\t500\trs5\tC\tA,T\t.\t.\t.\tGT\t2/2\t0/1\t./.\t1/2\t0/0
"""


def test_hand_vcf_missing_half_calls_multiallelic(tmp_path):
    vcf = tmp_path / "h.vcf"
    vcf.write_text(HAND)
    # ours: rsIDs, CPRAs in both spellings, a strand flip (T for A at an A/G site), REF effects
    ours = tmp_path / "w.txt"
    ours.write_text("ID A1 WEIGHT\nrs1 T 0.123456789\n22-200-C-T C 0.25\n22:200:C:G G 2\n22-300-G-A A 1.5\n"
                    "rs4 T -0.75\n22-500-C-T A 0.3\n22-500-C-T C -1.25\nrs404 A 9\n")
    theirs = tmp_path / "p.txt"
    theirs.write_text("ID A1 WEIGHT\n22:100:A:G A 0.123456789\n22:200:C:T C 0.25\n22:200:C:T G 2\n"
                      "22:300:G:A A 1.5\n22:400:A:T T -0.75\n22:500:C:A A 0.3\n22:500:C:A C -1.25\n")
    got = score(_lake(tmp_path, vcf), ours)
    compare(got, plink2_scores(vcf, theirs, tmp_path))
    meta = got.schema.metadata
    assert meta[b"prs_matched"] == b"7" and meta[b"prs_unmatched"] == b"1"
    assert b"rs404" in meta[b"prs_unmatched_ids"]


def test_palindromic_never_flipped(tmp_path):
    vcf = tmp_path / "h.vcf"
    vcf.write_text(HAND)
    w = tmp_path / "w.txt"
    w.write_text("ID A1 WEIGHT\nrs4 G 1\nrs1 C 1\n")  # rs4 is A/T: G is not flipped to C; rs1 A/G: C->G
    got = score(_lake(tmp_path, vcf), w)
    assert got.schema.metadata[b"prs_unmatched_ids"] == b'["rs4"]'


@pytest.mark.parametrize("integer", [False, True])
def test_simulated_cohort(sim_cohort, tmp_path, integer):
    engine = _lake(tmp_path, sim_cohort.vcf)
    rows = genolake.sql(engine, "SELECT contig, pos, ref, alt, rsid, n_alt FROM variants ORDER BY pos, allele_ord").to_pylist()
    snps = [r for r in rows if r["n_alt"] == 1 and len(r["ref"]) == 1 and len(r["alt"]) == 1]
    rng = random.Random(5)
    picked = snps[:: max(1, len(snps) // 50)][:50]
    ours, theirs = ["ID A1 WEIGHT"], ["ID A1 WEIGHT"]
    for i, r in enumerate(picked):
        c = r["contig"].removeprefix("chr")
        w = rng.randint(-5, 5) if integer else rng.uniform(-1, 1)
        allele = r["ref"] if i % 4 == 1 else r["alt"]
        shown = allele
        if i % 7 == 3 and {r["ref"], r["alt"]} not in ({"A", "T"}, {"C", "G"}):
            shown = _COMP[allele]  # strand-flipped in our file, as-is for plink2
        ident = r["rsid"] if (i % 5 == 0 and r["rsid"]) else f"{r['contig']}-{r['pos']}-{r['ref']}-{r['alt']}"
        ours.append(f"{ident} {shown} {w!r}")
        theirs.append(f"{c}:{r['pos']}:{r['ref']}:{r['alt']} {allele} {w!r}")
    ours += ["rs999999999 A 1.0", "22-1-A-G G 1.0"]
    (tmp_path / "w.txt").write_text("\n".join(ours) + "\n")
    (tmp_path / "p.txt").write_text("\n".join(theirs) + "\n")
    got = score(engine, tmp_path / "w.txt")
    assert got.schema.metadata[b"prs_unmatched"] == b"2"
    assert got.schema.metadata[b"prs_matched"] == str(len(picked)).encode()
    compare(got, plink2_scores(Path(sim_cohort.vcf), tmp_path / "p.txt", tmp_path), exact=integer)


def test_pgs_catalog_file(tmp_path):
    rows = []
    for line in PGS.read_text().splitlines():
        if line.startswith("#") or line.startswith("rsID"):
            continue
        f = line.split("\t")
        if len(f[3]) == 1 and len(f[4]) == 1 and f[0]:
            rows.append(f)
    rng = random.Random(7)
    chosen = sorted(rng.sample(rows, 100), key=lambda f: int(f[2]))
    n = 60
    lines = ["##fileformat=VCFv4.2", "##contig=<ID=22>",
             '##FORMAT=<ID=GT,Number=1,Type=String,Description="GT">',
             "\t".join(["#CHROM", "POS", "ID", "REF", "ALT", "QUAL", "FILTER", "INFO", "FORMAT"]
                       + [f"P{j:02d}" for j in range(n)])]
    seen = set()
    for f in chosen:
        if int(f[2]) in seen:
            continue
        seen.add(int(f[2]))
        ref, alt = (f[4], f[3]) if rng.random() < 0.5 else (f[3], f[4])  # effect allele as ALT or REF
        gts = [rng.choice(["0/0", "0/1", "1/1", "0|1", "1|0", "./.", "./1", "0/0"]) for _ in range(n)]
        lines.append("\t".join(["22", f[2], f[0], ref, alt, ".", ".", ".", "GT"] + gts))
    vcf = tmp_path / "pgs.vcf"
    vcf.write_text("\n".join(lines) + "\n")
    got = score(_lake(tmp_path, vcf), PGS)
    assert int(got.schema.metadata[b"prs_matched"]) == len(seen)
    plain = tmp_path / "pgs_plain.txt"  # plink2's 'header' skips one line: drop the '#' lines
    plain.write_text("".join(x for x in PGS.read_text().splitlines(True) if not x.startswith("#")))
    compare(got, plink2_scores(vcf, plain, tmp_path, cols="1 4 6 header", set_ids=False))


@pytest.mark.parametrize("text,line,problem", [
    ("ID A1 WEIGHT\nrs1 A 0.5\nrs2 G x\n", 3, "not a number"),
    ("ID A1 WEIGHT\nrs1 A\n", 2, "3 columns"),
    ("ID A1 WEIGHT\nfoo A 1\n", 2, "neither an rsID"),
    ("ID A1 WEIGHT\nrs1 1 1\n", 2, "not an allele"),
    ("#x\nrsID\tchr_name\tchr_position\teffect_allele\teffect_weight\nrs1\t22\tabc\tA\t1\n", 3, "chr_position"),
    ("#x\nrsID\tchr_name\tchr_position\tother_allele\teffect_weight\n", 2, "effect_allele"),
])
def test_bad_weights(tmp_path, text, line, problem):
    p = tmp_path / "bad.txt"
    p.write_text(text)
    with pytest.raises(InputError) as err:
        read_weights(p)
    msg = str(err.value)
    assert "\n" not in msg and f"{p}:{line}:" in msg and problem in msg and err.value.line == line
