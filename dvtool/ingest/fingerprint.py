"""Logical fingerprints of rows: the same rows give the same fingerprint, whatever the bytes.

See docs/format.md ("Ids and fingerprints"). Kept apart from dvtool.format.hashing so
commands that only handle ids (log, ls, fsck) do not import numpy and pyarrow.
"""

from __future__ import annotations

import functools
import json
import struct
from collections.abc import Iterable
from typing import Any

import numpy as np
import pyarrow as pa
import xxhash

from dvtool.format.hashing import ALGORITHM
from dvtool.ingest import arrays, xxh3state

__all__ = ["ColumnsHasher", "table_fingerprint"]


def _type_token(typ: pa.DataType) -> str:
    return str(typ)


def _stream(state: bytes | None = None) -> Any:
    """One running XXH3-128: resumable (:mod:`xxh3state`) where that is proven to match xxhash."""
    if xxh3state.available():
        return xxh3state.Xxh3(state)
    return xxhash.xxh3_128()


class _ColumnState:
    __slots__ = ("data", "lengths", "validity")

    def __init__(self, states: tuple[bytes, bytes, bytes] | None = None) -> None:
        self.validity = _stream(states[0] if states else None)
        self.lengths = _stream(states[1] if states else None)
        self.data = _stream(states[2] if states else None)

    def copy(self) -> _ColumnState:
        other = _ColumnState.__new__(_ColumnState)
        other.validity, other.lengths, other.data = (
            self.validity.copy(),
            self.lengths.copy(),
            self.data.copy(),
        )
        return other


class ColumnsHasher:
    """Streams record batches into one hash per column; boundaries do not matter.

    Each column keeps three running hashes: one byte per row for validity,
    value lengths (variable-width types) and the value bytes with nulls zeroed.
    Concatenating batches gives the same bytes whatever the batch sizes, so the
    result depends on the rows only.
    """

    def __init__(self, schema: pa.Schema) -> None:
        self.schema = schema
        self.rows = 0
        self._cols = [_ColumnState() for _ in schema]

    def copy(self) -> ColumnsHasher:
        other = ColumnsHasher.__new__(ColumnsHasher)
        other.schema, other.rows, other._cols = (
            self.schema,
            self.rows,
            [c.copy() for c in self._cols],
        )
        return other

    def checkpoint(self) -> bytes | None:
        """The running state as bytes (see :meth:`resume`), or None where states cannot be saved."""
        if not xxh3state.available():
            return None
        parts = [struct.pack("<q", self.rows)]
        for col in self._cols:
            parts += [col.validity.state(), col.lengths.state(), col.data.state()]
        return b"".join(parts)

    @classmethod
    def resume(cls, schema: pa.Schema, checkpoint: bytes) -> ColumnsHasher | None:
        """A hasher that goes on from :meth:`checkpoint`'s rows, or None if it cannot here."""
        size = xxh3state.STATE_BYTES
        if not xxh3state.available() or len(checkpoint) != 8 + 3 * size * len(schema):
            return None
        hasher = cls(schema)
        hasher.rows = struct.unpack_from("<q", checkpoint)[0]
        at = 8
        for i in range(len(schema)):
            parts = (
                checkpoint[at : at + size],
                checkpoint[at + size : at + 2 * size],
                checkpoint[at + 2 * size : at + 3 * size],
            )
            hasher._cols[i] = _ColumnState(parts)
            at += 3 * size
        return hasher

    def update(
        self, batch: pa.RecordBatch | pa.Table, *, also: ColumnsHasher | None = None
    ) -> None:
        """Add ``batch``'s rows; ``also`` gets the same rows (canonical bytes are built once)."""
        self.rows += batch.num_rows
        if also is not None:
            also.rows += batch.num_rows
        for i, column in enumerate(batch.columns):
            states = (self._cols[i],) if also is None else (self._cols[i], also._cols[i])
            chunks = column.chunks if isinstance(column, pa.ChunkedArray) else [column]
            for arr in chunks:
                _update_array(states, arr)

    def hexdigest(self) -> str:
        outer = xxhash.xxh3_128()
        outer.update(b"dvtool-fingerprint-v1\0")
        outer.update(struct.pack("<q", self.rows))
        for field, state in zip(self.schema, self._cols, strict=True):
            outer.update(field.name.encode("utf-8") + b"\0")
            outer.update(_type_token(field.type).encode("utf-8") + b"\0")
            outer.update(state.validity.digest())
            outer.update(state.lengths.digest())
            outer.update(state.data.digest())
        return f"{ALGORITHM}:{outer.hexdigest()}"


def _feed(states: tuple[_ColumnState, ...], part: str, data: Any) -> None:
    view = memoryview(data)
    for state in states:
        getattr(state, part).update(view)


_ONES = np.ones(0, dtype=np.uint8)


def _all_valid(n: int) -> np.ndarray:
    """``n`` validity bytes of 1 (read-only, shared: most columns have no nulls)."""
    global _ONES
    if len(_ONES) < n:
        _ONES = np.ones(max(n, 1 << 16), dtype=np.uint8)
        _ONES.flags.writeable = False
    return _ONES[:n]


@functools.lru_cache(maxsize=512)
def _kind(typ: pa.DataType) -> tuple[str, int, bool]:
    """How a type's values are hashed: (kind, value width in bytes, large offsets / float).

    Decided once per type (the checks cost more than hashing a small array).
    """
    if pa.types.is_null(typ):
        return ("null", 0, False)
    if _is_var_binary(typ):
        large = pa.types.is_large_string(typ) or pa.types.is_large_binary(typ)
        return ("var", 0, large)
    if pa.types.is_boolean(typ):
        return ("bool", 0, False)
    if (
        pa.types.is_integer(typ)
        or pa.types.is_floating(typ)
        or pa.types.is_temporal(typ)
        or pa.types.is_decimal(typ)
        or pa.types.is_fixed_size_binary(typ)
    ) and typ.bit_width % 8 == 0:
        floating = pa.types.is_floating(typ) and typ.bit_width in (32, 64)
        return ("fixed", typ.bit_width // 8, floating)
    return ("text", 0, False)


def _update_array(states: tuple[_ColumnState, ...], arr: pa.Array) -> None:
    n = len(arr)
    if n == 0:
        return
    typ = arr.type
    kind, width, flag = _kind(typ)
    nulls = arr.null_count
    valid = _all_valid(n) if nulls == 0 and kind != "null" else arrays.valid(arr).astype(np.uint8)
    _feed(states, "validity", valid)
    if kind == "null":
        return
    if kind == "var":
        large = flag
        if nulls and _null_slots_hold_bytes(arr, valid, large):
            # Null slots may hold any bytes; after fill_null they are empty, and
            # validity is hashed on its own, so "" and null stay distinct.
            arr = arr.fill_null(
                b"" if pa.types.is_binary(typ) or pa.types.is_large_binary(typ) else ""
            )
        buffers = arr.buffers()
        offsets = np.frombuffer(buffers[1], dtype=np.int64 if large else np.int32)[
            arr.offset : arr.offset + n + 1
        ]
        _feed(states, "lengths", np.diff(offsets).astype(np.int64))
        if buffers[2] is not None:
            _feed(states, "data", memoryview(buffers[2])[int(offsets[0]) : int(offsets[-1])])
        return
    if kind == "bool":
        values = arrays.bools(arr).astype(np.uint8)
        _feed(states, "data", values)
        return
    if kind == "fixed":
        buf = arr.buffers()[1]
        if buf is None:
            return
        raw = np.frombuffer(buf, dtype=np.uint8)[arr.offset * width : (arr.offset + n) * width]
        if nulls:
            raw = raw.reshape(n, width).copy()
            raw[~valid.astype(bool)] = 0
        if flag:
            # Every NaN hashes alike, whatever its payload bits.
            floats = np.ascontiguousarray(raw).view(np.float64 if width == 8 else np.float32)
            nan = np.isnan(floats)
            if nan.any():
                floats = floats.copy()
                floats[nan] = np.nan
            _feed(states, "data", np.ascontiguousarray(floats))
            return
        _feed(states, "data", np.ascontiguousarray(raw))
        return
    # Nested and rare types: a canonical text form, slower but exact. Python's repr
    # is exact for every value but nanosecond times (and dates outside its calendar,
    # which it cannot hold at all): those take the exact JSON form instead.
    for token in _texts(arr):
        _feed(states, "lengths", struct.pack("<q", len(token)))
        _feed(states, "data", token)


def _null_slots_hold_bytes(arr: pa.Array, valid: np.ndarray, large: bool) -> bool:
    """True if a null slot of a string/binary array has a non-zero length (writers usually leave them empty)."""
    offsets = np.frombuffer(arr.buffers()[1], dtype=np.int64 if large else np.int32)[
        arr.offset : arr.offset + len(arr) + 1
    ]
    return bool(np.diff(offsets)[valid == 0].any())


def _texts(arr: pa.Array) -> list[bytes]:
    from dvtool.format.jsonvalues import encode_array, needs_exact_text

    if not needs_exact_text(arr.type):
        try:
            return [repr(v).encode("utf-8") for v in arr.to_pylist()]
        except (ValueError, OverflowError, pa.ArrowInvalid):
            pass
    return [b"=" + json.dumps(v, separators=(",", ":")).encode("utf-8") for v in encode_array(arr)]


def _is_var_binary(typ: pa.DataType) -> bool:
    return bool(
        pa.types.is_string(typ)
        or pa.types.is_binary(typ)
        or pa.types.is_large_string(typ)
        or pa.types.is_large_binary(typ)
    )


def table_fingerprint(schema: pa.Schema, batches: Iterable[pa.RecordBatch | pa.Table]) -> str:
    """Fingerprint of the rows in ``batches`` (see :class:`ColumnsHasher`)."""
    hasher = ColumnsHasher(schema)
    for batch in batches:
        hasher.update(batch)
    return hasher.hexdigest()
