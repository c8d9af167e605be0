"""Machine learning on lake features: feature sets, AutoML training, a model registry, predictions
and polygenic scores (see DESIGN.md). The workflow functions live in `ml.api`:

    from genolake import ml
    record = ml.train(lake, "ancestry", dataset="1kg")

They are loaded on first use, so importing a submodule (ml.registry, ml.features) stays light."""

from __future__ import annotations

_API = ("feature_set", "train", "list_models", "show", "evaluate", "predict", "score", "PredictResult")


def __getattr__(name: str):
    if name in _API:
        from . import api

        return getattr(api, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_API))


__all__ = list(_API)
