"""select_sites, genotype_matrix and dosage_array equal a plain reading of the VCFs.

The oracle is tests/oracle.py's str.split reading of each record: a sample's value at a split
allele is the number of its alleles equal to that ALT's index, or None when any allele is '.'
(half calls, missing haploid calls, a record without GT). Nothing is taken from the lake's own
tables. Datasets: the simulated cohort (missing calls, multi-allelic records, indels; with its
panel), test-haploidX.vcf (haploid chrX, missing '.'), mixed_ploidy.vcf.gz (haploid, diploid and
triploid calls side by side), the 1000 Genomes chr20 slice (2,535 samples, with the 1000G panel)
and a hand-made file (two contigs, two records at one position, half calls, a triploid half call,
a record without GT).
"""

from __future__ import annotations

import random
from collections import Counter

import numpy as np
import pyarrow as pa
import pytest
from conftest import PANEL, VCF_DIR
from oracle import plain_counts, plain_records, vcf_samples

import genolake
from genolake.lake.errors import QueryError, QueryNotFound
from genolake.queries.analyses.genotype_matrix import dosage_array, genotype_matrix, select_sites
from genolake.queries.cohorts import members_of

KG = VCF_DIR / "1000G.phase3.broad.withGenotypes.chr20.10100000.vcf.gz"
HAND = """##fileformat=VCFv4.2
##contig=<ID=22,length=51304566>
##contig=<ID=X,length=155270560>
##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">
##FORMAT=<ID=DP,Number=1,Type=Integer,Description="Depth">
#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\tA1\tA2\tA3\tA4\tA5\tA6
22\t100\t.\tA\tG\t.\t.\t.\tGT\t0/1\t1/1\t0/0\t./1\t0|1\t./.
22\t150\t.\tC\tT,G\t.\t.\t.\tGT\t0/1\t1/2\t0/0\t2/2\t0|1\t0/0
22\t200\t.\tG\tA\t.\t.\t.\tGT\t0/1\t0/0\t0/1\t0/0\t1|1\t0/0
22\t200\t.\tG\tC\t.\t.\t.\tGT\t0/0\t0/1\t0/0\t0/1\t0|0\t0/0
22\t300\t.\tAT\tA\t.\t.\t.\tGT\t0/1\t1/1\t0/0\t0/1\t0|1\t0/0
22\t5000\t.\tT\tC\t.\t.\t.\tGT\t0/1\t1/1/.\t0/0\t0/1\t1|1\t1
22\t5004\t.\tT\tA\t.\t.\t.\tGT\t0/1\t0/1\t0/1\t0/1\t0/0\t0/0
22\t9000\t.\tC\tA\t.\t.\t.\tDP\t3\t4\t5\t6\t7\t8
22\t12000\t.\tG\tT\t.\t.\t.\tGT\t1/1\t1/1\t0/1\t1/1\t1/1\t1/1
X\t100\t.\tG\tA\t.\t.\t.\tGT\t1\t0\t.\t1/1\t0/1\t0
X\t700\t.\tC\tG\t.\t.\t.\tGT\t0\t1\t1\t0/1\t0/0\t.
"""
KARYO = {**{str(i): i for i in range(1, 23)}, "X": 23, "Y": 24, "MT": 25}


@pytest.fixture(scope="module")
def gm(tmp_path_factory, sim_cohort):
    root = tmp_path_factory.mktemp("gm")
    hand = root / "hand.vcf"
    hand.write_text(HAND)
    vcfs = {"sim": sim_cohort.vcf, "hx": VCF_DIR / "test-haploidX.vcf", "mp": VCF_DIR / "mixed_ploidy.vcf.gz",
            "kg": KG, "hand": hand}
    lake = genolake.init_lake(root / "lake")
    for name, path in vcfs.items():
        panel = sim_cohort.panel if name == "sim" else PANEL if name == "kg" else None
        genolake.ingest_vcf(lake, path, name, workers=1, **({"panel": panel} if panel else {}))
    engine = genolake.connect(lake)
    yield engine, vcfs, sim_cohort
    engine.close()


# ------------------------------------------------------------------------------ the oracle


def plain_matrix(vcf, samples=None) -> tuple[list[str], dict[str, list]]:
    """(samples in callset order, {cpra: value per sample}) by the plain reading."""
    names = vcf_samples(vcf)
    rows = names if samples is None else [s for s in names if s in set(samples)]
    out = {}
    for contig, pos, ref, alts, calls in plain_records(vcf):
        by_sample = {s: alleles for s, alleles, _ in calls}
        for a, alt in enumerate(alts, start=1):
            out[f"{contig}-{pos}-{ref}-{alt}"] = [
                None if "." in by_sample[s] else sum(1 for x in by_sample[s] if x == str(a)) for s in rows]
    return rows, out


def plain_sites(vcf, *, min_maf, spacing_bp, max_sites=None, snps_only=True) -> list[str]:
    """select_sites' rules written out plainly over plain_counts."""
    counts = plain_counts(vcf)
    at_pos = Counter((c, p) for c, p, _, _ in counts)
    candidates = []
    for (c, p, r, a), (ac, an) in counts.items():
        if at_pos[(c, p)] != 1 or an == 0:
            continue
        if snps_only and not (r in ("A", "C", "G", "T") and a in ("A", "C", "G", "T")):
            continue
        af = ac / an
        if min(af, 1 - af) >= min_maf:
            candidates.append((KARYO.get(c, 1000), c, p, f"{c}-{p}-{r}-{a}"))
    kept, last = [], {}
    for _, c, p, cpra in sorted(candidates):
        if c not in last or p - last[c] >= spacing_bp:
            kept.append(cpra)
            last[c] = p
    if max_sites is not None and len(kept) > max_sites:
        kept = [kept[i * len(kept) // max_sites] for i in range(max_sites)]
    return kept


def as_dict(table: pa.Table) -> tuple[list[str], dict[str, list]]:
    return table["sample_id"].to_pylist(), {c: table[c].to_pylist() for c in table.column_names if c != "sample_id"}


def all_cpras(engine, dataset) -> list[str]:
    return engine.sql(f"SELECT cpra FROM variants WHERE dataset = '{dataset}' ORDER BY contig, pos, allele_ord") \
        .column(0).to_pylist()


# ------------------------------------------------------------------------------ the matrix


@pytest.mark.parametrize("dataset", ["sim", "hx", "mp", "kg", "hand"])
def test_matrix_of_every_site_and_sample_equals_the_plain_reading(gm, dataset):
    engine, vcfs, _ = gm
    cpras = all_cpras(engine, dataset)
    random.Random(1).shuffle(cpras)  # the columns come in the order asked, whatever it is
    table = genotype_matrix(engine, cpras, dataset=dataset)
    rows, want = plain_matrix(vcfs[dataset])
    got_rows, got = as_dict(table)
    assert got_rows == rows
    assert table.column_names[1:] == cpras
    assert set(got) == set(want)
    for cpra in cpras:
        assert got[cpra] == want[cpra], f"{dataset} {cpra}"
    assert all(table.schema.field(c).type == pa.int8() for c in cpras)


def test_the_files_have_what_the_rules_are_about(gm):
    """The cases the matrix must get right are really in the data: missing calls, half calls,
    haploid 0 and 1, triploid values, a record without GT."""
    engine, vcfs, _ = gm
    values = {d: [v for col in plain_matrix(vcfs[d])[1].values() for v in col] for d in vcfs}
    assert None in values["sim"] and None in values["hx"]
    hx = plain_matrix(vcfs["hx"])[1]
    assert {0, 1} <= {v for col in hx.values() for v in col}
    assert 3 not in values["mp"] and 2 in values["mp"]  # 0/1/2 -> 1 per ALT, 1/1 -> 2
    hand = plain_matrix(vcfs["hand"])[1]
    assert hand["22-100-A-G"][3] is None and hand["22-5000-T-C"][1] is None and hand["22-5000-T-C"][5] == 1
    assert hand["22-9000-C-A"] == [None] * 6


@pytest.mark.parametrize("dataset, cohort", [
    ("sim", "super_pop=AFR"),
    ("sim", "every_other"),
    ("kg", "super_pop=EAS"),
    ("kg", "every_third"),  # 845 scattered samples: the calls are selected by a semi-join on samples
    ("hand", ["A2", "A5", "A6"]),
])
def test_matrix_of_a_cohort_equals_the_plain_reading(gm, dataset, cohort):
    engine, vcfs, sim = gm
    names = vcf_samples(vcfs[dataset])
    if cohort == "every_other":
        cohort = names[::2]
    elif cohort == "every_third":
        cohort = names[::3]
    members = members_of(engine, cohort, dataset).table["sample_id"].to_pylist()
    cpras = all_cpras(engine, dataset)
    table = genotype_matrix(engine, cpras, dataset=dataset, cohort=cohort)
    rows, want = plain_matrix(vcfs[dataset], members)
    got_rows, got = as_dict(table)
    assert got_rows == rows and 0 < len(rows) < len(names)
    assert got == want


def test_select_sites_table_and_chr_prefixed_cpras(gm):
    engine, vcfs, _ = gm
    sites = select_sites(engine, dataset="sim", min_maf=0.1, spacing_bp=5_000)
    by_table = genotype_matrix(engine, sites, dataset="sim")
    by_text = genotype_matrix(engine, ["chr" + c for c in sites["cpra"].to_pylist()], dataset="sim")
    assert by_table.column_names == ["sample_id", *sites["cpra"].to_pylist()]
    assert by_table.to_pylist() == by_text.to_pylist()


def test_dosage_array_is_the_matrix_with_nan_for_missing(gm):
    engine, vcfs, _ = gm
    table = genotype_matrix(engine, all_cpras(engine, "hx"), dataset="hx")
    X, rows, sites = dosage_array(table)
    assert rows == table["sample_id"].to_pylist() and sites == table.column_names[1:]
    assert X.dtype == np.float64 and X.shape == (table.num_rows, len(sites))
    for j, c in enumerate(sites):
        col = table[c].to_pylist()
        assert [None if np.isnan(x) else int(x) for x in X[:, j]] == col
    assert np.isnan(X).any()


def test_matrix_provenance_names_the_tables_read(gm):
    engine, _, _ = gm
    from genolake.queries.provenance import read_provenance

    prov = read_provenance(genotype_matrix(engine, all_cpras(engine, "hand")[:3], dataset="hand"))
    assert prov["engine"] == "duckdb"
    assert {"samples", "variants", "cpra_index"} <= set(prov["versions"])


# ------------------------------------------------------------------------------ the sites


@pytest.mark.parametrize("dataset, min_maf, spacing_bp, max_sites, snps_only", [
    ("sim", 0.05, 10_000, None, True),
    ("sim", 0.2, 1_000, 7, True),
    ("sim", 0.01, 0, None, False),
    ("sim", 0.0, 2_500, 40, True),
    ("kg", 0.05, 10, None, True),
    ("hand", 0.05, 4_000, None, True),
    ("hand", 0.0, 0, None, False),
    ("hand", 0.05, 0, 2, True),
    ("hx", 0.1, 100_000, None, True),
])
def test_select_sites_follows_its_rules(gm, dataset, min_maf, spacing_bp, max_sites, snps_only):
    engine, vcfs, _ = gm
    got = select_sites(engine, dataset=dataset, min_maf=min_maf, spacing_bp=spacing_bp, max_sites=max_sites,
                       snps_only=snps_only)
    want = plain_sites(vcfs[dataset], min_maf=min_maf, spacing_bp=spacing_bp, max_sites=max_sites,
                       snps_only=snps_only)
    assert got["cpra"].to_pylist() == want
    assert len(want) > 0, "the case selects nothing: it tests nothing"
    counts = plain_counts(vcfs[dataset])
    for r in got.to_pylist():
        ac, an = counts[(r["contig"], r["pos"], r["ref"], r["alt"])]
        assert r["af"] == ac / an and r["cpra"] == f"{r['contig']}-{r['pos']}-{r['ref']}-{r['alt']}"


def test_select_sites_rules_bite(gm):
    """Each rule removes something in these files, so the equality above is not vacuous."""
    engine, vcfs, _ = gm
    hand = select_sites(engine, dataset="hand", min_maf=0.0, spacing_bp=0, snps_only=False)["cpra"].to_pylist()
    assert "22-200-G-A" not in hand and "22-200-G-C" not in hand  # two records at one position
    assert not any(c.startswith("22-150-") for c in hand)  # a multi-allelic record
    assert "22-300-AT-A" in hand
    assert "22-300-AT-A" not in select_sites(engine, dataset="hand", min_maf=0.0, spacing_bp=0)["cpra"].to_pylist()
    assert "22-12000-G-T" in hand  # AF 11/12: MAF 1/12
    assert "22-12000-G-T" not in select_sites(engine, dataset="hand", min_maf=0.1, spacing_bp=0)["cpra"].to_pylist()
    spaced = select_sites(engine, dataset="hand", min_maf=0.0, spacing_bp=10)["cpra"].to_pylist()
    assert "22-5000-T-C" in spaced and "22-5004-T-A" not in spaced
    assert any(c.startswith("X-") for c in spaced)  # a new contig restarts the spacing
    wide = select_sites(engine, dataset="sim", min_maf=0.05, spacing_bp=0).num_rows
    assert select_sites(engine, dataset="sim", min_maf=0.05, spacing_bp=0, max_sites=10).num_rows == 10 < wide
    assert select_sites(engine, dataset="sim", min_maf=0.05, spacing_bp=0, contig="chr22").num_rows == wide
    assert select_sites(engine, dataset="sim", min_maf=0.05, spacing_bp=0, contig="X").num_rows == 0


# ------------------------------------------------------------------------------ bad input


@pytest.mark.parametrize("call, error", [
    (lambda e: genotype_matrix(e, [], dataset="sim"), QueryError),
    (lambda e: genotype_matrix(e, "", dataset="sim"), QueryError),
    (lambda e: genotype_matrix(e, ["22-1-A-T"], dataset="sim"), QueryNotFound),
    (lambda e: genotype_matrix(e, ["not a cpra"], dataset="sim"), QueryError),
    (lambda e: genotype_matrix(e, ["22-100-A-G", "chr22-100-A-G"], dataset="hand"), QueryError),
    (lambda e: genotype_matrix(e, ["22-100-A-G"], dataset="nope"), QueryNotFound),
    (lambda e: genotype_matrix(e, ["22-100-A-G"], dataset=""), QueryError),
    (lambda e: genotype_matrix(e, ["22-100-A-G"], dataset="hand", cohort="super_pop=ZZZ"), QueryError),
    (lambda e: genotype_matrix(e, ["22-100-A-G"], dataset="hand", cohort=["HG00096"]), QueryError),
    (lambda e: genotype_matrix(e, pa.table({"x": [1]}), dataset="hand"), QueryError),
    (lambda e: genotype_matrix(e, [7], dataset="hand"), QueryError),
    (lambda e: select_sites(e, dataset="nope"), QueryNotFound),
    (lambda e: select_sites(e, dataset=None), QueryError),
    (lambda e: select_sites(e, dataset="sim", min_maf=0.7), QueryError),
    (lambda e: select_sites(e, dataset="sim", min_maf="x"), QueryError),
    (lambda e: select_sites(e, dataset="sim", min_maf=float("nan")), QueryError),
    (lambda e: select_sites(e, dataset="sim", spacing_bp=-1), QueryError),
    (lambda e: select_sites(e, dataset="sim", spacing_bp=1.5), QueryError),
    (lambda e: select_sites(e, dataset="sim", max_sites=0), QueryError),
    (lambda e: select_sites(e, dataset="sim", max_sites=True), QueryError),
])
def test_bad_input_is_one_line(gm, call, error):
    engine, _, _ = gm
    with pytest.raises(error) as info:
        call(engine)
    assert "\n" not in str(info.value) and str(info.value)


def test_missing_sites_are_named(gm):
    engine, _, _ = gm
    with pytest.raises(QueryNotFound, match=r"2 sites not in dataset 'hand': 22-1-A-T, 22-2-A-T"):
        genotype_matrix(engine, ["22-100-A-G", "22-1-A-T", "22-2-A-T"], dataset="hand")
    with pytest.raises(QueryNotFound, match="22-100-A-G"):  # another dataset's site is not this one's
        genotype_matrix(engine, ["22-100-A-G"], dataset="sim")
