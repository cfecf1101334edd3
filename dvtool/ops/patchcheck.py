"""fsck of a patch (format 2): every range reads back as its manifest describes, by key and by row number."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from dvtool.errors import IntegrityError
from dvtool.format.models import Manifest
from dvtool.ingest.fingerprint import table_fingerprint
from dvtool.readplan import (
    ChunkMerge,
    apply_patch,
    drop_keys,
    load_patch,
    merge_at,
    patch_merge,
    patch_slices,
    read_parquet_verified,
)
from dvtool.storage import Store

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = ["check_patch", "strictly_sorted"]


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
    and fingerprint the manifest records. With positions, the same again by
    row number: the rows at the removed positions are the removed rows, and
    the rows merged by position are the ones merged by key (readers use
    either, so both must give the version's rows).
    """
    if manifest.patch is None:
        return []
    key = manifest.key
    problems: list[str] = []
    try:
        tables = load_patch(store, manifest)
        merges = patch_merge(manifest, tables)
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
        if merges is not None:
            problems.extend(_check_positions(manifest, r.chunk, base, ups, rem, merges, where))
    return problems


def _check_positions(
    manifest: Manifest,
    index: int,
    base: pa.Table,
    ups: pa.Table,
    rem: pa.Table,
    merges: dict[int, ChunkMerge],
    where: str,
) -> list[str]:
    import pyarrow as pa

    merge = merges[index]
    r = manifest.patch.range_of(index) if manifest.patch is not None else None
    assert r is not None
    if merge.rows != base.num_rows:
        return [
            f"{where}: the base chunk holds {base.num_rows} rows, its manifest says {merge.rows}"
        ]
    at_drop = base.take(pa.array(merge.drop, pa.int64()))
    if table_fingerprint(manifest.schema, [at_drop]) != table_fingerprint(manifest.schema, [rem]):
        return [f"{where}: the rows at the patch's removed positions are not its removed rows"]
    merged = merge_at(base, merge.drop, ups, merge.at)
    if (
        merged.num_rows != r.logical.rows
        or table_fingerprint(manifest.schema, [merged]) != r.logical.fingerprint
        or not strictly_sorted(merged, manifest.key)
    ):
        return [f"{where}: the rows merged by the patch's positions are not the version's rows"]
    return []
