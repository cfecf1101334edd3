"""The spark engine's entry points, called by :class:`dvtool.Repo` when ``engine="spark"``.

Each takes the repository as a plain object (it is the caller) and a
:class:`~dvtool.engines.SparkSettings`; each answers exactly what the
embedded engine answers for the same call (same report, same diff, same
rows), or refuses with a UsageError saying why.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from dvtool.engines import SparkSettings, is_spark_frame
from dvtool.engines.spark.reading import ChunkSource, chunk_frame, store_location
from dvtool.engines.spark.session import get_session
from dvtool.errors import UsageError
from dvtool.format.layout import tag_key
from dvtool.query import QueryResult

if TYPE_CHECKING:
    from dvtool.engines.spark.diff import SparkDiffEngine

__all__ = [
    "SparkSnapshot",
    "diff_engine",
    "source_frame",
    "spark_open_query",
    "spark_query",
    "spark_snapshot",
    "spark_validate",
]


def _refs_only(repo: Any, args: Sequence[Any], what: str) -> None:
    for arg in args:
        if not (isinstance(arg, str) and repo.is_ref(arg)):
            raise UsageError(
                f"{what} --engine spark works on snapshots (REFs); {arg!r} is not one "
                "(snapshot it first, or use --engine duckdb)"
            )


def spark_query(repo: Any, text: str, settings: SparkSettings) -> pa.Table:
    """``repo.query(sql, engine="spark")``."""
    from dvtool.engines.spark.query import run_spark_query

    spark = get_session(settings)
    names = repo.dataset_names()

    def frame_for(table: str) -> Any | None:
        snap = repo.catalog.query_table(table, names)
        if snap is None:
            return None
        return chunk_frame(spark, ChunkSource(snap, repo.storage_options))

    return run_spark_query(spark, text, frame_for, names)


class _Collected:
    """The result is already collected on the driver: nothing to close."""

    def close(self) -> None:
        return None


def spark_open_query(repo: Any, text: str, settings: SparkSettings) -> QueryResult:
    """``repo.open_query(sql, engine="spark")``: the collected result as a QueryResult."""
    return QueryResult(_Collected(), spark_query(repo, text, settings).to_reader())


def diff_engine(repo: Any, settings: SparkSettings) -> Callable[..., SparkDiffEngine]:
    """``repo.diff(..., engine="spark")``: the factory :func:`dvtool.diff.plan.diff` calls per diff.

    The plan (skipped chunks, key-range groups, tolerances, distributions) is
    the embedded engine's; only the rows of each group are compared in Spark.
    """
    from dvtool.engines.spark.diff import SparkDiffEngine

    def make(
        old: Any, new: Any, key: tuple[str, ...], limit: int, tolerances: Any
    ) -> SparkDiffEngine:
        snaps = []
        for side in (old, new):
            if not side.chunked:
                raise UsageError(
                    f"diff --engine spark works on snapshots (REFs); {side.label} is not one "
                    "(snapshot it first, or use --engine duckdb)"
                )
            snap = repo.get(side.label)  # a snapshot side is labelled NAME@vN
            store_location(snap.store, repo.storage_options)
            snaps.append(snap)
        return SparkDiffEngine(
            get_session(settings),
            (snaps[0], snaps[1]),
            repo.storage_options,
            old,
            new,
            key,
            limit,
            tolerances,
        )

    return make


def spark_validate(repo: Any, target: Any, loaded: Any, settings: SparkSettings) -> Any:
    """``repo.validate(REF, engine="spark")``: one Spark pass per check family, same report."""
    from dvtool.engines.spark.validate import validate_frame

    _refs_only(repo, [target], "validate")
    snap = repo.get(target)
    source = ChunkSource(snap, repo.storage_options)
    spark = get_session(settings)
    frame = chunk_frame(spark, source, positions=True)
    return validate_frame(
        spark, loaded, frame, schema=snap.schema, key=snap.key, target=snap.ref, chunks=snap.chunks,
        key_guaranteed=True, name=snap.dataset,
    )  # fmt: skip


def source_frame(
    spark: Any, sources: Any, *, format: str | None, storage_options: Mapping[str, str]
) -> Any:
    """A SOURCE (files, folder, glob, URL) as a DataFrame, each file read by dvtool's own reader on an executor.

    The same parser as a local snapshot, so the same columns, types and values,
    hence the same fingerprint.
    """
    from dvtool.engines.spark.reading import spark_schema
    from dvtool.ingest.sources import _expand, open_source

    listed = sources if isinstance(sources, list | tuple) else [sources]
    if not all(isinstance(s, str | os.PathLike) for s in listed):
        raise UsageError(
            f"--engine spark snapshots a Spark DataFrame or files, not a {type(sources).__name__}; "
            "use engine='duckdb' for in-memory tables and frames"
        )
    args = [os.fspath(s) for s in listed]
    if "-" in args:
        raise UsageError("--engine spark reads files, not standard input")
    options = dict(storage_options)
    src = open_source(args if len(args) > 1 else args[0], format=format, storage_options=options)
    schema = src.schema
    files: list[str] = []
    for arg in args:
        paths, fs = _expand(arg, options)
        if fs is not None:
            protocol = fs.protocol if isinstance(fs.protocol, str) else fs.protocol[0]
            paths = [p if "://" in p else f"{protocol}://{p}" for p in paths]
        else:
            paths = [os.path.abspath(p) for p in paths]
        files.extend(paths)

    def read(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        from dvtool.ingest.sources import conform, open_source

        for batch in batches:
            for path in batch.column("path").to_pylist():
                one = open_source(path, format=format, storage_options=options)
                for b in one.batches():
                    yield conform(b, schema, path)

    # One file per task, partitions in file order (keyless data keeps the input's row order).
    tasks = spark.createDataFrame([(i, f) for i, f in enumerate(files)], "i long, path string")
    tasks = tasks.repartitionByRange(max(1, len(files)), "i").sortWithinPartitions("i")
    return tasks.mapInArrow(read, spark_schema(schema))


@dataclass(frozen=True, slots=True)
class SparkSnapshot:
    """What a Spark snapshot did: the version holding the data, and whether it is new."""

    dataset: str
    version: int
    unchanged: bool
    new_chunks: int
    bytes_written: int

    @property
    def ref(self) -> str:
        return f"{self.dataset}@v{self.version}"


def spark_snapshot(
    repo: Any,
    source: Any,
    *,
    dataset: str,
    key: tuple[str, ...],
    message: str,
    meta: tuple[tuple[str, str], ...],
    tag: str | None,
    schema: Any,
    format: str | None,
    read: Any,
    settings: SparkSettings,
) -> SparkSnapshot:
    """``repo.snapshot(spark_df | SOURCE, engine="spark")``: executors write chunks, this process commits."""
    from dvtool.engines.spark.write import arrow_schema_of, build_spark_draft, check_key
    from dvtool.write.commit import commit_version
    from dvtool.write.pipeline import same_data

    if source is None:
        raise UsageError("--engine spark snapshots a SOURCE or a Spark DataFrame; name it")
    if schema is not None:
        raise UsageError(
            "--schema with --engine spark is not supported yet: snapshot, then run "
            "'dvtool validate NAME --schema FILE --engine spark'"
        )
    if read is not None:
        raise UsageError(
            "read options (--null-values, --delimiter, …) are not supported with --engine spark yet"
        )
    if tag is not None and repo.store.exists(tag_key(dataset, tag)):
        raise UsageError(f"tag '{tag}' already exists in {dataset}; tags are immutable")
    url, options = store_location(repo.store, repo.storage_options)
    frame = (
        source
        if is_spark_frame(source)
        else source_frame(get_session(settings), source, format=format, storage_options=options)
    )
    schema = arrow_schema_of(frame)
    if not schema.names:
        raise UsageError("the DataFrame has no columns")
    missing = [k for k in key if k not in schema.names]
    if missing:
        raise UsageError(
            f"column '{missing[0]}' in --key is not in the input (columns: {', '.join(schema.names[:20])})"
        )
    if len(set(schema.names)) != len(schema.names):
        dup = next(n for n in schema.names if schema.names.count(n) > 1)
        raise UsageError(f"the input has two columns named '{dup}'")
    if key:
        problem = check_key(frame, key)  # before anything is written
        if problem is not None:
            raise problem
    head = repo.catalog.head(dataset)
    parent = repo.catalog.manifest_of(head) if head else None
    # Commits rely on create-only writes: refuse a store that ignores them before executors write.
    repo.store.check_create_only()
    draft = build_spark_draft(
        frame, store=repo.store, url=url, options=options, dataset=dataset, key=key, parent=parent
    )
    if parent is not None and same_data(parent, draft.manifest):
        if tag is not None:
            repo.tag(f"{dataset}@v{parent.version}", tag)
        return SparkSnapshot(dataset, parent.version, True, 0, 0)

    def still_there() -> None:
        from dvtool.errors import StorageError
        from dvtool.format.layout import object_key

        for chunk in draft.manifest.chunks:
            if not repo.store.exists(object_key(chunk.object)):
                raise StorageError(
                    f"chunk {chunk.object} written by Spark is gone (a concurrent gc?); nothing was committed"
                )

    committed = commit_version(
        repo.store, dataset, draft.manifest, message=message, meta=meta, before_entry=still_there
    )
    if tag is not None:
        repo.tag(f"{dataset}@v{committed.manifest.version}", tag)
    return SparkSnapshot(
        dataset,
        committed.manifest.version,
        False,
        draft.new_chunks,
        draft.bytes_written + committed.bytes_written,
    )
