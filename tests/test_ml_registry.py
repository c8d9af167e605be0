"""ml.registry: round trip, checksum and trusted-type refusals, hand-made directories, feature
schema checks, list/show."""

from __future__ import annotations

import hashlib
import json
import shutil

import numpy as np
import pytest
from sklearn.datasets import make_classification
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer

from genolake.lake.errors import ConfigError, ModelError, NotFoundError
from genolake.ml import registry
from genolake.ml.features.base import FeatureSet
from genolake.ml.registry import list_models, load, predict, register, show
from genolake.ml.training import train

skops_io = pytest.importorskip("skops.io")


def _features(task="ancestry", n=150, m=10, seed=11):
    X, y = make_classification(n_samples=n, n_features=m, n_informative=4, n_classes=3, random_state=seed)
    X[np.random.default_rng(seed).random(X.shape) < 0.05] = np.nan
    return FeatureSet(task, X, [f"s{i}" for i in range(n)], [f"22-{100 + j}-A-G" for j in range(m)],
                      np.array(["AFR", "EAS", "EUR"])[y], np.array([f"s{i}" for i in range(n)]),
                      {"dataset": "synthetic"}, {"engine": "duckdb", "snapshot": {"genotypes": 4, "variants": 2}})


@pytest.fixture(scope="module")
def trained():
    fs = _features()
    return fs, train(fs, seed=0, n_candidates=3, cv=3)


def _double(x):  # a function skops cannot vouch for
    return 2 * x


def test_round_trip_predicts_the_same(lake, trained):
    fs, result = trained
    record = register(lake, result, fs, name="anc")
    assert record.path == lake.root / "models" / record.model_id and record.model_id.startswith("anc-")
    assert not [p for p in record.path.parent.iterdir() if p.name.startswith(".tmp-")]
    estimator, meta = load(lake, record.model_id)
    table = predict(estimator, meta, fs)
    assert table.column_names == ["row", "predicted", "p_AFR", "p_EAS", "p_EUR"]
    assert table["row"].to_pylist() == fs.rows
    assert table["predicted"].to_pylist() == result.estimator.predict(fs.X).tolist()
    np.testing.assert_array_equal(np.column_stack([table[f"p_{c}"].to_numpy() for c in result.classes]),
                                  result.estimator.predict_proba(fs.X))
    held = {r: p for r, p in zip(table["row"].to_pylist(), table["predicted"].to_pylist())}
    assert [held[r] for r in result.predictions["row"].to_pylist()] == result.predictions["predicted"].to_pylist()


def test_model_json_records_what_it_was_trained_on(lake, trained):
    fs, result = trained
    record = register(lake, result, fs)
    meta = json.loads((record.path / "model.json").read_text())
    assert meta["sha256"] == hashlib.sha256((record.path / "model.skops").read_bytes()).hexdigest()
    assert meta["registry"] == registry.REGISTRY_MARKER and meta["model_id"] == record.model_id
    assert meta["task"] == "ancestry" and meta["columns"] == fs.columns and meta["classes"] == ["AFR", "EAS", "EUR"]
    assert meta["schema_hash"] == fs.schema_hash and meta["content_hash"] == fs.content_hash
    assert meta["features"]["provenance"] == fs.provenance and meta["features"]["params"] == fs.params
    assert meta["leaderboard"] == json.loads(json.dumps(result.leaderboard.to_pylist()))
    assert meta["metrics"] == result.metrics and meta["best"] == result.best
    assert set(meta["versions"]) == {"python", "scikit-learn", "skops", "numpy", "genolake"}
    assert all(meta["versions"][k] for k in ("python", "scikit-learn", "skops", "numpy"))


def test_list_and_show(lake, trained):
    fs, result = trained
    assert list_models(lake).num_rows == 0
    a = register(lake, result, fs, name="one")
    b = register(lake, result, fs, name="one")
    assert a.model_id != b.model_id
    (lake.root / "models" / "stray").mkdir()  # not the registry's: left out of the listing
    listing = list_models(lake).to_pylist()
    assert sorted(r["model_id"] for r in listing) == sorted([a.model_id, b.model_id])
    row = listing[0]
    assert row["task"] == "ancestry" and row["name"] == "one" and row["n_columns"] == len(fs.columns)
    assert row["best_family"] == result.best["family"] and row["test_accuracy"] == result.metrics["accuracy"]
    shown = show(lake, a.model_id)
    assert shown["model_id"] == a.model_id and shown["path"] == str(a.path)
    with pytest.raises(NotFoundError, match="no model"):
        show(lake, "nope-20260101T000000Z-000000")
    with pytest.raises(NotFoundError):
        show(lake, "../curated")


def test_changed_bytes_are_refused(lake, trained):
    fs, result = trained
    record = register(lake, result, fs)
    path = record.path / "model.skops"
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(ModelError, match=r"model\.skops fails its checksum"):
        load(lake, record.model_id)


def test_untrusted_type_is_refused_even_with_a_valid_checksum(lake, trained):
    fs, result = trained
    record = register(lake, result, fs)
    hostile = Pipeline([("double", FunctionTransformer(_double)), ("model", result.estimator)])
    path = record.path / "model.skops"
    skops_io.dump(hostile, path)
    meta_path = record.path / "model.json"
    meta = json.loads(meta_path.read_text())
    meta["sha256"] = hashlib.sha256(path.read_bytes()).hexdigest()  # only the type check can refuse now
    meta_path.write_text(json.dumps(meta))
    untrusted = set(skops_io.get_untrusted_types(file=path)) - set(registry.TRUSTED_TYPES)
    assert untrusted and all("_double" in t for t in untrusted)
    with pytest.raises(ModelError, match=r"outside the registry's allow-list: .*_double"):
        load(lake, record.model_id)


def test_directories_the_registry_did_not_make_are_refused(lake, trained):
    fs, result = trained
    root = lake.root / "models"
    root.mkdir(exist_ok=True)
    bare = root / "handmade"
    bare.mkdir()
    skops_io.dump(result.estimator, bare / "model.skops")
    with pytest.raises(ModelError, match="has no model.json"):
        load(lake, "handmade")
    (bare / "model.json").write_text("{not json")
    with pytest.raises(ModelError, match="not a registry model description"):
        load(lake, "handmade")
    digest = hashlib.sha256((bare / "model.skops").read_bytes()).hexdigest()
    (bare / "model.json").write_text(json.dumps({"model_id": "handmade", "sha256": digest}))
    with pytest.raises(ModelError, match="not written by the model registry"):
        load(lake, "handmade")
    (bare / "model.json").write_text(json.dumps({"registry": registry.REGISTRY_MARKER, "model_id": "handmade"}))
    with pytest.raises(ModelError, match="lacks the registry fields .*columns"):
        load(lake, "handmade")
    # a real model's description copied under another name does not pass either
    record = register(lake, result, fs)
    shutil.copytree(record.path, root / "renamed")
    with pytest.raises(ModelError, match="describes model"):
        load(lake, "renamed")


def test_feature_schema_changes_are_explained(lake, trained):
    fs, result = trained
    estimator, meta = load(lake, register(lake, result, fs).model_id)
    keep = list(range(3, len(fs.columns)))
    fewer = FeatureSet(fs.task, fs.X[:, keep], fs.rows, [fs.columns[j] for j in keep])
    with pytest.raises(ModelError, match=r"3 feature columns the model needs are missing: 22-100-A-G, 22-101-A-G, 22-102-A-G"):
        predict(estimator, meta, fewer)
    renamed = FeatureSet(fs.task, fs.X, fs.rows, fs.columns[:-1] + ["22-999-C-T"])
    with pytest.raises(ModelError, match=r"1 feature columns the model needs are missing: 22-109-A-G; "
                                         r"1 feature columns the model was not trained on: 22-999-C-T"):
        predict(estimator, meta, renamed)
    order = list(reversed(range(len(fs.columns))))
    shuffled = FeatureSet(fs.task, fs.X[:, order], fs.rows, [fs.columns[j] for j in order])
    with pytest.raises(ModelError, match="another order"):
        predict(estimator, meta, shuffled)
    other_task = FeatureSet("clinvar_conflict", fs.X, fs.rows, fs.columns)
    with pytest.raises(ModelError, match="trained on 'ancestry' features, not 'clinvar_conflict'"):
        predict(estimator, meta, other_task)
    # prediction-only features (no labels) with the same schema are fine
    unlabeled = FeatureSet(fs.task, fs.X[:5], fs.rows[:5], fs.columns)
    assert predict(estimator, meta, unlabeled).num_rows == 5


def test_register_refuses_features_it_was_not_trained_on(lake, trained):
    fs, result = trained
    with pytest.raises(ModelError, match="another feature set"):
        register(lake, result, _features(seed=12))
    with pytest.raises(ConfigError, match="model name"):
        register(lake, result, fs, name="../escape")


def _flaml_only_pipelines():
    from sklearn.ensemble import ExtraTreesClassifier
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression

    return {"extra_trees": Pipeline([("impute", SimpleImputer()), ("model", ExtraTreesClassifier(n_estimators=5))]),
            "logistic_regression_l1": Pipeline([("impute", SimpleImputer()),
                                                ("model", LogisticRegression(solver="saga", l1_ratio=1.0, max_iter=200))])}


@pytest.mark.parametrize("family", sorted(__import__("genolake.ml.families", fromlist=["FAMILIES"]).FAMILIES) + sorted(_flaml_only_pipelines()))
def test_every_supported_family_loads_under_the_allow_list(lake, trained, family):
    import dataclasses
    import warnings

    from genolake.ml.families import FAMILIES, pipeline_for

    fs, result = trained
    pipe = pipeline_for(FAMILIES[family], 0) if family in FAMILIES else _flaml_only_pipelines()[family]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # saga's convergence on a tiny max_iter
        pipe.fit(fs.X, fs.y)
    record = register(lake, dataclasses.replace(result, estimator=pipe), fs)
    estimator, meta = load(lake, record.model_id)
    np.testing.assert_array_equal(estimator.predict_proba(fs.X), pipe.predict_proba(fs.X))
