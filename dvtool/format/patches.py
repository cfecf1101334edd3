"""Format v2 values: the patch of a keyed snapshot (merge-on-read).

A v2 manifest lists its **base chunks** (``chunks``, exactly as a v1
manifest does, usually copied by id from its parent) and one **patch**: two
content-addressed Parquet objects stored like chunks (``objects/ab/….parquet``):

* ``upserts``: whole rows, in the dataset's schema, sorted by the key, unique
  keys: rows that are new or whose values changed, relative to the base;
* ``removed``: the base rows, whole, that the version no longer holds as
  they are (replaced by an upsert or deleted), sorted by the key.

The logical rows of the version are ``base − removed ∪ upserts``, ordered by
the key. The patch is **cumulative relative to the base** (never a chain):
a reader needs the base chunks and this one patch. ``removed`` keeps whole
rows (not just keys) so a diff against the parent reads the patches only,
and ``fsck`` can check every removed row against its base chunk.

``ranges`` says which base chunk each slice of the patch applies to: a range
applies rows ``upserts[a:b]`` and ``removed[c:d]`` to ``chunks[i]``, and
describes that chunk's key range after the patch (rows, fingerprint, key
range, statistics). Slices are in chunk order, contiguous and disjoint.
``positions`` (written since the patch format gained it; older patches
have none and are applied by key) is a third Parquet object, one int64 column
``position``: first, for each removed row, its row number in its base chunk;
then, for each upsert, the row number of the base row it goes before (the
chunk's row count: after its last row). With it a reader applies a patch by
row number, as a deletion vector, without reading or comparing keys.
docs/format.md ("Format 2: patches") is the full description.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from dvtool.format.models import ChunkInfo

__all__ = ["PATCH_FORMAT", "Patch", "PatchObject", "PatchRange"]

PATCH_FORMAT = 2  # the manifest format of a version that has a patch


@dataclass(frozen=True, slots=True)
class PatchObject:
    """One Parquet object of a patch: its id, rows and stored bytes."""

    object: str
    rows: int
    bytes: int

    def to_dict(self) -> dict[str, Any]:
        return {"object": self.object, "rows": self.rows, "bytes": self.bytes}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> PatchObject:
        return cls(str(d["object"]), int(d["rows"]), int(d["bytes"]))


@dataclass(frozen=True, slots=True)
class PatchRange:
    """The part of a patch that applies to base chunk ``chunk``, and what its key range holds after it.

    ``logical`` describes the rows of that range after the patch like a chunk
    (rows, fingerprint, key range, statistics); its ``object`` and ``bytes``
    are the base chunk's. Readers that work chunk by chunk see it in place of
    the base chunk, so per-chunk verdicts and skips follow the logical rows.
    """

    chunk: int  # index into the manifest's chunks
    upserts: tuple[int, int]  # [start, end) rows of the upserts object
    removed: tuple[int, int]  # [start, end) rows of the removed object
    logical: ChunkInfo

    def to_dict(self) -> dict[str, Any]:
        described = self.logical.to_dict()
        del described["object"], described["bytes"]
        return {
            "chunk": self.chunk,
            "upserts": list(self.upserts),
            "removed": list(self.removed),
            "logical": described,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any], chunks: Sequence[ChunkInfo]) -> PatchRange:
        from dvtool.format.models import ChunkInfo

        index = int(d["chunk"])
        if not 0 <= index < len(chunks):
            raise ValueError(f"patch range for chunk {index}, but there are {len(chunks)} chunks")
        base = chunks[index]
        ups, rem = d["upserts"], d["removed"]
        logical = ChunkInfo.from_dict({**d["logical"], "object": base.object, "bytes": base.bytes})
        return cls(index, (int(ups[0]), int(ups[1])), (int(rem[0]), int(rem[1])), logical)


@dataclass(frozen=True, slots=True)
class Patch:
    """The patch of a v2 manifest (see the module doc)."""

    upserts: PatchObject
    removed: PatchObject
    ranges: tuple[PatchRange, ...]
    positions: PatchObject | None = None  # row numbers in the base chunks (see the module doc)

    @property
    def bytes(self) -> int:
        return sum(o.bytes for o in self.objects)

    @property
    def objects(self) -> tuple[PatchObject, ...]:
        if self.positions is None:
            return (self.upserts, self.removed)
        return (self.upserts, self.removed, self.positions)

    def range_of(self, chunk: int) -> PatchRange | None:
        for r in self.ranges:
            if r.chunk == chunk:
                return r
        return None

    def to_dict(self) -> dict[str, Any]:
        out = {
            "upserts": self.upserts.to_dict(),
            "removed": self.removed.to_dict(),
            "ranges": [r.to_dict() for r in self.ranges],
        }
        if self.positions is not None:
            out["positions"] = self.positions.to_dict()
        return out

    @classmethod
    def from_dict(cls, d: dict[str, Any], chunks: Sequence[ChunkInfo]) -> Patch:
        """Parse and check the shape: slices in chunk order, contiguous, covering both objects."""
        patch = cls(
            PatchObject.from_dict(d["upserts"]),
            PatchObject.from_dict(d["removed"]),
            tuple(PatchRange.from_dict(r, chunks) for r in d["ranges"]),
            PatchObject.from_dict(d["positions"]) if d.get("positions") is not None else None,
        )
        ups = rem = 0
        last = -1
        for r in patch.ranges:
            if r.chunk <= last:
                raise ValueError(f"patch range for chunk {r.chunk} is out of order")
            if (
                r.upserts[0] != ups
                or r.removed[0] != rem
                or r.upserts[1] < ups
                or r.removed[1] < rem
            ):
                raise ValueError(
                    f"patch range for chunk {r.chunk} does not follow the previous one"
                )
            if r.logical.rows < 0:
                raise ValueError(f"patch range for chunk {r.chunk} has negative rows")
            last, ups, rem = r.chunk, r.upserts[1], r.removed[1]
        if ups != patch.upserts.rows or rem != patch.removed.rows:
            raise ValueError("patch ranges do not cover the patch objects")
        if patch.positions is not None and patch.positions.rows != ups + rem:
            raise ValueError("patch positions do not cover the removed and upserted rows")
        return patch
