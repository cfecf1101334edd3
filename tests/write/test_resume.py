"""Appends to local Parquet go on after the parent's rows without decoding them (dvtool.write.resume).

Every resumed snapshot is compared with the same snapshot made by a full read
(the stat cache off, so nothing can be resumed): same fingerprint, same chunks.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import dvtool
from dvtool.ingest.fingerprint import table_fingerprint
from dvtool.ingest.sources import open_source
from dvtool.write import resume


def month(m: int, rows: int = 3000) -> pa.Table:
    ids = np.arange(rows, dtype=np.int64) + m * 1_000_000
    rng = np.random.default_rng(m)
    return pa.table(
        {
            "id": ids,
            "v": rng.integers(0, 50, rows),
            "s": pa.array([f"n{i % 997}" if i % 11 else None for i in ids]),
            "x": rng.random(rows),
        }
    )


def write_months(path: Path, months: list[pa.Table]) -> None:
    """One row group per month, as a writer appending month by month makes them."""
    with pq.ParquetWriter(path, months[0].schema) as writer:
        for t in months:
            writer.write_table(t)


@pytest.fixture
def small_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DVTOOL_CHUNK_BYTES", str(32 << 10))  # ~1k-row chunks


def full_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, files: list[Path], key: list[str]
) -> dvtool.Snapshot:
    """The same versions made without the stat cache (every row decoded)."""
    with monkeypatch.context() as m:
        m.setenv("DVTOOL_NO_STAT_CACHE", "1")
        repo = dvtool.Repo.init(str(tmp_path / "full"))
        for f in files:
            snap = repo.snapshot(str(f), dataset="d", key=key).snapshot
    return snap


@pytest.mark.parametrize("keyed", [True, False], ids=["keyed", "keyless"])
def test_append_resumes_after_the_parents_rows_and_equals_a_full_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, small_chunks: None, keyed: bool
) -> None:
    key = ["id"] if keyed else []
    months = [month(m) for m in range(1, 7)]
    files = []
    for n in (4, 5, 6):  # cumulative: each file holds the months so far
        files.append(tmp_path / f"upto-{n}.parquet")
        write_months(files[-1], months[:n])
    repo = dvtool.Repo.init(str(tmp_path / "repo"))
    parent = repo.snapshot(str(files[0]), dataset="d", key=key).snapshot
    for f, n in zip(files[1:], (5, 6), strict=True):
        src = open_source(str(f))
        point = resume.find(src, parent.manifest, key, resume.input_row_groups(src))
        assert point is not None  # the parent's snapshot left a resume point for these row groups
        assert (
            parent.rows - parent.chunks[-1].rows - 2_000 <= point.at < parent.rows
        )  # only the tail is read
        seen: list[int] = []
        result = repo.snapshot(str(f), dataset="d", key=key, progress=seen.append)
        assert seen[0] == point.at  # reported at once: those rows were not decoded
        snap = result.snapshot
        rows = pa.concat_tables(months[:n])
        assert snap.rows == rows.num_rows
        assert snap.manifest.fingerprint == table_fingerprint(snap.schema, [rows])
        assert [c.object for c in snap.chunks[: len(point.kept)]] == [c.object for c in point.kept]
        parent = snap
    full = full_read(tmp_path, monkeypatch, files, key)
    assert full.manifest.fingerprint == parent.manifest.fingerprint
    assert [c.object for c in full.chunks] == [c.object for c in parent.chunks]
    assert parent.to_arrow().equals(pa.concat_tables(months))


def test_a_folder_with_one_more_file_resumes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, small_chunks: None
) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    for m in (1, 2, 3):
        pq.write_table(month(m), folder / f"m{m}.parquet")
    repo = dvtool.Repo.init(str(tmp_path / "repo"))
    parent = repo.snapshot(str(folder), dataset="d", key=["id"]).snapshot
    pq.write_table(month(4), folder / "m4.parquet")
    src = open_source(str(folder))
    point = resume.find(src, parent.manifest, ["id"], resume.input_row_groups(src))
    assert point is not None and point.at > 6_000
    snap = repo.snapshot(str(folder), dataset="d", key=["id"]).snapshot
    assert snap.manifest.fingerprint == table_fingerprint(
        snap.schema, [pa.concat_tables([month(m) for m in (1, 2, 3, 4)])]
    )
    assert repo.diff("d@v1", "d@v2").rows.added == 3000


def test_a_changed_early_row_group_is_read_in_full(tmp_path: Path, small_chunks: None) -> None:
    months = [month(m) for m in range(1, 5)]
    write_months(tmp_path / "a.parquet", months[:3])
    repo = dvtool.Repo.init(str(tmp_path / "repo"))
    parent = repo.snapshot(str(tmp_path / "a.parquet"), dataset="d", key=["id"]).snapshot
    edited = months[0].set_column(1, "v", pa.array(np.full(3000, 7, np.int64)))
    write_months(tmp_path / "b.parquet", [edited, *months[1:4]])
    src = open_source(str(tmp_path / "b.parquet"))
    assert resume.find(src, parent.manifest, ["id"], resume.input_row_groups(src)) is None
    snap = repo.snapshot(str(tmp_path / "b.parquet"), dataset="d", key=["id"]).snapshot
    assert snap.manifest.fingerprint == table_fingerprint(
        snap.schema, [pa.concat_tables([edited, *months[1:4]])]
    )
    rows = repo.diff("d@v1", "d@v2").rows
    assert (rows.added, rows.changed) == (3000, int(np.sum(months[0].column("v").to_numpy() != 7)))


def test_new_rows_out_of_order_fall_back_to_the_sort(tmp_path: Path, small_chunks: None) -> None:
    months = [month(m) for m in range(1, 4)]
    write_months(tmp_path / "a.parquet", months[:2])
    repo = dvtool.Repo.init(str(tmp_path / "repo"))
    repo.snapshot(str(tmp_path / "a.parquet"), dataset="d", key=["id"])
    early = month(0, 500)  # keys below everything: the input is no longer sorted
    write_months(tmp_path / "b.parquet", [*months[:2], months[2], early])
    snap = repo.snapshot(str(tmp_path / "b.parquet"), dataset="d", key=["id"]).snapshot
    expected = pa.concat_tables([early, *months]).sort_by("id")
    assert snap.to_arrow().equals(expected)
    assert snap.manifest.fingerprint == table_fingerprint(snap.schema, [expected])


def test_a_last_row_group_that_grew_is_read_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, small_chunks: None
) -> None:
    months = [month(m) for m in range(1, 6)]
    files = [tmp_path / "partial.parquet", tmp_path / "full.parquet"]
    write_months(files[0], [*months[:3], months[3].slice(0, 1200)])  # month 4 half written
    write_months(files[1], months)
    repo = dvtool.Repo.init(str(tmp_path / "repo"))
    parent = repo.snapshot(str(files[0]), dataset="d", key=["id"]).snapshot
    src = open_source(str(files[1]))
    point = resume.find(src, parent.manifest, ["id"], resume.input_row_groups(src))
    assert point is not None and 6_000 < point.at <= 9_000  # within the row groups both files share
    snap = repo.snapshot(str(files[1]), dataset="d", key=["id"]).snapshot
    assert snap.manifest.fingerprint == table_fingerprint(snap.schema, [pa.concat_tables(months)])
    full = full_read(tmp_path, monkeypatch, files, ["id"])
    assert [c.object for c in full.chunks] == [c.object for c in snap.chunks]


def test_the_same_files_in_two_repositories_keep_their_own_resume_points(
    tmp_path: Path, small_chunks: None
) -> None:
    months = [month(m) for m in range(1, 5)]
    write_months(tmp_path / "a.parquet", months[:3])
    write_months(tmp_path / "b.parquet", months)
    first = dvtool.Repo.init(str(tmp_path / "one"))
    parent = first.snapshot(str(tmp_path / "a.parquet"), dataset="d", key=["id"]).snapshot
    dvtool.Repo.init(str(tmp_path / "two")).snapshot(
        str(tmp_path / "a.parquet"), dataset="d", key=["id"]
    )
    src = open_source(str(tmp_path / "b.parquet"))
    assert resume.find(src, parent.manifest, ["id"], resume.input_row_groups(src)) is not None
