"""The zones on disk: quarantine/ and pre-curated/ (raw, <tenant>/<yyyy>/<mm>/<dd>/) and curated/."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

from .config import LakeConfig

QUARANTINE = "quarantine"
PRE_CURATED = "pre-curated"
CURATED = "curated"
STAGING = "_staging"  # uncommitted work of running ingests; never read by anyone


@dataclass(frozen=True)
class Zones:
    config: LakeConfig

    @property
    def root(self) -> Path:
        return self.config.root

    def raw_dir(self, zone: str, tenant: str, day: dt.date | None = None) -> Path:
        day = day or dt.datetime.now(dt.timezone.utc).date()
        return self.root / zone / tenant / f"{day:%Y}" / f"{day:%m}" / f"{day:%d}"

    def curated_table(self, name: str) -> Path:
        return self.root / CURATED / name

    def staging_dir(self, run_id: str) -> Path:
        return self.root / STAGING / run_id

    def all_dirs(self) -> list[Path]:
        return [self.root / z for z in (QUARANTINE, PRE_CURATED, CURATED, STAGING)]
