"""What the row engine says when a side cannot be compared: bad keys, unreadable or mismatched chunks."""

from __future__ import annotations

import math
from collections.abc import Callable

import pyarrow as pa
import pytest

from dvtool.diff.plan import Side, diff
from dvtool.errors import DataError, IntegrityError, UsageError
from dvtool.format.hashing import hash_bytes
from dvtool.format.models import ChunkInfo


def _info(name: str, table: pa.Table) -> ChunkInfo:
    ids = table["id"].to_pylist()
    return ChunkInfo(
        object=hash_bytes(name.encode()),
        fingerprint=hash_bytes(name.encode() + b"/fp"),
        rows=table.num_rows,
        bytes=table.nbytes,
        key_min=(min(ids),) if ids and isinstance(ids[0], int) else None,
        key_max=(max(ids),) if ids and isinstance(ids[0], int) else None,
    )


def _chunked(label: str, table: pa.Table, load: Callable[[ChunkInfo], pa.Table]) -> Side:
    return Side(label, table.schema, (_info(label, table),), ("id",), load=load)


def test_null_keys_are_counted_and_named() -> None:
    t = pa.table({"id": [1, None, None], "v": [1, 2, 3]})
    ok = pa.table({"id": [1], "v": [1]})
    with pytest.raises(DataError, match=r"^key \(id\) has 2 null value\(s\) in left$"):
        diff(Side.from_arrow("left", t), Side.from_arrow("right", ok), key=["id"])
    two = pa.table({"a": [1, 2], "b": ["x", None]})
    with pytest.raises(DataError, match=r"^key \(a, b\) has 1 null value\(s\) in two$"):
        diff(Side.from_arrow("two", two), Side.from_arrow("right", two), key=["a", "b"])


@pytest.mark.parametrize("keys", [[math.nan, 1.0, -0.0], [-0.0, math.nan, 2.0]])
def test_nan_and_negative_zero_keys_are_refused(keys: list[float]) -> None:
    t = pa.table({"k": pa.array(keys, pa.float64()), "v": [1, 2, 3]})
    ok = pa.table({"k": pa.array([1.0], pa.float64()), "v": [1]})
    tail = r"; a key may hold neither \(see docs/concepts.md, 'Keys'\)$"
    with pytest.raises(DataError, match=r"^key \(k\) has 2 NaN or -0.0 value\(s\) in mine" + tail):
        diff(Side.from_arrow("mine", t), Side.from_arrow("ok", ok), key=["k"])
    two = pa.table({"a": [1.0, 2.0], "b": pa.array([0.5, -0.0], pa.float32()), "v": [1, 2]})
    with pytest.raises(DataError, match=r"^key \(a, b\) has 1 NaN or -0.0 value\(s\) in two; "):
        diff(Side.from_arrow("two", two), Side.from_arrow("ok", two), key=["a", "b"])
    # 0.0 itself is a fine key
    zero = pa.table({"k": pa.array([0.0, 1.0], pa.float64()), "v": [1, 2]})
    d = diff(Side.from_arrow("a", zero), Side.from_arrow("b", zero), key=["k"])
    assert d.empty and d.rows.unchanged == 2


def test_duplicates_name_the_most_repeated_key() -> None:
    t = pa.table({"a": [1, 1, 2, 2, 2, 3], "b": ["x", "x", "y", "y", "y", "z"], "v": range(6)})
    with pytest.raises(
        DataError, match=r"^key \(a, b\) is not unique in t: a=2, b='y' appears 3 times$"
    ):
        diff(Side.from_arrow("t", t), Side.from_arrow("u", t), key=["a", "b"])


def test_a_chunk_that_does_not_match_its_schema_is_named() -> None:
    schema_table = pa.table({"id": pa.array([1, 2], pa.int64()), "v": [1, 2]})
    bad = pa.table({"id": ["one", "two"], "v": [1, 2]})
    old = _chunked("old@v1", schema_table, lambda c: bad)
    new = _chunked("new@v2", schema_table, lambda c: schema_table)
    with pytest.raises(UsageError, match=r"^chunk xxh128:[0-9a-f]{32} of old@v1 does not match"):
        diff(old, new, key=["id"])
    # A chunk with its columns in another order or a narrower type is read as the schema says.
    other = pa.table({"v": [1, 2], "id": pa.array([1, 2], pa.int32())})
    d = diff(_chunked("o", schema_table, lambda c: other), new, key=["id"])
    assert d.empty and d.rows.unchanged == 2


def test_an_error_while_reading_a_chunk_is_reported_as_is() -> None:
    t = pa.table({"id": [1, 2], "v": [1, 2]})

    def corrupt(chunk: ChunkInfo) -> pa.Table:
        raise IntegrityError(f"chunk {chunk.object} is damaged")

    def unreadable(chunk: ChunkInfo) -> pa.Table:
        raise OSError("disk on fire")

    good = _chunked("good", t, lambda c: t)
    with pytest.raises(IntegrityError, match=r"^chunk xxh128:[0-9a-f]{32} is damaged$"):
        diff(_chunked("bad", t, corrupt), good, key=["id"])
    with pytest.raises(UsageError, match=r"^cannot read: disk on fire$"):
        diff(good, _chunked("bad", t, unreadable), key=["id"])
    with pytest.raises(UsageError, match=r"^cannot read: disk on fire$"):
        diff(_chunked("bad", t, unreadable), good, key=())


def test_an_appended_chunk_read_for_samples_is_checked_against_the_schema() -> None:
    base = pa.table({"id": [1, 2], "v": [1, 2]})
    more = pa.table({"id": [3, 4], "v": [3, 4]})
    bad = pa.table({"id": [3, 4], "v": ["three", "four"]})
    a, b = _info("base", base), _info("more", more)
    old = Side("old", base.schema, (a,), ("id",), load=lambda c: base)
    new = Side("new", base.schema, (a, b), ("id",), load=lambda c: base if c == a else bad)
    assert diff(old, new, limit=0).rows.added == 2  # counted from the manifest, not read
    with pytest.raises(UsageError, match=r"^chunk xxh128:[0-9a-f]{32} of new does not match"):
        diff(old, new, limit=1)


def test_sides_with_no_column_in_common_are_counted_and_read_checked() -> None:
    old, new = pa.table({"a": [1, 2]}), pa.table({"b": [1, 2, 3]})
    d = diff(Side.from_arrow("o", old), Side.from_arrow("n", new), key=())
    assert d.rows.to_dict() == {"added": 3, "removed": 2, "changed": 0, "unchanged": 0}

    def unreadable(chunk: ChunkInfo) -> pa.Table:
        raise OSError("disk on fire")

    t = pa.table({"id": [1, 2]})
    bad = Side("bad", t.schema, (_info("bad", t),), load=unreadable)
    for pair in ((bad, Side.from_arrow("n", new)), (Side.from_arrow("o", new), bad)):
        with pytest.raises(UsageError, match=r"^cannot read: disk on fire$"):
            diff(*pair, key=())
