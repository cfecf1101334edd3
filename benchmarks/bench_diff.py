"""Keyed diff of two ~10M-row versions: dvtool against a plain DuckDB FULL OUTER JOIN.

Two edits: B = A with 1% of rows given a
new ``amount``, 0.5% deleted and 0.5% inserted into key gaps (scattered); C = A
plus 1% appended. Every measurement runs in a fresh process; peak memory is that
process's ru_maxrss. The DuckDB baseline reads the same chunk files directly
(no hash check, no samples), so it is the floor to compare with.

    .venv/bin/python benchmarks/bench_diff.py [--rows 10000000] [--dir /tmp/dvtool-bench-diff]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa


def make_a(rows: int, seed: int = 7) -> pa.Table:
    rng = np.random.default_rng(seed)
    cats = np.array([f"category_{i:02d}_" for i in range(50)], dtype=object)
    letters = np.frombuffer(
        b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789", np.uint8
    )
    width = 30
    note_bytes = letters[rng.integers(0, len(letters), rows * width)].tobytes()
    offsets = np.arange(0, (rows + 1) * width, width, dtype=np.int32)
    note = pa.StringArray.from_buffers(
        rows, pa.py_buffer(offsets.tobytes()), pa.py_buffer(note_bytes)
    )
    return pa.table(
        {
            "id": pa.array(np.arange(rows, dtype=np.int64) * 10),
            "user_id": pa.array(rng.integers(0, 1_000_000, rows)),
            "amount": pa.array(rng.integers(0, 100_000, rows) / 100.0),
            "category": pa.array(cats[rng.integers(0, 50, rows)].tolist(), pa.string()),
            "ts": pa.array(
                (1_700_000_000_000_000 + rng.integers(0, 10**13, rows)).astype("datetime64[us]")
            ),
            "note": note,
        }
    )


def make_b(a: pa.Table, seed: int = 8) -> pa.Table:
    """1% new amount, 0.5% deleted, 0.5% inserted into key gaps; sorted by id."""
    rng = np.random.default_rng(seed)
    n = a.num_rows
    upd = rng.choice(n, n // 100, replace=False)
    amount = a["amount"].to_numpy().copy()
    amount[upd] += 1.0
    keep = np.ones(n, bool)
    keep[rng.choice(n, n // 200, replace=False)] = False
    b = a.set_column(2, "amount", pa.array(amount)).filter(pa.array(keep))
    ins_rows = rng.choice(n, n // 200, replace=False)
    ins = a.take(pa.array(ins_rows))
    ins = ins.set_column(0, "id", pa.array(a["id"].to_numpy()[ins_rows] + 5))
    return pa.concat_tables([b, ins]).sort_by("id").combine_chunks()


def make_c(a: pa.Table) -> pa.Table:
    extra = a.slice(0, a.num_rows // 100)
    extra = extra.set_column(
        0, "id", pa.array(extra["id"].to_numpy() + a["id"].to_numpy()[-1] + 10)
    )
    return pa.concat_tables([a, extra]).combine_chunks()


def setup(folder: Path, rows: int) -> dict[str, float]:
    from dvtool.repo import Repo

    marker = folder / f"ready-{rows}"
    if marker.exists():
        return json.loads(marker.read_text())
    url = str(folder / "repo")
    repo = Repo.init(url)
    a = make_a(rows)
    times = {}
    t = time.perf_counter()
    repo.snapshot(a, dataset="scattered", key=["id"])
    times["snapshot A"] = time.perf_counter() - t
    t = time.perf_counter()
    repo.snapshot(make_b(a), dataset="scattered", key=["id"])
    times["snapshot B (1% scattered)"] = time.perf_counter() - t
    repo.snapshot(a, dataset="append", key=["id"])
    t = time.perf_counter()
    repo.snapshot(make_c(a), dataset="append", key=["id"])
    times["snapshot C (1% append)"] = time.perf_counter() - t
    marker.write_text(json.dumps(times))
    return times


def task(name: str, url: str) -> dict[str, Any]:
    """One measurement, in this (fresh) process."""
    # Import everything first: the timings are of the work, not of module loading.
    import duckdb  # noqa: F401
    import pyarrow.dataset
    import pyarrow.parquet  # noqa: F401

    import dvtool.diff.plan  # noqa: F401
    from dvtool.repo import Repo

    repo = Repo.open(url)
    dataset = "scattered" if "scattered" in name else "append"
    t = time.perf_counter()
    if name.startswith("dvtool"):
        d = repo.diff(f"{dataset}@v1", f"{dataset}@v2")
        result = {**d.rows.to_dict(), "chunks": d.chunks.to_dict()}
    else:
        from dvtool import sql

        old, new = repo.get(f"{dataset}@v1"), repo.get(f"{dataset}@v2")
        con = sql.connect()
        cols = ["user_id", "amount", "category", "ts", "note"]
        distinct = " OR ".join(f"o.{c} IS DISTINCT FROM n.{c}" for c in cols)
        row = con.sql(
            f"SELECT count(*) FILTER (WHERE o.id IS NULL), count(*) FILTER (WHERE n.id IS NULL), "
            f"count(*) FILTER (WHERE o.id IS NOT NULL AND n.id IS NOT NULL AND ({distinct})) "
            f"FROM {sql.parquet_scan(old.files)} o FULL OUTER JOIN {sql.parquet_scan(new.files)} n "
            "ON o.id = n.id"
        ).fetchall()[0]
        result = {"added": row[0], "removed": row[1], "changed": row[2]}
    seconds = time.perf_counter() - t
    return {"task": name, "seconds": seconds, "peak_rss_mb": _peak_mb(), "result": result}


def _peak_mb() -> float:
    """This process's peak RSS (VmHWM; ru_maxrss would include the parent's before exec)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


TASKS = [
    "dvtool diff scattered",
    "duckdb join scattered",
    "dvtool diff append",
    "duckdb join append",
]


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--rows", type=int, default=10_000_000)
    p.add_argument("--dir", default="/tmp/dvtool-bench-diff")
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--task", help=argparse.SUPPRESS)
    args = p.parse_args()
    folder = Path(args.dir)
    if args.task:
        print(json.dumps(task(args.task, str(folder / "repo"))))
        return
    folder.mkdir(parents=True, exist_ok=True)
    setup_times = setup(folder, args.rows)
    for k, v in setup_times.items():
        print(f"{k}: {v:.1f} s")
    results: dict[str, list[dict[str, Any]]] = {}
    for _ in range(args.repeat):
        for name in TASKS:
            out = subprocess.run(
                [sys.executable, __file__, "--dir", str(folder), "--task", name],
                check=True,
                capture_output=True,
                text=True,
                env={**os.environ},
            ).stdout
            results.setdefault(name, []).append(json.loads(out))
    print(
        f"\n{args.rows:,} rows; median of {args.repeat} fresh processes; {os.cpu_count()} cores\n"
    )
    print("| task | seconds | peak RSS MB | result |")
    print("|---|---:|---:|---|")
    med: dict[str, tuple[float, float]] = {}
    for name, runs in results.items():
        s = sorted(r["seconds"] for r in runs)[len(runs) // 2]
        m = sorted(r["peak_rss_mb"] for r in runs)[len(runs) // 2]
        med[name] = (s, m)
        print(f"| {name} | {s:.2f} | {m:.0f} | {json.dumps(runs[0]['result'])} |")
    for edit in ("scattered", "append"):
        (ds, dm), (bs, bm) = med[f"dvtool diff {edit}"], med[f"duckdb join {edit}"]
        print(f"{edit}: dvtool/duckdb time ratio {ds / bs:.2f}, memory ratio {dm / bm:.2f}")


if __name__ == "__main__":
    main()
