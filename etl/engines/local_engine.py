"""The `local` ETL engine: htslib and the bulk text reader in worker processes, Arrow batches,
bounded memory, no JVM (the laptop default)."""

from __future__ import annotations

import shutil
import time

import pyarrow as pa
import pyarrow.compute as pc

from genolake.lake.delta_io import write_data_file
from genolake.lake.errors import InputError
from genolake.lake.schemas import CLINVAR, RSID_INDEX

from ..sources.vcf import plan_regions
from ..sources.vcf_text import file_kind, plan_text_parts, text_reader_applies
from . import local
from .base import ClinvarJob, Converted, EtlEngine, VcfJob

PARALLEL_MIN_BYTES = 32 * 2**20  # below this one process is faster than starting workers
CLINVAR_BATCH_ROWS = 200_000  # rows per ClinVar batch, and at most per Parquet file (bounds memory)


class LocalEngine(EtlEngine):
    name = "local"

    def default_workers(self) -> int:
        return local.default_workers()

    def convert_vcf(self, job: VcfJob, progress) -> Converted:
        out = Converted()
        target = local.IngestTarget(
            dataset=job.dataset, run_id=job.run_id, variants_root=job.table_roots["variants"],
            genotypes_root=job.table_roots["genotypes"], cpra_root=job.table_roots["cpra_index"],
            spill_dir=job.staging_dir, pos_bin_size=job.pos_bin_size, sample_offset=job.sample_offset,
        )
        parts = _plan_parts(job, out.warnings)
        t_phase = time.monotonic()
        try:
            by_bytes = parts[0][0] == "text"  # progress in bytes of text, against the size the scan found
            results = local.run_parts(job.path, job.header, parts, target, workers=job.workers,
                                      chunk_records=job.chunk_records,
                                      progress=progress.start(f"reading {job.source.name}",
                                                              total=job.uncompressed_bytes if by_bytes else None,
                                                              unit="B" if by_bytes else "rec"))
            _raise_first_error(results)
            for r in results:
                out.warnings.extend(w for w in r.warnings if w not in out.warnings)
            if sum(r.n_records for r in results) == 0:
                raise InputError(job.source, "no variant records: the file has a header only",
                                 line=job.header.n_header_lines)
            out.timings["convert_s"] = round(time.monotonic() - t_phase, 2)
            t_phase = time.monotonic()
            geno_files = local.build_genotypes(job.header, results, target, workers=job.workers,
                                               progress=progress.start("genotypes by sample", len(job.header.samples),
                                                                       "sample"))
        finally:
            shutil.rmtree(target.spill_dir, ignore_errors=True)
            progress.close()
        out.timings["genotypes_s"] = round(time.monotonic() - t_phase, 2)
        ordered = sorted(results, key=lambda r: r.part)
        rsid_table = _rsid_table(ordered, job.dataset)
        out.files = {
            "variants": [f for r in ordered for f in r.variant_files],
            "genotypes": geno_files,
            "cpra_index": [f for r in ordered for f in r.cpra_files],
            "rsid_index": ([write_data_file(job.table_roots["rsid_index"], RSID_INDEX, rsid_table, {},
                                            f"part-{job.run_id}-rsid.parquet")] if rsid_table.num_rows else []),
        }
        out.rows = {
            "records": sum(r.n_records for r in ordered), "variants": sum(r.n_alleles for r in ordered),
            "genotypes": sum(f.num_records for f in geno_files), "cpra_index": sum(r.n_calls for r in ordered),
            "rsid_index": rsid_table.num_rows, "samples": len(job.header.samples), "parts": len(parts),
        }
        return out

    def convert_clinvar(self, job: ClinvarJob, progress) -> Converted:
        """Stream the release into Parquet files, one per batch and assembly, sorted by contig, pos:
        memory holds one batch."""
        from ..sources.clinvar import iter_clinvar_batches

        bar = progress.start(f"reading {job.source.name}", unit="row")
        files, by_asm, n = [], {}, 0
        try:
            for b in iter_clinvar_batches(job.path, batch_rows=CLINVAR_BATCH_ROWS):
                batch = pa.Table.from_batches([b], schema=CLINVAR.schema)
                for asm in sorted(pc.unique(batch["assembly"]).to_pylist()):
                    part = batch.filter(pc.equal(batch["assembly"], asm)).sort_by(
                        [("contig", "ascending"), ("pos", "ascending")])
                    files.append(write_data_file(job.table_root, CLINVAR, part, {"assembly": asm},
                                                 f"part-{job.run_id}-{len(files):05d}.parquet"))
                    by_asm[asm] = by_asm.get(asm, 0) + part.num_rows
                n += batch.num_rows
                bar(batch.num_rows)
        finally:
            progress.close()
        if n == 0:
            raise InputError(job.source, "no ClinVar records: the file has a header only", line=1)
        return Converted(files={"clinvar": files},
                         rows={"clinvar": n, **{f"assembly:{k}": v for k, v in sorted(by_asm.items())}})


def _plan_parts(job: VcfJob, warnings: list[str]) -> list[tuple]:
    """How the file is split across workers: byte ranges for VCF text (no index needed), index
    regions for an indexed BCF, else one part."""
    workers = job.workers
    big = workers > 1 and job.compressed_bytes >= PARALLEL_MIN_BYTES
    if job.reader == "auto" and text_reader_applies(job.path):
        n = workers if big and file_kind(job.path) != "gzip" else 1
        if big and n == 1:
            warnings.append(f"{job.source} is plain gzip, which cannot be split: read on one core (bgzip it to use {workers})")
        return [("text", p) for p in plan_text_parts(job.path, n)]
    if big and job.source_index and job.file_type == "bgzf":
        shutil.copyfile(job.source_index, str(job.path) + job.source_index.suffix)
        return [("regions", regions) for regions in plan_regions(job.path, workers)]
    if big:
        warnings.append(f"no .tbi/.csi index beside {job.source}: read on one core (`tabix -p vcf` it to use {workers})")
    return [("whole", None)]


def _raise_first_error(results):
    """The earliest error in file order, with line numbers counted from the top of the file."""
    offset = 0
    for r in sorted(results, key=lambda r: r.part):
        if r.error is not None:
            err = r.error
            local_line = getattr(err, "local_line", None)
            if local_line is None or not offset:
                raise err
            other = getattr(err, "other_local_line", None)
            line = offset + local_line + 1
            problem = err.problem_template.replace("{line}", str(line))
            if other is not None:
                problem = problem.replace("{other_line}", str(offset + other + 1))
            raise InputError(err.path, problem, line=line)
        offset += r.n_lines


def _rsid_table(results, dataset) -> pa.Table:
    pieces = [t for r in results for t in r.rsids]
    if not pieces:
        return pa.table({f.name: pa.array([], f.type) for f in RSID_INDEX.schema})
    t = pa.concat_tables(pieces)
    t = t.append_column("dataset", pa.array([dataset] * t.num_rows, pa.string()))
    return t.select([f.name for f in RSID_INDEX.schema]).cast(RSID_INDEX.schema).sort_by([("rsid", "ascending"), ("pos", "ascending")])
