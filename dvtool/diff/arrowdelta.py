"""Two small keyed tables compared in Arrow and numpy, exactly as the SQL engine compares them.

A diff read from patches (:mod:`dvtool.diff.patched`) compares a few thousand
rows: those of the keys the patches touch. Starting DuckDB and planning the
wide keyed query (:func:`dvtool.diff.columns.keyed_delta_query`) costs far more
than that comparison (0.3 s for 7,500 rows of 19 columns, against a few
milliseconds here), so for these tables the same answer is computed in
Arrow. The semantics are those of :class:`dvtool.diff.rows.Engine` with exact
tolerances:

* rows are matched by key equality; the tables are unique and sorted by the key;
* a value changed when it is ``IS DISTINCT FROM`` in DuckDB: null equals null
  and nothing else; floats compare by value with NaN equal to NaN, and by sign
  (``-0.0`` is not ``0.0``, as the fingerprint sees it);
* per column, over the matched rows: values that differ, rows where exactly
  one side is null, and for integer and float columns ``|new − old|`` as
  doubles over the values that differ (NaN differences left out, infinite
  ones left out of the mean);
* samples: the first ``limit`` added, removed and changed rows in key order.

Covered column types: integers, floats, booleans, strings, binaries,
dates, times, timestamps, durations, decimals (only while no decimal value
of a matched row differs: their difference as a double is DuckDB's cast),
and dictionaries of these. For anything else :func:`keyed_delta` returns None
and the caller runs the SQL engine on the same rows.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

import numpy as np
import pyarrow as pa

from dvtool.diff.columns import ColumnTally
from dvtool.diff.report import ChangedRow
from dvtool.format.jsonvalues import python_values

__all__ = ["Delta", "keyed_delta", "without_keys"]

_ARROW_ERRORS = (pa.ArrowNotImplementedError, pa.ArrowInvalid, pa.ArrowTypeError)


@dataclass(frozen=True, slots=True)
class Delta:
    """What the SQL engine adds up for one group of rows (see :class:`dvtool.diff.rows.Engine`)."""

    added: int
    removed: int
    changed: int
    per_column: Mapping[str, int]
    tallies: Mapping[str, ColumnTally]
    s_added: tuple[Mapping[str, Any], ...]
    s_removed: tuple[Mapping[str, Any], ...]
    s_changed: tuple[ChangedRow, ...]


def _covered(typ: pa.DataType) -> bool:
    t = pa.types
    if t.is_dictionary(typ):
        return _covered(typ.value_type)
    return bool(
        t.is_integer(typ)
        or t.is_floating(typ)
        or t.is_boolean(typ)
        or t.is_string(typ)
        or t.is_large_string(typ)
        or t.is_binary(typ)
        or t.is_large_binary(typ)
        or t.is_fixed_size_binary(typ)
        or t.is_date(typ)
        or t.is_time(typ)
        or t.is_timestamp(typ)
        or t.is_duration(typ)
        or t.is_decimal(typ)
    )


def _plain(column: pa.ChunkedArray) -> pa.Array:
    """One array, dictionaries decoded (values compare and show as their decoded values)."""
    arr = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    if pa.types.is_dictionary(arr.type):
        arr = arr.cast(arr.type.value_type)
    return arr


def _bits(buffer: pa.Buffer | None, offset: int, length: int) -> np.ndarray:
    """A bit-packed Arrow buffer (validity or boolean values) as numpy booleans; None: all set.

    Read from the buffer: pyarrow's fill_null and to_numpy of nullable arrays go
    through its pandas shim (tens of milliseconds of imports for a few rows).
    """
    if buffer is None:
        return np.ones(length, dtype=bool)
    bits = np.unpackbits(np.frombuffer(buffer, dtype=np.uint8), bitorder="little")
    return bits[offset : offset + length].astype(bool)


def _indices(positions: np.ndarray) -> pa.Array:
    """Row positions as an Arrow array, from the numpy buffer (pa.array goes through the pandas shim)."""
    values = np.ascontiguousarray(positions, dtype=np.int64)
    return pa.Array.from_buffers(pa.int64(), len(values), [None, pa.py_buffer(values)])


def _valid(arr: pa.Array) -> np.ndarray:
    return _bits(arr.buffers()[0] if arr.null_count else None, arr.offset, len(arr))


def _bools(arr: pa.Array) -> np.ndarray:
    """A boolean array's values (whatever is under a null: the caller masks those)."""
    return _bits(arr.buffers()[1], arr.offset, len(arr))


def _floats(arr: pa.Array) -> np.ndarray:
    """Float or integer values as float64 (DuckDB's ``CAST(x AS DOUBLE)``); under nulls: anything."""
    if pa.types.is_float16(arr.type):
        arr = arr.cast(pa.float32())  # exact
    width = arr.type.bit_width // 8
    kind = (
        "f"
        if pa.types.is_floating(arr.type)
        else ("i" if pa.types.is_signed_integer(arr.type) else "u")
    )
    values = np.frombuffer(arr.buffers()[1], dtype=np.dtype(f"<{kind}{width}"))
    return values[arr.offset : arr.offset + len(arr)].astype(np.float64)


def _distinct(a: pa.Array, b: pa.Array) -> np.ndarray:
    """Per row: ``a IS DISTINCT FROM b`` as the SQL engine decides it (see the module doc)."""
    import pyarrow.compute as pc

    va, vb = _valid(a), _valid(b)
    both = va & vb
    if pa.types.is_floating(a.type):
        x, y = _floats(a), _floats(b)
        nx, ny = np.isnan(x), np.isnan(y)
        same = (x == y) | (nx & ny)
        signs = ~nx & ~ny & (np.signbit(x) != np.signbit(y))
        return np.asarray((va != vb) | (both & (~same | signs)), dtype=bool)
    eq = _bools(pc.equal(a, b))
    return np.asarray((va != vb) | (both & ~eq), dtype=bool)


def _key_groups(
    first: pa.Table, second: pa.Table, key: Sequence[str]
) -> tuple[np.ndarray, np.ndarray]:
    """Both tables' keys in one stable sort (``first``'s rows first): (the order, a group id per position).

    Equal keys are neighbours and share a group id. Positions ``>= first.num_rows``
    are ``second``'s rows. No hash join: Arrow's join imports pandas
    (pyarrow.acero → pyarrow.dataset), a second of start-up for a few rows.
    """
    import pyarrow.compute as pc

    keys = pa.table(
        {
            f"k{i}": pa.concat_arrays([_plain(first.column(k)), _plain(second.column(k))])
            for i, k in enumerate(key)
        }
    )
    perm = pc.sort_indices(keys, sort_keys=[(f"k{i}", "ascending") for i in range(len(key))])
    ordered = keys.take(perm)
    same_prev = np.ones(max(keys.num_rows - 1, 0), dtype=bool)
    for column in ordered.columns:
        col = column.combine_chunks()
        if col.null_count:
            raise pa.ArrowInvalid("a null key")  # never in a snapshot: the SQL engine says so
        same_prev &= _bools(pc.equal(col.slice(0, len(col) - 1), col.slice(1)))
    groups = (
        np.concatenate([[0], np.cumsum(~same_prev)]) if keys.num_rows else np.zeros(0, np.int64)
    )
    return np.asarray(perm.to_numpy(), dtype=np.int64), groups


def without_keys(rows: pa.Table, keys: pa.Table, key: Sequence[str]) -> pa.Table:
    """The rows of ``rows`` whose key is not a key of ``keys`` (which may repeat), in their order."""
    if rows.num_rows == 0 or keys.num_rows == 0:
        return rows
    perm, groups = _key_groups(rows, keys, key)
    n = rows.num_rows
    hit = np.zeros(int(groups[-1]) + 1, dtype=bool)
    hit[groups[perm >= n]] = True
    mine = perm < n
    return rows.take(_indices(np.sort(perm[mine][~hit[groups[mine]]])))


def _match(
    old: pa.Table, new: pa.Table, key: Sequence[str]
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(old positions matched, new positions matched, old only, new only), each in key order."""
    n_old = old.num_rows
    perm, groups = _key_groups(old, new, key)
    size = np.bincount(groups) if len(groups) else np.zeros(0, np.int64)
    if np.any(size > 2):
        raise pa.ArrowInvalid("keys are not unique on each side")
    at = np.flatnonzero(size[groups[:-1]] == 2) if len(groups) else np.zeros(0, np.int64)
    at = at[groups[at] == groups[np.minimum(at + 1, len(groups) - 1)]]  # first of each pair
    first, second = perm[at], perm[at + 1]
    if np.any(first >= n_old) or np.any(second < n_old):
        raise pa.ArrowInvalid("keys are not unique on each side")
    mo, mn = first, second - n_old
    order = np.argsort(mn, kind="stable")
    matched_o = np.zeros(n_old, dtype=bool)
    matched_n = np.zeros(new.num_rows, dtype=bool)
    matched_o[mo], matched_n[mn] = True, True
    only_o, only_n = np.flatnonzero(~matched_o), np.flatnonzero(~matched_n)  # ascending
    return mo[order], mn[order], only_o, only_n


def _rows(table: pa.Table, positions: np.ndarray) -> tuple[Mapping[str, Any], ...]:
    part = table.take(_indices(positions))
    columns = [python_values(_plain(c)) for c in part.columns]
    return tuple(
        MappingProxyType(dict(zip(table.column_names, r, strict=True)))
        for r in zip(*columns, strict=True)
    )


def _tally(a: pa.Array, b: pa.Array, differs: np.ndarray, numeric: bool) -> ColumnTally | None:
    """The column's sums over matched rows; None when they need DuckDB's decimal cast."""
    nulls = int(np.count_nonzero(_valid(a) != _valid(b)))
    changed = int(np.count_nonzero(differs))
    if not numeric:
        return ColumnTally(changed, 0, nulls)
    if pa.types.is_decimal(a.type):
        return None if changed else ColumnTally(0, 0, nulls)
    ok = differs & _valid(a) & _valid(b)
    d = np.abs(_floats(b)[ok] - _floats(a)[ok])
    d = d[~np.isnan(d)]
    finite = d[np.isfinite(d)]
    return ColumnTally(
        changed,
        0,
        nulls,
        float(d.max()) if len(d) else None,
        float(finite.sum()) if len(finite) else 0.0,
        len(finite),
    )


def keyed_delta(
    old: pa.Table,
    new: pa.Table,
    key: Sequence[str],
    compared: Sequence[str],
    numeric: Mapping[str, bool],
    limit: int,
) -> Delta | None:
    """Compare ``old`` and ``new`` (same schema, unique and sorted by ``key``), or None (see the module doc)."""
    if not old.schema.equals(new.schema) or not all(_covered(f.type) for f in old.schema):
        return None
    try:
        mo, mn, only_o, only_n = _match(old, new, key)
        ot = old.select(compared).take(_indices(mo))
        nt = new.select(compared).take(_indices(mn))
        pairs = {c: (_plain(ot.column(c)), _plain(nt.column(c))) for c in compared}
        flags = {c: _distinct(*pairs[c]) for c in compared}
    except _ARROW_ERRORS:
        return None
    tallies: dict[str, ColumnTally] = {}
    for c in compared:
        t = _tally(*pairs[c], flags[c], numeric[c])
        if t is None:
            return None
        tallies[c] = t
    differs = np.zeros(len(mo), dtype=bool)
    for f in flags.values():
        differs |= f
    changed_at = np.flatnonzero(differs)[:limit]
    s_changed = []
    if len(changed_at):
        keys = _rows(new.select(list(key)), mn[changed_at])
        values = {
            c: (
                python_values(pairs[c][0].take(_indices(changed_at))),
                python_values(pairs[c][1].take(_indices(changed_at))),
            )
            for c in compared
        }
        for j, (row, k) in enumerate(zip(changed_at, keys, strict=True)):
            changes = {c: (values[c][0][j], values[c][1][j]) for c in compared if flags[c][row]}
            s_changed.append(ChangedRow(k, MappingProxyType(changes)))
    return Delta(
        added=len(only_n),
        removed=len(only_o),
        changed=int(np.count_nonzero(differs)),
        per_column=MappingProxyType({c: t.changed for c, t in tallies.items()}),
        tallies=MappingProxyType(tallies),
        s_added=_rows(new, only_n[:limit]),
        s_removed=_rows(old, only_o[:limit]),
        s_changed=tuple(s_changed),
    )
