"""Staged chunks: memory, spill to a folder, stage files in the repository, publish, clean up."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import pytest

from dvtool.format.hashing import hash_bytes, object_hex
from dvtool.storage import TEMP_PREFIX, open_store
from dvtool.write import staging as staging_module
from dvtool.write.staging import Staging


def _id(data: bytes) -> str:
    return hash_bytes(data)


def test_memory_then_spill_at_the_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(staging_module, "SPOOL_MEMORY", 10)
    s = Staging()
    a, b, c = b"12345", b"67890", b"x"
    s.add(_id(a), a)
    s.add(_id(b), b)  # exactly at the limit: still in memory
    assert s._dir is None
    s.add(_id(c), c)  # one byte over: spilled to a temp folder
    assert s._dir is not None and os.path.basename(s._dir).startswith("dvtool-stage-")
    spilled = os.path.join(s._dir, f"{TEMP_PREFIX}{object_hex(_id(c))}")
    with open(spilled, "rb") as f:
        assert f.read() == c
    assert [s.get(_id(x)) for x in (a, b, c)] == [a, b, c]
    assert s.order == [_id(a), _id(b), _id(c)]
    folder = s._dir
    s.close()
    assert not os.path.exists(folder) and s.order == [] and s._dir is None
    s.add(_id(a), a)  # usable again after close, memory counted from zero
    s.add(_id(b), b)
    assert s._dir is None
    s.close()


def test_the_same_chunk_is_staged_once(tmp_path: Path) -> None:
    s = Staging()
    data = b"same"
    s.add(_id(data), data)
    s.add(_id(data), data)
    assert s.order == [_id(data)]
    fixed = Staging(str(tmp_path / "stage"))
    path = fixed.prepare(_id(data), data)
    fixed.add(_id(data), path)
    fixed.add(_id(data), path)
    assert fixed.order == [_id(data)]
    s.close()
    fixed.close()


def test_prepare_writes_to_the_fixed_folder_only(tmp_path: Path) -> None:
    data = b"chunk"
    assert Staging().prepare(_id(data), data) == data
    folder = tmp_path / "deep" / "stage"
    s = Staging(str(folder))
    path = s.prepare(_id(data), data)
    assert isinstance(path, str)
    assert path == str(folder / f"{TEMP_PREFIX}{object_hex(_id(data))}")
    assert Path(path).read_bytes() == data
    s.add(_id(data), path)
    assert s.get(_id(data)) == data and s.local_path(_id(data)) == path
    s.close()
    assert not folder.exists()


def test_retain_keeps_order_of_the_chosen(tmp_path: Path) -> None:
    s = Staging()
    ids = [_id(bytes([i])) for i in range(4)]
    for i, object_id in enumerate(ids):
        s.add(object_id, bytes([i]))
    s.retain({ids[3], ids[1]})
    assert s.order == [ids[1], ids[3]]
    s.close()


def test_publish_from_memory_and_from_files(tmp_path: Path) -> None:
    store = open_store(str(tmp_path / "r"))
    s = Staging(store.staging_dir())
    mem, file = b"in memory", b"in a file"
    s.add(_id(mem), mem)
    s.add(_id(file), s.prepare(_id(file), file))
    s2 = Staging()
    s2.add(_id(mem), mem)
    assert s2.publish(store, "objects/m", _id(mem)) == len(mem)
    assert s2.publish(store, "objects/m", _id(mem)) is None  # already there
    assert s.publish(store, "objects/f", _id(file)) == len(file)
    assert store.read("objects/f") == file
    s.close()
    s2.close()


def test_publish_a_staged_file_to_a_remote_store(tmp_path: Path) -> None:
    store = open_store(f"memory://stage-{uuid.uuid4().hex}")
    assert store.staging_dir() is None
    s = Staging(str(tmp_path / "stage"))
    data = b"chunk bytes"
    s.add(_id(data), s.prepare(_id(data), data))
    assert s.publish(store, "objects/x", _id(data)) == len(data)
    assert s.publish(store, "objects/x", _id(data)) is None
    assert store.read("objects/x") == data
    s.close()


def test_local_path_writes_a_memory_chunk_once(tmp_path: Path) -> None:
    s = Staging()
    data = b"for duckdb"
    s.add(_id(data), data)
    path = s.local_path(_id(data))
    assert Path(path).read_bytes() == data
    assert Path(path).name == f"{TEMP_PREFIX}{object_hex(_id(data))}"
    Path(path).write_bytes(b"changed")  # not written again
    assert s.local_path(_id(data)) == path and Path(path).read_bytes() == b"changed"
    s.close()
    assert not Path(path).exists()


def test_a_local_repository_stages_inside_itself(tmp_path: Path) -> None:
    store = open_store(str(tmp_path / "r"))
    folder = store.staging_dir()
    assert folder is not None
    assert Path(folder).parent == tmp_path / "r" / "tmp"
    assert Path(folder).name.startswith(f"{TEMP_PREFIX}stage-")
    assert store.staging_dir() != folder  # one per writer


def test_a_stage_folder_that_exists_already_is_used(tmp_path: Path) -> None:
    folder = tmp_path / "stage"
    folder.mkdir()  # e.g. made by another encode worker a moment before
    s = Staging(str(folder))
    path = s.prepare(_id(b"x"), b"x")
    assert Path(path).parent == folder
    s.close()


def test_close_after_the_stage_folder_was_swept(tmp_path: Path) -> None:
    import shutil

    s = Staging(str(tmp_path / "stage"))
    s.add(_id(b"x"), s.prepare(_id(b"x"), b"x"))
    shutil.rmtree(tmp_path / "stage")  # gc swept a killed writer's temp folder, say
    s.close()
    assert s.order == []


def test_each_staged_file_is_fsynced_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Prepared files are fsync'd by the encode worker, spilled ones when published: once each."""
    import stat

    synced: list[int] = []
    real_fsync = os.fsync

    def fsync(fd: int) -> None:
        if stat.S_ISREG(os.fstat(fd).st_mode):
            synced.append(os.fstat(fd).st_ino)
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(staging_module, "SPOOL_MEMORY", 0)
    store = open_store(str(tmp_path / "r"))
    s = Staging(store.staging_dir())
    prepared, spilled = b"prepared chunk", b"spilled chunk"
    s.add(_id(prepared), s.prepare(_id(prepared), prepared))
    s.add(_id(spilled), spilled)  # over the memory limit: written by add, not fsync'd yet
    for data in (prepared, spilled):
        assert s.publish(store, f"objects/{object_hex(_id(data))}", _id(data)) == len(data)
    published = {
        (tmp_path / "r" / f"objects/{object_hex(_id(d))}").stat().st_ino
        for d in (prepared, spilled)
    }
    assert sorted(synced) == sorted(published)  # each file once, none twice
    s.close()
