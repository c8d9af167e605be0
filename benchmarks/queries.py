"""Query benchmark: the analyses on a warm engine against bcftools on the same VCF, in the same run.

Run it (psutil is needed: `pip install -e '.[bench]'`):

    python -m genolake.benchmarks.queries --scale chr22            # builds a lake from <data-dir>/chr22 (or simulates it)
    python -m genolake.benchmarks.queries --scale tiny             # 50 samples x 200 kb (seconds)
    python -m genolake.benchmarks.queries --lake ROOT [--vcf FILE] # an existing lake (read only)
    python -m genolake.benchmarks.queries --vcf my.vcf.gz [--clinvar variant_summary.txt.gz] [--panel P]

Inputs. `--scale` uses <data-dir>/<scale>/{cohort.chr22.vcf.gz, variant_summary.txt.gz,
cohort.panel} when they exist, else simulates the cohort once into `--data-dir` (as the ingest
benchmark does; `--data-dir`, else $GENOLAKE_BENCH_DATA, else ./genolake-bench/data), and builds a fresh lake from them in a temporary folder (`genolake init`,
`ingest vcf --panel`, `ingest clinvar`; kept with `--keep`). `--lake ROOT` uses a lake as it is and
never writes to it: the VCF (and ClinVar file) default to the sources of the lake's latest
successful `vcf` (and `clinvar`) ingest run in its catalog. bcftools needs the VCF indexed
(.tbi/.csi) for region lookups; an unindexed file is read through a bgzipped, indexed copy.

What is measured (DESIGN.md, "How performance is measured"):
- genolake, in this process, on a warm engine: the lake is opened and `connect(lake)` called once
  (its time is recorded apart); each workload runs `--warmup` times untimed, then `--repeat` times
  timed with perf_counter around the public API call (the Arrow table it returns is the answer).
  Median and spread (p25, p75, min, max) are reported;
- bcftools, the peer, each command (a pipeline) timed whole: from just before the first process
  starts until the last one is reaped, `--repeat` times (median). The short pipelines are started
  directly (no shell, no GNU time launcher: ~1 ms per process would be charged to bcftools);
- the workloads:
  (a) `allele_frequency(engine, rsids=[one])` and `rsids=[four]`, every sample; peer:
      `bcftools view -r CHR:POS-POS[,...] FILE -Ou | bcftools +fill-tags -Ou -- -t AC,AN |
      bcftools query -f ...` (bcftools is given the positions: it cannot look up an rsID);
  (b) the same with `cohort=Cohort(samples=...)`: the FIRST `--cohort-size` (1,000) samples in VCF
      order (`bcftools query -l`), at most half the samples for a small file; peer adds
      `-S samples.txt` to `bcftools view`;
  (c) `allele_frequency(engine, region=CONTIG, cohort=...)`: every site of the contig for the
      cohort; peer `bcftools view -S samples.txt FILE -Ou | bcftools +fill-tags -Ou -- -t AC,AN |
      bcftools query -f ...` over the whole file (`--scan-repeat` genolake repeats,
      `--peer-scan-repeat` bcftools repeats: it takes about a minute at chr22 scale). Peak RSS:
      the bcftools pipeline's (as in the ingest benchmark) and this process's VmHWM during the
      genolake calls (reset through /proc/self/clear_refs first);
  (d) `annotate(engine, gene=G, assembly="GRCh37")` for G = the gene with the most GRCh37 ClinVar
      records; absolute time (the bcftools pipeline over the gene's span, whose output is the
      oracle, is timed for reference only, `--peer-scan-repeat` times: a span can be megabases);
- the rsIDs: a seeded random position in each quarter of the contig (`--seed`), and the first
  record at or after it (within 50 kb) whose ID holds an rsID; (a)/(b) with one rsID use the first;
- CLI cold start, reported apart and never mixed into the figures above: the whole process
  `genolake --root LAKE query af --rsid RS --format csv`, `--cli-repeat` times (median).

The oracle, before any figure is recorded: every answer is checked against bcftools.
(a)/(b): the timed peer's own output, restricted to records at the chosen positions whose ID's
first rsID is the one asked for, split per ALT: the answer's (pos, ref, alt) set must equal it and
AC/AN be equal for each; every timed answer must equal the checked one. (c): AC/AN of every split
allele of the file (AC '.' counts as 0) against the answer, both ways, and n_samples = the cohort
size; the same scan also shows whether a chosen rsID occurs anywhere else in the file. (d): the
variants in the gene's span (its GRCh37 single-gene ClinVar records' min(Start)..max(Stop), read
from the ClinVar source file, not the lake) with AC/AN from the bcftools pipeline over that span;
the ClinVar records joined to each variant (VariationIDs) from the same plain reading of the file.
Any mismatch marks the workload, and the result, INVALID: its targets do not pass.

The machine may be shared: before each workload the script waits (up to `--wait-idle` s) until
other processes use < `--idle-below` cores, and measures the workload again (up to `--retries`
times) when other processes used more than `--max-other-load` cores meanwhile; the CPU time they
used is recorded. Results go to `--out` (default ./genolake-bench/results): queries-<name>.json and
queries-<name>.md, and the Markdown summary and a PASS/FAIL line per target are printed.
`--only ab` runs a subset of the workloads (the lookups, while trying a layout; the CLI cold start
runs with a). Exit status: 0 valid, 2 an oracle check failed (INVALID), 3 a command failed.
This is a benchmark, not a test: nothing here asserts timings.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import gc
import gzip
import json
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from .common import (DATA_HELP, OUT_HELP, MiB, LoadGuard, data_dir, git_state, hardware, need_psutil,
                     preset_dir, reset_vmhwm, spread, versions, vmhwm, write_results)
from .ingest import SCALE_ALIASES, SCALES, Measured, indexed_copy, measure, warm_page_cache
DATASET = "bench"
QUERY_FMT = r"%CHROM\t%POS\t%ID\t%REF\t%ALT\t%AN\t%AC\n"
TARGETS = {  # workload: (what, kind, limit) -- kind: "at_most" ratio genolake/peer, "at_least" peer/genolake, "abs_s"
    "a1_af_rsid_all": ("(a) AF of 1 rsID, all samples: genolake/bcftools", "at_most", 0.5),
    "a4_af_rsids_all": ("(a) AF of 4 rsIDs, all samples: genolake/bcftools", "at_most", 0.5),
    "b1_af_rsid_cohort": ("(b) AF of 1 rsID, cohort: genolake/bcftools", "at_most", 0.5),
    "b4_af_rsids_cohort": ("(b) AF of 4 rsIDs, cohort: genolake/bcftools", "at_most", 0.5),
    "c_af_contig_cohort": ("(c) AF of every site, cohort: bcftools/genolake", "at_least", 30.0),  # the query-engines issue raised it from 20x
    "d_annotate_gene": ("(d) annotate the gene with most ClinVar records: seconds", "abs_s", 0.2),
}


def log_to(quiet: bool):
    return (lambda *a: None) if quiet else (lambda *a: print(*a, file=sys.stderr, flush=True))


# ---------------------------------------------------------------- timing helpers

def run_pipeline(cmds: list[list[str]], stdout_path: Path | None = None) -> dict:
    """Run `cmds` as a pipeline, started directly (no shell); wall time of the whole pipeline."""
    out = open(stdout_path, "wb") if stdout_path else subprocess.PIPE
    procs: list[subprocess.Popen] = []
    t0 = time.perf_counter()
    try:
        prev = subprocess.DEVNULL
        for i, cmd in enumerate(cmds):
            last = i == len(cmds) - 1
            p = subprocess.Popen(cmd, stdin=prev, stdout=out if last else subprocess.PIPE, stderr=subprocess.PIPE)
            if prev is not subprocess.DEVNULL:
                prev.close()
            prev = p.stdout if not last else None
            procs.append(p)
        stdout = procs[-1].stdout.read() if stdout_path is None else b""
        errs = [p.stderr.read() for p in procs]  # small; read after stdout so nothing blocks
        codes = [p.wait() for p in procs]
        wall = time.perf_counter() - t0
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
        if stdout_path:
            out.close()
    return {"wall_s": wall, "returncode": next((c for c in codes if c != 0), 0),
            "stdout": stdout.decode(errors="replace"), "stderr": b"".join(errs).decode(errors="replace")}


def sql_breakdown(engine, fn, runs: int) -> dict:
    """Where one call's time goes (untimed diagnostic runs, after the timed ones): the SQL statements
    it sends, the time inside `engine.sql` and, of that, in the read-only check (sqlglot parse; the
    analyses' own SQL skips it), the key reads (`engine.read_rows`); the rest is Python in the
    analysis (building SQL, resolving the cohort, counting looked-up rows, shaping the answer)."""
    try:
        import genolake.queries.engines.duckdb_engine as de
    except ImportError:
        de = None
    check_fn = getattr(de, "check_read_only", None) if de else None
    per_run = []
    for _ in range(runs):
        stmts, checks, reads = [], [], []
        orig_sql, orig_read = engine.sql, engine.read_rows

        def sql(query, _orig=orig_sql, **kw):
            t = time.perf_counter()
            try:
                return _orig(query, **kw)
            finally:
                stmts.append((time.perf_counter() - t, len(query)))

        def read_rows(*a, _orig=orig_read, **kw):
            t = time.perf_counter()
            try:
                return _orig(*a, **kw)
            finally:
                reads.append(time.perf_counter() - t)

        def check(query, *a, **k):
            t = time.perf_counter()
            try:
                return check_fn(query, *a, **k)
            finally:
                checks.append(time.perf_counter() - t)

        engine.sql = sql  # an instance attribute shadows the method for this call only
        engine.read_rows = read_rows
        if check_fn:
            de.check_read_only = check
        try:
            t = time.perf_counter()
            fn()
            total = time.perf_counter() - t
        finally:
            del engine.sql, engine.read_rows
            if check_fn:
                de.check_read_only = check_fn
        per_run.append({"total_s": total, "statements": len(stmts), "engine_sql_s": sum(x for x, _ in stmts),
                        "read_only_check_s": sum(checks), "sql_chars": [n for _, n in stmts],
                        "per_statement_s": [x for x, _ in stmts], "key_reads": len(reads),
                        "key_read_s": sum(reads)})
    med = lambda k: statistics.median(r[k] for r in per_run)
    out = {"runs": runs, "total_s": med("total_s"), "statements": per_run[0]["statements"],
           "engine_sql_s": med("engine_sql_s"), "read_only_check_s": med("read_only_check_s"),
           "key_reads": per_run[0]["key_reads"], "key_read_s": med("key_read_s"),
           "sql_chars": per_run[0]["sql_chars"],
           "per_statement_s": [statistics.median(r["per_statement_s"][i] for r in per_run)
                               for i in range(per_run[0]["statements"])]}
    out["duckdb_s"] = out["engine_sql_s"] - out["read_only_check_s"]
    out["python_s"] = out["total_s"] - out["engine_sql_s"] - out["key_read_s"]
    return out


# ---------------------------------------------------------------- the VCF side

def first_rsid(id_field: str) -> str | None:
    for x in id_field.split(";"):
        if x.startswith("rs"):
            return x
    return None


def parse_query(text: str) -> list[dict]:
    """`bcftools query -f QUERY_FMT` lines -> one dict per split ALT (records without ALT dropped)."""
    rows = []
    for line in text.splitlines():
        if not line:
            continue
        chrom, pos, id_, ref, alts, an, acs = line.split("\t")
        if alts == ".":
            continue
        alts = alts.split(",")
        acs = acs.split(",") if acs != "." else ["0"] * len(alts)
        an = 0 if an == "." else int(an)
        rs = first_rsid(id_)
        for alt, ac in zip(alts, acs):
            rows.append({"chrom": chrom, "pos": int(pos), "rsid": rs, "ref": ref, "alt": alt,
                         "ac": 0 if ac == "." else int(ac), "an": an})
    return rows


def vcf_contigs(vcf: Path) -> list[tuple[str, int | None, int]]:
    """(name, length, records) per contig from the index (`bcftools index -s`)."""
    out = subprocess.run(["bcftools", "index", "-s", str(vcf)], capture_output=True, text=True)
    res = []
    for line in out.stdout.splitlines():
        name, length, n = line.split("\t")[:3]
        res.append((name, None if length == "." else int(length), int(n)))
    return res


def vcf_samples(vcf: Path) -> list[str]:
    out = subprocess.run(["bcftools", "query", "-l", str(vcf)], capture_output=True, text=True, check=True)
    return out.stdout.split()


def contig_span(vcf: Path, chrom: str, length: int | None) -> tuple[int, int]:
    """First POS of `chrom` (the head of a region stream) and its declared length (else its last POS)."""
    p = subprocess.Popen(["bcftools", "query", "-r", chrom, "-f", "%POS\n", str(vcf)], stdout=subprocess.PIPE, text=True)
    lo = int(p.stdout.readline() or 1)
    p.kill()
    p.wait()
    if length:
        return lo, length
    out = subprocess.run(["bcftools", "query", "-r", chrom, "-f", "%POS\n", str(vcf)], capture_output=True, text=True)
    return lo, int(out.stdout.split()[-1])


def pick_rsids(vcf: Path, chrom: str, lo: int, hi: int, seed: int, n: int = 4, window: int = 50_000) -> list[dict]:
    """One rsID per n-th of [lo, hi]: the first record at or after a seeded random position with an rsID."""
    import random

    rng = random.Random(seed)
    picks = []
    step = (hi - lo + 1) / n
    for i in range(n):
        for _attempt in range(50):
            start = int(lo + i * step + rng.random() * step * 0.9)
            out = subprocess.run(["bcftools", "query", "-r", f"{chrom}:{start}-{start + window}", "-f",
                                  "%POS\t%ID\t%REF\t%ALT\n", str(vcf)], capture_output=True, text=True).stdout
            got = None
            for line in out.splitlines():
                pos, id_, ref, alt = line.split("\t")
                rs = first_rsid(id_)
                if int(pos) >= start and rs and rs not in {p["rsid"] for p in picks}:
                    got = {"rsid": rs, "chrom": chrom, "pos": int(pos), "ref": ref, "alt": alt}
                    break
            if got:
                picks.append(got)
                break
        else:
            raise SystemExit(f"no record with an rsID found in {chrom} part {i + 1}/{n} of {vcf}")
    return picks


def peer_region_cmds(vcf: Path, positions: list[tuple[str, int]], samples_file: Path | None) -> list[list[str]]:
    regions = ",".join(f"{c}:{p}-{p}" for c, p in sorted(set(positions), key=lambda x: (x[0], x[1])))
    view = ["bcftools", "view", "-r", regions]
    if samples_file:
        view += ["-S", str(samples_file)]
    return [view + [str(vcf), "-Ou"], ["bcftools", "+fill-tags", "-Ou", "--", "-t", "AC,AN"],
            ["bcftools", "query", "-f", QUERY_FMT]]


def peer_scan_cmds(vcf: Path, samples_file: Path) -> list[list[str]]:
    return [["bcftools", "view", "-S", str(samples_file), str(vcf), "-Ou"],
            ["bcftools", "+fill-tags", "-Ou", "--", "-t", "AC,AN"], ["bcftools", "query", "-f", QUERY_FMT]]


# ---------------------------------------------------------------- ClinVar, read plainly (the oracle for d)

def read_clinvar_plain(path: Path, assembly: str = "GRCh37") -> list[dict]:
    """The `assembly` rows of a variant_summary file, by str.split (the columns annotate uses)."""
    from genolake.lake.coords import normalize_contig

    opener = gzip.open if open(path, "rb").read(2) == b"\x1f\x8b" else open
    rows = []
    with opener(path, "rt", encoding="utf-8", errors="replace") as fh:
        header = fh.readline().rstrip("\n").lstrip("#").split("\t")
        ix = {h: i for i, h in enumerate(header)}
        for line in fh:
            f = line.rstrip("\n").split("\t")
            if f[ix["Assembly"]] != assembly:
                continue
            ref, alt = f[ix["ReferenceAlleleVCF"]], f[ix["AlternateAlleleVCF"]]
            posvcf = f[ix["PositionVCF"]]
            ok = ref not in ("", "na", "-") and alt not in ("", "na", "-") and posvcf not in ("", "-1", "-")
            rows.append({
                "gene": f[ix["GeneSymbol"]], "contig": normalize_contig(f[ix["Chromosome"]]),
                "start": int(f[ix["Start"]]), "stop": int(f[ix["Stop"]]),
                "pos": int(posvcf) if ok else None, "ref": ref if ok else None, "alt": alt if ok else None,
                "variation_id": int(f[ix["VariationID"]]),
            })
    return rows


def top_gene(records: list[dict]) -> str:
    from collections import Counter

    counts = Counter(r["gene"] for r in records if r["gene"] and r["gene"] != "-" and ";" not in r["gene"])
    return sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[0][0]


def gene_span(records: list[dict], gene: str) -> tuple[str, int, int]:
    """min(Start)..max(Stop) of the gene's single-gene records on its most frequent contig."""
    from collections import Counter

    mine = [r for r in records if r["gene"] == gene]
    contig = sorted(Counter(r["contig"] for r in mine).items(), key=lambda kv: (-kv[1], kv[0]))[0][0]
    mine = [r for r in mine if r["contig"] == contig]
    return contig, min(r["start"] for r in mine), max(r["stop"] for r in mine)


# ---------------------------------------------------------------- checking answers

def _answer_rows(table, dataset: str | None) -> list[dict]:
    cols = [c for c in ("dataset", "contig", "pos", "ref", "alt", "rsid", "ac", "an", "af", "n_samples",
                        "variation_id") if c in table.column_names]
    rows = table.select(cols).to_pylist()
    if dataset is not None and "dataset" in cols:
        rows = [r for r in rows if r["dataset"] == dataset]
    return rows


def compare_counts(answer: list[dict], oracle: list[dict], n_examples: int = 10) -> dict:
    """Per split allele (contig, pos, ref, alt): AC and AN equal, and the same alleles on both sides."""
    from genolake.lake.coords import normalize_contig

    exp: dict[tuple, tuple] = {}
    dup_o = 0
    for o in oracle:
        key = (normalize_contig(o["chrom"]), o["pos"], o["ref"], o["alt"])
        dup_o += key in exp
        exp[key] = (o["ac"], o["an"])
    got: dict[tuple, tuple] = {}
    dup_a = 0
    for a in answer:
        key = (a["contig"], a["pos"], a["ref"], a["alt"])
        dup_a += key in got
        got[key] = (a["ac"], a["an"])
    kinds: dict[str, int] = {}
    examples = []

    def bad(kind, key, o, g):
        kinds[kind] = kinds.get(kind, 0) + 1
        if len(examples) < n_examples:
            examples.append({"key": "-".join(map(str, key)), "kind": kind, "oracle_ac_an": o, "answer_ac_an": g})

    for key, o in exp.items():
        g = got.get(key)
        if g is None:
            bad("missing_in_answer", key, o, None)
        elif g != o:
            bad("ac" if g[1] == o[1] else "an" if g[0] == o[0] else "ac_and_an", key, o, g)
    for key, g in got.items():
        if key not in exp:
            bad("not_in_oracle", key, None, g)
    af_bad = sum(1 for a in answer if (a.get("af") is None) != (a["an"] == 0)
                 or (a["an"] and abs(a["af"] - a["ac"] / a["an"]) > 1e-12)) if answer and "af" in answer[0] else 0
    if af_bad:
        kinds["af_not_ac_over_an"] = af_bad
    mism = sum(kinds.values())
    return {"valid": mism == 0 and dup_o == 0 and dup_a == 0 and len(exp) > 0,
            "oracle_split_alleles": len(exp), "answer_rows": len(answer), "mismatches": mism,
            "mismatches_by_kind": kinds, "duplicate_keys_oracle": dup_o, "duplicate_keys_answer": dup_a,
            "examples": examples}


# ---------------------------------------------------------------- lake

def _catalog_source(root: Path, kind: str) -> tuple[str | None, str | None]:
    """(source path, dataset) of the latest successful `kind` run in the lake's catalog (read through
    the library, so a damaged catalog is the same one-line lake-state error as everywhere)."""
    import genolake

    runs = [r for r in genolake.open_lake(root).catalog.runs() if r.kind == kind and r.status == "succeeded"]
    if not runs:
        return None, None
    row = runs[0]  # newest first
    src = row.source_path if row.source_path and Path(row.source_path).is_file() else row.stored_path
    return src, row.dataset


def resolve_inputs(args, log) -> dict:
    """VCF, ClinVar and panel paths, the lake to use (None: build one) and the result name."""
    inp: dict = {"lake": None, "vcf": None, "clinvar": None, "panel": None, "dataset": None}
    if args.lake:
        root = Path(args.lake).expanduser().resolve()
        if not (root / "catalog.sqlite").is_file():
            raise SystemExit(f"{root} is not a genolake lake (no catalog.sqlite)")
        inp["lake"] = root
        vcf, ds = _catalog_source(root, "vcf")
        inp["vcf"] = args.vcf or vcf
        inp["dataset"] = args.dataset or ds
        inp["clinvar"] = args.clinvar or _catalog_source(root, "clinvar")[0]
        inp["name"] = args.name or root.name
    elif args.vcf:
        inp["vcf"], inp["clinvar"], inp["panel"] = args.vcf, args.clinvar, args.panel
        inp["name"] = args.name or re.sub(r"\.(vcf|bcf)(\.gz)?$", "", Path(args.vcf).name)
    else:
        scale = args.scale or "chr22"
        preset = preset_dir(data_dir(args.data_dir), scale)
        if preset is not None:
            inp["vcf"] = preset / "cohort.chr22.vcf.gz"
            inp["clinvar"] = args.clinvar or (preset / "variant_summary.txt.gz")
            inp["panel"] = args.panel or (preset / "cohort.panel")
        else:
            import genolake

            n, length, seed = SCALES[scale]
            cache = data_dir(args.data_dir) / f"{SCALE_ALIASES.get(scale, scale)}-n{n}-L{length}-s{seed}"
            vcf = cache / "cohort.chr22.vcf.gz"
            if not all(p.is_file() for p in (vcf, Path(str(vcf) + ".tbi"), cache / "variant_summary.txt.gz",
                                              cache / "cohort.panel")):
                log(f"[bench] simulating the {scale} cohort ({n} samples x {length:,} bp, seed {seed}) into {cache} ...")
                genolake.simulate(cache, n_samples=n, length_bp=length, seed=seed, progress=False)
            inp["vcf"] = vcf
            inp["clinvar"] = args.clinvar or (cache / "variant_summary.txt.gz")
            inp["panel"] = args.panel or (cache / "cohort.panel")
        inp["name"] = args.name or scale
    if not inp["vcf"] or not Path(inp["vcf"]).is_file():
        raise SystemExit(f"no VCF to check against: give --vcf (looked for {inp['vcf']})")
    for k in ("vcf", "clinvar", "panel"):
        if inp[k] is not None:
            inp[k] = Path(inp[k]).resolve()
            if not inp[k].is_file():
                raise SystemExit(f"no such file: {inp[k]}")
    return inp


def build_lake(work: Path, inp: dict, log) -> tuple[Path, dict]:
    """A fresh lake: init, ingest the VCF (with the panel), then ClinVar. Returns its root and timings."""
    py = sys.executable
    root = work / "lake"
    steps = [["init"],
             ["ingest", "vcf", str(inp["vcf"]), "--dataset", DATASET]
             + (["--panel", str(inp["panel"])] if inp["panel"] else [])]
    if inp["clinvar"]:
        steps.append(["ingest", "clinvar", str(inp["clinvar"])])
    times = {}
    for step in steps:
        log(f"[bench] genolake {' '.join(step[:2])} ...")
        t0 = time.perf_counter()
        r = subprocess.run([py, "-m", "genolake", "--root", str(root), "--no-progress", *step],
                           capture_output=True, text=True)
        times[" ".join(step[:2])] = round(time.perf_counter() - t0, 2)
        if r.returncode != 0:
            raise _Failed(f"genolake {' '.join(step[:2])}", {"returncode": r.returncode, "stderr": r.stderr[-3000:],
                                                             "stdout": r.stdout[-2000:]})
    return root, times


class _Failed(Exception):
    def __init__(self, step: str, info: dict):
        super().__init__(step)
        self.step, self.info = step, info


# ---------------------------------------------------------------- the run

def run_benchmark(args) -> tuple[dict, int]:
    log = log_to(args.quiet)
    inp = resolve_inputs(args, log)
    name = inp["name"]
    if args.work_dir:
        Path(args.work_dir).mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="genolake-qbench-", dir=args.work_dir))
    started = _dt.datetime.now(_dt.timezone.utc)
    result: dict = {
        "benchmark": "queries", "name": name, "scale": (args.scale or "chr22") if not (args.lake or args.vcf) else None,
        "started_utc": started.isoformat(timespec="seconds"),
        "hardware": hardware(), "versions": versions(), "git": git_state(),
        "settings": {k: getattr(args, k) for k in ("only", "repeat", "warmup", "scan_repeat", "peer_scan_repeat", "cli_repeat",
                                                   "cohort_size", "seed", "wait_idle", "idle_below",
                                                   "max_other_load", "retries")},
        "workloads": {}, "targets": [],
    }
    result["settings"]["python"] = sys.executable
    guard = LoadGuard(wait_idle_s=args.wait_idle, idle_below=args.idle_below, max_other_load=args.max_other_load,
                      retries=args.retries, log=log)
    status = 0
    checks_ok = True

    def timed(label: str, run_once):
        """Run a whole workload (its repeats); again when other processes used too much CPU meanwhile."""
        out, others, waited, attempt, wall = guard.run(label, lambda _attempt: run_once())
        return out, {"others_cpu_s": round(others, 3), "others_cores": round(others / max(wall, 1e-6), 3),
                     "waited_for_idle_s": round(waited, 1), "attempt": attempt}

    try:
        # ------------------------------------------------------------ inputs and the lake
        vcf = inp["vcf"]
        result["input"] = {"vcf": str(vcf), "vcf_bytes": vcf.stat().st_size, "clinvar": str(inp["clinvar"] or ""),
                           "panel": str(inp["panel"] or "")}
        peer_vcf = vcf
        if not any(Path(str(vcf) + s).is_file() for s in (".tbi", ".csi")):
            log("[bench] the VCF has no index: bcftools reads a bgzipped, tabix-indexed copy")
            peer_vcf = indexed_copy(vcf, work / "peer-input")
            result["input"]["peer_vcf"] = str(peer_vcf)
        warm_page_cache(peer_vcf)
        if inp["lake"] is None:
            root, build_times = build_lake(work, inp, log)
            dataset = DATASET
            result["lake"] = {"root": str(root), "built": True, "build_s": build_times}
        else:
            root, dataset = inp["lake"], inp["dataset"]
            result["lake"] = {"root": str(root), "built": False}
        result["lake"]["dataset"] = dataset

        samples = vcf_samples(peer_vcf)
        n_cohort = min(args.cohort_size, max(1, len(samples) // 2))
        cohort_ids = samples[:n_cohort]
        samples_file = work / "cohort-samples.txt"
        samples_file.write_text("\n".join(cohort_ids) + "\n")
        contigs = vcf_contigs(peer_vcf)
        chrom, length, n_records = max(contigs, key=lambda c: c[2])
        lo, hi = contig_span(peer_vcf, chrom, length)
        picks = pick_rsids(peer_vcf, chrom, lo, hi, args.seed)
        from genolake.lake.coords import normalize_contig

        contig = normalize_contig(chrom)
        result["input"].update({
            "samples": len(samples), "contig": chrom, "contig_records": n_records, "contig_length": length,
            "cohort": {"size": n_cohort, "choice": f"the first {n_cohort:,} samples in VCF order",
                       "first": cohort_ids[:3], "last": cohort_ids[-1]},
            "rsids": picks,
        })
        log(f"[bench] {name}: {vcf} ({len(samples):,} samples, {n_records:,} records on {chrom}); lake {root}; "
            f"rsIDs {', '.join(p['rsid'] + '@' + str(p['pos']) for p in picks)}; cohort {n_cohort:,} samples")

        # ------------------------------------------------------------ the warm engine
        from genolake.lake.config import LakeConfig
        from genolake.lake.store import Lake
        from genolake.queries.analyses.annotation import annotate
        from genolake.queries.analyses.frequencies import allele_frequency
        from genolake.queries.cohorts import Cohort
        from genolake.queries.engines import connect

        t0 = time.perf_counter()
        lake = Lake.open(LakeConfig.from_env(root))
        engine = connect(lake)
        result["engine"] = {"open_and_connect_s": time.perf_counter() - t0, "name": engine.name,
                            "tables": {k: {"version": b.version, "files": len(b.files)}
                                       for k, b in engine.bindings().items()}}
        datasets = [r["dataset"] for r in engine.sql("SELECT DISTINCT dataset FROM variants").to_pylist()]
        if dataset is None:
            if len(datasets) != 1:
                raise SystemExit(f"the lake holds datasets {datasets}: say which with --dataset")
            dataset = datasets[0]
            result["lake"]["dataset"] = dataset
        ds_arg = dataset if len(datasets) > 1 else None  # as a user with one dataset calls it
        cohort = Cohort(samples=tuple(cohort_ids))

        def api_workload(key: str, fn, repeat: int, warmup: int, rss: bool = False):
            def once():
                first, same, times = None, True, []
                for _ in range(warmup):
                    a = fn()
                    if first is None:
                        first = a
                    else:
                        same &= a.equals(first)
                    del a
                hwm0 = vmhwm() if rss and reset_vmhwm() else None
                for _ in range(repeat):
                    t = time.perf_counter()
                    a = fn()
                    times.append(time.perf_counter() - t)
                    if first is None:
                        first = a
                    else:
                        same &= a.equals(first)
                    del a
                peak = vmhwm() if rss else None
                return first, same, times, (hwm0, peak)
            (first, same, times, mem), cont = timed(key, once)
            info = {"genolake": {**spread(times), **cont, "answer_rows": first.num_rows,
                                 "repeat_answers_identical": same}}
            if rss and mem[1]:
                info["genolake"]["process_vmhwm_bytes"] = mem[1]
                info["genolake"]["process_rss_at_reset_bytes"] = mem[0]
            info["genolake"]["breakdown"] = sql_breakdown(engine, fn, 1 if rss else min(5, repeat))
            log(f"[bench]   genolake {key}: median {statistics.median(times) * 1e3:.2f} ms "
                f"(min {min(times) * 1e3:.2f}, max {max(times) * 1e3:.2f}); {first.num_rows:,} rows")
            return first, info, same

        def peer_workload(key: str, cmds, repeat: int, stdout_path: Path | None = None, whole: bool = False):
            def once():
                runs = []
                for _ in range(repeat):
                    if whole:  # a whole-file scan: wall time and peak RSS as the ingest benchmark measures them
                        m: Measured = measure(cmds, stdout_path=stdout_path)
                        runs.append({"wall_s": m.wall_s, "returncode": m.returncode, "stdout": m.stdout,
                                     "stderr": m.stderr, "peak_rss_tree_bytes": m.peak_rss_tree_bytes,
                                     "cpu_s": m.cpu_s})
                    else:
                        runs.append(run_pipeline(cmds, stdout_path))
                    if runs[-1]["returncode"] != 0:
                        break
                return runs
            runs, cont = timed(f"{key} peer", once)
            bad = next((r for r in runs if r["returncode"] != 0), None)
            if bad:
                raise _Failed(f"bcftools for {key}", {"cmd": " | ".join(" ".join(c) for c in cmds), **bad})
            info = {"cmd": " | ".join(" ".join(c) for c in cmds), **spread([r["wall_s"] for r in runs]), **cont}
            if whole:
                info["peak_rss_tree_bytes"] = max(r["peak_rss_tree_bytes"] for r in runs)
                info["cpu_s"] = statistics.median(r["cpu_s"] for r in runs)
            log(f"[bench]   bcftools {key}: median {info['median_s'] * 1e3:.2f} ms")
            outputs = [r["stdout"] for r in runs]
            return info, outputs

        def record(key: str, info: dict, check: dict):
            nonlocal checks_ok
            info["check"] = check
            ok = check["valid"] and info["genolake"]["repeat_answers_identical"]
            info["valid"] = ok
            checks_ok &= ok
            result["workloads"][key] = info
            log(f"[bench]   oracle: {'valid' if ok else 'INVALID'} ({check['mismatches']} mismatches over "
                f"{check['oracle_split_alleles']:,} split alleles)")

        # ------------------------------------------------------------ (a) and (b): rsID lookups
        for key, rs_picks, coh in (("a1_af_rsid_all", picks[:1], None), ("a4_af_rsids_all", picks, None),
                                   ("b1_af_rsid_cohort", picks[:1], cohort), ("b4_af_rsids_cohort", picks, cohort)):
            if key[0] not in args.only:
                continue
            rsids = [p["rsid"] for p in rs_picks]
            log(f"[bench] {key}: allele_frequency(rsids={rsids}{', cohort' if coh else ''}) ...")
            fn = (lambda rsids=rsids, coh=coh: allele_frequency(engine, rsids=rsids, cohort=coh, dataset=ds_arg))
            answer, info, _ = api_workload(key, fn, args.repeat, args.warmup)
            cmds = peer_region_cmds(peer_vcf, [(p["chrom"], p["pos"]) for p in rs_picks],
                                    samples_file if coh is not None else None)
            peer, outs = peer_workload(key, cmds, args.repeat)
            info["bcftools"] = peer
            wanted = {(p["pos"], p["rsid"]) for p in rs_picks}
            oracle = [r for r in parse_query(outs[0]) if (r["pos"], r["rsid"]) in wanted]
            same_out = all(o == outs[0] for o in outs[1:])
            check = compare_counts(_answer_rows(answer, dataset), oracle)
            rows = _answer_rows(answer, dataset)
            check["answer_rsids_asked"] = all(r.get("rsid") in set(rsids) for r in rows)
            if coh is not None and rows and "n_samples" in rows[0]:
                check["n_samples_is_cohort_size"] = all(r["n_samples"] == n_cohort for r in rows)
                check["valid"] &= check["n_samples_is_cohort_size"]
            check["peer_outputs_identical"] = same_out
            check["valid"] &= check["answer_rsids_asked"] and same_out
            info["rsids"] = rsids
            if key == "a1_af_rsid_all":
                a1_oracle = oracle
            info["cohort_size"] = n_cohort if coh is not None else len(samples)
            record(key, info, check)

        # ------------------------------------------------------------ (c) every site for the cohort
        if "c" in args.only:
            key = "c_af_contig_cohort"
            log(f"[bench] {key}: allele_frequency(region={contig!r}, cohort of {n_cohort}) ...")
            fn = lambda: allele_frequency(engine, region=contig, cohort=cohort, dataset=ds_arg)
            answer, info, _ = api_workload(key, fn, args.scan_repeat, min(args.warmup, 1), rss=True)
            oracle_tsv = work / "scan-oracle.tsv"
            log(f"[bench]   bcftools view -S | +fill-tags | query over the whole file ({args.peer_scan_repeat}x) ...")
            peer, _ = peer_workload(key, peer_scan_cmds(peer_vcf, samples_file), args.peer_scan_repeat,
                                    stdout_path=oracle_tsv, whole=True)
            info["bcftools"] = peer
            oracle = parse_query(oracle_tsv.read_text())
            oracle = [r for r in oracle if r["chrom"] == chrom]
            rows = _answer_rows(answer, dataset)
            check = compare_counts(rows, oracle)
            check["n_samples_is_cohort_size"] = bool(rows) and all(r.get("n_samples", n_cohort) == n_cohort for r in rows)
            check["valid"] &= check["n_samples_is_cohort_size"]
            occurrences = {}
            for r in oracle:
                if r["rsid"] in {p["rsid"] for p in picks}:
                    occurrences.setdefault(r["rsid"], set()).add(r["pos"])
            check["picked_rsids_at_one_position"] = all(occurrences.get(p["rsid"]) == {p["pos"]} for p in picks)
            check["valid"] &= check["picked_rsids_at_one_position"]
            info["cohort_size"] = n_cohort
            record(key, info, check)
            del answer, rows, oracle
            gc.collect()

        # ------------------------------------------------------------ (d) annotate a gene
        key = "d_annotate_gene"
        if "d" not in args.only:
            pass
        elif inp["clinvar"] is None or "clinvar" not in engine.bindings():
            result["workloads"][key] = {"skipped": "the lake has no ClinVar table"}
            log(f"[bench] {key}: skipped (no ClinVar)")
        else:
            clin = read_clinvar_plain(inp["clinvar"])
            gene = top_gene(clin)
            gcontig, gstart, gstop = gene_span(clin, gene)
            log(f"[bench] {key}: annotate(gene={gene!r}) ({gcontig}:{gstart}-{gstop}) ...")
            fn = lambda: annotate(engine, gene=gene, assembly="GRCh37")
            answer, info, _ = api_workload(key, fn, args.repeat, args.warmup)
            vchrom = next((c for c, _, _ in contigs if normalize_contig(c) == gcontig), gcontig)
            cmds = [["bcftools", "view", "-r", f"{vchrom}:{gstart}-{gstop}", str(peer_vcf), "-Ou"],
                    ["bcftools", "+fill-tags", "-Ou", "--", "-t", "AC,AN"], ["bcftools", "query", "-f", QUERY_FMT]]
            # reference only (no target), and a gene span can be megabases: timed like the scan, not 20x
            peer, outs = peer_workload(key, cmds, min(args.repeat, args.peer_scan_repeat))
            info["bcftools"] = peer
            oracle = [r for r in parse_query(outs[0]) if gstart <= r["pos"] <= gstop]
            rows = _answer_rows(answer, dataset)
            variants = {}
            for r in rows:
                variants.setdefault((r["contig"], r["pos"], r["ref"], r["alt"]), {**r, "vids": set()})["vids"].add(
                    r.get("variation_id"))
            check = compare_counts(list(variants.values()), oracle)
            by_cpra: dict[tuple, set] = {}
            for c in clin:
                if c["pos"] is not None:
                    by_cpra.setdefault((c["contig"], c["pos"], c["ref"], c["alt"]), set()).add(c["variation_id"])
            clin_bad = [k for k, v in variants.items() if (by_cpra.get(k) or {None}) != v["vids"]]
            check["clinvar_joined"] = sum(1 for v in variants.values() if v["vids"] != {None})
            check["clinvar_mismatches"] = len(clin_bad)
            check["clinvar_mismatch_examples"] = ["-".join(map(str, k)) for k in clin_bad[:5]]
            check["valid"] &= not clin_bad and check["clinvar_joined"] > 0
            info["gene"] = {"symbol": gene, "contig": gcontig, "start": gstart, "stop": gstop,
                            "clinvar_records": sum(1 for c in clin if c["gene"] == gene)}
            record(key, info, check)

        # ------------------------------------------------------------ CLI cold start (apart)
        if "a" in args.only:  # its answer is checked against the (a) oracle
            cli = shutil.which("genolake", path=str(Path(sys.executable).parent)) or None
            base = [cli] if cli else [sys.executable, "-m", "genolake"]
            cmd = base + ["--root", str(root), "query", "af", "--rsid", picks[0]["rsid"], "--format", "csv"]
            if ds_arg:
                cmd += ["--dataset", ds_arg]
            log(f"[bench] CLI cold start: {' '.join(cmd[:1] + cmd[3:])} ({args.cli_repeat}x) ...")

            def cli_once():
                return [run_pipeline([cmd]) for _ in range(args.cli_repeat)]
            runs, cont = timed("cli", cli_once)
            ok = all(r["returncode"] == 0 for r in runs)
            cli_info = {"cmd": " ".join(cmd), **spread([r["wall_s"] for r in runs]), **cont,
                        "returncode": runs[-1]["returncode"]}
            if ok:
                import csv as _csv
                import io

                got = [{"contig": r.get("contig"), "pos": int(r.get("pos") or 0), "ref": r.get("ref"), "alt": r.get("alt"),
                        "ac": int(r.get("ac") or -1), "an": int(r.get("an") or -1)}
                       for r in _csv.DictReader(io.StringIO(runs[-1]["stdout"]))
                       if ds_arg is None or r.get("dataset") == ds_arg]
                cli_info["check"] = compare_counts(got, a1_oracle)
            else:
                cli_info["check"] = {"valid": False, "stderr": runs[-1]["stderr"][-1000:]}
            log(f"[bench]   median {cli_info['median_s']:.2f} s; {'valid' if cli_info['check']['valid'] else 'INVALID'}")
            result["cli_cold_start"] = cli_info
        engine.close()
    except _Failed as f:
        result["error"] = {"step": f.step, **{k: (v[-3000:] if isinstance(v, str) else v) for k, v in f.info.items()}}
        log(f"[bench] {f.step} failed:\n{str(f.info.get('stderr', ''))[-2000:]}")
        status = 3
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
        else:
            result["work_dir"] = str(work)

    result["finished_utc"] = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
    result.update(guard.summary())
    valid = status == 0 and checks_ok and len(result["workloads"]) == sum(k[0] in args.only for k in TARGETS)
    result["valid"] = valid
    for key, (what, kind, limit) in TARGETS.items():
        w = result["workloads"].get(key, {})
        g, p = w.get("genolake", {}).get("median_s"), w.get("bcftools", {}).get("median_s")
        if kind == "at_most":
            value = g / p if g and p else None
            ok = value is not None and value <= limit
        elif kind == "at_least":
            value = p / g if g and p else None
            ok = value is not None and value >= limit
        else:
            value = g
            ok = value is not None and value < limit
        w_valid = bool(w.get("valid"))
        result["targets"].append({"name": key, "what": what, "kind": kind, "value": value, "limit": limit,
                                  "valid": w_valid, "pass": bool(ok and w_valid)})
    if status == 0 and not valid:
        status = 2
    return result, status


# ---------------------------------------------------------------- reporting

def _ms(x) -> str:
    return "–" if x is None else (f"{x * 1e3:.2f} ms" if x < 1 else f"{x:.2f} s")


def _f(x, spec=".2f") -> str:
    return "–" if x is None else format(x, spec)


def markdown(r: dict) -> str:
    inp, hw, v = r.get("input", {}), r["hardware"], r["versions"]
    lines = [f"# Query benchmark: {r['name']}", ""]
    verdict = ("VALID (every answer equals bcftools' AC/AN per split allele)" if r["valid"] else
               f"**FAILED** at {r['error']['step']}: no valid figures" if "error" in r else
               "**INVALID**: an answer differs from bcftools (see the checks; its targets do not pass)")
    coh = inp.get("cohort", {})
    lines += [
        f"- Result: {verdict}",
        f"- Input: `{inp.get('vcf')}` — {inp.get('vcf_bytes', 0) / 1e6:.1f} MB, {_f(inp.get('samples'), ',')} samples, "
        f"{_f(inp.get('contig_records'), ',')} records on {inp.get('contig')}; lake `{r.get('lake', {}).get('root')}` "
        f"(dataset {r.get('lake', {}).get('dataset')}, {'built by this run' if r.get('lake', {}).get('built') else 'existing'})",
        f"- Cohort for (b), (c): {coh.get('choice', '–')} ({', '.join(coh.get('first', []))}, … {coh.get('last', '')})",
        "- rsIDs: " + ", ".join(f"{p['rsid']} ({p['chrom']}:{p['pos']} {p['ref']}>{p['alt']})" for p in inp.get("rsids", [])),
        f"- Machine: {hw['nproc']} CPUs ({hw['cpu_model']}), {hw['ram_GiB']} GiB RAM; python {v['python']}, "
        f"genolake {v['genolake']}, duckdb {v.get('duckdb')}, pyarrow {v['pyarrow']}, bcftools {v['bcftools']}",
        f"- Git: {(r['git'].get('commit') or '?')[:12]}"
        + (f" + {len(r['git']['modified_files'])} modified files" if r['git'].get('modified_files') else "")
        + f"; repeat {r['settings']['repeat']} (after {r['settings']['warmup']} warm-up), (c) genolake "
        f"{r['settings']['scan_repeat']} / bcftools {r['settings']['peer_scan_repeat']}; started {r['started_utc']}",
        f"- Warm engine: `Lake.open` + `connect` took {_ms(r.get('engine', {}).get('open_and_connect_s'))} once, "
        "not counted below. Other load during the kept timed runs: "
        f"{r['contention_cpu_s']} CPU-s ({len(r.get('contended_attempts_discarded') or [])} contended attempts "
        f"measured again; {r.get('waited_for_idle_s', 0)} s waited for idle)",
        "",
    ]
    if "error" in r:
        lines += [f"**{r['error']['step']} failed** (exit {r['error'].get('returncode')}):", "", "```",
                  str(r["error"].get("stderr", ""))[-1500:], "```", ""]
    lines += ["| workload | genolake median | p25–p75 | min–max | bcftools median | ratio | target | |",
              "|---|---:|---:|---:|---:|---:|---:|---|"]
    tg = {t["name"]: t for t in r["targets"]}
    for key, (what, kind, limit) in TARGETS.items():
        w = r["workloads"].get(key)
        if not w or "genolake" not in w:
            lines.append(f"| {what} | – | | | | | {limit} | {'skipped: ' + w['skipped'] if w else 'n/a'} |")
            continue
        g, p, t = w["genolake"], w.get("bcftools", {}), tg[key]
        mark = "PASS" if t["pass"] else ("INVALID" if not t["valid"] else "FAIL")
        rel = {"at_most": "≤", "at_least": "≥", "abs_s": "<"}[kind]
        val = f"{t['value']:.3f}" if kind != "abs_s" and t["value"] is not None else _ms(t["value"])
        lim = f"{rel} {limit}" + (" s" if kind == "abs_s" else "")
        lines.append(f"| {what} | {_ms(g['median_s'])} | {_ms(g['p25_s'])}–{_ms(g['p75_s'])} | "
                     f"{_ms(g['min_s'])}–{_ms(g['max_s'])} | {_ms(p.get('median_s'))} | {val} | {lim} | {mark} |")
    lines.append("")
    lines += ["| workload | answer rows | oracle split alleles | mismatches | other load CPU-s (genolake / bcftools) |",
              "|---|---:|---:|---:|---:|"]
    for key in TARGETS:
        w = r["workloads"].get(key)
        if not w or "check" not in w:
            continue
        c = w["check"]
        extra = "" if w["valid"] else " **INVALID** " + json.dumps({k: v for k, v in c.items() if k in (
            "mismatches_by_kind", "examples", "n_samples_is_cohort_size", "picked_rsids_at_one_position",
            "clinvar_mismatches", "answer_rsids_asked")}, default=str)[:600]
        lines.append(f"| {key} | {w['genolake']['answer_rows']:,} | {c['oracle_split_alleles']:,} | {c['mismatches']}{extra} | "
                     f"{w['genolake'].get('others_cpu_s')} / {w.get('bcftools', {}).get('others_cpu_s')} |")
    lines.append("")
    lines += ["Where a call's time goes (untimed diagnostic calls after the timed ones, median): SQL statements sent, "
              "time inside `engine.sql` split into DuckDB (planning and execution) and the read-only check "
              "(sqlglot parse, for user SQL only), key reads (`engine.read_rows`: row groups read directly), "
              "and Python outside both.", "",
              "| workload | statements (chars) | DuckDB | read-only check | key reads | Python | per statement |",
              "|---|---:|---:|---:|---:|---:|---|"]
    for key in TARGETS:
        b = r["workloads"].get(key, {}).get("genolake", {}).get("breakdown")
        if b:
            reads = f"{b.get('key_reads', 0)} in {_ms(b.get('key_read_s', 0.0))}"
            lines.append(f"| {key} | {b['statements']} ({', '.join(f'{n:,}' for n in b['sql_chars'])}) | {_ms(b['duckdb_s'])} | "
                         f"{_ms(b['read_only_check_s'])} | {reads} | {_ms(b['python_s'])} | "
                         + ", ".join(_ms(x) for x in b["per_statement_s"]) + " |")
    lines.append("")
    c = r["workloads"].get("c_af_contig_cohort", {})
    if "genolake" in c:
        lines.append(f"(c) peak memory: genolake process VmHWM {_f((c['genolake'].get('process_vmhwm_bytes') or 0) / MiB, '.0f')} MiB "
                     f"(the whole benchmark process: engine, answers kept for the identity check); bcftools pipeline "
                     f"{_f((c['bcftools'].get('peak_rss_tree_bytes') or 0) / MiB, '.0f')} MiB, {_f(c['bcftools'].get('cpu_s'), '.1f')} CPU-s.")
    d = r["workloads"].get("d_annotate_gene", {})
    if "gene" in d:
        gi = d["gene"]
        lines.append(f"(d) gene {gi['symbol']} ({gi['clinvar_records']} GRCh37 ClinVar records, span {gi['contig']}:{gi['start']:,}-{gi['stop']:,}): "
                     f"{d['check']['oracle_split_alleles']:,} variants, {d['check']['clinvar_joined']} with ClinVar records; "
                     f"bcftools over the span (reference only): {_ms(d['bcftools']['median_s'])}.")
    cli = r.get("cli_cold_start")
    if cli:
        lines += ["", f"CLI cold start (whole process, interpreter and imports included; not part of any figure above): "
                  f"`{' '.join(Path(x).name if i == 0 else x for i, x in enumerate(cli['cmd'].split()))}` median "
                  f"{cli['median_s']:.2f} s (min {cli['min_s']:.2f}, max {cli['max_s']:.2f}, n={cli['n']}); "
                  f"answer {'checked' if cli['check']['valid'] else '**NOT valid**'}."]
    lines += ["", "| target | value | limit | |", "|---|---:|---:|---|"]
    for t in r["targets"]:
        mark = "PASS" if t["pass"] else ("n/a" if t["value"] is None else "INVALID" if not t["valid"] else "FAIL")
        val = _ms(t["value"]) if t["kind"] == "abs_s" else _f(t["value"], ".3f")
        rel = {"at_most": "≤", "at_least": "≥", "abs_s": "<"}[t["kind"]]
        lines.append(f"| {t['what']} | {val} | {rel} {t['limit']} | {mark} |")
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------- command line

def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m genolake.benchmarks.queries",
                                description="genolake analyses on a warm engine vs bcftools, answers checked against bcftools.")
    src = p.add_mutually_exclusive_group()
    src.add_argument("--lake", help="an existing lake (read only); its VCF from the catalog unless --vcf")
    src.add_argument("--scale", choices=sorted(SCALES), help="tiny, medium or chr22 (default chr22): build a lake")
    p.add_argument("--vcf", help="the VCF the lake was (or is to be) ingested from")
    p.add_argument("--clinvar", help="ClinVar variant_summary for (d) (default: the scale's, or the lake's source)")
    p.add_argument("--panel", help="sample panel ingested with the VCF when building a lake")
    p.add_argument("--dataset", help="dataset in --lake (default: the one of the lake's latest VCF ingest)")
    p.add_argument("--name", help="result name (default: the scale, the lake folder or the VCF's stem)")
    p.add_argument("--out", help="folder for queries-<name>.json/.md " + OUT_HELP.replace("folder for the results ", ""))
    p.add_argument("--data-dir", help=DATA_HELP)
    p.add_argument("--work-dir", help="where the temporary lake and files go (default: the system temp folder)")
    p.add_argument("--repeat", type=int, default=20, help="timed repeats of (a), (b), (d) and their peers (default 20)")
    p.add_argument("--warmup", type=int, default=2, help="untimed calls before the timed ones (default 2)")
    p.add_argument("--scan-repeat", type=int, default=5, help="timed repeats of (c) in genolake (default 5)")
    p.add_argument("--peer-scan-repeat", type=int, default=2, help="timed repeats of the whole-file bcftools scan (default 2)")
    p.add_argument("--cli-repeat", type=int, default=5, help="CLI cold-start repeats (default 5)")
    p.add_argument("--cohort-size", type=int, default=1000, help="the cohort: the first N samples in VCF order (default 1000; "
                   "at most half the samples)")
    p.add_argument("--seed", type=int, default=22, help="seed of the rsID choice (default 22)")
    p.add_argument("--wait-idle", type=float, default=300, metavar="S",
                   help="before each workload wait up to S seconds for the machine to be idle (0: don't)")
    p.add_argument("--idle-below", type=float, default=0.15, metavar="CORES")
    p.add_argument("--max-other-load", type=float, default=0.10, metavar="CORES",
                   help="measure a workload again when other processes used more cores than this on average")
    p.add_argument("--retries", type=int, default=2)
    p.add_argument("--only", default="abcd", help="the workloads to run, e.g. 'ab' for the lookups only (default: abcd; "
                   "the CLI cold start runs with a)")
    p.add_argument("--keep", action="store_true", help="keep the work folder (lake, oracle output)")
    p.add_argument("--quiet", action="store_true", help="no progress lines on stderr, no printed summary")
    return p


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    for n in ("repeat", "scan_repeat", "peer_scan_repeat", "cli_repeat", "cohort_size"):
        if getattr(args, n) < 1:
            raise SystemExit(f"--{n.replace('_', '-')} must be at least 1")
    if args.warmup < 0:
        raise SystemExit("--warmup must be at least 0")
    args.only = "".join(sorted(set(args.only.lower())))
    if not args.only or set(args.only) - set("abcd"):
        raise SystemExit("--only takes letters among a, b, c, d")
    need_psutil()
    for tool in ("bcftools", "tabix", "bgzip"):
        if shutil.which(tool) is None:
            raise SystemExit(f"{tool} is not on PATH")
    result, status = run_benchmark(args)
    md = markdown(result)
    json_path, md_path = write_results(args.out, "queries", result, md)
    if not args.quiet:
        print(md)
        for t in result["targets"]:
            mark = "PASS" if t["pass"] else ("n/a" if t["value"] is None else "INVALID" if not t["valid"] else "FAIL")
            val = _ms(t["value"]) if t["kind"] == "abs_s" else _f(t["value"], ".3f")
            print(f"{mark:7s} {t['what']}: {val} (target {'<' if t['kind'] == 'abs_s' else '≤' if t['kind'] == 'at_most' else '≥'} {t['limit']})")
        print(f"wrote {json_path} and {md_path}")
    return status


if __name__ == "__main__":
    raise SystemExit(main())
