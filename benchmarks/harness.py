"""How run.py measures: every timed side is a whole process, measured from outside.

A measurement starts a small launcher (``python -S``) that forks, execs the
command and waits for it with ``wait4``. The launcher reports

* ``seconds``: wall time from the fork to the exit: the interpreter's start-up,
  imports, reading the input, the work and writing the output, all of it;
* ``cpu_seconds``: user + system CPU time of the process, all its threads;
* ``peak_rss_mb``: its peak resident set (``ru_maxrss``). The fork happens in
  the small launcher, not in the harness: Linux carries a process's peak over
  ``exec``, so forking from the (large) harness would report the harness's size.

Whatever the process prints as its last JSON line (the peers' answers, and the
in-process span of the operation they time, ``op_seconds``) is merged into the
result. ``op_seconds`` only ever appears in rows marked "operation only": goals
are ratios of whole processes (:class:`Row` refuses anything else).

The dvtool side is the ``dvtool`` command line (the console script next to this
Python, else ``python -m dvtool``) with this source tree first on ``PYTHONPATH``;
the peers are Python processes in their own virtual environments (peers.py)
running a task of cases.py. Every process gets the environment without
``DVTOOL_*`` variables, so settings of the shell do not leak in; dvtool's stat
cache is a folder of the benchmark's own.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
CASES = HERE / "cases.py"

#: Result fields the launcher measures from outside the process.
PROCESS_FIELDS = ("seconds", "cpu_seconds", "peak_rss_mb")

LAUNCH = r"""
import json, os, sys, time
out, argv = sys.argv[1], sys.argv[2:]
t = time.perf_counter()
pid = os.fork()
if pid == 0:
    try:
        os.execv(argv[0], argv)
    finally:
        os._exit(127)
_, status, ru = os.wait4(pid, 0)
seconds = time.perf_counter() - t
with open(out, "w") as f:
    json.dump({"seconds": seconds, "cpu_seconds": ru.ru_utime + ru.ru_stime,
               "peak_rss_mb": ru.ru_maxrss / 1024, "exit": os.waitstatus_to_exitcode(status)}, f)
"""


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


# ---- the commands -------------------------------------------------------------------


def dvtool_command() -> list[str]:
    """How a user runs dvtool: the console script beside this interpreter, else ``python -m dvtool``."""
    script = Path(sys.executable).with_name("dvtool")
    return [str(script)] if script.exists() else [sys.executable, "-m", "dvtool"]


def clean_env(**extra: str) -> dict[str, str]:
    """This environment without ``DVTOOL_*`` and ``PYTHONPATH``, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("DVTOOL_") and k != "PYTHONPATH"}
    env.update(extra)
    return env


def dvtool_env(cache: Path) -> dict[str, str]:
    """The dvtool side's environment: this source tree first, a stat cache of the benchmark's own."""
    path = os.pathsep.join([str(ROOT), *filter(None, [os.environ.get("PYTHONPATH", "")])])
    return clean_env(PYTHONPATH=path, DVTOOL_CACHE_DIR=str(cache))


def task_command(python: Path | str, task: str, params: dict[str, Any]) -> list[str]:
    """A fresh Python running one task of cases.py (a peer, or dvtool's API for operation-only spans)."""
    return [str(python), str(CASES), task, json.dumps(params)]


def measure(
    argv: Sequence[str], env: dict[str, str] | None = None, timeout: float = 3600
) -> dict[str, Any]:
    """Run ``argv`` as a whole process; its wall/CPU time and peak RSS, plus its last JSON line."""
    argv = [str(a) for a in argv]
    if not os.path.isabs(argv[0]):
        raise ValueError(f"the command must be an absolute path: {argv[0]}")
    with tempfile.TemporaryDirectory(prefix="dvtool-bench-") as tmp:
        out = Path(tmp) / "measured.json"
        done = subprocess.run(
            [sys.executable, "-S", "-c", LAUNCH, str(out), *argv],
            capture_output=True,
            text=True,
            env=env if env is not None else clean_env(),
            cwd=tmp,  # never a folder holding dvtool/: ``python -m`` puts the folder on sys.path
            timeout=timeout,
            check=False,
        )
        if done.returncode != 0 or not out.exists():
            raise RuntimeError(f"the launcher failed: {done.stderr.strip()[-300:]}")
        measured: dict[str, Any] = json.loads(out.read_text())
    if measured.pop("exit") != 0:
        tail = (done.stderr.strip().splitlines() or ["(no output)"])[-1]
        raise RuntimeError(f"{Path(argv[0]).name} {' '.join(argv[1:3])} … failed: {tail[:300]}")
    result = answer(done.stdout)
    return {**result, **measured}


def answer(stdout: str) -> dict[str, Any]:
    """The JSON a process printed: its whole output (dvtool's ``--json``), else its last line."""
    text = stdout.strip()
    for candidate in (text, text.splitlines()[-1] if text else ""):
        if candidate.startswith("{"):
            try:
                found = json.loads(candidate)
            except json.JSONDecodeError:
                continue
            if isinstance(found, dict):
                return found
    return {}


def run_quiet(argv: Sequence[str], env: dict[str, str] | None = None) -> str:
    """An untimed step (set-up, warming a cache): its stdout; raises with its last error line."""
    done = subprocess.run(
        [str(a) for a in argv],
        capture_output=True,
        text=True,
        env=env if env is not None else clean_env(),
        cwd=tempfile.gettempdir(),
        check=False,
    )
    if done.returncode != 0:
        tail = (done.stderr.strip().splitlines() or ["(no output)"])[-1]
        raise RuntimeError(f"{' '.join(str(a) for a in argv[1:4])} … failed: {tail[:300]}")
    return done.stdout


# ---- measurements of one variant ------------------------------------------------------


@dataclass
class Runs:
    """The measurements of one variant (one side of a row)."""

    label: str
    results: list[dict[str, Any]] = field(default_factory=list)
    error: str = ""

    @property
    def ok(self) -> bool:
        return bool(self.results) and not self.error

    def values(self, what: str) -> list[float]:
        return [float(r[what]) for r in self.results if r.get(what) is not None]

    def median(self, what: str = "seconds") -> float:
        return statistics.median(self.values(what))

    def spread(self, what: str = "seconds") -> tuple[float, float]:
        values = self.values(what)
        return min(values), max(values)

    def first(self, what: str) -> Any:
        return self.results[0].get(what) if self.results else None


@dataclass
class Variant:
    """One command measured ``repeat`` times; ``prepare`` runs (untimed) before each run."""

    runs: Runs
    argv: list[str] | None  # None: its environment could not be built (runs.error says why)
    env: dict[str, str] | None = None
    prepare: Callable[[], None] | None = None


def interleave(variants: Sequence[Variant], repeat: int) -> None:
    """Run every variant ``repeat`` times, rotating the order each round (A/B interleaving)."""
    for v in variants:
        if v.argv is None and not v.runs.error:
            v.runs.error = "not installed"
    for r in range(repeat):
        k = r % len(variants)
        for v in [*variants[k:], *variants[:k]]:
            if v.runs.error or v.argv is None:
                continue
            try:
                if v.prepare is not None:
                    v.prepare()
                out = measure(v.argv, v.env)
            except (RuntimeError, OSError, subprocess.TimeoutExpired, json.JSONDecodeError) as exc:
                v.runs.error = str(exc)
                log(f"  {v.runs.label}: FAILED {exc}")
                continue
            v.runs.results.append(out)
            op = f", operation {out['op_seconds']:.3f} s" if "op_seconds" in out else ""
            log(
                f"  {v.runs.label}: {out['seconds']:.3f} s{op}, "
                f"CPU {out['cpu_seconds']:.2f} s, peak {out['peak_rss_mb']:.0f} MB"
            )


# ---- the table ------------------------------------------------------------------------

UNITS = {"seconds": "s", "cpu_seconds": "CPU s", "peak_rss_mb": "MB", "op_seconds": "s"}


@dataclass
class Row:
    """One line of a table: ``ours`` against ``other`` (or an absolute goal when ``other`` is None)."""

    case: str
    ours: Runs
    other: Runs | None
    goal: str
    check: Callable[[float], bool] | None  # on the ratio ours/other, or on the value
    what: str = "seconds"
    note: str = ""
    label: str = ""  # names the other side instead of ``other.label`` (e.g. its span)

    def __post_init__(self) -> None:
        if self.what not in UNITS:
            raise ValueError(f"unknown measure {self.what!r}")
        if self.check is not None and self.what not in PROCESS_FIELDS:
            raise ValueError("a goal is checked on whole-process measures only, never on a span")


def fmt(runs: Runs | None, what: str = "seconds") -> str:
    if runs is None:
        return ""
    if not runs.ok or not runs.values(what):
        return f"n/a ({runs.error})" if runs.error else "n/a"
    lo, hi = runs.spread(what)
    if what == "peak_rss_mb":
        return f"{runs.median(what):.0f} MB ({lo:.0f}–{hi:.0f})"
    return f"{runs.median(what):.3f} ({lo:.3f}–{hi:.3f})"


def verdict(row: Row) -> tuple[str, str]:
    """The ratio (or value) and whether the goal is met."""
    usable = row.ours.ok and row.ours.values(row.what)
    if row.other is not None:
        usable = usable and row.other.ok and row.other.values(row.what)
    if not usable:
        return "n/a", "not measured" if row.check is not None else ""
    if row.other is None:  # an absolute goal
        value = row.ours.median(row.what)
        shown = f"{value:.0f} MB" if row.what == "peak_rss_mb" else f"{value:.3f}"
        if row.check is None:
            return shown, ""
        return shown, "met" if row.check(value) else "**not met**"
    ratio = row.ours.median(row.what) / row.other.median(row.what)
    if row.check is None:
        return f"{ratio:.3f}", ""
    return f"{ratio:.3f}", "met" if row.check(ratio) else "**not met**"


def added_seconds(row: Row, limit: float) -> tuple[str, str]:
    """For start-up rows: seconds added to the baseline, against ``limit``."""
    if row.other is None or not row.ours.ok or not row.other.ok:
        return "n/a", "not measured"
    added = row.ours.median() - row.other.median()
    return f"{added:+.3f} s", "met" if added < limit else "**not met**"


def table(rows: Sequence[Row], ours: str, theirs: str) -> list[str]:
    """Markdown lines: case, our value, what it is compared with, its value, ratio, goal, met."""
    lines = [
        f"| case | {ours} (min–max) | compared with | {theirs} (min–max) | ratio | goal | met? |",
        "|---|---:|---|---:|---:|---|---|",
    ]
    for row in rows:
        if row.note:
            ratio, met = "", row.note
        elif row.goal.startswith("< ") and row.goal.endswith(" s added"):
            ratio, met = added_seconds(row, float(row.goal.split()[1]))
        else:
            ratio, met = verdict(row)
        other = row.label or (row.other.label if row.other else "")
        lines.append(
            f"| {row.case} | {fmt(row.ours, row.what)} | {other} | {fmt(row.other, row.what)} "
            f"| {ratio} | {row.goal} | {met} |"
        )
    return lines


def version(package: str) -> str:
    import importlib.metadata as md

    try:
        return md.version(package)
    except md.PackageNotFoundError:
        return "?"


def git_state() -> str:
    """The commit measured, and whether dvtool/ had uncommitted changes (read-only git calls)."""
    root = HERE.parent

    def git(*args: str) -> str:
        done = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, check=False)
        return done.stdout.strip() if done.returncode == 0 else ""

    commit = git("rev-parse", "--short", "HEAD") or "?"
    dirty = git("status", "--porcelain", "--", "dvtool")
    return f"commit {commit}" + (" + uncommitted changes in dvtool/" if dirty else "")
