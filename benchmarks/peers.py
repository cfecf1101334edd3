"""Virtual environments for the peers, kept apart from dvtool's own.

* ``.venv-peers``: deltalake and pylance (with pyarrow to read the input);
* ``.venv-datacompy``: datacompy, which pins ``pandas<3.1`` and ``polars<1.45``,
  so it cannot share dvtool's environment.

Each is built once (a stamp file records the requirement list) with the
interpreter that runs the harness. A failed install is recorded, not raised:
the results table then says the peer could not be installed.
"""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent

ENVS: dict[str, tuple[str, ...]] = {
    ".venv-peers": ("deltalake", "pylance", "pyarrow", "numpy"),
    ".venv-datacompy": ("datacompy", "polars", "pyarrow", "numpy"),
}


@dataclass(frozen=True)
class PeerEnv:
    name: str
    python: Path | None  # None: could not be installed
    error: str = ""
    versions: tuple[tuple[str, str], ...] = ()


def _base_python() -> str:
    return getattr(sys, "_base_executable", None) or sys.executable


def ensure(name: str, log: Path | None = None) -> PeerEnv:
    """Create ``benchmarks/<name>`` with its packages (once); never raises on failure."""
    packages = ENVS[name]
    folder = HERE / name
    python = folder / "bin" / "python"
    stamp = folder / ".bench-stamp.json"
    want = {"packages": list(packages)}
    if stamp.exists() and python.exists():
        got = json.loads(stamp.read_text())
        if got.get("packages") == want["packages"]:
            return PeerEnv(name, python, versions=tuple(tuple(v) for v in got.get("versions", [])))
    steps = [
        [_base_python(), "-m", "venv", "--clear", str(folder)],
        [str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check", *packages],
    ]
    for cmd in steps:
        try:
            done = subprocess.run(cmd, capture_output=True, text=True, check=False, timeout=1800)
        except (OSError, subprocess.TimeoutExpired) as exc:
            return PeerEnv(name, None, error=f"`{' '.join(cmd[2:5])} …` failed: {exc}")
        if log is not None:
            with log.open("a") as f:
                f.write(f"$ {' '.join(cmd)}\n{done.stdout}{done.stderr}\n")
        if done.returncode != 0:
            lines = (done.stderr or done.stdout).strip().splitlines() or ["(no output)"]
            return PeerEnv(name, None, error=f"`{' '.join(cmd[2:5])} …` failed: {lines[-1][:200]}")
    versions = _versions(python, packages)
    stamp.write_text(json.dumps({**want, "versions": versions}))
    return PeerEnv(name, python, versions=tuple(tuple(v) for v in versions))


def _versions(python: Path, packages: tuple[str, ...]) -> list[list[str]]:
    code = (
        "import importlib.metadata as m, json, sys\n"
        "out = []\n"
        "for p in sys.argv[1:]:\n"
        "    try: out.append([p, m.version(p)])\n"
        "    except m.PackageNotFoundError: out.append([p, '?'])\n"
        "print(json.dumps(out))\n"
    )
    extra = ("pandas",) if "datacompy" in packages else ()
    done = subprocess.run(
        [str(python), "-c", code, *packages, *extra], capture_output=True, text=True, check=False
    )
    return json.loads(done.stdout) if done.returncode == 0 else []


if __name__ == "__main__":
    for env in ENVS:
        print(ensure(env))
