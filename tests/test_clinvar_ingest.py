"""ClinVar through the pipeline: the table equals a plain gzip + split('\\t') parse of the real excerpt;
the release is streamed into Parquet files batch by batch (one file per batch and assembly, sorted by
contig, pos) and committed in ONE Delta transaction that also drops the previous release; a bad row
late in the file leaves the table, and the disk, as they were."""

from __future__ import annotations

import gzip
from pathlib import Path

import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

import genolake
from genolake.etl import pipeline
from genolake.etl.engines import local_engine
from genolake.lake.delta_io import open_table
from conftest import CLINVAR_EXCERPT, curated_state


def plain_rows(path: Path) -> list[dict]:
    """The oracle: no pyarrow, just lines and tabs."""
    opener = gzip.open if path.read_bytes()[:2] == b"\x1f\x8b" else open
    with opener(path, "rt", encoding="utf-8") as f:
        lines = f.read().splitlines()
    names = lines[0].lstrip("#").split("\t")
    rows = []
    for line in lines[1:]:
        if not line:
            continue
        r = dict(zip(names, line.split("\t")))
        chrom = r["Chromosome"]
        contig = None if chrom in ("", "na", "Un", "-") else ("MT" if chrom in ("M", "MT") else chrom)
        pos_vcf = int(r["PositionVCF"]) if r.get("PositionVCF", "na").lstrip("-").isdigit() else -1
        ref, alt = r.get("ReferenceAlleleVCF", "na"), r.get("AlternateAlleleVCF", "na")
        ok = contig is not None and pos_vcf > 0 and ref not in ("", "na", "-") and alt not in ("", "na", "-")
        rs = r["RS# (dbSNP)"]
        rows.append({
            "assembly": r["Assembly"],
            "cpra": f"{contig}-{pos_vcf}-{ref}-{alt}" if ok else None,
            "rsid": f"rs{rs}" if rs.isdigit() and int(rs) > 0 else None,
            "allele_id": int(r["AlleleID"]),
        })
    return rows


def _key(rows):
    return sorted((r["allele_id"], r["assembly"], r["cpra"] or "", r["rsid"] or "") for r in rows)


def test_clinvar_table_equals_plain_parse(lake):
    res = genolake.ingest_clinvar(lake, CLINVAR_EXCERPT)
    plain = plain_rows(CLINVAR_EXCERPT)
    t = lake.read("clinvar")
    assert res.status == "succeeded"
    assert t.num_rows == res.rows["clinvar"] == len(plain) == 12
    got = [dict(zip(("allele_id", "assembly", "cpra", "rsid"), v)) for v in
           zip(*(t[c].to_pylist() for c in ("allele_id", "assembly", "cpra", "rsid")))]
    assert _key(got) == _key(plain)
    assert sorted(c for c in t["cpra"].to_pylist() if c) == sorted(r["cpra"] for r in plain if r["cpra"])
    assert sorted(r for r in t["rsid"].to_pylist() if r) == sorted(r["rsid"] for r in plain if r["rsid"])
    by_asm = {k: v for k, v in res.rows.items() if k.startswith("assembly:")}
    assert by_asm == {f"assembly:{a}": sum(r["assembly"] == a for r in plain) for a in {r["assembly"] for r in plain}}


def _release(tmp_path: Path, name: str, repeat: int, bad_last: bool = False) -> Path:
    """The excerpt's rows `repeat` times (as separate AlleleIDs), optionally a bad row at the very end."""
    lines = gzip.decompress(CLINVAR_EXCERPT.read_bytes()).decode().splitlines()
    out = [lines[0]]
    for k in range(repeat):
        for line in lines[1:]:
            f = line.split("\t")
            f[0] = str(int(f[0]) + 10_000_000 * k)
            out.append("\t".join(f))
    if bad_last:
        f = lines[1].split("\t")
        f[0] = "12x45"  # AlleleID must be an integer
        out.append("\t".join(f))
    p = tmp_path / name
    p.write_bytes(gzip.compress(("\n".join(out) + "\n").encode()))
    return p


def test_streamed_in_batches_one_commit_replacing_the_previous_release(lake, tmp_path, monkeypatch):
    monkeypatch.setattr(local_engine, "CLINVAR_BATCH_ROWS", 10)
    old = genolake.ingest_clinvar(lake, CLINVAR_EXCERPT)
    root = lake.table_root("clinvar")
    v_old = open_table(root).version()
    old_files = set(open_table(root).file_uris())

    new = genolake.ingest_clinvar(lake, _release(tmp_path, "release2.txt.gz", repeat=5))
    dt = open_table(root)
    assert dt.version() == v_old + 1  # one transaction: the new release's adds and the old one's removes
    assert new.versions == {"clinvar": v_old + 1}
    files = dt.file_uris()
    assert not set(files) & old_files
    assert lake.read("clinvar").num_rows == new.rows["clinvar"] == 60
    # 60 rows in batches of 10, each split by assembly: many small files, none holding the whole release
    assert len(files) >= 6
    for f in files:
        t = pq.read_table(f)
        assert t.num_rows <= 10
        keys = list(zip(t["contig"].to_pylist(), t["pos"].to_pylist()))
        assert keys == sorted(keys, key=lambda k: (k[0] is None, k[0] or "", k[1] is None, k[1] or 0))
        assert len({Path(f).parent.name}) == 1 and Path(f).parent.name.startswith("assembly=")
    assert old.status == new.status == "succeeded"


def test_bad_row_late_in_the_file_changes_nothing(lake, tmp_path, monkeypatch):
    monkeypatch.setattr(local_engine, "CLINVAR_BATCH_ROWS", 10)
    genolake.ingest_clinvar(lake, CLINVAR_EXCERPT)
    before = curated_state(lake)
    view = lake.read("clinvar")
    bad = _release(tmp_path, "bad_release.txt.gz", repeat=5, bad_last=True)
    with pytest.raises(genolake.QuarantinedError) as ei:
        genolake.ingest_clinvar(lake, bad)
    err = ei.value.cause
    assert err.path == str(bad) and err.line == 62 and "AlleleID is not an integer: '12x45'" in err.problem
    assert curated_state(lake) == before  # several batches were written, none is left, nothing committed
    assert lake.read("clinvar").equals(view)
    run = lake.catalog.runs(limit=1)[0]
    assert run.status == "quarantined"
    assert not list(lake.table_root("clinvar").rglob(f"part-{run.run_id}*"))


def test_clinvar_header_only_is_refused(lake, tmp_path):
    genolake.ingest_clinvar(lake, CLINVAR_EXCERPT)
    before = curated_state(lake)
    p = tmp_path / "header_only.txt"
    p.write_text(gzip.decompress(CLINVAR_EXCERPT.read_bytes()).decode().splitlines()[0] + "\n")
    with pytest.raises(genolake.QuarantinedError, match="no ClinVar records"):
        genolake.ingest_clinvar(lake, p)
    assert curated_state(lake) == before
    assert pc.sum(pc.is_valid(lake.read("clinvar")["cpra"])).as_py() > 0
