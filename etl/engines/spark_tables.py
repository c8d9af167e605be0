"""ClinVar variant_summary and sample panels read by Spark, into exactly the tables the local engine
writes (etl/sources/clinvar.py and etl/sources/panel.py say what every column holds).

Every rule is a Spark SQL expression (no Python UDFs: those need Python workers on every executor).
Each line is parsed by Spark's CSV parser (`from_csv`, tab separated, quoting and escaping
disabled, every column a string) over `spark.read.text`, not by `spark.read.csv`: the CSV file
reader silently drops blank and whitespace-only lines, which would shift every later line number
and hide lines the local reader refuses. Reading text keeps every physical line, so `source_line`
is exact: a line is numbered by the byte offset of its file split (`input_file_block_start`) plus
its place in that split (`monotonically_increasing_id`), and the splits' line counts come from the
same aggregation that checks the rows.

The header is checked by the local reader's own functions (one line, read in Python). A row the
local reader would refuse is only detected here; its message comes from running the local reader
(`iter_clinvar_batches` / `read_panel`) until it raises, so both engines say the same
`FILE:LINE: problem`.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from pathlib import Path

import pyarrow as pa

from genolake.lake.errors import GenolakeError, InputError, one_line
from genolake.lake.foreign_files import adopt_parquet_file
from genolake.lake.schemas import CLINVAR

from .base import ClinvarJob, Converted

# What Python's str.strip()/split() treat as whitespace, as a Java regex character class.
_PY_WS = "[" + "".join(f"\\x{{{i:x}}}" for i in range(sys.maxunicode + 1) if chr(i).isspace()) + "]"
_ROW_BITS = 33  # monotonically_increasing_id: partition id << 33 | row within the partition
_CSV_OPTIONS = {"sep": "\t", "quote": "", "escape": "", "mode": "PERMISSIVE",
                "columnNameOfCorruptRecord": "_corrupt", "ignoreLeadingWhiteSpace": "false",
                "ignoreTrailingWhiteSpace": "false"}
_INT32_MAX = 2**31 - 1
_KIND_HEADER, _KIND_BLANK, _KIND_DATA = 0, 1, 2


# ---------------------------------------------------------------------------------------- ClinVar

def clinvar_files(spark, job: ClinvarJob, progress) -> Converted:
    """Data files for the clinvar table (partitioned by assembly, sorted by contig, pos), rows as
    LocalEngine.convert_clinvar counts them. Errors are the local reader's, word for word."""
    from ..sources import clinvar as cv

    path = Path(job.path)
    compressed = cv._is_gzip(path)
    names = cv._read_header(path, compressed)
    cv._check_columns(path, names)

    work = _scratch_dir(job)
    bar = progress.start(f"spark: {job.source.name}", total=2, unit="step")
    try:
        try:
            return _clinvar(spark, job, names, _readable_link(path, compressed, work), work, bar)
        except GenolakeError:
            raise
        except Exception as exc:  # a Spark failure on this file (bad gzip, ...): say where
            if os.environ.get("GENOLAKE_DEBUG"):
                raise
            raise _locate_clinvar(job, exc) from None
    finally:
        progress.close()
        shutil.rmtree(work, ignore_errors=True)


def _clinvar(spark, job: ClinvarJob, names: list[str], src: Path, work: Path, bar) -> Converted:
    from pyspark.sql import functions as F

    from ..sources import clinvar as cv
    from .local_engine import CLINVAR_BATCH_ROWS

    lines = _numbered_lines(spark, src)
    schema = ", ".join(f"_c{i} string" for i in range(len(names))) + ", _corrupt string"
    rec = F.from_csv("value", schema, _CSV_OPTIONS)
    index = {n: i for i, n in enumerate(names)}
    present = [c for c in cv._USED_COLUMNS if c in index]
    # every used column as the local reader sees it: a string, '' for an empty field
    parsed = lines.select("block", "row", "value", rec.alias("r")).select(
        "block", "row", "value", F.col("r._corrupt").alias("corrupt"),
        *[F.coalesce(F.col(f"r._c{index[c]}"), F.lit("")).alias(f"in{index[c]}") for c in present])

    def col(name):
        return F.col(f"in{index[name]}")

    out, bad = _clinvar_columns(col, present)
    blank = F.lit(True)
    for c in present:  # as the local reader: a line whose used fields are all empty is blank
        blank = blank & (col(c) == "")
    is_header = (F.col("block") == 0) & F.col("value").startswith("#AlleleID")
    kind = (F.when(is_header, _KIND_HEADER).when(F.col("corrupt").isNull() & blank, _KIND_BLANK)
            .otherwise(_KIND_DATA))
    rows = parsed.select("block", "row", kind.alias("kind"), *[e.alias(n) for n, e in out.items()],
                         (F.col("corrupt").isNotNull() | bad).alias("bad"))

    # 1. one pass: line counts per split (for line numbers), refusals, rows per assembly
    stats = rows.groupBy("block", "kind", "assembly").agg(
        F.count("*").alias("n"), F.min("row").alias("first"), F.max("row").alias("last"),
        F.max(F.col("bad").cast("int")).alias("bad")).collect()
    bar(1)
    blocks: dict[int, list[int]] = {}
    for r in stats:
        b = blocks.setdefault(r["block"], [r["first"], 0])
        b[0] = min(b[0], r["first"])
        b[1] += r["n"]
    headers = [r for r in stats if r["kind"] == _KIND_HEADER]
    data = [r for r in stats if r["kind"] == _KIND_DATA]
    blanks = [r for r in stats if r["kind"] == _KIND_BLANK]
    first_block = min(blocks) if blocks else None
    header_ok = (len(headers) == 1 and headers[0]["n"] == 1 and headers[0]["block"] == first_block
                 and headers[0]["first"] == blocks[first_block][0])
    # with ids and split offsets increasing in file order, (block, row) orders the lines
    last_data = max(((r["block"], r["last"]) for r in data), default=None)
    first_blank = min(((r["block"], r["first"]) for r in blanks), default=None)
    inner_blank = last_data is not None and first_blank is not None and first_blank < last_data
    if not header_ok or inner_blank or any(r["bad"] for r in data):
        raise _locate_clinvar(job, "a line the local reader refuses")

    by_asm: dict[str, int] = {}
    for r in data:
        by_asm[r["assembly"]] = by_asm.get(r["assembly"], 0) + r["n"]
    n = sum(by_asm.values())
    if n == 0:
        raise InputError(job.source, "no ClinVar records: the file has a header only", line=1)

    # 2. the line number of each row: lines before its split, plus its place in the split
    start, base = 1, {}
    for block in sorted(blocks):
        first, count = blocks[block]
        base[block] = start - first
        start += count
    ordered = sorted(base.items())
    shift = F.lit(ordered[-1][1])  # a CASE without a null branch: source_line stays non-nullable
    for block, v in ordered[:-1]:
        shift = F.when(F.col("block") == block, F.lit(v)).otherwise(shift)
    line = F.col("row") + shift
    assemblies = sorted(by_asm)
    code = F.create_map(*[x for i, a in enumerate(assemblies) for x in (F.lit(a), F.lit(i))])
    table = rows.where(F.col("kind") == _KIND_DATA).select(
        code[F.col("assembly")].alias("_a"), *[c for c in CLINVAR.data_columns if c != "source_line"],
        line.cast("long").alias("source_line"))

    out_dir = work / "out"
    (table.repartition("_a")
     .sortWithinPartitions("_a", F.asc_nulls_last("contig"), F.asc_nulls_last("pos"), "source_line")
     .write.option("compression", "zstd").option("maxRecordsPerFile", CLINVAR_BATCH_ROWS)
     .partitionBy("_a").parquet(out_dir.as_uri()))
    files = []
    for p in sorted(out_dir.rglob("*.parquet")):
        pv = dict(part.split("=", 1) for part in p.relative_to(out_dir).parts[:-1])
        files.append(adopt_parquet_file(job.table_root, CLINVAR, p, {"assembly": assemblies[int(pv["_a"])]},
                                        f"part-{job.run_id}-{len(files):05d}.parquet"))
    files = [f for f in files if f.num_records]
    bar(1)
    written = sum(f.num_records for f in files)
    if written != n:  # the two passes read the file differently: never commit that
        raise InputError(job.source, f"the spark engine wrote {written} ClinVar rows but counted {n}")
    return Converted(files={"clinvar": files},
                     rows={"clinvar": n, **{f"assembly:{k}": v for k, v in sorted(by_asm.items())}})


def _clinvar_columns(col, present):
    """The CLINVAR columns (but source_line) as Spark expressions of the raw strings, and a flag
    for a row the local reader refuses (a value it cannot convert)."""
    from pyspark.sql import functions as F

    from ..sources import clinvar as cv

    schema = CLINVAR.schema
    out, bad = {}, F.lit(False)

    def null_if(e, tokens):
        return F.when(~e.isin(*tokens), e) if tokens else e

    def int_col(name, tokens):
        nonlocal bad
        e = null_if(col(name), tokens)
        v = _try_long(e)
        bad = bad | (e.isNotNull() & v.isNull())
        return v

    text_of = {v: k for k, v in cv._TEXT_COLUMNS.items()}
    int_of = {v[0]: (k, v[1]) for k, v in cv._INT_COLUMNS.items()}
    ints = {}
    for field, (name, tokens) in int_of.items():
        typ = "int" if schema.field(field).type == pa.int32() else "long"
        if name not in present:
            ints[field] = F.lit(None).cast(typ)
            continue
        v = int_col(name, tokens)
        if typ == "int":
            bad = bad | F.coalesce((v > _INT32_MAX) | (v < -_INT32_MAX), F.lit(False))  # |v| > max
            v = v.cast("int")
        ints[field] = v

    assembly = col("Assembly")
    bad = bad | (assembly == "")

    raw_chrom = col("Chromosome")
    stripped = F.regexp_replace(raw_chrom, f"^{_PY_WS}+|{_PY_WS}+$", "")
    no_chr = F.regexp_replace(stripped, "^(?i)chr", "")
    contig = (F.when(raw_chrom.isin(*sorted(cv._CONTIG_NULLS)) | (stripped == ""), F.lit(None).cast("string"))
              .when(F.upper(stripped).isin("M", "MT", "CHRM", "CHRMT"), F.lit("MT"))
              .when(F.upper(no_chr).isin("X", "Y"), F.upper(no_chr))
              .otherwise(no_chr))

    if "PositionVCF" in present:
        pvcf = int_col("PositionVCF", cv._NULLS)
        pvcf = F.when(pvcf > 0, pvcf)
    else:
        pvcf = F.lit(None).cast("long")
    start = ints["start"]
    pos = F.coalesce(pvcf, F.when(start > 0, start))
    bad = bad | F.coalesce(pos > _INT32_MAX, F.lit(False))

    alleles = {}
    for name, field in (("ReferenceAlleleVCF", "ref"), ("AlternateAlleleVCF", "alt")):
        alleles[field] = (null_if(col(name), cv._ALLELE_NULLS) if name in present
                          else F.lit(None).cast("string"))

    rs = int_col("RS# (dbSNP)", cv._RSID_NULLS)
    rsid = F.when(rs > 0, F.concat(F.lit("rs"), rs.cast("string")))

    # any bad character decoding (U+FFFD) in a used column: the local reader may refuse the line
    for c in present:
        bad = bad | (F.instr(col(c), "\ufffd") > 0)

    for f in schema:
        name = f.name
        if name == "source_line":
            continue
        if name == "assembly":
            out[name] = assembly
        elif name == "contig":
            out[name] = contig
        elif name == "pos":
            out[name] = F.when(pos <= _INT32_MAX, pos).cast("int")
        elif name in ("ref", "alt"):
            out[name] = alleles[name]
        elif name == "cpra":  # null when any part is null, as coords.cpra_key over valid parts
            out[name] = F.concat(contig, F.lit("-"), pvcf.cast("string"), F.lit("-"), alleles["ref"],
                                 F.lit("-"), alleles["alt"])
        elif name == "rsid":
            out[name] = rsid
        elif name in ints:
            out[name] = ints[name]
        elif name in text_of:
            src = text_of[name]
            out[name] = null_if(col(src), ("", "-")) if src in present else F.lit(None).cast("string")
        else:
            raise AssertionError(f"no rule for the CLINVAR column {name}")
    return out, bad


def _try_long(e):
    """`e` as bigint when it is what pyarrow's string->int64 cast accepts (an optional '-' and
    ASCII digits, in range), else null. Spark's own cast also takes ' 5', '+5' and '5.5' (as 5),
    so a value must also be only digits after an optional '-': a canonical number is recognised
    by printing it back (cheap), the rest (leading zeros, '-0') by deleting its digits. Out of
    range gives null (or an error under spark.sql.ansi, which the caller turns into the local
    reader's message)."""
    from pyspark.sql import functions as F

    v = e.cast("bigint")
    rest = F.translate(e, "0123456789", "")
    digits_only = (rest == "") | ((rest == "-") & e.startswith("-") & (F.length(e) > 1))
    return F.when(v.isNotNull() & ((v.cast("string") == e) | digits_only), v)


def _locate_clinvar(job: ClinvarJob, cause) -> InputError:
    """The file's first problem, as the plain single-process reader reports it."""
    from ..sources.clinvar import iter_clinvar_batches

    try:
        for _ in iter_clinvar_batches(job.path):
            pass
    except InputError as err:
        return err
    detail = cause if isinstance(cause, str) else java_message(cause)
    return InputError(job.source, f"the spark engine could not read the file: {detail}")


# ---------------------------------------------------------------------------------------- panels

def panel_table(spark, path) -> pa.Table:
    """The same table as sources.panel.read_panel(path) (sample_id, population, super_population,
    sex; values stripped, '' -> null, file order), read by Spark; its errors are read_panel's."""
    from pyspark.sql import functions as F

    from ..sources import panel as sp

    path = Path(path)
    try:
        with open(path, "rb") as f:
            compressed = f.read(2) == b"\x1f\x8b"
    except OSError:
        return sp.read_panel(path)  # raises the local reader's "cannot read the panel"
    work = Path(tempfile.mkdtemp(prefix="genolake-panel-"))
    try:
        src = _readable_link(path, compressed, work)
        try:
            return _panel(spark, path, src)
        except GenolakeError:
            raise
        except Exception as exc:
            if os.environ.get("GENOLAKE_DEBUG"):
                raise
            sp.read_panel(path)  # raises when the file is the problem
            raise InputError(path, f"the spark engine could not read the panel: {java_message(exc)}") from None
    finally:
        shutil.rmtree(work, ignore_errors=True)


# Line breaks of Python's str.splitlines() that Hadoop's line reader does not split on.
_OTHER_BREAKS = "[\u000b\u000c\u001c\u001d\u001e\u0085\u2028\u2029]"


def _panel(spark, path: Path, src: Path) -> pa.Table:
    from pyspark.sql import functions as F

    from ..sources import panel as sp

    lines = _numbered_lines(spark, src)
    line_no = F.col("row")  # 0-based; one split (checked below): panels are far below a split's size
    if lines.rdd.getNumPartitions() != 1:
        return sp.read_panel(path)
    value = F.when(line_no == 0, F.regexp_replace("value", "^\ufeff+", "")).otherwise(F.col("value"))
    strip = lambda e: F.regexp_replace(e, f"^{_PY_WS}+|{_PY_WS}+$", "")  # noqa: E731
    tabbed = F.split(F.regexp_replace(F.array_join(F.transform(F.split(value, "\t", -1), strip), "\t"),
                                      "\t+$", ""), "\t", -1)
    spaced = F.split(strip(value), f"{_PY_WS}+", -1)
    fields = F.when(F.instr(value, "\t") > 0, tabbed).otherwise(spaced)
    base = lines.select(
        line_no.alias("i"), (strip(value) == "").alias("blank"), fields.alias("f"),
        (F.col("value").rlike(_OTHER_BREAKS) | (F.instr("value", "\ufffd") > 0)
         # bytes that are not UTF-8 (text lines are raw bytes; a round trip through text changes them)
         | (F.encode("value", "UTF-8") != F.col("value").cast("binary"))).alias("odd"))

    head = base.where(F.col("i") == 0).collect()
    if not head or head[0]["blank"] or base.where("odd").limit(1).count():
        return sp.read_panel(path)  # an empty file or header raises; odd text: the local reader's reading
    header = [h.lstrip("#").lower() for h in head[0]["f"]]
    where = {}
    for column, accepted in sp._COLUMNS.items():
        for name in accepted:
            if name in header:
                where[column] = header.index(name)
                break
    if any(c not in where for c in sp._REQUIRED):
        return sp.read_panel(path)  # raises "missing required panel columns"

    def value_of(column):
        if column not in where:
            return F.lit(None).cast("string")
        v = F.get("f", where[column]) if hasattr(F, "get") else F.col("f")[where[column]]
        return F.when(v != "", v)

    body = base.where((F.col("i") > 0) & ~F.col("blank")).select(
        "i", F.size("f").alias("n_fields"), *[value_of(c).alias(c) for c in sp._COLUMNS])
    rows = body.orderBy("i").collect()
    seen = set()
    refused = not rows
    for r in rows:
        if r["n_fields"] > len(header) or r["sample_id"] is None or r["sample_id"] in seen:
            refused = True
            break
        seen.add(r["sample_id"])
    if refused:
        sp.read_panel(path)  # raises the local reader's message for the first such line
        raise InputError(path, "the spark engine refused a panel line the local reader accepts")
    return pa.table({c: pa.array([r[c] for r in rows], pa.string()) for c in sp._COLUMNS},
                    schema=sp.PANEL_SCHEMA)


# ---------------------------------------------------------------------------------------- helpers

def _numbered_lines(spark, src: Path):
    """Every physical line of `src` with its split (byte offset of the split's start) and an id
    that increases by one per line inside a split."""
    from pyspark.sql import functions as F

    mask = (1 << _ROW_BITS) - 1
    return spark.read.text(src.as_uri()).select(
        F.input_file_block_start().alias("block"),
        F.monotonically_increasing_id().bitwiseAND(F.lit(mask)).alias("row"), "value")


def _scratch_dir(job: ClinvarJob) -> Path:
    """Spark's output must be on the table's filesystem (files are moved, not copied): the run's
    staging folder when the table is a lake's curated table, else a temporary folder beside it."""
    from genolake.lake import zones

    root = Path(job.table_root)
    curated = getattr(zones, "CURATED", "curated")
    staging = getattr(zones, "STAGING", "staging")
    if root.parent.name == curated:
        work = root.parent.parent / staging / job.run_id / "spark-clinvar"
        shutil.rmtree(work, ignore_errors=True)
        work.mkdir(parents=True)
        return work
    root.parent.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=f".spark-{job.run_id}-", dir=root.parent))


def _readable_link(path: Path, compressed: bool, work: Path) -> Path:
    """Hadoop picks a codec by file name: a link whose name says what the bytes are."""
    name = "input.txt.gz" if compressed else "input.txt"
    link = work / name
    if link.is_symlink() or link.exists():
        link.unlink()
    os.symlink(path.resolve(), link)
    return link


def java_message(exc: BaseException) -> str:
    """The one line of a Hail/Spark/py4j error worth showing (not the Java stack)."""
    text = str(exc)
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith(("at ", "Traceback", "File ")) and "Exception" in line:
            return one_line(line)
    return one_line(text.splitlines()[0] if text else type(exc).__name__)
