"""SQL in one place: the read-only guard, literal quoting, and transpiling to an engine's dialect.

Analyses are written once in DuckDB's dialect; other engines get them through sqlglot."""

from __future__ import annotations

import pyarrow as pa
import sqlglot
from sqlglot import exp

from genolake.lake.errors import QueryError

SOURCE_DIALECT = "duckdb"
MAX_SQL_CHARS = 100_000  # a statement longer than this is refused before it is parsed
# statement kinds an analysis or `genolake sql` may run: reads only
_READ_ONLY = (exp.Select, exp.Union, exp.Intersect, exp.Except, exp.Describe, exp.Values)
_WRITES = (exp.Insert, exp.Update, exp.Delete, exp.Create, exp.Drop, exp.Alter, exp.Copy, exp.Merge,
           exp.Command, exp.Set, exp.Pragma, exp.Attach, exp.Detach, exp.Use, exp.Export)


def check_read_only(query: str, dialect: str = SOURCE_DIALECT) -> list[exp.Expression]:
    """Parse `query`; refuse anything but reads (DDL, DML, COPY/EXPORT, ATTACH, SET, PRAGMA...)."""
    if not isinstance(query, str):
        raise QueryError(f"SQL must be text, got {type(query).__name__}")
    if len(query) > MAX_SQL_CHARS:
        raise QueryError(f"the SQL is {len(query):,} characters; the limit is {MAX_SQL_CHARS:,}")
    try:
        statements = [s for s in sqlglot.parse(query, read=dialect) if s is not None]
    except RecursionError:
        raise QueryError("the SQL is nested too deeply to check (parentheses or subqueries); simplify it") from None
    except (sqlglot.errors.ParseError, sqlglot.errors.TokenError) as err:
        first = str(err).splitlines()[0]
        raise QueryError(f"could not parse the SQL: {first}") from None
    if not statements:
        raise QueryError("no SQL statement given")
    for stmt in statements:
        writes = [n for n in stmt.walk() if isinstance(n, _WRITES)]
        if writes or not isinstance(stmt, _READ_ONLY):
            kind = type(writes[0] if writes else stmt).__name__.upper()
            raise QueryError(f"refused: {kind} statements are not allowed; the lake is read-only here "
                             "(only SELECT/WITH/DESCRIBE queries)")
        _check_sources(stmt, dialect)
    return statements


def _check_sources(stmt: exp.Expression, dialect: str) -> None:
    """Only the lake's tables (and the query's own CTEs, range/generate_series) may be read: no
    table functions that read files (read_csv, glob...), no paths as tables, no other catalogs."""
    from genolake.lake.schemas import ALL_TABLES

    ctes = {c.alias_or_name for c in stmt.find_all(exp.CTE)}
    for table in stmt.find_all(exp.Table):
        if isinstance(table.this, (exp.GenerateSeries, exp.Unnest)):  # range(n): numbers, not files
            continue
        plain = isinstance(table.this, exp.Identifier) and not table.args.get("db") and not table.args.get("catalog")
        if not plain or (table.name not in ALL_TABLES and table.name not in ctes):
            source = table.this.sql(dialect=dialect) if table.this is not None else table.sql(dialect=dialect)
            raise QueryError(f"refused: FROM {source[:80]}: only the lake's tables can be read here "
                             f"({', '.join(ALL_TABLES)})")


def lit(value) -> str:
    """A SQL literal for a Python value, quoted safely (for identifiers never use this)."""
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, (int, float)):
        return repr(value)
    return exp.Literal.string(str(value)).sql(dialect=SOURCE_DIALECT)


def in_list(values) -> str:
    """`(lit, lit, ...)` for an IN clause; `(NULL)` when empty, which matches nothing."""
    values = list(values)
    return "(" + ", ".join(lit(v) for v in values) + ")" if values else "(NULL)"


def transpile(query: str, dialect: str) -> str:
    if dialect == SOURCE_DIALECT:
        return query
    return ";\n".join(sqlglot.transpile(query, read=SOURCE_DIALECT, write=dialect))


def run(engine, query: str) -> pa.Table:
    """Run SQL an analysis built itself (DuckDB dialect, values quoted with `lit`) on `engine`."""
    from .provenance import note_reads, tables_in

    note_reads(tables_in(query))
    return engine.sql(transpile(query, engine.dialect), trusted=True)


def read_rows(engine, table: str, where: dict, columns) -> pa.Table:
    """`engine.read_rows`, noted as a read of `table` for the answer's provenance."""
    from .provenance import note_reads

    note_reads([table])
    return engine.read_rows(table, where, columns)
