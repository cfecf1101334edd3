"""A ``dvtool snapshot`` process allocates Arrow memory from jemalloc (where pyarrow has it).

Checked in fresh processes: the pool is process-wide, and the CLI only sets
it in a real ``dvtool`` process, for ``snapshot``, unless the user chose one.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pyarrow as pa
import pytest

CODE = (
    "import sys; from dvtool.cli import app; app._snapshot_memory_pool(sys.argv[1:]); "
    "import pyarrow as pa; print(pa.default_memory_pool().backend_name)"
)


def _pool(*args: str, **env: str) -> str:
    environ = {k: v for k, v in os.environ.items() if k != "ARROW_DEFAULT_MEMORY_POOL"}
    environ.update(env)
    out = subprocess.run(
        [sys.executable, "-c", CODE, *args], env=environ, capture_output=True, text=True, check=True
    )
    assert out.stderr == ""
    return out.stdout.strip()


def _has_jemalloc() -> bool:
    try:
        pa.jemalloc_memory_pool()
    except NotImplementedError:
        return False
    return True


@pytest.mark.skipif(not _has_jemalloc(), reason="this pyarrow has no jemalloc")
def test_snapshot_uses_jemalloc_other_commands_keep_the_default() -> None:
    default = pa.default_memory_pool().backend_name
    assert _pool("--repo", "r", "snapshot", "data.parquet", "-d", "x") == "jemalloc"
    assert _pool("--repo", "r", "diff", "x@v1", "x@v2") == default


def test_a_pool_the_user_chose_is_kept() -> None:
    assert _pool("snapshot", "data.parquet", ARROW_DEFAULT_MEMORY_POOL="system") == "system"
