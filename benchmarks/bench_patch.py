"""Scattered edits on the wide keyed table: patch bytes, merge-on-read cost, diff from patches.

On the wide, flights-like table (datagen.wide_month, 19 columns, key
``(time_hour, flight)``) of ``--rows`` rows:

* **E** = A with 0.5% of its rows edited at random places: ``dep_delay``
  changed on 0.25%, 0.15% deleted, 0.1% inserted (new flight numbers at
  existing hours). ``dvtool snapshot`` of E onto A writes a patch; reported:
  bytes written against the version's bytes (goal ≤ 2%; Lance's merge_insert
  writes ~1% on the issue's table), and the same snapshot with patches off.
* **Reading** the patched version against the compacted one (``dvtool
  compact``): ``Snapshot.to_arrow()`` and a full-scan ``dvtool query``
  (aggregates over every row). Goal ≤ 1.2x.
* **Diff** of the patched version against its parent (``repo.diff("w@v2")``,
  read from the patches) against DuckDB's FULL OUTER JOIN of A and E with every
  column compared (the baseline of benchmarks/wide.py). Goal ≤ 0.1x. Also
  timed as whole processes (``dvtool diff`` against python + ``import duckdb``
  + the join), where start-up dominates both.
* **The threshold**: the same read ratio for a patch of ~2% and ~8% of the
  rows (under the 10% default, DVTOOL_PATCH_RATIO), to show what a patch
  costs readers just before it is compacted.

Every timing runs in a fresh process and measures the operation inside it
(imports and start-up excluded on both sides); medians of ``--repeat`` runs,
the variants interleaved. Run alone: ``python benchmarks/bench_patch.py
--rows 1000000``; ``make bench`` runs it as the ``patch`` group.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import datagen  # noqa: E402
import wide  # noqa: E402

KEY = list(datagen.WIDE_KEY)
COLUMNS = [f.name for f in datagen.WIDE_SCHEMA]

READ = """
import sys, time, json, dvtool
import pyarrow.parquet, pyarrow.compute, dvtool.readplan  # imports are not the operation
# (pyarrow.compute: the gather that applies a patch imports it, 0.1-0.2 s once per process)
repo = dvtool.Repo.open(sys.argv[1])
snap = repo.get(sys.argv[2])
c = time.process_time(); t = time.perf_counter(); table = snap.to_arrow(); s = time.perf_counter() - t
print(json.dumps({"seconds": s, "cpu": time.process_time() - c, "rows": table.num_rows}))
"""

QUERY = """
import sys, time, json, dvtool
import duckdb, pyarrow.dataset, pyarrow.parquet, dvtool.query  # imports are not the operation
repo = dvtool.Repo.open(sys.argv[1])
sql = sys.argv[2]
c = time.process_time(); t = time.perf_counter(); out = repo.query(sql); s = time.perf_counter() - t
cpu = time.process_time() - c
print(json.dumps({"seconds": s, "cpu": cpu, "result": [str(v) for v in out.to_pylist()[0].values()]}))
"""

# Imports are not the operation: the modules the diff uses, and pandas, which
# pyarrow imports the first time it converts a Python or numpy value (the CLI
# keeps pyarrow from importing it; a library user has usually imported it), and
# pyarrow.pandas_compat, which pyarrow imports to turn zoned timestamps into Python.
DIFF = """
import sys, time, json, dvtool
import duckdb, pandas, pyarrow.compute, pyarrow.pandas_compat, pyarrow.parquet
import dvtool.diff.plan, dvtool.diff.patched, dvtool.diff.arrowdelta
repo = dvtool.Repo.open(sys.argv[1])
t = time.perf_counter(); d = repo.diff(sys.argv[2]); s = time.perf_counter() - t
r = d.rows
print(json.dumps({"seconds": s, "counts": [r.added, r.removed, r.changed]}))
"""

JOIN = wide.DUCKDB_JOIN  # the same peer as the wide table's diff rows

SCAN_SQL = (
    "SELECT count(*), sum(dep_delay), sum(arr_delay), max(distance), min(air_time), "
    'count(DISTINCT carrier), sum(hour) FROM "{ref}"'
)


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DVTOOL_")}
    env.update(DVTOOL_NO_STAT_CACHE="1", DVTOOL_QUIET="1", **extra)
    return env


def _py(code: str, *args: str, env: dict[str, str] | None = None) -> dict[str, Any]:
    proc = subprocess.run(
        [sys.executable, "-c", code, *args],
        capture_output=True,
        text=True,
        env=env or _env(),
        cwd=tempfile.gettempdir(),
    )
    if proc.returncode != 0:
        raise RuntimeError(f"benchmark step failed: {proc.stderr[-500:]}")
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


def _dvtool(repo: Path, *args: str, env: dict[str, str] | None = None) -> dict[str, Any]:
    proc = subprocess.run(
        [sys.executable, "-m", "dvtool", "--repo", str(repo), "-q", *args],
        capture_output=True,
        text=True,
        env=env or _env(),
        cwd=tempfile.gettempdir(),
    )
    if proc.returncode != 0:
        raise RuntimeError(f"dvtool {' '.join(args[:3])} failed: {proc.stderr[-500:]}")
    out: dict[str, Any] = json.loads(proc.stdout) if proc.stdout.strip().startswith("{") else {}
    return out


def _init(repo: Path) -> None:
    subprocess.run(
        [sys.executable, "-m", "dvtool", "-q", "init", str(repo)],
        capture_output=True,
        env=_env(),
        cwd=tempfile.gettempdir(),
        check=True,
    )


def edit(a: pa.Table, share: float, seed: int) -> pa.Table:
    """``share`` of the rows edited at random places: half changed, 30% deleted, 20% inserted."""
    rng = np.random.default_rng(seed)
    n = a.num_rows
    touched = int(n * share)
    changed, deleted, inserted = touched // 2, touched * 3 // 10, touched // 5
    picks = rng.choice(n, changed + deleted, replace=False)
    hit = np.zeros(n, bool)
    hit[picks[:changed]] = True
    old = a.column("dep_delay")
    delay = pc.if_else(
        pa.array(hit), pc.add(pc.fill_null(old, 0.0), 7.0), old
    )  # nulls elsewhere stay nulls
    out = a.set_column(a.schema.get_field_index("dep_delay"), "dep_delay", delay)
    keep = np.ones(n, bool)
    keep[picks[changed:]] = False
    new_rows = a.take(pa.array(rng.choice(n, inserted, replace=False)))
    flight = pc.add(
        new_rows.column("flight"), pa.scalar(9000 + seed, pa.int64())
    )  # flights are 1..8000
    new_rows = new_rows.set_column(new_rows.schema.get_field_index("flight"), "flight", flight)
    return pa.concat_tables([out.filter(pa.array(keep)), new_rows]).sort_by(
        [(k, "ascending") for k in KEY]
    )


def _median(xs: list[float]) -> float:
    return statistics.median(xs)


def run(rows: int, data: Path, repeat: int) -> str:
    """Build the inputs, measure, and return the markdown section."""
    paths = datagen.ensure_wide(data, rows)
    work = data / "work" / f"patch-{rows}"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    a = pq.read_table(paths["A"])
    inputs = {}
    for name, share, seed in (("E", 0.005, 1), ("E2", 0.02, 2), ("E8", 0.08, 3)):
        inputs[name] = work / f"{name}.parquet"
        pq.write_table(edit(a, share, seed), inputs[name])
    del a
    keys = [x for k in KEY for x in ("--key", k)]
    repos: dict[str, Path] = {}
    writes: dict[str, dict[str, Any]] = {}
    for name in inputs:
        repo = repos[name] = work / f"repo-{name}"
        _init(repo)
        log(f"patch: snapshot A and {name}")
        _dvtool(repo, "snapshot", str(paths["A"]), "-d", "w", *keys, "--json")
        writes[name] = _dvtool(repo, "snapshot", str(inputs[name]), "-d", "w", *keys, "--json")
        _dvtool(repo, "compact", "w", "--json")
    # The same 0.5% edit with patches off: what every chunk rewritten costs.
    off = work / "repo-off"
    _init(off)
    _dvtool(off, "snapshot", str(paths["A"]), "-d", "w", *keys, "--json")
    t = time.perf_counter()
    rewrite = _dvtool(
        off,
        "snapshot",
        str(inputs["E"]),
        "-d",
        "w",
        *keys,
        "--json",
        env=_env(DVTOOL_PATCH_RATIO="0"),
    )
    rewrite_s = time.perf_counter() - t
    again = work / "repo-E-again"
    _init(again)
    _dvtool(again, "snapshot", str(paths["A"]), "-d", "w", *keys, "--json")
    t = time.perf_counter()
    _dvtool(again, "snapshot", str(inputs["E"]), "-d", "w", *keys, "--json")
    patch_s = time.perf_counter() - t

    version_bytes = {}
    for name, repo in repos.items():
        show = json.loads(
            subprocess.run(
                [sys.executable, "-m", "dvtool", "--repo", str(repo), "show", "w@v2", "--json"],
                capture_output=True,
                text=True,
                env=_env(),
                cwd=tempfile.gettempdir(),
                check=True,
            ).stdout
        )
        version_bytes[name] = int(show["bytes"])

    times: dict[str, list[float]] = {}
    checks: dict[str, Any] = {}
    steps: list[tuple[str, Any]] = []
    for name, repo in repos.items():
        for ref in ("w@v2", "w@v3"):
            steps.append((f"read {name} {ref}", (READ, str(repo), ref)))
            steps.append((f"query {name} {ref}", (QUERY, str(repo), SCAN_SQL.format(ref=ref))))
    steps.append(("diff E", (DIFF, str(repos["E"]), "w@v2")))
    steps.append(
        ("join E", (JOIN, str(paths["A"]), str(inputs["E"]), json.dumps(KEY), json.dumps(COLUMNS)))
    )
    cpu_times: dict[str, list[float]] = {}
    for round_ in range(repeat):
        log(f"patch: round {round_ + 1} of {repeat}")
        order = steps[round_ % len(steps) :] + steps[: round_ % len(steps)]
        for label, (code, *args) in order:
            res = _py(code, *args)
            times.setdefault(label, []).append(res["seconds"])
            if "cpu" in res:  # CPU time of every thread: less swayed by other jobs than wall time
                cpu_times.setdefault(label, []).append(res["cpu"])
            checks.setdefault(label, res.get("counts") or res.get("result") or res.get("rows"))
    # Whole processes, start-up and imports included: `dvtool diff` against a
    # Python process that imports DuckDB and runs the join.
    whole: dict[str, list[float]] = {"diff": [], "join": []}
    join_args = [str(paths["A"]), str(inputs["E"]), json.dumps(KEY), json.dumps(COLUMNS)]
    for round_ in range(repeat):
        for what in ("diff", "join") if round_ % 2 == 0 else ("join", "diff"):
            cmd = (
                [
                    sys.executable,
                    "-m",
                    "dvtool",
                    "--repo",
                    str(repos["E"]),
                    "diff",
                    "w@v2",
                    "--format",
                    "json",
                ]
                if what == "diff"
                else [sys.executable, "-c", JOIN, *join_args]
            )
            t = time.perf_counter()
            subprocess.run(
                cmd, capture_output=True, env=_env(), cwd=tempfile.gettempdir(), check=True
            )
            whole[what].append(time.perf_counter() - t)
    # Same answers on both sides of each comparison.
    for name in repos:
        assert checks[f"read {name} w@v2"] == checks[f"read {name} w@v3"], name
        assert checks[f"query {name} w@v2"] == checks[f"query {name} w@v3"], name
    assert checks["diff E"] == checks["join E"], (checks["diff E"], checks["join E"])

    def ratio(a: str, b: str) -> float:
        return _median(times[a]) / _median(times[b])

    e = writes["E"]
    lines = [
        f"### Scattered edits: patches (wide table, {rows:,} rows, 19 columns, key time_hour+flight)",
        "",
        f"Command: `python benchmarks/bench_patch.py --rows {rows}` (or `make bench`, group `patch`); "
        f"medians of {repeat} fresh processes, operation time only.",
        "",
        "| case | dvtool | baseline | ratio | goal | met |",
        "|---|---|---|---|---|---|",
    ]
    written = e["bytes_written"] / version_bytes["E"]
    lines.append(
        f"| 0.5% scattered edits: bytes written / version bytes | {e['bytes_written']:,} B "
        f"| {version_bytes['E']:,} B | {written:.2%} | ≤ 2% | {'met' if written <= 0.02 else '**not met**'} |"
    )
    lines.append(
        f"| same edit, patches off (every touched chunk rewritten) | {rewrite['bytes_written']:,} B "
        f"| {version_bytes['E']:,} B | {rewrite['bytes_written'] / version_bytes['E']:.1%} | | |"
    )
    lines.append(
        f"| snapshot time of the edit: patch vs rewrite (whole process) | {patch_s:.2f} s | {rewrite_s:.2f} s "
        f"| {patch_s / rewrite_s:.2f}x | | |"
    )
    for name, label in (("E", "0.5%"), ("E2", "2%"), ("E8", "8%")):
        patch = writes[name].get("patch") or {}
        stored = (
            f"patch of {patch.get('upserts', 0) + patch.get('removed', 0):,} rows"
            if patch
            else "rewritten"
        )
        for what in ("read", "query"):
            r = ratio(f"{what} {name} w@v2", f"{what} {name} w@v3")
            goal = "≤ 1.2x" if name == "E" else "(threshold)"
            met = ("met" if r <= 1.2 else "**not met**") if name == "E" else ""
            lines.append(
                f"| {label} edits ({stored}): {'to_arrow()' if what == 'read' else 'full-scan query'} patched vs compacted "
                f"| {_median(times[f'{what} {name} w@v2']):.3f} s | {_median(times[f'{what} {name} w@v3']):.3f} s "
                f"| {r:.2f}x | {goal} | {met} |"
            )
            cp, cc = (_median(cpu_times[f"{what} {name} {ref}"]) for ref in ("w@v2", "w@v3"))
            lines.append(
                f"| same, CPU time of all threads | {cp:.3f} s | {cc:.3f} s | {cp / cc:.2f}x | | |"
            )
    r = ratio("diff E", "join E")
    lines.append(
        f"| diff of the patched version vs its parent, against DuckDB FULL OUTER JOIN | {_median(times['diff E']):.3f} s "
        f"| {_median(times['join E']):.3f} s | {r:.3f}x | ≤ 0.1x | {'met' if r <= 0.1 else '**not met**'} |"
    )
    d, j = _median(whole["diff"]), _median(whole["join"])
    lines.append(
        f"| same diff, whole processes: `dvtool diff w@v2 --format json` vs python + import duckdb + join | {d:.3f} s "
        f"| {j:.3f} s | {d / j:.3f}x | | |"
    )
    return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--data", type=Path, default=HERE / "data")
    args = ap.parse_args()
    print(run(args.rows, args.data, args.repeat))
    return 0


if __name__ == "__main__":
    sys.exit(main())
