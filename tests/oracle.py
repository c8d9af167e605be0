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
