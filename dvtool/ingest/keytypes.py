"""Column rules every SOURCE meets: distinct names; a key only of plain values that order."""

from __future__ import annotations

from collections.abc import Sequence

import pyarrow as pa

from dvtool.errors import UsageError

__all__ = ["check_distinct_names", "check_key_types"]


def check_distinct_names(schema: pa.Schema, description: str) -> None:
    """Two columns of one name: no engine downstream (snapshot, validate, diff) can tell them apart."""
    names = schema.names
    if len(set(names)) != len(names):
        dup = next(n for n in names if names.count(n) > 1)
        raise UsageError(f"{description} has two columns named '{dup}'")


def _is_nested(type_: pa.DataType) -> bool:
    if pa.types.is_dictionary(type_):
        return _is_nested(type_.value_type)
    return bool(pa.types.is_nested(type_))


def check_key_types(schema: pa.Schema, key: Sequence[str]) -> None:
    """Refuse a key column of a nested type (it has no order to sort or chunk by)."""
    for k in key:
        key_type = schema.field(k).type
        if _is_nested(key_type):
            raise UsageError(
                f"column '{k}' in --key has type {key_type}, which cannot be a key "
                "(lists, structs and maps have no order); choose a column of plain values"
            )
