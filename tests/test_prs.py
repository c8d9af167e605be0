"""genolake.ml.prs against the oracle `plink2 --score` (Debian package plink2, 2.00~a3.5), to 1e-9.

plink2 prints every real number to 6 significant digits and 2.00a3.5 has no flag for more (the
maintainer: "practically all plink2 commands print floating-point values to 6 decimal places",
chrchang/plink-ng#248).  So the oracle rebuilds plink2's score exactly from plink2's own exact outputs:

- matching: `--score W ... list-variants` writes the variant IDs plink2 scored (.sscore.vars);
- dosages: `--export A --export-allele` counts the scored allele of those variants, an integer or NA
  per call (one export per "layer" when a variant carries weights on two alleles: plink2 counts one
  allele per variant);
- mean imputation: an NA is 2 x count(allele) / OBS_CT from plink2's own `--freq counts` (.acount,
  integers; the same file is given to --score with --read-freq, so plink2 imputes with exactly it);
- score = math.fsum(weight x dosage).

The oracle then checks itself against plink2's printed SCORE1_SUM and NAMED_ALLELE_DOSAGE_SUM (they
must be its values rounded to 6 significant digits), and ours must equal it to 1e-9 relative
(absolute floor 1e-12 x sum|weight x dosage|, for scores that cancel to about 0).  ALLELE_CT is an
integer and compared exactly.  Every plink2 run uses `--vcf-half-call missing` (./1 is missing, as ours).
"""

from __future__ import annotations

import math
import random
import shutil
import subprocess
from pathlib import Path

import pysam
import pytest

import genolake
from genolake.lake.errors import InputError
from genolake.ml.prs import read_weights, score

PGS = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "gwas" / "PGS001229_22.txt"
_COMP = {"A": "T", "T": "A", "C": "G", "G": "C"}


def _plink2(args: list[str]) -> None:
    exe = shutil.which("plink2")
    assert exe, "plink2 is not installed: apt-get install plink2 (part of the test install)"
    done = subprocess.run([exe, *args], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout[-2000:]


def _six_digits(printed: str, exact: float, magnitude: float) -> bool:
    """`printed` is `exact` rounded to 6 significant digits (plink2's %g output)."""
    return abs(float(printed) - exact) <= 5e-6 * abs(exact) + 1e-12 * magnitude


def plink2_scores(vcf: Path, weights: Path, work: Path, cols: tuple[int, int, int] = (1, 2, 3),
                  set_ids: bool = True, keep: list[str] | None = None) -> dict:
    """Per IID: plink2's .sscore row plus `exact` (the score rebuilt from plink2's exact outputs, see the
    module docstring), `magnitude` (sum of |weight x dosage|) and `named` (exact dosage sum).
    `keep`: score only these samples (plink2 --keep; its frequencies are then theirs too)."""
    base = ["--vcf", str(vcf), "--vcf-half-call", "missing", "--allow-extra-chr"]
    if keep is not None:
        (work / "keep.txt").write_text("".join(f"{s}\n" for s in keep))
        base += ["--keep", str(work / "keep.txt")]
    if set_ids:
        base += ["--set-all-var-ids", "@:#:$r:$a", "--new-id-max-allele-len", "1000"]
    _plink2(base + ["--freq", "counts", "--out", str(work / "f")])
    _plink2(base + ["--read-freq", str(work / "f.acount"), "--score", str(weights), *map(str, cols), "header",
                    "cols=+scoresums", "list-variants", "--out", str(work / "o")])
    lines = (work / "o.sscore").read_text().splitlines()
    head = lines[0].lstrip("#").split("\t")
    printed = {r[head.index("IID")]: dict(zip(head, r)) for r in (x.split("\t") for x in lines[1:])}

    used = set((work / "o.sscore.vars").read_text().split())
    counts: dict[str, tuple[dict, int]] = {}  # ID -> ({allele: count}, OBS_CT) from plink2's .acount
    for row in (work / "f.acount").read_text().splitlines()[1:]:
        _, vid, ref, alts, alt_cts, obs = row.split("\t")
        cts = dict(zip(alts.split(","), map(int, alt_cts.split(","))))
        counts[vid] = ({ref: int(obs) - sum(cts.values()), **cts}, int(obs))
    layers: list[dict] = []  # each: ID -> (allele, weight), one allele per variant
    i, j, k = (c - 1 for c in cols)
    for row in weights.read_text().splitlines()[1:]:
        f = row.split()
        if f and f[i] in used and f[j] in counts[f[i]][0]:
            layer = next((x for x in layers if f[i] not in x), None)
            if layer is None:
                layers.append(layer := {})
            layer[f[i]] = (f[j], float(f[k]))
    assert layers, "plink2 scored no variant"
    terms: dict[str, list[float]] = {s: [] for s in printed}
    named: dict[str, list[int]] = {s: [] for s in printed}
    imputed = dict.fromkeys(printed, 0)
    for n, layer in enumerate(layers):
        (work / f"a{n}.txt").write_text("".join(f"{v} {a}\n" for v, (a, _) in layer.items()))
        (work / f"x{n}.txt").write_text("".join(f"{v}\n" for v in layer))
        _plink2(base + ["--extract", str(work / f"x{n}.txt"), "--export", "A", "--export-allele",
                        str(work / f"a{n}.txt"), "--out", str(work / f"e{n}")])
        raw = [x.split("\t") for x in (work / f"e{n}.raw").read_text().splitlines()]
        column = {name: c for c, name in enumerate(raw[0])}
        for r in raw[1:]:
            for v, (a, w) in layer.items():
                d = r[column[f"{v}_{a}"]]
                if d == "NA":
                    cts, obs = counts[v]
                    terms[r[1]].append(w * (2.0 * cts[a] / obs if obs else 0.0))
                    imputed[r[1]] += 1
                else:
                    terms[r[1]].append(w * int(d))
                    named[r[1]].append(int(d))
    for s, row in printed.items():
        row["exact"], row["magnitude"] = math.fsum(terms[s]), math.fsum(map(abs, terms[s]))
        row["named"], row["imputed"], row["layers"] = float(sum(named[s])), imputed[s], len(layers)
        # the rebuilt score is plink2's: its printed values are the rebuilt ones to 6 digits
        assert _six_digits(row["SCORE1_SUM"], row["exact"], row["magnitude"]), (s, row)
        assert _six_digits(row["NAMED_ALLELE_DOSAGE_SUM"], row["named"], row["named"]), (s, row)
    return printed


def compare(ours, theirs: dict):
    """Ours equals plink2 to 1e-9 relative (see the module docstring)."""
    assert ours.num_rows == len(theirs)
    for r in ours.to_pylist():
        t = theirs[r["sample_id"]]
        assert r["allele_ct"] == int(t["ALLELE_CT"]), (r, t)
        assert r["named_allele_dosage_sum"] == t["named"], (r, t)
        assert abs(r["score"] - t["exact"]) <= 1e-9 * abs(t["exact"]) + 1e-12 * t["magnitude"], (r, t)


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


def test_cohort_imputes_from_its_members(tmp_path):
    """A cohort that is part of the callset: its members' scores, mean imputation from their calls only
    (not the dataset's AC/AN), as plink2 --keep."""
    vcf = tmp_path / "h.vcf"
    vcf.write_text(HAND)
    ours = tmp_path / "w.txt"
    ours.write_text("ID A1 WEIGHT\nrs1 G 0.5\n22-200-C-T C 0.25\n22:200:C:G G 2\n22-300-G-A A 1.5\n"
                    "rs4 T -0.75\n22-500-C-T A 0.3\n22-500-C-T T -1.25\n")
    theirs = tmp_path / "p.txt"
    theirs.write_text("ID A1 WEIGHT\n22:100:A:G G 0.5\n22:200:C:T C 0.25\n22:200:C:T G 2\n"
                      "22:300:G:A A 1.5\n22:400:A:T T -0.75\n22:500:C:A A 0.3\n22:500:C:A T -1.25\n")
    engine = _lake(tmp_path, vcf)
    for members in (["S2", "S3", "S5"], ["S1", "S4"]):
        got = score(engine, ours, cohort=genolake.Cohort(samples=tuple(members)))
        assert got["sample_id"].to_pylist() == members
        compare(got, plink2_scores(vcf, theirs, tmp_path, keep=members))
    # the whole callset scored as a cohort naming everyone is the same as no cohort
    everyone = score(engine, ours, cohort=genolake.Cohort(samples=("S1", "S2", "S3", "S4", "S5")))
    assert everyone.select(["sample_id", "score", "allele_ct"]).equals(score(engine, ours).select(
        ["sample_id", "score", "allele_ct"]))


MIXED_PLOIDY = """##fileformat=VCFv4.2
##contig=<ID=22>
##FORMAT=<ID=GT,Number=1,Type=String,Description="GT">
#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\tS1\tS2\tS3\tS4\tS5\tS6
22\t100\trs1\tA\tG\t.\t.\t.\tGT\t1\t0\t.\t0/1\t1/1\t0/0
22\t200\trs2\tC\tT,G\t.\t.\t.\tGT\t2\t0\t1\t./2\t1/2\t.
22\t300\trs3\tG\tA,C,T\t.\t.\t.\tGT\t0/1/3\t2/2/2\t././.\t0\t3\t1/./3
"""


def _plain_scores(vcf_text: str, weights: list[tuple[int, str, float]]) -> dict:
    """The module's rules read off the VCF text (no lake, no plink2: it would count a haploid call as
    homozygous): per sample (score, allele_ct, named)."""
    recs = {}
    for line in vcf_text.splitlines():
        if line and not line.startswith("#"):
            f = line.split("\t")
            recs[int(f[1])] = ([f[3], *f[4].split(",")], [g.replace("|", "/").split("/") for g in f[9:]])
    samples = vcf_text.split("FORMAT\t")[1].splitlines()[0].split("\t")
    out = {s: [0.0, 0, 0.0] for s in samples}
    for pos in {p for p, _, _ in weights}:
        _, calls = recs[pos]
        for s, gt in zip(samples, calls):
            out[s][1] += 0 if "." in gt else len(gt)
    for pos, allele, w in weights:
        alleles, calls = recs[pos]
        code = str(alleles.index(allele))
        ok = [gt for gt in calls if "." not in gt]
        called = sum(len(gt) for gt in ok)
        freq = sum(gt.count(code) for gt in ok) / called if called else 0.0
        for s, gt in zip(samples, calls):
            dosage = len(gt) * freq if "." in gt else gt.count(code)
            out[s][0] += w * dosage
            out[s][2] += 0 if "." in gt else gt.count(code)
    return out


def test_haploid_and_polyploid_calls(tmp_path):
    """Haploid and triploid calls count their own alleles; their missing calls are imputed with their
    ploidy (the rules of the module docstring, against a plain reading of the VCF)."""
    vcf = tmp_path / "m.vcf"
    vcf.write_text(MIXED_PLOIDY)
    weights = [(100, "A", 0.5), (100, "G", -0.125), (200, "C", 1.25), (200, "G", 0.375), (300, "A", -2.0),
               (300, "T", 0.75), (300, "G", 3.0)]
    w = tmp_path / "w.txt"
    w.write_text("ID A1 WEIGHT\n" + "".join(f"22-{p}-x-y {a} {x!r}\n".replace("x-y", {100: "A-G", 200: "C-T", 300: "G-A"}[p])
                                           for p, a, x in weights))
    got = score(_lake(tmp_path, vcf), w)
    want = _plain_scores(MIXED_PLOIDY, weights)
    assert got.schema.metadata[b"prs_matched"] == b"7"
    for r in got.to_pylist():
        sc, ct, named = want[r["sample_id"]]
        assert r["allele_ct"] == ct and r["named_allele_dosage_sum"] == named, (r, want[r["sample_id"]])
        assert abs(r["score"] - sc) <= 1e-12 * max(1.0, abs(sc)), (r, sc)


def test_palindromic_never_flipped(tmp_path):
    vcf = tmp_path / "h.vcf"
    vcf.write_text(HAND)
    w = tmp_path / "w.txt"
    w.write_text("ID A1 WEIGHT\nrs4 G 1\nrs1 C 1\n")  # rs4 is A/T: G is not flipped to C; rs1 A/G: C->G
    got = score(_lake(tmp_path, vcf), w)
    assert got.schema.metadata[b"prs_unmatched_ids"] == b'["rs4"]'


def test_simulated_cohort(sim_cohort, tmp_path):
    """SNPs, indels and every allele of multi-allelic records (REF and ALT effects, up to three weights
    on one record), rsID and CPRA IDs, strand flips on our side, '.|.' calls mean-imputed."""
    engine = _lake(tmp_path, sim_cohort.vcf)
    rows = genolake.sql(engine, "SELECT contig, pos, ref, alt, rsid, n_alt FROM variants "
                                "ORDER BY pos, allele_ord").to_pylist()
    # plink2's ID of a record, @:#:$r:$a, names its first ALT in the VCF's order (allele_ord is not that)
    with pysam.VariantFile(str(sim_cohort.vcf)) as vf:
        first_alt = {(rec.pos, rec.ref): rec.alts[0] for rec in vf if rec.alts}
    records = sorted({(r["pos"], r["ref"]) for r in rows if r["n_alt"] > 1})
    chosen = set(records[:: max(1, len(records) // 15)][:15])
    single = [r for r in rows if r["n_alt"] == 1]
    # every ALT of the chosen multi-allelic records, and their REF on every other one
    picked = [(r, r["alt"]) for r in rows if (r["pos"], r["ref"]) in chosen]
    picked += [(r, r["ref"]) for r in rows if (r["pos"], r["ref"]) in chosen and r["alt"] == first_alt[(r["pos"], r["ref"])]
               and r["pos"] % 2]
    picked += [(r, r["ref"] if i % 4 == 1 else r["alt"]) for i, r in enumerate(single[:: max(1, len(single) // 50)][:50])]
    rng = random.Random(5)
    ours, theirs = ["ID A1 WEIGHT"], ["ID A1 WEIGHT"]
    for i, (r, allele) in enumerate(sorted(picked, key=lambda p: (p[0]["pos"], p[0]["alt"], p[1]))):
        plink_id = f"{r['contig'].removeprefix('chr')}:{r['pos']}:{r['ref']}:{first_alt[(r['pos'], r['ref'])]}"
        w = rng.uniform(-1, 1) * 10 ** rng.randint(-4, 1)
        shown = allele
        snp = len(r["ref"]) == 1 and len(r["alt"]) == 1 and r["n_alt"] == 1
        if snp and i % 7 == 3 and {r["ref"], r["alt"]} not in ({"A", "T"}, {"C", "G"}):
            shown = _COMP[allele]  # strand-flipped in our file, as-is for plink2
        ident = r["rsid"] if (i % 5 == 0 and r["rsid"]) else f"{r['contig']}-{r['pos']}-{r['ref']}-{r['alt']}"
        ours.append(f"{ident} {shown} {w!r}")
        theirs.append(f"{plink_id} {allele} {w!r}")
    ours += ["rs999999999 A 1.0", "22-1-A-G G 1.0"]
    (tmp_path / "w.txt").write_text("\n".join(ours) + "\n")
    (tmp_path / "p.txt").write_text("\n".join(theirs) + "\n")
    got = score(engine, tmp_path / "w.txt")
    assert got.schema.metadata[b"prs_unmatched"] == b"2"
    assert got.schema.metadata[b"prs_matched"] == str(len(picked)).encode()
    theirs = plink2_scores(Path(sim_cohort.vcf), tmp_path / "p.txt", tmp_path)
    assert sum(t["imputed"] for t in theirs.values()) > 0  # the cohort's missing calls were scored
    assert next(iter(theirs.values()))["layers"] >= 3  # some record carries weights on 3 alleles
    compare(got, theirs)


def test_pgs_catalog_file(tmp_path):
    """PGS001229 (chr22) scored on a cohort at its positions: the effect allele as REF, ALT, or the
    2nd ALT of a multi-allelic record; missing calls and half-calls."""
    rows = []
    for line in PGS.read_text().splitlines():
        if line.startswith("#") or line.startswith("rsID"):
            continue
        f = line.split("\t")
        if len(f[3]) == 1 and len(f[4]) == 1 and f[0]:
            rows.append(f)
    rng = random.Random(7)
    chosen = sorted(rng.sample(rows, 150), key=lambda f: int(f[2]))
    n = 60
    lines = ["##fileformat=VCFv4.2", "##contig=<ID=22>",
             '##FORMAT=<ID=GT,Number=1,Type=String,Description="GT">',
             "\t".join(["#CHROM", "POS", "ID", "REF", "ALT", "QUAL", "FILTER", "INFO", "FORMAT"]
                       + [f"P{j:02d}" for j in range(n)])]
    seen = set()
    n_multi = 0
    for f in chosen:
        if int(f[2]) in seen:
            continue
        seen.add(int(f[2]))
        ref, alt = (f[4], f[3]) if rng.random() < 0.5 else (f[3], f[4])  # effect allele as ALT or REF
        calls = ["0/0", "0/1", "1/1", "0|1", "1|0", "./.", "./1", "0/0"]
        if len(seen) % 4 == 0:  # a multi-allelic record: a third base, before or after the other ALT
            third = next(b for b in "ACGT" if b not in (ref, alt))
            alt = f"{alt},{third}" if rng.random() < 0.5 else f"{third},{alt}"
            calls += ["0/2", "1/2", "2/2", "./2", "2|1"]
            n_multi += 1
        gts = [rng.choice(calls) for _ in range(n)]
        lines.append("\t".join(["22", f[2], f[0], ref, alt, ".", ".", ".", "GT"] + gts))
    vcf = tmp_path / "pgs.vcf"
    vcf.write_text("\n".join(lines) + "\n")
    got = score(_lake(tmp_path, vcf), PGS)
    assert int(got.schema.metadata[b"prs_matched"]) == len(seen) and n_multi > 20
    plain = tmp_path / "pgs_plain.txt"  # plink2's 'header' skips one line: drop the '#' lines
    plain.write_text("".join(x for x in PGS.read_text().splitlines(True) if not x.startswith("#")))
    theirs = plink2_scores(vcf, plain, tmp_path, cols=(1, 4, 6), set_ids=False)
    assert len((tmp_path / "o.sscore.vars").read_text().split()) == len(seen)  # plink2 matched them all
    compare(got, theirs)


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
