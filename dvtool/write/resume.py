"""Appends without decoding the rows the parent already holds.

When a snapshot's input is local Parquet whose first row groups are, byte
for byte, the row groups that gave the parent (the latest version), those
rows are the parent's rows. The parent's snapshot left behind, in the stat
cache (outside the repository), a **resume point**: a row ``at`` where one of
its chunks ends, near its end, and the data fingerprint's running state after
``at`` rows (:meth:`ColumnsHasher.checkpoint`). The next snapshot then

* keeps the parent's chunks before ``at`` as they are (the chunk boundaries
  would cut them again anyway: :mod:`dvtool.ingest.chunking`);
* decodes the input only from the row group holding row ``at``;
* resumes the fingerprint from the saved state, so the data fingerprint is
  exactly the one a full read gives.

Everything is checked before use (the parent's id and row count, the row at
which its chunk ends, the key at that row); anything missing or different
means a full read, never a different result. ``DVTOOL_NO_STAT_CACHE=1``
turns it off with the rest of the stat cache.
"""

from __future__ import annotations

import base64
from collections import deque
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import pyarrow as pa

from dvtool.format.models import ChunkInfo, Manifest
from dvtool.ingest import statcache
from dvtool.ingest.chunking import key_scalar, parent_boundaries
from dvtool.ingest.fingerprint import ColumnsHasher
from dvtool.ingest.rowgroups import RowGroups, batches_from, row_groups
from dvtool.ingest.sources import Source, conform

__all__ = ["Checkpoints", "ResumePoint", "find", "remember"]

KEEP = 16  # fingerprint states kept from the last chunk ends of a pass


@dataclass(slots=True)
class Checkpoints:
    """Fingerprint states at the last few chunk ends of a snapshot pass: rows → state."""

    states: deque[tuple[int, bytes]] = field(default_factory=lambda: deque(maxlen=KEEP))

    def add(self, rows: int, hasher: ColumnsHasher) -> None:
        state = hasher.checkpoint()
        if state is not None:
            self.states.append((rows, state))

    def at(self, rows: int) -> bytes | None:
        return next((s for r, s in self.states if r == rows), None)


@dataclass(slots=True)
class ResumePoint:
    """Where a snapshot goes on from: after ``at`` rows, the parent's ``kept`` chunks, its boundary ``boundary``."""

    at: int
    boundary: int  # the parent boundary (see chunking.parent_boundaries) that ends at ``at``
    kept: tuple[ChunkInfo, ...]
    hasher: ColumnsHasher
    last_key: pa.Table | None  # the key of row ``at - 1`` (the key check goes on from it)
    batches: Iterator[pa.RecordBatch]


POINTS = 4  # resume points kept per version (fingerprint states at its last allowed chunk ends)


def resume_rows(manifest: Manifest, key: Sequence[str], schema: pa.Schema) -> list[tuple[int, int]]:
    """(row, boundary) where the next version of ``manifest`` may resume, latest first.

    Chunk ends before the last range (the last range may grow), and never
    after a run of tiny chunks that the next version merges.
    """
    bounds = parent_boundaries(manifest, key, schema)
    last = len(bounds) - 2
    merges = [i for i, b in enumerate(bounds) if b.merge]
    if merges:
        last = min(last, merges[0] - 1)
    return [(bounds[j].end, j) for j in range(last, -1, -1)]


def _salted_keys(groups: RowGroups, src: Source) -> list[str]:
    return groups.prefix_keys(statcache.resume_salt() + src.read.token())


def input_row_groups(src: Source) -> RowGroups | None:
    """The row groups of ``src`` when it is local Parquet (and the stat cache is on), else None."""
    if not statcache.resume_enabled() or not src.rereadable or not src.local_files:
        return None
    return row_groups(src.local_files)


def find(
    src: Source, parent: Manifest | None, key: Sequence[str], groups: RowGroups | None
) -> ResumePoint | None:
    """The resume point for ``src`` (with row groups ``groups``) on top of ``parent``, if one is known.

    The input's first row groups must be, byte for byte, ones that gave the
    parent; the point must lie within them (a last row group that grew since,
    e.g. a partial month completed, is read again).
    """
    if parent is None or groups is None or len(groups.groups) < 2:
        return None
    if parent.patch is not None:  # its chunks are a base, not its rows (format 2)
        return None
    if tuple(parent.key) != tuple(key) or not parent.schema.equals(src.schema):
        return None
    allowed = dict(resume_rows(parent, key, src.schema))
    if not allowed:
        return None
    parent_id = _manifest_id(parent)
    keys = _salted_keys(groups, src)
    starts = [*groups.starts()[1:], sum(rows for _, _, rows in groups.groups)]
    for k in range(len(keys) - 1, -1, -1):  # the longest prefix first
        pointer = statcache.lookup_resume(f"{keys[k]}:{parent_id}", key)
        if pointer is None or pointer.get("manifest") != parent_id:
            continue
        entry = statcache.lookup_resume(str(pointer.get("points")), key)
        points = (
            entry.get("points")
            if entry is not None and entry.get("manifest") == parent_id
            else None
        )
        if not isinstance(points, list):
            continue
        for at, boundary, state in points:
            if at <= starts[k] and allowed.get(at) == boundary:
                point = _point(src, parent, key, groups, at, boundary, state)
                if point is not None:
                    return point
        return None
    return None


def _point(
    src: Source,
    parent: Manifest,
    key: Sequence[str],
    groups: RowGroups,
    at: int,
    boundary: int,
    state: str,
) -> ResumePoint | None:
    try:
        hasher = ColumnsHasher.resume(src.schema, base64.b64decode(state))
    except ValueError:
        return None
    if hasher is None or hasher.rows != at:
        return None
    bounds = parent_boundaries(parent, key, src.schema)
    kept = parent.chunks[: bounds[boundary].index + 1]
    if sum(c.rows for c in kept) != at:
        return None
    last_key = None
    if key:
        last_max = kept[-1].key_max
        if last_max is None:
            return None
        scalars = [
            key_scalar(v, src.schema.field(k).type) for k, v in zip(key, last_max, strict=True)
        ]
        if any(s is None for s in scalars):
            return None
        last_key = pa.table(
            {
                k: pa.array([s.as_py() if s is not None else None], src.schema.field(k).type)
                for k, s in zip(key, scalars, strict=True)
            }
        )
    batches = (conform(b, src.schema, src.description) for b in batches_from(groups, at))
    return ResumePoint(at, boundary, tuple(kept), hasher, last_key, batches)


def remember(
    groups: RowGroups | None,
    src: Source,
    key: Sequence[str],
    manifest_id: str,
    manifest: Manifest,
    checkpoints: Checkpoints,
) -> None:
    """Leave resume points for the next version of ``manifest`` (whose rows are ``groups``' rows).

    One entry holds the points (row, boundary, fingerprint state) of the last
    few allowed chunk ends; a small pointer to it is kept under each prefix of
    the input's row groups that reaches the earliest of them, with the
    version's id (the same files snapshotted into two repositories do not
    overwrite each other's points).
    """
    if (
        groups is None
        or not groups.groups
        or sum(rows for _, _, rows in groups.groups) != manifest.rows
    ):
        return
    points: list[tuple[int, int, str]] = []
    for at, boundary in resume_rows(manifest, key, manifest.schema):
        state = checkpoints.at(at)
        if state is not None:
            points.append((at, boundary, base64.b64encode(state).decode()))
        if len(points) == POINTS:
            break
    if not points:
        return
    keys = _salted_keys(groups, src)
    blob = f"points:{manifest_id}:{keys[-1]}"
    statcache.remember_resume(
        blob, key, {"manifest": manifest_id, "points": [list(p) for p in points]}
    )
    earliest = min(p[0] for p in points)
    ends = [*groups.starts()[1:], manifest.rows]
    for k, prefix in enumerate(keys):
        if ends[k] >= earliest:
            statcache.remember_resume(
                f"{prefix}:{manifest_id}", key, {"manifest": manifest_id, "points": blob}
            )


def _manifest_id(manifest: Manifest) -> str:
    from dvtool.format.hashing import hash_bytes

    return hash_bytes(manifest.encode())
