"""Cutting a sorted stream of rows into chunks that later versions keep.

Two rules decide where a chunk ends (docs/format.md, "Chunk boundaries"):

* **Content.** A row ends a chunk when a 64-bit hash of its key (without a
  key: of its first four columns) has its low ``log2(avg_rows)`` bits all
  zero, but never before ``min_rows`` rows, and always at ``max_rows``.
* **The parent.** A new version cuts again wherever its parent's chunks
  ended: with a key, right after the parent chunk's last key; without one,
  after the same number of rows, for as long as the rows match the parent's.
  So the parent's rows come out as the parent's own chunks (reused by
  fingerprint, never re-encoded), an append cuts only its new rows, and an
  edit in the middle changes only the chunks whose key range it touches, in
  every later version too, not just against the immediate parent.

Chunk sizes stay healthy: a parent boundary is skipped when the edited range
it would close fell below ``min_rows`` (the range joins the next one), and a
run of consecutive tiny parent chunks (each below ``min_rows``, what small
appends leave behind) is rewritten as one chunk once its rows add up to
``min_rows``. Until then tiny chunks are kept as they are.

Encoding chunks as Parquet lives in :mod:`dvtool.ingest.encoding`.
"""

from __future__ import annotations

import datetime as dt
import decimal
import math
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from dvtool.format.models import Chunking, Manifest
from dvtool.ingest import arrays

__all__ = [
    "Boundary",
    "Cut",
    "Cutter",
    "choose_chunking",
    "chunk_bytes",
    "count_at_most",
    "key_scalar",
    "parent_boundaries",
    "row_hashes",
]

_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_GOLD = np.uint64(0x9E3779B97F4A7C15)
TARGET_CHUNK_BYTES = 8 << 20  # in-memory Arrow bytes of an average chunk (docs/performance.md)
MAX_AVG_ROWS = 65536
MIN_AVG_ROWS = 256


def chunk_bytes() -> int:
    """The target in-memory bytes of a chunk: ``DVTOOL_CHUNK_BYTES`` if set, else 8 MiB."""
    configured = os.environ.get("DVTOOL_CHUNK_BYTES", "")
    if configured.isdigit() and int(configured) > 0:
        return int(configured)
    return TARGET_CHUNK_BYTES


def choose_chunking(schema: pa.Schema, sample: pa.RecordBatch, keyed: bool) -> Chunking:
    """Pick chunk sizes for a first version from the width of its rows.

    ``avg_rows`` is the power of two nearest to 8 MiB (``DVTOOL_CHUNK_BYTES``)
    / (Arrow bytes per row), between 256 and 65,536; ``min_rows = avg/4``,
    ``max_rows = 4·avg``. Later versions keep their parent's settings.
    """
    row_bytes = max(1.0, sample.nbytes / max(1, sample.num_rows))
    rows = max(1.0, chunk_bytes() / row_bytes)
    avg = 1 << max(0, round(math.log2(rows)))
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
    if (
        pa.types.is_string(typ)
        or pa.types.is_binary(typ)
        or pa.types.is_large_string(typ)
        or pa.types.is_large_binary(typ)
    ):
        if arr.null_count:
            arr = arr.fill_null(
                "" if pa.types.is_string(typ) or pa.types.is_large_string(typ) else b""
            )
        bufs = arr.buffers()
        large = pa.types.is_large_string(typ) or pa.types.is_large_binary(typ)
        offsets = np.frombuffer(bufs[1], dtype=np.int64 if large else np.int32)[
            arr.offset : arr.offset + n + 1
        ].astype(np.int64)
        data = (
            np.frombuffer(bufs[2], dtype=np.uint8)
            if bufs[2] is not None and bufs[2].size
            else np.zeros(1, np.uint8)
        )
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
            mixed: np.ndarray = _mix(
                head ^ _mix(tail + _GOLD) ^ (lengths.astype(np.uint64) * _GOLD)
            )
        return mixed
    if pa.types.is_boolean(typ):
        flags: np.ndarray = arrays.bools(arr).astype(np.uint64)
        return flags
    fixed = (
        pa.types.is_integer(typ)
        or pa.types.is_floating(typ)
        or pa.types.is_temporal(typ)
        or pa.types.is_decimal(typ)
    )
    width = typ.bit_width // 8 if fixed else 0  # bit_width raises for variable-width types
    if width and arr.buffers()[1] is not None:
        buf = arr.buffers()[1]
        raw = np.frombuffer(buf, dtype=np.uint8)[arr.offset * width : (arr.offset + n) * width]
        if width in (1, 2, 4, 8):
            ints = raw.view({1: np.uint8, 2: np.uint16, 4: np.uint32, 8: np.uint64}[width]).astype(
                np.uint64
            )
        else:
            words = raw.view(np.uint64).reshape(n, width // 8)
            ints = np.zeros(n, dtype=np.uint64)
            for w in range(words.shape[1]):
                ints = _mix(ints ^ words[:, w])
        if arr.null_count:
            ints = np.where(arrays.valid(arr), ints, np.uint64(0))
        return ints
    # Rare types: hash the text form (slow, but only for odd key columns).
    import xxhash

    return np.fromiter(
        (xxhash.xxh3_64_intdigest(repr(v).encode()) for v in arr.to_pylist()),
        dtype=np.uint64,
        count=n,
    )


def row_hashes(batch: pa.RecordBatch, columns: Sequence[str]) -> np.ndarray:
    """One uint64 per row from ``columns``; independent of batch boundaries."""
    h = np.full(batch.num_rows, _GOLD, dtype=np.uint64)
    for name in columns:
        h = _mix(h ^ _column_hash(batch.column(name)))
    return h


def key_scalar(value: Any, typ: pa.DataType) -> pa.Scalar | None:
    """The Arrow scalar for a key value as a manifest stores it (JSON), or None if unsure."""
    if value is None:
        return None
    try:
        if pa.types.is_timestamp(typ) and isinstance(value, str):
            return pa.array([value]).cast(typ)[0]  # Arrow parses every digit and the offset
        if pa.types.is_time(typ) and isinstance(value, str):
            return _time_scalar(value, typ)
        if pa.types.is_date(typ) and isinstance(value, str):
            value = dt.date.fromisoformat(value)
        elif pa.types.is_decimal(typ):
            value = decimal.Decimal(str(value))
        elif pa.types.is_duration(typ):
            # exact seconds ("1.000000001"; older manifests: a float)
            per_second = {"s": 1, "ms": 10**3, "us": 10**6, "ns": 10**9}[typ.unit]
            count = decimal.Decimal(str(value)) * per_second
            if count != count.to_integral_value():
                return None
            return pa.scalar(int(count), pa.int64()).cast(typ)
        elif pa.types.is_floating(typ) and isinstance(value, str):
            value = float(value.replace("Infinity", "inf"))
        scalar = pa.scalar(value, type=typ)
    except (pa.ArrowInvalid, pa.ArrowTypeError, ValueError, TypeError, OverflowError):
        return None
    return scalar


def _time_scalar(text: str, typ: pa.DataType) -> pa.Scalar | None:
    """``HH:MM:SS[.fraction]`` as a time scalar of ``typ``, exactly, or None."""
    clock, _, frac = text.partition(".")
    hours, minutes, seconds = (int(p) for p in clock.split(":"))
    per_second = {"s": 1, "ms": 10**3, "us": 10**6, "ns": 10**9}[typ.unit]
    digits = len(str(per_second)) - 1
    if len(frac.rstrip("0")) > digits:
        return None
    count = ((hours * 60 + minutes) * 60 + seconds) * per_second + int(
        frac.ljust(digits, "0")[:digits] or 0
    )
    return pa.scalar(count, pa.int64() if typ.bit_width == 64 else pa.int32()).cast(typ)


# -- where the parent's chunks ended ---------------------------------------------------


@dataclass(frozen=True, slots=True)
class Boundary:
    """A place where a parent chunk ended, to cut at again."""

    index: int  # the parent chunk that ends here (the last one of a merged run)
    end: int  # the parent's rows up to and including that chunk
    rows: int  # rows of the parent range that ends here (since the previous boundary)
    key: tuple[pa.Scalar, ...] | None  # with a key: the last key of that chunk
    merge: bool = False  # the range is a run of tiny chunks, rewritten as one chunk


# The last few parent_boundaries results: a snapshot asks up to four times for
# the same parent's (the resume point, the cutter, the points it leaves behind).
_BOUNDARIES: list[tuple[Manifest, tuple[str, ...], pa.Schema, list[Boundary]]] = []


def parent_boundaries(
    parent: Manifest | None, key: Sequence[str], schema: pa.Schema
) -> list[Boundary]:
    """The parent's chunk ends that the next version cuts at again (see the module doc).

    Empty when the parent was cut another way (other key or strategy), or when
    its key columns changed type (their values no longer compare).
    """
    if parent is None or not parent.chunks:
        return []
    key = tuple(key)
    for manifest, k, s, bounds in _BOUNDARIES:
        if manifest is parent and k == key and (s is schema or s.equals(schema)):
            return list(bounds)
    bounds = _parent_boundaries(parent, key, schema)
    _BOUNDARIES.insert(0, (parent, key, schema, bounds))
    del _BOUNDARIES[4:]
    return list(bounds)


def _parent_boundaries(parent: Manifest, key: tuple[str, ...], schema: pa.Schema) -> list[Boundary]:
    if tuple(parent.key) != key or parent.chunking.strategy != ("cdc-key" if key else "cdc-row"):
        return []
    if key:
        for name in key:
            if (
                name not in parent.schema.names
                or parent.schema.field(name).type != schema.field(name).type
            ):
                return []
    elif not parent.schema.equals(schema):
        return []  # every row changed: row counts say nothing
    min_rows = parent.chunking.min_rows
    out: list[Boundary] = []
    start = 0  # rows before the range being built
    end = 0
    run_rows = 0  # rows of the current run of tiny chunks
    for index, chunk in enumerate(parent.chunks):
        end += chunk.rows
        scalars = None
        if key:
            if chunk.key_max is None or len(chunk.key_max) != len(key):
                continue  # no usable end: the range joins the next one
            values = [
                key_scalar(v, schema.field(k).type) for k, v in zip(key, chunk.key_max, strict=True)
            ]
            if any(v is None for v in values):
                continue
            scalars = tuple(v for v in values if v is not None)
        if chunk.rows >= min_rows:
            run_rows = 0
            out.append(Boundary(index, end, end - start, scalars))
            start = end
            continue
        run_rows += chunk.rows
        if run_rows >= min_rows:
            # A run of tiny chunks has grown past min_rows: one chunk from now on.
            while out and out[-1].end > end - run_rows:
                out.pop()
            out.append(Boundary(index, end, run_rows, scalars, merge=True))
            run_rows = 0
        else:
            out.append(Boundary(index, end, end - start, scalars))
        start = end
    return out


def count_at_most(
    batch: pa.RecordBatch | pa.Table, names: Sequence[str], values: Sequence[pa.Scalar]
) -> int:
    """Rows of a key-sorted ``batch`` whose key is ≤ ``values`` (lexicographic)."""
    at_most = None
    for name, value in zip(reversed(names), reversed(values), strict=True):
        col = batch.column(name)
        if at_most is None:
            at_most = pc.less_equal(col, value)
        else:
            at_most = pc.or_(pc.less(col, value), pc.and_(pc.equal(col, value), at_most))
    assert at_most is not None
    return int(pc.sum(pc.fill_null(at_most, False)).as_py() or 0)


# -- the cutter ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Cut:
    """One chunk of rows; ``parent_chunk`` is the parent chunk it should equal, if any."""

    table: pa.Table
    parent_chunk: int | None


@dataclass(slots=True)
class Cutter:
    """Cuts sorted batches into chunks at content and parent boundaries (see the module doc).

    Without a key the parent's boundaries are row counts, meaningful only
    while the rows match the parent's: the caller says :meth:`diverged` when a
    chunk that should equal a parent chunk does not, and from there on only
    the content decides.
    """

    chunking: Chunking
    hash_columns: Sequence[str]
    key: Sequence[str] = ()
    boundaries: Sequence[Boundary] = ()
    _next: int = 0  # the first boundary not yet passed
    _start: int | None = -1  # the boundary the pending chunk began at (-1: the first row)
    _parts: list[pa.RecordBatch] = field(default_factory=list)
    _rows: int = 0  # rows pending
    _seen: int = 0  # rows in earlier batches

    def resume(self, boundary: int, rows: int) -> None:
        """Go on after the parent's boundary ``boundary``, which ends after ``rows`` rows (nothing pending)."""
        self._next = boundary + 1
        self._start = boundary
        self._seen = rows
        self._parts, self._rows = [], 0

    def diverged(self) -> None:
        if not self.key:
            self.boundaries = ()

    def cut(self, batches: Iterator[pa.RecordBatch]) -> Iterator[Cut]:
        mask = np.uint64(self.chunking.avg_rows - 1)
        for batch in batches:
            n = batch.num_rows
            if n == 0:
                continue
            ends = np.flatnonzero((row_hashes(batch, self.hash_columns) & mask) == 0) + 1
            yield from self._batch(batch, ends)
            self._seen += n
        if self._rows:
            yield self._close(None)

    def _boundaries_in(self, batch: pa.RecordBatch) -> Iterator[tuple[int, int]]:
        """(end within the batch, boundary number) for parent boundaries in ``batch``, in order."""
        n = batch.num_rows
        while self._next < len(self.boundaries):
            b = self.boundaries[self._next]
            if self.key:
                assert b.key is not None
                end = count_at_most(batch, self.key, b.key)
                if end == n:
                    return  # at the end of this batch or in a later one
            else:
                end = b.end - self._seen
                if end > n:
                    return
            yield max(0, end), self._next
            self._next += 1

    def _honoured(self, number: int, rows: int) -> bool:
        b = self.boundaries[number]
        if rows == 0 or rows >= self.chunking.min_rows or b.merge:
            return True
        # A tiny range is kept only as the parent had it (same start, same rows).
        return self._start == number - 1 and rows == b.rows

    def _batch(self, batch: pa.RecordBatch, cand_ends: np.ndarray) -> Iterator[Cut]:
        n = batch.num_rows
        bounds: list[tuple[int, int]] = []
        for where, which in self._boundaries_in(batch):
            bounds.append(
                (max(where, bounds[-1][0]) if bounds else where, which)
            )  # unsorted input: stay in order
        bi = 0
        pos = 0
        while True:
            if not self.boundaries:  # diverged (keyless): content only from here
                bounds, bi = [], 0
            upcoming = bounds[bi][1] if bi < len(bounds) else self._next
            merging = (
                upcoming < len(self.boundaries)
                and self.boundaries[upcoming].merge
                and self._start == upcoming - 1
            )
            end = pos + self.chunking.max_rows - self._rows
            if bi < len(bounds):
                end = min(end, bounds[bi][0])
            if not merging:
                j = int(
                    np.searchsorted(cand_ends, pos + max(1, self.chunking.min_rows - self._rows))
                )
                if j < len(cand_ends):
                    end = min(end, int(cand_ends[j]))
            if end > n:
                break
            number: int | None = None
            if bi < len(bounds) and bounds[bi][0] == end:
                number = bounds[bi][1]
                bi += 1
                if not self._honoured(number, self._rows + end - pos):
                    continue
            expected = None
            if (
                number is not None
                and self._start == number - 1
                and not self.boundaries[number].merge
            ):
                expected = self.boundaries[number].index
            if end > pos:
                self._parts.append(batch.slice(pos, end - pos))
                self._rows += end - pos
            if self._rows:
                yield self._close(expected)
            self._start = number
            pos = end
            # Parent boundaries at this very place (empty ranges): the next chunk starts there.
            while self.boundaries and bi < len(bounds) and bounds[bi][0] == pos:
                self._start = bounds[bi][1]
                bi += 1
        if pos < n:
            self._parts.append(batch.slice(pos))
            self._rows += n - pos

    def _close(self, expected: int | None) -> Cut:
        table = pa.Table.from_batches(self._parts)
        self._parts = []
        self._rows = 0
        return Cut(table, expected)
