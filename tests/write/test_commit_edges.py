"""Publishing and committing, step by step: what mutation testing found unpinned in write/commit.py.

A concurrent writer is a second commit made from inside the first one's
``before_entry`` hook (the moment between its manifest and its version entry);
backend faults come from small fsspec filesystems that answer like a remote.
"""

from __future__ import annotations

import dataclasses
import re
import uuid
from pathlib import Path
from typing import Any, ClassVar

import fsspec
import pyarrow as pa
import pytest
from fsspec.implementations.memory import MemoryFileSystem

import dvtool
from dvtool.catalog import Catalog
from dvtool.crashpoints import SimulatedCrash, arm
from dvtool.errors import IntegrityError, StorageError, UsageError
from dvtool.format.hashing import hash_bytes
from dvtool.format.layout import manifest_key, object_key, tag_key, version_key
from dvtool.format.models import Manifest
from dvtool.storage import Store, open_store
from dvtool.write import commit
from dvtool.write.commit import commit_version, create_tag, publish_staged, recheck_deduped
from dvtool.write.staging import Staging


def _repo(tmp_path: Path) -> dvtool.Repo:
    return dvtool.Repo.init(tmp_path / "repo")


def _draft(repo: dvtool.Repo, rows: int = 3, dataset: str = "d") -> Manifest:
    """A real manifest (snapshotted as a scratch dataset) to commit again as ``dataset``."""
    snap = repo.snapshot(pa.table({"id": list(range(rows))}), dataset=f"src{rows}").snapshot
    return dataclasses.replace(
        snap.manifest, dataset=dataset, created=""
    )  # as build_draft leaves it


def test_first_and_next_commits(tmp_path: Path) -> None:
    repo = _repo(tmp_path)
    draft = _draft(repo)
    first = commit_version(repo.store, "d", draft, message="one", meta=(("k", "v"),))
    assert (first.manifest.version, first.manifest.parent) == (1, None)
    assert (first.manifest.message, first.manifest.meta) == ("one", (("k", "v"),))
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", first.manifest.created)
    assert first.manifest_id == hash_bytes(first.manifest.encode())
    assert first.bytes_written == len(first.manifest.encode())
    assert repo.store.read(manifest_key(first.manifest_id)) == first.manifest.encode()
    entry = Catalog(repo.store).entry("d", 1)
    assert (entry.manifest, entry.rows, entry.message, entry.created) == (
        first.manifest_id,
        3,
        "one",
        first.manifest.created,
    )
    second = commit_version(repo.store, "d", draft, message="two", meta=())
    assert (second.manifest.version, second.manifest.parent) == (2, first.manifest_id)
    assert Catalog(repo.store).manifest_of(Catalog(repo.store).entry("d", 2)) == second.manifest
    again = commit_version(repo.store, "d", draft, message="two", meta=())
    assert again.manifest.version == 3 and again.manifest.parent == second.manifest_id


def test_a_lost_race_commits_as_the_next_version(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(commit.time, "sleep", lambda s: None)
    repo = _repo(tmp_path)
    draft = _draft(repo)
    other = _draft(repo, 5)
    calls: list[int] = []

    def rival() -> None:
        calls.append(1)
        if len(calls) == 1:  # another writer takes version 1 first
            commit_version(repo.store, "d", other, message="rival", meta=())

    mine = commit_version(repo.store, "d", draft, message="mine", meta=(), before_entry=rival)
    assert len(calls) == 2
    cat = Catalog(repo.store)
    assert cat.versions("d") == [1, 2]
    assert cat.entry("d", 1).message == "rival"
    rival_id = cat.entry("d", 1).manifest
    assert (mine.manifest.version, mine.manifest.parent) == (2, rival_id)
    assert cat.entry("d", 2).manifest == mine.manifest_id
    # the manifest of the lost attempt (as v1) was written too, and counted
    lost = dataclasses.replace(mine.manifest, version=1, parent=None)
    assert mine.bytes_written == len(lost.encode()) + len(mine.manifest.encode())
    assert Catalog(repo.store).manifest_of(cat.entry("d", 2)) == mine.manifest


def test_too_many_lost_races_give_up(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    slept: list[float] = []
    monkeypatch.setattr(commit.time, "sleep", slept.append)
    monkeypatch.setattr(commit, "COMMIT_ATTEMPTS", 4)
    repo = _repo(tmp_path)
    draft = _draft(repo)

    def rival() -> None:  # always one version ahead
        commit_version(repo.store, "d", draft, message="rival", meta=())

    with pytest.raises(StorageError) as info:
        commit_version(repo.store, "d", draft, message="mine", meta=(), before_entry=rival)
    assert str(info.value) == "could not commit d after 4 attempts (too many concurrent writers)"
    assert slept == [0.005, 0.01, 0.015, 0.02]  # a growing pause between attempts
    assert Catalog(repo.store).versions("d") == [1, 2, 3, 4]  # only the rival's


def test_the_pause_between_attempts_is_capped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    slept: list[float] = []
    monkeypatch.setattr(commit.time, "sleep", slept.append)
    repo = _repo(tmp_path)
    draft = _draft(repo)
    rounds = 0

    def rival() -> None:
        nonlocal rounds
        rounds += 1
        if rounds <= 120:
            commit_version(repo.store, "d", draft, message="rival", meta=())

    mine = commit_version(repo.store, "d", draft, message="mine", meta=(), before_entry=rival)
    assert mine.manifest.version == 121
    assert max(slept) == 0.5 and slept[99] == 0.5 and slept[98] < 0.5


# ---- an unknown outcome: the write of the version entry fails ----


class _LostAckFS(MemoryFileSystem):  # type: ignore[misc]
    """Version entries land, then the call fails (a lost acknowledgement); or fail and don't land."""

    protocol = ("dvtool-lostack",)
    root_marker = "/"
    mode: ClassVar[str] = "after"

    def _open(self, path: str, mode: str = "rb", **kwargs: Any) -> Any:
        if "x" in mode and "/versions/" in path:
            if self.mode == "before":
                raise OSError("connection reset before the request was sent")
            f = super()._open(path, mode, **kwargs)
            original = f.close

            def close() -> None:
                original()
                raise OSError("connection reset after the request was sent")

            f.close = close
            return f
        return super()._open(path, mode, **kwargs)


def _lostack(tmp_path: Path, mode: str) -> tuple[Store, Manifest]:
    fsspec.register_implementation("dvtool-lostack", _LostAckFS, clobber=True)
    _LostAckFS.mode = mode
    draft = _draft(_repo(tmp_path))
    return open_store(f"dvtool-lostack:///r-{uuid.uuid4().hex}"), draft


def test_a_commit_whose_entry_landed_despite_an_error_succeeds_once(tmp_path: Path) -> None:
    store, draft = _lostack(tmp_path, "after")
    done = commit_version(store, "d", draft, message="m", meta=())
    assert done.manifest.version == 1
    assert Catalog(store).versions("d") == [1]
    assert Catalog(store).entry("d", 1).manifest == done.manifest_id


def test_a_commit_whose_entry_did_not_land_fails(tmp_path: Path) -> None:
    store, draft = _lostack(tmp_path, "before")
    with pytest.raises(StorageError, match="connection reset before"):
        commit_version(store, "d", draft, message="m", meta=())
    assert Catalog(store).versions("d") == []


def test_an_entry_that_landed_with_other_bytes_is_not_ours(tmp_path: Path) -> None:
    store, draft = _lostack(tmp_path, "after")

    def rival_lands_first() -> None:
        if not store.exists(version_key("d", 1)):
            _LostAckFS.mode = "off"
            commit_version(store, "d", draft, message="rival", meta=())
            _LostAckFS.mode = "after"

    # our entry's create fails as "already exists" (the rival's): retried as v2, which lands
    done = commit_version(
        store, "d", draft, message="mine", meta=(), before_entry=rival_lands_first
    )
    assert done.manifest.version == 2
    assert [e.message for e in (Catalog(store).entry("d", v) for v in (1, 2))] == ["rival", "mine"]


# ---- publishing staged chunks, re-checking dedup hits ----


def test_publish_counts_new_and_present_chunks(tmp_path: Path) -> None:
    store = open_store(str(tmp_path / "r"))
    staging = Staging()
    chunks = {hash_bytes(b): b for b in (b"one", b"three", b"fifty")}
    for object_id, data in chunks.items():
        staging.add(object_id, data)
    first = next(iter(chunks))
    store.create(object_key(first), chunks[first])
    published = publish_staged(store, staging)
    assert published.new_chunks == 2
    assert published.bytes_written == len(b"three") + len(b"fifty")
    assert published.deduped == (first,)
    for object_id, data in chunks.items():
        assert store.read(object_key(object_id)) == data
    staging.close()


def test_recheck_rewrites_missing_and_corrupt_chunks_and_keeps_good_ones(tmp_path: Path) -> None:
    store = open_store(str(tmp_path / "r"))
    staging = Staging()
    good, gone, bad = (hash_bytes(b) for b in (b"good", b"gone", b"bad"))
    for object_id, data in ((good, b"good"), (gone, b"gone"), (bad, b"bad")):
        staging.add(object_id, data)
    store.create(object_key(good), b"good")
    store.create(object_key(bad), b"BAD!")  # a torn or damaged copy
    before = (tmp_path / "r" / object_key(good)).stat().st_ino
    recheck_deduped(store, [good, gone, bad], staging)
    assert store.read(object_key(good)) == b"good"
    assert (tmp_path / "r" / object_key(good)).stat().st_ino == before  # not rewritten
    assert store.read(object_key(gone)) == b"gone"
    assert store.read(object_key(bad)) == b"bad"
    staging.close()


# ---- tags ----


def test_create_tag_writes_an_immutable_entry(tmp_path: Path) -> None:
    repo = _repo(tmp_path)
    snap = repo.snapshot(pa.table({"id": [1]}), dataset="d").snapshot
    entry = create_tag(repo.store, "d", 1, snap.id, "release")
    assert (entry.dataset, entry.tag, entry.version, entry.manifest) == ("d", "release", 1, snap.id)
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", entry.created)
    assert repo.store.read(tag_key("d", "release")) == entry.encode()
    repo.snapshot(pa.table({"id": [1, 2]}), dataset="d")
    with pytest.raises(UsageError) as info:
        create_tag(repo.store, "d", 2, snap.id, "release")
    assert str(info.value) == "tag 'release' already exists on d@v1; tags are immutable"
    with pytest.raises(UsageError, match="invalid tag name"):
        create_tag(repo.store, "d", 1, snap.id, "v2")


def test_create_tag_refuses_a_store_that_overwrites(no_exclusive_url: str, tmp_path: Path) -> None:
    store = open_store(no_exclusive_url)
    with pytest.raises(StorageError, match="does not honour create-only writes"):
        create_tag(store, "d", 1, hash_bytes(b"m"), "release")
    assert not store.exists(tag_key("d", "release"))


def test_a_damaged_existing_tag_is_named_when_refusing_another(tmp_path: Path) -> None:
    repo = _repo(tmp_path)
    snap = repo.snapshot(pa.table({"id": [1]}), dataset="d").snapshot
    repo.store.create(tag_key("d", "release"), b"{not json")
    with pytest.raises(IntegrityError, match=r"^tag is not valid JSON"):
        create_tag(repo.store, "d", 1, snap.id, "release")


@pytest.mark.parametrize(
    ("point", "manifest_written", "committed"),
    [
        ("snapshot.after_manifest_written", True, False),
        ("snapshot.before_version_entry", True, False),
        ("snapshot.after_version_entry", True, True),
    ],
)
def test_commit_steps_in_order(
    tmp_path: Path, point: str, manifest_written: bool, committed: bool
) -> None:
    """Stopped at each step, the repository holds exactly what the steps before it wrote."""
    repo = _repo(tmp_path)
    draft = _draft(repo)
    before = set(repo.store.list("manifests"))
    with arm(point), pytest.raises(SimulatedCrash):
        commit_version(repo.store, "d", draft, message="m", meta=())
    assert (set(repo.store.list("manifests")) > before) == manifest_written
    assert Catalog(repo.store).versions("d") == ([1] if committed else [])
