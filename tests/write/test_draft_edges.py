"""The key check and the draft of a snapshot: what mutation testing found unpinned in write/draft.py."""

from __future__ import annotations

import datetime as dt
import math
from pathlib import Path

import pyarrow as pa
import pytest

import dvtool
from dvtool.errors import DataError
from dvtool.write.draft import KeyCheck, Unsorted, encode_workers


def _check(key: tuple[str, ...], *tables: pa.Table, require_sorted: bool = False) -> KeyCheck:
    check = KeyCheck(key, require_sorted=require_sorted)
    for t in tables:
        check.update(t)
    return check


# ---- KeyCheck: both paths (numpy for ints/dates/times without nulls, Arrow for the rest) ----

NUMERIC = [
    pa.array([1, 2, 2, 3, 3, 3], pa.int64()),
    pa.array([1, 2, 2, 3, 3, 3], pa.uint8()),
    pa.array([1, 2, 2, 3, 3, 3], pa.int16()),
    pa.array([dt.date(2026, 1, d) for d in (1, 2, 2, 3, 3, 3)], pa.date32()),
    pa.array([d * 1000 for d in (1, 2, 2, 3, 3, 3)], pa.timestamp("ms", "UTC")),
    pa.array([d for d in (1, 2, 2, 3, 3, 3)], pa.time32("s")),
    pa.array(["a", "b", "b", "c", "c", "c"]),
    pa.array([1.5, 2.5, 2.5, 3.5, 3.5, 3.5]),
]


@pytest.mark.parametrize("column", NUMERIC, ids=lambda c: str(c.type))
def test_duplicates_are_counted_across_batches_with_examples(column: pa.Array) -> None:
    table = pa.table({"k": column, "v": range(6)})
    # split after the first duplicate pair: the pair across the boundary is counted too
    check = _check(("k",), table.slice(0, 2), table.slice(2, 3), table.slice(5), table.slice(6))
    assert check.duplicates == 3
    values = column.to_pylist()
    assert check.examples == [values[2], values[4], values[5]]
    problem = check.problem()
    assert isinstance(problem, DataError)
    shown = ", ".join(repr(v) for v in check.examples)
    assert str(problem) == (
        f"key (k) is not unique: 3 duplicate rows (e.g. {shown}); nothing was committed"
    )


@pytest.mark.parametrize("column", NUMERIC[:3] + NUMERIC[6:], ids=lambda c: str(c.type))
def test_unique_keys_pass(column: pa.Array) -> None:
    table = pa.table({"k": column.unique()})
    check = _check(("k",), table.slice(0, 1), table.slice(1), require_sorted=True)
    assert (check.duplicates, check.examples, check.problem()) == (0, [], None)


def test_one_duplicate_is_singular_and_examples_stop_at_five() -> None:
    one = _check(("k",), pa.table({"k": [1, 1, 2]}))
    assert (
        str(one.problem())
        == "key (k) is not unique: 1 duplicate row (e.g. 1); nothing was committed"
    )
    for column in ([7] * 9, ["x"] * 9):
        many = _check(("k",), pa.table({"k": column[:4]}), pa.table({"k": column[4:]}))
        assert many.duplicates == 8 and many.examples == column[:5]


@pytest.mark.parametrize("second", [[1, 1, 2, 2], ["a", "a", "b", "b"]], ids=["ints", "strings"])
def test_a_composite_key_is_duplicated_only_when_every_column_is(second: list[object]) -> None:
    table = pa.table({"a": [1, 1, 1, 2], "b": second})
    check = _check(("a", "b"), table)
    assert check.duplicates == 1
    assert check.examples == [(1, second[1])]
    assert str(check.problem()).startswith("key (a, b) is not unique: 1 duplicate row (e.g. (1, ")


@pytest.mark.parametrize(
    "column",
    [pa.array([2, 1]), pa.array([dt.date(2026, 1, 2), dt.date(2026, 1, 1)]), pa.array(["b", "a"])],
    ids=["int", "date", "string"],
)
def test_out_of_order_keys_are_unsorted_only_when_order_is_required(column: pa.Array) -> None:
    table = pa.table({"k": column})
    with pytest.raises(Unsorted):
        _check(("k",), table, require_sorted=True)
    with pytest.raises(Unsorted):  # across two batches
        _check(("k",), table.slice(0, 1), table.slice(1), require_sorted=True)
    assert _check(("k",), table).duplicates == 0


def test_order_is_judged_on_the_first_key_column_first() -> None:
    table = pa.table({"a": [1, 2], "b": [9, 1]})  # b goes down, but a decides
    assert _check(("a", "b"), table, require_sorted=True).duplicates == 0
    with pytest.raises(Unsorted):
        _check(("a", "b"), pa.table({"a": [1, 1], "b": [2, 1]}), require_sorted=True)


def test_null_keys_are_counted_per_column_and_reported_first() -> None:
    table = pa.table({"a": pa.array([1, None, None, 1]), "b": pa.array(["x", None, "y", "x"])})
    check = _check(("a", "b"), table.slice(0, 2), table.slice(2))
    assert check.nulls == {"a": 2, "b": 1}
    assert str(check.problem()) == (
        "key a, b has nulls: 'a' has 2 null values, 'b' has 1 null value; nothing was committed"
    )
    with pytest.raises(Unsorted):  # nulls have no order: a required order cannot hold
        _check(("a",), pa.table({"a": pa.array([1, None])}), require_sorted=True)


def test_nan_and_negative_zero_in_float_keys() -> None:
    table = pa.table(
        {"f": pa.array([math.nan, -0.0, 0.0, 1.0, None]), "g": [1.0, 2.0, 3.0, 4.0, 5.0]}
    )
    check = _check(("f", "g"), table.slice(0, 2), table.slice(2))
    assert check.odd == {"f": 2}
    assert str(check.problem()) == (
        "key f, g has nulls: 'f' has 1 null value; nothing was committed"
    )
    check.nulls.clear()
    assert str(check.problem()) == (
        "key f, g holds NaN or -0.0 ('f' has 2): NaN is not equal to itself and -0.0 equals "
        "0.0, so neither can identify a row; nothing was committed"
    )


def test_half_float_keys_follow_the_same_rule(tmp_path: Path) -> None:
    import numpy as np

    repo = dvtool.Repo.init(tmp_path / "r")
    for values in ([math.nan, 1.0], [-0.0, 1.0]):
        half = pa.table({"h": pa.array(np.array(values, dtype=np.float16))})
        with pytest.raises(DataError, match=r"^key h holds NaN or -0\.0 \('h' has 1\)"):
            repo.snapshot(half, dataset="d", key=["h"])
    assert repo.dataset_names() == []


# ---- encode workers ----


@pytest.mark.parametrize(
    ("value", "expected"),
    [("3", 3), ("1", 1), ("0", None), ("-2", None), ("many", None), ("", None)],
)
def test_encode_workers_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, value: str, expected: int | None
) -> None:
    import os

    monkeypatch.setenv("DVTOOL_THREADS", value)
    default = max(1, min(8, os.cpu_count() or 1))
    assert encode_workers() == (expected if expected is not None else default)
    monkeypatch.delenv("DVTOOL_THREADS")
    assert encode_workers() == default
    monkeypatch.setattr(os, "cpu_count", lambda: 64)
    assert encode_workers() == 8
    monkeypatch.setattr(os, "cpu_count", lambda: None)
    assert encode_workers() == 1


# ---- drafts through the public API ----


def test_an_unsorted_rereadable_source_is_sorted_and_stored_once(tmp_path: Path) -> None:
    repo = dvtool.Repo.init(tmp_path / "r")
    table = pa.table({"k": [3, 1, 2], "v": ["c", "a", "b"]})
    result = repo.snapshot(table, dataset="d", key=["k"])
    assert result.snapshot.to_arrow().column("k").to_pylist() == [1, 2, 3]
    assert result.new_chunks == len(result.snapshot.manifest.chunks)
    assert repo.store.list("objects") == sorted(
        f"objects/{c.object[7:9]}/{c.object[9:]}.parquet" for c in result.snapshot.manifest.chunks
    )


def test_an_empty_source_has_the_default_chunking(tmp_path: Path) -> None:
    repo = dvtool.Repo.init(tmp_path / "r")
    empty = pa.table({"k": pa.array([], pa.int64())})
    keyed = repo.snapshot(empty, dataset="a", key=["k"]).snapshot.manifest
    plain = repo.snapshot(empty, dataset="b").snapshot.manifest
    assert keyed.chunking.to_dict() == {
        "strategy": "cdc-key",
        "avg_rows": 16384,
        "min_rows": 4096,
        "max_rows": 65536,
    }
    assert plain.chunking.strategy == "cdc-row"
    assert (keyed.rows, keyed.bytes, keyed.chunks) == (0, 0, ())


def test_a_version_reuses_its_parents_chunks_and_chunking(tmp_path: Path) -> None:
    repo = dvtool.Repo.init(tmp_path / "r")
    first = repo.snapshot(pa.table({"k": range(10)}), dataset="d", key=["k"]).snapshot.manifest
    second = repo.snapshot(pa.table({"k": range(11)}), dataset="d", key=["k"]).snapshot.manifest
    assert second.chunking == first.chunking
    assert second.rows == 11 and second.key == ("k",) and second.dataset == "d"
    assert second.bytes == sum(c.bytes for c in second.stored_objects())
