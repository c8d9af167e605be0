"""Held-out metrics of a fitted classifier: the numbers `ml.train` reports and the registry stores.

ROC-AUC is the plain binary AUC of the second class (labels sorted) for two classes, one-vs-rest
macro AUC for more; it is None when the held-out rows hold a single class (AUC is undefined).
The majority-class baseline predicts the training part's most frequent label for every row, so a
model's accuracy can be read against what guessing achieves.
"""

from __future__ import annotations

import numpy as np
from sklearn.metrics import (accuracy_score, average_precision_score, balanced_accuracy_score,
                             confusion_matrix, precision_recall_curve, roc_auc_score, roc_curve)

__all__ = ["held_out_metrics", "curves"]


def _roc_auc(y_true: np.ndarray, proba: np.ndarray, classes: list[str]) -> float | None:
    if len(np.unique(y_true)) < 2:
        return None
    if len(classes) == 2:
        return float(roc_auc_score(y_true == classes[1], proba[:, 1]))
    if len(np.unique(y_true)) < len(classes):
        return None  # ovr needs every class present among the held-out rows
    return float(roc_auc_score(y_true, proba, multi_class="ovr", labels=classes))


def held_out_metrics(y_true: np.ndarray, predicted: np.ndarray, proba: np.ndarray, classes: list[str],
                     y_train: np.ndarray) -> dict:
    values, counts = np.unique(y_train, return_counts=True)
    majority = str(values[np.argmax(counts)])  # ties: the first label in sorted order
    baseline = np.full(len(y_true), majority)
    return {
        "n_rows": int(len(y_true)),
        "accuracy": float(accuracy_score(y_true, predicted)),
        "balanced_accuracy": float(balanced_accuracy_score(y_true, predicted)),
        "roc_auc": _roc_auc(y_true, proba, classes),
        "roc_auc_kind": "binary" if len(classes) == 2 else "ovr_macro",
        "baseline": {"strategy": "majority_class", "label": majority,
                     "accuracy": float(accuracy_score(y_true, baseline)),
                     "balanced_accuracy": float(balanced_accuracy_score(y_true, baseline))},
        "confusion_matrix": {"labels": list(classes),  # rows: true label, columns: predicted
                             "counts": confusion_matrix(y_true, predicted, labels=classes).tolist()},
    }


def curves(y_true: np.ndarray, proba: np.ndarray, classes: list[str]) -> dict:
    """Per class, one-vs-rest ROC and precision-recall points (for the HTML report to plot);
    a class absent from (or the only class of) the held-out rows has no curve and is left out."""
    out = {}
    for k, label in enumerate(classes):
        positive = y_true == label
        if positive.all() or not positive.any():
            continue
        fpr, tpr, _ = roc_curve(positive, proba[:, k])
        precision, recall, _ = precision_recall_curve(positive, proba[:, k])
        out[label] = {
            "roc": {"fpr": fpr.tolist(), "tpr": tpr.tolist(), "auc": float(roc_auc_score(positive, proba[:, k]))},
            "pr": {"precision": precision.tolist(), "recall": recall.tolist(),
                   "average_precision": float(average_precision_score(positive, proba[:, k]))},
        }
    return out
