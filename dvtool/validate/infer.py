"""Inferring a pandera (polars) YAML schema that the data passes, in one streaming pass."""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Sequence
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from dvtool.errors import UsageError

__all__ = ["infer_schema"]


def infer_schema(
    data: pa.Table | pa.RecordBatchReader | Iterable[pa.RecordBatch],
    *,
    schema: pa.Schema | None = None,
    key: Sequence[str] = (),
    name: str | None = None,
) -> str:
    """A polars-schema YAML that ``data`` passes: dtypes, nullability, numeric ranges, key uniqueness.

    One streaming pass; memory does not grow with the data.
    """
    import pandera.polars as pp
    import polars as pl

    if isinstance(data, pa.Table):
        schema, batches = data.schema, iter(data.to_batches())
    elif isinstance(data, pa.RecordBatchReader):
        schema, batches = data.schema, iter(data)
    else:
        batches = iter(data)
        if schema is None:
            first = next(batches, None)
            if first is None:
                raise UsageError("cannot infer a schema from no data and no column types")
            schema = first.schema
            batches = iter([first, *batches])
    for i, f in enumerate(schema):
        if f.name == "":
            # polars (the schema's engine) renames such a column, so no schema could name it.
            raise UsageError(
                f"column {i + 1} has an empty name, which a pandera (polars) schema cannot hold; "
                "give it a name first"
            )
    nulls = dict.fromkeys(schema.names, 0)
    lo: dict[str, Any] = {}
    hi: dict[str, Any] = {}
    ranged = {
        f.name for f in schema if (pa.types.is_integer(f.type) or pa.types.is_floating(f.type))
    }
    for batch in batches:
        for f, col in zip(schema, batch.columns, strict=True):
            nulls[f.name] += col.null_count
            if pa.types.is_floating(f.type):
                # pandera's nullable check counts NaN as missing in float columns
                nulls[f.name] += int(pc.sum(pc.is_nan(col)).as_py() or 0)
            if f.name not in ranged:
                continue
            if pa.types.is_floating(f.type) and pc.any(pc.is_nan(col)).as_py():
                ranged.discard(f.name)  # NaN compares false with every bound
                continue
            mm = pc.min_max(col).as_py()
            if mm["min"] is not None:
                lo[f.name] = mm["min"] if f.name not in lo else min(lo[f.name], mm["min"])
                hi[f.name] = mm["max"] if f.name not in hi else max(hi[f.name], mm["max"])
    empty = pl.from_arrow(schema.empty_table())
    assert isinstance(empty, pl.DataFrame)
    dtypes = empty.schema
    columns = {}
    for f in schema:
        checks = []
        if f.name in ranged and f.name in lo:
            checks.append(pp.Check.in_range(lo[f.name], hi[f.name]))
        unique = len(key) == 1 and key[0] == f.name
        try:
            column = pp.Column(
                dtypes[f.name], checks=checks or None, nullable=nulls[f.name] > 0, unique=unique
            )
        except (TypeError, ValueError):
            # A type pandera cannot express (maps, some nested types): check presence only.
            column = pp.Column(
                None, checks=checks or None, nullable=nulls[f.name] > 0, unique=unique
            )
        columns[f.name] = column
    out = pp.DataFrameSchema(
        columns, unique=list(key) if len(key) > 1 else None, name=name, strict=False
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        text = out.to_yaml()
    return str(text)
