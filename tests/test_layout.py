"""The package layout of DESIGN.md holds: `lake` imports nothing of ours, `etl` and `queries` import
`lake` and never each other, `ml` imports `queries` and `lake`, and the library never imports
`benchmarks` except where `genolake bench` runs it. Every module's imports are walked with `ast`
(including imports inside functions), so a crossing anywhere fails here."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

TOP = Path(__file__).resolve().parents[1]
PACKAGES = ("lake", "etl", "queries", "ml", "benchmarks", "genolake")
# what each package may import of ours (besides itself)
ALLOWED = {
    "lake": set(),
    "etl": {"lake"},
    "queries": {"lake"},
    "ml": {"queries", "lake"},
    "benchmarks": {"lake", "etl", "queries", "ml", "genolake"},
    "genolake": {"lake", "etl", "queries", "ml"},  # the facade and the CLI
}
# the one place the library reaches the benchmarks: the `genolake bench` command, on demand
BENCH_ENTRY = {("genolake", "cli.py")}


def _ours(name: str) -> str | None:
    """The package of ours a dotted import name points at, or None."""
    parts = name.split(".")
    if parts[0] == "genolake" and len(parts) > 1 and parts[1] in PACKAGES:
        return parts[1]
    if parts[0] == "genolake":
        return "genolake"
    return parts[0] if parts[0] in PACKAGES[:-1] else None


def _imports(path: Path, package_dir: Path):
    package = package_dir.name
    tree = ast.parse(path.read_text(), filename=str(path))
    rel_parts = path.relative_to(package_dir).parts[:-1]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                yield node.lineno, a.name
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: resolve against this module's package
                here = ["genolake", package, *rel_parts]  # the module's own package
                base = here[: len(here) - (node.level - 1)]
                if not base:
                    continue
                yield node.lineno, ".".join(base + ([node.module] if node.module else []))
            elif node.module:
                yield node.lineno, node.module


def _crossings(top: Path = TOP):
    out = []
    for package in PACKAGES:
        for path in sorted((top / package).rglob("*.py")):
            for line, name in sorted(_imports(path, top / package)):
                target = _ours(name)
                if target is None or target == package:
                    continue
                if target == "benchmarks" and (package, path.name) in BENCH_ENTRY:
                    continue
                if target not in ALLOWED[package]:
                    out.append(f"{path.relative_to(top)}:{line}: {package} imports {name}")
    return out


def test_no_import_crosses_the_layout():
    assert _crossings() == []


def test_the_walk_sees_a_crossing(tmp_path):
    """The check itself can fail: imports inside functions, relative ones, and the facade's."""
    (tmp_path / "queries" / "engines").mkdir(parents=True)
    (tmp_path / "queries" / "engines" / "bad.py").write_text(
        "def f():\n    from genolake.etl import pipeline\nfrom ...etl.engines import local\n")
    (tmp_path / "lake").mkdir()
    (tmp_path / "lake" / "bad.py").write_text("import genolake.queries\n")
    assert _crossings(tmp_path) == [
        "lake/bad.py:1: lake imports genolake.queries",
        "queries/engines/bad.py:2: queries imports genolake.etl",
        "queries/engines/bad.py:3: queries imports genolake.etl.engines",
    ]


@pytest.mark.parametrize("argv", [["--help"], ["query", "--help"], ["query", "af", "--help"]])
def test_commands_do_not_load_benchmark_code(argv):
    code = ("import sys, runpy\n"
            f"sys.argv = ['genolake', *{argv!r}]\n"
            "try:\n    runpy.run_module('genolake', run_name='__main__')\nexcept SystemExit:\n    pass\n"
            "print([m for m in sys.modules if m.startswith('genolake.benchmarks')])\n")
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert p.stdout.strip().splitlines()[-1] == "[]", p.stdout + p.stderr


def test_bench_errors_go_through_the_one_line_handler(tmp_path):
    """`genolake bench` on a lake whose catalog is damaged: one line and the lake-state exit code,
    as every other command (it bypassed the handler and could end in a traceback)."""
    import genolake
    from lake_checks import run_cli

    root = tmp_path / "lake"
    genolake.init_lake(root)
    (root / "catalog.sqlite").write_bytes(b"this is not a database" * 100)
    p = run_cli(["bench", "--lake", str(root), "--workloads", "af_rsids"])
    assert p.returncode == 5, (p.returncode, p.stderr)
    assert p.stderr.count("\n") == 1 and "Traceback" not in p.stderr and "catalog" in p.stderr
