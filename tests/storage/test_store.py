"""The storage contract, run alike on memory://, a local folder and S3 (moto's server)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, ClassVar

import fsspec
import pytest
from fsspec.implementations.memory import MemoryFileSystem

from dvtool.errors import (
    AlreadyExistsError,
    IntegrityError,
    NotFoundError,
    StorageError,
    UsageError,
)
from dvtool.format.hashing import hash_bytes
from dvtool.storage import LocalStore, Store, open_store, redact_url
from s3server import S3Bucket


@pytest.fixture(params=["memory", "local", "s3"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    if request.param == "memory":
        # A unique root per test: fsspec's memory filesystem is one global dict.
        root = f"memory://dvtool-test-{uuid.uuid4().hex}"
        yield open_store(root)
        memory, path = fsspec.core.url_to_fs(root)
        if memory.exists(path):
            memory.rm(path, recursive=True)
    elif request.param == "local":
        yield open_store(str(tmp_path / "repo"))
    else:
        bucket: S3Bucket = request.getfixturevalue("s3_bucket")
        yield open_store(f"{bucket.url}/some/prefix", bucket.storage_options)


class TestStoreContract:
    def test_create_then_read(self, store: Store) -> None:
        store.create("objects/ab/one.parquet", b"hello")
        assert store.read("objects/ab/one.parquet") == b"hello"
        assert store.exists("objects/ab/one.parquet")

    def test_missing_key(self, store: Store) -> None:
        assert not store.exists("nope/missing.json")
        with pytest.raises(NotFoundError, match=r"nope/missing\.json"):
            store.read("nope/missing.json")

    def test_second_create_fails_and_keeps_the_first_bytes(self, store: Store) -> None:
        store.create("datasets/d/versions/1.json", b"first")
        with pytest.raises(AlreadyExistsError, match="already exists"):
            store.create("datasets/d/versions/1.json", b"second")
        assert store.read("datasets/d/versions/1.json") == b"first"

    def test_zero_byte_create_is_refused_and_never_overwrites(self, store: Store) -> None:
        # s3fs turns a zero-byte exclusive create into an unconditional PUT.
        store.create("k.json", b"first")
        with pytest.raises(StorageError):
            store.create("k.json", b"")
        assert store.read("k.json") == b"first"
        with pytest.raises(StorageError, match="empty object"):
            store.create("fresh.json", b"")
        assert not store.exists("fresh.json")

    def test_binary_round_trip(self, store: Store) -> None:
        data = bytes(range(256)) * 4096  # 1 MiB, every byte value
        store.create("objects/cd/big.parquet", data)
        assert store.read("objects/cd/big.parquet") == data

    def test_list_is_sorted_recursive_and_scoped_to_the_prefix(self, store: Store) -> None:
        for key in [
            "datasets/a/versions/2.json",
            "datasets/a/versions/1.json",
            "datasets/a/tags/t.json",
            "datasets/ab/versions/1.json",
            "objects/x",
        ]:
            store.create(key, b"x")
        assert store.list("datasets/a") == [
            "datasets/a/tags/t.json",
            "datasets/a/versions/1.json",
            "datasets/a/versions/2.json",
        ]
        assert store.list("datasets/a/versions") == [
            "datasets/a/versions/1.json",
            "datasets/a/versions/2.json",
        ]
        assert store.list("nothing/here") == []

    def test_list_sees_keys_written_through_another_handle(self, store: Store) -> None:
        store.list("datasets/a/versions")  # may fill a listing cache
        other = _reopen(store)
        other.create("datasets/a/versions/1.json", b"x")
        assert store.list("datasets/a/versions") == ["datasets/a/versions/1.json"]
        assert store.exists("datasets/a/versions/1.json")

    def test_list_hides_temp_files_that_scan_shows(self, store: Store) -> None:
        store.create("objects/ab/.tmp-leftover", b"partial")
        store.create("objects/ab/real.parquet", b"data")
        assert store.list("objects") == ["objects/ab/real.parquet"]
        entries = {e.key: e for e in store.scan("objects")}
        assert set(entries) == {"objects/ab/.tmp-leftover", "objects/ab/real.parquet"}
        assert entries["objects/ab/real.parquet"].size == 4
        modified = entries["objects/ab/real.parquet"].modified
        assert modified is not None and modified.tzinfo is not None

    def test_delete(self, store: Store) -> None:
        store.create("a/b.json", b"x")
        store.delete("a/b.json")
        assert not store.exists("a/b.json")
        assert store.list("a") == []
        store.delete("a/b.json")  # deleting a missing key is not an error
        store.create("a/b.json", b"again")  # and the key can be created again
        assert store.read("a/b.json") == b"again"

    def test_read_verified(self, store: Store) -> None:
        data = b"chunk bytes" * 100
        oid = hash_bytes(data)
        store.create("objects/ab/c.parquet", data)
        assert store.read_verified("objects/ab/c.parquet", oid) == data
        flipped = bytearray(data)
        flipped[17] ^= 0x01
        store.delete("objects/ab/c.parquet")
        store.create("objects/ab/c.parquet", bytes(flipped))
        with pytest.raises(IntegrityError, match=oid):
            store.read_verified("objects/ab/c.parquet", oid)

    def test_put_object_is_idempotent(self, store: Store) -> None:
        assert store.put_object("objects/ab/x.parquet", b"x") is True
        assert store.put_object("objects/ab/x.parquet", b"x") is False

    def test_now_is_the_store_clock_and_leaves_nothing(self, store: Store) -> None:
        now = store.now()
        assert now.tzinfo is not None
        assert abs(now - datetime.now(UTC)) < timedelta(days=1)
        assert list(store.scan("tmp")) == []

    def test_create_only_probe_passes_and_leaves_nothing(self, store: Store) -> None:
        store.check_create_only()
        store.check_create_only()  # once per store: the second call is free
        assert list(store.scan("tmp")) == []


def _reopen(store: Store) -> Store:
    if isinstance(store, LocalStore):
        return LocalStore(store.root)
    options: dict[str, Any] = dict(getattr(store.filesystem, "storage_options", {}))
    options["skip_instance_cache"] = True
    return open_store(store.url, options)


def test_create_only_probe_refuses_a_store_that_overwrites(no_exclusive_url: str) -> None:
    store = open_store(no_exclusive_url)
    with pytest.raises(StorageError, match="does not honour create-only writes"):
        store.check_create_only()
    with pytest.raises(StorageError, match="does not honour"):
        store.check_create_only()  # a failed probe is not remembered as a pass
    assert list(store.scan("tmp")) == []


class TestSecrets:
    def test_url_with_credentials_is_refused_without_echoing_them(self) -> None:
        for url in ["s3://AKIAEXAMPLE:s3cr3t-Value@bucket/repo", "s3://s3cr3t-Value@bucket"]:
            with pytest.raises(UsageError) as info:
                open_store(url)
            assert "s3cr3t-Value" not in str(info.value)
            assert "AKIAEXAMPLE" not in str(info.value)
            assert "credentials" in str(info.value)

    def test_redact_url(self) -> None:
        assert redact_url("s3://key:secret@b/p") == "s3://***@b/p"
        assert redact_url("s3://b/p") == "s3://b/p"

    def test_storage_errors_do_not_carry_the_secret(self, s3_bucket: S3Bucket) -> None:
        options = {**s3_bucket.storage_options, "secret": "s3cr3t-Value"}
        store = open_store("s3://no-such-bucket-dvtool/repo", options)
        for action in (lambda: store.read("x.json"), lambda: store.create("x.json", b"1")):
            with pytest.raises((NotFoundError, StorageError)) as info:
                action()
            assert "s3cr3t-Value" not in str(info.value)
            assert "no-such-bucket-dvtool" in str(info.value)


@pytest.mark.parametrize(
    ("url", "extra"), [("gs://bucket/repo", "gcs"), ("az://container/repo", "azure")]
)
def test_missing_backend_names_the_extra(url: str, extra: str) -> None:
    pytest.importorskip("fsspec")
    module = {"gcs": "gcsfs", "azure": "adlfs"}[extra]
    try:
        __import__(module)
    except ImportError:
        pass
    else:
        pytest.skip(f"{module} is installed")
    with pytest.raises(UsageError, match=rf"dvtool\[{extra}\]"):
        open_store(url)


def test_unknown_scheme() -> None:
    with pytest.raises(UsageError, match="unknown URL scheme nope://"):
        open_store("nope://x/y")


class _ConflictOnceFS(MemoryFileSystem):  # type: ignore[misc]
    """Answers the first exclusive create of each key with S3's 409, then behaves."""

    protocol = ("dvtool-conflict",)
    root_marker = "/"
    conflicted: ClassVar[set[str]] = set()  # fsspec caches instances; keep it per class

    def _open(self, path: str, mode: str = "rb", **kwargs: Any) -> Any:
        if "x" in mode and path not in self.conflicted:
            self.conflicted.add(path)
            raise OSError("An error occurred (ConditionalRequestConflict) when calling PutObject")
        return super()._open(path, mode, **kwargs)


def test_s3_409_conflict_is_retried_then_create_only_still_holds() -> None:
    fsspec.register_implementation("dvtool-conflict", _ConflictOnceFS, clobber=True)
    store = open_store(f"dvtool-conflict:///c-{uuid.uuid4().hex}")
    store.create("a.json", b"first")
    assert store.read("a.json") == b"first"
    with pytest.raises(AlreadyExistsError):
        store.create("a.json", b"second")
    store.delete("a.json")


def test_an_io_error_that_mentions_412_is_not_already_exists() -> None:
    """Object keys are hex: a path with "412" in it must not read as HTTP 412 (seed 223 of the fault storm)."""
    from dvtool.storage.remote import _is_precondition_failure

    plain = OSError(
        "injected write failure before the side effect on /r/manifests/4a/5343bbe83afc4063697b4127f4ebf3.json"
    )
    assert not _is_precondition_failure(plain)

    class ClientError(Exception):
        def __init__(self, message: str) -> None:
            super().__init__(message)
            self.response = {
                "Error": {"Code": "PreconditionFailed"},
                "ResponseMetadata": {"HTTPStatusCode": 412},
            }

    assert _is_precondition_failure(ClientError("An error occurred when calling PutObject"))
