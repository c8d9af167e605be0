"""Allele frequencies of named sites (rsIDs, CPRAs) from key lookups, counted in Arrow.

A handful of sites needs a few rows from each table, so this path fetches them with
`engine.read_rows` (the embedded engine reads the pruned row groups directly; any other engine
runs SQL) and applies the same counting rule as the SQL scans in `frequencies`:

- a dataset the cohort covers completely: the site's `variants` row (whole-callset counts);
- otherwise the members' stored calls of the site from `cpra_index` (one contig and pos_bin
  partition, one row group by `pos`), matched to the cohort by `sample_index`:
  AC = Σ alt_dosage, AN = 2·|C_d| − Σ (2 − called_alleles).

Tests hold this path equal to the SQL path and to bcftools."""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from ..sql import read_rows

_SITE_COLUMNS = ["dataset", "contig", "pos", "allele_ord", "ref", "alt", "cpra", "rsid"]
_COUNT_COLUMNS = ["ac", "an", "af", "n_het", "n_hom_alt", "n_missing"]
_CALL_COLUMNS = ["dataset", "pos", "allele_ord", "sample_index", "alt_dosage", "called_alleles", "ploidy"]


def _key(row) -> tuple:
    return row["dataset"], row["contig"], int(row["pos"]), int(row["allele_ord"])


def site_rows(engine, sel, datasets: list[str], rsid_sites: list[dict] | None) -> tuple[list[dict], dict]:
    """The selected alleles present in `datasets` (dicts of _SITE_COLUMNS), and for datasets read
    from `variants` their count columns by key. `rsid_sites`: rows of rsid_index already found (an
    rsID lookup), which name the alleles without reading `variants`."""
    if rsid_sites is not None:
        return [r for r in rsid_sites if r["dataset"] in datasets], {}
    rows = read_rows(engine, "variants", {"contig": sel.contigs, "pos": sel.positions, "dataset": datasets},
                            _SITE_COLUMNS + _COUNT_COLUMNS).to_pylist()
    wanted = set(sel.cpras)
    rows = [r for r in rows if r["cpra"] in wanted]
    return rows, {_key(r): r for r in rows}


def whole_dataset_counts(engine, sites: list[dict], full: list[str], known: dict) -> dict[tuple, dict]:
    """key -> the `variants` counts for the sites of datasets the cohort covers."""
    todo = [s for s in sites if s["dataset"] in full and _key(s) not in known]
    out = {k: v for k, v in known.items() if k[0] in full}
    if todo:  # the sites are named already: read keys and counts, not the allele strings
        rows = read_rows(engine, "variants", {"contig": sorted({s["contig"] for s in todo}),
                                             "pos": sorted({int(s["pos"]) for s in todo}),
                                             "dataset": sorted({s["dataset"] for s in todo})},
                                ["dataset", "contig", "pos", "allele_ord"] + _COUNT_COLUMNS).to_pylist()
        keys = {_key(s) for s in todo}
        out.update({_key(r): r for r in rows if _key(r) in keys})
    return out


def cohort_counts(engine, sites: list[dict], members, partial: list[str]) -> dict[tuple, dict]:
    """key -> ac, deficit, n_het, n_hom_alt, n_missing over the members' stored calls of the sites
    of `partial` datasets (keys without stored calls are absent: everyone is 0/0 there)."""
    todo = [s for s in sites if s["dataset"] in partial]
    if not todo:
        return {}
    bin_size = engine.pos_bin_size
    positions = sorted({int(s["pos"]) for s in todo})
    calls = read_rows(engine, "cpra_index", {
        "contig": sorted({s["contig"] for s in todo}),
        "pos_bin": sorted({p // bin_size * bin_size for p in positions}),
        "pos": positions, "dataset": sorted({s["dataset"] for s in todo})}, _CALL_COLUMNS + ["contig"])
    if calls.num_rows == 0:
        return {}
    # keep the members' calls: a boolean table per dataset indexed by sample_index
    keep = np.zeros(calls.num_rows, dtype=bool)
    dataset_col = calls["dataset"].to_numpy(zero_copy_only=False)
    sample_index = calls["sample_index"].to_numpy()
    for d in sorted(set(dataset_col)):
        rows = dataset_col == d
        if d not in partial:
            continue
        if members.sizes[d] == members.totals[d]:
            keep |= rows
            continue
        idx = np.asarray(members.indexes[d], dtype=np.int64)
        table = np.zeros(max(int(idx.max()), int(sample_index.max())) + 1, dtype=bool)
        table[idx] = True
        keep |= rows & table[sample_index]
    # a few sites: count each one's rows with numpy (cheaper than a hash aggregation here)
    dosage = calls["alt_dosage"].to_numpy().astype(np.int64)[keep]
    called = calls["called_alleles"].to_numpy().astype(np.int64)[keep]
    ploidy = calls["ploidy"].to_numpy().astype(np.int64)[keep]
    pos = calls["pos"].to_numpy()[keep]
    allele = calls["allele_ord"].to_numpy()[keep]
    contig = calls["contig"].to_numpy(zero_copy_only=False)[keep]
    dataset = dataset_col[keep]
    full_call = called == ploidy
    het = full_call & (dosage > 0) & (dosage < ploidy)
    hom = full_call & (dosage == ploidy) & (ploidy > 0)
    out = {}
    for s in todo:
        k = _key(s)
        rows = (pos == k[2]) & (allele == k[3]) & (dataset == k[0]) & (contig == k[1])
        if rows.any():
            out[k] = {"ac": int(dosage[rows].sum()), "deficit": int((2 - called[rows]).sum()),
                      "n_het": int(het[rows].sum()), "n_hom_alt": int(hom[rows].sum()),
                      "n_missing": int((~full_call[rows]).sum())}
    return out


def lookup_frequencies(engine, sel, members, full: list[str], partial: list[str],
                       rsid_sites: list[dict] | None, schema: pa.Schema, sort_key) -> pa.Table:
    """allele_frequency's answer for a "keys" Selection (columns of `schema`, allele_ord dropped)."""
    sites, known = site_rows(engine, sel, members.datasets, rsid_sites)
    whole = whole_dataset_counts(engine, sites, full, known)
    stored = cohort_counts(engine, sites, members, partial)
    out = []
    for s in sites:
        k = _key(s)
        n = members.sizes[s["dataset"]]
        row = {c: s[c] for c in _SITE_COLUMNS}
        if s["dataset"] in full:
            v = whole.get(k)
            if v is None:  # rsid_index names an allele variants does not have: never on a sound lake
                continue
            row.update({c: v[c] for c in _COUNT_COLUMNS})
        else:
            c = stored.get(k, {})
            ac, an = int(c.get("ac", 0)), 2 * n - int(c.get("deficit", 0))
            row.update(ac=ac, an=an, af=None if an == 0 else ac / an, n_het=int(c.get("n_het", 0)),
                       n_hom_alt=int(c.get("n_hom_alt", 0)), n_missing=int(c.get("n_missing", 0)))
        row["n_samples"] = n
        out.append(row)
    out.sort(key=sort_key)
    table = pa.Table.from_pylist(out, schema=pa.schema(
        [schema.field(c) for c in ("dataset", "contig", "pos")] + [pa.field("allele_ord", pa.int16())]
        + [schema.field(c) for c in schema.names if c not in ("dataset", "contig", "pos")]))
    return table.drop_columns(["allele_ord"]).select(schema.names).cast(schema)


__all__ = ["lookup_frequencies"]
