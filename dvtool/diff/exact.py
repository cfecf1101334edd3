"""Columns to and from DuckDB for a diff, so that equality there is exact equality.

:func:`dvtool.sql.plan_for` says how each Arrow type reaches DuckDB exactly;
this module adds the ``token`` stand-in (the value's exact JSON text, from the
one encoder in format/jsonvalues.py) and turns sample values read back from
DuckDB into the column's own type, so what a diff shows is the stored value.
"""

from __future__ import annotations

import contextlib
import decimal
import json
from typing import Any

import pyarrow as pa

from dvtool.format.jsonvalues import Exact, encode_array, python_values
from dvtool.sql import Plan, cast_back, cast_to_proxy

__all__ = ["restore", "to_proxy"]


def to_proxy(arr: pa.Array | pa.ChunkedArray, plan: Plan) -> pa.Array | pa.ChunkedArray:
    """The column as DuckDB gets it."""
    if plan.kind != "token":
        return cast_to_proxy(arr, plan)
    if pa.types.is_decimal(arr.type):
        # Arrow's text of a decimal: one per value of the type, every digit, and a
        # number DuckDB can still cast (for the numeric summaries of a diff).
        return arr.cast(pa.string())
    texts = [
        None if v is None else json.dumps(v, ensure_ascii=False, separators=(",", ":"))
        for v in encode_array(arr)
    ]
    return pa.array(texts, pa.string())


def restore(arr: pa.Array | pa.ChunkedArray, plan: Plan) -> list[Any]:
    """Python values of a column read back from DuckDB, in the column's own type, exactly."""
    if plan.kind == "token":
        texts = arr.to_pylist()
        if pa.types.is_decimal(plan.via or plan.original):
            return [None if v is None else decimal.Decimal(v) for v in texts]
        values = [None if v is None else json.loads(v) for v in texts]
        return [Exact(v) if isinstance(v, str) else v for v in values]
    # A column compared as text stays as DuckDB returned it.
    with contextlib.suppress(pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError):
        arr = cast_back(arr, plan.original)
    return python_values(arr)
