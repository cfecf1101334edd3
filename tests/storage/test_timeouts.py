"""A remote that accepts connections and never answers ends in exit 2, not a hang.

The remote is a real TCP server on 127.0.0.1 that accepts and then says
nothing. Each command runs as a real process with a generous wall-clock limit,
so a regression fails the test instead of hanging the suite; no timing is
asserted.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from dvtool.errors import UsageError
from dvtool.storage import DEFAULT_TIMEOUT
from dvtool.storage.filesystems import backend_options

ROOT = Path(__file__).resolve().parents[2]
LIMIT = 120  # seconds before the test calls it a hang


@pytest.fixture
def silent_server() -> Iterator[str]:
    """http://127.0.0.1:PORT that accepts every connection and never sends a byte."""
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.bind(("127.0.0.1", 0))
    server.listen(64)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            held.append(conn)  # keep it open, never answer

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.getsockname()[1]}"
    finally:
        stop.set()
        thread.join(timeout=5)
        for conn in held:
            conn.close()
        server.close()


def _env() -> dict[str, str]:
    return {
        **os.environ,
        "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""),
        "AWS_EC2_METADATA_DISABLED": "true",
    }


def _dvtool(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "dvtool", *args],
        capture_output=True,
        text=True,
        env=_env(),
        cwd=cwd,
        timeout=LIMIT,
    )


def test_every_remote_command_gives_up_with_exit_2(silent_server: str, tmp_path: Path) -> None:
    local = tmp_path / "local"
    src = tmp_path / "orders.csv"
    src.write_text("id,x\n1,a\n2,b\n")
    assert _dvtool("--repo", str(local), "init", cwd=tmp_path).returncode == 0
    assert (
        _dvtool(
            "--repo", str(local), "-q", "snapshot", str(src), "-d", "orders", cwd=tmp_path
        ).returncode
        == 0
    )
    remote = [
        "--storage-option",
        f"endpoint_url={silent_server}",
        "--storage-option",
        "key=k",
        "--storage-option",
        "secret=s",
        "--storage-option",
        "timeout=1",
    ]
    commands = [
        [*remote, "--repo", "s3://bucket/team", "ls"],  # the repository
        [
            *remote,
            "--repo",
            str(local),
            "-q",
            "push",
            "orders",
            "s3://bucket/team",
        ],  # a push target
        [
            *remote,
            "--repo",
            str(local),
            "-q",
            "snapshot",
            "s3://bucket/new.csv",
            "-d",
            "other",
        ],  # a SOURCE
        [
            *remote,
            "--repo",
            str(local),
            "-q",
            "export",
            "orders",
            "s3://bucket/out.parquet",
        ],  # an export
        [
            *remote,
            "--repo",
            str(local),
            "validate",
            f"{silent_server}/x.csv",
            "--schema",
            str(src),
        ],  # https
    ]
    # All at once: each mostly waits on the silent server.
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "dvtool", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=_env(),
            cwd=tmp_path,
        )
        for args in commands
    ]
    try:
        for args, proc in zip(commands, procs, strict=True):
            out, err = proc.communicate(timeout=LIMIT)
            assert proc.returncode == 2, (args, out, err)
            assert err.startswith("Error: ") and err.count("\n") == 1, (args, err)
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()


def test_the_timeout_option() -> None:
    options, timeout = backend_options("s3://b/x", {"endpoint_url": "http://h", "timeout": "2.5"})
    assert timeout == 2.5 and "timeout" not in options
    assert (
        options["config_kwargs"]["read_timeout"] == 2.5
        and options["config_kwargs"]["connect_timeout"] == 2.5
    )
    assert backend_options("s3://b/x", {})[1] == DEFAULT_TIMEOUT
    assert backend_options("memory://x", {"timeout": "3"}) == ({}, 3.0)
    for bad in ("0", "-1", "soon", "nan", "inf"):
        with pytest.raises(UsageError):
            backend_options("s3://b/x", {"timeout": bad})
