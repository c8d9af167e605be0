"""Genomic regions and CPRA keys as users type them.

    parse_region("22:16000000-17000000")        -> Region("22", 16000000, 17000000)
    parse_region("chr22:16,000,000-17,000,000")  -> the same
    parse_region("22:16050075")                  -> Region("22", 16050075, 16050075)  (one base)
    parse_region("22")                           -> Region("22", 1, 2**31 - 1)        (the whole contig)
    parse_cpra("chr22-16050075-A-G")             -> ("22", 16050075, "A", "G")

Positions are 1-based and inclusive, as in VCF; contigs go through the one normaliser
(`lake.coords.normalize_contig`). Anything else is a QueryError naming the text and the form expected.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from genolake.lake.coords import normalize_contig
from genolake.lake.errors import QueryError

__all__ = ["Region", "parse_region", "parse_cpra", "MAX_POS"]

MAX_POS = 2**31 - 1  # the end of a whole-contig region (positions are int32)

_CONTIG = r"[A-Za-z0-9][A-Za-z0-9_.]*"
_NUM = r"[0-9][0-9,_]*"
_REGION_RE = re.compile(rf"^(?P<contig>{_CONTIG})(?::(?P<start>{_NUM})(?:-(?P<end>{_NUM}))?)?$")
# REF as bases; ALT as VCF writes it: bases, '*', symbolic <...>, breakends (G]17:198982], .A, A.)
_REF = r"[A-Za-z]+"
_ALT = r"(?:[A-Za-z]+|\*|<[^<>\s,]+>|[A-Za-z]*[\[\]][^\s,\[\]]+[\[\]][A-Za-z]*|\.[A-Za-z]+|[A-Za-z]+\.)"
_CPRA_RE = re.compile(rf"^(?P<contig>{_CONTIG})(?P<sep>[-:])(?P<pos>[0-9]+)(?P=sep)(?P<ref>{_REF})(?P=sep)(?P<alt>{_ALT})$")

_REGION_FORM = "CONTIG, CONTIG:POS or CONTIG:START-END (1-based, inclusive), e.g. 22:16000000-17000000"
_CPRA_FORM = "CONTIG-POS-REF-ALT, e.g. 22-16050075-A-G"


@dataclass(frozen=True)
class Region:
    """contig:start-end, 1-based inclusive, contig normalised."""

    contig: str
    start: int
    end: int

    def __post_init__(self):
        if not isinstance(self.contig, str) or not self.contig:
            raise QueryError(f"region contig must be a non-empty name, got {self.contig!r}")
        if normalize_contig(self.contig) != self.contig:
            object.__setattr__(self, "contig", normalize_contig(self.contig))
        for name in ("start", "end"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1 or v > MAX_POS:
                raise QueryError(f"region {name} must be a position from 1 to {MAX_POS}, got {v!r}")
        if self.start > self.end:
            raise QueryError(f"region {self.contig}:{self.start}-{self.end} starts after it ends")

    @property
    def whole_contig(self) -> bool:
        return self.start == 1 and self.end == MAX_POS

    def __str__(self) -> str:
        if self.whole_contig:
            return self.contig
        if self.start == self.end:
            return f"{self.contig}:{self.start}"
        return f"{self.contig}:{self.start}-{self.end}"


def _number(text: str, what: str, whole: str) -> int:
    digits = text.replace(",", "").replace("_", "")
    if not digits.isdigit():
        raise QueryError(f"region {whole!r}: {what} {text!r} is not a number; expected {_REGION_FORM}")
    value = int(digits)
    if value < 1 or value > MAX_POS:
        raise QueryError(f"region {whole!r}: {what} {value} is out of range (1 to {MAX_POS}); positions are 1-based")
    return value


def parse_region(text) -> Region:
    """A Region from "22:16000000-17000000", "chr22:16,000,000-17,000,000", "22:16050075" or "22"."""
    if isinstance(text, Region):
        return text
    if not isinstance(text, str):
        raise QueryError(f"region {text!r} is not text; expected {_REGION_FORM}")
    whole = text
    s = text.strip()
    if not s:
        raise QueryError(f"empty region; expected {_REGION_FORM}")
    m = _REGION_RE.match(s)
    if not m:
        raise QueryError(f"malformed region {whole!r}; expected {_REGION_FORM}")
    contig = normalize_contig(m["contig"])
    if m["start"] is None:
        return Region(contig, 1, MAX_POS)
    start = _number(m["start"], "start", whole)
    end = start if m["end"] is None else _number(m["end"], "end", whole)
    if start > end:
        raise QueryError(f"region {whole!r} starts after it ends ({start:,} > {end:,}); expected {_REGION_FORM}")
    return Region(contig, start, end)


def parse_cpra(text) -> tuple[str, int, str, str]:
    """(contig, pos, ref, alt) from "22-16050075-A-G" (also "chr22-…" or ":" separators); REF/ALT as written."""
    if not isinstance(text, str):
        raise QueryError(f"variant {text!r} is not text; expected {_CPRA_FORM}")
    s = text.strip()
    m = _CPRA_RE.match(s)
    if not m:
        raise QueryError(f"malformed CPRA {text!r}; expected {_CPRA_FORM}")
    pos = int(m["pos"])
    if pos < 1 or pos > MAX_POS:
        raise QueryError(f"CPRA {text!r}: position {pos} is out of range (1 to {MAX_POS})")
    return normalize_contig(m["contig"]), pos, m["ref"], m["alt"]
