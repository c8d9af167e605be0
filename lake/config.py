"""Where the lake lives and the limits it enforces."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from .errors import ConfigError

DEFAULT_ROOT = "./genolake-data"
_TENANT_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
_DATASET_RE = _TENANT_RE


@dataclass(frozen=True)
class ScanLimits:
    """Quarantine limits. Ratios are uncompressed/compressed bytes."""

    max_file_bytes: int = 64 * 2**30
    max_uncompressed_bytes: int = 2 * 2**40
    max_decompression_ratio: float = 400.0
    phi_sample_bytes: int = 8 * 2**20  # body bytes the PHI scan reads from each file


@dataclass(frozen=True)
class LakeConfig:
    """A lake root and its settings. `from_env` honours --root, then GENOLAKE_ROOT, then ./genolake-data."""

    root: Path
    tenant: str = "default"
    pos_bin_size: int = 1_000_000
    limits: ScanLimits = field(default_factory=ScanLimits)

    @classmethod
    def from_env(cls, root: str | os.PathLike | None = None, **kwargs) -> "LakeConfig":
        chosen = root or os.environ.get("GENOLAKE_ROOT") or DEFAULT_ROOT
        return cls(root=Path(chosen).expanduser().resolve(), **kwargs)

    def __post_init__(self):
        check_name("tenant", self.tenant)
        if "%" in str(self.root):
            # deltalake 1.x decodes URL escapes in a local table path (once when writing, twice when
            # reading), so a table under such a root is written in one place and looked for in another
            raise ConfigError(f"lake root {self.root}: a '%' in the path is not supported (the deltalake "
                              "package reads it as a URL escape); choose a root without '%'")
        bracket = next((c for c in "[]" if c in str(self.root)), None)
        if bracket:
            # deltalake 1.x parses a local table path as a URL, where brackets are an IPv6 host: its
            # writer panics ("Invalid object store url") instead of writing the table
            raise ConfigError(f"lake root {self.root}: a {bracket!r} in the path is not supported (the "
                              "deltalake package reads the path as a URL); choose a root without '[' or ']'")
        if self.pos_bin_size <= 0:
            raise ConfigError(f"pos_bin_size must be positive, got {self.pos_bin_size}")

    @property
    def catalog_path(self) -> Path:
        return self.root / "catalog.sqlite"


def check_name(kind: str, value: str) -> str:
    """Tenants and datasets become path parts and SQL literals: keep them plain."""
    if not isinstance(value, str) or not _DATASET_RE.fullmatch(value):
        raise ConfigError(
            f"{kind} {value!r} is not allowed: use 1-64 letters, digits, '_', '-', '.', starting with a letter or digit"
        )
    return value
