"""`python -m genolake.benchmarks <name> [args]`: run one benchmark by name (see each module's docstring).

    python -m genolake.benchmarks ingest --scale medium
"""

from __future__ import annotations

import importlib
import sys

BENCHMARKS = {"ingest": "genolake.benchmarks.ingest", "queries": "genolake.benchmarks.queries",
              "layouts": "genolake.benchmarks.suite.run", "ml": "genolake.benchmarks.ml"}


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help") or argv[0] not in BENCHMARKS:
        print(__doc__.strip())
        print("\nbenchmarks: " + ", ".join(sorted(BENCHMARKS)))
        return 0 if not argv or argv[0] in ("-h", "--help") else 2
    return importlib.import_module(BENCHMARKS[argv[0]]).main(argv[1:])


if __name__ == "__main__":
    raise SystemExit(main())
