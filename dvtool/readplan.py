"""Merge-on-read: the rows of a patched (format 2) snapshot, and the plan other engines apply.

A patched snapshot's rows are its base chunks, minus the rows whose key is in
the patch's ``removed`` object, plus the patch's ``upserts``, ordered by the
key (docs/format.md, "Format 2: patches"). Every dvtool reader goes through
:func:`apply_patch` one base chunk at a time (the patch says which slice of it
applies to which chunk), so no reader walks a chain of patches and a chunk
without a patch range is read exactly as in format 1.

:class:`ReadPlan` is the same recipe for engines that read files themselves
(Spark, Trino, DuckDB, polars): ``files`` alone are the *base* rows, which are
not the snapshot's rows when ``upserts``/``removed`` are set.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from dvtool.errors import IntegrityError
from dvtool.format.layout import object_key
from dvtool.format.models import ChunkInfo, Manifest
from dvtool.storage import Store

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = [
    "PatchTables",
    "ReadPlan",
    "apply_patch",
    "check_patch",
    "drop_keys",
    "load_patch",
    "logical_chunks",
    "patch_slices",
    "read_parquet_verified",
    "sort_by_key",
    "strictly_sorted",
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
    """A manifest's patch objects, read and verified: whole upserted rows and whole removed base rows."""

    upserts: pa.Table
    removed: pa.Table


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
def _cached_patch(store: Store, upserts: str, removed: str, schema_b64: str) -> PatchTables:
    from dvtool.format.models import schema_from_b64

    schema = schema_from_b64(schema_b64)
    return PatchTables(
        read_parquet_verified(store, upserts, schema), read_parquet_verified(store, removed, schema)
    )


def load_patch(store: Store, manifest: Manifest) -> PatchTables:
    """The patch of ``manifest`` (verified reads, kept for the next few calls: it is small)."""
    from dvtool.format.models import schema_to_b64

    patch = manifest.patch
    if patch is None:
        raise ValueError(f"{manifest.dataset}@v{manifest.version} has no patch")
    tables = _cached_patch(
        store, patch.upserts.object, patch.removed.object, schema_to_b64(manifest.schema)
    )
    if (
        tables.upserts.num_rows != patch.upserts.rows
        or tables.removed.num_rows != patch.removed.rows
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
    import numpy as np
    import pyarrow as pa

    if upserts.num_rows == 0 and removed.num_rows == 0:
        return base
    upserts = upserts if upserts.schema.equals(base.schema) else upserts.cast(base.schema)
    plan = _merge_plan(base, removed, upserts, key)
    if plan is None:  # keys that do not sort as stored (never written so): the general path
        kept = drop_keys(base, removed, key)
        return sort_by_key(pa.concat_tables([kept, upserts]), key) if upserts.num_rows else kept
    drop, insert_at = plan
    n, m = base.num_rows, upserts.num_rows
    if m == 0:
        keep = np.ones(n, dtype=bool)
        keep[drop] = False
        return base.filter(pa.array(keep))
    kept = np.delete(np.arange(n, dtype=np.int64), drop)
    # Each upsert goes before base row insert_at[j], i.e. before that many kept rows.
    where = insert_at - np.searchsorted(drop, insert_at, side="left")
    order = np.insert(kept, where, np.arange(n, n + m, dtype=np.int64))
    return pa.concat_tables([base, upserts]).take(pa.array(order))


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


def strictly_sorted(table: pa.Table, key: Sequence[str]) -> bool:
    """True if ``table``'s keys are increasing (sorted and unique), with no null key."""
    import pyarrow.compute as pc

    if any(table.column(k).null_count for k in key):
        return False
    if table.num_rows < 2:
        return True
    undecided = None
    for name in key:
        col = table.column(name).combine_chunks()
        a, b = col.slice(0, len(col) - 1), col.slice(1)
        try:
            less, equal = pc.less(a, b), pc.equal(a, b)
        except Exception:  # a key type with no order in Arrow: cannot be checked, so not trusted
            return False
        bad = pc.invert(pc.or_(less, equal))
        if undecided is not None:
            bad = pc.and_(undecided, bad)
        if pc.any(bad).as_py():
            return False
        undecided = equal if undecided is None else pc.and_(undecided, equal)
    assert undecided is not None
    return not pc.any(undecided).as_py()


def check_patch(store: Store, manifest: Manifest) -> list[str]:
    """What is wrong with a manifest's patch (fsck): empty when every range reads back as described.

    For each range: the removed rows are exactly rows of its base chunk, the
    upserts are sorted with unique keys, and the patched rows have the rows
    and fingerprint the manifest records.
    """
    from dvtool.ingest.fingerprint import table_fingerprint

    if manifest.patch is None:
        return []
    key = manifest.key
    problems: list[str] = []
    try:
        tables = load_patch(store, manifest)
    except IntegrityError as exc:
        return [str(exc)]
    for r in manifest.patch.ranges:
        base_info = manifest.chunks[r.chunk]
        try:
            base = read_parquet_verified(store, base_info.object, manifest.schema)
        except IntegrityError as exc:
            problems.append(f"chunk {r.chunk}: {exc}")
            continue
        slices = patch_slices(manifest, tables, r.chunk)
        assert slices is not None
        ups, rem = slices
        where = f"chunk {r.chunk} ({base_info.object})"
        if not strictly_sorted(ups, key) or not strictly_sorted(rem, key):
            problems.append(f"{where}: patch rows are not sorted by a unique key")
            continue
        still = drop_keys(base, rem, key)
        if still.num_rows != base.num_rows - rem.num_rows:
            problems.append(f"{where}: removed rows that are not in the base chunk")
            continue
        removed_base = drop_keys(base, still, key)
        if table_fingerprint(manifest.schema, [removed_base]) != table_fingerprint(
            manifest.schema, [rem]
        ):
            problems.append(f"{where}: removed rows differ from the base chunk's rows")
        merged = apply_patch(base, ups, rem, key)
        if (
            merged.num_rows != r.logical.rows
            or table_fingerprint(manifest.schema, [merged]) != r.logical.fingerprint
        ):
            problems.append(
                f"{where}: the patched rows do not match the manifest's rows and fingerprint"
            )
        elif not strictly_sorted(merged, key):
            problems.append(f"{where}: the patched rows are not ordered by a unique key")
    return problems
