"""ClinVar variant_summary reader: checked against a plain gzip + split('\\t') parse of the real excerpt,
the 31- and 43-column layouts derived from it by column name, and one test per kind of bad input."""

from __future__ import annotations

import gzip
from collections import Counter
from pathlib import Path

import pyarrow as pa
import pytest

from genolake.etl.sources.clinvar import (
    LAYOUT_31, LAYOUT_34, LAYOUT_43, REQUIRED_COLUMNS, iter_clinvar_batches, read_clinvar,
)
from genolake.lake.coords import cpra_key, normalize_contig
from genolake.lake.errors import InputError
from genolake.lake.schemas import CLINVAR

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"
EXCERPT = SHARED / "clinvar" / "variant_summary_excerpt.txt.gz"
NEW_43 = LAYOUT_43[len(LAYOUT_34):]


def plain_parse(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    """The oracle: no pyarrow, just lines and tabs."""
    opener = gzip.open if path.read_bytes()[:2] == b"\x1f\x8b" else open
    with opener(path, "rt", encoding="utf-8") as f:
        lines = f.read().splitlines()
    header = lines[0].lstrip("#").split("\t")
    return header, [dict(zip(header, line.split("\t"), strict=True)) for line in lines[1:]]


def write_tsv(path: Path, header: list[str], rows: list[dict[str, str]], *, gz=False) -> Path:
    text = "#" + "\t".join(header) + "\n" + "".join(
        "\t".join(row[h] for h in header) + "\n" for row in rows)
    if gz:
        path.write_bytes(gzip.compress(text.encode()))
    else:
        path.write_text(text)
    return path


def as_int(v: str) -> int | None:
    try:
        return int(v)
    except ValueError:
        return None


def expected(row: dict[str, str]) -> dict:
    """What the reader must give for one row, computed independently of it."""
    pvcf = as_int(row.get("PositionVCF", "na"))
    pvcf = pvcf if pvcf is not None and pvcf > 0 else None
    start = as_int(row["Start"])
    ref = row.get("ReferenceAlleleVCF", "na")
    alt = row.get("AlternateAlleleVCF", "na")
    ref = None if ref in ("na", "-", "") else ref
    alt = None if alt in ("na", "-", "") else alt
    chrom = row["Chromosome"]
    contig = None if chrom in ("na", "Un", "") else normalize_contig(chrom)
    rs = row["RS# (dbSNP)"]
    ok = contig is not None and pvcf is not None and ref is not None and alt is not None
    return {
        "assembly": row["Assembly"],
        "contig": contig,
        "pos": pvcf if pvcf is not None else (start if start and start > 0 else None),
        "ref": ref,
        "alt": alt,
        "cpra": cpra_key(contig, pvcf, ref, alt) if ok else None,
        "rsid": None if rs in ("-1", "na", "") else "rs" + rs,
        "allele_id": int(row["AlleleID"]),
        "variation_id": int(row["VariationID"]),
        "start": start,
        "stop": as_int(row["Stop"]),
    }


@pytest.fixture(scope="module")
def excerpt():
    return plain_parse(EXCERPT)


def test_excerpt_matches_plain_parse(excerpt):
    header, rows = excerpt
    assert len(header) == 34 and tuple(header) == LAYOUT_34
    table = read_clinvar(EXCERPT)
    assert table.schema.equals(CLINVAR.schema, check_metadata=True)
    assert table.num_rows == len(rows) == 12
    got = table.to_pylist()
    for i, (row, out) in enumerate(zip(rows, got)):
        want = expected(row)
        assert {k: out[k] for k in want} == want, f"row {i}"
        assert out["source_line"] == i + 2  # header is line 1
    assert Counter(table.column("assembly").to_pylist()) == Counter(r["Assembly"] for r in rows)
    assert Counter(table.column("assembly").to_pylist()) == {"GRCh37": 6, "GRCh38": 6}
    # the excerpt's own edge cases: RS# = -1 and 'na' alleles with PositionVCF = -1
    assert sum(r is None for r in table.column("rsid").to_pylist()) == 2
    assert sum(r is None for r in table.column("cpra").to_pylist()) == 2
    assert got[-1]["pos"] == int(rows[-1]["Start"])


def test_excerpt_other_columns(excerpt):
    _, rows = excerpt
    first = read_clinvar(EXCERPT).to_pylist()[0]
    r = rows[0]
    assert first["type"] == r["Type"] and first["name"] == r["Name"]
    assert first["gene_id"] == int(r["GeneID"]) and first["gene_symbol"] == r["GeneSymbol"]
    assert first["hgnc_id"] == r["HGNC_ID"]
    assert first["clinical_significance"] == r["ClinicalSignificance"]
    assert first["clin_sig_simple"] == int(r["ClinSigSimple"])
    assert first["last_evaluated"] == r["LastEvaluated"]
    assert first["phenotype_ids"] == r["PhenotypeIDS"]
    assert first["phenotype_list"] == r["PhenotypeList"]
    assert first["origin"] == r["Origin"] and first["origin_simple"] == r["OriginSimple"]
    assert first["review_status"] == r["ReviewStatus"]
    assert first["number_submitters"] == int(r["NumberSubmitters"])
    assert first["chromosome_accession"] == r["ChromosomeAccession"]


def test_batches_have_schema_and_size(excerpt):
    batches = list(iter_clinvar_batches(EXCERPT, batch_rows=5))
    assert [b.num_rows for b in batches] == [5, 5, 2]
    for b in batches:
        assert b.schema.equals(CLINVAR.schema, check_metadata=True)
    lines = pa.Table.from_batches(batches).column("source_line").to_pylist()
    assert lines == list(range(2, 14))


def test_gzip_detected_by_magic_not_name(tmp_path, excerpt):
    header, rows = excerpt
    plain_named_gz = write_tsv(tmp_path / "variant_summary.txt.gz", header, rows, gz=False)
    gz_named_txt = write_tsv(tmp_path / "variant_summary.txt", header, rows, gz=True)
    want = read_clinvar(EXCERPT)
    assert read_clinvar(plain_named_gz).equals(want)
    assert read_clinvar(gz_named_txt).equals(want)


def test_31_column_layout(tmp_path, excerpt):
    header, rows = excerpt
    old = [h for h in header if h not in ("PositionVCF", "ReferenceAlleleVCF", "AlternateAlleleVCF")]
    assert tuple(old) == LAYOUT_31 and len(old) == 31
    t = read_clinvar(write_tsv(tmp_path / "v31.txt", old, rows))
    assert t.schema.equals(CLINVAR.schema, check_metadata=True)
    assert t.num_rows == len(rows)
    assert t.column("ref").null_count == t.column("alt").null_count == len(rows)
    assert t.column("cpra").null_count == len(rows)  # rows are kept, without a CPRA
    assert t.column("pos").to_pylist() == [int(r["Start"]) for r in rows]
    assert t.column("rsid").to_pylist() == read_clinvar(EXCERPT).column("rsid").to_pylist()


def test_43_column_layout(tmp_path, excerpt):
    header, rows = excerpt
    new = list(header) + list(NEW_43)
    assert tuple(new) == LAYOUT_43 and len(new) == 43
    rows43 = [{**r, **{h: "-" for h in NEW_43}} for r in rows]
    for r in rows43:
        r["SCVsForAggregateGermlineClassification"] = "SCV000020155|SCV000883234"
    t = read_clinvar(write_tsv(tmp_path / "v43.txt.gz", new, rows43, gz=True))
    assert t.equals(read_clinvar(EXCERPT))


def test_columns_found_by_name_not_position(tmp_path, excerpt):
    header, rows = excerpt
    shuffled = ["AlleleID"] + list(reversed(LAYOUT_43[1:]))  # the header must open with #AlleleID
    rows43 = [{**r, **{h: "-" for h in NEW_43}} for r in rows]
    t = read_clinvar(write_tsv(tmp_path / "reordered.txt", shuffled, rows43))
    assert t.equals(read_clinvar(EXCERPT))


def test_null_conventions(tmp_path, excerpt):
    header, rows = excerpt
    rows = [dict(r) for r in rows[:4]]
    rows[0].update(Chromosome="na", GeneID="-1", ClinSigSimple="-1", HGNC_ID="-")
    rows[1].update(Chromosome="Un", PositionVCF="-1", Start="-1")
    rows[2].update(Chromosome="MT", ReferenceAlleleVCF="-")
    rows[3].update(**{"RS# (dbSNP)": "na", "LastEvaluated": "-"})
    t = read_clinvar(write_tsv(tmp_path / "nulls.txt", header, rows)).to_pylist()
    assert t[0]["contig"] is None and t[0]["cpra"] is None and t[0]["pos"] == int(rows[0]["PositionVCF"])
    assert t[0]["gene_id"] is None and t[0]["clin_sig_simple"] == -1 and t[0]["hgnc_id"] is None
    assert t[1]["contig"] is None and t[1]["pos"] is None and t[1]["start"] == -1
    assert t[2]["contig"] == "MT" and t[2]["ref"] is None and t[2]["cpra"] is None
    assert t[3]["rsid"] is None and t[3]["last_evaluated"] is None
    assert t[3]["cpra"] == cpra_key("7", int(rows[3]["PositionVCF"]), rows[3]["ReferenceAlleleVCF"],
                                    rows[3]["AlternateAlleleVCF"])


def test_trailing_blank_lines_are_ignored(tmp_path, excerpt):
    header, rows = excerpt
    p = write_tsv(tmp_path / "blank.txt", header, rows)
    p.write_text(p.read_text() + "\n\n")
    assert read_clinvar(p).num_rows == len(rows)


def test_header_only_gives_empty_table(tmp_path, excerpt):
    header, _ = excerpt
    t = read_clinvar(write_tsv(tmp_path / "header.txt", header, []))
    assert t.num_rows == 0 and t.schema.equals(CLINVAR.schema)


# -- many blocks: line numbers stay right past the reader's block boundaries ----------------------

def _big_rows(rows, n):
    out = []
    for i in range(n):
        r = dict(rows[i % len(rows)])
        r["AlleleID"] = str(100000 + i)
        out.append(r)
    return out


@pytest.fixture(scope="module")
def big(tmp_path_factory, excerpt):
    header, rows = excerpt
    big_rows = _big_rows(rows, 30_000)  # ~15 MB: several of the reader's blocks
    path = write_tsv(tmp_path_factory.mktemp("big") / "big.txt", header, big_rows)
    return header, big_rows, path


def test_many_blocks(big):
    header, rows, path = big
    batches = list(iter_clinvar_batches(path, batch_rows=7_000))
    assert [b.num_rows for b in batches] == [7_000] * 4 + [2_000]
    t = pa.Table.from_batches(batches)
    assert t.column("source_line").to_pylist() == list(range(2, 30_002))
    assert t.column("allele_id").to_pylist() == [int(r["AlleleID"]) for r in rows]


def _corrupt(path: Path, tmp: Path, lineno: int, transform) -> Path:
    lines = path.read_text().split("\n")
    lines[lineno - 1] = transform(lines[lineno - 1])
    out = tmp / f"bad_{lineno}.txt"
    out.write_text("\n".join(lines))
    return out


def _raises(path: Path) -> InputError:
    with pytest.raises(InputError) as info:
        for _ in iter_clinvar_batches(path):
            pass
    err = info.value
    assert err.path == str(path) and str(err).startswith(f"{path}:")
    return err


# -- bad input ------------------------------------------------------------------------------------

def test_missing_required_columns(tmp_path, excerpt):
    header, rows = excerpt
    cut = [h for h in header if h not in ("Assembly", "Stop")]
    err = _raises(write_tsv(tmp_path / "cut.txt", cut, rows))
    assert err.line == 1
    assert err.problem == "missing required ClinVar columns: Assembly, Stop (header has 32 columns)"
    assert set(REQUIRED_COLUMNS) <= set(LAYOUT_31)


def test_wrong_field_count(tmp_path, big):
    _, _, path = big
    bad = _corrupt(path, tmp_path, 25_000, lambda line: "\t".join(line.split("\t")[:12]))
    err = _raises(bad)
    assert err.line == 25_000
    assert err.problem == "expected 34 tab-separated fields, found 12"
    too_many = _corrupt(path, tmp_path, 57, lambda line: line + "\textra")
    err = _raises(too_many)
    assert err.line == 57 and err.problem == "expected 34 tab-separated fields, found 35"


def test_wrong_field_count_gz(tmp_path, excerpt):
    header, rows = excerpt
    p = write_tsv(tmp_path / "v.txt", header, rows)
    lines = p.read_text().split("\n")
    lines[5] = "\t".join(lines[5].split("\t")[:20])
    gz = tmp_path / "v.gz"
    gz.write_bytes(gzip.compress("\n".join(lines).encode()))
    err = _raises(gz)
    assert err.line == 6 and err.problem == "expected 34 tab-separated fields, found 20"


def test_wrong_field_count_without_row_handler(tmp_path, excerpt, monkeypatch):
    """pyarrow may raise on a bad row without calling the row handler: the line is still named."""
    import genolake.etl.sources.clinvar as clinvar

    header, rows = excerpt
    p = write_tsv(tmp_path / "v.txt", header, rows)
    lines = p.read_text().split("\n")
    lines[7] = lines[7] + "\textra"
    p.write_text("\n".join(lines))

    class FailingReader:
        def read_next_batch(self):
            raise pa.ArrowInvalid("CSV parse error: Expected 34 columns, got 35: ...")

    monkeypatch.setattr(clinvar.pacsv, "open_csv", lambda *a, **k: FailingReader())
    err = _raises(p)
    assert err.line == 8 and err.problem == "expected 34 tab-separated fields, found 35"


@pytest.mark.parametrize("column", ["Start", "Stop", "AlleleID", "VariationID", "PositionVCF"])
def test_non_integer(tmp_path, big, column):
    header, _, path = big
    i = header.index(column)

    def put(line):
        f = line.split("\t")
        f[i] = "12x4"
        return "\t".join(f)

    err = _raises(_corrupt(path, tmp_path, 21_234, put))
    assert err.line == 21_234
    assert err.problem == f"{column} is not an integer: '12x4'"


def test_blank_line_inside_data(tmp_path, excerpt):
    header, rows = excerpt
    p = write_tsv(tmp_path / "v.txt", header, rows)
    lines = p.read_text().split("\n")
    lines.insert(4, "")  # becomes line 5
    p.write_text("\n".join(lines))
    err = _raises(p)
    assert err.line == 5 and err.problem == "blank line inside the data"


def test_invalid_utf8(tmp_path, big):
    _, _, path = big
    lines = path.read_bytes().split(b"\n")
    lines[12_344] = lines[12_344].replace(b"Pathogenic", b"Path\xffogenic", 1)
    p = tmp_path / "latin.txt"
    p.write_bytes(b"\n".join(lines))
    err = _raises(p)
    assert err.line == 12_345 and err.problem == "the line is not valid UTF-8 text"


def test_non_integer_rsid(tmp_path, excerpt):
    header, rows = excerpt
    rows = [dict(r) for r in rows]
    rows[2]["RS# (dbSNP)"] = "rs123"
    err = _raises(write_tsv(tmp_path / "rs.txt", header, rows))
    assert err.line == 4 and err.problem == "RS# (dbSNP) is not an integer: 'rs123'"


def test_not_clinvar(tmp_path):
    p = tmp_path / "panel.txt"
    p.write_text("sample\tpop\nHG1\tGBR\n")
    err = _raises(p)
    assert err.line == 1
    assert err.problem == ("not a ClinVar variant_summary file: first line does not start "
                           "with #AlleleID")
    vcf = SHARED / "vcf" / "sample.vcf"
    if vcf.exists():
        assert _raises(vcf).line == 1


def test_empty_file(tmp_path):
    p = tmp_path / "empty.txt"
    p.write_bytes(b"")
    err = _raises(p)
    assert err.line == 1 and "not a ClinVar variant_summary file" in err.problem
    gz = tmp_path / "empty.gz"
    gz.write_bytes(gzip.compress(b""))
    assert _raises(gz).line == 1


def test_truncated_gzip(tmp_path, big):
    _, _, path = big
    data = gzip.compress(path.read_bytes())
    p = tmp_path / "truncated.txt.gz"
    p.write_bytes(data[: len(data) // 2])
    err = _raises(p)
    assert "cannot read ClinVar data" in err.problem


def test_missing_file(tmp_path):
    err = _raises(tmp_path / "nope.txt")
    assert "cannot open" in err.problem
