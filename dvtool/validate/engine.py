"""Running pandera on one group of chunks: which checks run per chunk, which over all rows.

The plan splits a schema into the checks that can run chunk by chunk (their
verdicts are cached per chunk) and those that need every row (uniqueness,
value sets, dataframe-level checks), which run once in DuckDB or over a lazy
frame of all the chunk files.
"""

from __future__ import annotations

import copy
import re
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import pyarrow as pa

from dvtool.errors import DvtoolError, UsageError
from dvtool.format.models import ValidationRecord
from dvtool.validate.crosschecks import Unique, ValueSet
from dvtool.validate.report import Example, ValidationReport, jsonable
from dvtool.validate.schema import LoadedSchema
from dvtool.validate.verdicts import (
    ChunkFailure,
    ChunkVerdict,
)

__all__ = ["GROUP_ROWS", "CheckPlan", "check_group", "check_label", "failure_frame", "plan_checks", "run_pandera", "validation_record"]

GROUP_ROWS = 256 * 1024  # rows validated per pandera call (bounded memory)


def validation_record(schema: LoadedSchema, report: ValidationReport) -> ValidationRecord:
    """What a snapshot keeps of the verdict (models.ValidationRecord)."""
    return ValidationRecord(
        schema_fingerprint=schema.fingerprint,
        schema_name=schema.name,
        ok=report.ok,
        errors=len(report.errors),
        warnings=len(report.warnings),
    )


# ---------------------------------------------------------------------------------
# the plan: which checks run per chunk, which over the whole data


@dataclass(frozen=True, slots=True)
class CheckPlan:
    local: Any
    warn: frozenset[tuple[str | None, int]]
    uniques: tuple[Unique, ...]
    value_sets: tuple[ValueSet, ...]
    checks: tuple[tuple[str | None, str], ...]
    # Dataframe-level checks (a row count, an aggregate): they need all the rows
    # at once, so they run once over the whole data, never per chunk.
    frame: Any = None  # a column-less DataFrameSchema holding only those checks
    frame_warn: frozenset[int] = frozenset()


def check_label(check: Any) -> str:
    return str(check.error or check.name)


def plan_checks(loaded: LoadedSchema, columns: Sequence[str], key: Sequence[str]) -> CheckPlan:
    local = copy.deepcopy(loaded.schema)
    warn: set[tuple[str | None, int]] = set()
    uniques: list[Unique] = []
    value_sets: list[ValueSet] = []
    listed: list[tuple[str | None, str]] = []
    pandas = loaded.backend == "pandas"
    if any(c.required for c in local.columns.values()):
        listed.append((None, "column_in_dataframe"))
    if local.strict:
        listed.append((None, "column_in_schema"))
    if local.ordered:
        listed.append((None, "column_ordered"))
    for name, col in local.columns.items():
        label = str(name)
        if col.dtype is not None:
            listed.append((label, f"dtype('{col.dtype}')"))
        if not col.nullable:
            listed.append((label, "not_nullable"))
        if col.unique:
            targets = [c for c in columns if re.fullmatch(label, c)] if col.regex else [label]
            for target in targets:
                uniques.append(
                    Unique((target,), "field_uniqueness", target, col.report_duplicates, pandas)
                )
            listed.append((label, "field_uniqueness"))
            col.unique = False
        kept: list[Any] = []
        for check in col.checks:
            if check.name == "unique_values_eq":
                values = tuple((check.statistics or {}).get("values") or ())
                sev: Literal["error", "warning"] = "warning" if check.raise_warning else "error"
                value_sets.append(ValueSet(label, values, check_label(check), sev))
                listed.append((label, check_label(check)))
                continue
            if check.raise_warning:
                check.raise_warning = False
                warn.add((label, len(kept)))
            check.n_failure_cases = None  # exact counts, always
            listed.append((label, check_label(check)))
            kept.append(check)
        col.checks = kept
    if local.unique:
        cols = tuple([local.unique] if isinstance(local.unique, str) else local.unique)
        uniques.append(
            Unique(
                cols, "multiple_fields_uniqueness", ", ".join(cols), local.report_duplicates, False
            )
        )
        listed.append((", ".join(cols), "multiple_fields_uniqueness"))
        local.unique = None
    frame_checks = list(local.checks)
    frame_warn: set[int] = set()
    for i, check in enumerate(frame_checks):
        if check.raise_warning:
            check.raise_warning = False
            frame_warn.add(i)
        check.n_failure_cases = None
        listed.append((None, check_label(check)))
    frame = None
    if frame_checks:
        frame = type(local)(checks=frame_checks, name=local.name)
        local.checks = []
    if key and not any(u.columns == tuple(key) and u.keep == "all" for u in uniques):
        uniques.append(Unique(tuple(key), "key_unique", ", ".join(key), "all", False))
        listed.append((", ".join(key), "key_unique"))
    return CheckPlan(
        local, frozenset(warn), tuple(uniques), tuple(value_sets), tuple(listed), frame, frozenset(frame_warn)
    )


def failure_frame(fc: Any) -> Any:
    """pandera's failure_cases (pandas or polars) as a polars frame with fixed column types."""
    import polars as pl

    if isinstance(fc, pl.DataFrame):
        return fc.select(
            pl.col("schema_context").cast(pl.String),
            pl.col("column").cast(pl.String),
            pl.col("check").cast(pl.String),
            pl.col("check_number").cast(pl.Int64),
            pl.col("failure_case").cast(pl.String),
            pl.col("index").cast(pl.Int64),
        )

    def opt_int(v: Any) -> int | None:
        try:
            return None if v is None or v != v else int(v)
        except (TypeError, ValueError):
            return None

    return pl.DataFrame(
        {
            "schema_context": [
                None if v is None else str(v) for v in fc["schema_context"].tolist()
            ],
            "column": [None if v is None or v != v else str(v) for v in fc["column"].tolist()],
            "check": [str(v) for v in fc["check"].tolist()],
            "check_number": [opt_int(v) for v in fc["check_number"].tolist()],
            "failure_case": [None if v is None else str(v) for v in fc["failure_case"].tolist()],
            "index": [opt_int(v) for v in fc["index"].tolist()],
        },
        schema={
            "schema_context": pl.String,
            "column": pl.String,
            "check": pl.String,
            "check_number": pl.Int64,
            "failure_case": pl.String,
            "index": pl.Int64,
        },
    )


def run_pandera(
    plan: CheckPlan, loaded: LoadedSchema, table: pa.Table | Any, target: str, schema: Any = None
) -> Any | None:
    """Validate one chunk (or, for frame checks, a LazyFrame of all rows); failure cases or None."""
    from pandera.config import ValidationDepth, config_context
    from pandera.errors import SchemaError, SchemaErrors

    if not isinstance(table, pa.Table):
        obj: Any = table
    elif loaded.backend == "polars":
        import polars as pl

        obj = pl.from_arrow(table)  # zero-copy; a polars schema cannot take a pa.Table
    else:
        obj = table.to_pandas()
    try:
        with (
            warnings.catch_warnings(),
            config_context(
                validation_enabled=True,
                # Data-level checks always run; pandera would skip them on LazyFrames.
                validation_depth=ValidationDepth.SCHEMA_AND_DATA,
                use_narwhals_backend=False,
            ),
        ):
            warnings.simplefilter("ignore")
            (plan.local if schema is None else schema).validate(obj, lazy=True)
    except SchemaErrors as exc:
        return failure_frame(exc.failure_cases)
    except SchemaError as exc:  # pragma: no cover - lazy=True collects; kept for safety
        import polars as pl

        return pl.DataFrame(
            {
                "schema_context": ["DataFrameSchema"],
                "column": [exc.column_name],
                "check": [str(exc.check)],
                "check_number": [exc.check_index],
                "failure_case": [str(exc)],
                "index": [None],
            },
            schema_overrides={"index": pl.Int64, "check_number": pl.Int64, "column": pl.String},
        )
    except DvtoolError:
        raise
    except Exception as exc:  # pandera/polars/pandas crash: the schema could not run
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise UsageError(f"schema {loaded.name} could not run on {target}: {first}") from None
    return None


def check_group(
    plan: CheckPlan,
    loaded: LoadedSchema,
    tables: Sequence[pa.Table],
    key: Sequence[str],
    target: str,
    n_examples: int,
) -> list[ChunkVerdict]:
    """Validate consecutive chunks in one pandera call; split the failures back per chunk.

    pandera costs ~20 ms per call whatever the size, so small chunks are
    validated together (up to GROUP_ROWS rows) while verdicts stay per chunk.
    """
    import numpy as np
    import polars as pl

    table = tables[0] if len(tables) == 1 else pa.concat_tables(tables)
    starts = np.cumsum([0] + [t.num_rows for t in tables[:-1]]).astype(np.int64)
    fc = run_pandera(plan, loaded, table, target)
    failures: list[list[ChunkFailure]] = [[] for _ in tables]
    if fc is not None and fc.height:
        names = set(table.column_names)
        keys = [k for k in key if k in names]
        rows = fc.filter(pl.col("index").is_not_null())
        chunk_of = np.searchsorted(starts, rows["index"].to_numpy(), side="right") - 1
        rows = rows.with_columns(pl.Series("chunk", chunk_of, dtype=pl.Int64))
        grouped = rows.group_by(
            ["chunk", "column", "check", "check_number"], maintain_order=True
        ).agg(pl.len().alias("n"), pl.col("index").head(n_examples).alias("idx"))
        for g in grouped.sort("chunk", maintain_order=True).iter_rows(named=True):
            column, check, number, c = g["column"], g["check"], g["check_number"], int(g["chunk"])
            sev: Literal["error", "warning"] = (
                "warning" if number is not None and (column, number) in plan.warn else "error"
            )
            examples = []
            for i in g["idx"]:
                value = table.column(column)[i].as_py() if column in names else None
                kv = (
                    tuple((k, jsonable(table.column(k)[i].as_py())) for k in keys)
                    if keys
                    else None
                )
                examples.append(Example(value=jsonable(value), row=int(i - starts[c]), key=kv))
            failures[c].append(ChunkFailure(column, check, sev, int(g["n"]), tuple(examples)))
        schema_level = fc.filter(pl.col("index").is_null()).unique(maintain_order=True)
        merged: dict[tuple[str | None, str, str], list[str]] = {}
        for r in schema_level.iter_rows(named=True):
            column, case = r["column"], str(r["failure_case"])
            if column is None and r["check"] in ("column_in_schema", "column_in_dataframe"):
                column = case  # name the offending column
            number = r["check_number"]
            sev = "warning" if number is not None and (column, number) in plan.warn else "error"
            merged.setdefault((column, r["check"], sev), []).append(case)
        for (column, check, sev_), cases in merged.items():
            # Not tied to rows (a dtype, a missing column): true of every chunk in the group.
            for per_chunk in failures:
                per_chunk.append(
                    ChunkFailure(
                        column,
                        check,
                        "warning" if sev_ == "warning" else "error",
                        0,
                        (),
                        tuple(cases),
                    )
                )
    return [
        ChunkVerdict(rows=t.num_rows, key=tuple(key), failures=tuple(f))
        for t, f in zip(tables, failures, strict=True)
    ]
