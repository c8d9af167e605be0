"""Independent answers to check genolake against: bcftools, and plain readings of the files.

bcftools needs every contig declared; a file without ##contig lines is bgzipped and
tabix-indexed first, so bcftools reads the contigs from the index (shared/data/README.md).
"""

from __future__ import annotations

import gzip
import shutil
import subprocess
from pathlib import Path

from genolake.lake.coords import normalize_contig


def indexed_copy(vcf: Path, workdir: Path) -> Path:
    """A bgzipped, tabix-indexed copy of `vcf` in `workdir`."""
    workdir.mkdir(parents=True, exist_ok=True)
    out = workdir / (Path(vcf).name.removesuffix(".gz").removesuffix(".vcf") + ".vcf.gz")
    if not out.exists():
        with open(vcf, "rb") as fh:
            magic = fh.read(2)
        if magic == b"\x1f\x8b":
            subprocess.run(f"bgzip -dc '{vcf}' | bgzip -c > '{out}'", shell=True, check=True)
        else:
            subprocess.run(f"bgzip -c '{vcf}' > '{out}'", shell=True, check=True)
        subprocess.run(["tabix", "-f", "-p", "vcf", str(out)], check=True)
    return out


def bcftools_counts(vcf: Path, workdir: Path, samples: list[str] | None = None) -> dict[tuple, tuple[int, int]]:
    """{(contig, pos, ref, alt): (AC, AN)} from `bcftools +fill-tags -t AC,AN` on the unsplit records."""
    src = indexed_copy(vcf, workdir)
    view = ["bcftools", "view", "-Ou", str(src)]
    if samples is not None:
        sfile = workdir / f"samples-{abs(hash(tuple(samples)))}.txt"
        sfile.write_text("\n".join(samples) + "\n")
        view = ["bcftools", "view", "-Ou", "-S", str(sfile), str(src)]
    cmd = (" ".join(f"'{a}'" for a in view) +
           " | bcftools +fill-tags -Ou -- -t AC,AN | bcftools query -f '%CHROM\\t%POS\\t%REF\\t%ALT\\t%AN\\t%AC\\n'")
    out = subprocess.run(cmd, shell=True, check=True, capture_output=True, text=True).stdout
    counts: dict[tuple, tuple[int, int]] = {}
    for line in out.splitlines():
        chrom, pos, ref, alts, an, acs = line.split("\t")
        if alts == ".":
            continue
        # fill-tags writes no AC/AN for a record without GT: no called alleles, so 0 and 0
        an_n = 0 if an == "." else int(an)
        ac_list = ["0"] * len(alts.split(",")) if acs == "." else acs.split(",")
        for alt, ac in zip(alts.split(","), ac_list):
            counts[(normalize_contig(chrom), int(pos), ref, alt)] = (int(ac), an_n)
    return counts


def vcf_samples(vcf: Path) -> list[str]:
    opener = gzip.open if open(vcf, "rb").read(2) == b"\x1f\x8b" else open
    with opener(vcf, "rt") as fh:
        for line in fh:
            if line.startswith("#CHROM"):
                return line.rstrip("\n").split("\t")[9:]
    return []


def have_bcftools() -> bool:
    return shutil.which("bcftools") is not None and shutil.which("tabix") is not None


def _open_text(vcf: Path):
    with open(vcf, "rb") as fh:
        gz = fh.read(2) == b"\x1f\x8b"
    return gzip.open(vcf, "rt") if gz else open(vcf, "rt")


def plain_records(vcf: Path):
    """(samples, contig, pos, ref, alts, calls) per record with an ALT, read with str.split.

    calls: (sample, alleles as written, phased) per sample. No GT in FORMAT: the call is missing
    with unknown ploidy, taken as diploid (./.); a sample field without the GT entry is '.'."""
    samples: list[str] = []
    with _open_text(vcf) as fh:
        for line in fh:
            if line.startswith("#CHROM"):
                samples = line.rstrip("\n").split("\t")[9:]
                continue
            if line.startswith("#") or not line.strip():
                continue
            cols = line.rstrip("\n").split("\t")
            if cols[4] == ".":
                continue
            fmt = cols[8].split(":") if len(cols) > 8 else []
            gi = fmt.index("GT") if "GT" in fmt else None
            calls = []
            for s, field in zip(samples, cols[9:9 + len(samples)]):
                parts = field.split(":")
                gt = "./." if gi is None else (parts[gi] if gi < len(parts) else ".")
                calls.append((s, gt.replace("|", "/").split("/"), "|" in gt))
            yield normalize_contig(cols[0]), int(cols[1]), cols[3], cols[4].split(","), calls


def plain_stored_calls(vcf: Path) -> dict[tuple, dict]:
    """The stored calls: {(sample, contig, pos, ref, alt): call}. A call is stored unless diploid,
    fully called and without the ALT (DESIGN.md); each value has alt_dosage, called_alleles,
    ploidy, phased."""
    out: dict[tuple, dict] = {}
    for contig, pos, ref, alts, calls in plain_records(vcf):
        for s, alleles, phased in calls:
            for a, alt in enumerate(alts, start=1):
                dosage = sum(1 for x in alleles if x == str(a))
                called = sum(1 for x in alleles if x != ".")
                if len(alleles) == 2 and called == 2 and dosage == 0:
                    continue
                out[(s, contig, pos, ref, alt)] = {
                    "alt_dosage": dosage, "called_alleles": called, "ploidy": len(alleles), "phased": phased}
    return out


def plain_site_counts(vcf: Path, samples: list[str] | None = None) -> dict[tuple, dict]:
    """n_het, n_hom_alt, n_missing per split allele, over `samples` (default: all)."""
    keep = None if samples is None else set(samples)
    out: dict[tuple, dict] = {}
    for contig, pos, ref, alts, calls in plain_records(vcf):
        chosen = [alleles for s, alleles, _ in calls if keep is None or s in keep]
        for a, alt in enumerate(alts, start=1):
            het = hom = miss = 0
            for alleles in chosen:
                if "." in alleles:
                    miss += 1
                    continue
                d = sum(1 for x in alleles if x == str(a))
                if d == len(alleles):
                    hom += 1
                elif d > 0:
                    het += 1
            out[(contig, pos, ref, alt)] = {"n_het": het, "n_hom_alt": hom, "n_missing": miss}
    return out


def plain_counts(vcf: Path, samples: list[str] | None = None) -> dict[tuple, tuple[int, int]]:
    """AC and AN per split allele, all ploidies counted as written."""
    keep = None if samples is None else set(samples)
    out: dict[tuple, tuple[int, int]] = {}
    for contig, pos, ref, alts, calls in plain_records(vcf):
        chosen = [alleles for s, alleles, _ in calls if keep is None or s in keep]
        an = sum(1 for c in chosen for x in c if x != ".")
        for a, alt in enumerate(alts, start=1):
            out[(contig, pos, ref, alt)] = (sum(1 for c in chosen for x in c if x == str(a)), an)
    return out


def polyploid_sites(vcf: Path) -> set[tuple]:
    """(contig, pos) of records with a call of more than two alleles: bcftools counts those as
    diploid (DESIGN.md), so they are checked against the plain reading only."""
    sites = set()
    with _open_text(vcf) as fh:
        for line in fh:
            if line.startswith("#"):
                continue
            cols = line.rstrip("\n").split("\t")
            if any(f.split(":")[0].replace("|", "/").count("/") >= 2 for f in cols[9:]):
                sites.add((normalize_contig(cols[0]), int(cols[1])))
    return sites
