"""fsck finds damage by id and key; prune records retention; gc deletes only what is safe."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from helpers import age_files, dvtool_run, object_files, start_paused, table, versions

import dvtool
from clitools import run, tree_digest
from dvtool.errors import ConflictError, NotFoundError, StorageError, UsageError
from dvtool.format.layout import object_key
from dvtool.ops.durations import parse_duration
from dvtool.ops.gc import LOCK_KEY


@pytest.fixture
def three_versions(tmp_path: Path) -> tuple[Path, list[object]]:
    """orders v1..v3: v2 and v3 share v1's first chunk range (appends)."""
    root = tmp_path / "repo"
    repo = dvtool.Repo.init(root)
    tables = [table(3000), table(6000), table(6000, start=10_000, tag="other")]
    for t in tables:
        repo.snapshot(t, dataset="orders", key=["id"])
    return root, tables


def _users(repo: dvtool.Repo, object_id: str) -> list[str]:
    refs = []
    for e in repo.log("orders"):
        if any(c.object == object_id for c in repo.get(f"orders@v{e.version}").chunks):
            refs.append(f"orders@v{e.version}")
    return refs


def test_flipped_byte_in_any_chunk_is_named_by_fsck_and_export(
    three_versions: tuple[Path, list[object]], tmp_path: Path
) -> None:
    root, _tables = three_versions
    files = object_files(root)
    assert len(files) >= 3
    pristine = tmp_path / "pristine"
    shutil.copytree(root, pristine)
    for path in files:
        shutil.rmtree(root)
        shutil.copytree(pristine, root)
        key = path.relative_to(root).as_posix()
        object_id = "xxh128:" + key.split("/")[1] + key.split("/")[2].removesuffix(".parquet")
        data = bytearray(path.read_bytes())
        data[len(data) // 2] ^= 0x01
        path.write_bytes(bytes(data))

        check = dvtool_run(root, "fsck")
        assert check.returncode == 1, check.stdout
        assert f"corrupt  {key}: {object_id} is corrupt" in check.stdout
        as_json = json.loads(dvtool_run(root, "fsck", "--json").stdout)
        assert as_json["ok"] is False
        assert [(p["kind"], p["key"], p["id"]) for p in as_json["problems"]] == [
            ("corrupt", key, object_id)
        ]

        users = _users(dvtool.Repo.open(root), object_id)
        assert users
        assert sorted(as_json["problems"][0]["refs"]) == sorted(users)
        for ref in users:
            dest = tmp_path / "out.csv"
            out = dvtool_run(root, "export", ref, str(dest))
            assert out.returncode == 2
            lines = out.stderr.strip().splitlines()
            assert len(lines) == 1 and lines[0].startswith("Error:") and object_id in lines[0]
            assert not dest.exists()  # no file with wrong (or partial) rows
            to_stdout = dvtool_run(root, "export", ref, "-", "--format", "csv")
            assert to_stdout.returncode == 2 and object_id in to_stdout.stderr


def test_fsck_reports_missing_chunk_manifest_and_version_gap(
    three_versions: tuple[Path, list[object]],
) -> None:
    root, _ = three_versions
    repo = dvtool.Repo.open(root)
    assert repo.fsck().ok
    snap = repo.get("orders@v3")
    chunk = snap.chunks[0].object
    (root / object_key(chunk)).unlink()
    (root / "datasets/orders/versions/00000000000000000002.json").unlink()
    result = repo.fsck()
    kinds = {(p.kind, p.key) for p in result.problems}
    assert ("missing", object_key(chunk)) in kinds
    assert ("missing", "datasets/orders/versions/00000000000000000002.json") in kinds
    problem = next(p for p in result.problems if p.key == object_key(chunk))
    assert problem.id == chunk and "orders@v3" in problem.refs
    with pytest.raises(NotFoundError):
        repo.get("orders@v3").to_arrow()


def test_fsck_dangling_leftovers_are_not_damage(three_versions: tuple[Path, list[object]]) -> None:
    root, _ = three_versions
    repo = dvtool.Repo.open(root)
    repo.store.create(
        "objects/ab/" + "c" * 30 + ".parquet", b"not referenced"
    )  # hash mismatch though
    stray = b"an unreferenced leftover"
    from dvtool.format.hashing import hash_bytes

    repo.store.create(object_key(hash_bytes(stray)), stray)
    (root / "objects" / "ab" / ".tmp-deadbeef").write_bytes(b"partial")
    result = repo.fsck()
    assert [p.kind for p in result.problems] == ["corrupt"]  # the mislabelled one only
    kinds = sorted(d.kind for d in result.dangling)
    assert kinds == ["object", "object", "temp"]
    repo.store.delete("objects/ab/" + "c" * 30 + ".parquet")
    clean = dvtool_run(root, "fsck")
    assert clean.returncode == 0 and "no damage found" in clean.stdout
    assert "3 dangling" not in clean.stdout and "2 dangling" in clean.stdout


def test_prune_keeps_tagged_and_latest_and_history_shows_it(
    three_versions: tuple[Path, list[object]], capsys: pytest.CaptureFixture[str]
) -> None:
    root, tables = three_versions
    repo = dvtool.Repo.open(root)
    repo.tag("orders@v1", "golden")
    result = repo.prune("orders", keep_last=1)
    assert result.pruned == (2,) and result.kept_tagged == (1,)
    again = repo.prune("orders", keep_last=1)
    assert again.pruned == () and again.already_pruned == (2,)
    assert (root / "datasets/orders/pruned/00000000000000000002.json").exists()
    assert versions(repo, "orders") == [1, 2, 3]  # gap-free, pruned v2 stays listed
    log = {e.version: e for e in repo.log("orders")}
    assert log[2].pruned and not log[1].pruned and not log[3].pruned
    with pytest.raises(NotFoundError, match="pruned"):
        repo.get("orders@v2")
    assert repo.get("orders@golden").to_arrow().equals(tables[0])
    text = run(capsys, "--repo", str(root), "log", "orders")
    assert "[pruned]" in text.stdout
    err = run(capsys, "--repo", str(root), "export", "orders@v2", "-")
    assert err.exit_code == 2 and "orders@v2 was pruned" in err.stderr
    # older-than never prunes the latest version
    assert repo.prune("orders", older_than="0s").pruned == ()
    with pytest.raises(UsageError):
        repo.prune("orders", keep_last=0)
    bad = run(capsys, "--repo", str(root), "prune", "orders")
    assert bad.exit_code == 2 and bad.stderr.startswith("Error: prune needs exactly one")


def test_gc_deletes_only_unreferenced_old_keys_after_prune(
    three_versions: tuple[Path, list[object]],
) -> None:
    root, tables = three_versions
    repo = dvtool.Repo.open(root)
    v1_only = {c.object for c in repo.get("orders@v1").chunks} - {
        c.object for v in (2, 3) for c in repo.get(f"orders@v{v}").chunks
    }
    repo.prune("orders", keep_last=1)
    # Inside the grace period nothing goes, even with --yes.
    young = repo.gc(dry_run=False)
    assert young.items == () and young.young > 0
    age_files(root, 8)
    before = tree_digest(root)
    listed = repo.gc()  # dry run by default
    assert tree_digest(root) == before
    listed_keys = {i.key for i in listed.items}
    assert {object_key(o) for o in v1_only} <= listed_keys
    assert not any(
        k.startswith(("datasets/", "manifests/")) for k in listed_keys
    )  # manifests of pruned stay
    done = repo.gc(dry_run=False)
    assert {i.key for i in done.items} == listed_keys and done.deleted == len(listed_keys)
    assert repo.fsck().ok
    assert repo.get("orders").to_arrow().equals(tables[2])
    assert repo.gc(dry_run=False).items == ()  # idempotent


def test_gc_grace_rules(
    three_versions: tuple[Path, list[object]], capsys: pytest.CaptureFixture[str]
) -> None:
    root, _ = three_versions
    with pytest.raises(UsageError, match="allow-short-grace"):
        dvtool.Repo.open(root).gc(older_than="1d")
    res = run(capsys, "--repo", str(root), "gc", "--older-than", "12h")
    assert res.exit_code == 2 and res.stderr.count("\n") == 1
    res = run(capsys, "--repo", str(root), "gc", "--older-than", "soon")
    assert res.exit_code == 2 and "invalid duration" in res.stderr
    assert parse_duration("1d12h").total_seconds() == 36 * 3600
    assert parse_duration("30m").total_seconds() == 1800


def test_gc_sweeps_temp_leftovers_by_age(tmp_path: Path) -> None:
    root = tmp_path / "repo"
    repo = dvtool.Repo.init(root)
    repo.snapshot(table(100), dataset="d")
    old = root / "objects" / "aa" / ".tmp-0123"
    old.parent.mkdir(parents=True, exist_ok=True)
    old.write_bytes(b"torn")
    age_files(root, 10)
    fresh = root / "manifests" / ".tmp-4567"
    fresh.write_bytes(b"in flight")
    result = repo.gc(dry_run=False)
    assert [i.key for i in result.items] == ["objects/aa/.tmp-0123"]
    assert not old.exists() and fresh.exists()
    assert repo.get("d").to_arrow().equals(table(100))


def test_gc_aborts_when_a_root_cannot_be_read(three_versions: tuple[Path, list[object]]) -> None:
    root, _ = three_versions
    repo = dvtool.Repo.open(root)
    repo.prune("orders", keep_last=1)
    age_files(root, 30)
    (root / "datasets/orders/versions/00000000000000000003.json").write_bytes(b"{not json")
    before = tree_digest(root)
    with pytest.raises(StorageError, match="gc aborted, nothing was deleted"):
        repo.gc(dry_run=False)
    after = tree_digest(root)
    assert {k: v for k, v in after.items() if not k.startswith("tmp/")} == before


def test_one_gc_at_a_time(three_versions: tuple[Path, list[object]], tmp_path: Path) -> None:
    root, _ = three_versions
    paused = start_paused(root, "gc.after_mark", "gc", "--yes", workdir=tmp_path)
    try:
        assert (root / LOCK_KEY).exists()
        with pytest.raises(ConflictError, match="another gc is running"):
            dvtool.Repo.open(root).gc(dry_run=False)
        assert dvtool.Repo.open(root).gc().dry_run  # a dry run needs no lock
    finally:
        code, _out, err = paused.resume()
    assert code == 0, err
    assert not (root / LOCK_KEY).exists()


def test_gc_during_paused_snapshot_keeps_its_new_objects(tmp_path: Path) -> None:
    """Default grace: the in-flight writer's chunks are young, so gc leaves them."""
    root = tmp_path / "repo"
    repo = dvtool.Repo.init(root)
    repo.snapshot(table(500), dataset="orders", key=["id"])
    csv = tmp_path / "v2.csv"
    from helpers import write_csv

    write_csv(csv, table(2000, tag="v2"))
    paused = start_paused(
        root,
        "snapshot.before_version_entry",
        "snapshot",
        str(csv),
        "-d",
        "orders",
        "--key",
        "id",
        workdir=tmp_path,
    )
    result = repo.gc(dry_run=False)
    assert result.deleted == 0 and result.young > 0
    code, _out, err = paused.resume()
    assert code == 0, err
    assert repo.fsck().ok
    assert (
        repo.get("orders@v2")
        .to_arrow()
        .select(["id", "label"])
        .equals(table(2000, tag="v2").select(["id", "label"]))
    )


def test_gc_deleting_an_old_chunk_a_paused_writer_deduplicated(tmp_path: Path) -> None:
    """The hard case: the writer found an old, unreferenced copy of its chunk and
    skipped writing it; gc (past the grace period) deletes that copy while the
    writer is paused between chunks and commit. The writer must notice and
    store the chunk again before committing."""
    root = tmp_path / "repo"
    repo = dvtool.Repo.init(root)
    a = table(800, tag="a")
    repo.snapshot(a, dataset="one")
    repo.snapshot(table(800, start=5000, tag="b"), dataset="one")
    repo.prune("one", keep_last=1)
    age_files(root, 30)
    src = tmp_path / "a.parquet"
    import pyarrow.parquet as pq

    pq.write_table(a, src)
    paused = start_paused(
        root,
        "snapshot.after_objects_published",
        "snapshot",
        str(src),
        "-d",
        "two",
        workdir=tmp_path,
    )
    swept = repo.gc(dry_run=False)
    code, _out, err = paused.resume()
    assert code == 0, err
    snap = repo.get("two")
    needed = {object_key(c.object) for c in snap.chunks}
    assert needed & {i.key for i in swept.items}, (
        "the writer should have deduplicated a swept chunk"
    )
    assert repo.fsck().ok
    assert snap.to_arrow().equals(a)


def test_push_after_prune_and_gc_carries_history_and_markers(tmp_path: Path) -> None:
    src = dvtool.Repo.init(tmp_path / "src")
    dvtool.Repo.init(tmp_path / "dst")
    tables = [table(100, start=i * 1000, tag=str(i)) for i in range(3)]
    for t in tables:
        src.snapshot(t, dataset="d")
    src.tag("d@v1", "first")
    src.prune("d", keep_last=1)
    src.gc(older_than="0s", allow_short_grace=True, dry_run=False)
    src.push(["d"], str(tmp_path / "dst"))
    dst = dvtool.Repo.open(tmp_path / "dst")
    assert [(e.version, e.pruned) for e in dst.log("d")] == [(3, False), (2, True), (1, False)]
    assert dst.get("d@first").to_arrow().equals(tables[0])
    assert dst.get("d").to_arrow().equals(tables[2])
    assert dst.fsck().ok
