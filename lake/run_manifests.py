"""Run manifests: the mark, beside the tables, that an ingest run made every one of its commits.

The catalog says which runs succeeded, but a catalog can be lost or rebuilt (`init` + `catalog
crawl`), and the Delta logs alone cannot tell a run that committed all its tables from one killed
between two commits. So a run writes `curated/_runs/<run_id>.json` after its last Delta commit and
before the catalog publishes it. `catalog crawl` publishes each table only up to commits of runs
that have one (and re-registers those runs, so a re-ingest of the same file stays a no-op), and
recovery rolls back the commits of runs that have none.

A lake made before manifests existed has no `_runs/` folder; its commits are taken as complete.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import secrets
from pathlib import Path

from .delta_keys import ROLLBACK_KEY, RUN_KEY
from .zones import CURATED

RUNS_DIR = "_runs"


def new_run_id() -> str:
    """A run's ID: UTC start time (sorts by age) and 8 random hex digits."""
    return dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%S") + "-" + secrets.token_hex(4)


def manifest_dir(root: Path) -> Path:
    return Path(root) / CURATED / RUNS_DIR


def uses_manifests(root: Path) -> bool:
    """True for lakes whose runs leave manifests (created since manifests exist)."""
    return manifest_dir(root).is_dir()


def start_manifests(root: Path) -> None:
    """Called by `Lake.init`: a lake with no tables yet starts keeping manifests. A lake that
    already has tables without the folder predates them and keeps the old rule."""
    curated = Path(root) / CURATED
    has_tables = curated.is_dir() and any((p / "_delta_log").is_dir() for p in curated.iterdir())
    if not has_tables:
        manifest_dir(root).mkdir(parents=True, exist_ok=True)


def write_manifest(root: Path, run: dict) -> Path:
    """Atomically write the manifest of a run that has made all of its commits."""
    d = manifest_dir(root)
    d.mkdir(parents=True, exist_ok=True)
    path = d / f"{run['run_id']}.json"
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(run, indent=1, sort_keys=True, default=str) + "\n")
    os.replace(tmp, path)
    return path


def read_manifests(root: Path) -> dict[str, dict]:
    """run_id -> manifest of every run that completed its commits."""
    d = manifest_dir(root)
    out = {}
    if d.is_dir():
        for p in sorted(d.glob("*.json")):
            try:
                m = json.loads(p.read_text())
            except (OSError, ValueError):
                continue  # unreadable: the run does not count as complete
            if isinstance(m, dict) and m.get("run_id") == p.stem:
                out[p.stem] = m
    return out


def remove_manifest(root: Path, run_id: str) -> None:
    (manifest_dir(root) / f"{run_id}.json").unlink(missing_ok=True)


def commit_is_complete(run_id: str | None, status: str | None, manifests: dict, legacy: bool) -> bool:
    """Whether a Delta commit tagged `run_id` belongs to a run that made all of its commits.

    The catalog's word wins when it knows the run (a run killed after its manifest but before its
    publish is still "running" there); otherwise the manifest decides. A commit without a run id
    was not made by an ingest (a rollback, another writer) and is taken as it is."""
    if run_id is None:
        return True
    if status is not None:
        return status == "succeeded"
    return legacy or run_id in manifests


def unfinished_tail(history: list[dict], statuses: dict, manifests: dict, legacy: bool,
                    published: int | None = None) -> tuple[list[dict], dict | None]:
    """Split a table's Delta history (newest first) at its newest commit that may be shown.

    Returns (pending, keep): the newest commits made by runs that did not finish, newest first, and
    the entry below them — the published version, a rollback of ours, or a finished run's commit
    (None when every commit is an unfinished run's)."""
    pending = []
    for e in history:
        run = e.get(RUN_KEY)
        if (published is not None and e["version"] <= published) or e.get(ROLLBACK_KEY) or \
                commit_is_complete(run, statuses.get(run), manifests, legacy):
            return pending, e
        pending.append(e)
    return pending, None
