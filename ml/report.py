"""`genolake ml evaluate`'s HTML report: held-out metrics against the majority-class baseline, the
confusion matrix, ROC and precision-recall curves, the AutoML leaderboard and the provenance.

It takes the evaluation dict of `genolake.ml.evaluate` (plain data, no estimator), so the report can
be re-drawn from a stored evaluation. Plots are matplotlib on an Agg canvas, embedded as PNG.
"""

from __future__ import annotations

import io
import json

import pyarrow as pa

from genolake.queries.report import Section, write_report

__all__ = ["write_model_report", "metrics_table"]

# Okabe-Ito, as the query reports use
_COLOURS = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#000000")


def _figure(width=5.2, height=4.2):
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), dpi=110, layout="constrained")


def _png(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()


def confusion_plot(labels: list[str], matrix: list[list[int]]) -> bytes:
    """Counts, rows = true label, columns = predicted; each cell also shows the row's share."""
    fig = _figure(1.6 + 0.9 * len(labels), 1.2 + 0.8 * len(labels))
    ax = fig.add_subplot()
    totals = [max(sum(r), 1) for r in matrix]
    shares = [[v / t for v in row] for row, t in zip(matrix, totals)]
    ax.imshow(shares, cmap="Blues", vmin=0, vmax=1)
    for i, row in enumerate(matrix):
        for j, v in enumerate(row):
            ax.text(j, i, f"{v}\n{shares[i][j]:.0%}", ha="center", va="center", fontsize=8,
                    color="white" if shares[i][j] > 0.6 else "black")
    ax.set_xticks(range(len(labels)), labels, rotation=30, ha="right")
    ax.set_yticks(range(len(labels)), labels)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    return _png(fig)


def curve_plot(curves: dict, *, x: str, y: str, score: str, xlabel: str, ylabel: str, diagonal: bool,
               baseline: dict | None = None) -> bytes:
    """One line per class (one-vs-rest), its area in the legend; ROC has the chance diagonal, PR the
    positive share (a classifier that knows nothing) as a dashed line per class."""
    fig = _figure()
    ax = fig.add_subplot()
    for k, (label, c) in enumerate(curves.items()):
        colour = _COLOURS[k % len(_COLOURS)]
        ax.plot(c[x], c[y], color=colour, lw=1.6, label=f"{label} ({score} {c[score]:.3f})")
        if baseline and label in baseline:
            ax.axhline(baseline[label], color=colour, lw=0.8, ls="--")
    if diagonal:
        ax.plot([0, 1], [0, 1], color="#999999", lw=0.8, ls="--", label="chance")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.02)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.legend(fontsize=7, loc="lower right" if diagonal else "lower left")
    return _png(fig)


def metrics_table(evaluation: dict) -> pa.Table:
    """metric, model, majority-class baseline (always predicting the training part's most frequent label),
    and the value stored when the model was registered."""
    m, stored = evaluation["metrics"], evaluation.get("stored_metrics") or {}
    b = m.get("baseline") or {}
    names = [k for k in ("accuracy", "balanced_accuracy", "roc_auc") if k in m]
    return pa.table({"metric": names, "model": [m[k] for k in names],
                     "majority_class_baseline": [b.get(k, 0.5 if k == "roc_auc" else None) for k in names],
                     "at_registration": [stored.get(k) for k in names]},
                    schema=pa.schema([("metric", pa.string()), ("model", pa.float64()),
                                      ("majority_class_baseline", pa.float64()), ("at_registration", pa.float64())]))


def _curves(evaluation: dict, kind: str) -> dict:
    """{label: points} for one curve kind ("roc" or "pr") out of ml.held_out.curves' layout."""
    return {label: c[kind] for label, c in (evaluation.get("curves") or {}).items()}


def write_model_report(path, evaluation: dict):
    """Write the self-contained HTML report of one evaluated model (ml.api.evaluate's dict) to `path`;
    returns the path."""
    cm = evaluation["metrics"]["confusion_matrix"]
    feats = evaluation.get("features") or {}
    prov = feats.get("provenance") or {}
    split = evaluation.get("split") or {}
    settings = evaluation.get("settings") or {}
    reproduced = ("the recomputed metrics equal those stored at registration"
                  if evaluation.get("reproduced") else
                  "the recomputed metrics DIFFER from those stored at registration (see the table)")
    sections = [
        Section("Held-out metrics", table=metrics_table(evaluation),
                text=f"{evaluation['metrics']['n_rows']:,} held-out rows ({split.get('method', '?')}: "
                     f"{split.get('n_test_groups', '?')} groups never seen in training or in the search's "
                     f"cross-validation), features rebuilt from the lake at snapshot {evaluation.get('snapshot')}; "
                     f"{reproduced}. The baseline always predicts the training part's most frequent label "
                     f"({(evaluation['metrics'].get('baseline') or {}).get('label', '?')}); its ROC-AUC is 0.5."),
        Section("Confusion matrix", plot=confusion_plot(cm["labels"], cm["counts"]),
                caption="rows: true label; columns: predicted label; share of the row in each cell"),
        Section("ROC curves", plot=curve_plot(_curves(evaluation, "roc"), x="fpr", y="tpr", score="auc",
                                              xlabel="false positive rate", ylabel="true positive rate", diagonal=True),
                caption="one-vs-rest per label; the dashed diagonal is chance (AUC 0.5)"),
        Section("Precision-recall curves",
                plot=curve_plot(_curves(evaluation, "pr"), x="recall", y="precision", score="average_precision",
                                xlabel="recall", ylabel="precision", diagonal=False,
                                baseline=evaluation.get("prevalence")),
                caption="one-vs-rest per label; dashed: the label's share of the held-out rows (a model that knows nothing)"),
        Section("Leaderboard", table=pa.Table.from_pylist(evaluation["leaderboard"]),
                text=f"The AutoML search ({settings.get('automl', '?')}, seed {settings.get('seed', '?')}), best first; "
                     f"cv_score is the cross-validated {settings.get('scoring', 'score')} on the training part, "
                     "grouped so that no group is on both sides of a fold."),
        Section("Provenance", meta={
            "model": evaluation["model_id"], "task": evaluation["task"], "created": evaluation.get("created", "?"),
            "engine": prov.get("engine", "?"), "lake": prov.get("lake", "?"),
            "snapshot": prov.get("snapshot", "?"),
            "table versions": json.dumps(prov.get("versions", {}), sort_keys=True),
            "feature set": f"{feats.get('n_rows', '?')} rows x {evaluation.get('n_columns', '?')} columns, "
                           f"content sha256 {str(feats.get('content_hash', '?'))[:16]}",
            "parameters": json.dumps(feats.get("params", {}), sort_keys=True, default=str)[:600],
            "libraries": json.dumps(evaluation.get("versions") or {}, sort_keys=True),
        }),
    ]
    best = evaluation.get("best") or {}
    return write_report(path, title=f"Model {evaluation['model_id']}: {evaluation['task']}",
                        subtitle=f"best model: {best.get('family', '?')} {json.dumps(best.get('params', {}), sort_keys=True)}",
                        sections=sections)
