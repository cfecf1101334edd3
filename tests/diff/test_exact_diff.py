"""Defect: diff called different data identical (a decimal256 differing in its last digit).

Nothing is compared or printed through a lossy conversion: wide decimals, -0.0,
nanoseconds and zones reach DuckDB through exact stand-ins and come back as stored.
"""

from __future__ import annotations

import decimal
import json
import math
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from dvtool import Repo
from tests.clitools import Result, run

D = decimal.Decimal
WIDE = pa.decimal256(50, 9)
OLD = "1234567890123456789012345678901234567890.123456789"
NEW = "1234567890123456789012345678901234567890.123456788"


def _two_versions(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    repo = tmp_path / "repo"
    assert run(capsys, "--repo", str(repo), "init").exit_code == 0
    for i, value in enumerate((OLD, NEW)):
        path = tmp_path / f"v{i}.parquet"
        pq.write_table(pa.table({"id": [1], "x": pa.array([D(value)], WIDE)}), path)
        res = run(capsys, "--repo", str(repo), "snapshot", str(path), "-d", "d", "--key", "id")
        assert res.exit_code == 0, res.stderr
    return repo


def test_decimal256_last_digit_is_a_difference_keyed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    repo = _two_versions(tmp_path, capsys)
    res = run(capsys, "--repo", str(repo), "diff", "d@v1", "d@v2", "--exit-code")
    assert res.exit_code == 1, res.stdout
    res = run(capsys, "--repo", str(repo), "diff", "d@v1", "d@v2", "--format", "json")
    doc = json.loads(res.stdout)
    assert doc["identical"] is False and doc["rows"]["changed"] == 1
    assert doc["samples"]["changed"][0]["changes"]["x"] == {"old": OLD, "new": NEW}


def test_decimal256_last_digit_is_a_difference_keyless(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    repo = _two_versions(tmp_path, capsys)
    res = run(capsys, "--repo", str(repo), "diff", "d@v1", "d@v2", "--no-key", "--format", "json")
    assert res.exit_code == 0, res.stderr  # no traceback: it used to crash in DuckDB
    doc = json.loads(res.stdout)
    assert doc["rows"] == {"added": 1, "removed": 1, "changed": 0, "unchanged": 0}
    assert doc["samples"]["added"] == [{"id": 1, "x": NEW}]
    assert doc["samples"]["removed"] == [{"id": 1, "x": OLD}]


def test_query_shows_a_wide_decimal_as_its_exact_text(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    repo = _two_versions(tmp_path, capsys)
    res: Result = run(
        capsys, "--repo", str(repo), "query", 'select x from "d@v1"', "--format", "json"
    )
    assert res.exit_code == 0, res.stderr
    assert json.loads(res.stdout) == [{"x": OLD}]
    # arithmetic on it is an error (exit 2, one line), never a rounded number
    res = run(capsys, "--repo", str(repo), "query", "select x + 1 from d")
    assert res.exit_code == 2 and res.stderr.startswith("Error:") and "e+39" not in res.stdout


def test_query_json_prints_exactly(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    table = pa.table(
        {
            "big": pa.array([2**63 - 1]),
            "ubig": pa.array([2**64 - 1], pa.uint64()),
            "near": pa.array([2**53 + 1]),
            "dec": pa.array([D("9" * 38)], pa.decimal128(38, 0)),
            "ts": pa.array([1], pa.timestamp("ns", "Europe/Berlin")),
            "t": pa.array([1], pa.time64("ns")),
            "z": pa.array([-0.0]),
        }
    )
    repo = Repo.init(str(tmp_path / "repo"))
    repo.snapshot(table, dataset="d")
    res = run(
        capsys, "--repo", str(tmp_path / "repo"), "query", "select * from d", "--format", "json"
    )
    assert res.exit_code == 0, res.stderr
    (row,) = json.loads(res.stdout)
    # DuckDB answers a zoned timestamp in its session's zone: the same instant, to the nanosecond.
    ts = row.pop("ts")
    assert ".000000001" in ts and pd.Timestamp(ts) == pd.Timestamp(1, unit="ns", tz="UTC")
    assert row == {
        "big": 2**63 - 1,
        "ubig": 2**64 - 1,
        "near": 2**53 + 1,
        "dec": "9" * 38,
        "t": "00:00:00.000000001",
        "z": -0.0,
    }
    assert '"z": -0.0' in res.stdout
    assert math.copysign(1, json.loads(res.stdout)[0]["z"]) < 0


def test_diff_of_a_source_with_unsorted_wide_decimals_and_durations(tmp_path: Path) -> None:
    """A SOURCE side (streamed) and a snapshot side compare exactly too; sorting keeps every digit."""
    table = pa.table(
        {
            "id": [2, 1],
            "x": pa.array([D(OLD), D(NEW)], WIDE),
            "d": pa.array([1, 2], pa.duration("ns")),
        }
    )
    repo = Repo.init(str(tmp_path / "repo"))
    snap = repo.snapshot(
        table, dataset="d", key=["id"]
    ).snapshot  # unsorted: sorted in DuckDB's stand-in
    assert snap.to_arrow().column("x").to_pylist() == [D(NEW), D(OLD)]
    assert snap.to_arrow().column("d").type == pa.duration("ns")
    changed = table.set_column(2, "d", pa.array([1, 3], pa.duration("ns")))
    d = repo.diff("d", changed)
    assert d.rows.changed == 1 and dict(d.columns) == {"x": 0, "d": 1}
    assert d.to_dict()["samples"]["changed"] == [
        {"key": {"id": 1}, "changes": {"d": {"old": "0.000000002", "new": "0.000000003"}}}
    ]


def test_parquet_statistics_without_nan_do_not_fool_the_comparison(tmp_path: Path) -> None:
    """DuckDB folds isnan() to false from Parquet min/max (which leave NaN out); diff must not care.

    The old side is scanned by DuckDB straight from a Parquet file written with
    statistics (as chunks of older dvtool versions are); the new side holds the
    same NaN with its sign bit set: the same value for the fingerprint, so identical.
    """
    from dvtool.diff.plan import diff
    from dvtool.diff.rows import Side
    from dvtool.format.hashing import hash_bytes
    from dvtool.format.models import ChunkInfo
    from dvtool.ingest.fingerprint import table_fingerprint

    old = pa.table({"id": [1, 2], "x": [math.nan, 0.0]})
    path = tmp_path / "old.parquet"
    pq.write_table(old, path)  # min/max of x: 0.0, 0.0
    info = ChunkInfo(
        hash_bytes(path.read_bytes()), table_fingerprint(old.schema, [old]), 2, path.stat().st_size
    )
    side = Side(
        "old",
        old.schema,
        (info,),
        ("id",),
        load=lambda c: pq.read_table(path),
        verified_path=lambda c: str(path),
    )
    same = pa.table({"id": [1, 2], "x": [-math.nan, 0.0]})
    assert diff(side, Side.from_arrow("new", same), key=["id"]).empty
    assert diff(side, Side.from_arrow("new", same), key=()).empty
    signed = pa.table({"id": [1, 2], "x": [math.nan, -0.0]})
    d = diff(side, Side.from_arrow("new", signed), key=["id"])
    assert d.rows.changed == 1 and d.to_dict()["samples"]["changed"][0]["key"] == {"id": 2}


def test_nanoseconds_are_exact_in_a_real_dvtool_process(tmp_path: Path) -> None:
    """`dvtool diff` runs without pandas (pyarrow then has no nanosecond Python values): still exact."""
    import subprocess
    import sys

    repo = tmp_path / "repo"
    cols = {
        "ts": (
            pa.timestamp("ns", "Europe/Berlin"),
            "1970-01-01T01:00:00.000000001+01:00",
            "1970-01-01T01:00:00.000000002+01:00",
        ),
        "dur": (pa.duration("ns"), "0.000000001", "0.000000002"),
        "t": (pa.time64("ns"), "00:00:00.000000001", "00:00:00.000000002"),
        "nested": (
            pa.list_(pa.timestamp("ns")),
            ["1970-01-01T00:00:00.000000001"],
            ["1970-01-01T00:00:00.000000002"],
        ),
    }
    for i, value in enumerate((1, 2)):
        table = pa.table(
            {
                "id": [1],
                **{
                    c: pa.array([[value]] if c == "nested" else [value], t)
                    for c, (t, _, _) in cols.items()
                },
            }
        )
        pq.write_table(table, tmp_path / f"v{i}.parquet")

    def dvtool(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "dvtool", "--repo", str(repo), *args],
            capture_output=True,
            text=True,
            check=False,
        )

    assert dvtool("init").returncode == 0
    for i in (0, 1):
        done = dvtool("snapshot", str(tmp_path / f"v{i}.parquet"), "-d", "d", "--key", "id")
        assert done.returncode == 0, done.stderr
    assert (
        "unchanged"
        in dvtool("snapshot", str(tmp_path / "v1.parquet"), "-d", "d", "--key", "id").stdout
    )
    res = dvtool("diff", "d@v1", "d@v2", "--format", "json")
    assert res.returncode == 0, res.stderr
    (change,) = json.loads(res.stdout)["samples"]["changed"]
    assert change["changes"] == {c: {"old": old, "new": new} for c, (_, old, new) in cols.items()}
    text = dvtool("diff", "d@v1", "d@v2").stdout
    assert "0.000000001 → 0.000000002" in text or '"0.000000001" → "0.000000002"' in text
