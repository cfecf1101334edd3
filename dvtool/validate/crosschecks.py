"""Checks that span chunks, run once over all of a snapshot's Parquet files in DuckDB.

Uniqueness (column ``unique``, schema-level ``unique``, the snapshot key) and
``unique_values_eq`` cannot be decided chunk by chunk; DuckDB spills to disk,
so they run in bounded memory at any size. No pandera here: engine.py
turns a schema into these plain descriptions.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from dvtool import sql
from dvtool.errors import UsageError
from dvtool.validate.report import N_EXAMPLES, CheckFailure, Example, jsonable

__all__ = ["Unique", "ValueSet", "global_checks"]


@dataclass(frozen=True, slots=True)
class Unique:
    """A uniqueness check over whole data (column, schema-level or the snapshot key)."""

    columns: tuple[str, ...]
    check: str
    label: str | None  # report column
    keep: str  # pandera report_duplicates: all | exclude_first | exclude_last
    nulls_distinct: bool
    # Schema-level ``unique: [[a, b], [b, c]]``: pandera tries the lists in order and
    # reports only the first that has duplicates; entries sharing ``alternatives``
    # are those lists, in that order.
    alternatives: int | None = None


@dataclass(frozen=True, slots=True)
class ValueSet:
    """``unique_values_eq``: the set of a column's values over whole data."""

    column: str
    values: tuple[Any, ...]
    check: str
    severity: Literal["error", "warning"]


def _scan(files: Sequence[str], *, positions: bool) -> str:
    listed = ", ".join(sql.quote_literal(f) for f in files)
    opts = ", filename = '__dvtool_file', file_row_number = true" if positions else ""
    return f"read_parquet([{listed}]{opts})"


def global_checks(
    uniques: Sequence[Unique],
    value_sets: Sequence[ValueSet],
    files: Sequence[str],
    offsets: Sequence[int],
    filesystem: Any,
    columns: Sequence[str],
    key: Sequence[str],
    n_examples: int,
) -> list[CheckFailure]:
    present = set(columns)
    out: list[CheckFailure] = []
    # DuckDB spills to disk past this, so uniqueness over any size stays bounded.
    con = sql.connect(
        filesystem=filesystem, memory_limit=os.environ.get("DVTOOL_VALIDATE_MEMORY", "512MB")
    )
    try:
        con.execute("CREATE TEMP TABLE dvtool_files (path VARCHAR, row_offset BIGINT)")
        if files:
            con.executemany(
                "INSERT INTO dvtool_files VALUES (?, ?)", list(zip(files, offsets, strict=True))
            )
        failed: set[int] = set()
        for u in uniques:
            if not files or not all(c in present for c in u.columns):
                continue  # a missing column is reported by the chunk checks
            if u.alternatives is not None and u.alternatives in failed:
                continue
            found = _unique_failures(con, u, files, [k for k in key if k in present], n_examples)
            if found and u.alternatives is not None:
                failed.add(u.alternatives)
            out.extend(found)
        for vs in value_sets:
            if files and vs.column in present:
                out.extend(_value_set_failures(con, vs, files))
        if files and key and all(k in present for k in key):
            out.extend(_float_key_failures(con, key, files, n_examples))
    finally:
        con.close()
    return out


def _unique_failures(
    con: Any, u: Unique, files: Sequence[str], key: Sequence[str], n_examples: int
) -> list[CheckFailure]:
    cols = ", ".join(f"{sql.quote_ident(c)} AS c{i}" for i, c in enumerate(u.columns))
    keys = "".join(f", {sql.quote_ident(k)} AS k{i}" for i, k in enumerate(key))
    group = ", ".join(f"c{i}" for i in range(len(u.columns)))
    where = "WHERE c0 IS NOT NULL" if u.nulls_distinct and len(u.columns) == 1 else ""
    joins = " AND ".join(f"t.c{i} IS NOT DISTINCT FROM d.c{i}" for i in range(len(u.columns)))
    count = "sum(n)" if u.keep == "all" else "sum(n - 1)"

    def run(positions: bool) -> tuple[int, list[tuple[Any, ...]]]:
        pos = ", __dvtool_file AS f, file_row_number AS r" if positions else ""
        base = f"WITH t AS (SELECT * FROM (SELECT {cols}{keys}{pos} FROM {_scan(files, positions=positions)}) {where}), "
        base += f"d AS (SELECT {group}, count(*) AS n FROM t GROUP BY {group} HAVING count(*) > 1) "
        total = con.execute(base + f"SELECT coalesce({count}, 0) FROM d").fetchone()[0]
        if not total:
            return 0, []
        if positions:
            # The examples are the rows pandera reports: report_duplicates
            # exclude_first / exclude_last leave out the first / last of each group.
            sel = f"SELECT t.*, fl.row_offset + t.r AS p FROM t JOIN d ON {joins} LEFT JOIN dvtool_files fl ON fl.path = t.f"
            if u.keep != "all":
                order = "p" if u.keep == "exclude_first" else "p DESC"
                sel = (
                    f"SELECT * EXCLUDE (rn) FROM (SELECT *, row_number() OVER "
                    f"(PARTITION BY {group} ORDER BY {order}) AS rn FROM ({sel})) WHERE rn > 1"
                )
            sel = f"SELECT * FROM ({sel}) ORDER BY p, {group} LIMIT {int(n_examples)}"
        else:
            sel = f"SELECT t.*, NULL AS p FROM t JOIN d ON {joins} ORDER BY {group} LIMIT {int(n_examples)}"
        return int(total), con.execute(base + sel).fetchall()

    try:
        total, rows = run(True)
    except Exception:  # e.g. a data column named file_row_number: examples without positions
        try:
            total, rows = run(False)
        except Exception as exc:
            raise UsageError(f"uniqueness check on {', '.join(u.columns)} failed: {exc}") from None
    if not total:
        return []
    ncols, nkeys = len(u.columns), len(key)
    examples = []
    for row in rows:
        vals = row[:ncols]
        value = (
            jsonable(vals[0])
            if ncols == 1
            else {c: jsonable(v) for c, v in zip(u.columns, vals, strict=True)}
        )
        kv = (
            tuple((k, jsonable(v)) for k, v in zip(key, row[ncols : ncols + nkeys], strict=True))
            if key
            else None
        )
        p = row[-1]
        examples.append(Example(value=value, row=int(p) if p is not None else None, key=kv))
    return [CheckFailure(u.label, u.check, total, tuple(examples), "error")]


def _value_set_failures(con: Any, vs: ValueSet, files: Sequence[str]) -> list[CheckFailure]:
    col = sql.quote_ident(vs.column)
    found = {
        r[0]
        for r in con.execute(
            f"SELECT DISTINCT {col} FROM {_scan(files, positions=False)} WHERE {col} IS NOT NULL LIMIT ?",
            [len(vs.values) + 1000],
        ).fetchall()
    }
    expected = set(vs.values)
    if found == expected:
        return []
    diff = sorted((found ^ expected), key=repr)
    examples = tuple(
        Example(value=jsonable(v), key=(("missing" if v in expected else "unexpected", True),))
        for v in diff[:N_EXAMPLES]
    )
    # pandera's check returns one boolean for the column: one failure, as pandera counts it.
    return [CheckFailure(vs.column, vs.check, 1, examples, vs.severity)]


def _float_key_failures(
    con: Any, key: Sequence[str], files: Sequence[str], n_examples: int
) -> list[CheckFailure]:
    """NaN or -0.0 in a float key column: refused like a null key (docs/concepts.md, "Keys")."""
    scan = _scan(files, positions=False)
    types = dict(
        con.execute(
            f"SELECT column_name, column_type FROM (DESCRIBE SELECT * FROM {scan})"
        ).fetchall()
    )
    floats = [k for k in key if types.get(k) in ("FLOAT", "DOUBLE")]
    if not floats:
        return []
    odd = " OR ".join(
        f"isnan({sql.quote_ident(k)}) OR ({sql.quote_ident(k)} = 0 AND signbit({sql.quote_ident(k)}))"
        for k in floats
    )
    cols = ", ".join(sql.quote_ident(k) for k in key)
    # count_if, not WHERE: a filter on one float column is pushed into the Parquet
    # reader, which skips row groups by min/max statistics that leave NaN out.
    (total,) = con.execute(f"SELECT count_if({odd}) FROM {scan}").fetchall()[0]
    if not total:
        return []
    rows = con.execute(
        f"SELECT {cols} FROM (SELECT {cols}, ({odd}) AS dv_odd FROM {scan}) WHERE dv_odd LIMIT {int(n_examples)}"
    ).fetchall()
    examples = tuple(
        Example(
            value=jsonable(r[0])
            if len(key) == 1
            else {k: jsonable(v) for k, v in zip(key, r, strict=True)}
        )
        for r in rows
    )
    return [
        CheckFailure(", ".join(key), "key_not_nan_or_negative_zero", int(total), examples, "error")
    ]
