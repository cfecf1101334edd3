"""Schema, row and column differences between two sides, computed in DuckDB (through sql.py).

A side is either a chunked snapshot (its schema, its ChunkInfo list and a
function that reads one chunk, verified) or a stream of rows (a SOURCE: a
working file, a pyarrow Table or RecordBatchReader). The core takes these plain
inputs, so it is tested on Parquet files written by the tests themselves.

Cost follows the change:

* chunks whose fingerprint appears on both sides hold the same rows, so they
  are never read; their rows count as unchanged;
* when both sides are sorted and unique by the diff key (the key recorded at
  snapshot time), the remaining chunks are grouped by overlapping key ranges
  (ChunkInfo.key_min/key_max) and each group is compared on its own, so memory
  follows the group, not the dataset; a group with chunks on one side only
  (an append) is counted from the manifest and read only for samples.

Equality is "not distinct": null equals null, NaN equals NaN, -0.0 equals 0.0.
Every identifier is quoted with sql.quote_ident and every value is bound.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from dvtool.diff.columns import ColumnComparison, ToleranceSpec, comparisons
from dvtool.diff.drift import Drift, compare_profiles
from dvtool.diff.patched import diff_by_patches
from dvtool.diff.policy import Policy
from dvtool.diff.profiles import ProfileCache, StoreProfileCache, side_profile
from dvtool.diff.report import (
    ChunkCounts,
    Diff,
    RowCounts,
    Samples,
    column_summary,
    schema_diff,
    stats_changes,
)
from dvtool.diff.rows import Engine, Side
from dvtool.errors import UsageError
from dvtool.format.hashing import object_hex
from dvtool.format.layout import object_key
from dvtool.format.models import ChunkInfo

if TYPE_CHECKING:
    from dvtool.catalog import Catalog
    from dvtool.ingest.readoptions import ReadOptions
    from dvtool.snapshot import Snapshot

__all__ = [
    "Diff",
    "Side",
    "diff",
    "diff_in_catalog",
    "schema_diff",
    "side_from_snapshot",
]


# Rows per side compared in one DuckDB query when key ranges allow splitting.
_GROUP_ROWS = int(os.environ.get("DVTOOL_DIFF_GROUP_ROWS", "250000"))


def _resolve_key(old: Side, new: Side, key: Sequence[str] | None) -> tuple[str, ...]:
    if key is not None:
        keycols = tuple(key)
    else:
        if old.key and new.key and old.key != new.key:
            raise UsageError(
                f"{old.label} is keyed by ({', '.join(old.key)}) and {new.label} by "
                f"({', '.join(new.key)}); pass --key to choose"
            )
        keycols = old.key or new.key
    if len(set(keycols)) != len(keycols):
        raise UsageError(f"--key names a column twice: {', '.join(keycols)}")
    for side in (old, new):
        for k in keycols:
            if k not in side.schema.names:
                names = ", ".join(side.schema.names[:12]) + (
                    ", …" if len(side.schema.names) > 12 else ""
                )
                raise UsageError(f"column {k!r} in --key is not in {side.label} (columns: {names})")
    return keycols


def _skip_identical(
    old: Sequence[ChunkInfo], new: Sequence[ChunkInfo]
) -> tuple[list[ChunkInfo], list[ChunkInfo], int, int]:
    """Drop pairs of chunks with equal fingerprints; returns what is left, pairs and their rows."""
    pairs = Counter(c.fingerprint for c in old) & Counter(c.fingerprint for c in new)
    skipped = sum(pairs.values())
    rows = 0
    left_old, left_new = [], []
    budget = Counter(pairs)
    for c in old:
        if budget[c.fingerprint] > 0:
            budget[c.fingerprint] -= 1
            rows += c.rows
        else:
            left_old.append(c)
    budget = Counter(pairs)
    for c in new:
        if budget[c.fingerprint] > 0:
            budget[c.fingerprint] -= 1
        else:
            left_new.append(c)
    return left_old, left_new, skipped, rows


def _orderable(old: Side, new: Side, key: tuple[str, ...], chunks: Sequence[ChunkInfo]) -> bool:
    """Whether key_min/key_max compare in Python exactly as DuckDB sorts the key."""
    t = pa.types
    for k in key:
        a, b = old.schema.field(k).type, new.schema.field(k).type
        if not a.equals(b) or not (t.is_integer(a) or t.is_string(a) or t.is_large_string(a)):
            return False
    for c in chunks:
        if (
            c.key_min is None
            or c.key_max is None
            or len(c.key_min) != len(key)
            or len(c.key_max) != len(key)
        ):
            return False
        for v in (*c.key_min, *c.key_max):
            if v is None or isinstance(v, bool) or not isinstance(v, (int, str)):
                return False
    return True


Group = tuple[list[ChunkInfo], list[ChunkInfo]]
# (old side, new side, key, sample limit, tolerances) -> an object with Engine's methods and counters
EngineFactory = Callable[[Side, Side, tuple[str, ...], int, Any], Any]


def _groups(old: Sequence[ChunkInfo], new: Sequence[ChunkInfo], budget: int) -> list[Group]:
    """Chunks grouped by overlapping key ranges, in key order; small neighbouring groups merged."""
    items = sorted(
        [(tuple(c.key_min or ()), tuple(c.key_max or ()), 0, c) for c in old]
        + [(tuple(c.key_min or ()), tuple(c.key_max or ()), 1, c) for c in new],
        key=lambda x: (x[0], x[2]),
    )
    groups: list[Group] = []
    hi: tuple[Any, ...] | None = None
    for lo, top, side, chunk in items:
        if hi is None or lo > hi:
            groups.append(([], []))
            hi = top
        else:
            hi = max(hi, top)
        groups[-1][side].append(chunk)
    merged: list[Group] = []
    for g in groups:
        if (
            merged
            and g[0]
            and g[1]
            and merged[-1][0]
            and merged[-1][1]
            and sum(c.rows for c in (*merged[-1][0], *g[0])) <= budget
            and sum(c.rows for c in (*merged[-1][1], *g[1])) <= budget
        ):
            merged[-1][0].extend(g[0])
            merged[-1][1].extend(g[1])
        else:
            merged.append(g)
    return merged


def diff(
    old: Side,
    new: Side,
    *,
    key: Sequence[str] | None = None,
    limit: int = 10,
    stats: bool = False,
    memory_limit: str | None = None,
    group_rows: int | None = None,
    tolerance: ToleranceSpec | None = None,
    distributions: bool = False,
    profile_cache: ProfileCache | None = None,
    policy: Policy | None = None,
    engine: EngineFactory | None = None,
) -> Diff:
    """Compare ``old`` with ``new``: schema, rows (keyed or as a multiset), per-column counts, samples.

    ``key=None`` uses the key recorded on the sides; ``key=()`` forces a keyless
    (whole-row multiset) comparison. ``tolerance`` makes numeric values that
    differ by little count as equal; ``distributions`` (implied by ``policy``)
    adds per-column distribution statistics of both sides, chunk profiles
    cached in ``profile_cache``; ``policy`` checks them against thresholds.
    ``engine`` makes the object that compares the rows of each group (default:
    DuckDB, :class:`dvtool.diff.rows.Engine`; the spark engine passes its own):
    the plan — skipped chunks, key-range groups — is the same whichever runs it.
    """
    if limit < 0:
        raise UsageError(f"--limit must be 0 or more, not {limit}")
    keycols = _resolve_key(old, new, key)
    tolerance = tolerance or ToleranceSpec()
    compared = [c for c in old.schema.names if c in set(new.schema.names) and c not in keycols]
    tolerances = tolerance.resolve(old.schema, new.schema, compared)
    if not keycols and any(not t.exact for t in tolerances.values()):
        raise UsageError("tolerances compare the values of rows matched by key; pass --key COL")
    sdiff = schema_diff(old.schema, new.schema)
    both_chunked = old.chunked and new.chunked
    # A snapshot is unique and sorted by the key it was taken with; anything else is checked.
    trust = (old.chunked and old.key == keycols, new.chunked and new.key == keycols)
    trusted = both_chunked and bool(keycols) and all(trust)
    old_chunks, new_chunks = list(old.chunks), list(new.chunks)
    skipped = skipped_rows = 0
    if both_chunked and (trusted or not keycols):
        old_chunks, new_chunks, skipped, skipped_rows = _skip_identical(old_chunks, new_chunks)
    rows_engine: Any = (
        engine(old, new, keycols, limit, tolerances)
        if engine is not None
        else Engine(old, new, keycols, limit, memory_limit, tolerances)
    )
    read = 0
    try:
        if not keycols:
            rows_engine.keyless(old_chunks, new_chunks)
            read = len(old_chunks) + len(new_chunks)
        elif trusted and _orderable(old, new, keycols, [*old_chunks, *new_chunks]):
            for group_old, group_new in _groups(old_chunks, new_chunks, group_rows or _GROUP_ROWS):
                if not group_new:
                    read += rows_engine.one_sided(old, group_old, "r")
                elif not group_old:
                    read += rows_engine.one_sided(new, group_new, "a")
                else:
                    rows_engine.keyed_group(group_old, group_new, trusted=(True, True))
                    read += len(group_old) + len(group_new)
        else:
            rows_engine.keyed_group(old_chunks, new_chunks, trusted=trust)
            read = len(old_chunks) + len(new_chunks)
    finally:
        rows_engine.close()
    rows = RowCounts(
        rows_engine.added,
        rows_engine.removed,
        rows_engine.changed,
        rows_engine.unchanged + skipped_rows,
    )
    drift = None
    if distributions or policy is not None:
        drift = _drift(old, new, rows, profile_cache)
    comparison = (
        _with_versions(
            comparisons(
                rows_engine.tallies,
                rows_engine.numeric,
                rows_engine.tolerances,
                rows.changed + rows.unchanged,
            ),
            old,
            new,
            drift,
        )
        if keycols
        else MappingProxyType({})
    )
    return Diff(
        old=old.label,
        new=new.label,
        key=keycols,
        schema=sdiff,
        rows=rows,
        columns=MappingProxyType(dict(rows_engine.per_column)) if keycols else MappingProxyType({}),
        samples=Samples(
            tuple(MappingProxyType(r) for r in rows_engine.s_added),
            tuple(MappingProxyType(r) for r in rows_engine.s_removed),
            tuple(rows_engine.s_changed),
        ),
        chunks=ChunkCounts(len(old.chunks), len(new.chunks), skipped, read),
        stats=stats_changes(
            old.schema,
            old.chunks if old.chunked else None,
            new.schema,
            new.chunks if new.chunked else None,
        )
        if stats
        else None,
        limit=limit,
        comparison=comparison,
        drift=drift,
        policy=policy.evaluate(drift) if policy is not None and drift is not None else None,
    )


def _drift(old: Side, new: Side, rows: RowCounts, cache: ProfileCache | None) -> Drift:
    """Both sides profiled (chunk profiles from the cache where possible) and compared."""
    profiles = []
    for side, expected in ((old, rows.old), (new, rows.new)):
        prof = side_profile(side, cache)
        if prof.rows != expected:
            # A one-shot stream (a RecordBatchReader) cannot be read a second time.
            raise UsageError(
                f"{side.label} gave {prof.rows} rows for statistics but {expected} for the diff; "
                "pass a file or a Table, not a one-pass reader"
            )
        profiles.append(prof)
    return compare_profiles(profiles[0], profiles[1])


def _with_versions(
    found: Mapping[str, ColumnComparison], old: Side, new: Side, drift: Drift | None
) -> Mapping[str, ColumnComparison]:
    """Add whole-version null counts (manifests, else profiles) and distinct counts (profiles)."""
    so = column_summary(old.schema, old.chunks if old.chunked else None)
    sn = column_summary(new.schema, new.chunks if new.chunked else None)
    out = {}
    for name, cmp in found.items():
        nulls = (so[name][0], sn[name][0])
        distinct: tuple[int | None, int | None] = (None, None)
        exact = True
        if drift is not None and name in drift.columns:
            cd = drift.columns[name]
            nulls = (cd.old.nulls, cd.new.nulls)
            distinct = (cd.old.distinct, cd.new.distinct)
            exact = cd.old.distinct_exact and cd.new.distinct_exact
        out[name] = replace(cmp, nulls=nulls, distinct=distinct, distinct_exact=exact)
    return MappingProxyType(out)


# ---------------------------------------------------------------- repository glue


def review_options(
    abs_tol: float,
    rel_tol: float,
    tol: Mapping[str, str] | Sequence[str] | None,
    distributions: bool,
    policy: Any,
) -> dict[str, Any]:
    """``repo.diff``'s review arguments as :func:`diff` takes them (tolerances parsed, policy loaded)."""
    from dvtool.diff.policy import load_policy

    return {
        "tolerance": ToleranceSpec.parse(abs_tol=abs_tol, rel_tol=rel_tol, tol=tol),
        "distributions": distributions,
        "policy": load_policy(policy) if policy is not None else None,
    }


def side_from_snapshot(snapshot: Snapshot) -> Side:
    """A snapshot as a diff side: its manifest's chunks, read (verified) only when compared."""
    store = snapshot.store

    def verified_path(chunk: ChunkInfo) -> str | None:
        if snapshot.has_patch(chunk):
            return None  # its rows are the base file's with the patch applied: loaded, not read as a file
        path = store.local_path(object_key(chunk.object))
        if path is not None:
            store.read_verified(object_key(chunk.object), chunk.object)
        return path

    return Side(
        snapshot.ref,
        snapshot.schema,
        snapshot.chunks,
        snapshot.key,
        load=snapshot.read_chunk,
        verified_path=verified_path,
    )


def _side(
    catalog: Catalog | None,
    arg: Any,
    storage_options: Mapping[str, str] | None,
    read: ReadOptions | None = None,
    recorded: Sequence[Snapshot] = (),
    notes: list[str] | None = None,
) -> Side:
    if catalog is not None and isinstance(arg, str) and catalog.is_ref(arg):
        return side_from_snapshot(catalog.get(arg))
    if isinstance(arg, (pa.Table, pa.RecordBatchReader)):
        return Side.from_arrow("(table)", arg)
    from dvtool.ingest.sources import open_source

    fmt = None
    if read is None:
        found = recorded_reading(arg, recorded)
        if found is not None:
            read, fmt, ref = found
            if notes is not None:
                how = read.describe() + (f" --format {fmt}" if fmt else "")
                notes.append(f"SOURCE read with {how}, as recorded in {ref}")
    source = open_source(arg, format=fmt, storage_options=dict(storage_options or {}), read=read)
    return Side(source.description, source.schema, stream=source.reader)


def recorded_reading(
    arg: Any, snapshots: Sequence[Snapshot]
) -> tuple[ReadOptions, str | None, str] | None:
    """How a version recorded reading ``arg`` (read options, format, the version), or None.

    The rule is snapshot's (:mod:`dvtool.write.source`): the SOURCE must be the
    one the version was taken from (the same files, folder, glob or URL), and
    something must differ from the defaults. So a diff of a working file against
    its dataset reads the file as the next snapshot would.
    """
    from dvtool.ingest.readoptions import ReadOptions
    from dvtool.ingest.sourcestate import source_args

    args = source_args(arg)
    if args is None:
        return None
    for snap in snapshots:
        rec = snap.manifest.source
        if rec is not None and rec.args == args and (rec.read or rec.format):
            return ReadOptions.from_dict(rec.read), rec.format, snap.ref
    return None


def diff_in_catalog(
    catalog: Catalog | None,
    old: Any,
    new: Any = None,
    *,
    key: Sequence[str] | None = None,
    limit: int = 10,
    stats: bool = False,
    storage_options: Mapping[str, str] | None = None,
    tolerance: ToleranceSpec | None = None,
    distributions: bool = False,
    policy: Policy | None = None,
    read: ReadOptions | None = None,
    engine: EngineFactory | None = None,
) -> Diff:
    """``repo.diff``: each side a REF or a SOURCE; ``new=None`` compares a REF with its parent.

    Without a catalog (no repository), both sides are SOURCEs. ``engine``: see :func:`diff`.
    """
    review: dict[str, Any] = {
        "tolerance": tolerance,
        "distributions": distributions,
        "policy": policy,
        "profile_cache": StoreProfileCache(catalog.store) if catalog is not None else None,
        "engine": engine,
    }
    if new is None:
        if catalog is None or not (isinstance(old, str) and catalog.is_ref(old)):
            raise UsageError(f"diff with one argument needs a dataset REF, and {old!r} is not one")
        newer = catalog.get(old)
        parent = newer.manifest.parent
        if parent is None:
            raise UsageError(
                f"{newer.ref} is the first version and has no parent; name two REFs or a SOURCE"
            )
        older = catalog.get(f"{newer.dataset}@{object_hex(parent)}")
        return _versions(older, newer, key, limit, stats, review)
    if catalog is not None and all(isinstance(a, str) and catalog.is_ref(a) for a in (old, new)):
        return _versions(catalog.get(old), catalog.get(new), key, limit, stats, review)
    # A SOURCE is read as the version beside it recorded reading it (unless read options are given).
    snaps = [
        catalog.get(a)
        for a in (new, old)
        if catalog is not None and isinstance(a, str) and catalog.is_ref(a)
    ]
    notes: list[str] = []
    found = diff(
        _side(catalog, old, storage_options, read, snaps, notes),
        _side(catalog, new, storage_options, read, snaps, notes),
        key=key,
        limit=limit,
        stats=stats,
        **review,
    )
    return replace(found, notes=tuple(notes)) if notes else found


def _versions(
    a: Snapshot,
    b: Snapshot,
    key: Sequence[str] | None,
    limit: int,
    stats: bool,
    review: Mapping[str, Any],
) -> Diff:
    """Two versions: from their patches when they share base chunks, else the full diff.

    Two versions over the same base chunks differ only in their patches, so the
    rows are compared from the patches alone; distributions (and a policy on
    them) describe every row and come from the chunk profiles as in the full
    diff (cached per chunk), whichever way the rows were compared.
    """
    by_patches = diff_by_patches(
        a, b, key=key, limit=limit, stats=stats, tolerance=review["tolerance"]
    )
    if by_patches is None:
        return diff(
            side_from_snapshot(a),
            side_from_snapshot(b),
            key=key,
            limit=limit,
            stats=stats,
            **review,
        )
    policy: Policy | None = review["policy"]
    if not review["distributions"] and policy is None:
        return by_patches
    old, new = side_from_snapshot(a), side_from_snapshot(b)
    drift = _drift(old, new, by_patches.rows, review["profile_cache"])
    return replace(
        by_patches,
        comparison=_with_versions(by_patches.comparison, old, new, drift),
        drift=drift,
        policy=policy.evaluate(drift) if policy is not None else None,
    )
