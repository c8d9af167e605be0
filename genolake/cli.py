"""The `genolake` command: parse, call the public API, print. No logic lives here."""

from __future__ import annotations

import argparse
import json
import os
import sys

import genolake
from genolake import cluster_cli, ml_cli, query_cli
from genolake.lake import ConfigError, GenolakeError, LakeConfig, ScanLimits
from genolake.lake.errors import exit_code_table, one_line

MAX_FILE_BYTES_ENV = "GENOLAKE_MAX_FILE_BYTES"

_EPILOG = f"""environment:
  GENOLAKE_ROOT          lake root when --root is not given (default ./genolake-data)
  {MAX_FILE_BYTES_ENV} refuse (quarantine) incoming files larger than this many bytes
                         (default {ScanLimits().max_file_bytes:,}); e.g. 1000000000 for 1 GB

queries (read-only; `genolake query --help`):
  genolake query af --rsid rs671,rs1333049 --by super_pop
  genolake query af --region 22:16000000-17000000 --cohort 'super_pop=EAS;sex=female' --format csv
  genolake query carriers 22-16050075-A-G | query sample HG00403 | query annotate --gene TP53
  genolake query drug-response --top 10
  genolake sql "SELECT super_population, count(*) FROM samples GROUP BY 1"

exit status:
{exit_code_table()}"""


class _Parser(argparse.ArgumentParser):
    """A usage mistake is one line too: the problem and where to find help, no usage block."""

    def error(self, message):
        self.exit(2, f"genolake: error: {self.prog}: {_one_line(message)} (see `{self.prog} --help`)\n")


def _limits() -> ScanLimits:
    raw = os.environ.get(MAX_FILE_BYTES_ENV)
    if raw is None or raw.strip() == "":
        return ScanLimits()
    try:
        value = int(raw.replace("_", ""))
    except ValueError:
        value = 0
    if value <= 0:
        raise ConfigError(f"{MAX_FILE_BYTES_ENV}={raw!r} is not a positive number of bytes")
    return ScanLimits(max_file_bytes=value)


def _root_config(args) -> LakeConfig:
    return LakeConfig.from_env(args.root, tenant=getattr(args, "tenant", None) or "default", limits=_limits())


def _print_rows(rows: list[dict], columns: list[str]) -> None:
    if not rows:
        print("(none)")
        return
    text = [[("" if r.get(c) is None else str(r.get(c))) for c in columns] for r in rows]
    widths = [max(len(c), *(len(t[i]) for t in text)) for i, c in enumerate(columns)]
    print("  ".join(c.ljust(w) for c, w in zip(columns, widths)).rstrip())
    for r, t in zip(rows, text):
        print("  ".join(v.ljust(w) for v, w in zip(t, widths)).rstrip())
        if r.get("_error"):  # a run's error on its own line, under the run
            print(f"    error: {r['_error']}")


def _short(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def _progress(args) -> bool:
    if args.progress is not None:
        return args.progress
    return sys.stderr.isatty()


def cmd_init(args):
    lake = genolake.init_lake(args.root)
    print(f"lake ready at {lake.root}")


def _print_ingest(res) -> None:
    if res.status == "unchanged":
        print(f"unchanged: {res.source} (sha256 {res.sha256[:12]}…) was ingested by run {res.previous_run}; nothing to do")
        return
    counts = {k: v for k, v in res.rows.items() if isinstance(v, int) and not isinstance(v, bool)}
    rows = ", ".join(f"{v:,} {k.replace('_', ' ')}" for k, v in counts.items() if k != "parts")
    print(f"ingested {res.source} in {res.seconds:.1f}s (run {res.run_id})")
    print(f"  rows: {rows or 'none'}")
    timings = res.rows.get("timings")
    if isinstance(timings, dict) and timings:
        print("  time: " + ", ".join(f"{k.removesuffix('_s').replace('_', ' ')} {v:.2f} s" for k, v in timings.items()
                                     if isinstance(v, (int, float))))
    print(f"  stored: {res.stored_path}")
    print("  tables: " + ", ".join(f"{k}@v{v}" for k, v in res.versions.items()))
    for w in res.warnings[:20]:
        print(f"  warning: {w}")
    if len(res.warnings) > 20:
        print(f"  … {len(res.warnings) - 20} more warnings: `genolake catalog runs --json`")


def cmd_ingest_vcf(args):
    res = genolake.ingest_vcf(_root_config(args), args.file, args.dataset, panel=args.panel, tenant=args.tenant,
                              workers=args.workers, progress=_progress(args), replace=args.replace,
                              assembly=args.assembly, engine=_engine(args))
    _print_ingest(res)


def cmd_ingest_clinvar(args):
    _print_ingest(genolake.ingest_clinvar(_root_config(args), args.file, tenant=args.tenant, progress=_progress(args),
                                          engine=_engine(args)))


def cmd_ingest_panel(args):
    _print_ingest(genolake.ingest_panel(_root_config(args), args.file, args.dataset, tenant=args.tenant,
                                        engine=_engine(args)))


def _engine(args):
    """The ETL engine by name; --master is the Spark master of the spark engine."""
    from genolake.etl.engines import get_engine

    if args.master and (args.engine or "local") != "spark":
        raise genolake.ConfigError("--master is the Spark master of --engine spark; add --engine spark")
    return get_engine(args.engine, master=args.master) if args.master else args.engine


def _main_count(rows: dict):
    """The one number a run listing shows: records read (VCF), ClinVar rows, or samples (panel)."""
    for key in ("records", "clinvar", "samples"):
        if isinstance(rows.get(key), int):
            return rows[key]
    return None


def cmd_catalog(args):
    if args.action == "register":  # genolake/glue_cli.py: the tables into the AWS Glue catalog
        from genolake.glue_cli import cmd_catalog_register

        cmd_catalog_register(args)
        return
    lake = genolake.open_lake(args.root)
    cat = lake.catalog
    args.json = args.json or args.format == "json"
    if args.action == "list":
        rows = [t.__dict__ for t in cat.tables()]
        if args.json:
            print(json.dumps(rows, indent=2))
        else:
            _print_rows([{**r, "partition_by": ",".join(r["partition_by"]) or "-"} for r in rows],
                        ["name", "zone", "delta_version", "num_files", "num_rows", "size_bytes", "partition_by"])
    elif args.action == "show":
        if not args.table:
            raise genolake.ConfigError("`catalog show` needs a table name (see `genolake catalog list`)")
        t = cat.table(args.table)
        if args.json:
            print(json.dumps(t.__dict__, indent=2))
            return
        print(f"table:          {t.name}")
        print(f"zone:           {t.zone}")
        print(f"location:       {t.location}")
        print(f"delta version:  {t.delta_version}")
        print(f"partitioned by: {', '.join(t.partition_by) or '-'}")
        print(f"sorted by:      {', '.join(t.sort_by) or '-'}")
        print(f"files:          {t.num_files}")
        print(f"rows:           {t.num_rows}")
        print(f"size bytes:     {t.size_bytes}")
        print(f"updated:        {t.updated_at}")
        print(f"description:    {t.description}")
        print("schema:")
        fields = t.schema.get("fields", [])
        width = max((len(f["name"]) for f in fields), default=0)
        for f in fields:
            part = "  (partition)" if f["name"] in t.partition_by else ""
            null = "" if f["nullable"] else " not null"
            print(f"  {f['name'].ljust(width)}  {f['type']}{null}{part}")
    elif args.action == "runs":
        runs = cat.runs(limit=args.limit)
        if args.json:
            print(json.dumps([r.__dict__ for r in runs], indent=2))
        else:
            # fits 100 columns: the full record (paths, checksum, error text) is in `catalog runs --format json`
            _print_rows([{"run": r.run_id, "_error": _short(_one_line((r.error or "").replace(
                              os.path.dirname(r.source_path or "") + os.sep, "")), 88) if r.error else None, "kind": r.kind, "dataset": r.dataset or "-", "status": r.status,
                          "started": (r.started_at or "")[5:16].replace("T", " "),
                          "rows": None if _main_count(r.rows) is None else f"{_main_count(r.rows):,}",
                          "warn": len(r.warnings) or None, "file": _short(os.path.basename(r.source_path or ""), 16)}
                         for r in runs], ["run", "kind", "dataset", "status", "started", "rows", "warn", "file"])
    elif args.action == "history":
        entries = cat.history(limit=args.limit)
        if args.json:
            print(json.dumps([e.__dict__ for e in entries], indent=2))
        elif not entries:
            print(f"no published snapshots yet in {lake.root}: ingest a file (or `genolake catalog crawl`) first")
        else:
            from genolake.lake.schemas import ALL_TABLES

            order = {name: i for i, name in enumerate(ALL_TABLES)}

            def changed(e) -> str:
                parts = [f"{t} v{v}" for t, v in sorted(e.changed.items(), key=lambda kv: (order.get(kv[0], 99), kv[0]))]
                return ", ".join(parts + [f"{t} removed" for t in e.removed]) or "-"

            _print_rows([{"snapshot": f"{e.number} *" if e.current else str(e.number),
                          "published": (e.published_at or "")[:16].replace("T", " "), "run": e.run_id or "-",
                          "kind": e.kind or ("crawl" if e.run_id is None else "-"), "dataset": e.dataset or "-",
                          "changed": changed(e)} for e in entries],
                        ["snapshot", "published", "run", "kind", "dataset", "changed"])
            print("* the published snapshot queries read; `genolake query ... --as-of N` reads snapshot N")
    elif args.action == "crawl":
        with lake.ingest_lock():  # never publish what an interrupted ingest left half-done
            lake.recover(sweep=True)
            found = cat.crawl(lake.root)
        print("registered: " + (", ".join(found) or "no tables on disk"))
    elif args.action == "ddl":
        from genolake.lake.catalog import athena_ddl

        tables = cat.tables()
        if not tables:
            raise genolake.LakeStateError(f"no tables in the catalog of {lake.root}: ingest a file "
                                          "(or `genolake catalog crawl`) first")
        print(athena_ddl(tables, database=args.database, location_prefix=args.location_prefix), end="")


def cmd_quarantine(args):
    from genolake.lake import quarantine

    lake = genolake.open_lake(args.root)
    if args.action == "list":
        entries = quarantine.list_quarantined(lake.zones)
        if args.format == "json":
            print(json.dumps([{"id": e.entry_id, "tenant": e.tenant, "file": str(e.file) if e.file else None,
                               "reason": e.reason} for e in entries], indent=2, default=str))
            return
        _print_rows([{"id": e.entry_id, "tenant": e.tenant, "file": e.file.name if e.file else None,
                      "problem": (e.reason or {}).get("message")} for e in entries], ["id", "tenant", "file", "problem"])
    else:
        if not args.id:
            raise genolake.ConfigError("`quarantine show` needs an entry id (see `genolake quarantine list`)")
        e = quarantine.show(lake.zones, args.id)
        print(json.dumps(e.reason, indent=2))


def cmd_simulate(args):
    res = genolake.simulate(args.out, n_samples=args.samples, length_bp=args.length, seed=args.seed,
                            progress=_progress(args))
    print(f"simulated {res.n_samples} samples x {res.n_sites} sites")
    print(f"  vcf: {res.vcf}\n  panel: {res.panel}\n  clinvar: {res.clinvar}")


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="genolake", description="Local-first genomics data lake.", epilog=_EPILOG,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--version", action="version", version=f"genolake {genolake.__version__}")
    p.add_argument("--root", help="lake root (default: $GENOLAKE_ROOT or ./genolake-data)")
    p.add_argument("--progress", dest="progress", action="store_true", default=None, help="show progress bars")
    p.add_argument("--no-progress", dest="progress", action="store_false", help="never show progress bars")
    sub = p.add_subparsers(dest="command", required=True)

    sub.add_parser("init", help="create the zones and the catalog").set_defaults(func=cmd_init)

    ing = sub.add_parser("ingest", help="bring a file through quarantine into the curated tables")
    ing_sub = ing.add_subparsers(dest="kind", required=True)
    v = ing_sub.add_parser("vcf", help="a multi-sample VCF/BCF, plain or bgzipped")
    v.add_argument("file")
    v.add_argument("--dataset", required=True)
    v.add_argument("--panel", help="1000 Genomes panel (sample pop super_pop gender)")
    v.add_argument("--tenant")
    v.add_argument("--workers", type=int, help="processes (default: all cores)")
    v.add_argument("--assembly", help="the callset's reference (GRCh37, GRCh38); default: from the VCF header")
    v.add_argument("--replace", action="store_true",
                   help="make this file the dataset's whole callset (default: it must add sites for the "
                        "dataset's samples, or samples over its sites)")
    v.set_defaults(func=cmd_ingest_vcf)
    c = ing_sub.add_parser("clinvar", help="ClinVar variant_summary.txt(.gz)")
    c.add_argument("file")
    c.add_argument("--tenant")
    c.set_defaults(func=cmd_ingest_clinvar)
    pn = ing_sub.add_parser("panel", help="attach populations and sex to a dataset's samples")
    pn.add_argument("file")
    pn.add_argument("--dataset", required=True)
    pn.add_argument("--tenant")
    for kind in (v, c, pn):
        kind.add_argument("--engine", help="the ETL engine that converts the file: local (default) or spark "
                          "(Hail + Spark, the spark extra)")
        kind.add_argument("--master", help="with --engine spark: local[*] (default) or spark://HOST:PORT of a "
                          "standalone cluster (`genolake cluster start`)")
    pn.set_defaults(func=cmd_ingest_panel)

    cat = sub.add_parser("catalog", help="tables and ingest runs",
                         description="list: tables; show TABLE: schema, partitions, location, version; runs: ingest "
                         "runs; history: the published snapshots, newest first (what `query --as-of N` reads); "
                         "crawl: register the tables found on disk; ddl: Athena/Glue CREATE EXTERNAL TABLE "
                         "statements; register --target glue: the tables into the AWS Glue catalog")
    cat.add_argument("action", choices=["list", "show", "runs", "history", "crawl", "ddl", "register"])
    cat.add_argument("table", nargs="?")
    cat.add_argument("--json", action="store_true", help="the same as --format json")
    cat.add_argument("--format", choices=["table", "json"], default="table", help="table (default) or json")
    cat.add_argument("--limit", type=int, default=50)
    cat.add_argument("--database", default="genolake", help="ddl: Athena/Glue database (default genolake)")
    cat.add_argument("--location-prefix", help="ddl: where the curated tables were copied, e.g. s3://bucket/lake/curated;"
                     " each table is PREFIX/<table>/ (default: the local folders as file: URIs)")
    from genolake.glue_cli import add_register_parser

    add_register_parser(cat)
    cat.set_defaults(func=cmd_catalog)

    q = sub.add_parser("quarantine", help="files refused by the scans or QC, with their reasons")
    q.add_argument("action", choices=["list", "show"])
    q.add_argument("id", nargs="?")
    q.add_argument("--format", choices=["table", "json"], default="table", help="list: table (default) or json")
    q.set_defaults(func=cmd_quarantine)

    s = sub.add_parser("simulate", help="a 1000 Genomes-like cohort from a coalescent model")
    s.add_argument("--samples", type=int, default=100)
    s.add_argument("--length", type=int, default=1_000_000, help="base pairs of chr22 to simulate")
    s.add_argument("--seed", type=int, default=1)
    s.add_argument("--out", required=True)
    s.set_defaults(func=cmd_simulate)

    b = sub.add_parser("bench", help="measure layouts x workloads on simulated data or your lake "
                       "(genolake bench --help)", add_help=False)
    b.add_argument("bench_args", nargs=argparse.REMAINDER)
    b.set_defaults(func=cmd_bench)

    query_cli.add_commands(sub)
    ml_cli.add_ml_parser(sub)
    cluster_cli.add_cluster_parser(sub)
    return p


def cmd_bench(args) -> int:
    """The layout benchmark suite (benchmarks/suite/run.py), with its own options."""
    from genolake.benchmarks.suite.run import main as bench_main

    return bench_main(args.bench_args)


def _one_line(text: str) -> str:
    return one_line(text)


def _bench_command(args) -> int:
    """`genolake bench`: its own parser reports usage mistakes as a message to exit with."""
    try:
        return cmd_bench(args)
    except SystemExit as stop:
        if isinstance(stop.code, str):
            print(stop.code, file=sys.stderr)
            return 2
        return stop.code or 0


def main(argv=None) -> int:
    """Run one command; returns the exit status. Every failure is ONE line on stderr, never a traceback
    (GENOLAKE_DEBUG=1 shows it for an internal error)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["bench"]:  # the benchmark suite parses its own options (--help included)
        args = argparse.Namespace(bench_args=argv[1:], func=_bench_command)
    else:
        try:
            args = build_parser().parse_args(argv)
        except SystemExit as stop:  # --help, or a usage mistake (already reported on one line)
            return stop.code if isinstance(stop.code, int) else (0 if stop.code is None else 2)
    try:
        status = args.func(args)
    except GenolakeError as err:
        print(f"genolake: error: {_one_line(err)}", file=sys.stderr)
        return err.exit_code
    except KeyboardInterrupt:
        print("genolake: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0
    except Exception as exc:  # a bug, not the user's input: still one line, and a distinct status
        if os.environ.get("GENOLAKE_DEBUG"):
            raise
        print(f"genolake: internal error: {type(exc).__name__}: {_one_line(exc)} "
              "(GENOLAKE_DEBUG=1 shows the traceback)", file=sys.stderr)
        return 70
    return status if isinstance(status, int) else 0
