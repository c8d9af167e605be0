"""Storage: config, zones, table specs, Delta IO, catalog, scans. Imports nothing else of genolake."""

from .config import LakeConfig, ScanLimits
from .coords import cpra_key, normalize_contig, pos_bin
from .errors import (
    EXIT_CODES,
    QueryNotFound,
    one_line,
    ConfigError,
    GenolakeError,
    InputError,
    LakeStateError,
    NotFoundError,
    QuarantinedError,
    QueryError,
    ScanFailed,
)
from .schemas import ALL_TABLES, CLINVAR, CPRA_INDEX, GENOTYPES, PREDICTIONS, RSID_INDEX, SAMPLES, VARIANTS, TableSpec
