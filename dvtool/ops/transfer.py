"""Copy datasets between two repositories (push and pull), resumably.

A transfer first *plans*: it reads both sides' version lists, checks that the
target's history is a prefix of the source's (else "diverged", and nothing is
written), reads and verifies the manifests to copy and asks the target which
chunks it already has. Then it *copies*, version by version in ascending
order: the version's missing chunks, then its manifest, then its version
entry; tags come last. Every write is create-only and the version entry is
the commit, so a transfer stopped at any point leaves the target a consistent
repository (a prefix of the source's history plus, at most, unreferenced
chunks), and running it again resumes where it stopped.

Bytes are verified on the way: every object read from the source is re-hashed
against its id before the same buffer is written to the target, so a damaged
source object is never propagated.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from dvtool.catalog import Catalog, checked_manifest_key, checked_object_key
from dvtool.crashpoints import crash_point
from dvtool.errors import AlreadyExistsError, IntegrityError, NotFoundError, UsageError
from dvtool.format.hashing import hash_bytes
from dvtool.format.layout import (
    check_name,
    pruned_key,
    tag_key,
    version_key,
)
from dvtool.format.models import TagEntry, parse_json
from dvtool.storage import Store, redact_url

__all__ = ["DatasetTransfer", "Progress", "TransferSummary", "transfer"]


Progress = Callable[[int, int], None]
"""Called with (bytes copied so far, bytes to copy in total) after each object."""


@dataclass(frozen=True, slots=True)
class DatasetTransfer:
    """What a transfer did for one dataset."""

    dataset: str
    versions: tuple[int, ...]  # version numbers copied, ascending
    tags: tuple[str, ...]  # tags copied
    head: int  # the source's latest version (now also the target's)

    def to_dict(self) -> dict[str, Any]:
        return {
            "dataset": self.dataset,
            "versions": list(self.versions),
            "tags": list(self.tags),
            "head": self.head,
        }


@dataclass(frozen=True, slots=True)
class TransferSummary:
    """What a push or pull copied. ``bytes`` counts every byte written to the target."""

    source: str
    target: str
    datasets: tuple[DatasetTransfer, ...]
    objects: int  # chunk objects copied
    objects_present: int  # distinct chunks of the copied versions the target already had
    object_bytes: int  # bytes of the chunk objects copied
    manifests: int  # manifests copied
    bytes: int  # all bytes written: chunks, manifests, version entries, tags

    @property
    def up_to_date(self) -> bool:
        return self.bytes == 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "target": self.target,
            "datasets": [d.to_dict() for d in self.datasets],
            "objects": self.objects,
            "objects_present": self.objects_present,
            "object_bytes": self.object_bytes,
            "manifests": self.manifests,
            "bytes": self.bytes,
        }


# -- plan -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _VersionCopy:
    version: int
    entry: bytes  # the version entry's bytes, copied as they are
    manifest_id: str
    manifest: bytes  # verified manifest bytes
    chunks: tuple[tuple[str, int], ...]  # (object id, size) of chunks the target lacks
    pruned: bytes | None = None  # the source's prune marker: its chunks may be gone (gc)


@dataclass(frozen=True, slots=True)
class _TagCopy:
    tag: str
    data: bytes


@dataclass(frozen=True, slots=True)
class _DatasetPlan:
    dataset: str
    head: int
    versions: tuple[_VersionCopy, ...]
    tags: tuple[_TagCopy, ...]
    present: frozenset[str]  # chunks of copied versions that the target already had


def _check_prefix(
    source: Store, target: Store, name: str, src: dict[int, str], tgt: dict[int, str]
) -> None:
    """The target's history must be a prefix of the source's; else UsageError("diverged")."""
    if not tgt:
        return
    src_head, tgt_head = max(src), max(tgt)
    if tgt_head > src_head:
        raise _diverged(
            name,
            src_head + 1,
            f"the target has v{tgt_head} but the source ends at v{src_head}",
        )
    # Manifests name their parent manifest, so equal heads mean equal histories;
    # only on a mismatch walk the versions to name the first difference.
    if tgt_head in src:
        mine = Catalog(source).entry_bytes(name, tgt_head)[1].manifest
        if mine == Catalog(target).entry_bytes(name, tgt_head)[1].manifest:
            return
    for version in sorted(tgt):
        if version not in src:
            continue  # pruned on the source side
        mine = Catalog(source).entry_bytes(name, version)[1].manifest
        theirs = Catalog(target).entry_bytes(name, version)[1].manifest
        if mine != theirs:
            raise _diverged(
                name,
                version,
                f"v{version} is {_short(mine)} in the source and {_short(theirs)} in the target",
            )


def _diverged(name: str, version: int, detail: str) -> UsageError:
    return UsageError(
        f"{name}: the histories have diverged at v{version} ({detail}); the target's "
        "history must be a prefix of the source's"
    )


def _short(object_id: str) -> str:
    return object_id.split(":", 1)[-1][:12]


def _plan_dataset(source: Store, target: Store, name: str) -> _DatasetPlan:
    check_name(name)
    src = Catalog(source).version_keys(name)
    if not src:
        raise NotFoundError(f"dataset {name!r} not found in {redact_url(source.url)}")
    tgt = Catalog(target).version_keys(name)
    _check_prefix(source, target, name, src, tgt)
    tgt_head = max(tgt) if tgt else 0

    # Chunks the target is known to hold: those of its head version. Any other
    # chunk costs one existence check, never a listing of every object.
    known: set[str] = set()
    if tgt_head:
        head_entry = Catalog(target).entry_bytes(name, tgt_head)[1]
        known.update(
            c.object
            for c in Catalog(target).manifest_bytes(head_entry.manifest)[1].stored_objects()
        )

    copies: list[_VersionCopy] = []
    present: set[str] = set()  # chunks the target already has
    scheduled: set[str] = set()  # chunks an earlier version of this plan copies
    # A pruned (and untagged) version travels as history only: entry, manifest and
    # prune marker; its chunks may already have been removed by gc.
    markers = {v: pruned_key(name, v) for v in Catalog(source).pruned(name)}
    tagged = {t.version for t in Catalog(source).tags(name)}
    for version in sorted(v for v in src if v > tgt_head):
        entry_bytes, entry = Catalog(source).entry_bytes(name, version)
        manifest_bytes, manifest = Catalog(source).manifest_bytes(entry.manifest)
        if manifest.dataset != name or manifest.version != version:
            raise IntegrityError(
                f"manifest {entry.manifest} describes {manifest.dataset}@v{manifest.version}, "
                f"not {name}@v{version}"
            )
        missing: list[tuple[str, int]] = []
        marker = (
            source.read(markers[version]) if version in markers and version not in tagged else None
        )
        # A patched version needs its patch objects as well as its base chunks.
        for chunk in manifest.stored_objects() if marker is None else ():
            # Count each chunk once, and as "already there" only if the target had it.
            if chunk.object in scheduled or chunk.object in present:
                continue
            if chunk.object in known or target.exists(checked_object_key(chunk.object)):
                present.add(chunk.object)
            else:
                scheduled.add(chunk.object)
                missing.append((chunk.object, chunk.bytes))
        copies.append(
            _VersionCopy(
                version, entry_bytes, entry.manifest, manifest_bytes, tuple(missing), marker
            )
        )

    tags: list[_TagCopy] = []
    target_tags = set(Catalog(target).tag_keys(name))
    for tag, key in sorted(Catalog(source).tag_keys(name).items()):
        data = source.read(key)
        tag_entry = TagEntry.from_dict(parse_json(data, f"{key} in {redact_url(source.url)}"))
        if tag_entry.dataset != name or tag_entry.tag != tag:
            raise IntegrityError(f"{key} in {redact_url(source.url)} describes another tag")
        if tag not in target_tags:
            tags.append(_TagCopy(tag, data))
        elif target.read(Catalog(target).tag_keys(name)[tag]) != data:
            raise UsageError(
                f"{name}: the histories have diverged: tag {tag!r} names different "
                "versions in the source and the target"
            )
    return _DatasetPlan(name, max(src), tuple(copies), tuple(tags), frozenset(present))


# -- copy -----------------------------------------------------------------------------


class _Copier:
    def __init__(self, source: Store, target: Store, total: int, progress: Progress | None):
        self.source = source
        self.target = target
        self.total = total
        self.progress = progress
        self.done = 0  # bytes copied or found present (for progress)
        self.written = 0  # bytes actually written to the target

    def advance(self, size: int, *, written: bool) -> None:
        self.done += size
        if written:
            self.written += size
        if self.progress is not None:
            self.progress(self.done, self.total)

    def chunk(self, object_id: str, size: int) -> bool:
        data = self.source.read_verified(checked_object_key(object_id), object_id)
        if len(data) != size:
            raise IntegrityError(
                f"object {object_id} has {len(data)} bytes, its manifest says {size}"
            )
        created = self.target.put_object(checked_object_key(object_id), data)
        self.advance(size, written=created)
        return created

    def manifest(self, manifest_id: str, data: bytes) -> bool:
        # ``data`` was read with read_verified; re-check the buffer we send.
        if hash_bytes(data) != manifest_id:
            raise IntegrityError(f"manifest {manifest_id} changed in memory")
        created = self.target.put_object(checked_manifest_key(manifest_id), data)
        self.advance(len(data), written=created)
        return created

    def immutable(self, key: str, data: bytes, name: str, what: str) -> None:
        """Create a version entry or tag; an identical one already there is fine."""
        try:
            self.target.create(key, data)
        except AlreadyExistsError:
            if self.target.read(key) != data:
                raise UsageError(
                    f"{name}: the histories have diverged: the target got a different "
                    f"{what} while copying; run the command again to see where"
                ) from None
            self.advance(len(data), written=False)
            return
        self.advance(len(data), written=True)


def transfer(
    source: Store,
    target: Store,
    names: Iterable[str],
    *,
    progress: Progress | None = None,
) -> TransferSummary:
    """Copy the histories of datasets ``names`` from ``source`` to ``target``.

    Raises UsageError ("diverged") before writing anything when the target's
    history of any dataset is not a prefix of the source's, NotFoundError for a
    dataset the source lacks, StorageError when the target does not honour
    create-only writes, and IntegrityError for a damaged source object.
    """
    wanted: Sequence[str] = list(dict.fromkeys(names))
    if not wanted:
        raise UsageError("name at least one dataset to copy")
    plans = [_plan_dataset(source, target, name) for name in wanted]

    total = sum(
        sum(size for _, size in v.chunks) + len(v.manifest) + len(v.entry)
        for p in plans
        for v in p.versions
    ) + sum(len(t.data) for p in plans for t in p.tags)
    if total:
        target.check_create_only()
    copier = _Copier(source, target, total, progress)
    if progress is not None:
        progress(0, total)

    objects = object_bytes = manifests = 0
    results: list[DatasetTransfer] = []
    present: set[str] = set().union(*(p.present for p in plans))
    copied: set[str] = set()  # a chunk shared by two datasets travels once
    for plan in plans:
        for version in plan.versions:
            for object_id, size in version.chunks:
                if object_id in copied:
                    continue
                copied.add(object_id)
                if copier.chunk(object_id, size):
                    objects += 1
                    object_bytes += size
                else:
                    present.add(object_id)
            crash_point("transfer.after_objects")
            if copier.manifest(version.manifest_id, version.manifest):
                manifests += 1
            if version.pruned is not None:
                # Before the entry, so the target never has the version without its marker.
                copier.immutable(
                    pruned_key(plan.dataset, version.version),
                    version.pruned,
                    plan.dataset,
                    "prune marker",
                )
            crash_point("transfer.before_version_entry")
            # Writing the version entry is the commit: only after its chunks and manifest.
            copier.immutable(
                version_key(plan.dataset, version.version),
                version.entry,
                plan.dataset,
                f"v{version.version}",
            )
            crash_point("transfer.after_version_entry")
        for tag in plan.tags:
            copier.immutable(
                tag_key(plan.dataset, tag.tag),
                tag.data,
                plan.dataset,
                f"tag {tag.tag!r}",
            )
        results.append(
            DatasetTransfer(
                dataset=plan.dataset,
                versions=tuple(v.version for v in plan.versions),
                tags=tuple(t.tag for t in plan.tags),
                head=plan.head,
            )
        )
    return TransferSummary(
        source=redact_url(source.url),
        target=redact_url(target.url),
        datasets=tuple(results),
        objects=objects,
        objects_present=len(present),
        object_bytes=object_bytes,
        manifests=manifests,
        bytes=copier.written,
    )
