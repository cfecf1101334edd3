"""The one owner of DuckDB: connections, identifier quoting, reading chunks.

Every module that needs SQL (query, diff, cross-chunk validation, sorting a
snapshot by its key) goes through here, so a DuckDB upgrade is a one-file
change. Identifiers are always quoted with :func:`quote_ident`; values are
always bound as parameters, never formatted into SQL text.

It also knows which Arrow types DuckDB holds exactly (:func:`plan_for`):
a ``decimal256`` is not read from Arrow at all and is read from Parquet as
DOUBLE when wider than 38 digits, durations become microsecond INTERVALs,
``float16`` is not read, and ``-0.0 = 0.0`` is true. Whatever goes through
DuckDB and comes back (a sort, a diff) goes through an exact stand-in.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import duckdb
import pyarrow as pa

from dvtool.errors import UsageError

__all__ = [
    "READ_ONLY_STATEMENTS",
    "Plan",
    "cast_back",
    "cast_to_proxy",
    "check_read_only",
    "connect",
    "parquet_scan",
    "plan_for",
    "quote_ident",
    "quote_literal",
    "sandbox",
    "scan_ok",
    "sorted_reader",
]

# The statement kinds a user's query may run. EXPLAIN is not here: EXPLAIN ANALYZE
# runs the statement it explains, COPY included.
READ_ONLY_STATEMENTS = frozenset({"SELECT"})


def quote_ident(name: str) -> str:
    """A DuckDB identifier for any column name: spaces, quotes, unicode, SQL."""
    return '"' + name.replace('"', '""') + '"'


def quote_literal(value: str) -> str:
    """A string literal, for the few places DuckDB takes no parameters (file lists)."""
    return "'" + value.replace("'", "''") + "'"


def connect(
    *,
    filesystem: Any = None,
    memory_limit: str | None = None,
    threads: int | None = None,
    propagate_statistics: bool = False,
) -> duckdb.DuckDBPyConnection:
    """A fresh in-memory connection; spills to a temp folder when over ``memory_limit``.

    ``filesystem`` (an fsspec filesystem) is registered so ``read_parquet`` can
    read its URLs even where DuckDB's own httpfs extension is not installed.

    DuckDB's statistics propagation trusts Parquet min/max, which leave NaN out:
    over a chunk holding NaN, ``isnan(x)`` was folded to false and ``x > 1e308``
    too (DuckDB 2.0.1). It is off unless ``propagate_statistics`` (a plain sort).
    """
    con = duckdb.connect(":memory:")
    con.execute(f"SET temp_directory = {quote_literal(tempfile.gettempdir())}")
    con.execute("SET preserve_insertion_order = true")
    if not propagate_statistics:
        con.execute("SET disabled_optimizers = 'statistics_propagation'")
    if memory_limit:
        con.execute(f"SET memory_limit = {quote_literal(memory_limit)}")
    if threads or os.environ.get("DVTOOL_THREADS"):
        con.execute(f"SET threads = {int(threads or os.environ['DVTOOL_THREADS'])}")
    if filesystem is not None and getattr(filesystem, "protocol", None) not in (
        "file",
        ("file", "local"),
    ):
        con.register_filesystem(filesystem)
    return con


def sandbox(*, scratch: str) -> duckdb.DuckDBPyConnection:
    """A connection for a user's SQL: it reads only what is registered with it, writes nowhere.

    DuckDB's own lock-down does the work: with ``enable_external_access`` off,
    no SQL function or statement may open a file, a URL or an extension
    (``read_text``, ``read_csv``, ``COPY``, ``ATTACH``, ``INSTALL``/``LOAD``), and
    ``lock_configuration`` stops SQL from turning that back on. The caller
    registers Arrow data and datasets (which dvtool opens, not DuckDB) *before*
    running the user's SQL; no filesystem is registered, so no URL is
    reachable. The one folder DuckDB can still write is ``temp_directory``,
    which it always allows: it is ``scratch``, a private folder the caller
    creates for this query and deletes after it (DuckDB spills sorts and joins
    there); the statements that write files are refused by
    :func:`check_read_only` before anything runs.
    """
    con = duckdb.connect(":memory:")
    try:
        con.execute(f"SET temp_directory = {quote_literal(scratch)}")
        con.execute("SET preserve_insertion_order = true")
        # See connect(): statistics propagation folds isnan() to false over Parquet with NaN.
        con.execute("SET disabled_optimizers = 'statistics_propagation'")
        if os.environ.get("DVTOOL_THREADS"):
            con.execute(f"SET threads = {int(os.environ['DVTOOL_THREADS'])}")
        # No Python variable of the calling frames becomes a table by its name.
        con.execute("SET python_enable_replacements = false")
        con.execute("SET autoinstall_known_extensions = false")
        con.execute("SET allow_community_extensions = false")
        con.execute("SET enable_external_access = false")
        con.execute("SET lock_configuration = true")
    except BaseException:
        con.close()
        raise
    return con


def check_read_only(con: duckdb.DuckDBPyConnection, text: str) -> None:
    """Refuse SQL with any statement that is not a query (COPY, ATTACH, SET, EXPLAIN …).

    The statements are told apart by DuckDB's parser, not by matching text.
    """
    try:
        statements = con.extract_statements(text)
    except duckdb.Error as exc:
        raise UsageError(f"query failed: {_first_line(exc)}") from None
    for statement in statements:
        kind = statement.type.name
        if kind not in READ_ONLY_STATEMENTS:
            raise UsageError(
                f"query is read-only: {kind} statements are refused (only SELECT, WITH, FROM, "
                "VALUES, DESCRIBE, SUMMARIZE, SHOW and PIVOT … IN (…) run; use --output to write a result)"
            )


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def parquet_scan(urls: Sequence[str]) -> str:
    """SQL text of a ``read_parquet`` over ``urls`` (already-verified chunk files)."""
    if not urls:
        raise ValueError("parquet_scan needs at least one file")
    files = ", ".join(quote_literal(u) for u in urls)
    return f"read_parquet([{files}])"


# ---------------------------------------------------------------- exactness

Kind = Literal["native", "float", "cast", "token"]


@dataclass(frozen=True, slots=True)
class Plan:
    """How a column of type ``original`` reaches DuckDB so that equality there is exact.

    * ``native``: DuckDB holds the type exactly; used as is;
    * ``float``: float32/float64 (float16 widened to float32, exactly): held
      exactly, but compare by sign too (``-0.0 = 0.0`` in SQL);
    * ``cast``: an exact stand-in DuckDB holds (a duration as its int64 count,
      a decimal256 of at most 38 digits as decimal128);
    * ``token``: no exact stand-in among DuckDB's types (wider decimal256, nested
      values holding floats, durations or decimal256): the value's exact JSON text.
    """

    kind: Kind
    original: pa.DataType
    proxy: pa.DataType  # the type DuckDB is given
    via: pa.DataType | None = None  # cast to this (the other side's wider type) first


def _needs_token(typ: pa.DataType) -> bool:
    """Whether DuckDB would hold a nested value of ``typ`` inexactly or compare it loosely."""
    t = pa.types
    if t.is_floating(typ) or t.is_duration(typ) or t.is_decimal256(typ) or t.is_interval(typ):
        return True
    if t.is_dictionary(typ):
        return _needs_token(typ.value_type)
    return any(_needs_token(typ.field(i).type) for i in range(typ.num_fields))


def plan_for(typ: pa.DataType) -> Plan:
    """The :class:`Plan` of a column of type ``typ``."""
    t = pa.types
    if t.is_dictionary(typ):
        inner = plan_for(typ.value_type)
        return Plan(inner.kind, typ, inner.proxy)
    if t.is_float16(typ):
        return Plan("float", typ, pa.float32())
    if t.is_floating(typ):
        return Plan("float", typ, typ)
    if t.is_duration(typ):
        return Plan("cast", typ, pa.int64())
    if t.is_decimal256(typ):
        if typ.precision <= 38:
            return Plan("cast", typ, pa.decimal128(typ.precision, typ.scale))
        return Plan("token", typ, pa.string())
    if typ.num_fields and _needs_token(typ):
        return Plan("token", typ, pa.string())
    return Plan("native", typ, typ)


def scan_ok(plans: Sequence[Plan]) -> bool:
    """Whether DuckDB may read the Parquet files itself: every column is held exactly as stored."""
    return all(p.kind in ("native", "float") and p.proxy.equals(p.original) for p in plans)


def cast_to_proxy(arr: pa.Array | pa.ChunkedArray, plan: Plan) -> pa.Array | pa.ChunkedArray:
    """A column as DuckDB gets it, for every plan but ``token`` (diff/exact.py makes tokens)."""
    if pa.types.is_dictionary(arr.type):
        arr = arr.cast(arr.type.value_type)
    if arr.type.equals(plan.proxy):
        return arr
    if pa.types.is_duration(arr.type):
        return arr.cast(pa.int64())
    return arr.cast(plan.proxy)


def cast_back(arr: pa.Array | pa.ChunkedArray, target: pa.DataType) -> pa.Array | pa.ChunkedArray:
    """A column read back from DuckDB in its own type (a zone name or unit DuckDB dropped, a stand-in)."""
    if pa.types.is_dictionary(target):
        target = target.value_type
    if arr.type.equals(target):
        return arr
    if pa.types.is_duration(target):
        return arr.cast(pa.int64()).cast(target)
    return arr.cast(target)


def sorted_reader(
    reader: pa.RecordBatchReader, key: Sequence[str], *, batch_rows: int = 65536
) -> tuple[pa.RecordBatchReader, duckdb.DuckDBPyConnection]:
    """Sort a stream by ``key`` in DuckDB, spilling to disk when it does not fit in memory.

    Returns the sorted stream and the connection that owns it (close it when done).
    Nulls sort last. Values and types are kept exactly: columns DuckDB cannot
    hold (float16, decimal256, durations) go through an exact stand-in and
    back; when a nested column holds such values, the input is sorted in
    memory by pyarrow instead.
    """
    schema = reader.schema
    plans = [plan_for(f.type) for f in schema]
    con = connect(
        memory_limit=os.environ.get("DVTOOL_SORT_MEMORY", "1GB"), propagate_statistics=True
    )
    if any(p.kind == "token" for p in plans):
        return _sorted_in_memory(reader, key, batch_rows), con
    if all(p.proxy.equals(p.original) for p in plans):
        con.register("dvtool_input", reader)
    else:
        proxy_schema = pa.schema(
            [pa.field(f.name, p.proxy) for f, p in zip(schema, plans, strict=True)]
        )

        def proxied() -> Iterator[pa.RecordBatch]:
            for batch in reader:
                columns = [cast_to_proxy(c, p) for c, p in zip(batch.columns, plans, strict=True)]
                yield pa.RecordBatch.from_arrays(columns, schema=proxy_schema)

        con.register("dvtool_input", pa.RecordBatchReader.from_batches(proxy_schema, proxied()))
    order = ", ".join(f"{quote_ident(k)} ASC NULLS LAST" for k in key)
    try:
        rel = con.sql(f"SELECT * FROM dvtool_input ORDER BY {order}")
        out = rel.to_arrow_reader(batch_rows)
    except duckdb.Error as exc:
        con.close()
        raise UsageError(f"cannot sort by {', '.join(key)}: {str(exc).splitlines()[0]}") from None

    def restored() -> Iterator[pa.RecordBatch]:
        for batch in out:
            columns = [cast_back(c, f.type) for c, f in zip(batch.columns, schema, strict=True)]
            yield pa.RecordBatch.from_arrays(columns, schema=schema)

    return pa.RecordBatchReader.from_batches(schema, restored()), con


def _sorted_in_memory(
    reader: pa.RecordBatchReader, key: Sequence[str], batch_rows: int
) -> pa.RecordBatchReader:
    import pyarrow.compute as pc

    table = reader.read_all()
    try:
        order = pc.sort_indices(table, sort_keys=[(k, "ascending", "at_end") for k in key])
    except (pa.ArrowNotImplementedError, pa.ArrowInvalid) as exc:
        raise UsageError(f"cannot sort by {', '.join(key)}: {str(exc).splitlines()[0]}") from None
    return table.take(order).to_reader(batch_rows)
