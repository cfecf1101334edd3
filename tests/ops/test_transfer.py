"""Push/pull between two stores: prefix rule, dedup, resumability, verified bytes.

The repositories here are written key by key with dvtool's own models (chunks
are opaque bytes to a transfer), so these tests need no chunker; the CLI test
in test_cli_remote.py runs the same path end to end on real snapshots.
"""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pytest

from dvtool.errors import IntegrityError, NotFoundError, StorageError, UsageError
from dvtool.format.hashing import hash_bytes
from dvtool.format.layout import manifest_key, object_key, tag_key, version_key
from dvtool.format.models import ChunkInfo, Chunking, Manifest, TagEntry, VersionEntry
from dvtool.ops.transfer import transfer
from dvtool.storage import Store, open_store
from s3server import S3Bucket

SCHEMA = pa.schema([("id", pa.int64())])


def _commit(store: Store, name: str, chunks: list[bytes], message: str = "") -> str:
    """Write one version the way a commit does: chunks, manifest, version entry."""
    versions = store.list(f"datasets/{name}/versions")
    version = len(versions) + 1
    parent = None
    if versions:
        parent = VersionEntry.from_dict(json.loads(store.read(versions[-1]))).manifest
    infos = []
    for data in chunks:
        oid = hash_bytes(data)
        store.put_object(object_key(oid), data)
        infos.append(ChunkInfo(object=oid, fingerprint=oid, rows=1, bytes=len(data)))
    manifest = Manifest(
        dataset=name,
        version=version,
        parent=parent,
        created="2026-11-26T00:00:00Z",
        message=message,
        meta=(),
        key=(),
        schema=SCHEMA,
        rows=len(chunks),
        bytes=sum(len(c) for c in chunks),
        fingerprint="xxh128:" + "0" * 32,
        chunking=Chunking("cdc-row", 16, 4, 64),
        chunks=tuple(infos),
    )
    data = manifest.encode()
    mid = hash_bytes(data)
    store.put_object(manifest_key(mid), data)
    entry = VersionEntry(name, version, mid, manifest.created, manifest.rows, message)
    store.create(version_key(name, version), entry.encode())
    return mid


def _tag(store: Store, name: str, tag: str, version: int, manifest_id: str) -> None:
    entry = TagEntry(name, tag, version, manifest_id, "2026-11-26T00:00:00Z")
    store.create(tag_key(name, tag), entry.encode())


def _keys(store: Store) -> dict[str, bytes]:
    return {k: store.read(k) for k in store.list("") if not k.startswith("tmp/")}


@pytest.fixture
def local_pair(tmp_path: Path) -> tuple[Store, Store]:
    return open_store(str(tmp_path / "a")), open_store(str(tmp_path / "b"))


def test_push_copies_history_and_then_only_new_chunks(local_pair: tuple[Store, Store]) -> None:
    src, dst = local_pair
    m1 = _commit(src, "orders", [b"chunk-1" * 100, b"chunk-2" * 100])
    _tag(src, "orders", "first", 1, m1)
    first = transfer(src, dst, ["orders"])
    assert first.objects == 2 and first.object_bytes == 1400 and first.manifests == 1
    assert first.datasets[0].versions == (1,) and first.datasets[0].tags == ("first",)
    assert _keys(dst) == _keys(src)

    _commit(src, "orders", [b"chunk-1" * 100, b"chunk-3" * 50])
    second = transfer(src, dst, ["orders"])
    assert (second.objects, second.object_bytes, second.objects_present) == (1, 350, 1)
    assert second.datasets[0].versions == (2,)
    assert _keys(dst) == _keys(src)

    again = transfer(src, dst, ["orders"])
    assert again.up_to_date and again.objects == 0 and again.datasets[0].versions == ()


def test_push_to_an_empty_target_counts_nothing_as_already_there(
    local_pair: tuple[Store, Store],
) -> None:
    """Chunks shared by several versions travel once and are not 'already there' in an empty target."""
    src, dst = local_pair
    shared = [b"chunk-1" * 100, b"chunk-2" * 100]
    for i in range(4):
        _commit(src, "orders", [*shared, f"tail-{i}".encode() * 10])
    _commit(src, "customers", [*shared])  # the same chunks in another dataset
    pushed = transfer(src, dst, ["orders", "customers"])
    assert (pushed.objects, pushed.objects_present) == (6, 0)
    _commit(src, "orders", [*shared, b"tail-new" * 10])
    again = transfer(src, dst, ["orders"])
    assert (again.objects, again.objects_present) == (1, 2)


def test_diverged_histories_are_refused_before_writing(local_pair: tuple[Store, Store]) -> None:
    src, dst = local_pair
    _commit(src, "orders", [b"same"])
    _commit(dst, "orders", [b"same"])
    _commit(src, "orders", [b"mine"])
    _commit(dst, "orders", [b"theirs"])
    _commit(src, "orders", [b"more"])
    before = _keys(dst)
    with pytest.raises(UsageError, match=r"diverged at v2 .*v2 is [0-9a-f]{12} in the source"):
        transfer(src, dst, ["orders"])
    assert _keys(dst) == before


def test_target_ahead_of_source_is_diverged(local_pair: tuple[Store, Store]) -> None:
    src, dst = local_pair
    _commit(src, "orders", [b"one"])
    transfer(src, dst, ["orders"])
    _commit(dst, "orders", [b"two"])
    with pytest.raises(UsageError, match=r"diverged at v2 \(the target has v2"):
        transfer(src, dst, ["orders"])


def test_one_diverged_dataset_stops_all_before_writing(local_pair: tuple[Store, Store]) -> None:
    src, dst = local_pair
    _commit(src, "a", [b"a1"])
    _commit(src, "b", [b"b1"])
    _commit(dst, "b", [b"other"])
    with pytest.raises(UsageError, match=r"^b: the histories have diverged at v1"):
        transfer(src, dst, ["a", "b"])
    assert dst.list("datasets/a") == []


def test_missing_dataset_and_bad_names(local_pair: tuple[Store, Store]) -> None:
    src, dst = local_pair
    with pytest.raises(NotFoundError, match="dataset 'nope' not found"):
        transfer(src, dst, ["nope"])
    with pytest.raises(UsageError, match="invalid dataset name"):
        transfer(src, dst, ["../etc"])


def test_interrupted_push_leaves_a_prefix_and_resumes(local_pair: tuple[Store, Store]) -> None:
    src, dst = local_pair
    for i in range(3):
        _commit(src, "orders", [f"v{i}-a".encode() * 100, f"v{i}-b".encode() * 100])
    _tag(src, "orders", "t", 3, _commit(src, "orders", [b"last" * 10]))

    class Stop(Exception):
        pass

    def stop_halfway(done: int, total: int) -> None:
        if done > total // 2:
            raise Stop

    with pytest.raises(Stop):
        transfer(src, dst, ["orders"], progress=stop_halfway)
    # Whatever landed is a consistent prefix: every version entry's manifest and
    # chunks are there.
    versions = dst.list("datasets/orders/versions")
    assert 0 < len(versions) < 4
    for key in versions:
        entry = VersionEntry.from_dict(json.loads(dst.read(key)))
        raw = dst.read_verified(manifest_key(entry.manifest), entry.manifest)
        for chunk in Manifest.from_dict(json.loads(raw)).chunks:
            dst.read_verified(object_key(chunk.object), chunk.object)
    assert dst.list("datasets/orders/tags") == []

    rest = transfer(src, dst, ["orders"])
    assert rest.datasets[0].versions == tuple(range(len(versions) + 1, 5))
    assert _keys(dst) == _keys(src)


def test_a_damaged_source_object_is_not_copied(local_pair: tuple[Store, Store]) -> None:
    src, dst = local_pair
    _commit(src, "orders", [b"good" * 10])
    [obj] = src.list("objects")
    src.delete(obj)
    src.create(obj, b"bad!" * 10)
    with pytest.raises(IntegrityError, match="is corrupt"):
        transfer(src, dst, ["orders"])
    assert dst.list("objects") == [] and dst.list("datasets") == []


def test_push_to_a_store_that_ignores_create_only_is_refused(
    tmp_path: Path, no_exclusive_url: str
) -> None:
    src = open_store(str(tmp_path / "a"))
    _commit(src, "orders", [b"x"])
    dst = open_store(no_exclusive_url)
    with pytest.raises(StorageError, match="does not honour create-only"):
        transfer(src, dst, ["orders"])
    assert dst.list("datasets") == []


def test_push_and_pull_through_s3(tmp_path: Path, s3_bucket: S3Bucket) -> None:
    local = open_store(str(tmp_path / "local"))
    remote = open_store(f"{s3_bucket.url}/team", s3_bucket.storage_options)
    _commit(local, "orders", [b"a" * 1000, b"b" * 1000])
    assert transfer(local, remote, ["orders"]).objects == 2
    _commit(local, "orders", [b"a" * 1000, b"c" * 10])
    summary = transfer(local, remote, ["orders"])
    assert (summary.objects, summary.object_bytes) == (1, 10)
    assert "team" in summary.target and "secret" not in repr(summary)

    fresh = open_store(str(tmp_path / "fresh"))
    pulled = transfer(remote, fresh, ["orders"])
    assert pulled.datasets[0].versions == (1, 2)
    assert _keys(fresh) == _keys(local)
