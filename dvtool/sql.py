"""The one owner of DuckDB: connections, identifier quoting, reading chunks.

Every module that needs SQL (query, diff, cross-chunk validation, sorting a
snapshot by its key) goes through here, so a DuckDB upgrade is a one-file
change. Identifiers are always quoted with :func:`quote_ident`; values are
always bound as parameters, never formatted into SQL text.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Sequence
from typing import Any

import duckdb
import pyarrow as pa

from dvtool.errors import UsageError

__all__ = [
    "READ_ONLY_STATEMENTS",
    "check_read_only",
    "connect",
    "parquet_scan",
    "quote_ident",
    "quote_literal",
    "sandbox",
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
    *, filesystem: Any = None, memory_limit: str | None = None, threads: int | None = None
) -> duckdb.DuckDBPyConnection:
    """A fresh in-memory connection; spills to a temp folder when over ``memory_limit``.

    ``filesystem`` (an fsspec filesystem) is registered so ``read_parquet`` can
    read its URLs even where DuckDB's own httpfs extension is not installed.
    """
    con = duckdb.connect(":memory:")
    con.execute(f"SET temp_directory = {quote_literal(tempfile.gettempdir())}")
    con.execute("SET preserve_insertion_order = true")
    if memory_limit:
        con.execute(f"SET memory_limit = {quote_literal(memory_limit)}")
    if threads or os.environ.get("DVTOOL_THREADS"):
        con.execute(f"SET threads = {int(threads or os.environ['DVTOOL_THREADS'])}")
    if filesystem is not None and getattr(filesystem, "protocol", None) not in ("file", ("file", "local")):
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


def sorted_reader(
    reader: pa.RecordBatchReader, key: Sequence[str], *, batch_rows: int = 65536
) -> tuple[pa.RecordBatchReader, duckdb.DuckDBPyConnection]:
    """Sort a stream by ``key`` in DuckDB, spilling to disk when it does not fit in memory.

    Returns the sorted stream and the connection that owns it (close it when done).
    Nulls sort last. The schema of the stream is kept exactly.
    """
    con = connect(memory_limit=os.environ.get("DVTOOL_SORT_MEMORY", "1GB"))
    con.register("dvtool_input", reader)
    order = ", ".join(f"{quote_ident(k)} ASC NULLS LAST" for k in key)
    try:
        rel = con.sql(f"SELECT * FROM dvtool_input ORDER BY {order}")
        out = rel.to_arrow_reader(batch_rows)
    except duckdb.Error as exc:
        con.close()
        raise UsageError(f"cannot sort by {', '.join(key)}: {str(exc).splitlines()[0]}") from None
    return out, con
