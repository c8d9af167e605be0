"""An ingest killed part-way (SIGKILL, as by the OOM killer) leaves no visible trace and can simply be
run again: what a reader sees (every table at the catalog's published version) is exactly what it
was before, and the re-run gives exactly one copy of each row — the same tables as a clean ingest
of the same files into a fresh lake.

The kill comes from pipeline.py's fault hook (GENOLAKE_FAULT=<stage>) in a real `python -m genolake`
process, and once at a moment chosen by the clock, with worker processes running.
"""

from __future__ import annotations

import random
import signal
import subprocess
import sys
import time

import pytest

import genolake
from genolake.etl import pipeline
from genolake.etl.engines import local_engine
from genolake.lake.delta_io import logged_files
from genolake.lake.schemas import ALL_TABLES
from conftest import CLINVAR_EXCERPT, VCF_DIR
from lake_checks import SEED_VCF, assert_same_view, reader_view, run_cli, worker_processes

KILLED = VCF_DIR / "phase1_chr22_5samples.vcf.gz"  # 10,376 records with rsIDs: every table gets rows
OTHER = VCF_DIR / "split_test.vcf"


def _ingest(root, path, dataset, **kw):
    return genolake.ingest_vcf(root, path, dataset, workers=1, **kw)


def _fresh(tmp_path, name, steps) -> dict:
    """The reference: the same ingests, never interrupted, into a fresh lake."""
    root = tmp_path / name
    genolake.init_lake(root)
    for kind, path, dataset in steps:
        if kind == "vcf":
            _ingest(root, path, dataset)
        else:
            genolake.ingest_clinvar(root, path)
    return reader_view(genolake.open_lake(root))


def _assert_no_leftovers(lake, killed_run: str):
    """Nothing of the killed run is left: no uncommitted data file, no staging, no raw copies."""
    for name in ALL_TABLES:
        root = lake.table_root(name)
        if not root.is_dir():
            continue
        logged = logged_files(root)
        on_disk = {str(p.relative_to(root)) for p in root.rglob("*.parquet")}
        assert on_disk <= logged, (name, sorted(on_disk - logged))
    assert not any((lake.root / "_staging").iterdir())
    for zone in ("quarantine", "pre-curated"):
        assert not list((lake.root / zone).rglob(killed_run)), zone
    run = lake.catalog.run(killed_run)
    assert run.status == "interrupted" and "run the ingest again" in run.error


def _killed_cli(root, args, stage) -> str:
    """Run the real command with the fault hook; it must die by SIGKILL. Returns the killed run's id."""
    p = run_cli(["--root", str(root), *args], env={"GENOLAKE_FAULT": stage})
    assert p.returncode == -signal.SIGKILL, (p.returncode, p.stderr)
    running = genolake.open_lake(root).catalog.runs_with_status("running")
    assert len(running) == 1
    return running[0].run_id


VCF_STAGES = ["after-convert", "after-commit:variants", "after-commit:genotypes", "after-commit:cpra_index",
              "after-commit:rsid_index"]


@pytest.fixture(scope="module")
def vcf_reference(tmp_path_factory):
    t = tmp_path_factory.mktemp("ref")
    return {"seeded": _fresh(t, "seeded", [("vcf", SEED_VCF, "seed"), ("vcf", KILLED, "mt")]),
            "empty": _fresh(t, "empty", [("vcf", KILLED, "mt")])}


@pytest.mark.parametrize("stage,start", [(s, "seeded") for s in VCF_STAGES] + [("after-commit:genotypes", "empty")])
def test_killed_vcf_ingest_is_invisible_and_rerunnable(tmp_path, vcf_reference, stage, start):
    root = tmp_path / "lake"
    lake = genolake.init_lake(root)
    if start == "seeded":
        _ingest(root, SEED_VCF, "seed")
    before = reader_view(lake)
    killed = _killed_cli(root, ["ingest", "vcf", str(KILLED), "--dataset", "mt", "--workers", "1"], stage)
    assert_same_view(reader_view(lake), before)

    res = _ingest(root, KILLED, "mt")
    assert res.status == "succeeded"
    assert_same_view(reader_view(lake), vcf_reference[start])
    _assert_no_leftovers(lake, killed)
    assert _ingest(root, KILLED, "mt").status == "unchanged"


def test_other_ingest_after_a_kill_does_not_publish_the_killed_rows(tmp_path):
    """Killed after two of its commits, then ANOTHER file is ingested: its publish must not expose the
    killed run's commits (they are rolled back first); then the killed file is ingested again."""
    root = tmp_path / "lake"
    lake = genolake.init_lake(root)
    _ingest(root, SEED_VCF, "seed")
    _killed_cli(root, ["ingest", "vcf", str(KILLED), "--dataset", "mt", "--workers", "1"], "after-commit:genotypes")
    assert _ingest(root, OTHER, "other").status == "succeeded"
    assert_same_view(reader_view(lake), _fresh(tmp_path, "ref1", [("vcf", SEED_VCF, "seed"), ("vcf", OTHER, "other")]))
    assert _ingest(root, KILLED, "mt").status == "succeeded"
    assert_same_view(reader_view(lake), _fresh(tmp_path, "ref2", [("vcf", SEED_VCF, "seed"), ("vcf", OTHER, "other"),
                                                                  ("vcf", KILLED, "mt")]))
    assert lake.catalog.snapshot() == {name: lake.catalog.table(name).delta_version for name in lake.catalog.snapshot()}


def test_failed_commit_is_rolled_back_at_once(tmp_path, monkeypatch, vcf_reference):
    """Not a kill but an error between two commits (disk full, a bug): the run is "failed", its first
    commit is rolled back before the error reaches the caller, and a re-run works."""
    root = tmp_path / "lake"
    lake = genolake.init_lake(root)
    _ingest(root, SEED_VCF, "seed")
    before = reader_view(lake)
    real = pipeline.commit_files

    def failing(table_root, spec, *a, **kw):
        if spec.name == "cpra_index":
            raise OSError(28, "No space left on device")
        return real(table_root, spec, *a, **kw)

    monkeypatch.setattr(pipeline, "commit_files", failing)
    with pytest.raises(OSError, match="No space left"):
        _ingest(root, KILLED, "mt")
    run = lake.catalog.runs(limit=1)[0]
    assert run.status == "failed" and "No space left" in run.error
    assert_same_view(reader_view(lake), before)
    # the latest Delta versions hold the published content again: a crawl would publish nothing new
    for name in ("variants", "genotypes"):
        assert sorted_latest(lake, name).equals(before[name])
    monkeypatch.setattr(pipeline, "commit_files", real)
    assert _ingest(root, KILLED, "mt").status == "succeeded"
    assert_same_view(reader_view(lake), vcf_reference["seeded"])


def sorted_latest(lake, name):
    from lake_checks import sorted_table

    return sorted_table(lake.read(name, published=False))


@pytest.mark.parametrize("stage", ["after-convert", "after-commit:clinvar"])
def test_killed_clinvar_ingest(tmp_path, stage):
    """A new ClinVar release killed before or after its one commit: the previous release stays visible."""
    root = tmp_path / "lake"
    lake = genolake.init_lake(root)
    old = tmp_path / "old_release.txt"
    import gzip

    old.write_text("".join(gzip.decompress(CLINVAR_EXCERPT.read_bytes()).decode().splitlines(keepends=True)[:6]))
    genolake.ingest_clinvar(root, old)
    before = reader_view(lake)
    killed = _killed_cli(root, ["ingest", "clinvar", str(CLINVAR_EXCERPT)], stage)
    assert_same_view(reader_view(lake), before)
    assert genolake.ingest_clinvar(root, CLINVAR_EXCERPT).status == "succeeded"
    assert_same_view(reader_view(lake), _fresh(tmp_path, "ref", [("clinvar", CLINVAR_EXCERPT, None)]))
    _assert_no_leftovers(lake, killed)


# ---------------------------------------------------------------- a kill at a moment chosen by the clock

_INGEST_SCRIPT = (
    "import sys, genolake, genolake.etl.engines.local_engine as p\n"
    "p.PARALLEL_MIN_BYTES = 0  # two worker processes even for a small file\n"
    "genolake.ingest_vcf(sys.argv[1], sys.argv[2], 'sim', workers=2)\n"
)


@pytest.fixture(scope="module")
def sim200(tmp_path_factory):
    return genolake.simulate(tmp_path_factory.mktemp("sim200"), n_samples=200, length_bp=2_000_000, seed=3,
                             progress=False)


def test_sigkill_mid_ingest_with_workers(tmp_path, sim200, monkeypatch):
    root = tmp_path / "lake"
    lake = genolake.init_lake(root)
    _ingest(root, SEED_VCF, "seed")
    before = reader_view(lake)
    p = subprocess.Popen([sys.executable, "-c", _INGEST_SCRIPT, str(root), str(sim200.vcf)],
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        # wait until the worker processes are running, then let them work a little
        deadline = time.monotonic() + 60
        while not worker_processes(str(root)):
            assert p.poll() is None, p.stderr.read()
            assert time.monotonic() < deadline, "no ingest worker ever started"
            time.sleep(0.01)
        time.sleep(random.Random(20240521).uniform(0.0, 0.6))
    finally:
        p.send_signal(signal.SIGKILL)
        p.wait()
    p.stderr.close()
    # workers die with their parent (PR_SET_PDEATHSIG): none may keep writing into the lake
    deadline = time.monotonic() + 10
    while worker_processes(str(root)) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert worker_processes(str(root)) == []

    status = {r.dataset: r.status for r in lake.catalog.runs()}
    monkeypatch.setattr(local_engine, "PARALLEL_MIN_BYTES", 0)
    reference = _fresh(tmp_path, "ref", [("vcf", SEED_VCF, "seed"), ("vcf", sim200.vcf, "sim")])
    if status["sim"] == "succeeded":  # the kill came too late: then it is simply done
        assert_same_view(reader_view(lake), reference)
    else:
        assert status["sim"] == "running"
        assert_same_view(reader_view(lake), before)
    res = genolake.ingest_vcf(root, sim200.vcf, "sim", workers=2)
    assert res.status in ("succeeded", "unchanged")
    assert_same_view(reader_view(lake), reference)
    assert not any((root / "_staging").iterdir())
