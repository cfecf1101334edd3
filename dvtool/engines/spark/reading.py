"""A snapshot's chunks as a Spark DataFrame, verified, in the manifest's schema.

Two ways in, chosen by where the repository is:

* a local folder: the driver re-hashes each chunk (threads; xxh3 runs at
  memory speed) and hands the files to ``spark.read.parquet`` — Spark's own
  vectorised reader, with column pruning;
* an object store (``s3://``, ``gs://``, …): Spark's ``s3a`` connector needs
  hadoop-aws jars and credentials of its own, so the executors read the
  chunk files themselves through fsspec with the repository's
  ``--storage-option``s (``mapInArrow``): fetch the bytes, check them against
  the chunk id, decode with pyarrow. The credentials travel to the executors
  inside the task, as they would in a Hadoop configuration.

``positions=True`` adds ``__dvtool_pos``: the row's position in the snapshot
(chunk offset + row within the chunk), so reports name the same rows as the
embedded engine.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from dvtool.errors import UsageError
from dvtool.format.layout import object_key
from dvtool.format.models import ChunkInfo

if TYPE_CHECKING:
    from dvtool.snapshot import Snapshot

__all__ = ["POS", "ChunkSource", "chunk_frame", "spark_schema", "store_location"]

POS = "__dvtool_pos"
_VERIFY_THREADS = max(2, min(8, os.cpu_count() or 2))


def spark_schema(schema: pa.Schema) -> Any:
    """The Spark StructType of an Arrow schema (timestamps without a zone stay zone-less)."""
    from pyspark.sql.pandas.types import from_arrow_schema

    try:
        return from_arrow_schema(schema, prefer_timestamp_ntz=True)
    except Exception as exc:  # a type Spark has no counterpart for
        raise UsageError(
            f"the spark engine cannot represent this schema: {str(exc).splitlines()[0]}"
        ) from None


def store_location(store: Any, storage_options: dict[str, str]) -> tuple[str, dict[str, str]]:
    """(URL, options) to re-open ``store`` in another process; in-memory stores are refused."""
    url = str(store.url)
    if url.startswith("memory://"):
        raise UsageError(
            "the spark engine needs a repository that Spark's executors can reach "
            "(a folder or an object store), not memory://"
        )
    return url, dict(storage_options)


class ChunkSource:
    """Which chunks of which snapshot, and how executors get at them."""

    def __init__(
        self,
        snap: Snapshot,
        storage_options: dict[str, str],
        chunks: Sequence[ChunkInfo] | None = None,
    ) -> None:
        self.snap = snap
        self.chunks = tuple(snap.chunks if chunks is None else chunks)
        self.schema = snap.schema
        self.url, self.options = store_location(snap.store, storage_options)
        offsets: dict[str, int] = {}
        at = 0
        for c in snap.chunks:
            offsets.setdefault(c.object, at)
            at += c.rows
        self.offsets = offsets  # first position of each object in the snapshot

    @property
    def local(self) -> bool:
        return all(
            self.snap.store.local_path(object_key(c.object)) is not None for c in self.chunks
        )


def chunk_frame(spark: Any, source: ChunkSource, *, positions: bool = False) -> Any:
    """The rows of ``source.chunks`` as a DataFrame (optionally with ``__dvtool_pos``)."""
    schema = spark_schema(source.schema)
    if not source.chunks:
        from pyspark.sql.types import LongType, StructField, StructType

        fields = list(schema.fields) + ([StructField(POS, LongType(), False)] if positions else [])
        return spark.createDataFrame([], StructType(fields))
    objects = [c.object for c in source.chunks]
    # A patched chunk (format 2) is its base file with its patch applied: executors apply it.
    patched = any(source.snap.has_patch(c) for c in source.chunks)
    if source.local and len(set(objects)) == len(objects) and not patched:
        return _native(spark, source, schema, positions)
    return _mapped(spark, source, schema, positions)


def _patch_slices(source: ChunkSource) -> dict[int, tuple[bytes, bytes]]:
    """Task number → (upserts, removed) rows of its chunk's patch, as Arrow IPC bytes (small)."""
    from dvtool.readplan import load_patch, patch_slices

    snap = source.snap
    if snap.manifest.patch is None:
        return {}
    tables = load_patch(snap.store, snap.manifest)
    index = {r.logical: r.chunk for r in snap.manifest.patch.ranges}
    out = {}
    for i, c in enumerate(source.chunks):
        if c in index:
            slices = patch_slices(snap.manifest, tables, index[c])
            assert slices is not None
            out[i] = (_ipc(slices[0]), _ipc(slices[1].select(list(snap.key))))
    return out


def _ipc(table: pa.Table) -> bytes:
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return bytes(sink.getvalue().to_pybytes())


def _native(spark: Any, source: ChunkSource, schema: Any, positions: bool) -> Any:
    from pyspark.sql import functions as F

    store = source.snap.store

    def verified(chunk: ChunkInfo) -> str:
        key = object_key(chunk.object)
        store.read_verified(key, chunk.object)  # Spark reads the file: check it first
        path = store.local_path(key)
        assert path is not None
        return path

    with ThreadPoolExecutor(
        max_workers=_VERIFY_THREADS, thread_name_prefix="dvtool-spark-verify"
    ) as pool:
        paths = list(pool.map(verified, source.chunks))
    df = spark.read.schema(schema).parquet(*paths)
    if not positions:
        return df
    # Chunk files are named by their object id, so the file name finds the chunk's offset.
    names = {
        os.path.basename(p): source.offsets[c.object]
        for p, c in zip(paths, source.chunks, strict=True)
    }
    mapping = F.create_map(*[x for name, off in names.items() for x in (F.lit(name), F.lit(off))])
    pos = (mapping[F.col("_metadata.file_name")] + F.col("_metadata.row_index")).cast("long")
    return df.select(*[F.col(f"`{n}`") for n in df.columns], pos.alias(POS))


def _mapped(spark: Any, source: ChunkSource, schema: Any, positions: bool) -> Any:
    from pyspark.sql.types import LongType, StructField, StructType

    arrow_schema = source.schema
    url, options = source.url, source.options
    rows, at = [], 0
    starts: dict[str, list[int]] = {}
    for c in source.snap.chunks:
        starts.setdefault(c.object, []).append(at)
        at += c.rows
    used: dict[str, int] = {}
    for i, c in enumerate(source.chunks):
        # The same object may appear twice in a manifest: give each occurrence its own offset.
        n = used.get(c.object, 0)
        used[c.object] = n + 1
        offset = starts[c.object][min(n, len(starts[c.object]) - 1)]
        rows.append((i, c.object, offset))
    out_fields = list(schema.fields) + ([StructField(POS, LongType(), False)] if positions else [])
    tasks = spark.createDataFrame(rows, "i long, object string, offset long").repartition(
        max(1, min(len(rows), spark.sparkContext.defaultParallelism * 4)), "i"
    )

    patches, key = _patch_slices(source), source.snap.key

    def read(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        yield from read_chunks(batches, url, options, arrow_schema, positions, patches, key)

    return tasks.mapInArrow(read, StructType(out_fields))


def read_chunks(
    batches: Iterator[pa.RecordBatch],
    url: str,
    options: dict[str, str],
    schema: pa.Schema,
    positions: bool,
    patches: dict[int, tuple[bytes, bytes]] | None = None,
    key: Sequence[str] = (),
) -> Iterator[pa.RecordBatch]:
    """Executor side of :func:`_mapped`: read, verify and decode each listed chunk (and apply its patch)."""
    import pyarrow.parquet as pq

    from dvtool.errors import IntegrityError
    from dvtool.readplan import apply_patch
    from dvtool.storage import open_store

    store = open_store(url, options)
    for batch in batches:
        tasks = zip(
            batch.column("i").to_pylist(),
            batch.column("object").to_pylist(),
            batch.column("offset").to_pylist(),
            strict=True,
        )
        for i, obj, offset in tasks:
            data = store.read_verified(object_key(obj), obj)
            try:
                table = pq.read_table(pa.BufferReader(data))
            except (pa.ArrowInvalid, OSError) as exc:
                raise IntegrityError(f"object {obj} is not readable Parquet ({exc})") from None
            if not table.schema.equals(schema):
                table = table.select(schema.names).cast(schema)
            if patches and i in patches:
                upserts, removed = (
                    pa.ipc.open_stream(pa.py_buffer(b)).read_all() for b in patches[i]
                )
                table = apply_patch(table, upserts.cast(schema), removed, key)
            if positions:
                table = table.append_column(
                    POS, pa.array(range(offset, offset + table.num_rows), pa.int64())
                )
            yield from table.to_batches(max_chunksize=65536)
