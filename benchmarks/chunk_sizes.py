"""Stored bytes against chunk size, on the wide and the narrow shape (docs/performance.md).

For each average chunk size (``avg_rows``), the rows (sorted by key) are cut with dvtool's own
chunker and encoded with its own encoder; the table gives the stored bytes
against pyarrow's default ``write_table`` of the same rows, the average chunk,
and what one edited row costs (the chunk that holds it is rewritten).

    .venv/bin/python benchmarks/chunk_sizes.py
"""

from __future__ import annotations

import io
import sys
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).resolve().parent))

import datagen

from dvtool.format.models import Chunking
from dvtool.ingest.chunking import Cutter, choose_chunking
from dvtool.ingest.encoding import encode_chunk

AVG_ROWS = (8192, 16384, 32768, 65536, 131072, 262144)


def measure(name: str, table: pa.Table, key: list[str]) -> list[str]:
    sink = io.BytesIO()
    pq.write_table(table, sink)
    default = len(sink.getvalue())
    lines = []
    default_avg = choose_chunking(table.schema, table.to_batches(65536)[0], True).avg_rows
    for avg in AVG_ROWS:
        chunking = Chunking("cdc-key", avg, avg // 4, avg * 4)
        cutter = Cutter(chunking, key, key)
        t = time.perf_counter()
        sizes = [len(encode_chunk(cut.table)) for cut in cutter.cut(iter(table.to_batches(65536)))]
        seconds = time.perf_counter() - t
        stored = sum(sizes)
        lines.append(
            f"| {name} | {avg:,}{' (default)' if avg == default_avg else ''} | {len(sizes)} | {table.num_rows / len(sizes):,.0f} "
            f"| {stored / 1e6:.2f} MB | {stored / default:.3f} | {stored / len(sizes) / 1e3:,.0f} KB | {seconds:.2f} |"
        )
    return lines


def main() -> int:
    wide = pa.Table.from_batches([datagen.wide_month(0, m) for m in range(1, 13)])
    narrow = pa.Table.from_batches([datagen.block_a(0, 1_000_000)])
    print(
        "| shape | avg_rows | chunks | rows/chunk | stored | / pyarrow default | one edited row rewrites | encode s (1 thread) |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for line in measure(f"wide, {wide.num_rows:,} rows", wide, list(datagen.WIDE_KEY)):
        print(line)
    for line in measure(f"narrow, {narrow.num_rows:,} rows", narrow, ["id"]):
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
