"""``dvtool query --engine spark``: Spark SQL over snapshots, read-only.

Every dataset is a view by its name (latest) and by ``"NAME@REF"``, as in
the embedded engine; double quotes quote identifiers (Spark's
``spark.sql.ansi.doubleQuotedIdentifiers``), so the same SQL text names the
same snapshots. Only the views the SQL names are made, so only those
snapshots are verified and read.

Read-only is decided before Spark runs anything (Spark executes commands
such as ``INSERT OVERWRITE DIRECTORY`` or ``CACHE TABLE`` as soon as they
are parsed): the parsed plan must consist only of query operators, every
table it reads must be a dataset view or a CTE, and functions that reach
into the JVM (``reflect``, ``java_method``) are refused.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import pyarrow as pa

from dvtool.engines.spark.sqltext import ident
from dvtool.errors import NotFoundError, UsageError

__all__ = ["QUERY_NODES", "run_spark_query", "tables_named"]

# Logical plan nodes a read-only query may contain (parsed, unresolved form).
QUERY_NODES = frozenset(
    {
        "Aggregate", "CTERelationDef", "CTERelationRef", "Deduplicate", "Distinct", "Except",
        "Expand", "Filter", "Generate", "GlobalLimit", "Intersect", "Join", "LateralJoin",
        "LocalLimit", "LocalRelation", "Offset", "OneRowRelation", "Pivot", "Project",
        "RepartitionByExpression", "Sample", "Sort", "SubqueryAlias", "Tail", "Union",
        "UnresolvedHaving", "UnresolvedHint", "UnresolvedInlineTableValues", "UnresolvedInlineTable",
        "UnresolvedRelation", "UnresolvedSubqueryColumnAliases", "UnresolvedTableValuedFunction",
        "UnresolvedWith", "Unpivot", "Window", "WithCTE", "WithWindowDefinition",
    }
)  # fmt: skip
_TABLE_FUNCTIONS = frozenset(
    {
        "range",
        "explode",
        "explode_outer",
        "inline",
        "inline_outer",
        "posexplode",
        "posexplode_outer",
        "stack",
        "json_tuple",
    }
)
_REFUSED_FUNCTIONS = frozenset({"reflect", "java_method", "try_reflect"})


def _seq(s: Any) -> list[Any]:
    return [s.apply(i) for i in range(s.size())]


def _refuse(what: str) -> UsageError:
    return UsageError(f"query failed: only read-only queries run here ({what} is not allowed)")


def tables_named(spark: Any, text: str) -> list[str]:
    """The tables ``text`` reads, after checking that it is a read-only query."""
    jvm = spark._jvm
    # The parser reads the *active* session's settings (double-quoted identifiers).
    jvm.org.apache.spark.sql.SparkSession.setActiveSession(spark._jsparkSession)
    try:
        plan = spark._jsparkSession.sessionState().sqlParser().parsePlan(text)
    except Exception as exc:  # a ParseException through py4j
        message = str(exc).strip().splitlines()[0] if str(exc).strip() else "syntax error"
        message = message.split(": ", 1)[-1] if message.startswith("org.apache") else message
        raise UsageError(f"query failed: Parser Error: {message}") from None
    subquery = jvm.java.lang.Class.forName(
        "org.apache.spark.sql.catalyst.expressions.SubqueryExpression"
    )
    found: set[str] = set()
    ctes: set[str] = set()

    def walk(node: Any) -> None:
        kind = node.getClass().getSimpleName()
        if kind not in QUERY_NODES:
            raise _refuse(kind)
        if kind == "UnresolvedWith":
            ctes.update(str(pair._1()) for pair in _seq(node.cteRelations()))
        if kind == "UnresolvedRelation":
            parts = [str(p) for p in _seq(node.multipartIdentifier())]
            if len(parts) != 1:
                raise _refuse(f"reading {'.'.join(parts)}")
            found.add(parts[0])
        if kind == "UnresolvedTableValuedFunction":
            name = ".".join(str(p) for p in _seq(node.name())).lower()
            if name not in _TABLE_FUNCTIONS:
                raise _refuse(f"table function {name}")
        for expr in _seq(node.expressions()):
            walk_expr(expr)
        for child in _seq(node.children()):
            walk(child)

    def walk_expr(expr: Any) -> None:
        if expr.getClass().getSimpleName() == "UnresolvedFunction":
            name = str(_seq(expr.nameParts())[-1]).lower()
            if name in _REFUSED_FUNCTIONS:
                raise _refuse(f"function {name}")
        if subquery.isInstance(expr):
            walk(expr.plan())
        for child in _seq(expr.children()):
            walk_expr(child)

    walk(plan)
    return sorted(found - ctes)


def run_spark_query(
    spark: Any,
    text: str,
    frame_for: Callable[[str], Any | None],
    known: Sequence[str],
) -> pa.Table:
    """Run ``text`` with each named table bound through ``frame_for`` (None: not a dataset)."""
    if not text.strip():
        raise UsageError("query: the SQL is empty")
    spark.conf.set("spark.sql.ansi.doubleQuotedIdentifiers", "true")
    spark.conf.set("spark.sql.runSQLOnFiles", "false")
    for name in tables_named(spark, text):
        frame = frame_for(name)
        if frame is None:
            hint = (
                f" (datasets: {', '.join(known[:20])})" if known else " (the repository is empty)"
            )
            raise NotFoundError(f"query failed: table {name!r} does not exist{hint}")
        frame.createOrReplaceTempView(ident(name))
    try:
        result = spark.sql(text)
        table = result.toArrow()
    except Exception as exc:  # an AnalysisException or a failed job, through py4j
        raise UsageError(f"query failed: {_spark_message(exc)}") from None
    return table


def _spark_message(exc: BaseException) -> str:
    text = str(exc).strip()
    first = text.splitlines()[0] if text else type(exc).__name__
    return first[:500]
