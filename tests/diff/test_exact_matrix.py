"""The exact-comparison matrix: one value changed in a column of every type dvtool stores.

For each type (at its limits, with nulls around): the change gives a new
fingerprint (a new version), ``diff`` finds it with a key and without, prints
the old and new value exactly in JSON, and an export of the snapshot taken
again is "unchanged". Expected JSON values are written out by hand here, not
computed by dvtool's encoder.
"""

from __future__ import annotations

import base64
import decimal
import math
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pytest

from dvtool import Repo

D = decimal.Decimal
NAN, INF = math.nan, math.inf
B64 = lambda b: base64.b64encode(b).decode()  # noqa: E731

# 2024-03-31 00:59:59 UTC: one second before Berlin's clocks jump from +01:00 to +02:00.
SEC = 1711846799


def _ts(unit: str, tz: str | None, extra: int) -> pa.Array:
    per = {"s": 1, "ms": 10**3, "us": 10**6, "ns": 10**9}[unit]
    return pa.array([SEC * per + extra, None, SEC * per + extra + per], pa.timestamp(unit, tz))


# (id, old column, index changed, new value as an Arrow array of one, expected JSON old, new)
Case = tuple[str, pa.Array, int, pa.Array, Any, Any]
CASES: list[Case] = [
    ("int8", pa.array([-128, None, 127], pa.int8()), 2, pa.array([126], pa.int8()), 127, 126),
    ("uint8", pa.array([0, None, 255], pa.uint8()), 2, pa.array([254], pa.uint8()), 255, 254),
    (
        "int64",
        pa.array([-(2**63), None, 2**63 - 1]),
        2,
        pa.array([2**63 - 2]),
        2**63 - 1,
        2**63 - 2,
    ),
    (
        "int64-min",
        pa.array([-(2**63), None, 0]),
        0,
        pa.array([-(2**63) + 1]),
        -(2**63),
        -(2**63) + 1,
    ),
    (
        "uint64",
        pa.array([0, None, 2**64 - 1], pa.uint64()),
        2,
        pa.array([2**64 - 2], pa.uint64()),
        2**64 - 1,
        2**64 - 2,
    ),
    (
        "uint64-2^53+1",
        pa.array([2**53 + 1, None], pa.uint64()),
        0,
        pa.array([2**53], pa.uint64()),
        2**53 + 1,
        2**53,
    ),
    ("float64-zero-sign", pa.array([0.0, None, 1.0]), 0, pa.array([-0.0]), 0.0, -0.0),
    ("float64-nan-inf", pa.array([NAN, None, 1.0]), 0, pa.array([INF]), "NaN", "Infinity"),
    ("float64-inf-sign", pa.array([-INF, None, 1.0]), 0, pa.array([INF]), "-Infinity", "Infinity"),
    (
        "float64-ulp",
        pa.array([0.1, None]),
        0,
        pa.array([np.nextafter(0.1, 1.0)]),
        0.1,
        0.10000000000000002,
    ),
    ("float64-value-null", pa.array([1.5, None]), 0, pa.array([None], pa.float64()), 1.5, None),
    ("float64-null-nan", pa.array([None, 2.0]), 0, pa.array([NAN]), None, "NaN"),
    (
        "float32-zero-sign",
        pa.array([0.0, None], pa.float32()),
        0,
        pa.array([-0.0], pa.float32()),
        0.0,
        -0.0,
    ),
    (
        "float32-nan",
        pa.array([1.5, None], pa.float32()),
        0,
        pa.array([NAN], pa.float32()),
        1.5,
        "NaN",
    ),
    (
        "float16",
        pa.array(np.array([0.0, 1.5], np.float16)),
        0,
        pa.array(np.array([-0.0], np.float16)),
        0.0,
        -0.0,
    ),
    (
        "decimal32",
        pa.array([D("9999999.99"), None], pa.decimal32(9, 2)),
        0,
        pa.array([D("9999999.98")], pa.decimal32(9, 2)),
        "9999999.99",
        "9999999.98",
    ),
    (
        "decimal64",
        pa.array([D("-999999999999999.999"), None], pa.decimal64(18, 3)),
        0,
        pa.array([D("-999999999999999.998")], pa.decimal64(18, 3)),
        "-999999999999999.999",
        "-999999999999999.998",
    ),
    (
        "decimal128-38",
        pa.array([D("9" * 38), None], pa.decimal128(38, 0)),
        0,
        pa.array([D("9" * 37 + "8")], pa.decimal128(38, 0)),
        "9" * 38,
        "9" * 37 + "8",
    ),
    (
        "decimal128-scale",
        pa.array([D("1." + "0" * 37), None], pa.decimal128(38, 37)),
        0,
        pa.array([D("1." + "0" * 36 + "1")], pa.decimal128(38, 37)),
        "1." + "0" * 37,
        "1." + "0" * 36 + "1",
    ),
    (
        "decimal256-50-9",
        pa.array(
            [D("1234567890123456789012345678901234567890.123456789"), None], pa.decimal256(50, 9)
        ),
        0,
        pa.array([D("1234567890123456789012345678901234567890.123456788")], pa.decimal256(50, 9)),
        "1234567890123456789012345678901234567890.123456789",
        "1234567890123456789012345678901234567890.123456788",
    ),
    (
        "decimal256-76",
        pa.array([D("-" + "9" * 76), None], pa.decimal256(76, 0)),
        0,
        pa.array([D("-" + "9" * 75 + "8")], pa.decimal256(76, 0)),
        "-" + "9" * 76,
        "-" + "9" * 75 + "8",
    ),
    (
        "decimal256-30",
        pa.array([D("0.000000001"), None], pa.decimal256(30, 9)),
        0,
        pa.array([D("0")], pa.decimal256(30, 9)),
        "0.000000001",
        "0.000000000",
    ),
    (
        "ts-s",
        _ts("s", None, 0),
        0,
        pa.array([SEC + 2], pa.timestamp("s")),
        "2024-03-31T00:59:59",
        "2024-03-31T01:00:01",
    ),
    (
        "ts-ms",
        _ts("ms", None, 999),
        0,
        pa.array([SEC * 1000 + 998], pa.timestamp("ms")),
        "2024-03-31T00:59:59.999",
        "2024-03-31T00:59:59.998",
    ),
    (
        "ts-us",
        _ts("us", None, 1),
        0,
        pa.array([SEC * 10**6 + 2], pa.timestamp("us")),
        "2024-03-31T00:59:59.000001",
        "2024-03-31T00:59:59.000002",
    ),
    (
        "ts-ns",
        _ts("ns", None, 1),
        0,
        pa.array([SEC * 10**9 + 2], pa.timestamp("ns")),
        "2024-03-31T00:59:59.000000001",
        "2024-03-31T00:59:59.000000002",
    ),
    (
        "ts-s-utc",
        _ts("s", "UTC", 0),
        0,
        pa.array([SEC + 1], pa.timestamp("s", "UTC")),
        "2024-03-31T00:59:59+00:00",
        "2024-03-31T01:00:00+00:00",
    ),
    (
        "ts-ms-utc",
        _ts("ms", "UTC", 1),
        0,
        pa.array([SEC * 1000], pa.timestamp("ms", "UTC")),
        "2024-03-31T00:59:59.001+00:00",
        "2024-03-31T00:59:59+00:00",
    ),
    (
        "ts-us-utc",
        _ts("us", "UTC", 7),
        0,
        pa.array([SEC * 10**6 + 8], pa.timestamp("us", "UTC")),
        "2024-03-31T00:59:59.000007+00:00",
        "2024-03-31T00:59:59.000008+00:00",
    ),
    (
        "ts-ns-utc",
        _ts("ns", "UTC", 999_999_999),
        0,
        pa.array([SEC * 10**9 + 999_999_998], pa.timestamp("ns", "UTC")),
        "2024-03-31T00:59:59.999999999+00:00",
        "2024-03-31T00:59:59.999999998+00:00",
    ),
    (
        "ts-s-berlin-dst",
        _ts("s", "Europe/Berlin", 0),
        0,
        pa.array([SEC + 1], pa.timestamp("s", "Europe/Berlin")),
        "2024-03-31T01:59:59+01:00",
        "2024-03-31T03:00:00+02:00",
    ),
    (
        "ts-ms-berlin",
        _ts("ms", "Europe/Berlin", 5),
        0,
        pa.array([SEC * 1000 + 6], pa.timestamp("ms", "Europe/Berlin")),
        "2024-03-31T01:59:59.005+01:00",
        "2024-03-31T01:59:59.006+01:00",
    ),
    (
        "ts-us-kolkata",
        _ts("us", "Asia/Kolkata", 5),
        0,
        pa.array([SEC * 10**6 + 6], pa.timestamp("us", "Asia/Kolkata")),
        "2024-03-31T06:29:59.000005+05:30",
        "2024-03-31T06:29:59.000006+05:30",
    ),
    (
        "ts-ns-berlin",
        _ts("ns", "Europe/Berlin", 1),
        0,
        pa.array([SEC * 10**9 + 2], pa.timestamp("ns", "Europe/Berlin")),
        "2024-03-31T01:59:59.000000001+01:00",
        "2024-03-31T01:59:59.000000002+01:00",
    ),
    (
        "ts-ns-offset",
        _ts("ns", "-03:30", 1),
        0,
        pa.array([SEC * 10**9 + 2], pa.timestamp("ns", "-03:30")),
        "2024-03-30T21:29:59.000000001-03:30",
        "2024-03-30T21:29:59.000000002-03:30",
    ),
    (
        "date32",
        pa.array([19000, None], pa.date32()),
        0,
        pa.array([19001], pa.date32()),
        "2022-01-08",
        "2022-01-09",
    ),
    (
        "date64",
        pa.array([19000 * 86400000, None], pa.date64()),
        0,
        pa.array([19001 * 86400000], pa.date64()),
        "2022-01-08",
        "2022-01-09",
    ),
    (
        "time32-s",
        pa.array([86399, None], pa.time32("s")),
        0,
        pa.array([86398], pa.time32("s")),
        "23:59:59",
        "23:59:58",
    ),
    (
        "time32-ms",
        pa.array([1, None], pa.time32("ms")),
        0,
        pa.array([2], pa.time32("ms")),
        "00:00:00.001",
        "00:00:00.002",
    ),
    (
        "time64-us",
        pa.array([1, None], pa.time64("us")),
        0,
        pa.array([2], pa.time64("us")),
        "00:00:00.000001",
        "00:00:00.000002",
    ),
    (
        "time64-ns",
        pa.array([86399999999999, None], pa.time64("ns")),
        0,
        pa.array([86399999999998], pa.time64("ns")),
        "23:59:59.999999999",
        "23:59:59.999999998",
    ),
    (
        "duration-s",
        pa.array([2**40, None], pa.duration("s")),
        0,
        pa.array([2**40 + 1], pa.duration("s")),
        "1099511627776",
        "1099511627777",
    ),
    (
        "duration-ms",
        pa.array([-1, None], pa.duration("ms")),
        0,
        pa.array([-2], pa.duration("ms")),
        "-0.001",
        "-0.002",
    ),
    (
        "duration-us",
        pa.array([1, None], pa.duration("us")),
        0,
        pa.array([2], pa.duration("us")),
        "0.000001",
        "0.000002",
    ),
    (
        "duration-ns",
        pa.array([10**9 + 1, None], pa.duration("ns")),
        0,
        pa.array([10**9 + 2], pa.duration("ns")),
        "1.000000001",
        "1.000000002",
    ),
    ("bool", pa.array([True, None]), 0, pa.array([False]), True, False),
    ("string", pa.array(["ä\x00b", None]), 0, pa.array(["ä\x00c"]), "ä\x00b", "ä\x00c"),
    (
        "large-string",
        pa.array(["x" * 100, None], pa.large_string()),
        0,
        pa.array(["x" * 99 + "y"], pa.large_string()),
        "x" * 100,
        "x" * 99 + "y",
    ),
    (
        "binary",
        pa.array([b"\x00\xff", None]),
        0,
        pa.array([b"\x00\xfe"]),
        B64(b"\x00\xff"),
        B64(b"\x00\xfe"),
    ),
    (
        "large-binary",
        pa.array([b"\x01", None], pa.large_binary()),
        0,
        pa.array([b"\x02"], pa.large_binary()),
        B64(b"\x01"),
        B64(b"\x02"),
    ),
    (
        "fixed-binary",
        pa.array([b"abcd", None], pa.binary(4)),
        0,
        pa.array([b"abce"], pa.binary(4)),
        B64(b"abcd"),
        B64(b"abce"),
    ),
    (
        "dictionary",
        pa.array(["a", None, "b"]).dictionary_encode(),
        0,
        pa.array(["b"]).dictionary_encode(),
        "a",
        "b",
    ),
    (
        "list-int",
        pa.array([[1, None], None, []]),
        2,
        pa.array([[None]], pa.list_(pa.int64())),
        [],
        [None],
    ),
    ("list-float-sign", pa.array([[0.0], None]), 0, pa.array([[-0.0]]), [0.0], [-0.0]),
    (
        "large-list",
        pa.array([[1, 2], None], pa.large_list(pa.int64())),
        0,
        pa.array([[2, 1]], pa.large_list(pa.int64())),
        [1, 2],
        [2, 1],
    ),
    (
        "list-view",
        pa.array([[1, 2], None, [3]], pa.list_view(pa.int64())),
        2,
        pa.array([[4]], pa.list_view(pa.int64())),
        [3],
        [4],
    ),
    (
        "fixed-list",
        pa.array([[1, 2], None], pa.list_(pa.int64(), 2)),
        0,
        pa.array([[1, 3]], pa.list_(pa.int64(), 2)),
        [1, 2],
        [1, 3],
    ),
    (
        "list-decimal256",
        pa.array([[D("1" * 40)], None], pa.list_(pa.decimal256(40, 0))),
        0,
        pa.array([[D("1" * 39 + "2")]], pa.list_(pa.decimal256(40, 0))),
        ["1" * 40],
        ["1" * 39 + "2"],
    ),
    (
        "list-ts-ns",
        pa.array([[1], None], pa.list_(pa.timestamp("ns", "UTC"))),
        0,
        pa.array([[2]], pa.list_(pa.timestamp("ns", "UTC"))),
        ["1970-01-01T00:00:00.000000001+00:00"],
        ["1970-01-01T00:00:00.000000002+00:00"],
    ),
    (
        "list-time-ns",
        pa.array([[1], None], pa.list_(pa.time64("ns"))),
        0,
        pa.array([[2]], pa.list_(pa.time64("ns"))),
        ["00:00:00.000000001"],
        ["00:00:00.000000002"],
    ),
    (
        "struct",
        pa.array([{"a": 1, "b": "x"}, None]),
        0,
        pa.array([{"a": 1, "b": None}]),
        {"a": 1, "b": "x"},
        {"a": 1, "b": None},
    ),
    (
        "struct-float",
        pa.array([{"f": NAN}, None]),
        0,
        pa.array([{"f": 0.0}]),
        {"f": "NaN"},
        {"f": 0.0},
    ),
    (
        "map",
        pa.array([[("a", 1)], None], pa.map_(pa.string(), pa.int64())),
        0,
        pa.array([[("a", 2)]], pa.map_(pa.string(), pa.int64())),
        [["a", 1]],
        [["a", 2]],
    ),
    (
        "map-order",
        pa.array([[("a", 1), ("b", 2)], None], pa.map_(pa.string(), pa.int64())),
        0,
        pa.array([[("b", 2), ("a", 1)]], pa.map_(pa.string(), pa.int64())),
        [["a", 1], ["b", 2]],
        [["b", 2], ["a", 1]],
    ),
    (
        "map-float",
        pa.array([[("a", 0.0)], None], pa.map_(pa.string(), pa.float64())),
        0,
        pa.array([[("a", -0.0)]], pa.map_(pa.string(), pa.float64())),
        [["a", 0.0]],
        [["a", -0.0]],
    ),
]


def _tables(old: pa.Array, index: int, new_value: pa.Array) -> tuple[pa.Table, pa.Table]:
    n = len(old)
    new = pa.concat_arrays([old.slice(0, index), new_value.cast(old.type), old.slice(index + 1)])
    keys = pa.array(range(n), pa.int64())
    return pa.table({"k": keys, "v": old}), pa.table({"k": keys, "v": new})


def _same(a: Any, b: Any) -> bool:
    """JSON values equal, telling -0.0 from 0.0 (Python's == does not)."""
    if isinstance(a, float) and isinstance(b, float):
        return a == b and math.copysign(1, a) == math.copysign(1, b)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    return type(a) is type(b) and a == b


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_one_changed_value_is_found_exactly(tmp_path: Path, case: Case) -> None:
    _, column, index, value, want_old, want_new = case
    old, new = _tables(column, index, value)
    repo = Repo.init(str(tmp_path / "repo"))
    v1 = repo.snapshot(old, dataset="d", key=["k"])
    v2 = repo.snapshot(new, dataset="d", key=["k"])
    assert not v2.unchanged, "the changed value must change the fingerprint"
    assert v1.snapshot.manifest.fingerprint != v2.snapshot.manifest.fingerprint

    keyed = repo.diff("d@v1", "d@v2")
    assert keyed.rows.to_dict() == {
        "added": 0,
        "removed": 0,
        "changed": 1,
        "unchanged": len(column) - 1,
    }
    assert dict(keyed.columns) == {"v": 1}
    change = keyed.to_dict()["samples"]["changed"][0]
    assert change["key"] == {"k": index}
    got_old, got_new = change["changes"]["v"]["old"], change["changes"]["v"]["new"]
    assert _same(got_old, want_old), (got_old, want_old)
    assert _same(got_new, want_new), (got_new, want_new)
    keyed.to_json()  # strict JSON: no NaN, no float for a decimal

    keyless = repo.diff("d@v1", "d@v2", key=())
    assert keyless.rows.to_dict() == {
        "added": 1,
        "removed": 1,
        "changed": 0,
        "unchanged": len(column) - 1,
    }
    added = keyless.to_dict()["samples"]["added"][0]
    assert added["k"] == index and _same(added["v"], want_new)

    # A diff of the snapshot with itself, and an export taken again, are unchanged.
    assert repo.diff("d@v2", "d@v2").empty
    exported = tmp_path / "v1.parquet"
    repo.export("d@v1", str(exported))
    again = repo.snapshot(str(exported), dataset="e", key=["k"])
    assert again.snapshot.manifest.fingerprint == v1.snapshot.manifest.fingerprint
    assert repo.snapshot(str(exported), dataset="e", key=["k"]).unchanged
    assert repo.diff("d@v1", "e").empty
