"""A chunk's column statistics are the same whether computed or taken from the Parquet footer.

``encode_new_chunk`` takes string and float min/max from the footer of the
chunk it just wrote (no second pass over the values) where those are exact;
the manifest must hold exactly what ``pyarrow.compute.min_max`` gives, as
before. Edge cases: strings around the 64-byte limit and multi-byte text,
empty strings, all-null columns, zeros of both signs at either end, NaN,
infinities, float32.
"""

from __future__ import annotations

import math
from typing import Any

import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st

from dvtool.ingest.encoding import _encode, _footer_min_max, column_stats, encode_new_chunk


def _both(table: pa.Table) -> tuple[Any, Any]:
    info, _ = encode_new_chunk(table, "xxh128:" + "0" * 32, ())
    return info.stats, column_stats(table)


def test_edge_cases_match_the_computed_statistics() -> None:
    table = pa.table(
        {
            "short": pa.array(["b", "a", None, "", "zz"]),
            "limit": pa.array(["a" * 63, "b" * 64, "c" * 65, None, "a"]),
            "long_max": pa.array(["a", "z" * 5000, "b", "c", None]),
            "wide_chars": pa.array(["é" * 31, "é" * 32, "€" * 22, "ü", None]),
            "all_null": pa.array([None] * 5, pa.string()),
            "empty": pa.array(["", "", "", "", ""]),
            "zero_min": pa.array([0.0, 1.5, -0.0, 2.0, None]),
            "zero_max": pa.array([-0.0, -1.5, 0.0, -2.0, None]),
            "neg_zero_only": pa.array([-0.0, -0.0, None, -0.0, -0.0]),
            "nan": pa.array([1.0, math.nan, -3.0, None, 2.0]),
            "inf": pa.array([math.inf, -math.inf, 1.0, None, 0.0]),
            "inf_no_zero": pa.array([math.inf, -math.inf, 1.0, None, 5.0]),
            "f32": pa.array([1.1, -2.5, 3.25, None, 7.0], pa.float32()),
            "f32_zero": pa.array([0.0, 2.5, 3.25, None, 7.0], pa.float32()),
            "all_null_float": pa.array([None] * 5, pa.float64()),
            "ints": pa.array([3, 1, None, 2, 9]),
            "large": pa.array(["x", "y", None, "a", "b"], pa.large_string()),
        }
    )
    from_footer, computed = _both(table)
    assert from_footer == computed
    # The footer path was taken where it is exact, and only there.
    taken = set(_footer_min_max(_encode(table)[1], table))
    assert taken == {"short", "empty", "inf", "inf_no_zero", "f32"}
    stats = dict(computed)
    assert (stats["short"].min, stats["short"].max) == ("", "zz")
    assert stats["long_max"].max is None and stats["long_max"].min == "a"
    assert (stats["inf_no_zero"].min, stats["inf_no_zero"].max) == ("-Infinity", "Infinity")


text = st.text(alphabet=st.characters(codec="utf-8"), max_size=70)
floats = st.floats(allow_nan=True, allow_infinity=True)
floats32 = st.floats(width=32, allow_nan=False, allow_infinity=True)


@settings(max_examples=150, deadline=None)
@given(
    st.lists(
        st.tuples(st.none() | text, st.none() | floats, st.none() | floats32),
        min_size=1,
        max_size=40,
    )
)
def test_footer_statistics_equal_computed_ones(rows: list[tuple[Any, Any, Any]]) -> None:
    table = pa.table(
        {
            "s": pa.array([r[0] for r in rows], pa.string()),
            "f": pa.array([r[1] for r in rows], pa.float64()),
            "g": pa.array([r[2] for r in rows], pa.float32()),
        }
    )
    from_footer, computed = _both(table)
    assert from_footer == computed


def test_plain_statistics_values_are_encoded_as_the_general_path_does() -> None:
    from dvtool.format.jsonvalues import encode_scalar
    from dvtool.ingest.encoding import _stat_value

    values = [
        pa.scalar(2**63 - 1, pa.int64()),
        pa.scalar(-(2**63), pa.int64()),
        pa.scalar(2**64 - 1, pa.uint64()),
        pa.scalar(-5, pa.int8()),
        pa.scalar(None, pa.int32()),
        pa.scalar(True),
        pa.scalar("é€\x00z"),
        pa.scalar(""),
        pa.scalar(None, pa.string()),
        pa.scalar(-0.0),
        pa.scalar(math.inf),
        pa.scalar(-math.inf),
        pa.scalar(math.nan),
        pa.scalar(1.1, pa.float32()),
        pa.scalar(1e308),
        pa.scalar(5e-324),
        pa.scalar(None, pa.float64()),
        pa.scalar(1_700_000_000_123_456, pa.timestamp("us", "America/New_York")),
    ]
    for value in values:
        expected = encode_scalar(value)
        got = _stat_value(value)
        assert got == expected or (got != got and expected != expected), value
        assert type(got) is type(expected), value
