"""Read-side values: a Snapshot (verified reads of one version) and the results of Repo calls."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from dvtool.errors import IntegrityError
from dvtool.format.layout import object_key
from dvtool.format.models import ChunkInfo, Manifest
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
        return {"ref": self.ref, "dest": self.dest, "format": self.format, "rows": self.rows, "files": self.files}


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
        return self.manifest.chunks

    @property
    def files(self) -> list[str]:
        """URLs (or local paths) of the chunk files, for Spark, Dask, Trino, DuckDB.

        These are read by other engines without dvtool's hash check; run
        ``dvtool fsck`` or use :meth:`scan` when integrity matters.
        """
        return [self.store.full_url(object_key(c.object)) for c in self.manifest.chunks]

    def read_chunk(self, chunk: ChunkInfo, columns: Sequence[str] | None = None) -> pa.Table:
        """The rows of one chunk, after checking its bytes hash to its id."""
        import pyarrow as pa
        import pyarrow.parquet as pq

        data = self.store.read_verified(object_key(chunk.object), chunk.object)
        try:
            table = pq.read_table(pa.BufferReader(data), columns=list(columns) if columns else None)
        except (pa.ArrowInvalid, OSError) as exc:
            raise IntegrityError(f"object {chunk.object} is not readable Parquet ({exc})") from None
        target = self.manifest.schema if columns is None else pa.schema([self.manifest.schema.field(c) for c in columns])
        if not table.schema.equals(target):
            table = table.cast(target)
        return table

    def scan(self, columns: Sequence[str] | None = None) -> pa.RecordBatchReader:
        """A streaming reader over every chunk, in order (verified reads)."""
        import pyarrow as pa
        schema = self.manifest.schema if columns is None else pa.schema([self.manifest.schema.field(c) for c in columns])

        def batches() -> Iterator[pa.RecordBatch]:
            for chunk in self.manifest.chunks:
                yield from self.read_chunk(chunk, columns).to_batches()

        return pa.RecordBatchReader.from_batches(schema, batches())

    def to_arrow(self) -> pa.Table:
        return self.scan().read_all()

    def to_pandas(self) -> pandas.DataFrame:
        frame: pandas.DataFrame = self.to_arrow().to_pandas()
        return frame

    def verified_files(self) -> list[str]:
        """Chunk paths/URLs after re-hashing each one (for engines that read files directly)."""
        for chunk in self.manifest.chunks:
            self.store.read_verified(object_key(chunk.object), chunk.object)
        return self.files
