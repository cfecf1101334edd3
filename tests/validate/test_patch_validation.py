"""Validating a patched version checks its new rows; what needs every row still sees every row.

A patched chunk whose base chunk passed every chunk-local check is checked by
its upserts alone (validate/patchrows.py); the report must be the one a full
check gives (``use_cache=False`` checks every row again). Real repositories,
real pandera.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from unittest import mock

import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import dvtool

ROWS = 600
ROW_CHECKS = """
columns:
  id: {dtype: int64}
  v:
    dtype: float64
    nullable: true
    checks:
      greater_than_or_equal_to: 0
  s:
    dtype: str
    checks:
      str_length: {min_value: 1, max_value: 4}
"""
WHOLE_CHECKS = """
columns:
  id: {dtype: int64}
  v: {dtype: float64, nullable: true}
  s:
    dtype: str
    unique: true
"""
BY_UPSERTS = "patched chunk(s) checked by their new rows only"


@contextmanager
def _patches() -> Iterator[None]:
    # Small chunks, and every edit stored as a patch (ratio 1).
    with mock.patch.dict(os.environ, {"DVTOOL_CHUNK_BYTES": "3000", "DVTOOL_PATCH_RATIO": "1"}):
        yield


def _table(rows: dict[int, tuple[float | None, str]]) -> pa.Table:
    ids = sorted(rows)
    return pa.table(
        {
            "id": pa.array(ids, pa.int64()),
            "v": pa.array([rows[i][0] for i in ids], pa.float64()),
            "s": pa.array([rows[i][1] for i in ids]),
        }
    )


def _base() -> dict[int, tuple[float | None, str]]:
    return {2 * i: (float(i), f"s{i}") for i in range(ROWS)}


def _failures(report: dvtool.ValidationReport) -> Any:
    return [
        (
            f.column,
            f.check,
            f.failure_count,
            f.severity,
            [(e.value, e.row, e.key, e.count) for e in f.examples],
        )
        for f in (*report.errors, *report.warnings, *report.check_errors)
    ]


def _same_as_full(repo: dvtool.Repo, ref: str, schema: Path) -> dvtool.ValidationReport:
    cached = repo.validate(ref, schema=str(schema))
    full = repo.validate(ref, schema=str(schema), use_cache=False)
    assert _failures(cached) == _failures(full)
    assert cached.ok == full.ok and cached.rows_checked == full.rows_checked
    return cached


@pytest.fixture
def row_schema(tmp_path: Path) -> Path:
    path = tmp_path / "rows.yaml"
    path.write_text(ROW_CHECKS)
    return path


def test_a_patched_row_that_fails_is_found_by_checking_the_new_rows(
    tmp_path: Path, row_schema: Path
) -> None:
    with _patches():
        repo = dvtool.Repo.init(tmp_path / "repo")
        rows = _base()
        repo.snapshot(_table(rows), dataset="t", key=["id"])
        assert repo.validate("t", schema=str(row_schema)).ok  # every base chunk's verdict is clean
        rows[400] = (-3.0, "s200")  # fails v >= 0
        rows[801] = (1.0, "toolong")  # a new row failing str_length
        rows[10] = (None, "s5")  # null is allowed
        del rows[20]
        snap = repo.snapshot(_table(rows), dataset="t", key=["id"]).snapshot
        assert snap.manifest.patch is not None
        report = _same_as_full(repo, "t@v2", row_schema)
    assert not report.ok
    assert any(BY_UPSERTS in n for n in report.notes)
    failing = {(f.column, f.check): f for f in report.errors}
    v = failing[("v", "greater_than_or_equal_to(0)")]
    assert v.failure_count == 1 and v.examples[0].value == -3.0
    assert v.examples[0].key == (("id", 400),)
    ids = snap.to_arrow().column("id").to_pylist()
    assert v.examples[0].row == ids.index(400)  # its row in the version, not in the patch
    s = failing[("s", "str_length(1, 4)")]
    assert s.failure_count == 1 and s.examples[0].row == ids.index(801)


def test_a_deleted_row_that_was_the_only_violator_passes(tmp_path: Path, row_schema: Path) -> None:
    with _patches():
        repo = dvtool.Repo.init(tmp_path / "repo")
        rows = _base()
        rows[300] = (-1.0, "s150")
        repo.snapshot(_table(rows), dataset="t", key=["id"])
        first = repo.validate("t", schema=str(row_schema))
        assert not first.ok and first.errors[0].failure_count == 1
        del rows[300]
        rows[302] = (5.0, "s151")  # a patched row in the same chunk, valid
        rows[900] = (7.0, "x")  # and one in a chunk whose base passed
        assert repo.snapshot(_table(rows), dataset="t", key=["id"]).snapshot.manifest.patch
        report = _same_as_full(repo, "t@v2", row_schema)
    assert report.ok  # the failing base chunk was checked whole: its violator is gone
    assert any(BY_UPSERTS in n for n in report.notes)  # the others, by their new rows


def test_checks_over_all_rows_see_the_whole_patched_version(tmp_path: Path) -> None:
    schema = tmp_path / "whole.yaml"
    schema.write_text(WHOLE_CHECKS)
    with _patches():
        repo = dvtool.Repo.init(tmp_path / "repo")
        rows = _base()
        repo.snapshot(_table(rows), dataset="t", key=["id"])
        assert repo.validate("t", schema=str(schema)).ok
        rows[1001] = (1.0, "s3")  # a new row repeating a value far away in another chunk
        assert repo.snapshot(_table(rows), dataset="t", key=["id"]).snapshot.manifest.patch
        report = _same_as_full(repo, "t@v2", schema)
    assert not report.ok
    (unique,) = report.errors
    assert unique.column == "s" and unique.failure_count == 2


edits = st.lists(
    st.tuples(
        st.sampled_from(["set", "delete", "insert"]),
        st.integers(0, 10**6),
        st.sampled_from([1.0, -1.0, None, 0.0]),
        st.sampled_from(["ok", "", "toolong", "s1"]),
    ),
    max_size=6,
)


@given(steps=st.lists(edits, min_size=1, max_size=3), failing_base=st.booleans())
@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_patched_validation_equals_a_full_check(
    steps: list[list[tuple[str, int, float | None, str]]], failing_base: bool
) -> None:
    import tempfile

    with tempfile.TemporaryDirectory() as tmp, _patches():
        schema = Path(tmp) / "rows.yaml"
        schema.write_text(ROW_CHECKS)
        repo = dvtool.Repo.init(f"memory://patch-validate-{uuid.uuid4().hex}")
        rows = _base()
        if failing_base:
            rows[100] = (-9.0, "s50")
        repo.snapshot(_table(rows), dataset="t", key=["id"])
        repo.validate("t@v1", schema=str(schema))
        for step in steps:
            for what, pick, v, s in step:
                keys = sorted(rows)
                if what == "set":
                    rows[keys[pick % len(keys)]] = (v, s)
                elif what == "delete" and len(keys) > 1:
                    del rows[keys[pick % len(keys)]]
                elif what == "insert":
                    rows[2 * (pick % (2 * ROWS)) + 1] = (v, s)
            entry = repo.snapshot(_table(rows), dataset="t", key=["id"])
            if not entry.unchanged:
                _same_as_full(repo, f"t@v{entry.snapshot.version}", schema)
