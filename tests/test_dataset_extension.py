"""A second file for an existing dataset can never make it count a call twice.

A dataset is one callset, samples × sites (etl/callset_extension.py): a new file adds sites for the
same samples, samples over the same sites (the N+1 append), or replaces the dataset with
`--replace`; anything else is refused naming the first overlap. The property-style test drives
random sequences of ingests (the same records as BGZF, plain text and plain gzip), `--replace`, crawls and
catalog rebuilds (`init` + `catalog crawl`) against a model of those rules, and after every step
holds the lake's AC/AN to bcftools on exactly the calls the dataset should hold.
"""

from __future__ import annotations

import random
import signal
import subprocess

import pytest

import genolake
from genolake.lake.errors import QuarantinedError
from conftest import VCF_DIR, lake_counts
from lake_checks import SEED_VCF, assert_same_view, reader_view, run_cli
from oracle import bcftools_counts, have_bcftools, vcf_samples

pytestmark = pytest.mark.skipif(not have_bcftools(), reason="bcftools is the oracle")

N_SEQUENCES = 200
GROUPS = ("g1", "g2", "all")
REGIONS = ("r1", "r2", "all")
FORMATS = ("vcf.gz", "vcf", "gzip.vcf.gz")  # BGZF, plain text, plain gzip


def _sh(cmd: str) -> None:
    subprocess.run(cmd, shell=True, check=True, capture_output=True)


@pytest.fixture(scope="module")
def pieces(tmp_path_factory, sim_cohort):
    """A small callset (8 samples, ~150 records with multi-allelic sites and missing calls) cut into
    sample groups × regions, each written as BGZF, plain VCF and plain gzip (same calls, other bytes)."""
    d = tmp_path_factory.mktemp("pieces")
    base = d / "base.vcf.gz"
    samples = vcf_samples(sim_cohort.vcf)[:8]
    _sh(f"bcftools view -s {','.join(samples)} -r 22:1-25000 -Oz -o {base} {sim_cohort.vcf} && tabix -p vcf {base}")
    positions = [int(x) for x in subprocess.run(f"bcftools query -f '%POS\\n' {base}", shell=True, check=True,
                                                capture_output=True, text=True).stdout.split()]
    mid = positions[len(positions) // 2]
    assert 50 < len(positions) < 400 and positions[0] < mid
    group = {"g1": samples[:4], "g2": samples[4:], "all": samples}
    region = {"r1": f"22:1-{mid - 1}", "r2": f"22:{mid}-25000", "all": "22:1-25000"}
    files = {}
    for g in GROUPS:
        for r in REGIONS:
            stem = d / f"{g}_{r}"
            _sh(f"bcftools view -s {','.join(group[g])} -r {region[r]} -Oz -o {stem}.vcf.gz {base}")
            _sh(f"bcftools view -Ov -o {stem}.vcf {stem}.vcf.gz")
            _sh(f"gzip -c {stem}.vcf > {stem}.gzip.vcf.gz")
            for fmt in FORMATS:
                files[(g, r, fmt)] = stem.with_name(f"{stem.name}.{fmt}")
    # the oracle per sample group, on the unsplit records of the whole base file
    truth = {g: bcftools_counts(base, d / f"oracle-{g}", group[g]) for g in ("g1", "g2", "all")}
    return {"files": files, "group": group, "mid": mid, "truth": truth, "base": base}


def _expected(pieces, samples: list[str], regions: set[str]) -> dict:
    """AC/AN the dataset must give: bcftools' on its samples, at the sites of its regions."""
    g = {tuple(pieces["group"]["g1"]): "g1", tuple(pieces["group"]["g2"]): "g2"}.get(tuple(samples), "all")
    assert sorted(samples) == sorted(pieces["group"][g])
    mid = pieces["mid"]
    keep = (lambda p: True) if regions >= {"r1", "r2"} else (lambda p: p < mid) if "r1" in regions else (lambda p: p >= mid)
    return {k: v for k, v in pieces["truth"][g].items() if keep(k[1])}


def _regions(r: str) -> set[str]:
    return {"r1", "r2"} if r == "all" else {r}


class Model:
    """The rules of callset_extension, as plainly as they can be said."""

    def __init__(self, group):
        self.group = group
        self.samples: list[str] = []
        self.regions: set[str] = set()
        self.live: set[tuple] = set()  # files whose calls the dataset holds now

    def ingest(self, key, replace: bool) -> str:
        g, r, _ = key
        samples, regions = self.group[g], _regions(r)
        if replace or not self.samples:
            self.samples, self.regions, self.live = list(samples), regions, {key}
            return "succeeded"
        if key in self.live:
            return "unchanged"
        if samples == self.samples and not (regions & self.regions):
            self.regions |= regions
        elif not set(samples) & set(self.samples) and regions == self.regions:
            self.samples += samples
        else:
            return "refused"
        self.live.add(key)
        return "succeeded"


def _ingest(root, path, replace=False) -> str:
    try:
        return genolake.ingest_vcf(root, path, "d1", workers=1, replace=replace).status
    except QuarantinedError:
        return "refused"


def _rebuild_catalog(root, cli: bool = True) -> None:
    """The catalog is lost and made anew from what is on disk (`init` + `catalog crawl`, or the
    same two library calls the crawl command makes)."""
    (root / "catalog.sqlite").unlink()
    lake = genolake.init_lake(root)
    if cli:
        run_cli(["--root", str(root), "catalog", "crawl"]).check_returncode()
    else:
        with lake.ingest_lock():
            lake.recover(sweep=True)
            lake.catalog.crawl(root)


def _assert_counts(root, pieces, model: Model, where: str) -> None:
    lake = genolake.open_lake(root)
    want = _expected(pieces, model.samples, model.regions) if model.samples else {}
    assert lake_counts(lake, "d1") == want, where
    # the whole-callset counts kept in `variants` agree, and every stored call is there once
    v = lake.read("variants").to_pylist()
    assert {(r["contig"], r["pos"], r["ref"], r["alt"]): (r["ac"], r["an"]) for r in v} == want, where
    g = lake.read("genotypes", columns=["sample_id", "contig", "pos", "allele_ord"]).to_pylist()
    assert len(g) == len({tuple(x.values()) for x in g}), where
    s = lake.read("samples").sort_by("sample_index")
    assert s["sample_id"].to_pylist() == model.samples and s["sample_index"].to_pylist() == list(range(len(model.samples)))


def test_random_ingest_sequences_never_count_a_call_twice(tmp_path, pieces):
    rng = random.Random(8)
    keys = sorted(pieces["files"])
    outcomes = {"succeeded": 0, "unchanged": 0, "refused": 0, "rebuilt": 0}
    for seq in range(N_SEQUENCES):
        root = tmp_path / f"s{seq}"
        genolake.init_lake(root)
        model = Model(pieces["group"])
        steps = []
        for _ in range(rng.randint(2, 4)):
            roll = rng.random()
            if roll < 0.12 and model.samples:
                steps.append("rebuild")
                _rebuild_catalog(root, cli=False)
                outcomes["rebuilt"] += 1
            else:
                key = rng.choice(keys)
                replace = roll > 0.92
                steps.append((*key, "replace" if replace else ""))
                want = model.ingest(key, replace)
                got = _ingest(root, pieces["files"][key], replace)
                assert got == want, (seq, steps)
                outcomes[got] += 1
            _assert_counts(root, pieces, model, f"sequence {seq}: {steps}")
    # the sequences did reach every kind of outcome
    assert min(outcomes.values()) > 10, outcomes


def test_same_records_uncompressed_are_refused_naming_the_overlap(tmp_path, pieces):
    """The reproduction: cohort.vcf.gz into d1, then the same records as plain .vcf into d1."""
    root = tmp_path / "lake"
    genolake.init_lake(root)
    assert _ingest(root, pieces["files"][("all", "all", "vcf.gz")]) == "succeeded"
    before = reader_view(genolake.open_lake(root))
    p = run_cli(["--root", str(root), "ingest", "vcf", str(pieces["files"][("all", "all", "vcf")]), "--dataset", "d1"])
    assert p.returncode == 3, p.stderr
    first = pieces["group"]["all"][0]
    assert p.stderr.count("\n") == 1 and f"sample {first} at 22-" in p.stderr and "already in dataset 'd1'" in p.stderr
    assert_same_view(reader_view(genolake.open_lake(root)), before)
    # and after the catalog is rebuilt: the same file is still a no-op, the other still refused
    _rebuild_catalog(root)
    assert _ingest(root, pieces["files"][("all", "all", "vcf.gz")]) == "unchanged"
    assert _ingest(root, pieces["files"][("all", "all", "gzip.vcf.gz")]) == "refused"
    assert_same_view(reader_view(genolake.open_lake(root)), before)


def test_append_refusals_name_the_sample_or_site(tmp_path, pieces):
    root = tmp_path / "lake"
    genolake.init_lake(root)
    f = pieces["files"]
    _ingest(root, f[("g1", "r1", "vcf.gz")])
    with pytest.raises(QuarantinedError, match=f"sample {pieces['group']['g1'][0]} is already in dataset 'd1'"):
        genolake.ingest_vcf(root, f[("all", "r2", "vcf.gz")], "d1", workers=1)
    with pytest.raises(QuarantinedError, match=r"22-\d+-\w+-\S+ is not a site of dataset 'd1'"):
        genolake.ingest_vcf(root, f[("g2", "all", "vcf.gz")], "d1", workers=1)
    # N+1 over the same sites is accepted and counts like one callset of all eight samples
    assert _ingest(root, f[("g2", "r1", "gzip.vcf.gz")]) == "succeeded"
    lake = genolake.open_lake(root)
    assert lake_counts(lake, "d1") == _expected(pieces, pieces["group"]["all"], {"r1"})
    engine = genolake.connect(lake)
    cpras = [f"{c}-{p}-{r}-{a}" for (c, p, r, a) in list(_expected(pieces, pieces["group"]["all"], {"r1"}))[:5]]
    af = genolake.allele_frequency(engine, cpras=cpras).to_pylist()
    truth = _expected(pieces, pieces["group"]["all"], {"r1"})
    assert {(r["contig"], r["pos"], r["ref"], r["alt"]): (r["ac"], r["an"]) for r in af} == \
        {k: truth[k] for k in truth if f"{k[0]}-{k[1]}-{k[2]}-{k[3]}" in cpras}


# ---------------------------------------------------------------- kills, crawls and orphans (item 3)

KILLED = VCF_DIR / "phase1_chr22_5samples.vcf.gz"


def _killed(root, stage) -> str:
    p = run_cli(["--root", str(root), "ingest", "vcf", str(KILLED), "--dataset", "mt", "--workers", "1"],
                env={"GENOLAKE_FAULT": stage})
    assert p.returncode == -signal.SIGKILL, (p.returncode, p.stderr)
    return genolake.open_lake(root).catalog.runs_with_status("running")[0].run_id


def _files_of(root, run_id) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in (root / "curated").rglob(f"*{run_id}*"))


@pytest.mark.parametrize("stage", ["after-commit:variants", "after-commit:genotypes", "after-commit:rsid_index",
                                   "after-manifest"])
def test_crawl_after_a_kill_publishes_only_complete_runs(tmp_path, stage):
    """Killed between table commits, the catalog deleted, `init` + `catalog crawl`: the crawl shows
    the lake as it was before the killed run, and the re-run leaves one copy of every row. Killed
    after its manifest, the run had made every commit: the crawl publishes it whole."""
    root = tmp_path / "lake"
    genolake.init_lake(root)
    genolake.ingest_vcf(root, SEED_VCF, "seed", workers=1)
    before = reader_view(genolake.open_lake(root))
    ref = tmp_path / "ref"
    genolake.init_lake(ref)
    genolake.ingest_vcf(ref, SEED_VCF, "seed", workers=1)
    genolake.ingest_vcf(ref, KILLED, "mt", workers=1)
    after = reader_view(genolake.open_lake(ref))

    killed = _killed(root, stage)
    _rebuild_catalog(root)
    lake = genolake.open_lake(root)
    if stage == "after-manifest":
        assert_same_view(reader_view(lake), after)
        assert genolake.ingest_vcf(root, KILLED, "mt", workers=1).status == "unchanged"
    else:
        assert_same_view(reader_view(lake), before)
        assert _files_of(root, killed) == []  # the crawl's recovery removed what the killed run wrote
        assert genolake.ingest_vcf(root, KILLED, "mt", workers=1).status == "succeeded"
    assert_same_view(reader_view(lake), after)
    # a library crawl without recovery publishes no half run either
    lake.catalog.crawl(root)
    assert_same_view(reader_view(lake), after)


def test_recovery_removes_the_files_of_rolled_back_commits(tmp_path):
    """A kill after the genotypes commit left every per-sample file of the run behind (rolled back in
    the log, still on disk); the next ingest's recovery must delete them."""
    root = tmp_path / "lake"
    genolake.init_lake(root)
    genolake.ingest_vcf(root, SEED_VCF, "seed", workers=1)
    killed = _killed(root, "after-commit:cpra_index")
    assert _files_of(root, killed)  # the kill left files (committed, unpublished)
    genolake.ingest_vcf(root, SEED_VCF.with_name("split_test.vcf"), "other", workers=1)
    assert _files_of(root, killed) == []


def test_replace_with_hostile_sample_ids_keeps_one_copy(tmp_path):
    """--replace removes the dataset's files by the log's paths, whatever the folders' encoding."""
    from test_hostile_sample_ids import _hostile_vcf
    from oracle import plain_counts

    vcf = tmp_path / "hostile.vcf"
    _hostile_vcf(vcf)
    root = tmp_path / "lake"
    genolake.init_lake(root)
    genolake.ingest_vcf(root, vcf, "d1", workers=1)
    gz = tmp_path / "hostile.vcf.gz"
    _sh(f"bgzip -c {vcf} > {gz}")
    assert _ingest(root, gz) == "refused"
    assert _ingest(root, gz, replace=True) == "succeeded"
    lake = genolake.open_lake(root)
    assert lake_counts(lake, "d1") == plain_counts(vcf)
    g = lake.read("genotypes", columns=["sample_id", "pos", "allele_ord"]).to_pylist()
    assert len(g) == len({tuple(x.values()) for x in g}) == sum(1 for _ in g)
    assert set(x["sample_id"] for x in g) == set(vcf_samples(vcf))
