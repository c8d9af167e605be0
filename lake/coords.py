"""Coordinates and keys. The one contig normaliser every reader uses."""

from __future__ import annotations

import re

_CHR_PREFIX = re.compile(r"^chr", re.IGNORECASE)
_MITO = {"M", "MT", "CHRM", "CHRMT"}


def normalize_contig(name: str) -> str:
    """`chr22` -> `22`, `chrX` -> `X`, `chrM`/`MT`/`M` -> `MT`; other names lose only a `chr` prefix."""
    name = name.strip()
    if name.upper() in _MITO:
        return "MT"
    stripped = _CHR_PREFIX.sub("", name)
    if stripped.upper() in ("X", "Y"):
        return stripped.upper()
    return stripped


def cpra_key(contig: str, pos: int, ref: str, alt: str) -> str:
    """`22-16050075-A-G`: contig must already be normalised."""
    return f"{contig}-{pos}-{ref}-{alt}"


def pos_bin(pos: int, bin_size: int) -> int:
    """The start of the position bin holding `pos` (the cpra_index partition value)."""
    return (pos // bin_size) * bin_size
