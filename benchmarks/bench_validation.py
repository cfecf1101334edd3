"""Validation at scale: dvtool (chunked + DuckDB) next to pandera called directly, same data, one run.

    .venv/bin/python benchmarks/bench_validation.py [ROWS]

Each contender runs in its own subprocess so peak RSS is its own. Prints
wall time, peak memory and the ratios. Not a test: nothing is asserted.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SCHEMA = """\
schema_type: polars_dataframe
columns:
  id: {dtype: Int64, unique: true, greater_than_or_equal_to: 0}
  score: {dtype: Float64, in_range: {min_value: 0, max_value: 100}}
  tier: {dtype: String, isin: [a, b, c]}
  qty: {dtype: Int32, greater_than_or_equal_to: 0}
"""


def make(rows: int, work: Path) -> None:
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = np.random.default_rng(1)
    with pq.ParquetWriter(
        work / "data.parquet",
        pa.schema(
            [
                ("id", pa.int64()),
                ("score", pa.float64()),
                ("tier", pa.large_string()),
                ("qty", pa.int32()),
            ]
        ),
    ) as w:
        for start in range(0, rows, 1_000_000):
            n = min(1_000_000, rows - start)
            score = rng.uniform(0, 100, n)
            score[::100_000] = 150.0  # a few failures
            w.write_table(
                pa.table(
                    {
                        "id": pa.array(np.arange(start, start + n), pa.int64()),
                        "score": score,
                        "tier": pa.array(
                            np.array(["a", "b", "c"])[rng.integers(0, 3, n)], pa.large_string()
                        ),
                        "qty": pa.array(rng.integers(0, 1000, n, dtype=np.int32)),
                    }
                )
            )
    (work / "s.yaml").write_text(SCHEMA)


def child(kind: str, work: Path) -> dict[str, object]:
    t0 = time.perf_counter()
    if kind == "pandera-direct":
        import polars as pl
        from pandera.errors import SchemaErrors
        from pandera.io import polars_io

        schema = polars_io.from_yaml(str(work / "s.yaml"))
        df = pl.read_parquet(work / "data.parquet")
        try:
            schema.validate(df, lazy=True)
            failures = 0
        except SchemaErrors as exc:
            failures = exc.failure_cases.height
    elif kind == "dvtool-snapshot-setup":
        from dvtool.repo import Repo

        repo = Repo.init(str(work / "repo"))
        repo.snapshot(str(work / "data.parquet"), dataset="big", key=["id"])
        failures = 0
    else:
        from dvtool.repo import Repo

        repo = Repo.open(str(work / "repo"))
        if kind == "dvtool-source":
            report = repo.validate(str(work / "data.parquet"), schema=str(work / "s.yaml"))
        else:
            report = repo.validate(
                "big", schema=str(work / "s.yaml"), use_cache=kind == "dvtool-ref-cached"
            )
        failures = sum(e.failure_count for e in report.errors)
        print(report.to_text().splitlines()[0], file=sys.stderr)
    seconds = time.perf_counter() - t0
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {
        "kind": kind,
        "seconds": round(seconds, 2),
        "peak_mb": round(peak_kb / 1024),
        "failures": failures,
    }


def main() -> None:
    if len(sys.argv) > 2 and sys.argv[1] == "--child":
        print(json.dumps(child(sys.argv[2], Path(sys.argv[3]))))
        return
    rows = int(sys.argv[1]) if len(sys.argv) > 1 else 10_000_000
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        make(rows, work)
        env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parent.parent / "src"))
        results = {}
        kinds = (
            "dvtool-snapshot-setup",
            "pandera-direct",
            "dvtool-ref",
            "dvtool-ref-cached",
            "dvtool-ref-cached",
            "dvtool-source",
        )
        for n, kind in enumerate(kinds):
            out = subprocess.run(
                [sys.executable, __file__, "--child", kind, str(work)],
                capture_output=True,
                text=True,
                env=env,
                check=True,
            )
            result = json.loads(out.stdout.strip().splitlines()[-1])
            if n == 4:
                kind = result["kind"] = "dvtool-ref-cached-rerun"
            results[kind] = result
            print(json.dumps(result))
        base = results["pandera-direct"]
        for kind in ("dvtool-ref", "dvtool-ref-cached", "dvtool-ref-cached-rerun", "dvtool-source"):
            r = results[kind]
            print(
                f"{kind}: {r['seconds'] / base['seconds']:.2f}x time, {r['peak_mb'] / base['peak_mb']:.2f}x peak memory of pandera direct"
            )


if __name__ == "__main__":
    main()
