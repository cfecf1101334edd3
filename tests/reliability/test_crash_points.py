"""Kill dvtool at every named crash point of snapshot, push and gc (os._exit and real SIGKILL).

Afterwards the repository must pass fsck, its log must show the old state or
the new one and nothing in between, and the next command must succeed.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers import age_files, dvtool_run, env, start_paused, table, versions, write_csv

import dvtool
from dvtool.crashpoints import CRASH_EXIT_CODE, POINTS
from dvtool.ops.gc import LOCK_KEY

COMMITTED_AFTER = {"snapshot.after_version_entry"}


def _kill(repo: Path, point: str, how: str, workdir: Path, *args: str) -> None:
    if how == "exit":
        result = dvtool_run(repo, *args, DVTOOL_CRASH_AT=point)
        assert result.returncode == CRASH_EXIT_CODE, result.stderr
    else:
        paused = start_paused(repo, point, *args, workdir=workdir)
        assert paused.kill() == -9


def _clean(repo: dvtool.Repo) -> None:
    result = repo.fsck()
    assert result.ok, result.to_text()


@pytest.mark.parametrize("how", ["exit", "sigkill"])
@pytest.mark.parametrize("point", POINTS["snapshot"])
def test_snapshot_killed_at_each_point(tmp_path: Path, point: str, how: str) -> None:
    root = tmp_path / "repo"
    repo = dvtool.Repo.init(root)
    v1 = table(300)
    repo.snapshot(v1, dataset="orders", key=["id"])
    v2 = table(450, tag="new")
    csv = write_csv(tmp_path / "v2.csv", v2)

    _kill(root, point, how, tmp_path, "snapshot", str(csv), "-d", "orders", "--key", "id")

    repo = dvtool.Repo.open(root)
    _clean(repo)
    expected = [1, 2] if point in COMMITTED_AFTER else [1]
    assert versions(repo, "orders") == expected  # old or new state, nothing in between
    assert repo.get("orders@v1").to_arrow().equals(v1)
    result = repo.snapshot(csv, dataset="orders", key=["id"])
    assert result.version == 2
    assert result.unchanged == (point in COMMITTED_AFTER)
    assert (
        repo.get("orders@v2").to_arrow().select(["id", "label"]).equals(v2.select(["id", "label"]))
    )
    # Leftovers of the killed writer are garbage: gc removes them, fsck stays clean.
    repo.gc(older_than="0s", allow_short_grace=True, dry_run=False)
    after = repo.fsck()
    assert after.ok and not [d for d in after.dangling if d.kind != "temp"], after.to_text()


@pytest.mark.parametrize("how", ["sigkill"])
@pytest.mark.parametrize("point", POINTS["push"])
def test_push_killed_at_each_point(tmp_path: Path, point: str, how: str) -> None:
    src_root, dst_root = tmp_path / "src", tmp_path / "dst"
    src = dvtool.Repo.init(src_root)
    dvtool.Repo.init(dst_root)
    tables = [table(200), table(300), table(300, start=1000)]
    for t in tables:
        src.snapshot(t, dataset="orders", key=["id"])
    src.tag("orders@v2", "reviewed")

    _kill(src_root, point, how, tmp_path, "push", "orders", str(dst_root))

    dst = dvtool.Repo.open(dst_root)
    _clean(dst)
    got = versions(dst, "orders")
    assert got == list(range(1, len(got) + 1))  # a prefix of the source's history
    for v in got:
        assert dst.get(f"orders@v{v}").to_arrow().equals(tables[v - 1])
    rerun = dvtool_run(src_root, "push", "orders", str(dst_root))
    assert rerun.returncode == 0, rerun.stderr
    dst = dvtool.Repo.open(dst_root)
    assert versions(dst, "orders") == [1, 2, 3]
    assert dst.get("orders@reviewed").to_arrow().equals(tables[1])
    _clean(dst)


@pytest.mark.parametrize("how", ["sigkill"])
@pytest.mark.parametrize("point", POINTS["gc"])
def test_gc_killed_at_each_point(tmp_path: Path, point: str, how: str) -> None:
    root = tmp_path / "repo"
    repo = dvtool.Repo.init(root)
    tables = [table(200, start=i * 1000, tag=f"t{i}") for i in range(4)]
    for t in tables:
        repo.snapshot(t, dataset="orders")
    repo.tag("orders@v2", "keep")
    repo.prune("orders", keep_last=1)
    age_files(root, 30)

    _kill(root, point, how, tmp_path, "gc", "--yes")

    repo = dvtool.Repo.open(root)
    _clean(repo)
    assert versions(repo, "orders") == [1, 2, 3, 4]
    assert repo.get("orders@keep").to_arrow().equals(tables[1])
    assert repo.get("orders").to_arrow().equals(tables[3])
    # The dead gc still holds its lock: a second gc refuses until the lock expires.
    blocked = dvtool_run(root, "gc", "--yes")
    assert blocked.returncode == 2
    assert blocked.stderr.startswith("Error: another gc is running") and LOCK_KEY in blocked.stderr
    lock = root / LOCK_KEY
    info = json.loads(lock.read_text())
    info["expires"] = "2000-01-01T00:00:00.000000Z"  # as if the TTL had passed
    lock.write_text(json.dumps(info))
    finish = dvtool_run(root, "gc", "--yes")
    assert finish.returncode == 0, finish.stderr
    assert not lock.exists()
    after = repo.fsck()
    assert after.ok and not [d for d in after.dangling if d.kind in ("object", "manifest")], (
        after.to_text()
    )
    # and the next snapshot works
    assert repo.snapshot(table(50, tag="next"), dataset="orders").version == 5


def test_crash_point_names_are_known() -> None:
    # Guards against a typo in a dvtool module silently disabling a point.
    import inspect

    from dvtool.ops import gc, prune, transfer
    from dvtool.write import commit, pipeline

    source = "".join(inspect.getsource(m) for m in (commit, pipeline, transfer, gc, prune))
    for points in POINTS.values():
        for point in points:
            assert f'crash_point("{point}")' in source
    assert env()["DVTOOL_QUIET"] == "1"
