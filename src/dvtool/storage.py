"""Bytes under keys, with create-only writes, on a local folder or any fsspec URL.

This module knows keys (``objects/ab/cdef….parquet``), bytes and how to write
a key so that two writers can never both succeed. It does not know what the
bytes mean. Backend exceptions become :mod:`dvtool.errors` here, with the
location in the message (and never a credential).
"""

from __future__ import annotations

import abc
import contextlib
import errno
import os
import re
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from .errors import AlreadyExistsError, IntegrityError, NotFoundError, StorageError, UsageError
from .hashing import hash_bytes

__all__ = ["FsspecStore", "LocalStore", "Store", "StoreEntry", "open_store", "redact_url"]

TEMP_PREFIX = ".tmp-"
_CONFLICT_RETRIES = 5
_CRED_RE = re.compile(r"^([a-zA-Z][a-zA-Z0-9+.-]*://)([^/@]*)@")
_EXTRAS = {
    "s3": "s3",
    "s3a": "s3",
    "gs": "gcs",
    "gcs": "gcs",
    "az": "azure",
    "abfs": "azure",
    "abfss": "azure",
    "adl": "azure",
}


def redact_url(url: str) -> str:
    """``s3://user:secret@bucket`` → ``s3://***@bucket``: safe to print."""
    return _CRED_RE.sub(r"\1***@", url)


def check_url(url: str) -> None:
    """Refuse URLs that carry credentials; they would end up in shell history and logs."""
    if _CRED_RE.match(url):
        raise UsageError(
            f"URL {redact_url(url)} has credentials in it; pass them with --storage-option "
            "or the backend's environment variables instead"
        )


def is_remote(url: str) -> bool:
    return "://" in url and not url.startswith("file://")


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
        exclusive create of zero bytes silently overwrites (research/reliability.md
        §2.1), and dvtool never needs an empty object, so the contract forbids them.
        """
        raise NotImplementedError

    @abc.abstractmethod
    def exists(self, key: str) -> bool:
        raise NotImplementedError

    def list(self, prefix: str) -> list[str]:
        """Keys under ``prefix`` (recursively), sorted, without temp files."""
        return sorted(e.key for e in self.scan(prefix) if not _is_temp(e.key))

    @abc.abstractmethod
    def scan(self, prefix: str) -> Iterator[StoreEntry]:
        """Every key under ``prefix`` with size and time, temp files included (for gc)."""
        raise NotImplementedError

    @abc.abstractmethod
    def delete(self, key: str) -> None:
        raise NotImplementedError

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

    def publish_file(self, key: str, path: str) -> bool:
        """Create ``key`` from the local file ``path`` (create-only); False if already there."""
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


def _refuse_empty(data: bytes, where: str) -> None:
    if not data:
        raise StorageError(f"refusing to write an empty object at {where}")


def _is_temp(key: str) -> bool:
    return key.rsplit("/", 1)[-1].startswith(TEMP_PREFIX)


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
        _refuse_empty(data, str(path))
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

    def publish_file(self, key: str, path: str) -> bool:
        """fsync the staged file, hard-link it into place (never replacing), fsync the folder."""
        target = self._path(key)
        try:
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


class FsspecStore(Store):
    """Any fsspec filesystem. Create-only uses the backend's exclusive mode ("xb")."""

    def __init__(self, url: str, storage_options: dict[str, str] | None = None) -> None:
        import fsspec

        check_url(url)
        self.url = url.rstrip("/")
        protocol = url.split("://", 1)[0]
        try:
            fs, root = fsspec.core.url_to_fs(url, **(storage_options or {}))
        except ImportError as exc:
            extra = _EXTRAS.get(protocol)
            hint = f"; install it with: pip install 'dvtool[{extra}]'" if extra else ""
            raise UsageError(f"no filesystem for {protocol}:// ({exc}){hint}") from None
        except ValueError as exc:
            if "Protocol not known" in str(exc):
                raise UsageError(f"unknown URL scheme {protocol}:// in {redact_url(url)}") from None
            raise UsageError(f"cannot open {redact_url(url)}: {exc}") from None
        self._fs = fs
        self._root = root.rstrip("/")

    @property
    def filesystem(self) -> Any:
        return self._fs

    def _path(self, key: str) -> str:
        return f"{self._root}/{key}"

    def _where(self, key: str) -> str:
        return redact_url(self.full_url(key))

    def read(self, key: str) -> bytes:
        try:
            data: bytes = self._fs.cat_file(self._path(key))
            return data
        except FileNotFoundError:
            raise NotFoundError(f"{key} not found in {redact_url(self.url)}") from None
        except Exception as exc:
            raise StorageError(f"cannot read {self._where(key)}: {_describe(exc)}") from None

    def create(self, key: str, data: bytes) -> None:
        # s3fs's exclusive create of a zero-byte object overwrites; see Store.create.
        _refuse_empty(data, self._where(key))
        path = self._path(key)
        for attempt in range(_CONFLICT_RETRIES):
            try:
                with self._fs.open(path, "xb") as f:
                    f.write(data)
                return
            except FileExistsError:
                raise AlreadyExistsError(
                    f"{key} already exists in {redact_url(self.url)}"
                ) from None
            except Exception as exc:
                if _is_precondition_failure(exc):
                    raise AlreadyExistsError(
                        f"{key} already exists in {redact_url(self.url)}"
                    ) from None
                if "ConditionalRequestConflict" in str(exc) and attempt + 1 < _CONFLICT_RETRIES:
                    # S3's 409: a concurrent conditional write to this key is in flight and
                    # its outcome is unknown; only a retry can tell "exists" from "free".
                    time.sleep(0.05 * 2**attempt)
                    continue
                raise StorageError(f"cannot write {self._where(key)}: {_describe(exc)}") from None

    def exists(self, key: str) -> bool:
        path = self._path(key)
        try:
            self._fs.invalidate_cache(path)
            return bool(self._fs.exists(path))
        except Exception as exc:
            raise StorageError(f"cannot stat {self._where(key)}: {_describe(exc)}") from None

    def scan(self, prefix: str) -> Iterator[StoreEntry]:
        base = self._path(prefix).rstrip("/")
        try:
            # s3fs and gcsfs cache listings per (shared) filesystem instance; a stale
            # listing would hide versions other writers committed, so always re-list.
            self._fs.invalidate_cache(base)
            found = self._fs.find(base, detail=True, withdirs=False)
        except FileNotFoundError:
            return
        except Exception as exc:
            raise StorageError(f"cannot list {self._where(prefix)}: {_describe(exc)}") from None
        root = self._root.lstrip("/") + "/"
        for path, info in sorted(found.items()):
            if info.get("type") == "directory":
                continue
            rel = path.lstrip("/")
            if not rel.startswith(root):
                continue
            key = rel[len(root) :]
            yield StoreEntry(key=key, size=int(info.get("size") or 0), modified=_mtime(info))

    def delete(self, key: str) -> None:
        try:
            self._fs.rm_file(self._path(key))
        except FileNotFoundError:
            pass
        except Exception as exc:
            raise StorageError(f"cannot delete {self._where(key)}: {_describe(exc)}") from None


def _mtime(info: dict[str, Any]) -> datetime | None:
    for name in ("LastModified", "mtime", "created", "updated", "last_modified"):
        value = info.get(name)
        if value is None:
            continue
        if isinstance(value, datetime):
            return value if value.tzinfo else value.replace(tzinfo=UTC)
        if isinstance(value, int | float):
            return datetime.fromtimestamp(float(value), UTC)
        if isinstance(value, str):
            with contextlib.suppress(ValueError):
                parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
                return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    return None


def _is_precondition_failure(exc: Exception) -> bool:
    """Whether a backend refused a conditional create because the key exists (HTTP 412).

    Decided from the error's structure (status code, error code), never from a
    bare "412" in its text: object keys are hex and often contain "412", and a
    plain I/O error mistaken for "already exists" would let a commit point at a
    manifest that was never written.
    """
    for err in (exc, exc.__cause__, exc.__context__):
        if err is None:
            continue
        response = getattr(err, "response", None)
        if isinstance(response, dict):
            code = str(response.get("Error", {}).get("Code", ""))
            status = response.get("ResponseMetadata", {}).get("HTTPStatusCode")
            if code in ("PreconditionFailed", "ConditionNotMet") or status == 412:
                return True
        if getattr(err, "code", None) == 412 or getattr(err, "status", None) == 412:
            return True  # gcsfs HttpError, aiohttp/azure response errors
        name = type(err).__name__
        if name in ("PreconditionFailed", "ConditionNotMetError", "ResourceModifiedError"):
            return True
        text = str(err)
        if "PreconditionFailed" in text or "ConditionNotMet" in text or "412 Precondition" in text:
            return True
    return False


def _describe(exc: Exception) -> str:
    return redact_url(f"{type(exc).__name__}: {exc}".splitlines()[0])


def open_store(url: str, storage_options: dict[str, str] | None = None) -> Store:
    """A store for a local path, ``file://`` URL or any fsspec URL."""
    check_url(url)
    if url.startswith("file://"):
        return LocalStore(url[len("file://") :])
    if "://" in url:
        return FsspecStore(url, storage_options)
    return LocalStore(url)
