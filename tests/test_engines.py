"""Choosing the engine: --engine / DVTOOL_ENGINE, and what happens without Spark."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

from tests.clitools import invoke, tree_digest

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


@pytest.fixture
def repo_dir(tmp_path: Path) -> Path:
    root = tmp_path / ".dvtool"
    assert invoke("init", str(root))[0] == 0
    code, _, err = invoke(
        "--repo",
        str(root),
        "snapshot",
        str(FIXTURES / "orders" / "orders_v1.csv"),
        "-d",
        "orders",
        "--key",
        "order_id",
    )
    assert code == 0, err
    return root


@pytest.mark.parametrize(
    "args",
    [
        ["query", "select 1", "--engine", "sparky"],
        ["diff", "orders", "--engine", "polars"],
        ["validate", "orders", "--schema", "s.yaml", "--engine", ""],
        ["snapshot", "x.csv", "-d", "orders", "--engine", "spork"],
    ],
)
def test_unknown_engine_exit_2(repo_dir: Path, args: list[str]) -> None:
    before = tree_digest(repo_dir)
    code, out, err = invoke("--repo", str(repo_dir), *args)
    assert code == 2 and out == b""
    assert err.startswith("Error: Invalid value for '--engine'") and "'duckdb', 'spark'" in err
    assert tree_digest(repo_dir) == before


def test_unknown_engine_in_environment(repo_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DVTOOL_ENGINE", "bogus")
    code, out, err = invoke("--repo", str(repo_dir), "query", "select count(*) as n from orders")
    assert (code, out) == (2, b"")
    assert err == "Error: unknown engine 'bogus' in DVTOOL_ENGINE (choose one of: duckdb, spark)\n"
    monkeypatch.setenv("DVTOOL_ENGINE", "duckdb")
    assert (
        invoke(
            "--repo", str(repo_dir), "query", "select count(*) as n from orders", "--format", "json"
        )[1]
        == b'[\n{"n": 2000}\n]\n'
    )


def test_spark_options_need_the_spark_engine(repo_dir: Path) -> None:
    code, _, err = invoke(
        "--repo", str(repo_dir), "query", "select 1", "--spark-master", "local[1]"
    )
    assert (
        code == 2 and err == "Error: --spark-master and --spark-conf apply to --engine spark only\n"
    )
    code, _, err = invoke("--repo", str(repo_dir), "diff", "orders", "--spark-conf", "novalue")
    assert code == 2 and err == "Error: --spark-conf expects KEY=VALUE, got 'novalue'\n"


@pytest.mark.skipif(
    importlib.util.find_spec("pyspark") is not None, reason="pyspark is installed here"
)
def test_spark_without_pyspark_says_what_to_install(repo_dir: Path) -> None:
    before = tree_digest(repo_dir)
    code, out, err = invoke("--repo", str(repo_dir), "query", "select 1", "--engine", "spark")
    assert (code, out) == (2, b"")
    assert (
        err.startswith("Error: the spark engine needs pyspark")
        and "pip install 'dvtool[spark]'" in err
    )
    assert tree_digest(repo_dir) == before


def test_import_and_cli_do_not_import_pyspark(repo_dir: Path) -> None:
    code = (
        "import sys, dvtool, dvtool.cli.app\n"
        "from dvtool.cli.app import main\n"
        "try:\n    main(['--repo', sys.argv[1], 'log', 'orders'])\nexcept SystemExit:\n    pass\n"
        "assert 'pyspark' not in sys.modules and 'py4j' not in sys.modules, 'pyspark imported'\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, str(repo_dir)], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
