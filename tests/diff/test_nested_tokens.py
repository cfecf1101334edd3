"""Nested columns DuckDB cannot hold exactly reach it as their exact JSON text (diff/exact.py).

Nulls stay SQL nulls (so "one side null" is counted), and the text keeps
non-ASCII characters as they are, so rows sort as their values' UTF-8 text.
"""

from __future__ import annotations

import datetime

import pyarrow as pa

from dvtool.diff.plan import Side, diff

TYPE = pa.struct([("s", pa.string()), ("d", pa.duration("s"))])
SECOND = datetime.timedelta(seconds=1)


def test_a_null_nested_value_is_a_null_not_a_text() -> None:
    old = pa.table({"id": [1, 2, 3], "x": pa.array([None, {"s": "a", "d": SECOND}, None], TYPE)})
    new = pa.table({"id": [1, 2, 3], "x": pa.array([{"s": "a", "d": SECOND}, None, None], TYPE)})
    d = diff(Side.from_arrow("a", old), Side.from_arrow("b", new), key=["id"])
    assert d.rows.to_dict() == {"added": 0, "removed": 0, "changed": 2, "unchanged": 1}
    assert d.comparison["x"].null_diff == 2
    changes = [c.changes["x"] for c in d.samples.changed]
    assert changes[0][0] is None and changes[1][1] is None


def test_samples_of_nested_values_sort_as_utf8_text() -> None:
    old = pa.table({"x": pa.array([], TYPE)})
    rows = [{"s": "é", "d": SECOND}, {"s": "z", "d": SECOND}]
    new = pa.table({"x": pa.array(rows, TYPE)})
    d = diff(Side.from_arrow("a", old), Side.from_arrow("b", new), key=(), limit=1)
    assert d.rows.added == 2
    ((sample,),) = [tuple(r.values()) for r in d.samples.added]
    assert sample["s"] == "z"  # 'z' (0x7a) sorts before 'é' (0xc3 0xa9), not after '\\u00e9'


def test_a_nested_column_of_nulls_only() -> None:
    old = pa.table({"id": [1, 2], "x": pa.array([None, None], TYPE)})
    new = pa.table({"id": [1, 2], "x": pa.array([None, {"s": "a", "d": SECOND}], TYPE)})
    d = diff(Side.from_arrow("a", old), Side.from_arrow("b", new), key=["id"])
    assert d.rows.to_dict() == {"added": 0, "removed": 0, "changed": 1, "unchanged": 1}
    empty = pa.table({"id": pa.array([], pa.int64()), "x": pa.array([], TYPE)})
    d = diff(Side.from_arrow("a", empty), Side.from_arrow("b", old), key=())
    assert d.rows.added == 2 and [dict(r) for r in d.samples.added] == [
        {"id": 1, "x": None},
        {"id": 2, "x": None},
    ]
