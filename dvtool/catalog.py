"""The one reader of a repository's history: versions, tags, prune markers, REFs, gc roots.

Everything that asks "which versions does this dataset have", "what does
``orders@v3`` point at" or "which manifests are still needed" asks a
:class:`Catalog`. The facade (``Repo``), push/pull, fsck, prune and gc all
read history through it, so a rule about history (a version entry must name
the dataset and version it is stored under; a pruned version is not served)
is written once.

The catalog reads; it never writes. Writing a version entry is the commit
(``dvtool.write.commit``).
"""

from __future__ import annotations

import difflib
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from dvtool._version import FORMAT_VERSION
from dvtool.errors import AlreadyExistsError, IntegrityError, NotFoundError, UsageError
from dvtool.format.hashing import is_object_id, object_hex
from dvtool.format.layout import (
    DATASET_KEY_RE,
    DEFAULT_DIR,
    MARKER,
    NAME_RE,
    check_name,
    manifest_key,
    object_key,
    pruned_key,
    utc_now,
    version_key,
)
from dvtool.format.models import Manifest, TagEntry, VersionEntry, canonical_json, parse_json
from dvtool.snapshot import Snapshot
from dvtool.storage import Store, StoreEntry, check_url, is_temp, open_store, redact_url

__all__ = [
    "Catalog",
    "Resolved",
    "Roots",
    "checked_manifest_key",
    "checked_object_key",
    "create_repository",
    "open_repository",
]

_NUMBERED_RE = re.compile(r"^(\d{20})\.json$")
_TAG_FILE_RE = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]{0,127})\.json$")


def checked_object_key(object_id: str) -> str:
    """The key of a chunk whose id came from a file: refuse a malformed id instead of a bad path."""
    if not is_object_id(object_id):
        raise IntegrityError(f"malformed chunk id {object_id!r}")
    return object_key(object_id)


def checked_manifest_key(manifest_id: str) -> str:
    if not is_object_id(manifest_id):
        raise IntegrityError(f"malformed manifest id {manifest_id!r}")
    return manifest_key(manifest_id)


@dataclass(frozen=True, slots=True)
class Resolved:
    """What a REF points at: the version entry, its verified manifest and the version's tags."""

    entry: VersionEntry
    manifest: Manifest
    tags: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Roots:
    """Every version entry, tag and prune marker of a repository, read and parsed (gc's roots)."""

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
        return {e.manifest for e in self.versions.values()} | {
            t.manifest for t in self.tags.values()
        }


class Catalog:
    """Reads the history kept in one store."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def _where(self, key: str) -> str:
        return f"{key} in {redact_url(self.store.url)}"

    # ---- datasets ----

    def dataset_names(self) -> list[str]:
        names = set()
        for key in self.store.list("datasets"):
            parts = key.split("/")
            if len(parts) >= 4 and parts[2] == "versions":
                names.add(parts[1])
        return sorted(names)

    def has_dataset(self, name: str) -> bool:
        if not NAME_RE.match(name) or ".." in name:
            return False
        return bool(self.store.list(f"datasets/{name}/versions"))

    def is_ref(self, arg: str) -> bool:
        """REF vs SOURCE: an argument naming a dataset here (with or without ``@…``) is a REF.

        Anything else is a SOURCE; write ``./orders`` to force a path.
        """
        if not isinstance(arg, str) or "://" in arg:
            return False
        # ``./x``, ``../x`` and ``/x`` are never dataset names (NAME_RE): always SOURCEs.
        return self.has_dataset(arg.split("@", 1)[0])

    def refuse_case_twin(self, name: str) -> None:
        """A new dataset may not equal an existing one ignoring case (one table to SQL, one folder on some disks)."""
        if self.has_dataset(name):
            return
        same = [n for n in self.dataset_names() if n.lower() == name.lower()]
        if same:
            raise UsageError(
                f"dataset name {name!r} differs from the existing {same[0]!r} only by case; "
                f"use {same[0]!r} or another name"
            )

    def unknown_dataset(self, name: str) -> NotFoundError:
        """The error for a dataset that is not here, naming the close matches and the others."""
        known = self.dataset_names()
        if not known:
            return NotFoundError(
                f"unknown dataset '{name}' (the repository is empty; see 'dvtool snapshot --help')"
            )
        close = difflib.get_close_matches(name, known, n=1)
        hint = f"did you mean '{close[0]}'? " if close else ""
        return NotFoundError(f"unknown dataset '{name}' ({hint}datasets: {', '.join(known[:10])})")

    # ---- versions, tags, prune markers ----

    def _numbered(self, prefix: str) -> dict[int, str]:
        found: dict[int, str] = {}
        for key in self.store.list(prefix):
            match = _NUMBERED_RE.match(key.rsplit("/", 1)[-1])
            if match:
                found[int(match.group(1))] = key
        return found

    def version_keys(self, name: str) -> dict[int, str]:
        """Version number → key of its entry."""
        return self._numbered(f"datasets/{name}/versions")

    def versions(self, name: str) -> list[int]:
        return sorted(self.version_keys(name))

    def entry_bytes(self, name: str, version: int) -> tuple[bytes, VersionEntry]:
        """A version entry as stored and parsed; it must describe the version it is stored as."""
        key = version_key(name, version)
        data = self.store.read(key)
        entry = VersionEntry.from_dict(parse_json(data, f"version entry {name}@v{version}"))
        if entry.dataset != name or entry.version != version:
            raise IntegrityError(
                f"{self._where(key)} describes {entry.dataset}@v{entry.version}, not {name}@v{version}; "
                "run 'dvtool fsck'"
            )
        return data, entry

    def entry(self, name: str, version: int) -> VersionEntry:
        return self.entry_bytes(name, version)[1]

    def head(self, name: str) -> VersionEntry | None:
        versions = self.versions(name)
        return self.entry(name, versions[-1]) if versions else None

    def tag_keys(self, name: str) -> dict[str, str]:
        """Tag → key of its entry."""
        found: dict[str, str] = {}
        for key in self.store.list(f"datasets/{name}/tags"):
            match = _TAG_FILE_RE.match(key.rsplit("/", 1)[-1])
            if match:
                found[match.group(1)] = key
        return found

    def tags(self, name: str) -> list[TagEntry]:
        return [
            TagEntry.from_dict(parse_json(self.store.read(key), f"tag {key}"))
            for _, key in sorted(self.tag_keys(name).items())
        ]

    def pruned(self, name: str) -> set[int]:
        """Versions whose prune marker exists (their data goes at the next gc)."""
        return set(self._numbered(f"datasets/{name}/pruned"))

    # ---- manifests ----

    def manifest_bytes(self, manifest_id: str) -> tuple[bytes, Manifest]:
        """A manifest's verified bytes and its parsed value."""
        data = self.store.read_verified(checked_manifest_key(manifest_id), manifest_id)
        return data, Manifest.from_dict(parse_json(data, f"manifest {manifest_id}"))

    def manifest(self, manifest_id: str) -> Manifest:
        return self.manifest_bytes(manifest_id)[1]

    def manifest_of(self, entry: VersionEntry) -> Manifest:
        """The manifest a version entry points at, checked to belong to that version."""
        manifest = self.manifest(entry.manifest)
        if manifest.dataset != entry.dataset or manifest.version != entry.version:
            raise IntegrityError(
                f"the version entry of {entry.dataset}@v{entry.version} points at the manifest of "
                f"{manifest.dataset}@v{manifest.version} ({entry.manifest}); run 'dvtool fsck'"
            )
        return manifest

    # ---- REFs ----

    def resolve(self, ref: str) -> Resolved:
        """Resolve a REF (``NAME``, ``NAME@v3``, ``NAME@TAG``, ``NAME@<id prefix>``, ``NAME@~1``)."""
        name, _, spec = ref.partition("@")
        check_name(name)
        versions = self.versions(name)
        if not versions:
            raise self.unknown_dataset(name)
        tags = self.tags(name)
        entry: VersionEntry | None = None
        if not spec:
            entry = self.entry(name, versions[-1])
        elif re.fullmatch(r"v\d+", spec):
            n = int(spec[1:])
            shadowed = next((t for t in tags if t.tag == spec), None)
            if shadowed is not None and shadowed.version != n:
                # A tag written before such names were refused: never guess which one is meant.
                raise UsageError(
                    f"{ref} is ambiguous: version {n}, or the tag '{spec}' on v{shadowed.version}; "
                    f"name the snapshot by its id instead (see 'dvtool log {name}')"
                )
            if n not in versions:
                raise NotFoundError(f"{name} has no version {n} (latest is v{versions[-1]})")
            entry = self.entry(name, n)
        elif re.fullmatch(r"~\d+", spec):
            back = int(spec[1:])
            if back >= len(versions):
                raise NotFoundError(f"{ref}: {name} has only {len(versions)} version(s)")
            entry = self.entry(name, versions[-1 - back])
        else:
            tag = next((t for t in tags if t.tag == spec), None)
            matches: list[VersionEntry] = []
            if re.fullmatch(r"(xxh128:)?[0-9a-f]{8,32}", spec):
                prefix = spec.removeprefix("xxh128:")
                matches = [
                    e
                    for e in (self.entry(name, v) for v in versions)
                    if object_hex(e.manifest).startswith(prefix)
                ]
            if tag is not None:
                if any(m.version != tag.version for m in matches):
                    raise UsageError(
                        f"{ref} is ambiguous: tag '{spec}' on v{tag.version}, or the snapshot id "
                        f"prefix of v{matches[0].version}; use {name}@v{tag.version} or a longer id"
                    )
                entry = self.entry(name, tag.version)
            else:
                if len(matches) > 1:
                    raise UsageError(
                        f"{ref} is ambiguous: {len(matches)} snapshots start with {spec.removeprefix('xxh128:')}"
                    )
                if matches:
                    entry = matches[0]
            if entry is None:
                hint = (
                    f"tags: {', '.join(sorted(t.tag for t in tags)[:10])}"
                    if tags
                    else "it has no tags"
                )
                raise NotFoundError(
                    f"unknown ref '{ref}': no tag or snapshot id '{spec}' in {name} "
                    f"({hint}; versions v1..v{versions[-1]}; see 'dvtool log {name}')"
                )
        if (
            entry.version != versions[-1]
            and not any(t.version == entry.version for t in tags)
            and self.store.exists(pruned_key(name, entry.version))
        ):
            raise NotFoundError(
                f"{name}@v{entry.version} was pruned: its data is removed by 'dvtool gc' "
                "(the version stays in the log)"
            )
        manifest = self.manifest_of(entry)
        version_tags = tuple(sorted(t.tag for t in tags if t.version == entry.version))
        return Resolved(entry, manifest, version_tags)

    def get(self, ref: str) -> Snapshot:
        """The snapshot a REF names, its manifest verified."""
        resolved = self.resolve(ref)
        return Snapshot(self.store, resolved.manifest, resolved.entry.manifest, resolved.tags)

    def query_table(self, table: str, names: Sequence[str] | None = None) -> Snapshot | None:
        """The snapshot a SQL table name means (``NAME`` or ``NAME@REF``), for every query engine.

        SQL folds unquoted identifiers' case, so an unambiguous case-insensitive match
        is accepted; names that differ only by case are refused (a repository written
        before such names were refused, or pulled from one). ``None`` for a plain name
        that is no dataset (the engine's own table, or a typo it reports).
        """
        names = list(names) if names is not None else self.dataset_names()
        name, at, spec = table.partition("@")
        candidates = [n for n in names if n.lower() == name.lower()]
        if len(candidates) > 1:
            raise UsageError(
                f"query names {table!r}, but datasets {' and '.join(repr(c) for c in candidates)} "
                "differ only by case, which SQL cannot tell apart; query them through "
                "dvtool.Repo.get(...).to_arrow() or rename one (export it and snapshot it under another name)"
            )
        if name not in names:
            if len(candidates) != 1:
                if at:
                    raise NotFoundError(
                        f"query names {table!r}, but there is no dataset {name!r}"
                        + (
                            f" (datasets: {', '.join(names[:20])})"
                            if names
                            else " (the repository is empty)"
                        )
                    )
                return None
            name = candidates[0]
        return self.get(f"{name}@{spec}" if at else name)

    # ---- gc roots ----

    def roots(self, entries: Iterable[StoreEntry] | None = None) -> Roots:
        """Read every root; any failure propagates (gc must not guess what is referenced)."""
        keys = [e.key for e in entries] if entries is not None else self.store.list("datasets")
        versions: dict[tuple[str, int], VersionEntry] = {}
        tags: dict[tuple[str, str], TagEntry] = {}
        pruned: set[tuple[str, int]] = set()
        seen: set[str] = set()
        for key in keys:
            match = DATASET_KEY_RE.match(key)
            if match is None or is_temp(key):
                continue
            name, kind, stem = match.groups()
            seen.add(key)
            raw = self.store.read(key)
            what = self._where(key)
            if kind == "versions" and stem.isdigit():
                versions[(name, int(stem))] = VersionEntry.from_dict(parse_json(raw, what))
            elif kind == "tags":
                tags[(name, stem)] = TagEntry.from_dict(parse_json(raw, what))
            elif kind == "pruned" and stem.isdigit():
                parse_json(raw, what)
                pruned.add((name, int(stem)))
        return Roots(versions, tags, frozenset(pruned), frozenset(seen))


# ---- opening a repository: its marker ----


def create_repository(
    target: str | None, storage_options: Mapping[str, str] | None = None
) -> Store:
    """Create a repository's marker at ``target`` (default ``./.dvtool``); error if one exists."""
    target = target if target is not None else DEFAULT_DIR
    check_url(target)
    store = open_store(target, dict(storage_options or {}))
    store.check_create_only()  # say so now, not at the first snapshot
    marker = canonical_json({"format": "dvtool", "version": FORMAT_VERSION, "created": utc_now()})
    try:
        store.create(MARKER, marker)
    except AlreadyExistsError:
        raise UsageError(f"a dvtool repository already exists at {redact_url(store.url)}") from None
    return store


def open_repository(target: str | None, storage_options: Mapping[str, str] | None = None) -> Store:
    """The store of the repository at ``target``, else ``$DVTOOL_REPO``, else the nearest ``.dvtool/``.

    The marker must say dvtool, in a format this dvtool reads.
    """
    target = target if target is not None else os.environ.get("DVTOOL_REPO") or None
    if target is None:
        found = _discover(Path.cwd())
        if found is None:
            raise NotFoundError(
                "no repository found here or above; run 'dvtool init' or pass --repo"
            )
        target = str(found)
    check_url(target)
    store = open_store(target, dict(storage_options or {}))
    try:
        raw = store.read(MARKER)
    except NotFoundError:
        raise NotFoundError(
            f"no dvtool repository at {redact_url(store.url)}; run 'dvtool init {redact_url(target)}'"
        ) from None
    marker = parse_json(raw, f"{MARKER} in {redact_url(store.url)}")
    if marker.get("format") != "dvtool":
        raise IntegrityError(f"{redact_url(store.url)}/{MARKER} is not a dvtool marker")
    if int(marker.get("version", 0)) > FORMAT_VERSION:
        raise UsageError(
            f"repository format {marker.get('version')} is newer than this dvtool "
            f"understands ({FORMAT_VERSION}); upgrade dvtool"
        )
    return store


def _discover(start: Path) -> Path | None:
    for folder in (start, *start.parents):
        candidate = folder / DEFAULT_DIR
        if (candidate / MARKER).is_file():
            return candidate
    return None
