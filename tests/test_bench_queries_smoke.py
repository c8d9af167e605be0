"""Smoke test of the query benchmark: on a tiny simulated cohort every workload runs once and every
answer passes its check against bcftools.

Timings are not asserted (benchmarks are never timed in tests)."""

from __future__ import annotations

import json
import shutil

import pytest

pytest.importorskip("psutil")
pytestmark = pytest.mark.skipif(shutil.which("bcftools") is None, reason="bcftools is not on PATH")


def test_query_benchmark_tiny(tmp_path):
    from genolake.benchmarks import queries

    out = tmp_path / "results"
    status = queries.main(["--scale", "tiny", "--out", str(out), "--data-dir", str(tmp_path / "data"),
                           "--work-dir", str(tmp_path), "--repeat", "1", "--warmup", "0", "--scan-repeat", "1",
                           "--peer-scan-repeat", "1", "--cli-repeat", "1", "--wait-idle", "0", "--retries", "0",
                           "--quiet"])
    result = json.loads((out / "queries-tiny.json").read_text())
    assert "error" not in result, result.get("error")
    assert status == 0
    assert result["valid"] is True
    assert set(result["workloads"]) == set(queries.TARGETS)
    for key, w in result["workloads"].items():
        check = w["check"]
        assert w["valid"] is True, (key, check)
        assert check["mismatches"] == 0 and check["oracle_split_alleles"] > 0, (key, check)
        assert w["genolake"]["n"] >= 1 and w["bcftools"]["n"] >= 1
    assert len(result["workloads"]["a4_af_rsids_all"]["rsids"]) == 4
    assert result["workloads"]["b1_af_rsid_cohort"]["cohort_size"] == 25  # half of the 50 samples
    # the whole-contig answer covers every split allele of the file
    c = result["workloads"]["c_af_contig_cohort"]["check"]
    assert c["answer_rows"] == c["oracle_split_alleles"]
    assert result["workloads"]["d_annotate_gene"]["check"]["clinvar_joined"] > 0
    assert result["cli_cold_start"]["check"]["valid"] is True
    assert [t["name"] for t in result["targets"]] == list(queries.TARGETS)
    assert (out / "queries-tiny.md").read_text().startswith("# Query benchmark: tiny")
