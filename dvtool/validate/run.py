"""The validation entry points: a snapshot's chunks or a stream of batches, one report.

:func:`validate_chunks` runs the chunk-local checks group by group (polars
backend for polars schemas, zero-copy from Arrow; pandas otherwise), with
data-level checks forced on, and the checks that span chunks (column and
schema-level ``unique``, key uniqueness, ``unique_values_eq``) once over all
the Parquet files in DuckDB. Chunk verdicts are cached per (schema
fingerprint, chunk fingerprint) through a :class:`VerdictCache`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import re
import shutil
import tempfile
from collections.abc import Callable, Collection, Iterable, Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import xxhash

from dvtool.errors import IntegrityError, NotFoundError, StorageError, ValidationFailed
from dvtool.format.hashing import ALGORITHM
from dvtool.format.layout import object_key
from dvtool.format.models import ChunkInfo, Manifest
from dvtool.snapshot import Snapshot
from dvtool.storage import Store, redact_url
from dvtool.validate.crosschecks import global_checks
from dvtool.validate.engine import (
    check_group,
    component_of,
    group_rows,
    pandas_context,
    plan_checks,
    validation_record,
)
from dvtool.validate.faults import distinct_values, one_per_fault
from dvtool.validate.patchrows import base_is_clean, moved, patched_rows
from dvtool.validate.report import N_EXAMPLES, CheckFailure, Example, ValidationReport
from dvtool.validate.schema import LoadedSchema
from dvtool.validate.verdicts import (
    ChunkInput,
    ChunkVerdict,
    PatchedRows,
    SnapshotVerdict,
    StoreVerdictCache,
    VerdictCache,
)
from dvtool.validate.whole import whole_checks
from dvtool.write.pipeline import GatePassed
from dvtool.write.staging import Staging

__all__ = ["SchemaGate", "validate_batches", "validate_chunks", "validate_manifest"]


def validate_chunks(
    loaded: LoadedSchema,
    chunks: Sequence[ChunkInput],
    *,
    parquet_files: Sequence[str] | Callable[[], Sequence[str]] | None,
    columns: Sequence[str],
    filesystem: Any = None,
    key: Sequence[str] = (),
    cache: VerdictCache | None = None,
    target: str = "data",
    n_examples: int = N_EXAMPLES,
    key_guaranteed: bool = False,
    arrow_schema: pa.Schema | None = None,
    null_columns: Collection[str] | None = None,
    rows_fingerprint: str | None = None,
) -> ValidationReport:
    """Validate ``chunks`` (in row order) against ``loaded``.

    ``parquet_files`` are the same chunks as Parquet files (paths or URLs that
    DuckDB can read, through ``filesystem`` when given), in the same order;
    they are only read when the schema has checks over all rows, and may be
    given as a callable so that verifying them costs nothing otherwise.
    ``columns`` are the data's column names, ``arrow_schema`` their types and
    ``null_columns`` the columns holding a null anywhere (both found from the
    chunks when not given; a pandas schema needs them, see ``to_frame``).
    ``key_guaranteed``: the rows are a committed snapshot whose ``key`` was
    checked unique and null-free when it was written, so a uniqueness check
    over the key columns (or a superset of them) cannot fail and is not run
    again over the whole data.
    ``rows_fingerprint``: the rows' fingerprint (a snapshot's); the verdict of
    the checks over all rows is then cached per snapshot.
    """
    plan = plan_checks(loaded, columns, key)
    if key_guaranteed and key:
        keyset = set(key)
        plan = dataclasses.replace(
            plan, uniques=tuple(u for u in plan.uniques if not keyset <= set(u.columns))
        )
    nulls: frozenset[str] = frozenset()
    chunk_scope = loaded.fingerprint
    if loaded.backend == "pandas":
        if null_columns is None or arrow_schema is None:
            arrow_schema, null_columns = _scan_nulls(chunks, arrow_schema)
        nulls = frozenset(pandas_context(arrow_schema, null_columns))
        if nulls:
            # A chunk's pandas types depend on these columns' nulls elsewhere:
            # its cached verdict is only valid in the same context.
            scope = json.dumps([loaded.fingerprint, sorted(nulls)]).encode("utf-8")
            chunk_scope = f"{ALGORITHM}:{xxhash.xxh3_128_hexdigest(scope)}"
    merged: dict[tuple[str | None, str, str], tuple[int, list[Example], list[str]]] = {}
    raised: set[tuple[str | None, str, str]] = set()
    rows = 0
    verdicts: list[ChunkVerdict | None] = []
    if not loaded.proven:
        cache = None  # a verdict is reused only for a schema known to be the same one
    # Patched chunks whose base chunk passed every chunk-local check: only their
    # new rows are checked (validate/patchrows.py).
    by_upserts: dict[int, PatchedRows] = {}
    for i, chunk in enumerate(chunks):
        verdict = None
        if cache is not None and chunk.fingerprint:
            verdict = cache.get(chunk_scope, chunk.fingerprint)
            if verdict is not None and (verdict.key != tuple(key) or verdict.rows != chunk.rows):
                verdict = None
            if (
                verdict is None
                and chunk.patched is not None
                and base_is_clean(cache, chunk_scope, chunk.patched, key)
            ):
                by_upserts[i] = chunk.patched
        verdicts.append(verdict)
    # A cached verdict speaks for the chunk's bytes only while they are there and intact.
    _verify_all(
        [
            c.verify
            for i, (c, v) in enumerate(zip(chunks, verdicts, strict=True))
            if (v is not None or i in by_upserts) and c.verify
        ]
    )
    reused = sum(v is not None for v in verdicts)
    checked = len(chunks) - reused
    for i, patched in by_upserts.items():
        if patched.upsert_rows == 0:  # rows removed only: the base verdict covers what is left
            verdicts[i] = ChunkVerdict(chunks[i].rows, tuple(key), ())

    def flush(group: list[int]) -> None:
        tables = [by_upserts[i].upserts() if i in by_upserts else chunks[i].load() for i in group]
        for i, verdict in zip(
            group, check_group(plan, loaded, tables, key, target, n_examples, nulls), strict=True
        ):
            if i in by_upserts:
                verdict = moved(verdict, by_upserts[i], chunks[i].rows)
            verdicts[i] = verdict
            fp = chunks[i].fingerprint
            if cache is not None and fp:
                cache.put(chunk_scope, fp, verdict)

    limit = group_rows()
    group: list[int] = []
    size = 0
    for i, chunk in enumerate(chunks):
        if verdicts[i] is not None:
            continue
        rows_in = by_upserts[i].upsert_rows if i in by_upserts else chunk.rows
        if group and size + rows_in > limit:
            flush(group)
            group, size = [], 0
        group.append(i)
        size += rows_in
    if group:
        flush(group)

    for chunk, maybe in zip(chunks, verdicts, strict=True):
        assert maybe is not None
        verdict = maybe
        rows += verdict.rows
        for f in verdict.failures:
            count, examples, cases = merged.setdefault((f.column, f.check, f.severity), (0, [], []))
            for e in f.examples:
                row = e.row + chunk.row_offset if e.row is not None else None
                examples.append(Example(value=e.value, row=row, key=e.key, count=e.count))
            cases.extend(c for c in f.cases if c not in cases)
            merged[(f.column, f.check, f.severity)] = (count + f.count, examples, cases)
            if f.raised:
                raised.add((f.column, f.check, f.severity))
    results: list[CheckFailure] = []
    for (column, check, sev), (count, examples, cases) in merged.items():
        shown = (
            distinct_values(examples)
            if examples and all(e.count for e in examples)
            else examples[:n_examples]
        )
        if not shown:
            shown = [Example(value=c) for c in cases[:n_examples]]
        results.append(
            CheckFailure(
                column,
                check,
                count + len(cases),
                tuple(shown),
                "warning" if sev == "warning" else "error",
                raised=(column, check, sev) in raised,
            )
        )
    files_cache: list[Sequence[str]] = []

    def files_once() -> Sequence[str]:
        if not files_cache:
            files = parquet_files() if callable(parquet_files) else parquet_files
            if files is None:
                raise ValueError("validate_chunks needs parquet_files for cross-chunk checks")
            if len(files) != len(chunks):
                raise ValueError("parquet_files must list the same chunks, in the same order")
            files_cache.append(files)
        return files_cache[0]

    if plan.uniques or plan.value_sets or plan.whole is not None:
        snap = None
        if cache is not None and rows_fingerprint:
            snap = cache.get_snapshot(loaded.fingerprint, rows_fingerprint, key)
            if snap is not None and snap.rows != rows:
                snap = None
        if snap is None:
            found: list[CheckFailure] = []
            if plan.uniques or plan.value_sets:
                offsets = [c.row_offset for c in chunks]
                found.extend(
                    global_checks(
                        plan.uniques,
                        plan.value_sets,
                        files_once(),
                        offsets,
                        filesystem,
                        columns,
                        key,
                        n_examples,
                    )
                )
            if plan.whole is not None:
                found.extend(
                    whole_checks(
                        plan, loaded, chunks, files_once, filesystem, key, target, n_examples, nulls
                    )
                )
            snap = SnapshotVerdict(rows=rows, key=tuple(key), failures=tuple(found))
            if cache is not None and rows_fingerprint:
                cache.put_snapshot(loaded.fingerprint, rows_fingerprint, snap)
        results.extend(snap.failures)
    order = {c: i for i, c in enumerate(plan.checks)}
    labels = frozenset(str(c) for c in loaded.schema.columns)

    def position(r: CheckFailure) -> tuple[int, str, str]:
        where = component_of(r.column, labels, plan.regexes)
        return (order.get((where, r.check), len(order)), str(r.column), r.check)

    results.sort(key=position)
    results = one_per_fault(results)
    return ValidationReport(
        schema=loaded.name,
        schema_fingerprint=loaded.fingerprint,
        target=target,
        rows_checked=rows,
        errors=tuple(r for r in results if r.severity == "error" and not r.raised),
        warnings=tuple(r for r in results if r.severity == "warning" and not r.raised),
        check_errors=tuple(r for r in results if r.raised),
        chunks_checked=checked,
        chunks_reused=reused,
        notes=(
            (() if loaded.proven else (f"cached verdicts not used: {loaded.unproven}",))
            + (
                (
                    f"{len(by_upserts)} patched chunk(s) checked by their new rows only: "
                    "their base chunks passed every row check",
                )
                if by_upserts
                else ()
            )
        ),
        checks=plan.checks,
        schema_lines=loaded.lines,
        name=_suite_name(target, loaded),
    )


def _verify_all(checks: Sequence[Callable[[], None]]) -> None:
    """Run the chunk checks (a re-hash on local stores) on a few threads; the first failure is raised."""
    if len(checks) <= 1:
        for check in checks:
            check()
        return
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=min(8, os.cpu_count() or 2)) as pool:
        for _ in pool.map(lambda check: check(), checks):
            pass


def _suite_name(target: str, loaded: LoadedSchema) -> str:
    """The dataset validated (``orders@v2``, ``orders (new version)``), else the schema's own name."""
    m = re.fullmatch(r"([A-Za-z0-9][A-Za-z0-9._-]*)(@\S+| \(new version\))", target)
    if m:
        return m.group(1)
    named = getattr(loaded.schema, "name", None)
    return str(named) if named else Path(loaded.name.split(":", 1)[0]).stem


def _scan_nulls(
    chunks: Sequence[ChunkInput], schema: pa.Schema | None
) -> tuple[pa.Schema, set[str]]:
    """The data's types and its columns holding a null, read from the chunks (a fallback)."""
    nulls: set[str] = set()
    for chunk in chunks:
        table = chunk.load()
        schema = schema or table.schema
        nulls.update(
            f.name for f, col in zip(table.schema, table.columns, strict=True) if col.null_count
        )
    return schema or pa.schema([]), nulls


def _parquet_loader(path: str) -> Callable[[], pa.Table]:
    return lambda: pq.read_table(path)


def validate_batches(
    loaded: LoadedSchema,
    batches: Iterable[pa.RecordBatch | pa.Table],
    *,
    schema: pa.Schema,
    key: Sequence[str] = (),
    target: str = "data",
    rows_per_chunk: int = 128 * 1024,
    n_examples: int = N_EXAMPLES,
) -> ValidationReport:
    """Validate a stream (a SOURCE) in bounded memory: spool it to temporary Parquet chunks first.

    Nothing is cached: verdicts are kept only for chunks that are committed.
    """
    rows_per_chunk = max(1, min(rows_per_chunk, group_rows()))
    with tempfile.TemporaryDirectory(prefix="dvtool-validate-") as tmp:
        chunks: list[ChunkInput] = []
        files: list[str] = []
        pending: list[pa.RecordBatch | pa.Table] = []
        pending_rows = offset = 0
        nulls: set[str] = set()

        def spill() -> None:
            nonlocal pending, pending_rows, offset
            path = str(Path(tmp) / f"chunk-{len(files):06d}.parquet")
            table = (
                pa.Table.from_batches([], schema=schema)
                if not pending
                else pa.concat_tables(
                    [p if isinstance(p, pa.Table) else pa.Table.from_batches([p]) for p in pending]
                )
            )
            pq.write_table(table, path)
            nulls.update(
                f.name for f, c in zip(table.schema, table.columns, strict=True) if c.null_count
            )
            chunks.append(ChunkInput(None, offset, table.num_rows, _parquet_loader(path)))
            files.append(path)
            offset += table.num_rows
            pending, pending_rows = [], 0

        for batch in batches:
            while batch.num_rows:
                take = min(batch.num_rows, rows_per_chunk - pending_rows)
                pending.append(batch.slice(0, take))
                pending_rows += take
                batch = batch.slice(take)
                if pending_rows >= rows_per_chunk:
                    spill()
        if pending or not chunks:
            spill()
        return validate_chunks(
            loaded,
            chunks,
            parquet_files=files,
            columns=schema.names,
            key=key,
            target=target,
            n_examples=n_examples,
            arrow_schema=schema,
            null_columns=nulls,
        )


def check_chunk(store: Store, chunk: ChunkInfo) -> None:
    """Raise unless ``chunk``'s object is present and intact, as cheaply as the store allows.

    Local stores re-hash the file (xxh3-128 reads at disk speed, nothing is
    decoded); remote stores check that the object exists with its recorded size.
    """
    key = object_key(chunk.object)
    if store.local_path(key) is not None:
        store.read_verified(key, chunk.object)
        return
    where = redact_url(store.full_url(key))
    size = store.size(key)
    if size is None:
        raise NotFoundError(f"object {chunk.object} is missing at {where}; run 'dvtool fsck'")
    if size != chunk.bytes:
        raise IntegrityError(
            f"object {chunk.object} at {where} has {size} bytes, not {chunk.bytes}; run 'dvtool fsck'"
        )


def validate_manifest(
    store: Store,
    loaded: LoadedSchema,
    manifest: Manifest,
    *,
    target: str,
    cache: VerdictCache | None,
    staging: Staging | None = None,
    progress: Callable[[int], None] | None = None,
) -> ValidationReport:
    """Validate the chunks of ``manifest`` (staged ones read from ``staging``, the rest verified)."""
    staged = set(staging.order) if staging is not None else set()
    snap = Snapshot(store, manifest, "")
    logical = snap.chunks  # a patched chunk is validated as its rows after the patch
    scratch: list[str] = []  # a folder for patched chunks that DuckDB reads as files

    def load(chunk: ChunkInfo) -> pa.Table:
        if staging is None or chunk.object not in staged:
            return snap.read_chunk(chunk)
        table = pq.read_table(pa.BufferReader(staging.get(chunk.object)))
        return table if table.schema.equals(manifest.schema) else table.cast(manifest.schema)

    def patched_file(chunk: ChunkInfo) -> str:
        if not scratch:
            scratch.append(tempfile.mkdtemp(prefix="dvtool-validate-"))
        path = os.path.join(scratch[0], f"{len(os.listdir(scratch[0]))}.parquet")
        pq.write_table(snap.read_chunk(chunk), path)
        return path

    def files() -> list[str]:
        out = []
        for c in logical:
            if snap.has_patch(c):
                out.append(patched_file(c))
                continue
            if staging is not None and c.object in staged:
                out.append(staging.local_path(c.object))
                continue
            k = object_key(c.object)
            store.read_verified(k, c.object)  # DuckDB reads the file: check it first
            out.append(store.local_path(k) or store.full_url(k))
        return out

    def loader(chunk: ChunkInfo) -> Callable[[], pa.Table]:
        def run() -> pa.Table:
            table = load(chunk)
            if progress is not None:
                progress(table.num_rows)
            return table

        return run

    def verifier(chunk: ChunkInfo) -> Callable[[], None] | None:
        if chunk.object in staged:
            return None  # bytes this run has just staged
        if snap.has_patch(chunk) and manifest.patch is not None:
            patch_objects = manifest.patch.objects

            def check_patched() -> None:  # its rows are the base chunk's and the patch's
                check_chunk(store, chunk)
                for o in patch_objects:
                    check_chunk(store, ChunkInfo(o.object, "", o.rows, o.bytes))

            return check_patched
        return lambda: check_chunk(store, chunk)

    chunks, offset = [], 0
    for c in logical:
        chunks.append(
            ChunkInput(
                c.fingerprint,
                offset,
                c.rows,
                loader(c),
                verifier(c),
                # a committed version's patched chunk (a draft is never patched)
                patched_rows(store, snap, c, progress) if staging is None else None,
            )
        )
        offset += c.rows
    remote = any(store.local_path(object_key(c.object)) is None for c in manifest.chunks)
    try:
        return _validate_logical(
            loaded,
            chunks,
            files,
            manifest,
            logical,
            store if remote else None,
            cache,
            target,
            staging is None,
        )
    finally:
        if scratch:
            shutil.rmtree(scratch[0], ignore_errors=True)


def _validate_logical(
    loaded: LoadedSchema,
    chunks: list[ChunkInput],
    files: Callable[[], list[str]],
    manifest: Manifest,
    described: Sequence[
        ChunkInfo
    ],  # the chunks as readers see them (a patched one: after its patch)
    remote: Store | None,
    cache: VerdictCache | None,
    target: str,
    key_guaranteed: bool,
) -> ValidationReport:
    return validate_chunks(
        loaded,
        chunks,
        parquet_files=files,
        columns=manifest.schema.names,
        filesystem=remote.filesystem if remote is not None else None,
        key=manifest.key,
        cache=cache,
        target=target,
        arrow_schema=manifest.schema,
        # Manifests without per-chunk statistics: found from the chunks instead.
        null_columns=(
            None
            if any(not c.stats for c in described)
            else {n for c in described for n, st in c.stats if st.nulls}
        ),
        rows_fingerprint=manifest.fingerprint,
        # A committed snapshot's key was proven unique when it was written;
        # a draft's key is checked here, so duplicates show in the report.
        key_guaranteed=key_guaranteed,
    )


class SchemaGate:
    """The snapshot gate: validate a draft before anything is written.

    A failed draft raises :class:`ValidationFailed`; verdicts of a passing one
    are held back and remembered only once the version is committed. The
    report of the last call is kept in :attr:`report`.
    """

    def __init__(self, store: Store, loaded: LoadedSchema) -> None:
        self.store = store
        self.loaded = loaded
        self.report: ValidationReport | None = None

    def __call__(self, draft: Manifest, staging: Staging) -> GatePassed:
        cache = StoreVerdictCache(self.store, defer=True)
        report = validate_manifest(
            self.store,
            self.loaded,
            draft,
            target=f"{draft.dataset} (new version)",
            cache=cache,
            staging=staging,
        )
        self.report = report
        if not report.ok:
            raise ValidationFailed(report)

        def after_commit() -> None:
            # The verdict cache is an optimisation; the commit already happened.
            with contextlib.suppress(StorageError):
                cache.flush()

        return GatePassed(validation_record(self.loaded, report), after_commit)
