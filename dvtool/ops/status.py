"""status: what needs a snapshot, and how big the repository is.

For every dataset: its latest version and tags, the SOURCE the version was
snapshotted from (as recorded in its manifest, with the read options), and
whether that SOURCE changed since (:mod:`dvtool.ingest.sourcestate`: stat
first, content hash only when the stat changed; remote files by ETag, size
and modification time). Then the bytes of the chunk objects referenced by the
latest versions, by all versions and tags that gc keeps, and stored but
referenced by none (what ``gc`` frees once its grace period has passed).
Sizes are the stored objects' sizes as the store lists them, so they add up to
what ``du --apparent-size`` says of ``objects/``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from dvtool.catalog import Catalog
from dvtool.errors import DvtoolError, StorageError
from dvtool.format.layout import OBJECT_KEY_RE, check_name
from dvtool.format.models import Manifest, SourceRecord
from dvtool.ingest.readoptions import ReadOptions
from dvtool.ingest.sourcestate import SourceCheck, check_source
from dvtool.storage import Store, redact_url

__all__ = ["DatasetStatus", "RepoSizes", "RepoStatus", "status"]


@dataclass(frozen=True, slots=True)
class DatasetStatus:
    """One dataset: its latest version, and its recorded SOURCE with what changed since."""

    dataset: str
    version: int
    id: str
    rows: int
    tags: tuple[str, ...]  # tags on the latest version
    source: SourceRecord | None
    check: SourceCheck | None  # None when no SOURCE is recorded, or sources were not checked

    @property
    def state(self) -> str:
        """unchanged, changed, missing, unknown, or 'no source' (in-memory data, stdin, older dvtool)."""
        if self.source is None:
            return "no source"
        return self.check.state if self.check is not None else "not checked"

    @property
    def read_options(self) -> ReadOptions | None:
        return ReadOptions.from_dict(self.source.read) if self.source is not None else None

    def to_json(self) -> dict[str, Any]:
        src = None
        if self.source is not None:
            src = {
                "args": list(self.source.args),
                "format": self.source.format,
                "read_options": self.source.read,
                "files": len(self.source.files),
            }
        return {
            "dataset": self.dataset,
            "version": self.version,
            "id": self.id,
            "rows": self.rows,
            "tags": list(self.tags),
            "source": src,
            "state": self.state,
            "details": list(self.check.details) if self.check is not None else [],
        }


@dataclass(frozen=True, slots=True)
class RepoSizes:
    """Bytes and counts of stored chunk objects: referenced by the latest versions, by any kept
    version or tag, and by none (unreferenced)."""

    latest_bytes: int
    latest_chunks: int
    all_bytes: int
    all_chunks: int
    unreferenced_bytes: int
    unreferenced_chunks: int
    missing_chunks: int  # referenced but not in the store (see 'dvtool fsck')

    def to_json(self) -> dict[str, int]:
        return {
            "latest_bytes": self.latest_bytes,
            "latest_chunks": self.latest_chunks,
            "all_bytes": self.all_bytes,
            "all_chunks": self.all_chunks,
            "unreferenced_bytes": self.unreferenced_bytes,
            "unreferenced_chunks": self.unreferenced_chunks,
            "missing_chunks": self.missing_chunks,
        }


@dataclass(frozen=True, slots=True)
class RepoStatus:
    url: str
    datasets: tuple[DatasetStatus, ...]
    sizes: RepoSizes

    @property
    def changed(self) -> tuple[DatasetStatus, ...]:
        """Datasets whose recorded SOURCE changed or is gone."""
        return tuple(d for d in self.datasets if d.state in ("changed", "missing"))

    def to_json(self) -> dict[str, Any]:
        return {
            "repository": self.url,
            "datasets": [d.to_json() for d in self.datasets],
            "changed": [d.dataset for d in self.changed],
            "sizes": self.sizes.to_json(),
        }


def _object_id(key: str) -> str:
    parts = key.split("/")
    return f"xxh128:{parts[1]}{parts[2].split('.', 1)[0]}"


def _sizes(store: Store, catalog: Catalog, heads: Sequence[Manifest]) -> RepoSizes:
    stored: dict[str, int] = {}
    for entry in store.scan("objects"):
        if OBJECT_KEY_RE.match(entry.key):
            stored[_object_id(entry.key)] = entry.size
    latest = {c.object for m in heads for c in m.stored_objects()}  # base chunks and patches
    kept: set[str] = set()
    for manifest_id, ref in catalog.roots().live_manifests().items():
        try:
            manifest = catalog.manifest(manifest_id)
        except DvtoolError as exc:
            raise StorageError(
                f"cannot read the manifest of {ref} ({exc}); run 'dvtool fsck'"
            ) from None
        kept.update(c.object for c in manifest.stored_objects())
    unreferenced = set(stored) - kept
    return RepoSizes(
        latest_bytes=sum(stored.get(o, 0) for o in latest),
        latest_chunks=len(latest),
        all_bytes=sum(stored.get(o, 0) for o in kept),
        all_chunks=len(kept),
        unreferenced_bytes=sum(stored[o] for o in unreferenced),
        unreferenced_chunks=len(unreferenced),
        missing_chunks=len(kept - set(stored)),
    )


def status(
    store: Store,
    *,
    datasets: Sequence[str] | None = None,
    check_sources: bool = True,
    storage_options: Mapping[str, str] | None = None,
) -> RepoStatus:
    """The status of ``datasets`` (default: all); ``check_sources=False`` skips looking at the SOURCEs."""
    catalog = Catalog(store)
    names = catalog.dataset_names()
    if datasets:
        for name in datasets:
            check_name(name)
            if name not in names:
                raise catalog.unknown_dataset(name)
        names = [n for n in names if n in set(datasets)]
    out: list[DatasetStatus] = []
    heads: list[Manifest] = []
    for name in catalog.dataset_names():
        head = catalog.head(name)
        if head is None:
            continue
        manifest = catalog.manifest_of(head)
        heads.append(manifest)
        if name not in names:
            continue
        tags = tuple(sorted(t.tag for t in catalog.tags(name) if t.version == head.version))
        check = None
        if manifest.source is not None and check_sources:
            check = check_source(manifest.source, storage_options or {})
        out.append(
            DatasetStatus(
                name, head.version, head.manifest, manifest.rows, tags, manifest.source, check
            )
        )
    return RepoStatus(redact_url(store.url), tuple(out), _sizes(store, catalog, heads))
