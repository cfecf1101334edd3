"""Snapshot of a Spark DataFrame: executors chunk, encode, hash and store; the driver commits.

The executors do the heavy part in parallel. The DataFrame is range-partitioned
and sorted by the key (keyless data keeps its partitions' order); each
partition is cut into chunks with the embedded engine's chunker
(:class:`dvtool.ingest.chunking.Cutter`: the same content rule and sizes, the
parent's chunking and, with a key, the parent's chunk ends), and each new chunk is encoded with the
same Parquet settings, hashed, and written create-only straight to the
repository's store. Chunks whose fingerprint the parent already has are not
written again. The driver collects the chunk list and commits the version as
a local snapshot does (manifest, then the create-only version entry).

What stays on the driver, and why:

* Key checks (nulls, duplicates) run first, in Spark SQL, so bad input writes
  nothing.
* The data fingerprint is, by the format, one xxh3 stream per column over all
  rows in order (:class:`dvtool.ingest.fingerprint.ColumnsHasher`), so it is
  independent of where chunks were cut but cannot be split across machines:
  the driver reads the committed chunk files back once, in order, a few at a
  time (memory bounded by a few chunks). That is what makes a Spark snapshot
  and a local snapshot of the same rows agree ("unchanged") although Spark
  cuts chunks at partition edges where a local run would not.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import pyarrow as pa

from dvtool.engines.spark.sqltext import ident, job_error
from dvtool.errors import DataError, DvtoolError, UsageError
from dvtool.format.layout import object_key
from dvtool.format.models import ChunkInfo, Chunking, Manifest

__all__ = ["SparkDraft", "arrow_schema_of", "build_spark_draft", "check_key", "fingerprint_chunks"]

_OUT = "part int, seq int, fingerprint string, info string, written long"


@dataclass(frozen=True, slots=True)
class SparkDraft:
    """A manifest draft written by Spark's executors: new chunks are already in the store."""

    manifest: Manifest
    new_chunks: int
    bytes_written: int


def arrow_schema_of(frame: Any) -> pa.Schema:
    """The normalised Arrow schema dvtool stores for a Spark DataFrame's columns."""
    from pyspark.sql.pandas.types import to_arrow_schema

    from dvtool.ingest.sources import normalise_schema

    try:
        schema = to_arrow_schema(frame.schema, timezone="UTC")
    except Exception as exc:  # a Spark type with no Arrow counterpart
        raise UsageError(f"cannot snapshot this DataFrame: {str(exc).splitlines()[0]}") from None
    return normalise_schema(schema)


def check_key(frame: Any, key: Sequence[str]) -> DataError | None:
    """Null and duplicate keys, counted as the local writer's KeyCheck counts them."""
    from pyspark.sql import functions as F

    cols = [F.col(ident(k)) for k in key]
    nulls = frame.agg(*[F.count_if(c.isNull()) for c in cols]).collect()[0]
    if any(nulls):
        detail = ", ".join(
            f"'{k}' has {n} null value{'s' * (n != 1)}"
            for k, n in zip(key, nulls, strict=True)
            if n
        )
        return DataError(f"key {', '.join(key)} has nulls: {detail}; nothing was committed")
    groups = frame.groupBy(*cols).agg(F.count(F.lit(1)).alias("__n")).where(F.col("__n") > 1)
    total = int(groups.agg(F.coalesce(F.sum(F.col("__n") - 1), F.lit(0))).collect()[0][0])
    if not total:
        return None
    first = groups.orderBy(*[F.col(ident(k)).asc() for k in key]).limit(5).toArrow().to_pylist()
    examples: list[Any] = []
    for row in first:
        value = row[key[0]] if len(key) == 1 else tuple(row[k] for k in key)
        examples.extend([value] * (int(row["__n"]) - 1))
    shown = ", ".join(repr(e) for e in examples[:5])
    return DataError(
        f"key ({', '.join(key)}) is not unique: {total} duplicate row{'s' * (total != 1)} "
        f"(e.g. {shown}); nothing was committed"
    )


def _write_partitions(
    batches: Iterator[pa.RecordBatch],
    *,
    url: str,
    options: dict[str, str],
    schema: pa.Schema,
    key: tuple[str, ...],
    chunking: Chunking,
    parent: Manifest | None,
    reuse: frozenset[str],
) -> Iterator[pa.RecordBatch]:
    """Executor side: cut this partition's rows into chunks, store the new ones, describe them."""
    from pyspark import TaskContext

    from dvtool.ingest import chunking as ck
    from dvtool.ingest.encoding import encode_new_chunk
    from dvtool.ingest.fingerprint import ColumnsHasher
    from dvtool.ingest.sources import conform
    from dvtool.storage import open_store

    context = TaskContext.get()
    part = context.partitionId() if context is not None else 0
    store = open_store(url, options)
    hash_columns = list(key) if key else schema.names[:4]
    rows: dict[str, list[Any]] = {
        "part": [],
        "seq": [],
        "fingerprint": [],
        "info": [],
        "written": [],
    }

    def conformed() -> Iterator[pa.RecordBatch]:
        for b in batches:
            if b.num_rows:
                yield conform(b.rename_columns(schema.names), schema, "Spark partition")

    # With a key the parent's chunk ends are key values, so every partition cuts at
    # those in its range; without one they are row counts, which a partition cannot know.
    boundaries = ck.parent_boundaries(parent, key, schema) if key else []
    cutter = ck.Cutter(chunking, hash_columns, key, boundaries)
    for seq, cut in enumerate(cutter.cut(conformed())):
        table = cut.table
        fp = ColumnsHasher(schema)
        fp.update(table)
        fingerprint = fp.hexdigest()
        info_text, written = "", 0
        if fingerprint not in reuse:
            info, data = encode_new_chunk(table, fingerprint, key)
            if store.put_object(object_key(info.object), data):
                written = len(data)
            info_text = json.dumps(info.to_dict())
        for name, value in (
            ("part", part),
            ("seq", seq),
            ("fingerprint", fingerprint),
            ("info", info_text),
            ("written", written),
        ):
            rows[name].append(value)
    yield pa.RecordBatch.from_pydict(
        rows,
        schema=pa.schema(
            [
                ("part", pa.int32()),
                ("seq", pa.int32()),
                ("fingerprint", pa.string()),
                ("info", pa.string()),
                ("written", pa.int64()),
            ]
        ),
    )


def build_spark_draft(
    frame: Any,
    *,
    store: Any,
    url: str,
    options: dict[str, str],
    dataset: str,
    key: tuple[str, ...],
    parent: Manifest | None,
    partitions: int | None = None,
) -> SparkDraft:
    """Chunk and store ``frame`` on the executors; return the manifest draft (not committed)."""
    from dvtool.ingest import chunking as ck
    from dvtool.ingest.sources import conform

    schema = arrow_schema_of(frame)
    names = schema.names
    frame = frame.toDF(*[f"c{i}" for i in range(len(names))])  # odd names stay data, never SQL
    inner_key = tuple(f"c{names.index(k)}" for k in key)
    try:
        if parent is not None and parent.chunking.strategy == ("cdc-key" if key else "cdc-row"):
            chunking = parent.chunking
        else:
            sample = frame.limit(4096).toArrow()
            if sample.num_rows:
                batch = conform(
                    sample.rename_columns(names).combine_chunks().to_batches()[0], schema, "sample"
                )
                chunking = ck.choose_chunking(schema, batch, bool(key))
            else:
                chunking = Chunking("cdc-key" if key else "cdc-row", 16384, 4096, 65536)
        if key:
            n = partitions or max(1, frame.sparkSession.sparkContext.defaultParallelism)
            ordered = frame.repartitionByRange(n, *inner_key).sortWithinPartitions(*inner_key)
        else:
            ordered = frame
        reuse = (
            frozenset(c.fingerprint for c in parent.chunks) if parent is not None else frozenset()
        )

        def run(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
            yield from _write_partitions(
                batches, url=url, options=options, schema=schema, key=key,
                chunking=chunking, parent=parent, reuse=reuse,
            )  # fmt: skip

        described = ordered.mapInArrow(run, _OUT).toArrow().to_pylist()
    except DvtoolError:
        raise
    except Exception as exc:
        raise job_error(exc, "snapshot") from None
    described.sort(key=lambda r: (r["part"], r["seq"]))
    known = {c.fingerprint: c for c in parent.chunks} if parent is not None else {}
    chunks: list[ChunkInfo] = []
    new_chunks = bytes_written = 0
    for r in described:
        if r["info"]:
            chunks.append(ChunkInfo.from_dict(json.loads(r["info"])))
            if r["written"]:
                new_chunks += 1
                bytes_written += int(r["written"])
        else:
            chunks.append(known[r["fingerprint"]])
    rows = sum(c.rows for c in chunks)
    draft = Manifest(
        dataset=dataset, version=0, parent=None, created="", message="", meta=(), key=key, schema=schema,
        rows=rows, bytes=sum(c.bytes for c in chunks), fingerprint=fingerprint_chunks(store, schema, chunks),
        chunking=chunking, chunks=tuple(chunks),
    )  # fmt: skip
    return SparkDraft(draft, new_chunks, bytes_written)


def fingerprint_chunks(
    store: Any, schema: pa.Schema, chunks: Sequence[ChunkInfo], *, ahead: int = 4
) -> str:
    """The data fingerprint of ``chunks`` in order, read back (verified) a few at a time."""
    import pyarrow.parquet as pq

    from dvtool.ingest.fingerprint import ColumnsHasher

    def load(chunk: ChunkInfo) -> pa.Table:
        data = store.read_verified(object_key(chunk.object), chunk.object)
        table = pq.read_table(pa.BufferReader(data))
        return table if table.schema.equals(schema) else table.cast(schema)

    hasher = ColumnsHasher(schema)
    with ThreadPoolExecutor(
        max_workers=ahead, thread_name_prefix="dvtool-spark-fingerprint"
    ) as pool:
        pending = []
        todo = iter(chunks)
        for chunk in todo:
            pending.append(pool.submit(load, chunk))
            if len(pending) >= ahead:
                break
        while pending:
            table = pending.pop(0).result()
            nxt = next(todo, None)
            if nxt is not None:
                pending.append(pool.submit(load, nxt))
            hasher.update(table)
    return hasher.hexdigest()
