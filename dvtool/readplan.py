"""Merge-on-read: the rows of a patched (format 2) snapshot, and the plan other engines apply.

A patched snapshot's rows are its base chunks, minus the rows whose key is in
the patch's ``removed`` object, plus the patch's ``upserts``, ordered by the
key (docs/format.md, "Format 2: patches"). Every dvtool reader goes through
:func:`apply_patch` one base chunk at a time (the patch says which slice of it
applies to which chunk), so no reader walks a chain of patches and a chunk
without a patch range is read exactly as in format 1.

A patch that records ``positions`` is applied by row number (:class:`ChunkMerge`,
:func:`merge_at`, :func:`merge_batches`): the base rows to drop and where each
upsert goes are known without reading a key column, so a reader decodes only
the columns it needs and the merge is one gather. Older patches (no positions)
are applied by key.

:class:`ReadPlan` is the same recipe for engines that read files themselves
(Spark, Trino, DuckDB, polars): ``files`` alone are the *base* rows, which are
not the snapshot's rows when ``upserts``/``removed`` are set.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from dvtool.errors import IntegrityError
from dvtool.format.layout import object_key
from dvtool.format.models import ChunkInfo, Manifest
from dvtool.storage import Store

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = [
    "ChunkMerge",
    "PatchTables",
    "ReadPlan",
    "apply_patch",
    "drop_keys",
    "load_patch",
    "logical_chunks",
    "merge_at",
    "merge_batches",
    "patch_merge",
    "patch_slices",
    "positions_of",
    "read_parquet_verified",
    "sort_by_key",
]


@dataclass(frozen=True, slots=True)
class ReadPlan:
    """How to read a snapshot's rows from raw files (for engines other than dvtool).

    Without a patch, the rows are ``files`` read in order. With one, they are::

        SELECT b.* FROM read_parquet(files) AS b ANTI JOIN read_parquet(removed) AS r USING (key...)
        UNION ALL SELECT * FROM read_parquet(upserts)
        ORDER BY key...

    (``removed`` holds whole rows; only its key columns matter here.) The
    files are not re-hashed by other engines: run ``dvtool fsck``, or read
    through :meth:`dvtool.Snapshot.scan`, when integrity matters.
    """

    files: tuple[str, ...]
    key: tuple[str, ...]
    upserts: str | None = None
    removed: str | None = None

    @property
    def patched(self) -> bool:
        return self.upserts is not None

    def to_json(self) -> dict[str, Any]:
        return {
            "files": list(self.files),
            "key": list(self.key),
            "upserts": self.upserts,
            "removed": self.removed,
        }


@dataclass(frozen=True, slots=True)
class PatchTables:
    """A manifest's patch objects, read and verified: whole upserted rows and whole removed base rows.

    ``positions`` is the positions object's column (removed rows' row numbers,
    then each upsert's), or None for a patch written without one.
    """

    upserts: pa.Table
    removed: pa.Table
    positions: Any = None  # numpy int64 array, or None


@dataclass(frozen=True, slots=True)
class ChunkMerge:
    """One patched base chunk, by row number: drop rows ``drop``; put upsert ``j`` before base row ``at[j]``.

    ``upserts`` is the [start, end) slice of the patch's upserts for this
    chunk; ``at`` may be ``rows`` (after the last base row). Both arrays are
    sorted (``drop`` strictly), checked when built.
    """

    rows: int
    drop: Any  # numpy int64
    at: Any  # numpy int64
    upserts: tuple[int, int]


def read_parquet_verified(
    store: Store, object_id: str, schema: pa.Schema | None = None
) -> pa.Table:
    """One Parquet object after checking its bytes hash to its id, cast to ``schema`` if given."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    data = store.read_verified(object_key(object_id), object_id)
    try:
        # ParquetFile, not read_table: read_table goes through pyarrow.dataset, which imports
        # pandas (about a second of start-up for a command that reads a small patch).
        table = pq.ParquetFile(pa.BufferReader(data)).read()
    except (pa.ArrowInvalid, OSError) as exc:
        raise IntegrityError(f"object {object_id} is not readable Parquet ({exc})") from None
    if schema is not None and not table.schema.equals(schema):
        try:
            table = table.cast(schema)
        except (pa.ArrowInvalid, ValueError) as exc:
            raise IntegrityError(
                f"object {object_id} does not hold the snapshot's columns ({exc})"
            ) from None
    return table


@functools.lru_cache(maxsize=8)
def _cached_patch(
    store: Store, upserts: str, removed: str, positions: str | None, schema_b64: str
) -> PatchTables:
    import numpy as np
    import pyarrow as pa

    from dvtool.format.models import schema_from_b64

    schema = schema_from_b64(schema_b64)
    rows = None
    if positions is not None:
        table = read_parquet_verified(store, positions)
        column = table.column(0) if table.num_columns == 1 else None
        if column is None or column.type != pa.int64() or column.null_count:
            raise IntegrityError(f"object {positions} is not a patch's positions")
        rows = np.asarray(column.to_numpy(), dtype=np.int64)
    return PatchTables(
        read_parquet_verified(store, upserts, schema),
        read_parquet_verified(store, removed, schema),
        rows,
    )


def load_patch(store: Store, manifest: Manifest) -> PatchTables:
    """The patch of ``manifest`` (verified reads, kept for the next few calls: it is small)."""
    from dvtool.format.models import schema_to_b64

    patch = manifest.patch
    if patch is None:
        raise ValueError(f"{manifest.dataset}@v{manifest.version} has no patch")
    tables = _cached_patch(
        store,
        patch.upserts.object,
        patch.removed.object,
        patch.positions.object if patch.positions is not None else None,
        schema_to_b64(manifest.schema),
    )
    if (
        tables.upserts.num_rows != patch.upserts.rows
        or tables.removed.num_rows != patch.removed.rows
        or (
            tables.positions is not None
            and len(tables.positions) != tables.upserts.num_rows + tables.removed.num_rows
        )
    ):
        raise IntegrityError(
            f"the patch of {manifest.dataset}@v{manifest.version} does not hold the rows its manifest lists"
        )
    return tables


def logical_chunks(manifest: Manifest) -> tuple[ChunkInfo, ...]:
    """The chunks as readers see them: a patched chunk is described by its rows after the patch."""
    if manifest.patch is None:
        return manifest.chunks
    out = list(manifest.chunks)
    for r in manifest.patch.ranges:
        out[r.chunk] = r.logical
    return tuple(out)


def patch_slices(
    manifest: Manifest, tables: PatchTables, index: int
) -> tuple[pa.Table, pa.Table] | None:
    """The (upserts, removed) rows that apply to base chunk ``index``, or None if it has none."""
    assert manifest.patch is not None
    r = manifest.patch.range_of(index)
    if r is None:
        return None
    (a, b), (c, d) = r.upserts, r.removed
    return tables.upserts.slice(a, b - a), tables.removed.slice(c, d - c)


def patch_merge(manifest: Manifest, tables: PatchTables) -> dict[int, ChunkMerge] | None:
    """Base chunk index → how its patch applies by row number; None if the patch records no positions.

    Raises IntegrityError if the positions cannot be right (out of the chunk,
    out of order): a reader never guesses.
    """
    import numpy as np

    patch = manifest.patch
    if patch is None or tables.positions is None:
        return None
    positions = tables.positions
    removed_rows = tables.removed.num_rows
    out = {}
    for r in patch.ranges:
        n = manifest.chunks[r.chunk].rows
        (a, b), (c, d) = r.upserts, r.removed
        drop = positions[c:d]
        at = positions[removed_rows + a : removed_rows + b]
        if (
            (len(drop) and (drop[0] < 0 or drop[-1] >= n or np.any(np.diff(drop) <= 0)))
            or (len(at) and (at[0] < 0 or at[-1] > n or np.any(np.diff(at) < 0)))
            or n - len(drop) + len(at) != r.logical.rows
        ):
            raise IntegrityError(
                f"the patch of {manifest.dataset}@v{manifest.version} has positions that do not fit "
                f"chunk {r.chunk}; run 'dvtool fsck'"
            )
        out[r.chunk] = ChunkMerge(n, drop, at, (a, b))
    return out


def merge_at(base: pa.Table, drop: Any, upserts: pa.Table, at: Any) -> pa.Table:
    """``base`` without its rows ``drop``, with ``upserts[j]`` placed before base row ``at[j]``.

    One gather, no key read: the row numbers come from the patch (:class:`ChunkMerge`).
    """
    import numpy as np
    import pyarrow as pa

    n, m = base.num_rows, upserts.num_rows
    if m == 0:
        if not len(drop):
            return base
        keep = np.ones(n, dtype=bool)
        keep[drop] = False
        return base.filter(pa.array(keep))
    if not upserts.schema.equals(base.schema):
        upserts = upserts.cast(base.schema)
    order = _merge_order(n, drop, m, at)
    return _take(pa.concat_tables([base, upserts]), order)


def _merge_order(n: int, drop: Any, m: int, at: Any) -> pa.Array:
    """The gather of ``n`` base rows then ``m`` upserts that drops ``drop`` and puts upsert j before base row at[j]."""
    import numpy as np
    import pyarrow as pa

    kept = np.delete(np.arange(n, dtype=np.int64), drop)
    # Each upsert goes before base row at[j], i.e. before that many kept rows.
    where = at - np.searchsorted(drop, at, side="left")
    return pa.array(np.insert(kept, where, np.arange(n, n + m, dtype=np.int64)))


def _merge_batch(
    batch: pa.RecordBatch, drop: Any, upserts: pa.RecordBatch, at: Any
) -> pa.RecordBatch:
    """:func:`merge_at` for one record batch (no chunked arrays: a plain gather)."""
    import numpy as np
    import pyarrow as pa

    n, m = batch.num_rows, upserts.num_rows
    if m == 0:
        keep = np.ones(n, dtype=bool)
        keep[drop] = False
        return batch.filter(pa.array(keep))
    return pa.concat_batches([batch, upserts]).take(_merge_order(n, drop, m, at))


def _take(table: pa.Table, order: pa.Array) -> pa.Table:
    """``table.take(order)``, a column per task when the table is large (gathers release the GIL)."""
    import pyarrow as pa

    if table.num_rows * table.num_columns < 1 << 18 or table.num_columns < 2:
        return table.take(order)
    pool = _gather_pool()
    columns = list(pool.map(lambda c: c.take(order), table.columns))
    return pa.Table.from_arrays(columns, schema=table.schema)


@functools.lru_cache(maxsize=1)
def _gather_pool() -> Any:
    import os
    from concurrent.futures import ThreadPoolExecutor

    return ThreadPoolExecutor(
        max_workers=max(1, min(4, os.cpu_count() or 1)), thread_name_prefix="dvtool-merge"
    )


def merge_batches(
    batches: Iterable[pa.RecordBatch], merge: ChunkMerge, upserts: pa.Table
) -> Iterator[pa.RecordBatch]:
    """One base chunk's batches, in order, with its patch applied by row number (streaming).

    ``upserts`` is this chunk's slice, in the batches' columns. A batch no
    edit falls in is passed through as it is. Raises IntegrityError if the
    batches do not add up to the chunk's rows.
    """
    import numpy as np

    drop, at = merge.drop, merge.at
    offset = used = 0
    ups: pa.RecordBatch | None = None
    for batch in batches:
        end = offset + batch.num_rows
        d0, d1 = np.searchsorted(drop, [offset, end], side="left")
        u1 = int(np.searchsorted(at, end, side="left"))
        if d0 == d1 and used == u1:
            yield batch
        else:
            if ups is None:  # one batch of this chunk's upserts, in the batches' types
                ups = _one_batch(upserts, batch.schema)
            yield _merge_batch(
                batch, drop[d0:d1] - offset, ups.slice(used, u1 - used), at[used:u1] - offset
            )
        offset, used = end, u1
    if offset != merge.rows:
        raise IntegrityError(
            f"a base chunk read {offset} rows where its manifest says {merge.rows}"
        )
    if used < upserts.num_rows:  # the upserts after the chunk's last row
        yield from upserts.slice(used).to_batches()


def _one_batch(table: pa.Table, schema: pa.Schema) -> pa.RecordBatch:
    import pyarrow as pa

    if not table.schema.equals(schema):
        table = table.cast(schema)
    batches = table.combine_chunks().to_batches()
    if not batches:
        return pa.RecordBatch.from_pylist([], schema=table.schema)
    return batches[0] if len(batches) == 1 else pa.concat_batches(batches)


def sort_by_key(table: pa.Table, key: Sequence[str]) -> pa.Table:
    import pyarrow.compute as pc

    order = pc.sort_indices(table, sort_keys=[(k, "ascending", "at_end") for k in key])
    return table.take(order)


def drop_keys(base: pa.Table, keys: pa.Table, key: Sequence[str]) -> pa.Table:
    """The rows of ``base`` whose key is not in ``keys``, in their order."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    if keys.num_rows == 0 or base.num_rows == 0:
        return base
    if len(key) == 1:
        k = key[0]
        values = keys.column(k).combine_chunks()
        return base.filter(pc.invert(pc.is_in(base.column(k), value_set=values)))
    positions = pa.table(
        {**{k: base.column(k) for k in key}, "__pos": pa.array(range(base.num_rows), pa.int64())}
    )
    kept = positions.join(keys.select(list(key)), keys=list(key), join_type="left anti")
    keep = np.sort(kept.column("__pos").to_numpy())
    return base.take(pa.array(keep, pa.int64()))


def apply_patch(
    base: pa.Table, upserts: pa.Table, removed: pa.Table, key: Sequence[str]
) -> pa.Table:
    """The rows of one base chunk's key range after its patch slice: base − removed ∪ upserts, by key.

    No sort of the rows: binary searches on the *key columns* say where each
    removed row is and where each upsert goes (the base and the patch are
    both sorted by the key), and one gather puts the rows in place.
    """
    import pyarrow as pa

    if upserts.num_rows == 0 and removed.num_rows == 0:
        return base
    upserts = upserts if upserts.schema.equals(base.schema) else upserts.cast(base.schema)
    plan = positions_of(base, removed, upserts, key)
    if plan is None:  # keys that do not sort as stored (never written so): the general path
        kept = drop_keys(base, removed, key)
        return sort_by_key(pa.concat_tables([kept, upserts]), key) if upserts.num_rows else kept
    return merge_at(base, plan[0], upserts, plan[1])


def positions_of(
    base: pa.Table, removed: pa.Table, upserts: pa.Table, key: Sequence[str]
) -> tuple[Any, Any] | None:
    """Where a patch slice applies in its base chunk, by key: (rows to drop, row each upsert goes before).

    What a patch's ``positions`` record (numpy int64 arrays); None when the
    keys do not say it exactly (unsorted keys, a removed key not in the base).
    """
    return _merge_plan(base, removed, upserts, key)


_SEARCHABLE = (
    "i",
    "u",
    "M",
    "m",
)  # numpy kinds whose order is Arrow's: integers, datetimes, durations


def _key_array(table: pa.Table, key: Sequence[str]) -> Any:
    """The key columns as one numpy array ordered like the key (structured when composite).

    None when a key column is not an integer or time, or the keys do not strictly increase.
    """
    import numpy as np
    import pyarrow as pa

    columns = []
    for name in key:
        col = table.column(name)
        typ = col.type
        if col.null_count or not (
            pa.types.is_integer(typ)
            or pa.types.is_timestamp(typ)
            or pa.types.is_date(typ)
            or pa.types.is_duration(typ)
        ):
            return None
        if pa.types.is_timestamp(typ):
            col = col.cast(pa.timestamp(typ.unit))  # the zone does not change the order
        values = col.to_numpy()
        if values.dtype.kind not in _SEARCHABLE:
            return None
        columns.append(values)
    if not _increasing(columns):
        return None
    if len(columns) == 1:
        return columns[0]
    out = np.empty(table.num_rows, dtype=[(f"k{i}", c.dtype) for i, c in enumerate(columns)])
    for i, c in enumerate(columns):
        out[f"k{i}"] = c
    return out


def _increasing(columns: list[Any]) -> bool:
    """True if the rows of ``columns`` (numpy, lexicographic) strictly increase."""
    import numpy as np

    if not columns or len(columns[0]) < 2:
        return True
    undecided = np.ones(len(columns[0]) - 1, dtype=bool)
    for c in columns:
        a, b = c[:-1], c[1:]
        if np.any(undecided & (a > b)):
            return False
        undecided &= a == b
    return not undecided.any()


def _merge_plan(
    base: pa.Table, removed: pa.Table, upserts: pa.Table, key: Sequence[str]
) -> tuple[Any, Any] | None:
    """(base positions to drop, base position before which each upsert goes), or None.

    Integer and time keys are searched with numpy; other keys (strings, floats)
    by one stable sort of the key columns. None if the patch rows are not in
    key order or a removed key is not a base key: the caller then takes the
    general path, which never mis-places a row.
    """
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    n, r, m = base.num_rows, removed.num_rows, upserts.num_rows
    b, rk, uk = _key_array(base, key), _key_array(removed, key), _key_array(upserts, key)
    if b is not None and rk is not None and uk is not None and b.dtype == rk.dtype == uk.dtype:
        drop = np.searchsorted(b, rk, side="left")
        if np.any(drop >= n) or not np.array_equal(b[np.minimum(drop, n - 1)], rk):
            return None
        return drop.astype(np.int64), np.searchsorted(b, uk, side="left").astype(np.int64)
    keys = pa.concat_tables(
        [
            base.select(list(key)),
            removed.select(list(key)).cast(base.select(list(key)).schema),
            upserts.select(list(key)),
        ]
    )
    try:
        perm = pc.sort_indices(keys, sort_keys=[(k, "ascending", "at_end") for k in key]).to_numpy()
    except (pa.ArrowNotImplementedError, pa.ArrowInvalid, pa.ArrowTypeError):
        return None
    base_before = np.cumsum(perm < n)  # base rows up to and including each sorted position
    rem_at = np.flatnonzero((perm >= n) & (perm < n + r))
    ups_at = np.flatnonzero(perm >= n + r)
    if not (
        np.array_equal(perm[rem_at] - n, np.arange(r))
        and np.array_equal(perm[ups_at] - n - r, np.arange(m))
    ):
        return None
    drop = (
        base_before[rem_at] - 1
    )  # a removed key sorts right after its equal base row (stable sort)
    if r and (drop[0] < 0 or np.any(np.diff(drop) <= 0)):
        return None
    if r:
        found = base.select(list(key)).take(pa.array(drop, pa.int64()))
        for name in key:
            same = pc.equal(
                found.column(name), removed.column(name).cast(found.schema.field(name).type)
            )
            if not pc.all(pc.fill_null(same, False)).as_py():
                return None
    # An upsert equal to a (dropped) base key sorts after it: placed after, in its place.
    return drop, base_before[ups_at]
