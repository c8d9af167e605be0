"""The ETL engine seam: engines are chosen by name from one registry, the catalog records which
engine ran each ingest, and an unknown name is one line naming the available engines."""

from __future__ import annotations

import genolake
from genolake.etl.engines import ENGINES, EtlEngine, get_engine
from conftest import CLINVAR_EXCERPT, VCF_DIR
from lake_checks import assert_same_view, reader_view, run_cli

VCF = VCF_DIR / "phase1_chr22_5samples.vcf.gz"


def test_registry_gives_engines_by_name():
    assert "local" in ENGINES
    eng = get_engine("local")
    assert isinstance(eng, EtlEngine) and eng.name == "local"
    assert get_engine(eng) is eng and get_engine(None).name == "local"


def test_named_engine_gives_the_default_tables_and_is_recorded(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    for root, engine in ((a, None), (b, "local")):
        genolake.init_lake(root)
        genolake.ingest_vcf(root, VCF, "d1", workers=1, engine=engine)
        genolake.ingest_clinvar(root, CLINVAR_EXCERPT, engine=engine)
    assert_same_view(reader_view(genolake.open_lake(a)), reader_view(genolake.open_lake(b)))
    assert {r.engine for r in genolake.open_lake(b).catalog.runs()} == {"local"}


def test_unknown_engine_is_one_line_and_leaves_the_lake_alone(tmp_path):
    root = tmp_path / "lake"
    genolake.init_lake(root)
    p = run_cli(["--root", str(root), "ingest", "vcf", str(VCF), "--dataset", "d1", "--engine", "nope"])
    assert p.returncode == 2 and p.stderr.count("\n") == 1
    assert "unknown ETL engine 'nope'; available: local" in p.stderr
    assert genolake.open_lake(root).catalog.runs() == []
