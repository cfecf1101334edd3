"""The diff read from patches equals the full diff, value for value (Hypothesis).

Random edits over several versions of a keyed table (cells set to nulls,
NaN, -0.0, infinities, decimals; rows deleted, deleted keys inserted again,
new rows; single and composite keys) are snapshotted with patches on; every
pair of versions over the same base chunks is diffed from its patches, once
with the patch rows compared in Arrow and once by the SQL engine, and both
must equal the full diff (which reads every chunk that differs). Real
repositories on ``memory://``, real DuckDB.

One field is compared to 1e-12 instead of exactly: ``mean_abs_diff``, a sum
of doubles whose order the full diff does not fix either (DuckDB adds in
its join's output order).
"""

from __future__ import annotations

import decimal
import math
import os
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any
from unittest import mock

import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import dvtool
from dvtool.diff.patched import diff_by_patches
from dvtool.diff.plan import diff, side_from_snapshot
from dvtool.diff.report import Diff

ROWS = 240
SCHEMA = pa.schema(
    [
        ("k", pa.int64()),
        ("name", pa.string()),
        ("n", pa.int64()),
        ("x", pa.float64()),
        ("price", pa.decimal128(9, 2)),
        ("ok", pa.bool_()),
        ("at", pa.timestamp("us", tz="UTC")),
        ("label", pa.string()),
    ]
)
FLOATS = [0.0, -0.0, 1.5, -2.25, 1e300, math.inf, -math.inf, math.nan, None]
VALUES: dict[str, list[Any]] = {
    "n": [0, 1, -7, 2**62, None],
    "x": FLOATS,
    "price": [
        decimal.Decimal("1.50"),
        decimal.Decimal("-0.01"),
        decimal.Decimal("9999999.99"),
        None,
    ],
    "ok": [True, False, None],
    "at": [0, 1_700_000_000_000_000, None],
    "label": ["a", "b", "", "é", None],
}


def _row(k: int, i: int) -> dict[str, Any]:
    return {
        "k": k,
        "name": f"n{k % 3}",
        "n": i,
        "x": float(i) / 4,
        "price": decimal.Decimal(i) / 100,
        "ok": i % 2 == 0,
        "at": 1_600_000_000_000_000 + i,
        "label": f"l{i % 5}",
    }


def _table(rows: dict[tuple[int, str], dict[str, Any]]) -> pa.Table:
    ordered = [rows[key] for key in sorted(rows)]
    return pa.Table.from_pylist(ordered, schema=SCHEMA)


edit = st.one_of(
    st.tuples(
        st.just("set"),
        st.integers(0, 10**6),
        st.sampled_from(sorted(VALUES)),
        st.integers(0, 8),
    ),
    st.tuples(st.just("delete"), st.integers(0, 10**6), st.just(""), st.just(0)),
    st.tuples(st.just("reinsert"), st.integers(0, 10**6), st.just(""), st.integers(0, 50)),
    st.tuples(st.just("insert"), st.integers(0, 10**6), st.just(""), st.integers(0, 50)),
)
versions = st.lists(st.lists(edit, min_size=0, max_size=8), min_size=1, max_size=3)


@contextmanager
def _patch_settings() -> Iterator[None]:
    # Small chunks so a few rows make several base chunks; ratio 1: patch every
    # edit (a tiny table's patch objects are mostly Parquet footer, larger than
    # the default ratio allows).
    with mock.patch.dict(os.environ, {"DVTOOL_CHUNK_BYTES": "3000", "DVTOOL_PATCH_RATIO": "1"}):
        yield


def _exact(value: Any) -> Any:
    """A sample value in a form where NaN equals NaN and -0.0 differs from 0.0."""
    if isinstance(value, float):
        return ("float", repr(value))
    if isinstance(value, (tuple, list)):
        return tuple(_exact(v) for v in value)
    if isinstance(value, Mapping):
        return tuple((k, _exact(v)) for k, v in value.items())
    return (type(value).__name__, value)


def _samples(d: Diff) -> Any:
    s = d.samples
    return (
        _exact(s.added),
        _exact(s.removed),
        tuple((_exact(r.key), _exact(r.changes)) for r in s.changed),
    )


def _same(fast: Diff, full: Diff) -> None:
    assert fast.rows == full.rows
    assert dict(fast.columns) == dict(full.columns)
    assert _samples(fast) == _samples(full)
    assert fast.stats == full.stats
    assert fast.schema == full.schema and fast.key == full.key
    assert fast.comparison.keys() == full.comparison.keys()
    for name, a in fast.comparison.items():
        b = full.comparison[name]
        assert (a.matched, a.changed, a.within_tolerance, a.null_diff, a.max_diff) == (
            b.matched,
            b.changed,
            b.within_tolerance,
            b.null_diff,
            b.max_diff,
        ), name
        assert (a.nulls, a.distinct, a.tolerance) == (b.nulls, b.distinct, b.tolerance), name
        if a.mean_abs_diff is None or b.mean_abs_diff is None:
            assert a.mean_abs_diff == b.mean_abs_diff, name
        else:
            assert math.isclose(a.mean_abs_diff, b.mean_abs_diff, rel_tol=1e-12), name


def _apply(
    rows: dict[tuple[int, str], dict[str, Any]],
    gone: dict[tuple[int, str], dict[str, Any]],
    edits: list[tuple[str, int, str, int]],
    composite: bool,
) -> None:
    for what, pick, column, value in edits:
        keys = sorted(rows)
        if what == "set" and keys:
            key = keys[pick % len(keys)]
            pool = VALUES[column]
            rows[key] = {**rows[key], column: pool[value % len(pool)]}
        elif what == "delete" and len(keys) > 1:
            key = keys[pick % len(keys)]
            gone[key] = rows.pop(key)
        elif what == "reinsert" and gone:
            key = sorted(gone)[pick % len(gone)]
            old = gone.pop(key)
            # the same row again, or with a new value
            rows[key] = old if value % 2 else {**old, "n": value}
        elif what == "insert":
            k = 2 * (pick % (2 * ROWS)) + 1  # odd: between the base rows
            key = (k, f"n{k % 3}" if composite else "")
            if key not in rows and key not in gone:
                rows[key] = {**_row(k, value), "name": key[1] or f"n{k % 3}"}


@given(edits=versions, composite=st.booleans(), limit=st.sampled_from([0, 1, 3, 10]))
@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
def test_patch_diff_equals_full_diff(
    edits: list[list[tuple[str, int, str, int]]], composite: bool, limit: int
) -> None:
    key = ["k", "name"] if composite else ["k"]
    rows = {(2 * i, f"n{(2 * i) % 3}" if composite else ""): _row(2 * i, i) for i in range(ROWS)}
    gone: dict[tuple[int, str], dict[str, Any]] = {}
    with _patch_settings():
        repo = dvtool.Repo.init(f"memory://patch-diff-{uuid.uuid4().hex}")
        repo.snapshot(_table(rows), dataset="t", key=key)
        for step in edits:
            _apply(rows, gone, step, composite)
            repo.snapshot(_table(rows), dataset="t", key=key)
        snaps = [repo.get(f"t@v{v.version}") for v in repo.log("t")]
        for a in snaps:
            for b in snaps:
                if a.version >= b.version:
                    continue
                full = diff(side_from_snapshot(a), side_from_snapshot(b), limit=limit, stats=True)
                for arrow in (True, False):
                    fast = diff_by_patches(a, b, key=None, limit=limit, stats=True, arrow=arrow)
                    shared = [c.object for c in a.manifest.chunks] == [
                        c.object for c in b.manifest.chunks
                    ] and (a.manifest.patch or b.manifest.patch)
                    assert (fast is not None) == bool(shared)
                    if fast is not None:
                        _same(fast, full)
                        assert fast.chunks.compared == 0


def _two_versions(
    old: pa.Table, new: pa.Table, key: list[str]
) -> tuple[dvtool.Snapshot, dvtool.Snapshot]:
    with _patch_settings():
        repo = dvtool.Repo.init(f"memory://patch-diff-{uuid.uuid4().hex}")
        repo.snapshot(old, dataset="t", key=key)
        repo.snapshot(new, dataset="t", key=key)
    a, b = repo.get("t@v1"), repo.get("t@v2")
    assert b.manifest.patch is not None
    return a, b


def test_every_kind_of_change_from_the_patch() -> None:
    """NaN, -0.0, nulls, a deleted and re-inserted key, a decimal, a new row: counted as the full diff does."""
    rows = {(2 * i, ""): _row(2 * i, i) for i in range(ROWS)}
    old = _table(rows)
    rows[(10, "")] = {**rows[(10, "")], "x": math.nan}
    rows[(20, "")] = {**rows[(20, "")], "x": -0.0} if rows[(20, "")]["x"] == 0.0 else rows[(20, "")]
    rows[(0, "")] = {**rows[(0, "")], "x": -0.0}  # 0.0 → -0.0: a change, as the fingerprint sees it
    rows[(30, "")] = {**rows[(30, "")], "n": None, "label": None}
    rows[(40, "")] = {**rows[(40, "")], "x": math.inf}
    del rows[(50, "")]
    rows[(61, "")] = _row(61, 3)
    new = _table(rows)
    a, b = _two_versions(old, new, ["k"])
    fast = diff_by_patches(a, b, key=None, limit=10, stats=False)
    full = diff(side_from_snapshot(a), side_from_snapshot(b), limit=10)
    assert fast is not None
    _same(fast, full)
    assert (fast.rows.added, fast.rows.removed, fast.rows.changed) == (1, 1, 4)
    assert fast.columns["x"] == 3 and fast.columns["n"] == 1 and fast.columns["label"] == 1
    assert fast.comparison["x"].max_diff == math.inf
    assert fast.comparison["n"].null_diff == 1
    changed = {row.key["k"]: dict(row.changes) for row in fast.samples.changed}
    assert changed[0] == {"x": (0.0, -0.0)} and math.copysign(1, changed[0]["x"][1]) == -1
    assert math.isnan(changed[10]["x"][1])


def test_decimal_change_falls_back_to_sql_with_the_same_answer() -> None:
    rows = {(2 * i, ""): _row(2 * i, i) for i in range(ROWS)}
    old = _table(rows)
    rows[(8, "")] = {**rows[(8, "")], "price": decimal.Decimal("12.34")}
    a, b = _two_versions(old, _table(rows), ["k"])
    fast = diff_by_patches(a, b, key=None, limit=10, stats=False)
    assert fast is not None
    _same(fast, diff(side_from_snapshot(a), side_from_snapshot(b), limit=10))
    assert fast.comparison["price"].max_diff == pytest.approx(12.34 - 0.04)


def test_options_that_need_every_row_use_the_full_diff() -> None:
    rows = {(2 * i, ""): _row(2 * i, i) for i in range(ROWS)}
    old = _table(rows)
    rows[(8, "")] = {**rows[(8, "")], "n": 5}
    a, b = _two_versions(old, _table(rows), ["k"])
    assert diff_by_patches(a, b, key=["name"], limit=10, stats=False) is None
    assert diff_by_patches(a, b, key=None, limit=-1, stats=False) is None
