"""fsck: re-hash every object and manifest and walk every version entry and tag to its chunks.

Damage (corrupt, missing, invalid) is reported by id and key; unreferenced
leftovers are "dangling", not damage.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from dvtool.errors import (
    DvtoolError,
    NotFoundError,
    StorageError,
)
from dvtool.format.hashing import hash_bytes, is_object_id
from dvtool.format.layout import (
    DATASET_KEY_RE,
    MANIFEST_KEY_RE,
    OBJECT_KEY_RE,
    VERDICT_KEY_RE,
    manifest_key,
    object_key,
    pruned_key,
    tag_key,
    version_key,
)
from dvtool.format.models import (
    Manifest,
    TagEntry,
    VersionEntry,
    parse_json,
)
from dvtool.format.verdictfile import verdict_problem
from dvtool.ops.patchcheck import check_patch
from dvtool.storage import Store, StoreEntry, is_temp, redact_url

__all__ = ["FsckResult", "Leftover", "Problem", "fsck"]


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
        return {
            "kind": self.kind,
            "key": self.key,
            "id": self.id,
            "detail": self.detail,
            "refs": list(self.refs),
        }


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
            "counts": {
                k: counts.get(k, 0) for k in ("corrupt", "missing", "invalid", "unreadable")
            },
            "dangling": [d.to_json() for d in self.dangling],
        }

    def to_text(self) -> str:
        lines = [
            f"checked {self.objects} objects, {self.manifests} manifests, {self.versions} versions "
            f"({self.pruned} pruned), {self.tags} tags in {self.url}"
        ]
        for p in self.problems:
            used = (
                f" (used by {', '.join(p.refs[:5])}{', …' if len(p.refs) > 5 else ''})"
                if p.refs
                else ""
            )
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
            self.report(
                "corrupt", key, object_id, f"{object_id} is corrupt: its bytes hash to {actual}"
            )
            return None
        return data


def _check_verdict(store: Store, checker: _Fsck, key: str) -> None:
    """A cached verdict must be intact and written under its own key (validate ignores it otherwise)."""
    if not key.startswith("validation/"):
        return  # a distribution profile (stats/…): a cache diff checks itself
    try:
        data = store.read(key)
    except StorageError as exc:
        checker.report("unreadable", key, None, str(exc))
        return
    problem = verdict_problem(data, key)
    if problem is not None:
        checker.report(
            "invalid",
            key,
            None,
            f"cached validation verdict {problem}; validate ignores it and checks the chunk again",
        )


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
        if is_temp(key):
            temps.append(entry)
        elif (m := OBJECT_KEY_RE.match(key)) is not None:
            object_id = f"xxh128:{m.group(1)}{m.group(2)}"
            present_objects.add(object_id)
            if checker.read_hashed(key, object_id) is not None:
                objects[object_id] = entry.size
        elif (m := MANIFEST_KEY_RE.match(key)) is not None:
            manifest_id = f"xxh128:{m.group(1)}{m.group(2)}"
            present_manifests.add(manifest_id)
            data = checker.read_hashed(key, manifest_id)
            if data is not None:
                try:
                    manifests[manifest_id] = Manifest.from_dict(
                        parse_json(data, f"manifest {manifest_id}")
                    )
                except DvtoolError as exc:
                    checker.report(
                        "invalid", key, manifest_id, f"manifest {manifest_id} cannot be read: {exc}"
                    )
        elif (m := VERDICT_KEY_RE.match(key)) is not None:
            verdicts[key] = (f"xxh128:{m.group(1)}", entry.size)
            _check_verdict(store, checker, key)
        elif key.startswith("datasets/"):
            dataset_entries.append(entry)

    versions: dict[tuple[str, int], VersionEntry] = {}
    tags: dict[tuple[str, str], TagEntry] = {}
    pruned: set[tuple[str, int]] = set()
    for entry in dataset_entries:
        match = DATASET_KEY_RE.match(entry.key)
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
            checker.report(
                "invalid",
                entry.key,
                None,
                f"{kind[:-1] if kind != 'pruned' else 'prune marker'} entry is invalid: {exc}",
            )

    patches_checked: set[str] = set()

    def check_manifest(
        manifest_id: str, ref: str, name: str, version: int, need_chunks: bool
    ) -> None:
        mkey = (
            manifest_key(manifest_id) if is_object_id(manifest_id) else f"manifests/?/{manifest_id}"
        )
        checker.use(mkey, ref)
        if manifest_id not in present_manifests:
            checker.report("missing", mkey, manifest_id, f"manifest {manifest_id} is missing")
            return
        manifest = manifests.get(manifest_id)
        if manifest is None:
            return  # already reported as corrupt or invalid
        if (manifest.dataset, manifest.version) != (name, version):
            checker.report(
                "invalid",
                mkey,
                manifest_id,
                f"manifest {manifest_id} describes {manifest.dataset}@v{manifest.version}, not {name}@v{version}",
            )
        if not need_chunks:
            return
        n_chunks = len(manifest.chunks)
        for i, chunk in enumerate(manifest.stored_objects()):
            what = "chunk" if i < n_chunks else "patch object"
            okey = (
                object_key(chunk.object)
                if is_object_id(chunk.object)
                else f"objects/?/{chunk.object}"
            )
            checker.use(okey, ref)
            if chunk.object not in present_objects:
                checker.report("missing", okey, chunk.object, f"{what} {chunk.object} is missing")
            elif chunk.object in objects and objects[chunk.object] != chunk.bytes:
                checker.report(
                    "invalid",
                    okey,
                    chunk.object,
                    f"{what} {chunk.object} has {objects[chunk.object]} bytes, the manifest says {chunk.bytes}",
                )
        if manifest.patch is not None and manifest_id not in patches_checked:
            patches_checked.add(manifest_id)
            if all(o.object in objects for o in manifest.stored_objects()):
                for problem in check_patch(store, manifest):
                    checker.report("invalid", mkey, manifest_id, f"the patch of {ref}: {problem}")

    by_dataset: dict[str, list[int]] = {}
    for (name, version), ventry in sorted(versions.items()):
        by_dataset.setdefault(name, []).append(version)
        is_pruned = (name, version) in pruned
        check_manifest(ventry.manifest, f"{name}@v{version}", name, version, not is_pruned)
    for name, numbers in by_dataset.items():
        for gap in sorted(set(range(1, max(numbers) + 1)) - set(numbers)):
            checker.report(
                "missing",
                version_key(name, gap),
                None,
                f"{name} has no version {gap} (versions must be gap-free)",
            )
    for (name, tag), tentry in sorted(tags.items()):
        tagged = versions.get((name, tentry.version))
        if tagged is None or tagged.manifest != tentry.manifest:
            checker.report(
                "invalid",
                tag_key(name, tag),
                tentry.manifest,
                f"tag {tag!r} does not match {name}@v{tentry.version}",
            )
        check_manifest(tentry.manifest, f"{name}@{tag}", name, tentry.version, True)
    early_markers = []
    for name, version in sorted(pruned):
        if (name, version) not in versions:
            # An interrupted push copies the marker just before the version entry.
            early_markers.append(pruned_key(name, version))
        elif version == max(by_dataset[name]):
            checker.report(
                "invalid",
                pruned_key(name, version),
                None,
                f"the latest version {name}@v{version} is marked pruned",
            )

    problems = tuple(
        Problem(p.kind, p.key, p.id, p.detail, tuple(dict.fromkeys(checker.refs.get(p.key, ()))))
        for _, p in sorted(checker.problems.items())
    )
    referenced = set(checker.refs)
    all_manifest_keys = {
        manifest_key(v.manifest) for v in versions.values() if is_object_id(v.manifest)
    }
    live_fingerprints: set[str] = set()
    needing = [v.manifest for k, v in versions.items() if k not in pruned] + [
        t.manifest for t in tags.values()
    ]
    for manifest_id in needing:
        if manifest_id in manifests:
            live_fingerprints.update(c.fingerprint for c in manifests[manifest_id].chunks)
            live_fingerprints.add(manifests[manifest_id].fingerprint)  # snapshot verdicts
            live_patch = manifests[manifest_id].patch
            if live_patch is not None:
                live_fingerprints.update(r.logical.fingerprint for r in live_patch.ranges)
    dangling: list[Leftover] = []
    for object_id in sorted(present_objects):
        if object_key(object_id) not in referenced:
            dangling.append(
                Leftover("object", object_key(object_id), sizes.get(object_key(object_id), 0))
            )
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
