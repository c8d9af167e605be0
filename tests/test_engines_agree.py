"""One test body per analysis, run on every query engine: the answers must be identical.

DuckDB's answers are held to bcftools and plain readings of the files elsewhere
(test_query_frequencies, test_query_calls, test_query_annotation); here every other engine must
give exactly DuckDB's table (same rows, order, types) on the same lake, and name in its
provenance the same snapshot and Delta versions. The lake is the query lake of
test_query_frequencies (the simulated cohort with its panel; haploid X, mixed ploidy and triploid
calls, chrM, multi-allelic sites, partial calls; super_pop=EUR spanning two datasets) plus the
simulated ClinVar release.

Engines: `duckdb`, `spark` (Spark SQL, local[*], or the cluster named by
$GENOLAKE_TEST_SPARK_MASTER), `athena` (the SQL AthenaEngine sends, parsed in Athena's dialect and
transpiled back to DuckDB: moto cannot run SQL; tests/athena_loopback.py). An engine-specific
expectation goes in KNOWN as a strict xfail with its reason, never a skip.
"""

from __future__ import annotations

import os

import pyarrow as pa
import pytest

import genolake
from genolake.queries import run_sql
from genolake.queries.analyses.annotation import annotate, drug_response_report
from genolake.queries.analyses.calls import carriers, sample_variants
from genolake.queries.analyses.frequencies import allele_frequency, population_frequencies
from genolake.queries.analyses.genotype_matrix import genotype_matrix, select_sites
from genolake.queries.cohorts import Cohort
from genolake.queries.engines import ENGINES
from genolake.queries.provenance import read_provenance
from oracle import have_bcftools

pytestmark = pytest.mark.skipif(not have_bcftools(), reason="bcftools/tabix not on PATH")

# (case, engine) -> why that engine's answer differs (a strict xfail: it must keep failing)
KNOWN: dict[tuple[str, str], str] = {
    ("sql_raw_sum", "spark"): "DuckDB sums integers as HUGEINT (Arrow decimal128(38, 0)); Spark as BIGINT",
}


def _first(engine, query: str):
    rows = run_sql(engine, query).to_pylist()
    return rows[0] if rows else None


def _rsids(e):
    return [r["rsid"] for r in run_sql(e, "SELECT DISTINCT rsid FROM variants WHERE dataset = 'sim' "
                                          "AND rsid IS NOT NULL ORDER BY rsid LIMIT 7").to_pylist()]


def _cpras(e):
    rows = run_sql(e, "SELECT cpra FROM variants WHERE dataset IN ('sp', 'mp', 'pc') "
                      "ORDER BY dataset, contig, pos, allele_ord").to_pylist()
    return [r["cpra"] for r in rows[::3]] + ["22-1-A-T"]  # and one the lake does not have


def _gene(e):
    return _first(e, "SELECT gene_symbol AS g, count(*) AS n FROM clinvar WHERE assembly = 'GRCh37' "
                     "AND gene_symbol NOT IN ('-', '') GROUP BY gene_symbol ORDER BY n DESC, g LIMIT 1")["g"]


def _multi_allelic_cpra(e):
    return _first(e, "SELECT cpra FROM variants WHERE dataset = 'sp' AND allele_ord > 0 ORDER BY pos LIMIT 1")["cpra"]


def _sim_region(e):
    r = _first(e, "SELECT min(pos) AS lo, max(pos) AS hi FROM variants WHERE dataset = 'sim'")
    mid = (r["lo"] + r["hi"]) // 2
    return f"22:{r['lo']}-{mid}"


def _all_cpras(e, dataset):
    return [r["cpra"] for r in run_sql(e, f"SELECT cpra FROM variants WHERE dataset = '{dataset}' "
                                          "ORDER BY contig, pos, allele_ord").to_pylist()]


def _scattered_sim_samples(e):
    rows = run_sql(e, "SELECT sample_id FROM samples WHERE dataset = 'sim' ORDER BY sample_index").to_pylist()
    return [r["sample_id"] for r in rows[::3]]


# name -> (kind, call(engine, reference_engine) -> table). Arguments taken from the lake are read
# through the reference engine, so every engine answers the same question.
CASES = {
    "af_everything": ("allele_frequency", lambda e, ref: allele_frequency(e)),
    "af_region_cohort": ("allele_frequency", lambda e, ref: allele_frequency(
        e, region=_sim_region(ref), cohort=Cohort.parse("super_pop=EAS"))),
    "af_rsids": ("allele_frequency", lambda e, ref: allele_frequency(e, rsids=_rsids(ref) + ["rs1"])),
    "af_cpras": ("allele_frequency", lambda e, ref: allele_frequency(e, cpras=_cpras(ref))),
    "af_gene": ("allele_frequency", lambda e, ref: allele_frequency(e, gene=_gene(ref), dataset="sim")),
    "af_haploid_x": ("allele_frequency", lambda e, ref: allele_frequency(e, region="X", dataset="hx")),
    "af_chrM": ("allele_frequency", lambda e, ref: allele_frequency(e, dataset="mt")),
    "af_mixed_ploidy": ("allele_frequency", lambda e, ref: allele_frequency(e, dataset="mp")),
    "af_partial_calls": ("allele_frequency", lambda e, ref: allele_frequency(e, dataset="pc")),
    "af_eur_two_datasets": ("allele_frequency", lambda e, ref: allele_frequency(
        e, cohort=Cohort.parse("super_pop=EUR"))),
    "pop_super_pop": ("population_frequencies", lambda e, ref: population_frequencies(
        e, region=_sim_region(ref), by="super_population")),
    "pop_by_pop_in_cohort": ("population_frequencies", lambda e, ref: population_frequencies(
        e, dataset="sim", cohort=Cohort.parse("super_pop=AFR"), by="population")),
    "pop_by_sex_rsids": ("population_frequencies", lambda e, ref: population_frequencies(
        e, rsids=_rsids(ref), by="sex")),
    "carriers_multi_allelic": ("carriers", lambda e, ref: carriers(e, _multi_allelic_cpra(ref))),
    "carriers_rsid_missing": ("carriers", lambda e, ref: carriers(e, _rsids(ref)[0], include_missing=True)),
    "carriers_partial": ("carriers", lambda e, ref: carriers(e, "22-1500-A-T", include_missing=True)),
    "sample_variants": ("sample_variants", lambda e, ref: sample_variants(e, "HG00096")),
    "sample_variants_region": ("sample_variants", lambda e, ref: sample_variants(
        e, "HG00099", region="22", dataset="pc")),
    "annotate_region": ("annotate", lambda e, ref: annotate(e, region=_sim_region(ref))),
    "annotate_gene": ("annotate", lambda e, ref: annotate(e, gene=_gene(ref))),
    "drug_response": ("drug_response_report", lambda e, ref: drug_response_report(e)),
    "drug_response_cohort": ("drug_response_report", lambda e, ref: drug_response_report(
        e, cohort=Cohort.parse("super_pop=EAS"), top=5)),
    "select_sites_sim": ("select_sites", lambda e, ref: select_sites(e, dataset="sim", min_maf=0.05,
                                                                      spacing_bp=2_000, max_sites=50)),
    "select_sites_indels_all_contigs": ("select_sites", lambda e, ref: select_sites(
        e, dataset="pc", min_maf=0.0, spacing_bp=0, snps_only=False)),
    "genotype_matrix_sim_sites": ("genotype_matrix", lambda e, ref: genotype_matrix(
        e, select_sites(ref, dataset="sim", min_maf=0.05, spacing_bp=2_000), dataset="sim")),
    "genotype_matrix_cohort": ("genotype_matrix", lambda e, ref: genotype_matrix(
        e, _all_cpras(ref, "sim")[::5], dataset="sim", cohort=_scattered_sim_samples(ref))),
    "genotype_matrix_haploid_x": ("genotype_matrix", lambda e, ref: genotype_matrix(
        e, _all_cpras(ref, "hx"), dataset="hx", cohort=Cohort.parse("dataset=hx"))),
    "genotype_matrix_mixed_ploidy_partial": ("genotype_matrix", lambda e, ref: genotype_matrix(
        e, _all_cpras(ref, "mp"), dataset="mp")),
    "genotype_matrix_partial_calls": ("genotype_matrix", lambda e, ref: genotype_matrix(
        e, list(reversed(_all_cpras(ref, "pc"))), dataset="pc")),
    "genotype_matrix_missing_site": ("genotype_matrix", lambda e, ref: genotype_matrix(
        e, ["22-1-A-T", *_all_cpras(ref, "pc")], dataset="pc")),
    "sql_counts": ("sql", lambda e, ref: run_sql(
        e, "SELECT dataset, contig, count(*) AS n, CAST(sum(alt_dosage) AS BIGINT) AS dosage, min(pos) AS lo "
           "FROM genotypes GROUP BY dataset, contig ORDER BY dataset, contig")),
    "sql_raw_sum": ("sql", lambda e, ref: run_sql(
        e, "SELECT dataset, sum(alt_dosage) AS dosage FROM genotypes GROUP BY dataset ORDER BY dataset")),
    "sql_join": ("sql", lambda e, ref: run_sql(
        e, "WITH s AS (SELECT dataset, sample_id, super_population FROM samples) "
           "SELECT s.super_population AS sp, count(*) AS calls, avg(g.called_alleles) AS mean_called "
           "FROM genotypes g JOIN s ON g.dataset = s.dataset AND g.sample_id = s.sample_id "
           "GROUP BY s.super_population ORDER BY sp NULLS LAST")),
}
# with $GENOLAKE_TEST_ONE_PER_KIND (the cluster run): the first case of each kind
if os.environ.get("GENOLAKE_TEST_ONE_PER_KIND"):
    _seen: set[str] = set()
    CASES = {n: c for n, c in CASES.items() if not (c[0] in _seen or _seen.add(c[0]))}

ENGINE_NAMES = [n for n in os.environ.get("GENOLAKE_TEST_QUERY_ENGINES", ",".join(ENGINES)).split(",") if n]


@pytest.fixture(scope="session")
def xlake(tmp_path_factory, sim_cohort):
    """The query lake plus the simulated ClinVar release."""
    from test_query_frequencies import build_query_lake

    q = build_query_lake(tmp_path_factory.mktemp("xlake"), sim_cohort)
    q.engine.close()
    genolake.ingest_clinvar(q.lake, sim_cohort.clinvar)
    return q.lake


@pytest.fixture(scope="session")
def reference(xlake):
    engine = genolake.connect(xlake)
    yield engine
    engine.close()


_OPEN: dict[str, object] = {}


@pytest.fixture(params=ENGINE_NAMES)
def engine(request, xlake):
    """Each engine once per test session (one Spark session for the whole run)."""
    name = request.param
    if name not in _OPEN:
        if name == "spark":
            master = os.environ.get("GENOLAKE_TEST_SPARK_MASTER")
            _OPEN[name] = genolake.connect(xlake, "spark", **({"master": master} if master else {}))
        elif name == "athena":
            from athena_loopback import loopback_engine

            _OPEN[name] = loopback_engine(xlake)
        else:
            _OPEN[name] = genolake.connect(xlake, name)
    return _OPEN[name]


def _answer(call, engine, reference):
    try:
        return call(engine, reference), None
    except genolake.GenolakeError as err:  # the same error on every engine is an answer too
        return None, f"{type(err).__name__}: {err}"


@pytest.mark.parametrize("case", list(CASES))
def test_same_answer_on_every_engine(case, engine, reference, request):
    if (case, engine.name) in KNOWN:
        request.applymarker(pytest.mark.xfail(reason=KNOWN[(case, engine.name)], strict=True))
    kind, call = CASES[case]
    want, want_err = _answer(call, reference, reference)
    got, got_err = _answer(call, engine, reference)
    assert got_err == want_err
    if want is None:
        return
    assert want.num_rows > 0 or case in ("af_gene",), f"{case}: the reference answer is empty; the case tests nothing"
    assert got.schema.remove_metadata() == want.schema.remove_metadata()
    assert got.to_pylist() == want.to_pylist()  # values and row order
    mine, theirs = read_provenance(got), read_provenance(want)
    assert mine["engine"] == engine.name
    assert {k: v for k, v in mine.items() if k != "engine"} == {k: v for k, v in theirs.items() if k != "engine"}
    assert mine["versions"], "an answer names the tables it read"
    # every other metadata key (warnings, unknown IDs, ranking) is the same too
    drop = {b"genolake.provenance"}
    assert ({k: v for k, v in (got.schema.metadata or {}).items() if k not in drop}
            == {k: v for k, v in (want.schema.metadata or {}).items() if k not in drop})


def test_every_analysis_kind_is_covered():
    kinds = {k for k, _ in CASES.values()}
    assert kinds >= {"allele_frequency", "population_frequencies", "carriers", "sample_variants", "annotate",
                     "drug_response_report", "select_sites", "genotype_matrix", "sql"}


def test_types_of_an_empty_answer_agree(engine, reference):
    """An answer with no rows still has the reference's columns and types."""
    q = "SELECT dataset, pos, alt_dosage, phased FROM genotypes WHERE pos < 0"
    want = run_sql(reference, q)
    got = run_sql(engine, q)
    assert got.num_rows == want.num_rows == 0
    assert got.schema.remove_metadata() == want.schema.remove_metadata()
    assert isinstance(got, pa.Table)


# statement kinds that would change the lake, its settings, or read files outside it
REFUSED = {
    "insert": "INSERT INTO samples VALUES ('d', 's', 0, 'p', 'sp', 'f')",
    "update": "UPDATE samples SET sex = 'x'",
    "delete": "DELETE FROM genotypes",
    "create_table": "CREATE TABLE t AS SELECT * FROM variants",
    "create_view": "CREATE VIEW v AS SELECT 1",
    "drop": "DROP TABLE variants",
    "alter": "ALTER TABLE variants RENAME TO v2",
    "truncate": "TRUNCATE TABLE genotypes",
    "merge": "MERGE INTO samples t USING samples s ON t.sample_id = s.sample_id WHEN MATCHED THEN DELETE",
    "set": "SET threads = 1",
    "copy": "COPY variants TO '/tmp/genolake-out.csv'",
    "attach": "ATTACH '/tmp/other.db' AS other",
    "pragma": "PRAGMA enable_profiling",
    "read_file_function": "SELECT * FROM read_csv('/etc/passwd')",
    "read_parquet_function": "SELECT * FROM read_parquet('/etc/*.parquet')",
    "sql_on_files": "SELECT * FROM parquet.`/etc/passwd`",
    "java_reflection": "SELECT reflect('java.lang.System', 'getenv', 'HOME')",
    "second_statement": "SELECT 1; DROP TABLE variants",
    "insert_in_cte": "WITH x AS (SELECT 1) INSERT INTO samples SELECT * FROM samples",
}


def test_read_only_everywhere(engine, xlake):
    """Every kind is refused with a one-line QueryError before it runs, and the lake is unchanged."""
    from conftest import curated_state

    before = curated_state(xlake)
    for kind, statement in REFUSED.items():
        with pytest.raises(genolake.QueryError) as info:
            run_sql(engine, statement)
        assert "\n" not in str(info.value), kind
        with pytest.raises(genolake.QueryError):
            engine.sql(statement)
    assert curated_state(xlake) == before
    assert run_sql(engine, "SELECT count(*) AS n FROM samples").column("n")[0].as_py() > 0
