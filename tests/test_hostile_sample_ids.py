"""Sample IDs that are legal in a VCF but hostile to a folder-per-sample layout: reserved hive
names, path separators, dot segments, quotes, spaces, glob and URL characters, unicode, and IDs
longer than a file name may be. Each sample has its own non-reference call, so a sample whose
calls were lost or renamed shows as a wrong AF, a missing `query sample` row or a wrong carrier.

The partition folder is only a bounded, safe encoding of the ID; the Delta log's partition values
are what every reader uses, so the ID comes back exact."""

from __future__ import annotations

import os

import pyarrow.compute as pc
import pytest
from lake_checks import base_parts, fields, joined
from oracle import bcftools_counts, have_bcftools, plain_counts, vcf_samples

import genolake
from genolake import cli

NORMAL = "HG00096"
HOSTILE = [
    "__HIVE_DEFAULT_PARTITION__",
    "a/b",
    "a%2Fb",
    "..",
    ".",
    ".hidden",
    "../../../../etc",
    "it's",
    'say "hi"',
    "with space",
    " lead",
    "ünïcødé-样本",
    "é" * 130,  # 130 characters, 260 bytes
    "S" * 300,
    "S" * 299 + "T",  # the same first 299 characters as the one before
    "NULL",
    "sample_id=x",
    "*",
    "?[ab]",
    "#frag",
    "back\\slash",
    "100%",
    "comma,id",
    "~",
]
SAMPLES = [NORMAL, *HOSTILE]


def _hostile_vcf(path) -> None:
    """Record 0: every sample het; record k (k >= 1): sample k-1 alone hom-alt, the others ref."""
    header, records = base_parts(1)
    chrom_line = fields(header[-1])[:9] + SAMPLES
    cols = fields(records[0])
    pos0 = int(cols[1])
    out = header[:-1] + [joined(chrom_line)]
    cells = ["0/1"] * len(SAMPLES)
    out.append(joined(cols[:8] + ["GT"] + cells))
    for k, _ in enumerate(SAMPLES):
        rec = list(cols)
        rec[1] = str(pos0 + 10 * (k + 1))
        rec[2] = "."
        cells = ["0/0"] * len(SAMPLES)
        cells[k] = "1/1"
        out.append(joined(rec[:8] + ["GT"] + cells))
    path.write_text("".join(out))


@pytest.fixture(scope="module")
def hostile(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("hostile-ids")
    vcf = tmp / "hostile.vcf"
    _hostile_vcf(vcf)
    assert vcf_samples(vcf) == SAMPLES
    lake = genolake.init_lake(tmp / "lake")
    genolake.ingest_vcf(lake, vcf, "h", workers=2, progress=False)
    engine = genolake.connect(lake)
    yield lake, engine, vcf, tmp
    engine.close()


def test_sample_ids_come_back_exact(hostile):
    lake, engine, _, _ = hostile
    assert sorted(lake.read("samples")["sample_id"].to_pylist()) == sorted(SAMPLES)
    assert sorted(set(lake.read("genotypes")["sample_id"].to_pylist())) == sorted(SAMPLES)
    got = engine.sql("SELECT DISTINCT sample_id FROM genotypes")["sample_id"].to_pylist()
    assert sorted(got) == sorted(SAMPLES)


@pytest.mark.parametrize("sample", SAMPLES, ids=lambda s: repr(s)[:40])
def test_af_of_each_sample_equals_a_plain_reading(hostile, sample):
    _, engine, vcf, _ = hostile
    want = {k: v for k, v in plain_counts(vcf, [sample]).items()}
    for source in ("genotypes", "cpra_index"):
        t = genolake.allele_frequency(engine, cohort=[sample], dataset="h", _source=source)
        got = {(r["contig"], r["pos"], r["ref"], r["alt"]): (r["ac"], r["an"]) for r in t.to_pylist()}
        assert got == want, source
    own = SAMPLES.index(sample) + 1  # its own hom-alt record: AC 2 of AN 2; record 0: 1 of 2
    assert sorted(v for v in want.values() if v[0]) == [(1, 2), (2, 2)]
    assert own  # (the plain reading is the reference; this says what it holds)


@pytest.mark.skipif(not have_bcftools(), reason="bcftools not installed")
def test_whole_callset_equals_bcftools(hostile):
    lake, engine, vcf, tmp = hostile
    want = bcftools_counts(vcf, tmp / "bcf")
    t = genolake.allele_frequency(engine, dataset="h", _source="genotypes")
    got = {(r["contig"], r["pos"], r["ref"], r["alt"]): (r["ac"], r["an"]) for r in t.to_pylist()}
    assert got == want


@pytest.mark.parametrize("sample", SAMPLES, ids=lambda s: repr(s)[:40])
def test_query_sample_and_carriers_find_it(hostile, sample):
    lake, engine, vcf, _ = hostile
    calls = genolake.sample_variants(engine, sample)
    assert calls.num_rows == 2  # the all-het record and its own hom-alt one
    assert set(calls["genotype"].to_pylist()) == {"0/1", "1/1"}
    own = calls.filter(pc.equal(calls["genotype"], "1/1"))["cpra"][0].as_py()
    carriers = genolake.carriers(engine, own)
    assert carriers["sample_id"].to_pylist() == [sample]
    assert carriers["alt_dosage"].to_pylist() == [2]
    first = calls.filter(pc.equal(calls["genotype"], "0/1"))["cpra"][0].as_py()
    assert sorted(genolake.carriers(engine, first)["sample_id"].to_pylist()) == sorted(SAMPLES)


def test_query_sample_on_the_command_line(hostile, capsys):
    lake, _, _, _ = hostile
    for sample in ("__HIVE_DEFAULT_PARTITION__", "S" * 300, "a/b"):
        rc = cli.main(["--root", str(lake.root), "query", "sample", sample, "--format", "json"])
        out, err = capsys.readouterr()
        assert rc == 0, err
        assert out.count('"genotype"') == 2


def test_partition_folders_are_bounded_and_inside_the_table(hostile):
    lake, _, _, _ = hostile
    root = lake.table_root("genotypes").resolve()
    folders = set()
    for dirpath, dirs, names in os.walk(root):
        for n in dirs + names:
            assert len(n.encode()) <= 255, n
        for n in names:
            p = (root / os.path.relpath(os.path.join(dirpath, n), root)).resolve()
            assert root in p.parents
            if n.endswith(".parquet"):
                folders.add(os.path.relpath(dirpath, root))
    # one folder per sample, directly under the table root
    assert len(folders) == len(SAMPLES)
    assert all("/" not in f and f.startswith("sample_id=") for f in folders)
    # the lake's normal IDs keep the plain hive folder (DuckDB's fast partition pruning)
    assert f"sample_id={NORMAL}" in folders
    assert "sample_id=__HIVE_DEFAULT_PARTITION__" not in folders


def test_regression_hive_default_partition_keeps_its_calls(tmp_path):
    """The reproduction: a sample named __HIVE_DEFAULT_PARTITION__ read back as NULL, so its AF was
    0/2 instead of 1/2, `query sample` found nothing and `carriers` listed no such sample."""
    global SAMPLES
    saved = SAMPLES
    SAMPLES = [NORMAL, "__HIVE_DEFAULT_PARTITION__"]
    try:
        vcf = tmp_path / "two.vcf"
        _hostile_vcf(vcf)
    finally:
        SAMPLES = saved
    lake = genolake.init_lake(tmp_path / "lake")
    genolake.ingest_vcf(lake, vcf, "h", workers=1, progress=False)
    with genolake.connect(lake) as engine:
        t = genolake.allele_frequency(engine, cohort=["__HIVE_DEFAULT_PARTITION__"], dataset="h",
                                      _source="genotypes")
        first = t.to_pylist()[0]
        assert (first["ac"], first["an"]) == (1, 2)
        assert genolake.sample_variants(engine, "__HIVE_DEFAULT_PARTITION__").num_rows == 2
        assert sorted(genolake.carriers(engine, first["cpra"])["sample_id"].to_pylist()) == sorted(
            [NORMAL, "__HIVE_DEFAULT_PARTITION__"])
    assert sorted(set(lake.read("genotypes")["sample_id"].to_pylist())) == sorted(
        [NORMAL, "__HIVE_DEFAULT_PARTITION__"])


@pytest.mark.parametrize("engine_name", ["spark", "athena"])
def test_other_query_engines_read_the_hostile_ids_like_duckdb(hostile, tmp_path, engine_name):
    """The spark engine reads files whose folders only encode their partition values per partition,
    with the log's values as literals (and hive-style folders as one scan), from a lake under a root
    with glob and brace characters; athena's SQL (run back on DuckDB) as well. Same answers as DuckDB."""
    import shutil

    from genolake.lake.spark_session import spark_available

    if engine_name == "spark" and not spark_available():
        pytest.fail("the spark extra is part of the test install (make setup)")
    _, _, vcf, _ = hostile
    root = tmp_path / "lake {a,b} *?"  # glob and brace characters ('[' is refused: see test_hostile_roots)
    lake = genolake.init_lake(root)
    genolake.ingest_vcf(lake, vcf, "h", workers=1, progress=False)
    duck = genolake.connect(lake)
    if engine_name == "athena":
        from athena_loopback import loopback_engine

        other = loopback_engine(lake)
    else:
        other = genolake.connect(lake, engine_name)
    try:
        q = ("SELECT sample_id, dataset, contig, pos, allele_ord, alt_dosage, called_alleles, ploidy "
             "FROM genotypes ORDER BY sample_id, pos, allele_ord")
        want = genolake.sql(duck, q)
        assert want.num_rows == 2 * len(SAMPLES)
        assert genolake.sql(other, q).to_pylist() == want.to_pylist()
        for sample in SAMPLES:
            assert (genolake.sample_variants(other, sample).to_pylist()
                    == genolake.sample_variants(duck, sample).to_pylist()), repr(sample)
        cohort = [NORMAL, *HOSTILE[:6]]
        assert (genolake.allele_frequency(other, cohort=cohort, _source="genotypes").to_pylist()
                == genolake.allele_frequency(duck, cohort=cohort, _source="genotypes").to_pylist())
    finally:
        other.close()
        duck.close()
        shutil.rmtree(root, ignore_errors=True)
