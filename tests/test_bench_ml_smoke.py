"""Smoke test of the ML benchmark: on the small simulated cohort every step runs once and both
agreement checks against plink2 (scores, genotype matrix) pass.

Timings are not asserted (benchmarks are never timed in tests)."""

from __future__ import annotations

import json
import shutil

import pytest

import genolake

pytest.importorskip("psutil")
pytestmark = pytest.mark.skipif(shutil.which("plink2") is None, reason="plink2 is not on PATH")


def test_ml_benchmark_small(sim_cohort, tmp_path):
    from genolake.benchmarks import ml

    lake = genolake.init_lake(tmp_path / "lake")
    genolake.ingest_vcf(lake, sim_cohort.vcf, "sim", panel=sim_cohort.panel, workers=1)
    out = tmp_path / "results"
    status = ml.main(["--lake", str(tmp_path / "lake"), "--vcf", str(sim_cohort.vcf), "--out", str(out),
                      "--work-dir", str(tmp_path), "--name", "smoke", "--repeat", "1", "--warmup", "0",
                      "--peer-repeat", "1", "--sites", "40", "--spacing-bp", "500", "--wait-idle", "0",
                      "--retries", "0", "--quiet"])
    result = json.loads((out / "ml-smoke.json").read_text())
    assert "error" not in result, result.get("error")
    assert status == 0 and result["valid"] is True
    prs = result["prs"]
    assert prs["weights"]["weights"] > 100 and prs["matched"] == prs["weights"]["weights"]
    for key in ("check_vcf", "check_pgen"):
        check = prs[key]
        assert check["agree"] is True and check["samples"] == 60, check
        assert check["allele_ct_mismatches"] == 0 and check["max_rel_diff_score"] <= ml.SCORE_TOL
        cells = result["matrix"][key]
        assert cells["agree"] is True and cells["mismatches"] == 0, cells
        assert cells["cells"] == 60 * result["matrix"]["sites"] > 0
    assert result["matrix"]["sites"] == 40
    assert result["prs"]["genolake"]["n"] == 1 and result["prs"]["plink2_vcf"]["n"] == 1
    assert (out / "ml-smoke.md").read_text().startswith("# ML benchmark: smoke")
