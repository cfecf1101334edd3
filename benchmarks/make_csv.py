"""Write a CSV of about SIZE_GB gigabytes shaped like the benchmark data (for peak-memory runs).

    .venv/bin/python benchmarks/make_csv.py benchmarks/data/d1.csv 1
    .venv/bin/python benchmarks/make_csv.py benchmarks/data/d4.csv 4
    /usr/bin/time -v .venv/bin/dvtool --repo /tmp/r1 snapshot benchmarks/data/d1.csv -d data   # after dvtool init /tmp/r1

Rows are sorted by ``id`` and streamed in blocks of 500k, so the generator itself
needs little memory.
"""

from __future__ import annotations

import os
import sys

import numpy as np
import pyarrow as pa
import pyarrow.csv as pcsv

SCHEMA = pa.schema(
    [
        ("id", pa.int64()),
        ("user_id", pa.int64()),
        ("amount", pa.float64()),
        ("category", pa.string()),
        ("ts", pa.timestamp("ms")),
        ("note", pa.string()),
    ]
)


def main(out: str, size_gb: float) -> None:
    target = int(size_gb * 1e9)
    rng = np.random.default_rng(0)
    letters = np.frombuffer(b"abcdefghijklmnopqrstuvwxyz0123456789", dtype=np.uint8)
    start = 0
    with pcsv.CSVWriter(out, SCHEMA) as writer:
        while True:
            n = 500_000
            ids = np.arange(start, start + n, dtype=np.int64) * 10
            notes = letters[rng.integers(0, 36, size=(n, 24))].view("S24").ravel().astype(str)
            writer.write_table(
                pa.table(
                    {
                        "id": ids,
                        "user_id": rng.integers(0, 100_000, n),
                        "amount": np.round(rng.random(n) * 1000, 2),
                        "category": pa.array([f"category_{i:02d}" for i in rng.integers(0, 50, n)]),
                        "ts": pa.array(1_700_000_000_000 + ids, pa.timestamp("ms")),
                        "note": pa.array(notes),
                    },
                    schema=SCHEMA,
                )
            )
            start += n
            if os.path.getsize(out) >= target:
                break
    print(f"{out}: {start:,} rows, {os.path.getsize(out) / 1e9:.2f} GB")


if __name__ == "__main__":
    main(sys.argv[1], float(sys.argv[2]) if len(sys.argv) > 2 else 1.0)
