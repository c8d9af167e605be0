"""The optional FLAML backend of `ml.train` (`automl="flaml"`; `pip install 'genolake[automl]'`).

FLAML searches scikit-learn learners only (logistic regression with L1, random forest, extra
trees, histogram gradient boosting, kNN), so the registry's skops allow-list does not grow by
xgboost/lightgbm internals. What FLAML returns per learner is its best configuration; `ml.train`
puts that model into the same impute(/scale) pipeline as the halving backend and scores it with
the same grouped CV, so both backends' leaderboards mean the same thing.

Reproducibility: with `budget_s=None` the search runs a fixed number of trials (`max_iter`) with a
fixed seed, one trial at a time, and repeats exactly. With a time budget the number of trials
depends on the machine's speed and load, so two runs may stop at different configurations (the
seed still fixes the order in which FLAML proposes them).

Importing flaml: flaml.automl.spark imports pyspark.pandas whenever pyspark is installed, and
pyspark 3.5's pyspark.pandas still uses `np.NaN`, removed in NumPy 2 — an AttributeError that
flaml does not catch (it catches ImportError). While flaml is imported (and only then) we mark
pyspark.pandas as unimportable, which makes flaml take its own no-pandas-on-Spark fallback; we
never hand flaml Spark frames.
"""

from __future__ import annotations

import contextlib
import sys

import numpy as np
from sklearn.metrics import balanced_accuracy_score

from genolake.lake.errors import ConfigError

__all__ = ["import_automl", "search", "FLAML_LEARNERS"]

# flaml learner -> (our family name, scale the imputed columns)
FLAML_LEARNERS = {
    "lrl1": ("logistic_regression_l1", True),
    "rf": ("random_forest", False),
    "extra_tree": ("extra_trees", False),
    "histgb": ("hist_gradient_boosting", False),
    "kneighbor": ("k_nearest_neighbors", True),
}


@contextlib.contextmanager
def _without_broken_pyspark_pandas():
    blocked = "pyspark.pandas" not in sys.modules and not hasattr(np, "NaN")
    if blocked:
        sys.modules["pyspark.pandas"] = None  # `import pyspark.pandas` now raises ImportError
    try:
        yield
    finally:
        if blocked and sys.modules.get("pyspark.pandas", 0) is None:
            del sys.modules["pyspark.pandas"]


def import_automl():
    """flaml.AutoML, or a ConfigError saying how to install it."""
    try:
        with _without_broken_pyspark_pandas():
            from flaml import AutoML
    except ImportError as err:
        raise ConfigError(f"--automl flaml needs FLAML ({err.name or err}): pip install 'genolake[automl]'") from None
    return AutoML


def _balanced_accuracy_loss(X_val, y_val, estimator, labels, X_train, y_train, *args, **kwargs):
    # FLAML minimises a loss; the halving backend maximises balanced accuracy: the same metric
    score = balanced_accuracy_score(y_val, estimator.predict(X_val))
    return 1.0 - score, {"balanced_accuracy": score}


def search(X, y, groups, *, splitter, seed: int, budget_s: float | None, max_iter: int, progress) -> list[dict]:
    """Per FLAML learner tried: {"flaml_learner", "family", "scaled", "model" (unfitted sklearn
    estimator with FLAML's best configuration), "config", "flaml_cv_loss"}."""
    AutoML = import_automl()
    automl = AutoML()
    settings = dict(task="classification", metric=_balanced_accuracy_loss, estimator_list=list(FLAML_LEARNERS),
                    eval_method="cv", split_type=splitter, groups=groups, seed=seed, n_jobs=1,
                    n_concurrent_trials=1, model_history=True, retrain_full=False, verbose=0, log_file_name="")
    if budget_s is None:
        settings.update(time_budget=-1, max_iter=max_iter)
    else:
        settings.update(time_budget=float(budget_s))
    # FLAML's learners do not impute numpy input: it searches on the training part imputed and
    # scaled with that part's statistics (a mild look-ahead into its own CV folds only; the
    # leaderboard's scores come from ml.train's pipelines, refit per fold)
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    X = make_pipeline(SimpleImputer(strategy="median", keep_empty_features=True), StandardScaler()).fit_transform(X)
    progress(f"flaml: searching {', '.join(FLAML_LEARNERS)} "
             + (f"for {max_iter} trials" if budget_s is None else f"for {budget_s:g} s"))
    automl.fit(X_train=X, y_train=y, **settings)
    from sklearn.base import clone

    found = []
    for learner, (family, scaled) in FLAML_LEARNERS.items():
        trained = automl.best_model_for_estimator(learner)
        if trained is None or getattr(trained, "model", None) is None:
            continue  # never tried within the budget
        model = clone(trained.model)
        current = model.get_params()
        # one thread, our seed; n_jobs left alone where unset (LogisticRegression warns it is unused)
        overrides = {k: v for k, v in (("n_jobs", 1), ("random_state", seed)) if current.get(k) not in (None, v)}
        model.set_params(**overrides)
        loss = automl.best_loss_per_estimator.get(learner)
        found.append({"flaml_learner": learner, "family": family, "scaled": scaled, "model": model,
                      "config": automl.best_config_per_estimator.get(learner) or {},
                      "flaml_cv_loss": None if loss is None or not np.isfinite(loss) else float(loss)})
        progress(f"flaml: {family} best cv balanced accuracy {1 - loss:.4f}" if found[-1]["flaml_cv_loss"] is not None
                 else f"flaml: {family} tried")
    return found
