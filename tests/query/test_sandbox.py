"""`dvtool query` reads the snapshots it names and nothing else, and writes nowhere.

Every forbidden statement is tried through the real CLI on a local and on an S3
(moto) repository: exit 2, one ``Error:`` line, the repository byte-for-byte
unchanged, no file created, nothing of the file it tried to read printed. The
lock-down itself (DuckDB's ``enable_external_access`` + ``lock_configuration``)
is also checked without dvtool's statement check in front of it.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from clitools import invoke, tree_digest
from dvtool import sql
from s3server import S3Bucket

HOSTNAME = "/etc/hostname"


@dataclass(frozen=True)
class Setup:
    """A repository with one dataset ``orders``, how to reach it, and how to list its bytes."""

    options: list[str]
    chunk: str  # where one chunk of orders lives (a path or an s3:// URL)
    marker: str  # the repository's dvtool.json
    other: str  # a Parquet file outside the repository, readable by this user
    digest: Callable[[], dict[str, str]]


def _snapshot(options: list[str], tmp: Path) -> None:
    src = tmp / "orders.csv"
    src.write_text("order_id,amount\n1,10.5\n2,20.25\n3,7\n")
    for args in (["init"], ["snapshot", str(src), "-d", "orders", "--key", "order_id"]):
        code, _, err = invoke(*options, "-q", *args)
        assert code == 0, err


@pytest.fixture
def local(tmp_path: Path) -> Setup:
    repo = tmp_path / "repo"
    options = ["--repo", str(repo)]
    _snapshot(options, tmp_path)
    other = tmp_path / "elsewhere.parquet"
    pq.write_table(pa.table({"secret": ["outside"]}), other)
    (chunk,) = [p for p in repo.rglob("objects/*/*.parquet")]
    return Setup(
        options, str(chunk), str(repo / "dvtool.json"), str(other), lambda: tree_digest(repo)
    )


@pytest.fixture
def remote(s3_bucket: S3Bucket, tmp_path: Path) -> Iterator[Setup]:
    import s3fs

    fs = s3fs.S3FileSystem(**s3_bucket.storage_options)
    url = f"{s3_bucket.url}/team"
    options = [*s3_bucket.cli_options(), "--repo", url]
    _snapshot(options, tmp_path)
    # Another bucket the same credentials can read: SQL must not reach it.
    other_bucket = f"{s3_bucket.name}-other"
    fs.mkdir(other_bucket)
    with fs.open(f"{other_bucket}/elsewhere.parquet", "wb") as f:
        pq.write_table(pa.table({"secret": ["outside"]}), f)
    (chunk,) = [k for k in fs.find(f"{s3_bucket.name}/team/objects") if k.endswith(".parquet")]

    def digest() -> dict[str, str]:
        fs.invalidate_cache()
        return {
            k: hashlib.sha256(fs.cat_file(k)).hexdigest()
            for k in fs.find(s3_bucket.name) + fs.find(other_bucket)
        }

    yield Setup(
        options,
        f"s3://{chunk}",
        f"{url}/dvtool.json",
        f"s3://{other_bucket}/elsewhere.parquet",
        digest,
    )


def _forbidden(s: Setup, scratch: Path) -> dict[str, str]:
    """Each statement a query must not run, by what it tries."""
    copy_to = str(scratch / "copied.csv")
    return {
        "copy over a chunk": f"copy (select 1 as x) to '{s.chunk}' (format parquet)",
        "copy over a chunk without temp file": (
            f"copy (select 42 as x) to '{s.chunk}' (format parquet, use_tmp_file false)"
        ),
        "copy to the marker": f"copy (select 1 as x) to '{s.marker}'",
        "copy elsewhere": f"copy (select 1 as x) to '{copy_to}'",
        "copy a dataset": f"copy orders to '{copy_to}'",
        "read a system file": f"select * from read_text('{HOSTNAME}')",
        "read another csv": f"select * from read_csv('{copy_to}')",
        "read another parquet": f"select * from read_parquet('{s.other}')",
        "read a chunk by path": f"select * from read_parquet('{s.chunk}')",
        "glob": "select * from glob('/etc/*')",
        "attach": f"attach '{scratch / 'x.duckdb'}' as x",
        "install": "install httpfs",
        "load": "load httpfs",
        "unlock": "set enable_external_access = true",
        "unlock by reset": "reset enable_external_access",
        "unlock the configuration": "set lock_configuration = false",
        "export database": f"export database '{scratch / 'exported'}'",
        "explain analyze copy": f"explain analyze copy (select 1) to '{copy_to}'",
        "a second statement": f"select 1; copy (select 1) to '{copy_to}'",
        "a secret": "create secret (type s3, key_id 'a', secret 'b')",
        "pragma": "pragma threads = 1",
    }


def _check_refused(s: Setup, tmp_path: Path) -> None:
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    before = s.digest()
    for what, text in _forbidden(s, scratch).items():
        code, out, err = invoke(*s.options, "query", text)
        assert code == 2, f"{what}: exit {code}\n{out!r}\n{err}"
        assert err.startswith("Error: ") and err.count("\n") == 1, f"{what}: {err!r}"
        assert b"outside" not in out and b"outside" not in err.encode(), what
        assert s.digest() == before, f"{what} changed the repository"
        assert list(scratch.iterdir()) == [], f"{what} wrote {list(scratch.iterdir())}"
    if os.path.exists(HOSTNAME):
        hostname = Path(HOSTNAME).read_text().strip()
        code, out, _ = invoke(*s.options, "query", f"select * from read_text('{HOSTNAME}')")
        assert code == 2 and (not hostname or hostname.encode() not in out)


def test_every_forbidden_statement_is_refused_on_a_local_repository(
    local: Setup, tmp_path: Path
) -> None:
    _check_refused(local, tmp_path)


@pytest.mark.s3
def test_every_forbidden_statement_is_refused_on_an_s3_repository(
    remote: Setup, tmp_path: Path
) -> None:
    _check_refused(remote, tmp_path)


@pytest.mark.s3
def test_s3_query_still_reads_the_named_snapshot(remote: Setup) -> None:
    code, out, err = invoke(
        *remote.options,
        "query",
        "select sum(amount) as s from orders where order_id > 1",
        "--format",
        "csv",
    )
    assert (code, out.decode().splitlines()) == (0, ['"s"', "27.25"]), err


def test_reading_statements_still_work(local: Setup) -> None:
    for text, expected in {
        "select count(*) as n from orders": ['"n"', "3"],
        'from "orders@v1" select max(order_id) as m': ['"m"', "3"],
        "with t as (select * from orders) select count(*) as n from t": ['"n"', "3"],
        "values (1), (2)": ['"col0"', "1", "2"],
        "pivot (select order_id from orders) on order_id in (1, 2, 3) using count(*)": [
            '"1","2","3"',
            "1,1,1",
        ],
    }.items():
        code, out, err = invoke(*local.options, "query", text, "--format", "csv")
        assert (code, out.decode().splitlines()) == (0, expected), f"{text}: {err}"
    for text in ("describe orders", "summarize orders", "show tables"):
        code, _, err = invoke(*local.options, "query", text)
        assert code == 0, f"{text}: {err}"


def test_the_output_file_is_written_by_dvtool(local: Setup, tmp_path: Path) -> None:
    target = tmp_path / "out.parquet"
    code, _, err = invoke(
        *local.options, "query", "select * from orders", "--format", "parquet", "-o", str(target)
    )
    assert code == 0, err
    assert pq.read_table(target).column("order_id").to_pylist() == [1, 2, 3]


def test_the_lock_down_holds_without_the_statement_check(tmp_path: Path) -> None:
    """DuckDB itself refuses: the statement check is a second wall, not the only one."""
    chunk = tmp_path / "chunk.parquet"
    pq.write_table(pa.table({"x": [1, 2, 3]}), chunk)
    before = chunk.read_bytes()
    scratch = tempfile.mkdtemp(dir=tmp_path)
    con = sql.sandbox(scratch=scratch)
    try:
        import pyarrow.dataset as ds

        con.register("t", ds.dataset([str(chunk)]))
        assert con.sql("select sum(x) from t where x > 1").fetchall() == [(5,)]
        for text in (
            f"copy (select 42 as x) to '{chunk}' (format parquet, use_tmp_file false)",
            f"copy (select 1) to '{tmp_path / 'b.csv'}'",
            f"select * from read_parquet('{chunk}')",
            f"select * from read_text('{HOSTNAME}')",
            f"attach '{tmp_path / 'x.duckdb'}'",
            "load httpfs",
            "set enable_external_access = true",
            "set lock_configuration = false",
            f"export database '{tmp_path / 'e'}'",
        ):
            with pytest.raises(duckdb.Error):
                con.sql(text)
        secret = pa.table({"x": [99]})  # noqa: F841 - a Python variable SQL must not see
        with pytest.raises(duckdb.Error):
            con.sql("select * from secret")
    finally:
        con.close()
    assert chunk.read_bytes() == before
    assert not (tmp_path / "b.csv").exists() and not (tmp_path / "x.duckdb").exists()


def test_a_query_leaves_no_scratch_folder(
    local: Setup, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A private temporary folder: other processes' queries on the machine cannot disturb the count.
    private = tmp_path / "tmp"
    private.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(private))

    def scratch_folders() -> set[str]:
        return {p for p in os.listdir(tempfile.gettempdir()) if p.startswith("dvtool-query-")}

    before = scratch_folders()
    assert invoke(*local.options, "query", "select * from orders order by amount")[0] == 0
    assert invoke(*local.options, "query", "copy orders to 'x.csv'")[0] == 2
    assert scratch_folders() == before
