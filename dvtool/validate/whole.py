"""The checks that need every row at once, run once over the whole data.

Whole-column checks (a custom vectorised check, ``groupby`` checks, anything
that is not decided value by value, see ``engine.is_row_wise``) and
dataframe-level checks see the rows pandera would see on the whole table.
A polars schema gets a LazyFrame scanning the (verified) local chunk files,
projected on the columns the checks read, so polars plans and streams it;
otherwise (pandas schemas, remote repositories) those columns are assembled
in memory, as pandera itself would need them. No pandera import here: the
call goes through engine.run_pandera.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import pyarrow as pa

from dvtool.validate.engine import (
    RAISED,
    CheckPlan,
    as_schema_asks_polars,
    chunk_only,
    run_pandera,
    severity,
    to_frame,
)
from dvtool.validate.faults import MAX_DISTINCT
from dvtool.validate.report import CheckFailure, Example, jsonable
from dvtool.validate.schema import LoadedSchema
from dvtool.validate.verdicts import ChunkInput

__all__ = ["whole_checks"]


def whole_checks(
    plan: CheckPlan,
    loaded: LoadedSchema,
    chunks: Sequence[ChunkInput],
    files: Callable[[], Sequence[str]],
    filesystem: Any,
    key: Sequence[str],
    target: str,
    n_examples: int,
    nulls: frozenset[str],
) -> list[CheckFailure]:
    """Run ``plan.whole`` once over all rows; failures with global row positions."""
    import polars as pl

    if plan.whole is None or not chunks:
        return []
    wanted = plan.whole_columns
    data: Any
    table: pa.Table | None = None
    paths = files() if filesystem is None and loaded.backend == "polars" else None
    if paths:
        lazy = pl.scan_parquet(list(paths))
        if wanted is not None:
            lazy = lazy.select(list(wanted))
        data = as_schema_asks_polars(loaded.schema, lazy)
    else:
        parts = [c.load() for c in chunks]
        if wanted is not None:
            parts = [t.select(list(wanted)) for t in parts]
        table = pa.concat_tables(parts)
        data = to_frame(loaded, table, nulls)
        if loaded.backend == "polars":
            data = data.lazy()
    fc = run_pandera(plan, loaded, data, target, schema=plan.whole)
    if fc is None or not fc.height:
        return []
    labels = frozenset(str(c) for c in plan.whole.columns)
    out: list[CheckFailure] = []
    groups = fc.group_by(["column", "check", "check_number"], maintain_order=True)
    for (column, check, number), group in groups:
        if chunk_only(str(check), number):
            continue
        rows = group.filter(pl.col("index").is_not_null())
        # One example per distinct failing value: its count and first row, most frequent first.
        per_value = (
            rows.group_by("failure_case", maintain_order=True)
            .agg(pl.len().alias("n"), pl.col("index").min().alias("first"))
            .sort(["n", "first"], descending=[True, False])
            .head(MAX_DISTINCT)
        )
        positions = [int(i) for i in per_value["first"].to_list()]
        counts = [int(n) for n in per_value["n"].to_list()]
        looked = _values(data, table, positions, column, key)
        if positions:
            examples = tuple(
                Example(value=looked[i][0], row=i, key=looked[i][1], count=n)
                for i, n in zip(positions, counts, strict=True)
            )
        else:
            examples = tuple(
                Example(value=str(v)) for v in group["failure_case"].head(n_examples).to_list()
            )
        sev = severity(plan.whole_warn, labels, plan.regexes, column, number)
        raised = not positions and all(
            RAISED.match(str(v)) for v in group["failure_case"].to_list()
        )
        out.append(CheckFailure(column, str(check), group.height, examples, sev, raised=raised))
    return out


def _values(
    data: Any,
    table: pa.Table | None,
    positions: Sequence[int],
    column: str | None,
    key: Sequence[str],
) -> dict[int, tuple[Any, tuple[tuple[str, Any], ...] | None]]:
    """The failing value (of ``column``) and the key of each row at ``positions``."""
    import polars as pl

    if not positions:
        return {}
    if table is not None:
        names = set(table.column_names)
        keys = [k for k in key if k in names]
        out = {}
        for i in positions:
            value = table.column(column)[i].as_py() if column in names else None
            kv = tuple((k, jsonable(table.column(k)[i].as_py())) for k in keys) if keys else None
            out[i] = (jsonable(value), kv)
        return out
    names = set(data.collect_schema().names())
    keys = [k for k in key if k in names]
    cols = ([column] if column in names else []) + [k for k in keys if k != column]
    if not cols:
        return {i: (None, None) for i in positions}
    found = (
        data.select(cols)
        .with_row_index("__dvtool_row")
        .filter(pl.col("__dvtool_row").is_in(list(positions)))
        .collect()
    )
    out = {}
    for r in found.iter_rows(named=True):
        i = int(r["__dvtool_row"])
        kv = tuple((k, jsonable(r[k])) for k in keys) if keys else None
        out[i] = (jsonable(r[column]) if column in names else None, kv)
    return {i: out.get(i, (None, None)) for i in positions}
