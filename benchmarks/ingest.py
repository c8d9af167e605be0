"""Ingest benchmark: `genolake ingest vcf` against bcftools on the same file, in the same run.

Run it (psutil is needed: `pip install -e '.[bench]'`):

    python -m genolake.benchmarks.ingest --scale small           # 500 samples x 5 Mb (also: medium)
    python -m genolake.benchmarks.ingest --scale chr22-5mb       # 2,504 samples x 5 Mb
    python -m genolake.benchmarks.ingest --scale chr22           # 2,504 samples x 51 Mb (minutes)
    python -m genolake.benchmarks.ingest --scale tiny            # 50 samples x 200 kb (seconds)
    python -m genolake.benchmarks.ingest --vcf my.vcf.gz [--name mine] [--workers 2] [--repeat 3]

`--scale` uses <data-dir>/<scale>/cohort.chr22.vcf.gz when it exists, else simulates the cohort
once into `--data-dir` and reuses it afterwards (`--data-dir`, else $GENOLAKE_BENCH_DATA, else
./genolake-bench/data in the working directory).
Results go to `--out` (default ./genolake-bench/results): ingest-<scale>.json and ingest-<scale>.md;
the Markdown summary is printed too. Exit status: 0 valid, 2 the oracle check failed (INVALID),
3 a measured command (or an engine of the engine axis) failed.

What is measured (DESIGN.md, "How performance is measured"):
- peer: `bcftools view -Ou -o /dev/null FILE`, whole-process wall time and peak RSS;
- genolake: `python -m genolake --root <fresh lake> init`, then
  `python -m genolake --root <lake> --no-progress ingest vcf FILE --dataset bench [--workers N]`,
  whole-process wall time and the peak RSS of the whole process tree (the ingest runs worker
  subprocesses): the tree's RSS is summed every ~50 ms (psutil finds the processes, /proc gives
  VmRSS) and the maximum is kept; PSS (shared pages counted once) is summed every ~0.5 s. The
  largest single process is reported twice: its VmHWM (the kernel's per-process high-water mark)
  as last seen by the sampler, and GNU time's %M when /usr/bin/time is GNU time (each command is
  started under it; see `measure` for why wait4 from this process would be wrong);
- the oracle, before any figure is recorded: every split allele's AC/AN in the `variants` table
  against `bcftools +fill-tags FILE -Ou -- -t AC,AN | bcftools query ...` (records without GT
  print '.', counted as 0), joined in DuckDB. Any mismatch marks the result INVALID. The
  fill-tags pipeline is timed as well (it is the peer for whole-callset AC/AN);
- storage: bytes of the live Parquet files of each table's published Delta snapshot, the ratio
  (variants + genotypes) / VCF.gz bytes, and bytes per stored genotype row.

The page cache is warmed with one read of the file before anything is timed, so every command
sees the same (cached) input. The machine may be shared: before each timed command the script
waits (up to `--wait-idle` s, default 300) until other processes use < `--idle-below` cores, and
measures again (up to `--retries` times) when other processes used more than `--max-other-load`
cores on average meanwhile. The CPU time other processes used during each kept measurement is
recorded (`others_cpu_s`, summed as `contention_cpu_s`): a large value means the wall times are
not trustworthy. Hardware, tool versions and the git commit (with modified files) are recorded.
The oracle needs bcftools to know the contigs: a file with no ##contig lines and no index is
read by bcftools (oracle and view peer) through a bgzipped, tabix-indexed copy.
This is a benchmark, not a test: nothing here asserts timings.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from .common import (DATA_HELP, OUT_HELP, GiB, MiB, LoadGuard, data_dir, git_state, hardware, need_psutil,
                     out_dir, preset_dir, versions)
DATASET = "bench"
SCALES = {  # name: (samples, length_bp, seed)
    "tiny": (50, 200_000, 1),
    "small": (500, 5_000_000, 7),
    "medium": (500, 5_000_000, 7),  # the same cohort as small (its older name)
    "chr22-5mb": (2504, 5_000_000, 22),  # full 1000 Genomes width, a 5 Mb slice of chr22's length
    "chr22": (2504, 51_000_000, 22),
}
SCALE_ALIASES = {"medium": "small"}  # scales that share one simulated cohort (one cache folder)
TARGETS = {  # name: (ratio key, limit, description)
    "ingest_wall": ("ingest_wall_over_bcftools_view", 1.5, "ingest wall <= 1.5x bcftools view"),
    "peak_rss": ("peak_rss_tree_GiB", 2.0, "peak RSS (whole tree) <= 2 GiB"),
    "storage": ("storage_ratio", 2.0, "(variants+genotypes) bytes <= 2.0x VCF.gz"),
}
STORAGE_TABLES = ("variants", "genotypes", "cpra_index", "rsid_index", "samples")


# ---------------------------------------------------------------- measuring one command

@dataclass
class Measured:
    """One whole-process measurement of a command (or a pipeline of commands)."""

    cmd: str
    wall_s: float
    returncode: int
    cpu_s: float  # user + system of the processes and all their reaped descendants (wait4)
    peak_rss_tree_bytes: int  # max over samples of the summed RSS of every process in the tree
    peak_pss_tree_bytes: int  # the same with PSS (shared pages counted once), sampled less often
    peak_rss_single_bytes: int  # largest per-process high-water mark (VmHWM) seen while sampling
    peak_rss_single_kernel_bytes: int | None  # GNU time's %M: ru_maxrss of the command and its reaped children
    peak_rss_by_role_bytes: dict = field(default_factory=dict)  # max VmHWM per role (main, worker, bcftools)
    max_processes: int = 0
    n_samples: int = 0
    timeline: list = field(default_factory=list)  # [second, max tree RSS MiB, processes], one per second
    others_cpu_s: float | None = None  # CPU used meanwhile by processes outside this measurement
    waited_for_idle_s: float = 0.0
    stdout: str = ""
    stderr: str = ""

    def brief(self) -> dict:
        d = asdict(self)
        d["stdout"] = self.stdout[-4000:]
        d["stderr"] = self.stderr[-4000:]
        return d


def _proc_mem(pid: int) -> tuple[int, int] | None:
    """(VmRSS, VmHWM) in bytes from /proc/<pid>/status; None once the process is gone or a zombie."""
    try:
        with open(f"/proc/{pid}/status", "rb") as fh:
            text = fh.read()
    except OSError:
        return None
    rss = hwm = None
    for line in text.splitlines():
        if line.startswith(b"VmRSS:"):
            rss = int(line.split()[1]) * 1024
        elif line.startswith(b"VmHWM:"):
            hwm = int(line.split()[1]) * 1024
    return None if rss is None else (rss, hwm or rss)


def _proc_pss(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/smaps_rollup", "rb") as fh:
            for line in fh:
                if line.startswith(b"Pss:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def _role(pid: int) -> str:
    """'worker' for the ingest's worker subprocesses, 'main' for another genolake process, else the program."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as fh:
            cmd = fh.read().decode(errors="replace").split("\0")
    except OSError:
        return "gone"
    text = " ".join(cmd)
    if "genolake.etl.engines.worker" in text:
        return "worker"
    if "genolake" in text:
        return "main"
    return Path(cmd[0]).name if cmd and cmd[0] else "other"


class _TreeSampler(threading.Thread):
    """Every `interval` s: the summed RSS of the process tree(s) under `pids`, and each one's VmHWM.

    With `skip_roots` the roots themselves (a GNU time launcher) are not counted, only their
    descendants. PSS is read every `pss_every` samples (smaps_rollup walks the page tables)."""

    def __init__(self, pids: list[int], interval: float, skip_roots: bool, pss_every: int = 10):
        super().__init__(daemon=True)
        self.psutil = need_psutil()
        self.roots = []
        for pid in pids:
            try:
                self.roots.append(self.psutil.Process(pid))
            except self.psutil.NoSuchProcess:
                pass
        self.interval, self.skip_roots, self.pss_every = interval, skip_roots, pss_every
        self.stop = threading.Event()
        self.t0 = time.perf_counter()
        self.peak_tree = 0
        self.peak_pss = 0
        self.hwm: dict[tuple, int] = {}  # (pid, role) -> VmHWM
        self.max_procs = 0
        self.n = 0
        self.per_second: dict[int, list] = {}

    def pids(self) -> list[int]:
        out: dict[int, None] = {}
        for r in self.roots:
            if not self.skip_roots:
                out[r.pid] = None
            try:
                for c in r.children(recursive=True):
                    out[c.pid] = None
            except self.psutil.Error:
                continue
        return list(out)

    def sample(self) -> None:
        total, alive, pss = 0, 0, 0
        with_pss = self.n % self.pss_every == 0
        for pid in self.pids():
            mem = _proc_mem(pid)
            if mem is None:
                continue
            alive += 1
            total += mem[0]
            key = (pid, _role(pid))
            self.hwm[key] = max(self.hwm.get(key, 0), mem[1])
            if with_pss:
                pss += _proc_pss(pid)
        self.n += 1
        self.peak_tree = max(self.peak_tree, total)
        self.peak_pss = max(self.peak_pss, pss)
        self.max_procs = max(self.max_procs, alive)
        sec = int(time.perf_counter() - self.t0)
        cur = self.per_second.get(sec)
        if cur is None or total > cur[0]:
            self.per_second[sec] = [total, alive]

    def run(self) -> None:
        while not self.stop.is_set():
            self.sample()
            self.stop.wait(self.interval)

    def peak_single(self) -> int:
        return max(self.hwm.values(), default=0)

    def by_role(self) -> dict:
        out: dict[str, int] = {}
        for (_, role), v in self.hwm.items():
            out[role] = max(out.get(role, 0), v)
        return out

    def timeline(self) -> list:
        return [[s, round(v[0] / MiB, 1), v[1]] for s, v in sorted(self.per_second.items())]


_GNU_TIME: list = []


def gnu_time() -> str | None:
    """GNU time, used as a small launcher so ru_maxrss is the command's own (see `measure`)."""
    if not _GNU_TIME:
        path = shutil.which("time") or ("/usr/bin/time" if Path("/usr/bin/time").exists() else None)
        ok = bool(path) and "GNU" in subprocess.run([path, "--version"], capture_output=True, text=True).stdout + \
            subprocess.run([path, "--version"], capture_output=True, text=True).stderr
        _GNU_TIME.append(path if ok else None)
    return _GNU_TIME[0]


def measure(cmds: list[list[str]], *, interval: float = 0.05, stdout_path: Path | None = None,
            cwd: Path | None = None) -> Measured:
    """Run `cmds` as a pipeline (each one's stdout into the next one's stdin) and measure it whole.

    Wall time runs from just before the first process starts until the last one is reaped.
    The last command's stdout goes to `stdout_path` (else it is captured).

    Each command is started under GNU time when it is installed: ru_maxrss of a child started
    straight from this process is not the child's own (Linux keeps the high-water mark of the
    address space replaced by exec, i.e. this Python's, after vfork), so wait4 here would report
    the benchmark's own memory. GNU time is a few-MB C program: its %M is the command's."""
    need_psutil()
    launcher = gnu_time()
    with tempfile.TemporaryDirectory(prefix="genolake-bench-io-") as io_dir:
        io = Path(io_dir)
        out_file = Path(stdout_path) if stdout_path else io / "stdout"
        err_files = [io / f"stderr-{i}" for i in range(len(cmds))]
        rss_files = [io / f"maxrss-{i}" for i in range(len(cmds))]
        err_handles = [open(p, "wb") for p in err_files]
        out_handle = open(out_file, "wb")
        procs: list[subprocess.Popen] = []
        codes, cpu = [], 0.0
        t0 = time.perf_counter()
        try:
            prev = subprocess.DEVNULL
            for i, cmd in enumerate(cmds):
                last = i == len(cmds) - 1
                full = [launcher, "-f", "%M", "-o", str(rss_files[i]), *cmd] if launcher else cmd
                p = subprocess.Popen(full, stdin=prev, stdout=out_handle if last else subprocess.PIPE,
                                     stderr=err_handles[i], cwd=cwd)
                if prev is not subprocess.DEVNULL:
                    prev.close()  # the child holds it now
                prev = p.stdout if not last else None
                procs.append(p)
            sampler = _TreeSampler([p.pid for p in procs], interval, skip_roots=bool(launcher))
            sampler.start()
            for p in procs:
                _, status, ru = os.wait4(p.pid, 0)
                p.returncode = os.waitstatus_to_exitcode(status)
                codes.append(p.returncode)
                cpu += ru.ru_utime + ru.ru_stime
            wall = time.perf_counter() - t0
            sampler.stop.set()
            sampler.join()
        finally:
            for p in procs:
                if p.returncode is None:
                    p.kill()
                    p.wait()
            out_handle.close()
            for h in err_handles:
                h.close()
        stdout = out_file.read_text(errors="replace") if stdout_path is None else ""
        stderr = "".join(p.read_text(errors="replace") for p in err_files)
        kernel = None
        if launcher:
            vals = []
            for f in rss_files:
                last_line = (f.read_text().strip().splitlines() or [""])[-1] if f.exists() else ""
                if last_line.isdigit():
                    vals.append(int(last_line) * 1024)  # KiB
            kernel = max(vals) if vals else None
    return Measured(
        cmd=" | ".join(" ".join(c) for c in cmds), wall_s=wall,
        returncode=next((c for c in codes if c != 0), 0), cpu_s=cpu,
        peak_rss_tree_bytes=sampler.peak_tree, peak_pss_tree_bytes=sampler.peak_pss,
        peak_rss_single_bytes=sampler.peak_single(), peak_rss_single_kernel_bytes=kernel,
        peak_rss_by_role_bytes=sampler.by_role(), max_processes=sampler.max_procs, n_samples=sampler.n,
        timeline=sampler.timeline(), stdout=stdout, stderr=stderr,
    )


# ---------------------------------------------------------------- input data

def resolve_input(args) -> tuple[Path, str]:
    if args.vcf:
        path = Path(args.vcf).resolve()
        if not path.is_file():
            raise SystemExit(f"no such file: {path}")
        name = args.name or re.sub(r"\.(vcf|bcf)(\.gz)?$", "", path.name)
        return path, name
    scale = args.scale or "medium"
    return scale_vcf(scale, data_dir(args.data_dir)), args.name or scale


def scale_vcf(scale: str, data: Path, log=None) -> Path:
    """The VCF of a scale: <data>/<scale>/cohort.chr22.vcf.gz when present, else simulated once into
    <data>/<scale>-n<N>-L<length>-s<seed>/ (deterministic by seed) and reused."""
    preset = preset_dir(data, scale)
    if preset is not None:
        return preset / "cohort.chr22.vcf.gz"
    n, length, seed = SCALES[scale]
    cache = Path(data) / f"{SCALE_ALIASES.get(scale, scale)}-n{n}-L{length}-s{seed}"
    vcf = cache / "cohort.chr22.vcf.gz"
    if not (vcf.is_file() and Path(str(vcf) + ".tbi").is_file()):
        import genolake

        print(f"simulating the {scale} cohort ({n} samples x {length:,} bp, seed {seed}) into {cache} ...",
              file=sys.stderr, flush=True)
        vcf = genolake.simulate(cache, n_samples=n, length_bp=length, seed=seed, progress=False).vcf
    return vcf


def warm_page_cache(path: Path) -> float:
    t0 = time.perf_counter()
    with open(path, "rb") as fh:
        while fh.read(16 * MiB):
            pass
    return time.perf_counter() - t0


# ---------------------------------------------------------------- the oracle

def run_oracle(vcf: Path, out_tsv: Path, interval: float) -> Measured:
    fmt = r"%CHROM\t%POS\t%REF\t%ALT\t%AN\t%AC\n"
    return measure([["bcftools", "+fill-tags", str(vcf), "-Ou", "--", "-t", "AC,AN"],
                    ["bcftools", "query", "-f", fmt]], interval=interval, stdout_path=out_tsv)


def indexed_copy(vcf: Path, workdir: Path) -> Path:
    """A bgzipped, tabix-indexed copy of `vcf` (as tests/oracle.py makes for files without ##contig)."""
    workdir.mkdir(parents=True, exist_ok=True)
    out = workdir / "oracle-input.vcf.gz"
    with open(vcf, "rb") as fh:
        gz = fh.read(2) == b"\x1f\x8b"
    with open(vcf, "rb", buffering=0) as src, open(out, "wb") as dst:
        if gz:
            unz = subprocess.Popen(["bgzip", "-dc"], stdin=src, stdout=subprocess.PIPE)
            subprocess.run(["bgzip", "-c"], stdin=unz.stdout, stdout=dst, check=True)
            unz.stdout.close()
            if unz.wait() != 0:
                raise RuntimeError(f"bgzip -dc {vcf} failed")
        else:
            subprocess.run(["bgzip", "-c"], stdin=src, stdout=dst, check=True)
    subprocess.run(["tabix", "-f", "-p", "vcf", str(out)], check=True, capture_output=True)
    return out


def check_against_oracle(lake_root: Path, oracle_tsv: Path, dataset: str = DATASET, n_examples: int = 10) -> dict:
    """Join the lake's variants AC/AN with the oracle's per split allele, in DuckDB."""
    import duckdb
    import pyarrow as pa

    import genolake
    from genolake.lake.coords import normalize_contig

    t0 = time.perf_counter()
    con = duckdb.connect()
    con.execute(
        "CREATE TABLE raw AS SELECT * FROM read_csv(?, delim='\t', header=false, quote='', escape='', "
        "auto_detect=false, columns={'chrom': 'VARCHAR', 'pos': 'BIGINT', 'ref': 'VARCHAR', 'alt': 'VARCHAR', "
        "'an': 'VARCHAR', 'ac': 'VARCHAR'})", [str(oracle_tsv)])
    chroms = [r[0] for r in con.execute("SELECT DISTINCT chrom FROM raw").fetchall()]
    contig_map = pa.table({"chrom": chroms, "contig": [normalize_contig(c) for c in chroms]})
    con.register("contig_map", contig_map)
    con.execute("""
        CREATE TABLE oracle AS
        WITH s AS (
            SELECT m.contig, r.pos, r.ref, string_split(r.alt, ',') AS alts,
                   CASE WHEN r.ac = '.' THEN NULL ELSE string_split(r.ac, ',') END AS acs,
                   CASE WHEN r.an = '.' THEN 0 ELSE CAST(r.an AS BIGINT) END AS an
            FROM raw r JOIN contig_map m USING (chrom)
            WHERE r.alt <> '.'
        ), u AS (SELECT *, unnest(range(1, len(alts) + 1)) AS i FROM s)
        SELECT contig, pos, ref, alts[i] AS alt, COALESCE(CAST(acs[i] AS BIGINT), 0) AS ac, an FROM u
    """)
    n_records = con.execute("SELECT count(*) FROM raw").fetchall()[0][0]
    lake = genolake.open_lake(lake_root)
    variants = lake.read("variants", columns=["dataset", "contig", "pos", "ref", "alt", "ac", "an"])
    con.register("variants_arrow", variants)
    con.execute(f"CREATE TABLE lake AS SELECT contig, CAST(pos AS BIGINT) AS pos, ref, alt, "
                f"CAST(ac AS BIGINT) AS ac, CAST(an AS BIGINT) AS an FROM variants_arrow WHERE dataset = '{dataset}'")
    n_oracle = con.execute("SELECT count(*) FROM oracle").fetchall()[0][0]
    n_lake = con.execute("SELECT count(*) FROM lake").fetchall()[0][0]
    dup_oracle = n_oracle - con.execute("SELECT count(*) FROM (SELECT DISTINCT contig, pos, ref, alt FROM oracle)").fetchall()[0][0]
    dup_lake = n_lake - con.execute("SELECT count(*) FROM (SELECT DISTINCT contig, pos, ref, alt FROM lake)").fetchall()[0][0]
    con.execute("""
        CREATE TABLE diff AS
        SELECT COALESCE(o.contig, l.contig) AS contig, COALESCE(o.pos, l.pos) AS pos,
               COALESCE(o.ref, l.ref) AS ref, COALESCE(o.alt, l.alt) AS alt,
               o.ac AS oracle_ac, o.an AS oracle_an, l.ac AS lake_ac, l.an AS lake_an,
               CASE WHEN l.contig IS NULL THEN 'missing_in_lake'
                    WHEN o.contig IS NULL THEN 'not_in_oracle'
                    WHEN o.ac <> l.ac AND o.an <> l.an THEN 'ac_and_an'
                    WHEN o.ac <> l.ac THEN 'ac' ELSE 'an' END AS kind
        FROM oracle o FULL OUTER JOIN lake l
          ON o.contig = l.contig AND o.pos = l.pos AND o.ref = l.ref AND o.alt = l.alt
        WHERE l.contig IS NULL OR o.contig IS NULL OR o.ac <> l.ac OR o.an <> l.an
    """)
    kinds = dict(con.execute("SELECT kind, count(*) FROM diff GROUP BY kind ORDER BY kind").fetchall())
    cols = ["contig", "pos", "ref", "alt", "oracle_ac", "oracle_an", "lake_ac", "lake_an", "kind"]
    examples = [dict(zip(cols, r)) for r in
                con.execute(f"SELECT {', '.join(cols)} FROM diff ORDER BY contig, pos, ref, alt LIMIT {n_examples}").fetchall()]
    n_mismatch = sum(kinds.values())
    con.close()
    return {
        "valid": n_mismatch == 0 and dup_oracle == 0 and dup_lake == 0 and n_oracle > 0,
        "oracle_records": n_records, "oracle_split_alleles": n_oracle, "lake_variant_rows": n_lake,
        "duplicate_keys_oracle": dup_oracle, "duplicate_keys_lake": dup_lake,
        "mismatches": n_mismatch, "mismatches_by_kind": kinds, "examples": examples,
        "seconds": time.perf_counter() - t0,
    }


# ---------------------------------------------------------------- storage

def storage(lake_root: Path) -> dict:
    """Live Parquet bytes of each table's published snapshot, plus what is on disk around it."""
    import pyarrow as pa
    import pyarrow.compute as pc
    from deltalake import DeltaTable

    import genolake

    lake = genolake.open_lake(lake_root)
    snap = lake.catalog.snapshot()
    out = {}
    for name in STORAGE_TABLES:
        root = lake.table_root(name)
        if name not in snap:
            out[name] = {"bytes": 0, "files": 0, "rows": 0, "version": None}
            continue
        dt = DeltaTable(str(root), version=snap[name])
        adds = pa.table(dt.get_add_actions(flatten=True))
        size = int(pc.sum(adds["size_bytes"]).as_py() or 0)
        rows = int(pc.sum(adds["num_records"]).as_py() or 0) if "num_records" in adds.column_names else None
        on_disk = sum(p.stat().st_size for p in root.rglob("*") if p.is_file())
        log = sum(p.stat().st_size for p in (root / "_delta_log").rglob("*") if p.is_file())
        out[name] = {"bytes": size, "files": adds.num_rows, "rows": rows, "version": snap[name],
                     "folder_bytes": on_disk, "delta_log_bytes": log,
                     "unreferenced_bytes": on_disk - log - size}
    out["lake_folder_bytes"] = sum(p.stat().st_size for p in Path(lake_root).rglob("*") if p.is_file())
    return out


# ---------------------------------------------------------------- environment

def vcf_samples(vcf: Path) -> int:
    out = subprocess.run(["bcftools", "query", "-l", str(vcf)], capture_output=True, text=True, check=True).stdout
    return len(out.split())


# ---------------------------------------------------------------- the run

def _single(m: Measured) -> int:
    """The largest single process's peak: GNU time's exact figure, else the sampled VmHWM."""
    return max(m.peak_rss_single_kernel_bytes or 0, m.peak_rss_single_bytes)


def _single_d(d: dict) -> int:
    return max(d.get("peak_rss_single_kernel_bytes") or 0, d.get("peak_rss_single_bytes") or 0)


def _median(xs):
    return statistics.median(xs) if xs else None


def _parse_ingest_stdout(text: str) -> dict:
    """The CLI's summary: seconds, run id, and `rows: k=v, ...` (ints with thousands commas, or a dict)."""
    import ast

    out: dict = {}
    m = re.search(r"ingested .* in ([0-9.]+)s \(run ([^)]+)\)", text)
    if m:
        out["in_process_s"], out["run_id"] = float(m.group(1)), m.group(2)
    m = re.search(r"^\s*rows: (.*)$", text, re.M)
    if m:
        rows = {}
        for k, v in re.findall(r"(\w+)=(\{[^}]*\}|.*?)(?=, \w+=|$)", m.group(1)):
            if re.fullmatch(r"[\d,]+", v):
                rows[k] = int(v.replace(",", ""))
            elif v.startswith("{"):
                try:
                    rows[k] = ast.literal_eval(v)
                except (ValueError, SyntaxError):
                    rows[k] = v
            else:
                rows[k] = v
        out["rows"] = rows
    return out


def run_benchmark(args) -> tuple[dict, int]:
    vcf, name = resolve_input(args)
    py = sys.executable
    interval = args.interval
    if args.work_dir:
        Path(args.work_dir).mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="genolake-bench-", dir=args.work_dir))
    log = (lambda *a: print(*a, file=sys.stderr, flush=True)) if not args.quiet else (lambda *a: None)
    started = _dt.datetime.now(_dt.timezone.utc)
    status = 0
    result: dict = {
        "benchmark": "ingest", "name": name, "scale": args.scale if not args.vcf else None,
        "started_utc": started.isoformat(timespec="seconds"),
        "hardware": hardware(), "versions": versions(), "git": git_state(),
        "settings": {"workers": args.workers, "repeat": args.repeat, "rss_sample_interval_s": interval,
                     "dataset": DATASET, "python": py},
    }
    try:
        from genolake.etl.engines.local import default_workers

        result["settings"]["workers_effective"] = args.workers or default_workers()
    except Exception:
        pass
    vcf_bytes = vcf.stat().st_size
    result["input"] = {"path": str(vcf), "bytes": vcf_bytes, "MB": round(vcf_bytes / 1e6, 1),
                       "indexed": any(Path(str(vcf) + s).is_file() for s in (".tbi", ".csi")),
                       "samples": vcf_samples(vcf)}
    log(f"[bench] {name}: {vcf} ({vcf_bytes / 1e6:.1f} MB, {result['input']['samples']} samples); work dir {work}")
    result["input"]["page_cache_warm_read_s"] = warm_page_cache(vcf)

    guard = LoadGuard(wait_idle_s=args.wait_idle, idle_below=args.idle_below, max_other_load=args.max_other_load,
                      retries=args.retries, log=log)
    fill = None
    views, ingests, inits, checks, stores = [], [], [], [], []

    def timed(label: str, run_once, prepare=None, discard=None) -> Measured:
        """Measure once; again (up to --retries) when other processes used more than --max-other-load cores."""
        m, others, waited, _, _ = guard.run(label, run_once, measured_cpu=lambda m: m.cpu_s,
                                            failed=lambda m: m.returncode != 0, prepare=prepare, discard=discard)
        m.others_cpu_s, m.waited_for_idle_s = others, waited
        return m

    try:
        # -- the oracle (also the fill-tags peer), once
        oracle_tsv = work / "oracle.tsv"
        peer_input = vcf
        log("[bench] bcftools +fill-tags | query (oracle) ...")
        fill = timed("fill-tags", lambda _: run_oracle(vcf, oracle_tsv, interval))
        if fill.returncode != 0 and not result["input"]["indexed"]:
            # bcftools needs every contig declared; without ##contig lines it reads them from an index
            log("[bench]   fill-tags failed on the file as given; retrying on a bgzipped, tabix-indexed copy")
            copy = indexed_copy(vcf, work / "oracle-input")
            result["input"]["oracle_input"] = result["input"]["peer_input"] = str(copy)
            peer_input = copy
            fill = timed("fill-tags", lambda _: run_oracle(copy, oracle_tsv, interval))
        if fill.returncode != 0:
            raise _Failed("bcftools +fill-tags", fill)
        log(f"[bench]   {fill.wall_s:.1f} s; other load {fill.others_cpu_s:.1f} CPU-s")
        result["peers"] = {"bcftools_fill_tags_query": fill.brief()}

        for rep in range(0 if args.engines_only else args.repeat):
            log(f"[bench] repeat {rep + 1}/{args.repeat}: bcftools view -Ou -o /dev/null ...")
            view = timed("bcftools view", lambda _: measure([["bcftools", "view", "-Ou", "-o", "/dev/null", str(peer_input)]],
                                                           interval=interval))
            if view.returncode != 0:
                raise _Failed("bcftools view", view)
            log(f"[bench]   {view.wall_s:.1f} s, peak RSS {_single(view) / MiB:.0f} MiB; other load {view.others_cpu_s:.1f} CPU-s")
            views.append(view)

            lakes: dict[int, Path] = {}

            def init_lake(attempt, rep=rep, lakes=lakes):
                lakes[attempt] = work / f"lake-{rep}-{attempt}"
                init = measure([[py, "-m", "genolake", "--root", str(lakes[attempt]), "init"]], interval=interval)
                if init.returncode != 0:
                    raise _Failed("genolake init", init)
                inits.append(init)

            def ingest_once(attempt, lakes=lakes):
                cmd = [py, "-m", "genolake", "--root", str(lakes[attempt]), "--no-progress", "ingest", "vcf", str(vcf),
                       "--dataset", DATASET]
                if args.workers:
                    cmd += ["--workers", str(args.workers)]
                return measure([cmd], interval=interval)

            log(f"[bench] repeat {rep + 1}/{args.repeat}: genolake ingest vcf ...")
            ing = timed("genolake ingest", ingest_once, prepare=init_lake,
                        discard=lambda attempt, lakes=lakes: shutil.rmtree(lakes.pop(attempt), ignore_errors=True))
            if ing.returncode != 0:
                raise _Failed("genolake ingest", ing)
            log(f"[bench]   {ing.wall_s:.1f} s, peak RSS tree {ing.peak_rss_tree_bytes / MiB:.0f} MiB "
                f"({ing.max_processes} processes at most); other load {ing.others_cpu_s:.1f} CPU-s")
            ingests.append(ing)
            lake_root = lakes[max(lakes)]

            log("[bench] checking AC/AN against the oracle ...")
            chk = check_against_oracle(lake_root, oracle_tsv)
            log(f"[bench]   {'valid' if chk['valid'] else 'INVALID'}: {chk['mismatches']} mismatches over "
                f"{chk['oracle_split_alleles']:,} split alleles ({chk['seconds']:.1f} s)")
            checks.append(chk)
            stores.append(storage(lake_root))
            if not args.keep:
                shutil.rmtree(lake_root, ignore_errors=True)

        # -- the engine axis: the same file through each engine, one fresh process each
        if args.engine_list:
            from . import ingest_engines

            records = sum(1 for _ in open(oracle_tsv, "rb"))
            result["engines"] = ingest_engines.run_axis(
                vcf, name, args.engine_list, work / "engines", interval=interval, workers=args.workers,
                oracle_tsv=oracle_tsv, records=records, samples=result["input"]["samples"], timed=timed, log=log,
                scale=result["scale"])
            result["input"].setdefault("records", records)
    except _Failed as f:
        result["error"] = {"step": f.step, **f.measured.brief()}
        log(f"[bench] {f.step} failed (exit {f.measured.returncode}):\n{f.measured.stderr[-2000:]}")
        status = 3
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
        else:
            result["work_dir"] = str(work)

    result["finished_utc"] = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
    result.update(guard.summary())
    result["sampler_cpu_s"] = round(guard.own_cpu_s, 1)

    oracle = checks[-1] if checks else None
    axis_ok = (result["engines"]["valid"] and any(r.get("valid") for r in result["engines"]["rows"].values())
               if "engines" in result else None)
    valid = (bool(checks) or bool(axis_ok)) and all(c["valid"] for c in checks) and axis_ok is not False \
        and status == 0
    result["valid"] = valid
    result["oracle_check"] = {"runs": checks, "valid": valid}
    if oracle:
        result["input"]["records"] = oracle["oracle_records"]
        result["input"]["split_alleles"] = oracle["oracle_split_alleles"]

    if views:
        result.setdefault("peers", {})["bcftools_view"] = {
            "runs": [v.brief() for v in views], "wall_s": _median([v.wall_s for v in views]),
            "peak_rss_bytes": max(_single(v) for v in views),
            "peak_rss_sampled_bytes": max(v.peak_rss_tree_bytes for v in views)}
    if ingests:
        parsed = [_parse_ingest_stdout(i.stdout) for i in ingests]
        result["genolake"] = {
            "init": {"runs": [i.brief() for i in inits], "wall_s": _median([i.wall_s for i in inits])},
            "ingest": {
                "runs": [i.brief() for i in ingests],
                "wall_s": _median([i.wall_s for i in ingests]),
                "wall_s_min": min(i.wall_s for i in ingests),
                "in_process_s": _median([p.get("in_process_s") for p in parsed if p.get("in_process_s")]),
                "cpu_s": _median([i.cpu_s for i in ingests]),
                "peak_rss_tree_bytes": max(i.peak_rss_tree_bytes for i in ingests),
                "peak_rss_single_bytes": max(i.peak_rss_single_bytes for i in ingests),
                "peak_rss_single_kernel_bytes": max((i.peak_rss_single_kernel_bytes or 0 for i in ingests), default=0) or None,
                "peak_pss_tree_bytes": max(i.peak_pss_tree_bytes for i in ingests),
                "peak_rss_by_role_bytes": ingests[-1].peak_rss_by_role_bytes,
                "max_processes": max(i.max_processes for i in ingests),
                "rows": parsed[-1].get("rows"),
            },
        }
    if stores:
        st = stores[-1]
        vg = st["variants"]["bytes"] + st["genotypes"]["bytes"]
        grows = st["genotypes"]["rows"] or 0
        cells = (result["input"].get("split_alleles") or 0) * result["input"]["samples"]
        st["variants_plus_genotypes_bytes"] = vg
        st["storage_ratio"] = vg / vcf_bytes
        st["genotypes_bytes_per_row"] = st["genotypes"]["bytes"] / grows if grows else None
        st["cpra_index_bytes_per_row"] = (st["cpra_index"]["bytes"] / st["cpra_index"]["rows"]
                                          if st["cpra_index"]["rows"] else None)
        st["variants_bytes_per_row"] = (st["variants"]["bytes"] / st["variants"]["rows"]
                                        if st["variants"]["rows"] else None)
        st["genotype_rows_per_sample_allele"] = grows / cells if cells else None
        st["all_curated_bytes"] = sum(st[t]["bytes"] for t in STORAGE_TABLES)
        result["storage"] = st

    ratios: dict = {}
    if views and ingests:
        g = result["genolake"]["ingest"]
        ratios["ingest_wall_over_bcftools_view"] = g["wall_s"] / result["peers"]["bcftools_view"]["wall_s"]
        if "bcftools_fill_tags_query" in result.get("peers", {}):
            ratios["ingest_wall_over_fill_tags_query"] = g["wall_s"] / result["peers"]["bcftools_fill_tags_query"]["wall_s"]
        ratios["peak_rss_tree_GiB"] = g["peak_rss_tree_bytes"] / GiB
        ratios["peak_rss_single_GiB"] = max(g["peak_rss_single_kernel_bytes"] or 0, g["peak_rss_single_bytes"]) / GiB
        ratios["peak_pss_tree_GiB"] = g["peak_pss_tree_bytes"] / GiB
        ratios["peak_rss_tree_over_bcftools_view"] = g["peak_rss_tree_bytes"] / max(1, result["peers"]["bcftools_view"]["peak_rss_bytes"])
    if stores:
        ratios["storage_ratio"] = result["storage"]["storage_ratio"]
    result["ratios"] = ratios
    result["targets"] = [
        {"name": key, "what": desc, "value": ratios.get(rk), "limit": limit,
         "pass": (ratios.get(rk) is not None and ratios[rk] <= limit and valid)}
        for key, (rk, limit, desc) in TARGETS.items()
    ]
    if status == 0 and not valid:
        status = 2
    if status == 0 and (result.get("engines") or {}).get("failed"):
        status = 3  # an engine's run failed (its row says how); the other figures stand
    return result, status


class _Failed(Exception):
    def __init__(self, step: str, measured: Measured):
        super().__init__(step)
        self.step, self.measured = step, measured


# ---------------------------------------------------------------- reporting

def _fmt_bytes(n) -> str:
    if n is None:
        return "–"
    if n >= GiB:
        return f"{n / GiB:.2f} GiB"
    if n >= MiB:
        return f"{n / MiB:.1f} MiB"
    return f"{n / 1024:.1f} KiB"


def _f(x, spec=".2f") -> str:
    return "–" if x is None else format(x, spec)


def markdown(r: dict) -> str:
    inp, hw, v = r["input"], r["hardware"], r["versions"]
    lines = [f"# Ingest benchmark: {r['name']}", ""]
    verdict = ("VALID (AC/AN of every split allele equal bcftools +fill-tags)" if r["valid"] else
               f"**FAILED** at {r['error']['step']}: no valid figures" if "error" in r else
               "**INVALID**: the lake's AC/AN differ from bcftools (figures below are not valid)")
    lines += [
        f"- Result: {verdict}",
        f"- Input: `{inp['path']}` — {inp['MB']} MB, {inp['samples']:,} samples, "
        f"{_f(inp.get('records'), ',')} records, {_f(inp.get('split_alleles'), ',')} split alleles"
        + (" (bcftools read a bgzipped, indexed copy: the file declares no contigs)" if inp.get("peer_input") else ""),
        f"- Machine: {hw['nproc']} CPUs ({hw['cpu_model']}), {hw['ram_GiB']} GiB RAM; "
        f"python {v['python']}, genolake {v['genolake']}, bcftools {v['bcftools']}, cyvcf2 {v['cyvcf2']}, "
        f"pyarrow {v['pyarrow']}, deltalake {v['deltalake']}",
        f"- Git: {(r['git'].get('commit') or '?')[:12]}"
        + (f" + {len(r['git']['modified_files'])} modified files" if r['git'].get('modified_files') else "")
        + f"; workers: {r['settings'].get('workers_effective')}; repeat: {r['settings']['repeat']}; "
        f"started {r['started_utc']}",
        f"- Other load during the kept timed runs: {r['contention_cpu_s']} CPU-s outside the measured processes "
        f"({len(r.get('contended_attempts_discarded') or [])} contended attempts measured again; "
        f"{r.get('waited_for_idle_s', 0)} s waited for idle) "
        f"(load avg before {r['load_average']['before'][0]:.2f}); the RSS sampler used {r.get('sampler_cpu_s')} CPU-s",
        "",
    ]
    if "error" in r:
        lines += [f"**{r['error']['step']} failed** (exit {r['error']['returncode']}):", "", "```",
                  r["error"]["stderr"][-1500:], "```", ""]
    peers, g = r.get("peers", {}), r.get("genolake", {}).get("ingest")
    lines += ["| measurement | wall s | CPU s | peak RSS (tree) | peak RSS (largest process) | other load CPU s |",
              "|---|---:|---:|---:|---:|---:|"]
    oth = lambda runs: _f(max((x.get("others_cpu_s") or 0) for x in runs), ".1f")
    if "bcftools_view" in peers:
        bv = peers["bcftools_view"]
        lines.append(f"| `bcftools view -Ou -o /dev/null` | {bv['wall_s']:.1f} | {_f(_median([x['cpu_s'] for x in bv['runs']]), '.1f')} "
                     f"| {_fmt_bytes(bv['peak_rss_sampled_bytes'])} | {_fmt_bytes(bv['peak_rss_bytes'])} | {oth(bv['runs'])} |")
    if "bcftools_fill_tags_query" in peers:
        ft = peers["bcftools_fill_tags_query"]
        lines.append(f"| `bcftools +fill-tags -t AC,AN \\| query` | {ft['wall_s']:.1f} | {ft['cpu_s']:.1f} "
                     f"| {_fmt_bytes(ft['peak_rss_tree_bytes'])} | {_fmt_bytes(_single_d(ft))} | {oth([ft])} |")
    if g:
        init = r["genolake"]["init"]
        lines.append(f"| `genolake init` | {init['wall_s']:.1f} | | | | |")
        lines.append(f"| `genolake ingest vcf` | {g['wall_s']:.1f} (in-process {_f(g['in_process_s'], '.1f')}) "
                     f"| {g['cpu_s']:.1f} | {_fmt_bytes(g['peak_rss_tree_bytes'])} ({g['max_processes']} processes; "
                     f"PSS {_fmt_bytes(g['peak_pss_tree_bytes'])}) "
                     f"| {_fmt_bytes(g['peak_rss_single_kernel_bytes'])} (VmHWM seen {_fmt_bytes(g['peak_rss_single_bytes'])}; "
                     + ", ".join(f"{k} {_fmt_bytes(v)}" for k, v in sorted(g['peak_rss_by_role_bytes'].items()))
                     + f") | {oth(g['runs'])} |")
    phases = (g or {}).get("rows", {}) or {}
    if isinstance(phases.get("timings"), dict):
        lines.append("Ingest phases (in-process, from the CLI): "
                     + ", ".join(f"{k.removesuffix('_s')} {v:.1f} s" for k, v in phases["timings"].items()))
    lines.append("")
    st = r.get("storage")
    if st:
        lines += ["| table | bytes | files | rows | bytes/row |", "|---|---:|---:|---:|---:|"]
        for t in STORAGE_TABLES:
            s = st[t]
            bpr = s["bytes"] / s["rows"] if s.get("rows") else None
            lines.append(f"| {t} | {s['bytes']:,} ({_fmt_bytes(s['bytes'])}) | {s['files']:,} | {_f(s['rows'], ',')} | {_f(bpr, '.2f')} |")
        lines += ["",
                  f"Stored genotype rows per (sample × split allele): {_f(st['genotype_rows_per_sample_allele'], '.4f')}; "
                  f"whole lake folder (incl. the pre-curated copy of the VCF): {_fmt_bytes(st['lake_folder_bytes'])}.", ""]
    chk = r["oracle_check"]["runs"][-1] if r["oracle_check"]["runs"] else None
    if chk:
        lines.append(f"Oracle check: {chk['oracle_split_alleles']:,} split alleles from bcftools, "
                     f"{chk['lake_variant_rows']:,} variant rows in the lake, {chk['mismatches']} mismatches"
                     + (f" {chk['mismatches_by_kind']}" if chk['mismatches_by_kind'] else "")
                     + f" ({chk['seconds']:.1f} s).")
        for e in chk["examples"][:5]:
            lines.append(f"- {e}")
        lines.append("")
    lines += ["| target | value | limit | |", "|---|---:|---:|---|"]
    for t in r["targets"]:
        mark = "PASS" if t["pass"] else ("n/a" if t["value"] is None else "FAIL")
        lines.append(f"| {t['what']} | {_f(t['value'])} | {t['limit']} | {mark} |")
    ra = r.get("ratios", {})
    if "ingest_wall_over_fill_tags_query" in ra:
        lines += ["", f"Ingest wall / (fill-tags | query) wall: {ra['ingest_wall_over_fill_tags_query']:.2f}; "
                  f"peak RSS tree / bcftools view: {ra['peak_rss_tree_over_bcftools_view']:.1f}x."]
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------- command line

def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m genolake.benchmarks.ingest",
                                description="genolake ingest vs bcftools on one VCF, answers checked against bcftools.")
    src = p.add_mutually_exclusive_group()
    src.add_argument("--vcf", help="a VCF/BCF to ingest (default: --scale medium)")
    src.add_argument("--scale", choices=sorted(SCALES), help="a simulated cohort: tiny (50 x 200 kb), small/medium (500 x 5 Mb), chr22-5mb (2,504 x 5 Mb), chr22 (2,504 x 51 Mb)")
    p.add_argument("--name", help="result name (default: the scale, or the file's stem)")
    p.add_argument("--out", help="folder for ingest-<name>.json/.md " + OUT_HELP.replace("folder for the results ", ""))
    p.add_argument("--data-dir", help=DATA_HELP)
    p.add_argument("--work-dir", help="where the temporary lakes go (default: the system temp folder)")
    p.add_argument("--workers", type=int, help="passed to `genolake ingest vcf --workers`")
    p.add_argument("--repeat", type=int, default=1, help="timed repeats of bcftools view and the ingest (median)")
    p.add_argument("--interval", type=float, default=0.05, help="RSS sampling interval, seconds")
    p.add_argument("--wait-idle", type=float, default=300, metavar="S",
                   help="before each timed command wait up to S seconds for the machine to be idle (0: don't)")
    p.add_argument("--idle-below", type=float, default=0.15, metavar="CORES",
                   help="idle means all processes use fewer cores than this (default: %(default)s)")
    p.add_argument("--max-other-load", type=float, default=0.10, metavar="CORES",
                   help="measure again when other processes used more cores than this on average (default: %(default)s)")
    p.add_argument("--retries", type=int, default=2, help="how many times to measure again when contended")
    p.add_argument("--engines", default="auto",
                   help="the engine axis: the same file through each of local, spark (genolake's spark ETL engine) "
                   "and hail (plain Hail import_vcf -> entries -> Parquet by sample), each in a fresh process; "
                   "default auto = local, plus spark and hail when Hail/pyspark are installed; none: no axis")
    p.add_argument("--engines-only", action="store_true",
                   help="only the oracle and the engine axis (no bcftools view peer, no CLI ingest repeats)")
    p.add_argument("--keep", action="store_true", help="keep the lakes and the oracle output")
    p.add_argument("--quiet", action="store_true", help="no progress lines on stderr, no printed summary")
    return p


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    if args.repeat < 1:
        raise SystemExit("--repeat must be at least 1")
    from .ingest_engines import parse_engines

    args.engine_list = parse_engines(args.engines)
    if args.engines_only and not args.engine_list:
        raise SystemExit("--engines-only needs at least one engine (--engines)")
    need_psutil()
    for tool in ("bcftools",):
        if shutil.which(tool) is None:
            raise SystemExit(f"{tool} is not on PATH")
    result, status = run_benchmark(args)
    out = out_dir(args.out)
    out.mkdir(parents=True, exist_ok=True)
    json_path, md_path = out / f"ingest-{result['name']}.json", out / f"ingest-{result['name']}.md"
    json_path.write_text(json.dumps(result, indent=2, default=str) + "\n")
    md = markdown(result)
    extra = ""
    if "engines" in result:
        from .ingest_engines import markdown as engines_md, write_reports

        paths = write_reports(result["engines"], out)
        md += "\n" + engines_md(result["engines"])
        extra = f", {paths['json']}, {paths['md']}" + (f" and {paths['png']}" if paths.get("png") else "")
    md_path.write_text(md)
    if not args.quiet:
        print(md)
        print(f"wrote {json_path} and {md_path}{extra}")
    return status


if __name__ == "__main__":
    raise SystemExit(main())
