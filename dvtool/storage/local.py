"""A store on a local folder: create-only by ``os.link`` of a fully written temp file, fsync'd."""

from __future__ import annotations

import contextlib
import errno
import os
import stat
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from dvtool.errors import (
    AlreadyExistsError,
    NotFoundError,
    StorageError,
)
from dvtool.storage.base import TEMP_PREFIX, Store, StoreEntry, refuse_empty

__all__ = ["LocalStore"]


class LocalStore(Store):
    """A folder on local disk. Create-only = write a temp file, fsync, hard-link, fsync dir.

    ``os.link`` fails if the target exists, so publishing is atomic and never
    replaces: a reader sees the whole file or nothing, and of two writers of the
    same key exactly one succeeds.
    """

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root).absolute()
        self.url = str(self.root)

    def _path(self, key: str) -> Path:
        return self.root / key

    def read(self, key: str) -> bytes:
        try:
            return self._path(key).read_bytes()
        except FileNotFoundError:
            raise NotFoundError(f"{key} not found in {self.url}") from None
        except OSError as exc:
            raise StorageError(f"cannot read {self._path(key)}: {exc.strerror}") from None

    def create(self, key: str, data: bytes) -> None:
        path = self._path(key)
        refuse_empty(data, str(path))
        if path.exists():
            raise AlreadyExistsError(f"{key} already exists in {self.url}")
        tmp = path.parent / f"{TEMP_PREFIX}{uuid.uuid4().hex}"
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            try:
                view = memoryview(data)
                while view:
                    written = os.write(fd, view)
                    view = view[written:]
                os.fsync(fd)
            finally:
                os.close(fd)
            try:
                os.link(tmp, path)
            except FileExistsError:
                raise AlreadyExistsError(f"{key} already exists in {self.url}") from None
            finally:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(tmp)
            _fsync_dir(path.parent)
        except AlreadyExistsError:
            raise
        except OSError as exc:
            raise StorageError(f"cannot write {path}: {exc.strerror or exc}") from None

    def exists(self, key: str) -> bool:
        return self._path(key).exists()

    def size(self, key: str) -> int | None:
        try:
            st = self._path(key).stat()
        except FileNotFoundError:
            return None
        return st.st_size if stat.S_ISREG(st.st_mode) else None  # a folder is no object

    def scan(self, prefix: str) -> Iterator[StoreEntry]:
        base = self._path(prefix)
        if not base.exists():
            return
        for dirpath, _dirs, files in os.walk(base):
            for name in files:
                full = Path(dirpath) / name
                try:
                    st = full.stat()
                except FileNotFoundError:
                    continue
                yield StoreEntry(
                    key=full.relative_to(self.root).as_posix(),
                    size=st.st_size,
                    modified=datetime.fromtimestamp(st.st_mtime, UTC),
                )

    def delete(self, key: str) -> None:
        try:
            os.unlink(self._path(key))
        except FileNotFoundError:
            pass
        except OSError as exc:
            raise StorageError(f"cannot delete {self._path(key)}: {exc.strerror}") from None

    def check_create_only(self) -> None:
        """Nothing to probe: ``os.link`` never replaces an existing file."""

    def staging_dir(self) -> str | None:
        # Inside the repository, so publishing is a hard link; the folder and the
        # files in it carry the temp prefix, so gc sweeps what a killed writer left.
        return str(self.root / "tmp" / f"{TEMP_PREFIX}stage-{uuid.uuid4().hex}")

    def publish_file(self, key: str, path: str, *, synced: bool = False) -> bool:
        """fsync the staged file (unless ``synced``), hard-link it into place (never replacing),
        fsync the folder."""
        target = self._path(key)
        try:
            if not synced:
                fd = os.open(path, os.O_RDONLY)
                try:
                    os.fsync(fd)
                finally:
                    os.close(fd)
            target.parent.mkdir(parents=True, exist_ok=True)
            try:
                os.link(path, target)
            except FileExistsError:
                return False
            except OSError as exc:
                if exc.errno not in (errno.EXDEV, errno.EPERM, errno.ENOTSUP, errno.EMLINK):
                    raise
                return super().publish_file(key, path)  # no hard links here: copy create-only
            _fsync_dir(target.parent)
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)
            return True
        except OSError as exc:
            raise StorageError(f"cannot write {target}: {exc.strerror or exc}") from None

    def local_path(self, key: str) -> str | None:
        return str(self._path(key))

    def full_url(self, key: str) -> str:
        return str(self._path(key))

    @property
    def filesystem(self) -> Any:
        import fsspec

        return fsspec.filesystem("file")


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError as exc:  # some filesystems cannot fsync a directory
        if exc.errno not in (errno.EINVAL, errno.EBADF):
            raise
    finally:
        os.close(fd)
