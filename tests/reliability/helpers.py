"""Shared pieces of the reliability tests: run dvtool in a subprocess, pause it, kill it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import pyarrow as pa

import dvtool

DVTOOL = [sys.executable, "-m", "dvtool"]


def env(**extra: str) -> dict[str, str]:
    out = {k: v for k, v in os.environ.items() if not k.startswith("DVTOOL_")}
    out["DVTOOL_QUIET"] = "1"
    out.update(extra)
    return out


def dvtool_run(
    repo: Path, *args: str, timeout: float = 60, **extra_env: str
) -> subprocess.CompletedProcess[str]:
    """``dvtool --repo REPO ARGS`` in a fresh process."""
    return subprocess.run(
        [*DVTOOL, "--repo", str(repo), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env(**extra_env),
    )


@dataclass
class Paused:
    """A dvtool process stopped at a named crash point (see dvtool.crashpoints)."""

    proc: subprocess.Popen[str]
    release_file: Path

    def resume(self, timeout: float = 60) -> tuple[int, str, str]:
        self.release_file.write_text("go")
        out, err = self.proc.communicate(timeout=timeout)
        return self.proc.returncode, out, err

    def kill(self) -> int:
        """A real SIGKILL, delivered while the process sits at the point."""
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.communicate(timeout=30)
        return self.proc.returncode


def start_paused(repo: Path, point: str, *args: str, workdir: Path) -> Paused:
    """Start ``dvtool ARGS`` and wait until it reaches ``point``."""
    release = workdir / f"release-{point}-{time.monotonic_ns()}"
    proc = subprocess.Popen(
        [*DVTOOL, "--repo", str(repo), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env(DVTOOL_PAUSE_AT=point, DVTOOL_PAUSE_FILE=str(release)),
    )
    marker = Path(f"{release}.paused")
    deadline = time.monotonic() + 60
    while not marker.exists():
        if proc.poll() is not None:
            out, err = proc.communicate()
            raise AssertionError(f"dvtool exited ({proc.returncode}) before {point}:\n{out}\n{err}")
        if time.monotonic() > deadline:
            proc.kill()
            raise AssertionError(f"dvtool never reached {point}")
        time.sleep(0.02)
    return Paused(proc, release)


def table(n: int, start: int = 0, tag: str = "x") -> pa.Table:
    return pa.table(
        {
            "id": pa.array(range(start, start + n), pa.int64()),
            "label": pa.array([f"{tag}-{i}" for i in range(start, start + n)]),
            "amount": pa.array([float(i) * 1.5 for i in range(start, start + n)]),
        }
    )


def write_csv(path: Path, t: pa.Table) -> Path:
    import pyarrow.csv as pacsv

    pacsv.write_csv(t, path)
    return path


def age_files(root: Path, days: float) -> None:
    """Make every file under ``root`` look ``days`` old (local stores time by mtime)."""
    stamp = (datetime.now() - timedelta(days=days)).timestamp()
    for dirpath, _dirs, files in os.walk(root):
        for name in files:
            os.utime(Path(dirpath) / name, (stamp, stamp))


def versions(repo: dvtool.Repo, name: str) -> list[int]:
    try:
        return sorted(e.version for e in repo.log(name))
    except dvtool.DvtoolError:
        return []


def object_files(root: Path) -> list[Path]:
    return sorted(p for p in (root / "objects").rglob("*.parquet"))
