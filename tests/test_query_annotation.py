"""Gene placement, ClinVar annotation and the drug-response report, checked against plain readings.

Oracles, independent of the lake: the VCFs read with `str.split` (tests/oracle.py), ClinVar read
with gzip + `split('\\t')`, gene files written here by hand. The lake under test holds:
- `sim`: the simulated 60-sample cohort with its panel;
- `sub`: every third of those samples (20) over the first 200 kb (the same sample IDs in another
  dataset, so every join must carry the dataset);
- `mixed`: shared/data/vcf/mixed_ploidy.vcf.gz (haploid, triploid, missing, multi-allelic calls);
- ClinVar: the simulated variant_summary plus hand-made rows on the `mixed` sites (drug response
  records, two records sharing one CPRA, a record without VCF alleles).
"""

from __future__ import annotations

import gzip
import subprocess
from collections import Counter, defaultdict
from pathlib import Path

import pytest

import genolake
from genolake.lake.coords import normalize_contig
from genolake.lake.errors import QueryError
from genolake.queries.analyses import annotation
from genolake.queries.analyses.annotation import RANKED_BY_KEY, significance_tier, annotate, drug_response_report
from genolake.queries.cohorts import Cohort
from genolake.queries.engines import connect
from genolake.queries.genes import gene_region
from genolake.queries.regions import Region, parse_region

from conftest import CLINVAR_EXCERPT, VCF_DIR
from oracle import have_bcftools, plain_counts, plain_records

MIXED_VCF = VCF_DIR / "mixed_ploidy.vcf.gz"
pytestmark = pytest.mark.skipif(not have_bcftools(), reason="bcftools/tabix not on PATH")


# ------------------------------------------------------------------------- plain readings


def read_clinvar_tsv(path: Path) -> list[dict[str, str]]:
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        lines = fh.read().splitlines()
    header = lines[0].lstrip("#").split("\t")
    return [dict(zip(header, line.split("\t"), strict=True)) for line in lines[1:]]


def _text(v: str):
    return None if v in ("", "-") else v


def _int(v: str):
    try:
        return int(v)
    except ValueError:
        return None


def clinvar_by_cpra(rows, assembly="GRCh37") -> dict[tuple, list[dict]]:
    """ClinVar records with VCF-style alleles, keyed (contig, pos, ref, alt)."""
    out: dict[tuple, list[dict]] = defaultdict(list)
    for r in rows:
        pos = _int(r["PositionVCF"])
        ref, alt = r["ReferenceAlleleVCF"], r["AlternateAlleleVCF"]
        if r["Assembly"] != assembly or pos is None or pos <= 0 or ref in ("na", "-", "") or alt in ("na", "-", ""):
            continue
        if r["Chromosome"] in ("na", "Un", ""):
            continue
        out[(normalize_contig(r["Chromosome"]), pos, ref, alt)].append(r)
    return out


def vcf_variants(vcf: Path) -> dict[tuple, dict]:
    """(contig, pos, ref, alt) -> rsid, ac, an from a plain reading."""
    counts = plain_counts(vcf)
    ids = {}
    opener = gzip.open if vcf.read_bytes()[:2] == b"\x1f\x8b" else open
    with opener(vcf, "rt") as fh:
        for line in fh:
            if line.startswith("#"):
                continue
            cols = line.split("\t", 5)
            rs = next((x for x in cols[2].split(";") if x.startswith("rs")), None)
            for alt in cols[4].split(","):
                ids[(normalize_contig(cols[0]), int(cols[1]), cols[3], alt)] = rs
    return {k: {"rsid": ids[k], "ac": ac, "an": an} for k, (ac, an) in counts.items()}


def label(alleles: list[str], a: int) -> str:
    """The split allele's genotype: this ALT -> 1, any other called allele -> 0, missing first."""
    mapped = ["." if x == "." else "1" if x == str(a) else "0" for x in alleles]
    return "/".join(sorted(mapped, key=".01".index))


def plain_genotype_counts(vcf: Path, keys: set[tuple], members: set[str] | None) -> dict[tuple, Counter]:
    out: dict[tuple, Counter] = {}
    for contig, pos, ref, alts, calls in plain_records(vcf):
        for a, alt in enumerate(alts, start=1):
            if (contig, pos, ref, alt) in keys:
                out[(contig, pos, ref, alt)] = Counter(
                    label(alleles, a) for s, alleles, _ in calls if members is None or s in members)
    return out


# ------------------------------------------------------------------------------- fixtures


def _extra_clinvar_rows(header: list[str], template: dict[str, str]) -> list[dict[str, str]]:
    """Hand-made GRCh37 records on mixed_ploidy.vcf.gz's sites (contig 1)."""
    spec = [  # pos, ref, alt, significance, variation id
        (1, "A", "C", "drug response", 990001), (1, "A", "G", "Pathogenic; drug response", 990002),
        (2, "A", "C", "Drug Response", 990003), (3, "A", "C", "drug response", 990004),
        (3, "A", "C", "drug response", 990005),  # a second record of the same CPRA
        (3, "A", "C", "Benign", 990011),  # and a third, not about drug response
        (4, "A", "C", "drug response", 990006), (5, "A", "C", "drug response", 990007),
        (6, "A", "G", "drug response", 990008), (7, "A", "C", "drug response", 990009),  # 7: not in VCF
        (6, "A", "T", "drug response", 990010),  # a position the VCF has, an ALT it does not
    ]
    rows = []
    for pos, ref, alt, sig, vid in spec:
        r = dict(template)
        r.update({"AlleleID": str(vid + 5000), "GeneSymbol": "MIXG", "GeneID": "-1", "HGNC_ID": "-",
                  "ClinicalSignificance": sig, "RS# (dbSNP)": str(vid), "PhenotypeList": f"phenotype {vid}",
                  "Assembly": "GRCh37", "ChromosomeAccession": "NC_000001.10", "Chromosome": "1",
                  "Start": str(pos), "Stop": str(pos), "PositionVCF": str(pos), "ReferenceAlleleVCF": ref,
                  "AlternateAlleleVCF": alt, "VariationID": str(vid), "ReviewStatus": "criteria provided, single submitter"})
        rows.append(r)
    # no VCF-style alleles at a VCF site: must never join
    r = dict(rows[0])
    r.update({"AlleleID": "996000", "VariationID": "996000", "PositionVCF": "-1", "ReferenceAlleleVCF": "na",
              "AlternateAlleleVCF": "na", "Start": "3", "Stop": "3"})
    rows.append(r)
    return rows


def _write_clinvar(path: Path, header: list[str], rows: list[dict[str, str]]) -> Path:
    text = "#" + "\t".join(header) + "\n" + "".join("\t".join(r[h] for h in header) + "\n" for r in rows)
    path.write_bytes(gzip.compress(text.encode()))
    return path


@pytest.fixture(scope="module")
def world(sim_cohort, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("annot")
    # ClinVar: the simulated release plus the hand-made rows
    with gzip.open(sim_cohort.clinvar, "rt") as fh:
        header = fh.readline().rstrip("\n").lstrip("#").split("\t")
    sim_rows = read_clinvar_tsv(sim_cohort.clinvar)
    clinvar_rows = sim_rows + _extra_clinvar_rows(header, sim_rows[0])
    clinvar = _write_clinvar(tmp / "variant_summary.txt.gz", header, clinvar_rows)
    # `sub`: 20 samples, first 200 kb
    samples = plain_samples(sim_cohort.vcf)[::3]  # 20 samples, every population
    sub = tmp / "sub.vcf.gz"
    subprocess.run(["bcftools", "view", "-s", ",".join(samples), "-r", "22:1-200000", "-Oz", "-o", str(sub),
                    str(sim_cohort.vcf)], check=True)
    sub_panel = tmp / "sub.panel"
    panel_lines = sim_cohort.panel.read_text().splitlines()
    sub_panel.write_text("\n".join([panel_lines[0]] + [ln for ln in panel_lines[1:]
                                                       if ln.split("\t")[0] in samples]) + "\n")

    lake = genolake.init_lake(tmp / "lake")
    genolake.ingest_vcf(lake, sim_cohort.vcf, "sim", panel=sim_cohort.panel, workers=1)
    genolake.ingest_vcf(lake, sub, "sub", panel=sub_panel, workers=1)
    genolake.ingest_vcf(lake, MIXED_VCF, "mixed", workers=1)
    genolake.ingest_clinvar(lake, clinvar)
    engine = connect(lake)
    panel = {ln.split("\t")[0]: ln.split("\t")[2] for ln in panel_lines[1:] if ln.strip()}
    yield {"engine": engine, "clinvar_rows": clinvar_rows, "vcfs": {"sim": sim_cohort.vcf, "sub": sub,
           "mixed": MIXED_VCF}, "panel": panel, "tmp": tmp, "sim_rows": sim_rows}
    engine.close()


def plain_samples(vcf: Path) -> list[str]:
    with gzip.open(vcf, "rt") as fh:
        for line in fh:
            if line.startswith("#CHROM"):
                return line.rstrip("\n").split("\t")[9:]
    return []


@pytest.fixture(scope="module")
def excerpt_engine(tmp_path_factory):
    lake = genolake.init_lake(tmp_path_factory.mktemp("excerpt") / "lake")
    genolake.ingest_clinvar(lake, CLINVAR_EXCERPT)
    engine = connect(lake)
    yield engine
    engine.close()


def span(region: Region) -> tuple:
    return (region.contig, region.start, region.end)


# ---------------------------------------------------------------------------- gene_region


def expected_gene_span(rows, symbol: str, assembly: str):
    """min(Start)..max(Stop) of the single-gene records of `symbol`, computed from the TSV."""
    hits = [r for r in rows if r["Assembly"] == assembly and r["GeneSymbol"].upper() == symbol.upper()
            and _int(r["Start"]) and _int(r["Stop"]) and _int(r["Start"]) > 0]
    if not hits:
        return None
    contigs = Counter(normalize_contig(r["Chromosome"]) for r in hits)
    assert len(contigs) == 1, "the fixtures put each gene on one contig"
    return (next(iter(contigs)), min(int(r["Start"]) for r in hits), max(int(r["Stop"]) for r in hits))


@pytest.mark.parametrize("assembly", ["GRCh37", "GRCh38"])
def test_gene_region_from_clinvar_matches_the_file(world, assembly):
    engine, rows = world["engine"], world["clinvar_rows"]
    symbols = sorted({r["GeneSymbol"] for r in rows if r["Assembly"] == assembly and r["GeneSymbol"] not in ("-", "")})
    assert len(symbols) >= 5
    for sym in symbols:
        want = expected_gene_span(rows, sym, assembly)
        assert span(gene_region(engine, sym, assembly=assembly)) == want, sym
        assert span(gene_region(engine, sym.lower(), assembly=assembly)) == want, sym


def test_gene_region_real_clinvar_excerpt(excerpt_engine):
    rows = read_clinvar_tsv(CLINVAR_EXCERPT)
    for sym in ("AP5Z1", "ZNF592", "FOXRED1", "ABHD12"):
        for assembly in ("GRCh37", "GRCh38"):
            want = expected_gene_span(rows, sym, assembly)
            assert want is not None
            assert span(gene_region(excerpt_engine, sym, assembly=assembly)) == want
    # AP5Z1 has two records on GRCh37 with different extents: the span covers both
    assert span(gene_region(excerpt_engine, "ap5z1")) == ("7", 4820844, 4827374)
    # ABHD12's record is a range without VCF alleles: Start..Stop still place it
    assert span(gene_region(excerpt_engine, "ABHD12")) == ("20", 25364147, 25378237)


def test_multi_gene_records_used_only_without_single_gene_ones(tmp_path):
    rows = read_clinvar_tsv(CLINVAR_EXCERPT)
    with gzip.open(CLINVAR_EXCERPT, "rt") as fh:
        header = fh.readline().rstrip("\n").lstrip("#").split("\t")
    big = dict(rows[0])  # a large CNV over AP5Z1 and a made-up neighbour: "AP5Z1;NEWG1"
    big.update({"AlleleID": "888001", "VariationID": "888001", "GeneSymbol": "AP5Z1;NEWG1", "Start": "4000000",
                "Stop": "6000000", "PositionVCF": "-1", "ReferenceAlleleVCF": "na", "AlternateAlleleVCF": "na"})
    lake = genolake.init_lake(tmp_path / "lake")
    genolake.ingest_clinvar(lake, _write_clinvar(tmp_path / "vs.txt.gz", header, rows + [big]))
    with connect(lake) as engine:
        assert span(gene_region(engine, "AP5Z1")) == ("7", 4820844, 4827374)  # single-gene records win
        assert span(gene_region(engine, "newg1")) == ("7", 4000000, 6000000)  # only a multi-gene record
        with pytest.raises(QueryError, match="unknown gene 'NEWG'"):
            gene_region(engine, "NEWG")  # a part must match whole, not as a prefix


def test_unknown_gene_suggests_close_symbols(world, excerpt_engine):
    with pytest.raises(QueryError) as err:
        gene_region(world["engine"], "COMTT")
    msg = str(err.value)
    assert msg.startswith("unknown gene 'COMTT' in ClinVar GRCh37 records")
    assert "COMT" in msg.split("records", 1)[1]
    with pytest.raises(QueryError, match=r"unknown gene 'FOXRED' in ClinVar GRCh38 records.*FOXRED1"):
        gene_region(excerpt_engine, "FOXRED", assembly="GRCh38")
    with pytest.raises(QueryError, match=r"unknown gene 'QQQQQQ' in ClinVar GRCh37 records$"):
        gene_region(excerpt_engine, "QQQQQQ")
    with pytest.raises(QueryError, match="no ClinVar NCBI36 records"):
        gene_region(excerpt_engine, "AP5Z1", assembly="NCBI36")


def test_no_clinvar_and_no_gene_file(tmp_path):
    lake = genolake.init_lake(tmp_path / "lake")
    with connect(lake) as engine:
        with pytest.raises(QueryError, match=r"ingest ClinVar.*--genes FILE"):
            gene_region(engine, "COMT")
        with pytest.raises(QueryError, match=r"ingest ClinVar.*--genes FILE"):
            annotate(engine, gene="COMT")


BED = """track name=genes description="hand made"
browser position chr22:1-1000
chr22\t19929262\t19957498\tCOMT\t0\t+
chr22\t100\t200\tTINY\t0\t-
chr22\t300\t400\tTINY\t0\t-
chr7\t4820843\t4827374\tAP5Z1\t0\t+
"""

GTF = """#!genome-build GRCh37
22\tHAVANA\tgene\t19929263\t19957498\t.\t+\t.\tgene_id "ENSG00000093010.14"; gene_type "protein_coding"; gene_name "COMT";
22\tHAVANA\ttranscript\t19929263\t19957498\t.\t+\t.\tgene_id "ENSG00000093010.14"; transcript_id "ENST1"; gene_name "COMT";
22\tHAVANA\texon\t19000000\t19000100\t.\t+\t.\tgene_id "ENSG00000093010.14"; transcript_id "ENST1"; gene_name "COMT";
chr22\tHAVANA\tgene\t101\t200\t.\t-\t.\tgene_id "ENSG00000000001"; gene_name "TINY";
"""

GFF3 = """##gff-version 3
22\tensembl\tgene\t19929263\t19957498\t.\t+\t.\tID=gene:ENSG00000093010;Name=COMT;biotype=protein_coding
22\tensembl\tmRNA\t19929263\t19957498\t.\t+\t.\tID=transcript:ENST1;Parent=gene:ENSG00000093010;Name=COMT-201
22\tensembl\tncRNA_gene\t5001\t6000\t.\t+\t.\tID=gene:ENSG00000000002;Name=LNC1
"""


def test_bed_gene_file_is_zero_based(world, tmp_path):
    engine = world["engine"]
    bed = tmp_path / "genes.bed"
    bed.write_text(BED)
    assert span(gene_region(engine, "COMT", genes_file=bed)) == ("22", 19929263, 19957498)
    assert span(gene_region(engine, "comt", genes_file=str(bed))) == ("22", 19929263, 19957498)
    assert span(gene_region(engine, "TINY", genes_file=bed)) == ("22", 101, 400)  # two lines: their span
    assert span(gene_region(engine, "AP5Z1", genes_file=bed)) == ("7", 4820844, 4827374)
    gz = tmp_path / "genes.bed.gz"
    gz.write_bytes(gzip.compress(BED.encode()))
    assert span(gene_region(engine, "COMT", genes_file=gz)) == ("22", 19929263, 19957498)
    with pytest.raises(QueryError, match=r"unknown gene 'COMTX' in .*genes\.bed.*COMT"):
        gene_region(engine, "COMTX", genes_file=bed)
    # the file wins over ClinVar, and ClinVar is not needed at all
    with pytest.raises(QueryError, match="unknown gene 'ADA2'"):
        gene_region(engine, "ADA2", genes_file=bed)


def test_gtf_and_gff3_gene_files_are_one_based(world, tmp_path):
    engine = world["engine"]
    gtf = tmp_path / "genes.gtf"
    gtf.write_text(GTF)
    # the gene line, not the exon that lies outside it (exons are not genes)
    assert span(gene_region(engine, "COMT", genes_file=gtf)) == ("22", 19929263, 19957498)
    assert span(gene_region(engine, "ENSG00000093010", genes_file=gtf)) == ("22", 19929263, 19957498)
    assert span(gene_region(engine, "ENSG00000093010.14", genes_file=gtf)) == ("22", 19929263, 19957498)
    assert span(gene_region(engine, "tiny", genes_file=gtf)) == ("22", 101, 200)
    gff = tmp_path / "genes.gff3.gz"
    gff.write_bytes(gzip.compress(GFF3.encode()))
    assert span(gene_region(engine, "COMT", genes_file=gff)) == ("22", 19929263, 19957498)
    assert span(gene_region(engine, "LNC1", genes_file=gff)) == ("22", 5001, 6000)
    with pytest.raises(QueryError, match="unknown gene 'COMT-201'"):
        gene_region(engine, "COMT-201", genes_file=gff)  # an mRNA, not a gene
    bad = tmp_path / "genes.txt"
    bad.write_text(BED)
    with pytest.raises(QueryError, match=r"unknown gene file type"):
        gene_region(engine, "COMT", genes_file=bad)
    with pytest.raises(QueryError, match="gene file not found"):
        gene_region(engine, "COMT", genes_file=tmp_path / "missing.bed")


def test_malformed_gene_file_names_the_line(world, tmp_path):
    bed = tmp_path / "bad.bed"
    bed.write_text("chr22\t100\t200\tA\nchr22\tten\t200\tB\n")
    with pytest.raises(genolake.InputError, match=r"bad\.bed:2: start is not an integer"):
        gene_region(world["engine"], "A", genes_file=bed)


# ------------------------------------------------------------------------------- annotate


ROW_KEYS = ("dataset", "contig", "pos", "ref", "alt", "cpra", "rsid", "ac", "an", "gene_symbol",
            "clinical_significance", "review_status", "phenotype_list", "variation_id", "allele_id",
            "clinvar_rsid")


def expected_annotation(world, region: tuple, datasets) -> list[tuple]:
    contig, start, end = region
    clin = clinvar_by_cpra(world["clinvar_rows"])
    out = []
    for ds in datasets:
        for (c, p, ref, alt), v in vcf_variants(world["vcfs"][ds]).items():
            if c != contig or not start <= p <= end:
                continue
            base = (ds, c, p, ref, alt, f"{c}-{p}-{ref}-{alt}", v["rsid"], v["ac"], v["an"])
            recs = clin.get((c, p, ref, alt), [])
            for r in recs:
                rs = r["RS# (dbSNP)"]
                out.append(base + (_text(r["GeneSymbol"]), _text(r["ClinicalSignificance"]),
                                   _text(r["ReviewStatus"]), _text(r["PhenotypeList"]), int(r["VariationID"]),
                                   int(r["AlleleID"]), None if rs in ("-1", "na", "", "-") else "rs" + rs))
            if not recs:
                out.append(base + (None,) * 7)
    return out


def check_annotation(table, expected):
    got = [tuple(row[k] for k in ROW_KEYS) for row in table.to_pylist()]
    assert sorted(got, key=repr) == sorted(expected, key=repr)
    assert table.column_names == ["dataset", "contig", "pos", "ref", "alt", "cpra", "rsid", "af", "ac", "an",
                                  "gene_symbol", "clinical_significance", "review_status", "phenotype_list",
                                  "variation_id", "allele_id", "clinvar_rsid"]
    for row in table.to_pylist():
        assert row["af"] == (row["ac"] / row["an"] if row["an"] else None)
    order = [(r["contig"], r["pos"], r["alt"], r["dataset"]) for r in table.to_pylist()]
    assert order == sorted(order)


def test_annotate_gene_equals_an_independent_join(world):
    engine, rows = world["engine"], world["sim_rows"]
    clin = clinvar_by_cpra(rows)
    in_vcf = set(vcf_variants(world["vcfs"]["sim"]))
    # the gene with the most ClinVar records that the VCF carries
    genes = Counter(r["GeneSymbol"] for k, rs in clin.items() if k in in_vcf for r in rs)
    gene = genes.most_common(1)[0][0]
    region = expected_gene_span(world["clinvar_rows"], gene, "GRCh37")
    table = annotate(engine, gene=gene, dataset="sim")
    want = expected_annotation(world, region, ["sim"])
    check_annotation(table, want)
    matched = [r for r in table.to_pylist() if r["variation_id"] is not None]
    assert matched and len(matched) < table.num_rows  # both kinds of rows present
    # every dataset by default: `sub` joins in where its 200 kb overlaps the gene
    check_annotation(annotate(engine, gene=gene.lower()), expected_annotation(world, region, ["sim", "sub", "mixed"]))


def test_annotate_region_equals_an_independent_join(world):
    engine = world["engine"]
    for text, region in (("22:150000-260000", ("22", 150000, 260000)), ("chr22:1-400000", ("22", 1, 400000))):
        check_annotation(annotate(engine, region=text), expected_annotation(world, region, ["sim", "sub", "mixed"]))
        check_annotation(annotate(engine, region=parse_region(text), dataset=["sub"]),
                         expected_annotation(world, region, ["sub"]))
    # region given as a Region; the drug-response records of `mixed`: two records share 1-3-A-C,
    # the record without VCF alleles at pos 3 and the A>T record at pos 6 join nothing
    table = annotate(engine, region=Region("1", 1, 10), dataset="mixed")
    check_annotation(table, expected_annotation(world, ("1", 1, 10), ["mixed"]))
    at3 = [r["variation_id"] for r in table.to_pylist() if r["pos"] == 3]
    assert sorted(at3) == [990004, 990005, 990011]
    assert 996000 not in table.column("variation_id").to_pylist()
    assert 990010 not in table.column("variation_id").to_pylist()


def test_annotate_arguments(world, tmp_path):
    engine = world["engine"]
    with pytest.raises(QueryError, match="exactly one"):
        annotate(engine)
    with pytest.raises(QueryError, match="exactly one"):
        annotate(engine, region="22:1-10", gene="COMT")
    with pytest.raises(QueryError, match="unknown dataset 'nope'.*mixed, sim, sub"):
        annotate(engine, region="22:1-10", dataset="nope")
    # an empty region gives an empty, typed table
    empty = annotate(engine, region="22:390000000-390001000")
    with pytest.raises(QueryError, match="no contig '21'; its contigs: 1, 22"):
        annotate(engine, region="21:1-1000")
    assert empty.num_rows == 0 and empty.schema.field("pos").type == "int32"
    # a gene placed by a file gives the same rows as that region
    bed = tmp_path / "g.bed"
    bed.write_text("chr22\t149999\t260000\tMYREGION\n")
    assert annotate(engine, gene="MYREGION", genes_file=bed).equals(annotate(engine, region="22:150000-260000"))


# ------------------------------------------------------------------- drug_response_report


def expected_report(world, members_by_ds: dict[str, set[str] | None]) -> dict[tuple, int]:
    """(dataset, cpra, genotype) -> n_samples, from the VCFs and the ClinVar TSV."""
    clin = clinvar_by_cpra(world["clinvar_rows"])
    drug = {k for k, rs in clin.items() if any("response" in r["ClinicalSignificance"].lower() for r in rs)}
    out = {}
    for ds, members in members_by_ds.items():
        vcf = world["vcfs"][ds]
        keys = drug & set(vcf_variants(vcf))
        for (c, p, ref, alt), counts in plain_genotype_counts(vcf, keys, members).items():
            for gt, n in counts.items():
                out[(ds, f"{c}-{p}-{ref}-{alt}", gt)] = n
    return out


def check_report(table, want: dict[tuple, int], sizes: dict[str, int]):
    rows = table.to_pylist()
    got = {(r["dataset"], r["cpra"], r["genotype"]): r["n_samples"] for r in rows}
    assert len(got) == len(rows)
    assert got == want
    per_variant = Counter()
    for r in rows:
        assert r["fraction"] == pytest.approx(r["n_samples"] / sizes[r["dataset"]])
        per_variant[(r["dataset"], r["cpra"])] += r["n_samples"]
    assert all(n == sizes[ds] for (ds, _), n in per_variant.items())
    # ranked: variants with carriers first (clinical significance, then carriers), reference-only last
    carriers = Counter()
    for r in rows:
        if "1" in r["genotype"].split("/"):
            carriers[(r["dataset"], r["cpra"])] += r["n_samples"]
    order = [(carriers[(r["dataset"], r["cpra"])] == 0, significance_tier(r["clinical_significance"]),
              -carriers[(r["dataset"], r["cpra"])], r["cpra"], r["dataset"],
              "1" not in r["genotype"].split("/"), -r["n_samples"], r["genotype"]) for r in rows]
    assert order == sorted(order)


def test_drug_response_everyone(world):
    engine = world["engine"]
    samples = {ds: plain_samples(v) for ds, v in world["vcfs"].items()}
    sizes = {ds: len(s) for ds, s in samples.items()}
    want = expected_report(world, {ds: None for ds in samples})
    table = drug_response_report(engine, top=100_000)
    check_report(table, want, sizes)
    assert {r["dataset"] for r in table.to_pylist()} == {"sim", "sub", "mixed"}
    assert table.column_names == ["cpra", "rsid", "gene_symbol", "clinical_significance", "phenotype_list",
                                  "genotype", "n_samples", "fraction", "dataset"]
    # the haploid, triploid, partial and missing forms come out as written, per split allele
    mixed = {(r["cpra"], r["genotype"]): r["n_samples"] for r in table.to_pylist() if r["dataset"] == "mixed"}
    assert mixed == {
        ("1-1-A-C", "0/1"): 1, ("1-1-A-C", "1/1"): 1, ("1-1-A-C", "0/0"): 1,
        ("1-1-A-G", "0/0"): 2, ("1-1-A-G", "1/1"): 1,
        ("1-2-A-C", "0"): 2, ("1-2-A-C", "1"): 1,
        ("1-3-A-C", "0/1"): 1, ("1-3-A-C", "0"): 1, ("1-3-A-C", "1"): 1,
        ("1-4-A-C", "."): 3,
        ("1-5-A-C", "./."): 1, ("1-5-A-C", "0"): 1, ("1-5-A-C", "."): 1,
        ("1-6-A-G", "0/0/1"): 1, ("1-6-A-G", "0"): 1, ("1-6-A-G", "0/0"): 1,
    }
    # two drug-response records on 1-3-A-C are one variant, their texts joined; the Benign
    # record of the same CPRA does not describe it
    row = next(r for r in table.to_pylist() if r["cpra"] == "1-3-A-C")
    assert row["clinical_significance"] == "drug response"
    assert row["phenotype_list"] == "phenotype 990004|phenotype 990005"
    assert row["rsid"] == "rs990004;rs990005" and row["gene_symbol"] == "MIXG"
    # a ClinVar variant the callset does not have gets no rows
    assert not any(r["cpra"] in ("1-7-A-C", "1-6-A-T") for r in table.to_pylist())
    # datasets restrict the report and nothing else
    two = drug_response_report(engine, dataset=["sub", "mixed"], top=100_000)
    check_report(two, {k: n for k, n in want.items() if k[0] in ("sub", "mixed")}, sizes)
    # top keeps the first rows of the same order
    top5 = drug_response_report(engine, top=5)
    assert top5.num_rows == 5 and top5.equals(table.slice(0, 5))


@pytest.mark.parametrize("as_string", [False, True])
def test_drug_response_eur_cohort(world, as_string):
    engine, panel = world["engine"], world["panel"]
    cohort = "super_pop=EUR" if as_string else Cohort.parse("super_pop=EUR")
    members = {s for s, sp in panel.items() if sp == "EUR"}
    sizes = {ds: len(members & set(plain_samples(world["vcfs"][ds]))) for ds in ("sim", "sub")}
    assert 0 < sizes["sub"] < sizes["sim"] < 60
    table = drug_response_report(engine, cohort=cohort, top=100_000)
    check_report(table, expected_report(world, {"sim": members, "sub": members}), sizes)
    only_sub = drug_response_report(engine, cohort=cohort, dataset="sub", top=100_000)
    check_report(only_sub, expected_report(world, {"sub": members}), {"sub": sizes["sub"]})
    assert drug_response_report(engine, cohort=cohort, top=3).num_rows == 3


def test_drug_response_named_samples(world):
    """A cohort of named samples (a list, or samples=...), spanning the `sim` and `sub` datasets."""
    engine = world["engine"]
    names = plain_samples(world["vcfs"]["sub"])[:4] + plain_samples(world["vcfs"]["sim"])[1:3]
    members = set(names)
    sizes = {ds: len(members & set(plain_samples(world["vcfs"][ds]))) for ds in ("sim", "sub")}
    assert sizes == {"sim": 6, "sub": 4}
    want = expected_report(world, {"sim": members, "sub": members})
    check_report(drug_response_report(engine, cohort=names, top=100_000), want, sizes)
    text = "samples=" + ",".join(names)
    check_report(drug_response_report(engine, cohort=Cohort.parse(text), top=100_000), want, sizes)


def test_drug_response_arguments(world, excerpt_engine):
    engine = world["engine"]
    with pytest.raises(QueryError):
        drug_response_report(engine, cohort="super_pop=NOPE")
    with pytest.raises(QueryError, match="top must be a positive integer"):
        drug_response_report(engine, top=0)
    with pytest.raises(QueryError, match="unknown dataset"):
        drug_response_report(engine, dataset="nope")
    # the mixed dataset has no panel: nobody there is EUR
    with pytest.raises(QueryError, match="no samples in dataset 'mixed'"):
        drug_response_report(engine, cohort="super_pop=EUR", dataset="mixed")
    with pytest.raises(QueryError, match="no samples yet"):
        drug_response_report(excerpt_engine)
    # no ClinVar records of that assembly: an empty, typed table
    empty = drug_response_report(engine, assembly="NCBI36")
    assert empty.num_rows == 0 and empty.column_names[-1] == "dataset"


def test_drug_response_with_small_position_bins(world, sim_cohort, tmp_path):
    """A lake binned by 50 kb: the lookups span many pos_bin partitions, one arm each."""
    lake = genolake.init_lake(tmp_path / "lake", pos_bin_size=50_000)
    genolake.ingest_vcf(lake, sim_cohort.vcf, "sim", panel=sim_cohort.panel, workers=1)
    genolake.ingest_clinvar(lake, sim_cohort.clinvar)
    bins = {p.name for p in (tmp_path / "lake").rglob("pos_bin=*")}
    assert len(bins) >= 5
    members = {s for s, sp in world["panel"].items() if sp == "EUR"}
    with connect(lake) as engine:
        table = drug_response_report(engine, cohort="super_pop=EUR", top=100_000)
        # the report's variants lie in several 50 kb partitions: the lookups span them
        assert len({int(r["cpra"].split("-")[1]) // 50_000 for r in table.to_pylist()}) >= 3
        check_report(table, expected_report(world, {"sim": members}), {"sim": len(members)})


def test_partition_arms_one_per_partition():
    sql = annotation._partition_arms("SELECT pos FROM cpra_index WHERE TRUE",
                                     {"22": {5, 6, 1_500_000, 1_000_000}, "X": {7}}, bin_size=1_000_000)
    arms = sql.split("\nUNION ALL\n")
    assert arms == [
        "SELECT pos FROM cpra_index WHERE TRUE AND contig = '22' AND pos_bin = 0 AND pos BETWEEN 5 AND 6 AND pos IN (5, 6)",
        "SELECT pos FROM cpra_index WHERE TRUE AND contig = '22' AND pos_bin = 1000000 AND pos BETWEEN 1000000 AND "
        "1500000 AND pos IN (1000000, 1500000)",
        "SELECT pos FROM cpra_index WHERE TRUE AND contig = 'X' AND pos_bin = 0 AND pos BETWEEN 7 AND 7 AND pos IN (7)",
    ]


def test_drug_response_ranks_carriers_not_reference_calls(world):
    """Issue item 12: the top rows were all 0/0 (with a cohort, every one "0/0 ... 1.000"). Carriers
    of the allele come first, reference-only sites last, and the table says what it ranked by."""
    engine = world["engine"]
    for cohort in (None, "super_pop=EUR"):
        full = drug_response_report(engine, cohort=cohort, top=100_000).to_pylist()
        top = drug_response_report(engine, cohort=cohort, top=5)
        assert b"clinical significance" in top.schema.metadata[RANKED_BY_KEY]
        assert top.to_pylist()[0]["genotype"] != "0/0" and "1" in top.to_pylist()[0]["genotype"]
        carrier_sites = {(r["dataset"], r["cpra"]) for r in full if "1" in r["genotype"].split("/")}
        seen_ref_only = False
        for r in full:  # every row of a carrier site comes before every row of a reference-only site
            ref_only = (r["dataset"], r["cpra"]) not in carrier_sites
            assert not (seen_ref_only and not ref_only)
            seen_ref_only |= ref_only
    assert significance_tier("Pathogenic; drug response") == 0
    assert significance_tier("drug response") == 1
    assert significance_tier("Conflicting classifications of pathogenicity; drug response") == 1
    assert significance_tier("Benign") == 2


def test_annotate_every_gene_of_a_file(world, tmp_path):
    """Issue item 14: `query annotate --genes FILE` without --gene annotated nothing (it needed
    --gene). Every gene of the file is annotated: the rows of annotating each gene alone."""
    engine = world["engine"]
    bed = tmp_path / "genes.bed"
    bed.write_text("chr22\t149999\t260000\tGA\nchr22\t9\t120000\tGB\nchr22\t900000000\t900000010\tGNONE\n")
    every = annotate(engine, genes_file=bed)
    assert every.column_names[0] == "gene" and every.column_names[1:] == annotate(engine, region="22:1-2").column_names
    want = []
    for gene in ("GB", "GA"):  # by position
        alone = annotate(engine, gene=gene, genes_file=bed).to_pylist()
        assert alone
        want += [{"gene": gene, **r} for r in alone]
    assert every.to_pylist() == want


def test_cli_annotate_genes_file_without_gene(tmp_path, world, capsys):
    from genolake import cli

    bed = tmp_path / "genes.bed"
    bed.write_text("chr22\t149999\t260000\tGA\n")
    rc = cli.main(["--root", str(world["engine"].lake.root), "query", "annotate", "--genes", str(bed), "--format", "csv"])
    out, err = capsys.readouterr()
    assert rc == 0, err
    assert out.splitlines()[0].startswith("gene,dataset") and len(out.splitlines()) > 1


def test_assembly_is_recorded_at_ingest_and_a_mismatch_warns(tmp_path, sim_cohort, capsys):
    """Issue item 14: a GRCh37 callset queried with --assembly GRCh38 answered silently. The
    assembly is recorded at ingest (header ##contig assembly= / ##reference=, or --assembly) and a
    question in another assembly carries a warning (schema metadata; one stderr line in the CLI)."""
    from genolake import cli
    from genolake.queries.analyses.frequencies import WARNING_KEY

    lake = genolake.init_lake(tmp_path / "lake")
    genolake.ingest_vcf(lake, sim_cohort.vcf, "sim", panel=sim_cohort.panel, progress=False)  # header: GRCh37
    genolake.ingest_vcf(lake, VCF_DIR / "1000genomes-phase3-1row.vcf", "kg", progress=False)  # assembly=b37
    genolake.ingest_clinvar(lake, sim_cohort.clinvar, progress=False)
    with genolake.connect(lake) as engine:
        assert engine.dataset_assemblies() == {"sim": "GRCh37", "kg": "GRCh37"}
        same = annotate(engine, region="22:1-400000", dataset="sim", assembly="GRCh37")
        assert WARNING_KEY not in (same.schema.metadata or {})
        other = annotate(engine, region="22:1-400000", dataset="sim", assembly="GRCh38")
        assert b"sim is GRCh37" in other.schema.metadata[WARNING_KEY]
        drug = drug_response_report(engine, dataset="sim", assembly="GRCh38")
        assert b"GRCh37" in drug.schema.metadata[WARNING_KEY]
    rc = cli.main(["--root", str(lake.root), "query", "annotate", "--region", "22:1-400000", "--dataset", "sim",
                   "--assembly", "GRCh38", "--format", "csv"])
    out, err = capsys.readouterr()
    lines = err.splitlines()
    assert rc == 0 and len(lines) == 2 and "warning" in lines[0] and "GRCh37" in lines[0]
    assert lines[1].startswith("genolake: duckdb @ snapshot ")  # the provenance line
    # --assembly at ingest overrides the header
    assert cli.main(["--root", str(lake.root), "ingest", "vcf", str(VCF_DIR / "1000genomes-phase3-1row.vcf"),
                     "--dataset", "kg38", "--assembly", "GRCh38"]) == 0
    capsys.readouterr()
    with genolake.connect(lake) as engine:
        assert engine.dataset_assemblies()["kg38"] == "GRCh38"
