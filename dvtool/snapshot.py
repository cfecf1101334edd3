"""Read-side values: a Snapshot (verified reads of one version) and the results of Repo calls."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from dvtool.errors import IntegrityError
from dvtool.format.layout import object_key
from dvtool.format.models import ChunkInfo, Manifest
from dvtool.readplan import (
    ChunkMerge,
    PatchTables,
    ReadPlan,
    apply_patch,
    load_patch,
    logical_chunks,
    merge_at,
    patch_merge,
    patch_slices,
)
from dvtool.storage import Store

if TYPE_CHECKING:
    import pandas
    import pyarrow as pa

__all__ = ["DatasetInfo", "ExportResult", "LogEntry", "Snapshot"]


@dataclass(frozen=True, slots=True)
class LogEntry:
    dataset: str
    version: int
    id: str
    created: str
    rows: int
    message: str
    tags: tuple[str, ...]
    pruned: bool = False  # expired by 'dvtool prune'; the entry stays, the data goes at gc

    def to_json(self) -> dict[str, Any]:
        return {
            "dataset": self.dataset,
            "version": self.version,
            "id": self.id,
            "created": self.created,
            "rows": self.rows,
            "message": self.message,
            "tags": list(self.tags),
            "pruned": self.pruned,
        }


@dataclass(frozen=True, slots=True)
class DatasetInfo:
    name: str
    version: int
    id: str
    rows: int
    bytes: int
    updated: str

    def to_json(self) -> dict[str, Any]:
        return {
            "dataset": self.name,
            "version": self.version,
            "id": self.id,
            "rows": self.rows,
            "bytes": self.bytes,
            "updated": self.updated,
        }


@dataclass(frozen=True, slots=True)
class ExportResult:
    ref: str
    dest: str
    format: str
    rows: int
    files: int

    def to_json(self) -> dict[str, Any]:
        return {
            "ref": self.ref,
            "dest": self.dest,
            "format": self.format,
            "rows": self.rows,
            "files": self.files,
        }


@dataclass(frozen=True, slots=True)
class Snapshot:
    """One immutable version of a dataset. Reads are verified against object ids."""

    store: Store
    manifest: Manifest
    id: str
    tags: tuple[str, ...] = ()

    @property
    def dataset(self) -> str:
        return self.manifest.dataset

    @property
    def version(self) -> int:
        return self.manifest.version

    @property
    def ref(self) -> str:
        return f"{self.manifest.dataset}@v{self.manifest.version}"

    @property
    def rows(self) -> int:
        return self.manifest.rows

    @property
    def schema(self) -> pa.Schema:
        return self.manifest.schema

    @property
    def key(self) -> tuple[str, ...]:
        return self.manifest.key

    @property
    def chunks(self) -> tuple[ChunkInfo, ...]:
        """The chunks as readers see them, in key order.

        For a patched (format 2) snapshot, a chunk with a patch range is
        described by its rows *after* the patch (logical rows, fingerprint,
        key range, statistics; ``object`` is still the base chunk), and
        :meth:`read_chunk` returns those rows. ``manifest.chunks`` are the raw
        base chunks.
        """
        return logical_chunks(self.manifest)

    @property
    def patched(self) -> bool:
        return self.manifest.patch is not None

    @property
    def files(self) -> list[str]:
        """URLs (or local paths) of the *base* chunk files, for Spark, Dask, Trino, DuckDB.

        For a patched snapshot these are not its rows: apply :meth:`read_plan`
        (or read through :meth:`scan`). They are read by other engines without
        dvtool's hash check; run ``dvtool fsck`` or use :meth:`scan` when
        integrity matters.
        """
        return [self.store.full_url(object_key(c.object)) for c in self.manifest.chunks]

    def read_plan(self) -> ReadPlan:
        """The files and the patch recipe another engine needs to read exactly this snapshot's rows."""
        patch = self.manifest.patch
        if patch is None:
            return ReadPlan(tuple(self.files), self.key)
        return ReadPlan(
            tuple(self.files),
            self.key,
            self.store.full_url(object_key(patch.upserts.object)),
            self.store.full_url(object_key(patch.removed.object)),
        )

    def _raw_chunk(self, chunk: ChunkInfo, columns: Sequence[str] | None) -> pa.Table:
        import pyarrow as pa
        import pyarrow.parquet as pq

        data = self.store.read_verified(object_key(chunk.object), chunk.object)
        try:
            table = pq.read_table(pa.BufferReader(data), columns=list(columns) if columns else None)
        except (pa.ArrowInvalid, OSError) as exc:
            raise IntegrityError(f"object {chunk.object} is not readable Parquet ({exc})") from None
        target = (
            self.manifest.schema
            if columns is None
            else pa.schema([self.manifest.schema.field(c) for c in columns])
        )
        if not table.schema.equals(target):
            table = table.cast(target)
        return table

    def _patched_index(self, chunk: ChunkInfo) -> int | None:
        patch = self.manifest.patch
        if patch is None:
            return None
        for r in patch.ranges:
            if r.logical == chunk:
                return r.chunk
        return None

    def has_patch(self, chunk: ChunkInfo) -> bool:
        """True if ``chunk`` (one of :attr:`chunks`) is read with a patch applied: its file alone is not its rows."""
        return self._patched_index(chunk) is not None

    def read_chunk(self, chunk: ChunkInfo, columns: Sequence[str] | None = None) -> pa.Table:
        """The rows of one chunk of :attr:`chunks`, after checking its bytes hash to its id.

        A chunk with a patch range comes back with its patch applied.
        """
        index = self._patched_index(chunk)
        if index is None:
            return self._raw_chunk(chunk, columns)
        tables = load_patch(self.store, self.manifest)
        merges = patch_merge(self.manifest, tables)
        merge = merges[index] if merges is not None else None
        base = self._raw_chunk(self.manifest.chunks[index], self._base_columns(merge, columns))
        return self._patched(index, base, columns, tables, merge)

    def _base_columns(
        self, merge: ChunkMerge | None, columns: Sequence[str] | None
    ) -> list[str] | None:
        """The columns to read from a patched chunk's base file: by key, the key too."""
        if columns is None:
            return None
        if merge is not None:  # by row number: only the columns asked for
            return list(columns)
        return [*dict.fromkeys([*self.key, *columns])]

    def _patched(
        self,
        index: int,
        base: pa.Table,
        columns: Sequence[str] | None,
        tables: PatchTables,
        merge: ChunkMerge | None,
    ) -> pa.Table:
        """Base chunk ``index``'s rows (read with :meth:`_base_columns`) with its patch applied."""
        slices = patch_slices(self.manifest, tables, index)
        assert slices is not None
        upserts, removed = slices
        wanted = list(columns) if columns is not None else None
        if merge is not None:
            if base.num_rows != merge.rows:
                raise IntegrityError(
                    f"object {self.manifest.chunks[index].object} holds {base.num_rows} rows, "
                    f"its manifest says {merge.rows}"
                )
            ups = upserts if wanted is None else upserts.select(wanted)
            return merge_at(base, merge.drop, ups, merge.at)
        if wanted is not None:
            upserts, removed = upserts.select(base.column_names), removed.select(list(self.key))
        merged = apply_patch(base, upserts, removed, self.key)
        return merged if wanted is None else merged.select(wanted)

    def scan(self, columns: Sequence[str] | None = None) -> pa.RecordBatchReader:
        """A streaming reader over every chunk, in order (verified reads, patches applied)."""
        import pyarrow as pa

        schema = (
            self.manifest.schema
            if columns is None
            else pa.schema([self.manifest.schema.field(c) for c in columns])
        )
        manifest = self.manifest
        tables = load_patch(self.store, manifest) if manifest.patch is not None else None
        merges = patch_merge(manifest, tables) if tables is not None else None
        patched = {r.chunk for r in manifest.patch.ranges} if manifest.patch is not None else set()

        def read(index: int) -> pa.Table:
            merge = merges.get(index) if merges is not None else None
            if index not in patched:
                return self._raw_chunk(manifest.chunks[index], columns)
            return self._raw_chunk(manifest.chunks[index], self._base_columns(merge, columns))

        def batches() -> Iterator[pa.RecordBatch]:
            # Read in this thread: pyarrow 26 decoding Parquet in a Python
            # thread sometimes aborted the process at exit ("terminate called
            # without an active exception"), so there is no read-ahead thread.
            for index in range(len(manifest.chunks)):
                table = read(index)
                if index in patched:
                    assert tables is not None
                    merge = merges.get(index) if merges is not None else None
                    table = self._patched(index, table, columns, tables, merge)
                yield from table.to_batches()

        return pa.RecordBatchReader.from_batches(schema, batches())

    def to_arrow(self) -> pa.Table:
        return self.scan().read_all()

    def to_pandas(self) -> pandas.DataFrame:
        frame: pandas.DataFrame = self.to_arrow().to_pandas()
        return frame

    def verified_files(self) -> list[str]:
        """Base chunk paths/URLs after re-hashing each one and the patch objects (see :attr:`files`)."""
        for obj in self.manifest.stored_objects():
            self.store.read_verified(object_key(obj.object), obj.object)
        return self.files
