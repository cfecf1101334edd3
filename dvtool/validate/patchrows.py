"""A patched chunk validated by its new rows: a clean verdict of its base chunk covers the rest.

A patched chunk's rows are its base chunk's rows, minus the rows the patch
removes, plus the patch's upserts (docs/format.md, "Format 2: patches").
The chunk-local checks (:func:`dvtool.validate.engine.plan_checks` puts only
these there: dtypes, nullability, required and strict columns, and checks
that decide each row on its own) give every row its own verdict, and their
schema-level verdicts depend only on the column types, which are the same
for the upserts (the same Arrow schema, typed in the same null context). So:

* when the base chunk's cached verdict, under the same schema, key and null
  context, has **no failure at all**, every base row passes those checks,
  and so does every base row the patch keeps. The patched chunk fails
  exactly where its upserts fail: only the upserts are checked, and the rows
  of their examples are moved to the upserts' places in the patched chunk
  (read from the base chunk's key columns, only when something failed);
* when the base verdict holds any failure, it does not say which rows
  failed (a removed row may have been the only one), so the patched chunk is
  checked whole, as is one with no base verdict.

Removing rows can make no row-local check fail. The checks over all rows —
uniqueness, ``unique_values_eq``, whole-column statistics (a mean in a range),
dataframe-level checks — still run over the whole patched snapshot; the key
is proven unique when the version is written. docs/validation.md says the same.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence

import numpy as np
import pyarrow as pa

from dvtool.errors import IntegrityError
from dvtool.format.models import ChunkInfo
from dvtool.readplan import load_patch
from dvtool.snapshot import Snapshot
from dvtool.storage import Store
from dvtool.validate.verdicts import ChunkVerdict, PatchedRows, VerdictCache

__all__ = ["base_is_clean", "moved", "patched_rows", "upsert_positions"]


def patched_rows(
    store: Store, snap: Snapshot, chunk: ChunkInfo, progress: Callable[[int], None] | None
) -> PatchedRows | None:
    """``chunk`` (one of ``snap.chunks``) as its base chunk and new rows, or None if it has no patch."""
    manifest = snap.manifest
    patch = manifest.patch
    r = next((r for r in patch.ranges if r.logical == chunk), None) if patch else None
    if r is None:
        return None
    base = manifest.chunks[r.chunk]
    start, end = r.upserts
    key = list(manifest.key)

    def upserts() -> pa.Table:
        rows = load_patch(store, manifest).upserts.slice(start, end - start)
        if progress is not None:
            progress(chunk.rows)
        return rows

    def positions() -> Sequence[int]:
        keys = snap.read_chunk(chunk, key).select(key)
        rows = load_patch(store, manifest).upserts.slice(start, end - start)
        return [int(p) for p in upsert_positions(keys, rows, key)]

    return PatchedRows(base.fingerprint, base.rows, end - start, upserts, positions)


def base_is_clean(
    cache: VerdictCache, scope: str, patched: PatchedRows, key: Sequence[str]
) -> bool:
    """Whether the base chunk's cached verdict passes every chunk-local check on every row."""
    verdict = cache.get(scope, patched.base_fingerprint)
    return (
        verdict is not None
        and verdict.key == tuple(key)
        and verdict.rows == patched.base_rows
        and not verdict.failures
    )


def moved(verdict: ChunkVerdict, patched: PatchedRows, rows: int) -> ChunkVerdict:
    """The upserts' verdict as the patched chunk's: its row count, example rows in the chunk."""
    if not any(e.row is not None for f in verdict.failures for e in f.examples):
        return ChunkVerdict(rows, verdict.key, verdict.failures)
    where = patched.positions()
    failures = tuple(
        dataclasses.replace(
            f,
            examples=tuple(
                e if e.row is None else dataclasses.replace(e, row=int(where[e.row]))
                for e in f.examples
            ),
        )
        for f in verdict.failures
    )
    return ChunkVerdict(rows, verdict.key, failures)


def upsert_positions(chunk_keys: pa.Table, upserts: pa.Table, key: Sequence[str]) -> np.ndarray:
    """Where each upsert is among the patched chunk's rows (``chunk_keys``: its key columns, in order).

    One stable sort of both: an upsert sorts right after its own row of the
    chunk. Raises IntegrityError if an upsert's key is not in the chunk.
    """
    import pyarrow.compute as pc

    n = chunk_keys.num_rows
    names = list(key)
    keys = pa.concat_tables(
        [chunk_keys.select(names), upserts.select(names).cast(chunk_keys.select(names).schema)]
    )
    perm = np.asarray(
        pc.sort_indices(keys, sort_keys=[(k, "ascending") for k in names]).to_numpy(),
        dtype=np.int64,
    )
    at = np.flatnonzero(perm >= n)
    if len(at) != upserts.num_rows or not np.array_equal(perm[at] - n, np.arange(len(at))):
        raise IntegrityError("the patch's upserts are not in key order")
    before = np.cumsum(perm < n)[at] - 1  # the chunk row each upsert sorts after
    if len(at) and (before[0] < 0 or np.any(np.diff(before) <= 0)):
        raise IntegrityError("an upsert of the patch is not a row of the patched chunk")
    found = chunk_keys.select(names).take(pa.array(before, pa.int64()))
    for name in names:
        same = pc.equal(found.column(name), upserts.column(name))
        if same.null_count or not pc.all(same).as_py():
            raise IntegrityError("an upsert of the patch is not a row of the patched chunk")
    return before
