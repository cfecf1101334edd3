"""Patches under crashes: kill dvtool inside patch writing and compaction; gc and push/pull with patches.

After every kill the repository passes fsck, holds the old state or the new
one and nothing in between, and the next command succeeds. Real processes,
real SIGKILL (as test_crash_points.py).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from helpers import age_files, dvtool_run, start_paused, versions

import dvtool
from dvtool.crashpoints import CRASH_EXIT_CODE, POINTS

N = 3000
SMALL = {
    "DVTOOL_CHUNK_BYTES": "8000"
}  # many chunks from a few thousand rows (a dataset keeps its first sizes)


def rows(edit: int = 0) -> pa.Table:
    """Version ``edit`` of the data: every edit changes, deletes and inserts a few scattered rows."""
    rng = np.random.default_rng(edit)
    ids = np.arange(N, dtype=np.int64) * 4
    value = np.arange(N, dtype=np.float64)
    keep = np.ones(N, bool)
    if edit:
        value[rng.choice(N, 40, replace=False)] += edit
        keep[rng.choice(N, 20, replace=False)] = False
        extra = np.sort(rng.choice(N, 10, replace=False)) * 4 + 1
    else:
        extra = np.zeros(0, np.int64)
    t = pa.table(
        {
            "id": ids[keep],
            "v": value[keep],
            "s": pa.array([f"r{i}" for i in ids[keep]], pa.string()),
        }
    )
    added = pa.table(
        {
            "id": pa.array(extra, pa.int64()),
            "v": np.full(len(extra), -1.0),
            "s": pa.array([f"n{i}" for i in extra], pa.string()),
        }
    )
    return pa.concat_tables([t, added]).sort_by("id")


def _kill(repo: Path, point: str, how: str, workdir: Path, *args: str) -> None:
    if how == "exit":
        result = dvtool_run(repo, *args, DVTOOL_CRASH_AT=point, **SMALL)
        assert result.returncode == CRASH_EXIT_CODE, result.stderr
    else:
        paused = start_paused(repo, point, *args, workdir=workdir)
        assert paused.kill() == -9


def _patched_repo(root: Path, monkeypatch: pytest.MonkeyPatch) -> dvtool.Repo:
    monkeypatch.setenv("DVTOOL_CHUNK_BYTES", SMALL["DVTOOL_CHUNK_BYTES"])
    repo = dvtool.Repo.init(root)
    repo.snapshot(rows(0), dataset="t", key=["id"])
    assert repo.snapshot(rows(1), dataset="t", key=["id"]).snapshot.manifest.patch is not None
    return repo


def _clean(repo: dvtool.Repo) -> None:
    result = repo.fsck()
    assert result.ok, result.to_text()


@pytest.mark.parametrize(
    ("point", "how"),
    [
        *(
            (p, "exit")
            for p in (
                *POINTS["patch"],
                "snapshot.after_objects_published",
                "snapshot.before_version_entry",
            )
        ),
        (POINTS["patch"][0], "sigkill"),
    ],
)
def test_killed_while_writing_a_patch(
    tmp_path: Path, point: str, how: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "repo"
    _patched_repo(root, monkeypatch)
    source = tmp_path / "v3.parquet"
    pq.write_table(rows(2), source)
    _kill(root, point, how, tmp_path, "snapshot", str(source), "-d", "t", "--key", "id")

    repo = dvtool.Repo.open(root)
    _clean(repo)
    assert versions(repo, "t") == [1, 2]  # nothing in between
    assert repo.get("t@v2").to_arrow().equals(rows(1))
    again = repo.snapshot(rows(2), dataset="t", key=["id"])
    assert again.version == 3 and again.snapshot.manifest.patch is not None
    assert repo.get("t@v3").to_arrow().equals(rows(2))
    repo.gc(older_than="0s", allow_short_grace=True, dry_run=False)
    after = repo.fsck()
    assert after.ok and not [d for d in after.dangling if d.kind != "temp"], after.to_text()
    assert repo.get("t@v2").to_arrow().equals(rows(1)) and repo.get("t@v3").to_arrow().equals(
        rows(2)
    )


@pytest.mark.parametrize(
    ("point", "how"),
    [
        *(
            (p, "exit")
            for p in (
                *POINTS["compact"],
                "snapshot.before_version_entry",
                "snapshot.after_version_entry",
            )
        ),
        (POINTS["compact"][1], "sigkill"),
    ],
)
def test_killed_while_compacting(
    tmp_path: Path, point: str, how: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "repo"
    _patched_repo(root, monkeypatch)
    _kill(root, point, how, tmp_path, "compact", "t")

    repo = dvtool.Repo.open(root)
    _clean(repo)
    committed = point == "snapshot.after_version_entry"
    assert versions(repo, "t") == ([1, 2, 3] if committed else [1, 2])
    assert repo.get("t").to_arrow().equals(rows(1))
    result = repo.compact("t")
    assert result.unchanged == committed
    latest = repo.get("t")
    assert latest.manifest.patch is None and latest.to_arrow().equals(rows(1))
    assert latest.manifest.fingerprint == repo.get("t@v2").manifest.fingerprint
    repo.gc(older_than="0s", allow_short_grace=True, dry_run=False)
    _clean(repo)


def test_gc_keeps_the_patches_and_bases_it_must(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "repo"
    repo = _patched_repo(root, monkeypatch)
    patch = repo.get("t@v2").manifest.patch
    assert patch is not None
    repo.snapshot(rows(2), dataset="t", key=["id"])  # v3: a patch over the same base
    repo.compact("t")  # v4: plain chunks
    repo.prune("t", keep_last=1)  # v1..v3 expire; v2's patch objects are no longer needed
    age_files(root, 30)
    repo.gc(older_than="7d", dry_run=False)
    _clean(repo)
    assert repo.get("t").to_arrow().equals(rows(2))
    assert not any(
        (root / "objects" / o.object[7:9] / f"{o.object[9:]}.parquet").exists()
        for o in patch.objects
    )
    # A tagged patched version keeps its patch and its base through gc.
    root2 = tmp_path / "tagged"
    repo2 = _patched_repo(root2, monkeypatch)
    repo2.tag("t@v2", "keep")
    repo2.compact("t")
    repo2.prune("t", keep_last=1)
    age_files(root2, 30)
    repo2.gc(older_than="7d", dry_run=False)
    _clean(repo2)
    assert repo2.get("t@keep").manifest.patch is not None
    assert repo2.get("t@keep").to_arrow().equals(rows(1))


@pytest.mark.parametrize("point", POINTS["push"])
def test_push_of_patched_versions_killed_at_each_point(
    tmp_path: Path, point: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    src_root, dst_root = tmp_path / "src", tmp_path / "dst"
    src = _patched_repo(src_root, monkeypatch)
    src.snapshot(rows(2), dataset="t", key=["id"])
    dvtool.Repo.init(dst_root)
    paused = start_paused(src_root, point, "push", "t", str(dst_root), workdir=tmp_path)
    assert paused.kill() == -9

    dst = dvtool.Repo.open(dst_root)
    _clean(dst)
    got = versions(dst, "t")
    assert got == list(range(1, len(got) + 1))
    for v in got:
        assert dst.get(f"t@v{v}").to_arrow().equals(rows(v - 1))
    rerun = dvtool_run(src_root, "push", "t", str(dst_root))
    assert rerun.returncode == 0, rerun.stderr
    dst = dvtool.Repo.open(dst_root)
    assert versions(dst, "t") == [1, 2, 3]
    assert dst.get("t@v3").manifest.patch is not None and dst.get("t@v3").to_arrow().equals(rows(2))
    _clean(dst)
    # and back: pull into a fresh repository
    back = dvtool.Repo.init(tmp_path / "back")
    back.pull(str(dst_root), ["t"])
    assert back.get("t@v2").to_arrow().equals(rows(1)) and back.get("t@v3").to_arrow().equals(
        rows(2)
    )
    _clean(back)
