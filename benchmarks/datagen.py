"""Synthetic data (the narrow 6-column shape of docs/performance.md), written as Parquet.

Columns: ``id`` int64 (0, 10, 20, … unique and sorted), ``user_id`` int64,
``amount`` float64 (cents), ``category`` string (50 values, plain utf8),
``ts`` timestamp[us] and ``note`` string (20–40 random alphanumerics, nearly
incompressible). Three variants of one size:

* ``A``: the base;
* ``B``: A with 1% of rows given a new ``amount``, 0.5% deleted and 0.5%
  inserted into key gaps (``id + 5``), scattered at random, sorted by ``id``;
* ``C``: A plus 1% appended rows with ids above ``max(A.id)``.

Rows are made in blocks of ``BLOCK`` rows, each from its own seed, so any size
streams in bounded memory and the same block is the same data at every size.
Only numpy and pyarrow are needed.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

GENERATOR = "dvtool-bench-data-1"  # bump when the data changes
BLOCK = 1_000_000
SEED = 20240607
_LETTERS = np.frombuffer(
    b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789", np.uint8
)
_CATEGORIES = pa.array([f"category_{i:02d}_" for i in range(50)], pa.string())
SCHEMA = pa.schema(
    [
        ("id", pa.int64()),
        ("user_id", pa.int64()),
        ("amount", pa.float64()),
        ("category", pa.string()),
        ("ts", pa.timestamp("us")),
        ("note", pa.string()),
    ]
)


def _notes(rng: np.random.Generator, n: int) -> pa.Array:
    lengths = rng.integers(20, 41, n)
    offsets = np.zeros(n + 1, np.int32)
    np.cumsum(lengths, out=offsets[1:])
    data = _LETTERS[rng.integers(0, len(_LETTERS), int(offsets[-1]))]
    return pa.StringArray.from_buffers(n, pa.py_buffer(offsets), pa.py_buffer(data))


def _rows(rng: np.random.Generator, ids: np.ndarray) -> pa.RecordBatch:
    n = len(ids)
    cat = pa.DictionaryArray.from_arrays(
        pa.array(rng.integers(0, 50, n, dtype=np.int32)), _CATEGORIES
    )
    ts = (1_700_000_000_000_000 + rng.integers(0, 10**13, n)).astype("datetime64[us]")
    return pa.RecordBatch.from_arrays(
        [
            pa.array(ids, pa.int64()),
            pa.array(rng.integers(0, 1_000_000, n)),
            pa.array(rng.integers(0, 10_000_000, n) / 100.0),
            cat.cast(pa.string()),
            pa.array(ts, pa.timestamp("us")),
            _notes(rng, n),
        ],
        schema=SCHEMA,
    )


def block_a(start: int, n: int) -> pa.RecordBatch:
    """Rows ``start .. start+n`` of A (ids ``10 * row``)."""
    rng = np.random.default_rng([SEED, start])
    return _rows(rng, np.arange(start, start + n, dtype=np.int64) * 10)


def block_b(a: pa.RecordBatch, start: int) -> pa.RecordBatch:
    """The scattered edit of one block of A: 1% updated, 0.5% deleted, 0.5% inserted."""
    rng = np.random.default_rng([SEED, start, 2])
    n = a.num_rows
    amount = a.column(2).to_numpy().copy()
    amount[rng.choice(n, n // 100, replace=False)] += 1.0
    keep = np.ones(n, bool)
    keep[rng.choice(n, n // 200, replace=False)] = False
    edited = a.set_column(2, "amount", pa.array(amount)).filter(pa.array(keep))
    at = np.sort(rng.choice(n, n // 200, replace=False))
    inserted = _rows(rng, a.column(0).to_numpy()[at] + 5)
    table = pa.Table.from_batches([edited, inserted]).sort_by("id")
    return table.combine_chunks().to_batches()[0]


def _blocks(rows: int) -> Iterator[tuple[int, int]]:
    for start in range(0, rows, BLOCK):
        yield start, min(BLOCK, rows - start)


def variants(rows: int) -> dict[str, Iterator[pa.RecordBatch]]:
    """Generators of the batches of A, B and C for ``rows`` rows."""

    def a() -> Iterator[pa.RecordBatch]:
        for start, n in _blocks(rows):
            yield block_a(start, n)

    def b() -> Iterator[pa.RecordBatch]:
        for start, n in _blocks(rows):
            yield block_b(block_a(start, n), start)

    def c() -> Iterator[pa.RecordBatch]:
        yield from a()
        extra = max(1, rows // 100)
        rng = np.random.default_rng([SEED, rows, 3])
        for start in range(0, extra, BLOCK):
            n = min(BLOCK, extra - start)
            yield _rows(rng, (rows + start + np.arange(n, dtype=np.int64)) * 10)

    return {"A": a(), "B": b(), "C": c()}


# -- the wide shape: 19 flights-like columns ------------------------------------------
#
# The shape of a public flights table (nycflights13, 336,776 rows a year): small
# integers (year, month, day, hour, minute), clock times and delays with nulls,
# 2-letter carrier and 3-letter airport codes, tail numbers (nullable, ~20k
# values), a flight number unique within each hour and a zoned timestamp
# ``time_hour``. Rows are made month by month, sorted by the key
# ``(time_hour, flight)``; a month is the same data whatever else is built.
# ``rows_per_year`` below the real table's size makes the same shape in fewer
# rows (for tests).

WIDE_GENERATOR = "dvtool-bench-wide-1"  # bump when the data changes
WIDE_SEED = 20261201
WIDE_ROWS_PER_YEAR = 336_776
WIDE_KEY = ("time_hour", "flight")
WIDE_SCHEMA = pa.schema(
    [
        ("year", pa.int64()),
        ("month", pa.int64()),
        ("day", pa.int64()),
        ("dep_time", pa.int64()),
        ("sched_dep_time", pa.int64()),
        ("dep_delay", pa.float64()),
        ("arr_time", pa.int64()),
        ("sched_arr_time", pa.int64()),
        ("arr_delay", pa.float64()),
        ("carrier", pa.string()),
        ("flight", pa.int64()),
        ("tailnum", pa.string()),
        ("origin", pa.string()),
        ("dest", pa.string()),
        ("air_time", pa.float64()),
        ("distance", pa.float64()),
        ("hour", pa.int64()),
        ("minute", pa.int64()),
        ("time_hour", pa.timestamp("us", "America/New_York")),
    ]
)
_CARRIERS = pa.array(
    ["9E", "AA", "AS", "B6", "DL", "EV", "F9", "FL", "HA", "MQ", "OO", "UA", "US", "VX", "WN", "YV"]
)
_CARRIER_WEIGHT = np.array(
    [
        18460,
        32729,
        714,
        54635,
        48110,
        54173,
        685,
        3260,
        342,
        26397,
        32,
        58665,
        20536,
        5162,
        12275,
        601,
    ],
    float,
)
_ORIGINS = pa.array(["EWR", "JFK", "LGA"])
_DESTS = pa.array([a + b + c for a in "BDLMS" for b in "AEIOU" for c in "KLNRTXY"][:105])
_TAIL_LETTERS = np.array(list("ABCDEFGHJKLMNPRSTUVWXYZ"))


def _clock(minutes: np.ndarray) -> np.ndarray:
    """Minutes since midnight as an HHMM integer (wrapping past midnight)."""
    minutes = np.mod(minutes, 1440)
    out: np.ndarray = (minutes // 60) * 100 + minutes % 60
    return out


def _codes(values: pa.Array, index: np.ndarray) -> pa.Array:
    return pa.DictionaryArray.from_arrays(pa.array(index.astype(np.int32)), values).cast(
        pa.string()
    )


def wide_month(
    year_index: int, month: int, rows_per_year: int = WIDE_ROWS_PER_YEAR
) -> pa.RecordBatch:
    """One month of flights (year ``2013 + year_index``), sorted by ``(time_hour, flight)``."""
    rng = np.random.default_rng([WIDE_SEED, year_index, month, rows_per_year])
    year = 2013 + year_index
    start = np.datetime64(f"{year}-{month:02d}-01T00:00", "us")
    end = np.datetime64(f"{year + (month == 12)}-{month % 12 + 1:02d}-01T00:00", "us")
    hours = int((end - start) // np.timedelta64(1, "h"))
    hour_of_day = np.arange(hours) % 24
    flying = (hour_of_day >= 5) & (hour_of_day <= 22)  # 18 hours a day
    counts = np.where(flying, rng.poisson(rows_per_year / (365 * 18), hours), 0)
    n = int(counts.sum())
    hour_index = np.repeat(np.arange(hours), counts)
    flight = np.concatenate(
        [np.sort(rng.choice(8000, c, replace=False)) + 1 for c in counts if c] or [np.zeros(0, int)]
    )
    local = start + hour_index.astype("timedelta64[h]")
    hour = hour_of_day[hour_index]
    minute = rng.integers(0, 60, n)
    sched_dep = hour * 60 + minute
    dep_delay = np.round(rng.gamma(0.6, 20, n) - 8).astype(np.int64)
    cancelled = rng.random(n) < 0.025
    no_arrival = cancelled | (rng.random(n) < 0.003)
    air = rng.integers(20, 660, n)
    distance = (air * 7.5 + rng.integers(-40, 40, n)).clip(17) // 10 * 10
    arr_delay = dep_delay + rng.integers(-25, 20, n)
    day = (local - np.datetime64(f"{year}-{month:02d}-01", "us")) // np.timedelta64(1, "D") + 1
    tails = np.char.add(
        np.char.add("N", rng.integers(100, 999, n).astype(str)),
        _TAIL_LETTERS[rng.integers(0, 23, n)],
    )
    time_hour = pc.assume_timezone(
        pa.array(local.astype("datetime64[us]")),
        "America/New_York",
        ambiguous="earliest",
        nonexistent="earliest",
    )
    columns = [
        pa.array(np.full(n, year, np.int64)),
        pa.array(np.full(n, month, np.int64)),
        pa.array(day.astype(np.int64)),
        pa.array(_clock(sched_dep + dep_delay), mask=cancelled),
        pa.array(_clock(sched_dep)),
        pa.array(dep_delay.astype(float), mask=cancelled),
        pa.array(_clock(sched_dep + dep_delay + air + 30), mask=no_arrival),
        pa.array(_clock(sched_dep + air + 30)),
        pa.array(arr_delay.astype(float), mask=no_arrival),
        _codes(_CARRIERS, rng.choice(16, n, p=_CARRIER_WEIGHT / _CARRIER_WEIGHT.sum())),
        pa.array(flight.astype(np.int64)),
        pa.array(tails, mask=rng.random(n) < 0.007),
        _codes(_ORIGINS, rng.integers(0, 3, n)),
        _codes(_DESTS, np.minimum(rng.geometric(0.05, n) - 1, 104)),
        pa.array(air.astype(float), mask=no_arrival),
        pa.array(distance.astype(float)),
        pa.array(hour.astype(np.int64)),
        pa.array(minute.astype(np.int64)),
        time_hour.cast(WIDE_SCHEMA.field("time_hour").type),
    ]
    return pa.RecordBatch.from_arrays(columns, schema=WIDE_SCHEMA)


def wide_months(rows: int, rows_per_year: int = WIDE_ROWS_PER_YEAR) -> Iterator[pa.RecordBatch]:
    """Months in order (year after year) until ``rows`` rows; the last month is cut short."""
    made = 0
    for index in range(12 * 1000):
        batch = wide_month(index // 12, index % 12 + 1, rows_per_year)
        take = min(batch.num_rows, rows - made)
        yield batch.slice(0, take)
        made += take
        if made >= rows:
            return


def ensure_wide(folder: Path, rows: int) -> dict[str, Path]:
    """Build (once) the wide inputs in ``folder/wide-<rows>/`` and return their paths.

    ``A``: ``rows`` rows; ``C``: A plus 1% more rows (the next ones in time);
    ``month-01`` … ``month-12``: the first year, cumulative (month k holds
    months 1..k). Written as a user would: pyarrow's ``write_table`` defaults.
    """
    out = folder / f"wide-{rows}"
    out.mkdir(parents=True, exist_ok=True)
    marker = out / "ready.json"
    paths = {
        name: out / f"{name}.parquet"
        for name in ["A", "C", *(f"month-{m:02d}" for m in range(1, 13))]
    }
    if (
        marker.exists()
        and marker.read_text() == WIDE_GENERATOR
        and all(p.exists() for p in paths.values())
    ):
        return paths
    for name, total in (("A", rows), ("C", rows + max(1, rows // 100))):
        with pq.ParquetWriter(paths[name].with_suffix(".tmp"), WIDE_SCHEMA) as writer:
            for batch in wide_months(total):
                writer.write_batch(batch)
        paths[name].with_suffix(".tmp").replace(paths[name])
    months = [wide_month(0, m) for m in range(1, 13)]
    for m in range(1, 13):
        pq.write_table(pa.Table.from_batches(months[:m]), paths[f"month-{m:02d}"])
    marker.write_text(WIDE_GENERATOR)
    return paths


def write(path: Path, batches: Iterator[pa.RecordBatch]) -> int:
    """Write one Parquet file (zstd, dictionary on ``category`` only, 1M-row row groups)."""
    tmp = path.with_suffix(".tmp")
    rows = 0
    with pq.ParquetWriter(tmp, SCHEMA, compression="zstd", use_dictionary=["category"]) as writer:
        for batch in batches:
            writer.write_batch(batch, row_group_size=BLOCK)
            rows += batch.num_rows
    tmp.replace(path)
    return rows


def ensure(folder: Path, rows: int, names: tuple[str, ...] = ("A", "B", "C")) -> dict[str, Path]:
    """Build (once) ``folder/<rows>/{A,B,C}.parquet``; return their paths."""
    out = folder / str(rows)
    out.mkdir(parents=True, exist_ok=True)
    marker = out / "ready.json"
    done = json.loads(marker.read_text()) if marker.exists() else {}
    if done.get("generator") != GENERATOR:
        done = {"generator": GENERATOR}
    gens = variants(rows)
    paths = {}
    for name in names:
        path = out / f"{name}.parquet"
        if name not in done or not path.exists():
            done[name] = write(path, gens[name])
            marker.write_text(json.dumps(done))
        paths[name] = path
    return paths
