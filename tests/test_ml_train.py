"""ml.training.train on synthetic feature sets: grouped split without leakage, a leaderboard of several
families, held-out metrics recomputed here by hand (numpy counting, Mann-Whitney AUC), determinism
by seed, and the option/input errors."""

from __future__ import annotations

import json
import sys

import numpy as np
import pytest
from sklearn.datasets import make_classification

from genolake.lake.errors import ConfigError, InputError
from genolake.ml.features.base import FeatureSet
from genolake.ml.training import train

pytest.importorskip("sklearn")
pytest.importorskip("skops")


def synthetic(task="ancestry", n=240, m=12, labels=("AFR", "EAS", "EUR"), per_group=3, seed=7, weights=None):
    """make_classification with 5 % NaN; rows come in groups of `per_group` sharing a label."""
    X, y = make_classification(n_samples=n, n_features=m, n_informative=5, n_redundant=2, n_classes=len(labels),
                               weights=weights, random_state=seed)
    rng = np.random.default_rng(seed)
    X[rng.random(X.shape) < 0.05] = np.nan
    order = np.argsort(y, kind="stable")  # groups of one label each, like a gene's variants sharing a class
    X, y = X[order], y[order]
    return FeatureSet(task, X, [f"r{i:04d}" for i in range(n)], [f"f{j}" for j in range(m)],
                      np.asarray(labels)[y], np.array([f"g{i // per_group}" for i in range(n)]),
                      {"synthetic_seed": seed}, {"lake": "synthetic", "snapshot": {"variants": 3}})


@pytest.fixture(scope="module")
def multiclass():
    fs = synthetic()
    messages = []
    return fs, train(fs, seed=0, n_candidates=4, progress=messages.append), messages


@pytest.fixture(scope="module")
def binary():
    fs = synthetic("clinvar_conflict", n=200, labels=("conflicting", "not_conflicting"), per_group=4,
                   weights=[0.3, 0.7], seed=3)
    return fs, train(fs, seed=1, n_candidates=4)


def _hand_auc(positive: np.ndarray, score: np.ndarray) -> float:
    """P(score of a positive > score of a negative), ties counting half (Mann-Whitney)."""
    pos, neg = score[positive], score[~positive]
    return float(((pos[:, None] > neg[None, :]).sum() + 0.5 * (pos[:, None] == neg[None, :]).sum()) / (len(pos) * len(neg)))


def _check_metrics(fs: FeatureSet, result):
    pred = result.predictions.to_pydict()
    label, predicted = np.array(pred["label"]), np.array(pred["predicted"])
    proba = np.column_stack([pred[f"p_{c}"] for c in result.classes])
    m = result.metrics
    assert m["n_rows"] == len(label) == result.split["n_test"]
    assert m["accuracy"] == pytest.approx(np.mean(label == predicted))
    recalls = [np.mean(predicted[label == c] == c) for c in result.classes if (label == c).any()]
    assert m["balanced_accuracy"] == pytest.approx(np.mean(recalls))
    counts = [[int(np.sum((label == t) & (predicted == p))) for p in result.classes] for t in result.classes]
    assert m["confusion_matrix"] == {"labels": result.classes, "counts": counts}
    # the labels of the test rows are the feature set's own
    truth = dict(zip(fs.rows, fs.y))
    assert [truth[r] for r in pred["row"]] == pred["label"]
    # majority baseline: the training part's most frequent label, counted here
    test = set(pred["row"])
    train_labels = [truth[r] for r in fs.rows if r not in test]
    majority = max(sorted(set(train_labels)), key=train_labels.count)
    assert m["baseline"]["label"] == majority
    assert m["baseline"]["accuracy"] == pytest.approx(np.mean(label == majority))
    # probabilities: rows sum to 1 and the prediction is the most probable class
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-9)
    assert (np.array(result.classes)[proba.argmax(axis=1)] == predicted).mean() > 0.97  # argmax ties aside
    aucs = [_hand_auc(label == c, proba[:, k]) for k, c in enumerate(result.classes)]
    if len(result.classes) == 2:
        assert m["roc_auc"] == pytest.approx(aucs[1])
    else:
        assert m["roc_auc"] == pytest.approx(np.mean(aucs))  # ovr macro: unweighted mean of per-class AUCs
    for k, c in enumerate(result.classes):
        curve = result.curves[c]
        assert curve["roc"]["auc"] == pytest.approx(aucs[k])
        assert curve["roc"]["fpr"][0] == 0 and curve["roc"]["fpr"][-1] == 1 and curve["roc"]["tpr"][-1] == 1
        assert curve["pr"]["recall"][0] == 1 and len(curve["pr"]["precision"]) == len(curve["pr"]["recall"])


def test_split_keeps_groups_apart(multiclass):
    fs, result, _ = multiclass
    test = set(result.predictions["row"].to_pylist())
    group_of = dict(zip(fs.rows, fs.groups))
    test_groups = {group_of[r] for r in test}
    train_groups = {group_of[r] for r in fs.rows if r not in test}
    assert test_groups and train_groups and not (test_groups & train_groups)
    assert result.split["n_train"] + result.split["n_test"] == len(fs.rows)
    assert 0.15 < len(test) / len(fs.rows) < 0.35  # test_fraction 0.25, whole groups
    assert result.predictions["group"].to_pylist() == [group_of[r] for r in result.predictions["row"].to_pylist()]
    assert set(result.predictions["label"].to_pylist()) == set(fs.y)  # stratified: every class held out


def test_leaderboard_ranks_several_families(multiclass):
    _, result, messages = multiclass
    board = result.leaderboard.to_pylist()
    assert len({r["family"] for r in board}) >= 3
    assert [r["rank"] for r in board] == list(range(1, len(board) + 1))
    scores = [r["cv_score"] for r in board]
    assert scores == sorted(scores, reverse=True) and all(0 <= s <= 1 for s in scores)
    assert all(r["n_resources"] == result.split["n_train"] for r in board)  # the last halving round sees all rows
    assert result.best == {"family": board[0]["family"], "params": json.loads(board[0]["params"])}
    # the refit estimator is the leaderboard's best candidate
    model_params = result.estimator.named_steps["model"].get_params()
    for key, value in result.best["params"].items():
        assert model_params[key] == value
    for family in {r["family"] for r in board}:
        assert any(family in msg and "round 1/" in msg for msg in messages)
    assert any(msg.startswith("held out:") for msg in messages)


def test_multiclass_metrics_match_hand_counts(multiclass):
    fs, result, _ = multiclass
    assert result.metrics["roc_auc_kind"] == "ovr_macro"
    _check_metrics(fs, result)
    # the synthetic classes are learnable: the model beats guessing the majority label
    assert result.metrics["balanced_accuracy"] > result.metrics["baseline"]["balanced_accuracy"] + 0.2


def test_binary_metrics_match_hand_counts(binary):
    fs, result = binary
    assert result.classes == ["conflicting", "not_conflicting"]
    assert result.metrics["roc_auc_kind"] == "binary"
    _check_metrics(fs, result)


def test_same_seed_same_result(multiclass):
    fs, first, _ = multiclass
    again = train(fs, seed=0, n_candidates=4)

    def board(r):
        return [{k: v for k, v in row.items() if k != "fit_time_s"} for row in r.leaderboard.to_pylist()]

    assert board(again) == board(first)
    assert again.metrics == first.metrics and again.curves == first.curves
    assert again.predictions.equals(first.predictions)
    other = train(fs, seed=5, n_candidates=4)
    assert other.split["test_rows"] != first.split["test_rows"]


def test_rows_without_groups_are_their_own_group():
    fs = synthetic(n=120)
    plain = FeatureSet(fs.task, fs.X, fs.rows, fs.columns, fs.y, None)
    result = train(plain, seed=0, n_candidates=2, cv=3)
    assert result.split["n_test_groups"] == result.split["n_test"]


@pytest.mark.parametrize("options, message", [
    ({"automl": "grid"}, "unknown automl backend"),
    ({"budget_s": 10}, "time budget applies to --automl flaml"),
    ({"automl": "flaml", "budget_s": -1}, "positive number of seconds"),
    ({"test_fraction": 0.9}, "test_fraction"),
    ({"cv": 1}, "cv must be"),
])
def test_bad_options(options, message):
    with pytest.raises(ConfigError, match=message):
        train(synthetic(n=60), **options)


def test_unusable_feature_sets():
    fs = synthetic(n=60)
    with pytest.raises(InputError, match="no labels"):
        train(FeatureSet(fs.task, fs.X, fs.rows, fs.columns))
    with pytest.raises(InputError, match="1 label value"):
        train(FeatureSet(fs.task, fs.X, fs.rows, fs.columns, np.full(60, "EUR"), fs.groups))
    with pytest.raises(InputError, match="3 groups"):
        train(FeatureSet(fs.task, fs.X, fs.rows, fs.columns, fs.y, np.array(["a", "b", "c"] * 20)))


def test_flaml_missing_says_how_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "flaml", None)
    with pytest.raises(ConfigError, match=r"pip install 'genolake\[automl\]'"):
        train(synthetic(n=60), automl="flaml")


@pytest.fixture(scope="module")
def flaml_available():
    from genolake.ml.automl_flaml import import_automl

    try:
        import_automl()
    except ConfigError as err:
        pytest.skip(str(err))
    assert sys.modules.get("pyspark.pandas", 0) is not None  # the import guard leaves nothing behind


def test_flaml_backend_is_reproducible_without_time_budget(flaml_available):
    fs = synthetic(n=180)
    first = train(fs, automl="flaml", seed=0, n_candidates=2, cv=3)
    again = train(fs, automl="flaml", seed=0, n_candidates=2, cv=3)
    board = first.leaderboard.to_pylist()
    assert len({r["family"] for r in board}) >= 3
    assert [r["cv_score"] for r in board] == sorted((r["cv_score"] for r in board), reverse=True)
    strip = lambda r: [{k: v for k, v in row.items() if k != "fit_time_s"} for row in r.leaderboard.to_pylist()]  # noqa: E731
    assert strip(again) == strip(first)
    assert again.metrics == first.metrics
    _check_metrics(fs, first)
