"""Every format value encodes to exactly its documented fields and parses back to itself.

Each model is built with every field set to a value different from its
default, so a field dropped, renamed, defaulted or mixed up on either side of
the round trip changes the result. Malformed documents are IntegrityErrors
that say what was malformed.
"""

from __future__ import annotations

import dataclasses
import json
import re
from typing import Any

import pyarrow as pa
import pytest

from dvtool._version import FORMAT_VERSION
from dvtool.errors import IntegrityError
from dvtool.format.hashing import hash_bytes
from dvtool.format.models import (
    V1,
    ChunkInfo,
    Chunking,
    ColumnStats,
    Manifest,
    SourceFile,
    SourceRecord,
    TagEntry,
    ValidationRecord,
    VersionEntry,
    canonical_json,
    parse_json,
    schema_fields,
    schema_from_b64,
    schema_to_b64,
)
from dvtool.format.patches import Patch, PatchObject, PatchRange

A, B, C, D = (hash_bytes(x) for x in (b"a", b"b", b"c", b"d"))
SCHEMA = pa.schema([("id", pa.int64()), ("name", pa.string()), ("at", pa.timestamp("ns", "UTC"))])


def _chunk(obj: str = A, fp: str = B) -> ChunkInfo:
    return ChunkInfo(
        object=obj,
        fingerprint=fp,
        rows=7,
        bytes=1234,
        key_min=(1, "a"),
        key_max=(9, "z"),
        stats=(("id", ColumnStats(0, 1, 9)), ("name", ColumnStats(2, "a", "z"))),
    )


def _manifest(**changes: Any) -> Manifest:
    m = Manifest(
        dataset="orders",
        version=3,
        parent=C,
        created="2026-11-26T16:40:00.123456Z",
        message="third",
        meta=(("a", "1"), ("b", "2")),
        key=("id",),
        schema=SCHEMA,
        rows=7,
        bytes=1234,
        fingerprint=D,
        chunking=Chunking("cdc-key", 100, 10, 1000),
        chunks=(_chunk(),),
        validation=ValidationRecord(A, "orders.yaml", False, 3, 4),
        source=SourceRecord(
            ("/data/orders.csv",),
            "csv",
            {"delimiter": ";"},
            (SourceFile("/data/orders.csv", 10, "123", "etag", B),),
        ),
    )
    return dataclasses.replace(m, **changes)


def _patch() -> Patch:
    logical = dataclasses.replace(_chunk(), rows=8, fingerprint=C)
    return Patch(
        PatchObject(C, 3, 300),
        PatchObject(D, 2, 200),
        (PatchRange(0, (0, 3), (0, 2), logical),),
    )


# ---- canonical JSON ----


def test_canonical_json_is_sorted_compact_utf8_and_refuses_nan() -> None:
    assert (
        canonical_json({"b": 1, "a": [1, "é"], "c": None})
        == '{"a":[1,"é"],"b":1,"c":null}'.encode()
    )
    with pytest.raises(ValueError):
        canonical_json({"x": float("nan")})


def test_parse_json_errors_name_the_document() -> None:
    assert parse_json(b'{"a": 1}', "doc") == {"a": 1}
    with pytest.raises(IntegrityError, match=r"^doc is not valid JSON \(Expecting value"):
        parse_json(b"nope", "doc")
    with pytest.raises(IntegrityError, match=r"^doc is not valid JSON \(.*utf-8"):
        parse_json(b"\xff\xfe", "doc")
    with pytest.raises(IntegrityError, match=r"^doc is not a JSON object$"):
        parse_json(b"[1]", "doc")


def test_schema_round_trip_is_exact_and_fields_are_readable() -> None:
    text = schema_to_b64(SCHEMA)
    assert text.isascii() and schema_from_b64(text).equals(SCHEMA, check_metadata=True)
    assert schema_fields(SCHEMA) == (
        {"name": "id", "type": "int64"},
        {"name": "name", "type": "string"},
        {"name": "at", "type": "timestamp[ns, tz=UTC]"},
    )


# ---- the small values ----


def test_column_stats() -> None:
    s = ColumnStats(2, "a", "z")
    assert s.to_dict() == {"nulls": 2, "min": "a", "max": "z"}
    assert ColumnStats.from_dict(s.to_dict()) == s
    assert ColumnStats.from_dict({"nulls": "3"}) == ColumnStats(3, None, None)


def test_chunk_info() -> None:
    c = _chunk()
    assert c.to_dict() == {
        "object": A,
        "fingerprint": B,
        "rows": 7,
        "bytes": 1234,
        "key_min": [1, "a"],
        "key_max": [9, "z"],
        "stats": {
            "id": {"nulls": 0, "min": 1, "max": 9},
            "name": {"nulls": 2, "min": "a", "max": "z"},
        },
    }
    assert ChunkInfo.from_dict(json.loads(json.dumps(c.to_dict()))) == c
    assert c.stats_dict() == {"id": ColumnStats(0, 1, 9), "name": ColumnStats(2, "a", "z")}
    bare = ChunkInfo(A, B, 1, 2)
    assert bare.to_dict()["key_min"] is None and bare.to_dict()["key_max"] is None
    assert bare.to_dict()["stats"] == {}
    assert ChunkInfo.from_dict(bare.to_dict()) == bare
    minimal = {"object": A, "fingerprint": B, "rows": "1", "bytes": "2"}
    assert ChunkInfo.from_dict(minimal) == bare
    # an empty key range is a range, not "unknown"
    empty = ChunkInfo(A, B, 0, 2, (), ())
    assert ChunkInfo.from_dict(empty.to_dict()) == empty


def test_chunking_and_validation_record() -> None:
    ch = Chunking("cdc-row", 100, 10, 1000)
    assert ch.to_dict() == {
        "strategy": "cdc-row",
        "avg_rows": 100,
        "min_rows": 10,
        "max_rows": 1000,
    }
    assert Chunking.from_dict(ch.to_dict()) == ch
    v = ValidationRecord(A, "s.yaml", False, 3, 4)
    assert v.to_dict() == {
        "schema_fingerprint": A,
        "schema_name": "s.yaml",
        "ok": False,
        "errors": 3,
        "warnings": 4,
    }
    assert ValidationRecord.from_dict(v.to_dict()) == v
    assert ValidationRecord.from_dict({**v.to_dict(), "ok": 1}).ok is True


def test_source_records() -> None:
    f = SourceFile("s3://b/x.csv", 10, "2026-01-01", '"etag"', B)
    assert f.to_dict() == {
        "path": "s3://b/x.csv",
        "size": 10,
        "mtime": "2026-01-01",
        "etag": '"etag"',
        "hash": B,
    }
    assert SourceFile.from_dict(f.to_dict()) == f
    assert SourceFile.from_dict({"path": "/x", "size": "5"}) == SourceFile("/x", 5)
    assert SourceFile.from_dict({"path": "/x"}) == SourceFile("/x", None)
    r = SourceRecord(("a.csv", "b.csv"), "csv", {"delimiter": ";"}, (f,))
    assert r.to_dict() == {
        "args": ["a.csv", "b.csv"],
        "format": "csv",
        "read": {"delimiter": ";"},
        "files": [f.to_dict()],
    }
    assert SourceRecord.from_dict(json.loads(json.dumps(r.to_dict()))) == r
    assert SourceRecord.from_dict({"args": ["a"]}) == SourceRecord(("a",), None, {}, ())
    assert SourceRecord.from_dict({"args": ["a"], "read": None, "files": None}).files == ()


# ---- version entries and tags ----


def test_version_entry() -> None:
    e = VersionEntry("orders", 3, A, "2026-11-26T16:40:00.123456Z", 7, "third", 2)
    assert e.to_dict() == {
        "format": 2,
        "kind": "version",
        "dataset": "orders",
        "version": 3,
        "manifest": A,
        "created": "2026-11-26T16:40:00.123456Z",
        "rows": 7,
        "message": "third",
    }
    assert e.encode() == canonical_json(e.to_dict())
    assert VersionEntry.from_dict(parse_json(e.encode(), "e")) == e
    assert VersionEntry("d", 1, A, "t", 1, "").format == V1 == 1
    for missing in ("dataset", "version", "manifest", "created", "rows", "message", "format"):
        d = e.to_dict()
        del d[missing]
        with pytest.raises(
            IntegrityError, match=rf"^malformed version entry \(KeyError\('{missing}'\)\)$"
        ):
            VersionEntry.from_dict(d)
    with pytest.raises(IntegrityError, match=r"^malformed version entry \(ValueError"):
        VersionEntry.from_dict({**e.to_dict(), "version": "three"})
    with pytest.raises(IntegrityError, match=r"^malformed version entry \(TypeError"):
        VersionEntry.from_dict({**e.to_dict(), "rows": None})


def test_tag_entry() -> None:
    t = TagEntry("orders", "release", 3, A, "2026-11-26T16:40:00.123456Z", 2)
    assert t.to_dict() == {
        "format": 2,
        "kind": "tag",
        "dataset": "orders",
        "tag": "release",
        "version": 3,
        "manifest": A,
        "created": "2026-11-26T16:40:00.123456Z",
    }
    assert t.encode() == canonical_json(t.to_dict())
    assert TagEntry.from_dict(parse_json(t.encode(), "t")) == t
    assert TagEntry("d", "t", 1, A, "t").format == 1
    for missing in ("dataset", "tag", "version", "manifest", "created", "format"):
        d = t.to_dict()
        del d[missing]
        with pytest.raises(
            IntegrityError, match=rf"^malformed tag entry \(KeyError\('{missing}'\)\)$"
        ):
            TagEntry.from_dict(d)
    with pytest.raises(IntegrityError, match=r"^malformed tag entry \(ValueError"):
        TagEntry.from_dict({**t.to_dict(), "version": "x"})
    with pytest.raises(IntegrityError, match=r"^malformed tag entry \(TypeError"):
        TagEntry.from_dict({**t.to_dict(), "version": None})


# ---- manifests ----


def test_manifest_encodes_every_field() -> None:
    m = _manifest()
    d = m.to_dict()
    assert d == {
        "format": 1,
        "kind": "manifest",
        "dataset": "orders",
        "version": 3,
        "parent": C,
        "created": "2026-11-26T16:40:00.123456Z",
        "message": "third",
        "meta": {"a": "1", "b": "2"},
        "key": ["id"],
        "schema": {"fields": list(schema_fields(SCHEMA)), "arrow": schema_to_b64(SCHEMA)},
        "rows": 7,
        "bytes": 1234,
        "fingerprint": D,
        "chunking": {"strategy": "cdc-key", "avg_rows": 100, "min_rows": 10, "max_rows": 1000},
        "chunks": [_chunk().to_dict()],
        "validation": m.validation.to_dict() if m.validation else None,
        "source": m.source.to_dict() if m.source else None,
    }
    assert m.encode() == canonical_json(d)
    bare = _manifest(validation=None, source=None)
    assert bare.to_dict()["validation"] is None and "source" not in bare.to_dict()
    assert "patch" not in bare.to_dict()


def test_manifest_round_trip() -> None:
    for m in (_manifest(), _manifest(validation=None, source=None, parent=None, key=())):
        back = Manifest.from_dict(parse_json(m.encode(), "m"))
        assert back.schema.equals(m.schema)
        assert dataclasses.replace(back, schema=m.schema) == m
        assert back.encode() == m.encode()


def test_manifest_meta_is_read_sorted_as_text() -> None:
    d = _manifest().to_dict()
    d["meta"] = {"z": 1, "a": "x"}
    assert Manifest.from_dict(d).meta == (("a", "x"), ("z", "1"))


def test_manifest_with_a_patch_is_format_2_and_round_trips() -> None:
    m = _manifest(patch=_patch(), format=2)
    d = m.to_dict()
    assert d["format"] == 2 and d["patch"] == _patch().to_dict()
    back = Manifest.from_dict(parse_json(m.encode(), "m"))
    assert back.patch == _patch() and back.format == 2
    assert m.stored_objects() == (_chunk(), PatchObject(C, 3, 300), PatchObject(D, 2, 200))
    assert _manifest().stored_objects() == (_chunk(),)
    # format follows the patch when encoding, whatever the field says
    assert _manifest(patch=_patch()).to_dict()["format"] == 2


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"kind": "version"}, "not a manifest"),
        (
            {"format": FORMAT_VERSION + 1},
            f"manifest format {FORMAT_VERSION + 1} is newer than this dvtool understands ({FORMAT_VERSION}); upgrade dvtool",
        ),
        ({"format": 2}, "malformed manifest (format 2 without a patch)"),
        ({"rows": "seven"}, "malformed manifest (ValueError("),
        ({"chunks": None}, "malformed manifest (TypeError("),
    ],
)
def test_malformed_manifests(change: dict[str, Any], message: str) -> None:
    d = {**_manifest().to_dict(), **change}
    with pytest.raises(IntegrityError) as info:
        Manifest.from_dict(d)
    assert str(info.value).startswith(message)


@pytest.mark.parametrize(
    "missing",
    [
        "format",
        "chunks",
        "dataset",
        "version",
        "parent",
        "created",
        "message",
        "meta",
        "key",
        "schema",
        "rows",
        "bytes",
        "fingerprint",
        "chunking",
    ],
)
def test_a_manifest_missing_a_field_is_malformed(missing: str) -> None:
    d = _manifest().to_dict()
    del d[missing]
    with pytest.raises(IntegrityError, match=rf"^malformed manifest \(KeyError\('{missing}'\)\)$"):
        Manifest.from_dict(d)


def test_manifest_patch_rules() -> None:
    d = _manifest(patch=_patch()).to_dict()
    d["format"] = 1
    with pytest.raises(
        IntegrityError, match=re.escape("malformed manifest (format 1 with a patch)")
    ):
        Manifest.from_dict(d)
    d = _manifest(patch=_patch(), key=()).to_dict()
    with pytest.raises(IntegrityError, match=r"^malformed manifest \(a patch needs a key\)$"):
        Manifest.from_dict(d)
    d = _manifest().to_dict()
    d["patch"] = None  # an explicit null is no patch
    assert Manifest.from_dict(d).patch is None


def test_optional_manifest_fields_may_be_absent_or_empty() -> None:
    d = _manifest().to_dict()
    del d["validation"], d["source"]
    m = Manifest.from_dict(d)
    assert m.validation is None and m.source is None
    d = {**_manifest().to_dict(), "validation": {}, "source": {}}
    m = Manifest.from_dict(d)
    assert m.validation is None and m.source is None
