"""allele_frequency and population_frequencies equal bcftools and a plain reading of the VCFs.

The oracle for AC/AN is `bcftools +fill-tags -t AC,AN` on the unsplit records, restricted with
`bcftools view -S` to the cohort's samples of that dataset (tests/oracle.py); records with a call of
more than two alleles are checked against the plain str.split reading only (bcftools counts them
as diploid, DESIGN.md). n_het / n_hom_alt / n_missing come from the plain reading.

One lake per module holds six datasets: the simulated cohort (`sim`, with its panel), four shared
files with haploid, triploid, missing and multi-allelic calls, and a hand-made file of partial
calls (`pc`). `sp` and `mt` share sample IDs (HG00096, HG00097, HG00099) and get the 1000 Genomes
panel, so super_pop=EUR spans three datasets; `pc` shares two of those IDs and one of sp's sites,
so a sample ID alone does not name a member and a site can be in two callsets.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pytest
from conftest import PANEL, VCF_DIR
from oracle import (bcftools_counts, have_bcftools, plain_counts, plain_site_counts, polyploid_sites,
                    vcf_samples)

import genolake
from genolake.lake.errors import QueryError
from genolake.queries.analyses.frequencies import AF_SCHEMA, allele_frequency, population_frequencies
from genolake.queries.cohorts import Cohort
from genolake.queries.engines import connect
from genolake.queries.regions import Region

pytestmark = pytest.mark.skipif(not have_bcftools(), reason="bcftools/tabix not on PATH")

SHARED = {  # dataset -> shared file
    "hx": VCF_DIR / "test-haploidX.vcf",
    "mp": VCF_DIR / "mixed_ploidy.vcf.gz",
    "sp": VCF_DIR / "split_test.vcf",
    "mt": VCF_DIR / "1kg_2020_chrM.vcf.gz",
}
WITH_PANEL = ("sp", "mt")
# hand-made: partial calls ('./1', '.|1', '1/1/.'), haploid next to diploid, phased multi-allelic;
# samples shared with sp and mt, and one site (22-1180-CAGGCG-C) that sp's callset also has
PARTIAL_VCF = """##fileformat=VCFv4.2
##contig=<ID=22,length=51304566>
##contig=<ID=X,length=155270560>
##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">
#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\tHG00096\tHG00099\tX1\tX2
22\t1180\t.\tCAGGCG\tC\t.\t.\t.\tGT\t./1\t.|1\t1|0\t0/0
22\t1500\trs5550001\tA\tG,T\t.\t.\t.\tGT\t1|2\t./.\t2\t./2
22\t1600\t.\tC\tT\t.\t.\t.\tGT\t.\t0|.\t1/1/.\t0
X\t100\trs5550002\tG\tA\t.\t.\t.\tGT\t1\t0\t.|1\t1/1
"""


@dataclass
class QueryLake:
    lake: genolake.Lake
    engine: object
    vcfs: dict[str, Path]  # dataset -> VCF
    panels: dict[str, dict[str, dict]]  # dataset -> sample -> {population, super_population, sex}
    work: Path

    def samples(self, dataset: str) -> list[str]:
        return vcf_samples(self.vcfs[dataset])


def _read_panel(path: Path) -> dict[str, dict]:
    out = {}
    for line in Path(path).read_text().splitlines()[1:]:
        cols = line.split("\t")
        if len(cols) >= 4 and cols[0]:
            out[cols[0]] = {"population": cols[1], "super_population": cols[2], "sex": cols[3]}
    return out


def build_query_lake(root: Path, sim) -> QueryLake:
    """The five-dataset lake every query test module uses (see the module docstring)."""
    lake = genolake.init_lake(root / "lake")
    genolake.ingest_vcf(lake, sim.vcf, "sim", panel=sim.panel, workers=1)
    for name, path in SHARED.items():
        genolake.ingest_vcf(lake, path, name, workers=1, panel=PANEL if name in WITH_PANEL else None)
    partial = root / "partial_calls.vcf"
    partial.write_text(PARTIAL_VCF)
    genolake.ingest_vcf(lake, partial, "pc", workers=1)
    vcfs = {"sim": Path(sim.vcf), **SHARED, "pc": partial}
    panels = {d: {} for d in vcfs}
    sim_panel, kg_panel = _read_panel(sim.panel), _read_panel(PANEL)
    for d, vcf in vcfs.items():
        source = sim_panel if d == "sim" else kg_panel if d in WITH_PANEL else {}
        panels[d] = {s: source[s] for s in vcf_samples(vcf) if s in source}
    return QueryLake(lake, connect(lake), vcfs, panels, root / "bcf")


# ------------------------------------------------------------------------------ the oracle


def expected(ql: QueryLake, dataset: str, samples: list[str] | None = None) -> dict[tuple, dict]:
    """Per split allele: ac, an (bcftools; the plain reading where bcftools counts triploid calls
    as diploid), af, n_het, n_hom_alt, n_missing, n_samples."""
    vcf = ql.vcfs[dataset]
    bcf = bcftools_counts(vcf, ql.work / dataset, samples)
    plain = plain_counts(vcf, samples)
    poly = polyploid_sites(vcf)
    calls = plain_site_counts(vcf, samples)
    n = len(vcf_samples(vcf) if samples is None else samples)
    out = {}
    for key, (ac, an) in plain.items():
        if key[:2] not in poly:
            assert bcf[key] == (ac, an), f"the two oracles disagree at {key}"
        het, hom, miss = (calls[key][k] for k in ("n_het", "n_hom_alt", "n_missing"))
        out[key] = {"ac": ac, "an": an, "af": None if an == 0 else ac / an,
                    "n_het": het, "n_hom_alt": hom, "n_missing": miss, "n_samples": n}
    return out


def by_key(table: pa.Table, dataset: str) -> dict[tuple, dict]:
    out = {}
    for r in table.to_pylist():
        if r["dataset"] == dataset:
            key = (r["contig"], r["pos"], r["ref"], r["alt"])
            assert key not in out, f"{key} twice for {dataset}"
            assert r["cpra"] == "-".join(map(str, key))
            out[key] = {k: r[k] for k in ("ac", "an", "af", "n_het", "n_hom_alt", "n_missing", "n_samples")}
    return out


def assert_rows(table: pa.Table, want: dict[tuple, dict], dataset: str):
    got = by_key(table, dataset)
    assert set(got) == set(want), f"{dataset}: sites differ: {sorted(set(got) ^ set(want))[:5]}"
    for key, w in want.items():
        g = dict(got[key])
        af, waf = g.pop("af"), w["af"]
        assert g == {k: v for k, v in w.items() if k != "af"}, f"{dataset} {key}"
        assert (af is None) == (waf is None) and (af is None or math.isclose(af, waf, rel_tol=1e-15)), key


def assert_sorted(table: pa.Table):
    order = {"X": 23, "Y": 24, "MT": 25}
    keys = [(order.get(c, int(c) if c.isdigit() else 1000), c, p, d) for c, p, d in
            zip(table["contig"].to_pylist(), table["pos"].to_pylist(), table["dataset"].to_pylist())]
    assert keys == sorted(keys)


def members(ql: QueryLake, dataset: str, **where) -> list[str]:
    return [s for s in ql.samples(dataset)
            if all(ql.panels[dataset].get(s, {}).get(k) == v for k, v in where.items())]


# ------------------------------------------------------------------------------ whole datasets


ALL = ["sim", *SHARED, "pc"]


@pytest.mark.parametrize("dataset", ALL)
def test_whole_dataset_equals_bcftools(ql, dataset):
    want = expected(ql, dataset)
    table = allele_frequency(ql.engine, dataset=dataset)  # no selector: every site
    assert table.schema == AF_SCHEMA
    assert set(table["dataset"].to_pylist()) == {dataset}
    assert_rows(table, want, dataset)
    assert_sorted(table)
    for contig in set(table["contig"].to_pylist()):  # whole contigs
        part = table.filter(pc.equal(table["contig"], contig))
        assert allele_frequency(ql.engine, region=contig, dataset=dataset).equals(part)


@pytest.mark.parametrize("dataset", ALL)
def test_everyone_shortcut_equals_genotype_scans(ql, dataset):
    """The variants table's whole-callset columns and both ways of counting stored calls agree."""
    answers = [allele_frequency(ql.engine, dataset=dataset, _source=s) for s in ("variants", "cpra_index", "genotypes")]
    assert answers[0].num_rows > 0
    assert answers[0].equals(answers[1]) and answers[0].equals(answers[2])
    # and for the whole lake at once (every dataset complete), through a region on one contig
    everyone = [allele_frequency(ql.engine, region="22:1-300000", _source=s) for s in ("auto", "cpra_index", "genotypes")]
    assert everyone[0].num_rows > 0 and everyone[0].equals(everyone[1]) and everyone[0].equals(everyone[2])


def test_both_copies_of_the_calls_agree_for_partial_cohorts(ql):
    """cpra_index and genotypes give the same counts for cohorts covering part of several datasets."""
    cohort = ql.samples("sim")[::3] + ["S1", "HG00096", "HG00101", "X2"]
    for kw in ({"region": "22"}, {}, {"rsids": list(_sim_rsids(ql))[:3]}):
        a, b = (allele_frequency(ql.engine, cohort=cohort, _source=s, **kw) for s in ("cpra_index", "genotypes"))
        assert a.num_rows > 0 and a.equals(b)
        a, b = (population_frequencies(ql.engine, cohort=cohort, _source=s, **kw) for s in ("cpra_index", "genotypes"))
        assert a.num_rows > 0 and a.equals(b)


@pytest.mark.parametrize("inline_runs", [64, 0])
def test_key_lookups_equal_the_sql_scans(ql, monkeypatch, inline_runs):
    """Named sites are counted from key lookups (read_rows + Arrow); the SQL over either copy of
    the calls gives the same table, for whole datasets, index ranges, scattered members (inline
    BETWEENs, or the semi-join when inline_runs=0) and cohorts spanning datasets."""
    import genolake.queries.cohorts as cohorts_mod

    monkeypatch.setattr(cohorts_mod, "_MAX_INLINE_RUNS", inline_runs)
    monkeypatch.setattr(cohorts_mod, "_CACHE", type(cohorts_mod._CACHE)())  # members built afresh
    rsids = list(_sim_rsids(ql))
    sim = ql.samples("sim")
    cohorts = [None, "super_pop=EUR", sim[:7], sim[1::2] + ["S1", "HG00096", "X2"], "samples=S1,S3"]
    selections = [{"rsids": rsids[:4] + rsids[-2:]},
                  {"cpras": ["1-1-A-G", "1-1-A-C", "22-1180-CAGGCG-C", "22-1500-A-T", "X-100-G-A", "MT-42-T-TC"]}]
    checked = 0
    for cohort in cohorts:
        for kw in selections:
            try:
                auto = allele_frequency(ql.engine, cohort=cohort, **kw)
            except QueryError as err:  # e.g. a cohort with no member in the CPRAs' datasets
                with pytest.raises(QueryError, match=str(err).split(":")[0]):
                    allele_frequency(ql.engine, cohort=cohort, _source="cpra_index", **kw)
                continue
            for source in ("cpra_index", "genotypes"):
                assert auto.equals(allele_frequency(ql.engine, cohort=cohort, _source=source, **kw)), (cohort, kw, source)
            checked += auto.num_rows
    assert checked > 20


def test_read_rows_direct_equals_sql(ql):
    """The embedded engine's direct key reads give the rows the engine's SQL gives."""
    from genolake.queries.engines.base import Engine

    bin_size = ql.lake.config.pos_bin_size
    rsids = list(_sim_rsids(ql))[:5] + ["rs0"]
    cases = [
        ("rsid_index", {"rsid": rsids}, ["rsid", "dataset", "contig", "pos", "allele_ord", "cpra"]),
        ("variants", {"contig": ["22", "1"], "pos": [1, 3, 1180, 1500, 99_999_999]},
         ["dataset", "contig", "pos", "allele_ord", "cpra", "ac", "an", "af"]),
        ("cpra_index", {"contig": ["22"], "pos_bin": [0, 1500 // bin_size * bin_size], "pos": [1180, 1500, 1600],
                        "dataset": ["pc", "sp"]},
         ["contig", "pos_bin", "dataset", "pos", "allele_ord", "sample_index", "alt_dosage", "called_alleles"]),
        ("cpra_index", {"contig": ["nope"], "pos": [1]}, ["pos", "sample_index"]),
    ]
    for table, where, cols in cases:
        direct = ql.engine.read_rows(table, where, cols)
        via_sql = Engine.read_rows(ql.engine, table, where, cols)
        assert direct.schema == via_sql.schema
        order = [(c, "ascending") for c in cols]
        assert direct.sort_by(order).equals(via_sql.sort_by(order)), table
    assert ql.engine.read_rows("rsid_index", {"rsid": rsids}, ["rsid"]).num_rows >= 5


def test_source_choice(ql):
    """Lookups read cpra_index; scans read genotypes for a small cohort, cpra_index for a large one."""
    from genolake.queries.analyses.frequencies import Selection, _calls_source
    from genolake.queries.cohorts import members_of

    small, large = members_of(ql.engine, ql.samples("sim")[:5]), members_of(ql.engine, "super_pop=EAS")
    keys = Selection("keys", ("22-1-A-G",), ("22",), (1,))
    assert _calls_source(ql.engine, keys, small, small.datasets) == "cpra_index"
    assert _calls_source(ql.engine, Selection("all"), small, small.datasets) == "genotypes"
    assert _calls_source(ql.engine, Selection("all"), large, large.datasets) == "cpra_index"


def test_variants_source_refuses_a_partial_cohort(ql):
    with pytest.raises(QueryError, match="does not cover whole datasets"):
        allele_frequency(ql.engine, region="22", cohort="super_pop=EAS", _source="variants")


# ------------------------------------------------------------------------------------- cohorts


def test_super_population_spanning_datasets(ql):
    """super_pop=EUR: sim's CEU, and sp's and mt's GBR samples; hx and mp have no panel."""
    table = allele_frequency(ql.engine, cohort="super_pop=EUR")
    assert set(table["dataset"].to_pylist()) == {"sim", "sp", "mt"}
    for d in ("sim", "sp", "mt"):
        eur = members(ql, d, super_population="EUR")
        assert eur and len(eur) < len(ql.samples(d)) or d == "mt"
        assert_rows(table, expected(ql, d, eur), d)
    assert_sorted(table)


def test_explicit_samples_across_datasets(ql):
    """A sample list spanning datasets: each site counts only its own dataset's members; an ID in
    two datasets (HG00096 in sp and mt) is a member of both."""
    sim_part = ql.samples("sim")[3:11]
    chosen = sim_part + ["37165", "S2", "S3", "HG00096", "HG00099"]
    table = allele_frequency(ql.engine, cohort=Cohort(samples=tuple(chosen)))
    assert set(table["dataset"].to_pylist()) == {"sim", "hx", "mp", "sp", "mt", "pc"}
    for d, mine in (("sim", sim_part), ("hx", ["37165"]), ("mp", ["S2", "S3"]),
                    ("sp", ["HG00096", "HG00099"]), ("mt", ["HG00096", "HG00099"]), ("pc", ["HG00096", "HG00099"])):
        assert_rows(table, expected(ql, d, mine), d)
    # the same list as cohort text and as a plain list
    assert allele_frequency(ql.engine, cohort="samples=" + ",".join(chosen)).equals(table)
    assert allele_frequency(ql.engine, cohort=chosen).equals(table)


def test_sites_of_one_or_two_datasets(ql):
    """22:1000-2500 holds split_test's sites, pc's, and maybe sim's; each (site, dataset) counts that
    dataset's members only, and 22-1180-CAGGCG-C, in sp and pc, gets a row for each."""
    sim_part = ql.samples("sim")[:30]
    sp_part = ["HG00096", "HG00100", "HG00104"]
    table = allele_frequency(ql.engine, region="22:1000-2500", cohort=sim_part + sp_part)
    in_region = lambda want: {k: v for k, v in want.items() if k[0] == "22" and 1000 <= k[1] <= 2500}  # noqa: E731
    want_sp = in_region(expected(ql, "sp", sp_part))
    assert want_sp
    assert_rows(table, want_sp, "sp")
    assert_rows(table, in_region(expected(ql, "sim", sim_part)), "sim")
    assert_rows(table, in_region(expected(ql, "pc", ["HG00096"])), "pc")
    assert set(table["dataset"].to_pylist()) <= {"sim", "sp", "pc"}
    sizes = {d: n for d, n in zip(table["dataset"].to_pylist(), table["n_samples"].to_pylist())}
    assert sizes["sp"] == 3 and sizes["pc"] == 1
    shared = allele_frequency(ql.engine, cpras="22-1180-CAGGCG-C", cohort="samples=HG00096,HG00099,HG00100")
    assert shared["dataset"].to_pylist() == ["pc", "sp"]
    assert_rows(shared, {("22", 1180, "CAGGCG", "C"): expected(ql, "pc", ["HG00096", "HG00099"])[("22", 1180, "CAGGCG", "C")]}, "pc")
    assert_rows(shared, {("22", 1180, "CAGGCG", "C"): expected(ql, "sp", ["HG00096", "HG00099", "HG00100"])[("22", 1180, "CAGGCG", "C")]}, "sp")


def test_super_pop_region_and_dataset(ql):
    eas = members(ql, "sim", super_population="EAS")
    table = allele_frequency(ql.engine, region=Region("chr22", 100_000, 250_000), cohort="super_pop=EAS", dataset="sim")
    want = {k: v for k, v in expected(ql, "sim", eas).items() if 100_000 <= k[1] <= 250_000}
    assert len(want) > 50
    assert_rows(table, want, "sim")
    assert set(table["n_samples"].to_pylist()) == {len(eas)}


# ------------------------------------------------------------------------------------ selectors


def _sim_rsids(ql) -> dict[str, list[tuple]]:
    """rsID -> split alleles, from the plain VCF text."""
    import gzip
    out: dict[str, list[tuple]] = {}
    with gzip.open(ql.vcfs["sim"], "rt") as fh:
        for line in fh:
            if line.startswith("#"):
                continue
            cols = line.split("\t", 5)
            rs = next((x for x in cols[2].split(";") if x.startswith("rs")), None)
            if rs:
                out.setdefault(rs, []).extend(("22", int(cols[1]), cols[3], a) for a in cols[4].split(","))
    return out


def test_by_rsid_list(ql):
    rsids = _sim_rsids(ql)
    multi = [r for r, ks in rsids.items() if len(ks) > 1]
    chosen = [*list(rsids)[5:9], *multi[:2]]
    assert multi, "the simulated cohort should have a multi-allelic rsID"
    cohort = "super_pop=AFR,EAS"
    who = members(ql, "sim", super_population="AFR") + members(ql, "sim", super_population="EAS")
    table = allele_frequency(ql.engine, rsids=chosen, cohort=cohort)
    keys = {k for r in chosen for k in rsids[r]}
    assert_rows(table, {k: v for k, v in expected(ql, "sim", who).items() if k in keys}, "sim")
    assert set(table["rsid"].to_pylist()) == set(chosen)
    # comma text, upper-case RS and repeats give the same
    text = ",".join(c.upper() for c in chosen) + "," + chosen[0]
    assert allele_frequency(ql.engine, rsids=text, cohort=cohort).equals(table)


def test_by_cpra_list_across_datasets(ql):
    cpras = ["1-1-A-G", "chr1-3-A-C", "22-1783-TA-T", "X-2700157-G-A", "chrM-42-T-TC"]
    table = allele_frequency(ql.engine, cpras=cpras)
    assert table["cpra"].to_pylist() == ["1-1-A-G", "1-3-A-C", "22-1783-TA-T", "X-2700157-G-A", "MT-42-T-TC"]
    for d, n in (("mp", 2), ("sp", 1), ("hx", 1), ("mt", 1)):
        want = {k: v for k, v in expected(ql, d).items() if "-".join(map(str, k)) in table["cpra"].to_pylist()}
        assert len(want) == n
        assert_rows(table, want, d)
    sub = allele_frequency(ql.engine, cpras="1-1-A-G, 1-1-A-C", cohort="samples=S1,S3")
    assert_rows(sub, {k: v for k, v in expected(ql, "mp", ["S1", "S3"]).items() if k[1] == 1}, "mp")


def test_region_with_no_variants_is_empty(ql):
    table = allele_frequency(ql.engine, region="22:390000000-390000100")
    assert table.num_rows == 0 and table.schema == AF_SCHEMA
    with pytest.raises(QueryError, match="the lake has no contig '7'"):  # absent contig: named, not empty
        allele_frequency(ql.engine, region="7")


def test_gene_selector_uses_gene_region(ql, monkeypatch):
    import genolake.queries.genes as genes

    seen = {}

    def fake_gene_region(engine, symbol, *, assembly="GRCh37", genes_file=None):
        seen.update(symbol=symbol, assembly=assembly, genes_file=genes_file)
        if symbol != "FAKE1":
            raise QueryError(f"unknown gene {symbol!r}")
        return Region("22", 50_000, 90_000)

    monkeypatch.setattr(genes, "gene_region", fake_gene_region)
    by_gene = allele_frequency(ql.engine, gene="FAKE1", cohort="pop=CHB", assembly="GRCh38", genes_file="g.bed")
    assert seen == {"symbol": "FAKE1", "assembly": "GRCh38", "genes_file": "g.bed"}
    assert by_gene.num_rows > 0
    assert by_gene.equals(allele_frequency(ql.engine, region="22:50000-90000", cohort="pop=CHB"))
    with pytest.raises(QueryError, match="unknown gene 'NOPE'"):
        allele_frequency(ql.engine, gene="NOPE")


# ------------------------------------------------------------------------- population groups


@pytest.mark.parametrize("by,column", [("super_population", "super_population"), ("population", "population"),
                                       ("sex", "sex")])
def test_population_frequencies_equal_bcftools_per_group(ql, by, column):
    table = population_frequencies(ql.engine, region="22", by=by)
    sim_groups = sorted({p[column] for p in ql.panels["sim"].values()})
    groups = sorted({*sim_groups, *(p[column] for p in ql.panels["sp"].values()), "unknown"})
    assert table.column_names == ["dataset", "contig", "pos", "ref", "alt", "cpra", "rsid",
                                  *(f"{g}_{s}" for g in groups for s in ("ac", "an", "af"))]
    assert set(table["dataset"].to_pylist()) == {"sim", "sp", "pc"}
    rows = table.to_pylist()
    for d in ("sim", "sp", "pc"):
        for g in groups:
            who = [s for s in ql.samples(d) if ql.panels[d].get(s, {}).get(column, "unknown") == g]
            want = expected(ql, d, who) if who else None
            for r in (r for r in rows if r["dataset"] == d):
                key = (r["contig"], r["pos"], r["ref"], r["alt"])
                ac, an = (want[key]["ac"], want[key]["an"]) if who else (0, 0)
                assert (r[f"{g}_ac"], r[f"{g}_an"]) == (ac, an), (d, g, key)
                assert r[f"{g}_af"] == (None if an == 0 else ac / an)
    assert_sorted(table)


def test_population_frequencies_in_a_cohort_and_by_rsid(ql):
    rsids = list(_sim_rsids(ql))[20:23]
    table = population_frequencies(ql.engine, rsids=rsids, cohort="sex=female", dataset="sim", by="population")
    assert [c for c in table.column_names if c.endswith("_ac")] == ["CEU_ac", "CHB_ac", "YRI_ac"]
    for pop in ("CEU", "CHB", "YRI"):
        who = members(ql, "sim", population=pop, sex="female")
        want = expected(ql, "sim", who)
        for r in table.to_pylist():
            key = (r["contig"], r["pos"], r["ref"], r["alt"])
            assert (r[f"{pop}_ac"], r[f"{pop}_an"]) == (want[key]["ac"], want[key]["an"])
    assert table.schema.field("CEU_ac").type == pa.int64() and table.schema.field("CEU_af").type == pa.float64()


def test_population_frequencies_bad_by(ql):
    with pytest.raises(QueryError, match="by must be one of super_population, population, sex"):
        population_frequencies(ql.engine, region="22", by="colour")


# ------------------------------------------------------------------------------ bad requests


def _one_line(err) -> str:
    text = str(err.value)
    assert "\n" not in text and text
    return text


def test_unknown_rsids_are_named(ql):
    known = list(_sim_rsids(ql))[0]
    with pytest.raises(QueryError) as err:
        allele_frequency(ql.engine, rsids=["rs999999999999"], strict=True)
    assert "rs999999999999" in _one_line(err) and "not found" in str(err.value)
    with pytest.raises(QueryError) as err:  # one found, one not: still an error naming the missing one
        allele_frequency(ql.engine, rsids=[known, "rs1"], strict=True)
    assert "rs1" in _one_line(err) and known not in str(err.value)
    with pytest.raises(QueryError) as err:  # an rsID of another dataset
        allele_frequency(ql.engine, rsids=[known], dataset="mp", strict=True)
    assert "found in sim" in _one_line(err)
    with pytest.raises(QueryError, match="is not an rsID"):
        allele_frequency(ql.engine, rsids="671")


def test_unknown_and_malformed_cpras(ql):
    with pytest.raises(QueryError) as err:
        allele_frequency(ql.engine, cpras=["1-1-A-G", "1-1-A-T", "22-5-C-G"], strict=True)
    text = _one_line(err)
    assert "1-1-A-T" in text and "22-5-C-G" in text and "1-1-A-G" not in text
    for bad in ("22-abc-A-G", "22-100-A", "22:100", "22-100-A-G-T"):
        with pytest.raises(QueryError) as err:
            allele_frequency(ql.engine, cpras=[bad])
        assert bad in _one_line(err) and "CONTIG-POS-REF-ALT" in str(err.value)


@pytest.mark.parametrize("region,fragment", [("22:abc", "'22:abc'"), ("22:5-1", "starts after it ends"),
                                             ("22:0-10", "out of range"), ("", "empty region"),
                                             ("22:1-2-3", "malformed region")])
def test_malformed_regions(ql, region, fragment):
    with pytest.raises(QueryError) as err:
        allele_frequency(ql.engine, region=region)
    assert fragment in _one_line(err)


def test_selector_conflicts_and_cohort_errors(ql):
    with pytest.raises(QueryError, match="not rsids and region"):
        allele_frequency(ql.engine, rsids=["rs1"], region="22")
    with pytest.raises(QueryError, match="no rsIDs given"):
        allele_frequency(ql.engine, rsids=[])
    with pytest.raises(QueryError, match="super-population 'XYZ' is not in the lake; known super-populations: AFR, EAS, EUR"):
        allele_frequency(ql.engine, region="22", cohort="super_pop=XYZ")
    with pytest.raises(QueryError, match="matches no samples"):
        allele_frequency(ql.engine, region="22", cohort="super_pop=EAS", dataset="mp")
    with pytest.raises(QueryError, match="dataset 'nope' is not in the lake"):
        allele_frequency(ql.engine, region="22", dataset="nope")


# ---------------------------------------------------------------------------- regions and CPRAs


def test_parse_region_forms():
    from genolake.queries.regions import MAX_POS, parse_region

    assert parse_region("22:16000000-17000000") == Region("22", 16_000_000, 17_000_000)
    assert parse_region("chr22:16,000,000-17,000,000") == Region("22", 16_000_000, 17_000_000)
    assert parse_region("22:16050075") == Region("22", 16_050_075, 16_050_075)
    assert parse_region("22") == Region("22", 1, MAX_POS) == Region("22", 1, 2**31 - 1)
    assert parse_region(" chrX:5-10 ") == Region("X", 5, 10)
    assert parse_region("chrM:1-100").contig == "MT" and Region("chrM", 1, 2).contig == "MT"
    assert str(parse_region("22")) == "22" and str(parse_region("22:5-9")) == "22:5-9"


@pytest.mark.parametrize("text", ["22:abc", "22:5-1", "22:0", ":5", "22:1-", "22:-5", "22 :1-5", "22:1-5:6"])
def test_parse_region_errors(text):
    from genolake.queries.regions import parse_region

    with pytest.raises(QueryError) as err:
        parse_region(text)
    msg = str(err.value)
    assert repr(text) in msg and "\n" not in msg
    assert "expected CONTIG, CONTIG:POS or CONTIG:START-END" in msg or "out of range" in msg


def test_parse_cpra_forms_and_errors():
    from genolake.queries.regions import parse_cpra

    assert parse_cpra("22-16050075-A-G") == ("22", 16_050_075, "A", "G")
    assert parse_cpra("chr22-16050075-A-G") == ("22", 16_050_075, "A", "G")
    assert parse_cpra("chrM-42-T-TC") == ("MT", 42, "T", "TC")
    assert parse_cpra("1:5:A:<DEL>") == ("1", 5, "A", "<DEL>")
    assert parse_cpra("22-1183-G-*") == ("22", 1183, "G", "*")
    for bad in ("22-16050075-A", "22-x-A-G", "rs671", "22-5-A-G-C", "22-0-A-G", ""):
        with pytest.raises(QueryError) as err:
            parse_cpra(bad)
        assert repr(bad) in str(err.value) and "\n" not in str(err.value)


def test_unknown_ids_do_not_void_the_answer(ql):
    """Issue item 11: one unknown rsID or CPRA in a list voided the whole answer (exit 6, no rows).
    The found ones come back, equal to asking for them alone; the unknown ones are in the metadata."""
    import json

    from genolake.queries.analyses.frequencies import UNKNOWN_KEY, UNKNOWN_NOTE_KEY

    known = sorted(_sim_rsids(ql))[:2]
    got = allele_frequency(ql.engine, rsids=known + ["rs999999999999"], cohort="super_pop=EAS")
    alone = allele_frequency(ql.engine, rsids=known, cohort="super_pop=EAS")
    assert got.num_rows == alone.num_rows > 0 and got.to_pylist() == alone.to_pylist()
    assert json.loads(got.schema.metadata[UNKNOWN_KEY]) == ["rs999999999999"]
    assert b"rs999999999999" in got.schema.metadata[UNKNOWN_NOTE_KEY]
    assert UNKNOWN_KEY not in (alone.schema.metadata or {})
    cpras = got["cpra"].to_pylist()
    for source in ("auto", "cpra_index"):  # the key-lookup path and the SQL path
        t = allele_frequency(ql.engine, cpras=cpras + ["22-5-C-G"], dataset="sim", _source=source)
        assert t["cpra"].to_pylist() == cpras
        assert json.loads(t.schema.metadata[UNKNOWN_KEY]) == ["22-5-C-G"]
    pf = population_frequencies(ql.engine, rsids=known + ["rs1"], by="super_pop")
    assert set(pf["rsid"].to_pylist()) == set(known)
    assert json.loads(pf.schema.metadata[UNKNOWN_KEY]) == ["rs1"]
    # none found at all is no answer: not found (exit 4), as with --strict
    from genolake.lake.errors import QueryNotFound

    with pytest.raises(QueryNotFound, match="rs1"):
        allele_frequency(ql.engine, rsids=["rs1"])
    with pytest.raises(QueryNotFound, match="22-5-C-G"):
        allele_frequency(ql.engine, cpras=["22-5-C-G"], dataset="sim")


def test_region_on_a_contig_the_lake_lacks_names_its_contigs(ql):
    """Issue item 14: a region on a contig the lake does not have answered with nothing."""
    from genolake.queries.analyses.annotation import annotate
    from genolake.queries.analyses.calls import sample_variants

    sample = ql.engine.sql("SELECT sample_id FROM samples WHERE dataset = 'sim' LIMIT 1")[0][0].as_py()
    for call in (lambda: allele_frequency(ql.engine, region="chr7:1-1000"),
                 lambda: population_frequencies(ql.engine, region="7", by="super_pop"),
                 lambda: annotate(ql.engine, region="7:1-1000"),
                 lambda: sample_variants(ql.engine, sample, region="7:1-1000")):
        with pytest.raises(QueryError) as err:
            call()
        text = _one_line(err)
        assert "no contig '7'" in text and "22" in text.split("contigs:")[1]


def test_by_accepts_the_cli_spellings(ql):
    """Issue item 14: `by=` took only the column names; the CLI's super_pop/pop work too."""
    rsids = sorted(_sim_rsids(ql))[:2]
    for short, column in (("super_pop", "super_population"), ("pop", "population")):
        assert population_frequencies(ql.engine, rsids=rsids, by=short).equals(
            population_frequencies(ql.engine, rsids=rsids, by=column))
