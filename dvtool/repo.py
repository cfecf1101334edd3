"""The Python API: a repository of versioned datasets (SPEC §3).

``Repo`` is the facade: it opens a repository, resolves REFs through the
catalog, and has one short method per verb, each handing the work to the
layer that owns it (``write`` for snapshots, ``validate``, ``diff``,
``query``, ``export``, ``ops``). It never prints. Modules that pull heavy
dependencies (pandera, DuckDB) are imported lazily inside the methods that
need them, so ``dvtool --help`` and ``dvtool log`` start fast.

The same jobs on files when there is no repository at all are in
:mod:`dvtool.standalone`.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, BinaryIO, cast

from dvtool.catalog import Catalog, create_repository, open_repository
from dvtool.engines import spark_api, spark_diff_engine, spark_settings
from dvtool.errors import (
    UsageError,
    ValidationFailed,
)
from dvtool.format.layout import check_name, tag_key
from dvtool.format.models import Manifest, TagEntry
from dvtool.results import SnapshotResult
from dvtool.snapshot import DatasetInfo, ExportResult, LogEntry, Snapshot
from dvtool.storage import Store, redact_url

if TYPE_CHECKING:
    from typing import TypeAlias

    import pandas
    import pandera.api.base.model
    import pandera.api.base.schema
    import polars
    import pyarrow as pa

    from dvtool.diff.report import Diff
    from dvtool.ingest.readoptions import ReadOptions
    from dvtool.ingest.sources import Source
    from dvtool.ops.fsck import FsckResult
    from dvtool.ops.gc import GcResult
    from dvtool.ops.prune import PruneResult
    from dvtool.ops.status import RepoStatus
    from dvtool.ops.transfer import TransferSummary
    from dvtool.query import QueryResult
    from dvtool.validate.report import ValidationReport
    from dvtool.validate.schema import LoadedSchema

if TYPE_CHECKING:
    # What a SOURCE may be: a path, URL or glob (or several), ``-`` for stdin, or data in memory.
    SourceLike: TypeAlias = (
        str
        | os.PathLike[str]
        | Sequence[str]
        | pa.Table
        | pa.RecordBatchReader
        | pandas.DataFrame
        | polars.DataFrame
    )
    # A schema: a YAML/JSON path, ``file.py:NAME``, a pandera schema or model, or one already loaded.
    SchemaLike: TypeAlias = (
        str
        | os.PathLike[str]
        | LoadedSchema
        | pandera.api.base.schema.BaseSchema
        | type[pandera.api.base.model.BaseModel]
    )

__all__ = [
    "DatasetInfo",
    "ExportResult",
    "LogEntry",
    "Repo",
    "Snapshot",
    "SnapshotResult",
]


class Repo:
    """A dvtool repository on a local folder or any fsspec URL."""

    def __init__(self, store: Store, *, storage_options: Mapping[str, str] | None = None) -> None:
        self.store = store
        self.catalog = Catalog(store)
        self.storage_options: dict[str, str] = dict(storage_options or {})

    @property
    def url(self) -> str:
        return redact_url(self.store.url)

    # ---- opening ----

    @classmethod
    def init(
        cls,
        url: str | os.PathLike[str] | None = None,
        *,
        storage_options: Mapping[str, str] | None = None,
    ) -> Repo:
        """Create a repository (default ``./.dvtool``); error if one exists there."""
        target = os.fspath(url) if url is not None else None
        return cls(create_repository(target, storage_options), storage_options=storage_options)

    @classmethod
    def open(
        cls,
        url: str | os.PathLike[str] | None = None,
        *,
        storage_options: Mapping[str, str] | None = None,
    ) -> Repo:
        """Open a repository: ``url``, else ``$DVTOOL_REPO``, else the nearest ``.dvtool/`` above."""
        target = os.fspath(url) if url is not None else None
        return cls(open_repository(target, storage_options), storage_options=storage_options)

    # ---- reading history (dvtool.catalog) ----

    def manifest(self, manifest_id: str) -> Manifest:
        return self.catalog.manifest(manifest_id)

    def dataset_names(self) -> list[str]:
        return self.catalog.dataset_names()

    def has_dataset(self, name: str) -> bool:
        return self.catalog.has_dataset(name)

    def is_ref(self, arg: str) -> bool:
        """REF vs SOURCE: an argument naming a dataset here (with or without ``@…``) is a REF.

        Anything else is a SOURCE; write ``./orders`` to force a path.
        """
        return self.catalog.is_ref(arg)

    def get(self, ref: str) -> Snapshot:
        """Resolve a REF (``NAME``, ``NAME@v3``, ``NAME@TAG``, ``NAME@<id prefix>``, ``NAME@~1``)."""
        return self.catalog.get(ref)

    def log(self, dataset: str, limit: int | None = None) -> list[LogEntry]:
        """Versions newest first."""
        check_name(dataset)
        versions = self.catalog.versions(dataset)
        if not versions:
            raise self.catalog.unknown_dataset(dataset)
        tags: dict[int, list[str]] = {}
        for t in self.catalog.tags(dataset):
            tags.setdefault(t.version, []).append(t.tag)
        pruned = self.catalog.pruned(dataset)
        out = []
        for v in versions[::-1][: limit if limit is not None else None]:
            e = self.catalog.entry(dataset, v)
            out.append(
                LogEntry(
                    dataset,
                    v,
                    e.manifest,
                    e.created,
                    e.rows,
                    e.message,
                    tuple(sorted(tags.get(v, []))),
                    v in pruned,
                )
            )
        return out

    def datasets(self) -> list[DatasetInfo]:
        out = []
        for name in self.catalog.dataset_names():
            head = self.catalog.head(name)
            if head is None:
                continue
            m = self.catalog.manifest(head.manifest)
            out.append(
                DatasetInfo(name, head.version, head.manifest, m.rows, m.bytes, head.created)
            )
        return out

    def open_source(
        self, source: SourceLike, *, format: str | None = None, read: ReadOptions | None = None
    ) -> Source:
        from dvtool.ingest.sources import open_source

        return open_source(source, format=format, storage_options=self.storage_options, read=read)

    # ---- diff and query ----

    def diff(
        self,
        old: SourceLike,
        new: SourceLike | None = None,
        *,
        key: Sequence[str] | None = None,
        limit: int = 10,
        stats: bool = False,
        abs_tol: float = 0.0,
        rel_tol: float = 0.0,
        tol: Mapping[str, str] | Sequence[str] | None = None,
        distributions: bool = False,
        policy: Any = None,
        schema: SchemaLike | None = None,
        read: ReadOptions | None = None,
        engine: str | None = None,
        spark: Any = None,
    ) -> Diff:
        """Compare two REFs or SOURCEs (``new=None``: a REF against its parent version).

        Chunks with the same fingerprint on both sides are never read. ``key=None``
        uses the key recorded at snapshot time; ``key=()`` compares whole rows.
        Review options (docs/diff.md): ``abs_tol``/``rel_tol``/``tol={"price": "abs:0.01"}``,
        ``distributions`` (cached per chunk), ``policy`` (file or dict; ``d.passed``),
        ``schema`` (both sides validated, REFs with cached verdicts; NEW failing makes
        ``d.passed`` False; without it ``d.validation`` holds the verdicts recorded at snapshot).
        """
        from dvtool.diff.plan import diff_in_catalog, review_options
        from dvtool.diffvalidation import load_diff_schema, with_validation

        loaded = load_diff_schema(schema)
        found = diff_in_catalog(
            self.catalog,
            old,
            new,
            key=key,
            limit=limit,
            stats=stats,
            storage_options=self.storage_options,
            read=read,
            engine=spark_diff_engine(self, engine, spark),
            **review_options(abs_tol, rel_tol, tol, distributions, policy),
        )

        def validate_ref(ref: str) -> ValidationReport:
            assert loaded is not None
            return self.validate(ref, schema=loaded, engine=engine, spark=spark)

        return with_validation(
            found,
            self.catalog,
            old,
            new,
            schema=loaded,
            validate_ref=validate_ref,
            read=read,
            storage_options=self.storage_options,
        )

    def query(self, sql: str, *, engine: str | None = None, spark: Any = None) -> pa.Table:
        """Run SQL (DuckDB's; Spark's with ``engine="spark"``); every dataset is a table by its name and ``"NAME@REF"``."""
        with self.open_query(sql, engine=engine, spark=spark) as result:
            return result.read_all()

    def open_query(self, sql: str, *, engine: str | None = None, spark: Any = None) -> QueryResult:
        """Like :meth:`query`, streaming (``with repo.open_query(sql) as r: r.reader``)."""
        from dvtool.query import open_catalog_query

        if (on_spark := spark_settings(engine, spark)) is not None:
            return cast("QueryResult", spark_api().spark_open_query(self, sql, on_spark))

        return open_catalog_query(self.catalog, sql)

    # ---- writing ----

    def tag(self, ref: str, tag: str) -> TagEntry:
        """Create an immutable tag; UsageError if it exists."""
        from dvtool.write.commit import create_tag

        check_name(tag, "tag")
        snap = self.get(ref)
        return create_tag(self.store, snap.dataset, snap.version, snap.id, tag)

    def snapshot(
        self,
        source: SourceLike | None,
        *,
        dataset: str,
        key: Sequence[str] = (),
        message: str = "",
        meta: Mapping[str, str] | None = None,
        tag: str | None = None,
        schema: str | None = None,
        format: str | None = None,
        read: ReadOptions | None = None,
        progress: Callable[[int], None] | None = None,
        engine: str | None = None,
        spark: Any = None,
    ) -> SnapshotResult:
        """Read, chunk, hash, store and commit the next version of ``dataset``.

        Identical data to the latest version commits nothing (``unchanged``).
        With ``key``, rows are ordered by the key and a null or duplicate key is a
        :class:`DataError`. With ``schema``, the data is validated first and a
        failure (:class:`ValidationFailed`) commits nothing. Nothing is written
        to the repository unless the snapshot commits. ``read``: see :class:`dvtool.ReadOptions`;
        none given for the latest version's SOURCE reuses its recorded ones; ``source=None``
        snapshots that recorded SOURCE again (with its format, read options and key).
        """
        from dvtool.ingest.keytypes import check_key_types
        from dvtool.write.pipeline import write_snapshot
        from dvtool.write.source import open_for_snapshot

        check_name(dataset)
        if tag is not None:
            check_name(tag, "tag")
        self.catalog.refuse_case_twin(dataset)
        key = tuple(key)
        if len(set(key)) != len(key):
            raise UsageError(f"--key lists a column twice: {', '.join(key)}")
        meta_items = tuple(sorted((str(k), str(v)) for k, v in (meta or {}).items()))
        if (on_spark := spark_settings(engine, spark, data=source)) is not None:
            done = spark_api().spark_snapshot(
                self,
                source,
                dataset=dataset,
                key=key,
                message=message,
                meta=meta_items,
                tag=tag,
                schema=schema,
                format=format,
                read=read,
                settings=on_spark,
            )
            return SnapshotResult(
                self.get(done.ref), done.unchanged, done.new_chunks, done.bytes_written, tag
            )
        opened = open_for_snapshot(
            self.catalog,
            source,
            dataset=dataset,
            key=key,
            format=format,
            read=read,
            storage_options=self.storage_options,
        )
        src, key = opened.source, opened.key
        check_key_types(src.schema, key)
        if tag is not None and self.store.exists(tag_key(dataset, tag)):
            raise UsageError(f"tag '{tag}' already exists in {dataset}; tags are immutable")
        gate = None
        if schema is not None:
            from dvtool.validate.run import SchemaGate
            from dvtool.validate.schema import load_schema

            gate = SchemaGate(self.store, load_schema(schema))
        try:
            outcome = write_snapshot(
                self.store,
                src,
                dataset=dataset,
                key=key,
                message=message,
                meta=meta_items,
                gate=gate,
                progress=progress,
            )
        except ValidationFailed as exc:
            if (
                key and src.rereadable
            ):  # name rows as they are in the SOURCE, not in the sorted draft
                from dvtool.validate.faults import with_input_rows

                exc.report = with_input_rows(exc.report, src.batches(), key)  # type: ignore[arg-type]
            raise
        version = (
            outcome.committed.manifest.version if outcome.committed else outcome.unchanged_version
        )
        assert version is not None
        if tag is not None:
            self.tag(f"{dataset}@v{version}", tag)
        return SnapshotResult(
            self.get(f"{dataset}@v{version}"),
            outcome.committed is None,
            outcome.new_chunks,
            outcome.bytes_written,
            tag,
            gate.report if gate is not None and outcome.committed is not None else None,
            src.read if src.args else None,
            opened.reused_from,
        )

    def compact(
        self,
        dataset: str,
        *,
        message: str | None = None,
        progress: Callable[[int], None] | None = None,
    ) -> SnapshotResult:
        """Rewrite the latest version's patched chunks with their patches applied, as a new version.

        The new version holds the same rows (same fingerprint) in plain format 1
        chunks; unpatched chunks are kept by id. When the latest version has no
        patch, nothing is written and the result is ``unchanged``. Snapshots
        compact on their own when a chunk's patch passes ``DVTOOL_PATCH_RATIO``
        (docs/format.md); this forces it.
        """
        from dvtool.write.pipeline import compact_latest

        check_name(dataset)
        if not self.catalog.has_dataset(dataset):
            raise self.catalog.unknown_dataset(dataset)
        head = self.catalog.head(dataset)
        assert head is not None
        text = message if message is not None else f"compact v{head.version}"
        outcome = compact_latest(self.store, dataset, message=text, progress=progress)
        version = (
            outcome.committed.manifest.version if outcome.committed else outcome.unchanged_version
        )
        assert version is not None
        return SnapshotResult(
            self.get(f"{dataset}@v{version}"),
            outcome.committed is None,
            outcome.new_chunks,
            outcome.bytes_written,
        )

    # ---- validation ----

    def validate(
        self,
        target: SourceLike,
        *,
        schema: SchemaLike,
        key: Sequence[str] | None = None,
        format: str | None = None,
        read: ReadOptions | None = None,
        use_cache: bool = True,
        progress: Callable[[int], None] | None = None,
        engine: str | None = None,
        spark: Any = None,
    ) -> ValidationReport:
        """Validate a REF or a SOURCE against a pandera schema.

        ``schema`` is a YAML/JSON path, ``file.py:NAME``, or a pandera schema
        object. For a REF, chunk verdicts are remembered in the repository per
        (schema, chunk), so a new version re-checks only its new chunks;
        cross-chunk checks (unique, keys) always run over the whole snapshot.
        """
        from dvtool.validate.run import validate_manifest
        from dvtool.validate.schema import LoadedSchema, load_schema
        from dvtool.validate.verdicts import StoreVerdictCache

        loaded = schema if isinstance(schema, LoadedSchema) else load_schema(schema)
        if (on_spark := spark_settings(engine, spark)) is not None:
            return cast(
                "ValidationReport", spark_api().spark_validate(self, target, loaded, on_spark)
            )
        if isinstance(target, str) and self.is_ref(target):
            if read is not None:
                read.refuse_for(target)
            snap = self.get(target)
            cache = StoreVerdictCache(self.store) if use_cache else None
            return validate_manifest(
                self.store, loaded, snap.manifest, target=snap.ref, cache=cache, progress=progress
            )
        from dvtool.validate.sources import validate_source

        return validate_source(
            target,
            schema=loaded,
            key=key,
            format=format,
            read=read,
            storage_options=self.storage_options,
            progress=progress,
        )

    def infer_schema(
        self, target: SourceLike, *, format: str | None = None, read: ReadOptions | None = None
    ) -> str:
        """A pandera (polars) YAML schema that the REF or SOURCE ``target`` passes."""
        from dvtool.validate.infer import infer_schema

        if isinstance(target, str) and self.is_ref(target):
            if read is not None:
                read.refuse_for(target)
            snap = self.get(target)
            return infer_schema(snap.scan(), key=snap.key, name=snap.dataset)
        src = self.open_source(target, format=format, read=read)
        return infer_schema(src.batches(), schema=src.schema)

    # ---- push / pull ----

    def push(
        self,
        names: Sequence[str],
        url: str,
        *,
        storage_options: Mapping[str, str] | None = None,
        progress: Callable[[int, int], None] | None = None,
    ) -> TransferSummary:
        """Copy the histories of ``names`` to the repository at ``url``, only missing chunks.

        The target's history of each dataset must be a prefix of this one's
        (else UsageError, "diverged"); ``storage_options`` default to this repo's.
        """
        from dvtool.ops.transfer import transfer

        other = Repo.open(url, storage_options=self._options_for(storage_options))
        return transfer(self.store, other.store, names, progress=progress)

    def pull(
        self,
        url: str,
        names: Sequence[str],
        *,
        storage_options: Mapping[str, str] | None = None,
        progress: Callable[[int, int], None] | None = None,
    ) -> TransferSummary:
        """Copy the histories of ``names`` from the repository at ``url`` into this one."""
        from dvtool.ops.transfer import transfer

        other = Repo.open(url, storage_options=self._options_for(storage_options))
        return transfer(other.store, self.store, names, progress=progress)

    def _options_for(self, storage_options: Mapping[str, str] | None) -> dict[str, str]:
        return dict(self.storage_options if storage_options is None else storage_options)

    # ---- export ----

    def export(
        self,
        ref: str,
        dest: str,
        *,
        format: str | None = None,
        out: BinaryIO | None = None,
        progress: Callable[[int], None] | None = None,
        force: bool = False,
    ) -> ExportResult:
        """Write ``ref``'s rows to a file, folder, URL or ``-``; an existing target only with ``force``."""
        from dvtool.export import export_snapshot

        snap = self.get(ref)
        return export_snapshot(
            snap,
            dest,
            format=format,
            out=out,
            storage_options=self.storage_options,
            progress=progress,
            force=force,
        )

    # ---- maintenance (dvtool.ops) ----

    def status(
        self, datasets: Sequence[str] | None = None, *, check_sources: bool = True
    ) -> RepoStatus:
        """Per dataset: latest version, tags, recorded SOURCE and whether it changed; repository sizes."""
        from dvtool.ops.status import status

        return status(
            self.store,
            datasets=datasets,
            check_sources=check_sources,
            storage_options=self.storage_options,
        )

    def fsck(self, *, progress: Callable[[int], None] | None = None) -> FsckResult:
        """Re-hash every object and manifest; check every version, tag and prune marker."""
        from dvtool.ops.fsck import fsck

        return fsck(self.store, progress=progress)

    def prune(
        self, dataset: str, *, keep_last: int | None = None, older_than: str | None = None
    ) -> PruneResult:
        """Expire old versions (``keep_last=N`` or ``older_than="30d"``); tagged ones are kept."""
        from dvtool.ops.durations import parse_duration
        from dvtool.ops.prune import prune

        self.store.check_create_only()
        age = parse_duration(older_than) if older_than is not None else None
        return prune(self.store, dataset, keep_last=keep_last, older_than=age)

    def gc(
        self, *, older_than: str = "7d", allow_short_grace: bool = False, dry_run: bool = True
    ) -> GcResult:
        """List (``dry_run``) or delete unreferenced keys older than the grace period."""
        from dvtool.ops.durations import parse_duration
        from dvtool.ops.gc import gc

        if not dry_run:
            self.store.check_create_only()
        return gc(
            self.store,
            older_than=parse_duration(older_than),
            allow_short_grace=allow_short_grace,
            dry_run=dry_run,
        )
