"""Shared fixtures: a real S3 server (moto's server mode) on 127.0.0.1.

The server runs as a subprocess for the whole session and is stopped by its
PID at the end; every test that wants S3 gets a fresh bucket. moto checks
``If-None-Match`` (create-only semantics) but not atomically under racing
large uploads, so atomicity races belong to the local-disk tests.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from typing import Any

import fsspec
import pytest
from fsspec.implementations.memory import MemoryFileSystem

from s3server import DUMMY_CREDENTIALS as _DUMMY
from s3server import S3Bucket, S3Server


@pytest.fixture(autouse=True, scope="session")
def _private_stat_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Keep dvtool's stat cache (dvtool.ingest.statcache) out of the user's home during tests."""
    old = os.environ.get("DVTOOL_CACHE_DIR")
    os.environ["DVTOOL_CACHE_DIR"] = str(tmp_path_factory.mktemp("dvtool-cache"))
    yield
    if old is None:
        os.environ.pop("DVTOOL_CACHE_DIR", None)
    else:
        os.environ["DVTOOL_CACHE_DIR"] = old


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    port = _free_port()
    endpoint = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        "AWS_ACCESS_KEY_ID": _DUMMY["key"],
        "AWS_SECRET_ACCESS_KEY": _DUMMY["secret"],
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    log = tmp_path_factory.mktemp("moto") / "server.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
        )
    try:
        deadline = time.monotonic() + 30
        while True:
            if proc.poll() is not None:
                pytest.fail(f"moto server exited early:\n{log.read_text()}")
            try:
                with urllib.request.urlopen(endpoint, timeout=1):
                    break
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                if time.monotonic() > deadline:
                    pytest.fail(f"moto server did not answer on {endpoint}:\n{log.read_text()}")
                time.sleep(0.1)
        yield S3Server(endpoint=endpoint, pid=proc.pid)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture
def s3_bucket(s3_server: S3Server) -> S3Bucket:
    """A fresh, empty bucket on the session's S3 server."""
    import s3fs

    name = f"dvtool-{uuid.uuid4().hex[:16]}"
    fs = s3fs.S3FileSystem(**s3_server.storage_options())
    fs.mkdir(name)
    return S3Bucket(server=s3_server, name=name)


class _NoExclusiveFS(MemoryFileSystem):  # type: ignore[misc]
    """A backend that accepts "xb" and overwrites anyway, like some S3-compatible stores."""

    protocol = ("dvtool-noexcl",)
    root_marker = "/"

    def _open(self, path: str, mode: str = "rb", **kwargs: Any) -> Any:
        return super()._open(path, mode.replace("x", "w"), **kwargs)


@pytest.fixture
def no_exclusive_url() -> Iterator[str]:
    """A URL on a filesystem that ignores exclusive create, with a fresh root."""
    fsspec.register_implementation("dvtool-noexcl", _NoExclusiveFS, clobber=True)
    root = f"/noexcl-{uuid.uuid4().hex}"
    yield f"dvtool-noexcl://{root}"
    fs = _NoExclusiveFS()
    if fs.exists(root):
        fs.rm(root, recursive=True)


_S3_FIXTURES = {"s3_server", "s3_bucket"}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Every test that uses the S3 server carries the ``s3`` marker (``pytest -m "not s3"``)."""
    for item in items:
        if _S3_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.s3)
