"""Reading a patched version by row number (the patch's ``positions``) gives exactly its rows.

Every reader that applies a patch by position (``Snapshot.scan``/``to_arrow``,
``read_chunk``, ``query``) is compared with the rows the version must hold,
with the same reader over the compacted version, and with the older way of
applying a patch by key (a patch written without positions still reads).
Real repositories and real DuckDB; small data.
"""

from __future__ import annotations

import dataclasses
import itertools
import uuid
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import dvtool
from dvtool.errors import IntegrityError
from dvtool.format.layout import object_key
from dvtool.format.models import Manifest
from dvtool.ops.patchcheck import check_patch
from dvtool.query import TableInput, open_query, query_schema
from dvtool.readplan import ChunkMerge, load_patch, merge_at, merge_batches, patch_merge
from dvtool.snapshot import Snapshot

N = 4000


@pytest.fixture(autouse=True)
def _small_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DVTOOL_CHUNK_BYTES", "8000")  # ~250-row chunks: many of them


def base_table(n: int = N) -> pa.Table:
    rng = np.random.default_rng(5)
    return pa.table(
        {
            "id": pa.array(np.arange(n) * 2, pa.int64()),
            "price": pa.array(rng.normal(100, 10, n)),
            "city": pa.array([f"c{i % 11}" for i in range(n)]),
            "qty": pa.array([None if i % 13 == 0 else i % 7 for i in range(n)], pa.int32()),
        }
    )


def edited(t: pa.Table, seed: int = 1) -> pa.Table:
    """Prices changed, rows deleted (the first row too), odd ids inserted (one before the first
    row, one after the last), in scattered places."""
    rng = np.random.default_rng(seed)
    n = t.num_rows
    price = t.column("price").to_numpy().copy()
    price[rng.choice(n, 40, replace=False)] += 2.5
    keep = np.ones(n, bool)
    keep[rng.choice(n, 25, replace=False)] = False
    keep[0] = False
    out = t.set_column(1, "price", pa.array(price)).filter(pa.array(keep))
    ids = np.concatenate([[-1], np.unique(rng.choice(n, 15, replace=False)) * 2 + 1, [2 * n + 1]])
    extra = pa.table(
        {
            "id": pa.array(ids, pa.int64()),
            "price": pa.array(np.full(len(ids), 7.0)),
            "city": pa.array(["new"] * len(ids)),
            "qty": pa.array([None] * len(ids), pa.int32()),
        }
    )
    return pa.concat_tables([out, extra]).sort_by("id")


@pytest.fixture(params=["folder", "memory"])
def repo(request: pytest.FixtureRequest, tmp_path: Path) -> dvtool.Repo:
    if request.param == "folder":
        return dvtool.Repo.init(tmp_path / "repo")
    return dvtool.Repo.init(f"memory://patchreads-{uuid.uuid4().hex}")


def patched(repo: dvtool.Repo) -> tuple[pa.Table, Snapshot]:
    v1 = base_table()
    repo.snapshot(v1, dataset="t", key=["id"])
    rows = edited(v1)
    snap = repo.snapshot(rows, dataset="t", key=["id"]).snapshot
    assert snap.manifest.patch is not None and snap.manifest.patch.positions is not None
    return rows, snap


def without_positions(snap: Snapshot) -> Snapshot:
    """The same version as a patch written before positions were recorded (applied by key)."""
    assert snap.manifest.patch is not None
    patch = dataclasses.replace(snap.manifest.patch, positions=None)
    return Snapshot(snap.store, dataclasses.replace(snap.manifest, patch=patch), snap.id)


def test_every_arrow_reader_gives_the_rows_by_position_and_by_key(repo: dvtool.Repo) -> None:
    rows, snap = patched(repo)
    old = without_positions(snap)
    assert patch_merge(old.manifest, load_patch(old.store, old.manifest)) is None
    for s in (snap, old):
        assert s.to_arrow().equals(rows)
        assert s.scan(["city", "price"]).read_all().equals(rows.select(["city", "price"]))
        assert s.scan(["qty"]).read_all().equals(rows.select(["qty"]))
        parts = [s.read_chunk(c) for c in s.chunks]
        assert pa.concat_tables(parts).equals(rows)
        assert [p.num_rows for p in parts] == [c.rows for c in s.chunks]
    assert check_patch(repo.store, snap.manifest) == []
    assert repo.fsck().ok


# Float sums rounded: DuckDB adds in parallel, in an order that may differ run to run.
QUERIES = [
    'SELECT count(*), round(sum(price), 6), min(qty), max(id), count(DISTINCT city) FROM "{t}"',
    'SELECT count(*) FROM "{t}"',
    "SELECT id, price FROM \"{t}\" WHERE city = 'new' ORDER BY id",  # filter on a column not selected
    'SELECT id FROM "{t}" WHERE qty IS NULL AND price > 100 ORDER BY id',
    'SELECT city, count(*) AS n, sum(qty) AS q FROM "{t}" GROUP BY city ORDER BY city',
    'SELECT count(*) FROM "{t}" a JOIN "{t}" b USING (id) WHERE a.price = b.price',  # scanned twice
    'SELECT * FROM "{t}" ORDER BY id LIMIT 7',
    'SELECT * FROM "{t}" ORDER BY id',
]


@pytest.mark.parametrize("sql", QUERIES)
def test_query_of_a_patched_version_equals_its_compaction(repo: dvtool.Repo, sql: str) -> None:
    rows, _ = patched(repo)
    repo.compact("t")
    assert repo.get("t@v3").manifest.patch is None
    got = repo.query(sql.format(t="t@v2"))
    assert got.equals(repo.query(sql.format(t="t@v3")))
    with_rows = open_query(sql.format(t="x"), lambda _: TableInput(rows.schema, data=rows))
    with with_rows as result:
        assert got.equals(result.read_all())


def test_query_rows_come_in_key_order_without_order_by(repo: dvtool.Repo) -> None:
    rows, _ = patched(repo)
    assert repo.query('SELECT id FROM "t@v2"').column("id").equals(rows.column("id"))


@pytest.mark.parametrize("sql", QUERIES)
def test_query_of_a_patch_without_positions(repo: dvtool.Repo, sql: str) -> None:
    """A patch written before positions were recorded is still read by key (an anti-join, in no
    particular row order)."""
    rows, snap = patched(repo)
    old = without_positions(snap)
    tables = load_patch(old.store, old.manifest)
    table = TableInput(
        old.schema,
        tuple(old.verified_files()),
        upserts=tables.upserts,
        removed_keys=tables.removed.select(["id"]),
        key=old.key,
    )
    fs = repo.store.filesystem
    with open_query(sql.format(t="x"), lambda _: table, filesystem=fs) as result:
        got = result.read_all()
    with open_query(sql.format(t="x"), lambda _: TableInput(rows.schema, data=rows)) as result:
        assert got.sort_by([(n, "ascending") for n in got.column_names]).equals(
            result.read_all().sort_by([(n, "ascending") for n in got.column_names])
        )


def test_the_patched_dataset_is_never_read_as_its_base(tmp_path: Path) -> None:
    import pyarrow.dataset as ds

    from dvtool.query import _patched_dataset

    repo = dvtool.Repo.init(tmp_path / "repo")
    rows, snap = patched(repo)
    tables = load_patch(snap.store, snap.manifest)
    merges = patch_merge(snap.manifest, tables)
    table = TableInput(
        snap.schema, tuple(snap.verified_files()), upserts=tables.upserts, merges=merges
    )
    dataset = _patched_dataset(table, None)
    assert isinstance(dataset, ds.Dataset)
    assert dataset.to_table().equals(rows.cast(query_schema(rows.schema)))
    assert (
        dataset.scanner(columns=["id"], filter=pc.field("city") == "new")
        .to_table()
        .equals(rows.filter(pc.equal(rows.column("city"), "new")).select(["id"]))
    )
    with pytest.raises((OSError, pa.ArrowInvalid)):  # its own file does not exist
        ds.Scanner.from_dataset(dataset).to_table()


def _rewrite_positions(repo: dvtool.Repo, m: Manifest, change: int) -> Manifest:
    """``m`` with one removed row's position moved by ``change`` (a new, validly hashed object)."""
    import io

    import pyarrow.parquet as pq

    from dvtool.format.hashing import hash_bytes
    from dvtool.format.patches import PatchObject

    assert m.patch is not None and m.patch.positions is not None
    positions = load_patch(repo.store, m).positions.copy()
    positions[0] += change
    sink = io.BytesIO()
    pq.write_table(pa.table({"position": pa.array(positions, pa.int64())}), sink)
    data = sink.getvalue()
    object_id = hash_bytes(data)
    repo.store.put_object(object_key(object_id), data)
    obj = PatchObject(object_id, len(positions), len(data))
    return dataclasses.replace(m, patch=dataclasses.replace(m.patch, positions=obj))


def test_fsck_and_readers_catch_positions_that_are_wrong(tmp_path: Path) -> None:
    repo = dvtool.Repo.init(tmp_path / "repo")
    _, snap = patched(repo)
    assert check_patch(repo.store, snap.manifest) == []
    # A removed position moved by one row: still in range, but the wrong row.
    shifted = _rewrite_positions(repo, snap.manifest, 1)
    problems = check_patch(repo.store, shifted)
    assert any("removed positions" in p for p in problems), problems
    # A position outside its chunk: every reader refuses, none guesses.
    outside = _rewrite_positions(repo, snap.manifest, 10**9)
    assert check_patch(repo.store, outside)
    with pytest.raises(IntegrityError, match="positions"):
        Snapshot(repo.store, outside, "x").to_arrow()


@settings(max_examples=60, deadline=None)
@given(st.data())
def test_merging_batch_by_batch_equals_merging_the_whole_chunk(data: st.DataObject) -> None:
    n = data.draw(st.integers(0, 40))
    drop = np.array(
        sorted(data.draw(st.sets(st.integers(0, max(n - 1, 0)), max_size=n))) if n else [],
        np.int64,
    )
    m = data.draw(st.integers(0, 8))
    at = np.array(sorted(data.draw(st.lists(st.integers(0, n), min_size=m, max_size=m))), np.int64)
    base = pa.table(
        {
            "x": pa.array(range(n), pa.int64()),
            "s": pa.array([f"b{i}" for i in range(n)], pa.string()),
        }
    )
    ups = pa.table(
        {
            "x": pa.array(range(1000, 1000 + m), pa.int64()),
            "s": pa.array([f"u{i}" for i in range(m)], pa.string()),
        }
    )
    cuts = sorted(data.draw(st.lists(st.integers(0, n), max_size=5)))  # may repeat: empty batches
    bounds = [0, *cuts, n]
    batches = [
        b
        for a, z in itertools.pairwise(bounds)
        for b in base.slice(a, z - a).to_batches()
        or [pa.RecordBatch.from_pylist([], schema=base.schema)]
    ]
    merge = ChunkMerge(n, drop, at, (0, m))
    streamed = pa.Table.from_batches(list(merge_batches(batches, merge, ups)), schema=base.schema)
    whole = merge_at(base, drop, ups, at)
    assert streamed.equals(whole)
    # The model: base rows not dropped, each upsert before base row at[j].
    expect: list[str] = []
    for i in range(n + 1):
        expect.extend(f"u{j}" for j in range(m) if at[j] == i)
        if i < n and i not in set(drop.tolist()):
            expect.append(f"b{i}")
    assert whole.column("s").to_pylist() == expect


def test_batches_that_do_not_add_up_to_the_chunk_are_refused() -> None:
    base = pa.table({"x": pa.array(range(10), pa.int64())})
    merge = ChunkMerge(11, np.array([2], np.int64), np.array([], np.int64), (0, 0))
    with pytest.raises(IntegrityError):
        list(merge_batches(base.to_batches(), merge, base.slice(0, 0)))


def test_golden_v2_manifests_with_and_without_positions_load_and_encode_identically() -> None:
    from dvtool.format.models import parse_json

    golden = Path(__file__).resolve().parent.parent / "fixtures" / "golden"
    old = Manifest.from_dict(parse_json((golden / "manifest-v2.json").read_bytes(), "golden"))
    assert old.patch is not None and old.patch.positions is None  # applied by key
    raw = (golden / "manifest-v2-positions.json").read_bytes()
    m = Manifest.from_dict(parse_json(raw, "golden"))
    assert m.encode() == raw.rstrip(b"\n")
    assert m.format == 2 and m.patch is not None and m.patch.positions is not None
    assert m.patch.positions.rows == m.patch.upserts.rows + m.patch.removed.rows
    assert m.patch.objects[-1] == m.patch.positions
    assert m.bytes == sum(c.bytes for c in m.chunks) + m.patch.bytes
    assert m.patch.bytes == sum(
        o.bytes for o in (m.patch.upserts, m.patch.removed, m.patch.positions)
    )
