"""The peers of the layout benchmark: bcftools and Hail on the same data as the layouts, in the same run.

Each peer answers a workload of the contract (contract.py) and its answer is converted to the
contract's form (a pyarrow Table, sorted, int64 counts), so the runner checks it against the
reference exactly as it checks a layout; this module never judges (valid is None).

bcftools, on the VCF.gz and on an indexed BCF copy (`make_bcf`), one pipeline per workload, started
directly without a shell (`queries.run_pipeline`); regions are restricted to records whose POS is
in the region (`--regions-overlap 0`, as the layouts' `pos BETWEEN start AND end`):

- af_rsids:      view -r CHR:POS-POS,... FILE -Ou | +fill-tags -Ou -- -t AC,AN | query
                 (bcftools is given the positions: it cannot look up an rsID; kept: the records whose
                 ID's first rs entry is the rsID asked, and only the allele asked)
- af_region:     view -r REGION FILE -Ou | +fill-tags | query
- af_all:        +fill-tags FILE (the whole file) | query
- af_all_cohort: view -S cohort.txt FILE -Ou | +fill-tags | query
- sample_region: view -s SAMPLE -r REGION FILE -Ou | query '%CHROM %POS %REF %ALT [%GT]'
                 (only the calls the lake stores: not diploid-fully-called-without-the-ALT)
- genotype_matrix: view -S cohort.txt -r REGION FILE -Ou | query -H '%POS %REF %ALT [%GT]'

Multi-allelic records are split into one row per ALT: AC per ALT from fill-tags' comma list, AN per
record ('.' counts as 0). GT strings are parsed per allele ('.' alleles missing, haploid and
polyploid calls as written).

Timing: `warmup` untimed runs, then `repeat` timed runs of the whole pipeline (median); the
whole-contig scans (af_all, af_all_cohort) take minutes at chr22 scale, so they get no warm-up
and `slow_repeat` runs, each measured with `ingest.measure`. Parsing bcftools' text into the
answer is not timed. Peak RSS: the pipeline's process tree (`ingest.measure`, one extra untimed
run for the short pipelines): the larger of the sampled tree RSS and the largest process's own
high-water mark.

Hail runs in its own interpreter (`make hail-venv`: .venv-hail, or $GENOLAKE_HAIL_PYTHON) as a
subprocess, on the records of `params.region` only (extracted with `bcftools view -r` into a
bgzipped VCF first: the whole contig would take Hail many minutes). It answers af_region:
`import_vcf` -> `hl.agg.call_stats(GT, alleles)` per record -> one row per ALT -> collect. Not
`split_multi_hts`: it min-reps the alleles, which would change the contract's CPRA keys. The job
is timed inside the Hail process, apart from the imports and the JVM/Spark session start, which
are reported beside it (`startup_s`, and the whole process's wall time). Without Hail the record
has valid None and the note "hail not installed (make hail-venv)".
"""

from __future__ import annotations

import json
import os
import re
import shutil
import statistics
import subprocess
from functools import lru_cache
from pathlib import Path

import numpy as np
import pyarrow as pa

from genolake.lake.coords import normalize_contig

from ..ingest import measure
from ..queries import parse_query, peer_region_cmds, peer_scan_cmds, run_pipeline, vcf_contigs
from .contract import SORT_KEY, BenchParams

BCFTOOLS_PEERS = ("bcftools-vcf", "bcftools-bcf")
HAIL_PEER = "hail"
BCFTOOLS_WORKLOADS = ("af_rsids", "af_region", "af_all", "af_all_cohort", "sample_region", "genotype_matrix")
SCAN_WORKLOADS = frozenset({"af_all", "af_all_cohort"})
HAIL_WORKLOAD = "af_region"
HAIL_NOT_INSTALLED = "hail not installed (make hail-venv)"
REPO = Path(__file__).resolve().parents[2]
FILL_TAGS = ["bcftools", "+fill-tags", "-Ou", "--", "-t", "AC,AN"]
QUERY_AF = r"%CHROM\t%POS\t%ID\t%REF\t%ALT\t%AN\t%AC\n"  # = queries.QUERY_FMT, which parse_query reads
QUERY_CALLS = r"%CHROM\t%POS\t%REF\t%ALT[\t%GT]\n"
QUERY_MATRIX = r"%POS\t%REF\t%ALT[\t%GT]\n"

AF_SCHEMA = pa.schema([("contig", pa.string()), ("pos", pa.int64()), ("ref", pa.string()), ("alt", pa.string()),
                       ("ac", pa.int64()), ("an", pa.int64())])
CALLS_SCHEMA = pa.schema([("contig", pa.string()), ("pos", pa.int64()), ("ref", pa.string()), ("alt", pa.string()),
                          ("alt_dosage", pa.int64()), ("called_alleles", pa.int64())])
MATRIX_SCHEMA = pa.schema([("contig", pa.string()), ("pos", pa.int64()), ("ref", pa.string()), ("alt", pa.string()),
                           ("dosages", pa.list_(pa.int8()))])


class PeerFailed(Exception):
    """A peer command exited non-zero: the record keeps the command and its error as the note."""


# ---------------------------------------------------------------- answers in the contract's form

def sorted_table(columns: dict[str, list], schema: pa.Schema) -> pa.Table:
    table = pa.table({name: pa.array(columns[name], type=schema.field(name).type) for name in schema.names},
                     schema=schema)
    return table.sort_by([(k, "ascending") for k in SORT_KEY])


def af_table(rows: list[dict]) -> pa.Table:
    """Split-allele rows (dicts with contig, pos, ref, alt, ac, an) -> the af_* answer form."""
    return sorted_table({name: [r[name] for r in rows] for name in AF_SCHEMA.names}, AF_SCHEMA)


def empty_answer(workload: str) -> pa.Table:
    schema = {"sample_region": CALLS_SCHEMA, "genotype_matrix": MATRIX_SCHEMA}.get(workload, AF_SCHEMA)
    return schema.empty_table()


@lru_cache(maxsize=4096)
def gt_alleles(gt: str) -> tuple[int | None, ...]:
    """'0|1', '1/.', '2', '.', './.' -> allele indices in the call, None for a missing allele."""
    return tuple(None if a == "." else int(a) for a in re.split(r"[/|]", gt))


@lru_cache(maxsize=16384)
def call_counts(gt: str, allele: int) -> tuple[int, int, int]:
    """(copies of `allele`, called alleles, ploidy) of one GT string."""
    alleles = gt_alleles(gt)
    return sum(a == allele for a in alleles), sum(a is not None for a in alleles), len(alleles)


def is_stored(dosage: int, called: int, ploidy: int) -> bool:
    """The lake stores every call but a diploid, fully called one without the ALT (DESIGN.md)."""
    return not (ploidy == 2 and called == 2 and dosage == 0)


def matrix_dosage(gt: str, allele: int) -> int:
    dosage, called, ploidy = call_counts(gt, allele)
    return -1 if called < ploidy else dosage


def af_rows(text: str, contig: str | None = None) -> list[dict]:
    """`query -f QUERY_AF` text -> split-allele rows (with rsid: the ID's first rs entry)."""
    rows = []
    for r in parse_query(text):
        r["contig"] = normalize_contig(r.pop("chrom"))
        if contig is None or r["contig"] == contig:
            rows.append(r)
    return rows


def rsid_answer(text: str, picks: tuple[dict, ...]) -> pa.Table:
    """Only the records whose first rsID is the one asked, and only the allele asked."""
    wanted = {(normalize_contig(p["contig"]), int(p["pos"]), p["rsid"], p["ref"], p["alt"]) for p in picks}
    kept = {(r["pos"], r["ref"], r["alt"]): r for r in af_rows(text)
            if (r["contig"], r["pos"], r["rsid"], r["ref"], r["alt"]) in wanted}
    return af_table(list(kept.values()))


def calls_answer(text: str) -> pa.Table:
    """`query -f QUERY_CALLS` for one sample -> its stored calls, one row per split allele."""
    cols: dict[str, list] = {name: [] for name in CALLS_SCHEMA.names}
    for line in text.splitlines():
        if not line:
            continue
        chrom, pos, ref, alts, gt = line.split("\t")
        if alts == ".":
            continue
        for k, alt in enumerate(alts.split(","), start=1):
            dosage, called, ploidy = call_counts(gt, k)
            if is_stored(dosage, called, ploidy):
                for name, v in zip(CALLS_SCHEMA.names, (normalize_contig(chrom), int(pos), ref, alt, dosage, called)):
                    cols[name].append(v)
    return sorted_table(cols, CALLS_SCHEMA)


def header_samples(line: str) -> list[str]:
    """'# [1]POS\\t[2]REF\\t[3]ALT\\t[4]NA1:GT...' -> ['NA1', ...]."""
    fields = line.lstrip("#").strip().split("\t")[3:]
    return [re.sub(r"^\[\d+\]", "", f).rsplit(":", 1)[0] for f in fields]


def matrix_answer(text: str, contig: str, cohort: list[str]) -> pa.Table:
    """`query -H -f QUERY_MATRIX` -> dosages per split allele, in cohort order."""
    lines = text.splitlines()
    if not lines or not lines[0].startswith("#"):
        return empty_answer("genotype_matrix")
    columns = header_samples(lines[0])
    order = None if columns == cohort else [columns.index(s) for s in cohort]
    keys: dict[str, list] = {"contig": [], "pos": [], "ref": [], "alt": []}
    flat: list[int] = []
    offsets = [0]
    for line in lines[1:]:
        pos, ref, alts, *gts = line.split("\t")
        if alts == ".":
            continue
        if order is not None:
            gts = [gts[i] for i in order]
        distinct = set(gts)  # few distinct GT strings per record: map each once
        for k, alt in enumerate(alts.split(","), start=1):
            by_gt = {g: matrix_dosage(g, k) for g in distinct}
            flat.extend([by_gt[g] for g in gts])
            offsets.append(len(flat))
            for name, v in zip(keys, (contig, int(pos), ref, alt)):
                keys[name].append(v)
    dosages = pa.ListArray.from_arrays(pa.array(offsets, pa.int32()), pa.array(np.asarray(flat, dtype=np.int8)))
    table = pa.table({**{n: pa.array(v, type=MATRIX_SCHEMA.field(n).type) for n, v in keys.items()},
                      "dosages": dosages.cast(MATRIX_SCHEMA.field("dosages").type)}, schema=MATRIX_SCHEMA)
    return table.sort_by([(k, "ascending") for k in SORT_KEY])


# ---------------------------------------------------------------- bcftools commands

def make_bcf(params: BenchParams) -> Path:
    """An indexed BCF copy of the VCF in params.work (bcftools 1.16 has no --write-index: view + index)."""
    out = Path(params.work) / (Path(params.vcf).name.removesuffix(".gz").removesuffix(".vcf") + ".bcf")
    index = out.with_name(out.name + ".csi")
    if out.exists() and index.exists() and out.stat().st_mtime >= Path(params.vcf).stat().st_mtime:
        return out
    out.parent.mkdir(parents=True, exist_ok=True)
    for cmd in (["bcftools", "view", "-Ob", "-o", str(out), str(params.vcf)], ["bcftools", "index", "-f", str(out)]):
        done = subprocess.run(cmd, capture_output=True, text=True)
        if done.returncode != 0:
            raise PeerFailed(f"{' '.join(cmd)}: {done.stderr.strip()[-500:]}")
    return out


@lru_cache(maxsize=64)
def file_contig(path: str, contig: str) -> str:
    """The name the file uses for a normalised contig ('22' may be written 'chr22')."""
    for name, _length, _n in vcf_contigs(Path(path)):
        if normalize_contig(name) == contig:
            return name
    return contig


def region_arg(path: Path, region: tuple[str, int, int]) -> str:
    contig, start, end = region
    return f"{file_contig(str(path), normalize_contig(contig))}:{int(start)}-{int(end)}"


def cohort_file(params: BenchParams) -> Path:
    path = Path(params.work) / "peer-cohort.txt"
    path.parent.mkdir(parents=True, exist_ok=True)
    text = "\n".join(params.cohort_ids) + "\n"
    if not path.exists() or path.read_text() != text:
        path.write_text(text)
    return path


def bcftools_cmds(workload: str, path: Path, params: BenchParams) -> list[list[str]]:
    """The pipeline that answers `workload` from `path` (see the module docstring)."""
    f = str(path)
    in_pos = ["--regions-overlap", "0"]  # POS in the region, as the layouts' BETWEEN
    if workload == "af_rsids":
        positions = [(file_contig(f, normalize_contig(p["contig"])), int(p["pos"])) for p in params.rsids]
        return peer_region_cmds(path, positions, None)
    if workload == "af_region":
        view = ["bcftools", "view", "-r", region_arg(path, params.region), *in_pos, f, "-Ou"]
        return [view, FILL_TAGS, ["bcftools", "query", "-f", QUERY_AF]]
    if workload == "af_all":
        return [["bcftools", "+fill-tags", f, "-Ou", "--", "-t", "AC,AN"], ["bcftools", "query", "-f", QUERY_AF]]
    if workload == "af_all_cohort":
        return peer_scan_cmds(path, cohort_file(params))
    if workload == "sample_region":
        view = ["bcftools", "view", "-s", params.sample, "-r", region_arg(path, params.sample_region), *in_pos, f, "-Ou"]
        return [view, ["bcftools", "query", "-f", QUERY_CALLS]]
    if workload == "genotype_matrix":
        view = ["bcftools", "view", "-S", str(cohort_file(params)), "-r", region_arg(path, params.matrix_region),
                *in_pos, f, "-Ou"]
        return [view, ["bcftools", "query", "-H", "-f", QUERY_MATRIX]]
    raise ValueError(f"bcftools has no pipeline for workload {workload!r}")


def bcftools_answer(workload: str, text: str, params: BenchParams) -> pa.Table:
    contig = normalize_contig(params.contig)
    if workload == "af_rsids":
        return rsid_answer(text, params.rsids)
    if workload == "sample_region":
        return calls_answer(text)
    if workload == "genotype_matrix":
        return matrix_answer(text, normalize_contig(params.matrix_region[0]), params.cohort_ids)
    return af_table(af_rows(text, contig))


# ---------------------------------------------------------------- timing

def cmd_text(cmds: list[list[str]]) -> str:
    return " | ".join(" ".join(c) for c in cmds)


def _checked(cmds: list[list[str]], run: dict) -> dict:
    if run["returncode"] != 0:
        raise PeerFailed(f"{cmd_text(cmds)} exited {run['returncode']}: {run['stderr'].strip()[-500:]}")
    return run


def measured_run(cmds: list[list[str]]) -> tuple[float, int, str]:
    """(wall s, peak RSS of the pipeline, stdout) of one run under ingest.measure."""
    m = measure(cmds)
    _checked(cmds, {"returncode": m.returncode, "stderr": m.stderr})
    return m.wall_s, max(m.peak_rss_tree_bytes, m.peak_rss_single_kernel_bytes or 0), m.stdout


def time_pipeline(cmds: list[list[str]], repeat: int, warmup: int, scan: bool) -> dict:
    """Timed runs of a pipeline: times, median, peak RSS and the last run's output."""
    if scan:  # minutes each: measured as they run, no warm-up
        runs = [measured_run(cmds) for _ in range(repeat)]
        times, peak, stdout = [r[0] for r in runs], max(r[1] for r in runs), runs[-1][2]
    else:
        for _ in range(warmup):
            _checked(cmds, run_pipeline(cmds))
        runs = [_checked(cmds, run_pipeline(cmds)) for _ in range(repeat)]
        times, stdout = [r["wall_s"] for r in runs], runs[-1]["stdout"]
        peak = measured_run(cmds)[1]  # untimed: the RSS sampler would slow a 10-ms pipeline
    return {"times_s": times, "median_s": statistics.median(times), "peak_rss_bytes": peak, "stdout": stdout}


def peer_record(peer: str, workload: str, cmd: str, *, times=(), peak=None, note=None, answer=None, **extra) -> dict:
    """A record in the contract's "peers" form, plus the answer (the runner removes it)."""
    times = list(times)
    return {"peer": peer, "workload": workload, "valid": None, "mismatch": None, "cmd": cmd, "times_s": times,
            "median_s": statistics.median(times) if times else None, "peak_rss_bytes": peak, "note": note,
            **extra, "answer": answer}


def run_bcftools_peer(peer: str, path: Path, workload: str, params: BenchParams, repeat: int, warmup: int,
                      slow_repeat: int, log) -> dict:
    cmds = bcftools_cmds(workload, path, params)
    scan = workload in SCAN_WORKLOADS
    try:
        timed = time_pipeline(cmds, slow_repeat if scan else repeat, warmup, scan)
    except PeerFailed as e:
        log(f"[peers] {peer} {workload} failed: {e}")
        return peer_record(peer, workload, cmd_text(cmds), note=f"failed: {e}")
    answer = bcftools_answer(workload, timed["stdout"], params)
    note = "answer parsed from bcftools' text (parsing not timed)"
    log(f"[peers] {peer} {workload}: median {timed['median_s']:.4f} s, {answer.num_rows:,} rows")
    return peer_record(peer, workload, cmd_text(cmds), times=timed["times_s"], peak=timed["peak_rss_bytes"],
                       note=note, answer=answer)


# ---------------------------------------------------------------- Hail

HAIL_JOB = r'''
"""The Hail peer (run by genolake.benchmarks.suite.peers in Hail's own venv): AC/AN per split allele."""
import json, sys, time, warnings

t0 = time.perf_counter()
try:
    import hail as hl
except ImportError as e:
    print(json.dumps({"error": "import", "detail": str(e)}))
    sys.exit(3)
cfg = json.loads(sys.argv[1])
t_import = time.perf_counter()
with warnings.catch_warnings(record=True) as caught:  # e.g. "built and tested with Java 11"
    warnings.simplefilter("always")
    hl.init(local=cfg["master"], quiet=True, log=cfg["log"], tmp_dir=cfg["tmp"], local_tmpdir=cfg["tmp"],
            spark_conf={"spark.ui.enabled": "false"})
    hl.eval(hl.literal(1) + 1)  # JVM, Spark context and backend up before the timed jobs
t_session = time.perf_counter()


def job():
    mt = hl.import_vcf(cfg["vcf"], force_bgz=True, reference_genome=None, array_elements_required=False)
    mt = mt.annotate_rows(stats=hl.agg.call_stats(mt.GT, mt.alleles))  # AC per allele, AN per record
    ht = mt.rows().key_by()
    ht = ht.annotate(k=hl.range(1, hl.len(ht.alleles))).explode("k")  # one row per ALT; no min-rep
    ht = ht.select(contig=ht.locus.contig, pos=ht.locus.position, ref=ht.alleles[0], alt=ht.alleles[ht.k],
                   ac=ht.stats.AC[ht.k], an=ht.stats.AN)
    return ht.collect()


t = time.perf_counter()
for _ in range(cfg["warmup"]):
    job()
warmup_s = time.perf_counter() - t
times = []
for _ in range(cfg["repeat"]):
    t = time.perf_counter()
    rows = job()
    times.append(time.perf_counter() - t)
with open(cfg["out"], "w") as fh:
    for r in rows:
        fh.write(f"{r.contig}\t{r.pos}\t{r.ref}\t{r.alt}\t{r.ac}\t{r.an}\n")
summary = {"hail": hl.version(), "import_s": t_import - t0, "session_s": t_session - t_import,
           "warmup_s": warmup_s, "times_s": times, "rows": len(rows),
           "warnings": sorted({str(w.message).split(". ")[0] for w in caught})}
t = time.perf_counter()
hl.stop()
summary["stop_s"] = time.perf_counter() - t
print(json.dumps(summary))
'''


def hail_python() -> Path | None:
    """$GENOLAKE_HAIL_PYTHON when set (only that), else the repo's .venv-hail; None when absent."""
    configured = os.environ.get("GENOLAKE_HAIL_PYTHON")
    path = Path(configured) if configured else REPO / ".venv-hail" / "bin" / "python"
    return path if path.is_file() and os.access(path, os.X_OK) else None


def java_version() -> str | None:
    java = shutil.which("java")
    if not java:
        return None
    out = subprocess.run([java, "-version"], capture_output=True, text=True).stderr
    m = re.search(r'version "([^"]+)"', out)
    return m.group(1) if m else out.strip().splitlines()[0] if out.strip() else None


def hail_subset(params: BenchParams) -> tuple[Path, list[list[str]], float]:
    """The records of params.region as a bgzipped VCF for Hail (the extraction time is reported apart)."""
    out = Path(params.work) / "hail-region.vcf.bgz"
    cmds = [["bcftools", "view", "-r", region_arg(Path(params.vcf), params.region), "--regions-overlap", "0",
             str(params.vcf), "-Oz", "-o", str(out)]]
    run = _checked(cmds, run_pipeline(cmds))
    return out, cmds, run["wall_s"]


def hail_answer(tsv: Path) -> pa.Table:
    rows = []
    for line in tsv.read_text().splitlines():
        contig, pos, ref, alt, ac, an = line.split("\t")
        rows.append({"contig": normalize_contig(contig), "pos": int(pos), "ref": ref, "alt": alt,
                     "ac": int(ac), "an": int(an)})
    return af_table(rows)


def hail_job_result(stdout: str) -> dict | None:
    """The job's JSON summary (its last stdout line), None when it printed none."""
    for line in reversed(stdout.strip().splitlines()):
        if line.startswith("{"):
            try:
                return json.loads(line)
            except json.JSONDecodeError:
                return None
    return None


def run_hail_peer(params: BenchParams, repeat: int, warmup: int, log) -> dict:
    python = hail_python()
    desc = "hail import_vcf(records of the region) -> call_stats(GT, alleles) -> one row per ALT -> collect"
    if python is None:
        return peer_record(HAIL_PEER, HAIL_WORKLOAD, desc, note=HAIL_NOT_INSTALLED)
    work = Path(params.work) / "hail"
    work.mkdir(parents=True, exist_ok=True)
    try:
        subset, subset_cmds, subset_s = hail_subset(params)
    except PeerFailed as e:
        return peer_record(HAIL_PEER, HAIL_WORKLOAD, desc, note=f"failed to extract the region: {e}")
    script = work / "hail_peer_job.py"
    script.write_text(HAIL_JOB)
    master = os.environ.get("GENOLAKE_HAIL_MASTER", "local[2]")
    cfg = {"vcf": str(subset), "out": str(work / "answer.tsv"), "log": str(work / "hail.log"),
           "tmp": str(work / "tmp"), "master": master, "repeat": repeat, "warmup": warmup}
    cmd = f"{cmd_text(subset_cmds)}; {python} {script} ({desc}, {master})"
    log(f"[peers] hail on {region_arg(Path(params.vcf), params.region)} ({python}, {master})")
    m = measure([[str(python), str(script), json.dumps(cfg)]])
    job = hail_job_result(m.stdout)
    if m.returncode != 0 or not job or "times_s" not in job:
        if job and job.get("error") == "import":
            return peer_record(HAIL_PEER, HAIL_WORKLOAD, cmd, note=f"{HAIL_NOT_INSTALLED}: {job.get('detail')}")
        tail = " ".join(m.stderr.strip().splitlines()[-3:])[-600:]
        return peer_record(HAIL_PEER, HAIL_WORKLOAD, cmd, note=f"hail failed (exit {m.returncode}, Java "
                           f"{java_version()}): {tail}", process_wall_s=m.wall_s)
    answer = hail_answer(Path(cfg["out"]))
    startup = job["import_s"] + job["session_s"]
    note = (f"Hail {job['hail']} on Java {java_version()}, {master}, on the {answer.num_rows:,} split alleles of "
            f"{region_arg(Path(params.vcf), params.region)} (extracted with bcftools in {subset_s:.2f} s, not counted); "
            f"times are the job alone: imports {job['import_s']:.1f} s + JVM/session start {job['session_s']:.1f} s "
            f"not included, nor the warm-up jobs ({job.get('warmup_s', 0):.1f} s) and hl.stop ({job.get('stop_s', 0):.1f} s); "
            f"whole process {m.wall_s:.1f} s"
            + "".join(f"; Hail warned: {w}" for w in job.get("warnings") or []))
    log(f"[peers] hail: job median {statistics.median(job['times_s']):.2f} s after a {startup:.1f} s start")
    return peer_record(HAIL_PEER, HAIL_WORKLOAD, cmd, times=job["times_s"],
                       peak=max(m.peak_rss_tree_bytes, m.peak_rss_single_kernel_bytes or 0), note=note, answer=answer,
                       startup_s=startup, session_s=job["session_s"], process_wall_s=m.wall_s, hail_version=job["hail"])


# ---------------------------------------------------------------- the whole peer set

def run_peers(params: BenchParams, workloads, repeat: int, warmup: int, log=None, *,
              slow_repeat: int | None = None, hail: bool = True) -> list[dict]:
    """Every peer on every workload of `workloads` it can answer, in the contract's "peers" form plus
    "answer" (the pyarrow answer, or None when the peer failed or is absent).

    `slow_repeat` (default min(repeat, 3)): timed runs of the whole-contig scans and of the Hail job."""
    log = log or (lambda *a: None)
    slow = slow_repeat if slow_repeat is not None else min(repeat, 3)
    wanted = [w for w in BCFTOOLS_WORKLOADS if w in workloads]
    records: list[dict] = []
    files = {"bcftools-vcf": Path(params.vcf)}
    if wanted:
        try:
            files["bcftools-bcf"] = Path(params.bcf) if params.bcf else make_bcf(params)
        except PeerFailed as e:
            records += [peer_record("bcftools-bcf", w, "bcftools view -Ob + index", note=f"no BCF: {e}") for w in wanted]
    for workload in wanted:
        for peer, path in files.items():
            records.append(run_bcftools_peer(peer, path, workload, params, repeat, warmup, slow, log))
    if hail and HAIL_WORKLOAD in workloads:
        records.append(run_hail_peer(params, slow, min(warmup, 1), log))
    return records
