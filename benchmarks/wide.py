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
import tempfile
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

# The peer of every keyed diff of the wide table (here and in bench_patch.py): DuckDB's
# FULL OUTER JOIN of two Parquet files, every non-key column compared. Prints the
# join's own span (for "operation only" rows) and the (added, removed, changed) counts.
DUCKDB_JOIN = """
import sys, json, time, duckdb
old, new, key, cols = sys.argv[1], sys.argv[2], json.loads(sys.argv[3]), json.loads(sys.argv[4])
on = " AND ".join(f'o."{k}" = n."{k}"' for k in key)
distinct = " OR ".join(f'o."{c}" IS DISTINCT FROM n."{c}"' for c in cols if c not in key)
k0 = key[0]
q = (f'SELECT count(*) FILTER (WHERE o."{k0}" IS NULL), count(*) FILTER (WHERE n."{k0}" IS NULL), '
     f'count(*) FILTER (WHERE o."{k0}" IS NOT NULL AND n."{k0}" IS NOT NULL AND ({distinct})) '
     f"FROM read_parquet('{old}') o FULL OUTER JOIN read_parquet('{new}') n ON {on}")
con = duckdb.connect()
con.sql("SET enable_progress_bar = false")
t = time.perf_counter(); counts = con.sql(q).fetchall()[0]; s = time.perf_counter() - t
print(json.dumps({"seconds": s, "counts": list(counts)}))
"""


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


class Dvtool:
    """Runs the dvtool CLI as a whole process (``python -m dvtool``), optionally from another source tree."""

    def __init__(self, src: Path | None, cache: Path) -> None:
        # A stat cache of its own (an append onto the base repository may resume
        # where the base's snapshot of A ended; nothing else is ever unchanged).
        self.env = dict(os.environ, DVTOOL_CACHE_DIR=str(cache))
        self.env.pop("DVTOOL_NO_STAT_CACHE", None)
        if src is not None:
            self.env["PYTHONPATH"] = str(src)
        # dvtool's modules byte-compiled once, as an installed package's are (pip
        # compiles them; pyarrow's, used by the baselines, are): with
        # PYTHONDONTWRITEBYTECODE set, every process would compile dvtool's
        # source again. The bytecode goes to a folder of its own, never into
        # the source tree.
        self.env.pop("PYTHONDONTWRITEBYTECODE", None)
        self.env["PYTHONPYCACHEPREFIX"] = str(cache.parent / f"{cache.name}-pycache")
        package = subprocess.run(
            [sys.executable, "-c", "import dvtool, os; print(os.path.dirname(dvtool.__file__))"],
            env=self.env,
            check=True,
            capture_output=True,
            text=True,
            cwd=tempfile.gettempdir(),
        ).stdout.strip()
        subprocess.run(
            [sys.executable, "-m", "compileall", "-q", package],
            env=self.env,
            check=True,
            capture_output=True,
            cwd=tempfile.gettempdir(),
        )

    def argv(self, repo: Path, *args: str) -> list[str]:
        return [sys.executable, "-m", "dvtool", "--repo", str(repo), "-q", *args]

    def snapshot(self, repo: Path, src: Path, dataset: str, key: Sequence[str]) -> list[str]:
        keys = [a for k in key for a in ("--key", k)]
        return self.argv(repo, "snapshot", str(src), "-d", dataset, *keys)

    def init(self, repo: Path) -> None:
        if repo.exists():
            shutil.rmtree(repo)
        subprocess.run(
            [sys.executable, "-m", "dvtool", "-q", "init", str(repo)],
            env=self.env,
            check=True,
            capture_output=True,
            cwd=tempfile.gettempdir(),
        )

    def run(self, argv: Sequence[str]) -> dict[str, Any]:
        return timed(argv, self.env)


def timed(argv: Sequence[str], env: dict[str, str] | None = None) -> dict[str, Any]:
    """Wall time and CPU time (user + system) of a whole process; its stdout."""
    import resource

    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    # Not from this folder: ``python -m`` would import a dvtool/ found in the current directory first.
    proc = subprocess.Popen(
        argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, cwd=tempfile.gettempdir()
    )
    out, err = proc.communicate()
    seconds = time.perf_counter() - t
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if proc.returncode != 0:
        raise RuntimeError(
            f"{' '.join(argv[:6])} … exited {proc.returncode}: {err.decode()[-300:]}"
        )
    return {"seconds": seconds, "cpu": cpu, "stdout": out.decode()}


def _link_copy(src: Path, dst: Path) -> None:
    if dst.exists():
        shutil.rmtree(dst)
    shutil.copytree(src, dst, copy_function=os.link)


def _median(values: list[float]) -> str:
    return f"{statistics.median(values):.3f} ({min(values):.3f}–{max(values):.3f})"


def speed(
    variants: dict[str, Dvtool], paths: dict[str, Path], work: Path, repeat: int
) -> list[str]:
    """Snapshot / append / diff of the wide table for each dvtool, and the baselines; whole processes, interleaved."""
    times: dict[str, list[float]] = {"plain": [], "join": []}
    cpu: dict[str, list[float]] = {"plain": [], "join": []}
    steps: list[tuple[str, str]] = [("", "plain"), ("", "join")]
    for name, dv in variants.items():
        base = work / f"{name}-base"
        dv.init(base)
        dv.run(dv.snapshot(base, paths["A"], "w", KEY))
        _link_copy(base, work / f"{name}-appended")
        dv.run(dv.snapshot(work / f"{name}-appended", paths["C"], "w", KEY))
        for step in ("snap", "append", "diff"):
            times[f"{name} {step}".strip()] = []
            cpu[f"{name} {step}".strip()] = []
            steps.append((name, step))
    outputs: dict[str, str] = {}
    for r in range(repeat):
        k = r % len(steps)
        for name, step in steps[k:] + steps[:k]:
            dv = variants[name] if name else next(iter(variants.values()))
            if step == "plain":
                shutil.rmtree(work / "plain", ignore_errors=True)
                res = timed(
                    [sys.executable, "-c", PLAIN_WRITE, str(paths["A"]), str(work / "plain")]
                )
            elif step == "join":
                res = timed(
                    [
                        sys.executable,
                        "-c",
                        DUCKDB_JOIN,
                        str(paths["A"]),
                        str(paths["C"]),
                        json.dumps(KEY),
                        json.dumps(COLUMNS),
                    ]
                )
            elif step == "snap":
                dv.init(work / f"{name}-snap")
                res = dv.run(dv.snapshot(work / f"{name}-snap", paths["A"], "w", KEY))
            elif step == "append":
                _link_copy(work / f"{name}-base", work / f"{name}-append")
                res = dv.run(dv.snapshot(work / f"{name}-append", paths["C"], "w", KEY))
            else:
                res = dv.run(
                    dv.argv(work / f"{name}-appended", "diff", "w@v1", "w@v2", "--format", "json")
                )
            label = f"{name} {step}".strip()
            times[label].append(res["seconds"])
            cpu[label].append(res["cpu"])
            outputs[label] = res["stdout"]
            log(f"  wide {label}: {res['seconds']:.3f} s (CPU {res['cpu']:.3f} s)")
    lines = [
        "| case (whole processes) | dvtool: s (min–max) | compared with | its s (min–max) | ratio | goal | met? |",
        "|---|---:|---|---:|---:|---|---|",
    ]

    def row(case: str, ours: str, other: str, theirs: str, goal: float) -> None:
        ratio = statistics.median(times[ours]) / statistics.median(times[theirs])
        lines.append(
            f"| {case} | {_median(times[ours])} | {other} | {_median(times[theirs])} | {ratio:.3f} | ≤ {goal}× "
            f"| {'met' if ratio <= goal else '**not met**'} |"
        )

    plain = "Python: pyarrow read + write 1M-row zstd files, one thread"
    for name in variants:
        tag = f" ({name})" if len(variants) > 1 else ""
        snap, append, diff = (f"{name} {step}".strip() for step in ("snap", "append", "diff"))
        row(f"`dvtool snapshot` A{tag}", snap, plain, "plain", 0.8)
        row(
            f"`dvtool snapshot` C (1% append) onto A{tag}",
            append,
            f"`dvtool snapshot` A{tag}",
            snap,
            0.25,
        )
        row(
            f"`dvtool diff` of that append{tag}",
            diff,
            "Python: DuckDB FULL OUTER JOIN A, C",
            "join",
            1.0,
        )
    lines.append("")
    for name in variants:
        diff_out = outputs.get(f"{name} diff".strip(), "")
        counts = json.loads(diff_out)["rows"] if diff_out else {}
        tag = f" ({name})" if name else ""
        lines.append(f"- dvtool{tag} diff counts: {json.dumps(counts)}")
    join_out = outputs.get("join", "")
    join_counts = json.loads(join_out)["counts"] if join_out else []
    lines.append(f"- DuckDB (added, removed, changed): {join_counts}")
    lines.append(
        "- CPU time (user + system) of the same processes, median s: "
        + ", ".join(f"{label or 'dvtool'} {statistics.median(v):.3f}" for label, v in cpu.items())
        + f"; load average {' / '.join(f'{x:.1f}' for x in os.getloadavg())} at the end"
    )
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


def monthly(variants: dict[str, Dvtool], paths: dict[str, Path], work: Path) -> list[str]:
    """12 cumulative monthly versions with the CLI, keyed and keyless, for each dvtool."""
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
    cases = [(name, dv, key) for name, dv in variants.items() for key in (KEY, [])]
    for name, dv, key in cases:
        label = ("keyed (time_hour, flight)" if key else "keyless") + (
            f", {name}" if len(variants) > 1 else ""
        )
        repo = work / f"monthly-{name}-{'keyed' if key else 'keyless'}"
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
        alone = work / f"alone-{name}-{'keyed' if key else 'keyless'}"
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


def run(
    rows: int,
    data: Path,
    repeat: int,
    src: Path | None = None,
    before: Path | None = None,
    monthly_too: bool = True,
) -> str:
    """The wide group's markdown; ``before``: also measure the dvtool in that folder, interleaved.

    ``src`` defaults to this checkout (the folder above ``benchmarks/``).
    """
    if src is None and (HERE.parent / "dvtool" / "__init__.py").exists():
        src = HERE.parent
    log(f"wide data: {rows:,} rows in {data}")
    paths = datagen.ensure_wide(data, rows)
    work = data / "work" / f"wide-{rows}"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True, exist_ok=True)
    if before is not None:
        variants = {
            "after": Dvtool(src, work / "cache-after"),
            "before": Dvtool(before, work / "cache-before"),
        }
    else:
        variants = {"": Dvtool(src, work / "cache")}
    lines = [
        f"### Wide table ({len(COLUMNS)} columns, {rows:,} rows; 1% append = {rows // 100:,} rows)",
        "",
    ]
    lines += speed(variants, paths, work, repeat)
    if monthly_too:
        lines += ["", *monthly(variants, paths, work)]
    shutil.rmtree(work, ignore_errors=True)
    return "\n".join(lines) + "\n"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--rows", type=int, default=3_000_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--data", type=Path, default=HERE / "data")
    ap.add_argument(
        "--dvtool-src", type=Path, default=None, help="run the dvtool package found in this folder"
    )
    ap.add_argument(
        "--before",
        type=Path,
        default=None,
        help="also run the dvtool package in this folder (e.g. an older checkout), interleaved",
    )
    ap.add_argument(
        "--speed-only", action="store_true", help="skip the 12 monthly versions scenario"
    )
    args = ap.parse_args()
    print(
        run(
            args.rows,
            args.data,
            args.repeat,
            args.dvtool_src,
            args.before,
            monthly_too=not args.speed_only,
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
