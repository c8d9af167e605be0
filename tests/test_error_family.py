"""No bare ValueError/RuntimeError reaches a user: mistakes a user can make raise a class of the
error family (lake/errors.py) with a one-line message, and the `genolake` command exits non-zero
with that line and no traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import genolake
from genolake.lake.errors import ConfigError, GenolakeError, LakeStateError, NotFoundError, QueryError

GENOLAKE = Path(sys.executable).with_name("genolake")


@pytest.fixture(scope="module")
def cli_lake(tmp_path_factory, sim_cohort):
    root = tmp_path_factory.mktemp("errlake") / "lake"
    lake = genolake.init_lake(root)
    genolake.ingest_vcf(lake, sim_cohort.vcf, "d1", panel=sim_cohort.panel)
    return root


def _cli(*args, root=None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "GENOLAKE_DEBUG"}
    cmd = [str(GENOLAKE)] + (["--root", str(root)] if root else []) + ["--no-progress", *args]
    return subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)


def _assert_one_line(proc: subprocess.CompletedProcess, code: int, *words: str) -> str:
    err = proc.stderr.strip()
    assert proc.returncode == code, (proc.returncode, err)
    assert "Traceback" not in proc.stderr and "internal error" not in err, err
    assert len(err.splitlines()) == 1, err
    assert err.startswith("genolake: error: "), err
    for w in words:
        assert w in err, err
    return err


CASES = [  # (args, exit status, words the line must hold)
    (["query", "af", "--region", "22:abc-def"], 6, ["malformed region", "22:abc-def"]),
    (["query", "af", "--region", "22:500-100"], 6, ["starts after it ends"]),
    (["query", "af", "--region", "22:1-99999999999999999999"], 6, ["out of range"]),
    (["query", "af", "--rsid", "notanrsid"], 6, ["not an rsID"]),
    (["query", "af", "--region", "22", "--cohort", "bogus=1"], 6, ["unknown cohort key 'bogus'"]),
    (["query", "af", "--region", "22", "--cohort", "samples="], 6, ["has no value"]),
    (["query", "af", "--rsid", "rs1", "--by", "nonsense"], 2, ["--by"]),
    (["query", "carriers", "22-100-A"], 6, ["malformed"]),
    (["query", "sample", "NO_SUCH_SAMPLE"], 4, ["NO_SUCH_SAMPLE"]),
    (["query", "drug-response", "--top", "-1"], 2, ["--top"]),
    (["sql", "DROP TABLE samples"], 6, ["refused"]),
    (["catalog", "show", "nosuch"], 4, ["nosuch"]),
]


@pytest.mark.parametrize("args,code,words", CASES, ids=[" ".join(c[0])[:40] for c in CASES])
def test_cli_user_mistakes_are_one_line(cli_lake, args, code, words):
    _assert_one_line(_cli(*args, root=cli_lake), code, *words)


def test_cli_options_without_a_lake(tmp_path, sim_cohort):
    _assert_one_line(_cli("simulate", "--out", str(tmp_path / "s"), "--samples", "0"), 2, "n_samples")
    _assert_one_line(_cli("simulate", "--out", str(tmp_path / "s"), "--samples", "5", "--length", "10"), 2, "length_bp")
    _assert_one_line(_cli("query", "af", "--rsid", "rs1", root=tmp_path / "no-lake"), 5, "no lake at")
    root = tmp_path / "lake"
    genolake.init_lake(root)
    _assert_one_line(_cli("ingest", "vcf", str(sim_cohort.vcf), "--dataset", "d", "--engine", "nope", root=root),
                     2, "unknown ETL engine 'nope'")
    _assert_one_line(_cli("ingest", "vcf", str(sim_cohort.vcf), "--dataset", "bad name!", root=root), 2, "bad name!")
    _assert_one_line(_cli("ingest", "vcf", str(tmp_path / "missing.vcf.gz"), "--dataset", "d", root=root), 3,
                     "no such file")


def _raises_family(fn, cls):
    with pytest.raises(cls) as info:
        fn()
    err = info.value
    assert isinstance(err, GenolakeError) and not type(err).__module__.startswith("builtins")
    assert str(err) and "\n" not in str(err)
    return err


def test_api_user_mistakes_raise_the_family(cli_lake, tmp_path):
    from genolake.etl.sources.clinvar import iter_clinvar_batches
    from genolake.lake.scans import register_phi_pattern

    _raises_family(lambda: genolake.parse_region("22:9-1"), QueryError)
    _raises_family(lambda: genolake.parse_region(22), QueryError)
    _raises_family(lambda: genolake.Cohort.parse("x=="), QueryError)
    _raises_family(lambda: genolake.simulate(tmp_path / "s", n_samples=5, length_bp=5000, seed=-1, progress=False),
                   ConfigError)
    _raises_family(lambda: genolake.connect(genolake.open_lake(cli_lake), engine="nope"), ConfigError)
    _raises_family(lambda: genolake.open_lake(tmp_path / "nowhere"), LakeStateError)
    _raises_family(lambda: genolake.open_lake(cli_lake).read("nosuch"), NotFoundError)
    _raises_family(lambda: genolake.ingest_vcf(genolake.open_lake(cli_lake), tmp_path / "x.vcf", "d2", reader="fast"),
                   ConfigError)
    # formerly bare ValueError / TypeError
    _raises_family(lambda: list(iter_clinvar_batches(tmp_path / "x.txt", batch_rows=0)), ConfigError)
    _raises_family(lambda: register_phi_pattern("ssn"), ConfigError)


def test_commit_mode_is_checked(tmp_path):
    """delta_io's commit mode (formerly a bare ValueError); nothing is written."""
    from genolake.lake import delta_io
    from genolake.lake.schemas import SAMPLES

    with pytest.raises(ConfigError, match="commit mode"):
        delta_io.commit_files(tmp_path / "t", SAMPLES, [], run_id="r", mode="upsert")
    assert not (tmp_path / "t").exists()
