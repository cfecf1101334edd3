"""The Store contract: bytes under keys, create-only writes, verified reads.

A store knows keys (``objects/ab/cdef….parquet``), bytes and how to write a key
so that two writers can never both succeed. It does not know what the bytes
mean. Backend exceptions become :mod:`dvtool.errors` in the implementations,
with the location in the message (and never a credential).
"""

from __future__ import annotations

import abc
import contextlib
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from dvtool.errors import (
    AlreadyExistsError,
    IntegrityError,
    StorageError,
)
from dvtool.format.hashing import hash_bytes
from dvtool.storage.urls import redact_url

__all__ = ["TEMP_PREFIX", "Store", "StoreEntry", "is_temp", "refuse_empty"]

TEMP_PREFIX = ".tmp-"


@dataclass(frozen=True, slots=True)
class StoreEntry:
    key: str
    size: int
    modified: datetime | None


class Store(abc.ABC):
    """The storage contract every backend implements (see tests/test_storage.py)."""

    url: str
    _create_only_checked: bool = False

    @abc.abstractmethod
    def read(self, key: str) -> bytes:
        raise NotImplementedError

    @abc.abstractmethod
    def create(self, key: str, data: bytes) -> None:
        """Write ``data`` at ``key`` only if nothing is there; else AlreadyExistsError.

        Empty ``data`` is refused (StorageError) on every backend: s3fs's
        exclusive create of zero bytes silently overwrites (seen against S3-compatible
        servers), and dvtool never needs an empty object, so the contract forbids them.
        """
        raise NotImplementedError

    @abc.abstractmethod
    def exists(self, key: str) -> bool:
        raise NotImplementedError

    def list(self, prefix: str) -> list[str]:
        """Keys under ``prefix`` (recursively), sorted, without temp files."""
        return sorted(e.key for e in self.scan(prefix) if not is_temp(e.key))

    @abc.abstractmethod
    def scan(self, prefix: str) -> Iterator[StoreEntry]:
        """Every key under ``prefix`` with size and time, temp files included (for gc)."""
        raise NotImplementedError

    @abc.abstractmethod
    def delete(self, key: str) -> None:
        raise NotImplementedError

    def size(self, key: str) -> int | None:
        """The size of the object at ``key``, or None when there is none (one listing)."""
        for entry in self.scan(key):
            if entry.key == key:
                return entry.size
        return None

    def now(self) -> datetime:
        """The store's clock (for gc grace periods): the mtime of a fresh probe file."""
        key = f"tmp/{TEMP_PREFIX}clock-{uuid.uuid4().hex}"
        self.create(key, b"clock")
        try:
            for entry in self.scan("tmp"):
                if entry.key == key and entry.modified is not None:
                    return entry.modified
            return datetime.now(UTC)
        finally:
            with contextlib.suppress(StorageError):
                self.delete(key)

    def check_create_only(self) -> None:
        """Prove that a second create of the same key fails and leaves the first bytes.

        Run once per writing repository: commits rely on create-only writes, and
        some backends (S3-compatible stores without ``If-None-Match``, emulators)
        accept the flag and overwrite anyway. Raises StorageError on such a store.
        """
        if self._create_only_checked:
            return
        key = f"tmp/{TEMP_PREFIX}probe-{uuid.uuid4().hex}"
        first, second = b"dvtool create-only probe 1", b"dvtool create-only probe 2"
        self.create(key, first)
        try:
            try:
                self.create(key, second)
            except AlreadyExistsError:
                honoured = self.read(key) == first
            else:
                honoured = False
        finally:
            with contextlib.suppress(StorageError):
                self.delete(key)
        if not honoured:
            raise StorageError(
                f"{redact_url(self.url)} does not honour create-only writes (a second "
                "exclusive create of the same key overwrote the first); dvtool refuses to "
                "commit there, because two writers could overwrite each other's versions"
            )
        self._create_only_checked = True

    def local_path(self, key: str) -> str | None:
        """A local file path for ``key`` when the store is a local folder, else None."""
        return None

    def staging_dir(self) -> str | None:
        """A folder for staging new objects on the store's own filesystem, if it has one."""
        return None

    def publish_file(self, key: str, path: str, *, synced: bool = False) -> bool:
        """Create ``key`` from the local file ``path`` (create-only); False if already there.

        ``synced``: the file was fsync'd after its last write (a local store
        need not fsync it again).
        """
        with open(path, "rb") as f:
            return self.put_object(key, f.read())

    def full_url(self, key: str) -> str:
        return f"{self.url.rstrip('/')}/{key}"

    @property
    @abc.abstractmethod
    def filesystem(self) -> Any:
        """The fsspec filesystem behind the store (for engines that read through fsspec)."""

    # -- content-addressed helpers -------------------------------------------------

    def put_object(self, key: str, data: bytes) -> bool:
        """Create a content-addressed object; True if written now, False if already there."""
        try:
            self.create(key, data)
        except AlreadyExistsError:
            return False
        return True

    def read_verified(self, key: str, object_id: str) -> bytes:
        """Read ``key`` and check its bytes hash to ``object_id``; never return bad bytes."""
        data = self.read(key)
        actual = hash_bytes(data)
        if actual != object_id:
            raise IntegrityError(
                f"object {object_id} at {redact_url(self.full_url(key))} is corrupt "
                f"(its bytes hash to {actual}); run 'dvtool fsck'"
            )
        return data


def refuse_empty(data: bytes, where: str) -> None:
    if not data:
        raise StorageError(f"refusing to write an empty object at {where}")


def is_temp(key: str) -> bool:
    return key.rsplit("/", 1)[-1].startswith(TEMP_PREFIX)
