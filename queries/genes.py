"""Gene symbol -> Region: from a user's gene file (BED, GTF, GFF3) or from the lake's ClinVar records.

Rules (what `gene_region` answers, documented because users will ask):

- Symbols match case-insensitively and exactly (`comt` finds `COMT`; `COM` finds nothing).
- A gene file is chosen by its extension: `.bed`, `.gtf`, `.gff`, `.gff3`, each optionally `.gz`
  (gzip or BGZF; the magic bytes decide whether to inflate).
  - BED: `chrom start end [name ...]`, 0-based half-open; the name column is the symbol. The
    region is 1-based inclusive: `start + 1 .. end`. `track`/`browser`/`#` lines are skipped.
  - GTF/GFF3: 1-based inclusive already. Lines whose feature is `gene` (or `*_gene`, as Ensembl's
    `ncRNA_gene`) are matched on `gene_name`/`Name`/`gene` and on `gene_id`/`ID` (with or
    without a `gene:` prefix or `.N` version). A file with no gene lines at all (some GTFs list
    only transcripts and exons) is matched on the features that carry the gene's name instead.
  - Several matching lines on one contig give their span (min start .. max end).
- ClinVar (no file given): the span min(start) .. max(stop) of the `assembly`'s records whose
  GeneSymbol is the symbol. Single-gene records are preferred: ClinVar writes `A;B` for records
  touching several genes, mostly large copy-number variants spanning far beyond either gene, so
  those are used only when a symbol has no single-gene record at all (then: records where the
  symbol is one of the `;`-separated parts).
- A symbol found on several contigs (PAR genes, a mis-mapped record) takes the contig with the
  most matching records (ties: the contig that sorts first); its span is taken on that contig only.
- Unknown symbol -> QueryError naming where it was looked for, with close symbols (difflib).
  No ClinVar in the lake and no gene file -> QueryError saying to ingest ClinVar or pass a file.
"""

from __future__ import annotations

import difflib
import gzip
import re
from collections import defaultdict
from pathlib import Path

from genolake.lake.coords import normalize_contig
from genolake.lake.errors import InputError, QueryError, QueryNotFound

from .regions import Region
from .sql import lit, run

__all__ = ["gene_region", "gene_regions", "read_gene_file", "GENE_FILE_SUFFIXES"]

GENE_FILE_SUFFIXES = (".bed", ".gtf", ".gff", ".gff3")
_GFF_NAME_KEYS = ("gene_name", "Name", "gene")
_GFF_ID_KEYS = ("gene_id", "ID")
_GTF_ATTR = re.compile(r'\s*([^\s;]+)\s+"?([^";]*)"?\s*')


def gene_region(engine, symbol: str, *, assembly: str = "GRCh37", genes_file=None) -> Region:
    """The 1-based inclusive Region of gene `symbol` (see the module docstring for the rules)."""
    symbol = (symbol or "").strip()
    if not symbol:
        raise QueryError("no gene symbol given")
    if genes_file is not None:
        return _from_file(Path(genes_file), symbol)
    return _from_clinvar(engine, symbol, assembly)


# --------------------------------------------------------------------------------- ClinVar


def _sql(engine, query: str):
    return run(engine, query)


def _from_clinvar(engine, symbol: str, assembly: str) -> Region:
    if "clinvar" not in engine.bindings():
        raise QueryError(f"cannot place gene '{symbol}': no ClinVar in the lake; ingest ClinVar "
                         "(genolake ingest clinvar variant_summary.txt.gz) or pass a gene file "
                         "(--genes FILE: BED, GTF or GFF3)")
    want = symbol.upper()
    # coarse filter in SQL (substring), exact per-part match in Python: few groups come back
    rows = _sql(engine, f"""
        SELECT gene_symbol, contig, count(*) AS n, min(start) AS lo, max(stop) AS hi
        FROM clinvar
        WHERE assembly = {lit(assembly)} AND gene_symbol IS NOT NULL AND contig IS NOT NULL
          AND start IS NOT NULL AND stop IS NOT NULL AND start > 0 AND stop >= start
          AND strpos(upper(gene_symbol), {lit(want)}) > 0
        GROUP BY gene_symbol, contig""").to_pylist()
    single = [r for r in rows if r["gene_symbol"].strip().upper() == want]
    multi = [r for r in rows if r not in single
             and want in (p.strip().upper() for p in r["gene_symbol"].split(";"))]
    chosen = single or multi
    if not chosen:
        raise QueryNotFound(f"unknown gene '{symbol}' in ClinVar {assembly} records"
                         + _suggest(want, _clinvar_symbols(engine, assembly), assembly=assembly,
                                    engine=engine))
    by_contig: dict[str, list] = defaultdict(lambda: [0, None, None])
    for r in chosen:
        acc = by_contig[r["contig"]]
        acc[0] += r["n"]
        acc[1] = r["lo"] if acc[1] is None else min(acc[1], r["lo"])
        acc[2] = r["hi"] if acc[2] is None else max(acc[2], r["hi"])
    contig = min(by_contig, key=lambda c: (-by_contig[c][0], _contig_order(c)))
    _, lo, hi = by_contig[contig]
    return Region(contig, int(lo), int(hi))


def _clinvar_symbols(engine, assembly: str) -> set[str]:
    rows = _sql(engine, f"""SELECT DISTINCT gene_symbol FROM clinvar
                            WHERE assembly = {lit(assembly)} AND gene_symbol IS NOT NULL""")
    out = set()
    for s in rows.column("gene_symbol").to_pylist():
        out.update(p.strip() for p in s.split(";") if p.strip())
    return out


def _suggest(want: str, symbols, *, assembly=None, engine=None) -> str:
    by_upper = {s.upper(): s for s in symbols}
    close = difflib.get_close_matches(want, list(by_upper), n=3, cutoff=0.6)
    hint = f"; did you mean {', '.join(by_upper[c] for c in close)}?" if close else ""
    if not symbols and engine is not None:
        have = _sql(engine, "SELECT DISTINCT assembly FROM clinvar ORDER BY assembly").column(0).to_pylist()
        hint = (f"; the lake has no ClinVar {assembly} records (assemblies: {', '.join(have) or 'none'})"
                " - ingest ClinVar for it or pass a gene file (--genes FILE)")
    return hint


def _contig_order(contig: str):
    return (0, int(contig), "") if contig.isdigit() else (1, 0, contig)


# ------------------------------------------------------------------------------ gene files


def _kind(path: Path) -> str:
    name = path.name.lower().removesuffix(".gz")
    for suffix in GENE_FILE_SUFFIXES:
        if name.endswith(suffix):
            return "bed" if suffix == ".bed" else "gff"
    raise QueryError(f"{path}: unknown gene file type; use one of "
                     f"{', '.join(GENE_FILE_SUFFIXES)} (optionally .gz)")


def _open_text(path: Path):
    try:
        with open(path, "rb") as fh:
            magic = fh.read(2)
    except FileNotFoundError:
        raise QueryError(f"gene file not found: {path}") from None
    except OSError as err:
        raise QueryError(f"cannot read gene file {path}: {err.strerror}") from None
    if magic == b"\x1f\x8b":
        return gzip.open(path, "rt", encoding="utf-8", errors="replace")
    return open(path, "rt", encoding="utf-8", errors="replace")


def read_gene_file(path) -> dict[str, list[tuple[str, int, int, str]]]:
    """Every gene in a BED/GTF/GFF3 file: upper-cased key -> [(contig, start, end, symbol as
    written)], 1-based inclusive. GTF/GFF keys are the gene's names and ids (see module doc)."""
    path = Path(path)
    kind = _kind(path)
    genes: dict[str, list] = defaultdict(list)
    fallback: dict[str, list] = defaultdict(list)  # GTF/GFF features other than genes
    with _open_text(path) as fh:
        for lineno, line in enumerate(fh, start=1):
            line = line.rstrip("\r\n")
            if not line.strip() or line.startswith(("#", "track", "browser")):
                continue
            if kind == "bed":
                _bed_line(path, lineno, line, genes)
            else:
                _gff_line(path, lineno, line, genes, fallback)
    return dict(genes) if genes else dict(fallback)


def _int(path, lineno, value, what) -> int:
    try:
        return int(value)
    except ValueError:
        raise InputError(path, f"{what} is not an integer: {value!r}", lineno) from None


def _bed_line(path, lineno, line, genes) -> None:
    cols = line.split("\t") if "\t" in line else line.split()
    if len(cols) < 4:
        raise InputError(path, f"BED line has {len(cols)} columns; a gene file needs chrom, start, end, "
                         "name", lineno)
    start0 = _int(path, lineno, cols[1], "start")
    end = _int(path, lineno, cols[2], "end")
    if start0 < 0 or end <= start0:
        raise InputError(path, f"bad interval {start0}-{end} (BED is 0-based half-open: start < end)", lineno)
    name = cols[3].strip()
    genes[name.upper()].append((normalize_contig(cols[0]), start0 + 1, end, name))


def _attributes(text: str) -> dict[str, str]:
    attrs: dict[str, str] = {}
    first = text.split(";", 1)[0].strip()
    if re.match(r'[^\s="]+=', first):  # GFF3: key=value;key=value
        for part in text.split(";"):
            if "=" in part:
                k, v = part.split("=", 1)
                attrs.setdefault(k.strip(), v.strip())
        return attrs
    for part in text.split(";"):  # GTF: key "value"; key "value";
        m = _GTF_ATTR.fullmatch(part) if part.strip() else None
        if m:
            attrs.setdefault(m.group(1), m.group(2))
    return attrs


def _gff_line(path, lineno, line, genes, fallback) -> None:
    cols = line.split("\t")
    if len(cols) < 9:
        raise InputError(path, f"GTF/GFF line has {len(cols)} tab-separated columns, expected 9", lineno)
    start = _int(path, lineno, cols[3], "start")
    end = _int(path, lineno, cols[4], "end")
    if start < 1 or end < start:
        raise InputError(path, f"bad interval {start}-{end} (GTF/GFF is 1-based inclusive)", lineno)
    attrs = _attributes(cols[8])
    names = [attrs[k] for k in _GFF_NAME_KEYS if attrs.get(k)]
    ids = []
    for k in _GFF_ID_KEYS:
        v = attrs.get(k)
        if v:
            v = v.removeprefix("gene:")
            ids += [v, v.split(".")[0]] if re.fullmatch(r"[A-Za-z]+\d+\.\d+", v) else [v]
    feature = cols[2]
    is_gene = feature == "gene" or feature.endswith("_gene")
    if not is_gene and not names:
        return
    target = genes if is_gene else fallback
    shown = names[0] if names else ids[0] if ids else None
    if shown is None:
        return
    contig = normalize_contig(cols[0])
    for key in dict.fromkeys(k.upper() for k in (names + ids if is_gene else names)):
        target[key].append((contig, start, end, shown))


def gene_regions(path) -> dict[str, Region]:
    """Every gene of a BED/GTF/GFF3 file: symbol as written -> its Region (the rules of
    `gene_region`: the contig with most lines, their span there). Sorted by contig, start, symbol."""
    by_symbol: dict[str, list] = defaultdict(list)
    for hits in read_gene_file(path).values():
        for hit in hits:
            by_symbol[hit[3]].append(hit)
    out = {}
    for symbol, hits in by_symbol.items():
        by_contig: dict[str, set] = defaultdict(set)
        for contig, start, end, _ in hits:
            by_contig[contig].add((start, end))
        contig = min(by_contig, key=lambda c: (-len(by_contig[c]), _contig_order(c)))
        spans = by_contig[contig]
        out[symbol] = Region(contig, min(s for s, _ in spans), max(e for _, e in spans))
    return dict(sorted(out.items(), key=lambda kv: (_contig_order(kv[1].contig), kv[1].start, kv[0])))


def _from_file(path: Path, symbol: str) -> Region:
    genes = read_gene_file(path)
    hits = genes.get(symbol.upper())
    if not hits:
        shown = {h[3] for hs in genes.values() for h in hs}
        raise QueryNotFound(f"unknown gene '{symbol}' in {path}" + _suggest(symbol.upper(), shown))
    by_contig: dict[str, list] = defaultdict(list)
    for contig, start, end, _ in hits:
        by_contig[contig].append((start, end))
    contig = min(by_contig, key=lambda c: (-len(by_contig[c]), _contig_order(c)))
    spans = by_contig[contig]
    return Region(contig, min(s for s, _ in spans), max(e for _, e in spans))
