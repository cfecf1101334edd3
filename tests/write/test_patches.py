"""Scattered edits of a keyed dataset are stored as a patch, and every reader applies it.

Real repositories (a folder, ``memory://``), real DuckDB; each reader's
answer for a patched version is compared with the plain rows it must hold.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

import dvtool
from dvtool.errors import IntegrityError
from dvtool.format import models
from dvtool.format.models import Manifest, parse_json
from dvtool.ingest.fingerprint import table_fingerprint

N = 6000


@pytest.fixture(autouse=True)
def _small_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(
        "DVTOOL_CHUNK_BYTES", "8000"
    )  # ~256-row chunks: many chunks from a few thousand rows


def base_table(n: int = N) -> pa.Table:
    rng = np.random.default_rng(7)
    return pa.table(
        {
            "id": pa.array(np.arange(n) * 2, pa.int64()),
            "price": pa.array(rng.normal(100, 10, n)),
            "city": pa.array([f"c{i % 13}" for i in range(n)]),
            "qty": pa.array([None if i % 17 == 0 else i % 9 for i in range(n)], pa.int32()),
        }
    )


def edited(
    t: pa.Table, *, seed: int = 1, changed: int = 30, deleted: int = 20, inserted: int = 10
) -> pa.Table:
    """Scattered edits: some prices changed, some rows deleted, odd ids inserted, ids appended."""
    rng = np.random.default_rng(seed)
    n = t.num_rows
    price = t.column("price").to_numpy().copy()
    price[rng.choice(n, changed, replace=False)] += 1.5
    out = t.set_column(1, "price", pa.array(price))
    keep = np.ones(n, bool)
    keep[rng.choice(n, deleted, replace=False)] = False
    out = out.filter(pa.array(keep))
    ids = np.unique(rng.choice(n, inserted, replace=False)) * 2 + 1
    ids = ids[~pc.is_in(pa.array(ids), out.column("id")).to_numpy(zero_copy_only=False)]
    extra = pa.table(
        {
            "id": pa.array(
                np.concatenate([ids, [int(pc.max(t.column("id")).as_py()) + 2]]), pa.int64()
            ),
            "price": pa.array(np.full(len(ids) + 1, 7.0)),
            "city": pa.array(["new"] * (len(ids) + 1)),
            "qty": pa.array([1] * (len(ids) + 1), pa.int32()),
        }
    )
    return pa.concat_tables([out, extra]).sort_by("id")


@pytest.fixture(params=["folder", "memory"])
def repo(request: pytest.FixtureRequest, tmp_path: Path) -> dvtool.Repo:
    if request.param == "folder":
        return dvtool.Repo.init(tmp_path / "repo")
    return dvtool.Repo.init(f"memory://patches-{uuid.uuid4().hex}")


def test_scattered_edits_write_a_patch_that_every_reader_applies(
    repo: dvtool.Repo, tmp_path: Path
) -> None:
    v1 = base_table()
    first = repo.snapshot(v1, dataset="t", key=["id"])
    v2 = edited(v1)
    second = repo.snapshot(v2, dataset="t", key=["id"])
    m = second.snapshot.manifest
    assert m.format == 2 and m.patch is not None
    assert [c.object for c in m.chunks] == [
        c.object for c in first.snapshot.manifest.chunks
    ]  # base kept by id
    assert m.patch.bytes < 0.2 * sum(c.bytes for c in m.chunks)
    assert second.bytes_written < 0.5 * first.bytes_written  # the patch and the manifest, no chunk
    assert second.new_chunks == 3  # upserts, removed rows, positions
    assert m.fingerprint == table_fingerprint(v2.schema, [v2]) and m.rows == v2.num_rows

    snap = repo.get("t@v2")
    assert snap.to_arrow().equals(v2)
    assert pa.Table.from_batches(list(snap.scan(["price", "id"]))).equals(
        v2.select(["price", "id"])
    )
    assert snap.to_pandas().equals(v2.to_pandas())
    assert sum(c.rows for c in snap.chunks) == v2.num_rows
    assert pa.concat_tables([snap.read_chunk(c) for c in snap.chunks]).equals(v2)

    # export: one file, and a folder of chunk files
    out = tmp_path / "v2.parquet"
    repo.export("t@v2", str(out))
    assert pq.read_table(out).equals(v2)
    folder = tmp_path / "v2-parts"
    folder.mkdir()
    result = repo.export("t@v2", str(folder) + "/", format="parquet")
    assert result.rows == v2.num_rows
    parts = sorted(folder.glob("*.parquet"))
    assert pa.concat_tables([pq.read_table(p) for p in parts]).equals(v2)
    # query: merge-on-read pushed down to DuckDB
    assert repo.query('SELECT * FROM "t@v2" ORDER BY id').equals(v2)
    got = repo.query("SELECT city, count(*) AS n, sum(qty) AS q FROM t GROUP BY city ORDER BY city")
    want = v2.group_by("city").aggregate([("id", "count"), ("qty", "sum")]).sort_by("city")
    assert got.to_pylist() == [
        {"city": c, "n": n, "q": q}
        for c, n, q in zip(
            *(want.column(x).to_pylist() for x in ("city", "id_count", "qty_sum")), strict=True
        )
    ]
    assert repo.query('SELECT count(*) AS n FROM "t@v1"').to_pylist() == [{"n": N}]

    # diff: from the patches alone, equal to the full comparison
    from dvtool.diff.plan import diff, side_from_snapshot

    fast = repo.diff("t@v2", limit=5)
    full = diff(side_from_snapshot(repo.get("t@v1")), side_from_snapshot(snap), limit=5)
    assert fast.rows == full.rows and fast.columns == full.columns and fast.samples == full.samples
    assert fast.comparison == full.comparison
    tolerant = repo.diff("t@v2", limit=5, abs_tol=2.0)
    assert tolerant.chunks.compared == 0 and tolerant.rows.changed == 0  # +1.5 is within 2.0
    assert fast.chunks.compared == 0
    assert fast.rows.changed == 30 and fast.rows.removed == 20

    # read plan: what another engine needs
    plan = snap.read_plan()
    assert plan.patched and len(plan.files) == len(m.chunks)
    if repo.store.local_path("dvtool.json") is not None:
        files = ", ".join(f"'{f}'" for f in plan.files)
        merged = (
            duckdb.connect()
            .sql(
                f"SELECT b.* FROM read_parquet([{files}]) AS b ANTI JOIN read_parquet('{plan.removed}') AS r USING (id) "
                f"UNION ALL SELECT * FROM read_parquet('{plan.upserts}') ORDER BY id"
            )
            .to_arrow_table()
        )
        assert merged.equals(v2)

    assert repo.fsck().ok


def test_identity_patched_compacted_and_fresh_are_one_content(repo: dvtool.Repo) -> None:
    v1 = base_table()
    repo.snapshot(v1, dataset="t", key=["id"])
    v2 = edited(v1)
    patched = repo.snapshot(v2, dataset="t", key=["id"]).snapshot
    assert patched.manifest.patch is not None
    assert repo.snapshot(v2, dataset="t", key=["id"]).unchanged  # same rows: unchanged

    compacted = repo.compact("t")
    assert not compacted.unchanged and compacted.version == 3
    m3 = compacted.snapshot.manifest
    assert m3.format == 1 and m3.patch is None and "patch" not in json.loads(m3.encode())
    assert m3.fingerprint == patched.manifest.fingerprint and m3.rows == patched.manifest.rows
    assert compacted.snapshot.to_arrow().equals(v2)
    assert repo.snapshot(v2, dataset="t", key=["id"]).unchanged
    assert repo.compact("t").unchanged  # nothing left to compact
    # A fresh repository of the same rows has the same fingerprint.
    fresh = dvtool.Repo.init(f"memory://fresh-{uuid.uuid4().hex}")
    assert (
        fresh.snapshot(v2, dataset="t", key=["id"]).snapshot.manifest.fingerprint == m3.fingerprint
    )
    assert repo.diff("t@v2", "t@v3").rows.changed == 0
    assert repo.fsck().ok


def test_patches_accumulate_against_one_base_and_compact_past_the_threshold(
    repo: dvtool.Repo,
) -> None:
    table = base_table()
    repo.snapshot(table, dataset="t", key=["id"])
    base_ids = [c.object for c in repo.get("t").manifest.chunks]
    history = [table]
    for seed in range(2, 5):
        table = edited(table, seed=seed, changed=15, deleted=5, inserted=5)
        history.append(table)
        snap = repo.snapshot(table, dataset="t", key=["id"]).snapshot
        assert snap.manifest.patch is not None
        assert [c.object for c in snap.manifest.chunks] == base_ids  # cumulative against the base
    for i, expected in enumerate(history, start=1):
        assert repo.get(f"t@v{i}").to_arrow().equals(expected)
        if i > 1:
            assert (
                repo.diff(f"t@v{i}").rows == dvtool_full_diff(repo, f"t@v{i - 1}", f"t@v{i}").rows
            )
    # A large edit passes the threshold: the touched chunks are rewritten in the same commit.
    big = edited(table, seed=9, changed=N // 3, deleted=10, inserted=10)
    snap = repo.snapshot(big, dataset="t", key=["id"]).snapshot
    assert snap.manifest.patch is None and snap.manifest.format == 1
    assert snap.to_arrow().equals(big)
    assert repo.fsck().ok


def dvtool_full_diff(repo: dvtool.Repo, a: str, b: str) -> dvtool.Diff:
    from dvtool.diff.plan import diff, side_from_snapshot

    return diff(side_from_snapshot(repo.get(a)), side_from_snapshot(repo.get(b)))


def test_keyless_and_unpatched_versions_stay_format_1(tmp_path: Path) -> None:
    repo = dvtool.Repo.init(tmp_path / "repo")
    v1 = base_table()
    repo.snapshot(v1.drop_columns([]), dataset="keyless")
    second = repo.snapshot(edited(v1), dataset="keyless").snapshot
    first_keyed = repo.snapshot(v1, dataset="k", key=["id"]).snapshot
    for snap in (second, first_keyed, repo.get("keyless@v1")):
        raw = json.loads(repo.store.read(f"manifests/{snap.id[7:9]}/{snap.id[9:]}.json"))
        assert raw["format"] == 1 and "patch" not in raw
        entry = json.loads(
            repo.store.read(f"datasets/{snap.dataset}/versions/{snap.version:020d}.json")
        )
        assert entry["format"] == 1


def test_multi_column_key_and_validation_of_patched_rows(tmp_path: Path) -> None:
    repo = dvtool.Repo.init(tmp_path / "repo")
    n = 20000
    t = pa.table(
        {
            "region": pa.array([f"r{i // 5000}" for i in range(n)]),
            "n": pa.array([i % 5000 for i in range(n)], pa.int64()),
            "v": pa.array(np.random.default_rng(3).uniform(0, 50, n)),
        }
    )
    repo.snapshot(t, dataset="m", key=["region", "n"])
    v = t.column("v").to_numpy().copy()
    v[[5, 15000, 19999]] = [-1.0, -2.0, 99.0]
    t2 = t.set_column(2, "v", pa.array(v)).filter(pa.array([i != 10000 for i in range(n)]))
    snap = repo.snapshot(t2, dataset="m", key=["region", "n"]).snapshot
    assert snap.manifest.patch is not None
    assert snap.to_arrow().equals(t2)
    schema = tmp_path / "s.yaml"
    schema.write_text(
        "columns:\n  v:\n    dtype: float64\n    checks:\n      greater_than_or_equal_to: 0\n"
        "  region:\n    dtype: str\n  n:\n    dtype: int64\n"
    )
    report = repo.validate("m@v2", schema=str(schema))
    assert not report.ok
    assert "greater_than_or_equal_to" in json.dumps(report.to_json())
    # exactly the two rows the patch made negative fail, wherever they sit
    assert sum(f.failure_count for f in report.errors) == 2
    assert repo.validate("m@v1", schema=str(schema)).ok
    assert repo.diff("m@v2").rows.changed == 3 and repo.diff("m@v2").rows.removed == 1


def test_an_older_dvtool_refuses_a_patched_manifest(
    repo: dvtool.Repo, monkeypatch: pytest.MonkeyPatch
) -> None:
    v1 = base_table()
    repo.snapshot(v1, dataset="t", key=["id"])
    snap = repo.snapshot(edited(v1), dataset="t", key=["id"]).snapshot
    raw = parse_json(snap.manifest.encode(), "manifest")
    monkeypatch.setattr(models, "FORMAT_VERSION", 1)  # what dvtool 0.1 (format 1) checks
    with pytest.raises(IntegrityError, match="upgrade dvtool"):
        Manifest.from_dict(raw)


def test_a_newer_repository_marker_is_refused(tmp_path: Path) -> None:
    dvtool.Repo.init(tmp_path / "repo")
    marker = tmp_path / "repo" / "dvtool.json"
    marker.write_text(json.dumps({"format": "dvtool", "version": 3, "created": "x"}))
    with pytest.raises(dvtool.errors.UsageError, match="upgrade dvtool"):
        dvtool.Repo.open(tmp_path / "repo")


def test_push_pull_and_gc_keep_patches(tmp_path: Path) -> None:
    src = dvtool.Repo.init(tmp_path / "src")
    v1 = base_table()
    src.snapshot(v1, dataset="t", key=["id"])
    v2 = edited(v1)
    src.snapshot(v2, dataset="t", key=["id"])
    remote = f"memory://remote-{uuid.uuid4().hex}"
    dvtool.Repo.init(remote)
    src.push(["t"], remote)
    back = dvtool.Repo.init(tmp_path / "back")
    back.pull(remote, ["t"])
    for r in (dvtool.Repo.open(remote), back):
        assert r.get("t@v2").manifest.patch is not None
        assert r.get("t@v2").to_arrow().equals(v2)
        assert r.fsck().ok
    # gc after pruning v1: the patch and the base chunks it needs stay.
    src.prune("t", keep_last=1)
    result = src.gc(older_than="0s", allow_short_grace=True, dry_run=False)
    assert result is not None
    assert src.get("t@v2").to_arrow().equals(v2)
    assert src.fsck().ok


def test_fsck_reports_a_damaged_patch_object(tmp_path: Path) -> None:
    repo = dvtool.Repo.init(tmp_path / "repo")
    v1 = base_table()
    repo.snapshot(v1, dataset="t", key=["id"])
    snap = repo.snapshot(edited(v1), dataset="t", key=["id"]).snapshot
    assert snap.manifest.patch is not None
    obj = snap.manifest.patch.upserts.object
    path = tmp_path / "repo" / "objects" / obj[7:9] / f"{obj[9:]}.parquet"
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    result = repo.fsck()
    assert not result.ok and any(p.id == obj for p in result.problems)
    with pytest.raises(IntegrityError):
        repo.get("t@v2").to_arrow()


def test_patch_check_catches_rows_that_disagree_with_the_manifest(tmp_path: Path) -> None:
    from dvtool.ops.patchcheck import check_patch

    repo = dvtool.Repo.init(tmp_path / "repo")
    v1 = base_table()
    repo.snapshot(v1, dataset="t", key=["id"])
    m = repo.snapshot(edited(v1), dataset="t", key=["id"]).snapshot.manifest
    assert m.patch is not None and check_patch(repo.store, m) == []
    r = m.patch.ranges[0]
    import dataclasses

    lying = dataclasses.replace(
        m,
        patch=dataclasses.replace(
            m.patch,
            ranges=(
                dataclasses.replace(
                    r, logical=dataclasses.replace(r.logical, rows=r.logical.rows + 1)
                ),
                *m.patch.ranges[1:],
            ),
        ),
    )
    assert check_patch(repo.store, lying)


def test_cli_compact(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from clitools import run

    root = tmp_path / "repo"
    repo = dvtool.Repo.init(root)
    v1 = base_table()
    repo.snapshot(v1, dataset="t", key=["id"])
    repo.snapshot(edited(v1), dataset="t", key=["id"])
    result = run(capsys, "--repo", str(root), "compact", "t")
    assert result.exit_code == 0, result.stderr
    assert "t@v3" in result.stdout
    again = run(capsys, "--repo", str(root), "compact", "t", "--json")
    assert again.exit_code == 0 and json.loads(again.stdout)["unchanged"] is True
    missing = run(capsys, "--repo", str(root), "compact", "nope")
    assert missing.exit_code == 2 and missing.stderr.startswith("Error:")
    assert dvtool.Repo.open(root).get("t@v3").manifest.patch is None
