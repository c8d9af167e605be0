"""ClinVar `variant_summary.txt.gz` for a simulated cohort (the writer behind etl.simulate).

The file has the current 43-column NCBI layout (first header `#AlleleID`, last
`SCVsForAggregateOncogenicityClassification`; the older 34-column layout ends at
`AlternateAlleleVCF`). Every ClinVar variant gets two rows, GRCh37 then GRCh38, as NCBI does.

What it contains, so joins against the VCF have every case to handle:
- variants at simulated sites, with the site's REF and one of its ALTs (GRCh37 coordinates =
  the VCF's), `RS# (dbSNP)` = the VCF's rsID number, or -1 where the site has none (and for a
  few that have one: ClinVar does not always carry it);
- variants at a VCF position but with an ALT the VCF does not have (same rsID, as dbSNP does);
- variants at positions the VCF does not have;
- a few copy-number variants with `na` VCF alleles and PositionVCF -1.
GRCh38 rows are the same variants at shifted coordinates (piecewise offsets close to the real
chr22 GRCh37->GRCh38 differences). Genes are real chr22 genes; a site is given the gene nearest
to its position scaled onto chr22's q arm (so small test regions still get varied genes).
Gene symbols, GeneIDs, HGNC IDs, bands, transcripts and OMIM numbers are real; accession
numbers (RCV/SCV/ClinGen), AlleleID/VariationID and HGVS positions are synthetic.

Submitters and conflicts (so a model can learn what makes a classification contested, as in real
ClinVar; `_classify`, deterministic by the seed): each variant first gets its number of submitters
(1 for SINGLE_SUBMITTER_SHARE of them, else 2 + a geometric tail up to MAX_SUBMITTERS) and, for a
SNV, whether its name carries a missense protein change. A single-submitter record cannot conflict.
With two or more submitters the chance of "Conflicting classifications of pathogenicity" is
logistic in: the number of submitters (more labs, more chances to disagree), missense SNVs
(up), other variant types (down), the gene's number of records in this file (log scale, up for
busy genes) and the variant's ALT frequency in the cohort, when the caller's `written` has an
`af` array (per record: sum of ALT AC / AN): intermediate frequencies (INTERMEDIATE_AF) up, the
rest unchanged; variants not in the callset count as frequency 0. The other significances are
drawn from the weights below (pharmacogenes favour "drug response"); "not provided" only for a
single submitter. The review status follows: conflicting classifications, single submitter or
no assertion (one submitter), multiple submitters / expert panel / practice guideline (several).
"""

from __future__ import annotations

import gzip

import numpy as np

COLUMNS = (
    "#AlleleID", "Type", "Name", "GeneID", "GeneSymbol", "HGNC_ID", "ClinicalSignificance",
    "ClinSigSimple", "LastEvaluated", "RS# (dbSNP)", "nsv/esv (dbVar)", "RCVaccession",
    "PhenotypeIDS", "PhenotypeList", "Origin", "OriginSimple", "Assembly", "ChromosomeAccession",
    "Chromosome", "Start", "Stop", "ReferenceAllele", "AlternateAllele", "Cytogenetic",
    "ReviewStatus", "NumberSubmitters", "Guidelines", "TestedInGTR", "OtherIDs",
    "SubmitterCategories", "VariationID", "PositionVCF", "ReferenceAlleleVCF", "AlternateAlleleVCF",
    "SomaticClinicalImpact", "SomaticClinicalImpactLastEvaluated", "ReviewStatusClinicalImpact",
    "Oncogenicity", "OncogenicityLastEvaluated", "ReviewStatusOncogenicity",
    "SCVsForAggregateGermlineClassification", "SCVsForAggregateSomaticClinicalImpact",
    "SCVsForAggregateOncogenicityClassification",
)
assert len(COLUMNS) == 43

CHR22_GRCH37_LENGTH = 51_304_566
ACCESSION = {"GRCh37": "NC_000022.10", "GRCh38": "NC_000022.11"}
# GRCh38 - GRCh37 on chr22, piecewise (from: COMT +12,477; BCR -342,187; CHEK2..CYP2D6 ~ -396,000).
_GRCH38_SHIFT = ((21_500_000, 12_477), (25_000_000, -342_187), (np.inf, -396_001))

# symbol, GeneID, HGNC, GRCh37 start, end, band, transcript, phenotypes (name, ids), pharmacogene
GENES = (
    ("ADA2", 51816, "HGNC:1839", 17_660_192, 17_702_744, "22q11.1", "NM_001282225.2",
     (("Vasculitis, autoinflammation, immunodeficiency, and hematologic defects syndrome", "OMIM:615688"),), False),
    ("PRODH", 5625, "HGNC:9453", 18_900_294, 18_924_066, "22q11.21", "NM_016335.6",
     (("Hyperprolinemia, type I", "OMIM:239500"),), False),
    ("TBX1", 6899, "HGNC:11592", 19_744_226, 19_771_116, "22q11.21", "NM_080647.1",
     (("DiGeorge syndrome", "OMIM:188400"),), False),
    ("COMT", 1312, "HGNC:2228", 19_929_263, 19_957_498, "22q11.21", "NM_000754.4",
     (("Schizophrenia", "OMIM:181500"),), True),
    ("BCR", 613, "HGNC:1014", 23_522_552, 23_660_224, "22q11.23", "NM_004327.4",
     (("Chronic myelogenous leukemia, BCR-ABL1 positive", "OMIM:608232"),), False),
    ("SMARCB1", 6598, "HGNC:11103", 24_129_150, 24_176_705, "22q11.23", "NM_003073.5",
     (("Rhabdoid tumor predisposition syndrome 1", "OMIM:609322"), ("Coffin-Siris syndrome 3", "OMIM:614608")), False),
    ("CRYBB2", 1415, "HGNC:2398", 25_615_489, 25_627_836, "22q11.23", "NM_000496.3",
     (("Cataract 3 multiple types", "OMIM:601547"),), False),
    ("MN1", 4330, "HGNC:7180", 28_144_265, 28_197_486, "22q12.1", "NM_002430.3",
     (("CEBALID syndrome", "OMIM:618774"),), False),
    ("CHEK2", 11200, "HGNC:16627", 29_083_731, 29_137_822, "22q12.1", "NM_007194.4",
     (("Hereditary cancer-predisposing syndrome", "MedGen:C0027672"), ("Li-Fraumeni syndrome 2", "OMIM:609265")), False),
    ("NEFH", 4744, "HGNC:7737", 29_876_197, 29_886_852, "22q12.2", "NM_021076.4",
     (("Charcot-Marie-Tooth disease axonal type 2CC", "OMIM:616924"),), False),
    ("NF2", 4771, "HGNC:7773", 29_999_545, 30_094_589, "22q12.2", "NM_000268.4",
     (("Neurofibromatosis, type 2", "OMIM:101000"),), False),
    ("TCN2", 6948, "HGNC:11653", 31_003_067, 31_023_308, "22q12.2", "NM_000355.4",
     (("Transcobalamin II deficiency", "OMIM:275350"),), False),
    ("TIMP3", 7078, "HGNC:11822", 33_196_801, 33_259_030, "22q12.3", "NM_000362.5",
     (("Sorsby fundus dystrophy", "OMIM:136900"),), False),
    ("LARGE1", 9215, "HGNC:6511", 33_558_160, 34_318_829, "22q12.3", "NM_004737.7",
     (("Muscular dystrophy-dystroglycanopathy (congenital with brain and eye anomalies), type A6", "OMIM:613154"),), False),
    ("APOL1", 8542, "HGNC:618", 36_649_117, 36_663_577, "22q12.3", "NM_003661.4",
     (("Focal segmental glomerulosclerosis 4, susceptibility to", "OMIM:612551"),), False),
    ("MYH9", 4627, "HGNC:7579", 36_677_327, 36_784_063, "22q12.3", "NM_002473.6",
     (("MYH9-related disorder", "OMIM:155100"),), False),
    ("SOX10", 6663, "HGNC:11190", 38_368_319, 38_380_539, "22q13.1", "NM_006941.4",
     (("Waardenburg syndrome type 4C", "OMIM:613266"),), False),
    ("PLA2G6", 8398, "HGNC:9039", 38_507_502, 38_609_538, "22q13.1", "NM_003560.4",
     (("Infantile neuroaxonal dystrophy", "OMIM:256600"),), False),
    ("EP300", 2033, "HGNC:3373", 41_488_614, 41_576_081, "22q13.2", "NM_001429.4",
     (("Rubinstein-Taybi syndrome 2", "OMIM:613684"),), False),
    ("CYP2D6", 1565, "HGNC:2625", 42_522_501, 42_526_883, "22q13.2", "NM_000106.6",
     (("Codeine response", "-"), ("Tamoxifen response", "-")), True),
    ("PNPLA3", 80339, "HGNC:18590", 44_319_619, 44_360_368, "22q13.31", "NM_025225.3",
     (("Nonalcoholic fatty liver disease 1", "OMIM:613282"),), False),
    ("FBLN1", 2192, "HGNC:3600", 45_898_119, 45_997_000, "22q13.31", "NM_006486.3",
     (("Synpolydactyly 2", "OMIM:608180"),), False),
    ("TRMU", 55687, "HGNC:25481", 46_731_298, 46_753_242, "22q13.31", "NM_018006.5",
     (("Liver failure, transient infantile", "OMIM:613070"),), False),
    ("CELSR1", 9620, "HGNC:1850", 46_756_731, 46_933_067, "22q13.31", "NM_014246.4",
     (("Lymphatic malformation 9", "OMIM:619319"),), False),
    ("SBF1", 6305, "HGNC:10542", 50_883_431, 50_913_461, "22q13.33", "NM_002972.4",
     (("Charcot-Marie-Tooth disease type 4B3", "OMIM:615284"),), False),
    ("TYMP", 1890, "HGNC:3148", 50_964_181, 50_968_514, "22q13.33", "NM_001953.5",
     (("Mitochondrial DNA depletion syndrome 1 (MNGIE type)", "OMIM:603041"),), False),
    ("ARSA", 410, "HGNC:713", 51_061_182, 51_066_607, "22q13.33", "NM_000487.6",
     (("Metachromatic leukodystrophy", "OMIM:250100"),), False),
    ("SHANK3", 85358, "HGNC:14294", 51_113_070, 51_171_640, "22q13.33", "NM_033517.1",
     (("Phelan-McDermid syndrome", "OMIM:606232"),), False),
)
_GENE_MID = np.array([(g[3] + g[4]) / 2 for g in GENES])
_GENES_FROM = 16_000_000  # GRCh37 chr22: the q arm (and its genes) starts at ~16 Mb
_NOT_PROVIDED = ("not provided", "MedGen:C3661900")
_NOT_SPECIFIED = ("not specified", "MedGen:CN169374")

# (significance, weight for most genes, weight for pharmacogenes)
_SIGNIFICANCE = (
    ("Pathogenic", 12, 3), ("Likely pathogenic", 8, 2), ("Pathogenic/Likely pathogenic", 3, 1),
    ("Uncertain significance", 33, 10), ("Likely benign", 15, 5), ("Benign", 12, 5),
    ("Benign/Likely benign", 5, 2), ("drug response", 2, 60), ("risk factor", 1, 6), ("not provided", 1, 2),
)
CONFLICTING = "Conflicting classifications of pathogenicity"
_REVIEW_ONE = (("criteria provided, single submitter", 50), ("no assertion criteria provided", 15))
_REVIEW_MANY = (("criteria provided, multiple submitters, no conflicts", 25), ("reviewed by expert panel", 8),
                ("practice guideline", 2))
SINGLE_SUBMITTER_SHARE = 0.55
MAX_SUBMITTERS = 15
MISSENSE_SHARE = 0.6  # SNVs whose name carries a protein change (p.Xxx123Yyy)
INTERMEDIATE_AF = (0.005, 0.1)
# logit of P(conflict | two or more submitters): intercept and weights (see the module docstring)
_CONFLICT_LOGIT = dict(base=-2.8, per_submitter=0.3, missense=1.4, not_snv=-0.8, gene_log2=0.6,
                       intermediate_af=1.6)
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_AA = ("Ala", "Arg", "Asn", "Asp", "Cys", "Gln", "Glu", "Gly", "His", "Ile", "Leu", "Lys", "Met",
       "Phe", "Pro", "Ser", "Thr", "Trp", "Tyr", "Val")


def grch38_position(pos37: int) -> int:
    """The GRCh38 coordinate given to a GRCh37 position (piecewise constant shift)."""
    for upper, shift in _GRCH38_SHIFT:
        if pos37 < upper:
            return max(1, int(pos37 + shift))
    raise AssertionError("unreachable")


def write_clinvar(path, written, ref_seq: np.ndarray, *, length_bp: int, contig: str, rng) -> int:
    """Write the gzip TSV to `path` (not atomic: the caller renames it). Returns data rows written."""
    n_written = len(written.pos)
    n_main = min(max(200, min(3000, n_written // 300)), n_written // 2)
    if n_written and n_main == 0:
        n_main = 1
    n_mismatch = max(1, n_main // 50)
    n_absent = max(2, n_main // 20)
    n_cnv = max(2, n_main // 200)

    variants = []  # dicts: pos, ref, alt, rs, type, (end for CNVs)
    main = np.sort(rng.choice(n_written, size=n_main, replace=False)) if n_main else np.zeros(0, int)
    for i in main:
        alts = written.alt[i].decode().split(",")
        alt = alts[int(rng.integers(0, len(alts)))]
        rs = int(written.rs[i]) if rng.random() > 0.05 else 0  # ClinVar sometimes lacks the rsID
        variants.append(dict(pos=int(written.pos[i]), ref=written.ref[i].decode(), alt=alt, rs=rs))
    # Same position and rsID, an ALT the VCF does not have (SNV sites only).
    snv = np.flatnonzero((np.char.str_len(written.ref) == 1)
                         & ((np.char.str_len(written.alt) == 1) | (np.char.find(written.alt, b",") >= 0)))
    for i in (rng.choice(snv, size=min(n_mismatch, len(snv)), replace=False) if len(snv) else []):
        ref = written.ref[i].decode()
        taken = {ref, *written.alt[i].decode().split(",")}
        free = [b for b in "ACGT" if b not in taken]
        if free:
            variants.append(dict(pos=int(written.pos[i]), ref=ref, alt=free[int(rng.integers(0, len(free)))],
                                 rs=int(written.rs[i])))
    # Positions the VCF does not have; some with an rsID of their own (above every VCF rsID).
    occupied = set(written.pos.tolist())
    next_rs = int(written.rs.max()) + 1 if n_written else 1
    n_added = 0
    for p in rng.integers(1, length_bp + 1, size=n_absent * 4):
        if n_added >= n_absent:
            break
        p = int(p)
        if p in occupied:
            continue
        occupied.add(p)
        ref = chr(ref_seq[p - 1])
        alt = "ACGT"[("ACGT".index(ref) + int(rng.integers(1, 4))) % 4]
        rs = 0
        if rng.random() < 0.5:
            rs, next_rs = next_rs + int(rng.integers(0, 1000)), next_rs + 1000
        variants.append(dict(pos=p, ref=ref, alt=alt, rs=rs))
        n_added += 1
    # Copy-number variants: no VCF alleles (na), PositionVCF -1.
    for _ in range(n_cnv):
        start = int(rng.integers(1, max(2, length_bp - 1000)))
        end = min(length_bp, start + int(rng.integers(1000, max(1001, length_bp // 10))))
        variants.append(dict(pos=start, end=end, ref="na", alt="na", rs=0,
                             cnv="copy number loss" if rng.random() < 0.6 else "copy number gain"))

    af = getattr(written, "af", None)
    if af is not None:  # the callset's frequency of each variant's site (0: not in the callset)
        for v, i in zip(variants, main):
            v["af"] = float(af[i])
    _classify(variants, rng, length_bp, with_af=af is not None)

    # Identifiers: increasing random numbers handed out in shuffled order; rows sorted by AlleleID.
    k = len(variants)
    variation_ids = np.cumsum(rng.integers(1, 2000, size=k)) + 100
    order = rng.permutation(k)
    rows = []
    for rank, v in zip(order, variants):
        vid = int(variation_ids[rank])
        rows.extend(_rows_for(v, vid, rng, length_bp, contig))
    rows.sort(key=lambda r: (int(r[0]), r[16]))
    with open(path, "wb") as raw, gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0) as gz:
        gz.write(("\t".join(COLUMNS) + "\n").encode())
        for r in rows:
            gz.write(("\t".join(r) + "\n").encode())
    return len(rows)


def _pick(rng, table, col=1):
    w = np.array([t[col] for t in table], dtype=float)
    return table[int(rng.choice(len(table), p=w / w.sum()))][0]


def _gene_of(pos: int, length_bp: int) -> int:
    """Index in GENES of the gene nearest to `pos` scaled onto chr22's gene-bearing q arm
    (_GENES_FROM..end): chr22's first 16 Mb (the acrocentric p arm) hold no genes, and scaling over
    them gave the first gene a third of every simulated release; now no gene has over ~7 %."""
    at = _GENES_FROM + pos * (CHR22_GRCH37_LENGTH - _GENES_FROM) / length_bp
    return int(np.argmin(np.abs(_GENE_MID - at)))


def _classify(variants: list[dict], rng, length_bp: int, *, with_af: bool) -> None:
    """Give each variant its gene, submitters, missense flag, significance and review status."""
    for v in variants:
        v["gene"] = None if "cnv" in v else _gene_of(v["pos"], length_bp)
        v["snv"] = "cnv" not in v and len(v["ref"]) == 1 and len(v["alt"]) == 1
    records = np.bincount([v["gene"] for v in variants if v["gene"] is not None], minlength=len(GENES))
    typical = float(np.mean(records[records > 0])) if records.any() else 1.0
    w = _CONFLICT_LOGIT
    for v in variants:
        one = rng.random() < SINGLE_SUBMITTER_SHARE
        v["n_sub"] = 1 if one else 2 + min(int(rng.geometric(0.35)) - 1, MAX_SUBMITTERS - 2)
        v["missense"] = bool(v["snv"] and rng.random() < MISSENSE_SHARE)
        pharmaco = v["gene"] is not None and GENES[v["gene"]][8]
        conflict = False
        if v["n_sub"] >= 2:
            gene_term = 0.0 if v["gene"] is None else float(np.clip(np.log2(records[v["gene"]] / typical), -2, 2))
            lo, hi = INTERMEDIATE_AF
            z = (w["base"] + w["per_submitter"] * min(v["n_sub"] - 2, 8) + w["missense"] * v["missense"]
                 + w["not_snv"] * (not v["snv"]) + w["gene_log2"] * gene_term
                 + w["intermediate_af"] * (with_af and lo <= v.get("af", 0.0) <= hi))
            conflict = rng.random() < 1.0 / (1.0 + np.exp(-z))
        if conflict:
            v["sig"], v["review"] = CONFLICTING, "criteria provided, conflicting classifications"
            continue
        choices = _SIGNIFICANCE if v["n_sub"] == 1 else tuple(t for t in _SIGNIFICANCE if t[0] != "not provided")
        v["sig"] = _pick(rng, choices, 2 if pharmaco else 1)
        if v["sig"] == "not provided":
            v["review"] = "no classification provided"
        else:
            v["review"] = _pick(rng, _REVIEW_ONE if v["n_sub"] == 1 else _REVIEW_MANY)


def _rows_for(v: dict, variation_id: int, rng, length_bp: int, contig: str) -> list[tuple[str, ...]]:
    symbol, gene_id, hgnc, _, _, band, tx, phenos, pharmaco = GENES[_gene_of(v["pos"], length_bp)]
    sig, review, n_sub = v["sig"], v["review"], v["n_sub"]
    clinsig_simple = {"not provided": "-1"}.get(
        sig, "1" if ("athogenic" in sig and "Conflicting" not in sig) or "Conflicting" in sig else "0")
    if sig == "not provided":
        pheno = [_NOT_PROVIDED]
    else:
        r = rng.random()
        pheno = [phenos[int(rng.integers(0, len(phenos)))]] if r < 0.55 else (
            [_NOT_PROVIDED] if r < 0.8 else ([_NOT_SPECIFIED] if r < 0.9 else [*phenos, _NOT_PROVIDED]))
    last_eval = "-" if rng.random() < 0.1 else (
        f"{_MONTHS[int(rng.integers(0, 12))]} {int(rng.integers(1, 29)):02d}, {int(rng.integers(2012, 2025))}")
    allele_id = variation_id + 15_039
    rcv = "|".join(f"RCV{int(rng.integers(1, 4_500_000)):09d}" for _ in range(min(len(pheno), 3)))
    scvs = "|".join(f"SCV{int(rng.integers(1, 6_000_000)):09d}" for _ in range(n_sub))
    other = f"ClinGen:CA{int(rng.integers(100_000, 900_000_000))}" if rng.random() < 0.6 else "-"
    tested = "Y" if rng.random() < 0.15 else "N"
    categories = str(int(rng.choice([1, 2, 3], p=[0.2, 0.55, 0.25])))

    pos, ref, alt = v["pos"], v["ref"], v["alt"]
    cdna = int(rng.integers(1, 4000))
    if "cnv" in v:
        vtype = v["cnv"]
        copies = "x1" if vtype == "copy number loss" else "x3"
        name = f"GRCh37/hg19 {band}(chr{contig}:{pos}-{v['end']}){copies}"
        gene_id, symbol, hgnc, rs_text = "-1", "-", "-", "-1"
        start37, stop37, pvcf, ref_vcf, alt_vcf = pos, v["end"], None, "na", "na"
    else:
        rs_text = str(v["rs"]) if v["rs"] else "-1"
        if len(ref) == 1 and len(alt) == 1:
            vtype = "single nucleotide variant"
            name = f"{tx}({symbol}):c.{cdna}{ref}>{alt}"
            if v["missense"]:
                codon = (cdna + 2) // 3
                a1, a2 = rng.choice(len(_AA), size=2, replace=False)
                name += f" (p.{_AA[a1]}{codon}{_AA[a2]})"
            start37 = stop37 = pos
        elif len(ref) > len(alt):
            vtype = "Deletion"
            d = len(ref) - 1
            name = f"{tx}({symbol}):c.{cdna}del" if d == 1 else f"{tx}({symbol}):c.{cdna}_{cdna + d - 1}del"
            start37, stop37 = pos + 1, pos + d
        else:
            vtype = "Insertion"
            name = f"{tx}({symbol}):c.{cdna}_{cdna + 1}ins{alt[1:]}"
            start37, stop37 = pos, pos + 1
        pvcf, ref_vcf, alt_vcf = pos, ref, alt

    rows = []
    for assembly in ("GRCh37", "GRCh38"):
        def at(p):
            return p if assembly == "GRCh37" else grch38_position(p)
        rows.append(tuple(str(x) for x in (
            allele_id, vtype, name, gene_id, symbol, hgnc, sig, clinsig_simple, last_eval, rs_text, "-",
            rcv, "|".join(p[1] for p in pheno), "|".join(p[0] for p in pheno), "germline", "germline",
            assembly, ACCESSION[assembly] if contig == "22" else "-", contig, at(start37), at(stop37),
            "na", "na", band, review, n_sub, "-", tested, other, categories, variation_id,
            -1 if pvcf is None else at(pvcf), ref_vcf, alt_vcf,
            "-", "-", "-", "-", "-", "-", scvs, "-", "-")))
    return rows
