"""The wide, flights-like table (datagen.wide_month): whole-process timings and stored bytes.

Every timing is a whole process on both sides, start-up included:

* ``dvtool snapshot`` of A (19 columns) into a new repository, against a plain
  single-threaded Python process that reads A with pyarrow and writes it as
  1M-row zstd Parquet files (pyarrow's other defaults);
* ``dvtool snapshot`` of C (A + 1% newer rows) onto a copy of that repository,
  against the first snapshot;
* ``dvtool diff`` of that append, against a Python process running DuckDB's
  FULL OUTER JOIN of A and C with every column compared.

Then the "12 cumulative monthly versions" scenario: one year, month by month,
each version holding every month so far, snapshotted with the CLI, keyed and
keyless. Reported: repository bytes against the last version snapshotted
alone, rows re-written per version (rows in new chunks that were already in
the parent), and the last version's stored bytes against pyarrow's default
``write_table`` of the same rows sorted by the key.

Run alone: ``python benchmarks/wide.py --rows 3000000`` (``--dvtool-src DIR``
runs the dvtool found in DIR instead, e.g. an older checkout for a before/after
table). ``make bench`` runs it as the ``wide`` group.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import datagen  # noqa: E402

KEY = list(datagen.WIDE_KEY)
COLUMNS = [f.name for f in datagen.WIDE_SCHEMA]

PLAIN_WRITE = """
import sys, os, pyarrow as pa, pyarrow.parquet as pq
pa.set_cpu_count(1); pa.set_io_thread_count(1)
src, out = sys.argv[1], sys.argv[2]
os.makedirs(out, exist_ok=True)
reader = pq.ParquetFile(src)
part, pending, rows = 0, [], 0
def flush():
    global part, pending, rows
    pq.write_table(pa.Table.from_batches(pending), f"{out}/{part:05d}.parquet", compression="zstd")
    part, pending, rows = part + 1, [], 0
for batch in reader.iter_batches(batch_size=65536, use_threads=False):
    pending.append(batch); rows += batch.num_rows
    if rows >= 1_000_000:
        flush()
if pending:
    flush()
"""

DUCKDB_JOIN = """
import sys, json, duckdb
old, new, key, cols = sys.argv[1], sys.argv[2], json.loads(sys.argv[3]), json.loads(sys.argv[4])
on = " AND ".join(f'o."{k}" = n."{k}"' for k in key)
distinct = " OR ".join(f'o."{c}" IS DISTINCT FROM n."{c}"' for c in cols if c not in key)
k0 = key[0]
q = (f'SELECT count(*) FILTER (WHERE o."{k0}" IS NULL), count(*) FILTER (WHERE n."{k0}" IS NULL), '
     f'count(*) FILTER (WHERE o."{k0}" IS NOT NULL AND n."{k0}" IS NOT NULL AND ({distinct})) '
     f"FROM read_parquet('{old}') o FULL OUTER JOIN read_parquet('{new}') n ON {on}")
duckdb.sql("SET enable_progress_bar = false")
print(json.dumps(duckdb.sql(q).fetchall()[0]))
"""


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


class Dvtool:
    """Runs the dvtool CLI as a whole process (``python -m dvtool``), optionally from another source tree."""

    def __init__(self, src: Path | None) -> None:
        self.env = dict(os.environ, DVTOOL_NO_STAT_CACHE="1")
        if src is not None:
            self.env["PYTHONPATH"] = str(src)

    def argv(self, repo: Path, *args: str) -> list[str]:
        return [sys.executable, "-m", "dvtool", "--repo", str(repo), "-q", *args]

    def snapshot(self, repo: Path, src: Path, dataset: str, key: Sequence[str]) -> list[str]:
        keys = [a for k in key for a in ("--key", k)]
        return self.argv(repo, "snapshot", str(src), "-d", dataset, *keys)

    def init(self, repo: Path) -> None:
        if repo.exists():
            shutil.rmtree(repo)
        subprocess.run([sys.executable, "-m", "dvtool", "-q", "init", str(repo)], env=self.env, check=True,
                       capture_output=True)

    def run(self, argv: Sequence[str]) -> dict[str, Any]:
        return timed(argv, self.env)


def timed(argv: Sequence[str], env: dict[str, str] | None = None) -> dict[str, Any]:
    """Wall time of a whole process and its peak RSS; its stdout."""
    t = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    out, err = proc.communicate()
    seconds = time.perf_counter() - t
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(argv[:6])} … exited {proc.returncode}: {err.decode()[-300:]}")
    return {"seconds": seconds, "stdout": out.decode()}


def _link_copy(src: Path, dst: Path) -> None:
    if dst.exists():
        shutil.rmtree(dst)
    shutil.copytree(src, dst, copy_function=os.link)


def _median(values: list[float]) -> str:
    return f"{statistics.median(values):.3f} ({min(values):.3f}–{max(values):.3f})"


def speed(dv: Dvtool, paths: dict[str, Path], work: Path, repeat: int) -> list[str]:
    """Snapshot / append / diff of the wide table, whole processes, interleaved."""
    times: dict[str, list[float]] = {k: [] for k in ("snap", "plain", "append", "diff", "join")}
    base = work / "base"
    dv.init(base)
    dv.run(dv.snapshot(base, paths["A"], "w", KEY))
    appended = work / "appended"
    _link_copy(base, appended)
    dv.run(dv.snapshot(appended, paths["C"], "w", KEY))
    diff_out = join_out = ""
    for r in range(repeat):
        steps = ["snap", "plain", "append", "diff", "join"]
        k = r % len(steps)
        for step in steps[k:] + steps[:k]:
            if step == "snap":
                dv.init(work / "snap")
                times[step].append(dv.run(dv.snapshot(work / "snap", paths["A"], "w", KEY))["seconds"])
            elif step == "plain":
                shutil.rmtree(work / "plain", ignore_errors=True)
                argv = [sys.executable, "-c", PLAIN_WRITE, str(paths["A"]), str(work / "plain")]
                times[step].append(timed(argv)["seconds"])
            elif step == "append":
                _link_copy(base, work / "append")
                times[step].append(dv.run(dv.snapshot(work / "append", paths["C"], "w", KEY))["seconds"])
            elif step == "diff":
                res = dv.run(dv.argv(appended, "diff", "w@v1", "w@v2", "--format", "json"))
                times[step].append(res["seconds"])
                diff_out = res["stdout"]
            else:
                argv = [sys.executable, "-c", DUCKDB_JOIN, str(paths["A"]), str(paths["C"]), json.dumps(KEY),
                        json.dumps(COLUMNS)]
                res = timed(argv)
                times[step].append(res["seconds"])
                join_out = res["stdout"]
            log(f"  wide {step}: {times[step][-1]:.3f} s")
    med = {k: statistics.median(v) for k, v in times.items()}
    counts = json.loads(diff_out)["rows"] if diff_out else {}
    lines = [
        "| case (whole processes) | dvtool: s (min–max) | compared with | its s (min–max) | ratio | goal | met? |",
        "|---|---:|---|---:|---:|---|---|",
    ]

    def row(case: str, ours: str, other: str, theirs: str, goal: float) -> None:
        ratio = med[ours] / med[theirs]
        lines.append(
            f"| {case} | {_median(times[ours])} | {other} | {_median(times[theirs])} | {ratio:.3f} | ≤ {goal}× "
            f"| {'met' if ratio <= goal else '**not met**'} |"
        )

    row("`dvtool snapshot` A", "snap", "Python: pyarrow read + write 1M-row zstd files, one thread", "plain", 0.8)
    row("`dvtool snapshot` C (1% append) onto A", "append", "`dvtool snapshot` A", "snap", 0.25)
    row("`dvtool diff` of that append", "diff", "Python: DuckDB FULL OUTER JOIN A, C", "join", 1.0)
    lines.append("")
    lines.append(f"dvtool diff counts: {json.dumps(counts)}; DuckDB (added, removed, changed): {join_out.strip()}.")
    return lines


def _chunks(dv: Dvtool, repo: Path, dataset: str) -> list[list[dict[str, Any]]]:
    """Chunk lists of every version (read with the dvtool under test, in a subprocess)."""
    code = (
        "import sys, json, dvtool; r = dvtool.Repo.open(sys.argv[1]); "
        "print(json.dumps([[{'object': c.object, 'rows': c.rows, 'bytes': c.bytes} for c in r.get(f'"
        + dataset
        + "@v{e.version}').chunks] for e in reversed(r.log('"
        + dataset
        + "'))]))"
    )
    return list(json.loads(timed([sys.executable, "-c", code, str(repo)], dv.env)["stdout"]))


def monthly(dv: Dvtool, paths: dict[str, Path], work: Path) -> list[str]:
    """12 cumulative monthly versions with the CLI, keyed and keyless."""
    import pyarrow.parquet as pq

    lines = [
        "| 12 cumulative monthly versions | CLI s (all 12) | repository bytes | last version alone | "
        "repository / alone | rows re-written per version (v2…v12) | last version alone / pyarrow default |",
        "|---|---:|---:|---:|---:|---|---:|",
    ]
    last = pq.read_table(paths["month-12"])
    sink = io.BytesIO()
    pq.write_table(last.sort_by([(k, "ascending") for k in KEY]), sink)
    pyarrow_default = len(sink.getvalue())
    for label, key in (("keyed (time_hour, flight)", KEY), ("keyless", [])):
        repo = work / f"monthly-{'keyed' if key else 'keyless'}"
        dv.init(repo)
        seconds = 0.0
        for m in range(1, 13):
            seconds += dv.run(dv.snapshot(repo, paths[f"month-{m:02d}"], "f", key))["seconds"]
        versions = _chunks(dv, repo, "f")
        seen: dict[str, int] = {}
        rewritten = []
        for i, chunks in enumerate(versions):
            new_rows = sum(c["rows"] for c in chunks if c["object"] not in seen)
            if i:
                appended = sum(c["rows"] for c in chunks) - sum(c["rows"] for c in versions[i - 1])
                rewritten.append(new_rows - appended)
            seen.update({c["object"]: c["bytes"] for c in chunks})
        alone = work / f"alone-{'keyed' if key else 'keyless'}"
        dv.init(alone)
        dv.run(dv.snapshot(alone, paths["month-12"], "f", key))
        alone_bytes = sum(c["bytes"] for c in _chunks(dv, alone, "f")[-1])
        repo_bytes = sum(seen.values())
        lines.append(
            f"| {label} | {seconds:.2f} | {repo_bytes / 1e6:.2f} MB | {alone_bytes / 1e6:.2f} MB "
            f"| {repo_bytes / alone_bytes:.3f} | {', '.join(map(str, rewritten))} (total {sum(rewritten):,}) "
            f"| {alone_bytes / pyarrow_default:.3f} ({pyarrow_default / 1e6:.2f} MB) |"
        )
    return lines


def run(rows: int, data: Path, repeat: int, src: Path | None) -> str:
    log(f"wide data: {rows:,} rows in {data}")
    paths = datagen.ensure_wide(data, rows)
    dv = Dvtool(src)
    work = data / "work" / f"wide-{rows}"
    work.mkdir(parents=True, exist_ok=True)
    lines = [f"### Wide table ({len(COLUMNS)} columns, {rows:,} rows; 1% append = {rows // 100:,} rows)", ""]
    lines += speed(dv, paths, work, repeat)
    lines += ["", *monthly(dv, paths, work)]
    shutil.rmtree(work, ignore_errors=True)
    return "\n".join(lines) + "\n"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--rows", type=int, default=3_000_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--data", type=Path, default=HERE / "data")
    ap.add_argument("--dvtool-src", type=Path, default=None, help="run the dvtool package found in this folder")
    args = ap.parse_args()
    print(run(args.rows, args.data, args.repeat, args.dvtool_src))
    return 0


if __name__ == "__main__":
    sys.exit(main())
