"""Helpers shared by the ingest-robustness tests: tiny bad VCFs built from shared files, what a
reader sees, and how to run the real command line."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pyarrow as pa

from genolake.lake.schemas import ALL_TABLES

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"
VCF_DIR = SHARED / "vcf"
# 51 header lines, 3 samples, one-ALT records with GT:AD:DP:GQ:PL: the base of the bad files
BASE_VCF = VCF_DIR / "test-haploidX.vcf"
SEED_VCF = VCF_DIR / "haploid.vcf"  # the tiny good file ingested first, so the lake is not empty


def base_parts(n_records: int = 4) -> tuple[list[str], list[str]]:
    """Header lines and the first records of BASE_VCF (each ending in a newline)."""
    lines = BASE_VCF.read_text().splitlines(keepends=True)
    header = [ln for ln in lines if ln.startswith("#")]
    records = [ln if ln.endswith("\n") else ln + "\n" for ln in lines if not ln.startswith("#")][:n_records]
    return header, records


def fields(record: str) -> list[str]:
    return record.rstrip("\n").split("\t")


def joined(cols: list[str]) -> str:
    return "\t".join(cols) + "\n"


def sorted_table(t: pa.Table) -> pa.Table:
    """Content in a canonical order: equal tables compare equal whatever their files and chunks."""
    return t.combine_chunks().sort_by([(c, "ascending") for c in t.column_names
                                       if not pa.types.is_floating(t.schema.field(c).type)])


def reader_view(lake) -> dict[str, pa.Table]:
    """What a reader sees: every table at the catalog's published version, in canonical order."""
    return {name: sorted_table(lake.read(name)) for name in ALL_TABLES}


def assert_same_view(a: dict[str, pa.Table], b: dict[str, pa.Table]) -> None:
    for name in ALL_TABLES:
        assert a[name].num_rows == b[name].num_rows, (name, a[name].num_rows, b[name].num_rows)
        assert a[name].equals(b[name]), name


def run_cli(args: list[str], *, env: dict | None = None, timeout: float = 120) -> subprocess.CompletedProcess:
    """The real command: a fresh interpreter, real exit status, real stderr."""
    full_env = {**os.environ, **(env or {})}
    full_env.pop("GENOLAKE_DEBUG", None)
    return subprocess.run([sys.executable, "-m", "genolake", *args], capture_output=True, text=True,
                          env=full_env, timeout=timeout)


def read_reason(stderr_line: str) -> dict:
    """The reason.json the one-line error points at ("(quarantined: PATH)")."""
    marker = "(quarantined: "
    assert marker in stderr_line, stderr_line
    path = stderr_line.rsplit(marker, 1)[1].rstrip(")\n")
    return json.loads(Path(path).read_text())


def worker_processes(marker: str) -> list[str]:
    """Command lines of live genolake ingest workers whose arguments mention `marker` (a lake root)."""
    out = []
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            raw = (d / "cmdline").read_bytes()
            state = (d / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        cmd = raw.replace(b"\0", b" ").decode(errors="replace")
        if "genolake.etl.engines.worker" in cmd and marker in cmd and state != "Z":
            out.append(f"{d.name}: {cmd}")
    return out
