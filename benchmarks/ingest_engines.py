"""The ingest benchmark's engine axis: the same VCF, in the same run, through

- `local`: `genolake.ingest_vcf(lake, VCF, dataset, engine="local")` (htslib reader, worker processes);
- `spark`: the same call with `engine="spark"` (Hail `import_vcf` + Spark transforms, Parquet out,
  committed by the pipeline); reported "not available" while no engine is registered under that name;
- `hail`: the peer "plain Hail": `hl.import_vcf(VCF, reference_genome=None, force_bgz=...)` ->
  `mt.entries()` -> `Table.to_spark()` -> `DataFrame.write.partitionBy("s").parquet(...)`, no
  transforms (Hail has no Parquet writer of its own; `to_spark` is how Hail data becomes Parquet).

Each engine runs in its own subprocess (`python -m genolake.benchmarks.ingest_engines child ...`),
so a Spark/Hail run gets a fresh JVM (through `genolake.lake.spark_session.get_session()`, local[*])
and its memory is its own: the peak is the summed RSS of the whole process tree (python, the
driver JVM that pyspark starts, the local engine's workers), sampled with psutil/procfs every
`interval` s. Wall time is the whole process (interpreter start, imports, JVM start-up, the work,
shutdown); the child reports its phases (imports, session start-up = JVM + Spark context, the
work) so start-up is also given apart. A figure counts only when the output was checked: the
local and spark lakes' AC/AN of every split allele against `bcftools +fill-tags` (the ingest
benchmark's oracle), Hail's entries row count against records x samples.

Results: `engines` in ingest-<name>.json, and ingest-engines-<name>.json/.md in --out; the bar plot
ingest-engines.png shows the wall time per engine for every scale whose ingest-engines-*.json is
in --out.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import time
from pathlib import Path

ENGINE_NAMES = ("local", "spark", "hail")
DATASET = "bench"
NOT_AVAILABLE = "not available"
LAUNCH_ENV = "GENOLAKE_BENCH_LAUNCHED_AT"
JVM_SAMPLE_INTERVAL = 0.5  # s between RSS samples of a Spark/Hail process tree (runs of minutes)


# ---------------------------------------------------------------- choosing engines

def default_engines() -> list[str]:
    """local, plus spark and hail when Hail/pyspark are installed."""
    from genolake.lake.spark_session import spark_available

    return ["local", "spark", "hail"] if spark_available() else ["local"]


def parse_engines(text: str | None) -> list[str]:
    """`--engines` text: a comma list of local, spark, hail; 'auto' (or nothing) for the default,
    'none' for no engine axis."""
    if text is None or text.strip() in ("", "auto"):
        return default_engines()
    if text.strip() == "none":
        return []
    items = [x.strip() for x in text.split(",") if x.strip()]
    bad = [x for x in items if x not in ENGINE_NAMES]
    if bad:
        raise SystemExit(f"--engines: unknown engine {', '.join(bad)}; known: {', '.join(ENGINE_NAMES)} (or auto, none)")
    return list(dict.fromkeys(items))


def spark_engine_registered() -> bool:
    from genolake.etl.engines import ENGINES

    return "spark" in ENGINES


def is_bgzf(path: Path) -> bool:
    """BGZF: a gzip member with the 'BC' extra subfield (what Hail's force_bgz expects)."""
    with open(path, "rb") as fh:
        head = fh.read(18)
    return len(head) >= 16 and head[:2] == b"\x1f\x8b" and head[3] & 4 and head[12:14] == b"BC"


# ---------------------------------------------------------------- the child process (one engine)

def _child(engine: str, vcf: str, target: str, result_path: str, workers: int | None) -> int:
    """Run one engine once, in this fresh process; write its phases as JSON to `result_path`."""
    t_start = time.perf_counter()
    out: dict = {"engine": engine, "pid": os.getpid()}
    launched = os.environ.get(LAUNCH_ENV)  # the parent's clock just before it started this process
    if launched:
        out["interpreter_start_s"] = max(0.0, time.time() - float(launched))  # interpreter + module imports

    def write(**extra):
        out.update(extra)
        out["in_process_s"] = time.perf_counter() - t_start
        Path(result_path).write_text(json.dumps(out, default=str))

    if engine == "spark":
        from genolake.etl.engines import ENGINES

        if "spark" not in ENGINES:
            write(available=False, reason=f"{NOT_AVAILABLE}: no ETL engine named 'spark' is registered "
                  f"(etl.engines.ENGINES has {', '.join(sorted(ENGINES))})")
            return 0
    if engine in ("spark", "hail"):
        from genolake.lake.spark_session import get_session, spark_available

        if not spark_available():
            write(available=False, reason=f"{NOT_AVAILABLE}: Hail/pyspark are not installed (pip install 'genolake[spark]')")
            return 0
        t = time.perf_counter()
        spark = get_session()
        spark.range(1).count()  # the JVM, the Spark context and Hail's backend are up
        out["session_start_s"] = time.perf_counter() - t
    t_imports = time.perf_counter()
    import genolake

    out["import_s"] = time.perf_counter() - t_imports
    t = time.perf_counter()
    if engine in ("local", "spark"):
        lake = genolake.init_lake(target)
        kw = {"workers": workers} if workers and engine == "local" else {}
        res = genolake.ingest_vcf(lake, vcf, DATASET, engine=engine, **kw)
        out["work_s"] = time.perf_counter() - t
        out["rows"] = {k: v for k, v in (res.rows or {}).items() if isinstance(v, (int, float))}
        out["status"] = res.status
    else:
        import hail as hl

        mt = hl.import_vcf(vcf, reference_genome=None, force_bgz=vcf.endswith(".gz") and is_bgzf(Path(vcf)))
        df = mt.entries().to_spark()
        df.write.mode("overwrite").partitionBy("s").parquet(target)
        out["work_s"] = time.perf_counter() - t
        out["hail"] = hl.version()
    t = time.perf_counter()
    if engine in ("spark", "hail"):
        from genolake.lake.spark_session import stop_session

        stop_session()
        out["session_stop_s"] = time.perf_counter() - t
    write(available=True)
    return 0


# ---------------------------------------------------------------- the parent (measuring)

def parquet_rows(folder: Path) -> tuple[int, int, int]:
    """(rows, files, bytes) of the Parquet files under `folder` (from their footers)."""
    import pyarrow.parquet as pq

    rows = files = size = 0
    for p in Path(folder).rglob("*.parquet"):
        rows += pq.ParquetFile(p).metadata.num_rows
        files += 1
        size += p.stat().st_size
    return rows, files, size


def run_one(engine: str, vcf: Path, work: Path, *, interval: float, workers: int | None, oracle_tsv: Path | None,
            records: int | None, samples: int | None, timed=None, log=print) -> dict:
    """Measure one engine in its own process; check its output; return its row of the axis."""
    from .ingest import check_against_oracle, measure

    target = work / f"engine-{engine}"
    result_path = work / f"engine-{engine}.json"
    shutil.rmtree(target, ignore_errors=True)
    result_path.unlink(missing_ok=True)
    cmd = [sys.executable, "-m", "genolake.benchmarks.ingest_engines", "child", engine, str(vcf), str(target),
           str(result_path)] + ([str(workers)] if workers else [])
    row: dict = {"engine": engine, "cmd": " ".join(cmd)}
    if engine == "spark" and not spark_engine_registered():
        row.update(available=False, valid=None, note=f"{NOT_AVAILABLE}: no ETL engine named 'spark' is registered yet")
        log(f"[bench]   spark: {row['note']}")
        return row
    log(f"[bench] engine {engine}: ingest in a fresh process ...")
    def fresh(_attempt):  # a contended attempt is measured again from nothing
        shutil.rmtree(target, ignore_errors=True)
        result_path.unlink(missing_ok=True)

    def run(_attempt):
        os.environ[LAUNCH_ENV] = repr(time.time())
        try:  # a JVM's tree is sampled less often: walking its threads and smaps costs CPU the run needs
            return measure([cmd], interval=interval if engine == "local" else max(interval, JVM_SAMPLE_INTERVAL))
        finally:
            os.environ.pop(LAUNCH_ENV, None)
    m = timed(f"engine {engine}", run, prepare=fresh) if timed else run(0)
    child = json.loads(result_path.read_text()) if result_path.is_file() else {}
    row.update(wall_s=m.wall_s, cpu_s=m.cpu_s, peak_rss_tree_bytes=m.peak_rss_tree_bytes,
               peak_pss_tree_bytes=m.peak_pss_tree_bytes, peak_rss_by_role_bytes=m.peak_rss_by_role_bytes,
               max_processes=m.max_processes, returncode=m.returncode, others_cpu_s=m.others_cpu_s,
               timeline=m.timeline, phases=child)
    if m.returncode != 0 or not child:
        tail = (m.stderr.strip().splitlines() or ["(no output)"])[-1]
        row.update(available=True, failed=True, valid=None, note=f"failed (exit {m.returncode}): {tail[:300]}",
                   stderr=m.stderr[-3000:])
        log(f"[bench]   {engine} failed: {tail[:300]}")
        return row
    if child.get("available") is False:
        row.update(available=False, valid=None, note=child.get("reason", NOT_AVAILABLE))
        log(f"[bench]   {engine}: {row['note']}")
        return row
    row["available"] = True
    row["startup_s"] = sum(child.get(k) or 0 for k in ("interpreter_start_s", "import_s", "session_start_s"))
    row["jvm_startup_s"] = child.get("session_start_s")
    row["work_s"] = child.get("work_s")
    row["jvm_stop_s"] = child.get("session_stop_s")
    if engine in ("local", "spark"):
        if oracle_tsv is not None:
            chk = check_against_oracle(target, oracle_tsv, DATASET)
            row["check"] = {k: chk[k] for k in ("valid", "oracle_split_alleles", "lake_variant_rows", "mismatches",
                                                "mismatches_by_kind", "examples")}
            row["valid"] = chk["valid"]
        else:
            row["valid"] = None
        row["output"] = dict(zip(("rows", "files", "bytes"), parquet_rows(target / "curated")))
    else:
        rows, files, size = parquet_rows(target)
        expected = records * samples if records is not None and samples is not None else None
        row["output"] = {"rows": rows, "files": files, "bytes": size}
        row["check"] = {"entries_rows": rows, "expected_records_x_samples": expected,
                        "valid": expected is not None and rows == expected}
        row["valid"] = row["check"]["valid"] if expected is not None else None
    log(f"[bench]   {engine}: {m.wall_s:.1f} s wall (start-up {row['startup_s']:.1f} s"
        + (f", JVM {row['jvm_startup_s']:.1f} s" if row.get("jvm_startup_s") else "")
        + f"), peak RSS tree {m.peak_rss_tree_bytes / 2**20:.0f} MiB; "
        + ("valid" if row["valid"] else "not checked" if row["valid"] is None else "INVALID"))
    shutil.rmtree(target, ignore_errors=True)
    return row


def _ratio(rows: dict, a: str, b: str, key: str):
    ra, rb = rows.get(a) or {}, rows.get(b) or {}
    if not (ra.get("available") and rb.get("available") and ra.get(key) and rb.get(key)):
        return None
    return ra[key] / rb[key]


def run_axis(vcf: Path, name: str, engines: list[str], work: Path, *, interval: float = 0.05,
             workers: int | None = None, oracle_tsv: Path | None = None, records: int | None = None,
             samples: int | None = None, timed=None, log=print, scale: str | None = None) -> dict:
    """Every engine of `engines` on `vcf`, one fresh process each; rows and the ratios."""
    work.mkdir(parents=True, exist_ok=True)
    rows = {}
    for engine in engines:
        rows[engine] = run_one(engine, vcf, work, interval=interval, workers=workers, oracle_tsv=oracle_tsv,
                               records=records, samples=samples, timed=timed, log=log)
    ratios = {}
    for a, b in (("spark", "hail"), ("hail", "local"), ("spark", "local")):
        for key, label in (("wall_s", "wall"), ("peak_rss_tree_bytes", "peak_rss"), ("work_s", "work")):
            r = _ratio(rows, a, b, key)
            if r is not None:
                ratios[f"{a}_over_{b}_{label}"] = r
    return {"name": name, "scale": scale, "vcf": str(vcf), "records": records, "samples": samples,
            "engines": engines, "rows": rows, "ratios": ratios,
            "failed": [e for e, r in rows.items() if r.get("failed")],
            "valid": all(r.get("valid") is not False for r in rows.values())}


# ---------------------------------------------------------------- reporting

def _gib(n):
    return "–" if not n else f"{n / 2**30:.2f} GiB" if n >= 2**30 else f"{n / 2**20:.0f} MiB"


def _s(x):
    return "–" if x is None else f"{x:.1f} s"


def markdown(axis: dict) -> str:
    lines = [f"## Ingest engines: {axis['name']}", "",
             f"`{axis['vcf']}`: {axis.get('samples') or '?'} samples, {axis.get('records') or '?'} records. "
             "Each engine in its own process; wall = the whole process (start-up included); "
             "peak RSS = summed RSS of the process tree (python + JVM + workers); other load = CPU-s used meanwhile "
             "by processes outside the measurement (large: the wall time is not trustworthy).", "",
             "| engine | wall | start-up (JVM) | work | JVM stop | peak RSS (tree) | other load CPU-s | checked |",
             "|---|---:|---:|---:|---:|---:|---:|---|"]
    for engine, r in axis["rows"].items():
        if not r.get("available"):
            lines.append(f"| {engine} | {r.get('note', NOT_AVAILABLE)} | | | | | | |")
            continue
        check = ("FAILED" if r.get("failed") else "valid" if r.get("valid") else
                 "not checked" if r.get("valid") is None else "**INVALID**")
        if r.get("note"):
            check += f" ({r['note']})"
        jvm = f" ({_s(r.get('jvm_startup_s'))})" if r.get("jvm_startup_s") else ""
        lines.append(f"| {engine} | {_s(r.get('wall_s'))} | {_s(r.get('startup_s'))}{jvm} | {_s(r.get('work_s'))} "
                     f"| {_s(r.get('jvm_stop_s')) if r.get('jvm_stop_s') is not None else ''} "
                     f"| {_gib(r.get('peak_rss_tree_bytes'))} "
                     f"| {'' if r.get('others_cpu_s') is None else format(r['others_cpu_s'], '.1f')} | {check} |")
    if axis["ratios"]:
        lines += ["", "Ratios: " + ", ".join(f"{k.replace('_over_', '/').replace('_', ' ')} {v:.2f}x"
                                             for k, v in axis["ratios"].items())]
    return "\n".join(lines) + "\n"


def plot(axes: list[dict], path: Path) -> Path | None:
    """Bar plot: wall time per engine (bars) per scale (groups); the start-up part hatched."""
    try:  # matplotlib's object API (as benchmarks/suite/report.py): no pyplot, no global backend switch
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        return None
    names = [a["name"] for a in axes]
    engines = [e for e in ENGINE_NAMES if any(e in a["rows"] for a in axes)]
    fig = Figure(figsize=(max(5, 1.8 * len(names) + 2), 3.8))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    width = 0.8 / max(1, len(engines))
    colors = {"local": "#4c72b0", "spark": "#dd8452", "hail": "#55a868"}
    for i, engine in enumerate(engines):
        for j, a in enumerate(axes):
            r = a["rows"].get(engine) or {}
            x = j + (i - (len(engines) - 1) / 2) * width
            if not r.get("available") or not r.get("wall_s"):
                if engine in a["rows"]:
                    ax.text(x, 0, "n/a", ha="center", va="bottom", fontsize=7, rotation=90)
                continue
            ax.bar(x, r["wall_s"], width, color=colors.get(engine), label=engine)
            if r.get("startup_s"):
                ax.bar(x, min(r["startup_s"], r["wall_s"]), width, color="none", edgecolor="white", hatch="//",
                       linewidth=0)
            ax.text(x, r["wall_s"], f"{r['wall_s']:.0f}s" if r["wall_s"] >= 10 else f"{r['wall_s']:.1f}s",
                    ha="center", va="bottom", fontsize=7)
    handles, labels = ax.get_legend_handles_labels()
    seen = {}
    for h, l in zip(handles, labels):
        seen.setdefault(l, h)
    ax.legend(seen.values(), seen.keys(), fontsize=8, title="engine (hatched: start-up)", title_fontsize=7)
    ax.set_xticks(range(len(names)))
    ax.set_xticklabels([f"{a['name']}\n{a.get('samples') or '?'} samples" for a in axes], fontsize=8)
    ax.set_ylabel("ingest wall time, whole process (s)")
    ax.set_title("Ingest of the same VCF per engine", fontsize=10)
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=120)
    return path


def write_reports(axis: dict, out: Path) -> dict:
    """ingest-engines-<name>.json/.md, and ingest-engines.png over every scale's JSON in `out`."""
    out.mkdir(parents=True, exist_ok=True)
    jpath, mpath = out / f"ingest-engines-{axis['name']}.json", out / f"ingest-engines-{axis['name']}.md"
    jpath.write_text(json.dumps(axis, indent=2, default=str) + "\n")
    axes = []
    for p in sorted(out.glob("ingest-engines-*.json")):
        try:
            axes.append(json.loads(p.read_text()))
        except (OSError, ValueError):
            continue
    order = {"tiny": 0, "small": 1, "medium": 1, "chr22-5mb": 2, "chr22": 3}
    axes.sort(key=lambda a: (order.get(a.get("name"), 9), a.get("samples") or 0, a.get("name") or ""))
    png = plot(axes, out / "ingest-engines.png")
    md = markdown(axis) + (f"\n![wall time per engine per scale]({png.name})\n" if png else "")
    mpath.write_text(md)
    return {"json": jpath, "md": mpath, "png": png}


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["child"] and len(argv) in (5, 6):
        return _child(argv[1], argv[2], argv[3], argv[4], int(argv[5]) if len(argv) == 6 else None)
    print("the engine axis runs from the ingest benchmark: python -m genolake.benchmarks.ingest --engines local,spark,hail",
          file=sys.stderr)
    return 2


if __name__ == "__main__":
    raise SystemExit(main())
