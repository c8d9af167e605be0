"""How text outputs show numbers: the CLI's tables, the quickstart and the HTML reports share it."""

from __future__ import annotations

import math

import pyarrow as pa

__all__ = ["format_float", "is_number"]


def is_number(t: pa.DataType) -> bool:
    return pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_decimal(t)


def format_float(v: float) -> str:
    """How every text output (tables, the quickstart, the HTML report) shows a float such as an
    AF: four significant digits, never in scientific notation (AF 0.0125 -> 0.01250, 1/3 -> 0.3333,
    1.0 -> 1.000, 1/50,000 -> 0.00002000). CSV and JSON keep the full value."""
    if math.isnan(v):
        return "NaN"
    if math.isinf(v):
        return "inf" if v > 0 else "-inf"
    if v == 0:
        return "0"
    if v == int(v) and abs(v) < 1e15 and abs(v) >= 1e4:
        return str(int(v))
    if 1e-4 <= abs(v) < 1e4:
        return f"{v:#.4g}"
    import numpy as np

    return np.format_float_positional(v, precision=4, unique=False, fractional=False, trim="k").rstrip(".")
