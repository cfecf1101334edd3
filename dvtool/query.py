"""SQL over snapshots: every dataset is a view by its name (latest) and by ``"NAME@REF"``.

Only the tables the SQL names are resolved, so only the chunks of those
snapshots are verified and read. The SQL runs in a locked-down DuckDB
(:func:`dvtool.sql.sandbox`): each named snapshot is a pyarrow dataset over
its verified chunk files, opened by dvtool and registered with the connection, so
DuckDB itself opens no file and no URL; statements other than queries are
refused (:func:`dvtool.sql.check_read_only`). Projections and filters are
pushed down into the pyarrow scan. A DuckDB error becomes a
one-line :class:`~dvtool.errors.UsageError` (exit 2).
"""

from __future__ import annotations

import functools
import json
import re
import shutil
import tempfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import IO, TYPE_CHECKING, Any, Literal

import pyarrow as pa

from dvtool import sql
from dvtool.errors import UsageError
from dvtool.escaping import printable
from dvtool.format.jsonvalues import encode_array, json_value
from dvtool.readplan import ChunkMerge, load_patch, patch_merge

if TYPE_CHECKING:
    from dvtool.catalog import Catalog

__all__ = [
    "FORMATS",
    "QueryResult",
    "TableInput",
    "catalog_resolver",
    "format_table",
    "open_catalog_query",
    "open_query",
    "query_catalog",
    "run_query",
    "write_result",
]

Format = Literal["table", "csv", "json", "parquet"]
FORMATS: tuple[str, ...] = ("table", "csv", "json", "parquet")
TABLE_MAX_ROWS = 1000


@dataclass(frozen=True, slots=True)
class TableInput:
    """What a table name in the SQL stands for: verified Parquet files, or Arrow data."""

    schema: pa.Schema
    files: tuple[str, ...] = ()
    data: pa.Table | pa.RecordBatchReader | None = None
    # A patched snapshot: ``files`` are its base; these rows are added and these keys dropped.
    upserts: pa.Table | None = None
    removed_keys: pa.Table | None = None
    key: tuple[str, ...] = ()
    # ... by row number, when the patch records positions: base chunk index → its merge.
    merges: dict[int, ChunkMerge] | None = None


Resolver = Callable[[str], TableInput | None]


def _first_line(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


class QueryResult:
    """A running query: ``reader`` streams the result; close (or use ``with``) when done."""

    def __init__(self, con: Any, reader: pa.RecordBatchReader, scratch: str | None = None) -> None:
        self._con = con
        self._scratch = scratch
        self.reader = reader

    def __enter__(self) -> QueryResult:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._con.close()
        if self._scratch is not None:
            shutil.rmtree(self._scratch, ignore_errors=True)

    def read_all(self) -> pa.Table:
        try:
            return self.reader.read_all()
        except pa.ArrowException as exc:  # DuckDB errors surface here once streaming has begun
            raise UsageError(f"query failed: {_first_line(exc)}") from None


def open_query(
    text: str,
    resolve: Resolver,
    *,
    filesystem: Any = None,
    known: Sequence[str] = (),
    batch_rows: int = 65536,
) -> QueryResult:
    """Bind the tables ``text`` names through ``resolve`` and start the query.

    ``known`` (the dataset names) only improves the message when a table is missing.
    """
    if not text.strip():
        raise UsageError("query: the SQL is empty")
    scratch = tempfile.mkdtemp(prefix="dvtool-query-")
    try:
        con = sql.sandbox(scratch=scratch)
    except BaseException:
        shutil.rmtree(scratch, ignore_errors=True)
        raise
    try:
        try:
            sql.check_read_only(con, text)
        except UsageError as exc:
            hint = _unquoted_ref_hint(text, exc.message)
            if not hint:
                raise
            raise UsageError(exc.message + hint) from None
        names = _table_names(con, text)
        _refuse_names_equal_ignoring_case(names)
        for i, name in enumerate(names):
            table = resolve(name)
            if table is None:
                continue
            source = _register(con, i, table, filesystem)
            con.execute(
                f"CREATE OR REPLACE TEMP VIEW {sql.quote_ident(name)} AS SELECT * FROM {source}"
            )
        try:
            relation = con.sql(text)
            if relation is None:
                # A statement with no result has run already: an empty result.
                reader = pa.RecordBatchReader.from_batches(pa.schema([]), iter(()))
            else:
                reader = relation.to_arrow_reader(batch_rows)
        except Exception as exc:
            message = _first_line(exc)
            if known and ("does not exist" in message or "not found" in message.lower()):
                message += f" (datasets: {', '.join(known[:20])})"
            raise UsageError(f"query failed: {message}") from None
    except BaseException:
        con.close()
        shutil.rmtree(scratch, ignore_errors=True)
        raise
    return QueryResult(con, reader, scratch)


def _table_names(con: Any, text: str) -> list[str]:
    """The table names ``text`` refers to, found by parsing only (the tables do not exist yet)."""
    (raw,) = con.execute("SELECT json_serialize_sql(?)", [text]).fetchall()[0]
    tree = json.loads(raw)
    if not tree.get("error"):
        found: set[str] = set()
        _walk(tree, found)
        return sorted(found)
    if tree.get("error_type") == "parser":
        message = f"Parser Error: {tree.get('error_message', 'syntax error')}"
        raise UsageError(f"query failed: {message}{_unquoted_ref_hint(text, message)}")
    # Not a plain SELECT (DESCRIBE, SUMMARIZE, PIVOT …): ask DuckDB's binder instead.
    try:
        return sorted(con.get_table_names(text, qualified=False))
    except Exception as exc:  # a DuckDB error: report it as the query's
        raise UsageError(f"query failed: {_first_line(exc)}") from None


_REF = re.compile(r"(?<![\w.\"'])([A-Za-z0-9][A-Za-z0-9._-]*@[A-Za-z0-9~._:-]*[A-Za-z0-9~])")


def _unquoted_ref_hint(text: str, message: str) -> str:
    """``from flights@v3`` is a syntax error to SQL: say how to write a REF as a table name."""
    if "@" not in message:
        return ""
    # Blank out quoted strings and identifiers, so '...@...' and "a@v1" are not flagged.
    bare = re.sub(r"'(?:[^']|'')*'|\"(?:[^\"]|\"\")*\"", lambda m: " " * len(m.group(0)), text)
    m = _REF.search(bare)
    if m is None:
        return ""
    return f' (a REF is a table name with "@" in it: write "{m.group(1)}" in double quotes)'


def _walk(node: Any, found: set[str]) -> None:
    if isinstance(node, dict):
        if node.get("type") == "BASE_TABLE" and isinstance(node.get("table_name"), str):
            found.add(node["table_name"])
        for value in node.values():
            _walk(value, found)
    elif isinstance(node, list):
        for value in node:
            _walk(value, found)


def _refuse_names_equal_ignoring_case(names: Sequence[str]) -> None:
    """DuckDB matches table names ignoring case, even quoted: two such names would be one view."""
    seen: dict[str, str] = {}
    for name in names:
        other = seen.setdefault(name.lower(), name)
        if other != name:
            raise UsageError(
                f"query names both {other!r} and {name!r}; SQL does not tell table names apart by "
                "case, so they would read as one table"
            )


def _register(con: Any, i: int, table: TableInput, filesystem: Any) -> str:
    """Make ``table`` readable by the locked connection; DuckDB never opens a file itself."""
    name = f"dv_arrow_{i}"
    if table.data is not None:
        con.register(name, table.data)
    elif not table.files:
        # An empty snapshot: zero rows, but the columns and their types are kept.
        con.register(name, query_schema(table.schema).empty_table())
    elif table.upserts is not None and table.merges is not None:
        # Merge-on-read by row number: the base files are scanned with the
        # columns the query needs, and each patched chunk's batches have the
        # patch applied as they stream (no key read, no join), in key order.
        con.register(name, _patched_dataset(table, filesystem))
        return name
    else:
        con.register(name, _dataset(table, filesystem))
    if table.upserts is not None and table.removed_keys is not None:
        # A patch without positions (written before they were recorded), pushed
        # down to DuckDB: base rows whose key the patch removed are dropped, the
        # upserts added (in no particular order, as any SQL table: a query that
        # needs an order says ORDER BY). The removed keys are registered as a
        # dataset, like the base, so DuckDB (which estimates neither) keeps them
        # as the join's build side instead of hashing every base row.
        import pyarrow.dataset as ds

        con.register(f"{name}_upserts", table.upserts.cast(query_schema(table.upserts.schema)))
        removed = table.removed_keys.cast(query_schema(table.removed_keys.schema))
        con.register(f"{name}_removed", ds.dataset(removed))
        keys = ", ".join(sql.quote_ident(k) for k in table.key)
        con.execute(
            f"CREATE OR REPLACE TEMP VIEW {name}_patched AS "
            f"SELECT * FROM (SELECT * FROM {name} ANTI JOIN {name}_removed USING ({keys}) "
            f"UNION ALL SELECT * FROM {name}_upserts)"
        )
        return f"{name}_patched"
    return name


def _patched_dataset(table: TableInput, filesystem: Any) -> Any:
    """A pyarrow Dataset whose scans are the patched rows (see :func:`_patched_dataset_type`)."""
    assert table.upserts is not None and table.merges is not None
    base = _dataset(table, filesystem)
    upserts = table.upserts.cast(query_schema(table.upserts.schema))
    return _patched_dataset_type()(base, upserts, table.merges)


def _fields_of(expression: Any, schema: pa.Schema) -> set[str]:
    """The columns a pyarrow filter expression reads: those it cannot be bound without."""
    empty = schema.empty_table()
    out = set()
    for name in schema.names:
        try:
            empty.drop_columns([name]).filter(expression)
        except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError, KeyError):
            out.add(name)
    return out


@functools.lru_cache(maxsize=1)
def _patched_dataset_type() -> type:
    """The class of :func:`_patched_dataset` (defined on first use: pyarrow.dataset is a heavy import).

    DuckDB scans a pyarrow Dataset through its ``scanner(columns=, filter=)``,
    which is what pushes projections and filters down. This Dataset's scanner
    reads the base files with the columns asked for (and those a pushed filter
    names, since the filter applies to the patched rows) and applies each
    chunk's patch by row number while streaming. The Dataset underneath is
    one file that does not exist: anything that scanned it other than through
    ``scanner`` would get an error, never the base rows.
    """
    import itertools
    import os
    import tempfile
    import uuid

    import pyarrow.dataset as ds
    from pyarrow.fs import LocalFileSystem

    from dvtool.errors import IntegrityError
    from dvtool.readplan import merge_batches

    class PatchedDataset(ds.FileSystemDataset):  # type: ignore[misc]
        def __init__(
            self, base: ds.Dataset, upserts: pa.Table, merges: dict[int, ChunkMerge]
        ) -> None:
            nowhere = os.path.join(tempfile.gettempdir(), f"dvtool-no-such-{uuid.uuid4().hex}", "x")
            fmt = ds.ParquetFileFormat()
            local = LocalFileSystem()
            super().__init__([fmt.make_fragment(nowhere, local)], base.schema, fmt, local)
            self.base, self.upserts, self.merges = base, upserts, merges
            self.paths = [f.path for f in base.get_fragments()]

        def scanner(self, columns: Any = None, filter: Any = None, **_: Any) -> PatchedScan:
            return PatchedScan(self, columns, filter)

        def batches(self, read: list[str]) -> Iterator[pa.RecordBatch]:
            """The patched rows of columns ``read``, in key order."""
            upserts = self.upserts.select(read)
            scan = self.base.scanner(columns=read).scan_batches()  # in order, tagged by file
            groups = itertools.groupby(scan, key=lambda tagged: tagged.fragment.path)
            for index, path in enumerate(self.paths):
                group = next(groups, None)
                if group is None or group[0] != path:
                    raise IntegrityError(f"base chunk {index} of a patched snapshot was not read")
                rows = (tagged.record_batch for tagged in group[1])
                merge = self.merges.get(index)
                if merge is None:
                    yield from rows
                    continue
                a, b = merge.upserts
                yield from merge_batches(rows, merge, upserts.slice(a, b - a))
            if next(groups, None) is not None:
                raise IntegrityError("a patched snapshot's scan read more files than it has chunks")

    class PatchedScan:
        """What ``PatchedDataset.scanner`` returns: ``to_reader``, ``to_batches``, ``to_table``.

        Rows are produced in the consumer's thread, not on pyarrow's I/O pool
        (where a scan nested in another could wait on itself). A pushed filter
        is applied to the patched rows by pyarrow's own evaluation.
        """

        def __init__(self, dataset: PatchedDataset, columns: Any, filter: Any) -> None:
            schema = dataset.base.schema
            if columns is not None and not isinstance(columns, list | tuple):
                raise UsageError("a patched snapshot is scanned by column names only")
            wanted = list(schema.names) if columns is None else list(columns)
            needed = set(wanted) | (_fields_of(filter, schema) if filter is not None else set())
            # No column asked (a count): one column carries the row count.
            self.read = [n for n in schema.names if n in needed] or schema.names[:1]
            self.dataset, self.filter, self.wanted = dataset, filter, wanted
            self.projected_schema = pa.schema([schema.field(n) for n in wanted])

        def to_batches(self) -> Iterator[pa.RecordBatch]:
            for batch in self.dataset.batches(self.read):
                if self.filter is None:
                    yield batch.select(self.wanted)
                    continue
                for part in pa.Table.from_batches([batch]).filter(self.filter).to_batches():
                    yield part.select(self.wanted)

        def to_reader(self) -> pa.RecordBatchReader:
            return pa.RecordBatchReader.from_batches(self.projected_schema, self.to_batches())

        def to_table(self) -> pa.Table:
            return self.to_reader().read_all()

    return PatchedDataset


def query_type(typ: pa.DataType) -> pa.DataType:
    """The type a column has in a query: what DuckDB holds exactly.

    DuckDB reads no decimal256, float16 or nanosecond duration from Arrow
    exactly: a decimal of at most 38 digits becomes a decimal128, a wider one
    its exact text, a duration its integer count in its unit, float16 float32.
    """
    t = pa.types
    if t.is_dictionary(typ):
        return query_type(typ.value_type)
    if t.is_decimal256(typ):
        return pa.decimal128(typ.precision, typ.scale) if typ.precision <= 38 else pa.string()
    if t.is_duration(typ):
        return pa.int64()
    if t.is_float16(typ):
        return pa.float32()
    if t.is_list(typ) or t.is_large_list(typ):
        return pa.list_(query_type(typ.value_type))
    if t.is_fixed_size_list(typ):
        return pa.list_(query_type(typ.value_type), typ.list_size)
    if t.is_map(typ):
        return pa.map_(query_type(typ.key_type), query_type(typ.item_type))
    if t.is_struct(typ):
        return pa.struct([pa.field(f.name, query_type(f.type)) for f in typ])
    return typ


def query_schema(schema: pa.Schema) -> pa.Schema:
    return pa.schema([pa.field(f.name, query_type(f.type)) for f in schema])


def _dataset(table: TableInput, filesystem: Any) -> Any:
    """A pyarrow dataset over the (verified) chunk files; DuckDB pushes projections and filters into it."""
    import pyarrow.dataset as ds

    local = filesystem is None or getattr(filesystem, "protocol", None) in (
        "file",
        ("file", "local"),
    )
    schema = query_schema(table.schema)  # the dataset casts to it while scanning, exactly
    if local:
        return ds.dataset(list(table.files), schema=schema, format="parquet")
    from pyarrow.fs import FSSpecHandler, PyFileSystem

    paths = [filesystem._strip_protocol(f) for f in table.files]
    return ds.dataset(
        paths, schema=schema, format="parquet", filesystem=PyFileSystem(FSSpecHandler(filesystem))
    )


def run_query(
    text: str, resolve: Resolver, *, filesystem: Any = None, known: Sequence[str] = ()
) -> pa.Table:
    """The whole result of ``text`` as a pyarrow Table."""
    with open_query(text, resolve, filesystem=filesystem, known=known) as result:
        return result.read_all()


# ---------------------------------------------------------------- repository glue


def catalog_resolver(catalog: Catalog) -> tuple[Resolver, list[str]]:
    """A resolver mapping ``NAME`` and ``NAME@REF`` to the verified chunk files of that snapshot."""
    names = catalog.dataset_names()

    def resolve(table: str) -> TableInput | None:
        snap = catalog.query_table(table, names)
        if snap is None:
            return None
        files = tuple(snap.verified_files())
        if not snap.patched:
            return TableInput(snap.schema, files)
        patch = load_patch(catalog.store, snap.manifest)
        return TableInput(
            snap.schema,
            files,
            upserts=patch.upserts,
            removed_keys=patch.removed.select(list(snap.key)),
            key=snap.key,
            merges=patch_merge(snap.manifest, patch),
        )

    return resolve, names


def query_catalog(catalog: Catalog, text: str) -> pa.Table:
    """``repo.query(sql)``: run ``text`` with every dataset of the repository as a table."""
    resolve, names = catalog_resolver(catalog)
    return run_query(text, resolve, filesystem=catalog.store.filesystem, known=names)


def open_catalog_query(catalog: Catalog, text: str) -> QueryResult:
    """Like :func:`query_catalog`, streaming: for results larger than memory."""
    resolve, names = catalog_resolver(catalog)
    return open_query(text, resolve, filesystem=catalog.store.filesystem, known=names)


# ---------------------------------------------------------------- output


def _batches(reader: pa.RecordBatchReader) -> Iterator[pa.RecordBatch]:
    try:
        yield from reader
    except pa.ArrowException as exc:
        raise UsageError(f"query failed: {_first_line(exc)}") from None


def write_result(reader: pa.RecordBatchReader, fmt: str, out: IO[bytes]) -> int:
    """Stream the result to ``out`` as table|csv|json|parquet; returns the number of rows."""
    if fmt == "table":
        rows: list[pa.RecordBatch] = []
        seen = 0
        more = False
        for batch in _batches(reader):
            if seen + batch.num_rows > TABLE_MAX_ROWS:
                rows.append(batch.slice(0, TABLE_MAX_ROWS - seen))
                more = True
                break
            rows.append(batch)
            seen += batch.num_rows
        table = pa.Table.from_batches(rows, schema=reader.schema)
        text = format_table(table)
        if more:
            text += f"(only the first {TABLE_MAX_ROWS} rows are shown; use --format csv or LIMIT)\n"
        out.write(text.encode("utf-8"))
        return int(table.num_rows)
    if fmt == "csv":
        return _write_csv(reader, out)
    if fmt == "json":
        return _write_json(reader, out)
    if fmt == "parquet":
        import pyarrow.parquet as pq

        n = 0
        with pq.ParquetWriter(out, reader.schema) as writer:
            for batch in _batches(reader):
                writer.write_batch(batch)
                n += batch.num_rows
        return n
    raise UsageError(f"unknown query format {fmt!r} (choose from {', '.join(FORMATS)})")


def _write_csv(reader: pa.RecordBatchReader, out: IO[bytes]) -> int:
    import pyarrow.csv as pacsv

    for f in reader.schema:
        if pa.types.is_nested(f.type):
            raise UsageError(
                f"column {f.name!r} has type {f.type}, which CSV cannot hold; use --format json or parquet"
            )
    n = 0
    with pacsv.CSVWriter(out, reader.schema) as writer:
        for batch in _batches(reader):
            writer.write_batch(batch)
            n += batch.num_rows
    return n


def _write_json(reader: pa.RecordBatchReader, out: IO[bytes]) -> int:
    """An array of row objects, one per line, written as it streams."""
    n = 0
    out.write(b"[")
    for batch in _batches(reader):
        names = batch.schema.names
        columns = [encode_array(col) for col in batch.columns]  # exact, by Arrow type
        for values in zip(*columns, strict=True):
            out.write((",\n" if n else "\n").encode("utf-8"))
            row = dict(zip(names, values, strict=True))
            out.write(json.dumps(row, ensure_ascii=False, allow_nan=False).encode("utf-8"))
            n += 1
    out.write(b"\n]\n" if n else b"]\n")
    return n


def format_table(table: pa.Table) -> str:
    """A plain aligned text table; numbers right-aligned, nulls shown as NULL."""
    if table.num_columns == 0:
        return "(no columns)\n"
    names = table.column_names
    right = [
        pa.types.is_integer(f.type) or pa.types.is_floating(f.type) or pa.types.is_decimal(f.type)
        for f in table.schema
    ]
    cells = [[printable(n) for n in names]]
    columns = [encode_array(col) for col in table.columns]  # exact, by Arrow type
    for values in zip(*columns, strict=True):
        cells.append([_cell(v) for v in values])
    widths = [max(len(r[i]) for r in cells) for i in range(len(names))]
    lines = []
    for n, r in enumerate(cells):
        parts = [c.rjust(widths[i]) if right[i] else c.ljust(widths[i]) for i, c in enumerate(r)]
        lines.append("  ".join(parts).rstrip())
        if n == 0:
            lines.append("  ".join("-" * w for w in widths))
    lines.append(f"({table.num_rows} row{'s' if table.num_rows != 1 else ''})")
    return "\n".join(lines) + "\n"


def _cell(value: Any) -> str:
    if value is None:
        return "NULL"
    v = json_value(value)
    text = v if isinstance(v, str) else json.dumps(v, ensure_ascii=False)
    text = printable(text)
    return text if len(text) <= 80 else text[:79] + "…"
