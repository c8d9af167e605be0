"""`genolake ml ...`: parse, call genolake.ml (ml/api.py), print. No logic lives here."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import pyarrow as pa

from genolake import query_cli
from genolake.lake.errors import ConfigError

_TASKS = ("ancestry", "clinvar_conflict")

_EPILOG = """examples:
  genolake ml features ancestry --dataset 1kg --max-sites 10000 --out ancestry.parquet
  genolake ml train ancestry --dataset 1kg --seed 0
  genolake ml train clinvar_conflict --assembly GRCh38 --automl flaml --budget 120
  genolake ml list
  genolake ml show ancestry-20261202T101500Z-1a2b3c
  genolake ml evaluate ancestry-20261202T101500Z-1a2b3c --report ancestry.html
  genolake ml predict ancestry-20261202T101500Z-1a2b3c --dataset 1kg --cohort 'super_pop=EUR'
  genolake ml score --weights PGS001229_22.txt --dataset 1kg --cohort 'super_pop=EUR'"""


def _lake(args):
    import genolake

    return genolake.open_lake(args.root)


def _say(args):
    """Progress lines on stderr (training takes minutes); --no-progress silences them."""
    if args.progress is False:
        return None
    return lambda message: print(f"genolake: {message}", file=sys.stderr, flush=True)


def _split_list(text):
    if text is None:
        return None
    items = [x.strip() for x in text.split(",") if x.strip()]
    if not items:
        raise ConfigError("an empty list; give comma-separated values")
    return items


def _feature_params(args) -> dict:
    """Only the options given: each builder keeps its own defaults (ml/features/<task>.py)."""
    params = {}
    if args.task == "ancestry":
        if args.assembly is not None or args.populations is not None:
            raise ConfigError("--assembly and --populations are options of clinvar_conflict, not of ancestry")
        if args.dataset is None:
            raise ConfigError("ancestry features come from one callset: give --dataset NAME (`genolake catalog list`)")
        params["dataset"] = args.dataset
        cohort = query_cli._cohort(args)
        if cohort is not None:
            params["cohort"] = cohort
        for opt in ("min_maf", "spacing_bp", "max_sites"):
            if getattr(args, opt) is not None:
                params[opt] = getattr(args, opt)
    else:
        given = [f"--{o.replace('_', '-')}" for o in ("cohort", "min_maf", "spacing_bp", "max_sites")
                 if getattr(args, o) is not None]
        if given:
            raise ConfigError(f"{', '.join(given)}: options of ancestry, not of clinvar_conflict")
        for opt in ("dataset", "assembly"):
            if getattr(args, opt) is not None:
                params[opt] = getattr(args, opt)
        if args.populations is not None:
            params["populations"] = _split_list(args.populations)
    return params


def _dump(value) -> str:
    return json.dumps(value, indent=1, sort_keys=True, default=str)


def _print_fields(fields: dict) -> None:
    width = max(len(k) for k in fields)
    for k, v in fields.items():
        print(f"{k.ljust(width)}  {v}")


def _number(v, digits=4) -> str:
    return "." if v is None else (f"{v:.{digits}f}" if isinstance(v, float) else str(v))


def cmd_features(args):
    engine = query_cli._engine(args)
    try:
        fs = _ml().feature_set(_lake(args), args.task, engine=engine, **_feature_params(args))
    finally:
        engine.close()
    summary = fs.describe()
    if args.out:
        import pyarrow.parquet as pq

        out = Path(args.out)
        pq.write_table(fs.to_arrow(), out)
        summary["written"] = str(out)
    if args.format == "json":
        print(_dump(summary))
        return
    _print_fields({"task": summary["task"], "rows": f"{summary['n_rows']:,}", "columns": f"{summary['n_columns']:,}",
                   "missing": f"{summary['missing_fraction']:.2%} of cells",
                   "labels": ", ".join(f"{k} {v:,}" for k, v in (summary["labels"] or {}).items()) or "none",
                   "content sha256": summary["content_hash"], "schema sha256": summary["schema_hash"],
                   "parameters": json.dumps(_short(summary["params"]), sort_keys=True, default=str)})
    if summary.get("provenance"):
        print(query_cli.provenance_line(summary["provenance"]), file=sys.stderr)
    if args.out:
        print(f"written: {args.out} (Parquet: row, label, group, one column per feature; provenance in its metadata)")


def _short(params: dict) -> dict:
    from genolake.ml.api import short_params

    return short_params(params)


def _ml():
    from genolake import ml

    return ml


def _leaderboard(rows: list[dict], limit: int = 10) -> pa.Table:
    cols = ["rank", "family", "cv_score", "cv_std", "fit_time_s", "params"]
    rows = rows[:limit]
    return pa.table({c: [r.get(c) for r in rows] for c in cols})


def _print_metrics(metrics: dict) -> None:
    base = metrics.get("baseline") or {}
    print(f"held out ({metrics['n_rows']:,} rows): accuracy {_number(metrics['accuracy'])}, balanced accuracy "
          f"{_number(metrics['balanced_accuracy'])}, ROC-AUC {_number(metrics.get('roc_auc'))} "
          f"(majority class {base.get('label')!r}: accuracy {_number(base.get('accuracy'))}, ROC-AUC 0.5)")


def cmd_train(args):
    engine = query_cli._engine(args)
    try:
        record = _ml().train(_lake(args), args.task, automl=args.automl, budget_s=args.budget, seed=args.seed,
                             name=args.name, engine=engine, test_fraction=args.test_fraction, cv=args.cv,
                             n_candidates=args.n_candidates, progress=_say(args), **_feature_params(args))
    finally:
        engine.close()
    meta = record.meta
    if args.format == "json":
        print(_dump({k: meta[k] for k in ("model_id", "task", "best", "metrics", "leaderboard", "settings", "timings")}))
        return
    print(f"model {record.model_id}: best {meta['best']['family']} {json.dumps(meta['best']['params'], sort_keys=True)}")
    _print_metrics(meta["metrics"])
    print("leaderboard (cv_score: grouped cross-validated balanced accuracy on the training part):")
    print(query_cli.render_table(_leaderboard(meta["leaderboard"]), limit=None, indent="  "))
    print(f"registered under {record.path}; `genolake ml evaluate {record.model_id}` writes its report")


def cmd_list(args):
    query_cli.write_table(_ml().list_models(_lake(args)), args.format, limit=0)


def cmd_show(args):
    meta = _ml().show(_lake(args), args.model)
    if args.format == "json":
        print(_dump({k: v for k, v in meta.items() if k != "curves"}))
        return
    feats = meta.get("features") or {}
    prov = feats.get("provenance") or {}
    _print_fields({"model": meta["model_id"], "name": meta.get("name") or ".", "task": meta["task"],
                   "created": meta["created"], "classes": ", ".join(meta["classes"]),
                   "best": f"{meta['best']['family']} {json.dumps(meta['best']['params'], sort_keys=True)}",
                   "features": f"{feats.get('n_rows', '?'):,} rows x {len(meta['columns']):,} columns, "
                               f"content sha256 {meta['content_hash'][:16]}",
                   "parameters": json.dumps(_short(feats.get("params") or {}), sort_keys=True, default=str),
                   "trained on": query_cli.provenance_line(prov).removeprefix("genolake: ") if prov else "?",
                   "split": meta["split"].get("method"), "search": json.dumps(meta["settings"], sort_keys=True),
                   "libraries": json.dumps(meta.get("versions") or {}, sort_keys=True),
                   "file": f"{meta['path']}/{meta['file']} (sha256 {meta['sha256'][:16]})"})
    _print_metrics(meta["metrics"])
    print("leaderboard:")
    print(query_cli.render_table(_leaderboard(meta["leaderboard"]), limit=None, indent="  "))


def cmd_evaluate(args):
    if args.master is not None:
        raise ConfigError("ml evaluate rebuilds the features at the model's training snapshot with a named engine; "
                          "--master is not supported here")
    report = args.report or f"{args.model}.html"
    evaluation = _ml().evaluate(_lake(args), args.model, report=report, engine=args.engine or "duckdb",
                                progress=_say(args))
    if args.format == "json":
        print(_dump({k: v for k, v in evaluation.items() if k not in ("curves", "leaderboard")}))
    else:
        _print_metrics(evaluation["metrics"])
        print(f"features rebuilt at snapshot {evaluation['snapshot']}: "
              + ("the metrics equal those stored at registration" if evaluation["reproduced"]
                 else "the metrics DIFFER from those stored at registration"))
        print(f"report: {evaluation['report']}")
    return 0 if evaluation["reproduced"] else 1


def cmd_predict(args):
    engine = query_cli._engine(args)
    try:
        res = _ml().predict(_lake(args), args.model, dataset=args.dataset, cohort=query_cli._cohort(args),
                            engine=engine, write=not args.no_write, progress=_say(args))
    finally:
        engine.close()
    if res.run is not None:
        versions = ", ".join(f"{t}@v{v}" for t, v in res.run["versions"].items())
        print(f"genolake: {res.run['rows']:,} predictions written to the curated predictions table "
              f"(run {res.run['run_id']}; {versions})", file=sys.stderr)
    query_cli.write_table(res.table, args.format, limit=args.limit)


def cmd_score(args):
    engine = query_cli._engine(args)
    try:
        from genolake.ml.prs import score

        table = score(engine, args.weights, dataset=args.dataset, cohort=query_cli._cohort(args))
    finally:
        engine.close()
    query_cli._emit(args, table)


def _feature_options(p) -> None:
    g = p.add_argument_group("features")
    g.add_argument("--dataset", help="the callset (ancestry: required; clinvar_conflict: where AFs come from)")
    g.add_argument("--cohort", help="ancestry: the samples, e.g. 'super_pop=EUR,AFR' (default: all)")
    g.add_argument("--min-maf", dest="min_maf", type=float, help="ancestry: sites with MAF >= this (default 0.05)")
    g.add_argument("--spacing-bp", dest="spacing_bp", type=query_cli._nonneg_int,
                   help="ancestry: kept sites at least this far apart (default 10000)")
    g.add_argument("--max-sites", dest="max_sites", type=query_cli._nonneg_int,
                   help="ancestry: at most this many sites, evenly spread (default 10000)")
    g.add_argument("--assembly", help="clinvar_conflict: ClinVar records of this assembly (default GRCh38)")
    g.add_argument("--populations", help="clinvar_conflict: super-populations with an AF column (default: all)")


def add_ml_parser(sub) -> None:
    fmt = argparse.RawDescriptionHelpFormatter
    m = sub.add_parser("ml", help="feature sets, AutoML training, the model registry, predictions, polygenic scores",
                       description="Machine learning on lake features (the ml and automl extras).",
                       epilog=_EPILOG, formatter_class=fmt)
    ms = m.add_subparsers(dest="ml_command", required=True, metavar="COMMAND")

    f = ms.add_parser("features", help="build a feature set and describe it (or write it with --out)",
                      epilog=_EPILOG, formatter_class=fmt)
    f.add_argument("task", choices=_TASKS)
    _feature_options(f)
    f.add_argument("--out", metavar="FILE.parquet", help="write the feature set as Parquet")
    f.add_argument("--format", choices=("table", "json"), default="table")
    query_cli._engine_options_args(f)
    f.set_defaults(func=cmd_features)

    t = ms.add_parser("train", help="search model families, score the best held out, register it",
                      epilog=_EPILOG, formatter_class=fmt)
    t.add_argument("task", choices=_TASKS)
    _feature_options(t)
    g = t.add_argument_group("search")
    g.add_argument("--automl", choices=("halving", "flaml"), default="halving",
                   help="halving: scikit-learn successive halving over the families (default); flaml: FLAML "
                        "(the automl extra)")
    g.add_argument("--budget", type=float, metavar="S", help="with --automl flaml: seconds of search")
    g.add_argument("--seed", type=int, default=0, help="the split's and the search's seed (default 0)")
    g.add_argument("--n-candidates", dest="n_candidates", type=int, default=8,
                   help="random candidates per family in the first halving round (default 8)")
    g.add_argument("--cv", type=int, default=5, help="cross-validation folds (default 5)")
    g.add_argument("--test-fraction", dest="test_fraction", type=float, default=0.25,
                   help="share of the groups held out (default 0.25)")
    t.add_argument("--name", help="a name for the model (its id starts with it)")
    t.add_argument("--format", choices=("table", "json"), default="table")
    query_cli._engine_options_args(t)
    t.set_defaults(func=cmd_train)

    ls = ms.add_parser("list", help="the registered models")
    ls.add_argument("--format", choices=query_cli.FORMATS, default="table")
    ls.set_defaults(func=cmd_list)

    sh = ms.add_parser("show", help="one model: features, provenance, metrics, leaderboard")
    sh.add_argument("model")
    sh.add_argument("--format", choices=("table", "json"), default="table")
    sh.set_defaults(func=cmd_show)

    ev = ms.add_parser("evaluate", help="re-score a model on its held-out rows and write its HTML report")
    ev.add_argument("model")
    ev.add_argument("--report", metavar="FILE.html", help="where the report goes (default ./MODEL.html)")
    ev.add_argument("--format", choices=("table", "json"), default="table")
    ev.add_argument("--engine", choices=query_cli._EngineNames(), default="duckdb", metavar="NAME",
                    help="query engine that rebuilds the features (default duckdb)")
    ev.add_argument("--master", help=argparse.SUPPRESS)
    ev.set_defaults(func=cmd_evaluate)

    pr = ms.add_parser("predict", help="predict with a model and write the predictions table",
                       epilog=_EPILOG, formatter_class=fmt)
    pr.add_argument("model")
    pr.add_argument("--dataset", help="the callset to predict on (default: the model's training dataset)")
    pr.add_argument("--cohort", help="ancestry: the samples (default: all of the dataset)")
    pr.add_argument("--no-write", dest="no_write", action="store_true",
                    help="print the predictions without writing the predictions table")
    query_cli._output_options(pr)
    pr.set_defaults(func=cmd_predict)

    sc = ms.add_parser("score", help="polygenic scores from a weights file (PGS Catalog, plink ID A1 WEIGHT, CPRA)",
                       epilog=_EPILOG, formatter_class=fmt)
    sc.add_argument("--weights", required=True, metavar="FILE", help="the scoring file")
    query_cli._dataset_option(sc)
    query_cli._cohort_option(sc)
    query_cli._output_options(sc)
    sc.set_defaults(func=cmd_score)
