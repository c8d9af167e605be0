"""Re-ingesting the same file is a no-op: status "unchanged", the same Delta versions, the same files
under curated/, and the catalog records the second run as "unchanged". For ClinVar (a release
replaces the previous one) only the latest release counts: an older one ingested again is applied."""

from __future__ import annotations

import gzip

import pyarrow.compute as pc

import genolake
from conftest import CLINVAR_EXCERPT, PANEL, VCF_DIR, curated_state
from lake_checks import reader_view, assert_same_view

CHRM = VCF_DIR / "1kg_2020_chrM.vcf.gz"  # HG00096, HG00097, HG00099: all in the 1000G panel


def _twice(lake, ingest):
    first = ingest()
    state = curated_state(lake)
    view = reader_view(lake)
    second = ingest()
    assert first.status == "succeeded"
    assert second.status == "unchanged"
    assert second.previous_run == first.run_id
    assert second.sha256 == first.sha256
    assert second.rows == first.rows and second.versions == first.versions
    assert curated_state(lake) == state  # same published versions, same files on disk
    assert_same_view(reader_view(lake), view)
    runs = {r.run_id: r for r in lake.catalog.runs()}
    assert runs[first.run_id].status == "succeeded"
    assert runs[second.run_id].status == "unchanged"
    assert runs[second.run_id].sha256 == first.sha256
    assert runs[second.run_id].stored_path == first.stored_path
    # the no-op keeps no second copy of the file anywhere
    assert not list((lake.root / "quarantine").rglob(second.run_id))
    assert not list((lake.root / "pre-curated").rglob(second.run_id))
    return first, second


def test_vcf_twice(lake):
    _twice(lake, lambda: genolake.ingest_vcf(lake, CHRM, "mt", workers=1))


def test_panel_twice(lake):
    genolake.ingest_vcf(lake, CHRM, "mt", workers=1)
    first, _ = _twice(lake, lambda: genolake.ingest_panel(lake, PANEL, "mt"))
    samples = lake.read("samples")
    assert samples["population"].null_count == 0 and first.rows["matched"] == 3


def test_clinvar_twice(lake):
    first, _ = _twice(lake, lambda: genolake.ingest_clinvar(lake, CLINVAR_EXCERPT))
    assert lake.read("clinvar").num_rows == first.rows["clinvar"] == 12


def test_older_clinvar_release_again_is_applied(lake, tmp_path):
    """A, then B, then A again: the third ingest is not "unchanged" (B is what the table holds)."""
    lines = gzip.decompress(CLINVAR_EXCERPT.read_bytes()).decode().splitlines(keepends=True)
    release_b = tmp_path / "variant_summary_b.txt"
    release_b.write_text("".join(lines[:5]))
    a1 = genolake.ingest_clinvar(lake, CLINVAR_EXCERPT)
    b = genolake.ingest_clinvar(lake, release_b)
    assert lake.read("clinvar").num_rows == b.rows["clinvar"] == 4
    a2 = genolake.ingest_clinvar(lake, CLINVAR_EXCERPT)
    assert (a1.status, b.status, a2.status) == ("succeeded", "succeeded", "succeeded")
    t = lake.read("clinvar")
    assert t.num_rows == 12 and pc.max(t["source_line"]).as_py() == 13
    assert genolake.ingest_clinvar(lake, CLINVAR_EXCERPT).status == "unchanged"
