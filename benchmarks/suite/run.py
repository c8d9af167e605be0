"""`genolake bench`: which layout of the same variant data serves which question fastest.

    genolake bench --scale tiny                       # seconds; what CI runs
    genolake bench --scale chr22 --repeat 5           # 2,504 samples x ~1M sites (an hour or so)
    genolake bench --lake ROOT [--vcf FILE]           # your own lake (read only; layouts go to --work-dir)
    genolake bench --layouts curated,bin_1m,bin_100k:rg=16384:zstd=9 --workloads af_rsids,af_region

Steps: the data (a simulated cohort per scale, made once and cached, ingested into a fresh lake:
that ingest is the reference layout's "ingest" figure), the workload parameters (seeded), each
layout built from the curated tables (timed, its bytes counted), the reference answer of every
workload from the curated tables through the project's analyses, then per layout and workload:
warm-up calls whose answer must equal the reference (a wrong answer marks the cell INVALID: it is
still timed, never recommended), `--repeat` timed calls (median and spread), bytes read by the
process (/proc/self/io rchar) and files/row groups/bytes the footers say the filters can touch,
peak memory (VmHWM). Then the peers on the same data (bcftools on VCF.gz and BCF, Hail on a
subset), whose answers are checked the same way. Then the query engines (`--engines duckdb,spark`)
on the curated lake: each connected once (its connect timed apart: Spark's JVM start is not query
latency), every workload answered through the project's analyses on it, timed the same way and
checked against the truth (result["engine_results"]). Results: layouts-<name>.json, .md and .html
(plots) in --out. Exit status 0 when every answer matched, 2 when any was wrong."""

from __future__ import annotations

import argparse
import gc
import json
import statistics
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

from genolake.benchmarks.common import (DATA_HELP, OUT_HELP, data_dir, git_state, hardware, out_dir, reset_vmhwm,
                                        spread, versions, vmhwm, wait_idle)

from . import data as bench_data
from .contract import WORKLOADS

SCANS = ("af_all", "af_all_cohort")  # whole-contig workloads: --scan-repeat timed calls, one warm-up
LAYOUT_ENGINE = "duckdb"  # the layouts x workloads loop runs its SQL on raw DuckDB connections
REMOTE_ENGINES = {"athena": "athena needs AWS (Athena over the Glue tables); the bench measures local engines"}


def _registry() -> tuple[str, ...]:
    from genolake.queries.engines import ENGINES as registry

    return tuple(registry)


ENGINES = tuple(e for e in _registry() if e not in REMOTE_ENGINES)  # the engines the bench can measure


def parse_engines(text: str | None) -> list[str]:
    """The --engines list, checked against the query engine registry; remote engines are refused."""
    items = list(dict.fromkeys(x.strip() for x in (text or LAYOUT_ENGINE).split(",") if x.strip()))
    registry = _registry()
    bad = [x for x in items if x not in registry]
    if bad:
        raise SystemExit(f"genolake bench: unknown engine {', '.join(bad)}; known: {', '.join(ENGINES)}")
    remote = [x for x in items if x in REMOTE_ENGINES]
    if remote:
        raise SystemExit(f"genolake bench: {REMOTE_ENGINES[remote[0]]} ({', '.join(ENGINES)})")
    return items or [LAYOUT_ENGINE]


def log_to(quiet: bool):
    return (lambda *a: None) if quiet else (lambda *a: print(*a, file=sys.stderr, flush=True))


def _rchar() -> int | None:
    try:
        for line in Path("/proc/self/io").read_text().splitlines():
            if line.startswith("rchar:"):
                return int(line.split()[1])
    except OSError:
        pass
    return None


def _spread(xs: list[float]) -> dict:
    """`common.spread` in the suite's contract form (times_s)."""
    d = spread(xs)
    return {"times_s": d.pop("runs_s"), **{k: v for k, v in d.items() if k != "n"}}


def time_workload(fn, truth, compare, repeat: int, warmup: int) -> dict:
    """Warm-up calls (the first answer is checked), then `repeat` timed calls."""
    answer = fn()
    mismatch = compare(answer, truth)
    for _ in range(max(warmup - 1, 0)):
        fn()
    del answer
    gc.collect()
    hwm_ok = reset_vmhwm()
    times, reads = [], []
    for _ in range(repeat):
        r0 = _rchar()
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
        r1 = _rchar()
        if r0 is not None and r1 is not None:
            reads.append(r1 - r0)
    return {"valid": mismatch is None, "mismatch": mismatch, **_spread(times),
            "bytes_read": int(statistics.median(reads)) if reads else None,
            "peak_rss_bytes": vmhwm() if hwm_ok else None}


def parse_list(text: str | None, known, what: str) -> list[str]:
    if not text:
        return list(known)
    items = [x.strip() for x in text.split(",") if x.strip()]
    bad = [x for x in items if x not in known]
    if bad:
        raise SystemExit(f"genolake bench: unknown {what} {', '.join(bad)}; known: {', '.join(known)}")
    return items


def run(args) -> tuple[dict, int]:
    from . import layouts as L
    from . import workloads as W

    log = log_to(args.quiet)
    started = datetime.now(timezone.utc)
    engines = parse_engines(args.engines)
    workloads = parse_list(args.workloads, WORKLOADS, "workload")
    try:
        specs = L.parse_layouts(args.layouts) if args.layouts else list(L.DEFAULT_LAYOUTS)
    except ValueError as err:
        raise SystemExit(f"genolake bench: {err}") from None
    work = Path(args.work_dir or tempfile.mkdtemp(prefix="genolake-bench-")).resolve()
    work.mkdir(parents=True, exist_ok=True)

    # ---- data: a scale's cohort ingested into a fresh lake, or the user's lake as it is
    ingest = None
    if args.lake:
        root = Path(args.lake).resolve()
        if not (root / "catalog.sqlite").is_file():
            raise SystemExit(f"genolake bench: {root} is not a lake (no catalog.sqlite)")
        vcf, clinvar, lake_dataset = _lake_sources(root, args)
        name = args.name or root.name
    else:
        scale = args.scale or "tiny"
        inputs = bench_data.scale_inputs(scale, data_dir(args.data_dir), log)
        root = work / "lake"
        wait_idle(args.wait_idle, 0.15, log)
        ingest = bench_data.build_lake(root, inputs, log)
        vcf, clinvar, lake_dataset = inputs["vcf"], inputs["clinvar"], bench_data.DATASET
        name = args.name or scale
    params = bench_data.make_params(root, vcf, clinvar, work, seed=args.seed, cohort_size=args.cohort_size,
                                    dataset=args.dataset or lake_dataset)
    if not args.no_peers:
        from . import peers as P

        log("[bench] writing an indexed BCF copy for the bcftools peer ...")
        params = _with_bcf(params, P.make_bcf(params))
    result = {
        "suite": "layouts", "name": name, "scale": None if args.lake else (args.scale or "tiny"),
        "started_utc": started.isoformat(timespec="seconds"), "hardware": hardware(), "versions": versions(),
        "git": git_state(), "settings": {k: getattr(args, k) for k in ("repeat", "warmup", "scan_repeat", "seed", "cohort_size")}
        | {"engines": engines if args.engines else [], "layout_engine": LAYOUT_ENGINE, "workloads": workloads, "layouts": [s.name for s in specs]},
        "data": bench_data.data_facts(params),
        "params": {"rsids": list(params.rsids), "region": params.region, "gene": params.gene,
                   "gene_region": params.gene_region, "sample": params.sample, "sample_region": params.sample_region,
                   "matrix_region": params.matrix_region},
        "workloads": {w: WORKLOADS[w] for w in workloads},
        "layouts": {}, "results": [], "peers": [], "engine_results": [], "recommendations": {},
    }
    if ingest:
        result["ingest"] = ingest | {"engine": "local"}
        if args.ingest_engines:
            result["ingest_engines"] = _ingest_engine_axis(args, inputs["vcf"], name, work, log)
    log(f"[bench] {name}: {result['data']['samples']:,} samples, {result['data']['alleles']:,} alleles, "
        f"{result['data']['stored_calls']:,} stored calls; layouts {', '.join(s.name for s in specs)}")

    # ---- the truth: every workload answered from the curated tables through the analyses
    import genolake

    query_workloads = [w for w in workloads if w != "ingest"]
    truth = {}
    with genolake.connect(genolake.open_lake(root)) as engine:
        for w in query_workloads:
            if w == "annotate_gene" and params.gene is None:
                continue
            truth[w] = W.reference(w, params, engine)
            log(f"[bench] reference {w}: {truth[w].num_rows:,} rows")

    # ---- layouts x workloads
    any_wrong = False
    for spec in specs:
        wait_idle(args.wait_idle, 0.15, log)
        log(f"[bench] building layout {spec.name} ...")
        reset_vmhwm()
        built = L.build(spec, params)
        result["layouts"][spec.name] = {
            "description": spec.description, "knobs": _knobs(spec), "bytes": built.bytes, "files": len(built.files),
            "build_s": built.build_s, "peak_rss_bytes": vmhwm(), "reference": spec.reference, "peer": spec.peer}
        if spec.reference and ingest:
            result["layouts"][spec.name]["build_s"] = ingest["wall_s"]
            result["layouts"][spec.name]["peak_rss_bytes"] = ingest["peak_rss_bytes"]
        con = L.connect(built, params)
        try:
            for w in query_workloads:
                if w not in truth:
                    continue
                wait_idle(args.wait_idle, 0.15, log)
                n = args.scan_repeat if w in SCANS else args.repeat
                cell = time_workload(lambda: W.run(w, built, con, params), truth[w], W.compare,
                                     n, 1 if w in SCANS else args.warmup)
                cell.update({"layout": spec.name, "engine": LAYOUT_ENGINE, "workload": w})
                io = W.planned_io(w, built, params) or {}
                cell.update({"files_planned": io.get("files"), "row_groups_planned": io.get("row_groups"),
                             "bytes_planned": io.get("bytes")})
                any_wrong |= not cell["valid"]
                result["results"].append(cell)
                log(f"[bench]   {spec.name} {w}: median {cell['median_s'] * 1e3:.1f} ms"
                    + ("" if cell["valid"] else f"  INVALID: {cell['mismatch']}"))
        finally:
            con.close()
        if "ingest" in workloads:
            result["results"].append({"layout": spec.name, "engine": "duckdb", "workload": "ingest", "valid": True,
                                      "mismatch": None, **_spread([result["layouts"][spec.name]["build_s"]]),
                                      "bytes_read": None, "files_planned": None, "row_groups_planned": None,
                                      "bytes_planned": None,
                                      "peak_rss_bytes": result["layouts"][spec.name]["peak_rss_bytes"]})
        if not args.keep_layouts and not spec.reference:
            L.remove(built) if hasattr(L, "remove") else None

    # ---- peers on the same data, answers checked the same way
    if not args.no_peers:
        from . import peers as P

        wait_idle(args.wait_idle, 0.15, log)
        for rec in P.run_peers(params, [w for w in query_workloads if w in truth], args.repeat, args.warmup, log,
                               slow_repeat=args.scan_repeat, hail=not args.no_hail):
            answer = rec.pop("answer", None)
            if answer is not None and rec["workload"] in truth and rec.get("valid") is None:
                mismatch = W.compare(answer, truth[rec["workload"]])
                rec["valid"], rec["mismatch"] = mismatch is None, mismatch
            result["peers"].append(rec)
            if rec.get("valid") is False:
                log(f"[bench]   peer {rec['peer']} {rec['workload']} gave a different answer: {rec.get('mismatch')}")

    # ---- query engines on the curated lake, answers checked against the same truth
    if args.engines:
        cells = engine_axis(root, engines, [w for w in query_workloads if w in truth], params, truth, args, log)
        result["engine_results"] = cells
        any_wrong |= any(not c["valid"] for c in cells)

    from . import report as R

    result["recommendations"] = R.recommend(result)
    paths = R.render(result, out_dir(args.out))
    result["report"] = {k: str(v) for k, v in paths.items() if k != "png"}
    log(f"[bench] report: {paths.get('html')} ({paths.get('md')})")
    return result, (2 if any_wrong else 0)


def engine_axis(root: Path, engines: list[str], workloads: list[str], params, truth: dict, args, log) -> list[dict]:
    """Per engine: connect once to the curated lake (timed apart), then each workload through the
    analyses on it (W.reference), timed like the layouts and compared with the truth; the engine is
    closed after. bytes_read and peak RSS are the Python process's own, so they are kept for the
    in-process DuckDB engine only (Spark reads in its JVM)."""
    import genolake

    from . import workloads as W

    cells = []
    for name in engines:
        wait_idle(args.wait_idle, 0.15, log)
        log(f"[bench] connecting the {name} query engine ...")
        t0 = time.perf_counter()
        engine = genolake.connect(genolake.open_lake(root), name)
        connect_s = time.perf_counter() - t0
        log(f"[bench]   {name} connected in {connect_s:.2f} s")
        try:
            for w in workloads:
                wait_idle(args.wait_idle, 0.15, log)
                n = args.scan_repeat if w in SCANS else args.repeat
                cell = time_workload(lambda: W.reference(w, params, engine), truth[w], W.compare,
                                     n, 1 if w in SCANS else args.warmup)
                if name != LAYOUT_ENGINE:
                    cell["bytes_read"] = cell["peak_rss_bytes"] = None
                cell.update({"engine": name, "workload": w, "connect_s": connect_s})
                cells.append(cell)
                log(f"[bench]   engine {name} {w}: median {cell['median_s'] * 1e3:.1f} ms"
                    + ("" if cell["valid"] else f"  INVALID: {cell['mismatch']}"))
        finally:
            engine.close()
    return cells


def _ingest_engine_axis(args, vcf: Path, name: str, work: Path, log) -> dict:
    """The ingest row per ETL engine (`--ingest-engines`): the same VCF through each engine in a fresh
    process (benchmarks/ingest_engines.py), checked against bcftools +fill-tags."""
    from genolake.benchmarks import ingest_engines
    from genolake.benchmarks.ingest import run_oracle, vcf_samples

    engines = ingest_engines.parse_engines(args.ingest_engines)
    oracle_tsv = work / "ingest-oracle.tsv"
    log("[bench] bcftools +fill-tags (the oracle of the ingest engines) ...")
    m = run_oracle(vcf, oracle_tsv, 0.05)
    if m.returncode != 0:
        raise SystemExit(f"genolake bench: bcftools +fill-tags failed on {vcf}: {m.stderr.strip()[-300:]}")
    records = sum(1 for _ in open(oracle_tsv, "rb"))
    wait_idle(args.wait_idle, 0.15, log)
    axis = ingest_engines.run_axis(vcf, f"bench-{name}", engines, work / "ingest-engines", oracle_tsv=oracle_tsv,
                                   records=records, samples=vcf_samples(vcf), log=log,
                                   scale=args.scale or "tiny")
    ingest_engines.write_reports(axis, out_dir(args.out))
    return axis


def _knobs(spec) -> dict:
    return {k: getattr(spec, k) for k in ("bin_size", "row_group_rows", "target_file_rows", "zstd_level")
            if getattr(spec, k, None) is not None}


def _with_bcf(params, bcf):
    from dataclasses import replace

    return replace(params, bcf=bcf)


def _lake_sources(root: Path, args) -> tuple[Path, Path | None, str]:
    """The VCF and ClinVar files a lake was built from (--vcf/--clinvar, else its catalog's latest
    runs) and the dataset of its latest VCF ingest."""
    from genolake.benchmarks.queries import _catalog_source

    src, dataset = _catalog_source(root, "vcf")
    vcf = Path(args.vcf) if args.vcf else (Path(src) if src else None)
    if vcf is None or not vcf.is_file():
        raise SystemExit(f"genolake bench: the VCF of {root} is not known or not found; give it with --vcf")
    clinvar = Path(args.clinvar) if args.clinvar else None
    if clinvar is None:
        src, _ = _catalog_source(root, "clinvar")
        clinvar = Path(src) if src and Path(src).is_file() else None
    return vcf, clinvar, dataset or bench_data.DATASET


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="genolake bench", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    src = p.add_mutually_exclusive_group()
    src.add_argument("--scale", choices=sorted(bench_data.SCALES), help="simulated cohort size (default tiny)")
    src.add_argument("--lake", help="your own lake (read only); its VCF from the catalog unless --vcf")
    p.add_argument("--vcf", help="the bgzipped, indexed VCF the lake was ingested from")
    p.add_argument("--clinvar", help="the ClinVar variant_summary the lake holds (for annotate_gene)")
    p.add_argument("--dataset", help="dataset in the lake (default: that of its latest VCF ingest)")
    p.add_argument("--layouts", help="comma list, with knobs: bin_1m:rg=16384:zstd=9,flat_sorted:file_rows=2000000")
    p.add_argument("--workloads", help=f"comma list (default all): {', '.join(WORKLOADS)}")
    p.add_argument("--engines", help="query engines to measure on the curated lake through the analyses, e.g. "
                   f"duckdb,spark (available: {', '.join(ENGINES)}; athena needs AWS); default: none, the layouts "
                   "are measured with duckdb either way")
    p.add_argument("--ingest-engines", metavar="LIST",
                   help="also time the ingest per ETL engine, each in a fresh process: local, spark, hail (plain "
                   "Hail import_vcf -> entries -> Parquet), or auto (local, plus spark and hail when installed); "
                   "default: only the reference ingest (local engine). Not with --lake")
    p.add_argument("--repeat", type=int, default=5, help="timed calls per cell, after the warm-up (default 5)")
    p.add_argument("--warmup", type=int, default=1, help="untimed calls first; the first answer is checked (default 1)")
    p.add_argument("--scan-repeat", type=int, default=2,
                   help="timed calls of the whole-contig workloads (af_all, af_all_cohort) and of the peers' "
                   "whole-file scans and Hail job (default 2; bcftools takes minutes at chr22 scale)")
    p.add_argument("--cohort-size", type=int, default=bench_data.COHORT_SIZE, help="first N samples (default 1000)")
    p.add_argument("--seed", type=int, default=22, help="seed of the rsID choice (default 22)")
    p.add_argument("--out", help="folder for layouts-<name>.json/.md/.html " + OUT_HELP.replace("folder for the results ", ""))
    p.add_argument("--name", help="result name (default: the scale or the lake folder)")
    p.add_argument("--data-dir", help=DATA_HELP)
    p.add_argument("--work-dir", help="where the lake, layouts and peer files go (default: a new temporary folder)")
    p.add_argument("--keep-layouts", action="store_true", help="keep each layout's files after measuring it")
    p.add_argument("--no-peers", action="store_true", help="skip bcftools and Hail")
    p.add_argument("--no-hail", action="store_true", help="skip the Hail peer (it needs `make hail-venv`)")
    p.add_argument("--wait-idle", type=float, default=120, metavar="S",
                   help="before each measurement wait up to S seconds for the machine to go idle (default 120; 0: never)")
    p.add_argument("--quiet", action="store_true")
    return p


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    if min(args.repeat, args.warmup, args.scan_repeat) < 1:
        raise SystemExit("genolake bench: --repeat, --warmup and --scan-repeat must be at least 1")
    if args.lake and args.ingest_engines:
        raise SystemExit("genolake bench: --ingest-engines times the ingest of a scale's cohort; it does not apply to --lake")
    try:
        result, code = run(args)
    except KeyboardInterrupt:
        print("genolake bench: interrupted", file=sys.stderr)
        return 130
    if not args.quiet:
        print(json.dumps({"report": result.get("report"), "recommendations": result["recommendations"],
                          "all_answers_match": code == 0}, indent=2))
    return code


if __name__ == "__main__":
    raise SystemExit(main())
