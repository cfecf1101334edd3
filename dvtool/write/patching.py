"""Patch or rewrite: turning a keyed draft into a patched (format 2) version where that is smaller.

The draft (``write.draft``) cuts the new rows at the parent's chunk ends, so
a base chunk whose range did not change comes back as itself (an *anchor*).
Between two anchors lies a **region**: the base chunks the edit touched and
the draft's new chunks for the same key range. For each region this module
compares the two sides by key (rows inserted, deleted, or with any value
changed) and decides:

* **patch**: keep the base chunks and record the changed rows in the
  version's patch, when the keys the patch touches (inserted, deleted or
  changed since the base was written) are at most ``ratio`` of the region's
  base rows (``DVTOOL_PATCH_RATIO``, default 0.10; docs/format.md);
* **rewrite** (compaction): use the draft's new chunks, when the patch would
  be larger, when the region only adds rows (an append) or only deletes
  whole chunks, or when anything cannot be proven equal.

Every patched region is checked before it is kept: its base chunks with the
patch applied must hash (logical fingerprint) to exactly the draft's rows
for that region, or the region is rewritten (a region of one base chunk and
one draft chunk, the usual case, is checked against that chunk's recorded
fingerprint, and the draft chunk describes the patched rows). So a patch never changes what
a version holds, only how it is stored, and the version's fingerprint is
the draft's (patched and compacted versions of the same rows are the same
content).
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from dvtool.format.hashing import hash_bytes
from dvtool.format.jsonvalues import encode_array
from dvtool.format.models import ChunkInfo, Manifest
from dvtool.format.patches import PATCH_FORMAT, Patch, PatchObject, PatchRange
from dvtool.ingest.chunking import count_at_most
from dvtool.ingest.encoding import column_stats, encode_chunk, encode_new_chunk, key_range
from dvtool.ingest.fingerprint import ColumnsHasher, table_fingerprint
from dvtool.readplan import (
    apply_patch,
    load_patch,
    merge_at,
    patch_merge,
    patch_slices,
    positions_of,
    read_parquet_verified,
)
from dvtool.storage import Store
from dvtool.write.staging import Staging

__all__ = ["DEFAULT_PATCH_RATIO", "compact_manifest", "patch_draft", "patch_ratio"]

DEFAULT_PATCH_RATIO = 0.10  # docs/format.md "When a version is patched"; benchmarks/bench_patch.py


def patch_ratio() -> float:
    """``DVTOOL_PATCH_RATIO`` (0 turns patches off), else 0.10."""
    configured = os.environ.get("DVTOOL_PATCH_RATIO", "")
    try:
        value = float(configured) if configured else DEFAULT_PATCH_RATIO
    except ValueError:
        return DEFAULT_PATCH_RATIO
    return value if 0 <= value <= 1 else DEFAULT_PATCH_RATIO


@dataclass(slots=True)
class _Region:
    base: list[int]  # indexes into the parent's chunks
    new: list[int]  # indexes into the draft's chunks


@dataclass(slots=True)
class _PatchedChunk:
    index: int  # the base chunk
    upserts: pa.Table
    removed: pa.Table
    logical: pa.Table
    fingerprint: str  # of the logical rows
    drop: np.ndarray  # row numbers of the removed rows in the base chunk
    at: np.ndarray  # per upsert: the base row it goes before
    info: ChunkInfo | None = None  # the logical rows described, when a draft chunk already does


Anchor = tuple[int, int]  # (base chunk index, draft chunk index) of a chunk both hold


def _regions(
    base: Sequence[ChunkInfo], draft: Sequence[ChunkInfo]
) -> list[_Region | Anchor] | None:
    """The draft as anchors and regions, in order; None if the anchors are out of order."""
    where = {c.object: i for i, c in enumerate(base)}
    out: list[_Region | Anchor] = []
    previous = -1
    pending: list[int] = []
    for di, chunk in enumerate(draft):
        bi = where.get(chunk.object)
        if bi is None:
            pending.append(di)
            continue
        if bi <= previous:
            return None
        if pending or bi > previous + 1:
            out.extend(_split(base, draft, list(range(previous + 1, bi)), pending))
        out.append((bi, di))
        previous, pending = bi, []
    if pending or previous + 1 < len(base):
        out.extend(_split(base, draft, list(range(previous + 1, len(base))), pending))
    return _attach_inserts(out)


def _attach_inserts(plan: list[_Region | Anchor]) -> list[_Region | Anchor]:
    """Rows inserted between two chunks (or after the last) become a patch candidate of a neighbour.

    A region with new rows but no base chunk (an insert, an append) is joined
    with the next base chunk (or, at the end, the previous one), so a small
    insert is stored as that chunk's patch; a large one still rewrites.
    """
    out: list[_Region | Anchor] = []
    i = 0
    while i < len(plan):
        item = plan[i]
        if isinstance(item, _Region) and not item.base and item.new:
            nxt = plan[i + 1] if i + 1 < len(plan) else None
            if isinstance(nxt, tuple):
                out.append(_Region([nxt[0]], [*item.new, nxt[1]]))
                i += 2
                continue
            if isinstance(nxt, _Region) and nxt.base:
                out.append(_Region(nxt.base, [*item.new, *nxt.new]))
                i += 2
                continue
            prev = out[-1] if out else None
            if nxt is None and isinstance(prev, tuple):
                out[-1] = _Region([prev[0]], [prev[1], *item.new])
                i += 1
                continue
            if nxt is None and isinstance(prev, _Region) and prev.base:
                prev.new.extend(item.new)
                i += 1
                continue
        out.append(item)
        i += 1
    return out


def _split(
    base: Sequence[ChunkInfo], draft: Sequence[ChunkInfo], b: list[int], d: list[int]
) -> list[_Region | Anchor]:
    """Cut a region where a new chunk ends on the same last key as a base chunk (bounded memory).

    The key ranges come from the manifests' JSON; a wrong cut is caught by the
    region check (the region is then rewritten), never kept.
    """
    out: list[_Region | Anchor] = []
    bi = di = 0
    start_b = start_d = 0
    while bi < len(b) and di < len(d):
        kb, kd = base[b[bi]].key_max, draft[d[di]].key_max
        if kb is not None and kb == kd:
            out.append(_Region(b[start_b : bi + 1], d[start_d : di + 1]))
            bi += 1
            di += 1
            start_b, start_d = bi, di
            continue
        # advance the side whose chunk ends first (by rows seen so far)
        rows_b = sum(base[i].rows for i in b[start_b : bi + 1])
        rows_d = sum(draft[i].rows for i in d[start_d : di + 1])
        if rows_b <= rows_d:
            bi += 1
        else:
            di += 1
    if start_b < len(b) or start_d < len(d):
        out.append(_Region(b[start_b:], d[start_d:]))
    return out


def _same(a: pa.ChunkedArray, b: pa.ChunkedArray) -> np.ndarray:
    """Per row: the two values are equal as the fingerprint sees them (nulls equal nulls,
    NaN equals NaN, -0.0 is not 0.0; nested values by their exact JSON text)."""
    typ = a.type
    if pa.types.is_nested(typ):
        ta, tb = (
            (json.dumps(v, separators=(",", ":")) for v in encode_array(a)),
            (json.dumps(v, separators=(",", ":")) for v in encode_array(b)),
        )
        return np.fromiter((x == y for x, y in zip(ta, tb, strict=True)), bool, len(a))
    eq = pc.fill_null(pc.equal(a, b), False)
    eq = pc.or_(eq, pc.and_(pc.is_null(a), pc.is_null(b)))
    same = np.asarray(eq.to_numpy(zero_copy_only=False), dtype=bool)
    if pa.types.is_floating(typ):
        x = np.asarray(pc.fill_null(a, 0.0).to_numpy(zero_copy_only=False), dtype=np.float64)
        y = np.asarray(pc.fill_null(b, 0.0).to_numpy(zero_copy_only=False), dtype=np.float64)
        both_nan = np.isnan(x) & np.isnan(y)
        same = (same & (np.signbit(x) == np.signbit(y))) | both_nan
    return same


def _match(
    base: pa.Table, new: pa.Table, key: Sequence[str]
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None:
    """(new only, base only, matched new, matched base) row positions by key; None: use a join.

    Both sides are unique by the key (the parent's rows; a draft whose key was
    checked), so one stable sort of both key sets puts a key held by both as
    two neighbours, the base row first. Cheaper than Arrow's hash join, which
    also imports pyarrow.dataset (and pandas) in a process that had neither.
    """
    names = list(key)
    nb = base.num_rows
    base_keys = base.select(names)
    keys = pa.concat_tables([base_keys, new.select(names).cast(base_keys.schema)])
    perm = np.asarray(
        pc.sort_indices(keys, sort_keys=[(k, "ascending") for k in names]).to_numpy(),
        dtype=np.int64,
    )
    ordered = keys.take(pa.array(perm, pa.int64()))
    same = np.ones(max(len(perm) - 1, 0), dtype=bool)
    for column in ordered.columns:
        col = column.combine_chunks()
        eq = pc.equal(col.slice(0, len(col) - 1), col.slice(1))
        if col.null_count or eq.null_count:
            return None
        same &= np.asarray(eq.to_numpy(zero_copy_only=False), dtype=bool)
    at = np.flatnonzero(same)
    if np.any(np.diff(at) < 2):
        return None  # a key three times: not unique on one side
    mb, second = perm[at], perm[at + 1]
    if np.any(mb >= nb) or np.any(second < nb):
        return None
    mn = second - nb
    kept_b, kept_n = np.zeros(nb, dtype=bool), np.zeros(new.num_rows, dtype=bool)
    kept_b[mb], kept_n[mn] = True, True
    return np.flatnonzero(~kept_n), np.flatnonzero(~kept_b), mn, mb


def _joined(
    base: pa.Table, new: pa.Table, key: Sequence[str]
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """:func:`_match` by Arrow's hash join (keys the sort cannot handle)."""
    keys = list(key)
    left = new.select(keys).append_column("__n", pa.array(np.arange(new.num_rows), pa.int64()))
    right = base.select(keys).append_column("__b", pa.array(np.arange(base.num_rows), pa.int64()))
    joined = left.join(right, keys=keys, join_type="full outer")
    n = joined.column("__n")
    b = joined.column("__b")
    both = pc.and_(pc.is_valid(n), pc.is_valid(b))
    return (
        pc.filter(n, pc.is_null(b)).to_numpy(),
        pc.filter(b, pc.is_null(n)).to_numpy(),
        pc.filter(n, both).to_numpy(),
        pc.filter(b, both).to_numpy(),
    )


def _changes(
    base: pa.Table, new: pa.Table, key: Sequence[str]
) -> tuple[np.ndarray, np.ndarray, int]:
    """Positions of new rows to upsert and of base rows to remove (both sorted), and how many keys are in both."""
    try:
        found = _match(base, new, key)
    except (pa.ArrowNotImplementedError, pa.ArrowTypeError):
        found = None
    inserted, deleted, mn, mb = found if found is not None else _joined(base, new, key)
    changed = np.zeros(len(mn), dtype=bool)
    if len(mn):
        nt, bt = new.take(pa.array(mn, pa.int64())), base.take(pa.array(mb, pa.int64()))
        for name in new.column_names:
            if name not in key:
                changed |= ~_same(nt.column(name), bt.column(name))
    ups = np.sort(np.concatenate([inserted, mn[changed]]).astype(np.int64))
    rem = np.sort(np.concatenate([deleted, mb[changed]]).astype(np.int64))
    return ups, rem, int(changed.sum())


def _patch_region(
    bases: list[pa.Table],
    indexes: list[int],
    new: pa.Table,
    key: Sequence[str],
    schema: pa.Schema,
    ratio: float,
    drafted: Sequence[ChunkInfo] = (),
) -> list[_PatchedChunk] | None:
    """The region as patched base chunks, or None to rewrite it.

    ``drafted``: the draft's chunks holding ``new``. When the region is one
    base chunk and one draft chunk, the proof is that chunk's recorded
    fingerprint, and the draft chunk describes the patched rows (key range,
    statistics): one hash of the patched rows, not three.
    """
    base = pa.concat_tables(bases)
    ups_pos, rem_pos, replaced = _changes(base, new, key)
    # Keys the patch touches (inserted, deleted or changed), against the base rows.
    if len(ups_pos) + len(rem_pos) - replaced > ratio * base.num_rows:
        return None
    upserts = new.take(pa.array(ups_pos, pa.int64()))
    if len(bases) == 1 and len(drafted) == 1:
        removed = bases[0].take(pa.array(rem_pos, pa.int64()))
        placed = _positioned(bases[0], rem_pos, removed, upserts, key)
        if placed is None:
            return None
        drop, at, logical = placed
        fingerprint = table_fingerprint(schema, [logical])
        # The proof: the patched base reads back as exactly the draft chunk's rows.
        if fingerprint != drafted[0].fingerprint or logical.num_rows != drafted[0].rows:
            return None
        return [
            _PatchedChunk(indexes[0], upserts, removed, logical, fingerprint, drop, at, drafted[0])
        ]
    out: list[_PatchedChunk] = []
    offset = up_at = 0
    hasher = ColumnsHasher(schema)
    for j, (index, table) in enumerate(zip(indexes, bases, strict=True)):
        end = offset + table.num_rows
        mine = rem_pos[(rem_pos >= offset) & (rem_pos < end)] - offset
        removed = table.take(pa.array(mine, pa.int64()))
        if j == len(bases) - 1:
            up_end = upserts.num_rows
        else:
            last = [table.column(k)[table.num_rows - 1] for k in key]
            up_end = count_at_most(upserts, key, last)
        mine_ups = upserts.slice(up_at, up_end - up_at)
        placed = _positioned(table, mine, removed, mine_ups, key)
        if placed is None:
            return None
        drop, at, logical = placed
        one = ColumnsHasher(schema)
        hasher.update(logical, also=one)
        out.append(_PatchedChunk(index, mine_ups, removed, logical, one.hexdigest(), drop, at))
        offset, up_at = end, up_end
    # The proof: the patched base reads back as exactly the draft's rows.
    if hasher.hexdigest() != table_fingerprint(schema, [new]):
        return None
    return out


def _positioned(
    base: pa.Table,
    removed_at: np.ndarray,
    removed: pa.Table,
    upserts: pa.Table,
    key: Sequence[str],
) -> tuple[np.ndarray, np.ndarray, pa.Table] | None:
    """(rows to drop, row each upsert goes before, the patched rows) of one base chunk, or None.

    Readers apply a patch by row number (its ``positions``): they are found
    by key here and checked against the rows the comparison removed, and
    the patched rows are built from them exactly as a reader will, so the
    proof that follows hashes what readers read.
    """
    positions = positions_of(base, removed, upserts, key)
    if positions is None or not np.array_equal(positions[0], removed_at):
        return None
    return positions[0], positions[1], merge_at(base, positions[0], upserts, positions[1])


def _logical_info(base: ChunkInfo, p: _PatchedChunk, key: Sequence[str]) -> ChunkInfo:
    """The patched rows of base chunk ``base`` described like a chunk (object and bytes: the base's)."""
    if p.info is not None:
        return dataclasses.replace(p.info, object=base.object, bytes=base.bytes)
    key_min, key_max = key_range(p.logical, key)
    return ChunkInfo(
        base.object,
        p.fingerprint,
        p.logical.num_rows,
        base.bytes,
        key_min,
        key_max,
        column_stats(p.logical),
    )


def _only_adds_too_many(parent: Manifest, draft: Manifest, item: _Region, ratio: float) -> bool:
    """True if the region is its base chunks unchanged plus new rows, too many to patch.

    Decided from the manifests alone, before reading any chunk: each base
    chunk comes back as itself (same object, so the same rows), so with
    unique keys every row of the region's other new chunks is an insert and
    nothing is removed or changed; :func:`_patch_region` would count exactly
    those rows against ``ratio`` and rewrite. An append is such a region.
    """
    base = {parent.chunks[i].object for i in item.base}
    new = [draft.chunks[j] for j in item.new]
    if not base <= {c.object for c in new}:
        return False
    added = sum(c.rows for c in new if c.object not in base)
    return added > ratio * sum(parent.chunks[i].rows for i in item.base)


def patch_draft(
    store: Store,
    parent: Manifest | None,
    draft: Manifest,
    staging: Staging,
    *,
    ratio: float | None = None,
) -> Manifest:
    """The draft stored as a patch over the parent's base chunks where that is smaller (see the module doc).

    Returns ``draft`` itself (format 1) when nothing is patched. Otherwise a
    format 2 draft whose staged objects are only what it references.
    """
    ratio = patch_ratio() if ratio is None else ratio
    key = tuple(draft.key)
    if (
        ratio <= 0
        or parent is None
        or not key
        or not parent.chunks
        or tuple(parent.key) != key
        or not parent.schema.equals(draft.schema)
    ):
        return draft
    schema = draft.schema
    plan = _regions(parent.chunks, draft.chunks)
    if plan is None:
        return draft
    staged = set(staging.order)

    def new_table(index: int) -> pa.Table:
        chunk = draft.chunks[index]
        if chunk.object in staged:
            # ParquetFile, not read_table (which imports pyarrow.dataset and pandas)
            table = pq.ParquetFile(pa.BufferReader(staging.get(chunk.object))).read()
        else:
            table = read_parquet_verified(store, chunk.object, schema)
        return table if table.schema.equals(schema) else table.cast(schema)

    chunks: list[ChunkInfo] = []
    patched: list[tuple[int, _PatchedChunk]] = []  # (position in chunks, patched base chunk)
    for item in plan:
        if isinstance(item, tuple):
            chunks.append(parent.chunks[item[0]])
            continue
        result = None
        if item.base and item.new and not _only_adds_too_many(parent, draft, item, ratio):
            bases = [
                read_parquet_verified(store, parent.chunks[i].object, schema) for i in item.base
            ]
            new = pa.concat_tables([new_table(i) for i in item.new])
            try:
                drafted = [draft.chunks[i] for i in item.new]
                result = _patch_region(bases, item.base, new, key, schema, ratio, drafted)
            except (pa.ArrowNotImplementedError, pa.ArrowInvalid, pa.ArrowTypeError):
                result = None  # a key or column type the comparison cannot handle: rewrite
        if result is None:
            chunks.extend(draft.chunks[i] for i in item.new)
            continue
        for p in result:
            if p.upserts.num_rows or p.removed.num_rows:
                patched.append((len(chunks), p))
            chunks.append(parent.chunks[p.index])
    if not patched:
        return draft
    upserts = pa.concat_tables([p.upserts for _, p in patched])
    removed = pa.concat_tables([p.removed for _, p in patched])
    ranges = []
    ups_at = rem_at = 0
    for position, p in patched:
        ranges.append(
            PatchRange(
                position,
                (ups_at, ups_at + p.upserts.num_rows),
                (rem_at, rem_at + p.removed.num_rows),
                _logical_info(chunks[position], p, key),
            )
        )
        ups_at += p.upserts.num_rows
        rem_at += p.removed.num_rows
    positions = pa.table(
        {
            "position": pa.array(
                np.concatenate([p.drop for _, p in patched] + [p.at for _, p in patched]).astype(
                    np.int64
                ),
                pa.int64(),
            )
        }
    )
    objects = []
    for table in (upserts, removed, positions):
        data = encode_chunk(table) if table is not positions else _encode_positions(positions)
        object_id = hash_bytes(data)
        staging.add(object_id, data)
        objects.append(PatchObject(object_id, table.num_rows, len(data)))
    patch = Patch(objects[0], objects[1], tuple(ranges), objects[2])
    base_bytes = sum(chunks[position].bytes for position, _ in patched)
    logical_rows = sum(c.rows for c in chunks) + sum(
        r.logical.rows - chunks[r.chunk].rows for r in ranges
    )
    # The rows' objects against the chunks they save rewriting; the positions
    # (an index: about a byte per patched row plus ~300 bytes of framing) are not counted.
    rows_bytes = patch.upserts.bytes + patch.removed.bytes
    if rows_bytes > max(ratio, 0.0) * base_bytes * 2 or logical_rows != draft.rows:
        # Larger than the rows it saves rewriting (wide upserts compress worse), or a miscount: rewrite.
        staging.retain(staged)
        return draft
    staging.retain({c.object for c in chunks} | {o.object for o in patch.objects})
    return dataclasses.replace(
        draft,
        chunks=tuple(chunks),
        patch=patch,
        format=PATCH_FORMAT,
        bytes=sum(c.bytes for c in chunks) + patch.bytes,
    )


def _encode_positions(table: pa.Table) -> bytes:
    """The positions object: one delta-encoded int64 column, no statistics (~1 byte a row)."""
    import io

    from dvtool.ingest.encoding import COMPRESSION, COMPRESSION_LEVEL

    sink = io.BytesIO()
    pq.write_table(
        table,
        sink,
        row_group_size=max(1, table.num_rows),
        compression=COMPRESSION,
        compression_level=COMPRESSION_LEVEL,
        use_dictionary=False,
        column_encoding={"position": "DELTA_BINARY_PACKED"},
        write_statistics=False,
        write_page_checksum=True,
        store_schema=False,
    )
    return sink.getvalue()


def compact_manifest(
    store: Store,
    manifest: Manifest,
    staging: Staging,
    progress: Callable[[int], None] | None = None,
) -> Manifest:
    """``manifest`` with every patched chunk rewritten as its patched rows (a format 1 draft, same rows).

    Each patched range becomes one new chunk holding exactly the rows readers
    saw for it, so the chunk list, the fingerprint and the row count say the
    same thing as before; the new chunks are staged. Chunks without a patch
    are kept by id.
    """
    patch = manifest.patch
    if patch is None:
        return manifest
    tables = load_patch(store, manifest)
    merges = patch_merge(manifest, tables)
    chunks = list(manifest.chunks)
    for r in patch.ranges:
        slices = patch_slices(manifest, tables, r.chunk)
        assert slices is not None
        base = read_parquet_verified(store, manifest.chunks[r.chunk].object, manifest.schema)
        if merges is not None:
            merge = merges[r.chunk]
            logical = merge_at(base, merge.drop, slices[0], merge.at)
        else:
            logical = apply_patch(base, slices[0], slices[1], manifest.key)
        fingerprint = table_fingerprint(manifest.schema, [logical])
        if fingerprint != r.logical.fingerprint or logical.num_rows != r.logical.rows:
            from dvtool.errors import IntegrityError

            raise IntegrityError(
                f"the patch of {manifest.dataset}@v{manifest.version} does not read back as its manifest says "
                f"(chunk {r.chunk}); nothing was written, run 'dvtool fsck'"
            )
        info, data = encode_new_chunk(logical, fingerprint, manifest.key)
        staging.add(info.object, data)
        chunks[r.chunk] = info
        if progress is not None:
            progress(logical.num_rows)
    return dataclasses.replace(
        manifest,
        chunks=tuple(chunks),
        patch=None,
        format=1,
        bytes=sum(c.bytes for c in chunks),
        validation=manifest.validation,
    )
