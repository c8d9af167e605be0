"""Every ```bash and ```python block of README.md runs and exits 0 (hardening item 10).

"Using it" runs in a fresh folder with the README's file names mapped to small real files (FILES);
"Querying" runs against the quickstart lake (`python -m genolake.quickstart`, small). Blocks that
need chr22-scale data or long benchmarks are EXCLUDED by their first command, with the reason."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
BIN = Path(sys.executable).parent

# the README's example file name -> the quickstart cohort's file (keys of `cohort` below)
FILES = {
    "ALL.chr22.vcf.gz": "vcf",
    "ALL.chr22.v2.vcf.gz": "vcf",  # the --replace example: the same callset again
    "integrated_call_samples.panel": "panel",
    "panel.txt": "panel",
    "other.panel": "panel",
    "variant_summary.txt.gz": "clinvar",
}

# a command (its start) -> why it does not run here
EXCLUDED = {
    "make quickstart": "builds a venv and a 300-sample lake: tests/test_quickstart.py runs the quickstart",
    "make test": "the whole suite: this test is part of it",
    "genolake simulate --samples 2504 --length 51000000": "chr22 scale (minutes); test_simulate covers simulate",
    "genolake bench": "layout benchmarks; tests/test_bench_suite_cli.py runs `--scale tiny`",
    "pip install 'genolake[spark]'": "make setup installs the spark extra",
    "genolake cluster": "tests/test_cluster.py starts, inspects and stops a real cluster",
    "genolake --root ./lake ingest vcf ALL.chr22.vcf.gz --dataset 1kg --engine spark":
        "tests/test_spark_engine.py (local[*]) and tests/test_cluster.py (--master spark://) run it",
    "genolake --root ./lake query af --rsid rs671 --engine":
        "tests/test_engines_agree.py runs every analysis on spark (local[*] and the cluster) and athena's SQL",
    "aws s3 sync": "needs AWS; tests/test_athena.py registers and queries against moto",
    "genolake --root ./lake catalog register --target glue": "needs AWS; tests/test_athena.py runs it against moto",
    "--workgroup primary": "the continuation of the athena query line above",
    "genolake --root ./lake ml": "tests/test_ml_workflow.py runs every ml command on a simulated lake",
    "python -m genolake.benchmarks ml": "chr22 scale against plink2; tests/test_bench_ml_smoke.py runs it small",
}

def blocks() -> list[tuple[int, str, str]]:
    """(line number, language, text) of every ```bash / ```python block."""
    out, lines = [], README.read_text().splitlines()
    i = 0
    while i < len(lines):
        m = re.match(r"^```(\w*)\s*$", lines[i])
        if m:
            j = i + 1
            while not lines[j].startswith("```"):
                j += 1
            if m.group(1) in ("bash", "python"):
                out.append((i + 1, m.group(1), "\n".join(lines[i + 1:j])))
            i = j
        i += 1
    return out


def commands(text: str) -> list[str]:
    return [ln.split("  #")[0].strip() for ln in text.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]


def excluded(cmd: str) -> str | None:
    return next((why for start, why in EXCLUDED.items() if cmd.startswith(start)), None)


@pytest.fixture(scope="module")
def quickstart(tmp_path_factory):
    out = tmp_path_factory.mktemp("qs")
    # the defaults `make quickstart` uses: the Querying examples name its rsIDs, sites and samples
    proc = subprocess.run([sys.executable, "-m", "genolake.quickstart", "--out", str(out)],
                          capture_output=True, text=True, timeout=600, env=_env())
    assert proc.returncode == 0, proc.stderr[-2000:]
    cohort = out / "cohort"
    return {"lake": out / "lake", "vcf": cohort / "cohort.chr22.vcf.gz", "panel": cohort / "cohort.panel",
            "clinvar": cohort / "variant_summary.txt.gz"}


def _env():
    return {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}", "GENOLAKE_ROOT": "", "NO_COLOR": "1"}


def _substitute(text: str, quickstart) -> str:
    for name, key in FILES.items():
        text = text.replace(name, str(quickstart[key]))
    return text


def _run_bash(cmd: str, cwd: Path):
    return subprocess.run(["bash", "-c", "set -o pipefail; " + cmd], cwd=cwd, capture_output=True, text=True,
                          timeout=300, env=_env())


def test_every_block_is_covered():
    """Each block is one of the sections below, so a new block cannot slip past this file."""
    langs = [(n, lang) for n, lang, _ in blocks()]
    assert sum(1 for _, lang in langs if lang == "python") >= 1
    assert len(langs) == len(_using_it()) + len(_querying()) + len(_other())


def _section_blocks(start_heading: str, stop_heading: str):
    text = README.read_text()
    a = text.index(start_heading)
    b = text.index(stop_heading, a)
    first, last = text[:a].count("\n") + 1, text[:b].count("\n") + 1
    return [blk for blk in blocks() if first <= blk[0] <= last]


def _using_it():
    return _section_blocks("## Using it", "## Querying")


def _querying():
    return _section_blocks("## Querying", "### Query speed")


def _other():
    mine = {b[0] for b in _using_it() + _querying()}
    return [b for b in blocks() if b[0] not in mine]


def test_using_it_blocks_run(tmp_path, quickstart):
    """The bash block, then the Python block, in one fresh folder, in README order."""
    for line, lang, text in _using_it():
        text = _substitute(text, quickstart)
        if lang == "bash":
            for cmd in commands(text):
                if excluded(cmd):
                    continue
                proc = _run_bash(cmd, tmp_path)
                assert proc.returncode == 0, f"README line {line}: {cmd}\n{proc.stderr[-1500:]}"
        else:
            proc = subprocess.run([sys.executable, "-c", text], cwd=tmp_path, capture_output=True, text=True,
                                  timeout=300, env=_env())
            assert proc.returncode == 0, f"README python block at line {line}:\n{proc.stderr[-1500:]}"


def test_querying_commands_answer_on_the_quickstart_lake(quickstart, capsys):
    """Each "Querying" command, whatever root it names, run on the quickstart lake: exit 0 with rows
    (they returned nothing when the examples named sites the quickstart does not cover)."""
    import shlex

    from genolake import cli

    cmds = [shlex.split(cmd) for _, _, text in _querying() for cmd in commands(text)]
    assert len(cmds) >= 6
    for argv in cmds:
        assert argv[:2] == ["genolake", "--root"], argv
        rest = argv[3:]
        if "--format" not in rest and rest[0] != "sql":
            rest += ["--format", "csv"]
        rc = cli.main(["--root", str(quickstart["lake"]), *rest])
        printed, err = capsys.readouterr()
        assert rc == 0, (argv, err)
        lines = [ln for ln in printed.splitlines() if ln.strip()]
        assert len(lines) >= 2 and "(0 rows)" not in printed, (argv, printed)


def test_other_blocks_are_excluded_by_name():
    """Blocks outside the two sections are `make`/`bench`/chr22 commands; each is excluded with a reason."""
    for line, lang, text in _other():
        assert lang == "bash", line
        for cmd in commands(text):
            assert excluded(cmd), f"README line {line}: {cmd!r} is neither run nor excluded"
