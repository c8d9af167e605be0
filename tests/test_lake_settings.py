"""Layout settings are fixed when a lake is created: cpra_index lookups depend on the bin size."""

import pyarrow.compute as pc
from conftest import VCF_DIR

import genolake


def test_bin_size_recorded_at_init_wins_on_open(tmp_path):
    root = tmp_path / "lake"
    genolake.init_lake(root, pos_bin_size=50_000)
    assert genolake.open_lake(root).config.pos_bin_size == 50_000
    assert genolake.init_lake(root).config.pos_bin_size == 50_000  # re-init keeps it
    lake = genolake.open_lake(root)
    genolake.ingest_vcf(lake, VCF_DIR / "test-haploidX.vcf", "d", workers=1)
    cpra = lake.read("cpra_index", columns=["pos", "pos_bin"])
    assert cpra.num_rows > 0
    assert pc.all(pc.equal(cpra["pos_bin"], pc.multiply(pc.divide(cpra["pos"], 50_000), 50_000))).as_py()
