"""`ml predict`'s output: rows appended to the curated `predictions` Delta table, recorded in the catalog.

The write is an ingest run like any other (kind "predict"): the lake's writer lock, one Delta commit
tagged with the run ID, the run manifest, then the catalog publish that closes the run in the same
transaction. A predict killed before its publish leaves nothing visible, and the next writer's
recovery rolls its commit back, exactly as for a killed ingest.
"""

from __future__ import annotations

import datetime as dt
import json
import time

import numpy as np
import pyarrow as pa

from genolake.lake.config import check_name
from genolake.lake.delta_io import commit_files, table_version, write_data_file
from genolake.lake.run_manifests import new_run_id, write_manifest
from genolake.lake.schemas import PREDICTIONS

__all__ = ["write_predictions", "prediction_rows"]


def prediction_rows(model_id: str, task: str, rows, classes, probabilities: np.ndarray, *, run_id: str,
                    dataset: str | None, cohort: str | None, lake_snapshot: int | None) -> pa.Table:
    """The `predictions` rows of one run: the most probable label per row, its probability and all of them.
    Ties go to the first label in the model's class order (numpy's argmax), as scikit-learn's predict does."""
    probabilities = np.asarray(probabilities, dtype=np.float64)
    best = probabilities.argmax(axis=1) if len(rows) else np.zeros(0, dtype=int)
    labels = [str(c) for c in classes]
    now = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
    n = len(rows)
    return pa.table({
        "model_id": [model_id] * n, "task": [task] * n, "run_id": [run_id] * n,
        "dataset": [dataset] * n, "cohort": [cohort] * n,
        "row_id": [str(r) for r in rows],
        "predicted": [labels[i] for i in best],
        "probability": probabilities[np.arange(n), best] if n else np.zeros(0),
        "probabilities": [json.dumps(dict(zip(labels, map(float, p)))) for p in probabilities],
        "lake_snapshot": [lake_snapshot] * n,
        "predicted_at": [now] * n,
    }, schema=PREDICTIONS.schema)


def write_predictions(lake, model_id: str, task: str, rows, classes, probabilities, *, dataset=None, cohort=None,
                      lake_snapshot=None, engine: str | None = None, tenant: str | None = None) -> dict:
    """Append one run's predictions to `predictions` and publish them. Returns the run's catalog record
    (run_id, rows, versions)."""
    tenant = check_name("tenant", tenant or lake.config.tenant)
    with lake.ingest_lock():
        lake.recover()  # a killed writer's leftovers first, as every ingest does
        run_id = new_run_id()
        t0 = time.monotonic()
        lake.catalog.start_run(run_id, kind="predict", dataset=dataset, tenant=tenant,
                               source_path=f"model:{model_id}", engine=engine)
        try:
            table = prediction_rows(model_id, task, rows, classes, probabilities, run_id=run_id, dataset=dataset,
                                    cohort=cohort, lake_snapshot=lake_snapshot)
            root = lake.table_root(PREDICTIONS.name)
            files = [write_data_file(root, PREDICTIONS, table, {}, f"part-{run_id}.parquet")] if table.num_rows else []
            commit_files(root, PREDICTIONS, files, run_id=run_id)
            seconds = round(time.monotonic() - t0, 3)
            entry = lake.catalog.run(run_id)
            write_manifest(lake.root, {
                **{k: getattr(entry, k) for k in ("run_id", "kind", "dataset", "tenant", "source_path", "sha256",
                                                  "size_bytes", "started_at", "engine")},
                "stored_path": None, "seconds": seconds, "rows": {PREDICTIONS.name: table.num_rows}, "warnings": [],
                "finished_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
                "versions": {PREDICTIONS.name: table_version(root)}})
            versions = lake.catalog.publish(
                lake.root, [PREDICTIONS.name], run_id=run_id,
                finish={"status": "succeeded", "seconds": seconds, "rows": {PREDICTIONS.name: table.num_rows},
                        "warnings": []})
        except BaseException as exc:
            lake.catalog.finish_run(run_id, "failed", time.monotonic() - t0, error=f"{type(exc).__name__}: {exc}")
            lake.recover(sweep=True)
            raise
    return {"run_id": run_id, "rows": table.num_rows, "versions": versions}
