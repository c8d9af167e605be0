"""Train a classifier on a FeatureSet: grouped held-out split, model search, held-out metrics.

    from genolake.ml.training import train
    result = train(features, automl="halving", seed=0)
    result.leaderboard       # pa.Table, best first
    result.metrics           # held-out accuracy, balanced accuracy, ROC-AUC, baseline, confusion matrix

No leakage: the held-out rows are one fold of a StratifiedGroupKFold over `features.groups` (rows
without groups are their own group), so no group is on both sides; the CV inside the training part
is grouped the same way. For ancestry the groups are the sample IDs, for clinvar_conflict the genes.

Metric: the search ranks by balanced accuracy (mean of per-class recall) for binary and multiclass
tasks alike: it is not flattered by the majority class (clinvar_conflict is imbalanced, ancestry
super-populations are uneven) and means the same in both backends. Accuracy and ROC-AUC are
reported on the held-out rows.

Backends: "halving" (default) runs scikit-learn's HalvingRandomSearchCV once per model family
(ml.families) with `n_candidates` random candidates; the leaderboard lists the candidates that
reached the last halving round (scored on all training rows), so their scores compare. "flaml"
(optional, ml.automl_flaml) lets FLAML pick one configuration per learner, then scores each with
the same grouped CV. Everything is single-threaded and seeded: the same FeatureSet and seed give the
same leaderboard (fit times aside) and metrics — for FLAML only without a time budget.
"""

from __future__ import annotations

import json
import math
import time
import warnings
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import pyarrow as pa

from genolake.lake.errors import ConfigError, InputError

from .features.base import FeatureSet

__all__ = ["train", "check_options", "TrainResult", "SCORING", "AUTOML_BACKENDS"]

SCORING = "balanced_accuracy"
AUTOML_BACKENDS = ("halving", "flaml")


@dataclass
class TrainResult:
    """What `train` returns and `registry.register` stores.

    estimator: the best pipeline, refit on the whole training part; classes: its labels (sorted).
    best: {"family", "params"}; leaderboard: one row per scored candidate, best first.
    metrics: held-out metrics (ml.held_out.held_out_metrics); curves: per-class ROC/PR points.
    predictions: row, group, label, predicted, one probability column per class (held-out rows).
    split: sizes of both sides; settings: the arguments that fix the run."""

    estimator: object
    classes: list[str]
    best: dict
    leaderboard: pa.Table
    metrics: dict
    curves: dict
    predictions: pa.Table
    split: dict
    settings: dict
    task: str
    schema_hash: str
    content_hash: str
    timings: dict = field(default_factory=dict)


def check_options(automl, budget_s=None, test_fraction=0.25, cv=5, n_candidates=8) -> None:
    """The search settings, checked before any feature is built (a mistake costs no lake read)."""
    if automl not in AUTOML_BACKENDS:
        raise ConfigError(f"unknown automl backend {automl!r} (one of: {', '.join(AUTOML_BACKENDS)})")
    if budget_s is not None and automl != "flaml":
        raise ConfigError("a time budget applies to --automl flaml; the halving search is sized by its number of candidates")
    if budget_s is not None and not (isinstance(budget_s, (int, float)) and budget_s > 0):
        raise ConfigError(f"the time budget must be a positive number of seconds, not {budget_s!r}")
    if not (isinstance(test_fraction, (int, float)) and 0.05 <= test_fraction <= 0.5):
        raise ConfigError(f"test_fraction must be between 0.05 and 0.5, not {test_fraction!r}")
    if not (isinstance(cv, int) and cv >= 2):
        raise ConfigError(f"cv must be a whole number of folds >= 2, not {cv!r}")
    if not (isinstance(n_candidates, int) and n_candidates >= 1):
        raise ConfigError(f"n_candidates must be a whole number >= 1, not {n_candidates!r}")


def _check(features: FeatureSet, automl, budget_s, test_fraction, cv, n_candidates) -> int:
    check_options(automl, budget_s, test_fraction, cv, n_candidates)
    if features.y is None:
        raise InputError(f"feature set {features.task}", "has no labels (built for prediction only): nothing to train on")
    n_classes = len(np.unique(np.asarray(features.y, dtype=str)))
    if n_classes < 2:
        raise InputError(f"feature set {features.task}", f"has {n_classes} label value(s); a classifier needs at least 2")
    return round(1 / test_fraction)


def _params_json(params: dict) -> str:
    def plain(v):
        return v.item() if isinstance(v, np.generic) else v
    return json.dumps({k.removeprefix("model__"): plain(v) for k, v in sorted(params.items())}, sort_keys=True)


def _grouped_split(X, y, groups, n_splits, seed, what):
    from sklearn.model_selection import StratifiedGroupKFold

    n_groups = len(np.unique(groups))
    if n_groups < n_splits:
        raise InputError(what, f"has {n_groups} groups; splitting needs at least {n_splits} (one per fold)")
    with warnings.catch_warnings():
        # "the least populated class has fewer members than n_splits": the split still keeps groups apart
        warnings.simplefilter("ignore", UserWarning)
        return next(StratifiedGroupKFold(n_splits=n_splits, shuffle=True, random_state=seed).split(X, y, groups))


def _halving(Xtr, ytr, gtr, splitter, seed, n_candidates, progress):
    from sklearn.experimental import enable_halving_search_cv  # noqa: F401  (makes the class importable)
    from sklearn.model_selection import HalvingRandomSearchCV

    from .families import FAMILIES, pipeline_for

    rows, fitted = [], {}
    for family in FAMILIES.values():
        t0 = time.perf_counter()
        search = HalvingRandomSearchCV(
            pipeline_for(family, seed), family.space, n_candidates=n_candidates, factor=3, resource="n_samples",
            # "exhaust": the first round's size is picked so that the last round fits on the whole
            # training part (HalvingRandomSearchCV defaults to "smallest", which stops short of it)
            min_resources="exhaust",
            cv=splitter, scoring=SCORING, refit=True, random_state=seed, n_jobs=1, error_score=np.nan)
        with warnings.catch_warnings():
            # a candidate that cannot fit a small halving round (kNN with more neighbours than rows) scores NaN
            warnings.simplefilter("ignore")
            search.fit(Xtr, ytr, groups=gtr)
        res = search.cv_results_
        iters = np.asarray(res["iter"])
        for it in range(search.n_iterations_):
            scores = np.asarray(res["mean_test_score"])[iters == it]
            progress(f"halving: {family.name} round {it + 1}/{search.n_iterations_}: {len(scores)} candidates "
                     f"on {search.n_resources_[it]} rows, best balanced accuracy {np.nanmax(scores) if np.isfinite(scores).any() else float('nan'):.4f}")
        last = np.flatnonzero(iters == iters.max())
        for i in last:
            rows.append({"family": family.name, "params": _params_json(res["params"][i]),
                         "cv_score": float(res["mean_test_score"][i]), "cv_std": float(res["std_test_score"][i]),
                         "fit_time_s": float(res["mean_fit_time"][i]), "n_resources": int(res["n_resources"][i]),
                         "n_candidates": int(search.n_candidates_[0]), "n_iterations": int(search.n_iterations_),
                         "family_best": bool(i == search.best_index_)})
        fitted[family.name] = search.best_estimator_
        progress(f"halving: {family.name} done in {time.perf_counter() - t0:.1f} s")
    return rows, fitted


def _flaml(Xtr, ytr, gtr, splitter, seed, budget_s, n_candidates, progress):
    from sklearn.base import clone
    from sklearn.impute import SimpleImputer
    from sklearn.model_selection import cross_validate
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    from .automl_flaml import FLAML_LEARNERS, search

    found = search(Xtr, ytr, gtr, splitter=splitter, seed=seed, budget_s=budget_s,
                   max_iter=n_candidates * len(FLAML_LEARNERS), progress=progress)
    rows, fitted = [], {}
    for f in found:
        steps = [("impute", SimpleImputer(strategy="median", keep_empty_features=True))]
        steps += [("scale", StandardScaler())] if f["scaled"] else []
        pipe = Pipeline(steps + [("model", f["model"])])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            cvres = cross_validate(clone(pipe), Xtr, ytr, groups=gtr, cv=splitter, scoring=SCORING, n_jobs=1, error_score=np.nan)
        rows.append({"family": f["family"], "params": json.dumps(f["config"], sort_keys=True, default=float),
                     "cv_score": float(np.mean(cvres["test_score"])), "cv_std": float(np.std(cvres["test_score"])),
                     "fit_time_s": float(np.mean(cvres["fit_time"])), "n_resources": int(len(ytr)),
                     "n_candidates": 1, "n_iterations": 1, "family_best": True,
                     "flaml_cv_loss": f["flaml_cv_loss"]})
        fitted[f["family"]] = pipe
    if not rows:
        raise ConfigError("FLAML tried no learner within the time budget: give it more seconds")
    return rows, fitted


def _leaderboard(rows: list[dict]) -> pa.Table:
    # best first; NaN (failed) last; ties keep the family order and the search's candidate order
    order = sorted(range(len(rows)), key=lambda i: (not math.isfinite(rows[i]["cv_score"]), -np.nan_to_num(rows[i]["cv_score"], nan=0.0), i))
    ranked = [dict(rank=r + 1, **rows[i]) for r, i in enumerate(order)]
    columns = list(ranked[0])
    return pa.table({c: [row.get(c) for row in ranked] for c in columns})


def train(features: FeatureSet, *, automl: str = "halving", budget_s: float | None = None, seed: int = 0,
          test_fraction: float = 0.25, cv: int = 5, n_candidates: int = 8,
          progress: Callable[[str], None] | None = None) -> TrainResult:
    """Search model families on the training part of `features`, refit the best, score it held out."""
    from sklearn.model_selection import StratifiedGroupKFold
    from threadpoolctl import threadpool_limits

    from .held_out import curves, held_out_metrics

    n_outer = _check(features, automl, budget_s, test_fraction, cv, n_candidates)
    progress = progress or (lambda message: None)
    t_start = time.perf_counter()
    X = np.ascontiguousarray(features.X, dtype=np.float64)
    y = np.asarray(features.y, dtype=str)
    groups = np.asarray(features.groups if features.groups is not None else features.rows, dtype=str)
    classes = sorted(np.unique(y).tolist())

    tr, te = _grouped_split(X, y, groups, n_outer, seed, f"feature set {features.task}")
    Xtr, ytr, gtr = X[tr], y[tr], groups[tr]
    if len(np.unique(ytr)) < 2:
        raise InputError(f"feature set {features.task}", "the training part holds a single label; add rows of the other labels")
    if len(np.unique(gtr)) < cv:
        raise InputError(f"feature set {features.task}", f"the training part has {len(np.unique(gtr))} groups, fewer than cv={cv} folds")
    progress(f"split: {len(tr)} training rows ({len(np.unique(gtr))} groups), {len(te)} held-out rows "
             f"({len(np.unique(groups[te]))} groups), no group on both sides")
    splitter = StratifiedGroupKFold(n_splits=cv, shuffle=True, random_state=seed)

    # one thread for every native pool (OpenMP, BLAS): the 2 cores are shared, and fixed
    # reduction orders keep runs identical
    with threadpool_limits(limits=1):
        if automl == "halving":
            rows, fitted = _halving(Xtr, ytr, gtr, splitter, seed, n_candidates, progress)
        else:
            rows, fitted = _flaml(Xtr, ytr, gtr, splitter, seed, budget_s, n_candidates, progress)
        board = _leaderboard(rows)
        if not math.isfinite(board["cv_score"][0].as_py()):
            raise InputError(f"feature set {features.task}", "every candidate model failed to fit on the training part "
                             "(too few rows per label for the CV folds?)")
        best_family, best_params = board["family"][0].as_py(), board["params"][0].as_py()
        estimator = fitted[best_family]
        if automl == "flaml":
            estimator.fit(Xtr, ytr)  # halving's best_estimator_ is already refit on the training part
    t_search = time.perf_counter() - t_start
    progress(f"best: {best_family} {best_params} (cv balanced accuracy {board['cv_score'][0].as_py():.4f})")

    Xte, yte = X[te], y[te]
    proba = estimator.predict_proba(Xte)
    if list(estimator.classes_) != classes:
        # a class absent from the training part: widen the probabilities to every label (0 for the missing one)
        full = np.zeros((len(te), len(classes)))
        full[:, [classes.index(c) for c in estimator.classes_]] = proba
        proba = full
    predicted = estimator.predict(Xte).astype(str)
    metrics = held_out_metrics(yte, predicted, proba, classes, ytr)
    progress(f"held out: accuracy {metrics['accuracy']:.4f}, balanced accuracy {metrics['balanced_accuracy']:.4f}, "
             f"ROC-AUC {metrics['roc_auc'] if metrics['roc_auc'] is None else round(metrics['roc_auc'], 4)} "
             f"(majority baseline accuracy {metrics['baseline']['accuracy']:.4f})")
    predictions = pa.table({"row": [features.rows[i] for i in te], "group": groups[te].tolist(),
                            "label": yte.tolist(), "predicted": predicted.tolist(),
                            **{f"p_{c}": proba[:, k] for k, c in enumerate(classes)}})
    return TrainResult(
        estimator=estimator, classes=classes, best={"family": best_family, "params": json.loads(best_params)},
        leaderboard=board, metrics=metrics, curves=curves(yte, proba, classes), predictions=predictions,
        split={"method": f"StratifiedGroupKFold(n_splits={n_outer}) fold 0", "n_train": int(len(tr)),
               "n_test": int(len(te)), "n_train_groups": int(len(np.unique(gtr))),
               "n_test_groups": int(len(np.unique(groups[te]))), "test_rows": [features.rows[i] for i in te]},
        settings={"automl": automl, "budget_s": budget_s, "seed": seed, "test_fraction": test_fraction, "cv": cv,
                  "n_candidates": n_candidates, "scoring": SCORING},
        task=features.task, schema_hash=features.schema_hash, content_hash=features.content_hash,
        timings={"train_s": round(time.perf_counter() - t_start, 3), "search_s": round(t_search, 3)})
