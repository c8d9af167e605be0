"""ML benchmark: polygenic scores and the ancestry genotype matrix against plink2, in one run.

Run it (psutil is needed: `pip install -e '.[bench]'`; plink2 on PATH: `make setup`):

    python -m genolake.benchmarks.ml --lake ROOT --vcf cohort.vcf.gz --out OUT [--dataset D]

The lake is read, never written; the VCF is the file its dataset was ingested from. Work files
(weights, plink2's outputs and .pgen) go to a temporary folder (`--work-dir`, kept with `--keep`).

What is measured (DESIGN.md, "How performance is measured"):
- genolake runs in this process on a warm engine (`connect(lake)` once, its time recorded apart):
  each workload `--warmup` times untimed, then `--repeat` times timed around the public call
  (median, spread); peak memory is this process's VmHWM during the timed calls (reset through
  /proc/self/clear_refs first; the process's lifetime ru_maxrss is reported too);
- plink2 (`--threads T`, stated; `--memory` left at plink2's default) is each command timed whole,
  `--peer-repeat` times (median), under GNU time so its peak RSS is plink2's own (ru_maxrss);
- (a) PRS: a weights file over every biallelic record of the dataset that is alone at its position
  (plink2's ID of a multi-allelic record names its first ALT only; one record per position keeps
  the ID `CHROM:POS:REF:ALT` one site for both tools), the effect allele the ALT (70%) or the REF
  (30%), weights seeded-random over five orders of magnitude, in plink-style `ID A1 WEIGHT`.
  genolake: `ml.prs.score(engine, weights_file)` (parsing the file included); plink2:
  `--vcf V --vcf-half-call missing --set-all-var-ids @:#:$r:$a --score W 1 2 3 header
  cols=+scoresums`, and the same `--score` from a .pgen made beforehand by `--make-pgen` (the
  conversion timed apart). Agreement: per sample, ALLELE_CT equal, and SCORE1_SUM and
  NAMED_ALLELE_DOSAGE_SUM equal to ours to plink2's printed 6 significant digits (relative
  difference <= 5.1e-6; the maximum is reported); tests/test_prs.py holds the exact check (1e-9);
- (b) ancestry matrix: `queries.select_sites(engine, dataset, min_maf, spacing_bp, max_sites)` then
  `queries.genotype_matrix(engine, sites, dataset)` (samples x `--sites` sites), timed apart and
  together; plink2: `--extract ids.txt --export A` from the VCF and from the .pgen. Agreement: every
  cell of plink2's .raw (ALT counts, NA for missing) equals the matrix (null for missing).

The machine may be shared: before each measurement the script waits (up to `--wait-idle` s) until
other processes use < `--idle-below` cores, and measures again (up to `--retries` times) when others
used more than `--max-other-load` cores meanwhile; their CPU time is recorded. Results go to
`--out`: ml-<name>.json and ml-<name>.md. Exit status: 0 valid, 2 an agreement check failed,
3 a command failed. This is a benchmark, not a test: nothing here asserts timings.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import gc
import gzip
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from .common import (OUT_HELP, MiB, LoadGuard, git_state, hardware, reset_vmhwm, spread, versions, write_results,
                     vmhwm)
from .ingest import measure

TARGETS = {  # name: (what, peer/genolake ratio at least)
    "prs_vs_plink2_vcf": ("(a) PRS over every site: plink2 --vcf --score / genolake score", 10.0),
}
SCORE_TOL = 5.1e-6  # plink2 prints 6 significant digits


def log_to(quiet: bool):
    return (lambda *a: None) if quiet else (lambda *a: print(*a, file=sys.stderr, flush=True))


# ---------------------------------------------------------------- inputs

def vcf_chrom(vcf: Path) -> str:
    """The CHROM of the first record as the VCF spells it (plink2's @ in variant IDs)."""
    opener = gzip.open if open(vcf, "rb").read(2) == b"\x1f\x8b" else open
    with opener(vcf, "rt") as fh:
        for line in fh:
            if not line.startswith("#"):
                return line.split("\t", 1)[0]
    raise SystemExit(f"{vcf}: no records")


def pick_dataset(engine, dataset: str | None) -> str:
    from genolake.queries import run_sql

    have = sorted(run_sql(engine, "SELECT DISTINCT dataset FROM samples")["dataset"].to_pylist())
    if dataset:
        if dataset not in have:
            raise SystemExit(f"dataset {dataset!r} is not in the lake (it has {', '.join(have) or 'none'})")
        return dataset
    if len(have) != 1:
        raise SystemExit(f"the lake has datasets {', '.join(have) or 'none'}: pass --dataset")
    return have[0]


def write_weights(engine, dataset: str, chrom: str, path: Path, seed: int) -> dict:
    """Every biallelic record alone at its position: `CHROM:POS:REF:ALT A1 WEIGHT` (plink2's ID)."""
    from genolake.queries import run_sql
    from genolake.queries.sql import lit

    t = run_sql(engine, f"""
        SELECT pos, ref, alt FROM variants WHERE dataset = {lit(dataset)} AND n_alt = 1
          AND pos IN (SELECT pos FROM variants WHERE dataset = {lit(dataset)} GROUP BY contig, pos HAVING count(*) = 1)
        ORDER BY pos""")
    n = t.num_rows
    rng = np.random.default_rng(seed)
    use_ref = rng.random(n) < 0.3
    weights = rng.uniform(-1, 1, n) * 10.0 ** rng.integers(-4, 2, n)
    pos, ref, alt = (t[c].to_pylist() for c in ("pos", "ref", "alt"))
    with open(path, "w") as fh:
        fh.write("ID A1 WEIGHT\n")
        fh.writelines(f"{chrom}:{p}:{r}:{a} {r if u else a} {w!r}\n"
                      for p, r, a, u, w in zip(pos, ref, alt, use_ref.tolist(), weights.tolist()))
    return {"weights": n, "ref_effect": int(use_ref.sum()), "file": str(path), "bytes": path.stat().st_size}


# ---------------------------------------------------------------- plink2

def plink2_version() -> str | None:
    exe = shutil.which("plink2")
    if not exe:
        return None
    return subprocess.run([exe, "--version"], capture_output=True, text=True).stdout.strip() or None


def plink2_cmd(source: list[str], threads: int, extra: list[str], out: Path) -> list[str]:
    return ["plink2", *source, "--threads", str(threads), *extra, "--out", str(out)]


def vcf_source(vcf: Path) -> list[str]:
    return ["--vcf", str(vcf), "--vcf-half-call", "missing", "--allow-extra-chr",
            "--set-all-var-ids", "@:#:$r:$a", "--new-id-max-allele-len", "1000"]


def read_sscore(path: Path) -> dict:
    lines = path.read_text().splitlines()
    head = lines[0].lstrip("#").split("\t")
    return {r[head.index("IID")]: dict(zip(head, r)) for r in (x.split("\t") for x in lines[1:])}


def compare_scores(ours, sscore: dict) -> dict:
    """Ours against plink2's printed .sscore: ALLELE_CT exactly, sums to 6 significant digits."""
    rows = {r["sample_id"]: r for r in ours.to_pylist()}
    max_rel = max_rel_named = 0.0
    ct_mismatch, missing = 0, sorted(set(sscore) ^ set(rows))
    for iid, t in sscore.items():
        r = rows.get(iid)
        if r is None:
            continue
        p = float(t["SCORE1_SUM"])
        rel = abs(r["score"] - p) / abs(p) if p else abs(r["score"])
        max_rel = max(max_rel, rel)
        pn = float(t["NAMED_ALLELE_DOSAGE_SUM"])
        max_rel_named = max(max_rel_named, abs(r["named_allele_dosage_sum"] - pn) / abs(pn) if pn
                            else abs(r["named_allele_dosage_sum"]))
        ct_mismatch += int(t["ALLELE_CT"]) != r["allele_ct"]
    ok = not missing and ct_mismatch == 0 and max_rel <= SCORE_TOL and max_rel_named <= SCORE_TOL
    return {"samples": len(sscore), "samples_not_in_both": missing[:10], "allele_ct_mismatches": ct_mismatch,
            "max_rel_diff_score": max_rel, "max_rel_diff_named_allele_dosage_sum": max_rel_named,
            "tolerance": SCORE_TOL, "agree": ok}


def compare_matrix(table, raw: Path, plink_ids: list[str]) -> dict:
    """Every cell of plink2's --export A (.raw: ALT counts, NA) against genotype_matrix (same site
    order; null for a missing call)."""
    import pyarrow as pa
    from pyarrow import csv

    theirs = csv.read_csv(raw, parse_options=csv.ParseOptions(delimiter="\t"),
                          convert_options=csv.ConvertOptions(null_values=["NA"], column_types={"IID": pa.string()}))
    col_of = {name.rsplit("_", 1)[0]: name for name in theirs.column_names[6:]}
    rows = {s: i for i, s in enumerate(theirs["IID"].to_pylist())}
    ours_ids = table["sample_id"].to_pylist()
    order = np.array([rows.get(s, -1) for s in ours_ids])
    absent = [v for v in plink_ids if v not in col_of]
    cells = mism = 0
    first = []
    if (order < 0).any() or len(rows) != len(ours_ids):
        return {"cells": 0, "mismatches": None, "samples_differ": True, "agree": False}
    for j, (vid, name) in enumerate(zip(plink_ids, table.column_names[1:])):
        if vid not in col_of:
            continue
        t = theirs[col_of[vid]].to_numpy(zero_copy_only=False).astype(np.float64)[order]  # null -> NaN
        o = table[name].to_numpy(zero_copy_only=False).astype(np.float64)
        bad = ~((t == o) | (np.isnan(t) & np.isnan(o)))
        cells += len(o)
        if bad.any():
            mism += int(bad.sum())
            for i in np.flatnonzero(bad)[:max(0, 5 - len(first))]:
                first.append({"sample": ours_ids[i], "site": name, "plink2": None if np.isnan(t[i]) else t[i],
                              "genolake": None if np.isnan(o[i]) else o[i]})
    return {"cells": cells, "mismatches": mism, "sites_not_exported": len(absent), "first_mismatches": first,
            "missing_cells": int(sum(table[c].null_count for c in table.column_names[1:])),
            "agree": mism == 0 and not absent and cells == len(plink_ids) * len(ours_ids)}


# ---------------------------------------------------------------- measurement

def time_ours(guard: LoadGuard, label: str, fn, repeat: int, warmup: int) -> tuple[dict, object]:
    for _ in range(warmup):
        fn()
    gc.collect()
    reset = reset_vmhwm()
    times, out = [], None

    def once(_attempt):
        t = time.perf_counter()
        res = fn()
        return time.perf_counter() - t, res

    others = 0.0
    for _ in range(repeat):
        (dt, out), oth, _w, _a, _wall = guard.run(label, once, measured_cpu=lambda _o: 0.0)
        times.append(dt)
        others += oth
    peak = vmhwm()
    return {**spread(times), "peak_rss_bytes": peak if reset else None, "others_cpu_s": round(others, 2)}, out


def time_peer(guard: LoadGuard, label: str, cmd: list[str], repeat: int, log) -> dict:
    runs = []
    for k in range(repeat):
        m, oth, _w, _a, _wall = guard.run(label, lambda _a: measure([cmd]), failed=lambda m: m.returncode != 0)
        if m.returncode != 0:
            return {"cmd": " ".join(cmd), "returncode": m.returncode, "error": f"{label} failed"}
        runs.append(m)
        log(f"[bench]   {label}: {m.wall_s:.2f} s")
    walls = [m.wall_s for m in runs]
    return {"cmd": " ".join(cmd), "returncode": 0, **spread(walls),
            "cpu_s": statistics.median(m.cpu_s for m in runs),
            "peak_rss_bytes": max((m.peak_rss_single_kernel_bytes or m.peak_rss_single_bytes) for m in runs)}


# ---------------------------------------------------------------- the run

def run(args, log) -> dict:
    import genolake
    from genolake.ml.prs import score
    from genolake.queries import genotype_matrix, select_sites

    if not shutil.which("plink2"):
        raise SystemExit("plink2 is not on PATH (make setup installs it)")
    vcf = Path(args.vcf).resolve()
    work = Path(tempfile.mkdtemp(prefix="genolake-bench-ml-", dir=args.work_dir))
    guard = LoadGuard(wait_idle_s=args.wait_idle, idle_below=args.idle_below, max_other_load=args.max_other_load,
                      retries=args.retries, log=log)
    result = {"benchmark": "ml", "started": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
              "lake": str(Path(args.lake).resolve()), "vcf": str(vcf), "vcf_bytes": vcf.stat().st_size,
              "work_dir": str(work), "threads": {"plink2": args.threads, "duckdb": "default (every core)"},
              "hardware": hardware(), "versions": {**versions(), "plink2": plink2_version()}, "git": git_state(),
              "repeat": args.repeat, "peer_repeat": args.peer_repeat, "warmup": args.warmup}
    try:
        t = time.perf_counter()
        lake = genolake.open_lake(args.lake)
        engine = genolake.connect(lake)
        result["connect_s"] = time.perf_counter() - t
        dataset = pick_dataset(engine, args.dataset)
        chrom = vcf_chrom(vcf)
        result.update(dataset=dataset, vcf_chrom=chrom)
        n_samples = genolake.sql(engine, f"SELECT count(*) AS n FROM samples WHERE dataset = '{dataset}'")["n"][0].as_py()
        result["samples"] = n_samples

        # .pgen conversion, timed apart (both (a) and (b) read it)
        log("[bench] plink2 --make-pgen ...")
        pgen = work / "cohort"
        result["plink2_make_pgen"] = time_peer(guard, "plink2 --make-pgen", plink2_cmd(
            vcf_source(vcf), args.threads, ["--make-pgen"], pgen), 1, log)
        pfile = ["--pfile", str(pgen)]

        # (a) PRS
        weights = work / "weights.txt"
        result["prs"] = prs = {"weights": write_weights(engine, dataset, chrom, weights, args.seed)}
        log(f"[bench] (a) PRS over {prs['weights']['weights']:,} sites ...")
        prs["genolake"], ours = time_ours(guard, "genolake score", lambda: score(engine, str(weights)),
                                          args.repeat, args.warmup)
        prs["matched"] = int(ours.schema.metadata[b"prs_matched"])
        log(f"[bench]   genolake score: {prs['genolake']['median_s']:.2f} s (median of {args.repeat})")
        score_args = ["--score", str(weights), "1", "2", "3", "header", "cols=+scoresums"]
        prs["plink2_vcf"] = time_peer(guard, "plink2 --vcf --score", plink2_cmd(
            vcf_source(vcf), args.threads, score_args, work / "prs_vcf"), args.peer_repeat, log)
        prs["plink2_pgen"] = time_peer(guard, "plink2 --pfile --score", plink2_cmd(
            pfile, args.threads, score_args, work / "prs_pgen"), args.peer_repeat, log)
        for key in ("plink2_vcf", "plink2_pgen"):
            if prs[key].get("returncode"):
                raise RuntimeError(f"{prs[key]['cmd']} failed")
        prs["check_vcf"] = compare_scores(ours, read_sscore(work / "prs_vcf.sscore"))
        prs["check_pgen"] = compare_scores(ours, read_sscore(work / "prs_pgen.sscore"))
        prs["ratio_plink2_vcf_over_genolake"] = prs["plink2_vcf"]["median_s"] / prs["genolake"]["median_s"]
        prs["ratio_plink2_pgen_over_genolake"] = prs["plink2_pgen"]["median_s"] / prs["genolake"]["median_s"]
        del ours
        gc.collect()

        # (b) ancestry matrix
        log(f"[bench] (b) genotype matrix, {args.sites:,} sites ...")
        result["matrix"] = mx = {"min_maf": args.min_maf, "spacing_bp": args.spacing_bp, "max_sites": args.sites}
        select = lambda: select_sites(engine, dataset=dataset, min_maf=args.min_maf, spacing_bp=args.spacing_bp,
                                      max_sites=args.sites)
        mx["genolake_select_sites"], sites = time_ours(guard, "select_sites", select, args.repeat, args.warmup)
        mx["sites"] = sites.num_rows
        mx["genolake_genotype_matrix"], table = time_ours(
            guard, "genotype_matrix", lambda: genotype_matrix(engine, sites, dataset=dataset), args.repeat, args.warmup)
        mx["genolake_median_s"] = mx["genolake_select_sites"]["median_s"] + mx["genolake_genotype_matrix"]["median_s"]
        plink_ids = [f"{chrom}:{p}:{r}:{a}" for p, r, a in zip(*(sites[c].to_pylist() for c in ("pos", "ref", "alt")))]
        ids = work / "ids.txt"
        ids.write_text("".join(f"{v}\n" for v in plink_ids))
        alleles = work / "alt.txt"  # count the ALT (plink2 counts REF by default)
        alleles.write_text("".join(f"{v} {a}\n" for v, a in zip(plink_ids, sites["alt"].to_pylist())))
        export = ["--extract", str(ids), "--export", "A", "--export-allele", str(alleles)]
        mx["plink2_vcf"] = time_peer(guard, "plink2 --vcf --export A", plink2_cmd(
            vcf_source(vcf), args.threads, export, work / "mx_vcf"), args.peer_repeat, log)
        mx["plink2_pgen"] = time_peer(guard, "plink2 --pfile --export A", plink2_cmd(
            pfile, args.threads, export, work / "mx_pgen"), args.peer_repeat, log)
        for key in ("plink2_vcf", "plink2_pgen"):
            if mx[key].get("returncode"):
                raise RuntimeError(f"{mx[key]['cmd']} failed")
        mx["check_vcf"] = compare_matrix(table, work / "mx_vcf.raw", plink_ids)
        mx["check_pgen"] = compare_matrix(table, work / "mx_pgen.raw", plink_ids)
        mx["ratio_plink2_vcf_over_genolake"] = mx["plink2_vcf"]["median_s"] / mx["genolake_median_s"]
        mx["ratio_plink2_pgen_over_genolake"] = mx["plink2_pgen"]["median_s"] / mx["genolake_median_s"]
        engine.close()
    except (RuntimeError, OSError) as err:
        result["error"] = str(err)
    # ru_maxrss since the last VmHWM reset (clear_refs resets both): the last measurement's
    result["process_ru_maxrss_since_last_reset_bytes"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    result["load"] = guard.summary()
    checks = [result.get("prs", {}).get("check_vcf"), result.get("prs", {}).get("check_pgen"),
              result.get("matrix", {}).get("check_vcf"), result.get("matrix", {}).get("check_pgen")]
    result["valid"] = "error" not in result and all(c and c["agree"] for c in checks)
    ratio = result.get("prs", {}).get("ratio_plink2_vcf_over_genolake")
    result["targets"] = [{"name": "prs_vs_plink2_vcf", "what": TARGETS["prs_vs_plink2_vcf"][0],
                          "value": ratio, "limit": TARGETS["prs_vs_plink2_vcf"][1],
                          "pass": bool(result["valid"] and ratio and ratio >= TARGETS["prs_vs_plink2_vcf"][1])}]
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)
    return result


# ---------------------------------------------------------------- report

def _mib(b) -> str:
    return f"{b / MiB:,.0f} MiB" if b else "n/a"


def markdown(r: dict) -> str:
    hw, v = r["hardware"], r["versions"]
    out = [f"# ML benchmark: {r['name']}", "",
           f"- Result: {'VALID' if r['valid'] else 'INVALID'}" + (f" (error: {r['error']})" if r.get("error") else ""),
           f"- Lake: `{r['lake']}` dataset `{r.get('dataset')}`, {r.get('samples', 0):,} samples; VCF `{r['vcf']}` "
           f"({r['vcf_bytes'] / 1e6:.1f} MB)",
           f"- Machine: {hw['nproc']} CPUs ({hw['cpu_model']}), {hw['ram_GiB']} GiB RAM; python {v['python']}, "
           f"duckdb {v.get('duckdb')}, {v.get('plink2')}",
           f"- Threads: plink2 `--threads {r['threads']['plink2']}`, DuckDB {r['threads']['duckdb']}; "
           f"genolake repeat {r['repeat']} (warmup {r['warmup']}), plink2 repeat {r['peer_repeat']}; "
           f"connect {r.get('connect_s', 0):.2f} s (apart)",
           f"- Git: {(r['git']['commit'] or '')[:12]}; started {r['started']}; other load "
           f"{r['load']['contention_cpu_s']} CPU-s, {r['load']['waited_for_idle_s']} s waited for idle", ""]
    row = lambda what, m, extra="": (f"| {what} | {m['median_s']:.2f} | {m.get('min_s', 0):.2f}–{m.get('max_s', 0):.2f} | "
                                     f"{_mib(m.get('peak_rss_bytes'))} | {extra} |")
    out += ["| measurement | median s | min–max s | peak RSS | |", "|---|---:|---:|---:|---|"]
    if "plink2_make_pgen" in r and "median_s" in r["plink2_make_pgen"]:
        out.append(row("plink2 --vcf --make-pgen (conversion, apart)", r["plink2_make_pgen"]))
    p = r.get("prs", {})
    if "genolake" in p:
        n = p["weights"]["weights"]
        out.append(row(f"(a) genolake `score` ({n:,} weights, file parsed)", p["genolake"], f"{p['matched']:,} matched"))
        for key, what in (("plink2_vcf", "plink2 --vcf --score"), ("plink2_pgen", "plink2 --pfile --score")):
            if "median_s" in p.get(key, {}):
                out.append(row(f"(a) {what}", p[key], f"plink2 / genolake = {p[key]['median_s'] / p['genolake']['median_s']:.2f}"))
    m = r.get("matrix", {})
    if "genolake_genotype_matrix" in m:
        out.append(row(f"(b) genolake `select_sites` ({m['sites']:,} sites)", m["genolake_select_sites"]))
        out.append(row(f"(b) genolake `genotype_matrix` ({r.get('samples', 0):,} x {m['sites']:,})",
                       m["genolake_genotype_matrix"], f"both: {m['genolake_median_s']:.2f} s"))
        for key, what in (("plink2_vcf", "plink2 --vcf --extract --export A"),
                          ("plink2_pgen", "plink2 --pfile --extract --export A")):
            if "median_s" in m.get(key, {}):
                out.append(row(f"(b) {what}", m[key], f"plink2 / genolake = {m[key]['median_s'] / m['genolake_median_s']:.2f}"))
    peaks = [x.get("peak_rss_bytes") or 0 for x in (p.get("genolake", {}), m.get("genolake_select_sites", {}),
                                                     m.get("genolake_genotype_matrix", {}))]
    out += ["", f"Peak RSS of genolake is this process's VmHWM over each measurement's calls (reset before it; it "
            f"includes the engine and what earlier steps left allocated); largest {_mib(max(peaks))}. plink2's is its "
            "own ru_maxrss (GNU time).", ""]
    for label, c in (("(a) vs plink2 --vcf", p.get("check_vcf")), ("(a) vs plink2 --pfile", p.get("check_pgen"))):
        if c:
            out.append(f"- Agreement {label}: {'PASS' if c['agree'] else 'FAIL'} — {c['samples']:,} samples, ALLELE_CT "
                       f"mismatches {c['allele_ct_mismatches']}, max relative difference SCORE1_SUM "
                       f"{c['max_rel_diff_score']:.2e}, NAMED_ALLELE_DOSAGE_SUM {c['max_rel_diff_named_allele_dosage_sum']:.2e} "
                       f"(plink2 prints 6 digits: tolerance {c['tolerance']:.1e})")
    for label, c in (("(b) vs plink2 --vcf", m.get("check_vcf")), ("(b) vs plink2 --pfile", m.get("check_pgen"))):
        if c:
            out.append(f"- Agreement {label}: {'PASS' if c['agree'] else 'FAIL'} — {c['cells']:,} cells compared, "
                       f"{c['mismatches']} mismatches")
    out += ["", "| target | value | limit | |", "|---|---:|---:|---|"]
    for t in r["targets"]:
        out.append(f"| {t['what']} | {t['value'] or 0:.2f} | {t['limit']:.0f} | {'PASS' if t['pass'] else 'FAIL'} |")
    return "\n".join(out) + "\n"


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m genolake.benchmarks.ml", description=__doc__.split("\n\n")[0])
    p.add_argument("--lake", required=True, help="an existing lake (read only)")
    p.add_argument("--vcf", required=True, help="the VCF the dataset was ingested from (plink2's input)")
    p.add_argument("--dataset", help="the dataset (default: the lake's only one)")
    p.add_argument("--name", help="result name (default: the lake folder's name)")
    p.add_argument("--out", help="folder for ml-<name>.json/.md " + OUT_HELP.replace("folder for the results ", ""))
    p.add_argument("--work-dir", help="where weights and plink2's files go (default: the system temp folder)")
    p.add_argument("--threads", type=int, default=2, help="plink2 --threads (default 2)")
    p.add_argument("--repeat", type=int, default=3, help="timed repeats of each genolake call (default 3)")
    p.add_argument("--warmup", type=int, default=1, help="untimed genolake calls first (default 1)")
    p.add_argument("--peer-repeat", type=int, default=2, help="timed repeats of each plink2 command (default 2)")
    p.add_argument("--sites", type=int, default=10_000, help="(b) sites in the matrix (default 10000)")
    p.add_argument("--min-maf", type=float, default=0.05, help="(b) select_sites min_maf (default 0.05)")
    p.add_argument("--spacing-bp", type=int, default=2_000, help="(b) select_sites spacing_bp (default 2000)")
    p.add_argument("--seed", type=int, default=22, help="seed of the weights (default 22)")
    p.add_argument("--wait-idle", type=float, default=120, metavar="S")
    p.add_argument("--idle-below", type=float, default=0.15, metavar="CORES")
    p.add_argument("--max-other-load", type=float, default=0.10, metavar="CORES")
    p.add_argument("--retries", type=int, default=1)
    p.add_argument("--keep", action="store_true", help="keep the work folder")
    p.add_argument("--quiet", action="store_true")
    return p


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    log = log_to(args.quiet)
    result = run(args, log)
    result["name"] = args.name or Path(args.lake).resolve().name
    md = markdown(result)
    json_path, md_path = write_results(args.out, "ml", result, md)
    if not args.quiet:
        print(md)
        print(f"wrote {json_path} and {md_path}")
    if result.get("error"):
        return 3
    return 0 if result["valid"] else 2


if __name__ == "__main__":
    raise SystemExit(main())
