"""`genolake catalog register --target glue`: the curated tables into the AWS Glue catalog, for Athena.

Wired into `genolake catalog` (genolake/cli.py): `add_register_parser(cat)` adds the options to the
catalog parser and `cmd_catalog_register(args)` runs the `register` action."""

from __future__ import annotations

import argparse

import genolake
from genolake.lake.errors import ConfigError

TARGETS = ("glue",)


def add_register_parser(catalog_parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Add the `register` options to the `catalog` parser (options it already has, such as
    --database, are shared and left as they are)."""
    have = set(catalog_parser._option_string_actions)  # noqa: SLF001 - argparse has no public accessor

    def add(flag, **kw):
        if flag not in have:
            catalog_parser.add_argument(flag, **kw)

    add("--target", choices=TARGETS, help="register: the catalog to register the tables in (glue)")
    add("--database", default="genolake", help="register/ddl: the Glue/Athena database (default genolake)")
    add("--location", help="register: s3://BUCKET/PREFIX where the curated tables were copied "
        "(each table is PREFIX/<table>/)")
    add("--region", help="register: the AWS region (default: the AWS configuration's)")
    add("--table-format", choices=["delta", "parquet"], default="delta",
        help="register: delta (default; Athena reads the Delta log) or parquet (Hive partitions in Glue)")
    add("--as-of", type=int, dest="as_of", default=None,
        help="register: an earlier published snapshot N (`genolake catalog history`) instead of the current one")
    return catalog_parser


def cmd_catalog_register(args) -> list[str]:
    from genolake.lake.glue_catalog import register_glue

    target = getattr(args, "target", None) or "glue"
    if target not in TARGETS:
        raise ConfigError(f"register --target {target!r}: the only target is glue")
    location = getattr(args, "location", None) or getattr(args, "location_prefix", None)
    if not location:
        raise ConfigError("`catalog register` needs --location s3://BUCKET/PREFIX (where the curated tables were copied)")
    lake = genolake.open_lake(args.root)
    database = getattr(args, "database", None) or "genolake"
    names = register_glue(lake.catalog, database=database, location=location,
                          region=getattr(args, "region", None), table_format=getattr(args, "table_format", None) or "delta",
                          as_of=getattr(args, "as_of", None))
    print(f"registered in Glue database {database}: " + (", ".join(names) or "no tables"))
    return names
