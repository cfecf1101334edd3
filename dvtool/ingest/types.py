"""The type dvtool stores for each input type: one canonical type per logical type.

Types that Parquet cannot hold exactly, and encodings that do not change the
values, are normalised on the way in, so the same rows give the same schema and
fingerprint whatever the input format (docs/format.md, "Types stored").
"""

from __future__ import annotations

import pyarrow as pa

__all__ = ["list_views_as_lists", "normalise_schema", "normalise_type"]


def normalise_type(typ: pa.DataType) -> pa.DataType:
    """The type dvtool stores for ``typ``: one canonical type per logical type.

    A dictionary column (pandas ``category``, polars ``Categorical``/``Enum``)
    keeps its logical type: a dictionary of its (normalised) value type with
    int32 indices and its ``ordered`` flag, whatever index width the writer
    chose. Inside nested types dictionaries are decoded to their values.
    """
    if pa.types.is_dictionary(typ):
        return pa.dictionary(pa.int32(), _plain(typ.value_type), ordered=typ.ordered)
    return _plain(typ)


def _plain(typ: pa.DataType) -> pa.DataType:
    if pa.types.is_dictionary(typ):
        return _plain(typ.value_type)
    if pa.types.is_float16(typ):
        return pa.float32()  # exact; pyarrow and DuckDB compute little on float16
    if pa.types.is_large_string(typ) or pa.types.is_string_view(typ):
        return pa.string()
    if pa.types.is_large_binary(typ) or pa.types.is_binary_view(typ):
        return pa.binary()
    if pa.types.is_timestamp(typ) and typ.unit == "s":
        return pa.timestamp("ms", typ.tz)
    if pa.types.is_time32(typ) and typ.unit == "s":
        return pa.time32("ms")
    if pa.types.is_date64(typ):
        return pa.date32()
    if pa.types.is_duration(typ) and typ.unit == "s":
        return pa.duration("ms")
    if (
        pa.types.is_large_list(typ)
        or pa.types.is_list_view(typ)
        or pa.types.is_large_list_view(typ)
    ):
        return pa.list_(_plain(typ.value_type))
    if pa.types.is_list(typ) or pa.types.is_fixed_size_list(typ):
        # A fixed size is not kept by Parquet: reading an export back gives a list.
        return pa.list_(_plain(typ.value_type))
    if pa.types.is_map(typ):
        # Field names inside a map differ by writer ("entries", or the column's
        # name after a Parquet round trip); the canonical map type fixes them.
        return pa.map_(_plain(typ.key_type), _plain(typ.item_type), keys_sorted=typ.keys_sorted)
    if pa.types.is_struct(typ):
        return pa.struct([pa.field(f.name, _plain(f.type)) for f in typ])
    return typ


def normalise_schema(schema: pa.Schema) -> pa.Schema:
    """All fields nullable, no metadata, canonical types (see :func:`normalise_type`)."""
    return pa.schema([pa.field(f.name, normalise_type(f.type), nullable=True) for f in schema])


def list_views_as_lists(arr: pa.Array | pa.ChunkedArray) -> pa.Array | pa.ChunkedArray:
    """A (large) list view as the equivalent list, exactly.

    pyarrow 26 casts list views to lists wrongly (invalid offsets); this takes
    each row's values by its offset and size instead.
    """
    import numpy as np

    if isinstance(arr, pa.ChunkedArray):
        return pa.chunked_array(
            [list_views_as_lists(c) for c in arr.chunks], pa.list_(arr.type.value_type)
        )
    if not (pa.types.is_list_view(arr.type) or pa.types.is_large_list_view(arr.type)):
        return arr
    valid = np.asarray(arr.is_valid().to_numpy(zero_copy_only=False), dtype=bool)
    starts = np.asarray(arr.offsets.to_numpy(zero_copy_only=False), dtype=np.int64)
    sizes = np.where(valid, np.asarray(arr.sizes.to_numpy(zero_copy_only=False), dtype=np.int64), 0)
    take = np.concatenate(
        [np.arange(s, s + n, dtype=np.int64) for s, n in zip(starts, sizes, strict=True)]
        or [np.zeros(0, np.int64)]
    )
    offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int32)
    values = arr.values.take(pa.array(take, pa.int64()))
    mask = pa.array(~valid) if not valid.all() else None
    return pa.ListArray.from_arrays(pa.array(offsets, pa.int32()), values, mask=mask)
