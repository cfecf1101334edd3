"""Writing a snapshot's rows out: Parquet, CSV or JSON Lines; file, folder, URL or stdout.

Rows stream chunk by chunk. A file is written by the rules of
:mod:`dvtool.outputs` (a temp file beside it, then one rename; an existing
target only with ``force``; never a link or a device), so a failed export (a
corrupt chunk, say) never leaves a file that looks complete; stdout is only
written after every chunk verified. A folder gets one part file per chunk:
a non-empty folder is refused unless ``force``, and then the old part files
are removed, so no stale part survives. CSV cannot hold lists, structs or
maps: such a column is refused up front (use Parquet or JSON Lines).

JSON Lines are written by polars when it writes every value of the snapshot
exactly (integers, booleans, strings, finite floats, dates, times, timestamps,
decimal128); otherwise (NaN or an infinity in a float column, which polars
writes as null; binary and decimal256, which it cannot write; nested values,
whose floats it would write as null; durations, date64, float16) every row goes
through dvtool's exact JSON encoder, the one ``query --format json`` uses:
slower, and the same values.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import sys
import uuid
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, BinaryIO

import pyarrow as pa

from dvtool.errors import DvtoolError, UsageError
from dvtool.outputs import TEMP_INFIX, check_output_target, open_output, write_error
from dvtool.storage import check_url, redact_url, url_to_fs
from dvtool.storage.filesystems import backend_error

if TYPE_CHECKING:
    from dvtool.snapshot import ExportResult, Snapshot

__all__ = ["EXPORT_FORMATS", "export_snapshot"]

EXPORT_FORMATS = ("parquet", "csv", "jsonl")
_EXT = {
    ".parquet": "parquet",
    ".pq": "parquet",
    ".csv": "csv",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "jsonl",
}


def _format_for(dest: str, given: str | None, default: str) -> str:
    if given is not None:
        if given not in EXPORT_FORMATS:
            raise UsageError(
                f"unknown export format {given!r}; use one of {', '.join(EXPORT_FORMATS)}"
            )
        return given
    ext = os.path.splitext(dest.rstrip("/"))[1].lower()
    return _EXT.get(ext, default)


def _polars_type(typ: pa.DataType) -> bool:
    """A type whose every value polars writes to JSON exactly (floats: see :func:`_polars_exact`)."""
    t = pa.types
    if t.is_dictionary(typ):
        return _polars_type(typ.value_type) and not t.is_floating(typ.value_type)
    return bool(
        t.is_integer(typ)
        or t.is_boolean(typ)
        or t.is_string(typ)
        or t.is_large_string(typ)
        or t.is_string_view(typ)
        or t.is_date32(typ)
        or t.is_time(typ)
        or t.is_timestamp(typ)
        or t.is_decimal128(typ)
        or typ in (pa.float32(), pa.float64())
    )


def _polars_exact(snapshot: Snapshot) -> bool:
    """Whether polars writes the snapshot's rows as JSON without losing a value.

    Float columns are read once beforehand: one NaN or infinity anywhere sends
    the whole export through the exact encoder, so a file never mixes the two.
    """
    import pyarrow.compute as pc

    if not all(_polars_type(f.type) for f in snapshot.schema):
        return False
    floats = [f.name for f in snapshot.schema if pa.types.is_floating(f.type)]
    if not floats:
        return True
    for batch in snapshot.scan(columns=floats):
        for column in batch.columns:
            if pc.any(pc.invert(pc.is_finite(column))).as_py() is True:
                return False
    return True


def _exact_json_lines(batch: pa.RecordBatch) -> bytes:
    from dvtool.format.jsonvalues import encode_array

    names = batch.schema.names
    columns = [encode_array(column) for column in batch.columns]  # exact, by Arrow type
    lines = [
        json.dumps(
            dict(zip(names, values, strict=True)),
            ensure_ascii=False,
            allow_nan=False,
            separators=(",", ":"),
        )
        for values in zip(*columns, strict=True)
    ]
    return "".join(line + "\n" for line in lines).encode("utf-8")


class _Writer:
    """Streams batches of one schema into a binary file in one format."""

    def __init__(
        self, sink: BinaryIO, schema: pa.Schema, fmt: str, *, exact_json: bool = False
    ) -> None:
        self.fmt = fmt
        self.exact_json = exact_json
        self.sink = sink
        self.schema = schema
        self._pq: Any = None
        self._csv: Any = None
        if fmt == "parquet":
            import pyarrow.parquet as pq

            self._pq = pq.ParquetWriter(
                sink, schema, compression="zstd", compression_level=1, write_page_checksum=True
            )
        elif fmt == "csv":
            import pyarrow.csv as pcsv

            self._csv = pcsv.CSVWriter(sink, schema)

    def write(self, batch: pa.RecordBatch) -> None:
        if self._pq is not None:
            self._pq.write_batch(batch)
        elif self._csv is not None:
            self._csv.write_batch(batch)
        elif self.exact_json:
            self.sink.write(_exact_json_lines(batch))
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
    exact_json = fmt == "jsonl" and not _polars_exact(snapshot)
    writer = _Writer(sink, snapshot.schema, fmt, exact_json=exact_json)
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
    force: bool = False,
) -> ExportResult:
    from dvtool.snapshot import ExportResult

    ref = snapshot.ref
    if dest == "-":
        fmt = _format_for(dest, format, "csv")
        _check_format(snapshot.schema, fmt)
        # Verify every chunk before the first byte reaches stdout: stdout cannot be taken back.
        snapshot.verified_files()
        stream = out if out is not None else sys.stdout.buffer
        rows = _write_all(snapshot, _NoClose(stream), fmt, iter(snapshot.scan()))
        return ExportResult(ref, "-", fmt, rows, 1)
    check_url(dest)
    is_url = "://" in dest and not dest.startswith("file://")
    path = dest[len("file://") :] if dest.startswith("file://") else dest
    folder = path.endswith("/") or (not is_url and os.path.isdir(path) and not os.path.islink(path))
    fmt = _format_for(path, format, "parquet")
    _check_format(snapshot.schema, fmt)
    if folder:
        return _export_folder(snapshot, path, fmt, is_url, storage_options or {}, force)
    if is_url:
        fs, target = url_to_fs(dest, storage_options)
        try:
            exists = fs.exists(target)
        except Exception as exc:
            raise backend_error("write", dest, exc) from None
        if exists and not force:
            raise UsageError(f"{redact_url(dest)} exists; pass --force to replace it")
        tmp = f"{target}{TEMP_INFIX}{uuid.uuid4().hex}"
        try:
            with fs.open(tmp, "wb") as f:
                rows = _write_all(snapshot, f, fmt, iter(snapshot.scan()), progress)
            fs.mv(tmp, target)
        except DvtoolError:
            with contextlib.suppress(Exception):
                fs.rm_file(tmp)
            raise
        except Exception as exc:
            with contextlib.suppress(Exception):
                fs.rm_file(tmp)
            raise backend_error("write", dest, exc) from None
        return ExportResult(ref, redact_url(dest), fmt, rows, 1)
    with open_output(path, force=force) as f:
        rows = _write_all(snapshot, f, fmt, iter(snapshot.scan()), progress)
    return ExportResult(ref, path, fmt, rows, 1)


def _check_format(schema: pa.Schema, fmt: str) -> None:
    """Refuse before writing anything: CSV has no form for nested values."""
    if fmt != "csv":
        return
    for f in schema:
        t = f.type.value_type if pa.types.is_dictionary(f.type) else f.type
        if pa.types.is_nested(t):
            raise UsageError(
                f"column {f.name!r} has type {f.type}, which CSV cannot hold; "
                "export to Parquet or JSON Lines (--format parquet|jsonl)"
            )


_PART_RE = re.compile(
    r"^\.?part-\d{5,}\.(parquet|csv|jsonl)(\.tmp-[0-9a-f]+)?$"
)  # parts, and temp parts of a killed export


def _export_folder(
    snapshot: Snapshot,
    folder: str,
    fmt: str,
    is_url: bool,
    storage_options: dict[str, str],
    force: bool,
) -> ExportResult:
    """One part file per chunk: ``part-00000.parquet``, … (like Spark)."""
    import fsspec

    from dvtool.snapshot import ExportResult

    ext = {"parquet": "parquet", "csv": "csv", "jsonl": "jsonl"}[fmt]
    shown = redact_url(folder)
    if is_url:
        fs, root = url_to_fs(folder, storage_options)
        root = root.rstrip("/")
        try:
            present = list(fs.find(root)) if fs.exists(root) else []
        except Exception as exc:
            raise backend_error("list", folder, exc) from None
    else:
        fs, root = fsspec.filesystem("file"), os.path.abspath(folder)
        if os.path.islink(root):
            raise UsageError(
                f"{folder} is a symbolic link; dvtool does not write through links (remove it first)"
            )
        if os.path.lexists(root) and not os.path.isdir(root):
            check_output_target(root)  # a device, pipe or socket says so
            raise UsageError(f"{folder} is a file, not a folder")
        present = [os.path.join(root, n) for n in os.listdir(root)] if os.path.isdir(root) else []
    if present:
        if not force:
            raise UsageError(f"folder {shown} is not empty; pass --force to replace its part files")
        others = sorted(
            os.path.basename(p) for p in present if not _PART_RE.match(os.path.basename(p))
        )
        if others:
            raise UsageError(
                f"folder {shown} holds files that are not part files ({', '.join(others[:3])}); "
                "export into an empty folder"
            )
    snapshot.verified_files()
    if not is_url:
        try:
            os.makedirs(root, exist_ok=True)
        except OSError as exc:
            raise write_error(folder, exc) from None
    # Every new part is written under a temp name first; the old parts go only
    # once all new ones are complete, and then the new ones take their names.
    token = uuid.uuid4().hex
    written: list[tuple[str, str]] = []
    rows = 0
    try:
        for i, chunk in enumerate(snapshot.chunks):
            table = snapshot.read_chunk(chunk)
            final = f"{root}/part-{i:05d}.{ext}"
            tmp = f"{root}/.part-{i:05d}.{ext}{TEMP_INFIX}{token}"
            written.append((tmp, final))
            with fs.open(tmp, "wb") as f:
                rows += _write_all(snapshot, f, fmt, iter(table.to_batches()))
        for old in present:
            fs.rm_file(old)
        for tmp, final in written:
            fs.mv(tmp, final)
    except OSError as exc:
        raise write_error(folder, exc) from None
    except DvtoolError:
        raise
    except Exception as exc:
        raise backend_error("write", folder, exc) from None
    finally:
        for tmp, _ in written:
            with contextlib.suppress(Exception):
                if fs.exists(tmp):
                    fs.rm_file(tmp)
    return ExportResult(snapshot.ref, shown, fmt, rows, len(snapshot.chunks))


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
