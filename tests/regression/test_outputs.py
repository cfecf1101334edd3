"""Files dvtool writes (export, every --output): whole or nothing, never over a link, a device or a file unasked.

Closed pipes end quietly (exit 0) and a full disk is exit 2 with one line;
both through the real console script, since they are about real file
descriptors.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from clitools import invoke, tree_digest

NESTED = pa.table(
    {
        "id": [1, 2],
        "l": [[1], [2, 3]],
        "s": [{"a": 1}, {"a": 2}],
        "m": pa.array([[("k", 1)], [("k", 2)]], pa.map_(pa.string(), pa.int64())),
    }
)


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    src = tmp_path / "orders.csv"
    src.write_text("id,x\n" + "".join(f"{i},v{i}\n" for i in range(3000)))
    assert invoke("--repo", str(root), "init")[0] == 0
    assert (
        invoke("--repo", str(root), "-q", "snapshot", str(src), "-d", "orders", "--key", "id")[0]
        == 0
    )
    schema = tmp_path / "s.yaml"
    schema.write_text(
        "schema_type: dataframe\nversion: 0.35.0\ncolumns:\n  id:\n    dtype: int64\n"
    )
    return root


def _writers(repo: Path, tmp: Path, target: str) -> dict[str, list[str]]:
    """Every command that writes a file the user names, writing to ``target``."""
    base = ["--repo", str(repo), "-q"]
    return {
        "export": [*base, "export", "orders", target, "--format", "csv"],
        "query": [*base, "query", "select * from orders", "--format", "csv", "-o", target],
        "validate": [*base, "validate", "orders", "--schema", str(tmp / "s.yaml"), "-o", target],
        "diff": [*base, "diff", "orders", str(tmp / "orders.csv"), "-o", target],
        "schema infer": [*base, "schema", "infer", "orders", "-o", target],
    }


def _one_line(err: str) -> bool:
    return err.startswith("Error: ") and err.count("\n") == 1


def test_an_existing_file_is_refused_unless_force(repo: Path, tmp_path: Path) -> None:
    target = tmp_path / "out.txt"
    for name, args in _writers(repo, tmp_path, str(target)).items():
        target.write_text("precious")
        code, _, err = invoke(*args)
        assert code == 2 and _one_line(err) and "--force" in err, (name, err)
        assert target.read_text() == "precious", name
        code, _, err = invoke(*args, "--force")
        assert code == 0, (name, err)
        assert target.read_text() != "precious" and target.stat().st_size > 0, name
        assert not target.is_symlink()
    assert sorted(p.name for p in tmp_path.iterdir() if ".tmp-" in p.name) == []


def test_a_symlink_is_never_written_through_or_replaced(repo: Path, tmp_path: Path) -> None:
    victim = tmp_path / "victim.txt"
    link = tmp_path / "link.txt"
    dangling = tmp_path / "dangling.txt"
    victim.write_text("precious")
    link.symlink_to(victim)
    dangling.symlink_to(tmp_path / "nowhere.txt")
    for target in (link, dangling):
        for name, args in _writers(repo, tmp_path, str(target)).items():
            for force in ([], ["--force"]):
                code, _, err = invoke(*args, *force)
                assert code == 2 and _one_line(err) and "symbolic link" in err, (name, force, err)
                assert target.is_symlink() and victim.read_text() == "precious", name
    assert not (tmp_path / "nowhere.txt").exists()


def test_a_special_file_is_never_replaced(repo: Path, tmp_path: Path) -> None:
    """A socket made here stands for devices and pipes: never /dev/null itself (a broken dvtool
    would replace it for the whole machine), and no pipe (a broken dvtool would block on it)."""
    import socket

    sock_path = tmp_path / "sock"
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(str(sock_path))
    try:
        for name, args in _writers(repo, tmp_path, str(sock_path)).items():
            for force in ([], ["--force"]):
                code, _, err = invoke(*args, *force)
                assert code == 2 and _one_line(err) and "not a regular file" in err, (name, err)
        assert sock_path.is_socket()
    finally:
        server.close()


def test_export_into_a_non_empty_folder(repo: Path, tmp_path: Path) -> None:
    out = tmp_path / "parts"
    out.mkdir()
    for i in range(40):  # more stale parts than the snapshot has chunks
        (out / f"part-{i:05d}.parquet").write_bytes(b"stale")
    code, _, err = invoke("--repo", str(repo), "export", "orders", str(out))
    assert code == 2 and _one_line(err) and "not empty" in err, err
    assert len(list(out.iterdir())) == 40
    code, _, err = invoke("--repo", str(repo), "-q", "export", "orders", str(out), "--force")
    assert code == 0, err
    parts = sorted(out.iterdir())
    assert all(p.read_bytes() != b"stale" for p in parts), "a stale part survived"
    assert sum(pq.read_metadata(p).num_rows for p in parts) == 3000
    # The folder snapshots back as the same data.
    code, out_text, err = invoke(
        "--repo", str(repo), "-q", "snapshot", str(out), "-d", "orders", "--key", "id"
    )
    assert code == 0 and "unchanged" in out_text.decode(), (out_text, err)
    # A folder with a file dvtool did not write is not touched, even with --force.
    (out / "notes.txt").write_text("mine")
    before = tree_digest(out)
    code, _, err = invoke("--repo", str(repo), "export", "orders", str(out), "--force")
    assert code == 2 and "notes.txt" in err and tree_digest(out) == before, err


@pytest.mark.parametrize("fmt", ["csv"])
def test_csv_export_of_nested_columns_names_the_column(
    repo: Path, tmp_path: Path, fmt: str
) -> None:
    src = tmp_path / "nested.parquet"
    pq.write_table(NESTED, src)
    assert invoke("--repo", str(repo), "-q", "snapshot", str(src), "-d", "nested")[0] == 0
    for dest in ("-", str(tmp_path / "n.csv")):
        code, out, err = invoke("--repo", str(repo), "export", "nested", dest, "--format", fmt)
        assert code == 2 and _one_line(err) and "column 'l'" in err and out == b"", err
    assert not (tmp_path / "n.csv").exists()
    code, _, err = invoke("--repo", str(repo), "-q", "export", "nested", str(tmp_path / "n.jsonl"))
    assert code == 0, err


def _console(repo: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "dvtool", "--repo", str(repo), *args]


def _env() -> dict[str, str]:
    root = str(Path(__file__).resolve().parents[2])
    return {**os.environ, "PYTHONPATH": root + os.pathsep + os.environ.get("PYTHONPATH", "")}


@pytest.mark.parametrize(
    "args",
    [
        ["export", "orders", "-"],
        ["query", "select * from orders", "--format", "csv"],
        ["log", "orders"],
    ],
)
def test_a_closed_pipe_ends_quietly_with_exit_0(repo: Path, args: list[str]) -> None:
    """Like `dvtool export orders - | head -1`."""
    proc = subprocess.Popen(
        _console(repo, *args), stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=_env()
    )
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.readline()
    proc.stdout.close()  # the reader goes away
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=120) == 0, err
    assert err == "", err


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full")
@pytest.mark.parametrize(
    "args", [["export", "orders", "-"], ["query", "select * from orders", "--format", "json"]]
)
def test_a_full_disk_is_exit_2_with_one_line(repo: Path, args: list[str]) -> None:
    before = tree_digest(repo)
    with open("/dev/full", "wb") as full:
        proc = subprocess.run(
            _console(repo, *args), stdout=full, stderr=subprocess.PIPE, env=_env(), timeout=120
        )
    err = proc.stderr.decode()
    assert proc.returncode == 2 and _one_line(err) and "no space left" in err, err
    assert tree_digest(repo) == before


@pytest.mark.parametrize("inside", ["dvtool.json", "objects/new.csv", "out.csv"])
def test_no_output_is_written_inside_the_repository_even_with_force(
    repo: Path, tmp_path: Path, inside: str
) -> None:
    # found by the exit-code fuzz: `export orders repo/dvtool.json --force` replaced the marker
    before = tree_digest(repo)
    for name, args in _writers(repo, tmp_path, str(repo / inside)).items():
        code, _out, err = invoke(*args, "--force")
        assert code == 2, (name, err)
        assert "inside the dvtool repository" in err, (name, err)
        assert tree_digest(repo) == before, name
