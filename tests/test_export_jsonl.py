"""JSON Lines export writes every value exactly: never a null for NaN, never a crash on a type.

polars writes NaN and infinities as null and panics on binary and decimal256;
dvtool then writes the rows with its exact encoder (the one of
``query --format json``), for the whole file.
"""

from __future__ import annotations

import datetime as dt
import decimal
import json
import math

import pyarrow as pa
import pytest

import dvtool
from tests.clitools import invoke

D = decimal.Decimal


def _lines(repo: dvtool.Repo, name: str, tmp_path, **kwargs) -> list[dict]:
    out = tmp_path / f"{name}.jsonl"
    repo.export(name, str(out), **kwargs)
    return [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]


def test_non_finite_floats_are_written_as_their_names_not_null(tmp_path) -> None:
    repo = dvtool.Repo.init(str(tmp_path / "r"))
    table = pa.table(
        {
            "id": pa.array(range(5), pa.int64()),
            "f": pa.array([0.1, math.nan, math.inf, -math.inf, None]),
            "ts": pa.array([dt.datetime(2024, 1, 1)] * 5, pa.timestamp("us")),
        }
    )
    repo.snapshot(table, dataset="t", key=["id"])
    rows = _lines(repo, "t", tmp_path)
    assert [r["f"] for r in rows] == [0.1, "NaN", "Infinity", "-Infinity", None]
    # the same values as the query's JSON, column by column
    query = json.loads(_query_json(tmp_path / "r", "select * from t order by id"))
    assert rows == query


def _query_json(repo, sql: str) -> str:
    code, out, err = invoke("--repo", str(repo), "query", sql, "--format", "json")
    assert code == 0, err
    return out.decode("utf-8")


@pytest.mark.parametrize(
    ("array", "want"),
    [
        (
            pa.array(
                [D("12345678901234567890123456789012345678901.123456789")], pa.decimal256(50, 9)
            ),
            "12345678901234567890123456789012345678901.123456789",
        ),
        (pa.array([b"\x00\xff"]), "AP8="),
        (pa.array([b"ab"], pa.binary(2)), "YWI="),
        (pa.array([[1.5, math.nan]]), [1.5, "NaN"]),
        (pa.array([1], pa.duration("ns")), "0.000000001"),
    ],
    ids=["decimal256", "binary", "fixed_binary", "list_with_nan", "duration"],
)
def test_types_polars_cannot_write_exactly_are_written_exactly(tmp_path, array, want) -> None:
    repo = dvtool.Repo.init(str(tmp_path / "r"))
    repo.snapshot(pa.table({"id": [1], "c": array}), dataset="t", key=["id"])
    (row,) = _lines(repo, "t", tmp_path)
    assert row == {"id": 1, "c": want}


def test_plain_tables_still_go_through_polars_with_the_same_values(tmp_path) -> None:
    repo = dvtool.Repo.init(str(tmp_path / "r"))
    table = pa.table(
        {
            "id": pa.array([1, 2, 2**63 - 1], pa.int64()),
            "u": pa.array([0, 2**64 - 1, 5], pa.uint64()),
            "f": [0.5, -0.0, 1e300],
            "s": ["a\nb", 'q"', "é"],
            "d": pa.array([D("1.10"), None, D("-3.50")], pa.decimal128(10, 2)),
            "day": [dt.date(2024, 2, 29)] * 3,
        }
    )
    repo.snapshot(table, dataset="t", key=["id"])
    rows = _lines(repo, "t", tmp_path)
    assert [r["u"] for r in rows] == [0, 2**64 - 1, 5]
    assert [r["f"] for r in rows] == [0.5, -0.0, 1e300]
    assert math.copysign(1, rows[1]["f"]) == -1
    assert [r["s"] for r in rows] == ["a\nb", 'q"', "é"]
    assert [r["d"] for r in rows] == ["1.10", None, "-3.50"]
    assert {r["day"] for r in rows} == {"2024-02-29"}


def test_cli_export_of_binary_to_jsonl_is_exit_0_not_a_panic(tmp_path) -> None:
    repo = dvtool.Repo.init(str(tmp_path / "r"))
    repo.snapshot(pa.table({"id": [1, 2], "b": [b"\x00", None]}), dataset="t", key=["id"])
    code, out, err = invoke("--repo", str(tmp_path / "r"), "export", "t", "-", "--format", "jsonl")
    assert code == 0, err
    assert [json.loads(x) for x in out.decode("utf-8").splitlines()] == [
        {"id": 1, "b": "AA=="},
        {"id": 2, "b": None},
    ]
