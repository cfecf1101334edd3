"""Injected storage faults (seeded): commits are all-or-nothing, and fsck is clean afterwards."""

from __future__ import annotations

import uuid

import pytest
from faultyfs import Faults, register
from helpers import table

import dvtool
from dvtool.errors import DvtoolError, StorageError


def _repo(faults: Faults) -> dvtool.Repo:
    name = register(faults)
    url = f"faulty://repo-{uuid.uuid4().hex[:8]}"
    was = faults.enabled
    faults.enabled = False
    repo = dvtool.Repo.init(url, storage_options={"faults": name})
    faults.enabled = was
    return repo


def _backing_files(faults: Faults) -> dict[str, bytes]:
    return {k: bytes(v.getvalue()) for k, v in faults.backing.store.items() if "/tmp/" not in k}


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_fault_storm_commits_are_all_or_nothing(seed: int) -> None:
    faults = Faults(seed=seed, before=0.06, after=0.06, slow=0.02)
    repo = _repo(faults)
    attempts = [table(30 + i, start=i * 100, tag=f"s{i}") for i in range(20)]
    succeeded = []
    for i, t in enumerate(attempts):
        try:
            result = repo.snapshot(t, dataset="storm", message=str(i))
        except DvtoolError:
            continue
        if not result.unchanged:
            succeeded.append(i)
    assert any(kind in ("before", "after") for _, _, kind in faults.log)
    faults.enabled = False
    check = repo.fsck()
    assert check.ok, check.to_text()
    log = sorted(repo.log("storm"), key=lambda e: e.version)
    assert [e.version for e in log] == list(range(1, len(log) + 1))
    committed = [int(e.message) for e in log]
    assert committed == sorted(set(committed))  # in order, never committed twice
    assert set(succeeded) <= set(committed)  # a reported success really landed
    for e in log:
        assert repo.get(f"storm@v{e.version}").to_arrow().equals(attempts[int(e.message)])


def test_lost_acknowledgement_of_the_commit_is_not_a_failure() -> None:
    faults = Faults(after=1.0, ops=frozenset({"write"}), only=("/versions/",))
    repo = _repo(faults)
    result = repo.snapshot(table(40), dataset="d")
    assert result.version == 1
    assert ("write", next(k for _, k, _ in faults.log), "after") in faults.log
    faults.enabled = False
    assert [e.version for e in repo.log("d")] == [1]
    assert repo.fsck().ok


def test_torn_chunk_write_is_detected_and_repaired_by_the_retry() -> None:
    faults = Faults(torn=1.0, ops=frozenset({"write"}), only=("/objects/",))
    repo = _repo(faults)
    with pytest.raises(StorageError):
        repo.snapshot(table(60), dataset="d")
    faults.enabled = False
    damaged = repo.fsck()
    assert [p.kind for p in damaged.problems] == ["corrupt"]  # a half object under its final key
    result = repo.snapshot(
        table(60), dataset="d"
    )  # dedup hit on the torn copy: re-verified, rewritten
    assert result.version == 1
    assert repo.fsck().ok
    assert repo.get("d").to_arrow().equals(table(60))


def test_gc_with_a_lagging_listing_never_deletes_what_a_version_needs() -> None:
    faults = Faults(enabled=False)
    repo = _repo(faults)
    repo.snapshot(table(50, tag="a"), dataset="d")
    repo.snapshot(table(50, tag="b"), dataset="d")
    repo.prune("d", keep_last=1)
    faults.age(30)
    repo.snapshot(table(50, tag="c"), dataset="d")  # young keys
    faults.hide_recent = 4  # listings miss the newest keys: v3's entry, manifest, chunk
    faults.enabled = True
    swept = repo.gc(dry_run=False)
    faults.enabled = False
    faults.hide_recent = 0
    assert swept.deleted >= 1  # v1's chunk went
    assert repo.fsck().ok
    assert repo.get("d").to_arrow().equals(table(50, tag="c"))
    assert repo.get("d@v2").to_arrow().equals(table(50, tag="b"))


def test_gc_aborts_without_deleting_when_roots_are_unreadable() -> None:
    faults = Faults(enabled=False, before=1.0, ops=frozenset({"read"}), only=("/datasets/",))
    repo = _repo(faults)
    repo.snapshot(table(50, tag="a"), dataset="d")
    repo.snapshot(table(50, tag="b"), dataset="d")
    repo.prune("d", keep_last=1)
    faults.age(30)
    before = _backing_files(faults)
    faults.enabled = True
    with pytest.raises(StorageError, match="gc aborted, nothing was deleted"):
        repo.gc(dry_run=False)
    faults.enabled = False
    assert _backing_files(faults) == before


def test_gc_interrupted_by_delete_faults_finishes_on_the_next_run() -> None:
    faults = Faults(
        enabled=False, before=0.3, after=0.3, ops=frozenset({"delete"}), only=("/objects/",), seed=7
    )
    repo = _repo(faults)
    for i in range(4):
        repo.snapshot(table(40, start=i * 100, tag=str(i)), dataset="d")
    repo.prune("d", keep_last=1)
    faults.age(30)
    faults.enabled = True
    for _ in range(10):
        try:
            repo.gc(dry_run=False)
            break
        except StorageError:
            continue
    faults.enabled = False
    assert repo.gc(dry_run=False).items == ()
    assert repo.fsck().ok
    assert repo.get("d").to_arrow().equals(table(40, start=300, tag="3"))
