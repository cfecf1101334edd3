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
