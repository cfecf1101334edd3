"""Keeping a repository healthy: fsck (integrity), prune (retention) and gc (space).

* :func:`fsck` re-hashes every object and manifest and walks every version
  entry and tag down to its chunks. Damage (corrupt, missing, invalid) is
  reported by id and key; unreferenced leftovers are "dangling", not damage.
* :func:`prune` expires old versions by writing create-only markers
  ``datasets/NAME/pruned/<20-digit version>.json``. Version entries stay, so
  versions stay gap-free and ``log`` still shows what was there; tagged
  versions and the latest version are never pruned.
* :func:`gc` marks from every non-pruned version and every tag, and deletes
  only unreferenced objects, manifests, verdicts and temp leftovers older than
  the grace period, measured on the store's clock. It is a dry run unless
  asked, one gc runs at a time (a create-only lock with an expiry), and it
  aborts without deleting anything when a root cannot be read.

Why a grace period: a writer stores its chunks and manifest *before* the
version entry that makes them reachable, so a young unreferenced object may
belong to a commit in flight (research/reliability.md §3).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import socket
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from .crashpoints import crash_point
from .errors import (
    AlreadyExistsError,
    ConflictError,
    DvtoolError,
    NotFoundError,
    StorageError,
    UsageError,
)
from .hashing import hash_bytes, is_object_id
from .layout import check_name, manifest_key, object_key, pruned_key, tag_key, version_key
from .models import FORMAT_VERSION, Manifest, TagEntry, VersionEntry, canonical_json, parse_json
from .storage import TEMP_PREFIX, Store, StoreEntry, redact_url

__all__ = [
    "DEFAULT_GRACE",
    "FsckResult",
    "GcItem",
    "GcResult",
    "Problem",
    "PruneResult",
    "fsck",
    "gc",
    "parse_duration",
    "prune",
]

DEFAULT_GRACE = timedelta(days=7)
LOCK_KEY = "locks/gc.json"
LOCK_TTL = timedelta(hours=1)

_OBJECT_RE = re.compile(r"^objects/([0-9a-f]{2})/([0-9a-f]{30})\.parquet$")
_MANIFEST_RE = re.compile(r"^manifests/([0-9a-f]{2})/([0-9a-f]{30})\.json$")
_VERDICT_RE = re.compile(r"^validation/[0-9a-f]{32}/([0-9a-f]{32})\.json$")
_DATASET_RE = re.compile(r"^datasets/([^/]+)/(versions|tags|pruned)/([^/]+)\.json$")
_DURATION_RE = re.compile(r"(\d+)\s*([smhdw])")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def parse_duration(text: str) -> timedelta:
    """``7d``, ``12h``, ``30m``, ``45s``, ``2w`` or a sum like ``1d12h`` → timedelta."""
    cleaned = text.strip().lower()
    parts = _DURATION_RE.findall(cleaned)
    if not cleaned or not parts or _DURATION_RE.sub("", cleaned).strip():
        raise UsageError(f"invalid duration {text!r}: use a number and a unit, like 7d, 12h, 30m or 45s")
    return timedelta(seconds=sum(int(n) * _UNITS[u] for n, u in parts))


def format_duration(delta: timedelta) -> str:
    seconds = int(delta.total_seconds())
    for unit, size in (("d", _UNITS["d"]), ("h", 3600), ("m", 60)):
        if seconds and seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def _is_temp(key: str) -> bool:
    return key.rsplit("/", 1)[-1].startswith(TEMP_PREFIX)


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _parse_time(text: str) -> datetime | None:
    with contextlib.suppress(ValueError):
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    return None


# -- reading the roots ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Roots:
    """Every version entry, tag and prune marker, read and parsed."""

    versions: dict[tuple[str, int], VersionEntry]
    tags: dict[tuple[str, str], TagEntry]
    pruned: frozenset[tuple[str, int]]
    keys: frozenset[str]

    def live_manifests(self) -> dict[str, str]:
        """Manifest id → the first ref that needs its chunks (non-pruned versions and tags)."""
        out: dict[str, str] = {}
        for (name, version), entry in sorted(self.versions.items()):
            if (name, version) not in self.pruned:
                out.setdefault(entry.manifest, f"{name}@v{version}")
        for (name, tag), tag_entry in sorted(self.tags.items()):
            out.setdefault(tag_entry.manifest, f"{name}@{tag}")
        return out

    def all_manifests(self) -> set[str]:
        return {e.manifest for e in self.versions.values()} | {t.manifest for t in self.tags.values()}


def _read_roots(store: Store, entries: Iterable[StoreEntry] | None = None) -> _Roots:
    """Read every root; any failure propagates (gc must not guess what is referenced)."""
    keys = [e.key for e in entries] if entries is not None else store.list("datasets")
    versions: dict[tuple[str, int], VersionEntry] = {}
    tags: dict[tuple[str, str], TagEntry] = {}
    pruned: set[tuple[str, int]] = set()
    seen: set[str] = set()
    for key in keys:
        match = _DATASET_RE.match(key)
        if match is None or _is_temp(key):
            continue
        name, kind, stem = match.groups()
        seen.add(key)
        raw = store.read(key)
        what = f"{key} in {redact_url(store.url)}"
        if kind == "versions" and stem.isdigit():
            entry = VersionEntry.from_dict(parse_json(raw, what))
            versions[(name, int(stem))] = entry
        elif kind == "tags":
            tags[(name, stem)] = TagEntry.from_dict(parse_json(raw, what))
        elif kind == "pruned" and stem.isdigit():
            parse_json(raw, what)
            pruned.add((name, int(stem)))
    return _Roots(versions, tags, frozenset(pruned), frozenset(seen))


# -- fsck -------------------------------------------------------------------------------------


ProblemKind = Literal["corrupt", "missing", "invalid", "unreadable"]


@dataclass(frozen=True, slots=True)
class Problem:
    """One piece of damage: what kind, which key, which id, and which refs it hurts."""

    kind: ProblemKind
    key: str
    id: str | None
    detail: str
    refs: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "key": self.key, "id": self.id, "detail": self.detail, "refs": list(self.refs)}


@dataclass(frozen=True, slots=True)
class Leftover:
    """An unreferenced object, manifest or verdict, or a temp file: gc's business, not damage."""

    kind: str
    key: str
    size: int

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "key": self.key, "size": self.size}


@dataclass(frozen=True, slots=True)
class FsckResult:
    """The outcome of :func:`fsck`. ``ok`` is False when anything is damaged."""

    url: str
    objects: int
    manifests: int
    versions: int
    tags: int
    pruned: int
    problems: tuple[Problem, ...]
    dangling: tuple[Leftover, ...] = ()

    @property
    def ok(self) -> bool:
        return not self.problems

    def to_json(self) -> dict[str, Any]:
        counts: dict[str, int] = {}
        for p in self.problems:
            counts[p.kind] = counts.get(p.kind, 0) + 1
        return {
            "ok": self.ok,
            "repository": self.url,
            "checked": {
                "objects": self.objects,
                "manifests": self.manifests,
                "versions": self.versions,
                "tags": self.tags,
                "pruned": self.pruned,
            },
            "problems": [p.to_json() for p in self.problems],
            "counts": {k: counts.get(k, 0) for k in ("corrupt", "missing", "invalid", "unreadable")},
            "dangling": [d.to_json() for d in self.dangling],
        }

    def to_text(self) -> str:
        lines = [
            f"checked {self.objects} objects, {self.manifests} manifests, {self.versions} versions "
            f"({self.pruned} pruned), {self.tags} tags in {self.url}"
        ]
        for p in self.problems:
            used = f" (used by {', '.join(p.refs[:5])}{', …' if len(p.refs) > 5 else ''})" if p.refs else ""
            lines.append(f"{p.kind:<8} {p.key}: {p.detail}{used}")
        if self.dangling:
            size = sum(d.size for d in self.dangling)
            lines.append(
                f"{len(self.dangling)} dangling (unreferenced) keys, {size:,} bytes: "
                "'dvtool gc' removes them after the grace period"
            )
        if self.ok:
            lines.append("no damage found")
        else:
            counts = self.to_json()["counts"]
            shown = ", ".join(f"{n} {k}" for k, n in counts.items() if n)
            lines.append(f"damage found: {shown}")
        return "\n".join(lines)


@dataclass(slots=True)
class _Fsck:
    store: Store
    problems: dict[str, Problem] = field(default_factory=dict)
    refs: dict[str, list[str]] = field(default_factory=dict)

    def report(self, kind: ProblemKind, key: str, id: str | None, detail: str) -> None:
        self.problems.setdefault(key, Problem(kind, key, id, detail))

    def use(self, key: str, ref: str) -> None:
        self.refs.setdefault(key, []).append(ref)

    def read_hashed(self, key: str, object_id: str) -> bytes | None:
        try:
            data = self.store.read(key)
        except NotFoundError:
            self.report("missing", key, object_id, f"{object_id} is listed but cannot be found")
            return None
        except StorageError as exc:
            self.report("unreadable", key, object_id, str(exc))
            return None
        actual = hash_bytes(data)
        if actual != object_id:
            self.report("corrupt", key, object_id, f"{object_id} is corrupt: its bytes hash to {actual}")
            return None
        return data


def fsck(store: Store, *, progress: Callable[[int], None] | None = None) -> FsckResult:
    """Re-hash every object and manifest; check every version entry, tag and prune marker.

    ``progress`` is called with 1 for every key checked.
    """
    checker = _Fsck(store)
    entries = list(store.scan(""))
    objects: dict[str, int] = {}  # id -> size, readable and verified
    manifests: dict[str, Manifest] = {}
    present_objects: set[str] = set()
    present_manifests: set[str] = set()
    verdicts: dict[str, tuple[str, int]] = {}  # key -> (fingerprint, size)
    temps: list[StoreEntry] = []
    dataset_entries: list[StoreEntry] = []
    sizes = {e.key: e.size for e in entries}

    for entry in entries:
        key = entry.key
        if progress is not None:
            progress(1)
        if _is_temp(key):
            temps.append(entry)
        elif (m := _OBJECT_RE.match(key)) is not None:
            object_id = f"xxh128:{m.group(1)}{m.group(2)}"
            present_objects.add(object_id)
            if checker.read_hashed(key, object_id) is not None:
                objects[object_id] = entry.size
        elif (m := _MANIFEST_RE.match(key)) is not None:
            manifest_id = f"xxh128:{m.group(1)}{m.group(2)}"
            present_manifests.add(manifest_id)
            data = checker.read_hashed(key, manifest_id)
            if data is not None:
                try:
                    manifests[manifest_id] = Manifest.from_dict(parse_json(data, f"manifest {manifest_id}"))
                except DvtoolError as exc:
                    checker.report("invalid", key, manifest_id, f"manifest {manifest_id} cannot be read: {exc}")
        elif (m := _VERDICT_RE.match(key)) is not None:
            verdicts[key] = (f"xxh128:{m.group(1)}", entry.size)
        elif key.startswith("datasets/"):
            dataset_entries.append(entry)

    versions: dict[tuple[str, int], VersionEntry] = {}
    tags: dict[tuple[str, str], TagEntry] = {}
    pruned: set[tuple[str, int]] = set()
    for entry in dataset_entries:
        match = _DATASET_RE.match(entry.key)
        if match is None:
            continue
        name, kind, stem = match.groups()
        try:
            raw = store.read(entry.key)
            fields = parse_json(raw, entry.key)
            if kind == "versions":
                ventry = VersionEntry.from_dict(fields)
                if not stem.isdigit() or (ventry.dataset, ventry.version) != (name, int(stem)):
                    raise DvtoolError(f"it describes {ventry.dataset}@v{ventry.version}")
                versions[(name, ventry.version)] = ventry
            elif kind == "tags":
                tentry = TagEntry.from_dict(fields)
                if (tentry.dataset, tentry.tag) != (name, stem):
                    raise DvtoolError(f"it describes tag {tentry.tag!r} of {tentry.dataset}")
                tags[(name, stem)] = tentry
            elif stem.isdigit():
                pruned.add((name, int(stem)))
        except StorageError as exc:
            checker.report("unreadable", entry.key, None, str(exc))
        except DvtoolError as exc:
            checker.report("invalid", entry.key, None, f"{kind[:-1] if kind != 'pruned' else 'prune marker'} entry is invalid: {exc}")

    def check_manifest(manifest_id: str, ref: str, name: str, version: int, need_chunks: bool) -> None:
        mkey = manifest_key(manifest_id) if is_object_id(manifest_id) else f"manifests/?/{manifest_id}"
        checker.use(mkey, ref)
        if manifest_id not in present_manifests:
            checker.report("missing", mkey, manifest_id, f"manifest {manifest_id} is missing")
            return
        manifest = manifests.get(manifest_id)
        if manifest is None:
            return  # already reported as corrupt or invalid
        if (manifest.dataset, manifest.version) != (name, version):
            checker.report(
                "invalid", mkey, manifest_id,
                f"manifest {manifest_id} describes {manifest.dataset}@v{manifest.version}, not {name}@v{version}",
            )
        if not need_chunks:
            return
        for chunk in manifest.chunks:
            okey = object_key(chunk.object) if is_object_id(chunk.object) else f"objects/?/{chunk.object}"
            checker.use(okey, ref)
            if chunk.object not in present_objects:
                checker.report("missing", okey, chunk.object, f"chunk {chunk.object} is missing")
            elif chunk.object in objects and objects[chunk.object] != chunk.bytes:
                checker.report(
                    "invalid", okey, chunk.object,
                    f"chunk {chunk.object} has {objects[chunk.object]} bytes, the manifest says {chunk.bytes}",
                )

    by_dataset: dict[str, list[int]] = {}
    for (name, version), ventry in sorted(versions.items()):
        by_dataset.setdefault(name, []).append(version)
        is_pruned = (name, version) in pruned
        check_manifest(ventry.manifest, f"{name}@v{version}", name, version, not is_pruned)
    for name, numbers in by_dataset.items():
        for gap in sorted(set(range(1, max(numbers) + 1)) - set(numbers)):
            checker.report("missing", version_key(name, gap), None, f"{name} has no version {gap} (versions must be gap-free)")
    for (name, tag), tentry in sorted(tags.items()):
        tagged = versions.get((name, tentry.version))
        if tagged is None or tagged.manifest != tentry.manifest:
            checker.report("invalid", tag_key(name, tag), tentry.manifest, f"tag {tag!r} does not match {name}@v{tentry.version}")
        check_manifest(tentry.manifest, f"{name}@{tag}", name, tentry.version, True)
    early_markers = []
    for name, version in sorted(pruned):
        if (name, version) not in versions:
            # An interrupted push copies the marker just before the version entry.
            early_markers.append(pruned_key(name, version))
        elif version == max(by_dataset[name]):
            checker.report("invalid", pruned_key(name, version), None, f"the latest version {name}@v{version} is marked pruned")

    problems = tuple(
        Problem(p.kind, p.key, p.id, p.detail, tuple(dict.fromkeys(checker.refs.get(p.key, ()))))
        for _, p in sorted(checker.problems.items())
    )
    referenced = set(checker.refs)
    all_manifest_keys = {manifest_key(v.manifest) for v in versions.values() if is_object_id(v.manifest)}
    live_fingerprints: set[str] = set()
    needing = [v.manifest for k, v in versions.items() if k not in pruned] + [t.manifest for t in tags.values()]
    for manifest_id in needing:
        if manifest_id in manifests:
            live_fingerprints.update(c.fingerprint for c in manifests[manifest_id].chunks)
    dangling: list[Leftover] = []
    for object_id in sorted(present_objects):
        if object_key(object_id) not in referenced:
            dangling.append(Leftover("object", object_key(object_id), sizes.get(object_key(object_id), 0)))
    for manifest_id in sorted(present_manifests):
        key = manifest_key(manifest_id)
        if key not in referenced and key not in all_manifest_keys:
            dangling.append(Leftover("manifest", key, sizes.get(key, 0)))
    for key, (fingerprint, size) in sorted(verdicts.items()):
        if fingerprint not in live_fingerprints:
            dangling.append(Leftover("verdict", key, size))
    dangling.extend(Leftover("temp", t.key, t.size) for t in temps)
    dangling.extend(Leftover("prune-marker", key, sizes.get(key, 0)) for key in early_markers)
    return FsckResult(
        url=redact_url(store.url),
        objects=len(present_objects),
        manifests=len(present_manifests),
        versions=len(versions),
        tags=len(tags),
        pruned=len(pruned),
        problems=problems,
        dangling=tuple(dangling),
    )


# -- prune --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PruneResult:
    """What :func:`prune` did: versions newly pruned, kept because tagged, pruned before."""

    dataset: str
    rule: str
    pruned: tuple[int, ...]
    kept_tagged: tuple[int, ...]
    already_pruned: tuple[int, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "dataset": self.dataset,
            "rule": self.rule,
            "pruned": list(self.pruned),
            "kept_tagged": list(self.kept_tagged),
            "already_pruned": list(self.already_pruned),
        }

    def to_text(self) -> str:
        def vs(numbers: tuple[int, ...]) -> str:
            return ", ".join(f"v{n}" for n in numbers)

        lines = []
        if self.pruned:
            lines.append(f"{self.dataset}: pruned {len(self.pruned)} version(s) ({self.rule}): {vs(self.pruned)}")
            lines.append("their data is removed by 'dvtool gc' once the grace period has passed")
        else:
            lines.append(f"{self.dataset}: nothing to prune ({self.rule})")
        if self.kept_tagged:
            lines.append(f"kept because tagged: {vs(self.kept_tagged)}")
        return "\n".join(lines)


def pruned_versions(store: Store, dataset: str) -> set[int]:
    out = set()
    for key in store.list(f"datasets/{dataset}/pruned"):
        stem = key.rsplit("/", 1)[-1].removesuffix(".json")
        if stem.isdigit():
            out.add(int(stem))
    return out


def prune(
    store: Store,
    dataset: str,
    *,
    keep_last: int | None = None,
    older_than: timedelta | None = None,
) -> PruneResult:
    """Expire versions of ``dataset`` older than the rule; tagged and latest versions stay."""
    check_name(dataset)
    if (keep_last is None) == (older_than is None):
        raise UsageError("prune needs exactly one of --keep-last N or --older-than DURATION")
    if keep_last is not None and keep_last < 1:
        raise UsageError("--keep-last must be at least 1 (the latest version is always kept)")
    versions = sorted(
        int(k.rsplit("/", 1)[-1].removesuffix(".json"))
        for k in store.list(f"datasets/{dataset}/versions")
        if k.rsplit("/", 1)[-1].removesuffix(".json").isdigit()
    )
    if not versions:
        raise NotFoundError(f"unknown dataset '{dataset}'")
    tagged = set()
    for key in store.list(f"datasets/{dataset}/tags"):
        tagged.add(TagEntry.from_dict(parse_json(store.read(key), key)).version)
    already = pruned_versions(store, dataset)
    now = store.now()
    if keep_last is not None:
        rule = f"keep the last {keep_last}"
        candidates = versions[:-keep_last]
    else:
        assert older_than is not None
        rule = f"older than {format_duration(older_than)}"
        cutoff = now - older_than
        candidates = []
        for v in versions[:-1]:
            entry = VersionEntry.from_dict(parse_json(store.read(version_key(dataset, v)), f"{dataset}@v{v}"))
            created = _parse_time(entry.created)
            if created is not None and created < cutoff:
                candidates.append(v)
    done: list[int] = []
    kept: list[int] = []
    before: list[int] = []
    for version in candidates:
        if version == versions[-1]:
            continue
        if version in tagged:
            kept.append(version)
            continue
        if version in already:
            before.append(version)
            continue
        entry = VersionEntry.from_dict(parse_json(store.read(version_key(dataset, version)), f"{dataset}@v{version}"))
        marker = canonical_json(
            {
                "format": FORMAT_VERSION,
                "kind": "pruned",
                "dataset": dataset,
                "version": version,
                "manifest": entry.manifest,
                "pruned": _iso(now),
                "rule": rule,
            }
        )
        try:
            # Create-only: a prune is recorded once and never undone or rewritten.
            store.create(pruned_key(dataset, version), marker)
        except AlreadyExistsError:
            before.append(version)
            continue
        done.append(version)
    return PruneResult(dataset, rule, tuple(done), tuple(kept), tuple(before))


# -- gc -------------------------------------------------------------------------------------------


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
            "store_time": _iso(self.now),
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
        lines = [f"{i.kind:<8} {i.key}  {i.size:,} bytes  {i.modified[:19].replace('T', ' ')}" for i in self.items]
        grace = format_duration(self.grace)
        if self.dry_run:
            lines.append(
                f"would delete {what} ({self.bytes:,} bytes) unreferenced for more than {grace}; "
                "run with --yes to delete"
            )
        else:
            lines.append(f"deleted {what} ({self.bytes:,} bytes) unreferenced for more than {grace}")
        if self.young:
            lines.append(f"kept {self.young} unreferenced key(s) younger than {grace} (maybe a commit in progress)")
        return "\n".join(lines)


def _classify(key: str) -> str | None:
    if _is_temp(key):
        return "temp"
    if _OBJECT_RE.match(key):
        return "object"
    if _MANIFEST_RE.match(key):
        return "manifest"
    if _VERDICT_RE.match(key):
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

    def add(self, store: Store, roots: _Roots) -> None:
        """Mark what ``roots`` reference; a manifest that cannot be read aborts gc."""
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
            for chunk in manifest.chunks:
                self.objects.add(chunk.object)
                self.fingerprints.add(chunk.fingerprint)
        self.seen_roots |= roots.keys

    def referenced(self, kind: str, key: str) -> bool:
        if kind == "object":
            return _object_id_of(key) in self.objects
        if kind == "manifest":
            return _object_id_of(key) in self.manifests
        if kind == "verdict":
            return f"xxh128:{key.rsplit('/', 1)[-1].removesuffix('.json')}" in self.fingerprints
        return False


def _read_all_roots(store: Store) -> _Roots:
    try:
        return _read_roots(store)
    except DvtoolError as exc:
        raise StorageError(f"gc aborted, nothing was deleted: cannot read the repository's history ({exc})") from None


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
            "started": _iso(now),
            "expires": _iso(now + ttl),
        }
    )
    try:
        store.create(LOCK_KEY, body)
    except AlreadyExistsError:
        held = store.read(LOCK_KEY)
        try:
            info = json.loads(held)
            expires = _parse_time(str(info.get("expires", "")))
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
            raise ConflictError(f"another gc took over the expired lock {LOCK_KEY} just now") from None
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
            candidates.append(GcItem(kind, entry.key, entry.size, _iso(entry.modified)))
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
    return GcResult(redact_url(store.url), dry_run, older_than, now, tuple(candidates), young, deleted)
