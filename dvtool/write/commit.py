"""Publishing staged chunks and committing a version: the only writes a snapshot makes.

Order matters and is the whole atomicity story (docs/format.md): chunks, then
the manifest, then the version entry, each written create-only. Creating the
version entry *is* the commit: exactly one writer can create version N; a
loser re-reads the head and retries as N+1. Tags are create-only too.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from dvtool.catalog import Catalog
from dvtool.crashpoints import crash_point
from dvtool.errors import (
    AlreadyExistsError,
    IntegrityError,
    NotFoundError,
    StorageError,
    UsageError,
)
from dvtool.format.hashing import hash_bytes
from dvtool.format.layout import check_name, manifest_key, object_key, tag_key, utc_now, version_key
from dvtool.format.models import Manifest, TagEntry, VersionEntry, parse_json
from dvtool.storage import Store
from dvtool.write.staging import Staging

__all__ = [
    "COMMIT_ATTEMPTS",
    "Committed",
    "Published",
    "commit_version",
    "create_tag",
    "publish_staged",
]

COMMIT_ATTEMPTS = 200
PUBLISH_THREADS = 8  # publishing is I/O (fsync, uploads): overlap it


@dataclass(frozen=True, slots=True)
class Published:
    """What publishing the staged chunks wrote."""

    new_chunks: int
    bytes_written: int
    deduped: tuple[str, ...]  # staged chunks that were already in the store


@dataclass(frozen=True, slots=True)
class Committed:
    manifest: Manifest
    manifest_id: str
    bytes_written: int  # the manifest's bytes, when this commit wrote it


def publish_staged(store: Store, staging: Staging) -> Published:
    """Put every staged chunk in the store (create-only; present ones are not written again)."""
    new_chunks = bytes_written = 0
    deduped: list[str] = []

    def publish(object_id: str) -> tuple[str, int | None]:
        return object_id, staging.publish(store, object_key(object_id), object_id)

    with ThreadPoolExecutor(
        max_workers=PUBLISH_THREADS, thread_name_prefix="dvtool-publish"
    ) as io_pool:
        for object_id, size in io_pool.map(publish, staging.order):
            if size is None:
                deduped.append(object_id)
            else:
                bytes_written += size
                new_chunks += 1
    return Published(new_chunks, bytes_written, tuple(deduped))


def recheck_deduped(store: Store, object_ids: Sequence[str], staging: Staging) -> None:
    """Just before the commit, re-check chunks that were already stored (dedup hits).

    Such a chunk may be an old, unreferenced leftover that a concurrent ``gc``
    sweeps, or a torn write of a backend without atomic puts: write it again
    from the staged bytes rather than commit a version that points at a
    missing or damaged object.
    """
    for object_id in object_ids:
        key = object_key(object_id)
        try:
            store.read_verified(key, object_id)
            continue
        except NotFoundError:
            pass
        except IntegrityError:
            store.delete(key)
        store.put_object(key, staging.get(object_id))


def _landed(store: Store, key: str, data: bytes) -> bool:
    try:
        return store.read(key) == data
    except (NotFoundError, StorageError):
        return False


def commit_version(
    store: Store,
    dataset: str,
    draft: Manifest,
    *,
    message: str,
    meta: tuple[tuple[str, str], ...],
    before_entry: Callable[[], None] | None = None,
) -> Committed:
    """Write the manifest, then create the next version entry; retry on a lost race."""
    catalog = Catalog(store)
    head = catalog.head(dataset)
    written = 0
    for attempt in range(COMMIT_ATTEMPTS):
        version = head.version + 1 if head else 1
        manifest = dataclasses.replace(
            draft,
            version=version,
            parent=head.manifest if head else None,
            created=utc_now(),
            message=message,
            meta=meta,
        )
        body = manifest.encode()
        manifest_id = hash_bytes(body)
        if store.put_object(manifest_key(manifest_id), body):
            written += len(body)
        entry = VersionEntry(
            dataset, version, manifest_id, manifest.created, manifest.rows, message
        )
        crash_point("snapshot.after_manifest_written")
        crash_point("snapshot.before_version_entry")
        if before_entry is not None:
            before_entry()
        try:
            # Writing the version entry create-only *is* the commit.
            store.create(version_key(dataset, version), entry.encode())
        except AlreadyExistsError:
            head = catalog.head(dataset)
            time.sleep(min(0.5, 0.005 * (attempt + 1)))
            continue
        except StorageError:
            # Unknown outcome (e.g. a lost acknowledgement): if our entry is
            # there, the commit landed; never commit twice, never clean up.
            if not _landed(store, version_key(dataset, version), entry.encode()):
                raise
        crash_point("snapshot.after_version_entry")
        return Committed(manifest, manifest_id, written)
    raise StorageError(
        f"could not commit {dataset} after {COMMIT_ATTEMPTS} attempts (too many concurrent writers)"
    )


def create_tag(store: Store, dataset: str, version: int, manifest_id: str, tag: str) -> TagEntry:
    """Create an immutable tag on ``dataset@v{version}``; UsageError if the tag exists."""
    check_name(tag, "tag")
    store.check_create_only()
    entry = TagEntry(dataset, tag, version, manifest_id, utc_now())
    try:
        store.create(tag_key(dataset, tag), entry.encode())
    except AlreadyExistsError:
        existing = TagEntry.from_dict(parse_json(store.read(tag_key(dataset, tag)), "tag"))
        raise UsageError(
            f"tag '{tag}' already exists on {dataset}@v{existing.version}; tags are immutable"
        ) from None
    return entry
