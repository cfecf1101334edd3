"""Writing a snapshot's rows out: Parquet, CSV or JSON Lines; file, folder, URL or stdout.

Rows stream chunk by chunk. A local file is written to a temp name and
renamed at the end, so a failed export (a corrupt chunk, say) never leaves a
file that looks complete; stdout is only written after every chunk verified.
"""

from __future__ import annotations

import contextlib
import os
import sys
import uuid
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, BinaryIO

import pyarrow as pa

from dvtool.errors import UsageError
from dvtool.storage import check_url, redact_url

if TYPE_CHECKING:
    from dvtool.snapshot import ExportResult, Snapshot

__all__ = ["EXPORT_FORMATS", "export_snapshot"]

EXPORT_FORMATS = ("parquet", "csv", "jsonl")
_EXT = {".parquet": "parquet", ".pq": "parquet", ".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "jsonl"}


def _format_for(dest: str, given: str | None, default: str) -> str:
    if given is not None:
        if given not in EXPORT_FORMATS:
            raise UsageError(f"unknown export format {given!r}; use one of {', '.join(EXPORT_FORMATS)}")
        return given
    ext = os.path.splitext(dest.rstrip("/"))[1].lower()
    return _EXT.get(ext, default)


class _Writer:
    """Streams batches of one schema into a binary file in one format."""

    def __init__(self, sink: BinaryIO, schema: pa.Schema, fmt: str) -> None:
        self.fmt = fmt
        self.sink = sink
        self.schema = schema
        self._pq: Any = None
        self._csv: Any = None
        if fmt == "parquet":
            import pyarrow.parquet as pq

            self._pq = pq.ParquetWriter(sink, schema, compression="zstd", compression_level=1, write_page_checksum=True)
        elif fmt == "csv":
            import pyarrow.csv as pcsv

            self._csv = pcsv.CSVWriter(sink, schema)

    def write(self, batch: pa.RecordBatch) -> None:
        if self._pq is not None:
            self._pq.write_batch(batch)
        elif self._csv is not None:
            self._csv.write_batch(batch)
        else:
            import polars as pl

            frame = pl.from_arrow(batch)
            assert isinstance(frame, pl.DataFrame)
            frame.write_ndjson(self.sink)

    def close(self) -> None:
        if self._pq is not None:
            self._pq.close()
        elif self._csv is not None:
            self._csv.close()


def _write_all(
    snapshot: Snapshot,
    sink: Any,
    fmt: str,
    batches: Iterator[pa.RecordBatch],
    progress: Callable[[int], None] | None = None,
) -> int:
    writer = _Writer(sink, snapshot.schema, fmt)
    rows = 0
    try:
        for batch in batches:
            writer.write(batch)
            rows += batch.num_rows
            if progress is not None:
                progress(batch.num_rows)
    finally:
        writer.close()
    return rows


def export_snapshot(
    snapshot: Snapshot,
    dest: str,
    *,
    format: str | None = None,
    out: Any = None,
    storage_options: dict[str, str] | None = None,
    progress: Callable[[int], None] | None = None,
) -> ExportResult:
    from dvtool.snapshot import ExportResult

    ref = snapshot.ref
    if dest == "-":
        fmt = _format_for(dest, format, "csv")
        # Verify every chunk before the first byte reaches stdout: stdout cannot be taken back.
        snapshot.verified_files()
        stream = out if out is not None else sys.stdout.buffer
        rows = _write_all(snapshot, _NoClose(stream), fmt, iter(snapshot.scan()))
        return ExportResult(ref, "-", fmt, rows, 1)
    check_url(dest)
    is_url = "://" in dest and not dest.startswith("file://")
    path = dest[len("file://") :] if dest.startswith("file://") else dest
    folder = path.endswith("/") or (not is_url and os.path.isdir(path))
    fmt = _format_for(path, format, "parquet")
    if folder:
        return _export_folder(snapshot, path, fmt, is_url, storage_options or {})
    if is_url:
        import fsspec

        fs, target = fsspec.core.url_to_fs(dest, **(storage_options or {}))
        tmp = f"{target}.tmp-{uuid.uuid4().hex}"
        try:
            with fs.open(tmp, "wb") as f:
                rows = _write_all(snapshot, f, fmt, iter(snapshot.scan()), progress)
            fs.mv(tmp, target)
        except BaseException:
            with contextlib.suppress(Exception):
                fs.rm_file(tmp)
            raise
        return ExportResult(ref, redact_url(dest), fmt, rows, 1)
    parent = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(parent):
        raise UsageError(f"cannot export to {path}: folder {parent} does not exist")
    tmp = os.path.join(parent, f".{os.path.basename(path)}.tmp-{uuid.uuid4().hex}")
    try:
        with open(tmp, "wb") as f:
            rows = _write_all(snapshot, f, fmt, iter(snapshot.scan()), progress)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    return ExportResult(ref, path, fmt, rows, 1)


def _export_folder(snapshot: Snapshot, folder: str, fmt: str, is_url: bool, storage_options: dict[str, str]) -> ExportResult:
    """One part file per chunk: ``part-00000.parquet``, … (like Spark)."""
    from dvtool.snapshot import ExportResult

    ext = {"parquet": "parquet", "csv": "csv", "jsonl": "jsonl"}[fmt]
    if is_url:
        import fsspec

        fs, root = fsspec.core.url_to_fs(folder, **storage_options)
    else:
        import fsspec

        fs, root = fsspec.filesystem("file"), os.path.abspath(folder)
        os.makedirs(root, exist_ok=True)
    snapshot.verified_files()
    rows = 0
    for i, chunk in enumerate(snapshot.chunks):
        table = snapshot.read_chunk(chunk)
        with fs.open(f"{root.rstrip('/')}/part-{i:05d}.{ext}", "wb") as f:
            rows += _write_all(snapshot, f, fmt, iter(table.to_batches()))
    return ExportResult(snapshot.ref, redact_url(folder), fmt, rows, len(snapshot.chunks))


class _NoClose:
    """A binary stream wrapper whose close() only flushes (keeps stdout open)."""

    def __init__(self, stream: BinaryIO) -> None:
        self._s = stream
        self.closed = False

    def write(self, data: Any) -> int:
        return self._s.write(bytes(data) if not isinstance(data, bytes | bytearray) else data)

    def flush(self) -> None:
        self._s.flush()

    def close(self) -> None:
        self._s.flush()

    def writable(self) -> bool:
        return True

    def tell(self) -> int:
        raise OSError("not seekable")

    def seekable(self) -> bool:
        return False
