"""Per-chunk verdicts of a schema and where they are remembered (no pandera here).

A verdict is what the chunk-local checks of one schema said about one chunk:
failure counts and a few examples, with row positions inside the chunk. They
are stored create-only under ``validation/<schema hex>/<chunk fingerprint hex>.json``,
so validating a new version re-checks only chunks not seen before.

The checks that need every row (uniqueness, whole-column and dataframe-level
checks) have one verdict per snapshot: a :class:`SnapshotVerdict`, keyed by the
snapshot's row fingerprint under ``validation/<scope hex>/<rows fingerprint hex>.json``,
where the scope hashes the schema fingerprint and the key columns.

A stored verdict is trusted only when it is intact and was written under the
key it is read from (format/verdictfile.py); otherwise the data is checked
again and the file replaced.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol

import pyarrow as pa
import xxhash

from dvtool.errors import NotFoundError, StorageError
from dvtool.format.hashing import object_hex
from dvtool.format.verdictfile import ENGINE, encode_verdict, verdict_problem
from dvtool.validate.report import CheckFailure, Example

__all__ = [
    "ENGINE",
    "ChunkFailure",
    "ChunkInput",
    "ChunkVerdict",
    "MemoryVerdictCache",
    "PatchedRows",
    "SnapshotVerdict",
    "StoreVerdictCache",
    "VerdictCache",
    "snapshot_verdict_key",
    "verdict_key",
]


@dataclass(frozen=True, slots=True)
class ChunkFailure:
    """Failures of one check in one chunk; example rows are positions inside the chunk."""

    column: str | None
    check: str
    severity: Literal["error", "warning"]
    count: int  # failing rows
    examples: tuple[Example, ...] = ()
    cases: tuple[str, ...] = ()  # schema-level failures (wrong dtype, missing column): not rows
    raised: bool = False  # the check raised: ``cases`` holds the exception

    def to_dict(self) -> dict[str, Any]:
        return {
            "column": self.column,
            "check": self.check,
            "severity": self.severity,
            "count": self.count,
            "examples": [_example_dict(e) for e in self.examples],
            "cases": list(self.cases),
            "raised": self.raised,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ChunkFailure:
        return cls(
            column=d["column"],
            check=str(d["check"]),
            severity="warning" if d["severity"] == "warning" else "error",
            count=int(d["count"]),
            examples=tuple(
                Example(
                    value=e.get("value"),
                    row=e.get("row"),
                    key=tuple(e["key"].items()) if e.get("key") is not None else None,
                    count=e.get("count"),
                )
                for e in d["examples"]
            ),
            cases=tuple(str(c) for c in d["cases"]),
            raised=bool(d.get("raised", False)),
        )


@dataclass(frozen=True, slots=True)
class ChunkVerdict:
    """The chunk-local result of one schema on one chunk; cached as JSON."""

    rows: int
    key: tuple[str, ...]
    failures: tuple[ChunkFailure, ...]

    def encode(self, at: str) -> bytes:
        """The bytes stored at key ``at`` (which they record, with a checksum)."""
        body = {
            "rows": self.rows,
            "key": list(self.key),
            "failures": [f.to_dict() for f in self.failures],
        }
        return encode_verdict(body, kind="validation-verdict", at=at)

    @classmethod
    def decode(cls, data: bytes, at: str) -> ChunkVerdict | None:
        """The verdict stored at key ``at``, or None if it is not one dvtool can trust."""
        if verdict_problem(data, at) is not None:
            return None
        try:
            d = json.loads(data)
            if d.get("kind") != "validation-verdict" or d.get("engine") != ENGINE:
                return None
            return cls(
                rows=int(d["rows"]),
                key=tuple(d["key"]),
                failures=tuple(ChunkFailure.from_dict(f) for f in d["failures"]),
            )
        except (ValueError, KeyError, TypeError, AttributeError):
            return None  # an unreadable cache entry is a miss, not an error


def _example_dict(e: Example) -> dict[str, Any]:
    """An example as cached: its 0-based row (reports print rows 1-based)."""
    return {
        "value": e.value,
        "row": e.row,
        "key": dict(e.key) if e.key is not None else None,
        "count": e.count,
    }


def _example_from_dict(e: dict[str, Any]) -> Example:
    return Example(
        value=e.get("value"),
        row=e.get("row"),
        key=tuple(e["key"].items()) if e.get("key") is not None else None,
        count=e.get("count"),
    )


@dataclass(frozen=True, slots=True)
class SnapshotVerdict:
    """What the checks over all rows said about one snapshot's rows; cached as JSON."""

    rows: int
    key: tuple[str, ...]
    failures: tuple[CheckFailure, ...]

    def encode(self, at: str) -> bytes:
        """The bytes stored at key ``at`` (which they record, with a checksum)."""
        body = {
            "rows": self.rows,
            "key": list(self.key),
            "failures": [
                {
                    "column": f.column,
                    "check": f.check,
                    "failure_count": f.failure_count,
                    "examples": [_example_dict(e) for e in f.examples],
                    "severity": f.severity,
                    "also": [list(a) for a in f.also],
                    "own_count": f.own_count,
                }
                for f in self.failures
            ],
        }
        return encode_verdict(body, kind="validation-snapshot-verdict", at=at)

    @classmethod
    def decode(cls, data: bytes, at: str) -> SnapshotVerdict | None:
        """The verdict stored at key ``at``, or None if it is not one dvtool can trust."""
        if verdict_problem(data, at) is not None:
            return None
        try:
            d = json.loads(data)
            if d.get("kind") != "validation-snapshot-verdict" or d.get("engine") != ENGINE:
                return None
            return cls(
                rows=int(d["rows"]),
                key=tuple(d["key"]),
                failures=tuple(
                    CheckFailure(
                        f["column"],
                        str(f["check"]),
                        int(f["failure_count"]),
                        tuple(_example_from_dict(e) for e in f["examples"]),
                        "warning" if f["severity"] == "warning" else "error",
                        tuple((str(a[0]), int(a[1])) for a in f.get("also", ())),
                        own_count=f.get("own_count"),
                    )
                    for f in d["failures"]
                ),
            )
        except (ValueError, KeyError, TypeError, AttributeError):
            return None  # an unreadable cache entry is a miss, not an error


def snapshot_verdict_key(schema_fingerprint: str, rows_fingerprint: str, key: Sequence[str]) -> str:
    """``validation/<scope hex>/<rows fingerprint hex>.json`` (scope: schema and key columns)."""
    scope = xxhash.xxh3_128_hexdigest(
        json.dumps(["snapshot", schema_fingerprint, list(key)]).encode("utf-8")
    )
    return f"validation/{scope}/{object_hex(rows_fingerprint)}.json"


class VerdictCache(Protocol):
    def get(self, schema_fingerprint: str, chunk_fingerprint: str) -> ChunkVerdict | None: ...

    def put(
        self, schema_fingerprint: str, chunk_fingerprint: str, verdict: ChunkVerdict
    ) -> None: ...

    def get_snapshot(
        self, schema_fingerprint: str, rows_fingerprint: str, key: Sequence[str]
    ) -> SnapshotVerdict | None: ...

    def put_snapshot(
        self, schema_fingerprint: str, rows_fingerprint: str, verdict: SnapshotVerdict
    ) -> None: ...


def verdict_key(schema_fingerprint: str, chunk_fingerprint: str) -> str:
    """The store key of a cached verdict: ``validation/<schema hex>/<chunk fingerprint hex>.json``."""
    return f"validation/{object_hex(schema_fingerprint)}/{object_hex(chunk_fingerprint)}.json"


class MemoryVerdictCache:
    """A dict-backed cache (tests, one-off runs)."""

    def __init__(self) -> None:
        self.entries: dict[tuple[str, str], ChunkVerdict] = {}
        self.snapshots: dict[str, SnapshotVerdict] = {}

    def get(self, schema_fingerprint: str, chunk_fingerprint: str) -> ChunkVerdict | None:
        return self.entries.get((schema_fingerprint, chunk_fingerprint))

    def put(self, schema_fingerprint: str, chunk_fingerprint: str, verdict: ChunkVerdict) -> None:
        self.entries[(schema_fingerprint, chunk_fingerprint)] = verdict

    def get_snapshot(
        self, schema_fingerprint: str, rows_fingerprint: str, key: Sequence[str]
    ) -> SnapshotVerdict | None:
        return self.snapshots.get(snapshot_verdict_key(schema_fingerprint, rows_fingerprint, key))

    def put_snapshot(
        self, schema_fingerprint: str, rows_fingerprint: str, verdict: SnapshotVerdict
    ) -> None:
        self.snapshots[snapshot_verdict_key(schema_fingerprint, rows_fingerprint, verdict.key)] = (
            verdict
        )


class StoreVerdictCache:
    """Verdicts under ``validation/…`` in a repository store, written create-only.

    With ``defer=True`` puts are held until :meth:`flush`, so `snapshot --schema`
    can cache verdicts only for the chunks it actually commits.
    """

    def __init__(self, store: Any, *, defer: bool = False) -> None:
        self.store = store
        self.defer = defer
        self.pending: dict[tuple[str, str], ChunkVerdict] = {}
        self.pending_snapshots: dict[str, SnapshotVerdict] = {}
        self.bad: set[str] = set()  # keys of stored verdicts found untrustworthy: replaced on put

    def _read(self, where: str) -> bytes | None:
        try:
            data: bytes = self.store.read(where)
        except (NotFoundError, StorageError, ValueError):
            return None
        if verdict_problem(data, where) is not None:
            self.bad.add(where)
            return None
        return data

    def get(self, schema_fingerprint: str, chunk_fingerprint: str) -> ChunkVerdict | None:
        try:
            where = verdict_key(schema_fingerprint, chunk_fingerprint)
        except ValueError:
            return None
        data = self._read(where)
        return None if data is None else ChunkVerdict.decode(data, where)

    def put(self, schema_fingerprint: str, chunk_fingerprint: str, verdict: ChunkVerdict) -> None:
        if self.defer:
            self.pending[(schema_fingerprint, chunk_fingerprint)] = verdict
        else:
            self._write(schema_fingerprint, chunk_fingerprint, verdict)

    def get_snapshot(
        self, schema_fingerprint: str, rows_fingerprint: str, key: Sequence[str]
    ) -> SnapshotVerdict | None:
        try:
            where = snapshot_verdict_key(schema_fingerprint, rows_fingerprint, key)
        except ValueError:
            return None
        data = self._read(where)
        return None if data is None else SnapshotVerdict.decode(data, where)

    def put_snapshot(
        self, schema_fingerprint: str, rows_fingerprint: str, verdict: SnapshotVerdict
    ) -> None:
        try:
            where = snapshot_verdict_key(schema_fingerprint, rows_fingerprint, verdict.key)
        except ValueError:
            return  # not an xxh128 fingerprint: not remembered
        if self.defer:
            self.pending_snapshots[where] = verdict
        else:
            self._put(where, verdict.encode(where))

    def flush(self, chunk_fingerprints: Collection[str] | None = None) -> int:
        """Write held verdicts (only of ``chunk_fingerprints`` when given); returns how many.

        Snapshot verdicts are written only by a full flush (the snapshot committed).
        """
        n = 0
        for (s, c), verdict in sorted(self.pending.items(), key=lambda kv: kv[0]):
            if chunk_fingerprints is None or c in chunk_fingerprints:
                n += self._write(s, c, verdict)
        if chunk_fingerprints is None:
            for where, snap in sorted(self.pending_snapshots.items()):
                n += self._put(where, snap.encode(where))
        self.pending.clear()
        self.pending_snapshots.clear()
        return n

    def _write(self, s: str, c: str, verdict: ChunkVerdict) -> int:
        try:
            where = verdict_key(s, c)
        except ValueError:
            return 0
        return self._put(where, verdict.encode(where))

    def _put(self, where: str, data: bytes) -> int:
        try:
            if where in self.bad:
                self.store.delete(where)  # a cache entry that could not be trusted: replace it
                self.bad.discard(where)
            return int(bool(self.store.put_object(where, data)))
        except (ValueError, StorageError):
            # The cache is an optimisation: a read-only repository or an id that is
            # not an xxh128 fingerprint just means the verdict is not remembered.
            return 0


@dataclass(frozen=True, slots=True)
class PatchedRows:
    """A patched chunk as its base chunk and new rows (validate/patchrows.py says how it is used)."""

    base_fingerprint: str  # the base chunk's: its cached verdict may cover the kept rows
    base_rows: int
    upsert_rows: int
    upserts: Callable[[], pa.Table]  # the patch's new rows for this chunk, in key order
    # Each upsert's row in the patched chunk (reads the base chunk's key columns).
    positions: Callable[[], Sequence[int]]


@dataclass(frozen=True, slots=True)
class ChunkInput:
    """One chunk to validate: ``load()`` returns its rows; ``fingerprint`` keys its cached verdict."""

    fingerprint: str | None
    row_offset: int
    rows: int
    load: Callable[[], pa.Table]
    # Raises (NotFoundError/IntegrityError) unless the stored chunk is present and
    # intact; called before a cached verdict of it is used. None: nothing stored to check.
    verify: Callable[[], None] | None = None
    # A patched chunk of a committed snapshot: checked by its new rows when its
    # base chunk's verdict is clean (validate/patchrows.py).
    patched: PatchedRows | None = None
