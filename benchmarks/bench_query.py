"""The cost of the query sandbox: `repo.query` next to plain DuckDB over the same chunk files, one run.

    .venv/bin/python benchmarks/bench_query.py [ROWS]

`repo.query` re-hashes the named snapshot's chunks and reads them through a
pyarrow dataset registered with a locked-down DuckDB (no file access of its
own); the peer is an unlocked DuckDB running ``read_parquet`` over the same
files (what dvtool did before the sandbox, minus the re-hash). Best of three
per query, interleaved; prints times and the ratio. Not a test: nothing is
asserted.
"""

from __future__ import annotations

import sys
import tempfile
import time

import duckdb
import numpy as np
import pyarrow as pa

import dvtool

QUERIES = [
    "select sum(amount) from t where cat = 7",
    "select cat, count(*), avg(amount) from t group by cat",
    "select count(*) from t where id between 1000 and 2000",
    "select id, amount from t order by amount desc limit 10",
    "select count(distinct s) from t",
]


def main(rows: int) -> None:
    rng = np.random.default_rng(1)
    table = pa.table(
        {
            "id": np.arange(rows),
            "cat": rng.integers(0, 50, rows),
            "amount": rng.random(rows) * 100,
            "s": pa.array([f"s{i % 1000}" for i in range(rows)]),
        }
    )
    with tempfile.TemporaryDirectory() as tmp:
        repo = dvtool.Repo.init(f"{tmp}/repo")
        repo.snapshot(table, dataset="t", key=["id"])
        files = repo.get("t").files
        peer = duckdb.connect()
        peer.execute(
            "create view t as select * from read_parquet(["
            + ", ".join(f"'{f}'" for f in files)
            + "])"
        )
        print(f"{rows:,} rows in {len(files)} chunks")
        print(f"{'sandboxed':>10} {'duckdb':>10} {'ratio':>6}  query")
        for q in QUERIES:
            best = {"dvtool": float("inf"), "duckdb": float("inf")}
            for _ in range(3):
                t0 = time.perf_counter()
                repo.query(q)
                best["dvtool"] = min(best["dvtool"], time.perf_counter() - t0)
                t0 = time.perf_counter()
                peer.sql(q).fetchall()
                best["duckdb"] = min(best["duckdb"], time.perf_counter() - t0)
            print(
                f"{best['dvtool']:>9.3f}s {best['duckdb']:>9.3f}s {best['dvtool'] / best['duckdb']:>5.1f}x  {q}"
            )


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 2_000_000)
