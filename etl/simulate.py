"""Simulated 1000 Genomes-like cohort: a phased VCF.gz (+ .tbi), a 1000G panel and a ClinVar TSV.

Why simulate: the real 1000 Genomes chr22 callset cannot be downloaded here, and tests need
cohorts of any size that are reproducible byte for byte. The genealogy is real population
genetics (msprime coalescent under stdpopsim's HomSap OutOfAfrica_3G09 model, YRI/CEU/CHB),
so allele-frequency spectra, LD and population differences look like real data; the messiness
an ingest must survive (missing calls, multi-allelic records, indels, absent rsIDs) is injected
on top, at controlled rates.

How, at chr22 scale (2,504 samples x ~1M sites = ~10 GB of VCF text) in minutes:
- the ancestry is simulated once (msprime, single-threaded, the longest step);
- genotypes are decoded by tskit's C variant iterator into an int8 block of sites, and the text
  of a whole block is built with numpy: each diploid call is one uint32 (4 bytes "a|b\\t") looked
  up from a 16-entry table, so there is no per-genotype Python code;
- blocks are piped into `bgzip -@` so compression runs on other cores while Python builds the
  next block (pysam.BGZFile is the in-process fallback when bgzip is not on PATH).
Memory is bounded by one block (a few tens of MB) plus the tree sequence.

Determinism: every random choice comes from numpy Generators or msprime seeds derived from
`seed`; block size is a constant; gzip headers carry no timestamp. Same arguments + same
toolchain (msprime/stdpopsim/htslib versions, recorded in the ##source header) -> identical bytes.

Choices worth knowing:
- Rates: the species' chr22 recombination rate (uniform mean, no genetic map: nothing may be
  downloaded) and the OutOfAfrica_3G09 model's own mutation rate (2.35e-8): stdpopsim advises
  using the rate a demographic model was fitted with, and it gives the ~1M sites of real
  1000G chr22 (the species' 1.29e-8 gives about half).
- Mutations use msprime's binary model on a discrete genome: at most one record per position,
  alleles 0/1; bases come from one hidden random reference sequence, so overlapping records
  (a deletion's REF covering the next site) agree about the bases they share.
- Multi-allelic records are made by merging a site with its right neighbour (carriers of the
  neighbour's mutation who lack the first one get allele 2); the neighbour is dropped.
- Missing calls (`missing_rate` of all calls, as '.|.'): 80% from a batch of consecutive samples
  (a 96-sample plate) failing at a site, 20% sporadic; see SPORADIC_MISSING_SHARE.
- `contig` is the name written (CHROM, ClinVar Chromosome); the rates and ClinVar genes are chr22's.
- Files are written to hidden temporary names and renamed into place, so a killed run leaves
  no partial file under a final name (a stray `.<name>.tmp-<pid>` may remain).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from genolake.lake.coords import normalize_contig
from genolake.lake.errors import ConfigError, GenolakeError, one_line

__all__ = ["SimulatedCohort", "simulate"]

POPULATIONS = ("YRI", "CEU", "CHB")
SUPER_POP = {"YRI": "AFR", "CEU": "EUR", "CHB": "EAS"}
# 1000G-style IDs: prefix and first number per population (real 1000G ranges start here).
_ID_SCHEME = {"YRI": ("NA", 18486), "CEU": ("NA", 6984), "CHB": ("HG", 403)}
MAX_SAMPLES = 30_000  # keeps the NA ranges of YRI and CEU from overlapping

BLOCK_SITES = 4096  # candidate sites per text block (a constant: output must not depend on it varying)
RS_FRACTION = 0.90  # sites with an rsID
TI_FRACTION = 0.67  # transitions among SNV alleles (Ti/Tv ~ 2, as in human data)

_BASES = np.frombuffer(b"ACGT", dtype=np.uint8)
_TRANSITION = np.array([2, 3, 0, 1], dtype=np.uint8)  # A<->G, C<->T
_TRANSVERSIONS = np.array([[1, 3], [0, 2], [1, 3], [0, 2]], dtype=np.uint8)  # per REF code
KIND_SNV, KIND_INS, KIND_DEL, KIND_MULTI = 0, 1, 2, 3
_MISSING_ALLELE = 3  # allele code for '.' in the int8 genotype block
_MISSING_CODE = _MISSING_ALLELE * 4 + _MISSING_ALLELE  # the call '.|.'
# Missing calls: most come from a sequencing batch (a plate of consecutive samples) failing at a
# site, the rest are sporadic. That is how missingness looks in real multi-batch callsets, and it
# matters for size: 2% of calls missing independently costs deflate ~2 bytes each (+100 MB at
# chr22 scale), while a whole batch's run of '.|.' is one cheap back-reference.
SPORADIC_MISSING_SHARE = 0.2
PLATE_SIZE = 96


@dataclass(frozen=True)
class SimulatedCohort:
    vcf: Path  # bgzipped VCF (BGZF), with a .tbi index beside it
    panel: Path  # 1000 Genomes panel format: header "sample\tpop\tsuper_pop\tgender"
    clinvar: Path  # ClinVar variant_summary.txt.gz over the same coordinates
    n_samples: int
    n_sites: int  # VCF records written


@dataclass
class WrittenSites:
    """The records actually written (what the ClinVar writer draws from)."""

    pos: np.ndarray  # int64, 1-based
    rs: np.ndarray  # int64, 0 = no rsID
    kind: np.ndarray  # int8, KIND_*
    ref: np.ndarray  # bytes ('S4')
    alt: np.ndarray  # bytes ('S9'), the ALT column as written, e.g. b"A" or b"A,C"


def simulate(out_dir, *, n_samples: int, length_bp: int, seed: int, contig: str = "22",
             missing_rate: float = 0.02, multiallelic_fraction: float = 0.02,
             indel_fraction: float = 0.05, progress: bool = True) -> SimulatedCohort:
    """Simulate a cohort into `out_dir` and return the paths; see the module docstring."""
    _check_args(n_samples, length_bp, seed, missing_rate, multiallelic_fraction, indel_fraction)
    from genolake.etl.simulate_clinvar import write_clinvar  # split for size; imports nothing back

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    chrom = normalize_contig(str(contig))
    vcf_path = out_dir / f"cohort.chr{chrom}.vcf.gz"
    panel_path = out_dir / "cohort.panel"
    clinvar_path = out_dir / "variant_summary.txt.gz"
    # Separate streams per purpose: ancestry, mutations, samples, site alleles, missingness, ClinVar.
    ss = np.random.SeedSequence(seed)
    s_anc, s_mut = (int(x) % (2**31 - 2) + 1 for x in ss.generate_state(2))
    rng_samples, rng_sites, rng_missing, rng_clinvar = (np.random.default_rng(s) for s in ss.spawn(4))

    log = _Log(progress)
    counts = [n_samples // 3 + (1 if i < n_samples % 3 else 0) for i in range(3)]
    samples, pops = _sample_ids(counts)
    genders = np.where(rng_samples.random(n_samples) < 0.5, "male", "female")

    log(f"simulating ancestry: {n_samples} diploid samples ({'/'.join(map(str, counts))} "
        f"{'/'.join(POPULATIONS)}), {length_bp:,} bp")
    ts, versions = _simulate_ts(counts, length_bp, s_anc, s_mut)
    log(f"  {ts.num_trees:,} trees, {ts.num_sites:,} segregating positions")

    plan = _plan_sites(ts, length_bp, rng_sites, multiallelic_fraction, indel_fraction)

    _atomic_write_bytes(panel_path, _panel_text(samples, pops, genders))

    header = _vcf_header(chrom, length_bp, samples, versions, seed, n_samples, missing_rate,
                         multiallelic_fraction, indel_fraction)
    written = _write_vcf(vcf_path, ts, plan, header, chrom, missing_rate, rng_missing, progress)
    del ts

    log(f"writing ClinVar variant_summary over {len(written.pos):,} sites")
    tmp = _tmp_name(clinvar_path)
    try:
        write_clinvar(tmp, written, plan.ref_seq, length_bp=length_bp, contig=chrom, rng=rng_clinvar)
        os.replace(tmp, clinvar_path)
    finally:
        tmp.unlink(missing_ok=True)
    return SimulatedCohort(vcf=vcf_path, panel=panel_path, clinvar=clinvar_path,
                           n_samples=n_samples, n_sites=len(written.pos))


# ---------------------------------------------------------------------------------------------
# arguments, samples, simulation

def _check_args(n_samples, length_bp, seed, missing_rate, multiallelic_fraction, indel_fraction):
    if not isinstance(n_samples, (int, np.integer)) or not 1 <= n_samples <= MAX_SAMPLES:
        raise ConfigError(f"simulate: n_samples must be an integer in 1..{MAX_SAMPLES}, got {n_samples!r}")
    if not isinstance(length_bp, (int, np.integer)) or length_bp < 1_000:
        raise ConfigError(f"simulate: length_bp must be an integer >= 1000, got {length_bp!r}")
    if not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ConfigError(f"simulate: seed must be a non-negative integer, got {seed!r}")
    for name, v, hi in (("missing_rate", missing_rate, 1.0), ("multiallelic_fraction", multiallelic_fraction, 0.5),
                        ("indel_fraction", indel_fraction, 1.0)):
        if not 0.0 <= float(v) <= hi:
            raise ConfigError(f"simulate: {name} must be in [0, {hi}], got {v!r}")


def _sample_ids(counts: list[int]) -> tuple[list[str], list[str]]:
    """1000G-style IDs in simulation order (all YRI, then CEU, then CHB)."""
    samples, pops = [], []
    for pop, k in zip(POPULATIONS, counts):
        prefix, start = _ID_SCHEME[pop]
        samples += [f"{prefix}{start + i:05d}" for i in range(k)]
        pops += [pop] * k
    if len(set(samples)) != len(samples):  # guarded by MAX_SAMPLES; kept as a cheap invariant
        raise ConfigError("simulate: sample ID scheme produced duplicates; lower n_samples")
    return samples, pops


def _simulate_ts(counts, length_bp, s_anc, s_mut):
    import msprime
    import stdpopsim

    species = stdpopsim.get_species("HomSap")
    model = species.get_demographic_model("OutOfAfrica_3G09")
    chr22 = species.genome.get_chromosome("chr22")
    ts = msprime.sim_ancestry(
        samples={pop: k for pop, k in zip(POPULATIONS, counts) if k > 0},
        demography=model.model, sequence_length=length_bp,
        recombination_rate=chr22.recombination_rate, ploidy=2, random_seed=s_anc)
    ts = msprime.sim_mutations(ts, rate=model.mutation_rate, model=msprime.BinaryMutationModel(),
                               discrete_genome=True, random_seed=s_mut)
    versions = (f"msprime {msprime.__version__}, stdpopsim {stdpopsim.__version__}, "
                f"HomSap OutOfAfrica_3G09, chr22 recombination rate {chr22.recombination_rate:.4g}, "
                f"mutation rate {model.mutation_rate:.4g}")
    return ts, versions


# ---------------------------------------------------------------------------------------------
# per-site plan: alleles, kinds, rsIDs, merges (decided up front from positions only)

@dataclass
class _Plan:
    pos: np.ndarray  # int64 1-based, per candidate site (tskit site)
    kind: np.ndarray  # int8 KIND_*
    merge_head: np.ndarray  # bool: this site absorbs site i+1 as its second ALT
    absorbed: np.ndarray  # bool: merged into site i-1, not written
    ref: np.ndarray  # 'S4'
    alt1: np.ndarray  # 'S4'
    alt2: np.ndarray  # 'S1' (only meaningful for merge heads)
    rs: np.ndarray  # int64, 0 = '.'
    ref_seq: np.ndarray  # uint8 ASCII bases of the hidden reference, index = pos - 1


def _plan_sites(ts, length_bp, rng, multiallelic_fraction, indel_fraction) -> _Plan:
    n = ts.num_sites
    pos = ts.tables.sites.position.astype(np.int64) + 1
    ref_seq = _BASES[rng.integers(0, 4, size=length_bp + 8, dtype=np.uint8)]
    ref_code = _code_of(ref_seq[pos - 1])

    # Multi-allelic: heads at even indices so a pair never spans a block (BLOCK_SITES is even)
    # and pairs never chain.
    merge_head = np.zeros(n, dtype=bool)
    heads = np.arange(0, n - 1, 2)
    n_multi = _target(multiallelic_fraction * n / (1 + multiallelic_fraction), multiallelic_fraction, len(heads))
    if n_multi:
        merge_head[np.sort(rng.choice(heads, size=n_multi, replace=False))] = True
    absorbed = np.zeros(n, dtype=bool)
    absorbed[1:] = merge_head[:-1]

    kind = np.full(n, KIND_SNV, dtype=np.int8)
    kind[merge_head] = KIND_MULTI
    free = np.flatnonzero(~merge_head & ~absorbed)
    n_indel = _target(indel_fraction * (n - n_multi), indel_fraction, len(free))
    dlen = np.zeros(n, dtype=np.int64)
    ins_seq = np.zeros((n, 3), dtype=np.uint8)
    if n_indel:
        chosen = np.sort(rng.choice(free, size=n_indel, replace=False))
        is_del = rng.random(n_indel) < 0.5
        # 1-3 bp, mostly 1 (as in real short-indel spectra); deletions must end inside the contig
        lengths = rng.choice([1, 2, 3], size=n_indel, p=[0.6, 0.25, 0.15])
        is_del &= pos[chosen] + lengths <= length_bp
        kind[chosen] = np.where(is_del, KIND_DEL, KIND_INS)
        dlen[chosen] = lengths
        ins_seq[chosen] = _BASES[rng.integers(0, 4, size=(n_indel, 3), dtype=np.uint8)]

    # SNV alleles: transition with p=TI_FRACTION, else one of the two transversions.
    ti = rng.random(n) < TI_FRACTION
    tv_pick = rng.integers(0, 2, size=n)
    alt_code = np.where(ti, _TRANSITION[ref_code], _TRANSVERSIONS[ref_code, tv_pick])
    # Second ALT of a multi-allelic site: one of the two bases that are neither REF nor ALT1.
    alt2_code = np.zeros(n, dtype=np.uint8)
    h = np.flatnonzero(merge_head)
    if len(h):
        table = np.zeros((4, 4, 2), dtype=np.uint8)
        for r in range(4):
            for a in range(4):
                if r != a:
                    table[r, a] = [b for b in range(4) if b not in (r, a)]
        alt2_code[h] = table[ref_code[h], alt_code[h], rng.integers(0, 2, size=len(h))]

    ref = _BASES[ref_code].view("S1").astype("S4")
    alt1 = _BASES[alt_code].view("S1").astype("S4")
    alt2 = _BASES[alt2_code].view("S1")
    for i in np.flatnonzero(kind == KIND_INS):  # ~2.5% of sites: a Python loop is fine
        alt1[i] = bytes(ref_seq[pos[i] - 1: pos[i]]) + bytes(ins_seq[i, :dlen[i]])
        ref[i] = bytes(ref_seq[pos[i] - 1: pos[i]])
    for i in np.flatnonzero(kind == KIND_DEL):
        ref[i] = bytes(ref_seq[pos[i] - 1: pos[i] + dlen[i]])
        alt1[i] = bytes(ref_seq[pos[i] - 1: pos[i]])

    # rsIDs: unique (strictly increasing random numbers, then shuffled so they do not follow position).
    has_rs = rng.random(n) < RS_FRACTION
    numbers = rng.permutation(np.cumsum(rng.integers(1, 400, size=n, dtype=np.int64)) + 10_000)
    rs = np.where(has_rs, numbers, 0)
    return _Plan(pos=pos, kind=kind, merge_head=merge_head, absorbed=absorbed, ref=ref,
                 alt1=alt1, alt2=alt2, rs=rs, ref_seq=ref_seq)


def _target(expected: float, fraction: float, available: int) -> int:
    """How many sites get a feature: the expected number, at least one when asked for at all."""
    k = int(round(expected))
    if fraction > 0:
        k = max(k, 1)
    return min(k, available)


def _code_of(ascii_bases: np.ndarray) -> np.ndarray:
    lut = np.zeros(256, dtype=np.uint8)
    lut[_BASES] = np.arange(4, dtype=np.uint8)
    return lut[ascii_bases]


# ---------------------------------------------------------------------------------------------
# VCF

def _vcf_header(chrom, length_bp, samples, versions, seed, n_samples, missing_rate,
                multiallelic_fraction, indel_fraction) -> bytes:
    lines = [
        "##fileformat=VCFv4.2",
        '##FILTER=<ID=PASS,Description="All filters passed">',
        f"##source=genolake.etl.simulate ({versions})",
        f"##genolake_simulate=<n_samples={n_samples},length_bp={length_bp},seed={seed},"
        f"missing_rate={missing_rate},multiallelic_fraction={multiallelic_fraction},"
        f"indel_fraction={indel_fraction}>",
        "##reference=simulated sequence, coordinates read as GRCh37",
        f"##contig=<ID={chrom},length={length_bp},assembly=GRCh37>",
        '##INFO=<ID=AC,Number=A,Type=Integer,Description="Allele count in called genotypes, for each ALT allele">',
        '##INFO=<ID=AN,Number=1,Type=Integer,Description="Total number of alleles in called genotypes">',
        '##INFO=<ID=VT,Number=.,Type=String,Description="Variant type: SNP or INDEL">',
        '##FORMAT=<ID=GT,Number=1,Type=String,Description="Phased genotype">',
        "\t".join(["#CHROM", "POS", "ID", "REF", "ALT", "QUAL", "FILTER", "INFO", "FORMAT", *samples]),
    ]
    return ("\n".join(lines) + "\n").encode()


def _call_lut() -> np.ndarray:
    """uint32 for each (a, b) code a*4+b: the 4 bytes 'a|b\\t' (3 = '.')."""
    lut = np.zeros(16, dtype=np.uint32)
    for a in range(4):
        for b in range(4):
            ca = b"." if a == _MISSING_ALLELE else str(a).encode()
            cb = b"." if b == _MISSING_ALLELE else str(b).encode()
            lut[a * 4 + b] = np.frombuffer(ca + b"|" + cb + b"\t", dtype=np.uint32)[0]
    return lut


class _BgzfSink:
    """Writes a BGZF file: `bgzip -@` in a subprocess (parallel, libdeflate), else pysam.BGZFile."""

    def __init__(self, path: Path):
        self._fh = None
        self._proc = None
        self._bgzf = None
        bgzip = shutil.which("bgzip")
        if bgzip:
            self._fh = open(path, "wb")
            threads = max(1, min(4, os.cpu_count() or 1))
            self._proc = subprocess.Popen([bgzip, "-c", "-@", str(threads)], stdin=subprocess.PIPE,
                                          stdout=self._fh, stderr=subprocess.PIPE)
        else:
            import pysam
            self._bgzf = pysam.BGZFile(str(path), "wb")

    def write(self, data) -> None:
        if self._proc is not None:
            try:
                self._proc.stdin.write(data)
            except BrokenPipeError:
                self._finish_proc()
                raise
        else:
            self._bgzf.write(data)

    def close(self) -> None:
        if self._proc is not None:
            self._proc.stdin.close()
            self._finish_proc()
        else:
            self._bgzf.close()

    def abort(self) -> None:
        if self._proc is not None:
            self._proc.kill()
            self._proc.wait()
            self._fh.close()
        elif self._bgzf is not None:
            self._bgzf.close()

    def _finish_proc(self) -> None:
        err = self._proc.stderr.read().decode(errors="replace").strip()
        rc = self._proc.wait()
        self._fh.close()
        if rc != 0:
            raise GenolakeError(one_line(f"simulate: bgzip failed writing {self._fh.name} (exit {rc}): {err or 'no message'}"))


def _write_vcf(path: Path, ts, plan: _Plan, header: bytes, chrom: str, missing_rate: float,
               rng, progress: bool) -> WrittenSites:
    import pysam
    from tqdm import tqdm

    tmp, tmp_tbi = _tmp_name(path), _tmp_name(Path(str(path) + ".tbi"))
    n_hap = ts.num_samples
    n_ind = n_hap // 2
    lut = _call_lut()
    nl_tab = np.frombuffer(b"\n", dtype=np.uint8)[0]
    width = 4 * n_ind  # bytes of genotype text per record
    chrom_b = chrom.encode()
    kept_parts: list[np.ndarray] = []
    alt_parts: list[np.ndarray] = []
    batch_of = _batches(n_ind)
    sink = _BgzfSink(tmp)
    try:
        sink.write(header)
        variants = ts.variants(copy=False)
        G = np.empty((BLOCK_SITES, n_hap), dtype=np.int8)
        codes = np.empty((BLOCK_SITES, n_ind), dtype=np.int8)
        text = np.empty((BLOCK_SITES, n_ind), dtype=np.uint32)
        n = len(plan.pos)
        bar = tqdm(total=n, unit="site", unit_scale=True, desc="writing VCF", disable=not progress,
                   file=sys.stderr, mininterval=1.0)
        for a in range(0, n, BLOCK_SITES):
            b = min(n, a + BLOCK_SITES)
            S = b - a
            for j in range(S):  # tskit decodes each site in C; this loop is per site, not per call
                G[j] = next(variants).genotypes
            g = G[:S]
            alt_field = plan.alt1[a:b].copy().astype("S9")
            # Merge pairs: allele 2 for carriers of the right neighbour's mutation only.
            for h in np.flatnonzero(plan.merge_head[a:b]):
                g1, g2 = g[h] != 0, g[h + 1] != 0
                only2 = g2 & ~g1
                if only2.any():
                    g[h][only2] = 2
                elif (g1 & ~g2).any() and g2.any():  # neighbour's carriers nested inside ours
                    g[h][g2] = 2
                else:  # identical carriers: stays bi-allelic
                    continue
                alt_field[h] = plan.alt1[a + h] + b"," + plan.alt2[a + h]
            keep = ~plan.absorbed[a:b] & g.any(axis=1)  # no record for a site nobody carries
            idx = np.flatnonzero(keep)
            gk = g[idx]  # copy, (K, 2N)
            K = len(idx)
            multi = np.flatnonzero(np.char.find(alt_field[idx], b",") >= 0)
            if missing_rate > 0 and K:
                _inject_missing(gk.reshape(K, n_ind, 2), missing_rate, batch_of, rng)
            ac1 = np.count_nonzero(gk == 1, axis=1)
            ac2 = np.count_nonzero(gk[multi] == 2, axis=1)
            # Genotype text: one uint32 per call from the lookup table, '\n' replaces the last tab.
            c = codes[:K]
            np.multiply(gk[:, 0::2], 4, out=c)
            c += gk[:, 1::2]
            an = 2 * n_ind - 2 * np.count_nonzero(c == _MISSING_CODE, axis=1)
            t = text[:K]
            np.take(lut, c, out=t)
            t.view(np.uint8)[:, -1] = nl_tab
            mv = memoryview(t).cast("B")

            pos = plan.pos[a:b][idx]
            rs = plan.rs[a:b][idx]
            ref = plan.ref[a:b][idx]
            alts = alt_field[idx]
            kinds = plan.kind[a:b][idx]
            ac_text = ac1.astype(str).astype(object)
            if len(multi):
                ac_text[multi] = [f"{x},{y}" for x, y in zip(ac1[multi], ac2)]
            parts = []
            for j in range(K):
                vt = b"INDEL" if kinds[j] in (KIND_INS, KIND_DEL) else b"SNP"
                parts.append(b"%s\t%d\t%s\t%s\t%s\t.\tPASS\tAC=%s;AN=%d;VT=%s\tGT\t" % (
                    chrom_b, pos[j], b"rs%d" % rs[j] if rs[j] else b".", ref[j], alts[j],
                    ac_text[j].encode(), an[j], vt))
                parts.append(mv[j * width:(j + 1) * width])
            sink.write(b"".join(parts))
            kept_parts.append(idx + a)
            alt_parts.append(alts)
            bar.update(S)
        bar.close()
        sink.close()
        if progress:
            print("indexing VCF (tabix)", file=sys.stderr, flush=True)
        pysam.tabix_index(str(tmp), preset="vcf", force=True, index=str(tmp_tbi))
        # Publish: drop a stale index first so the final VCF is never paired with an old .tbi.
        final_tbi = Path(str(path) + ".tbi")
        final_tbi.unlink(missing_ok=True)
        os.replace(tmp, path)
        os.replace(tmp_tbi, final_tbi)
    except BaseException:
        sink.abort()
        raise
    finally:
        tmp.unlink(missing_ok=True)
        tmp_tbi.unlink(missing_ok=True)
    kept = np.concatenate(kept_parts) if kept_parts else np.zeros(0, np.int64)
    kind = plan.kind[kept].copy()
    alt = np.concatenate(alt_parts) if alt_parts else np.zeros(0, "S9")
    kind[(kind == KIND_MULTI) & (np.char.find(alt, b",") < 0)] = KIND_SNV  # merges that stayed bi-allelic
    return WrittenSites(pos=plan.pos[kept], rs=plan.rs[kept], kind=kind, ref=plan.ref[kept], alt=alt)


def _batches(n_ind: int) -> np.ndarray:
    """Batch number of each sample: plates of consecutive samples (at least 4 batches when possible)."""
    size = max(1, min(PLATE_SIZE, n_ind // 4))
    return np.arange(n_ind) // size


def _inject_missing(calls: np.ndarray, rate: float, batch_of: np.ndarray, rng) -> None:
    """Set calls (K, N, 2) to missing in place: batch x site dropouts plus sporadic single calls."""
    K, N, _ = calls.shape
    dropped = rng.random((K, int(batch_of[-1]) + 1)) < rate * (1 - SPORADIC_MISSING_SHARE)
    calls[dropped[:, batch_of]] = _MISSING_ALLELE
    n_calls = K * N
    sporadic = rng.integers(0, n_calls, size=rng.binomial(n_calls, rate * SPORADIC_MISSING_SHARE))
    calls.reshape(n_calls, 2)[sporadic] = _MISSING_ALLELE


# ---------------------------------------------------------------------------------------------
# panel, files, logging

def _panel_text(samples, pops, genders) -> bytes:
    rows = ["sample\tpop\tsuper_pop\tgender"]
    rows += [f"{s}\t{p}\t{SUPER_POP[p]}\t{g}" for s, p, g in zip(samples, pops, genders)]
    return ("\n".join(rows) + "\n").encode()


def _tmp_name(path: Path) -> Path:
    return path.with_name(f".{path.name}.tmp-{os.getpid()}")


def _atomic_write_bytes(path: Path, data: bytes) -> None:
    tmp = _tmp_name(path)
    try:
        with open(tmp, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


class _Log:
    def __init__(self, enabled: bool):
        self.enabled = enabled
        self.t0 = time.perf_counter()

    def __call__(self, msg: str) -> None:
        if self.enabled:
            print(f"[{time.perf_counter() - self.t0:7.1f}s] {msg}", file=sys.stderr, flush=True)
