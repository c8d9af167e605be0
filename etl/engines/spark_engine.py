"""The `spark` ETL engine: Hail `import_vcf` into Spark DataFrames, the counting rule as Spark
transforms, Parquet written by Spark in the contract's layout. The pipeline commits the files.

Hail parses the samples' fields. Two things it would get wrong for the counting rule are kept out
of its hands: it turns a partly missing call (`./1`) into a missing one and refuses ploidy above
two, so the GT key is renamed on the way in (`find_replace`) and arrives as its raw text; and its
FILTER is a set (the file's order is lost) and its rows are sorted (the file's order, needed to
refuse unsorted files, is lost), so the site columns come from a light Spark read of the first
nine columns of each line, joined to Hail's rows on contig, position and alleles.

A problem found by Hail or by the checks here is located by a plain single-process reading of the
file (the local engine's reader), so both engines give the same `FILE:LINE: problem` message.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import replace
from pathlib import Path

from genolake.lake.coords import normalize_contig
from genolake.lake.errors import ConfigError, GenolakeError, InputError
from genolake.lake.foreign_files import adopt_parquet_file
from genolake.lake.schemas import CPRA_INDEX, GENOTYPES, RSID_INDEX, VARIANTS
from genolake.lake.spark_session import DEFAULT_MASTER, SparkOptions, get_session, require_spark

from ..sources.vcf import read_raw_header
from .base import ClinvarJob, Converted, EtlEngine, SilentProgress, VcfJob

RAW_GT = "GLRAWGT"  # the FORMAT key GT is renamed to, so Hail keeps it as text
# FORMAT is the 9th column; GT is normally its first key, but htslib finds it anywhere
_GT_REWRITE = (r"^((?:[^\t]*\t){8}(?:[^\t:]*:)*)GT(?=[:\t]|$)", "$1" + RAW_GT)
_REF_RE = r"^[ACGTNacgtn]+$"  # as sources.vcf validates alleles
_ALT_RE = (r"^(?:[ACGTNacgtn]+|\*|<[^<>\s,]+>|[ACGTNacgtn]*[\[\]][^\s,]+[\[\]][ACGTNacgtn]*|\.[ACGTNacgtn]+"
           r"|[ACGTNacgtn]+\.)$")


class SparkEngine(EtlEngine):
    name = "spark"

    def __init__(self, master: str | None = None, options: SparkOptions | None = None):
        require_spark()
        self.options = options or SparkOptions(master=master or DEFAULT_MASTER)

    @property
    def spark(self):
        return get_session(self.options)

    def default_workers(self) -> int:
        return os.cpu_count() or 1

    # ------------------------------------------------------------------ VCF

    def convert_vcf(self, job: VcfJob, progress) -> Converted:
        if job.file_type == "bcf" or str(job.path).endswith(".bcf"):
            raise ConfigError(f"{job.source}: the spark engine reads VCF text (plain or gzipped); "
                              "ingest BCF with --engine local")
        work = job.staging_dir / "spark"
        shutil.rmtree(work, ignore_errors=True)
        work.mkdir(parents=True)
        bar = progress.start(f"spark: {job.source.name}", total=5, unit="step")
        cached = []
        try:
            out = self._convert(job, work, bar, cached)
        except GenolakeError:
            raise
        except Exception as exc:  # a Hail/Spark failure on this file: say where, as the local engine does
            if os.environ.get("GENOLAKE_DEBUG"):
                raise
            raise self._locate(job, exc) from None
        finally:
            for df in cached:
                df.unpersist()
            progress.close()
            shutil.rmtree(work, ignore_errors=True)
        return out

    def _convert(self, job: VcfJob, work: Path, bar, cached: list) -> Converted:
        from pyspark import StorageLevel
        from pyspark.sql import functions as F

        spark = self.spark
        src = _readable_copy(job, work)
        n_samples = len(job.header.samples)

        # 1. the site columns, in file order, from a light read of each line's first nine columns
        lines = spark.read.text(src.as_uri())
        lines = lines.where((F.length("value") > 0) & ~F.col("value").startswith("#"))
        f = F.split(F.substring_index("value", "\t", 9), "\t")
        sites = lines.select(
            F.monotonically_increasing_id().alias("line_id"), F.size(f).alias("n_fields"),
            # Hail ignores columns beyond the samples; the counting rule refuses them (as the local reader)
            (F.length("value") - F.length(F.regexp_replace("value", "\t", "")) + 1).alias("n_cols"),
            f[0].alias("raw_contig"), f[1].alias("pos_text"), f[2].alias("id_text"), f[3].alias("ref"),
            f[4].alias("alt_text"), f[5].alias("qual_text"), f[6].alias("filter_text"),
            F.coalesce(F.array_contains(F.split(f[8], ":"), "GT"), F.lit(False)).alias("has_gt"),
        ).persist(StorageLevel.MEMORY_AND_DISK)
        cached.append(sites)
        contigs = sites.groupBy("raw_contig").agg(F.min("line_id").alias("first"), F.max("line_id").alias("last"),
                                                  F.count("*").alias("n")).collect()
        if not contigs:
            raise InputError(job.path, "no variant records: the file has a header only",
                             line=job.header.n_header_lines)
        order = _contig_order(contigs)
        if order is None:
            raise self._locate(job, "records out of order")
        contig_code = {raw: code for code, raw in enumerate(order)}
        names = {raw: normalize_contig(raw) for raw in order}
        code_of = F.create_map(*[x for raw in order for x in (F.lit(raw), F.lit(contig_code[raw]))])
        name_of = F.create_map(*[x for raw in order for x in (F.lit(raw), F.lit(names[raw]))])

        sites = sites.select(
            "*", F.col("pos_text").cast("int").alias("pos"),
            F.when(F.col("alt_text") == ".", F.array().cast("array<string>"))
             .otherwise(F.split("alt_text", ",")).alias("alts"),
            code_of[F.col("raw_contig")].alias("contig_code"), name_of[F.col("raw_contig")].alias("contig"),
            F.when(F.col("qual_text") == ".", None).otherwise(F.col("qual_text").cast("double")).alias("qual"),
        )
        expected_cols = 9 + n_samples if n_samples else 8
        bad = sites.where(
            (F.col("n_fields") < 8) | ((F.col("n_cols") != expected_cols) & ~((F.col("n_cols") == 8) & F.lit(n_samples == 0)))
            | F.col("pos").isNull() | ~F.col("ref").rlike(_REF_RE)
            | F.exists("alts", lambda a: ~a.rlike(_ALT_RE))
            | (F.col("qual").isNull() & (F.col("qual_text") != "."))
        ).limit(1).count()
        if bad or _unsorted_within_contig(sites):
            raise self._locate(job, "a record the counting rule cannot read")
        bar(1)

        # one row per split allele, ranked by (ref, alt) among the alleles at its contig:pos
        from pyspark.sql import Window

        alleles = sites.select("line_id", "contig", "contig_code", "pos", "ref", "id_text", "qual", "filter_text",
                               F.size("alts").alias("n_alt"), F.posexplode("alts").alias("alt_i", "alt"))
        alleles = alleles.withColumn(
            "allele_ord", F.row_number().over(Window.partitionBy("contig", "pos").orderBy("ref", "alt")))
        alleles = alleles.withColumn(
            "repeats", F.count("*").over(Window.partitionBy("contig", "pos", "ref", "alt")))
        alleles = alleles.persist(StorageLevel.MEMORY_AND_DISK)
        cached.append(alleles)
        if alleles.where(F.col("repeats") > 1).limit(1).count():
            raise self._locate(job, "a repeated CPRA")
        ords = alleles.groupBy("line_id").agg(
            F.sort_array(F.collect_list(F.struct("alt_i", "allele_ord"))).alias("ords"))
        bar(1)

        # 2. Hail parses the samples' fields; the raw GT, DP, GQ and AD are kept
        calls = self._hail_calls(job, src, work, sites, ords, n_samples)
        calls = calls.persist(StorageLevel.MEMORY_AND_DISK)
        cached.append(calls)
        n_bad = calls.where(F.exists("a", lambda x: x.isNull() | (x > F.col("n_alt")))).limit(1).count()
        if n_bad:
            raise self._locate(job, "a GT the counting rule cannot read")
        n_records = sum(r["n"] for r in contigs)
        with_alts = ords.count()  # records without an ALT ('.') have no alleles to count
        if n_samples and (matched := calls.select("line_id").distinct().count()) != with_alts:
            # a record of the file Hail did not give back (or gave back changed): never drop it silently
            raise GenolakeError(f"the spark engine failed on {job.source}: Hail returned {matched:,} of its "
                                f"{with_alts:,} records with an ALT allele (--engine local ingests it)")
        bar(1)

        # 3. the counting rule, per split allele
        per_allele = calls.select("*", F.posexplode("ords").alias("alt_i0", "o")).select(
            "*", (F.col("alt_i0") + 1).alias("alt_index"), F.col("o.allele_ord").alias("allele_ord"),
            F.col("alts")[F.col("alt_i0")].alias("alt"))
        k = F.col("alt_index")
        per_allele = per_allele.select(
            "*",
            F.size(F.filter("a", lambda x: x == k)).alias("dosage"),
            F.size(F.filter("a", lambda x: x >= 0)).alias("called"),
            F.size("a").alias("ploidy"),
        ).where(~((F.col("ploidy") == 2) & (F.col("called") == 2) & (F.col("dosage") == 0)))
        per_allele = per_allele.withColumn("ad_alt", F.when(k < F.size("ad"), F.col("ad")[k]))
        stored = per_allele.persist(StorageLevel.MEMORY_AND_DISK)
        cached.append(stored)

        full = F.col("called") == F.col("ploidy")
        counts = stored.groupBy("line_id", "alt_index").agg(
            F.sum("dosage").alias("ac"), F.sum(2 - F.col("called")).alias("missing_alleles"),
            F.sum((full & (F.col("dosage") > 0) & (F.col("dosage") < F.col("ploidy"))).cast("int")).alias("n_het"),
            F.sum((full & (F.col("dosage") == F.col("ploidy")) & (F.col("ploidy") > 0)).cast("int")).alias("n_hom_alt"),
            F.sum((~full).cast("int")).alias("n_missing"),
        )
        variants = _variants(alleles.withColumn("alt_index", F.col("alt_i") + 1), counts, job.dataset, n_samples)
        bar(1)

        # 4. Parquet by Spark, in the contract's layout, then taken into the table folders
        out_dir = work / "out"
        samples = job.header.samples
        dataset = F.lit(job.dataset)
        geno = stored.select(
            F.col("s").alias("_s"), F.col("contig_code").alias("_c"), F.lit(None).cast("string").alias("sample_id"),
            dataset.alias("dataset"), "contig", F.col("pos").cast("int").alias("pos"),
            F.col("allele_ord").cast("short").alias("allele_ord"),
            F.col("dosage").cast("byte").alias("alt_dosage"), F.col("called").cast("byte").alias("called_alleles"),
            F.col("ploidy").cast("byte").alias("ploidy"),
            (F.col("phased") & (F.col("ploidy") >= 2)).alias("phased"),
            F.col("dp").cast("int").alias("dp"), F.col("gq").cast("int").alias("gq"),
            F.col("ad")[0].cast("int").alias("ad_ref"), F.col("ad_alt").cast("int").alias("ad_alt"))
        geno_files = self._write(geno.repartition("_s").sortWithinPartitions("_s", "_c", "pos", "allele_ord"),
                                 ["_s"], GENOTYPES, out_dir / "genotypes", job,
                                 lambda pv: {"sample_id": samples[int(pv["_s"])]})
        bin_size = job.pos_bin_size
        cpra = stored.select(
            F.col("contig_code").alias("_c"), (F.floor(F.col("pos") / bin_size) * bin_size).cast("int").alias("pos_bin"),
            "contig", dataset.alias("dataset"), F.col("pos").cast("int").alias("pos"),
            F.col("allele_ord").cast("short").alias("allele_ord"), "ref", "alt",
            (F.col("s") + job.sample_offset).cast("int").alias("sample_index"),
            F.col("dosage").cast("byte").alias("alt_dosage"), F.col("called").cast("byte").alias("called_alleles"),
            F.col("ploidy").cast("byte").alias("ploidy"), (F.col("phased") & (F.col("ploidy") >= 2)).alias("phased"))
        cpra_files = self._write(cpra.repartition("_c", "pos_bin").sortWithinPartitions(
                                     "_c", "pos_bin", "pos", "allele_ord", "sample_index"),
                                 ["_c", "pos_bin"], CPRA_INDEX, out_dir / "cpra_index", job,
                                 lambda pv: {"contig": names[order[int(pv["_c"])]], "pos_bin": int(pv["pos_bin"])})
        bar(1)
        variant_files = self._write(variants.repartition("_c").sortWithinPartitions("_c", "pos", "allele_ord"),
                                    ["_c"], VARIANTS, out_dir / "variants", job,
                                    lambda pv: {"contig": names[order[int(pv["_c"])]]})
        rsids = variants.where(F.col("rsid").isNotNull()).select(*RSID_INDEX.data_columns)
        rsid_files = self._write(rsids.coalesce(1).sortWithinPartitions("rsid", "pos"), [], RSID_INDEX,
                                 out_dir / "rsid_index", job, lambda pv: {})
        return Converted(
            files={"variants": variant_files, "genotypes": geno_files, "cpra_index": cpra_files,
                   "rsid_index": rsid_files},
            rows={"records": n_records, "variants": sum(f.num_records for f in variant_files),
                  "genotypes": sum(f.num_records for f in geno_files),
                  "cpra_index": sum(f.num_records for f in cpra_files),
                  "rsid_index": sum(f.num_records for f in rsid_files), "samples": n_samples,
                  "parts": calls.rdd.getNumPartitions()},
        )

    def _hail_calls(self, job: VcfJob, src: Path, work: Path, sites, ords, n_samples: int):
        """Stored-call candidates: one row per (record, sample) whose call is not 0/0, GT parsed,
        plus the first sample's call of every record (so every record Hail read can be counted)."""
        import hail as hl
        from pyspark.sql import functions as F

        fields = _write_hail_header(job, work / "header.vcf")
        site_cols = sites.select("line_id", "raw_contig", "pos", "ref",
                                 F.when(F.col("alt_text") == ".", "").otherwise(F.col("alt_text")).alias("alt_key"),
                                 "contig", "contig_code", "has_gt", "alts", F.size("alts").alias("n_alt")) \
                         .join(ords, "line_id")
        if n_samples == 0:  # a sites-only VCF: no calls, and nothing for Hail to parse
            types = ",".join(f"{k}:{'array<int>' if k == 'AD' else 'string' if k == RAW_GT else 'int'}" for k in fields)
            recs = site_cols.withColumn("e", F.array().cast(f"array<struct<{types}>>"))
        else:
            kind = job.file_type
            mt = hl.import_vcf(src.as_uri(), reference_genome=None, header_file=str(work / "header.vcf"),
                               find_replace=_GT_REWRITE, array_elements_required=False,
                               force_bgz=kind == "bgzf", force=kind == "gzip")
            mt = mt.select_rows().select_entries(*fields)
            rows = mt.localize_entries("e").to_spark(flatten=True)
            rows = rows.select(F.col("`locus.contig`").alias("raw_contig"), F.col("`locus.position`").alias("pos"),
                               F.concat_ws(",", F.slice("alleles", 2, 1 << 20)).alias("alt_key"),
                               F.col("alleles")[0].alias("ref"), "e")
            recs = rows.join(F.broadcast(site_cols), ["raw_contig", "pos", "ref", "alt_key"])
        gt = F.col("en").getField(RAW_GT)
        no_gt = F.when(F.col("has_gt"), F.array(F.lit(-1))).otherwise(F.array(F.lit(-1), F.lit(-1)))
        parsed = F.transform(F.split(gt, "[/|]"), lambda x: F.when(x == ".", -1).otherwise(x.cast("int")))
        entry = lambda name: (F.col("en").getField(name) if name in fields else F.lit(None).cast(
            "array<int>" if name == "AD" else "int"))
        keys = ["line_id", "contig", "contig_code", "pos", "ref", "alts", "n_alt", "ords"]
        return recs.select(*keys, "has_gt", F.posexplode("e").alias("s", "en")) \
            .where(gt.isNull() | ~gt.isin("0/0", "0|0") | (F.col("s") == 0)) \
            .select(*keys, "s",
                    F.when(gt.isNull(), no_gt).otherwise(parsed).alias("a"),
                    F.coalesce(F.instr(gt, "|") > 0, F.lit(False)).alias("phased"),
                    entry("DP").alias("dp"), entry("GQ").alias("gq"), entry("AD").alias("ad"))

    def _write(self, df, partition_cols: list[str], spec, out: Path, job: VcfJob, values_of) -> list:
        """Spark writes Parquet partitioned by small integer codes (safe folder names whatever the
        sample or contig is called); each file is then moved to the table's own partition folder."""
        cols = [c for c in spec.data_columns]
        writer = df.select(*partition_cols, *cols).write.option("compression", "zstd")
        if partition_cols:
            writer = writer.partitionBy(*partition_cols)
        writer.parquet(out.as_uri())
        files = []
        for path in sorted(out.rglob("*.parquet")):
            pv = dict(part.split("=", 1) for part in path.relative_to(out).parts[:-1])
            name = f"part-{job.run_id}-{spec.name}-{len(files):05d}.parquet"
            files.append(adopt_parquet_file(job.table_roots[spec.name], spec, path, values_of(pv), name))
        return [f for f in files if f.num_records]

    def _locate(self, job: VcfJob, cause) -> GenolakeError:
        """The file's first problem, as a plain single-process reading reports it (an InputError:
        quarantine), or, when there is none, the engine's own failure."""
        from .local_engine import LocalEngine

        scratch = job.staging_dir / "locate"
        probe = replace(job, table_roots={t: scratch / t for t in job.table_roots}, staging_dir=scratch / "stage",
                        workers=1)
        try:
            LocalEngine().convert_vcf(probe, SilentProgress())
        except InputError as err:
            return err
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
        from .spark_tables import java_message

        # the file reads cleanly: the failure is the engine's, not the data's (no quarantine)
        from genolake.lake.spark_session import session_log

        detail = cause if isinstance(cause, str) else java_message(cause)
        return GenolakeError(f"the spark engine failed on {job.source}, which the local engine reads without a "
                             f"problem: {detail} (log: {session_log()}; --engine local ingests it)")

    # ------------------------------------------------------------------ ClinVar

    def convert_clinvar(self, job: ClinvarJob, progress) -> Converted:
        from .spark_tables import clinvar_files

        return clinvar_files(self.spark, job, progress)

    def read_panel(self, path: Path):
        from .spark_tables import panel_table

        return panel_table(self.spark, path)


# ---------------------------------------------------------------------- helpers

def _variants(alleles, counts, dataset: str, n_samples: int):
    from pyspark.sql import functions as F

    v = alleles.join(counts, ["line_id", "alt_index"], "left")
    ids = F.split("id_text", ";")
    rs_at = F.array_position(F.transform(ids, lambda x: x.startswith("rs")), True)
    has_id = F.col("id_text") != "."
    rest = F.concat_ws(";", F.filter(ids, lambda x, i: i != rs_at - 1))
    an = (2 * n_samples - F.coalesce(F.col("missing_alleles"), F.lit(0))).cast("int")
    ac = F.coalesce(F.col("ac"), F.lit(0)).cast("int")
    return v.select(
        F.col("contig_code").alias("_c"), F.lit(dataset).alias("dataset"), "contig", F.col("pos").cast("int").alias("pos"),
        F.col("allele_ord").cast("short").alias("allele_ord"), "ref", "alt",
        F.concat_ws("-", "contig", "pos", "ref", "alt").alias("cpra"),
        F.when(has_id & (rs_at > 0), ids[rs_at - 1]).alias("rsid"),
        F.when(has_id & (rest != ""), rest).alias("id"),
        F.col("qual").cast("float").alias("qual"),
        F.when(F.col("filter_text") != ".", F.col("filter_text")).alias("filter"),
        F.col("alt_index").cast("short").alias("alt_index"), F.col("n_alt").cast("short").alias("n_alt"),
        ac.alias("ac"), an.alias("an"), F.when(an > 0, ac / an).alias("af"),
        F.coalesce(F.col("n_het"), F.lit(0)).cast("int").alias("n_het"),
        F.coalesce(F.col("n_hom_alt"), F.lit(0)).cast("int").alias("n_hom_alt"),
        F.coalesce(F.col("n_missing"), F.lit(0)).cast("int").alias("n_missing"),
    )


def _contig_order(contigs) -> list[str] | None:
    """Raw contig names in file order; None when a contig (after normalising) is not one block."""
    rows = sorted(contigs, key=lambda r: r["first"])
    spans: dict[str, list[int]] = {}
    for r in rows:  # chr1 and 1 are one contig: their lines must form one block together
        name = normalize_contig(r["raw_contig"])
        lo, hi, n = spans.get(name, (r["first"], r["last"], 0))
        spans[name] = [min(lo, r["first"]), max(hi, r["last"]), n + r["n"]]
    blocks = sorted(spans.values())
    for a, b in zip(blocks, blocks[1:]):
        if a[1] > b[0]:
            return None
    # a block must hold only its contig's lines: with ids increasing in file order, a block
    # holding another contig's line overlaps that contig's block (checked above)
    return [r["raw_contig"] for r in rows]


def _unsorted_within_contig(sites) -> bool:
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    prev = F.lag("pos").over(Window.partitionBy("contig").orderBy("line_id"))
    return bool(sites.select("contig", "line_id", "pos").where(F.col("pos").isNotNull())
                .select((prev > F.col("pos")).alias("back")).where("back").limit(1).count())


def _readable_copy(job: VcfJob, work: Path) -> Path:
    """Hadoop picks a codec by file name: give a compressed file a .gz name (a link, not a copy)."""
    path = Path(job.path)
    if job.file_type in ("bgzf", "gzip") and not path.name.endswith((".gz", ".bgz")):
        link = work / (path.name + ".gz")
        os.symlink(path, link)
        return link
    return path


def _write_hail_header(job: VcfJob, dest: Path) -> list[str]:
    """The file's header for Hail: GT declared as the raw-text key, only the FORMAT fields we store
    (DP, GQ, AD when declared Integer), no INFO (undeclared keys are skipped, so Hail parses less)."""
    raw = read_raw_header(job.path).splitlines()
    keep, fields = [], [RAW_GT]
    for line in raw:
        if line.startswith(("##INFO=", "##FORMAT=")):
            continue
        if line.startswith("#CHROM"):
            keep.append(f'##FORMAT=<ID={RAW_GT},Number=1,Type=String,Description="GT as written">')
            for key in ("DP", "GQ", "AD"):
                number, typ = job.header.format_types.get(key, ("", ""))
                if typ == "Integer":
                    keep.append(f'##FORMAT=<ID={key},Number={"R" if key == "AD" else "1"},Type=Integer,'
                                f'Description="{key}">')
                    fields.append(key)
        keep.append(line)
    dest.write_text("\n".join(keep) + "\n")
    return fields
