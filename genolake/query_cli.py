"""`genolake query ...` and `genolake sql ...`: argument building, the calls, and output formatting.

cli.py stays small: it calls `add_commands(subparsers)`. Every command here parses its options,
calls one public analysis (genolake.queries) and prints the Arrow table it returns as an aligned
table, CSV or JSON (`format_table`). Errors are GenolakeErrors raised by the query layer; cli.main
turns them into one line on stderr and the error's exit status (QueryError: 6).
"""

from __future__ import annotations

import argparse
import csv
import datetime as _dt
import decimal
import json
import math
import re
import sys

import pyarrow as pa

from genolake.lake import ConfigError, QueryError
from genolake.lake.formatting import format_float, is_number

FORMATS = ("table", "csv", "json")
TABLE_ROWS = 50  # rows a `table` shows unless --limit says otherwise
MAX_CELL = 48  # characters of a text cell in `table` format (CSV and JSON are never cut)
# --by accepts these spellings; the analyses take the samples table's column name
BY_COLUMNS = {"super_pop": "super_population", "super_population": "super_population", "superpop": "super_population",
              "pop": "population", "population": "population", "sex": "sex"}

_QUERY_EPILOG = """cohorts (--cohort): 'super_pop=EAS', 'pop=CHB,JPT', 'sex=female', 'samples=HG00403,NA18486',
'file=ids.txt', 'pattern=HG00*', combined with ';' (all must hold): 'super_pop=EAS;sex=female'.
regions (--region): '22:16000000-17000000', 'chr22:16,050,000-16,060,000', '22:16050075', '22'.
variants: rsIDs (rs671) or CPRA keys contig-pos-ref-alt (22-16050075-A-G).
output: --format table (aligned, AF to 4 significant digits, first 50 rows unless --limit),
csv (every row, full precision) or json ({"provenance": {...}, "rows": [objects]}); nulls are '.', empty
and null. Table and csv print on stderr which engine, snapshot and table versions answered.
engines and snapshots: --engine duckdb|spark|athena (default duckdb), --as-of N re-runs at the lake's
earlier published snapshot N (`genolake catalog history`)."""


# ---------------------------------------------------------------------------------------------
# formatting


_is_number = is_number  # lake/formatting.py: one float format for every output


def _table_cell(v) -> str:
    if v is None:
        return "."
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        return format_float(v)
    if isinstance(v, (list, tuple)):
        return ",".join(_table_cell(x) for x in v)
    if isinstance(v, dict):
        return json.dumps(v, default=str)
    text = " ".join(str(v).split())  # one line per row, whatever the value holds
    return text if len(text) <= MAX_CELL else text[: MAX_CELL - 1] + "…"


def _csv_cell(v):
    if v is None:
        return ""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        return repr(v)  # round-trips: float(cell) == the API's value
    if isinstance(v, (list, tuple)):
        return ";".join("" if x is None else str(x) for x in v)
    if isinstance(v, dict):
        return json.dumps(v, default=str)
    return v


def _json_value(v):
    if isinstance(v, float) and not math.isfinite(v):
        return None
    if isinstance(v, decimal.Decimal):
        return float(v)
    if isinstance(v, (_dt.date, _dt.datetime, _dt.time)):
        return v.isoformat()
    if isinstance(v, bytes):
        return v.hex()
    if isinstance(v, (list, tuple)):
        return [_json_value(x) for x in v]
    if isinstance(v, dict):
        return {k: _json_value(x) for k, x in v.items()}
    return v


_MORE = "--limit N or --limit 0 for more, --format csv for all"


def render_table(table: pa.Table, *, limit: int | None = TABLE_ROWS, indent: str = "", more: str = _MORE) -> str:
    """Aligned columns (numbers right-aligned), a rule under the header, '.' for nulls, and a
    "(N rows)" footer that says when only the first `limit` rows are shown."""
    n = table.num_rows
    shown = table if limit is None or n <= limit else table.slice(0, limit)
    names = table.column_names
    numeric = [_is_number(f.type) for f in table.schema]
    cols = [[_table_cell(v) for v in shown.column(i).to_pylist()] for i in range(len(names))]
    widths = [max([len(name), *(len(c) for c in col)]) for name, col in zip(names, cols)]

    def line(cells):
        parts = [c.rjust(w) if num else c.ljust(w) for c, w, num in zip(cells, widths, numeric)]
        return (indent + "  ".join(parts)).rstrip()

    out = [line(names), indent + "  ".join("-" * w for w in widths)]
    out += [line(row) for row in zip(*cols)] if cols else []
    footer = f"({n:,} row{'s' if n != 1 else ''}"
    if shown.num_rows < n:
        footer += f"; the first {shown.num_rows:,} shown" + (f": {more}" if more else "")
    out.append(indent + footer + ")")
    return "\n".join(out)


def write_table(table: pa.Table, fmt: str = "table", *, limit: int | None = None, out=None,
                provenance: dict | None = None) -> None:
    """Print `table` as `fmt`. `limit`: None = the format's default (table: 50 rows; csv/json: all),
    0 = every row, N = the first N rows. With `provenance`, json is the document
    `{"provenance": {...}, "rows": [...]}` instead of the bare array of rows."""
    out = out if out is not None else sys.stdout
    if limit == 0:
        limit = None
    elif limit is None:
        limit = TABLE_ROWS if fmt == "table" else None
    if fmt == "table":
        print(render_table(table, limit=limit), file=out)
        return
    if limit is not None and table.num_rows > limit:
        table = table.slice(0, limit)
    if fmt == "csv":
        w = csv.writer(out, lineterminator="\n")
        w.writerow(table.column_names)
        for row in zip(*(c.to_pylist() for c in table.columns)):
            w.writerow([_csv_cell(v) for v in row])
    elif fmt == "json":
        rows = [{k: _json_value(v) for k, v in r.items()} for r in table.to_pylist()]
        body = "[]" if not rows else "[\n" + ",\n".join(json.dumps(r, ensure_ascii=False) for r in rows) + "\n]"
        if provenance is not None:  # one row per line still: {"provenance": ..., "rows": [\n...\n]}
            body = '{"provenance": ' + json.dumps(provenance, ensure_ascii=False, sort_keys=True) + ',\n"rows": ' \
                   + body + "}"
        print(body, file=out)
    else:
        raise ConfigError(f"unknown output format {fmt!r}; choose from {', '.join(FORMATS)}")


# ---------------------------------------------------------------------------------------------
# the commands


class _EngineNames:
    """argparse choices for --engine: the query engine registry, read only when a value is checked
    (importing it at parser build would load sqlglot for `genolake --help`)."""

    def _names(self) -> list[str]:
        from genolake.queries.engines import ENGINES

        return list(ENGINES)

    def __contains__(self, name) -> bool:
        return name in self._names()

    def __iter__(self):
        return iter(self._names())

    def __len__(self) -> int:
        return len(self._names())

    def __getitem__(self, i):
        return self._names()[i]


# Athena engine option -> the attribute argparse stores it in (--aws-region: --region is a genomic region)
_ATHENA_OPTIONS = {"database": "database", "workgroup": "workgroup", "output_location": "output_location",
                   "region": "aws_region"}


def _engine_options(args) -> dict:
    """--master for spark, the Athena options for athena; given with another engine, a ConfigError."""
    name = getattr(args, "engine", None) or "duckdb"
    options = {}
    if getattr(args, "master", None) is not None:
        if name != "spark":
            raise ConfigError(f"--master is an option of --engine spark, not of --engine {name}")
        options["master"] = args.master
    given = {o: attr for o, attr in _ATHENA_OPTIONS.items() if getattr(args, attr, None) is not None}
    if given and name != "athena":
        flags = ", ".join("--" + attr.replace("_", "-") for attr in given.values())
        raise ConfigError(f"{flags}: option{'s' if len(given) > 1 else ''} of --engine athena, not of --engine {name}")
    options.update({o: getattr(args, attr) for o, attr in given.items()})
    return options


def _engine(args):
    import genolake

    name = getattr(args, "engine", None) or "duckdb"
    options = _engine_options(args)
    if name == "spark" and sys.stderr.isatty():  # a JVM start and the views: ~15 s of silence otherwise
        print(f"genolake: starting Spark on {options.get('master') or 'local[*]'} ...", file=sys.stderr, flush=True)
    return genolake.connect(args.root, name, as_of=getattr(args, "as_of", None), **options)


def _provenance(table: pa.Table, engine=None, query: str | None = None) -> dict | None:
    """The answer's provenance: its schema metadata (`genolake.provenance`), else the engine's
    snapshot (for a streamed `sql`, only the tables `query` names)."""
    raw = (table.schema.metadata or {}).get(b"genolake.provenance")
    if raw:
        return json.loads(raw)
    if engine is None or not hasattr(engine, "snapshot"):
        return None
    snap = engine.snapshot()
    versions = dict(snap.versions)
    if query is not None:
        try:
            from genolake.queries.provenance import tables_in

            read = tables_in(query)
            versions = {t: v for t, v in versions.items() if t in read}
        except Exception:  # naming every bound table is still true, only wider
            pass
    return {"engine": engine.name, "lake": snap.lake, "snapshot": snap.number, "versions": dict(sorted(versions.items()))}


def provenance_line(prov: dict) -> str:
    """`genolake: duckdb @ snapshot 3 of file:///... (genotypes v2, samples v1, variants v2)`."""
    number = prov.get("snapshot")
    at = f"snapshot {number}" if number is not None else "no published snapshot"
    versions = prov.get("versions") or {}
    tables = ", ".join(f"{t} v{v}" for t, v in sorted(versions.items())) or "no tables"
    return f"genolake: {prov.get('engine')} @ {at} of {prov.get('lake')} ({tables})"


def _list_arg(values) -> list[str] | None:
    """--rsid a,b --rsid c -> [a, b, c] (None when the option was not given)."""
    if not values:
        return None
    items = [x.strip() for v in values for x in v.split(",")]
    items = [x for x in items if x]
    return items or None


def _cohort(args):
    if getattr(args, "cohort", None) is None:
        return None
    from genolake.queries.cohorts import Cohort

    if not args.cohort.strip():
        raise ConfigError("--cohort is empty; e.g. --cohort super_pop=EAS (see `genolake query --help`)")
    return Cohort.parse(args.cohort)


def _by(value: str) -> str:
    key = value.strip().lower()
    if key not in BY_COLUMNS:
        raise ConfigError(f"--by {value!r}: choose super_pop, pop or sex")
    return BY_COLUMNS[key]


def _emit(args, table: pa.Table, engine=None, *, query: str | None = None, limit="args") -> None:
    warning = (table.schema.metadata or {}).get(b"genolake.warning")
    if warning:
        print(f"genolake: warning: {warning.decode()}", file=sys.stderr)
    prov = _provenance(table, engine, query)
    if prov is not None and args.format != "json":  # json carries it in the document
        print(provenance_line(prov), file=sys.stderr)
    write_table(table, args.format, limit=args.limit if limit == "args" else limit, provenance=prov)


_RSID = re.compile(r"rs[0-9]+")


def _check_variants(rsids=None, cpras=None, region=None) -> None:
    """Malformed rsIDs, CPRAs and regions are refused before the engine (DuckDB, the lake) starts."""
    from genolake.queries.regions import parse_cpra, parse_region

    for r in rsids or ():
        if not _RSID.fullmatch(r):
            raise QueryError(f"{r!r} is not an rsID (expected rs followed by digits, e.g. rs671)")
    for c in cpras or ():
        parse_cpra(c)
    if region is not None:
        parse_region(region)


def _check_variant(text: str) -> None:
    if text.strip().lower().startswith("rs"):
        _check_variants(rsids=[text.strip()])
    else:
        _check_variants(cpras=[text])


def cmd_af(args):
    selectors = dict(rsids=_list_arg(args.rsid), cpras=_list_arg(args.cpra), region=args.region, gene=args.gene)
    if all(v is None for v in selectors.values()):
        raise ConfigError("`query af` needs variants: --rsid, --cpra, --region or --gene")
    _check_variants(selectors["rsids"], selectors["cpras"], args.region)
    from genolake.queries.analyses.frequencies import allele_frequency, population_frequencies

    kwargs = dict(selectors, cohort=_cohort(args), dataset=args.dataset, assembly=args.assembly,
                  genes_file=args.genes, strict=args.strict)
    engine = _engine(args)
    if args.by:
        table = population_frequencies(engine, **kwargs, by=_by(args.by))
    else:
        table = allele_frequency(engine, **kwargs)
    note = (table.schema.metadata or {}).get(b"genolake.unknown_note")
    if note:  # the found ones are the answer; the unknown ones are named once, apart from it
        print(f"genolake: warning: {note.decode()}", file=sys.stderr)
    _emit(args, table, engine)


def cmd_carriers(args):
    from genolake.queries.analyses.calls import carriers

    _check_variant(args.variant)
    engine = _engine(args)
    _emit(args, carriers(engine, args.variant, cohort=_cohort(args), dataset=args.dataset,
                         include_missing=args.include_missing), engine)


def cmd_sample(args):
    from genolake.queries.analyses.calls import sample_variants

    engine = _engine(args)
    _emit(args, sample_variants(engine, args.sample_id, region=args.region, dataset=args.dataset), engine)


def cmd_annotate(args):
    from genolake.queries.analyses.annotation import annotate

    if not args.gene and not args.region and not args.genes:
        raise ConfigError("`query annotate` needs --gene GENE, --region REGION or --genes FILE (every gene in it)")
    engine = _engine(args)
    _emit(args, annotate(engine, region=args.region, gene=args.gene, dataset=args.dataset,
                         assembly=args.assembly, genes_file=args.genes), engine)


def cmd_drug_response(args):
    from genolake.queries.analyses.annotation import drug_response_report

    if args.top is not None and args.top <= 0:
        raise ConfigError(f"--top {args.top}: give a positive number of rows")
    engine = _engine(args)
    table = drug_response_report(engine, cohort=_cohort(args), dataset=args.dataset,
                                 assembly=args.assembly, top=args.top)
    ranked = (table.schema.metadata or {}).get(b"genolake.ranked_by")
    if ranked and args.format == "table":  # csv/json stay plain data; the API has it in the metadata
        print(f"ranked by: {ranked.decode()}")
    _emit(args, table, engine)


def cmd_sql(args):
    from genolake.queries import run_sql
    from genolake.queries.sql import check_read_only

    check_read_only(args.query)  # refuse a write before the lake is even opened
    limit = args.limit if args.limit is not None else (TABLE_ROWS if args.format == "table" else None)
    engine = _engine(args)
    if limit == 0:
        _emit(args, run_sql(engine, args.query), engine, query=args.query)
        return
    # stream: read the first `limit` rows (and one more) from the engine, never the whole result
    table, more = engine.sql_head(args.query, limit)
    prov = _provenance(table, engine, args.query)
    if prov is not None and args.format != "json":
        print(provenance_line(prov), file=sys.stderr)
    if args.format == "table":
        text = render_table(table, limit=None)
        if more:
            head, _, _ = text.rpartition("\n")
            text = head + f"\n(the first {table.num_rows:,} rows shown; the query has more: {_MORE})"
        print(text)
    else:
        write_table(table, args.format, limit=0, provenance=prov)


# ---------------------------------------------------------------------------------------------
# argument building


def _nonneg_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text!r} is negative")
    return value


def _output_options(p) -> None:
    p.add_argument("--format", choices=FORMATS, default="table", help="table (default), csv or json")
    p.add_argument("--limit", type=_nonneg_int, default=None,
                   help="at most N rows (0: all); default 50 for table, all for csv/json")
    _engine_options_args(p)


def _engine_options_args(p) -> None:
    g = p.add_argument_group("engine and snapshot")
    g.add_argument("--engine", choices=_EngineNames(), default="duckdb", metavar="NAME",
                   help="query engine: duckdb (default, embedded), spark (Spark SQL, the spark extra) or athena")
    g.add_argument("--master", metavar="URL", help="with --engine spark: local[*] (default) or spark://HOST:PORT")
    g.add_argument("--as-of", dest="as_of", type=_nonneg_int, metavar="N",
                   help="answer at the lake's published snapshot N (`genolake catalog history`; default: the newest)")
    g.add_argument("--database", help="with --engine athena: the Glue database")
    g.add_argument("--workgroup", help="with --engine athena: the Athena workgroup")
    g.add_argument("--output-location", dest="output_location", metavar="S3_URI",
                   help="with --engine athena: where Athena writes query results (s3://...)")
    # --region is the genomic region of af/sample/annotate: the AWS one is --aws-region
    g.add_argument("--aws-region", dest="aws_region", metavar="REGION", help="with --engine athena: the AWS region")


def _dataset_option(p) -> None:
    p.add_argument("--dataset", help="only this dataset (default: every dataset in the lake)")


def _cohort_option(p) -> None:
    p.add_argument("--cohort", help="samples to count, e.g. 'super_pop=EAS;sex=female' (default: all)")


def _assembly_options(p, genes: bool = True) -> None:
    p.add_argument("--assembly", default="GRCh37", help="ClinVar assembly for genes and annotations (default GRCh37)")
    if genes:
        p.add_argument("--genes", metavar="FILE", help="place --gene with this gene file (BED, GTF or GFF3) "
                       "instead of the extent of its ClinVar records")


def add_commands(sub) -> None:
    """Add `query` (with its subcommands) and `sql` to the top-level subparsers."""
    fmt = argparse.RawDescriptionHelpFormatter
    q = sub.add_parser("query", help="named analyses: allele frequencies, carriers, annotation, drug response",
                       description="Named analyses over the curated tables (DuckDB, read-only).",
                       epilog=_QUERY_EPILOG, formatter_class=fmt)
    qs = q.add_subparsers(dest="analysis", required=True, metavar="ANALYSIS")

    af = qs.add_parser("af", help="exact allele frequencies (AC, AN, AF) for a cohort, optionally by group",
                       epilog=_QUERY_EPILOG, formatter_class=fmt)
    pick = af.add_mutually_exclusive_group()
    pick.add_argument("--rsid", action="append", metavar="RS[,RS...]", help="rsIDs, comma-separated or repeated")
    pick.add_argument("--cpra", action="append", metavar="CPRA[,CPRA...]", help="CPRA keys, e.g. 22-16050075-A-G")
    pick.add_argument("--region", help="contig:start-end, 1-based inclusive")
    pick.add_argument("--gene", help="a gene symbol (extent from ClinVar or --genes)")
    _cohort_option(af)
    af.add_argument("--by", help="one column per group: super_pop, pop or sex")
    af.add_argument("--strict", action="store_true",
                    help="an unknown rsID or CPRA is an error (exit 6); default: answer the found ones and "
                         "name the unknown ones on stderr")
    _dataset_option(af)
    _assembly_options(af)
    _output_options(af)
    af.set_defaults(func=cmd_af)

    ca = qs.add_parser("carriers", help="samples carrying a variant (rsID or CPRA)", epilog=_QUERY_EPILOG,
                       formatter_class=fmt)
    ca.add_argument("variant", help="rsID (rs671) or CPRA (22-16050075-A-G)")
    _cohort_option(ca)
    ca.add_argument("--include-missing", action="store_true", help="also list samples whose call is missing")
    _dataset_option(ca)
    _output_options(ca)
    ca.set_defaults(func=cmd_carriers)

    sa = qs.add_parser("sample", help="a sample's non-reference calls", epilog=_QUERY_EPILOG, formatter_class=fmt)
    sa.add_argument("sample_id")
    sa.add_argument("--region", help="contig:start-end")
    _dataset_option(sa)
    _output_options(sa)
    sa.set_defaults(func=cmd_sample)

    an = qs.add_parser("annotate", help="the lake's variants in a gene or region with their ClinVar records",
                       epilog=_QUERY_EPILOG, formatter_class=fmt)
    where = an.add_mutually_exclusive_group()
    where.add_argument("--gene", help="a gene symbol (extent from ClinVar or --genes)")
    where.add_argument("--region", help="contig:start-end, 1-based inclusive")
    _dataset_option(an)
    _assembly_options(an)
    _output_options(an)
    an.set_defaults(func=cmd_annotate)

    dr = qs.add_parser("drug-response", help="ClinVar drug-response variants and their frequency in a cohort",
                       epilog=_QUERY_EPILOG, formatter_class=fmt)
    _cohort_option(dr)
    _dataset_option(dr)
    _assembly_options(dr, genes=False)
    dr.add_argument("--top", type=int, default=50, help="rows (default 50)")
    _output_options(dr)
    dr.set_defaults(func=cmd_drug_response)

    s = sub.add_parser("sql", help="read-only SQL over the curated tables (DuckDB dialect)",
                       description="Run one read-only query (SELECT, WITH, DESCRIBE) over the curated tables: "
                       "samples, variants, genotypes, cpra_index, rsid_index, clinvar, predictions. Statements that would "
                       "write (INSERT, CREATE, COPY, ATTACH, SET, ...) are refused with exit status 6.")
    s.add_argument("query", help='e.g. "SELECT super_population, count(*) FROM samples GROUP BY 1"')
    _output_options(s)
    s.set_defaults(func=cmd_sql)
