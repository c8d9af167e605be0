"""`make quickstart`: a simulated 1000 Genomes-like cohort through every zone into curated tables.

    python -m genolake.quickstart [--out DIR] [--samples N] [--length BP]

init → simulate → ingest the VCF with its panel → ingest ClinVar → show the catalog, the
ingest runs and a few exact allele counts. Re-running it is safe: ingests of the same files
are no-ops.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pyarrow.compute as pc

import genolake


def _step(text: str) -> None:
    print(f"\n== {text}", flush=True)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="genolake.quickstart", description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", default="quickstart-out", help="folder for the simulated files and the lake")
    ap.add_argument("--samples", type=int, default=300)
    ap.add_argument("--length", type=int, default=2_000_000, help="base pairs of chr22 to simulate")
    ap.add_argument("--seed", type=int, default=42)
    args = ap.parse_args(argv)
    out = Path(args.out).resolve()
    progress = sys.stderr.isatty()
    try:
        _step(f"init a lake at {out / 'lake'}")
        lake = genolake.init_lake(out / "lake")

        _step(f"simulate {args.samples} samples x {args.length:,} bp (msprime, OutOfAfrica_3G09)")
        cohort_dir = out / "cohort"
        if (cohort_dir / "cohort.chr22.vcf.gz").exists():
            from genolake.etl.simulate import SimulatedCohort  # reuse: the same seed gives the same files
            cohort = SimulatedCohort(cohort_dir / "cohort.chr22.vcf.gz", cohort_dir / "cohort.panel",
                                     cohort_dir / "variant_summary.txt.gz", args.samples, -1)
        else:
            cohort = genolake.simulate(cohort_dir, n_samples=args.samples, length_bp=args.length, seed=args.seed,
                                       progress=progress)
        print(f"  {cohort.vcf}\n  {cohort.panel}\n  {cohort.clinvar}")

        _step("ingest the VCF with its panel (quarantine -> scans -> pre-curated -> Delta)")
        res = genolake.ingest_vcf(lake, cohort.vcf, "sim1kg", panel=cohort.panel, progress=progress)
        _report(res)
        _step("ingest ClinVar")
        _report(genolake.ingest_clinvar(lake, cohort.clinvar, progress=progress))

        _step("catalog")
        for t in lake.catalog.tables():
            print(f"  {t.name:11s} v{t.delta_version}  {t.num_rows or 0:>12,} rows  {t.num_files:>5} files  "
                  f"partitioned by {', '.join(t.partition_by) or '-'}")
        _step("the commonest variants, with whole-callset counts (exact, checked against bcftools in the tests)")
        v = lake.read("variants", columns=["cpra", "rsid", "ac", "an", "af", "n_het", "n_hom_alt", "n_missing"])
        top = v.sort_by([("af", "descending")]).slice(0, 5).to_pylist()
        print(f"  {'cpra':22s} {'rsid':12s} {'AC':>5} {'AN':>5} {'AF':>7} {'het':>5} {'hom':>5} {'miss':>5}")
        for r in top:
            print(f"  {r['cpra']:22s} {r['rsid'] or '.':12s} {r['ac']:>5} {r['an']:>5} {r['af']:>7.4f} "
                  f"{r['n_het']:>5} {r['n_hom_alt']:>5} {r['n_missing']:>5}")
        samples = lake.read("samples")
        counts = pc.value_counts(samples["super_population"]).to_pylist()
        print("  samples by super-population: " + ", ".join(f"{c['values']}={c['counts']}" for c in counts))
        clinvar = lake.read("clinvar", columns=["clinical_significance"])
        drug = pc.sum(pc.match_substring(clinvar["clinical_significance"], "response", ignore_case=True)).as_py()
        print(f"  ClinVar records: {clinvar.num_rows:,}, of which {drug} mention a drug response")
        _step(f"done. Explore with: genolake --root {out / 'lake'} catalog list | catalog runs | quarantine list")
    except genolake.GenolakeError as err:
        print(f"genolake: error: {err}", file=sys.stderr)
        return err.exit_code
    return 0


def _report(res) -> None:
    if res.status == "unchanged":
        print(f"  unchanged: already ingested by run {res.previous_run}")
        return
    rows = ", ".join(f"{k}={v:,}" for k, v in res.rows.items() if isinstance(v, int))
    print(f"  {res.status} in {res.seconds:.1f}s: {rows}")
    for w in res.warnings[:5]:
        print(f"  warning: {w}")


if __name__ == "__main__":
    raise SystemExit(main())
