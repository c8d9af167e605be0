"""The model registry: trained models under `<lake root>/models/<model_id>/`, beside the zones.

    record = register(lake, result, features, name="ancestry-1kg")
    estimator, meta = load(lake, record.model_id)
    table = predict(estimator, meta, new_features)

Each model directory holds `model.skops` (skops.io, never pickle) and `model.json`: what the model
was trained on (the feature set's describe(): params, provenance with the lake snapshot and Delta
table versions, schema_hash, content_hash), its columns and classes, the leaderboard, held-out
metrics, library versions and the sha256 of model.skops. A directory is written under a hidden
temporary name and renamed into place, so a model is either complete or absent.

Loading refuses (ModelError) before any object is built: a directory the registry did not write,
a model.skops whose sha256 differs from model.json's, or one holding a type outside
TRUSTED_TYPES — the few non-default types the pipelines of ml.families and ml.automl_flaml need.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import platform
import re
import secrets
import shutil
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

import numpy as np
import pyarrow as pa

from genolake.lake.errors import ConfigError, ModelError, NotFoundError

from .features.base import FeatureSet

__all__ = ["MODELS_DIR", "TRUSTED_TYPES", "ModelRecord", "register", "list_models", "show", "load", "predict",
           "models_root", "check_features"]

MODELS_DIR = "models"  # beside quarantine/, pre-curated/ and curated/ in the lake root
MODEL_FILE = "model.skops"
META_FILE = "model.json"
REGISTRY_MARKER = "genolake.ml.registry"
FORMAT_VERSION = 1
REQUIRED_FIELDS = ("registry", "format", "model_id", "task", "columns", "classes", "schema_hash", "content_hash",
                   "sha256", "created")

# what skops.io.get_untrusted_types reports for the supported pipelines beyond skops' own defaults
# (scikit-learn estimators and numpy arrays are trusted by skops itself)
TRUSTED_TYPES = (
    "numpy.dtype",
    "sklearn.tree._tree.Tree",  # random forest, extra trees
    "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
    "sklearn.neighbors._kd_tree.KDTree",  # kNN: the search tree scikit-learn picks for few columns
    "sklearn.neighbors._ball_tree.BallTree",
    "sklearn.metrics._dist_metrics.EuclideanDistance64",
)

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


@dataclass(frozen=True)
class ModelRecord:
    model_id: str
    path: Path  # the model's directory
    meta: dict


def models_root(lake) -> Path:
    return Path(lake.root) / MODELS_DIR


def _sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _version(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def _write_synced(path: Path, data: bytes) -> None:
    with open(path, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())


def _jsonable(value):
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"not JSON-serialisable: {type(value).__name__}")


def register(lake, result, features: FeatureSet, *, name: str | None = None) -> ModelRecord:
    """Store `result.estimator` with its metadata; returns the new model's record."""
    import skops.io as sio

    if name is not None and not _NAME.match(name):
        raise ConfigError(f"model name {name!r}: use 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit")
    if result.content_hash != features.content_hash or result.schema_hash != features.schema_hash:
        raise ModelError(f"the training result was made from another feature set than the {features.task!r} one given "
                         f"(content {result.content_hash[:12]} vs {features.content_hash[:12]}): pass the features it was trained on")
    now = dt.datetime.now(dt.timezone.utc)
    root = models_root(lake)
    root.mkdir(parents=True, exist_ok=True)
    payload = sio.dumps(result.estimator)
    described = features.describe()
    meta = {
        "registry": REGISTRY_MARKER, "format": FORMAT_VERSION, "model_id": None, "name": name,
        "task": features.task, "created": now.isoformat(timespec="seconds"),
        "columns": list(features.columns), "classes": list(result.classes),
        "schema_hash": features.schema_hash, "content_hash": features.content_hash,
        "features": described,  # params, provenance (lake snapshot, table versions), label counts
        "best": result.best, "settings": result.settings, "split": result.split,
        "leaderboard": result.leaderboard.to_pylist(), "metrics": result.metrics, "curves": result.curves,
        "timings": result.timings,
        "versions": {"python": platform.python_version(), "scikit-learn": _version("scikit-learn"),
                     "skops": _version("skops"), "numpy": _version("numpy"), "genolake": _version("genolake")},
        "file": MODEL_FILE, "sha256": hashlib.sha256(payload).hexdigest(),
    }
    stem = name or features.task
    for _ in range(20):
        model_id = f"{stem}-{now:%Y%m%dT%H%M%SZ}-{secrets.token_hex(3)}"
        meta["model_id"] = model_id
        tmp = root / f".tmp-{model_id}"
        tmp.mkdir()
        try:
            _write_synced(tmp / MODEL_FILE, payload)
            _write_synced(tmp / META_FILE, json.dumps(meta, indent=1, default=_jsonable).encode())
            final = root / model_id
            if final.exists():
                continue  # the id is taken: draw another suffix
            os.rename(tmp, final)  # atomic; fails rather than overwrite if a same-named dir appeared meanwhile
            return ModelRecord(model_id, final, meta)
        except OSError as err:
            if not (root / model_id).exists():
                raise ModelError(f"cannot write model {model_id} under {root}: {err.strerror or err}") from None
        finally:
            if tmp.exists():
                shutil.rmtree(tmp, ignore_errors=True)
    raise ModelError(f"could not find a free model id under {root}")


def _model_dir(lake, model_id: str) -> Path:
    if not isinstance(model_id, str) or not _NAME.match(model_id):
        raise NotFoundError(f"no model {model_id!r} in {models_root(lake)} (ids look like ancestry-20260101T000000Z-1a2b3c)")
    path = models_root(lake) / model_id
    if not path.is_dir():
        raise NotFoundError(f"no model {model_id!r} in {models_root(lake)}: `genolake ml models` lists them")
    return path


def _read_meta(path: Path) -> dict:
    meta_path = path / META_FILE
    try:
        meta = json.loads(meta_path.read_text())
    except FileNotFoundError:
        raise ModelError(f"{path} was not made by the model registry: it has no {META_FILE}") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ModelError(f"{meta_path} is not a registry model description: {err}") from None
    if not isinstance(meta, dict) or meta.get("registry") != REGISTRY_MARKER:
        raise ModelError(f"{meta_path} was not written by the model registry (no {REGISTRY_MARKER!r} marker)")
    missing = [f for f in REQUIRED_FIELDS if f not in meta]
    if missing:
        raise ModelError(f"{meta_path} lacks the registry fields {', '.join(missing)}")
    if meta["format"] != FORMAT_VERSION:
        raise ModelError(f"{meta_path} has registry format {meta['format']!r}; this genolake reads format {FORMAT_VERSION}")
    if meta["model_id"] != path.name:
        raise ModelError(f"{meta_path} describes model {meta['model_id']!r}, not the directory's {path.name!r}")
    return meta


def show(lake, model_id: str) -> dict:
    """model.json of one model (with "path", its directory)."""
    path = _model_dir(lake, model_id)
    return {**_read_meta(path), "path": str(path)}


_LIST_SCHEMA = pa.schema([("model_id", pa.string()), ("name", pa.string()), ("task", pa.string()),
                          ("created", pa.string()), ("best_family", pa.string()), ("cv_score", pa.float64()),
                          ("test_accuracy", pa.float64()), ("test_balanced_accuracy", pa.float64()),
                          ("test_roc_auc", pa.float64()), ("n_rows", pa.int64()), ("n_columns", pa.int64()),
                          ("schema_hash", pa.string())])


def list_models(lake) -> pa.Table:
    """One row per registered model, oldest first; directories the registry did not write are left out."""
    root = models_root(lake)
    rows = []
    for path in sorted(root.iterdir()) if root.is_dir() else []:
        if path.name.startswith(".") or not path.is_dir():
            continue
        try:
            meta = _read_meta(path)
        except ModelError:
            continue  # `show`/`load` say why; a listing stays readable
        metrics, board = meta.get("metrics") or {}, meta.get("leaderboard") or [{}]
        rows.append({"model_id": meta["model_id"], "name": meta.get("name"), "task": meta["task"],
                     "created": meta["created"], "best_family": (meta.get("best") or {}).get("family"),
                     "cv_score": board[0].get("cv_score"), "test_accuracy": metrics.get("accuracy"),
                     "test_balanced_accuracy": metrics.get("balanced_accuracy"), "test_roc_auc": metrics.get("roc_auc"),
                     "n_rows": (meta.get("features") or {}).get("n_rows"), "n_columns": len(meta["columns"]),
                     "schema_hash": meta["schema_hash"]})
    rows.sort(key=lambda r: (r["created"], r["model_id"]))
    return pa.Table.from_pylist(rows, schema=_LIST_SCHEMA)


def load(lake, model_id: str):
    """(estimator, meta) of a registered model, after its checksum and trusted-type checks."""
    import skops.io as sio

    path = _model_dir(lake, model_id)
    meta = _read_meta(path)
    model_path = path / MODEL_FILE
    if not model_path.is_file():
        raise ModelError(f"{model_path} is missing")
    digest = _sha256_file(model_path)
    if digest != meta["sha256"]:
        raise ModelError(f"{model_path} fails its checksum (sha256 {digest[:16]}..., model.json records "
                         f"{str(meta['sha256'])[:16]}...): the file changed since it was registered")
    try:
        untrusted = sio.get_untrusted_types(file=model_path)
    except Exception as err:  # skops raises assorted errors on a malformed archive
        raise ModelError(f"{model_path} is not a readable skops file: {err}") from None
    refused = sorted(set(untrusted) - set(TRUSTED_TYPES))
    if refused:
        raise ModelError(f"{model_path} holds types outside the registry's allow-list: {', '.join(refused)}")
    try:
        estimator = sio.load(model_path, trusted=list(TRUSTED_TYPES))
    except Exception as err:  # e.g. written by an incompatible scikit-learn
        raise ModelError(f"{model_path} cannot be loaded (scikit-learn {_version('scikit-learn')}, skops "
                         f"{_version('skops')}; it was written with {meta.get('versions')}): {err}") from None
    return estimator, {**meta, "path": str(path)}


def _first(names: list[str], k: int = 8) -> str:
    return ", ".join(names[:k]) + (f", ... ({len(names) - k} more)" if len(names) > k else "")


def check_features(meta: dict, features: FeatureSet) -> None:
    model = meta.get("model_id", "the model")
    if features.task != meta["task"]:
        raise ModelError(f"model {model} was trained on {meta['task']!r} features, not {features.task!r}")
    if features.schema_hash == meta["schema_hash"]:
        return
    needed, given = list(meta["columns"]), list(features.columns)
    have, want = set(given), set(needed)
    missing = [c for c in needed if c not in have]
    extra = [c for c in given if c not in want]
    problems = []
    if missing:
        problems.append(f"{len(missing)} feature columns the model needs are missing: {_first(missing)}")
    if extra:
        problems.append(f"{len(extra)} feature columns the model was not trained on: {_first(extra)}")
    if not problems:
        problems.append("the feature columns are the same but in another order (rebuild them with the model's parameters)")
    raise ModelError(f"model {model}: " + "; ".join(problems))


def predict(estimator, meta: dict, features: FeatureSet) -> pa.Table:
    """row, predicted, then p_<class> per class of the model; refuses features of another schema."""
    check_features(meta, features)
    X = np.ascontiguousarray(features.X, dtype=np.float64)
    predicted = np.asarray(estimator.predict(X)).astype(str)
    proba = estimator.predict_proba(X)
    classes = [str(c) for c in estimator.classes_]
    columns = {"row": pa.array(list(features.rows), pa.string()), "predicted": pa.array(predicted.tolist(), pa.string())}
    by_class = dict(zip(classes, proba.T))
    for c in meta["classes"]:  # the model's full label list; 0 for a label its training part lacked
        columns[f"p_{c}"] = pa.array(by_class.get(c, np.zeros(len(X))), pa.float64())
    return pa.table(columns)
