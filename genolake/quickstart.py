"""`make quickstart`: a simulated 1000 Genomes-like cohort through every zone into curated tables,
then the named analyses on it and an HTML report.

    python -m genolake.quickstart [--out DIR] [--samples N] [--length BP]

init → simulate → ingest the VCF with its panel → ingest ClinVar → show the catalog and a few
exact allele counts → allele frequencies of four variants by super-population → a ClinVar gene
annotation → the drug-response report → DIR/report.html (the AF plot and the tables).
Re-running it is safe: the simulation is reused and ingests of the same files are no-ops.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

import genolake
from genolake.query_cli import format_float, render_table
from genolake.queries.sql import lit

DATASET = "sim1kg"
N_VARIANTS = 4  # variants in the AF-by-super-population plot
N_DRUG = 2  # of which, at most, ClinVar drug-response variants


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
        res = genolake.ingest_vcf(lake, cohort.vcf, DATASET, panel=cohort.panel, progress=progress)
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
            print(f"  {r['cpra']:22s} {r['rsid'] or '.':12s} {r['ac']:>5} {r['an']:>5} {format_float(r['af']) if r['af'] is not None else '.':>7} "
                  f"{r['n_het']:>5} {r['n_hom_alt']:>5} {r['n_missing']:>5}")
        samples = lake.read("samples")
        counts = pc.value_counts(samples["super_population"]).to_pylist()
        print("  samples by super-population: " + ", ".join(f"{c['values']}={c['counts']}" for c in counts))
        clinvar = lake.read("clinvar", columns=["clinical_significance"])
        drug = pc.sum(pc.match_substring(clinvar["clinical_significance"], "response", ignore_case=True)).as_py()
        print(f"  ClinVar records: {clinvar.num_rows:,}, of which {drug} mention a drug response")

        report_path, picks = analyses(lake, out)
        root = out / "lake"
        _step(f"done. The report: {report_path}")
        print(f"  explore: genolake --root {root} catalog list | catalog runs | quarantine list")
        print(f"  query:   genolake --root {root} query af --rsid {','.join(r for r, _ in picks)} --by super_pop")
        print(f"           genolake --root {root} query carriers {picks[0][0]} --cohort super_pop=EAS")
        print(f"           genolake --root {root} sql \"SELECT super_population, count(*) FROM samples GROUP BY 1\"")
    except genolake.GenolakeError as err:
        print(f"genolake: error: {err}", file=sys.stderr)
        return err.exit_code
    return 0


def pick_variants(engine, dataset: str = DATASET, n: int = N_VARIANTS) -> list[tuple[str, str]]:
    """Four named variants worth plotting, read from the lake, deterministic for a given lake:
    up to two ClinVar (GRCh37) drug-response variants with an rsID (the commonest first), then the
    rsIDs whose AF differs most between super-populations (ties: by position).
    Returns [(rsid, why), ...]."""
    picks: dict[str, str] = {}
    drug = genolake.sql(engine, f"""
        SELECT v.rsid, min(v.pos) AS pos, max(v.af) AS af, string_agg(DISTINCT c.gene_symbol, ',') AS genes
        FROM variants v JOIN clinvar c ON c.assembly = 'GRCh37' AND c.cpra = v.cpra
        WHERE v.dataset = {lit(dataset)} AND v.rsid IS NOT NULL
          AND lower(c.clinical_significance) LIKE '%drug response%'
        GROUP BY v.rsid ORDER BY af DESC, pos, v.rsid LIMIT {int(min(n, N_DRUG))}""")
    for r in drug.to_pylist():
        picks[r["rsid"]] = f"ClinVar drug response ({r['genes']})" if r["genes"] else "ClinVar drug response"
    contigs = genolake.sql(engine, f"SELECT DISTINCT contig FROM variants WHERE dataset = {lit(dataset)} "
                                   "ORDER BY contig")["contig"].to_pylist()
    spread = []
    for contig in contigs:
        pf = genolake.population_frequencies(engine, region=contig, dataset=dataset, by="super_population")
        groups = [c[:-3] for c in pf.column_names if c.endswith("_af") and c != "unknown_af"]
        for r in pf.to_pylist():
            afs = [r[f"{g}_af"] for g in groups]
            if r["rsid"] and len(afs) > 1 and None not in afs:
                spread.append((-(max(afs) - min(afs)), r["contig"], r["pos"], r["rsid"], max(afs) - min(afs)))
    for _, _, _, rsid, diff in sorted(spread):
        if len(picks) >= n:
            break
        picks.setdefault(rsid, f"AF differs by {diff:.2f} between super-populations")
    return list(picks.items())


def _with_reason(freq: pa.Table, picks: list[tuple[str, str]]) -> pa.Table:
    why = dict(picks)
    order = {rsid: i for i, (rsid, _) in enumerate(picks)}
    rows = sorted(freq.to_pylist(), key=lambda r: (order.get(r["rsid"], len(order)), r["cpra"]))
    table = pa.Table.from_pylist(rows, schema=freq.schema)
    return table.append_column("chosen_because", pa.array([why.get(r["rsid"]) for r in rows], pa.string()))


def analyses(lake, out: Path) -> tuple[Path, list[tuple[str, str]]]:
    """The named analyses on the quickstart lake, printed, then the HTML report.
    Returns the report's path and the variants plotted [(rsid, why), ...]."""
    from genolake.queries.report import Section, af_by_group_plot, write_report

    engine = genolake.connect(lake)
    try:
        _step(f"allele frequencies of {N_VARIANTS} variants by super-population (exact AC/AN from the stored calls)")
        picks = pick_variants(engine)
        if not picks:
            raise genolake.QueryError(f"no variant with an rsID in dataset {DATASET!r}: nothing to plot")
        freq = _with_reason(genolake.population_frequencies(engine, rsids=[r for r, _ in picks], dataset=DATASET,
                                                            by="super_population"), picks)
        for rsid, why in picks:
            print(f"  {rsid:12s} {why}")
        groups = [c[:-3] for c in freq.column_names if c.endswith("_af")]
        shown = ["rsid", "cpra"] + [f"{g}_{x}" for g in groups for x in ("ac", "an", "af")]
        print(render_table(freq.select(shown), indent="  "))

        counts = genolake.sql(engine, """
            SELECT gene_symbol, count(*) AS n FROM clinvar
            WHERE assembly = 'GRCh37' AND gene_symbol IS NOT NULL AND gene_symbol NOT IN ('-', '')
              AND gene_symbol NOT LIKE '%;%'
            GROUP BY gene_symbol ORDER BY n DESC, gene_symbol LIMIT 1""").to_pylist()
        gene_section = None
        if counts:
            gene = counts[0]["gene_symbol"]
            _step(f"ClinVar annotation of {gene} (the gene with most ClinVar records: {counts[0]['n']})")
            ann = genolake.annotate(engine, gene=gene, dataset=DATASET)
            known = ann.filter(pc.is_valid(ann["clinical_significance"]))
            first, last = (ann["pos"][0].as_py(), ann["pos"][-1].as_py()) if ann.num_rows else (None, None)
            summary = (f"{ann.num_rows:,} variants of {DATASET} in {gene}"
                       + (f" (positions {first:,}-{last:,})" if first is not None else "")
                       + f"; {known.num_rows:,} with a ClinVar record")
            print(f"  {summary}:")
            cols = ["cpra", "rsid", "af", "ac", "an", "clinical_significance", "review_status", "phenotype_list"]
            print(render_table(known.select(cols), limit=10, indent="  ", more="all in the report"))
            gene_section = Section(f"ClinVar annotation of {gene}", text=summary + ". The table lists those; "
                                   f"`genolake query annotate --gene {gene}` lists all.", table=known,
                                   columns=cols + ["variation_id"], max_rows=300)

        _step("drug response: genotype frequencies of ClinVar drug-response variants (top 10)")
        drug = genolake.drug_response_report(engine, dataset=DATASET, top=50)
        print(render_table(drug, limit=10, indent="  ", more="all in the report"))

        _step("write the report")
        genes = {r: w[w.index("(") + 1:-1] for r, w in picks if w.endswith(")")}  # drug-response picks' genes
        labels = ["\n".join(x for x in (r["rsid"], r["cpra"], genes.get(r["rsid"])) if x) for r in freq.to_pylist()]
        plot = af_by_group_plot(freq, title="Allele frequency by super-population", labels=labels)
        samples = lake.read("samples")
        by_pop = pc.value_counts(samples["super_population"]).to_pylist()
        catalog = pa.Table.from_pylist([
            {"table": t.name, "delta_version": t.delta_version, "rows": t.num_rows, "files": t.num_files,
             "bytes": t.size_bytes, "partitioned_by": ", ".join(t.partition_by) or "-"}
            for t in lake.catalog.tables()])
        sections = [
            Section("Allele frequency by super-population", plot=plot, table=freq,
                    text="Four named variants chosen from the lake: ClinVar drug-response variants first, then "
                         "those whose allele frequency differs most between super-populations. AC, AN and AF "
                         "are exact, counted from the stored calls (missing and partial calls lower AN).",
                    caption="Bars: AF per super-population; whiskers: 95% Wilson score interval from AC/AN; "
                            "labels: rsID and CPRA."),
            *([gene_section] if gene_section else []),
            Section("Drug response", table=drug, max_rows=50,
                    text="Genotype counts, in every sample of the dataset, of the variants ClinVar lists with a "
                         "drug-response significance (the 50 commonest genotypes; a sample without a stored call "
                         "is 0/0)."),
            Section("The lake", table=catalog, text="Curated Delta tables at the published snapshot.",
                    meta={"samples": ", ".join(f"{c['values']}={c['counts']}" for c in sorted(
                        by_pop, key=lambda c: str(c["values"])))}),
        ]
        path = write_report(out / "report.html", title="genolake quickstart report",
                            subtitle=f"Simulated 1000 Genomes-like cohort, dataset {DATASET}",
                            meta={"lake": str(lake.root), "dataset": DATASET, "samples": f"{samples.num_rows:,}",
                                  "engine": engine.name},
                            sections=sections)
        print(f"  {path}")
        return path, picks
    finally:
        engine.close()


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
