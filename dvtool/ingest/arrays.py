"""Arrow bitmaps as numpy arrays, without pyarrow's pandas path.

``Array.to_numpy(zero_copy_only=False)`` on booleans goes through pyarrow's
pandas compatibility layer, which imports pandas (~0.6 s) into a process that
has no DataFrame in it. Bitmaps are unpacked here with numpy alone.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

__all__ = ["bools", "valid"]


def _bits(buffer: pa.Buffer | None, offset: int, n: int, fill: bool) -> np.ndarray:
    if buffer is None:
        return np.full(n, fill, dtype=bool)
    packed = np.frombuffer(buffer, dtype=np.uint8)
    first = offset // 8
    last = (offset + n + 7) // 8
    bits = np.unpackbits(packed[first:last], bitorder="little")
    start = offset - first * 8
    out: np.ndarray = bits[start : start + n].astype(bool)
    return out


def valid(arr: pa.Array) -> np.ndarray:
    """One bool per slot: True where the value is not null."""
    if arr.null_count == 0:
        return np.ones(len(arr), dtype=bool)
    if pa.types.is_null(arr.type):
        return np.zeros(len(arr), dtype=bool)
    return _bits(arr.buffers()[0], arr.offset, len(arr), True)


def bools(arr: pa.Array) -> np.ndarray:
    """The values of a boolean array, nulls as False."""
    values = _bits(arr.buffers()[1], arr.offset, len(arr), False)
    if arr.null_count:
        values &= valid(arr)
    return values
