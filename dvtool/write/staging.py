"""Staged chunks: new chunk bytes held back until the snapshot is known to commit.

Nothing is published until every check passed, so a failed snapshot leaves
the repository's files exactly as they were.
"""

from __future__ import annotations

import os
import shutil

from dvtool.format.hashing import object_hex
from dvtool.storage import TEMP_PREFIX, Store

__all__ = ["Staging"]

SPOOL_MEMORY = 64 << 20  # staged chunk bytes kept in memory before spilling to a temp folder


class Staging:
    """New chunk bytes held back until the snapshot is known to be committed.

    Nothing is published until every check passed, so a failed snapshot (bad
    input, duplicate key, failed schema) leaves the repository's files as they
    were. For a local repository, chunks are staged as temp files inside it
    (``directory``, on the same filesystem), written by the encode workers and
    published with a hard link, so no byte is copied twice; leftovers of a
    killed writer are temp files that ``gc`` sweeps. Otherwise small snapshots
    stay in memory and large ones spill to the system's temp folder.
    """

    def __init__(self, directory: str | None = None) -> None:
        self._mem: dict[str, bytes] = {}
        self._mem_bytes = 0
        self._fixed_dir = directory
        self._dir: str | None = None
        self._files: dict[str, str] = {}
        self._synced: set[str] = set()  # staged files fsync'd since written (by prepare)
        self.order: list[str] = []

    def _folder(self) -> str:
        if self._dir is None:
            if self._fixed_dir is not None:
                os.makedirs(self._fixed_dir, exist_ok=True)
                self._dir = self._fixed_dir
            else:
                import tempfile

                self._dir = tempfile.mkdtemp(prefix="dvtool-stage-")
        return self._dir

    def prepare(self, object_id: str, data: bytes) -> bytes | str:
        """Runs in an encode worker: write to the stage folder when there is one (→ its path).

        The file is fsync'd here, while other chunks are still being encoded,
        so publishing it is only a hard link (and its folder's fsync).
        """
        if self._fixed_dir is None:
            return data
        path = os.path.join(self._folder(), f"{TEMP_PREFIX}{object_hex(object_id)}")
        with open(path, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        self._synced.add(path)
        return path

    def add(self, object_id: str, prepared: bytes | str) -> None:
        if object_id in self._mem or object_id in self._files:
            return
        self.order.append(object_id)
        if isinstance(prepared, str):
            self._files[object_id] = prepared
            return
        if self._mem_bytes + len(prepared) <= SPOOL_MEMORY:
            self._mem[object_id] = prepared
            self._mem_bytes += len(prepared)
            return
        path = os.path.join(self._folder(), f"{TEMP_PREFIX}{object_hex(object_id)}")
        with open(path, "wb") as f:
            f.write(prepared)
        self._files[object_id] = path

    def retain(self, object_ids: set[str]) -> None:
        """Publish only ``object_ids`` (e.g. when a patch replaces re-encoded chunks)."""
        self.order = [o for o in self.order if o in object_ids]

    def get(self, object_id: str) -> bytes:
        if object_id in self._mem:
            return self._mem[object_id]
        with open(self._files[object_id], "rb") as f:
            return f.read()

    def publish(self, store: Store, key: str, object_id: str) -> int | None:
        """Put the staged object at ``key``: its size if written now, None if already there."""
        path = self._files.get(object_id)
        if path is not None:
            size = os.path.getsize(path)
            created = store.publish_file(key, path, synced=path in self._synced)
            return size if created else None
        data = self._mem[object_id]
        return len(data) if store.put_object(key, data) else None

    def local_path(self, object_id: str) -> str:
        """A local file for the staged object (written on demand), e.g. for DuckDB."""
        if object_id not in self._files:
            path = os.path.join(self._folder(), f"{TEMP_PREFIX}{object_hex(object_id)}")
            with open(path, "wb") as f:
                f.write(self._mem[object_id])
            self._files[object_id] = path
        return self._files[object_id]

    def close(self) -> None:
        self.order.clear()
        self._files.clear()
        self._synced.clear()
        self._mem_bytes = 0
        self._mem.clear()
        if self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)
            self._dir = None
