"""dvtool against its peers and its speed and memory goals, in one run: ``make bench [ROWS=N]``.

1. Builds the synthetic data (datagen.py) as Parquet in benchmarks/data/<rows>/:
   A (base), B (1% scattered edits), C (1% append); the same at 1M rows for the
   datacompy case and at ``--memory-factor`` x rows for the memory case.
2. Builds the peers' virtual environments (peers.py); a peer that cannot be
   installed is reported as such and the run goes on.
3. Sets up repositories (benchmarks/data/work/<rows>/), then runs every case
   ``--repeat`` times, A/B interleaved (the order rotates each round), each
   measurement in a fresh process (cases.py), and takes medians.
4. Writes a markdown table (medians, ratios, goals, met or not, machine
   description) to benchmarks/results/<date>-<rows>.md and prints it.

Nothing here asserts a timing; the tests never run it.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import bench_patch  # noqa: E402
import datagen  # noqa: E402
import peers  # noqa: E402
import wide  # noqa: E402

CASES = HERE / "cases.py"
SCHEMA = HERE / "schema.yaml"
KEY = ["id"]
COLUMNS = [f.name for f in datagen.SCHEMA]
DVTOOL = Path(sys.executable).with_name("dvtool")


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


# ---- running measurements ---------------------------------------------------------


@dataclass
class Runs:
    """The measurements of one variant (one row of the table)."""

    label: str
    results: list[dict[str, Any]] = field(default_factory=list)
    error: str = ""

    @property
    def ok(self) -> bool:
        return bool(self.results) and not self.error

    def median(self, what: str = "seconds") -> float:
        return statistics.median(float(r[what]) for r in self.results)

    def spread(self, what: str = "seconds") -> tuple[float, float]:
        values = [float(r[what]) for r in self.results]
        return min(values), max(values)

    def first(self, what: str) -> Any:
        return self.results[0].get(what) if self.results else None


def run_task(
    python: Path | str, task: str, params: dict[str, Any], timeout: float = 3600
) -> dict[str, Any]:
    done = subprocess.run(
        [str(python), str(CASES), task, json.dumps(params)],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if done.returncode != 0:
        tail = (done.stderr.strip().splitlines() or ["(no output)"])[-1]
        raise RuntimeError(f"{task} exited {done.returncode}: {tail[:300]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


@dataclass
class Variant:
    runs: Runs
    python: Path | str | None  # None: its environment could not be built
    task: str
    params: dict[str, Any]


def interleave(variants: Sequence[Variant], repeat: int) -> None:
    """Run every variant ``repeat`` times, rotating the order each round (A/B interleaving)."""
    for v in variants:
        if v.python is None and not v.runs.error:
            v.runs.error = "not installed"
    for r in range(repeat):
        k = r % len(variants)
        for v in [*variants[k:], *variants[:k]]:
            if v.runs.error:
                continue
            assert v.python is not None
            try:
                out = run_task(v.python, v.task, v.params)
            except (RuntimeError, subprocess.TimeoutExpired, json.JSONDecodeError) as exc:
                v.runs.error = str(exc)
                log(f"  {v.runs.label}: FAILED {exc}")
                continue
            v.runs.results.append(out)
            log(f"  {v.runs.label}: {out['seconds']:.3f} s, peak {out['peak_rss_mb']:.0f} MB")


def time_command(cmd: Sequence[str], cwd: Path | None = None) -> dict[str, Any]:
    """Wall time of a whole process, and its peak RSS (from wait4's rusage)."""
    t = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - t
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} exited {proc.returncode}")
    return {"seconds": seconds, "peak_rss_mb": usage.ru_maxrss / 1024}


# ---- set-up -----------------------------------------------------------------------


def build_repo(path: Path, steps: Sequence[tuple[str, Any]], base: Path | None = None) -> None:
    """Make a repository by snapshots (``("snap", parquet)``) and validations (``("validate", ref)``)."""
    marker = path / ".bench-ready"
    stamp = f"{datagen.GENERATOR} dvtool {_version('dvtool')}"
    if marker.exists() and marker.read_text() == stamp:
        return
    if path.exists():
        shutil.rmtree(path)
    import dvtool

    if base is not None:
        shutil.copytree(base, path, copy_function=os.link)
        repo = dvtool.Repo.open(str(path))
    else:
        repo = dvtool.Repo.init(str(path))
    for what, arg in steps:
        if what == "snap":
            repo.snapshot(str(arg), dataset="d", key=KEY)
        else:
            repo.validate(arg, schema=str(SCHEMA))
    marker.write_text(stamp)


def chunk_rows(repo: Path) -> list[int]:
    import dvtool

    return [c.rows for c in dvtool.Repo.open(str(repo)).get("d@v1").chunks]


# ---- the report -------------------------------------------------------------------


@dataclass
class Row:
    case: str
    ours: Runs
    other: Runs | None
    goal: str
    check: Callable[[float], bool] | None  # on the ratio ours/other
    what: str = "seconds"
    note: str = ""


def fmt_s(runs: Runs | None, what: str = "seconds") -> str:
    if runs is None:
        return ""
    if not runs.ok:
        return f"n/a ({runs.error})" if runs.error else "n/a"
    lo, hi = runs.spread(what)
    unit = " MB" if what == "peak_rss_mb" else ""
    prec = 0 if what == "peak_rss_mb" else 3
    return f"{runs.median(what):.{prec}f}{unit} ({lo:.{prec}f}–{hi:.{prec}f})"


def verdict(row: Row) -> tuple[str, str]:
    if row.check is None:
        return "", ""
    if not row.ours.ok or (row.other is not None and not row.other.ok):
        return "n/a", "not measured"
    if row.other is None:  # an absolute goal
        value = row.ours.median(row.what)
        return (
            f"{value:.0f} MB" if row.what == "peak_rss_mb" else f"{value:.3f}",
            "met" if row.check(value) else "**not met**",
        )
    ratio = row.ours.median(row.what) / row.other.median(row.what)
    return f"{ratio:.3f}", "met" if row.check(ratio) else "**not met**"


def machine(rows: int, load: tuple[float, float, float], git_state: str) -> list[str]:
    cpu = "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    names = ("dvtool", "pyarrow", "pandas", "polars", "pandera", "duckdb", "numpy")
    libs = [f"{name} {_version(name)}" for name in names]
    lines = [
        f"- date: {dt.datetime.now().astimezone().isoformat(timespec='seconds')}; dvtool at {git_state}",
        f"- machine: {cpu}, {os.cpu_count()} cores, {mem:.1f} GiB RAM, {platform.platform()}",
        f"- Python {platform.python_version()}; {', '.join(libs)}",
        f"- rows: {rows:,}; load average at start (1/5/15 min): {load[0]:.2f} / {load[1]:.2f} / {load[2]:.2f}",
    ]
    if load[0] > (os.cpu_count() or 1) * 0.5:
        lines.append(
            "- **the machine was busy**: the load average at the start was above half the core count, "
            "so other processes were running; absolute times are noisy, ratios less so (A/B interleaved)."
        )
    return lines


# ---- main -------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--rows", type=int, default=int(os.environ.get("ROWS", 10_000_000)))
    ap.add_argument("--repeat", type=int, default=int(os.environ.get("REPEAT", 3)))
    ap.add_argument(
        "--memory-factor", type=int, default=4, help="memory case: rows vs this many times rows"
    )
    ap.add_argument(
        "--skip",
        default="",
        help="comma-separated groups to skip: snapshot,diff,compare,report,validate,memory,startup,wide,patch",
    )
    ap.add_argument("--data", type=Path, default=HERE / "data")
    ap.add_argument(
        "--fresh-setup",
        action="store_true",
        help="rebuild the set-up repositories (they are kept between runs of the same dvtool version)",
    )
    ap.add_argument("--results", type=Path, default=HERE / "results")
    ap.add_argument(
        "--wide-rows", type=int, default=3_000_000, help="rows of the wide (19-column) table"
    )
    ap.add_argument(
        "--patch-rows",
        type=int,
        default=1_000_000,
        help="rows of the wide table for scattered edits",
    )
    args = ap.parse_args(argv)
    skip = {s.strip() for s in args.skip.split(",") if s.strip()}
    rows, repeat = args.rows, args.repeat
    load = os.getloadavg()
    git_state = _git_state()
    started = time.perf_counter()

    log(f"data: {rows:,} rows in {args.data}")
    data = datagen.ensure(args.data, rows)
    cmp_rows = min(rows, 1_000_000)
    cmp_data = datagen.ensure(args.data, cmp_rows, ("A", "B")) if cmp_rows != rows else data
    big_rows = rows * args.memory_factor

    log("peer environments")
    envlog = args.data / "peer-install.log"
    env_peers = peers.ensure(".venv-peers", envlog)
    env_dc = peers.ensure(".venv-datacompy", envlog)
    for env in (env_peers, env_dc):
        if env.python is None:
            log(f"  {env.name}: could not be installed: {env.error}")

    if args.fresh_setup:
        shutil.rmtree(args.data / "work", ignore_errors=True)
    work = args.data / "work" / str(rows)
    work.mkdir(parents=True, exist_ok=True)
    tmp = work / "tmp"
    log("set-up repositories")
    base = work / "base"  # d@v1 = A
    build_repo(base, [("snap", data["A"])])
    scattered = work / "scattered"  # d@v1 = A, d@v2 = B
    build_repo(scattered, [("snap", data["B"])], base=base)
    appended = work / "appended"  # d@v1 = A (validated), d@v2 = C
    build_repo(appended, [("validate", "d@v1"), ("snap", data["C"])], base=base)
    rows_per_chunk = chunk_rows(base)
    me = sys.executable

    def v(label: str, task: str, params: dict[str, Any], python: Path | str | None = me) -> Variant:
        return Variant(Runs(label), python, task, params)

    table: list[Row] = []
    mem_rows: list[tuple[str, Runs, Runs]] = []
    notes: list[str] = []

    # -- snapshot, re-snapshot, append, and the writers it is compared with
    if "snapshot" not in skip:
        log("case: snapshot")
        snap = v(
            "dvtool snapshot A",
            "dvtool_snapshot",
            {
                "src": str(data["A"]),
                "repo": str(tmp / "snap"),
                "dataset": "d",
                "key": KEY,
                "fresh": True,
            },
        )
        pa_w = v(
            "pyarrow read + write same chunks",
            "pyarrow_chunked",
            {"src": str(data["A"]), "out": str(tmp / "pyarrow"), "chunk_rows": rows_per_chunk},
        )
        delta = v(
            "deltalake.write_deltalake",
            "delta_write",
            {"src": str(data["A"]), "out": str(tmp / "delta")},
            env_peers.python,
        )
        lance = v(
            "lance.write_dataset",
            "lance_write",
            {"src": str(data["A"]), "out": str(tmp / "lance")},
            env_peers.python,
        )
        if env_peers.python is None:
            delta.runs.error = lance.runs.error = f"not installed: {env_peers.error}"
        again = v(
            "dvtool re-snapshot A (unchanged)",
            "dvtool_snapshot",
            {"src": str(data["A"]), "repo": str(base), "dataset": "d", "key": KEY},
        )
        append = v(
            "dvtool snapshot C (1% append) onto A",
            "dvtool_snapshot",
            {
                "src": str(data["C"]),
                "repo": str(tmp / "append"),
                "base": str(base),
                "dataset": "d",
                "key": KEY,
            },
        )
        interleave([snap, pa_w, delta, lance, again, append], repeat)
        table += [
            Row(
                f"snapshot {rows:,} rows from Parquet",
                snap.runs,
                pa_w.runs,
                "≤ 1.15×",
                lambda r: r <= 1.15,
            ),
            Row("the same", snap.runs, delta.runs, "< 1× (faster)", lambda r: r < 1),
            Row("the same", snap.runs, lance.runs, "< 1× (faster)", lambda r: r < 1),
            Row("re-snapshot, unchanged", again.runs, snap.runs, "≤ 0.2×", lambda r: r <= 0.2),
            Row("snapshot after 1% append", append.runs, snap.runs, "≤ 0.25×", lambda r: r <= 0.25),
        ]
        if again.runs.ok and not all(r["unchanged"] for r in again.runs.results):
            notes.append(
                "**The re-snapshot of unchanged data committed a new version** (expected: unchanged)."
            )
        if append.runs.ok and snap.runs.ok:
            new_b, all_b = append.runs.first("bytes_written"), snap.runs.first("bytes_written")
            share = new_b / all_b
            table.append(
                Row(
                    "snapshot after 1% append: new bytes",
                    append.runs,
                    None,
                    "≤ 2% of first",
                    None,
                    note=f"{new_b / 1e6:.2f} MB of {all_b / 1e6:.1f} MB = {share:.2%}: "
                    f"{'met' if share <= 0.02 else '**not met**'}",
                )
            )
            notes.append(
                f"Bytes: dvtool wrote {all_b / 1e6:.1f} MB in {snap.runs.first('chunks')} chunks; "
                f"pyarrow {_mb(pa_w.runs, 'bytes')}; deltalake {_mb(delta.runs, 'bytes')}; lance {_mb(lance.runs, 'bytes')}. "
                f"Append: {append.runs.first('new_chunks')} new chunks of {append.runs.first('chunks')}."
            )
        mem_rows.append(("snapshot", snap.runs, Runs("")))

    # -- keyed diffs
    if "diff" not in skip:
        log("case: diff")
        d_app = v(
            "dvtool diff A→C (1% append)",
            "dvtool_diff",
            {"repo": str(appended), "old": "d@v1", "new": "d@v2", "key": KEY},
        )
        j_app = v(
            "DuckDB FULL OUTER JOIN A, C",
            "duckdb_join",
            {"old": str(data["A"]), "new": str(data["C"]), "key": KEY, "columns": COLUMNS},
        )
        d_sc = v(
            "dvtool diff A→B (1% scattered)",
            "dvtool_diff",
            {"repo": str(scattered), "old": "d@v1", "new": "d@v2", "key": KEY},
        )
        j_sc = v(
            "DuckDB FULL OUTER JOIN A, B",
            "duckdb_join",
            {"old": str(data["A"]), "new": str(data["B"]), "key": KEY, "columns": COLUMNS},
        )
        interleave([d_app, j_app, d_sc, j_sc], repeat)
        table += [
            Row("keyed diff, 1% append", d_app.runs, j_app.runs, "≤ 0.1×", lambda r: r <= 0.1),
            Row(
                "keyed diff, 1% scattered edits", d_sc.runs, j_sc.runs, "≤ 1.2×", lambda r: r <= 1.2
            ),
            Row(
                "the same: peak memory (whole process, MB)",
                d_sc.runs,
                None,
                "≤ 500 MB",
                lambda mb: mb <= 500,
                what="peak_rss_mb",
            ),
        ]
        for d, j in ((d_app, j_app), (d_sc, j_sc)):
            if d.runs.ok and j.runs.ok:
                same = all(
                    d.runs.first(k) == j.runs.first(k) for k in ("added", "removed", "changed")
                )
                notes.append(
                    f"{d.runs.label}: added/removed/changed = {d.runs.first('added')}/{d.runs.first('removed')}/"
                    f"{d.runs.first('changed')}; DuckDB {'agrees' if same else 'DISAGREES: ' + str(j.runs.results[0])}. "
                    f"Peak RSS: dvtool {d.runs.median('peak_rss_mb'):.0f} MB, DuckDB {j.runs.median('peak_rss_mb'):.0f} MB."
                )
        mem_rows.append(("diff (scattered)", d_sc.runs, Runs("")))

    # -- keyed diff at 1M rows against datacompy
    if "compare" not in skip:
        log(f"case: diff {cmp_rows:,} rows vs datacompy")
        cmp_repo = work / f"compare-{cmp_rows}"
        if cmp_rows == rows:
            cmp_repo = scattered
        else:
            cmp_base = args.data / "work" / str(cmp_rows) / "base"
            build_repo(cmp_base, [("snap", cmp_data["A"])])
            build_repo(cmp_repo, [("snap", cmp_data["B"])], base=cmp_base)
        files = {"old": str(cmp_data["A"]), "new": str(cmp_data["B"]), "key": KEY}
        d1 = v(
            f"dvtool diff {cmp_rows:,} rows (scattered)",
            "dvtool_diff",
            {"repo": str(cmp_repo), "old": "d@v1", "new": "d@v2", "key": KEY},
        )
        dcp = v("datacompy.PandasCompare", "datacompy_pandas", files, env_dc.python)
        dcl = v("datacompy.PolarsCompare", "datacompy_polars", files, env_dc.python)
        if env_dc.python is None:
            dcp.runs.error = dcl.runs.error = f"not installed: {env_dc.error}"
        interleave([d1, dcp, dcl], repeat)
        table += [
            Row(
                f"keyed diff, {cmp_rows:,} rows",
                d1.runs,
                dcp.runs,
                "≤ 0.2× (≥ 5× faster)",
                lambda r: r <= 0.2,
            ),
            Row("the same", d1.runs, dcl.runs, "≤ 0.2× (≥ 5× faster)", lambda r: r <= 0.2),
        ]
        notes.append(
            "datacompy times are the compare only: both frames are loaded before the timer starts."
        )

    # -- the reviewer's report at 1M rows against datacompy's report
    if "report" not in skip:
        log(f"case: review report {cmp_rows:,} rows vs datacompy's report")
        cmp_repo = scattered if cmp_rows == rows else work / f"compare-{cmp_rows}"
        if cmp_rows != rows:
            cmp_base = args.data / "work" / str(cmp_rows) / "base"
            build_repo(cmp_base, [("snap", cmp_data["A"])])
            build_repo(cmp_repo, [("snap", cmp_data["B"])], base=cmp_base)
        rep = {"repo": str(cmp_repo), "old": "d@v1", "new": "d@v2", "key": KEY}
        r_cold = v(
            f"dvtool diff --stats --format html, {cmp_rows:,} rows (cold stats cache)",
            "dvtool_report",
            {**rep, "work": str(tmp / "report-cold")},
        )
        r_old = v(
            "the same, the old version's chunk profiles cached",
            "dvtool_report",
            {**rep, "work": str(tmp / "report-old"), "warm": "old"},
        )
        r_warm = v(
            "the same, chunk profiles cached",
            "dvtool_report",
            {**rep, "work": str(tmp / "report-warm"), "warm": True},
        )
        dcr = v(
            "datacompy PandasCompare + report(html_file=…)",
            "datacompy_report",
            {
                "old": str(cmp_data["A"]),
                "new": str(cmp_data["B"]),
                "key": KEY,
                "work": str(tmp / "report-datacompy"),
            },
            env_dc.python,
        )
        if env_dc.python is None:
            dcr.runs.error = f"not installed: {env_dc.error}"
        interleave([r_cold, r_old, r_warm, dcr], repeat)
        table += [
            Row(
                f"review report, {cmp_rows:,} rows",
                r_cold.runs,
                dcr.runs,
                "< 1× (faster)",
                lambda r: r < 1.0,
            ),
            Row(
                "the same, old version profiled before (each version reviewed once)",
                r_old.runs,
                dcr.runs,
                "< 1× (faster)",
                lambda r: r < 1.0,
            ),
            Row(
                "the same, both versions' chunk profiles cached",
                r_warm.runs,
                dcr.runs,
                "< 1× (faster)",
                lambda r: r < 1.0,
            ),
            Row(
                f"review report, {cmp_rows:,} rows: CPU seconds (user+sys, all threads)",
                r_cold.runs,
                dcr.runs,
                "< 1×",
                lambda r: r < 1.0,
                what="cpu_seconds",
            ),
        ]
        if r_cold.runs.ok and dcr.runs.ok:
            ours, theirs = r_cold.runs.first("columns"), dcr.runs.first("columns")
            same = {
                c: ours[c][0] == theirs[c][0]
                and ours[c][2] == theirs[c][2]
                and abs(ours[c][1] - theirs[c][1]) <= 1e-9 * max(1.0, abs(theirs[c][1]))
                for c in theirs
                if c in ours
            }
            notes.append(
                "review report: per-column changed / max diff / null diff "
                + (
                    "agree with datacompy's column_stats for every column"
                    if same and all(same.values())
                    else f"DISAGREE with datacompy's: ours {ours}, datacompy {theirs}"
                )
                + f" ({', '.join(f'{c} {theirs[c][0]}' for c in theirs)} unequal). HTML: dvtool "
                f"{r_cold.runs.first('bytes'):,} bytes with charts, datacompy "
                f"{dcr.runs.first('bytes'):,} bytes of text in <pre>. dvtool's time includes "
                "profiling both versions (cold) and drawing the charts; datacompy's excludes loading "
                "the frames."
            )

    # -- validation
    if "validate" not in skip:
        log("case: validate")
        val = v(
            "dvtool validate A (no verdict cache)",
            "dvtool_validate",
            {"repo": str(base), "ref": "d@v1", "schema": str(SCHEMA), "use_cache": False},
        )
        pdr = v(
            "pandera (polars) read + validate A",
            "pandera_direct",
            {"src": str(data["A"]), "schema": str(SCHEMA)},
        )
        inc = v(
            "dvtool validate C after A was validated",
            "dvtool_validate",
            {
                "repo": str(tmp / "validate-append"),
                "base": str(appended),
                "ref": "d@v2",
                "schema": str(SCHEMA),
                "use_cache": True,
            },
        )
        interleave([val, pdr, inc], repeat)
        table += [
            Row(f"validate {rows:,} rows", val.runs, pdr.runs, "≤ 1.1×", lambda r: r <= 1.1),
            Row("validate after 1% append", inc.runs, val.runs, "≤ 0.1×", lambda r: r <= 0.1),
        ]
        if inc.runs.ok:
            notes.append(
                f"Validate after append: {inc.runs.first('chunks_checked')} chunks checked, "
                f"{inc.runs.first('chunks_reused')} verdicts reused; the schema's `unique` on id runs over all rows."
            )
        mem_rows.append(("validate", val.runs, Runs("")))

    # -- peak memory, rows vs memory_factor x rows
    if "memory" not in skip:
        log(f"case: memory, {big_rows:,} rows")
        big = datagen.ensure(args.data, big_rows, ("A", "B"))
        bwork = args.data / "work" / str(big_rows)
        bwork.mkdir(parents=True, exist_ok=True)
        bsnap = v(
            "snapshot",
            "dvtool_snapshot",
            {
                "src": str(big["A"]),
                "repo": str(bwork / "base"),
                "dataset": "d",
                "key": KEY,
                "fresh": True,
            },
        )
        interleave([bsnap], 1)
        (bwork / "base" / ".bench-ready").write_text(
            f"{datagen.GENERATOR} dvtool {_version('dvtool')}"
        )
        build_repo(bwork / "scattered", [("snap", big["B"])], base=bwork / "base")
        bval = v(
            "validate",
            "dvtool_validate",
            {"repo": str(bwork / "base"), "ref": "d@v1", "schema": str(SCHEMA), "use_cache": False},
        )
        bdiff = v(
            "diff",
            "dvtool_diff",
            {"repo": str(bwork / "scattered"), "old": "d@v1", "new": "d@v2", "key": KEY},
        )
        interleave([bval, bdiff], 1)
        fill = {"snapshot": bsnap.runs, "validate": bval.runs, "diff (scattered)": bdiff.runs}
        mem_rows = [(name, small, fill[name]) for name, small, _ in mem_rows]
        a_gb = _arrow_gb(data["A"])
        for name, small, large in mem_rows:
            table.append(
                Row(
                    f"peak memory, {name}: {big_rows:,} vs {rows:,} rows ({_arrow_gb(big['A']):.2f} vs "
                    f"{a_gb:.2f} GB in Arrow)",
                    large,
                    small,
                    "≤ 1.5×",
                    lambda r: r <= 1.5,
                    what="peak_rss_mb",
                )
            )

    # -- start-up
    if "startup" not in skip:
        log("case: start-up")
        py = Runs("python -c pass")
        helpr = Runs("dvtool --help")
        logr = Runs("dvtool log d")
        cmds = [
            (py, [me, "-c", "pass"]),
            (helpr, [str(DVTOOL), "--help"]),
            (logr, [str(DVTOOL), "--repo", str(base), "log", "d"]),
        ]
        for r in range(max(5, repeat)):
            k = r % len(cmds)
            for runs, cmd in [*cmds[k:], *cmds[:k]]:
                try:
                    runs.results.append(time_command(cmd))
                except RuntimeError as exc:
                    runs.error = str(exc)
        table += [
            Row("`dvtool --help` start-up", helpr, py, "< 0.3 s added", None),
            Row("`dvtool log` start-up", logr, py, "< 0.3 s added", None),
        ]

    # -- the report
    minutes = (time.perf_counter() - started) / 60
    lines = [
        f"# dvtool benchmarks, {rows:,} rows",
        "",
        *machine(rows, load, git_state),
        f"- each case: median of {repeat} runs (min–max), A/B interleaved, each run a fresh process; "
        f"whole run {minutes:.1f} min",
        "",
        "| case | dvtool: s (min–max) | compared with | its s (min–max) | ratio | goal | met? |",
        "|---|---:|---|---:|---:|---|---|",
    ]
    for row in table:
        ratio, met = verdict(row)
        if row.check is None and row.other is not None and row.ours.ok and row.other.ok:
            added = row.ours.median() - row.other.median()
            ratio, met = f"+{added:.3f} s", "met" if added < 0.3 else "**not met**"
        if row.note:
            ratio, met = "", row.note
        other = f"{row.other.label}" if row.other else ""
        lines.append(
            f"| {row.case} | {fmt_s(row.ours, row.what)} | {other} | {fmt_s(row.other, row.what)} "
            f"| {ratio} | {row.goal} | {met} |"
        )
    if notes:
        lines += ["", "Notes:", "", *[f"- {n}" for n in notes]]
    if "wide" not in skip:
        lines += ["", wide.run(args.wide_rows, args.data, repeat)]
    if "patch" not in skip:
        lines += ["", bench_patch.run(args.patch_rows, args.data, repeat)]
    envs = [
        f"{e.name}: "
        + (
            ", ".join(f"{n} {ver}" for n, ver in e.versions)
            if e.python
            else f"not installed ({e.error})"
        )
        for e in (env_peers, env_dc)
    ]
    lines += [
        "",
        "Peer environments: " + "; ".join(envs),
        "",
        f"Reproduce: `make bench ROWS={rows}` (or `.venv/bin/python benchmarks/run.py --rows {rows}`).",
    ]
    text = "\n".join(lines) + "\n"
    args.results.mkdir(parents=True, exist_ok=True)
    out = args.results / f"{dt.date.today().isoformat()}-{rows}.md"
    out.write_text(text)
    shutil.rmtree(tmp, ignore_errors=True)
    print(text)
    log(f"written {out}")
    return 0


def _version(package: str) -> str:
    import importlib.metadata as md

    try:
        return md.version(package)
    except md.PackageNotFoundError:
        return "?"


def _git_state() -> str:
    """The commit measured, and whether src/ had uncommitted changes (read-only git calls)."""
    root = HERE.parent

    def git(*args: str) -> str:
        done = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, check=False)
        return done.stdout.strip() if done.returncode == 0 else ""

    commit = git("rev-parse", "--short", "HEAD") or "?"
    dirty = git("status", "--porcelain", "--", "dvtool")
    return f"commit {commit}" + (" + uncommitted changes in dvtool/" if dirty else "")


def _mb(runs: Runs, what: str) -> str:
    return f"{runs.first(what) / 1e6:.1f} MB" if runs.ok else "n/a"


def _arrow_gb(path: Path) -> float:
    import pyarrow.parquet as pq

    f = pq.ParquetFile(path)
    first = f.read_row_group(0)
    return first.nbytes / max(1, first.num_rows) * f.metadata.num_rows / 1e9


if __name__ == "__main__":
    sys.exit(main())
