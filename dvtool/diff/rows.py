"""Rows of two sides compared in DuckDB (through sql.py): the sides and the engine.

:mod:`dvtool.diff.plan` decides what to compare (which chunks are skipped, how key
ranges are grouped); this module reads the chunks of a group, verified and a
few ahead on worker threads, streams them into DuckDB and adds up counts and
samples. Every identifier is quoted with sql.quote_ident and every value bound.
"""

from __future__ import annotations

import contextlib
import os
from collections import deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from dvtool import sql
from dvtool.diff.columns import ColumnTally, Tolerance, is_numeric, keyed_delta_query, tally
from dvtool.diff.exact import restore, to_proxy
from dvtool.diff.report import ChangedRow, widens
from dvtool.errors import DataError, DvtoolError, UsageError
from dvtool.format.jsonvalues import python_values
from dvtool.format.models import ChunkInfo
from dvtool.sql import Plan, plan_for, scan_ok

__all__ = ["Engine", "Loader", "Side"]

Loader = Callable[[ChunkInfo], pa.Table]

# Chunks read ahead of DuckDB's scan, on this many threads.
_PREFETCH = max(2, min(8, os.cpu_count() or 2))


@dataclass(frozen=True, slots=True)
class Side:
    """One side of a diff: a chunked snapshot (``chunks`` + ``load``) or a row stream (``stream``).

    ``key`` is the key the chunked rows are unique and sorted by (recorded at
    snapshot time); only then can key ranges split the work. A stream is
    trusted for nothing: its key is checked for nulls and duplicates.
    """

    label: str
    schema: pa.Schema
    chunks: tuple[ChunkInfo, ...] = ()
    key: tuple[str, ...] = ()
    load: Loader | None = None
    stream: Callable[[], pa.RecordBatchReader] | None = None
    # For chunks stored as local files: check the chunk's bytes against its id
    # and return its path, so DuckDB scans the Parquet natively (in parallel)
    # instead of pulling Arrow batches through Python.
    verified_path: Callable[[ChunkInfo], str | None] | None = None

    @classmethod
    def from_files(
        cls,
        label: str,
        schema: pa.Schema,
        chunks: Sequence[ChunkInfo],
        files: Sequence[str],
        *,
        key: Sequence[str] = (),
        filesystem: Any = None,
    ) -> Side:
        """A side made of Parquet files, ``files[i]`` holding ``chunks[i]``."""
        if len(files) != len(chunks):
            raise ValueError("one file per chunk")
        where = {c.object: f for c, f in zip(chunks, files, strict=True)}

        def load(chunk: ChunkInfo) -> pa.Table:
            return pq.read_table(where[chunk.object], filesystem=filesystem)

        return cls(label, schema, tuple(chunks), tuple(key), load=load)

    @classmethod
    def from_arrow(cls, label: str, data: pa.Table | pa.RecordBatchReader) -> Side:
        """A SOURCE side from a Table or a RecordBatchReader (read once)."""
        if isinstance(data, pa.Table):
            table = data
            return cls(label, table.schema, stream=table.to_reader)
        reader = data
        return cls(label, reader.schema, stream=lambda: reader)

    @property
    def chunked(self) -> bool:
        return self.stream is None


# ---------------------------------------------------------------- rows


@dataclass(slots=True)
class _Feed:
    """Counts rows flowing into DuckDB and keeps an error raised while reading."""

    rows: int = 0
    error: BaseException | None = None


def _conform(table: pa.Table | pa.RecordBatch, schema: pa.Schema, what: str) -> pa.Table:
    if isinstance(table, pa.RecordBatch):
        table = pa.Table.from_batches([table])
    if table.schema.equals(schema):
        return table
    try:
        return table.select(schema.names).cast(schema)
    except (KeyError, pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError) as exc:
        raise UsageError(f"{what} does not match its schema: {str(exc).splitlines()[0]}") from None


def _prefetch(load: Loader, chunks: Sequence[ChunkInfo]) -> Iterator[tuple[ChunkInfo, pa.Table]]:
    """Load chunks in order, a few ahead on worker threads (reading and decoding release the GIL).

    At most ``_PREFETCH`` chunks are held beyond the one being consumed, so memory stays bounded.
    """
    if len(chunks) <= 1:
        for chunk in chunks:
            yield chunk, load(chunk)
        return
    pool = ThreadPoolExecutor(max_workers=_PREFETCH, thread_name_prefix="dvtool-diff-read")
    try:
        pending: deque[tuple[ChunkInfo, Future[pa.Table]]] = deque()
        todo = iter(chunks)
        for chunk in todo:
            pending.append((chunk, pool.submit(load, chunk)))
            if len(pending) >= _PREFETCH:
                break
        while pending:
            chunk, future = pending.popleft()
            nxt = next(todo, None)
            if nxt is not None:
                pending.append((nxt, pool.submit(load, nxt)))
            yield chunk, future.result()
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _proxied(table: pa.Table, plans: Sequence[Plan], schema: pa.Schema) -> pa.Table:
    """``table`` with each column as DuckDB may hold it exactly (see diff/exact.py)."""
    if all(p.kind in ("native", "float") and p.proxy.equals(p.original) for p in plans):
        return table
    columns = []
    for column, plan in zip(table.columns, plans, strict=True):
        if plan.via is not None:
            column = column.cast(plan.via)
        columns.append(to_proxy(column, plan))
    return pa.Table.from_arrays(columns, schema=schema)


def _proxy_schema(schema: pa.Schema, plans: Sequence[Plan]) -> pa.Schema:
    return pa.schema([pa.field(f.name, p.proxy) for f, p in zip(schema, plans, strict=True)])


def _reader(
    side: Side, chunks: Sequence[ChunkInfo], feed: _Feed, plans: Sequence[Plan]
) -> pa.RecordBatchReader:
    """The rows of ``chunks`` (or of the stream) as a one-pass reader DuckDB scans."""
    schema = _proxy_schema(side.schema, plans)

    def batches() -> Iterator[pa.RecordBatch]:
        try:
            if side.stream is not None:
                source = side.stream()
                for batch in source:
                    feed.rows += batch.num_rows
                    table = _conform(batch, side.schema, side.label)
                    yield from _proxied(table, plans, schema).to_batches()
                return
            assert side.load is not None
            for chunk, loaded in _prefetch(side.load, chunks):
                table = _conform(loaded, side.schema, f"chunk {chunk.object} of {side.label}")
                for batch in _proxied(table, plans, schema).to_batches():
                    feed.rows += batch.num_rows
                    yield batch
        except BaseException as exc:
            feed.error = exc
            raise

    return pa.RecordBatchReader.from_batches(schema, batches())


def _verified_paths(
    side: Side, chunks: Sequence[ChunkInfo], plans: Sequence[Plan]
) -> list[str] | None:
    """Local paths of ``chunks`` after checking each one's hash, or None to stream them instead.

    Only when DuckDB reads every column of the Parquet files exactly (see diff/exact.py).
    """
    if not side.chunked or side.verified_path is None or not chunks or not scan_ok(plans):
        return None
    with ThreadPoolExecutor(max_workers=_PREFETCH, thread_name_prefix="dvtool-diff-verify") as pool:
        paths = list(pool.map(side.verified_path, chunks))
    if any(p is None for p in paths):
        return None
    return [p for p in paths if p is not None]


def _same_family(a: pa.DataType, b: pa.DataType) -> bool:
    """Whether DuckDB compares values of ``a`` and ``b`` without an explicit cast."""
    if a.equals(b):
        return True
    t = pa.types
    if t.is_dictionary(a) or t.is_dictionary(b):
        va = a.value_type if t.is_dictionary(a) else a
        vb = b.value_type if t.is_dictionary(b) else b
        return _same_family(va, vb)
    families: tuple[Callable[[pa.DataType], bool], ...] = (
        lambda x: bool(t.is_integer(x) or t.is_floating(x) or t.is_decimal(x)),
        lambda x: bool(t.is_string(x) or t.is_large_string(x) or t.is_string_view(x)),
        lambda x: bool(t.is_binary(x) or t.is_large_binary(x)),
        lambda x: bool(t.is_date(x)),
        lambda x: bool(t.is_timestamp(x) and x.tz is None),
    )
    return any(f(a) and f(b) for f in families)


def _expr(alias: str, column: str, cast: bool) -> str:
    ref = f"{alias}.{sql.quote_ident(column)}"
    return f"CAST({ref} AS VARCHAR)" if cast else ref


def _sign(ref: str) -> str:
    """The sign of a float that equality ignores (-0.0 vs 0.0); NULL for NaN, which has one value."""
    return f"CASE WHEN isnan({ref}) THEN NULL ELSE signbit({ref}) END"


def _unified(a: pa.DataType, b: pa.DataType) -> tuple[Plan, Plan]:
    """Plans for one column typed ``a`` on the old side and ``b`` on the new one.

    When a side needs a stand-in and the types differ, the narrower side is
    first cast to the wider type, so both sides' stand-ins compare by value.
    """
    pa_, pb = plan_for(a), plan_for(b)
    if a.equals(b) or (pa_.kind in ("native", "float") and pb.kind in ("native", "float")):
        return pa_, pb
    if widens(a, b):
        wide = plan_for(b)
        return Plan(wide.kind, a, wide.proxy, via=b), pb
    if widens(b, a):
        wide = plan_for(a)
        return pa_, Plan(wide.kind, b, wide.proxy, via=a)
    return pa_, pb


class Engine:
    """Runs the groups of one diff on one DuckDB connection and adds up the results."""

    def __init__(
        self,
        old: Side,
        new: Side,
        key: tuple[str, ...],
        limit: int,
        memory_limit: str | None,
        tolerances: Mapping[str, Tolerance] | None = None,
    ):
        self.old, self.new, self.key, self.limit = old, new, key, limit
        self.con = sql.connect(memory_limit=memory_limit)
        common = [f.name for f in old.schema if f.name in set(new.schema.names)]
        plans_old = {f.name: plan_for(f.type) for f in old.schema}
        plans_new = {f.name: plan_for(f.type) for f in new.schema}
        for c in common:
            plans_old[c], plans_new[c] = _unified(
                old.schema.field(c).type, new.schema.field(c).type
            )
        self.plans_old = [plans_old[n] for n in old.schema.names]
        self.plans_new = [plans_new[n] for n in new.schema.names]
        self.cast = {c: not _same_family(plans_old[c].proxy, plans_new[c].proxy) for c in common}
        # Float columns compared as values *and* by sign (-0.0 is not 0.0), as the fingerprint does.
        self.signed = {
            c
            for c in common
            if not self.cast[c] and "float" in (plans_old[c].kind, plans_new[c].kind)
        }
        self.float_keys = [
            k
            for k in key
            if pa.types.is_floating(plans_old[k].proxy) or pa.types.is_floating(plans_new[k].proxy)
        ]
        self.compared = [c for c in common if c not in key]
        self.added = self.removed = self.changed = self.unchanged = 0
        self.per_column = dict.fromkeys(self.compared, 0)
        self.s_added: list[dict[str, Any]] = []
        self.s_removed: list[dict[str, Any]] = []
        self.s_changed: list[ChangedRow] = []
        # Column comparison (dvtool.diff.columns): tolerances and running sums per column.
        self.tolerances = {c: (tolerances or {}).get(c, Tolerance()) for c in self.compared}
        self.numeric = {
            c: is_numeric(old.schema.field(c).type) and is_numeric(new.schema.field(c).type)
            for c in self.compared
        }
        self.tallies = {c: ColumnTally() for c in self.compared}

    def close(self) -> None:
        self.con.close()

    def _relation(
        self,
        name: str,
        side: Side,
        chunks: Sequence[ChunkInfo],
        feed: _Feed,
        trusted: bool,
        plans: Sequence[Plan],
    ) -> str:
        """Register the side's rows; materialise (and check the key) when it is not trusted."""
        paths = _verified_paths(side, chunks, plans)
        if paths is not None:
            feed.rows += sum(c.rows for c in chunks)
            scan = sql.parquet_scan(paths)
            if trusted:
                return scan
            self._run(f"CREATE OR REPLACE TEMP TABLE {name} AS SELECT * FROM {scan}", feed)
        else:
            self.con.register(f"{name}_in", _reader(side, chunks, feed, plans))
            if trusted:
                return f"{name}_in"
            self._run(f"CREATE OR REPLACE TEMP TABLE {name} AS SELECT * FROM {name}_in", feed)
            self.con.unregister(f"{name}_in")
        if self.key:
            self._check_key(name, side)
        return name

    def _check_key(self, rel: str, side: Side) -> None:
        cols = ", ".join(sql.quote_ident(k) for k in self.key)
        nulls = " OR ".join(f"{sql.quote_ident(k)} IS NULL" for k in self.key)
        (nulls_found,) = self.con.sql(f"SELECT count(*) FROM {rel} WHERE {nulls}").fetchall()[0]
        if nulls_found:
            raise DataError(
                f"key ({', '.join(self.key)}) has {nulls_found} null value(s) in {side.label}"
            )
        if self.float_keys:
            odd = " OR ".join(
                f"isnan({sql.quote_ident(k)}) OR ({sql.quote_ident(k)} = 0 AND signbit({sql.quote_ident(k)}))"
                for k in self.float_keys
            )
            (found,) = self.con.sql(f"SELECT count_if({odd}) FROM {rel}").fetchall()[0]
            if found:
                raise DataError(
                    f"key ({', '.join(self.key)}) has {found} NaN or -0.0 value(s) in {side.label}; "
                    "a key may hold neither (see docs/concepts.md, 'Keys')"
                )
        dups = self.con.sql(
            f"SELECT {cols}, count(*) AS n FROM {rel} GROUP BY ALL HAVING count(*) > 1 "
            f"ORDER BY n DESC, {cols} LIMIT 1"
        ).fetchall()
        if dups:
            dup = dups[0]
            where = ", ".join(f"{k}={v!r}" for k, v in zip(self.key, dup[:-1], strict=True))
            raise DataError(
                f"key ({', '.join(self.key)}) is not unique in {side.label}: {where} appears {dup[-1]} times"
            )

    def _flag(self, c: str) -> str:
        """SQL that is true when column ``c`` differs between the joined rows ``o`` and ``n``."""
        a, b = _expr("o", c, self.cast[c]), _expr("n", c, self.cast[c])
        if c in self.signed:
            return f"({a} IS DISTINCT FROM {b} OR {_sign(a)} IS DISTINCT FROM {_sign(b)})"
        return f"({a} IS DISTINCT FROM {b})"

    def _run(self, query: str, *feeds: _Feed, params: Sequence[Any] | None = None) -> Any:
        try:
            return (
                self.con.execute(query, params) if params is not None else self.con.execute(query)
            )
        except Exception as exc:
            for feed in feeds:
                if feed.error is not None:
                    if isinstance(feed.error, DvtoolError):
                        raise feed.error from None
                    raise UsageError(f"cannot read: {feed.error}") from None
            raise UsageError(f"diff failed in DuckDB: {str(exc).splitlines()[0]}") from None

    def need(self, samples: list[Any]) -> int:
        return max(self.limit - len(samples), 0)

    # -- keyed ---------------------------------------------------------------

    def keyed_group(
        self,
        old_chunks: Sequence[ChunkInfo],
        new_chunks: Sequence[ChunkInfo],
        trusted: tuple[bool, bool],
    ) -> None:
        """Compare one group; a side not trusted to be unique by the key is materialised and checked."""
        fo, fn = _Feed(), _Feed()
        if self.float_keys:
            # NaN and -0.0 are refused in keys; a snapshot taken before that rule is checked too.
            trusted = (False, False)
        o = self._relation("dv_old", self.old, old_chunks, fo, trusted[0], self.plans_old)
        n = self._relation("dv_new", self.new, new_chunks, fn, trusted[1], self.plans_new)
        # Exact: as the fingerprint sees values (-0.0 is not 0.0; see _flag).
        query = keyed_delta_query(
            o,
            n,
            key=self.key,
            compared=self.compared,
            exact=[self._flag(c) for c in self.compared],
            numeric=self.numeric,
            tolerances=self.tolerances,
            old_names=self.old.schema.names,
            new_names=self.new.schema.names,
            expr=lambda side, k: _expr(side, k, self.cast[k]),
            ident=sql.quote_ident,
        )
        self._run(f"CREATE OR REPLACE TEMP TABLE dv_delta AS {query}", fo, fn)
        counts = [
            "count(*) FILTER (WHERE dv_kind = 'a')",
            "count(*) FILTER (WHERE dv_kind = 'r')",
            "count(*) FILTER (WHERE dv_kind = 'c')",
        ]
        counts += [
            f"count(*) FILTER (WHERE dv_kind = 'c' AND f{i})" for i in range(len(self.compared))
        ]
        row = self.con.sql(f"SELECT {', '.join(counts)} FROM dv_delta").fetchall()[0]
        added, removed, changed = int(row[0]), int(row[1]), int(row[2])
        for c, v in zip(self.compared, row[3:], strict=True):
            self.per_column[c] += int(v)
        oi = {c: i for i, c in enumerate(self.old.schema.names)}
        ni = {c: i for i, c in enumerate(self.new.schema.names)}
        tally(
            self.con,
            "dv_delta",
            [
                (c, f"f{i}", f"e{i}", f"ox{oi[c]}", f"nx{ni[c]}", self.numeric[c])
                for i, c in enumerate(self.compared)
            ],
            self.tallies,
        )
        self.added += added
        self.removed += removed
        self.changed += changed
        self.unchanged += fo.rows - removed - changed
        self._keyed_samples()
        for rel, kept in (("dv_old", trusted[0]), ("dv_new", trusted[1])):
            if kept:
                with contextlib.suppress(Exception):  # not registered when scanned from files
                    self.con.unregister(f"{rel}_in")
            else:
                self.con.execute(f"DROP TABLE IF EXISTS {rel}")
        self.con.execute("DROP TABLE dv_delta")

    def _fetch(self, query: str, plans: Sequence[Plan | None]) -> list[tuple[Any, ...]]:
        """Rows of ``query`` with each column turned back into its own type (exact, see diff/exact.py)."""
        table = self.con.sql(query).to_arrow_table()
        columns = [
            restore(col, plan) if plan is not None else python_values(col)
            for col, plan in zip(table.columns, plans, strict=True)
        ]
        return list(zip(*columns, strict=True)) if columns else []

    def _key_plans(self) -> list[Plan | None]:
        new = dict(zip(self.new.schema.names, self.plans_new, strict=True))
        return [None if self.cast[k] else new[k] for k in self.key]

    def _keyed_samples(self) -> None:
        order = ", ".join(f"k{i}" for i in range(len(self.key)))
        old_names, new_names = self.old.schema.names, self.new.schema.names
        for kind, names, prefix, out, side_plans in (
            ("a", new_names, "nx", self.s_added, self.plans_new),
            ("r", old_names, "ox", self.s_removed, self.plans_old),
        ):
            if self.need(out):
                cols = ", ".join(f"{prefix}{i}" for i in range(len(names)))
                rows = self._fetch(
                    f"SELECT {cols} FROM dv_delta WHERE dv_kind = '{kind}' "
                    f"ORDER BY {order} LIMIT {int(self.need(out))}",
                    side_plans,
                )
                out.extend(dict(zip(names, r, strict=True)) for r in rows)
        if self.need(self.s_changed):
            oi = {c: i for i, c in enumerate(old_names)}
            ni = {c: i for i, c in enumerate(new_names)}
            picks = [f"k{i}" for i in range(len(self.key))]
            plans: list[Plan | None] = self._key_plans()
            for j, c in enumerate(self.compared):
                picks.append(f"f{j}, ox{oi[c]}, nx{ni[c]}")
                plans += [None, self.plans_old[oi[c]], self.plans_new[ni[c]]]
            rows = self._fetch(
                f"SELECT {', '.join(picks)} FROM dv_delta WHERE dv_kind = 'c' "
                f"ORDER BY {order} LIMIT {int(self.need(self.s_changed))}",
                plans,
            )
            nk = len(self.key)
            for r in rows:
                key = MappingProxyType(dict(zip(self.key, r[:nk], strict=True)))
                changes = {}
                for j, c in enumerate(self.compared):
                    flag, ov, nv = r[nk + 3 * j : nk + 3 * j + 3]
                    if flag:
                        changes[c] = (ov, nv)
                self.s_changed.append(ChangedRow(key, MappingProxyType(changes)))

    def one_sided(self, side: Side, chunks: Sequence[ChunkInfo], kind: str) -> int:
        """Chunks on one side only, in a key range the other side lacks: counted, read only for samples."""
        rows = sum(c.rows for c in chunks)
        out = self.s_added if kind == "a" else self.s_removed
        if kind == "a":
            self.added += rows
        else:
            self.removed += rows
        read = 0
        names = side.schema.names
        for chunk in chunks:
            if not self.need(out):
                break
            assert side.load is not None
            table = _conform(side.load(chunk), side.schema, f"chunk {chunk.object} of {side.label}")
            read += 1
            part = table.slice(0, self.need(out))
            columns = [python_values(col) for col in part.columns]
            out.extend(dict(zip(names, r, strict=True)) for r in zip(*columns, strict=True))
        return read

    # -- keyless -------------------------------------------------------------

    def keyless(self, old_chunks: Sequence[ChunkInfo], new_chunks: Sequence[ChunkInfo]) -> None:
        fo, fn = _Feed(), _Feed()
        common = [c for c in self.old.schema.names if c in self.cast]
        self.con.register("dv_old_in", _reader(self.old, old_chunks, fo, self.plans_old))
        self.con.register("dv_new_in", _reader(self.new, new_chunks, fn, self.plans_new))
        if not common:
            # Nothing in common: every old row is removed, every new row added.
            self._run("SELECT count(*) FROM dv_old_in", fo)
            self._run("SELECT count(*) FROM dv_new_in", fn)
            self.removed += fo.rows
            self.added += fn.rows
            return
        parts_o = [f"{_expr('o', c, self.cast[c])} AS c{i}" for i, c in enumerate(common)]
        parts_n = [f"{_expr('n', c, self.cast[c])} AS c{i}" for i, c in enumerate(common)]
        signs = [(i, c) for i, c in enumerate(common) if c in self.signed]
        parts_o += [f"{_sign(_expr('o', c, False))} AS s{i}" for i, c in signs]
        parts_n += [f"{_sign(_expr('n', c, False))} AS s{i}" for i, c in signs]
        cols_o, cols_n = ", ".join(parts_o), ", ".join(parts_n)
        shown = ", ".join(f"c{i}" for i in range(len(common)))
        group = ", ".join([shown, *(f"s{i}" for i, _ in signs)])
        self._run(
            "CREATE OR REPLACE TEMP TABLE dv_delta AS "
            f"SELECT {group}, sum(dv_o)::BIGINT AS dv_o, sum(dv_n)::BIGINT AS dv_n FROM ("
            f"SELECT {cols_o}, 1 AS dv_o, 0 AS dv_n FROM dv_old_in AS o UNION ALL "
            f"SELECT {cols_n}, 0 AS dv_o, 1 AS dv_n FROM dv_new_in AS n) "
            f"GROUP BY {group} HAVING sum(dv_o) <> sum(dv_n)",
            fo,
            fn,
        )
        row = self.con.sql(
            "SELECT coalesce(sum(greatest(dv_n - dv_o, 0)), 0), coalesce(sum(greatest(dv_o - dv_n, 0)), 0) "
            "FROM dv_delta"
        ).fetchall()[0]
        added, removed = int(row[0]), int(row[1])
        self.added += added
        self.removed += removed
        self.unchanged += fo.rows - removed
        old_plans = dict(zip(self.old.schema.names, self.plans_old, strict=True))
        new_plans = dict(zip(self.new.schema.names, self.plans_new, strict=True))
        for cond, out, plans in (
            ("dv_n > dv_o", self.s_added, new_plans),
            ("dv_o > dv_n", self.s_removed, old_plans),
        ):
            if self.need(out):
                rows = self._fetch(
                    f"SELECT {shown} FROM dv_delta WHERE {cond} ORDER BY {group} "
                    f"LIMIT {int(self.need(out))}",
                    [None if self.cast[c] else plans[c] for c in common],
                )
                out.extend(dict(zip(common, r, strict=True)) for r in rows)
        self.con.execute("DROP TABLE dv_delta")
