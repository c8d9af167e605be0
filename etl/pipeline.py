"""Ingest through the zones: receive → scans → QC/convert → pre-curated → Delta commits → catalog.

The format QC and the conversion are one pass: the converter reads the quarantined copy and
writes uncommitted files; any problem on the way ends the run in quarantine with a reason.json
and deletes what it wrote. Only a file that converted cleanly is promoted and committed.

Re-running an ingest of the same file is a no-op (same kind, dataset and SHA-256 succeeded
before). Commits are tagged with an ingest key derived from the checksum, so a re-run after a
kill commits only the tables the killed run had not, and then publishes all of them together.
"""

from __future__ import annotations

import datetime as dt
import os
import secrets
import shutil
import signal
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa

from genolake.lake import quarantine
from genolake.lake.config import LakeConfig, check_name
from genolake.lake.delta_io import commit_files, find_run_commit, remove_unreferenced, replace_rows, write_data_file
from genolake.lake.errors import InputError, LakeStateError, QuarantinedError
from genolake.lake.scans import scan_file
from genolake.lake.schemas import CLINVAR, CPRA_INDEX, GENOTYPES, RSID_INDEX, SAMPLES, VARIANTS
from genolake.lake.store import Lake

from .engines import local
from .sources.vcf import find_index, plan_regions, read_header

PARALLEL_MIN_BYTES = 32 * 2**20  # below this one process is faster than starting workers


@dataclass
class IngestResult:
    run_id: str
    kind: str
    dataset: str | None
    status: str  # "succeeded" | "unchanged"
    source: str
    stored_path: str | None
    sha256: str
    rows: dict = field(default_factory=dict)
    versions: dict = field(default_factory=dict)
    seconds: float = 0.0
    warnings: list = field(default_factory=list)
    previous_run: str | None = None


def new_run_id() -> str:
    return dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%S") + "-" + secrets.token_hex(4)


def _fault_point(stage: str) -> None:
    """Test hook: GENOLAKE_FAULT=<stage> kills the process here, as a crash or SIGKILL would."""
    if os.environ.get("GENOLAKE_FAULT") == stage:
        os.kill(os.getpid(), signal.SIGKILL)


class _Progress:
    """A tqdm bar when asked for and attached to a terminal-ish stream, silent otherwise."""

    def __init__(self, enabled: bool):
        self.enabled = enabled
        self.bar = None

    def start(self, desc: str, total=None, unit="it"):
        self.close()
        if self.enabled:
            from tqdm import tqdm

            self.bar = tqdm(total=total, desc=desc, unit=unit, unit_scale=True, file=sys.stderr,
                            dynamic_ncols=True, leave=False, mininterval=0.5)
        return self

    def __call__(self, n):
        if self.bar is not None:
            self.bar.update(n)

    def close(self):
        if self.bar is not None:
            self.bar.close()
            self.bar = None


class _Run:
    """Bookkeeping shared by every kind of ingest: the catalog row, quarantine on failure."""

    def __init__(self, lake: Lake, kind: str, source: Path, dataset: str | None, tenant: str | None):
        self.lake, self.kind, self.source, self.dataset = lake, kind, Path(source), dataset
        self.tenant = check_name("tenant", tenant or lake.config.tenant)
        self.run_id = new_run_id()
        self.t0 = time.monotonic()
        self.warnings: list[str] = []
        self.quarantined: Path | None = None
        self.sha256: str | None = None
        self.scan_report: dict | None = None

    @property
    def ingest_key(self) -> str:
        return f"{self.kind}:{self.dataset or ''}:{self.sha256}"

    def receive(self) -> Path:
        if not self.source.is_file():
            raise InputError(self.source, "no such file" if not self.source.exists() else "not a regular file")
        self.lake.catalog.start_run(self.run_id, kind=self.kind, dataset=self.dataset, tenant=self.tenant,
                                    source_path=str(self.source.resolve()), engine="local")
        self.quarantined, self.sha256 = quarantine.receive(self.source, self.lake.zones, self.tenant, self.run_id)
        self.lake.catalog.update_run(self.run_id, sha256=self.sha256, size_bytes=self.quarantined.stat().st_size,
                                     stored_path=str(self.quarantined))
        return self.quarantined

    def already_done(self) -> IngestResult | None:
        prior = self.lake.catalog.find_succeeded(self.kind, self.dataset, self.sha256)
        if prior is None:
            return None
        shutil.rmtree(self.quarantined.parent, ignore_errors=True)
        seconds = time.monotonic() - self.t0
        self.lake.catalog.finish_run(self.run_id, "unchanged", seconds, stored_path=prior.stored_path,
                                     rows=prior.rows, versions=prior.versions)
        return IngestResult(self.run_id, self.kind, self.dataset, "unchanged", str(self.source), prior.stored_path,
                            self.sha256, rows=prior.rows, versions=prior.versions, seconds=seconds,
                            previous_run=prior.run_id)

    def scan(self):
        report = scan_file(self.quarantined, self.kind, self.lake.config.limits)
        self.scan_report = report.to_dict()
        return report

    def quarantine(self, err: InputError) -> QuarantinedError:
        reason = quarantine.write_reason(
            self.quarantined.parent, source=str(self.source), error=err, scan_report=self.scan_report,
            run_id=self.run_id, kind=self.kind, sha256=self.sha256,
            extra={"dataset": self.dataset, "warnings": self.warnings} if self.dataset else {"warnings": self.warnings},
        )
        self.lake.catalog.finish_run(self.run_id, "quarantined", time.monotonic() - self.t0, error=str(err),
                                     warnings=self.warnings)
        return QuarantinedError(err, reason)

    def promote(self) -> Path:
        stored = quarantine.promote(self.quarantined, self.lake.zones, self.tenant, self.run_id, self.sha256)
        self.lake.catalog.update_run(self.run_id, stored_path=str(stored))
        return stored

    def succeed(self, stored: Path, rows: dict, tables: list[str]) -> IngestResult:
        versions = self.lake.catalog.publish(self.lake.root, tables, run_id=self.run_id)
        seconds = time.monotonic() - self.t0
        self.lake.catalog.finish_run(self.run_id, "succeeded", seconds, rows=rows, warnings=self.warnings,
                                     versions=versions)
        return IngestResult(self.run_id, self.kind, self.dataset, "succeeded", str(self.source), str(stored),
                            self.sha256, rows=rows, versions=versions, seconds=seconds, warnings=self.warnings)

    def fail(self, exc: BaseException):
        """Not the file's fault (or not received): drop our copy, mark the run failed."""
        if self.quarantined is not None:
            shutil.rmtree(self.quarantined.parent, ignore_errors=True)
        if self.lake.catalog is not None:
            try:
                self.lake.catalog.finish_run(self.run_id, "failed", time.monotonic() - self.t0,
                                             error=f"{type(exc).__name__}: {exc}")
            except Exception:
                pass


def _guard(run: _Run, body):
    """Run `body`; user mistakes end in quarantine, anything else marks the run failed."""
    try:
        return body()
    except InputError as err:
        if run.quarantined is None:  # not even received: nothing to quarantine
            run.fail(err)
            raise
        raise run.quarantine(err) from None
    except BaseException as exc:
        run.fail(exc)
        raise


# ---------------------------------------------------------------- VCF

def ingest_vcf(config: LakeConfig, path, dataset: str, *, panel=None, tenant: str | None = None,
               workers: int | None = None, progress: bool = False, chunk_records: int = 2048) -> IngestResult:
    """Ingest a multi-sample VCF/BCF (plain or bgzipped) as `dataset`. Raises QuarantinedError on bad input."""
    check_name("dataset", dataset)
    lake = Lake.open(config)
    panel_rows = _read_panel_for(panel, config) if panel else None
    with lake.ingest_lock():
        run = _Run(lake, "vcf", Path(path), dataset, tenant)
        return _guard(run, lambda: _ingest_vcf(lake, run, panel_rows, workers or local.default_workers(),
                                                _Progress(progress), chunk_records))


def _read_panel_for(panel, config: LakeConfig) -> pa.Table:
    """A panel passed with the VCF is checked like any file, but is not stored as its own run."""
    from .sources.panel import read_panel

    if not Path(panel).is_file():
        raise InputError(panel, "no such file")
    scan_file(Path(panel), "panel", config.limits)
    return read_panel(panel)


def _ingest_vcf(lake: Lake, run: _Run, panel_rows, workers: int, progress: _Progress, chunk_records: int):
    qpath = run.receive()
    done = run.already_done()
    if done:
        return done
    src_index = find_index(run.source)
    report = run.scan()
    header = read_header(qpath)
    run.warnings.extend(header.warnings)
    _check_dataset_compatible(lake, run, header)

    target = local.IngestTarget(
        dataset=run.dataset, run_id=run.run_id, variants_root=lake.table_root("variants"),
        genotypes_root=lake.table_root("genotypes"), cpra_root=lake.table_root("cpra_index"),
        spill_dir=lake.zones.staging_dir(run.run_id), pos_bin_size=lake.config.pos_bin_size,
    )
    for name in ("variants", "genotypes", "cpra_index", "rsid_index"):
        remove_unreferenced(lake.table_root(name), "part-")  # leftovers of a killed run
    parts: list = [None]
    if src_index and workers > 1 and report.file_type == "bgzf" and report.compressed_bytes >= PARALLEL_MIN_BYTES:
        shutil.copyfile(src_index, str(qpath) + src_index.suffix)
        parts = plan_regions(qpath, workers)
    elif workers > 1 and report.compressed_bytes >= PARALLEL_MIN_BYTES:
        run.warnings.append(f"no .tbi/.csi index beside {run.source}: read on one core (`tabix -p vcf` it to use {workers})")
    try:
        results = local.run_parts(qpath, header, parts, target, workers=workers, chunk_records=chunk_records,
                                  progress=progress.start(f"reading {run.source.name}", unit="rec"))
        _raise_first_error(results, header)
        for r in results:
            run.warnings.extend(w for w in r.warnings if w not in run.warnings)
        n_records = sum(r.n_records for r in results)
        if n_records == 0:
            raise InputError(run.source, "no variant records: the file has a header only", line=header.n_header_lines)
        geno_files = local.build_genotypes(header, results, target, workers=workers,
                                           progress=progress.start("genotypes by sample", len(header.samples), "sample"))
    except BaseException:
        shutil.rmtree(target.spill_dir, ignore_errors=True)
        for name in ("variants", "genotypes", "cpra_index"):
            remove_unreferenced(lake.table_root(name), f"part-{run.run_id}")
        raise
    finally:
        progress.close()
    _fault_point("after-convert")
    stored = run.promote()
    for src in (find_index(qpath),):
        if src:
            src.unlink()

    ordered = sorted(results, key=lambda r: r.part)
    rsid_table = _rsid_table(ordered, run.dataset)
    rsid_files = ([write_data_file(lake.table_root("rsid_index"), RSID_INDEX, rsid_table, {},
                                   f"part-{run.run_id}-rsid.parquet")] if rsid_table.num_rows else [])
    commits = [
        ("variants", VARIANTS, [f for r in ordered for f in r.variant_files]),
        ("genotypes", GENOTYPES, geno_files),
        ("cpra_index", CPRA_INDEX, [f for r in ordered for f in r.cpra_files]),
        ("rsid_index", RSID_INDEX, rsid_files),
    ]
    for name, spec, files in commits:
        if files and find_run_commit(lake.table_root(name), run.ingest_key) is None:
            commit_files(lake.table_root(name), spec, files, run_id=run.ingest_key, checksum=run.sha256)
            _fault_point(f"after-commit:{name}")
    _commit_samples(lake, run, header.samples, panel_rows)
    rows = {
        "records": sum(r.n_records for r in ordered), "variants": sum(r.n_alleles for r in ordered),
        "genotypes": sum(f.num_records for f in geno_files), "cpra_index": sum(r.n_calls for r in ordered),
        "rsid_index": rsid_table.num_rows, "samples": len(header.samples),
    }
    return run.succeed(stored, rows, ["samples", "variants", "genotypes", "cpra_index", "rsid_index"])


def _raise_first_error(results, header):
    """The earliest error in file order, its line corrected for the records of earlier parts."""
    offset = 0
    for r in sorted(results, key=lambda r: r.part):
        if r.error is not None:
            err = r.error
            idx = getattr(err, "record_index", None)
            if idx is not None and offset:
                err.line = header.n_header_lines + offset + idx + 1
                other = getattr(err, "other_record_index", None)
                problem = err.problem
                if other is not None:
                    problem = problem.replace(f"line {header.n_header_lines + other + 1}",
                                              f"line {header.n_header_lines + offset + other + 1}")
                    problem = problem.replace(f"and {header.n_header_lines + idx + 1}", f"and {err.line}")
                raise InputError(err.path, problem, line=err.line)
            raise err
        offset += r.n_records


def _check_dataset_compatible(lake: Lake, run: _Run, header) -> None:
    """A dataset is one callset: a second file must have the same samples and new contigs only."""
    existing = lake.read("samples", published=True)
    if existing.num_rows == 0:
        return
    import pyarrow.compute as pc

    mine = existing.filter(pc.equal(existing["dataset"], run.dataset))
    if mine.num_rows == 0:
        return
    order = mine.sort_by("sample_index")["sample_id"].to_pylist()
    if order != header.samples:
        raise InputError(run.source, f"dataset {run.dataset!r} already has {len(order)} samples and this file's samples"
                         " differ; a dataset is one callset: ingest it under another --dataset name",
                         line=header.n_header_lines)


def _rsid_table(results, dataset) -> pa.Table:
    pieces = [t for r in results for t in r.rsids]
    if not pieces:
        return pa.table({f.name: pa.array([], f.type) for f in RSID_INDEX.schema})
    t = pa.concat_tables(pieces)
    t = t.append_column("dataset", pa.array([dataset] * t.num_rows, pa.string()))
    return t.select([f.name for f in RSID_INDEX.schema]).cast(RSID_INDEX.schema).sort_by([("rsid", "ascending"), ("pos", "ascending")])


def _commit_samples(lake: Lake, run: _Run, samples: list[str], panel_rows: pa.Table | None):
    root = lake.table_root("samples")
    if find_run_commit(root, run.ingest_key) is not None:
        return
    existing = lake.read("samples", published=True)
    import pyarrow.compute as pc

    if existing.num_rows and pc.any(pc.equal(existing["dataset"], run.dataset)).as_py() and panel_rows is None:
        return  # same callset, another contig file: samples are already there
    table = samples_table(run.dataset, samples, panel_rows)
    replace_rows(root, SAMPLES, table, f"dataset = '{run.dataset}'", run_id=run.ingest_key, checksum=run.sha256)


def samples_table(dataset: str, samples: list[str], panel_rows: pa.Table | None) -> pa.Table:
    info = {}
    if panel_rows is not None:
        for row in panel_rows.to_pylist():
            info[row["sample_id"]] = row
    return pa.table({
        "dataset": [dataset] * len(samples),
        "sample_id": samples,
        "sample_index": pa.array(range(len(samples)), pa.int32()),
        "population": [info.get(s, {}).get("population") for s in samples],
        "super_population": [info.get(s, {}).get("super_population") for s in samples],
        "sex": [info.get(s, {}).get("sex") for s in samples],
    }, schema=SAMPLES.schema).sort_by([("sample_id", "ascending")])


# ---------------------------------------------------------------- panel

def ingest_panel(config: LakeConfig, path, dataset: str, *, tenant: str | None = None) -> IngestResult:
    """Attach population, super-population and sex from a 1000 Genomes panel to a dataset's samples."""
    check_name("dataset", dataset)
    lake = Lake.open(config)
    with lake.ingest_lock():
        run = _Run(lake, "panel", Path(path), dataset, tenant)
        return _guard(run, lambda: _ingest_panel(lake, run))


def _ingest_panel(lake: Lake, run: _Run):
    from .sources.panel import read_panel
    import pyarrow.compute as pc

    qpath = run.receive()
    done = run.already_done()
    if done:
        return done
    run.scan()
    panel = read_panel(qpath)
    existing = lake.read("samples", published=True)
    mine = existing.filter(pc.equal(existing["dataset"], run.dataset)) if existing.num_rows else existing
    if mine.num_rows == 0:
        raise LakeStateError(f"dataset {run.dataset!r} has no samples yet: ingest its VCF first, "
                             "or pass --panel to `genolake ingest vcf`")
    samples = mine.sort_by("sample_index")["sample_id"].to_pylist()
    matched = len(set(samples) & set(panel["sample_id"].to_pylist()))
    if matched == 0:
        raise InputError(run.source, f"none of the panel's {panel.num_rows} samples is in dataset {run.dataset!r}")
    if matched < len(samples):
        run.warnings.append(f"{len(samples) - matched} of {len(samples)} samples of {run.dataset} are not in the panel")
    stored = run.promote()
    table = samples_table(run.dataset, samples, panel)
    replace_rows(lake.table_root("samples"), SAMPLES, table, f"dataset = '{run.dataset}'",
                 run_id=run.ingest_key, checksum=run.sha256)
    return run.succeed(stored, {"samples": len(samples), "matched": matched}, ["samples"])


# ---------------------------------------------------------------- ClinVar

def ingest_clinvar(config: LakeConfig, path, *, tenant: str | None = None, progress: bool = False) -> IngestResult:
    """Load a ClinVar variant_summary release; it replaces the previous release as one commit."""
    lake = Lake.open(config)
    with lake.ingest_lock():
        run = _Run(lake, "clinvar", Path(path), None, tenant)
        return _guard(run, lambda: _ingest_clinvar(lake, run, _Progress(progress)))


def _ingest_clinvar(lake: Lake, run: _Run, progress: _Progress):
    from .sources.clinvar import iter_clinvar_batches

    qpath = run.receive()
    done = run.already_done()
    if done:
        return done
    run.scan()
    root = lake.table_root("clinvar")
    # read fully before touching the table, so a bad row late in the file changes nothing
    bar = progress.start(f"reading {run.source.name}", unit="row")
    batches = []
    for b in iter_clinvar_batches(qpath):
        batches.append(b)
        bar(b.num_rows)
    progress.close()
    table = pa.Table.from_batches(batches, schema=CLINVAR.schema).sort_by(
        [("assembly", "ascending"), ("contig", "ascending"), ("pos", "ascending")])
    if table.num_rows == 0:
        raise InputError(run.source, "no ClinVar records: the file has a header only", line=1)
    stored = run.promote()
    replace_rows(root, CLINVAR, table, None, run_id=run.ingest_key, checksum=run.sha256)
    import pyarrow.compute as pc

    by_asm = {a["values"]: a["counts"] for a in pc.value_counts(table["assembly"]).to_pylist()}
    return run.succeed(stored, {"clinvar": table.num_rows, **{f"assembly:{k}": v for k, v in by_asm.items()}},
                       ["clinvar"])
