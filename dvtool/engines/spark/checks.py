"""A pandera schema's column checks as Spark column expressions, and what Spark cannot run.

dvtool counts failures itself (pandera's pyspark backend says only whether a
check failed), so each built-in check becomes the expression of a *failing*
row, with pandera's semantics: nulls never fail a check (``ignore_na``),
NaN is a null for pandas schemas and a value for polars ones (polars, like
Spark, orders NaN above every number), and ``not_nullable`` counts NaN as
null in both. Anything else — custom or lambda checks, groupby checks,
``ignore_na: false``, regex columns, an index, dataframe-level checks, a
coercion that can fail — is refused up front with the check's name.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import pyarrow as pa

from dvtool.engines.spark.sqltext import ident
from dvtool.errors import UsageError

__all__ = [
    "SUPPORTED",
    "ColumnPlan",
    "coercion",
    "fail_expr",
    "not_null_expr",
    "refuse_unsupported",
]

SUPPORTED = frozenset(
    {
        "equal_to", "not_equal_to", "greater_than", "greater_than_or_equal_to", "less_than",
        "less_than_or_equal_to", "in_range", "isin", "notin", "str_matches", "str_contains",
        "str_startswith", "str_endswith", "str_length",
    }
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class ColumnPlan:
    """One data column as Spark checks it: the expression checks see (after coercion) and its checks."""

    name: str
    nullable: bool
    checks: tuple[tuple[str, Any], ...]  # (label, pandera Check)
    cast_to: str | None  # Spark type the column is coerced to, or None


def _where(name: str) -> str:
    return f"column {name!r}" if name else "the dataframe"


def refuse_unsupported(plan: Any, loaded: Any) -> None:
    """UsageError (exit 2) naming the first check or feature the spark engine cannot run."""
    hint = "; run it with --engine duckdb"
    if plan.whole is not None:
        labels = [str(c.error or c.name) for c in plan.whole.checks]
        for col in plan.whole.columns.values():
            labels += [str(c.error or c.name) for c in col.checks]
        raise UsageError(
            f"schema {loaded.name}: checks over whole columns or the whole dataframe ({', '.join(labels)}) "
            f"cannot be expressed by the spark engine{hint}"
        )
    if plan.regexes:
        raise UsageError(
            f"schema {loaded.name}: regex column {plan.regexes[0]!r} is not supported by the spark engine{hint}"
        )
    if getattr(plan.local, "index", None) is not None:
        raise UsageError(
            f"schema {loaded.name}: an index is not supported by the spark engine{hint}"
        )
    for name, col in plan.local.columns.items():
        if col.regex:
            raise UsageError(
                f"schema {loaded.name}: regex column {name!r} is not supported by the spark engine{hint}"
            )
        for check in col.checks:
            label = str(check.error or check.name)
            if check.name not in SUPPORTED:
                raise UsageError(
                    f"schema {loaded.name}: check {label} on {_where(str(name))} cannot be expressed by "
                    f"pandera's pyspark backend{hint}"
                )
            if check.groupby is not None or getattr(check, "groups", None):
                raise UsageError(
                    f"schema {loaded.name}: groupby check {label} on {_where(str(name))} is not supported by the spark engine{hint}"
                )
            if not check.ignore_na:
                raise UsageError(
                    f"schema {loaded.name}: ignore_na: false on {label} ({_where(str(name))}) is not supported by the spark engine{hint}"
                )


def _family(dtype_text: str) -> str:
    t = dtype_text.lower()
    if re.match(r"u?int\d*", t) or t.startswith(("int", "uint")):
        return "int"
    if t.startswith(("float", "double")):
        return "float"
    if t.startswith(("str", "string", "utf8")) or t in ("object",):
        return "string"
    if t.startswith(("datetime", "timestamp")):
        return "datetime"
    if t.startswith("date"):
        return "date"
    if t.startswith("bool"):
        return "bool"
    return "other"


def _arrow_family(typ: pa.DataType) -> str:
    t = pa.types
    if t.is_integer(typ):
        return "int"
    if t.is_floating(typ):
        return "float"
    if t.is_string(typ) or t.is_large_string(typ):
        return "string"
    if t.is_timestamp(typ):
        return "datetime"
    if t.is_date(typ):
        return "date"
    if t.is_boolean(typ):
        return "bool"
    return "other"


def coercion(column: str, declared: Any, typ: pa.DataType, schema_name: str) -> str | None:
    """The Spark type a coerced column is cast to (None: no change); UsageError if coercion could fail."""
    want, have = _family(str(declared)), _arrow_family(typ)
    if want == have and want != "other":
        if want == "int":
            widths = re.findall(r"\d+", str(declared))
            if widths and int(widths[0]) < typ.bit_width:
                raise UsageError(
                    f"schema {schema_name}: coercing column {column!r} from {typ} to {declared} may fail, "
                    "which the spark engine does not count; run it with --engine duckdb"
                )
        return None
    if want == "float" and have == "int":
        return "double"
    if want == "datetime" and have == "date":
        return "timestamp_ntz"
    raise UsageError(
        f"schema {schema_name}: coercing column {column!r} from {typ} to {declared} is not supported "
        "by the spark engine; run it with --engine duckdb"
    )


def not_null_expr(name: str, typ: pa.DataType) -> Any:
    """Rows failing ``nullable: false``: null, or NaN in a float column."""
    from pyspark.sql import functions as F

    c = F.col(ident(name))
    return (c.isNull() | F.isnan(c)) if pa.types.is_floating(typ) else c.isNull()


def fail_expr(column: Any, check: Any, *, nan_is_null: bool) -> Any:
    """A boolean column: true for rows that fail ``check`` (never true for a null value)."""
    from pyspark.sql import functions as F

    s = dict(check.statistics or {})
    name = check.name
    c = column
    if name == "equal_to":
        ok = c == F.lit(s["value"])
    elif name == "not_equal_to":
        ok = c != F.lit(s["value"])
    elif name == "greater_than":
        ok = c > F.lit(s["min_value"])
    elif name == "greater_than_or_equal_to":
        ok = c >= F.lit(s["min_value"])
    elif name == "less_than":
        ok = c < F.lit(s["max_value"])
    elif name == "less_than_or_equal_to":
        ok = c <= F.lit(s["max_value"])
    elif name == "in_range":
        lo = c >= F.lit(s["min_value"]) if s.get("include_min", True) else c > F.lit(s["min_value"])
        hi = c <= F.lit(s["max_value"]) if s.get("include_max", True) else c < F.lit(s["max_value"])
        ok = lo & hi
    elif name in ("isin", "notin"):
        values = list(s["allowed_values"] if name == "isin" else s["forbidden_values"])
        hit = c.isin(values) if values else F.lit(False)
        ok = hit if name == "isin" else ~hit
    elif name in ("str_matches", "str_contains"):
        pattern = s["pattern"]
        pattern = pattern.pattern if isinstance(pattern, re.Pattern) else str(pattern)
        if name == "str_matches" and not pattern.startswith("^"):
            pattern = "^" + pattern
        ok = c.rlike(pattern)
    elif name == "str_startswith":
        ok = c.startswith(str(s["string"]))
    elif name == "str_endswith":
        ok = c.endswith(str(s["string"]))
    elif name == "str_length":
        n = F.length(c)
        if s.get("exact_value") is not None:
            ok = n == F.lit(s["exact_value"])
        else:
            ok = F.lit(True)
            if s.get("min_value") is not None:
                ok = ok & (n >= F.lit(s["min_value"]))
            if s.get("max_value") is not None:
                ok = ok & (n <= F.lit(s["max_value"]))
    else:  # refuse_unsupported() ran first
        raise UsageError(f"check {name} is not supported by the spark engine")
    valid = c.isNotNull()
    if nan_is_null:
        valid = valid & ~F.isnan(c)
    return valid & ~F.coalesce(ok, F.lit(True))
