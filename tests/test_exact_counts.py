"""AC, AN and AF from the curated tables equal bcftools on every shared VCF and a simulated cohort.

The oracle is `bcftools +fill-tags -t AC,AN` on the unsplit records (DESIGN.md), for the whole
dataset and for sample subsets (`bcftools view -S`), for every ETL engine of the registry (the
counting rule's conformance suite: `etl_engine` in conftest). The stored rows themselves and the
het/hom/missing counts are checked against a plain str.split reading of the text."""

from __future__ import annotations

import math

import pyarrow.compute as pc
import pytest
from conftest import GOOD_VCFS, lake_counts
from oracle import bcftools_counts, plain_site_counts, plain_stored_calls, vcf_samples

import genolake
from genolake.etl import pipeline
from genolake.etl.engines import local_engine


def _cohorts(samples):
    half = samples[: max(1, len(samples) // 2)]
    thirds = samples[1::3] or samples[:1]
    return [None, half, thirds]


def _check_variants_table(lake, dataset, whole):
    v = lake.read("variants")
    v = v.filter(pc.equal(v["dataset"], dataset)).to_pylist()
    assert {(r["contig"], r["pos"], r["ref"], r["alt"]): (r["ac"], r["an"]) for r in v} == whole
    for r in v:
        if r["an"] == 0:
            assert r["af"] is None
        else:
            assert math.isclose(r["af"], r["ac"] / r["an"], rel_tol=0, abs_tol=1e-15)
        assert r["cpra"] == f"{r['contig']}-{r['pos']}-{r['ref']}-{r['alt']}"
    return v


def _stored_rows(lake, dataset):
    v = lake.read("variants", columns=["dataset", "contig", "pos", "allele_ord", "ref", "alt"])
    v = v.filter(pc.equal(v["dataset"], dataset))
    alleles = {(c, p, o): (r, a) for c, p, o, r, a in zip(*(v[x].to_pylist() for x in ("contig", "pos", "allele_ord", "ref", "alt")))}
    g = lake.read("genotypes")
    g = g.filter(pc.equal(g["dataset"], dataset)).to_pylist()
    out = {}
    for r in g:
        ref, alt = alleles[(r["contig"], r["pos"], r["allele_ord"])]
        key = (r["sample_id"], r["contig"], r["pos"], ref, alt)
        assert key not in out, f"stored twice: {key}"
        out[key] = {k: r[k] for k in ("alt_dosage", "called_alleles", "ploidy", "phased")}
    return out


@pytest.mark.parametrize("vcf", GOOD_VCFS, ids=lambda p: p.name)
def test_shared_vcf_counts_equal_bcftools(vcf, ingested, tmp_path, etl_engine):
    lake = ingested(vcf, etl_engine, workers=1, chunk_records=3)
    samples = vcf_samples(vcf)
    for cohort in _cohorts(samples):
        assert lake_counts(lake, "d", cohort) == bcftools_counts(vcf, tmp_path / "bcf", cohort), f"cohort {cohort and len(cohort)}"
    rows = _check_variants_table(lake, "d", bcftools_counts(vcf, tmp_path / "bcf"))
    plain = plain_site_counts(vcf)
    assert {(r["contig"], r["pos"], r["ref"], r["alt"]): {k: r[k] for k in ("n_het", "n_hom_alt", "n_missing")}
            for r in rows} == plain


@pytest.mark.parametrize("vcf", [p for p in GOOD_VCFS if p.stat().st_size < 2_000_000], ids=lambda p: p.name)
def test_stored_rows_equal_plain_reading(vcf, ingested, etl_engine):
    lake = ingested(vcf, etl_engine, workers=1, chunk_records=3)
    assert _stored_rows(lake, "d") == plain_stored_calls(vcf)


def test_chunk_size_does_not_change_answers(tmp_path):
    """Chunks of 1 record (every record its own width) and of 1000 give the same tables."""
    vcf = next(p for p in GOOD_VCFS if p.name == "test-haploidX.vcf")
    tables = []
    for size in (1, 1000):
        lake = genolake.init_lake(tmp_path / f"lake{size}")
        genolake.ingest_vcf(lake, vcf, "d", workers=1, chunk_records=size)
        tables.append((lake.read("variants").sort_by([("pos", "ascending"), ("allele_ord", "ascending")]),
                       _stored_rows(lake, "d")))
    assert tables[0][0].equals(tables[1][0])
    assert tables[0][1] == tables[1][1]


def test_simulated_cohort_parallel_parts(sim_cohort, lake, tmp_path, monkeypatch):
    """The indexed, multi-part path (two worker processes) gives bcftools' counts too."""
    monkeypatch.setattr(local_engine, "PARALLEL_MIN_BYTES", 0)
    res = genolake.ingest_vcf(lake, sim_cohort.vcf, "sim", panel=sim_cohort.panel, workers=2, chunk_records=50)
    assert res.rows["records"] == sim_cohort.n_sites
    samples = lake.read("samples")
    eur = samples.filter(pc.equal(samples["super_population"], "EUR"))["sample_id"].to_pylist()
    assert 0 < len(eur) < sim_cohort.n_samples
    first = vcf_samples(sim_cohort.vcf)[:17]
    for cohort in (None, eur, first):
        assert lake_counts(lake, "sim", cohort) == bcftools_counts(sim_cohort.vcf, tmp_path / "bcf", cohort)
    _check_variants_table(lake, "sim", bcftools_counts(sim_cohort.vcf, tmp_path / "bcf"))
    assert _stored_rows(lake, "sim") == plain_stored_calls(sim_cohort.vcf)


def test_two_parts_equal_one_part(sim_cohort, tmp_path, monkeypatch):
    monkeypatch.setattr(local_engine, "PARALLEL_MIN_BYTES", 0)
    out = []
    for workers in (1, 2):
        lake = genolake.init_lake(tmp_path / f"w{workers}")
        genolake.ingest_vcf(lake, sim_cohort.vcf, "sim", workers=workers, chunk_records=64)
        out.append({name: lake.read(name).sort_by([(c, "ascending") for c in spec_sort(name)])
                    for name in ("variants", "genotypes", "cpra_index", "rsid_index")})
    for name in out[0]:
        assert out[0][name].equals(out[1][name]), name


def spec_sort(name):
    return {"variants": ["contig", "pos", "allele_ord"],
            "genotypes": ["sample_id", "contig", "pos", "allele_ord"],
            "cpra_index": ["contig", "pos", "allele_ord", "sample_index"],
            "rsid_index": ["rsid", "pos"]}[name]
