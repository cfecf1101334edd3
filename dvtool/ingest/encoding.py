"""Encoding one chunk as Parquet, and describing it (statistics, key range) for the manifest.

A chunk's bytes depend only on its rows (and the pyarrow version): the same
rows always encode to the same object. Each column is encoded by what it is,
decided from a sample of the chunk: dictionary encoding where it makes the
column smaller (low-cardinality columns of any type, integers included),
plain encoding where it does not (high-cardinality columns, and sorted or
run-heavy columns that zstd already packs well). See docs/performance.md.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from dvtool.format.hashing import hash_bytes
from dvtool.format.jsonvalues import encode_array, encode_scalar, json_value
from dvtool.format.models import ChunkInfo, ColumnStats

__all__ = [
    "column_stats",
    "dictionary_columns",
    "encode_chunk",
    "encode_new_chunk",
    "key_range",
]

STRING_STAT_LIMIT = 64  # longer strings are not kept as min/max
SAMPLE_ROWS = 2048  # rows of a chunk encoded both ways to choose each column's encoding
COMPRESSION = "zstd"
COMPRESSION_LEVEL = 1


def _delta_encoded(typ: pa.DataType) -> bool:
    """Integer-like types stored plain with DELTA_BINARY_PACKED (smaller than PLAIN, sorted or not)."""
    return bool(
        pa.types.is_integer(typ)
        or pa.types.is_timestamp(typ)
        or pa.types.is_date32(typ)
        or pa.types.is_time(typ)
        or pa.types.is_duration(typ)
    )


def _write(
    table: pa.Table,
    sink: Any,
    dictionary: list[str],
    *,
    full: bool,
    footer: list[Any] | None = None,
) -> None:
    """One row group; ``dictionary`` columns dictionary-encoded, integer-like others delta-encoded.

    ``footer``, when given, receives the written file's metadata (no re-read).
    """
    import pyarrow.parquet as pq

    chosen = set(dictionary)
    delta = {
        f.name: "DELTA_BINARY_PACKED"
        for f in table.schema
        if f.name not in chosen and _delta_encoded(f.type)
    }
    pq.write_table(
        table,
        sink,
        row_group_size=max(1, table.num_rows),
        compression=COMPRESSION,
        compression_level=COMPRESSION_LEVEL,
        use_dictionary=dictionary,
        column_encoding=delta or None,
        write_statistics=_statistics_columns(table) if full else False,
        write_page_checksum=full,
        store_schema=full,
        metadata_collector=footer,
    )


def _statistics_columns(table: pa.Table) -> list[str] | bool:
    """Columns whose Parquet min/max are written: all but float columns holding NaN.

    Parquet statistics leave NaN out, and a reader that prunes row groups by
    them (DuckDB's filters) would then skip the NaN rows.
    """
    skip = {
        f.name
        for f in table.schema
        if pa.types.is_floating(f.type) and pc.any(pc.is_nan(table.column(f.name))).as_py()
    }
    return [n for n in table.column_names if n not in skip] if skip else True


def _column_sizes(sample: pa.Table) -> list[tuple[tuple[int, int], int]]:
    """Per column of ``sample``: (compressed bytes, of which dictionary page) dictionary-encoded,
    and compressed bytes encoded without a dictionary.

    One file holds both encodings of every column (column chunks are encoded
    and compressed one by one, so each has the bytes it has in a file of its
    own); its metadata comes from the writer, not from parsing it back.
    """
    width = sample.num_columns
    both = pa.Table.from_arrays(
        [*sample.columns, *sample.columns], names=[f"{i}" for i in range(2 * width)]
    )
    footer: list[Any] = []
    _write(both, io.BytesIO(), [f"{i}" for i in range(width)], full=False, footer=footer)
    group = footer[0].row_group(0)
    out = []
    for i in range(width):
        col = group.column(i)
        page = col.data_page_offset - col.dictionary_page_offset if col.has_dictionary_page else 0
        out.append(
            ((col.total_compressed_size, page), group.column(width + i).total_compressed_size)
        )
    return out


def _int64_array(values: np.ndarray) -> pa.Array:
    """An int64 Arrow array over ``values`` (``pa.array`` of an ndarray imports numpy.ma, ~10 ms)."""
    values = np.ascontiguousarray(values, dtype=np.int64)
    return pa.Array.from_buffers(pa.int64(), len(values), [None, pa.py_buffer(values)])


def dictionary_columns(table: pa.Table) -> list[str]:
    """Flat columns that come out smaller dictionary-encoded, judged from two samples.

    A column whose first ``SAMPLE_ROWS`` rows are nearly all distinct stays
    plain. For the others, those rows are encoded both ways; the estimate for
    the whole chunk scales the data pages by the chunk's rows and the
    dictionary page by how many more distinct values a sample spread over the
    whole chunk holds (a sorted column keeps meeting new values; a
    low-cardinality one does not). Depends only on the chunk's rows.
    """
    n = table.num_rows
    # Dictionary (categorical) columns are written dictionary-encoded, as they are held.
    kept = [f.name for f in table.schema if pa.types.is_dictionary(f.type)]
    flat = [f.name for f in table.schema if not pa.types.is_nested(f.type) and f.name not in kept]
    if not flat or n == 0:
        return kept
    head = table.select(flat).slice(0, SAMPLE_ROWS)
    size = head.num_rows
    candidates = []
    distincts = []
    for name in flat:
        distinct = pc.count_distinct(head.column(name), mode="all").as_py()
        if distinct > 0.9 * size and size >= 64:
            continue  # high cardinality: plain
        candidates.append(name)
        distincts.append(distinct)
    if not candidates:
        return kept
    spread = (
        table.select(candidates).take(_int64_array(np.linspace(0, n - 1, size).astype(np.int64)))
        if n > size
        else head
    )
    growth = [
        max(1.0, pc.count_distinct(spread.column(name), mode="all").as_py() / max(1, distinct))
        for name, distinct in zip(candidates, distincts, strict=True)
    ]
    sample = head.select(candidates)
    scale = n / size
    chosen = []
    for name, ((d_total, d_page), p_total), grow in zip(
        candidates, _column_sizes(sample), growth, strict=True
    ):
        if (d_total - d_page) * scale + d_page * grow < p_total * scale:
            chosen.append(name)
    return [name for name in table.column_names if name in chosen or name in kept]


def encode_chunk(table: pa.Table) -> bytes:
    """Parquet bytes for one chunk: zstd level 1, one row group, per-column encoding, checksums, stats."""
    return _encode(table)[0]


def _encode(table: pa.Table) -> tuple[bytes, Any]:
    """:func:`encode_chunk`'s bytes and the written file's metadata."""
    sink = io.BytesIO()
    footer: list[Any] = []
    _write(table, sink, dictionary_columns(table), full=True, footer=footer)
    return sink.getvalue(), footer[0] if footer else None


def encode_new_chunk(
    table: pa.Table, fingerprint: str, key: Sequence[str]
) -> tuple[ChunkInfo, bytes]:
    """Encode a chunk and describe it (runs in a worker thread)."""
    data, footer = _encode(table)
    key_min, key_max = key_range(table, key)
    info = ChunkInfo(
        hash_bytes(data),
        fingerprint,
        table.num_rows,
        len(data),
        key_min,
        key_max,
        column_stats(table, footer),
    )
    return info, data


def key_range(
    table: pa.Table, key: Sequence[str]
) -> tuple[tuple[Any, ...] | None, tuple[Any, ...] | None]:
    """The first and last key of ``table`` as a manifest stores them (None without a key or rows).

    Encoded from Arrow, not from Python values, so a key range is exact
    (nanoseconds included).
    """
    if not key or not table.num_rows:
        return None, None
    last = table.num_rows - 1
    first_key = tuple(encode_array(table.column(k).slice(0, 1))[0] for k in key)
    last_key = tuple(encode_array(table.column(k).slice(last, 1))[0] for k in key)
    return first_key, last_key


def _stat(value: Any) -> Any:
    return None if isinstance(value, str) and len(value) > STRING_STAT_LIMIT else value


def _stat_value(scalar: pa.Scalar) -> Any:
    """:func:`encode_scalar` of a min or max, without building an array for plain values.

    Integers, strings, booleans and 32/64-bit floats are their Python value
    through ``json_value``, exactly as :func:`encode_array` gives them; other
    types take the general path.
    """
    t = scalar.type
    if (
        pa.types.is_integer(t)
        or pa.types.is_string(t)
        or pa.types.is_boolean(t)
        or pa.types.is_float32(t)
        or pa.types.is_float64(t)
    ):
        return json_value(scalar.as_py())
    return encode_scalar(scalar)


def _footer_min_max(footer: Any, table: pa.Table) -> dict[str, tuple[Any, Any]]:
    """Exact min/max the Parquet writer already computed, for the columns where they are exact.

    Taken from the footer of the chunk just written (one row group), and only
    where they are the values :func:`pyarrow.compute.min_max` gives: strings
    shorter than 64 bytes (a writer may drop or truncate longer ones), and
    32/64-bit floats whose min and max are not zero (Parquet writes a zero
    minimum as -0.0 and a zero maximum as +0.0; NaN columns have no
    statistics, see :func:`_statistics_columns`). Anything else is computed.
    """
    out: dict[str, tuple[Any, Any]] = {}
    if footer is None or footer.num_row_groups != 1:
        return out
    group = footer.row_group(0)
    if group.num_columns != table.num_columns or group.num_rows != table.num_rows:
        return out
    for i, field in enumerate(table.schema):
        t = field.type
        string = pa.types.is_string(t)
        floating = pa.types.is_float32(t) or pa.types.is_float64(t)
        if not (string or floating):
            continue
        column = group.column(i)
        if column.path_in_schema != field.name:
            return {}
        stats = column.statistics
        if stats is None or not stats.has_min_max or not stats.has_null_count:
            continue
        if stats.null_count != table.column(i).null_count:
            continue
        lo, hi = stats.min, stats.max
        if string:
            if not (isinstance(lo, str) and isinstance(hi, str)):
                continue
            if len(lo.encode()) >= STRING_STAT_LIMIT or len(hi.encode()) >= STRING_STAT_LIMIT:
                continue
        elif not (isinstance(lo, float) and isinstance(hi, float)) or lo == 0 or hi == 0:
            continue
        if lo != lo or hi != hi:  # NaN
            continue
        out[field.name] = (pa.scalar(lo, type=t), pa.scalar(hi, type=t))
    return out


def column_stats(table: pa.Table, footer: Any = None) -> tuple[tuple[str, ColumnStats], ...]:
    """Nulls, min and max of each column; ``footer``: the chunk's written Parquet metadata, if at hand."""
    known = _footer_min_max(footer, table)
    out = []
    for field in table.schema:
        col = table.column(field.name)
        lo = hi = None
        t = field.type
        if field.name in known:
            low, high = known[field.name]
            lo, hi = _stat(_stat_value(low)), _stat(_stat_value(high))
        elif (
            pa.types.is_integer(t)
            or pa.types.is_floating(t)
            or pa.types.is_temporal(t)
            or pa.types.is_decimal(t)
            or pa.types.is_string(t)
            or pa.types.is_boolean(t)
        ) and not pa.types.is_duration(t):
            try:
                mm = pc.min_max(col)
                lo, hi = _stat(_stat_value(mm["min"])), _stat(_stat_value(mm["max"]))
            except (pa.ArrowNotImplementedError, pa.ArrowInvalid, ValueError, OverflowError):
                lo = hi = None
        out.append((field.name, ColumnStats(nulls=col.null_count, min=lo, max=hi)))
    return tuple(out)
