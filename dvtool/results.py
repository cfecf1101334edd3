"""What ``Repo.snapshot`` and ``Repo.compact`` return (kept apart from the facade to keep it short)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from dvtool.snapshot import Snapshot

if TYPE_CHECKING:
    from dvtool.ingest.readoptions import ReadOptions
    from dvtool.validate.report import ValidationReport

__all__ = ["SnapshotResult"]


@dataclass(frozen=True, slots=True, repr=False)
class SnapshotResult:
    """What ``Repo.snapshot`` did. ``unchanged`` means no version was committed."""

    snapshot: Snapshot
    unchanged: bool
    new_chunks: int
    bytes_written: int
    tag: str | None = None
    validation: ValidationReport | None = None  # the report when a schema was given
    read: ReadOptions | None = None  # how SOURCE files were read (None: not files)
    read_from: str | None = None  # the version whose recorded read options (or SOURCE) were reused

    @property
    def dataset(self) -> str:
        return self.snapshot.dataset

    @property
    def version(self) -> int:
        return self.snapshot.version

    @property
    def id(self) -> str:
        return self.snapshot.id

    def __repr__(self) -> str:
        state = (
            "unchanged"
            if self.unchanged
            else f"{self.new_chunks} new chunks, {self.bytes_written} bytes written"
        )
        return f"<SnapshotResult {self.snapshot.ref} {self.snapshot.id} rows={self.snapshot.rows} {state}>"

    def to_json(self) -> dict[str, Any]:
        m = self.snapshot.manifest
        return {
            "dataset": m.dataset,
            "version": m.version,
            "id": self.snapshot.id,
            "rows": m.rows,
            "chunks": len(m.chunks),
            "new_chunks": self.new_chunks,
            "bytes_written": self.bytes_written,
            "unchanged": self.unchanged,
            "fingerprint": m.fingerprint,
            "tag": self.tag,
            "read_options": self.read.to_dict() if self.read is not None else None,
            "read_options_from": self.read_from,
            # format 2: the changed rows stored beside the base chunks (docs/format.md)
            "patch": (
                {
                    "upserts": m.patch.upserts.rows,
                    "removed": m.patch.removed.rows,
                    "bytes": m.patch.bytes,
                }
                if m.patch is not None
                else None
            ),
        }
