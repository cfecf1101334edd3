"""validate, diff and query give the same JSON with --engine spark as with the embedded engine."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

import dvtool
from tests.clitools import invoke, tree_digest

pytestmark = pytest.mark.spark

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"
ORDERS_SCHEMA = FIXTURES / "faults" / "orders.schema.yaml"

POLARS_SCHEMA = """\
schema_type: polars_dataframe
columns:
  id: {dtype: Int64, unique: true}
  score:
    dtype: Float64
    nullable: true
    in_range: {min_value: 0, max_value: 100}
  tier:
    dtype: String
    isin: [a, b]
    str_length: {min_value: 1, max_value: 1}
  "odd name; --":
    dtype: Int32
    nullable: false
    greater_than_or_equal_to: 0
  city: {dtype: String, nullable: true, unique: true}
unique: [tier, city]
"""


@pytest.fixture(scope="module")
def orders(tmp_path_factory: pytest.TempPathFactory) -> dvtool.Repo:
    repo = dvtool.Repo.init(tmp_path_factory.mktemp("orders") / ".dvtool")
    for v in (1, 2, 3):
        repo.snapshot(
            str(FIXTURES / "orders" / f"orders_v{v}.csv"), dataset="orders", key=["order_id"]
        )
    repo.snapshot(str(FIXTURES / "faults" / "orders_bad.csv"), dataset="bad")  # dates as text
    # The planted faults without the unparseable dates: negative amounts, bad
    # statuses, null customer_ids, duplicate order_ids.
    import pyarrow.compute as pc
    import pyarrow.csv as pacsv

    bad = pacsv.read_csv(FIXTURES / "faults" / "orders_bad.csv")
    dates = pc.strptime(bad["order_date"], format="%Y-%m-%d", unit="s", error_is_null=True)
    bad = bad.filter(pc.is_valid(dates)).set_column(
        2, "order_date", pc.cast(dates.filter(pc.is_valid(dates)), pa.date32())
    )
    repo.snapshot(bad, dataset="faulty")
    return repo


def same(value: Any) -> Any:
    """``value`` with floats to 12 significant digits: sums of floats differ in the last
    digits between engines (the order of addition), everything else must be equal."""
    if isinstance(value, float):
        return float(f"{value:.12g}")
    if isinstance(value, dict):
        return {k: same(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [same(v) for v in value]
    return value


def _messy() -> pa.Table:
    n = 40
    return pa.table(
        {
            "id": pa.array([i if i != 7 else 6 for i in range(n)], pa.int64()),
            "score": pa.array([None if i % 9 == 0 else float(i * 4) for i in range(n)]),
            "tier": pa.array(["a" if i % 3 else ("b" if i % 2 else "cc") for i in range(n)]),
            "odd name; --": pa.array([i - 3 if i < 5 else i for i in range(n)], pa.int32()),
            "city": pa.array([None if i % 4 == 0 else f"c{i % 13}" for i in range(n)]),
        }
    )


def test_query_same_rows(orders: dvtool.Repo, spark: Any) -> None:
    for sql in (
        'select status, count(*) as n from "orders@v1" group by status order by n desc, status',
        "select count(*) as n, round(sum(amount), 2) as total, min(order_date) as first from orders",
        'select o.order_id, o.amount as before, n.amount as after from "orders@v1" o '
        'join "orders@v2" n on o.order_id = n.order_id where o.amount <> n.amount order by 1 limit 5',
        "select currency, avg(amount) as mean from orders where note is null group by currency order by 1",
    ):
        assert same(orders.query(sql, engine="spark", spark=spark).to_pylist()) == same(
            orders.query(sql).to_pylist()
        ), sql


def test_query_cli_json(orders: dvtool.Repo, spark: Any) -> None:
    sql = 'select status, count(*) as n from "orders@v2" group by status order by n desc, status'
    base = ["--repo", orders.store.url, "query", sql, "--format", "json"]
    code, out, err = invoke(*base, "--engine", "spark")
    assert (code, err) == (0, "")
    assert json.loads(out) == json.loads(invoke(*base)[1]) and len(json.loads(out)) == 4


@pytest.mark.parametrize(
    ("sql", "why"),
    [
        ("insert overwrite directory '{tmp}/out' select 1", "InsertIntoDir"),
        ("create table t using parquet location '{tmp}/t' as select 1", "CreateTableAsSelect"),
        ("select * from parquet.`{tmp}`", "reading parquet."),
        ("select reflect('java.lang.System', 'exit', 0)", "function reflect"),
        ("cache table c as select * from orders", "CacheTableAsSelect"),
        ("set spark.sql.ansi.enabled=false", "SetCommand"),
    ],
)
def test_query_is_read_only(
    orders: dvtool.Repo, spark: Any, tmp_path: Path, sql: str, why: str
) -> None:
    before = tree_digest(Path(orders.store.url))
    code, out, err = invoke(
        "--repo", orders.store.url, "query", sql.format(tmp=tmp_path), "--engine", "spark"
    )
    assert code == 2 and out == b""
    assert err.startswith("Error: query failed: only read-only queries run here") and why in err
    assert len(err.strip().splitlines()) == 1
    assert tree_digest(Path(orders.store.url)) == before and list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("old", "new", "key"),
    [
        ("orders@v1", "orders@v2", None),  # keyed, chunks skipped, key-range groups
        ("orders@v2", "orders@v3", None),  # a column added
        ("orders@v1", "orders@v3", ()),  # keyless: whole rows as a multiset
        (
            "orders@v1",
            "orders@v2",
            ("customer_id", "order_date", "order_id"),
        ),  # another key: checked
        ("orders", None, None),  # latest against its parent
    ],
)
def test_diff_same_json(
    orders: dvtool.Repo, spark: Any, old: str, new: str | None, key: Any
) -> None:
    local = orders.diff(old, new, key=key, limit=7)
    remote = orders.diff(old, new, key=key, limit=7, engine="spark", spark=spark)
    assert same(json.loads(remote.to_json())) == same(json.loads(local.to_json()))
    assert local.rows.added + local.rows.removed + local.rows.changed > 0


def test_diff_cli_markdown(orders: dvtool.Repo, spark: Any) -> None:
    base = ["--repo", orders.store.url, "diff", "orders@v1", "orders@v2", "--format", "markdown"]
    code, out, err = invoke(*base, "--engine", "spark")
    assert (code, err) == (0, "") and out == invoke(*base)[1]


def test_diff_duplicate_key_same_error(orders: dvtool.Repo, spark: Any) -> None:
    local = remote = None
    try:
        orders.diff("orders@v1", "orders@v2", key=["status"])
    except dvtool.DataError as exc:
        local = str(exc)
    try:
        orders.diff("orders@v1", "orders@v2", key=["status"], engine="spark", spark=spark)
    except dvtool.DataError as exc:
        remote = str(exc)
    assert local is not None and remote == local


@pytest.mark.parametrize("ref", ["orders@v1", "orders@v3", "faulty"])
def test_validate_pandas_schema_same_json(orders: dvtool.Repo, spark: Any, ref: str) -> None:
    local = orders.validate(ref, schema=str(ORDERS_SCHEMA), use_cache=False)
    remote = orders.validate(ref, schema=str(ORDERS_SCHEMA), engine="spark", spark=spark)
    assert remote.to_json() == local.to_json()
    for fmt in ("text", "junit", "markdown", "github"):
        assert remote.render(fmt) == local.render(fmt)


def test_validate_polars_schema_with_failures(tmp_path: Path, spark: Any) -> None:
    repo = dvtool.Repo.init(tmp_path / ".dvtool")
    repo.snapshot(_messy(), dataset="messy")  # keyless: 'id' has a duplicate
    repo.snapshot(
        _messy().drop_columns(["id"]).append_column("id", pa.array(range(40), pa.int64())),
        dataset="keyed",
        key=["id"],
    )
    schema = tmp_path / "s.yaml"
    schema.write_text(POLARS_SCHEMA)
    for ref in ("messy", "keyed"):
        local = repo.validate(ref, schema=str(schema), use_cache=False)
        remote = repo.validate(ref, schema=str(schema), engine="spark", spark=spark)
        assert not local.ok and len(local.errors) >= 5
        assert remote.to_json() == local.to_json(), ref


def test_validate_cli_exit_codes(orders: dvtool.Repo, spark: Any) -> None:
    base = [
        "--repo",
        orders.store.url,
        "validate",
        "faulty",
        "--schema",
        str(ORDERS_SCHEMA),
        "--format",
        "json",
        "--no-cache",
    ]
    code, out, err = invoke(*base, "--engine", "spark")
    assert code == 1 and json.loads(out) == json.loads(invoke(*base)[1])
    assert json.loads(out)["errors"][0]["failure_count"] > 0
    code, out, _ = invoke(
        "--repo",
        orders.store.url,
        "validate",
        "orders@v1",
        "--schema",
        str(ORDERS_SCHEMA),
        "--engine",
        "spark",
    )
    assert code == 0
    # Text that pandas would parse as dates (or not) is a coercion the spark engine cannot count: refused.
    code, out, err = invoke(
        "--repo",
        orders.store.url,
        "validate",
        "bad",
        "--schema",
        str(ORDERS_SCHEMA),
        "--engine",
        "spark",
    )
    assert code == 2 and out == b""
    assert (
        "coercing column 'order_date' from string to datetime64[ns] is not supported by the spark engine"
        in err
    )


def test_unsupported_check_exit_2(orders: dvtool.Repo, spark: Any, tmp_path: Path) -> None:
    schema = tmp_path / "custom.py"
    schema.write_text(
        "import pandera.pandas as pa\n"
        "Orders = pa.DataFrameSchema({'amount': pa.Column(float, pa.Check(lambda s: s > 0, name='positive'))})\n"
    )
    before = tree_digest(Path(orders.store.url))
    code, out, err = invoke(
        "--repo",
        orders.store.url,
        "validate",
        "orders",
        "--schema",
        f"{schema}:Orders",
        "--engine",
        "spark",
    )
    assert code == 2 and out == b""
    assert (
        err.startswith("Error: schema ")
        and "(positive) cannot be expressed by the spark engine" in err
    )
    assert "--engine duckdb" in err and len(err.strip().splitlines()) == 1
    assert tree_digest(Path(orders.store.url)) == before


def test_spark_refuses_a_source(orders: dvtool.Repo, spark: Any) -> None:
    code, _, err = invoke(
        "--repo",
        orders.store.url,
        "diff",
        "orders",
        str(FIXTURES / "orders" / "orders_v3.csv"),
        "--engine",
        "spark",
    )
    assert code == 2 and "works on snapshots (REFs)" in err
