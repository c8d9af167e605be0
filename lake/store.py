"""`Lake`: one opened lake root — its config, zones, catalog, and the ingest lock."""

from __future__ import annotations

import contextlib
import fcntl
import os
from pathlib import Path

import pyarrow as pa

from .catalog import Catalog
from .config import LakeConfig
from .delta_io import read_table
from .errors import LakeStateError
from .schemas import ALL_TABLES
from .zones import Zones


class Lake:
    def __init__(self, config: LakeConfig, catalog: Catalog):
        self.config = config
        self.zones = Zones(config)
        self.catalog = catalog

    @property
    def root(self) -> Path:
        return self.config.root

    @classmethod
    def init(cls, config: LakeConfig) -> "Lake":
        """Create the zone folders and the catalog. Safe to run on an existing lake."""
        if config.root.exists() and not config.root.is_dir():
            raise LakeStateError(f"{config.root} exists and is not a folder")
        for d in Zones(config).all_dirs():
            d.mkdir(parents=True, exist_ok=True)
        return cls(config, Catalog.create(config.catalog_path))

    @classmethod
    def open(cls, config: LakeConfig) -> "Lake":
        return cls(config, Catalog.open(config.catalog_path))

    def table_root(self, name: str) -> Path:
        if name not in ALL_TABLES:
            raise LakeStateError(f"unknown table {name!r}; tables are: {', '.join(ALL_TABLES)}")
        return self.zones.curated_table(name)

    def read(self, name: str, *, version: int | None = None, published: bool = True, columns=None, filter=None) -> pa.Table:
        """A curated table as Arrow, at the catalog's published version unless `version` is given."""
        if version is None and published:
            version = self.catalog.snapshot().get(name)
            if version is None:
                return pa.table({f.name: pa.array([], f.type) for f in ALL_TABLES[name].schema})
        return read_table(self.table_root(name), version, columns=columns, filter=filter)

    @contextlib.contextmanager
    def ingest_lock(self):
        """One writer at a time: ingests serialise on a lock file in the root."""
        path = self.root / ".ingest.lock"
        with open(path, "a+") as fh:
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                fh.seek(0)
                holder = fh.read().strip() or "another process"
                raise LakeStateError(f"another ingest is running on {self.root} ({holder}); wait for it to finish") from None
            fh.seek(0)
            fh.truncate()
            fh.write(f"pid {os.getpid()}")
            fh.flush()
            try:
                yield
            finally:
                fh.seek(0)
                fh.truncate()
                fcntl.flock(fh, fcntl.LOCK_UN)
