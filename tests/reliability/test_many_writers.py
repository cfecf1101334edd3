"""8 processes × 5 snapshots to one dataset at once: 40 gap-free versions, each equal to its input."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time
from pathlib import Path

from helpers import env

import dvtool

WRITER = textwrap.dedent(
    """
    import os, sys, time
    import pyarrow as pa
    import dvtool
    root, w, go = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    repo = dvtool.Repo.open(root)
    while not os.path.exists(go):
        time.sleep(0.005)
    for r in range(5):
        n = 20 + w * 5 + r
        t = pa.table({"writer": [w] * n, "round": [r] * n, "x": list(range(n))})
        res = repo.snapshot(t, dataset="shared", message=f"{w}/{r}")
        print(res.version, flush=True)
    """
)


def test_eight_processes_five_snapshots_each(tmp_path: Path) -> None:
    root = tmp_path / "repo"
    repo = dvtool.Repo.init(root)
    go = tmp_path / "go"
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, str(root), str(w), str(go)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env(),
        )
        for w in range(8)
    ]
    time.sleep(0.5)  # let them import; the start is a barrier, not a timing assertion
    go.write_text("go")
    returned: list[int] = []
    for p in procs:
        out, err = p.communicate(timeout=150)
        assert p.returncode == 0, err
        mine = [int(v) for v in out.split()]
        assert mine == sorted(mine) and len(mine) == 5  # each writer's versions increase
        returned += mine
    assert sorted(returned) == list(range(1, 41))  # no version handed out twice, no gap

    log = repo.log("shared")
    assert [e.version for e in log] == list(range(40, 0, -1))
    seen = set()
    for e in log:
        w, r = (int(x) for x in e.message.split("/"))
        t = repo.get(f"shared@v{e.version}").to_arrow()
        n = 20 + w * 5 + r
        assert t.column("writer").to_pylist() == [w] * n
        assert t.column("round").to_pylist() == [r] * n
        assert t.column("x").to_pylist() == list(range(n))
        seen.add((w, r))
    assert seen == {(w, r) for w in range(8) for r in range(5)}
    result = repo.fsck()
    assert result.ok, result.to_text()
