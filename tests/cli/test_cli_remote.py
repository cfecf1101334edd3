"""End to end on S3 (moto's server): a remote repository, push and pull, secrets."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from dvtool.cli.app import cli, main
from dvtool.crashpoints import CRASH_EXIT_CODE, POINTS
from s3server import S3Bucket

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "orders"
SECRET = "wJalrXUtnFEMI-K7MDENG-not-a-real-secret"


@dataclass(frozen=True)
class Run:
    code: int
    out: str
    err: str

    def json(self) -> Any:
        return json.loads(self.out)


def dvtool(*args: str) -> Run:
    """Run the real entry point (``Error:`` lines and exit codes included)."""
    with CliRunner().isolation() as (out, err, _):
        try:
            main(list(args))
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 0
    return Run(code, out.getvalue().decode(), err.getvalue().decode())


def ok(*args: str) -> Run:
    result = dvtool(*args)
    assert result.code == 0, f"dvtool {' '.join(args)}\n{result.out}\n{result.err}"
    return result


def has_command(name: str) -> bool:
    return name in cli.commands


@pytest.fixture
def remote(s3_bucket: S3Bucket) -> list[str]:
    """Global options that open the S3 repository ``s3://BUCKET/team``."""
    return [*s3_bucket.cli_options(), "--repo", f"{s3_bucket.url}/team"]


def test_remote_repository_push_and_pull(
    tmp_path: Path, s3_bucket: S3Bucket, remote: list[str]
) -> None:
    url = f"{s3_bucket.url}/team"
    opts = s3_bucket.cli_options()
    ok(*opts, "init", url)
    assert dvtool(*opts, "init", url).code == 2  # exists

    v1 = ok(
        *remote,
        "snapshot",
        str(FIXTURES / "orders_v1.csv"),
        "-d",
        "orders",
        "--key",
        "order_id",
        "-m",
        "first",
        "--json",
    ).json()
    assert (v1["version"], v1["rows"], v1["unchanged"]) == (1, 2000, False)
    ok(
        *remote,
        "snapshot",
        str(FIXTURES / "orders_v2.csv"),
        "-d",
        "orders",
        "--key",
        "order_id",
        "-m",
        "second",
    )
    ok(*remote, "tag", "orders@v1", "first-import")
    log = ok(*remote, "log", "orders", "--json").json()
    assert [e["version"] for e in log] == [2, 1] and log[1]["tags"] == ["first-import"]
    assert ok(*remote, "show", "orders@v1", "--json").json()["rows"] == 2000
    exported = tmp_path / "v2.parquet"
    ok(*remote, "export", "orders@v2", str(exported))
    assert pq.read_table(exported).num_rows == 2030

    # Push to a local repository: everything the first time.
    local = str(tmp_path / "local")
    ok("init", local)
    pushed = ok(*remote, "push", "orders", local, "--json").json()
    assert pushed["datasets"] == [
        {"dataset": "orders", "versions": [1, 2], "tags": ["first-import"], "head": 2}
    ]
    assert pushed["objects"] == len(
        {c["object"] for v in (1, 2) for c in _chunks(remote, f"orders@v{v}")}
    )

    # v3 on S3, pushed again: only v3's new chunks travel, and the bytes say so.
    ok(
        *remote,
        "snapshot",
        str(FIXTURES / "orders_v3.csv"),
        "-d",
        "orders",
        "--key",
        "order_id",
        "-m",
        "third",
    )
    old = {c["object"] for v in (1, 2) for c in _chunks(remote, f"orders@v{v}")}
    new = {c["object"]: c["bytes"] for c in _chunks(remote, "orders@v3") if c["object"] not in old}
    again = ok(*remote, "push", "orders", local, "--json").json()
    assert again["datasets"][0]["versions"] == [3]
    assert (again["objects"], again["object_bytes"]) == (len(new), sum(new.values()))
    text = ok(*remote, "push", "orders", local)
    assert text.out == f"orders: up to date (v3) in {local}\n"

    # Pull into an empty local repository: same history, same rows.
    fresh = str(tmp_path / "fresh")
    ok("init", fresh)
    pulled = ok(*opts, "--repo", fresh, "pull", url, "orders")
    assert pulled.out.startswith(
        f"orders: copied v1..v3 (3 versions) and tag first-import to {fresh}\n"
    )
    assert (
        ok("--repo", fresh, "log", "orders", "--json").json()
        == ok(*remote, "log", "orders", "--json").json()
    )
    for version in (1, 2, 3):
        mine, theirs = tmp_path / f"r{version}.parquet", tmp_path / f"f{version}.parquet"
        ok(*remote, "export", f"orders@v{version}", str(mine))
        ok("--repo", fresh, "export", f"orders@v{version}", str(theirs))
        assert pq.read_table(mine).equals(pq.read_table(theirs))
    if has_command("fsck"):
        ok("--repo", fresh, "fsck")
        ok(*remote, "fsck")

    # Commands that read a remote repository directly (when they exist).
    if has_command("diff"):
        diff = ok(*remote, "diff", "orders@v1", "orders@v2", "--format", "json").json()
        assert diff["rows"]["added"] > 0
    if has_command("query"):
        rows = ok(*remote, "query", "select count(*) as n from orders", "--format", "json").json()
        assert rows == [{"n": 2130}]
    if has_command("validate"):
        schema = str(FIXTURES.parent / "faults" / "orders.schema.yaml")
        report = ok(*remote, "validate", "orders@v2", "--schema", schema, "--format", "json")
        assert report.json()["ok"] is True
        bad = str(FIXTURES.parent / "faults" / "orders_bad.csv")
        before = _objects(s3_bucket)
        failed = dvtool(*remote, "snapshot", bad, "-d", "orders", "--schema", schema)
        assert failed.code == 1
        assert _objects(s3_bucket) == before  # the gate wrote nothing to S3

    # Diverged: both sides commit a different v4.
    ok(*remote, "snapshot", str(FIXTURES / "orders_v1.csv"), "-d", "orders", "--key", "order_id")
    ok(
        "--repo",
        fresh,
        "snapshot",
        str(FIXTURES / "orders_v2.csv"),
        "-d",
        "orders",
        "--key",
        "order_id",
    )
    diverged = dvtool(*opts, "--repo", fresh, "pull", url, "orders")
    assert diverged.code == 2
    assert diverged.err.startswith("Error: orders: the histories have diverged at v4 ")
    assert diverged.out == ""


def _objects(bucket: S3Bucket) -> dict[str, str]:
    import s3fs

    fs = s3fs.S3FileSystem(skip_instance_cache=True, **bucket.storage_options)
    return {path: info["ETag"] for path, info in fs.find(bucket.name, detail=True).items()}


def _chunks(remote: list[str], ref: str) -> list[dict[str, Any]]:
    chunks: list[dict[str, Any]] = ok(*remote, "show", ref, "--json").json()["chunks"]
    return chunks


def test_push_to_a_missing_repository_says_how_to_create_it(
    tmp_path: Path, s3_bucket: S3Bucket
) -> None:
    local = str(tmp_path / "local")
    ok("init", local)
    ok("--repo", local, "snapshot", str(FIXTURES / "orders_v1.csv"), "-d", "orders")
    result = dvtool(
        *s3_bucket.cli_options(), "--repo", local, "push", "orders", f"{s3_bucket.url}/nothing"
    )
    assert result.code == 2
    assert result.err == (
        f"Error: no dvtool repository at {s3_bucket.url}/nothing; "
        f"run 'dvtool init {s3_bucket.url}/nothing'\n"
    )


@pytest.mark.parametrize("where", ["--repo", "push", "pull", "init"])
def test_credentials_in_a_url_are_refused_and_never_printed(
    tmp_path: Path, s3_bucket: S3Bucket, where: str
) -> None:
    secret_url = f"s3://AKIAEXAMPLEKEY:{SECRET}@{s3_bucket.name}/team"
    local = str(tmp_path / "local")
    ok("init", local)
    args = {
        "--repo": ["--repo", secret_url, "log", "orders"],
        "push": ["--repo", local, "push", "orders", secret_url],
        "pull": ["--repo", local, "pull", secret_url, "orders"],
        "init": ["init", secret_url],
    }[where]
    for debug in ([], ["--debug"]):
        result = dvtool(*debug, *s3_bucket.cli_options(), *args)
        if debug:  # the traceback, then the same line and exit code
            assert result.code == 2 and "Traceback" in result.err
            assert SECRET not in result.out + result.err and "AKIAEXAMPLEKEY" not in result.err
            continue
        assert result.code == 2
        assert result.err.startswith("Error: URL s3://***@")
        assert SECRET not in result.out + result.err
        assert "AKIAEXAMPLEKEY" not in result.out + result.err


def test_secret_storage_options_stay_out_of_output_and_repository(
    tmp_path: Path, s3_bucket: S3Bucket
) -> None:
    opts = [*s3_bucket.cli_options(), "--storage-option", f"secret={SECRET}"]
    url = f"{s3_bucket.url}/team"
    outputs = [
        ok(*opts, "init", url),
        ok(
            *opts,
            "--repo",
            url,
            "snapshot",
            str(FIXTURES / "orders_v1.csv"),
            "-d",
            "orders",
            "--json",
        ),
        ok(*opts, "--repo", url, "show", "orders", "--json"),
        dvtool(*opts, "--repo", url, "show", "orders@v9"),
        dvtool(*opts, "--repo", f"{s3_bucket.url}-missing/team", "log", "orders"),
    ]
    for result in outputs:
        assert SECRET not in result.out + result.err
    import s3fs

    fs = s3fs.S3FileSystem(**s3_bucket.storage_options)
    for path in fs.find(s3_bucket.name):
        assert SECRET.encode() not in fs.cat_file(path), path


def test_missing_backend_names_the_extra() -> None:
    pytest.importorskip("fsspec")
    try:
        import gcsfs  # noqa: F401
    except ImportError:
        pass
    else:
        pytest.skip("gcsfs is installed")
    result = dvtool("--repo", "gs://some-bucket/repo", "log", "orders")
    assert result.code == 2
    assert result.err.startswith("Error: no filesystem for gs://")
    assert "pip install 'dvtool[gcs]'" in result.err


def test_interrupted_push_to_s3_resumes(tmp_path: Path, s3_bucket: S3Bucket) -> None:
    from dvtool.repo import Repo

    local = Repo.init(str(tmp_path / "local"))
    for name in ("orders_v1.csv", "orders_v2.csv", "orders_v3.csv"):
        local.snapshot(str(FIXTURES / name), dataset="orders", key=["order_id"])
    url = f"{s3_bucket.url}/team"
    remote = Repo.init(url, storage_options=s3_bucket.storage_options)

    def interrupt_after_first_object(done: int, total: int) -> None:
        if done > 0:
            raise KeyboardInterrupt  # what Ctrl-C does mid-push

    with pytest.raises(KeyboardInterrupt):
        local.push(
            ["orders"],
            url,
            storage_options=s3_bucket.storage_options,
            progress=interrupt_after_first_object,
        )
    # The target is readable: no version is visible before its data is complete.
    assert dvtool(*s3_bucket.cli_options(), "--repo", url, "log", "orders").code == 2
    assert remote.store.list("objects")  # some chunk made it

    result = ok(
        *s3_bucket.cli_options(), "--repo", str(tmp_path / "local"), "push", "orders", url, "--json"
    ).json()
    assert result["datasets"][0]["versions"] == [1, 2, 3]
    assert result["objects_present"] >= 1  # the chunk copied before the interruption
    if has_command("fsck"):
        ok(*s3_bucket.cli_options(), "--repo", url, "fsck")
    for version in (1, 2, 3):
        ref = f"orders@v{version}"
        assert remote.get(ref).to_arrow().equals(local.get(ref).to_arrow())


def test_a_store_that_ignores_create_only_refuses_commits(no_exclusive_url: str) -> None:
    message = f"Error: {no_exclusive_url} does not honour create-only writes"
    refused = dvtool("init", no_exclusive_url)
    assert (refused.code, refused.err.startswith(message)) == (2, True)
    # A repository made there by other means still refuses to commit.
    from dvtool.format.models import canonical_json
    from dvtool.storage import open_store

    open_store(no_exclusive_url).create(
        "dvtool.json", canonical_json({"format": "dvtool", "version": 1})
    )
    result = dvtool(
        "--repo", no_exclusive_url, "snapshot", str(FIXTURES / "orders_v1.csv"), "-d", "orders"
    )
    assert (result.code, result.err.startswith(message)) == (2, True)
    assert dvtool("--repo", no_exclusive_url, "log", "orders").code == 2


@pytest.mark.parametrize("point", POINTS["push"])
def test_push_killed_midway_then_rerun_completes(
    tmp_path: Path, s3_bucket: S3Bucket, point: str
) -> None:
    from dvtool.repo import Repo

    local = Repo.init(str(tmp_path / "local"))
    for name in ("orders_v1.csv", "orders_v2.csv", "orders_v3.csv"):
        local.snapshot(str(FIXTURES / name), dataset="orders", key=["order_id"])
    url = f"{s3_bucket.url}/team"
    remote = Repo.init(url, storage_options=s3_bucket.storage_options)
    push = [*s3_bucket.cli_options(), "--repo", str(tmp_path / "local"), "push", "orders", url]

    src = str(Path(__file__).resolve().parents[2])
    env = {**os.environ, "DVTOOL_CRASH_AT": point, "PYTHONPATH": src}
    killed = subprocess.run(
        [sys.executable, "-m", "dvtool", *push], env=env, capture_output=True, timeout=120
    )
    assert killed.returncode == CRASH_EXIT_CODE, killed.stderr.decode()
    # Whatever is visible is a complete prefix of the history.
    visible = [e.version for e in remote.log("orders")] if remote.has_dataset("orders") else []
    assert visible == ([1] if point == "transfer.after_version_entry" else [])
    for version in visible:
        assert remote.get(f"orders@v{version}").to_arrow().num_rows > 0

    rerun = ok(*push, "--json").json()
    assert rerun["datasets"][0]["versions"] == [v for v in (1, 2, 3) if v not in visible]
    if has_command("fsck"):
        ok(*s3_bucket.cli_options(), "--repo", url, "fsck")
    for version in (1, 2, 3):
        ref = f"orders@v{version}"
        assert remote.get(ref).to_arrow().equals(local.get(ref).to_arrow())
