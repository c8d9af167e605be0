"""ml.features.clinvar_conflict: values against a plain reading of the ClinVar TSV and bcftools,
labels, the no-leakage proof, the shared excerpt, errors.

Lakes (session-scoped): the small simulated cohort (VCF + panel + its ClinVar) as dataset "sim";
the same VCF with a copy of that ClinVar whose label-bearing columns are shuffled among rows (the
leakage proof); the shared 12-row excerpt alone (no callset)."""

from __future__ import annotations

import csv
import gzip
import random
import re
from collections import Counter, defaultdict

import numpy as np
import pytest

import genolake
from genolake.lake.coords import cpra_key, normalize_contig
from genolake.lake.errors import QueryError, QueryNotFound
from genolake.lake.schemas import CLINVAR
from genolake.ml.features import build
from genolake.ml.features import clinvar_conflict as cc

from conftest import CLINVAR_EXCERPT
from oracle import bcftools_counts, have_bcftools

# ClinVar header -> the leaking clinvar column it becomes (the columns the perturbed copy shuffles)
LEAKING_HEADERS = {"ClinicalSignificance": "clinical_significance", "ClinSigSimple": "clin_sig_simple",
                   "ReviewStatus": "review_status", "LastEvaluated": "last_evaluated",
                   "PhenotypeIDS": "phenotype_ids", "PhenotypeList": "phenotype_list"}
OLD_PHRASE = "conflicting INTERPRETATIONS of pathogenicity; other"  # the older wording, odd case


def _read_tsv(path) -> tuple[list[str], list[dict]]:
    with gzip.open(path, "rt", newline="") as fh:
        reader = csv.reader(fh, delimiter="\t", quoting=csv.QUOTE_NONE)
        header = [h.lstrip("#") for h in next(reader)]
        return header, [dict(zip(header, r)) for r in reader]


def _write_tsv(path, header, rows) -> None:
    with gzip.open(path, "wt", newline="") as fh:
        fh.write("#" + "\t".join(header) + "\n")
        for r in rows:
            fh.write("\t".join(r[h] for h in header) + "\n")


def _perturbed_copy(src, dst) -> None:
    """`src` with every leaking column shuffled among the rows, and some significances in the old
    wording: the labels change, nothing a feature may read does."""
    header, rows = _read_tsv(src)
    rng = random.Random(5)
    for h in LEAKING_HEADERS:
        values = [r[h] for r in rows]
        rng.shuffle(values)
        for r, v in zip(rows, values):
            r[h] = v
    for r in rows[::7]:
        r["ClinicalSignificance"] = OLD_PHRASE
    _write_tsv(dst, header, rows)


@pytest.fixture(scope="session")
def lakes(tmp_path_factory, sim_cohort):
    root = tmp_path_factory.mktemp("cvfeat")
    sim = genolake.init_lake(root / "sim")
    genolake.ingest_vcf(sim, sim_cohort.vcf, "sim", panel=sim_cohort.panel)
    genolake.ingest_clinvar(sim, sim_cohort.clinvar)
    perturbed_tsv = root / "perturbed_variant_summary.txt.gz"
    _perturbed_copy(sim_cohort.clinvar, perturbed_tsv)
    perturbed = genolake.init_lake(root / "perturbed")
    genolake.ingest_vcf(perturbed, sim_cohort.vcf, "sim", panel=sim_cohort.panel)
    genolake.ingest_clinvar(perturbed, perturbed_tsv)
    excerpt = genolake.init_lake(root / "excerpt")
    genolake.ingest_clinvar(excerpt, CLINVAR_EXCERPT)
    engines = {name: genolake.connect(lake) for name, lake in
               (("sim", sim), ("perturbed", perturbed), ("excerpt", excerpt))}
    yield {"engines": engines, "perturbed_tsv": perturbed_tsv, "root": root}
    for e in engines.values():
        e.close()


@pytest.fixture(scope="session")
def sim_features(lakes):
    return build(lakes["engines"]["sim"], "clinvar_conflict", assembly="GRCh37")


# ------------------------------------------------------------------------- the plain reading


def _num(text: str) -> float:
    return np.nan if text in ("", "-", "na") else float(text)


def plain_features(path, assembly: str) -> dict[str, dict]:
    """VariationID -> expected values, read from the TSV with csv and Python only."""
    _, rows = _read_tsv(path)
    first: dict[str, dict] = {}
    for r in rows:  # file order: the first record of a variation wins
        if r["Assembly"] == assembly and r["VariationID"] not in first:
            first[r["VariationID"]] = r
    per_gene = Counter(r["GeneSymbol"] for r in first.values() if r["GeneSymbol"] not in ("", "-"))
    spans: dict[tuple, list] = defaultdict(lambda: [None, None])
    out = {}
    for vid, r in first.items():
        ref, alt, pvcf = r["ReferenceAlleleVCF"], r["AlternateAlleleVCF"], int(r["PositionVCF"])
        allele = lambda a: None if a in ("", "-", "na") else a  # noqa: E731
        ref, alt = allele(ref), allele(alt)
        start, stop = int(r["Start"]), int(r["Stop"])
        gene = None if r["GeneSymbol"] in ("", "-") else r["GeneSymbol"]
        contig = normalize_contig(r["Chromosome"])
        if gene and start > 0 and stop >= start:
            s = spans[(gene, contig)]
            s[0] = start if s[0] is None else min(s[0], start)
            s[1] = stop if s[1] is None else max(s[1], stop)
        sig = r["ClinicalSignificance"].lower()
        out[vid] = {
            "type": r["Type"], "name": r["Name"], "origin": r["OriginSimple"],
            "ref_length": np.nan if ref is None else len(ref), "alt_length": np.nan if alt is None else len(alt),
            "span_length": stop - start + 1 if start > 0 and stop >= start else np.nan,
            "has_rsid": float(r["RS# (dbSNP)"] not in ("-1", "", "-", "na")),
            "number_submitters": _num(r["NumberSubmitters"]),
            "gene": gene, "contig": contig, "gene_records": per_gene[gene] if gene else np.nan,
            "cpra": cpra_key(contig, pvcf, ref, alt) if pvcf > 0 and ref and alt else None,
            "label": "conflicting" if ("conflicting interpretations of pathogenicity" in sig
                                       or "conflicting classifications of pathogenicity" in sig)
            else "not_conflicting",
        }
    for v in out.values():
        v["span"] = spans.get((v["gene"], v["contig"])) if v["gene"] else None
    return out


def _col(fs, name) -> np.ndarray:
    return fs.X[:, fs.columns.index(name)]


def _same(a, b) -> bool:
    return (np.isnan(a) and np.isnan(b)) or a == pytest.approx(b, rel=1e-12, abs=1e-15)


# ------------------------------------------------------------------------------------ tests


def test_columns_fixed_and_rows_one_per_variation(sim_features, sim_cohort):
    fs = sim_features
    assert fs.task == "clinvar_conflict" and fs.columns == cc.feature_columns(["AFR", "EAS", "EUR"])
    expected = plain_features(sim_cohort.clinvar, "GRCh37")
    assert sorted(fs.rows) == sorted(expected) and len(set(fs.rows)) == len(fs.rows)
    assert fs.X.dtype == np.float64 and fs.X.shape == (len(expected), len(fs.columns))
    assert fs.params == {"assembly": "GRCh37", "dataset": "sim", "populations": ["AFR", "EAS", "EUR"], "labels": True}


def test_values_match_a_plain_reading_of_the_tsv(sim_features, sim_cohort):
    fs = sim_features
    expected = plain_features(sim_cohort.clinvar, "GRCh37")
    type_cols = [c for c in fs.columns if c.startswith("type_")]
    origin_cols = [c for c in fs.columns if c.startswith("origin_")]
    protein_cols = [c for c in fs.columns if c.startswith("protein_")]
    for i, vid in enumerate(fs.rows):
        e = expected[vid]
        x = dict(zip(fs.columns, fs.X[i]))
        assert fs.y[i] == e["label"] and fs.groups[i] == (e["gene"] or "-")
        want_type = next((t for t in cc.VARIANT_TYPES if t.lower() == e["type"].lower()), None)
        hot = [c for c in type_cols if x[c] == 1.0]
        assert hot == [f"type_{cc._slug(want_type)}" if want_type else "type_other"]
        assert sum(x[c] for c in type_cols) == 1 and sum(x[c] for c in origin_cols) == 1
        assert x["origin_germline"] == (e["origin"] == "germline")
        assert sum(x[c] for c in protein_cols) == 1
        missense = re.search(r"\(p\.[A-Z][a-z]{2}\d+[A-Z][a-z]{2}\)", e["name"]) and "Ter)" not in e["name"]
        assert x["protein_missense"] == bool(missense)
        for name in ("ref_length", "alt_length", "span_length", "has_rsid", "number_submitters", "gene_records"):
            assert _same(x[name], float(e[name])), (vid, name, x[name], e[name])
        assert x["has_gene"] == (e["gene"] is not None)
    # the simulator's types and protein changes are all exercised
    types = {e["type"] for e in expected.values()}
    assert {"single nucleotide variant", "Deletion", "Insertion"} <= types and types & {"copy number loss", "copy number gain"}
    assert _col(fs, "protein_missense").sum() > 0 and _col(fs, "protein_none").sum() > 0


@pytest.mark.skipif(not have_bcftools(), reason="bcftools is the oracle")
def test_lake_features_match_bcftools(sim_features, sim_cohort, tmp_path_factory):
    fs = sim_features
    work = tmp_path_factory.mktemp("cvbcf")
    whole = bcftools_counts(sim_cohort.vcf, work)
    with open(sim_cohort.panel) as fh:
        panel = [line.rstrip("\n").split("\t") for line in fh][1:]
    by_pop = {p: bcftools_counts(sim_cohort.vcf, work, [s for s, _, sp, _ in panel if sp == p])
              for p in ("AFR", "EAS", "EUR")}
    expected = plain_features(sim_cohort.clinvar, "GRCh37")
    keys = {cpra_key(*k): k for k in whole}
    n_in = 0
    for i, vid in enumerate(fs.rows):
        e, x = expected[vid], dict(zip(fs.columns, fs.X[i]))
        key = keys.get(e["cpra"]) if e["cpra"] else None
        assert x["in_lake"] == (key is not None)
        if key is None:
            assert all(np.isnan(x[c]) for c in ("af", "af_AFR", "af_EAS", "af_EUR"))
        else:
            n_in += 1
            ac, an = whole[key]
            assert _same(x["af"], ac / an if an else np.nan)
            for p, counts in by_pop.items():
                ac, an = counts[key]
                assert _same(x[f"af_{p}"], ac / an if an else np.nan), (vid, p)
        if e["span"] is None:
            assert np.isnan(x["gene_lake_variants"])
        else:
            lo, hi = e["span"]
            assert x["gene_lake_variants"] == sum(1 for k in whole if k[0] == e["contig"] and lo <= k[1] <= hi)
    assert 0 < n_in < len(fs.rows)  # both cases occur
    assert np.nanstd(_col(fs, "af_AFR") - _col(fs, "af_EUR")) > 0  # populations differ


def test_labels_match_both_wordings_and_perturbation_leaves_features_unchanged(lakes, sim_features):
    """The leakage proof: every leaking column shuffled among the rows (labels change, some in the
    older wording), the same callset: X is identical."""
    other = build(lakes["engines"]["perturbed"], "clinvar_conflict", assembly="GRCh37")
    fs = sim_features
    assert other.rows == fs.rows and other.columns == fs.columns
    np.testing.assert_array_equal(other.X, fs.X)
    np.testing.assert_array_equal(other.groups, fs.groups)
    expected = plain_features(lakes["perturbed_tsv"], "GRCh37")
    assert list(other.y) == [expected[v]["label"] for v in other.rows]
    assert (other.y != fs.y).sum() > 0
    _, rows = _read_tsv(lakes["perturbed_tsv"])
    old = {r["VariationID"] for r in rows if r["Assembly"] == "GRCh37" and r["ClinicalSignificance"] == OLD_PHRASE}
    assert old and all(other.y[other.rows.index(v)] == "conflicting" for v in old if v in other.rows)


def test_leaking_columns_excluded_by_construction():
    schema = set(CLINVAR.schema.names)
    assert cc.FEATURE_COLUMNS | cc.KEY_COLUMNS | cc.LEAKING_COLUMNS == schema
    assert set(LEAKING_HEADERS.values()) <= cc.LEAKING_COLUMNS
    for dataset in (None, "d"):
        sql = cc._feature_sql("GRCh37", dataset)
        assert cc.leaking_columns_in(sql) == set()
        # the feature SQL reads only allowed and key columns of clinvar
        import sqlglot
        from sqlglot import exp

        read = {c.name for c in sqlglot.parse_one(sql, read="duckdb").find_all(exp.Column)}
        clinvar_read = read & schema
        assert clinvar_read <= cc.FEATURE_COLUMNS | cc.KEY_COLUMNS
    assert cc.leaking_columns_in("SELECT variation_id, review_status AS r FROM clinvar") == {"review_status"}
    assert cc.leaking_columns_in(cc._label_sql("GRCh37")) == {"clinical_significance"}  # the label's own query
    for name in cc.feature_columns(["AFR"]):
        assert not any(leak.replace("_", "") in name.replace("_", "") for leak in cc.LEAKING_COLUMNS)


def test_provenance_names_the_tables_read(sim_features):
    prov = sim_features.provenance
    assert prov["engine"] == "duckdb" and prov["lake"].startswith("file://")
    assert {"clinvar", "variants", "samples"} <= set(prov["versions"])
    assert {"genotypes", "cpra_index"} & set(prov["versions"])  # the per-population counts


def test_prediction_build_has_no_labels_same_features(lakes, sim_features):
    fs = cc.build(lakes["engines"]["sim"], assembly="GRCh37", labels=False, populations="EUR,AFR")
    assert fs.y is None and fs.params["populations"] == ["EUR", "AFR"]
    assert fs.columns == cc.feature_columns(["EUR", "AFR"]) and fs.rows == sim_features.rows
    for name in ("af_EUR", "af_AFR", "af", "number_submitters"):
        np.testing.assert_array_equal(_col(fs, name), _col(sim_features, name))


@pytest.mark.parametrize("assembly", ["GRCh37", "GRCh38"])
def test_shared_excerpt_builds(lakes, assembly):
    fs = build(lakes["engines"]["excerpt"], "clinvar_conflict", assembly=assembly)
    expected = plain_features(CLINVAR_EXCERPT, assembly)
    assert len(expected) == 6 and sorted(fs.rows) == sorted(expected)
    assert fs.X.shape == (6, len(cc.feature_columns([]))) and fs.columns == cc.feature_columns([])
    assert list(fs.y) == [expected[v]["label"] for v in fs.rows]
    assert list(fs.groups) == [expected[v]["gene"] or "-" for v in fs.rows]
    assert (_col(fs, "in_lake") == 0).all() and np.isnan(_col(fs, "af")).all()
    assert _col(fs, "type_indel").sum() == sum(e["type"] == "Indel" for e in expected.values()) == 2
    assert fs.params["dataset"] is None and fs.provenance["versions"].keys() == {"clinvar"}


def test_unknown_assembly_and_bad_parameters_are_clear(lakes):
    with pytest.raises(QueryNotFound, match=r"no GRCh39 records \(assemblies: GRCh37, GRCh38\)"):
        build(lakes["engines"]["excerpt"], "clinvar_conflict", assembly="GRCh39")
    with pytest.raises(QueryNotFound, match="no samples of super-population SAS"):
        build(lakes["engines"]["sim"], "clinvar_conflict", assembly="GRCh37", populations=["EUR", "SAS"])
    with pytest.raises(QueryError, match="no samples"):
        build(lakes["engines"]["excerpt"], "clinvar_conflict", populations=["EUR"])
    with pytest.raises(QueryError, match=r"dataset 'sim' is GRCh37 \(recorded at ingest\) but assembly=GRCh38"):
        build(lakes["engines"]["sim"], "clinvar_conflict")  # the default assembly
    with pytest.raises(QueryError, match="nope"):
        build(lakes["engines"]["sim"], "clinvar_conflict", assembly="GRCh37", dataset="nope")


OTHER_ENGINES = [n for n in __import__("genolake.queries.engines", fromlist=["ENGINES"]).ENGINES if n != "duckdb"]


@pytest.mark.parametrize("name", OTHER_ENGINES)
def test_every_query_engine_builds_the_same_features(lakes, sim_features, name):
    lake = genolake.open_lake(lakes["root"] / "sim")
    if name == "athena":
        from athena_loopback import loopback_engine

        engine = loopback_engine(lake)
    else:
        engine = genolake.connect(lake, name)
    try:
        fs = build(engine, "clinvar_conflict", assembly="GRCh37")
    finally:
        engine.close()
    assert fs.rows == sim_features.rows and fs.columns == sim_features.columns
    np.testing.assert_array_equal(fs.X, sim_features.X)
    assert list(fs.y) == list(sim_features.y) and list(fs.groups) == list(sim_features.groups)
    assert fs.provenance["engine"] == name and fs.provenance["versions"] == sim_features.provenance["versions"]


@pytest.mark.parametrize("name, change", [
    ("NM_014630.3(ZNF592):c.3136G>A (p.Gly1046Arg)", "missense"),
    ("NM_017547.4(FOXRED1):c.694C>T (p.Gln232Ter)", "nonsense"),
    ("NM_014855.3(AP5Z1):c.1413_1426del (p.Leu473fs)", "frameshift"),
    ("NM_000546.6(TP53):c.639A>G (p.Arg213=)", "synonymous"),
    ("NM_014855.3(AP5Z1):c.80_83delinsTGCTGTAAACTGTAACTGTAAA (p.Arg27_Ile28delinsLeuLeuTer)", "inframe"),
    ("NM_000492.4(CFTR):c.1521_1523del (p.Phe508del)", "inframe"),
    ("NM_000138.5(FBN1):c.1A>G (p.Met1?)", "other"),
    ("NM_015600.4(ABHD12):c.-6898_191+7002delinsCC", "none"),
    (None, "none"),
])
def test_protein_change_classes(name, change):
    assert cc.protein_change(name) == change
