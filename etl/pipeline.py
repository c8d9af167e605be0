"""Ingest through the zones: receive → scans → QC/convert → pre-curated → Delta commits → catalog.

The format QC and the conversion are one pass: the converter reads the quarantined copy and
writes uncommitted files; any problem on the way ends the run in quarantine with a reason.json
and deletes what it wrote. Only a file that converted cleanly is promoted and committed.

Re-running an ingest of the same file is a no-op (same kind, dataset and SHA-256 succeeded
before; for ClinVar and panels, which replace the previous delivery, the latest one). Commits are
tagged with the run id, and a run is "succeeded" in the same catalog transaction that publishes its
table versions. Every ingest starts, holding the lock, with `Lake.recover`: the commits of a run
that was killed (or failed) before publishing are rolled back, its uncommitted files and copies are
removed, so a killed ingest leaves no trace and running it again gives exactly one copy of each row.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import signal
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from genolake.lake import quarantine
from genolake.lake.config import LakeConfig, check_name
from genolake.lake.delta_io import commit_files, remove_unreferenced, replace_rows, table_version, write_data_file
from genolake.lake.errors import ConfigError, InputError, LakeStateError, QuarantinedError, ScanFailed
from genolake.lake.run_manifests import new_run_id, write_manifest
from genolake.lake.scans import scan_file
from genolake.lake.schemas import CLINVAR, CPRA_INDEX, GENOTYPES, RSID_INDEX, SAMPLES, VARIANTS
from genolake.lake.store import Lake

from .callset_extension import check_sites, merged_counts, plan_extension
from .engines import ClinvarJob, VcfJob, get_engine
from .sources.vcf import find_index, read_header

# kinds whose delivery replaces the previous one: only the latest delivery makes a re-run a no-op
_REPLACING_KINDS = ("clinvar", "panel")


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

    def __init__(self, lake: Lake, kind: str, source: Path, dataset: str | None, tenant: str | None,
                 engine: str = "local"):
        self.lake, self.kind, self.source, self.dataset, self.engine = lake, kind, Path(source), dataset, engine
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
                                    source_path=str(self.source.resolve()), engine=self.engine)
        self.quarantined, self.sha256 = quarantine.receive(self.source, self.lake.zones, self.tenant, self.run_id)
        self.lake.catalog.update_run(self.run_id, sha256=self.sha256, size_bytes=self.quarantined.stat().st_size,
                                     stored_path=str(self.quarantined))
        return self.quarantined

    def already_done(self) -> IngestResult | None:
        prior = self.lake.catalog.find_succeeded(self.kind, self.dataset, self.sha256,
                                                 latest_only=self.kind in _REPLACING_KINDS)
        if prior is None or self.lake.catalog.replaced_since(prior):
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

    def about_source(self, err: InputError) -> InputError:
        """The same error naming the file the user gave, not our quarantined copy of it."""
        if self.quarantined is None or err.path != str(self.quarantined):
            return err
        if isinstance(err, ScanFailed):
            new = ScanFailed(self.source, err.problem, err.scan, err.line)
        else:
            new = InputError(self.source, err.problem, err.line)
        for k, v in vars(err).items():
            if k not in vars(new):
                setattr(new, k, v)  # e.g. the scan report
        return new

    def quarantine(self, err: InputError) -> QuarantinedError:
        err = self.about_source(err)
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
        seconds = time.monotonic() - self.t0
        # every commit is made: say so beside the tables, so a lost catalog can be rebuilt by a crawl
        entry = self.lake.catalog.run(self.run_id)
        write_manifest(self.lake.root, {
            **{k: getattr(entry, k) for k in ("run_id", "kind", "dataset", "tenant", "source_path", "sha256",
                                              "size_bytes", "started_at", "engine")},
            "stored_path": str(stored), "seconds": round(seconds, 3), "rows": rows, "warnings": self.warnings,
            "finished_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
            "versions": {t: table_version(self.lake.table_root(t)) for t in tables}})
        _fault_point("after-manifest")
        # one transaction: the versions become visible exactly when the run is "succeeded"
        versions = self.lake.catalog.publish(
            self.lake.root, tables, run_id=self.run_id,
            finish={"status": "succeeded", "seconds": round(seconds, 3), "rows": rows, "warnings": self.warnings})
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

    def undo(self):
        """Best effort, still holding the lock: roll back what this run committed, drop its files.
        If this fails too, the next ingest's `Lake.recover` does it."""
        try:
            self.lake.recover(sweep=True)
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
        q = run.quarantine(err)
        run.undo()
        raise q from None
    except BaseException as exc:
        run.fail(exc)
        if not isinstance(exc, KeyboardInterrupt):
            run.undo()
        raise


def _start(lake: Lake) -> None:
    """First thing under the ingest lock: undo whatever an interrupted ingest left."""
    lake.recover()


# ---------------------------------------------------------------- VCF

def ingest_vcf(config: LakeConfig, path, dataset: str, *, panel=None, tenant: str | None = None,
               workers: int | None = None, progress: bool = False, chunk_records: int = 2048,
               reader: str = "auto", replace: bool = False, assembly: str | None = None,
               engine=None) -> IngestResult:
    """Ingest a multi-sample VCF/BCF (plain or bgzipped) as `dataset`. Raises QuarantinedError on bad input.

    A file for a dataset that has rows already must add sites for its samples or samples over its
    sites (`etl.callset_extension`); `replace=True` makes the file the dataset's whole callset.
    assembly: the callset's reference assembly (GRCh37, GRCh38); default: read from the header's
    `##reference=`/`##contig=<...assembly=...>`; recorded for the dataset in the catalog.

    reader: "auto" takes the GT fast path where the file allows it, "htslib" reads every record
    with htslib (cyvcf2); both give the same tables. engine: an ETL engine's name (`etl.engines.ENGINES`,
    default local) or an engine."""
    if reader not in ("auto", "htslib"):
        raise ConfigError(f"reader must be 'auto' or 'htslib', not {reader!r}")
    for name, value in (("workers", workers), ("chunk_records", chunk_records)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
            raise ConfigError(f"{name} must be a positive whole number, not {value!r}")
    check_name("dataset", dataset)
    eng = get_engine(engine)
    lake = Lake.open(config)
    panel_rows = _read_panel_for(panel, config, eng) if panel else None
    with lake.ingest_lock():
        _start(lake)
        run = _Run(lake, "vcf", Path(path), dataset, tenant, eng.name)
        result = _guard(run, lambda: _ingest_vcf(lake, run, eng, panel_rows, workers or eng.default_workers(),
                                                  _Progress(progress), chunk_records, reader, replace))
        found = normalize_assembly(assembly) if assembly else detect_assembly(Path(path))
        if found:
            lake.catalog.set_dataset_assembly(dataset, found)
        return result


_ASSEMBLY_WORDS = (("GRCh38", ("grch38", "hg38", "b38", "hs38")), ("GRCh37", ("grch37", "hg19", "b37", "hs37", "human_g1k_v37")),
                   ("NCBI36", ("ncbi36", "hg18", "b36")))


def normalize_assembly(text: str) -> str:
    low = str(text).strip().lower()
    for name, words in _ASSEMBLY_WORDS:
        if any(w in low for w in words):
            return name
    return str(text).strip()


def detect_assembly(path: Path, max_lines: int = 20000) -> str | None:
    """GRCh37/GRCh38/NCBI36 from a VCF header's ##reference= or ##contig=<...assembly=...>, else None."""
    import gzip

    try:
        with open(path, "rb") as fh:
            magic = fh.read(2)
        opener = gzip.open if magic == b"\x1f\x8b" else open
        with opener(path, "rt", encoding="utf-8", errors="replace") as fh:
            for i, line in enumerate(fh):
                if i >= max_lines or not line.startswith("##"):
                    break
                low = line.lower()
                if low.startswith("##reference=") or (low.startswith("##contig=") and "assembly=" in low):
                    value = line.split("assembly=", 1)[1] if "assembly=" in low else line.split("=", 1)[1]
                    name = normalize_assembly(value)
                    if name in ("GRCh37", "GRCh38", "NCBI36"):
                        return name
    except (OSError, EOFError, ValueError):
        return None
    return None


def _read_panel_for(panel, config: LakeConfig, engine) -> pa.Table:
    """A panel passed with the VCF is checked like any file, but is not stored as its own run."""
    if not Path(panel).is_file():
        raise InputError(panel, "no such file")
    scan_file(Path(panel), "panel", config.limits)
    return engine.read_panel(Path(panel))


def _ingest_vcf(lake: Lake, run: _Run, engine, panel_rows, workers: int, progress: _Progress, chunk_records: int,
                reader: str = "auto", replace: bool = False):
    qpath = run.receive()
    done = None if replace else run.already_done()  # a replacement is applied even if the file is known
    if done:
        return done
    src_index = find_index(run.source)
    report = run.scan()
    header = read_header(qpath)
    run.warnings.extend(header.warnings)
    ext = plan_extension(lake.read("samples"), run.dataset, run.source, header.samples, header.n_header_lines,
                         replace)
    job = VcfJob(
        path=qpath, source=run.source, header=header, dataset=run.dataset, run_id=run.run_id,
        table_roots={t: lake.table_root(t) for t in ("variants", "genotypes", "cpra_index", "rsid_index")},
        staging_dir=lake.zones.staging_dir(run.run_id), pos_bin_size=lake.config.pos_bin_size,
        sample_offset=ext.sample_offset, source_index=src_index, file_type=report.file_type,
        compressed_bytes=report.compressed_bytes, uncompressed_bytes=report.uncompressed_bytes,
        workers=workers, chunk_records=chunk_records, reader=reader)
    try:
        out = engine.convert_vcf(job, progress)
        run.warnings.extend(w for w in out.warnings if w not in run.warnings)
        merged_variants = _extend_callset(lake, run, ext, out.files["variants"])
    except BaseException:
        _remove_run_files(lake, run, ("variants", "genotypes", "cpra_index", "rsid_index"))
        raise
    timings = dict(out.timings)
    t_phase = time.monotonic()
    _fault_point("after-convert")
    stored = run.promote()
    for src in (find_index(qpath),):
        if src:
            src.unlink()

    files = out.files
    commits = [
        # an N+1 append rewrites the dataset's variants with both callsets' counts; its sites are indexed
        ("variants", VARIANTS, merged_variants if merged_variants is not None else files["variants"],
         ext.replaces or (merged_variants is not None and run.dataset)),
        ("genotypes", GENOTYPES, files["genotypes"], ext.replaces),
        ("cpra_index", CPRA_INDEX, files["cpra_index"], ext.replaces),
        ("rsid_index", RSID_INDEX, [] if ext.mode == "samples" else files["rsid_index"], ext.replaces),
    ]
    for name, spec, table_files, replaces in commits:
        if table_files or replaces:
            commit_files(lake.table_root(name), spec, table_files, run_id=run.run_id, checksum=run.sha256,
                         ingest_key=run.ingest_key, replace_dataset=replaces or None)
            _fault_point(f"after-commit:{name}")
    _commit_samples(lake, run, header.samples, panel_rows, ext)
    rows = {**out.rows, "extension": ext.mode}
    timings["commit_s"] = round(time.monotonic() - t_phase, 2)
    rows["timings"] = timings
    return run.succeed(stored, rows, ["samples", "variants", "genotypes", "cpra_index", "rsid_index"])


def _remove_run_files(lake: Lake, run: _Run, tables) -> None:
    """Delete what a failed conversion wrote: every engine names its files part-<run_id>…"""
    shutil.rmtree(lake.zones.staging_dir(run.run_id), ignore_errors=True)
    for name in tables:
        remove_unreferenced(lake.table_root(name), f"part-{run.run_id}")


def _extend_callset(lake: Lake, run: _Run, ext, files: list) -> list | None:
    """Hold a second file for a dataset to the rules of `callset_extension`, before anything is
    committed. For an N+1 append, write the dataset's variants again with the summed counts and
    return those files (the run's own variant files are removed); else None."""
    if ext.mode not in ("sites", "samples"):
        return None
    root = lake.table_root("variants")
    pieces = []
    for f in files:
        t = pq.read_table(root / f.rel_path)
        pieces.append(t.append_column("contig", pa.array([f.partition_values["contig"]] * t.num_rows, pa.string())))
    new = (pa.concat_tables(pieces).select(VARIANTS.schema.names) if pieces
           else VARIANTS.schema.empty_table())
    existing = lake.read("variants", filter=pc.field("dataset") == run.dataset)
    check_sites(ext, run.source, existing, new)
    if ext.mode != "samples":
        return None
    merged = merged_counts(existing, new)
    out = []
    for contig in pc.unique(merged["contig"]).to_pylist():
        part = merged.filter(pc.equal(merged["contig"], contig)).sort_by([("pos", "ascending"), ("allele_ord", "ascending")])
        out.append(write_data_file(root, VARIANTS, part, {"contig": contig},
                                   f"part-{run.run_id}-variants-merged-{len(out):05d}.parquet"))
    for f in files:  # the run's own counts are in the merged files now
        (root / f.rel_path).unlink(missing_ok=True)
    return out


def _commit_samples(lake: Lake, run: _Run, samples: list[str], panel_rows: pa.Table | None, ext):
    root = lake.table_root("samples")
    if ext.mode == "sites" and panel_rows is None:
        return  # the same samples, new sites: they are already there
    if ext.mode == "samples":  # the N+1 append: the new samples after the dataset's own
        table = pa.concat_tables([ext.existing.cast(SAMPLES.schema),
                                  samples_table(run.dataset, samples, panel_rows, start=ext.sample_offset)])
    else:
        table = samples_table(run.dataset, samples, panel_rows)
    replace_rows(root, SAMPLES, table, f"dataset = '{run.dataset}'", run_id=run.run_id, checksum=run.sha256,
                 ingest_key=run.ingest_key)


def samples_table(dataset: str, samples: list[str], panel_rows: pa.Table | None, start: int = 0) -> pa.Table:
    info = {}
    if panel_rows is not None:
        for row in panel_rows.to_pylist():
            info[row["sample_id"]] = row
    return pa.table({
        "dataset": [dataset] * len(samples),
        "sample_id": samples,
        "sample_index": pa.array(range(start, start + len(samples)), pa.int32()),
        "population": [info.get(s, {}).get("population") for s in samples],
        "super_population": [info.get(s, {}).get("super_population") for s in samples],
        "sex": [info.get(s, {}).get("sex") for s in samples],
    }, schema=SAMPLES.schema).sort_by([("sample_id", "ascending")])


# ---------------------------------------------------------------- panel

def ingest_panel(config: LakeConfig, path, dataset: str, *, tenant: str | None = None,
                 engine=None) -> IngestResult:
    """Attach population, super-population and sex from a 1000 Genomes panel to a dataset's samples."""
    check_name("dataset", dataset)
    eng = get_engine(engine)
    lake = Lake.open(config)
    with lake.ingest_lock():
        _start(lake)
        run = _Run(lake, "panel", Path(path), dataset, tenant, eng.name)
        return _guard(run, lambda: _ingest_panel(lake, run, eng))


def _ingest_panel(lake: Lake, run: _Run, engine):
    import pyarrow.compute as pc

    qpath = run.receive()
    done = run.already_done()
    if done:
        return done
    run.scan()
    panel = engine.read_panel(qpath)
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
                 run_id=run.run_id, checksum=run.sha256, ingest_key=run.ingest_key)
    return run.succeed(stored, {"samples": len(samples), "matched": matched}, ["samples"])


# ---------------------------------------------------------------- ClinVar

def ingest_clinvar(config: LakeConfig, path, *, tenant: str | None = None, progress: bool = False,
                   engine=None) -> IngestResult:
    """Load a ClinVar variant_summary release; it replaces the previous release as one commit."""
    eng = get_engine(engine)
    lake = Lake.open(config)
    with lake.ingest_lock():
        _start(lake)
        run = _Run(lake, "clinvar", Path(path), None, tenant, eng.name)
        return _guard(run, lambda: _ingest_clinvar(lake, run, eng, _Progress(progress)))


def _ingest_clinvar(lake: Lake, run: _Run, engine, progress: _Progress):
    """The engine writes the release's files; they are committed in ONE overwrite transaction that
    also removes the previous release's files. A bad row anywhere leaves the table as it was
    (nothing was committed, and the files written so far are deleted)."""
    qpath = run.receive()
    done = run.already_done()
    if done:
        return done
    run.scan()
    root = lake.table_root("clinvar")
    try:
        out = engine.convert_clinvar(ClinvarJob(path=qpath, source=run.source, run_id=run.run_id, table_root=root),
                                     progress)
    except BaseException:
        _remove_run_files(lake, run, ("clinvar",))
        raise
    _fault_point("after-convert")
    stored = run.promote()
    commit_files(root, CLINVAR, out.files["clinvar"], run_id=run.run_id, checksum=run.sha256,
                 ingest_key=run.ingest_key, mode="overwrite")
    _fault_point("after-commit:clinvar")
    return run.succeed(stored, out.rows, ["clinvar"])
