"""dvtool against its peers and its speed and memory goals, in one run: ``make bench [ROWS=N]``.

1. Builds the synthetic data (datagen.py) as Parquet in benchmarks/data/<rows>/:
   A (base), B (1% scattered edits), C (1% append); the same at 1M rows for the
   datacompy cases and at ``--memory-factor`` x rows for the memory case.
2. Builds the peers' virtual environments (peers.py); a peer that cannot be
   installed is reported as such and the run goes on.
3. Sets up repositories with the dvtool CLI (benchmarks/data/work/<rows>/), then
   runs every case ``--repeat`` times, A/B interleaved (the order rotates each
   round), and takes medians. **Every timing is a whole process on both sides**
   (harness.py): the ``dvtool`` command against a fresh Python process running
   the peer (cases.py), start-up, imports and reading the input included.
   Operation-only spans (dvtool's API call; the peer's work after its imports)
   are a second, informative table, never a goal (group ``ops``).
4. Writes a markdown report (medians, ratios, goals, met or not, machine
   description) to benchmarks/results/<date>-<rows>.md and prints it.

Nothing here asserts a timing; the tests never run it.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import shutil
import sys
import time
from collections.abc import Sequence
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import bench_patch  # noqa: E402
import datagen  # noqa: E402
import groups  # noqa: E402
import harness  # noqa: E402
import peers  # noqa: E402
import vs_datacompy  # noqa: E402
import wide  # noqa: E402
from harness import log  # noqa: E402

#: The groups of ``--skip``, in the order they run.
GROUPS = (
    "snapshot",
    "diff",
    "compare",
    "report",
    "validate",
    "memory",
    "startup",
    "ops",
    "wide",
    "patch",
)

# ---- main -------------------------------------------------------------------------------


def parse(argv: Sequence[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--rows", type=int, default=int(os.environ.get("ROWS", 10_000_000)))
    ap.add_argument("--repeat", type=int, default=int(os.environ.get("REPEAT", 3)))
    ap.add_argument(
        "--memory-factor", type=int, default=4, help="memory case: rows vs this many times rows"
    )
    ap.add_argument(
        "--skip", default="", help=f"comma-separated groups to skip: {','.join(GROUPS)}"
    )
    ap.add_argument("--data", type=Path, default=HERE / "data")
    ap.add_argument(
        "--fresh-setup",
        action="store_true",
        help="rebuild the set-up repositories (they are kept between runs of the same dvtool commit)",
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
    args.skip = {s.strip() for s in args.skip.split(",") if s.strip()}
    unknown = args.skip - set(GROUPS)
    if unknown:
        ap.error(
            f"unknown group(s) in --skip: {', '.join(sorted(unknown))} (groups: {', '.join(GROUPS)})"
        )
    args.data = args.data.resolve()
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse(argv)
    # wide.py and bench_patch.py start dvtool with this environment from another folder:
    # a relative PYTHONPATH (``PYTHONPATH=.``) would then miss this tree.
    if os.environ.get("PYTHONPATH"):
        os.environ["PYTHONPATH"] = os.pathsep.join(
            str(Path(p).resolve()) for p in os.environ["PYTHONPATH"].split(os.pathsep) if p
        )
    skip, rows, repeat = args.skip, args.rows, args.repeat
    load = os.getloadavg()
    git_state = harness.git_state()
    started = time.perf_counter()

    log(f"data: {rows:,} rows in {args.data}")
    data = datagen.ensure(args.data, rows)
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
    ctx = groups.Ctx(rows, repeat, data, work, work / "cache", env_peers, env_dc, skip)
    log("set-up repositories (dvtool CLI)")
    base = work / "base"  # d@v1 = A
    groups.build_repo(ctx, base, [("snap", data["A"])])
    groups.build_repo(ctx, work / "scattered", [("snap", data["B"])], base=base)  # d@v2 = B
    groups.build_repo(
        ctx, work / "appended", [("validate", "d@v1"), ("snap", data["C"])], base=base
    )

    for name, group in (("snapshot", groups.group_snapshot), ("diff", groups.group_diff)):
        if name not in skip:
            log(f"case: {name}")
            group(ctx)
    if not {"compare", "report"} <= skip:
        cmp = vs_datacompy.compare_setup(ctx, args.data)
        if "compare" not in skip:
            log(f"case: diff {cmp.rows:,} rows vs datacompy")
            vs_datacompy.group_compare(ctx, cmp)
        if "report" not in skip:
            log(f"case: review report {cmp.rows:,} rows vs datacompy's report")
            vs_datacompy.group_report(ctx, cmp)
    if "validate" not in skip:
        log("case: validate")
        groups.group_validate(ctx)
    if "memory" not in skip and ctx.mem:
        log(f"case: memory, {rows * args.memory_factor:,} rows")
        groups.group_memory(ctx, args.data, args.memory_factor)
    if "startup" not in skip:
        log("case: start-up")
        groups.group_startup(ctx)

    lines = [
        f"# dvtool benchmarks, {rows:,} rows",
        "",
        *machine(rows, load, git_state),
        f"- each case: median of {repeat} run{'s' if repeat > 1 else ''} (min–max), A/B interleaved; whole run MINUTES min",
        "",
        "Every time in this table is a **whole process on both sides**, from fork to exit: "
        "interpreter start-up, imports, reading the input, the work and the output. dvtool's side "
        "is the `dvtool` command; the other side is the Python process described (peers in their "
        "own virtual environments, benchmarks/peers.py). Ratio = dvtool's median / the other's.",
        "",
        *harness.table(ctx.table, "dvtool: s", "its s"),
    ]
    if ctx.ops:
        lines += [
            "",
            "Operation only (informative, **not** the goals): in-process spans, imports and "
            "start-up excluded. dvtool's side is a fresh Python calling dvtool's API after "
            "importing what it needs; the other side is the span the peer's process above timed "
            "around its work.",
            "",
            *harness.table(ctx.ops, "dvtool API span: s", "its span: s"),
        ]
    if ctx.notes:
        lines += ["", "Notes:", "", *[f"- {n}" for n in ctx.notes]]
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
    minutes = (time.perf_counter() - started) / 60
    text = "\n".join(lines).replace("whole run MINUTES min", f"whole run {minutes:.1f} min") + "\n"
    args.results.mkdir(parents=True, exist_ok=True)
    out = args.results / f"{dt.date.today().isoformat()}-{rows}.md"
    out.write_text(text)
    shutil.rmtree(ctx.tmp, ignore_errors=True)
    print(text)
    log(f"written {out}")
    return 0


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
    libs = [f"{name} {harness.version(name)}" for name in names]
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


if __name__ == "__main__":
    sys.exit(main())
