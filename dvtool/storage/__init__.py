"""Bytes under keys, with create-only writes, on a local folder or any fsspec URL.

``base`` holds the contract every backend honours, ``local`` and ``remote`` the
two implementations, ``urls`` the rules for URLs (credentials never printed).
"""

from __future__ import annotations

from dvtool.storage.base import TEMP_PREFIX, Store, StoreEntry, is_temp
from dvtool.storage.filesystems import DEFAULT_TIMEOUT, url_to_fs
from dvtool.storage.local import LocalStore
from dvtool.storage.remote import FsspecStore
from dvtool.storage.urls import check_url, redact_url

__all__ = [
    "DEFAULT_TIMEOUT",
    "TEMP_PREFIX",
    "FsspecStore",
    "LocalStore",
    "Store",
    "StoreEntry",
    "check_url",
    "is_temp",
    "open_store",
    "redact_url",
    "url_to_fs",
]


def open_store(url: str, storage_options: dict[str, str] | None = None) -> Store:
    """A store for a local path, ``file://`` URL or any fsspec URL."""
    check_url(url)
    if url.startswith("file://"):
        return LocalStore(url[len("file://") :])
    if "://" in url:
        return FsspecStore(url, storage_options)
    return LocalStore(url)
