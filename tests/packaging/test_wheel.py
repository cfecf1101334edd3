"""The built wheel works on its own: a fresh virtual environment, no source tree.

``python -m build`` makes the sdist and the wheel, ``twine check`` passes on
both, and the wheel (with every runtime extra) is installed into a new
virtual environment outside the checkout, where the commands of a normal day
run from a temporary folder: a missing module, package data file or
undeclared dependency fails here instead of at a user's.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
import venv
import zipfile
from pathlib import Path

import pytest

pytestmark = [pytest.mark.packaging, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
NOT_SHIPPED = {"test", "dev"}  # extras for working on dvtool itself
# What each runtime extra promises to make importable.
PROMISES = {
    "s3": ["s3fs"],
    "gcs": ["gcsfs"],
    "azure": ["adlfs"],
    "spark": ["pyspark"],
    "report": ["altair", "vl_convert"],
}


def _run(cmd: list[str], cwd: Path, env: dict[str, str] | None = None, timeout: int = 900) -> str:
    done = subprocess.run(
        cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )
    assert done.returncode == 0, (
        f"{' '.join(cmd)} exited {done.returncode}:\n{done.stdout}\n{done.stderr}"
    )
    return done.stdout


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    _run([sys.executable, "-m", "build", "--outdir", str(out), str(ROOT)], cwd=out)
    _run(
        [sys.executable, "-m", "twine", "check", "--strict", *map(str, sorted(out.iterdir()))],
        cwd=out,
    )
    return out


def test_wheel_holds_every_package_file(dist: Path) -> None:
    wheel = next(dist.glob("dvtool-*.whl"))
    names = set(zipfile.ZipFile(wheel).namelist())
    shipped = {
        p.relative_to(ROOT).as_posix()
        for p in (ROOT / "dvtool").rglob("*")
        if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".pyc"
    }
    assert shipped <= names, f"not in the wheel: {sorted(shipped - names)}"
    assert not [n for n in names if n.startswith(("tests/", "benchmarks/", "fixtures/"))]
    assert next(dist.glob("dvtool-*.tar.gz"))


def test_installed_wheel_runs_a_day_of_work(dist: Path, tmp_path: Path) -> None:
    extras = sorted(
        set(
            tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
        )
        - NOT_SHIPPED
    )
    env_dir = tmp_path / "venv"
    venv.EnvBuilder(with_pip=True, clear=True).create(env_dir)
    py = env_dir / "bin" / "python"
    wheel = next(dist.glob("dvtool-*.whl"))
    spec = f"{wheel}[{','.join(extras)}]" if extras else str(wheel)
    _run(
        [str(py), "-m", "pip", "install", "-q", "--disable-pip-version-check", spec],
        cwd=tmp_path,
        timeout=1500,
    )

    work = tmp_path / "work"
    work.mkdir()
    env = {
        k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "DVTOOL_REPO", "VIRTUAL_ENV")
    }
    env["PATH"] = f"{env_dir / 'bin'}{os.pathsep}{env.get('PATH', '')}"

    def dvtool(*args: str) -> str:
        return _run([str(env_dir / "bin" / "dvtool"), *args], cwd=work, env=env)

    # dvtool is the installed one, not this checkout
    where = _run([str(py), "-c", "import dvtool, sys; print(dvtool.__file__)"], cwd=work, env=env)
    assert str(env_dir) in where and str(ROOT) not in where
    version = _run(
        [str(py), "-c", "import dvtool; print(dvtool.__version__)"], cwd=work, env=env
    ).strip()
    assert dvtool("--version").startswith(f"dvtool, version {version} (repository format ")
    assert f"Version: {version}" in _run(
        [str(py), "-m", "pip", "show", "dvtool"], cwd=work, env=env
    )

    (work / "orders.csv").write_text("id,amount,status\n1,10.5,new\n2,3.0,paid\n3,7.25,new\n")
    (work / "orders2.csv").write_text(
        "id,amount,status\n1,10.5,new\n2,4.0,paid\n3,7.25,new\n4,1.0,new\n"
    )
    (work / "orders.schema.yaml").write_text(
        "schema_type: dataframe\nversion: 0.35.0\ncolumns:\n"
        "  id: {dtype: int64, nullable: false, unique: true}\n"
        "  amount: {dtype: float64, checks: {greater_than_or_equal_to: 0}}\n"
        "  status: {dtype: str, checks: {isin: [new, paid]}}\n"
    )
    dvtool("init")
    assert "orders@v1" in dvtool("snapshot", "orders.csv", "-d", "orders", "--key", "id")
    assert "orders@v2" in dvtool(
        "snapshot", "orders2.csv", "-d", "orders", "--key", "id", "--schema", "orders.schema.yaml"
    )
    assert dvtool("validate", "orders", "--schema", "orders.schema.yaml").startswith("PASSED")
    assert '"changed": 1' in dvtool("diff", "orders", "--format", "json")
    assert '"n": 4' in dvtool("query", "select count(*) as n from orders", "--format", "json")
    dvtool("export", "orders@v1", "v1.csv")
    assert (work / "v1.csv").read_text().count("\n") == 4

    for extra in extras:
        for module in PROMISES.get(extra, []):
            _run([str(py), "-c", f"import {module}"], cwd=work, env=env)
