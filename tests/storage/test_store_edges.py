"""Edges of the storage layer that mutation testing found unpinned.

Backends are real fsspec filesystems (memory, and small MemoryFileSystem
subclasses that answer like a remote would); dvtool's own layers are never
replaced.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any, ClassVar

import fsspec
import pytest
from fsspec.implementations.memory import MemoryFileSystem

from dvtool.errors import AlreadyExistsError, StorageError, UsageError
from dvtool.storage import FsspecStore, LocalStore, open_store
from dvtool.storage.base import TEMP_PREFIX
from dvtool.storage.filesystems import backend_error, backend_options, url_to_fs
from dvtool.storage.remote import _describe, _is_precondition_failure, _mtime


class _RecordingFS(MemoryFileSystem):  # type: ignore[misc]
    """Records every exclusive create; its deletes fail like a remote that refuses them."""

    protocol = ("dvtool-recording",)
    root_marker = "/"
    created: ClassVar[list[str]] = []

    def _open(self, path: str, mode: str = "rb", **kwargs: Any) -> Any:
        if "x" in mode:
            self.created.append(path)
        return super()._open(path, mode, **kwargs)

    def rm_file(self, path: str) -> None:
        raise PermissionError(f"AccessDenied: not allowed to delete {path}")


@pytest.fixture
def recording() -> FsspecStore:
    fsspec.register_implementation("dvtool-recording", _RecordingFS, clobber=True)
    _RecordingFS.created.clear()
    store = open_store(f"dvtool-recording:///r-{uuid.uuid4().hex}")
    assert isinstance(store, FsspecStore)
    return store


def test_delete_failure_is_a_storage_error_naming_the_key(recording: FsspecStore) -> None:
    recording.create("objects/ab/x.parquet", b"x")
    with pytest.raises(StorageError) as info:
        recording.delete("objects/ab/x.parquet")
    where = recording.full_url("objects/ab/x.parquet")
    assert str(info.value).startswith(
        f"cannot delete {where}: PermissionError: AccessDenied: not allowed to delete"
    )


def test_create_only_probe_writes_a_temp_key_once_and_survives_a_failed_cleanup(
    recording: FsspecStore,
) -> None:
    recording.check_create_only()  # its delete fails: the probe still passes
    probes = [p[p.index("/tmp/") + 1 :] for p in _RecordingFS.created]
    assert len(probes) == 2 and probes[0] == probes[1]  # the same key, twice
    assert probes[0].startswith(f"tmp/{TEMP_PREFIX}probe-")  # gc sweeps a killed probe's file
    recording.check_create_only()
    assert len(_RecordingFS.created) == 2  # proven once per store


def test_create_only_probe_failure_message(no_exclusive_url: str) -> None:
    store = open_store(no_exclusive_url)
    with pytest.raises(StorageError) as info:
        store.check_create_only()
    assert str(info.value) == (
        f"{store.url} does not honour create-only writes (a second exclusive create of the "
        "same key overwrote the first); dvtool refuses to commit there, because two writers "
        "could overwrite each other's versions"
    )


@pytest.mark.parametrize("kind", ["memory", "local"])
def test_size_of_a_key_not_of_what_is_under_it(kind: str, tmp_path: Path) -> None:
    url = f"memory://size-{uuid.uuid4().hex}" if kind == "memory" else str(tmp_path / "r")
    store = open_store(url)
    store.create("d/a/b.json", b"12345")
    store.create("d/c.json", b"123")
    assert store.size("d/c.json") == 3
    assert store.size("d/a/b.json") == 5
    assert store.size("d/a") is None  # a "folder": no object there
    assert store.size("d/none.json") is None


def test_publish_file_on_a_remote_store_is_create_only(tmp_path: Path) -> None:
    store = open_store(f"memory://publish-{uuid.uuid4().hex}")
    staged = tmp_path / "chunk"
    staged.write_bytes(b"chunk bytes")
    assert store.publish_file("objects/ab/c.parquet", str(staged))
    staged.write_bytes(b"other bytes")
    assert not store.publish_file("objects/ab/c.parquet", str(staged))
    assert store.read("objects/ab/c.parquet") == b"chunk bytes"


def test_local_store_size(tmp_path: Path) -> None:
    store = LocalStore(tmp_path)
    store.create("a.json", b"abc")
    assert store.size("a.json") == 3 and store.size("b.json") is None


# ---- what a remote's errors mean ----


class _Response(Exception):
    """An exception carrying a botocore-style ``response`` dict."""

    def __init__(self, response: dict[str, Any], text: str = "An error occurred") -> None:
        super().__init__(text)
        self.response = response


class _Coded(Exception):
    def __init__(self, code: int | None = None, status: int | None = None) -> None:
        super().__init__("request failed")
        if code is not None:
            self.code = code
        if status is not None:
            self.status = status


def _named(name: str) -> Exception:
    return type(name, (Exception,), {})("request failed")


@pytest.mark.parametrize(
    "exc",
    [
        _Response({"Error": {"Code": "PreconditionFailed"}}),
        _Response({"Error": {"Code": "ConditionNotMet"}}),
        _Response({"ResponseMetadata": {"HTTPStatusCode": 412}}),
        _Response({"Error": {"Code": "Other"}, "ResponseMetadata": {"HTTPStatusCode": 412}}),
        _Coded(code=412),
        _Coded(status=412),
        _named("PreconditionFailed"),
        _named("ConditionNotMetError"),
        _named("ResourceModifiedError"),
        OSError(
            "PreconditionFailed: At least one of the pre-conditions you specified did not hold"
        ),
        OSError("ConditionNotMet"),
        OSError("412 Precondition Failed"),
    ],
    ids=lambda e: f"{type(e).__name__}-{getattr(e, 'response', '') or str(e)[:20]}",
)
def test_a_refused_conditional_create_is_recognised(exc: Exception) -> None:
    assert _is_precondition_failure(exc)


@pytest.mark.parametrize(
    "exc",
    [
        _Response({"Error": {"Code": "SlowDown"}, "ResponseMetadata": {"HTTPStatusCode": 503}}),
        _Response({"Error": {}, "ResponseMetadata": {}}),
        _Response({}),
        _Coded(code=413),
        _Coded(status=413),
        _Coded(code=500, status=500),
        OSError("precondition failed for /r/objects/41/2abc"),
        OSError("412 precondition"),
    ],
)
def test_other_errors_are_not_already_exists(exc: Exception) -> None:
    assert not _is_precondition_failure(exc)


def test_a_precondition_failure_found_in_the_cause_or_the_context() -> None:
    refused = _Response({"Error": {"Code": "PreconditionFailed"}})
    caused = OSError("write failed")
    caused.__cause__ = refused
    assert _is_precondition_failure(caused)
    context = OSError("write failed")  # raised while handling it, without "from"
    context.__context__ = refused
    assert context.__cause__ is None
    assert _is_precondition_failure(context)


def test_describe_and_backend_error_are_one_line_without_secrets() -> None:
    exc = TimeoutError("timed out reading s3://key:secret@bucket/x\nsecond line")
    assert _describe(exc) == "TimeoutError: timed out reading s3://***@bucket/x"
    err = backend_error("write", "s3://key:secret@bucket/out.parquet", exc)
    assert isinstance(err, StorageError)
    assert str(err) == (
        "cannot write s3://***@bucket/out.parquet: TimeoutError: timed out reading s3://***@bucket/x"
    )
    assert str(backend_error("list", "/tmp/x", OSError())) == "cannot list /tmp/x: OSError:"


# ---- listing times ----


@pytest.mark.parametrize(
    ("info", "expected"),
    [
        ({"LastModified": datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)}, "2026-01-02T03:04:05+00:00"),
        ({"LastModified": datetime(2026, 1, 2, 3, 4, 5)}, "2026-01-02T03:04:05+00:00"),
        (
            {"LastModified": datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone(timedelta(hours=2)))},
            "2026-01-02T03:04:05+02:00",
        ),
        ({"mtime": 1767323045.0}, "2026-01-02T03:04:05+00:00"),
        ({"created": 1767323045}, "2026-01-02T03:04:05+00:00"),
        ({"updated": "2026-01-02T03:04:05Z"}, "2026-01-02T03:04:05+00:00"),
        ({"updated": "2026-01-02T03:04:05+02:00"}, "2026-01-02T03:04:05+02:00"),
        ({"last_modified": "2026-01-02T03:04:05"}, "2026-01-02T03:04:05+00:00"),
        ({"mtime": None, "updated": "2026-01-02T03:04:05Z"}, "2026-01-02T03:04:05+00:00"),
        ({"updated": "yesterday", "last_modified": 1767323045}, "2026-01-02T03:04:05+00:00"),
        ({"updated": "yesterday"}, None),
        ({"size": 3}, None),
    ],
)
def test_listing_times_of_every_backend_shape(info: dict[str, Any], expected: str | None) -> None:
    got = _mtime(info)
    assert (got.isoformat() if got is not None else None) == expected


# ---- opening filesystems: dvtool's timeout and errors ----


@pytest.mark.parametrize(
    ("value", "seconds"),
    [(None, 20.0), ("2.5", 2.5), (7, 7.0), ("999999", 999999.0), ("0.001", 0.001)],
)
def test_timeout_values(value: object, seconds: float) -> None:
    options = {} if value is None else {"timeout": value}
    assert backend_options("memory://x", options) == ({}, seconds)


@pytest.mark.parametrize("bad", ["0", "-1", "1e6", "soon", "nan", "inf", [1]])
def test_bad_timeouts_are_refused_in_one_line(bad: object) -> None:
    with pytest.raises(UsageError) as info:
        backend_options("s3://b/x", {"timeout": bad})
    assert str(info.value) == f"--storage-option timeout={bad} is not a number of seconds above 0"


@pytest.mark.parametrize("url", ["s3://b/x", "s3a://b/x", "S3://b/x"])
def test_s3_options_carry_the_timeout_and_keep_the_users(url: str) -> None:
    given = {"config_kwargs": {"read_timeout": 9}, "timeout": "4", "anon": "true"}
    options, timeout = backend_options(url, given)
    assert timeout == 4.0 and given["timeout"] == "4"  # the caller's options are not changed
    assert options == {
        "anon": "true",
        "config_kwargs": {
            "read_timeout": 9,
            "connect_timeout": 4.0,
            "retries": {"total_max_attempts": 3, "mode": "standard"},
        },
    }


@pytest.mark.parametrize("url", ["http://127.0.0.1:9/x", "https://127.0.0.1:9/x"])
def test_http_options_carry_the_timeout(url: str) -> None:
    import aiohttp

    options, timeout = backend_options(url, {"timeout": "3", "client_kwargs": {"trust_env": True}})
    assert timeout == 3.0
    assert options["client_kwargs"] == {
        "trust_env": True,
        "timeout": aiohttp.ClientTimeout(total=None, sock_connect=3.0, sock_read=3.0),
    }
    kept = aiohttp.ClientTimeout(total=1)
    options, _ = backend_options(url, {"client_kwargs": {"timeout": kept}})
    assert options["client_kwargs"]["timeout"] is kept


def test_url_to_fs_bounds_s3_retries_and_names_bad_urls() -> None:
    fs, path = url_to_fs("s3://bucket/repo", {"endpoint_url": "http://127.0.0.1:9"})
    assert path == "bucket/repo" and fs.retries == 1
    assert fs.config_kwargs["read_timeout"] == 20.0
    fs, path = url_to_fs("memory://x/y")
    assert path == "/x/y" and not hasattr(fs, "retries")
    with pytest.raises(UsageError) as info:
        url_to_fs("nope://key:secret@x/y")
    assert str(info.value) == "unknown URL scheme nope:// in nope://***@x/y"
    with pytest.raises(UsageError) as info:
        url_to_fs("reference://")
    message = str(info.value)
    assert message.startswith("cannot open reference://: ") and "missing 1 required" in message
    assert "\n" not in message


# ---- a remote's failures and listings ----


class _RefusingFS(MemoryFileSystem):  # type: ignore[misc]
    """Refuses every read, stat and listing (a remote without permission), keeps writes."""

    protocol = ("dvtool-refusing",)
    root_marker = "/"

    def cat_file(self, path: str, *args: Any, **kwargs: Any) -> bytes:
        raise PermissionError(f"AccessDenied reading {path}")

    def exists(self, path: str, **kwargs: Any) -> bool:
        raise PermissionError(f"AccessDenied on {path}")

    def find(self, path: str, *args: Any, **kwargs: Any) -> Any:
        raise PermissionError(f"AccessDenied listing {path}")


@pytest.mark.parametrize(
    ("action", "verb"),
    [
        (lambda s: s.read("datasets/x.json"), "read"),
        (lambda s: s.exists("datasets/x.json"), "stat"),
        (lambda s: list(s.scan("datasets/x.json")), "list"),
    ],
    ids=["read", "exists", "scan"],
)
def test_a_refusing_remote_is_a_storage_error_naming_the_key(action: Any, verb: str) -> None:
    fsspec.register_implementation("dvtool-refusing", _RefusingFS, clobber=True)
    store = open_store(f"dvtool-refusing:///r-{uuid.uuid4().hex}")
    with pytest.raises(StorageError) as info:
        action(store)
    where = store.full_url("datasets/x.json")
    assert str(info.value).startswith(f"cannot {verb} {where}: PermissionError: AccessDenied")


class _FoldersFS(MemoryFileSystem):  # type: ignore[misc]
    """Lists folders among the files even when asked not to (as some object stores do)."""

    protocol = ("dvtool-folders",)
    root_marker = "/"

    def find(self, path: str, maxdepth: Any = None, withdirs: bool = False, **kwargs: Any) -> Any:
        return super().find(path, maxdepth=maxdepth, withdirs=True, **kwargs)


def test_listings_skip_folders_and_keep_every_file() -> None:
    fsspec.register_implementation("dvtool-folders", _FoldersFS, clobber=True)
    store = open_store(f"dvtool-folders:///r-{uuid.uuid4().hex}")
    for key in ("d/a/1.json", "d/b.json", "d/c/d/2.json", "d/z.json"):
        store.create(key, b"x")
    assert store.list("d") == ["d/a/1.json", "d/b.json", "d/c/d/2.json", "d/z.json"]


def test_listing_a_store_whose_root_and_keys_start_with_x() -> None:
    """Only '/' is stripped from paths, never other characters."""
    store = open_store(f"memory://X{uuid.uuid4().hex}")
    store.create("pX/1.json", b"x")
    store.create("p/2.json", b"y")
    assert store.list("pX") == ["pX/1.json"]
    assert store.list("p") == ["p/2.json"]
    assert store.list("") == ["p/2.json", "pX/1.json"]


def test_an_empty_object_written_by_someone_else_lists_as_size_0() -> None:
    url = f"memory://empty-{uuid.uuid4().hex}"
    store = open_store(url)
    fs, root = fsspec.core.url_to_fs(url)
    fs.pipe_file(f"{root}/d/empty.json", b"")
    assert [(e.key, e.size) for e in store.scan("d")] == [("d/empty.json", 0)]


class _PreconditionFS(MemoryFileSystem):  # type: ignore[misc]
    """Answers an exclusive create of an existing key with HTTP 412, as S3 does."""

    protocol = ("dvtool-precondition",)
    root_marker = "/"

    def _open(self, path: str, mode: str = "rb", **kwargs: Any) -> Any:
        if "x" in mode and self.exists(path):
            raise _Response(
                {
                    "Error": {"Code": "PreconditionFailed"},
                    "ResponseMetadata": {"HTTPStatusCode": 412},
                }
            )
        return super()._open(path, mode, **kwargs)


def test_a_refused_conditional_create_is_already_exists_naming_the_key() -> None:
    fsspec.register_implementation("dvtool-precondition", _PreconditionFS, clobber=True)
    url = f"dvtool-precondition:///r-{uuid.uuid4().hex}"
    store = open_store(url)
    store.create("datasets/d/versions/1.json", b"first")
    with pytest.raises(AlreadyExistsError) as info:
        store.create("datasets/d/versions/1.json", b"second")
    assert str(info.value) == f"datasets/d/versions/1.json already exists in {url}"
    assert store.read("datasets/d/versions/1.json") == b"first"


def test_an_empty_create_names_the_place() -> None:
    store = open_store(f"memory://empty-{uuid.uuid4().hex}")
    with pytest.raises(StorageError) as info:
        store.create("objects/ab/c.parquet", b"")
    assert str(info.value) == (
        f"refusing to write an empty object at {store.full_url('objects/ab/c.parquet')}"
    )


def test_full_url_joins_the_url_and_the_key() -> None:
    url = f"memory://X{uuid.uuid4().hex}X"
    store = open_store(url + "/")
    assert store.full_url("a/b.json") == f"{url}/a/b.json"


def test_the_protocol_is_what_precedes_the_first_scheme_separator() -> None:
    # a local folder named like a scheme is a local folder
    assert backend_options("s3", {}) == ({}, 20.0)
    assert backend_options("http", {"timeout": "2"}) == ({}, 2.0)
    # a URL quoting another URL is judged by its own scheme
    options, _ = backend_options("s3://b/k?from=http://x/y", {})
    assert options["config_kwargs"]["read_timeout"] == 20.0


class _ConflictsFS(MemoryFileSystem):  # type: ignore[misc]
    """Answers exclusive creates with S3's 409 ``conflicts`` times, then behaves; refuses ``deny/``."""

    protocol = ("dvtool-conflicts",)
    root_marker = "/"
    conflicts: ClassVar[int] = 0

    def _open(self, path: str, mode: str = "rb", **kwargs: Any) -> Any:
        if "x" in mode and "/deny/" in path:
            raise PermissionError(f"AccessDenied writing {path}")
        if "x" in mode and _ConflictsFS.conflicts > 0:
            _ConflictsFS.conflicts -= 1
            raise OSError("An error occurred (ConditionalRequestConflict) when calling PutObject")
        return super()._open(path, mode, **kwargs)


@pytest.fixture
def conflicts(monkeypatch: pytest.MonkeyPatch) -> tuple[FsspecStore, list[float]]:
    from dvtool.storage import remote

    slept: list[float] = []
    monkeypatch.setattr(remote.time, "sleep", slept.append)
    fsspec.register_implementation("dvtool-conflicts", _ConflictsFS, clobber=True)
    store = open_store(f"dvtool-conflicts:///r-{uuid.uuid4().hex}")
    assert isinstance(store, FsspecStore)
    return store, slept


def test_a_409_is_retried_four_times_with_a_doubling_pause(
    conflicts: tuple[FsspecStore, list[float]],
) -> None:
    store, slept = conflicts
    _ConflictsFS.conflicts = 4
    store.create("a.json", b"x")
    assert store.read("a.json") == b"x"
    assert slept == [0.05, 0.1, 0.2, 0.4]


def test_a_fifth_409_is_an_error_and_nothing_is_written(
    conflicts: tuple[FsspecStore, list[float]],
) -> None:
    store, slept = conflicts
    _ConflictsFS.conflicts = 5
    with pytest.raises(StorageError) as info:
        store.create("a.json", b"x")
    assert str(info.value).startswith(
        f"cannot write {store.full_url('a.json')}: OSError: An error occurred (ConditionalRequestConflict)"
    )
    assert not store.exists("a.json") and len(slept) == 4
    _ConflictsFS.conflicts = 0


def test_a_refused_write_names_the_key(conflicts: tuple[FsspecStore, list[float]]) -> None:
    store, _ = conflicts
    with pytest.raises(StorageError) as info:
        store.create("deny/a.json", b"x")
    assert str(info.value).startswith(
        f"cannot write {store.full_url('deny/a.json')}: PermissionError: AccessDenied writing"
    )


def test_a_store_url_with_a_trailing_slash_is_the_same_store() -> None:
    url = f"memory://X{uuid.uuid4().hex}X"
    writer = open_store(url + "/")
    assert writer.url == url
    writer.create("k.json", b"x")
    assert open_store(url).read("k.json") == b"x"
    assert open_store(url).list("") == ["k.json"]
    fs, root = fsspec.core.url_to_fs(url)
    assert fs.cat_file(f"{root}/k.json") == b"x"  # where fsspec itself puts the root


def test_url_to_fs_judges_s3_by_the_first_scheme() -> None:
    options = {"endpoint_url": "http://127.0.0.1:9", "skip_instance_cache": True}
    fs, _ = url_to_fs("s3://bucket/k?from=http://x", options)
    assert fs.retries == 1


def test_url_to_fs_passes_the_storage_options_on() -> None:
    options = {"endpoint_url": "http://127.0.0.1:9", "skip_instance_cache": True}
    fs, _ = url_to_fs("s3://bucket/x", options)
    assert fs.client_kwargs.get("endpoint_url", fs.endpoint_url) == "http://127.0.0.1:9"
