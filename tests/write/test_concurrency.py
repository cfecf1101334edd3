"""Eight processes snapshot different data to one dataset at once: v1..v8, gap-free."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time
from pathlib import Path

import dvtool

WRITER = textwrap.dedent(
    """
    import sys, time, os
    import pyarrow as pa
    import dvtool
    repo_path, i, go = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    repo = dvtool.Repo.open(repo_path)
    table = pa.table({"writer": [i] * (100 + i), "x": list(range(100 + i))})
    while not os.path.exists(go):
        time.sleep(0.005)
    r = repo.snapshot(table, dataset="shared", message=f"writer {i}")
    print(r.version)
    """
)


def test_eight_writers_get_eight_gap_free_versions(tmp_path: Path) -> None:
    repo = dvtool.Repo.init(tmp_path / "repo")
    go = tmp_path / "go"
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, str(tmp_path / "repo"), str(i), str(go)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(8)
    ]
    time.sleep(1.0)  # let every writer import and open the repository
    go.write_text("go")
    versions = []
    for p in procs:
        out, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
        versions.append(int(out.strip()))
    assert sorted(versions) == list(range(1, 9))
    log = repo.log("shared")
    assert [e.version for e in log] == list(range(8, 0, -1))
    writers = set()
    for e in log:
        table = repo.get(f"shared@v{e.version}").to_arrow()
        w = table.column("writer")[0].as_py()
        assert e.message == f"writer {w}"
        assert table.num_rows == 100 + w
        assert table.column("x").to_pylist() == list(range(100 + w))
        writers.add(w)
    assert writers == set(range(8))
