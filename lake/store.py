"""`Lake`: one opened lake root — its config, zones, catalog, the ingest lock, and crash recovery."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import fcntl
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa

from .catalog import Catalog
from .config import LakeConfig
from .delta_keys import ROLLBACK_KEY, RUN_KEY
from .errors import LakeStateError
from .quarantine import REASON_FILE
from .run_manifests import read_manifests, unfinished_tail, remove_manifest, start_manifests, uses_manifests
from .schemas import ALL_TABLES
from .zones import PRE_CURATED, QUARANTINE, STAGING, Zones


@dataclass
class Recovery:
    """What `Lake.recover` undid."""

    interrupted_runs: list[str] = field(default_factory=list)
    rolled_back: dict[str, int] = field(default_factory=dict)  # table -> version it holds again
    dropped_tables: list[str] = field(default_factory=list)  # created by a run that never published
    removed_files: int = 0
    removed_dirs: list[str] = field(default_factory=list)


# deltalake and pyarrow.dataset load on first use (imports inside the methods), so that
# `genolake --help` stays light
SETTINGS_FILE = "lake.json"  # layout settings fixed when the lake is created


def _with_settings(config: LakeConfig) -> LakeConfig:
    """The lake's own layout settings win over the caller's: cpra_index was written with the bin
    size recorded at init, and a lookup with another size would silently miss rows."""
    path = config.root / SETTINGS_FILE
    if not path.exists():
        return config
    stored = json.loads(path.read_text())
    return dataclasses.replace(config, pos_bin_size=int(stored.get("pos_bin_size", config.pos_bin_size)))


class Lake:
    """One lake root, opened: `config`, `zones`, `catalog`, and `read(table)` for a curated table as
    Arrow at the published snapshot. Make one with `genolake.init_lake(root)` or `genolake.open_lake(root)`."""

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
            raise LakeStateError(f"{config.root} exists and is not a folder: choose another --root")
        for d in Zones(config).all_dirs():
            try:
                d.mkdir(parents=True, exist_ok=True)
            except OSError as err:
                raise LakeStateError(f"cannot create the lake folder {d}: {err.strerror or err}; choose a --root "
                                     "under a folder you can write to") from None
        start_manifests(config.root)
        catalog = Catalog.create(config.catalog_path)
        settings = config.root / SETTINGS_FILE
        if not settings.exists():
            tmp = settings.with_suffix(".tmp")
            tmp.write_text(json.dumps({"pos_bin_size": config.pos_bin_size}, indent=2) + "\n")
            os.replace(tmp, settings)
        return cls(_with_settings(config), catalog)

    @classmethod
    def open(cls, config: LakeConfig) -> "Lake":
        catalog = Catalog.open(config.catalog_path)
        return cls(_with_settings(config), catalog)

    def table_root(self, name: str) -> Path:
        if name not in ALL_TABLES:
            raise LakeStateError(f"unknown table {name!r}; tables are: {', '.join(ALL_TABLES)}")
        return self.zones.curated_table(name)

    def __repr__(self) -> str:
        return f"Lake({str(self.root)!r}, tenant={self.config.tenant!r})"

    def read(self, name: str, *, version: int | None = None, published: bool = True, columns=None, filter=None) -> pa.Table:
        """A curated table as Arrow, at the catalog's published version unless `version` is given.

        `name`: one of samples, variants, genotypes, cpra_index, rsid_index, clinvar, predictions; `version`: a
        Delta version of that table (0 to its latest); `columns`: names from its schema. A wrong
        name, version or column raises NotFoundError naming the valid choices."""
        from .errors import NotFoundError

        spec = ALL_TABLES.get(name) if isinstance(name, str) else None
        if spec is None:
            raise NotFoundError(f"no table {name!r}; tables are: {', '.join(ALL_TABLES)}")
        if columns is not None:
            if isinstance(columns, str):
                columns = [columns]
            known = [f.name for f in spec.schema]
            bad = [c for c in columns if c not in known]
            if bad:
                raise NotFoundError(f"table {name} has no column {', '.join(map(repr, bad))}; its columns are: "
                                    f"{', '.join(known)}")
        from .delta_io import open_table, read_table  # deltalake on first use

        if version is None and published:
            version = self.catalog.snapshot().get(name)
            if version is None:
                empty = pa.table({f.name: pa.array([], f.type) for f in spec.schema})
                return empty.select(list(columns)) if columns is not None else empty
        elif version is not None:
            dt = open_table(self.table_root(name))
            latest = None if dt is None else dt.version()
            if isinstance(version, bool) or not isinstance(version, int) or latest is None or not 0 <= version <= latest:
                have = "none: it has not been ingested yet" if latest is None else f"0 to {latest}"
                raise NotFoundError(f"table {name} has no version {version!r}; versions: {have}")
        return read_table(self.table_root(name), version, columns=columns, filter=filter)

    def recover(self, *, sweep: bool = False) -> Recovery:
        """Undo what interrupted or failed ingests left behind. Call it holding `ingest_lock`.

        Holding the lock, no ingest is running, so: a run still marked "running" was killed; a
        Delta commit after a table's published version made by a run that did not succeed must
        not become visible through a later publish, so the table is restored to its published
        version (a table such a run created is removed) and the files those commits added are
        deleted; data files no commit ever added, the staging folders, and the quarantine/pre-curated
        copies of killed runs are deleted too. A run the catalog does not know (catalog.sqlite
        re-created) finished exactly when it left a run manifest (`run_manifests`); with no
        published version, the table goes back to its newest commit by a run that finished.

        Looking for uncommitted files reads every table's log, so it is done when a run was killed
        or rolled back (a killed run is always still "running": its row is written before any file),
        or when `sweep` asks for it.
        """
        from .delta_io import (added_by_versions, logged_current, open_table, remove_files, remove_unreferenced,
                               rollback_to)  # deltalake on first use

        rec = Recovery()
        cat = self.catalog
        stale = cat.runs_with_status("running")
        published = cat.snapshot()
        manifests = read_manifests(self.root)
        legacy = not uses_manifests(self.root)
        for name in ALL_TABLES:
            root = self.zones.curated_table(name)
            dt = open_table(root)
            if dt is None:
                continue
            pub = published.get(name)
            if pub is not None and dt.version() <= pub:
                continue
            history = sorted(dt.history(), key=lambda e: e["version"], reverse=True)
            statuses = cat.run_statuses([e.get(RUN_KEY) for e in history if e.get(RUN_KEY)])
            # unpublished commits of runs that did not finish, newest first: back to the published
            # version, a rollback of ours, or (with no published version, e.g. a rebuilt catalog)
            # the newest commit of a run that did
            pending, keep = unfinished_tail(history, statuses, manifests, legacy, pub)
            if not pending:
                continue
            if pub is not None and keep["version"] != pub and not keep.get(ROLLBACK_KEY):
                continue  # a commit after the published version that we did not make: leave it alone
            keep = None if keep is None else keep["version"]
            if keep is None:  # every commit of the table is an unfinished run's
                shutil.rmtree(root)
                rec.dropped_tables.append(name)
                continue
            rollback_to(root, keep, run_id=pending[0].get(RUN_KEY))
            rec.rolled_back[name] = keep
            # their files are in no version anyone may read: the rolled-back commits were never published
            current = logged_current(root)
            rec.removed_files += remove_files(root, added_by_versions(root, [e["version"] for e in pending]) - current)
        if sweep or stale or rec.rolled_back or rec.dropped_tables:
            for name in ALL_TABLES:
                rec.removed_files += remove_unreferenced(self.zones.curated_table(name), "part-")
        staging = self.root / STAGING
        if staging.is_dir():
            for d in staging.iterdir():
                if d.is_dir():
                    shutil.rmtree(d, ignore_errors=True)
                else:
                    d.unlink(missing_ok=True)
        for run in stale:
            for zone in (QUARANTINE, PRE_CURATED):
                for d in (self.root / zone / run.tenant).glob(f"*/*/*/{run.run_id}"):
                    if zone == QUARANTINE and (d / REASON_FILE).exists():
                        continue  # a refusal is never deleted
                    shutil.rmtree(d, ignore_errors=True)
                    rec.removed_dirs.append(str(d))
            remove_manifest(self.root, run.run_id)  # killed between its manifest and its publish
            cat.finish_run(run.run_id, "interrupted", None,
                           error="the ingest stopped before it finished (process killed?); nothing it wrote is "
                                 "visible and its leftovers were removed: run the ingest again")
            rec.interrupted_runs.append(run.run_id)
        return rec

    @contextlib.contextmanager
    def ingest_lock(self):
        """One writer at a time: ingests serialise on a lock file in the root."""
        path = self.root / ".ingest.lock"
        try:
            fh = open(path, "a+")
        except OSError as err:
            raise LakeStateError(f"cannot write the ingest lock {path}: {err.strerror or err}; the lake is read-only "
                                 "here: ingest into a copy you can write to, or fix the folder's permissions") from None
        with fh:
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
