"""The ETL engine interface: turn one validated source file into data files per curated table.

The pipeline owns everything engine-neutral (zones, scans, pre-curation, the dataset rules, the
Delta commits, the catalog publish, recovery); an engine only converts. Every file an engine writes
is named `part-<run_id>…` inside the table folder it is meant for and is invisible until the
pipeline commits it, so the pipeline can delete a failed conversion's files by that prefix.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # deltalake is loaded by the engines that write, not by importing this
    from genolake.lake.delta_io import DataFile


@dataclass(frozen=True)
class VcfJob:
    """One VCF/BCF to convert: where it is, what it is, where its files go."""

    path: Path  # the quarantined copy the engine reads
    source: Path  # the user's file, named in messages
    header: object  # sources.vcf.VcfHeader
    dataset: str
    run_id: str
    table_roots: dict[str, Path]  # variants, genotypes, cpra_index, rsid_index
    staging_dir: Path  # scratch space of this run
    pos_bin_size: int
    sample_offset: int = 0  # samples.sample_index of the file's first sample
    source_index: Path | None = None  # a .tbi/.csi beside the user's file
    file_type: str = ""  # what the scan found: bgzf, gzip, text
    compressed_bytes: int = 0
    uncompressed_bytes: int | None = None
    workers: int = 1
    chunk_records: int = 2048
    reader: str = "auto"


@dataclass(frozen=True)
class ClinvarJob:
    path: Path
    source: Path
    run_id: str
    table_root: Path


@dataclass
class Converted:
    """What a conversion wrote: files per table (uncommitted), row counts, warnings, phase times."""

    files: "dict[str, list[DataFile]]" = field(default_factory=dict)
    rows: dict = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    timings: dict = field(default_factory=dict)


class EtlEngine(ABC):
    """Converts a source file into curated table files by the counting rule of DESIGN.md."""

    name: str

    @abstractmethod
    def convert_vcf(self, job: VcfJob, progress) -> Converted:
        """Data files for variants, genotypes, cpra_index and rsid_index, and the rows counted
        (records, variants, genotypes, cpra_index, rsid_index, parts). A problem with the file is
        an InputError naming the user's file and line."""

    @abstractmethod
    def convert_clinvar(self, job: ClinvarJob, progress) -> Converted:
        """Data files for the clinvar table (partitioned by assembly), rows: clinvar and per assembly."""

    def read_panel(self, path: Path):
        """A sample panel as `sources.panel.read_panel` gives it (a pyarrow Table)."""
        from ..sources.panel import read_panel

        return read_panel(path)

    def default_workers(self) -> int:
        return 1

    def close(self) -> None:
        """Release what the engine started (a JVM, a cluster connection)."""

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r}>"


class SilentProgress:
    """The progress interface engines are given (`start(desc, total, unit)`, call with a count,
    `close()`), reporting nothing: for conversions nobody watches."""

    def start(self, *args, **kwargs):
        return self

    def __call__(self, n):
        pass

    def close(self):
        pass
