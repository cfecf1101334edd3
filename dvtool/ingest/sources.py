"""Reading a SOURCE as a stream of normalised Arrow record batches.

A SOURCE is a file, folder, glob or fsspec URL of CSV, Parquet, JSON Lines or
Arrow IPC files, ``-`` (CSV on stdin), or in Python a pyarrow Table /
RecordBatchReader, a pandas or polars DataFrame. Nothing here reads a whole
dataset into memory: files are read batch by batch.

Types that Parquet cannot hold exactly, and encodings that do not change the
values, are normalised on the way in (see :func:`normalise_type`), so the same
rows give the same schema and fingerprint whatever the input format.
"""

from __future__ import annotations

import contextlib
import glob as globmod
import io
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import pyarrow as pa

from dvtool.errors import NotFoundError, UsageError
from dvtool.ingest.keytypes import check_distinct_names
from dvtool.ingest.readoptions import ReadOptions
from dvtool.ingest.sourcestate import FileProbe, probe_files, source_args
from dvtool.ingest.types import list_views_as_lists, normalise_schema, normalise_type
from dvtool.storage import check_url, redact_url, url_to_fs

__all__ = [
    "FORMATS",
    "ReadOptions",
    "Source",
    "expand_source",
    "normalise_schema",
    "normalise_type",
    "open_source",
]

Format = Literal["csv", "parquet", "jsonl", "arrow"]
FORMATS: tuple[str, ...] = ("csv", "parquet", "jsonl", "arrow")
BATCH_ROWS = 65536
_EXT = {
    ".csv": "csv",
    ".tsv": "csv",
    ".txt": "csv",
    ".parquet": "parquet",
    ".pq": "parquet",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "jsonl",
    ".arrow": "arrow",
    ".feather": "arrow",
    ".ipc": "arrow",
}
_COMPRESSED = (".gz", ".bz2", ".zst", ".xz")
DEFAULT_READ = ReadOptions()


def conform(batch: pa.RecordBatch, schema: pa.Schema, where: str) -> pa.RecordBatch:
    """Cast ``batch`` to the normalised ``schema``, or say which column does not fit."""
    if batch.schema.equals(schema):
        return batch
    if batch.schema.names != schema.names:
        raise UsageError(
            f"{where}: columns {batch.schema.names} do not match the first input's {schema.names}"
        )
    columns = []
    for field, column in zip(schema, batch.columns, strict=True):
        if column.type == field.type:
            columns.append(column)
            continue
        try:
            if pa.types.is_dictionary(column.type) and not pa.types.is_dictionary(field.type):
                column = column.dictionary_decode()
            column = list_views_as_lists(column)
            cast = column.cast(field.type)
            cast.validate()  # a cast pyarrow gets wrong is an error here, not bad data later
            columns.append(cast)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
            raise UsageError(
                f"{where}: column '{field.name}' is {column.type}, expected {field.type} "
                f"({str(exc).splitlines()[0]})"
            ) from None
    return pa.RecordBatch.from_arrays(columns, schema=schema)


@dataclass(frozen=True, slots=True)
class Source:
    """A readable SOURCE: its normalised schema and a way to stream its batches."""

    description: str
    schema: pa.Schema
    _open: Callable[[], Iterator[pa.RecordBatch]]
    rereadable: bool = True
    identity: str | None = None  # local files: see statcache.file_identity
    local_files: tuple[tuple[str, str], ...] = ()  # (path, format) of local input files
    read: ReadOptions = DEFAULT_READ  # how files were read (default for in-memory objects)
    args: tuple[str, ...] = ()  # the SOURCE arguments of files: absolute paths, or URLs
    format: str | None = None  # the format given (None: from the names)
    probes: tuple[FileProbe, ...] = ()  # each input file as it was when opened

    def batches(self) -> Iterator[pa.RecordBatch]:
        for batch in self._open():
            if batch.num_rows:
                yield conform(batch, self.schema, self.description)

    def reader(self) -> pa.RecordBatchReader:
        return pa.RecordBatchReader.from_batches(self.schema, self.batches())


# -- in-memory objects ---------------------------------------------------------------


def _from_table(table: pa.Table, description: str) -> Source:
    schema = normalise_schema(table.schema)

    def batches() -> Iterator[pa.RecordBatch]:
        yield from table.to_batches(max_chunksize=BATCH_ROWS)

    return Source(description, schema, batches, True)


def _from_object(obj: Any) -> Source | None:
    if isinstance(obj, pa.Table):
        return _from_table(obj, "table")
    if isinstance(obj, pa.RecordBatch):
        return _from_table(pa.Table.from_batches([obj]), "record batch")
    if isinstance(obj, pa.RecordBatchReader):
        reader = obj
        return Source(
            "record batch reader", normalise_schema(reader.schema), lambda: iter(reader), False
        )
    module = type(obj).__module__.split(".")[0]
    if module == "pandas" and type(obj).__name__ == "DataFrame":
        return _from_pandas(obj)
    if module == "polars":
        name = type(obj).__name__
        if name == "LazyFrame":
            obj = obj.collect()
            name = "DataFrame"
        if name == "DataFrame":
            return _from_table(obj.to_arrow(), "polars DataFrame")
    return None


def _from_pandas(df: Any) -> Source:
    step = BATCH_ROWS

    def convert(start: int) -> pa.Table:
        try:
            # A Table, not a RecordBatch: some columns convert to chunked arrays.
            return pa.Table.from_pandas(df.iloc[start : start + step], preserve_index=False)
        except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, ValueError) as exc:
            where = "the pandas DataFrame" if start == 0 else f"pandas DataFrame rows {start}.."
            raise UsageError(f"cannot convert {where}: {str(exc).splitlines()[0]}") from None

    first = convert(0)
    schema = normalise_schema(first.schema)

    def batches() -> Iterator[pa.RecordBatch]:
        yield from first.to_batches()
        for start in range(step, len(df), step):
            yield from convert(start).to_batches()

    return Source("pandas DataFrame", schema, batches, True)


def table_sorted(table: pa.Table, key: Sequence[str]) -> bool:
    """True if the rows of ``table`` are non-decreasing by ``key`` (lexicographic)."""
    import pyarrow.compute as pc

    if table.num_rows < 2:
        return True
    try:
        undecided = None  # rows where all earlier key columns are equal
        for name in key:
            col = table.column(name).combine_chunks()
            a, b = col.slice(0, len(col) - 1), col.slice(1)
            less = pc.less(a, b)
            equal = pc.equal(a, b)
            greater = pc.invert(pc.or_(less, equal))
            bad = greater if undecided is None else pc.and_(undecided, greater)
            if pc.any(bad).as_py():
                return False
            undecided = equal if undecided is None else pc.and_(undecided, equal)
            if not pc.any(undecided).as_py():
                return True
        return True
    except (pa.ArrowNotImplementedError, pa.ArrowInvalid):
        return False


# -- files --------------------------------------------------------------------------


def _detect_format(path: str, given: str | None) -> str:
    if given:
        if given not in FORMATS:
            raise UsageError(f"unknown --format {given!r}; use one of {', '.join(FORMATS)}")
        return given
    name = path.lower()
    for suffix in _COMPRESSED:
        if name.endswith(suffix):
            name = name[: -len(suffix)]
    ext = os.path.splitext(name)[1]
    if ext not in _EXT:
        raise UsageError(
            f"cannot tell the format of {redact_url(path)} from its name; pass --format "
            f"({', '.join(FORMATS)})"
        )
    return _EXT[ext]


def _expand(arg: str, storage_options: dict[str, str]) -> tuple[list[str], Any]:
    """Files named by ``arg``: a file, folder (recursively), glob or URL. Returns (paths, fs)."""
    if "://" in arg and not arg.startswith("file://"):
        check_url(arg)
        fs, root = url_to_fs(arg, storage_options)
        try:
            # Listings are cached per filesystem instance, which fsspec shares per process:
            # a long-lived process must see files written since.
            fs.invalidate_cache()
            if any(ch in root for ch in "*?["):
                paths = sorted(fs.glob(root))
            elif fs.isdir(root):
                paths = sorted(p for p in fs.find(root) if _known(p))
            elif fs.exists(root):
                paths = [root]
            else:
                paths = []
        except Exception as exc:
            raise UsageError(
                f"cannot read {redact_url(arg)}: {type(exc).__name__}: {exc}"
            ) from None
        if not paths:
            raise NotFoundError(f"no input files at {redact_url(arg)}")
        return paths, fs
    path = arg[len("file://") :] if arg.startswith("file://") else arg
    if any(ch in path for ch in "*?["):
        paths = sorted(p for p in globmod.glob(path, recursive=True) if os.path.isfile(p))
        if not paths:
            raise NotFoundError(f"no files match {path}")
        return paths, None
    if os.path.isdir(path):
        paths = sorted(
            os.path.join(d, f)
            for d, _, files in os.walk(path)
            for f in files
            if _known(f) and not f.startswith(".")
        )
        if not paths:
            raise NotFoundError(f"no CSV, Parquet, JSON Lines or Arrow files in folder {path}")
        return paths, None
    if not os.path.exists(path):
        raise NotFoundError(f"input file {path} does not exist")
    return [path], None


def _known(path: str) -> bool:
    name = path.lower()
    for suffix in _COMPRESSED:
        if name.endswith(suffix):
            name = name[: -len(suffix)]
    return os.path.splitext(name)[1] in _EXT


def _open_binary(path: str, fs: Any) -> Any:
    try:
        if fs is None:
            import pyarrow as pa_

            name = path.lower()
            if name.endswith(_COMPRESSED):
                codec = {".gz": "gzip", ".bz2": "bz2", ".zst": "zstd", ".xz": "lzma"}[
                    os.path.splitext(name)[1]
                ]
                return pa_.CompressedInputStream(pa_.OSFile(path, "rb"), codec)
            # Not memory_map: mapped pages count as resident memory and would grow with the file.
            return pa_.OSFile(path, "rb")
        return fs.open(path, "rb", compression="infer")
    except FileNotFoundError:
        raise NotFoundError(f"input file {path} does not exist") from None
    except OSError as exc:
        raise UsageError(f"cannot open {redact_url(path)}: {exc}") from None


@dataclass(slots=True)
class _Opened:
    """One open input file: its raw schema, its batches, and how to let go of it."""

    schema: pa.Schema
    batches: Iterator[pa.RecordBatch]
    handles: list[Any]

    def close(self) -> None:
        for handle in self.handles:
            with contextlib.suppress(Exception):
                handle.close()
        self.handles.clear()


def _owning(batches: Iterator[pa.RecordBatch], opened: list[_Opened]) -> Iterator[pa.RecordBatch]:
    """Yield ``batches``, closing the file's handles when done (or abandoned)."""
    try:
        yield from batches
    finally:
        for o in opened:
            o.close()


def _file_reader(path: str, fmt: str, fs: Any, read: ReadOptions = DEFAULT_READ) -> _Opened:
    """Open one file; return its raw schema and its batch iterator. Errors name the file."""
    where = redact_url(path)
    handles: list[Any] = []

    def open_handle() -> Any:
        handle = _open_binary(path, fs)
        handles.append(handle)
        return handle

    try:
        if fmt == "parquet":
            import pyarrow.parquet as pq

            pf = pq.ParquetFile(open_handle(), pre_buffer=False)  # arrow#39808
            schema, it = pf.schema_arrow, pf.iter_batches(batch_size=BATCH_ROWS)
        elif fmt == "arrow":
            try:
                ipc_file = pa.ipc.open_file(open_handle())
                schema = ipc_file.schema
                it = (ipc_file.get_batch(i) for i in range(ipc_file.num_record_batches))
            except pa.ArrowInvalid:
                ipc_stream = pa.ipc.open_stream(open_handle())
                schema, it = ipc_stream.schema, iter(ipc_stream)
        elif fmt == "jsonl":
            import pyarrow.json as pj

            handle = open_handle()
            if read.encoding is not None:
                handle = pa.transcoding_input_stream(handle, read.encoding, "utf-8")
            jr = pj.open_json(
                handle,
                read_options=pj.ReadOptions(block_size=8 << 20),
                parse_options=pj.ParseOptions(**read.json()),
            )
            schema, it = jr.schema, iter(jr)
        else:
            schema, it = _csv_reader(open_handle(), path, open_handle, read)
    except (NotFoundError, UsageError):
        _Opened(pa.schema([]), iter(()), handles).close()
        raise
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, OSError, ValueError) as exc:
        _Opened(pa.schema([]), iter(()), handles).close()
        raise UsageError(f"cannot read {where} as {fmt}: {str(exc).splitlines()[0]}") from None
    opened = _Opened(schema, iter(()), handles)
    opened.batches = _owning(it, [opened])
    return opened


CSV_INFER_BYTES = 16 << 20  # column types are inferred from this much of each file
CSV_BLOCK_BYTES = 1 << 20  # ... which is then read in blocks of this size


def _csv_reader(
    stream: Any,
    path: str,
    reopen: Callable[[], Any] | None = None,
    read: ReadOptions = DEFAULT_READ,
) -> tuple[pa.Schema, Iterator[pa.RecordBatch]]:
    """A streaming CSV reader. Types come from the first 16 MB; reading uses 1 MB blocks.

    pyarrow's streaming reader holds about 40 blocks in flight, so one 16 MB
    block size would cost ~0.7 GB of memory; inferring on a large first block
    and then reading small ones keeps memory near 150 MB with the same types.
    """
    import pyarrow.csv as pcsv

    read_kw, parse_kw, convert_kw = read.csv(path)
    parse = pcsv.ParseOptions(**parse_kw)
    if reopen is None:
        reader = pcsv.open_csv(
            stream,
            read_options=pcsv.ReadOptions(block_size=4 << 20, **read_kw),
            parse_options=parse,
            convert_options=pcsv.ConvertOptions(**convert_kw),
        )
        reader.schema.names  # noqa: B018  a non-UTF-8 header raises UnicodeDecodeError here
        return reader.schema, iter(reader)
    probe = pcsv.open_csv(
        stream,
        read_options=pcsv.ReadOptions(block_size=CSV_INFER_BYTES, use_threads=False, **read_kw),
        parse_options=parse,
        convert_options=pcsv.ConvertOptions(**convert_kw),
    )
    schema = probe.schema
    schema.names  # noqa: B018  a non-UTF-8 header raises UnicodeDecodeError here
    probe.close()
    reader = pcsv.open_csv(
        reopen(),
        read_options=pcsv.ReadOptions(block_size=CSV_BLOCK_BYTES, **read_kw),
        parse_options=parse,
        convert_options=pcsv.ConvertOptions(**{**convert_kw, "column_types": schema}),
    )
    return reader.schema, iter(reader)


def _guard(where: str, fmt: str, batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
    """Turn a reader's mid-stream failure into a one-line UsageError naming the file."""
    try:
        yield from batches
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, OSError, ValueError) as exc:
        hint = ""
        if fmt == "csv" and "conversion error" in str(exc).lower():
            hint = " (types are inferred from the first 16 MB; the value later does not fit)"
        raise UsageError(
            f"cannot read {where} as {fmt}: {str(exc).splitlines()[0]}{hint}"
        ) from None


def _unify(schemas: list[tuple[str, pa.Schema]]) -> pa.Schema:
    first_path, first = schemas[0]
    if all(s.equals(first) for _, s in schemas[1:]):
        return first
    for path, s in schemas[1:]:
        if s.names != first.names:
            raise UsageError(
                f"{redact_url(path)} has columns {s.names}, but {redact_url(first_path)} has {first.names}"
            )
    try:
        return pa.unify_schemas([s for _, s in schemas], promote_options="permissive")
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        for path, s in schemas[1:]:
            for a, b in zip(first, s, strict=True):
                if a.type != b.type:
                    raise UsageError(
                        f"column '{a.name}' is {b.type} in {redact_url(path)} but {a.type} in "
                        f"{redact_url(first_path)}"
                    ) from None
        raise


def expand_source(args: Sequence[str], storage_options: dict[str, str]) -> tuple[list[str], Any]:
    """The files named by the SOURCE ``args`` (files, folders, globs, URLs) and their filesystem."""
    paths: list[str] = []
    fs: Any = None
    for arg in args:
        found, fs_arg = _expand(arg, storage_options)
        if paths and (fs_arg is None) != (fs is None):
            raise UsageError("mixing local files and URLs in one snapshot is not supported")
        paths.extend(found)
        fs = fs_arg
    return paths, fs


def _from_files(
    args: Sequence[str], fmt: str | None, storage_options: dict[str, str], read: ReadOptions
) -> Source:
    paths, fs = expand_source(args, storage_options)
    probes = probe_files(paths, fs)  # before reading: a change while reading shows later
    formats = [_detect_format(p, fmt) for p in paths]
    for p, f in zip(paths, formats, strict=True):
        read.check_format(f, redact_url(p))
    # Read every file's schema first (a folder may hold thousands of parts: hold
    # one file open at a time), keeping only the first one open for reading.
    first = _file_reader(paths[0], formats[0], fs, read)
    raw = [(paths[0], normalise_schema(first.schema))]
    for p, f in zip(paths[1:], formats[1:], strict=True):
        other = _file_reader(p, f, fs, read)
        raw.append((p, normalise_schema(other.schema)))
        other.close()
    try:
        schema = _with_column_types(normalise_schema(_unify(raw)), read, redact_url(args[0]))
    except UsageError:
        first.close()
        raise
    used = [False]

    def batches() -> Iterator[pa.RecordBatch]:
        for i, (path, f) in enumerate(zip(paths, formats, strict=True)):
            if i == 0 and not used[0]:
                used[0] = True
                it = first.batches
            else:
                it = _file_reader(path, f, fs, read).batches
            for batch in _guard(redact_url(path), f, it):
                yield conform(batch, schema, redact_url(path))

    desc = redact_url(args[0]) if len(args) == 1 else f"{len(args)} sources"
    identity = None
    if fs is None:
        from dvtool.ingest.statcache import file_identity

        identity = file_identity(paths, formats, read.token())
    local = tuple(zip(paths, formats, strict=True)) if fs is None else ()
    return Source(
        desc, schema, batches, True, identity, local, read, source_args(args) or (), fmt, probes
    )


def _with_column_types(schema: pa.Schema, read: ReadOptions, where: str) -> pa.Schema:
    """``schema`` with the ``--column-type`` columns set (Parquet/Arrow batches are cast in conform)."""
    types = read.arrow_types()
    if not types:
        return schema
    missing = [c for c in types if c not in schema.names]
    if missing:
        raise UsageError(
            f"column '{missing[0]}' in --column-type is not in {where} (columns: {', '.join(schema.names[:20])})"
        )
    return normalise_schema(
        pa.schema([pa.field(f.name, types.get(f.name, f.type)) for f in schema])
    )


def _from_stdin(fmt: str | None, read: ReadOptions) -> Source:
    if fmt not in (None, "csv"):
        raise UsageError("'-' reads CSV from standard input; other formats need a file")
    read.check_format("csv", "standard input")
    stream = (
        pa.PythonFile(sys.stdin.buffer, mode="r")
        if hasattr(sys.stdin, "buffer")
        else pa.BufferReader(sys.stdin.read().encode())
    )
    try:
        schema, it = _csv_reader(stream, "-", None, read)
    except (pa.ArrowInvalid, OSError) as exc:
        raise UsageError(
            f"cannot read CSV from standard input: {str(exc).splitlines()[0]}"
        ) from None
    normal = _with_column_types(normalise_schema(schema), read, "standard input")
    return Source(
        "standard input", normal, lambda: _guard("standard input", "csv", it), False, read=read
    )


def open_source(
    source: Any,
    *,
    format: str | None = None,
    storage_options: dict[str, str] | None = None,
    read: ReadOptions | None = None,
) -> Source:
    """Open anything dvtool can snapshot; errors are one-line UsageError / NotFoundError.

    ``read`` says how CSV/JSON files are read (default: :class:`ReadOptions`,
    which reads nulls like pandas); it does not apply to in-memory objects.
    """
    src = _open(source, format, storage_options, read)
    check_distinct_names(src.schema, src.description)
    return src


def _open(
    source: Any,
    format: str | None,
    storage_options: dict[str, str] | None,
    read: ReadOptions | None,
) -> Source:
    read = read if read is not None else DEFAULT_READ
    if isinstance(source, str | os.PathLike):
        arg = os.fspath(source)
        if arg == "":
            raise UsageError("empty SOURCE path")
        if arg == "-":
            return _from_stdin(format, read)
        return _from_files([arg], format, storage_options or {}, read)
    if (
        isinstance(source, list | tuple)
        and source
        and all(isinstance(s, str | os.PathLike) for s in source)
    ):
        return _from_files([os.fspath(s) for s in source], format, storage_options or {}, read)
    if isinstance(source, bytes | io.IOBase):
        raise UsageError(
            "pass a path, a pyarrow Table/RecordBatchReader, or a pandas/polars DataFrame"
        )
    if not read.is_default:
        raise UsageError(
            f"read options ({read.describe()}) apply to files; a {type(source).__name__} already has its types"
        )
    src = _from_object(source)
    if src is None:
        raise UsageError(
            f"cannot snapshot a {type(source).__name__}; pass a path, table or DataFrame"
        )
    return src
