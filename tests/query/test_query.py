"""query.py: views by name and "NAME@REF", only named snapshots read, every output format."""

from __future__ import annotations

import io
import json
import uuid
from pathlib import Path

import fsspec
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from clitools import invoke
from dvtool.errors import NotFoundError, UsageError
from dvtool.query import TableInput, format_table, run_query, write_result
from dvtool.repo import Repo
from dvtool.sql import quote_ident
from s3server import S3Bucket

ODD = 'a"; DROP TABLE t; --'


def _files(tmp: Path, name: str, table: pa.Table, parts: int = 2) -> TableInput:
    folder = tmp / name.replace("@", "_")
    folder.mkdir(parents=True, exist_ok=True)
    files = []
    step = max(1, -(-table.num_rows // parts))
    for i in range(0, max(table.num_rows, 1), step):
        path = folder / f"{i}.parquet"
        pq.write_table(table.slice(i, step), path)
        files.append(str(path))
    return TableInput(table.schema, tuple(files))


def test_names_and_refs_become_views_and_only_named_ones_are_resolved(tmp_path: Path) -> None:
    v1 = pa.table({"id": [1, 2, 3], ODD: ["x", "y", "z"]})
    v2 = pa.table({"id": [1, 2, 3, 4], ODD: ["x", "y", "z", "w"]})
    tables = {
        "orders": _files(tmp_path, "orders", v2),
        "orders@v1": _files(tmp_path, "orders@v1", v1),
        "other-data.v2": _files(tmp_path, "other", v1),
    }
    asked: list[str] = []

    def resolve(name: str) -> TableInput | None:
        asked.append(name)
        return tables.get(name)

    out = run_query(
        f'select o.id, o.{quote_ident(ODD)} as v, (select count(*) from "orders@v1") as n1 '
        'from orders o left join "orders@v1" p using (id) where p.id is null',
        resolve,
    )
    assert out.to_pylist() == [{"id": 4, "v": "w", "n1": 3}]
    assert sorted(asked) == ["orders", "orders@v1"]  # "other-data.v2" was never touched
    assert run_query('select count(*) as n from "other-data.v2"', resolve).to_pylist() == [{"n": 3}]


def test_values_are_data_not_code(tmp_path: Path) -> None:
    t = pa.table({ODD: ["'); DROP TABLE x; --", "ok"], "with space": [1, 2]})
    tables = {"t": _files(tmp_path, "t", t)}
    out = run_query(
        f'select {quote_ident(ODD)}, "with space" from t order by "with space"', tables.get
    )
    assert out.column(ODD).to_pylist() == ["'); DROP TABLE x; --", "ok"]


def test_errors_are_one_line_usage_errors(tmp_path: Path) -> None:
    tables = {"t": _files(tmp_path, "t", pa.table({"a": [1]}))}
    with pytest.raises(UsageError, match=r"^query failed: Catalog Error: .*nope.*\(datasets: t\)$"):
        run_query("select * from nope", tables.get, known=["t"])
    with pytest.raises(UsageError, match=r"^query failed: Parser Error"):
        run_query("selec * from t", tables.get)
    with pytest.raises(UsageError, match="empty"):
        run_query("  ", tables.get)
    with pytest.raises(UsageError) as info:
        run_query("select a + 'x' from t", tables.get)
    assert "\n" not in str(info.value)


def test_empty_snapshot_keeps_its_columns() -> None:
    schema = pa.schema([("a", pa.int64()), ("b", pa.string())])
    out = run_query("select * from e", {"e": TableInput(schema)}.get)
    assert out.num_rows == 0 and out.schema.names == ["a", "b"]


def test_arrow_data_and_fsspec_urls(tmp_path: Path) -> None:
    fs = fsspec.filesystem("memory")
    root = f"memory://dvtool-test-{uuid.uuid4().hex}"
    with fs.open(f"{root}/part.parquet", "wb") as f:
        pq.write_table(pa.table({"x": [1, 2, 3]}), f)
    try:
        tables = {
            "remote": TableInput(pa.schema([("x", pa.int64())]), (f"{root}/part.parquet",)),
            "local": TableInput(pa.schema([("x", pa.int64())]), data=pa.table({"x": [2, 3, 4]})),
        }
        out = run_query(
            "select sum(x) as s from remote join local using (x)", tables.get, filesystem=fs
        )
        assert out.to_pylist() == [{"s": 5}]
    finally:
        fs.rm(root, recursive=True)


def test_output_formats() -> None:
    t = pa.table({"category": ["a", "b"], "n": [12, 3], "x": [1.5, float("nan")]})

    def write(fmt: str) -> bytes:
        buf = io.BytesIO()
        write_result(t.to_reader(), fmt, buf)
        return buf.getvalue()

    assert json.loads(write("json")) == [
        {"category": "a", "n": 12, "x": 1.5},
        {"category": "b", "n": 3, "x": "NaN"},
    ]
    assert write("csv").decode().splitlines() == ['"category","n","x"', '"a",12,1.5', '"b",3,nan']
    back = pq.read_table(io.BytesIO(write("parquet")))
    assert back.schema == t.schema and back.slice(0, 1).equals(t.slice(0, 1))
    assert write("table").decode() == format_table(t)
    assert format_table(t).splitlines() == [
        "category   n    x",
        "--------  --  ---",
        "a         12  1.5",
        "b          3  NaN",
        "(2 rows)",
    ]
    buf = io.BytesIO()
    write_result(pa.table({"a": pa.array([], pa.int64())}).to_reader(), "json", buf)
    assert json.loads(buf.getvalue()) == []
    with pytest.raises(UsageError, match="CSV cannot hold"):
        write_result(pa.table({"l": [[1, 2]]}).to_reader(), "csv", io.BytesIO())


# ---------------------------------------------------------------- through the repository


def _repo(url: str) -> Repo:
    repo = Repo.init(url)
    repo.snapshot(pa.table({"id": [1, 2, 3], "v": ["a", "b", "c"]}), dataset="orders", key=["id"])
    repo.snapshot(
        pa.table({"id": [1, 2, 3, 4], "v": ["a", "b", "c", "d"]}), dataset="orders", key=["id"]
    )
    repo.snapshot(pa.table({"k": [10]}), dataset="other.set")
    return repo


@pytest.mark.parametrize("where", ["file", "memory"])
def test_repo_query_latest_and_refs(tmp_path: Path, where: str) -> None:
    url = str(tmp_path / "repo") if where == "file" else f"memory://dvtool-q-{uuid.uuid4().hex}"
    repo = _repo(url)
    assert repo.query("select count(*) as n from orders").to_pylist() == [{"n": 4}]
    assert repo.query('select count(*) as n from "orders@v1"').to_pylist() == [{"n": 3}]
    assert repo.query('select count(*) as n from "orders@~1"').to_pylist() == [{"n": 3}]
    assert repo.query('select k from "other.set"').to_pylist() == [{"k": 10}]
    assert repo.query("select count(*) as n from ORDERS").to_pylist() == [{"n": 4}]
    with pytest.raises(NotFoundError, match="no dataset 'nope'"):
        repo.query('select * from "nope@v1"')
    with pytest.raises(NotFoundError, match="no version 9"):
        repo.query('select * from "orders@v9"')
    with pytest.raises(UsageError, match=r"nope.*\(datasets: orders, other.set\)"):
        repo.query("select * from nope")


_cli = invoke


def test_cli_query(tmp_path: Path) -> None:
    url = str(tmp_path / "repo")
    _repo(url)
    code, out, err = _cli(
        "--repo", url, "query", 'select id, v from "orders@v1" order by id', "--format", "json"
    )
    assert (code, err) == (0, "")
    assert json.loads(out) == [{"id": 1, "v": "a"}, {"id": 2, "v": "b"}, {"id": 3, "v": "c"}]
    code, out, _ = _cli(
        "--repo", url, "query", "select count(*) as n from orders", "--format", "csv"
    )
    assert (code, out) == (0, b'"n"\n4\n')
    code, out, _ = _cli("--repo", url, "query", "select count(*) as n from orders")
    assert out.decode() == "n\n-\n4\n(1 row)\n"
    target = tmp_path / "out.parquet"
    code, out, _ = _cli(
        "--repo", url, "query", "select * from orders", "--format", "parquet", "-o", str(target)
    )
    assert code == 0 and pq.read_table(target).num_rows == 4
    code, out, err = _cli("--repo", url, "query", "select * from missing")
    assert code == 2 and out == b""
    assert err.startswith("Error: query failed: Catalog Error") and err.count("\n") == 1
    code, _, err = _cli("--repo", url, "query", 'select * from "missing@v2"')
    assert (
        code == 2
        and err
        == "Error: query names 'missing@v2', but there is no dataset 'missing' (datasets: orders, other.set)\n"
    )


def test_repo_query_on_s3(s3_bucket: S3Bucket) -> None:
    repo = Repo.init(f"{s3_bucket.url}/repo", storage_options=s3_bucket.storage_options)
    repo.snapshot(pa.table({"id": [1, 2, 3], "v": ["a", "b", "c"]}), dataset="orders", key=["id"])
    repo.snapshot(pa.table({"id": [1, 2], "v": ["a", "B"]}), dataset="orders", key=["id"])
    assert repo.query('select count(*) as n from "orders@v1"').to_pylist() == [{"n": 3}]
    assert repo.query("select v from orders order by id").column("v").to_pylist() == ["a", "B"]
    d = repo.diff("orders")
    assert d.rows.to_dict() == {"added": 0, "removed": 1, "changed": 1, "unchanged": 1}


def test_odd_names_through_snapshot_diff_and_query(tmp_path: Path) -> None:
    repo = Repo.init(str(tmp_path / "r"))
    cols = {ODD: ["k1", "k2", "k3"], "with space": [1, 2, 3], "ünï'code": ["a", "b", "c"]}
    repo.snapshot(pa.table(cols), dataset="odd", key=[ODD])
    cols["with space"] = [1, 20, 3]
    repo.snapshot(pa.table(cols), dataset="odd", key=[ODD])
    d = repo.diff("odd")
    assert d.key == (ODD,) and d.rows.changed == 1 and d.columns["with space"] == 1
    assert d.samples.changed[0].key == {ODD: "k2"}
    out = repo.query(
        f"select {quote_ident(ODD)} as k, {quote_ident('ünï' + chr(39) + 'code')} as u "
        f'from "odd@v1" where "with space" = 2'
    )
    assert out.to_pylist() == [{"k": "k2", "u": "b"}]
