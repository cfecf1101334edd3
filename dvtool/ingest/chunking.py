"""Cutting a sorted stream of rows into content-defined chunks, and encoding them.

Boundaries follow the content: a row ends a chunk when a hash of its key (or,
without a key, of its first columns) has its low bits all zero, with minimum
and maximum sizes. Inserting or deleting rows therefore changes only the
chunks around the edit, and appending rows changes only the tail. A new
version also cuts where its parent's data ended (``force_after``), so an
append never rewrites the parent's last chunk.
"""

from __future__ import annotations

import datetime as dt
import decimal
import io
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from dvtool.format.hashing import hash_bytes
from dvtool.format.jsonvalues import is_scalar
from dvtool.format.jsonvalues import json_value as _json_value
from dvtool.format.models import ChunkInfo, Chunking, ColumnStats

__all__ = [
    "choose_chunking",
    "column_stats",
    "encode_chunk",
    "encode_new_chunk",
    "json_value",
    "row_hashes",
    "split_chunks",
]

_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_GOLD = np.uint64(0x9E3779B97F4A7C15)
TARGET_CHUNK_BYTES = 2 << 20  # in-memory Arrow bytes of an average chunk
MAX_AVG_ROWS = 16384
MIN_AVG_ROWS = 256
STRING_STAT_LIMIT = 64  # longer strings are not kept as min/max


def choose_chunking(schema: pa.Schema, sample: pa.RecordBatch, keyed: bool) -> Chunking:
    """Pick chunk sizes for a first version from the width of its rows."""
    row_bytes = max(1.0, sample.nbytes / max(1, sample.num_rows))
    rows = TARGET_CHUNK_BYTES / row_bytes
    avg = 1 << max(0, math.floor(math.log2(max(rows, 1))))
    avg = max(MIN_AVG_ROWS, min(MAX_AVG_ROWS, avg))
    return Chunking(
        strategy="cdc-key" if keyed else "cdc-row",
        avg_rows=avg,
        min_rows=avg // 4,
        max_rows=avg * 4,
    )


def _mix(x: np.ndarray) -> np.ndarray:
    """splitmix64 finaliser, vectorised (wraps modulo 2**64)."""
    with np.errstate(over="ignore"):
        x = x ^ (x >> np.uint64(30))
        x = x * _M1
        x = x ^ (x >> np.uint64(27))
        x = x * _M2
        out: np.ndarray = x ^ (x >> np.uint64(31))
        return out


def _column_hash(arr: pa.Array) -> np.ndarray:
    """A uint64 per row that depends only on the value (nulls hash alike)."""
    n = len(arr)
    typ = arr.type
    if pa.types.is_dictionary(typ):
        arr = arr.dictionary_decode()
        typ = arr.type
    if pa.types.is_string(typ) or pa.types.is_binary(typ) or pa.types.is_large_string(typ) or pa.types.is_large_binary(typ):
        if arr.null_count:
            arr = arr.fill_null("" if pa.types.is_string(typ) or pa.types.is_large_string(typ) else b"")
        bufs = arr.buffers()
        large = pa.types.is_large_string(typ) or pa.types.is_large_binary(typ)
        offsets = np.frombuffer(bufs[1], dtype=np.int64 if large else np.int32)[arr.offset : arr.offset + n + 1].astype(np.int64)
        data = np.frombuffer(bufs[2], dtype=np.uint8) if bufs[2] is not None and bufs[2].size else np.zeros(1, np.uint8)
        starts, lengths = offsets[:-1], np.diff(offsets)
        head = np.zeros(n, dtype=np.uint64)
        tail = np.zeros(n, dtype=np.uint64)
        last = len(data) - 1
        for j in range(8):
            ok = lengths > j
            hb = data[np.minimum(starts + j, last)].astype(np.uint64) * ok
            tb = data[np.clip(starts + lengths - 1 - j, 0, last)].astype(np.uint64) * ok
            head |= hb << np.uint64(8 * j)
            tail |= tb << np.uint64(8 * j)
        with np.errstate(over="ignore"):
            mixed: np.ndarray = _mix(head ^ _mix(tail + _GOLD) ^ (lengths.astype(np.uint64) * _GOLD))
        return mixed
    if pa.types.is_boolean(typ):
        flags: np.ndarray = arr.fill_null(False).to_numpy(zero_copy_only=False).astype(np.uint64)
        return flags
    fixed = pa.types.is_integer(typ) or pa.types.is_floating(typ) or pa.types.is_temporal(typ) or pa.types.is_decimal(typ)
    width = typ.bit_width // 8 if fixed else 0  # bit_width raises for variable-width types
    if width and arr.buffers()[1] is not None:
        buf = arr.buffers()[1]
        raw = np.frombuffer(buf, dtype=np.uint8)[arr.offset * width : (arr.offset + n) * width]
        if width in (1, 2, 4, 8):
            ints = raw.view({1: np.uint8, 2: np.uint16, 4: np.uint32, 8: np.uint64}[width]).astype(np.uint64)
        else:
            words = raw.view(np.uint64).reshape(n, width // 8)
            ints = np.zeros(n, dtype=np.uint64)
            for w in range(words.shape[1]):
                ints = _mix(ints ^ words[:, w])
        if arr.null_count:
            ints = np.where(arr.is_valid().to_numpy(zero_copy_only=False), ints, np.uint64(0))
        return ints
    # Rare types: hash the text form (slow, but only for odd key columns).
    import xxhash

    return np.fromiter((xxhash.xxh3_64_intdigest(repr(v).encode()) for v in arr.to_pylist()), dtype=np.uint64, count=n)


def row_hashes(batch: pa.RecordBatch, columns: Sequence[str]) -> np.ndarray:
    """One uint64 per row from ``columns``; independent of batch boundaries."""
    h = np.full(batch.num_rows, _GOLD, dtype=np.uint64)
    for name in columns:
        h = _mix(h ^ _column_hash(batch.column(name)))
    return h


@dataclass(slots=True)
class _Pending:
    parts: list[pa.RecordBatch]
    rows: int


def split_chunks(
    batches: Iterator[pa.RecordBatch],
    chunking: Chunking,
    hash_columns: Sequence[str],
    *,
    force_after: tuple[Sequence[str], tuple[Any, ...]] | None = None,
    force_at_row: int | None = None,
) -> Iterator[pa.Table]:
    """Yield chunks (as Tables) cut at content-defined boundaries.

    ``force_after`` = (key columns, key values): also cut right after the row
    with that key (the parent's last row). ``force_at_row``: also cut after that
    many rows (keyless data: where the parent ended).
    """
    mask = np.uint64(chunking.avg_rows - 1)
    pending = _Pending([], 0)
    seen = 0
    for batch in batches:
        n = batch.num_rows
        if n == 0:
            continue
        h = row_hashes(batch, hash_columns)
        cut = (h & mask) == 0
        if force_after is not None:
            hit = _rows_equal(batch, *force_after)
            if hit is not None and pc.any(hit).as_py():
                cut = cut.copy()
                cut[np.flatnonzero(hit.to_numpy(zero_copy_only=False))] = True
                forced = set(np.flatnonzero(hit.to_numpy(zero_copy_only=False)).tolist())
            else:
                forced = set()
        else:
            forced = set()
        if force_at_row is not None and seen < force_at_row <= seen + n:
            idx = force_at_row - seen - 1
            cut = cut.copy()
            cut[idx] = True
            forced.add(idx)
        candidates = np.flatnonzero(cut)
        pos = 0
        ci = 0
        while pos < n:
            room = chunking.max_rows - pending.rows  # rows we may still add
            min_index = pos + max(0, chunking.min_rows - pending.rows - 1)
            end = None
            # first candidate at or after pos that satisfies the minimum (forced ones always do)
            ci = int(np.searchsorted(candidates, pos))
            while ci < len(candidates):
                c = int(candidates[ci])
                if c - pos + 1 > room:
                    break
                if c >= min_index or c in forced:
                    end = c + 1
                    break
                ci += 1
            if end is None and pos + room <= n:
                end = pos + room
            if end is None:
                pending.parts.append(batch.slice(pos))
                pending.rows += n - pos
                break
            pending.parts.append(batch.slice(pos, end - pos))
            pending.rows += end - pos
            yield pa.Table.from_batches(pending.parts)
            pending = _Pending([], 0)
            pos = end
        seen += n
    if pending.rows:
        yield pa.Table.from_batches(pending.parts)


def key_scalar(value: Any, typ: pa.DataType) -> pa.Scalar | None:
    """The Arrow scalar for a key value as a manifest stores it (JSON), or None if unsure."""
    if value is None:
        return None
    try:
        if pa.types.is_timestamp(typ) and isinstance(value, str):
            value = dt.datetime.fromisoformat(value)
        elif pa.types.is_date(typ) and isinstance(value, str):
            value = dt.date.fromisoformat(value)
        elif pa.types.is_time(typ) and isinstance(value, str):
            value = dt.time.fromisoformat(value)
        elif pa.types.is_decimal(typ):
            value = decimal.Decimal(str(value))
        elif pa.types.is_duration(typ):
            value = dt.timedelta(seconds=float(value))
        elif pa.types.is_floating(typ) and isinstance(value, str):
            value = float(value.replace("Infinity", "inf"))
        scalar = pa.scalar(value, type=typ)
    except (pa.ArrowInvalid, pa.ArrowTypeError, ValueError, TypeError, OverflowError):
        return None
    return scalar


def _rows_equal(batch: pa.RecordBatch, columns: Sequence[str], values: tuple[Any, ...]) -> pa.Array | None:
    """A boolean mask of rows whose key equals ``values`` (a manifest key range end), or None."""
    hit = None
    for name, value in zip(columns, values, strict=True):
        scalar = key_scalar(value, batch.schema.field(name).type)
        if scalar is None:
            return None  # cannot tell: the forced cut is only an optimisation, skip it
        eq = pc.fill_null(pc.equal(batch.column(name), scalar), False)
        hit = eq if hit is None else pc.and_(hit, eq)
    return hit


def _dictionary_columns(table: pa.Table) -> list[str]:
    """String/binary columns worth dictionary-encoding: few distinct values in a sample.

    pyarrow's default (dictionary for every column) doubles write time on
    high-cardinality columns (measured: docs/performance.md).
    """
    out = []
    sample_rows = min(table.num_rows, 4096)
    for field in table.schema:
        t = field.type
        if pa.types.is_string(t) or pa.types.is_binary(t):
            sample = table.column(field.name).slice(0, sample_rows)
            distinct = pc.count_distinct(sample).as_py()
            if distinct <= max(1, sample_rows // 4):
                out.append(field.name)
    return out


def encode_chunk(table: pa.Table) -> bytes:
    """Parquet bytes for one chunk: zstd level 1, one row group, page checksums, stats."""
    import pyarrow.parquet as pq

    sink = io.BytesIO()
    pq.write_table(
        table,
        sink,
        row_group_size=max(1, table.num_rows),
        compression="zstd",
        compression_level=1,
        use_dictionary=_dictionary_columns(table),
        write_statistics=True,
        write_page_checksum=True,
        store_schema=True,
    )
    return sink.getvalue()


def encode_new_chunk(table: pa.Table, fingerprint: str, key: Sequence[str]) -> tuple[ChunkInfo, bytes]:
    """Encode a chunk and describe it (runs in a worker thread)."""

    data = encode_chunk(table)
    key_min = key_max = None
    if key:
        first_row = table.slice(0, 1).select(list(key)).to_pylist()[0]
        last_row = table.slice(table.num_rows - 1, 1).select(list(key)).to_pylist()[0]
        key_min = tuple(key_json_value(first_row[k]) for k in key)
        key_max = tuple(key_json_value(last_row[k]) for k in key)
    info = ChunkInfo(hash_bytes(data), fingerprint, table.num_rows, len(data), key_min, key_max, column_stats(table))
    return info, data


def json_value(value: Any) -> Any:
    """The JSON form of a scalar for manifests (min/max, key ranges); ``None`` for what has none.

    Long strings are dropped from statistics (a min/max is a hint, not data).
    """
    if not is_scalar(value) or isinstance(value, bytes):
        return None
    if isinstance(value, str) and len(value) > STRING_STAT_LIMIT:
        return None
    return _json_value(value)


def key_json_value(value: Any) -> Any:
    """Like :func:`json_value` but keeps long strings (key ranges must be exact)."""
    if isinstance(value, str):
        return value
    return json_value(value)


def column_stats(table: pa.Table) -> tuple[tuple[str, ColumnStats], ...]:
    out = []
    for field in table.schema:
        col = table.column(field.name)
        lo = hi = None
        t = field.type
        if (
            pa.types.is_integer(t)
            or pa.types.is_floating(t)
            or pa.types.is_temporal(t)
            or pa.types.is_decimal(t)
            or pa.types.is_string(t)
            or pa.types.is_boolean(t)
        ) and not pa.types.is_duration(t):
            try:
                mm = pc.min_max(col)
                lo, hi = json_value(mm["min"].as_py()), json_value(mm["max"].as_py())
            except (pa.ArrowNotImplementedError, pa.ArrowInvalid, ValueError, OverflowError):
                lo = hi = None
        out.append((field.name, ColumnStats(nulls=col.null_count, min=lo, max=hi)))
    return tuple(out)
