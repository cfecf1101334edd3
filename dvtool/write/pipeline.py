"""A snapshot's write path: SOURCE → draft (staged chunks) → gate → publish → commit.

``write_snapshot`` is what ``Repo.snapshot`` runs. It knows nothing of
pandera: the schema gate is a callable the facade passes in, called on the
draft before anything is published. A failed gate, a duplicate key or bad
input leaves the repository's files exactly as they were.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass

from dvtool.catalog import Catalog
from dvtool.crashpoints import crash_point
from dvtool.format.models import Manifest, SourceRecord, ValidationRecord
from dvtool.ingest import statcache
from dvtool.ingest.sources import Source
from dvtool.ingest.sourcestate import source_record
from dvtool.storage import Store
from dvtool.write import resume
from dvtool.write.commit import Committed, commit_version, publish_staged, recheck_deduped
from dvtool.write.draft import build_draft
from dvtool.write.patching import patch_draft
from dvtool.write.staging import Staging

__all__ = ["Gate", "GatePassed", "WriteOutcome", "compact_latest", "same_data", "write_snapshot"]


@dataclass(frozen=True, slots=True)
class GatePassed:
    """A gate's verdict on a draft that passed: the record kept in the manifest, and
    what to do once the version is committed (e.g. remember chunk verdicts)."""

    record: ValidationRecord
    after_commit: Callable[[], None]


# Called with the draft manifest and its staged chunks; raises ValidationFailed on bad data.
Gate = Callable[[Manifest, Staging], GatePassed]


@dataclass(frozen=True, slots=True)
class WriteOutcome:
    """``committed`` is None when the data equals version ``unchanged_version``."""

    committed: Committed | None
    unchanged_version: int | None
    new_chunks: int = 0
    bytes_written: int = 0


def same_data(parent: Manifest, draft: Manifest) -> bool:
    return (
        parent.fingerprint == draft.fingerprint
        and parent.schema.equals(draft.schema)
        and tuple(parent.key) == tuple(draft.key)
    )


def write_snapshot(
    store: Store,
    src: Source,
    *,
    dataset: str,
    key: tuple[str, ...],
    message: str,
    meta: tuple[tuple[str, str], ...],
    gate: Gate | None = None,
    progress: Callable[[int], None] | None = None,
) -> WriteOutcome:
    """Stage, check and commit the next version of ``dataset`` from ``src``."""
    catalog = Catalog(store)
    head = catalog.head(dataset)
    parent = catalog.manifest_of(head) if head else None
    content_id: list[str | None] = []  # computed at most once
    record: list[SourceRecord] = []  # where the rows came from, for the manifest (files only)

    def content_identity() -> str | None:
        if not content_id:
            paths, formats = zip(*src.local_files, strict=True) if src.local_files else ((), ())
            hashes = [f.hash for f in record[0].files] if record else []
            content_id.append(
                statcache.content_identity(paths, formats, src.read.token(), hashes)
                if paths
                else None
            )
        return content_id[0]

    def remember(fingerprint: str) -> None:
        statcache.remember(src.identity, key, fingerprint)
        statcache.remember(content_identity(), key, fingerprint)

    # The same local files, untouched since they gave the latest version, or an
    # identical copy of them (same bytes): unchanged, without reading a row.
    comparable = (
        parent is not None
        and tuple(parent.key) == key
        and parent.schema.equals(src.schema)
        and src.identity is not None
    )
    if (
        parent is not None
        and comparable
        and statcache.lookup(src.identity, key) == parent.fingerprint
    ):
        statcache.remember(src.identity, key, parent.fingerprint)
        return WriteOutcome(None, parent.version)
    # Local Parquet: each row group's identity (the same pass hashes the whole
    # files, so the content identity below reads nothing more).
    groups = resume.input_row_groups(src)
    if (
        parent is not None
        and comparable
        and statcache.lookup(content_identity(), key) == parent.fingerprint
    ):
        statcache.remember(src.identity, key, parent.fingerprint)
        return WriteOutcome(None, parent.version)
    # Local Parquet whose first row groups gave the parent: go on after the parent's rows.
    point = resume.find(src, parent, key, groups)
    checkpoints = resume.Checkpoints()
    staging = Staging(store.staging_dir())
    passed: GatePassed | None = None
    try:
        draft, key_problem = build_draft(
            src, dataset, key, parent, staging, progress, point, checkpoints
        )
        if key_problem is not None and gate is None:
            raise key_problem
        if parent is not None and head is not None and same_data(parent, draft):
            remember(draft.fingerprint)
            resume.remember(groups, src, key, head.manifest, parent, checkpoints)
            return WriteOutcome(None, parent.version)
        if gate is not None:
            # With a schema, duplicate keys are reported in the full validation
            # report (its cross-chunk key check) together with every other failure.
            passed = gate(draft, staging)
            if key_problem is not None:
                raise key_problem
            draft = dataclasses.replace(draft, validation=passed.record)
        if src.args:
            record.append(source_record(src.args, src.format, src.read.to_dict(), src.probes))
            draft = dataclasses.replace(draft, source=record[0])
        # Keyed: store scattered edits as a patch over the parent's chunks (dvtool.write.patching).
        draft = patch_draft(store, parent, draft, staging)
        crash_point("snapshot.after_patch_planned")
        # Commits rely on create-only writes: refuse a store that ignores them.
        store.check_create_only()
        crash_point("snapshot.after_chunks_staged")
        published = publish_staged(store, staging)
        crash_point("snapshot.after_objects_published")
        committed = commit_version(
            store,
            dataset,
            draft,
            message=message,
            meta=meta,
            before_entry=lambda: recheck_deduped(store, published.deduped, staging),
        )
    finally:
        staging.close()
    remember(draft.fingerprint)
    resume.remember(groups, src, key, committed.manifest_id, committed.manifest, checkpoints)
    if passed is not None:
        passed.after_commit()
    return WriteOutcome(
        committed, None, published.new_chunks, published.bytes_written + committed.bytes_written
    )


def compact_latest(
    store: Store, dataset: str, *, message: str, progress: Callable[[int], None] | None = None
) -> WriteOutcome:
    """Commit the latest version again with every patched chunk rewritten (same rows, format 1).

    ``committed`` is None when the latest version has no patch.
    """
    from dvtool.write.patching import compact_manifest

    catalog = Catalog(store)
    head = catalog.head(dataset)
    if head is None:
        return WriteOutcome(None, None)
    latest = catalog.manifest_of(head)
    if latest.patch is None:
        return WriteOutcome(None, latest.version)
    staging = Staging(store.staging_dir())
    try:
        draft = compact_manifest(store, latest, staging, progress)
        store.check_create_only()
        crash_point("compact.after_chunks_staged")
        published = publish_staged(store, staging)
        crash_point("compact.after_objects_published")
        committed = commit_version(
            store,
            dataset,
            draft,
            message=message,
            meta=latest.meta,
            before_entry=lambda: recheck_deduped(store, published.deduped, staging),
        )
    finally:
        staging.close()
    return WriteOutcome(
        committed, None, published.new_chunks, published.bytes_written + committed.bytes_written
    )
