"""Column comparison over the rows matched by key, datacompy-grade, with tolerances.

The engine (:mod:`dvtool.diff.rows`) keeps, per group of chunks that differ,
a DuckDB table of the rows that are not identical; this module adds up, per
column, over those rows: values changed beyond tolerance, values that differ
but within tolerance, rows where exactly one side is null, and for numeric
columns the largest and the mean absolute difference. Rows in chunks skipped
as identical are equal in every column, so they add nothing but their count
to the matched rows; memory follows the group, never the dataset.

Tolerance, as numpy.isclose and datacompy define it: old ``a`` and new ``b``
are equal when both are null, or ``|b − a| ≤ abs_tol + rel_tol·|b|``; NaN
equals only NaN, ±inf only itself. Tolerances apply to numeric columns only.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import pyarrow as pa

from dvtool.errors import UsageError

__all__ = [
    "ColumnComparison",
    "ColumnTally",
    "Tolerance",
    "ToleranceSpec",
    "beyond_expr",
    "comparisons",
    "is_numeric",
    "keyed_delta_query",
    "resolve_tolerances",
    "tally",
]


def is_numeric(t: pa.DataType) -> bool:
    pt = pa.types
    if pt.is_dictionary(t):
        return is_numeric(t.value_type)
    return bool(pt.is_integer(t) or pt.is_floating(t) or pt.is_decimal(t))


@dataclass(frozen=True, slots=True)
class Tolerance:
    """How far numeric values may move and still count as equal (both 0: exact)."""

    abs: float = 0.0
    rel: float = 0.0

    @property
    def exact(self) -> bool:
        return self.abs == 0 and self.rel == 0

    def to_dict(self) -> dict[str, float]:
        return {"abs": self.abs, "rel": self.rel}


def _tol_value(text: str, what: str) -> float:
    try:
        v = float(text)
    except (TypeError, ValueError):
        raise UsageError(f"{what} must be a number, not {text!r}") from None
    if not math.isfinite(v) or v < 0:
        raise UsageError(f"{what} must be a finite number ≥ 0, not {text!r}")
    return v


@dataclass(frozen=True, slots=True)
class ToleranceSpec:
    """What the user asked for: defaults for every numeric column and per-column overrides."""

    abs: float = 0.0
    rel: float = 0.0
    columns: Mapping[str, Mapping[str, float]] = field(default_factory=lambda: MappingProxyType({}))

    @classmethod
    def parse(
        cls,
        *,
        abs_tol: float = 0.0,
        rel_tol: float = 0.0,
        tol: Mapping[str, str] | Sequence[str] | None = None,
    ) -> ToleranceSpec:
        """From ``abs_tol``/``rel_tol`` and ``tol`` as ``["COL=abs:X", …]`` or ``{"COL": "abs:X"}``."""
        per: dict[str, dict[str, float]] = {}
        items: list[str]
        if tol is None:
            items = []
        elif isinstance(tol, Mapping):
            items = [f"{c}={v}" for c, v in tol.items()]
        else:
            items = list(tol)
        for spec in items:
            col, kind, value = parse_tol(spec)
            per.setdefault(col, {})[kind] = value
        for what, v in (("--abs-tol", abs_tol), ("--rel-tol", rel_tol)):
            _tol_value(str(v), what)
        return cls(
            float(abs_tol),
            float(rel_tol),
            MappingProxyType({c: MappingProxyType(d) for c, d in per.items()}),
        )

    def resolve(
        self, old: pa.Schema, new: pa.Schema, compared: Sequence[str]
    ) -> dict[str, Tolerance]:
        return resolve_tolerances(
            old, new, compared, abs_tol=self.abs, rel_tol=self.rel, per_column=self.columns
        )


def parse_tol(spec: str) -> tuple[str, str, float]:
    """``COL=abs:X`` or ``COL=rel:X`` → (column, "abs"|"rel", X)."""
    col, eq, rest = spec.rpartition("=")
    kind, colon, value = rest.partition(":")
    if not eq or not col or not colon or kind not in ("abs", "rel"):
        raise UsageError(f"--tol takes COL=abs:X or COL=rel:X, not {spec!r}")
    return col, kind, _tol_value(value, f"--tol {spec}")


def resolve_tolerances(
    old: pa.Schema,
    new: pa.Schema,
    compared: Sequence[str],
    *,
    abs_tol: float = 0.0,
    rel_tol: float = 0.0,
    per_column: Mapping[str, Mapping[str, float]] | None = None,
) -> dict[str, Tolerance]:
    """The tolerance of every compared column; a per-column one names a numeric column in both."""
    for what, v in (("--abs-tol", abs_tol), ("--rel-tol", rel_tol)):
        if not math.isfinite(v) or v < 0:
            raise UsageError(f"{what} must be a finite number ≥ 0, not {v!r}")
    per_column = per_column or {}
    out: dict[str, Tolerance] = {}
    for col, spec in per_column.items():
        if col not in compared:
            raise UsageError(
                f"--tol names column {col!r}, which is not a compared column of both sides "
                f"(compared: {', '.join(compared[:12])})"
            )
        if not (is_numeric(old.field(col).type) and is_numeric(new.field(col).type)):
            raise UsageError(
                f"--tol {col}: tolerances apply to numeric columns; {col!r} is "
                f"{old.field(col).type} → {new.field(col).type}"
            )
        for kind, v in spec.items():
            if kind not in ("abs", "rel"):
                raise UsageError(f"--tol {col}: unknown tolerance kind {kind!r} (abs or rel)")
            _tol_value(str(v), f"--tol {col}={kind}")
    for col in compared:
        numeric = is_numeric(old.field(col).type) and is_numeric(new.field(col).type)
        spec = per_column.get(col, {})
        t = Tolerance(float(spec.get("abs", abs_tol)), float(spec.get("rel", rel_tol)))
        out[col] = t if numeric else Tolerance()
    return out


def beyond_expr(exact_distinct: str, old: str, new: str, tol: Tolerance) -> str:
    """SQL: the values differ beyond ``tol`` (``exact_distinct`` when the tolerance is 0)."""
    if tol.exact:
        return exact_distinct
    o, n = f"CAST({old} AS DOUBLE)", f"CAST({new} AS DOUBLE)"
    within = (
        f"({old} IS NOT NULL AND {new} IS NOT NULL AND "
        f"abs({n} - {o}) <= {tol.abs!r} + {tol.rel!r} * abs({n}))"
    )
    return f"({exact_distinct} AND NOT {within})"


def keyed_delta_query(
    old: str,
    new: str,
    *,
    key: Sequence[str],
    compared: Sequence[str],
    exact: Sequence[str],
    numeric: Mapping[str, bool],
    tolerances: Mapping[str, Tolerance],
    old_names: Sequence[str],
    new_names: Sequence[str],
    expr: Callable[[str, str], str],
    ident: Callable[[str], str],
) -> str:
    """The keyed comparison both engines run: a FULL OUTER JOIN on the key, one row per key added
    (kind 'a'), removed ('r'), changed beyond tolerance ('c') or changed within it only ('w').

    ``exact[i]`` is the engine's SQL for "compared[i] differs exactly"; ``expr(side, col)``
    is a column as the engine compares it (side ``o`` or ``n``), ``ident`` quotes a name.
    Each row carries the key (``k0``…), the flags (``f0``… beyond tolerance, ``e0``… exact)
    and both sides' values (``ox0``…, ``nx0``…).
    """
    k0 = ident(key[0])
    on = " AND ".join(f"{expr('o', k)} = {expr('n', k)}" for k in key)
    # A value within its column's tolerance counts as equal; a row whose only
    # differences are within tolerance is kind 'w' and counts as unchanged.
    flags = [
        beyond_expr(e, f"o.{ident(c)}", f"n.{ident(c)}", tolerances[c]) if numeric[c] else e
        for e, c in zip(exact, compared, strict=True)
    ]
    beyond = " OR ".join(flags) or "false"
    select = [
        f"CASE WHEN o.{k0} IS NULL THEN 'a' WHEN n.{k0} IS NULL THEN 'r' "
        f"WHEN {beyond} THEN 'c' ELSE 'w' END AS dv_kind"
    ]
    select += [f"COALESCE({expr('n', k)}, {expr('o', k)}) AS k{i}" for i, k in enumerate(key)]
    select += [f"{f} AS f{i}" for i, f in enumerate(flags)]
    select += [f"{e} AS e{i}" for i, e in enumerate(exact)]
    select += [f"o.{ident(c)} AS ox{i}" for i, c in enumerate(old_names)]
    select += [f"n.{ident(c)} AS nx{i}" for i, c in enumerate(new_names)]
    where = " OR ".join([f"o.{k0} IS NULL", f"n.{k0} IS NULL", *exact])
    return f"SELECT {', '.join(select)} FROM {old} AS o FULL OUTER JOIN {new} AS n ON {on} WHERE {where}"


@dataclass(slots=True)
class ColumnTally:
    """Running sums of one column over the groups of a diff."""

    changed: int = 0
    within: int = 0
    null_diff: int = 0
    max_diff: float | None = None
    sum_abs: float = 0.0
    n_abs: int = 0

    def add(self, row: Sequence[Any]) -> None:
        changed, within, null_diff, max_diff, sum_abs, n_abs = row
        self.changed += int(changed or 0)
        self.within += int(within or 0)
        self.null_diff += int(null_diff or 0)
        if max_diff is not None:
            self.max_diff = max(self.max_diff or 0.0, float(max_diff))
        self.sum_abs += float(sum_abs or 0.0)
        self.n_abs += int(n_abs or 0)


def tally(
    con: Any,
    relation: str,
    columns: Sequence[tuple[str, str, str, str, str, bool]],
    tallies: Mapping[str, ColumnTally],
) -> None:
    """Add one group's sums: ``columns`` = (name, beyond flag, exact flag, old col, new col, numeric)."""
    if not columns:
        return
    parts: list[str] = []
    matched = "dv_kind IN ('c', 'w')"
    for _name, beyond, exact, o, n, numeric in columns:
        parts += [
            f"count(*) FILTER (WHERE {matched} AND {beyond})",
            f"count(*) FILTER (WHERE {matched} AND {exact} AND NOT {beyond})",
            f"count(*) FILTER (WHERE {matched} AND (({o}) IS NULL) <> (({n}) IS NULL))",
        ]
        if numeric:
            d = f"abs(CAST({n} AS DOUBLE) - CAST({o} AS DOUBLE))"
            ok = f"{matched} AND {exact} AND {d} IS NOT NULL AND NOT isnan({d})"
            parts += [
                f"max({d}) FILTER (WHERE {ok})",
                f"sum({d}) FILTER (WHERE {ok} AND isfinite({d}))",
                f"count(*) FILTER (WHERE {ok} AND isfinite({d}))",
            ]
        else:
            parts += ["NULL", "NULL", "0"]
    row = con.execute(f"SELECT {', '.join(parts)} FROM {relation}").fetchall()[
        0
    ]  # whole result: the connection is free after
    for i, (name, *_rest) in enumerate(columns):
        tallies[name].add(row[6 * i : 6 * i + 6])


@dataclass(frozen=True, slots=True)
class ColumnComparison:
    """One column over the rows matched by key (datacompy's "column summary" and more)."""

    column: str
    matched: int  # rows present on both sides
    changed: int  # values that differ beyond tolerance
    within_tolerance: int  # values that differ, but within tolerance (counted as equal)
    null_diff: int  # matched rows where exactly one side is null
    max_diff: float | None  # numeric: largest |new − old| (None: not numeric)
    mean_abs_diff: float | None  # numeric: mean |new − old| over the values that differ
    tolerance: Tolerance
    nulls: tuple[int | None, int | None] = (None, None)  # whole versions, old → new
    distinct: tuple[int | None, int | None] = (None, None)  # whole versions (with --stats)
    distinct_exact: bool = True

    @property
    def match_rate(self) -> float | None:
        return (self.matched - self.changed) / self.matched if self.matched else None

    def to_dict(self) -> dict[str, Any]:
        return {
            "matched": self.matched,
            "changed": self.changed,
            "within_tolerance": self.within_tolerance,
            "match_rate": self.match_rate,
            "null_diff": self.null_diff,
            "max_diff": _num(self.max_diff),
            "mean_abs_diff": _num(self.mean_abs_diff),
            "tolerance": self.tolerance.to_dict(),
            "nulls": {"old": self.nulls[0], "new": self.nulls[1]},
            "distinct": {
                "old": self.distinct[0],
                "new": self.distinct[1],
                "exact": self.distinct_exact,
            },
        }


def _num(v: float | None) -> Any:
    if v is None or math.isfinite(v):
        return v
    return "NaN" if math.isnan(v) else ("Infinity" if v > 0 else "-Infinity")


def comparisons(
    tallies: Mapping[str, ColumnTally],
    numeric: Mapping[str, bool],
    tolerances: Mapping[str, Tolerance],
    matched: int,
) -> Mapping[str, ColumnComparison]:
    out = {}
    for name, t in tallies.items():
        num = numeric[name]
        out[name] = ColumnComparison(
            column=name,
            matched=matched,
            changed=t.changed,
            within_tolerance=t.within,
            null_diff=t.null_diff,
            max_diff=(t.max_diff or 0.0) if num and matched else None,
            mean_abs_diff=(t.sum_abs / t.n_abs if t.n_abs else 0.0) if num and matched else None,
            tolerance=tolerances[name],
        )
    return MappingProxyType(out)
