"""Streaming reader of NCBI ClinVar `variant_summary.txt[.gz]` into batches of the CLINVAR table.

The file is a tab-separated dump whose header line starts with `#AlleleID`. NCBI has shipped
three layouts (31 columns before the VCF-style allele columns existed, 34, and the current 43
with the somatic/oncogenicity columns), so every column is found by its NAME, never by position;
an optional column that is absent becomes null.

The real file is ~4 GB uncompressed (~7M rows), so it is read in blocks by pyarrow's streaming
CSV reader (every column as a string, quoting disabled because ClinVar fields contain bare `"`)
and each 2 MB block is converted with vectorised pyarrow.compute kernels, then blocks are joined
into batches of `batch_rows` rows. Memory is bounded: about 80 MB of blocks in flight in the CSV
reader plus two to three batches (~350 MB at the default 200,000 rows, far less at smaller sizes).

Conventions (the CLINVAR spec in lake/schemas.py says what each column holds):
- `source_line` is the 1-based line in the file; the header is line 1.
- contig is `normalize_contig(Chromosome)`; `na`, `Un`, `-` and empty give null.
- pos is PositionVCF when it is a positive integer, else Start when positive, else null.
- ref/alt are ReferenceAlleleVCF/AlternateAlleleVCF; `na`, `-`, empty or an absent column give null.
- cpra is `cpra_key(contig, PositionVCF, ref, alt)` only when all four are valid; rows without
  VCF-style alleles are kept with a null cpra.
- rsid is `rs` + RS# (dbSNP); `-1`, `na`, `-` or empty give null.
- Integer columns: `na`, `-` and empty give null; GeneID `-1` gives null (NCBI's "no gene");
  ClinSigSimple, Start and Stop keep `-1` as written. AlleleID and VariationID must be integers.
- Descriptive text columns keep their value as written, except that NCBI's `-` placeholder and
  empty give null.

Malformed input raises InputError naming the file and the line.
"""

from __future__ import annotations

import gzip
from pathlib import Path
from typing import Iterator

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from genolake.lake.coords import normalize_contig
from genolake.lake.errors import ConfigError, InputError
from genolake.lake.schemas import CLINVAR

# The minimum needed to build a meaningful CLINVAR row.
REQUIRED_COLUMNS: tuple[str, ...] = (
    "AlleleID", "Type", "Name", "GeneSymbol", "ClinicalSignificance", "RS# (dbSNP)",
    "Assembly", "Chromosome", "Start", "Stop", "ReviewStatus", "VariationID",
)

# The layouts NCBI has published (header names, `#` stripped from the first one). Reading is by
# name, so these are for reference and tests; a header with other extra columns is accepted too.
LAYOUT_31: tuple[str, ...] = (
    "AlleleID", "Type", "Name", "GeneID", "GeneSymbol", "HGNC_ID", "ClinicalSignificance",
    "ClinSigSimple", "LastEvaluated", "RS# (dbSNP)", "nsv/esv (dbVar)", "RCVaccession",
    "PhenotypeIDS", "PhenotypeList", "Origin", "OriginSimple", "Assembly", "ChromosomeAccession",
    "Chromosome", "Start", "Stop", "ReferenceAllele", "AlternateAllele", "Cytogenetic",
    "ReviewStatus", "NumberSubmitters", "Guidelines", "TestedInGTR", "OtherIDs",
    "SubmitterCategories", "VariationID",
)
LAYOUT_34: tuple[str, ...] = LAYOUT_31 + ("PositionVCF", "ReferenceAlleleVCF", "AlternateAlleleVCF")
LAYOUT_43: tuple[str, ...] = LAYOUT_34 + (
    "SomaticClinicalImpact", "SomaticClinicalImpactLastEvaluated", "ReviewStatusClinicalImpact",
    "Oncogenicity", "OncogenicityLastEvaluated", "ReviewStatusOncogenicity",
    "SCVsForAggregateGermlineClassification", "SCVsForAggregateSomaticClinicalImpact",
    "SCVsForAggregateOncogenicityClassification",
)

# ClinVar column -> table column, for the text columns copied as written ('-' / '' -> null).
_TEXT_COLUMNS = {
    "Type": "type", "Name": "name", "GeneSymbol": "gene_symbol", "HGNC_ID": "hgnc_id",
    "ClinicalSignificance": "clinical_significance", "LastEvaluated": "last_evaluated",
    "PhenotypeIDS": "phenotype_ids", "PhenotypeList": "phenotype_list", "Origin": "origin",
    "OriginSimple": "origin_simple", "ReviewStatus": "review_status",
    "ChromosomeAccession": "chromosome_accession",
}
_NULLS = ("", "na", "-")  # NCBI writes all three for "no value"
# ClinVar column -> (table column, tokens read as null). An empty token set: the value is required.
_INT_COLUMNS = {
    "AlleleID": ("allele_id", ()),
    "VariationID": ("variation_id", ()),
    "GeneID": ("gene_id", _NULLS + ("-1",)),
    "ClinSigSimple": ("clin_sig_simple", _NULLS),
    "NumberSubmitters": ("number_submitters", _NULLS),
    "Start": ("start", _NULLS),
    "Stop": ("stop", _NULLS),
}
_OTHER_COLUMNS = ("RS# (dbSNP)", "Assembly", "Chromosome", "PositionVCF",
                  "ReferenceAlleleVCF", "AlternateAlleleVCF")
_USED_COLUMNS = tuple(dict.fromkeys((*_TEXT_COLUMNS, *_INT_COLUMNS, *_OTHER_COLUMNS)))

_CONTIG_NULLS = frozenset({"", "na", "NA", "Un", "-"})
_ALLELE_NULLS = ("", "na", "-")
_RSID_NULLS = ("", "na", "-", "-1")
_INT_RE = r"^-?[0-9]{1,18}$"  # what a safe string->int64 cast accepts
_INT32_MAX = 2**31 - 1
_MAX_HEADER_BYTES = 1 << 20
# The CSV reader's block: it must hold the longest line (ClinVar lines reach tens of KB), and
# pyarrow keeps ~40 blocks in flight, so this also sets the reader's memory (~80 MB).
_BLOCK_BYTES = 2 << 20


def read_clinvar(path) -> pa.Table:
    """The whole file as one CLINVAR table (use iter_clinvar_batches for the real multi-GB file)."""
    return pa.Table.from_batches(list(iter_clinvar_batches(path)), schema=CLINVAR.schema)


def iter_clinvar_batches(path, *, batch_rows: int = 200_000) -> Iterator[pa.RecordBatch]:
    """Stream `path` as record batches of at most `batch_rows` rows with exactly CLINVAR.schema."""
    if batch_rows < 1:
        raise ConfigError(f"batch_rows must be a positive number of rows, not {batch_rows!r}")
    path = Path(path)
    compressed = _is_gzip(path)
    names = _read_header(path, compressed)
    _check_columns(path, names)

    bad_rows: list[tuple[int | None, int, str]] = []

    def on_invalid_row(row) -> str:
        # Record and skip; the generator raises right after the block with the line number.
        if not bad_rows:
            bad_rows.append((row.number, row.actual_columns, row.text))
        return "skip"

    present = [c for c in _USED_COLUMNS if c in names]
    read_opts = pacsv.ReadOptions(
        column_names=names, skip_rows=1, block_size=_BLOCK_BYTES,
        # Single-threaded so that invalid rows come with their line number; it costs little
        # here because the vectorised conversion below is where the time goes.
        use_threads=False,
    )
    parse_opts = pacsv.ParseOptions(
        delimiter="\t", quote_char=False, escape_char=False, newlines_in_values=False,
        ignore_empty_lines=False,  # a blank line must keep its line number (it becomes a row of '')
        invalid_row_handler=on_invalid_row,
    )
    convert_opts = pacsv.ConvertOptions(
        include_columns=present, column_types={c: pa.string() for c in present},
        strings_can_be_null=False, quoted_strings_can_be_null=False,
    )

    stream = pa.input_stream(str(path), compression="gzip" if compressed else None,
                             buffer_size=1 << 20)
    next_line = 2  # line number of the next data row
    blank_at: int | None = None  # a blank line seen; only more blank lines may follow it
    pending: list[pa.RecordBatch] = []  # converted blocks not yet yielded
    pending_rows = 0
    try:
        try:
            reader = pacsv.open_csv(stream, read_options=read_opts, parse_options=parse_opts,
                                    convert_options=convert_opts)
        except (pa.ArrowInvalid, OSError) as exc:
            raise _read_error(path, exc, next_line, bad_rows, names, compressed) from None
        while True:
            try:
                raw = reader.read_next_batch()
            except StopIteration:
                raw = None
            except (pa.ArrowInvalid, OSError) as exc:
                raise _read_error(path, exc, next_line, bad_rows, names, compressed) from None
            if bad_rows:
                _raise_bad_row(path, names, bad_rows[0], compressed)
            if raw is None:
                break
            n = raw.num_rows
            if n == 0:
                continue
            raw, blank = _trim_trailing_blank(path, raw, next_line)
            if blank_at is not None and raw.num_rows:
                raise InputError(path, "blank line inside the data", line=blank_at)
            if blank is not None and blank_at is None:
                blank_at = blank
            if raw.num_rows:
                # Blocks are small (the CSV reader keeps dozens of them in flight); they are
                # converted one by one, which is also cache friendly, and yielded in batch_rows.
                pending.append(_convert(path, raw, next_line))
                pending_rows += raw.num_rows
                while pending_rows >= batch_rows:
                    batch = _concat(pending)
                    head, rest = batch.slice(0, batch_rows), batch.slice(batch_rows)
                    # Drop the blocks before handing out the batch: memory holds one copy.
                    pending, pending_rows = ([rest], rest.num_rows) if rest.num_rows else ([], 0)
                    del batch
                    yield head
            next_line += n
        if pending_rows:
            yield _concat(pending)
    finally:
        stream.close()


# -- header ---------------------------------------------------------------------------------------

def _is_gzip(path: Path) -> bool:
    try:
        with open(path, "rb") as f:
            return f.read(2) == b"\x1f\x8b"
    except OSError as exc:
        raise InputError(path, f"cannot open: {exc.strerror or exc}") from None


def _read_header(path: Path, compressed: bool) -> list[str]:
    """Column names of line 1, `#` stripped from the first."""
    opener = gzip.open if compressed else open
    try:
        with opener(path, "rb") as f:
            first = f.readline(_MAX_HEADER_BYTES)
    except (OSError, EOFError) as exc:
        raise InputError(path, f"cannot read: {_one_line(exc)}") from None
    if not first:
        raise InputError(path, "not a ClinVar variant_summary file: the file is empty", line=1)
    try:
        text = first.decode("utf-8").lstrip("\ufeff").rstrip("\r\n")
    except UnicodeDecodeError:
        text = ""
    if not text.startswith("#AlleleID"):
        raise InputError(path, "not a ClinVar variant_summary file: first line does not start "
                               "with #AlleleID", line=1)
    return [h.strip() for h in text[1:].split("\t")]


def _check_columns(path: Path, names: list[str]) -> None:
    missing = [c for c in REQUIRED_COLUMNS if c not in names]
    if missing:
        raise InputError(path, f"missing required ClinVar columns: {', '.join(missing)} "
                               f"(header has {len(names)} columns)", line=1)
    seen: set[str] = set()
    for name in names:
        if name in seen:
            raise InputError(path, f"header repeats the column {name!r}", line=1)
        seen.add(name)


# -- errors ---------------------------------------------------------------------------------------

def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


def _read_error(path: Path, exc: BaseException, next_line: int, bad_rows, names, compressed):
    """An InputError for a failure inside pyarrow's reader (bad gzip, bad UTF-8, huge line)."""
    if bad_rows:
        _raise_bad_row(path, names, bad_rows[0], compressed)
    msg = _one_line(exc)
    if "columns" in msg:
        # pyarrow can fail on a short or long row without handing it to the row handler (seen
        # rarely, under load); a plain reading still names the line.
        number, found = _find_bad_row(path, len(names), compressed)
        if number is not None:
            return InputError(path, f"expected {len(names)} tab-separated fields, found {found}",
                              line=number)
    if "UTF8" in msg or "UTF-8" in msg:
        line = _find_bad_utf8(path, compressed)
        if line is not None:
            return InputError(path, "the line is not valid UTF-8 text", line=line)
    if "straddle" in msg:
        msg = f"a line is longer than the {_BLOCK_BYTES >> 20} MB read block"
    return InputError(path, f"cannot read ClinVar data at or after line {next_line}: {msg}")


def _find_bad_utf8(path: Path, compressed: bool) -> int | None:
    """Line number of the first line that is not UTF-8 (pyarrow only tells the block's row)."""
    opener = gzip.open if compressed else open
    try:
        with opener(path, "rb") as f:
            for lineno, line in enumerate(f, start=1):
                try:
                    line.decode("utf-8")
                except UnicodeDecodeError:
                    return lineno
    except (OSError, EOFError):
        pass
    return None


def _raise_bad_row(path: Path, names: list[str], bad: tuple[int | None, int, str],
                   compressed: bool) -> None:
    number, found, _text = bad
    if number is None:  # pyarrow could not tell: find it the slow way (error path only)
        number, found = _find_bad_row(path, len(names), compressed)
    raise InputError(path, f"expected {len(names)} tab-separated fields, found {found}",
                     line=number)


def _find_bad_row(path: Path, expected: int, compressed: bool) -> tuple[int | None, int]:
    opener = gzip.open if compressed else open
    try:
        with opener(path, "rb") as f:
            for lineno, line in enumerate(f, start=1):
                if lineno > 1 and line.rstrip(b"\r\n") and line.count(b"\t") + 1 != expected:
                    return lineno, line.count(b"\t") + 1
    except (OSError, EOFError):
        pass
    return None, -1


def _first_true(mask: pa.Array) -> int:
    return int(np.flatnonzero(mask.to_numpy(zero_copy_only=False))[0])


def _trim_trailing_blank(path: Path, raw: pa.RecordBatch, first_line: int):
    """Drop blank lines at the end of the block; a blank line followed by data is an error.

    With ignore_empty_lines=False pyarrow turns a blank line into a row of empty strings, which
    keeps every later line number right. Only trailing ones (the file's end) are forgiven.
    """
    empty = pc.equal(raw.column("AlleleID"), "")
    if not pc.any(empty).as_py():  # the common case, one cheap test per block
        return raw, None
    for col in raw.columns:
        empty = pc.and_(empty, pc.equal(col, ""))
    if not pc.any(empty).as_py():  # an empty AlleleID on a non-blank line: _convert names it
        return raw, None
    idx = _first_true(empty)
    if not pc.all(empty.slice(idx)).as_py():
        raise InputError(path, "blank line inside the data", line=first_line + idx)
    return raw.slice(0, idx), first_line + idx


# -- conversion -----------------------------------------------------------------------------------

def _concat(batches: list[pa.RecordBatch]) -> pa.RecordBatch:
    if len(batches) == 1:
        return batches[0]
    if hasattr(pa, "concat_batches"):  # pyarrow >= 19
        return pa.concat_batches(batches)
    table = pa.Table.from_batches(batches).combine_chunks()
    return table.to_batches()[0]


def _null_if(arr: pa.Array, tokens) -> pa.Array:
    if not tokens:
        return arr
    return pc.if_else(pc.is_in(arr, value_set=pa.array(tokens, pa.string())),
                      pa.scalar(None, pa.string()), arr)


def _to_int(path, arr: pa.Array, column: str, first_line: int, *, int32=False) -> pa.Array:
    """Strings (nulls already applied) to int64/int32; a bad value names column, value and line."""
    try:
        out = pc.cast(arr, pa.int64())
    except pa.ArrowInvalid:
        ok = pc.fill_null(pc.match_substring_regex(arr, _INT_RE), True)
        bad = pc.invert(ok)
        if not pc.any(bad).as_py():  # cannot happen with the regex above; keep the message useful
            raise InputError(path, f"{column} has a value that is not an integer") from None
        idx = _first_true(bad)
        value = arr[idx].as_py()
        what = "is empty" if value == "" else f"is not an integer: {value!r}"
        raise InputError(path, f"{column} {what}", line=first_line + idx) from None
    if int32:
        too_big = pc.fill_null(pc.greater(pc.abs(out), _INT32_MAX), False)
        if pc.any(too_big).as_py():
            idx = _first_true(too_big)
            raise InputError(path, f"{column} is out of range: {out[idx].as_py()}",
                             line=first_line + idx)
        out = pc.cast(out, pa.int32())
    return out


def _normalised_contigs(chrom: pa.Array) -> pa.Array:
    # Few distinct values per block: normalise the dictionary with the one shared function.
    enc = pc.dictionary_encode(chrom)
    values = [None if v in _CONTIG_NULLS or not v.strip() else normalize_contig(v)
              for v in enc.dictionary.to_pylist()]
    return pc.take(pa.array(values, pa.string()), enc.indices)


def _convert(path: Path, raw: pa.RecordBatch, first_line: int) -> pa.RecordBatch:
    n = raw.num_rows
    get = {name: raw.column(name) for name in raw.schema.names}
    out: dict[str, pa.Array] = {}

    for col, field in _TEXT_COLUMNS.items():
        out[field] = _null_if(get[col], ("", "-")) if col in get else pa.nulls(n, pa.string())

    for col, (field, nulls) in _INT_COLUMNS.items():
        typ = CLINVAR.schema.field(field).type
        if col not in get:
            out[field] = pa.nulls(n, typ)
            continue
        out[field] = _to_int(path, _null_if(get[col], nulls), col, first_line,
                             int32=typ == pa.int32())

    assembly = get["Assembly"]
    empty = pc.equal(assembly, "")
    if pc.any(empty).as_py():
        raise InputError(path, "Assembly is empty", line=first_line + _first_true(empty))
    out["assembly"] = assembly

    contig = _normalised_contigs(get["Chromosome"])
    out["contig"] = contig

    if "PositionVCF" in get:
        pvcf = _to_int(path, _null_if(get["PositionVCF"], _NULLS), "PositionVCF", first_line)
        pvcf = pc.if_else(pc.greater(pvcf, 0), pvcf, pa.scalar(None, pa.int64()))
    else:
        pvcf = pa.nulls(n, pa.int64())
    start = out["start"]
    start_pos = pc.if_else(pc.greater(start, 0), start, pa.scalar(None, pa.int64()))
    pos = pc.coalesce(pvcf, start_pos)
    too_big = pc.fill_null(pc.greater(pos, _INT32_MAX), False)
    if pc.any(too_big).as_py():
        idx = _first_true(too_big)
        raise InputError(path, f"position out of range: {pos[idx].as_py()}", line=first_line + idx)
    out["pos"] = pc.cast(pos, pa.int32())

    for col, field in (("ReferenceAlleleVCF", "ref"), ("AlternateAlleleVCF", "alt")):
        out[field] = _null_if(get[col], _ALLELE_NULLS) if col in get else pa.nulls(n, pa.string())

    # The vectorised form of coords.cpra_key (contig-pos-ref-alt): any null part gives null, so
    # the key exists only when contig, PositionVCF, ref and alt are all valid.
    out["cpra"] = pc.binary_join_element_wise(
        contig, pc.cast(pvcf, pa.string()), out["ref"], out["alt"], "-")

    rs = _to_int(path, _null_if(get["RS# (dbSNP)"], _RSID_NULLS), "RS# (dbSNP)", first_line)
    rs = pc.if_else(pc.greater(rs, 0), rs, pa.scalar(None, pa.int64()))
    out["rsid"] = pc.binary_join_element_wise("rs", pc.cast(rs, pa.string()), "")

    out["source_line"] = pa.array(np.arange(first_line, first_line + n, dtype=np.int64))

    schema = CLINVAR.schema
    return pa.RecordBatch.from_arrays([out[f.name] for f in schema], schema=schema)
