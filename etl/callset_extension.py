"""What a second VCF for an existing dataset may be, so that no call is ever counted twice.

A dataset is one callset: a rectangle of samples × sites, counted by the rule in DESIGN.md (a call
not stored is a diploid reference call, so every sample of the dataset must have been called at
every site of it). A file for a dataset that already has rows may:

- add sites for the same samples ("sites"): the dataset's samples, in the same order, and no
  position the dataset already has (another contig, or another region of one);
- add samples over the same sites ("samples", the N+1 append): none of the dataset's samples and
  exactly the dataset's split alleles; `variants` then holds the sums of both callsets' counts;
- replace the dataset ("replace", only when asked): the same commit that adds the file's rows to a
  table removes the dataset's old ones.

Anything else is refused with a reason naming the first overlap. The checks read the published
tables, never the catalog's run history, so they hold after the catalog is rebuilt too.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from genolake.lake.errors import InputError
from genolake.lake.schemas import VARIANTS

_KEY = ["contig", "pos", "allele_ord", "ref", "alt"]
_COUNTS = ["ac", "an", "n_het", "n_hom_alt", "n_missing"]
_HINT = ("a file for an existing dataset must add sites for the same samples, or add samples over the same "
         "sites; ingest it under another --dataset, or pass --replace to replace the dataset")


@dataclass(frozen=True)
class Extension:
    mode: str  # "new" | "sites" | "samples" | "replace"
    dataset: str
    existing: pa.Table = field(repr=False)  # the dataset's rows of `samples`, by sample_index

    @property
    def sample_offset(self) -> int:
        """sample_index of the file's first sample."""
        return self.existing.num_rows if self.mode == "samples" else 0

    @property
    def replaces(self) -> str | None:
        """The dataset whose rows each commit removes, or None."""
        return self.dataset if self.mode == "replace" else None


def plan_extension(samples_table: pa.Table, dataset: str, source, file_samples: list[str], header_line: int,
                   replace: bool) -> Extension:
    """Decide from the sample lists (the header) what the file does to the dataset."""
    mine = samples_table.filter(pc.equal(samples_table["dataset"], dataset)) if samples_table.num_rows else samples_table
    mine = mine.sort_by("sample_index")
    if mine.num_rows == 0:
        return Extension("new", dataset, mine)
    if replace:
        return Extension("replace", dataset, mine)
    old = mine["sample_id"].to_pylist()
    if old == file_samples:
        return Extension("sites", dataset, mine)
    shared = set(old) & set(file_samples)
    if not shared:
        return Extension("samples", dataset, mine)
    if len(shared) == len(old) == len(file_samples):
        k = next(i for i, (a, b) in enumerate(zip(old, file_samples)) if a != b)
        problem = (f"has dataset {dataset!r}'s samples in another order (sample column {k + 1} is {file_samples[k]}, "
                   f"the dataset's is {old[k]}); bcftools view -s can reorder them")
    else:
        first = next(s for s in file_samples if s in shared)
        problem = (f"sample {first} is already in dataset {dataset!r} ({len(shared)} of this file's "
                   f"{len(file_samples)} samples are, of the dataset's {len(old)}); {_HINT}")
    raise InputError(source, problem, line=header_line)


def check_sites(ext: Extension, source, existing_variants: pa.Table, new_variants: pa.Table) -> None:
    """Refuse a file whose sites break the rectangle; `new_variants` has the file's split alleles
    (at least the key columns) in file order, `existing_variants` the dataset's published ones."""
    if ext.mode == "sites":
        mine = new_variants.select(["contig", "pos"]).append_column(
            "_row", pa.array(np.arange(new_variants.num_rows, dtype=np.int64)))
        hits = mine.join(existing_variants.select(["contig", "pos"]), keys=["contig", "pos"], join_type="left semi")
        if hits.num_rows:
            row = new_variants.slice(pc.min(hits["_row"]).as_py(), 1).to_pylist()[0]
            sample = ext.existing["sample_id"][0].as_py()
            raise InputError(source, f"sample {sample} at {_cpra(row)} is already in dataset {ext.dataset!r} "
                                     f"({hits.num_rows} of this file's alleles are at positions the dataset has); {_HINT}")
    elif ext.mode == "samples":
        extra = new_variants.join(existing_variants.select(_KEY), keys=_KEY, join_type="left anti")
        if extra.num_rows:
            row = _first(extra)
            raise InputError(source, f"{_cpra(row)} is not a site of dataset {ext.dataset!r}: adding samples to a "
                                     f"dataset needs exactly its {existing_variants.num_rows} alleles; {_HINT}")
        missing = existing_variants.join(new_variants.select(_KEY), keys=_KEY, join_type="left anti")
        if missing.num_rows:
            row = _first(missing)
            raise InputError(source, f"{_cpra(row)} of dataset {ext.dataset!r} is not in this file: adding samples "
                                     f"to a dataset needs exactly its {existing_variants.num_rows} alleles; {_HINT}")


def merged_counts(existing_variants: pa.Table, new_variants: pa.Table) -> pa.Table:
    """The dataset's `variants` after an N+1 append: its rows, with the whole-callset counts of
    both callsets summed (the sites are the same, as `check_sites` made sure)."""
    old = existing_variants.sort_by([(k, "ascending") for k in _KEY])
    new = new_variants.sort_by([(k, "ascending") for k in _KEY])
    cols = {}
    for c in _COUNTS:
        cols[c] = pa.array(old[c].to_numpy() + new[c].to_numpy(), VARIANTS.schema.field(c).type)
    an = cols["an"].to_numpy()
    af = np.divide(cols["ac"].to_numpy(), an, out=np.zeros(len(an)), where=an > 0)
    cols["af"] = pa.array(af, pa.float64(), mask=an == 0)
    out = old
    for c, arr in cols.items():
        out = out.set_column(out.schema.get_field_index(c), c, arr)
    return out.select(VARIANTS.schema.names).cast(VARIANTS.schema)


def _first(t: pa.Table) -> dict:
    return t.sort_by([("contig", "ascending"), ("pos", "ascending"), ("allele_ord", "ascending")]).slice(0, 1).to_pylist()[0]


def _cpra(row: dict) -> str:
    return f"{row['contig']}-{row['pos']}-{row['ref']}-{row['alt']}"
