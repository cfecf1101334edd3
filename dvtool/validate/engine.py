"""Running pandera on one group of chunks: which checks run per chunk, which over all rows.

The plan splits a schema into the checks that can run chunk by chunk (their
verdicts are cached per chunk) and those that need every row (uniqueness,
value sets, dataframe-level checks), which run once in DuckDB or over a lazy
frame of all the chunk files.
"""

from __future__ import annotations

import copy
import os
import re
import warnings
from collections.abc import Collection, Sequence
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

__all__ = [
    "GROUP_ROWS",
    "CheckPlan",
    "as_schema_asks_polars",
    "check_group",
    "check_label",
    "chunk_only",
    "component_of",
    "failure_frame",
    "group_rows",
    "is_row_wise",
    "pandas_context",
    "plan_checks",
    "run_pandera",
    "severity",
    "to_frame",
    "validation_record",
]

GROUP_ROWS = 256 * 1024  # rows validated per pandera call (bounded memory)


def group_rows() -> int:
    """Rows per pandera call: GROUP_ROWS, or ``DVTOOL_VALIDATE_GROUP_ROWS`` (tests use small groups)."""
    text = os.environ.get("DVTOOL_VALIDATE_GROUP_ROWS", "")
    return int(text) if text.isdigit() and int(text) > 0 else GROUP_ROWS


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


# pandera's built-in checks that compare each value on its own (they return one
# boolean per row): safe chunk by chunk. Every other check may look at the
# whole column.
ROW_WISE = frozenset(
    {
        "equal_to", "not_equal_to", "greater_than", "greater_than_or_equal_to", "less_than",
        "less_than_or_equal_to", "in_range", "isin", "notin", "str_matches", "str_contains",
        "str_startswith", "str_endswith", "str_length",
    }
)  # fmt: skip
# Failures that only the per-chunk run reports (the whole-data run repeats the
# column's dtype and coercion so its checks see what pandera's would).
_CHUNK_ONLY = (
    "dtype(",
    "coerce_dtype",
    "not_nullable",
    "column_in_",
    "column_ordered",
    "field_uniqueness",
)


def chunk_only(check: str, number: int | None) -> bool:
    """A failure of the whole-data run that the per-chunk run reports already."""
    return number is None or check.startswith(_CHUNK_ONLY)


@dataclass(frozen=True, slots=True)
class CheckPlan:
    """A schema split by where its checks run.

    ``local`` holds what runs per chunk (dtype, nullable, row-wise checks),
    ``whole`` what needs every row at once (whole-column and dataframe-level
    checks), ``uniques``/``value_sets`` what DuckDB decides over all the files.
    """

    local: Any
    warn: frozenset[tuple[str | None, int]]  # (component label or None, check number)
    uniques: tuple[Unique, ...]
    value_sets: tuple[ValueSet, ...]
    checks: tuple[tuple[str | None, str], ...]
    whole: Any = None  # a DataFrameSchema of the whole-data checks, or None
    whole_warn: frozenset[tuple[str | None, int]] = frozenset()
    whole_columns: tuple[str, ...] | None = None  # columns the whole run reads (None: all)
    regexes: tuple[str, ...] = ()  # labels of regex components


def check_label(check: Any) -> str:
    return str(check.error or check.name)


def is_row_wise(check: Any) -> bool:
    """True when ``check`` decides each row (or each value) on its own.

    pandera's flags decide: ``element_wise=True`` runs the function once per
    value (or row); a built-in comparison (``gt``, ``isin``, ``str_matches`` …)
    returns one boolean per value. A ``groupby`` check, ``unique_values_eq``,
    hypothesis tests and any custom vectorised check receive the whole column
    and may depend on all of it (``s > s.mean()`` returns one boolean per row
    yet depends on every row), so they are not row-wise.
    """
    if check.groupby is not None:
        return False
    if check.element_wise:
        return True
    if check.name not in ROW_WISE:
        return False
    try:
        fn, builtin = check._check_fn, type(check).get_builtin_check_fn(check.name)
    except (KeyError, AttributeError, TypeError, ValueError):
        return False
    if fn is builtin:
        return True
    # plan_checks works on a deep copy of the schema, and a deep-copied dispatcher is a
    # new object holding the same functions (a subset, if more backends registered since).
    registry, reference = (
        getattr(fn, "_function_registry", None),
        getattr(builtin, "_function_registry", None),
    )
    if not isinstance(registry, dict) or not registry or not isinstance(reference, dict):
        return False
    return all(reference.get(t) is f for t, f in registry.items())


def component_of(
    column: str | None, labels: set[str] | frozenset[str], regexes: Sequence[str]
) -> str | None:
    """The schema component a failure's column belongs to (regex columns by pattern)."""
    if column is None or column in labels:
        return column
    for pattern in regexes:
        if re.fullmatch(pattern, column):
            return pattern
    return column


def plan_checks(loaded: LoadedSchema, columns: Sequence[str], key: Sequence[str]) -> CheckPlan:
    local = copy.deepcopy(loaded.schema)
    whole_schema = copy.deepcopy(loaded.schema)
    warn: set[tuple[str | None, int]] = set()
    whole_warn: set[tuple[str | None, int]] = set()
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
    whole_components: dict[Any, Any] = {}
    needed: set[str] = set()
    regexes = tuple(str(n) for n, c in local.columns.items() if c.regex)
    for name, col in local.columns.items():
        label = str(name)
        targets = [c for c in columns if re.fullmatch(label, c)] if col.regex else [label]
        if col.dtype is not None:
            listed.append((label, f"dtype('{col.dtype}')"))
        if not col.nullable:
            listed.append((label, "not_nullable"))
        if col.unique:
            # polars' pandera has no report_duplicates modes: it reports every duplicate.
            keep = col.report_duplicates if pandas else "all"
            for target in targets:
                uniques.append(Unique((target,), "field_uniqueness", target, keep, pandas))
            listed.append((label, "field_uniqueness"))
            col.unique = False
        kept: list[Any] = []
        whole: list[Any] = []
        for check in col.checks:
            if check.name == "unique_values_eq" and check.groupby is None:
                values = tuple((check.statistics or {}).get("values") or ())
                sev: Literal["error", "warning"] = "warning" if check.raise_warning else "error"
                value_sets.append(ValueSet(label, values, check_label(check), sev))
                listed.append((label, check_label(check)))
                continue
            listed.append((label, check_label(check)))
            check.n_failure_cases = None  # exact counts, always
            row_wise = is_row_wise(check)
            if check.raise_warning:
                check.raise_warning = False
                (warn if row_wise else whole_warn).add((label, len(kept if row_wise else whole)))
            (kept if row_wise else whole).append(check)
            if not row_wise:
                needed.update(t for t in targets if t in columns)
                needed.update(_groupby_columns(check, columns))
        col.checks = kept
        if whole:
            part = copy.deepcopy(col)
            # Same dtype and coercion, so the checks see what pandera's would;
            # nullable/unique/required are the per-chunk run's to report.
            part.checks = whole
            part.nullable = True
            part.unique = False
            part.required = False
            whole_components[name] = part
    if local.unique:
        lists = [local.unique] if isinstance(local.unique, str) else list(local.unique)
        if all(isinstance(c, str) for c in lists):
            lists = [lists]
        present = set(columns)
        for cols in lists:
            subset = tuple(
                str(c) for c in ([cols] if isinstance(cols, str) else cols) if c in present
            )
            if not subset:
                continue  # pandera skips a list with none of its columns present
            uniques.append(
                Unique(
                    subset,
                    "multiple_fields_uniqueness",
                    ", ".join(subset),
                    local.report_duplicates if pandas else "all",
                    False,
                    alternatives=0 if len(lists) > 1 else None,
                )
            )
            if (", ".join(subset), "multiple_fields_uniqueness") not in listed:
                listed.append((", ".join(subset), "multiple_fields_uniqueness"))
        local.unique = None
    frame_checks = list(local.checks)
    for i, check in enumerate(frame_checks):
        if check.raise_warning:
            check.raise_warning = False
            whole_warn.add((None, i))
        check.n_failure_cases = None
        listed.append((None, check_label(check)))
    local.checks = []
    whole_plan = None
    whole_columns: tuple[str, ...] | None = None
    if frame_checks or whole_components:
        whole_plan = copy.deepcopy(whole_schema)
        whole_plan.columns = whole_components
        whole_plan.checks = frame_checks
        whole_plan.strict = False
        whole_plan.ordered = False
        whole_plan.unique = None
        if not frame_checks:
            whole_columns = tuple(c for c in columns if c in needed or c in key)
    if key and not any(u.columns == tuple(key) and u.keep == "all" for u in uniques):
        uniques.append(Unique(tuple(key), "key_unique", ", ".join(key), "all", False))
        listed.append((", ".join(key), "key_unique"))
    return CheckPlan(
        local,
        frozenset(warn),
        tuple(uniques),
        tuple(value_sets),
        tuple(listed),
        whole_plan,
        frozenset(whole_warn),
        whole_columns,
        regexes,
    )


def _groupby_columns(check: Any, columns: Sequence[str]) -> set[str]:
    by = check.groupby
    if by is None:
        return set()
    if callable(by):
        return set(columns)  # a function of the frame: it may read any column
    return {str(c) for c in ([by] if isinstance(by, str) else by) if c in columns}


def pandas_context(schema: pa.Schema, nulls: Collection[str]) -> tuple[str, ...]:
    """Columns whose pandas type depends on nulls elsewhere in the data (see :func:`to_frame`)."""
    return tuple(
        f.name
        for f in schema
        if f.name in nulls and (pa.types.is_integer(f.type) or pa.types.is_boolean(f.type))
    )


def to_frame(loaded: LoadedSchema, table: pa.Table, nulls: Collection[str] = ()) -> Any:
    """The rows as pandera's backend takes them, typed as reading the whole data would type them.

    pandas turns an integer column into float64 (and a boolean one into object)
    only when it holds a null, so ``pd.read_parquet`` of the whole data types
    a column by nulls anywhere in it: ``nulls`` names the columns holding
    nulls somewhere, and every chunk of them is typed the same way. A column
    the schema declares as a categorical with fixed categories (pandas) or a
    polars ``Enum`` is handed over with that type when its values fit, as a
    frame read back from a file written with that type would be.
    """
    if loaded.backend == "polars":
        import polars as pl

        frame = pl.from_arrow(table)  # zero-copy; a polars schema cannot take a pa.Table
        assert isinstance(frame, pl.DataFrame)
        return as_schema_asks_polars(loaded.schema, frame)
    for i, f in enumerate(table.schema):
        col = table.column(i)
        if f.name in nulls and pa.types.is_integer(f.type) and col.null_count == 0:
            table = table.set_column(i, f.name, col.cast(pa.float64()))
    df = table.to_pandas()
    for f in table.schema:
        if f.name in nulls and pa.types.is_boolean(f.type) and df[f.name].dtype == bool:
            df[f.name] = df[f.name].astype(object)
    return _as_schema_asks_pandas(loaded.schema, df)


def _as_schema_asks_pandas(schema: Any, df: Any) -> Any:
    import pandas as pd

    for name, col in schema.columns.items():
        want = getattr(col.dtype, "type", None)
        if col.regex or name not in df.columns or not isinstance(want, pd.CategoricalDtype):
            continue
        if want.categories is None:
            continue
        values = set(df[name].dropna().unique())
        if values <= set(want.categories):
            df[name] = df[name].astype(want)
    return df


def as_schema_asks_polars(schema: Any, frame: Any) -> Any:
    """Cast Categorical/String columns to the ``Enum`` the schema declares, when every value fits."""
    import polars as pl

    casts = []
    names = frame.collect_schema().names() if isinstance(frame, pl.LazyFrame) else frame.columns
    for name, col in schema.columns.items():
        want = getattr(col.dtype, "type", None)
        if col.regex or name not in names or not isinstance(want, pl.Enum):
            continue
        got = frame.collect_schema()[name]
        if got == want or not isinstance(got, pl.Categorical | pl.String):
            continue
        text = pl.col(name).cast(pl.String)
        misfit = frame.select((text.is_not_null() & ~text.is_in(list(want.categories))).any())
        if isinstance(misfit, pl.LazyFrame):
            misfit = misfit.collect()
        if not misfit.item():
            casts.append(text.cast(want))
    return frame.with_columns(casts) if casts else frame


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


def _named_by_column(fc: Any, errors: Sequence[Any], regexes: Sequence[str]) -> Any:
    """Name a regex column's failures by the column that failed, as pandera's errors do.

    polars' pandera files them under the pattern in ``failure_cases`` while the
    error itself names the column (``var_3``); its failure cases are the
    errors' cases concatenated in order, one row per case (one for a scalar).
    """
    import polars as pl

    if not regexes or not fc.height or not fc["column"].is_in(list(regexes)).any():
        return fc
    names: list[str | None] = []
    for err in errors:
        cases = err.failure_cases
        names.extend([err.column_name] * (cases.height if isinstance(cases, pl.DataFrame) else 1))
    if len(names) != fc.height:
        return fc  # not the layout described above: keep pandera's names
    named = pl.Series("named", names, dtype=pl.String)
    return fc.with_columns(
        pl.when(pl.col("column").is_in(list(regexes)) & named.is_not_null())
        .then(named)
        .otherwise(pl.col("column"))
        .alias("column")
    )


def run_pandera(
    plan: CheckPlan,
    loaded: LoadedSchema,
    table: pa.Table | Any,
    target: str,
    schema: Any = None,
    nulls: frozenset[str] = frozenset(),
) -> Any | None:
    """Validate one group of chunks (or a frame of all rows); failure cases or None."""
    from pandera.config import ValidationDepth, config_context
    from pandera.errors import SchemaError, SchemaErrors

    obj = to_frame(loaded, table, nulls) if isinstance(table, pa.Table) else table
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
        return _named_by_column(failure_frame(exc.failure_cases), exc.schema_errors, plan.regexes)
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


DISTINCT_PER_CHUNK = 200  # distinct failing values kept per check and chunk (most frequent first)
# pandera's failure case when a check raised instead of returning booleans: "TypeError(...)".
RAISED = re.compile(r"^[A-Za-z_][\w.]*(Error|Exception)\(")


def check_group(
    plan: CheckPlan,
    loaded: LoadedSchema,
    tables: Sequence[pa.Table],
    key: Sequence[str],
    target: str,
    n_examples: int,
    nulls: frozenset[str] = frozenset(),
) -> list[ChunkVerdict]:
    """Validate consecutive chunks in one pandera call; split the failures back per chunk.

    pandera costs ~20 ms per call whatever the size, so small chunks are
    validated together (up to GROUP_ROWS rows) while verdicts stay per chunk.
    """
    import numpy as np
    import polars as pl

    table = tables[0] if len(tables) == 1 else pa.concat_tables(tables)
    starts = np.cumsum([0] + [t.num_rows for t in tables[:-1]]).astype(np.int64)
    fc = run_pandera(plan, loaded, table, target, nulls=nulls)
    failures: list[list[ChunkFailure]] = [[] for _ in tables]
    if fc is not None and fc.height:
        names = set(table.column_names)
        keys = [k for k in key if k in names]
        labels = frozenset(str(c) for c in plan.local.columns)
        rows = fc.filter(pl.col("index").is_not_null())
        chunk_of = np.searchsorted(starts, rows["index"].to_numpy(), side="right") - 1
        rows = rows.with_columns(pl.Series("chunk", chunk_of, dtype=pl.Int64))
        # One example per distinct failing value: how many rows hold it, and the first one.
        per_value = rows.group_by(
            ["chunk", "column", "check", "check_number", "failure_case"], maintain_order=True
        ).agg(pl.len().alias("n"), pl.col("index").min().alias("first"))
        grouped = (
            per_value.sort(["n", "first"], descending=[True, False])
            .group_by(["chunk", "column", "check", "check_number"], maintain_order=True)
            .agg(
                pl.col("n").sum().alias("total"),
                pl.col("n").head(DISTINCT_PER_CHUNK).alias("ns"),
                pl.col("first").head(DISTINCT_PER_CHUNK).alias("firsts"),
            )
        )
        for g in grouped.sort("chunk", maintain_order=True).iter_rows(named=True):
            column, check, number, c = g["column"], g["check"], g["check_number"], int(g["chunk"])
            sev = severity(plan.warn, labels, plan.regexes, column, number)
            examples = []
            for n, i in zip(g["ns"], g["firsts"], strict=True):
                value = table.column(column)[i].as_py() if column in names else None
                kv = (
                    tuple((k, jsonable(table.column(k)[i].as_py())) for k in keys) if keys else None
                )
                examples.append(
                    Example(value=jsonable(value), row=int(i - starts[c]), key=kv, count=int(n))
                )
            failures[c].append(ChunkFailure(column, check, sev, int(g["total"]), tuple(examples)))
        schema_level = fc.filter(pl.col("index").is_null()).unique(maintain_order=True)
        merged: dict[tuple[str | None, str, str], list[str]] = {}
        raised: set[tuple[str | None, str, str]] = set()
        for r in schema_level.iter_rows(named=True):
            column, case = r["column"], str(r["failure_case"])
            if column is None and r["check"] in (
                "column_in_schema",
                "column_in_dataframe",
                "column_ordered",
            ):
                column = case  # name the offending column
            number = r["check_number"]
            sev = severity(plan.warn, labels, plan.regexes, column, number)
            merged.setdefault((column, r["check"], sev), []).append(case)
            if RAISED.match(case):
                raised.add((column, r["check"], sev))
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
                        (column, check, sev_) in raised,
                    )
                )
    return [
        ChunkVerdict(rows=t.num_rows, key=tuple(key), failures=tuple(f))
        for t, f in zip(tables, failures, strict=True)
    ]


def severity(
    warn: frozenset[tuple[str | None, int]],
    labels: frozenset[str],
    regexes: Sequence[str],
    column: str | None,
    number: int | None,
) -> Literal["error", "warning"]:
    if number is None:
        return "error"
    return "warning" if (component_of(column, labels, regexes), number) in warn else "error"
