"""The spark engine's ClinVar and panel readers (etl/engines/spark_tables.py) give exactly what the
local readers give: the same rows and values, the same line numbers, the same error messages."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

pytest.importorskip("pyspark")
pytest.importorskip("hail")

from genolake.etl.engines.base import ClinvarJob, SilentProgress  # noqa: E402
from genolake.etl.engines.local_engine import LocalEngine  # noqa: E402
from genolake.etl.sources.panel import read_panel  # noqa: E402
from genolake.lake.errors import InputError  # noqa: E402
from genolake.lake.schemas import CLINVAR  # noqa: E402

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"
EXCERPT = SHARED / "clinvar" / "variant_summary_excerpt.txt.gz"
PANEL = SHARED / "panel" / "integrated_call_samples_v3.20130502.ALL.panel"


@pytest.fixture(scope="session")
def spark():
    from genolake.lake.spark_session import get_session

    return get_session()


_Quiet = SilentProgress


def _table(root: Path, files) -> pa.Table:
    parts = []
    for f in files:
        t = pq.read_table(root / f.rel_path)
        t = t.append_column("assembly", pa.array([f.partition_values["assembly"]] * t.num_rows, pa.string()))
        assert t.schema.names[:-1] == CLINVAR.data_columns
        parts.append(t.select(CLINVAR.schema.names))
    t = pa.concat_tables(parts)
    for field in CLINVAR.schema:  # types as written, not cast
        assert t.schema.field(field.name).type == field.type, field.name
    return t.sort_by([(n, "ascending") for n in t.schema.names])


def _convert(engine: str, spark, path: Path, root: Path):
    job = ClinvarJob(path=path, source=path, run_id=f"run{engine}", table_root=root / engine)
    if engine == "local":
        return LocalEngine().convert_clinvar(job, _Quiet())
    from genolake.etl.engines.spark_tables import clinvar_files

    return clinvar_files(spark, job, _Quiet())


def _no_fallback(*args, **kwargs):
    raise AssertionError("the spark reader fell back to the local reader on a good file")


def _same_clinvar(spark, path: Path, tmp_path: Path):
    from genolake.etl.sources import clinvar as cv

    a = _convert("local", spark, path, tmp_path)
    with pytest.MonkeyPatch.context() as mp:  # a good file never needs the local reader
        mp.setattr(cv, "iter_clinvar_batches", _no_fallback)
        b = _convert("spark", spark, path, tmp_path)
    assert b.rows == a.rows
    ta, tb = _table(tmp_path / "local", a.files["clinvar"]), _table(tmp_path / "spark", b.files["clinvar"])
    assert ta.num_rows == tb.num_rows == a.rows["clinvar"]
    for name in CLINVAR.schema.names:
        assert ta[name].to_pylist() == tb[name].to_pylist(), name
    assert ta.equals(tb)
    for f in b.files["clinvar"]:  # sorted by contig, pos inside each file; named by the run
        assert Path(f.rel_path).name.startswith("part-runspark-")
        t = pq.read_table(tmp_path / "spark" / f.rel_path, columns=["contig", "pos"])
        assert t.equals(t.sort_by([("contig", "ascending"), ("pos", "ascending")]))
    return ta


def _same_error(spark, path: Path, tmp_path: Path) -> str:
    with pytest.raises(InputError) as local:
        _convert("local", spark, path, tmp_path)
    with pytest.raises(InputError) as other:
        _convert("spark", spark, path, tmp_path)
    assert str(other.value) == str(local.value)
    assert "\n" not in str(other.value)
    return str(local.value)


# ------------------------------------------------------------------------------- simulated releases

def _simulated(path: Path, *, n_sites: int = 300_000, length_bp: int = 2_000_000, seed: int = 5) -> Path:
    """A release from etl/simulate_clinvar.write_clinvar over synthetic VCF sites (gzip)."""
    from genolake.etl.simulate import WrittenSites
    from genolake.etl.simulate_clinvar import write_clinvar

    rng = np.random.default_rng(seed)
    ref_seq = np.frombuffer(b"ACGT", np.uint8)[rng.integers(0, 4, length_bp)]
    pos = np.sort(rng.choice(np.arange(1, length_bp + 1), n_sites, replace=False)).astype(np.int64)
    ref = np.array([bytes([ref_seq[p - 1]]) for p in pos], dtype="S4")
    alt = np.array([b"ACGT".replace(r, b"")[i:i + 1] for r, i in zip(ref, rng.integers(0, 3, n_sites))],
                   dtype="S9")
    sites = WrittenSites(pos=pos, rs=np.arange(1000, 1000 + n_sites, dtype=np.int64),
                         kind=np.zeros(n_sites, np.int8), ref=ref, alt=alt)
    write_clinvar(path, sites, ref_seq, length_bp=length_bp, contig="22", rng=rng)
    return path


@pytest.fixture(scope="module")
def sim_gz(tmp_path_factory) -> Path:
    return _simulated(tmp_path_factory.mktemp("simcv") / "variant_summary.txt.gz")


@pytest.fixture(scope="module")
def sim_plain(sim_gz) -> Path:
    out = sim_gz.with_name("variant_summary.txt")
    out.write_bytes(gzip.decompress(sim_gz.read_bytes()))
    return out


def _lines(path: Path) -> list[str]:
    data = path.read_bytes()
    if data[:2] == b"\x1f\x8b":
        data = gzip.decompress(data)
    return data.decode().split("\n")[:-1]


def _write(path: Path, lines: list[str], *, gz: bool = False, end: str = "\n") -> Path:
    data = "".join(line + end for line in lines).encode()
    path.write_bytes(gzip.compress(data, mtime=0) if gz else data)
    return path


# ------------------------------------------------------------------------------- same tables

def test_excerpt(spark, tmp_path):
    t = _same_clinvar(spark, EXCERPT, tmp_path)
    assert t.num_rows == 12


def test_simulated_gzip(spark, tmp_path, sim_gz):
    t = _same_clinvar(spark, sim_gz, tmp_path)
    assert t.num_rows > 2000


def test_simulated_plain(spark, tmp_path, sim_plain):
    _same_clinvar(spark, sim_plain, tmp_path)


def test_many_splits_keep_line_numbers(spark, tmp_path, sim_plain):
    """A plain file read as many splits: every split's lines are numbered after the ones before."""
    old = spark.conf.get("spark.sql.files.maxPartitionBytes")
    spark.conf.set("spark.sql.files.maxPartitionBytes", str(64 << 10))
    try:
        assert spark.read.text(sim_plain.as_uri()).rdd.getNumPartitions() > 5
        _same_clinvar(spark, sim_plain, tmp_path)
        bad = _lines(sim_plain)
        bad[1500] = bad[1500].replace("\tGRCh", "\tx\tGRCh", 1)  # one field too many, late in the file
        msg = _same_error(spark, _write(tmp_path / "bad.txt", bad), tmp_path / "e")
        assert ":1501: expected 43 tab-separated fields" in msg
    finally:
        spark.conf.set("spark.sql.files.maxPartitionBytes", old)


def test_odd_values(spark, tmp_path):
    """Every normalisation rule on values a real release has, or might have."""
    lines = _lines(EXCERPT)
    names = lines[0].lstrip("#").split("\t")
    at = {n: i for i, n in enumerate(names)}
    base = lines[3].split("\t")
    rows = []
    edits = [
        {"Chromosome": "chr7"}, {"Chromosome": "chrX"}, {"Chromosome": "x"}, {"Chromosome": "mt"},
        {"Chromosome": "chrM"}, {"Chromosome": "M"}, {"Chromosome": " 7 "}, {"Chromosome": "Un"},
        {"Chromosome": "na"}, {"Chromosome": "NA"}, {"Chromosome": "-"}, {"Chromosome": ""},
        {"Chromosome": "   "}, {"Chromosome": "CHRy"}, {"Chromosome": "chrUn_gl000220"},
        {"Chromosome": "\u00a0chr3\u2003"}, {"Chromosome": "chrchr1"},
        {"PositionVCF": "-1"}, {"PositionVCF": "na"}, {"PositionVCF": "0"}, {"PositionVCF": "-"},
        {"PositionVCF": "000123"}, {"PositionVCF": "-1", "Start": "-1"}, {"PositionVCF": "", "Start": "0"},
        {"PositionVCF": "na", "Start": "2147483647"}, {"Start": "-", "Stop": "na"},
        {"Start": "9223372036854775807", "Stop": "-9223372036854775808"},
        {"RS# (dbSNP)": "-1"}, {"RS# (dbSNP)": "-"}, {"RS# (dbSNP)": "na"}, {"RS# (dbSNP)": ""},
        {"RS# (dbSNP)": "007"}, {"RS# (dbSNP)": "-5"}, {"RS# (dbSNP)": "0"},
        {"GeneID": "-1"}, {"GeneID": "-01"}, {"GeneID": "na"}, {"GeneID": ""},
        {"ClinSigSimple": "-1"}, {"ClinSigSimple": "na"}, {"ClinSigSimple": "2147483647"},
        {"NumberSubmitters": "-"}, {"NumberSubmitters": "-2147483647"},
        {"ReferenceAlleleVCF": "na"}, {"AlternateAlleleVCF": "-"}, {"ReferenceAlleleVCF": ""},
        {"Name": 'c.1A>G "quoted" and \\ backslash'}, {"Name": '"'}, {"Name": "-"}, {"Name": ""},
        {"GeneSymbol": "na"}, {"Type": " spaced "}, {"PhenotypeList": "a,b;c|d"},
        {"LastEvaluated": "-"}, {"HGNC_ID": ""}, {"Origin": "germline;somatic"},
        {"Assembly": "na"}, {"Assembly": "NCBI36"}, {"Assembly": "../../x"}, {"Assembly": "grch38 "},
        {"Name": "caf\u00e9 \u4e2d\u6587 \ufeff"},
    ]
    for i, edit in enumerate(edits):
        row = list(base)
        row[at["AlleleID"]] = str(100 + i)
        for k, v in edit.items():
            row[at[k]] = v
        rows.append("\t".join(row))
    src = _write(tmp_path / "odd.txt", [lines[0], *rows, "", ""])  # trailing blank lines are forgiven
    t = _same_clinvar(spark, src, tmp_path / "plain")
    assert set(t["contig"].to_pylist()) >= {"7", "X", "MT", "3", "Y", "Un_gl000220", "chr1", None}
    _same_clinvar(spark, _write(tmp_path / "odd.txt.gz", [lines[0], *rows], gz=True), tmp_path / "gz")
    _same_clinvar(spark, _write(tmp_path / "crlf.txt", [lines[0], *rows], end="\r\n"), tmp_path / "crlf")


def test_other_layouts(spark, tmp_path):
    """31 columns (no VCF-style alleles), columns in another order, a BOM before the header."""
    from genolake.etl.sources.clinvar import LAYOUT_31

    lines = _lines(EXCERPT)
    names = lines[0].lstrip("#").split("\t")
    keep = [names.index(c) for c in LAYOUT_31]
    short = ["\t".join(line.split("\t")[i] for i in keep) for line in lines[1:]]
    _same_clinvar(spark, _write(tmp_path / "l31.txt", ["#" + "\t".join(LAYOUT_31), *short]), tmp_path / "a")
    order = list(reversed(range(len(names))))
    rev = ["\t".join(line.split("\t")[i] for i in order) for line in lines[1:]]
    header = "#" + "\t".join(names[i] for i in order)
    with pytest.raises(InputError):  # the header must start with #AlleleID
        _convert("spark", spark, _write(tmp_path / "rev.txt", [header, *rev]), tmp_path / "b")
    mixed = [names[0], *reversed(names[1:])]
    body = ["\t".join([line.split("\t")[0], *reversed(line.split("\t")[1:])]) for line in lines[1:]]
    _same_clinvar(spark, _write(tmp_path / "mixed.txt", ["#" + "\t".join(mixed), *body]), tmp_path / "c")
    _same_clinvar(spark, _write(tmp_path / "bom.txt.gz", ["\ufeff" + lines[0], *lines[1:]], gz=True),
                  tmp_path / "d")


# ------------------------------------------------------------------------------- same errors

def test_missing_required_columns(spark, tmp_path):
    lines = _lines(EXCERPT)
    cut = [2, 16]  # GeneSymbol's neighbours: Name and Assembly
    text = ["\t".join(f for i, f in enumerate(line.split("\t")) if i not in cut) for line in lines]
    msg = _same_error(spark, _write(tmp_path / "cols.txt.gz", text, gz=True), tmp_path)
    assert "missing required ClinVar columns: Name, Assembly" in msg and ":1:" in msg


def test_wrong_field_count(spark, tmp_path, sim_gz):
    lines = _lines(sim_gz)
    lines[700] = lines[700].rsplit("\t", 1)[0]
    msg = _same_error(spark, _write(tmp_path / "short.txt.gz", lines, gz=True), tmp_path / "a")
    assert ":701: expected 43 tab-separated fields, found 42" in msg
    lines = _lines(EXCERPT)
    lines[5] += "\textra"
    msg = _same_error(spark, _write(tmp_path / "long.txt", lines), tmp_path / "b")
    assert ":6: expected" in msg


def test_header_only(spark, tmp_path):
    header = _lines(EXCERPT)[0]
    for name, lines in (("h.txt", [header]), ("h2.txt", [header, "", ""])):
        msg = _same_error(spark, _write(tmp_path / name, lines), tmp_path / f"{name}-out")
        assert msg.endswith(":1: no ClinVar records: the file has a header only")
    _same_error(spark, _write(tmp_path / "h.txt.gz", [header], gz=True), tmp_path / "gz")


@pytest.mark.parametrize("column,value", [
    ("AlleleID", "x12"), ("AlleleID", ""), ("VariationID", "5.0"), ("GeneID", "+5"), ("Start", " 7"),
    ("PositionVCF", "1e3"), ("RS# (dbSNP)", "rs12"), ("NumberSubmitters", "2147483648"),
    ("ClinSigSimple", "-2147483648"), ("Stop", "9223372036854775808"), ("Assembly", ""),
    ("PositionVCF", "2147483648"),
])
def test_refused_values(spark, tmp_path, column, value):
    lines = _lines(EXCERPT)
    names = lines[0].lstrip("#").split("\t")
    row = lines[9].split("\t")
    row[names.index(column)] = value
    lines[9] = "\t".join(row)
    msg = _same_error(spark, _write(tmp_path / "v.txt.gz", lines, gz=True), tmp_path)
    assert ":10: " in msg


@pytest.mark.parametrize("case", ["blank_inside", "spaces_line", "tabs_inside", "bad_utf8", "truncated",
                                  "not_clinvar", "empty", "missing"])
def test_bad_files(spark, tmp_path, case):
    lines = _lines(EXCERPT)
    path = tmp_path / "f.txt"
    if case == "blank_inside":
        _write(path, lines[:5] + [""] + lines[5:])
    elif case == "spaces_line":
        _write(path, lines[:5] + ["   "] + lines[5:])
    elif case == "tabs_inside":
        _write(path, lines[:5] + ["\t" * 42] + lines[5:])
    elif case == "bad_utf8":
        data = "\n".join(lines).encode().replace(b"Spastic", b"Sp\xffstic", 1)
        path.write_bytes(data)
    elif case == "truncated":
        path = tmp_path / "f.txt.gz"
        data = gzip.compress(("\n".join(lines * 50) + "\n").encode())
        path.write_bytes(data[: len(data) // 2])
    elif case == "not_clinvar":
        _write(path, ["#CHROM\tPOS", "1\t2"])
    elif case == "empty":
        path.write_bytes(b"")
    msg = _same_error(spark, path, tmp_path)
    assert str(path) in msg


# ------------------------------------------------------------------------------- panels

def _same_panel(spark, path: Path) -> pa.Table:
    from genolake.etl.engines.spark_tables import panel_table

    from genolake.etl.sources import panel as sp

    a = read_panel(path)
    with pytest.MonkeyPatch.context() as mp:  # a good panel is read by Spark, not by the fallback
        mp.setattr(sp, "read_panel", _no_fallback)
        b = panel_table(spark, path)
    assert b.schema == a.schema
    assert b.to_pylist() == a.to_pylist()
    assert b.equals(a)
    return b


def _same_panel_error(spark, path: Path) -> str:
    from genolake.etl.engines.spark_tables import panel_table

    with pytest.raises(InputError) as local:
        read_panel(path)
    with pytest.raises(InputError) as other:
        panel_table(spark, path)
    assert str(other.value) == str(local.value)
    return str(local.value)


def test_1000g_panel(spark):
    t = _same_panel(spark, PANEL)
    assert t.num_rows > 2500


def test_odd_panel(spark, tmp_path):
    text = ("\ufeff#Sample\t Pop\tSuper_Pop\tsex\t\n"  # the header has tabs: split on tabs
            "s1\tGBR\tEUR\tfemale\t\t\n"
            "  s2 \t  \tEUR\n"
            "\n"
            "s3\tYRI\t\tmale\n"
            "s4 with space\tCHB\tEAS\t\n"
            "s5   CHB   EAS   male\n"  # no tab: runs of whitespace
            "  \t \n"
            "s6\u00a0x\tJPT\tEAS\tunknown\n"
            "caf\u00e9\tFIN\tEUR\tfemale\r\n"
            "s7\tIBS\n\n")
    p = tmp_path / "odd.panel"
    p.write_text(text, encoding="utf-8")
    t = _same_panel(spark, p)
    assert t.num_rows == 8
    g = tmp_path / "odd.panel.txt"  # gzip, by magic
    g.write_bytes(gzip.compress(text.encode()))
    _same_panel(spark, g)
    s = tmp_path / "spaces.panel"
    s.write_text("sample pop super_pop gender\nA1 P1 S1 male\nA2  P2\n\nA3 P3 S3 female\n")
    _same_panel(spark, s)


@pytest.mark.parametrize("text", [
    "", "\n\nsample\tpop\n", "id\tpop\nx\ty\n", "sample\tpop\na\tb\tc\n", "sample\tpop\n\tX\n",
    "sample\tpop\na\tX\nb\tY\na\tZ\n", "sample\tpop\n\n\n", "sample pop\na b\nc\n".replace("c", "c d e"),
])
def test_panel_errors(spark, tmp_path, text):
    p = tmp_path / "bad.panel"
    p.write_text(text)
    _same_panel_error(spark, p)


def test_panel_bad_utf8(spark, tmp_path):
    p = tmp_path / "bad.panel"
    p.write_bytes(b"sample\tpop\na\tX\nb\xff\tY\n")
    assert ":3:" in _same_panel_error(spark, p)
