"""The one JSON form of a cell value, for manifests, reports, diffs and query output.

Every JSON document dvtool prints or stores (diff, query, validation reports,
manifest statistics and key ranges) encodes values here, so one value has one
JSON form everywhere, and that form is exact:

* integers as JSON integers with all their digits (also past 2^53);
* floats as numbers (the shortest text that reads back to the same float;
  ``-0.0`` keeps its sign), NaN and infinities as the strings ``"NaN"``,
  ``"Infinity"``, ``"-Infinity"``;
* decimals as strings with all their digits and the type's scale (``"12.500"``);
* dates as ``YYYY-MM-DD``; times and timestamps in ISO 8601 with as many
  fraction digits as the value needs (none, 3, 6 or 9: nanoseconds are kept),
  timestamps with a zone end with the UTC offset they have in that zone;
* durations as a string of seconds with all their digits (``"1.000000001"``);
* binary as base64; lists as arrays; structs as objects; maps as arrays of
  ``[key, value]`` pairs (a map may repeat a key and keeps its order).

:func:`encode_array` encodes an Arrow column by its type (exact for every type
dvtool stores); :func:`json_value` encodes a Python value (pandas ``Timestamp``
and ``Timedelta`` keep their nanoseconds). Timestamps outside the calendar
Arrow can print come as their raw count (``"…ms since 1970-01-01T00:00:00"``).
"""

from __future__ import annotations

import base64
import datetime as dt
import decimal
import itertools
import math
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pyarrow is imported where an array is encoded, not at start-up
    import pyarrow as pa

__all__ = [
    "Exact",
    "encode_array",
    "encode_scalar",
    "json_value",
    "needs_exact_text",
    "python_values",
]

_FRACTION = re.compile(r"\.(\d+)")
_OFFSET = re.compile(r"([+-])(\d\d)(\d\d)$")


class Exact(str):
    """A value already in its exact JSON form, where Python has no exact type for it.

    Used for nanosecond times and for timestamps outside Python's calendar;
    text output shows it as is, JSON output as a string.
    """

    __slots__ = ()


def _fraction(digits: str) -> str:
    """The fewest of 0, 3, 6 or 9 digits that hold ``digits`` exactly."""
    digits = digits.rstrip("0")
    if not digits:
        return ""
    width = min(w for w in (3, 6, 9) if w >= len(digits)) if len(digits) <= 9 else len(digits)
    return "." + digits.ljust(width, "0")


def _seconds_text(total: int, per_second: int) -> str:
    """``total`` units of 1/``per_second`` s as exact decimal seconds (``"-1.5"`` → ``"-1.500"``)."""
    sign = "-" if total < 0 else ""
    whole, part = divmod(abs(total), per_second)
    digits = str(part).rjust(len(str(per_second)) - 1, "0") if per_second > 1 else ""
    return f"{sign}{whole}{_fraction(digits)}"


def _clock(text: str) -> str:
    """Arrow's ``HH:MM:SS.fffffffff`` (or a timestamp) with the fraction rule and ``+HH:MM`` offsets."""
    text = text.replace(" ", "T", 1) if len(text) > 10 and text[10] == " " else text
    text = _FRACTION.sub(lambda m: _fraction(m.group(1)), text, count=1)
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    return _OFFSET.sub(r"\1\2:\3", text)


def json_value(value: Any) -> Any:
    """A JSON-safe, exact form of one Python value (see the module docstring)."""
    if value is None or isinstance(value, bool) or type(value) in (int, str):
        return value
    if isinstance(value, str):
        return str(value)  # Exact and other str subclasses: plain text
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "NaN"
        if math.isinf(value):
            return "Infinity" if value > 0 else "-Infinity"
        return value
    if isinstance(value, decimal.Decimal):
        if not value.is_finite():
            return "NaN" if value.is_nan() else ("Infinity" if value > 0 else "-Infinity")
        return format(value, "f")
    if isinstance(value, dt.datetime):
        nanos = getattr(value, "nanosecond", 0)
        text = dt.datetime(
            value.year, value.month, value.day, value.hour, value.minute, value.second
        ).isoformat()
        frac = _fraction(f"{value.microsecond:06d}{nanos:03d}")
        offset = value.utcoffset()
        if offset is None:
            return text + frac
        return text + frac + _offset_text(offset)
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, dt.time):
        text = value.replace(microsecond=0, tzinfo=None).isoformat()
        return text + _fraction(f"{value.microsecond:06d}")
    if isinstance(value, dt.timedelta):
        nanos = getattr(value, "value", None)  # pandas.Timedelta: exact nanoseconds
        if isinstance(nanos, int):
            return _seconds_text(nanos, 10**9)
        micros = (value.days * 86400 + value.seconds) * 10**6 + value.microseconds
        return _seconds_text(micros, 10**6)
    if isinstance(value, (bytes, bytearray, memoryview)):
        return base64.b64encode(bytes(value)).decode("ascii")
    if isinstance(value, Mapping):
        return {str(k): json_value(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_value(v) for v in value]
    if type(value).__module__.startswith("pyarrow"):
        import pyarrow as pa

        if isinstance(value, pa.Scalar):
            return encode_scalar(value)
    item = getattr(value, "item", None)  # numpy scalars
    if callable(item):
        return json_value(item())
    return str(value)


def _offset_text(offset: dt.timedelta) -> str:
    total = int(offset.total_seconds())
    sign = "-" if total < 0 else "+"
    hours, rest = divmod(abs(total), 3600)
    return f"{sign}{hours:02d}:{rest // 60:02d}"


def encode_scalar(scalar: pa.Scalar) -> Any:
    """The JSON form of one Arrow scalar (exact, see :func:`encode_array`)."""
    import pyarrow as pa

    return encode_array(pa.repeat(scalar, 1))[0]


def encode_array(arr: pa.Array | pa.ChunkedArray) -> list[Any]:
    """The JSON forms of every value of ``arr``, exact for its Arrow type."""
    import pyarrow as pa

    if isinstance(arr, pa.ChunkedArray):
        return [v for chunk in arr.chunks for v in encode_array(chunk)]
    t = arr.type
    if pa.types.is_dictionary(t):
        return encode_array(arr.dictionary_decode())
    if isinstance(t, pa.ExtensionType):
        return encode_array(arr.storage)
    if pa.types.is_timestamp(t) or pa.types.is_time(t) or pa.types.is_date(t):
        return _temporal(arr)  # by Arrow's text: exact, and dates past year 9999 too
    if pa.types.is_duration(t):
        per = {"s": 1, "ms": 10**3, "us": 10**6, "ns": 10**9}[t.unit]
        ints = arr.cast(pa.int64()).to_pylist()
        return [None if v is None else _seconds_text(v, per) for v in ints]
    if pa.types.is_floating(t):
        return [json_value(None if v is None else float(v)) for v in arr.to_pylist()]
    if (
        pa.types.is_list(t)
        or pa.types.is_large_list(t)
        or pa.types.is_fixed_size_list(t)
        or pa.types.is_list_view(t)
        or pa.types.is_large_list_view(t)
    ):
        return _lists(arr, pair=False)
    if pa.types.is_map(t):
        return _lists(arr, pair=True)
    if pa.types.is_struct(t):
        valid = arr.is_valid().to_pylist()
        fields = [(t.field(i).name, encode_array(arr.field(i))) for i in range(t.num_fields)]
        return [
            {name: values[i] for name, values in fields} if ok else None
            for i, ok in enumerate(valid)
        ]
    return [json_value(v) for v in arr.to_pylist()]


def _temporal(arr: pa.Array) -> list[Any]:
    import pyarrow as pa

    try:
        texts = arr.cast(pa.string()).to_pylist()
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        texts = ["<" if ok else None for ok in arr.is_valid().to_pylist()]
    if not any(v is not None and v.startswith("<") for v in texts):
        return [None if v is None else _clock(v) for v in texts]
    # Outside the calendar Arrow prints ("<value out of range …>"): the raw count, exact.
    unit = getattr(arr.type, "unit", "ms")
    counts = arr.cast(pa.int64()).to_pylist()
    return [
        None
        if v is None
        else (f"{n}{unit} since 1970-01-01T00:00:00" if v.startswith("<") else _clock(v))
        for v, n in zip(texts, counts, strict=True)
    ]


def _lists(arr: pa.Array, *, pair: bool) -> list[Any]:
    import pyarrow as pa

    valid = arr.is_valid().to_pylist()
    if pa.types.is_fixed_size_list(arr.type):
        size = arr.type.list_size
        bounds = [(i * size, (i + 1) * size) for i in range(len(arr))]
        values = encode_array(arr.values.slice(arr.offset * size, len(arr) * size))
    elif pa.types.is_list_view(arr.type) or pa.types.is_large_list_view(arr.type):
        # (pyarrow 26 casts list views to lists wrongly: read offsets and sizes instead)
        starts, sizes = arr.offsets.to_pylist(), arr.sizes.to_pylist()
        bounds = [(o, o + n) for o, n in zip(starts, sizes, strict=True)]
        values = encode_array(arr.values)
    else:
        offsets = arr.offsets.to_pylist()
        base = offsets[0] if offsets else 0
        bounds = [(a - base, b - base) for a, b in itertools.pairwise(offsets)]
        values = encode_array(arr.values.slice(base, (offsets[-1] - base) if offsets else 0))
    out: list[Any] = []
    for ok, (a, b) in zip(valid, bounds, strict=True):
        if not ok:
            out.append(None)
        elif pair:
            out.append([[e["key"], e["value"]] for e in values[a:b]])
        else:
            out.append(values[a:b])
    return out


def _nanoseconds(typ: pa.DataType) -> bool:
    """A nanosecond time, timestamp or duration: Python's datetime types stop at microseconds.

    (pyarrow returns pandas values for them only when it can import pandas, which
    a ``dvtool`` process may have kept it from doing; dvtool does not depend on that.)
    """
    import pyarrow as pa

    return bool(
        (pa.types.is_time64(typ) or pa.types.is_timestamp(typ) or pa.types.is_duration(typ))
        and typ.unit == "ns"
    )


def python_values(arr: pa.Array | pa.ChunkedArray) -> list[Any]:
    """``arr.to_pylist()``, except where Python has no exact value: there :class:`Exact` text.

    Nanosecond times, timestamps and durations, and dates or timestamps outside
    Python's calendar, come as their exact JSON text; a nested value holding
    such values comes in its JSON form.
    """
    import pyarrow as pa

    t = arr.type
    if pa.types.is_dictionary(t):
        t = t.value_type
    if pa.types.is_temporal(t):
        if not _nanoseconds(t):
            try:
                plain: list[Any] = arr.to_pylist()
                return plain
            except (ValueError, OverflowError, pa.ArrowInvalid):
                pass
        return [None if v is None else Exact(v) for v in encode_array(arr)]
    if t.num_fields and _contains(t, pa.types.is_temporal):
        if _contains(t, _nanoseconds):
            return encode_array(arr)
        try:
            values: list[Any] = arr.to_pylist()
        except (ValueError, OverflowError, pa.ArrowInvalid):
            return encode_array(arr)
        return values
    out: list[Any] = arr.to_pylist()
    return out


def _contains(typ: pa.DataType, test: Any) -> bool:
    import pyarrow as pa

    if test(typ):
        return True
    if pa.types.is_dictionary(typ):
        return _contains(typ.value_type, test)
    return any(_contains(typ.field(i).type, test) for i in range(typ.num_fields))


def needs_exact_text(typ: pa.DataType) -> bool:
    """Whether some value of ``typ`` (or inside it) has no exact Python value of its own (nanoseconds)."""
    return _contains(typ, _nanoseconds)
