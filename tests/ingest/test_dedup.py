"""Dedup on a 1M-row keyed dataset: appends and local inserts store few new bytes."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

import dvtool

N = 1_000_000


def orders(ids: np.ndarray) -> pa.Table:
    rng = np.random.default_rng(7)
    # Values are a function of the id, so the same id always has the same row.
    amount = (ids % 9973) * 0.37
    letters = np.array(list("abcdefghijklmnopqrstuvwxyz0123456789"))
    idx = (ids[:, None] * np.array([7, 13, 31, 61, 127, 251, 509, 1021]) + 3) % 36
    notes = ["".join(row) for row in letters[idx]]
    del rng
    return pa.table(
        {
            "id": ids,
            "user_id": ids % 50_000,
            "amount": amount,
            "category": pa.array([f"cat_{i % 50:02d}" for i in ids]),
            "note": pa.array(notes),
        }
    )


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> tuple[dvtool.Repo, np.ndarray, int]:
    repo = dvtool.Repo.init(tmp_path_factory.mktemp("dedup") / "repo")
    ids = np.arange(N, dtype=np.int64) * 10
    first = repo.snapshot(orders(ids), dataset="orders", key=["id"])
    return repo, ids, first.snapshot.manifest.bytes


def test_append_one_percent_writes_under_three_percent(
    base: tuple[dvtool.Repo, np.ndarray, int],
) -> None:
    repo, ids, stored = base
    appended = np.concatenate([ids, ids[-1] + 10 + np.arange(N // 100, dtype=np.int64) * 10])
    result = repo.snapshot(orders(appended), dataset="orders", key=["id"])
    assert result.snapshot.rows == N + N // 100
    assert result.bytes_written <= 0.03 * stored, (result.bytes_written, stored)
    assert result.new_chunks < len(result.snapshot.chunks) // 5


def test_insert_thousand_rows_in_the_middle_rewrites_only_the_chunk_around_it(
    base: tuple[dvtool.Repo, np.ndarray, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Chunk-level behaviour, with patches off (with them, this insert is a patch: tests/write/test_patches.py).
    monkeypatch.setenv("DVTOOL_PATCH_RATIO", "0")
    repo, ids, stored = base
    middle = ids[N // 2 : N // 2 + 1000] + 5  # between existing ids
    inserted = np.sort(np.concatenate([ids, middle]))
    # The same base in its own dataset, so the parent of the insert is that base.
    repo2_base = repo.snapshot(orders(ids), dataset="orders-insert", key=["id"])
    result = repo.snapshot(orders(inserted), dataset="orders-insert", key=["id"])
    assert repo2_base.version == 1 and result.version == 2
    before = {c.object for c in repo2_base.snapshot.chunks}
    new = [c for c in result.snapshot.chunks if c.object not in before]
    # Only the parent chunk whose key range holds the insert is rewritten (split in two at most).
    assert (
        1 <= len(new) <= 2
        and len(result.snapshot.chunks) - len(new) == len(repo2_base.snapshot.chunks) - 1
    )
    assert all(c.key_min is not None and c.key_max is not None for c in new)
    assert (
        min(c.key_min[0] for c in new) <= middle[0] and max(c.key_max[0] for c in new) >= middle[-1]
    )
    assert result.bytes_written <= 0.25 * stored, (result.bytes_written, stored)
