"""A diff read from patches alone: two versions over the same base chunks differ only in their patches.

When both snapshots list the same base chunks (a patched version and its
parent, or two patched versions of one base), every row outside the keys of
their two patches is the same base row on both sides. The rows of those keys
are in the patches themselves (``upserts`` are whole new rows, ``removed``
whole base rows: the pre-images), so the diff compares two small tables and
reads no chunk: no join over the data.

Those tables are compared in Arrow (:mod:`dvtool.diff.arrowdelta`, no DuckDB
started) when every option allows it, else by the SQL engine on the same
small tables:

* Arrow: the plain diff, ``--limit``, ``--stats`` (manifest statistics);
* SQL on the patch rows: ``--abs-tol``/``--rel-tol``/``--tol``, a changed
  value in a decimal column, nested and other uncovered column types;
* not from patches (the full diff): a ``--key`` other than the recorded one,
  versions over different base chunks. Distributions and a ``--policy``
  describe every row: the caller adds them from the chunk profiles
  (:func:`dvtool.diff.plan.diff_in_catalog`), whichever way the rows were compared.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from types import MappingProxyType

import pyarrow as pa

from dvtool.diff.arrowdelta import keyed_delta, without_keys
from dvtool.diff.columns import ColumnComparison, ToleranceSpec, comparisons, is_numeric
from dvtool.diff.report import (
    ChunkCounts,
    Diff,
    RowCounts,
    Samples,
    column_summary,
    schema_diff,
    stats_changes,
)
from dvtool.diff.rows import Side
from dvtool.readplan import PatchTables, load_patch, sort_by_key
from dvtool.snapshot import Snapshot

__all__ = ["diff_by_patches"]


def _tables(snap: Snapshot) -> PatchTables:
    if snap.manifest.patch is None:
        empty = pa.Table.from_batches(
            [], snap.schema
        )  # not schema.empty_table(): it imports pandas
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
    arrow: bool = True,
) -> Diff | None:
    """The diff of ``old`` and ``new`` from their patches, or None when they do not share a base.

    Distribution statistics and a drift policy are not computed here (they
    describe every row): the caller adds them. ``arrow=False`` compares
    the patch rows with the SQL engine even where Arrow could (the reference
    the tests hold the Arrow comparison to).
    """
    if (
        limit < 0
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
    try:
        old_rows = pa.concat_tables(
            [p_old.upserts, without_keys(p_new.removed, _keys(p_old, k), k)]
        )
        new_rows = pa.concat_tables(
            [p_new.upserts, without_keys(p_old.removed, _keys(p_new, k), k)]
        )
        old_rows, new_rows = sort_by_key(old_rows, k), sort_by_key(new_rows, k)
    except (pa.ArrowNotImplementedError, pa.ArrowInvalid, pa.ArrowTypeError):
        return None  # a key type Arrow cannot sort or compare: the full diff decides
    outside = old.rows - old_rows.num_rows
    if outside != new.rows - new_rows.num_rows or outside < 0:
        return None  # the manifests disagree with their patches: let the full diff read the data
    patched = {
        r.chunk for p in (old.manifest.patch, new.manifest.patch) if p is not None for r in p.ranges
    }
    chunks = ChunkCounts(len(old.chunks), len(new.chunks), len(new.chunks) - len(patched), 0)
    compared = [c for c in old.schema.names if c not in k]
    tolerances = (tolerance or ToleranceSpec()).resolve(old.schema, new.schema, compared)
    if arrow and all(t.exact for t in tolerances.values()):
        fast = _in_arrow(old, new, old_rows, new_rows, compared, limit, stats, chunks)
        if fast is not None:
            return fast
    return _in_sql(old, new, old_rows, new_rows, outside, limit, stats, tolerance, chunks)


def _in_arrow(
    old: Snapshot,
    new: Snapshot,
    old_rows: pa.Table,
    new_rows: pa.Table,
    compared: list[str],
    limit: int,
    stats: bool,
    chunks: ChunkCounts,
) -> Diff | None:
    """The diff with the patch rows compared in Arrow, or None when a column needs the SQL engine."""
    numeric = {c: is_numeric(old.schema.field(c).type) for c in compared}
    delta = keyed_delta(old_rows, new_rows, new.key, compared, numeric, limit)
    if delta is None:
        return None
    rows = RowCounts(
        delta.added, delta.removed, delta.changed, old.rows - delta.removed - delta.changed
    )
    tolerances = ToleranceSpec().resolve(old.schema, new.schema, compared)
    found = comparisons(delta.tallies, numeric, tolerances, rows.changed + rows.unchanged)
    so, sn = column_summary(old.schema, old.chunks), column_summary(new.schema, new.chunks)
    comparison = MappingProxyType(
        {
            name: dataclasses.replace(c, nulls=(so[name][0], sn[name][0]))
            for name, c in found.items()
        }
    )
    return Diff(
        old=old.ref,
        new=new.ref,
        key=new.key,
        schema=schema_diff(old.schema, new.schema),
        rows=rows,
        columns=delta.per_column,
        samples=Samples(delta.s_added, delta.s_removed, delta.s_changed),
        chunks=chunks,
        stats=stats_changes(old.schema, old.chunks, new.schema, new.chunks) if stats else None,
        limit=limit,
        comparison=comparison,
    )


def _in_sql(
    old: Snapshot,
    new: Snapshot,
    old_rows: pa.Table,
    new_rows: pa.Table,
    outside: int,
    limit: int,
    stats: bool,
    tolerance: ToleranceSpec | None,
    chunks: ChunkCounts,
) -> Diff:
    """The diff with the patch rows compared by the SQL engine (every type, tolerances)."""
    from dvtool.diff.plan import diff

    result = diff(
        Side.from_arrow(old.ref, old_rows),
        Side.from_arrow(new.ref, new_rows),
        key=new.key,
        limit=limit,
        tolerance=tolerance,
    )
    rows = result.rows
    # Per-column comparisons: the rows outside the patches are matched and equal;
    # null counts are the whole versions' (chunk statistics, after the patch).
    so, sn = column_summary(old.schema, old.chunks), column_summary(new.schema, new.chunks)
    comparison = MappingProxyType(
        {
            name: _with_outside(
                c, outside, (so[name][0], sn[name][0]), is_numeric(old.schema.field(name).type)
            )
            for name, c in result.comparison.items()
        }
    )
    return dataclasses.replace(
        result,
        rows=RowCounts(rows.added, rows.removed, rows.changed, rows.unchanged + outside),
        comparison=comparison,
        chunks=chunks,
        stats=stats_changes(old.schema, old.chunks, new.schema, new.chunks) if stats else None,
    )


def _with_outside(
    c: ColumnComparison, outside: int, nulls: tuple[int | None, int | None], numeric: bool
) -> ColumnComparison:
    """A column's comparison over the patch rows, plus ``outside`` rows matched and equal."""
    max_diff, mean = c.max_diff, c.mean_abs_diff
    if numeric and c.matched == 0 and outside:
        max_diff, mean = 0.0, 0.0  # what the full diff says: matched rows, no difference
    return dataclasses.replace(
        c, matched=c.matched + outside, nulls=nulls, max_diff=max_diff, mean_abs_diff=mean
    )
