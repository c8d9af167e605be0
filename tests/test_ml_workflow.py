"""The ML workflow end to end through `genolake ml ...` and genolake.ml: train (clinvar_conflict on a
simulated release with a real header), list, show, evaluate (features rebuilt at the training
snapshot, metrics recomputed and equal to the stored ones, the HTML report), predict into the
curated predictions table as a catalog run, the refusal of a changed feature schema, prediction on
the shared ClinVar excerpt, and `ml score` equal to ml.prs.score."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pyarrow.compute as pc
import pytest

import genolake
from genolake import ml
from genolake.cli import main
from genolake.ml import registry
from genolake.ml.features import build
from genolake.ml.held_out import held_out_metrics

pytest.importorskip("sklearn")
pytest.importorskip("skops")

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
CLINVAR_EXCERPT = SHARED / "clinvar" / "variant_summary_excerpt.txt.gz"
PGS = SHARED / "gwas" / "PGS001229_22.txt"
SEARCH = ["--n-candidates", "2", "--cv", "3"]


def cli(capsys, root, *argv) -> tuple[int, str, str]:
    code = main(["--root", str(root), *argv])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="module")
def wf(tmp_path_factory, sim_cohort):
    """A lake with the simulated callset ("sim", with its panel) and ClinVar; "bare", the same VCF
    without a panel (no super-population AF columns, no ancestry labels); "other", another simulated
    cohort (other sites)."""
    root = tmp_path_factory.mktemp("mlwf")
    lake = genolake.init_lake(root / "lake")
    genolake.ingest_vcf(lake, sim_cohort.vcf, "sim", panel=sim_cohort.panel)
    genolake.ingest_clinvar(lake, sim_cohort.clinvar)
    genolake.ingest_vcf(lake, sim_cohort.vcf, "bare")
    other = genolake.simulate(root / "other", n_samples=30, length_bp=300_000, seed=12, progress=False)
    genolake.ingest_vcf(lake, other.vcf, "other")
    return lake


@pytest.fixture(scope="module")
def trained(wf):
    """`ml train ... --format json`, its stdout parsed (a module fixture cannot take capsys)."""
    import contextlib
    import io

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(["--root", str(wf.root), "--no-progress", "ml", "train", "clinvar_conflict", "--assembly", "GRCh37",
                     "--dataset", "sim", "--seed", "3", "--format", "json", *SEARCH])
    assert code == 0, err.getvalue()
    return json.loads(out.getvalue())


def test_train_registers_a_model_with_a_leaderboard(trained, wf, capsys):
    model_id = trained["model_id"]
    assert trained["task"] == "clinvar_conflict"
    families = {row["family"] for row in trained["leaderboard"]}
    assert len(families) >= 3
    assert trained["metrics"]["roc_auc"] is not None
    code, out, _ = cli(capsys, wf.root, "ml", "list", "--format", "json")
    assert code == 0
    assert [r["model_id"] for r in json.loads(out)] == [model_id]
    code, out, _ = cli(capsys, wf.root, "ml", "show", model_id)
    assert code == 0 and model_id in out and "leaderboard" in out
    for fam in families:
        assert fam in out


def test_evaluate_reproduces_the_stored_metrics_and_writes_the_report(trained, wf, tmp_path, capsys):
    model_id = trained["model_id"]
    report = tmp_path / "model.html"
    code, out, err = cli(capsys, wf.root, "ml", "evaluate", model_id, "--report", str(report), "--format", "json")
    assert code == 0, err
    evaluation = json.loads(out)
    assert evaluation["reproduced"] is True
    assert evaluation["metrics"] == trained["metrics"]

    # the held-out metrics recomputed here from the registry's own predictions on the rebuilt features
    estimator, meta = registry.load(wf, model_id)
    with genolake.connect(wf, as_of=evaluation["snapshot"]) as e:
        fs = build(e, "clinvar_conflict", assembly="GRCh37", dataset="sim")
    table = registry.predict(estimator, meta, fs)
    test = set(meta["split"]["test_rows"])
    te = np.array([r in test for r in fs.rows])
    assert te.sum() == trained["metrics"]["n_rows"]
    proba = np.column_stack([table[f"p_{c}"].to_numpy() for c in meta["classes"]])[te]
    y = np.asarray(fs.y, dtype=str)
    mine = held_out_metrics(y[te], np.asarray(table["predicted"].to_pylist())[te], proba, meta["classes"], y[~te])
    assert mine == trained["metrics"]
    # the baseline is the training part's majority class, and the model beats its ROC-AUC of 0.5
    counts = {c: int((y[~te] == c).sum()) for c in meta["classes"]}
    assert mine["baseline"]["label"] == max(counts, key=lambda c: (counts[c], -meta["classes"].index(c)))
    assert mine["roc_auc"] > 0.5

    html = report.read_text()
    for heading in ("Held-out metrics", "Confusion matrix", "ROC curves", "Precision-recall curves", "Leaderboard",
                    "Provenance"):
        assert f">{heading}</h2>" in html
    assert html.count("data:image/png;base64,") == 3  # confusion, ROC, PR: embedded, no external files
    assert "majority_class_baseline" in html and model_id in html
    assert not re.search(r'(src|href)="(?!data:|#)', html)


def test_predict_writes_the_predictions_table_as_a_run(trained, wf, capsys):
    model_id = trained["model_id"]
    before = wf.catalog.snapshot()
    code, out, err = cli(capsys, wf.root, "ml", "predict", model_id, "--format", "json")
    assert code == 0, err
    rows = json.loads(out)
    assert "predictions written to the curated predictions table" in err
    with genolake.connect(wf) as e:
        stored = genolake.sql(e, "SELECT * FROM predictions ORDER BY row_id").to_pylist()
        n_records = genolake.sql(e, "SELECT count(DISTINCT variation_id) AS n FROM clinvar "
                                    "WHERE assembly = 'GRCh37'").to_pylist()[0]["n"]
    assert len(stored) == len(rows) == n_records
    by_row = {r["row"]: r for r in rows}
    for s in stored:
        printed = by_row[s["row_id"]]
        assert s["model_id"] == model_id and s["task"] == "clinvar_conflict" and s["predicted"] == printed["predicted"]
        classes = [k.removeprefix("p_") for k in printed if k.startswith("p_")]
        assert json.loads(s["probabilities"]) == {c: printed[f"p_{c}"] for c in classes}
        assert s["probability"] == max(printed[f"p_{c}"] for c in classes)
    runs = [r for r in wf.catalog.runs() if r.kind == "predict"]
    assert len(runs) == 1 and runs[0].status == "succeeded"
    assert wf.catalog.snapshot() != before
    assert {s["run_id"] for s in stored} == {runs[0].run_id}


def test_a_changed_feature_schema_is_refused(trained, wf, sim_cohort, capsys):
    """Predicting on a dataset without a panel: it cannot give the model's per-population AF
    columns; the refusal names the model and the missing populations, exit 7, and nothing is written."""
    before = wf.catalog.snapshot()
    code, _, err = cli(capsys, wf.root, "ml", "predict", trained["model_id"], "--dataset", "bare")
    assert code == 7
    assert err.count("\n") == 1 and trained["model_id"] in err and "no longer has the features" in err
    assert "AFR, EAS, EUR" in err
    assert wf.catalog.snapshot() == before


def test_predict_on_the_shared_excerpt(tmp_path, sim_cohort, capsys):
    """A model trained on ClinVar alone (no callset: the lake features are NaN) predicts the real
    excerpt's records."""
    train_lake = genolake.init_lake(tmp_path / "train")
    genolake.ingest_clinvar(train_lake, sim_cohort.clinvar)
    record = ml.train(train_lake, "clinvar_conflict", assembly="GRCh37", seed=0, n_candidates=2, cv=3)
    excerpt = genolake.init_lake(tmp_path / "excerpt")
    genolake.ingest_clinvar(excerpt, CLINVAR_EXCERPT)
    # the registry sits in the training lake; the excerpt lake gets the same model directory
    import shutil

    shutil.copytree(record.path, registry.models_root(excerpt) / record.model_id)
    res = ml.predict(excerpt, record.model_id)
    grch37 = {line.split("\t")[30] for line in __import__("gzip").open(CLINVAR_EXCERPT, "rt")
              if not line.startswith("#") and line.split("\t")[16] == "GRCh37"}
    assert sorted(res.table["row"].to_pylist()) == sorted(grch37)
    p = np.column_stack([res.table[f"p_{c}"].to_numpy() for c in record.meta["classes"]])
    assert np.allclose(p.sum(axis=1), 1.0)
    assert res.run["rows"] == len(grch37)


def test_score_cli_equals_the_library(trained, wf, tmp_path, capsys):
    weights = tmp_path / "w.txt"
    with genolake.connect(wf) as e:
        sites = genolake.sql(e, "SELECT cpra, alt FROM variants WHERE dataset = 'sim' AND length(ref) = 1 "
                                "AND length(alt) = 1 ORDER BY pos LIMIT 40").to_pylist()
    weights.write_text("ID\tA1\tWEIGHT\n" + "".join(f"{s['cpra']}\t{s['alt']}\t{0.01 * (i + 1)}\n"
                                                    for i, s in enumerate(sites)))
    code, out, err = cli(capsys, wf.root, "ml", "score", "--weights", str(weights), "--dataset", "sim",
                         "--format", "json")
    assert code == 0, err
    printed = json.loads(out)["rows"]
    expected = ml.score(wf, weights, dataset="sim").to_pylist()
    assert printed == json.loads(json.dumps(expected))
    assert len(printed) == pc.sum(pc.equal(wf.read("samples")["dataset"], "sim")).as_py() == 60


def test_ancestry_train_evaluate_predict(wf, sim_cohort, tmp_path):
    """An ancestry model: trained on "sim", reproduced by evaluate, predicting a cohort of "sim" and
    the unlabelled "bare" (the same sites, so the same columns); on "other" (other sites) refused."""
    record = ml.train(wf, "ancestry", dataset="sim", min_maf=0.05, spacing_bp=2_000, seed=0, n_candidates=2, cv=3)
    columns = record.meta["columns"]
    assert len(columns) > 20 and record.meta["task"] == "ancestry"
    evaluation = ml.evaluate(wf, record.model_id, report=tmp_path / "ancestry.html")
    assert evaluation["reproduced"] is True and evaluation["metrics"] == record.meta["metrics"]

    eur = ml.predict(wf, record.model_id, dataset="sim", cohort="super_pop=EUR")
    panel = [line.split("\t") for line in Path(sim_cohort.panel).read_text().splitlines()[1:]]
    assert sorted(eur.table["row"].to_pylist()) == sorted(f[0] for f in panel if f[2] == "EUR")
    assert eur.run["rows"] == eur.table.num_rows
    bare = ml.predict(wf, record.model_id, dataset="bare", write=False)
    assert bare.run is None and bare.table.num_rows == 60
    # the same genotypes: the same predictions for the EUR samples
    by_row = dict(zip(bare.table["row"].to_pylist(), bare.table["predicted"].to_pylist()))
    assert all(by_row[r] == p for r, p in zip(eur.table["row"].to_pylist(), eur.table["predicted"].to_pylist()))
    before = wf.catalog.snapshot()
    with pytest.raises(genolake.lake.errors.ModelError, match=f"model {record.model_id}: .*not in dataset 'other'"):
        ml.predict(wf, record.model_id, dataset="other")
    assert wf.catalog.snapshot() == before


def test_features_cli_describes_and_writes_parquet(wf, tmp_path, capsys):
    import pyarrow.parquet as pq

    out = tmp_path / "anc.parquet"
    code, printed, err = cli(capsys, wf.root, "ml", "features", "ancestry", "--dataset", "sim", "--spacing-bp", "2000",
                             "--out", str(out), "--format", "json")
    assert code == 0, err
    summary = json.loads(printed)
    with genolake.connect(wf) as e:
        fs = build(e, "ancestry", dataset="sim", spacing_bp=2_000)
    assert summary["content_hash"] == fs.content_hash and summary["n_rows"] == 60
    table = pq.read_table(out)
    assert table.column_names[:3] == ["row", "label", "group"] and table.num_columns == 3 + len(fs.columns)
    assert table["row"].to_pylist() == list(fs.rows)
    assert b"genolake.features" in table.schema.metadata

    code, printed, err = cli(capsys, wf.root, "ml", "features", "clinvar_conflict", "--assembly", "GRCh37",
                             "--dataset", "sim")
    assert code == 0, err
    assert "content sha256" in printed and "conflicting" in printed


@pytest.mark.parametrize("argv, status, words", [
    (["ml", "features", "ancestry"], 2, "give --dataset"),
    (["ml", "features", "ancestry", "--dataset", "sim", "--assembly", "GRCh37"], 2, "options of clinvar_conflict"),
    (["ml", "features", "clinvar_conflict", "--cohort", "super_pop=EUR"], 2, "options of ancestry"),
    (["ml", "features", "ancestry", "--dataset", "nope"], 4, "nope"),
    (["ml", "show", "no-such-model"], 4, "no model 'no-such-model'"),
    (["ml", "train", "ancestry", "--dataset", "sim", "--budget", "5"], 2, "--automl flaml"),
    (["ml", "score", "--weights", "/nonexistent/w.txt"], 3, "/nonexistent/w.txt"),
])
def test_ml_cli_mistakes_are_one_line(wf, capsys, argv, status, words):
    code, _, err = cli(capsys, wf.root, *argv)
    assert code == status, err
    assert err.count("\n") == 1 and err.startswith("genolake: error:") and words in err
