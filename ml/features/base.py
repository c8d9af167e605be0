"""A feature set: a dense matrix with row and column labels, the label vector, CV groups and provenance.

Every builder in this package returns one. It is what `ml.train` fits, what the registry stores the
schema of (columns, dtypes, `schema_hash`) and what `ml.predict` rebuilds against a lake and checks.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa

__all__ = ["FeatureSet", "PROVENANCE_KEY"]

PROVENANCE_KEY = b"genolake.features"


@dataclass(frozen=True)
class FeatureSet:
    """task: the feature set's name ("ancestry", "clinvar_conflict").
    X: float64 (n_rows, n_columns); NaN where a value is missing (e.g. a missing call).
    rows: one label per row (sample IDs, variant keys); columns: one name per column.
    y: the label per row (strings), or None when the set is built for prediction only.
    groups: the CV group per row (the split never puts one group on both sides), or None.
    params: the builder's parameters (cohort, thresholds, ...), enough to rebuild the set.
    provenance: engine, lake, snapshot and the Delta version of each table read (queries.provenance)."""

    task: str
    X: np.ndarray
    rows: list[str]
    columns: list[str]
    y: np.ndarray | None = None
    groups: np.ndarray | None = None
    params: dict = field(default_factory=dict)
    provenance: dict = field(default_factory=dict)

    def __post_init__(self):
        n, m = self.X.shape
        if len(self.rows) != n or len(self.columns) != m:
            raise ValueError(f"{self.task}: X is {n}x{m} but there are {len(self.rows)} rows and {len(self.columns)} columns")
        for name in ("y", "groups"):
            v = getattr(self, name)
            if v is not None and len(v) != n:
                raise ValueError(f"{self.task}: {name} has {len(v)} values for {n} rows")

    @property
    def schema_hash(self) -> str:
        """What a model depends on: the task and the ordered column names."""
        return _sha256(json.dumps({"task": self.task, "columns": list(self.columns)}).encode())

    @property
    def content_hash(self) -> str:
        """sha256 over columns, rows, X's bytes, y and groups: equal sets hash equal."""
        h = hashlib.sha256()
        h.update(json.dumps({"task": self.task, "columns": list(self.columns), "rows": list(self.rows)}).encode())
        h.update(np.ascontiguousarray(self.X, dtype=np.float64).tobytes())
        for v in (self.y, self.groups):
            h.update(json.dumps(None if v is None else [str(x) for x in v]).encode())
        return h.hexdigest()

    def describe(self) -> dict:
        """A JSON-ready summary (shapes, label counts, hashes, params, provenance)."""
        labels = None
        if self.y is not None:
            values, counts = np.unique(np.asarray(self.y, dtype=str), return_counts=True)
            labels = {str(v): int(c) for v, c in zip(values, counts)}
        return {
            "task": self.task, "n_rows": len(self.rows), "n_columns": len(self.columns),
            "missing_fraction": float(np.isnan(self.X).mean()) if self.X.size else 0.0,
            "labels": labels, "schema_hash": self.schema_hash, "content_hash": self.content_hash,
            "params": self.params, "provenance": self.provenance,
        }

    def to_arrow(self) -> pa.Table:
        """row, [label], [group], then one float64 column per feature; provenance in the metadata."""
        arrays = {"row": pa.array(self.rows, pa.string())}
        if self.y is not None:
            arrays["label"] = pa.array([str(v) for v in self.y], pa.string())
        if self.groups is not None:
            arrays["group"] = pa.array([str(v) for v in self.groups], pa.string())
        for j, name in enumerate(self.columns):
            arrays[name] = pa.array(self.X[:, j], pa.float64(), from_pandas=True)  # NaN -> null
        table = pa.table(arrays)
        meta = {"task": self.task, "params": self.params, "provenance": self.provenance,
                "schema_hash": self.schema_hash, "content_hash": self.content_hash}
        return table.replace_schema_metadata({PROVENANCE_KEY: json.dumps(meta, default=str).encode()})


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
