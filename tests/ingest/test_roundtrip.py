"""Property: snapshot then export gives back the same schema and rows."""

from __future__ import annotations

import datetime as dt
import decimal
import math
import uuid
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import dvtool

UTC = dt.UTC

COLUMN_TYPES: dict[str, tuple[pa.DataType, st.SearchStrategy[Any]]] = {
    "int": (pa.int64(), st.integers(-(2**63), 2**63 - 1)),
    "small": (pa.int8(), st.integers(-128, 127)),
    "float": (pa.float64(), st.floats(allow_nan=True, allow_infinity=True)),
    "text": (pa.string(), st.text(max_size=12)),
    "flag": (pa.bool_(), st.booleans()),
    "ts": (
        pa.timestamp("us"),
        st.datetimes(min_value=dt.datetime(1900, 1, 1), max_value=dt.datetime(2200, 1, 1)),
    ),
    "ts_tz": (
        pa.timestamp("us", "UTC"),
        st.datetimes(
            min_value=dt.datetime(1900, 1, 1),
            max_value=dt.datetime(2200, 1, 1),
            timezones=st.just(UTC),
        ),
    ),
    "day": (pa.date32(), st.dates(min_value=dt.date(1, 1, 1), max_value=dt.date(9999, 12, 31))),
    "money": (
        pa.decimal128(12, 2),
        st.decimals(
            min_value=-(10**9), max_value=10**9, places=2, allow_nan=False, allow_infinity=False
        ),
    ),
    "blob": (pa.binary(), st.binary(max_size=8)),
}


@st.composite
def tables(draw: st.DrawFn) -> pa.Table:
    names = draw(
        st.lists(st.sampled_from(sorted(COLUMN_TYPES)), min_size=1, max_size=6, unique=True)
    )
    n = draw(st.integers(0, 40))
    columns = {}
    for name in names:
        typ, values = COLUMN_TYPES[name]
        column = draw(st.lists(st.one_of(st.none(), values), min_size=n, max_size=n))
        columns[name] = pa.array(column, type=typ)
    return pa.table(columns) if names else pa.table({})


def canonical(table: pa.Table) -> list[dict[str, Any]]:
    """Rows as Python values, with NaN made comparable."""

    def fix(v: Any) -> Any:
        if isinstance(v, float) and math.isnan(v):
            return "NaN"
        if isinstance(v, decimal.Decimal):
            return str(v)
        return v

    return [{k: fix(v) for k, v in row.items()} for row in table.to_pylist()]


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(table=tables())
def test_snapshot_then_export_gives_back_the_table(tmp_path: Path, table: pa.Table) -> None:
    repo = dvtool.Repo.init(f"memory://roundtrip-{uuid.uuid4().hex}")
    result = repo.snapshot(table, dataset="t")
    snap = result.snapshot
    assert snap.schema.equals(table.schema), (snap.schema, table.schema)
    assert canonical(snap.to_arrow()) == canonical(table)
    out = tmp_path / f"{uuid.uuid4().hex}.parquet"
    repo.export("t", str(out))
    exported = pq.read_table(out)
    assert exported.schema.equals(table.schema)
    assert canonical(exported) == canonical(table)
    # Snapshotting the export again is unchanged.
    assert repo.snapshot(str(out), dataset="t").unchanged
