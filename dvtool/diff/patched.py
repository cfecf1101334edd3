"""A diff read from patches alone: two versions over the same base chunks differ only in their patches.

When both snapshots list the same base chunks (a patched version and its
parent, or two patched versions of one base), every row outside the keys of
their two patches is the same base row on both sides. The rows of those keys
are in the patches themselves (``upserts`` are whole new rows, ``removed``
whole base rows), so the diff compares two small tables and reads no chunk:
no join over the data.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from types import MappingProxyType

import pyarrow as pa

from dvtool.diff.columns import ToleranceSpec
from dvtool.diff.report import ChunkCounts, Diff, RowCounts, column_summary
from dvtool.diff.rows import Side
from dvtool.readplan import PatchTables, drop_keys, load_patch, sort_by_key
from dvtool.snapshot import Snapshot

__all__ = ["diff_by_patches"]


def _tables(snap: Snapshot) -> PatchTables:
    if snap.manifest.patch is None:
        empty = snap.schema.empty_table()
        return PatchTables(empty, empty)
    return load_patch(snap.store, snap.manifest)


def _keys(t: PatchTables, key: Sequence[str]) -> pa.Table:
    return pa.concat_tables([t.upserts.select(list(key)), t.removed.select(list(key))])


def diff_by_patches(
    old: Snapshot,
    new: Snapshot,
    *,
    key: Sequence[str] | None,
    limit: int,
    stats: bool,
    tolerance: ToleranceSpec | None = None,
) -> Diff | None:
    """The diff of ``old`` and ``new`` from their patches, or None when they do not share a base.

    Not for distribution statistics or a drift policy (they describe every
    row): the caller runs the full diff for those.
    """
    from dvtool.diff.plan import diff

    if (
        stats
        or not new.key
        or old.key != new.key
        or (key is not None and tuple(key) != new.key)
        or not old.schema.equals(new.schema)
        or (old.manifest.patch is None and new.manifest.patch is None)
        or [c.object for c in old.manifest.chunks] != [c.object for c in new.manifest.chunks]
    ):
        return None
    k = new.key
    p_old, p_new = _tables(old), _tables(new)
    # Logical rows of each side for the keys either patch touches (see the module doc).
    old_rows = pa.concat_tables([p_old.upserts, drop_keys(p_new.removed, _keys(p_old, k), k)])
    new_rows = pa.concat_tables([p_new.upserts, drop_keys(p_old.removed, _keys(p_new, k), k)])
    outside = old.rows - old_rows.num_rows
    if outside != new.rows - new_rows.num_rows or outside < 0:
        return None  # the manifests disagree with their patches: let the full diff read the data
    result = diff(
        Side.from_arrow(old.ref, sort_by_key(old_rows, k)),
        Side.from_arrow(new.ref, sort_by_key(new_rows, k)),
        key=k,
        limit=limit,
        tolerance=tolerance,
    )
    rows = result.rows
    # Per-column comparisons: the rows outside the patches are matched and equal;
    # null counts are the whole versions' (chunk statistics, after the patch).
    so, sn = column_summary(old.schema, old.chunks), column_summary(new.schema, new.chunks)
    comparison = MappingProxyType(
        {
            name: dataclasses.replace(
                c, matched=c.matched + outside, nulls=(so[name][0], sn[name][0])
            )
            for name, c in result.comparison.items()
        }
    )
    patched = {
        r.chunk for p in (old.manifest.patch, new.manifest.patch) if p is not None for r in p.ranges
    }
    return dataclasses.replace(
        result,
        rows=RowCounts(rows.added, rows.removed, rows.changed, rows.unchanged + outside),
        comparison=comparison,
        chunks=ChunkCounts(len(old.chunks), len(new.chunks), len(new.chunks) - len(patched), 0),
    )
