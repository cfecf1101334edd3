"""Exact appends, stable chunks across versions, and stored size against plain Parquet.

Data has the wide, flights-like shape of benchmarks/datagen.py at a small size;
chunks are made small (``DVTOOL_CHUNK_BYTES``) so tens of thousands of rows
span many of them. Everything is asserted from the manifests.
"""

from __future__ import annotations

import importlib.util
import io
import itertools
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import dvtool
from dvtool.format.models import ChunkInfo, Manifest

ROOT = Path(__file__).resolve().parents[2]
ROWS_PER_YEAR = 72_000  # ~6,000 rows a month


def _datagen() -> ModuleType:
    spec = importlib.util.spec_from_file_location("datagen", ROOT / "benchmarks" / "datagen.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


datagen = _datagen()
KEY = list(datagen.WIDE_KEY)


@pytest.fixture(scope="module")
def months() -> list[pa.RecordBatch]:
    return [datagen.wide_month(0, m, ROWS_PER_YEAR) for m in range(1, 13)]


@pytest.fixture
def small_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    # ~150 Arrow bytes a row: avg 8,192 rows, min 2,048, max 32,768.
    monkeypatch.setenv("DVTOOL_CHUNK_BYTES", str(1200 << 10))


def _repo_bytes(manifests: Sequence[Manifest]) -> int:
    objects = {c.object: c.bytes for m in manifests for c in m.chunks}
    return sum(objects.values())


def _check_only_new_rows(parent: Manifest, child: Manifest) -> int:
    """Assert ``child`` keeps ``parent``'s chunks and writes only new rows (+ one merged tail chunk).

    Returns the rows of old data re-written (0, or the rows of the merged chunk).
    """
    kept = {c.object for c in parent.chunks}
    new = [c for c in child.chunks if c.object not in kept]
    # The parent's chunk list is the child's prefix, except a merged run of tiny tail chunks.
    prefix = list(child.chunks[: len(child.chunks) - len(new)])
    assert [c.object for c in prefix] == [c.object for c in parent.chunks[: len(prefix)]]
    dropped = parent.chunks[len(prefix) :]
    min_rows = parent.chunking.min_rows
    assert all(c.rows < min_rows for c in dropped), "only tiny tail chunks may be rewritten"
    rewritten = sum(c.rows for c in dropped)
    if dropped:
        assert rewritten >= min_rows  # merged only once the run passed min_rows
        merged = new[0]
        assert merged.rows == rewritten, "the tiny chunks become exactly one chunk"
        new = new[1:]
    # Every other new chunk holds only rows the parent did not have.
    offset = sum(c.rows for c in child.chunks) - sum(c.rows for c in new)
    assert offset == parent.rows
    if parent.key:
        last = parent.chunks[-1].key_max
        assert last is not None
        for chunk in new:
            assert chunk.key_min is not None and tuple(chunk.key_min) > tuple(last)
    assert sum(c.rows for c in new) == child.rows - parent.rows
    return rewritten


@pytest.mark.parametrize("keyed", [True, False], ids=["keyed", "keyless"])
def test_twelve_cumulative_monthly_versions_write_only_new_rows(
    tmp_path: Path, months: list[pa.RecordBatch], small_chunks: None, keyed: bool
) -> None:
    key = KEY if keyed else []
    repo = dvtool.Repo.init(str(tmp_path / "repo"))
    manifests: list[Manifest] = []
    for m in range(1, 13):
        result = repo.snapshot(pa.Table.from_batches(months[:m]), dataset="flights", key=key)
        assert result.version == m
        manifests.append(result.snapshot.manifest)
    rewritten = [_check_only_new_rows(p, c) for p, c in itertools.pairwise(manifests)]
    assert rewritten == [0] * 11  # months are larger than min_rows: nothing tiny to merge
    alone = dvtool.Repo.init(str(tmp_path / "alone")).snapshot(
        pa.Table.from_batches(months), dataset="flights", key=key
    )
    assert alone.snapshot.manifest.fingerprint == manifests[-1].fingerprint
    assert _repo_bytes(manifests) <= 1.1 * alone.snapshot.manifest.bytes


@pytest.mark.parametrize("keyed", [True, False], ids=["keyed", "keyless"])
def test_small_appends_leave_tiny_chunks_until_they_add_up_then_merge_once(
    tmp_path: Path, months: list[pa.RecordBatch], small_chunks: None, keyed: bool
) -> None:
    key = KEY if keyed else []
    rows = pa.Table.from_batches(months[:3])
    repo = dvtool.Repo.init(str(tmp_path / "repo"))
    first = repo.snapshot(rows.slice(0, 3000), dataset="f", key=key).snapshot.manifest
    min_rows = first.chunking.min_rows
    manifests = [first]
    end = 3000
    while end < 3000 + 3 * min_rows:
        end += 300  # far below min_rows
        manifests.append(repo.snapshot(rows.slice(0, end), dataset="f", key=key).snapshot.manifest)
    rewritten = [_check_only_new_rows(p, c) for p, c in itertools.pairwise(manifests)]
    merges = [r for r in rewritten if r]
    assert len(merges) >= 2  # tiny chunks were merged, more than once, each time past min_rows
    assert all(min_rows <= r < 2 * min_rows for r in merges)
    last = manifests[-1]
    tail_run = 0
    for chunk in reversed(last.chunks):
        if chunk.rows >= min_rows:
            break
        tail_run += chunk.rows
    assert (
        tail_run - last.chunks[-1].rows < min_rows
    )  # a run past min_rows is merged by the next version
    assert (
        last.fingerprint
        == dvtool.Repo.init(str(tmp_path / "alone"))
        .snapshot(rows.slice(0, end), dataset="f", key=key)
        .snapshot.manifest.fingerprint
    )


def _covering(chunks: Sequence[ChunkInfo], keys: Sequence[tuple[object, ...]]) -> set[str]:
    """Objects of the chunks whose key range [key_min, key_max] holds one of ``keys``, or lies next to one."""
    out = set()
    for i, chunk in enumerate(chunks):
        assert chunk.key_min is not None and chunk.key_max is not None
        upper = chunks[i + 1].key_min if i + 1 < len(chunks) else None
        for k in keys:
            if tuple(chunk.key_min) <= k and (upper is None or k < tuple(upper)):
                out.add(chunk.object)
    return out


def test_edits_in_the_middle_change_only_the_chunks_around_them_across_versions(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DVTOOL_CHUNK_BYTES", str(64 << 10))  # ~20 bytes a row: avg 4,096 rows
    ids = np.arange(60_000, dtype=np.int64) * 10

    def table(keys: np.ndarray) -> pa.Table:
        keys = np.sort(keys)
        return pa.table(
            {"id": keys, "v": (keys * 7919) % 1000, "s": pa.array([f"s{k % 977}" for k in keys])}
        )

    repo = dvtool.Repo.init(str(tmp_path / "repo"))
    v1 = repo.snapshot(table(ids), dataset="d", key=["id"]).snapshot.manifest
    assert len(v1.chunks) >= 8
    edits = [
        ("insert", ids[6_000:6_400] + 5),  # into key gaps near 10%
        ("insert", ids[30_000:30_050] + 3),
        ("delete", ids[45_000:45_300]),
        ("insert", ids[54_000:54_010] + 7),
    ]
    current = ids
    touched: list[tuple[object, ...]] = []
    previous = v1
    for kind, keys in edits:
        current = (
            np.concatenate([current, keys]) if kind == "insert" else np.setdiff1d(current, keys)
        )
        result = repo.snapshot(table(current), dataset="d", key=["id"])
        m = result.snapshot.manifest
        edited = [(int(keys[0]),), (int(keys[-1]),)]
        touched += edited
        around = _covering(previous.chunks, edited)
        kept = {c.object for c in m.chunks}
        # Against the parent: every chunk away from the edit is the parent's own chunk.
        assert {c.object for c in previous.chunks} - kept <= around
        assert 1 <= result.new_chunks <= 3
        previous = m
    # Across all the versions: the first version's chunks away from every edit are still there.
    untouched = {c.object for c in v1.chunks} - _covering(v1.chunks, touched)
    assert len(untouched) >= len(v1.chunks) - 2 * len(edits)
    assert untouched <= {c.object for c in previous.chunks}


def test_stored_size_is_at_most_pyarrows_default_write_table_on_the_wide_shape(
    tmp_path: Path,
) -> None:
    # Default chunk sizes: ~65k rows a chunk on this shape.
    rows = pa.Table.from_batches(list(datagen.wide_months(200_000)))
    repo = dvtool.Repo.init(str(tmp_path / "repo"))
    snap = repo.snapshot(rows, dataset="flights", key=KEY).snapshot
    assert len(snap.chunks) >= 2
    sink = io.BytesIO()
    pq.write_table(rows.sort_by([(k, "ascending") for k in KEY]), sink)
    assert snap.manifest.bytes <= 1.0 * len(sink.getvalue()), (
        snap.manifest.bytes,
        len(sink.getvalue()),
    )
    assert snap.to_arrow().equals(rows)
