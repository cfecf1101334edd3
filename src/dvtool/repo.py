"""The Python API: a repository of versioned datasets (SPEC §3).

``Repo`` orchestrates the layers below it (storage, sources, chunking,
hashing, models) and never prints. Modules that pull heavy dependencies
(pandera, DuckDB) are imported lazily inside the methods that need them, so
``dvtool --help`` and ``dvtool log`` start fast.
"""

from __future__ import annotations

import contextlib
import os
import re
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .crashpoints import crash_point
from .errors import (
    AlreadyExistsError,
    IntegrityError,
    NotFoundError,
    StorageError,
    UsageError,
    ValidationFailed,
)
from .hashing import hash_bytes, object_hex
from .layout import (
    DEFAULT_DIR,
    MARKER,
    NAME_RE,
    check_name,
    manifest_key,
    object_key,
    pruned_key,
    tag_key,
    utc_now,
    version_key,
)
from .models import (
    FORMAT_VERSION,
    ChunkInfo,
    Manifest,
    TagEntry,
    ValidationRecord,
    VersionEntry,
    canonical_json,
    parse_json,
)
from .snapshot import DatasetInfo, ExportResult, LogEntry, Snapshot, SnapshotResult
from .storage import Store, check_url, open_store, redact_url

if TYPE_CHECKING:
    import pyarrow as pa

    from .diff_report import Diff
    from .maintenance import FsckResult, GcResult, PruneResult
    from .sources import Source
    from .transfer import TransferSummary
    from .writer import Staging

__all__ = [
    "DatasetInfo",
    "ExportResult",
    "LogEntry",
    "Repo",
    "Snapshot",
    "SnapshotResult",
    "check_name",
    "manifest_key",
    "object_key",
    "pruned_key",
    "tag_key",
    "version_key",
]

COMMIT_ATTEMPTS = 200


# -- staging ------------------------------------------------------------------------


# -- the repository ---------------------------------------------------------------------


class Repo:
    """A dvtool repository on a local folder or any fsspec URL."""

    def __init__(self, store: Store, *, storage_options: Mapping[str, str] | None = None) -> None:
        self.store = store
        self.storage_options: dict[str, str] = dict(storage_options or {})

    @property
    def url(self) -> str:
        return redact_url(self.store.url)

    # ---- opening ----

    @classmethod
    def init(cls, url: str | os.PathLike[str] | None = None, *, storage_options: Mapping[str, str] | None = None) -> Repo:
        """Create a repository (default ``./.dvtool``); error if one exists there."""
        target = os.fspath(url) if url is not None else DEFAULT_DIR
        check_url(target)
        store = open_store(target, dict(storage_options or {}))
        store.check_create_only()  # say so now, not at the first snapshot
        marker = canonical_json({"format": "dvtool", "version": FORMAT_VERSION, "created": utc_now()})
        try:
            store.create(MARKER, marker)
        except AlreadyExistsError:
            raise UsageError(f"a dvtool repository already exists at {redact_url(store.url)}") from None
        return cls(store, storage_options=storage_options)

    @classmethod
    def open(cls, url: str | os.PathLike[str] | None = None, *, storage_options: Mapping[str, str] | None = None) -> Repo:
        """Open a repository: ``url``, else ``$DVTOOL_REPO``, else the nearest ``.dvtool/`` above."""
        target = os.fspath(url) if url is not None else os.environ.get("DVTOOL_REPO") or None
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
        return cls(store, storage_options=storage_options)

    # ---- reading history ----

    def _versions(self, dataset: str) -> list[int]:
        out = []
        for key in self.store.list(f"datasets/{dataset}/versions"):
            stem = key.rsplit("/", 1)[-1].removesuffix(".json")
            if stem.isdigit():
                out.append(int(stem))
        return sorted(out)

    def _entry(self, dataset: str, version: int) -> VersionEntry:
        raw = self.store.read(version_key(dataset, version))
        return VersionEntry.from_dict(parse_json(raw, f"version entry {dataset}@v{version}"))

    def _head(self, dataset: str) -> VersionEntry | None:
        versions = self._versions(dataset)
        return self._entry(dataset, versions[-1]) if versions else None

    def manifest(self, manifest_id: str) -> Manifest:
        raw = self.store.read_verified(manifest_key(manifest_id), manifest_id)
        return Manifest.from_dict(parse_json(raw, f"manifest {manifest_id}"))

    def _tags(self, dataset: str) -> list[TagEntry]:
        out = []
        for key in self.store.list(f"datasets/{dataset}/tags"):
            out.append(TagEntry.from_dict(parse_json(self.store.read(key), f"tag {key}")))
        return out

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
        if not isinstance(arg, str) or arg.startswith(("./", "../", "/")) or "://" in arg:
            return False
        name = arg.split("@", 1)[0]
        return self.has_dataset(name)

    def get(self, ref: str) -> Snapshot:
        """Resolve a REF (``NAME``, ``NAME@v3``, ``NAME@TAG``, ``NAME@<id prefix>``, ``NAME@~1``)."""
        name, _, spec = ref.partition("@")
        check_name(name)
        versions = self._versions(name)
        if not versions:
            raise self._unknown_dataset(name)
        tags = self._tags(name)
        entry: VersionEntry | None = None
        if not spec:
            entry = self._entry(name, versions[-1])
        elif re.fullmatch(r"v\d+", spec):
            n = int(spec[1:])
            if n not in versions:
                raise NotFoundError(f"{name} has no version {n} (latest is v{versions[-1]})")
            entry = self._entry(name, n)
        elif re.fullmatch(r"~\d+", spec):
            back = int(spec[1:])
            if back >= len(versions):
                raise NotFoundError(f"{ref}: {name} has only {len(versions)} version(s)")
            entry = self._entry(name, versions[-1 - back])
        else:
            tag = next((t for t in tags if t.tag == spec), None)
            if tag is not None:
                entry = self._entry(name, tag.version)
            elif re.fullmatch(r"(xxh128:)?[0-9a-f]{8,32}", spec):
                prefix = spec.removeprefix("xxh128:")
                matches = [
                    e for e in (self._entry(name, v) for v in versions) if object_hex(e.manifest).startswith(prefix)
                ]
                if len(matches) > 1:
                    raise UsageError(f"{ref} is ambiguous: {len(matches)} snapshots start with {prefix}")
                if matches:
                    entry = matches[0]
            if entry is None:
                hint = f"tags: {', '.join(sorted(t.tag for t in tags)[:10])}" if tags else "it has no tags"
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
        manifest = self.manifest(entry.manifest)
        version_tags = tuple(sorted(t.tag for t in tags if t.version == entry.version))
        return Snapshot(self.store, manifest, entry.manifest, version_tags)

    def _unknown_dataset(self, name: str) -> NotFoundError:
        """The error for a dataset that is not here, naming the close matches and the others."""
        import difflib

        known = self.dataset_names()
        if not known:
            return NotFoundError(f"unknown dataset '{name}' (the repository is empty; see 'dvtool snapshot --help')")
        close = difflib.get_close_matches(name, known, n=1)
        hint = f"did you mean '{close[0]}'? " if close else ""
        return NotFoundError(f"unknown dataset '{name}' ({hint}datasets: {', '.join(known[:10])})")

    def log(self, dataset: str, limit: int | None = None) -> list[LogEntry]:
        """Versions newest first."""
        check_name(dataset)
        versions = self._versions(dataset)
        if not versions:
            raise self._unknown_dataset(dataset)
        tags: dict[int, list[str]] = {}
        for t in self._tags(dataset):
            tags.setdefault(t.version, []).append(t.tag)
        chosen = versions[::-1][: limit if limit is not None else None]
        pruned = {
            int(k.rsplit("/", 1)[-1].removesuffix(".json"))
            for k in self.store.list(f"datasets/{dataset}/pruned")
            if k.rsplit("/", 1)[-1].removesuffix(".json").isdigit()
        }
        out = []
        for v in chosen:
            e = self._entry(dataset, v)
            out.append(
                LogEntry(dataset, v, e.manifest, e.created, e.rows, e.message, tuple(sorted(tags.get(v, []))), v in pruned)
            )
        return out

    def datasets(self) -> list[DatasetInfo]:
        out = []
        for name in self.dataset_names():
            head = self._head(name)
            if head is None:
                continue
            m = self.manifest(head.manifest)
            out.append(DatasetInfo(name, head.version, head.manifest, m.rows, m.bytes, head.created))
        return out

    def open_source(self, source: Any, *, format: str | None = None) -> Source:
        from .sources import open_source

        return open_source(source, format=format, storage_options=self.storage_options)

    # ---- diff and query (dvtool.diff, dvtool.query) ----

    def diff(
        self,
        old: Any,
        new: Any = None,
        *,
        key: Sequence[str] | None = None,
        limit: int = 10,
        stats: bool = False,
    ) -> Diff:
        """Compare two REFs or SOURCEs (``new=None``: a REF against its parent version).

        Chunks with the same fingerprint on both sides are never read. ``key=None``
        uses the key recorded at snapshot time; ``key=()`` compares whole rows.
        """
        from .diff import diff_in_repo

        return diff_in_repo(self, old, new, key=key, limit=limit, stats=stats)

    def query(self, sql: str) -> pa.Table:
        """Run DuckDB SQL; every dataset is a table by its name (latest) and by ``"NAME@REF"``."""
        from .query import query_repo

        return query_repo(self, sql)

    # ---- writing ----

    def tag(self, ref: str, tag: str) -> TagEntry:
        """Create an immutable tag; UsageError if it exists."""
        check_name(tag, "tag")
        snap = self.get(ref)
        self.store.check_create_only()
        entry = TagEntry(snap.dataset, tag, snap.version, snap.id, utc_now())
        try:
            self.store.create(tag_key(snap.dataset, tag), entry.encode())
        except AlreadyExistsError:
            existing = TagEntry.from_dict(parse_json(self.store.read(tag_key(snap.dataset, tag)), "tag"))
            raise UsageError(
                f"tag '{tag}' already exists on {snap.dataset}@v{existing.version}; tags are immutable"
            ) from None
        return entry

    def snapshot(
        self,
        source: Any,
        *,
        dataset: str,
        key: Sequence[str] = (),
        message: str = "",
        meta: Mapping[str, str] | None = None,
        tag: str | None = None,
        schema: str | None = None,
        format: str | None = None,
        progress: Callable[[int], None] | None = None,
    ) -> SnapshotResult:
        """Read, chunk, hash, store and commit the next version of ``dataset``.

        Identical data to the latest version commits nothing (``unchanged``).
        With ``key``, rows are ordered by the key and a null or duplicate key is a
        :class:`DataError`. Nothing is written to the repository unless the
        snapshot commits.
        """
        check_name(dataset)
        if tag is not None:
            check_name(tag, "tag")
        key = tuple(key)
        if len(set(key)) != len(key):
            raise UsageError(f"--key lists a column twice: {', '.join(key)}")
        meta_items = tuple(sorted((str(k), str(v)) for k, v in (meta or {}).items()))
        src = self.open_source(source, format=format)
        missing = [k for k in key if k not in src.schema.names]
        if missing:
            cols = ", ".join(src.schema.names[:20])
            raise UsageError(
                f"column '{missing[0]}' in --key is not in {src.description} (columns: {cols})"
            )
        if not src.schema.names:
            raise UsageError(f"{src.description} has no columns")
        if len(set(src.schema.names)) != len(src.schema.names):
            dup = next(n for n in src.schema.names if src.schema.names.count(n) > 1)
            raise UsageError(f"{src.description} has two columns named '{dup}'")
        if tag is not None and self.store.exists(tag_key(dataset, tag)):
            raise UsageError(f"tag '{tag}' already exists in {dataset}; tags are immutable")
        loaded_schema = None
        if schema is not None:
            from .validation import load_schema

            loaded_schema = load_schema(schema)

        from . import statcache
        from .writer import Staging, build_draft

        head = self._head(dataset)
        parent = self.manifest(head.manifest) if head else None
        content_id: list[str | None] = []  # computed at most once

        def content_identity() -> str | None:
            if not content_id:
                paths, formats = zip(*src.local_files, strict=True) if src.local_files else ((), ())
                content_id.append(statcache.content_identity(paths, formats) if paths else None)
            return content_id[0]

        def remember(fingerprint: str) -> None:
            statcache.remember(src.identity, key, fingerprint)
            statcache.remember(content_identity(), key, fingerprint)

        # The same local files, untouched since they gave the latest version, or an
        # identical copy of them (same bytes): unchanged, without reading a row.
        if (
            parent is not None
            and tuple(parent.key) == key
            and parent.schema.equals(src.schema)
            and src.identity is not None
            and (
                statcache.lookup(src.identity, key) == parent.fingerprint
                or statcache.lookup(content_identity(), key) == parent.fingerprint
            )
        ):
            statcache.remember(src.identity, key, parent.fingerprint)
            return self._unchanged(dataset, parent.version, tag)
        staging = Staging(self.store.staging_dir())
        report = None
        verdicts = None
        validation_record = None
        bytes_written = 0
        try:
            manifest_body, key_problem = build_draft(src, dataset, key, parent, staging, progress)
            if key_problem is not None and loaded_schema is None:
                raise key_problem
            if parent is not None and _same_data(parent, manifest_body):
                remember(manifest_body.fingerprint)
                return self._unchanged(dataset, parent.version, tag)
            if loaded_schema is not None:
                # With a schema, duplicate keys are reported in the full validation
                # report (its cross-chunk key check) together with every other failure.
                report, verdicts = self._validate_staged(loaded_schema, manifest_body, staging)
                validation_record = ValidationRecord(
                    loaded_schema.fingerprint, loaded_schema.name, report.ok, len(report.errors), len(report.warnings)
                )
                if not report.ok:
                    raise ValidationFailed(report)
                if key_problem is not None:
                    raise key_problem
            # Commits rely on create-only writes: refuse a store that ignores them.
            self.store.check_create_only()
            crash_point("snapshot.after_chunks_staged")
            new_chunks = 0
            deduped: list[str] = []

            def publish(object_id: str) -> tuple[str, int | None]:
                return object_id, staging.publish(self.store, object_key(object_id), object_id)

            # Publishing is I/O (fsync, uploads): overlap it across threads.
            with ThreadPoolExecutor(max_workers=8, thread_name_prefix="dvtool-publish") as io_pool:
                for object_id, size in io_pool.map(publish, staging.order):
                    if size is None:
                        deduped.append(object_id)
                    else:
                        bytes_written += size
                        new_chunks += 1
            crash_point("snapshot.after_objects_published")
            manifest_body = _replace(manifest_body, validation=validation_record)
            snap, written = self._commit(
                dataset, manifest_body, head, message, meta_items,
                before_entry=lambda: self._recheck_deduped(deduped, staging),
            )
            bytes_written += written
        finally:
            staging.close()
        remember(manifest_body.fingerprint)
        if verdicts is not None:
            # The verdict cache is an optimisation; the commit already happened.
            with contextlib.suppress(StorageError):
                verdicts.flush()
        if tag is not None:
            self.tag(f"{dataset}@v{snap.version}", tag)
            snap = self.get(f"{dataset}@v{snap.version}")
        return SnapshotResult(snap, False, new_chunks, bytes_written, tag, report)

    def _unchanged(self, dataset: str, version: int, tag: str | None) -> SnapshotResult:
        """Nothing to commit; ``--tag`` still names the version that holds this data."""
        if tag is not None:
            self.tag(f"{dataset}@v{version}", tag)
        return SnapshotResult(self.get(f"{dataset}@v{version}"), True, 0, 0, tag)

    def _commit(
        self,
        dataset: str,
        draft: Manifest,
        head: VersionEntry | None,
        message: str,
        meta: tuple[tuple[str, str], ...],
        before_entry: Callable[[], None] | None = None,
    ) -> tuple[Snapshot, int]:
        """Write the manifest, then create the next version entry; retry on a lost race."""
        written = 0
        for attempt in range(COMMIT_ATTEMPTS):
            version = head.version + 1 if head else 1
            manifest = _replace(
                draft,
                version=version,
                parent=head.manifest if head else None,
                created=utc_now(),
                message=message,
                meta=meta,
            )
            body = manifest.encode()
            manifest_id = hash_bytes(body)
            if self.store.put_object(manifest_key(manifest_id), body):
                written += len(body)
            entry = VersionEntry(dataset, version, manifest_id, manifest.created, manifest.rows, message)
            crash_point("snapshot.after_manifest_written")
            crash_point("snapshot.before_version_entry")
            if before_entry is not None:
                before_entry()
            try:
                # Writing the version entry create-only *is* the commit: exactly one
                # writer can create version N; the others retry on the new head.
                self.store.create(version_key(dataset, version), entry.encode())
            except AlreadyExistsError:
                head = self._head(dataset)
                time.sleep(min(0.5, 0.005 * (attempt + 1)))
                continue
            except StorageError:
                # Unknown outcome (e.g. a lost acknowledgement): if our entry is
                # there, the commit landed; never commit twice, never clean up.
                if not self._landed(version_key(dataset, version), entry.encode()):
                    raise
            crash_point("snapshot.after_version_entry")
            return Snapshot(self.store, manifest, manifest_id, ()), written
        raise StorageError(f"could not commit {dataset} after {COMMIT_ATTEMPTS} attempts (too many concurrent writers)")

    def _landed(self, key: str, data: bytes) -> bool:
        try:
            return self.store.read(key) == data
        except (NotFoundError, StorageError):
            return False

    def _recheck_deduped(self, object_ids: Sequence[str], staging: Staging) -> None:
        """Just before the commit, re-check chunks that were already stored (dedup hits).

        Such a chunk may be an old, unreferenced leftover that a concurrent
        ``gc`` sweeps, or a torn write of a backend without atomic puts: write
        it again from the staged bytes rather than commit a version that
        points at a missing or damaged object.
        """
        for object_id in object_ids:
            key = object_key(object_id)
            try:
                self.store.read_verified(key, object_id)
                continue
            except NotFoundError:
                pass
            except IntegrityError:
                self.store.delete(key)
            self.store.put_object(key, staging.get(object_id))

    # ---- validation hooks (see validation.py) ----

    def validate(
        self,
        target: Any,
        *,
        schema: Any,
        key: Sequence[str] | None = None,
        format: str | None = None,
        use_cache: bool = True,
        progress: Callable[[int], None] | None = None,
    ) -> Any:
        """Validate a REF or a SOURCE against a pandera schema; returns a ValidationReport.

        ``schema`` is a YAML/JSON path, ``file.py:NAME``, or a pandera schema
        object. For a REF, chunk verdicts are remembered in the repository per
        (schema, chunk), so a new version re-checks only its new chunks;
        cross-chunk checks (unique, keys) always run over the whole snapshot.
        """
        from .validation import LoadedSchema, StoreVerdictCache, load_schema, validate_batches

        loaded = schema if isinstance(schema, LoadedSchema) else load_schema(schema)
        if isinstance(target, str) and self.is_ref(target):
            snap = self.get(target)
            cache = StoreVerdictCache(self.store) if use_cache else None
            return self._run_validation(loaded, snap.manifest, snap.ref, cache, None, progress)
        src = self.open_source(target, format=format)
        return validate_batches(
            loaded, _counted(src.batches(), progress), schema=src.schema, key=tuple(key or ()), target=src.description
        )

    def infer_schema(self, target: Any, *, format: str | None = None) -> str:
        """A pandera (polars) YAML schema that the REF or SOURCE ``target`` passes."""
        from .validation import infer_schema

        if isinstance(target, str) and self.is_ref(target):
            snap = self.get(target)
            return infer_schema(snap.scan(), key=snap.key, name=snap.dataset)
        src = self.open_source(target, format=format)
        return infer_schema(src.batches(), schema=src.schema)

    def _run_validation(
        self,
        loaded: Any,
        manifest: Manifest,
        target: str,
        cache: Any,
        staging: Staging | None,
        progress: Callable[[int], None] | None = None,
    ) -> Any:
        """Validate the chunks of ``manifest`` (staged ones read from ``staging``)."""
        import pyarrow as pa
        import pyarrow.parquet as pq

        from .validation import ChunkInput, validate_chunks

        staged = set(staging.order) if staging is not None else set()
        snap = Snapshot(self.store, manifest, "")

        def load(chunk: ChunkInfo) -> pa.Table:
            if staging is None or chunk.object not in staged:
                return snap.read_chunk(chunk)
            table = pq.read_table(pa.BufferReader(staging.get(chunk.object)))
            return table if table.schema.equals(manifest.schema) else table.cast(manifest.schema)

        def files() -> list[str]:
            out = []
            for c in manifest.chunks:
                if staging is not None and c.object in staged:
                    out.append(staging.local_path(c.object))
                    continue
                k = object_key(c.object)
                self.store.read_verified(k, c.object)  # DuckDB reads the file: check it first
                out.append(self.store.local_path(k) or self.store.full_url(k))
            return out

        def loader(chunk: ChunkInfo) -> Callable[[], pa.Table]:
            def run() -> pa.Table:
                table = load(chunk)
                if progress is not None:
                    progress(table.num_rows)
                return table

            return run

        chunks, offset = [], 0
        for c in manifest.chunks:
            chunks.append(ChunkInput(c.fingerprint, offset, c.rows, loader(c)))
            offset += c.rows
        remote = any(self.store.local_path(object_key(c.object)) is None for c in manifest.chunks)
        return validate_chunks(
            loaded,
            chunks,
            parquet_files=files,
            columns=manifest.schema.names,
            filesystem=self.store.filesystem if remote else None,
            key=manifest.key,
            cache=cache,
            target=target,
            # A committed snapshot's key was proven unique when it was written;
            # a draft's key is checked here, so duplicates show in the report.
            key_guaranteed=staging is None,
        )

    def _validate_staged(self, loaded_schema: Any, draft: Manifest, staging: Staging) -> tuple[Any, Any]:
        """Validate a draft before anything is written; verdicts are held back until commit."""
        from .validation import StoreVerdictCache

        cache = StoreVerdictCache(self.store, defer=True)
        report = self._run_validation(loaded_schema, draft, f"{draft.dataset} (new version)", cache, staging)
        return report, cache

    # ---- push / pull ----

    def push(
        self,
        names: Sequence[str],
        url: str,
        *,
        storage_options: Mapping[str, str] | None = None,
        progress: Callable[[int, int], None] | None = None,
    ) -> TransferSummary:
        """Copy the histories of ``names`` to the repository at ``url``, only missing chunks.

        The target's history of each dataset must be a prefix of this one's
        (else UsageError, "diverged"); ``storage_options`` default to this repo's.
        """
        from .transfer import transfer

        other = Repo.open(url, storage_options=self._options_for(storage_options))
        return transfer(self.store, other.store, names, progress=progress)

    def pull(
        self,
        url: str,
        names: Sequence[str],
        *,
        storage_options: Mapping[str, str] | None = None,
        progress: Callable[[int, int], None] | None = None,
    ) -> TransferSummary:
        """Copy the histories of ``names`` from the repository at ``url`` into this one."""
        from .transfer import transfer

        other = Repo.open(url, storage_options=self._options_for(storage_options))
        return transfer(other.store, self.store, names, progress=progress)

    def _options_for(self, storage_options: Mapping[str, str] | None) -> dict[str, str]:
        return dict(self.storage_options if storage_options is None else storage_options)

    # ---- export ----

    def export(
        self,
        ref: str,
        dest: str,
        *,
        format: str | None = None,
        out: Any = None,
        progress: Callable[[int], None] | None = None,
    ) -> ExportResult:
        """Write the rows of ``ref`` to a file, folder, URL, or ``-`` (``out`` stream)."""
        from .export import export_snapshot

        snap = self.get(ref)
        return export_snapshot(
            snap, dest, format=format, out=out, storage_options=self.storage_options, progress=progress
        )

    # ---- maintenance (see maintenance.py) ----

    def fsck(self, *, progress: Callable[[int], None] | None = None) -> FsckResult:
        """Re-hash every object and manifest; check every version, tag and prune marker."""
        from .maintenance import fsck

        return fsck(self.store, progress=progress)

    def prune(self, dataset: str, *, keep_last: int | None = None, older_than: str | None = None) -> PruneResult:
        """Expire old versions (``keep_last=N`` or ``older_than="30d"``); tagged ones are kept."""
        from .maintenance import parse_duration, prune

        self.store.check_create_only()
        age = parse_duration(older_than) if older_than is not None else None
        return prune(self.store, dataset, keep_last=keep_last, older_than=age)

    def gc(self, *, older_than: str = "7d", allow_short_grace: bool = False, dry_run: bool = True) -> GcResult:
        """List (``dry_run``) or delete unreferenced keys older than the grace period."""
        from .maintenance import gc, parse_duration

        if not dry_run:
            self.store.check_create_only()
        return gc(self.store, older_than=parse_duration(older_than), allow_short_grace=allow_short_grace, dry_run=dry_run)


def _counted(batches: Iterator[pa.RecordBatch], progress: Callable[[int], None] | None) -> Iterator[pa.RecordBatch]:
    for batch in batches:
        if progress is not None:
            progress(batch.num_rows)
        yield batch


def _same_data(parent: Manifest, draft: Manifest) -> bool:
    return (
        parent.fingerprint == draft.fingerprint
        and parent.schema.equals(draft.schema)
        and tuple(parent.key) == tuple(draft.key)
    )


def _replace(m: Manifest, **changes: Any) -> Manifest:
    import dataclasses

    return dataclasses.replace(m, **changes)


def _discover(start: Path) -> Path | None:
    for folder in (start, *start.parents):
        candidate = folder / DEFAULT_DIR
        if (candidate / MARKER).is_file():
            return candidate
    return None
