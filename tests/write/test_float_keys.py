"""Defect: NaN keys passed the uniqueness check, -0.0 and 0.0 were called duplicates, diff miscounted.

The rule (docs/concepts.md, "Keys"): a float key column may hold neither NaN
nor -0.0. NaN is not equal to itself and -0.0 equals 0.0 although they are
different values, so neither can identify a row. snapshot, validate and diff
all refuse them (exit 1, like a null key), so they agree with each other and
with the fingerprint (which tells -0.0 from 0.0).
"""

from __future__ import annotations

import math
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from dvtool import DataError, Repo
from tests.clitools import run

SCHEMA_YAML = "schema_type: dataframe\ncolumns:\n  v:\n    dtype: int64\n"


@pytest.mark.parametrize(
    "keys",
    [[math.nan, math.nan], [math.nan, 1.0], [-0.0, 0.0], [-0.0, 1.0], [1.0, -math.nan]],
    ids=["two-nan", "one-nan", "minus-zero-and-zero", "minus-zero", "negative-nan"],
)
@pytest.mark.parametrize("typ", [pa.float64(), pa.float32()], ids=str)
def test_snapshot_refuses_nan_and_negative_zero_keys(
    tmp_path: Path, keys: list[float], typ: pa.DataType
) -> None:
    repo = Repo.init(str(tmp_path / "repo"))
    table = pa.table({"k": pa.array(keys, typ), "v": [1, 2]})
    with pytest.raises(DataError, match=r"NaN or -0\.0"):
        repo.snapshot(table, dataset="d", key=["k"])
    assert repo.dataset_names() == []


def test_snapshot_keeps_zero_and_negative_zero_as_values(tmp_path: Path) -> None:
    """Outside a key, -0.0 and NaN are ordinary values, kept exactly."""
    repo = Repo.init(str(tmp_path / "repo"))
    table = pa.table({"k": [1, 2, 3], "x": [-0.0, 0.0, math.nan]})
    snap = repo.snapshot(table, dataset="d", key=["k"]).snapshot
    assert [math.copysign(1, v) for v in snap.to_arrow().column("x").to_pylist()[:2]] == [-1, 1]


def test_cli_snapshot_of_nan_keys_is_exit_1_and_writes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    repo = tmp_path / "repo"
    run(capsys, "--repo", str(repo), "init")
    path = tmp_path / "nan.parquet"
    pq.write_table(pa.table({"k": [math.nan, math.nan], "v": [1, 2]}), path)
    res = run(capsys, "--repo", str(repo), "snapshot", str(path), "-d", "d", "--key", "k")
    assert res.exit_code == 1
    assert res.stderr.startswith("Error: key k holds NaN or -0.0") and "Traceback" not in res.stderr
    assert run(capsys, "--repo", str(repo), "ls").stdout.count("d@") == 0


def test_diff_refuses_nan_and_negative_zero_in_a_source_key(tmp_path: Path) -> None:
    repo = Repo.init(str(tmp_path / "repo"))
    repo.snapshot(pa.table({"k": [0.0, 1.0], "v": [1, 2]}), dataset="d", key=["k"])
    with pytest.raises(DataError, match=r"NaN or -0\.0"):
        repo.diff("d", pa.table({"k": [-0.0, 1.0], "v": [1, 2]}), key=["k"])
    with pytest.raises(DataError, match=r"NaN or -0\.0"):
        repo.diff("d", pa.table({"k": [math.nan, 1.0], "v": [1, 2]}), key=["k"])
    # Without a key, the -0.0 row is a different row (as the fingerprint says).
    d = repo.diff("d", pa.table({"k": [-0.0, 1.0], "v": [1, 2]}), key=())
    assert d.rows.to_dict() == {"added": 1, "removed": 1, "changed": 0, "unchanged": 1}


def test_validate_fails_nan_and_negative_zero_in_the_key(tmp_path: Path) -> None:
    repo = Repo.init(str(tmp_path / "repo"))
    schema = tmp_path / "s.yaml"
    schema.write_text(SCHEMA_YAML)
    table = pa.table({"k": [math.nan, math.nan, -0.0, 0.0], "v": [1, 2, 3, 4]})
    report = repo.validate(table, schema=str(schema), key=["k"])
    assert not report.ok
    (odd,) = [f for f in report.errors if f.check == "key_not_nan_or_negative_zero"]
    assert odd.failure_count == 3
    # and on a clean float key, validate passes (as snapshot does)
    clean = repo.validate(pa.table({"k": [0.0, 1.5], "v": [1, 2]}), schema=str(schema), key=["k"])
    assert clean.ok
