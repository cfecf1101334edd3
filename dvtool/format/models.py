"""Frozen values of the repository format and their canonical JSON encoding.

Everything written to a repository is canonical JSON: sorted keys, compact
separators, UTF-8, no NaN. The same value always encodes to the same bytes,
so manifests can be addressed by the hash of their bytes. `docs/format.md`
describes every field; golden files in `fixtures/golden/` pin the encoding.
"""

from __future__ import annotations

import base64
import builtins
import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from dvtool.errors import IntegrityError
from dvtool.format.patches import PATCH_FORMAT, Patch, PatchObject

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = [
    "FORMAT_VERSION",
    "V1",
    "ChunkInfo",
    "Chunking",
    "ColumnStats",
    "Manifest",
    "SourceFile",
    "SourceRecord",
    "TagEntry",
    "ValidationRecord",
    "VersionEntry",
    "canonical_json",
    "parse_json",
    "schema_fields",
    "schema_from_b64",
    "schema_to_b64",
]

from dvtool._version import FORMAT_VERSION

V1 = 1  # the format of every document that needs nothing newer (docs/format.md, "Compatibility")

JSONValue = Any


def canonical_json(value: JSONValue) -> bytes:
    """Deterministic bytes for ``value``: sorted keys, no spaces, UTF-8, no NaN."""
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode("utf-8")


def parse_json(data: bytes, what: str) -> dict[str, Any]:
    try:
        value = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise IntegrityError(f"{what} is not valid JSON ({exc})") from None
    if not isinstance(value, dict):
        raise IntegrityError(f"{what} is not a JSON object")
    return value


def schema_to_b64(schema: pa.Schema) -> str:
    """The Arrow IPC encoding of ``schema``, base64: exact types survive a round trip."""
    return base64.b64encode(schema.serialize().to_pybytes()).decode("ascii")


def schema_from_b64(text: str) -> pa.Schema:
    import pyarrow as pa  # lazily: `dvtool log` never decodes a schema

    return pa.ipc.read_schema(pa.py_buffer(base64.b64decode(text)))


def schema_fields(schema: pa.Schema) -> tuple[dict[str, str], ...]:
    """A readable description: one ``{"name", "type"}`` per column."""
    return tuple({"name": f.name, "type": str(f.type)} for f in schema)


@dataclass(frozen=True, slots=True)
class ColumnStats:
    """Per-column statistics of one chunk. min/max are JSON values or None when not kept."""

    nulls: int
    min: JSONValue = None
    max: JSONValue = None

    def to_dict(self) -> dict[str, Any]:
        return {"nulls": self.nulls, "min": self.min, "max": self.max}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ColumnStats:
        return cls(nulls=int(d["nulls"]), min=d.get("min"), max=d.get("max"))


@dataclass(frozen=True, slots=True)
class ChunkInfo:
    """One chunk of a snapshot: an immutable Parquet object and what is known about it."""

    object: str  # xxh128 id of the stored Parquet bytes
    fingerprint: str  # xxh128 fingerprint of the rows (format independent)
    rows: int
    bytes: int
    key_min: tuple[JSONValue, ...] | None = None
    key_max: tuple[JSONValue, ...] | None = None
    stats: tuple[tuple[str, ColumnStats], ...] = ()

    def stats_dict(self) -> builtins.dict[str, ColumnStats]:
        return dict(self.stats)

    def to_dict(self) -> dict[str, Any]:
        return {
            "object": self.object,
            "fingerprint": self.fingerprint,
            "rows": self.rows,
            "bytes": self.bytes,
            "key_min": list(self.key_min) if self.key_min is not None else None,
            "key_max": list(self.key_max) if self.key_max is not None else None,
            "stats": {name: s.to_dict() for name, s in self.stats},
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ChunkInfo:
        return cls(
            object=str(d["object"]),
            fingerprint=str(d["fingerprint"]),
            rows=int(d["rows"]),
            bytes=int(d["bytes"]),
            key_min=tuple(d["key_min"]) if d.get("key_min") is not None else None,
            key_max=tuple(d["key_max"]) if d.get("key_max") is not None else None,
            stats=tuple((k, ColumnStats.from_dict(v)) for k, v in d.get("stats", {}).items()),
        )


@dataclass(frozen=True, slots=True)
class Chunking:
    """How rows were cut into chunks; a new version reuses its parent's settings."""

    strategy: str  # "cdc-key" (content-defined on the key) or "cdc-row" (on row content)
    avg_rows: int  # a boundary falls where hash(row) % avg_rows == 0 ...
    min_rows: int  # ... but never before min_rows rows ...
    max_rows: int  # ... and always at max_rows rows

    def to_dict(self) -> dict[str, Any]:
        return {
            "strategy": self.strategy,
            "avg_rows": self.avg_rows,
            "min_rows": self.min_rows,
            "max_rows": self.max_rows,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Chunking:
        return cls(str(d["strategy"]), int(d["avg_rows"]), int(d["min_rows"]), int(d["max_rows"]))


@dataclass(frozen=True, slots=True)
class ValidationRecord:
    """The verdict of `snapshot --schema`, kept in the manifest."""

    schema_fingerprint: str
    schema_name: str
    ok: bool
    errors: int
    warnings: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema_fingerprint": self.schema_fingerprint,
            "schema_name": self.schema_name,
            "ok": self.ok,
            "errors": self.errors,
            "warnings": self.warnings,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ValidationRecord:
        return cls(
            str(d["schema_fingerprint"]),
            str(d["schema_name"]),
            bool(d["ok"]),
            int(d["errors"]),
            int(d["warnings"]),
        )


@dataclass(frozen=True, slots=True)
class SourceFile:
    """One input file of a snapshot as it was when read: enough to tell later whether it changed.

    ``mtime`` is nanoseconds since the epoch for local files and the backend's
    own text (e.g. S3's LastModified) for remote ones; ``etag`` is the
    backend's entity tag when it gives one; ``hash`` is the xxh3-128 of the
    bytes (local files), None when unknown.
    """

    path: str  # absolute local path, or URL with any credentials removed
    size: int | None
    mtime: str | None = None
    etag: str | None = None
    hash: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "size": self.size,
            "mtime": self.mtime,
            "etag": self.etag,
            "hash": self.hash,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> SourceFile:
        size = d.get("size")
        return cls(
            str(d["path"]),
            int(size) if size is not None else None,
            d.get("mtime"),
            d.get("etag"),
            d.get("hash"),
        )


@dataclass(frozen=True, slots=True)
class SourceRecord:
    """Where a snapshot's rows came from and how they were read (SOURCE files only).

    ``args`` are the SOURCE arguments (local paths made absolute, URLs without
    credentials), ``format`` the ``--format`` given (None: from the names),
    ``read`` the read options that differ from the defaults (ReadOptions.to_dict).
    """

    args: tuple[str, ...]
    format: str | None
    read: dict[str, Any]
    files: tuple[SourceFile, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "args": list(self.args),
            "format": self.format,
            "read": self.read,
            "files": [f.to_dict() for f in self.files],
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> SourceRecord:
        return cls(
            tuple(str(a) for a in d["args"]),
            d.get("format"),
            dict(d.get("read") or {}),
            tuple(SourceFile.from_dict(f) for f in d.get("files") or ()),
        )


@dataclass(frozen=True, slots=True)
class Manifest:
    """An immutable snapshot description. Its id is the xxh128 of its canonical JSON."""

    dataset: str
    version: int
    parent: str | None  # manifest id of the previous version
    created: str  # ISO 8601 UTC, e.g. 2026-11-26T16:40:00.123456Z
    message: str
    meta: tuple[tuple[str, str], ...]
    key: tuple[str, ...]
    schema: pa.Schema
    rows: int
    bytes: int
    fingerprint: str
    chunking: Chunking
    chunks: tuple[ChunkInfo, ...]
    validation: ValidationRecord | None = None
    format: int = V1  # 2 exactly when there is a patch
    # Written only when known, so manifests of in-memory data keep their old encoding.
    source: SourceRecord | None = None
    patch: Patch | None = None  # format 2: see dvtool.format.patches

    def stored_objects(self) -> tuple[ChunkInfo | PatchObject, ...]:
        """Every object this version reads: its base chunks, then its patch objects (each with .object, .bytes)."""
        return (*self.chunks, *(self.patch.objects if self.patch is not None else ()))

    def to_dict(self) -> builtins.dict[str, Any]:
        d: builtins.dict[str, Any] = {
            "format": PATCH_FORMAT if self.patch is not None else self.format,
            "kind": "manifest",
            "dataset": self.dataset,
            "version": self.version,
            "parent": self.parent,
            "created": self.created,
            "message": self.message,
            "meta": dict(self.meta),
            "key": list(self.key),
            "schema": {
                "fields": list(schema_fields(self.schema)),
                "arrow": schema_to_b64(self.schema),
            },
            "rows": self.rows,
            "bytes": self.bytes,
            "fingerprint": self.fingerprint,
            "chunking": self.chunking.to_dict(),
            "chunks": [c.to_dict() for c in self.chunks],
            "validation": self.validation.to_dict() if self.validation else None,
        }
        if self.source is not None:
            d["source"] = self.source.to_dict()
        if self.patch is not None:
            d["patch"] = self.patch.to_dict()
        return d

    def encode(self) -> builtins.bytes:
        return canonical_json(self.to_dict())

    @classmethod
    def from_dict(cls, d: builtins.dict[str, Any]) -> Manifest:
        try:
            if d.get("kind") != "manifest":
                raise IntegrityError("not a manifest")
            if int(d["format"]) > FORMAT_VERSION:
                raise IntegrityError(
                    f"manifest format {d['format']} is newer than this dvtool understands "
                    f"({FORMAT_VERSION}); upgrade dvtool"
                )
            chunks = tuple(ChunkInfo.from_dict(c) for c in d["chunks"])
            fmt = int(d["format"])
            patch = Patch.from_dict(d["patch"], chunks) if d.get("patch") is not None else None
            if (patch is not None) != (fmt >= PATCH_FORMAT):
                raise IntegrityError(
                    f"malformed manifest (format {fmt} {'without' if patch is None else 'with'} a patch)"
                )
            if patch is not None and not d["key"]:
                raise IntegrityError("malformed manifest (a patch needs a key)")
            return cls(
                dataset=str(d["dataset"]),
                version=int(d["version"]),
                parent=d["parent"],
                created=str(d["created"]),
                message=str(d["message"]),
                meta=tuple(sorted((str(k), str(v)) for k, v in d["meta"].items())),
                key=tuple(d["key"]),
                schema=schema_from_b64(d["schema"]["arrow"]),
                rows=int(d["rows"]),
                bytes=int(d["bytes"]),
                fingerprint=str(d["fingerprint"]),
                chunking=Chunking.from_dict(d["chunking"]),
                chunks=chunks,
                validation=ValidationRecord.from_dict(d["validation"])
                if d.get("validation")
                else None,
                source=SourceRecord.from_dict(d["source"]) if d.get("source") else None,
                format=fmt,
                patch=patch,
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise IntegrityError(f"malformed manifest ({exc!r})") from None


@dataclass(frozen=True, slots=True)
class VersionEntry:
    """The commit record ``datasets/NAME/versions/<20-digit version>.json``, written create-only.

    It repeats a few manifest fields so ``log`` can list versions without
    reading every manifest.
    """

    dataset: str
    version: int
    manifest: str  # manifest id == snapshot id
    created: str
    rows: int
    message: str
    format: int = V1  # the format of the manifest it commits

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": self.format,
            "kind": "version",
            "dataset": self.dataset,
            "version": self.version,
            "manifest": self.manifest,
            "created": self.created,
            "rows": self.rows,
            "message": self.message,
        }

    def encode(self) -> bytes:
        return canonical_json(self.to_dict())

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> VersionEntry:
        try:
            return cls(
                dataset=str(d["dataset"]),
                version=int(d["version"]),
                manifest=str(d["manifest"]),
                created=str(d["created"]),
                rows=int(d["rows"]),
                message=str(d["message"]),
                format=int(d["format"]),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise IntegrityError(f"malformed version entry ({exc!r})") from None


@dataclass(frozen=True, slots=True)
class TagEntry:
    """An immutable tag ``datasets/NAME/tags/TAG.json``, written create-only."""

    dataset: str
    tag: str
    version: int
    manifest: str
    created: str
    format: int = V1

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": self.format,
            "kind": "tag",
            "dataset": self.dataset,
            "tag": self.tag,
            "version": self.version,
            "manifest": self.manifest,
            "created": self.created,
        }

    def encode(self) -> bytes:
        return canonical_json(self.to_dict())

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TagEntry:
        try:
            return cls(
                dataset=str(d["dataset"]),
                tag=str(d["tag"]),
                version=int(d["version"]),
                manifest=str(d["manifest"]),
                created=str(d["created"]),
                format=int(d["format"]),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise IntegrityError(f"malformed tag entry ({exc!r})") from None
