"""The model families `ml.train` searches: one scikit-learn pipeline and one search space each.

Every pipeline imputes NaN first (a missing call, an unannotated variant) with the column median,
scales where the model depends on distances or penalties (logistic regression, kNN), then fits the
model. Only scikit-learn types appear, so the registry's skops allow-list stays short
(registry.TRUSTED_TYPES). The search spaces are small on purpose: successive halving spends its
budget on the candidates that survive, not on a wide space.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from scipy.stats import loguniform
from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

__all__ = ["Family", "FAMILIES", "pipeline_for"]


@dataclass(frozen=True)
class Family:
    name: str
    make: Callable[[int], object]  # seed -> unfitted model
    scaled: bool  # standardise the imputed columns first
    space: dict  # "model__<param>" -> list or scipy distribution (HalvingRandomSearchCV's param_distributions)


def pipeline_for(family: Family, seed: int) -> Pipeline:
    steps = [("impute", SimpleImputer(strategy="median", keep_empty_features=True))]
    if family.scaled:
        steps.append(("scale", StandardScaler()))
    steps.append(("model", family.make(seed)))
    return Pipeline(steps)


FAMILIES = {
    f.name: f
    for f in (
        Family("logistic_regression", lambda seed: LogisticRegression(max_iter=5000, random_state=seed), True,
               {"model__C": loguniform(1e-3, 1e2)}),
        Family("random_forest", lambda seed: RandomForestClassifier(random_state=seed, n_jobs=1), False,
               {"model__n_estimators": [50, 100, 200], "model__max_depth": [None, 4, 8, 16],
                "model__min_samples_leaf": [1, 2, 5], "model__max_features": ["sqrt", 0.3]}),
        Family("hist_gradient_boosting", lambda seed: HistGradientBoostingClassifier(random_state=seed), False,
               {"model__learning_rate": loguniform(1e-2, 3e-1), "model__max_leaf_nodes": [7, 15, 31, 63],
                "model__l2_regularization": [0.0, 0.1, 1.0]}),
        # n_neighbors stays small: halving's first rounds fit on few samples
        Family("k_nearest_neighbors", lambda seed: KNeighborsClassifier(), True,
               {"model__n_neighbors": [3, 5, 7, 11, 15], "model__weights": ["uniform", "distance"]}),
    )
}
