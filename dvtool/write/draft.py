"""The write path of a snapshot: stream rows into chunks, check the key, stage new objects.

Nothing here touches the repository: new chunk bytes are staged (memory,
then a temp folder) and the caller publishes them only once every check
passed, so a failed snapshot leaves the repository byte-for-byte unchanged.
"""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import pyarrow as pa

from dvtool.errors import DataError, UsageError
from dvtool.format.models import ChunkInfo, Chunking, Manifest
from dvtool.ingest.fingerprint import ColumnsHasher
from dvtool.ingest.sources import Source
from dvtool.write.staging import Staging

__all__ = ["KeyCheck", "build_draft", "encode_workers"]

if TYPE_CHECKING:
    from dvtool.write.resume import Checkpoints, ResumePoint


class Unsorted(Exception):
    """The input turned out not to be ordered by the key: sort it and start again."""


@dataclass(slots=True)
class KeyCheck:
    """Counts null and duplicate keys across a sorted stream."""

    key: tuple[str, ...]
    require_sorted: bool = False
    nulls: dict[str, int] = field(default_factory=dict)
    duplicates: int = 0
    examples: list[Any] = field(default_factory=list)
    last: pa.Table | None = None
    odd: dict[str, int] = field(default_factory=dict)  # NaN or -0.0 in a float key column

    def update(self, table: pa.Table) -> None:
        import pyarrow.compute as pc

        keys = table.select(list(self.key))
        joined = pa.concat_tables([self.last, keys]) if self.last is not None else keys
        if self._update_numeric(joined):
            self.last = keys.slice(keys.num_rows - 1, 1) if keys.num_rows else self.last
            return
        if self.require_sorted:
            from dvtool.ingest.sources import table_sorted

            ordered = keys if self.last is None else pa.concat_tables([self.last, keys])
            if any(keys.column(k).null_count for k in self.key) or not table_sorted(
                ordered, self.key
            ):
                raise Unsorted()
        for name in self.key:
            nulls = keys.column(name).null_count
            if nulls:
                self.nulls[name] = self.nulls.get(name, 0) + nulls
            if pa.types.is_floating(keys.schema.field(name).type):
                odd = _nan_or_negative_zero(keys.column(name))
                if odd:
                    self.odd[name] = self.odd.get(name, 0) + odd
        if joined.num_rows >= 2:
            same = None
            for name in self.key:
                col = joined.column(name)
                eq = pc.equal(col.slice(0, len(col) - 1), col.slice(1))
                eq = pc.fill_null(eq, False)
                same = eq if same is None else pc.and_(same, eq)
            assert same is not None
            count = pc.sum(same).as_py() or 0
            if count:
                self.duplicates += count
                if len(self.examples) < 5:
                    idx = pc.indices_nonzero(same).to_pylist()[: 5 - len(self.examples)]
                    for i in idx:
                        row = joined.slice(i + 1, 1).to_pylist()[0]
                        self.examples.append(
                            row[self.key[0]] if len(self.key) == 1 else tuple(row.values())
                        )
        self.last = keys.slice(keys.num_rows - 1, 1) if keys.num_rows else self.last

    def _update_numeric(self, joined: pa.Table) -> bool:
        """Order and duplicates in one numpy pass, for keys of integers, dates and times without nulls.

        Returns False (nothing done) for other keys; the Arrow path handles them.
        """
        import numpy as np

        columns = []
        for name in self.key:
            col = joined.column(name)
            typ = col.type
            if (
                col.null_count
                or not (pa.types.is_integer(typ) or pa.types.is_temporal(typ))
                or pa.types.is_interval(typ)
            ):
                return False
            arr = col.combine_chunks()
            width = typ.bit_width // 8
            kind = "u" if pa.types.is_unsigned_integer(typ) else "i"
            columns.append(
                np.frombuffer(arr.buffers()[1], dtype=f"{kind}{width}")[
                    arr.offset : arr.offset + len(arr)
                ]
            )
        if len(joined) < 2:
            return True
        same = None  # rows whose key equals the previous row's, column by column
        for values in columns:
            before, after = values[:-1], values[1:]
            greater = before > after
            if self.require_sorted and (greater if same is None else same & greater).any():
                raise Unsorted()
            equal = before == after
            same = equal if same is None else same & equal
        assert same is not None
        count = int(same.sum())
        if count:
            self.duplicates += count
            for i in np.flatnonzero(same)[: max(0, 5 - len(self.examples))]:
                row = joined.slice(int(i) + 1, 1).to_pylist()[0]
                self.examples.append(
                    row[self.key[0]] if len(self.key) == 1 else tuple(row.values())
                )
        return True

    def problem(self) -> DataError | None:
        """The key failure to report (nulls first, then duplicates), or None."""
        if self.nulls:
            detail = ", ".join(
                f"'{k}' has {n} null value{'s' * (n != 1)}" for k, n in self.nulls.items()
            )
            return DataError(
                f"key {', '.join(self.key)} has nulls: {detail}; nothing was committed"
            )
        if self.odd:
            detail = ", ".join(f"'{k}' has {n}" for k, n in self.odd.items())
            return DataError(
                f"key {', '.join(self.key)} holds NaN or -0.0 ({detail}): NaN is not equal to itself "
                "and -0.0 equals 0.0, so neither can identify a row; nothing was committed"
            )
        if self.duplicates:
            shown = ", ".join(repr(e) for e in self.examples)
            return DataError(
                f"key ({', '.join(self.key)}) is not unique: {self.duplicates} duplicate row"
                f"{'s' * (self.duplicates != 1)} (e.g. {shown}); nothing was committed"
            )
        return None


def _nan_or_negative_zero(column: pa.ChunkedArray) -> int:
    """How many values of a float column are NaN or -0.0 (nulls are counted elsewhere).

    (float16 never gets here: sources conform it to float32, dvtool.ingest.types.)
    """
    import numpy as np

    values = column.fill_null(1.0).to_numpy()
    return int(np.count_nonzero(np.isnan(values) | ((values == 0) & np.signbit(values))))


def build_draft(
    src: Source,
    dataset: str,
    key: tuple[str, ...],
    parent: Manifest | None,
    staging: Staging,
    progress: Callable[[int], None] | None,
    resume: ResumePoint | None = None,
    checkpoints: Checkpoints | None = None,
) -> tuple[Manifest, DataError | None]:
    """Stream the source into chunks; stage new ones. Returns a manifest draft.

    With a key, rows must be ordered by it. Re-readable inputs (files, tables,
    frames) are streamed optimistically, checking the order as they go (no
    extra pass when they are sorted, as appended data usually is); at the
    first row out of order the staged work is dropped and the input is read
    again through DuckDB's external sort. One-pass inputs (stdin, a
    RecordBatchReader) go through the sort directly.

    ``resume`` (dvtool.write.resume) starts after rows the parent already
    holds; the sort, when needed, always reads everything. ``checkpoints``
    collects fingerprint states at chunk ends for the next version.
    """
    if key:
        if src.rereadable:
            try:
                return _build_pass(
                    src, dataset, key, parent, staging, progress, "guard", resume, checkpoints
                )
            except Unsorted:
                staging.close()
        return _build_pass(src, dataset, key, parent, staging, progress, "sort", None, checkpoints)
    return _build_pass(src, dataset, key, parent, staging, progress, "direct", resume, checkpoints)


def _build_pass(
    src: Source,
    dataset: str,
    key: tuple[str, ...],
    parent: Manifest | None,
    staging: Staging,
    progress: Callable[[int], None] | None,
    mode: Literal["direct", "guard", "sort"],
    resume: ResumePoint | None,
    checkpoints: Checkpoints | None,
) -> tuple[Manifest, DataError | None]:
    from dvtool.ingest import chunking as ck
    from dvtool.ingest.encoding import encode_new_chunk

    schema = src.schema
    con = None
    batches: Iterator[pa.RecordBatch]
    if mode == "sort":
        from dvtool.sql import sorted_reader

        reader, con = sorted_reader(src.reader(), key)
        batches = (_conform_sorted(b, schema) for b in reader)
    elif resume is not None:
        batches = resume.batches
    else:
        batches = src.batches()
    try:
        first = next(batches, None)
        reuse = {c.fingerprint: c for c in parent.chunks} if parent else {}
        if parent is not None and parent.chunking.strategy == ("cdc-key" if key else "cdc-row"):
            chunking = parent.chunking
        elif first is not None:
            chunking = ck.choose_chunking(schema, first, bool(key))
        else:
            chunking = Chunking("cdc-key" if key else "cdc-row", 16384, 4096, 65536)
        hash_columns = list(key) if key else schema.names[:4]
        cutter = ck.Cutter(chunking, hash_columns, key, ck.parent_boundaries(parent, key, schema))

        def stream() -> Iterator[pa.RecordBatch]:
            if first is not None:
                yield first
            yield from batches

        hasher = ColumnsHasher(schema)
        checker = KeyCheck(key, require_sorted=mode == "guard") if key else None
        chunks: list[ChunkInfo | None] = []
        rows = 0
        if resume is not None and mode != "sort":
            # The rows before resume.at are the parent's: its chunks, its fingerprint state.
            hasher = resume.hasher
            chunks = list(resume.kept)
            rows = resume.at
            cutter.resume(resume.boundary, resume.at)
            if checker is not None:
                checker.last = resume.last_key
            if progress is not None:
                progress(resume.at)
        # Parquet encoding is the real cost and releases the GIL: encode new
        # chunks on every core while this thread reads, cuts and hashes.
        workers = encode_workers()
        inflight: deque[tuple[int, Future[tuple[ChunkInfo, bytes | str]]]] = deque()

        def settle(limit: int) -> None:
            while len(inflight) > limit:
                index, future = inflight.popleft()
                info, prepared = future.result()
                staging.add(info.object, prepared)
                chunks[index] = info

        def encode(table: pa.Table, fingerprint: str) -> tuple[ChunkInfo, bytes | str]:
            info, data = encode_new_chunk(table, fingerprint, key)
            return info, staging.prepare(info.object, data)

        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="dvtool-encode") as pool:
            try:
                for cut in cutter.cut(stream()):
                    table = cut.table
                    fp = ColumnsHasher(schema)
                    hasher.update(table, also=fp)
                    if checker is not None:
                        checker.update(table)
                    fingerprint = fp.hexdigest()
                    rows += table.num_rows
                    reused = reuse.get(fingerprint)
                    if (
                        parent is not None
                        and cut.parent_chunk is not None
                        and (parent.chunks[cut.parent_chunk].fingerprint != fingerprint)
                    ):
                        cutter.diverged()  # keyless rows no longer follow the parent's
                    if reused is not None:
                        chunks.append(reused)
                    else:
                        chunks.append(None)
                        inflight.append((len(chunks) - 1, pool.submit(encode, table, fingerprint)))
                        settle(2 * workers)
                    if checkpoints is not None:
                        checkpoints.add(rows, hasher)
                    if progress is not None:
                        progress(table.num_rows)
                settle(0)
            except pa.ArrowInvalid as exc:
                raise UsageError(
                    f"cannot read {src.description}: {str(exc).splitlines()[0]}"
                ) from None
            finally:
                for _, future in inflight:
                    future.cancel()
        draft = Manifest(
            dataset=dataset,
            version=0,
            parent=None,
            created="",
            message="",
            meta=(),
            key=key,
            schema=schema,
            rows=rows,
            bytes=sum(c.bytes for c in chunks if c is not None),
            fingerprint=hasher.hexdigest(),
            chunking=chunking,
            chunks=tuple(c for c in chunks if c is not None),
        )
        return draft, (checker.problem() if checker is not None else None)
    finally:
        if con is not None:
            con.close()


def encode_workers() -> int:
    configured = os.environ.get("DVTOOL_THREADS")
    if configured and configured.isdigit() and int(configured) > 0:
        return int(configured)
    return max(1, min(8, os.cpu_count() or 1))


def _conform_sorted(batch: pa.RecordBatch, schema: pa.Schema) -> pa.RecordBatch:
    from dvtool.ingest.sources import conform

    return conform(batch, schema, "sorted input")
