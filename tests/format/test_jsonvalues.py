"""The one JSON encoder (dvtool/format/jsonvalues.py): exact forms, by hand-written expectations.

Python values (json_value) and Arrow columns (encode_array) must give the same
text for the same value; the edges here are the ones mutation testing found
unpinned (zero and negative durations, the fraction rule, offsets, slices).
"""

from __future__ import annotations

import datetime as dt
import decimal
import math

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from dvtool.format.jsonvalues import Exact, encode_array, encode_scalar, json_value, python_values

D = decimal.Decimal
UTC = dt.UTC


@pytest.mark.parametrize(
    ("value", "want"),
    [
        (None, None),
        (True, True),
        (2**64 + 1, 2**64 + 1),
        (np.int64(-3), -3),
        (-0.0, -0.0),
        (math.nan, "NaN"),
        (-math.inf, "-Infinity"),
        (D("0E-9"), "0.000000000"),
        (D("-1.50"), "-1.50"),
        (D("NaN"), "NaN"),
        (D("-Infinity"), "-Infinity"),
        (dt.date(2024, 2, 29), "2024-02-29"),
        (dt.datetime(2024, 1, 1, 0, 0, 0, 1000), "2024-01-01T00:00:00.001"),
        (dt.datetime(2024, 1, 1, 0, 0, 0, 1), "2024-01-01T00:00:00.000001"),
        (dt.datetime(2024, 1, 1, tzinfo=UTC), "2024-01-01T00:00:00+00:00"),
        (
            dt.datetime(2024, 1, 1, tzinfo=dt.timezone(-dt.timedelta(hours=3, minutes=30))),
            "2024-01-01T00:00:00-03:30",
        ),
        (pd.Timestamp(1, unit="ns", tz="Europe/Berlin"), "1970-01-01T01:00:00.000000001+01:00"),
        (dt.time(23, 59, 59, 999000), "23:59:59.999"),
        (dt.time(0, 0), "00:00:00"),
        (dt.timedelta(0), "0"),
        (dt.timedelta(seconds=-1), "-1"),
        (dt.timedelta(milliseconds=-1), "-0.001"),
        (dt.timedelta(days=1, microseconds=1), "86400.000001"),
        (pd.Timedelta(1, "ns"), "0.000000001"),
        (pd.Timedelta(0), "0"),
        (b"\x00\xff", "AP8="),
        (Exact("00:00:00.000000001"), "00:00:00.000000001"),
        ({"a": [1, math.nan]}, {"a": [1, "NaN"]}),
        ((1, D("2.0")), [1, "2.0"]),
    ],
)
def test_json_value(value: object, want: object) -> None:
    got = json_value(value)
    assert got == want and type(got) is type(want)
    if isinstance(want, float):
        assert math.copysign(1, got) == math.copysign(1, want)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("arr", "want"),
    [
        (pa.array([0, -1, 1500, None], pa.duration("ms")), ["0", "-0.001", "1.500", None]),
        (pa.array([0, 5, -5], pa.duration("s")), ["0", "5", "-5"]),
        (pa.array([0, 1, -(10**9) - 1], pa.duration("ns")), ["0", "0.000000001", "-1.000000001"]),
        (pa.array([0, 1, None], pa.time64("ns")), ["00:00:00", "00:00:00.000000001", None]),
        (pa.array([1000], pa.time32("ms")), ["00:00:01"]),
        (
            pa.array([0, 10**6 + 1], pa.timestamp("us", "UTC")),
            ["1970-01-01T00:00:00+00:00", "1970-01-01T00:00:01.000001+00:00"],
        ),
        (
            pa.array([2**62, 0], pa.timestamp("ms")),
            ["4611686018427387904ms since 1970-01-01T00:00:00", "1970-01-01T00:00:00"],
        ),
        (pa.array([D("0")], pa.decimal128(5, 2)), ["0.00"]),
        (pa.array([[1, 2], None, [3]]).slice(1), [None, [3]]),
        (
            pa.array([[("k", 1)], [], None], pa.map_(pa.string(), pa.int64())),
            [[["k", 1]], [], None],
        ),
        (pa.array([[1, 2], None, [3, 4]], pa.list_(pa.int64(), 2)).slice(1), [None, [3, 4]]),
        (pa.array([{"a": 1, "b": None}, None]).slice(1), [None]),
        (pa.chunked_array([[1], [2, None]]), [1, 2, None]),
        (pa.array(["b", "a", "b"]).dictionary_encode(), ["b", "a", "b"]),
        (pa.array([b"\x01"], pa.binary(1)), ["AQ=="]),
        (pa.array([None], pa.null()), [None]),
        (pa.array([[1, 2], None, [3]], pa.list_view(pa.int64())).slice(1), [None, [3]]),
        (pa.array([[1], [2, 3]], pa.large_list_view(pa.int64())), [[1], [2, 3]]),
        (pa.array([[1, 2], [3, 4], [5, 6]], pa.list_(pa.int64(), 2)).slice(1), [[3, 4], [5, 6]]),
    ],
)
def test_encode_array(arr: pa.Array, want: list[object]) -> None:
    assert encode_array(arr) == want


def test_arrow_and_python_give_one_form() -> None:
    for arr in (
        pa.array([1, 10**6 + 1500], pa.timestamp("us", "Asia/Kolkata")),
        pa.array([1500, -1], pa.duration("us")),
        pa.array([D("-12.5")], pa.decimal256(40, 3)),
        pa.array([dt.date(2020, 1, 1)]),
    ):
        assert encode_array(arr) == [json_value(v) for v in arr.to_pylist()]
    assert (
        encode_scalar(pa.scalar(-0.0)) == -0.0
        and math.copysign(1, encode_scalar(pa.scalar(-0.0))) < 0
    )


def test_python_values_are_exact_or_exact_text() -> None:
    ns = python_values(pa.array([1, None], pa.timestamp("ns", "UTC")))
    assert ns == ["1970-01-01T00:00:00.000000001+00:00", None] and isinstance(ns[0], Exact)
    assert python_values(pa.array([1], pa.duration("ns"))) == ["0.000000001"]
    assert python_values(pa.array([5], pa.timestamp("ms"))) == [
        dt.datetime(1970, 1, 1, 0, 0, 0, 5000)
    ]
    assert python_values(pa.array([2**62], pa.timestamp("ms"))) == [
        "4611686018427387904ms since 1970-01-01T00:00:00"
    ]
    assert python_values(pa.array([[1]], pa.list_(pa.time64("ns")))) == [["00:00:00.000000001"]]
    assert python_values(pa.array([[5]], pa.list_(pa.timestamp("ms")))) == [
        [dt.datetime(1970, 1, 1, 0, 0, 0, 5000)]
    ]
    assert python_values(pa.array([1, None])) == [1, None]


def test_dates_outside_pythons_calendar_are_exact_text_not_an_overflow() -> None:
    # date32 holds years past 9999 and before 1: Python's date cannot, Arrow's text can.
    arr = pa.array([3_000_000, -800_000, 0, None], pa.date32())
    assert encode_array(arr) == ["10183-09-21", "-0221-09-04", "1970-01-01", None]
    assert python_values(arr)[:2] == ["10183-09-21", "-0221-09-04"]
