"""The one JSON form of a cell value, for manifests, reports, diffs and query output.

JSON has no decimals, dates, bytes or NaN; this module decides once how each
is written: decimals as strings (exact), dates and times in ISO 8601, NaN and
infinities as the strings ``"NaN"``, ``"Infinity"``, ``"-Infinity"``, bytes as
base64, integers as they are (Python's ``json`` writes them exactly, at any
size). Everything that writes a cell value as JSON calls :func:`json_value`.
"""

from __future__ import annotations

import base64
import datetime as dt
import decimal
import math
from collections.abc import Mapping
from typing import Any

__all__ = ["JSONScalar", "is_scalar", "json_value"]

JSONScalar = None | bool | int | float | str


def is_scalar(value: Any) -> bool:
    """True for the cell values that have a scalar JSON form (not lists, maps or unknown objects)."""
    return value is None or isinstance(
        value, bool | int | float | str | decimal.Decimal | dt.datetime | dt.date | dt.time | dt.timedelta | bytes
    )


def json_value(value: Any) -> Any:
    """A JSON-safe form of one cell (nested lists and maps keep their shape)."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        if math.isnan(value):
            return "NaN"
        if math.isinf(value):
            return "Infinity" if value > 0 else "-Infinity"
        return value
    if isinstance(value, decimal.Decimal):
        return str(value)
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        return value.total_seconds()
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    if isinstance(value, Mapping):
        return {str(k): json_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_value(v) for v in value]
    return str(value)
