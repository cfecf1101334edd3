"""gc: delete unreferenced objects, manifests, verdicts and temp leftovers past a grace period.

gc marks from every non-pruned version and every tag (the catalog's roots),
measures age on the store's clock, is a dry run unless asked, runs one at a
time (a create-only lock with an expiry), and aborts without deleting
anything when a root cannot be read.

Why a grace period: a writer stores its chunks and manifest *before* the
version entry that makes them reachable, so a young unreferenced object may
belong to a commit in flight (docs/guarantees.md).
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from dvtool.catalog import Catalog, Roots
from dvtool.crashpoints import crash_point
from dvtool.errors import (
    AlreadyExistsError,
    ConflictError,
    DvtoolError,
    StorageError,
    UsageError,
)
from dvtool.format.layout import (
    MANIFEST_KEY_RE,
    OBJECT_KEY_RE,
    VERDICT_KEY_RE,
    manifest_key,
)
from dvtool.format.models import (
    Manifest,
    canonical_json,
    parse_json,
)
from dvtool.ops.durations import (
    DEFAULT_GRACE,
    format_duration,
    iso_time,
    parse_time,
)
from dvtool.storage import Store, is_temp, redact_url

__all__ = ["GcItem", "GcResult", "gc"]

LOCK_KEY = "locks/gc.json"
LOCK_TTL = timedelta(hours=1)


@dataclass(frozen=True, slots=True)
class GcItem:
    kind: str  # object, manifest, verdict, temp
    key: str
    size: int
    modified: str

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "key": self.key, "size": self.size, "modified": self.modified}


@dataclass(frozen=True, slots=True)
class GcResult:
    """What :func:`gc` found (dry run) or deleted."""

    url: str
    dry_run: bool
    grace: timedelta
    now: datetime
    items: tuple[GcItem, ...]
    young: int  # unreferenced but inside the grace period: kept
    deleted: int

    @property
    def bytes(self) -> int:
        return sum(i.size for i in self.items)

    def to_json(self) -> dict[str, Any]:
        return {
            "repository": self.url,
            "dry_run": self.dry_run,
            "grace": format_duration(self.grace),
            "store_time": iso_time(self.now),
            "candidates": [i.to_json() for i in self.items],
            "bytes": self.bytes,
            "young_kept": self.young,
            "deleted": self.deleted,
        }

    def to_text(self) -> str:
        counts: dict[str, int] = {}
        for i in self.items:
            counts[i.kind] = counts.get(i.kind, 0) + 1
        what = ", ".join(f"{n} {k}{'s' * (n != 1)}" for k, n in sorted(counts.items())) or "nothing"
        lines = [
            f"{i.kind:<8} {i.key}  {i.size:,} bytes  {i.modified[:19].replace('T', ' ')}"
            for i in self.items
        ]
        grace = format_duration(self.grace)
        if self.dry_run:
            lines.append(
                f"would delete {what} ({self.bytes:,} bytes) unreferenced for more than {grace}; "
                "run with --yes to delete"
            )
        else:
            lines.append(
                f"deleted {what} ({self.bytes:,} bytes) unreferenced for more than {grace}"
            )
        if self.young:
            lines.append(
                f"kept {self.young} unreferenced key(s) younger than {grace} (maybe a commit in progress)"
            )
        return "\n".join(lines)


def _classify(key: str) -> str | None:
    if is_temp(key):
        return "temp"
    if OBJECT_KEY_RE.match(key):
        return "object"
    if MANIFEST_KEY_RE.match(key):
        return "manifest"
    if VERDICT_KEY_RE.match(key):
        return "verdict"
    return None


def _object_id_of(key: str) -> str:
    parts = key.split("/")
    return f"xxh128:{parts[1]}{parts[2].split('.', 1)[0]}"


@dataclass(slots=True)
class _Marks:
    manifests: set[str] = field(default_factory=set)
    objects: set[str] = field(default_factory=set)
    fingerprints: set[str] = field(default_factory=set)
    seen_roots: set[str] = field(default_factory=set)

    def add(self, store: Store, roots: Roots) -> None:
        """Mark what ``roots`` reference; a manifest that cannot be read aborts gc.

        So does a root that points at a manifest of another version (a damaged
        version entry or tag): the manifest it should point at is unreferenced
        only by that damage, and sweeping it would delete real data.
        """
        claims = _claims(roots)
        self.manifests |= roots.all_manifests()
        for manifest_id, ref in roots.live_manifests().items():
            try:
                raw = store.read_verified(manifest_key(manifest_id), manifest_id)
                manifest = Manifest.from_dict(parse_json(raw, f"manifest {manifest_id}"))
            except DvtoolError as exc:
                raise StorageError(
                    f"gc aborted, nothing was deleted: cannot read the manifest of {ref} ({exc}); "
                    "run 'dvtool fsck'"
                ) from None
            for name, version in sorted(claims.get(manifest_id, ())):
                if (name, version) != (manifest.dataset, manifest.version):
                    raise StorageError(
                        f"gc aborted, nothing was deleted: {name}@v{version} points at the manifest of "
                        f"{manifest.dataset}@v{manifest.version} ({manifest_id}); run 'dvtool fsck'"
                    )
            # A snapshot's verdict of its checks over all rows is keyed by its rows' fingerprint.
            self.fingerprints.add(manifest.fingerprint)
            # A patched version's patch objects are roots like its base chunks.
            self.objects.update(o.object for o in manifest.stored_objects())
            self.fingerprints.update(c.fingerprint for c in manifest.chunks)
            if manifest.patch is not None:
                self.fingerprints.update(r.logical.fingerprint for r in manifest.patch.ranges)
        self.seen_roots |= roots.keys

    def referenced(self, kind: str, key: str) -> bool:
        if kind == "object":
            return _object_id_of(key) in self.objects
        if kind == "manifest":
            return _object_id_of(key) in self.manifests
        if kind == "verdict":
            return f"xxh128:{key.rsplit('/', 1)[-1].removesuffix('.json')}" in self.fingerprints
        return False


def _claims(roots: Roots) -> dict[str, set[tuple[str, int]]]:
    """Manifest id → the versions whose entries (or tags) say it is theirs; inconsistent roots abort gc."""
    claims: dict[str, set[tuple[str, int]]] = {}
    for (name, version), entry in roots.versions.items():
        if (entry.dataset, entry.version) != (name, version):
            raise StorageError(
                f"gc aborted, nothing was deleted: the version entry of {name}@v{version} describes "
                f"{entry.dataset}@v{entry.version}; run 'dvtool fsck'"
            )
        claims.setdefault(entry.manifest, set()).add((name, version))
    for (name, tag), tag_entry in roots.tags.items():
        claims.setdefault(tag_entry.manifest, set()).add((name, tag_entry.version))
        tagged = roots.versions.get((name, tag_entry.version))
        if tagged is not None and tagged.manifest != tag_entry.manifest:
            raise StorageError(
                f"gc aborted, nothing was deleted: tag {name}@{tag} and the version entry of "
                f"{name}@v{tag_entry.version} point at different manifests; run 'dvtool fsck'"
            )
    return claims


def _read_all_roots(store: Store) -> Roots:
    try:
        return Catalog(store).roots()
    except DvtoolError as exc:
        raise StorageError(
            f"gc aborted, nothing was deleted: cannot read the repository's history ({exc})"
        ) from None


@contextlib.contextmanager
def _gc_lock(store: Store, now: datetime, ttl: timedelta) -> Iterator[None]:
    """One gc at a time: a create-only lock key, taken over only after it expired."""
    token = uuid.uuid4().hex
    body = canonical_json(
        {
            "kind": "gc-lock",
            "token": token,
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "started": iso_time(now),
            "expires": iso_time(now + ttl),
        }
    )
    try:
        store.create(LOCK_KEY, body)
    except AlreadyExistsError:
        held = store.read(LOCK_KEY)
        try:
            info = json.loads(held)
            expires = parse_time(str(info.get("expires", "")))
        except (ValueError, AttributeError):
            info, expires = {}, None
        if expires is not None and expires > now:
            raise ConflictError(
                f"another gc is running (pid {info.get('pid')} on {info.get('host')}, since "
                f"{info.get('started')}); its lock {LOCK_KEY} expires at {info.get('expires')}"
            ) from None
        # Expired: the holder crashed. Remove that exact lock, then race for a new one.
        if store.read(LOCK_KEY) == held:
            store.delete(LOCK_KEY)
        try:
            store.create(LOCK_KEY, body)
        except AlreadyExistsError:
            raise ConflictError(
                f"another gc took over the expired lock {LOCK_KEY} just now"
            ) from None
    try:
        yield
    finally:
        with contextlib.suppress(DvtoolError):
            if store.read(LOCK_KEY) == body:
                store.delete(LOCK_KEY)


def gc(
    store: Store,
    *,
    older_than: timedelta = DEFAULT_GRACE,
    allow_short_grace: bool = False,
    dry_run: bool = True,
    lock_ttl: timedelta = LOCK_TTL,
) -> GcResult:
    """Delete (or, by default, list) unreferenced keys older than ``older_than`` on the store's clock."""
    if older_than < DEFAULT_GRACE and not allow_short_grace:
        raise UsageError(
            f"a grace period shorter than {format_duration(DEFAULT_GRACE)} can delete the chunks of a "
            "snapshot that is being committed right now; add --allow-short-grace if no one is writing"
        )
    now = store.now()
    cutoff = now - older_than
    lock = contextlib.nullcontext() if dry_run else _gc_lock(store, now, lock_ttl)
    with lock:
        marks = _Marks()
        marks.add(store, _read_all_roots(store))
        crash_point("gc.after_mark")
        candidates: list[GcItem] = []
        young = 0
        for entry in store.scan(""):
            kind = _classify(entry.key)
            if kind is None or marks.referenced(kind, entry.key):
                continue
            if entry.modified is None or entry.modified >= cutoff:
                young += 1
                continue
            candidates.append(GcItem(kind, entry.key, entry.size, iso_time(entry.modified)))
        # Mark again just before sweeping: a commit that landed while we listed
        # makes its (older, deduplicated) chunks referenced again.
        again = _read_all_roots(store)
        if again.keys - marks.seen_roots:
            marks.add(store, again)
            candidates = [c for c in candidates if not marks.referenced(c.kind, c.key)]
        order = {"manifest": 0, "object": 1, "verdict": 2, "temp": 3}
        candidates.sort(key=lambda c: (order[c.kind], c.key))
        deleted = 0
        if not dry_run:
            for item in candidates:
                store.delete(item.key)
                deleted += 1
                if deleted == 1:
                    crash_point("gc.mid_sweep")
    return GcResult(
        redact_url(store.url), dry_run, older_than, now, tuple(candidates), young, deleted
    )
