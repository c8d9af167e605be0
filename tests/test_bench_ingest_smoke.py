"""Smoke test of the ingest benchmark script: it runs end to end and its oracle check passes.

Timings are not asserted (benchmarks are never timed in tests)."""

from __future__ import annotations

import json
import shutil

import pytest

pytest.importorskip("psutil")
pytestmark = pytest.mark.skipif(shutil.which("bcftools") is None, reason="bcftools is not on PATH")


def test_ingest_benchmark_tiny(tmp_path):
    from genolake.benchmarks import ingest

    out = tmp_path / "results"
    status = ingest.main(["--scale", "tiny", "--out", str(out), "--data-dir", str(tmp_path / "data"),
                          "--work-dir", str(tmp_path), "--wait-idle", "0", "--retries", "0", "--quiet"])
    result = json.loads((out / "ingest-tiny.json").read_text())
    assert status == 0
    assert result["valid"] is True
    check = result["oracle_check"]["runs"][0]
    assert check["mismatches"] == 0 and check["oracle_split_alleles"] > 0
    assert check["lake_variant_rows"] == check["oracle_split_alleles"]
    assert result["storage"]["genotypes"]["rows"] > 0
    assert result["genolake"]["ingest"]["peak_rss_tree_bytes"] > 0
    assert (out / "ingest-tiny.md").read_text().startswith("# Ingest benchmark: tiny")
