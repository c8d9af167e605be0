"""The catalog: every table (zone, location, schema, partitions, Delta version) and every ingest run.

It is the local analogue of the Glue Data Catalog, kept in SQLite beside the zones. The versions
recorded here are the lake's published snapshot: an ingest writes them in one transaction after
all of its Delta commits, so a reader that binds tables at these versions never sees half an
ingest, even one killed between two table commits.

Every publish that changes that map appends a numbered snapshot (1, 2, 3, ...) holding the full
{table: version} map, so an analysis can be re-run at an earlier published snapshot (`as_of=`,
`genolake catalog history`).
"""

from __future__ import annotations

import datetime as dt
import json
import re
import sqlite3
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa

from .delta_keys import RUN_KEY
from .errors import ConfigError, LakeStateError, NotFoundError
from .run_manifests import read_manifests, unfinished_tail, uses_manifests
from .schemas import ALL_TABLES, TableSpec
from .zones import CURATED

_SCHEMA = """
CREATE TABLE IF NOT EXISTS tables (
    name TEXT PRIMARY KEY, zone TEXT NOT NULL, location TEXT NOT NULL, schema_json TEXT NOT NULL,
    partition_by TEXT NOT NULL, sort_by TEXT NOT NULL, delta_version INTEGER, num_files INTEGER,
    num_rows INTEGER, size_bytes INTEGER, description TEXT, updated_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS runs (
    run_id TEXT PRIMARY KEY, kind TEXT NOT NULL, dataset TEXT, tenant TEXT NOT NULL,
    source_path TEXT NOT NULL, stored_path TEXT, sha256 TEXT, size_bytes INTEGER,
    status TEXT NOT NULL, started_at TEXT NOT NULL, finished_at TEXT, seconds REAL,
    rows_json TEXT, versions_json TEXT, warnings_json TEXT, error TEXT, engine TEXT
);
CREATE INDEX IF NOT EXISTS runs_by_checksum ON runs (kind, dataset, sha256, status);
"""

# the published snapshots, numbered 1, 2, 3...: the full {table: version} map after each publish that
# changed it (created on first use as well: older catalogs lack it)
_SNAPSHOTS = ("CREATE TABLE IF NOT EXISTS snapshots (number INTEGER PRIMARY KEY, published_at TEXT NOT NULL,"
              " run_id TEXT, versions_json TEXT NOT NULL)")


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


@dataclass(frozen=True)
class TableEntry:
    name: str
    zone: str
    location: str
    schema: dict
    partition_by: list[str]
    sort_by: list[str]
    delta_version: int | None
    num_files: int | None
    num_rows: int | None
    size_bytes: int | None
    description: str
    updated_at: str


@dataclass(frozen=True)
class RunEntry:
    run_id: str
    kind: str
    dataset: str | None
    tenant: str
    source_path: str
    stored_path: str | None
    sha256: str | None
    size_bytes: int | None
    status: str
    started_at: str
    finished_at: str | None
    seconds: float | None
    rows: dict
    versions: dict
    warnings: list
    error: str | None
    engine: str | None


@dataclass(frozen=True)
class PublishedSnapshot:
    """A published snapshot: its number (None only for a lake with no published tables), the Delta
    version of every table in it, when it was published and by which run (None: a crawl, or the
    state an older catalog had when snapshots were first recorded)."""

    number: int | None
    versions: dict[str, int]
    published_at: str | None
    run_id: str | None


@dataclass(frozen=True)
class SnapshotEntry:
    """One row of `Catalog.history()`: a snapshot, the run that published it, and what it changed."""

    number: int
    published_at: str
    run_id: str | None
    kind: str | None
    dataset: str | None
    source_path: str | None
    engine: str | None
    versions: dict[str, int]
    changed: dict[str, int]  # table -> its new version, vs the previous snapshot (all tables for 1)
    removed: list[str]  # tables in the previous snapshot but not in this one
    current: bool  # the lake's published snapshot (the newest)


def schema_to_json(schema: pa.Schema) -> list[dict]:
    return [{"name": f.name, "type": str(f.type), "nullable": f.nullable} for f in schema]


class Catalog:
    def __init__(self, path: Path):
        self.path = Path(path)

    @classmethod
    def create(cls, path: Path) -> "Catalog":
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            conn = sqlite3.connect(path, timeout=60)
            try:
                conn.executescript(_SCHEMA + _SNAPSHOTS + ";\n")  # commits on its own; idempotent (IF NOT EXISTS)
            finally:
                conn.close()
        except sqlite3.Error as err:
            raise cls(path)._unusable(err) from None
        return cls(path)

    @classmethod
    def open(cls, path: Path) -> "Catalog":
        if not Path(path).exists():
            raise LakeStateError(f"no lake at {Path(path).parent}: run `genolake --root {Path(path).parent} init` first")
        return cls(path)

    def _unusable(self, err: Exception) -> LakeStateError:
        """A catalog file SQLite cannot use (garbage, empty, read-only): one line naming it and what to do."""
        text = str(err)
        if "no such table" in text:
            what = "has no genolake tables (empty or not a genolake catalog)"
        elif "readonly" in text or "read-only" in text:
            what = "is read-only"
        elif "not a database" in text or "malformed" in text:
            what = "is not a SQLite database (damaged or overwritten)"
        else:
            what = f"cannot be used ({text})"
        return LakeStateError(f"catalog {self.path} {what}: restore it from a backup, or move it aside and run "
                              f"`genolake --root {self.path.parent} init` then `genolake --root {self.path.parent} "
                              "catalog crawl` to rebuild it from the tables on disk")

    @contextmanager
    def _conn(self):
        try:
            conn = sqlite3.connect(self.path, timeout=60, isolation_level=None)
        except sqlite3.Error as err:
            raise self._unusable(err) from None
        conn.row_factory = sqlite3.Row
        try:
            try:
                conn.execute("BEGIN IMMEDIATE")
            except sqlite3.DatabaseError as err:
                raise self._unusable(err) from None
            try:
                yield conn
                conn.execute("COMMIT")
            except BaseException as exc:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                if isinstance(exc, sqlite3.DatabaseError) and not isinstance(exc, sqlite3.IntegrityError):
                    raise self._unusable(exc) from None
                raise
        finally:
            conn.close()

    # ------------------------------------------------------------ datasets
    # the reference assembly of each dataset's callset (created on first use: older catalogs lack it)
    _DATASETS = "CREATE TABLE IF NOT EXISTS datasets (dataset TEXT PRIMARY KEY, assembly TEXT, updated_at TEXT NOT NULL)"

    def set_dataset_assembly(self, dataset: str, assembly: str | None) -> None:
        with self._conn() as c:
            c.execute(self._DATASETS)
            c.execute("INSERT INTO datasets (dataset, assembly, updated_at) VALUES (?, ?, ?) "
                      "ON CONFLICT (dataset) DO UPDATE SET assembly = excluded.assembly, updated_at = excluded.updated_at",
                      (dataset, assembly, _now()))

    def dataset_assemblies(self) -> dict[str, str]:
        """dataset -> assembly, for the datasets whose assembly is known."""
        with self._conn() as c:
            c.execute(self._DATASETS)
            return {r["dataset"]: r["assembly"] for r in c.execute("SELECT dataset, assembly FROM datasets")
                    if r["assembly"]}

    # ---------------------------------------------------------------- runs
    def start_run(self, run_id: str, *, kind: str, dataset: str | None, tenant: str, source_path: str,
                  engine: str | None = None) -> None:
        with self._conn() as c:
            c.execute(
                "INSERT INTO runs (run_id, kind, dataset, tenant, source_path, status, started_at, engine)"
                " VALUES (?, ?, ?, ?, ?, 'running', ?, ?)",
                (run_id, kind, dataset, tenant, str(source_path), _now(), engine),
            )

    def update_run(self, run_id: str, **fields) -> None:
        cols = {k: v for k, v in fields.items()}
        for key in ("rows", "versions", "warnings"):
            if key in cols:
                cols[f"{key}_json"] = json.dumps(cols.pop(key))
        if not cols:
            return
        sets = ", ".join(f"{k} = ?" for k in cols)
        with self._conn() as c:
            c.execute(f"UPDATE runs SET {sets} WHERE run_id = ?", (*cols.values(), run_id))

    def finish_run(self, run_id: str, status: str, seconds: float | None, **fields) -> None:
        self.update_run(run_id, status=status, finished_at=_now(),
                        seconds=None if seconds is None else round(seconds, 3), **fields)

    def find_succeeded(self, kind: str, dataset: str | None, sha256: str, *, latest_only: bool = False) -> RunEntry | None:
        """The succeeded run that ingested this content. With `latest_only`, only the latest
        succeeded run of (kind, dataset) counts: for kinds whose delivery replaces the previous one
        (ClinVar, panels) an older release ingested again must be applied again."""
        with self._conn() as c:
            if latest_only:
                row = c.execute(
                    "SELECT * FROM runs WHERE kind = ? AND dataset IS ? AND status = 'succeeded'"
                    " ORDER BY started_at DESC, rowid DESC LIMIT 1", (kind, dataset)).fetchone()
                if row is not None and row["sha256"] != sha256:
                    row = None
            else:
                row = c.execute(
                    "SELECT * FROM runs WHERE kind = ? AND dataset IS ? AND sha256 = ? AND status = 'succeeded'"
                    " ORDER BY started_at DESC, rowid DESC LIMIT 1", (kind, dataset, sha256)).fetchone()
        return _run(row) if row else None

    def replaced_since(self, run: RunEntry) -> bool:
        """Whether a later succeeded ingest replaced `run`'s dataset (`--replace`): its rows are gone."""
        with self._conn() as c:
            rows = c.execute("SELECT rows_json FROM runs WHERE kind = ? AND dataset IS ? AND status = 'succeeded'"
                             " AND started_at >= ? AND run_id != ?",
                             (run.kind, run.dataset, run.started_at, run.run_id)).fetchall()
        return any(json.loads(r["rows_json"] or "{}").get("extension") == "replace" for r in rows)

    def runs_with_status(self, status: str) -> list[RunEntry]:
        with self._conn() as c:
            return [_run(r) for r in c.execute("SELECT * FROM runs WHERE status = ? ORDER BY rowid", (status,))]

    def run_statuses(self, run_ids) -> dict[str, str]:
        """Status of each known run id; unknown ids are left out."""
        ids = list(set(run_ids))
        if not ids:
            return {}
        with self._conn() as c:
            marks = ",".join("?" * len(ids))
            return {r["run_id"]: r["status"] for r in
                    c.execute(f"SELECT run_id, status FROM runs WHERE run_id IN ({marks})", ids)}

    def runs(self, limit: int | None = None) -> list[RunEntry]:
        q = "SELECT * FROM runs ORDER BY started_at DESC, rowid DESC" + (f" LIMIT {int(limit)}" if limit else "")
        with self._conn() as c:
            return [_run(r) for r in c.execute(q).fetchall()]

    def run(self, run_id: str) -> RunEntry:
        with self._conn() as c:
            row = c.execute("SELECT * FROM runs WHERE run_id = ?", (run_id,)).fetchone()
        if not row:
            raise NotFoundError(f"no ingest run {run_id!r} in the catalog")
        return _run(row)

    # ---------------------------------------------------------------- tables
    def publish(self, root: Path, names: list[str], run_id: str | None = None, versions: dict | None = None,
                finish: dict | None = None) -> dict:
        """Record the current Delta version (and size) of each named table, in one transaction.

        With `finish` (status, seconds, rows, warnings), the run is closed in that same transaction:
        a run is "succeeded" exactly when its tables are published, even if the process dies
        between the two."""
        entries = []
        for name in names:
            spec = ALL_TABLES[name]
            entries.append(describe_table(root / CURATED / name, spec, (versions or {}).get(name)))
        with self._conn() as c:
            self._sync_snapshots(c, None)  # an older catalog: its state before this publish is snapshot 1
            for e in entries:
                if e is None:
                    continue
                c.execute(
                    "INSERT INTO tables VALUES (?,?,?,?,?,?,?,?,?,?,?,?) ON CONFLICT(name) DO UPDATE SET"
                    " zone=excluded.zone, location=excluded.location, schema_json=excluded.schema_json,"
                    " partition_by=excluded.partition_by, sort_by=excluded.sort_by,"
                    " delta_version=excluded.delta_version, num_files=excluded.num_files,"
                    " num_rows=excluded.num_rows, size_bytes=excluded.size_bytes,"
                    " description=excluded.description, updated_at=excluded.updated_at",
                    (e.name, e.zone, e.location, json.dumps(e.schema), json.dumps(e.partition_by),
                     json.dumps(e.sort_by), e.delta_version, e.num_files, e.num_rows, e.size_bytes,
                     e.description, e.updated_at),
                )
            if run_id is not None:
                c.execute("UPDATE runs SET versions_json = ? WHERE run_id = ?",
                          (json.dumps({e.name: e.delta_version for e in entries if e}), run_id))
                if finish:
                    f = dict(finish)
                    for key in ("rows", "warnings"):
                        if key in f:
                            f[f"{key}_json"] = json.dumps(f.pop(key))
                    f["finished_at"] = _now()
                    sets = ", ".join(f"{k} = ?" for k in f)
                    c.execute(f"UPDATE runs SET {sets} WHERE run_id = ?", (*f.values(), run_id))
            self._sync_snapshots(c, run_id)  # the full map after this publish, if it changed
        return {e.name: e.delta_version for e in entries if e}

    def tables(self) -> list[TableEntry]:
        with self._conn() as c:
            return [_table(r) for r in c.execute("SELECT * FROM tables ORDER BY name").fetchall()]

    def table(self, name: str) -> TableEntry:
        with self._conn() as c:
            row = c.execute("SELECT * FROM tables WHERE name = ?", (name,)).fetchone()
        if not row:
            known = ", ".join(t.name for t in self.tables()) or "none yet"
            raise NotFoundError(f"no table {name!r} in the catalog (tables: {known})")
        return _table(row)

    def snapshot(self) -> dict[str, int]:
        """Published Delta version of every table: what readers bind to."""
        return self.published().versions

    # ------------------------------------------------------------ snapshots
    @staticmethod
    def _sync_snapshots(c, run_id: str | None) -> None:
        """Inside a transaction: append a snapshot when the tables' published versions differ from
        the latest one (an older catalog with tables but no snapshots gets snapshot 1 this way)."""
        c.execute(_SNAPSHOTS)
        current = {r["name"]: r["delta_version"] for r in
                   c.execute("SELECT name, delta_version FROM tables WHERE delta_version IS NOT NULL ORDER BY name")}
        last = c.execute("SELECT versions_json FROM snapshots ORDER BY number DESC LIMIT 1").fetchone()
        if last is None and not current:
            return  # an empty lake has no snapshot
        if last is not None and json.loads(last["versions_json"]) == current:
            return  # nothing changed: a no-op re-ingest or a crawl that found nothing new
        c.execute("INSERT INTO snapshots (published_at, run_id, versions_json) VALUES (?, ?, ?)",
                  (_now(), run_id, json.dumps(current, sort_keys=True)))

    def published(self, as_of: int | None = None) -> PublishedSnapshot:
        """The lake's published snapshot (the newest), or snapshot `as_of`; read in one transaction
        so the number and the versions agree. An unknown `as_of` is a NotFoundError naming the range."""
        with self._conn() as c:
            self._sync_snapshots(c, None)
            if as_of is None:
                row = c.execute("SELECT * FROM snapshots ORDER BY number DESC LIMIT 1").fetchone()
                if row is None:
                    return PublishedSnapshot(None, {}, None, None)
            else:
                row = c.execute("SELECT * FROM snapshots WHERE number = ?", (int(as_of),)).fetchone()
                if row is None:
                    lo, hi = c.execute("SELECT min(number), max(number) FROM snapshots").fetchone()
                    have = (f"snapshots are {lo}..{hi}" if lo is not None and lo != hi else
                            f"the only snapshot is {lo}" if lo is not None else
                            "it has no published snapshots yet (ingest a file first)")
                    raise NotFoundError(f"no snapshot {as_of} in the catalog: {have} (`genolake catalog history`)")
        return PublishedSnapshot(row["number"], {k: int(v) for k, v in json.loads(row["versions_json"]).items()},
                                 row["published_at"], row["run_id"])

    def history(self, limit: int | None = None) -> list[SnapshotEntry]:
        """The published snapshots, newest first, each with its run (kind, dataset, file, engine)
        and the tables it changed vs the previous snapshot."""
        with self._conn() as c:
            self._sync_snapshots(c, None)
            rows = c.execute(
                "SELECT s.number, s.published_at, s.run_id, s.versions_json, r.kind, r.dataset, r.source_path,"
                " r.engine FROM snapshots s LEFT JOIN runs r ON r.run_id = s.run_id ORDER BY s.number").fetchall()
        out, prev = [], {}
        newest = rows[-1]["number"] if rows else None
        for r in rows:
            versions = {k: int(v) for k, v in json.loads(r["versions_json"]).items()}
            out.append(SnapshotEntry(
                number=r["number"], published_at=r["published_at"], run_id=r["run_id"], kind=r["kind"],
                dataset=r["dataset"], source_path=r["source_path"], engine=r["engine"], versions=versions,
                changed={t: v for t, v in versions.items() if prev.get(t) != v},
                removed=sorted(set(prev) - set(versions)), current=r["number"] == newest))
            prev = versions
        out.reverse()
        return out[: int(limit)] if limit else out

    def crawl(self, root: Path) -> list[str]:
        """Register or update every curated table found on disk, at its newest version that holds
        only finished runs (a commit of a run killed between two table commits is never published),
        and register the finished runs the catalog does not know from their manifests."""
        manifests = read_manifests(root)
        legacy = not uses_manifests(root)
        known = self.run_statuses(manifests)
        for run_id, m in manifests.items():
            if run_id not in known:
                self.register_run(m)
        versions = {}
        for name in ALL_TABLES:
            from .delta_io import open_table  # deltalake on first use

            dt_ = open_table(root / CURATED / name)
            if dt_ is None:
                continue
            history = sorted(dt_.history(), key=lambda e: e["version"], reverse=True)
            statuses = self.run_statuses([e.get(RUN_KEY) for e in history if e.get(RUN_KEY)])
            _, keep = unfinished_tail(history, statuses, manifests, legacy)
            if keep is not None:
                versions[name] = keep["version"]
        self.publish(root, list(versions), versions=versions)
        return list(versions)

    def register_run(self, m: dict) -> None:
        """Record a finished run from its manifest (after the catalog was lost)."""
        cols = ("run_id", "kind", "dataset", "tenant", "source_path", "stored_path", "sha256", "size_bytes",
                "started_at", "finished_at", "seconds", "engine")
        with self._conn() as c:
            c.execute(
                f"INSERT OR IGNORE INTO runs ({', '.join(cols)}, status, rows_json, versions_json, warnings_json)"
                f" VALUES ({', '.join('?' * len(cols))}, 'succeeded', ?, ?, ?)",
                (*(m.get(k) for k in cols), json.dumps(m.get("rows") or {}), json.dumps(m.get("versions") or {}),
                 json.dumps(m.get("warnings") or [])))


_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def athena_ddl(tables: list[TableEntry], *, database: str = "genolake", location_prefix: str | None = None) -> str:
    """CREATE EXTERNAL TABLE statements registering the lake's Delta tables in Athena / the Glue catalog.

    Athena reads a Delta table's columns and partitions from its transaction log, so the statement
    has only LOCATION and TBLPROPERTIES ('table_type'='DELTA'); Athena refuses anything more (column
    lists, PARTITIONED BY, other properties). `location_prefix` (e.g. s3://bucket/lake/curated) is
    where the curated/ folder was copied; without it each table's local path is used as a file: URI,
    which Spark or Hive on this machine can read but Athena cannot."""
    if not isinstance(database, str) or not _IDENT.fullmatch(database):
        raise ConfigError(f"database name {database!r} is not allowed: use letters, digits and '_'")
    if location_prefix is not None and not re.fullmatch(r"[A-Za-z][A-Za-z0-9+.-]*://[^'\\\s]+", location_prefix):
        raise ConfigError(f"location prefix {location_prefix!r} must be a URI such as s3://bucket/prefix, "
                          "without quotes, backslashes or spaces")
    out = [f"-- genolake: {len(tables)} Delta table(s); run in Athena (one statement per query)",
           f"CREATE DATABASE IF NOT EXISTS {database};"]
    for t in sorted(tables, key=lambda t: t.name):
        if not _IDENT.fullmatch(t.name):
            raise ConfigError(f"table name {t.name!r} cannot be used in DDL")
        if location_prefix is not None:
            loc = location_prefix.rstrip("/") + "/" + t.name + "/"
        else:
            loc = Path(t.location).resolve().as_uri() + "/"
        if "'" in loc:
            raise ConfigError(f"table location {loc!r} contains a quote and cannot be used in DDL")
        out.append(f"CREATE EXTERNAL TABLE {database}.{t.name}\n"
                   f"LOCATION '{loc}'\n"
                   f"TBLPROPERTIES ('table_type' = 'DELTA');")
    return "\n".join(out) + "\n"


def describe_table(location: Path, spec: TableSpec, version: int | None = None) -> TableEntry | None:
    from .delta_io import open_table  # deltalake on first use

    dt_ = open_table(location, version)
    if dt_ is None:
        return None
    adds = dt_.get_add_actions(flatten=True)
    import pyarrow.compute as pc

    add_tbl = pa.table(adds) if not isinstance(adds, pa.Table) else adds
    n_files = add_tbl.num_rows
    num_rows = int(pc.sum(add_tbl["num_records"]).as_py() or 0) if "num_records" in add_tbl.column_names else None
    size = int(pc.sum(add_tbl["size_bytes"]).as_py() or 0) if "size_bytes" in add_tbl.column_names else None
    return TableEntry(
        name=spec.name, zone=CURATED, location=str(location), schema={"fields": schema_to_json(spec.schema)},
        partition_by=list(spec.partition_by), sort_by=list(spec.sort_by), delta_version=dt_.version(),
        num_files=n_files, num_rows=num_rows, size_bytes=size, description=spec.description, updated_at=_now(),
    )


def _run(row) -> RunEntry:
    return RunEntry(
        run_id=row["run_id"], kind=row["kind"], dataset=row["dataset"], tenant=row["tenant"],
        source_path=row["source_path"], stored_path=row["stored_path"], sha256=row["sha256"],
        size_bytes=row["size_bytes"], status=row["status"], started_at=row["started_at"],
        finished_at=row["finished_at"], seconds=row["seconds"],
        rows=json.loads(row["rows_json"] or "{}"), versions=json.loads(row["versions_json"] or "{}"),
        warnings=json.loads(row["warnings_json"] or "[]"), error=row["error"], engine=row["engine"],
    )


def _table(row) -> TableEntry:
    return TableEntry(
        name=row["name"], zone=row["zone"], location=row["location"], schema=json.loads(row["schema_json"]),
        partition_by=json.loads(row["partition_by"]), sort_by=json.loads(row["sort_by"]),
        delta_version=row["delta_version"], num_files=row["num_files"], num_rows=row["num_rows"],
        size_bytes=row["size_bytes"], description=row["description"], updated_at=row["updated_at"],
    )
