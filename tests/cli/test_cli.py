"""The command line: exact exit codes and one-line errors; bad input leaves the repo untouched."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from clitools import run, tree_digest

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"
ORDERS_V1 = str(FIXTURES / "orders" / "orders_v1.csv")
ORDERS_V2 = str(FIXTURES / "orders" / "orders_v2.csv")


@pytest.fixture
def repo_dir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("DVTOOL_REPO", raising=False)
    assert run(capsys, "init").exit_code == 0
    assert (
        run(
            capsys, "snapshot", ORDERS_V1, "-d", "orders", "--key", "order_id", "-m", "v1"
        ).exit_code
        == 0
    )
    return tmp_path / ".dvtool"


def test_init_twice_is_an_error(repo_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    r = run(capsys, "init")
    assert r.exit_code == 2 and r.stderr.startswith("Error: a dvtool repository already exists")


def test_no_repository_suggests_init(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("DVTOOL_REPO", raising=False)
    r = run(capsys, "log", "orders")
    assert r.exit_code == 2
    assert (
        r.stderr == "Error: no repository found here or above; run 'dvtool init' or pass --repo\n"
    )


def test_snapshot_json_and_unchanged(repo_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    r = run(
        capsys,
        "snapshot",
        ORDERS_V2,
        "-d",
        "orders",
        "--key",
        "order_id",
        "--json",
        "--tag",
        "t2",
        "--meta",
        "k=v",
    )
    assert r.exit_code == 0, r.stderr
    doc = json.loads(r.stdout)
    for k in (
        "dataset",
        "version",
        "id",
        "rows",
        "chunks",
        "new_chunks",
        "bytes_written",
        "unchanged",
    ):
        assert k in doc
    assert doc["version"] == 2 and doc["rows"] == 2030 and doc["unchanged"] is False
    r = run(capsys, "snapshot", ORDERS_V2, "-d", "orders", "--key", "order_id", "--json")
    assert json.loads(r.stdout)["unchanged"] is True and json.loads(r.stdout)["version"] == 2
    r = run(capsys, "snapshot", ORDERS_V2, "-d", "orders", "--key", "order_id")
    assert "unchanged" in r.stdout


def test_log_ls_show_tag(repo_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run(capsys, "snapshot", ORDERS_V2, "-d", "orders", "--key", "order_id", "-m", "second")
    assert run(capsys, "tag", "orders@v1", "first").exit_code == 0
    r = run(capsys, "tag", "orders@v2", "first")
    assert r.exit_code == 2 and "already exists" in r.stderr
    log = json.loads(run(capsys, "log", "orders", "--json").stdout)
    assert [(e["version"], e["rows"], e["message"], e["tags"]) for e in log] == [
        (2, 2030, "second", []),
        (1, 2000, "v1", ["first"]),
    ]
    text = run(capsys, "log", "orders").stdout
    assert text.splitlines()[0].split() == [
        "version",
        "id",
        "created",
        "(UTC)",
        "rows",
        "tags",
        "message",
    ]
    ls = json.loads(run(capsys, "ls", "--json").stdout)
    assert ls[0]["dataset"] == "orders" and ls[0]["version"] == 2 and ls[0]["rows"] == 2030
    show = json.loads(run(capsys, "show", "orders@first", "--json").stdout)
    assert show["version"] == 1 and show["key"] == ["order_id"] and show["tags"] == ["first"]
    assert show["schema"][0] == {"name": "order_id", "type": "int64"}
    text = run(capsys, "show", "orders@~1").stdout
    assert "orders@v1" in text and "order_id" in text


def test_export_to_stdout(repo_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    r = run(capsys, "export", "orders@v1", "-", "--format", "csv")
    assert r.exit_code == 0
    lines = r.stdout.splitlines()
    assert lines[0].startswith('"order_id"') and len(lines) == 2001


def write_truncated_parquet(tmp: Path) -> str:
    data = (FIXTURES / "orders" / "orders_v1.parquet").read_bytes()
    p = tmp / "truncated.parquet"
    p.write_bytes(data[: len(data) // 2])
    return str(p)


def write_ragged_csv(tmp: Path) -> str:
    p = tmp / "ragged.csv"
    p.write_text("a,b,c\n1,2,3\n4,5\n6,7,8,9\n")
    return str(p)


BAD = [
    (
        "truncated parquet",
        lambda t: ["snapshot", write_truncated_parquet(t), "-d", "x"],
        "truncated.parquet",
    ),
    ("ragged csv", lambda t: ["snapshot", write_ragged_csv(t), "-d", "x"], "ragged.csv"),
    ("missing key column", lambda t: ["snapshot", ORDERS_V1, "-d", "x", "--key", "nope"], "'nope'"),
    ("dotdot name", lambda t: ["snapshot", ORDERS_V1, "-d", "../x"], "invalid dataset name"),
    ("slash name", lambda t: ["snapshot", ORDERS_V1, "-d", "a/b"], "invalid dataset name"),
    ("dash name", lambda t: ["snapshot", ORDERS_V1, "-d", "-rf"], "invalid dataset name"),
    ("empty name", lambda t: ["snapshot", ORDERS_V1, "-d", ""], "invalid dataset name"),
    ("missing file", lambda t: ["snapshot", str(t / "nope.csv"), "-d", "x"], "nope.csv"),
    ("unknown ref", lambda t: ["show", "orders@v7"], "no version 7"),
    ("bad tag name", lambda t: ["tag", "orders", "a/b"], "invalid tag name"),
    ("credentials in url", lambda t: ["--repo", "s3://AKIA:secret@bucket/x", "ls"], "credentials"),
    ("bad meta", lambda t: ["snapshot", ORDERS_V1, "-d", "x", "--meta", "novalue"], "KEY=VALUE"),
]


@pytest.mark.parametrize(("case", "args", "names"), BAD, ids=[b[0] for b in BAD])
def test_bad_input_is_one_error_line_exit_2_and_repo_untouched(
    repo_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], case: str, args, names: str
) -> None:
    argv = args(tmp_path)
    before = tree_digest(repo_dir)
    r = run(capsys, *argv)
    assert r.exit_code == 2, (case, r)
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), r.stderr
    assert names in lines[0]
    assert "secret" not in r.stderr + r.stdout
    assert tree_digest(repo_dir) == before


def test_duplicate_key_is_exit_1_and_nothing_committed(
    repo_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = tree_digest(repo_dir)
    r = run(
        capsys,
        "snapshot",
        str(FIXTURES / "faults" / "orders_bad.csv"),
        "-d",
        "bad",
        "--key",
        "order_id",
    )
    assert r.exit_code == 1
    assert r.stderr.startswith("Error: key (order_id) is not unique: 3 duplicate rows")
    assert tree_digest(repo_dir) == before


def test_stdin_and_folder_sources(
    repo_dir: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    folder = tmp_path / "parts"
    folder.mkdir()
    (folder / "a.csv").write_text("id,v\n1,a\n2,b\n")
    (folder / "b.csv").write_text("id,v\n3,c\n")
    r = run(capsys, "snapshot", str(folder), "-d", "parts", "--json")
    assert json.loads(r.stdout)["rows"] == 3
    r = run(capsys, "snapshot", str(folder / "*.csv"), "-d", "parts", "--json")
    assert json.loads(r.stdout)["unchanged"] is True
    (folder / "c.csv").write_text("id,v\nx,1\n")
    r = run(capsys, "snapshot", str(folder), "-d", "parts")
    assert r.exit_code == 2 and "column 'id'" in r.stderr


def test_python_m_dvtool_and_version() -> None:
    import subprocess
    import sys

    r = subprocess.run(
        [sys.executable, "-m", "dvtool", "--version"],
        capture_output=True,
        text=True,
        env={**os.environ},
    )
    assert r.returncode == 0 and r.stdout.startswith("dvtool, version")


def test_stdin_csv_through_the_console_script(repo_dir: Path) -> None:
    import subprocess
    import sys

    data = (FIXTURES / "orders" / "orders_v1.csv").read_bytes()
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "dvtool",
            "snapshot",
            "-",
            "-d",
            "orders",
            "--key",
            "order_id",
            "--json",
        ],
        input=data,
        capture_output=True,
        cwd=repo_dir.parent,
        env={k: v for k, v in os.environ.items() if k != "DVTOOL_REPO"},
    )
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["unchanged"] is True  # same rows as the CSV snapshotted from a file


def test_fsspec_url_source_and_export(repo_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import uuid

    import fsspec
    import pyarrow.parquet as pq

    root = f"memory://src-{uuid.uuid4().hex}"
    fs = fsspec.filesystem("memory")
    fs.pipe(
        f"{root}/orders.csv".removeprefix("memory://"),
        (FIXTURES / "orders" / "orders_v1.csv").read_bytes(),
    )
    r = run(capsys, "snapshot", f"{root}/orders.csv", "-d", "orders", "--key", "order_id", "--json")
    assert r.exit_code == 0, r.stderr
    assert json.loads(r.stdout)["unchanged"] is True
    r = run(capsys, "export", "orders", f"{root}/out/orders.parquet")
    assert r.exit_code == 0, r.stderr
    with fs.open(f"{root}/out/orders.parquet".removeprefix("memory://"), "rb") as f:
        assert pq.read_table(f).num_rows == 2000


def test_a_folder_of_many_files_holds_one_open_at_a_time(tmp_path: Path) -> None:
    """A folder of 300 Parquet parts snapshots with a 128-file descriptor limit."""
    import subprocess
    import sys

    import pyarrow as pa
    import pyarrow.parquet as pq

    parts = tmp_path / "parts"
    parts.mkdir()
    for i in range(300):
        pq.write_table(pa.table({"id": [i], "v": [f"row {i}"]}), parts / f"part-{i:05d}.parquet")
    script = (
        "import resource, sys, dvtool\n"
        "resource.setrlimit(resource.RLIMIT_NOFILE, (128, 128))\n"
        "repo = dvtool.Repo.init(sys.argv[1])\n"
        "r = repo.snapshot(sys.argv[2], dataset='parts', key=['id'])\n"
        "print(r.snapshot.rows)\n"
    )
    r = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path / "repo"), str(parts)],
        capture_output=True,
        text=True,
    )
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "300"
