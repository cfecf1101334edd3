"""``dvtool validate --engine spark``: the same report as the embedded engine, computed in Spark.

The schema is the same YAML or Python schema (pandas or polars); dvtool's own
plan (:func:`dvtool.validate.run._plan`) splits it as the embedded engine does.

* Schema-level checks (dtypes, required, strict and ordered columns) depend
  on the column types only, not on the rows: they are run by the embedded
  engine on an empty table of the snapshot's schema (typed for pandas as
  the whole data would be: an integer column with nulls anywhere is float),
  so they say exactly what the embedded engine says.
* Column checks run through pandera's pyspark.sql backend on the Spark
  DataFrame. pandera's pyspark errors say *which* checks failed but not how
  often, so dvtool counts the failing rows of every check in one Spark SQL
  aggregation and takes the first failing rows (by position) as examples.
  If pandera and dvtool's count ever disagree on whether a check failed, the
  run stops with an error instead of printing either answer.
* Uniqueness (column, schema-level, key) and ``unique_values_eq`` span all
  rows: Spark SQL over the whole DataFrame, as DuckDB does for the embedded
  engine.

Checks that pandera's pyspark backend cannot express are refused up front
(:func:`dvtool.engines.spark.checks.refuse_unsupported`), exit 2.
"""

from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import pyarrow as pa

from dvtool.engines.spark.checks import coercion, fail_expr, not_null_expr, refuse_unsupported
from dvtool.engines.spark.reading import POS
from dvtool.engines.spark.sqltext import ident, job_error
from dvtool.errors import DvtoolError, UsageError
from dvtool.format.models import ChunkInfo
from dvtool.validate.crosschecks import Unique, ValueSet
from dvtool.validate.engine import check_group, pandas_context, plan_checks
from dvtool.validate.faults import MAX_DISTINCT, one_per_fault
from dvtool.validate.report import N_EXAMPLES, CheckFailure, Example, ValidationReport, jsonable
from dvtool.validate.schema import LoadedSchema

__all__ = ["validate_frame"]

Severity = Literal["error", "warning"]


def validate_frame(
    spark: Any,
    loaded: LoadedSchema,
    frame: Any,
    *,
    schema: pa.Schema,
    key: Sequence[str] = (),
    target: str = "data",
    chunks: Sequence[ChunkInfo] | None = None,
    key_guaranteed: bool = False,
    n_examples: int = N_EXAMPLES,
    name: str = "",
) -> ValidationReport:
    """Validate ``frame`` (the rows, with their position in ``__dvtool_pos``) against ``loaded``.

    ``schema`` is the rows' Arrow schema; ``chunks`` (a snapshot's, in order)
    let pandas schemas see the same column types per group of chunks as the
    embedded engine; ``key_guaranteed`` as in :func:`dvtool.validate.run.validate_chunks`.
    """
    key = tuple(key)
    plan = plan_checks(loaded, schema.names, key)
    if key_guaranteed and key:
        keyset = set(key)
        plan = dataclasses.replace(
            plan, uniques=tuple(u for u in plan.uniques if not keyset <= set(u.columns))
        )
    refuse_unsupported(plan, loaded)
    pandas = loaded.backend == "pandas"
    results = _schema_level(plan, loaded, schema, chunks, key, target, n_examples)
    try:
        rows, column_results = _column_checks(plan, loaded, frame, schema, key, pandas, n_examples)
        results.extend(column_results)
        results.extend(_uniques(frame, plan.uniques, schema, key, n_examples))
        results.extend(_value_sets(frame, plan.value_sets, schema))
    except DvtoolError:
        raise
    except Exception as exc:  # a failed Spark job
        raise job_error(exc, "validate") from None
    order = {c: i for i, c in enumerate(plan.checks)}
    results.sort(key=lambda r: (order.get((r.column, r.check), len(order)), str(r.column), r.check))
    results = one_per_fault(results)
    n_chunks = len(chunks) if chunks is not None else 0
    return ValidationReport(
        schema=loaded.name,
        schema_fingerprint=loaded.fingerprint,
        target=target,
        rows_checked=rows,
        errors=tuple(r for r in results if r.severity == "error"),
        warnings=tuple(r for r in results if r.severity == "warning"),
        chunks_checked=n_chunks,
        chunks_reused=0,
        notes=() if loaded.proven else (f"cached verdicts not used: {loaded.unproven}",),
        checks=plan.checks,
        schema_lines=loaded.lines,
        name=name or _schema_name(loaded),
    )


def _schema_name(loaded: LoadedSchema) -> str:
    named = getattr(loaded.schema, "name", None)
    return str(named) if named else Path(loaded.name.split(":", 1)[0]).stem


# ---------------------------------------------------------------- schema level


def _schema_level(
    plan: Any, loaded: LoadedSchema, schema: pa.Schema, chunks: Sequence[ChunkInfo] | None,
    key: tuple[str, ...], target: str, n_examples: int,
) -> list[CheckFailure]:  # fmt: skip
    """The embedded engine's verdict on an empty table of the same column types."""
    nulls: set[str] = set()
    for c in chunks or ():
        nulls.update(name for name, stats in c.stats if stats.nulls)
    # pandas types an integer column with nulls anywhere as float (dvtool.validate.engine.to_frame).
    context = (
        frozenset(pandas_context(schema, nulls)) if loaded.backend == "pandas" else frozenset()
    )
    (verdict,) = check_group(plan, loaded, [schema.empty_table()], key, target, n_examples, context)
    out = []
    for f in verdict.failures:
        if f.cases and not f.count:  # not tied to rows: true of the data whatever its values
            examples = tuple(Example(value=c) for c in f.cases[:n_examples])
            out.append(CheckFailure(f.column, f.check, len(f.cases), examples, f.severity))
    return out


# ---------------------------------------------------------------- column checks


def _column_checks(
    plan: Any, loaded: LoadedSchema, frame: Any, schema: pa.Schema, key: tuple[str, ...],
    pandas: bool, n_examples: int,
) -> tuple[int, list[CheckFailure]]:  # fmt: skip
    from pyspark.sql import functions as F

    present = set(schema.names)
    coerce_all = bool(getattr(plan.local, "coerce", False))
    flags: list[
        tuple[str, str, Severity, Any, Any]
    ] = []  # column, label, severity, fail expr, pandera check
    casts: dict[str, str] = {}
    for name, col in plan.local.columns.items():
        name = str(name)
        if name not in present:
            continue  # reported by the schema-level checks (column_in_dataframe)
        typ = schema.field(name).type
        if (coerce_all or col.coerce) and col.dtype is not None:
            cast_to = coercion(name, col.dtype, typ, loaded.name)
            if cast_to is not None:
                casts[name] = cast_to
        if not col.nullable:
            flags.append((name, "not_nullable", "error", not_null_expr(name, typ), None))
        value = F.col(ident(name)).cast(casts[name]) if name in casts else F.col(ident(name))
        nan_is_null = pandas and (pa.types.is_floating(typ) or casts.get(name) == "double")
        for i, check in enumerate(col.checks):
            severity: Severity = "warning" if (name, i) in plan.warn else "error"
            label = str(check.error or check.name)
            flags.append(
                (name, label, severity, fail_expr(value, check, nan_is_null=nan_is_null), check)
            )
    aggs = [F.count(F.lit(1))] + [F.count_if(expr) for _, _, _, expr, _ in flags]
    counts = [int(v) for v in frame.agg(*aggs).collect()[0]]
    rows, counts = counts[0], counts[1:]
    _cross_check(plan, loaded, frame, schema, casts, flags, counts, pandas)
    keys = [k for k in key if k in present]
    out = []
    for (name, label, severity, expr, _), count in zip(flags, counts, strict=True):
        if not count:
            continue
        # As the embedded engine reports them: the distinct failing values with their
        # counts and first rows (and that row's key), most frequent first.
        failing = frame.where(expr).select(
            F.col(ident(name)).alias("v"),
            F.col(POS).alias("p"),
            *[F.col(ident(k)).alias(f"k{i}") for i, k in enumerate(keys)],
        )
        per_value = failing.groupBy("v").agg(
            F.count(F.lit(1)).alias("n"),
            F.min("p").alias("first"),
            *[F.min_by(F.col(f"k{i}"), F.col("p")).alias(f"k{i}") for i in range(len(keys))],
        )
        top = per_value.orderBy(F.col("n").desc(), F.col("first").asc()).limit(MAX_DISTINCT)
        examples = []
        for r in top.toArrow().to_pylist():
            kv = tuple((k, jsonable(r[f"k{i}"])) for i, k in enumerate(keys)) if keys else None
            examples.append(
                Example(value=jsonable(r["v"]), row=int(r["first"]), key=kv, count=int(r["n"]))
            )
        out.append(CheckFailure(name, label, count, tuple(examples), severity))
    return rows, out


def _cross_check(
    plan: Any, loaded: LoadedSchema, frame: Any, schema: pa.Schema, casts: dict[str, str],
    flags: Sequence[tuple[str, str, Severity, Any, Any]], counts: Sequence[int], pandas: bool,
) -> None:  # fmt: skip
    """Run the column checks through pandera's pyspark backend; its verdicts must match the counts."""
    import pandera.pyspark as pps
    from pandera.config import ValidationDepth, config_context
    from pyspark.sql import functions as F

    columns: dict[str, list[Any]] = {}
    expected: dict[tuple[str, str], bool] = {}
    for (name, _label, _sev, _expr, check), count in zip(flags, counts, strict=True):
        if check is None:
            continue
        spark_check = getattr(pps.Check, check.name)(**dict(check.statistics or {}))
        columns.setdefault(name, []).append(spark_check)
        where = (name, str(spark_check.error))
        expected[where] = expected.get(where, False) or count > 0
    if not columns:
        return
    data = frame
    for name in columns:
        value = F.col(ident(name)).cast(casts[name]) if name in casts else F.col(ident(name))
        if pandas and (
            pa.types.is_floating(schema.field(name).type) or casts.get(name) == "double"
        ):
            value = F.nanvl(value, F.lit(None))  # pandas ignores NaN like a null
        data = data.withColumn(name, value)
    dtypes = {f.name: f.dataType for f in data.schema.fields}
    spark_schema = pps.DataFrameSchema(
        {
            name: pps.Column(dtypes[name], checks=checks, nullable=True)
            for name, checks in columns.items()
        }
    )
    with (
        warnings.catch_warnings(),
        config_context(validation_enabled=True, validation_depth=ValidationDepth.SCHEMA_AND_DATA),
    ):
        warnings.simplefilter("ignore")
        checked = spark_schema.validate(data.select(*[F.col(ident(n)) for n in columns]))
    errors = dict(checked.pandera.errors or {})
    failed: set[tuple[str, str]] = set()
    for reasons in errors.values():
        for reason, entries in dict(reasons).items():
            for e in entries:
                where = (str(e.get("column")), str(e.get("check")))
                if str(reason) == "DATAFRAME_CHECK":
                    failed.add(where)
                else:
                    raise UsageError(
                        f"schema {loaded.name}: pandera's pyspark backend cannot run {where[1]} on column "
                        f"{where[0]!r} ({e.get('error')}); run it with --engine duckdb"
                    )
    for where, dvtool_says in expected.items():
        if (where in failed) != dvtool_says:
            raise UsageError(
                f"schema {loaded.name}: pandera's pyspark backend and dvtool's count disagree on "
                f"{where[1]} for column {where[0]!r}; not reporting either — run it with --engine duckdb"
            )


# ---------------------------------------------------------------- across all rows


def _uniques(
    frame: Any, uniques: Sequence[Unique], schema: pa.Schema, key: tuple[str, ...], n_examples: int
) -> list[CheckFailure]:
    """dvtool.validate.crosschecks' uniqueness checks, in Spark SQL (same counts, same example rows)."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    present = set(schema.names)
    keys = [k for k in key if k in present]
    out = []
    failed: set[int] = set()
    for u in uniques:
        if not all(c in present for c in u.columns):
            continue  # a missing column is reported by the schema-level checks
        if u.alternatives is not None and u.alternatives in failed:
            continue  # pandera reports only the first list of unique: [[...], [...]] that fails
        cols = [F.col(ident(c)).alias(f"c{i}") for i, c in enumerate(u.columns)]
        group = [f"c{i}" for i in range(len(u.columns))]
        t = frame.select(
            *cols,
            *[F.col(ident(k)).alias(f"k{i}") for i, k in enumerate(keys)],
            F.col(POS).alias("p"),
        )
        if u.nulls_distinct and len(u.columns) == 1:
            t = t.where(F.col("c0").isNotNull())
        d = t.groupBy(*group).agg(F.count(F.lit(1)).alias("n")).where(F.col("n") > 1)
        total_expr = F.sum("n") if u.keep == "all" else F.sum(F.col("n") - 1)
        total = int(d.agg(F.coalesce(total_expr, F.lit(0))).collect()[0][0])
        if not total:
            continue
        if u.alternatives is not None:
            failed.add(u.alternatives)
        joined = (
            t.alias("t")
            .join(d.alias("d"), [F.col(f"t.{g}").eqNullSafe(F.col(f"d.{g}")) for g in group])
            .select("t.*")
        )
        if u.keep != "all":
            # report_duplicates exclude_first / exclude_last leave out the first / last of each group.
            order = F.col("p").asc() if u.keep == "exclude_first" else F.col("p").desc()
            rank = F.row_number().over(
                Window.partitionBy(*[F.col(g) for g in group]).orderBy(order)
            )
            joined = joined.withColumn("__rn", rank).where(F.col("__rn") > 1).drop("__rn")
        order_by = [F.col("p").asc()] + [F.col(g).asc_nulls_last() for g in group]
        picked = joined.orderBy(*order_by).limit(n_examples).toArrow().to_pylist()
        examples = []
        for r in picked:
            vals = [r[g] for g in group]
            value = (
                jsonable(vals[0])
                if len(vals) == 1
                else {c: jsonable(v) for c, v in zip(u.columns, vals, strict=True)}
            )
            kv = tuple((k, jsonable(r[f"k{i}"])) for i, k in enumerate(keys)) if keys else None
            examples.append(Example(value=value, row=int(r["p"]), key=kv))
        out.append(CheckFailure(u.label, u.check, total, tuple(examples), "error"))
    return out


def _value_sets(
    frame: Any, value_sets: Sequence[ValueSet], schema: pa.Schema
) -> list[CheckFailure]:
    from pyspark.sql import functions as F

    out = []
    for vs in value_sets:
        if vs.column not in schema.names:
            continue
        c = F.col(ident(vs.column))
        rows = (
            frame.select(c.alias("v")).where(c.isNotNull()).distinct().limit(len(vs.values) + 1000)
        )
        found = {r["v"] for r in rows.toArrow().to_pylist()}
        expected = set(vs.values)
        if found == expected:
            continue
        diff = sorted(found ^ expected, key=repr)
        examples = tuple(
            Example(value=jsonable(v), key=(("missing" if v in expected else "unexpected", True),))
            for v in diff[:N_EXAMPLES]
        )
        out.append(CheckFailure(vs.column, vs.check, len(diff), examples, vs.severity))
    return out
