"""Named feature sets built through the query layer (see FeatureSet).

    from genolake.ml.features import build
    fs = build(engine, "ancestry", dataset="1kg")
"""

from __future__ import annotations

import importlib

from genolake.lake.errors import InputError

from .base import FeatureSet

__all__ = ["FeatureSet", "FEATURE_SETS", "build"]

# task -> "module:function" (relative to this package); a builder takes (engine, **params) -> FeatureSet
FEATURE_SETS = {
    "ancestry": ".ancestry:build",
    "clinvar_conflict": ".clinvar_conflict:build",
}


def build(engine, task: str, **params) -> FeatureSet:
    """The feature set `task` over `engine`'s lake (at its bound snapshot)."""
    target = FEATURE_SETS.get(task)
    if target is None:
        raise InputError(None, f"unknown feature set {task!r} (one of: {', '.join(sorted(FEATURE_SETS))})")
    module, func = target.split(":")
    return getattr(importlib.import_module(module, __name__), func)(engine, **params)
