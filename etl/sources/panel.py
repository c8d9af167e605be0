"""Reader of 1000 Genomes-style sample panels: which population, super-population and sex a sample has.

The phase-3 panel (`integrated_call_samples_v3.20130502.ALL.panel`) has the header
`sample pop super_pop gender`, tab separated, with stray trailing tabs on some lines. Other
panels use spaces, or call the last column `sex`. So: lines are split on tabs when they contain
one, else on runs of whitespace; columns are found by name (case-insensitive); values are kept
as written (stripped), an empty value becomes null. A panel is small (thousands of lines), so it
is read whole with plain Python.
"""

from __future__ import annotations

import gzip
from pathlib import Path

import pyarrow as pa

from genolake.lake.errors import InputError
from genolake.lake.schemas import SAMPLES

# The types and docs of the samples table, so a panel joins onto it without casts.
PANEL_SCHEMA = pa.schema([
    SAMPLES.schema.field("sample_id"),
    SAMPLES.schema.field("population"),
    SAMPLES.schema.field("super_population"),
    SAMPLES.schema.field("sex"),
])

# output column -> header names accepted for it (first match wins)
_COLUMNS = {
    "sample_id": ("sample", "sample_id"),
    "population": ("pop", "population"),
    "super_population": ("super_pop", "super_population"),
    "sex": ("gender", "sex"),
}
_REQUIRED = ("sample_id", "population")


def _split(line: str) -> list[str]:
    if "\t" in line:
        fields = [f.strip() for f in line.split("\t")]
        while fields and fields[-1] == "":  # trailing tabs, as in the 1000 Genomes panel
            fields.pop()
        return fields
    return line.split()


def _read_text(path: Path) -> str:
    try:
        with open(path, "rb") as f:
            data = f.read()
        if data[:2] == b"\x1f\x8b":
            data = gzip.decompress(data)
    except (OSError, EOFError) as exc:
        raise InputError(path, f"cannot read the panel: {exc}") from None
    try:
        return data.decode("utf-8").lstrip("\ufeff")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise InputError(path, "the panel is not UTF-8 text", line=line) from None


def read_panel(path) -> pa.Table:
    """The panel as a table: sample_id, population, super_population, sex (all strings).

    Raises InputError (file and line) for an empty file, a header without `sample` and `pop`,
    a line with more values than the header has columns, an empty sample ID, a sample listed
    twice (naming both lines), or no data lines at all.
    """
    path = Path(path)
    lines = _read_text(path).splitlines()
    if not lines or not lines[0].strip():
        raise InputError(path, "not a sample panel: the file is empty" if not lines else
                         "not a sample panel: the first line (the header) is empty", line=1)

    header = [h.lstrip("#").lower() for h in _split(lines[0])]
    where: dict[str, int] = {}
    for column, accepted in _COLUMNS.items():
        for name in accepted:
            if name in header:
                where[column] = header.index(name)
                break
    missing = [_COLUMNS[c][0] for c in _REQUIRED if c not in where]
    if missing:
        raise InputError(path, f"missing required panel columns: {', '.join(missing)} "
                               f"(header has: {' '.join(header) or 'nothing'})", line=1)

    values: dict[str, list[str | None]] = {c: [] for c in _COLUMNS}
    first_seen: dict[str, int] = {}
    for lineno, line in enumerate(lines[1:], start=2):
        if not line.strip():
            continue  # blank lines (typically at the end) carry nothing
        fields = _split(line)
        if len(fields) > len(header):
            raise InputError(path, f"expected at most {len(header)} fields, found {len(fields)}",
                             line=lineno)
        row = {c: (fields[i] if i < len(fields) and fields[i] != "" else None)
               for c, i in where.items()}
        sample = row["sample_id"]
        if sample is None:
            raise InputError(path, "the sample ID is empty", line=lineno)
        if sample in first_seen:
            raise InputError(path, f"sample {sample!r} is listed twice, on lines "
                                   f"{first_seen[sample]} and {lineno}", line=lineno)
        first_seen[sample] = lineno
        for c in _COLUMNS:
            values[c].append(row.get(c))

    if not first_seen:
        raise InputError(path, "the panel has a header but no sample lines", line=1)
    return pa.table({c: pa.array(values[c], pa.string()) for c in _COLUMNS}, schema=PANEL_SCHEMA)
