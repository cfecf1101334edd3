"""A store on any fsspec URL (S3, GCS, Azure, memory): create-only through the backend's conditional put."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from dvtool.errors import (
    AlreadyExistsError,
    NotFoundError,
    StorageError,
)
from dvtool.storage.base import Store, StoreEntry, refuse_empty
from dvtool.storage.filesystems import url_to_fs
from dvtool.storage.urls import check_url, redact_text, redact_url

__all__ = ["FsspecStore"]

_CONFLICT_RETRIES = 5


class FsspecStore(Store):
    """Any fsspec filesystem. Create-only uses the backend's exclusive mode ("xb")."""

    def __init__(self, url: str, storage_options: dict[str, str] | None = None) -> None:
        check_url(url)
        self.url = url.rstrip("/")
        fs, root = url_to_fs(url, storage_options)  # with dvtool's timeout (storage/filesystems.py)
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
        refuse_empty(data, self._where(key))
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
                parsed = datetime.fromisoformat(value)  # reads a trailing "Z" (Python 3.11+)
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
    """A backend's exception as one line, every URL in it without credentials."""
    return redact_text(f"{type(exc).__name__}: {exc}".splitlines()[0])
