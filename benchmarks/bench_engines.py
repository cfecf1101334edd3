"""validate and diff of one version with each engine: time and peak memory, side by side.

    .venv-spark/bin/python benchmarks/bench_engines.py --rows 10000000

Makes (or reuses) a repository under --workdir with the benchmark data
(benchmarks/datagen.py: ``A``, then ``B`` = A with 1% of rows changed, 0.5%
deleted and 0.5% inserted, keyed by ``id``), then runs each measurement in a
fresh process so peak memory is that measurement's own:

* ``validate bench@v2`` against benchmarks/schema.yaml (the embedded engine
  without its verdict cache, so both check every row);
* ``diff bench@v1 bench@v2`` (keyed; both skip the identical chunks).

For Spark the session is started first and timed on its own; the time of the
call excludes it. Peak RSS is the Python process's (VmHWM); for Spark
the JVM (driver, and in local mode the executors) is reported apart (its
VmHWM). Prints a markdown table and writes it to
benchmarks/results/. Spark will not win on 2 cores: the point is the same
answer with the driver's memory bounded.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))


def _build(repo_dir: Path, rows: int) -> None:
    import pyarrow as pa

    import dvtool
    from benchmarks import datagen

    if (repo_dir / "dvtool.json").exists():
        return
    repo = dvtool.Repo.init(repo_dir)
    for name in ("A", "B"):
        batches = datagen.variants(rows)[name]
        reader = pa.RecordBatchReader.from_batches(datagen.SCHEMA, batches)
        t = time.perf_counter()
        repo.snapshot(reader, dataset="bench", key=["id"], message=name)
        print(f"snapshot {name}: {time.perf_counter() - t:.1f} s", file=sys.stderr)


def _one(args: argparse.Namespace) -> None:
    """Child process: one measurement, printed as JSON."""
    import dvtool

    repo = dvtool.Repo.open(args.repo)
    spark = None
    started = 0.0
    if args.engine == "spark":
        from dvtool.engines.spark.session import build_session

        t = time.perf_counter()
        spark = build_session(dvtool.SparkSettings(master=args.master))
        spark.range(1).count()
        started = time.perf_counter() - t
    t = time.perf_counter()
    if args.what == "validate":
        report = repo.validate("bench@v2", schema=str(HERE / "schema.yaml"), use_cache=False,
                               engine=args.engine, spark=spark)  # fmt: skip
        answer = report.to_json()
    else:
        answer = json.loads(
            repo.diff("bench@v1", "bench@v2", engine=args.engine, spark=spark).to_json()
        )
    seconds = time.perf_counter() - t
    rss = _hwm_mb("self")  # not ru_maxrss: Linux carries the parent's peak across exec
    jvm = None
    if spark is not None:
        # spark-submit execs the JVM in the process pyspark started: its high-water mark.
        jvm = _hwm_mb(str(spark.sparkContext._gateway.proc.pid))
        spark.stop()
    print(json.dumps({"seconds": seconds, "session": started, "rss_mb": rss, "jvm_mb": jvm,
                      "answer": answer}, default=str))  # fmt: skip


def _hwm_mb(pid: str) -> float:
    """Peak resident memory (VmHWM) of a process, in MB."""
    status = Path(f"/proc/{pid}/status").read_text()
    return (
        next(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmHWM"))
        / 1024
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--workdir", default=str(HERE / "data"))
    parser.add_argument("--master", default="local[2]")
    parser.add_argument("--one", dest="what", choices=["validate", "diff"], help=argparse.SUPPRESS)
    parser.add_argument("--engine", default="duckdb", help=argparse.SUPPRESS)
    parser.add_argument("--repo", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.what:
        _one(args)
        return
    repo_dir = Path(args.workdir) / f"engines-{args.rows}" / ".dvtool"
    _build(repo_dir, args.rows)
    results: dict[tuple[str, str], dict[str, object]] = {}
    for what in ("validate", "diff"):
        for engine in ("duckdb", "spark"):
            cmd = [
                sys.executable,
                __file__,
                "--one",
                what,
                "--engine",
                engine,
                "--repo",
                str(repo_dir),
                "--master",
                args.master,
            ]
            done = subprocess.run(
                cmd,
                capture_output=True,
                text=True,
                check=False,
                env={**os.environ, "PYTHONPATH": str(HERE.parent)},
            )
            if done.returncode != 0:
                sys.exit(f"{what} --engine {engine} failed:\n{done.stderr[-3000:]}")
            results[(what, engine)] = json.loads(done.stdout.strip().splitlines()[-1])
            r = results[(what, engine)]
            print(f"{what} {engine}: {r['seconds']:.1f} s, {r['rss_mb']:.0f} MB", file=sys.stderr)
    lines = [
        f"# validate and diff of a {args.rows:,}-row version: duckdb vs spark",
        "",
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {platform.machine()}, {os.cpu_count()} cores, Spark master {args.master}; "
        f"`{Path(sys.executable).parent.parent.name}/bin/python benchmarks/bench_engines.py --rows {args.rows}`.",
        "",
        "| command | engine | time (s) | Spark session start (s) | Python driver peak RSS (MB) | JVM peak RSS (MB) | same answer |",
        "|---|---|---:|---:|---:|---:|---|",
    ]
    for what in ("validate", "diff"):
        base = results[(what, "duckdb")]["answer"]
        for engine in ("duckdb", "spark"):
            r = results[(what, engine)]
            same = "—" if engine == "duckdb" else ("yes" if _same(r["answer"], base) else "**no**")
            jvm = f"{r['jvm_mb']:.0f}" if r["jvm_mb"] else "—"
            start = f"{r['session']:.1f}" if engine == "spark" else "—"
            lines.append(
                f"| {what} | {engine} | {r['seconds']:.1f} | {start} | {r['rss_mb']:.0f} | {jvm} | {same} |"
            )
    text = "\n".join(lines) + "\n"
    print(text)
    out = HERE / "results" / f"{datetime.now(UTC):%Y-%m-%d}-engines-{args.rows}.md"
    out.write_text(text)


def _same(a: object, b: object) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return float(f"{a:.12g}") == float(f"{b:.12g}")
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    return a == b


if __name__ == "__main__":
    main()
