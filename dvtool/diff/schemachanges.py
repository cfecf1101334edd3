"""Schema changes and manifest statistics: the parts of a diff that need no data read.

:func:`schema_diff` compares two Arrow schemas (each change marked breaking or
not, :func:`widens`); :func:`stats_changes` compares the null counts, minima
and maxima the manifests already hold. Both are pure functions of their inputs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pyarrow as pa

from dvtool.format.jsonvalues import json_value
from dvtool.format.models import ChunkInfo

__all__ = [
    "ColumnChange",
    "ColumnSummary",
    "SchemaDiff",
    "StatChange",
    "column_summary",
    "schema_diff",
    "stats_changes",
    "widens",
]


@dataclass(frozen=True, slots=True)
class ColumnChange:
    """A column added, removed or retyped. ``old``/``new`` are Arrow type names (None if absent)."""

    column: str
    old: str | None
    new: str | None
    breaking: bool
    nullable: bool = True

    def to_dict(self) -> dict[str, Any]:
        return {
            "column": self.column,
            "old": self.old,
            "new": self.new,
            "nullable": self.nullable,
            "breaking": self.breaking,
        }


@dataclass(frozen=True, slots=True)
class SchemaDiff:
    added: tuple[ColumnChange, ...] = ()
    removed: tuple[ColumnChange, ...] = ()
    changed: tuple[ColumnChange, ...] = ()

    @property
    def empty(self) -> bool:
        return not (self.added or self.removed or self.changed)

    @property
    def breaking(self) -> bool:
        return any(c.breaking for c in (*self.added, *self.removed, *self.changed))

    def to_dict(self) -> dict[str, Any]:
        return {
            "added": [c.to_dict() for c in self.added],
            "removed": [c.to_dict() for c in self.removed],
            "changed": [c.to_dict() for c in self.changed],
            "breaking": self.breaking,
        }


@dataclass(frozen=True, slots=True)
class StatChange:
    """A change of one column's statistics between the two manifests."""

    column: str
    nulls: tuple[int | None, int | None]
    min: tuple[Any, Any]
    max: tuple[Any, Any]

    def to_dict(self) -> dict[str, Any]:
        return {
            name: {"old": json_value(o), "new": json_value(n)}
            for name, (o, n) in (("nulls", self.nulls), ("min", self.min), ("max", self.max))
        }


def schema_diff(old: pa.Schema, new: pa.Schema) -> SchemaDiff:
    """Columns added, removed and retyped; each marked breaking or not.

    A removed column breaks readers; so does a type that cannot hold every old
    value (a narrowing). An added column breaks only when it is not nullable.
    """
    old_names, new_names = set(old.names), set(new.names)
    added = tuple(
        ColumnChange(f.name, None, str(f.type), breaking=not f.nullable, nullable=f.nullable)
        for f in new
        if f.name not in old_names
    )
    removed = tuple(
        ColumnChange(f.name, str(f.type), None, breaking=True, nullable=f.nullable)
        for f in old
        if f.name not in new_names
    )
    changed = []
    for f in old:
        if f.name in new_names:
            g = new.field(f.name)
            if not f.type.equals(g.type):
                changed.append(
                    ColumnChange(
                        f.name,
                        str(f.type),
                        str(g.type),
                        breaking=not widens(f.type, g.type),
                        nullable=g.nullable,
                    )
                )
    return SchemaDiff(added, removed, tuple(changed))


_INT_DIGITS = {8: 3, 16: 5, 32: 10, 64: 20}
_UNITS = {"s": 0, "ms": 1, "us": 2, "ns": 3}


def widens(a: pa.DataType, b: pa.DataType) -> bool:
    """True when every value of type ``a`` is a value of type ``b`` (readers keep working)."""
    t = pa.types
    if t.is_null(a):
        return True
    if t.is_dictionary(a):
        return widens(a.value_type, b.value_type if t.is_dictionary(b) else b)
    if t.is_dictionary(b):
        return widens(a, b.value_type)
    if t.is_integer(a) and t.is_integer(b):
        if t.is_signed_integer(a) == t.is_signed_integer(b):
            return bool(b.bit_width >= a.bit_width)
        return bool(t.is_unsigned_integer(a) and b.bit_width > a.bit_width)
    if t.is_integer(a) and t.is_floating(b):
        return bool(a.bit_width <= {16: 8, 32: 16, 64: 32}[b.bit_width])
    if t.is_integer(a) and t.is_decimal(b):
        return bool(b.precision - b.scale >= _INT_DIGITS[a.bit_width])
    if t.is_floating(a) and t.is_floating(b):
        return bool(b.bit_width >= a.bit_width)
    if t.is_decimal(a) and t.is_decimal(b):
        return bool(b.scale >= a.scale and b.precision - b.scale >= a.precision - a.scale)
    if (t.is_string(a) and (t.is_large_string(b) or t.is_string_view(b))) or (
        t.is_binary(a) and t.is_large_binary(b)
    ):
        return True
    if t.is_timestamp(a) and t.is_timestamp(b):
        return bool(a.tz == b.tz and _UNITS[b.unit] >= _UNITS[a.unit])
    return bool(t.is_date32(a) and t.is_date64(b))


ColumnSummary = tuple[int | None, Any, Any]  # nulls, min, max


def column_summary(
    schema: pa.Schema, chunks: Sequence[ChunkInfo] | None
) -> dict[str, ColumnSummary]:
    """Per-column nulls, min and max over a manifest's chunks; all None without a manifest."""
    if chunks is None:
        return {name: (None, None, None) for name in schema.names}
    out: dict[str, ColumnSummary] = {}
    for name in schema.names:
        nulls: int | None = 0
        lo: Any = None
        hi: Any = None
        for chunk in chunks:
            s = chunk.stats_dict().get(name)
            if s is None:
                nulls = None
                continue
            if nulls is not None:
                nulls += s.nulls
            try:
                if s.min is not None and (lo is None or s.min < lo):
                    lo = s.min
                if s.max is not None and (hi is None or s.max > hi):
                    hi = s.max
            except TypeError:  # values of mixed JSON types: no order, keep the first
                pass
        out[name] = (nulls, lo, hi)
    return out


def stats_changes(
    old_schema: pa.Schema,
    old_chunks: Sequence[ChunkInfo] | None,
    new_schema: pa.Schema,
    new_chunks: Sequence[ChunkInfo] | None,
) -> tuple[StatChange, ...]:
    """Columns whose null count, min or max differ between two manifests (no data read)."""
    so, sn = column_summary(old_schema, old_chunks), column_summary(new_schema, new_chunks)
    empty: ColumnSummary = (None, None, None)
    changes = []
    for name in [*old_schema.names, *(n for n in new_schema.names if n not in so)]:
        a, b = so.get(name, empty), sn.get(name, empty)
        if a != b:
            changes.append(StatChange(name, (a[0], b[0]), (a[1], b[1]), (a[2], b[2])))
    return tuple(changes)
