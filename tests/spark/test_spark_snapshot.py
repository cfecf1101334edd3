"""Snapshots written by Spark's executors: same data fingerprint, same answers, create-only."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.csv as pacsv
import pytest

import dvtool
from tests.clitools import invoke, tree_digest

pytestmark = pytest.mark.spark

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"
ORDERS = [str(FIXTURES / "orders" / f"orders_v{v}.csv") for v in (1, 2, 3)]
SCHEMA = str(FIXTURES / "faults" / "orders.schema.yaml")


def test_same_fingerprint_both_ways(tmp_path: Path, spark: Any) -> None:
    local = dvtool.Repo.init(tmp_path / "local" / ".dvtool")
    remote = dvtool.Repo.init(tmp_path / "spark" / ".dvtool")
    for path in ORDERS[:2]:
        a = local.snapshot(path, dataset="orders", key=["order_id"])
        b = remote.snapshot(path, dataset="orders", key=["order_id"], engine="spark", spark=spark)
        assert not a.unchanged and not b.unchanged and b.new_chunks >= 1
        assert b.snapshot.manifest.fingerprint == a.snapshot.manifest.fingerprint
        assert b.snapshot.schema.equals(a.snapshot.schema) and b.snapshot.rows == a.snapshot.rows
        assert remote.get("orders").to_arrow().equals(local.get("orders").to_arrow())
        # The same rows again, the other way round: nothing to commit.
        assert remote.snapshot(path, dataset="orders", key=["order_id"]).unchanged
        assert local.snapshot(
            path, dataset="orders", key=["order_id"], engine="spark", spark=spark
        ).unchanged
    assert [e.version for e in remote.log("orders")] == [2, 1]
    assert remote.fsck().ok


def test_snapshot_of_a_spark_dataframe(tmp_path: Path, spark: Any) -> None:
    repo = dvtool.Repo.init(tmp_path / ".dvtool")
    table = pacsv.read_csv(FIXTURES / "customers" / "customers.csv")
    frame = spark.createDataFrame(table.to_pandas()).repartition(3)  # rows in no particular order
    result = repo.snapshot(
        frame, dataset="customers", key=["customer_id"], message="from Spark", tag="first"
    )
    assert result.to_json()["rows"] == 500 and result.tag == "first"
    # What Spark had, as Arrow: the same rows give the same fingerprint locally.
    same = frame.toArrow().sort_by("customer_id")
    check = dvtool.Repo.init(tmp_path / "check" / ".dvtool").snapshot(
        same, dataset="customers", key=["customer_id"]
    )
    assert check.snapshot.manifest.fingerprint == result.snapshot.manifest.fingerprint
    assert repo.snapshot(same, dataset="customers", key=["customer_id"]).unchanged
    keyless = repo.snapshot(
        spark.createDataFrame(table.slice(0, 100).to_pandas()), dataset="ordered"
    )
    assert keyless.snapshot.to_arrow().column("customer_id").to_pylist() == list(range(1, 101))


def test_cli_snapshot_engine_spark(tmp_path: Path, spark: Any) -> None:
    root = str(tmp_path / ".dvtool")
    assert invoke("init", root)[0] == 0
    code, out, err = invoke(
        "--repo",
        root,
        "snapshot",
        ORDERS[0],
        "-d",
        "orders",
        "--key",
        "order_id",
        "--engine",
        "spark",
        "--json",
    )
    assert code == 0, err
    made = json.loads(out)
    assert (made["rows"], made["version"], made["unchanged"]) == (2000, 1, False)
    code, out, _ = invoke(
        "--repo", root, "snapshot", ORDERS[0], "-d", "orders", "--key", "order_id", "--json"
    )
    assert (
        code == 0
        and json.loads(out)["unchanged"] is True
        and json.loads(out)["fingerprint"] == made["fingerprint"]
    )


def test_duplicate_key_writes_nothing(tmp_path: Path, spark: Any) -> None:
    root = tmp_path / ".dvtool"
    dvtool.Repo.init(root)
    before = tree_digest(root)
    bad = str(FIXTURES / "faults" / "orders_bad.csv")
    code, out, err = invoke(
        "--repo",
        str(root),
        "snapshot",
        bad,
        "-d",
        "orders",
        "--key",
        "order_id",
        "--engine",
        "spark",
    )
    local = invoke("--repo", str(root), "snapshot", bad, "-d", "orders", "--key", "order_id")
    assert (code, out) == (1, b"") and err == local[2]
    assert "is not unique: 3 duplicate rows (e.g. 500011, 500401, 500701)" in err
    assert tree_digest(root) == before


def test_repository_on_s3(s3_bucket: Any, spark: Any, tmp_path: Path) -> None:
    opts = s3_bucket.storage_options
    repo = dvtool.Repo.init(s3_bucket.url, storage_options=opts)
    repo.snapshot(ORDERS[0], dataset="orders", key=["order_id"])
    written = repo.snapshot(
        ORDERS[1], dataset="orders", key=["order_id"], engine="spark", spark=spark
    )
    assert (
        written.snapshot.manifest.fingerprint
        == dvtool.Repo.init(tmp_path / ".dvtool")
        .snapshot(ORDERS[1], dataset="o", key=["order_id"])
        .snapshot.manifest.fingerprint
    )
    sql = 'select status, count(*) as n, round(sum(amount), 2) as total from "orders@v2" group by status order by status'
    assert repo.query(sql, engine="spark", spark=spark).to_pylist() == repo.query(sql).to_pylist()
    remote = repo.diff("orders@v1", "orders@v2", engine="spark", spark=spark)
    local = repo.diff("orders@v1", "orders@v2")
    assert (remote.rows, remote.columns, remote.samples) == (
        local.rows,
        local.columns,
        local.samples,
    )
    local = repo.validate("orders", schema=SCHEMA, use_cache=False)
    assert (
        repo.validate("orders", schema=SCHEMA, engine="spark", spark=spark).to_json()
        == local.to_json()
    )
    # The same through the command line, credentials from --storage-option.
    code, out, err = invoke(
        "--repo",
        s3_bucket.url,
        *s3_bucket.cli_options(),
        "query",
        sql,
        "--engine",
        "spark",
        "--format",
        "json",
    )
    assert code == 0, err
    assert json.loads(out) == [dict(r) for r in repo.query(sql).to_pylist()]


def test_memory_repository_is_refused(spark: Any) -> None:
    repo = dvtool.Repo.init("memory://spark-refused")
    repo.snapshot(pa.table({"a": [1, 2]}), dataset="t")
    with pytest.raises(dvtool.UsageError, match="not memory://"):
        repo.query("select * from t", engine="spark", spark=spark)


def test_no_java_is_a_clear_error(tmp_path: Path) -> None:
    root = tmp_path / ".dvtool"
    dvtool.Repo.init(root).snapshot(ORDERS[0], dataset="orders", key=["order_id"])
    before = tree_digest(root)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SPARK_", "PYSPARK_"))}
    env.update(JAVA_HOME=str(tmp_path / "no-java"), PATH=str(tmp_path / "empty-bin"))
    done = subprocess.run(
        [sys.executable, "-m", "dvtool", "--repo", str(root), "query", "select 1", "--engine", "spark"],
        capture_output=True, text=True, env=env, check=False,
    )  # fmt: skip
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.startswith("Error: the spark engine needs Java 17 or newer")
    assert "has no bin/java" in done.stderr and "openjdk-17-jre-headless" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
    assert tree_digest(root) == before


def test_in_memory_table_is_refused_with_spark(tmp_path: Path, spark: Any) -> None:
    root = tmp_path / ".dvtool"
    repo = dvtool.Repo.init(root)
    before = tree_digest(root)
    with pytest.raises(
        dvtool.UsageError, match="snapshots a Spark DataFrame or files, not a Table"
    ):
        repo.snapshot(pa.table({"a": [1]}), dataset="t", engine="spark", spark=spark)
    assert tree_digest(root) == before
