"""The ML workflow as library calls; `genolake ml ...` is a thin CLI over these.

    from genolake import ml
    fs = ml.feature_set(lake, "ancestry", dataset="1kg")          # a FeatureSet (Arrow / NumPy)
    record = ml.train(lake, "ancestry", dataset="1kg", seed=0)  # searched, held out, registered
    ml.list_models(lake); ml.show(lake, record.model_id)
    evaluation = ml.evaluate(lake, record.model_id, report="ancestry.html")
    result = ml.predict(lake, record.model_id, dataset="1kg", cohort="super_pop=EUR")
    scores = ml.score(lake, "PGS001229_22.txt", dataset="1kg")

`lake` is a Lake, a LakeConfig or a root path. Features are read through a query engine (`engine=`,
default DuckDB) bound to the lake's published snapshot, or to snapshot `as_of`; a model records
the snapshot it was trained at, so `evaluate` rebuilds its features there and checks that the
stored held-out metrics come out again.
"""

from __future__ import annotations

import importlib
import inspect
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Callable

import numpy as np
import pyarrow as pa

from genolake.lake.config import LakeConfig
from genolake.lake.errors import ModelError, QueryNotFound
from genolake.lake.store import Lake
from genolake.queries.engines import connect

from . import registry, training
from .features import FEATURE_SETS
from .features import build as build_features
from .features.base import FeatureSet
from .held_out import curves as held_out_curves
from .held_out import held_out_metrics

__all__ = ["feature_set", "train", "list_models", "show", "evaluate", "predict", "score", "PredictResult"]


def _lake(lake) -> Lake:
    if isinstance(lake, Lake):
        return lake
    return Lake.open(lake if isinstance(lake, LakeConfig) else LakeConfig.from_env(lake))


@contextmanager
def _engine(lake: Lake, engine, as_of):
    """A named engine opened (and closed) here, or an Engine the caller already holds."""
    if not isinstance(engine, str):
        yield engine
        return
    e = connect(lake, engine, as_of=as_of)
    try:
        yield e
    finally:
        e.close()


def feature_set(lake, task: str, *, engine="duckdb", as_of: int | None = None, **params) -> FeatureSet:
    """The feature set `task` ("ancestry", "clinvar_conflict") over the lake; params go to its builder."""
    lake = _lake(lake)
    with _engine(lake, engine, as_of) as e:
        return build_features(e, task, **params)


def train(lake, task: str, *, automl: str = "halving", budget_s: float | None = None, seed: int = 0,
          name: str | None = None, engine="duckdb", as_of: int | None = None, test_fraction: float = 0.25,
          cv: int = 5, n_candidates: int = 8, progress: Callable[[str], None] | None = None,
          **params) -> registry.ModelRecord:
    """Build the features, search models on a grouped training part, score the best held out, and
    register it under the lake. Returns the registry record (`.model_id`, `.meta`)."""
    training.check_options(automl, budget_s, test_fraction, cv, n_candidates)
    lake = _lake(lake)
    say = progress or (lambda message: None)
    fs = feature_set(lake, task, engine=engine, as_of=as_of, **params)
    say(f"features: {task}, {len(fs.rows):,} rows x {len(fs.columns):,} columns")
    result = training.train(fs, automl=automl, budget_s=budget_s, seed=seed, test_fraction=test_fraction, cv=cv,
                            n_candidates=n_candidates, progress=say)
    record = registry.register(lake, result, fs, name=name)
    say(f"registered {record.model_id}")
    return record


def list_models(lake) -> pa.Table:
    return registry.list_models(_lake(lake))


def show(lake, model_id: str) -> dict:
    return registry.show(_lake(lake), model_id)


def _builder_params(task: str, params: dict, **overrides) -> dict:
    """The stored builder parameters with `overrides`, keeping only what the builder accepts."""
    module, func = FEATURE_SETS[task].split(":")
    builder = getattr(importlib.import_module(module, "genolake.ml.features"), func)
    accepted = set(inspect.signature(builder).parameters) - {"engine"}
    merged = {**(params or {}), **{k: v for k, v in overrides.items() if v is not None}}
    return {k: v for k, v in merged.items() if k in accepted}


def _rebuild(lake: Lake, meta: dict, engine, as_of, *, labels: bool, **overrides) -> FeatureSet:
    """The model's feature set rebuilt with its own parameters (ancestry: its own site columns)."""
    task = meta["task"]
    stored = (meta.get("features") or {}).get("params") or {}
    if task == "ancestry":
        overrides.setdefault("sites", list(meta["columns"]))
    params = _builder_params(task, stored, labels=labels, **overrides)
    try:
        return feature_set(lake, task, engine=engine, as_of=as_of, **params)
    except QueryNotFound as err:
        raise ModelError(f"model {meta['model_id']}: the lake no longer has the features it was trained on: {err}") from None


def _training_snapshot(meta: dict) -> int | None:
    snap = ((meta.get("features") or {}).get("provenance") or {}).get("snapshot")
    return snap if isinstance(snap, int) and not isinstance(snap, bool) else None


def evaluate(lake, model_id: str, *, report=None, engine="duckdb",
             progress: Callable[[str], None] | None = None) -> dict:
    """Re-score a registered model on its held-out rows, rebuilt from the lake at its training
    snapshot, and check them against the metrics stored at registration ("reproduced"). With
    `report`, also write the self-contained HTML report there. Returns the evaluation dict."""
    lake = _lake(lake)
    say = progress or (lambda message: None)
    estimator, meta = registry.load(lake, model_id)
    as_of = _training_snapshot(meta)
    say(f"rebuilding {meta['task']} features at snapshot {as_of}")
    fs = _rebuild(lake, meta, engine, as_of, labels=True)
    registry.check_features(meta, fs)  # a changed schema: ModelError naming the columns
    test_rows = list(meta["split"]["test_rows"])
    index = {r: i for i, r in enumerate(fs.rows)}
    absent = [r for r in test_rows if r not in index]
    if absent:
        raise ModelError(f"model {model_id}: {len(absent)} of its held-out rows are not in the rebuilt features "
                         f"(e.g. {absent[0]}): the lake at snapshot {as_of} differs from the training lake")
    te = np.array([index[r] for r in test_rows], dtype=np.int64)
    tr = np.setdiff1d(np.arange(len(fs.rows)), te)
    y = np.asarray(fs.y, dtype=str)
    classes = list(meta["classes"])
    table = registry.predict(estimator, meta, fs)
    proba = np.column_stack([table[f"p_{c}"].to_numpy()[te] for c in classes])
    predicted = np.asarray(table["predicted"].to_pylist(), dtype=str)[te]
    metrics = held_out_metrics(y[te], predicted, proba, classes, y[tr])
    stored = meta["metrics"]
    same = fs.content_hash == meta["content_hash"] and _close(metrics, stored)
    say(f"held out: accuracy {metrics['accuracy']:.4f}; {'reproduces' if same else 'DIFFERS FROM'} the stored metrics")
    evaluation = {
        "model_id": model_id, "task": meta["task"], "name": meta.get("name"),
        "metrics": metrics, "stored_metrics": stored, "reproduced": bool(same),
        "features_content_hash": fs.content_hash, "curves": held_out_curves(y[te], proba, classes),
        "prevalence": {c: float(np.mean(y[te] == c)) for c in classes},
        "leaderboard": meta["leaderboard"], "best": meta["best"], "settings": meta["settings"],
        "split": {k: v for k, v in meta["split"].items() if k != "test_rows"},
        "features": {k: v for k, v in (meta.get("features") or {}).items() if k != "params"} |
                    {"params": short_params((meta.get("features") or {}).get("params") or {})},
        "n_columns": len(meta["columns"]), "versions": meta.get("versions"), "created": meta.get("created"),
        "snapshot": as_of,
    }
    if report is not None:
        from .report import write_model_report

        evaluation["report"] = str(write_model_report(report, evaluation))
        say(f"report: {evaluation['report']}")
    return evaluation


def short_params(params: dict) -> dict:
    """Parameters for display: long lists (an ancestry model's sites) as their length."""
    return {k: (f"{len(v):,} values" if isinstance(v, (list, tuple)) and len(v) > 20 else v) for k, v in params.items()}


def _close(a: dict, b: dict) -> bool:
    """The recomputed metrics equal the stored ones (floats to 1e-12: the same arithmetic, JSON round trip)."""
    keys = ("n_rows", "accuracy", "balanced_accuracy", "roc_auc")
    for k in keys:
        x, y = a.get(k), b.get(k)
        if (x is None) != (y is None):
            return False
        if x is not None and abs(float(x) - float(y)) > 1e-12:
            return False
    return a["confusion_matrix"] == b["confusion_matrix"]


@dataclass(frozen=True)
class PredictResult:
    """table: row, predicted, p_<class>...; run: the predictions run's catalog record (None with write=False)."""

    model_id: str
    table: pa.Table
    run: dict | None
    snapshot: int | None


def predict(lake, model_id: str, *, dataset: str | None = None, cohort=None, engine="duckdb",
            write: bool = True, progress: Callable[[str], None] | None = None) -> PredictResult:
    """Predict with a registered model on the lake's current features (built with the model's own
    parameters; `dataset` / `cohort` choose the rows) and, with `write`, append the predictions to the
    curated `predictions` table as a run. A feature schema that no longer matches the model's is a
    ModelError naming the differing columns."""
    from .predictions import write_predictions

    lake = _lake(lake)
    say = progress or (lambda message: None)
    estimator, meta = registry.load(lake, model_id)
    # the predictions table records the cohort as text (a Cohort describes itself)
    cohort_text = cohort.describe() if hasattr(cohort, "describe") else (None if cohort is None else str(cohort))
    with _engine(lake, engine, None) as e:
        snap = e.snapshot()
        overrides = {"dataset": dataset}
        if meta["task"] == "ancestry":
            overrides["cohort"] = cohort
        elif cohort is not None:
            raise ModelError(f"model {model_id} predicts {meta['task']} per variant: a cohort does not apply")
        fs = _rebuild(lake, meta, e, None, labels=False, **overrides)
        say(f"features: {len(fs.rows):,} rows x {len(fs.columns):,} columns at snapshot {snap.number}")
        table = registry.predict(estimator, meta, fs)
        engine_name = e.name
    run = None
    if write:
        classes = list(meta["classes"])
        probabilities = np.column_stack([table[f"p_{c}"].to_numpy() for c in classes]) if table.num_rows \
            else np.zeros((0, len(classes)))
        ds = dataset or (meta.get("features") or {}).get("params", {}).get("dataset")
        run = write_predictions(lake, model_id, meta["task"], table["row"].to_pylist(), classes, probabilities,
                                dataset=ds, cohort=cohort_text, lake_snapshot=snap.number, engine=engine_name)
        say(f"wrote {run['rows']:,} predictions (run {run['run_id']})")
    return PredictResult(model_id, table, run, snap.number)


def score(lake, weights, *, dataset: str | None = None, cohort=None, engine="duckdb") -> pa.Table:
    """Polygenic scores of the cohort's samples from a weights file (ml.prs)."""
    from .prs import score as prs_score

    lake = _lake(lake)
    with _engine(lake, engine, None) as e:
        return prs_score(e, weights, dataset=dataset, cohort=cohort)

