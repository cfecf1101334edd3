"""A side's distribution profile: chunk profiles read from the cache or computed, then merged.

Chunk profiles (:mod:`dvtool.diff.profile`) are remembered per chunk
fingerprint under ``stats/<engine hex>/<chunk fingerprint hex>.json``, written
create-only like validation verdicts, so profiling a new version reads only
the chunks no earlier version had. A SOURCE side (a file not snapshotted) is
streamed and profiled a slice at a time; nothing is cached for it.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Protocol

import pyarrow as pa
import pyarrow.parquet as pq

from dvtool import sql
from dvtool.diff.profile import ENGINE, Profile, column_kind, profile_table
from dvtool.diff.rows import Side
from dvtool.errors import NotFoundError, StorageError, UsageError
from dvtool.format.hashing import hash_bytes, object_hex
from dvtool.format.models import ChunkInfo

__all__ = ["MemoryProfileCache", "ProfileCache", "StoreProfileCache", "profile_key", "side_profile"]

_ENGINE_HEX = object_hex(hash_bytes(ENGINE.encode()))
_SLICE_ROWS = 262_144  # rows of a streamed SOURCE profiled at a time
_WORKERS = max(2, min(4, os.cpu_count() or 2))


def profile_key(chunk_fingerprint: str) -> str:
    """``stats/<engine hex>/<chunk fingerprint hex>.json``."""
    return f"stats/{_ENGINE_HEX}/{object_hex(chunk_fingerprint)}.json"


class ProfileCache(Protocol):
    def get(self, chunk_fingerprint: str) -> Profile | None: ...

    def put(self, chunk_fingerprint: str, profile: Profile) -> None: ...


class MemoryProfileCache:
    """A dict-backed cache (tests, one-off runs)."""

    def __init__(self) -> None:
        self.entries: dict[str, Profile] = {}
        self.computed = 0
        self._lock = threading.Lock()

    def get(self, chunk_fingerprint: str) -> Profile | None:
        return self.entries.get(chunk_fingerprint)

    def put(self, chunk_fingerprint: str, profile: Profile) -> None:
        with self._lock:
            self.computed += 1
            self.entries[chunk_fingerprint] = profile


class StoreProfileCache:
    """Chunk profiles in a repository's store, written create-only; misses are never errors."""

    def __init__(self, store: Any) -> None:
        self.store = store
        self.computed = 0  # chunk profiles computed (not found in the cache) by this object
        self._lock = threading.Lock()

    def get(self, chunk_fingerprint: str) -> Profile | None:
        try:
            data = self.store.read(profile_key(chunk_fingerprint))
        except (NotFoundError, StorageError, ValueError):
            return None
        return Profile.decode(data)

    def put(self, chunk_fingerprint: str, profile: Profile) -> None:
        with self._lock:
            self.computed += 1
        # A read-only repository, or a fingerprint that is not xxh128: not remembered.
        with contextlib.suppress(ValueError, StorageError):
            self.store.put_object(profile_key(chunk_fingerprint), profile.encode())


def side_profile(side: Side, cache: ProfileCache | None) -> Profile:
    """The merged profile of every row of ``side`` (chunk profiles cached by fingerprint)."""
    if not side.chunked:
        return _stream_profile(side)
    found: list[Profile | None] = []
    for chunk in side.chunks:
        prof = cache.get(chunk.fingerprint) if cache is not None else None
        if prof is not None and (
            prof.rows != chunk.rows or set(prof.columns) != set(side.schema.names)
        ):
            prof = None
        found.append(prof)
    missing = [i for i, p in enumerate(found) if p is None]
    if missing:
        # Chunks are profiled a few at a time, each on its own cursor (DuckDB and the
        # Parquet reader release the GIL); memory holds at most that many chunks.
        # One DuckDB thread per worker: the workers are the parallelism.
        con = sql.connect(threads=1)
        local = threading.local()

        def work(i: int) -> Profile:
            if not hasattr(local, "cursor"):
                local.cursor = con.cursor()
            prof = _chunk_profile(local.cursor, side, side.chunks[i], f"dv_chunk_{i}")
            if cache is not None:  # written here, so one worker's fsync overlaps another's work
                cache.put(side.chunks[i].fingerprint, prof)
            return prof

        try:
            with ThreadPoolExecutor(_WORKERS, thread_name_prefix="dvtool-profile") as pool:
                for i, prof in zip(missing, pool.map(work, missing), strict=True):
                    found[i] = prof
        finally:
            con.close()
    total: Profile | None = None
    for prof in found:  # merged in chunk order, so the result does not depend on threads
        assert prof is not None
        total = prof if total is None else total.merge(prof)
    return total if total is not None else _empty(side.schema)


def _empty(schema: pa.Schema) -> Profile:
    con = sql.connect()
    try:
        empty = schema.empty_table()
        con.register("dv_empty", empty)
        return profile_table(con, "dv_empty", schema, empty)
    finally:
        con.close()


def _chunk_profile(con: Any, side: Side, chunk: ChunkInfo, name: str = "dv_chunk") -> Profile:
    path = side.verified_path(chunk) if side.verified_path is not None else None
    if path is not None:
        # A local chunk (verified): DuckDB scans the file itself; pyarrow decodes only the
        # numeric columns for numpy, on one thread (the workers are the parallelism, and
        # pyarrow's own pool costs three times the CPU on a busy two-core machine).
        numeric = [f.name for f in side.schema if column_kind(f.type)[0]]
        table = pq.read_table(path, columns=numeric, use_threads=False, pre_buffer=False)
        return profile_table(con, sql.parquet_scan([path]), side.schema, table)
    if side.load is None:
        raise UsageError(f"{side.label}: no way to read chunk {chunk.object}")
    table = side.load(chunk).select(side.schema.names)
    con.register(name, table)
    try:
        return profile_table(con, name, side.schema, table)
    finally:
        con.unregister(name)


def _slices(reader: pa.RecordBatchReader) -> Iterator[pa.Table]:
    held: list[pa.RecordBatch] = []
    rows = 0
    for batch in reader:
        held.append(batch)
        rows += batch.num_rows
        if rows >= _SLICE_ROWS:
            yield pa.Table.from_batches(held, schema=reader.schema)
            held, rows = [], 0
    if held:
        yield pa.Table.from_batches(held, schema=reader.schema)


def _stream_profile(side: Side) -> Profile:
    assert side.stream is not None
    try:
        reader = side.stream()
        schema = reader.schema
    except Exception as exc:  # a one-shot reader already consumed by the row comparison
        raise UsageError(f"cannot read {side.label} again for statistics: {exc}") from None
    con = sql.connect()
    total: Profile | None = None
    try:
        for part in _slices(reader):
            con.register("dv_slice", part)
            prof = profile_table(con, "dv_slice", schema, part)
            con.unregister("dv_slice")
            total = prof if total is None else total.merge(prof)
    finally:
        con.close()
    return total if total is not None else _empty(side.schema)


def chunk_fingerprints(chunks: Sequence[ChunkInfo]) -> list[str]:
    return [c.fingerprint for c in chunks]
