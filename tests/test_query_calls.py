"""carriers and sample_variants against a plain str.split reading of the VCFs (tests/oracle.py).

The lake is the five-dataset lake of test_query_frequencies (simulated cohort with panel; haploid,
mixed-ploidy, multi-allelic and chrM shared files; `sp` and `mt` share sample IDs)."""

from __future__ import annotations

import gzip

import pytest
from oracle import have_bcftools, plain_records, plain_stored_calls

from genolake.lake.errors import QueryError
from genolake.queries.analyses.calls import CARRIERS_SCHEMA, SAMPLE_VARIANTS_SCHEMA, carriers, genotype_text, sample_variants

pytestmark = pytest.mark.skipif(not have_bcftools(), reason="bcftools/tabix not on PATH")


def expected_text(alleles: list[str], a: int, phased: bool) -> str:
    """The split allele's genotype from the alleles as written: this ALT -> 1, other called -> 0."""
    mapped = sorted(("." if x == "." else "1" if x == str(a) else "0" for x in alleles), key=".01".index)
    return ("|" if phased and len(alleles) > 1 else "/").join(mapped)


def plain_carriers(ql, dataset: str, limit: int | None = None):
    """{cpra: {sample: (genotype, dosage, called, phased, has_missing)}} per split allele."""
    out = {}
    for i, (contig, pos, ref, alts, calls) in enumerate(plain_records(ql.vcfs[dataset])):
        if limit is not None and i >= limit:
            break
        for a, alt in enumerate(alts, start=1):
            out[f"{contig}-{pos}-{ref}-{alt}"] = {
                s: (expected_text(alleles, a, phased), sum(x == str(a) for x in alleles),
                    sum(x != "." for x in alleles), phased, "." in alleles)
                for s, alleles, phased in calls}
    return out


def _check_carriers(ql, dataset, cpra, calls, cohort=None, who=None):
    for include_missing in (False, True):
        table = carriers(ql.engine, cpra, cohort=cohort, include_missing=include_missing)
        assert table.schema == CARRIERS_SCHEMA
        rows = [r for r in table.to_pylist() if r["dataset"] == dataset]
        want = {s: c for s, c in calls.items()
                if (who is None or s in who) and (c[1] > 0 or (include_missing and c[4]))}
        assert [r["sample_id"] for r in rows] == sorted(want), (cpra, include_missing)
        for r in rows:
            text, dosage, called, phased, _ = want[r["sample_id"]]
            assert (r["genotype"], r["alt_dosage"], r["called_alleles"]) == (text, dosage, called), (cpra, r)
            assert r["phased"] == (phased and len(text) > 1), (cpra, r)
            panel = ql.panels[dataset].get(r["sample_id"], {})
            assert (r["population"], r["super_population"], r["sex"]) == (
                panel.get("population"), panel.get("super_population"), panel.get("sex"))


@pytest.mark.parametrize("dataset,limit", [("mp", None), ("sp", None), ("mt", None), ("pc", None), ("hx", 60),
                                           ("sim", 40)])
def test_carriers_equal_plain_reading(ql, dataset, limit):
    """Every split allele of the small files (the first records of the others): haploid, triploid,
    partial ('./1'), phased and multi-allelic calls."""
    seen = set()
    for cpra, calls in plain_carriers(ql, dataset, limit).items():
        _check_carriers(ql, dataset, cpra, calls)
        seen.update(c[0] for c in calls.values())
    if dataset == "mp":
        assert {"1", "0", ".", "./.", "1|1", "0/0/1"} <= seen
    if dataset == "pc":
        assert {"./1", ".|1", "0|1", ".|0", "./1/1", "1"} <= seen
    if dataset == "sim":
        assert "0|1" in seen and "1|1" in seen


def test_genotype_text_cases():
    assert genotype_text(1, 2, 2, True) == "0|1"
    assert genotype_text(2, 2, 2, False) == "1/1"
    assert genotype_text(1, 1, 2, False) == "./1"
    assert genotype_text(0, 1, 2, True) == ".|0"
    assert genotype_text(1, 1, 1, False) == "1"
    assert genotype_text(0, 0, 1, False) == "."
    assert genotype_text(1, 3, 3, False) == "0/0/1"


def test_carriers_in_a_cohort_and_by_rsid(ql):
    who = {s for s, p in ql.panels["sim"].items() if p["super_population"] == "EUR"}
    records = plain_carriers(ql, "sim", 200)
    with gzip.open(ql.vcfs["sim"], "rt") as fh:
        rs = [(line.split("\t")[2], line.split("\t")) for line in fh if not line.startswith("#")]
    single = [(r, cols) for r, cols in rs if r.startswith("rs") and "," not in cols[4]][:5]
    for rsid, cols in single:
        cpra = f"22-{cols[1]}-{cols[3]}-{cols[4]}"
        if cpra in records:
            _check_carriers(ql, "sim", cpra, records[cpra], cohort="super_pop=EUR", who=who)
        assert carriers(ql.engine, rsid).equals(carriers(ql.engine, cpra))
    # a dataset restriction and a cohort spanning sp and mt (same IDs, different datasets)
    table = carriers(ql.engine, "22-1183-G-C", cohort="samples=HG00099,HG00101,HG00100")
    assert table["sample_id"].to_pylist() == ["HG00099", "HG00101"]
    assert table["genotype"].to_pylist() == ["0/1", "1/1"]


def test_carriers_errors(ql):
    with gzip.open(ql.vcfs["sim"], "rt") as fh:
        multi = next(line.split("\t") for line in fh if not line.startswith("#")
                     and line.split("\t")[2].startswith("rs") and "," in line.split("\t")[4])
    with pytest.raises(QueryError, match=f"{multi[2]} names 2 alleles .*give one as a CPRA"):
        carriers(ql.engine, multi[2])
    with pytest.raises(QueryError, match="variant 22-5-C-G not found in datasets hx, mp, mt, pc, sim, sp"):
        carriers(ql.engine, "22-5-C-G")
    with pytest.raises(QueryError, match="variant 1-1-A-G not found in dataset 'sim'"):
        carriers(ql.engine, "1-1-A-G", dataset="sim")
    with pytest.raises(QueryError, match="rsID not found .*rs999999999"):
        carriers(ql.engine, "rs999999999")
    for bad in ("22-x-A-G", "rsabc", "", "22:100"):
        with pytest.raises(QueryError) as err:
            carriers(ql.engine, bad)
        assert "\n" not in str(err.value) and ("CPRA" in str(err.value) or "rsID" in str(err.value))


# ------------------------------------------------------------------------------ sample_variants


def plain_sample_calls(ql, dataset: str, sample: str) -> dict[tuple, tuple]:
    """{(contig, pos, ref, alt): (genotype, dosage, called, ploidy, phased)} of the sample's stored calls."""
    stored = plain_stored_calls(ql.vcfs[dataset])
    texts = {}
    for contig, pos, ref, alts, calls in plain_records(ql.vcfs[dataset]):
        for s, alleles, phased in calls:
            if s == sample:
                for a, alt in enumerate(alts, start=1):
                    texts[(contig, pos, ref, alt)] = expected_text(alleles, a, phased)
    return {k[1:]: (texts[k[1:]], v["alt_dosage"], v["called_alleles"], v["ploidy"], v["phased"])
            for k, v in stored.items() if k[0] == sample}


def _as_dict(table, dataset):
    out = {}
    for r in table.to_pylist():
        if r["dataset"] == dataset:
            key = (r["contig"], r["pos"], r["ref"], r["alt"])
            assert r["cpra"] == "-".join(map(str, key))
            out[key] = (r["genotype"], r["alt_dosage"], r["called_alleles"], r["ploidy"], r["phased"])
    return out


@pytest.mark.parametrize("dataset,sample", [("sim", None), ("mp", "S2"), ("mp", "S3"), ("hx", "37165"),
                                            ("sp", "HG00102"), ("pc", "X1")])
def test_sample_variants_equal_plain_stored_calls(ql, dataset, sample):
    sample = sample or ql.samples("sim")[7]
    table = sample_variants(ql.engine, sample, dataset=dataset)
    assert table.schema == SAMPLE_VARIANTS_SCHEMA
    want = plain_sample_calls(ql, dataset, sample)
    assert want and _as_dict(table, dataset) == want
    rank = {"X": 23, "Y": 24, "MT": 25}
    keys = [(rank.get(c, int(c) if c.isdigit() else 1000), p) for c, p in zip(table["contig"].to_pylist(), table["pos"].to_pylist())]
    assert keys == sorted(keys)
    # region-restricted
    contig = table["contig"][0].as_py()
    positions = sorted({k[1] for k in want})
    lo, hi = positions[len(positions) // 4], positions[(3 * len(positions)) // 4]
    part = sample_variants(ql.engine, sample, dataset=dataset, region=f"{contig}:{lo}-{hi}")
    assert _as_dict(part, dataset) == {k: v for k, v in want.items() if lo <= k[1] <= hi}


def test_sample_in_two_datasets(ql):
    """HG00099 is in sp, mt (only 0/0 calls: nothing stored) and pc."""
    both = sample_variants(ql.engine, "HG00099")
    assert set(both["dataset"].to_pylist()) == {"sp", "pc"}
    for d in ("sp", "pc", "mt"):
        assert _as_dict(both, d) == plain_sample_calls(ql, d, "HG00099")
    assert [(r["pos"], r["dataset"]) for r in both.to_pylist()][:3] == [(1180, "pc"), (1183, "sp"), (1500, "pc")]
    only = sample_variants(ql.engine, "HG00099", dataset="pc")
    assert only["dataset"].to_pylist() == ["pc"] * 5
    # './.' at 22-1500 is one row per ALT; '0|.' is written missing first; haploid '0' is stored
    assert only["genotype"].to_pylist() == [".|1", "./.", "./.", ".|0", "0"]
    assert only["cpra"].to_pylist() == ["22-1180-CAGGCG-C", "22-1500-A-G", "22-1500-A-T", "22-1600-C-T", "X-100-G-A"]
    assert sample_variants(ql.engine, "HG00099", dataset="mt").num_rows == 0


def test_sample_variants_errors(ql):
    with pytest.raises(QueryError, match="sample 'NOBODY' is not in the lake"):
        sample_variants(ql.engine, "NOBODY")
    with pytest.raises(QueryError, match=r"sample 'S1' is not in dataset 'sim' \(it is in mp\)"):
        sample_variants(ql.engine, "S1", dataset="sim")
    with pytest.raises(QueryError, match="dataset 'zz' is not in the lake"):
        sample_variants(ql.engine, "S1", dataset="zz")
    with pytest.raises(QueryError, match="malformed region"):
        sample_variants(ql.engine, "S1", region="1:x")
    assert sample_variants(ql.engine, "S1", region="1:100-200").num_rows == 0
